/* HeteroCell's configuration: defaults, JSON parse and print (cellgraph/hetero_cell.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/hetero_cell.h"

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
                         "relations, seed, model, and the object train)", name, k);
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
        if (c->relations[r]) cJSON_AddItemToArray(rels, cJSON_CreateString(cg_relation_descs(NULL)[r].name));
    cJSON_AddItemToObject(o, "relations", rels);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    return txt;
}
