/* cellgraph/weighted_sources.h: readers of the weighted gene-gene files behind the optional relations
 * of the cell graph (cellgraph/graph.h; DESIGN.md section 2: the networks the DANGO models use).
 *
 * Like the readers of cellgraph/sources.h, each streams its file (cellgraph/lines.h), resolves names
 * with the gene resolver (cellgraph/genes.h), appends what it read to a list and counts what it saw in
 * a cg_source_stats; names the resolver does not know are counted, never errors; a malformed row IS an
 * error "<path>: line N: ...". Self pairs, repeats, mirrored listings and symmetrisation are the graph
 * builder's job: the readers append every resolved row as it is.
 *
 * Common to the readers below: *out has been initialised by the caller (it may already hold pairs); st
 * may be NULL, otherwise it is cleared and filled (st->source is the short name given with each
 * reader); unresolved names are counted once each (ASCII case-insensitively), with the first few as
 * examples. Errors: CG_ERR_INVALID_ARG (a NULL argument other than st), CG_ERR_IO naming a missing or
 * unreadable file, CG_ERR_FORMAT "<path>: line N: ..." (a malformed row, a truncated or corrupt gzip),
 * CG_ERR_NOMEM. On an error *out is put back to the length it had on entry.
 */
#ifndef CELLGRAPH_WEIGHTED_SOURCES_H
#define CELLGRAPH_WEIGHTED_SOURCES_H

#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/genes.h"
#include "cellgraph/sources.h"

/* A growable list of weighted gene pairs (a, b, w) in the order read. */
typedef struct cg_weighted_pairs {
    int64_t n, cap;
    int32_t *a, *b;
    float *w;
} cg_weighted_pairs;

void cg_weighted_pairs_init(cg_weighted_pairs *l);
/* Errors: CG_ERR_NOMEM. */
cg_status cg_weighted_pairs_push(cg_weighted_pairs *l, int32_t a, int32_t b, float w);
void cg_weighted_pairs_free(cg_weighted_pairs *l);

/* A STRING v9.1 channel as prepared for DANGO (string/v9.1/yeast_string_<channel>_adjacency.txt):
 * "i j weight" per line, separated by tabs or spaces (exactly three fields), i and j 1-based row numbers
 * into genes_path (yeast_string_genes.txt: one ORF name per line, 6,400 lines; a blank line there is an
 * error, since it would shift every row number), weight a number in [0, 1]. A row number outside the
 * genes file or a bad weight is an error naming the line. Rows whose ORF does not resolve are counted
 * (rows, unresolved_rows, unresolved_names); each row is appended as written (the files list every
 * pair in both directions). Source name "string9_<channel>", the channel taken from the file name. */
cg_status cg_read_string9_channel(const char *adjacency_path, const char *genes_path, const cg_genes *g,
                                  cg_weighted_pairs *out, cg_source_stats *st);

/* Hu et al. 2007 co-expression as used by BIONIC (coexpression/Hu-2007.txt): "ORF1 ORF2 weight" per line,
 * whitespace separated (exactly three fields), weight a number in [0, 1]. Source name "coexpression". */
cg_status cg_read_coexpression(const char *path, const cg_genes *g, cg_weighted_pairs *out, cg_source_stats *st);

/* UniProt accession -> gene, from the genes section of a yeast-GEM YAML model (yeast-gem/yeast-GEM.yml,
 * written by cobrapy's save_yaml_model): each gene entry's "id" (an ORF, resolved with g) and its
 * annotation "uniprot". The data folder holds no other UniProt map, so only yeast-GEM's 1,161 (metabolic)
 * genes map. The file is scanned line by line for the layout cobrapy writes: the top-level "- genes:"
 * section, entries starting at "- !!omap" or "- id:" at one indentation, keys "- key: value" (value
 * optionally quoted); an entry with a uniprot annotation but no id is an error naming the line. An
 * accession given for two different genes maps to neither (counted in ambiguous_names). st: rows = gene
 * entries with an accession, pairs = accessions mapped to a gene, unresolved_rows / unresolved_names =
 * entries whose id does not resolve. Source name "yeast-GEM genes: UniProt". */
typedef struct cg_uniprot_map cg_uniprot_map;
cg_status cg_uniprot_map_from_gem(const char *gem_path, const cg_genes *g, cg_uniprot_map **out,
                                  cg_source_stats *st);
void cg_uniprot_map_free(cg_uniprot_map *m);
/* Number of accessions that map to a gene. */
int64_t cg_uniprot_map_count(const cg_uniprot_map *m);
/* The gene of accession acc (exact, case-sensitive), or -1. */
int32_t cg_uniprot_map_gene(const cg_uniprot_map *m, const char *acc);

/* Complex Portal complexes (yeast-gem/Yeast_complex_portal_2022.tsv): a header line starting with
 * "#Complex ac", then one tab-separated row per complex with as many columns as the header. Members
 * are read from the column "Expanded participant list" (sub-complexes expanded to their proteins):
 * '|'-separated "<id>(<stoichiometry>)"; an id is a UniProt accession ("P32797"), a processed chain or
 * isoform ("P04039-PRO_0000006173", "P12345-2": the accession before the '-' is used), a set of
 * alternatives ("[P0CX36,P0CX35]": each accession counts as a member), or a non-protein (CHEBI:...,
 * URS... RNA, CPX-... complex: skipped, counted in dropped_columns). Each accession maps to a gene
 * through map; each complex appends one pair (a, b, 1) with a < b for every two distinct genes among
 * its mapped members. A missing column, a row with the wrong column count or a member without the
 * "(n)" suffix is an error naming the line. st: rows = complexes, pairs = pairs appended,
 * unresolved_rows = member accessions that map to no gene, unresolved_names = distinct such
 * accessions, skipped_other = complexes with fewer than two mapped genes. Source name "cocomplex". */
cg_status cg_read_complex_portal(const char *path, const cg_uniprot_map *map, cg_weighted_pairs *out,
                                 cg_source_stats *st);

#endif
