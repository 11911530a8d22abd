/* cellgraph/sources.h: readers of the gene-gene network files of the yeast data folder. Each reader
 * streams its file (gzip through zlib where compressed), resolves names with the gene resolver
 * (cellgraph/genes.h) and appends (src, dst) gene-index pairs to an edge list; names the resolver does
 * not know are not errors: they are counted, per source, in cg_source_stats. Malformed rows ARE
 * errors naming the file and line. Symmetrisation, self-pair and duplicate removal are the graph
 * builder's job; the readers report what they saw.
 */
#ifndef CELLGRAPH_SOURCES_H
#define CELLGRAPH_SOURCES_H

#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/genes.h"

/* A growable list of directed gene pairs. */
typedef struct cg_edge_list {
    int64_t n, cap;
    int32_t *src, *dst;
} cg_edge_list;

void cg_edge_list_init(cg_edge_list *l);
/* Errors: CG_ERR_NOMEM. */
cg_status cg_edge_list_push(cg_edge_list *l, int32_t src, int32_t dst);
void cg_edge_list_free(cg_edge_list *l);

#define CG_SOURCE_EXAMPLES 5

/* What a reader saw. "rows" counts data rows (or matrix cells set to 1 for YEASTRACT matrices).
 * Every reader clears *st first, so rows == pairs + unresolved_rows always holds.
 * A name is "unresolved" when cg_genes_lookup does not return CG_LOOKUP_FOUND for it (unknown or an
 * ambiguous alias); names are counted (case-insensitively distinct) only when they occur in a relation
 * that was read (a selected row, or a 1-cell of a kept matrix column). ambiguous_names is the part of
 * unresolved_names that were ambiguous aliases. */
typedef struct cg_source_stats {
    char source[96];                 /* short name, e.g. "string11_binding" */
    int64_t rows;                    /* data rows / relations read */
    int64_t pairs;                   /* pairs appended to the edge list (both ends resolved) */
    int64_t skipped_other;           /* rows not selected (e.g. STRING modes other than binding);
                                        YEASTRACT matrices: 1-cells in the dropped "Uncharacterized" columns */
    int64_t unresolved_rows;         /* rows dropped because an end did not resolve */
    int64_t unresolved_names;        /* distinct names that did not resolve (unknown or ambiguous) */
    int64_t ambiguous_names;         /* distinct names that were ambiguous aliases (part of unresolved_names) */
    int64_t dropped_columns;         /* YEASTRACT: "Uncharacterized" columns dropped */
    char examples[CG_SOURCE_EXAMPLES][32]; /* first few unresolved names, as written in the file (truncated
                                              to 31 bytes); unused entries are "" */
} cg_source_stats;

/* Common to the readers below: pairs are appended to *out (which the caller has initialised; it may
 * already hold pairs); st may be NULL, otherwise it is cleared and filled (st->source is the short name
 * given with each reader). Blank lines are skipped; a CR before the newline is ignored. Errors:
 * CG_ERR_INVALID_ARG (path, g or out NULL), CG_ERR_IO naming the path (missing or unreadable file),
 * CG_ERR_FORMAT "<path>: line N: ..." (a malformed row, a missing header, a truncated or corrupt gzip),
 * CG_ERR_NOMEM. On an error *out is put back to the length it had on entry. */

/* STRING v11 protein actions (4932.protein.actions.v11.0.txt.gz): rows with mode "binding"; ids
 * "4932.<ORF>". Header line required (its first three columns item_id_a, item_id_b, mode are checked);
 * every row must have 7 tab-separated columns and both ids the "4932." prefix. All scores kept. Rows of
 * other modes are counted in skipped_other. Source name "string11_binding". */
cg_status cg_read_string11_binding(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st);

/* Krogan et al. 2006 (ppi/Krogan-2006.txt): "ORF ORF" per line, whitespace separated (exactly two
 * fields), no header. Source name "krogan2006". */
cg_status cg_read_krogan2006(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st);

/* Tarassov et al. 2008 (ppi/Tarassov-2008-PCA.tsv): the first line is a header (skipped); columns 1
 * and 4 (tab-separated, at least 4 columns) are the MATa and MATalpha ORFs. Source name
 * "tarassov2008". */
cg_status cg_read_tarassov2008(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st);

/* YEASTRACT 2020 regulation matrix (';'-separated, gzip): first line = column count (must equal the
 * number of names that follow) then target gene names; each following line = TF protein name ("Cyc8p":
 * one trailing 'p'/'P' is removed before resolving; when that name does not resolve the name as written
 * is tried; names without the 'p', like "YJL206C", are resolved as written) then exactly one 0 or 1
 * per target. Appends TF ->
 * target for every 1. Columns named "Uncharacterized" are dropped and counted in st->dropped_columns;
 * their 1s are not counted as rows but in st->skipped_other. Source name "yeastract2020:<base name of
 * path without directory, ".gz", ".csv" and a "_RegulationMatrix..." suffix>". */
cg_status cg_read_yeastract_matrix(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st);

/* YEASTRACT 2013 documented regulations (RegulationTwoColumnTable_Documented_2013927.tsv):
 * "TF;target" gene names per line (names may contain commas: "ADE5,7"; exactly one ';'). TF -> target.
 * Source name "yeastract2013". */
cg_status cg_read_yeastract_2013(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st);

#endif
