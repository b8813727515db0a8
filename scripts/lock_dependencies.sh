#!/usr/bin/env bash
# Rewrite requirements.lock from pyproject.toml: resolve the ranges in a fresh virtual environment
# and record the exact versions, so a new release upstream cannot change what a clean checkout runs.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q -e '.[test]'
{
  echo "# Exact versions CI and the README's test command install (pip install -c requirements.lock -e '.[test]')."
  echo "# pyproject.toml keeps the ranges; regenerate after changing them: bash scripts/lock_dependencies.sh"
  "$venv/bin/pip" freeze --exclude-editable
} > requirements.lock
echo "requirements.lock: $(grep -cv '^#' requirements.lock) packages"
