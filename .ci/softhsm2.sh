#!/usr/bin/env bash
# SoftHSM2, the PKCS#11 token the CA-key tests run on (tests/softhsm.py): from the distribution's
# packages, installed only when missing. Under CI=true those tests fail without it.
set -euo pipefail
if command -v softhsm2-util >/dev/null; then
  for module in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so; do
    [ -e "$module" ] && exit 0
  done
fi
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq softhsm2 >/dev/null
else
  echo "CI: softhsm2 is missing and this machine has no apt-get; install SoftHSM2 2.x" >&2
  exit 1
fi
