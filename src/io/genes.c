/* The gene universe (the ORF rows of SGD_features.tab) and the gene-name resolver.
 *
 * Loading streams the file once with cg_lines. Every string we keep (systematic, standard and qualifier
 * texts, the verbatim aliases, and an upper-cased copy of each name used as its search key) is appended
 * to one growable character pool; rows only remember offsets into it, because the pool moves while it
 * grows. Once the file is read the offsets become pointers, genes are ordered by strcmp of systematic
 * name, and three name tables are built, one per name class:
 *
 *   by_sys    one entry per gene              key = upper-cased systematic name
 *   by_std    one entry per named gene        key = upper-cased standard name
 *   by_alias  one entry per (alias, gene)     key = upper-cased alias (a gene's repeats removed)
 *
 * each sorted by (key, gene), so that all genes under one key sit next to each other. A lookup is a
 * binary search per class, in the order systematic, standard, alias: the first class holding the key
 * decides; a key held by one gene is found, a key held by several genes is ambiguous. Keys are upper-
 * cased byte by byte in ASCII only (no locale): other bytes (UTF-8) must match exactly.
 *
 * The suggestions for an unknown name come from a fourth list, cands: every distinct key that resolves
 * to exactly one gene (systematic names, standard names, then the aliases not shadowed by either and
 * not ambiguous), scanned with a Levenshtein distance that gives up as soon as it cannot beat the third
 * best distance found so far.
 */
#include "cellgraph/genes.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/lines.h"

// ----------------------------------------------------------------------------
// the object

typedef struct cg_name {
    const char *key;  /* upper-cased name: the search key */
    const char *text; /* the name as written in the file (for messages) */
    int32_t gene;
} cg_name;

struct cg_genes {
    int32_t n;
    char *pool;         /* all strings, NUL-terminated, back to back */
    const char **sys;   /* [n] systematic name of each gene */
    const char **std;   /* [n] standard name ("" when none) */
    const char **qual;  /* [n] qualifier */
    const char **alias; /* [n] aliases as listed, trimmed, '|'-joined ("" when none) */
    cg_name *by_sys;    /* [n] */
    cg_name *by_std;    /* [n_std] */
    cg_name *by_alias;  /* [n_alias] */
    cg_name *cands;     /* [n_cands] unambiguous distinct names, for suggestions */
    int32_t n_std, n_alias, n_cands;
    int32_t cand_max_len;  /* longest key in cands */
};

static inline unsigned char upper_ascii(unsigned char c) { return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c; }

// ----------------------------------------------------------------------------
// loading: growable buffers

typedef struct pool {
    char *p;
    size_t len, cap;
} pool;

/* Appends s[0..n) and a NUL (upper-cased when upper) and returns its offset, or SIZE_MAX when out of
 * memory. */
static size_t pool_add(pool *b, const char *s, size_t n, int upper) {
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap - b->len < n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) return SIZE_MAX;
        b->p = np;
        b->cap = cap;
    }
    size_t off = b->len;
    char *d = b->p + off;
    if (upper)
        for (size_t k = 0; k < n; k++) d[k] = (char)upper_ascii((unsigned char)s[k]);
    else
        memcpy(d, s, n);
    d[n] = '\0';
    b->len += n + 1;
    return off;
}

typedef struct orf_row {  /* one ORF row while loading; offsets into the pool */
    size_t sys, sys_key, std, std_key, qual, alias;
    int64_t lineno;
} orf_row;

typedef struct alias_row {
    size_t text, key;
    int32_t row;      /* index into the rows (file order) */
} alias_row;

/* Grows *p (elements of size sz) so that it holds at least need elements. 0 on success. */
static int grow(void **p, size_t *cap, size_t need, size_t sz) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *np = realloc(*p, c * sz);
    if (!np) return -1;
    *p = np;
    *cap = c;
    return 0;
}

// ----------------------------------------------------------------------------
// sorting and searching the name tables

typedef struct sys_order {
    const char *sys;
    int32_t row;
} sys_order;

static int cmp_sys_order(const void *a, const void *b) {
    return strcmp(((const sys_order *)a)->sys, ((const sys_order *)b)->sys);
}

static int cmp_name(const void *a, const void *b) {
    const cg_name *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    if (x->gene != y->gene) return (x->gene > y->gene) - (x->gene < y->gene);
    return (x->text > y->text) - (x->text < y->text); /* same pool: file order, so the first spelling stays */
}

/* Compares an upper-cased key with the query q[0..qn), upper-casing the query on the fly, strcmp-style. */
static int cmp_key_query(const char *key, const char *q, size_t qn) {
    for (size_t k = 0;; k++) {
        unsigned char a = (unsigned char)key[k];
        unsigned char b = k < qn ? upper_ascii((unsigned char)q[k]) : 0;
        if (a != b || a == 0) return (a > b) - (a < b);
    }
}

/* Finds the run of entries in t[0..n) whose key equals the query: returns its first index, with its
 * length in *count (0 when none). */
static int32_t find_run(const cg_name *t, int32_t n, const char *q, size_t qn, int32_t *count) {
    int32_t lo = 0, hi = n; /* first entry with key >= query */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (cmp_key_query(t[mid].key, q, qn) < 0) lo = mid + 1;
        else hi = mid;
    }
    int32_t end = lo;
    while (end < n && cmp_key_query(t[end].key, q, qn) == 0) end++;
    *count = end - lo;
    return lo;
}

/* Sorts t by (key, gene) and removes repeated (key, gene) pairs; returns the new length. */
static int32_t sort_unique(cg_name *t, int32_t n) {
    if (n == 0) return 0;
    qsort(t, (size_t)n, sizeof *t, cmp_name);
    int32_t m = 1;
    for (int32_t k = 1; k < n; k++)
        if (strcmp(t[k].key, t[m - 1].key) != 0 || t[k].gene != t[m - 1].gene) t[m++] = t[k];
    return m;
}

static void trim_span(const char **s, size_t *n) {
    const char *p = *s;
    size_t len = *n;
    while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++, len--;
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' || p[len - 1] == '\n')) len--;
    *s = p;
    *n = len;
}

/* Which class holds the query, and the run in that class's table. Returns the table (NULL: unknown). */
static const cg_name *classify(const cg_genes *g, const char *q, size_t qn, int32_t *first, int32_t *count,
                               const char **class_name) {
    const cg_name *tables[3] = {g->by_sys, g->by_std, g->by_alias};
    int32_t sizes[3] = {g->n, g->n_std, g->n_alias};
    static const char *names[3] = {"a systematic name", "a standard name", "an alias"};
    for (int c = 0; c < 3; c++) {
        int32_t cnt;
        int32_t at = find_run(tables[c], sizes[c], q, qn, &cnt);
        if (cnt > 0) {
            *first = at;
            *count = cnt;
            if (class_name) *class_name = names[c];
            return tables[c];
        }
    }
    *first = 0;
    *count = 0;
    return NULL;
}

// ----------------------------------------------------------------------------
// load / free

void cg_genes_free(cg_genes *g) {
    if (!g) return;
    free(g->pool);
    free(g->sys);
    free(g->std);
    free(g->qual);
    free(g->alias);
    free(g->by_sys);
    free(g->by_std);
    free(g->by_alias);
    free(g->cands);
    free(g);
}

/* Rows collected before the tables are built (from the SGD file or from arrays). */
typedef struct builder {
    pool b;
    orf_row *rows;
    size_t n_rows, cap_rows;
    alias_row *als;
    size_t n_als, cap_als;
} builder;

static void builder_free(builder *bd) {
    free(bd->b.p);
    free(bd->rows);
    free(bd->als);
}

/* Adds one gene row; alias_field is the '|'-separated alias column. Returns CG_OK or CG_ERR_NOMEM. */
static cg_status builder_add(builder *bd, const char *sys, const char *stdn, const char *qual, const char *alias_field,
                             int64_t lineno) {
    if (grow((void **)&bd->rows, &bd->cap_rows, bd->n_rows + 1, sizeof *bd->rows)) return CG_ERR_NOMEM;
    orf_row *w = &bd->rows[bd->n_rows];
    size_t ls = strlen(sys), lt = strlen(stdn);
    w->sys = pool_add(&bd->b, sys, ls, 0);
    w->sys_key = pool_add(&bd->b, sys, ls, 1);
    w->std = pool_add(&bd->b, stdn, lt, 0);
    w->std_key = pool_add(&bd->b, stdn, lt, 1);
    w->qual = pool_add(&bd->b, qual, strlen(qual), 0);
    w->alias = pool_add(&bd->b, "", 0, 0);
    w->lineno = lineno;
    if (w->sys == SIZE_MAX || w->sys_key == SIZE_MAX || w->std == SIZE_MAX || w->std_key == SIZE_MAX ||
        w->qual == SIZE_MAX || w->alias == SIZE_MAX)
        return CG_ERR_NOMEM;
    // aliases: '|'-separated, each trimmed of whitespace, empty ones skipped; the trimmed list is kept
    // joined by '|' (built in place at the end of the pool: nothing else is added meanwhile)
    size_t joined = w->alias, jlen = 0;
    const char *a = alias_field;
    for (;;) {
        const char *bar = strchr(a, '|');
        const char *t = a;
        size_t n = bar ? (size_t)(bar - a) : strlen(a);
        trim_span(&t, &n);
        if (n > 0) {
            if (grow((void **)&bd->als, &bd->cap_als, bd->n_als + 1, sizeof *bd->als)) return CG_ERR_NOMEM;
            bd->als[bd->n_als].text = pool_add(&bd->b, t, n, 0);
            bd->als[bd->n_als].key = pool_add(&bd->b, t, n, 1);
            bd->als[bd->n_als].row = (int32_t)bd->n_rows;
            if (bd->als[bd->n_als].text == SIZE_MAX || bd->als[bd->n_als].key == SIZE_MAX) return CG_ERR_NOMEM;
            bd->n_als++;
            /* extend the joined copy: "<old>|<alias>" */
            char *tmp = malloc(jlen + n + 2);
            if (!tmp) return CG_ERR_NOMEM;
            int k = sprintf(tmp, "%s%s%.*s", bd->b.p + joined, jlen ? "|" : "", (int)n, t);
            size_t off = pool_add(&bd->b, tmp, (size_t)k, 0);
            free(tmp);
            if (off == SIZE_MAX) return CG_ERR_NOMEM;
            joined = off;
            jlen = strlen(bd->b.p + joined);
        }
        if (!bar) break;
        a = bar + 1;
    }
    bd->rows[bd->n_rows].alias = joined;
    bd->n_rows++;
    return CG_OK;
}

/* Builds the tables from the collected rows; `where` names the origin in messages. Consumes the pool on
 * success. */
static cg_status builder_finish(builder *bd, const char *where, cg_genes **out) {
    cg_status st = CG_OK;
    cg_genes *g = NULL;
    sys_order *order = NULL;
    int32_t *rank = NULL;
    pool b = bd->b;
    orf_row *rows = bd->rows;
    alias_row *als = bd->als;
    size_t n_rows = bd->n_rows, n_als = bd->n_als;
    if (n_rows == 0) return cg_error(CG_ERR_FORMAT, "%s: no rows with feature type ORF (is this SGD_features.tab?)", where);
    if (n_rows >= (size_t)INT32_MAX || n_als > (size_t)INT32_MAX)
        return cg_error(CG_ERR_FORMAT, "%s: too many genes or aliases", where);
    // order genes by strcmp of systematic name
    int32_t n = (int32_t)n_rows;
    order = malloc((size_t)n * sizeof *order);
    rank = malloc((size_t)n * sizeof *rank);
    g = calloc(1, sizeof *g);
    if (!order || !rank || !g) goto nomem;
    for (int32_t i = 0; i < n; i++) order[i] = (sys_order){b.p + rows[i].sys, i};
    qsort(order, (size_t)n, sizeof *order, cmp_sys_order);
    for (int32_t i = 0; i < n; i++) rank[order[i].row] = i;

    g->n = n;
    g->sys = malloc((size_t)n * sizeof *g->sys);
    g->std = malloc((size_t)n * sizeof *g->std);
    g->qual = malloc((size_t)n * sizeof *g->qual);
    g->alias = malloc((size_t)n * sizeof *g->alias);
    g->by_sys = malloc((size_t)n * sizeof *g->by_sys);
    g->by_std = malloc((size_t)n * sizeof *g->by_std);
    g->by_alias = malloc((n_als ? n_als : 1) * sizeof *g->by_alias);
    g->cands = malloc(((size_t)n * 2 + n_als) * sizeof *g->cands);
    if (!g->sys || !g->std || !g->qual || !g->alias || !g->by_sys || !g->by_std || !g->by_alias || !g->cands) goto nomem;

    for (int32_t i = 0; i < n; i++) {
        const orf_row *w = &rows[order[i].row];
        g->sys[i] = b.p + w->sys;
        g->std[i] = b.p + w->std;
        g->qual[i] = b.p + w->qual;
        g->alias[i] = b.p + w->alias;
        g->by_sys[i] = (cg_name){b.p + w->sys_key, g->sys[i], i};
        if (g->std[i][0]) g->by_std[g->n_std++] = (cg_name){b.p + w->std_key, g->std[i], i};
    }
    qsort(g->by_sys, (size_t)n, sizeof *g->by_sys, cmp_name);
    // a repeated systematic name (also one differing only in case) would make the name space ambiguous
    for (int32_t i = 1; i < n; i++) {
        if (strcmp(g->by_sys[i - 1].key, g->by_sys[i].key) == 0) {
            int64_t l1 = rows[order[g->by_sys[i - 1].gene].row].lineno, l2 = rows[order[g->by_sys[i].gene].row].lineno;
            int64_t first = l1 < l2 ? l1 : l2, second = l1 < l2 ? l2 : l1;
            st = cg_error(CG_ERR_FORMAT, "%s: line %lld: duplicate systematic name '%s' (also on line %lld)", where,
                          (long long)second, l1 < l2 ? g->by_sys[i].text : g->by_sys[i - 1].text, (long long)first);
            goto fail;
        }
    }
    g->n_std = sort_unique(g->by_std, g->n_std);
    for (size_t k = 0; k < n_als; k++)
        g->by_alias[k] = (cg_name){b.p + als[k].key, b.p + als[k].text, rank[als[k].row]};
    g->n_alias = sort_unique(g->by_alias, (int32_t)n_als);

    // suggestion candidates: each distinct key once, only those that resolve to a single gene
    for (int32_t i = 0; i < n; i++) g->cands[g->n_cands++] = g->by_sys[i];
    for (int32_t i = 0; i < g->n_std; i++) {
        int32_t first, cnt;
        const char *k = g->by_std[i].key;
        const cg_name *t = classify(g, k, strlen(k), &first, &cnt, NULL);
        if (t == g->by_std && cnt == 1) g->cands[g->n_cands++] = g->by_std[i];
    }
    for (int32_t i = 0; i < g->n_alias; i++) {
        if (i > 0 && strcmp(g->by_alias[i].key, g->by_alias[i - 1].key) == 0) continue;
        int32_t first, cnt;
        const char *k = g->by_alias[i].key;
        const cg_name *t = classify(g, k, strlen(k), &first, &cnt, NULL);
        if (t == g->by_alias && cnt == 1) g->cands[g->n_cands++] = g->by_alias[i];
    }
    for (int32_t c = 0; c < g->n_cands; c++) {
        size_t l = strlen(g->cands[c].key);
        if (l > (size_t)g->cand_max_len) g->cand_max_len = l > INT32_MAX ? INT32_MAX : (int32_t)l;
    }

    g->pool = b.p;
    bd->b.p = NULL;
    free(order);
    free(rank);
    *out = g;
    return CG_OK;

nomem:
    st = cg_error(CG_ERR_NOMEM, "%s: out of memory reading genes", where);
fail:
    cg_genes_free(g); /* g->pool is still NULL: the pool is owned by the builder until success */
    free(order);
    free(rank);
    return st;
}

/* true when s holds only spaces and CRs (or nothing); a line of tabs is a row of empty columns */
static bool is_blank(const char *s) {
    while (*s == ' ' || *s == '\r') s++;
    return *s == '\0';
}

cg_status cg_genes_load(const char *path, cg_genes **out) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "cg_genes_load: out is NULL");
    *out = NULL;
    if (!path) return cg_error(CG_ERR_INVALID_ARG, "cg_genes_load: path is NULL");
    cg_lines r;
    if (cg_lines_open(&r, path) != CG_OK) return cg_last_status();
    builder bd = {0};
    cg_status st = CG_OK;
    char *line;
    size_t len;
    int rc;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        char *f[7];
        int nf = cg_split_fields(line, '\t', f, 7);
        /* columns 1 (SGDID) and 2 (feature type) are mandatory in every row: a row without them is damaged
         * (a torn ORF row would otherwise pass for another feature type and shift every later gene) */
        if (nf < 2 || is_blank(f[0]) || is_blank(f[1])) {
            st = cg_error(CG_ERR_FORMAT,
                          "%s: line %lld: row has %s, expected the SGDID and the feature type (columns 1 and 2 of "
                          "16, tab-separated; torn or damaged file?)",
                          path, (long long)r.lineno,
                          nf < 2 ? "a single column" : is_blank(f[0]) ? "an empty SGDID" : "an empty feature type");
            break;
        }
        if (strcmp(f[1], "ORF") != 0) continue; /* other feature types */
        if (nf < 6) {
            st = cg_error(CG_ERR_FORMAT, "%s: line %lld: ORF row has %d tab-separated columns, expected at least 6",
                          path, (long long)r.lineno, nf);
            break;
        }
        const char *sys = cg_strip(f[3]), *stdn = cg_strip(f[4]), *qual = cg_strip(f[2]);
        if (!*sys) {
            st = cg_error(CG_ERR_FORMAT, "%s: line %lld: ORF row has an empty systematic name (column 4)", path,
                          (long long)r.lineno);
            break;
        }
        if (builder_add(&bd, sys, stdn, qual, f[5], r.lineno) != CG_OK) {
            st = cg_error(CG_ERR_NOMEM, "%s: out of memory reading genes", path);
            break;
        }
    }
    if (st == CG_OK && rc < 0) st = cg_last_status();
    cg_lines_close(&r);
    if (st == CG_OK) st = builder_finish(&bd, path, out);
    builder_free(&bd);
    return st;
}

cg_status cg_genes_create(int32_t n, const char *const *systematic, const char *const *standard,
                          const char *const *qualifier, const char *const *aliases, cg_genes **out) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "cg_genes_create: out is NULL");
    *out = NULL;
    builder bd = {0};
    cg_status st = CG_OK;
    for (int32_t i = 0; i < n && st == CG_OK; i++) {
        if (!systematic[i] || !*systematic[i]) {
            st = cg_error(CG_ERR_INVALID_ARG, "gene table: gene %d has an empty systematic name", i);
            break;
        }
        if (builder_add(&bd, systematic[i], standard && standard[i] ? standard[i] : "",
                        qualifier && qualifier[i] ? qualifier[i] : "", aliases && aliases[i] ? aliases[i] : "",
                        i + 1) != CG_OK)
            st = cg_error(CG_ERR_NOMEM, "gene table: out of memory");
    }
    if (st == CG_OK) st = builder_finish(&bd, "gene table", out);
    builder_free(&bd);
    return st;
}

// ----------------------------------------------------------------------------
// accessors

int32_t cg_genes_count(const cg_genes *g) { return g ? g->n : 0; }

const char *cg_genes_systematic(const cg_genes *g, int32_t i) {
    return (g && i >= 0 && i < g->n) ? g->sys[i] : NULL;
}

const char *cg_genes_standard(const cg_genes *g, int32_t i) {
    return (g && i >= 0 && i < g->n) ? g->std[i] : NULL;
}

const char *cg_genes_aliases(const cg_genes *g, int32_t i) {
    return g && i >= 0 && i < g->n ? g->alias[i] : NULL;
}

const char *cg_genes_qualifier(const cg_genes *g, int32_t i) {
    return (g && i >= 0 && i < g->n) ? g->qual[i] : NULL;
}

int32_t cg_genes_index_of_systematic(const cg_genes *g, const char *sys) {
    if (!g || !sys) return -1;
    int32_t lo = 0, hi = g->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->sys[mid], sys);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

// ----------------------------------------------------------------------------
// lookup and resolve

cg_lookup cg_genes_lookup(const cg_genes *g, const char *name, int32_t *index) {
    if (!g || !name) return CG_LOOKUP_UNKNOWN;
    size_t qn = strlen(name);
    trim_span(&name, &qn);
    if (qn == 0) return CG_LOOKUP_UNKNOWN;
    int32_t first, cnt;
    const cg_name *t = classify(g, name, qn, &first, &cnt, NULL);
    if (!t) return CG_LOOKUP_UNKNOWN;
    if (cnt > 1) return CG_LOOKUP_AMBIGUOUS;
    if (index) *index = t[first].gene;
    return CG_LOOKUP_FOUND;
}

/* Levenshtein distance between a[0..na) and b[0..nb), or any value >= bound once it is certain that the
 * distance is >= bound. hist is the byte histogram of a (left unchanged); row holds nb + 1 ints.
 *
 * Three cuts keep a scan over ~18k names fast: the length difference and the bag distance (characters
 * of one string left unmatched in the other) are lower bounds of the edit distance; the dynamic program
 * then fills only the diagonal band |i - j| < bound (a cell outside it costs at least |i - j|) and stops
 * as soon as a whole row reaches the bound. */
static int32_t bounded_levenshtein(const char *a, int32_t na, const char *b, int32_t nb, int32_t bound,
                                   int32_t *hist, int32_t *row) {
    int32_t cap = (na > nb ? na : nb) + 1; /* the distance is at most max(na, nb) */
    if (bound < cap) cap = bound;
    int32_t diff = na > nb ? na - nb : nb - na;
    if (diff >= cap) return cap;
    // bag distance
    int32_t extra_b = 0;
    for (int32_t j = 0; j < nb; j++) extra_b += hist[(unsigned char)b[j]]-- <= 0;
    for (int32_t j = 0; j < nb; j++) hist[(unsigned char)b[j]]++;
    int32_t extra_a = na - (nb - extra_b);
    if (extra_a >= cap || extra_b >= cap) return cap;
    // banded dynamic program; values are clamped to cap
    for (int32_t j = 0; j <= nb; j++) row[j] = j < cap ? j : cap;
    for (int32_t i = 1; i <= na; i++) {
        int32_t lo = i - cap + 1 > 1 ? i - cap + 1 : 1;
        int32_t hi = i + cap - 1 < nb ? i + cap - 1 : nb;
        int32_t diag = row[lo - 1];                        /* D[i-1][lo-1] */
        int32_t left = lo == 1 ? (i < cap ? i : cap) : cap; /* D[i][lo-1] (out of band: >= cap) */
        row[lo - 1] = left;
        int32_t best = left;
        for (int32_t j = lo; j <= hi; j++) {
            int32_t up = row[j]; /* D[i-1][j]; a cell past the last band holds cap from the first row */
            int32_t v = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < v) v = up + 1;
            if (left + 1 < v) v = left + 1;
            if (v > cap) v = cap;
            row[j] = v;
            diag = up;
            left = v;
            if (v < best) best = v;
        }
        if (best >= cap) return cap; /* every path through this row already costs >= cap */
    }
    return row[nb];
}

cg_status cg_genes_resolve(const cg_genes *g, const char *name, int32_t *index) {
    if (!g || !name) return cg_error(CG_ERR_INVALID_ARG, "cg_genes_resolve: %s is NULL", g ? "name" : "genes");
    const char *q = name;
    size_t qn = strlen(q);
    trim_span(&q, &qn);
    int32_t first = 0, cnt = 0;
    const char *class_name = NULL;
    const cg_name *t = qn ? classify(g, q, qn, &first, &cnt, &class_name) : NULL;
    if (t && cnt == 1) {
        if (index) *index = t[first].gene;
        return CG_OK;
    }
    if (t) {
        // ambiguous: list every candidate gene (the run is sorted by gene index)
        char list[900];
        size_t used = 0;
        list[0] = '\0';
        for (int32_t k = 0; k < cnt && used + 1 < sizeof list; k++) {
            int32_t gi = t[first + k].gene;
            int w = g->std[gi][0]
                        ? snprintf(list + used, sizeof list - used, "%s%s (%s)", k ? ", " : "", g->sys[gi], g->std[gi])
                        : snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", g->sys[gi]);
            if (w < 0) break;
            used += (size_t)w < sizeof list - used ? (size_t)w : sizeof list - used - 1;
        }
        return cg_error(CG_ERR_INVALID_ARG, "gene name '%s' is ambiguous: %s of %s", name, class_name, list);
    }

    // unknown: the three closest names by case-insensitive edit distance (ties: first in cands order)
    if (qn > 4096) qn = 4096; /* a name this long is garbage; keep the work bounded */
    char *key = malloc(qn + 1);
    int32_t *dp = malloc(((size_t)g->cand_max_len + 1) * sizeof *dp);
    int32_t *hist = calloc(256, sizeof *hist);
    if (!key || !dp || !hist) {
        free(key);
        free(dp);
        free(hist);
        return cg_error(CG_ERR_NOMEM, "unknown gene '%s' (out of memory finding suggestions)", name);
    }
    for (size_t k = 0; k < qn; k++) {
        key[k] = (char)upper_ascii((unsigned char)q[k]);
        hist[(unsigned char)key[k]]++;
    }
    key[qn] = '\0';
    int32_t best_d[3] = {INT32_MAX, INT32_MAX, INT32_MAX};
    int32_t best_c[3] = {-1, -1, -1};
    for (int32_t c = 0; c < g->n_cands; c++) {
        const char *ck = g->cands[c].key;
        int32_t d = bounded_levenshtein(key, (int32_t)qn, ck, (int32_t)strlen(ck), best_d[2], hist, dp);
        if (d >= best_d[2]) continue;
        int s = 2; /* insert, keeping earlier candidates first among equals */
        while (s > 0 && best_d[s - 1] > d) {
            best_d[s] = best_d[s - 1];
            best_c[s] = best_c[s - 1];
            s--;
        }
        best_d[s] = d;
        best_c[s] = c;
    }
    free(key);
    free(dp);
    free(hist);
    char list[600];
    size_t used = 0;
    list[0] = '\0';
    for (int s = 0; s < 3 && best_c[s] >= 0 && used + 1 < sizeof list; s++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", s ? ", " : "", g->cands[best_c[s]].text);
        if (w < 0) break;
        used += (size_t)w < sizeof list - used ? (size_t)w : sizeof list - used - 1;
    }
    return cg_error(CG_ERR_NOT_FOUND, "unknown gene '%s'; closest known names: %s", name, list);
}
