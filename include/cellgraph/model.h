/* cellgraph/model.h: the interface every model implements, and the registry of models by name
 * (DESIGN.md section 5).
 *
 * A model is a table of functions (cg_model_type) registered under a name ("hetero_cell", "additive").
 * The trainer, `eval`, `predict` and `screen` know only this interface; a particular model's header is
 * included by that model's own files and its tests, nowhere else.
 *
 * Config: one JSON object. The key "model" names the model (absent: "hetero_cell", so configs and
 * checkpoints written before the registry keep working); the object "train" belongs to the trainer
 * (cellgraph/trainer.h); every other key belongs to the model, and a key the model does not know is an
 * error naming the file and the key. Checkpoints store the config with its "model" key.
 *
 * Forward: a batch is n genotypes on the one shared graph. Models that run on the graph read the view
 * (cellgraph/graph_view.h: B = n + 1 samples, sample 0 the wildtype, sample 1 + i genotype i); models
 * that only need the genes' identities read geno. The output is y [n, CG_NUM_LABELS] in z units (labels
 * standardised with the training split's statistics) and, for models that have one, the graph
 * embedding z_p [n, D] (z_p = z_w - z_i), which SupCR needs.
 *
 * Perturbation paths: how the deleted genes of a batch are evaluated on the graph. "incremental" (one
 * wildtype pass, then only the rows a deletion can change) and "full" (every node of every sample) are
 * the same function; a model says which it supports for a config.
 */
#ifndef CELLGRAPH_MODEL_H
#define CELLGRAPH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cellgraph/graph_view.h"
#include "cellgraph/params.h"
#include "cellgraph/phenotypes.h"
#include "cellgraph/tape.h"

typedef enum cg_perturbation_path {
    CG_PATH_INCREMENTAL = 0, /* the default where supported */
    CG_PATH_FULL = 1         /* every node of every sample (the reference path) */
} cg_perturbation_path;

/* What the user asks for: "auto" = incremental when the model supports it for the config (in training
 * or evaluation), else full. */
typedef enum cg_perturbation_choice { CG_PERTURB_AUTO, CG_PERTURB_INCREMENTAL, CG_PERTURB_FULL } cg_perturbation_choice;

/* Parses "auto" | "incremental" | "full"; false for anything else. */
bool cg_perturbation_parse(const char *s, cg_perturbation_choice *out);
const char *cg_perturbation_name(cg_perturbation_choice c);
/* "incremental" | "full" */
const char *cg_perturbation_path_name(cg_perturbation_path p);

/* One batch: n genotypes as gene indices geno [n, 3] (-1 padded), and the view of the graph with the
 * wildtype at sample 0 and genotype i at sample 1 + i (view->B == n + 1; models that do not use the
 * graph accept view == NULL). */
/* What a model may keep across the batches of one prediction while its parameters do not change
 * (evaluation mode only; forward ignores it in training): HeteroCell without its global head keeps the
 * wildtype pass's gene rows, the same for every batch, so that a prediction of many batches runs that
 * pass once. Owned by the caller: start it zeroed ({0}) for each prediction, release it with
 * cg_model_cache_free. Reusing one after the parameters changed would give stale predictions. */
typedef struct cg_model_cache {
    float *data;        /* malloc'd by the model */
    int64_t rows, cols;
    bool valid;
} cg_model_cache;
void cg_model_cache_free(cg_model_cache *c);

typedef struct cg_model_batch {
    int64_t n;
    const int32_t *geno;
    const cg_graph_view *view;
    cg_model_cache *cache; /* optional (NULL: none) */
} cg_model_batch;

/* The largest model config (bytes); configs are values (copied, never freed). */
#define CG_MODEL_CONFIG_BYTES 4096

typedef struct cg_model_type cg_model_type;

/* Called after each of `epochs` epochs of a model's own loop (pre-training) with the epoch's mean loss. */
typedef void (*cg_epoch_progress_fn)(int epoch, int epochs, double loss, void *arg);

/* A model's configuration: its type and the type's config struct, stored inline. */
typedef struct cg_model_config {
    const cg_model_type *type;
    _Alignas(16) unsigned char data[CG_MODEL_CONFIG_BYTES];
} cg_model_config;

/* A model instance: its type, config and the type's model struct (impl, owned). */
typedef struct cg_model {
    const cg_model_type *type;
    cg_model_config cfg;
    void *impl;
} cg_model;

/* The table of functions a model provides. cfg / model arguments point to the type's own structs
 * (config_size and model_size bytes). */
struct cg_model_type {
    const char *name;   /* registry key and config value: "hetero_cell" */
    const char *title;  /* in reports: "HeteroCell" */
    size_t config_size; /* <= CG_MODEL_CONFIG_BYTES */
    size_t model_size;
    /* the defaults */
    void (*config_defaults)(void *cfg);
    /* JSON text -> config, starting from the defaults; the keys "model" and "train" are skipped; an unknown
     * key or a bad value is CG_ERR_FORMAT naming `name` (the file) and the key */
    cg_status (*config_parse)(const char *json, const char *name, void *cfg);
    /* config -> a cJSON object's text without the "model" key (malloc'd) */
    char *(*config_json)(const void *cfg);
    /* registers and initialises every parameter for graph g (node counts, relations) */
    cg_status (*init)(void *model, const void *cfg, const cg_graph *g);
    void (*free)(void *model);
    cg_param_store *(*params)(void *model);
    /* CG_OK when the model can run on `path` for cfg (training: whether the step trains), else
     * CG_ERR_INVALID_ARG saying why */
    cg_status (*path_check)(const void *cfg, cg_perturbation_path path, bool training);
    /* y [n, CG_NUM_LABELS] (z units) for a batch; *z_p_out (optional) receives the graph embedding
     * [n, D], or NULL when the model has none. NULL on error (status in ctx). Tensors and the batch must
     * stay valid until backward has run. */
    cg_tensor *(*forward)(cg_ctx *ctx, const void *model, const cg_model_batch *batch, cg_perturbation_path path,
                          cg_tensor **z_p_out);
    /* whether forward reads batch->view (false: the caller may skip building it) */
    bool uses_graph;
    /* optional: a short description of cfg for the training banner ("D 64, L 2, 4 heads, bipartite") */
    void (*describe)(const void *cfg, char *buf, size_t len);
    /* optional: optional graph relations the model needs (NULL-terminated names for cg_graph_build_ex, "all"
     * = every optional relation); NULL = the default graph. The CLI loads a graph with them. */
    const char *const *needs_relations;
    /* optional: an auxiliary training loss [1] added to the trainer's loss each training step (after
     * forward, same ctx; e.g. DANGO's reconstruction), or NULL for none this step (status in ctx on error) */
    cg_tensor *(*aux_loss)(cg_ctx *ctx, const void *model);
    /* optional: whether forward evaluates the perturbed genotypes on the graph with this config (the
     * perturbation path matters); absent = uses_graph. HeteroCell without its global head reads only the
     * wildtype pass. */
    bool (*uses_perturbed_pass)(const void *cfg);
    /* optional: pre-training of a new run before its first training step (DANGO's reconstruction), with
     * its own optimiser, its length from the model's config; seed: the run's training seed; progress
     * (optional) after each of `epochs` epochs with the epoch's mean loss. *epochs_out receives the
     * number of epochs (0: the config asks for none). Errors: those of the steps. */
    cg_status (*pretrain)(void *model, uint64_t seed, cg_epoch_progress_fn progress, void *arg, int *epochs_out);
};

/* ---- the registry ---- */

/* The registered types (static table), *n receives their number. */
const cg_model_type *const *cg_model_types(int *n);
/* The type called name, or NULL. */
const cg_model_type *cg_model_type_find(const char *name);
/* "hetero_cell, additive" (static text) */
const char *cg_model_type_names(void);

/* ---- configs ---- */

/* The defaults of a type. */
void cg_model_config_defaults(cg_model_config *cfg, const cg_model_type *type);
/* Reads "model" (a registered name; absent: "hetero_cell") and then the type's keys. Errors:
 * CG_ERR_FORMAT naming `name` and the key (an unknown model lists the known ones). */
cg_status cg_model_config_parse(const char *json, const char *name, cg_model_config *cfg);
/* The same from a file (at most 64 KB). Errors: CG_ERR_IO, CG_ERR_FORMAT. */
cg_status cg_model_config_load(const char *path, cg_model_config *cfg);
/* The config as a JSON object's text with "model" first (malloc'd; free with free()); NULL when out of
 * memory. */
char *cg_model_config_json(const cg_model_config *cfg);
/* The type's config struct. */
static inline void *cg_model_config_data(cg_model_config *cfg) { return cfg->data; }
static inline const void *cg_model_config_cdata(const cg_model_config *cfg) { return cfg->data; }

/* ---- instances ---- */

/* Creates the model of cfg on graph g. Errors: those of the type's init; CG_ERR_NOMEM. */
cg_status cg_model_init(cg_model *m, const cg_model_config *cfg, const cg_graph *g);
void cg_model_free(cg_model *m);
cg_param_store *cg_model_params(cg_model *m);
const char *cg_model_name(const cg_model *m);  /* "hetero_cell" */
const char *cg_model_title(const cg_model *m); /* "HeteroCell" */

/* The path for a choice, in training or evaluation. Errors: CG_ERR_INVALID_ARG when "incremental" is
 * asked for a config that does not support it (the message says why). */
cg_status cg_model_resolve_path(const cg_model_config *cfg, cg_perturbation_choice c, bool training,
                                cg_perturbation_path *out);

/* The model's forward on a batch (see cg_model_type.forward). Checks that the view has n + 1 samples when
 * the model uses the graph. */
cg_tensor *cg_model_forward(cg_ctx *ctx, const cg_model *m, const cg_model_batch *batch, cg_perturbation_path path,
                            cg_tensor **z_p_out);

/* Predictions y [n, CG_NUM_LABELS] (z units) for n genotypes geno [n, 3] (-1 padded), in evaluation
 * mode, batch_size genotypes (plus the wildtype) per forward pass, no gradient. ctx is reset per batch.
 * Errors: those of cg_deletion_batch (a gene index out of range) and of the forward pass;
 * CG_ERR_INVALID_ARG (batch_size < 1); CG_ERR_NOMEM. */
cg_status cg_model_predict(cg_ctx *ctx, const cg_model *m, const cg_graph_index *gi, const int32_t *geno, int64_t n,
                           int64_t batch_size, cg_perturbation_path path, float *y);

/* Progress of long work: called with the genotypes done so far and the total (after every batch). */
typedef void (*cg_progress_fn)(void *ctx, int64_t done, int64_t total);

/* cg_model_predict, calling progress (when not NULL) after every batch. */
cg_status cg_model_predict_progress(cg_ctx *ctx, const cg_model *m, const cg_graph_index *gi, const int32_t *geno,
                                    int64_t n, int64_t batch_size, cg_perturbation_path path, float *y,
                                    cg_progress_fn progress, void *progress_ctx);

/* cg_model_predict_progress with a cache the caller keeps across calls (cg_model_cache; NULL: none):
 * a screen that predicts chunk after chunk with the same parameters runs HeteroCell's wildtype pass once.
 * cg_model_predict and cg_model_predict_progress use a cache of their own for their batches. */
cg_status cg_model_predict_cached(cg_ctx *ctx, const cg_model *m, const cg_graph_index *gi, const int32_t *geno,
                                  int64_t n, int64_t batch_size, cg_perturbation_path path, float *y,
                                  cg_progress_fn progress, void *progress_ctx, cg_model_cache *cache);

/* ---- helpers for models ---- */

/* Splits graph embeddings z [B, D] of a batch into the wildtype row z_w [1, D] (sample 0) and the
 * genotypes' rows z_i [B - 1, D]; returns z_p = z_w - z_i [B - 1, D] (z_w broadcast). */
cg_tensor *cg_model_perturbation_difference(cg_ctx *ctx, cg_tensor *z);

#endif
