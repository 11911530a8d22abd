#!/usr/bin/env bash
# bench/load.sh: cellgraph's training and evaluation throughput on a busy machine, against the same
# commands on the quiet machine, in one run (issue 18 item 12: "a busy laptop is the normal case").
#
#   bench/load.sh                     (from the repository root; about 5-10 minutes on 2 cores)
#
# For 0, 1 and 2 competing CPU-bound processes (busy loops in sh, started before and stopped after
# each measurement; the machine has `nproc` cores, and cellgraph uses all of them when they are idle):
#   train   cellgraph train --config configs/hetero_cell.json --max-steps STEPS: samples/s of the training
#           steps (the "training:" line the command prints; validation and loading excluded)
#   eval    cellgraph screen --metabolic --order 2 --max-genotypes EVAL_N with a checkpoint of
#           configs/hetero_cell_published.json (its global readout runs the incremental perturbed pass
#           for every genotype: the compute-heavy evaluation; the default model's evaluation is a table
#           lookup, over 300,000 genotypes/s, too fast to time): genotypes/s of screen's last line. The
#           checkpoint is trained once, 1 step on the gene2 split (small validation and test parts).
# and the mean thread count of the train run (the "training:" line)
# and prints each throughput and its slowdown against the quiet run. The targets: at most 2x slower with
# one competitor, at most 3x with two. With 2 cores and cellgraph's 2 threads, a fair share is 2/3 of the
# machine with one competitor (1.5x) and 1/2 with two (2x).
#
# POLICIES lists the thread settings to run: "unset" (cellgraph's own choice: OMP_WAIT_POLICY=passive when
# neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is given, tools/preinit.c, and a thread count that follows the
# load, tools/threads.c), "fixed" (passive, but CELLGRAPH_THREADS=`nproc`: every core whatever the load,
# cellgraph's behaviour before it followed the load), "active", "passive" (OMP_WAIT_POLICY as given: the
# count is then fixed), and "spinN" (GOMP_SPINCOUNT=N: spin N rounds, then sleep; libgomp's own default,
# without OMP_WAIT_POLICY, is spin300000). Default: "unset fixed".
#
# Environment: BUILD (build/release), STEPS (30), EVAL_N (300), WORK (/tmp/cellgraph-load), POLICIES, REPEAT (1: each
# measurement is the median of REPEAT runs).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
STEPS=${STEPS:-30}
EVAL_N=${EVAL_N:-300}
WORK=${WORK:-/tmp/cellgraph-load}
POLICIES=${POLICIES:-unset fixed}
REPEAT=${REPEAT:-1}
CLI=$BUILD/cellgraph
[ -x "$CLI" ] || { echo "bench/load.sh: $CLI not found: build first (make build)" >&2; exit 1; }
mkdir -p "$WORK"

HOGS=()
start_hogs() { for _ in $(seq 1 "$1"); do sh -c 'while :; do :; done' & HOGS+=($!); done; }
stop_hogs() {
    for p in "${HOGS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    for p in "${HOGS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
    HOGS=()
}
trap stop_hogs EXIT

# run_policy POLICY CMD...: CMD with OMP_WAIT_POLICY set as POLICY says
run_policy() {
    local p=$1
    shift
    case $p in
    unset) env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u CELLGRAPH_THREADS -u OMP_NUM_THREADS "$@" ;;
    fixed) env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT CELLGRAPH_THREADS="$(nproc)" "$@" ;;
    spin*) env -u OMP_WAIT_POLICY GOMP_SPINCOUNT="${p#spin}" "$@" ;;
    *) env -u GOMP_SPINCOUNT OMP_WAIT_POLICY="$p" "$@" ;;
    esac
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# train_rate POLICY OUT: samples/s of the training steps
train_rate() {
    rm -rf "$2"
    run_policy "$1" "$CLI" train --config configs/hetero_cell.json --max-steps "$STEPS" --out "$2" >"$2.log" 2>&1 ||
        { echo "bench/load.sh: train failed, see $2.log" >&2; exit 1; }
    sed -n 's/^training: .* (\([0-9.]*\) samples\/s).*/\1/p' "$2.log"
}

# eval_rate POLICY CKPT LOG: genotypes/s of screen on EVAL_N metabolic pairs
eval_rate() {
    rm -f "$WORK/screen.tsv" "$WORK/screen.tsv.partial"
    run_policy "$1" "$CLI" screen --checkpoint "$2" --metabolic --order 2 --max-genotypes "$EVAL_N" \
        -o "$WORK/screen.tsv" >"$3" 2>&1 || { echo "bench/load.sh: screen failed, see $3" >&2; exit 1; }
    sed -n 's/.*genotypes this run (\([0-9.]*\) genotypes\/s).*/\1/p' "$3"
}

# the evaluation checkpoint (quiet, once)
PUB=$WORK/published
if [ ! -f "$PUB/checkpoint_best.safetensors" ]; then
    rm -rf "$PUB"
    "$CLI" train --config configs/hetero_cell_published.json --split gene2 --max-steps 1 --out "$PUB" >"$PUB.log" 2>&1 ||
        { echo "bench/load.sh: train (published form) failed, see $PUB.log" >&2; exit 1; }
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cellgraph: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), train $STEPS steps of configs/hetero_cell.json, eval: screen of $EVAL_N pairs with configs/hetero_cell_published.json"
printf '%-12s %-11s %12s %9s %8s %12s %9s\n' policy competitors train/s slowdown threads eval/s slowdown
for policy in $POLICIES; do
    for hogs in 0 1 2; do
        start_hogs "$hogs"
        sleep 1
        tr=$(for r in $(seq 1 "$REPEAT"); do train_rate "$policy" "$WORK/train-$policy-$hogs"; done | median)
        th=$(sed -n 's/^training: .*samples\/s), \([0-9.]*\) threads.*/\1/p' "$WORK/train-$policy-$hogs.log")
        ckpt=$PUB/checkpoint_best.safetensors
        er=$(for r in $(seq 1 "$REPEAT"); do eval_rate "$policy" "$ckpt" "$WORK/eval-$policy-$hogs.log"; done | median)
        stop_hogs
        if [ "$hogs" = 0 ]; then tq=$tr eq=$er; fi
        awk -v p="$policy" -v h="$hogs" -v tr="$tr" -v tq="$tq" -v er="$er" -v eq="$eq" -v th="$th" \
            'BEGIN { printf "%-12s %-11s %12.1f %8.2fx %8s %12.1f %8.2fx\n", p, h, tr, tq / tr, th, er, eq / er }'
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
