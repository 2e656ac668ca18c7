#!/bin/sh
# Runs the test suites against the binaries in BUILD and prints one total.
#   tests/run.sh BUILD [unit|integration|browser ...]
# Every suite runs even when an earlier one failed; the exit code is
# non-zero if any test failed.
set -u
BUILD=${1:?usage: tests/run.sh BUILD [suite ...]}
shift
SUITES=${*:-unit integration browser}
MASSAGED_BUILD=$(cd "$BUILD" && pwd)
export MASSAGED_BUILD
# The routine worker the unit tests start (the daemon and massagectl find
# the one next to them).
MASSAGED_WORKER=${MASSAGED_WORKER:-$MASSAGED_BUILD/massaged-worker}
export MASSAGED_WORKER
# Leaks are errors; UBSan stops at the first finding (see the Makefile).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
PYTHON=${PYTHON:-/usr/bin/python3}
# The unit and integration suites run where this machine's /var/lib/massaged
# and /etc/massaged cannot be read (tests/isolate.sh: as root, a mount
# namespace of their own; it says once here when it cannot make one).
ISOLATE=$(dirname "$0")/isolate.sh
isolate() { "$@"; }
isolating=0
if "$ISOLATE" sh -c '[ "${MASSAGED_ISOLATED:-}" = 1 ]'; then
	isolate() { "$ISOLATE" "$@"; }
	isolating=1
fi
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() {
	# count PASSED FAILED
	passed=$((passed + $1))
	failed=$((failed + $2))
}

for suite in $SUITES; do
	case $suite in
	unit)
		for t in "$BUILD"/tests/test_*; do
			[ -x "$t" ] || continue
			echo "== unit: $(basename "$t")"
			isolate "$t" >"$log" 2>&1
			rc=$?
			cat "$log"
			p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
			f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
			p=${p:-0}
			f=${f:-0}
			if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
				echo "!! $(basename "$t") exited $rc"
				f=1
			fi
			count "$p" "$f"
		done
		# The integration suite need not run them again beside an
		# installed state directory (test_unit_state.py): done here.
		if [ "$isolating" = 1 ]; then
			MASSAGED_UNIT_SUITE_ISOLATED=1
			export MASSAGED_UNIT_SUITE_ISOLATED
		fi
		;;
	integration)
		echo "== integration (pytest)"
		isolate "$PYTHON" -m pytest -q -p no:cacheprovider \
		    --durations=30 tests/integration \
		    >"$log" 2>&1
		rc=$?
		cat "$log"
		line=$(grep -E '^[=]* ?[0-9]+ (passed|failed)|[0-9]+ passed|[0-9]+ failed' "$log" | tail -1)
		p=$(echo "$line" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) passed.*/\1/p; s/^\([0-9][0-9]*\) passed.*/\1/p' | head -1)
		f=$(echo "$line" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) failed.*/\1/p; s/^\([0-9][0-9]*\) failed.*/\1/p' | head -1)
		e=$(echo "$line" | sed -n 's/.*[^0-9]\([0-9][0-9]*\) error.*/\1/p' | head -1)
		p=${p:-0}
		f=$((${f:-0} + ${e:-0}))
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "!! pytest exited $rc"
			f=1
		fi
		count "$p" "$f"
		;;
	browser)
		[ -d tests/browser ] || continue
		echo "== browser (node --test, Chromium headless)"
		if ! (cd tests/browser && npm ci --no-audit --no-fund --silent \
		    >"$log" 2>&1); then
			cat "$log"
			echo "!! npm ci failed in tests/browser"
			count 0 1
			continue
		fi
		(cd tests/browser && node --test --test-concurrency=1 --test-reporter=tap) >"$log" 2>&1
		rc=$?
		cat "$log"
		p=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$log" | tail -1)
		f=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$log" | tail -1)
		p=${p:-0}
		f=${f:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "!! node --test exited $rc"
			f=1
		fi
		count "$p" "$f"
		;;
	*)
		echo "unknown suite $suite" >&2
		exit 2
		;;
	esac
done
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
