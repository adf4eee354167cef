#!/usr/bin/env bash
# Prints the Python the other scripts use (see scripts/install-deps.sh):
# $PYTHON, else .venv/bin/python if install-deps.sh made one, else python3.
cd "$(dirname "$0")/.."
if [[ -n ${PYTHON:-} ]]; then
    echo "$PYTHON"
elif [[ -z ${VIRTUAL_ENV:-} && -x .venv/bin/python ]]; then
    echo "$PWD/.venv/bin/python"
else
    echo python3
fi
