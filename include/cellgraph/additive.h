/* cellgraph/additive.h: the per-gene additive model ("model": "additive"), the baseline every graph
 * model must beat (DESIGN.md section 5).
 *
 *   y[i, k] = bias[k] + agg over the deleted genes g of genotype i of offsets[g, k]
 *   agg = sum ("aggregation": "sum", the default) or mean ("mean")
 * in z units (labels standardised with the training split's statistics), so bias starts at the training
 * mean (0) and each gene's offset is what deleting it adds. Fitted by the trainer like any model
 * (AdamW on the NaN-masked MSE; weight decay acts as a ridge penalty). It reads only the genotypes'
 * gene indices, never the graph: it knows what a per-gene table knows, and nothing about pairs.
 * Parameters: gene_offsets.weight [n_genes, K] (zeros at initialisation), bias [K] (zeros); K =
 * CG_NUM_LABELS.
 */
#ifndef CELLGRAPH_ADDITIVE_H
#define CELLGRAPH_ADDITIVE_H

#include <stdbool.h>

#include "cellgraph/model.h"

typedef struct cg_additive_config {
    bool mean;     /* "aggregation": "sum" (false) | "mean" (true) */
} cg_additive_config;

cg_additive_config cg_additive_defaults(void);

/* JSON text -> config (keys "aggregation"; "model" must be "additive" when given; "train" is skipped).
 * Errors: CG_ERR_FORMAT naming `name` and the key. */
cg_status cg_additive_config_parse(const char *json, const char *name, cg_additive_config *cfg);
/* The config as JSON text without "model" (malloc'd). */
char *cg_additive_config_json(const cg_additive_config *cfg);

typedef struct cg_additive {
    cg_additive_config cfg;
    cg_param_store params;
    int64_t n_genes;
    cg_tensor *offsets; /* [n_genes, K] */
    cg_tensor *bias;    /* [K] */
} cg_additive;

/* Registers the parameters for n_genes genes (zeros). Errors: CG_ERR_INVALID_ARG (n_genes < 1),
 * CG_ERR_NOMEM. */
cg_status cg_additive_init(cg_additive *m, const cg_additive_config *cfg, int64_t n_genes);
void cg_additive_free(cg_additive *m);

/* y [n, K] for genotypes geno [n, 3] (gene indices, -1 padded; a genotype needs at least one gene).
 * Errors (NULL, recorded in ctx): CG_ERR_INVALID_ARG naming a gene index outside [0, n_genes) or an
 * empty genotype. */
cg_tensor *cg_additive_forward(cg_ctx *ctx, const cg_additive *m, const int32_t *geno, int64_t n);

/* The model's table in the registry (cellgraph/model.h). */
extern const cg_model_type cg_additive_model_type;

#endif
