#!/usr/bin/env bash
# Prints the Python the scripts install into and run with (one line):
#   - $PYTHON if set, else python3;
#   - but a Python whose packages belong to Debian (PEP 668, "externally
#     managed": pip refuses to install into it) is replaced by a venv in
#     .venv/, which scripts/install-deps.sh creates from it.
# Inside an activated venv, that venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
command -v "$py" >/dev/null || { echo "python.sh: $py not found: install Python 3.11" >&2; exit 1; }
if [[ -z ${VIRTUAL_ENV:-} ]] && "$py" -c '
import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'
then
    echo "$PWD/.venv/bin/python"
else
    command -v "$py"
fi
