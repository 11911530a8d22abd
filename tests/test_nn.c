/* Layers (Linear, LayerNorm, MLP with activation and dropout, Embedding, AttentionalAggregation):
 * forward against a double-precision reference, and gradients of every parameter against central
 * finite differences of that reference, on a small random graph of 3 groups. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/nn.h"
#include "testutil.h"

enum { NE = 9, F = 5, HID = 4, OUT = 3, NR = 11, S = 3 };
/* 11 rows of embeddings (ids with repeats), grouped 4 / 0 / 7 */
static const int32_t IDS[NR] = {0, 3, 3, 8, 1, 2, 5, 7, 8, 0, 6};
static const int64_t ROWPTR[S + 1] = {0, 4, 4, 11};

/* parameters of the model, as doubles, in registration order */
typedef struct ref_params {
    const double *emb;          /* [NE, F] */
    const double *w1, *b1;      /* gate layer 0: [HID, F], [HID] */
    const double *w2, *b2;      /* gate layer 1: [1, HID], [1] */
    const double *wt, *bt;      /* transform: [OUT, F], [OUT] */
    const double *lnw, *lnb;    /* transform norm [OUT] */
} ref_params;

static double gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }

/* z [S, OUT]: gate(x) = W2 gelu(W1 x + b1) + b2; transform(x) = gelu(LN(Wt x + bt)) */
static void ref_forward(const ref_params *p, double *z) {
    double gate[NR], tr[NR][OUT];
    for (int i = 0; i < NR; i++) {
        const double *x = p->emb + IDS[i] * F;
        double h[HID];
        for (int a = 0; a < HID; a++) {
            double s = p->b1[a];
            for (int j = 0; j < F; j++) s += p->w1[a * F + j] * x[j];
            h[a] = gelu(s);
        }
        double g = p->b2[0];
        for (int a = 0; a < HID; a++) g += p->w2[a] * h[a];
        gate[i] = g;
        double t[OUT], mean = 0, var = 0;
        for (int o = 0; o < OUT; o++) {
            double s = p->bt[o];
            for (int j = 0; j < F; j++) s += p->wt[o * F + j] * x[j];
            t[o] = s;
            mean += s / OUT;
        }
        for (int o = 0; o < OUT; o++) var += (t[o] - mean) * (t[o] - mean) / OUT;
        for (int o = 0; o < OUT; o++) tr[i][o] = gelu((t[o] - mean) / sqrt(var + 1e-5) * p->lnw[o] + p->lnb[o]);
    }
    for (int s = 0; s < S; s++) {
        double m = -INFINITY, zsum = 0;
        for (int64_t i = ROWPTR[s]; i < ROWPTR[s + 1]; i++) m = fmax(m, gate[i]);
        for (int64_t i = ROWPTR[s]; i < ROWPTR[s + 1]; i++) zsum += exp(gate[i] - m);
        for (int o = 0; o < OUT; o++) {
            double acc = 0;
            for (int64_t i = ROWPTR[s]; i < ROWPTR[s + 1]; i++) acc += exp(gate[i] - m) / zsum * tr[i][o];
            z[s * OUT + o] = acc;
        }
    }
}

static void test_layers_gradients(void **state) {
    (void)state;
    cg_param_store ps;
    cg_params_init(&ps);
    cg_embedding_layer emb;
    cg_mlp gate, transform;
    assert_int_equal(cg_embedding_register(&emb, &ps, "emb", NE, F), CG_OK);
    assert_int_equal(cg_mlp_register(&gate, &ps, "gate", F, HID, 1, 2, false, CG_ACT_GELU, 0.0f, false), CG_OK);
    assert_int_equal(cg_mlp_register(&transform, &ps, "transform", F, OUT, OUT, 1, true, CG_ACT_GELU, 0.0f, true),
                     CG_OK);
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    cg_embedding_init(&emb, 3);
    cg_mlp_init(&gate, 3);
    cg_mlp_init(&transform, 3);
    /* LayerNorm parameters away from their 1 / 0 init, so that their gradients are exercised */
    tu_fill_uniform(cg_f32(transform.norm[0].weight), OUT, 0.5f, 1.5f, 4);
    tu_fill_uniform(cg_f32(transform.norm[0].bias), OUT, -0.5f, 0.5f, 5);
    assert_non_null(cg_params_find(&ps, "gate.layers.1.weight"));
    assert_non_null(cg_params_find(&ps, "transform.norms.0.bias"));

    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    int64_t nr = NR;
    cg_tensor *ids = cg_tensor_wrap(&ctx, CG_I32, 1, &nr, (void *)IDS);
    int32_t col[NR];
    for (int i = 0; i < NR; i++) col[i] = i;
    cg_csr csr = {.n_rows = S, .n_cols = NR, .nnz = NR, .rowptr = ROWPTR, .col = col};
    cg_tensor *z = cg_attentional_aggregation(&ctx, &gate, &transform, cg_embedding_forward(&ctx, &emb, ids), &csr);
    if (!z) fail_msg("%s", cg_last_error());
    assert_int_equal(z->numel, S * OUT);

    /* double copy of every parameter, in store order */
    double *pd = malloc(ps.total * sizeof(double));
    for (int64_t i = 0; i < ps.total; i++) pd[i] = ps.values[i];
#define P(name) (pd + (cg_params_find(&ps, name)->data ? (float *)cg_params_find(&ps, name)->data - ps.values : 0))
    ref_params rp = {P("emb.weight"), P("gate.layers.0.weight"), P("gate.layers.0.bias"), P("gate.layers.1.weight"),
                     P("gate.layers.1.bias"), P("transform.layers.0.weight"), P("transform.layers.0.bias"),
                     P("transform.norms.0.weight"), P("transform.norms.0.bias")};
#undef P
    double zr[S * OUT];
    ref_forward(&rp, zr);
    tu_check_close("attentional aggregation forward", cg_f32(z), zr, S * OUT, 1e-5, 1e-3);
    for (int o = 0; o < OUT; o++) assert_float_equal(cg_f32(z)[OUT + o], 0.0f, 0.0f); /* empty group */

    float r[S * OUT];
    tu_fill_uniform(r, S * OUT, -1, 1, 6);
    assert_int_equal(cg_backward_from(&ctx, z, r), CG_OK);
    for (int p = 0; p < ps.count; p++) {
        cg_tensor *t = ps.tensors[p];
        int64_t off = ps.offsets[p];
        double *fd = malloc(t->numel * sizeof(double)), maxabs = 0, tmp[S * OUT];
        for (int64_t j = 0; j < t->numel; j++) {
            double x0 = pd[off + j], h = 1e-6, lp = 0, lm = 0;
            pd[off + j] = x0 + h;
            ref_forward(&rp, tmp);
            for (int k = 0; k < S * OUT; k++) lp += r[k] * tmp[k];
            pd[off + j] = x0 - h;
            ref_forward(&rp, tmp);
            for (int k = 0; k < S * OUT; k++) lm += r[k] * tmp[k];
            pd[off + j] = x0;
            fd[j] = (lp - lm) / (2 * h);
            maxabs = fmax(maxabs, fabs(fd[j]));
        }
        char label[96];
        snprintf(label, sizeof label, "d/d %s", t->name);
        if (maxabs < 1e-8) {
            /* the gate's last bias shifts all logits of a softmax equally: its gradient is exactly 0 */
            for (int64_t j = 0; j < t->numel; j++) assert_true(fabsf(t->grad[j]) < 1e-6f);
        } else {
            tu_check_close(label, t->grad, fd, t->numel, 2e-4, fmax(1e-2 * maxabs, 1e-6));
        }
        free(fd);
    }
    free(pd);
    cg_ctx_free(&ctx);
    cg_params_free(&ps);
}

/* Linear with PyTorch's layout and init bounds; dropout in an MLP is off in eval mode */
static void test_linear_and_dropout(void **state) {
    (void)state;
    cg_param_store ps;
    cg_params_init(&ps);
    cg_linear_layer l;
    cg_mlp m;
    assert_int_equal(cg_linear_register(&l, &ps, "lin", 6, 4, true), CG_OK);
    assert_int_equal(cg_mlp_register(&m, &ps, "mlp", 4, 8, 2, 3, true, CG_ACT_RELU, 0.5f, false), CG_OK);
    assert_int_equal(cg_linear_register(&l, &ps, "lin", 6, 4, true), CG_ERR_INVALID_ARG); /* duplicate names */
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    cg_linear_layer lin;
    lin.weight = cg_params_find(&ps, "lin.weight");
    lin.bias = cg_params_find(&ps, "lin.bias");
    lin.in = 6, lin.out = 4;
    cg_linear_init(&lin, 9);
    cg_mlp_init(&m, 9);
    float k = 1.0f / sqrtf(6.0f);
    for (int64_t i = 0; i < lin.weight->numel; i++) assert_true(fabsf(cg_f32(lin.weight)[i]) <= k);
    assert_int_equal(lin.weight->shape[0], 4);
    assert_int_equal(lin.weight->shape[1], 6);
    float xin[3 * 6];
    tu_fill_uniform(xin, 18, -1, 1, 2);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    ctx.training = false;
    cg_tensor *a = cg_mlp_forward(&ctx, &m, cg_linear_layer_forward(&ctx, &lin, cg_tensor_wrap2(&ctx, 3, 6, xin)));
    cg_tensor *b = cg_mlp_forward(&ctx, &m, cg_linear_layer_forward(&ctx, &lin, cg_tensor_wrap2(&ctx, 3, 6, xin)));
    assert_non_null(a);
    assert_memory_equal(a->data, b->data, 6 * sizeof(float)); /* no dropout in eval mode */
    ctx.training = true;
    cg_tensor *c = cg_mlp_forward(&ctx, &m, cg_linear_layer_forward(&ctx, &lin, cg_tensor_wrap2(&ctx, 3, 6, xin)));
    assert_non_null(c);
    assert_true(memcmp(a->data, c->data, 6 * sizeof(float)) != 0); /* dropout 0.5 changes something */
    cg_ctx_free(&ctx);
    cg_params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers_gradients),
        cmocka_unit_test(test_linear_and_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
