/* DANGO's configuration (cellgraph/dango.h): defaults, JSON parse and print. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/dango.h"
#include "core/config_file.h"

_Static_assert(sizeof(cg_dango_config) <= CG_MODEL_CONFIG_BYTES, "cg_dango_config too large");

/* DANGO's file order (train.py): coexpression, experimental, database, neighborhood, fusion, cooccurence;
 * experimental is the project's physical relation, coexpression Hu 2007 (docs/models.md) */
static const char *const DEFAULT_NETWORKS[6] = {"coexpression", "physical", "string9_database",
                                                "string9_neighborhood", "string9_fusion", "string9_cooccurence"};
static const float DEFAULT_LAMBDA[6] = {0.1f, 0.1f, 1.0f, 1.0f, 1.0f, 1.0f};

cg_dango_config cg_dango_defaults(void) {
    cg_dango_config c = {.hidden_channels = 128, .heads = 8, .num_samples = 5, .released_head = false,
                         .dropout_attention = 0.3f, .dropout_ffn = 0.4f, .dropout_out = 0.25f, .recon_beta = 0.001,
                         .recon_genes = 960, .pretrain_epochs = 40, .pretrain_batch_size = 96, .seed = 42,
                         .n_networks = 6};
    for (int g = 0; g < 6; g++) {
        snprintf(c.networks[g], sizeof c.networks[g], "%s", DEFAULT_NETWORKS[g]);
        c.recon_weights[g] = DEFAULT_LAMBDA[g];
    }
    return c;
}

static cg_status number(cJSON *it, const char *name, double lo, double hi, bool integer, double *out) {
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= lo && it->valuedouble <= hi) ||
        (integer && it->valuedouble != floor(it->valuedouble)))
        return cg_error(CG_ERR_FORMAT, "%s: key '%s': expected %s in [%g, %g]", name, it->string,
                        integer ? "an integer" : "a number", lo, hi);
    *out = it->valuedouble;
    return CG_OK;
}

cg_status cg_dango_config_parse(const char *json, const char *name, cg_dango_config *cfg) {
    *cfg = cg_dango_defaults();
    cJSON *root = NULL;
    cg_status s_json = cg_json_object_parse(json, name, &root);
    if (s_json != CG_OK) return s_json;
    cg_status s = CG_OK;
    bool lambda_given = false;
    int n_lambda = 0;
    float lambda[CG_DANGO_MAX_NETWORKS] = {0};
    cJSON *it;
    double v = 0;
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;
        if (strcmp(k, "train") == 0) continue; /* the trainer's */
        if (strcmp(k, "model") == 0) {
            if (!cJSON_IsString(it) || strcmp(it->valuestring, "dango") != 0)
                s = cg_error(CG_ERR_FORMAT, "%s: key 'model': this is a dango config", name);
        } else if (strcmp(k, "hidden_channels") == 0) {
            if ((s = number(it, name, 1, 4096, true, &v)) == CG_OK) cfg->hidden_channels = (int)v;
        } else if (strcmp(k, "heads") == 0) {
            if ((s = number(it, name, 1, 64, true, &v)) == CG_OK) cfg->heads = (int)v;
        } else if (strcmp(k, "num_samples") == 0) {
            if ((s = number(it, name, 0, 1e6, true, &v)) == CG_OK) cfg->num_samples = (int)v;
        } else if (strcmp(k, "released_head") == 0) {
            if (!cJSON_IsBool(it)) s = cg_error(CG_ERR_FORMAT, "%s: key 'released_head': expected true or false", name);
            else cfg->released_head = cJSON_IsTrue(it);
        } else if (strcmp(k, "dropout_attention") == 0) {
            if ((s = number(it, name, 0, 0.999, false, &v)) == CG_OK) cfg->dropout_attention = (float)v;
        } else if (strcmp(k, "dropout_ffn") == 0) {
            if ((s = number(it, name, 0, 0.999, false, &v)) == CG_OK) cfg->dropout_ffn = (float)v;
        } else if (strcmp(k, "dropout_out") == 0) {
            if ((s = number(it, name, 0, 0.999, false, &v)) == CG_OK) cfg->dropout_out = (float)v;
        } else if (strcmp(k, "recon_beta") == 0) {
            if ((s = number(it, name, 0, 1e6, false, &v)) == CG_OK) cfg->recon_beta = v;
        } else if (strcmp(k, "recon_genes") == 0) {
            if ((s = number(it, name, 1, 1e6, true, &v)) == CG_OK) cfg->recon_genes = (int)v;
        } else if (strcmp(k, "pretrain_epochs") == 0) {
            if ((s = number(it, name, 0, 1e6, true, &v)) == CG_OK) cfg->pretrain_epochs = (int)v;
        } else if (strcmp(k, "pretrain_batch_size") == 0) {
            if ((s = number(it, name, 1, 4096, true, &v)) == CG_OK) cfg->pretrain_batch_size = (int)v;
        } else if (strcmp(k, "seed") == 0) {
            if ((s = number(it, name, 0, 9e15, true, &v)) == CG_OK) cfg->seed = (uint64_t)v;
        } else if (strcmp(k, "networks") == 0) {
            int n = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : -1;
            if (n < 1 || n > CG_DANGO_MAX_NETWORKS)
                s = cg_error(CG_ERR_FORMAT, "%s: key 'networks': expected an array of 1..%d relation names", name,
                             CG_DANGO_MAX_NETWORKS);
            for (int g = 0; s == CG_OK && g < n; g++) {
                cJSON *e = cJSON_GetArrayItem(it, g);
                if (!cJSON_IsString(e) || !*e->valuestring || strlen(e->valuestring) >= sizeof cfg->networks[g])
                    s = cg_error(CG_ERR_FORMAT, "%s: key 'networks': item %d is not a relation name", name, g);
                for (int h = 0; s == CG_OK && h < g; h++)
                    if (strcmp(cfg->networks[h], e->valuestring) == 0)
                        s = cg_error(CG_ERR_FORMAT, "%s: key 'networks': '%s' named twice", name, e->valuestring);
                if (s == CG_OK) snprintf(cfg->networks[g], sizeof cfg->networks[g], "%s", e->valuestring);
            }
            if (s == CG_OK) cfg->n_networks = n;
        } else if (strcmp(k, "recon_weights") == 0) {
            n_lambda = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : -1;
            if (n_lambda < 1 || n_lambda > CG_DANGO_MAX_NETWORKS)
                s = cg_error(CG_ERR_FORMAT, "%s: key 'recon_weights': expected an array of numbers, one per network", name);
            for (int g = 0; s == CG_OK && g < n_lambda; g++) {
                cJSON *e = cJSON_GetArrayItem(it, g);
                if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1e6))
                    s = cg_error(CG_ERR_FORMAT, "%s: key 'recon_weights': item %d: expected a number in [0, 1e6]", name, g);
                else lambda[g] = (float)e->valuedouble;
            }
            lambda_given = true;
        } else {
            s = cg_error(CG_ERR_FORMAT, "%s: unknown key '%s' for the dango model (known: hidden_channels, heads, "
                         "num_samples, released_head, dropout_attention, dropout_ffn, dropout_out, recon_beta, "
                         "recon_genes, pretrain_epochs, pretrain_batch_size, seed, networks, recon_weights, model, and the object train)", name, k);
        }
        if (s != CG_OK) break;
    }
    cJSON_Delete(root);
    if (s != CG_OK) return s;
    if (lambda_given) {
        if (n_lambda != cfg->n_networks)
            return cg_error(CG_ERR_FORMAT, "%s: key 'recon_weights': %d weights for %d networks", name, n_lambda,
                            cfg->n_networks);
        memcpy(cfg->recon_weights, lambda, sizeof lambda);
    } else if (cfg->n_networks != 6) {
        for (int g = 0; g < cfg->n_networks; g++) cfg->recon_weights[g] = 1.0f; /* DANGO's lambdas are per channel */
    }
    return CG_OK;
}

char *cg_dango_config_json(const cg_dango_config *c) {
    cJSON *o = cJSON_CreateObject(), *nets = cJSON_CreateArray(), *lam = cJSON_CreateArray();
    if (!o || !nets || !lam) {
        cJSON_Delete(o);
        cJSON_Delete(nets);
        cJSON_Delete(lam);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "hidden_channels", c->hidden_channels);
    cJSON_AddNumberToObject(o, "heads", c->heads);
    cJSON_AddNumberToObject(o, "num_samples", c->num_samples);
    cJSON_AddBoolToObject(o, "released_head", c->released_head);
    cJSON_AddNumberToObject(o, "dropout_attention", c->dropout_attention);
    cJSON_AddNumberToObject(o, "dropout_ffn", c->dropout_ffn);
    cJSON_AddNumberToObject(o, "dropout_out", c->dropout_out);
    cJSON_AddNumberToObject(o, "recon_beta", c->recon_beta);
    cJSON_AddNumberToObject(o, "recon_genes", c->recon_genes);
    cJSON_AddNumberToObject(o, "pretrain_epochs", c->pretrain_epochs);
    cJSON_AddNumberToObject(o, "pretrain_batch_size", c->pretrain_batch_size);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    for (int g = 0; g < c->n_networks; g++) {
        cJSON_AddItemToArray(nets, cJSON_CreateString(c->networks[g]));
        cJSON_AddItemToArray(lam, cJSON_CreateNumber(c->recon_weights[g]));
    }
    cJSON_AddItemToObject(o, "networks", nets);
    cJSON_AddItemToObject(o, "recon_weights", lam);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    return txt;
}
