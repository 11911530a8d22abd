/* Tests for the gene-gene network readers (include/cellgraph/sources.h): small synthetic files written
 * to a temp dir (formats, counts, errors), then the real yeast files under CELLGRAPH_TEST_DATA. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cellgraph/genes.h"
#include "cellgraph/sources.h"

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

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A tiny gene universe in SGD_features.tab format (6 columns are enough for the loader). SHARED is an
 * alias of two genes (ambiguous); SUP is a standard name ending in 'P' (for the TF-name fallback). */
static const char *TINY_SGD =
    "S1\tORF\tVerified\tYAL001C\tTFC3\tSHARED\n"
    "S2\tORF\tVerified\tYAL002W\tVPS8\tSHARED|CVT4\n"
    "S3\tORF\tVerified\tYBR001C\tNTH2\t\n"
    "S4\tORF\tVerified\tYCR002C\tCDC10\t\n"
    "S5\tORF\tVerified\tYGL001C\tERG26\t\n"
    "S6\tORF\tVerified\tYDL001W\tSUP\t\n"
    "S7\tORF\tVerified\tYGL234W\tADE5,7\t\n"
    "S8\tCDS\t\t\t\t\n";

typedef struct fixture {
    cg_genes *g;
    char sgd[512];
} fixture;

static int setup_tiny(void **state) {
    static fixture fx;
    tu_temp_path(fx.sgd, sizeof fx.sgd, "tiny_sgd.tab");
    write_text(fx.sgd, TINY_SGD);
    fx.g = NULL;
    if (cg_genes_load(fx.sgd, &fx.g) != CG_OK) {
        fprintf(stderr, "cannot load tiny genes: %s\n", cg_last_error());
        return -1;
    }
    *state = &fx;
    return 0;
}

static int teardown_tiny(void **state) {
    fixture *fx = *state;
    cg_genes_free(fx->g);
    unlink(fx->sgd);
    return 0;
}

/* Index of a systematic name in g (test helper; fails when missing). */
static int32_t gi(const cg_genes *g, const char *sys) {
    int32_t i = -1;
    assert_int_equal(cg_genes_lookup(g, sys, &i), CG_LOOKUP_FOUND);
    return i;
}

static int has_pair(const cg_edge_list *l, int32_t a, int32_t b) {
    for (int64_t k = 0; k < l->n; k++)
        if (l->src[k] == a && l->dst[k] == b) return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int has_example(const cg_source_stats *st, const char *name) {
    for (int k = 0; k < CG_SOURCE_EXAMPLES; k++)
        if (strcmp(st->examples[k], name) == 0) return 1;
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * edge list
 * ------------------------------------------------------------------------------------------------- */

static void test_edge_list(void **state) {
    (void)state;
    cg_edge_list l;
    cg_edge_list_init(&l);
    assert_int_equal(l.n, 0);
    for (int32_t i = 0; i < 5000; i++) assert_int_equal(cg_edge_list_push(&l, i, 2 * i), CG_OK);
    assert_int_equal(l.n, 5000);
    assert_true(l.cap >= 5000);
    for (int32_t i = 0; i < 5000; i++) {
        assert_int_equal(l.src[i], i);
        assert_int_equal(l.dst[i], 2 * i);
    }
    cg_edge_list_free(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.src);
    cg_edge_list_free(&l); /* safe twice */
}

/* ---------------------------------------------------------------------------------------------------
 * STRING
 * ------------------------------------------------------------------------------------------------- */

#define STRING_HEADER "item_id_a\titem_id_b\tmode\taction\tis_directional\ta_is_acting\tscore\n"

static void test_string_small(void **state) {
    fixture *fx = *state;
    char path[512];
    tu_temp_path(path, sizeof path, "string_small.txt");
    write_text(path, STRING_HEADER
               "4932.YAL001C\t4932.YAL002W\tbinding\t\tf\tf\t900\n"
               "4932.YAL001C\t4932.YBR001C\treaction\t\tf\tf\t900\n"
               "4932.YBR001C\t4932.YAL001C\tbinding\t\tf\tf\t300\n"
               "4932.YZZ999W\t4932.YAL001C\tbinding\t\tf\tf\t300\n"
               "\n"
               "4932.YCR002C\t4932.SHARED\tbinding\t\tf\tf\t300\n"
               "4932.YZZ999W\t4932.YCR002C\tbinding\t\tf\tf\t300\n"
               "4932.YGL001C\t4932.YAL001C\tcatalysis\tinhibition\tt\tt\t150\n");
    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;
    assert_int_equal(cg_read_string11_binding(path, fx->g, &l, &st), CG_OK);
    assert_string_equal(st.source, "string11_binding");
    assert_int_equal(st.rows, 5);
    assert_int_equal(st.skipped_other, 2);
    assert_int_equal(st.pairs, 2);
    assert_int_equal(st.unresolved_rows, 3);
    assert_int_equal(st.unresolved_names, 2); /* YZZ999W (twice), SHARED */
    assert_int_equal(st.ambiguous_names, 1);
    assert_int_equal(st.dropped_columns, 0);
    assert_string_equal(st.examples[0], "YZZ999W");
    assert_string_equal(st.examples[1], "SHARED");
    assert_string_equal(st.examples[2], "");
    assert_int_equal(l.n, 2);
    assert_int_equal(l.src[0], gi(fx->g, "YAL001C"));
    assert_int_equal(l.dst[0], gi(fx->g, "YAL002W"));
    assert_int_equal(l.src[1], gi(fx->g, "YBR001C"));
    assert_int_equal(l.dst[1], gi(fx->g, "YAL001C"));

    /* appends to a non-empty list; NULL stats allowed */
    assert_int_equal(cg_read_string11_binding(path, fx->g, &l, NULL), CG_OK);
    assert_int_equal(l.n, 4);
    cg_edge_list_free(&l);
    unlink(path);
}

/* Writes a gzip STRING-format file of nrows binding rows with zlib; returns its size in bytes. */
static long write_string_gz(const char *path, int nrows) {
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_true(gzputs(gz, STRING_HEADER) > 0);
    static const char *orfs[] = {"YAL001C", "YAL002W", "YBR001C", "YCR002C", "YGL001C"};
    for (int i = 0; i < nrows; i++)
        assert_true(gzprintf(gz, "4932.%s\t4932.%s\tbinding\t\tf\tf\t%d\n", orfs[i % 5], orfs[(i * 7 + 3) % 5],
                             (i * 37) % 1000) > 0);
    assert_int_equal(gzclose(gz), Z_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_string_gzip_and_truncated(void **state) {
    fixture *fx = *state;
    char path[512], cut[512];
    tu_temp_path(path, sizeof path, "string_small.txt.gz");
    tu_temp_path(cut, sizeof cut, "string_cut.txt.gz");
    long n = write_string_gz(path, 20000);
    assert_true(n > 1000);

    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;
    assert_int_equal(cg_read_string11_binding(path, fx->g, &l, &st), CG_OK);
    assert_int_equal(st.rows, 20000);
    assert_int_equal(st.pairs, 20000);
    assert_int_equal(l.n, 20000);

    /* the first half of the gzip: a format error, and the list keeps the pairs it had */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    f = fopen(cut, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, (size_t)(n / 2), f), (size_t)(n / 2));
    fclose(f);
    free(buf);
    assert_int_equal(cg_read_string11_binding(cut, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "truncated or corrupt gzip");
    check_contains(cg_last_error(), cut);
    assert_int_equal(l.n, 20000); /* rolled back */
    cg_edge_list_free(&l);
    unlink(path);
    unlink(cut);
}

static void test_string_errors(void **state) {
    fixture *fx = *state;
    char path[512];
    tu_temp_path(path, sizeof path, "string_bad.txt");
    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;

    /* missing file */
    char missing[512];
    tu_temp_path(missing, sizeof missing, "no_such_string.txt.gz");
    assert_int_equal(cg_read_string11_binding(missing, fx->g, &l, &st), CG_ERR_IO);
    check_contains(cg_last_error(), missing);

    /* a row with 3 columns */
    write_text(path, STRING_HEADER "4932.YAL001C\t4932.YAL002W\tbinding\t\tf\tf\t900\n"
                                   "4932.YAL001C\t4932.YAL002W\tbinding\n");
    assert_int_equal(cg_read_string11_binding(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 3");
    check_contains(cg_last_error(), "found 3");
    check_contains(cg_last_error(), path);
    assert_int_equal(l.n, 0); /* the good row before it was rolled back */

    /* a missing "4932." prefix */
    write_text(path, STRING_HEADER "4932.YAL001C\tYAL002W\tbinding\t\tf\tf\t900\n");
    assert_int_equal(cg_read_string11_binding(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 2");
    check_contains(cg_last_error(), "'YAL002W'");

    /* no header / empty file */
    write_text(path, "4932.YAL001C\t4932.YAL002W\tbinding\t\tf\tf\t900\n");
    assert_int_equal(cg_read_string11_binding(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 1");
    write_text(path, "");
    assert_int_equal(cg_read_string11_binding(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "empty");

    /* NULL arguments */
    assert_int_equal(cg_read_string11_binding(NULL, fx->g, &l, &st), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_read_string11_binding(path, NULL, &l, &st), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_read_string11_binding(path, fx->g, NULL, &st), CG_ERR_INVALID_ARG);
    cg_edge_list_free(&l);
    unlink(path);
}

/* ---------------------------------------------------------------------------------------------------
 * Krogan, Tarassov, YEASTRACT 2013
 * ------------------------------------------------------------------------------------------------- */

static void test_krogan_small(void **state) {
    fixture *fx = *state;
    char path[512];
    tu_temp_path(path, sizeof path, "krogan.txt");
    write_text(path, "YAL001C YAL002W\n"
                     "YBR001C\tYCR002C\r\n"
                     "  YGL001C   tfc3  \n"
                     "\n"
                     "YAL001C YQQ000X\n");
    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;
    assert_int_equal(cg_read_krogan2006(path, fx->g, &l, &st), CG_OK);
    assert_string_equal(st.source, "krogan2006");
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.pairs, 3);
    assert_int_equal(st.unresolved_rows, 1);
    assert_int_equal(st.unresolved_names, 1);
    assert_string_equal(st.examples[0], "YQQ000X");
    assert_true(has_pair(&l, gi(fx->g, "YGL001C"), gi(fx->g, "YAL001C")));
    assert_true(has_pair(&l, gi(fx->g, "YBR001C"), gi(fx->g, "YCR002C")));

    write_text(path, "YAL001C YAL002W\nYAL001C YAL002W YBR001C\n");
    assert_int_equal(cg_read_krogan2006(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 2");
    assert_int_equal(l.n, 3);
    write_text(path, "YAL001C\n");
    assert_int_equal(cg_read_krogan2006(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 1");
    unlink(path);
    assert_int_equal(cg_read_krogan2006(path, fx->g, &l, &st), CG_ERR_IO);
    check_contains(cg_last_error(), path);
    cg_edge_list_free(&l);
}

static void test_tarassov_small(void **state) {
    fixture *fx = *state;
    char path[512];
    tu_temp_path(path, sizeof path, "tarassov.tsv");
    write_text(path, "MATa orf_name\tMATa gene_name\tMATa type\tMATalpha orf_name\tMATalpha_gene_name\tMATalpha "
                     "type\tintensity\tz-score\tPPV%\n"
                     "YAL001C\tTFC3\t0.0\tYCR002C\tCDC10\t1.0\t21399.0\t2.69988\t99.37\n"
                     "YBR001C\tNTH2\t0.0\tYAL002W\tVPS8\t1.0\t100.0\t2.1\t98.0\n"
                     "YXX001W\tFOO1\t0.0\tYAL002W\tVPS8\t1.0\t100.0\t2.1\t98.0\n");
    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;
    assert_int_equal(cg_read_tarassov2008(path, fx->g, &l, &st), CG_OK);
    assert_string_equal(st.source, "tarassov2008");
    assert_int_equal(st.rows, 3);
    assert_int_equal(st.pairs, 2);
    assert_int_equal(st.unresolved_rows, 1);
    assert_string_equal(st.examples[0], "YXX001W");
    assert_int_equal(l.src[0], gi(fx->g, "YAL001C"));
    assert_int_equal(l.dst[0], gi(fx->g, "YCR002C"));
    assert_int_equal(l.src[1], gi(fx->g, "YBR001C"));
    assert_int_equal(l.dst[1], gi(fx->g, "YAL002W"));

    write_text(path, "header\tx\ty\tz\nYAL001C\tTFC3\t0.0\n");
    assert_int_equal(cg_read_tarassov2008(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 2");
    assert_int_equal(l.n, 2);
    cg_edge_list_free(&l);
    unlink(path);
}

static void test_yeastract2013_small(void **state) {
    fixture *fx = *state;
    char path[512];
    tu_temp_path(path, sizeof path, "yeastract2013.tsv");
    write_text(path, "TFC3;TFC3\n"
                     "TFC3;ADE5,7\n"
                     "CDC10;NOSUCH1\n"
                     "NOSUCH2;shared\n"
                     "CDC10;nosuch1\n"
                     "ERG26;YBR001C\n");
    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;
    assert_int_equal(cg_read_yeastract_2013(path, fx->g, &l, &st), CG_OK);
    assert_string_equal(st.source, "yeastract2013");
    assert_int_equal(st.rows, 6);
    assert_int_equal(st.pairs, 3);
    assert_int_equal(st.unresolved_rows, 3);
    assert_int_equal(st.unresolved_names, 3); /* NOSUCH1 (any case), NOSUCH2, shared */
    assert_int_equal(st.ambiguous_names, 1);
    assert_true(has_example(&st, "NOSUCH1"));
    assert_true(has_example(&st, "shared"));
    assert_true(has_pair(&l, gi(fx->g, "YAL001C"), gi(fx->g, "YGL234W")));
    assert_true(has_pair(&l, gi(fx->g, "YAL001C"), gi(fx->g, "YAL001C")));
    assert_true(has_pair(&l, gi(fx->g, "YGL001C"), gi(fx->g, "YBR001C")));

    write_text(path, "TFC3;CDC10\nTFC3 CDC10\n");
    assert_int_equal(cg_read_yeastract_2013(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 2");
    write_text(path, "TFC3;CDC10;ERG26\n");
    assert_int_equal(cg_read_yeastract_2013(path, fx->g, &l, &st), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "line 1");
    assert_int_equal(l.n, 3);
    cg_edge_list_free(&l);
    unlink(path);
}

/* ---------------------------------------------------------------------------------------------------
 * YEASTRACT 2020 matrices
 * ------------------------------------------------------------------------------------------------- */

static void test_yeastract_matrix_small(void **state) {
    fixture *fx = *state;
    char path[512];
    tu_temp_path(path, sizeof path, "Small_RegulationMatrix_Documented_2020511.csv");
    /* columns: TFC3, Uncharacterized, NTH2, NOSUCH, YCR002C, Uncharacterized */
    write_text(path, "6;TFC3;Uncharacterized;NTH2;NOSUCH;YCR002C;Uncharacterized\n"
                     "Cdc10p;1;1;0;1;0;0\n"     /* CDC10 -> TFC3; 1 lost; NOSUCH unresolved */
                     "Erg26P;0;0;1;0;1;1\n"     /* ERG26 -> NTH2, ERG26 -> YCR002C; 1 lost */
                     "YGL001C;1;0;0;0;0;0\n"    /* no trailing p: ERG26 -> TFC3 */
                     "Sup;0;0;0;0;1;0\n"        /* "Su" unknown, "Sup" = SUP -> YCR002C */
                     "Nosuchp;1;0;1;0;0;1\n"    /* unresolved TF: 2 unresolved rows, 1 lost */
                     "Idlep;0;0;0;0;0;0\n");    /* unresolved TF without 1s: not counted */
    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;
    assert_int_equal(cg_read_yeastract_matrix(path, fx->g, &l, &st), CG_OK);
    /* "yeastract2020:" + the base name without ".csv" (tu_temp_path puts "cgtest_<pid>_" before it) */
    assert_true(strncmp(st.source, "yeastract2020:cgtest_", 21) == 0);
    assert_true(ends_with(st.source, "_Small"));
    assert_int_equal(st.dropped_columns, 2);
    assert_int_equal(st.skipped_other, 3);
    assert_int_equal(st.rows, 8);
    assert_int_equal(st.pairs, 5);
    assert_int_equal(st.unresolved_rows, 3);
    assert_int_equal(st.unresolved_names, 2);
    assert_int_equal(st.ambiguous_names, 0);
    assert_string_equal(st.examples[0], "NOSUCH");
    assert_string_equal(st.examples[1], "Nosuchp");
    assert_int_equal(l.n, 5);
    int32_t tfc3 = gi(fx->g, "YAL001C"), nth2 = gi(fx->g, "YBR001C"), cdc10 = gi(fx->g, "YCR002C");
    int32_t erg26 = gi(fx->g, "YGL001C"), sup = gi(fx->g, "YDL001W");
    assert_true(has_pair(&l, cdc10, tfc3));
    assert_true(has_pair(&l, erg26, nth2));
    assert_true(has_pair(&l, erg26, cdc10));
    assert_true(has_pair(&l, erg26, tfc3));
    assert_true(has_pair(&l, sup, cdc10));
    cg_edge_list_free(&l);

    /* gzip too, with the source name taken without ".csv.gz" */
    char gzpath[512];
    tu_temp_path(gzpath, sizeof gzpath, "M.csv.gz");
    gzFile gz = gzopen(gzpath, "wb");
    assert_non_null(gz);
    assert_true(gzputs(gz, "2;TFC3;NTH2\nCdc10p;1;1\n") > 0);
    assert_int_equal(gzclose(gz), Z_OK);
    assert_int_equal(cg_read_yeastract_matrix(gzpath, fx->g, &l, &st), CG_OK);
    assert_true(strncmp(st.source, "yeastract2020:cgtest_", 21) == 0);
    assert_true(ends_with(st.source, "_M"));
    assert_int_equal(st.pairs, 2);
    cg_edge_list_free(&l);
    unlink(gzpath);
    unlink(path);
}

static void test_yeastract_matrix_errors(void **state) {
    fixture *fx = *state;
    char path[512];
    tu_temp_path(path, sizeof path, "bad_matrix.csv");
    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;
    assert_int_equal(cg_edge_list_push(&l, 0, 0), CG_OK);

    static const struct {
        const char *text, *want;
    } cases[] = {
        {"3;TFC3;NTH2;CDC10\nCdc10p;1;0;1\nErg26p;0;2;1\n", "line 3"},     /* a bad cell */
        {"3;TFC3;NTH2;CDC10\nCdc10p;1;0;1\nErg26p;0;1\n", "line 3"},       /* too few cells */
        {"3;TFC3;NTH2;CDC10\nCdc10p;1;0;1;0\n", "line 2"},                  /* too many cells */
        {"3;TFC3;NTH2;CDC10\nCdc10p;1;;1\n", "line 2"},                     /* an empty cell */
        {"3;TFC3;NTH2;CDC10\nCdc10p;1;0;1;\n", "line 2"},                   /* a trailing ';' */
        {"3;TFC3;NTH2;CDC10\nCdc10p 1 0 1\n", "line 2"},                    /* no ';' at all */
        {"3;TFC3;NTH2;CDC10\nCdc10p;1;0.5;1\n", "line 2"},                  /* not 0/1 */
        {"4;TFC3;NTH2;CDC10\nCdc10p;1;0;1\n", "line 1"},                    /* count mismatch */
        {"x;TFC3;NTH2;CDC10\nCdc10p;1;0;1\n", "line 1"},                    /* no count */
        {"", "empty"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_text(path, cases[k].text);
        cg_status s = cg_read_yeastract_matrix(path, fx->g, &l, &st);
        if (s != CG_ERR_FORMAT) {
            print_error("case %zu: status %d (%s)\n", k, (int)s, cg_last_error());
            fail();
        }
        check_contains(cg_last_error(), cases[k].want);
        check_contains(cg_last_error(), path);
        assert_int_equal(l.n, 1); /* rolled back to the length on entry */
    }
    unlink(path);
    assert_int_equal(cg_read_yeastract_matrix(path, fx->g, &l, &st), CG_ERR_IO);
    check_contains(cg_last_error(), path);
    cg_edge_list_free(&l);
}

/* ---------------------------------------------------------------------------------------------------
 * real data
 * ------------------------------------------------------------------------------------------------- */

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

typedef cg_status (*reader_fn)(const char *, const cg_genes *, cg_edge_list *, cg_source_stats *);

/* Reads <data>/<rel> with fn into a fresh list (skips the test when the data is absent); prints the
 * stats and the time. */
static void read_real(void **state, const char *rel, reader_fn fn, cg_edge_list *l, cg_source_stats *st) {
    real *rl = *state;
    if (!rl->g) skip();
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", rl->dir, rel);
    if (access(p, R_OK) != 0) skip();
    cg_edge_list_init(l);
    double t0 = now_s();
    cg_status s = fn(p, rl->g, l, st);
    double t = now_s() - t0;
    if (s != CG_OK) {
        print_error("%s: %s\n", rel, cg_last_error());
        fail();
    }
    print_message("%s: rows %lld pairs %lld skipped_other %lld unresolved rows %lld names %lld (ambiguous %lld) "
                  "dropped columns %lld; %.3f s; examples:",
                  st->source, (long long)st->rows, (long long)st->pairs, (long long)st->skipped_other,
                  (long long)st->unresolved_rows, (long long)st->unresolved_names, (long long)st->ambiguous_names,
                  (long long)st->dropped_columns, t);
    for (int k = 0; k < CG_SOURCE_EXAMPLES && st->examples[k][0]; k++) print_message(" %s", st->examples[k]);
    print_message("\n");
    assert_int_equal(st->rows, st->pairs + st->unresolved_rows);
    assert_int_equal(l->n, st->pairs);
    int32_t n = cg_genes_count(rl->g);
    for (int64_t k = 0; k < l->n; k++) {
        if (l->src[k] < 0 || l->src[k] >= n || l->dst[k] < 0 || l->dst[k] >= n) {
            print_error("%s: pair %lld out of range\n", rel, (long long)k);
            fail();
        }
    }
}

static void test_real_string(void **state) {
    cg_edge_list l;
    cg_source_stats st;
    read_real(state, "string/v11/4932.protein.actions.v11.0.txt.gz", cg_read_string11_binding, &l, &st);
    assert_int_equal(st.rows, 211170);
    assert_int_equal(st.pairs + st.unresolved_rows, 211170);
    assert_int_equal(st.skipped_other, 769028 - 211170);
    assert_int_equal(st.dropped_columns, 0);
    cg_edge_list_free(&l);
}

static void test_real_krogan(void **state) {
    cg_edge_list l;
    cg_source_stats st;
    read_real(state, "ppi/Krogan-2006.txt", cg_read_krogan2006, &l, &st);
    assert_int_equal(st.rows, 7075);
    cg_edge_list_free(&l);
}

static void test_real_tarassov(void **state) {
    cg_edge_list l;
    cg_source_stats st;
    read_real(state, "ppi/Tarassov-2008-PCA.tsv", cg_read_tarassov2008, &l, &st);
    assert_int_equal(st.rows, 10230);
    cg_edge_list_free(&l);
}

static void test_real_yeastract2013(void **state) {
    cg_edge_list l;
    cg_source_stats st;
    read_real(state, "regulation/RegulationTwoColumnTable_Documented_2013927.tsv", cg_read_yeastract_2013, &l, &st);
    assert_int_equal(st.rows, 201974);
    cg_edge_list_free(&l);
}

/* The YEASTRACT 2020 matrices: 1-cells kept + 1-cells in "Uncharacterized" columns = the edge counts of
 * the data README; the Uncharacterized column counts were taken from the files' header lines. */
static void test_real_yeastract2020(void **state) {
    static const struct {
        const char *file;
        int64_t edges, uncharacterized;
    } m[] = {
        {"DNABinding_AND_Expr_TF_act_OR_inh_RegulationMatrix_Documented_2020511.csv.gz", 11486, 168},
        {"onlyDNABinding_RegulationMatrix_Documented_2020511.csv.gz", 45206, 410},
        {"DNABinding_PLUS_Expr_TF_act_OR_inh_RegulationMatrix_Documented_2020511.csv.gz", 161714, 497},
    };
    for (size_t k = 0; k < sizeof m / sizeof m[0]; k++) {
        char rel[300];
        snprintf(rel, sizeof rel, "regulation/yeastract-2020/%s", m[k].file);
        cg_edge_list l;
        cg_source_stats st;
        read_real(state, rel, cg_read_yeastract_matrix, &l, &st);
        assert_int_equal(st.dropped_columns, m[k].uncharacterized);
        assert_int_equal(st.rows + st.skipped_other, m[k].edges);
        assert_true(strncmp(st.source, "yeastract2020:", 14) == 0);
        assert_null(strstr(st.source, ".csv"));
        cg_edge_list_free(&l);
    }
}

int main(void) {
    const struct CMUnitTest tiny[] = {
        cmocka_unit_test(test_edge_list),
        cmocka_unit_test(test_string_small),
        cmocka_unit_test(test_string_gzip_and_truncated),
        cmocka_unit_test(test_string_errors),
        cmocka_unit_test(test_krogan_small),
        cmocka_unit_test(test_tarassov_small),
        cmocka_unit_test(test_yeastract2013_small),
        cmocka_unit_test(test_yeastract_matrix_small),
        cmocka_unit_test(test_yeastract_matrix_errors),
    };
    const struct CMUnitTest data[] = {
        cmocka_unit_test(test_real_string),
        cmocka_unit_test(test_real_krogan),
        cmocka_unit_test(test_real_tarassov),
        cmocka_unit_test(test_real_yeastract2013),
        cmocka_unit_test(test_real_yeastract2020),
    };
    int fails = cmocka_run_group_tests_name("sources (synthetic)", tiny, setup_tiny, teardown_tiny);
    fails += cmocka_run_group_tests_name("sources (real data)", data, setup_real, teardown_real);
    return fails ? 1 : 0;
}
