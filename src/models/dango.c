/* DANGO (cellgraph/dango.h): parameters, neighbour sampling, the per-network GraphSAGE encoders, the
 * meta-embedding, the Hyper-SAGNN head, and the model table. The reconstruction loss and pre-training
 * are in dango_recon.c, the config in dango_config.c. */
#include "cellgraph/dango.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/attention.h"
#include "cellgraph/autograd.h"
#include "cellgraph/graph.h"
#include "cellgraph/rng.h"

#define K CG_NUM_LABELS

/* ------------------------------------------------------------------ parameters */

static cg_status reg_linear(cg_linear_layer *l, cg_param_store *ps, bool bias, int in, int out, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static cg_status reg_linear(cg_linear_layer *l, cg_param_store *ps, bool bias, int in, int out, const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return cg_linear_register(l, ps, name, in, out, bias);
}

/* columns of network g's adjacency (genes with >= 1 edge) and its largest weight */
static cg_status recon_columns(cg_dango *m, int g) {
    const cg_dango_network *nw = &m->net[g];
    m->recon_col[g] = malloc((size_t)m->n_genes * sizeof(int32_t));
    if (!m->recon_col[g]) return cg_error(CG_ERR_NOMEM, "dango: out of memory");
    int64_t c = 0;
    float wmax = 0.0f;
    for (int64_t i = 0; i < m->n_genes; i++) {
        m->recon_col[g][i] = nw->rowptr[i + 1] > nw->rowptr[i] ? (int32_t)c++ : -1;
        for (int64_t e = nw->rowptr[i]; e < nw->rowptr[i + 1]; e++) {
            float w = nw->weight ? nw->weight[e] : 1.0f;
            if (w > wmax) wmax = w;
        }
    }
    m->recon_cols[g] = c;
    m->recon_wmax[g] = wmax > 0 ? wmax : 1.0f;
    return CG_OK;
}

cg_status cg_dango_init(cg_dango *m, const cg_dango_config *cfg, int64_t n_genes, const cg_dango_network *net) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->n_genes = n_genes;
    m->G = cfg->n_networks;
    cg_params_init(&m->params);
    if (n_genes < 1) return cg_error(CG_ERR_INVALID_ARG, "dango: a graph without genes");
    if (m->G < 1 || m->G > CG_DANGO_MAX_NETWORKS) return cg_error(CG_ERR_INVALID_ARG, "dango: %d networks", m->G);
    const int D = cfg->hidden_channels, HD = cfg->heads * cfg->hidden_channels;
    cg_param_store *ps = &m->params;
    cg_status s = CG_OK;
    for (int g = 0; g < m->G && s == CG_OK; g++) {
        m->net[g] = net[g];
        s = recon_columns(m, g);
    }
    if (s == CG_OK) s = cg_embedding_register(&m->embedding, ps, "embedding", (int)n_genes, D);
    for (int g = 0; g < m->G && s == CG_OK; g++)
        for (int l = 0; l < CG_DANGO_LAYERS && s == CG_OK; l++) {
            s = reg_linear(&m->enc[g][l].init_transform, ps, true, D, D, "encoders.%d.%d.init_transform", g, l);
            if (s == CG_OK) s = reg_linear(&m->enc[g][l].final_transform, ps, true, 2 * D, D, "encoders.%d.%d.final_transform", g, l);
        }
    if (s == CG_OK) s = cg_linear_register(&m->meta_score, ps, "meta.score", D, 1, true);
    if (s == CG_OK) s = cg_layernorm_register(&m->norm_q, ps, "head.norm_q", D);
    if (s == CG_OK) s = cg_layernorm_register(&m->norm_k, ps, "head.norm_k", D);
    if (s == CG_OK) s = cg_layernorm_register(&m->norm_v, ps, "head.norm_v", D);
    if (s == CG_OK) s = cg_linear_register(&m->w_qs, ps, "head.w_qs", D, HD, false);
    if (s == CG_OK) s = cg_linear_register(&m->w_ks, ps, "head.w_ks", D, HD, false);
    if (s == CG_OK) s = cg_linear_register(&m->w_vs, ps, "head.w_vs", D, HD, false);
    if (s == CG_OK) s = cg_linear_register(&m->fc1, ps, "head.fc1", HD, D, false);
    if (s == CG_OK) s = cg_linear_register(&m->fc2, ps, "head.fc2", HD, D, false);
    if (s == CG_OK) s = cg_layernorm_register(&m->pff_norm, ps, "head.pff.norm", D);
    if (s == CG_OK) s = cg_linear_register(&m->pff_w1, ps, "head.pff.w_1", D, D, true);
    if (s == CG_OK) s = cg_linear_register(&m->pff_w2, ps, "head.pff.w_2", D, D, true);
    int64_t one[2] = {1, 1};
    if (s == CG_OK) s = cg_params_add(ps, "head.pff.alpha", 2, one, &m->pff_alpha);
    if (s == CG_OK) s = cg_layernorm_register(&m->norm_dynamic, ps, "head.norm_dynamic", D);
    if (s == CG_OK) s = cg_layernorm_register(&m->norm_static, ps, "head.norm_static", D);
    if (s == CG_OK) s = cg_linear_register(&m->classifier, ps, "head.classifier", D, 2, true);
    if (s == CG_OK) s = cg_linear_register(&m->fitness, ps, "fitness", D, 1, true);
    for (int g = 0; g < m->G && s == CG_OK; g++) {
        s = reg_linear(&m->recon1[g], ps, true, D, D, "recon.%d.layers.0", g);
        if (s == CG_OK) s = reg_linear(&m->recon2[g], ps, true, D, (int)(m->recon_cols[g] > 0 ? m->recon_cols[g] : 1),
                                       "recon.%d.layers.1", g);
    }
    if (s == CG_OK) s = cg_params_finalize(ps);
    if (s != CG_OK) {
        cg_dango_free(m);
        return s;
    }
    /* initialisation: torch defaults, W_q/k/v as released (N(0, sqrt(2 / (D + D)))), ReZero alpha 0 */
    const uint64_t seed = cfg->seed;
    cg_embedding_init(&m->embedding, seed);
    for (int g = 0; g < m->G; g++)
        for (int l = 0; l < CG_DANGO_LAYERS; l++) {
            cg_linear_init(&m->enc[g][l].init_transform, seed);
            cg_linear_init(&m->enc[g][l].final_transform, seed);
        }
    cg_linear_init(&m->meta_score, seed);
    const cg_layernorm_layer *norms[6] = {&m->norm_q, &m->norm_k, &m->norm_v, &m->pff_norm, &m->norm_dynamic, &m->norm_static};
    for (int i = 0; i < 6; i++) cg_layernorm_init(norms[i]);
    const cg_linear_layer *qkv[3] = {&m->w_qs, &m->w_ks, &m->w_vs};
    for (int i = 0; i < 3; i++)
        cg_rng_fill_normal(cg_f32(qkv[i]->weight), qkv[i]->weight->numel, 0.0f, sqrtf(2.0f / (float)(D + D)), seed,
                           cg_param_stream(qkv[i]->weight));
    cg_linear_init(&m->fc1, seed);
    cg_linear_init(&m->fc2, seed);
    cg_linear_init(&m->pff_w1, seed);
    cg_linear_init(&m->pff_w2, seed);
    cg_f32(m->pff_alpha)[0] = 0.0f;
    cg_linear_init(&m->classifier, seed);
    cg_linear_init(&m->fitness, seed);
    for (int g = 0; g < m->G; g++) {
        cg_linear_init(&m->recon1[g], seed);
        cg_linear_init(&m->recon2[g], seed);
    }
    return CG_OK;
}

cg_status cg_dango_init_graph(cg_dango *m, const cg_dango_config *cfg, const cg_graph *gr) {
    cg_dango_network net[CG_DANGO_MAX_NETWORKS];
    for (int g = 0; g < cfg->n_networks; g++) {
        int r = cg_graph_find_relation(gr, cfg->networks[g]);
        if (r < 0) {
            memset(m, 0, sizeof *m);
            return cg_error(CG_ERR_INVALID_ARG, "dango: the graph has no relation '%s' (DANGO's networks are optional "
                            "relations: build the graph with them, e.g. `cellgraph graph build --relations all`, or "
                            "cg_graph_build_ex with \"all\")", cfg->networks[g]);
        }
        const cg_relation *rel = cg_graph_relation(gr, r);
        if (rel->src_type != CG_GENE || rel->dst_type != CG_GENE || rel->directed) {
            memset(m, 0, sizeof *m);
            return cg_error(CG_ERR_INVALID_ARG, "dango: relation '%s' is not an undirected gene-gene network",
                            cfg->networks[g]);
        }
        net[g] = (cg_dango_network){.rowptr = rel->rowptr, .src = rel->src,
                                    .weight = rel->attr_width == 1 ? rel->attr : NULL};
    }
    return cg_dango_init(m, cfg, cg_graph_num_nodes(gr, CG_GENE), net);
}

void cg_dango_free(cg_dango *m) {
    for (int g = 0; g < CG_DANGO_MAX_NETWORKS; g++) free(m->recon_col[g]);
    cg_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ neighbour sampling */

/* Philox stream of (step, network, layer); evaluation uses one step-independent stream */
static uint64_t sample_stream(uint64_t step, int g, int layer, bool training) {
    const uint64_t st = training ? step : (1ull << 40);
    return 0x44414e474f000000ull ^ (st * 64 + (uint64_t)g * 2 + (uint64_t)layer + 1);
}

/* members of list_g(i): neighbours in CSR order, then i */
static inline int32_t list_at(const cg_dango_network *nw, int32_t i, int64_t t) {
    int64_t deg = nw->rowptr[i + 1] - nw->rowptr[i];
    return t < deg ? nw->src[nw->rowptr[i] + t] : i;
}

static inline int64_t sample_count(const cg_dango *m, int g, int32_t i) {
    int64_t L = m->net[g].rowptr[i + 1] - m->net[g].rowptr[i] + 1, k = m->cfg.num_samples;
    return k == 0 || L <= k ? L : k;
}

int64_t cg_dango_sample(const cg_dango *m, int g, int layer, int32_t node, uint64_t step, bool training, int32_t *out) {
    const cg_dango_network *nw = &m->net[g];
    const int64_t L = nw->rowptr[node + 1] - nw->rowptr[node] + 1, k = m->cfg.num_samples;
    if (k == 0 || L <= k) {
        for (int64_t t = 0; t < L; t++) out[t] = list_at(nw, node, t);
        return L;
    }
    /* k distinct positions of the list by rejection (k < L), then in list order */
    int64_t pick[64], n = 0;
    const uint64_t stream = sample_stream(step, g, layer, training);
    int64_t kk = k < 64 ? k : 64;
    for (uint64_t a = 0; n < kk && a < 4096; a++) {
        int64_t p = (int64_t)(cg_rng_u32(m->cfg.seed, stream, (uint64_t)node * 4096 + a) % (uint64_t)L);
        bool dup = false;
        for (int64_t q = 0; q < n && !dup; q++) dup = pick[q] == p;
        if (!dup) pick[n++] = p;
    }
    for (int64_t p = 0; n < kk && p < L; p++) { /* never in practice: fill in order */
        bool dup = false;
        for (int64_t q = 0; q < n && !dup; q++) dup = pick[q] == p;
        if (!dup) pick[n++] = p;
    }
    for (int64_t a = 1; a < n; a++) /* insertion sort: list order */
        for (int64_t b = a; b > 0 && pick[b - 1] > pick[b]; b--) {
            int64_t t = pick[b];
            pick[b] = pick[b - 1];
            pick[b - 1] = t;
        }
    for (int64_t q = 0; q < n; q++) out[q] = list_at(nw, node, pick[q]);
    return n;
}

/* ------------------------------------------------------------------ encoders */

/* One aggregation level: targets tgt[0..nt) (distinct) -> the source list src (the targets first, then the
 * other sampled nodes in order of first appearance), and the CSR (rows = targets, entries = positions of
 * the sampled nodes in src). pos [N] is -1 on entry and on return. */
typedef struct level {
    int64_t nt, ns;
    int32_t *src;
    cg_csr *csr; /* in the arena: recorded segment ops keep a pointer until backward */
} level;

static bool build_level(cg_ctx *ctx, const cg_dango *m, int g, int layer, const int32_t *tgt, int64_t nt, int32_t *pos,
                        level *lv) {
    int64_t nnz = 0;
    for (int64_t i = 0; i < nt; i++) nnz += sample_count(m, g, tgt[i]);
    int64_t *rowptr = cg_arena_alloc(&ctx->arena, (size_t)(nt + 1) * sizeof *rowptr);
    int32_t *col = cg_arena_alloc(&ctx->arena, (size_t)(nnz + 1) * sizeof *col);
    int32_t *src = cg_arena_alloc(&ctx->arena, (size_t)(nt + nnz + 1) * sizeof *src);
    cg_csr *csr = cg_arena_alloc(&ctx->arena, sizeof *csr);
    if (!rowptr || !col || !src || !csr) return false;
    int64_t ns = 0;
    for (int64_t i = 0; i < nt; i++) {
        src[ns] = tgt[i];
        pos[tgt[i]] = (int32_t)ns++;
    }
    rowptr[0] = 0;
    int64_t e = 0;
    for (int64_t i = 0; i < nt; i++) {
        int64_t c = cg_dango_sample(m, g, layer, tgt[i], ctx->step, ctx->training, col + e);
        for (int64_t q = e; q < e + c; q++) {
            int32_t j = col[q];
            if (pos[j] < 0) {
                src[ns] = j;
                pos[j] = (int32_t)ns++;
            }
            col[q] = pos[j];
        }
        e += c;
        rowptr[i + 1] = e;
    }
    for (int64_t q = 0; q < ns; q++) pos[src[q]] = -1;
    *csr = (cg_csr){.n_rows = nt, .n_cols = ns, .nnz = e, .rowptr = rowptr, .col = col};
    *lv = (level){.nt = nt, .ns = ns, .src = src, .csr = csr};
    return true;
}

static cg_tensor *i32_tensor(cg_ctx *ctx, const int32_t *v, int64_t n) {
    cg_tensor *t = cg_tensor_new(ctx, CG_I32, 1, &n);
    if (t) memcpy(t->data, v, (size_t)n * sizeof *v);
    return t;
}

static cg_tensor *iota(cg_ctx *ctx, int64_t n) {
    cg_tensor *t = cg_tensor_new(ctx, CG_I32, 1, &n);
    if (t)
        for (int64_t i = 0; i < n; i++) cg_i32(t)[i] = (int32_t)i;
    return t;
}

/* h_out [nt, D] = silu(W [U x_self + b_U | mean_S (U x + b_U)] + b_W) for a level whose sources' inputs
 * are x [ns, D] (the level's targets are its first nt sources). U is linear, so the mean moves inside it:
 * with W = [W_a | W_b] (column halves),
 *   h_out = silu([x_self | mean_S x] [W_a U | W_b U]^T + (W_a + W_b) b_U + b_W),
 * the same function with U folded into W once per call ([D, D] products), instead of U applied to every
 * source row: the encoders' largest product disappears. Gradients reach U, b_U, W and b_W through the
 * recorded small products. */
static cg_tensor *sage_layer(cg_ctx *ctx, const cg_dango_encoder_layer *L, const level *lv, cg_tensor *x) {
    const int64_t D = L->init_transform.out;
    cg_tensor *U = L->init_transform.weight, *W = L->final_transform.weight;                     /* [D, D], [D, 2D] */
    cg_tensor *Wa = cg_slice_cols(ctx, W, 0, D), *Wb = cg_slice_cols(ctx, W, D, D);              /* [D, D] each */
    cg_tensor *folded[2] = {cg_matmul(ctx, Wa, U, NULL, false, false), cg_matmul(ctx, Wb, U, NULL, false, false)};
    cg_tensor *Wc = cg_concat(ctx, folded, 2);                                                  /* [D, 2D] */
    cg_tensor *c = cg_linear(ctx, L->init_transform.bias, cg_add(ctx, Wa, Wb), L->final_transform.bias); /* [1, D] */
    cg_tensor *self = cg_gather_rows(ctx, x, iota(ctx, lv->nt));                                /* [nt, D] */
    cg_tensor *nb = cg_gather_rows(ctx, x, i32_tensor(ctx, lv->csr->col, lv->csr->nnz));          /* [E, D] */
    cg_tensor *agg = cg_segment_mean(ctx, nb, lv->csr);                                         /* [nt, D] */
    cg_tensor *cat[2] = {self, agg};
    return cg_silu(ctx, cg_linear(ctx, cg_concat(ctx, cat, 2), Wc, c));                         /* [nt, D] */
}

cg_status cg_dango_encode(cg_ctx *ctx, const cg_dango *m, const int32_t *genes, int64_t u, cg_tensor **h, cg_tensor **e) {
    if (cg_ctx_status(ctx) != CG_OK) return ctx->status;
    for (int64_t i = 0; i < u; i++)
        if (genes[i] < 0 || genes[i] >= m->n_genes) {
            cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango: gene index %d outside [0, %lld)", genes[i], (long long)m->n_genes);
            return ctx->status;
        }
    int32_t *pos = cg_arena_alloc(&ctx->arena, (size_t)m->n_genes * sizeof *pos);
    if (!pos) {
        cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
        return ctx->status;
    }
    for (int64_t i = 0; i < m->n_genes; i++) pos[i] = -1;
    cg_tensor *hs[CG_DANGO_MAX_NETWORKS] = {0};
    for (int g = 0; g < m->G; g++) {
        level l1, l0; /* l1: the genes <- nodes1 (layer 2); l0: nodes1 <- nodes0 (layer 1) */
        if (!build_level(ctx, m, g, 1, genes, u, pos, &l1) || !build_level(ctx, m, g, 0, l1.src, l1.ns, pos, &l0)) {
            cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
            return ctx->status;
        }
        cg_tensor *x0 = cg_embedding_forward(ctx, &m->embedding, i32_tensor(ctx, l0.src, l0.ns)); /* [n0, D] */
        cg_tensor *x1 = sage_layer(ctx, &m->enc[g][0], &l0, x0);                                    /* [n1, D] */
        hs[g] = sage_layer(ctx, &m->enc[g][1], &l1, x1);                                            /* [u, D] */
        if (h) h[g] = hs[g];
    }
    if (e) {
        /* meta-embedding: the G encodings of each gene side by side (gene-major), softmax over networks */
        const int G = m->G;
        cg_tensor *all = hs[0];
        for (int g = 1; g < G; g++) all = cg_concat_rows(ctx, all, hs[g]); /* [G u, D], network-major */
        int64_t gu = (int64_t)G * u;
        cg_tensor *perm = cg_tensor_new(ctx, CG_I32, 1, &gu);
        int64_t *rowptr = cg_arena_alloc(&ctx->arena, (size_t)(u + 1) * sizeof *rowptr);
        int32_t *col = cg_arena_alloc(&ctx->arena, (size_t)(gu + 1) * sizeof *col);
        cg_csr *csr = cg_arena_alloc(&ctx->arena, sizeof *csr);
        if (!perm || !rowptr || !col || !csr) {
            cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
            return ctx->status;
        }
        for (int64_t i = 0; i < u; i++) {
            rowptr[i] = i * G;
            for (int g = 0; g < G; g++) {
                cg_i32(perm)[i * G + g] = (int32_t)(g * u + i);
                col[i * G + g] = (int32_t)(i * G + g);
            }
        }
        rowptr[u] = gu;
        *csr = (cg_csr){.n_rows = u, .n_cols = gu, .nnz = gu, .rowptr = rowptr, .col = col};
        cg_tensor *hg = cg_gather_rows(ctx, all, perm);                                   /* [u G, D] */
        cg_tensor *w = cg_segment_softmax(ctx, cg_linear_layer_forward(ctx, &m->meta_score, hg), csr); /* [u G, 1] */
        *e = cg_segment_sum(ctx, cg_rowscale(ctx, hg, w), csr);                          /* [u, D] */
    }
    return ctx->status;
}

/* ------------------------------------------------------------------ forward */

/* The meta-embeddings [u, D] of genes uniq[0..u): in evaluation with a cache, rows of the cached
 * meta-embeddings of every gene (computed on the first call: in evaluation a gene's samples, hence its
 * encoding, do not depend on the batch); otherwise the encoders on the batch's sample tree. */
static cg_tensor *meta_embeddings(cg_ctx *ctx, const cg_dango *m, const int32_t *uniq, int64_t u, cg_model_cache *cache) {
    cg_tensor *e = NULL;
    if (!cache || ctx->training) return cg_dango_encode(ctx, m, uniq, u, NULL, &e) == CG_OK ? e : NULL;
    const int64_t N = m->n_genes, D = m->cfg.hidden_channels;
    if (!cache->valid || cache->rows != N || cache->cols != D) {
        int32_t *all = cg_arena_alloc(&ctx->arena, (size_t)N * sizeof *all);
        if (!all) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
        for (int64_t i = 0; i < N; i++) all[i] = (int32_t)i;
        if (cg_dango_encode(ctx, m, all, N, NULL, &e) != CG_OK) return NULL;
        float *data = realloc(cache->data, (size_t)(N * D) * sizeof *data);
        if (!data) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
        memcpy(data, cg_f32(e), (size_t)(N * D) * sizeof *data);
        *cache = (cg_model_cache){.data = data, .rows = N, .cols = D, .valid = true};
    }
    cg_tensor *idx = cg_tensor_new(ctx, CG_I32, 1, &u);
    if (!idx) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
    memcpy(idx->data, uniq, (size_t)u * sizeof *uniq);
    return cg_gather_rows(ctx, cg_tensor_wrap2(ctx, N, D, cache->data), idx);
}

cg_tensor *cg_dango_forward(cg_ctx *ctx, const cg_dango *m, const int32_t *geno, int64_t n) {
    return cg_dango_forward_cached(ctx, m, geno, n, NULL);
}

cg_tensor *cg_dango_forward_cached(cg_ctx *ctx, const cg_dango *m, const int32_t *geno, int64_t n, cg_model_cache *cache) {
    if (cg_ctx_status(ctx) != CG_OK) return NULL;
    const int D = m->cfg.hidden_channels, H = m->cfg.heads;
    int T = 1;
    for (int64_t b = 0; b < n; b++) {
        int cnt = 0;
        for (int j = 0; j < 3; j++) {
            int32_t g = geno[3 * b + j];
            if (g < 0) continue;
            if (g >= m->n_genes)
                return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango: genotype %lld names gene index %d, the model has "
                                   "%lld genes", (long long)b, g, (long long)m->n_genes);
            cnt++;
        }
        if (cnt == 0) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango: genotype %lld deletes no gene", (long long)b);
        if (cnt > T) T = cnt;
    }
    /* the batch's distinct genes (u), each genotype's slots (T per genotype, padded with slot 0's gene) */
    const int64_t nT = n * T;
    int32_t *uniq = cg_arena_alloc(&ctx->arena, (size_t)(3 * n) * sizeof *uniq);
    int32_t *pos = cg_arena_alloc(&ctx->arena, (size_t)m->n_genes * sizeof *pos);
    cg_tensor *slot = cg_tensor_new(ctx, CG_I32, 1, &nT);
    cg_tensor *valid = cg_tensor_new2(ctx, nT, 1);
    uint8_t *keep = cg_arena_alloc(&ctx->arena, (size_t)(nT * T));
    int64_t *rp_slot = cg_arena_alloc(&ctx->arena, (size_t)(n + 1) * sizeof(int64_t));
    int32_t *col_slot = cg_arena_alloc(&ctx->arena, (size_t)nT * sizeof(int32_t));
    int64_t *rp_gene = cg_arena_alloc(&ctx->arena, (size_t)(n + 1) * sizeof(int64_t));
    int32_t *col_gene = cg_arena_alloc(&ctx->arena, (size_t)(3 * n) * sizeof(int32_t));
    cg_csr *csr_slot = cg_arena_alloc(&ctx->arena, sizeof(cg_csr)), *csr_gene = cg_arena_alloc(&ctx->arena, sizeof(cg_csr));
    if (!uniq || !pos || !slot || !valid || !keep || !rp_slot || !col_slot || !rp_gene || !col_gene || !csr_slot || !csr_gene)
        return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
    for (int64_t i = 0; i < m->n_genes; i++) pos[i] = -1;
    int64_t u = 0, nv = 0;
    int32_t *gene_slots = cg_arena_alloc(&ctx->arena, (size_t)(3 * n + 1) * sizeof(int32_t)); /* u-index per valid gene */
    if (!gene_slots) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
    rp_gene[0] = 0;
    for (int64_t b = 0; b < n; b++) {
        int t = 0;
        for (int j = 0; j < 3; j++) {
            int32_t g = geno[3 * b + j];
            if (g < 0) continue;
            if (pos[g] < 0) {
                pos[g] = (int32_t)u;
                uniq[u++] = g;
            }
            cg_i32(slot)[b * T + t] = pos[g];
            cg_f32(valid)[b * T + t] = 1.0f;
            gene_slots[nv] = pos[g];
            col_gene[nv] = (int32_t)nv;
            nv++;
            t++;
        }
        rp_gene[b + 1] = nv;
        for (; t < T; t++) {
            cg_i32(slot)[b * T + t] = cg_i32(slot)[b * T];
            cg_f32(valid)[b * T + t] = 0.0f;
        }
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++)
                keep[(b * T + i) * T + j] = cg_f32(valid)[b * T + i] > 0 && cg_f32(valid)[b * T + j] > 0 &&
                                            (m->cfg.released_head || i != j);
    }
    for (int64_t q = 0; q < nT; q++) col_slot[q] = (int32_t)q;
    for (int64_t b = 0; b <= n; b++) rp_slot[b] = b * T;
    *csr_slot = (cg_csr){.n_rows = n, .n_cols = nT, .nnz = nT, .rowptr = rp_slot, .col = col_slot};
    *csr_gene = (cg_csr){.n_rows = n, .n_cols = nv, .nnz = nv, .rowptr = rp_gene, .col = col_gene};

    cg_tensor *e = meta_embeddings(ctx, m, uniq, u, cache); /* [u, D] */
    if (!e) return NULL;

    /* Hyper-SAGNN */
    cg_tensor *x = cg_gather_rows(ctx, e, slot);                                                    /* [n T, D] */
    cg_tensor *q = cg_linear_layer_forward(ctx, &m->w_qs, cg_layernorm_layer_forward(ctx, &m->norm_q, x)); /* [n T, H D] */
    cg_tensor *k = cg_linear_layer_forward(ctx, &m->w_ks, cg_layernorm_layer_forward(ctx, &m->norm_k, x));
    cg_tensor *v = cg_linear_layer_forward(ctx, &m->w_vs, cg_layernorm_layer_forward(ctx, &m->norm_v, x));
    cg_attn_mask mask = {.keep = keep, .nb = n, .nh = 1};
    cg_tensor *o = cg_attention(ctx, cg_split_heads(ctx, q, T, H), cg_split_heads(ctx, k, T, H),
                                cg_split_heads(ctx, v, T, H), &mask, 1.0f / sqrtf((float)D)); /* [n, H, T, D] */
    cg_tensor *dyn = cg_dropout(ctx, cg_linear_layer_forward(ctx, &m->fc1, cg_merge_heads(ctx, o)), m->cfg.dropout_attention); /* [n T, D] */
    dyn = cg_rowscale(ctx, dyn, valid);
    /* PFF with ReZero: z + alpha w_2(dropout(silu(w_1(LN z)))) */
    cg_tensor *f = cg_linear_layer_forward(ctx, &m->pff_w1, cg_layernorm_layer_forward(ctx, &m->pff_norm, dyn));
    f = cg_linear_layer_forward(ctx, &m->pff_w2, cg_dropout(ctx, cg_silu(ctx, f), m->cfg.dropout_ffn)); /* [n T, D] */
    cg_tensor *zeros = cg_tensor_zeros(ctx, CG_I32, 1, &nT);
    f = cg_rowscale(ctx, f, cg_gather_rows(ctx, m->pff_alpha, zeros));
    dyn = cg_rowscale(ctx, cg_add(ctx, dyn, f), valid);
    cg_tensor *out = cg_layernorm_layer_forward(ctx, &m->norm_dynamic, dyn);
    if (!m->cfg.released_head) {
        cg_tensor *st = cg_dropout(ctx, cg_linear_layer_forward(ctx, &m->fc2, v), m->cfg.dropout_attention);
        cg_tensor *diff = cg_sub(ctx, out, cg_layernorm_layer_forward(ctx, &m->norm_static, st));
        out = cg_mul(ctx, diff, diff);                                                             /* [n T, D] */
    }
    cg_tensor *score = cg_linear_layer_forward(ctx, &m->classifier, cg_dropout(ctx, out, m->cfg.dropout_out)); /* [n T, 2] */
    cg_tensor *inter = cg_segment_sum(ctx, cg_rowscale(ctx, score, valid), csr_slot);                /* [n, 2] */
    /* fitness: a linear readout of the mean meta-embedding of the deleted genes */
    cg_tensor *gs = cg_tensor_new(ctx, CG_I32, 1, &nv);
    if (gs) memcpy(gs->data, gene_slots, (size_t)nv * sizeof(int32_t));
    cg_tensor *fit = cg_linear_layer_forward(ctx, &m->fitness, cg_segment_mean(ctx, cg_gather_rows(ctx, e, gs), csr_gene)); /* [n, 1] */
    cg_tensor *parts[2] = {fit, inter};
    return cg_concat(ctx, parts, 2); /* [n, 3]: fitness, epsilon, tau */
}

/* ------------------------------------------------------------------ the model table (cellgraph/model.h) */

static const char *const NEEDS[] = {"all", NULL};

static void t_defaults(void *cfg) { *(cg_dango_config *)cfg = cg_dango_defaults(); }
static cg_status t_parse(const char *json, const char *name, void *cfg) { return cg_dango_config_parse(json, name, cfg); }
static char *t_json(const void *cfg) { return cg_dango_config_json(cfg); }
static cg_status t_init(void *model, const void *cfg, const cg_graph *g) { return cg_dango_init_graph(model, cfg, g); }
static void t_free(void *model) { cg_dango_free(model); }
static cg_param_store *t_params(void *model) { return &((cg_dango *)model)->params; }
static cg_status t_path_check(const void *cfg, cg_perturbation_path path, bool training) {
    (void)cfg, (void)path, (void)training;
    return CG_OK; /* the encoders run on the wildtype networks: every path is the same */
}
static cg_tensor *t_forward(cg_ctx *ctx, const void *model, const cg_model_batch *batch, cg_perturbation_path path,
                            cg_tensor **z_p_out) {
    (void)path;
    if (z_p_out) *z_p_out = NULL;
    return cg_dango_forward_cached(ctx, model, batch->geno, batch->n, batch->cache);
}
static cg_tensor *t_aux_loss(cg_ctx *ctx, const void *model) { return cg_dango_aux_loss(ctx, model); }
static cg_status t_pretrain(void *model, uint64_t seed, cg_epoch_progress_fn progress, void *arg,
                            int *epochs_out) {
    cg_dango *m = model;
    *epochs_out = m->cfg.pretrain_epochs;
    if (m->cfg.pretrain_epochs == 0) return CG_OK;
    cg_ctx ctx;
    cg_status s = cg_ctx_init(&ctx, 0, seed);
    if (s == CG_OK)
        s = cg_dango_pretrain(&ctx, m, m->cfg.pretrain_epochs, m->cfg.pretrain_batch_size, 1e-3, seed, NULL, NULL, progress,
                              arg);
    cg_ctx_free(&ctx);
    return s;
}
static void t_describe(const void *cfg, char *buf, size_t len) {
    const cg_dango_config *c = cfg;
    char nb[48];
    if (c->num_samples) snprintf(nb, sizeof nb, "%d sampled neighbours", c->num_samples);
    else snprintf(nb, sizeof nb, "full neighbourhoods");
    snprintf(buf, len, "D %d, %d networks, %s, %d heads, %s head, recon beta %g, %d pre-training epochs",
             c->hidden_channels, c->n_networks, nb, c->heads, c->released_head ? "released" : "paper", c->recon_beta,
             c->pretrain_epochs);
}

const cg_model_type cg_dango_model_type = {
    .name = "dango",
    .title = "DANGO",
    .config_size = sizeof(cg_dango_config),
    .model_size = sizeof(cg_dango),
    .config_defaults = t_defaults,
    .config_parse = t_parse,
    .config_json = t_json,
    .init = t_init,
    .free = t_free,
    .params = t_params,
    .path_check = t_path_check,
    .forward = t_forward,
    .uses_graph = false,
    .describe = t_describe,
    .needs_relations = NEEDS,
    .aux_loss = t_aux_loss,
    .pretrain = t_pretrain,
};
