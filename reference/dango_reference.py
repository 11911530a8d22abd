"""DANGO reference in PyTorch, written from the specification (../shared/reference/dango.md part a and
include/cellgraph/dango.h), not from the released code. Writes the parity fixtures of
tests/test_dango.c:

    reference/.venv/bin/python reference/dango_reference.py   # -> tests/fixtures/dango/*.safetensors

A tiny synthetic setting: N = 10 genes, G = 2 weighted undirected networks (gene 9 has no edge in
network 0), D = 8, H = 2, full neighbourhoods (num_samples = 0: every neighbour list is fixed, which is
the "fixed neighbour sample"), dropout 0. Parameters are drawn here (seeded) under cellgraph's names
(the ReZero alpha is 0.5, not 0, so that the PFF is exercised). Per head form (paper: diagonal masked
and (LN dynamic - LN static)^2; released: unmasked, LN dynamic) one file holds:

    net<g>.rowptr int32 [N + 1], net<g>.src int32 [E], net<g>.weight f32 [E]  (CSR by destination)
    geno int32 [n, 3] (-1 padded), recon_x int32 [r], lossw f32 [n, 3]
    param.<name> f32   every parameter
    y f32 [n, 3]       the forward (fitness, epsilon, tau)
    recon f32 [1]      L_recon(recon_x)
    loss f32 [1]       sum(y * lossw) + recon
    grad.<name> f32    d loss / d parameter
    adam.loss f32 [3]  the loss before each of 3 Adam steps (torch.optim.Adam, lr 1e-3) from param.*
    adam.param.<name>  the parameters after them

All computed in float64 and stored as float32.
"""
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

torch.set_default_dtype(torch.float64)
N, G, D, H = 10, 2, 8, 2
LAMBDA = [0.1, 1.0]
ADAM_STEPS = 3


def make_networks(rng):
    nets = []
    for g in range(G):
        pairs = set()
        while len(pairs) < (12 if g == 0 else 9):
            a, b = rng.integers(0, N if g else N - 1, size=2)
            if a != b:
                pairs.add((min(a, b), max(a, b)))
        w = {p: float(rng.uniform(0.1, 1.0)) for p in pairs}
        edges = sorted([(b, a, w[(a, b)]) for (a, b) in pairs] + [(a, b, w[(a, b)]) for (a, b) in pairs])  # (dst, src, w)
        rowptr = np.zeros(N + 1, dtype=np.int32)
        for d, _, _ in edges:
            rowptr[d + 1] += 1
        rowptr = np.cumsum(rowptr).astype(np.int32)
        nets.append((rowptr, np.array([s for _, s, _ in edges], dtype=np.int32),
                     np.array([x for _, _, x in edges], dtype=np.float32)))
    return nets


def make_params(rng):
    p = {}

    def lin(name, i, o, bias=True):
        k = 1.0 / np.sqrt(i)
        p[name + ".weight"] = rng.uniform(-k, k, size=(o, i))
        if bias:
            p[name + ".bias"] = rng.uniform(-k, k, size=(o,))

    def ln(name):
        p[name + ".weight"] = 1.0 + 0.1 * rng.standard_normal(D)
        p[name + ".bias"] = 0.1 * rng.standard_normal(D)

    p["embedding.weight"] = rng.standard_normal((N, D))
    for g in range(G):
        for l in range(2):
            lin(f"encoders.{g}.{l}.init_transform", D, D)
            lin(f"encoders.{g}.{l}.final_transform", 2 * D, D)
    lin("meta.score", D, 1)
    for n in ("q", "k", "v"):
        ln(f"head.norm_{n}")
        p[f"head.w_{n}s.weight"] = rng.normal(0, np.sqrt(2.0 / (D + D)), size=(H * D, D))
    lin("head.fc1", H * D, D, bias=False)
    lin("head.fc2", H * D, D, bias=False)
    ln("head.pff.norm")
    lin("head.pff.w_1", D, D)
    lin("head.pff.w_2", D, D)
    p["head.pff.alpha"] = np.array([[0.5]])
    ln("head.norm_dynamic")
    ln("head.norm_static")
    lin("head.classifier", D, 2)
    lin("fitness", D, 1)
    return p


def recon_columns(net):
    rowptr, _, _ = net
    return [i for i in range(N) if rowptr[i + 1] > rowptr[i]]


def add_recon_params(p, rng, nets):
    for g in range(G):
        k = 1.0 / np.sqrt(D)
        ng = len(recon_columns(nets[g]))
        p[f"recon.{g}.layers.0.weight"] = rng.uniform(-k, k, size=(D, D))
        p[f"recon.{g}.layers.0.bias"] = rng.uniform(-k, k, size=(D,))
        p[f"recon.{g}.layers.1.weight"] = rng.uniform(-k, k, size=(ng, D))
        p[f"recon.{g}.layers.1.bias"] = rng.uniform(-k, k, size=(ng,))


def linear(P, name, x):
    y = x @ P[name + ".weight"].T
    return y + P[name + ".bias"] if name + ".bias" in P else y


def layer_norm(P, name, x):
    return torch.nn.functional.layer_norm(x, (D,), P[name + ".weight"], P[name + ".bias"], 1e-5)


def silu(x):
    return x * torch.sigmoid(x)


def encode(P, nets):
    """h_g [N, D] for every network (full neighbourhoods: list(i) = neighbours in CSR order, then i)."""
    hs = []
    for g, (rowptr, src, _) in enumerate(nets):
        lists = [list(src[rowptr[i]:rowptr[i + 1]]) + [i] for i in range(N)]
        h = P["embedding.weight"]
        for l in range(2):
            u = linear(P, f"encoders.{g}.{l}.init_transform", h)
            agg = torch.stack([u[lists[i]].mean(0) for i in range(N)])
            h = silu(linear(P, f"encoders.{g}.{l}.final_transform", torch.cat([u, agg], 1)))
        hs.append(h)
    return hs


def meta(P, hs):
    scores = torch.cat([linear(P, "meta.score", h) for h in hs], 1)  # [N, G]
    w = torch.softmax(scores, 1)
    return sum(w[:, g:g + 1] * hs[g] for g in range(G))


def head(P, e, genes, released):
    X = e[genes]  # [k, D]
    k = len(genes)
    q = linear(P, "head.w_qs", layer_norm(P, "head.norm_q", X)).view(k, H, D).transpose(0, 1)
    kk = linear(P, "head.w_ks", layer_norm(P, "head.norm_k", X)).view(k, H, D).transpose(0, 1)
    vf = linear(P, "head.w_vs", layer_norm(P, "head.norm_v", X))  # [k, H*D]
    v = vf.view(k, H, D).transpose(0, 1)
    s = q @ kk.transpose(1, 2) / np.sqrt(D)  # [H, k, k]
    if not released:
        if k == 1:
            o = torch.zeros_like(q)  # a fully masked row gives 0 (cellgraph's rule)
        else:
            s = s.masked_fill(torch.eye(k, dtype=torch.bool), float("-inf"))
            o = torch.softmax(s, -1) @ v
    else:
        o = torch.softmax(s, -1) @ v
    o = o.transpose(0, 1).reshape(k, H * D)
    dyn = o @ P["head.fc1.weight"].T
    f = linear(P, "head.pff.w_2", silu(linear(P, "head.pff.w_1", layer_norm(P, "head.pff.norm", dyn))))
    dyn = dyn + P["head.pff.alpha"][0, 0] * f
    out = layer_norm(P, "head.norm_dynamic", dyn)
    if not released:
        st = vf @ P["head.fc2.weight"].T
        out = (out - layer_norm(P, "head.norm_static", st)) ** 2
    score = linear(P, "head.classifier", out)  # [k, 2]
    fit = linear(P, "fitness", X.mean(0, keepdim=True))[0]  # [1]
    return torch.cat([fit, score.sum(0)])


def recon_loss(P, hs, nets, x):
    total = 0.0
    for g, net in enumerate(nets):
        rowptr, src, w = net
        cols = recon_columns(net)
        colof = {c: j for j, c in enumerate(cols)}
        wmax = float(w.max())
        A = torch.zeros(len(x), len(cols))
        for r, xi in enumerate(x):
            for e in range(rowptr[xi], rowptr[xi + 1]):
                A[r, colof[int(src[e])]] = float(w[e]) / wmax
        hx = hs[g][x]
        Pr = linear(P, f"recon.{g}.layers.1", silu(linear(P, f"recon.{g}.layers.0", hx)))
        pos = (A != 0).double()
        neg = 1.0 - pos
        sq = (A - Pr) ** 2
        lpos = ((sq * pos).sum(1) / (pos.sum(1) + 1e-15)).mean()
        lneg = ((sq * neg).sum(1) / (neg.sum(1) + 1e-15)).mean()
        total = total + lpos + LAMBDA[g] * lneg
    return total


def main(out_dir):
    rng = np.random.default_rng(15)
    nets = make_networks(rng)
    params = make_params(rng)
    add_recon_params(params, rng, nets)
    geno = np.array([[0, 1, -1], [2, 3, 4], [1, 5, 9], [7, -1, -1], [3, -1, 8], [6, 2, 0]], dtype=np.int32)
    recon_x = np.array([0, 9, 3, 3, 5, 8, 1], dtype=np.int32)
    lossw = rng.standard_normal((len(geno), 3))
    os.makedirs(out_dir, exist_ok=True)
    for released in (False, True):
        P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        hs = encode(P, nets)
        e = meta(P, hs)
        y = torch.stack([head(P, e, [int(g) for g in row if g >= 0], released) for row in geno])
        rec = recon_loss(P, hs, nets, list(recon_x))
        loss = (y * torch.tensor(lossw)).sum() + rec
        loss.backward()
        out = {"geno": geno, "recon_x": recon_x, "lossw": lossw.astype(np.float32),
               "y": y.detach().numpy().astype(np.float32), "recon": np.array([rec.item()], dtype=np.float32),
               "loss": np.array([loss.item()], dtype=np.float32)}
        for g, (rowptr, src, w) in enumerate(nets):
            out[f"net{g}.rowptr"], out[f"net{g}.src"], out[f"net{g}.weight"] = rowptr, src, w
        for k, v in P.items():
            out["param." + k] = v.detach().numpy().astype(np.float32)
            out["grad." + k] = (v.grad.numpy() if v.grad is not None else np.zeros_like(params[k])).astype(np.float32)
        # a few Adam steps (torch.optim.Adam, lr 1e-3, default betas and eps) from the same parameters: the
        # loss before each step and the parameters after the last
        Q = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        opt = torch.optim.Adam(list(Q.values()), lr=1e-3)
        adam_loss = []
        for _ in range(ADAM_STEPS):
            opt.zero_grad()
            hq = encode(Q, nets)
            yq = torch.stack([head(Q, meta(Q, hq), [int(g) for g in row if g >= 0], released) for row in geno])
            lq = (yq * torch.tensor(lossw)).sum() + recon_loss(Q, hq, nets, list(recon_x))
            lq.backward()
            opt.step()
            adam_loss.append(lq.item())
        out["adam.loss"] = np.array(adam_loss, dtype=np.float32)
        for k, v in Q.items():
            out["adam.param." + k] = v.detach().numpy().astype(np.float32)
        name = "dango_released.safetensors" if released else "dango_paper.safetensors"
        save_file(out, os.path.join(out_dir, name), metadata={"format": "cellgraph-parity", "version": "1",
                                                               "model": "dango", "released_head": str(released)})
        print(f"{name}: y[0] = {y[0].tolist()}, recon = {rec.item():.6f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "dango"))
