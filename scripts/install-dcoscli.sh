#!/usr/bin/env bash
# Installs the real DC/OS CLI (PyPI dcoscli 0.6.1) into a Python virtualenv,
# for dcos-sim's real-CLI tests (crates/dcos-sim/tests/dcos_cli.rs).
#
#   scripts/install-dcoscli.sh VENV     e.g. scripts/install-dcoscli.sh target/dcoscli-venv
#
# Then point the tests at it: DCOS_CLI=VENV/bin/dcos (the tests also look in
# target/dcoscli-venv by themselves).
#
# A plain `pip install dcoscli==0.6.1` fails on current CPython (it pins
# cryptography 2.0.2, which has no wheel for them and does not build). So:
# newer pins that work (cryptography 36.0.2: the newest with the `signer()`
# API that dcoscli's pinned PyJWT 1.4.2 calls for service-account logins, and
# with abi3 wheels for current CPython), dcoscli and dcos without their pins,
# and a small shim
# that puts back collections.Mapping/MutableMapping/Sequence (removed in
# Python 3.10, used by dcos/config.py at import time). The shim is a module
# plus a .pth file in the venv's site-packages: it only affects that venv,
# and the upstream files stay as published.
#
# Idempotent: when VENV/bin/dcos exists and `dcos --version` runs, it does
# nothing. Needs python3 (3.11 is the tested one; PYTHON=... picks another)
# with the venv module, and access to PyPI (or PIP_FIND_LINKS/PIP_INDEX_URL).
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 VENV" >&2
  exit 2
fi
venv=$1
python=${PYTHON:-python3}

# Runs the installed CLI with a throwaway config directory, so the check
# neither reads nor writes ~/.dcos.
cli_works() {
  local dir status
  [ -x "$venv/bin/dcos" ] || return 1
  dir=$(mktemp -d)
  status=0
  DCOS_DIR="$dir" "$venv/bin/dcos" --version >/dev/null 2>&1 || status=$?
  rm -rf "$dir"
  return "$status"
}

if cli_works; then
  echo "dcos CLI already installed: $(cd "$venv/bin" && pwd)/dcos"
  exit 0
fi

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)'; then
  echo "error: $python is older than Python 3.8" >&2
  exit 1
fi

echo "== creating the venv $venv with $("$python" --version 2>&1)"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --no-input --disable-pip-version-check)

echo "== dependencies (pins that work on current CPython)"
"${pip[@]}" \
  docopt==0.6.2 pkginfo==1.2.1 toml==0.10.2 virtualenv==15.2.0 sseclient==0.0.19 \
  retrying==1.3.3 jsonschema==2.6.0 pager==3.3 prettytable==0.7.2 PyJWT==1.4.2 \
  Pygments==2.17.2 requests==2.31.0 six==1.16.0 cryptography==36.0.2 setuptools==68.2.2

echo "== dcoscli 0.6.1 and dcos 0.6.1 (without their own pins)"
"${pip[@]}" --no-deps dcoscli==0.6.1 dcos==0.6.1

echo "== the collections shim"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat >"$site/_dcoscli_compat.py" <<'PY'
"""Puts back the collections ABC aliases that Python 3.10 removed.

dcos 0.6.1 (dcos/config.py) uses collections.Mapping and friends at import
time. Loaded by dcoscli_compat.pth, only inside this virtualenv.
"""
import collections
import collections.abc

for _name in ("Mapping", "MutableMapping", "Sequence"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
PY
echo "import _dcoscli_compat" >"$site/dcoscli_compat.pth"

if ! cli_works; then
  echo "error: $venv/bin/dcos --version fails after the install:" >&2
  DCOS_DIR=$(mktemp -d) "$venv/bin/dcos" --version >&2 || true
  exit 1
fi
echo "dcos CLI installed: $(cd "$venv/bin" && pwd)/dcos"
