/* Genotype files (predict --input) and gene lists (screen --genes): see cellgraph/genotype_files.h. */
#include "cellgraph/genotype_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/lines.h"

void cg_genotype_list_free(cg_genotype_list *l) {
    if (!l) return;
    for (int64_t i = 0; i < l->n; i++) free(l->given[i]);
    free(l->given);
    free(l->geno);
    memset(l, 0, sizeof *l);
}

void cg_genotype_split_names(char *text, char *names[3], int *count) {
    char *save = NULL;
    for (char *tok = strtok_r(text, CG_GENOTYPE_SEPARATORS, &save); tok;
         tok = strtok_r(NULL, CG_GENOTYPE_SEPARATORS, &save)) {
        if (*count < 3) names[*count] = tok;
        if (*count < INT32_MAX) ++*count;
    }
}

/* one genotype's names -> gene indices, ascending */
static cg_status parse_genotype(const cg_genes *genes, char **names, int n, int32_t out[3], const char *where) {
    if (n < 1 || n > 3) return cg_error(CG_ERR_INVALID_ARG, "%s: a genotype has 1 to 3 genes, got %d", where, n);
    for (int k = 0; k < 3; k++) out[k] = -1;
    for (int k = 0; k < n; k++) {
        int32_t gi;
        if (cg_genes_resolve(genes, names[k], &gi) != CG_OK) return cg_error_wrap(cg_last_status(), "%s", where);
        for (int j = 0; j < k; j++)
            if (out[j] == gi)
                return cg_error(CG_ERR_INVALID_ARG, "%s: gene '%s' is repeated in the genotype (as '%s')", where,
                                names[k], names[j]);
        out[k] = gi;
    }
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (out[b] < out[a]) {
                int32_t tmp = out[a];
                out[a] = out[b];
                out[b] = tmp;
            }
    return CG_OK;
}

cg_status cg_genotype_list_add(cg_genotype_list *l, const cg_genes *genes, char **names, int count,
                               const char *where) {
    int32_t g[3];
    cg_status s = parse_genotype(genes, names, count, g, where);
    if (s != CG_OK) return s;
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        int32_t *ng = realloc(l->geno, (size_t)cap * 3 * sizeof *ng);
        if (ng) l->geno = ng;
        char **nn = ng ? realloc(l->given, (size_t)cap * sizeof *nn) : NULL;
        if (nn) l->given = nn;
        if (!ng || !nn) return cg_error(CG_ERR_NOMEM, "%s: out of memory for %lld genotypes", where, (long long)cap);
        l->cap = cap;
    }
    size_t len = 1;
    for (int k = 0; k < count; k++) len += strlen(names[k]) + 1;
    char *joined = malloc(len);
    if (!joined) return cg_error(CG_ERR_NOMEM, "%s: out of memory", where);
    joined[0] = '\0';
    for (int k = 0; k < count; k++) strcat(strcat(joined, k ? "," : ""), names[k]);
    memcpy(l->geno + 3 * l->n, g, sizeof g);
    l->given[l->n++] = joined;
    return CG_OK;
}

cg_status cg_read_genotype_file(const char *path, const cg_genes *genes, cg_genotype_list *l) {
    cg_lines r;
    cg_status s = cg_lines_open(&r, path);
    if (s != CG_OK) return s;
    char *line, where[4200];
    size_t len;
    int lrc;
    int64_t n0 = l->n;
    while ((lrc = cg_lines_next(&r, &line, &len)) > 0) {
        char *names[3];
        int count = 0;
        cg_genotype_split_names(line, names, &count);
        if (count == 0 || names[0][0] == '#') continue;
        snprintf(where, sizeof where, "%s: line %lld", path, (long long)r.lineno);
        if ((s = cg_genotype_list_add(l, genes, names, count, where)) != CG_OK) break;
    }
    if (s == CG_OK && lrc < 0) s = cg_last_status(); /* a NUL byte, a read error: file and line named */
    cg_lines_close(&r);
    if (s == CG_OK && l->n == n0) s = cg_error(CG_ERR_FORMAT, "%s: no genotype in the file", path);
    return s;
}

cg_status cg_read_gene_list(const char *path, const cg_genes *genes, int32_t **out, int64_t *n_out) {
    cg_lines r;
    cg_status s = cg_lines_open(&r, path);
    if (s != CG_OK) return s;
    int32_t n_genes = cg_genes_count(genes);
    int64_t n = 0;
    /* at most one entry per gene: a second is an error */
    int32_t *list = malloc((size_t)(n_genes > 0 ? n_genes : 1) * sizeof *list);
    int64_t *line_of = malloc((size_t)(n_genes > 0 ? n_genes : 1) * sizeof *line_of); /* by gene; 0 = not yet */
    char *line;
    size_t len;
    int lrc = 0;
    if (!list || !line_of) s = cg_error(CG_ERR_NOMEM, "out of memory");
    else
        for (int32_t i = 0; i < n_genes; i++) line_of[i] = 0;
    while (s == CG_OK && (lrc = cg_lines_next(&r, &line, &len)) > 0) {
        char *p = cg_strip(line);
        if (*p == '\0' || *p == '#') continue;
        int32_t gi;
        if (cg_genes_resolve(genes, p, &gi) != CG_OK) {
            s = cg_error_wrap(cg_last_status(), "%s:%lld", path, (long long)r.lineno);
            break;
        }
        if (line_of[gi]) {
            s = cg_error(CG_ERR_FORMAT, "%s:%lld: gene '%s' is listed twice (first on line %lld)", path,
                         (long long)r.lineno, p, (long long)line_of[gi]);
            break;
        }
        line_of[gi] = r.lineno;
        list[n++] = gi;
    }
    cg_lines_close(&r);
    if (s == CG_OK && lrc < 0) s = cg_last_status();
    free(line_of);
    if (s == CG_OK && n == 0) s = cg_error(CG_ERR_FORMAT, "%s: no gene in the file", path);
    if (s != CG_OK) {
        free(list);
        return s;
    }
    *out = list;
    *n_out = n;
    return CG_OK;
}
