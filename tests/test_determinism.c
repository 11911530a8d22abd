/* Reductions use a fixed partition: cellgraph's own kernels give bitwise identical results on 1 and 2
 * threads (BLAS is deterministic for a fixed thread count, which test_mlp covers), and two runs with
 * the same thread count agree bitwise. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
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
        cmocka_unit_test(test_threads_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
