/* Training losses: masked label-weighted MSE and LogCosh, DistLoss with its KDE pseudo-label table,
 * SupCR (Rank-N-Contrast), and the composite loss; see cellgraph/losses.h for the math.
 *
 * Determinism: the MSE/LogCosh sums are reduced per label over fixed blocks of CG_LOSS_BLOCK rows (blocks
 * in parallel, block sums added in block order); DistLoss is serial; SupCR works per anchor in parallel,
 * each anchor's sums in a fixed order, and the anchors' losses are added in order; every backward writes
 * each gradient element from one thread with a fixed summation order. So results are bitwise the same for
 * any thread count.
 */
#include "cellgraph/losses.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"

#define LN2 0.69314718055994530942
#define SQRT1_2 0.70710678118654752440
/* block sums of one group are computed in parallel into a stack array */
#define GROUP 256
/* elementwise backward loops with fewer elements than this run on one thread */
#define PAR_MIN 32768

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

static cg_tensor *scalar_out(cg_ctx *ctx) {
    int64_t one = 1;
    return cg_tensor_new(ctx, CG_F32, 1, &one);
}

// ----------------------------------------------------------------------------
// masked, label-weighted MSE and LogCosh

enum { KIND_MSE = 0, KIND_LOGCOSH = 1 };

static inline double elem_loss(int kind, double x) {
    if (kind == KIND_MSE) return x * x;
    double a = fabs(x);
    return a + log1p(exp(-2.0 * a)) - LN2; /* log cosh x, without overflow */
}

static inline double elem_grad(int kind, double x) { return kind == KIND_MSE ? 2.0 * x : tanh(x); }

/* sum over the non-NaN rows of column k of elem_loss(pred - target); count in *count */
static double column_sum(int kind, const float *pred, const float *target, const float *sw, int64_t B, int64_t K,
                         int64_t k, int64_t *count) {
    int64_t nb = (B + CG_LOSS_BLOCK - 1) / CG_LOSS_BLOCK;
    double total = 0.0;
    int64_t cnt = 0;
    for (int64_t g0 = 0; g0 < nb; g0 += GROUP) {
        int64_t g1 = g0 + GROUP < nb ? g0 + GROUP : nb;
        double part[GROUP];
        int64_t pc[GROUP];
#pragma omp parallel for schedule(static) if (g1 - g0 > 1)
        for (int64_t b = g0; b < g1; b++) {
            int64_t s = b * CG_LOSS_BLOCK, e = s + CG_LOSS_BLOCK < B ? s + CG_LOSS_BLOCK : B;
            double acc = 0.0;
            int64_t c = 0;
            for (int64_t i = s; i < e; i++) {
                float t = target[i * K + k];
                if (isnan(t)) continue;
                acc += (sw ? (double)sw[i * K + k] : 1.0) * elem_loss(kind, (double)pred[i * K + k] - (double)t);
                c++;
            }
            part[b - g0] = acc;
            pc[b - g0] = c;
        }
        for (int64_t b = g0; b < g1; b++) {
            total += part[b - g0];
            cnt += pc[b - g0];
        }
    }
    *count = cnt;
    return total;
}

static double masked_forward(int kind, const float *pred, const float *target, const float *weights, const float *sw,
                             int64_t B, int64_t K, int64_t *count) {
    double L = 0.0;
    for (int64_t k = 0; k < K; k++) {
        double s = column_sum(kind, pred, target, sw, B, K, k, &count[k]);
        double w = weights ? (double)weights[k] : 1.0;
        if (count[k] > 0) L += w * (s / (double)count[k]);
    }
    return L;
}

static void masked_backward(int kind, float *dpred, float *dtarget, float dloss, const float *pred,
                            const float *target, const float *weights, const float *sw, const int64_t *count, int64_t B,
                            int64_t K) {
    if (!dpred && !dtarget) return;
#pragma omp parallel for schedule(static) if (B * K >= PAR_MIN)
    for (int64_t i = 0; i < B; i++)
        for (int64_t k = 0; k < K; k++) {
            float t = target[i * K + k];
            if (isnan(t) || count[k] == 0) continue;
            double w = (weights ? (double)weights[k] : 1.0) * (sw ? (double)sw[i * K + k] : 1.0);
            double g = (double)dloss * w / (double)count[k] * elem_grad(kind, (double)pred[i * K + k] - (double)t);
            if (dpred) dpred[i * K + k] += (float)g;
            if (dtarget) dtarget[i * K + k] -= (float)g;
        }
}

double cg_mse_weighted_forward(const float *pred, const float *target, const float *weights, int64_t B, int64_t K,
                               int64_t *count) {
    return masked_forward(KIND_MSE, pred, target, weights, NULL, B, K, count);
}

void cg_mse_weighted_backward(float *dpred, float *dtarget, float dloss, const float *pred, const float *target,
                              const float *weights, const int64_t *count, int64_t B, int64_t K) {
    masked_backward(KIND_MSE, dpred, dtarget, dloss, pred, target, weights, NULL, count, B, K);
}

double cg_logcosh_loss_forward(const float *pred, const float *target, const float *weights, int64_t B, int64_t K,
                               int64_t *count) {
    return masked_forward(KIND_LOGCOSH, pred, target, weights, NULL, B, K, count);
}

void cg_logcosh_loss_backward(float *dpred, float *dtarget, float dloss, const float *pred, const float *target,
                              const float *weights, const int64_t *count, int64_t B, int64_t K) {
    masked_backward(KIND_LOGCOSH, dpred, dtarget, dloss, pred, target, weights, NULL, count, B, K);
}

/* i[0]: kind, i[1]: B, i[2]: K; aux[0]: count [K], aux[1]: weights [K] or NULL, aux[2]: sample weights [B, K]
 * or NULL */
static void masked_bw(const cg_tape_entry *e) {
    cg_tensor *pred = e->in[0], *target = e->in[1];
    masked_backward((int)e->i[0], G(pred), G(target), e->out->grad[0], cg_f32(pred), cg_f32(target), e->aux[1],
                    e->aux[2], e->aux[0], e->i[1], e->i[2]);
}

static cg_tensor *masked_loss(cg_ctx *ctx, int kind, cg_tensor *pred, cg_tensor *target, const float *weights,
                              const float *sample_weights) {
    const char *name = kind == KIND_MSE ? "mse_weighted" : "logcosh_loss";
    if (!pred || !target) return NULL;
    if (!need_f32(ctx, name, "pred", pred) || !need_f32(ctx, name, "target", target)) return NULL;
    char s1[64], s2[64];
    if (!cg_same_shape(pred, target))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "%s: pred %s and target %s differ in shape", name, SHP(pred, s1),
                           SHP(target, s2));
    int64_t B = cg_rows(pred), K = cg_cols(pred);
    if (weights)
        for (int64_t k = 0; k < K; k++)
            if (!(weights[k] >= 0.0f) || !isfinite(weights[k]))
                return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "%s: weight[%lld] = %g is not a finite value >= 0", name,
                                   (long long)k, (double)weights[k]);
    if (sample_weights)
        for (int64_t i = 0; i < B * K; i++)
            if (!(sample_weights[i] >= 0.0f) || !isfinite(sample_weights[i]))
                return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "%s: sample weight [%lld, %lld] = %g is not a finite value >= 0",
                                   name, (long long)(i / K), (long long)(i % K), (double)sample_weights[i]);
    cg_tensor *out = scalar_out(ctx);
    int64_t *count = cg_arena_alloc(&ctx->arena, (size_t)K * sizeof(int64_t) + 1);
    float *w = weights ? cg_arena_alloc(&ctx->arena, (size_t)K * sizeof(float) + 1) : NULL;
    float *sw = sample_weights ? cg_arena_alloc(&ctx->arena, (size_t)(B * K) * sizeof(float) + 1) : NULL;
    if (!out || !count || (weights && !w) || (sample_weights && !sw))
        return cg_ctx_fail(ctx, CG_ERR_NOMEM, "%s: out of memory", name);
    if (w) memcpy(w, weights, (size_t)K * sizeof(float));
    if (sw) memcpy(sw, sample_weights, (size_t)(B * K) * sizeof(float));
    cg_f32(out)[0] = (float)masked_forward(kind, cg_f32(pred), cg_f32(target), w, sw, B, K, count);
    cg_tensor *in[2] = {pred, target};
    cg_tape_entry *e = cg_tape_record(ctx, masked_bw, out, in, 2);
    if (e) {
        e->i[0] = kind, e->i[1] = B, e->i[2] = K;
        e->aux[0] = count, e->aux[1] = w, e->aux[2] = sw;
    }
    return out;
}

cg_tensor *cg_mse_weighted(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, const float *weights) {
    return masked_loss(ctx, KIND_MSE, pred, target, weights, NULL);
}

cg_tensor *cg_logcosh_loss(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, const float *weights) {
    return masked_loss(ctx, KIND_LOGCOSH, pred, target, weights, NULL);
}

cg_tensor *cg_masked_loss_sw(cg_ctx *ctx, bool logcosh, cg_tensor *pred, cg_tensor *target, const float *weights,
                             const float *sample_weights) {
    return masked_loss(ctx, logcosh ? KIND_LOGCOSH : KIND_MSE, pred, target, weights, sample_weights);
}

// ----------------------------------------------------------------------------
// sorting: stable bottom-up merge sort of indices by a double key (ties keep their input order)

static void sort_indices(int32_t *idx, int32_t *tmp, int64_t n, const double *key) {
    int32_t *src = idx, *dst = tmp;
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = key[src[j]] < key[src[i]] ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        int32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx) memcpy(idx, src, (size_t)n * sizeof(int32_t));
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// ----------------------------------------------------------------------------
// DistLoss pseudo-label table

/* linearly interpolated quantile of sorted y[0..n) (numpy's default method) */
static double sorted_quantile(const double *y, int64_t n, double p) {
    double pos = p * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    if (i >= n - 1) return y[n - 1];
    double f = pos - (double)i;
    return y[i] + f * (y[i + 1] - y[i]);
}

/* first index in sorted y[0..n) with y[i] >= v (upper: y[i] > v) */
static int64_t lower_bound(const double *y, int64_t n, double v, int upper) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (upper ? y[mid] <= v : y[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

cg_status cg_dist_table_build(cg_dist_table *t, const float *labels, int64_t n, int64_t stride, double bandwidth,
                              int64_t n_grid) {
    if (!t) return cg_error(CG_ERR_INVALID_ARG, "dist_table: table is NULL");
    memset(t, 0, sizeof *t);
    if (n < 0 || (n > 0 && !labels) || stride < 1)
        return cg_error(CG_ERR_INVALID_ARG, "dist_table: bad label array (n = %lld, stride = %lld)", (long long)n,
                        (long long)stride);
    if (!(bandwidth >= 0.0) || !isfinite(bandwidth))
        return cg_error(CG_ERR_INVALID_ARG, "dist_table: bandwidth %g is not finite and >= 0 (0 = Silverman)",
                        bandwidth);
    if (n_grid == 0) n_grid = CG_DIST_GRID_DEFAULT;
    if (n_grid < 16 || n_grid > (1 << 24))
        return cg_error(CG_ERR_INVALID_ARG, "dist_table: %lld grid points (16 .. 2^24 allowed)", (long long)n_grid);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = labels[i * stride];
        if (isnan(v)) continue;
        if (isinf(v)) return cg_error(CG_ERR_INVALID_ARG, "dist_table: label %lld is infinite", (long long)i);
        m++;
    }
    if (m == 0) return cg_error(CG_ERR_INVALID_ARG, "dist_table: no non-NaN label among %lld", (long long)n);
    double *y = malloc((size_t)m * sizeof(double));
    double *cdf = malloc((size_t)n_grid * sizeof(double));
    if (!y || !cdf) {
        free(y);
        free(cdf);
        return cg_error(CG_ERR_NOMEM, "dist_table: out of memory for %lld labels", (long long)m);
    }
    m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(labels[i * stride])) y[m++] = labels[i * stride];
    qsort(y, (size_t)m, sizeof(double), cmp_double);

    double mean = 0.0, ss = 0.0;
    for (int64_t i = 0; i < m; i++) mean += y[i];
    mean /= (double)m;
    for (int64_t i = 0; i < m; i++) ss += (y[i] - mean) * (y[i] - mean);
    double sd = m > 1 ? sqrt(ss / (double)(m - 1)) : 0.0;
    double h = bandwidth;
    if (h == 0.0) {
        double iqr = (sorted_quantile(y, m, 0.75) - sorted_quantile(y, m, 0.25)) / 1.34;
        double spread = fmin(sd, iqr);
        if (!(spread > 0.0)) spread = fmax(sd, iqr);
        h = spread > 0.0 ? 0.9 * spread * pow((double)m, -0.2) : 1e-3 * fmax(1.0, fabs(mean));
    }

    double lo = y[0] - 6.0 * h, hi = y[m - 1] + 6.0 * h, step = (hi - lo) / (double)(n_grid - 1);
    const double cut = 9.0 * h, scale = SQRT1_2 / h;
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < n_grid; g++) {
        double x = lo + (double)g * step;
        int64_t i0 = lower_bound(y, m, x - cut, 0), i1 = lower_bound(y, m, x + cut, 1);
        double s = 0.0;
        for (int64_t i = i0; i < i1; i++) s += 0.5 * erfc((y[i] - x) * scale); /* Phi((x - y_i) / h) */
        cdf[g] = ((double)i0 + s) / (double)m;
    }
    double c0 = cdf[0], c1 = cdf[n_grid - 1];
    for (int64_t g = 0; g < n_grid; g++) {
        double v = (cdf[g] - c0) / (c1 - c0);
        cdf[g] = g > 0 && v < cdf[g - 1] ? cdf[g - 1] : v;
    }
    cdf[0] = 0.0;
    cdf[n_grid - 1] = 1.0;
    free(y);

    t->n_labels = m;
    t->bandwidth = h;
    t->mean = mean;
    t->sd = sd;
    t->lo = lo;
    t->step = step;
    t->n_grid = n_grid;
    t->cdf = cdf;
    return CG_OK;
}

void cg_dist_table_free(cg_dist_table *t) {
    if (!t) return;
    free(t->cdf);
    memset(t, 0, sizeof *t);
}

double cg_dist_table_quantile(const cg_dist_table *t, double u) {
    int64_t G = t->n_grid;
    if (!(u > 0.0)) return t->lo;
    if (u >= 1.0) return t->lo + (double)(G - 1) * t->step;
    /* smallest g with cdf[g] >= u; g >= 1 because cdf[0] = 0 < u, and cdf[g-1] < u <= cdf[g] */
    int64_t lo = 1, hi = G - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (t->cdf[mid] >= u)
            hi = mid;
        else
            lo = mid + 1;
    }
    double c0 = t->cdf[lo - 1], c1 = t->cdf[lo];
    return t->lo + ((double)(lo - 1) + (u - c0) / (c1 - c0)) * t->step;
}

void cg_dist_table_pseudo_labels(const cg_dist_table *t, int64_t m, double *out) {
    for (int64_t r = 0; r < m; r++) out[r] = cg_dist_table_quantile(t, ((double)r + 0.5) / (double)m);
}

// ----------------------------------------------------------------------------
// DistLoss

double cg_dist_loss_forward(const float *pred, const float *target, int64_t B, int64_t K, int64_t col,
                            const cg_dist_table *table, int32_t *order, int32_t *work, double *pseudo, int64_t *m) {
    int64_t n = 0;
    for (int64_t i = 0; i < B; i++) {
        pseudo[i] = pred[i * K + col]; /* sort keys by row, overwritten by the pseudo-labels below */
        if (!isnan(target[i * K + col])) order[n++] = (int32_t)i;
    }
    *m = n;
    if (n == 0) return 0.0;
    sort_indices(order, work, n, pseudo);
    cg_dist_table_pseudo_labels(table, n, pseudo);
    double s = 0.0;
    for (int64_t r = 0; r < n; r++) {
        double d = (double)pred[(int64_t)order[r] * K + col] - pseudo[r];
        s += d * d;
    }
    return s / (double)n;
}

void cg_dist_loss_backward(float *dpred, float dloss, const float *pred, int64_t K, int64_t col,
                           const int32_t *order, const double *pseudo, int64_t m) {
    if (!dpred || m == 0) return;
    double k = 2.0 * (double)dloss / (double)m;
    for (int64_t r = 0; r < m; r++) {
        int64_t at = (int64_t)order[r] * K + col;
        dpred[at] += (float)(k * ((double)pred[at] - pseudo[r]));
    }
}

/* i[0]: K, i[1]: col, i[2]: m; aux[0]: order, aux[1]: pseudo */
static void dist_bw(const cg_tape_entry *e) {
    cg_dist_loss_backward(G(e->in[0]), e->out->grad[0], cg_f32(e->in[0]), e->i[0], e->i[1], e->aux[0], e->aux[1],
                          e->i[2]);
}

/* pred, target: B rows of K columns (shapes already checked equal) */
static cg_tensor *dist_loss(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, int64_t B, int64_t K, int64_t col,
                            const cg_dist_table *table) {
    char s1[64];
    if (B > INT32_MAX) return cg_ctx_fail(ctx, CG_ERR_SHAPE, "dist_loss: pred %s has too many rows", SHP(pred, s1));
    if (!table || !table->cdf || table->n_grid < 2)
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dist_loss: no pseudo-label table (cg_dist_table_build)");
    cg_tensor *out = scalar_out(ctx);
    int32_t *order = cg_arena_alloc(&ctx->arena, 2 * (size_t)B * sizeof(int32_t) + 1);
    double *pseudo = cg_arena_alloc(&ctx->arena, (size_t)B * sizeof(double) + 1);
    if (!out || !order || !pseudo) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dist_loss: out of memory");
    int64_t m = 0;
    cg_f32(out)[0] =
        (float)cg_dist_loss_forward(cg_f32(pred), cg_f32(target), B, K, col, table, order, order + B, pseudo, &m);
    cg_tape_entry *e = cg_tape_record(ctx, dist_bw, out, &pred, 1);
    if (e) {
        e->i[0] = K, e->i[1] = col, e->i[2] = m;
        e->aux[0] = order, e->aux[1] = pseudo;
    }
    return out;
}

static bool dist_inputs(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target) {
    if (!need_f32(ctx, "dist_loss", "pred", pred) || !need_f32(ctx, "dist_loss", "target", target)) return false;
    char s1[64], s2[64];
    if (!cg_same_shape(pred, target)) {
        cg_ctx_fail(ctx, CG_ERR_SHAPE, "dist_loss: pred %s and target %s differ in shape", SHP(pred, s1),
                    SHP(target, s2));
        return false;
    }
    return true;
}

cg_tensor *cg_dist_loss_col(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, int64_t col,
                            const cg_dist_table *table) {
    if (!pred || !target || !dist_inputs(ctx, pred, target)) return NULL;
    char s1[64];
    if (col < 0 || col >= cg_cols(pred))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "dist_loss: column %lld outside pred %s", (long long)col,
                           SHP(pred, s1));
    return dist_loss(ctx, pred, target, cg_rows(pred), cg_cols(pred), col, table);
}

cg_tensor *cg_dist_loss(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, const cg_dist_table *table) {
    if (!pred || !target || !dist_inputs(ctx, pred, target)) return NULL;
    char s1[64];
    if (pred->ndim != 1 && cg_cols(pred) != 1)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "dist_loss: pred %s is not one column (use cg_dist_loss_col)",
                           SHP(pred, s1));
    return dist_loss(ctx, pred, target, pred->numel, 1, 0, table);
}

// ----------------------------------------------------------------------------
// SupCR (Rank-N-Contrast)

/* running log-sum-exp: value mx + log(s) */
typedef struct lse_acc {
    double mx, s;
} lse_acc;

static inline void lse_add(lse_acc *a, double v) {
    if (v > a->mx) {
        a->s = a->s * exp(a->mx - v) + 1.0;
        a->mx = v;
    } else {
        a->s += exp(v - a->mx);
    }
}

static inline double lse_value(const lse_acc *a) { return a->mx + log(a->s); }

size_t cg_supcr_scratch_bytes(int64_t N) {
    /* per anchor: keys, lse (double [N]); idx, tmp (int32 [N]); plus the anchors' losses (double [N]) */
    return (size_t)N * (size_t)N * (2 * sizeof(double) + 2 * sizeof(int32_t)) + (size_t)N * sizeof(double) + 64;
}

double cg_supcr_forward(const float *z, const float *y, int64_t B, int64_t D, int64_t y_stride, float tau,
                        int32_t *rows, int64_t *n, double *r, double *dr, void *scratch) {
    int64_t N = 0;
    for (int64_t i = 0; i < B; i++)
        if (!isnan(y[i * y_stride])) rows[N++] = (int32_t)i;
    *n = N;
    if (N < 2) return 0.0;
    double *keys_all = scratch, *lse_all = keys_all + N * N, *anchor_loss = lse_all + N * N;
    int32_t *idx_all = (int32_t *)(anchor_loss + N), *tmp_all = idx_all + N * N;
    const double inv_tau = 1.0 / (double)tau, coef = 1.0 / ((double)N * (double)(N - 1));

#pragma omp parallel for schedule(static)
    for (int64_t a = 0; a < N; a++) {
        const float *za = z + (int64_t)rows[a] * D;
        for (int64_t b = 0; b < N; b++) {
            const float *zb = z + (int64_t)rows[b] * D;
            double s = 0.0;
            for (int64_t d = 0; d < D; d++) {
                double t = (double)za[d] - (double)zb[d];
                s += t * t;
            }
            r[a * N + b] = sqrt(s);
        }
    }

#pragma omp parallel for schedule(static)
    for (int64_t a = 0; a < N; a++) {
        double *key = keys_all + a * N, *lse = lse_all + a * N;
        int32_t *idx = idx_all + a * N, *tmp = tmp_all + a * N;
        const double *ra = r + a * N;
        double *dra = dr + a * N;
        double ya = y[(int64_t)rows[a] * y_stride];
        /* the others b != a, by ascending label distance d_ab */
        int64_t M = 0;
        for (int64_t b = 0; b < N; b++) {
            key[b] = fabs((double)y[(int64_t)rows[b] * y_stride] - ya);
            if (b != a) idx[M++] = (int32_t)b;
        }
        sort_indices(idx, tmp, M, key);
        /* lse[b] = log sum_{c != a, d_ac >= d_ab} exp(-r_ac / tau): suffix sums, equal distances together */
        lse_acc acc = {-INFINITY, 0.0};
        for (int64_t p1 = M; p1 > 0;) {
            int64_t p0 = p1 - 1;
            while (p0 > 0 && key[idx[p0 - 1]] == key[idx[p1 - 1]]) p0--;
            for (int64_t p = p0; p < p1; p++) lse_add(&acc, -ra[idx[p]] * inv_tau);
            double v = lse_value(&acc);
            for (int64_t p = p0; p < p1; p++) lse[idx[p]] = v;
            p1 = p0;
        }
        double loss = 0.0;
        for (int64_t p = 0; p < M; p++) loss += lse[idx[p]] + ra[idx[p]] * inv_tau;
        anchor_loss[a] = loss;
        /* dL/d(s_ac / tau) = coef * (-1 + sum_{b: d_ab <= d_ac} exp(s_ac / tau - lse[b])): prefix sums of
         * exp(-lse[b]) in log space, equal distances together */
        acc = (lse_acc){-INFINITY, 0.0};
        dra[a] = 0.0;
        for (int64_t p0 = 0; p0 < M;) {
            int64_t p1 = p0 + 1;
            while (p1 < M && key[idx[p1]] == key[idx[p0]]) p1++;
            for (int64_t p = p0; p < p1; p++) lse_add(&acc, -lse[idx[p]]);
            double T = lse_value(&acc);
            for (int64_t p = p0; p < p1; p++) {
                int64_t c = idx[p];
                double g = coef * (-1.0 + exp(-ra[c] * inv_tau + T)); /* dL/d(s_ac / tau) */
                dra[c] = -g * inv_tau;                                 /* s_ac = -r_ac */
            }
            p0 = p1;
        }
    }
    double total = 0.0;
    for (int64_t a = 0; a < N; a++) total += anchor_loss[a];
    return coef * total;
}

void cg_supcr_backward(float *dz, float dloss, const float *z, int64_t D, const int32_t *rows, int64_t n,
                       const double *r, const double *dr) {
    if (!dz || n < 2) return;
#pragma omp parallel for schedule(static)
    for (int64_t a = 0; a < n; a++) {
        const float *za = z + (int64_t)rows[a] * D;
        float *dza = dz + (int64_t)rows[a] * D;
        for (int64_t d = 0; d < D; d++) {
            double acc = 0.0;
            for (int64_t b = 0; b < n; b++) {
                double rab = r[a * n + b];
                if (b == a || !(rab > 0.0)) continue;
                acc += (dr[a * n + b] + dr[b * n + a]) / rab * ((double)za[d] - (double)z[(int64_t)rows[b] * D + d]);
            }
            dza[d] += (float)((double)dloss * acc);
        }
    }
}

/* i[0]: D, i[1]: n; aux[0]: rows, aux[1]: r, aux[2]: dr */
static void supcr_bw(const cg_tape_entry *e) {
    cg_supcr_backward(G(e->in[0]), e->out->grad[0], cg_f32(e->in[0]), e->i[0], e->aux[0], e->i[1], e->aux[1],
                      e->aux[2]);
}

static cg_tensor *supcr(cg_ctx *ctx, cg_tensor *z, cg_tensor *y, int64_t col, int64_t K, float tau) {
    int64_t B = cg_rows(z), D = cg_cols(z);
    char s1[64];
    if (!(tau > 0.0f) || !isfinite(tau))
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "supcr: temperature %g is not finite and > 0", (double)tau);
    if (B > INT32_MAX) return cg_ctx_fail(ctx, CG_ERR_SHAPE, "supcr: z %s has too many rows", SHP(z, s1));
    /* N valid rows: the N x N matrices r and dr (dr right after r) and the scratch are sized by N */
    int64_t N = 0;
    for (int64_t i = 0; i < B; i++) N += !isnan(cg_f32(y)[i * K + col]);
    cg_tensor *out = scalar_out(ctx);
    int32_t *rows = cg_arena_alloc(&ctx->arena, (size_t)B * sizeof(int32_t) + 1);
    double *r = cg_arena_alloc(&ctx->arena, 2 * (size_t)N * (size_t)N * sizeof(double) + 1);
    void *scratch = cg_arena_alloc(&ctx->arena, cg_supcr_scratch_bytes(N));
    if (!out || !rows || !r || !scratch) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "supcr: out of memory");
    int64_t n = 0;
    double *dr = r + N * N;
    cg_f32(out)[0] = (float)cg_supcr_forward(cg_f32(z), cg_f32(y) + col, B, D, K, tau, rows, &n, r, dr, scratch);
    cg_tape_entry *e = cg_tape_record(ctx, supcr_bw, out, &z, 1);
    if (e) {
        e->i[0] = D, e->i[1] = n;
        e->aux[0] = rows, e->aux[1] = r, e->aux[2] = dr;
    }
    return out;
}

cg_tensor *cg_supcr_loss_col(cg_ctx *ctx, cg_tensor *z, cg_tensor *y, int64_t col, float tau) {
    if (!z || !y) return NULL;
    if (!need_f32(ctx, "supcr", "z", z) || !need_f32(ctx, "supcr", "y", y)) return NULL;
    char s1[64], s2[64];
    if (cg_rows(y) != cg_rows(z) || col < 0 || col >= cg_cols(y))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "supcr: labels %s (column %lld) do not match z %s", SHP(y, s2),
                           (long long)col, SHP(z, s1));
    return supcr(ctx, z, y, col, cg_cols(y), tau);
}

cg_tensor *cg_supcr_loss(cg_ctx *ctx, cg_tensor *z, cg_tensor *y, float tau) {
    if (!z || !y) return NULL;
    if (!need_f32(ctx, "supcr", "z", z) || !need_f32(ctx, "supcr", "y", y)) return NULL;
    char s1[64], s2[64];
    if (y->numel != cg_rows(z))
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "supcr: labels %s are not one per row of z %s", SHP(y, s2),
                           SHP(z, s1));
    return supcr(ctx, z, y, 0, 1, tau);
}

// ----------------------------------------------------------------------------
// composite loss

cg_tensor *cg_composite_loss(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, cg_tensor *z_p, const float *weights,
                             float lambda_dist, const cg_dist_table *dist_tables, float lambda_supcr, float tau,
                             cg_loss_terms *terms) {
    return cg_composite_loss_base(ctx, false, pred, target, NULL, z_p, weights, lambda_dist, dist_tables, lambda_supcr,
                                  tau, terms);
}

cg_tensor *cg_composite_loss_base(cg_ctx *ctx, bool logcosh, cg_tensor *pred, cg_tensor *target,
                                  const float *sample_weights, cg_tensor *z_p, const float *weights, float lambda_dist,
                                  const cg_dist_table *dist_tables, float lambda_supcr, float tau, cg_loss_terms *terms) {
    if (terms) memset(terms, 0, sizeof *terms);
    if (!pred || !target) return NULL;
    if (!(lambda_dist >= 0.0f) || !isfinite(lambda_dist) || !(lambda_supcr >= 0.0f) || !isfinite(lambda_supcr))
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "composite_loss: lambda_dist %g / lambda_supcr %g not finite and >= 0",
                           (double)lambda_dist, (double)lambda_supcr);
    if (lambda_dist > 0.0f && !dist_tables)
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "composite_loss: lambda_dist > 0 needs one dist table per label");
    if (lambda_supcr > 0.0f && !z_p) {
        if (ctx->status != CG_OK) return NULL; /* z_p is NULL because an earlier op failed */
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "composite_loss: lambda_supcr > 0 needs z_p");
    }
    cg_tensor *total = cg_masked_loss_sw(ctx, logcosh, pred, target, weights, sample_weights);
    if (!total) return NULL;
    if (terms) terms->mse = total;
    int64_t K = cg_cols(pred);
    for (int term = 0; term < 2; term++) {
        float lambda = term == 0 ? lambda_dist : lambda_supcr;
        if (lambda == 0.0f) continue;
        cg_tensor *sum = NULL;
        for (int64_t k = 0; k < K; k++) {
            float w = weights ? weights[k] : 1.0f;
            if (w == 0.0f) continue;
            cg_tensor *t = term == 0 ? cg_dist_loss_col(ctx, pred, target, k, &dist_tables[k])
                                     : cg_supcr_loss_col(ctx, z_p, target, k, tau);
            if (w != 1.0f) t = cg_scale(ctx, t, w);
            sum = sum ? cg_add(ctx, sum, t) : t;
            if (!sum) return NULL;
        }
        if (!sum) continue; /* every label weight is 0 */
        if (terms) *(term == 0 ? &terms->dist : &terms->supcr) = sum;
        total = cg_add(ctx, total, cg_scale(ctx, sum, lambda));
        if (!total) return NULL;
    }
    return total;
}
