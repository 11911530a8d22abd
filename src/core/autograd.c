/* Recorded ops: validate, allocate the output in the arena, run the forward kernel, record backward. */
#include "cellgraph/autograd.h"

#include <math.h>
#include <string.h>

/* gradient buffer of an input, or NULL when it needs none */
static inline float *G(const cg_tensor *t) { return t && t->requires_grad ? t->grad : NULL; }

static cg_tensor *like(cg_ctx *ctx, const cg_tensor *x) { return cg_tensor_new(ctx, CG_F32, x->ndim, x->shape); }

static bool need_f32(cg_ctx *ctx, const char *op, const char *what, const cg_tensor *t) {
    if (t->dtype != CG_F32) {
        cg_ctx_fail(ctx, CG_ERR_SHAPE, "%s: %s must be float32", op, what);
        return false;
    }
    return true;
}

#define SHP(t, buf) cg_shape_str((t), (buf), sizeof(buf))

/* ------------------------------------------------------------------ matmul */

static void matmul_bw(const cg_tape_entry *e) {
    cg_matmul_backward(G(e->in[0]), G(e->in[1]), G(e->in[2]), e->out->grad, cg_f32(e->in[0]), cg_f32(e->in[1]),
                       e->i[0], e->i[1], e->i[2], e->i[3] & 1, (e->i[3] >> 1) & 1);
}

cg_tensor *cg_matmul(cg_ctx *ctx, cg_tensor *a, cg_tensor *b, cg_tensor *bias, bool ta, bool tb) {
    if (!a || !b) return NULL;
    if (!need_f32(ctx, "matmul", "a", a) || !need_f32(ctx, "matmul", "b", b)) return NULL;
    int64_t M = ta ? cg_cols(a) : cg_rows(a), K = ta ? cg_rows(a) : cg_cols(a);
    int64_t Kb = tb ? cg_cols(b) : cg_rows(b), N = tb ? cg_rows(b) : cg_cols(b);
    char s1[64], s2[64], s3[64];
    if (K != Kb)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "matmul: inner dimensions differ: a %s%s, b %s%s", SHP(a, s1),
                           ta ? "^T" : "", SHP(b, s2), tb ? "^T" : "");
    if (bias && (bias->dtype != CG_F32 || bias->numel != N))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "matmul: bias %s does not match %lld output columns", SHP(bias, s3),
                           (long long)N);
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "matmul: dimensions exceed the BLAS int range");
    cg_tensor *out = cg_tensor_new2(ctx, M, N);
    if (!out) return NULL;
    cg_matmul_forward(cg_f32(out), cg_f32(a), cg_f32(b), bias ? cg_f32(bias) : NULL, M, N, K, ta, tb);
    cg_tensor *in[3] = {a, b, bias};
    cg_tape_entry *e = cg_tape_record(ctx, matmul_bw, out, in, 3);
    if (e) {
        e->i[0] = M, e->i[1] = N, e->i[2] = K, e->i[3] = (ta ? 1 : 0) | (tb ? 2 : 0);
    }
    return out;
}

cg_tensor *cg_linear(cg_ctx *ctx, cg_tensor *x, cg_tensor *weight, cg_tensor *bias) {
    return cg_matmul(ctx, x, weight, bias, false, true);
}

/* ------------------------------------------------------------------ elementwise */

static void binary_bw(const cg_tape_entry *e) {
    cg_tensor *a = e->in[0], *b = e->in[1];
    cg_binary_backward((cg_binary_op)e->i[0], G(a), G(b), e->out->grad, cg_f32(a), cg_f32(b), cg_rows(a), cg_cols(a),
                       e->i[1]);
}

static cg_tensor *binary(cg_ctx *ctx, cg_binary_op op, cg_tensor *a, cg_tensor *b) {
    static const char *names[] = {"add", "sub", "mul"};
    if (!a || !b) return NULL;
    if (!need_f32(ctx, names[op], "a", a) || !need_f32(ctx, names[op], "b", b)) return NULL;
    int64_t b_rows;
    char s1[64], s2[64];
    if (cg_cols(a) == cg_cols(b) && b->numel == a->numel)
        b_rows = cg_rows(a);
    else if (b->numel == cg_cols(a) && cg_rows(a) > 0)
        b_rows = 1;
    else
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "%s: b %s is neither the shape of a %s nor one row of it", names[op],
                           SHP(b, s2), SHP(a, s1));
    cg_tensor *out = like(ctx, a);
    if (!out) return NULL;
    cg_binary_forward(op, cg_f32(out), cg_f32(a), cg_f32(b), cg_rows(a), cg_cols(a), b_rows);
    cg_tensor *in[2] = {a, b};
    cg_tape_entry *e = cg_tape_record(ctx, binary_bw, out, in, 2);
    if (e) e->i[0] = op, e->i[1] = b_rows;
    return out;
}

cg_tensor *cg_add(cg_ctx *ctx, cg_tensor *a, cg_tensor *b) { return binary(ctx, CG_BIN_ADD, a, b); }
cg_tensor *cg_sub(cg_ctx *ctx, cg_tensor *a, cg_tensor *b) { return binary(ctx, CG_BIN_SUB, a, b); }
cg_tensor *cg_mul(cg_ctx *ctx, cg_tensor *a, cg_tensor *b) { return binary(ctx, CG_BIN_MUL, a, b); }

static void rowscale_bw(const cg_tape_entry *e) {
    cg_tensor *x = e->in[0], *w = e->in[1];
    cg_rowscale_backward(G(x), G(w), e->out->grad, cg_f32(x), cg_f32(w), cg_rows(x), cg_cols(x));
}

cg_tensor *cg_rowscale(cg_ctx *ctx, cg_tensor *x, cg_tensor *w) {
    if (!x || !w) return NULL;
    if (!need_f32(ctx, "rowscale", "x", x) || !need_f32(ctx, "rowscale", "w", w)) return NULL;
    char s1[64], s2[64];
    if (w->numel != cg_rows(x))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "rowscale: w %s does not have one weight per row of x %s", SHP(w, s2),
                           SHP(x, s1));
    cg_tensor *out = like(ctx, x);
    if (!out) return NULL;
    cg_rowscale_forward(cg_f32(out), cg_f32(x), cg_f32(w), cg_rows(x), cg_cols(x));
    cg_tensor *in[2] = {x, w};
    cg_tape_record(ctx, rowscale_bw, out, in, 2);
    return out;
}

static void scale_bw(const cg_tape_entry *e) {
    cg_scale_backward(e->in[0]->grad, e->out->grad, e->f[0], e->out->numel);
}

cg_tensor *cg_scale(cg_ctx *ctx, cg_tensor *x, float s) {
    if (!x || !need_f32(ctx, "scale", "x", x)) return NULL;
    cg_tensor *out = like(ctx, x);
    if (!out) return NULL;
    cg_scale_forward(cg_f32(out), cg_f32(x), s, x->numel);
    cg_tape_entry *e = cg_tape_record(ctx, scale_bw, out, &x, 1);
    if (e) e->f[0] = s;
    return out;
}

/* ------------------------------------------------------------------ activations */

static void act_bw(const cg_tape_entry *e) {
    cg_activation_backward((cg_activation)e->i[0], e->in[0]->grad, e->out->grad, cg_f32(e->in[0]), cg_f32(e->out),
                           e->out->numel, e->f[0]);
}

cg_tensor *cg_act(cg_ctx *ctx, cg_activation a, cg_tensor *x, float param) {
    if (!x || !need_f32(ctx, cg_activation_name(a), "x", x)) return NULL;
    cg_tensor *out = like(ctx, x);
    if (!out) return NULL;
    cg_activation_forward(a, cg_f32(out), cg_f32(x), x->numel, param);
    cg_tape_entry *e = cg_tape_record(ctx, act_bw, out, &x, 1);
    if (e) e->i[0] = a, e->f[0] = param;
    return out;
}

cg_tensor *cg_relu(cg_ctx *ctx, cg_tensor *x) { return cg_act(ctx, CG_ACT_RELU, x, 0.0f); }
cg_tensor *cg_leaky_relu(cg_ctx *ctx, cg_tensor *x, float slope) { return cg_act(ctx, CG_ACT_LEAKY_RELU, x, slope); }
cg_tensor *cg_gelu(cg_ctx *ctx, cg_tensor *x) { return cg_act(ctx, CG_ACT_GELU, x, 0.0f); }
cg_tensor *cg_silu(cg_ctx *ctx, cg_tensor *x) { return cg_act(ctx, CG_ACT_SILU, x, 0.0f); }
cg_tensor *cg_sigmoid(cg_ctx *ctx, cg_tensor *x) { return cg_act(ctx, CG_ACT_SIGMOID, x, 0.0f); }
cg_tensor *cg_tanh(cg_ctx *ctx, cg_tensor *x) { return cg_act(ctx, CG_ACT_TANH, x, 0.0f); }
cg_tensor *cg_mish(cg_ctx *ctx, cg_tensor *x) { return cg_act(ctx, CG_ACT_MISH, x, 0.0f); }
cg_tensor *cg_softplus(cg_ctx *ctx, cg_tensor *x) { return cg_act(ctx, CG_ACT_SOFTPLUS, x, 0.0f); }
cg_tensor *cg_logcosh(cg_ctx *ctx, cg_tensor *x) { return cg_act(ctx, CG_ACT_LOGCOSH, x, 0.0f); }

/* ------------------------------------------------------------------ layer norm */

static void layernorm_bw(const cg_tape_entry *e) {
    cg_tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
    cg_layernorm_backward(G(x), G(w), G(b), e->out->grad, cg_f32(x), e->aux[0], e->aux[1], w ? cg_f32(w) : NULL,
                          cg_rows(x), cg_cols(x));
}

cg_tensor *cg_layernorm(cg_ctx *ctx, cg_tensor *x, cg_tensor *weight, cg_tensor *bias, float eps) {
    if (!x || !need_f32(ctx, "layernorm", "x", x)) return NULL;
    int64_t M = cg_rows(x), N = cg_cols(x);
    char s1[64], s2[64];
    if ((weight && (weight->dtype != CG_F32 || weight->numel != N)) || (bias && (bias->dtype != CG_F32 || bias->numel != N)))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "layernorm: weight/bias %s do not match x %s",
                           SHP(weight ? weight : bias, s2), SHP(x, s1));
    cg_tensor *out = like(ctx, x);
    float *stats = cg_arena_alloc(&ctx->arena, 2 * (size_t)M * sizeof(float) + 1);
    if (!out || !stats) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "layernorm: out of memory");
    cg_layernorm_forward(cg_f32(out), stats, stats + M, cg_f32(x), weight ? cg_f32(weight) : NULL,
                         bias ? cg_f32(bias) : NULL, M, N, eps);
    cg_tensor *in[3] = {x, weight, bias};
    cg_tape_entry *e = cg_tape_record(ctx, layernorm_bw, out, in, 3);
    if (e) e->aux[0] = stats, e->aux[1] = stats + M;
    return out;
}

/* ------------------------------------------------------------------ dropout */

static void dropout_bw(const cg_tape_entry *e) {
    cg_dropout_backward(e->in[0]->grad, e->out->grad, e->aux[0], e->out->numel, e->f[0]);
}

cg_tensor *cg_dropout_shared(cg_ctx *ctx, cg_tensor *x, float p, int64_t period) {
    if (!x || !need_f32(ctx, "dropout", "x", x)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dropout: p = %g is not in [0, 1)", p);
    if (x->numel == 0) return x;
    if (period <= 0 || period > x->numel || x->numel % period != 0)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "dropout: period %lld does not divide the %lld elements of x",
                           (long long)period, (long long)x->numel);
    if (!ctx->training || p == 0.0f) return x;
    uint64_t stream = (ctx->step << 24) ^ ctx->op_counter++;
    cg_tensor *out = like(ctx, x);
    uint8_t *keep = cg_arena_alloc(&ctx->arena, (size_t)x->numel + 1);
    if (!out || !keep) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dropout: out of memory");
    /* the mask of the first period, repeated: every sample of a batch sees the same mask */
    cg_dropout_forward(cg_f32(out), keep, cg_f32(x), period, p, ctx->seed, stream);
    for (int64_t r = period; r < x->numel; r += period) memcpy(keep + r, keep, (size_t)period);
    const float scale = 1.0f / (1.0f - p);
    const float *xi = cg_f32(x);
    float *oi = cg_f32(out);
#pragma omp parallel for schedule(static)
    for (int64_t i = period; i < x->numel; i++) oi[i] = keep[i] ? xi[i] * scale : 0.0f;
    cg_tape_entry *e = cg_tape_record(ctx, dropout_bw, out, &x, 1);
    if (e) e->aux[0] = keep, e->f[0] = p;
    return out;
}

cg_tensor *cg_dropout_rows(cg_ctx *ctx, cg_tensor *x, float p, const int32_t *ids, uint64_t op_index) {
    if (!x || !need_f32(ctx, "dropout_rows", "x", x)) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dropout: p = %g is not in [0, 1)", p);
    if (!ctx->training || p == 0.0f || x->numel == 0) return x;
    if (!ids) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dropout_rows: no row ids");
    uint64_t stream = (ctx->step << 24) ^ op_index;
    cg_tensor *out = like(ctx, x);
    uint8_t *keep = cg_arena_alloc(&ctx->arena, (size_t)x->numel + 1);
    if (!out || !keep) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dropout: out of memory");
    cg_dropout_rows_forward(cg_f32(out), keep, cg_f32(x), ids, cg_rows(x), cg_cols(x), p, ctx->seed, stream);
    cg_tape_entry *e = cg_tape_record(ctx, dropout_bw, out, &x, 1);
    if (e) e->aux[0] = keep, e->f[0] = p;
    return out;
}

static void concat_rows_bw(const cg_tape_entry *e) {
    size_t na = (size_t)e->in[0]->numel, nb = (size_t)e->in[1]->numel;
    const float *g = e->out->grad;
    if (e->in[0]->requires_grad) {
        float *d = e->in[0]->grad;
        for (size_t i = 0; i < na; i++) d[i] += g[i];
    }
    if (e->in[1]->requires_grad) {
        float *d = e->in[1]->grad;
        for (size_t i = 0; i < nb; i++) d[i] += g[na + i];
    }
}

cg_tensor *cg_concat_rows(cg_ctx *ctx, cg_tensor *a, cg_tensor *b) {
    if (!a || !b) return NULL;
    if (!need_f32(ctx, "concat_rows", "a", a) || !need_f32(ctx, "concat_rows", "b", b)) return NULL;
    char s1[64], s2[64];
    if (cg_cols(a) != cg_cols(b))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "concat_rows: a %s and b %s differ in columns", SHP(a, s1), SHP(b, s2));
    cg_tensor *out = cg_tensor_new2(ctx, cg_rows(a) + cg_rows(b), cg_cols(a));
    if (!out) return NULL;
    if (a->numel) memcpy(cg_f32(out), cg_f32(a), (size_t)a->numel * sizeof(float));
    if (b->numel) memcpy(cg_f32(out) + a->numel, cg_f32(b), (size_t)b->numel * sizeof(float));
    cg_tensor *in[2] = {a, b};
    cg_tape_record(ctx, concat_rows_bw, out, in, 2);
    return out;
}

cg_tensor *cg_dropout(cg_ctx *ctx, cg_tensor *x, float p) { return x ? cg_dropout_shared(ctx, x, p, x->numel) : NULL; }

/* ------------------------------------------------------------------ concat / slice */

static void concat_bw(const cg_tape_entry *e) {
    float *dxs[CG_TAPE_MAX_IN];
    for (int k = 0; k < e->n_in; k++) dxs[k] = G(e->in[k]);
    cg_concat_backward(dxs, e->out->grad, e->i, e->n_in, cg_rows(e->out));
}

cg_tensor *cg_concat(cg_ctx *ctx, cg_tensor **xs, int n) {
    if (n < 1 || n > CG_TAPE_MAX_IN)
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "concat: %d inputs (1..%d supported)", n, CG_TAPE_MAX_IN);
    for (int k = 0; k < n; k++)
        if (!xs[k] || !need_f32(ctx, "concat", "input", xs[k])) return NULL;
    int64_t M = cg_rows(xs[0]), total = 0, cols[CG_TAPE_MAX_IN];
    const float *ptrs[CG_TAPE_MAX_IN];
    char s1[64], s2[64];
    for (int k = 0; k < n; k++) {
        if (cg_rows(xs[k]) != M)
            return cg_ctx_fail(ctx, CG_ERR_SHAPE, "concat: input %d %s has other rows than input 0 %s", k,
                               SHP(xs[k], s2), SHP(xs[0], s1));
        cols[k] = cg_cols(xs[k]);
        ptrs[k] = cg_f32(xs[k]);
        total += cols[k];
    }
    cg_tensor *out = cg_tensor_new2(ctx, M, total);
    if (!out) return NULL;
    cg_concat_forward(cg_f32(out), ptrs, cols, n, M);
    cg_tape_entry *e = cg_tape_record(ctx, concat_bw, out, xs, n);
    if (e)
        for (int k = 0; k < n; k++) e->i[k] = cols[k];
    return out;
}

static void slice_bw(const cg_tape_entry *e) {
    cg_tensor *x = e->in[0];
    cg_slice_cols_backward(x->grad, e->out->grad, cg_rows(x), cg_cols(x), e->i[0], e->i[1]);
}

cg_tensor *cg_slice_cols(cg_ctx *ctx, cg_tensor *x, int64_t start, int64_t len) {
    if (!x || !need_f32(ctx, "slice_cols", "x", x)) return NULL;
    char s1[64];
    if (start < 0 || len < 0 || start + len > cg_cols(x))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "slice_cols: columns [%lld, %lld) outside x %s", (long long)start,
                           (long long)(start + len), SHP(x, s1));
    cg_tensor *out = cg_tensor_new2(ctx, cg_rows(x), len);
    if (!out) return NULL;
    cg_slice_cols_forward(cg_f32(out), cg_f32(x), cg_rows(x), cg_cols(x), start, len);
    cg_tape_entry *e = cg_tape_record(ctx, slice_bw, out, &x, 1);
    if (e) e->i[0] = start, e->i[1] = len;
    return out;
}

cg_status cg_split(cg_ctx *ctx, cg_tensor *x, const int64_t *sizes, int n, cg_tensor **outs) {
    if (!x) return ctx->status != CG_OK ? ctx->status : CG_ERR_INVALID_ARG;
    int64_t total = 0;
    for (int k = 0; k < n; k++) total += sizes[k];
    char s1[64];
    if (total != cg_cols(x)) {
        cg_ctx_fail(ctx, CG_ERR_SHAPE, "split: sizes add up to %lld, x %s has %lld columns", (long long)total,
                    SHP(x, s1), (long long)cg_cols(x));
        return ctx->status;
    }
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        outs[k] = cg_slice_cols(ctx, x, start, sizes[k]);
        start += sizes[k];
    }
    return ctx->status;
}

/* ------------------------------------------------------------------ reductions */

static void sum_bw(const cg_tape_entry *e) {
    cg_fill_add_backward(e->in[0]->grad, e->out->grad[0] * e->f[0], e->in[0]->numel);
}

static cg_tensor *sum_all(cg_ctx *ctx, cg_tensor *x, float factor) {
    if (!x || !need_f32(ctx, "sum", "x", x)) return NULL;
    int64_t one = 1;
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, 1, &one);
    if (!out) return NULL;
    cg_f32(out)[0] = cg_sum_forward(cg_f32(x), x->numel) * factor;
    cg_tape_entry *e = cg_tape_record(ctx, sum_bw, out, &x, 1);
    if (e) e->f[0] = factor;
    return out;
}

cg_tensor *cg_sum(cg_ctx *ctx, cg_tensor *x) { return sum_all(ctx, x, 1.0f); }
cg_tensor *cg_mean(cg_ctx *ctx, cg_tensor *x) {
    return x ? sum_all(ctx, x, x->numel > 0 ? 1.0f / (float)x->numel : 0.0f) : NULL;
}

/* i[0]: 0 = over rows (-> [1, N]), 1 = over columns (-> [M, 1]); f[0]: factor (1 or 1/count) */
static void sum_axis_bw(const cg_tape_entry *e) {
    cg_tensor *x = e->in[0];
    int64_t M = cg_rows(x), N = cg_cols(x), n = e->out->numel;
    /* the factor is applied to a scaled copy of dout living in aux[0] */
    float *g = e->aux[0];
    for (int64_t i = 0; i < n; i++) g[i] = e->out->grad[i] * e->f[0];
    if (e->i[0] == 0)
        cg_sum_rows_backward(x->grad, g, M, N);
    else
        cg_sum_cols_backward(x->grad, g, M, N);
}

static cg_tensor *sum_axis(cg_ctx *ctx, cg_tensor *x, int axis, bool mean) {
    if (!x || !need_f32(ctx, "sum", "x", x)) return NULL;
    int64_t M = cg_rows(x), N = cg_cols(x);
    cg_tensor *out = axis == 0 ? cg_tensor_new2(ctx, 1, N) : cg_tensor_new2(ctx, M, 1);
    if (!out) return NULL;
    float f = 1.0f;
    if (mean) f = (axis == 0 ? M : N) > 0 ? 1.0f / (float)(axis == 0 ? M : N) : 0.0f;
    if (axis == 0)
        cg_sum_rows_forward(cg_f32(out), cg_f32(x), M, N);
    else
        cg_sum_cols_forward(cg_f32(out), cg_f32(x), M, N);
    if (mean)
        for (int64_t i = 0; i < out->numel; i++) cg_f32(out)[i] *= f;
    cg_tape_entry *e = cg_tape_record(ctx, sum_axis_bw, out, &x, 1);
    if (e) {
        e->i[0] = axis, e->f[0] = f;
        e->aux[0] = cg_arena_alloc(&ctx->arena, (size_t)out->numel * sizeof(float) + 1);
        if (!e->aux[0]) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "sum: out of memory");
    }
    return out;
}

cg_tensor *cg_sum_rows(cg_ctx *ctx, cg_tensor *x) { return sum_axis(ctx, x, 0, false); }
cg_tensor *cg_mean_rows(cg_ctx *ctx, cg_tensor *x) { return sum_axis(ctx, x, 0, true); }
cg_tensor *cg_sum_cols(cg_ctx *ctx, cg_tensor *x) { return sum_axis(ctx, x, 1, false); }
cg_tensor *cg_mean_cols(cg_ctx *ctx, cg_tensor *x) { return sum_axis(ctx, x, 1, true); }

/* ------------------------------------------------------------------ gather / scatter */

static bool check_index(cg_ctx *ctx, const char *op, const cg_tensor *idx, int64_t bound) {
    if (idx->dtype != CG_I32) {
        cg_ctx_fail(ctx, CG_ERR_SHAPE, "%s: index tensor must be int32", op);
        return false;
    }
    const int32_t *p = cg_i32(idx);
    for (int64_t i = 0; i < idx->numel; i++)
        if (p[i] < 0 || p[i] >= bound) {
            cg_ctx_fail(ctx, CG_ERR_SHAPE, "%s: index[%lld] = %d is outside [0, %lld)", op, (long long)i, p[i],
                        (long long)bound);
            return false;
        }
    return true;
}

static void gather_bw(const cg_tape_entry *e) {
    cg_gather_rows_backward(e->in[0]->grad, e->out->grad, cg_i32(e->in[1]), e->in[1]->numel, cg_cols(e->in[0]));
}

cg_tensor *cg_gather_rows(cg_ctx *ctx, cg_tensor *x, cg_tensor *idx) {
    if (!x || !idx) return NULL;
    if (!need_f32(ctx, "gather_rows", "x", x) || !check_index(ctx, "gather_rows", idx, cg_rows(x))) return NULL;
    cg_tensor *out = cg_tensor_new2(ctx, idx->numel, cg_cols(x));
    if (!out) return NULL;
    cg_gather_rows_forward(cg_f32(out), cg_f32(x), cg_i32(idx), idx->numel, cg_cols(x));
    cg_tensor *in[2] = {x, idx};
    cg_tape_record(ctx, gather_bw, out, in, 2);
    return out;
}

static void scatter_bw(const cg_tape_entry *e) {
    cg_scatter_add_rows_backward(e->in[0]->grad, e->out->grad, cg_i32(e->in[1]), e->in[1]->numel, cg_cols(e->in[0]));
}

cg_tensor *cg_scatter_add_rows(cg_ctx *ctx, cg_tensor *x, cg_tensor *idx, int64_t n_out) {
    if (!x || !idx) return NULL;
    if (!need_f32(ctx, "scatter_add_rows", "x", x) || !check_index(ctx, "scatter_add_rows", idx, n_out)) return NULL;
    char s1[64];
    if (idx->numel != cg_rows(x))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "scatter_add_rows: %lld indices for x %s", (long long)idx->numel,
                           SHP(x, s1));
    int64_t shape[2] = {n_out, cg_cols(x)};
    cg_tensor *out = cg_tensor_zeros(ctx, CG_F32, 2, shape);
    if (!out) return NULL;
    cg_scatter_add_rows_forward(cg_f32(out), cg_f32(x), cg_i32(idx), idx->numel, cg_cols(x));
    cg_tensor *in[2] = {x, idx};
    cg_tape_record(ctx, scatter_bw, out, in, 2);
    return out;
}

/* ------------------------------------------------------------------ segment ops */

enum { SEG_SUM, SEG_MEAN, SEG_MAX, SEG_SOFTMAX };

static void segment_bw(const cg_tape_entry *e) {
    cg_tensor *x = e->in[0];
    const cg_csr *csr = e->aux[0];
    int64_t N = cg_cols(x);
    switch (e->i[0]) {
    case SEG_SUM: cg_segment_sum_backward(x->grad, e->out->grad, csr, N); break;
    case SEG_MEAN: cg_segment_mean_backward(x->grad, e->out->grad, csr, N); break;
    case SEG_MAX: cg_segment_max_backward(x->grad, e->out->grad, e->aux[1], csr, N); break;
    case SEG_SOFTMAX: cg_segment_softmax_backward(x->grad, e->out->grad, cg_f32(e->out), csr, N); break;
    }
}

static cg_tensor *segment(cg_ctx *ctx, int kind, cg_tensor *x, const cg_csr *csr) {
    static const char *names[] = {"segment_sum", "segment_mean", "segment_max", "segment_softmax"};
    if (!x || !need_f32(ctx, names[kind], "x", x)) return NULL;
    char s1[64];
    if (!csr) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "%s: csr is NULL", names[kind]);
    if (cg_rows(x) != csr->nnz)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "%s: x %s has %lld rows, the CSR %lld entries", names[kind], SHP(x, s1),
                           (long long)cg_rows(x), (long long)csr->nnz);
    int64_t N = cg_cols(x);
    cg_tensor *out = kind == SEG_SOFTMAX ? like(ctx, x) : cg_tensor_new2(ctx, csr->n_rows, N);
    if (!out) return NULL;
    int32_t *argmax = NULL;
    switch (kind) {
    case SEG_SUM: cg_segment_sum_forward(cg_f32(out), cg_f32(x), csr, N); break;
    case SEG_MEAN: cg_segment_mean_forward(cg_f32(out), cg_f32(x), csr, N); break;
    case SEG_MAX:
        argmax = cg_arena_alloc(&ctx->arena, (size_t)(csr->n_rows * N) * sizeof(int32_t) + 1);
        if (!argmax) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "segment_max: out of memory");
        cg_segment_max_forward(cg_f32(out), argmax, cg_f32(x), csr, N);
        break;
    case SEG_SOFTMAX: cg_segment_softmax_forward(cg_f32(out), cg_f32(x), csr, N); break;
    }
    cg_tape_entry *e = cg_tape_record(ctx, segment_bw, out, &x, 1);
    if (e) e->i[0] = kind, e->aux[0] = (void *)csr, e->aux[1] = argmax;
    return out;
}

cg_tensor *cg_segment_sum(cg_ctx *ctx, cg_tensor *x, const cg_csr *csr) { return segment(ctx, SEG_SUM, x, csr); }
cg_tensor *cg_segment_mean(cg_ctx *ctx, cg_tensor *x, const cg_csr *csr) { return segment(ctx, SEG_MEAN, x, csr); }
cg_tensor *cg_segment_max(cg_ctx *ctx, cg_tensor *x, const cg_csr *csr) { return segment(ctx, SEG_MAX, x, csr); }
cg_tensor *cg_segment_softmax(cg_ctx *ctx, cg_tensor *x, const cg_csr *csr) {
    return segment(ctx, SEG_SOFTMAX, x, csr);
}

cg_status cg_csr_validate(const cg_csr *csr) {
    if (csr->n_rows < 0 || csr->n_cols < 0 || csr->nnz < 0 || csr->nnz > INT32_MAX)
        return cg_error(CG_ERR_FORMAT, "csr: bad sizes (rows %lld, cols %lld, nnz %lld)", (long long)csr->n_rows,
                        (long long)csr->n_cols, (long long)csr->nnz);
    if (csr->rowptr[0] != 0) return cg_error(CG_ERR_FORMAT, "csr: rowptr[0] = %lld, expected 0", (long long)csr->rowptr[0]);
    for (int64_t s = 0; s < csr->n_rows; s++)
        if (csr->rowptr[s + 1] < csr->rowptr[s])
            return cg_error(CG_ERR_FORMAT, "csr: rowptr decreases at row %lld", (long long)s);
    if (csr->rowptr[csr->n_rows] != csr->nnz)
        return cg_error(CG_ERR_FORMAT, "csr: rowptr[%lld] = %lld, expected nnz %lld", (long long)csr->n_rows,
                        (long long)csr->rowptr[csr->n_rows], (long long)csr->nnz);
    for (int64_t e = 0; e < csr->nnz; e++)
        if (csr->col[e] < 0 || csr->col[e] >= csr->n_cols)
            return cg_error(CG_ERR_FORMAT, "csr: col[%lld] = %d outside [0, %lld)", (long long)e, csr->col[e],
                            (long long)csr->n_cols);
    return CG_OK;
}

/* ------------------------------------------------------------------ losses */

static void mse_bw(const cg_tape_entry *e) {
    cg_mse_masked_backward(e->in[0]->grad, e->out->grad[0], cg_f32(e->in[0]), cg_f32(e->in[1]), e->in[0]->numel,
                           e->i[0]);
}

cg_tensor *cg_mse_masked(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target) {
    if (!pred || !target) return NULL;
    if (!need_f32(ctx, "mse", "pred", pred) || !need_f32(ctx, "mse", "target", target)) return NULL;
    char s1[64], s2[64];
    if (pred->numel != target->numel)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "mse: pred %s and target %s differ in size", SHP(pred, s1),
                           SHP(target, s2));
    int64_t one = 1, count = 0;
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, 1, &one);
    if (!out) return NULL;
    cg_f32(out)[0] = cg_mse_masked_forward(cg_f32(pred), cg_f32(target), pred->numel, &count);
    cg_tensor *in[2] = {pred, target};
    cg_tape_entry *e = cg_tape_record(ctx, mse_bw, out, in, 2);
    if (e) e->i[0] = count;
    return out;
}
