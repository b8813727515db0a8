#!/usr/bin/env bash
# HAProxy, the load balancer tests/doors/test_load_balancer.py runs in front of two nodes
# (deploy/haproxy.cfg): from the distribution's packages, installed only when missing. Under
# CI=true that test fails without it.
set -euo pipefail
command -v haproxy >/dev/null && exit 0
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq haproxy >/dev/null
  # Installed to be run by the tests, not as a service of this machine.
  command -v systemctl >/dev/null && systemctl disable --now haproxy >/dev/null 2>&1 || true
  command -v haproxy >/dev/null
else
  echo "CI: haproxy is missing and this machine has no apt-get; install HAProxy 2.x" >&2
  exit 1
fi
