/* Readers of the weighted gene-gene files behind the optional relations (cellgraph/weighted_sources.h).
 *
 * Each reader opens its file with cg_lines (plain or gzip), splits each line in place, resolves names
 * and appends what resolved. Unresolved names are collected and counted once each at the end (sorted,
 * ASCII case-insensitively), so nothing here keeps a hash table. On an error the list is put back to
 * the length it had on entry.
 */
#include "cellgraph/weighted_sources.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cellgraph/lines.h"

/* ---------------------------------------------------------------------------------------------------
 * weighted pair list
 * ------------------------------------------------------------------------------------------------- */

void cg_weighted_pairs_init(cg_weighted_pairs *l) { memset(l, 0, sizeof *l); }

cg_status cg_weighted_pairs_push(cg_weighted_pairs *l, int32_t a, int32_t b, float w) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 1024;
        int32_t *na = realloc(l->a, (size_t)cap * sizeof *na);
        if (na) l->a = na;
        int32_t *nb = na ? realloc(l->b, (size_t)cap * sizeof *nb) : NULL;
        if (nb) l->b = nb;
        float *nw = nb ? realloc(l->w, (size_t)cap * sizeof *nw) : NULL;
        if (!nw) return cg_error(CG_ERR_NOMEM, "weighted pairs: out of memory growing to %lld pairs", (long long)cap);
        l->w = nw;
        l->cap = cap;
    }
    l->a[l->n] = a;
    l->b[l->n] = b;
    l->w[l->n] = w;
    l->n++;
    return CG_OK;
}

void cg_weighted_pairs_free(cg_weighted_pairs *l) {
    free(l->a);
    free(l->b);
    free(l->w);
    memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------------------------------------------
 * unresolved names: collected as read, counted once each at the end
 * ------------------------------------------------------------------------------------------------- */

typedef struct tally_entry {
    char *name;
    bool ambiguous;
} tally_entry;

typedef struct tally {
    tally_entry *e;
    int64_t n, cap;
    cg_source_stats *st;
} tally;

/* Records one unresolved occurrence of name (kind: CG_LOOKUP_UNKNOWN or CG_LOOKUP_AMBIGUOUS); the first
 * few distinct names become the examples. */
static cg_status tally_add(tally *t, const char *name, cg_lookup kind) {
    cg_source_stats *st = t->st;
    int k = 0;
    while (k < CG_SOURCE_EXAMPLES && st->examples[k][0] && strncasecmp(st->examples[k], name, sizeof st->examples[0] - 1))
        k++;
    if (k < CG_SOURCE_EXAMPLES && !st->examples[k][0]) snprintf(st->examples[k], sizeof st->examples[0], "%s", name);
    if (t->n == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 64;
        tally_entry *ne = realloc(t->e, (size_t)cap * sizeof *ne);
        if (!ne) return cg_error(CG_ERR_NOMEM, "out of memory (unresolved names)");
        t->e = ne;
        t->cap = cap;
    }
    t->e[t->n].name = strdup(name);
    if (!t->e[t->n].name) return cg_error(CG_ERR_NOMEM, "out of memory (unresolved names)");
    t->e[t->n++].ambiguous = kind == CG_LOOKUP_AMBIGUOUS;
    return CG_OK;
}

static int cmp_entry(const void *a, const void *b) {
    return strcasecmp(((const tally_entry *)a)->name, ((const tally_entry *)b)->name);
}

/* Counts the distinct names into the stats (when ok) and frees the tally. */
static void tally_finish(tally *t, bool ok) {
    if (ok && t->n > 0) {
        qsort(t->e, (size_t)t->n, sizeof *t->e, cmp_entry);
        for (int64_t i = 0; i < t->n; i++)
            if (i == 0 || strcasecmp(t->e[i].name, t->e[i - 1].name) != 0) {
                t->st->unresolved_names++;
                t->st->ambiguous_names += t->e[i].ambiguous;
            }
    }
    for (int64_t i = 0; i < t->n; i++) free(t->e[i].name);
    free(t->e);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------------------------------------------
 * shared helpers
 * ------------------------------------------------------------------------------------------------- */

static bool is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return false;
    return true;
}

/* Splits at runs of blanks into at most max fields; returns the number of fields the line has. */
static int split_blank(char *line, char **f, int max) {
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (n < max) f[n] = tok;
        n++;
    }
    return n;
}

/* A weight: a finite decimal number in [0, 1], the whole field. */
static bool parse_weight(const char *s, float *w) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < 0.0 || v > 1.0) return false;
    *w = (float)v;
    return true;
}

static cg_status check_args(const char *fn, const void *a, const void *b, const void *c) {
    if (!a || !b || !c) return cg_error(CG_ERR_INVALID_ARG, "%s: NULL argument", fn);
    return CG_OK;
}

/* ---------------------------------------------------------------------------------------------------
 * STRING v9.1 channels (DANGO)
 * ------------------------------------------------------------------------------------------------- */

/* the genes file: row k (0-based) -> gene index or -1, and its name */
typedef struct row_genes {
    int64_t n, cap;
    int32_t *gene;
    uint8_t *kind;
    char **name;
} row_genes;

static void row_genes_free(row_genes *r) {
    for (int64_t i = 0; i < r->n; i++) free(r->name[i]);
    free(r->gene);
    free(r->kind);
    free(r->name);
}

static cg_status read_row_genes(const char *path, const cg_genes *g, row_genes *out) {
    cg_lines r;
    cg_status s = cg_lines_open(&r, path);
    if (s != CG_OK) return s;
    char *line;
    size_t len;
    int rc;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        char *name = cg_strip(line);
        if (!*name || strchr(name, ' ') || strchr(name, '\t')) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected one ORF name per line (rows are numbered by line)",
                         path, (long long)r.lineno);
            break;
        }
        if (out->n == out->cap) {
            int64_t cap = out->cap ? 2 * out->cap : 8192;
            int32_t *ng = realloc(out->gene, (size_t)cap * sizeof *ng);
            if (ng) out->gene = ng;
            uint8_t *nk = ng ? realloc(out->kind, (size_t)cap) : NULL;
            if (nk) out->kind = nk;
            char **nn = nk ? realloc(out->name, (size_t)cap * sizeof *nn) : NULL;
            if (!nn) {
                s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            out->name = nn;
            out->cap = cap;
        }
        int32_t idx = -1;
        cg_lookup k = cg_genes_lookup(g, name, &idx);
        out->gene[out->n] = k == CG_LOOKUP_FOUND ? idx : -1;
        out->kind[out->n] = (uint8_t)k;
        out->name[out->n] = strdup(name);
        if (!out->name[out->n]) {
            s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        out->n++;
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    if (s == CG_OK && out->n == 0) s = cg_error(CG_ERR_FORMAT, "%s: no gene names", path);
    cg_lines_close(&r);
    return s;
}

/* "string9_<channel>" from ".../yeast_string_<channel>_adjacency.txt", else "string9:<base name>" */
static void string9_source_name(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *pre = "yeast_string_", *suf = "_adjacency.txt";
    size_t n = strlen(base), np = strlen(pre), ns = strlen(suf);
    if (n > np + ns && strncmp(base, pre, np) == 0 && strcmp(base + n - ns, suf) == 0)
        snprintf(buf, cap, "string9_%.*s", (int)(n - np - ns), base + np);
    else
        snprintf(buf, cap, "string9:%s", base);
}

/* a 1-based row number of the genes file, the whole field */
static bool parse_row(const char *s, int64_t n_rows, int64_t *row) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < 1 || v > n_rows) return false;
    *row = v - 1;
    return true;
}

cg_status cg_read_string9_channel(const char *adjacency_path, const char *genes_path, const cg_genes *g,
                                  cg_weighted_pairs *out, cg_source_stats *st) {
    cg_status s = check_args("cg_read_string9_channel", adjacency_path, genes_path, g);
    if (s == CG_OK) s = check_args("cg_read_string9_channel", out, out, out);
    if (s != CG_OK) return s;
    cg_source_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    string9_source_name(adjacency_path, st->source, sizeof st->source);
    int64_t n0 = out->n;
    row_genes rows = {0};
    tally t = {.st = st};
    s = read_row_genes(genes_path, g, &rows);
    cg_lines r;
    memset(&r, 0, sizeof r);
    if (s == CG_OK) s = cg_lines_open(&r, adjacency_path);
    char *line, *f[3];
    size_t len;
    int rc = 0;
    while (s == CG_OK && (rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        int nf = split_blank(line, f, 3);
        int64_t i = 0, j = 0;
        float w = 0;
        if (nf != 3) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected 3 fields 'i j weight', found %d", adjacency_path,
                         (long long)r.lineno, nf);
            break;
        }
        if (!parse_row(f[0], rows.n, &i) || !parse_row(f[1], rows.n, &j)) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: gene row '%.32s' is not a row number of %s (1..%lld)",
                         adjacency_path, (long long)r.lineno, parse_row(f[0], rows.n, &i) ? f[1] : f[0], genes_path,
                         (long long)rows.n);
            break;
        }
        if (!parse_weight(f[2], &w)) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: weight '%.32s' is not a number in [0, 1]", adjacency_path,
                         (long long)r.lineno, f[2]);
            break;
        }
        st->rows++;
        if (rows.gene[i] >= 0 && rows.gene[j] >= 0) {
            st->pairs++;
            s = cg_weighted_pairs_push(out, rows.gene[i], rows.gene[j], w);
            continue;
        }
        st->unresolved_rows++;
        if (rows.gene[i] < 0) s = tally_add(&t, rows.name[i], (cg_lookup)rows.kind[i]);
        if (s == CG_OK && rows.gene[j] < 0) s = tally_add(&t, rows.name[j], (cg_lookup)rows.kind[j]);
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    cg_lines_close(&r);
    row_genes_free(&rows);
    tally_finish(&t, s == CG_OK);
    if (s != CG_OK) out->n = n0;
    return s;
}

/* ---------------------------------------------------------------------------------------------------
 * co-expression (Hu et al. 2007)
 * ------------------------------------------------------------------------------------------------- */

cg_status cg_read_coexpression(const char *path, const cg_genes *g, cg_weighted_pairs *out, cg_source_stats *st) {
    cg_status s = check_args("cg_read_coexpression", path, g, out);
    if (s != CG_OK) return s;
    cg_source_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    snprintf(st->source, sizeof st->source, "coexpression");
    int64_t n0 = out->n;
    tally t = {.st = st};
    cg_lines r;
    if ((s = cg_lines_open(&r, path)) != CG_OK) return s;
    char *line, *f[3];
    size_t len;
    int rc;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        int nf = split_blank(line, f, 3);
        float w = 0;
        if (nf != 3) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected 3 fields 'ORF1 ORF2 weight', found %d", path,
                         (long long)r.lineno, nf);
            break;
        }
        if (!parse_weight(f[2], &w)) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: weight '%.32s' is not a number in [0, 1]", path,
                         (long long)r.lineno, f[2]);
            break;
        }
        int32_t ia = -1, ib = -1;
        cg_lookup ka = cg_genes_lookup(g, f[0], &ia), kb = cg_genes_lookup(g, f[1], &ib);
        st->rows++;
        if (ka == CG_LOOKUP_FOUND && kb == CG_LOOKUP_FOUND) {
            st->pairs++;
            if ((s = cg_weighted_pairs_push(out, ia, ib, w)) != CG_OK) break;
            continue;
        }
        st->unresolved_rows++;
        if (ka != CG_LOOKUP_FOUND && (s = tally_add(&t, f[0], ka)) != CG_OK) break;
        if (kb != CG_LOOKUP_FOUND && (s = tally_add(&t, f[1], kb)) != CG_OK) break;
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    cg_lines_close(&r);
    tally_finish(&t, s == CG_OK);
    if (s != CG_OK) out->n = n0;
    return s;
}

/* ---------------------------------------------------------------------------------------------------
 * UniProt -> gene, from yeast-GEM's genes section
 * ------------------------------------------------------------------------------------------------- */

typedef struct acc_gene {
    char *acc;
    int32_t gene; /* -1: ambiguous */
} acc_gene;

struct cg_uniprot_map {
    acc_gene *e; /* sorted by accession */
    int64_t n, cap;
    int64_t n_mapped;
};

void cg_uniprot_map_free(cg_uniprot_map *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++) free(m->e[i].acc);
    free(m->e);
    free(m);
}

int64_t cg_uniprot_map_count(const cg_uniprot_map *m) { return m ? m->n_mapped : 0; }

static int cmp_acc(const void *a, const void *b) {
    const acc_gene *x = a, *y = b;
    int c = strcmp(x->acc, y->acc);
    return c ? c : (x->gene > y->gene) - (x->gene < y->gene);
}

int32_t cg_uniprot_map_gene(const cg_uniprot_map *m, const char *acc) {
    int64_t lo = 0, hi = m ? m->n : 0;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->e[mid].acc, acc);
        if (c == 0) return m->e[mid].gene;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* the value of "key: value" in place, without surrounding quotes */
static char *yaml_value(char *v) {
    v = cg_strip(v);
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        v[n - 1] = '\0';
        v++;
    }
    return v;
}

/* Ends the current gene entry: records its (accession, gene) when it had an accession. */
static cg_status gem_entry_end(cg_uniprot_map *m, const cg_genes *g, cg_source_stats *st, tally *t, const char *path,
                               const char *id, const char *acc, int64_t acc_line) {
    if (!*acc) return CG_OK;
    if (!*id)
        return cg_error(CG_ERR_FORMAT, "%s: line %lld: a gene entry with a uniprot annotation but no id", path,
                        (long long)acc_line);
    st->rows++;
    int32_t gi = -1;
    cg_lookup k = cg_genes_lookup(g, id, &gi);
    if (k != CG_LOOKUP_FOUND) {
        st->unresolved_rows++;
        return tally_add(t, id, k);
    }
    if (m->n == m->cap) {
        int64_t cap = m->cap ? 2 * m->cap : 1024;
        acc_gene *ne = realloc(m->e, (size_t)cap * sizeof *ne);
        if (!ne) return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
        m->e = ne;
        m->cap = cap;
    }
    m->e[m->n].acc = strdup(acc);
    if (!m->e[m->n].acc) return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    m->e[m->n++].gene = gi;
    return CG_OK;
}

cg_status cg_uniprot_map_from_gem(const char *gem_path, const cg_genes *g, cg_uniprot_map **out,
                                  cg_source_stats *st) {
    cg_status s = check_args("cg_uniprot_map_from_gem", gem_path, g, out);
    if (s != CG_OK) return s;
    *out = NULL;
    cg_source_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    snprintf(st->source, sizeof st->source, "yeast-GEM genes: UniProt");
    cg_uniprot_map *m = calloc(1, sizeof *m);
    if (!m) return cg_error(CG_ERR_NOMEM, "%s: out of memory", gem_path);
    tally t = {.st = st};
    cg_lines r;
    if ((s = cg_lines_open(&r, gem_path)) != CG_OK) {
        free(m);
        return s;
    }
    char *line, id[128] = "", acc[64] = "";
    size_t len;
    int rc;
    bool in_genes = false, seen_genes = false;
    int item_indent = -1; /* indentation of the "- " that starts each gene entry */
    int64_t acc_line = 0;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        int indent = 0;
        while (line[indent] == ' ') indent++;
        if (indent == 0) {
            /* a top-level section: "- genes:" opens ours, anything else closes it */
            if (in_genes && (s = gem_entry_end(m, g, st, &t, gem_path, id, acc, acc_line)) != CG_OK) break;
            id[0] = acc[0] = '\0';
            in_genes = strcmp(cg_strip(line), "- genes:") == 0;
            seen_genes |= in_genes;
            continue;
        }
        if (!in_genes) continue;
        char *p = line + indent;
        bool item = p[0] == '-' && (p[1] == ' ' || p[1] == '\0');
        if (item && item_indent < 0) item_indent = indent;
        if (item && indent == item_indent) {
            if ((s = gem_entry_end(m, g, st, &t, gem_path, id, acc, acc_line)) != CG_OK) break;
            id[0] = acc[0] = '\0';
        }
        if (item) p = cg_strip(p + 1);
        char *colon = strchr(p, ':');
        if (!colon) continue;
        *colon = '\0';
        const char *key = cg_strip(p);
        if (strcmp(key, "id") == 0 && !id[0]) {
            snprintf(id, sizeof id, "%s", yaml_value(colon + 1));
        } else if (strcmp(key, "uniprot") == 0) {
            char *v = yaml_value(colon + 1);
            if (!*v || strlen(v) >= sizeof acc || strpbrk(v, " \t[]{},")) {
                s = cg_error(CG_ERR_FORMAT, "%s: line %lld: uniprot annotation '%.40s' is not one accession", gem_path,
                             (long long)r.lineno, v);
                break;
            }
            snprintf(acc, sizeof acc, "%s", v);
            acc_line = r.lineno;
        }
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    if (s == CG_OK && in_genes) s = gem_entry_end(m, g, st, &t, gem_path, id, acc, acc_line);
    if (s == CG_OK && !seen_genes) s = cg_error(CG_ERR_FORMAT, "%s: no top-level '- genes:' section", gem_path);
    cg_lines_close(&r);
    tally_finish(&t, s == CG_OK);
    if (s == CG_OK) {
        /* sort; an accession given for two genes maps to neither */
        if (m->n > 1) qsort(m->e, (size_t)m->n, sizeof *m->e, cmp_acc);
        int64_t k = 0;
        for (int64_t i = 0; i < m->n; i++) {
            if (k > 0 && strcmp(m->e[k - 1].acc, m->e[i].acc) == 0) {
                if (m->e[k - 1].gene != m->e[i].gene && m->e[k - 1].gene >= 0) {
                    m->e[k - 1].gene = -1;
                    st->ambiguous_names++;
                }
                free(m->e[i].acc);
                continue;
            }
            m->e[k++] = m->e[i];
        }
        m->n = k;
        for (int64_t i = 0; i < m->n; i++) m->n_mapped += m->e[i].gene >= 0;
        st->pairs = m->n_mapped;
        *out = m;
    } else {
        cg_uniprot_map_free(m);
    }
    return s;
}

/* ---------------------------------------------------------------------------------------------------
 * Complex Portal
 * ------------------------------------------------------------------------------------------------- */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

#define COMPLEX_MEMBERS_COLUMN "Expanded participant list"

/* One accession of a complex: maps it (the part before a '-') and appends its gene to genes[]. */
static cg_status complex_member(const cg_uniprot_map *map, cg_source_stats *st, tally *t, char *acc, int32_t **genes,
                                int64_t *n, int64_t *cap) {
    char *dash = strchr(acc, '-');
    if (dash) *dash = '\0';
    int32_t gi = cg_uniprot_map_gene(map, acc);
    if (gi < 0) {
        st->unresolved_rows++;
        return tally_add(t, acc, CG_LOOKUP_UNKNOWN);
    }
    if (*n == *cap) {
        int64_t c = *cap ? 2 * *cap : 64;
        int32_t *ng = realloc(*genes, (size_t)c * sizeof *ng);
        if (!ng) return cg_error(CG_ERR_NOMEM, "out of memory (complex members)");
        *genes = ng;
        *cap = c;
    }
    (*genes)[(*n)++] = gi;
    return CG_OK;
}

cg_status cg_read_complex_portal(const char *path, const cg_uniprot_map *map, cg_weighted_pairs *out,
                                 cg_source_stats *st) {
    cg_status s = check_args("cg_read_complex_portal", path, map, out);
    if (s != CG_OK) return s;
    cg_source_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    snprintf(st->source, sizeof st->source, "cocomplex");
    int64_t n0 = out->n;
    tally t = {.st = st};
    cg_lines r;
    if ((s = cg_lines_open(&r, path)) != CG_OK) return s;
    char *line, **f = NULL;
    size_t len;
    int rc, ncol = -1, mcol = -1;
    int32_t *genes = NULL;
    int64_t ng = 0, cap = 0;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        if (ncol < 0) {
            if (strncmp(line, "#Complex ac", 11) != 0) {
                s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected the Complex Portal header '#Complex ac\\t...'",
                             path, (long long)r.lineno);
                break;
            }
            ncol = 1;
            for (const char *q = line; *q; q++) ncol += *q == '\t';
            f = malloc(((size_t)ncol + 1) * sizeof *f);
            if (!f) {
                s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            cg_split_fields(line, '\t', f, ncol);
            for (int c = 0; c < ncol; c++)
                if (strcmp(cg_strip(f[c]), COMPLEX_MEMBERS_COLUMN) == 0) mcol = c;
            if (mcol < 0) {
                s = cg_error(CG_ERR_FORMAT, "%s: line %lld: no column '%s' in the header", path, (long long)r.lineno,
                             COMPLEX_MEMBERS_COLUMN);
                break;
            }
            continue;
        }
        int nf = cg_split_fields(line, '\t', f, ncol + 1);
        if (nf != ncol) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected %d tab-separated columns, found %d%s", path,
                         (long long)r.lineno, ncol, nf, nf > ncol ? " or more" : "");
            break;
        }
        st->rows++;
        ng = 0;
        char *save = NULL;
        for (char *m = strtok_r(f[mcol], "|", &save); m && s == CG_OK; m = strtok_r(NULL, "|", &save)) {
            /* "<id>(<stoichiometry>)" */
            m = cg_strip(m);
            size_t ml = strlen(m);
            char *open = strrchr(m, '('), *end = NULL;
            bool ok = ml > 0 && m[ml - 1] == ')' && open && open > m;
            if (ok) {
                errno = 0;
                (void)strtol(open + 1, &end, 10);
                ok = end != open + 1 && end == m + ml - 1 && !errno;
            }
            if (!ok) {
                s = cg_error(CG_ERR_FORMAT, "%s: line %lld: member '%.40s' is not '<id>(<stoichiometry>)'", path,
                             (long long)r.lineno, m);
                break;
            }
            *open = '\0';
            if (strncmp(m, "CHEBI:", 6) == 0 || strncmp(m, "URS", 3) == 0 || strncmp(m, "CPX-", 4) == 0) {
                st->dropped_columns++; /* a small molecule, an RNA, or a complex: not a gene product */
                continue;
            }
            if (m[0] == '[') {
                size_t n = strlen(m);
                if (n < 3 || m[n - 1] != ']') {
                    s = cg_error(CG_ERR_FORMAT, "%s: line %lld: member set '%.40s' lacks its closing ']'", path,
                                 (long long)r.lineno, m);
                    break;
                }
                m[n - 1] = '\0';
                char *save2 = NULL;
                for (char *a = strtok_r(m + 1, ",", &save2); a && s == CG_OK; a = strtok_r(NULL, ",", &save2))
                    s = complex_member(map, st, &t, cg_strip(a), &genes, &ng, &cap);
            } else {
                s = complex_member(map, st, &t, m, &genes, &ng, &cap);
            }
        }
        if (s != CG_OK) break;
        if (ng > 1) qsort(genes, (size_t)ng, sizeof *genes, cmp_i32);
        int64_t k = 0;
        for (int64_t i = 0; i < ng; i++)
            if (k == 0 || genes[k - 1] != genes[i]) genes[k++] = genes[i];
        if (k < 2) st->skipped_other++;
        for (int64_t i = 0; i < k && s == CG_OK; i++)
            for (int64_t j = i + 1; j < k && s == CG_OK; j++) {
                s = cg_weighted_pairs_push(out, genes[i], genes[j], 1.0f);
                st->pairs++;
            }
        if (s != CG_OK) break;
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    if (s == CG_OK && ncol < 0) s = cg_error(CG_ERR_FORMAT, "%s: empty file (expected the header line)", path);
    cg_lines_close(&r);
    free(f);
    free(genes);
    tally_finish(&t, s == CG_OK);
    if (s != CG_OK) out->n = n0;
    return s;
}
