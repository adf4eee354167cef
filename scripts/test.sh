#!/usr/bin/env bash
# The test command: install everything the tests need, then lint, type-check
# and run the whole test suite. What CI runs (.ci/run), and the README's.
#
#   bash scripts/test.sh                 everything
#   bash scripts/test.sh -k docker -x    extra arguments go to pytest
#   SKIP_INSTALL=1 bash scripts/test.sh  skip the installation step
#
# It fails when pytest ran no test at all, and on CI (CI=true) when a test was
# skipped: everything a test needs has just been installed, so a skip there
# means a test that silently did not run (TAILCAST_ALLOW_SKIPS=1 allows it).
# The suite is time-boxed (SUITE_TIMEOUT, default 60 min; every single test
# has pytest-timeout's limit from setup.cfg) so CI's 90 minutes always end
# with a report.
set -uo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n=== test.sh: %s\n' "$*" >&2; }

if [[ -z ${SKIP_INSTALL:-} ]]; then
    say "installing dependencies"
    bash scripts/install-deps.sh || { say "FAILED: installing dependencies"; exit 1; }
fi
PY=$(bash scripts/python.sh)
say "using $("$PY" --version 2>&1) ($PY)"

failed=()
step() {
    local name=$1
    shift
    say "$name: $*"
    if "$@"; then
        echo "test.sh: $name: ok" >&2
    else
        failed+=("$name")
        echo "test.sh: $name: FAILED" >&2
    fi
}

step "ruff check" "$PY" -m ruff check .
step "ruff format" "$PY" -m ruff format --check --diff .
step "mypy" "$PY" -m mypy

report=$(mktemp -d "${TMPDIR:-/tmp}/tailcast-test.XXXXXX")
trap 'rm -rf "$report"' EXIT
say "pytest $*"
# timeout: SIGINT first so pytest still prints its report, then SIGKILL.
timeout --signal=INT --kill-after=60 "${SUITE_TIMEOUT:-60m}" \
    "$PY" -m pytest --junitxml="$report/junit.xml" --durations=15 "$@"
status=$?
case $status in
    0) ;;
    5) echo "test.sh: pytest collected no tests: a run that tests nothing is a failure" >&2 ;;
    124|137) echo "test.sh: the test suite did not finish within ${SUITE_TIMEOUT:-60m}" >&2 ;;
    *) echo "test.sh: pytest exited with status $status" >&2 ;;
esac
[[ $status -eq 0 ]] || failed+=("pytest")

# Count what really ran, from the JUnit report (xfail is not a skip here).
if [[ -f $report/junit.xml ]]; then
    counts=$("$PY" - "$report/junit.xml" <<'PYEOF'
import sys
import xml.etree.ElementTree as ET

passed = skipped = 0
names = []
for case in ET.parse(sys.argv[1]).iter("testcase"):
    skip = case.find("skipped")
    if skip is not None and skip.get("type") != "pytest.xfail":
        skipped += 1
        names.append(f"{case.get('classname')}::{case.get('name')}: {skip.get('message')}")
    elif skip is None and case.find("failure") is None and case.find("error") is None:
        passed += 1
print(passed, skipped)
for name in names:
    print(name, file=sys.stderr)
PYEOF
)
    read -r passed skipped <<<"$counts"
    echo "test.sh: $passed tests passed, $skipped skipped" >&2
    if [[ $passed -eq 0 ]]; then
        echo "test.sh: no test passed" >&2
        failed+=("no tests ran")
    fi
    if [[ $skipped -gt 0 && ${CI:-} == true && -z ${TAILCAST_ALLOW_SKIPS:-} ]]; then
        echo "test.sh: on CI nothing may be skipped (listed above)" >&2
        failed+=("skipped tests")
    fi
elif [[ $status -ne 5 ]]; then
    failed+=("no JUnit report")
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all passed"
