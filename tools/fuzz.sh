#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run each libFuzzer target for a while from its seed corpus (make fuzz).
#   tools/fuzz.sh BUILD SECONDS TARGET...
# The committed corpus (tests/fuzz/corpus/T) is only read; new inputs go to
# BUILD/corpus-T. A crash, a sanitizer report or a leak fails the run and
# leaves BUILD/crash-T-<sha1> (or leak-, timeout-), which
# `BUILD/fuzz_T FILE` replays.
set -u
build=$1 secs=$2
shift 2
failed=0
for t in "$@"; do
	name=${t#fuzz_}
	mkdir -p "$build/corpus-$name"
	log="$build/$t.log"
	"$build/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/" "$build/corpus-$name" "tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz: $name: ${runs:-?} inputs in ${secs}s, no crash"
	else
		failed=1
		echo "fuzz: $name: FAILED (exit $rc); the end of $log:"
		tail -25 "$log" | sed 's/^/  /'
		ls "$build"/crash-* "$build"/leak-* "$build"/timeout-* "$build"/oom-* 2>/dev/null |
			sed "s|^|  replay: $build/$t |"
	fi
done
[ "$failed" -eq 0 ] && echo "fuzz: all $# targets clean" || echo "fuzz: failures above"
exit "$failed"
