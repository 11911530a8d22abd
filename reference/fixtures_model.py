"""Whole-model parity fixtures for tests/test_parity_model.c: HeteroCell (reference/hetero_cell_pyg.py,
PyTorch Geometric) on a small seeded random cell graph with a few deletion genotypes.

    /tmp/torchvenv/bin/python reference/fixtures_model.py tests/fixtures/parity

writes tests/fixtures/parity/model_<case>.safetensors (metadata "format": "cellgraph-parity",
"version": "1"). Each file holds

  graph.n_nodes i64 [3]; graph.<rel>.rowptr i64 [N_dst+1], .src i32 [E], .dst i32 [E] (CSR by
      destination, edges sorted by (dst, src) as cellgraph's graph file), graph.<rel>.attr f32 [E] (rmr,
      rmr_rev: signed stoichiometry)
  genotypes i32 [G, 3] (-1 padding); dead.<type> u8 [G+1, N_type] (row 0: the wildtype, nothing dead;
      row b: genotype b-1 with the deletion rule of DESIGN section 3 applied by this script)
  target f32 [G, 3] (fitness, epsilon, tau; NaN = missing label); metadata label_weights
  param.<name> f32: every parameter under its cellgraph name
  y f32 [G, 3], z_p f32 [G, D]: forward with graph 0 = wildtype
  loss f32 [1]: cg_mse_weighted(y, target, label_weights)
  grad.<name> f32: d loss / d parameter, every parameter
  adamw.losses f32 [steps+1]: the loss before each of `steps` steps of [zero_grad, forward, backward,
      clip_grad_norm_(grad_clip), torch.optim.AdamW(lr, betas, eps, weight_decay)] and after the last
  metadata: config (cellgraph model JSON), optim (JSON), description

The reference runs in float64 (parameters are the float32 values stored, widened), so the stored
outputs are the exact math rounded once to float32. y is also checked here against a literal
one-graph-at-a-time evaluation (each genotype's own perturbed graph, built separately).
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hetero_cell_pyg import (  # noqa: E402
    RELATIONS, TYPES, CellGraph, HeteroCell, HeteroCellConfig, dead_masks, mse_weighted, subgraph_batch)

OPTIM = {"kind": "adamw", "lr": 3e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01,
         "grad_clip": 1.0, "steps": 5}


ST_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.int64): "I64",
             np.dtype(np.uint8): "U8"}


def save_file(tensors: dict, path: str, metadata: dict) -> None:
    """safetensors with a byte-reproducible header (the safetensors package orders the metadata
    differently from run to run): metadata and tensors sorted by name, header padded to 8 bytes."""
    header, blobs, off = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k])
        raw = a.tobytes()
        header[k] = {"dtype": ST_DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def random_graph(rng: np.random.Generator, ng=40, nr=30, nm=24) -> CellGraph:
    n = {"gene": ng, "reaction": nr, "metabolite": nm}
    rel = {}

    def csr_sorted(src, dst, attr=None):
        src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        order = np.lexsort((src, dst))
        return src[order], dst[order], None if attr is None else np.asarray(attr, np.float32)[order]

    # physical: undirected, both ways, no self pairs, no duplicates; genes 34..39 isolated
    pairs = set()
    while len(pairs) < 70:
        a, b = rng.integers(0, 34, 2)
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    s = [a for a, b in pairs] + [b for a, b in pairs]
    d = [b for a, b in pairs] + [a for a, b in pairs]
    rel["physical"] = csr_sorted(s, d)
    # regulatory: directed TF -> target from a few TFs
    reg = set()
    tfs = rng.choice(34, 6, replace=False)
    while len(reg) < 45:
        a, b = rng.choice(tfs), rng.integers(0, 34)
        if a != b:
            reg.add((a, b))
    rel["regulatory"] = csr_sorted([a for a, b in reg], [b for a, b in reg])
    # gpr: each reaction node names an AND-term of 0..3 genes (nodes 0..3 gene-free); consecutive node pairs
    # share genes with one gene swapped (isozyme siblings: deleting the swapped gene kills one node only)
    gs, rs, term = [], [], []
    for r in range(nr):
        if r < 4:
            continue
        if r % 2 == 1 and len(term) > 0:  # term of node r-1
            t2 = list(term)
            t2[-1] = int(rng.integers(0, 30))
            term = sorted(set(t2))
        else:
            term = sorted(set(int(g) for g in rng.integers(0, 30, int(rng.integers(1, 4)))))
        for g in term:
            gs.append(g)
            rs.append(r)
    rel["gpr"] = csr_sorted(gs, rs)
    rel["gpr_rev"] = csr_sorted(rs, gs)
    # rmr: each reaction node touches 1..4 metabolites with signed stoichiometry
    rr, mm, st = [], [], []
    for r in range(nr):
        for m in rng.choice(nm, int(rng.integers(1, 5)), replace=False):
            rr.append(r)
            mm.append(int(m))
            st.append(float(rng.choice([-2.0, -1.0, -0.5, 0.5, 1.0, 1.5, 3.0])))
    rel["rmr"] = csr_sorted(rr, mm, st)
    rel["rmr_rev"] = csr_sorted(mm, rr, st)
    return CellGraph(n, rel)


def one_graph(graph: CellGraph, dead: dict):
    """A genotype's own perturbed graph, built alone (the literal definition)."""
    return subgraph_batch(graph, [dead])


def make_case(name: str, cfg: HeteroCellConfig, seed: int, out_dir: str) -> str:
    rng = np.random.default_rng(seed)
    graph = random_graph(rng)
    # genotypes |P| = 1..3: metabolic genes (gpr sources) so that reaction nodes die, a gene whose
    # removal leaves a destination without in-edges, an isolated gene
    gpr_genes = np.unique(graph.rel["gpr"][0])
    genotypes = [
        [int(gpr_genes[0]), -1, -1],
        [int(gpr_genes[1]), int(gpr_genes[2]), -1],
        [int(gpr_genes[3]), 5, 36],
        [37, -1, -1],
        [1, 2, 3],
        [int(gpr_genes[-1]), int(gpr_genes[-2]), -1],
    ]
    G = len(genotypes)
    deads = [{t: np.zeros(graph.n_nodes[t], bool) for t in TYPES}] + [dead_masks(graph, g) for g in genotypes]
    assert any(d["reaction"].any() for d in deads)

    torch.manual_seed(seed)
    model = HeteroCell(cfg, graph.n_nodes)
    # the LayerNorm and bias parameters start at 1 / 0 in PyTorch; randomise them so that their
    # gradients and roles are exercised (a wrong index would otherwise hide behind a constant)
    with torch.no_grad():
        for k, p in model.named_parameters():
            if ".norm" in k or (k.startswith("layers.") and k.endswith(".bias") and k.count(".") == 3):
                p.add_(0.1 * torch.randn_like(p))
    params32 = {k: v.detach().float().clone() for k, v in model.state_dict().items()}
    model = model.double().train()

    batch = subgraph_batch(graph, deads)
    target = torch.tensor(rng.normal(0, 1, (G, 3)), dtype=torch.float64)
    target[1, 1] = float("nan")
    target[3, 0] = float("nan")
    target[4, 1] = float("nan")
    target[2, 2] = float("nan")
    weights = [1.0, 0.5, 0.75]

    y, z_p = model(batch, return_zp=True)
    loss = mse_weighted(y, target, weights)
    model.zero_grad()
    loss.backward()
    # parameters that do not reach the loss (the last layer's convs into reactions and metabolites) have
    # no gradient in PyTorch: zero, as in cellgraph
    grads = {k: p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
             for k, p in model.named_parameters()}

    # the literal definition: every graph alone
    with torch.no_grad():
        z_w = model.encode(one_graph(graph, deads[0]))
        for b in range(G):
            z_i = model.encode(one_graph(graph, deads[b + 1]))
            y1 = model.head_from(z_w, z_i)
            assert torch.allclose(y1, y[b:b + 1], rtol=1e-10, atol=1e-12), (name, b, y1, y[b])

    # AdamW steps
    opt = torch.optim.AdamW(model.parameters(), lr=OPTIM["lr"], betas=(OPTIM["beta1"], OPTIM["beta2"]),
                            eps=OPTIM["eps"], weight_decay=OPTIM["weight_decay"], foreach=False)
    losses = []
    for step in range(OPTIM["steps"] + 1):
        opt.zero_grad()
        l = mse_weighted(model(batch), target, weights)
        losses.append(l.item())
        if step == OPTIM["steps"]:
            break
        l.backward()
        for p in model.parameters():  # cellgraph's AdamW decays every parameter, gradient or not
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        torch.nn.utils.clip_grad_norm_(model.parameters(), OPTIM["grad_clip"])
        opt.step()

    t = {"graph.n_nodes": np.array([graph.n_nodes[ty] for ty in TYPES], np.int64)}
    for rname, s, d in RELATIONS:
        src, dst, attr = graph.rel[rname]
        rowptr = np.zeros(graph.n_nodes[d] + 1, np.int64)
        np.add.at(rowptr, dst + 1, 1)
        t[f"graph.{rname}.rowptr"] = np.cumsum(rowptr)
        t[f"graph.{rname}.src"] = src.astype(np.int32)
        t[f"graph.{rname}.dst"] = dst.astype(np.int32)
        if attr is not None:
            t[f"graph.{rname}.attr"] = attr.astype(np.float32)
    t["genotypes"] = np.array(genotypes, np.int32)
    for ty in TYPES:
        t[f"dead.{ty}"] = np.stack([d[ty] for d in deads]).astype(np.uint8)
    t["target"] = target.float().numpy()
    t["label_weights"] = np.array(weights, np.float32)
    for k, v in params32.items():
        t[f"param.{k}"] = v.numpy()
        t[f"grad.{k}"] = grads[k].float().numpy()
    t["y"] = y.detach().float().numpy()
    t["z_p"] = z_p.detach().float().numpy()
    t["loss"] = np.array([loss.item()], np.float32)
    t["adamw.losses"] = np.array(losses, np.float32)
    t = {k: np.ascontiguousarray(v) for k, v in t.items()}
    meta = {
        "format": "cellgraph-parity",
        "version": "1",
        "config": json.dumps(cfg.to_dict()),
        "optim": json.dumps(OPTIM),
        "description": f"HeteroCell whole-model parity ({name}): PyG reference/hetero_cell_pyg.py in float64, "
                       f"{G} genotypes + wildtype on a seeded random graph (seed {seed}); "
                       f"loss = cg_mse_weighted(y, target, label_weights)",
        "torch": torch.__version__,
    }
    import torch_geometric
    meta["torch_geometric"] = torch_geometric.__version__
    path = os.path.join(out_dir, f"model_{name}.safetensors")
    save_file(t, path, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes): loss {loss.item():.6g}, AdamW losses "
          + " ".join(f"{x:.6g}" for x in losses))
    return path


CASES = {
    # the default HeteroCell (configs/hetero_cell.json's model) at a small width, dropout off
    "bipartite": (HeteroCellConfig(hidden_channels=16, num_layers=2, heads=4, dropout=0.0, activation="gelu",
                                   residual=False, self_loops=True, head_num_layers=2), 7),
    # the other switches: residual, 3 layers, 2 heads, no self loops, silu, a deeper head, no regulatory
    "residual": (HeteroCellConfig(hidden_channels=8, num_layers=3, heads=2, dropout=0.0, activation="silu",
                                  residual=True, self_loops=False, head_num_layers=3,
                                  relations=["physical", "gpr", "gpr_rev", "rmr", "rmr_rev"]), 11),
    # metabolism "hypergraph": rmr as StoichHypergraphConv (reference/stoich_hypergraph.py); 3 layers, so
    # that the metabolites it updates reach the genes (metabolite -> reaction -> gene)
    "hypergraph": (HeteroCellConfig(hidden_channels=16, num_layers=3, heads=4, dropout=0.0, activation="gelu",
                                    metabolism="hypergraph", residual=False, self_loops=True, head_num_layers=2), 13),
}


def main(out_dir: str) -> list:
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    return [make_case(name, cfg, seed, out_dir) for name, (cfg, seed) in CASES.items()]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "parity"))
