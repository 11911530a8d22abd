/* GATv2 (cellgraph/gatv2.h): the fused batched kernel against a naive double-precision reference that
 * builds each sample's explicit edge list with PyG semantics (remove-then-add self loops with the mean
 * edge attribute), gradients through the tape against central finite differences of that reference,
 * dead nodes, attention dropout, thread-count determinism and shape errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "cellgraph/gatv2.h"
#include "cellgraph/params.h"
#include "cellgraph/rng.h"
#include "cellgraph/threads.h"
#include "testutil.h"

/* ------------------------------------------------------------------ test graphs */

/* A relation given as an edge list in arbitrary order, dead flags per sample, and the derived batched
 * view (CSR by destination, reverse index, bitsets). */
typedef struct tgraph {
    int64_t Ns, Nd, E, B;
    int De;                /* edge attribute dimension (0: none) */
    bool same_type;
    int32_t *es, *ed;      /* [E] edge list (source, destination) */
    float *eattr;          /* [E, De] in edge-list order */
    bool *dead_s, *dead_d; /* [B, Ns], [B, Nd] */
    /* derived by tg_build */
    int64_t *rowptr, *src_ptr;
    int32_t *src, *dst, *pos, *src_perm; /* pos[i]: CSR position of edge-list entry i */
    float *attr;
    uint64_t *bits_s, *bits_d;
    cg_rel_batch rel;
} tgraph;

static void tg_alloc(tgraph *g, int64_t Ns, int64_t Nd, int64_t E, int64_t B, int De, bool same_type) {
    memset(g, 0, sizeof *g);
    g->Ns = Ns, g->Nd = Nd, g->E = E, g->B = B, g->De = De, g->same_type = same_type;
    g->es = calloc(E + 1, sizeof(int32_t));
    g->ed = calloc(E + 1, sizeof(int32_t));
    g->eattr = De ? calloc(E * De + 1, sizeof(float)) : NULL;
    g->dead_s = calloc(B * Ns + 1, sizeof(bool));
    g->dead_d = calloc(B * Nd + 1, sizeof(bool));
}

/* Builds the CSR (stable counting sort by destination), reverse index and bitsets; with_dead = false
 * leaves the bitsets NULL (nothing dead). */
static void tg_build(tgraph *g, bool with_dead) {
    int64_t E = g->E, Nd = g->Nd, Ns = g->Ns;
    g->rowptr = calloc(Nd + 1, sizeof(int64_t));
    g->src = calloc(E + 1, sizeof(int32_t));
    g->dst = calloc(E + 1, sizeof(int32_t));
    g->pos = calloc(E + 1, sizeof(int32_t));
    g->src_ptr = calloc(Ns + 1, sizeof(int64_t));
    g->src_perm = calloc(E + 1, sizeof(int32_t));
    g->attr = g->De ? calloc(E * g->De + 1, sizeof(float)) : NULL;
    for (int64_t i = 0; i < E; i++) g->rowptr[g->ed[i] + 1]++;
    for (int64_t d = 0; d < Nd; d++) g->rowptr[d + 1] += g->rowptr[d];
    int64_t *next = malloc((Nd + 1) * sizeof(int64_t));
    memcpy(next, g->rowptr, (Nd + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < E; i++) {
        int64_t p = next[g->ed[i]]++;
        g->src[p] = g->es[i], g->dst[p] = g->ed[i], g->pos[i] = (int32_t)p;
        for (int j = 0; j < g->De; j++) g->attr[p * g->De + j] = g->eattr[i * g->De + j];
    }
    free(next);
    assert_int_equal(cg_rel_reverse_index(Ns, E, g->src, g->src_ptr, g->src_perm), CG_OK);
    int64_t stride = ((Ns > Nd ? Ns : Nd) + 63) / 64;
    if (with_dead) {
        g->bits_s = calloc(g->B * stride + 1, sizeof(uint64_t));
        g->bits_d = calloc(g->B * stride + 1, sizeof(uint64_t));
        for (int64_t b = 0; b < g->B; b++) {
            for (int64_t s = 0; s < Ns; s++)
                if (g->dead_s[b * Ns + s]) g->bits_s[b * stride + (s >> 6)] |= 1ull << (s & 63);
            for (int64_t d = 0; d < Nd; d++)
                if (g->dead_d[b * Nd + d]) g->bits_d[b * stride + (d >> 6)] |= 1ull << (d & 63);
        }
    }
    g->rel = (cg_rel_batch){.n_src = Ns, .n_dst = Nd, .n_edges = E, .rowptr = g->rowptr, .src = g->src,
                            .dst = g->dst, .src_ptr = g->src_ptr, .src_perm = g->src_perm, .attr = g->attr,
                            .attr_dim = g->De, .same_type = g->same_type, .B = g->B, .dead_src = g->bits_s,
                            .dead_dst = g->bits_d, .dead_stride = stride};
}

static void tg_free(tgraph *g) {
    free(g->es), free(g->ed), free(g->eattr), free(g->dead_s), free(g->dead_d);
    free(g->rowptr), free(g->src_ptr), free(g->src), free(g->dst), free(g->pos), free(g->src_perm);
    free(g->attr), free(g->bits_s), free(g->bits_d);
    memset(g, 0, sizeof *g);
}

/* Graph A: one node type, N = 7, 20 edges. Node 0 is a hub source (5 out-edges), 3 -> 3 is an existing
 * self loop, node 6 has no in-edge, node 5's only in-edge comes from the hub. B = 3: sample 0 nothing
 * dead, sample 1 the hub 0 dead, sample 2 node 3 dead (as a destination, and as a source). */
static void graph_a(tgraph *g, int De, bool with_dead) {
    static const int32_t es[20] = {0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 6, 6, 6, 1, 2};
    static const int32_t ed[20] = {1, 2, 3, 4, 5, 0, 0, 3, 3, 2, 2, 1, 4, 1, 0, 0, 1, 4, 3, 4};
    tg_alloc(g, 7, 7, 20, 3, De, true);
    memcpy(g->es, es, sizeof es);
    memcpy(g->ed, ed, sizeof ed);
    if (De) tu_fill_uniform(g->eattr, 20 * De, -2.0f, 2.0f, 555 + De);
    bool *dead[2] = {g->dead_s, g->dead_d};
    for (int k = 0; k < 2; k++) {
        dead[k][1 * 7 + 0] = true;
        dead[k][2 * 7 + 3] = true;
    }
    tg_build(g, with_dead);
}

/* Graph B: bipartite Ns = 5 -> Nd = 4, 10 edges listed out of destination order. Source 0 is a hub;
 * destination 3's only in-edge comes from it. Sample 1: source 0 dead; sample 2: destination 1 dead. */
static void graph_b(tgraph *g, int De) {
    static const int32_t es[10] = {0, 0, 0, 0, 1, 2, 3, 4, 2, 3};
    static const int32_t ed[10] = {0, 1, 2, 3, 0, 1, 1, 2, 2, 0};
    tg_alloc(g, 5, 4, 10, 3, De, false);
    memcpy(g->es, es, sizeof es);
    memcpy(g->ed, ed, sizeof ed);
    if (De) tu_fill_uniform(g->eattr, 10 * De, -2.0f, 2.0f, 777 + De);
    g->dead_s[1 * 5 + 0] = true;
    g->dead_d[2 * 4 + 1] = true;
    tg_build(g, true);
}

/* ------------------------------------------------------------------ the double reference */

typedef struct gcase {
    const tgraph *g;
    cg_gatv2_config cfg;
    bool use_w;    /* w_edge given (edge attributes used) */
    bool use_bias;
    bool drop;     /* dropout active (training and p > 0) */
    uint64_t seed, stream;
} gcase;

enum { IN_XL, IN_XR, IN_W, IN_ATT, IN_BIAS, N_IN };

/* PyG GATv2Conv per sample on the sample's explicit graph. in: xl, xr, w, att, bias (double). */
static void ref_forward(const gcase *k, const double *const *in, double *out) {
    const tgraph *g = k->g;
    const int H = k->cfg.heads, C = k->cfg.channels, HC = H * C, F = k->cfg.concat ? HC : C;
    const int De = k->use_w ? g->De : 0;
    const bool loops = k->cfg.add_self_loops;
    const double *xl = in[IN_XL], *xr = in[IN_XR], *w = in[IN_W], *att = in[IN_ATT], *bias = in[IN_BIAS];
    const int64_t maxn = g->E + g->Nd;
    int64_t *ls = malloc(maxn * sizeof(int64_t)), *ld = malloc(maxn * sizeof(int64_t));
    int64_t *slot = malloc(maxn * sizeof(int64_t));
    double *la = malloc((maxn * (De > 0 ? De : 1)) * sizeof(double));
    double *sc = malloc(maxn * H * sizeof(double)), *acc = malloc(HC * sizeof(double));
    for (int64_t b = 0; b < g->B; b++) {
        /* the sample's edge list: alive endpoints; with self loops, existing ones removed ... */
        int64_t n = 0;
        for (int64_t i = 0; i < g->E; i++) {
            int64_t s = g->es[i], d = g->ed[i];
            if (g->dead_s[b * g->Ns + s] || g->dead_d[b * g->Nd + d]) continue;
            if (loops && s == d) continue;
            ls[n] = s, ld[n] = d, slot[n] = g->pos[i];
            for (int j = 0; j < De; j++) la[n * De + j] = g->eattr[i * g->De + j];
            n++;
        }
        /* ... and one per alive node added, its attribute the mean of the node's incoming ones */
        if (loops) {
            int64_t n0 = n;
            for (int64_t d = 0; d < g->Nd; d++) {
                if (g->dead_d[b * g->Nd + d]) continue;
                int64_t cnt = 0;
                for (int j = 0; j < De; j++) la[n * De + j] = 0;
                for (int64_t t = 0; t < n0; t++)
                    if (ld[t] == d) {
                        cnt++;
                        for (int j = 0; j < De; j++) la[n * De + j] += la[t * De + j];
                    }
                for (int j = 0; j < De; j++) la[n * De + j] = cnt ? la[n * De + j] / cnt : 0.0;
                ls[n] = d, ld[n] = d, slot[n] = g->E + d;
                n++;
            }
        }
        for (int64_t t = 0; t < n; t++)
            for (int h = 0; h < H; h++) {
                double s = 0;
                for (int c = 0; c < C; c++) {
                    int q = h * C + c;
                    double z = xl[(b * g->Ns + ls[t]) * HC + q] + xr[(b * g->Nd + ld[t]) * HC + q];
                    for (int j = 0; j < De; j++) z += w[q * De + j] * la[t * De + j];
                    s += att[q] * (z > 0 ? z : k->cfg.negative_slope * z);
                }
                sc[t * H + h] = s;
            }
        for (int64_t d = 0; d < g->Nd; d++) {
            double *row = out + (b * g->Nd + d) * F;
            if (g->dead_d[b * g->Nd + d]) {
                for (int j = 0; j < F; j++) row[j] = 0;
                continue;
            }
            for (int q = 0; q < HC; q++) acc[q] = 0;
            for (int h = 0; h < H; h++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t t = 0; t < n; t++)
                    if (ld[t] == d) mx = fmax(mx, sc[t * H + h]);
                if (mx == -INFINITY) continue;
                for (int64_t t = 0; t < n; t++)
                    if (ld[t] == d) sum += exp(sc[t * H + h] - mx);
                for (int64_t t = 0; t < n; t++) {
                    if (ld[t] != d) continue;
                    double a = exp(sc[t * H + h] - mx) / sum;
                    if (k->drop) {
                        uint64_t idx = ((uint64_t)b * (g->E + g->Nd) + slot[t]) * H + h;
                        a *= cg_rng_uniform(k->seed, k->stream, idx) >= k->cfg.dropout
                                 ? 1.0 / (1.0 - (double)k->cfg.dropout)
                                 : 0.0;
                    }
                    for (int c = 0; c < C; c++) acc[h * C + c] += a * xl[(b * g->Ns + ls[t]) * HC + h * C + c];
                }
            }
            for (int j = 0; j < F; j++) {
                double v;
                if (k->cfg.concat)
                    v = acc[j];
                else {
                    v = 0;
                    for (int h = 0; h < H; h++) v += acc[h * C + j];
                    v /= H;
                }
                row[j] = v + (k->use_bias ? bias[j] : 0.0);
            }
        }
    }
    free(ls), free(ld), free(slot), free(la), free(sc), free(acc);
}

/* ------------------------------------------------------------------ forward + gradient check via the tape */

typedef struct params5 {
    cg_param_store ps;
    cg_tensor *t[N_IN]; /* xl, xr, w_edge (or NULL), att, bias (or NULL) */
    double *d[N_IN];    /* double copies (NULL where absent) */
} params5;

static void params_make(params5 *p, const gcase *k, uint64_t seed) {
    const tgraph *g = k->g;
    const int64_t H = k->cfg.heads, C = k->cfg.channels, HC = H * C;
    const int64_t F = k->cfg.concat ? HC : C;
    memset(p, 0, sizeof *p);
    cg_params_init(&p->ps);
    int64_t sxl[2] = {g->B * g->Ns, HC}, sxr[2] = {g->B * g->Nd, HC}, sw[2] = {HC, g->De}, satt[2] = {H, C},
            sb[1] = {F};
    assert_int_equal(cg_params_add(&p->ps, "lin_l_out", 2, sxl, &p->t[IN_XL]), CG_OK);
    assert_int_equal(cg_params_add(&p->ps, "lin_r_out", 2, sxr, &p->t[IN_XR]), CG_OK);
    if (k->use_w) assert_int_equal(cg_params_add(&p->ps, "lin_edge.weight", 2, sw, &p->t[IN_W]), CG_OK);
    assert_int_equal(cg_params_add(&p->ps, "att", 2, satt, &p->t[IN_ATT]), CG_OK);
    if (k->use_bias) assert_int_equal(cg_params_add(&p->ps, "bias", 1, sb, &p->t[IN_BIAS]), CG_OK);
    assert_int_equal(cg_params_finalize(&p->ps), CG_OK);
    static const float lo[N_IN] = {-1.0f, -1.0f, -0.8f, -1.0f, -0.5f}, hi[N_IN] = {1.0f, 1.0f, 0.8f, 1.0f, 0.5f};
    for (int i = 0; i < N_IN; i++) {
        if (!p->t[i]) continue;
        float *x = cg_f32(p->t[i]);
        tu_fill_uniform(x, p->t[i]->numel, lo[i], hi[i], seed + 31 * i);
        p->d[i] = malloc(p->t[i]->numel * sizeof(double));
        for (int64_t j = 0; j < p->t[i]->numel; j++) p->d[i][j] = x[j];
    }
}

static void params_free(params5 *p) {
    for (int i = 0; i < N_IN; i++) free(p->d[i]);
    cg_params_free(&p->ps);
}

static const char *case_name(const gcase *k, char *buf, size_t len) {
    snprintf(buf, len, "%s De=%d%s %s loops=%d bias=%d drop=%d", k->g->same_type ? "same-type" : "bipartite",
             k->g->De, k->use_w || !k->g->De ? "" : " (w none)", k->cfg.concat ? "concat" : "mean", k->cfg.add_self_loops,
             k->use_bias, k->drop);
    return buf;
}

static cg_tensor *run_op(cg_ctx *ctx, const params5 *p, const gcase *k) {
    return cg_gatv2(ctx, p->t[IN_XL], p->t[IN_XR], p->t[IN_W], p->t[IN_ATT], p->t[IN_BIAS], &k->g->rel, &k->cfg);
}

/* Forward against the reference (1e-5 relative), dead rows exactly 0, and every gradient of L = sum(r * out)
 * through the tape against central differences of the reference (2e-4). k->drop: the op runs in
 * training mode with k->cfg.dropout and the reference applies the same Philox mask. */
static void check_case(gcase *k) {
    char name[128];
    case_name(k, name, sizeof name);
    params5 p;
    params_make(&p, k, 100 + 7 * k->g->De + (k->cfg.concat ? 1 : 0));
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 16, 4242), CG_OK);
    ctx.training = k->drop;
    k->seed = ctx.seed;
    k->stream = (ctx.step << 24) ^ ctx.op_counter;
    cg_tensor *out = run_op(&ctx, &p, k);
    if (!out) print_error("%s: %s\n", name, cg_last_error());
    assert_non_null(out);
    const tgraph *g = k->g;
    const int64_t F = cg_gatv2_out_cols(&k->cfg), n_out = g->B * g->Nd * F;
    assert_int_equal(out->numel, n_out);
    assert_int_equal(ctx.op_counter, k->drop ? 1 : 0);

    double *ref = malloc(n_out * sizeof(double)), *tmp = malloc(n_out * sizeof(double));
    ref_forward(k, (const double *const *)p.d, ref);
    char label[192];
    snprintf(label, sizeof label, "%s forward", name);
    /* relative to max(|ref|, 1% of the output scale): outputs near 0 are bias + sum cancellations */
    double scale = 0;
    for (int64_t t = 0; t < n_out; t++) scale = fmax(scale, fabs(ref[t]));
    tu_check_close(label, cg_f32(out), ref, n_out, 1e-5, fmax(1e-3, 1e-2 * scale));
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t d = 0; d < g->Nd; d++)
            if (g->dead_d[b * g->Nd + d])
                for (int64_t j = 0; j < F; j++) assert_true(cg_f32(out)[(b * g->Nd + d) * F + j] == 0.0f);

    float *r = malloc(n_out * sizeof(float));
    tu_fill_uniform(r, n_out, -1.0f, 1.0f, 99);
    assert_int_equal(cg_backward_from(&ctx, out, r), CG_OK);
    static const char *in_names[N_IN] = {"xl", "xr", "w_edge", "att", "bias"};
    for (int i = 0; i < N_IN; i++) {
        if (!p.t[i]) continue;
        int64_t n = p.t[i]->numel;
        double *fd = malloc(n * sizeof(double)), maxabs = 0;
        for (int64_t j = 0; j < n; j++) {
            double x0 = p.d[i][j], h = 1e-6 * fmax(1.0, fabs(x0)), lp = 0, lm = 0;
            p.d[i][j] = x0 + h;
            ref_forward(k, (const double *const *)p.d, tmp);
            for (int64_t t = 0; t < n_out; t++) lp += r[t] * tmp[t];
            p.d[i][j] = x0 - h;
            ref_forward(k, (const double *const *)p.d, tmp);
            for (int64_t t = 0; t < n_out; t++) lm += r[t] * tmp[t];
            p.d[i][j] = x0;
            fd[j] = (lp - lm) / (2 * h);
            maxabs = fmax(maxabs, fabs(fd[j]));
        }
        snprintf(label, sizeof label, "%s d/d%s", name, in_names[i]);
        assert_non_null(p.t[i]->grad);
        tu_check_close(label, p.t[i]->grad, fd, n, 2e-4, fmax(1e-2 * maxabs, 1e-6));
        free(fd);
    }
    free(r), free(ref), free(tmp);
    cg_ctx_free(&ctx);
    params_free(&p);
}

static cg_gatv2_config cfg_of(bool concat, bool loops, float p) {
    return (cg_gatv2_config){.heads = 2, .channels = 3, .concat = concat, .add_self_loops = loops,
                             .negative_slope = 0.2f, .dropout = p};
}

/* same-type graph: De 0/1/2, concat/mean, self loops on/off, with and without bias */
static void test_grad_same_type(void **state) {
    (void)state;
    for (int De = 0; De <= 2; De++) {
        tgraph g;
        graph_a(&g, De, true);
        for (int concat = 0; concat < 2; concat++)
            for (int loops = 0; loops < 2; loops++) {
                gcase k = {.g = &g, .cfg = cfg_of(concat, loops, 0.0f), .use_w = De > 0, .use_bias = true};
                check_case(&k);
            }
        if (De == 1) { /* no bias; attributes present but no lin_edge (ignored) */
            gcase k = {.g = &g, .cfg = cfg_of(true, true, 0.0f), .use_w = false, .use_bias = false};
            check_case(&k);
        }
        tg_free(&g);
    }
}

/* bipartite graph: De 0/1/2, concat/mean (no self loops) */
static void test_grad_bipartite(void **state) {
    (void)state;
    for (int De = 0; De <= 2; De++) {
        tgraph g;
        graph_b(&g, De);
        for (int concat = 0; concat < 2; concat++) {
            gcase k = {.g = &g, .cfg = cfg_of(concat, false, 0.0f), .use_w = De > 0, .use_bias = true};
            check_case(&k);
        }
        tg_free(&g);
    }
}

/* attention dropout p = 0.5 in training: forward and backward match the reference with the same
 * (deterministic) mask; eval mode ignores dropout and draws no stream */
static void test_dropout(void **state) {
    (void)state;
    tgraph g;
    graph_a(&g, 1, true);
    for (int concat = 0; concat < 2; concat++) {
        gcase k = {.g = &g, .cfg = cfg_of(concat, true, 0.5f), .use_w = true, .use_bias = true, .drop = true};
        check_case(&k);
    }
    tg_free(&g);
    graph_b(&g, 2);
    gcase kb = {.g = &g, .cfg = cfg_of(true, false, 0.5f), .use_w = true, .use_bias = true, .drop = true};
    check_case(&kb);

    /* training output differs from the undropped one; eval equals it bitwise */
    params5 p;
    params_make(&p, &kb, 9);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 17), CG_OK);
    cg_gatv2_config c0 = cfg_of(true, false, 0.0f);
    gcase k0 = kb;
    k0.cfg = c0;
    cg_tensor *y0 = run_op(&ctx, &p, &k0);
    cg_tensor *yt = run_op(&ctx, &p, &kb);
    assert_non_null(y0);
    assert_non_null(yt);
    assert_int_equal(ctx.op_counter, 1);
    assert_true(memcmp(cg_f32(y0), cg_f32(yt), y0->numel * sizeof(float)) != 0);
    ctx.training = false;
    cg_tensor *ye = run_op(&ctx, &p, &kb);
    assert_non_null(ye);
    assert_int_equal(ctx.op_counter, 1);
    assert_memory_equal(cg_f32(y0), cg_f32(ye), y0->numel * sizeof(float));
    cg_ctx_free(&ctx);
    params_free(&p);
    tg_free(&g);
}

/* only the bias needs a gradient: the bias tape entry alone gives column sums over alive rows */
static void test_bias_only(void **state) {
    (void)state;
    tgraph g;
    graph_a(&g, 0, true);
    gcase k = {.g = &g, .cfg = cfg_of(false, true, 0.0f), .use_bias = true};
    params5 p;
    params_make(&p, &k, 3);
    for (int i = 0; i < N_IN; i++)
        if (p.t[i] && i != IN_BIAS) p.t[i]->requires_grad = false;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    cg_tensor *out = run_op(&ctx, &p, &k);
    assert_non_null(out);
    assert_true(out->requires_grad);
    const int64_t F = 3;
    float *r = malloc(out->numel * sizeof(float));
    tu_fill_uniform(r, out->numel, -1, 1, 5);
    assert_int_equal(cg_backward_from(&ctx, out, r), CG_OK);
    double want[3] = {0};
    for (int64_t b = 0; b < g.B; b++)
        for (int64_t d = 0; d < g.Nd; d++)
            if (!g.dead_d[b * g.Nd + d])
                for (int j = 0; j < F; j++) want[j] += r[(b * g.Nd + d) * F + j];
    tu_check_close("bias-only dbias", p.t[IN_BIAS]->grad, want, F, 1e-6, 1e-3);
    for (int64_t i = 0; i < p.t[IN_XL]->numel; i++) assert_true(p.t[IN_XL]->grad[i] == 0.0f);
    /* and with no input requiring a gradient nothing is recorded */
    p.t[IN_BIAS]->requires_grad = false;
    int64_t n_tape = ctx.n_tape;
    out = run_op(&ctx, &p, &k);
    assert_non_null(out);
    assert_false(out->requires_grad);
    assert_int_equal(ctx.n_tape, n_tape);
    free(r);
    cg_ctx_free(&ctx);
    params_free(&p);
    tg_free(&g);
}

/* sample 0 (nothing dead) of a B = 3 batch equals a B = 1 run without bitsets, bitwise */
static void test_sample_independence(void **state) {
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        tgraph g3, g1;
        graph_a(&g3, 2, true);
        graph_a(&g1, 2, false);
        g1.rel.B = 1;
        cg_gatv2_config c = cfg_of(variant == 0, variant == 0, 0.0f);
        const int64_t N = 7, HC = 6, F = cg_gatv2_out_cols(&c), ES = g3.E + N;
        float *xl = malloc(3 * N * HC * sizeof(float)), *xr = malloc(3 * N * HC * sizeof(float));
        float w[12], att[6], bias[6];
        tu_fill_uniform(xl, 3 * N * HC, -1, 1, 1);
        tu_fill_uniform(xr, 3 * N * HC, -1, 1, 2);
        tu_fill_uniform(w, 12, -1, 1, 3);
        tu_fill_uniform(att, 6, -1, 1, 4);
        tu_fill_uniform(bias, 6, -1, 1, 5);
        float *o3 = malloc(3 * N * F * sizeof(float)), *o1 = malloc(N * F * sizeof(float));
        float *a3 = malloc(3 * ES * 2 * sizeof(float)), *a1 = malloc(ES * 2 * sizeof(float));
        cg_gatv2_forward(o3, a3, xl, xr, w, att, bias, &g3.rel, &c, false, 0, 0);
        cg_gatv2_forward(o1, a1, xl, xr, w, att, bias, &g1.rel, &c, false, 0, 0);
        assert_memory_equal(o3, o1, N * F * sizeof(float));
        assert_memory_equal(a3, a1, ES * 2 * sizeof(float));
        /* the other samples differ (their graphs lost nodes) */
        assert_true(memcmp(o3 + N * F, o1, N * F * sizeof(float)) != 0);
        free(xl), free(xr), free(o3), free(o1), free(a3), free(a1);
        tg_free(&g3);
        tg_free(&g1);
    }
}

/* ------------------------------------------------------------------ determinism across thread counts */

typedef struct det_out {
    float *out, *alpha, *dxl, *dxr, *dw, *datt, *dbias;
} det_out;

static void det_run(det_out *o, const tgraph *g, const cg_gatv2_config *c, const float *xl, const float *xr,
                    const float *w, const float *att, const float *bias, const float *dout, float *scratch,
                    int64_t sizes[7]) {
    o->out = malloc(sizes[0] * sizeof(float));
    o->alpha = malloc(sizes[1] * sizeof(float));
    o->dxl = calloc(sizes[2], sizeof(float));
    o->dxr = calloc(sizes[3], sizeof(float));
    o->dw = calloc(sizes[4], sizeof(float));
    o->datt = calloc(sizes[5], sizeof(float));
    o->dbias = calloc(sizes[6], sizeof(float));
    cg_gatv2_forward(o->out, o->alpha, xl, xr, w, att, bias, &g->rel, c, true, 11, 12);
    cg_gatv2_backward(o->dxl, o->dxr, o->dw, o->datt, o->dbias, scratch, dout, o->alpha, xl, xr, w, att, &g->rel, c,
                      true, 11, 12);
}

static void det_free(det_out *o) {
    free(o->out), free(o->alpha), free(o->dxl), free(o->dxr), free(o->dw), free(o->datt), free(o->dbias);
}

static void test_thread_determinism(void **state) {
    (void)state;
    const int64_t N = 2000, E = 30000, B = 4;
    tgraph g;
    tg_alloc(&g, N, N, E, B, 1, true);
    float *u = malloc(2 * E * sizeof(float));
    tu_fill_uniform(u, 2 * E, 0.0f, 1.0f, 2024);
    for (int64_t i = 0; i < E; i++) {
        g.es[i] = (int32_t)(u[2 * i] * N) % N;
        g.ed[i] = (int32_t)(u[2 * i + 1] * N) % N;
    }
    tu_fill_uniform(g.eattr, E, -2.0f, 2.0f, 7);
    float *ud = malloc(B * N * sizeof(float));
    tu_fill_uniform(ud, B * N, 0.0f, 1.0f, 8);
    for (int64_t i = N; i < B * N; i++) g.dead_s[i] = g.dead_d[i] = ud[i] < 0.05f; /* sample 0 intact */
    tg_build(&g, true);

    const int restore = cg_get_num_threads();
    for (int variant = 0; variant < 2; variant++) {
        cg_gatv2_config c = {.heads = 4, .channels = 16, .concat = variant == 0, .add_self_loops = variant == 0,
                             .negative_slope = 0.2f, .dropout = 0.1f};
        const int64_t HC = 64, F = cg_gatv2_out_cols(&c);
        int64_t sizes[7] = {B * N * F, (int64_t)cg_gatv2_alpha_floats(&g.rel, 4), B * N * HC, B * N * HC, HC, HC, F};
        float *xl = malloc(B * N * HC * sizeof(float)), *xr = malloc(B * N * HC * sizeof(float));
        float w[64], att[64], bias[64], *dout = malloc(B * N * F * sizeof(float));
        tu_fill_uniform(xl, B * N * HC, -1, 1, 21);
        tu_fill_uniform(xr, B * N * HC, -1, 1, 22);
        tu_fill_uniform(w, 64, -1, 1, 23);
        tu_fill_uniform(att, 64, -1, 1, 24);
        tu_fill_uniform(bias, 64, -1, 1, 25);
        tu_fill_uniform(dout, B * N * F, -1, 1, 26);
        float *scratch = malloc(cg_gatv2_scratch_floats(&g.rel, &c) * sizeof(float));
        det_out o[3];
        const int threads[3] = {1, 2, 3};
        for (int t = 0; t < 3; t++) {
            assert_int_equal(cg_set_num_threads(threads[t]), CG_OK);
            memset(&o[t], 0, sizeof o[t]);
            det_run(&o[t], &g, &c, xl, xr, w, att, bias, dout, scratch, sizes);
        }
        for (int t = 1; t < 3; t++) {
            assert_memory_equal(o[0].out, o[t].out, sizes[0] * sizeof(float));
            assert_memory_equal(o[0].alpha, o[t].alpha, sizes[1] * sizeof(float));
            assert_memory_equal(o[0].dxl, o[t].dxl, sizes[2] * sizeof(float));
            assert_memory_equal(o[0].dxr, o[t].dxr, sizes[3] * sizeof(float));
            assert_memory_equal(o[0].dw, o[t].dw, sizes[4] * sizeof(float));
            assert_memory_equal(o[0].datt, o[t].datt, sizes[5] * sizeof(float));
            assert_memory_equal(o[0].dbias, o[t].dbias, sizes[6] * sizeof(float));
        }
        /* the bias gradient (reduced over 4 x 32 blocks) is the column sum of dout over alive rows */
        double *want = calloc(F, sizeof(double));
        for (int64_t row = 0; row < B * N; row++)
            if (!g.dead_d[row])
                for (int64_t j = 0; j < F; j++) want[j] += dout[row * F + j];
        tu_check_close("large dbias", o[0].dbias, want, F, 1e-5, 1.0);
        free(want);
        /* sanity: gradients are not trivially zero */
        double s = 0;
        for (int64_t i = 0; i < sizes[2]; i++) s += fabs(o[0].dxl[i]);
        assert_true(s > 0);
        for (int t = 0; t < 3; t++) det_free(&o[t]);
        free(xl), free(xr), free(dout), free(scratch);
    }
    assert_int_equal(cg_set_num_threads(restore), CG_OK);
    free(u), free(ud);
    tg_free(&g);
}

/* ------------------------------------------------------------------ errors */

static void expect_fail(cg_ctx *ctx, cg_tensor *res, cg_status st, const char *msg) {
    assert_null(res);
    assert_int_equal(cg_ctx_status(ctx), st);
    if (!strstr(cg_last_error(), msg)) {
        print_error("expected '%s' in '%s'\n", msg, cg_last_error());
        fail();
    }
    assert_int_equal(cg_ctx_reset(ctx), CG_OK);
}

static void test_errors(void **state) {
    (void)state;
    tgraph ga, gb;
    graph_a(&ga, 1, true);
    graph_b(&gb, 0);
    static float buf[4096];
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    cg_gatv2_config c = cfg_of(true, true, 0.0f);
    /* graph A: B*N = 21 rows, H*C = 6 */
#define W2(r, cl) cg_tensor_wrap2(&ctx, (r), (cl), buf)
    expect_fail(&ctx, cg_gatv2(&ctx, W2(20, 6), W2(21, 6), W2(6, 1), W2(2, 3), W2(1, 6), &ga.rel, &c), CG_ERR_SHAPE,
                "gatv2: xl [20, 6] must be [B*Ns, H*C] = [21, 6]");
    expect_fail(&ctx, cg_gatv2(&ctx, W2(21, 6), W2(21, 5), W2(6, 1), W2(2, 3), W2(1, 6), &ga.rel, &c), CG_ERR_SHAPE,
                "gatv2: xr [21, 5] must be [B*Nd, H*C] = [21, 6]");
    expect_fail(&ctx, cg_gatv2(&ctx, W2(21, 6), W2(21, 6), W2(6, 1), W2(3, 3), W2(1, 6), &ga.rel, &c), CG_ERR_SHAPE,
                "gatv2: att [3, 3] must have H*C = 6 elements");
    expect_fail(&ctx, cg_gatv2(&ctx, W2(21, 6), W2(21, 6), W2(6, 2), W2(2, 3), W2(1, 6), &ga.rel, &c), CG_ERR_SHAPE,
                "gatv2: w_edge [6, 2] must be [H*C, edge_dim] = [6, 1]");
    expect_fail(&ctx, cg_gatv2(&ctx, W2(21, 6), W2(21, 6), W2(6, 1), W2(2, 3), W2(1, 3), &ga.rel, &c), CG_ERR_SHAPE,
                "gatv2: bias [1, 3] must have 6 elements (H*C, concat)");
    cg_gatv2_config cm = cfg_of(false, true, 0.0f);
    expect_fail(&ctx, cg_gatv2(&ctx, W2(21, 6), W2(21, 6), W2(6, 1), W2(2, 3), W2(1, 6), &ga.rel, &cm), CG_ERR_SHAPE,
                "gatv2: bias [1, 6] must have 3 elements (C, mean over heads)");
    /* graph B: bipartite, 15 source rows, 12 destination rows, no attributes */
    cg_gatv2_config cb = cfg_of(true, false, 0.0f);
    expect_fail(&ctx, cg_gatv2(&ctx, W2(15, 6), W2(12, 6), W2(6, 1), W2(2, 3), NULL, &gb.rel, &cb), CG_ERR_SHAPE,
                "gatv2: w_edge [6, 1] given but the relation has no edge attributes");
    expect_fail(&ctx, cg_gatv2(&ctx, W2(15, 6), W2(12, 6), NULL, W2(2, 3), NULL, &gb.rel, &c), CG_ERR_INVALID_ARG,
                "gatv2: add_self_loops needs a relation within one node type");
    cg_gatv2_config bad = cfg_of(true, false, 1.0f);
    expect_fail(&ctx, cg_gatv2(&ctx, W2(15, 6), W2(12, 6), NULL, W2(2, 3), NULL, &gb.rel, &bad), CG_ERR_INVALID_ARG,
                "gatv2: dropout 1 is not in [0, 1)");
    bad = cfg_of(true, false, 0.0f);
    bad.heads = 0;
    expect_fail(&ctx, cg_gatv2(&ctx, W2(15, 6), W2(12, 6), NULL, W2(2, 3), NULL, &gb.rel, &bad), CG_ERR_INVALID_ARG,
                "gatv2: heads 0 and channels 3 must be >= 1");
    int64_t one = 6;
    expect_fail(&ctx,
                cg_gatv2(&ctx, W2(15, 6), W2(12, 6), NULL, cg_tensor_wrap(&ctx, CG_I32, 1, &one, buf), NULL, &gb.rel,
                         &cb),
                CG_ERR_SHAPE, "gatv2: att must be float32");
    expect_fail(&ctx, cg_gatv2(&ctx, W2(15, 6), W2(12, 6), NULL, W2(2, 3), NULL, NULL, &cb), CG_ERR_INVALID_ARG,
                "gatv2: relation or config is NULL");
    /* a valid call works; sticky: after a failure a NULL comes back without a new message */
    assert_non_null(cg_gatv2(&ctx, W2(15, 6), W2(12, 6), NULL, W2(1, 6), W2(6, 1), &gb.rel, &cb));
    assert_null(cg_gatv2(&ctx, W2(15, 7), W2(12, 6), NULL, W2(2, 3), NULL, &gb.rel, &cb));
    assert_null(cg_gatv2(&ctx, W2(15, 6), W2(12, 6), NULL, W2(2, 3), NULL, &gb.rel, &c));
    assert_non_null(strstr(cg_last_error(), "gatv2: xl [15, 7]"));
#undef W2
    cg_ctx_free(&ctx);
    tg_free(&ga);
    tg_free(&gb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_same_type),      cmocka_unit_test(test_grad_bipartite),
        cmocka_unit_test(test_dropout),             cmocka_unit_test(test_bias_only),
        cmocka_unit_test(test_sample_independence), cmocka_unit_test(test_thread_determinism),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
