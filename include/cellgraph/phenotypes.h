/* cellgraph/phenotypes.h: streaming readers of the phenotype tables (fitness and genetic interactions
 * of gene deletions), by the rules of ../shared/docs/DESIGN.md section 4.
 *
 * Every reader streams its file line by line (plain or gzip, cellgraph/lines.h) and calls `emit` once
 * per label record; it keeps nothing per row, so memory does not grow with the file (20 million rows
 * are fine). Gene names are resolved with the gene resolver (cellgraph/genes.h). Rows that cannot be
 * used are dropped and COUNTED by reason in cg_pheno_stats (never silently); malformed rows (wrong
 * column count, a number that does not parse, a truncated last line) are errors naming the file and
 * line.
 *
 * Genotypes: the deleted genes, 1..3 distinct gene indices sorted ascending. YDL227C (the HO locus, a
 * neutral marker in SGA query strains) is never a perturbed gene: it is removed from query genotypes.
 *
 * Common rules of all readers: blank lines are skipped (not counted as rows); numbers are read with
 * strtod, "NaN"/"nan" meaning missing; an empty field, trailing text or an infinity is CG_ERR_FORMAT
 * "<path>: line N: column '<name>': '<text>' is not a number". A gene name is looked up as an exact
 * systematic name first, then through cg_genes_lookup; unknown and ambiguous names both count as
 * "unknown gene". Checks run in the order temperature, array allele, query allele, gene names, genotype
 * (repeated gene), NaN value, and a dropped row is counted under the first reason that applies. st may
 * be NULL. The allele code of a strain id is the run of letters right after its last '_'
 * ("YAL001C_dma91" -> dma, "YAL001C_damp174" -> damp, "YAL015C+YDL227C_tm461" -> tm).
 */
#ifndef CELLGRAPH_PHENOTYPES_H
#define CELLGRAPH_PHENOTYPES_H

#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/genes.h"

/* The labels (DESIGN section 1): fitness (wild type = 1); epsilon, the digenic interaction of a pair; tau,
 * the trigenic interaction of a triple. Epsilon and tau are different quantities on different scales:
 * separate labels, separate statistics, separate outputs and metrics. */
typedef enum cg_label { CG_LABEL_FITNESS = 0, CG_LABEL_EPSILON = 1, CG_LABEL_TAU = 2, CG_NUM_LABELS = 3 } cg_label;

/* "fitness", "epsilon", "tau"; "unknown" for any other value. */
const char *cg_label_name(cg_label l);
/* The index of a label name (including the pre-0.2 pooled "gene_interaction": -2), or -1. */
int cg_label_parse(const char *name);

/* The interaction label of a genotype of n genes: epsilon for 2, tau for 3 (-1 otherwise). */
static inline int cg_interaction_label(int n_genes) {
    return n_genes == 2 ? CG_LABEL_EPSILON : n_genes == 3 ? CG_LABEL_TAU : -1;
}

/* One measurement of one label for one genotype. */
typedef struct cg_pheno_record {
    int32_t genes[3];   /* sorted ascending; -1 padding after n_genes */
    int n_genes;        /* 1..3 */
    cg_label label;     /* fitness, or epsilon (pairs) / tau (triples): cg_interaction_label(n_genes) */
    float value;        /* fitness (wild type = 1), or epsilon (pairs) / tau (triples) */
    float std;          /* standard deviation of the value, NaN when unknown */
    float p_value;      /* p-value of a genetic interaction, NaN when unknown */
    int64_t line;       /* line of the file it came from */
    int n_query;        /* SGA screens: the number of query genes (1 or 2; the ho locus excluded), else 0 */
    int32_t query[2];   /* the query genes, ascending (the array gene is the other gene of genes[]) */
} cg_pheno_record;

/* Called for every record; a non-CG_OK return stops the reader, which returns that status. */
typedef cg_status (*cg_pheno_emit)(void *ctx, const cg_pheno_record *r);

#define CG_PHENO_MAX_REASONS 12

/* Counts of one reader run. rows = data lines read (header excluded); records = records emitted
 * (a row may give two: an interaction score and a fitness). dropped[k] rows were dropped for reason
 * reason[k] (short fixed text such as "array not a deletion allele", "unknown gene", "NaN value",
 * "temperature 26 C"), with an example row's name. The reasons "NaN fitness" and "NaN gene_interaction"
 * count records not emitted (in an SGA table the other label of the row may still be emitted); every
 * other reason counts whole rows. Beyond CG_PHENO_MAX_REASONS reasons the last slot becomes "other".
 * source names the reader and file: "costanzo2016_smf_30C" (from smf_t30_*), "dcell_go0006281:training",
 * "query_fitness", and for SGA tables "sga_test_screen:trigenic" (scored_triple_test_small_*),
 * "costanzo2016_30C:SGA_ExE" (an Arraytype/Temp column), "kuzmin:<file>" (a Combined mutant type
 * column), else "sga:<file>". */
typedef struct cg_pheno_stats {
    char source[64];
    int64_t rows, records;
    int n_reasons;
    char reason[CG_PHENO_MAX_REASONS][48];
    int64_t dropped[CG_PHENO_MAX_REASONS];
    char example[CG_PHENO_MAX_REASONS][48];
} cg_pheno_stats;

/* Costanzo 2016 single-mutant fitness (smf_t30_150803.txt and the like): no header,
 * "strain_id<TAB>fitness<TAB>std", strain id "<ORF>_<allele code><number>". Keeps deletion alleles
 * (code dma = KanMX, sn = NatMX); drops other allele codes (tsa, tsq, damp, ...) and NaN fitness.
 * Emits fitness records with std (NaN std kept). Reasons: "not a deletion allele", "unknown gene",
 * "NaN fitness". */
cg_status cg_read_costanzo_smf(const char *path, const cg_genes *g, cg_pheno_emit emit, void *ctx, cg_pheno_stats *st);

/* DCell's Costanzo 2016 digenic pairs (GO_0006281_{training,testing}_data_2016_0): space-separated
 * "2 ORF1 ORF2 value", value = epsilon. Emits epsilon records for pairs and tau records for triples (no
 * std, no p-value). The leading count (1..3) says how many gene names follow; runs of spaces or tabs
 * separate fields. Reasons: "unknown gene", "gene repeated in genotype", "interaction of one gene" (count
 * 1: no interaction is defined), "NaN gene_interaction". */
cg_status cg_read_dcell_pairs(const char *path, const cg_genes *g, cg_pheno_emit emit, void *ctx, cg_pheno_stats *st);

/* Double-mutant query fitness (dmf_tr_150226_fromSGAonly.txt): no header,
 * "<ORF1>+<ORF2>_<strain><TAB>fitness<TAB>std". ORF2 = YDL227C (ho) makes a single-gene genotype.
 * Emits fitness records; NaN rows and unknown names dropped and counted. The strain code is not checked
 * (the file holds double-mutant query strains). Reasons: "unknown gene" (e.g. URA3control),
 * "no gene besides ho (YDL227C)", "gene repeated in genotype", "more than 3 genes", "NaN fitness". */
cg_status cg_read_query_fitness(const char *path, const cg_genes *g, cg_pheno_emit emit, void *ctx,
                                cg_pheno_stats *st);

/* SGA interaction tables, with a header row naming the columns (tab-separated; matched by name,
 * case-insensitively, in any order). One reader serves:
 *   - the SGA test screen (scored_triple_test_small_trigenic.txt) and Kuzmin et al. 2018 Data S1 /
 *     Kuzmin et al. 2020 Tables S1 and S3 exported as text: "Query strain ID", "Array strain ID",
 *     "Adjusted genetic interaction score (epsilon or tau)", "P-value", "Double/triple mutant fitness"
 *     or "Combined mutant fitness", the matching "... standard deviation", and optionally
 *     "Query allele name", "Array allele name", "Combined mutant type";
 *   - Costanzo 2016 SGA_ExE / SGA_ExN_NxE / SGA_NxN / SGA_DAmP.txt: "Query Strain ID",
 *     "Query allele name", "Array Strain ID", "Array allele name", "Arraytype/Temp",
 *     "Genetic interaction score (ε)", "P-value", "Query single mutant fitness (SMF)", "Array SMF",
 *     "Double mutant fitness", "Double mutant fitness standard deviation".
 * Query strain "<ORF1>+<ORF2>_<id>" (or "<ORF>_<id>"): its genes minus YDL227C; array strain
 * "<ORF>_<allele code><n>". The genotype is the query genes plus the array gene: 2 genes give epsilon
 * (CG_LABEL_EPSILON) and double-mutant fitness, 3 give tau (CG_LABEL_TAU) and triple-mutant fitness. Deletions only: the array allele
 * code must be dma or sn; a query gene is a deletion when its part of the query allele name (split on
 * '+') contains 'Δ' (U+0394), '∆' (U+2206) or "delta", or, without an allele name column, when the
 * query strain's code is tm, dma or sn. A query strain whose own code is dma or sn (the single-gene
 * queries of Costanzo 2016, whose allele names are plain gene names such as "ntc20") is a deletion
 * whatever its allele name. The allele-name parts are matched to the strain's ORFs by position when
 * their counts agree (the part of YDL227C, e.g. "hoΔ", is ignored); otherwise every part other than
 * "ho"/"hoΔ" must carry the deletion mark. When "Arraytype/Temp" is present, only rows at
 * `temperature` degrees C are kept (temperature <= 0 keeps every temperature). Dropped and counted:
 * non-deletion alleles, other temperatures, unknown genes, a gene repeated in the genotype, NaN values
 * (per label: a row with a NaN score but a fitness still emits the fitness). Reasons: "temperature N C"
 * (example: array strain), "array not a deletion allele", "query not a deletion allele", "unknown gene",
 * "no query gene besides ho (YDL227C)", "more than 3 genes", "gene repeated in genotype",
 * "NaN gene_interaction", "NaN fitness". Columns are tab-separated; a row with fewer columns than the
 * header is CG_ERR_FORMAT (a truncated last line), extra columns are ignored. The header is the first
 * non-blank line with a "Query strain ID" column; up to 3 lines before it (a spreadsheet title row) are
 * skipped, and a UTF-8 byte order mark is ignored. Required: query and array strain ids, the score,
 * P-value, fitness and fitness standard deviation columns (CG_ERR_FORMAT naming the missing one). When a
 * table has both "Raw genetic interaction score (epsilon)" and the adjusted score, the adjusted is read.
 * Column names are matched byte for byte after case folding of ASCII letters: Costanzo's score column is
 * "Genetic interaction score (ε)" with ε in UTF-8 (CE B5); another spelling of it is accepted by its
 * "Genetic interaction score" prefix. Missing values: unlike the common rule above, an empty (or blank)
 * field in the score, P-value, fitness or standard deviation column is NaN, as "NaN" is: the published
 * tables are spreadsheet exports that leave a missing value's cell empty (Costanzo 2016 Data File S1
 * leaves "Query single mutant fitness (SMF)" empty when it is unknown; the SMF and allele-name columns
 * other than "Query allele name" are never parsed). An empty score or fitness is then counted as
 * "NaN gene_interaction" / "NaN fitness"; an empty P-value or std gives a record with a NaN p_value / std.
 * In Costanzo 2016 the other strain codes, tsq/tsa (temperature-sensitive), damp (DAmP) and S (strains
 * carrying a suppressor mutation, e.g. YBR282W_S253 "mrpl27-supp1"), have allele names without a deletion
 * mark, so they are dropped; a dma or sn strain whose allele name has a suppressor suffix ("lte1-supp1")
 * is a deletion. So of Costanzo's tables only SGA_NxN (sn query x dma array) gives records: every row of
 * SGA_ExE and SGA_ExN_NxE has a TS allele on one side. */
cg_status cg_read_sga_table(const char *path, const cg_genes *g, int temperature, cg_pheno_emit emit, void *ctx,
                            cg_pheno_stats *st);

#endif
