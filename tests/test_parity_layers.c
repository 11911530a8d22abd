/* Layer parity with PyTorch Geometric (llm.c's recipe): reference/make_fixtures.py computes GATv2Conv,
 * StoichHypergraphConv and AttentionalAggregation in PyTorch on small seeded random graphs with
 * deletions and writes the .safetensors files of tests/fixtures/parity (inputs, graph, dead sets, parameters under
 * cellgraph's names, output, loss = sum(out * loss_weight) and the gradient of every input and
 * parameter). Here each fixture is rebuilt as cellgraph's batched relation (one shared CSR, per-sample
 * dead bitsets), run through the tape, back-propagated from the same loss, and the output, the loss and
 * EVERY gradient are compared:
 *   2-norm:      ||c - ref|| / ||ref|| <= 1e-4
 *   per element: |c - ref| <= 1e-4 * max(|ref|, 3e-2 * max|ref of the tensor|)
 * except for a tensor that is zero in exact arithmetic (max |ref| <= ATOL = 1e-6 * S, S the largest
 * |reference value| over the fixture's output and gradients: the bias of the gate's last layer, which
 * the softmax cancels), where both sides are rounding noise and max |c - ref| <= ATOL is required.
 * The maximum errors are printed for every tensor. Every fixture in the folder whose op is one of the
 * three is run; the expected ones must exist (a missing fixture fails, it is never skipped), and
 * every parameter or input gradient of the fixture must have a C counterpart and vice versa. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "cellgraph/gatv2.h"
#include "cellgraph/nn.h"
#include "cellgraph/params.h"
#include "cellgraph/relbatch.h"
#include "cellgraph/safetensors.h"
#include "cellgraph/stoich_hypergraph.h"
#include "testutil.h"

#define RTOL 1e-4
#define FLOOR_FRAC 3e-2
#define ATOL_FRAC 1e-6

static const char *const EXPECTED[] = {
    "gatv2_selfloops_h2_concat", "gatv2_selfloops_edge_h3_mean", "gatv2_edge_h2_concat", "gatv2_plain_h1_mean",
    "gatv2_bipartite_h2_concat", "gatv2_bipartite_edge_h2_mean", "stoich_hg_plain", "stoich_hg_gated_mean",
    "stoich_hg_att_node_h2_concat_gated", "stoich_hg_att_edge_h2_mean", "stoich_hg_att_node_h3_mean",
    "stoich_hg_att_edge_h1_concat_gated", "attn_aggr_relu", "attn_aggr_gelu_norm",
};
#define N_EXPECTED ((int)(sizeof EXPECTED / sizeof EXPECTED[0]))

/* ------------------------------------------------------------------ fixture access */

static void fixture_dir(char *buf, size_t n) {
    const char *src = getenv("CELLGRAPH_SOURCE_DIR");
    if (!src || !*src) {
        print_error("CELLGRAPH_SOURCE_DIR is not set (ctest sets it)\n");
        fail();
    }
    snprintf(buf, n, "%s/tests/fixtures/parity", src);
}

static cg_safetensors *fx_open_path(const char *path) {
    cg_safetensors *st = NULL;
    if (cg_safetensors_open(path, &st) != CG_OK) {
        print_error("cannot open parity fixture %s: %s (regenerate with reference/make_fixtures.py)\n", path,
                    cg_last_error());
        fail();
    }
    return st;
}

static const char *meta_str(const cg_safetensors *st, const char *key) {
    const char *v = cg_safetensors_metadata(st, key);
    if (!v) {
        print_error("%s: metadata key '%s' missing\n", cg_safetensors_path(st), key);
        fail();
    }
    return v;
}
static int meta_int(const cg_safetensors *st, const char *key) { return atoi(meta_str(st, key)); }
static double meta_f(const cg_safetensors *st, const char *key) { return atof(meta_str(st, key)); }
static bool meta_bool(const cg_safetensors *st, const char *key) {
    const char *v = meta_str(st, key);
    if (strcmp(v, "true") && strcmp(v, "false")) {
        print_error("%s: metadata %s = '%s' is not a boolean\n", cg_safetensors_path(st), key, v);
        fail();
    }
    return strcmp(v, "true") == 0;
}

/* A named tensor of the fixture with the given dtype and, when numel >= 0, element count. */
static cg_tensor fx_get(const cg_safetensors *st, const char *name, cg_dtype dt, int64_t numel) {
    cg_tensor t;
    if (cg_safetensors_get_tensor(st, name, &t) != CG_OK) {
        print_error("%s: %s\n", cg_safetensors_path(st), cg_last_error());
        fail();
    }
    if (t.dtype != dt || (numel >= 0 && t.numel != numel)) {
        print_error("%s: tensor %s has dtype %d and %lld elements, expected dtype %d and %lld\n",
                    cg_safetensors_path(st), name, (int)t.dtype, (long long)t.numel, (int)dt, (long long)numel);
        fail();
    }
    return t;
}

static bool starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* ------------------------------------------------------------------ comparison */

typedef struct report {
    int tensors, failures, noise;
    double worst_rel2, worst_elem;
} report;

/* Compares n floats of C (got; NULL: no C gradient, taken as zeros) against the reference; atol is the
 * fixture's noise level (see the top); prints one line; returns true when within tolerance. */
static bool compare(report *rp, const char *label, const float *got, const float *ref, int64_t n, double atol) {
    double d2 = 0, r2 = 0, maxref = 0, maxabs = 0;
    for (int64_t i = 0; i < n; i++) maxref = fmax(maxref, fabs((double)ref[i]));
    double floor = FLOOR_FRAC * maxref, elem = 0;
    int64_t worst = 0;
    bool finite = true;
    for (int64_t i = 0; i < n; i++) {
        double g = got ? (double)got[i] : 0.0, r = ref[i], d = fabs(g - r);
        if (!isfinite(g)) finite = false;
        d2 += d * d;
        r2 += r * r;
        maxabs = fmax(maxabs, d);
        double scale = fmax(fabs(r), floor);
        double e = scale > 0 ? d / scale : (d > 0 ? INFINITY : 0.0);
        if (!(e <= elem)) elem = e, worst = i; /* also catches NaN */
    }
    double rel2 = r2 > 0 ? sqrt(d2 / r2) : INFINITY;
    bool noise = maxref <= atol; /* zero in exact arithmetic */
    bool ok = finite && (noise ? maxabs <= atol : (rel2 <= RTOL && elem <= RTOL));
    if (!noise)
        printf("    %-34s n=%-5lld rel2 %.2e  max|diff| %.2e  max elem rel %.2e%s%s\n", label, (long long)n, rel2,
               maxabs, elem, got ? "" : "  (no C gradient: zeros)", ok ? "" : "  <-- FAIL");
    else /* zero in exact arithmetic: both sides are rounding noise */
        printf("    %-34s n=%-5lld reference at noise level (max|ref| %.1e): max|diff| %.2e <= atol %.1e?%s\n", label,
               (long long)n, maxref, maxabs, atol, ok ? " yes" : "  <-- FAIL");
    if (!ok)
        printf("      worst element [%lld]: C %.9g, reference %.9g\n", (long long)worst, got ? (double)got[worst] : 0.0,
               (double)ref[worst]);
    rp->tensors++;
    if (!ok) rp->failures++;
    /* the summary's worst relative errors leave out tensors at float32 noise level (max |ref| <= atol) */
    if (!noise) {
        rp->worst_rel2 = fmax(rp->worst_rel2, finite ? rel2 : INFINITY);
        rp->worst_elem = fmax(rp->worst_elem, finite ? elem : INFINITY);
    } else {
        rp->noise++;
    }
    return ok;
}

/* ------------------------------------------------------------------ one fixture's C side */

#define MAX_INPUTS 4
typedef struct run {
    const cg_safetensors *st;
    cg_param_store ps;
    const char *prefix; /* C parameter name = prefix + fixture name ("" or "conv.") */
    cg_ctx ctx;
    int n_inputs;
    const char *input_names[MAX_INPUTS];
    cg_tensor *inputs[MAX_INPUTS];
} run;

static void run_begin(run *r, const cg_safetensors *st, const char *prefix) {
    memset(r, 0, sizeof *r);
    r->st = st;
    r->prefix = prefix;
    cg_params_init(&r->ps);
    assert_int_equal(cg_ctx_init(&r->ctx, 1 << 20, 1), CG_OK);
    r->ctx.training = false; /* every fixture is in eval mode (dropout 0) */
}

static void run_end(run *r) {
    cg_ctx_free(&r->ctx);
    cg_params_free(&r->ps);
}

static cg_tensor *find_param(run *r, const char *fixture_name) {
    char full[300];
    snprintf(full, sizeof full, "%s%s", r->prefix, fixture_name);
    for (int i = 0; i < r->ps.count; i++)
        if (strcmp(r->ps.tensors[i]->name, full) == 0) return r->ps.tensors[i];
    return NULL;
}

/* After registration: finalize, then copy every parameter from param.<name>; the fixture must hold
 * exactly the registered parameters, with the same shapes. */
static void load_params(run *r) {
    assert_int_equal(cg_params_finalize(&r->ps), CG_OK);
    int in_fixture = 0;
    for (int i = 0; i < cg_safetensors_count(r->st); i++) {
        cg_safetensors_info info;
        assert_int_equal(cg_safetensors_info_at(r->st, i, &info), CG_OK);
        if (!starts_with(info.name, "param.")) continue;
        in_fixture++;
        cg_tensor *p = find_param(r, info.name + 6);
        if (!p) {
            print_error("%s: fixture parameter %s is not registered by cellgraph\n", cg_safetensors_path(r->st),
                        info.name);
            fail();
        }
        cg_tensor v = fx_get(r->st, info.name, CG_F32, p->numel);
        bool same = v.ndim == p->ndim;
        for (int d = 0; same && d < v.ndim; d++) same = v.shape[d] == p->shape[d];
        if (!same) {
            char a[64], b[64];
            print_error("%s: %s has shape %s, cellgraph registers %s %s\n", cg_safetensors_path(r->st), info.name,
                        cg_shape_str(&v, a, sizeof a), p->name, cg_shape_str(p, b, sizeof b));
            fail();
        }
        memcpy(p->data, v.data, (size_t)p->numel * sizeof(float));
    }
    if (in_fixture != r->ps.count) {
        print_error("%s: %d parameters in the fixture, cellgraph registers %d\n", cg_safetensors_path(r->st),
                    in_fixture, r->ps.count);
        fail();
    }
}

/* input.<name> copied into the arena as a leaf that requires a gradient, shape [rows, cols]. */
static cg_tensor *input(run *r, const char *name, int64_t rows, int64_t cols) {
    char full[128];
    snprintf(full, sizeof full, "input.%s", name);
    cg_tensor v = fx_get(r->st, full, CG_F32, rows * cols);
    cg_tensor *t = cg_tensor_new2(&r->ctx, rows, cols);
    assert_non_null(t);
    memcpy(t->data, v.data, (size_t)v.numel * sizeof(float));
    t->requires_grad = true;
    assert_true(r->n_inputs < MAX_INPUTS);
    r->input_names[r->n_inputs] = name;
    r->inputs[r->n_inputs++] = t;
    return t;
}

/* loss = sum(out * loss_weight), backward, then every comparison. Returns the number of failures. */
static int finish(run *r, cg_tensor *out, report *rp) {
    const cg_safetensors *st = r->st;
    if (!out || cg_ctx_status(&r->ctx) != CG_OK) {
        print_error("%s: forward failed: %s\n", cg_safetensors_path(st), cg_last_error());
        fail();
    }
    cg_tensor ref_out = fx_get(st, "output", CG_F32, out->numel);
    if (cg_rows(&ref_out) != cg_rows(out) || cg_cols(&ref_out) != cg_cols(out)) {
        char a[64], b[64];
        print_error("%s: C output %s, reference %s\n", cg_safetensors_path(st), cg_shape_str(out, a, sizeof a),
                    cg_shape_str(&ref_out, b, sizeof b));
        fail();
    }
    cg_tensor w = fx_get(st, "loss_weight", CG_F32, out->numel);
    cg_tensor *wt = cg_tensor_new(&r->ctx, CG_F32, out->ndim, out->shape);
    assert_non_null(wt);
    memcpy(wt->data, w.data, (size_t)w.numel * sizeof(float));
    cg_tensor *loss = cg_sum(&r->ctx, cg_mul(&r->ctx, out, wt));
    assert_non_null(loss);
    if (cg_backward(&r->ctx, loss) != CG_OK) {
        print_error("%s: backward failed: %s\n", cg_safetensors_path(st), cg_last_error());
        fail();
    }
    /* S: the largest reference magnitude over the output and every gradient */
    double S = 0;
    for (int i = 0; i < cg_safetensors_count(st); i++) {
        cg_safetensors_info info;
        assert_int_equal(cg_safetensors_info_at(st, i, &info), CG_OK);
        if (strcmp(info.name, "output") && !starts_with(info.name, "grad.")) continue;
        cg_tensor t = fx_get(st, info.name, CG_F32, -1);
        for (int64_t k = 0; k < t.numel; k++) S = fmax(S, fabs((double)cg_f32(&t)[k]));
    }
    const double atol = ATOL_FRAC * S;
    int before = rp->failures;
    compare(rp, "output", cg_f32(out), cg_f32(&ref_out), out->numel, atol);
    cg_tensor ref_loss = fx_get(st, "loss", CG_F32, 1);
    compare(rp, "loss", cg_f32(loss), cg_f32(&ref_loss), 1, ATOL_FRAC * fabs((double)cg_f32(&ref_loss)[0]));

    /* every gradient of the fixture, against its C counterpart */
    int n_grads = 0;
    for (int i = 0; i < cg_safetensors_count(st); i++) {
        cg_safetensors_info info;
        assert_int_equal(cg_safetensors_info_at(st, i, &info), CG_OK);
        if (!starts_with(info.name, "grad.")) continue;
        n_grads++;
        const cg_tensor *c = NULL;
        if (starts_with(info.name, "grad.param.")) {
            c = find_param(r, info.name + 11);
        } else if (starts_with(info.name, "grad.input.")) {
            for (int k = 0; k < r->n_inputs; k++)
                if (strcmp(r->input_names[k], info.name + 11) == 0) c = r->inputs[k];
        }
        if (!c) {
            print_error("%s: %s has no C counterpart\n", cg_safetensors_path(st), info.name);
            fail();
        }
        cg_tensor ref = fx_get(st, info.name, CG_F32, c->numel);
        compare(rp, info.name + 5, c->grad, cg_f32(&ref), c->numel, atol);
    }
    if (n_grads != r->ps.count + r->n_inputs) {
        print_error("%s: %d gradients in the fixture, C has %d parameters + %d inputs\n", cg_safetensors_path(st),
                    n_grads, r->ps.count, r->n_inputs);
        fail();
    }
    return rp->failures - before;
}

/* ------------------------------------------------------------------ graphs */

/* A relation built from the fixture's edge list (row 0 source, row 1 destination) the way cellgraph
 * stores one: CSR by destination (stable in list order), reverse index, attributes in CSR order, and
 * per-sample dead bitsets from graph.dead_src / graph.dead_dst. */
typedef struct relation {
    int64_t *rowptr, *src_ptr;
    int32_t *src, *dst, *src_perm;
    float *attr;
    uint64_t *dead_s, *dead_d;
    cg_rel_batch rel;
} relation;

static uint64_t *bitsets(const cg_safetensors *st, const char *name, int64_t B, int64_t n, int64_t stride) {
    cg_tensor d = fx_get(st, name, CG_I32, B * n);
    uint64_t *bits = calloc((size_t)(B * stride + 1), sizeof(uint64_t));
    for (int64_t b = 0; b < B; b++)
        for (int64_t v = 0; v < n; v++)
            if (cg_i32(&d)[b * n + v]) bits[b * stride + (v >> 6)] |= 1ull << (v & 63);
    return bits;
}

static void relation_build(relation *g, const cg_safetensors *st, int64_t B, int64_t Ns, int64_t Nd, int64_t E,
                           const char *attr_name, bool same_type) {
    memset(g, 0, sizeof *g);
    cg_tensor ei = fx_get(st, "graph.edge_index", CG_I32, 2 * E);
    const int32_t *es = cg_i32(&ei), *ed = es + E;
    const float *ea = NULL;
    if (attr_name) {
        cg_tensor a = fx_get(st, attr_name, CG_F32, E);
        ea = cg_f32(&a);
    }
    for (int64_t i = 0; i < E; i++) {
        if (es[i] < 0 || es[i] >= Ns || ed[i] < 0 || ed[i] >= Nd) {
            print_error("%s: edge %lld (%d -> %d) out of range\n", cg_safetensors_path(st), (long long)i, es[i], ed[i]);
            fail();
        }
    }
    g->rowptr = calloc((size_t)Nd + 1, sizeof(int64_t));
    g->src = calloc((size_t)E + 1, sizeof(int32_t));
    g->dst = calloc((size_t)E + 1, sizeof(int32_t));
    g->src_ptr = calloc((size_t)Ns + 1, sizeof(int64_t));
    g->src_perm = calloc((size_t)E + 1, sizeof(int32_t));
    if (ea) g->attr = calloc((size_t)E + 1, sizeof(float));
    for (int64_t i = 0; i < E; i++) g->rowptr[ed[i] + 1]++;
    for (int64_t d = 0; d < Nd; d++) g->rowptr[d + 1] += g->rowptr[d];
    int64_t *next = malloc(((size_t)Nd + 1) * sizeof(int64_t));
    memcpy(next, g->rowptr, ((size_t)Nd + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < E; i++) {
        int64_t p = next[ed[i]]++;
        g->src[p] = es[i], g->dst[p] = ed[i];
        if (ea) g->attr[p] = ea[i];
    }
    free(next);
    assert_int_equal(cg_rel_reverse_index(Ns, E, g->src, g->src_ptr, g->src_perm), CG_OK);
    int64_t stride = ((Ns > Nd ? Ns : Nd) + 63) / 64;
    g->dead_s = bitsets(st, "graph.dead_src", B, Ns, stride);
    g->dead_d = bitsets(st, "graph.dead_dst", B, Nd, stride);
    g->rel = (cg_rel_batch){.n_src = Ns, .n_dst = Nd, .n_edges = E, .rowptr = g->rowptr, .src = g->src,
                            .dst = g->dst, .src_ptr = g->src_ptr, .src_perm = g->src_perm, .attr = g->attr,
                            .attr_dim = ea ? 1 : 0, .same_type = same_type, .B = B, .dead_src = g->dead_s,
                            .dead_dst = g->dead_d, .dead_stride = stride};
}

static void relation_free(relation *g) {
    free(g->rowptr), free(g->src), free(g->dst), free(g->src_ptr), free(g->src_perm), free(g->attr);
    free(g->dead_s), free(g->dead_d);
}

/* ------------------------------------------------------------------ the three ops */

static cg_status add_param(cg_param_store *ps, const char *name, int ndim, const int64_t *shape, cg_tensor **out) {
    return cg_params_add(ps, name, ndim, shape, out);
}

/* GATv2Conv as HeteroCell runs it: xl = lin_l(x_src), xr = lin_r(x_dst), cg_gatv2 with lin_edge.weight,
 * att and bias. */
static int run_gatv2(const cg_safetensors *st, report *rp) {
    const int64_t B = meta_int(st, "B"), Ns = meta_int(st, "n_src"), Nd = meta_int(st, "n_dst"),
                  E = meta_int(st, "n_edges");
    const int H = meta_int(st, "heads"), C = meta_int(st, "channels"), De = meta_int(st, "edge_dim");
    const bool bip = meta_bool(st, "bipartite");
    cg_gatv2_config cfg = {.heads = H, .channels = C, .concat = meta_bool(st, "concat"),
                           .add_self_loops = meta_bool(st, "add_self_loops"),
                           .negative_slope = (float)meta_f(st, "negative_slope"), .dropout = 0.0f};
    assert_true(De == 0 || De == 1);
    relation g;
    relation_build(&g, st, B, Ns, Nd, E, De ? "graph.edge_attr" : NULL, !bip);
    run r;
    run_begin(&r, st, "conv.");
    cg_tensor xs_ref = fx_get(st, bip ? "input.x_src" : "input.x", CG_F32, -1);
    cg_tensor xd_ref = fx_get(st, bip ? "input.x_dst" : "input.x", CG_F32, -1);
    const int Fs = (int)cg_cols(&xs_ref), Fd = (int)cg_cols(&xd_ref);
    cg_linear_layer ll, lr;
    cg_tensor *att, *bias, *w_edge = NULL;
    int64_t att_shape[3] = {1, H, C}, edge_shape[2] = {(int64_t)H * C, De}, bias_shape[1] = {cg_gatv2_out_cols(&cfg)};
    assert_int_equal(cg_linear_register(&ll, &r.ps, "conv.lin_l", Fs, H * C, true), CG_OK);
    assert_int_equal(cg_linear_register(&lr, &r.ps, "conv.lin_r", Fd, H * C, true), CG_OK);
    assert_int_equal(add_param(&r.ps, "conv.att", 3, att_shape, &att), CG_OK);
    if (De) assert_int_equal(add_param(&r.ps, "conv.lin_edge.weight", 2, edge_shape, &w_edge), CG_OK);
    assert_int_equal(add_param(&r.ps, "conv.bias", 1, bias_shape, &bias), CG_OK);
    load_params(&r);
    cg_tensor *xs, *xd;
    if (bip) {
        xs = input(&r, "x_src", B * Ns, Fs);
        xd = input(&r, "x_dst", B * Nd, Fd);
    } else {
        xs = xd = input(&r, "x", B * Ns, Fs);
    }
    cg_tensor *xl = cg_linear(&r.ctx, xs, ll.weight, ll.bias), *xr = cg_linear(&r.ctx, xd, lr.weight, lr.bias);
    cg_tensor *out = cg_gatv2(&r.ctx, xl, xr, w_edge, att, bias, &g.rel, &cfg);
    int f = finish(&r, out, rp);
    run_end(&r);
    relation_free(&g);
    return f;
}

/* StoichHypergraphConv: the registered layer (cg_stoich_hg_register + cg_stoich_hg_layer_forward) over
 * the (metabolite -> reaction) incidences with the stoichiometry as the 1-d attribute. */
static int run_stoich(const cg_safetensors *st, report *rp) {
    const int64_t B = meta_int(st, "B"), N = meta_int(st, "n_nodes"), M = meta_int(st, "n_hyperedges"),
                  K = meta_int(st, "n_incidences");
    const char *mode = meta_str(st, "attention_mode");
    cg_stoich_hg_config cfg = cg_stoich_hg_default_config(meta_int(st, "channels"));
    cfg.heads = meta_int(st, "heads");
    cfg.concat = meta_bool(st, "concat");
    cfg.use_attention = meta_bool(st, "use_attention");
    cfg.gated = meta_bool(st, "gated");
    cfg.negative_slope = (float)meta_f(st, "negative_slope");
    assert_true(strcmp(mode, "node") == 0 || strcmp(mode, "edge") == 0);
    cfg.attention_mode = strcmp(mode, "edge") == 0 ? CG_STOICH_ATT_EDGE : CG_STOICH_ATT_NODE;
    relation g;
    relation_build(&g, st, B, N, M, K, "graph.stoich", false);
    assert_int_equal(cg_stoich_hg_validate(&g.rel), CG_OK);
    run r;
    run_begin(&r, st, "conv.");
    cg_tensor x_ref = fx_get(st, "input.x", CG_F32, -1);
    const int F = (int)cg_cols(&x_ref);
    cg_stoich_hg_layer l;
    assert_int_equal(cg_stoich_hg_register(&l, &r.ps, "conv", F, &cfg, true), CG_OK);
    load_params(&r);
    cg_tensor *x = input(&r, "x", B * N, F);
    cg_tensor *A = cfg.use_attention ? input(&r, "A", B * M, F) : NULL;
    cg_tensor *out = cg_stoich_hg_layer_forward(&r.ctx, &l, x, A, &g.rel);
    int f = finish(&r, out, rp);
    run_end(&r);
    relation_free(&g);
    return f;
}

static cg_status mlp_from_meta(cg_mlp *m, cg_param_store *ps, const cg_safetensors *st, const char *prefix, int in) {
    char k[64];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", prefix, s), k)
    cg_activation act;
    const char *an = meta_str(st, KEY("act"));
    if (!cg_activation_parse(an, &act)) {
        print_error("%s: unknown activation %s\n", cg_safetensors_path(st), an);
        fail();
    }
    int hidden = meta_int(st, KEY("hidden")), out = meta_int(st, KEY("out")), n = meta_int(st, KEY("n_layers"));
    bool norm = meta_bool(st, KEY("norm")), act_last = meta_bool(st, KEY("act_last"));
#undef KEY
    return cg_mlp_register(m, ps, prefix, in, hidden, out, n, norm, act, 0.0f, act_last);
}

/* AttentionalAggregation as the HeteroCell readout: gather each sample's alive rows (in row order), one
 * segment per sample, cg_attentional_aggregation with gate_nn and nn. */
static int run_aggr(const cg_safetensors *st, report *rp) {
    const int64_t B = meta_int(st, "B"), N = meta_int(st, "n_nodes");
    const int F = meta_int(st, "in");
    run r;
    run_begin(&r, st, "");
    cg_mlp gate, tr;
    assert_int_equal(mlp_from_meta(&gate, &r.ps, st, "gate_nn", F), CG_OK);
    assert_int_equal(mlp_from_meta(&tr, &r.ps, st, "nn", F), CG_OK);
    load_params(&r);
    cg_tensor dead = fx_get(st, "graph.dead", CG_I32, B * N);
    int32_t *rows = malloc((size_t)(B * N + 1) * sizeof(int32_t)), *col = malloc((size_t)(B * N + 1) * sizeof(int32_t));
    int64_t *rowptr = calloc((size_t)B + 1, sizeof(int64_t)), R = 0;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t n = 0; n < N; n++)
            if (!cg_i32(&dead)[b * N + n]) col[R] = (int32_t)R, rows[R++] = (int32_t)(b * N + n);
        rowptr[b + 1] = R;
    }
    cg_csr csr = {.n_rows = B, .n_cols = R, .nnz = R, .rowptr = rowptr, .col = col};
    assert_int_equal(cg_csr_validate(&csr), CG_OK);
    cg_tensor *x = input(&r, "x", B * N, F);
    int64_t idx_shape[1] = {R};
    cg_tensor *idx = cg_tensor_wrap(&r.ctx, CG_I32, 1, idx_shape, rows);
    cg_tensor *out = cg_attentional_aggregation(&r.ctx, &gate, &tr, cg_gather_rows(&r.ctx, x, idx), &csr);
    int f = finish(&r, out, rp);
    run_end(&r);
    free(rows), free(col), free(rowptr);
    return f;
}

/* ------------------------------------------------------------------ drivers */

/* Runs every fixture of the folder whose metadata op is `op`; at least `min_count` must be found. */
static void run_op(const char *op, int (*fn)(const cg_safetensors *, report *), int min_count) {
    char dir[1024];
    fixture_dir(dir, sizeof dir);
    DIR *dp = opendir(dir);
    if (!dp) {
        print_error("no parity fixture folder %s (regenerate with reference/make_fixtures.py)\n", dir);
        fail();
    }
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        size_t len = strlen(de->d_name);
        if (len > 12 && strcmp(de->d_name + len - 12, ".safetensors") == 0) {
            names = realloc(names, (size_t)(n + 1) * sizeof *names);
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(dp);
    /* sorted, so that the log reads the same everywhere */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1], names[j - 1] = t;
        }
    report rp = {0};
    int found = 0, failed_fixtures = 0;
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        cg_safetensors *st = NULL;
        if (!starts_with(names[i], "gatv2_") && !starts_with(names[i], "stoich_hg_") &&
            !starts_with(names[i], "attn_aggr_") && cg_safetensors_open(path, &st) != CG_OK) {
            /* another suite's file (the model fixtures have their own test): not this test's business */
            printf("  note: %s is unreadable here (%s); not a layer fixture, left to its own test\n", names[i],
                   cg_last_error());
            free(names[i]);
            continue;
        }
        if (!st) st = fx_open_path(path);
        const char *fmt = cg_safetensors_metadata(st, "format"), *o = cg_safetensors_metadata(st, "op");
        if (fmt && strcmp(fmt, "cellgraph-parity") == 0 && o && strcmp(o, op) == 0) {
            const char *ver = meta_str(st, "version");
            if (strcmp(ver, "1") != 0) {
                print_error("%s: fixture version %s, this test reads version 1\n", path, ver);
                fail();
            }
            printf("  %s (%s)\n", names[i], op);
            found++;
            if (fn(st, &rp)) failed_fixtures++;
        }
        cg_safetensors_close(st);
        free(names[i]);
    }
    free(names);
    printf("  %s: %d fixtures, %d tensors compared, worst rel2 %.2e, worst element rel %.2e (%d tensors at noise "
           "level left out), %d tensors failed\n",
           op, found, rp.tensors, rp.worst_rel2, rp.worst_elem, rp.noise, rp.failures);
    if (found < min_count) {
        print_error("%s: %d fixtures found, expected at least %d\n", op, found, min_count);
        fail();
    }
    if (failed_fixtures) {
        print_error("%s: %d fixtures differ from PyTorch Geometric beyond %.0e\n", op, failed_fixtures, RTOL);
        fail();
    }
}

static int count_prefix(const char *p) {
    int c = 0;
    for (int i = 0; i < N_EXPECTED; i++) c += starts_with(EXPECTED[i], p);
    return c;
}

static void test_fixtures_present(void **state) {
    (void)state;
    char dir[1024], path[2048];
    fixture_dir(dir, sizeof dir);
    int missing = 0;
    for (int i = 0; i < N_EXPECTED; i++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, EXPECTED[i]);
        cg_safetensors *st = NULL;
        if (cg_safetensors_open(path, &st) != CG_OK) {
            print_error("missing or unreadable parity fixture %s: %s\n", path, cg_last_error());
            missing++;
            continue;
        }
        const char *fmt = cg_safetensors_metadata(st, "format");
        if (!fmt || strcmp(fmt, "cellgraph-parity") != 0) {
            print_error("%s: metadata format is not cellgraph-parity\n", path);
            missing++;
        }
        cg_safetensors_close(st);
    }
    if (missing) {
        print_error("%d parity fixtures missing; regenerate: reference/setup.sh && reference/.venv/bin/python "
                    "reference/make_fixtures.py\n", missing);
        fail();
    }
}

static void test_gatv2_parity(void **state) {
    (void)state;
    run_op("gatv2", run_gatv2, count_prefix("gatv2_"));
}
static void test_stoich_hypergraph_parity(void **state) {
    (void)state;
    run_op("stoich_hypergraph", run_stoich, count_prefix("stoich_hg_"));
}
static void test_attentional_aggregation_parity(void **state) {
    (void)state;
    run_op("attentional_aggregation", run_aggr, count_prefix("attn_aggr_"));
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_present),
        cmocka_unit_test(test_gatv2_parity),
        cmocka_unit_test(test_stoich_hypergraph_parity),
        cmocka_unit_test(test_attentional_aggregation_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
