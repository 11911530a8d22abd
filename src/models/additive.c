/* The per-gene additive model (cellgraph/additive.h). */
#include "cellgraph/additive.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "core/config_file.h"

#define K CG_NUM_LABELS

_Static_assert(sizeof(cg_additive_config) <= CG_MODEL_CONFIG_BYTES, "cg_additive_config too large");

cg_additive_config cg_additive_defaults(void) { return (cg_additive_config){.mean = false}; }

cg_status cg_additive_config_parse(const char *json, const char *name, cg_additive_config *cfg) {
    *cfg = cg_additive_defaults();
    cJSON *root = NULL;
    cg_status s_json = cg_json_object_parse(json, name, &root);
    if (s_json != CG_OK) return s_json;
    cg_status s = CG_OK;
    cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;
        if (strcmp(k, "train") == 0) continue; /* the trainer's */
        if (strcmp(k, "model") == 0) {
            if (!cJSON_IsString(it) || strcmp(it->valuestring, "additive") != 0)
                s = cg_error(CG_ERR_FORMAT, "%s: key 'model': this is an additive config", name);
        } else if (strcmp(k, "aggregation") == 0) {
            if (cJSON_IsString(it) && strcmp(it->valuestring, "sum") == 0) cfg->mean = false;
            else if (cJSON_IsString(it) && strcmp(it->valuestring, "mean") == 0) cfg->mean = true;
            else s = cg_error(CG_ERR_FORMAT, "%s: key 'aggregation': expected \"sum\" or \"mean\"", name);
        } else {
            s = cg_error(CG_ERR_FORMAT, "%s: unknown key '%s' for the additive model (known: aggregation, model, "
                         "and the object train)", name, k);
        }
        if (s != CG_OK) break;
    }
    cJSON_Delete(root);
    return s;
}

char *cg_additive_config_json(const cg_additive_config *cfg) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "aggregation", cfg->mean ? "mean" : "sum");
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    return txt;
}

cg_status cg_additive_init(cg_additive *m, const cg_additive_config *cfg, int64_t n_genes) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->n_genes = n_genes;
    cg_params_init(&m->params);
    if (n_genes < 1) return cg_error(CG_ERR_INVALID_ARG, "additive: a graph without genes");
    int64_t os[2] = {n_genes, K}, bs[1] = {K};
    cg_status s = cg_params_add(&m->params, "gene_offsets.weight", 2, os, &m->offsets);
    if (s == CG_OK) s = cg_params_add(&m->params, "bias", 1, bs, &m->bias);
    if (s == CG_OK) s = cg_params_finalize(&m->params); /* zeroed: the training mean */
    if (s != CG_OK) cg_params_free(&m->params);
    return s;
}

void cg_additive_free(cg_additive *m) { cg_params_free(&m->params); }

cg_tensor *cg_additive_forward(cg_ctx *ctx, const cg_additive *m, const int32_t *geno, int64_t n) {
    if (cg_ctx_status(ctx) != CG_OK) return NULL;
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        int cnt = 0;
        for (int j = 0; j < 3; j++) {
            int32_t g = geno[3 * i + j];
            if (g < 0) continue;
            if (g >= m->n_genes)
                return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "additive: genotype %lld names gene index %d, the model "
                                   "has %lld genes", (long long)i, g, (long long)m->n_genes);
            cnt++;
        }
        if (cnt == 0) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "additive: genotype %lld deletes no gene", (long long)i);
        total += cnt;
    }
    /* the genes of all genotypes as one index list, one CSR segment per genotype */
    cg_tensor *idx = cg_tensor_new(ctx, CG_I32, 1, &total);
    cg_csr *csr = cg_arena_alloc(&ctx->arena, sizeof *csr);
    int64_t *rowptr = cg_arena_alloc(&ctx->arena, (size_t)(n + 1) * sizeof *rowptr);
    if (!idx || !csr || !rowptr) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "additive: out of memory");
    int64_t e = 0;
    rowptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < 3; j++)
            if (geno[3 * i + j] >= 0) cg_i32(idx)[e++] = geno[3 * i + j];
        rowptr[i + 1] = e;
    }
    *csr = (cg_csr){.n_rows = n, .n_cols = total, .nnz = total, .rowptr = rowptr, .col = NULL};
    /* entries are already in segment order (col unused by segment sum/mean over x in entry order) */
    int32_t *col = cg_arena_alloc(&ctx->arena, (size_t)(total + 1) * sizeof *col);
    if (!col) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "additive: out of memory");
    for (int64_t q = 0; q < total; q++) col[q] = (int32_t)q;
    csr->col = col;
    cg_tensor *rows = cg_gather_rows(ctx, m->offsets, idx); /* [total, K] */
    cg_tensor *agg = m->cfg.mean ? cg_segment_mean(ctx, rows, csr) : cg_segment_sum(ctx, rows, csr); /* [n, K] */
    return cg_add(ctx, agg, m->bias);
}

/* ------------------------------------------------------------------ the model table (cellgraph/model.h) */

static void t_defaults(void *cfg) { *(cg_additive_config *)cfg = cg_additive_defaults(); }
static cg_status t_parse(const char *json, const char *name, void *cfg) { return cg_additive_config_parse(json, name, cfg); }
static char *t_json(const void *cfg) { return cg_additive_config_json(cfg); }
static cg_status t_init(void *model, const void *cfg, const cg_graph *g) {
    return cg_additive_init(model, cfg, cg_graph_num_nodes(g, CG_GENE));
}
static void t_free(void *model) { cg_additive_free(model); }
static cg_param_store *t_params(void *model) { return &((cg_additive *)model)->params; }
static cg_status t_path_check(const void *cfg, cg_perturbation_path path, bool training) {
    return CG_OK; /* the graph is not read: every path is the same */
}
static cg_tensor *t_forward(cg_ctx *ctx, const void *model, const cg_model_batch *batch, cg_perturbation_path path,
                            cg_tensor **z_p_out) {
    if (z_p_out) *z_p_out = NULL;
    return cg_additive_forward(ctx, model, batch->geno, batch->n);
}

static void t_describe(const void *cfg, char *buf, size_t len) {
    snprintf(buf, len, "per-gene offsets, %s", ((const cg_additive_config *)cfg)->mean ? "mean" : "sum");
}

const cg_model_type cg_additive_model_type = {
    .name = "additive",
    .title = "additive",
    .config_size = sizeof(cg_additive_config),
    .model_size = sizeof(cg_additive),
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
};
