#!/usr/bin/env bash
# Installs everything tailcast's tests need, on Debian 12 with Python 3.11:
#   - the Debian packages listed in scripts/debian-packages.txt (apt-get);
#   - tailcast itself, editable, with its test extra (pip install -e '.[test]').
# Idempotent: packages already there are not reinstalled, and `apt-get update`
# runs only when a package is missing and apt cannot find it.
#
#   bash scripts/install-deps.sh            everything
#   bash scripts/install-deps.sh --python   only the Python part
#   bash scripts/install-deps.sh --runtime  only tailcast itself (no test tools)
#
# Which Python: scripts/python.sh decides ($PYTHON, else python3; a Python
# whose packages belong to Debian gets a venv in .venv/, made here).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "install-deps: $*" >&2; }
die() { say "$*"; exit 1; }

mode=all
case "${1:-}" in
    "") ;;
    --python) mode=python ;;
    --runtime) mode=runtime ;;
    *) die "unknown option $1 (try --python or --runtime)" ;;
esac

# --- Debian packages ----------------------------------------------------------
apt_install() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "not root and no sudo: install $* by hand"
        sudo=(sudo)
    fi
    say "Debian packages to install: $*"
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
               -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    # A fresh machine has empty package lists: try first, update only if needed.
    if ! "${apt[@]}" install --no-install-recommends "$@"; then
        say "apt-get install failed; updating the package lists and trying again"
        "${apt[@]}" update
        "${apt[@]}" install --no-install-recommends "$@"
    fi
}

missing_debian() {
    local pkg
    for pkg in "$@"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
            echo "$pkg"
        fi
    done
}

install_debian() {
    local wanted=() missing=()
    mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' scripts/debian-packages.txt | grep -v '^$')
    mapfile -t missing < <(missing_debian "${wanted[@]}")
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "Debian packages: all ${#wanted[@]} installed"
    else
        apt_install "${missing[@]}"
    fi
}

# --- Python -------------------------------------------------------------------
install_python() {
    local py extra=$1
    py=$(bash scripts/python.sh)
    if [[ $py == "$PWD/.venv/bin/python" && ! -x $py ]]; then
        local base=${PYTHON:-python3}
        say "$base belongs to Debian (PEP 668): creating a venv in .venv/"
        if ! "$base" -m venv .venv; then
            rm -rf .venv
            # Debian's python3 makes venvs only with python3-venv.
            command -v dpkg-query >/dev/null || die "could not create .venv"
            apt_install python3-venv
            "$base" -m venv .venv || die "could not create .venv"
        fi
    fi
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$py is $("$py" --version 2>&1); tailcast needs Python 3.11 or newer"
    "$py" -m pip --version >/dev/null 2>&1 || die "$py has no pip (apt-get install python3-pip)"
    say "pip install -e '.$extra' with $("$py" --version 2>&1) ($py)"
    "$py" -m pip install --disable-pip-version-check --root-user-action=ignore -q -e ".$extra"
}

# True when tailcast is installed from this checkout with every dependency it
# declares (the demo then starts at once; the test mode always reinstalls).
installed_here() {
    local py here=$PWD
    py=$(bash scripts/python.sh) || return 1
    # From / so that the checkout itself is not on sys.path.
    (cd / && "$py" - "$here" <<'PYEOF'
import re, sys
from importlib import metadata
from pathlib import Path

import tailcast

assert Path(tailcast.__file__).resolve().parent == Path(sys.argv[1]).resolve() / "tailcast"
for req in metadata.requires("tailcast") or []:
    if "extra ==" not in req:
        metadata.version(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0])
PYEOF
    ) >/dev/null 2>&1
}

case $mode in
    all) install_debian; install_python "[test]" ;;
    python) install_python "[test]" ;;
    runtime) installed_here && say "tailcast is installed from here" || install_python "" ;;
esac
say "done"
