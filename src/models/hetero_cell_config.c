/* HeteroCell's configuration: defaults, JSON parse and print (cellgraph/hetero_cell.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/hetero_cell.h"
#include "core/config_file.h"

/* ------------------------------------------------------------------ configuration */

bool cg_hetero_cell_has_offsets(const cg_hetero_cell_config *cfg) {
    for (int j = 0; j < CG_NUM_LABELS; j++)
        if (cfg->gene_offsets[j] > 0.0f) return true;
    return false;
}

cg_hetero_cell_config cg_hetero_cell_defaults(void) {
    cg_hetero_cell_config c = {.hidden = 64, .layers = 2, .heads = 4, .dropout = 0.1f, .attention_dropout = 0.0f,
                               .act = CG_ACT_GELU, .hypergraph = false, .residual = true, .self_loops = true,
                               .head_layers = 2, .seed = 42, .global_head = false, .z_p_scale_alive = true,
                               .head_dropout = 0.0f, .gene_head = CG_HC_GENE_HEAD_PAIRWISE,
                               .gene_offsets = {3.0f, 0.0f, 3.0f}, .gene_embedding_std = 0.0f,
                               .identity_dropout = 0.1f, .drop_unseen = true};
    for (int r = 0; r < CG_RELATIONS; r++) c.relations[r] = true;
    return c;
}

/* the keys of form "published" (torchcell's HeteroCell); head_dropout < 0: follows "dropout" (resolved
 * after parsing) */
static void published_head(cg_hetero_cell_config *c) {
    c->residual = false;
    c->gene_offsets[0] = c->gene_offsets[1] = c->gene_offsets[2] = 0.0f;
    c->gene_embedding_std = 1.0f;
    c->identity_dropout = 0.0f;
    c->drop_unseen = false;
    c->global_head = true;
    c->z_p_scale_alive = false;
    c->head_dropout = -1.0f;
    c->gene_head = CG_HC_GENE_HEAD_NONE;
}

cg_hetero_cell_config cg_hetero_cell_published(void) {
    cg_hetero_cell_config c = cg_hetero_cell_defaults();
    published_head(&c);
    c.head_dropout = c.dropout;
    return c;
}

static const char *gene_head_names[] = {"none", "additive", "pairwise", "triple"};

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
    cJSON *root = NULL;
    cg_status s_json = cg_json_object_parse(json, name, &root);
    if (s_json != CG_OK) return s_json;
    cg_status s = CG_OK;
    /* "form" first: the preset that the other keys refine */
    cJSON *form = cJSON_GetObjectItemCaseSensitive(root, "form");
    if (form) {
        if (cJSON_IsString(form) && strcmp(form->valuestring, "published") == 0) published_head(cfg);
        else if (!cJSON_IsString(form) || strcmp(form->valuestring, "interaction") != 0)
            s = bad(name, "form", "expected \"interaction\" or \"published\"");
    }
    cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;
        if (s != CG_OK) break;
        if (strcmp(k, "form") == 0) continue;
        if (strcmp(k, "global_head") == 0) s = get_bool(it, name, k, &cfg->global_head);
        else if (strcmp(k, "head_dropout") == 0) s = get_prob(it, name, k, &cfg->head_dropout);
        else if (strcmp(k, "z_p_scale") == 0) {
            if (cJSON_IsString(it) && strcmp(it->valuestring, "alive") == 0) cfg->z_p_scale_alive = true;
            else if (cJSON_IsString(it) && strcmp(it->valuestring, "none") == 0) cfg->z_p_scale_alive = false;
            else s = bad(name, k, "expected \"alive\" or \"none\"");
        } else if (strcmp(k, "gene_head") == 0) {
            int found = -1;
            for (int j = 0; j < 4; j++)
                if (cJSON_IsString(it) && strcmp(it->valuestring, gene_head_names[j]) == 0) found = j;
            if (found < 0) s = bad(name, k, "expected \"none\", \"additive\", \"pairwise\" or \"triple\"");
            else cfg->gene_head = (cg_hc_gene_head)found;
        } else if (strcmp(k, "gene_embedding_std") == 0) {
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble <= 1000))
                s = bad(name, k, "expected a number in [0, 1000]");
            else
                cfg->gene_embedding_std = (float)it->valuedouble;
        } else if (strcmp(k, "gene_offsets") == 0) {
            /* one scale for every label, or [fitness, epsilon, tau] */
            const bool arr = cJSON_IsArray(it) && cJSON_GetArraySize(it) == CG_NUM_LABELS;
            for (int j = 0; j < CG_NUM_LABELS && s == CG_OK; j++) {
                cJSON *e = arr ? cJSON_GetArrayItem(it, j) : it;
                if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1000))
                    s = bad(name, k, "expected a number in [0, 1000] or an array of 3 (fitness, epsilon, tau)");
                else
                    cfg->gene_offsets[j] = (float)e->valuedouble;
            }
        } else if (strcmp(k, "identity_dropout") == 0) s = get_prob(it, name, k, &cfg->identity_dropout);
        else if (strcmp(k, "drop_unseen") == 0) s = get_bool(it, name, k, &cfg->drop_unseen);
        else if (strcmp(k, "hidden_channels") == 0) s = get_int(it, name, k, 1, 4096, &cfg->hidden);
        else if (strcmp(k, "num_layers") == 0) s = get_int(it, name, k, 1, CG_HC_MAX_LAYERS, &cfg->layers);
        else if (strcmp(k, "heads") == 0) s = get_int(it, name, k, 1, 256, &cfg->heads);
        else if (strcmp(k, "head_num_layers") == 0) s = get_int(it, name, k, 1, CG_MLP_MAX_LAYERS, &cfg->head_layers);
        else if (strcmp(k, "dropout") == 0) s = get_prob(it, name, k, &cfg->dropout);
        else if (strcmp(k, "attention_dropout") == 0) s = get_prob(it, name, k, &cfg->attention_dropout);
        else if (strcmp(k, "residual") == 0) s = get_bool(it, name, k, &cfg->residual);
        else if (strcmp(k, "self_loops") == 0) s = get_bool(it, name, k, &cfg->self_loops);
        else if (strcmp(k, "seed") == 0) {
            if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble <= 9e15) ||
                it->valuedouble != floor(it->valuedouble))
                s = bad(name, k, "expected an integer in [0, 9e15]"); /* 1e300 would not fit uint64 */
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
                if (r < 0 || r >= CG_RELATIONS) {
                    s = cg_error(CG_ERR_FORMAT, "%s: key 'relations': unknown relation '%s' (known: physical, "
                                 "regulatory, gpr, gpr_rev, rmr, rmr_rev)", name,
                                 cJSON_IsString(e) ? e->valuestring : "(not a string)");
                    break;
                }
                cfg->relations[r] = true;
            }
        } else if (strcmp(k, "train") == 0) {
            /* the training settings (cellgraph/trainer.h) share the file */
        } else if (strcmp(k, "model") == 0) {
            if (!cJSON_IsString(it) || strcmp(it->valuestring, "hetero_cell") != 0)
                s = bad(name, k, "this is a hetero_cell config (see cellgraph/model.h for the others)");
        } else {
            s = cg_error(CG_ERR_FORMAT, "%s: unknown key '%s' (known: hidden_channels, num_layers, heads, dropout, "
                         "attention_dropout, activation, metabolism, residual, self_loops, head_num_layers, "
                         "relations, seed, form, global_head, z_p_scale, head_dropout, gene_head, gene_embedding_std, "
                         "identity_dropout, gene_offsets, drop_unseen, model, and "
                         "the object train)", name, k);
        }
    }
    cJSON_Delete(root);
    if (cfg->head_dropout < 0.0f) cfg->head_dropout = cfg->dropout;
    if (s == CG_OK && !cfg->global_head && cfg->gene_head == CG_HC_GENE_HEAD_NONE)
        s = cg_error(CG_ERR_FORMAT, "%s: global_head false and gene_head \"none\" leave the model without a head", name);
    if (s == CG_OK && cg_hetero_cell_has_offsets(cfg) && cfg->gene_head == CG_HC_GENE_HEAD_NONE)
        s = cg_error(CG_ERR_FORMAT, "%s: gene_offsets needs a gene_head (the deleted genes are read there)", name);
    if (s == CG_OK && cfg->drop_unseen && !cg_hetero_cell_has_offsets(cfg))
        s = cg_error(CG_ERR_FORMAT, "%s: drop_unseen needs gene_offsets > 0 (a zero offsets row marks an unseen gene)", name);
    if (s == CG_OK && cfg->hidden % cfg->heads != 0)
        s = cg_error(CG_ERR_FORMAT, "%s: hidden_channels %d is not a multiple of heads %d", name, cfg->hidden, cfg->heads);
    if (s == CG_OK && cfg->hidden < 2)
        s = cg_error(CG_ERR_FORMAT, "%s: hidden_channels must be at least 2 (the readout gate is D/2 wide)", name);
    return s;
}

cg_status cg_hetero_cell_config_load(const char *path, cg_hetero_cell_config *cfg) {
    char *text = NULL;
    cg_status s = cg_config_file_read(path, &text);
    if (s == CG_OK) s = cg_hetero_cell_config_parse(text, path, cfg);
    free(text);
    return s;
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
        if (c->relations[r]) cJSON_AddItemToArray(rels, cJSON_CreateString(cg_relation_descs(NULL)[r].name));
    cJSON_AddItemToObject(o, "relations", rels);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddStringToObject(o, "form", "interaction"); /* the preset; every head key follows explicitly */
    cJSON_AddBoolToObject(o, "global_head", c->global_head);
    cJSON_AddStringToObject(o, "z_p_scale", c->z_p_scale_alive ? "alive" : "none");
    cJSON_AddNumberToObject(o, "head_dropout", c->head_dropout);
    cJSON_AddStringToObject(o, "gene_head", gene_head_names[c->gene_head]);
    cJSON_AddNumberToObject(o, "gene_embedding_std", c->gene_embedding_std);
    cJSON_AddNumberToObject(o, "identity_dropout", c->identity_dropout);
    cJSON *offs = cJSON_CreateArray();
    for (int j = 0; j < CG_NUM_LABELS; j++) cJSON_AddItemToArray(offs, cJSON_CreateNumber(c->gene_offsets[j]));
    cJSON_AddItemToObject(o, "gene_offsets", offs);
    cJSON_AddBoolToObject(o, "drop_unseen", c->drop_unseen);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    return txt;
}
