"""Checkpoint interop: a checkpoint trained by cellgraph, loaded into the PyG HeteroCell
(reference/hetero_cell_pyg.py) by parameter name, predicts the same real genotypes as `cellgraph predict`.

    CELLGRAPH_CACHE=/tmp/parityB/cache build-parityB/cellgraph train --config CONFIG --max-minutes 2 \
        --out /tmp/interop-run
    CELLGRAPH_CACHE=/tmp/parityB/cache /tmp/torchvenv/bin/python reference/interop.py \
        --checkpoint /tmp/interop-run/checkpoint_best.safetensors --cli build-parityB/cellgraph --n 100

Takes the first --n genotypes of the dataset's test split (random split) in a seeded order, writes them
as a genotype TSV (systematic names), runs `cellgraph predict --input` on it, runs the PyG model (eval
mode, float32 and float64; each genotype on its own perturbed graph, the wildtype graph first) and prints
the largest absolute and relative differences in original label units. Then the reverse direction:
the PyG parameters are perturbed (seeded noise), saved as a cellgraph checkpoint
(cellgraph_io.save_cellgraph_checkpoint: cellgraph's tensor order, metadata, parameter CRC) and
predicted again by both. `cellgraph predict` prints 4 decimals, so differences below 5e-5 are at the
resolution of the comparison.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cellgraph_io import model_from_checkpoint, read_dataset, read_graph, save_cellgraph_checkpoint  # noqa: E402
from hetero_cell_pyg import TYPES, dead_masks, subgraph_batch  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--cli", default="build/release/cellgraph")
    p.add_argument("--cache", default=os.environ.get("CELLGRAPH_CACHE", "runs/cache"))
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--chunk", type=int, default=10, help="genotypes per PyG forward (memory)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--forward", type=int, default=1, help="cellgraph checkpoint -> PyG (1) or not (0)")
    p.add_argument("--reverse", type=int, default=1, help="also PyG -> cellgraph checkpoint (1) or not (0)")
    p.add_argument("--noise", type=float, default=0.3, help="relative parameter noise for the reverse direction")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    gpath = sorted(glob.glob(os.path.join(a.cache, "graph-default-*.safetensors")))[-1]
    dpath = sorted(glob.glob(os.path.join(a.cache, "dataset-*.safetensors")))[-1]
    graph, ginfo = read_graph(gpath)
    names = ginfo["names"]["gene"]
    ds = read_dataset(dpath)
    test = np.flatnonzero(ds["split_random"] == 2)
    rng = np.random.default_rng(a.seed)
    pick = rng.permutation(test)[:a.n]
    geno = ds["genotype"][pick]

    model, info = model_from_checkpoint(a.checkpoint, graph)
    stats = info["label_statistics"]
    labels = ("fitness", "epsilon", "tau")
    mean = np.array([stats[k]["mean"] for k in labels])
    std = np.array([stats[k]["std"] for k in labels])
    print(f"checkpoint {a.checkpoint}: step {info['metadata'].get('step')}, model {info['config'].to_dict()}")
    print(f"graph {gpath}; dataset {dpath}; {len(pick)} test genotypes "
          f"(|P| = 1: {(geno[:, 1] < 0).sum()}, 2: {((geno[:, 1] >= 0) & (geno[:, 2] < 0)).sum()}, "
          f"3: {(geno[:, 2] >= 0).sum()})")

    def cg_predict(ckpt):
        with tempfile.TemporaryDirectory() as tmp:
            tsv = os.path.join(tmp, "genotypes.tsv")
            out = os.path.join(tmp, "pred.tsv")
            with open(tsv, "w") as f:
                for g in geno:
                    f.write(",".join(names[i] for i in g if i >= 0) + "\n")
            cmd = [a.cli, "predict", "--checkpoint", ckpt, "--input", tsv, "-o", out]
            print("$ CELLGRAPH_CACHE=" + a.cache + " " + " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True, env=dict(os.environ, CELLGRAPH_CACHE=a.cache))
            rows = [line.rstrip("\n").split("\t") for line in open(out)][1:]
        assert len(rows) == len(geno)
        for r, g in zip(rows, geno):  # the genes cellgraph resolved are the genotype's
            assert sorted(r[-4].split(",")) == sorted(names[i] for i in g if i >= 0), (r, g)
        # fitness, epsilon (pairs), tau (triples); "NA" where a label is not defined for the genotype
        return np.array([[float("nan") if v == "NA" else float(v) for v in r[-3:]] for r in rows])

    wt = {t: np.zeros(graph.n_nodes[t], bool) for t in TYPES}

    def pyg_predict(m, dtype):
        """eval mode, in chunks; graph 0 of every chunk is the wildtype; original units"""
        m = m.to(dtype).eval()
        ys = []
        with torch.no_grad():
            for k in range(0, len(geno), a.chunk):
                batch = subgraph_batch(graph, [wt] + [dead_masks(graph, g) for g in geno[k:k + a.chunk]])
                ys.append(m(batch).double().numpy())
        m.float()
        return np.concatenate(ys) * std + mean

    def compare(title, y, y_cg):
        y = np.where(np.isnan(y_cg), np.nan, y)  # only the labels cellgraph prints for each genotype
        d = np.nan_to_num(np.abs(y - y_cg), nan=0.0)
        rel = d / np.maximum(np.abs(y), 1e-12)
        print(f"{title} (cellgraph predict prints 4 decimals), original units:")
        for k, lab in enumerate(labels):
            i = int(np.argmax(d[:, k]))
            print(f"  {lab:17s} max |diff| {d[:, k].max():.3g}  max rel diff {rel[:, k].max():.3g}  "
                  f"(worst: {'+'.join(names[j] for j in geno[i] if j >= 0)}: cellgraph {y_cg[i, k]:.4f}, "
                  f"PyG {y[i, k]:.6f})  PyG range [{np.nanmin(y[:, k]):.4f}, {np.nanmax(y[:, k]):.4f}]")
        return d.max()

    # 1. cellgraph checkpoint -> PyG
    if a.forward:
        y_cg = cg_predict(a.checkpoint)
        y32 = pyg_predict(model, torch.float32)
        y64 = pyg_predict(model, torch.float64)
        compare("1. cellgraph checkpoint: PyG float32 vs cellgraph", y32, y_cg)
        compare("   cellgraph checkpoint: PyG float64 vs cellgraph", y64, y_cg)
        print(f"   PyG float32 vs float64: max |diff| {np.abs(y32 - y64).max():.3g}")
        print(f"   {'genotype':30s} {'cg fitness':>11s} {'PyG fitness':>12s} {'cg GI':>9s} {'PyG GI':>10s}")
        for i in range(min(5, len(geno))):
            g = "+".join(names[j] for j in geno[i] if j >= 0)
            print(f"   {g:30s} {y_cg[i, 0]:11.4f} {y32[i, 0]:12.6f} {y_cg[i, 1]:9.4f} {y32[i, 1]:10.6f}")

    # 2. PyG -> cellgraph checkpoint: the parameters changed on the PyG side (seeded noise, which also
    # spreads the barely trained model's outputs), saved with cellgraph's names, predicted by cellgraph
    if a.reverse:
        g = torch.Generator().manual_seed(a.seed)
        with torch.no_grad():
            for k, p in model.named_parameters():
                scale = p.detach().std(unbiased=False).clamp(min=0.02)  # a 1-element tensor has no unbiased std
                p.add_(a.noise * scale * torch.randn(p.shape, generator=g))
        path = os.path.join(os.path.dirname(os.path.abspath(a.checkpoint)), "checkpoint_from_pyg.safetensors")
        save_cellgraph_checkpoint(model, a.checkpoint, path)
        print(f"2. PyG parameters (perturbed, noise {a.noise}) saved as {path}")
        y_cg2 = cg_predict(path)
        y2 = pyg_predict(model, torch.float32)
        compare("   PyG-written checkpoint: PyG float32 vs cellgraph", y2, y_cg2)

if __name__ == "__main__":
    main()
