/* Recorded attention ops (cellgraph/attention.h): validate, allocate the output in the arena, run the
 * kernel of src/ops/attention.c, record backward. Same conventions as src/core/autograd.c. */
#include "cellgraph/attention.h"

#include <math.h>
#include <string.h>

/* gradient buffer of an input, or NULL when it needs none */
static inline float *G(const cg_tensor *t) { return t && t->requires_grad ? t->grad : NULL; }

#define SHP(t, buf) cg_shape_str((t), (buf), sizeof(buf))

static bool need_f32(cg_ctx *ctx, const char *op, const char *what, const cg_tensor *t) {
    if (t->dtype != CG_F32) {
        cg_ctx_fail(ctx, CG_ERR_SHAPE, "%s: %s must be float32", op, what);
        return false;
    }
    return true;
}

/* t's shape padded with 1 on the left to 4 dimensions (numpy alignment): d = [B, H, M, N] */
static void dims4(const cg_tensor *t, int64_t d[4]) {
    const int pad = 4 - t->ndim;
    for (int i = 0; i < 4; i++) d[i] = i < pad ? 1 : t->shape[i - pad];
}

/* product of all dimensions but the last two (1 for a 2-d tensor) */
static int64_t lead(const cg_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim - 2; i++) n *= t->shape[i];
    return n;
}

/* a mask's nb / nh against the score tensor's B / H; records the error and returns false if invalid */
static bool check_mask(cg_ctx *ctx, const char *op, const char *what, int64_t nb, int64_t nh, int64_t B, int64_t H) {
    if ((nb != 1 && nb != B) || (nh != 1 && nh != H)) {
        cg_ctx_fail(ctx, CG_ERR_SHAPE, "%s: %s covers [%lld, %lld] (batch, heads), expected 1 or %lld and 1 or %lld",
                    op, what, (long long)nb, (long long)nh, (long long)B, (long long)H);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ batched matmul */

/* i: M, N, K, flags (bit 0 ta, bit 1 tb); the batch is out's leading size */
static void bmm_bw(const cg_tape_entry *e) {
    cg_bmm_backward(G(e->in[0]), G(e->in[1]), e->out->grad, cg_f32(e->in[0]), cg_f32(e->in[1]), lead(e->out),
                    e->i[0], e->i[1], e->i[2], e->i[3] & 1, (e->i[3] >> 1) & 1);
}

cg_tensor *cg_bmm(cg_ctx *ctx, cg_tensor *a, cg_tensor *b, bool ta, bool tb) {
    if (!a || !b) return NULL;
    if (!need_f32(ctx, "bmm", "a", a) || !need_f32(ctx, "bmm", "b", b)) return NULL;
    char s1[64], s2[64];
    bool same_lead = a->ndim == b->ndim && a->ndim >= 2;
    for (int i = 0; same_lead && i < a->ndim - 2; i++) same_lead = a->shape[i] == b->shape[i];
    if (!same_lead)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "bmm: a %s and b %s must have the same leading (batch) dimensions",
                           SHP(a, s1), SHP(b, s2));
    const int n = a->ndim;
    const int64_t M = ta ? a->shape[n - 1] : a->shape[n - 2], K = ta ? a->shape[n - 2] : a->shape[n - 1];
    const int64_t Kb = tb ? b->shape[n - 1] : b->shape[n - 2], N = tb ? b->shape[n - 2] : b->shape[n - 1];
    if (K != Kb)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "bmm: inner dimensions differ: a %s%s, b %s%s", SHP(a, s1),
                           ta ? "^T" : "", SHP(b, s2), tb ? "^T" : "");
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "bmm: dimensions exceed the BLAS int range");
    int64_t shape[CG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[n - 2] = M, shape[n - 1] = N;
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, n, shape);
    if (!out) return NULL;
    cg_bmm_forward(cg_f32(out), cg_f32(a), cg_f32(b), lead(a), M, N, K, ta, tb);
    cg_tensor *in[2] = {a, b};
    cg_tape_entry *e = cg_tape_record(ctx, bmm_bw, out, in, 2);
    if (e) e->i[0] = M, e->i[1] = N, e->i[2] = K, e->i[3] = (ta ? 1 : 0) | (tb ? 2 : 0);
    return out;
}

/* ------------------------------------------------------------------ masked softmax */

static void softmax_masked_bw(const cg_tape_entry *e) {
    cg_softmax_masked_backward(e->in[0]->grad, e->out->grad, cg_f32(e->out), cg_rows(e->out), cg_cols(e->out));
}

cg_tensor *cg_softmax_masked(cg_ctx *ctx, cg_tensor *x, const cg_attn_mask *keep, cg_tensor *add) {
    if (!x || !need_f32(ctx, "softmax_masked", "x", x)) return NULL;
    int64_t d[4];
    dims4(x, d);
    const int64_t B = d[0], H = d[1], M = d[2], N = d[3];
    if (keep && !keep->keep) keep = NULL;
    if (keep && !check_mask(ctx, "softmax_masked", "the boolean mask", keep->nb, keep->nh, B, H)) return NULL;
    int64_t ad[4] = {1, 1, 1, 1};
    if (add) {
        char s1[64], s2[64];
        if (!need_f32(ctx, "softmax_masked", "the additive mask", add)) return NULL;
        if (add->requires_grad)
            return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG,
                               "softmax_masked: the additive mask %s requires a gradient; it is a constant",
                               SHP(add, s1));
        dims4(add, ad);
        if (ad[2] != M || ad[3] != N)
            return cg_ctx_fail(ctx, CG_ERR_SHAPE, "softmax_masked: additive mask %s does not end in x's [%lld, %lld] (x %s)",
                               SHP(add, s1), (long long)M, (long long)N, SHP(x, s2));
        if (!check_mask(ctx, "softmax_masked", "the additive mask", ad[0], ad[1], B, H)) return NULL;
    }
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, x->ndim, x->shape);
    if (!out) return NULL;
    cg_softmax_masked_forward(cg_f32(out), cg_f32(x), keep, add ? cg_f32(add) : NULL, ad[0], ad[1], B, H, M, N);
    cg_tape_record(ctx, softmax_masked_bw, out, &x, 1);
    return out;
}

/* ------------------------------------------------------------------ head layout */

/* i: B, T, H, C */
static void split_heads_bw(const cg_tape_entry *e) {
    cg_split_heads_backward(e->in[0]->grad, e->out->grad, e->i[0], e->i[1], e->i[2], e->i[3]);
}

cg_tensor *cg_split_heads(cg_ctx *ctx, cg_tensor *x, int64_t T, int64_t heads) {
    if (!x || !need_f32(ctx, "split_heads", "x", x)) return NULL;
    char s1[64];
    const int64_t R = cg_rows(x), D = cg_cols(x);
    if (T < 1 || heads < 1)
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "split_heads: T = %lld and heads = %lld must be >= 1",
                           (long long)T, (long long)heads);
    if (R % T != 0 || D % heads != 0)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE,
                           "split_heads: x %s is not [B * %lld, %lld * C] (rows by T, columns by heads)",
                           SHP(x, s1), (long long)T, (long long)heads);
    const int64_t B = R / T, C = D / heads;
    int64_t shape[4] = {B, heads, T, C};
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, 4, shape);
    if (!out) return NULL;
    cg_split_heads_forward(cg_f32(out), cg_f32(x), B, T, heads, C);
    cg_tape_entry *e = cg_tape_record(ctx, split_heads_bw, out, &x, 1);
    if (e) e->i[0] = B, e->i[1] = T, e->i[2] = heads, e->i[3] = C;
    return out;
}

static void merge_heads_bw(const cg_tape_entry *e) {
    cg_merge_heads_backward(e->in[0]->grad, e->out->grad, e->i[0], e->i[1], e->i[2], e->i[3]);
}

cg_tensor *cg_merge_heads(cg_ctx *ctx, cg_tensor *x) {
    if (!x || !need_f32(ctx, "merge_heads", "x", x)) return NULL;
    int64_t d[4];
    dims4(x, d);
    const int64_t B = d[0], H = d[1], T = d[2], C = d[3];
    int64_t shape[3] = {B, T, H * C};
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, 3, shape);
    if (!out) return NULL;
    cg_merge_heads_forward(cg_f32(out), cg_f32(x), B, T, H, C);
    cg_tape_entry *e = cg_tape_record(ctx, merge_heads_bw, out, &x, 1);
    if (e) e->i[0] = B, e->i[1] = T, e->i[2] = H, e->i[3] = C;
    return out;
}

/* ------------------------------------------------------------------ tiled attention */

/* i: B, H, Tq, Tk; f[0]: scale; aux[0]: lse [B, H, Tq]; aux[1]: the cg_attn_mask record or NULL */
static void attention_bw(const cg_tape_entry *e) {
    cg_tensor *q = e->in[0], *k = e->in[1], *v = e->in[2];
    cg_attention_backward(G(q), G(k), G(v), e->out->grad, cg_f32(q), cg_f32(k), cg_f32(v), cg_f32(e->out), e->aux[0],
                          e->aux[1], e->i[0], e->i[1], e->i[2], e->i[3], cg_cols(q), e->f[0]);
}

cg_tensor *cg_attention(cg_ctx *ctx, cg_tensor *q, cg_tensor *k, cg_tensor *v, const cg_attn_mask *mask, float scale) {
    if (!q || !k || !v) return NULL;
    if (!need_f32(ctx, "attention", "q", q) || !need_f32(ctx, "attention", "k", k) ||
        !need_f32(ctx, "attention", "v", v))
        return NULL;
    char s1[64], s2[64], s3[64];
    int64_t dq[4], dk[4], dv[4];
    dims4(q, dq), dims4(k, dk), dims4(v, dv);
    const int64_t B = dq[0], H = dq[1], Tq = dq[2], C = dq[3], Tk = dk[2];
    if (dk[0] != B || dk[1] != H || dk[3] != C || dv[0] != B || dv[1] != H || dv[2] != Tk || dv[3] != C)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE,
                           "attention: q %s, k %s, v %s are not [B, H, Tq, C], [B, H, Tk, C], [B, H, Tk, C]",
                           SHP(q, s1), SHP(k, s2), SHP(v, s3));
    if (Tq > INT32_MAX || Tk > INT32_MAX || C > INT32_MAX)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "attention: dimensions exceed the BLAS int range");
    if (!isfinite(scale)) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "attention: scale %g is not finite", scale);
    if (scale == 0.0f) scale = C > 0 ? 1.0f / sqrtf((float)C) : 1.0f;
    if (mask && !mask->keep) mask = NULL;
    if (mask && !check_mask(ctx, "attention", "the mask", mask->nb, mask->nh, B, H)) return NULL;
    const bool need = ctx->grad_enabled && (q->requires_grad || k->requires_grad || v->requires_grad);
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, q->ndim, q->shape);
    if (!out) return NULL;
    float *lse = NULL;
    cg_attn_mask *saved = NULL;
    if (need) {
        lse = cg_arena_alloc(&ctx->arena, (size_t)(B * H * Tq) * sizeof(float));
        if (mask) saved = cg_arena_alloc(&ctx->arena, sizeof *saved);
        if (!lse || (mask && !saved)) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "attention: out of memory");
        if (mask) *saved = *mask;
    }
    cg_attention_forward(cg_f32(out), lse, cg_f32(q), cg_f32(k), cg_f32(v), mask, B, H, Tq, Tk, C, scale);
    cg_tensor *in[3] = {q, k, v};
    cg_tape_entry *e = cg_tape_record(ctx, attention_bw, out, in, 3);
    if (e) {
        e->i[0] = B, e->i[1] = H, e->i[2] = Tq, e->i[3] = Tk;
        e->f[0] = scale;
        e->aux[0] = lse, e->aux[1] = saved;
    }
    return out;
}
