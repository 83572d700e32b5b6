#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every test tier that exists and ends with one line: "N passed, N failed".
#   tests/run.sh BUILD_DIR [TIER...]     tiers: unit cli pkt lab (default: all)
# Tiers that need root (pkt, lab) are skipped with a note when not root.
set -u
build=${1:-build}
shift || true
tiers=${*:-unit cli pkt lab}
py=/usr/bin/python3
total_pass=0 total_fail=0 total_skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # count PATTERN: the number before PATTERN in the log's last summary line
	grep -E "[0-9]+ $1" "$log" | tail -n 1 | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0
}

run_tier() { # run_tier NAME COMMAND...
	local name=$1 rc p f s
	shift
	echo "== $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(count passed); f=$(count failed); s=$(count skipped)
	f=$((f + $(count error)))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "!! $name exited $rc without reporting a failure: counted as one"
		f=1
	fi
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
}

for t in $tiers; do
	case $t in
	unit) run_tier unit "$build/unit-tests" ;;
	cli) run_tier cli env MAPECTL="$build/mapectl" $py -m pytest -q -p no:cacheprovider tests/cli ;;
	pkt|lab)
		if [ ! -d "tests/$t" ] || [ -z "$(ls tests/$t/test_*.py 2>/dev/null)" ]; then
			continue
		fi
		if [ "$(id -u)" -ne 0 ]; then
			echo "== $t: skipped (needs root)"
			continue
		fi
		run_tier "$t" env MAPECTL="$build/mapectl" BUILD="$build" \
			$py -m pytest -q -p no:cacheprovider "tests/$t" ;;
	*) echo "unknown tier $t"; exit 2 ;;
	esac
done
echo
if [ "$total_skip" -gt 0 ]; then
	echo "all tiers: $total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "all tiers: $total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
