/* Tests for the phenotype readers (include/cellgraph/phenotypes.h): small files written at test time in
 * each public format (exact records and drop counts, CRLF, errors naming file and line), a 200,000-row
 * streaming check, then the real yeast files under CELLGRAPH_TEST_DATA (counts printed). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cellgraph/genes.h"
#include "cellgraph/phenotypes.h"

/* ---------------------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------------------- */

static void check_contains(const char *msg, const char *sub) {
    if (!strstr(msg, sub)) {
        print_error("message \"%s\" does not contain \"%s\"\n", msg, sub);
        fail();
    }
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t n = strlen(text);
    if (n) assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Writes text with every "\n" turned into "\r\n". */
static void write_crlf(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (const char *p = text; *p; p++) {
        if (*p == '\n') assert_int_equal(fputc('\r', f), '\r');
        assert_int_equal(fputc(*p, f), (unsigned char)*p);
    }
    assert_int_equal(fclose(f), 0);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Records collected by the callback (test only: the readers themselves keep nothing). */
#define MAX_RECS 128
typedef struct collect {
    cg_pheno_record r[MAX_RECS];
    int n;
    int stop_after; /* > 0: return CG_ERR_STATE on that call */
} collect;

static cg_status collect_emit(void *ctx, const cg_pheno_record *r) {
    collect *c = ctx;
    if (c->stop_after > 0 && c->n + 1 == c->stop_after) return cg_error(CG_ERR_STATE, "stopped by the callback");
    if (c->n < MAX_RECS) c->r[c->n] = *r;
    c->n++;
    return CG_OK;
}

/* Count of a drop reason (0 when absent). */
static int64_t dropped(const cg_pheno_stats *st, const char *reason) {
    for (int k = 0; k < st->n_reasons; k++)
        if (strcmp(st->reason[k], reason) == 0) return st->dropped[k];
    return 0;
}

static const char *example(const cg_pheno_stats *st, const char *reason) {
    for (int k = 0; k < st->n_reasons; k++)
        if (strcmp(st->reason[k], reason) == 0) return st->example[k];
    return "";
}

static int64_t dropped_total(const cg_pheno_stats *st) {
    int64_t t = 0;
    for (int k = 0; k < st->n_reasons; k++) t += st->dropped[k];
    return t;
}

static void print_stats(const cg_pheno_stats *st) {
    print_message("%s: rows %lld records %lld\n", st->source, (long long)st->rows, (long long)st->records);
    for (int k = 0; k < st->n_reasons; k++)
        print_message("    dropped %-36s %7lld  e.g. %s\n", st->reason[k], (long long)st->dropped[k], st->example[k]);
}

/* NaN-aware float equality for expected values. */
static void check_float(float got, float want, const char *what) {
    if (isnan(want) ? !isnan(got) : fabsf(got - want) > 1e-6f * fmaxf(1.0f, fabsf(want))) {
        print_error("%s: got %.7g, want %.7g\n", what, (double)got, (double)want);
        fail();
    }
}

/* Checks record k of c: genes (a, b, c; -1 for none), label, value, std, p, line. */
static void check_rec(const collect *c, int k, int32_t a, int32_t b, int32_t d, cg_label l, float v, float sd, float p,
                      int64_t line) {
    assert_true(k < c->n);
    const cg_pheno_record *r = &c->r[k];
    int n = (a >= 0) + (b >= 0) + (d >= 0);
    if (r->n_genes != n || r->genes[0] != a || r->genes[1] != b || r->genes[2] != d || r->label != l ||
        r->line != line) {
        print_error("record %d: genes %d {%d,%d,%d} label %d line %lld; want %d {%d,%d,%d} label %d line %lld\n", k,
                    r->n_genes, r->genes[0], r->genes[1], r->genes[2], (int)r->label, (long long)r->line, n, a, b, d,
                    (int)l, (long long)line);
        fail();
    }
    check_float(r->value, v, "value");
    check_float(r->std, sd, "std");
    check_float(r->p_value, p, "p_value");
}

/* A tiny gene universe in SGD_features.tab format. Indices (by systematic name): 0 YAL001C TFC3,
 * 1 YAL002W VPS8, 2 YAL015C NTG1, 3 YBR001C NTH2, 4 YCR002C CDC10, 5 YDL227C HO, 6 YGL001C ERG26,
 * 7 YOL043C NTG2. SHARED is an alias of two genes (ambiguous). */
static const char *TINY_SGD = "S1\tORF\tVerified\tYAL001C\tTFC3\tSHARED\n"
                              "S2\tORF\tVerified\tYAL002W\tVPS8\tSHARED|CVT4\n"
                              "S3\tORF\tVerified\tYAL015C\tNTG1\t\n"
                              "S4\tORF\tVerified\tYBR001C\tNTH2\t\n"
                              "S5\tORF\tVerified\tYCR002C\tCDC10\t\n"
                              "S6\tORF\tVerified\tYDL227C\tHO\t\n"
                              "S7\tORF\tVerified\tYGL001C\tERG26\t\n"
                              "S8\tORF\tVerified\tYOL043C\tNTG2\t\n";

enum { TFC3, VPS8, NTG1, NTH2, CDC10, HO, ERG26, NTG2 };

typedef struct fixture {
    cg_genes *g;
    char dir[512];
    char files[32][600];
    int n_files;
} fixture;

/* Path of a fixture file named name inside the test's temp dir (recorded for cleanup). */
static const char *fx_path(fixture *fx, const char *name) {
    assert_true(fx->n_files < 32);
    char *p = fx->files[fx->n_files++];
    snprintf(p, sizeof fx->files[0], "%s/%s", fx->dir, name);
    return p;
}

static int setup_tiny(void **state) {
    static fixture fx;
    memset(&fx, 0, sizeof fx);
    tu_temp_path(fx.dir, sizeof fx.dir, "phenotypes");
    if (mkdir(fx.dir, 0700) != 0) {
        fprintf(stderr, "cannot create %s\n", fx.dir);
        return -1;
    }
    char sgd[600];
    snprintf(sgd, sizeof sgd, "%s/tiny_sgd.tab", fx.dir);
    FILE *f = fopen(sgd, "wb");
    if (!f) return -1;
    fputs(TINY_SGD, f);
    fclose(f);
    if (cg_genes_load(sgd, &fx.g) != CG_OK) {
        fprintf(stderr, "cannot load tiny genes: %s\n", cg_last_error());
        return -1;
    }
    unlink(sgd);
    *state = &fx;
    return 0;
}

static int teardown_tiny(void **state) {
    fixture *fx = *state;
    cg_genes_free(fx->g);
    for (int k = 0; k < fx->n_files; k++) unlink(fx->files[k]);
    rmdir(fx->dir);
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * labels
 * ------------------------------------------------------------------------------------------------- */

static void test_label_name(void **state) {
    (void)state;
    assert_string_equal(cg_label_name(CG_LABEL_FITNESS), "fitness");
    assert_string_equal(cg_label_name(CG_LABEL_EPSILON), "epsilon");
    assert_string_equal(cg_label_name(CG_LABEL_TAU), "tau");
    assert_int_equal(cg_label_parse("tau"), CG_LABEL_TAU);
    assert_int_equal(cg_label_parse("gene_interaction"), -2);
    assert_int_equal(cg_label_parse("nope"), -1);
    assert_string_equal(cg_label_name(CG_NUM_LABELS), "unknown");
}

/* ---------------------------------------------------------------------------------------------------
 * Costanzo 2016 SMF
 * ------------------------------------------------------------------------------------------------- */

static void test_smf_small(void **state) {
    fixture *fx = *state;
    const char *p = fx_path(fx, "smf_t30_150803.txt");
    write_crlf(p, "YAL001C_dma1\t0.9500\t0.0100\n"  /* 1: kept */
                  "YAL002W_sn2\t0.8000\t0.0200\n"   /* 2: kept (NatMX) */
                  "YBR001C_tsa3\t0.5\t0.1\n"        /* 3: TS array allele */
                  "YCR002C_damp4\t0.9\t0.01\n"      /* 4: DAmP */
                  "YGL001C_tsq5\tNaN\tNaN\n"        /* 5: TS query allele (before the NaN) */
                  "YAL015C_dma6\tNaN\tNaN\n"        /* 6: NaN fitness */
                  "YZZ999W_dma7\t1.0\t0.01\n"       /* 7: unknown gene */
                  "\n"                              /* 8: blank, skipped */
                  "YAL001C_dma1\t0.9500\t0.0100\n"  /* 9: duplicate, emitted again */
                  "YOL043C_sn9\t1.02\tnan\n"        /* 10: NaN std kept */
                  "SHARED_sn10\t1.0\t0.0\n"         /* 11: ambiguous alias = unknown */
                  "undefined_tsq1471\t0.7\t0.1\n"); /* 12: not a deletion (checked before the name) */
    collect c = {0};
    cg_pheno_stats st;
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, collect_emit, &c, &st), CG_OK);
    print_stats(&st);
    assert_string_equal(st.source, "costanzo2016_smf_30C");
    assert_int_equal(st.rows, 11);
    assert_int_equal(st.records, 4);
    assert_int_equal(c.n, 4);
    check_rec(&c, 0, TFC3, -1, -1, CG_LABEL_FITNESS, 0.95f, 0.01f, NAN, 1);
    check_rec(&c, 1, VPS8, -1, -1, CG_LABEL_FITNESS, 0.80f, 0.02f, NAN, 2);
    check_rec(&c, 2, TFC3, -1, -1, CG_LABEL_FITNESS, 0.95f, 0.01f, NAN, 9);
    check_rec(&c, 3, NTG2, -1, -1, CG_LABEL_FITNESS, 1.02f, NAN, NAN, 10);
    assert_int_equal(dropped(&st, "not a deletion allele"), 4);
    assert_string_equal(example(&st, "not a deletion allele"), "YBR001C_tsa3");
    assert_int_equal(dropped(&st, "NaN fitness"), 1);
    assert_string_equal(example(&st, "NaN fitness"), "YAL015C_dma6");
    assert_int_equal(dropped(&st, "unknown gene"), 2);
    assert_string_equal(example(&st, "unknown gene"), "YZZ999W");
    assert_int_equal(st.rows, st.records + dropped_total(&st));

    /* st may be NULL; a file named otherwise gets a generic source */
    c.n = 0;
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, collect_emit, &c, NULL), CG_OK);
    assert_int_equal(c.n, 4);
    const char *q = fx_path(fx, "single_mutants.txt");
    write_text(q, "YAL001C_dma1\t0.95\t0.01\n");
    assert_int_equal(cg_read_costanzo_smf(q, fx->g, collect_emit, &c, &st), CG_OK);
    assert_string_equal(st.source, "costanzo2016_smf:single_mutants");

    /* gzip-compressed input reads the same (cg_lines) */
    const char *z = fx_path(fx, "smf_t26_150803.txt.gz");
    gzFile gz = gzopen(z, "wb");
    assert_non_null(gz);
    const char *text = "YAL001C_dma1\t0.9500\t0.0100\nYBR001C_tsa3\t0.5\t0.1\n";
    assert_int_equal(gzwrite(gz, text, (unsigned)strlen(text)), (int)strlen(text));
    assert_int_equal(gzclose(gz), Z_OK);
    c.n = 0;
    assert_int_equal(cg_read_costanzo_smf(z, fx->g, collect_emit, &c, &st), CG_OK);
    assert_string_equal(st.source, "costanzo2016_smf_26C");
    assert_int_equal(st.rows, 2);
    assert_int_equal(c.n, 1);
    check_rec(&c, 0, TFC3, -1, -1, CG_LABEL_FITNESS, 0.95f, 0.01f, NAN, 1);
}

static void test_smf_errors(void **state) {
    fixture *fx = *state;
    collect c = {0};
    cg_pheno_stats st;
    const char *p = fx_path(fx, "smf_bad_number.txt");
    write_text(p, "YAL001C_dma1\t0.95\t0.01\nYAL002W_sn2\t0.8x\t0.02\n");
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), p);
    check_contains(cg_last_error(), "line 2: column 'fitness': '0.8x' is not a number");

    p = fx_path(fx, "smf_empty_field.txt");
    write_text(p, "YAL001C_dma1\t\t0.01\n");
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 1: column 'fitness': '' is not a number");

    p = fx_path(fx, "smf_inf.txt");
    write_text(p, "YAL001C_dma1\t0.9\tinf\n");
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "column 'std': 'inf' is not a number");

    /* truncated last line: no newline, one column short */
    p = fx_path(fx, "smf_truncated.txt");
    write_text(p, "YAL001C_dma1\t0.95\t0.01\nYAL002W_sn2\t0.80\t0.02\nYAL015C_dma6\t0.9");
    c.n = 0;
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), p);
    check_contains(cg_last_error(), "line 3: 2 columns, expected 3");
    assert_int_equal(c.n, 2);

    p = fx_path(fx, "no_such_file.txt");
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, collect_emit, &c, &st), CG_ERR_IO);
    check_contains(cg_last_error(), p);
    assert_int_equal(cg_read_costanzo_smf(NULL, fx->g, collect_emit, &c, &st), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_read_costanzo_smf(p, NULL, collect_emit, &c, &st), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, NULL, &c, &st), CG_ERR_INVALID_ARG);

    /* the callback's status stops the reader and is returned as is */
    p = fx_path(fx, "smf_stop.txt");
    write_text(p, "YAL001C_dma1\t0.95\t0.01\nYAL002W_sn2\t0.8\t0.02\nYAL015C_dma6\t0.9\t0.1\n");
    collect s2 = {.stop_after = 2};
    assert_int_equal(cg_read_costanzo_smf(p, fx->g, collect_emit, &s2, &st), CG_ERR_STATE);
    check_contains(cg_last_error(), "stopped by the callback");
    assert_int_equal(s2.n, 1);
    assert_int_equal(st.records, 1);
}

/* ---------------------------------------------------------------------------------------------------
 * DCell pairs
 * ------------------------------------------------------------------------------------------------- */

static void test_dcell_small(void **state) {
    fixture *fx = *state;
    const char *p = fx_path(fx, "GO_0006281_training_data_2016_0");
    write_text(p, "2 YAL001C YAL002W 0.0447\n"   /* 1 */
                  "2 YBR001C YCR002C -0.91\n"    /* 2 */
                  "2 YAL001C YAL001C 0.1\n"      /* 3: repeated */
                  "2 YZZ999W YAL001C 0.2\n"      /* 4: unknown */
                  "2 YOL043C YAL015C nan\n"      /* 5: NaN */
                  "2  YGL001C\tYAL002W  0.42\n"  /* 6: runs of spaces and a tab */
                  "2 YCR002C YAL001C 0.01\n"     /* 7: unsorted pair */
                  "2 YCR002C YAL001C 0.01\n");   /* 8: duplicate, emitted again */
    collect c = {0};
    cg_pheno_stats st;
    assert_int_equal(cg_read_dcell_pairs(p, fx->g, collect_emit, &c, &st), CG_OK);
    print_stats(&st);
    assert_string_equal(st.source, "dcell_go0006281:training");
    assert_int_equal(st.rows, 8);
    assert_int_equal(st.records, 5);
    check_rec(&c, 0, TFC3, VPS8, -1, CG_LABEL_EPSILON, 0.0447f, NAN, NAN, 1);
    check_rec(&c, 1, NTH2, CDC10, -1, CG_LABEL_EPSILON, -0.91f, NAN, NAN, 2);
    check_rec(&c, 2, VPS8, ERG26, -1, CG_LABEL_EPSILON, 0.42f, NAN, NAN, 6);
    check_rec(&c, 3, TFC3, CDC10, -1, CG_LABEL_EPSILON, 0.01f, NAN, NAN, 7);
    check_rec(&c, 4, TFC3, CDC10, -1, CG_LABEL_EPSILON, 0.01f, NAN, NAN, 8);
    assert_int_equal(dropped(&st, "gene repeated in genotype"), 1);
    assert_string_equal(example(&st, "gene repeated in genotype"), "YAL001C");
    assert_int_equal(dropped(&st, "unknown gene"), 1);
    assert_string_equal(example(&st, "unknown gene"), "YZZ999W");
    assert_int_equal(dropped(&st, "NaN gene_interaction"), 1);
    assert_int_equal(st.rows, st.records + dropped_total(&st));

    const char *q = fx_path(fx, "dcell_short.txt");
    write_text(q, "2 YAL001C YAL002W 0.0447\n2 YAL001C 0.5\n");
    assert_int_equal(cg_read_dcell_pairs(q, fx->g, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), q);
    check_contains(cg_last_error(), "line 2: 3 columns, expected 4");
    assert_string_equal(st.source, "dcell:dcell_short");
    write_text(q, "x YAL001C YAL002W 0.0447\n");
    assert_int_equal(cg_read_dcell_pairs(q, fx->g, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 1: column 'n_genes'");
    write_text(q, "2 YAL001C YAL002W -\n");
    assert_int_equal(cg_read_dcell_pairs(q, fx->g, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 1: column 'value': '-' is not a number");
}

/* ---------------------------------------------------------------------------------------------------
 * double-mutant query fitness
 * ------------------------------------------------------------------------------------------------- */

static void test_query_fitness_small(void **state) {
    fixture *fx = *state;
    const char *p = fx_path(fx, "dmf_tr_150226_fromSGAonly.txt");
    write_crlf(p, "YAL015C+YDL227C_tm3330\t1.0235\t0.02\n"   /* 1: {NTG1} */
                  "YAL015C+YOL043C_tm72\t0.8\t0.01\n"        /* 2: {NTG1, NTG2} */
                  "URA3control+YDL227C_y13096\tNaN\tNaN\n"   /* 3: unknown gene */
                  "YDL227C+YCR002C_y1\t0.9\t0.05\n"          /* 4: {CDC10}, ho first */
                  "YAL015C+YOL043C_tm73\tNaN\tNaN\n"         /* 5: NaN */
                  "YAL015C+YAL015C_tm1\t0.5\t0.1\n"          /* 6: repeated */
                  "YOL043C+YAL015C_tm74\t0.7\t0.03\n");      /* 7: {NTG1, NTG2} again, sorted */
    collect c = {0};
    cg_pheno_stats st;
    assert_int_equal(cg_read_query_fitness(p, fx->g, collect_emit, &c, &st), CG_OK);
    print_stats(&st);
    assert_string_equal(st.source, "query_fitness");
    assert_int_equal(st.rows, 7);
    assert_int_equal(st.records, 4);
    check_rec(&c, 0, NTG1, -1, -1, CG_LABEL_FITNESS, 1.0235f, 0.02f, NAN, 1);
    check_rec(&c, 1, NTG1, NTG2, -1, CG_LABEL_FITNESS, 0.8f, 0.01f, NAN, 2);
    check_rec(&c, 2, CDC10, -1, -1, CG_LABEL_FITNESS, 0.9f, 0.05f, NAN, 4);
    check_rec(&c, 3, NTG1, NTG2, -1, CG_LABEL_FITNESS, 0.7f, 0.03f, NAN, 7);
    assert_int_equal(dropped(&st, "unknown gene"), 1);
    assert_string_equal(example(&st, "unknown gene"), "URA3control");
    assert_int_equal(dropped(&st, "NaN fitness"), 1);
    assert_int_equal(dropped(&st, "gene repeated in genotype"), 1);
    assert_string_equal(example(&st, "gene repeated in genotype"), "YAL015C");
    assert_int_equal(st.rows, st.records + dropped_total(&st));

    const char *q = fx_path(fx, "dmf_truncated.txt");
    write_text(q, "YAL015C+YDL227C_tm3330\t1.0235\t0.02\nYAL015C+YOL043C_tm72\t0.8");
    assert_int_equal(cg_read_query_fitness(q, fx->g, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), q);
    check_contains(cg_last_error(), "line 2: 2 columns, expected 3");
}

/* ---------------------------------------------------------------------------------------------------
 * SGA tables
 * ------------------------------------------------------------------------------------------------- */

/* Costanzo 2016 SGA_*.txt: 11 columns with a header; CRLF line endings. */
static const char *COSTANZO_SGA =
    "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
    "Genetic interaction score (\xCE\xB5)\tP-value\tQuery single mutant fitness (SMF)\tArray SMF\t"
    "Double mutant fitness\tDouble mutant fitness standard deviation\n"
    /* 2: kept: epsilon and fitness for {TFC3, VPS8} */
    "YAL001C_sn1\ttfc3\tYAL002W_dma1\tvps8\tDMA30\t-0.1500\t0.001\t0.9\t0.95\t0.70\t0.02\n"
    /* 3: the same pair again: emitted twice (merging is the dataset's job) */
    "YAL001C_sn1\ttfc3\tYAL002W_dma1\tvps8\tDMA30\t-0.1500\t0.001\t0.9\t0.95\t0.70\t0.02\n"
    /* 4: TS array */
    "YAL001C_sn1\ttfc3\tYBR001C_tsa5\tnth2-1\tTSA30\t0.02\t0.3\t0.9\t0.8\t0.74\t0.02\n"
    /* 5: 26 C */
    "YAL001C_sn1\ttfc3\tYCR002C_dma7\tcdc10\tDMA26\t0.03\t0.2\t0.9\t0.9\t0.84\t0.01\n"
    /* 6: TS query */
    "YCR002C_tsq9\tcdc10-2\tYBR001C_dma3\tnth2\tDMA30\t0.01\t0.4\t0.8\t0.9\t0.73\t0.03\n"
    /* 7: NaN score, fitness kept */
    "YAL001C_sn1\ttfc3\tYGL001C_dma4\terg26\tDMA30\tNaN\tNaN\t0.9\t0.8\t0.75\t0.03\n"
    /* 8: array ORF == query ORF */
    "YAL001C_sn1\ttfc3\tYAL001C_dma2\ttfc3\tDMA30\t0.01\t0.5\t0.9\t0.9\t0.8\t0.01\n"
    /* 9: unknown query gene */
    "YZZ999W_sn3\tfoo\tYAL002W_dma1\tvps8\tDMA30\t0.01\t0.5\t0.9\t0.9\t0.8\t0.01\n"
    /* 10: ambiguous array gene */
    "YBR001C_sn2\tnth2\tSHARED_dma5\tshared\tDMA30\t0.01\t0.5\t0.9\t0.9\t0.8\t0.01\n"
    /* 11: kept, NaN std */
    "YBR001C_sn2\tnth2\tYCR002C_dma7\tcdc10\tDMA30\t0.05\t0.2\t1.0\t0.9\t0.95\tNaN\n";

static void test_sga_costanzo(void **state) {
    fixture *fx = *state;
    const char *p = fx_path(fx, "SGA_ExN_NxE.txt");
    write_crlf(p, COSTANZO_SGA);
    collect c = {0};
    cg_pheno_stats st;
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_OK);
    print_stats(&st);
    assert_string_equal(st.source, "costanzo2016_30C:SGA_ExN_NxE");
    assert_int_equal(st.rows, 10);
    assert_int_equal(st.records, 7);
    assert_int_equal(c.n, 7);
    check_rec(&c, 0, TFC3, VPS8, -1, CG_LABEL_EPSILON, -0.15f, NAN, 0.001f, 2);
    check_rec(&c, 1, TFC3, VPS8, -1, CG_LABEL_FITNESS, 0.70f, 0.02f, NAN, 2);
    check_rec(&c, 2, TFC3, VPS8, -1, CG_LABEL_EPSILON, -0.15f, NAN, 0.001f, 3);
    check_rec(&c, 3, TFC3, VPS8, -1, CG_LABEL_FITNESS, 0.70f, 0.02f, NAN, 3);
    check_rec(&c, 4, TFC3, ERG26, -1, CG_LABEL_FITNESS, 0.75f, 0.03f, NAN, 7);
    check_rec(&c, 5, NTH2, CDC10, -1, CG_LABEL_EPSILON, 0.05f, NAN, 0.2f, 11);
    check_rec(&c, 6, NTH2, CDC10, -1, CG_LABEL_FITNESS, 0.95f, NAN, NAN, 11);
    assert_int_equal(st.n_reasons, 6);
    assert_int_equal(dropped(&st, "array not a deletion allele"), 1);
    assert_string_equal(example(&st, "array not a deletion allele"), "YBR001C_tsa5");
    assert_int_equal(dropped(&st, "temperature 26 C"), 1);
    assert_string_equal(example(&st, "temperature 26 C"), "YCR002C_dma7");
    assert_int_equal(dropped(&st, "query not a deletion allele"), 1);
    assert_string_equal(example(&st, "query not a deletion allele"), "YCR002C_tsq9");
    assert_int_equal(dropped(&st, "NaN gene_interaction"), 1);
    assert_int_equal(dropped(&st, "gene repeated in genotype"), 1);
    assert_string_equal(example(&st, "gene repeated in genotype"), "YAL001C");
    assert_int_equal(dropped(&st, "unknown gene"), 2);
    assert_string_equal(example(&st, "unknown gene"), "YZZ999W");

    /* 26 C keeps only row 5; temperature 0 keeps every temperature */
    c.n = 0;
    assert_int_equal(cg_read_sga_table(p, fx->g, 26, collect_emit, &c, &st), CG_OK);
    assert_string_equal(st.source, "costanzo2016_26C:SGA_ExN_NxE");
    assert_int_equal(st.records, 2);
    check_rec(&c, 0, TFC3, CDC10, -1, CG_LABEL_EPSILON, 0.03f, NAN, 0.2f, 5);
    check_rec(&c, 1, TFC3, CDC10, -1, CG_LABEL_FITNESS, 0.84f, 0.01f, NAN, 5);
    assert_int_equal(dropped(&st, "temperature 30 C"), 9);
    c.n = 0;
    assert_int_equal(cg_read_sga_table(p, fx->g, 0, collect_emit, &c, &st), CG_OK);
    assert_string_equal(st.source, "costanzo2016:SGA_ExN_NxE");
    assert_int_equal(st.records, 9);
    assert_int_equal(dropped(&st, "temperature 26 C"), 0);

    /* a truncated last line, no newline */
    const char *q = fx_path(fx, "SGA_truncated.txt");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", COSTANZO_SGA, "YBR001C_sn2\tnth2\tYGL001C_dma4\terg26\tDMA30\t0.05");
    write_text(q, buf);
    c.n = 0;
    assert_int_equal(cg_read_sga_table(q, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), q);
    check_contains(cg_last_error(), "line 12: 6 columns, expected 11");
    assert_int_equal(c.n, 7);
}

/* Kuzmin et al. 2018 Data S1: 12 columns, raw and adjusted scores, 'Δ' and '∆' in allele names. */
static const char *KUZMIN2018 =
    "Query strain ID\tQuery allele name\tArray strain ID\tArray allele name\tCombined mutant type\t"
    "Raw genetic interaction score (epsilon)\tAdjusted genetic interaction score (epsilon or tau)\tP-value\t"
    "Query single/double mutant fitness\tArray single mutant fitness\tCombined mutant fitness\t"
    "Combined mutant fitness standard deviation\n"
    /* 2: digenic (ho control): {TFC3, NTG1} */
    "YAL015C+YDL227C_tm461\tntg1\xCE\x94+ho\xCE\x94\tYAL001C_dma91\ttfc3\tdigenic\t-0.02\t-0.0250\t0.3166\t0.95\t0.9\t"
    "0.83\t0.024\n"
    /* 3: trigenic, '∆' (U+2206) in the second part: {TFC3, NTG1, NTG2} */
    "YAL015C+YOL043C_tm72\tntg1\xCE\x94+ntg2\xE2\x88\x86\tYAL001C_dma91\ttfc3\ttrigenic\t-0.1\t-0.0800\t0.01\t0.9\t0.9\t"
    "0.60\t0.05\n"
    /* 4: TS array */
    "YAL015C+YOL043C_tm72\tntg1\xCE\x94+ntg2\xE2\x88\x86\tYBR001C_tsa3\tnth2-1\ttrigenic\t0.1\t0.09\t0.2\t0.9\t0.7\t"
    "0.70\t0.05\n"
    /* 5: a query allele without a deletion mark (TS) */
    "YCR002C+YDL227C_tm99\tcdc10-1+ho\xCE\x94\tYAL001C_dma91\ttfc3\tdigenic\t0.1\t0.09\t0.2\t0.9\t0.7\t0.70\t0.05\n"
    /* 6: array ORF == a query ORF */
    "YAL015C+YOL043C_tm72\tntg1\xCE\x94+ntg2\xE2\x88\x86\tYOL043C_dma12\tntg2\ttrigenic\t0.1\t0.09\t0.2\t0.9\t0.7\t"
    "0.70\t0.05\n";

static void test_sga_kuzmin2018(void **state) {
    fixture *fx = *state;
    const char *p = fx_path(fx, "aao1729_data_s1.tsv");
    write_text(p, KUZMIN2018);
    collect c = {0};
    cg_pheno_stats st;
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_OK);
    print_stats(&st);
    assert_string_equal(st.source, "kuzmin:aao1729_data_s1");
    assert_int_equal(st.rows, 5);
    assert_int_equal(st.records, 4);
    check_rec(&c, 0, TFC3, NTG1, -1, CG_LABEL_EPSILON, -0.025f, NAN, 0.3166f, 2);
    check_rec(&c, 1, TFC3, NTG1, -1, CG_LABEL_FITNESS, 0.83f, 0.024f, NAN, 2);
    check_rec(&c, 2, TFC3, NTG1, NTG2, CG_LABEL_TAU, -0.08f, NAN, 0.01f, 3);
    check_rec(&c, 3, TFC3, NTG1, NTG2, CG_LABEL_FITNESS, 0.60f, 0.05f, NAN, 3);
    assert_int_equal(dropped(&st, "array not a deletion allele"), 1);
    assert_int_equal(dropped(&st, "query not a deletion allele"), 1);
    assert_string_equal(example(&st, "query not a deletion allele"), "YCR002C+YDL227C_tm99");
    assert_int_equal(dropped(&st, "gene repeated in genotype"), 1);
    assert_string_equal(example(&st, "gene repeated in genotype"), "YOL043C");
    assert_int_equal(st.rows, dropped_total(&st) + 2);

    /* the same with a truncated last line */
    const char *q = fx_path(fx, "kuzmin_truncated.tsv");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", KUZMIN2018, "YAL015C+YDL227C_tm461\tntg1\xCE\x94+ho\xCE\x94\tYGL001C_dma4");
    write_text(q, buf);
    assert_int_equal(cg_read_sga_table(q, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), q);
    check_contains(cg_last_error(), "line 7: 3 columns, expected 12");
}

/* Kuzmin et al. 2020 Table S1 exported as text: a title row, 9 columns in another order, "delta". */
static void test_sga_kuzmin2020(void **state) {
    fixture *fx = *state;
    const char *p = fx_path(fx, "aaz5667-Table-S1.txt");
    write_crlf(p,
               "Table S1. Raw genetic interaction data\n"
               "Query strain ID\tQuery allele name\tArray strain ID\tArray allele name\tCombined mutant type\t"
               "P-value\tAdjusted genetic interaction score (epsilon or tau)\tDouble/triple mutant fitness\t"
               "Double/triple mutant fitness standard deviation\n"
               /* 3: {NTG1, CDC10} */
               "YAL015C+YDL227C_tm461\tntg1_delta+ho_delta\tYCR002C_dma7\tcdc10\tdigenic\t0.04\t-0.2\t0.5\t0.1\n"
               /* 4: a TS part in a double-mutant query */
               "YCR002C+YOL043C_tm5\tcdc10-1+ntg2\xCE\x94\tYAL001C_dma91\ttfc3\ttrigenic\t0.5\t0.1\t0.6\t0.1\n"
               "\n"
               /* 6: NatMX array: {NTG1, NTH2, NTG2}, NaN fitness std */
               "YAL015C+YOL043C_tm72\tntg1\xE2\x88\x86+ntg2\xE2\x88\x86\tYBR001C_sn8\tnth2\ttrigenic\t0.5\t0.03\t0.9\tNaN\n"
               /* 7: both values NaN */
               "YAL015C+YOL043C_tm72\tntg1\xE2\x88\x86+ntg2\xE2\x88\x86\tYGL001C_dma4\terg26\ttrigenic\tNaN\tNaN\tnan\tnan\n");
    collect c = {0};
    cg_pheno_stats st;
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_OK);
    print_stats(&st);
    assert_string_equal(st.source, "kuzmin:aaz5667-Table-S1");
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.records, 4);
    check_rec(&c, 0, NTG1, CDC10, -1, CG_LABEL_EPSILON, -0.2f, NAN, 0.04f, 3);
    check_rec(&c, 1, NTG1, CDC10, -1, CG_LABEL_FITNESS, 0.5f, 0.1f, NAN, 3);
    check_rec(&c, 2, NTG1, NTH2, NTG2, CG_LABEL_TAU, 0.03f, NAN, 0.5f, 6);
    check_rec(&c, 3, NTG1, NTH2, NTG2, CG_LABEL_FITNESS, 0.9f, NAN, NAN, 6);
    assert_int_equal(dropped(&st, "query not a deletion allele"), 1);
    assert_int_equal(dropped(&st, "NaN gene_interaction"), 1);
    assert_int_equal(dropped(&st, "NaN fitness"), 1);
}

/* The SGA test screen's trigenic output: 6 columns, no allele names (query code tm = deletion). */
static void test_sga_test_screen(void **state) {
    fixture *fx = *state;
    const char *p = fx_path(fx, "scored_triple_test_small_trigenic.txt");
    write_text(p, "Query Strain ID\tArray Strain ID\tAdjusted genetic interaction score (epsilon or tau)\tP-value\t"
                  "Double/triple mutant fitness\tDouble/triple mutant fitness standard deviation\n"
                  "YAL015C+YDL227C_tm461\tYAL001C_dma91\t0.0167\t3.166e-01\t0.9787\t0.0240\n"
                  "YAL015C+YOL043C_tm72\tYAL002W_dma90\t-0.0134\t3.662e-01\t1.0066\t0.0289\n"
                  "YAL015C+YOL043C_tm72\tYBR001C_tsa111\t-0.0154\t3.891e-01\t0.8936\t0.0443\n"
                  "URA3control+YDL227C_y13096\tYAL001C_dma91\t0.1\t0.5\t0.9\t0.01\n"
                  "YDL227C_tm5\tYAL001C_dma91\t0.1\t0.5\t0.9\t0.01\n");
    collect c = {0};
    cg_pheno_stats st;
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_OK);
    print_stats(&st);
    assert_string_equal(st.source, "sga_test_screen:trigenic");
    assert_int_equal(st.rows, 5);
    assert_int_equal(st.records, 4);
    check_rec(&c, 0, TFC3, NTG1, -1, CG_LABEL_EPSILON, 0.0167f, NAN, 0.3166f, 2);
    check_rec(&c, 1, TFC3, NTG1, -1, CG_LABEL_FITNESS, 0.9787f, 0.024f, NAN, 2);
    check_rec(&c, 2, VPS8, NTG1, NTG2, CG_LABEL_TAU, -0.0134f, NAN, 0.3662f, 3);
    check_rec(&c, 3, VPS8, NTG1, NTG2, CG_LABEL_FITNESS, 1.0066f, 0.0289f, NAN, 3);
    assert_int_equal(dropped(&st, "array not a deletion allele"), 1);
    assert_int_equal(dropped(&st, "query not a deletion allele"), 1); /* code y without allele names */
    assert_int_equal(dropped(&st, "no query gene besides ho (YDL227C)"), 1);
}

/* The published Costanzo 2016 Data File S1 header, byte for byte (11 columns; ε in UTF-8). */
#define COSTANZO_S1_HEADER                                                                                             \
    "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"                         \
    "Genetic interaction score (\xCE\xB5)\tP-value\tQuery single mutant fitness (SMF)\tArray SMF\t"                    \
    "Double mutant fitness\tDouble mutant fitness standard deviation\n"

/* Empty fields, as the published tables write a missing value (the real samples leave "Query single mutant
 * fitness (SMF)" empty): NaN in the four numeric columns the reader parses (phenotypes.h); suppressor
 * strains (code S) are not deletions, a dma strain whose allele name carries "-supp1" is. */
static void test_sga_costanzo_empty_fields(void **state) {
    fixture *fx = *state;
    const char *p = fx_path(fx, "SGA_NxN.txt");
    write_text(p, COSTANZO_S1_HEADER
               /* 2: empty P-value and query SMF: epsilon with NaN p-value, fitness */
               "YAL001C_sn1\ttfc3\tYAL002W_dma1\tvps8\tDMA30\t-0.15\t\t\t0.95\t0.70\t0.02\n"
               /* 3: empty std, the last field: fitness with NaN std */
               "YAL001C_sn1\ttfc3\tYCR002C_dma7\tcdc10\tDMA30\t0.03\t0.2\t0.9\t0.9\t0.84\t\n"
               /* 4: empty score and P-value: "NaN gene_interaction", fitness kept */
               "YBR001C_sn2\tnth2\tYGL001C_dma4\terg26\tDMA30\t\t\t0.9\t0.8\t0.75\t0.03\n"
               /* 5: a blank (one space) fitness: "NaN fitness", epsilon kept */
               "YBR001C_sn2\tnth2\tYOL043C_dma12\tntg2\tDMA30\t0.05\t0.3\t\t\t \t0.01\n"
               /* 6: every numeric field empty: both counted, nothing emitted */
               "YBR001C_sn2\tnth2\tYAL002W_dma1\tvps8\tDMA30\t\t\t\t\t\t\n"
               /* 7: a suppressor-carrying query strain (code S) */
               "YAL015C_S253\tntg1-supp1\tYAL001C_dma91\ttfc3\tDMA30\t0.1\t0.2\t0.9\t0.9\t0.8\t0.01\n"
               /* 8: a deletion array whose allele name has a suppressor suffix: a deletion */
               "YAL015C_sn3\tntg1\tYAL001C_dma5246\ttfc3-supp1\tDMA30\t0.1\t0.2\t0.9\t0.9\t0.8\t0.01\n"
               /* 9: a suppressor-carrying array strain (code S), checked before the TS query */
               "YOL043C_tsq5\tntg2-1\tYAL001C_S6\ttfc3-supp1\tDMA30\t0.1\t0.2\t0.9\t0.9\t0.8\t0.01\n");
    collect c = {0};
    cg_pheno_stats st;
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_OK);
    print_stats(&st);
    assert_string_equal(st.source, "costanzo2016_30C:SGA_NxN");
    assert_int_equal(st.rows, 8);
    assert_int_equal(st.records, 8);
    assert_int_equal(c.n, 8);
    check_rec(&c, 0, TFC3, VPS8, -1, CG_LABEL_EPSILON, -0.15f, NAN, NAN, 2);
    check_rec(&c, 1, TFC3, VPS8, -1, CG_LABEL_FITNESS, 0.70f, 0.02f, NAN, 2);
    check_rec(&c, 2, TFC3, CDC10, -1, CG_LABEL_EPSILON, 0.03f, NAN, 0.2f, 3);
    check_rec(&c, 3, TFC3, CDC10, -1, CG_LABEL_FITNESS, 0.84f, NAN, NAN, 3);
    check_rec(&c, 4, NTH2, ERG26, -1, CG_LABEL_FITNESS, 0.75f, 0.03f, NAN, 4);
    check_rec(&c, 5, NTH2, NTG2, -1, CG_LABEL_EPSILON, 0.05f, NAN, 0.3f, 5);
    check_rec(&c, 6, TFC3, NTG1, -1, CG_LABEL_EPSILON, 0.1f, NAN, 0.2f, 8);
    check_rec(&c, 7, TFC3, NTG1, -1, CG_LABEL_FITNESS, 0.8f, 0.01f, NAN, 8);
    assert_int_equal(st.n_reasons, 4);
    assert_int_equal(dropped(&st, "NaN gene_interaction"), 2);
    assert_string_equal(example(&st, "NaN gene_interaction"), "YBR001C_sn2");
    assert_int_equal(dropped(&st, "NaN fitness"), 2);
    assert_int_equal(dropped(&st, "query not a deletion allele"), 1);
    assert_string_equal(example(&st, "query not a deletion allele"), "YAL015C_S253");
    assert_int_equal(dropped(&st, "array not a deletion allele"), 1);
    assert_string_equal(example(&st, "array not a deletion allele"), "YAL001C_S6");

    /* text that is not a number is still an error, naming the score column by its published name (ε) */
    p = fx_path(fx, "SGA_NxN_bad.txt");
    write_text(p, COSTANZO_S1_HEADER "YAL001C_sn1\ttfc3\tYAL002W_dma1\tvps8\tDMA30\t-\t0.1\t\t0.95\t0.70\t0.02\n");
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 2: column 'Genetic interaction score (\xCE\xB5)': '-' is not a number");
    /* an empty Arraytype/Temp is an error: the temperature decides whether the row is kept */
    write_text(p, COSTANZO_S1_HEADER "YAL001C_sn1\ttfc3\tYAL002W_dma1\tvps8\t\t-0.15\t0.1\t\t0.95\t0.70\t0.02\n");
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 2: column 'Arraytype/Temp': '' has no temperature");
    /* ε in another encoding (ISO 8859-7 E5) is found by the column's prefix */
    write_text(p, "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
                  "Genetic interaction score (\xE5)\tP-value\tQuery single mutant fitness (SMF)\tArray SMF\t"
                  "Double mutant fitness\tDouble mutant fitness standard deviation\n"
                  "YAL001C_sn1\ttfc3\tYAL002W_dma1\tvps8\tDMA30\t-0.15\t0.1\t\t0.95\t0.70\t0.02\n");
    c.n = 0;
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_OK);
    assert_int_equal(c.n, 2);
    check_rec(&c, 0, TFC3, VPS8, -1, CG_LABEL_EPSILON, -0.15f, NAN, 0.1f, 2);
}

static void test_sga_errors(void **state) {
    fixture *fx = *state;
    collect c = {0};
    cg_pheno_stats st;
    const char *hdr = "Query Strain ID\tArray Strain ID\tAdjusted genetic interaction score (epsilon or tau)\tP-value\t"
                      "Double/triple mutant fitness\tDouble/triple mutant fitness standard deviation\n";
    char buf[2048];
    const char *p = fx_path(fx, "sga_bad_number.txt");
    snprintf(buf, sizeof buf, "%sYAL015C+YDL227C_tm461\tYAL001C_dma91\t0.0167\tp\t0.9787\t0.0240\n", hdr);
    write_text(p, buf);
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), p);
    check_contains(cg_last_error(), "line 2: column 'P-value': 'p' is not a number");

    p = fx_path(fx, "sga_no_header.txt");
    write_text(p, "YAL015C+YDL227C_tm461\tYAL001C_dma91\t0.0167\t0.3\t0.9787\t0.0240\n"
                  "YAL015C+YDL227C_tm461\tYAL001C_dma91\t0.0167\t0.3\t0.9787\t0.0240\n"
                  "YAL015C+YDL227C_tm461\tYAL001C_dma91\t0.0167\t0.3\t0.9787\t0.0240\n"
                  "YAL015C+YDL227C_tm461\tYAL001C_dma91\t0.0167\t0.3\t0.9787\t0.0240\n");
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 4: no header row with a 'Query strain ID' column");

    p = fx_path(fx, "sga_missing_column.txt");
    write_text(p, "Query Strain ID\tArray Strain ID\tP-value\tDouble/triple mutant fitness\t"
                  "Double/triple mutant fitness standard deviation\n");
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 1: the header has no column 'Adjusted genetic interaction score");

    p = fx_path(fx, "sga_bad_temp.txt");
    write_text(p, "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
                  "Genetic interaction score (\xCE\xB5)\tP-value\tQuery single mutant fitness (SMF)\tArray SMF\t"
                  "Double mutant fitness\tDouble mutant fitness standard deviation\n"
                  "YAL001C_sn1\ttfc3\tYAL002W_dma1\tvps8\tDMA\t-0.15\t0.001\t0.9\t0.95\t0.70\t0.02\n");
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 2: column 'Arraytype/Temp': 'DMA' has no temperature");

    /* an empty file has no header */
    p = fx_path(fx, "sga_empty.txt");
    write_text(p, "");
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, collect_emit, &c, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "no header row");
}

/* ---------------------------------------------------------------------------------------------------
 * streaming: 200,000 rows in the Costanzo SGA format, read in one pass with flat memory
 * ------------------------------------------------------------------------------------------------- */

/* Resident set size in bytes (from /proc/self/statm; 0 when unavailable). */
static int64_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long long size = 0, res = 0;
    int ok = fscanf(f, "%lld %lld", &size, &res) == 2;
    fclose(f);
    return ok ? res * (int64_t)sysconf(_SC_PAGESIZE) : 0;
}

typedef struct stream_ctx {
    int64_t n, n_gi, n_fit, last_line, rss_peak;
    int out_of_order;
} stream_ctx;

static cg_status stream_emit(void *ctx, const cg_pheno_record *r) {
    stream_ctx *s = ctx;
    if (r->line < s->last_line || r->n_genes != 2 || r->genes[0] >= r->genes[1]) s->out_of_order = 1;
    s->last_line = r->line;
    if (r->label != CG_LABEL_FITNESS) s->n_gi++;
    else s->n_fit++;
    if ((++s->n & 16383) == 0) {
        int64_t m = rss_bytes();
        if (m > s->rss_peak) s->rss_peak = m;
    }
    return CG_OK;
}

static void test_streaming(void **state) {
    fixture *fx = *state;
    static const char *const query[] = {"YAL001C", "YAL002W", "YAL015C"};
    static const char *const array[] = {"YBR001C", "YCR002C", "YGL001C", "YOL043C"};
    const int64_t N = 200000;
    const char *p = fx_path(fx, "SGA_stream.txt");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
          "Genetic interaction score (\xCE\xB5)\tP-value\tQuery single mutant fitness (SMF)\tArray SMF\t"
          "Double mutant fitness\tDouble mutant fitness standard deviation\n",
          f);
    for (int64_t i = 0; i < N; i++) {
        int k = (int)(i % 10);
        fprintf(f, "%s_sn%d\tq\t%s_%s%d\ta\t%s\t%.4f\t0.01\t0.9\t0.9\t0.8\t0.02\n", query[i % 3], (int)(i % 97),
                array[(i / 3) % 4], k == 9 ? "tsa" : "dma", (int)(i % 89), k == 4 ? "DMA26" : "DMA30",
                (double)(i % 200) / 1000.0 - 0.1);
    }
    assert_int_equal(fclose(f), 0);

    stream_ctx s = {0};
    cg_pheno_stats st;
    int64_t rss0 = rss_bytes();
    s.rss_peak = rss0;
    double t0 = now_s();
    assert_int_equal(cg_read_sga_table(p, fx->g, 30, stream_emit, &s, &st), CG_OK);
    double t = now_s() - t0;
    int64_t growth = s.rss_peak - rss0;
    print_message("streaming: %lld rows -> %lld records in %.3f s; resident memory grew %.2f MiB while reading\n",
                  (long long)st.rows, (long long)st.records, t, (double)growth / (1 << 20));
    assert_int_equal(st.rows, N);
    assert_int_equal(dropped(&st, "array not a deletion allele"), N / 10);
    assert_int_equal(dropped(&st, "temperature 26 C"), N / 10);
    assert_int_equal(st.records, 2 * (N - 2 * N / 10));
    assert_int_equal(s.n, st.records);
    assert_int_equal(s.n_gi, s.n_fit);
    assert_false(s.out_of_order);
    /* storing the 320,000 records alone would take 10 MiB; the reader keeps one line buffer */
    if (rss0 > 0) assert_true(growth < 4 * (1 << 20));
    unlink(p);
}

/* ---------------------------------------------------------------------------------------------------
 * real data
 * ------------------------------------------------------------------------------------------------- */

/* Counts on the real files, as read by these readers (see the comments of each test). */
#define REAL_SMF_NAN 717
#define REAL_SMF_UNKNOWN 47
#define REAL_SMF_RECORDS 8083
#define REAL_DCELL_TRAIN_DROPPED 0
#define REAL_DCELL_TEST_DROPPED 0
#define REAL_TS_PAIRS 4879
#define REAL_TS_TRIPLES 3855
#define REAL_QF_SINGLES 747
#define REAL_QF_PAIRS 207

typedef struct real {
    cg_genes *g;
    char dir[1024];
} real;

static int setup_real(void **state) {
    static real rl;
    const char *d = getenv("CELLGRAPH_TEST_DATA");
    rl.g = NULL;
    rl.dir[0] = '\0';
    if (d && *d) {
        char p[1200];
        snprintf(rl.dir, sizeof rl.dir, "%s", d);
        snprintf(p, sizeof p, "%s/sgd/SGD_features.tab", d);
        if (access(p, R_OK) == 0 && cg_genes_load(p, &rl.g) != CG_OK) {
            fprintf(stderr, "cannot load %s: %s\n", p, cg_last_error());
            return -1;
        }
    }
    *state = &rl;
    return 0;
}

static int teardown_real(void **state) {
    real *rl = *state;
    cg_genes_free(rl->g);
    return 0;
}

/* Tallies of the records of one run: by label and genotype size, value range, finiteness. */
typedef struct tally {
    int64_t n[CG_NUM_LABELS][4];
    double lo[CG_NUM_LABELS], hi[CG_NUM_LABELS];
    int64_t nonfinite, bad_genotype;
    int32_t n_genes_universe;
} tally;

static cg_status tally_emit(void *ctx, const cg_pheno_record *r) {
    tally *t = ctx;
    if (r->n_genes < 1 || r->n_genes > 3 || r->label < 0 || r->label >= CG_NUM_LABELS) {
        t->bad_genotype++;
        return CG_OK;
    }
    for (int i = 0; i < 3; i++) {
        if (i < r->n_genes ? (r->genes[i] < 0 || r->genes[i] >= t->n_genes_universe) : r->genes[i] != -1)
            t->bad_genotype++;
        if (i > 0 && i < r->n_genes && r->genes[i - 1] >= r->genes[i]) t->bad_genotype++;
    }
    if (!isfinite(r->value)) t->nonfinite++;
    t->n[r->label][r->n_genes]++;
    if (r->value < t->lo[r->label]) t->lo[r->label] = r->value;
    if (r->value > t->hi[r->label]) t->hi[r->label] = r->value;
    return CG_OK;
}

typedef enum { R_SMF, R_DCELL, R_QUERY, R_SGA } reader_kind;

/* Reads <data>/<rel> (skips when absent), checks the records' invariants and prints the counts. */
static void read_real(void **state, const char *rel, reader_kind kind, tally *t, cg_pheno_stats *st) {
    real *rl = *state;
    if (!rl->g) skip();
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", rl->dir, rel);
    if (access(p, R_OK) != 0) skip();
    memset(t, 0, sizeof *t);
    t->n_genes_universe = cg_genes_count(rl->g);
    for (int l = 0; l < CG_NUM_LABELS; l++) t->lo[l] = INFINITY, t->hi[l] = -INFINITY;
    double t0 = now_s();
    cg_status s = CG_OK;
    switch (kind) {
    case R_SMF: s = cg_read_costanzo_smf(p, rl->g, tally_emit, t, st); break;
    case R_DCELL: s = cg_read_dcell_pairs(p, rl->g, tally_emit, t, st); break;
    case R_QUERY: s = cg_read_query_fitness(p, rl->g, tally_emit, t, st); break;
    case R_SGA: s = cg_read_sga_table(p, rl->g, 30, tally_emit, t, st); break;
    }
    double secs = now_s() - t0;
    if (s != CG_OK) {
        print_error("%s: %s\n", rel, cg_last_error());
        fail();
    }
    print_stats(st);
    for (int l = 0; l < CG_NUM_LABELS; l++)
        if (t->n[l][1] + t->n[l][2] + t->n[l][3] > 0)
            print_message("    %-16s 1 gene %6lld  2 genes %6lld  3 genes %6lld  range [%.4f, %.4f]\n",
                          cg_label_name((cg_label)l), (long long)t->n[l][1], (long long)t->n[l][2],
                          (long long)t->n[l][3], t->lo[l], t->hi[l]);
    print_message("    %.3f s\n", secs);
    assert_int_equal(t->bad_genotype, 0);
    assert_int_equal(t->nonfinite, 0);
}

static int64_t tally_total(const tally *t) {
    int64_t n = 0;
    for (int l = 0; l < CG_NUM_LABELS; l++)
        for (int k = 1; k <= 3; k++) n += t->n[l][k];
    return n;
}

/* smf_t30_150803.txt: 13,557 strains; dma 4,293 + sn 4,554 = 8,847 deletion rows, of which 721 NaN
 * (365 dma + 356 sn, counted by awk over the file). 47 deletion rows name an ORF the resolver does not
 * know (retired or non-ORF features of SGD: pseudogenes, blocked reading frames, ...; e.g. YAR061W);
 * 4 of them are also NaN, so 717 rows are dropped as NaN and 8,847 - 717 - 47 = 8,083 are emitted. */
static void test_real_smf(void **state) {
    tally t;
    cg_pheno_stats st;
    read_real(state, "phenotypes/costanzo2016-smf/smf_t30_150803.txt", R_SMF, &t, &st);
    assert_string_equal(st.source, "costanzo2016_smf_30C");
    assert_int_equal(st.rows, 13557);
    assert_int_equal(dropped(&st, "not a deletion allele"), 13557 - 4293 - 4554);
    assert_int_equal(st.records, 4293 + 4554 - dropped(&st, "NaN fitness") - dropped(&st, "unknown gene"));
    assert_int_equal(dropped(&st, "NaN fitness") + dropped(&st, "unknown gene"), REAL_SMF_NAN + REAL_SMF_UNKNOWN);
    assert_int_equal(dropped(&st, "NaN fitness"), REAL_SMF_NAN);
    assert_int_equal(dropped(&st, "unknown gene"), REAL_SMF_UNKNOWN);
    assert_int_equal(st.records, REAL_SMF_RECORDS);
    assert_int_equal(t.n[CG_LABEL_FITNESS][1], st.records);
    assert_int_equal(tally_total(&t), st.records);
}

/* DCell's pairs: every row is kept. The data README gives the range as [-0.91, 0.42] (rounded); the files
 * hold [-0.8355, 0.4246] (training) and [-0.8566, 0.2535] (testing), by awk. */
static void test_real_dcell(void **state) {
    static const struct {
        const char *file, *source;
        int64_t rows;
        float lo, hi;
    } f[] = {
        {"phenotypes/dcell-go0006281/GO_0006281_training_data_2016_0", "dcell_go0006281:training", 8783, -0.8355f,
         0.4246f},
        {"phenotypes/dcell-go0006281/GO_0006281_testing_data_2016_0", "dcell_go0006281:testing", 2868, -0.8566f,
         0.2535f},
    };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        tally t;
        cg_pheno_stats st;
        read_real(state, f[k].file, R_DCELL, &t, &st);
        assert_string_equal(st.source, f[k].source);
        assert_int_equal(st.rows, f[k].rows);
        assert_int_equal(st.records + dropped_total(&st), st.rows);
        assert_int_equal(t.n[CG_LABEL_EPSILON][2], st.records);
        assert_int_equal(tally_total(&t), st.records);
        assert_true(t.lo[CG_LABEL_EPSILON] >= -0.91 && t.hi[CG_LABEL_EPSILON] < 0.425);
        assert_true(t.lo[CG_LABEL_EPSILON] == f[k].lo);
        assert_true(t.hi[CG_LABEL_EPSILON] == f[k].hi);
        assert_int_equal(dropped_total(&st), k == 0 ? REAL_DCELL_TRAIN_DROPPED : REAL_DCELL_TEST_DROPPED);
    }
}

/* The SGA test screen's trigenic file: 10,432 rows, 1,698 of them on TS arrays (947 ho-control rows and
 * 751 double-mutant-query rows, counted by awk); no NaN values. */
static void test_real_sga_test_screen(void **state) {
    tally t;
    cg_pheno_stats st;
    read_real(state, "phenotypes/sga-test-screen/scored_triple_test_small_trigenic.txt", R_SGA, &t, &st);
    assert_string_equal(st.source, "sga_test_screen:trigenic");
    assert_int_equal(st.rows, 10432);
    assert_int_equal(dropped(&st, "array not a deletion allele"), 1698);
    assert_int_equal(dropped(&st, "NaN gene_interaction"), 0);
    assert_int_equal(dropped(&st, "NaN fitness"), 0);
    assert_true(t.n[CG_LABEL_EPSILON][2] > 0);
    assert_true(t.n[CG_LABEL_TAU][3] > 0);
    assert_int_equal(t.n[CG_LABEL_EPSILON][2], REAL_TS_PAIRS);
    assert_int_equal(t.n[CG_LABEL_TAU][3], REAL_TS_TRIPLES);
    /* epsilon only for pairs, tau only for triples */
    assert_int_equal(t.n[CG_LABEL_EPSILON][3] + t.n[CG_LABEL_EPSILON][1], 0);
    assert_int_equal(t.n[CG_LABEL_TAU][2] + t.n[CG_LABEL_TAU][1], 0);
    for (int k = 2; k <= 3; k++) assert_int_equal(t.n[CG_LABEL_FITNESS][k], t.n[cg_interaction_label(k)][k]);
    assert_int_equal(st.records, 2 * (st.rows - dropped_total(&st)));
    assert_int_equal(st.n_reasons, 1); /* no unknown gene, no repeated gene */
}

/* ---------------------------------------------------------------------------------------------------
 * Costanzo 2016 Data File S1: 50 real rows of each table (phenotypes/costanzo2016-samples/), read with
 * the published header, at 30 C (the default), 26 C and every temperature (0).
 *
 * The expected counts were derived without the reader, from the rules of DESIGN section 4 and
 * phenotypes.h: checks in the order temperature (digits of Arraytype/Temp), array allele code (letters after
 * the strain id's last '_': only dma, sn are deletions), query allele (code dma/sn, else a Δ/∆/"delta" in
 * the allele name: no Costanzo allele name has one). Per file and temperature T (0 = every temperature):
 *   awk -F'\t' -v T=30 'NR>1{t=$5; gsub(/[^0-9]/,"",t); a=$3; sub(/^.*_/,"",a); sub(/[0-9].*$/,"",a);
 *     q=$1; sub(/^.*_/,"",q); sub(/[0-9].*$/,"",q);
 *     if (T && t!=T) r="temperature " t " C"; else if (a!="dma" && a!="sn") r="array not a deletion allele";
 *     else if (q!="dma" && q!="sn" && $2 !~ /Δ|∆|delta/) r="query not a deletion allele"; else r="kept";
 *     n[r]++} END{for (r in n) print n[r], r}' SGA_NxN_sample50.txt
 * then the genes of the kept rows looked up in sgd/SGD_features.tab (ORF rows; systematic, then standard
 * name, then alias): in NxN, line 19's array YAR040C is in no row and line 49's query YCL074W is a
 * pseudogene ("unknown gene"); line 46's array YKL199C is an alias of the ORF YKL198C (PTK1), so it
 * resolves to YKL198C. A python re-implementation of these rules gave the same counts. No kept row has a
 * NaN or empty value: the only empty fields of the samples (ExE 7, ExN_NxE 6, NxN 4 rows) are in "Query
 * single mutant fitness (SMF)", which the reader does not parse. Lines are file lines (header = line 1).
 *   ExE (50 tsq query x tsa array, all TSA26): 30 C: 50 "temperature 26 C"; 26 C and 0: 50 "array not a
 *     deletion allele". Nothing kept at any temperature.
 *   ExN_NxE (37 tsq query x dma array, 13 sn query x tsa array; DMA30 21, DMA26 16, TSA26 12, TSA30 1):
 *     30 C: 28 "temperature 26 C", 1 "array not a deletion allele" (the TSA30 row), 21 "query not a
 *     deletion allele" (the tsq queries on DMA30); 26 C: 22 "temperature 30 C", 12 array, 16 query;
 *     0: 13 array, 37 query. Nothing kept: every row has a TS allele on one side.
 *   NxN (48 sn query x dma array, 2 S query x dma array; DMA30 48, DMA26 2): 30 C: 2 "temperature 26 C"
 *     (lines 4, 44), 2 "query not a deletion allele" (YBR282W_S253, a suppressor strain, lines 3 and 40),
 *     2 "unknown gene", 44 pairs kept = 88 records (44 epsilon, 44 fitness); 26 C: 48 "temperature 30 C",
 *     2 pairs kept; 0: 2 query, 2 unknown, 46 pairs kept.
 */

typedef struct sample_run {
    tally t;
    collect c;
} sample_run;

static cg_status sample_emit(void *ctx, const cg_pheno_record *r) {
    sample_run *s = ctx;
    tally_emit(&s->t, r);
    return collect_emit(&s->c, r);
}

/* Reads phenotypes/costanzo2016-samples/<file> at temperature T (skips when the data is absent). */
static void read_sample(void **state, const char *file, int T, sample_run *s, cg_pheno_stats *st) {
    real *rl = *state;
    if (!rl->g) skip();
    char p[1400];
    snprintf(p, sizeof p, "%s/phenotypes/costanzo2016-samples/%s", rl->dir, file);
    if (access(p, R_OK) != 0) skip();
    memset(s, 0, sizeof *s);
    s->t.n_genes_universe = cg_genes_count(rl->g);
    for (int l = 0; l < CG_NUM_LABELS; l++) s->t.lo[l] = INFINITY, s->t.hi[l] = -INFINITY;
    if (cg_read_sga_table(p, rl->g, T, sample_emit, s, st) != CG_OK) {
        print_error("%s at %d C: %s\n", file, T, cg_last_error());
        fail();
    }
    print_message("[%d C] ", T);
    print_stats(st);
    assert_int_equal(st->rows, 50);
    assert_int_equal(s->t.bad_genotype, 0);
    assert_int_equal(s->t.nonfinite, 0);
    assert_int_equal(s->c.n, st->records);
    assert_int_equal(tally_total(&s->t), st->records);
    /* every row is dropped whole or gives two records (no NaN value in these rows) */
    assert_int_equal(st->records, 2 * (st->rows - dropped_total(st)));
}

/* Index of a gene by systematic name in the real gene table. */
static int32_t real_gene(void **state, const char *sys) {
    real *rl = *state;
    int32_t i = cg_genes_index_of_systematic(rl->g, sys);
    if (i < 0) {
        print_error("%s is not in the gene table\n", sys);
        fail();
    }
    return i;
}

/* The record of a line with a label; fails when there is none. */
static int rec_of(const collect *c, int64_t line, cg_label l) {
    for (int k = 0; k < c->n && k < MAX_RECS; k++)
        if (c->r[k].line == line && c->r[k].label == l) return k;
    print_error("no %s record from line %lld\n", cg_label_name(l), (long long)line);
    fail();
    return -1;
}

/* Checks the epsilon and fitness records of one kept row: genes a < b (systematic names, sorted). */
static void check_pair(void **state, const collect *c, int64_t line, const char *a, const char *b, float eps,
                       float p, float fit, float sd) {
    int32_t ga = real_gene(state, a), gb = real_gene(state, b);
    check_rec(c, rec_of(c, line, CG_LABEL_EPSILON), ga, gb, -1, CG_LABEL_EPSILON, eps, NAN, p, line);
    check_rec(c, rec_of(c, line, CG_LABEL_FITNESS), ga, gb, -1, CG_LABEL_FITNESS, fit, sd, NAN, line);
}

static void test_real_costanzo_exe(void **state) {
    sample_run s;
    cg_pheno_stats st;
    read_sample(state, "SGA_ExE_sample50.txt", 30, &s, &st);
    assert_string_equal(st.source, "costanzo2016_30C:SGA_ExE_sample50");
    assert_int_equal(st.records, 0);
    assert_int_equal(st.n_reasons, 1);
    assert_int_equal(dropped(&st, "temperature 26 C"), 50);
    assert_string_equal(example(&st, "temperature 26 C"), "YDR361C_tsa580");
    for (int T = 26; T >= 0; T -= 26) {
        read_sample(state, "SGA_ExE_sample50.txt", T, &s, &st);
        assert_string_equal(st.source, T ? "costanzo2016_26C:SGA_ExE_sample50" : "costanzo2016:SGA_ExE_sample50");
        assert_int_equal(st.records, 0);
        assert_int_equal(st.n_reasons, 1);
        assert_int_equal(dropped(&st, "array not a deletion allele"), 50);
        assert_string_equal(example(&st, "array not a deletion allele"), "YDR361C_tsa580");
    }
}

static void test_real_costanzo_exn_nxe(void **state) {
    sample_run s;
    cg_pheno_stats st;
    read_sample(state, "SGA_ExN_NxE_sample50.txt", 30, &s, &st);
    assert_string_equal(st.source, "costanzo2016_30C:SGA_ExN_NxE_sample50");
    assert_int_equal(st.records, 0);
    assert_int_equal(st.n_reasons, 3);
    assert_int_equal(dropped(&st, "temperature 26 C"), 28);
    assert_string_equal(example(&st, "temperature 26 C"), "YGR242W_dma2001");
    assert_int_equal(dropped(&st, "array not a deletion allele"), 1);
    assert_string_equal(example(&st, "array not a deletion allele"), "YJL097W_tsa896");
    assert_int_equal(dropped(&st, "query not a deletion allele"), 21);
    assert_string_equal(example(&st, "query not a deletion allele"), "YNL267W_tsq1076");

    read_sample(state, "SGA_ExN_NxE_sample50.txt", 26, &s, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.n_reasons, 3);
    assert_int_equal(dropped(&st, "temperature 30 C"), 22);
    assert_string_equal(example(&st, "temperature 30 C"), "YJL089W_dma2507");
    assert_int_equal(dropped(&st, "array not a deletion allele"), 12);
    assert_string_equal(example(&st, "array not a deletion allele"), "YGR092W_tsa160");
    assert_int_equal(dropped(&st, "query not a deletion allele"), 16);
    assert_string_equal(example(&st, "query not a deletion allele"), "YBL105C_tsq538");

    read_sample(state, "SGA_ExN_NxE_sample50.txt", 0, &s, &st);
    assert_int_equal(st.records, 0);
    assert_int_equal(st.n_reasons, 2);
    assert_int_equal(dropped(&st, "array not a deletion allele"), 13);
    assert_int_equal(dropped(&st, "query not a deletion allele"), 37);
}

static void test_real_costanzo_nxn(void **state) {
    sample_run s;
    cg_pheno_stats st;
    read_sample(state, "SGA_NxN_sample50.txt", 30, &s, &st);
    assert_string_equal(st.source, "costanzo2016_30C:SGA_NxN_sample50");
    assert_int_equal(st.records, 88);
    assert_int_equal(s.t.n[CG_LABEL_EPSILON][2], 44);
    assert_int_equal(s.t.n[CG_LABEL_FITNESS][2], 44);
    assert_int_equal(st.n_reasons, 3);
    assert_int_equal(dropped(&st, "temperature 26 C"), 2);
    assert_string_equal(example(&st, "temperature 26 C"), "YHR081W_dma2126");
    assert_int_equal(dropped(&st, "query not a deletion allele"), 2);
    assert_string_equal(example(&st, "query not a deletion allele"), "YBR282W_S253");
    assert_int_equal(dropped(&st, "unknown gene"), 2);
    assert_string_equal(example(&st, "unknown gene"), "YAR040C");
    /* values as printed in the file (line = file line, the header is line 1) */
    check_pair(state, &s.c, 2, "YAL031C", "YOR106W", 0.0168f, 0.325f, 0.7399f, 0.0248f);
    check_pair(state, &s.c, 22, "YAL024C", "YKL039W", -0.0164f, 0.4277f, 0.9318f, 0.0834f); /* lte1-supp1 */
    check_pair(state, &s.c, 24, "YLR344W", "YPR052C", -0.0119f, 0.0f, 0.9899f, 0.0001f);    /* P-value 0.0 */
    check_pair(state, &s.c, 30, "YFL014W", "YOR135C", -0.1511f, 0.061279999999999994f, 0.7024f, 0.1539f);
    check_pair(state, &s.c, 33, "YGR068C", "YNL197C", 0.0275f, 0.3077f, 1.0078f, 0.0444f);  /* empty query SMF */
    check_pair(state, &s.c, 46, "YDL083C", "YKL198C", 0.0204f, 0.3162f, 0.6331f, 0.0338f);  /* YKL199C */
    check_pair(state, &s.c, 51, "YOR084W", "YPR129W", -0.0282f, 0.3678f, 0.9213f, 0.0727f);
    /* the dropped rows gave nothing */
    static const int64_t gone[] = {3, 4, 19, 40, 44, 49};
    for (int k = 0; k < s.c.n; k++)
        for (size_t j = 0; j < sizeof gone / sizeof gone[0]; j++) assert_true(s.c.r[k].line != gone[j]);

    read_sample(state, "SGA_NxN_sample50.txt", 26, &s, &st);
    assert_string_equal(st.source, "costanzo2016_26C:SGA_NxN_sample50");
    assert_int_equal(st.records, 4);
    assert_int_equal(st.n_reasons, 1);
    assert_int_equal(dropped(&st, "temperature 30 C"), 48);
    assert_string_equal(example(&st, "temperature 30 C"), "YAL031C_dma25");
    check_pair(state, &s.c, 4, "YHR081W", "YLR226W", -0.0391f, 0.030489999999999996f, 0.1223f, 0.0205f);
    check_pair(state, &s.c, 44, "YNL323W", "YPR122W", -0.0099f, 0.4506f, 0.9863f, 0.0649f);

    read_sample(state, "SGA_NxN_sample50.txt", 0, &s, &st);
    assert_string_equal(st.source, "costanzo2016:SGA_NxN_sample50");
    assert_int_equal(st.records, 92);
    assert_int_equal(s.t.n[CG_LABEL_EPSILON][2], 46);
    assert_int_equal(s.t.n[CG_LABEL_FITNESS][2], 46);
    assert_int_equal(st.n_reasons, 2);
    assert_int_equal(dropped(&st, "query not a deletion allele"), 2);
    assert_int_equal(dropped(&st, "unknown gene"), 2);
}

/* dmf_tr_150226_fromSGAonly.txt: 1,585 rows, 629 NaN (counted by awk). Names the resolver does not know:
 * URA3control (1 row, NaN), YDR134C (2 rows, NaN) and YOL153C (2 rows), so 626 rows are dropped as NaN
 * and 5 as unknown; rows "ORF+YDL227C" give single-gene genotypes. */
static void test_real_query_fitness(void **state) {
    tally t;
    cg_pheno_stats st;
    read_real(state, "phenotypes/sga-test-screen/dmf_tr_150226_fromSGAonly.txt", R_QUERY, &t, &st);
    assert_int_equal(st.rows, 1585);
    assert_int_equal(st.records + dropped_total(&st), st.rows);
    assert_int_equal(tally_total(&t), st.records);
    assert_true(t.n[CG_LABEL_FITNESS][1] > 0);
    assert_true(t.n[CG_LABEL_FITNESS][2] > 0);
    assert_int_equal(t.n[CG_LABEL_FITNESS][1], REAL_QF_SINGLES);
    assert_int_equal(t.n[CG_LABEL_FITNESS][2], REAL_QF_PAIRS);
    assert_int_equal(dropped(&st, "NaN fitness"), 626);
    assert_int_equal(dropped(&st, "unknown gene"), 5);
    assert_string_equal(example(&st, "unknown gene"), "URA3control");
}

int main(void) {
    const struct CMUnitTest tiny[] = {
        cmocka_unit_test(test_label_name),
        cmocka_unit_test(test_smf_small),
        cmocka_unit_test(test_smf_errors),
        cmocka_unit_test(test_dcell_small),
        cmocka_unit_test(test_query_fitness_small),
        cmocka_unit_test(test_sga_costanzo),
        cmocka_unit_test(test_sga_kuzmin2018),
        cmocka_unit_test(test_sga_kuzmin2020),
        cmocka_unit_test(test_sga_test_screen),
        cmocka_unit_test(test_sga_costanzo_empty_fields),
        cmocka_unit_test(test_sga_errors),
        cmocka_unit_test(test_streaming),
    };
    const struct CMUnitTest data[] = {
        cmocka_unit_test(test_real_smf),
        cmocka_unit_test(test_real_dcell),
        cmocka_unit_test(test_real_sga_test_screen),
        cmocka_unit_test(test_real_query_fitness),
        cmocka_unit_test(test_real_costanzo_exe),
        cmocka_unit_test(test_real_costanzo_exn_nxe),
        cmocka_unit_test(test_real_costanzo_nxn),
    };
    int fails = cmocka_run_group_tests_name("phenotypes (synthetic)", tiny, setup_tiny, teardown_tiny);
    fails += cmocka_run_group_tests_name("phenotypes (real data)", data, setup_real, teardown_real);
    return fails ? 1 : 0;
}
