/* Results do not depend on the thread count: cellgraph's own kernels (fixed partitions) and its matrix
 * products (cg_gemm: single-threaded sgemm calls over a fixed partition) give bitwise identical results
 * on 1, 2 and 3 threads, and so do whole training runs of HeteroCell and DANGO on the real data (their
 * checkpoints and optimizer states are the same files). Two runs with the same thread count agree
 * bitwise. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cellgraph/autograd.h"
#include "cellgraph/ops.h"
#include "cellgraph/params.h"
#include "cellgraph/rng.h"
#include "cellgraph/threads.h"
#include "testutil.h"

enum { NODES = 3000, FEAT = 48 };

/* random graph: node i has (i * 7) % 23 in-edges (some 0) */
static void make_csr(cg_csr *csr, int64_t **rowptr, int32_t **col) {
    int64_t *rp = malloc((NODES + 1) * sizeof *rp);
    rp[0] = 0;
    for (int i = 0; i < NODES; i++) rp[i + 1] = rp[i] + (i * 7) % 23;
    int32_t *c = malloc(rp[NODES] * sizeof *c);
    for (int64_t e = 0; e < rp[NODES]; e++) c[e] = (int32_t)(cg_rng_u32(5, 0, e) % NODES);
    *csr = (cg_csr){.n_rows = NODES, .n_cols = NODES, .nnz = rp[NODES], .rowptr = rp, .col = c};
    *rowptr = rp;
    *col = c;
}

/* One forward + backward through the non-BLAS ops; returns a malloc'd copy of output and gradients. */
static float *run(int threads, const cg_csr *csr, size_t *n_out) {
    assert_int_equal(cg_set_num_threads(threads), CG_OK);
    cg_param_store ps;
    cg_params_init(&ps);
    cg_tensor *emb, *lnw, *lnb;
    int64_t es[2] = {NODES, FEAT}, ls[1] = {FEAT};
    assert_int_equal(cg_params_add(&ps, "emb", 2, es, &emb), CG_OK);
    assert_int_equal(cg_params_add(&ps, "ln.weight", 1, ls, &lnw), CG_OK);
    assert_int_equal(cg_params_add(&ps, "ln.bias", 1, ls, &lnb), CG_OK);
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    cg_rng_fill_normal(cg_f32(emb), emb->numel, 0, 1, 11, 0);
    cg_rng_fill_uniform(cg_f32(lnw), FEAT, 0.5f, 1.5f, 11, 1);
    cg_rng_fill_uniform(cg_f32(lnb), FEAT, -0.5f, 0.5f, 11, 2);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 3), CG_OK);
    int64_t ne = csr->nnz;
    cg_tensor *idx = cg_tensor_wrap(&ctx, CG_I32, 1, &ne, (void *)csr->col);
    cg_tensor *msg = cg_gather_rows(&ctx, emb, idx);                 /* [E, F] */
    cg_tensor *att = cg_segment_softmax(&ctx, cg_slice_cols(&ctx, msg, 0, FEAT / 4), csr);
    cg_tensor *agg = cg_segment_sum(&ctx, cg_mul(&ctx, msg, cg_concat(&ctx, (cg_tensor *[]){att, att, att, att}, 4)), csr);
    agg = cg_add(&ctx, agg, cg_segment_max(&ctx, msg, csr));
    agg = cg_add(&ctx, agg, cg_segment_mean(&ctx, msg, csr));
    cg_tensor *h = cg_dropout(&ctx, cg_gelu(&ctx, cg_layernorm(&ctx, agg, lnw, lnb, 1e-5f)), 0.2f);
    h = cg_scatter_add_rows(&ctx, h, cg_tensor_wrap(&ctx, CG_I32, 1, (int64_t[]){NODES}, (void *)csr->col), NODES);
    cg_tensor *loss = cg_add(&ctx, cg_mean(&ctx, h), cg_sum(&ctx, cg_mean_rows(&ctx, h)));
    if (!loss) print_error("%s\n", cg_last_error());
    assert_non_null(loss);
    assert_int_equal(cg_backward(&ctx, loss), CG_OK);
    size_t n = (size_t)h->numel + (size_t)ps.total + 1;
    float *res = malloc(n * sizeof(float));
    memcpy(res, h->data, h->numel * sizeof(float));
    memcpy(res + h->numel, ps.grads, ps.total * sizeof(float));
    res[n - 1] = cg_f32(loss)[0];
    *n_out = n;
    cg_ctx_free(&ctx);
    cg_params_free(&ps);
    return res;
}

static void test_thread_independent(void **state) {
    (void)state;
    cg_csr csr;
    int64_t *rp;
    int32_t *col;
    make_csr(&csr, &rp, &col);
    assert_int_equal(cg_csr_validate(&csr), CG_OK);
    size_t n1, n2, n3;
    float *a = run(1, &csr, &n1);
    float *b = run(2, &csr, &n2);
    float *c = run(2, &csr, &n3);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof(float));
    assert_memory_equal(b, c, n1 * sizeof(float));
    free(a);
    free(b);
    free(c);
    free(rp);
    free(col);
}

static void test_fixed_sum(void **state) {
    (void)state;
    int64_t n = 1000003;
    float *x = malloc(n * sizeof(float));
    tu_fill_uniform(x, n, -1, 1, 4);
    assert_int_equal(cg_set_num_threads(1), CG_OK);
    float s1 = cg_sum_forward(x, n);
    assert_int_equal(cg_set_num_threads(2), CG_OK);
    float s2 = cg_sum_forward(x, n);
    assert_memory_equal(&s1, &s2, sizeof s1);
    double ref = 0;
    for (int64_t i = 0; i < n; i++) ref += x[i];
    assert_float_equal(s1, (float)ref, 1e-3);
    free(x);
}

/* ---------------------------------------------------------------- cg_gemm */

typedef struct gemm_case {
    bool ta, tb;
    int64_t m, n, k, pad; /* pad: leading dimensions this much larger than the matrices' widths */
    float alpha, beta;
} gemm_case;

/* C (ldc = n + pad) from cg_gemm on `threads` threads, starting from C0 */
static float *gemm_run(const gemm_case *t, int threads, const float *A, const float *B, const float *C0) {
    assert_int_equal(cg_set_num_threads(threads), CG_OK);
    const int64_t lda = (t->ta ? t->m : t->k) + t->pad, ldb = (t->tb ? t->k : t->n) + t->pad, ldc = t->n + t->pad;
    float *C = malloc((size_t)(t->m * ldc) * sizeof(float));
    memcpy(C, C0, (size_t)(t->m * ldc) * sizeof(float));
    cg_gemm(t->ta, t->tb, t->m, t->n, t->k, t->alpha, A, lda, B, ldb, t->beta, C, ldc);
    return C;
}

/* Every path of cg_gemm (one call, tiles of C, chunks of k; transposes; leading dimensions wider than the
 * matrices; beta 0, 1 and other): within float rounding of a double reference, and bitwise the same on
 * 1, 2 and 3 threads. The padding of C outside the product is left as it was. */
static void test_gemm_any_threads(void **state) {
    (void)state;
    const gemm_case cases[] = {
        {false, false, 300, 200, 64, 0, 1.0f, 0.0f},  /* tiles of C */
        {true, true, 130, 260, 70, 3, 0.5f, 1.0f},    /* tiles, both transposed, padded */
        {true, false, 64, 64, 5000, 0, 1.0f, 1.0f},   /* weight gradient: chunks of k */
        {false, true, 7, 3, 3000, 2, -2.0f, 0.25f},   /* chunks of k, padded */
        {false, false, 50, 40, 30, 1, 1.0f, 0.0f},    /* one call */
        {false, false, 20, 10, 0, 0, 1.0f, 0.5f},     /* k = 0: C = beta C */
    };
    const int restore = cg_get_num_threads();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const gemm_case *t = &cases[c];
        const int64_t lda = (t->ta ? t->m : t->k) + t->pad, ldb = (t->tb ? t->k : t->n) + t->pad, ldc = t->n + t->pad;
        const int64_t na = (t->ta ? t->k : t->m) * lda, nb = (t->tb ? t->n : t->k) * ldb, nc = t->m * ldc;
        float *A = malloc((size_t)(na + 1) * sizeof(float)), *B = malloc((size_t)(nb + 1) * sizeof(float));
        float *C0 = malloc((size_t)nc * sizeof(float));
        tu_fill_uniform(A, na, -1, 1, 100 + c);
        tu_fill_uniform(B, nb, -1, 1, 200 + c);
        tu_fill_uniform(C0, nc, -1, 1, 300 + c);
        float *c1 = gemm_run(t, 1, A, B, C0), *c2 = gemm_run(t, 2, A, B, C0), *c3 = gemm_run(t, 3, A, B, C0);
        assert_memory_equal(c1, c2, (size_t)nc * sizeof(float));
        assert_memory_equal(c1, c3, (size_t)nc * sizeof(float));
        double *ref = malloc((size_t)nc * sizeof(double));
        for (int64_t i = 0; i < t->m; i++)
            for (int64_t j = 0; j < ldc; j++) {
                if (j >= t->n) { /* padding: untouched */
                    ref[i * ldc + j] = C0[i * ldc + j];
                    continue;
                }
                double acc = 0;
                for (int64_t l = 0; l < t->k; l++) {
                    const double a = t->ta ? A[l * lda + i] : A[i * lda + l], b = t->tb ? B[j * ldb + l] : B[l * ldb + j];
                    acc += a * b;
                }
                ref[i * ldc + j] = t->alpha * acc + (t->beta == 0.0f ? 0.0 : (double)t->beta * C0[i * ldc + j]);
            }
        char label[64];
        snprintf(label, sizeof label, "cg_gemm case %zu (m %lld n %lld k %lld)", c, (long long)t->m, (long long)t->n,
                 (long long)t->k);
        tu_check_close(label, c1, ref, nc, 1e-5, sqrt((double)t->k) + 1.0); /* results are O(sqrt(k)) */
        free(A), free(B), free(C0), free(c1), free(c2), free(c3), free(ref);
    }
    assert_int_equal(cg_set_num_threads(restore), CG_OK);
}

/* ---------------------------------------------------------------- whole training runs */

/* Trains CONFIG (extra command-line options OPTS) for 2 steps on 1 and on 2 threads, from the real data:
 * the checkpoints and optimizer states are the same files. */
static void check_run_any_threads(const char *dir, const char *config, const char *opts) {
    const char *data = getenv("CELLGRAPH_TEST_DATA");
    char out[8192], a[700], b[700];
    for (int t = 1; t <= 2; t++) {
        char run[600];
        snprintf(run, sizeof run, "%s/run%d", dir, t);
        if (tu_run_cli(out, sizeof out, "train --config '%s' --data '%s' --out '%s' --max-steps 2 --threads %d %s", config,
                       data, run, t, opts) != 0)
            fail_msg("%s", out);
    }
    const char *files[] = {"checkpoint_last.safetensors", "optimizer_last.safetensors", "checkpoint_best.safetensors"};
    for (int f = 0; f < 3; f++) {
        snprintf(a, sizeof a, "%s/run1/%s", dir, files[f]);
        snprintf(b, sizeof b, "%s/run2/%s", dir, files[f]);
        if (!tu_same_file(a, b)) fail_msg("%s differs between 1 and 2 threads (%s)", files[f], config);
    }
}

static void test_training_any_threads(void **state) {
    (void)state;
    if (!getenv("CELLGRAPH_TEST_DATA") || !getenv("CELLGRAPH_CLI") || !getenv("CELLGRAPH_SOURCE_DIR")) skip();
    char dir[512], cache[600], cfg[600], sub[600];
    tu_temp_path(dir, sizeof dir, "any_threads");
    mkdir(dir, 0755);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("CELLGRAPH_CACHE", cache, 1);
    /* HeteroCell as shipped (batch 32) */
    snprintf(cfg, sizeof cfg, "%s/configs/hetero_cell.json", getenv("CELLGRAPH_SOURCE_DIR"));
    snprintf(sub, sizeof sub, "%s/hetero_cell", dir);
    mkdir(sub, 0755);
    check_run_any_threads(sub, cfg, "--batch-size 32");
    /* a small DANGO, pre-training included */
    snprintf(cfg, sizeof cfg, "%s/dango.json", dir);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"model\": \"dango\", \"hidden_channels\": 32, \"heads\": 2, \"recon_genes\": 64, \"pretrain_epochs\": 1, "
               "\"pretrain_batch_size\": 1024, \"train\": {\"batch_size\": 32, \"max_train_samples\": 64, "
               "\"max_val_samples\": 64, \"loss\": \"logcosh\", \"val_every\": 1}}\n");
    fclose(f);
    snprintf(sub, sizeof sub, "%s/dango", dir);
    mkdir(sub, 0755);
    check_run_any_threads(sub, cfg, "");
    unsetenv("CELLGRAPH_CACHE");
}

static void test_threads_env(void **state) {
    (void)state;
    setenv("CELLGRAPH_THREADS", "2", 1);
    assert_int_equal(cg_threads_from_env(), CG_OK);
    assert_int_equal(cg_get_num_threads(), 2);
    setenv("CELLGRAPH_THREADS", "two", 1);
    assert_int_equal(cg_threads_from_env(), CG_ERR_INVALID_ARG);
    unsetenv("CELLGRAPH_THREADS");
    assert_int_equal(cg_set_num_threads(0), CG_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_independent),
        cmocka_unit_test(test_fixed_sum),
        cmocka_unit_test(test_gemm_any_threads),
        cmocka_unit_test(test_training_any_threads),
        cmocka_unit_test(test_threads_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
