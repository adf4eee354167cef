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
# Which Python: $PYTHON if set, else python3. A Python whose packages belong to
# Debian (PEP 668, "externally managed") gets a venv in .venv/ instead, and
# the scripts use that; scripts/python.sh prints the one chosen.
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
install_debian() {
    local wanted=() missing=() pkg
    mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' scripts/debian-packages.txt | grep -v '^$')
    for pkg in "${wanted[@]}"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "Debian packages: all ${#wanted[@]} installed"
        return
    fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} by hand"
        sudo=(sudo)
    fi
    say "Debian packages to install: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
               -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    # A fresh machine has empty package lists: try first, update only if needed.
    if ! "${apt[@]}" install --no-install-recommends "${missing[@]}"; then
        say "apt-get install failed; updating the package lists and trying again"
        "${apt[@]}" update
        "${apt[@]}" install --no-install-recommends "${missing[@]}"
    fi
}

# --- Python -------------------------------------------------------------------
python_for_install() {
    local py=${PYTHON:-python3}
    command -v "$py" >/dev/null || die "$py not found: install Python 3.11"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$py is $("$py" --version 2>&1); tailcast needs Python 3.11 or newer"
    local managed
    managed=$("$py" -c 'import sysconfig, os; print(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))')
    if [[ $managed == True && -z ${VIRTUAL_ENV:-} ]]; then
        # Debian's own python3: pip may not install into it; use a venv.
        if [[ ! -x .venv/bin/python ]]; then
            say "$py is managed by Debian: creating a venv in .venv/"
            "$py" -m venv .venv || die "could not create .venv (apt-get install python3-venv)"
        fi
        py=.venv/bin/python
    fi
    echo "$py"
}

install_python() {
    local py extra=$1
    py=$(python_for_install)
    "$py" -m pip --version >/dev/null 2>&1 || die "$py has no pip (apt-get install python3-pip)"
    say "pip install -e '.$extra' with $("$py" --version 2>&1) ($py)"
    "$py" -m pip install --disable-pip-version-check --root-user-action=ignore -q -e ".$extra"
}

case $mode in
    all) install_debian; install_python "[test]" ;;
    python) install_python "[test]" ;;
    runtime) install_python "" ;;
esac
say "done"
