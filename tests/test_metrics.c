/* Metrics (cellgraph/metrics.h) on hand-computed examples, the two baselines on a hand-made dataset,
 * and the PNG plots (cellgraph/plot.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cellgraph/metrics.h"
#include "cellgraph/plot.h"
#include "testutil.h"

#define TOL 1e-12

// ----------------------------------------------------------------------------
// metrics

/* t = 1..5, p = 2 1 4 3 6:
 *   p - t = 1 -1 1 -1 1: SSE 5, MSE 1, RMSE 1
 *   mean t 3, SST = 4 + 1 + 0 + 1 + 4 = 10: R^2 = 1 - 5/10 = 0.5
 *   mean p 3.2: dp = -1.2 -2.2 0.8 -0.2 2.8, dt = -2 -1 0 1 2
 *     sum dp dt = 2.4 + 2.2 + 0 - 0.2 + 5.6 = 10, sum dp^2 = 14.8, sum dt^2 = 10: r = 10 / sqrt(148)
 *   ranks of p 2 1 4 3 5 against 1 2 3 4 5: sum d^2 = 4, rho = 1 - 6 * 4 / (5 * 24) = 0.8 */
static void test_five_points(void **state) {
    (void)state;
    const float t[5] = {1, 2, 3, 4, 5}, p[5] = {2, 1, 4, 3, 6};
    cg_metrics m;
    assert_int_equal(cg_metrics_compute(p, t, 5, 1, 1, &m), CG_OK);
    assert_int_equal(m.n, 5);
    assert_float_equal(m.mse, 1.0, TOL);
    assert_float_equal(m.rmse, 1.0, TOL);
    assert_float_equal(m.r2, 0.5, TOL);
    assert_float_equal(m.pearson, 10.0 / sqrt(148.0), TOL);
    assert_float_equal(m.spearman, 0.8, TOL);
}

/* Ties: p = 1 2 2 3 5 -> ranks 1 2.5 2.5 4 5; t = 1 3 2 4 4 -> ranks 1 3 2 4.5 4.5.
 * Both rank vectors have mean 3: dx = -2 -0.5 -0.5 1 2, dy = -2 0 -1 1.5 1.5,
 * sum dx dy = 4 + 0 + 0.5 + 1.5 + 3 = 9, sum dx^2 = 9.5, sum dy^2 = 9.5: rho = 9 / 9.5.
 * Pearson of the values: mp = 2.6, mt = 2.8; dp = -1.6 -0.6 -0.6 0.4 2.4, dt = -1.8 0.2 -0.8 1.2 1.2;
 * sum dp dt = 2.88 - 0.12 + 0.48 + 0.48 + 2.88 = 6.6, sum dp^2 = 9.2, sum dt^2 = 6.8.
 * SSE = 0 + 1 + 0 + 1 + 1 = 3: MSE 0.6, R^2 = 1 - 3 / 6.8. */
static void test_ties(void **state) {
    (void)state;
    const float p[5] = {1, 2, 2, 3, 5}, t[5] = {1, 3, 2, 4, 4};
    cg_metrics m;
    assert_int_equal(cg_metrics_compute(p, t, 5, 1, 1, &m), CG_OK);
    assert_float_equal(m.spearman, 9.0 / 9.5, TOL);
    assert_float_equal(m.pearson, 6.6 / sqrt(9.2 * 6.8), TOL);
    assert_float_equal(m.mse, 0.6, TOL);
    assert_float_equal(m.rmse, sqrt(0.6), TOL);
    assert_float_equal(m.r2, 1.0 - 3.0 / 6.8, TOL);
}

/* The five-point example interleaved with skipped pairs (NaN target, whatever the prediction), read as
 * column 1 of [n, 2] arrays whose column 0 holds garbage. */
static void test_nan_and_strides(void **state) {
    (void)state;
    const float t5[5] = {1, 2, 3, 4, 5}, p5[5] = {2, 1, 4, 3, 6};
    float p[16][2], t[16][2];
    int j = 0;
    for (int i = 0; i < 16; i++) {
        p[i][0] = t[i][0] = INFINITY; /* the other column: never read */
        if (i % 3 == 1 && j < 5) {
            p[i][1] = p5[j];
            t[i][1] = t5[j++];
        } else {
            p[i][1] = i % 2 ? NAN : 100.0f;
            t[i][1] = NAN;
        }
    }
    assert_int_equal(j, 5);
    cg_metrics m;
    assert_int_equal(cg_metrics_compute(&p[0][1], &t[0][1], 16, 2, 2, &m), CG_OK);
    assert_int_equal(m.n, 5);
    assert_float_equal(m.mse, 1.0, TOL);
    assert_float_equal(m.r2, 0.5, TOL);
    assert_float_equal(m.pearson, 10.0 / sqrt(148.0), TOL);
    assert_float_equal(m.spearman, 0.8, TOL);
    /* mixed strides: a contiguous prediction against a column of an [n, 2] target */
    float tt[5][2];
    for (int i = 0; i < 5; i++) tt[i][0] = NAN, tt[i][1] = t5[i];
    assert_int_equal(cg_metrics_compute(p5, &tt[0][1], 5, 1, 2, &m), CG_OK);
    assert_int_equal(m.n, 5);
    assert_float_equal(m.spearman, 0.8, TOL);
}

static void test_degenerate_and_errors(void **state) {
    (void)state;
    cg_metrics m;
    /* nothing to evaluate */
    const float nan2[2] = {NAN, NAN}, two[2] = {1, 2};
    assert_int_equal(cg_metrics_compute(two, nan2, 2, 1, 1, &m), CG_OK);
    assert_int_equal(m.n, 0);
    assert_true(isnan(m.mse) && isnan(m.rmse) && isnan(m.pearson) && isnan(m.spearman) && isnan(m.r2));
    assert_int_equal(cg_metrics_compute(NULL, NULL, 0, 1, 1, &m), CG_OK);
    assert_int_equal(m.n, 0);
    /* one pair: MSE defined, correlations and R^2 (SST = 0) not */
    const float p1 = 2, t1 = 3;
    assert_int_equal(cg_metrics_compute(&p1, &t1, 1, 1, 1, &m), CG_OK);
    assert_int_equal(m.n, 1);
    assert_float_equal(m.mse, 1.0, TOL);
    assert_true(isnan(m.pearson) && isnan(m.spearman) && isnan(m.r2));
    /* constant prediction: no correlation; R^2 = 1 - SSE / SST = 1 - (4 + 1 + 0) / 2 = -1.5 */
    const float pc[3] = {3, 3, 3}, tc[3] = {1, 2, 3};
    assert_int_equal(cg_metrics_compute(pc, tc, 3, 1, 1, &m), CG_OK);
    assert_true(isnan(m.pearson) && isnan(m.spearman));
    assert_float_equal(m.r2, -1.5, TOL);
    assert_float_equal(m.mse, 5.0 / 3.0, TOL);
    /* constant target: R^2 undefined */
    assert_int_equal(cg_metrics_compute(tc, pc, 3, 1, 1, &m), CG_OK);
    assert_true(isnan(m.r2) && isnan(m.pearson));
    /* perfect prediction */
    assert_int_equal(cg_metrics_compute(tc, tc, 3, 1, 1, &m), CG_OK);
    assert_float_equal(m.pearson, 1.0, TOL);
    assert_float_equal(m.spearman, 1.0, TOL);
    assert_float_equal(m.r2, 1.0, TOL);
    assert_float_equal(m.mse, 0.0, TOL);

    /* errors, and *out untouched */
    cg_metrics keep = {.n = 42};
    m = keep;
    const float pbad[3] = {1, NAN, 3}, tgood[3] = {1, 2, 3};
    assert_int_equal(cg_metrics_compute(pbad, tgood, 3, 1, 1, &m), CG_ERR_INVALID_ARG);
    assert_non_null(strstr(cg_last_error(), "prediction 1 is not finite"));
    assert_int_equal(m.n, 42);
    const float pinf[3] = {1, 2, -INFINITY};
    assert_int_equal(cg_metrics_compute(pinf, tgood, 3, 1, 1, &m), CG_ERR_INVALID_ARG);
    assert_non_null(strstr(cg_last_error(), "prediction 2"));
    const float tinf[3] = {1, INFINITY, 3};
    assert_int_equal(cg_metrics_compute(tgood, tinf, 3, 1, 1, &m), CG_ERR_INVALID_ARG);
    assert_non_null(strstr(cg_last_error(), "target 1 is infinite"));
    assert_int_equal(cg_metrics_compute(tgood, tgood, 3, 0, 1, &m), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_metrics_compute(tgood, tgood, -1, 1, 1, &m), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_metrics_compute(NULL, tgood, 3, 1, 1, &m), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_metrics_compute(tgood, tgood, 3, 1, 1, NULL), CG_ERR_INVALID_ARG);
    assert_int_equal(m.n, 42);
}

/* Spearman against a brute-force O(n^2) average-rank reference on data with many ties. */
static void test_spearman_many_ties(void **state) {
    (void)state;
    enum { N = 300 };
    float p[N], t[N];
    tu_fill_uniform(p, N, 0, 1, 11);
    tu_fill_uniform(t, N, 0, 1, 12);
    for (int i = 0; i < N; i++) {
        p[i] = floorf(p[i] * 7); /* 7 distinct values */
        t[i] = floorf(t[i] * 5) + 0.1f * p[i];
    }
    double rp[N], rt[N];
    for (int i = 0; i < N; i++) {
        int lp = 0, ep = 0, lt = 0, et = 0;
        for (int j = 0; j < N; j++) {
            lp += p[j] < p[i], ep += p[j] == p[i];
            lt += t[j] < t[i], et += t[j] == t[i];
        }
        rp[i] = lp + (ep + 1) / 2.0;
        rt[i] = lt + (et + 1) / 2.0;
    }
    double mx = 0, my = 0;
    for (int i = 0; i < N; i++) mx += rp[i], my += rt[i];
    mx /= N, my /= N;
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < N; i++) {
        sxy += (rp[i] - mx) * (rt[i] - my);
        sxx += (rp[i] - mx) * (rp[i] - mx);
        syy += (rt[i] - my) * (rt[i] - my);
    }
    cg_metrics m;
    assert_int_equal(cg_metrics_compute(p, t, N, 1, 1, &m), CG_OK);
    assert_float_equal(m.spearman, sxy / sqrt(sxx * syy), 1e-12);
    assert_true(m.spearman > 0.2 && m.spearman < 1);
}

static void test_format(void **state) {
    (void)state;
    char buf[200];
    const char *h = cg_metrics_format_header(buf, sizeof buf);
    assert_ptr_equal(h, buf);
    assert_non_null(strstr(buf, "pearson"));
    assert_non_null(strstr(buf, "spearman"));
    size_t hl = strlen(buf);
    cg_metrics m = {.n = 1234, .mse = 0.25, .rmse = 0.5, .pearson = 0.75, .spearman = NAN, .r2 = -1.5};
    cg_metrics_format_row(buf, sizeof buf, "fitness", &m);
    assert_int_equal(strlen(buf), hl); /* same column layout */
    assert_int_equal(strncmp(buf, "fitness ", 8), 0);
    assert_non_null(strstr(buf, " 1234 "));
    assert_non_null(strstr(buf, "0.750000"));
    assert_non_null(strstr(buf, "nan"));
    assert_non_null(strstr(buf, "-1.500000"));
    char small[10];
    cg_metrics_format_row(small, sizeof small, "a_very_long_label_name", &m);
    assert_int_equal(strlen(small), 9);
}

// ----------------------------------------------------------------------------
// baselines on a hand-made dataset

/* Five genes, nine samples. Random split (R) and gene split (G) columns:
 *   s  genes     fitness  GI      R      G
 *   0  {0}       0.90     -       train  test
 *   1  {1}       0.80     -       train  train
 *   2  {2}       0.50     -       test   train
 *   3  {0,1}     0.70    -0.02    train  train
 *   4  {0,2}     0.30     0.10    test   train
 *   5  {1,3}     -        0.05    test   train
 *   6  {0,1,4}   0.50     -       val    train
 *   7  {3}       -        -       train  train
 *   8  {4}       1.10     -       val    train
 * Random split, training = s0 s1 s3 s7:
 *   training means: fitness (0.9 + 0.8 + 0.7) / 3 = 0.8, GI -0.02
 *   single-mutant fitness: gene 0 0.9, gene 1 0.8; genes 2, 3, 4 fall back to (0.9 + 0.8) / 2 = 0.85
 *   multiplicative: s2 0.85, s4 0.9 * 0.85 = 0.765, s5 0.8 * 0.85 = 0.68, s6 0.9 * 0.8 * 0.85 = 0.612,
 *                   s8 0.85, s3 0.72, s0 0.9
 * Gene split, training = all but s0: singles gene 1 0.8, gene 2 0.5, gene 4 1.1 -> fallback 0.8 for
 * genes 0 and 3: s3 {0,1} = 0.8 * 0.8 = 0.64, s0 = 0.8. */
enum { NS = 9 };
static const int32_t G_GENO[NS][3] = {{0, -1, -1}, {1, -1, -1}, {2, -1, -1}, {0, 1, -1}, {0, 2, -1},
                                      {1, 3, -1},  {0, 1, 4},   {3, -1, -1}, {4, -1, -1}};
static float G_LABEL[NS][CG_NUM_LABELS];
static const int32_t G_SPLIT_R[NS] = {0, 0, 2, 0, 2, 2, 1, 0, 1};
static const int32_t G_SPLIT_G[NS] = {2, 0, 0, 0, 0, 0, 0, 0, 0};

static cg_dataset toy_dataset(void) {
    const float fit[NS] = {0.9f, 0.8f, 0.5f, 0.7f, 0.3f, NAN, 0.5f, NAN, 1.1f};
    const float gi[NS] = {NAN, NAN, NAN, -0.02f, 0.1f, 0.05f, NAN, NAN, NAN};
    /* the interactions are pair epsilons; no tau */
    for (int s = 0; s < NS; s++) G_LABEL[s][0] = fit[s], G_LABEL[s][1] = gi[s], G_LABEL[s][2] = NAN;
    cg_dataset d;
    memset(&d, 0, sizeof d);
    d.n = NS;
    d.genotype = &G_GENO[0][0];
    d.label = &G_LABEL[0][0];
    d.split[CG_SPLIT_RANDOM] = G_SPLIT_R;
    d.split[CG_SPLIT_GENE] = G_SPLIT_G;
    d.n_genes = 5;
    return d;
}

static void test_baseline_mean(void **state) {
    (void)state;
    cg_dataset d = toy_dataset();
    const int64_t smp[3] = {2, 4, 5};
    float pred[3][CG_NUM_LABELS];
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_RANDOM, CG_BASELINE_MEAN, smp, 3, &pred[0][0]), CG_OK);
    for (int i = 0; i < 3; i++) {
        assert_float_equal(pred[i][0], 0.8, 1e-6);
        assert_float_equal(pred[i][1], -0.02, 1e-7);
    }
    /* test split metrics: fitness targets 0.5, 0.3 (s5 absent): errors 0.3, 0.5 -> MSE 0.17;
     * mean target 0.4, SST 0.02, SSE 0.34 -> R^2 = -16; GI targets 0.1, 0.05 against -0.02 -> errors
     * 0.12, 0.07 -> MSE 0.00965; constant prediction -> no correlation */
    cg_metrics m[CG_NUM_LABELS];
    assert_int_equal(cg_baseline_eval(&d, CG_SPLIT_RANDOM, CG_BASELINE_MEAN, CG_SPLIT_TEST, m), CG_OK);
    assert_int_equal(m[CG_LABEL_FITNESS].n, 2);
    assert_float_equal(m[CG_LABEL_FITNESS].mse, 0.17, 1e-6);
    assert_float_equal(m[CG_LABEL_FITNESS].r2, -16.0, 1e-4);
    assert_true(isnan(m[CG_LABEL_FITNESS].pearson));
    assert_int_equal(m[CG_LABEL_EPSILON].n, 2);
    assert_float_equal(m[CG_LABEL_EPSILON].mse, 0.00965, 1e-8);
    assert_int_equal(m[CG_LABEL_TAU].n, 0);
    assert_float_equal(pred[0][2], 0.0, 0); /* tau: no training value, its null value */
    /* a label with no training value predicts its null value: GI in the gene split has s3, s4, s5 in
     * training; remove GI from training by using a split where only s0..s2 train */
    const int32_t only_singles[NS] = {0, 0, 0, 2, 2, 2, 2, 2, 2};
    d.split[CG_SPLIT_GENE] = only_singles;
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_GENE, CG_BASELINE_MEAN, smp, 3, &pred[0][0]), CG_OK);
    assert_float_equal(pred[0][0], (0.9 + 0.8 + 0.5) / 3, 1e-6);
    assert_float_equal(pred[0][1], 0.0, 0);
}

static void test_baseline_multiplicative(void **state) {
    (void)state;
    cg_dataset d = toy_dataset();
    const int64_t smp[7] = {2, 4, 5, 6, 8, 3, 0};
    const double want[7] = {0.85, 0.765, 0.68, 0.612, 0.85, 0.72, 0.9};
    float pred[7][CG_NUM_LABELS];
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_RANDOM, CG_BASELINE_MULTIPLICATIVE, smp, 7, &pred[0][0]), CG_OK);
    for (int i = 0; i < 7; i++) {
        assert_float_equal(pred[i][0], want[i], 1e-6);
        assert_true(pred[i][1] == 0.0f && pred[i][2] == 0.0f);
    }
    /* the split kind is honoured: gene split (s0 held out, gene 0 falls back to 0.8) */
    const int64_t s30[2] = {3, 0};
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_GENE, CG_BASELINE_MULTIPLICATIVE, s30, 2, &pred[0][0]), CG_OK);
    assert_float_equal(pred[0][0], 0.64, 1e-6);
    assert_float_equal(pred[1][0], 0.8, 1e-6);
    /* test split metrics: fitness 0.85, 0.765 vs 0.5, 0.3 -> MSE (0.35^2 + 0.465^2) / 2 = 0.1693625;
     * GI 0 vs 0.1, 0.05 -> MSE 0.00625 */
    cg_metrics m[CG_NUM_LABELS];
    assert_int_equal(cg_baseline_eval(&d, CG_SPLIT_RANDOM, CG_BASELINE_MULTIPLICATIVE, CG_SPLIT_TEST, m), CG_OK);
    assert_int_equal(m[0].n, 2);
    assert_float_equal(m[0].mse, 0.1693625, 1e-6);
    assert_float_equal(m[0].pearson, 1.0, 1e-9); /* two points */
    assert_float_equal(m[1].mse, 0.00625, 1e-8);
    assert_true(isnan(m[1].pearson));
    /* no training single at all: every gene falls back to 1 */
    const int32_t no_singles[NS] = {2, 2, 2, 0, 2, 2, 2, 2, 2};
    d.split[CG_SPLIT_GENE] = no_singles;
    const int64_t s6 = 6;
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_GENE, CG_BASELINE_MULTIPLICATIVE, &s6, 1, &pred[0][0]), CG_OK);
    assert_float_equal(pred[0][0], 1.0, 0);
}

/* The per-gene additive baseline by hand on the toy dataset, random split (training samples s0 {0} 0.9,
 * s1 {1} 0.8, s3 {0,1} 0.7 with epsilon -0.02, s7 {3} no fitness):
 *   fitness mean 0.8; residuals: gene 0 (0.1 - 0.1) / 2 = 0, gene 1 (0 - 0.1) / 2 = -0.05, genes 2-4 none: 0
 *   epsilon mean -0.02; residuals of genes 0 and 1: 0; tau: no training value: 0 everywhere
 *   s4 {0,2}: 0.8 + (0 + 0) / 2 = 0.8, epsilon -0.02; s5 {1,3}: 0.8 + (-0.05 + 0) / 2 = 0.775;
 *   s6 {0,1,4}: 0.8 + (0 - 0.05 + 0) / 3 = 0.783333, tau 0; s1 {1}: 0.75; s2 {2}: 0.8 */
static void test_baseline_additive(void **state) {
    (void)state;
    cg_dataset d = toy_dataset();
    const int64_t smp[5] = {4, 5, 6, 1, 2};
    const double want_f[5] = {0.8, 0.775, 0.7833333, 0.75, 0.8};
    float pred[5][CG_NUM_LABELS];
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_RANDOM, CG_BASELINE_ADDITIVE, smp, 5, &pred[0][0]), CG_OK);
    for (int i = 0; i < 5; i++) {
        assert_float_equal(pred[i][CG_LABEL_FITNESS], want_f[i], 1e-6);
        assert_float_equal(pred[i][CG_LABEL_EPSILON], -0.02, 1e-7);
        assert_float_equal(pred[i][CG_LABEL_TAU], 0.0, 0);
    }
    /* the split kind is honoured: in the gene split only s0 is held out: training fitness s1 0.8, s2 0.5,
     * s3 0.7, s4 0.3, s6 0.5, s8 1.1 -> mean 0.65; gene 0: s3 0.05, s4 -0.35, s6 -0.15 -> -0.15; gene 2:
     * s2 -0.15, s4 -0.35 -> -0.25; s4 {0,2}: 0.65 + (-0.15 - 0.25) / 2 = 0.45 */
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_GENE, CG_BASELINE_ADDITIVE, smp, 1, &pred[0][0]), CG_OK);
    assert_float_equal(pred[0][CG_LABEL_FITNESS], 0.45, 1e-6);
}

static void test_baseline_errors(void **state) {
    (void)state;
    cg_dataset d = toy_dataset();
    float pred[2][CG_NUM_LABELS];
    const int64_t bad[1] = {NS};
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_RANDOM, CG_BASELINE_MEAN, bad, 1, &pred[0][0]), CG_ERR_INVALID_ARG);
    assert_non_null(strstr(cg_last_error(), "sample index 9"));
    const int64_t ok[1] = {0};
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_RANDOM, (cg_baseline)7, ok, 1, &pred[0][0]), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_KINDS, CG_BASELINE_MEAN, ok, 1, &pred[0][0]), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_baseline_predict(NULL, CG_SPLIT_RANDOM, CG_BASELINE_MEAN, ok, 1, &pred[0][0]), CG_ERR_INVALID_ARG);
    d.n_genes = 4; /* gene 4 (in samples 6 and 8, not in training) is now out of range */
    const int64_t s6 = 6;
    assert_int_equal(cg_baseline_predict(&d, CG_SPLIT_RANDOM, CG_BASELINE_MULTIPLICATIVE, &s6, 1, &pred[0][0]),
                     CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "gene index 4"));
    /* metrics_eval names the label and row of a bad prediction */
    d.n_genes = 5;
    const int64_t two[2] = {3, 4};
    float p2[2][CG_NUM_LABELS] = {{0.5f, 0.0f, 0.0f}, {0.5f, NAN, 0.0f}};
    cg_metrics m[CG_NUM_LABELS];
    assert_int_equal(cg_metrics_eval(&d, two, 2, &p2[0][0], m), CG_ERR_INVALID_ARG);
    assert_non_null(strstr(cg_last_error(), "epsilon"));
    assert_non_null(strstr(cg_last_error(), "prediction 1"));
    /* names */
    cg_baseline b;
    assert_true(cg_baseline_parse("multiplicative", &b) && b == CG_BASELINE_MULTIPLICATIVE);
    assert_true(cg_baseline_parse("mean", &b) && b == CG_BASELINE_MEAN);
    assert_string_equal(cg_baseline_name(CG_BASELINE_MEAN), "training_mean");
    assert_true(cg_baseline_parse("additive", &b) && b == CG_BASELINE_ADDITIVE);
    assert_false(cg_baseline_parse("median", &b));
}

static void test_split_samples(void **state) {
    (void)state;
    cg_dataset d = toy_dataset();
    int64_t *idx = NULL, n = -1;
    assert_int_equal(cg_eval_split_samples(&d, CG_SPLIT_RANDOM, CG_SPLIT_VAL, &idx, &n), CG_OK);
    assert_int_equal(n, 2);
    assert_int_equal(idx[0], 6);
    assert_int_equal(idx[1], 8);
    free(idx);
    assert_int_equal(cg_eval_split_samples(&d, CG_SPLIT_GENE, CG_SPLIT_VAL, &idx, &n), CG_OK);
    assert_int_equal(n, 0);
    assert_non_null(idx);
    free(idx);
    assert_int_equal(cg_eval_split_samples(&d, CG_SPLIT_RANDOM, 3, &idx, &n), CG_ERR_INVALID_ARG);
}

// ----------------------------------------------------------------------------
// plots

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void check_png(const char *path, long min_size) {
    long sz = file_size(path);
    if (sz < min_size) {
        print_error("%s: size %ld < %ld\n", path, sz, min_size);
        fail();
    }
    unsigned char sig[8];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(sig, 1, 8, f), 8);
    fclose(f);
    static const unsigned char want[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_memory_equal(sig, want, 8);
}

/* No file in path's folder whose name starts with "<basename of path>.tmp". */
static void check_no_temp(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[512];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s.tmp", slash ? slash + 1 : path);
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (!strncmp(e->d_name, prefix, strlen(prefix))) {
            print_error("temporary file left: %s/%s\n", dir, e->d_name);
            closedir(dd);
            fail();
        }
    }
    closedir(dd);
}

static char *read_all(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)*len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return b;
}

/* Runs fn with stdout and stderr sent to a file; asserts that nothing was printed. */
static int quiet_fd_save[2];
static char quiet_path[512];
static void quiet_begin(void) {
    fflush(stdout);
    fflush(stderr);
    tu_temp_path(quiet_path, sizeof quiet_path, "plot_output.txt");
    int fd = open(quiet_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    quiet_fd_save[0] = dup(1);
    quiet_fd_save[1] = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
}
static void quiet_end(void) {
    fflush(stdout);
    fflush(stderr);
    dup2(quiet_fd_save[0], 1);
    dup2(quiet_fd_save[1], 2);
    close(quiet_fd_save[0]);
    close(quiet_fd_save[1]);
    long sz = file_size(quiet_path);
    if (sz != 0) {
        long len;
        char *b = read_all(quiet_path, &len);
        b[len] = '\0';
        print_error("plotting printed %ld bytes:\n%s\n", sz, b);
        free(b);
        unlink(quiet_path);
        fail();
    }
    unlink(quiet_path);
}

static void test_plot_losses(void **state) {
    (void)state;
    assert_int_equal(cg_plot_check(), CG_OK);
    enum { E = 30 };
    double train[E], val[E];
    for (int e = 0; e < E; e++) {
        train[e] = 0.05 + 1.0 / (e + 1);
        val[e] = 0.12 + 0.9 / (e + 1) + 0.002 * e;
    }
    val[7] = NAN; /* a missing evaluation: the line breaks */
    char path[512], path1[512], plog[512];
    tu_temp_path(path, sizeof path, "losses.png");
    tu_temp_path(path1, sizeof path1, "losses_one.png");
    tu_temp_path(plog, sizeof plog, "losses_log.png");
    quiet_begin();
    cg_status s1 = cg_plot_losses(path, train, val, E, "HeteroCell # run 1: MSE loss");
    cg_status s2 = cg_plot_losses(path1, train, NULL, 1, NULL); /* one epoch, training only */
    double decades[E];
    for (int e = 0; e < E; e++) decades[e] = pow(10.0, -0.2 * e);
    cg_status s3 = cg_plot_losses(plog, decades, train, E, "log scale");
    quiet_end();
    assert_int_equal(s1, CG_OK);
    assert_int_equal(s2, CG_OK);
    assert_int_equal(s3, CG_OK);
    check_png(path, 5000);
    check_png(path1, 3000);
    check_png(plog, 5000);
    check_no_temp(path);
    check_no_temp(path1);
    check_no_temp(plog);
    /* overwriting an existing file works */
    assert_int_equal(cg_plot_losses(path1, train, val, 2, "again"), CG_OK);
    check_png(path1, 3000);
    if (!getenv("CG_KEEP_PLOTS")) {
        unlink(path);
        unlink(plog);
    }
    unlink(path1);
    assert_int_equal(cg_plot_losses(path, NULL, val, E, NULL), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_plot_losses(path, train, val, 0, NULL), CG_ERR_INVALID_ARG);
}

static void test_plot_scatter(void **state) {
    (void)state;
    enum { N = 50000 };
    float *t = malloc(N * sizeof *t), *p = malloc(N * sizeof *p), *noise = malloc(N * sizeof *noise);
    assert_true(t && p && noise);
    tu_fill_uniform(t, N, 0.2f, 1.1f, 3);
    tu_fill_uniform(noise, N, -0.15f, 0.15f, 4);
    for (int i = 0; i < N; i++) p[i] = 0.15f + 0.8f * t[i] + noise[i];
    for (int i = 0; i < N; i += 97) t[i] = NAN; /* absent labels: skipped */
    cg_metrics m;
    assert_int_equal(cg_metrics_compute(p, t, N, 1, 1, &m), CG_OK);
    char path[512], path2[512];
    tu_temp_path(path, sizeof path, "scatter.png");
    tu_temp_path(path2, sizeof path2, "scatter2.png");
    quiet_begin();
    cg_status s1 = cg_plot_scatter(path, p, t, N, "fitness", m.pearson);
    cg_status s2 = cg_plot_scatter(path2, p, t, N, "fitness", m.pearson);
    quiet_end();
    assert_int_equal(s1, CG_OK);
    assert_int_equal(s2, CG_OK);
    check_png(path, 20000);
    check_no_temp(path);
    /* deterministic: the same inputs give the same bytes */
    long l1, l2;
    char *b1 = read_all(path, &l1), *b2 = read_all(path2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, (size_t)l1);
    free(b1);
    free(b2);
    unlink(path2);
    /* a small plot, a NaN correlation */
    assert_int_equal(cg_plot_scatter(path2, p, p, 3, "gene_interaction", NAN), CG_OK);
    check_png(path2, 3000);
    unlink(path2);
    if (!getenv("CG_KEEP_PLOTS")) unlink(path);
    /* nothing finite to draw */
    const float nan3[3] = {NAN, NAN, NAN};
    assert_int_equal(cg_plot_scatter(path2, p, nan3, 3, "x", 0.5), CG_ERR_INVALID_ARG);
    assert_int_equal(file_size(path2), -1);
    free(t);
    free(p);
    free(noise);
}

static void test_plot_io_errors(void **state) {
    (void)state;
    const double train[3] = {1, 0.5, 0.25};
    const float v[3] = {1, 2, 3};
    /* a folder that does not exist: nothing created */
    const char *bad = "/nonexistent_cellgraph_dir/sub/plot.png";
    assert_int_equal(cg_plot_losses(bad, train, NULL, 3, "x"), CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), bad));
    assert_int_equal(cg_plot_scatter(bad, v, v, 3, "x", 1.0), CG_ERR_IO);
    assert_int_equal(file_size(bad), -1);
    /* the target is a folder: the plot is drawn, the rename fails, the temporary file is removed and
     * the folder is left alone */
    char dir[512];
    tu_temp_path(dir, sizeof dir, "plot_dir.png");
    assert_int_equal(mkdir(dir, 0755), 0);
    quiet_begin();
    cg_status s = cg_plot_losses(dir, train, NULL, 3, "x");
    quiet_end();
    assert_int_equal(s, CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), "rename"));
    check_no_temp(dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(rmdir(dir), 0);
    /* a read-only folder (skipped as root, who may write anyway) */
    if (geteuid() != 0) {
        char ro[512], target[600];
        tu_temp_path(ro, sizeof ro, "plot_ro");
        assert_int_equal(mkdir(ro, 0555), 0);
        snprintf(target, sizeof target, "%s/p.png", ro);
        assert_int_equal(cg_plot_losses(target, train, NULL, 3, "x"), CG_ERR_IO);
        assert_int_equal(file_size(target), -1);
        rmdir(ro);
    }
}

/* Plots from several threads at once: they serialise on the library's lock and all come out whole. */
typedef struct thread_job {
    char path[512];
    cg_status status;
} thread_job;

static void *plot_thread(void *arg) {
    thread_job *j = arg;
    double train[12], val[12];
    for (int e = 0; e < 12; e++) train[e] = 1.0 / (e + 1), val[e] = 1.1 / (e + 1);
    j->status = cg_plot_losses(j->path, train, val, 12, "threads");
    return NULL;
}

static void test_plot_threads(void **state) {
    (void)state;
    enum { T = 4 };
    thread_job jobs[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        char name[64];
        snprintf(name, sizeof name, "thread%d.png", i);
        tu_temp_path(jobs[i].path, sizeof jobs[i].path, name);
        jobs[i].status = CG_ERR_STATE;
        assert_int_equal(pthread_create(&th[i], NULL, plot_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < T; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < T; i++) {
        assert_int_equal(jobs[i].status, CG_OK);
        check_png(jobs[i].path, 5000);
        check_no_temp(jobs[i].path);
        unlink(jobs[i].path);
    }
}

/* PLplot without drivers (PLPLOT_DRV_DIR pointing at an empty folder) fails inside plgDevs with a
 * fatal error that would exit() the process; the exit handler brings it back as CG_ERR_NOT_FOUND. Run
 * in a fresh process (this binary, re-executed), because PLplot lists its drivers once per process;
 * that process must exit normally and print nothing. */
static int no_driver_child(const char *path) {
    const double train[3] = {1, 0.5, 0.25};
    if (cg_plot_check() != CG_ERR_NOT_FOUND) return 2;
    if (!strstr(cg_last_error(), "PLPLOT_DRV_DIR")) return 3; /* PLplot's own message is passed on */
    if (cg_plot_losses(path, train, NULL, 3, "x") != CG_ERR_NOT_FOUND) return 4;
    if (file_size(path) != -1) return 5;
    return 0;
}

static void test_plot_no_driver(void **state) {
    (void)state;
    char empty[512], out[512], path[512];
    tu_temp_path(empty, sizeof empty, "no_drivers");
    tu_temp_path(out, sizeof out, "no_drivers_output.txt");
    tu_temp_path(path, sizeof path, "no_drivers.png");
    assert_int_equal(mkdir(empty, 0755), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        setenv("PLPLOT_DRV_DIR", empty, 1);
        execl("/proc/self/exe", "test_metrics", "--no-driver-child", path, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    long printed = file_size(out);
    if (printed != 0) {
        long len;
        char *b = read_all(out, &len);
        b[len] = '\0';
        print_error("child printed:\n%s\n", b);
        free(b);
    }
    unlink(out);
    rmdir(empty);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(printed, 0);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--no-driver-child")) return no_driver_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_five_points),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_nan_and_strides),
        cmocka_unit_test(test_degenerate_and_errors),
        cmocka_unit_test(test_spearman_many_ties),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_baseline_mean),
        cmocka_unit_test(test_baseline_multiplicative),
        cmocka_unit_test(test_baseline_additive),
        cmocka_unit_test(test_baseline_errors),
        cmocka_unit_test(test_split_samples),
        cmocka_unit_test(test_plot_losses),
        cmocka_unit_test(test_plot_scatter),
        cmocka_unit_test(test_plot_io_errors),
        cmocka_unit_test(test_plot_threads),
        cmocka_unit_test(test_plot_no_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
