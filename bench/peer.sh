#!/usr/bin/env bash
# bench/peer.sh: cellgraph against PyTorch Geometric on the same HeteroCell training step.
#
#   bench/peer.sh                      (from the repository root; about 10-15 minutes on 2 cores)
#
# The same model config (configs/hetero_cell_published.json's model keys), the same real cell graph (built by
# `cellgraph graph build`), the same batches of real genotypes (B = 32 from the training split of
# `cellgraph data build`, z-scored labels) for
#   cellgraph      bench/peer_cellgraph: dead bitsets over the one shared graph (cellgraph's batch), the
#                  full path (every node of every sample); cellgraph-incremental: the trainer's default
#                  path (only the rows a deletion can change)
#   pyg-subgraph   reference/peer_bench.py: every genotype's own perturbed graph, one disjoint-union batch
#                  (TorchCell's SubgraphRepresentation)
#   pyg-lazy       reference/peer_bench.py: B + 1 full copies of the graph with dead edges masked out
#                  (TorchCell's LazySubgraphRepresentation)
# One step = build the batch + forward + loss + backward + clip_grad_norm(1.0) + AdamW. 2 threads each
# (OMP_NUM_THREADS=2, torch.set_num_threads(2), --threads 2). Each runs in its own process; peak memory
# is that process's maximum resident set size (getrusage; /usr/bin/time -v agrees).
# PyG needs far more memory per sample than this machine has for one B = 32 batch, so by default its
# B = 32 step runs as accumulated micro-batches of PYG_MICRO genotypes (+ the wildtype graph each);
# cellgraph warms up for 3 steps: its activation arena is consolidated into one block after the first
# step that spills, and the fresh block's pages are faulted in during the next step (see docs/parity.md).
# PYG_MICRO=32 runs it as one batch where memory allows. cellgraph also runs at B = PYG_MICRO
# (cellgraph-B8: the first batch's genotypes in batches of 8) to compare memory at equal batch size.
#
# Environment: PY (python with torch + torch_geometric; /tmp/torchvenv/bin/python), BUILD (build-peer),
# WORK (/tmp/cellgraph-peer), B (32), CG_WARM/CG_STEPS (3/3), PYG_WARM/PYG_STEPS (1/2), PYG_MICRO (8),
# THREADS (2), DATA (the yeast folder, else cellgraph's default), PYG_TUNED (1: also the PyG runs with
# glibc malloc keeping its memory, GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=64G).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/tmp/torchvenv/bin/python}
BUILD=${BUILD:-build-peer}
WORK=${WORK:-/tmp/cellgraph-peer}
B=${B:-32}
CG_WARM=${CG_WARM:-3}
CG_STEPS=${CG_STEPS:-3}
PYG_WARM=${PYG_WARM:-1}
PYG_STEPS=${PYG_STEPS:-2}
PYG_MICRO=${PYG_MICRO:-8}
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS PYTHONWARNINGS=ignore
DATA_ARG=()
[ -n "${DATA:-}" ] && DATA_ARG=(--data "$DATA")

mkdir -p "$WORK"
echo "== build ($BUILD, Release)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > "$WORK/cmake.log"
cmake --build "$BUILD" -j "$THREADS" --target cellgraph_cli bench_peer_cellgraph >> "$WORK/cmake.log"
echo "== graph, dataset, batches ($WORK)"
"$BUILD/cellgraph" graph build "${DATA_ARG[@]}" -o "$WORK/graph.safetensors" | tail -1
"$BUILD/cellgraph" data build "${DATA_ARG[@]}" --graph "$WORK/graph.safetensors" -o "$WORK/dataset.safetensors" | head -1
NB=$(( (CG_WARM + CG_STEPS) > (PYG_WARM + PYG_STEPS) ? (CG_WARM + CG_STEPS) : (PYG_WARM + PYG_STEPS) ))
"$PY" reference/peer_bench.py prepare --graph "$WORK/graph.safetensors" --dataset "$WORK/dataset.safetensors" \
    --batch "$B" --batches "$NB" --out "$WORK/genotypes.txt"

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$WORK/results.txt"
run() { # name, command...
    local name=$1
    shift
    echo "== $name: ${GLIBC_TUNABLES:+GLIBC_TUNABLES=$GLIBC_TUNABLES }$*"
    /usr/bin/time -v "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || { echo "$name failed:"; tail -5 "$WORK/$name.err"; return 1; }
    grep -E '^  ' "$WORK/$name.err" | grep -E 'step [0-9]+:' || true
    local rss
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.err")
    echo "$(grep '^RESULT' "$WORK/$name.out") time_v_rss_mb=$((rss / 1024)) load=$(cut -d' ' -f1 /proc/loadavg)" >> "$WORK/results.txt"
}
run cellgraph "$BUILD/bench/peer_cellgraph" --graph "$WORK/graph.safetensors" --genotypes "$WORK/genotypes.txt" \
    --config configs/hetero_cell_published.json --batch "$B" --warm "$CG_WARM" --steps "$CG_STEPS" --threads "$THREADS"
# the trainer's default path: incremental evaluation of the deletions
run cellgraph-incremental "$BUILD/bench/peer_cellgraph" --graph "$WORK/graph.safetensors" --genotypes "$WORK/genotypes.txt" \
    --config configs/hetero_cell_published.json --batch "$B" --warm "$CG_WARM" --steps "$CG_STEPS" --threads "$THREADS" \
    --path incremental
# cellgraph at the PyG micro-batch size too: memory at an equal number of samples held at once
[ "$PYG_MICRO" -lt "$B" ] && run "cellgraph-B$PYG_MICRO" "$BUILD/bench/peer_cellgraph" --graph "$WORK/graph.safetensors" \
    --genotypes "$WORK/genotypes.txt" --config configs/hetero_cell_published.json --batch "$PYG_MICRO" --warm "$CG_WARM" --steps 3 \
    --threads "$THREADS"
for mode in subgraph lazy; do
    run "pyg-$mode" "$PY" reference/peer_bench.py run --mode "$mode" --graph "$WORK/graph.safetensors" \
        --genotypes "$WORK/genotypes.txt" --config configs/hetero_cell_published.json --batch "$B" --warm "$PYG_WARM" \
        --steps "$PYG_STEPS" --threads "$THREADS" --micro "$PYG_MICRO" || true
done
# PyTorch's CPU tensors come from glibc malloc, which mmaps every large block and unmaps it when freed:
# the default runs spend more than half their CPU time faulting fresh pages in. The same runs with
# glibc keeping its memory (no mmap, no trim): faster, but a larger resident set.
if [ "${PYG_TUNED:-1}" = 1 ]; then
    for mode in subgraph lazy; do
        GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736 \
        run "pyg-$mode-malloc" "$PY" reference/peer_bench.py run --mode "$mode" --graph "$WORK/graph.safetensors" \
            --genotypes "$WORK/genotypes.txt" --config configs/hetero_cell_published.json --batch "$B" --warm "$PYG_WARM" \
            --steps "$PYG_STEPS" --threads "$THREADS" --micro "$PYG_MICRO" --name "pyg-$mode-malloc" || true
    done
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" - "$WORK/results.txt" <<'EOF'
import sys
rows = []
for line in open(sys.argv[1]):
    kv = dict(t.split("=", 1) for t in line.split()[1:])
    rows.append(kv)
base = next((r for r in rows if r["name"] == "cellgraph"), None)
print()
print(f"HeteroCell training step, B = {base['B'] if base else '?'} real genotypes (+ wildtype), {base['threads'] if base else '?'} threads")
hdr = f"{'':20s} {'build (s)':>10s} {'step (s)':>10s} {'samples/s':>10s} {'peak RSS (MB)':>14s} {'cg speedup':>11s} {'RSS / cg':>9s} {'build / cg':>11s} {'micro':>6s} {'steps':>6s} {'load':>6s}"
print(hdr)
for r in rows:
    sp = float(r["samples_per_s"])
    rss = float(r["peak_rss_mb"])
    bs = float(r["build_s"])
    if base:
        rs = f"{float(base['samples_per_s']) / sp:.1f}x" if r is not base else "1"
        rm = f"{rss / float(base['peak_rss_mb']):.2f}x" if r is not base else "1"
        rb = f"{bs / max(float(base['build_s']), 1e-9):.0f}x" if r is not base else "1"
    else:
        rs = rm = rb = "-"
    r["name"] = r["name"] if r["name"] != "cellgraph" or r["B"] == base["B"] else f"cellgraph-B{r['B']}"
    print(f"{r['name']:20s} {bs:10.4f} {float(r['step_s']):10.3f} {sp:10.3f} {rss:14.0f} {rs:>11s} {rm:>9s} {rb:>11s} {r.get('micro', r['B']):>6s} {r['steps']:>6s} {r['load']:>6s}")
print("cg speedup: cellgraph's samples/s over the peer's (build + step); RSS / cg, build / cg: the peer's over cellgraph's")
EOF
