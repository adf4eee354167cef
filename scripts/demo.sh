#!/usr/bin/env bash
# The demo command: install tailcast, then serve live sample logs and a fake
# build (python -m tailcast.demo). Prints the URL to open; Ctrl+C stops it all.
#
#   bash scripts/demo.sh                 port 8080 (a free one if it is taken)
#   bash scripts/demo.sh --port 9000     other options: python -m tailcast.demo run --help
set -euo pipefail
cd "$(dirname "$0")/.."
# Only tailcast and its own dependencies: no Debian packages, no test tools.
bash scripts/install-deps.sh --runtime
PY=$(bash scripts/python.sh)
exec "$PY" -m tailcast.demo run "$@"
