/* Every recorded op: forward against a naive double-precision reference on random inputs, and
 * backward (through the tape) against central finite differences of that reference in double
 * precision (llm.c / ggml recipe, ../shared/reference/anchors.md section 4). Inputs avoid kinks
 * (relu at 0, ties in max) instead of loosening tolerances. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "cellgraph/params.h"
#include "cellgraph/rng.h"
#include "testutil.h"

#define MAXIN 4

/* ------------------------------------------------------------------ the harness */

typedef struct op_case {
    const char *name;
    int n_in;
    int64_t rows[MAXIN], cols[MAXIN];
    float lo, hi;      /* inputs uniform in [lo, hi) */
    float min_abs;     /* inputs pushed away from 0 by this much (kinks) */
    bool no_grad[MAXIN];
    int64_t out_numel;
    void (*ref)(const double *const *in, double *out);
    cg_tensor *(*build)(cg_ctx *ctx, cg_tensor **in);
    double fwd_tol, bwd_tol;
} op_case;

static void run_case(const op_case *c) {
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
    double *din[MAXIN];
    for (int k = 0; k < c->n_in; k++) {
        float *x = cg_f32(in[k]);
        tu_fill_uniform(x, in[k]->numel, c->lo, c->hi, 1000 + 17 * k);
        for (int64_t j = 0; j < in[k]->numel; j++)
            if (c->min_abs > 0) x[j] = x[j] >= 0 ? x[j] + c->min_abs : x[j] - c->min_abs;
        din[k] = malloc(in[k]->numel * sizeof(double));
        for (int64_t j = 0; j < in[k]->numel; j++) din[k][j] = x[j];
        in[k]->requires_grad = !c->no_grad[k];
    }
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 16, 7), CG_OK);
    cg_tensor *out = c->build(&ctx, in);
    if (!out) print_error("%s: %s\n", c->name, cg_last_error());
    assert_non_null(out);
    assert_int_equal(out->numel, c->out_numel);

    /* forward */
    double *ref = malloc(c->out_numel * sizeof(double));
    c->ref((const double *const *)din, ref);
    char label[96];
    snprintf(label, sizeof label, "%s forward", c->name);
    tu_check_close(label, cg_f32(out), ref, c->out_numel, c->fwd_tol > 0 ? c->fwd_tol : 1e-5, 1e-3);

    /* backward, seeded with random r: L = sum(r * out) */
    float *r = malloc(c->out_numel * sizeof(float));
    tu_fill_uniform(r, c->out_numel, -1.0f, 1.0f, 99);
    assert_int_equal(cg_backward_from(&ctx, out, r), CG_OK);

    double *tmp = malloc(c->out_numel * sizeof(double));
    for (int k = 0; k < c->n_in; k++) {
        if (c->no_grad[k]) continue;
        int64_t n = in[k]->numel;
        double *fd = malloc(n * sizeof(double));
        double maxabs = 0;
        for (int64_t j = 0; j < n; j++) {
            double x0 = din[k][j], h = 1e-6 * fmax(1.0, fabs(x0));
            double lp = 0, lm = 0;
            din[k][j] = x0 + h;
            c->ref((const double *const *)din, tmp);
            for (int64_t t = 0; t < c->out_numel; t++) lp += r[t] * tmp[t];
            din[k][j] = x0 - h;
            c->ref((const double *const *)din, tmp);
            for (int64_t t = 0; t < c->out_numel; t++) lm += r[t] * tmp[t];
            din[k][j] = x0;
            fd[j] = (lp - lm) / (2 * h);
            maxabs = fmax(maxabs, fabs(fd[j]));
        }
        snprintf(label, sizeof label, "%s d/d(input %d)", c->name, k);
        tu_check_close(label, in[k]->grad, fd, n, c->bwd_tol > 0 ? c->bwd_tol : 2e-4, fmax(1e-2 * maxabs, 1e-6));
        free(fd);
    }
    free(tmp);
    free(r);
    free(ref);
    for (int k = 0; k < c->n_in; k++) free(din[k]);
    cg_ctx_free(&ctx);
    cg_params_free(&ps);
}

/* ------------------------------------------------------------------ matmul */

enum { M_ = 5, N_ = 4, K_ = 3 };
static bool g_ta, g_tb;

static void ref_matmul(const double *const *in, double *out) {
    for (int i = 0; i < M_; i++)
        for (int j = 0; j < N_; j++) {
            double s = in[2][j];
            for (int k = 0; k < K_; k++)
                s += (g_ta ? in[0][k * M_ + i] : in[0][i * K_ + k]) * (g_tb ? in[1][j * K_ + k] : in[1][k * N_ + j]);
            out[i * N_ + j] = s;
        }
}
static cg_tensor *build_matmul(cg_ctx *ctx, cg_tensor **in) { return cg_matmul(ctx, in[0], in[1], in[2], g_ta, g_tb); }

static void test_matmul(void **state) {
    (void)state;
    for (int t = 0; t < 4; t++) {
        g_ta = t & 1;
        g_tb = t >> 1;
        op_case c = {.name = "matmul", .n_in = 3, .lo = -1, .hi = 1, .out_numel = M_ * N_,
                     .ref = ref_matmul, .build = build_matmul};
        c.rows[0] = g_ta ? K_ : M_, c.cols[0] = g_ta ? M_ : K_;
        c.rows[1] = g_tb ? N_ : K_, c.cols[1] = g_tb ? K_ : N_;
        c.rows[2] = 1, c.cols[2] = N_;
        run_case(&c);
    }
}

/* ------------------------------------------------------------------ elementwise */

static int g_binop, g_bcast;
enum { BR = 6, BC = 5 };

static void ref_binary(const double *const *in, double *out) {
    for (int i = 0; i < BR; i++)
        for (int j = 0; j < BC; j++) {
            double a = in[0][i * BC + j], b = in[1][g_bcast ? j : i * BC + j];
            out[i * BC + j] = g_binop == 0 ? a + b : g_binop == 1 ? a - b : a * b;
        }
}
static cg_tensor *build_binary(cg_ctx *ctx, cg_tensor **in) {
    return g_binop == 0 ? cg_add(ctx, in[0], in[1]) : g_binop == 1 ? cg_sub(ctx, in[0], in[1]) : cg_mul(ctx, in[0], in[1]);
}

static void test_binary(void **state) {
    (void)state;
    for (g_binop = 0; g_binop < 3; g_binop++)
        for (g_bcast = 0; g_bcast < 2; g_bcast++) {
            op_case c = {.name = g_binop == 0 ? "add" : g_binop == 1 ? "sub" : "mul", .n_in = 2, .lo = -2, .hi = 2,
                         .out_numel = BR * BC, .ref = ref_binary, .build = build_binary};
            c.rows[0] = BR, c.cols[0] = BC;
            c.rows[1] = g_bcast ? 1 : BR, c.cols[1] = BC;
            run_case(&c);
        }
}

static void ref_rowscale(const double *const *in, double *out) {
    for (int i = 0; i < BR; i++)
        for (int j = 0; j < BC; j++) out[i * BC + j] = in[0][i * BC + j] * in[1][i];
}
static cg_tensor *build_rowscale(cg_ctx *ctx, cg_tensor **in) { return cg_rowscale(ctx, in[0], in[1]); }

static void test_rowscale(void **state) {
    (void)state;
    op_case c = {.name = "rowscale", .n_in = 2, .rows = {BR, BR}, .cols = {BC, 1}, .lo = -2, .hi = 2,
                 .out_numel = BR * BC, .ref = ref_rowscale, .build = build_rowscale};
    run_case(&c);
}

static void ref_scale(const double *const *in, double *out) {
    for (int i = 0; i < BR * BC; i++) out[i] = -1.75 * in[0][i];
}
static cg_tensor *build_scale(cg_ctx *ctx, cg_tensor **in) { return cg_scale(ctx, in[0], -1.75f); }

static void test_scale(void **state) {
    (void)state;
    op_case c = {.name = "scale", .n_in = 1, .rows = {BR}, .cols = {BC}, .lo = -2, .hi = 2, .out_numel = BR * BC,
                 .ref = ref_scale, .build = build_scale};
    run_case(&c);
}

/* ------------------------------------------------------------------ activations */

static cg_activation g_act;
static const double SLOPE = 0.1;

static double act_ref(cg_activation a, double x) {
    switch (a) {
    case CG_ACT_IDENTITY: return x;
    case CG_ACT_RELU: return x > 0 ? x : 0;
    case CG_ACT_LEAKY_RELU: return x > 0 ? x : SLOPE * x;
    case CG_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case CG_ACT_SILU: return x / (1 + exp(-x));
    case CG_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case CG_ACT_TANH: return tanh(x);
    case CG_ACT_MISH: return x * tanh(x > 20 ? x : log1p(exp(x)));
    case CG_ACT_SOFTPLUS: return x > 20 ? x : log1p(exp(x));
    case CG_ACT_LOGCOSH: return log(cosh(x));
    }
    return NAN;
}
static void ref_act(const double *const *in, double *out) {
    for (int i = 0; i < BR * BC; i++) out[i] = act_ref(g_act, in[0][i]);
}
static cg_tensor *build_act(cg_ctx *ctx, cg_tensor **in) {
    switch (g_act) {
    case CG_ACT_RELU: return cg_relu(ctx, in[0]);
    case CG_ACT_LEAKY_RELU: return cg_leaky_relu(ctx, in[0], (float)SLOPE);
    case CG_ACT_GELU: return cg_gelu(ctx, in[0]);
    case CG_ACT_SILU: return cg_silu(ctx, in[0]);
    case CG_ACT_SIGMOID: return cg_sigmoid(ctx, in[0]);
    case CG_ACT_TANH: return cg_tanh(ctx, in[0]);
    case CG_ACT_MISH: return cg_mish(ctx, in[0]);
    case CG_ACT_SOFTPLUS: return cg_softplus(ctx, in[0]);
    case CG_ACT_LOGCOSH: return cg_logcosh(ctx, in[0]);
    default: return cg_act(ctx, g_act, in[0], 0.0f);
    }
}

static void test_activations(void **state) {
    (void)state;
    for (int a = CG_ACT_IDENTITY; a <= CG_ACT_LOGCOSH; a++) {
        g_act = (cg_activation)a;
        op_case c = {.name = cg_activation_name(g_act), .n_in = 1, .rows = {BR}, .cols = {BC}, .lo = -4, .hi = 4,
                     .out_numel = BR * BC, .ref = ref_act, .build = build_act};
        if (a == CG_ACT_RELU || a == CG_ACT_LEAKY_RELU) c.min_abs = 0.05f; /* away from the kink */
        run_case(&c);
        cg_activation parsed;
        assert_true(cg_activation_parse(cg_activation_name(g_act), &parsed));
        assert_int_equal(parsed, g_act);
    }
    /* softplus / mish on their linear branch (x > 20), logcosh on large |x| */
    g_act = CG_ACT_SOFTPLUS;
    op_case c = {.name = "softplus(x>20)", .n_in = 1, .rows = {BR}, .cols = {BC}, .lo = 21, .hi = 30,
                 .out_numel = BR * BC, .ref = ref_act, .build = build_act};
    run_case(&c);
    g_act = CG_ACT_LOGCOSH;
    c.name = "logcosh(|x| large)", c.lo = -40, c.hi = 40, c.min_abs = 10;
    run_case(&c);
    cg_activation dummy;
    assert_false(cg_activation_parse("swish2", &dummy));
}

/* ------------------------------------------------------------------ layer norm */

enum { LR = 4, LC = 7 };
static void ref_layernorm(const double *const *in, double *out) {
    for (int i = 0; i < LR; i++) {
        const double *x = in[0] + i * LC;
        double m = 0, v = 0;
        for (int j = 0; j < LC; j++) m += x[j];
        m /= LC;
        for (int j = 0; j < LC; j++) v += (x[j] - m) * (x[j] - m);
        v /= LC;
        for (int j = 0; j < LC; j++) out[i * LC + j] = (x[j] - m) / sqrt(v + 1e-5) * in[1][j] + in[2][j];
    }
}
static cg_tensor *build_layernorm(cg_ctx *ctx, cg_tensor **in) { return cg_layernorm(ctx, in[0], in[1], in[2], 1e-5f); }

static void test_layernorm(void **state) {
    (void)state;
    op_case c = {.name = "layernorm", .n_in = 3, .rows = {LR, 1, 1}, .cols = {LC, LC, LC}, .lo = -2, .hi = 2,
                 .out_numel = LR * LC, .ref = ref_layernorm, .build = build_layernorm};
    run_case(&c);
}

/* ------------------------------------------------------------------ concat / slice / split */

static void ref_concat(const double *const *in, double *out) {
    for (int i = 0; i < 3; i++) {
        double *o = out + i * 9;
        for (int j = 0; j < 2; j++) *o++ = in[0][i * 2 + j];
        for (int j = 0; j < 4; j++) *o++ = in[1][i * 4 + j];
        for (int j = 0; j < 3; j++) *o++ = in[2][i * 3 + j];
    }
}
static cg_tensor *build_concat(cg_ctx *ctx, cg_tensor **in) { return cg_concat(ctx, in, 3); }

static void ref_slice(const double *const *in, double *out) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) out[i * 4 + j] = in[0][i * 9 + 2 + j];
}
static cg_tensor *build_slice(cg_ctx *ctx, cg_tensor **in) { return cg_slice_cols(ctx, in[0], 2, 4); }

/* split into [2 | 4 | 3] and recombine as 1*s0 sum + 2*s1 + 3*s2 concatenated, to test every piece */
static void ref_split(const double *const *in, double *out) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 9; j++) out[i * 9 + j] = in[0][i * 9 + j] * (j < 2 ? 1 : j < 6 ? 2 : 3);
}
static cg_tensor *build_split(cg_ctx *ctx, cg_tensor **in) {
    cg_tensor *p[3];
    int64_t sizes[3] = {2, 4, 3};
    if (cg_split(ctx, in[0], sizes, 3, p) != CG_OK) return NULL;
    p[1] = cg_scale(ctx, p[1], 2.0f);
    p[2] = cg_scale(ctx, p[2], 3.0f);
    return cg_concat(ctx, p, 3);
}

static void test_concat_slice(void **state) {
    (void)state;
    op_case c = {.name = "concat", .n_in = 3, .rows = {3, 3, 3}, .cols = {2, 4, 3}, .lo = -1, .hi = 1,
                 .out_numel = 27, .ref = ref_concat, .build = build_concat};
    run_case(&c);
    op_case s = {.name = "slice_cols", .n_in = 1, .rows = {3}, .cols = {9}, .lo = -1, .hi = 1, .out_numel = 12,
                 .ref = ref_slice, .build = build_slice};
    run_case(&s);
    op_case sp = {.name = "split", .n_in = 1, .rows = {3}, .cols = {9}, .lo = -1, .hi = 1, .out_numel = 27,
                  .ref = ref_split, .build = build_split};
    run_case(&sp);
}

/* ------------------------------------------------------------------ reductions */

static int g_red;
enum { RR = 7, RC = 5 };
static void ref_reduce(const double *const *in, double *out) {
    const double *x = in[0];
    switch (g_red) {
    case 0: case 1: {
        double s = 0;
        for (int i = 0; i < RR * RC; i++) s += x[i];
        out[0] = g_red ? s / (RR * RC) : s;
        break;
    }
    case 2: case 3:
        for (int j = 0; j < RC; j++) {
            double s = 0;
            for (int i = 0; i < RR; i++) s += x[i * RC + j];
            out[j] = g_red == 3 ? s / RR : s;
        }
        break;
    case 4: case 5:
        for (int i = 0; i < RR; i++) {
            double s = 0;
            for (int j = 0; j < RC; j++) s += x[i * RC + j];
            out[i] = g_red == 5 ? s / RC : s;
        }
        break;
    }
}
static cg_tensor *build_reduce(cg_ctx *ctx, cg_tensor **in) {
    cg_tensor *(*f[6])(cg_ctx *, cg_tensor *) = {cg_sum, cg_mean, cg_sum_rows, cg_mean_rows, cg_sum_cols, cg_mean_cols};
    return f[g_red](ctx, in[0]);
}

static void test_reductions(void **state) {
    (void)state;
    const char *names[6] = {"sum", "mean", "sum_rows", "mean_rows", "sum_cols", "mean_cols"};
    const int64_t numel[6] = {1, 1, RC, RC, RR, RR};
    for (g_red = 0; g_red < 6; g_red++) {
        op_case c = {.name = names[g_red], .n_in = 1, .rows = {RR}, .cols = {RC}, .lo = -1, .hi = 1,
                     .out_numel = numel[g_red], .ref = ref_reduce, .build = build_reduce};
        run_case(&c);
    }
}

/* ------------------------------------------------------------------ gather / scatter */

static const int32_t IDX[8] = {3, 0, 3, 5, 1, 3, 0, 2}; /* repeated rows on purpose */
enum { GR = 6, GC = 5, GN = 8 };

static void ref_gather(const double *const *in, double *out) {
    for (int i = 0; i < GN; i++)
        for (int j = 0; j < GC; j++) out[i * GC + j] = in[0][IDX[i] * GC + j];
}
static cg_tensor *build_gather(cg_ctx *ctx, cg_tensor **in) {
    int64_t n = GN;
    return cg_gather_rows(ctx, in[0], cg_tensor_wrap(ctx, CG_I32, 1, &n, (void *)IDX));
}
static void ref_scatter(const double *const *in, double *out) {
    for (int i = 0; i < GR * GC; i++) out[i] = 0;
    for (int i = 0; i < GN; i++)
        for (int j = 0; j < GC; j++) out[IDX[i] * GC + j] += in[0][i * GC + j];
}
static cg_tensor *build_scatter(cg_ctx *ctx, cg_tensor **in) {
    int64_t n = GN;
    return cg_scatter_add_rows(ctx, in[0], cg_tensor_wrap(ctx, CG_I32, 1, &n, (void *)IDX), GR);
}

static void test_gather_scatter(void **state) {
    (void)state;
    op_case g = {.name = "gather_rows", .n_in = 1, .rows = {GR}, .cols = {GC}, .lo = -1, .hi = 1,
                 .out_numel = GN * GC, .ref = ref_gather, .build = build_gather};
    run_case(&g);
    op_case s = {.name = "scatter_add_rows", .n_in = 1, .rows = {GN}, .cols = {GC}, .lo = -1, .hi = 1,
                 .out_numel = GR * GC, .ref = ref_scatter, .build = build_scatter};
    run_case(&s);
}

/* ------------------------------------------------------------------ segment ops */

/* 5 segments over 11 entries; segment 2 is empty */
static const int64_t ROWPTR[6] = {0, 3, 4, 4, 8, 11};
static const int32_t COL[11] = {0, 1, 2, 3, 0, 1, 2, 3, 0, 2, 3};
static const cg_csr CSR = {.n_rows = 5, .n_cols = 4, .nnz = 11, .rowptr = ROWPTR, .col = COL};
static int g_seg;
enum { SF = 3 };

static void ref_segment(const double *const *in, double *out) {
    const double *x = in[0];
    for (int s = 0; s < 5; s++) {
        int64_t e0 = ROWPTR[s], e1 = ROWPTR[s + 1];
        for (int j = 0; j < SF; j++) {
            if (g_seg == 3) { /* softmax */
                double m = -INFINITY, z = 0;
                for (int64_t e = e0; e < e1; e++) m = fmax(m, x[e * SF + j]);
                for (int64_t e = e0; e < e1; e++) z += exp(x[e * SF + j] - m);
                for (int64_t e = e0; e < e1; e++) out[e * SF + j] = exp(x[e * SF + j] - m) / z;
                continue;
            }
            double acc = g_seg == 2 ? -INFINITY : 0;
            for (int64_t e = e0; e < e1; e++) acc = g_seg == 2 ? fmax(acc, x[e * SF + j]) : acc + x[e * SF + j];
            if (e0 == e1) acc = 0;
            else if (g_seg == 1) acc /= (double)(e1 - e0);
            out[s * SF + j] = acc;
        }
    }
}
static cg_tensor *build_segment(cg_ctx *ctx, cg_tensor **in) {
    switch (g_seg) {
    case 0: return cg_segment_sum(ctx, in[0], &CSR);
    case 1: return cg_segment_mean(ctx, in[0], &CSR);
    case 2: return cg_segment_max(ctx, in[0], &CSR);
    default: return cg_segment_softmax(ctx, in[0], &CSR);
    }
}

static void test_segment(void **state) {
    (void)state;
    assert_int_equal(cg_csr_validate(&CSR), CG_OK);
    const char *names[4] = {"segment_sum", "segment_mean", "segment_max", "segment_softmax"};
    for (g_seg = 0; g_seg < 4; g_seg++) {
        op_case c = {.name = names[g_seg], .n_in = 1, .rows = {11}, .cols = {SF}, .lo = -2, .hi = 2,
                     .out_numel = g_seg == 3 ? 11 * SF : 5 * SF, .ref = ref_segment, .build = build_segment};
        run_case(&c);
    }
}

/* ------------------------------------------------------------------ mse with NaN mask */

static void ref_mse(const double *const *in, double *out) {
    double s = 0;
    int n = 0;
    for (int i = 0; i < BR * BC; i++)
        if (i % 3 != 1) {
            s += (in[0][i] - in[1][i]) * (in[0][i] - in[1][i]);
            n++;
        }
    out[0] = s / n;
}
static cg_tensor *build_mse(cg_ctx *ctx, cg_tensor **in) {
    float *t = cg_f32(in[1]);
    for (int i = 0; i < BR * BC; i++)
        if (i % 3 == 1) t[i] = NAN;
    return cg_mse_masked(ctx, in[0], in[1]);
}

static void test_mse(void **state) {
    (void)state;
    op_case c = {.name = "mse_masked", .n_in = 2, .rows = {BR, BR}, .cols = {BC, BC}, .lo = -1, .hi = 1,
                 .no_grad = {false, true}, .out_numel = 1, .ref = ref_mse, .build = build_mse};
    run_case(&c);
}

/* ------------------------------------------------------------------ dropout */

static void test_dropout(void **state) {
    (void)state;
    cg_param_store ps;
    cg_params_init(&ps);
    cg_tensor *x;
    int64_t shape[2] = {1000, 100};
    assert_int_equal(cg_params_add(&ps, "x", 2, shape, &x), CG_OK);
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    tu_fill_uniform(cg_f32(x), x->numel, 0.5f, 1.5f, 3);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1234), CG_OK);
    const float p = 0.3f;
    cg_tensor *y = cg_dropout(&ctx, x, p);
    assert_non_null(y);
    int64_t kept = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        float v = cg_f32(y)[i];
        if (v != 0.0f) {
            kept++;
            assert_float_equal(v, cg_f32(x)[i] / (1.0f - p), 1e-6);
        }
    }
    double frac = (double)kept / x->numel; /* binomial sd ~ 0.0015 */
    assert_true(fabs(frac - 0.7) < 0.01);
    float *r = malloc(x->numel * sizeof(float));
    tu_fill_uniform(r, x->numel, -1, 1, 5);
    assert_int_equal(cg_backward_from(&ctx, y, r), CG_OK);
    for (int64_t i = 0; i < x->numel; i++) {
        float want = cg_f32(y)[i] != 0.0f ? r[i] / (1.0f - p) : 0.0f;
        assert_float_equal(x->grad[i], want, 1e-6);
    }
    /* same seed and step: the same mask; next step: another mask; eval mode: identity */
    uint8_t *m1 = malloc(1000 * 100);
    for (int64_t i = 0; i < x->numel; i++) m1[i] = cg_f32(y)[i] != 0.0f;
    cg_ctx ctx2;
    assert_int_equal(cg_ctx_init(&ctx2, 0, 1234), CG_OK);
    cg_tensor *y2 = cg_dropout(&ctx2, x, p);
    for (int64_t i = 0; i < x->numel; i++) assert_int_equal(m1[i], cg_f32(y2)[i] != 0.0f);
    assert_int_equal(cg_ctx_reset(&ctx2), CG_OK);
    cg_tensor *y3 = cg_dropout(&ctx2, x, p);
    int64_t same = 0;
    for (int64_t i = 0; i < x->numel; i++) same += m1[i] == (cg_f32(y3)[i] != 0.0f);
    assert_true(same < x->numel * 0.7); /* independent masks agree on ~58% */
    /* shared masks: the mask of the first 100 rows repeats over the next ones */
    cg_tensor *ys = cg_dropout_shared(&ctx2, x, p, 100 * 100);
    assert_non_null(ys);
    for (int64_t i = 100 * 100; i < x->numel; i++)
        assert_int_equal(cg_f32(ys)[i] != 0.0f, cg_f32(ys)[i % (100 * 100)] != 0.0f);
    assert_null(cg_dropout_shared(&ctx2, x, p, 333)); /* does not divide */
    assert_int_equal(cg_ctx_reset(&ctx2), CG_OK);
    ctx2.training = false;
    assert_ptr_equal(cg_dropout(&ctx2, x, p), x);
    assert_null(cg_dropout(&ctx2, x, 1.0f));
    assert_int_equal(cg_ctx_status(&ctx2), CG_ERR_INVALID_ARG);
    free(m1);
    free(r);
    cg_ctx_free(&ctx);
    cg_ctx_free(&ctx2);
    cg_params_free(&ps);
}

/* ------------------------------------------------------------------ errors and the arena */

static void test_errors(void **state) {
    (void)state;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    float a[6] = {0}, b[6] = {0};
    cg_tensor *ta = cg_tensor_wrap2(&ctx, 2, 3, a), *tb = cg_tensor_wrap2(&ctx, 2, 3, b);
    assert_null(cg_matmul(&ctx, ta, tb, NULL, false, false));
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_SHAPE);
    assert_non_null(strstr(cg_last_error(), "matmul: inner dimensions differ: a [2, 3], b [2, 3]"));
    /* sticky: a NULL input propagates without replacing the first message */
    assert_null(cg_relu(&ctx, NULL));
    assert_non_null(strstr(cg_last_error(), "matmul"));
    /* later failures do not overwrite the first status */
    assert_null(cg_add(&ctx, ta, cg_tensor_wrap2(&ctx, 3, 2, b)));
    assert_non_null(strstr(cg_last_error(), "matmul"));
    assert_int_equal(cg_backward(&ctx, ta), CG_ERR_SHAPE); /* not a scalar */
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    assert_int_equal(cg_ctx_status(&ctx), CG_OK);
    int32_t bad[2] = {0, 7};
    int64_t two = 2;
    ta = cg_tensor_wrap2(&ctx, 2, 3, a); /* records from before the reset are gone */
    assert_null(cg_gather_rows(&ctx, ta, cg_tensor_wrap(&ctx, CG_I32, 1, &two, bad)));
    assert_non_null(strstr(cg_last_error(), "index[1] = 7 is outside [0, 2)"));
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    int64_t rp[3] = {0, 2, 1};
    int32_t col[1] = {0};
    cg_csr csr = {.n_rows = 2, .n_cols = 1, .nnz = 1, .rowptr = rp, .col = col};
    assert_int_equal(cg_csr_validate(&csr), CG_ERR_FORMAT);
    ta = cg_tensor_wrap2(&ctx, 2, 3, a);
    assert_null(cg_segment_sum(&ctx, ta, &csr)); /* 2 rows, 1 entry */
    assert_int_equal(cg_ctx_status(&ctx), CG_ERR_SHAPE);
    int64_t five[5] = {1, 1, 1, 1, 1};
    assert_null(cg_tensor_new(&ctx, CG_F32, 5, five));
    cg_ctx_free(&ctx);
}

/* A warm step allocates nothing: the second and third identical steps make no malloc. */
static void test_arena_warm(void **state) {
    (void)state;
    cg_param_store ps;
    cg_params_init(&ps);
    cg_tensor *w;
    int64_t ws[2] = {64, 64};
    assert_int_equal(cg_params_add(&ps, "w", 2, ws, &w), CG_OK);
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    cg_rng_fill_uniform(cg_f32(w), w->numel, -0.1f, 0.1f, 1, 0);
    float *xin = malloc(512 * 64 * sizeof(float));
    tu_fill_uniform(xin, 512 * 64, -1, 1, 8);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 4096, 1), CG_OK); /* deliberately too small: spills on step 1 */
    uint64_t allocs[3];
    for (int step = 0; step < 3; step++) {
        assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
        cg_tensor *h = cg_tensor_wrap2(&ctx, 512, 64, xin);
        for (int l = 0; l < 20; l++) h = cg_gelu(&ctx, cg_linear(&ctx, h, w, NULL));
        assert_int_equal(cg_backward(&ctx, cg_mean(&ctx, h)), CG_OK);
        allocs[step] = cg_ctx_allocations(&ctx);
    }
    assert_true(allocs[0] > 1);
    assert_int_equal(allocs[1], allocs[0] + 1); /* reset consolidates once into one block */
    assert_int_equal(allocs[2], allocs[1]);
    free(xin);
    cg_ctx_free(&ctx);
    cg_params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul),      cmocka_unit_test(test_binary),     cmocka_unit_test(test_scale), cmocka_unit_test(test_rowscale),
        cmocka_unit_test(test_activations), cmocka_unit_test(test_layernorm),  cmocka_unit_test(test_concat_slice),
        cmocka_unit_test(test_reductions),  cmocka_unit_test(test_gather_scatter), cmocka_unit_test(test_segment),
        cmocka_unit_test(test_mse),         cmocka_unit_test(test_dropout),    cmocka_unit_test(test_errors),
        cmocka_unit_test(test_arena_warm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
