/* Readers of the phenotype tables (include/cellgraph/phenotypes.h).
 *
 * Every reader has the same shape: open the file with cg_lines (plain or gzip), split each line in place
 * into fields, parse the numbers (a field that is not a number is an error naming file, line and
 * column), decide whether the row is usable, and call `emit` for each record it gives. Nothing is kept
 * per row: the only memory is the line buffer of cg_lines and, for the SGA tables, one array of field
 * pointers sized from the header. A row that cannot be used is counted under a short fixed reason in
 * cg_pheno_stats, with the first example seen.
 *
 * The checks run in a fixed order, so that each dropped row is counted once, under the first reason that
 * applies: malformed row (error) -> temperature -> array allele -> query allele -> gene names -> genotype
 * (a repeated gene, too many genes) -> per label, a NaN value.
 *
 * Strain ids are "<genes>_<allele code><number>", where <genes> is one ORF or "ORF1+ORF2" (double-mutant
 * query strains of the trigenic screens). The allele code is the run of letters right after the last
 * '_': "YAL001C_dma91" -> "dma", "YAL001C_damp174" -> "damp", "YAL015C+YDL227C_tm461" -> "tm".
 */
#include "cellgraph/phenotypes.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cellgraph/lines.h"

const char *cg_label_name(cg_label l) {
    switch (l) {
    case CG_LABEL_FITNESS: return "fitness";
    case CG_LABEL_EPSILON: return "epsilon";
    case CG_LABEL_TAU: return "tau";
    default: return "unknown";
    }
}

int cg_label_parse(const char *name) {
    for (int k = 0; name && k < CG_NUM_LABELS; k++)
        if (strcmp(name, cg_label_name((cg_label)k)) == 0) return k;
    return name && strcmp(name, "gene_interaction") == 0 ? -2 : -1;
}

/* ---------------------------------------------------------------------------------------------------
 * statistics
 * ------------------------------------------------------------------------------------------------- */

static void stats_begin(cg_pheno_stats *st, const char *source) {
    memset(st, 0, sizeof *st);
    snprintf(st->source, sizeof st->source, "%s", source);
}

/* Counts one drop under reason (with example, kept from the first drop of that reason). When all
 * CG_PHENO_MAX_REASONS slots are taken, further new reasons share the last slot, renamed "other". */
static void stats_drop(cg_pheno_stats *st, const char *reason, const char *example) {
    int k = 0;
    while (k < st->n_reasons && strcmp(st->reason[k], reason) != 0) k++;
    if (k == st->n_reasons) {
        if (st->n_reasons < CG_PHENO_MAX_REASONS) {
            st->n_reasons++;
            snprintf(st->reason[k], sizeof st->reason[k], "%s", reason);
            snprintf(st->example[k], sizeof st->example[k], "%s", example ? example : "");
        } else {
            k = CG_PHENO_MAX_REASONS - 1;
            snprintf(st->reason[k], sizeof st->reason[k], "%s", "other");
        }
    }
    st->dropped[k]++;
}

/* Emits one record: fills the line, calls the callback, counts it. */
static cg_status emit_record(cg_pheno_emit emit, void *ctx, cg_pheno_stats *st, cg_pheno_record *rec,
                             int64_t line) {
    rec->line = line;
    cg_status s = emit(ctx, rec);
    if (s != CG_OK) return s;
    st->records++;
    return CG_OK;
}

/* ---------------------------------------------------------------------------------------------------
 * small text helpers
 * ------------------------------------------------------------------------------------------------- */

/* The file name without directories, ".gz", and one of ".txt" ".tsv" ".tab" ".csv", into out. */
static void file_stem(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    size_t n = strlen(out);
    if (n > 3 && strcmp(out + n - 3, ".gz") == 0) out[n -= 3] = '\0';
    static const char *const ext[] = {".txt", ".tsv", ".tab", ".csv"};
    for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++)
        if (n > 4 && strcmp(out + n - 4, ext[k]) == 0) {
            out[n - 4] = '\0';
            break;
        }
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
    return 1;
}

/* Parses a numeric field (already stripped). "NaN"/"nan" give NaN; an empty field, trailing garbage or
 * an infinity is CG_ERR_FORMAT naming the file, line and column. */
static cg_status parse_number(const cg_lines *r, const char *column, const char *text, double *out) {
    if (*text) {
        char *end = NULL;
        double v = strtod(text, &end);
        if (end != text && *end == '\0' && !isinf(v)) {
            *out = v;
            return CG_OK;
        }
    }
    return cg_error(CG_ERR_FORMAT, "%s: line %lld: column '%s': '%.60s' is not a number", r->path,
                    (long long)r->lineno, column, text);
}

/* parse_number for the columns of an SGA table: the published tables (Costanzo 2016 Data File S1, Kuzmin
 * 2018/2020 supplements) are spreadsheet exports that write a missing value as an empty cell, so an empty
 * (or all-blank, the field being stripped) field is NaN there, like "NaN". Anything else that is not a
 * number is still CG_ERR_FORMAT. */
static cg_status parse_sga_number(const cg_lines *r, const char *column, const char *text, double *out) {
    if (!*text) {
        *out = NAN;
        return CG_OK;
    }
    return parse_number(r, column, text, out);
}

/* A strain id split into its gene part [id, genes_end) and its allele code (lower-cased letters after the
 * last '_', at most 7 kept; "" when the id has no '_'). */
typedef struct strain {
    const char *id;
    const char *genes_end;
    char code[8];
} strain;

static strain parse_strain(const char *id) {
    strain s;
    s.id = id;
    const char *us = strrchr(id, '_');
    s.genes_end = us ? us : id + strlen(id);
    size_t k = 0;
    if (us)
        for (const char *p = us + 1; k + 1 < sizeof s.code && isalpha((unsigned char)*p); p++)
            s.code[k++] = (char)tolower((unsigned char)*p);
    s.code[k] = '\0';
    return s;
}

static int code_is_deletion(const char *code) { return strcmp(code, "dma") == 0 || strcmp(code, "sn") == 0; }

/* Splits [p, end) at every '+' into at most max spans; returns the number of spans, or max + 1 when there
 * are more. */
typedef struct span {
    const char *p;
    size_t n;
} span;

static int split_plus(const char *p, const char *end, span *out, int max) {
    int n = 0;
    for (;;) {
        const char *q = memchr(p, '+', (size_t)(end - p));
        if (n == max) return max + 1;
        out[n].p = p;
        out[n].n = (size_t)((q ? q : end) - p);
        n++;
        if (!q) return n;
        p = q + 1;
    }
}

/* Copies a span into a NUL-terminated buffer, without surrounding spaces; returns 0 when it does not fit
 * (the buffer then holds a truncated copy, for messages). */
static int span_copy(span s, char *buf, size_t cap) {
    while (s.n > 0 && (*s.p == ' ' || *s.p == '\t')) s.p++, s.n--;
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t')) s.n--;
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(buf, s.p, n);
    buf[n] = '\0';
    return s.n < cap;
}

static int span_has(span s, const char *needle, int nocase) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= s.n; i++)
        if (nocase ? strncasecmp(s.p + i, needle, m) == 0 : memcmp(s.p + i, needle, m) == 0) return 1;
    return 0;
}

/* An allele-name part marks a deletion: 'Δ' (U+0394, CE 94), '∆' (U+2206, E2 88 86) or "delta". */
static int allele_is_deletion(span s) {
    return span_has(s, "\xCE\x94", 0) || span_has(s, "\xE2\x88\x86", 0) || span_has(s, "delta", 1);
}

/* An allele-name part that names the ho locus: "ho", "hoΔ", "ho∆", "ho_delta", "hodelta" (any case). */
static int allele_is_ho(span s) {
    while (s.n > 0 && *s.p == ' ') s.p++, s.n--;
    while (s.n > 0 && s.p[s.n - 1] == ' ') s.n--;
    if (s.n < 2 || strncasecmp(s.p, "ho", 2) != 0) return 0;
    span rest = {s.p + 2, s.n - 2};
    if (rest.n > 0 && rest.p[0] == '_') rest.p++, rest.n--;
    return rest.n == 0 || (rest.n == 2 && memcmp(rest.p, "\xCE\x94", 2) == 0) ||
           (rest.n == 3 && memcmp(rest.p, "\xE2\x88\x86", 3) == 0) ||
           (rest.n == 5 && strncasecmp(rest.p, "delta", 5) == 0);
}

/* A gene name of the ho locus (YDL227C, standard name HO). */
static int name_is_ho(const char *name) { return strcasecmp(name, "YDL227C") == 0 || strcasecmp(name, "HO") == 0; }

/* Resolves a gene name: exact systematic name first, then the resolver (case-insensitive, standard names,
 * aliases). Returns 1 and the index when found, 0 when unknown or ambiguous. */
static int resolve(const cg_genes *g, const char *name, int32_t *idx) {
    if (!*name) return 0;
    int32_t i = cg_genes_index_of_systematic(g, name);
    if (i >= 0) {
        *idx = i;
        return 1;
    }
    return cg_genes_lookup(g, name, idx) == CG_LOOKUP_FOUND;
}

/* Sorts genes[0..n) ascending (n <= 3) and pads the record to 3 with -1. Returns the index of a repeated
 * gene, or -1 when all are distinct. */
static int32_t set_genotype(cg_pheno_record *rec, const int32_t *genes, int n) {
    int32_t a[3] = {-1, -1, -1};
    for (int i = 0; i < n; i++) a[i] = genes[i];
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
            int32_t t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
    for (int i = 1; i < n; i++)
        if (a[i] == a[i - 1]) return a[i];
    memcpy(rec->genes, a, sizeof a);
    rec->n_genes = n;
    rec->n_query = 0; /* set by the SGA reader */
    rec->query[0] = rec->query[1] = -1;
    return -1;
}

/* Column-count error: "<path>: line N: K columns, expected M". */
static cg_status columns_error(const cg_lines *r, int got, int want, const char *what) {
    return cg_error(CG_ERR_FORMAT, "%s: line %lld: %d column%s, expected %d%s (truncated line?)", r->path,
                    (long long)r->lineno, got, got == 1 ? "" : "s", want, what);
}

/* Common argument check and stats setup. */
static cg_status check_args(const char *path, const cg_genes *g, cg_pheno_emit emit, const char *who) {
    if (!path || !g || !emit) return cg_error(CG_ERR_INVALID_ARG, "%s: path, genes and emit must not be NULL", who);
    return CG_OK;
}

/* ---------------------------------------------------------------------------------------------------
 * Costanzo 2016 single-mutant fitness: "strain_id<TAB>fitness<TAB>std", no header
 * ------------------------------------------------------------------------------------------------- */

cg_status cg_read_costanzo_smf(const char *path, const cg_genes *g, cg_pheno_emit emit, void *ctx,
                               cg_pheno_stats *st) {
    cg_status s = check_args(path, g, emit, "cg_read_costanzo_smf");
    if (s != CG_OK) return s;
    cg_pheno_stats local;
    if (!st) st = &local;
    char stem[256], src[64];
    file_stem(path, stem, sizeof stem);
    int t = 0, used = 0;
    if (sscanf(stem, "smf_t%d%n", &t, &used) == 1 && used > 5)
        snprintf(src, sizeof src, "costanzo2016_smf_%dC", t);
    else
        snprintf(src, sizeof src, "costanzo2016_smf:%.40s", stem);
    stats_begin(st, src);

    cg_lines r;
    if (cg_lines_open(&r, path) != CG_OK) return cg_last_status();
    char *line, *f[4];
    size_t len;
    int rc;
    char name[64];
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        st->rows++;
        int nf = cg_split_fields(line, '\t', f, 4);
        if (nf < 3) {
            s = columns_error(&r, nf, 3, " (strain id, fitness, std)");
            goto done;
        }
        const char *id = cg_strip(f[0]);
        double fit = NAN, sd = NAN;
        if ((s = parse_number(&r, "fitness", cg_strip(f[1]), &fit)) != CG_OK) goto done;
        if ((s = parse_number(&r, "std", cg_strip(f[2]), &sd)) != CG_OK) goto done;

        strain sa = parse_strain(id);
        if (!code_is_deletion(sa.code)) {
            stats_drop(st, "not a deletion allele", id);
            continue;
        }
        int32_t gene = -1;
        span gs = {id, (size_t)(sa.genes_end - id)};
        if (!span_copy(gs, name, sizeof name) || !resolve(g, name, &gene)) {
            stats_drop(st, "unknown gene", name);
            continue;
        }
        if (isnan(fit)) {
            stats_drop(st, "NaN fitness", id);
            continue;
        }
        cg_pheno_record rec;
        set_genotype(&rec, &gene, 1);
        rec.label = CG_LABEL_FITNESS;
        rec.value = (float)fit;
        rec.std = (float)sd;
        rec.p_value = NAN;
        if ((s = emit_record(emit, ctx, st, &rec, r.lineno)) != CG_OK) goto done;
    }
    s = rc < 0 ? cg_last_status() : CG_OK;
done:
    cg_lines_close(&r);
    return s;
}

/* ---------------------------------------------------------------------------------------------------
 * DCell pairs: "2 ORF1 ORF2 value", separated by spaces (or tabs). The leading count n (1..3) says how
 * many gene names follow.
 * ------------------------------------------------------------------------------------------------- */

/* Splits at runs of spaces and tabs, in place; returns the number of fields (at most max). */
static int split_ws(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        f[n++] = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (!*p) break;
        *p++ = '\0';
    }
    return n;
}

cg_status cg_read_dcell_pairs(const char *path, const cg_genes *g, cg_pheno_emit emit, void *ctx,
                              cg_pheno_stats *st) {
    cg_status s = check_args(path, g, emit, "cg_read_dcell_pairs");
    if (s != CG_OK) return s;
    cg_pheno_stats local;
    if (!st) st = &local;
    char stem[256], src[64];
    file_stem(path, stem, sizeof stem);
    unsigned long go = 0;
    char split[32];
    int used = 0;
    if (sscanf(stem, "GO_%lu_%31[A-Za-z]_data%n", &go, split, &used) == 2 && used > 0)
        snprintf(src, sizeof src, "dcell_go%07lu:%s", go, split);
    else
        snprintf(src, sizeof src, "dcell:%.50s", stem);
    stats_begin(st, src);

    cg_lines r;
    if (cg_lines_open(&r, path) != CG_OK) return cg_last_status();
    char *line, *f[6];
    size_t len;
    int rc;
    char name[64];
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        st->rows++;
        int nf = split_ws(line, f, 6);
        char *end = NULL;
        long k = strtol(f[0], &end, 10);
        if (end == f[0] || *end != '\0' || k < 1 || k > 3) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: column 'n_genes': '%.40s' is not 1, 2 or 3", r.path,
                         (long long)r.lineno, f[0]);
            goto done;
        }
        int n = (int)k;
        if (nf < n + 2) {
            s = columns_error(&r, nf, n + 2, " (n_genes, genes, value)");
            goto done;
        }
        double v = NAN;
        if ((s = parse_number(&r, "value", f[n + 1], &v)) != CG_OK) goto done;
        int32_t genes[3];
        int ok = 1;
        for (int i = 0; i < n && ok; i++) {
            span gs = {f[1 + i], strlen(f[1 + i])};
            if (!span_copy(gs, name, sizeof name) || !resolve(g, name, &genes[i])) ok = 0;
        }
        if (!ok) {
            stats_drop(st, "unknown gene", name);
            continue;
        }
        cg_pheno_record rec;
        int32_t rep = set_genotype(&rec, genes, n);
        if (rep >= 0) {
            stats_drop(st, "gene repeated in genotype", cg_genes_systematic(g, rep));
            continue;
        }
        if (n == 1) {
            stats_drop(st, "interaction of one gene", f[1]);
            continue;
        }
        if (isnan(v)) {
            stats_drop(st, "NaN gene_interaction", f[1]);
            continue;
        }
        rec.label = (cg_label)cg_interaction_label(n);
        rec.value = (float)v;
        rec.std = NAN;
        rec.p_value = NAN;
        if ((s = emit_record(emit, ctx, st, &rec, r.lineno)) != CG_OK) goto done;
    }
    s = rc < 0 ? cg_last_status() : CG_OK;
done:
    cg_lines_close(&r);
    return s;
}

/* ---------------------------------------------------------------------------------------------------
 * Query genes of a strain id: the '+'-separated ORFs before the last '_', minus the ho locus.
 * ------------------------------------------------------------------------------------------------- */

/* Resolves the query parts and appends their genes to genes[*n...], leaving out the ho locus. Returns 1
 * when all resolve; 0, with the offending name in name[], when one does not. */
static int resolve_query(const cg_genes *g, int32_t ho, const span *parts, int np, int32_t *genes, int *n,
                         char *name, size_t cap) {
    for (int i = 0; i < np; i++) {
        if (!span_copy(parts[i], name, cap)) return 0;
        if (name_is_ho(name)) continue;
        int32_t idx;
        if (!resolve(g, name, &idx)) return 0;
        if (idx == ho) continue;
        genes[(*n)++] = idx;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------------------------
 * Double-mutant query fitness: "<ORF1>+<ORF2>_<strain><TAB>fitness<TAB>std", no header
 * ------------------------------------------------------------------------------------------------- */

cg_status cg_read_query_fitness(const char *path, const cg_genes *g, cg_pheno_emit emit, void *ctx,
                                cg_pheno_stats *st) {
    cg_status s = check_args(path, g, emit, "cg_read_query_fitness");
    if (s != CG_OK) return s;
    cg_pheno_stats local;
    if (!st) st = &local;
    stats_begin(st, "query_fitness");
    const int32_t ho = cg_genes_index_of_systematic(g, "YDL227C");

    cg_lines r;
    if (cg_lines_open(&r, path) != CG_OK) return cg_last_status();
    char *line, *f[4];
    size_t len;
    int rc;
    char name[64];
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        st->rows++;
        int nf = cg_split_fields(line, '\t', f, 4);
        if (nf < 3) {
            s = columns_error(&r, nf, 3, " (strain id, fitness, std)");
            goto done;
        }
        const char *id = cg_strip(f[0]);
        double fit = NAN, sd = NAN;
        if ((s = parse_number(&r, "fitness", cg_strip(f[1]), &fit)) != CG_OK) goto done;
        if ((s = parse_number(&r, "std", cg_strip(f[2]), &sd)) != CG_OK) goto done;

        strain sq = parse_strain(id);
        span parts[3];
        int np = split_plus(id, sq.genes_end, parts, 3);
        if (np > 3) {
            stats_drop(st, "more than 3 genes", id);
            continue;
        }
        int32_t genes[3];
        int n = 0;
        if (!resolve_query(g, ho, parts, np, genes, &n, name, sizeof name)) {
            stats_drop(st, "unknown gene", name);
            continue;
        }
        if (n == 0) {
            stats_drop(st, "no gene besides ho (YDL227C)", id);
            continue;
        }
        cg_pheno_record rec;
        int32_t rep = set_genotype(&rec, genes, n);
        if (rep >= 0) {
            stats_drop(st, "gene repeated in genotype", cg_genes_systematic(g, rep));
            continue;
        }
        if (isnan(fit)) {
            stats_drop(st, "NaN fitness", id);
            continue;
        }
        rec.label = CG_LABEL_FITNESS;
        rec.value = (float)fit;
        rec.std = (float)sd;
        rec.p_value = NAN;
        if ((s = emit_record(emit, ctx, st, &rec, r.lineno)) != CG_OK) goto done;
    }
    s = rc < 0 ? cg_last_status() : CG_OK;
done:
    cg_lines_close(&r);
    return s;
}

/* ---------------------------------------------------------------------------------------------------
 * SGA interaction tables with a header row
 * ------------------------------------------------------------------------------------------------- */

/* Column roles, and the header names accepted for each (case-insensitive, surrounding spaces ignored;
 * the first name listed that the header holds wins). */
enum { COL_QUERY, COL_ARRAY, COL_QALLELE, COL_TEMP, COL_TYPE, COL_SCORE, COL_P, COL_FIT, COL_FIT_STD, NUM_COLS };

static const char *const COL_NAMES[NUM_COLS][6] = {
    [COL_QUERY] = {"Query strain ID"},
    [COL_ARRAY] = {"Array strain ID"},
    [COL_QALLELE] = {"Query allele name"},
    [COL_TEMP] = {"Arraytype/Temp"},
    [COL_TYPE] = {"Combined mutant type"},
    [COL_SCORE] = {"Adjusted genetic interaction score (epsilon or tau)", "Genetic interaction score (\xCE\xB5)",
                   "Genetic interaction score (epsilon)", "Genetic interaction score (eps)",
                   "Genetic interaction score"},
    [COL_P] = {"P-value", "p value", "pvalue"},
    [COL_FIT] = {"Double/triple mutant fitness", "Combined mutant fitness", "Double mutant fitness",
                 "Triple mutant fitness"},
    [COL_FIT_STD] = {"Double/triple mutant fitness standard deviation", "Combined mutant fitness standard deviation",
                     "Double mutant fitness standard deviation", "Triple mutant fitness standard deviation"},
};

/* How many lines before the header (a title line of a spreadsheet export) are skipped at most. */
#define SGA_MAX_PREAMBLE 3

typedef struct sga_header {
    int ncols;           /* columns of the header */
    int col[NUM_COLS];   /* column index of each role, -1 when absent */
    const char *name[NUM_COLS]; /* the accepted name that matched (for messages) */
} sga_header;

/* Finds the roles in a split header line. Returns 1 when it holds a "Query strain ID" column. */
static int sga_match_header(char **f, int nf, sga_header *h) {
    h->ncols = nf;
    for (int c = 0; c < NUM_COLS; c++) {
        h->col[c] = -1;
        h->name[c] = COL_NAMES[c][0];
        for (int k = 0; k < 6 && COL_NAMES[c][k] && h->col[c] < 0; k++)
            for (int j = 0; j < nf; j++)
                if (strcasecmp(f[j], COL_NAMES[c][k]) == 0) {
                    h->col[c] = j;
                    h->name[c] = COL_NAMES[c][k];
                    break;
                }
    }
    /* a score column under another spelling of epsilon (Latin-1, ...): "Genetic interaction score (...)" */
    if (h->col[COL_SCORE] < 0)
        for (int j = 0; j < nf; j++)
            if (strncasecmp(f[j], "Genetic interaction score", 25) == 0) {
                h->col[COL_SCORE] = j;
                h->name[COL_SCORE] = "Genetic interaction score";
                break;
            }
    return h->col[COL_QUERY] >= 0;
}

static void sga_source_name(const char *path, const sga_header *h, int temperature, char *out, size_t cap) {
    char stem[256];
    file_stem(path, stem, sizeof stem);
    static const char test_prefix[] = "scored_triple_test_small_";
    if (strncmp(stem, test_prefix, sizeof test_prefix - 1) == 0)
        snprintf(out, cap, "sga_test_screen:%.40s", stem + sizeof test_prefix - 1);
    else if (h->col[COL_TEMP] >= 0 && temperature > 0)
        snprintf(out, cap, "costanzo2016_%dC:%.30s", temperature, stem);
    else if (h->col[COL_TEMP] >= 0)
        snprintf(out, cap, "costanzo2016:%.40s", stem);
    else if (h->col[COL_TYPE] >= 0)
        snprintf(out, cap, "kuzmin:%.50s", stem);
    else
        snprintf(out, cap, "sga:%.55s", stem);
}

/* Is the query a deletion of every one of its genes (the ho part aside)? See the rules in phenotypes.h:
 * codes dma/sn are single-gene deletion queries (Costanzo 2016; their allele names are plain gene names);
 * otherwise, with an allele-name column, every non-ho part of the name must carry a deletion mark
 * (matched to the strain's ORFs by position when the counts agree); without one, code tm means deletion. */
static int query_is_deletion(const strain *q, const span *parts, int np, const char *allele) {
    if (code_is_deletion(q->code)) return 1;
    if (!allele) return strcmp(q->code, "tm") == 0;
    span ap[4];
    int na = split_plus(allele, allele + strlen(allele), ap, 3);
    if (na > 3) return 0;
    char name[64];
    for (int i = 0; i < na; i++) {
        int ho = allele_is_ho(ap[i]);
        if (na == np) { /* by position: the part of the ho ORF is ignored whatever its allele name */
            span_copy(parts[i], name, sizeof name);
            if (name_is_ho(name)) ho = 1;
        }
        if (!ho && !allele_is_deletion(ap[i])) return 0;
    }
    return 1;
}

cg_status cg_read_sga_table(const char *path, const cg_genes *g, int temperature, cg_pheno_emit emit, void *ctx,
                            cg_pheno_stats *st) {
    cg_status s = check_args(path, g, emit, "cg_read_sga_table");
    if (s != CG_OK) return s;
    cg_pheno_stats local;
    if (!st) st = &local;
    stats_begin(st, "sga");
    const int32_t ho = cg_genes_index_of_systematic(g, "YDL227C");

    cg_lines r;
    if (cg_lines_open(&r, path) != CG_OK) return cg_last_status();
    char **f = NULL;
    char *line;
    size_t len;
    int rc = 0;

    /* the header: the first non-blank line with a "Query strain ID" column, after at most
     * SGA_MAX_PREAMBLE other lines (a title row) */
    sga_header h;
    int seen = 0, found = 0;
    while (!found && (rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        if (r.lineno == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
            (unsigned char)line[2] == 0xBF)
            line += 3; /* UTF-8 byte order mark */
        int nf = 1;
        for (const char *p = line; *p; p++) nf += *p == '\t';
        char **hf = malloc((size_t)nf * sizeof *hf);
        if (!hf) {
            s = cg_error(CG_ERR_NOMEM, "%s: out of memory reading the header", r.path);
            goto done;
        }
        cg_split_fields(line, '\t', hf, nf);
        for (int j = 0; j < nf; j++) hf[j] = cg_strip(hf[j]);
        found = sga_match_header(hf, nf, &h);
        free(hf);
        if (!found && ++seen > SGA_MAX_PREAMBLE) break;
    }
    if (rc < 0) {
        s = cg_last_status();
        goto done;
    }
    if (!found) {
        s = cg_error(CG_ERR_FORMAT, "%s: line %lld: no header row with a 'Query strain ID' column", r.path,
                     (long long)(r.lineno > 0 ? r.lineno : 1));
        goto done;
    }
    static const int required[] = {COL_QUERY, COL_ARRAY, COL_SCORE, COL_P, COL_FIT, COL_FIT_STD};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
        if (h.col[required[k]] < 0) {
            s = cg_error(CG_ERR_FORMAT, "%s: line %lld: the header has no column '%s'", r.path, (long long)r.lineno,
                         COL_NAMES[required[k]][0]);
            goto done;
        }
    {
        char src[64];
        sga_source_name(path, &h, temperature, src, sizeof src);
        snprintf(st->source, sizeof st->source, "%s", src);
    }
    f = malloc((size_t)(h.ncols + 1) * sizeof *f);
    if (!f) {
        s = cg_error(CG_ERR_NOMEM, "%s: out of memory", r.path);
        goto done;
    }

    char name[64], reason[48];
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        if (is_blank(line)) continue;
        st->rows++;
        int nf = cg_split_fields(line, '\t', f, h.ncols + 1);
        if (nf < h.ncols) {
            s = columns_error(&r, nf, h.ncols, " (the header's)");
            goto done;
        }
        for (int c = 0; c < NUM_COLS; c++)
            if (h.col[c] >= 0) f[h.col[c]] = cg_strip(f[h.col[c]]);
        const char *qid = f[h.col[COL_QUERY]], *aid = f[h.col[COL_ARRAY]];
        double score = NAN, p = NAN, fit = NAN, sd = NAN;
        if ((s = parse_sga_number(&r, h.name[COL_SCORE], f[h.col[COL_SCORE]], &score)) != CG_OK) goto done;
        if ((s = parse_sga_number(&r, h.name[COL_P], f[h.col[COL_P]], &p)) != CG_OK) goto done;
        if ((s = parse_sga_number(&r, h.name[COL_FIT], f[h.col[COL_FIT]], &fit)) != CG_OK) goto done;
        if ((s = parse_sga_number(&r, h.name[COL_FIT_STD], f[h.col[COL_FIT_STD]], &sd)) != CG_OK) goto done;

        /* temperature: the digits of "Arraytype/Temp" (DMA30, TSA26) */
        if (h.col[COL_TEMP] >= 0) {
            const char *tt = f[h.col[COL_TEMP]], *d = tt;
            while (*d && !isdigit((unsigned char)*d)) d++;
            if (!*d) {
                s = cg_error(CG_ERR_FORMAT, "%s: line %lld: column '%s': '%.40s' has no temperature", r.path,
                             (long long)r.lineno, h.name[COL_TEMP], tt);
                goto done;
            }
            long t = strtol(d, NULL, 10);
            if (temperature > 0 && t != temperature) {
                snprintf(reason, sizeof reason, "temperature %ld C", t);
                stats_drop(st, reason, aid);
                continue;
            }
        }

        strain sa = parse_strain(aid);
        if (!code_is_deletion(sa.code)) {
            stats_drop(st, "array not a deletion allele", aid);
            continue;
        }
        strain sq = parse_strain(qid);
        span parts[3];
        int np = split_plus(qid, sq.genes_end, parts, 3);
        if (np > 3) {
            stats_drop(st, "more than 3 genes", qid);
            continue;
        }
        const char *allele = h.col[COL_QALLELE] >= 0 ? f[h.col[COL_QALLELE]] : NULL;
        if (!query_is_deletion(&sq, parts, np, allele)) {
            stats_drop(st, "query not a deletion allele", qid);
            continue;
        }

        int32_t genes[4];
        int n = 0;
        if (!resolve_query(g, ho, parts, np, genes, &n, name, sizeof name)) {
            stats_drop(st, "unknown gene", name);
            continue;
        }
        if (n == 0) {
            stats_drop(st, "no query gene besides ho (YDL227C)", qid);
            continue;
        }
        span as = {aid, (size_t)(sa.genes_end - aid)};
        if (!span_copy(as, name, sizeof name) || !resolve(g, name, &genes[n])) {
            stats_drop(st, "unknown gene", name);
            continue;
        }
        n++;
        if (n > 3) {
            stats_drop(st, "more than 3 genes", qid);
            continue;
        }
        cg_pheno_record rec;
        int32_t rep = set_genotype(&rec, genes, n);
        if (rep >= 0) {
            stats_drop(st, "gene repeated in genotype", cg_genes_systematic(g, rep));
            continue;
        }
        /* the query strain's genes (all but the array gene, genes[n - 1]), ascending */
        rec.n_query = n - 1;
        rec.query[0] = genes[0];
        rec.query[1] = n - 1 == 2 ? genes[1] : -1;
        if (rec.n_query == 2 && rec.query[1] < rec.query[0]) {
            rec.query[0] = genes[1];
            rec.query[1] = genes[0];
        }

        if (isnan(score)) {
            stats_drop(st, "NaN gene_interaction", qid);
        } else {
            rec.label = (cg_label)cg_interaction_label(n);
            rec.value = (float)score;
            rec.std = NAN;
            rec.p_value = (float)p;
            if ((s = emit_record(emit, ctx, st, &rec, r.lineno)) != CG_OK) goto done;
        }
        if (isnan(fit)) {
            stats_drop(st, "NaN fitness", qid);
        } else {
            rec.label = CG_LABEL_FITNESS;
            rec.value = (float)fit;
            rec.std = (float)sd;
            rec.p_value = NAN;
            if ((s = emit_record(emit, ctx, st, &rec, r.lineno)) != CG_OK) goto done;
        }
    }
    s = rc < 0 ? cg_last_status() : CG_OK;
done:
    free(f);
    cg_lines_close(&r);
    return s;
}
