#!/usr/bin/env bash
# Makes a Python virtualenv that can run the real marathon-lb
# (../shared/reference/marathon-lb/upstream/marathon_lb.py, run as it is,
# never copied), for dcos-sim's real-marathon-lb mode (`dcos-sim
# --marathon-lb-program DIR --marathon-lb-python VENV/bin/python`).
#
#   scripts/install-marathon-lb.sh VENV     e.g. scripts/install-marathon-lb.sh target/marathon-lb-venv
#
# It installs marathon-lb's requirements (requests, six, python-dateutil,
# cryptography, PyJWT, pycurl) from PyPI at the exact versions of
# scripts/marathon-lb-constraints.txt, so the venv is the same everywhere.
# Then point the tests at it: CANARY_MARATHON_LB_PYTHON=VENV/bin/python
# (build-support/test_env.rs also looks in target/marathon-lb-venv).
#
# Idempotent and fast when done: when VENV/bin/python imports every module
# marathon-lb imports, it does nothing. Needs python3 (3.11 is the tested
# one; PYTHON=... picks another) with the venv module, and access to PyPI
# (or PIP_FIND_LINKS/PIP_INDEX_URL).
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 VENV" >&2
  exit 2
fi
venv=$1
python=${PYTHON:-python3}
constraints="$(cd "$(dirname "$0")" && pwd)/marathon-lb-constraints.txt"
modules="import requests, six, dateutil, cryptography, jwt, pycurl, urllib3"

works() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$modules" >/dev/null 2>&1
}

if works; then
  echo "marathon-lb's Python already installed: $(cd "$venv/bin" && pwd)/python"
  exit 0
fi

echo "== creating the venv $venv with $("$python" --version 2>&1)"
"$python" -m venv "$venv"
echo "== marathon-lb's requirements, pinned by $constraints"
"$venv/bin/python" -m pip install --no-input --disable-pip-version-check -q \
  -c "$constraints" requests six python-dateutil cryptography PyJWT pycurl

if ! works; then
  echo "error: $venv/bin/python cannot import marathon-lb's modules after the install:" >&2
  "$venv/bin/python" -c "$modules" >&2 || true
  exit 1
fi
echo "marathon-lb's Python installed: $(cd "$venv/bin" && pwd)/python"
