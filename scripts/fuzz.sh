#!/usr/bin/env bash
# Runs the libFuzzer harnesses built in BUILD (cmake -DCG_FUZZ=ON; `make fuzz` does both).
#   scripts/fuzz.sh BUILD SECONDS [HARNESS...]      (default: every fuzz/fuzz_*.c)
# For each harness: first its regression inputs (fuzz/regressions/HARNESS, each run once: a fixed bug that
# comes back fails here), then SECONDS of fuzzing from the committed seeds (fuzz/corpus/HARNESS, read only)
# plus the inputs earlier runs found (BUILD/corpus/HARNESS, where new ones are written), with the
# dictionary fuzz/dict/HARNESS.dict when there is one (keywords of the format). Limits: 2 GB of
# memory, 10 s per input. A crash, leak, sanitizer report, timeout or out-of-memory leaves its input in
# BUILD/artifacts/HARNESS/ and makes the script fail (after the other harnesses have run).
# Logs: BUILD/logs/HARNESS.log. FUZZ_NICE (default 15) is the nice level.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: scripts/fuzz.sh BUILD SECONDS [HARNESS...]}
SECONDS_EACH=${2:?usage: scripts/fuzz.sh BUILD SECONDS [HARNESS...]}
shift 2
if [ $# -gt 0 ]; then harnesses=("$@"); else
    harnesses=()
    for f in fuzz/fuzz_*.c; do harnesses+=("$(basename "$f" .c)"); done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
LIMITS=(-rss_limit_mb=2048 -timeout=10)
mkdir -p "$BUILD/logs"
failed=()
for h in "${harnesses[@]}"; do
    bin="$BUILD/fuzz/$h"
    if [ ! -x "$bin" ]; then echo "fuzz: $bin is not built" >&2; failed+=("$h(not built)"); continue; fi
    log="$BUILD/logs/$h.log"
    : > "$log"
    reg="fuzz/regressions/$h"
    if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
        if ! nice -n "${FUZZ_NICE:-15}" "$bin" "${LIMITS[@]}" -runs=0 "$reg" >> "$log" 2>&1; then
            echo "fuzz: $h: a regression input fails again (see $log)" >&2
            tail -n 30 "$log" >&2
            failed+=("$h(regression)")
            continue
        fi
    fi
    work="$BUILD/corpus/$h"
    art="$BUILD/artifacts/$h/"
    mkdir -p "$work" "$art"
    dict=()
    if [ -f "fuzz/dict/$h.dict" ]; then dict=(-dict="fuzz/dict/$h.dict"); fi
    echo "fuzz: $h for ${SECONDS_EACH}s"
    if nice -n "${FUZZ_NICE:-15}" "$bin" "${LIMITS[@]}" "${dict[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix="$art" "$work" "fuzz/corpus/$h" >> "$log" 2>&1; then
        # the last status line: executions, coverage, corpus size
        grep -E "^#[0-9]+" "$log" | tail -n 1 | sed "s/^/fuzz: $h: /"
    else
        echo "fuzz: $h FAILED (log $log, input in $art):" >&2
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -n 10 >&2
        failed+=("$h")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses, no crash"
