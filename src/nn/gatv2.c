/* GATv2Conv (PyG semantics, see cellgraph/gatv2.h): fused forward/backward kernels over a batched
 * relation and the recorded op.
 *
 * Loop structure per destination d of sample b (its CSR entries e0..e1 are contiguous, and so are their
 * alpha / dscore slots [e0*H, e1*H)):
 *   forward:  scores of all heads edge by edge -> softmax per head over the slots -> weighted sum
 *   backward: dalpha edge by edge -> dscore per head over the slots -> gradient through z edge by edge
 * The per-head channel reductions (score, dout . xl) use LANES fixed partial sums combined in a fixed
 * order, so they vectorise and round the same way on every thread count. The kernels are instantiated
 * for edge attribute dimension 0, 1 and any (the inner attribute loop then disappears). */
#include "cellgraph/gatv2.h"

#include <math.h>
#include <string.h>

#include "cellgraph/rng.h"

#define INLINE static inline __attribute__((always_inline))
#define LANES 8
#define PREFETCH 6 /* edges ahead in the scattered loops */

/* ------------------------------------------------------------------ shared kernel state */

/* Everything the per-destination / per-source helpers need, unpacked once per call. */
typedef struct gat_k {
    const cg_rel_batch *r;
    const float *xl, *xr, *w, *att; /* w: W_e [H*C, De] or NULL when attributes are not used */
    int64_t Ns, Nd, E, HC, F, ES;   /* ES = E + Nd: alpha slots per sample (times H) */
    int H, C, De;                   /* De = 0 when attributes are not used */
    bool concat, loops, drop;
    float slope, p, keep_scale, inv_heads;
    uint64_t seed, stream;
} gat_k;

static gat_k gat_setup(const float *xl, const float *xr, const float *w_edge, const float *att,
                       const cg_rel_batch *r, const cg_gatv2_config *c, bool training, uint64_t seed,
                       uint64_t stream) {
    gat_k k;
    k.r = r;
    k.xl = xl, k.xr = xr, k.att = att;
    k.Ns = r->n_src, k.Nd = r->n_dst, k.E = r->n_edges, k.ES = r->n_edges + r->n_dst;
    k.H = c->heads, k.C = c->channels, k.HC = (int64_t)c->heads * c->channels;
    k.F = cg_gatv2_out_cols(c);
    bool use_attr = w_edge && r->attr && r->attr_dim > 0;
    k.w = use_attr ? w_edge : NULL;
    k.De = use_attr ? r->attr_dim : 0;
    k.concat = c->concat;
    k.loops = c->add_self_loops;
    k.drop = training && c->dropout > 0.0f;
    k.slope = c->negative_slope;
    k.p = c->dropout;
    k.keep_scale = k.drop ? 1.0f / (1.0f - c->dropout) : 1.0f;
    k.inv_heads = 1.0f / (float)c->heads;
    k.seed = seed, k.stream = stream;
    return k;
}

/* CSR entry e (source s) into alive destination d is a candidate in sample b */
INLINE bool is_cand(const gat_k *k, int64_t b, int32_t s, int64_t d) {
    if (k->loops && s == d) return false;
    return !cg_rb_src_dead(k->r, b, s);
}

/* alpha' / alpha: 0 or 1/(1-p) for slot pos (CSR position or E + d) of head h in sample b */
INLINE float drop_factor(const gat_k *k, int64_t b, int64_t pos, int h) {
    if (!k->drop) return 1.0f;
    uint64_t idx = ((uint64_t)b * (uint64_t)k->ES + (uint64_t)pos) * (uint64_t)k->H + (uint64_t)h;
    return cg_rng_uniform(k->seed, k->stream, idx) >= k->p ? k->keep_scale : 0.0f;
}

/* z for channel q = h*C + c: xl[s, q] + xr[d, q] + (W_e a)[q]; a NULL or De 0: no attribute term */
INLINE float zq(const float *restrict xs, const float *restrict xd, const float *restrict w, const float *restrict a,
                int De, int64_t q) {
    float z = xs[q] + xd[q];
    if (De == 1)
        z += w[q] * a[0];
    else
        for (int j = 0; j < De; j++) z += w[q * De + j] * a[j];
    return z;
}

/* leaky_relu'(z) (z = 0 counts as negative, as PyTorch) and leaky_relu(z) = z * leaky_relu'(z), written
 * without selects so that loops over channels vectorise; both are exact (pos + (1 - pos) * slope is
 * exactly 1 or slope, and z * 1, z * slope round as the textbook forms). */
INLINE float dleaky(float z, float slope) {
    const float pos = (float)(z > 0.0f);
    return pos + (1.0f - pos) * slope;
}
INLINE float leaky(float z, float slope) { return z * dleaky(z, slope); }

INLINE float lanes_sum(const float *acc) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* score of the head whose channels start at q0: sum_c att[q] * leaky_relu(z_q) */
INLINE float head_score(const float *restrict xs, const float *restrict xd, const float *restrict w,
                        const float *restrict a, int De, const float *restrict att, int64_t q0, int C, float slope) {
    float acc[LANES] = {0};
    int c = 0;
    for (; c + LANES <= C; c += LANES)
        for (int l = 0; l < LANES; l++) {
            float z = zq(xs, xd, w, a, De, q0 + c + l);
            acc[l] += att[q0 + c + l] * leaky(z, slope);
        }
    for (; c < C; c++) {
        float z = zq(xs, xd, w, a, De, q0 + c);
        acc[c % LANES] += att[q0 + c] * leaky(z, slope);
    }
    return lanes_sum(acc);
}

/* u . v over n floats */
INLINE float dot_lanes(const float *restrict u, const float *restrict v, int n) {
    float acc[LANES] = {0};
    int c = 0;
    for (; c + LANES <= n; c += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += u[c + l] * v[c + l];
    for (; c < n; c++) acc[c % LANES] += u[c] * v[c];
    return lanes_sum(acc);
}

/* prefetch the n floats at p (one hint per 64-byte line) */
INLINE void prefetch_row(const float *p, int64_t n) {
    for (int64_t o = 0; o < n; o += 16) __builtin_prefetch(p + o);
}

/* attribute row of CSR entry e, or NULL when attributes are not used */
INLINE const float *attr_row(const gat_k *k, int64_t e) { return k->w ? k->r->attr + e * k->De : NULL; }

/* The self-loop attribute of alive destination d in sample b: the mean of its candidates' attributes
 * (zero when none) into m [De]; returns m, or NULL when attributes are not used. */
static const float *self_attr(const gat_k *k, int64_t b, int64_t d, float *m) {
    if (!k->w) return NULL;
    for (int j = 0; j < k->De; j++) m[j] = 0.0f;
    int64_t n = 0;
    for (int64_t e = k->r->rowptr[d]; e < k->r->rowptr[d + 1]; e++) {
        if (!is_cand(k, b, k->r->src[e], d)) continue;
        const float *a = k->r->attr + e * k->De;
        for (int j = 0; j < k->De; j++) m[j] += a[j];
        n++;
    }
    if (n > 0)
        for (int j = 0; j < k->De; j++) m[j] /= (float)n;
    return m;
}

/* ------------------------------------------------------------------ sizes */

size_t cg_gatv2_alpha_floats(const cg_rel_batch *r, int heads) {
    return (size_t)r->B * (size_t)(r->n_edges + r->n_dst) * (size_t)heads;
}

/* floats of one block's partial sums: datt [H*C], dw_edge [H*C*De], dbias [F] */
static int64_t part_floats(int64_t HC, int De, int64_t F) { return HC + HC * De + F; }

static int64_t n_dst_blocks(int64_t Nd) { return (Nd + CG_GATV2_BLOCK - 1) / CG_GATV2_BLOCK; }

size_t cg_gatv2_scratch_floats(const cg_rel_batch *r, const cg_gatv2_config *c) {
    int64_t HC = (int64_t)c->heads * c->channels;
    int De = r->attr ? r->attr_dim : 0;
    return cg_gatv2_alpha_floats(r, c->heads) +
           (size_t)(r->B * n_dst_blocks(r->n_dst)) * (size_t)part_floats(HC, De, cg_gatv2_out_cols(c));
}

/* ------------------------------------------------------------------ forward */

/* One destination d of sample b: scores -> softmax -> weighted sum -> concat/mean -> bias. */
INLINE void fwd_dst(const gat_k *k, const int De, float *restrict out, float *restrict alpha,
                    const float *restrict bias, int64_t b, int64_t d) {
    const cg_rel_batch *r = k->r;
    const int H = k->H, C = k->C;
    const int64_t HC = k->HC, F = k->F;
    const float *restrict xl = k->xl, *restrict w = k->w, *restrict att = k->att;
    const float slope = k->slope;
    float *restrict orow = out + (b * k->Nd + d) * F;
    float *restrict al = alpha + b * k->ES * H;
    const int64_t e0 = r->rowptr[d], e1 = r->rowptr[d + 1];
    float *restrict self = al + (k->E + d) * H;
    memset(orow, 0, (size_t)F * sizeof(float));
    if (cg_rb_dst_dead(r, b, d)) {
        memset(al + e0 * H, 0, (size_t)((e1 - e0) * H) * sizeof(float));
        memset(self, 0, (size_t)H * sizeof(float));
        return;
    }
    float mbuf[CG_GATV2_MAX_EDGE_DIM];
    const float *ma = k->loops ? self_attr(k, b, d, mbuf) : NULL;
    const float *restrict xrd = k->xr + (b * k->Nd + d) * HC;
    const float *restrict xld = k->loops ? xl + (b * k->Ns + d) * HC : NULL; /* same_type: Ns == Nd */

    /* scores, edge by edge (non-candidates 0) */
    for (int64_t e = e0; e < e1; e++) {
        const int32_t s = r->src[e];
        if (e + PREFETCH < e1) prefetch_row(xl + (b * k->Ns + r->src[e + PREFETCH]) * HC, HC);
        float *restrict ae = al + e * H;
        if (!is_cand(k, b, s, d)) {
            for (int h = 0; h < H; h++) ae[h] = 0.0f;
            continue;
        }
        const float *xs = xl + (b * k->Ns + s) * HC, *a = attr_row(k, e);
        for (int h = 0; h < H; h++) ae[h] = head_score(xs, xrd, w, a, De, att, (int64_t)h * C, C, slope);
    }
    for (int h = 0; h < H; h++)
        self[h] = k->loops ? head_score(xld, xrd, w, ma, De, att, (int64_t)h * C, C, slope) : 0.0f;

    /* softmax per head over the candidates (max subtracted) */
    for (int h = 0; h < H; h++) {
        float mx = -INFINITY;
        for (int64_t e = e0; e < e1; e++)
            if (is_cand(k, b, r->src[e], d)) mx = fmaxf(mx, al[e * H + h]);
        if (k->loops) mx = fmaxf(mx, self[h]);
        if (mx == -INFINITY) continue; /* no candidate: the row gets only the bias */
        float sum = 0.0f;
        for (int64_t e = e0; e < e1; e++)
            if (is_cand(k, b, r->src[e], d)) sum += al[e * H + h] = expf(al[e * H + h] - mx);
        if (k->loops) sum += self[h] = expf(self[h] - mx);
        const float inv = 1.0f / sum;
        for (int64_t e = e0; e < e1; e++)
            if (is_cand(k, b, r->src[e], d)) al[e * H + h] *= inv;
        if (k->loops) self[h] *= inv;
    }

    /* out_h += alpha' * xl[s, h, :], edge by edge */
    for (int64_t e = e0 - (k->loops ? 1 : 0); e < e1; e++) {
        const float *restrict xs;
        const float *ae;
        int64_t pos;
        if (e < e0) { /* the self loop first */
            xs = xld, ae = self, pos = k->E + d;
        } else {
            const int32_t s = r->src[e];
            if (!is_cand(k, b, s, d)) continue;
            xs = xl + (b * k->Ns + s) * HC, ae = al + e * H, pos = e;
        }
        for (int h = 0; h < H; h++) {
            const float ap = ae[h] * drop_factor(k, b, pos, h);
            if (ap == 0.0f) continue;
            float *restrict oh = k->concat ? orow + (int64_t)h * C : orow;
            const float *restrict xh = xs + (int64_t)h * C;
            for (int c = 0; c < C; c++) oh[c] += ap * xh[c];
        }
    }
    if (!k->concat)
        for (int c = 0; c < C; c++) orow[c] *= k->inv_heads;
    if (bias)
        for (int64_t j = 0; j < F; j++) orow[j] += bias[j];
}

/* one destination, with the edge attribute dimension a constant in each instantiation (the dispatch
 * sits inside the parallel loop so that the outlined OpenMP body sees the constants) */
static void fwd_dst_any(const gat_k *k, float *out, float *alpha, const float *bias, int64_t b, int64_t d) {
    if (k->De == 0)
        fwd_dst(k, 0, out, alpha, bias, b, d);
    else if (k->De == 1)
        fwd_dst(k, 1, out, alpha, bias, b, d);
    else
        fwd_dst(k, k->De, out, alpha, bias, b, d);
}

void cg_gatv2_forward(float *out, float *alpha, const float *xl, const float *xr, const float *w_edge,
                      const float *att, const float *bias, const cg_rel_batch *r, const cg_gatv2_config *c,
                      bool training, uint64_t seed, uint64_t stream) {
    const gat_k k = gat_setup(xl, xr, w_edge, att, r, c, training, seed, stream);
    const int64_t nblk = n_dst_blocks(k.Nd), n_it = r->B * nblk;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t it = 0; it < n_it; it++) {
        int64_t b = it / nblk, d0 = (it % nblk) * CG_GATV2_BLOCK;
        int64_t d1 = d0 + CG_GATV2_BLOCK < k.Nd ? d0 + CG_GATV2_BLOCK : k.Nd;
        for (int64_t d = d0; d < d1; d++) fwd_dst_any(&k, out, alpha, bias, b, d);
    }
}

/* ------------------------------------------------------------------ backward */

/* Gradient through z of head channels q0 .. q0+C for one edge with dscore ds:
 * dz_q = ds * att[q] * leaky'(z_q); dx += dz; datt[q] += ds * leaky(z_q); dw[q, j] += dz_q * a[j].
 * NULL targets are skipped (the loop is unswitched on them). */
INLINE void zb_body(float ds, const float *restrict xs, const float *restrict xd, const float *restrict w,
                    const float *restrict a, const int De, const float *restrict att, int64_t q0, int C, float slope,
                    float *restrict dx, float *restrict datt, float *restrict dw) {
    for (int64_t q = q0; q < q0 + C; q++) {
        const float z = zq(xs, xd, w, a, De, q);
        const float dz = ds * att[q] * dleaky(z, slope);
        if (dx) dx[q] += dz;
        if (datt) datt[q] += ds * leaky(z, slope);
        if (dw) {
            if (De == 1)
                dw[q] += dz * a[0];
            else
                for (int j = 0; j < De; j++) dw[q * De + j] += dz * a[j];
        }
    }
}

/* out-of-line instances for De = 0, 1 and any: their restrict parameters let the compiler vectorise
 * (aliasing facts do not survive inlining into the callers, where the targets share allocations) */
#define ZB_PARAMS                                                                                             \
    float ds, const float *restrict xs, const float *restrict xd, const float *restrict w,                    \
        const float *restrict a, const float *restrict att, int64_t q0, int C, float slope, float *restrict dx, \
        float *restrict datt, float *restrict dw
static __attribute__((noinline)) void zb_de0(ZB_PARAMS) {
    zb_body(ds, xs, xd, w, a, 0, att, q0, C, slope, dx, datt, dw);
}
static __attribute__((noinline)) void zb_de1(ZB_PARAMS) {
    zb_body(ds, xs, xd, w, a, 1, att, q0, C, slope, dx, datt, dw);
}
static __attribute__((noinline)) void zb_den(ZB_PARAMS, int De) {
    zb_body(ds, xs, xd, w, a, De, att, q0, C, slope, dx, datt, dw);
}
#undef ZB_PARAMS

INLINE void z_backward(float ds, const float *xs, const float *xd, const float *w, const float *a, const int De,
                       const float *att, int64_t q0, int C, float slope, float *dx, float *datt, float *dw) {
    if (De == 0)
        zb_de0(ds, xs, xd, w, a, att, q0, C, slope, dx, datt, dw);
    else if (De == 1)
        zb_de1(ds, xs, xd, w, a, att, q0, C, slope, dx, datt, dw);
    else
        zb_den(ds, xs, xd, w, a, att, q0, C, slope, dx, datt, dw, De);
}

/* dalpha'(head h) = dout_h . xl[s, h, :] (dout_h = dout / H for the mean over heads) */
INLINE float dalpha_head(const gat_k *k, const float *restrict g, const float *restrict xs, int h) {
    const int C = k->C;
    if (k->concat) return dot_lanes(g + (int64_t)h * C, xs + (int64_t)h * C, C);
    return dot_lanes(g, xs + (int64_t)h * C, C) * k->inv_heads;
}

/* dx[h, :] += ap * dout_h */
INLINE void message_backward(const gat_k *k, float ap, const float *restrict g, int h, float *restrict dx) {
    const int C = k->C;
    float *restrict dh = dx + (int64_t)h * C;
    if (k->concat) {
        const float *restrict gh = g + (int64_t)h * C;
        for (int c = 0; c < C; c++) dh[c] += ap * gh[c];
    } else {
        const float s = ap * k->inv_heads;
        for (int c = 0; c < C; c++) dh[c] += s * g[c];
    }
}

/* Pass 1, one destination d of sample b: dscore into ds (layout of alpha), dxr[d], the self loop's
 * terms of dxl[d], and this block's partials (p_att, p_w, p_bias; NULL ones skipped). */
INLINE void bwd_dst(const gat_k *k, const int De, float *dxl, float *dxr, float *ds, float *p_att, float *p_w,
                    float *p_bias, bool attn, const float *dout, const float *alpha, int64_t b, int64_t d) {
    const cg_rel_batch *r = k->r;
    if (cg_rb_dst_dead(r, b, d)) return;
    const int H = k->H, C = k->C;
    const int64_t HC = k->HC;
    const float *restrict g = dout + (b * k->Nd + d) * k->F;
    if (p_bias)
        for (int64_t j = 0; j < k->F; j++) p_bias[j] += g[j];
    if (!attn) return;
    const float *restrict xl = k->xl, *restrict w = k->w, *restrict att = k->att;
    const float slope = k->slope;
    const int64_t e0 = r->rowptr[d], e1 = r->rowptr[d + 1], self = k->E + d;
    const float *restrict al = alpha + b * k->ES * H;
    float *restrict dsb = ds + b * k->ES * H;
    float mbuf[CG_GATV2_MAX_EDGE_DIM];
    const float *ma = k->loops ? self_attr(k, b, d, mbuf) : NULL;
    const float *restrict xrd = k->xr + (b * k->Nd + d) * HC;
    const float *restrict xld = k->loops ? xl + (b * k->Ns + d) * HC : NULL;
    /* not restrict: a caller may pass one buffer as dxl and dxr (rows b*N + d of both are this
     * iteration's) */
    float *dxrd = dxr ? dxr + (b * k->Nd + d) * HC : NULL;
    float *dxld = k->loops && dxl ? dxl + (b * k->Ns + d) * HC : NULL;

    /* dalpha = dalpha' * keep/(1-p), edge by edge */
    for (int64_t e = e0; e < e1; e++) {
        const int32_t s = r->src[e];
        if (e + PREFETCH < e1) prefetch_row(xl + (b * k->Ns + r->src[e + PREFETCH]) * HC, HC);
        if (!is_cand(k, b, s, d)) continue;
        const float *xs = xl + (b * k->Ns + s) * HC;
        for (int h = 0; h < H; h++) dsb[e * H + h] = dalpha_head(k, g, xs, h) * drop_factor(k, b, e, h);
    }
    if (k->loops)
        for (int h = 0; h < H; h++) dsb[self * H + h] = dalpha_head(k, g, xld, h) * drop_factor(k, b, self, h);

    /* dscore = alpha (dalpha - sum alpha dalpha), per head; the sum over a hub's hundreds of in-edges is
     * taken in double, because dalpha - sum cancels */
    for (int h = 0; h < H; h++) {
        double sad = 0.0;
        for (int64_t e = e0; e < e1; e++)
            if (is_cand(k, b, r->src[e], d)) sad += (double)al[e * H + h] * dsb[e * H + h];
        if (k->loops) sad += (double)al[self * H + h] * dsb[self * H + h];
        for (int64_t e = e0; e < e1; e++)
            if (is_cand(k, b, r->src[e], d)) dsb[e * H + h] = (float)(al[e * H + h] * (dsb[e * H + h] - sad));
        if (k->loops) dsb[self * H + h] = (float)(al[self * H + h] * (dsb[self * H + h] - sad));
    }

    /* through z, edge by edge: dxr[d], datt, dW_e (and for the self loop dxl[d]) */
    for (int64_t e = e0; e < e1; e++) {
        const int32_t s = r->src[e];
        if (!is_cand(k, b, s, d)) continue;
        const float *xs = xl + (b * k->Ns + s) * HC, *a = attr_row(k, e);
        for (int h = 0; h < H; h++) {
            const float dsc = dsb[e * H + h];
            if (dsc != 0.0f)
                z_backward(dsc, xs, xrd, w, a, De, att, (int64_t)h * C, C, slope, dxrd, p_att, p_w);
        }
    }
    if (k->loops)
        for (int h = 0; h < H; h++) {
            const float dsc = dsb[self * H + h];
            if (dsc != 0.0f) {
                z_backward(dsc, xld, xrd, w, ma, De, att, (int64_t)h * C, C, slope, dxrd, p_att, p_w);
                if (dxld) z_backward(dsc, xld, xrd, w, ma, De, att, (int64_t)h * C, C, slope, dxld, NULL, NULL);
            }
            const float ap = al[self * H + h] * drop_factor(k, b, self, h);
            if (dxld && ap != 0.0f) message_backward(k, ap, g, h, dxld);
        }
}

/* Pass 2, one source s of sample b: dxl[s] += alpha' dout_h[d] + dscore att leaky'(z) over its
 * candidate out-edges (reverse index, ascending CSR position). Self loops were done in pass 1. */
INLINE void bwd_src(const gat_k *k, const int De, float *dxl, const float *ds, const float *dout,
                    const float *alpha, int64_t b, int64_t s) {
    const cg_rel_batch *r = k->r;
    if (cg_rb_src_dead(r, b, s)) return;
    const int H = k->H, C = k->C;
    const int64_t HC = k->HC;
    const float *restrict w = k->w, *restrict att = k->att;
    const float slope = k->slope;
    const float *restrict al = alpha + b * k->ES * H;
    const float *restrict dsb = ds + b * k->ES * H;
    const float *restrict xls = k->xl + (b * k->Ns + s) * HC;
    float *restrict dxls = dxl + (b * k->Ns + s) * HC;
    const int64_t i1 = r->src_ptr[s + 1];
    for (int64_t i = r->src_ptr[s]; i < i1; i++) {
        const int64_t e = r->src_perm[i];
        const int64_t d = r->dst[e];
        if (i + PREFETCH < i1) { /* the edges out of s are scattered over the CSR: fetch ahead */
            const int64_t ep = r->src_perm[i + PREFETCH], dp = r->dst[ep];
            __builtin_prefetch(al + ep * H);
            __builtin_prefetch(dsb + ep * H);
            prefetch_row(k->xr + (b * k->Nd + dp) * HC, HC);
            prefetch_row(dout + (b * k->Nd + dp) * k->F, k->F);
        }
        if ((k->loops && s == d) || cg_rb_dst_dead(r, b, d)) continue;
        const float *restrict g = dout + (b * k->Nd + d) * k->F;
        const float *restrict xrd = k->xr + (b * k->Nd + d) * HC;
        const float *a = attr_row(k, e);
        for (int h = 0; h < H; h++) {
            const float ap = al[e * H + h] * drop_factor(k, b, e, h);
            const float dsc = dsb[e * H + h];
            if (ap != 0.0f) message_backward(k, ap, g, h, dxls);
            if (dsc != 0.0f)
                z_backward(dsc, xls, xrd, w, a, De, att, (int64_t)h * C, C, slope, dxls, NULL, NULL);
        }
    }
}

/* one destination / source with the edge attribute dimension a constant in each instantiation */
static void bwd_dst_any(const gat_k *k, float *dxl, float *dxr, float *ds, float *p_att, float *p_w, float *p_bias,
                        bool attn, const float *dout, const float *alpha, int64_t b, int64_t d) {
    if (k->De == 0)
        bwd_dst(k, 0, dxl, dxr, ds, p_att, p_w, p_bias, attn, dout, alpha, b, d);
    else if (k->De == 1)
        bwd_dst(k, 1, dxl, dxr, ds, p_att, p_w, p_bias, attn, dout, alpha, b, d);
    else
        bwd_dst(k, k->De, dxl, dxr, ds, p_att, p_w, p_bias, attn, dout, alpha, b, d);
}

static void bwd_src_any(const gat_k *k, float *dxl, const float *ds, const float *dout, const float *alpha, int64_t b,
                        int64_t s) {
    if (k->De == 0)
        bwd_src(k, 0, dxl, ds, dout, alpha, b, s);
    else if (k->De == 1)
        bwd_src(k, 1, dxl, ds, dout, alpha, b, s);
    else
        bwd_src(k, k->De, dxl, ds, dout, alpha, b, s);
}

void cg_gatv2_backward(float *dxl, float *dxr, float *dw_edge, float *datt, float *dbias, float *scratch,
                       const float *dout, const float *alpha, const float *xl, const float *xr,
                       const float *w_edge, const float *att, const cg_rel_batch *r, const cg_gatv2_config *c,
                       bool training, uint64_t seed, uint64_t stream) {
    const gat_k k = gat_setup(xl, xr, w_edge, att, r, c, training, seed, stream);
    if (!k.w) dw_edge = NULL;
    const bool attn = dxl || dxr || dw_edge || datt;
    if (!attn && !dbias) return;
    const int64_t n_parts = r->B * n_dst_blocks(k.Nd);
    /* partials per block: [datt H*C | dw H*C*De | dbias F]; the stride uses r->attr_dim as
     * cg_gatv2_scratch_floats does */
    const int De_alloc = r->attr ? r->attr_dim : 0;
    const int64_t P = part_floats(k.HC, De_alloc, k.F);
    float *ds = scratch;
    float *parts = scratch + cg_gatv2_alpha_floats(r, k.H);
    const bool want_parts = datt || dw_edge || dbias;
    if (want_parts) memset(parts, 0, (size_t)(n_parts * P) * sizeof(float));

    const int64_t nblk = n_dst_blocks(k.Nd);
    /* pass 1: destinations own dxr[d], the self-loop terms of dxl[d], dscore of their in-edges, and
     * their block's partial sums */
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t it = 0; it < n_parts; it++) {
        int64_t b = it / nblk, d0 = (it % nblk) * CG_GATV2_BLOCK;
        int64_t d1 = d0 + CG_GATV2_BLOCK < k.Nd ? d0 + CG_GATV2_BLOCK : k.Nd;
        float *part = parts + it * P;
        float *p_att = datt ? part : NULL;
        float *p_w = dw_edge ? part + k.HC : NULL;
        float *p_bias = dbias ? part + k.HC + k.HC * De_alloc : NULL;
        for (int64_t d = d0; d < d1; d++) bwd_dst_any(&k, dxl, dxr, ds, p_att, p_w, p_bias, attn, dout, alpha, b, d);
    }
    /* pass 2: sources own dxl[s] */
    if (dxl) {
        const int64_t n_it = r->B * k.Ns;
#pragma omp parallel for schedule(dynamic, 16)
        for (int64_t it = 0; it < n_it; it++) bwd_src_any(&k, dxl, ds, dout, alpha, it / k.Ns, it % k.Ns);
    }

    /* reduce the block partials in block order, in double (independent of the thread count) */
    if (want_parts) {
#pragma omp parallel for schedule(static)
        for (int64_t q = 0; q < P; q++) {
            float *dst = NULL;
            if (q < k.HC)
                dst = datt ? datt + q : NULL;
            else if (q < k.HC + k.HC * De_alloc)
                dst = dw_edge ? dw_edge + (q - k.HC) : NULL;
            else
                dst = dbias ? dbias + (q - k.HC - k.HC * De_alloc) : NULL;
            if (!dst) continue;
            double acc = 0.0;
            for (int64_t blk = 0; blk < n_parts; blk++) acc += parts[blk * P + q];
            *dst += (float)acc;
        }
    }
}

/* ------------------------------------------------------------------ recorded op */

/* State shared by the op's tape entries (arena-allocated at record time). */
typedef struct gat_saved {
    const cg_rel_batch *r;
    cg_gatv2_config c;
    cg_tensor *xl, *xr, *w_edge, *att;
    float *alpha, *scratch;
    bool training;
    uint64_t seed, stream;
} gat_saved;

static inline float *G(const cg_tensor *t) { return t && t->requires_grad ? t->grad : NULL; }

/* entry 1: in = {xl, xr, att, w_edge} */
static void gatv2_bw(const cg_tape_entry *e) {
    const gat_saved *s = e->aux[0];
    cg_gatv2_backward(G(e->in[0]), G(e->in[1]), G(e->in[3]), G(e->in[2]), NULL, s->scratch, e->out->grad, s->alpha,
                      cg_f32(s->xl), cg_f32(s->xr), s->w_edge ? cg_f32(s->w_edge) : NULL, cg_f32(s->att), s->r, &s->c,
                      s->training, s->seed, s->stream);
}

/* entry 2: in = {bias} */
static void gatv2_bias_bw(const cg_tape_entry *e) {
    const gat_saved *s = e->aux[0];
    cg_gatv2_backward(NULL, NULL, NULL, NULL, G(e->in[0]), s->scratch, e->out->grad, s->alpha, cg_f32(s->xl),
                      cg_f32(s->xr), s->w_edge ? cg_f32(s->w_edge) : NULL, cg_f32(s->att), s->r, &s->c, s->training,
                      s->seed, s->stream);
}

#define SHP(t, buf) cg_shape_str((t), (buf), sizeof(buf))

static bool check_f32(cg_ctx *ctx, const char *what, const cg_tensor *t) {
    if (t->dtype != CG_F32) {
        cg_ctx_fail(ctx, CG_ERR_SHAPE, "gatv2: %s must be float32", what);
        return false;
    }
    return true;
}

/* cheap structural checks of the relation (O(1); the CSR itself is trusted) */
static bool check_rel(cg_ctx *ctx, const cg_rel_batch *r) {
    if (r->n_src < 0 || r->n_dst < 0 || r->n_edges < 0 || r->B < 0 || r->n_edges > INT32_MAX) {
        cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: relation has bad sizes (Ns %lld, Nd %lld, E %lld, B %lld)",
                    (long long)r->n_src, (long long)r->n_dst, (long long)r->n_edges, (long long)r->B);
        return false;
    }
    if (!r->rowptr || (r->n_edges > 0 && (!r->src || !r->dst)) || !r->src_ptr || (r->n_edges > 0 && !r->src_perm)) {
        cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: relation lacks its CSR or reverse index");
        return false;
    }
    if (r->rowptr[0] != 0 || r->rowptr[r->n_dst] != r->n_edges || r->src_ptr[r->n_src] != r->n_edges) {
        cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: relation CSR does not span its %lld edges",
                    (long long)r->n_edges);
        return false;
    }
    if (r->attr && r->attr_dim < 1) {
        cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: relation has edge attributes of dimension %d", r->attr_dim);
        return false;
    }
    int64_t ws = r->dead_src ? (r->n_src + 63) / 64 : 0, wd = r->dead_dst ? (r->n_dst + 63) / 64 : 0;
    int64_t words = ws > wd ? ws : wd;
    if (r->dead_stride < words) {
        cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: dead bitset stride %lld words is below %lld",
                    (long long)r->dead_stride, (long long)words);
        return false;
    }
    return true;
}

cg_tensor *cg_gatv2(cg_ctx *ctx, cg_tensor *xl, cg_tensor *xr, cg_tensor *w_edge, cg_tensor *att, cg_tensor *bias,
                    const cg_rel_batch *r, const cg_gatv2_config *c) {
    if (ctx->status != CG_OK) return NULL; /* a failed earlier op (its NULL may sit in w_edge or bias) */
    if (!xl || !xr || !att) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: xl, xr and att are required");
    if (!r || !c) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: relation or config is NULL");
    if (c->heads < 1 || c->channels < 1)
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: heads %d and channels %d must be >= 1", c->heads,
                           c->channels);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: dropout %g is not in [0, 1)", c->dropout);
    if (!isfinite(c->negative_slope))
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "gatv2: negative_slope %g is not finite", c->negative_slope);
    if (c->add_self_loops && (!r->same_type || r->n_src != r->n_dst))
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG,
                           "gatv2: add_self_loops needs a relation within one node type (Ns %lld, Nd %lld%s)",
                           (long long)r->n_src, (long long)r->n_dst, r->same_type ? "" : ", not same_type");
    if (!check_rel(ctx, r)) return NULL;
    if (!check_f32(ctx, "xl", xl) || !check_f32(ctx, "xr", xr) || !check_f32(ctx, "att", att) ||
        (w_edge && !check_f32(ctx, "w_edge", w_edge)) || (bias && !check_f32(ctx, "bias", bias)))
        return NULL;
    const int H = c->heads, C = c->channels;
    const int64_t HC = (int64_t)H * C, F = cg_gatv2_out_cols(c);
    char s1[64];
    if (cg_rows(xl) != r->B * r->n_src || cg_cols(xl) != HC)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "gatv2: xl %s must be [B*Ns, H*C] = [%lld, %lld]", SHP(xl, s1),
                           (long long)(r->B * r->n_src), (long long)HC);
    if (cg_rows(xr) != r->B * r->n_dst || cg_cols(xr) != HC)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "gatv2: xr %s must be [B*Nd, H*C] = [%lld, %lld]", SHP(xr, s1),
                           (long long)(r->B * r->n_dst), (long long)HC);
    if (att->numel != HC)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "gatv2: att %s must have H*C = %lld elements ([H, C] = [%d, %d])",
                           SHP(att, s1), (long long)HC, H, C);
    if (w_edge) {
        if (!r->attr)
            return cg_ctx_fail(ctx, CG_ERR_SHAPE, "gatv2: w_edge %s given but the relation has no edge attributes",
                               SHP(w_edge, s1));
        if (r->attr_dim > CG_GATV2_MAX_EDGE_DIM)
            return cg_ctx_fail(ctx, CG_ERR_SHAPE, "gatv2: edge attribute dimension %d exceeds %d", r->attr_dim,
                               CG_GATV2_MAX_EDGE_DIM);
        if (w_edge->numel != HC * r->attr_dim)
            return cg_ctx_fail(ctx, CG_ERR_SHAPE, "gatv2: w_edge %s must be [H*C, edge_dim] = [%lld, %d]",
                               SHP(w_edge, s1), (long long)HC, r->attr_dim);
    }
    if (bias && bias->numel != F)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "gatv2: bias %s must have %lld elements (%s)", SHP(bias, s1),
                           (long long)F, c->concat ? "H*C, concat" : "C, mean over heads");

    cg_tensor *out = cg_tensor_new2(ctx, r->B * r->n_dst, F);
    float *alpha = cg_arena_alloc(&ctx->arena, cg_gatv2_alpha_floats(r, H) * sizeof(float) + 1);
    if (!out || !alpha) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "gatv2: out of memory");
    const bool training = ctx->training && c->dropout > 0.0f;
    const uint64_t stream = training ? (ctx->step << 24) ^ ctx->op_counter++ : 0;
    cg_gatv2_forward(cg_f32(out), alpha, cg_f32(xl), cg_f32(xr), w_edge ? cg_f32(w_edge) : NULL, cg_f32(att),
                     bias ? cg_f32(bias) : NULL, r, c, training, ctx->seed, stream);

    /* two entries on the same output (CG_TAPE_MAX_IN = 4 < 5 inputs); out->requires_grad is their OR */
    cg_tensor *in[4] = {xl, xr, att, w_edge};
    cg_tape_entry *e1 = cg_tape_record(ctx, gatv2_bw, out, in, 4);
    bool need = out->requires_grad;
    cg_tape_entry *e2 = bias ? cg_tape_record(ctx, gatv2_bias_bw, out, &bias, 1) : NULL;
    out->requires_grad = need || out->requires_grad;
    if (ctx->status != CG_OK) return NULL; /* tape growth failed */
    if (e1 || e2) {
        gat_saved *s = cg_arena_alloc(&ctx->arena, sizeof *s);
        float *scratch = cg_arena_alloc(&ctx->arena, cg_gatv2_scratch_floats(r, c) * sizeof(float) + 1);
        if (!s || !scratch) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "gatv2: out of memory");
        *s = (gat_saved){.r = r, .c = *c, .xl = xl, .xr = xr, .w_edge = w_edge, .att = att, .alpha = alpha,
                         .scratch = scratch, .training = training, .seed = ctx->seed, .stream = stream};
        if (e1) e1->aux[0] = s;
        if (e2) e2->aux[0] = s;
    }
    return out;
}
