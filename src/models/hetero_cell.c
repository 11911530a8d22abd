/* HeteroCell: embeddings, preprocessor, L heterogeneous GATv2 layers, attention readout over alive genes,
 * z_p = z_w - z_i, head; the model's table in the registry. See cellgraph/hetero_cell.h. The config is in
 * hetero_cell_config.c, incremental evaluation in hetero_cell_incremental.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/rng.h"
#include "models/hetero_cell_internal.h"

_Static_assert(sizeof(cg_hetero_cell_config) <= CG_MODEL_CONFIG_BYTES, "cg_hetero_cell_config too large");

/* ------------------------------------------------------------------ parameters */

cg_status cg_hetero_cell_init(cg_hetero_cell *m, const cg_hetero_cell_config *cfg, const int64_t n_nodes[CG_NODE_TYPES]) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    cg_params_init(&m->params);
    const int D = cfg->hidden, H = cfg->heads, C = D / H;
    if (D % H != 0 || cfg->layers < 1 || cfg->layers > CG_HC_MAX_LAYERS)
        return cg_error(CG_ERR_INVALID_ARG, "hetero_cell: bad config (hidden %d, heads %d, layers %d)", D, H, cfg->layers);
    cg_param_store *ps = &m->params;
    cg_status s = CG_OK;
    char prefix[128];
    for (int t = 0; t < CG_NODE_TYPES && s == CG_OK; t++) {
        m->n_nodes[t] = n_nodes[t];
        snprintf(prefix, sizeof prefix, "embedding.%s", cg_node_type_name((cg_node_type)t));
        s = cg_embedding_register(&m->emb[t], ps, prefix, (int)n_nodes[t], D);
    }
    if (s == CG_OK) s = cg_mlp_register(&m->pre, ps, "preprocessor", D, D, D, 2, true, cfg->act, cfg->dropout, true);
    for (int l = 0; l < cfg->layers && s == CG_OK; l++)
        for (int r = 0; r < CG_RELATIONS && s == CG_OK; r++) {
            if (!cfg->relations[r]) continue;
            cg_hc_conv *cv = &m->conv[l][r];
            cv->used = true;
            const cg_relation_desc *rel = hc_rel(r);
            cg_gatv2_config gat = {.heads = H, .channels = C, .concat = true,
                                   .add_self_loops = cfg->self_loops && rel->src_type == rel->dst_type,
                                   .negative_slope = 0.2f, .dropout = cfg->attention_dropout};
            snprintf(prefix, sizeof prefix, "layers.%d.%s", l, rel->name);
            char sub[160];
            if (r == CG_REL_RMR && cfg->hypergraph) {
                /* StoichHypergraphConv over metabolites with reaction hyperedges, attention and
                 * stoichiometry gate on (torchcell's configs), H heads of D/H channels, concat */
                cg_stoich_hg_config hc = cg_stoich_hg_default_config(C);
                hc.heads = H;
                hc.concat = true;
                hc.use_attention = true;
                hc.gated = true;
                hc.dropout = cfg->attention_dropout;
                cv->hypergraph = true;
                s = cg_stoich_hg_register(&cv->hg, ps, prefix, D, &hc, true);
                cv->has_proj = cg_stoich_hg_out_cols(&hc) != D;
                snprintf(sub, sizeof sub, "%s.proj", prefix);
                if (s == CG_OK && cv->has_proj)
                    s = cg_linear_register(&cv->proj, ps, sub, (int)cg_stoich_hg_out_cols(&hc), D, true);
                snprintf(sub, sizeof sub, "%s.norm", prefix);
                if (s == CG_OK) s = cg_layernorm_register(&cv->norm, ps, sub, D);
                continue;
            }
            s = cg_gatv2_register(&cv->gat, ps, prefix, D, D, &gat, rel->attr_width);
            cv->has_proj = H * C != D;
            snprintf(sub, sizeof sub, "%s.proj", prefix);
            if (s == CG_OK && cv->has_proj) s = cg_linear_register(&cv->proj, ps, sub, H * C, D, true);
            snprintf(sub, sizeof sub, "%s.norm", prefix);
            if (s == CG_OK) s = cg_layernorm_register(&cv->norm, ps, sub, D);
        }
    if (s == CG_OK) s = cg_mlp_register(&m->gate, ps, "readout.gate", D, D / 2, 1, 2, false, cfg->act, cfg->dropout, false);
    if (s == CG_OK)
        s = cg_mlp_register(&m->transform, ps, "readout.transform", D, D, D, 1, false, cfg->act, cfg->dropout, true);
    if (s == CG_OK && cfg->global_head)
        s = cg_mlp_register(&m->head, ps, "head", D, D, CG_NUM_LABELS, cfg->head_layers, true, cfg->act,
                            cfg->head_dropout, false);
    if (s == CG_OK && cfg->gene_head != CG_HC_GENE_HEAD_NONE)
        s = cg_mlp_register(&m->gene_mlp, ps, "gene_head.gene", D, D, CG_NUM_LABELS, 2, true, cfg->act, cfg->head_dropout,
                            false);
    if (s == CG_OK && cfg->gene_head >= CG_HC_GENE_HEAD_PAIRWISE)
        s = cg_mlp_register(&m->pair_mlp, ps, "gene_head.pair", D, D, CG_NUM_LABELS, 2, true, cfg->act, cfg->head_dropout,
                            false);
    if (s == CG_OK && cfg->gene_head == CG_HC_GENE_HEAD_TRIPLE)
        s = cg_mlp_register(&m->triple_mlp, ps, "gene_head.triple", D, D, CG_NUM_LABELS, 2, true, cfg->act,
                            cfg->head_dropout, false);
    if (s == CG_OK && cg_hetero_cell_has_offsets(cfg))
        s = cg_embedding_register(&m->offsets, ps, "gene_head.offsets", (int)n_nodes[CG_GENE], CG_NUM_LABELS);
    if (s == CG_OK) s = cg_params_finalize(ps);
    if (s != CG_OK) {
        cg_params_free(ps);
        return s;
    }
    /* initialisation: PyTorch/PyG defaults, Philox keyed by the seed and each parameter's name */
    const uint64_t seed = cfg->seed;
    for (int t = 0; t < CG_NODE_TYPES; t++) cg_embedding_init(&m->emb[t], seed);
    if (cfg->gene_embedding_std != 1.0f) { /* N(0, std^2): the same draw, scaled */
        float *w = cg_f32(m->emb[CG_GENE].weight);
        for (int64_t i = 0; i < m->emb[CG_GENE].weight->numel; i++) w[i] *= cfg->gene_embedding_std;
    }
    if (cg_hetero_cell_has_offsets(cfg)) memset(cg_f32(m->offsets.weight), 0, (size_t)m->offsets.weight->numel * sizeof(float));
    cg_mlp_init(&m->pre, seed);
    for (int l = 0; l < cfg->layers; l++)
        for (int r = 0; r < CG_RELATIONS; r++) {
            cg_hc_conv *cv = &m->conv[l][r];
            if (!cv->used) continue;
            if (cv->hypergraph) {
                cg_stoich_hg_init(&cv->hg, seed);
                if (cv->has_proj) cg_linear_init(&cv->proj, seed);
                cg_layernorm_init(&cv->norm);
                continue;
            }
            cg_gatv2_init(&cv->gat, seed);
            if (cv->has_proj) cg_linear_init(&cv->proj, seed);
            cg_layernorm_init(&cv->norm);
        }
    cg_mlp_init(&m->gate, seed);
    cg_mlp_init(&m->transform, seed);
    if (cfg->global_head) cg_mlp_init(&m->head, seed);
    if (cfg->gene_head != CG_HC_GENE_HEAD_NONE) cg_mlp_init(&m->gene_mlp, seed);
    if (cfg->gene_head >= CG_HC_GENE_HEAD_PAIRWISE) cg_mlp_init(&m->pair_mlp, seed);
    if (cfg->gene_head == CG_HC_GENE_HEAD_TRIPLE) cg_mlp_init(&m->triple_mlp, seed);
    return CG_OK;
}

void cg_hetero_cell_free(cg_hetero_cell *m) { cg_params_free(&m->params); }

/* ------------------------------------------------------------------ forward */

cg_status hc_check_view(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v) {
    for (int t = 0; t < CG_NODE_TYPES; t++)
        if (v->n_nodes[t] < 0 || (v->n_nodes[t] > 0 && !v->ids[t] && v->n_nodes[t] != m->n_nodes[t])) {
            cg_ctx_fail(ctx, CG_ERR_SHAPE, "hetero_cell: the view has %lld %s nodes, the model %lld",
                        (long long)v->n_nodes[t], cg_node_type_name((cg_node_type)t), (long long)m->n_nodes[t]);
            return CG_ERR_SHAPE;
        }
    return CG_OK;
}

static cg_tensor *hc_encode_full(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, cg_tensor **h_all);

/* x[t] [B * N_t, D]: the embeddings of B samples, and the preprocessor on the genes */
void hc_inputs(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, int64_t B, cg_tensor *x[CG_NODE_TYPES]) {
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        int64_t n = B * v->n_nodes[t];
        cg_tensor *ids = cg_tensor_new(ctx, CG_I32, 1, &n);
        x[t] = NULL;
        if (!ids) return;
        int32_t *p = cg_i32(ids);
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < v->n_nodes[t]; i++) p[b * v->n_nodes[t] + i] = v->ids[t] ? v->ids[t][i] : (int32_t)i;
        x[t] = cg_embedding_forward(ctx, &m->emb[t], ids);
    }
    /* identity dropout: in training, gene g's embedding row is zeroed in every sample with probability p
     * (a function of (seed, step, op number, gene id): the wildtype and perturbed passes, and the full
     * and incremental paths, draw the same mask); with drop_unseen, always for the genes whose offsets
     * row is zero (no label has reached them) */
    const float p = ctx->training ? m->cfg.identity_dropout : 0.0f;
    if ((p > 0.0f || m->cfg.drop_unseen) && x[CG_GENE]) {
        const int64_t N = v->n_nodes[CG_GENE], n = B * N;
        const uint64_t stream = p > 0.0f ? (ctx->step << 24) ^ ctx->op_counter++ : 0;
        cg_tensor *keep = cg_tensor_new(ctx, CG_F32, 1, &n);
        if (!keep) return;
        float *k = cg_f32(keep);
        for (int64_t i = 0; i < N; i++) {
            const int32_t id = v->ids[CG_GENE] ? v->ids[CG_GENE][i] : (int32_t)i;
            bool drop = p > 0.0f && cg_rng_uniform(ctx->seed, stream, (uint64_t)id) < p;
            if (m->cfg.drop_unseen) {
                const float *o = cg_f32(m->offsets.weight) + (int64_t)id * CG_NUM_LABELS;
                bool seen = false;
                for (int j = 0; j < CG_NUM_LABELS; j++) seen |= o[j] != 0.0f;
                drop |= !seen;
            }
            k[i] = drop ? 0.0f : 1.0f;
        }
        for (int64_t b = 1; b < B; b++) memcpy(k + b * N, k, (size_t)N * sizeof *k);
        x[CG_GENE] = cg_rowscale(ctx, x[CG_GENE], keep);
    }
    /* dropout masks are shared by the samples of the batch (per node and channel), so that z_w - z_i
     * reflects the deletion and not independent noise in the wildtype and perturbed passes */
    x[CG_GENE] = cg_mlp_forward_shared(ctx, &m->pre, x[CG_GENE], v->n_nodes[CG_GENE]);
}

/* Layer l over the view: x[t] is replaced by the layer's output for every type that receives a relation.
 * When xl_save/xr_save/drop_op are given, they receive per relation the lin_l and lin_r outputs and the
 * op number of the wrapper's dropout (incremental evaluation reuses them). */
void hc_layer(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, int l, cg_tensor *x[CG_NODE_TYPES],
                     cg_tensor **xl_save, cg_tensor **xr_save, uint64_t *drop_op, const bool *need) {
    const cg_hetero_cell_config *cfg = &m->cfg;
    cg_tensor *acc[CG_NODE_TYPES] = {NULL, NULL, NULL};
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_hc_conv *cv = &m->conv[l][r];
        const cg_rel_batch *rb = &v->rel[r];
        if (!cv->used || !rb->rowptr) continue;
        if (need && !need[hc_rel(r)->dst_type]) {
            /* not computed; its dropout's op number is still used up, so that later ops draw the same
             * masks as in the full path (training with attention dropout is not incremental) */
            if (ctx->training && cfg->dropout > 0.0f) ctx->op_counter++;
            continue;
        }
        const int st = hc_rel(r)->src_type, dt = hc_rel(r)->dst_type;
        cg_tensor *o;
        if (cv->hypergraph) {
            /* metabolites <- reaction hyperedges, incidences = (metabolite, rmr_rev, reaction); the
             * hyperedge attributes are this layer's reaction embeddings */
            const cg_rel_batch *inc = &v->rel[CG_REL_RMR_REV];
            if (!inc->rowptr) {
                cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "hetero_cell: metabolism \"hypergraph\" needs the rmr_rev "
                            "incidences in the view");
                return;
            }
            o = cg_stoich_hg_layer_forward(ctx, &cv->hg, x[CG_METABOLITE], x[CG_REACTION], inc);
        } else {
            cg_tensor *xl = cg_linear(ctx, x[st], cv->gat.lin_l.weight, cv->gat.lin_l.bias);
            cg_tensor *xr = cg_linear(ctx, x[dt], cv->gat.lin_r.weight, cv->gat.lin_r.bias);
            if (xl_save) xl_save[r] = xl;
            if (xr_save) xr_save[r] = xr;
            o = cg_gatv2_layer_forward_projected(ctx, &cv->gat, xl, xr, rb, NULL);
        }
        if (cv->has_proj) o = cg_linear(ctx, o, cv->proj.weight, cv->proj.bias);
        o = cg_layernorm_layer_forward(ctx, &cv->norm, o);
        o = cg_act(ctx, cfg->act, o, 0.01f);
        if (drop_op) drop_op[r] = ctx->op_counter;
        o = o ? cg_dropout_shared(ctx, o, cfg->dropout, v->n_nodes[dt] * cg_cols(o)) : NULL;
        acc[dt] = acc[dt] ? cg_add(ctx, acc[dt], o) : o;
    }
    for (int t = 0; t < CG_NODE_TYPES; t++)
        if (acc[t]) x[t] = cfg->residual ? cg_add(ctx, x[t], acc[t]) : acc[t];
}

cg_tensor *cg_hetero_cell_encode(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v) {
    return hc_encode_full(ctx, m, v, NULL);
}

/* cg_hetero_cell_encode; *h_all (optional) receives the last-layer gene rows of every sample [B * N, D]
 * (sample 0's, the first N rows, are the wildtype's) */
static cg_tensor *hc_encode_full(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, cg_tensor **h_all) {
    const cg_hetero_cell_config *cfg = &m->cfg;
    const int64_t B = v->B;
    if (hc_check_view(ctx, m, v) != CG_OK) return NULL;
    cg_tensor *x[CG_NODE_TYPES];
    hc_inputs(ctx, m, v, B, x);
    for (int l = 0; l < cfg->layers; l++) hc_layer(ctx, m, v, l, x, NULL, NULL, NULL, NULL);
    if (cg_ctx_status(ctx) != CG_OK) return NULL;
    if (h_all) *h_all = x[CG_GENE];

    /* readout: attention over the alive genes of each sample */
    const int64_t N = v->n_nodes[CG_GENE];
    int64_t n_alive = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < N; i++) n_alive += !cg_graph_view_dead(v, CG_GENE, b, i);
    cg_tensor *idx = cg_tensor_new(ctx, CG_I32, 1, &n_alive);
    cg_csr *csr = cg_arena_alloc(&ctx->arena, sizeof *csr);
    int64_t *rowptr = cg_arena_alloc(&ctx->arena, (size_t)(B + 1) * sizeof *rowptr);
    if (!idx || !csr || !rowptr) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "hetero_cell: out of memory");
    int64_t k = 0;
    rowptr[0] = 0;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < N; i++)
            if (!cg_graph_view_dead(v, CG_GENE, b, i)) cg_i32(idx)[k++] = (int32_t)(b * N + i);
        rowptr[b + 1] = k;
    }
    *csr = (cg_csr){.n_rows = B, .n_cols = B * N, .nnz = n_alive, .rowptr = rowptr, .col = cg_i32(idx)};
    if (!ctx->training || cfg->dropout == 0.0f)
        return cg_attentional_aggregation(ctx, &m->gate, &m->transform, cg_gather_rows(ctx, x[CG_GENE], idx), csr);
    /* training with dropout: gate and transform on every gene row, so that every sample of the batch
     * gets the same dropout masks (per gene and channel), then the alive rows; the same function */
    cg_tensor *gate = cg_gather_rows(ctx, cg_mlp_forward_shared(ctx, &m->gate, x[CG_GENE], N), idx);
    cg_tensor *tr = cg_gather_rows(ctx, cg_mlp_forward_shared(ctx, &m->transform, x[CG_GENE], N), idx);
    return cg_segment_sum(ctx, cg_rowscale(ctx, tr, cg_segment_softmax(ctx, gate, csr)), csr);
}

cg_tensor *cg_hetero_cell_head(cg_ctx *ctx, const cg_hetero_cell *m, cg_tensor *z_w, cg_tensor *z_i, cg_tensor **z_p_out) {
    /* z_p = z_w - z_i = -(z_i - z_w), z_w broadcast over the samples */
    cg_tensor *z_p = cg_scale(ctx, cg_sub(ctx, z_i, z_w), -1.0f);
    if (z_p_out) *z_p_out = z_p;
    return cg_mlp_forward(ctx, &m->head, z_p);
}

/* The deleted-gene terms (cellgraph/hetero_cell.h, cg_hc_gene_head) for n genotypes geno [n, 3] over
 * h [>= N, D] (row g = gene g's wildtype last-layer embedding) -> [n, K]. Term o (0: genes, 1: pairs,
 * 2: triples) gathers its tuples' rows, multiplies them elementwise, runs its MLP and sums per sample. */
static cg_tensor *hc_gene_terms(cg_ctx *ctx, const cg_hetero_cell *m, cg_tensor *h, int64_t N, const int32_t *geno,
                                int64_t n) {
    const int orders = m->cfg.gene_head == CG_HC_GENE_HEAD_TRIPLE ? 3 : m->cfg.gene_head == CG_HC_GENE_HEAD_PAIRWISE ? 2 : 1;
    const cg_mlp *mlp[3] = {&m->gene_mlp, &m->pair_mlp, &m->triple_mlp};
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
            if (geno[i * 3 + j] >= N)
                return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "hetero_cell: genotype %lld names gene %d, the graph has "
                                   "%lld genes", (long long)i, (int)geno[i * 3 + j], (long long)N);
    cg_tensor *y = NULL;
    for (int o = 0; o < orders; o++) {
        /* the tuples of o + 1 distinct deleted genes of each sample, in index order */
        int64_t count = 0;
        for (int64_t i = 0; i < n; i++) {
            int k = (geno[i * 3] >= 0) + (geno[i * 3 + 1] >= 0) + (geno[i * 3 + 2] >= 0);
            count += o == 0 ? k : o == 1 ? k * (k - 1) / 2 : k == 3;
        }
        if (count == 0) continue;
        int64_t *ptr = cg_arena_alloc(&ctx->arena, (size_t)(n + 1) * sizeof *ptr);
        cg_csr *csr = cg_arena_alloc(&ctx->arena, sizeof *csr);
        cg_tensor *idx[3] = {NULL, NULL, NULL};
        for (int q = 0; q <= o; q++) idx[q] = cg_tensor_new(ctx, CG_I32, 1, &count);
        if (!ptr || !csr || !idx[o]) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "hetero_cell: out of memory");
        int64_t c = 0;
        ptr[0] = 0;
        for (int64_t i = 0; i < n; i++) {
            int32_t gs[3];
            int k = 0;
            for (int j = 0; j < 3; j++)
                if (geno[i * 3 + j] >= 0) gs[k++] = geno[i * 3 + j];
            for (int a = 0; a < k; a++)
                for (int b = a + 1; b < (o >= 1 ? k : a + 2); b++)
                    for (int e = b + 1; e < (o == 2 ? k : b + 2); e++) {
                        const int32_t t3[3] = {gs[a], o >= 1 ? gs[b] : -1, o == 2 ? gs[e] : -1};
                        for (int q = 0; q <= o; q++) cg_i32(idx[q])[c] = t3[q];
                        c++;
                    }
            ptr[i + 1] = c;
        }
        /* segment sums over the samples (the column indices are not read) */
        *csr = (cg_csr){.n_rows = n, .n_cols = count, .nnz = count, .rowptr = ptr, .col = cg_i32(idx[0])};
        cg_tensor *x = cg_gather_rows(ctx, h, idx[0]);
        for (int q = 1; q <= o; q++) x = cg_mul(ctx, x, cg_gather_rows(ctx, h, idx[q]));
        cg_tensor *yo = cg_segment_sum(ctx, cg_mlp_forward(ctx, mlp[o], x), csr);
        if (o == 0 && cg_hetero_cell_has_offsets(&m->cfg)) { /* + s (*) sum_g offsets[g] */
            int64_t k = CG_NUM_LABELS;
            cg_tensor *sc = cg_tensor_new(ctx, CG_F32, 1, &k);
            if (!sc) return NULL;
            memcpy(cg_f32(sc), m->cfg.gene_offsets, sizeof m->cfg.gene_offsets);
            yo = cg_add(ctx, yo, cg_mul(ctx, cg_segment_sum(ctx, cg_embedding_forward(ctx, &m->offsets, idx[0]), csr), sc));
        }
        y = y ? cg_add(ctx, y, yo) : yo;
    }
    if (!y) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "hetero_cell: a batch of genotypes without any gene");
    return y;
}

/* The wildtype gene rows [N, D] without the global head: from the cache when it holds them (evaluation),
 * else the wildtype pass (stored in the cache in evaluation). */
static cg_tensor *hc_wildtype_genes_cached(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v,
                                           cg_model_cache *cache) {
    if (!cache || ctx->training) return hc_encode_wildtype_genes(ctx, m, v);
    const int64_t N = v->n_nodes[CG_GENE], D = m->cfg.hidden;
    if (cache->valid && cache->rows == N && cache->cols == D) return cg_tensor_wrap2(ctx, N, D, cache->data);
    cg_tensor *h = hc_encode_wildtype_genes(ctx, m, v);
    if (!h) return NULL;
    float *data = realloc(cache->data, (size_t)(N * D) * sizeof *data);
    if (!data) return h; /* no cache: the next batch computes the pass again */
    memcpy(data, cg_f32(h), (size_t)(N * D) * sizeof *data);
    *cache = (cg_model_cache){.data = data, .rows = N, .cols = D, .valid = true};
    return h;
}

cg_tensor *cg_hetero_cell_forward_batch(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, const int32_t *geno,
                                        cg_perturbation_path mode, cg_tensor **z_p_out) {
    return cg_hetero_cell_forward_cached(ctx, m, v, geno, mode, NULL, z_p_out);
}

cg_tensor *cg_hetero_cell_forward_cached(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, const int32_t *geno,
                                         cg_perturbation_path mode, cg_model_cache *cache, cg_tensor **z_p_out) {
    const cg_hetero_cell_config *cfg = &m->cfg;
    if (z_p_out) *z_p_out = NULL;
    if (cg_ctx_status(ctx) != CG_OK) return NULL;
    if (v->B < 2) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "hetero_cell: a batch needs the wildtype and >= 1 genotype");
    const bool genes = cfg->gene_head != CG_HC_GENE_HEAD_NONE;
    if (genes && (!geno || v->ids[CG_GENE]))
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "hetero_cell: gene_head \"%s\" needs the genotypes' genes and a "
                           "view over all genes", cfg->gene_head == CG_HC_GENE_HEAD_ADDITIVE ? "additive" : "pairwise or triple");
    cg_tensor *h = NULL, *y = NULL;
    if (cfg->global_head) {
        cg_tensor *z = mode == CG_PATH_FULL ? hc_encode_full(ctx, m, v, genes ? &h : NULL)
                                            : hc_encode_incremental(ctx, m, v, NULL, genes ? &h : NULL);
        cg_tensor *z_p = cg_model_perturbation_difference(ctx, z);
        if (z_p && cfg->z_p_scale_alive) z_p = cg_scale(ctx, z_p, (float)v->n_nodes[CG_GENE]);
        if (z_p_out) *z_p_out = z_p;
        y = cg_mlp_forward(ctx, &m->head, z_p);
    } else {
        h = hc_wildtype_genes_cached(ctx, m, v, cache);
    }
    if (genes && h) {
        cg_tensor *yg = hc_gene_terms(ctx, m, h, v->n_nodes[CG_GENE], geno, v->B - 1);
        y = y ? cg_add(ctx, y, yg) : yg;
    }
    return cg_ctx_status(ctx) == CG_OK ? y : NULL;
}

cg_tensor *cg_hetero_cell_forward_mode(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v,
                                       cg_perturbation_path mode, cg_tensor **z_p_out) {
    return cg_hetero_cell_forward_batch(ctx, m, v, NULL, mode, z_p_out);
}

cg_tensor *cg_hetero_cell_forward(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, cg_tensor **z_p_out) {
    return cg_hetero_cell_forward_mode(ctx, m, v, CG_PATH_FULL, z_p_out);
}

/* ------------------------------------------------------------------ the model table (cellgraph/model.h) */

static void t_defaults(void *cfg) { *(cg_hetero_cell_config *)cfg = cg_hetero_cell_defaults(); }
static cg_status t_parse(const char *json, const char *name, void *cfg) {
    return cg_hetero_cell_config_parse(json, name, cfg);
}
static char *t_json(const void *cfg) { return cg_hetero_cell_config_json(cfg); }
static cg_status t_init(void *model, const void *cfg, const cg_graph *g) {
    int64_t nn[CG_NODE_TYPES];
    for (int t = 0; t < CG_NODE_TYPES; t++) nn[t] = cg_graph_num_nodes(g, (cg_node_type)t);
    return cg_hetero_cell_init(model, cfg, nn);
}
static void t_free(void *model) { cg_hetero_cell_free(model); }
static cg_param_store *t_params(void *model) { return &((cg_hetero_cell *)model)->params; }
static cg_status t_path_check(const void *cfg, cg_perturbation_path path, bool training) {
    return path == CG_PATH_FULL ? CG_OK : cg_hetero_cell_incremental_check(cfg, training);
}
static cg_tensor *t_forward(cg_ctx *ctx, const void *model, const cg_model_batch *batch, cg_perturbation_path path,
                            cg_tensor **z_p_out) {
    return cg_hetero_cell_forward_cached(ctx, model, batch->view, batch->geno, path, batch->cache, z_p_out);
}
static void t_describe(const void *cfg, char *buf, size_t len) {
    const cg_hetero_cell_config *c = cfg;
    static const char *gh[] = {"", ", additive gene head", ", pairwise gene head", ", triple gene head"};
    snprintf(buf, len, "D %d, L %d, %d heads, %s%s%s%s", c->hidden, c->layers, c->heads,
             c->hypergraph ? "hypergraph" : "bipartite", c->global_head ? (c->z_p_scale_alive ? ", head on N z_p" : ", head on z_p") : "",
             gh[c->gene_head], c->global_head || c->gene_head == CG_HC_GENE_HEAD_NONE ? "" : " (wildtype pass only)");
}

static bool t_uses_perturbed_pass(const void *cfg) { return ((const cg_hetero_cell_config *)cfg)->global_head; }

const cg_model_type cg_hetero_cell_model_type = {
    .name = "hetero_cell",
    .title = "HeteroCell",
    .config_size = sizeof(cg_hetero_cell_config),
    .model_size = sizeof(cg_hetero_cell),
    .config_defaults = t_defaults,
    .config_parse = t_parse,
    .config_json = t_json,
    .init = t_init,
    .free = t_free,
    .params = t_params,
    .path_check = t_path_check,
    .forward = t_forward,
    .uses_graph = true,
    .describe = t_describe,
    .uses_perturbed_pass = t_uses_perturbed_pass,
};
