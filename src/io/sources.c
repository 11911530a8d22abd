/* Readers of the gene-gene network files (include/cellgraph/sources.h).
 *
 * Every reader follows the same pattern: open the file with cg_lines (plain or gzip), split each line
 * into fields in place, resolve the gene names with cg_genes_lookup, and append the resolved pairs to
 * the caller's edge list. Names that do not resolve are counted in the stats through a small
 * case-insensitive hash set (so each distinct name is counted once). On an error the edge list is put
 * back to the length it had on entry, so a failed read never leaves half a source behind.
 */
#include "cellgraph/sources.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cellgraph/lines.h"

/* ---------------------------------------------------------------------------------------------------
 * edge list
 * ------------------------------------------------------------------------------------------------- */

void cg_edge_list_init(cg_edge_list *l) { memset(l, 0, sizeof *l); }

cg_status cg_edge_list_push(cg_edge_list *l, int32_t src, int32_t dst) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 1024;
        int32_t *s = realloc(l->src, (size_t)cap * sizeof *s);
        if (!s) return cg_error(CG_ERR_NOMEM, "edge list: out of memory growing to %lld pairs", (long long)cap);
        l->src = s;
        int32_t *d = realloc(l->dst, (size_t)cap * sizeof *d);
        if (!d) return cg_error(CG_ERR_NOMEM, "edge list: out of memory growing to %lld pairs", (long long)cap);
        l->dst = d;
        l->cap = cap;
    }
    l->src[l->n] = src;
    l->dst[l->n] = dst;
    l->n++;
    return CG_OK;
}

void cg_edge_list_free(cg_edge_list *l) {
    free(l->src);
    free(l->dst);
    memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------------------------------------------
 * unresolved-name set: open addressing over malloc'd copies, case-insensitive (like the resolver)
 * ------------------------------------------------------------------------------------------------- */

typedef struct name_set {
    char **slot; /* cap entries, NULL = empty */
    size_t cap, n;
} name_set;

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a over lower-cased bytes */
    for (; *s; s++) {
        h ^= (uint64_t)(unsigned char)tolower((unsigned char)*s);
        h *= 1099511628211ull;
    }
    return h;
}

static void name_set_free(name_set *ns) {
    for (size_t i = 0; i < ns->cap; i++) free(ns->slot[i]);
    free(ns->slot);
    memset(ns, 0, sizeof *ns);
}

/* Inserts name; returns 1 if it was new, 0 if already there, -1 when out of memory (status set). */
static int name_set_add(name_set *ns, const char *name) {
    if (2 * (ns->n + 1) > ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 64;
        char **slot = calloc(cap, sizeof *slot);
        if (!slot) {
            cg_error(CG_ERR_NOMEM, "out of memory (unresolved-name set)");
            return -1;
        }
        for (size_t i = 0; i < ns->cap; i++) {
            if (!ns->slot[i]) continue;
            size_t j = (size_t)hash_name(ns->slot[i]) & (cap - 1);
            while (slot[j]) j = (j + 1) & (cap - 1);
            slot[j] = ns->slot[i];
        }
        free(ns->slot);
        ns->slot = slot;
        ns->cap = cap;
    }
    size_t j = (size_t)hash_name(name) & (ns->cap - 1);
    while (ns->slot[j]) {
        if (strcasecmp(ns->slot[j], name) == 0) return 0;
        j = (j + 1) & (ns->cap - 1);
    }
    ns->slot[j] = strdup(name);
    if (!ns->slot[j]) {
        cg_error(CG_ERR_NOMEM, "out of memory (unresolved-name set)");
        return -1;
    }
    ns->n++;
    return 1;
}

/* ---------------------------------------------------------------------------------------------------
 * shared reader state
 * ------------------------------------------------------------------------------------------------- */

typedef struct reader {
    const cg_genes *g;
    cg_edge_list *out;
    cg_source_stats *st;
    name_set unresolved;
} reader;

/* Counts an unresolved name (kind is CG_LOOKUP_UNKNOWN or CG_LOOKUP_AMBIGUOUS). */
static cg_status note_unresolved(reader *rd, const char *name, cg_lookup kind) {
    int added = name_set_add(&rd->unresolved, name);
    if (added < 0) return CG_ERR_NOMEM;
    if (added) {
        cg_source_stats *st = rd->st;
        if (st->unresolved_names < CG_SOURCE_EXAMPLES)
            snprintf(st->examples[st->unresolved_names], sizeof st->examples[0], "%s", name);
        st->unresolved_names++;
        if (kind == CG_LOOKUP_AMBIGUOUS) st->ambiguous_names++;
    }
    return CG_OK;
}

/* One relation a -> b between two names: a row of the file. Resolves both names, appends the pair or
 * counts the row as unresolved. */
static cg_status relation(reader *rd, const char *a, const char *b) {
    int32_t ia = -1, ib = -1;
    cg_lookup ka = cg_genes_lookup(rd->g, a, &ia);
    cg_lookup kb = cg_genes_lookup(rd->g, b, &ib);
    rd->st->rows++;
    if (ka == CG_LOOKUP_FOUND && kb == CG_LOOKUP_FOUND) {
        rd->st->pairs++;
        return cg_edge_list_push(rd->out, ia, ib);
    }
    rd->st->unresolved_rows++;
    if (ka != CG_LOOKUP_FOUND && note_unresolved(rd, a, ka) != CG_OK) return CG_ERR_NOMEM;
    if (kb != CG_LOOKUP_FOUND && note_unresolved(rd, b, kb) != CG_OK) return CG_ERR_NOMEM;
    return CG_OK;
}

/* Checks the arguments and sets up rd; st may be NULL (then a local is used through *local). */
static cg_status reader_begin(reader *rd, const char *fn, const char *path, const cg_genes *g, cg_edge_list *out,
                              cg_source_stats *st, cg_source_stats *local, const char *source) {
    memset(rd, 0, sizeof *rd);
    if (!path || !g || !out) return cg_error(CG_ERR_INVALID_ARG, "%s: path, genes and edge list may not be NULL", fn);
    rd->g = g;
    rd->out = out;
    rd->st = st ? st : local;
    memset(rd->st, 0, sizeof *rd->st);
    snprintf(rd->st->source, sizeof rd->st->source, "%s", source);
    return CG_OK;
}

/* Frees rd's memory; on failure also rolls the edge list back to n0 pairs. Returns s. */
static cg_status reader_end(reader *rd, cg_status s, int64_t n0) {
    name_set_free(&rd->unresolved);
    if (s != CG_OK && rd->out) rd->out->n = n0;
    return s;
}

/* True if the line is empty or only spaces/tabs (blank lines are skipped by every reader). */
static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

/* Splits at runs of spaces and tabs (leading and trailing ones ignored) into at most max fields;
 * returns how many fields the line has (counting beyond max, so the caller can reject extra ones). */
static int split_ws(char *line, char **fields, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (n < max) fields[n] = p;
        n++;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (!*p) break;
        *p++ = '\0';
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------------
 * STRING v11 protein actions
 * ------------------------------------------------------------------------------------------------- */

#define STRING_COLS 7
#define STRING_TAXON "4932."

cg_status cg_read_string11_binding(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st) {
    reader rd;
    cg_source_stats local;
    cg_status s = reader_begin(&rd, "cg_read_string11_binding", path, g, out, st, &local, "string11_binding");
    if (s != CG_OK) return s;
    int64_t n0 = out->n;
    cg_lines r;
    if ((s = cg_lines_open(&r, path)) != CG_OK) return reader_end(&rd, s, n0);
    const size_t tlen = strlen(STRING_TAXON);
    char *line, *f[STRING_COLS + 1];
    size_t len;
    int rc, header = 0;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        int nf = cg_split_fields(line, '\t', f, STRING_COLS + 1);
        if (nf != STRING_COLS) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected %d tab-separated columns, found %d%s", path,
                         (long long)r.lineno, STRING_COLS, nf, nf > STRING_COLS ? " or more" : "");
            break;
        }
        if (!header) {
            if (strcmp(f[0], "item_id_a") != 0 || strcmp(f[1], "item_id_b") != 0 || strcmp(f[2], "mode") != 0) {
                s = cg_error(CG_ERR_FORMAT,
                             "%s: line %lld: expected the header 'item_id_a item_id_b mode action is_directional "
                             "a_is_acting score'",
                             path, (long long)r.lineno);
                break;
            }
            header = 1;
            continue;
        }
        if (strcmp(f[2], "binding") != 0) {
            rd.st->skipped_other++;
            continue;
        }
        int bad = strncmp(f[0], STRING_TAXON, tlen) != 0 ? 0 : strncmp(f[1], STRING_TAXON, tlen) != 0 ? 1 : -1;
        if (bad >= 0) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: protein id '%s' does not start with '%s'", path,
                         (long long)r.lineno, f[bad], STRING_TAXON);
            break;
        }
        if ((s = relation(&rd, f[0] + tlen, f[1] + tlen)) != CG_OK) break;
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    if (s == CG_OK && !header) s = cg_error(CG_ERR_FORMAT, "%s: empty file (expected a header line)", path);
    cg_lines_close(&r);
    return reader_end(&rd, s, n0);
}

/* ---------------------------------------------------------------------------------------------------
 * two-name-per-line files: Krogan 2006 (whitespace), Tarassov 2008 (tab, columns 1 and 4),
 * YEASTRACT 2013 (';')
 * ------------------------------------------------------------------------------------------------- */

cg_status cg_read_krogan2006(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st) {
    reader rd;
    cg_source_stats local;
    cg_status s = reader_begin(&rd, "cg_read_krogan2006", path, g, out, st, &local, "krogan2006");
    if (s != CG_OK) return s;
    int64_t n0 = out->n;
    cg_lines r;
    if ((s = cg_lines_open(&r, path)) != CG_OK) return reader_end(&rd, s, n0);
    char *line, *f[2];
    size_t len;
    int rc;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        int nf = split_ws(line, f, 2);
        if (nf != 2) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected 2 whitespace-separated ORF names, found %d fields",
                         path, (long long)r.lineno, nf);
            break;
        }
        if ((s = relation(&rd, f[0], f[1])) != CG_OK) break;
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    cg_lines_close(&r);
    return reader_end(&rd, s, n0);
}

#define TARASSOV_MIN_COLS 4

cg_status cg_read_tarassov2008(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st) {
    reader rd;
    cg_source_stats local;
    cg_status s = reader_begin(&rd, "cg_read_tarassov2008", path, g, out, st, &local, "tarassov2008");
    if (s != CG_OK) return s;
    int64_t n0 = out->n;
    cg_lines r;
    if ((s = cg_lines_open(&r, path)) != CG_OK) return reader_end(&rd, s, n0);
    char *line, *f[TARASSOV_MIN_COLS + 1];
    size_t len;
    int rc, header = 0;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        if (!header) { /* the first non-blank line is the header */
            header = 1;
            continue;
        }
        int nf = cg_split_fields(line, '\t', f, TARASSOV_MIN_COLS + 1);
        if (nf < TARASSOV_MIN_COLS) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected at least %d tab-separated columns, found %d", path,
                         (long long)r.lineno, TARASSOV_MIN_COLS, nf);
            break;
        }
        /* f[3] may still hold the rest of the line when there are more columns */
        char *tab = strchr(f[3], '\t');
        if (tab) *tab = '\0';
        char *a = cg_strip(f[0]), *b = cg_strip(f[3]);
        if (!*a || !*b) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: empty ORF name in column %d", path, (long long)r.lineno,
                         *a ? 4 : 1);
            break;
        }
        if ((s = relation(&rd, a, b)) != CG_OK) break;
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    cg_lines_close(&r);
    return reader_end(&rd, s, n0);
}

cg_status cg_read_yeastract_2013(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st) {
    reader rd;
    cg_source_stats local;
    cg_status s = reader_begin(&rd, "cg_read_yeastract_2013", path, g, out, st, &local, "yeastract2013");
    if (s != CG_OK) return s;
    int64_t n0 = out->n;
    cg_lines r;
    if ((s = cg_lines_open(&r, path)) != CG_OK) return reader_end(&rd, s, n0);
    char *line, *f[3];
    size_t len;
    int rc;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        int nf = cg_split_fields(line, ';', f, 3);
        if (nf != 2) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected 'TF;target', found %d ';'-separated fields%s", path,
                         (long long)r.lineno, nf, nf > 2 ? " or more" : "");
            break;
        }
        char *tf = cg_strip(f[0]), *target = cg_strip(f[1]);
        if (!*tf || !*target) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: empty %s name", path, (long long)r.lineno,
                         *tf ? "target" : "TF");
            break;
        }
        if ((s = relation(&rd, tf, target)) != CG_OK) break;
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    cg_lines_close(&r);
    return reader_end(&rd, s, n0);
}

/* ---------------------------------------------------------------------------------------------------
 * YEASTRACT 2020 regulation matrices
 * ------------------------------------------------------------------------------------------------- */

#define COL_DROPPED (-1)   /* an "Uncharacterized" column */
#define COL_UNRESOLVED (-2) /* a target name the resolver does not know (or an ambiguous alias) */

/* "yeastract2020:" + the file's base name without directory, ".gz" / ".csv" and the common
 * "_RegulationMatrix_Documented_<date>" suffix (e.g. "yeastract2020:DNABinding_AND_Expr_TF_act_OR_inh"). */
static void matrix_source_name(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".gz") == 0) n -= 3;
    if (n > 4 && strncmp(base + n - 4, ".csv", 4) == 0) n -= 4;
    const char *suffix = strstr(base, "_RegulationMatrix");
    if (suffix && (size_t)(suffix - base) < n) n = (size_t)(suffix - base);
    snprintf(buf, cap, "yeastract2020:%.*s", (int)n, base);
}

/* Resolves a TF protein name ("Cyc8p"): the name with one trailing 'p'/'P' removed first, then the
 * name as written. On failure returns the kind of the first attempt. */
static cg_lookup lookup_tf(const cg_genes *g, const char *name, int32_t *index) {
    size_t n = strlen(name);
    cg_lookup k0 = CG_LOOKUP_UNKNOWN;
    if (n > 1 && (name[n - 1] == 'p' || name[n - 1] == 'P')) {
        char buf[256];
        if (n - 1 < sizeof buf) {
            memcpy(buf, name, n - 1);
            buf[n - 1] = '\0';
            k0 = cg_genes_lookup(g, buf, index);
            if (k0 == CG_LOOKUP_FOUND) return k0;
        }
        cg_lookup k1 = cg_genes_lookup(g, name, index);
        return k1 == CG_LOOKUP_FOUND ? k1 : k0;
    }
    return cg_genes_lookup(g, name, index);
}

cg_status cg_read_yeastract_matrix(const char *path, const cg_genes *g, cg_edge_list *out, cg_source_stats *st) {
    reader rd;
    cg_source_stats local;
    char source[sizeof local.source];
    matrix_source_name(path ? path : "", source, sizeof source);
    cg_status s = reader_begin(&rd, "cg_read_yeastract_matrix", path, g, out, st, &local, source);
    if (s != CG_OK) return s;
    int64_t n0 = out->n;
    cg_lines r;
    if ((s = cg_lines_open(&r, path)) != CG_OK) return reader_end(&rd, s, n0);

    int32_t *col = NULL;       /* per target column: gene index, COL_DROPPED or COL_UNRESOLVED */
    uint8_t *col_kind = NULL;  /* cg_lookup of an unresolved column */
    char **col_name = NULL;    /* names of unresolved columns (into names) */
    char *names = NULL;        /* copy of the header line */
    int64_t ncol = -1;
    char *line;
    size_t len;
    int rc;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        if (ncol < 0) {
            /* header: "<count>;name;name;..." */
            names = malloc(len + 1);
            if (!names) {
                s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            memcpy(names, line, len + 1);
            int64_t n = 0;
            for (size_t i = 0; i < len; i++) n += names[i] == ';';
            col = malloc((size_t)(n ? n : 1) * sizeof *col);
            col_kind = malloc((size_t)(n ? n : 1));
            col_name = malloc((size_t)(n ? n : 1) * sizeof *col_name);
            if (!col || !col_kind || !col_name) {
                s = cg_error(CG_ERR_NOMEM, "%s: out of memory (%lld columns)", path, (long long)n);
                break;
            }
            char *p = names, *semi = strchr(p, ';');
            if (semi) *semi = '\0';
            char *end;
            errno = 0;
            long long declared = strtoll(cg_strip(p), &end, 10);
            if (!semi || *end || end == p || errno || declared != n) {
                s = cg_error(CG_ERR_FORMAT,
                             "%s: line %lld: expected the header '<number of columns>;<gene>;<gene>;...' "
                             "(first cell '%.40s', %lld names)",
                             path, (long long)r.lineno, p, (long long)n);
                break;
            }
            p = semi + 1;
            for (int64_t c = 0; c < n; c++) {
                semi = strchr(p, ';');
                if (semi) *semi = '\0';
                char *name = cg_strip(p);
                col_name[c] = name;
                col_kind[c] = CG_LOOKUP_FOUND;
                if (strcmp(name, "Uncharacterized") == 0) {
                    col[c] = COL_DROPPED;
                    rd.st->dropped_columns++;
                } else {
                    int32_t idx = -1;
                    cg_lookup k = cg_genes_lookup(g, name, &idx);
                    col[c] = k == CG_LOOKUP_FOUND ? idx : COL_UNRESOLVED;
                    col_kind[c] = (uint8_t)k;
                }
                p = semi ? semi + 1 : p;
            }
            ncol = n;
            continue;
        }
        /* data row: "<TF protein>;0;1;..." with exactly ncol cells after the name */
        char *p = strchr(line, ';');
        if (!p) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected %lld cells after the TF name, found 0", path,
                         (long long)r.lineno, (long long)ncol);
            break;
        }
        *p++ = '\0';
        char *tf = cg_strip(line);
        int32_t itf = -1;
        cg_lookup ktf = lookup_tf(g, tf, &itf);
        int64_t c = 0;
        const char *q = p, *end = line + len;
        for (;;) {
            /* q is the start of cell c; cells are exactly "0" or "1" */
            const char *cell = q;
            while (q < end && *q != ';') q++;
            size_t w = (size_t)(q - cell);
            if (c >= ncol) {
                c++;
                if (q >= end) break;
                q++;
                continue;
            }
            if (w != 1 || (cell[0] != '0' && cell[0] != '1')) {
                s = cg_error(CG_ERR_FORMAT, "%s: line %lld: cell %lld (TF %s, column '%s') is '%.*s', expected 0 or 1",
                             path, (long long)r.lineno, (long long)c + 2, tf, col_name[c], (int)(w > 32 ? 32 : w),
                             cell);
                break;
            }
            if (cell[0] == '1') {
                int32_t tc = col[c];
                if (tc == COL_DROPPED) {
                    rd.st->skipped_other++;
                } else {
                    rd.st->rows++;
                    if (ktf == CG_LOOKUP_FOUND && tc >= 0) {
                        rd.st->pairs++;
                        if ((s = cg_edge_list_push(out, itf, tc)) != CG_OK) break;
                    } else {
                        rd.st->unresolved_rows++;
                        if (ktf != CG_LOOKUP_FOUND && (s = note_unresolved(&rd, tf, ktf)) != CG_OK) break;
                        if (tc < 0 && (s = note_unresolved(&rd, col_name[c], (cg_lookup)col_kind[c])) != CG_OK)
                            break;
                    }
                }
            }
            c++;
            if (q >= end) break;
            q++; /* past the ';' */
        }
        if (s != CG_OK) break;
        if (c != ncol) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: expected %lld cells after the TF name (%s), found %lld", path,
                         (long long)r.lineno, (long long)ncol, tf, (long long)c);
            break;
        }
    }
    if (s == CG_OK && rc < 0) s = cg_last_status();
    if (s == CG_OK && ncol < 0) s = cg_error(CG_ERR_FORMAT, "%s: empty file (expected a header line)", path);
    cg_lines_close(&r);
    free(col);
    free(col_kind);
    free(col_name);
    free(names);
    return reader_end(&rd, s, n0);
}
