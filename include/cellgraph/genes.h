/* cellgraph/genes.h: the gene universe and the gene-name resolver.
 *
 * Source: SGD_features.tab (SGD, genome release R64-2-1; columns documented in SGD_features.README.txt):
 * the rows whose feature type (column 2) is "ORF": 6,604 genes. Column 4 = systematic name (YAL001C),
 * column 5 = standard name (TFC3, may be empty), column 6 = aliases separated by '|'.
 * Genes are indexed 0..n-1 in byte order (strcmp) of systematic name: the gene node order of the graph.
 *
 * Resolution (used by every reader and command): a name is matched case-insensitively against, in this
 * order, systematic names, then standard names, then aliases. The first class with a match decides; a
 * name that is an alias of several genes (and no systematic or standard name) is ambiguous.
 */
#ifndef CELLGRAPH_GENES_H
#define CELLGRAPH_GENES_H

#include <stdint.h>

#include "cellgraph/error.h"

typedef struct cg_genes cg_genes;

typedef enum cg_lookup {
    CG_LOOKUP_FOUND = 0,
    CG_LOOKUP_UNKNOWN,    /* no gene has this name */
    CG_LOOKUP_AMBIGUOUS,  /* an alias of several genes */
} cg_lookup;

/* Reads the ORF rows of SGD_features.tab at path (blank lines are skipped). Errors: CG_ERR_IO
 * (missing/unreadable file, with the path), CG_ERR_FORMAT ("<path>: line N: ..." for any row without its
 * two mandatory columns (SGDID, feature type: a torn row), an ORF row with too few columns, an empty or duplicate
 * systematic name, where names differing only in case count as the same; a file without ORF rows),
 * CG_ERR_NOMEM. Names and aliases are kept verbatim except for surrounding whitespace. */
cg_status cg_genes_load(const char *path, cg_genes **out);

/* Builds the same resolver from n gene rows given as arrays (systematic names required; standard,
 * qualifier and aliases ('|'-separated) may be NULL arrays or hold NULL/"" entries), e.g. the tables a
 * graph file stores. Rows need not be sorted. Errors: CG_ERR_INVALID_ARG (an empty systematic name),
 * CG_ERR_FORMAT (duplicate systematic names, n == 0), CG_ERR_NOMEM. */
cg_status cg_genes_create(int32_t n, const char *const *systematic, const char *const *standard,
                          const char *const *qualifier, const char *const *aliases, cg_genes **out);

void cg_genes_free(cg_genes *g);

/* Number of genes (6,604 for the default data). */
int32_t cg_genes_count(const cg_genes *g);

/* Systematic name of gene i (e.g. "YAL001C"). */
const char *cg_genes_systematic(const cg_genes *g, int32_t i);

/* Standard name of gene i (e.g. "TFC3"), or "" when it has none. */
const char *cg_genes_standard(const cg_genes *g, int32_t i);

/* Aliases of gene i as listed in the file, each trimmed, joined by '|' ("" when none; NULL when i is
 * out of range). */
const char *cg_genes_aliases(const cg_genes *g, int32_t i);

/* SGD qualifier of gene i: "Verified", "Uncharacterized", "Dubious", "silenced_gene", ... kept verbatim
 * (4 genes have "Verified|silenced_gene"). The three name accessors return NULL when i is out of range. */
const char *cg_genes_qualifier(const cg_genes *g, int32_t i);

/* Index of the gene whose systematic name is exactly sys (case-sensitive, as in the file), or -1. For
 * files that key genes by systematic name (STRING "4932.<ORF>", strain ids). O(log n). */
int32_t cg_genes_index_of_systematic(const cg_genes *g, const char *sys);

/* Looks a name up without touching the error state (for readers that count unresolved names). On
 * CG_LOOKUP_FOUND, *index receives the gene. O(log n). Leading and trailing whitespace of name is
 * ignored; case is compared in ASCII only (other bytes must match exactly). */
cg_lookup cg_genes_lookup(const cg_genes *g, const char *name, int32_t *index);

/* Resolves a name to a gene index. Errors: CG_ERR_NOT_FOUND "unknown gene 'X'; closest known names:
 * A, B, C" (by edit distance over all names), CG_ERR_INVALID_ARG "gene name 'X' is ambiguous: an alias
 * of YAL001C (TFC3), YBR... (...)". */
cg_status cg_genes_resolve(const cg_genes *g, const char *name, int32_t *index);

#endif
