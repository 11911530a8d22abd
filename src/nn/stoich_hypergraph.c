/* torchcell's StoichHypergraphConv, batched over one shared hypergraph (cellgraph/stoich_hypergraph.h).
 *
 * Forward, four passes (each parallel over (sample, group), each iteration owning what it writes):
 *   F0 by hyperedge: B_e; with attention_mode "node" the logits and the softmax of the group
 *   F1 by node:      D_v; with attention_mode "edge" the logits and the softmax of the group
 *   F2 by hyperedge: m_e = B_e sum_k w_k X[v_k]
 *   F3 by node:      y_v = D_v sum_k w_k m[e_k], then concat / mean over heads
 * Backward, with dY the output gradient per head (dout, or dout / H for the mean):
 *   B1 by hyperedge: dm_e = B_e sum_k w_k D_{v_k} dY[v_k] (kept as dmb); dw_k = D_{v_k} dY[v_k] . m_e
 *                    + dmb_e . X[v_k]; "node" mode: softmax backward of the group -> dscore
 *   B2 by node:      dX[v] += sum_k w_k dmb[e_k]; dg_v += sum_{k,h} dw_kh alpha_kh s_k; "edge" mode:
 *                    softmax backward of the group; dX[v] += sum_k dscore_kh att[h, :C]
 *   B3 by hyperedge: dAhat[e] += sum_k dscore_kh att[h, C:]
 *   B4 fixed chunks: datt[h] += sum_{b,k} dscore_kh [X[v_k, h] | Ahat[e_k, h]] (double, chunk order)
 * where w_kh = alpha_kh g_{v_k} s_k and alpha = p * keep / (1 - p) (1 without attention).
 */
#include "cellgraph/stoich_hypergraph.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cellgraph/nn.h"
#include "cellgraph/rng.h"

/* ------------------------------------------------------------------ kernel context */

typedef struct hg {
    const cg_rel_batch *r;
    int64_t B, N, M, K;
    int64_t H, C, HC, OC; /* heads used, channels, H*C, output columns */
    bool concat, attn, edge_mode;
    float slope, scale; /* LeakyReLU slope, dropout scale 1 / (1 - p) */
    const float *X, *Ahat, *gate, *att, *s;
    const cg_stoich_hg_state *st;
} hg;

static hg hg_make(const float *X, const float *Ahat, const float *gate, const float *att, const cg_rel_batch *inc,
                  const cg_stoich_hg_config *cfg, const cg_stoich_hg_state *st, float p) {
    hg c = {.r = inc, .B = inc->B, .N = inc->n_src, .M = inc->n_dst, .K = inc->n_edges};
    c.H = cg_stoich_hg_heads(cfg);
    c.C = cfg->channels;
    c.HC = c.H * c.C;
    c.OC = cg_stoich_hg_out_cols(cfg);
    c.concat = cfg->concat;
    c.attn = cfg->use_attention;
    c.edge_mode = cfg->attention_mode == CG_STOICH_ATT_EDGE;
    c.slope = cfg->negative_slope;
    c.scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    c.X = X, c.Ahat = Ahat, c.gate = gate, c.att = att, c.s = inc->attr;
    c.st = st;
    return c;
}

static inline bool node_dead(const hg *c, int64_t b, int64_t v) { return cg_rb_src_dead(c->r, b, v); }
static inline bool edge_dead(const hg *c, int64_t b, int64_t e) { return cg_rb_dst_dead(c->r, b, e); }
static inline bool inc_alive(const hg *c, int64_t b, int64_t k) {
    return !edge_dead(c, b, c->r->dst[k]) && !node_dead(c, b, c->r->src[k]);
}
static inline float gate_of(const hg *c, int64_t b, int64_t v) { return c->gate ? c->gate[b * c->N + v] : 1.0f; }
/* alpha of (sample, incidence, head) at flat index t * H + h */
static inline float alpha_of(const hg *c, int64_t idx) {
    if (!c->attn) return 1.0f;
    float a = c->st->prob[idx];
    if (c->st->keep) a = c->st->keep[idx] ? a * c->scale : 0.0f;
    return a;
}
/* d(loss)/d(prob) factor from d(loss)/d(w): dw * g * s * keep / (1 - p) */
static inline float dprob_of(const hg *c, const float *dw, int64_t idx, float g, float s) {
    float d = dw[idx] * g * s;
    if (c->st->keep) d = c->st->keep[idx] ? d * c->scale : 0.0f;
    return d;
}
/* a . b over n floats in 8 interleaved partial sums combined in a fixed order: vectorisable (a serial
 * float sum is not, without reassociation) and independent of the thread count */
static inline float dot(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t q = 0;
    for (; q + 8 <= n; q += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[q + l] * b[q + l];
    for (int l = 0; q < n; q++, l++) acc[l] += a[q] * b[q];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
static inline float leaky(float x, float slope) { return x > 0.0f ? x : slope * x; }
/* 1 / sum with 1/0 = inf -> 0 (torchcell's D[D == inf] = 0) */
static inline float inv_or_zero(float sum) {
    float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    return isinf(inv) ? 0.0f : inv;
}

/* Logits, softmax and dropout flags of one group of incidences of sample b: positions j0..j1 of the
 * hyperedge grouping (perm NULL) or of the node grouping (perm = src_perm). */
static void attend_group(const hg *c, int64_t b, const int32_t *perm, int64_t j0, int64_t j1, float p,
                         uint64_t seed, uint64_t stream) {
    const int64_t H = c->H, C = c->C;
    float *score = c->st->score, *prob = c->st->prob;
    uint8_t *keep = c->st->keep;
    for (int64_t j = j0; j < j1; j++) {
        int64_t k = perm ? perm[j] : j, t = b * c->K + k;
        if (!inc_alive(c, b, k)) {
            for (int64_t h = 0; h < H; h++) {
                score[t * H + h] = 0.0f;
                prob[t * H + h] = 0.0f;
                if (keep) keep[t * H + h] = 0;
            }
            continue;
        }
        const float *xv = c->X + (b * c->N + c->r->src[k]) * c->HC;
        const float *ae = c->Ahat + (b * c->M + c->r->dst[k]) * c->HC;
        for (int64_t h = 0; h < H; h++) {
            const float *a = c->att + h * 2 * C;
            score[t * H + h] = dot(a, xv + h * C, C) + dot(a + C, ae + h * C, C);
        }
    }
    for (int64_t h = 0; h < H; h++) {
        float mx = -INFINITY, z = 0.0f;
        for (int64_t j = j0; j < j1; j++) {
            int64_t k = perm ? perm[j] : j;
            if (inc_alive(c, b, k)) mx = fmaxf(mx, leaky(score[(b * c->K + k) * H + h], c->slope));
        }
        for (int64_t j = j0; j < j1; j++) {
            int64_t k = perm ? perm[j] : j, idx = (b * c->K + k) * H + h;
            if (!inc_alive(c, b, k)) continue;
            float v = expf(leaky(score[idx], c->slope) - mx);
            prob[idx] = v;
            z += v;
        }
        for (int64_t j = j0; j < j1; j++) {
            int64_t k = perm ? perm[j] : j, idx = (b * c->K + k) * H + h;
            if (!inc_alive(c, b, k)) continue;
            prob[idx] /= z;
            if (keep) keep[idx] = cg_rng_uniform(seed, stream, (uint64_t)idx) >= p;
        }
    }
}

/* Softmax + LeakyReLU backward of one group (as attend_group): dscore from dw. */
static void attend_group_backward(const hg *c, int64_t b, const int32_t *perm, int64_t j0, int64_t j1,
                                  const float *dw, float *dscore) {
    const int64_t H = c->H;
    const float *score = c->st->score, *prob = c->st->prob;
    for (int64_t h = 0; h < H; h++) {
        float dot = 0.0f;
        for (int64_t j = j0; j < j1; j++) {
            int64_t k = perm ? perm[j] : j, idx = (b * c->K + k) * H + h;
            if (!inc_alive(c, b, k)) continue;
            dot += prob[idx] * dprob_of(c, dw, idx, gate_of(c, b, c->r->src[k]), c->s[k]);
        }
        for (int64_t j = j0; j < j1; j++) {
            int64_t k = perm ? perm[j] : j, idx = (b * c->K + k) * H + h;
            if (!inc_alive(c, b, k)) continue;
            float d = prob[idx] * (dprob_of(c, dw, idx, gate_of(c, b, c->r->src[k]), c->s[k]) - dot);
            dscore[idx] = score[idx] > 0.0f ? d : c->slope * d;
        }
    }
}

/* ------------------------------------------------------------------ forward */

void cg_stoich_hg_forward(float *out, const cg_stoich_hg_state *st, const float *X, const float *Ahat,
                          const float *gate, const float *att, const cg_rel_batch *inc,
                          const cg_stoich_hg_config *cfg, float p, uint64_t seed, uint64_t stream) {
    const hg c = hg_make(X, Ahat, gate, att, inc, cfg, st, p);
    const int64_t B = c.B, N = c.N, M = c.M, H = c.H, C = c.C, HC = c.HC, OC = c.OC;
    const int64_t *rowptr = inc->rowptr, *src_ptr = inc->src_ptr;
    const int32_t *src = inc->src, *dst = inc->dst, *perm = inc->src_perm;

    /* F0: B_e (and the "node"-mode softmax) per (sample, hyperedge) */
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < B * M; i++) {
        int64_t b = i / M, e = i % M;
        float sum = 0.0f;
        if (!edge_dead(&c, b, e))
            for (int64_t k = rowptr[e]; k < rowptr[e + 1]; k++)
                if (!node_dead(&c, b, src[k])) sum += fabsf(c.s[k]);
        st->bnorm[i] = inv_or_zero(sum);
        if (c.attn && !c.edge_mode) attend_group(&c, b, NULL, rowptr[e], rowptr[e + 1], p, seed, stream);
    }
    /* F1: D_v (and the "edge"-mode softmax) per (sample, node) */
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < B * N; i++) {
        int64_t b = i / N, v = i % N;
        float sum = 0.0f;
        if (!node_dead(&c, b, v))
            for (int64_t j = src_ptr[v]; j < src_ptr[v + 1]; j++)
                if (!edge_dead(&c, b, dst[perm[j]])) sum += fabsf(c.s[perm[j]]);
        st->dnorm[i] = inv_or_zero(sum);
        if (c.attn && c.edge_mode) attend_group(&c, b, perm, src_ptr[v], src_ptr[v + 1], p, seed, stream);
    }
    /* F2: node -> hyperedge */
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < B * M; i++) {
        int64_t b = i / M, e = i % M;
        float *me = st->m + i * HC;
        memset(me, 0, (size_t)HC * sizeof(float));
        if (edge_dead(&c, b, e)) continue;
        for (int64_t k = rowptr[e]; k < rowptr[e + 1]; k++) {
            int64_t v = src[k], t = b * c.K + k;
            if (node_dead(&c, b, v)) continue;
            const float *xv = X + (b * N + v) * HC;
            float gs = gate_of(&c, b, v) * c.s[k];
            for (int64_t h = 0; h < H; h++) {
                float w = alpha_of(&c, t * H + h) * gs;
                for (int64_t q = 0; q < C; q++) me[h * C + q] += w * xv[h * C + q];
            }
        }
        float be = st->bnorm[i];
        for (int64_t q = 0; q < HC; q++) me[q] *= be;
    }
    /* F3: hyperedge -> node, then concat / mean */
    const float inv_h = 1.0f / (float)H;
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < B * N; i++) {
        int64_t b = i / N, v = i % N;
        float *o = out + i * OC;
        memset(o, 0, (size_t)OC * sizeof(float));
        if (node_dead(&c, b, v)) continue;
        float gv = gate_of(&c, b, v);
        for (int64_t j = src_ptr[v]; j < src_ptr[v + 1]; j++) {
            int64_t k = perm[j], e = dst[k], t = b * c.K + k;
            if (edge_dead(&c, b, e)) continue;
            const float *me = st->m + (b * M + e) * HC;
            float gs = gv * c.s[k];
            for (int64_t h = 0; h < H; h++) {
                float w = alpha_of(&c, t * H + h) * gs;
                float *oh = o + (c.concat ? h * C : 0);
                for (int64_t q = 0; q < C; q++) oh[q] += w * me[h * C + q];
            }
        }
        float dv = st->dnorm[i] * (c.concat ? 1.0f : inv_h);
        for (int64_t q = 0; q < OC; q++) o[q] *= dv;
    }
}

/* ------------------------------------------------------------------ backward */

typedef struct work_layout {
    double *partial; /* [chunks, 2 H C] (attention) */
    float *dmb;      /* [B*M, H*C] B_e dm_e */
    float *dw;       /* [B*K, H] d loss / d w_kh */
    float *dscore;   /* [B*K, H] d loss / d score_kh (attention) */
    int64_t chunks;
    size_t bytes;
} work_layout;

static work_layout layout(const cg_rel_batch *inc, const cg_stoich_hg_config *cfg, void *base) {
    int64_t H = cg_stoich_hg_heads(cfg), HC = H * cfg->channels, BK = inc->B * inc->n_edges;
    work_layout w = {0};
    w.chunks = cfg->use_attention ? (BK + CG_STOICH_HG_CHUNK - 1) / CG_STOICH_HG_CHUNK : 0;
    size_t n_part = (size_t)(w.chunks * 2 * HC), n_dmb = (size_t)(inc->B * inc->n_dst * HC);
    size_t n_dw = (size_t)(BK * H), n_ds = cfg->use_attention ? n_dw : 0;
    w.bytes = n_part * sizeof(double) + (n_dmb + n_dw + n_ds) * sizeof(float) + 8;
    if (base) {
        w.partial = base;
        w.dmb = (float *)(w.partial + n_part);
        w.dw = w.dmb + n_dmb;
        w.dscore = cfg->use_attention ? w.dw + n_dw : NULL;
    }
    return w;
}

size_t cg_stoich_hg_work_bytes(const cg_rel_batch *inc, const cg_stoich_hg_config *cfg) {
    return layout(inc, cfg, NULL).bytes;
}

void cg_stoich_hg_backward(float *dX, float *dAhat, float *dgate, float *datt, void *work, const float *dout,
                           const cg_stoich_hg_state *st, const float *X, const float *Ahat, const float *gate,
                           const float *att, const cg_rel_batch *inc, const cg_stoich_hg_config *cfg, float p) {
    const hg c = hg_make(X, Ahat, gate, att, inc, cfg, st, p);
    const int64_t B = c.B, N = c.N, M = c.M, K = c.K, H = c.H, C = c.C, HC = c.HC, OC = c.OC;
    const int64_t *rowptr = inc->rowptr, *src_ptr = inc->src_ptr;
    const int32_t *src = inc->src, *dst = inc->dst, *perm = inc->src_perm;
    const work_layout w = layout(inc, cfg, work);
    float *dmb = w.dmb, *dw = w.dw, *dscore = w.dscore;
    const float inv_h = 1.0f / (float)H;

    /* B1: per (sample, hyperedge): dmb, dw of its incidences, "node"-mode softmax backward */
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < B * M; i++) {
        int64_t b = i / M, e = i % M;
        float *dm = dmb + i * HC;
        memset(dm, 0, (size_t)HC * sizeof(float));
        if (edge_dead(&c, b, e)) continue;
        const float *me = st->m + i * HC;
        for (int64_t k = rowptr[e]; k < rowptr[e + 1]; k++) {
            int64_t v = src[k], t = b * K + k;
            if (node_dead(&c, b, v)) continue;
            float gs = gate_of(&c, b, v) * c.s[k];
            float dv = st->dnorm[b * N + v] * (c.concat ? 1.0f : inv_h);
            const float *dy = dout + (b * N + v) * OC;
            for (int64_t h = 0; h < H; h++) {
                float wk = alpha_of(&c, t * H + h) * gs * dv;
                const float *dyh = dy + (c.concat ? h * C : 0);
                for (int64_t q = 0; q < C; q++) dm[h * C + q] += wk * dyh[q];
                dw[t * H + h] = dv * dot(dyh, me + h * C, C);
            }
        }
        float be = st->bnorm[i];
        for (int64_t q = 0; q < HC; q++) dm[q] *= be;
        for (int64_t k = rowptr[e]; k < rowptr[e + 1]; k++) {
            int64_t v = src[k], t = b * K + k;
            if (node_dead(&c, b, v)) continue;
            const float *xv = X + (b * N + v) * HC;
            for (int64_t h = 0; h < H; h++) dw[t * H + h] += dot(dm + h * C, xv + h * C, C);
        }
        if (c.attn && !c.edge_mode) attend_group_backward(&c, b, NULL, rowptr[e], rowptr[e + 1], dw, dscore);
    }
    /* B2: per (sample, node): dX from step 1 and the logits, dgate, "edge"-mode softmax backward */
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < B * N; i++) {
        int64_t b = i / N, v = i % N;
        if (node_dead(&c, b, v)) continue;
        float *dxv = dX ? dX + i * HC : NULL;
        float gv = gate_of(&c, b, v), dg = 0.0f;
        for (int64_t j = src_ptr[v]; j < src_ptr[v + 1]; j++) {
            int64_t k = perm[j], e = dst[k], t = b * K + k;
            if (edge_dead(&c, b, e)) continue;
            const float *dme = dmb + (b * M + e) * HC;
            for (int64_t h = 0; h < H; h++) {
                float a = alpha_of(&c, t * H + h);
                if (dxv) {
                    float wk = a * gv * c.s[k];
                    for (int64_t q = 0; q < C; q++) dxv[h * C + q] += wk * dme[h * C + q];
                }
                dg += dw[t * H + h] * a * c.s[k];
            }
        }
        if (dgate) dgate[i] += dg;
        if (!c.attn) continue;
        if (c.edge_mode) attend_group_backward(&c, b, perm, src_ptr[v], src_ptr[v + 1], dw, dscore);
        if (!dxv) continue;
        for (int64_t j = src_ptr[v]; j < src_ptr[v + 1]; j++) {
            int64_t k = perm[j], t = b * K + k;
            if (edge_dead(&c, b, dst[k])) continue;
            for (int64_t h = 0; h < H; h++) {
                float d = dscore[t * H + h];
                const float *a = att + h * 2 * C;
                for (int64_t q = 0; q < C; q++) dxv[h * C + q] += d * a[q];
            }
        }
    }
    if (!c.attn) return;
    /* B3: per (sample, hyperedge): dAhat */
    if (dAhat) {
#pragma omp parallel for schedule(dynamic, 64)
        for (int64_t i = 0; i < B * M; i++) {
            int64_t b = i / M, e = i % M;
            if (edge_dead(&c, b, e)) continue;
            float *dae = dAhat + i * HC;
            for (int64_t k = rowptr[e]; k < rowptr[e + 1]; k++) {
                int64_t t = b * K + k;
                if (node_dead(&c, b, src[k])) continue;
                for (int64_t h = 0; h < H; h++) {
                    float d = dscore[t * H + h];
                    const float *a = att + h * 2 * C + C;
                    for (int64_t q = 0; q < C; q++) dae[h * C + q] += d * a[q];
                }
            }
        }
    }
    /* B4: datt over fixed chunks of (sample, incidence) pairs, chunk sums in chunk order */
    if (datt) {
        const int64_t BK = B * K, W2 = 2 * HC;
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < w.chunks; ch++) {
            double *part = w.partial + ch * W2;
            for (int64_t q = 0; q < W2; q++) part[q] = 0.0;
            int64_t t1 = (ch + 1) * CG_STOICH_HG_CHUNK < BK ? (ch + 1) * CG_STOICH_HG_CHUNK : BK;
            for (int64_t t = ch * CG_STOICH_HG_CHUNK; t < t1; t++) {
                int64_t b = t / K, k = t % K;
                if (!inc_alive(&c, b, k)) continue;
                const float *xv = X + (b * N + src[k]) * HC, *ae = Ahat + (b * M + dst[k]) * HC;
                for (int64_t h = 0; h < H; h++) {
                    double d = dscore[t * H + h];
                    double *ph = part + h * 2 * C;
                    for (int64_t q = 0; q < C; q++) {
                        ph[q] += d * xv[h * C + q];
                        ph[C + q] += d * ae[h * C + q];
                    }
                }
            }
        }
        for (int64_t q = 0; q < W2; q++) {
            double sum = 0.0;
            for (int64_t ch = 0; ch < w.chunks; ch++) sum += w.partial[ch * W2 + q];
            datt[q] += (float)sum;
        }
    }
}

/* ------------------------------------------------------------------ validation */

/* O(1) checks of the incidence structure; NULL when fine, else a message in buf. */
static const char *inc_problem(const cg_rel_batch *inc, char *buf, size_t len) {
    if (!inc) return "the incidence structure is NULL";
    if (!inc->rowptr || !inc->src || !inc->dst || !inc->src_ptr || !inc->src_perm)
        return "the incidences need rowptr, src, dst and the reverse index src_ptr/src_perm (cg_rel_reverse_index)";
    if (!inc->attr || inc->attr_dim != 1) {
        snprintf(buf, len, "the incidences need the stoichiometry as attr with attr_dim 1 (attr %s, attr_dim %d)",
                 inc->attr ? "set" : "NULL", inc->attr_dim);
        return buf;
    }
    if (inc->B < 1) {
        snprintf(buf, len, "the batch has %lld samples (at least 1 needed)", (long long)inc->B);
        return buf;
    }
    if (inc->n_src < 0 || inc->n_dst < 0 || inc->n_edges < 0 || inc->n_edges > INT32_MAX) {
        snprintf(buf, len, "bad sizes: %lld nodes, %lld hyperedges, %lld incidences", (long long)inc->n_src,
                 (long long)inc->n_dst, (long long)inc->n_edges);
        return buf;
    }
    if (inc->rowptr[0] != 0 || inc->rowptr[inc->n_dst] != inc->n_edges) {
        snprintf(buf, len, "rowptr runs from %lld to %lld, expected 0 to the %lld incidences",
                 (long long)inc->rowptr[0], (long long)inc->rowptr[inc->n_dst], (long long)inc->n_edges);
        return buf;
    }
    if (inc->src_ptr[0] != 0 || inc->src_ptr[inc->n_src] != inc->n_edges) {
        snprintf(buf, len, "src_ptr runs from %lld to %lld, expected 0 to the %lld incidences",
                 (long long)inc->src_ptr[0], (long long)inc->src_ptr[inc->n_src], (long long)inc->n_edges);
        return buf;
    }
    int64_t need = 0;
    if (inc->dead_src) need = (inc->n_src + 63) / 64;
    if (inc->dead_dst && (inc->n_dst + 63) / 64 > need) need = (inc->n_dst + 63) / 64;
    if (inc->dead_stride < need) {
        snprintf(buf, len, "dead_stride %lld is below the %lld words of a bitset", (long long)inc->dead_stride,
                 (long long)need);
        return buf;
    }
    return NULL;
}

static const char *cfg_problem(const cg_stoich_hg_config *cfg, char *buf, size_t len) {
    if (!cfg) return "the config is NULL";
    if (cfg->channels < 1 || (cfg->use_attention && cfg->heads < 1)) {
        snprintf(buf, len, "heads %d and channels %d must be at least 1", cfg->heads, cfg->channels);
        return buf;
    }
    if (cfg->attention_mode != CG_STOICH_ATT_NODE && cfg->attention_mode != CG_STOICH_ATT_EDGE) {
        snprintf(buf, len, "attention_mode %d is neither node (%d) nor edge (%d)", cfg->attention_mode,
                 CG_STOICH_ATT_NODE, CG_STOICH_ATT_EDGE);
        return buf;
    }
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f)) {
        snprintf(buf, len, "dropout %g is not in [0, 1)", cfg->dropout);
        return buf;
    }
    if (!isfinite(cfg->negative_slope)) return "negative_slope is not finite";
    return NULL;
}

cg_status cg_stoich_hg_validate(const cg_rel_batch *inc) {
    char buf[256];
    const char *msg = inc_problem(inc, buf, sizeof buf);
    if (msg) return cg_error(CG_ERR_INVALID_ARG, "stoich_hypergraph incidences: %s", msg);
    const int64_t N = inc->n_src, M = inc->n_dst, K = inc->n_edges;
    for (int64_t e = 0; e < M; e++) {
        if (inc->rowptr[e + 1] < inc->rowptr[e])
            return cg_error(CG_ERR_FORMAT, "stoich_hypergraph incidences: rowptr decreases at hyperedge %lld",
                            (long long)e);
        for (int64_t k = inc->rowptr[e]; k < inc->rowptr[e + 1]; k++)
            if (inc->dst[k] != e)
                return cg_error(CG_ERR_FORMAT,
                                "stoich_hypergraph incidences: incidence %lld lies in hyperedge %lld's rows but has "
                                "dst %d",
                                (long long)k, (long long)e, inc->dst[k]);
    }
    for (int64_t k = 0; k < K; k++) {
        if (inc->src[k] < 0 || inc->src[k] >= N)
            return cg_error(CG_ERR_FORMAT, "stoich_hypergraph incidences: incidence %lld has node %d outside [0, %lld)",
                            (long long)k, inc->src[k], (long long)N);
        if (!isfinite(inc->attr[k]))
            return cg_error(CG_ERR_FORMAT, "stoich_hypergraph incidences: incidence %lld has stoichiometry %g",
                            (long long)k, inc->attr[k]);
    }
    for (int64_t v = 0; v < N; v++) {
        if (inc->src_ptr[v + 1] < inc->src_ptr[v])
            return cg_error(CG_ERR_FORMAT, "stoich_hypergraph incidences: src_ptr decreases at node %lld",
                            (long long)v);
        for (int64_t j = inc->src_ptr[v]; j < inc->src_ptr[v + 1]; j++) {
            int32_t k = inc->src_perm[j];
            /* strictly ascending members of node v: with the totals equal to K, a grouping of all K */
            if (k < 0 || k >= K || inc->src[k] != v || (j > inc->src_ptr[v] && k <= inc->src_perm[j - 1]))
                return cg_error(CG_ERR_FORMAT,
                                "stoich_hypergraph incidences: src_perm[%lld] = %d is not the next incidence of "
                                "node %lld",
                                (long long)j, k, (long long)v);
        }
    }
    return CG_OK;
}

/* ------------------------------------------------------------------ recorded op */

typedef struct saved {
    cg_rel_batch inc;
    cg_stoich_hg_config cfg;
    cg_stoich_hg_state st;
    void *work;
    float p;
} saved;

static inline float *G(const cg_tensor *t) { return t && t->requires_grad ? t->grad : NULL; }

static void stoich_bw(const cg_tape_entry *e) {
    const saved *s = e->aux[0];
    cg_tensor *X = e->in[0], *Ahat = e->in[1], *gate = e->in[2], *att = e->in[3];
    cg_stoich_hg_backward(G(X), G(Ahat), G(gate), G(att), s->work, e->out->grad, &s->st, cg_f32(X),
                          Ahat ? cg_f32(Ahat) : NULL, gate ? cg_f32(gate) : NULL, att ? cg_f32(att) : NULL, &s->inc,
                          &s->cfg, s->p);
}

#define SHP(t, buf) cg_shape_str((t), (buf), sizeof(buf))

static bool check_tensor(cg_ctx *ctx, const char *what, const cg_tensor *t, int64_t rows, int64_t cols) {
    char s1[64];
    if (t->dtype != CG_F32) {
        cg_ctx_fail(ctx, CG_ERR_SHAPE, "stoich_hypergraph: %s must be float32", what);
        return false;
    }
    bool ok = cols < 0 ? t->numel == rows : (cg_rows(t) == rows && cg_cols(t) == cols);
    if (!ok) {
        if (cols < 0)
            cg_ctx_fail(ctx, CG_ERR_SHAPE, "stoich_hypergraph: %s %s should have %lld elements", what, SHP(t, s1),
                        (long long)rows);
        else
            cg_ctx_fail(ctx, CG_ERR_SHAPE, "stoich_hypergraph: %s %s should be [%lld, %lld]", what, SHP(t, s1),
                        (long long)rows, (long long)cols);
    }
    return ok;
}

static void *alloc(cg_ctx *ctx, size_t bytes) { return cg_arena_alloc(&ctx->arena, bytes ? bytes : 1); }

cg_tensor *cg_stoich_hypergraph(cg_ctx *ctx, cg_tensor *X, cg_tensor *Ahat, cg_tensor *gate, cg_tensor *att,
                                const cg_rel_batch *inc, const cg_stoich_hg_config *cfg) {
    if (!X) return NULL;
    char buf[256];
    const char *msg = inc_problem(inc, buf, sizeof buf);
    if (!msg) msg = cfg_problem(cfg, buf, sizeof buf);
    if (msg) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "stoich_hypergraph: %s", msg);
    const int64_t B = inc->B, N = inc->n_src, M = inc->n_dst, K = inc->n_edges;
    const int64_t H = cg_stoich_hg_heads(cfg), C = cfg->channels, HC = H * C;
    if (!check_tensor(ctx, "X", X, B * N, HC)) return NULL;
    if (!cfg->use_attention) Ahat = NULL; /* torchcell ignores hyperedge_attr without attention */
    if (cfg->use_attention) {
        if (!Ahat || !att)
            return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "stoich_hypergraph: use_attention needs Ahat and att (got %s%s)",
                               Ahat ? "" : "no Ahat ", att ? "" : "no att");
        if (!check_tensor(ctx, "Ahat", Ahat, B * M, HC) || !check_tensor(ctx, "att", att, H * 2 * C, -1)) return NULL;
    } else if (att) {
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "stoich_hypergraph: att given but use_attention is off");
    }
    if (cfg->gated) {
        if (!gate) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "stoich_hypergraph: gated but the gate is NULL");
        if (!check_tensor(ctx, "gate", gate, B * N, -1)) return NULL;
    } else if (gate) {
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "stoich_hypergraph: gate given but gated is off");
    }

    const float p = ctx->training && cfg->use_attention ? cfg->dropout : 0.0f;
    uint64_t stream = 0;
    if (p > 0.0f) stream = (ctx->step << 24) ^ ctx->op_counter++;
    cg_tensor *out = cg_tensor_new2(ctx, B * N, cg_stoich_hg_out_cols(cfg));
    saved *s = alloc(ctx, sizeof *s);
    if (!out || !s) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "stoich_hypergraph: out of memory");
    memset(s, 0, sizeof *s);
    s->inc = *inc;
    s->cfg = *cfg;
    s->p = p;
    s->st.m = alloc(ctx, (size_t)(B * M * HC) * sizeof(float));
    s->st.dnorm = alloc(ctx, (size_t)(B * N) * sizeof(float));
    s->st.bnorm = alloc(ctx, (size_t)(B * M) * sizeof(float));
    bool ok = s->st.m && s->st.dnorm && s->st.bnorm;
    if (cfg->use_attention) {
        s->st.score = alloc(ctx, (size_t)(B * K * H) * sizeof(float));
        s->st.prob = alloc(ctx, (size_t)(B * K * H) * sizeof(float));
        ok = ok && s->st.score && s->st.prob;
        if (p > 0.0f) ok = ok && (s->st.keep = alloc(ctx, (size_t)(B * K * H))) != NULL;
    }
    if (!ok) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "stoich_hypergraph: out of memory");
    cg_stoich_hg_forward(cg_f32(out), &s->st, cg_f32(X), Ahat ? cg_f32(Ahat) : NULL, gate ? cg_f32(gate) : NULL,
                         att ? cg_f32(att) : NULL, &s->inc, &s->cfg, p, ctx->seed, stream);
    cg_tensor *in[4] = {X, Ahat, gate, att};
    cg_tape_entry *e = cg_tape_record(ctx, stoich_bw, out, in, 4);
    if (e) {
        s->work = alloc(ctx, cg_stoich_hg_work_bytes(inc, cfg));
        if (!s->work) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "stoich_hypergraph: out of memory");
        e->aux[0] = s;
    }
    return out;
}

cg_tensor *cg_stoich_gate(cg_ctx *ctx, cg_tensor *x, cg_tensor *w_g, cg_tensor *b_g) {
    return cg_sigmoid(ctx, cg_linear(ctx, x, w_g, b_g));
}

/* ------------------------------------------------------------------ the layer */

static cg_status add(cg_param_store *ps, const char *prefix, const char *suffix, int ndim, const int64_t *shape,
                     cg_tensor **out) {
    char name[256];
    if ((size_t)snprintf(name, sizeof name, "%s.%s", prefix, suffix) >= sizeof name)
        return cg_error(CG_ERR_INVALID_ARG, "parameter name '%s.%s' is longer than 255 bytes", prefix, suffix);
    return cg_params_add(ps, name, ndim, shape, out);
}

cg_status cg_stoich_hg_register(cg_stoich_hg_layer *l, cg_param_store *ps, const char *prefix, int in,
                                const cg_stoich_hg_config *cfg, bool bias) {
    memset(l, 0, sizeof *l);
    char buf[256];
    const char *msg = cfg_problem(cfg, buf, sizeof buf);
    if (msg) return cg_error(CG_ERR_INVALID_ARG, "%s: %s", prefix, msg);
    if (in < 1) return cg_error(CG_ERR_INVALID_ARG, "%s: in_channels %d must be at least 1", prefix, in);
    l->cfg = *cfg;
    l->in = in;
    int64_t H = cg_stoich_hg_heads(cfg), C = cfg->channels;
    int64_t ws[2] = {H * C, in}, gs[2] = {1, in}, one[1] = {1}, as[3] = {1, H, 2 * C};
    int64_t bs[1] = {cg_stoich_hg_out_cols(cfg)};
    cg_status s = add(ps, prefix, "lin.weight", 2, ws, &l->lin_weight);
    if (s == CG_OK && cfg->gated) s = add(ps, prefix, "gate_lin.weight", 2, gs, &l->gate_weight);
    if (s == CG_OK && cfg->gated) s = add(ps, prefix, "gate_lin.bias", 1, one, &l->gate_bias);
    if (s == CG_OK && cfg->use_attention) s = add(ps, prefix, "att", 3, as, &l->att);
    if (s == CG_OK && bias) s = add(ps, prefix, "bias", 1, bs, &l->bias);
    return s;
}

void cg_stoich_hg_init(const cg_stoich_hg_layer *l, uint64_t seed) {
    cg_glorot_init(l->lin_weight, seed);
    if (l->gate_weight) {
        cg_glorot_init(l->gate_weight, seed);
        float k = 1.0f / sqrtf((float)l->in);
        cg_rng_fill_uniform(cg_f32(l->gate_bias), l->gate_bias->numel, -k, k, seed, cg_param_stream(l->gate_bias));
    }
    if (l->att) cg_glorot_init(l->att, seed);
    if (l->bias) memset(l->bias->data, 0, (size_t)l->bias->numel * sizeof(float));
}

cg_tensor *cg_stoich_hg_layer_forward(cg_ctx *ctx, const cg_stoich_hg_layer *l, cg_tensor *x, cg_tensor *A,
                                      const cg_rel_batch *inc) {
    if (!x) return NULL;
    cg_tensor *X = cg_linear(ctx, x, l->lin_weight, NULL), *Ahat = NULL, *g = NULL;
    if (l->cfg.use_attention) {
        if (!A)
            return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG,
                               "stoich_hypergraph layer: attention needs the hyperedge attributes A");
        Ahat = cg_linear(ctx, A, l->lin_weight, NULL);
        if (!Ahat) return NULL;
    }
    if (l->cfg.gated && !(g = cg_stoich_gate(ctx, x, l->gate_weight, l->gate_bias))) return NULL;
    cg_tensor *y = cg_stoich_hypergraph(ctx, X, Ahat, g, l->att, inc, &l->cfg);
    return l->bias ? cg_add(ctx, y, l->bias) : y;
}
