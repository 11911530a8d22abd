"""Writes the layer parity fixtures: tests/fixtures/parity/*.safetensors.

llm.c's recipe: PyTorch (Geometric) computes a layer on small seeded random graphs, and the file keeps
everything the C test (tests/test_parity_layers.c) needs to redo it and compare: inputs, the graph, the
deletions, the parameters under cellgraph's names, the output, a scalar loss = sum(out * loss_weight)
with fixed random weights, and the gradient of that loss for every input and parameter.

Covered: torch_geometric.nn.GATv2Conv (share_weights=False; self loops with fill_value='mean' or none;
edge_dim 1 or none; concat or mean; 1-3 heads; same node type and bipartite), StoichHypergraphConv
(reference/stoich_hypergraph.py: attention off / "node" / "edge", gated or not, concat or mean) and
torch_geometric.nn.aggr.AttentionalAggregation with gate_nn and nn built like cellgraph's cg_mlp.

Deletions: cellgraph runs B samples on one shared graph with per-sample dead-node bitsets
(cellgraph/relbatch.h, node rows sample-major: row b * N + n). Here every sample is computed on its own
graph instead:
  * GATv2Conv: the subgraph induced by the sample's alive nodes (torch_geometric.utils.subgraph /
    bipartite_subgraph, relabelled), so self loops are added for alive nodes only and the 'mean' fill
    uses the alive in-edges only; dead rows are not computed by PyG and are 0 in the output
    (cellgraph's documented convention: a dead destination's row is all zeros, without the bias);
  * StoichHypergraphConv: the incidences of dead nodes and dead hyperedges removed (node and hyperedge
    counts unchanged), so a dead node's row is just the bias, as in cellgraph's layer;
  * AttentionalAggregation: each sample's alive rows form one group (the HeteroCell readout).
Everything is computed in float64 from float32 inputs and parameters and stored as float32; the files
are byte-reproducible (sorted header). Not covered: attention dropout (PyTorch's random masks cannot be
cellgraph's Philox masks; every fixture is in eval mode) and gradients of the edge attributes /
stoichiometry (graph data in cellgraph, not inputs).

Tensor names in a fixture (all float32 unless noted):
  input.<x>            inputs (input.x, or input.x_src / input.x_dst for bipartite GATv2; input.A the
                       hyperedge attributes of StoichHypergraphConv)
  graph.edge_index     int32 [2, E] (row 0 source / node, row 1 destination / hyperedge), list order
  graph.edge_attr      [E, 1] (GATv2 with edge_dim) ; graph.stoich [K] (StoichHypergraphConv)
  graph.dead_src, graph.dead_dst   int32 [B, Ns], [B, Nd] (1 = dead) ; graph.dead [B, N] (aggregation)
  param.<name>         parameters under cellgraph's registration names (lin_l.weight, att, ...)
  output, loss_weight, loss (scalar)
  grad.input.<x>, grad.param.<name>   gradients of loss
Metadata: "format": "cellgraph-parity", "version": "1", "op", "name", and the op's configuration.

Usage: reference/.venv/bin/python reference/make_fixtures.py [OUT_DIR]   (default tests/fixtures/parity)
(layer_fixtures(OUT_DIR) writes the layer fixtures alone; main also runs fixtures_model.main when present.)
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from torch_geometric.nn import GATv2Conv
from torch_geometric.nn.aggr import AttentionalAggregation
from torch_geometric.utils import bipartite_subgraph, subgraph

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from stoich_hypergraph import StoichHypergraphConv  # noqa: E402

FORMAT = {"format": "cellgraph-parity", "version": "1"}
DT = torch.float64


# ---------------------------------------------------------------------------------------- helpers

def unif(shape, lo, hi):
    return (torch.rand(shape) * (hi - lo) + lo).float()


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def i32(t):
    return t.detach().to(torch.int32).contiguous()


def dead_matrix(n, sets):
    d = torch.zeros(len(sets), n, dtype=torch.bool)
    for b, s in enumerate(sets):
        for v in s:
            d[b, v] = True
    return d


def set_params(module, values):
    """Copies float32 values (name -> tensor) into a float64 module; every parameter must be given."""
    names = {n for n, _ in module.named_parameters()}
    if names != set(values):
        raise RuntimeError(f"parameter names differ: module {sorted(names)} vs given {sorted(values)}")
    with torch.no_grad():
        for n, p in module.named_parameters():
            if tuple(p.shape) != tuple(values[n].shape):
                raise RuntimeError(f"{n}: shape {tuple(p.shape)} vs {tuple(values[n].shape)}")
            p.copy_(values[n].to(DT))


ST_DTYPES = {torch.float32: "F32", torch.int32: "I32"}


def save_file(tensors, path, metadata):
    """safetensors writer with a byte-reproducible header (safetensors.torch.save_file orders the
    metadata differently from run to run): metadata and tensors sorted by name, the header padded
    with spaces to a multiple of 8 bytes."""
    header, blobs, off = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def finish(out_dir, name, op, meta, inputs, graph, module, params, out):
    """loss = sum(out * w), backward, and the file."""
    w = torch.randn(out.shape).float()
    loss = (out * w.to(DT)).sum()
    loss.backward()
    t = {}
    for k, v in inputs.items():
        t["input." + k] = f32(v)
        t["grad.input." + k] = f32(v.grad)
    for k, v in graph.items():
        t["graph." + k] = v.contiguous()
    for k, p in module.named_parameters():
        t["param." + k] = f32(params[k])
        t["grad.param." + k] = f32(p.grad)
    t["output"] = f32(out)
    t["loss_weight"] = w.contiguous()
    t["loss"] = f32(loss.reshape(()))
    md = dict(FORMAT)
    md.update({"op": op, "name": name})
    md.update({k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in meta.items()})
    path = os.path.join(out_dir, name + ".safetensors")
    save_file(t, path, metadata=md)
    with safe_open(path, "pt") as f:  # read back with the official library
        if f.metadata() != md or set(f.keys()) != set(t) or not all(torch.equal(f.get_tensor(k), t[k]) for k in t):
            raise RuntimeError(f"{path}: read-back differs")
    print(f"  {name}: {len(t)} tensors, {os.path.getsize(path)} bytes, loss {loss.item():.6f}")


def random_edges(Ns, Nd, E, same_type):
    """E random edges plus, on one node type, two existing self loops and a duplicate edge; the last
    destination gets no in-edge at all."""
    src = torch.randint(0, Ns, (E,))
    dst = torch.randint(0, Nd - 1, (E,))
    if same_type:
        src[0], dst[0] = 2, 2
        src[1], dst[1] = 5, 5
    src[2], dst[2] = src[3].item(), dst[3].item()  # duplicate
    return torch.stack([src, dst])


# ---------------------------------------------------------------------------------------- GATv2Conv

def gatv2_case(out_dir, name, seed, *, Ns, Nd, E, B, fin_src, fin_dst, heads, channels, concat, self_loops,
               edge_dim, bipartite, slope, dead_src, dead_dst):
    torch.manual_seed(seed)
    ei = random_edges(Ns, Nd, E, not bipartite)
    ea = unif((E, 1), -2.0, 2.0) if edge_dim else None
    ds = dead_matrix(Ns, dead_src)
    dd = dead_matrix(Nd, dead_dst) if bipartite else ds
    H, C = heads, channels
    HC, F = H * C, H * C if concat else C
    params = {"lin_l.weight": unif((HC, fin_src), -0.6, 0.6), "lin_l.bias": unif((HC,), -0.3, 0.3),
              "lin_r.weight": unif((HC, fin_dst), -0.6, 0.6), "lin_r.bias": unif((HC,), -0.3, 0.3),
              "att": unif((1, H, C), -1.0, 1.0), "bias": unif((F,), -0.5, 0.5)}
    if edge_dim:
        params["lin_edge.weight"] = unif((HC, 1), -1.0, 1.0)
    conv = GATv2Conv((fin_src, fin_dst) if bipartite else fin_src, C, heads=H, concat=concat, negative_slope=slope,
                     dropout=0.0, add_self_loops=self_loops, edge_dim=1 if edge_dim else None, fill_value="mean",
                     bias=True, share_weights=False, residual=False).to(DT)
    set_params(conv, params)
    conv.eval()
    if bipartite:
        inputs = {"x_src": unif((B * Ns, fin_src), -1.0, 1.0).to(DT).requires_grad_(),
                  "x_dst": unif((B * Nd, fin_dst), -1.0, 1.0).to(DT).requires_grad_()}
        xs, xd = inputs["x_src"], inputs["x_dst"]
    else:
        inputs = {"x": unif((B * Ns, fin_src), -1.0, 1.0).to(DT).requires_grad_()}
        xs = xd = inputs["x"]
    ead = ea.to(DT) if ea is not None else None
    out = torch.zeros(B * Nd, F, dtype=DT)
    for b in range(B):
        alive_s, alive_d = ~ds[b], ~dd[b]
        if bipartite:
            e_b, a_b = bipartite_subgraph((alive_s, alive_d), ei, ead, relabel_nodes=True, size=(Ns, Nd))
            o = conv((xs[b * Ns:(b + 1) * Ns][alive_s], xd[b * Nd:(b + 1) * Nd][alive_d]), e_b, a_b)
        else:
            e_b, a_b = subgraph(alive_s, ei, ead, relabel_nodes=True, num_nodes=Ns)
            o = conv(xs[b * Ns:(b + 1) * Ns][alive_s], e_b, a_b)
        rows = b * Nd + alive_d.nonzero().view(-1)
        out = out.index_copy(0, rows, o)
    graph = {"edge_index": i32(ei), "dead_src": i32(ds), "dead_dst": i32(dd)}
    if ea is not None:
        graph["edge_attr"] = ea
    meta = {"B": B, "n_src": Ns, "n_dst": Nd, "n_edges": E, "heads": H, "channels": C, "concat": concat,
            "add_self_loops": self_loops, "edge_dim": 1 if edge_dim else 0, "bipartite": bipartite,
            "negative_slope": repr(slope), "dropout": "0", "semantics": "per-sample induced subgraph of alive nodes; "
            "dead destination rows 0"}
    finish(out_dir, name, "gatv2", meta, inputs, graph, conv, params, out)


# ---------------------------------------------------------------------------------------- StoichHypergraphConv

def random_incidences(N, M):
    """Hyperedges of 1-5 distinct nodes with signed stoichiometry; the last node is in no hyperedge, the
    last hyperedge has no incidence, hyperedge 0 has one; the list is shuffled."""
    node, edge, s = [], [], []
    for e in range(M - 1):
        size = 1 if e == 0 else int(torch.randint(2, 6, ()).item())
        members = torch.randperm(N - 1)[:size]
        for v in members.tolist():
            mag = [0.5, 1.0, 2.0, 3.0, 1.5][int(torch.randint(0, 5, ()).item())]
            node.append(v)
            edge.append(e)
            s.append(mag if torch.rand(()) < 0.5 else -mag)
    perm = torch.randperm(len(node))
    ei = torch.tensor([node, edge])[:, perm]
    return ei, torch.tensor(s, dtype=torch.float32)[perm]


def stoich_case(out_dir, name, seed, *, N, M, B, fin, heads, channels, concat, attention, mode, gated,
                slope, dead_nodes, dead_edges):
    torch.manual_seed(seed)
    ei, st = random_incidences(N, M)
    K = ei.shape[1]
    H = heads if attention else 1
    C = channels
    F = H * C if concat else C
    params = {"lin.weight": unif((H * C, fin), -0.6, 0.6), "bias": unif((F,), -0.5, 0.5)}
    if gated:
        params["gate_lin.weight"] = unif((1, fin), -1.0, 1.0)
        params["gate_lin.bias"] = unif((1,), -0.5, 0.5)
    if attention:
        params["att"] = unif((1, H, 2 * C), -1.0, 1.0)
    conv = StoichHypergraphConv(fin, C, is_stoich_gated=gated, use_attention=attention, attention_mode=mode,
                                heads=heads, concat=concat, negative_slope=slope, dropout=0.0, bias=True).to(DT)
    set_params(conv, params)
    conv.eval()
    dn, de = dead_matrix(N, dead_nodes), dead_matrix(M, dead_edges)
    inputs = {"x": unif((B * N, fin), -1.0, 1.0).to(DT).requires_grad_()}
    if attention:
        inputs["A"] = unif((B * M, fin), -1.0, 1.0).to(DT).requires_grad_()
    std = st.to(DT)
    outs = []
    for b in range(B):
        keep = ~dn[b][ei[0]] & ~de[b][ei[1]]
        A_b = inputs["A"][b * M:(b + 1) * M] if attention else None
        outs.append(conv(inputs["x"][b * N:(b + 1) * N], ei[:, keep], std[keep], A_b, num_edges=M))
    out = torch.cat(outs)
    graph = {"edge_index": i32(ei), "stoich": st, "dead_src": i32(dn), "dead_dst": i32(de)}
    meta = {"B": B, "n_nodes": N, "n_hyperedges": M, "n_incidences": K, "heads": heads, "channels": C,
            "concat": concat, "use_attention": attention, "attention_mode": mode, "gated": gated,
            "negative_slope": repr(slope), "dropout": "0",
            "semantics": "per sample, incidences of dead nodes / hyperedges removed; bias on every row"}
    finish(out_dir, name, "stoich_hypergraph", meta, inputs, graph, conv, params, out)


# ---------------------------------------------------------------------------------------- AttentionalAggregation

ACTS = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "tanh": torch.nn.Tanh, "silu": torch.nn.SiLU}


class MLP(torch.nn.Module):
    """cellgraph's cg_mlp: Linear layers in -> hidden ... -> out; after every layer but the last (and after
    the last too with act_last): [LayerNorm], activation, dropout. Names layers.<i>, norms.<i>."""

    def __init__(self, fin, hidden, fout, n_layers, norm, act, act_last):
        super().__init__()
        dims = [fin] + [hidden] * (n_layers - 1) + [fout]
        self.layers = torch.nn.ModuleList(torch.nn.Linear(dims[i], dims[i + 1]) for i in range(n_layers))
        n_norm = n_layers if act_last else n_layers - 1
        self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(dims[i + 1]) for i in range(n_norm)) if norm else None
        self.act = ACTS[act]()
        self.act_last = act_last

    def forward(self, x):
        n = len(self.layers)
        for i, lin in enumerate(self.layers):
            x = lin(x)
            if i < n - 1 or self.act_last:
                if self.norms is not None:
                    x = self.norms[i](x)
                x = self.act(x)  # dropout p = 0
        return x


def mlp_params(mlp, prefix):
    p = {}
    for n, t in mlp.named_parameters():
        if n.startswith("norms.") and n.endswith(".weight"):
            p[prefix + n] = unif(tuple(t.shape), 0.5, 1.5)
        elif "bias" in n:
            p[prefix + n] = unif(tuple(t.shape), -0.4, 0.4)
        else:
            p[prefix + n] = unif(tuple(t.shape), -0.7, 0.7)
    return p


def aggr_case(out_dir, name, seed, *, N, B, fin, gate, transform, dead):
    torch.manual_seed(seed)
    gmlp = MLP(fin, gate["hidden"], 1, gate["n_layers"], gate["norm"], gate["act"], False)
    tmlp = MLP(fin, transform["hidden"], transform["out"], transform["n_layers"], transform["norm"],
               transform["act"], transform["act_last"])
    aggr = AttentionalAggregation(gate_nn=gmlp, nn=tmlp).to(DT)
    params = {}
    params.update(mlp_params(gmlp, "gate_nn."))
    params.update(mlp_params(tmlp, "nn."))
    set_params(aggr, params)
    aggr.eval()
    dm = dead_matrix(N, dead)
    inputs = {"x": unif((B * N, fin), -1.5, 1.5).to(DT).requires_grad_()}
    outs = []
    for b in range(B):
        xa = inputs["x"][b * N:(b + 1) * N][~dm[b]]
        outs.append(aggr(xa, index=torch.zeros(xa.shape[0], dtype=torch.long), dim_size=1))
    out = torch.cat(outs)
    meta = {"B": B, "n_nodes": N, "in": fin,
            "gate_nn.hidden": gate["hidden"], "gate_nn.out": 1, "gate_nn.n_layers": gate["n_layers"],
            "gate_nn.norm": gate["norm"], "gate_nn.act": gate["act"], "gate_nn.act_last": False,
            "nn.hidden": transform["hidden"], "nn.out": transform["out"], "nn.n_layers": transform["n_layers"],
            "nn.norm": transform["norm"], "nn.act": transform["act"], "nn.act_last": transform["act_last"],
            "semantics": "one group per sample: its alive rows in row order; an empty group gives 0"}
    finish(out_dir, name, "attentional_aggregation", meta, inputs, {"dead": i32(dm)}, aggr, params, out)


# ---------------------------------------------------------------------------------------- main

def layer_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    print(f"layer fixtures -> {out_dir}")
    # GATv2Conv on one node type: samples 0 nothing dead, 1 one node, 2 three nodes (incl. a self-loop node)
    same = dict(Ns=16, Nd=16, B=3, dead_src=[[], [7], [2, 9, 12]], dead_dst=None, bipartite=False)
    gatv2_case(out_dir, "gatv2_selfloops_h2_concat", 101, E=44, fin_src=5, fin_dst=5, heads=2, channels=3,
               concat=True, self_loops=True, edge_dim=False, slope=0.2, **same)
    gatv2_case(out_dir, "gatv2_selfloops_edge_h3_mean", 102, E=44, fin_src=4, fin_dst=4, heads=3, channels=2,
               concat=False, self_loops=True, edge_dim=True, slope=0.2, **same)
    gatv2_case(out_dir, "gatv2_edge_h2_concat", 103, E=40, fin_src=5, fin_dst=5, heads=2, channels=4,
               concat=True, self_loops=False, edge_dim=True, slope=0.2, **same)
    gatv2_case(out_dir, "gatv2_plain_h1_mean", 104, E=36, fin_src=6, fin_dst=6, heads=1, channels=5,
               concat=False, self_loops=False, edge_dim=False, slope=0.1, **same)
    # bipartite (gpr-like and rmr-like): dead sources and dead destinations
    bip = dict(Ns=14, Nd=10, B=3, dead_src=[[], [0, 4], [11]], dead_dst=[[], [3], [1, 6]], bipartite=True)
    gatv2_case(out_dir, "gatv2_bipartite_h2_concat", 105, E=34, fin_src=5, fin_dst=3, heads=2, channels=3,
               concat=True, self_loops=False, edge_dim=False, slope=0.2, **bip)
    gatv2_case(out_dir, "gatv2_bipartite_edge_h2_mean", 106, E=34, fin_src=4, fin_dst=6, heads=2, channels=3,
               concat=False, self_loops=False, edge_dim=True, slope=0.2, **bip)
    # StoichHypergraphConv: metabolites N = 15 (node 14 in no reaction), reactions M = 11 (reaction 10
    # without incidences); samples 0 nothing dead, 1 two reactions dead, 2 a reaction and a metabolite dead
    hg = dict(N=15, M=11, B=3, fin=5, channels=3, slope=0.2, dead_nodes=[[], [], [3]],
              dead_edges=[[], [2, 5], [7]])
    stoich_case(out_dir, "stoich_hg_plain", 201, heads=2, concat=True, attention=False, mode="node",
                gated=False, **hg)
    stoich_case(out_dir, "stoich_hg_gated_mean", 202, heads=1, concat=False, attention=False, mode="node",
                gated=True, **hg)
    stoich_case(out_dir, "stoich_hg_att_node_h2_concat_gated", 203, heads=2, concat=True, attention=True,
                mode="node", gated=True, **hg)
    stoich_case(out_dir, "stoich_hg_att_edge_h2_mean", 204, heads=2, concat=False, attention=True, mode="edge",
                gated=False, **hg)
    stoich_case(out_dir, "stoich_hg_att_node_h3_mean", 205, heads=3, concat=False, attention=True, mode="node",
                gated=False, **hg)
    stoich_case(out_dir, "stoich_hg_att_edge_h1_concat_gated", 206, heads=1, concat=True, attention=True,
                mode="edge", gated=True, **hg)
    # AttentionalAggregation: B = 4 samples of N = 12 genes; sample 3 has every gene dead (empty group)
    aggr_case(out_dir, "attn_aggr_relu", 301, N=12, B=4, fin=8,
              gate=dict(hidden=4, n_layers=2, norm=False, act="relu"),
              transform=dict(hidden=8, out=8, n_layers=1, norm=False, act="relu", act_last=True),
              dead=[[], [0, 5], [1, 2, 3, 11], list(range(12))])
    aggr_case(out_dir, "attn_aggr_gelu_norm", 302, N=12, B=3, fin=6,
              gate=dict(hidden=5, n_layers=2, norm=True, act="gelu"),
              transform=dict(hidden=5, out=7, n_layers=2, norm=True, act="gelu", act_last=True),
              dead=[[4], [], [0, 6, 7]])


def main(out_dir):
    layer_fixtures(out_dir)
    try:
        import fixtures_model
    except ImportError:
        print("note: reference/fixtures_model.py not found; model fixtures not written")
    else:
        fixtures_model.main(out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "fixtures", "parity"))
