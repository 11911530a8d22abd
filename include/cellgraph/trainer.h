/* cellgraph/trainer.h: training, evaluation and checkpoints for any registered model (cellgraph/model.h)
 * on the phenotype dataset.
 *
 * Labels are z-scored with the training split's statistics (cellgraph/dataset.h); the model predicts
 * z-scores, and evaluation returns predictions in original units. One step: a batch of genotypes from
 * the seeded shuffle of the training split, their dead bitsets plus the wildtype sample on the shared
 * graph, the model's forward, the loss, backward, gradient clipping by global norm, AdamW. The learning
 * rate is lr * warm-up/cosine(step) * plateau scale; ReduceLROnPlateau multiplies the scale by `factor`
 * after `patience` epochs without a better validation loss; early stopping after `early_stopping` such
 * epochs. Everything random is a function of (seed, epoch, step), so a run resumed from its last
 * checkpoint continues bitwise identically (for the same thread count).
 */
#ifndef CELLGRAPH_TRAINER_H
#define CELLGRAPH_TRAINER_H

#include "cellgraph/dataset.h"
#include "cellgraph/graph_view.h"
#include "cellgraph/losses.h"
#include "cellgraph/model.h"
#include "cellgraph/optim.h"

typedef struct cg_train_config {
    int epochs;                 /* "epochs" (10) */
    double max_minutes;         /* "max_minutes" (0: no limit); checked between steps */
    int batch_size;             /* "batch_size" (16) genotypes per step */
    cg_split_kind split;        /* "split" ("random" | "gene1" | "gene2" | "query"; "gene" = gene1) */
    uint64_t seed;              /* "seed" (42): shuffling and dropout */
    double lr;                  /* "lr" (1e-3) */
    double weight_decay;        /* "weight_decay" (1e-2, AdamW) */
    double warmup_fraction;     /* "warmup_fraction" (0.005 of the planned steps: 63 steps of a 10-epoch run) */
    double min_lr_ratio;        /* "min_lr_ratio" (0.01): cosine floor as a fraction of lr */
    double grad_clip;           /* "grad_clip" (1.0; 0 = off) */
    double plateau_factor;      /* "plateau_factor" (0.5) */
    int plateau_patience;       /* "plateau_patience" (2 epochs) */
    int early_stopping;         /* "early_stopping" (5 epochs; 0 = off) */
    double lambda_dist;         /* "lambda_dist" (0) */
    double lambda_supcr;        /* "lambda_supcr" (0) */
    double supcr_temperature;   /* "supcr_temperature" (0.1) */
    float label_weights[CG_NUM_LABELS]; /* "label_weights" ([1, 1, 1]): fitness, epsilon, tau */
    bool logcosh;               /* "loss": "mse" (false, default) or "logcosh" (true): the per-label base term */
    int ensemble;               /* "ensemble" (1): keep the checkpoints of the k best validations (by validation
                                 * loss) as checkpoint_top1..k; the test evaluation at the end of `train` is the
                                 * mean of their predictions (DANGO's best-5 ensemble); 1 = the best checkpoint */
    bool pvalue_weights;        /* "pvalue_weights" (false): weigh each training label by -log10(p + 1e-15) of its
                                 * p-value (DANGO's sample weights); a label without a p-value (every fitness,
                                 * epsilon of sources without one) weighs 1; the validation loss is unweighted */
    int64_t max_val_samples;    /* "max_val_samples" (512; 0 = all): validation per epoch on a fixed seeded subset */
    int64_t max_train_samples;  /* "max_train_samples" (0 = all): training samples per epoch */
    int64_t max_steps;          /* "max_steps" (0: no limit): a step budget (the same work on any machine) */
    int64_t val_every;          /* "val_every" (0: epoch ends only): also validate every this many steps */
    cg_perturbation_choice perturbation; /* "perturbation" ("auto") */
} cg_train_config;

cg_train_config cg_train_defaults(void);

/* Reads the "train" object of a config file (the model keys sit at the top level; see
 * cellgraph/model.h). A missing "train" object keeps the defaults. Errors: CG_ERR_IO,
 * CG_ERR_FORMAT naming an unknown key or a bad value. */
cg_status cg_train_config_load(const char *path, cg_train_config *cfg);
/* The bounds of the training settings: the config parser, cg_train_config_check, the checkpoint reader and
 * the command line all use these (0 for max_minutes and max_steps: no limit). */
#define CG_TRAIN_MAX_EPOCHS 1000000
#define CG_TRAIN_MAX_BATCH 4096
#define CG_TRAIN_MAX_MINUTES 1e7
#define CG_TRAIN_MAX_SEED 9000000000000000LL
#define CG_TRAIN_MAX_STEPS 1000000000000LL
#define CG_TRAIN_MAX_ENSEMBLE 10

/* The bounds the parser and the checkpoint reader apply (epochs [1, 1e6], batch_size [1, 4096],
 * max_minutes [0, 1e7], seed [0, 9e15], max_steps and val_every [0, 1e12], integers where counts), for a
 * config changed after parsing (command-line overrides): a config this accepts is one every checkpoint
 * reader accepts. Errors: CG_ERR_FORMAT naming `name` and the field. */
cg_status cg_train_config_check(const cg_train_config *cfg, const char *name);
cg_status cg_train_config_parse(const char *json, const char *name, cg_train_config *cfg);
char *cg_train_config_json(const cg_train_config *cfg);

typedef struct cg_trainer {
    cg_train_config cfg;
    cg_model *model;
    const cg_graph *graph;
    const cg_dataset *data;
    cg_graph_index gi;
    cg_optim opt;
    cg_ctx ctx;
    cg_perturbation_path mode_train, mode_eval; /* resolved from cfg.perturbation for the model */
    int64_t *train_idx, *val_idx, *test_idx; /* sample indices of the split */
    int64_t n_train, n_val, n_test;
    int64_t *order;              /* this epoch's shuffled training order */
    float label_mean[CG_NUM_LABELS], label_std[CG_NUM_LABELS];
    uint32_t graph_checksum, dataset_checksum;
    /* progress (saved in checkpoints) */
    int epoch;                   /* current epoch, 0-based */
    int64_t epoch_pos;           /* samples of this epoch already used */
    int64_t step;                /* optimisation steps done */
    int64_t planned_steps;       /* epochs x steps per epoch (for the cosine schedule) */
    double plateau_scale;
    int bad_epochs;              /* epochs without improvement (plateau and early stopping) */
    double best_val;
    int best_epoch;
    double ens_val[CG_TRAIN_MAX_ENSEMBLE]; /* validation loss of checkpoint_top<j+1> (INFINITY: empty slot) */
    double lr_now;
    cg_dist_table dist[CG_NUM_LABELS]; /* DistLoss pseudo-label tables of the z-scored training labels */
    bool have_dist;
    /* batch buffers (alive until the step's backward has run) */
    cg_graph_view view;
    uint64_t *blocks;            /* [(batch + 1) x deletion words] */
    int32_t *geno;               /* [batch, 3] the batch's genotypes */
    cg_progress_fn progress;     /* optional: called by cg_trainer_predict_samples after every batch */
    void *progress_ctx;
    float *target;               /* [batch, K] z-scored */
    float *sample_weight;        /* [batch, K] -log10(p + 1e-15) of each label (1 without a p-value) */
} cg_trainer;

/* Sets up a trainer for an initialised model (built on g) on graph + dataset (the dataset's genes must
 * be the graph's: checked by checksum). Errors: CG_ERR_INVALID_ARG (mismatched gene tables, empty
 * training split, a perturbation path the model does not support, lambda_supcr > 0 for a model without
 * a graph embedding), CG_ERR_NOMEM. */
cg_status cg_trainer_init(cg_trainer *t, cg_model *m, const cg_graph *g, const cg_dataset *d,
                          const cg_train_config *cfg);
void cg_trainer_free(cg_trainer *t);

/* One optimisation step on the next batch of the epoch; *loss receives the batch loss (z units).
 * Returns CG_OK; sets *epoch_done when the epoch's samples are used up. */
cg_status cg_trainer_step(cg_trainer *t, float *loss, bool *epoch_done);

/* Starts the next epoch (shuffles; to be called after an epoch is done and validated). */
void cg_trainer_next_epoch(cg_trainer *t);

/* Predictions in original units for samples[0..n) ([n, K]), in batches, no gradient; *loss (optional)
 * receives the training loss's MSE term over these samples, on the training loss's scale: the sum over
 * labels of label_weights[k] x the mean z-scored squared error of label k (NaN when no label is present). */
cg_status cg_trainer_predict_samples(cg_trainer *t, const int64_t *samples, int64_t n, float *pred, double *loss);

/* After the validation at the end of a COMPLETE epoch: updates the plateau scale, early stopping counter
 * and best score; returns true in *improved when val_loss is the best so far and in *stop when early
 * stopping triggers. */
void cg_trainer_end_epoch(cg_trainer *t, double val_loss, bool *improved, bool *stop);

/* After a validation inside an epoch (val_every, a time or step limit): updates the best score only (a
 * partial epoch never counts toward the plateau or early stopping); true when val_loss is the best. */
bool cg_trainer_note_val(cg_trainer *t, double val_loss);

/* With cfg.ensemble k > 1, after a validation: the slot (0-based, file checkpoint_top<slot+1>) the current
 * parameters should be saved to because val_loss is among the k best so far (the empty or worst slot,
 * recorded with val_loss), or -1. Always -1 when k is 1. */
int cg_trainer_ensemble_slot(cg_trainer *t, double val_loss);

/* Checkpoints: <dir>/checkpoint_<tag>.safetensors (parameters; metadata: model config with its "model"
 * name, training config,
 * label statistics, graph and dataset checksums, progress, a CRC-32 of the parameters) and, for tag
 * "last", <dir>/optimizer_last.safetensors (AdamW state). Written to temporary names, then renamed. */
cg_status cg_trainer_save(const cg_trainer *t, const char *dir, const char *tag);

/* Restores parameters, optimizer state and progress from <dir>/checkpoint_last.safetensors and
 * <dir>/optimizer_last.safetensors. Every progress value read from the metadata (not covered by the
 * parameter CRC) is checked first: epoch, epoch_pos (within this run's epoch), step, bad_epochs,
 * best_epoch integers in range, plateau_scale in (0, 1], best_val >= 0 and the ensemble slots' losses (>= 0
 * or inf; absent in older checkpoints: empty), the optimizer's t and step.
 * Errors: CG_ERR_FORMAT (corrupted: CRC mismatch, missing tensors, a progress value out of range, named;
 * another graph or dataset: checksum mismatch, both named), CG_ERR_IO. */
cg_status cg_trainer_resume(cg_trainer *t, const char *dir);

/* What a checkpoint says about itself. */
typedef struct cg_checkpoint_info {
    cg_model_config model;       /* a checkpoint without a "model" name is HeteroCell's */
    cg_train_config train;
    float label_mean[CG_NUM_LABELS], label_std[CG_NUM_LABELS];
    bool legacy_labels;          /* written with the pooled labels (fitness, gene_interaction) before epsilon
                                    and tau were separate: epsilon and tau both take the interaction output
                                    and its statistics */
    uint32_t graph_checksum, dataset_checksum;
    int epoch;
    int64_t step;
} cg_checkpoint_info;

/* Reads a checkpoint's metadata (no parameters). Errors: CG_ERR_IO, CG_ERR_FORMAT. */
cg_status cg_checkpoint_info_read(const char *path, cg_checkpoint_info *info);

/* Loads a checkpoint's parameters into an initialised model of the same config (names and shapes must
 * match; the CRC-32 of the parameters is verified). A legacy-label checkpoint (cg_checkpoint_info) has
 * 2-row output layers: row 1 (gene_interaction) is copied to both the epsilon and tau rows. Errors: CG_ERR_FORMAT naming the file and the
 * parameter, CG_ERR_IO. */
cg_status cg_checkpoint_load_params(const char *path, cg_model *m);

#endif
