"""The PyG side of the peer benchmark (bench/peer.sh): HeteroCell training steps in PyTorch Geometric on
the real cell graph with the batches of real genotypes that cellgraph's bench/peer_cellgraph also runs.

    peer_bench.py prepare --graph G --dataset D --batch 32 --batches N --out genotypes.txt
        picks N batches of B genotypes from the training split (random split, seeded), writes them one per
        line: "g0 g1 g2 fitness gene_interaction" (graph gene indices, -1 padding, labels z-scored with
        the training-split statistics, nan when missing)
    peer_bench.py run --mode subgraph|lazy --graph G --genotypes F --config C [--batch 32] [--warm 1]
                      [--steps 3] [--threads 2]
        subgraph: TorchCell's SubgraphRepresentation: each genotype's perturbed graph (dead nodes and
                  their edges removed, relabelled), the B + 1 graphs (wildtype first) one disjoint-union
                  batch
        lazy:     TorchCell's LazySubgraphRepresentation: B + 1 full copies of the graph, every edge with a
                  dead endpoint masked out (the mask applied to edge_index; PyG's GATv2Conv takes no mask),
                  dead genes kept as rows and left out of the readout
        One step = build the batch (dead sets, subgraph / masked copies) + [zero_grad, forward, loss,
        backward, clip_grad_norm_(1.0), AdamW(lr 1e-3, weight_decay 1e-2)]; with --micro M the B genotypes
        run as B/M accumulated micro-batches of M genotypes (+ the wildtype graph each); prints the medians over the
        steps after the warm-up and the process's peak resident memory (getrusage ru_maxrss) as one
        RESULT line.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def prepare(a):
    from cellgraph_io import read_dataset
    d = read_dataset(a.dataset)
    train = np.flatnonzero(d["split_random"] == 0)
    lab = d["label"][train]
    mean = np.nanmean(lab, axis=0)
    std = np.nanstd(lab, axis=0, ddof=1)
    rng = np.random.default_rng(a.seed)
    pick = rng.choice(train, a.batch * a.batches, replace=False)
    with open(a.out, "w") as f:
        for i in pick:
            z = (d["label"][i] - mean) / std
            g = d["genotype"][i]
            f.write(f"{g[0]} {g[1]} {g[2]} {z[0]:.6g} {z[1]:.6g}\n".replace("nan", "nan"))
    print(f"wrote {a.batches} batches of {a.batch} training genotypes to {a.out}")


def run(a):
    import torch
    torch.set_num_threads(a.threads)
    from cellgraph_io import read_graph
    from hetero_cell_pyg import HeteroCell, HeteroCellConfig, TYPES, dead_masks, lazy_batch, mse_weighted, subgraph_batch

    rows = np.loadtxt(a.genotypes, dtype=str)
    geno = rows[:, :3].astype(np.int64)
    # fitness, then the file's interaction column as epsilon (pairs) or tau (triples), NaN elsewhere
    n_genes = (geno >= 0).sum(axis=1)
    inter = rows[:, 4].astype(np.float32)
    target = np.full((len(rows), 3), np.nan, np.float32)
    target[:, 0] = rows[:, 3].astype(np.float32)
    target[n_genes == 2, 1] = inter[n_genes == 2]
    target[n_genes == 3, 2] = inter[n_genes == 3]
    need = (a.warm + a.steps) * a.batch
    assert len(geno) >= need, f"{a.genotypes}: {len(geno)} genotypes, need {need}"
    t0 = time.perf_counter()
    graph, _ = read_graph(a.graph, names=False)
    t_setup = time.perf_counter() - t0
    with open(a.config) as f:
        cfg = HeteroCellConfig.from_dict(json.load(f))
    torch.manual_seed(cfg.seed)
    model = HeteroCell(cfg, graph.n_nodes).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    build = subgraph_batch if a.mode == "subgraph" else lazy_batch
    wt = {t: np.zeros(graph.n_nodes[t], bool) for t in TYPES}
    tb, ts, losses = [], [], []
    n_nodes = n_edges = 0
    for s in range(a.warm + a.steps):
        sl = slice(s * a.batch, (s + 1) * a.batch)
        t0 = time.perf_counter()
        deads = [dead_masks(graph, g) for g in geno[sl]]
        if a.micro and a.micro < a.batch:
            batch = [build(graph, [wt] + deads[k:k + a.micro]) for k in range(0, a.batch, a.micro)]
        else:
            batch = build(graph, [wt] + deads)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if a.micro and a.micro < a.batch:
            # gradient accumulation: micro-batches of `micro` genotypes, each with the wildtype graph
            # (one B-sized batch does not fit in memory); the loss averaged over the micro-batches
            loss = 0.0
            n_micro = (a.batch + a.micro - 1) // a.micro
            for k in range(n_micro):
                mb = batch[k]
                y = model(mb)
                lk = mse_weighted(y, torch.from_numpy(target[sl][k * a.micro:(k + 1) * a.micro])) / n_micro
                lk.backward()
                loss = loss + lk.detach()
                del y, lk
        else:
            y = model(batch)
            loss = mse_weighted(y, torch.from_numpy(target[sl]))
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t2 = time.perf_counter()
        tb.append(t1 - t0)
        ts.append(t2 - t1)
        losses.append(loss.item())
        bl = batch if isinstance(batch, list) else [batch]
        n_nodes = sum(int(v.numel()) for bb in bl for v in bb.ids.values())
        n_edges = sum(int(v.shape[1]) for bb in bl for v in bb.edge_index.values())
        del batch, bl
        print(f"  pyg-{a.mode} step {s}: build {tb[-1]:.4f} s, step {ts[-1]:.3f} s, loss {losses[-1]:.4f}",
              file=sys.stderr, flush=True)
    b = float(np.median(tb[a.warm:]))
    st = float(np.median(ts[a.warm:]))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"RESULT name={a.name or 'pyg-' + a.mode} B={a.batch} threads={a.threads} steps={a.steps} build_s={b:.6f} step_s={st:.6f} "
          f"samples_per_s={a.batch / (b + st):.3f} micro={a.micro or a.batch} peak_rss_mb={rss:.1f} setup_s={t_setup:.3f} "
          f"params={sum(p.numel() for p in model.parameters())} first_loss={losses[0]:.5f} last_loss={losses[-1]:.5f} "
          f"batch_nodes={n_nodes} batch_edges={n_edges} torch={torch.__version__}", flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("prepare")
    q.add_argument("--graph", required=True)
    q.add_argument("--dataset", required=True)
    q.add_argument("--batch", type=int, default=32)
    q.add_argument("--batches", type=int, default=4)
    q.add_argument("--seed", type=int, default=42)
    q.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--mode", choices=["subgraph", "lazy"], required=True)
    r.add_argument("--graph", required=True)
    r.add_argument("--genotypes", required=True)
    r.add_argument("--config", required=True)
    r.add_argument("--batch", type=int, default=32)
    r.add_argument("--warm", type=int, default=1)
    r.add_argument("--steps", type=int, default=3)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--name", default="", help="name in the RESULT line (default pyg-<mode>)")
    r.add_argument("--micro", type=int, default=0,
                   help="accumulate the gradient over micro-batches of this many genotypes (0: one batch)")
    a = p.parse_args()
    prepare(a) if a.cmd == "prepare" else run(a)


if __name__ == "__main__":
    main()
