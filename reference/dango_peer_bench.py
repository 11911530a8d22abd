"""The PyTorch side of bench/dango_peer.sh: DANGO training steps in plain PyTorch on the real networks, at
the config of configs/dango.json, written from the specification (../shared/reference/dango.md part a and
include/cellgraph/dango.h), not from the released code.

    dango_peer_bench.py --graph G --dataset D --config configs/dango.json [--steps 10] [--warm 3]
                        [--threads 2] [--no-recon]

G is a cellgraph graph file with every optional relation (`cellgraph graph build --relations all`), D the
dataset (`cellgraph data build`). One step, as cellgraph's trainer does it:
  - a batch of B training genotypes of the random split (singles, pairs, triples; labels z-scored with the
    training statistics, NaN = missing), drawn without replacement from a seeded permutation;
  - neighbour samples for this step: per network and layer, each node's list (neighbours, then itself) cut
    to num_samples distinct members by random keys (vectorised numpy: the released code loops over nodes
    in Python with random.sample, which is slower; this reference does not copy that cost);
  - the encoders on the 2-hop sample tree (the mean as torch.sparse.mm) of the batch's genes (GraphSAGE mean, SiLU), the meta-embedding,
    the Hyper-SAGNN head ([B, 3] slots, padding and, for the paper head, the diagonal masked; a fully
    masked query row gives 0), y = (fitness, epsilon, tau);
  - LogCosh (or MSE) per label over the labels present, summed over labels;
  - the auxiliary loss: recon_beta * sum_g L_g on recon_genes genes drawn with replacement, with the
    predictions P = R_g(h_g) [r, n_g] formed densely and the targets gathered from a dense [N, n_g]
    adjacency, as the released code does (utils.sparse_mse on dense rows);
  - backward, Adam (lr from the config).
With --released-sampling the samples and the mean are computed as the released code does (a Python list
and random.sample per node, a dense row-normalised mask matrix times the rows). Prints the median step time after the warm-up and the peak resident memory as RESULT lines.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch
from safetensors.numpy import load_file


def sample_released(rowptr, src, targets, k, rng):
    """The released code's way (dango.md a.2): per target a Python list (neighbours and itself) and
    random.sample; the same (seg, member) result format."""
    import random
    seg, member = [], []
    for t_i, t in enumerate(targets.tolist()):
        lst = src[rowptr[t]:rowptr[t + 1]].tolist() + [t]
        s = random.sample(lst, k) if k and len(lst) > k else lst
        seg.extend([t_i] * len(s))
        member.extend(s)
    return np.array(seg, dtype=np.int64), np.array(member, dtype=np.int64)


def sample(rowptr, src, targets, k, rng):
    """(seg, member): for each target t (index into targets), its list (neighbours, then t) cut to k
    distinct members (all when k == 0 or the list is short)."""
    deg = rowptr[targets + 1] - rowptr[targets]
    L = deg + 1
    start = np.cumsum(L) - L
    total = int(L.sum())
    seg = np.repeat(np.arange(len(targets)), L)
    off = np.arange(total) - np.repeat(start, L)
    base = np.repeat(rowptr[targets], L)
    member = np.where(off < np.repeat(deg, L), src[np.minimum(base + off, len(src) - 1)], np.repeat(targets, L))
    if k == 0:
        return seg, member
    order = np.lexsort((rng.random(total), seg))
    keep = order[off < k]  # off is the rank within the segment after the sort (segments stay in order)
    return seg[keep], member[keep]


class Dango(torch.nn.Module):
    def __init__(self, n_genes, recon_cols, cfg):
        super().__init__()
        D, H, G = cfg["hidden_channels"], cfg["heads"], len(cfg["networks"])
        self.D, self.H, self.G = D, H, G
        self.released = cfg["released_head"]
        self.released_sampling = False
        self.embedding = torch.nn.Embedding(n_genes, D)
        torch.nn.init.normal_(self.embedding.weight)
        self.enc = torch.nn.ModuleList([torch.nn.ModuleList([torch.nn.ModuleDict(
            {"init": torch.nn.Linear(D, D), "final": torch.nn.Linear(2 * D, D)}) for _ in range(2)]) for _ in range(G)])
        self.meta = torch.nn.Linear(D, 1)
        self.norm_q, self.norm_k, self.norm_v = (torch.nn.LayerNorm(D) for _ in range(3))
        self.w_qs, self.w_ks, self.w_vs = (torch.nn.Linear(D, H * D, bias=False) for _ in range(3))
        for w in (self.w_qs, self.w_ks, self.w_vs):
            torch.nn.init.normal_(w.weight, 0, np.sqrt(2.0 / (D + D)))
        self.fc1, self.fc2 = torch.nn.Linear(H * D, D, bias=False), torch.nn.Linear(H * D, D, bias=False)
        self.pff_norm = torch.nn.LayerNorm(D)
        self.pff_w1, self.pff_w2 = torch.nn.Linear(D, D), torch.nn.Linear(D, D)
        self.alpha = torch.nn.Parameter(torch.zeros(1))
        self.norm_dynamic, self.norm_static = torch.nn.LayerNorm(D), torch.nn.LayerNorm(D)
        self.classifier = torch.nn.Linear(D, 2)
        self.fitness = torch.nn.Linear(D, 1)
        self.recon = torch.nn.ModuleList([torch.nn.Sequential(torch.nn.Linear(D, D), torch.nn.SiLU(),
                                                              torch.nn.Linear(D, c)) for c in recon_cols])
        self.drop_att = torch.nn.Dropout(cfg["dropout_attention"])
        self.drop_ffn = torch.nn.Dropout(cfg["dropout_ffn"])
        self.drop_out = torch.nn.Dropout(cfg["dropout_out"])

    def encode(self, nets, genes, k, rng):
        """h_g [len(genes), D] per network for distinct genes (the 2-hop sample tree)."""
        hs = []
        draw = sample_released if self.released_sampling else sample
        for g, (rowptr, src, _) in enumerate(nets):
            seg2, mem2 = draw(rowptr, src, genes, k, rng)
            l1 = np.unique(np.concatenate([genes, mem2]))
            seg1, mem1 = draw(rowptr, src, l1, k, rng)
            l0 = np.unique(np.concatenate([l1, mem1]))
            x = self.embedding(torch.from_numpy(l0))
            e0, e1 = self.enc[g]
            h1 = self.sage(e0, x, np.searchsorted(l0, l1), seg1, np.searchsorted(l0, mem1), len(l1))
            hs.append(self.sage(e1, h1, np.searchsorted(l1, genes), seg2, np.searchsorted(l1, mem2), len(genes)))
        return hs

    def sage(self, layer, x, self_idx, seg, nb_idx, n):
        u = layer["init"](x)
        if self.released_sampling:  # the release's dense row-normalised [n, len(x)] mask times u
            mask = torch.zeros(n, u.shape[0])
            mask[torch.from_numpy(seg), torch.from_numpy(nb_idx)] = 1.0
            agg = (mask / (mask.sum(1, keepdim=True) + 1e-15)) @ u
            return torch.nn.functional.silu(layer["final"](torch.cat([u[torch.from_numpy(self_idx)], agg], 1)))
        # the mean as a sparse [n, len(x)] row-normalised matrix times u: torch.sparse.mm was about 3x faster
        # than index_add_ on gathered rows here (the release uses a dense mask matrix)
        seg_t = torch.from_numpy(seg)
        cnt = torch.bincount(seg_t, minlength=n).clamp(min=1).to(u.dtype)
        S = torch.sparse_coo_tensor(torch.stack([seg_t, torch.from_numpy(nb_idx)]), 1.0 / cnt[seg_t], (n, u.shape[0]))
        agg = torch.sparse.mm(S, u)
        return torch.nn.functional.silu(layer["final"](torch.cat([u[torch.from_numpy(self_idx)], agg], 1)))

    def meta_embedding(self, hs):
        w = torch.softmax(torch.cat([self.meta(h) for h in hs], 1), 1)
        return sum(w[:, g:g + 1] * hs[g] for g in range(self.G))

    def head(self, e, slots, present):
        """e [u, D], slots [B, 3] rows of e (0 where absent), present [B, 3] bool -> y [B, 3]."""
        B, D, H = slots.shape[0], self.D, self.H
        X = e[slots] * present.unsqueeze(2)
        q = self.w_qs(self.norm_q(X)).view(B, 3, H, D).transpose(1, 2)
        k = self.w_ks(self.norm_k(X)).view(B, 3, H, D).transpose(1, 2)
        vf = self.w_vs(self.norm_v(X))
        v = vf.view(B, 3, H, D).transpose(1, 2)
        s = q @ k.transpose(2, 3) / np.sqrt(D)  # [B, H, 3, 3]
        mask = ~present[:, None, None, :]
        if not self.released:
            mask = mask | torch.eye(3, dtype=torch.bool)
        s = s.masked_fill(mask, float("-inf"))
        a = torch.nan_to_num(torch.softmax(s, -1), nan=0.0)  # a fully masked row gives 0
        o = (a @ v).transpose(1, 2).reshape(B, 3, H * D)
        pm = present.unsqueeze(2).to(X.dtype)
        dyn = self.drop_att(self.fc1(o)) * pm
        dyn = (dyn + self.alpha * self.pff_w2(self.drop_ffn(torch.nn.functional.silu(self.pff_w1(self.pff_norm(dyn)))))) * pm
        out = self.norm_dynamic(dyn)
        if not self.released:
            out = (out - self.norm_static(self.drop_att(self.fc2(vf)))) ** 2
        score = (self.classifier(self.drop_out(out)) * pm).sum(1)  # [B, 2]
        fit = self.fitness((X * pm).sum(1) / pm.sum(1))  # [B, 1]
        return torch.cat([fit, score], 1)


def recon_loss(model, hs_r, rows, x, dense, lam):
    total = 0.0
    for g, (A, lg) in enumerate(zip(dense, lam)):
        P = model.recon[g](hs_r[g][rows])
        T = A[torch.from_numpy(x)]
        pos = (T != 0).to(P.dtype)
        neg = 1.0 - pos
        sq = (T - P) ** 2
        total = total + ((sq * pos).sum(1) / (pos.sum(1) + 1e-15)).mean() + lg * ((sq * neg).sum(1) / (neg.sum(1) + 1e-15)).mean()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-recon", action="store_true")
    ap.add_argument("--released-sampling", action="store_true",
                    help="sample with Python lists and random.sample per node and aggregate with a dense mask, as "
                         "the released code does (dango.md a.2)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = json.load(open(a.config))
    tc = cfg["train"]
    gt, dt = load_file(a.graph), load_file(a.dataset)
    N = len(gt["gene.name.offsets"]) - 1
    nets, dense, cols = [], [], []
    for name in cfg["networks"]:
        rowptr, src = gt[f"{name}.rowptr"].astype(np.int64), gt[f"{name}.src"].astype(np.int64)
        w = gt.get(f"{name}.weight")
        w = np.ones(len(src), dtype=np.float32) if w is None else w
        nets.append((rowptr, src, w))
        has = np.flatnonzero(rowptr[1:] > rowptr[:-1])
        colof = np.full(N, -1)
        colof[has] = np.arange(len(has))
        dst = np.repeat(np.arange(N), rowptr[1:] - rowptr[:-1])
        A = np.zeros((N, len(has)), dtype=np.float32)
        A[dst, colof[src]] = w / w.max()
        dense.append(torch.from_numpy(A))
        cols.append(len(has))
    model = Dango(N, cols, cfg)
    model.released_sampling = a.released_sampling
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=tc["lr"])
    beta = 0.0 if a.no_recon else cfg["recon_beta"]
    lam = cfg["recon_weights"]
    geno, label = dt["genotype"].astype(np.int64), dt["label"]
    train = np.flatnonzero(dt["split.random"] == 0)
    mean, std = np.nanmean(label[train], 0), np.nanstd(label[train], 0, ddof=1)
    order = rng.permutation(train)
    B, k = tc["batch_size"], cfg["num_samples"]
    logcosh = tc.get("loss", "mse") == "logcosh"
    times, losses = [], []
    for step in range(a.warm + a.steps):
        t0 = time.perf_counter()
        idx = order[(step * B) % len(order):][:B]
        gb = geno[idx]
        present = torch.from_numpy(gb >= 0)
        genes = np.unique(gb[gb >= 0])
        slots = torch.from_numpy(np.where(gb >= 0, np.searchsorted(genes, np.maximum(gb, 0)), 0))
        y_t = torch.from_numpy((label[idx] - mean) / std)
        hs = model.encode(nets, genes, k, rng)
        y = model.head(model.meta_embedding(hs), slots, present)
        ok = ~torch.isnan(y_t)
        diff = torch.where(ok, y - torch.nan_to_num(y_t), torch.zeros_like(y))
        per = (diff.abs() + torch.log1p(torch.exp(-2 * diff.abs())) - np.log(2.0)) if logcosh else diff ** 2
        loss = ((per * ok).sum(0) / ok.sum(0).clamp(min=1)).sum()
        if beta > 0:
            x = rng.integers(0, N, size=cfg["recon_genes"])
            ux, rows = np.unique(x, return_inverse=True)
            loss = loss + beta * recon_loss(model, model.encode(nets, ux, k, rng), torch.from_numpy(rows), x, dense, lam)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step >= a.warm:
            times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    name = "pytorch" + ("-released-sampling" if a.released_sampling else "") + ("-no-recon" if a.no_recon else "")
    print(f"RESULT {name} step {med:.4f} s  {B / med:.1f} samples/s  (loss {losses[0]:.4f} -> {losses[-1]:.4f})")
    print(f"RESULT {name} peak-rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
