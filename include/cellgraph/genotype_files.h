/* cellgraph/genotype_files.h: the small text files users hand to the CLI: genotypes to predict
 * (`cellgraph predict --input FILE`) and gene lists to screen (`cellgraph screen --genes FILE`). Both are
 * read with cg_lines (plain or gzip, lines of any length; a NUL byte is an error naming file and line) and
 * resolve names with cg_genes_resolve (systematic, standard or alias, case-insensitive).
 *
 * Genotype file: one genotype per line, 1 to 3 gene names separated by spaces, tabs or commas; blank lines
 * and lines whose first name starts with '#' are skipped. An unknown, ambiguous or repeated gene, or a
 * count of names other than 1 to 3, is an error naming the file and the line.
 *
 * Gene list: one gene name per line (surrounding whitespace ignored); blank lines and lines starting with
 * '#' are skipped. An unknown or ambiguous name, or a gene listed twice (under any of its names), is an
 * error naming the file and the line.
 */
#ifndef CELLGRAPH_GENOTYPE_FILES_H
#define CELLGRAPH_GENOTYPE_FILES_H

#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/genes.h"

/* What separates the names of a genotype. */
#define CG_GENOTYPE_SEPARATORS " \t,"

/* Genotypes with the names they were given by. */
typedef struct cg_genotype_list {
    int32_t *geno; /* [n, 3] gene indices, ascending, -1 padded */
    char **given;  /* [n] the names as given, joined by ',' */
    int64_t n, cap;
} cg_genotype_list;

/* Frees the arrays and zeroes l. Safe on a zeroed list. */
void cg_genotype_list_free(cg_genotype_list *l);

/* Splits text in place at CG_GENOTYPE_SEPARATORS: the first 3 names go to names[] from *count on, and
 * *count counts every name (so that a genotype of too many names is reported with its true size). */
void cg_genotype_split_names(char *text, char *names[3], int *count);

/* Resolves names[0..count) and appends the genotype to l. `where` starts every error message ("command
 * line", "FILE: line N"). Errors: CG_ERR_INVALID_ARG (count not 1..3, a repeated gene, an ambiguous name),
 * CG_ERR_NOT_FOUND (an unknown name), CG_ERR_NOMEM. l is unchanged on error. */
cg_status cg_genotype_list_add(cg_genotype_list *l, const cg_genes *genes, char **names, int count,
                               const char *where);

/* Appends the genotypes of the file at path to l (see above). A file without any genotype is
 * CG_ERR_FORMAT. Other errors: those of cg_lines_open / cg_lines_next and cg_genotype_list_add. On error l
 * may hold the genotypes of the lines before the bad one (free it with cg_genotype_list_free). */
cg_status cg_read_genotype_file(const char *path, const cg_genes *genes, cg_genotype_list *l);

/* The genes of the gene list at path, in file order, in *out (malloc'd) and their number in *n_out. A file
 * without any gene is CG_ERR_FORMAT. On error *out and *n_out are untouched. */
cg_status cg_read_gene_list(const char *path, const cg_genes *genes, int32_t **out, int64_t *n_out);

#endif
