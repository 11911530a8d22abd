#!/usr/bin/env bash
# bench/dango_peer.sh: cellgraph's DANGO training step against the PyTorch reference, same config, one run.
#
#   bench/dango_peer.sh                (from the repository root; about 3 minutes on 2 cores)
#
# The same config (configs/dango.json: D 128, 8 heads of 128, 5 sampled neighbours, six networks, batch 96,
# LogCosh, the auxiliary reconstruction on 960 genes per step, Adam), the same real networks and training
# genotypes (the graph with every optional relation and the dataset, built by cellgraph), the same number
# of threads, each side in its own process:
#   cellgraph                  bench/dango: the trainer's step (cg_trainer_step)
#   pytorch                    reference/dango_peer_bench.py: vectorised sampling (numpy), the mean as
#                              torch.sparse.mm, the reconstruction on dense [960, n_g] predictions as released
#   pytorch-released-sampling  the same with the released code's Python random.sample per node and dense
#                              mask matrices (dango.md a.2)
# and each again with the auxiliary loss off (-no-recon: the head and the batch's encoders alone).
# Environment: PY (python with torch; reference/.venv/bin/python), BUILD (build/release), WORK
# (/tmp/cellgraph-dango-peer), THREADS (2), WARM/STEPS (3/10 cellgraph, 2/5 PyTorch), DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-reference/.venv/bin/python}
BUILD=${BUILD:-build/release}
WORK=${WORK:-/tmp/cellgraph-dango-peer}
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS PYTHONWARNINGS=ignore
DATA_ARG=()
[ -n "${DATA:-}" ] && DATA_ARG=(--data "$DATA")
mkdir -p "$WORK"
echo "== build ($BUILD, Release)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > "$WORK/cmake.log"
cmake --build "$BUILD" -j "$THREADS" --target cellgraph_cli bench_dango >> "$WORK/cmake.log"
echo "== graph (every optional relation) and dataset ($WORK)"
"$BUILD/cellgraph" graph build "${DATA_ARG[@]}" --relations all -o "$WORK/graph.safetensors" | tail -1
"$BUILD/cellgraph" data build "${DATA_ARG[@]}" --graph "$WORK/graph.safetensors" -o "$WORK/dataset.safetensors" | head -1
echo "== machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$WORK/results.txt"
"$BUILD/bench/dango" "${DATA_ARG[@]}" --threads "$THREADS" --warm "${WARM:-3}" --steps "${STEPS:-10}" | tee -a "$WORK/results.txt"
for mode in "" "--released-sampling"; do
    for recon in "" "--no-recon"; do
        "$PY" reference/dango_peer_bench.py --graph "$WORK/graph.safetensors" --dataset "$WORK/dataset.safetensors" \
            --config configs/dango.json --threads "$THREADS" --warm "${PY_WARM:-2}" --steps "${PY_STEPS:-5}" $mode $recon |
            tee -a "$WORK/results.txt"
    done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '/^RESULT/ && / step / { s[$2] = $4 } END {
    printf "\n%-36s %10s %12s %12s\n", "DANGO training step, batch 96", "step (s)", "samples/s", "cellgraph x";
    n = split("cellgraph pytorch pytorch-released-sampling cellgraph-no-recon pytorch-no-recon pytorch-released-sampling-no-recon", k, " ");
    for (i = 1; i <= n; i++) if (k[i] in s) {
        base = (k[i] ~ /no-recon/) ? s["cellgraph-no-recon"] : s["cellgraph"];
        printf "%-36s %10.4f %12.1f %11.1fx\n", k[i], s[k[i]], 96 / s[k[i]], s[k[i]] / base } }' "$WORK/results.txt"
