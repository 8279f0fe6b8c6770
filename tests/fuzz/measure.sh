#!/bin/sh
# Measures what libFuzzer reaches: runs each driver SECONDS (default 60) on a
# fresh copy of its committed corpus, two at a time, and prints libFuzzer's
# final cov: and ft: per driver. The corpora grown are left in
# OUT/<target>/corpus (to merge back with -merge=1), the logs in OUT/<target>.log.
# Usage: tests/fuzz/measure.sh BUILD_DIR OUT TARGET...
set -eu
build=$1 out=$2
shift 2
secs=${SECONDS_PER_TARGET:-60}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for t in "$@"; do echo "$t"; done | xargs -P 2 -I{} sh -c '
	t={}; d="$0/$t"
	rm -rf "$d"; mkdir -p "$d/corpus" "$d/artifacts"
	cp "$1/corpus/$t/"* "$d/corpus/" 2>/dev/null || true
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$2/tests/fuzz/fuzz_$t" -max_total_time="$3" -print_final_stats=1 \
		-artifact_prefix="$d/artifacts/" "$d/corpus" >"$0/$t.log" 2>&1 || echo "$t: exit $? (see $0/$t.log)"
' "$out" "$src" "$build" "$secs"
printf '%-10s %8s %8s %8s\n' driver cov ft execs
for t in "$@"; do
	last=$(grep -E '^#[0-9]+' "$out/$t.log" | grep -E 'cov: ' | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log")
	printf '%-10s %8s %8s %8s\n' "$t" "${cov:-?}" "${ft:-?}" "${execs:-?}"
done
