/* Whole-model parity of HeteroCell against PyTorch Geometric (issue 7).
 *
 * The fixtures tests/fixtures/parity/model_<case>.safetensors are written by reference/fixtures_model.py
 * (reference/hetero_cell_pyg.py: PyG's GATv2Conv, AttentionalAggregation, one perturbed graph per
 * genotype batched as a disjoint union, float64): a seeded random cell graph, deletion genotypes with
 * their dead nodes, parameters under cellgraph's names, y, the loss, every parameter gradient, and the
 * losses of AdamW steps. Here the same parameters are loaded by name into cellgraph's model, which runs
 * on the shared graph with per-sample dead bitsets (sample 0 = the wildtype), on the full path and on
 * the incremental path (hypergraph: full path only), and must agree:
 *   y, z_p, loss                 2-norm relative error <= 1e-4
 *   every parameter gradient     2-norm relative error per tensor <= 1e-4 (max printed)
 *   AdamW (+ grad clipping)      losses of every step within 1e-4 relative
 * A missing fixture fails the test (regenerate with reference/fixtures_model.py). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/hetero_cell.h"
#include "cellgraph/losses.h"
#include "cellgraph/optim.h"
#include "cellgraph/safetensors.h"
#include "testutil.h"

#define TOL 1e-4

/* the default relations' name, source and destination types (cellgraph/graph.h's one table) */
#define REL_NAME(r) (cg_relation_descs(NULL)[r].name)
#define REL_SRC(r) ((int)cg_relation_descs(NULL)[r].src_type)
#define REL_DST(r) ((int)cg_relation_descs(NULL)[r].dst_type)
static const char *const TYPE[CG_NODE_TYPES] = {"gene", "reaction", "metabolite"};

typedef struct fixture {
    cg_safetensors *st;
    void *mem[1024];
    int n_mem;
} fixture;

static void *keep(fixture *f, void *p) {
    assert_non_null(p);
    assert_true(f->n_mem < 1024);
    f->mem[f->n_mem++] = p;
    return p;
}

/* A copy (aligned) of tensor name; checks dtype and, when numel >= 0, the element count. */
static void *get(fixture *f, const char *name, cg_st_dtype dt, int64_t numel, cg_safetensors_info *info_out) {
    cg_safetensors_info info;
    if (cg_safetensors_find(f->st, name, &info) != CG_OK) fail_msg("fixture: no tensor '%s'", name);
    assert_int_equal(info.dtype, dt);
    if (numel >= 0) assert_int_equal(info.numel, numel);
    void *p = keep(f, malloc(info.nbytes + 8));
    memcpy(p, info.data, info.nbytes);
    if (info_out) *info_out = info;
    return p;
}

static double rel_err(const float *a, const float *b, int64_t n, double *norm_b) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    if (norm_b) *norm_b = sqrt(den);
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* everything the view points to lives in the fixture's copies */
typedef struct parity_case {
    fixture f;
    cg_hetero_cell_config cfg;
    cg_hetero_cell m;
    cg_graph_view v;
    int64_t G; /* genotypes; the batch has G + 1 samples */
    float *target, *weights;
    cg_optim_config oc;
    double grad_clip;
    int steps;
} parity_case;

static void open_case(parity_case *c, const char *name) {
    memset(c, 0, sizeof *c);
    const char *srcdir = getenv("CELLGRAPH_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/parity/model_%s.safetensors", srcdir && *srcdir ? srcdir : ".", name);
    if (cg_safetensors_open(path, &c->f.st) != CG_OK)
        fail_msg("missing parity fixture %s (%s); regenerate it with "
                 "/tmp/torchvenv/bin/python reference/fixtures_model.py tests/fixtures/parity", path, cg_last_error());
    fixture *f = &c->f;
    const char *fmt = cg_safetensors_metadata(f->st, "format"), *ver = cg_safetensors_metadata(f->st, "version");
    assert_non_null(fmt);
    assert_string_equal(fmt, "cellgraph-parity");
    assert_non_null(ver);
    assert_string_equal(ver, "1");
    const char *cfg_json = cg_safetensors_metadata(f->st, "config");
    assert_non_null(cfg_json);
    /* the fixtures are torchcell's published form (the head keys' preset "published") */
    char *pub = malloc(strlen(cfg_json) + 32);
    assert_non_null(pub);
    assert_true(cfg_json[0] == '{');
    sprintf(pub, "{\"form\": \"published\", %s", cfg_json + 1);
    if (cg_hetero_cell_config_parse(pub, path, &c->cfg) != CG_OK) fail_msg("%s", cg_last_error());
    free(pub);

    /* the optimiser settings */
    cJSON *o = cJSON_Parse(cg_safetensors_metadata(f->st, "optim"));
    assert_non_null(o);
    c->oc = cg_optim_defaults(CG_OPTIM_ADAMW);
    c->oc.lr = cJSON_GetObjectItem(o, "lr")->valuedouble;
    c->oc.beta1 = cJSON_GetObjectItem(o, "beta1")->valuedouble;
    c->oc.beta2 = cJSON_GetObjectItem(o, "beta2")->valuedouble;
    c->oc.eps = cJSON_GetObjectItem(o, "eps")->valuedouble;
    c->oc.weight_decay = cJSON_GetObjectItem(o, "weight_decay")->valuedouble;
    c->grad_clip = cJSON_GetObjectItem(o, "grad_clip")->valuedouble;
    c->steps = cJSON_GetObjectItem(o, "steps")->valueint;
    cJSON_Delete(o);

    int64_t *nn = get(f, "graph.n_nodes", CG_ST_I64, 3, NULL);
    int64_t n_nodes[CG_NODE_TYPES] = {nn[0], nn[1], nn[2]};
    cg_safetensors_info gi;
    get(f, "genotypes", CG_ST_I32, -1, &gi);
    c->G = gi.shape[0];
    const int64_t B = c->G + 1;

    /* dead bitsets: one block per sample, gene | reaction | metabolite words (cellgraph/deletion.h) */
    int64_t words[CG_NODE_TYPES], W = 0, off[CG_NODE_TYPES];
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        words[t] = (n_nodes[t] + 63) / 64;
        off[t] = W;
        W += words[t];
    }
    uint64_t *blocks = keep(f, calloc((size_t)(B * W), sizeof(uint64_t)));
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        char nm[64];
        snprintf(nm, sizeof nm, "dead.%s", TYPE[t]);
        uint8_t *d = get(f, nm, CG_ST_U8, B * n_nodes[t], NULL);
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < n_nodes[t]; i++)
                if (d[b * n_nodes[t] + i]) blocks[b * W + off[t] + (i >> 6)] |= (uint64_t)1 << (i & 63);
        /* the wildtype sample has nothing dead */
        for (int64_t i = 0; i < n_nodes[t]; i++) assert_int_equal(d[i], 0);
    }

    /* the view: shared CSR, reverse indexes, dead bitsets */
    cg_graph_view *v = &c->v;
    v->B = B;
    v->dead_stride = W;
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        v->n_nodes[t] = n_nodes[t];
        v->dead[t] = blocks + off[t];
    }
    for (int r = 0; r < CG_RELATIONS; r++) {
        char nm[96];
        int64_t nd = n_nodes[REL_DST(r)], ns = n_nodes[REL_SRC(r)];
        snprintf(nm, sizeof nm, "graph.%s.rowptr", REL_NAME(r));
        int64_t *rowptr = get(f, nm, CG_ST_I64, nd + 1, NULL);
        int64_t E = rowptr[nd];
        snprintf(nm, sizeof nm, "graph.%s.src", REL_NAME(r));
        int32_t *src = get(f, nm, CG_ST_I32, E, NULL);
        snprintf(nm, sizeof nm, "graph.%s.dst", REL_NAME(r));
        int32_t *dst = get(f, nm, CG_ST_I32, E, NULL);
        float *attr = NULL;
        if (r == CG_REL_RMR || r == CG_REL_RMR_REV) {
            snprintf(nm, sizeof nm, "graph.%s.attr", REL_NAME(r));
            attr = get(f, nm, CG_ST_F32, E, NULL);
        }
        int64_t *sp = keep(f, malloc((size_t)(ns + 1) * sizeof(int64_t)));
        int32_t *perm = keep(f, malloc((size_t)(E + 1) * sizeof(int32_t)));
        assert_int_equal(cg_rel_reverse_index(ns, E, src, sp, perm), CG_OK);
        v->rel[r] = (cg_rel_batch){.n_src = ns, .n_dst = nd, .n_edges = E, .rowptr = rowptr, .src = src, .dst = dst,
                                   .src_ptr = sp, .src_perm = perm, .attr = attr, .attr_dim = attr ? 1 : 0,
                                   .same_type = REL_SRC(r) == REL_DST(r), .B = B, .dead_src = v->dead[REL_SRC(r)],
                                   .dead_dst = v->dead[REL_DST(r)], .dead_stride = W};
    }
    c->target = get(f, "target", CG_ST_F32, c->G * CG_NUM_LABELS, NULL);
    c->weights = get(f, "label_weights", CG_ST_F32, CG_NUM_LABELS, NULL);

    /* the model, parameters loaded by name; both sides must name the same set */
    if (cg_hetero_cell_init(&c->m, &c->cfg, n_nodes) != CG_OK) fail_msg("%s", cg_last_error());
    const cg_param_store *ps = &c->m.params;
    for (int i = 0; i < ps->count; i++) {
        cg_tensor *p = ps->tensors[i];
        char nm[300];
        snprintf(nm, sizeof nm, "param.%s", p->name);
        cg_safetensors_info info;
        if (cg_safetensors_find(f->st, nm, &info) != CG_OK) fail_msg("cellgraph parameter '%s' is not in the PyG model", p->name);
        assert_int_equal(info.dtype, CG_ST_F32);
        if (info.ndim != p->ndim) fail_msg("%s: PyG has %d dims, cellgraph %d", p->name, info.ndim, p->ndim);
        for (int k = 0; k < p->ndim; k++) assert_int_equal(info.shape[k], p->shape[k]);
        assert_ptr_equal(cg_params_find(ps, p->name), p);
        memcpy(p->data, info.data, info.nbytes);
    }
    int n_fixture = 0;
    for (int i = 0; i < cg_safetensors_count(f->st); i++) {
        cg_safetensors_info info;
        assert_int_equal(cg_safetensors_info_at(f->st, i, &info), CG_OK);
        if (strncmp(info.name, "param.", 6) != 0) continue;
        n_fixture++;
        if (!cg_params_find(ps, info.name + 6)) fail_msg("PyG parameter '%s' is not in cellgraph's model", info.name + 6);
    }
    assert_int_equal(n_fixture, ps->count);
}

static void close_case(parity_case *c) {
    cg_hetero_cell_free(&c->m);
    for (int i = 0; i < c->f.n_mem; i++) free(c->f.mem[i]);
    cg_safetensors_close(c->f.st);
}

/* forward (+ loss) on the chosen path; returns the loss tensor, *y_out and *zp_out optional */
static cg_tensor *run(parity_case *c, cg_ctx *ctx, cg_perturbation_path mode, cg_tensor **y_out, cg_tensor **zp_out) {
    assert_int_equal(cg_ctx_reset(ctx), CG_OK);
    ctx->training = true;
    ctx->grad_enabled = true;
    cg_tensor *z_p = NULL;
    cg_tensor *y = cg_hetero_cell_forward_mode(ctx, &c->m, &c->v, mode, &z_p);
    if (!y) fail_msg("forward: %s", cg_last_error());
    cg_tensor *l = cg_mse_weighted(ctx, y, cg_tensor_wrap2(ctx, c->G, CG_NUM_LABELS, c->target), c->weights);
    if (!l) fail_msg("loss: %s", cg_last_error());
    if (y_out) *y_out = y;
    if (zp_out) *zp_out = z_p;
    return l;
}

static void check_case(const char *case_name, cg_perturbation_path mode) {
    parity_case c;
    open_case(&c, case_name);
    char name[96];
    snprintf(name, sizeof name, "%s, %s path", case_name, mode == CG_PATH_FULL ? "full" : "incremental");
    fixture *f = &c.f;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    const int D = c.cfg.hidden;

    /* forward and backward */
    cg_params_zero_grad(&c.m.params);
    cg_tensor *y, *z_p;
    cg_tensor *l = run(&c, &ctx, mode, &y, &z_p);
    assert_int_equal(cg_backward(&ctx, l), CG_OK);
    float *y_ref = get(f, "y", CG_ST_F32, c.G * CG_NUM_LABELS, NULL), *zp_ref = get(f, "z_p", CG_ST_F32, c.G * D, NULL);
    float *l_ref = get(f, "loss", CG_ST_F32, 1, NULL);
    double ey = rel_err(cg_f32(y), y_ref, c.G * CG_NUM_LABELS, NULL), ez = rel_err(cg_f32(z_p), zp_ref, c.G * D, NULL);
    double el = fabs((double)cg_f32(l)[0] - l_ref[0]) / fabs((double)l_ref[0]);
    printf("[%s] y rel err %.3g, z_p rel err %.3g, loss %.7g vs %.7g (rel err %.3g)\n", name, ey, ez, cg_f32(l)[0],
           l_ref[0], el);
    for (int64_t b = 0; b < c.G; b++)
        printf("  genotype %lld: y = (%+.6f, %+.6f)  PyG (%+.6f, %+.6f)\n", (long long)b, cg_f32(y)[2 * b],
               cg_f32(y)[2 * b + 1], y_ref[2 * b], y_ref[2 * b + 1]);

    /* every gradient. A tensor whose exact gradient is zero (the readout gate's last bias: the softmax
     * over the genes is invariant to a shift of every gate score) has only rounding noise on both sides
     * (PyG in float64 ~1e-16, cellgraph in float32 ~1e-9); its error is measured against the norm of the
     * whole gradient instead of its own (structurally zero: |g_ref| < 1e-6 |grad|). */
    const cg_param_store *ps = &c.m.params;
    float **g_ref = keep(f, calloc((size_t)ps->count, sizeof *g_ref));
    double gnorm2 = 0;
    for (int i = 0; i < ps->count; i++) {
        cg_tensor *p = ps->tensors[i];
        char nm[300];
        snprintf(nm, sizeof nm, "grad.%s", p->name);
        g_ref[i] = get(f, nm, CG_ST_F32, p->numel, NULL);
        double nref;
        rel_err(p->grad, g_ref[i], p->numel, &nref);
        gnorm2 += nref * nref;
    }
    const double gnorm = sqrt(gnorm2);
    double worst = 0, worst_zero = 0;
    const char *worst_name = "";
    int bad = 0, n_zero = 0;
    for (int i = 0; i < ps->count; i++) {
        cg_tensor *p = ps->tensors[i];
        double nref, e = rel_err(p->grad, g_ref[i], p->numel, &nref);
        bool zero = nref < 1e-6 * gnorm;
        if (zero) {
            double num = e * (nref > 0 ? nref : 1.0); /* rel_err returns the plain norm when nref is 0 */
            e = num / gnorm;
            n_zero++;
            if (nref > 0 || e > 0)
                printf("  %-40s structurally zero: |g_ref| %.3g, |g - g_ref| / |grad| %.3g\n", p->name, nref, e);
            if (e > worst_zero) worst_zero = e;
        } else if (e > worst) {
            worst = e, worst_name = p->name;
        }
        if (!(e <= TOL)) {
            printf("  FAIL %-40s grad rel err %.3g (|g_ref| %.3g)\n", p->name, e, nref);
            bad++;
        }
    }
    printf("[%s] %d parameter tensors, %lld values, |grad| %.4g; max gradient rel err %.3g (%s); %d structurally "
           "zero, max %.3g of |grad|\n", name, ps->count, (long long)ps->total, gnorm, worst, worst_name, n_zero,
           worst_zero);

    /* AdamW steps with gradient clipping, as the trainer (constant lr) */
    float *losses_ref = get(f, "adamw.losses", CG_ST_F32, c.steps + 1, NULL);
    cg_optim opt;
    assert_int_equal(cg_optim_create(&opt, &c.m.params, &c.oc), CG_OK);
    double worst_step = 0;
    for (int s = 0; s <= c.steps; s++) {
        cg_params_zero_grad(&c.m.params);
        cg_tensor *ls = run(&c, &ctx, mode, NULL, NULL);
        double e = fabs((double)cg_f32(ls)[0] - losses_ref[s]) / fabs((double)losses_ref[s]);
        printf("  AdamW step %d: loss %.7g  PyG %.7g  rel err %.3g\n", s, cg_f32(ls)[0], losses_ref[s], e);
        if (e > worst_step) worst_step = e;
        if (s == c.steps) break;
        assert_int_equal(cg_backward(&ctx, ls), CG_OK);
        float norm;
        assert_int_equal(cg_clip_grad_norm(&c.m.params, (float)c.grad_clip, &norm), CG_OK);
        assert_int_equal(cg_optim_step(&opt, &c.m.params), CG_OK);
    }
    printf("[%s] max AdamW loss rel err %.3g over %d steps\n", name, worst_step, c.steps);
    cg_optim_free(&opt);
    cg_ctx_free(&ctx);
    close_case(&c);

    assert_true(ey <= TOL);
    assert_true(ez <= TOL);
    assert_true(el <= TOL);
    assert_int_equal(bad, 0);
    assert_true(worst_step <= TOL);
}

/* the full path (every node of every sample) and the incremental path (the default of training,
 * evaluation and prediction: only the rows a deletion can change), both against PyG */
static void test_parity_bipartite(void **state) {
    (void)state;
    check_case("bipartite", CG_PATH_FULL);
}

static void test_parity_bipartite_incremental(void **state) {
    (void)state;
    check_case("bipartite", CG_PATH_INCREMENTAL);
}

static void test_parity_residual(void **state) {
    (void)state;
    check_case("residual", CG_PATH_FULL);
}

static void test_parity_residual_incremental(void **state) {
    (void)state;
    check_case("residual", CG_PATH_INCREMENTAL);
}

/* metabolism "hypergraph" runs on the full path only (cg_hetero_cell_incremental_check refuses it) */
static void test_parity_hypergraph(void **state) {
    (void)state;
    check_case("hypergraph", CG_PATH_FULL);
    cg_hetero_cell_config cfg = cg_hetero_cell_published();
    cfg.hypergraph = true;
    assert_int_equal(cg_hetero_cell_incremental_check(&cfg, true), CG_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_bipartite),
        cmocka_unit_test(test_parity_bipartite_incremental),
        cmocka_unit_test(test_parity_residual),
        cmocka_unit_test(test_parity_residual_incremental),
        cmocka_unit_test(test_parity_hypergraph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
