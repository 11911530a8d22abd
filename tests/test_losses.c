/* The training losses (cellgraph/losses.h): each forward against a double-precision reference written
 * here, each input gradient (through the tape) against central finite differences of that reference,
 * with NaN targets present; the DistLoss pseudo-label table against the KDE it defines and against a
 * known distribution; the DistLoss gradient sign; SupCR's anchor exclusion on a hand-computed example;
 * bitwise determinism across thread counts. Inputs avoid the kinks of the sort (no tied predictions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "cellgraph/losses.h"
#include "cellgraph/params.h"
#include "cellgraph/threads.h"
#include "testutil.h"

#define MAXIN 4

// ----------------------------------------------------------------------------
// the harness: a scalar loss of up to 4 inputs (parameters, so that the tape records)

typedef struct loss_case {
    const char *name;
    int n_in;
    int64_t rows[MAXIN], cols[MAXIN];
    bool check_grad[MAXIN];            /* inputs whose gradient is checked (the others need none) */
    void (*init)(float *const *x);     /* fills the inputs (NaN targets, spaced predictions) */
    double (*ref)(const double *const *in);
    cg_tensor *(*build)(cg_ctx *ctx, cg_tensor **in);
    double fwd_tol, bwd_tol;
} loss_case;

static void run_loss_case(const loss_case *c) {
    cg_param_store ps;
    cg_params_init(&ps);
    cg_tensor *in[MAXIN] = {0};
    for (int k = 0; k < c->n_in; k++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", k);
        int64_t shape[2] = {c->rows[k], c->cols[k]};
        assert_int_equal(cg_params_add(&ps, name, 2, shape, &in[k]), CG_OK);
    }
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    float *xs[MAXIN] = {0};
    double *din[MAXIN] = {0};
    for (int k = 0; k < c->n_in; k++) xs[k] = cg_f32(in[k]);
    c->init(xs);
    for (int k = 0; k < c->n_in; k++) {
        din[k] = malloc(in[k]->numel * sizeof(double));
        for (int64_t j = 0; j < in[k]->numel; j++) din[k][j] = xs[k][j];
        in[k]->requires_grad = c->check_grad[k];
    }
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 16, 7), CG_OK);
    cg_tensor *out = c->build(&ctx, in);
    if (!out) print_error("%s: %s\n", c->name, cg_last_error());
    assert_non_null(out);
    assert_int_equal(out->numel, 1);

    double want = c->ref((const double *const *)din);
    char label[96];
    snprintf(label, sizeof label, "%s forward", c->name);
    tu_check_close(label, cg_f32(out), &want, 1, c->fwd_tol > 0 ? c->fwd_tol : 1e-5, 1e-6);

    /* backward seeded with dloss = 0.7 (checks that the seed scales every gradient) */
    const float seed = 0.7f;
    assert_int_equal(cg_backward_from(&ctx, out, &seed), CG_OK);
    for (int k = 0; k < c->n_in; k++) {
        if (!c->check_grad[k]) continue;
        int64_t n = in[k]->numel;
        double *fd = malloc(n * sizeof(double));
        double maxabs = 0;
        for (int64_t j = 0; j < n; j++) {
            double x0 = din[k][j], h = 1e-6 * fmax(1.0, fabs(x0));
            din[k][j] = x0 + h;
            double lp = c->ref((const double *const *)din);
            din[k][j] = x0 - h;
            double lm = c->ref((const double *const *)din);
            din[k][j] = x0;
            fd[j] = isnan(x0) ? 0.0 : seed * (lp - lm) / (2 * h);
            maxabs = fmax(maxabs, fabs(fd[j]));
        }
        assert_non_null(in[k]->grad);
        snprintf(label, sizeof label, "%s d/d(input %d)", c->name, k);
        tu_check_close(label, in[k]->grad, fd, n, c->bwd_tol > 0 ? c->bwd_tol : 2e-4, fmax(1e-2 * maxabs, 1e-6));
        free(fd);
    }
    for (int k = 0; k < c->n_in; k++) free(din[k]);
    cg_ctx_free(&ctx);
    cg_params_free(&ps);
}

/* fixed-seed standard normal samples (Box-Muller over the test generator) */
static void fill_normal(float *x, int64_t n, double mean, double sd, uint64_t seed) {
    float *u = malloc(2 * n * sizeof(float));
    tu_fill_uniform(u, 2 * n, 0.0f, 1.0f, seed);
    for (int64_t i = 0; i < n; i++) {
        double u1 = 1.0 - (double)u[2 * i], u2 = u[2 * i + 1]; /* u1 in (0, 1] */
        x[i] = (float)(mean + sd * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
    free(u);
}

static double std_normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* inverse of a continuous increasing cdf by bisection on [lo, hi] */
static double invert_cdf(double (*cdf)(double, const void *), const void *arg, double u, double lo, double hi) {
    for (int it = 0; it < 64; it++) {
        double mid = 0.5 * (lo + hi);
        if (cdf(mid, arg) < u)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static double normal_cdf_arg(double x, const void *arg) {
    (void)arg;
    return std_normal_cdf(x);
}

// ----------------------------------------------------------------------------
// masked, label-weighted MSE and LogCosh

enum { MB = 7, MK = 4 };
static const float g_w[MK] = {0.5f, 1.0f, 2.0f, 3.0f};
static bool g_use_w;
static bool g_logcosh;
static bool g_use_sw;       /* per-entry sample weights (cg_masked_loss_sw) */
static float g_sw[MB * MK]; /* in [0, 3), every fifth 0 */

static void init_masked(float *const *x) {
    tu_fill_uniform(x[0], MB * MK, -2.0f, 2.0f, 11);
    tu_fill_uniform(x[1], MB * MK, -2.0f, 2.0f, 12);
    for (int i = 0; i < MB; i++)
        for (int k = 0; k < MK; k++)
            if ((i * MK + k) % 3 == 1 || k == MK - 1) x[1][i * MK + k] = NAN; /* label 3: no valid row */
}

static double ref_logcosh(double x) { return log(cosh(x)); }

static double ref_masked(const double *const *in) {
    double L = 0;
    for (int k = 0; k < MK; k++) {
        double s = 0;
        int n = 0;
        for (int i = 0; i < MB; i++) {
            double t = in[1][i * MK + k];
            if (isnan(t)) continue;
            double d = in[0][i * MK + k] - t;
            s += (g_use_sw ? (double)g_sw[i * MK + k] : 1.0) * (g_logcosh ? ref_logcosh(d) : d * d);
            n++;
        }
        if (n > 0) L += (g_use_w ? g_w[k] : 1.0) * s / n;
    }
    return L;
}

static cg_tensor *build_masked(cg_ctx *ctx, cg_tensor **in) {
    const float *w = g_use_w ? g_w : NULL;
    if (g_use_sw) return cg_masked_loss_sw(ctx, g_logcosh, in[0], in[1], w, g_sw);
    return g_logcosh ? cg_logcosh_loss(ctx, in[0], in[1], w) : cg_mse_weighted(ctx, in[0], in[1], w);
}

static void test_masked_losses(void **state) {
    (void)state;
    tu_fill_uniform(g_sw, MB * MK, 0.0f, 3.0f, 13);
    for (int i = 0; i < MB * MK; i += 5) g_sw[i] = 0.0f;
    for (int lc = 0; lc < 2; lc++)
        for (int uw = 0; uw < 2; uw++)
            for (int us = 0; us < 2; us++) {
                g_logcosh = lc, g_use_w = uw, g_use_sw = us;
                loss_case c = {.name = us ? (lc ? "masked_loss_sw logcosh" : "masked_loss_sw mse")
                                          : (lc ? "logcosh_loss" : "mse_weighted"),
                               .n_in = 2, .rows = {MB, MB}, .cols = {MK, MK}, .check_grad = {true, true},
                               .init = init_masked, .ref = ref_masked, .build = build_masked};
                run_loss_case(&c);
            }
    g_use_sw = false;
    /* a negative or NaN sample weight is an error naming its entry */
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    float p[4] = {0, 1, 2, 3}, t[4] = {1, 1, 1, 1}, bad[4] = {1, 1, -1, 1};
    assert_null(cg_masked_loss_sw(&ctx, true, cg_tensor_wrap2(&ctx, 2, 2, p), cg_tensor_wrap2(&ctx, 2, 2, t), NULL, bad));
    assert_non_null(strstr(cg_last_error(), "sample weight [1, 0]"));
    cg_ctx_free(&ctx);
}

/* the exact normalisation, on numbers small enough to do by hand */
static void test_mse_normalisation(void **state) {
    (void)state;
    /* label 0: rows 0, 2 valid, errors 1 and 3 -> mean 5; label 1: row 1 valid, error 2 -> 4; label 2: none */
    float pred[9] = {1, 0, 0, 5, 2, 0, 3, 0, 0};
    float target[9] = {0, NAN, NAN, NAN, 0, NAN, 0, NAN, NAN};
    float w[3] = {2.0f, 0.25f, 7.0f};
    int64_t count[3];
    assert_true(fabs(cg_mse_weighted_forward(pred, target, w, 3, 3, count) - (2.0 * 5 + 0.25 * 4)) < 1e-12);
    assert_int_equal(count[0], 2);
    assert_int_equal(count[1], 1);
    assert_int_equal(count[2], 0);
    assert_true(fabs(cg_mse_weighted_forward(pred, target, NULL, 3, 3, count) - 9.0) < 1e-12);
    float dpred[9] = {0};
    cg_mse_weighted_backward(dpred, NULL, 1.0f, pred, target, w, count, 3, 3);
    float want[9] = {2.0f * 2 * 1 / 2, 0, 0, 0, 0.25f * 2 * 2, 0, 2.0f * 2 * 3 / 2, 0, 0};
    for (int i = 0; i < 9; i++) assert_true(fabs(dpred[i] - want[i]) < 1e-6);
}

/* log cosh for large |x| (cosh overflows in float at 89, in double at 710) and tiny x */
static void test_logcosh_stable(void **state) {
    (void)state;
    float pred[4] = {1000.0f, -1000.0f, 30.0f, 1e-4f};
    float target[4] = {0, 0, 0, 0};
    int64_t count;
    double want = (2 * (1000.0 - log(2.0)) + log(cosh(30.0)) + log(cosh(1e-4))) / 4;
    double got = cg_logcosh_loss_forward(pred, target, NULL, 4, 1, &count);
    assert_true(isfinite(got));
    assert_true(fabs(got - want) < 1e-12 * want);
    float d[4] = {0};
    cg_logcosh_loss_backward(d, NULL, 1.0f, pred, target, NULL, &count, 4, 1);
    assert_true(fabs(d[0] - 0.25f) < 1e-7 && fabs(d[1] + 0.25f) < 1e-7);
    assert_true(fabs(d[3] - 0.25 * tanh(1e-4)) < 1e-12);
}

// ----------------------------------------------------------------------------
// DistLoss: the pseudo-label table

typedef struct kde {
    const float *y;
    int64_t n;
    double h;
} kde;

static double kde_cdf(double x, const void *arg) {
    const kde *k = arg;
    double s = 0;
    for (int64_t i = 0; i < k->n; i++) s += std_normal_cdf((x - k->y[i]) / k->h);
    return s / k->n;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_dist_table_normal(void **state) {
    (void)state;
    enum { N = 10000, M = 20 };
    const double mu = 3.0, sigma = 2.0;
    float *y = malloc(N * sizeof(float));
    fill_normal(y, N, mu, sigma, 2024);
    cg_dist_table t;
    assert_int_equal(cg_dist_table_build(&t, y, N, 1, 0.0, 0), CG_OK);
    assert_int_equal(t.n_labels, N);
    assert_int_equal(t.n_grid, CG_DIST_GRID_DEFAULT);

    /* Silverman's bandwidth, recomputed here */
    float *s = malloc(N * sizeof(float));
    memcpy(s, y, N * sizeof(float));
    qsort(s, N, sizeof(float), cmp_float);
    double mean = 0, ss = 0;
    for (int i = 0; i < N; i++) mean += s[i];
    mean /= N;
    for (int i = 0; i < N; i++) ss += (s[i] - mean) * (s[i] - mean);
    double sd = sqrt(ss / (N - 1));
    double q1 = s[2499] + 0.75 * (s[2500] - s[2499]), q3 = s[7499] + 0.25 * (s[7500] - s[7499]); /* at p (n - 1) */
    double h = 0.9 * fmin(sd, (q3 - q1) / 1.34) * pow(N, -0.2);
    assert_true(fabs(t.bandwidth - h) < 1e-9 * h);
    assert_true(fabs(t.sd - sd) < 1e-9 * sd && fabs(t.mean - mean) < 1e-9);

    double q[M];
    cg_dist_table_pseudo_labels(&t, M, q);
    kde k = {y, N, t.bandwidth};
    double worst_kde = 0, worst_normal = 0;
    for (int r = 0; r < M; r++) {
        double u = (r + 0.5) / M;
        if (r > 0) assert_true(q[r] > q[r - 1]);
        /* the table inverts the KDE it defines (grid interpolation error only) */
        double exact = invert_cdf(kde_cdf, &k, u, mu - 10 * sigma, mu + 10 * sigma);
        worst_kde = fmax(worst_kde, fabs(q[r] - exact));
        /* the normal's quantiles, within the sampling error of 10,000 random samples (the standard error
         * of the 2.5% quantile is 0.027 sigma; 0.08 sigma is 3 of them) */
        double normal = mu + sigma * invert_cdf(normal_cdf_arg, NULL, u, -10, 10);
        worst_normal = fmax(worst_normal, fabs(q[r] - normal) / sigma);
    }
    if (!(worst_kde < 1e-4 * sigma && worst_normal < 0.08))
        print_error("dist table: |q - KDE quantile| %.3g, |q - normal quantile| / sigma %.3g\n", worst_kde,
                    worst_normal);
    assert_true(worst_kde < 1e-4 * sigma);
    assert_true(worst_normal < 0.08);

    /* 10,000 stratified normal samples (y_i = mu + sigma Phi^-1((i + 0.5) / N): no sampling noise): the
     * pseudo-labels are the normal's quantiles within 2% (relative to their distance from the mean; the
     * KDE's own smoothing widens the distribution by sqrt(1 + (h / sigma)^2) - 1 = 1.0%) */
    for (int i = 0; i < N; i++) y[i] = (float)(mu + sigma * invert_cdf(normal_cdf_arg, NULL, (i + 0.5) / N, -10, 10));
    cg_dist_table ts;
    assert_int_equal(cg_dist_table_build(&ts, y, N, 1, 0.0, 0), CG_OK);
    cg_dist_table_pseudo_labels(&ts, M, q);
    double worst_rel = 0;
    for (int r = 0; r < M; r++) {
        double dev = sigma * invert_cdf(normal_cdf_arg, NULL, (r + 0.5) / M, -10, 10);
        worst_rel = fmax(worst_rel, fabs((q[r] - mu) / dev - 1.0));
    }
    if (!(worst_rel < 0.02)) print_error("dist table: stratified normal, worst relative error %.3g\n", worst_rel);
    assert_true(worst_rel < 0.02);
    cg_dist_table_free(&ts);
    /* the extremes of the table */
    assert_true(cg_dist_table_quantile(&t, 0.0) == t.lo);
    assert_true(cg_dist_table_quantile(&t, 0.5) > mu - 0.05 && cg_dist_table_quantile(&t, 0.5) < mu + 0.05);

    /* NaN labels are skipped; a given bandwidth is used as is; the stride picks a column */
    float two[2 * 6] = {1, NAN, 2, 5, NAN, 5, 3, 5, 4, NAN, NAN, 5};
    cg_dist_table t2;
    assert_int_equal(cg_dist_table_build(&t2, two, 6, 2, 0.25, 64), CG_OK);
    assert_int_equal(t2.n_labels, 4);
    assert_true(t2.bandwidth == 0.25);
    assert_true(fabs(t2.mean - 2.5) < 1e-12);
    assert_true(fabs(cg_dist_table_quantile(&t2, 0.5) - 2.5) < 1e-3); /* symmetric KDE */
    cg_dist_table_free(&t2);
    /* all labels equal: a tiny bandwidth, every pseudo-label at the value */
    assert_int_equal(cg_dist_table_build(&t2, two + 1, 6, 2, 0.0, 0), CG_OK);
    assert_int_equal(t2.n_labels, 4);
    assert_true(fabs(cg_dist_table_quantile(&t2, 0.1) - 5.0) < 0.02 && fabs(cg_dist_table_quantile(&t2, 0.9) - 5.0) < 0.02);
    cg_dist_table_free(&t2);
    cg_dist_table_free(&t2); /* safe twice */

    cg_dist_table_free(&t);
    free(s);
    free(y);
}

// ----------------------------------------------------------------------------
// DistLoss: the loss

static cg_dist_table g_tables[2];

/* training labels of two skewed distributions */
static void build_tables(void) {
    enum { NT = 400 };
    float *y = malloc(2 * NT * sizeof(float));
    tu_fill_uniform(y, 2 * NT, 0.0f, 1.0f, 77);
    for (int i = 0; i < NT; i++) {
        y[2 * i] = (float)(-log(1.0 - y[2 * i]));              /* exponential(1) */
        y[2 * i + 1] = (float)(2.0 * y[2 * i + 1] * y[2 * i + 1] - 0.5); /* skewed on [-0.5, 1.5] */
        if (i % 7 == 3) y[2 * i + 1] = NAN;
    }
    for (int k = 0; k < 2; k++) assert_int_equal(cg_dist_table_build(&g_tables[k], y + k, NT, 2, 0.0, 0), CG_OK);
    free(y);
}

/* reference DistLoss of column col of pred/target [B, K] in double */
static double ref_dist(const double *pred, const double *target, int B, int K, int col, const cg_dist_table *t) {
    double p[64], q[64];
    int m = 0;
    for (int i = 0; i < B; i++)
        if (!isnan(target[i * K + col])) p[m++] = pred[i * K + col];
    if (m == 0) return 0;
    for (int a = 1; a < m; a++) /* insertion sort */
        for (int b = a; b > 0 && p[b] < p[b - 1]; b--) {
            double tmp = p[b];
            p[b] = p[b - 1];
            p[b - 1] = tmp;
        }
    cg_dist_table_pseudo_labels(t, m, q);
    double s = 0;
    for (int r = 0; r < m; r++) s += (p[r] - q[r]) * (p[r] - q[r]);
    return s / m;
}

enum { DB = 9 };

/* distinct predictions (gaps >= 0.1): a shuffled ladder plus jitter */
static void fill_ladder(float *x, int n, int stride, float lo, float gap, uint64_t seed) {
    float jit[64];
    tu_fill_uniform(jit, n, 0.0f, 0.5f * gap, seed);
    for (int i = 0; i < n; i++) {
        int rank = (i * 5 + 3) % n; /* 5 is coprime with the sizes used */
        x[i * stride] = lo + gap * rank + jit[i];
    }
}

static void init_dist(float *const *x) {
    fill_ladder(x[0], DB, 1, -0.5f, 0.35f, 5);
    tu_fill_uniform(x[1], DB, 0.0f, 3.0f, 6);
    x[1][2] = x[1][6] = NAN;
}

static double ref_dist_case(const double *const *in) { return ref_dist(in[0], in[1], DB, 1, 0, &g_tables[0]); }

static cg_tensor *build_dist(cg_ctx *ctx, cg_tensor **in) { return cg_dist_loss(ctx, in[0], in[1], &g_tables[0]); }

static void test_dist_loss_grad(void **state) {
    (void)state;
    loss_case c = {.name = "dist_loss", .n_in = 2, .rows = {DB, DB}, .cols = {1, 1}, .check_grad = {true, false},
                   .init = init_dist, .ref = ref_dist_case, .build = build_dist};
    run_loss_case(&c);
}

/* a prediction above its matched pseudo-label gets a positive gradient, below a negative one; the
 * gradient goes back through the sort to the right rows; a NaN-target row gets none */
static void test_dist_loss_sign(void **state) {
    (void)state;
    enum { NT = 101 };
    float labels[NT];
    for (int i = 0; i < NT; i++) labels[i] = (float)(0.1 * i); /* uniform on [0, 10] */
    cg_dist_table t;
    assert_int_equal(cg_dist_table_build(&t, labels, NT, 1, 0.0, 0), CG_OK);
    double q[4];
    cg_dist_table_pseudo_labels(&t, 4, q); /* about 1.25, 3.75, 6.25, 8.75 */
    for (int r = 1; r < 4; r++) assert_true(q[r] - q[r - 1] > 2.0);
    const double off[5] = {0.2, -0.3, 0.4, -0.1, 0.0};
    const int match[5] = {2, 0, 3, 1, 0};
    float pred[5], target[5] = {1, 1, 1, 1, NAN};
    for (int i = 0; i < 4; i++) pred[i] = (float)(q[match[i]] + off[i]);
    pred[4] = 100.0f; /* far above everything, but its target is missing */

    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 12, 1), CG_OK);
    int64_t five = 5; /* 1-d [B] tensors (the gradient check uses [B, 1]) */
    cg_tensor *p = cg_tensor_wrap(&ctx, CG_F32, 1, &five, pred), *y = cg_tensor_wrap(&ctx, CG_F32, 1, &five, target);
    float dp[5] = {0};
    p->requires_grad = true;
    p->grad = dp;
    cg_tensor *L = cg_dist_loss(&ctx, p, y, &t);
    assert_non_null(L);
    double want = 0;
    for (int i = 0; i < 4; i++) want += off[i] * off[i] / 4;
    assert_true(fabs(cg_f32(L)[0] - want) < 1e-5);
    assert_int_equal(cg_backward(&ctx, L), CG_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(off[i] > 0 ? dp[i] > 0 : dp[i] < 0);
        assert_true(fabs(dp[i] - 2 * off[i] / 4) < 1e-5);
    }
    assert_true(dp[4] == 0.0f);
    cg_ctx_free(&ctx);
    cg_dist_table_free(&t);
}

// ----------------------------------------------------------------------------
// SupCR

/* reference Rank-N-Contrast loss, O(N^3), log-sum-exp in double */
static double ref_supcr(const double *z, const double *y, int B, int D, int y_stride, double tau) {
    int rows[128], N = 0;
    for (int i = 0; i < B; i++)
        if (!isnan(y[i * y_stride])) rows[N++] = i;
    if (N < 2) return 0;
    static double a[128][128];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int d = 0; d < D; d++) {
                double t = z[rows[i] * D + d] - z[rows[j] * D + d];
                s += t * t;
            }
            a[i][j] = -sqrt(s) / tau;
        }
    double L = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            if (j == i) continue;
            double dij = fabs(y[rows[i] * y_stride] - y[rows[j] * y_stride]), mx = -INFINITY, s = 0;
            for (int k = 0; k < N; k++)
                if (k != i && fabs(y[rows[i] * y_stride] - y[rows[k] * y_stride]) >= dij) mx = fmax(mx, a[i][k]);
            for (int k = 0; k < N; k++)
                if (k != i && fabs(y[rows[i] * y_stride] - y[rows[k] * y_stride]) >= dij) s += exp(a[i][k] - mx);
            L += mx + log(s) - a[i][j];
        }
    return L / ((double)N * (N - 1));
}

enum { SB = 8, SD = 3 };
static double g_tau = 0.5;

static void init_supcr(float *const *x) {
    tu_fill_uniform(x[0], SB * SD, -1.0f, 1.0f, 31);
    const float y[SB] = {0.0f, NAN, 0.5f, 0.5f, 1.0f, NAN, 2.0f, 0.5f}; /* tied label distances on purpose */
    memcpy(x[1], y, sizeof y);
}

static double ref_supcr_case(const double *const *in) { return ref_supcr(in[0], in[1], SB, SD, 1, g_tau); }

static cg_tensor *build_supcr(cg_ctx *ctx, cg_tensor **in) { return cg_supcr_loss(ctx, in[0], in[1], (float)g_tau); }

static void test_supcr_grad(void **state) {
    (void)state;
    const double taus[3] = {0.5, 0.1, 2.0};
    for (int t = 0; t < 3; t++) {
        g_tau = taus[t];
        loss_case c = {.name = "supcr", .n_in = 2, .rows = {SB, SB}, .cols = {SD, 1}, .check_grad = {true, false},
                       .init = init_supcr, .ref = ref_supcr_case, .build = build_supcr};
        run_loss_case(&c);
    }
}

/* z = (0, 1, 3) in 1-d, y = (0, 0, 1), tau = 1: a_ij = -|z_i - z_j|.
 * anchor 0: j=1 (d=0): S = {1, 2} -> 1 + log(e^-1 + e^-3);  j=2 (d=1): S = {2} -> 0
 * anchor 1: j=0 (d=0): S = {0, 2} -> 1 + log(e^-1 + e^-2);  j=2: S = {2} -> 0
 * anchor 2: j=0, j=1 (d=1 both): S = {0, 1} -> 3 + log(e^-3 + e^-2) and 2 + log(e^-3 + e^-2)
 * L = sum / (3 * 2). torchcell's version also puts the anchor (exp(0) = 1) in the two d = 0 sums. */
static void test_supcr_hand(void **state) {
    (void)state;
    float z[3] = {0, 1, 3}, y[3] = {0, 0, 1};
    double want = ((1 + log(exp(-1) + exp(-3))) + (1 + log(exp(-1) + exp(-2))) + (3 + log(exp(-3) + exp(-2))) +
                   (2 + log(exp(-3) + exp(-2)))) / 6;
    double buggy = ((1 + log(1 + exp(-1) + exp(-3))) + (1 + log(1 + exp(-1) + exp(-2))) +
                    (3 + log(exp(-3) + exp(-2))) + (2 + log(exp(-3) + exp(-2)))) / 6;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 12, 1), CG_OK);
    int64_t three = 3;
    cg_tensor *tz = cg_tensor_wrap2(&ctx, 3, 1, z), *ty = cg_tensor_wrap(&ctx, CG_F32, 1, &three, y);
    float dz[3] = {0};
    tz->requires_grad = true;
    tz->grad = dz;
    cg_tensor *L = cg_supcr_loss(&ctx, tz, ty, 1.0f);
    assert_non_null(L);
    assert_true(fabs(cg_f32(L)[0] - want) < 1e-6);
    assert_true(fabs(buggy - want) > 0.3);
    assert_int_equal(cg_backward(&ctx, L), CG_OK);
    /* translation invariance: the gradients sum to 0 */
    assert_true(fabs(dz[0] + dz[1] + dz[2]) < 1e-6);
    /* tiny temperature: finite and equal to the stable reference */
    double zd[3] = {0, 1, 3}, yd[3] = {0, 0, 1};
    cg_tensor *L2 = cg_supcr_loss(&ctx, tz, ty, 1e-3f);
    assert_non_null(L2);
    double want2 = ref_supcr(zd, yd, 3, 1, 1, (double)1e-3f);
    assert_true(isfinite(cg_f32(L2)[0]) && fabs(cg_f32(L2)[0] - want2) < 1e-5 * want2);
    /* fewer than two valid rows: 0 */
    float y1[3] = {NAN, 1, NAN};
    cg_tensor *L3 = cg_supcr_loss(&ctx, tz, cg_tensor_wrap(&ctx, CG_F32, 1, &three, y1), 0.1f);
    assert_non_null(L3);
    assert_true(cg_f32(L3)[0] == 0.0f);
    cg_ctx_free(&ctx);
}

// ----------------------------------------------------------------------------
// composite loss

enum { CB = 8, CK = 2, CD = 3 };
static const float g_cw[CK] = {1.0f, 0.5f};
static const float LAMBDA_DIST = 0.3f, LAMBDA_SUPCR = 0.2f, TAU = 0.7f;

static void init_composite(float *const *x) {
    fill_ladder(x[0], CB, CK, -0.3f, 0.4f, 41);
    fill_ladder(x[0] + 1, CB, CK, -1.0f, 0.3f, 42);
    tu_fill_uniform(x[1], CB * CK, 0.0f, 2.0f, 43);
    x[1][0 * CK + 0] = x[1][3 * CK + 0] = NAN;
    x[1][3 * CK + 1] = x[1][6 * CK + 1] = x[1][7 * CK + 1] = NAN;
    tu_fill_uniform(x[2], CB * CD, -1.0f, 1.0f, 44);
}

static double ref_composite(const double *const *in) {
    double L = 0;
    for (int k = 0; k < CK; k++) {
        double s = 0;
        int n = 0;
        for (int i = 0; i < CB; i++)
            if (!isnan(in[1][i * CK + k])) {
                double d = in[0][i * CK + k] - in[1][i * CK + k];
                s += d * d;
                n++;
            }
        L += g_cw[k] * s / n;
        L += LAMBDA_DIST * g_cw[k] * ref_dist(in[0], in[1], CB, CK, k, &g_tables[k]);
        L += LAMBDA_SUPCR * g_cw[k] * ref_supcr(in[2], in[1] + k, CB, CD, CK, TAU);
    }
    return L;
}

static cg_loss_terms g_terms;

static cg_tensor *build_composite(cg_ctx *ctx, cg_tensor **in) {
    return cg_composite_loss(ctx, in[0], in[1], in[2], g_cw, LAMBDA_DIST, g_tables, LAMBDA_SUPCR, TAU, &g_terms);
}

static void test_composite(void **state) {
    (void)state;
    loss_case c = {.name = "composite", .n_in = 3, .rows = {CB, CB, CB}, .cols = {CK, CK, CD},
                   .check_grad = {true, false, true}, .init = init_composite, .ref = ref_composite,
                   .build = build_composite};
    run_loss_case(&c);
    assert_non_null(g_terms.mse);
    assert_non_null(g_terms.dist);
    assert_non_null(g_terms.supcr);

    /* lambdas 0: the MSE alone, no z_p or tables needed */
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 12, 1), CG_OK);
    float p[4] = {1, 2, 3, 4}, t[4] = {1, NAN, 2, 4};
    cg_loss_terms terms;
    cg_tensor *L = cg_composite_loss(&ctx, cg_tensor_wrap2(&ctx, 2, 2, p), cg_tensor_wrap2(&ctx, 2, 2, t), NULL,
                                     NULL, 0.0f, NULL, 0.0f, 0.1f, &terms);
    assert_non_null(L);
    assert_true(fabs(cg_f32(L)[0] - 0.5) < 1e-6); /* label 0: (0^2 + 1^2) / 2; label 1: 0^2 / 1 */
    assert_true(terms.mse == L && terms.dist == NULL && terms.supcr == NULL);
    cg_ctx_free(&ctx);
}

// ----------------------------------------------------------------------------
// determinism across thread counts

typedef struct det_result {
    float loss[4];
    float *grad[4];
} det_result;

enum { DETB = 9000, DETK = 2, SUPB = 128, SUPD = 16 };

static void det_run(int threads, float *const *x, det_result *r) {
    assert_int_equal(cg_set_num_threads(threads), CG_OK);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 20, 1), CG_OK);
    const int64_t rows[4] = {DETB, DETB, DETB, SUPB}, cols[4] = {DETK, DETK, 1, SUPD};
    for (int op = 0; op < 4; op++) {
        cg_tensor *p = cg_tensor_wrap2(&ctx, rows[op], cols[op], op == 3 ? x[2] : x[0]);
        cg_tensor *y = op == 3 ? cg_tensor_wrap2(&ctx, SUPB, 1, x[3]) : cg_tensor_wrap2(&ctx, DETB, cols[op], x[1]);
        memset(r->grad[op], 0, rows[op] * cols[op] * sizeof(float));
        p->requires_grad = true;
        p->grad = r->grad[op];
        cg_tensor *L = op == 0   ? cg_mse_weighted(&ctx, p, y, g_cw)
                       : op == 1 ? cg_logcosh_loss(&ctx, p, y, NULL)
                       : op == 2 ? cg_dist_loss(&ctx, p, y, &g_tables[0])
                                 : cg_supcr_loss(&ctx, p, y, 0.2f);
        assert_non_null(L);
        r->loss[op] = cg_f32(L)[0];
        assert_int_equal(cg_backward(&ctx, L), CG_OK);
        assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    }
    cg_ctx_free(&ctx);
}

static void test_determinism(void **state) {
    (void)state;
    int saved = cg_get_num_threads();
    float *x[4];
    x[0] = malloc(DETB * DETK * sizeof(float));
    x[1] = malloc(DETB * DETK * sizeof(float));
    x[2] = malloc(SUPB * SUPD * sizeof(float));
    x[3] = malloc(SUPB * sizeof(float));
    tu_fill_uniform(x[0], DETB * DETK, -2.0f, 2.0f, 51);
    tu_fill_uniform(x[1], DETB * DETK, -2.0f, 2.0f, 52);
    for (int i = 0; i < DETB * DETK; i += 7) x[1][i] = NAN;
    tu_fill_uniform(x[2], SUPB * SUPD, -1.0f, 1.0f, 53);
    tu_fill_uniform(x[3], SUPB, 0.0f, 1.0f, 54);
    for (int i = 0; i < SUPB; i += 9) x[3][i] = NAN;
    det_result res[3];
    const int64_t n[4] = {DETB * DETK, DETB * DETK, DETB, SUPB * SUPD};
    for (int t = 0; t < 3; t++)
        for (int op = 0; op < 4; op++) res[t].grad[op] = malloc(n[op] * sizeof(float));
    const int threads[3] = {1, 2, 3};
    for (int t = 0; t < 3; t++) det_run(threads[t], x, &res[t]);
    for (int t = 1; t < 3; t++)
        for (int op = 0; op < 4; op++) {
            assert_memory_equal(&res[t].loss[op], &res[0].loss[op], sizeof(float));
            assert_memory_equal(res[t].grad[op], res[0].grad[op], n[op] * sizeof(float));
        }
    for (int op = 0; op < 4; op++) assert_true(res[0].loss[op] > 0 && isfinite(res[0].loss[op]));
    for (int t = 0; t < 3; t++)
        for (int op = 0; op < 4; op++) free(res[t].grad[op]);
    for (int k = 0; k < 4; k++) free(x[k]);
    assert_int_equal(cg_set_num_threads(saved), CG_OK);
}

// ----------------------------------------------------------------------------
// errors

static void test_errors(void **state) {
    (void)state;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 12, 1), CG_OK);
    float a[6] = {0}, b[6] = {0};
    cg_tensor *p32 = cg_tensor_wrap2(&ctx, 3, 2, a), *t23 = cg_tensor_wrap2(&ctx, 2, 3, b);
    assert_null(cg_mse_weighted(&ctx, p32, t23, NULL));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_SHAPE);
    assert_non_null(strstr(cg_last_error(), "mse_weighted"));
    /* sticky: a NULL input gives NULL without a new message */
    assert_null(cg_logcosh_loss(&ctx, NULL, p32, NULL));
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);

    cg_tensor *t32 = cg_tensor_wrap2(&ctx, 3, 2, b);
    const float negw[2] = {1.0f, -1.0f};
    assert_null(cg_logcosh_loss(&ctx, p32, t32, negw));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_null(cg_dist_loss_col(&ctx, p32, t32, 2, &g_tables[0]));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_SHAPE);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_null(cg_dist_loss(&ctx, p32, t32, &g_tables[0])); /* two columns */
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_null(cg_dist_loss_col(&ctx, p32, t32, 0, NULL));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_null(cg_supcr_loss_col(&ctx, p32, t32, 0, 0.0f));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_null(cg_supcr_loss(&ctx, p32, t32, 0.1f)); /* 6 labels for 3 rows */
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_SHAPE);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_null(cg_composite_loss(&ctx, p32, t32, NULL, NULL, 0.0f, NULL, 1.0f, 0.1f, NULL));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_null(cg_composite_loss(&ctx, p32, t32, NULL, NULL, 1.0f, NULL, 0.0f, 0.1f, NULL));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_null(cg_composite_loss(&ctx, p32, t32, NULL, NULL, -1.0f, NULL, 0.0f, 0.1f, NULL));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_INVALID_ARG);
    cg_ctx_free(&ctx);

    cg_dist_table t;
    float nan3[3] = {NAN, NAN, NAN}, inf1[2] = {1.0f, INFINITY};
    assert_int_equal(cg_dist_table_build(&t, nan3, 3, 1, 0.0, 0), CG_ERR_INVALID_ARG);
    assert_null(t.cdf);
    assert_int_equal(cg_dist_table_build(&t, inf1, 2, 1, 0.0, 0), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_dist_table_build(&t, a, 6, 1, -1.0, 0), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_dist_table_build(&t, a, 6, 1, 0.0, 8), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_dist_table_build(&t, a, 6, 0, 0.0, 0), CG_ERR_INVALID_ARG);
    cg_dist_table_free(&t);
}

static int setup(void **state) {
    (void)state;
    build_tables();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) cg_dist_table_free(&g_tables[k]);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masked_losses),     cmocka_unit_test(test_mse_normalisation),
        cmocka_unit_test(test_logcosh_stable),    cmocka_unit_test(test_dist_table_normal),
        cmocka_unit_test(test_dist_loss_grad),    cmocka_unit_test(test_dist_loss_sign),
        cmocka_unit_test(test_supcr_grad),        cmocka_unit_test(test_supcr_hand),
        cmocka_unit_test(test_composite),         cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
