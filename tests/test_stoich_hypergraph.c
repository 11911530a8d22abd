/* StoichHypergraphConv (cellgraph/stoich_hypergraph.h), batched with per-sample dead hyperedges.
 *
 * A small hypergraph (6 metabolites, 4 reactions, 12 incidences with signed non-integer stoichiometry,
 * metabolite 5 in no reaction) and 3 samples (none dead; reaction 1 dead; reactions 0 and 3 dead).
 * For every combination of attention (off, "node", "edge"), gate (off, on) and concat / mean:
 *   - forward against a naive double-precision reference written here from the formulas of
 *     torchcell-models.md 1.7 (per sample an explicit list of alive incidences), relative 1e-5;
 *   - backward through the tape against central finite differences of that reference (step 1e-6),
 *     relative 2e-4 against max(|g|, 1% of max |g|), both for the fused op (X, Ahat, gate, att) and for
 *     the whole layer (x, A, lin.weight, gate_lin.weight/bias, att, bias).
 * Also: dead metabolites, a dead-free sample equals a B = 1 run without bitsets, attention dropout
 * (training: finite differences of the same masked function; eval: ignored), bitwise determinism on 1
 * and 2 (and 3) threads on a larger random hypergraph, and errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/rng.h"
#include "cellgraph/stoich_hypergraph.h"
#include "cellgraph/threads.h"
#include "testutil.h"

enum { NN = 6, NM = 4, NK = 12, NB = 3, NF = 4, NH = 2, NC = 3, MAXP = 8 };

/* incidences grouped by reaction (the CSR by destination of (metabolite, rmr_rev, reaction)) */
static const int64_t ROWPTR[NM + 1] = {0, 3, 6, 10, 12};
static const int32_t SRC[NK] = {0, 1, 2, 2, 3, 4, 0, 1, 3, 4, 1, 4};
static const int32_t DST[NK] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3};
static const float STOICH[NK] = {-1.5f, -0.5f, 2.0f, -1.0f, 0.75f, 1.25f, 0.5f, 1.5f, -2.5f, -0.25f, -0.8f, 1.7f};
static const uint64_t DEAD_RXN[NB] = {0, 1u << 1, (1u << 0) | (1u << 3)};
static const uint64_t NO_DEAD[NB] = {0, 0, 0};

static int64_t g_src_ptr[NN + 1];
static int32_t g_src_perm[NK];

static cg_rel_batch make_inc(int64_t B, const uint64_t *dead_rxn, const uint64_t *dead_met) {
    assert_int_equal(cg_rel_reverse_index(NN, NK, SRC, g_src_ptr, g_src_perm), CG_OK);
    cg_rel_batch r = {.n_src = NN, .n_dst = NM, .n_edges = NK, .rowptr = ROWPTR, .src = SRC, .dst = DST,
                      .src_ptr = g_src_ptr, .src_perm = g_src_perm, .attr = STOICH, .attr_dim = 1,
                      .B = B, .dead_src = dead_met, .dead_dst = dead_rxn, .dead_stride = 1};
    return r;
}

/* ------------------------------------------------------------------ the double reference */

static cg_stoich_hg_config g_cfg;
static int64_t g_B = NB;
static const uint64_t *g_dead_rxn = DEAD_RXN, *g_dead_met = NULL;
static const double *g_keep;  /* [B*K*H] keep / (1 - p) factors, or NULL */
static double g_min_score;    /* smallest |logit| seen (kept away from the LeakyReLU kink) */

static int heads(void) { return cg_stoich_hg_heads(&g_cfg); }
static int64_t out_cols(void) { return cg_stoich_hg_out_cols(&g_cfg); }

static void ref_conv(const double *X, const double *Ahat, const double *gate, const double *att, double *out) {
    const int H = heads(), C = g_cfg.channels, HC = H * C;
    const double slope = g_cfg.negative_slope;
    for (int64_t b = 0; b < g_B; b++) {
        bool alive[NK];
        double Dv[NN] = {0}, Be[NM] = {0};
        for (int k = 0; k < NK; k++) {
            alive[k] = !(g_dead_rxn && ((g_dead_rxn[b] >> DST[k]) & 1)) && !(g_dead_met && ((g_dead_met[b] >> SRC[k]) & 1));
            if (!alive[k]) continue;
            Dv[SRC[k]] += fabs((double)STOICH[k]);
            Be[DST[k]] += fabs((double)STOICH[k]);
        }
        for (int v = 0; v < NN; v++) Dv[v] = Dv[v] > 0 ? 1 / Dv[v] : 0;
        for (int e = 0; e < NM; e++) Be[e] = Be[e] > 0 ? 1 / Be[e] : 0;
        double alpha[NK][8], z[NK][8];
        for (int k = 0; k < NK; k++)
            for (int h = 0; h < H; h++) {
                alpha[k][h] = 1;
                if (!alive[k] || !g_cfg.use_attention) continue;
                double sc = 0;
                for (int c = 0; c < C; c++)
                    sc += att[h * 2 * C + c] * X[(b * NN + SRC[k]) * HC + h * C + c] +
                          att[h * 2 * C + C + c] * Ahat[(b * NM + DST[k]) * HC + h * C + c];
                g_min_score = fmin(g_min_score, fabs(sc));
                z[k][h] = sc > 0 ? sc : slope * sc;
            }
        if (g_cfg.use_attention)
            for (int k = 0; k < NK; k++) {
                if (!alive[k]) continue;
                for (int h = 0; h < H; h++) {
                    double mx = -INFINITY, den = 0;
                    for (int q = 0; q < NK; q++) {
                        bool same = g_cfg.attention_mode == CG_STOICH_ATT_NODE ? DST[q] == DST[k] : SRC[q] == SRC[k];
                        if (alive[q] && same) mx = fmax(mx, z[q][h]);
                    }
                    for (int q = 0; q < NK; q++) {
                        bool same = g_cfg.attention_mode == CG_STOICH_ATT_NODE ? DST[q] == DST[k] : SRC[q] == SRC[k];
                        if (alive[q] && same) den += exp(z[q][h] - mx);
                    }
                    alpha[k][h] = exp(z[k][h] - mx) / den;
                    if (g_keep) alpha[k][h] *= g_keep[(b * NK + k) * H + h];
                }
            }
        double m[NM][64] = {{0}}, y[NN][64] = {{0}};
        for (int k = 0; k < NK; k++) {
            if (!alive[k]) continue;
            double g = gate ? gate[b * NN + SRC[k]] : 1;
            for (int h = 0; h < H; h++)
                for (int c = 0; c < C; c++)
                    m[DST[k]][h * C + c] += alpha[k][h] * g * STOICH[k] * X[(b * NN + SRC[k]) * HC + h * C + c];
        }
        for (int e = 0; e < NM; e++)
            for (int j = 0; j < HC; j++) m[e][j] *= Be[e];
        for (int k = 0; k < NK; k++) {
            if (!alive[k]) continue;
            double g = gate ? gate[b * NN + SRC[k]] : 1;
            for (int h = 0; h < H; h++)
                for (int c = 0; c < C; c++) y[SRC[k]][h * C + c] += alpha[k][h] * g * STOICH[k] * m[DST[k]][h * C + c];
        }
        for (int v = 0; v < NN; v++) {
            double *o = out + (b * NN + v) * out_cols();
            if (g_cfg.concat) {
                for (int j = 0; j < HC; j++) o[j] = Dv[v] * y[v][j];
            } else {
                for (int c = 0; c < C; c++) {
                    double s = 0;
                    for (int h = 0; h < H; h++) s += y[v][h * C + c];
                    o[c] = Dv[v] * s / H;
                }
            }
        }
    }
}

/* op-level slots: X, Ahat, gate, att */
static void ref_op(double *const *d, double *out) { ref_conv(d[0], d[1], d[2], d[3], out); }

/* layer-level slots: x, A, lin.weight, gate_lin.weight, gate_lin.bias, att, bias */
static void ref_layer(double *const *d, double *out) {
    const int64_t HC = (int64_t)heads() * g_cfg.channels, OC = out_cols();
    double X[NB * NN * 64] = {0}, Ahat[NB * NM * 64] = {0}, gbuf[NB * NN] = {0}, *gate = NULL;
    assert_true(g_B <= NB && HC <= 64);
    for (int64_t r = 0; r < g_B * NN; r++)
        for (int64_t j = 0; j < HC; j++)
            for (int f = 0; f < NF; f++) X[r * HC + j] += d[0][r * NF + f] * d[2][j * NF + f];
    if (d[1])
        for (int64_t r = 0; r < g_B * NM; r++)
            for (int64_t j = 0; j < HC; j++)
                for (int f = 0; f < NF; f++) Ahat[r * HC + j] += d[1][r * NF + f] * d[2][j * NF + f];
    if (d[3]) {
        gate = gbuf;
        for (int64_t r = 0; r < g_B * NN; r++) {
            double s = d[4][0];
            for (int f = 0; f < NF; f++) s += d[0][r * NF + f] * d[3][f];
            gate[r] = 1 / (1 + exp(-s));
        }
    }
    ref_conv(X, Ahat, gate, d[5], out);
    if (d[6])
        for (int64_t r = 0; r < g_B * NN; r++)
            for (int64_t j = 0; j < OC; j++) out[r * OC + j] += d[6][j];
}

/* ------------------------------------------------------------------ the harness */

typedef struct gc {
    int n;                  /* slots */
    cg_tensor *t[MAXP];     /* parameter tensors (NULL: slot unused) */
    double *d[MAXP];        /* double copies */
    float lo[MAXP], hi[MAXP];
    void (*ref)(double *const *d, double *out);
} gc;

static void gc_fill(gc *g) {
    for (int k = 0; k < g->n; k++) {
        g->d[k] = NULL;
        if (!g->t[k]) continue;
        float *x = cg_f32(g->t[k]);
        tu_fill_uniform(x, g->t[k]->numel, g->lo[k], g->hi[k], 500 + 31 * k);
        g->d[k] = malloc(g->t[k]->numel * sizeof(double));
        for (int64_t j = 0; j < g->t[k]->numel; j++) g->d[k][j] = x[j];
        g->t[k]->requires_grad = true;
    }
}

static void gc_free(gc *g) {
    for (int k = 0; k < g->n; k++) free(g->d[k]);
}

/* forward vs the reference, then backward seeded with r against finite differences of sum(r * ref) */
static void gc_check(const char *name, gc *g, cg_ctx *ctx, cg_tensor *out) {
    if (!out) print_error("%s: %s\n", name, cg_last_error());
    assert_non_null(out);
    int64_t n = out->numel;
    assert_int_equal(n, g_B * NN * out_cols());
    double *ref = malloc(n * sizeof(double)), *tmp = malloc(n * sizeof(double));
    g_min_score = INFINITY;
    g->ref(g->d, ref);
    if (g_cfg.use_attention) assert_true(g_min_score > 1e-4); /* away from the LeakyReLU kink */
    char label[160];
    snprintf(label, sizeof label, "%s forward", name);
    tu_check_close(label, cg_f32(out), ref, n, 1e-5, 1e-3);

    float *r = malloc(n * sizeof(float));
    tu_fill_uniform(r, n, -1.0f, 1.0f, 99);
    assert_int_equal(cg_backward_from(ctx, out, r), CG_OK);
    for (int k = 0; k < g->n; k++) {
        if (!g->t[k]) continue;
        int64_t m = g->t[k]->numel;
        double *fd = malloc(m * sizeof(double)), maxabs = 0;
        for (int64_t j = 0; j < m; j++) {
            double x0 = g->d[k][j], h = 1e-6 * fmax(1.0, fabs(x0)), lp = 0, lm = 0;
            g->d[k][j] = x0 + h;
            g->ref(g->d, tmp);
            for (int64_t t = 0; t < n; t++) lp += r[t] * tmp[t];
            g->d[k][j] = x0 - h;
            g->ref(g->d, tmp);
            for (int64_t t = 0; t < n; t++) lm += r[t] * tmp[t];
            g->d[k][j] = x0;
            fd[j] = (lp - lm) / (2 * h);
            maxabs = fmax(maxabs, fabs(fd[j]));
        }
        assert_non_null(g->t[k]->grad);
        snprintf(label, sizeof label, "%s d/d(%s)", name, g->t[k]->name);
        tu_check_close(label, g->t[k]->grad, fd, m, 2e-4, fmax(1e-2 * maxabs, 1e-6));
        free(fd);
    }
    free(r);
    free(tmp);
    free(ref);
}

static const char *mode_name(int att) { return att == 0 ? "noatt" : att == 1 ? "node" : "edge"; }

static cg_stoich_hg_config combo(int att, bool gated, bool concat) {
    cg_stoich_hg_config c = cg_stoich_hg_default_config(NC);
    c.heads = NH;
    c.use_attention = att > 0;
    c.attention_mode = att == 2 ? CG_STOICH_ATT_EDGE : CG_STOICH_ATT_NODE;
    c.gated = gated;
    c.concat = concat;
    return c;
}

/* The fused op with X, Ahat, gate, att as parameters. */
static void run_op_case(const char *name, const cg_rel_batch *inc, bool training, uint64_t seed) {
    const int64_t HC = (int64_t)heads() * NC;
    cg_param_store ps;
    cg_params_init(&ps);
    gc g = {.n = 4, .ref = ref_op};
    int64_t xs[2] = {g_B * NN, HC}, as[2] = {g_B * NM, HC}, gs[2] = {g_B * NN, 1}, ts[2] = {heads(), 2 * NC};
    assert_int_equal(cg_params_add(&ps, "X", 2, xs, &g.t[0]), CG_OK);
    if (g_cfg.use_attention) assert_int_equal(cg_params_add(&ps, "Ahat", 2, as, &g.t[1]), CG_OK);
    if (g_cfg.gated) assert_int_equal(cg_params_add(&ps, "gate", 2, gs, &g.t[2]), CG_OK);
    if (g_cfg.use_attention) assert_int_equal(cg_params_add(&ps, "att", 2, ts, &g.t[3]), CG_OK);
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    g.lo[0] = g.lo[1] = g.lo[3] = -1.0f, g.hi[0] = g.hi[1] = g.hi[3] = 1.0f;
    g.lo[2] = 0.1f, g.hi[2] = 0.9f;
    gc_fill(&g);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 16, seed), CG_OK);
    ctx.training = training;
    cg_tensor *out = cg_stoich_hypergraph(&ctx, g.t[0], g.t[1], g.t[2], g.t[3], inc, &g_cfg);
    gc_check(name, &g, &ctx, out);
    gc_free(&g);
    cg_ctx_free(&ctx);
    cg_params_free(&ps);
}

static void test_op_grads(void **state) {
    (void)state;
    cg_rel_batch inc = make_inc(NB, DEAD_RXN, NULL);
    g_B = NB, g_dead_rxn = DEAD_RXN, g_dead_met = NULL, g_keep = NULL;
    for (int att = 0; att < 3; att++)
        for (int gated = 0; gated < 2; gated++)
            for (int concat = 0; concat < 2; concat++) {
                g_cfg = combo(att, gated, concat);
                char name[96];
                snprintf(name, sizeof name, "op %s %s %s", mode_name(att), gated ? "gated" : "ungated",
                         concat ? "concat" : "mean");
                run_op_case(name, &inc, true, 7);
            }
}

/* The whole layer: x, A and the registered parameters. */
static void test_layer_grads(void **state) {
    (void)state;
    cg_rel_batch inc = make_inc(NB, DEAD_RXN, NULL);
    g_B = NB, g_dead_rxn = DEAD_RXN, g_dead_met = NULL, g_keep = NULL;
    for (int att = 0; att < 3; att++)
        for (int gated = 0; gated < 2; gated++)
            for (int concat = 0; concat < 2; concat++) {
                g_cfg = combo(att, gated, concat);
                char name[96];
                snprintf(name, sizeof name, "layer %s %s %s", mode_name(att), gated ? "gated" : "ungated",
                         concat ? "concat" : "mean");
                cg_param_store ps;
                cg_params_init(&ps);
                gc g = {.n = 7, .ref = ref_layer};
                int64_t xs[2] = {NB * NN, NF}, as[2] = {NB * NM, NF};
                assert_int_equal(cg_params_add(&ps, "x", 2, xs, &g.t[0]), CG_OK);
                if (att) assert_int_equal(cg_params_add(&ps, "A", 2, as, &g.t[1]), CG_OK);
                cg_stoich_hg_layer l;
                assert_int_equal(cg_stoich_hg_register(&l, &ps, "conv", NF, &g_cfg, true), CG_OK);
                assert_int_equal(cg_params_finalize(&ps), CG_OK);
                /* PyTorch names and shapes */
                assert_ptr_equal(cg_params_find(&ps, "conv.lin.weight"), l.lin_weight);
                assert_int_equal(l.lin_weight->shape[0], (att ? NH : 1) * NC);
                assert_int_equal(l.lin_weight->shape[1], NF);
                assert_int_equal(l.bias->numel, out_cols());
                if (gated) {
                    assert_ptr_equal(cg_params_find(&ps, "conv.gate_lin.weight"), l.gate_weight);
                    assert_ptr_equal(cg_params_find(&ps, "conv.gate_lin.bias"), l.gate_bias);
                } else {
                    assert_null(l.gate_weight);
                }
                if (att) {
                    assert_ptr_equal(cg_params_find(&ps, "conv.att"), l.att);
                    assert_int_equal(l.att->ndim, 3);
                    assert_int_equal(l.att->shape[1], NH);
                    assert_int_equal(l.att->shape[2], 2 * NC);
                } else {
                    assert_null(l.att);
                }
                /* init: deterministic, bias zero, glorot bound */
                cg_stoich_hg_init(&l, 3);
                float bound = sqrtf(6.0f / (float)(l.lin_weight->shape[0] + NF));
                for (int64_t j = 0; j < l.lin_weight->numel; j++) assert_true(fabsf(cg_f32(l.lin_weight)[j]) <= bound);
                for (int64_t j = 0; j < l.bias->numel; j++) assert_true(cg_f32(l.bias)[j] == 0.0f);
                g.t[2] = l.lin_weight, g.t[3] = l.gate_weight, g.t[4] = l.gate_bias, g.t[5] = l.att, g.t[6] = l.bias;
                for (int k = 0; k < 7; k++) g.lo[k] = -1.0f, g.hi[k] = 1.0f;
                g.lo[2] = -0.8f, g.hi[2] = 0.8f;
                g.lo[4] = g.lo[6] = -0.5f, g.hi[4] = g.hi[6] = 0.5f;
                gc_fill(&g);
                cg_ctx ctx;
                assert_int_equal(cg_ctx_init(&ctx, 1 << 16, 7), CG_OK);
                cg_tensor *out = cg_stoich_hg_layer_forward(&ctx, &l, g.t[0], g.t[1], &inc);
                gc_check(name, &g, &ctx, out);
                gc_free(&g);
                cg_ctx_free(&ctx);
                cg_params_free(&ps);
            }
}

/* Dead metabolites: their incidences vanish, their output rows are 0 (before the bias). */
static void test_dead_nodes(void **state) {
    (void)state;
    static const uint64_t dead_met[NB] = {0, (1u << 3), (1u << 1) | (1u << 4)};
    cg_rel_batch inc = make_inc(NB, DEAD_RXN, dead_met);
    g_B = NB, g_dead_rxn = DEAD_RXN, g_dead_met = dead_met, g_keep = NULL;
    for (int att = 0; att < 3; att++) {
        g_cfg = combo(att, true, att != 1);
        char name[64];
        snprintf(name, sizeof name, "dead nodes %s", mode_name(att));
        run_op_case(name, &inc, true, 7);
    }
    /* the zero rows, directly */
    g_cfg = combo(2, true, true);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    float X[NB * NN * NH * NC], A[NB * NM * NH * NC], gate[NB * NN], att[NH * 2 * NC];
    tu_fill_uniform(X, NB * NN * NH * NC, -1, 1, 1);
    tu_fill_uniform(A, NB * NM * NH * NC, -1, 1, 2);
    tu_fill_uniform(gate, NB * NN, 0.1f, 0.9f, 3);
    tu_fill_uniform(att, NH * 2 * NC, -1, 1, 4);
    cg_tensor *out = cg_stoich_hypergraph(&ctx, cg_tensor_wrap2(&ctx, NB * NN, NH * NC, X),
                                          cg_tensor_wrap2(&ctx, NB * NM, NH * NC, A),
                                          cg_tensor_wrap2(&ctx, NB * NN, 1, gate),
                                          cg_tensor_wrap2(&ctx, NH, 2 * NC, att), &inc, &g_cfg);
    assert_non_null(out);
    const int rows[][2] = {{1, 3}, {2, 1}, {2, 4}, {0, 5}, {1, 5}, {2, 5}}; /* dead, and in no reaction */
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        for (int j = 0; j < NH * NC; j++) assert_true(cg_f32(out)[(rows[i][0] * NN + rows[i][1]) * NH * NC + j] == 0.0f);
    assert_true(cg_f32(out)[0] != 0.0f);
    cg_ctx_free(&ctx);
}

/* Sample 0 has nothing dead: its rows equal a B = 1 run without bitsets, bitwise, forward and dX. */
static void test_single_sample(void **state) {
    (void)state;
    for (int att = 0; att < 3; att++) {
        cg_stoich_hg_config cfg = combo(att, true, true);
        const int64_t HC = (int64_t)cg_stoich_hg_heads(&cfg) * NC;
        float *res[2][2];
        for (int run = 0; run < 2; run++) {
            int64_t B = run == 0 ? NB : 1;
            cg_rel_batch inc = run == 0 ? make_inc(NB, DEAD_RXN, NO_DEAD) : make_inc(1, NULL, NULL);
            cg_param_store ps;
            cg_params_init(&ps);
            cg_tensor *X, *Ah, *gt, *at;
            int64_t xs[2] = {B * NN, HC}, as[2] = {B * NM, HC}, gs[1] = {B * NN}, ts[2] = {cfg.heads, 2 * NC};
            assert_int_equal(cg_params_add(&ps, "X", 2, xs, &X), CG_OK);
            assert_int_equal(cg_params_add(&ps, "Ahat", 2, as, &Ah), CG_OK);
            assert_int_equal(cg_params_add(&ps, "gate", 1, gs, &gt), CG_OK);
            assert_int_equal(cg_params_add(&ps, "att", 2, ts, &at), CG_OK);
            assert_int_equal(cg_params_finalize(&ps), CG_OK);
            /* sample 0's inputs are the same in both runs */
            tu_fill_uniform(cg_f32(X), X->numel, -1, 1, 11);
            tu_fill_uniform(cg_f32(Ah), Ah->numel, -1, 1, 12);
            tu_fill_uniform(cg_f32(gt), gt->numel, 0.1f, 0.9f, 13);
            tu_fill_uniform(cg_f32(at), at->numel, -1, 1, 14);
            X->requires_grad = true;
            cg_ctx ctx;
            assert_int_equal(cg_ctx_init(&ctx, 0, 5), CG_OK);
            cg_tensor *out = cg_stoich_hypergraph(&ctx, X, cfg.use_attention ? Ah : NULL, gt,
                                                  cfg.use_attention ? at : NULL, &inc, &cfg);
            assert_non_null(out);
            float *r = malloc(out->numel * sizeof(float));
            tu_fill_uniform(r, out->numel, -1, 1, 15);
            assert_int_equal(cg_backward_from(&ctx, out, r), CG_OK);
            res[run][0] = malloc(NN * HC * sizeof(float));
            res[run][1] = malloc(NN * HC * sizeof(float));
            memcpy(res[run][0], cg_f32(out), NN * HC * sizeof(float));
            memcpy(res[run][1], X->grad, NN * HC * sizeof(float));
            free(r);
            cg_ctx_free(&ctx);
            cg_params_free(&ps);
        }
        assert_memory_equal(res[0][0], res[1][0], NN * HC * sizeof(float));
        assert_memory_equal(res[0][1], res[1][1], NN * HC * sizeof(float));
        for (int i = 0; i < 2; i++) free(res[i][0]), free(res[i][1]);
    }
}

/* Attention dropout: training p = 0.5 is the masked function (finite differences of the reference with
 * the documented Philox mask); eval mode ignores dropout and consumes no random stream. */
static void test_dropout(void **state) {
    (void)state;
    cg_rel_batch inc = make_inc(NB, DEAD_RXN, NULL);
    g_B = NB, g_dead_rxn = DEAD_RXN, g_dead_met = NULL;
    const uint64_t seed = 1234;
    double keep[NB * NK * NH];
    int kept = 0, dropped = 0;
    for (int64_t i = 0; i < NB * NK * NH; i++) {
        /* a fresh context: step 0, op_counter 0 -> stream 0 */
        bool k = cg_rng_uniform(seed, 0, (uint64_t)i) >= 0.5f;
        keep[i] = k ? 2.0 : 0.0;
        kept += k, dropped += !k;
    }
    assert_true(kept > 10 && dropped > 10);
    for (int att = 1; att < 3; att++)
        for (int concat = 0; concat < 2; concat++) {
            g_cfg = combo(att, true, concat);
            g_cfg.dropout = 0.5f;
            g_keep = keep;
            char name[64];
            snprintf(name, sizeof name, "dropout %s %s", mode_name(att), concat ? "concat" : "mean");
            run_op_case(name, &inc, true, seed);
            g_keep = NULL;
            /* eval: identical to p = 0, no stream consumed */
            float X[NB * NN * NH * NC], A[NB * NM * NH * NC], gate[NB * NN], at[NH * 2 * NC];
            tu_fill_uniform(X, NB * NN * NH * NC, -1, 1, 1);
            tu_fill_uniform(A, NB * NM * NH * NC, -1, 1, 2);
            tu_fill_uniform(gate, NB * NN, 0.1f, 0.9f, 3);
            tu_fill_uniform(at, NH * 2 * NC, -1, 1, 4);
            float outs[3][NB * NN * NH * NC];
            const int64_t n_out = NB * NN * cg_stoich_hg_out_cols(&g_cfg);
            for (int v = 0; v < 3; v++) {
                cg_ctx ctx;
                assert_int_equal(cg_ctx_init(&ctx, 0, seed), CG_OK);
                cg_stoich_hg_config cfg = g_cfg;
                cfg.dropout = v == 0 ? 0.0f : 0.5f;
                ctx.training = v != 1;
                cg_tensor *o = cg_stoich_hypergraph(&ctx, cg_tensor_wrap2(&ctx, NB * NN, NH * NC, X),
                                                    cg_tensor_wrap2(&ctx, NB * NM, NH * NC, A),
                                                    cg_tensor_wrap2(&ctx, NB * NN, 1, gate),
                                                    cg_tensor_wrap2(&ctx, NH, 2 * NC, at), &inc, &cfg);
                assert_non_null(o);
                assert_int_equal(o->numel, n_out);
                assert_int_equal(ctx.op_counter, v == 2 ? 1 : 0);
                memcpy(outs[v], o->data, n_out * sizeof(float));
                cg_ctx_free(&ctx);
            }
            /* v = 0: p = 0; v = 1: p = 0.5 in eval mode; v = 2: p = 0.5 training */
            assert_memory_equal(outs[0], outs[1], n_out * sizeof(float));
            assert_memory_not_equal(outs[0], outs[2], n_out * sizeof(float));
        }
}

/* ------------------------------------------------------------------ determinism on a larger graph */

enum { BN = 400, BM = 250, BB = 4, BH = 2, BC = 8 };

typedef struct big_graph {
    int64_t rowptr[BM + 1], src_ptr[BN + 1];
    int32_t *src, *dst, *perm;
    float *stoich;
    uint64_t dead_rxn[BB * 7], dead_met[BB * 7];
    cg_rel_batch inc;
} big_graph;

static void make_big(big_graph *g) {
    g->rowptr[0] = 0;
    for (int e = 0; e < BM; e++) g->rowptr[e + 1] = g->rowptr[e] + 1 + cg_rng_u32(9, 0, e) % 8;
    int64_t K = g->rowptr[BM];
    g->src = malloc(K * sizeof(int32_t));
    g->dst = malloc(K * sizeof(int32_t));
    g->perm = malloc(K * sizeof(int32_t));
    g->stoich = malloc(K * sizeof(float));
    for (int e = 0; e < BM; e++)
        for (int64_t k = g->rowptr[e]; k < g->rowptr[e + 1]; k++) {
            g->dst[k] = e;
            g->src[k] = (int32_t)(cg_rng_u32(9, 1, k) % BN);
            float u = cg_rng_uniform(9, 2, k);
            g->stoich[k] = (u < 0.5f ? -1.0f : 1.0f) * (0.25f + 3.0f * u);
        }
    assert_int_equal(cg_rel_reverse_index(BN, K, g->src, g->src_ptr, g->perm), CG_OK);
    memset(g->dead_rxn, 0, sizeof g->dead_rxn);
    memset(g->dead_met, 0, sizeof g->dead_met);
    for (int b = 0; b < BB; b++) {
        for (int e = 0; e < BM; e++)
            if (cg_rng_uniform(9, 3, b * BM + e) < 0.1f) g->dead_rxn[b * 7 + e / 64] |= 1ull << (e % 64);
        for (int v = 0; v < BN; v++)
            if (cg_rng_uniform(9, 4, b * BN + v) < 0.02f) g->dead_met[b * 7 + v / 64] |= 1ull << (v % 64);
    }
    g->inc = (cg_rel_batch){.n_src = BN, .n_dst = BM, .n_edges = K, .rowptr = g->rowptr, .src = g->src,
                            .dst = g->dst, .src_ptr = g->src_ptr, .src_perm = g->perm, .attr = g->stoich,
                            .attr_dim = 1, .B = BB, .dead_src = g->dead_met, .dead_dst = g->dead_rxn,
                            .dead_stride = 7};
    assert_int_equal(cg_stoich_hg_validate(&g->inc), CG_OK);
}

/* forward + backward; returns the output and all gradients in one malloc'd array */
static float *big_run(const big_graph *g, const cg_stoich_hg_config *cfg, int threads, size_t *n_res) {
    assert_int_equal(cg_set_num_threads(threads), CG_OK);
    const int64_t HC = (int64_t)cg_stoich_hg_heads(cfg) * BC;
    cg_param_store ps;
    cg_params_init(&ps);
    cg_tensor *X, *Ah, *gt, *at;
    int64_t xs[2] = {BB * BN, HC}, as[2] = {BB * BM, HC}, gs[1] = {BB * BN}, ts[2] = {cfg->heads, 2 * BC};
    assert_int_equal(cg_params_add(&ps, "X", 2, xs, &X), CG_OK);
    assert_int_equal(cg_params_add(&ps, "Ahat", 2, as, &Ah), CG_OK);
    assert_int_equal(cg_params_add(&ps, "gate", 1, gs, &gt), CG_OK);
    assert_int_equal(cg_params_add(&ps, "att", 2, ts, &at), CG_OK);
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    cg_rng_fill_uniform(cg_f32(X), X->numel, -1, 1, 21, 0);
    cg_rng_fill_uniform(cg_f32(Ah), Ah->numel, -1, 1, 21, 1);
    cg_rng_fill_uniform(cg_f32(gt), gt->numel, 0.1f, 0.9f, 21, 2);
    cg_rng_fill_uniform(cg_f32(at), at->numel, -1, 1, 21, 3);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 77), CG_OK);
    cg_tensor *out = cg_stoich_hypergraph(&ctx, X, Ah, gt, at, &g->inc, cfg);
    if (!out) print_error("%s\n", cg_last_error());
    assert_non_null(out);
    float *r = malloc(out->numel * sizeof(float));
    cg_rng_fill_uniform(r, out->numel, -1, 1, 22, 0);
    assert_int_equal(cg_backward_from(&ctx, out, r), CG_OK);
    size_t n = (size_t)out->numel + (size_t)ps.total;
    float *res = malloc(n * sizeof(float));
    memcpy(res, out->data, out->numel * sizeof(float));
    memcpy(res + out->numel, ps.grads, ps.total * sizeof(float));
    *n_res = n;
    free(r);
    cg_ctx_free(&ctx);
    cg_params_free(&ps);
    return res;
}

static void test_determinism(void **state) {
    (void)state;
    big_graph g;
    make_big(&g);
    int saved = cg_get_num_threads();
    for (int att = 1; att < 3; att++)
        for (int concat = 0; concat < 2; concat++) {
            cg_stoich_hg_config cfg = combo(att, true, concat);
            cfg.heads = BH;
            cfg.channels = BC;
            cfg.dropout = 0.3f;
            size_t n1, n2, n3, n4;
            float *a = big_run(&g, &cfg, 1, &n1), *b = big_run(&g, &cfg, 2, &n2), *c = big_run(&g, &cfg, 2, &n3);
            float *d = big_run(&g, &cfg, 3, &n4);
            assert_true(n1 == n2 && n2 == n3 && n3 == n4);
            assert_memory_equal(a, b, n1 * sizeof(float));
            assert_memory_equal(b, c, n1 * sizeof(float));
            assert_memory_equal(a, d, n1 * sizeof(float));
            double sumsq = 0;
            for (size_t i = 0; i < n1; i++) sumsq += (double)a[i] * a[i];
            assert_true(sumsq > 0 && isfinite(sumsq));
            free(a), free(b), free(c), free(d);
        }
    assert_int_equal(cg_set_num_threads(saved), CG_OK);
    free(g.src), free(g.dst), free(g.perm), free(g.stoich);
}

/* ------------------------------------------------------------------ errors */

static void expect_fail(cg_ctx *ctx, cg_tensor *t, cg_status s, const char *msg) {
    assert_null(t);
    assert_int_equal(cg_ctx_status(ctx), s);
    if (!strstr(cg_last_error(), msg)) print_error("message '%s' lacks '%s'\n", cg_last_error(), msg);
    assert_non_null(strstr(cg_last_error(), msg));
    assert_int_equal(cg_ctx_reset(ctx), CG_OK);
}

static void test_errors(void **state) {
    (void)state;
    cg_rel_batch inc = make_inc(NB, DEAD_RXN, NULL);
    cg_stoich_hg_config cfg = combo(1, true, true);
    float buf[NB * NN * 16] = {0};
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
#define W2(r, c) cg_tensor_wrap2(&ctx, (r), (c), buf)
    const int HC = NH * NC;
    /* a good call first */
    assert_non_null(cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &cfg));
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC + 1), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &cfg),
                CG_ERR_SHAPE, "stoich_hypergraph: X [18, 7] should be [18, 6]");
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &cfg),
                CG_ERR_SHAPE, "stoich_hypergraph: Ahat [4, 6] should be [12, 6]");
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NN, 1), W2(NH, 2 * NC), &inc, &cfg),
                CG_ERR_SHAPE, "stoich_hypergraph: gate [6, 1] should have 18 elements");
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, NC), &inc, &cfg),
                CG_ERR_SHAPE, "stoich_hypergraph: att [2, 3] should have 12 elements");
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), NULL, W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &cfg),
                CG_ERR_INVALID_ARG, "use_attention needs Ahat and att");
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), NULL, W2(NH, 2 * NC), &inc, &cfg),
                CG_ERR_INVALID_ARG, "gated but the gate is NULL");
    int64_t three = NB * NN;
    expect_fail(&ctx,
                cg_stoich_hypergraph(&ctx, cg_tensor_wrap(&ctx, CG_I32, 1, &three, buf), W2(NB * NM, HC), W2(NB * NN, 1),
                                     W2(NH, 2 * NC), &inc, &cfg),
                CG_ERR_SHAPE, "X must be float32");
    cg_stoich_hg_config plain = combo(0, false, true);
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, NC), NULL, W2(NB * NN, 1), NULL, &inc, &plain),
                CG_ERR_INVALID_ARG, "gate given but gated is off");
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, NC), NULL, NULL, W2(1, 2 * NC), &inc, &plain),
                CG_ERR_INVALID_ARG, "att given but use_attention is off");
    /* without attention there is one head whatever `heads` says: X has C columns */
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), NULL, NULL, NULL, &inc, &plain), CG_ERR_SHAPE,
                "X [18, 6] should be [18, 3]");
    cg_stoich_hg_config bad = cfg;
    bad.dropout = 1.0f;
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &bad),
                CG_ERR_INVALID_ARG, "dropout 1 is not in [0, 1)");
    bad = cfg;
    bad.attention_mode = 7;
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &bad),
                CG_ERR_INVALID_ARG, "attention_mode 7");
    bad = cfg;
    bad.heads = 0;
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, 0), W2(NB * NM, 0), W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &bad),
                CG_ERR_INVALID_ARG, "heads 0 and channels 3 must be at least 1");
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), NULL, &cfg),
                CG_ERR_INVALID_ARG, "incidence structure is NULL");
    cg_rel_batch b2 = inc;
    b2.attr_dim = 2;
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &b2, &cfg),
                CG_ERR_INVALID_ARG, "attr_dim 1");
    b2 = inc;
    b2.src_perm = NULL;
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &b2, &cfg),
                CG_ERR_INVALID_ARG, "reverse index");
    b2 = inc;
    b2.n_edges = NK - 1;
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &b2, &cfg),
                CG_ERR_INVALID_ARG, "rowptr runs from 0 to 12, expected 0 to the 11 incidences");
    b2 = inc;
    b2.dead_stride = 0;
    expect_fail(&ctx, cg_stoich_hypergraph(&ctx, W2(NB * NN, HC), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &b2, &cfg),
                CG_ERR_INVALID_ARG, "dead_stride 0 is below the 1 words");
    /* sticky: a NULL input propagates without a new message */
    assert_null(cg_stoich_hypergraph(&ctx, W2(NB * NN, HC + 1), W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &cfg));
    assert_null(cg_stoich_hypergraph(&ctx, NULL, W2(NB * NM, HC), W2(NB * NN, 1), W2(NH, 2 * NC), &inc, &cfg));
    assert_non_null(strstr(cg_last_error(), "X [18, 7]"));
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    /* the layer: attention needs A */
    cg_param_store ps;
    cg_params_init(&ps);
    cg_stoich_hg_layer l;
    assert_int_equal(cg_stoich_hg_register(&l, &ps, "conv", NF, &cfg, true), CG_OK);
    assert_int_equal(cg_params_finalize(&ps), CG_OK);
    expect_fail(&ctx, cg_stoich_hg_layer_forward(&ctx, &l, W2(NB * NN, NF), NULL, &inc), CG_ERR_INVALID_ARG,
                "attention needs the hyperedge attributes A");
    expect_fail(&ctx, cg_stoich_hg_layer_forward(&ctx, &l, W2(NB * NN, NF + 1), W2(NB * NM, NF + 1), &inc),
                CG_ERR_SHAPE, "matmul: inner dimensions differ");
    cg_params_free(&ps);
    cg_stoich_hg_layer l2;
    cg_params_init(&ps);
    assert_int_equal(cg_stoich_hg_register(&l2, &ps, "conv", 0, &cfg, true), CG_ERR_INVALID_ARG);
    assert_non_null(strstr(cg_last_error(), "conv: in_channels 0"));
    cg_params_free(&ps);
#undef W2
    cg_ctx_free(&ctx);

    /* full validation of the incidence structure */
    assert_int_equal(cg_stoich_hg_validate(&inc), CG_OK);
    int32_t src_bad[NK], perm_bad[NK];
    memcpy(src_bad, SRC, sizeof src_bad);
    src_bad[4] = NN;
    cg_rel_batch v = inc;
    v.src = src_bad;
    assert_int_equal(cg_stoich_hg_validate(&v), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "incidence 4 has node 6 outside [0, 6)"));
    memcpy(perm_bad, g_src_perm, sizeof perm_bad);
    int32_t tmp = perm_bad[0];
    perm_bad[0] = perm_bad[1], perm_bad[1] = tmp;
    v = inc;
    v.src_perm = perm_bad;
    assert_int_equal(cg_stoich_hg_validate(&v), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "src_perm[1] = 0 is not the next incidence of node 0"));
    float st_bad[NK];
    memcpy(st_bad, STOICH, sizeof st_bad);
    st_bad[2] = NAN;
    v = inc;
    v.attr = st_bad;
    assert_int_equal(cg_stoich_hg_validate(&v), CG_ERR_FORMAT);
    v = inc;
    v.B = 0;
    assert_int_equal(cg_stoich_hg_validate(&v), CG_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_grads),      cmocka_unit_test(test_layer_grads), cmocka_unit_test(test_dead_nodes),
        cmocka_unit_test(test_single_sample), cmocka_unit_test(test_dropout),     cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
