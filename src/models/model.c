/* The model interface: registry, configs, instances, the prediction loop (cellgraph/model.h). */
#include "cellgraph/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "cellgraph/deletion.h"
#include "core/config_file.h"

/* ------------------------------------------------------------------ registry */

/* each model's file defines its table */
extern const cg_model_type cg_hetero_cell_model_type;
extern const cg_model_type cg_additive_model_type;
extern const cg_model_type cg_dango_model_type;

static const cg_model_type *const TYPES[] = {&cg_hetero_cell_model_type, &cg_additive_model_type,
                                              &cg_dango_model_type};
#define N_TYPES ((int)(sizeof TYPES / sizeof *TYPES))

const cg_model_type *const *cg_model_types(int *n) {
    *n = N_TYPES;
    return TYPES;
}

const cg_model_type *cg_model_type_find(const char *name) {
    for (int i = 0; name && i < N_TYPES; i++)
        if (strcmp(TYPES[i]->name, name) == 0) return TYPES[i];
    return NULL;
}

const char *cg_model_type_names(void) { return "hetero_cell, additive, dango"; }

/* ------------------------------------------------------------------ perturbation paths */

static const char *const PERTURB_NAMES[3] = {"auto", "incremental", "full"};

bool cg_perturbation_parse(const char *s, cg_perturbation_choice *out) {
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, PERTURB_NAMES[i]) == 0) {
            *out = (cg_perturbation_choice)i;
            return true;
        }
    return false;
}

const char *cg_perturbation_name(cg_perturbation_choice c) { return (int)c >= 0 && (int)c < 3 ? PERTURB_NAMES[c] : "?"; }

const char *cg_perturbation_path_name(cg_perturbation_path p) {
    return p == CG_PATH_INCREMENTAL ? "incremental" : p == CG_PATH_FULL ? "full" : "?";
}

cg_status cg_model_resolve_path(const cg_model_config *cfg, cg_perturbation_choice c, bool training,
                                cg_perturbation_path *out) {
    *out = CG_PATH_FULL;
    if (c == CG_PERTURB_FULL) return cfg->type->path_check(cfg->data, CG_PATH_FULL, training);
    cg_status s = cfg->type->path_check(cfg->data, CG_PATH_INCREMENTAL, training);
    if (s == CG_OK) *out = CG_PATH_INCREMENTAL;
    if (c == CG_PERTURB_INCREMENTAL) return s;
    return s == CG_OK ? CG_OK : cfg->type->path_check(cfg->data, CG_PATH_FULL, training);
}

/* ------------------------------------------------------------------ configs */

void cg_model_config_defaults(cg_model_config *cfg, const cg_model_type *type) {
    memset(cfg, 0, sizeof *cfg);
    cfg->type = type;
    type->config_defaults(cfg->data);
}

cg_status cg_model_config_parse(const char *json, const char *name, cg_model_config *cfg) {
    cJSON *root = NULL;
    cg_status s_json = cg_json_object_parse(json, name, &root);
    if (s_json != CG_OK) return s_json;
    cJSON *mn = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cg_model_type *type = NULL;
    cg_status s = CG_OK;
    if (!mn)
        type = &cg_hetero_cell_model_type; /* configs and checkpoints written before the registry */
    else if (!cJSON_IsString(mn))
        s = cg_error(CG_ERR_FORMAT, "%s: key 'model': expected a model name (%s)", name, cg_model_type_names());
    else if (!(type = cg_model_type_find(mn->valuestring)))
        s = cg_error(CG_ERR_FORMAT, "%s: key 'model': unknown model '%s' (known: %s)", name, mn->valuestring,
                     cg_model_type_names());
    cJSON_Delete(root);
    if (s != CG_OK) return s;
    cg_model_config_defaults(cfg, type);
    return type->config_parse(json, name, cfg->data);
}

cg_status cg_model_config_load(const char *path, cg_model_config *cfg) {
    char *text = NULL;
    cg_status s = cg_config_file_read(path, &text);
    if (s == CG_OK) s = cg_model_config_parse(text, path, cfg);
    free(text);
    return s;
}

char *cg_model_config_json(const cg_model_config *cfg) {
    char *body = cfg->type->config_json(cfg->data);
    if (!body) return NULL;
    cJSON *o = cJSON_Parse(body), *out = cJSON_CreateObject();
    free(body);
    if (!o || !out) {
        cJSON_Delete(o);
        cJSON_Delete(out);
        return NULL;
    }
    cJSON_AddStringToObject(out, "model", cfg->type->name);
    while (o->child) {
        cJSON *it = o->child;
        cJSON_DetachItemViaPointer(o, it);
        cJSON_AddItemToObject(out, it->string, it); /* the key is kept (same string) */
    }
    cJSON_Delete(o);
    char *txt = cJSON_Print(out);
    cJSON_Delete(out);
    return txt;
}

/* ------------------------------------------------------------------ instances */

cg_status cg_model_init(cg_model *m, const cg_model_config *cfg, const cg_graph *g) {
    memset(m, 0, sizeof *m);
    m->type = cfg->type;
    m->cfg = *cfg;
    m->impl = calloc(1, cfg->type->model_size);
    if (!m->impl) return cg_error(CG_ERR_NOMEM, "%s: out of memory", cfg->type->name);
    cg_status s = cfg->type->init(m->impl, cfg->data, g);
    if (s != CG_OK) {
        free(m->impl);
        memset(m, 0, sizeof *m);
    }
    return s;
}

void cg_model_free(cg_model *m) {
    if (m->impl) {
        m->type->free(m->impl);
        free(m->impl);
    }
    memset(m, 0, sizeof *m);
}

cg_param_store *cg_model_params(cg_model *m) { return m->type->params(m->impl); }
const char *cg_model_name(const cg_model *m) { return m->type->name; }
const char *cg_model_title(const cg_model *m) { return m->type->title; }

void cg_model_cache_free(cg_model_cache *c) {
    free(c->data);
    memset(c, 0, sizeof *c);
}

cg_tensor *cg_model_forward(cg_ctx *ctx, const cg_model *m, const cg_model_batch *batch, cg_perturbation_path path,
                            cg_tensor **z_p_out) {
    if (z_p_out) *z_p_out = NULL;
    if (cg_ctx_status(ctx) != CG_OK) return NULL;
    if (batch->n < 1) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "%s: an empty batch", m->type->name);
    if (m->type->uses_graph && (!batch->view || batch->view->B != batch->n + 1))
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "%s: the batch of %lld genotypes needs a view of %lld samples "
                           "(the wildtype first)", m->type->name, (long long)batch->n, (long long)batch->n + 1);
    return m->type->forward(ctx, m->impl, batch, path, z_p_out);
}

cg_status cg_model_predict(cg_ctx *ctx, const cg_model *m, const cg_graph_index *gi, const int32_t *geno, int64_t n,
                           int64_t batch_size, cg_perturbation_path path, float *y) {
    return cg_model_predict_progress(ctx, m, gi, geno, n, batch_size, path, y, NULL, NULL);
}

cg_status cg_model_predict_progress(cg_ctx *ctx, const cg_model *m, const cg_graph_index *gi, const int32_t *geno,
                                    int64_t n, int64_t batch_size, cg_perturbation_path path, float *y,
                                    cg_progress_fn progress, void *progress_ctx) {
    cg_model_cache cache = {0}; /* the parameters do not change during the prediction */
    cg_status s = cg_model_predict_cached(ctx, m, gi, geno, n, batch_size, path, y, progress, progress_ctx, &cache);
    cg_model_cache_free(&cache);
    return s;
}

cg_status cg_model_predict_cached(cg_ctx *ctx, const cg_model *m, const cg_graph_index *gi, const int32_t *geno,
                                  int64_t n, int64_t batch_size, cg_perturbation_path path, float *y,
                                  cg_progress_fn progress, void *progress_ctx, cg_model_cache *cache) {
    if (batch_size < 1) return cg_error(CG_ERR_INVALID_ARG, "%s: batch size %lld", m->type->name, (long long)batch_size);
    const int64_t W = cg_deletion_words(gi->g);
    uint64_t *blocks = calloc((size_t)(batch_size + 1) * (size_t)W, sizeof *blocks);
    if (!blocks) return cg_error(CG_ERR_NOMEM, "%s: out of memory", m->type->name);
    const bool training = ctx->training, grad = ctx->grad_enabled;
    cg_status s = CG_OK;
    for (int64_t b0 = 0; b0 < n && s == CG_OK; b0 += batch_size) {
        int64_t nb = n - b0 < batch_size ? n - b0 : batch_size;
        /* sample 0: the wildtype; the genotypes are checked (an index outside the graph is an error)
         * whether or not the model reads the graph */
        memset(blocks, 0, (size_t)W * sizeof *blocks);
        if ((s = cg_deletion_batch(gi->g, geno + 3 * b0, nb, 3, blocks + W)) != CG_OK) break;
        cg_graph_view v;
        cg_graph_view_of(&v, gi, nb + 1, blocks);
        if ((s = cg_ctx_reset(ctx)) != CG_OK) break;
        ctx->training = false;
        ctx->grad_enabled = false;
        cg_model_batch batch = {.n = nb, .geno = geno + 3 * b0, .view = &v, .cache = cache};
        cg_tensor *out = cg_model_forward(ctx, m, &batch, path, NULL);
        if (!out) {
            s = ctx->status;
            break;
        }
        memcpy(y + CG_NUM_LABELS * b0, out->data, (size_t)nb * CG_NUM_LABELS * sizeof(float));
        if (progress) progress(progress_ctx, b0 + nb, n);
    }
    ctx->training = training;
    ctx->grad_enabled = grad;
    free(blocks);
    return s;
}

/* ------------------------------------------------------------------ helpers */

cg_tensor *cg_model_perturbation_difference(cg_ctx *ctx, cg_tensor *z) {
    if (!z) return NULL;
    const int64_t B = z->shape[0];
    if (B < 2) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "model: a batch needs the wildtype and >= 1 genotype");
    int64_t one = 1, nb = B - 1;
    cg_tensor *i0 = cg_tensor_new(ctx, CG_I32, 1, &one), *ib = cg_tensor_new(ctx, CG_I32, 1, &nb);
    if (!i0 || !ib) return NULL;
    cg_i32(i0)[0] = 0;
    for (int64_t b = 0; b < nb; b++) cg_i32(ib)[b] = (int32_t)(b + 1);
    cg_tensor *z_w = cg_gather_rows(ctx, z, i0), *z_i = cg_gather_rows(ctx, z, ib);
    /* z_p = z_w - z_i = -(z_i - z_w), z_w broadcast over the samples */
    return cg_scale(ctx, cg_sub(ctx, z_i, z_w), -1.0f);
}
