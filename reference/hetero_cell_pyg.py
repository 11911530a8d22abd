"""HeteroCell in PyTorch Geometric: the reference for cellgraph's src/models/hetero_cell.c.

The same model as cellgraph (../shared/docs/DESIGN.md section 5, include/cellgraph/hetero_cell.h), written
the way a PyG user would write it, and with cellgraph's parameter names, so that a state dict loads from
and saves to a cellgraph checkpoint (reference/cellgraph_io.py):

    x_t   = Embedding_t(ids)                                  embedding.<type>.weight
    x_g   = preprocessor(x_g)   2 x [Linear, LayerNorm, act, dropout]   preprocessor.layers.<i>, .norms.<i>
    per layer l, per destination type t:
      x_t' = sum over relations r into t of wrap_r(GATv2Conv_r(x_src, x_t))   (+ x_t with residual)
      GATv2Conv: D/H channels x H heads, concat; physical and regulatory with add_self_loops (PyG's default
      fill_value 'mean'); gpr, gpr_rev bipartite; rmr, rmr_rev bipartite with edge_dim=1 (stoichiometry).
      wrap = [proj Linear when the conv width differs from D] -> LayerNorm per node -> act -> dropout
                                                              layers.<l>.<rel>.{lin_l,lin_r,att,lin_edge,bias,norm,proj}
    z     = torch_geometric.nn.aggr.AttentionalAggregation(gate, transform) over the alive genes of each
            graph: gate D -> D/2 -> 1 (readout.gate.layers.0/1), transform D -> D, act, dropout (readout.transform)
    z_p   = z_w - z_i;  y = head(z_p)   head: head_num_layers Linear layers D -> D ... -> 3 with
            [LayerNorm, act, dropout] between them (head.layers.<i>, head.norms.<i>)

Deletions are applied the PyG way: every genotype runs on its OWN perturbed graph (dead nodes and every
edge touching them removed, survivors relabelled), and the graphs of a batch are one disjoint union
(TorchCell's SubgraphRepresentation). A deleted gene kills every reaction node whose AND-term names it,
i.e. every reaction node it has a gpr edge to (src/graph/deletion.c); metabolites never die.
`lazy_batch` builds the other TorchCell layout (B full copies of the graph, dead edges masked out).

metabolism "hypergraph" replaces rmr by reference/stoich_hypergraph.py's StoichHypergraphConv when that
module exists (parameter names layers.<l>.rmr.{lin,gate_lin,att,bias}).

Dropout masks: cellgraph shares one dropout mask across the samples of a batch; PyG draws independent
ones. Parity checks therefore use dropout 0 (or eval mode).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import GATv2Conv
from torch_geometric.nn.aggr import AttentionalAggregation

TYPES = ("gene", "reaction", "metabolite")
RELATIONS = (  # (name, source type, destination type), cellgraph's order
    ("physical", "gene", "gene"),
    ("regulatory", "gene", "gene"),
    ("gpr", "gene", "reaction"),
    ("gpr_rev", "reaction", "gene"),
    ("rmr", "reaction", "metabolite"),
    ("rmr_rev", "metabolite", "reaction"),
)
REL_NAMES = tuple(r[0] for r in RELATIONS)
STOICH_RELATIONS = ("rmr", "rmr_rev")


@dataclass
class HeteroCellConfig:
    """The model keys of a cellgraph config (configs/hetero_cell.json) with cellgraph's defaults."""

    hidden_channels: int = 64
    num_layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation: str = "gelu"
    metabolism: str = "bipartite"
    residual: bool = False
    self_loops: bool = True
    head_num_layers: int = 2
    relations: list = field(default_factory=lambda: list(REL_NAMES))
    seed: int = 42

    @classmethod
    def from_dict(cls, d: dict) -> "HeteroCellConfig":
        known = set(cls.__dataclass_fields__)
        d = dict(d)
        d.pop("model", None)
        # this reference is torchcell's published form only (cellgraph's "form": "published")
        form = d.pop("form", "published")
        if form != "published" or d.get("gene_head", "none") != "none" or d.get("z_p_scale", "none") != "none" \
                or d.get("global_head", True) is not True:
            raise ValueError("the PyG reference computes the published HeteroCell only (\"form\": \"published\")")
        for k in ("gene_head", "z_p_scale", "global_head", "head_dropout"):
            d.pop(k, None)
        kw = {k: v for k, v in d.items() if k in known}
        unknown = set(d) - known - {"train"}
        if unknown:
            raise ValueError(f"unknown model keys {sorted(unknown)}")
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str) -> "HeteroCellConfig":
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def make_act(name: str) -> nn.Module:
    """cellgraph's activations (src/ops/activation.c): exact GELU, leaky slope 0.01, softplus beta 1."""
    return {
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(0.01),
        "gelu": nn.GELU,
        "silu": nn.SiLU,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "mish": nn.Mish,
        "softplus": nn.Softplus,
    }[name]()


class MLP(nn.Module):
    """cg_mlp: n_layers Linear layers in -> hidden ... -> out; after every layer but the last (and after
    the last too when act_last): [LayerNorm if norm], act, dropout. Names layers.<i>, norms.<i>."""

    def __init__(self, d_in, hidden, d_out, n_layers, norm, act, dropout, act_last):
        super().__init__()
        dims = [d_in] + [hidden] * (n_layers - 1) + [d_out]
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(n_layers))
        n_post = n_layers if act_last else n_layers - 1
        self.norms = nn.ModuleList(nn.LayerNorm(dims[i + 1]) for i in range(n_post)) if norm else None
        self.n_post = n_post
        self.act = make_act(act)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        for i, lin in enumerate(self.layers):
            x = lin(x)
            if i < self.n_post:
                if self.norms is not None:
                    x = self.norms[i](x)
                x = self.drop(self.act(x))
        return x


class WrappedGATv2(GATv2Conv):
    """PyG's GATv2Conv plus cellgraph's wrapper parameters (proj, norm) in the same module, so that the
    names are layers.<l>.<rel>.lin_l.weight, ... , layers.<l>.<rel>.norm.weight."""

    def __init__(self, D, H, self_loops, edge_dim, act, dropout, attention_dropout):
        C = D // H
        super().__init__((D, D), C, heads=H, concat=True, negative_slope=0.2, dropout=attention_dropout,
                         add_self_loops=self_loops, edge_dim=edge_dim, fill_value="mean", bias=True,
                         share_weights=False, residual=False)
        self.proj = nn.Linear(H * C, D) if H * C != D else None
        self.norm = nn.LayerNorm(D)
        self.post_act = make_act(act)
        self.post_drop = nn.Dropout(dropout)

    def wrapped(self, x_src, x_dst, edge_index, edge_attr=None):
        if self.add_self_loops:  # same node set: PyG's homogeneous call (self loops need it)
            o = self(x_src, edge_index)
        else:
            o = self((x_src, x_dst), edge_index, edge_attr=edge_attr)
        if self.proj is not None:
            o = self.proj(o)
        return self.post_drop(self.post_act(self.norm(o)))


def _stoich_hg_class():
    import stoich_hypergraph  # reference/stoich_hypergraph.py (the layer-parity reference)
    return stoich_hypergraph.StoichHypergraphConv


def WrappedStoichHG(D, H, act, dropout, attention_dropout):
    """metabolism "hypergraph": reference/stoich_hypergraph.py's StoichHypergraphConv over metabolites with
    reaction hyperedges (attention "node" mode, stoichiometry gate, H heads of D/H channels, concat), plus
    the wrapper's norm in the same module: names layers.<l>.rmr.{lin.weight, gate_lin.weight,
    gate_lin.bias, att, bias, norm.weight, norm.bias} as cellgraph's cg_stoich_hg_register."""
    base = _stoich_hg_class()

    class _Wrapped(base):
        is_hypergraph = True

        def __init__(self):
            super().__init__(D, D // H, is_stoich_gated=True, use_attention=True, attention_mode="node", heads=H,
                             concat=True, negative_slope=0.2, dropout=attention_dropout, bias=True)
            self.norm = nn.LayerNorm(D)
            self.post_act = make_act(act)
            self.post_drop = nn.Dropout(dropout)

        def wrapped(self, x_met, x_rxn, incidences, stoich):
            o = self(x_met, incidences, stoich, x_rxn, num_edges=x_rxn.shape[0])
            return self.post_drop(self.post_act(self.norm(o)))

    return _Wrapped()


class Readout(nn.Module):
    """AttentionalAggregation(gate_nn=gate, nn=transform); only gate and transform are registered, so the
    names are readout.gate.* and readout.transform.* as in cellgraph."""

    def __init__(self, D, act, dropout):
        super().__init__()
        self.gate = MLP(D, D // 2, 1, 2, False, act, dropout, act_last=False)
        self.transform = MLP(D, D, D, 1, False, act, dropout, act_last=True)
        self._aggr = [AttentionalAggregation(gate_nn=self.gate, nn=self.transform)]  # list: not a submodule

    def forward(self, x, index, dim_size):
        return self._aggr[0](x, index=index, dim_size=dim_size)


class HeteroCell(nn.Module):
    def __init__(self, cfg: HeteroCellConfig, n_nodes: dict):
        super().__init__()
        self.cfg = cfg
        D, H = cfg.hidden_channels, cfg.heads
        assert D % H == 0
        self.embedding = nn.ModuleDict({t: nn.Embedding(int(n_nodes[t]), D) for t in TYPES})
        self.preprocessor = MLP(D, D, D, 2, True, cfg.activation, cfg.dropout, act_last=True)
        self.layers = nn.ModuleList()
        for _ in range(cfg.num_layers):
            convs = nn.ModuleDict()
            for name, s, d in RELATIONS:
                if name not in cfg.relations:
                    continue
                if name == "rmr" and cfg.metabolism == "hypergraph":
                    convs[name] = WrappedStoichHG(D, H, cfg.activation, cfg.dropout, cfg.attention_dropout)
                    continue
                convs[name] = WrappedGATv2(D, H, cfg.self_loops and s == d, 1 if name in STOICH_RELATIONS else None,
                                           cfg.activation, cfg.dropout, cfg.attention_dropout)
            self.layers.append(convs)
        self.readout = Readout(D, cfg.activation, cfg.dropout)
        self.head = MLP(D, D, 3, cfg.head_num_layers, True, cfg.activation, cfg.dropout, act_last=False)

    def encode(self, batch: "GraphBatch", mask_edges: bool = False) -> torch.Tensor:
        """z [S, D] for the S graphs of a batch (GraphBatch from subgraph_batch or lazy_batch)."""
        x = {t: self.embedding[t](batch.ids[t]) for t in TYPES}
        x["gene"] = self.preprocessor(x["gene"])
        for convs in self.layers:
            acc = {}
            for name, s, d in RELATIONS:
                if name not in convs:
                    continue
                conv = convs[name]
                if getattr(conv, "is_hypergraph", False):
                    # incidences = (metabolite node, rmr_rev, reaction hyperedge); hyperedge attributes: this
                    # layer's reaction embeddings
                    o = conv.wrapped(x["metabolite"], x["reaction"], batch.edge_index["rmr_rev"],
                                     batch.edge_attr["rmr_rev"].view(-1).to(x["metabolite"].dtype))
                else:
                    ea = batch.edge_attr.get(name)
                    o = conv.wrapped(x[s], x[d], batch.edge_index[name], None if ea is None else ea.to(x[s].dtype))
                acc[d] = acc[d] + o if d in acc else o
            x = {t: (x[t] + acc[t] if self.cfg.residual else acc[t]) if t in acc else x[t] for t in TYPES}
        g = x["gene"]
        if batch.gene_alive is not None:  # lazy layout: dead genes are still rows; leave them out
            return self.readout(g[batch.gene_alive], batch.gene_batch[batch.gene_alive], batch.num_graphs)
        return self.readout(g, batch.gene_batch, batch.num_graphs)

    def head_from(self, z_w: torch.Tensor, z_i: torch.Tensor) -> torch.Tensor:
        return self.head(z_w - z_i)

    def forward(self, batch: "GraphBatch", return_zp: bool = False):
        """Graph 0 of the batch is the wildtype, graphs 1..S-1 the genotypes: y [S-1, 3] (fitness, epsilon, tau)."""
        z = self.encode(batch)
        z_p = z[:1] - z[1:]
        y = self.head(z_p)
        return (y, z_p) if return_zp else y


# ---------------------------------------------------------------------------------------------- graphs


@dataclass
class CellGraph:
    """The shared graph as numpy arrays: n_nodes {type: N}; rel {name: (src int64 [E], dst int64 [E],
    attr float32 [E] or None)}, edges in cellgraph's CSR order (sorted by destination, then source)."""

    n_nodes: dict
    rel: dict


def dead_masks(graph: CellGraph, genotype) -> dict:
    """DESIGN section 3: the genes of the genotype die; every reaction node with a gpr edge from a dead
    gene dies (its AND-term names the gene); metabolites never die. {type: bool [N]}"""
    dead = {t: np.zeros(graph.n_nodes[t], dtype=bool) for t in TYPES}
    genes = np.asarray([g for g in genotype if g >= 0], dtype=np.int64)
    dead["gene"][genes] = True
    src, dst, _ = graph.rel["gpr"]
    dead["reaction"][dst[dead["gene"][src]]] = True
    return dead


@dataclass
class GraphBatch:
    ids: dict           # {type: LongTensor [n]} original node id of every node row
    edge_index: dict    # {rel: LongTensor [2, E]} in batch rows
    edge_attr: dict     # {rel: FloatTensor [E, 1]} for rmr, rmr_rev
    gene_batch: torch.Tensor  # graph of every gene row
    num_graphs: int
    gene_alive: torch.Tensor | None = None  # lazy layout only


def subgraph_batch(graph: CellGraph, deads: list) -> GraphBatch:
    """TorchCell's SubgraphRepresentation, batched: each graph's dead nodes and their edges removed,
    survivors relabelled in their original order, the graphs one disjoint union (PyG Batch layout)."""
    S = len(deads)
    ids, remap = {}, {}
    gene_batch = None
    for t in TYPES:
        N = graph.n_nodes[t]
        alive = ~np.stack([d[t] for d in deads])  # [S, N]
        flat = alive.reshape(-1)
        m = np.cumsum(flat) - 1
        m[~flat] = -1
        remap[t] = m
        pos = np.flatnonzero(flat)
        ids[t] = torch.from_numpy(pos % N)
        if t == "gene":
            gene_batch = torch.from_numpy(pos // N)
    edge_index, edge_attr = {}, {}
    for name, s, d in RELATIONS:
        src, dst, attr = graph.rel[name]
        off_s = (np.arange(S, dtype=np.int64) * graph.n_nodes[s])[:, None]
        off_d = (np.arange(S, dtype=np.int64) * graph.n_nodes[d])[:, None]
        a = remap[s][(src[None, :] + off_s).reshape(-1)]
        b = remap[d][(dst[None, :] + off_d).reshape(-1)]
        keep = (a >= 0) & (b >= 0)
        edge_index[name] = torch.from_numpy(np.stack([a[keep], b[keep]]))
        if attr is not None:
            edge_attr[name] = torch.from_numpy(np.tile(attr, S)[keep]).view(-1, 1)
    return GraphBatch(ids, edge_index, edge_attr, gene_batch, S)


def lazy_batch(graph: CellGraph, deads: list) -> GraphBatch:
    """TorchCell's LazySubgraphRepresentation: S full copies of the graph (no relabelling), every edge
    with a dead endpoint masked out (the mask applied to edge_index, since PyG's GATv2Conv takes no edge
    mask), dead nodes kept as isolated rows, the readout over the alive genes only."""
    S = len(deads)
    ids, alive = {}, {}
    for t in TYPES:
        N = graph.n_nodes[t]
        ids[t] = torch.arange(N).repeat(S)
        alive[t] = ~np.stack([d[t] for d in deads]).reshape(-1)
    edge_index, edge_attr = {}, {}
    for name, s, d in RELATIONS:
        src, dst, attr = graph.rel[name]
        a = (src[None, :] + (np.arange(S, dtype=np.int64) * graph.n_nodes[s])[:, None]).reshape(-1)
        b = (dst[None, :] + (np.arange(S, dtype=np.int64) * graph.n_nodes[d])[:, None]).reshape(-1)
        mask = alive[s][a] & alive[d][b]
        edge_index[name] = torch.from_numpy(np.stack([a, b])[:, mask])
        if attr is not None:
            edge_attr[name] = torch.from_numpy(np.tile(attr, S)[mask]).view(-1, 1)
    Ng = graph.n_nodes["gene"]
    gene_batch = torch.arange(S).repeat_interleave(Ng)
    return GraphBatch(ids, edge_index, edge_attr, gene_batch, S, torch.from_numpy(alive["gene"]))


def mse_weighted(pred: torch.Tensor, target: torch.Tensor, weights=None) -> torch.Tensor:
    """cg_mse_weighted: sum_k w_k * mean over the rows whose target k is not NaN of (p - t)^2."""
    valid = ~torch.isnan(target)
    diff = torch.where(valid, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    n = valid.sum(0).clamp(min=1).to(pred.dtype)
    per = (diff * diff).sum(0) / n
    if weights is not None:
        per = per * torch.as_tensor(weights, dtype=pred.dtype)
    return per.sum()
