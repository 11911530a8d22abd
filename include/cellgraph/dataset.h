/* cellgraph/dataset.h: the phenotype dataset: one sample per genotype with all its labels
 * (../shared/docs/DESIGN.md section 4).
 *
 * Built from label records (cellgraph/phenotypes.h):
 *   - duplicates (same gene set, same label) are merged: mean value, root-mean-square of the known stds
 *     (NaN when none is known), the largest known p-value (the merged interaction is as significant as
 *     its least significant measurement; NaN when none is known), and the number of measurements;
 *   - one sample per genotype; an absent label is NaN;
 *   - four splits, all stored, deterministic from the seed (DESIGN section 4; counts in docs/data.md):
 *     "random": 80/10/10, stratified by label set (fitness; an interaction) x number of deleted genes.
 *       Every gene, and most query pairs, of its test set appear in training: no claim about new genes.
 *     "gene1": a seeded fraction (gene_holdout) of the genes seen in the data is held out for test (T) and
 *       another for validation (V): test = genotypes with at least one T gene, validation = genotypes with
 *       a V gene and no T gene, train = the rest (no T or V gene).
 *     "gene2": the same T and V: test = genotypes whose genes are ALL in T, validation = all in V, train =
 *       no T or V gene; every other genotype (mixing held-out and training genes) is in no split
 *       (CG_SPLIT_NONE).
 *     "query": whole SGA query strains held out (the query genes of an SGA screen record, minus the ho
 *       locus), grouped into families of strains that share a query gene (a double-mutant query a+b and
 *       its digenic control a+ho): a seeded fraction of the families (at least one when there are three
 *       or more) for test and as many for validation; a sample with a record of a test family is test,
 *       else of a validation family validation, else train (every non-SGA sample trains). No record of a
 *       held-out query strain is in training.
 *   - "gene" (the name of gene1 before there were four) is accepted by cg_split_kind_parse;
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

/* The part of a split a sample is in; CG_SPLIT_NONE: in none (gene2: genotypes mixing held-out and
 * training genes). */
enum { CG_SPLIT_TRAIN = 0, CG_SPLIT_VAL = 1, CG_SPLIT_TEST = 2, CG_SPLIT_NONE = 3 };
typedef enum cg_split_kind {
    CG_SPLIT_RANDOM = 0,
    CG_SPLIT_GENE1 = 1,
    CG_SPLIT_GENE2 = 2,
    CG_SPLIT_QUERY = 3,
    CG_SPLIT_KINDS = 4
} cg_split_kind;
#define CG_SPLIT_GENE CG_SPLIT_GENE1 /* the name before gene split 2 existed */

/* "random", "gene1", "gene2", "query"; parse also accepts "gene" (gene1) and returns false for another
 * name. */
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
    const int32_t *split[CG_SPLIT_KINDS]; /* [S] CG_SPLIT_TRAIN / VAL / TEST / NONE */
    cg_label_stats stats[CG_SPLIT_KINDS][CG_NUM_LABELS];
    int n_sources;
    cg_pheno_stats sources[CG_DATASET_MAX_SOURCES]; /* per source: rows, records, drops by reason */
    int64_t n_genes;           /* size of the gene universe the indices refer to */
    uint32_t genes_checksum;   /* CRC-32 of the systematic names in index order */
    uint64_t seed;
    double gene_holdout;       /* fraction of genes (gene1, gene2) or SGA queries (query) held out for test,
                                  and again for validation */
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
