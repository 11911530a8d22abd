"""Reading cellgraph's files from Python (numpy / torch): graph, dataset, checkpoint.

Formats (safetensors with JSON metadata in __metadata__):
  graph       written by `cellgraph graph build` (src/graph/graph.c): metadata format, recipe, sources, build;
              per relation <rel>.rowptr i64 [N_dst + 1], <rel>.src i32 [E], <rel>.dst i32 [E] (CSR by
              destination, edges sorted by (dst, src)), rmr/rmr_rev <rel>.stoichiometry f32 [E]; string
              tables <name>.offsets i64 [n + 1] + <name>.bytes u8 (gene.name, reaction.name,
              metabolite.name, ...); reaction.term_ptr / reaction.term_genes (the AND-term of each node).
  dataset     written by `cellgraph data build` (src/data/dataset.c): genotype i32 [S, 3] (-1 padding),
              label f32 [S, 2] (fitness, gene_interaction; NaN = missing), split.random / split.gene i32 [S]
              (0 train, 1 val, 2 test).
  checkpoint  written by the trainer (src/train/trainer.c): one f32 tensor per parameter under its name;
              metadata model (config JSON), train, label_statistics, checksums, progress.
"""
from __future__ import annotations

import json

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from hetero_cell_pyg import RELATIONS, TYPES, CellGraph, HeteroCell, HeteroCellConfig


def _metadata(path: str) -> dict:
    with safe_open(path, framework="numpy") as f:
        return dict(f.metadata() or {})


def _strings(t: dict, prefix: str) -> list:
    off, by = t[prefix + ".offsets"], t[prefix + ".bytes"].tobytes()
    # each entry is stored NUL-terminated (src/graph/graph.c strtab): the offsets include the NUL
    return [by[off[i]:off[i + 1]].split(b"\0", 1)[0].decode() for i in range(len(off) - 1)]


def read_graph(path: str, names: bool = True):
    """(CellGraph, info): info has the node names per type (names=True), the metadata and the raw
    tensors."""
    meta = _metadata(path)
    if not meta.get("format", "").startswith("cellgraph.graph/"):
        raise ValueError(f"{path}: not a cellgraph graph file (format {meta.get('format')!r})")
    t = load_file(path)
    n_nodes = {
        "gene": len(t["gene.name.offsets"]) - 1,
        "reaction": len(t["reaction.name.offsets"]) - 1,
        "metabolite": len(t["metabolite.name.offsets"]) - 1,
    }
    rel = {}
    for name, s, d in RELATIONS:
        src = t[f"{name}.src"].astype(np.int64)
        dst = t[f"{name}.dst"].astype(np.int64)
        attr = t.get(f"{name}.stoichiometry")
        rp = t[f"{name}.rowptr"]
        assert len(rp) == n_nodes[d] + 1 and rp[-1] == len(src), f"{path}: {name}: bad CSR"
        rel[name] = (src, dst, attr.astype(np.float32) if attr is not None else None)
    info = {"metadata": meta, "tensors": t}
    if names:
        info["names"] = {ty: _strings(t, f"{ty}.name") for ty in TYPES}
    return CellGraph(n_nodes, rel), info


def read_dataset(path: str) -> dict:
    """{genotype [S, 3] int64, label [S, 2] float32, split_random, split_gene [S] int32, metadata}."""
    t = load_file(path)
    return {
        "genotype": t["genotype"].astype(np.int64),
        "label": t["label"],
        "split_random": t["split.random"],
        "split_gene": t["split.gene"],
        "metadata": _metadata(path),
    }


def read_checkpoint(path: str):
    """(state_dict of torch tensors, metadata with 'model' parsed to a HeteroCellConfig)."""
    meta = _metadata(path)
    sd = {k: torch.from_numpy(v.copy()) for k, v in load_file(path).items()}
    cfg = HeteroCellConfig.from_json(meta["model"]) if "model" in meta else None
    stats = json.loads(meta["label_statistics"]) if "label_statistics" in meta else None
    return sd, {"metadata": meta, "config": cfg, "label_statistics": stats}


def model_from_checkpoint(path: str, graph: CellGraph) -> tuple:
    """A HeteroCell (PyG) with the checkpoint's config and parameters; strict loading: every name on
    both sides must match."""
    sd, info = read_checkpoint(path)
    model = HeteroCell(info["config"], graph.n_nodes)
    if info["metadata"].get("format") != "cellgraph.checkpoint/1":
        raise ValueError(f"{path}: not a cellgraph checkpoint")
    model.load_state_dict(sd, strict=True)
    return model, info


def _header(path: str) -> dict:
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n))  # key order = the file's order (cellgraph: registration order)


def save_cellgraph_checkpoint(model: HeteroCell, template: str, path: str) -> None:
    """Writes the PyG model's parameters as a cellgraph checkpoint that `cellgraph predict / eval` accept:
    the tensors in the order of the template checkpoint (cellgraph's registration order), the
    template's metadata (config, label statistics, graph and dataset checksums, progress) with
    params_crc32 recomputed (CRC-32 over the float32 bytes of every parameter in that order,
    src/train/trainer.c params_crc)."""
    import zlib
    order = [k for k in _header(template) if k != "__metadata__"]
    meta = dict(_metadata(template))
    sd = {k: v.detach().cpu().float().contiguous().numpy() for k, v in model.state_dict().items()}
    if set(order) != set(sd):
        raise ValueError(f"parameter names differ: {sorted(set(order) ^ set(sd))}")
    crc = 0
    for k in order:
        crc = zlib.crc32(sd[k].tobytes(), crc)
    meta["params_crc32"] = f"{crc:08x}"
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k in order:
        raw = sd[k].tobytes()
        header[k] = {"dtype": "F32", "shape": list(sd[k].shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))
