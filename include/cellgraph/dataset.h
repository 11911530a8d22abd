/* cellgraph/dataset.h: the phenotype dataset: one sample per genotype with all its labels
 * (../shared/docs/DESIGN.md section 4).
 *
 * Built from label records (cellgraph/phenotypes.h):
 *   - duplicates (same gene set, same label) are merged: mean value, root-mean-square of the known stds
 *     (NaN when none is known), the largest known p-value (the merged interaction is as significant as
 *     its least significant measurement; NaN when none is known), and the number of measurements;
 *   - one sample per genotype; an absent label is NaN;
 *   - two splits, both stored: "random" (80/10/10, stratified by label set x number of deleted genes,
 *     seed 42) and "gene" (a seeded fraction of the genes seen in the data held out for test and another
 *     for validation: test = genotypes touching a test gene, validation = genotypes touching a
 *     validation gene but no test gene, train = the rest);
 *   - label statistics (mean, std with ddof 0, min, max, count) from the TRAINING split of each split
 *     only, for z-scoring; metrics are reported in original units.
 * Stored as one safetensors file; loading it is an mmap.
 */
#ifndef CELLGRAPH_DATASET_H
#define CELLGRAPH_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/genes.h"
#include "cellgraph/phenotypes.h"

enum { CG_SPLIT_TRAIN = 0, CG_SPLIT_VAL = 1, CG_SPLIT_TEST = 2 };
typedef enum cg_split_kind { CG_SPLIT_RANDOM = 0, CG_SPLIT_GENE = 1, CG_SPLIT_KINDS = 2 } cg_split_kind;

/* "random", "gene"; parse returns false for another name. */
const char *cg_split_kind_name(cg_split_kind k);
bool cg_split_kind_parse(const char *name, cg_split_kind *out);

typedef struct cg_label_stats {
    double mean, std, min, max; /* over the finite values of the training split */
    int64_t count;
} cg_label_stats;

#define CG_DATASET_MAX_SOURCES 16

typedef struct cg_dataset {
    int64_t n;                 /* S samples */
    const int32_t *genotype;   /* [S, 3] gene indices, ascending, -1 padding */
    const float *label;        /* [S, K] K = CG_NUM_LABELS; NaN = absent */
    const float *label_std;    /* [S, K] NaN = unknown */
    const float *label_p;      /* [S, K] NaN = unknown */
    const int32_t *label_count;/* [S, K] measurements merged (0 = absent) */
    const int32_t *source_mask;/* [S] bit s set when source s contributed */
    const int32_t *split[CG_SPLIT_KINDS]; /* [S] CG_SPLIT_TRAIN / VAL / TEST */
    cg_label_stats stats[CG_SPLIT_KINDS][CG_NUM_LABELS];
    int n_sources;
    cg_pheno_stats sources[CG_DATASET_MAX_SOURCES]; /* per source: rows, records, drops by reason */
    int64_t n_genes;           /* size of the gene universe the indices refer to */
    uint32_t genes_checksum;   /* CRC-32 of the systematic names in index order */
    uint64_t seed;
    double gene_holdout;       /* fraction of genes held out for test (and again for validation) */
    void *owner;               /* private: memory or mapped file */
} cg_dataset;

typedef struct cg_dataset_options {
    uint64_t seed;             /* default 42 */
    double gene_holdout;       /* default 0.1 */
} cg_dataset_options;

cg_dataset_options cg_dataset_defaults(void);

/* Reads the default sources from data_dir (Costanzo 2016 SMF at 30 C, DCell's DNA-repair pairs
 * (training and testing files), the SGA test screen's trigenic file, double-mutant query fitness) with
 * genes indexing the graph's genes, and builds the dataset. Errors: those of the readers (file and
 * line), CG_ERR_NOMEM. */
cg_status cg_dataset_build(const char *data_dir, const cg_genes *genes, const cg_dataset_options *opt,
                           cg_dataset *out);

/* Builds from records already read (for tests and custom sources): records[i] came from source
 * src_of[i] (< n_sources, named by sources[k].source). */
cg_status cg_dataset_from_records(const cg_pheno_record *records, const int *src_of, int64_t n_records,
                                  const cg_pheno_stats *sources, int n_sources, const cg_genes *genes,
                                  const cg_dataset_options *opt, cg_dataset *out);

cg_status cg_dataset_save(const cg_dataset *d, const char *path);
cg_status cg_dataset_load(const char *path, cg_dataset *out);
void cg_dataset_free(cg_dataset *d);

/* CRC-32 of the systematic names of a gene table, in index order (to check that a dataset and a graph
 * index the same genes). */
uint32_t cg_genes_checksum(const cg_genes *g);

#endif
