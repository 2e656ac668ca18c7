#!/bin/sh
# tests/soak/devices.sh BUILD JOBS DIR: `make soak-devices`. Every case of
# tests/integration/test_devices_programs.py::test_every_shipped_program_to_its_end
# (each shipped program on each table of described devices, to its end),
# JOBS of them side by side (started SOAK_STAGGER seconds apart, default
# 20), each its own pytest with its own daemon,
# simulator and base directory DIR/CASE (its logs stay there), its output
# in DIR/CASE.log, its measurements in DIR/notes.jsonl. Prints one line
# per case and exits 1 if any failed.
set -eu
test=tests/integration/test_devices_programs.py::test_every_shipped_program_to_its_end

if [ "${1:-}" = --case ]; then
	# One case (number $3, node id $4): the id in brackets names its
	# files. Each starts SOAK_STAGGER seconds after the one before, so
	# that no two sessions start (workers, plugins, the proof) at once
	# on a small machine.
	dir=$2
	[ "$3" -gt "$jobs" ] || sleep $((($3 - 1) * ${SOAK_STAGGER:-20}))
	id=$(printf '%s' "$4" | sed 's/.*\[\(.*\)\]$/\1/')
	if ${PYTHON:-python3} -m pytest -q -p no:cacheprovider \
	    --basetemp="$dir/$id" "$4" >"$dir/$id.log" 2>&1; then
		echo "passed  $id: $(grep -E 'passed|failed' "$dir/$id.log" |
		    tail -n 1)"
	else
		echo "FAILED  $id: see $dir/$id.log"
		touch "$dir/failed"
	fi
	exit 0
fi

build=$1 jobs=$2 dir=$3
rm -rf "$dir"
mkdir -p "$dir"
export MASSAGED_FULL_PROGRAMS=1 MASSAGED_BUILD="$build" \
	MASSAGED_WORKER="$build/massaged-worker" \
	MASSAGED_FAULT_NOTES="$dir/notes.jsonl"
${PYTHON:-python3} -m pytest -q -p no:cacheprovider --collect-only "$test" |
	grep '::' >"$dir/cases"
echo "soak-devices: $(wc -l <"$dir/cases") cases, $jobs at a time, in $dir"
export jobs
nl -ba -w1 -s' ' "$dir/cases" | xargs -P "$jobs" -n 2 sh "$0" --case "$dir"
if [ -e "$dir/failed" ]; then
	echo "soak-devices: failed"
	exit 1
fi
echo "soak-devices: every case passed"
