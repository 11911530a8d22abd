/* Training loop, evaluation and checkpoints (cellgraph/trainer.h). */
#include "cellgraph/trainer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cellgraph/autograd.h"
#include "cellgraph/deletion.h"
#include "cellgraph/rng.h"
#include "cellgraph/safetensors.h"
#include "core/config_file.h"

#define CKPT_FORMAT "cellgraph.checkpoint/1"
#define OPT_FORMAT "cellgraph.optimizer/1"
#define K CG_NUM_LABELS

/* ------------------------------------------------------------------ configuration */

cg_train_config cg_train_defaults(void) {
    return (cg_train_config){.epochs = 10, .max_minutes = 0, .batch_size = 16, .split = CG_SPLIT_RANDOM, .seed = 42,
                             .lr = 1e-3, .weight_decay = 1e-2, .warmup_fraction = 0.005, .min_lr_ratio = 0.01,
                             .grad_clip = 1.0, .plateau_factor = 0.5, .plateau_patience = 2, .early_stopping = 5,
                             .lambda_dist = 0, .lambda_supcr = 0, .supcr_temperature = 0.1,
                             .label_weights = {1.0f, 1.0f, 1.0f}, .max_val_samples = 512, .max_train_samples = 0, .max_steps = 0, .val_every = 0,
                             .perturbation = CG_PERTURB_AUTO, .ensemble = 1};
}

/* The one set of bounds of the training settings: the config parser, the command line (through
 * cg_train_config_check) and the checkpoint reader all use it. */
#define B_EPOCHS 1, CG_TRAIN_MAX_EPOCHS
#define B_MINUTES 0, CG_TRAIN_MAX_MINUTES
#define B_BATCH 1, CG_TRAIN_MAX_BATCH
#define B_SEED 0, (double)CG_TRAIN_MAX_SEED
#define B_STEPS 0, (double)CG_TRAIN_MAX_STEPS

static cg_status num(cJSON *v, const char *name, const char *key, double lo, double hi, double *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return cg_error(CG_ERR_FORMAT, "%s: train.%s: expected a number in [%g, %g]", name, key, lo, hi);
    *out = v->valuedouble;
    return CG_OK;
}

cg_status cg_train_config_parse(const char *json, const char *name, cg_train_config *cfg) {
    *cfg = cg_train_defaults();
    cJSON *root = NULL;
    cg_status s_json = cg_json_object_parse(json, name, &root);
    if (s_json != CG_OK) return s_json;
    cJSON *tr = cJSON_GetObjectItem(root, "train");
    cg_status s = CG_OK;
    if (tr && !cJSON_IsObject(tr)) s = cg_error(CG_ERR_FORMAT, "%s: 'train' must be an object", name);
    cJSON *it;
    double v = 0;
    if (s == CG_OK && tr)
        cJSON_ArrayForEach(it, tr) {
            const char *k = it->string;
            if (s != CG_OK) break;
            if (strcmp(k, "epochs") == 0) {
                if ((s = num(it, name, k, B_EPOCHS, &v)) == CG_OK) cfg->epochs = (int)v;
            } else if (strcmp(k, "max_minutes") == 0) {
                s = num(it, name, k, B_MINUTES, &cfg->max_minutes);
            } else if (strcmp(k, "batch_size") == 0) {
                if ((s = num(it, name, k, B_BATCH, &v)) == CG_OK) cfg->batch_size = (int)v;
            } else if (strcmp(k, "split") == 0) {
                if (!cJSON_IsString(it) || !cg_split_kind_parse(it->valuestring, &cfg->split))
                    s = cg_error(CG_ERR_FORMAT, "%s: train.split: expected \"random\", \"gene1\", \"gene2\" or \"query\"", name);
            } else if (strcmp(k, "perturbation") == 0) {
                if (!cJSON_IsString(it) || !cg_perturbation_parse(it->valuestring, &cfg->perturbation))
                    s = cg_error(CG_ERR_FORMAT, "%s: train.perturbation: expected \"auto\", \"incremental\" or \"full\"", name);
            } else if (strcmp(k, "seed") == 0) {
                if ((s = num(it, name, k, B_SEED, &v)) == CG_OK) cfg->seed = (uint64_t)v;
            } else if (strcmp(k, "lr") == 0) s = num(it, name, k, 0, 10, &cfg->lr);
            else if (strcmp(k, "weight_decay") == 0) s = num(it, name, k, 0, 10, &cfg->weight_decay);
            else if (strcmp(k, "warmup_fraction") == 0) s = num(it, name, k, 0, 1, &cfg->warmup_fraction);
            else if (strcmp(k, "min_lr_ratio") == 0) s = num(it, name, k, 0, 1, &cfg->min_lr_ratio);
            else if (strcmp(k, "grad_clip") == 0) s = num(it, name, k, 0, 1e6, &cfg->grad_clip);
            else if (strcmp(k, "plateau_factor") == 0) s = num(it, name, k, 0, 1, &cfg->plateau_factor);
            else if (strcmp(k, "plateau_patience") == 0) {
                if ((s = num(it, name, k, 0, 1e6, &v)) == CG_OK) cfg->plateau_patience = (int)v;
            } else if (strcmp(k, "early_stopping") == 0) {
                if ((s = num(it, name, k, 0, 1e6, &v)) == CG_OK) cfg->early_stopping = (int)v;
            } else if (strcmp(k, "lambda_dist") == 0) s = num(it, name, k, 0, 1e6, &cfg->lambda_dist);
            else if (strcmp(k, "lambda_supcr") == 0) s = num(it, name, k, 0, 1e6, &cfg->lambda_supcr);
            else if (strcmp(k, "supcr_temperature") == 0) s = num(it, name, k, 1e-6, 1e6, &cfg->supcr_temperature);
            else if (strcmp(k, "max_val_samples") == 0) {
                if ((s = num(it, name, k, 0, 1e12, &v)) == CG_OK) cfg->max_val_samples = (int64_t)v;
            } else if (strcmp(k, "max_train_samples") == 0) {
                if ((s = num(it, name, k, 0, 1e12, &v)) == CG_OK) cfg->max_train_samples = (int64_t)v;
            } else if (strcmp(k, "max_steps") == 0) {
                if ((s = num(it, name, k, B_STEPS, &v)) == CG_OK) cfg->max_steps = (int64_t)v;
            } else if (strcmp(k, "val_every") == 0) {
                if ((s = num(it, name, k, 0, 1e12, &v)) == CG_OK) cfg->val_every = (int64_t)v;
            } else if (strcmp(k, "loss") == 0) {
                if (cJSON_IsString(it) && strcmp(it->valuestring, "mse") == 0) cfg->logcosh = false;
                else if (cJSON_IsString(it) && strcmp(it->valuestring, "logcosh") == 0) cfg->logcosh = true;
                else s = cg_error(CG_ERR_FORMAT, "%s: train.loss: expected \"mse\" or \"logcosh\"", name);
            } else if (strcmp(k, "ensemble") == 0) {
                if ((s = num(it, name, k, 1, CG_TRAIN_MAX_ENSEMBLE, &v)) == CG_OK) cfg->ensemble = (int)v;
            } else if (strcmp(k, "pvalue_weights") == 0) {
                if (!cJSON_IsBool(it)) s = cg_error(CG_ERR_FORMAT, "%s: train.pvalue_weights: expected true or false", name);
                else cfg->pvalue_weights = cJSON_IsTrue(it);
            } else if (strcmp(k, "label_weights") == 0) {
                /* [fitness, epsilon, tau]; a pre-0.2 pair [fitness, gene_interaction] weighs epsilon and tau alike */
                const int na = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : -1;
                if (na != K && na != 2)
                    s = cg_error(CG_ERR_FORMAT, "%s: train.label_weights: expected [fitness, epsilon, tau]", name);
                for (int j = 0; s == CG_OK && j < na; j++)
                    if ((s = num(cJSON_GetArrayItem(it, j), name, k, 0, 1e6, &v)) == CG_OK) cfg->label_weights[j] = (float)v;
                if (s == CG_OK && na == 2) cfg->label_weights[CG_LABEL_TAU] = cfg->label_weights[CG_LABEL_EPSILON];
            } else {
                s = cg_error(CG_ERR_FORMAT, "%s: unknown key 'train.%s'", name, k);
            }
        }
    cJSON_Delete(root);
    return s;
}

/* whole-number check of a bounded value */
static cg_status check_int(const char *name, const char *key, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi) || v != floor(v))
        return cg_error(CG_ERR_FORMAT, "%s: train.%s: expected an integer in [%g, %g], got %g", name, key, lo, hi, v);
    return CG_OK;
}

cg_status cg_train_config_check(const cg_train_config *c, const char *name) {
    cg_status s = check_int(name, "epochs", c->epochs, B_EPOCHS);
    if (s == CG_OK) s = check_int(name, "batch_size", c->batch_size, B_BATCH);
    if (s == CG_OK && !(c->max_minutes >= 0 && c->max_minutes <= CG_TRAIN_MAX_MINUTES))
        s = cg_error(CG_ERR_FORMAT, "%s: train.max_minutes: expected a number in [0, 1e7], got %g", name, c->max_minutes);
    if (s == CG_OK) s = check_int(name, "seed", (double)c->seed, B_SEED);
    if (s == CG_OK) s = check_int(name, "max_steps", (double)c->max_steps, B_STEPS);
    if (s == CG_OK) s = check_int(name, "val_every", (double)c->val_every, B_STEPS);
    return s;
}

cg_status cg_train_config_load(const char *path, cg_train_config *cfg) {
    char *text = NULL;
    cg_status s = cg_config_file_read(path, &text);
    if (s == CG_OK) s = cg_train_config_parse(text, path, cfg);
    free(text);
    return s;
}

char *cg_train_config_json(const cg_train_config *c) {
    cJSON *o = cJSON_CreateObject(), *w = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "epochs", c->epochs);
    cJSON_AddNumberToObject(o, "max_minutes", c->max_minutes);
    cJSON_AddNumberToObject(o, "batch_size", c->batch_size);
    cJSON_AddStringToObject(o, "split", cg_split_kind_name(c->split));
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddNumberToObject(o, "lr", c->lr);
    cJSON_AddNumberToObject(o, "weight_decay", c->weight_decay);
    cJSON_AddNumberToObject(o, "warmup_fraction", c->warmup_fraction);
    cJSON_AddNumberToObject(o, "min_lr_ratio", c->min_lr_ratio);
    cJSON_AddNumberToObject(o, "grad_clip", c->grad_clip);
    cJSON_AddNumberToObject(o, "plateau_factor", c->plateau_factor);
    cJSON_AddNumberToObject(o, "plateau_patience", c->plateau_patience);
    cJSON_AddNumberToObject(o, "early_stopping", c->early_stopping);
    cJSON_AddNumberToObject(o, "lambda_dist", c->lambda_dist);
    cJSON_AddNumberToObject(o, "lambda_supcr", c->lambda_supcr);
    cJSON_AddNumberToObject(o, "supcr_temperature", c->supcr_temperature);
    for (int k = 0; k < K; k++) cJSON_AddItemToArray(w, cJSON_CreateNumber(c->label_weights[k]));
    cJSON_AddItemToObject(o, "label_weights", w);
    cJSON_AddStringToObject(o, "loss", c->logcosh ? "logcosh" : "mse");
    cJSON_AddBoolToObject(o, "pvalue_weights", c->pvalue_weights);
    cJSON_AddNumberToObject(o, "ensemble", c->ensemble);
    cJSON_AddNumberToObject(o, "max_val_samples", (double)c->max_val_samples);
    cJSON_AddNumberToObject(o, "max_train_samples", (double)c->max_train_samples);
    cJSON_AddNumberToObject(o, "max_steps", (double)c->max_steps);
    cJSON_AddNumberToObject(o, "val_every", (double)c->val_every);
    cJSON_AddStringToObject(o, "perturbation", cg_perturbation_name(c->perturbation));
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "train", o);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return txt;
}

/* ------------------------------------------------------------------ setup */

static uint32_t dataset_checksum(const cg_dataset *d) {
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, (const Bytef *)d->genotype, (uInt)(d->n * 3 * sizeof(int32_t)));
    c = crc32(c, (const Bytef *)d->label, (uInt)(d->n * K * sizeof(float)));
    for (int s = 0; s < CG_SPLIT_KINDS; s++) c = crc32(c, (const Bytef *)d->split[s], (uInt)(d->n * sizeof(int32_t)));
    return (uint32_t)c;
}


static int64_t epoch_samples(const cg_trainer *t) {
    return t->cfg.max_train_samples > 0 && t->cfg.max_train_samples < t->n_train ? t->cfg.max_train_samples : t->n_train;
}

/* this epoch's order: the training samples shuffled by (seed, epoch) */
static void make_order(cg_trainer *t) {
    memcpy(t->order, t->train_idx, (size_t)t->n_train * sizeof *t->order);
    cg_rng_shuffle_i64(t->order, t->n_train, t->cfg.seed, 100000 + (uint64_t)t->epoch);
}

cg_status cg_trainer_init(cg_trainer *t, cg_model *m, const cg_graph *g, const cg_dataset *d,
                          const cg_train_config *cfg) {
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    t->model = m;
    t->graph = g;
    t->data = d;
    if (d->n_genes != cg_graph_num_nodes(g, CG_GENE))
        return cg_error(CG_ERR_INVALID_ARG, "trainer: the dataset indexes %lld genes, the graph has %lld",
                        (long long)d->n_genes, (long long)cg_graph_num_nodes(g, CG_GENE));
    cg_genes *genes = NULL;
    cg_status s = cg_graph_genes(g, &genes);
    if (s != CG_OK) return s;
    uint32_t gcrc = cg_genes_checksum(genes);
    cg_genes_free(genes);
    if (gcrc != d->genes_checksum)
        return cg_error(CG_ERR_INVALID_ARG, "trainer: the dataset was built for another gene table (crc32 %08x, the "
                        "graph's is %08x): rebuild it with --graph", d->genes_checksum, gcrc);
    if ((s = cg_model_resolve_path(&m->cfg, cfg->perturbation, true, &t->mode_train)) != CG_OK ||
        (s = cg_model_resolve_path(&m->cfg, cfg->perturbation, false, &t->mode_eval)) != CG_OK)
        return cg_error_wrap(s, "trainer: train.perturbation \"%s\"", cg_perturbation_name(cfg->perturbation));
    if (cfg->lambda_supcr > 0 && !m->type->uses_graph)
        return cg_error(CG_ERR_INVALID_ARG, "trainer: train.lambda_supcr needs a graph embedding, which the model "
                        "\"%s\" does not have", m->type->name);
    t->graph_checksum = cg_graph_checksum(g);
    t->dataset_checksum = dataset_checksum(d);
    const int32_t *split = d->split[cfg->split];
    int64_t n[4] = {0}; /* train, val, test, none */
    for (int64_t i = 0; i < d->n; i++) n[(unsigned)split[i] <= CG_SPLIT_NONE ? split[i] : CG_SPLIT_NONE]++;
    t->train_idx = malloc(((size_t)n[0] + 1) * sizeof(int64_t));
    t->val_idx = malloc(((size_t)n[1] + 1) * sizeof(int64_t));
    t->test_idx = malloc(((size_t)n[2] + 1) * sizeof(int64_t));
    t->order = malloc(((size_t)n[0] + 1) * sizeof(int64_t));
    int64_t W = cg_deletion_words(g);
    t->blocks = malloc((size_t)(cfg->batch_size + 1) * (size_t)W * sizeof(uint64_t));
    t->target = malloc((size_t)cfg->batch_size * K * sizeof(float));
    t->sample_weight = malloc((size_t)cfg->batch_size * K * sizeof(float));
    t->geno = malloc((size_t)cfg->batch_size * 3 * sizeof(int32_t));
    if (!t->train_idx || !t->val_idx || !t->test_idx || !t->order || !t->blocks || !t->target || !t->sample_weight ||
        !t->geno) {
        cg_trainer_free(t);
        return cg_error(CG_ERR_NOMEM, "trainer: out of memory");
    }
    for (int64_t i = 0; i < d->n; i++) {
        if (split[i] != CG_SPLIT_TRAIN && split[i] != CG_SPLIT_VAL && split[i] != CG_SPLIT_TEST) continue;
        int64_t *dst = split[i] == CG_SPLIT_TRAIN ? t->train_idx : split[i] == CG_SPLIT_VAL ? t->val_idx : t->test_idx;
        int64_t *cnt = split[i] == CG_SPLIT_TRAIN ? &t->n_train : split[i] == CG_SPLIT_VAL ? &t->n_val : &t->n_test;
        dst[(*cnt)++] = i;
    }
    /* validation on a fixed seeded subset when asked */
    cg_rng_shuffle_i64(t->val_idx, t->n_val, cfg->seed, 200000);
    if (cfg->max_val_samples > 0 && cfg->max_val_samples < t->n_val) t->n_val = cfg->max_val_samples;
    if (t->n_train == 0) {
        cg_trainer_free(t);
        return cg_error(CG_ERR_INVALID_ARG, "trainer: the %s split has no training samples", cg_split_kind_name(cfg->split));
    }
    for (int k = 0; k < K; k++) {
        const cg_label_stats *st = &d->stats[cfg->split][k];
        t->label_mean[k] = st->count > 0 ? (float)st->mean : 0.0f;
        t->label_std[k] = st->count > 1 && st->std > 0 ? (float)st->std : 1.0f;
    }
    if (cfg->lambda_dist > 0) {
        /* DistLoss tables from the z-scored training labels, one per label */
        float *z = malloc(((size_t)t->n_train + 1) * sizeof *z);
        if (!z) {
            cg_trainer_free(t);
            return cg_error(CG_ERR_NOMEM, "trainer: out of memory");
        }
        for (int k = 0; k < K && s == CG_OK; k++) {
            for (int64_t i = 0; i < t->n_train; i++) {
                float v = d->label[t->train_idx[i] * K + k];
                z[i] = isnan(v) ? NAN : (v - t->label_mean[k]) / t->label_std[k];
            }
            s = cg_dist_table_build(&t->dist[k], z, t->n_train, 1, 0.0, 0);
        }
        free(z);
        if (s != CG_OK) {
            cg_trainer_free(t);
            return s;
        }
        t->have_dist = true;
    }
    cg_optim_config oc = cg_optim_defaults(CG_OPTIM_ADAMW);
    oc.lr = cfg->lr;
    oc.weight_decay = cfg->weight_decay;
    if ((s = cg_optim_create(&t->opt, cg_model_params(m), &oc)) != CG_OK || (s = cg_graph_index_init(&t->gi, g)) != CG_OK ||
        (s = cg_ctx_init(&t->ctx, 0, cfg->seed)) != CG_OK) {
        cg_trainer_free(t);
        return s;
    }
    int64_t per_epoch = (epoch_samples(t) + cfg->batch_size - 1) / cfg->batch_size;
    t->planned_steps = per_epoch * cfg->epochs;
    if (cfg->max_steps > 0 && cfg->max_steps < t->planned_steps) t->planned_steps = cfg->max_steps; /* the schedule ends with the budget */
    t->plateau_scale = 1.0;
    t->best_val = INFINITY;
    t->best_epoch = -1;
    for (int j = 0; j < CG_TRAIN_MAX_ENSEMBLE; j++) t->ens_val[j] = INFINITY;
    make_order(t);
    return CG_OK;
}

void cg_trainer_free(cg_trainer *t) {
    free(t->train_idx);
    free(t->val_idx);
    free(t->test_idx);
    free(t->order);
    free(t->blocks);
    free(t->target);
    free(t->sample_weight);
    free(t->geno);
    if (t->opt.state) cg_optim_free(&t->opt);
    cg_graph_index_free(&t->gi);
    cg_ctx_free(&t->ctx);
    for (int k = 0; k < K; k++) cg_dist_table_free(&t->dist[k]);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ steps */

static double schedule(const cg_trainer *t) {
    double total = (double)(t->planned_steps > 0 ? t->planned_steps : 1), s = (double)t->step;
    double warm = fmax(1.0, t->cfg.warmup_fraction * total), f;
    if (s < warm)
        f = (s + 1.0) / warm;
    else {
        double p = fmin(1.0, (s - warm) / fmax(1.0, total - warm));
        f = t->cfg.min_lr_ratio + (1.0 - t->cfg.min_lr_ratio) * 0.5 * (1.0 + cos(M_PI * p));
    }
    return t->cfg.lr * f * t->plateau_scale;
}

/* forward of a batch of samples: y [n, K] z-scored predictions (and z_p [n, D] for models that have it);
 * NULL on error */
static cg_tensor *batch_forward(cg_trainer *t, const int64_t *samples, int64_t n, cg_tensor **z_p, cg_model_cache *cache) {
    const cg_dataset *d = t->data;
    for (int64_t b = 0; b < n; b++) memcpy(t->geno + 3 * b, d->genotype + 3 * samples[b], 3 * sizeof(int32_t));
    cg_model_batch batch = {.n = n, .geno = t->geno, .view = NULL, .cache = cache};
    if (t->model->type->uses_graph) {
        int64_t W = cg_deletion_words(t->graph);
        memset(t->blocks, 0, (size_t)W * sizeof(uint64_t)); /* sample 0: the wildtype */
        for (int64_t b = 0; b < n; b++)
            if (cg_deletion_compute(t->graph, t->geno + 3 * b, 3, t->blocks + (b + 1) * W) != CG_OK) {
                cg_ctx_fail(&t->ctx, cg_last_status(), "trainer: sample %lld: %s", (long long)samples[b], cg_last_error());
                return NULL;
            }
        /* the view must outlive backward: it lives in the trainer */
        cg_graph_view_of(&t->view, &t->gi, n + 1, t->blocks);
        batch.view = &t->view;
    }
    return cg_model_forward(&t->ctx, t->model, &batch, t->ctx.training ? t->mode_train : t->mode_eval, z_p);
}

static void fill_targets(const cg_trainer *t, const int64_t *samples, int64_t n) {
    for (int64_t b = 0; b < n; b++)
        for (int k = 0; k < K; k++) {
            float v = t->data->label[samples[b] * K + k];
            t->target[b * K + k] = isnan(v) ? NAN : (v - t->label_mean[k]) / t->label_std[k];
            /* DANGO's sample weight -log10(p + 1e-15); 1 without a p-value (a p of exactly 1 weighs 0) */
            const float p = t->data->label_p[samples[b] * K + k];
            t->sample_weight[b * K + k] = isfinite(p) && p >= 0.0f ? (float)-log10((double)p + 1e-15) : 1.0f;
            if (!(t->sample_weight[b * K + k] >= 0.0f)) t->sample_weight[b * K + k] = 0.0f; /* p > 1 - 1e-15 */
        }
}

/* the training loss (z units): label-weighted NaN-masked MSE (or LogCosh) + lambda_dist DistLoss +
 * lambda_supcr SupCR */
static cg_tensor *loss_of(cg_trainer *t, cg_tensor *y, cg_tensor *z_p, int64_t n) {
    cg_ctx *ctx = &t->ctx;
    cg_tensor *tt = cg_tensor_wrap2(ctx, n, K, t->target);
    cg_tensor *l = cg_composite_loss_base(ctx, t->cfg.logcosh, y, tt, t->cfg.pvalue_weights ? t->sample_weight : NULL, z_p,
                                          t->cfg.label_weights, (float)t->cfg.lambda_dist,
                                     t->have_dist ? t->dist : NULL, (float)t->cfg.lambda_supcr,
                                     (float)t->cfg.supcr_temperature, NULL);
    cg_tensor *aux = l && t->model->type->aux_loss ? t->model->type->aux_loss(ctx, t->model->impl) : NULL; /* e.g. DANGO's reconstruction */
    return aux ? cg_add(ctx, l, aux) : cg_ctx_status(ctx) == CG_OK ? l : NULL;
}

cg_status cg_trainer_step(cg_trainer *t, float *loss, bool *epoch_done) {
    int64_t total = epoch_samples(t);
    int64_t n = total - t->epoch_pos < t->cfg.batch_size ? total - t->epoch_pos : t->cfg.batch_size;
    *epoch_done = false;
    if (n <= 0) {
        *epoch_done = true;
        return CG_OK;
    }
    const int64_t *samples = t->order + t->epoch_pos;
    cg_ctx *ctx = &t->ctx;
    cg_status s = cg_ctx_reset(ctx);
    if (s != CG_OK) return s;
    ctx->step = (uint64_t)t->step; /* dropout streams are a function of the global step */
    ctx->training = true;
    ctx->grad_enabled = true;
    cg_params_zero_grad(cg_model_params(t->model));
    fill_targets(t, samples, n);
    cg_tensor *z_p = NULL;
    cg_tensor *y = batch_forward(t, samples, n, &z_p, NULL);
    cg_tensor *l = y ? loss_of(t, y, z_p, n) : NULL;
    if (!l) return cg_ctx_status(ctx) != CG_OK ? ctx->status : cg_error(CG_ERR_STATE, "trainer: empty loss");
    if ((s = cg_backward(ctx, l)) != CG_OK) return s;
    if (t->cfg.grad_clip > 0) {
        float norm;
        if ((s = cg_clip_grad_norm(cg_model_params(t->model), (float)t->cfg.grad_clip, &norm)) != CG_OK) return s;
    }
    t->lr_now = schedule(t);
    t->opt.lr = t->lr_now;
    if ((s = cg_optim_step(&t->opt, cg_model_params(t->model))) != CG_OK) return s;
    *loss = cg_f32(l)[0];
    t->step++;
    t->epoch_pos += n;
    *epoch_done = t->epoch_pos >= total;
    return CG_OK;
}

void cg_trainer_next_epoch(cg_trainer *t) {
    t->epoch++;
    t->epoch_pos = 0;
    make_order(t);
}

cg_status cg_trainer_predict_samples(cg_trainer *t, const int64_t *samples, int64_t n, float *pred, double *loss) {
    cg_ctx *ctx = &t->ctx;
    double sse[K] = {0};
    int64_t cnt[K] = {0};
    cg_model_cache cache = {0}; /* the parameters do not change during the prediction */
    for (int64_t b0 = 0; b0 < n; b0 += t->cfg.batch_size) {
        int64_t nb = n - b0 < t->cfg.batch_size ? n - b0 : t->cfg.batch_size;
        cg_status s = cg_ctx_reset(ctx);
        if (s == CG_OK) {
            ctx->training = false;
            ctx->grad_enabled = false;
        }
        cg_tensor *y = s == CG_OK ? batch_forward(t, samples + b0, nb, NULL, &cache) : NULL;
        if (!y) {
            cg_model_cache_free(&cache);
            return s != CG_OK ? s : ctx->status;
        }
        fill_targets(t, samples + b0, nb);
        for (int64_t b = 0; b < nb; b++)
            for (int k = 0; k < K; k++) {
                float z = cg_f32(y)[b * K + k];
                pred[(b0 + b) * K + k] = z * t->label_std[k] + t->label_mean[k];
                float tz = t->target[b * K + k];
                if (!isnan(tz)) sse[k] += (double)(z - tz) * (z - tz), cnt[k]++;
            }
        if (t->progress) t->progress(t->progress_ctx, b0 + nb, n);
    }
    cg_model_cache_free(&cache);
    ctx->grad_enabled = true;
    /* the training loss's MSE term over these samples: sum over labels of weight x per-label mean */
    double l = 0;
    bool any = false;
    for (int k = 0; k < K; k++)
        if (cnt[k]) l += t->cfg.label_weights[k] * sse[k] / (double)cnt[k], any = true;
    if (loss) *loss = any ? l : NAN;
    return CG_OK;
}

int cg_trainer_ensemble_slot(cg_trainer *t, double val_loss) {
    if (t->cfg.ensemble <= 1 || !isfinite(val_loss)) return -1;
    int worst = 0;
    for (int j = 1; j < t->cfg.ensemble; j++)
        if (t->ens_val[j] > t->ens_val[worst]) worst = j;
    if (!(val_loss < t->ens_val[worst])) return -1;
    t->ens_val[worst] = val_loss;
    return worst;
}

bool cg_trainer_note_val(cg_trainer *t, double val_loss) {
    if (!(val_loss < t->best_val)) return false;
    t->best_val = val_loss;
    t->best_epoch = t->epoch;
    return true;
}

void cg_trainer_end_epoch(cg_trainer *t, double val_loss, bool *improved, bool *stop) {
    *improved = val_loss < t->best_val;
    if (*improved) {
        t->best_val = val_loss;
        t->best_epoch = t->epoch;
        t->bad_epochs = 0;
    } else {
        t->bad_epochs++;
        if (t->cfg.plateau_patience > 0 && t->bad_epochs % t->cfg.plateau_patience == 0)
            t->plateau_scale *= t->cfg.plateau_factor; /* ReduceLROnPlateau */
    }
    *stop = t->cfg.early_stopping > 0 && t->bad_epochs >= t->cfg.early_stopping;
}

/* ------------------------------------------------------------------ checkpoints */

static uint32_t params_crc(const cg_param_store *ps) {
    uLong c = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < ps->count; i++)
        c = crc32(c, (const Bytef *)ps->tensors[i]->data, (uInt)(ps->tensors[i]->numel * sizeof(float)));
    return (uint32_t)c;
}

static cg_status set_meta_num(cg_safetensors_writer *w, const char *key, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cg_safetensors_writer_set_metadata(w, key, buf);
}

cg_status cg_trainer_save(const cg_trainer *t, const char *dir, const char *tag) {
    char path[4096];
    const cg_param_store *ps = cg_model_params(t->model);
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    cg_status s = CG_OK;
    for (int i = 0; i < ps->count && s == CG_OK; i++) s = cg_safetensors_writer_add_tensor(&w, NULL, ps->tensors[i]);
    char *mc = cg_model_config_json(&t->model->cfg), *tc = cg_train_config_json(&t->cfg);
    char stats[512], hex[16];
    int off = snprintf(stats, sizeof stats, "{");
    for (int k = 0; k < K; k++)
        off += snprintf(stats + off, sizeof stats - (size_t)off, "%s\"%s\":{\"mean\":%.9g,\"std\":%.9g}", k ? "," : "",
                        cg_label_name((cg_label)k), t->label_mean[k], t->label_std[k]);
    snprintf(stats + off, sizeof stats - (size_t)off, "}");
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "format", CKPT_FORMAT);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "model", mc ? mc : "{}");
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "train", tc ? tc : "{}");
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "label_statistics", stats);
    snprintf(hex, sizeof hex, "%08x", t->graph_checksum);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "graph_checksum", hex);
    snprintf(hex, sizeof hex, "%08x", t->dataset_checksum);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "dataset_checksum", hex);
    snprintf(hex, sizeof hex, "%08x", params_crc(ps));
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "params_crc32", hex);
    if (s == CG_OK) s = set_meta_num(&w, "epoch", t->epoch);
    if (s == CG_OK) s = set_meta_num(&w, "epoch_pos", (double)t->epoch_pos);
    if (s == CG_OK) s = set_meta_num(&w, "step", (double)t->step);
    if (s == CG_OK) s = set_meta_num(&w, "plateau_scale", t->plateau_scale);
    if (s == CG_OK) s = set_meta_num(&w, "bad_epochs", t->bad_epochs);
    if (s == CG_OK) s = set_meta_num(&w, "best_val", t->best_val);
    if (s == CG_OK) s = set_meta_num(&w, "best_epoch", t->best_epoch);
    if (s == CG_OK && t->cfg.ensemble > 1) {
        char ens[CG_TRAIN_MAX_ENSEMBLE * 26 + 4];
        int eo = snprintf(ens, sizeof ens, "[");
        for (int j = 0; j < t->cfg.ensemble; j++)
            eo += isfinite(t->ens_val[j]) ? snprintf(ens + eo, sizeof ens - (size_t)eo, "%s%.17g", j ? "," : "", t->ens_val[j])
                                          : snprintf(ens + eo, sizeof ens - (size_t)eo, "%snull", j ? "," : "");
        snprintf(ens + eo, sizeof ens - (size_t)eo, "]");
        s = cg_safetensors_writer_set_metadata(&w, "ensemble_val", ens); /* null: an empty slot */
    }
    free(mc);
    free(tc);
    const bool last = strcmp(tag, "last") == 0;
    /* "last" is a pair (parameters and optimizer state of one step) with one commit point: the optimizer
     * state goes to optimizer_next first, then checkpoint_last is renamed into place (the commit), then
     * optimizer_next becomes optimizer_last. A crash at any instant leaves a checkpoint_last whose step
     * one of optimizer_last / optimizer_next has (cg_trainer_resume picks it). Each file itself is written
     * to a temporary name and renamed (cg_safetensors_writer_write). */
    char opt_next[4096], opt_last[4096];
    snprintf(opt_next, sizeof opt_next, "%s/optimizer_next.safetensors", dir);
    snprintf(opt_last, sizeof opt_last, "%s/optimizer_last.safetensors", dir);
    if (s == CG_OK && last) {
        /* optimizer state: AdamW moments laid out like the parameter block, and the step count */
        cg_safetensors_writer ow;
        cg_safetensors_writer_init(&ow);
        int64_t n = ps->total;
        s = cg_safetensors_writer_add(&ow, "exp_avg", CG_ST_F32, 1, &n, t->opt.exp_avg);
        if (s == CG_OK) s = cg_safetensors_writer_add(&ow, "exp_avg_sq", CG_ST_F32, 1, &n, t->opt.exp_avg_sq);
        if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&ow, "format", OPT_FORMAT);
        if (s == CG_OK) s = set_meta_num(&ow, "t", (double)t->opt.t);
        if (s == CG_OK) s = set_meta_num(&ow, "step", (double)t->step);
        if (s == CG_OK) s = cg_safetensors_writer_write(&ow, opt_next);
        cg_safetensors_writer_free(&ow);
    }
    snprintf(path, sizeof path, "%s/checkpoint_%s.safetensors", dir, tag);
    if (s == CG_OK) s = cg_safetensors_writer_write(&w, path);
    cg_safetensors_writer_free(&w);
    if (s != CG_OK || !last) return s;
    if (rename(opt_next, opt_last) != 0)
        return cg_error(CG_ERR_IO, "%s: cannot rename to %s: %s (the run resumes from %s)", opt_next, opt_last,
                        strerror(errno), opt_next);
    return CG_OK;
}

static double meta_num(const cg_safetensors *st, const char *key, bool *ok) {
    const char *v = cg_safetensors_metadata(st, key);
    if (!v) {
        *ok = false;
        return NAN;
    }
    return strtod(v, NULL);
}

cg_status cg_checkpoint_info_read(const char *path, cg_checkpoint_info *info) {
    memset(info, 0, sizeof *info);
    cg_safetensors *st = NULL;
    cg_status s = cg_safetensors_open(path, &st);
    if (s != CG_OK) return s;
    const char *fmt = cg_safetensors_metadata(st, "format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0) s = cg_error(CG_ERR_FORMAT, "%s: not a cellgraph checkpoint", path);
    if (s == CG_OK) {
        /* HeteroCell checkpoints written before the head keys existed (no "form") are the published form */
        const char *mj = cg_safetensors_metadata(st, "model");
        cJSON *mo = cJSON_Parse(mj ? mj : "");
        cJSON *mn = cJSON_GetObjectItemCaseSensitive(mo, "model");
        if (cJSON_IsObject(mo) && !cJSON_GetObjectItemCaseSensitive(mo, "form") &&
            (!mn || (cJSON_IsString(mn) && strcmp(mn->valuestring, "hetero_cell") == 0))) {
            cJSON_AddStringToObject(mo, "form", "published");
            char *fixed = cJSON_PrintUnformatted(mo);
            s = fixed ? cg_model_config_parse(fixed, path, &info->model) : cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
            free(fixed);
        } else {
            s = cg_model_config_parse(mj ? mj : "", path, &info->model);
        }
        cJSON_Delete(mo);
    }
    if (s == CG_OK) s = cg_train_config_parse(cg_safetensors_metadata(st, "train") ? cg_safetensors_metadata(st, "train") : "", path, &info->train);
    if (s == CG_OK) {
        cJSON *ls = cJSON_Parse(cg_safetensors_metadata(st, "label_statistics") ? cg_safetensors_metadata(st, "label_statistics") : "");
        /* a checkpoint of the pooled labels (fitness, gene_interaction) written before epsilon and tau were
         * separate: its interaction output serves both (cg_checkpoint_load_params duplicates it) */
        info->legacy_labels = cJSON_GetObjectItem(ls, "gene_interaction") && !cJSON_GetObjectItem(ls, "epsilon");
        for (int k = 0; k < K; k++) {
            cJSON *o = cJSON_GetObjectItem(ls, info->legacy_labels && k != CG_LABEL_FITNESS ? "gene_interaction"
                                                                                            : cg_label_name(k));
            cJSON *m = cJSON_GetObjectItem(o, "mean"), *sd = cJSON_GetObjectItem(o, "std");
            if (!cJSON_IsNumber(m) || !cJSON_IsNumber(sd)) {
                s = cg_error(CG_ERR_FORMAT, "%s: metadata label_statistics is missing %s", path, cg_label_name(k));
                break;
            }
            info->label_mean[k] = (float)m->valuedouble;
            info->label_std[k] = (float)sd->valuedouble;
        }
        cJSON_Delete(ls);
    }
    const char *gc = cg_safetensors_metadata(st, "graph_checksum"), *dc = cg_safetensors_metadata(st, "dataset_checksum");
    if (s == CG_OK && (!gc || !dc)) s = cg_error(CG_ERR_FORMAT, "%s: metadata lacks the graph or dataset checksum", path);
    if (s == CG_OK) {
        info->graph_checksum = (uint32_t)strtoul(gc, NULL, 16);
        info->dataset_checksum = (uint32_t)strtoul(dc, NULL, 16);
        /* not covered by the parameter CRC: checked before the casts (a NaN or 1e300 cast to an integer is
         * undefined); absent (older files): 0. The bounds are those of cg_trainer_resume. */
        bool has_epoch = true, has_step = true;
        double epoch = meta_num(st, "epoch", &has_epoch), step = meta_num(st, "step", &has_step);
        if (has_epoch && !(epoch >= 0 && epoch <= 1e6 && epoch == floor(epoch)))
            s = cg_error(CG_ERR_FORMAT, "%s: metadata epoch '%s' is not a whole number in [0, 1e6]", path,
                         cg_safetensors_metadata(st, "epoch"));
        else if (has_step && !(step >= 0 && step <= 1e15 && step == floor(step)))
            s = cg_error(CG_ERR_FORMAT, "%s: metadata step '%s' is not a whole number in [0, 1e15]", path,
                         cg_safetensors_metadata(st, "step"));
        else {
            info->epoch = has_epoch ? (int)epoch : 0;
            info->step = has_step ? (int64_t)step : 0;
        }
    }
    cg_safetensors_close(st);
    return s;
}

/* A pre-0.2 checkpoint's output layer has 2 rows (fitness, gene_interaction) where the model has K
 * (fitness, epsilon, tau): t [2, ...] goes to p [3, ...] with the interaction row copied to epsilon and tau. */
static bool legacy_output(const cg_tensor *t, const cg_tensor *p) {
    return t->ndim == p->ndim && t->shape[0] == 2 && p->shape[0] == K && t->numel / 2 == p->numel / K;
}

cg_status cg_checkpoint_load_params(const char *path, cg_model *m) {
    cg_safetensors *st = NULL;
    cg_status s = cg_safetensors_open(path, &st);
    if (s != CG_OK) return s;
    const char *ls = cg_safetensors_metadata(st, "label_statistics");
    const bool legacy = ls && strstr(ls, "\"gene_interaction\"") && !strstr(ls, "\"epsilon\"");
    cg_param_store *ps = cg_model_params(m);
    uLong file_crc = crc32(0L, Z_NULL, 0); /* over the file's tensors, in the model's order */
    for (int i = 0; i < ps->count && s == CG_OK; i++) {
        cg_tensor *p = ps->tensors[i];
        cg_tensor t;
        const cg_status gs = cg_safetensors_get_tensor(st, p->name, &t);
        if (gs == CG_ERR_NOT_FOUND) {
            s = cg_error(CG_ERR_FORMAT, "%s: parameter '%s' is missing (a checkpoint of another model config?)", path,
                         p->name);
            break;
        }
        if (gs != CG_OK) { /* present but unusable (an unsupported dtype, misaligned data): the reader's reason */
            char why[512];
            snprintf(why, sizeof why, "%s", cg_last_error());
            s = cg_error(CG_ERR_FORMAT, "%s: parameter '%s' cannot be read: %s", path, p->name, why);
            break;
        }
        if (t.dtype != CG_F32) {
            s = cg_error(CG_ERR_FORMAT, "%s: parameter '%s' is %s, the model's parameters are float32", path, p->name,
                         t.dtype == CG_I32 ? "int32" : "not float32");
            break;
        }
        file_crc = crc32(file_crc, (const Bytef *)t.data, (uInt)(t.numel * sizeof(float)));
        if (legacy && t.numel != p->numel && legacy_output(&t, p)) {
            const int64_t row = p->numel / K;
            memcpy(p->data, t.data, (size_t)(2 * row) * sizeof(float));
            memcpy((float *)p->data + 2 * row, (const float *)t.data + row, (size_t)row * sizeof(float));
            continue;
        }
        if (t.numel != p->numel) {
            s = cg_error(CG_ERR_FORMAT, "%s: parameter '%s' has %lld elements, the model %lld", path, p->name,
                         (long long)t.numel, (long long)p->numel);
            break;
        }
        memcpy(p->data, t.data, (size_t)p->numel * sizeof(float));
    }
    const char *crc = cg_safetensors_metadata(st, "params_crc32");
    if (s == CG_OK && (!crc || (uint32_t)strtoul(crc, NULL, 16) != (uint32_t)file_crc))
        s = cg_error(CG_ERR_FORMAT, "%s: corrupted checkpoint: the parameters' CRC-32 does not match the metadata (%s)",
                     path, crc ? crc : "missing");
    if (s == CG_OK && cg_safetensors_count(st) != ps->count)
        s = cg_error(CG_ERR_FORMAT, "%s: %d tensors, the model has %d parameters", path, cg_safetensors_count(st), ps->count);
    cg_safetensors_close(st);
    return s;
}

/* the "step" of an optimizer state file, NaN when it cannot be read (missing, foreign, damaged) */
static double optimizer_step(const char *path) {
    cg_safetensors *st = NULL;
    if (cg_safetensors_open(path, &st) != CG_OK) return NAN;
    const char *fmt = cg_safetensors_metadata(st, "format");
    bool ok = fmt && strcmp(fmt, OPT_FORMAT) == 0;
    double step = ok ? meta_num(st, "step", &ok) : NAN;
    cg_safetensors_close(st);
    return ok ? step : NAN;
}

cg_status cg_trainer_resume(cg_trainer *t, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/checkpoint_last.safetensors", dir);
    cg_checkpoint_info info;
    cg_status s = cg_checkpoint_info_read(path, &info);
    if (s != CG_OK) return s;
    if (info.legacy_labels)
        return cg_error(CG_ERR_FORMAT, "%s: a checkpoint of the pooled gene_interaction label (before epsilon and tau "
                        "were separate) cannot be resumed; predict and eval still use it, or train anew", path);
    if (info.model.type != t->model->type)
        return cg_error(CG_ERR_FORMAT, "%s: a checkpoint of the model \"%s\", this run trains \"%s\"", path,
                        info.model.type->name, t->model->type->name);
    if (info.graph_checksum != t->graph_checksum)
        return cg_error(CG_ERR_FORMAT, "%s: the checkpoint was trained on another graph (checksum %08x, this graph %08x)",
                        path, info.graph_checksum, t->graph_checksum);
    if (info.dataset_checksum != t->dataset_checksum)
        return cg_error(CG_ERR_FORMAT, "%s: the checkpoint was trained on another dataset (checksum %08x, this one %08x)",
                        path, info.dataset_checksum, t->dataset_checksum);
    if ((s = cg_checkpoint_load_params(path, t->model)) != CG_OK) return s;
    cg_safetensors *st = NULL;
    if ((s = cg_safetensors_open(path, &st)) != CG_OK) return s;
    /* progress metadata is not covered by the parameter CRC: every value is checked before it is used */
    bool ok = true;
    const double epoch = meta_num(st, "epoch", &ok), epoch_pos = meta_num(st, "epoch_pos", &ok),
                 step = meta_num(st, "step", &ok), plateau = meta_num(st, "plateau_scale", &ok),
                 bad = meta_num(st, "bad_epochs", &ok), best_val = meta_num(st, "best_val", &ok),
                 best_epoch = meta_num(st, "best_epoch", &ok);
    double ens[CG_TRAIN_MAX_ENSEMBLE];
    for (int j = 0; j < CG_TRAIN_MAX_ENSEMBLE; j++) ens[j] = INFINITY;
    const char *ens_txt = cg_safetensors_metadata(st, "ensemble_val");
    if (ens_txt && t->cfg.ensemble > 1) { /* [loss or null per slot]; absent (older files): every slot empty */
        cJSON *a = cJSON_Parse(ens_txt);
        bool good = cJSON_IsArray(a) && cJSON_GetArraySize(a) == t->cfg.ensemble;
        for (int j = 0; good && j < t->cfg.ensemble; j++) {
            const cJSON *it = cJSON_GetArrayItem(a, j);
            if (cJSON_IsNull(it)) continue;
            good = cJSON_IsNumber(it) && it->valuedouble >= 0 && isfinite(it->valuedouble);
            if (good) ens[j] = it->valuedouble;
        }
        cJSON_Delete(a);
        if (!good) {
            cg_safetensors_close(st);
            return cg_error(CG_ERR_FORMAT, "%s: metadata ensemble_val = %.80s, expected %d losses >= 0 or null", path,
                            ens_txt, t->cfg.ensemble);
        }
    }
    cg_safetensors_close(st);
    if (!ok) return cg_error(CG_ERR_FORMAT, "%s: the checkpoint lacks progress metadata", path);
    const struct { const char *key; double v, lo, hi; } fields[] = {
        {"epoch", epoch, 0, 1e6},       {"epoch_pos", epoch_pos, 0, (double)epoch_samples(t)},
        {"step", step, 0, 1e15},        {"bad_epochs", bad, 0, 1e6},
        {"best_epoch", best_epoch, -1, epoch},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (!(fields[i].v >= fields[i].lo && fields[i].v <= fields[i].hi) || fields[i].v != floor(fields[i].v))
            return cg_error(CG_ERR_FORMAT, "%s: metadata %s = %g, expected an integer in [%g, %g]", path, fields[i].key,
                            fields[i].v, fields[i].lo, fields[i].hi);
    if (!(plateau > 0 && plateau <= 1))
        return cg_error(CG_ERR_FORMAT, "%s: metadata plateau_scale = %g, expected a number in (0, 1]", path, plateau);
    if (isnan(best_val) || best_val < 0)
        return cg_error(CG_ERR_FORMAT, "%s: metadata best_val = %g, expected a number >= 0 (or inf)", path, best_val);
    t->epoch = (int)epoch;
    t->epoch_pos = (int64_t)epoch_pos;
    t->step = (int64_t)step;
    t->plateau_scale = plateau;
    t->bad_epochs = (int)bad;
    t->best_val = best_val;
    t->best_epoch = (int)best_epoch;
    memcpy(t->ens_val, ens, sizeof ens);
    /* the optimizer state of the checkpoint's step: optimizer_last, or optimizer_next when a save stopped
     * between its commit (checkpoint_last) and the final rename (cg_trainer_save) */
    snprintf(path, sizeof path, "%s/optimizer_next.safetensors", dir);
    if (optimizer_step(path) == (double)t->step) {
        char last_path[4096];
        snprintf(last_path, sizeof last_path, "%s/optimizer_last.safetensors", dir);
        if (optimizer_step(last_path) != (double)t->step && rename(path, last_path) != 0)
            return cg_error(CG_ERR_IO, "%s: cannot rename to %s: %s", path, last_path, strerror(errno));
    }
    snprintf(path, sizeof path, "%s/optimizer_last.safetensors", dir);
    if ((s = cg_safetensors_open(path, &st)) != CG_OK) return s;
    cg_safetensors_info a, b;
    int64_t n = cg_model_params(t->model)->total;
    const char *fmt = cg_safetensors_metadata(st, "format");
    if (!fmt || strcmp(fmt, OPT_FORMAT) != 0 || cg_safetensors_find(st, "exp_avg", &a) != CG_OK ||
        cg_safetensors_find(st, "exp_avg_sq", &b) != CG_OK || a.numel != n || b.numel != n ||
        a.dtype != CG_ST_F32 || b.dtype != CG_ST_F32)
        s = cg_error(CG_ERR_FORMAT, "%s: not the optimizer state of this model", path);
    double tt = meta_num(st, "t", &ok), st_step = meta_num(st, "step", &ok);
    if (s == CG_OK && (!(tt >= 0 && tt <= 1e15) || tt != floor(tt)))
        s = cg_error(CG_ERR_FORMAT, "%s: metadata t = %g, expected an integer in [0, 1e15]", path, tt);
    if (s == CG_OK && (!ok || !(st_step >= 0 && st_step <= 1e15) || (int64_t)st_step != t->step))
        s = cg_error(CG_ERR_FORMAT, "%s: optimizer state of step %.0f, the checkpoint is at step %lld", path, st_step,
                     (long long)t->step);
    if (s == CG_OK) {
        memcpy(t->opt.exp_avg, a.data, (size_t)n * sizeof(float));
        memcpy(t->opt.exp_avg_sq, b.data, (size_t)n * sizeof(float));
        t->opt.t = (int64_t)tt;
    }
    cg_safetensors_close(st);
    if (s == CG_OK) make_order(t);
    return s;
}
