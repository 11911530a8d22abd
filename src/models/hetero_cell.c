/* HeteroCell: embeddings, preprocessor, L heterogeneous GATv2 layers, attention readout over alive genes,
 * z_p = z_w - z_i, head. See cellgraph/hetero_cell.h. */
#include "cellgraph/hetero_cell.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/deletion.h"

static const char *const REL_NAMES[CG_RELATIONS] = {"physical", "regulatory", "gpr", "gpr_rev", "rmr", "rmr_rev"};
static const cg_node_type REL_SRC[CG_RELATIONS] = {CG_GENE, CG_GENE, CG_GENE, CG_REACTION, CG_REACTION, CG_METABOLITE};
static const cg_node_type REL_DST[CG_RELATIONS] = {CG_GENE, CG_GENE, CG_REACTION, CG_GENE, CG_METABOLITE, CG_REACTION};
static const char *const TYPE_NAMES[CG_NODE_TYPES] = {"gene", "reaction", "metabolite"};

/* ------------------------------------------------------------------ configuration */

cg_hetero_cell_config cg_hetero_cell_defaults(void) {
    cg_hetero_cell_config c = {.hidden = 64, .layers = 2, .heads = 4, .dropout = 0.1f, .attention_dropout = 0.0f,
                               .act = CG_ACT_GELU, .hypergraph = false, .residual = false, .self_loops = true,
                               .head_layers = 2, .seed = 42};
    for (int r = 0; r < CG_RELATIONS; r++) c.relations[r] = true;
    return c;
}

static cg_status bad(const char *name, const char *key, const char *what) {
    return cg_error(CG_ERR_FORMAT, "%s: key '%s': %s", name, key, what);
}

static cg_status get_int(cJSON *v, const char *name, const char *key, int lo, int hi, int *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return bad(name, key, "expected an integer");
    if (v->valuedouble < lo || v->valuedouble > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "%g is outside [%d, %d]", v->valuedouble, lo, hi);
        return bad(name, key, msg);
    }
    *out = (int)v->valuedouble;
    return CG_OK;
}

static cg_status get_prob(cJSON *v, const char *name, const char *key, float *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 1))
        return bad(name, key, "expected a number in [0, 1)");
    *out = (float)v->valuedouble;
    return CG_OK;
}

static cg_status get_bool(cJSON *v, const char *name, const char *key, bool *out) {
    if (!cJSON_IsBool(v)) return bad(name, key, "expected true or false");
    *out = cJSON_IsTrue(v);
    return CG_OK;
}

cg_status cg_hetero_cell_config_parse(const char *json, const char *name, cg_hetero_cell_config *cfg) {
    *cfg = cg_hetero_cell_defaults();
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cg_error(CG_ERR_FORMAT, "%s: not a JSON object", name);
    }
    cg_status s = CG_OK;
    cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;
        if (s != CG_OK) break;
        if (strcmp(k, "hidden_channels") == 0) s = get_int(it, name, k, 1, 4096, &cfg->hidden);
        else if (strcmp(k, "num_layers") == 0) s = get_int(it, name, k, 1, CG_HC_MAX_LAYERS, &cfg->layers);
        else if (strcmp(k, "heads") == 0) s = get_int(it, name, k, 1, 256, &cfg->heads);
        else if (strcmp(k, "head_num_layers") == 0) s = get_int(it, name, k, 1, CG_MLP_MAX_LAYERS, &cfg->head_layers);
        else if (strcmp(k, "dropout") == 0) s = get_prob(it, name, k, &cfg->dropout);
        else if (strcmp(k, "attention_dropout") == 0) s = get_prob(it, name, k, &cfg->attention_dropout);
        else if (strcmp(k, "residual") == 0) s = get_bool(it, name, k, &cfg->residual);
        else if (strcmp(k, "self_loops") == 0) s = get_bool(it, name, k, &cfg->self_loops);
        else if (strcmp(k, "seed") == 0) {
            if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble != floor(it->valuedouble))
                s = bad(name, k, "expected a non-negative integer");
            else
                cfg->seed = (uint64_t)it->valuedouble;
        } else if (strcmp(k, "activation") == 0) {
            if (!cJSON_IsString(it) || !cg_activation_parse(it->valuestring, &cfg->act))
                s = bad(name, k, "expected one of relu, leaky_relu, gelu, silu, sigmoid, tanh, mish, softplus");
        } else if (strcmp(k, "metabolism") == 0) {
            if (cJSON_IsString(it) && strcmp(it->valuestring, "bipartite") == 0) cfg->hypergraph = false;
            else if (cJSON_IsString(it) && strcmp(it->valuestring, "hypergraph") == 0) cfg->hypergraph = true;
            else s = bad(name, k, "expected \"bipartite\" or \"hypergraph\"");
        } else if (strcmp(k, "relations") == 0) {
            if (!cJSON_IsArray(it)) {
                s = bad(name, k, "expected an array of relation names");
                break;
            }
            for (int r = 0; r < CG_RELATIONS; r++) cfg->relations[r] = false;
            cJSON *e;
            cJSON_ArrayForEach(e, it) {
                int r = cJSON_IsString(e) ? cg_graph_relation_index(e->valuestring) : -1;
                if (r < 0) {
                    s = cg_error(CG_ERR_FORMAT, "%s: key 'relations': unknown relation '%s' (known: physical, "
                                 "regulatory, gpr, gpr_rev, rmr, rmr_rev)", name,
                                 cJSON_IsString(e) ? e->valuestring : "(not a string)");
                    break;
                }
                cfg->relations[r] = true;
            }
        } else if (strcmp(k, "train") == 0) {
            /* the training settings (cellgraph/trainer.h) share the file */
        } else {
            s = cg_error(CG_ERR_FORMAT, "%s: unknown key '%s' (known: hidden_channels, num_layers, heads, dropout, "
                         "attention_dropout, activation, metabolism, residual, self_loops, head_num_layers, "
                         "relations, seed, and the object train)", name, k);
        }
    }
    cJSON_Delete(root);
    if (s == CG_OK && cfg->hidden % cfg->heads != 0)
        s = cg_error(CG_ERR_FORMAT, "%s: hidden_channels %d is not a multiple of heads %d", name, cfg->hidden, cfg->heads);
    if (s == CG_OK && cfg->hidden < 2)
        s = cg_error(CG_ERR_FORMAT, "%s: hidden_channels must be at least 2 (the readout gate is D/2 wide)", name);
    return s;
}

cg_status cg_hetero_cell_config_load(const char *path, cg_hetero_cell_config *cfg) {
    FILE *f = fopen(path, "rb");
    if (!f) return cg_error(CG_ERR_IO, "%s: cannot open the model config", path);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool too_long = !feof(f);
    fclose(f);
    if (too_long) return cg_error(CG_ERR_FORMAT, "%s: config larger than 64 KB", path);
    buf[n] = '\0';
    return cg_hetero_cell_config_parse(buf, path, cfg);
}

char *cg_hetero_cell_config_json(const cg_hetero_cell_config *c) {
    cJSON *o = cJSON_CreateObject(), *rels = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "hidden_channels", c->hidden);
    cJSON_AddNumberToObject(o, "num_layers", c->layers);
    cJSON_AddNumberToObject(o, "heads", c->heads);
    cJSON_AddNumberToObject(o, "dropout", c->dropout);
    cJSON_AddNumberToObject(o, "attention_dropout", c->attention_dropout);
    cJSON_AddStringToObject(o, "activation", cg_activation_name(c->act));
    cJSON_AddStringToObject(o, "metabolism", c->hypergraph ? "hypergraph" : "bipartite");
    cJSON_AddBoolToObject(o, "residual", c->residual);
    cJSON_AddBoolToObject(o, "self_loops", c->self_loops);
    cJSON_AddNumberToObject(o, "head_num_layers", c->head_layers);
    for (int r = 0; r < CG_RELATIONS; r++)
        if (c->relations[r]) cJSON_AddItemToArray(rels, cJSON_CreateString(REL_NAMES[r]));
    cJSON_AddItemToObject(o, "relations", rels);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    return txt;
}

/* ------------------------------------------------------------------ parameters */

static cg_status add_param(cg_param_store *ps, const char *prefix, const char *name, int ndim, const int64_t *shape,
                           cg_tensor **out) {
    char full[256];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    return cg_params_add(ps, full, ndim, shape, out);
}

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
        snprintf(prefix, sizeof prefix, "embedding.%s", TYPE_NAMES[t]);
        s = cg_embedding_register(&m->emb[t], ps, prefix, (int)n_nodes[t], D);
    }
    if (s == CG_OK) s = cg_mlp_register(&m->pre, ps, "preprocessor", D, D, D, 2, true, cfg->act, cfg->dropout, true);
    for (int l = 0; l < cfg->layers && s == CG_OK; l++)
        for (int r = 0; r < CG_RELATIONS && s == CG_OK; r++) {
            if (!cfg->relations[r]) continue;
            cg_hc_conv *cv = &m->conv[l][r];
            cv->used = true;
            cv->gat = (cg_gatv2_config){.heads = H, .channels = C, .concat = true,
                                        .add_self_loops = cfg->self_loops && REL_SRC[r] == REL_DST[r],
                                        .negative_slope = 0.2f, .dropout = cfg->attention_dropout};
            snprintf(prefix, sizeof prefix, "layers.%d.%s", l, REL_NAMES[r]);
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
            snprintf(sub, sizeof sub, "%s.lin_l", prefix);
            s = cg_linear_register(&cv->lin_l, ps, sub, D, H * C, true);
            snprintf(sub, sizeof sub, "%s.lin_r", prefix);
            if (s == CG_OK) s = cg_linear_register(&cv->lin_r, ps, sub, D, H * C, true);
            int64_t att_shape[3] = {1, H, C}, bias_shape[1] = {H * C}, edge_shape[2] = {H * C, 1};
            if (s == CG_OK) s = add_param(ps, prefix, "att", 3, att_shape, &cv->att);
            if (s == CG_OK && (r == CG_REL_RMR || r == CG_REL_RMR_REV))
                s = add_param(ps, prefix, "lin_edge.weight", 2, edge_shape, &cv->lin_edge);
            if (s == CG_OK) s = add_param(ps, prefix, "bias", 1, bias_shape, &cv->bias);
            cv->has_proj = H * C != D;
            snprintf(sub, sizeof sub, "%s.proj", prefix);
            if (s == CG_OK && cv->has_proj) s = cg_linear_register(&cv->proj, ps, sub, H * C, D, true);
            snprintf(sub, sizeof sub, "%s.norm", prefix);
            if (s == CG_OK) s = cg_layernorm_register(&cv->norm, ps, sub, D);
        }
    if (s == CG_OK) s = cg_mlp_register(&m->gate, ps, "readout.gate", D, D / 2, 1, 2, false, cfg->act, cfg->dropout, false);
    if (s == CG_OK)
        s = cg_mlp_register(&m->transform, ps, "readout.transform", D, D, D, 1, false, cfg->act, cfg->dropout, true);
    if (s == CG_OK)
        s = cg_mlp_register(&m->head, ps, "head", D, D, 2, cfg->head_layers, true, cfg->act, cfg->dropout,
                            false);
    if (s == CG_OK) s = cg_params_finalize(ps);
    if (s != CG_OK) {
        cg_params_free(ps);
        return s;
    }
    /* initialisation: PyTorch/PyG defaults, Philox keyed by the seed and each parameter's name */
    const uint64_t seed = cfg->seed;
    for (int t = 0; t < CG_NODE_TYPES; t++) cg_embedding_init(&m->emb[t], seed);
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
            cg_linear_init(&cv->lin_l, seed); /* bias U(-1/sqrt(in), 1/sqrt(in)) as PyG's Linear */
            cg_linear_init(&cv->lin_r, seed);
            cg_glorot_init(cv->lin_l.weight, seed); /* weights glorot (GATv2Conv) */
            cg_glorot_init(cv->lin_r.weight, seed);
            cg_glorot_init(cv->att, seed);
            if (cv->lin_edge) cg_glorot_init(cv->lin_edge, seed);
            memset(cv->bias->data, 0, (size_t)cv->bias->numel * sizeof(float));
            if (cv->has_proj) cg_linear_init(&cv->proj, seed);
            cg_layernorm_init(&cv->norm);
        }
    cg_mlp_init(&m->gate, seed);
    cg_mlp_init(&m->transform, seed);
    cg_mlp_init(&m->head, seed);
    return CG_OK;
}

void cg_hetero_cell_free(cg_hetero_cell *m) { cg_params_free(&m->params); }

/* ------------------------------------------------------------------ graph views */

cg_status cg_hc_graph_init(cg_hc_graph *hg, const cg_graph *g) {
    memset(hg, 0, sizeof *hg);
    hg->g = g;
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        int64_t ns = cg_graph_num_nodes(g, rel->src_type);
        hg->src_ptr[r] = malloc(((size_t)ns + 1) * sizeof(int64_t));
        hg->src_perm[r] = malloc(((size_t)rel->n_edges + 1) * sizeof(int32_t));
        if (!hg->src_ptr[r] || !hg->src_perm[r]) {
            cg_hc_graph_free(hg);
            return cg_error(CG_ERR_NOMEM, "hetero_cell: out of memory");
        }
        cg_status s = cg_rel_reverse_index(ns, rel->n_edges, rel->src, hg->src_ptr[r], hg->src_perm[r]);
        if (s != CG_OK) {
            cg_hc_graph_free(hg);
            return s;
        }
    }
    return CG_OK;
}

void cg_hc_graph_free(cg_hc_graph *hg) {
    for (int r = 0; r < CG_RELATIONS; r++) {
        free(hg->src_ptr[r]);
        free(hg->src_perm[r]);
    }
    memset(hg, 0, sizeof *hg);
}

void cg_hc_view_of_graph(cg_hc_view *v, const cg_hc_graph *hg, int64_t B, const uint64_t *blocks) {
    const cg_graph *g = hg->g;
    memset(v, 0, sizeof *v);
    v->B = B;
    for (int t = 0; t < CG_NODE_TYPES; t++) v->n_nodes[t] = cg_graph_num_nodes(g, t);
    if (blocks) {
        cg_dead_view d = cg_deletion_view(g, blocks);
        for (int t = 0; t < CG_NODE_TYPES; t++) v->dead[t] = d.node[t];
        v->dead_stride = cg_deletion_words(g);
    }
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        cg_rel_batch *rb = &v->rel[r];
        rb->n_src = v->n_nodes[rel->src_type];
        rb->n_dst = v->n_nodes[rel->dst_type];
        rb->n_edges = rel->n_edges;
        rb->rowptr = rel->rowptr;
        rb->src = rel->src;
        rb->dst = rel->dst;
        rb->src_ptr = hg->src_ptr[r];
        rb->src_perm = hg->src_perm[r];
        rb->attr = rel->attr;
        rb->attr_dim = rel->attr ? 1 : 0;
        rb->same_type = rel->src_type == rel->dst_type;
        rb->B = B;
        rb->dead_src = v->dead[rel->src_type];
        rb->dead_dst = v->dead[rel->dst_type];
        rb->dead_stride = v->dead_stride;
    }
}

/* ------------------------------------------------------------------ forward */

static bool is_dead(const cg_hc_view *v, int t, int64_t b, int64_t n) {
    const uint64_t *d = v->dead[t];
    return d && ((d[b * v->dead_stride + (n >> 6)] >> (n & 63)) & 1u);
}

static cg_status hc_check_view(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v) {
    for (int t = 0; t < CG_NODE_TYPES; t++)
        if (v->n_nodes[t] < 0 || (v->n_nodes[t] > 0 && !v->ids[t] && v->n_nodes[t] != m->n_nodes[t])) {
            cg_ctx_fail(ctx, CG_ERR_SHAPE, "hetero_cell: the view has %lld %s nodes, the model %lld",
                        (long long)v->n_nodes[t], TYPE_NAMES[t], (long long)m->n_nodes[t]);
            return CG_ERR_SHAPE;
        }
    return CG_OK;
}

/* x[t] [B * N_t, D]: the embeddings of B samples, and the preprocessor on the genes */
static void hc_inputs(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v, int64_t B, cg_tensor *x[CG_NODE_TYPES]) {
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
    /* dropout masks are shared by the samples of the batch (per node and channel), so that z_w - z_i
     * reflects the deletion and not independent noise in the wildtype and perturbed passes */
    x[CG_GENE] = cg_mlp_forward_shared(ctx, &m->pre, x[CG_GENE], v->n_nodes[CG_GENE]);
}

/* Layer l over the view: x[t] is replaced by the layer's output for every type that receives a relation.
 * When xl_save/xr_save/drop_op are given, they receive per relation the lin_l and lin_r outputs and the
 * op number of the wrapper's dropout (incremental evaluation reuses them). */
static void hc_layer(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v, int l, cg_tensor *x[CG_NODE_TYPES],
                     cg_tensor **xl_save, cg_tensor **xr_save, uint64_t *drop_op, const bool *need) {
    const cg_hetero_cell_config *cfg = &m->cfg;
    cg_tensor *acc[CG_NODE_TYPES] = {NULL, NULL, NULL};
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_hc_conv *cv = &m->conv[l][r];
        const cg_rel_batch *rb = &v->rel[r];
        if (!cv->used || !rb->rowptr) continue;
        if (need && !need[REL_DST[r]]) {
            /* not computed; its dropout's op number is still used up, so that later ops draw the same
             * masks as in the full path (training with attention dropout is not incremental) */
            if (ctx->training && cfg->dropout > 0.0f) ctx->op_counter++;
            continue;
        }
        int st = REL_SRC[r], dt = REL_DST[r];
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
            cg_tensor *xl = cg_linear(ctx, x[st], cv->lin_l.weight, cv->lin_l.bias);
            cg_tensor *xr = cg_linear(ctx, x[dt], cv->lin_r.weight, cv->lin_r.bias);
            if (xl_save) xl_save[r] = xl;
            if (xr_save) xr_save[r] = xr;
            o = cg_gatv2(ctx, xl, xr, rb->attr ? cv->lin_edge : NULL, cv->att, cv->bias, rb, &cv->gat);
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

cg_tensor *cg_hetero_cell_encode(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v) {
    const cg_hetero_cell_config *cfg = &m->cfg;
    const int64_t B = v->B;
    if (hc_check_view(ctx, m, v) != CG_OK) return NULL;
    cg_tensor *x[CG_NODE_TYPES];
    hc_inputs(ctx, m, v, B, x);
    for (int l = 0; l < cfg->layers; l++) hc_layer(ctx, m, v, l, x, NULL, NULL, NULL, NULL);
    if (cg_ctx_status(ctx) != CG_OK) return NULL;

    /* readout: attention over the alive genes of each sample */
    const int64_t N = v->n_nodes[CG_GENE];
    int64_t n_alive = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < N; i++) n_alive += !is_dead(v, CG_GENE, b, i);
    cg_tensor *idx = cg_tensor_new(ctx, CG_I32, 1, &n_alive);
    cg_csr *csr = cg_arena_alloc(&ctx->arena, sizeof *csr);
    int64_t *rowptr = cg_arena_alloc(&ctx->arena, (size_t)(B + 1) * sizeof *rowptr);
    if (!idx || !csr || !rowptr) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "hetero_cell: out of memory");
    int64_t k = 0;
    rowptr[0] = 0;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < N; i++)
            if (!is_dead(v, CG_GENE, b, i)) cg_i32(idx)[k++] = (int32_t)(b * N + i);
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

/* ------------------------------------------------------------------ incremental evaluation */

/* The rows of one node type that differ from the wildtype after one layer, over all samples: sample b's
 * rows are off[b] .. off[b+1] of node (ascending); pos[b * N + n] is the row of (b, n), or -1 (pos NULL:
 * no rows). */
typedef struct hc_changed {
    int64_t k;
    int64_t *off;  /* [B + 1] */
    int32_t *node; /* [k] */
    int32_t *pos;  /* [B * N] */
} hc_changed;

static void *hc_alloc(cg_ctx *ctx, size_t bytes) {
    void *p = cg_arena_alloc(&ctx->arena, bytes);
    if (!p) cg_ctx_fail(ctx, CG_ERR_NOMEM, "hetero_cell: out of memory");
    return p;
}

/* the dead nodes of type t in each sample, as rows of an hc_changed (pos unused); two passes over the
 * bitsets: count, then fill */
static bool hc_dead_lists(cg_ctx *ctx, const cg_hc_view *v, int t, hc_changed *dl) {
    const int64_t B = v->B, N = v->n_nodes[t], words = (N + 63) / 64;
    dl->off = hc_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
    dl->pos = NULL;
    dl->node = NULL;
    if (!dl->off) return false;
    for (int pass = 0; pass < 2; pass++) {
        int64_t k = 0;
        for (int64_t b = 0; b < B; b++) {
            dl->off[b] = k;
            for (int64_t w = 0; v->dead[t] && w < words; w++)
                for (uint64_t bits = v->dead[t][b * v->dead_stride + w]; bits; bits &= bits - 1) {
                    int64_t n = w * 64 + __builtin_ctzll(bits);
                    if (n >= N) continue;
                    if (pass == 1) dl->node[k] = (int32_t)n;
                    k++;
                }
        }
        dl->off[B] = k;
        dl->k = k;
        if (pass == 0 && !(dl->node = hc_alloc(ctx, (size_t)(k + 1) * sizeof(int32_t)))) return false;
    }
    return true;
}

static bool hc_uses(const cg_hetero_cell *m, const cg_hc_view *v, int l, int r) {
    return m->conv[l][r].used && v->rel[r].rowptr;
}

/* marks, in mk (sample b's row of marks), the alive destinations of the out-edges of s */
static void hc_mark_out(const cg_rel_batch *rb, const cg_hc_view *v, int dt, int64_t b, int64_t s, int32_t *mk) {
    for (int64_t p = rb->src_ptr[s]; p < rb->src_ptr[s + 1]; p++) {
        int64_t d = rb->dst[rb->src_perm[p]];
        if (!is_dead(v, dt, b, d)) mk[d] = 1;
    }
}

/* The changed rows after layer l: an alive node is recomputed when its own input row changed, or when a
 * relation into it at this layer has an in-edge from a dead or changed source (its messages or its softmax
 * normalisation changed). Types that receive no relation keep the previous rows. */
static bool hc_changed_layer(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v, int l,
                             const hc_changed dead[CG_NODE_TYPES], const hc_changed prev[CG_NODE_TYPES],
                             const bool need[CG_NODE_TYPES], const hc_changed *none, hc_changed cur[CG_NODE_TYPES]) {
    const int64_t B = v->B;
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        if (!need[t]) { /* never read again: not computed */
            cur[t] = *none;
            continue;
        }
        bool receives = false;
        for (int r = 0; r < CG_RELATIONS; r++) receives |= hc_uses(m, v, l, r) && (int)REL_DST[r] == t;
        if (!receives) {
            cur[t] = prev[t];
            continue;
        }
        const int64_t N = v->n_nodes[t];
        int32_t *pos = hc_alloc(ctx, (size_t)(B * N + 1) * sizeof(int32_t));
        int64_t *off = hc_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
        if (!pos || !off) return false;
        memset(pos, 0, (size_t)(B * N) * sizeof(int32_t));
        int64_t k = 0;
        for (int64_t b = 0; b < B; b++) {
            int32_t *mk = pos + b * N;
            for (int64_t j = prev[t].off[b]; j < prev[t].off[b + 1]; j++) mk[prev[t].node[j]] = 1;
            for (int r = 0; r < CG_RELATIONS; r++) {
                if (!hc_uses(m, v, l, r) || (int)REL_DST[r] != t) continue;
                const int st = REL_SRC[r];
                const cg_rel_batch *rb = &v->rel[r];
                for (int64_t j = dead[st].off[b]; j < dead[st].off[b + 1]; j++) hc_mark_out(rb, v, t, b, dead[st].node[j], mk);
                for (int64_t j = prev[st].off[b]; j < prev[st].off[b + 1]; j++) hc_mark_out(rb, v, t, b, prev[st].node[j], mk);
            }
            for (int64_t n = 0; n < N; n++) k += mk[n];
        }
        int32_t *node = hc_alloc(ctx, (size_t)(k + 1) * sizeof(int32_t));
        if (!node) return false;
        k = 0;
        for (int64_t b = 0; b < B; b++) {
            off[b] = k;
            int32_t *mk = pos + b * N;
            for (int64_t n = 0; n < N; n++)
                if (mk[n]) {
                    node[k] = (int32_t)n;
                    mk[n] = (int32_t)k++;
                } else {
                    mk[n] = -1;
                }
        }
        off[B] = k;
        cur[t] = (hc_changed){.k = k, .off = off, .node = node, .pos = pos};
    }
    return true;
}

/* row of (b, n) in the table [wildtype rows; changed rows] of the previous layer */
static inline int32_t hc_row(const hc_changed *prev, int64_t N, int64_t b, int64_t n) {
    int32_t p = prev->pos ? prev->pos[b * N + n] : -1;
    return p >= 0 ? (int32_t)(N + p) : (int32_t)n;
}

/* For each row (b, d) of cur, its row in the previous layer's table of the same type. */
static cg_tensor *hc_table_rows(cg_ctx *ctx, const hc_changed *cur, const hc_changed *prev, int64_t N, int64_t B) {
    cg_tensor *idx = cg_tensor_new(ctx, CG_I32, 1, &cur->k);
    if (!idx) return NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = cur->off[b]; j < cur->off[b + 1]; j++) cg_i32(idx)[j] = hc_row(prev, N, b, cur->node[j]);
    return idx;
}

/* The relation restricted to the changed destinations of all samples, as one graph (B = 1, nothing
 * dead): destination j is row j of cur; its sources are rows of the previous layer's source table
 * [wildtype rows; changed rows]: each alive in-neighbour of sample b (its changed row when it has one),
 * then the self loop (when add_self_loops) with the mean attribute of those edges, in the order of the
 * full kernel. */
static cg_rel_batch *hc_compact_rel(cg_ctx *ctx, const cg_hc_view *v, int r, bool self_loops, const hc_changed *cur,
                                    const hc_changed *prev_src) {
    const cg_rel_batch *rb = &v->rel[r];
    const int64_t B = v->B, Ns = rb->n_src, k = cur->k, ad = rb->attr ? rb->attr_dim : 0;
    int64_t ub = 0;
    for (int64_t j = 0; j < k; j++) {
        int64_t d = cur->node[j];
        ub += rb->rowptr[d + 1] - rb->rowptr[d] + (self_loops ? 1 : 0);
    }
    cg_rel_batch *c = hc_alloc(ctx, sizeof *c);
    int64_t *rowptr = hc_alloc(ctx, (size_t)(k + 1) * sizeof(int64_t));
    int32_t *src = hc_alloc(ctx, (size_t)(ub + 1) * sizeof(int32_t)), *dst = hc_alloc(ctx, (size_t)(ub + 1) * sizeof(int32_t));
    float *attr = ad ? hc_alloc(ctx, (size_t)(ub * ad + 1) * sizeof(float)) : NULL;
    float mean[CG_GATV2_MAX_EDGE_DIM];
    if (!c || !rowptr || !src || !dst || (ad && !attr)) return NULL;
    int64_t E = 0;
    rowptr[0] = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = cur->off[b]; j < cur->off[b + 1]; j++) {
            const int64_t d = cur->node[j];
            int64_t n_cand = 0;
            for (int64_t a = 0; a < ad; a++) mean[a] = 0.0f;
            for (int64_t e = rb->rowptr[d]; e < rb->rowptr[d + 1]; e++) {
                int64_t s = rb->src[e];
                if (cg_rb_src_dead(rb, b, s) || (self_loops && s == d)) continue;
                src[E] = hc_row(prev_src, Ns, b, s);
                dst[E] = (int32_t)j;
                for (int64_t a = 0; a < ad; a++) {
                    attr[E * ad + a] = rb->attr[e * ad + a];
                    mean[a] += rb->attr[e * ad + a];
                }
                n_cand++;
                E++;
            }
            if (self_loops) {
                src[E] = hc_row(prev_src, Ns, b, d);
                dst[E] = (int32_t)j;
                for (int64_t a = 0; a < ad; a++) attr[E * ad + a] = n_cand ? mean[a] / (float)n_cand : 0.0f;
                E++;
            }
            rowptr[j + 1] = E;
        }
    const int64_t n_src = Ns + prev_src->k;
    int64_t *src_ptr = hc_alloc(ctx, (size_t)(n_src + 1) * sizeof(int64_t));
    int32_t *src_perm = hc_alloc(ctx, (size_t)(E + 1) * sizeof(int32_t));
    if (!src_ptr || !src_perm) return NULL;
    cg_status s = cg_rel_reverse_index(n_src, E, src, src_ptr, src_perm);
    if (s != CG_OK) return cg_ctx_fail(ctx, s, "hetero_cell: %s", cg_last_error());
    *c = (cg_rel_batch){.n_src = n_src, .n_dst = k, .n_edges = E, .rowptr = rowptr, .src = src, .dst = dst,
                        .src_ptr = src_ptr, .src_perm = src_perm, .attr = attr, .attr_dim = (int)ad,
                        .same_type = false, .B = 1};
    return c;
}

cg_status cg_hetero_cell_incremental_check(const cg_hetero_cell_config *cfg, bool training) {
    if (cfg->hypergraph)
        return cg_error(CG_ERR_INVALID_ARG, "hetero_cell: incremental evaluation supports metabolism \"bipartite\" "
                        "only; use the full masked path (--perturbation full) for \"hypergraph\"");
    if (training && cfg->attention_dropout > 0.0f)
        return cg_error(CG_ERR_INVALID_ARG, "hetero_cell: incremental training needs attention_dropout 0 (its masks "
                        "are drawn per sample and edge); use --perturbation full");
    return CG_OK;
}

cg_tensor *cg_hetero_cell_encode_incremental(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v,
                                             cg_hc_incremental_stats *stats) {
    const cg_hetero_cell_config *cfg = &m->cfg;
    const int64_t B = v->B, D = cfg->hidden;
    if (cg_ctx_status(ctx) != CG_OK) return NULL;
    cg_status st0 = cg_hetero_cell_incremental_check(cfg, ctx->training);
    if (st0 != CG_OK) return cg_ctx_fail(ctx, st0, "%s", cg_last_error());
    if (hc_check_view(ctx, m, v) != CG_OK) return NULL;
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->B = B;
        stats->layers = cfg->layers;
    }
    /* the wildtype: one sample, nothing dead; the recorded convs keep a pointer to its relations */
    cg_hc_view *vw = hc_alloc(ctx, sizeof *vw);
    if (!vw) return NULL;
    *vw = *v;
    vw->B = 1;
    vw->dead_stride = 0;
    for (int t = 0; t < CG_NODE_TYPES; t++) vw->dead[t] = NULL;
    for (int r = 0; r < CG_RELATIONS; r++) {
        vw->rel[r].B = 1;
        vw->rel[r].dead_src = vw->rel[r].dead_dst = NULL;
        vw->rel[r].dead_stride = 0;
    }
    /* need[l][t]: whether layer l's output of type t can reach the readout (genes after the last layer);
     * the rest is not computed (the full path computes it and never uses it) */
    bool need[CG_HC_MAX_LAYERS][CG_NODE_TYPES] = {{false}};
    need[cfg->layers - 1][CG_GENE] = true;
    for (int l = cfg->layers - 2; l >= 0; l--)
        for (int t = 0; t < CG_NODE_TYPES; t++) {
            need[l][t] = need[l + 1][t];
            for (int r = 0; r < CG_RELATIONS; r++)
                need[l][t] |= hc_uses(m, v, l + 1, r) && (int)REL_SRC[r] == t && need[l + 1][REL_DST[r]];
        }
    hc_changed dead[CG_NODE_TYPES], prev[CG_NODE_TYPES], cur[CG_NODE_TYPES], none;
    int64_t *zero_off = hc_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
    if (!zero_off) return NULL;
    memset(zero_off, 0, (size_t)(B + 1) * sizeof(int64_t));
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        if (!hc_dead_lists(ctx, v, t, &dead[t])) return NULL;
        prev[t] = (hc_changed){.k = 0, .off = zero_off, .node = NULL, .pos = NULL};
    }
    none = prev[0];
    cg_tensor *xw[CG_NODE_TYPES], *xc[CG_NODE_TYPES] = {NULL, NULL, NULL};
    hc_inputs(ctx, m, vw, 1, xw);
    for (int l = 0; l < cfg->layers; l++) {
        if (!hc_changed_layer(ctx, m, v, l, dead, prev, need[l], &none, cur)) return NULL;
        cg_tensor *xw_prev[CG_NODE_TYPES] = {xw[0], xw[1], xw[2]};
        cg_tensor *xl_w[CG_RELATIONS] = {NULL}, *xr_w[CG_RELATIONS] = {NULL};
        uint64_t drop_op[CG_RELATIONS] = {0};
        hc_layer(ctx, m, vw, l, xw, xl_w, xr_w, drop_op, need[l]);
        if (cg_ctx_status(ctx) != CG_OK) return NULL;
        /* the changed rows: the same convs on the compact relations, reading [wildtype rows; changed rows] */
        cg_tensor *acc[CG_NODE_TYPES] = {NULL, NULL, NULL};
        bool receives[CG_NODE_TYPES] = {false, false, false};
        for (int r = 0; r < CG_RELATIONS; r++) receives[REL_DST[r]] |= hc_uses(m, v, l, r) && need[l][REL_DST[r]];
        cg_tensor *ti[CG_NODE_TYPES] = {NULL, NULL, NULL}; /* each recomputed row's row in the layer's input table */
        for (int t = 0; t < CG_NODE_TYPES; t++)
            if (receives[t] && cur[t].k > 0 && !(ti[t] = hc_table_rows(ctx, &cur[t], &prev[t], v->n_nodes[t], B))) return NULL;
        for (int r = 0; r < CG_RELATIONS; r++) {
            if (!hc_uses(m, v, l, r) || !need[l][REL_DST[r]]) continue;
            const cg_hc_conv *cv = &m->conv[l][r];
            const int st = REL_SRC[r], dt = REL_DST[r];
            if (cur[dt].k == 0) continue;
            cg_rel_batch *cr = hc_compact_rel(ctx, v, r, cv->gat.add_self_loops, &cur[dt], &prev[st]);
            cg_gatv2_config *gc = hc_alloc(ctx, sizeof *gc);
            if (!cr || !gc) return NULL;
            *gc = cv->gat;
            gc->add_self_loops = false; /* explicit in the compact relation */
            cg_tensor *xl = prev[st].k ? cg_concat_rows(ctx, xl_w[r], cg_linear(ctx, xc[st], cv->lin_l.weight, cv->lin_l.bias))
                                       : xl_w[r];
            cg_tensor *xr = prev[dt].k ? cg_concat_rows(ctx, xr_w[r], cg_linear(ctx, xc[dt], cv->lin_r.weight, cv->lin_r.bias))
                                       : xr_w[r];
            cg_tensor *o = cg_gatv2(ctx, xl, cg_gather_rows(ctx, xr, ti[dt]), cr->attr ? cv->lin_edge : NULL, cv->att,
                                    cv->bias, cr, gc);
            if (cv->has_proj) o = cg_linear(ctx, o, cv->proj.weight, cv->proj.bias);
            o = cg_layernorm_layer_forward(ctx, &cv->norm, o);
            o = cg_act(ctx, cfg->act, o, 0.01f);
            o = cg_dropout_rows(ctx, o, cfg->dropout, cur[dt].node, drop_op[r]);
            acc[dt] = acc[dt] ? cg_add(ctx, acc[dt], o) : o;
            if (stats) stats->edges[l][r] += cr->n_edges;
        }
        for (int t = 0; t < CG_NODE_TYPES; t++) {
            if (!receives[t]) continue; /* rows and table unchanged */
            if (cur[t].k == 0) {
                xc[t] = NULL;
            } else if (cfg->residual) {
                cg_tensor *tab = prev[t].k ? cg_concat_rows(ctx, xw_prev[t], xc[t]) : xw_prev[t];
                xc[t] = cg_add(ctx, cg_gather_rows(ctx, tab, ti[t]), acc[t]);
            } else {
                xc[t] = acc[t];
            }
        }
        for (int t = 0; t < CG_NODE_TYPES; t++) {
            prev[t] = cur[t];
            if (stats) stats->rows[l][t] = cur[t].k;
        }
        if (cg_ctx_status(ctx) != CG_OK) return NULL;
    }

    /* readout: the wildtype pooling, updated per sample (dead and changed genes out, changed rows in) */
    const int64_t N = v->n_nodes[CG_GENE];
    const hc_changed *cg = &prev[CG_GENE], *dg = &dead[CG_GENE];
    int64_t *removed_ptr = hc_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
    int32_t *removed_idx = hc_alloc(ctx, (size_t)(cg->k + dg->k + 1) * sizeof(int32_t));
    if (!removed_ptr || !removed_idx) return NULL;
    int64_t k = 0;
    for (int64_t b = 0; b < B; b++) {
        removed_ptr[b] = k;
        for (int64_t j = dg->off[b]; j < dg->off[b + 1]; j++) removed_idx[k++] = dg->node[j];
        for (int64_t j = cg->off[b]; j < cg->off[b + 1]; j++) removed_idx[k++] = cg->node[j];
    }
    removed_ptr[B] = k;
    cg_tensor *g_new, *t_new;
    uint64_t op_gate = ctx->op_counter;
    cg_tensor *g_ref = cg_mlp_forward_shared(ctx, &m->gate, xw[CG_GENE], N);
    uint64_t op_transform = ctx->op_counter;
    cg_tensor *t_ref = cg_mlp_forward_shared(ctx, &m->transform, xw[CG_GENE], N);
    if (cg->k > 0) {
        g_new = cg_mlp_forward_rows(ctx, &m->gate, xc[CG_GENE], cg->node, op_gate);
        t_new = cg_mlp_forward_rows(ctx, &m->transform, xc[CG_GENE], cg->node, op_transform);
    } else {
        g_new = cg_tensor_new2(ctx, 0, 1);
        t_new = cg_tensor_new2(ctx, 0, D);
    }
    return cg_attentional_pool_update(ctx, g_ref, t_ref, g_new, t_new, B, removed_ptr, removed_idx, cg->off);
}

cg_tensor *cg_hetero_cell_head(cg_ctx *ctx, const cg_hetero_cell *m, cg_tensor *z_w, cg_tensor *z_i, cg_tensor **z_p_out) {
    /* z_p = z_w - z_i = -(z_i - z_w), z_w broadcast over the samples */
    cg_tensor *z_p = cg_scale(ctx, cg_sub(ctx, z_i, z_w), -1.0f);
    if (z_p_out) *z_p_out = z_p;
    return cg_mlp_forward(ctx, &m->head, z_p);
}

cg_tensor *cg_hetero_cell_forward_mode(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v,
                                       cg_hc_perturbation mode, cg_tensor **z_p_out) {
    if (v->B < 2) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "hetero_cell: a batch needs the wildtype and >= 1 genotype");
    cg_tensor *z = mode == CG_HC_FULL ? cg_hetero_cell_encode(ctx, m, v) : cg_hetero_cell_encode_incremental(ctx, m, v, NULL);
    if (!z) return NULL;
    int64_t one = 1, nb = v->B - 1;
    cg_tensor *i0 = cg_tensor_new(ctx, CG_I32, 1, &one), *ib = cg_tensor_new(ctx, CG_I32, 1, &nb);
    if (!i0 || !ib) return NULL;
    cg_i32(i0)[0] = 0;
    for (int64_t b = 0; b < nb; b++) cg_i32(ib)[b] = (int32_t)(b + 1);
    return cg_hetero_cell_head(ctx, m, cg_gather_rows(ctx, z, i0), cg_gather_rows(ctx, z, ib), z_p_out);
}

cg_tensor *cg_hetero_cell_forward(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v, cg_tensor **z_p_out) {
    return cg_hetero_cell_forward_mode(ctx, m, v, CG_HC_FULL, z_p_out);
}

cg_status cg_hetero_cell_predict(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_graph *hg, const int32_t *geno,
                                 int64_t n, int64_t batch_size, cg_hc_perturbation mode, float *y) {
    if (batch_size < 1) return cg_error(CG_ERR_INVALID_ARG, "hetero_cell: batch size %lld", (long long)batch_size);
    const int64_t W = cg_deletion_words(hg->g);
    uint64_t *blocks = calloc((size_t)(batch_size + 1) * (size_t)W, sizeof *blocks);
    if (!blocks) return cg_error(CG_ERR_NOMEM, "hetero_cell: out of memory");
    const bool training = ctx->training, grad = ctx->grad_enabled;
    cg_status s = CG_OK;
    for (int64_t b0 = 0; b0 < n && s == CG_OK; b0 += batch_size) {
        int64_t nb = n - b0 < batch_size ? n - b0 : batch_size;
        memset(blocks, 0, (size_t)W * sizeof *blocks); /* sample 0: the wildtype */
        if ((s = cg_deletion_batch(hg->g, geno + 3 * b0, nb, 3, blocks + W)) != CG_OK) break;
        cg_hc_view v;
        cg_hc_view_of_graph(&v, hg, nb + 1, blocks);
        if ((s = cg_ctx_reset(ctx)) != CG_OK) break;
        ctx->training = false;
        ctx->grad_enabled = false;
        cg_tensor *out = cg_hetero_cell_forward_mode(ctx, m, &v, mode, NULL);
        if (!out) {
            s = ctx->status;
            break;
        }
        memcpy(y + 2 * b0, out->data, (size_t)nb * 2 * sizeof(float));
    }
    ctx->training = training;
    ctx->grad_enabled = grad;
    free(blocks);
    return s;
}
