/* DANGO (cellgraph/dango.h):
 *   - config: defaults, round trip through the registry, unknown keys and bad values as errors;
 *   - neighbour sampling: sizes, distinct members of the list, a function of (seed, step, network, layer,
 *     node), step-independent in evaluation, the full list when num_samples is 0 or large;
 *   - the new op (the weighted sparse reconstruction MSE) against central finite differences; the fused op
 *     (the reconstruction's last Linear + that MSE, P never formed) against the unfused pair on the real
 *     networks;
 *   - parity with the PyTorch reference written from the specification (reference/dango_reference.py,
 *     tests/fixtures/dango/): outputs, reconstruction loss and every parameter gradient, paper head and
 *     released head, on a tiny synthetic pair of networks with full neighbourhoods, then three Adam steps;
 *   - pre-training lowers the reconstruction loss (tiny networks);
 *   - the evaluation cache of the meta-embeddings equals encoding each batch, and training ignores it;
 *   - `cellgraph train` pre-trains a new run (not a resumed one), and `predict` on its checkpoint prints
 *     the in-process prediction; an ensemble of 2 keeps the two best validations across a resume;
 *   - on the real data (graph with every optional relation): an init without the optional relations
 *     fails naming the relation; the model overfits 64 real training genotypes through the trainer (with
 *     the auxiliary reconstruction loss on). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cellgraph/autograd.h"
#include "cellgraph/dango.h"
#include "cellgraph/genes.h"
#include "cellgraph/optim.h"
#include "cellgraph/rng.h"
#include "cellgraph/safetensors.h"
#include "cellgraph/trainer.h"
#include "testutil.h"

static cg_graph *G;
static cg_dataset DS;
static bool have;

static int setup(void **state) {
    (void)state;
    const char *dir = getenv("CELLGRAPH_TEST_DATA");
    if (!dir || !*dir) return 0;
    cg_genes *genes = NULL;
    const char *all[1] = {"all"};
    if (cg_graph_build_ex(dir, "default", all, 1, &G) != CG_OK || cg_graph_genes(G, &genes) != CG_OK ||
        cg_dataset_build(dir, genes, NULL, &DS) != CG_OK) {
        fprintf(stderr, "%s\n", cg_last_error());
        return -1;
    }
    cg_genes_free(genes);
    have = true;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (have) {
        cg_dataset_free(&DS);
        cg_graph_free(G);
    }
    return 0;
}

/* ------------------------------------------------------------------ config */

static void test_config(void **state) {
    (void)state;
    cg_dango_config d = cg_dango_defaults();
    assert_int_equal(d.hidden_channels, 128);
    assert_int_equal(d.heads, 8);
    assert_int_equal(d.num_samples, 5);
    assert_false(d.released_head);
    assert_int_equal(d.n_networks, 6);
    assert_string_equal(d.networks[1], "physical");
    assert_true(d.recon_weights[0] == 0.1f && d.recon_weights[2] == 1.0f);

    cg_model_config c, c2;
    assert_int_equal(cg_model_config_parse("{\"model\": \"dango\", \"released_head\": true, \"num_samples\": 0, "
                                           "\"networks\": [\"physical\", \"coexpression\"], \"recon_weights\": [1, 0.5], "
                                           "\"train\": {\"epochs\": 2}}", "a.json", &c), CG_OK);
    assert_string_equal(c.type->name, "dango");
    const cg_dango_config *dc = cg_model_config_cdata(&c);
    assert_true(dc->released_head);
    assert_int_equal(dc->num_samples, 0);
    assert_int_equal(dc->n_networks, 2);
    assert_true(dc->recon_weights[1] == 0.5f);
    char *txt = cg_model_config_json(&c);
    assert_non_null(txt);
    assert_int_equal(cg_model_config_parse(txt, "roundtrip", &c2), CG_OK);
    assert_memory_equal(c2.data, c.data, sizeof(cg_dango_config));
    free(txt);
    /* the defaults round trip too */
    cg_model_config_defaults(&c, &cg_dango_model_type);
    txt = cg_model_config_json(&c);
    assert_int_equal(cg_model_config_parse(txt, "roundtrip", &c2), CG_OK);
    assert_memory_equal(c2.data, c.data, sizeof(cg_dango_config));
    free(txt);

    const char *bad[] = {
        "{\"model\": \"dango\", \"hidden\": 3}",
        "{\"model\": \"dango\", \"heads\": 0}",
        "{\"model\": \"dango\", \"heads\": 2.5}",
        "{\"model\": \"dango\", \"released_head\": 1}",
        "{\"model\": \"dango\", \"dropout_ffn\": 1}",
        "{\"model\": \"dango\", \"networks\": []}",
        "{\"model\": \"dango\", \"networks\": [\"physical\", \"physical\"]}",
        "{\"model\": \"dango\", \"recon_weights\": [1, 1]}",
        "{\"model\": \"dango\", \"recon_weights\": [1, 1, 1, 1, 1, -1]}",
        "{\"model\": \"dango\", \"recon_genes\": 0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(cg_model_config_parse(bad[i], "bad.json", &c), CG_ERR_FORMAT);
        assert_non_null(strstr(cg_last_error(), "bad.json"));
    }
    assert_int_equal(cg_model_config_parse("{\"model\": \"dango\", \"hidden\": 3}", "bad.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "'hidden'"));
}

/* ------------------------------------------------------------------ the fixture */

typedef struct fixture {
    cg_safetensors *st;
    cg_dango_network net[2];
    cg_dango m;
} fixture;

static const void *fx_data(fixture *f, const char *name, int64_t *numel) {
    cg_safetensors_info info;
    if (cg_safetensors_find(f->st, name, &info) != CG_OK) fail_msg("%s", cg_last_error());
    if (numel) *numel = info.numel;
    return info.data;
}

static cg_dango_config tiny_config(bool released) {
    cg_dango_config c = cg_dango_defaults();
    c.hidden_channels = 8;
    c.heads = 2;
    c.num_samples = 0;
    c.released_head = released;
    c.dropout_attention = c.dropout_ffn = c.dropout_out = 0;
    c.n_networks = 2;
    snprintf(c.networks[0], sizeof c.networks[0], "a");
    snprintf(c.networks[1], sizeof c.networks[1], "b");
    c.recon_weights[0] = 0.1f;
    c.recon_weights[1] = 1.0f;
    return c;
}

/* opens the fixture and builds the model on its networks with the fixture's parameters */
static void fx_open(fixture *f, const char *file, cg_dango_config cfg) {
    char path[1024];
    const char *src = getenv("CELLGRAPH_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/fixtures/dango/%s", src ? src : ".", file);
    if (cg_safetensors_open(path, &f->st) != CG_OK) fail_msg("%s", cg_last_error());
    for (int g = 0; g < 2; g++) {
        char n[64];
        snprintf(n, sizeof n, "net%d.rowptr", g);
        const int32_t *rp32 = fx_data(f, n, NULL);
        int64_t *rp = malloc(11 * sizeof *rp);
        for (int i = 0; i <= 10; i++) rp[i] = rp32[i];
        snprintf(n, sizeof n, "net%d.src", g);
        const int32_t *s = fx_data(f, n, NULL);
        snprintf(n, sizeof n, "net%d.weight", g);
        f->net[g] = (cg_dango_network){.rowptr = rp, .src = s, .weight = fx_data(f, n, NULL)};
    }
    if (cg_dango_init(&f->m, &cfg, 10, f->net) != CG_OK) fail_msg("%s", cg_last_error());
    for (int i = 0; i < f->m.params.count; i++) {
        cg_tensor *p = f->m.params.tensors[i];
        char n[160];
        snprintf(n, sizeof n, "param.%s", p->name);
        int64_t numel;
        const float *v = fx_data(f, n, &numel);
        assert_int_equal(numel, p->numel);
        memcpy(p->data, v, (size_t)numel * sizeof(float));
    }
}

static void fx_close(fixture *f) {
    for (int g = 0; g < 2; g++) free((void *)f->net[g].rowptr);
    cg_dango_free(&f->m);
    cg_safetensors_close(f->st);
}

/* 2-norm relative error ||a - b|| / max(||b||, 1e-2) <= tol, and per element |a - b| <= tol (|b| + max|b|)
 * + 1e-6 (float32 against the float64 reference; the gradients that are 0 in exact arithmetic are checked
 * apart, in parity()) */
static void check(const char *label, const float *a, const float *b, int64_t n, double tol) {
    double num = 0, den = 0, amax = 0, worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) amax = fmax(amax, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
        double r = fabs(d) / (tol * (fabs(b[i]) + amax) + 1e-6);
        if (r > worst) worst = r, wi = i;
    }
    double rel = sqrt(num) / fmax(sqrt(den), 1e-2);
    if (getenv("CG_VERBOSE")) print_message("  %-44s rel2 %.2e  element %.2f of its bound\n", label, rel, worst);
    if (rel > tol || worst > 1.0)
        fail_msg("%s: rel2 %.3e, element %lld: %.7g vs %.7g", label, rel, (long long)wi, a[wi], b[wi]);
}

/* Three Adam steps (lr 1e-3, default betas and eps, as torch.optim.Adam) from the fixture's parameters on
 * the same loss: the loss before each step within 1e-4, and each parameter's total update within 1e-4
 * (2-norm relative) of the reference's. The two gradients that are 0 in exact arithmetic are left out:
 * Adam turns rounding noise g into an update of about lr sign(g) (|g| >> eps), the reference's into 0. */
static void adam_steps(fixture *f, cg_ctx *ctx, const int32_t *geno, int64_t n, const int32_t *x, int64_t nx) {
    const int64_t total = f->m.params.total;
    float *start = malloc((size_t)total * sizeof *start);
    memcpy(start, f->m.params.values, (size_t)total * sizeof *start);
    cg_optim opt;
    cg_optim_config oc = cg_optim_defaults(CG_OPTIM_ADAM);
    oc.lr = 1e-3;
    assert_int_equal(cg_optim_create(&opt, &f->m.params, &oc), CG_OK);
    int64_t nl;
    const float *ref_loss = fx_data(f, "adam.loss", &nl);
    for (int64_t s = 0; s < nl; s++) {
        assert_int_equal(cg_ctx_reset(ctx), CG_OK);
        cg_params_zero_grad(&f->m.params);
        cg_tensor *y = cg_dango_forward(ctx, &f->m, geno, n);
        cg_tensor *rec = cg_dango_recon_loss(ctx, &f->m, x, nx);
        cg_tensor *w = cg_tensor_wrap2(ctx, n, CG_NUM_LABELS, (float *)fx_data(f, "lossw", NULL));
        cg_tensor *loss = cg_add(ctx, cg_sum(ctx, cg_mul(ctx, y, w)), rec);
        if (!loss || cg_backward(ctx, loss) != CG_OK || cg_optim_step(&opt, &f->m.params) != CG_OK)
            fail_msg("%s", cg_last_error());
        char label[32];
        snprintf(label, sizeof label, "adam loss %lld", (long long)s);
        check(label, cg_f32(loss), ref_loss + s, 1, 1e-4);
    }
    double worst = 0;
    for (int i = 0; i < f->m.params.count; i++) {
        cg_tensor *p = f->m.params.tensors[i];
        if (strcmp(p->name, "meta.score.bias") == 0 || strcmp(p->name, "head.norm_k.bias") == 0) continue;
        char name[160];
        snprintf(name, sizeof name, "adam.param.%s", p->name);
        const float *after = fx_data(f, name, NULL), *p0 = start + (cg_f32(p) - f->m.params.values);
        float *got = malloc((size_t)p->numel * sizeof *got), *want = malloc((size_t)p->numel * sizeof *want);
        double num = 0, den = 0;
        for (int64_t k = 0; k < p->numel; k++) {
            got[k] = cg_f32(p)[k] - p0[k];
            want[k] = after[k] - p0[k];
            num += ((double)got[k] - want[k]) * ((double)got[k] - want[k]);
            den += (double)want[k] * want[k];
        }
        if (den > 0 && sqrt(num / den) > worst) worst = sqrt(num / den);
        tu_check_rel2(name, got, want, p->numel, 1e-4);
        free(got);
        free(want);
    }
    print_message("  %lld Adam steps: losses within 1e-4, parameter updates within 1e-4 (largest rel2 %.2e)\n",
                  (long long)nl, worst);
    cg_optim_free(&opt);
    free(start);
}

static void parity(const char *file, bool released) {
    fixture f;
    fx_open(&f, file, tiny_config(released));
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    ctx.training = true; /* dropout 0: the same function; samples: the full lists */
    int64_t ng, nx;
    const int32_t *geno = fx_data(&f, "geno", &ng);
    const int32_t *x = fx_data(&f, "recon_x", &nx);
    const int64_t n = ng / 3;
    cg_params_zero_grad(&f.m.params);
    cg_tensor *y = cg_dango_forward(&ctx, &f.m, geno, n);
    cg_tensor *rec = cg_dango_recon_loss(&ctx, &f.m, x, nx);
    cg_tensor *w = cg_tensor_wrap2(&ctx, n, CG_NUM_LABELS, (float *)fx_data(&f, "lossw", NULL));
    cg_tensor *loss = cg_add(&ctx, cg_sum(&ctx, cg_mul(&ctx, y, w)), rec);
    if (!loss) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_backward(&ctx, loss), CG_OK);
    print_message("%s:\n", file);
    check("y", cg_f32(y), fx_data(&f, "y", NULL), n * CG_NUM_LABELS, 1e-4);
    check("recon", cg_f32(rec), fx_data(&f, "recon", NULL), 1, 1e-4);
    check("loss", cg_f32(loss), fx_data(&f, "loss", NULL), 1, 1e-4);
    double worst = 0;
    for (int i = 0; i < f.m.params.count; i++) {
        cg_tensor *p = f.m.params.tensors[i];
        char n2[160];
        snprintf(n2, sizeof n2, "grad.%s", p->name);
        /* gradients that are 0 in exact arithmetic: the meta score's bias (the softmax over networks is
         * shift invariant) and the key LayerNorm's bias (it shifts every score of a query row by the same
         * amount). float32 leaves the rounding of sums of terms of the loss's gradient scale: compared
         * with 1e-6 x the largest element of any reference gradient (measured 1.1e-6 against a bound of 1.3e-4) */
        if (strcmp(p->name, "meta.score.bias") == 0 || strcmp(p->name, "head.norm_k.bias") == 0) {
            double scale = 0, worst_z = 0;
            for (int j = 0; j < f.m.params.count; j++) {
                char nj[160];
                int64_t nr;
                snprintf(nj, sizeof nj, "grad.%s", f.m.params.tensors[j]->name);
                const float *r = fx_data(&f, nj, &nr);
                for (int64_t k = 0; k < nr; k++) scale = fmax(scale, fabs(r[k]));
            }
            for (int64_t k = 0; k < p->numel; k++) worst_z = fmax(worst_z, fabs(p->grad[k]));
            if (getenv("CG_VERBOSE")) print_message("  %-44s max %.2e (gradient scale %.2e)\n", n2, worst_z, scale);
            if (worst_z > 1e-6 * scale) fail_msg("%s: %.3e, gradient scale %.3e", n2, worst_z, scale);
            continue;
        }
        check(n2, p->grad, fx_data(&f, n2, NULL), p->numel, 1e-4);
        const float *ref = fx_data(&f, n2, NULL);
        double num = 0, den = 0;
        for (int64_t k = 0; k < p->numel; k++) {
            num += ((double)p->grad[k] - ref[k]) * ((double)p->grad[k] - ref[k]);
            den += (double)ref[k] * ref[k];
        }
        if (den > 1e-12 && sqrt(num / den) > worst) worst = sqrt(num / den);
    }
    print_message("  y, recon and %d parameter gradients within 1e-4 (largest gradient rel2 error %.2e)\n",
                  f.m.params.count, worst);
    adam_steps(&f, &ctx, geno, n, x, nx);
    cg_ctx_free(&ctx);
    fx_close(&f);
}

static void test_parity_paper(void **state) {
    (void)state;
    parity("dango_paper.safetensors", false);
}

static void test_parity_released(void **state) {
    (void)state;
    parity("dango_released.safetensors", true);
}

/* ------------------------------------------------------------------ sampling */

static void test_sampling(void **state) {
    (void)state;
    fixture f;
    cg_dango_config c = tiny_config(false);
    c.num_samples = 2;
    fx_open(&f, "dango_paper.safetensors", c);
    int32_t a[16], b[16];
    int varied = 0;
    for (int g = 0; g < 2; g++)
        for (int32_t i = 0; i < 10; i++) {
            const int64_t L = f.net[g].rowptr[i + 1] - f.net[g].rowptr[i] + 1;
            for (uint64_t step = 0; step < 20; step++) {
                int64_t k = cg_dango_sample(&f.m, g, 1, i, step, true, a);
                assert_int_equal(k, L < 2 ? L : 2);
                for (int64_t q = 0; q < k; q++) {
                    bool member = a[q] == i;
                    for (int64_t e = f.net[g].rowptr[i]; e < f.net[g].rowptr[i + 1]; e++) member |= f.net[g].src[e] == a[q];
                    assert_true(member);
                    for (int64_t r = 0; r < q; r++) assert_true(a[r] != a[q]);
                }
                /* a function of its arguments */
                assert_int_equal(cg_dango_sample(&f.m, g, 1, i, step, true, b), k);
                assert_memory_equal(a, b, (size_t)k * sizeof *a);
                int64_t k0 = cg_dango_sample(&f.m, g, 1, i, 0, true, b);
                if (k0 == k && memcmp(a, b, (size_t)k * sizeof *a) != 0) varied++;
                /* evaluation: independent of the step */
                k = cg_dango_sample(&f.m, g, 1, i, step, false, a);
                k0 = cg_dango_sample(&f.m, g, 1, i, 12345, false, b);
                assert_int_equal(k, k0);
                assert_memory_equal(a, b, (size_t)k * sizeof *a);
            }
        }
    assert_true(varied > 0); /* training samples change with the step */
    cg_dango_free(&f.m);
    /* num_samples 0: the whole list (neighbours in CSR order, then the node) */
    c.num_samples = 0;
    assert_int_equal(cg_dango_init(&f.m, &c, 10, f.net), CG_OK);
    int64_t k = cg_dango_sample(&f.m, 0, 0, 3, 7, true, a);
    assert_int_equal(k, f.net[0].rowptr[4] - f.net[0].rowptr[3] + 1);
    assert_int_equal(a[k - 1], 3);
    fx_close(&f);
}

/* ------------------------------------------------------------------ the sparse MSE op */

static void test_sparse_mse_gradient(void **state) {
    (void)state;
    fixture f;
    fx_open(&f, "dango_paper.safetensors", tiny_config(false));
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    const int32_t x[5] = {0, 9, 3, 3, 7};
    for (int g = 0; g < 2; g++) {
        const int64_t C = f.m.recon_cols[g], n = 5 * C;
        float *p = malloc((size_t)n * sizeof *p);
        tu_fill_uniform(p, n, -1, 1, 7 + g);
        assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
        cg_tensor *P = cg_tensor_wrap2(&ctx, 5, C, p);
        P->requires_grad = true;
        cg_tensor *L = cg_dango_sparse_mse(&ctx, &f.m, g, P, x, 5);
        assert_non_null(L);
        assert_int_equal(cg_backward(&ctx, L), CG_OK);
        float *grad = malloc((size_t)n * sizeof *grad);
        memcpy(grad, P->grad, (size_t)n * sizeof *grad);
        double *num = malloc((size_t)n * sizeof *num);
        ctx.grad_enabled = false;
        for (int64_t i = 0; i < n; i++) {
            const float h = 1e-2f, v = p[i];
            p[i] = v + h;
            assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
            double lp = cg_f32(cg_dango_sparse_mse(&ctx, &f.m, g, cg_tensor_wrap2(&ctx, 5, C, p), x, 5))[0];
            p[i] = v - h;
            assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
            double lm = cg_f32(cg_dango_sparse_mse(&ctx, &f.m, g, cg_tensor_wrap2(&ctx, 5, C, p), x, 5))[0];
            p[i] = v;
            num[i] = (lp - lm) / (2.0 * h); /* the loss is quadratic in P: exact up to rounding */
        }
        ctx.grad_enabled = true;
        tu_check_close(g ? "sparse mse, network 1" : "sparse mse, network 0", grad, num, n, 2e-3, 1e-2);
        free(p);
        free(grad);
        free(num);
    }
    cg_ctx_free(&ctx);
    fx_close(&f);
}

/* ------------------------------------------------------------------ pre-training */

static void test_pretrain(void **state) {
    (void)state;
    fixture f;
    fx_open(&f, "dango_paper.safetensors", tiny_config(false));
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    double first = 0, last = 0;
    if (cg_dango_pretrain(&ctx, &f.m, 60, 5, 1e-2, 3, &first, &last, NULL, NULL) != CG_OK) fail_msg("%s", cg_last_error());
    print_message("pre-training on the tiny networks: reconstruction loss %.4f -> %.4f (60 epochs)\n", first, last);
    assert_true(last < 0.5 * first);
    assert_int_equal(cg_dango_pretrain(&ctx, &f.m, 1, 11, 1e-2, 3, NULL, NULL, NULL, NULL), CG_ERR_INVALID_ARG);
    cg_ctx_free(&ctx);
    fx_close(&f);
}

/* ------------------------------------------------------------------ the real data */

static void test_missing_relations(void **state) {
    (void)state;
    if (!have) skip();
    const char *dir = getenv("CELLGRAPH_TEST_DATA");
    cg_graph *g0 = NULL;
    if (cg_graph_build(dir, "default", &g0) != CG_OK) fail_msg("%s", cg_last_error());
    cg_model_config mc;
    cg_model m;
    assert_int_equal(cg_model_config_parse("{\"model\": \"dango\"}", "t", &mc), CG_OK);
    assert_int_equal(cg_model_init(&m, &mc, g0), CG_ERR_INVALID_ARG);
    assert_non_null(strstr(cg_last_error(), "coexpression"));
    cg_graph_free(g0);
}

/* DANGO at D 32, 2 heads, on the real graph with every optional relation (*c: its config) */
static void small_real_dango(cg_dango *m, cg_dango_config *c) {
    *c = cg_dango_defaults();
    c->hidden_channels = 32;
    c->heads = 2;
    if (cg_dango_init_graph(m, c, G) != CG_OK) fail_msg("%s", cg_last_error());
}

/* The fused reconstruction op (cg_dango_recon_mse) against the unfused one (recon2 as a Linear, then the
 * sparse MSE over the whole [r, n_g] prediction) on the six real networks: 960 genes (repeats included),
 * the loss and the gradients of S, W and b within 1e-5 (relative 2-norm) */
static void test_recon_mse_fused(void **state) {
    (void)state;
    if (!have) skip();
    cg_dango_config c;
    cg_dango m;
    small_real_dango(&m, &c);
    const int64_t r = 960, D = 32;
    int32_t *x = malloc((size_t)r * sizeof *x);
    for (int64_t i = 0; i < r; i++) x[i] = (int32_t)(cg_rng_u32(5, 6, (uint64_t)i) % (uint64_t)m.n_genes);
    x[1] = x[0];
    float *s = malloc((size_t)(r * D) * sizeof *s);
    tu_fill_uniform(s, r * D, 0, 1, 11);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    for (int g = 0; g < m.G; g++) {
        const int64_t C = m.recon_cols[g];
        cg_tensor *W = m.recon2[g].weight, *b = m.recon2[g].bias;
        float *ref[3];
        double loss[2];
        for (int pass = 0; pass < 2; pass++) {
            assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
            cg_params_zero_grad(&m.params);
            cg_tensor *S = cg_tensor_wrap2(&ctx, r, D, s);
            S->requires_grad = true;
            cg_tensor *L = pass == 0 ? cg_dango_sparse_mse(&ctx, &m, g, cg_linear_layer_forward(&ctx, &m.recon2[g], S), x, r)
                                     : cg_dango_recon_mse(&ctx, &m, g, S, x, r);
            if (!L || cg_backward(&ctx, L) != CG_OK) fail_msg("%s", cg_last_error());
            loss[pass] = cg_f32(L)[0];
            const float *got[3] = {S->grad, W->grad, b->grad};
            const int64_t n[3] = {r * D, C * D, C};
            if (pass == 0)
                for (int k = 0; k < 3; k++) {
                    ref[k] = malloc((size_t)n[k] * sizeof(float));
                    memcpy(ref[k], got[k], (size_t)n[k] * sizeof(float));
                }
            else {
                char label[64];
                const char *what[3] = {"dS", "dW", "db"};
                for (int k = 0; k < 3; k++) {
                    snprintf(label, sizeof label, "network %d (%s) %s", g, c.networks[g], what[k]);
                    tu_check_rel2(label, got[k], ref[k], n[k], 1e-5);
                    free(ref[k]);
                }
            }
        }
        print_message("network %d (%s, %lld columns): loss %.7f unfused, %.7f fused\n", g, c.networks[g], (long long)C,
                      loss[0], loss[1]);
        assert_true(fabs(loss[0] - loss[1]) <= 1e-5 * fabs(loss[0]));
    }
    cg_ctx_free(&ctx);
    cg_dango_free(&m);
    free(x);
    free(s);
}

/* The evaluation cache (cg_dango_forward_cached): 300 real genotypes in batches of 64 with one cache give
 * the same predictions as encoding each batch's genes; in training the cache is not read (a poisoned
 * cache changes nothing). */
static void test_cache(void **state) {
    (void)state;
    if (!have) skip();
    cg_dango_config c;
    cg_dango m;
    small_real_dango(&m, &c);
    const int64_t n = 300, B = 64;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    ctx.training = false;
    ctx.grad_enabled = false;
    float *y[2] = {malloc((size_t)n * 3 * sizeof(float)), malloc((size_t)n * 3 * sizeof(float))};
    cg_model_cache cache = {0};
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < n; i += B) {
            const int64_t k = n - i < B ? n - i : B;
            assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
            cg_tensor *out = cg_dango_forward_cached(&ctx, &m, DS.genotype + 3 * i, k, pass ? &cache : NULL);
            if (!out) fail_msg("%s", cg_last_error());
            memcpy(y[pass] + 3 * i, cg_f32(out), (size_t)k * 3 * sizeof(float));
        }
    assert_true(cache.valid && cache.rows == m.n_genes && cache.cols == 32);
    double worst = 0;
    for (int64_t i = 0; i < 3 * n; i++)
        if (!isnan(y[0][i])) worst = fmax(worst, fabs((double)y[0][i] - y[1][i]) / (fabs(y[0][i]) + 1e-3));
    print_message("dango cache: 300 real genotypes, largest relative difference %.2e\n", worst);
    assert_true(worst <= 1e-5);
    /* training: a poisoned cache is not read */
    for (int64_t i = 0; i < cache.rows * cache.cols; i++) cache.data[i] = NAN;
    ctx.training = true;
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
        ctx.step = 7; /* the same neighbour samples in both passes */
        cg_tensor *out = cg_dango_forward_cached(&ctx, &m, DS.genotype, B, pass ? &cache : NULL);
        if (!out) fail_msg("%s", cg_last_error());
        memcpy(y[pass], cg_f32(out), (size_t)B * 3 * sizeof(float));
    }
    assert_memory_equal(y[0], y[1], (size_t)B * 3 * sizeof(float));
    cg_model_cache_free(&cache);
    cg_ctx_free(&ctx);
    cg_dango_free(&m);
    free(y[0]);
    free(y[1]);
}

/* count of `needle` in the file at path */
static int count_in_file(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[16384];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* `cellgraph train` on a small DANGO config: pre-training runs first (its metrics line), the checkpoint
 * predicts through `predict` what the model computes in process (4 decimals), and `--resume` continues
 * without pre-training again */
static void test_cli(void **state) {
    (void)state;
    if (!have || !getenv("CELLGRAPH_CLI")) skip();
    const char *data = getenv("CELLGRAPH_TEST_DATA");
    char dir[512], cache[600], cfg[600], run[600], metrics[700], ckpt[700], out[16384], cmd[800];
    tu_temp_path(dir, sizeof dir, "dango_cli");
    mkdir(dir, 0755);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(cfg, sizeof cfg, "%s/dango.json", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", run);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint_last.safetensors", run);
    setenv("CELLGRAPH_CACHE", cache, 1);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"model\": \"dango\", \"hidden_channels\": 16, \"heads\": 1, \"recon_genes\": 32, \"pretrain_epochs\": 1, "
               "\"pretrain_batch_size\": 1024, \"train\": {\"batch_size\": 32, \"epochs\": 3, \"max_train_samples\": 64, "
               "\"max_val_samples\": 64, \"loss\": \"logcosh\", \"max_steps\": 2, \"val_every\": 1, "
               "\"ensemble\": 2}}\n");
    fclose(f);
    if (tu_run_cli(out, sizeof out, "train --config '%s' --data '%s' --out '%s'", cfg, data, run) != 0) fail_msg("%s", out);
    assert_non_null(strstr(out, "pre-training epoch 1/1"));
    assert_int_equal(count_in_file(metrics, "\"pretrain\":{\"epochs\":1,"), 1);
    /* predict = the in-process prediction */
    cg_checkpoint_info info;
    assert_int_equal(cg_checkpoint_info_read(ckpt, &info), CG_OK);
    cg_model m;
    assert_int_equal(cg_model_init(&m, &info.model, G), CG_OK);
    assert_int_equal(cg_checkpoint_load_params(ckpt, &m), CG_OK);
    cg_genes *genes = NULL;
    assert_int_equal(cg_graph_genes(G, &genes), CG_OK);
    int32_t geno[3] = {-1, -1, -1};
    assert_int_equal(cg_genes_resolve(genes, "CYS3", &geno[0]), CG_OK);
    assert_int_equal(cg_genes_resolve(genes, "TFC3", &geno[1]), CG_OK);
    if (geno[0] > geno[1]) geno[0] ^= geno[1], geno[1] ^= geno[0], geno[0] ^= geno[1];
    cg_genes_free(genes);
    cg_graph_index gi;
    assert_int_equal(cg_graph_index_init(&gi, G), CG_OK);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    float y[CG_NUM_LABELS];
    assert_int_equal(cg_model_predict(&ctx, &m, &gi, geno, 1, 32, CG_PATH_INCREMENTAL, y), CG_OK);
    for (int k = 0; k < CG_NUM_LABELS; k++) y[k] = y[k] * info.label_std[k] + info.label_mean[k];
    assert_int_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' --data '%s' CYS3 TFC3", ckpt, data), 0);
    const char *line = strstr(out, "CYS3,TFC3\t");
    if (!line) fail_msg("no CYS3,TFC3 line in:\n%s", out);
    double fit, eps;
    assert_int_equal(sscanf(strchr(line, '\t') + 1, "%*s\t%lf\t%lf", &fit, &eps), 2);
    print_message("dango via the CLI: CYS3 TFC3 fitness %.4f epsilon %.4f (in process %.5f %.5f)\n", fit, eps, y[0], y[1]);
    assert_true(fabs(fit - y[0]) <= 1e-4 && fabs(eps - y[1]) <= 1e-4);
    cg_ctx_free(&ctx);
    cg_graph_index_free(&gi);
    cg_model_free(&m);
    /* resume: more steps, no second pre-training */
    if (tu_run_cli(out, sizeof out, "train --resume '%s' --data '%s' --max-steps 4", run, data) != 0) fail_msg("%s", out);
    assert_null(strstr(out, "pre-training epoch 1/1"));
    assert_int_equal(count_in_file(metrics, "\"pretrain\""), 1);
    assert_int_equal(count_in_file(metrics, "\"step\":4,\"train_loss\""), 1);
    /* the ensemble of 2: the test is their mean, and the slots hold the 2 best of the 4 validations */
    assert_non_null(strstr(out, "ensemble: the mean of 2 checkpoints"));
    double v[8], best2[2] = {INFINITY, INFINITY};
    int nv = 0;
    f = fopen(metrics, "r");
    char mline[16384];
    while (f && fgets(mline, sizeof mline, f) && nv < 8) {
        const char *p = strstr(mline, "\"val_loss\":");
        if (p && strncmp(mline, "{\"epoch\"", 8) == 0) v[nv++] = atof(p + 11);
    }
    if (f) fclose(f);
    assert_int_equal(nv, 4);
    for (int i = 0; i < nv; i++)
        if (v[i] < best2[0]) best2[1] = best2[0], best2[0] = v[i];
        else if (v[i] < best2[1]) best2[1] = v[i];
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(ckpt, &st), CG_OK);
    const char *ens = cg_safetensors_metadata(st, "ensemble_val");
    assert_non_null(ens);
    double e0, e1;
    assert_int_equal(sscanf(ens, "[%lf,%lf]", &e0, &e1), 2);
    print_message("dango ensemble of 2: slots %.6g %.6g, the two best validation losses %.6g %.6g\n", e0, e1, best2[0],
                  best2[1]);
    assert_true(fabs(fmin(e0, e1) - best2[0]) <= 1e-6 * best2[0] && fabs(fmax(e0, e1) - best2[1]) <= 1e-6 * best2[1]);
    cg_safetensors_close(st);
    for (int j = 1; j <= 2; j++) {
        char top[720];
        snprintf(top, sizeof top, "%s/checkpoint_top%d.safetensors", run, j);
        struct stat sb;
        assert_int_equal(stat(top, &sb), 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("CELLGRAPH_CACHE");
}

static double train_loss(cg_trainer *t) {
    float *pred = malloc((size_t)t->cfg.max_train_samples * CG_NUM_LABELS * sizeof *pred);
    double loss;
    if (cg_trainer_predict_samples(t, t->order, t->cfg.max_train_samples, pred, &loss) != CG_OK)
        fail_msg("%s", cg_last_error());
    free(pred);
    return loss;
}

/* 64 real training genotypes with their real labels: the training loss (evaluation mode) falls to a
 * small fraction of the training-mean loss; the auxiliary reconstruction loss is on */
static void test_overfit(void **state) {
    (void)state;
    if (!have) skip();
    cg_model_config mc;
    cg_model m;
    if (cg_model_config_parse("{\"model\": \"dango\", \"hidden_channels\": 32, \"heads\": 2, \"dropout_attention\": 0, "
                              "\"dropout_ffn\": 0, \"dropout_out\": 0, \"recon_genes\": 32}", "t", &mc) != CG_OK ||
        cg_model_init(&m, &mc, G) != CG_OK)
        fail_msg("%s", cg_last_error());
    cg_train_config tc = cg_train_defaults();
    tc.batch_size = 16;
    tc.max_train_samples = 64;
    tc.epochs = 100;
    tc.lr = 5e-3;
    tc.weight_decay = 0;
    tc.warmup_fraction = 0;
    cg_trainer t;
    if (cg_trainer_init(&t, &m, G, &DS, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    const double before = train_loss(&t);
    bool done;
    float loss;
    while (t.step < 4 * 100) {
        if (cg_trainer_step(&t, &loss, &done) != CG_OK) fail_msg("%s", cg_last_error());
        assert_true(isfinite(loss));
        if (done) t.epoch_pos = 0; /* the same 64 samples every epoch */
    }
    const double after = train_loss(&t);
    print_message("dango overfit on 64 real genotypes: training loss %.4f -> %.5f (z units)\n", before, after);
    assert_true(before > 0.1);
    assert_true(after < 0.1 * before);
    cg_trainer_free(&t);
    cg_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_sparse_mse_gradient),
        cmocka_unit_test(test_parity_paper),
        cmocka_unit_test(test_parity_released),
        cmocka_unit_test(test_pretrain),
        cmocka_unit_test(test_missing_relations),
        cmocka_unit_test(test_recon_mse_fused),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_overfit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
