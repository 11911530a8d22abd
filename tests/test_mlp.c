/* End to end: a two-layer MLP trained with AdamW through the tape fits a known nonlinear function, and
 * the same run repeated (same seed, same thread count) is bitwise identical. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "cellgraph/optim.h"
#include "cellgraph/params.h"
#include "cellgraph/rng.h"
#include "cellgraph/threads.h"
#include "testutil.h"

enum { NPTS = 256, HIDDEN = 64, STEPS = 3000 };

typedef struct run_result {
    float first_loss, last_loss;
    float *params; /* copy of the final parameter block */
    int64_t n;
} run_result;

/* y = sin(2 x0) * x1 on x in [-2, 2]^2: uncorrelated with x0 and x1, so a linear fit stays at the
 * variance of y (about 0.67) */
static run_result train(uint64_t seed) {
    cg_param_store ps;
    cg_params_init(&ps);
    cg_tensor *w1, *b1, *w2, *b2;
    assert_int_equal(cg_params_add(&ps, "0.weight", 2, (int64_t[]){HIDDEN, 2}, &w1), CG_OK);
    assert_int_equal(cg_params_add(&ps, "0.bias", 1, (int64_t[]){HIDDEN}, &b1), CG_OK);
    assert_int_equal(cg_params_add(&ps, "2.weight", 2, (int64_t[]){1, HIDDEN}, &w2), CG_OK);
    assert_int_equal(cg_params_add(&ps, "2.bias", 1, (int64_t[]){1}, &b2), CG_OK);
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    /* torch.nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    float k1 = 1.0f / sqrtf(2.0f), k2 = 1.0f / sqrtf((float)HIDDEN);
    cg_rng_fill_uniform(cg_f32(w1), w1->numel, -k1, k1, seed, 1);
    cg_rng_fill_uniform(cg_f32(b1), b1->numel, -k1, k1, seed, 2);
    cg_rng_fill_uniform(cg_f32(w2), w2->numel, -k2, k2, seed, 3);
    cg_rng_fill_uniform(cg_f32(b2), b2->numel, -k2, k2, seed, 4);

    float *x = malloc(NPTS * 2 * sizeof(float)), *y = malloc(NPTS * sizeof(float));
    cg_rng_fill_uniform(x, NPTS * 2, -2.0f, 2.0f, 77, 0);
    for (int i = 0; i < NPTS; i++) y[i] = sinf(2.0f * x[2 * i]) * x[2 * i + 1];

    cg_optim_config cfg = cg_optim_defaults(CG_OPTIM_ADAMW);
    cfg.lr = 1e-2;
    cg_optim opt;
    assert_int_equal(cg_optim_create(&opt, &ps, &cfg), CG_OK);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 20, seed), CG_OK);
    run_result r = {0};
    for (int step = 0; step < STEPS; step++) {
        assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
        cg_params_zero_grad(&ps);
        cg_tensor *tx = cg_tensor_wrap2(&ctx, NPTS, 2, x), *ty = cg_tensor_wrap2(&ctx, NPTS, 1, y);
        cg_tensor *h = cg_dropout(&ctx, cg_gelu(&ctx, cg_linear(&ctx, tx, w1, b1)), 0.05f);
        cg_tensor *loss = cg_mse_masked(&ctx, cg_linear(&ctx, h, w2, b2), ty);
        assert_int_equal(cg_ctx_status(&ctx), CG_OK);
        assert_int_equal(cg_backward(&ctx, loss), CG_OK);
        float norm;
        assert_int_equal(cg_clip_grad_norm(&ps, 5.0f, &norm), CG_OK);
        opt.lr = 1e-2 * 0.5 * (1.0 + cos(M_PI * step / STEPS)); /* cosine schedule */
        assert_int_equal(cg_optim_step(&opt, &ps), CG_OK);
        if (step == 0) r.first_loss = cg_f32(loss)[0];
    }
    /* final loss in eval mode (no dropout) */
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    ctx.training = false;
    ctx.grad_enabled = false;
    cg_tensor *tx = cg_tensor_wrap2(&ctx, NPTS, 2, x), *ty = cg_tensor_wrap2(&ctx, NPTS, 1, y);
    cg_tensor *pred = cg_linear(&ctx, cg_gelu(&ctx, cg_linear(&ctx, tx, w1, b1)), w2, b2);
    r.last_loss = cg_f32(cg_mse_masked(&ctx, pred, ty))[0];
    r.n = ps.total;
    r.params = malloc(ps.total * sizeof(float));
    memcpy(r.params, ps.values, ps.total * sizeof(float));
    cg_ctx_free(&ctx);
    cg_optim_free(&opt);
    cg_params_free(&ps);
    free(x);
    free(y);
    return r;
}

static void test_mlp_fits_and_is_reproducible(void **state) {
    (void)state;
    assert_int_equal(cg_set_num_threads(2), CG_OK);
    run_result a = train(2024), b = train(2024);
    print_message("MLP: first loss %.4f, final loss %.5f (variance of y ~ 0.67)\n", a.first_loss, a.last_loss);
    assert_true(a.first_loss > 0.3f);
    assert_true(a.last_loss < 0.02f);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.params, b.params, a.n * sizeof(float));
    assert_memory_equal(&a.last_loss, &b.last_loss, sizeof(float));
    /* another seed gives another run (the test can tell runs apart) */
    run_result c = train(7);
    assert_true(memcmp(a.params, c.params, a.n * sizeof(float)) != 0);
    assert_true(c.last_loss < 0.02f);
    free(a.params);
    free(b.params);
    free(c.params);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mlp_fits_and_is_reproducible)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
