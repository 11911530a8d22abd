/* The phenotype dataset: the merging rule on a hand-computed example, splits and statistics on the real
 * data, the file round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/dataset.h"
#include "cellgraph/phenotypes.h"
#include "cellgraph/safetensors.h"
#include "testutil.h"

static const char *data_dir(void) {
    const char *d = getenv("CELLGRAPH_TEST_DATA");
    return d && *d ? d : NULL;
}

static cg_genes *small_genes(void) {
    const char *sys[] = {"YA", "YB", "YC", "YD", "YE"};
    cg_genes *g = NULL;
    assert_int_equal(cg_genes_create(5, sys, NULL, NULL, NULL, &g), CG_OK);
    return g;
}

static cg_pheno_record rec(int32_t a, int32_t b, int32_t c, cg_label l, float v, float sd, float p) {
    cg_pheno_record r = {.genes = {a, b, c}, .n_genes = (a >= 0) + (b >= 0) + (c >= 0), .label = l, .value = v,
                         .std = sd, .p_value = p};
    return r;
}

/* Hand-computed: the pair {1, 3} is measured three times for epsilon (two sources) and once for
 * fitness; the single {0} twice for fitness; the triple {0, 2, 4} once.
 *   epsilon {1,3}: values -0.10, -0.20, -0.30 -> mean -0.20; stds 0.03, NaN, 0.04 -> rms over known =
 *   sqrt((0.0009 + 0.0016) / 2) = 0.0353553; p 0.01, 0.20, NaN -> largest known 0.20; count 3
 *   fitness {1,3}: 0.70 (std 0.05) -> 0.70, 0.05, count 1
 *   fitness {0}: 0.90 (std 0.02) and 1.00 (std NaN) -> 0.95, rms over known = 0.02, count 2
 *   tau {0,2,4}: 0.15, p 0.03 */
static void test_merge_rule(void **state) {
    (void)state;
    cg_genes *g = small_genes();
    cg_pheno_record r[] = {
        rec(1, 3, -1, CG_LABEL_EPSILON, -0.10f, 0.03f, 0.01f),
        rec(0, -1, -1, CG_LABEL_FITNESS, 0.90f, 0.02f, NAN),
        rec(1, 3, -1, CG_LABEL_EPSILON, -0.20f, NAN, 0.20f),
        rec(0, 2, 4, CG_LABEL_TAU, 0.15f, NAN, 0.03f),
        rec(1, 3, -1, CG_LABEL_FITNESS, 0.70f, 0.05f, NAN),
        rec(0, -1, -1, CG_LABEL_FITNESS, 1.00f, NAN, NAN),
        rec(1, 3, -1, CG_LABEL_EPSILON, -0.30f, 0.04f, NAN),
    };
    int src[] = {0, 0, 1, 1, 0, 1, 1};
    cg_pheno_stats st[2] = {{.source = "a"}, {.source = "b"}};
    cg_dataset d;
    assert_int_equal(cg_dataset_from_records(r, src, 7, st, 2, g, NULL, &d), CG_OK);
    assert_int_equal(d.n, 3);
    /* samples sorted by genotype: {0}, {0,2,4}, {1,3} */
    const int32_t want_g[3][3] = {{0, -1, -1}, {0, 2, 4}, {1, 3, -1}};
    assert_memory_equal(d.genotype, want_g, sizeof want_g);
    const int F = CG_LABEL_FITNESS, E = CG_LABEL_EPSILON, T = CG_LABEL_TAU, K = CG_NUM_LABELS;
    assert_float_equal(d.label[0 * K + F], 0.95f, 1e-6);
    assert_float_equal(d.label_std[0 * K + F], 0.02f, 1e-6);
    assert_int_equal(d.label_count[0 * K + F], 2);
    assert_true(isnan(d.label[0 * K + E]) && d.label_count[0 * K + E] == 0);
    assert_true(isnan(d.label[0 * K + T]) && d.label_count[0 * K + T] == 0);
    assert_float_equal(d.label[1 * K + T], 0.15f, 1e-6);
    assert_float_equal(d.label_p[1 * K + T], 0.03f, 1e-7);
    assert_true(isnan(d.label[1 * K + F]) && isnan(d.label[1 * K + E]));
    assert_true(isnan(d.label[2 * K + T]));
    assert_float_equal(d.label[2 * K + E], -0.20f, 1e-6);
    assert_float_equal(d.label_std[2 * K + E], 0.0353553f, 1e-6);
    assert_float_equal(d.label_p[2 * K + E], 0.20f, 1e-7);
    assert_int_equal(d.label_count[2 * K + E], 3);
    assert_float_equal(d.label[2 * K + F], 0.70f, 1e-6);
    assert_int_equal(d.source_mask[0], 3); /* {0}: sources a and b */
    assert_int_equal(d.source_mask[1], 2);
    assert_int_equal(d.source_mask[2], 3);
    cg_dataset_free(&d);
    /* malformed records are rejected */
    cg_pheno_record badr = rec(3, 1, -1, CG_LABEL_FITNESS, 1.0f, NAN, NAN); /* not ascending */
    int z = 0;
    assert_int_equal(cg_dataset_from_records(&badr, &z, 1, st, 1, g, NULL, &d), CG_ERR_INVALID_ARG);
    cg_genes_free(g);
}

static cg_dataset D; /* the real default dataset */
static cg_genes *GENES;

static int setup(void **state) {
    (void)state;
    if (!data_dir()) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/sgd/SGD_features.tab", data_dir());
    if (cg_genes_load(path, &GENES) != CG_OK) return -1;
    if (cg_dataset_build(data_dir(), GENES, NULL, &D) != CG_OK) {
        fprintf(stderr, "dataset build: %s\n", cg_last_error());
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cg_dataset_free(&D);
    cg_genes_free(GENES);
    return 0;
}

static int n_genes(const int32_t *g) { return (g[0] >= 0) + (g[1] >= 0) + (g[2] >= 0); }

static void test_real_counts(void **state) {
    (void)state;
    if (!GENES) skip();
    const int K = CG_NUM_LABELS;
    /* ranges stated in docs/data.md */
    int64_t by_size[4] = {0}, with[CG_NUM_LABELS] = {0};
    for (int64_t i = 0; i < D.n; i++) {
        by_size[n_genes(D.genotype + 3 * i)]++;
        bool any = false;
        for (int k = 0; k < K; k++) {
            float v = D.label[i * K + k];
            if (D.label_count[i * K + k] > 0) {
                assert_true(isfinite(v)); /* every present label is finite */
                with[k]++;
                any = true;
            } else {
                assert_true(isnan(v));
            }
        }
        assert_true(any);
    }
    print_message("samples %lld: singles %lld, pairs %lld, triples %lld; fitness %lld, epsilon %lld, tau %lld\n",
                  (long long)D.n, (long long)by_size[1], (long long)by_size[2], (long long)by_size[3],
                  (long long)with[0], (long long)with[1], (long long)with[2]);
    /* epsilon only on pairs, tau only on triples */
    for (int64_t i = 0; i < D.n; i++) {
        int ng = n_genes(D.genotype + 3 * i);
        if (D.label_count[i * K + CG_LABEL_EPSILON] > 0) assert_int_equal(ng, 2);
        if (D.label_count[i * K + CG_LABEL_TAU] > 0) assert_int_equal(ng, 3);
    }
    assert_true(D.n >= 24000 && D.n <= 26500);
    assert_true(by_size[1] >= 4400 && by_size[1] <= 5000);
    assert_true(by_size[2] >= 16000 && by_size[2] <= 17300);
    assert_true(by_size[3] >= 3700 && by_size[3] <= 4000);
    assert_true(with[CG_LABEL_FITNESS] >= 13000 && with[CG_LABEL_FITNESS] <= 14300);
    assert_true(with[CG_LABEL_EPSILON] + with[CG_LABEL_TAU] >= 19500 && with[CG_LABEL_EPSILON] + with[CG_LABEL_TAU] <= 21000);
    assert_true(with[CG_LABEL_TAU] >= 3700 && with[CG_LABEL_TAU] <= 4000);
    /* records per source (docs/data.md) */
    assert_int_equal(D.n_sources, 5);
    const struct { const char *name; int64_t lo, hi; } src[] = {
        {"costanzo2016_smf_30C", 7800, 8400}, {"dcell_go0006281:training", 8783, 8783},
        {"dcell_go0006281:testing", 2868, 2868}, {"sga_test_screen:trigenic", 17000, 18000},
        {"query_fitness", 900, 1000},
    };
    for (int s = 0; s < 5; s++) {
        assert_string_equal(D.sources[s].source, src[s].name);
        if (D.sources[s].records < src[s].lo || D.sources[s].records > src[s].hi)
            fail_msg("%s: %lld records outside [%lld, %lld]", src[s].name, (long long)D.sources[s].records,
                     (long long)src[s].lo, (long long)src[s].hi);
    }
}

static void test_random_split(void **state) {
    (void)state;
    if (!GENES) skip();
    const int K = CG_NUM_LABELS;
    const int32_t *sp = D.split[CG_SPLIT_RANDOM];
    /* each sample in exactly one split (disjoint and covering) */
    int64_t tot[3] = {0};
    for (int64_t i = 0; i < D.n; i++) {
        assert_true(sp[i] >= 0 && sp[i] <= 2); /* random: every sample in a split */
        tot[sp[i]]++;
    }
    assert_int_equal(tot[0] + tot[1] + tot[2], D.n);
    /* ratios within 1% in every stratum (label set x genes) with at least 500 samples */
    for (int set = 1; set < 4; set++)
        for (int ng = 1; ng <= 3; ng++) {
            int64_t c[3] = {0}, n = 0;
            for (int64_t i = 0; i < D.n; i++) {
                const int32_t *lc = D.label_count + i * K;
                int s = (lc[CG_LABEL_FITNESS] > 0) | (lc[CG_LABEL_EPSILON] > 0 || lc[CG_LABEL_TAU] > 0) << 1;
                if (s != set || n_genes(D.genotype + 3 * i) != ng) continue;
                c[sp[i]]++;
                n++;
            }
            if (n < 500) continue;
            assert_true(fabs((double)c[0] / n - 0.8) < 0.01);
            assert_true(fabs((double)c[1] / n - 0.1) < 0.01);
            assert_true(fabs((double)c[2] / n - 0.1) < 0.01);
        }
    /* statistics come from the training split only */
    for (int k = 0; k < K; k++) {
        double sum = 0;
        int64_t c = 0;
        for (int64_t i = 0; i < D.n; i++)
            if (sp[i] == CG_SPLIT_TRAIN && D.label_count[i * K + k] > 0) sum += D.label[i * K + k], c++;
        assert_int_equal(D.stats[CG_SPLIT_RANDOM][k].count, c);
        assert_float_equal(D.stats[CG_SPLIT_RANDOM][k].mean, sum / c, 1e-9);
    }
    /* the same seed gives the same split */
    cg_dataset again;
    assert_int_equal(cg_dataset_build(data_dir(), GENES, NULL, &again), CG_OK);
    assert_memory_equal(again.split[CG_SPLIT_RANDOM], sp, D.n * sizeof *sp);
    cg_dataset_free(&again);
}

/* the genes that appear in the training samples of split sp */
static uint8_t *training_genes(const int32_t *sp) {
    uint8_t *in_train = calloc(D.n_genes, 1);
    for (int64_t i = 0; i < D.n; i++)
        if (sp[i] == CG_SPLIT_TRAIN)
            for (int k = 0; k < 3; k++)
                if (D.genotype[3 * i + k] >= 0) in_train[D.genotype[3 * i + k]] = 1;
    return in_train;
}

static void test_gene_split(void **state) {
    (void)state;
    if (!GENES) skip();
    const int32_t *sp = D.split[CG_SPLIT_GENE1];
    /* gene1: every sample in a split; a val/test genotype touches a gene never seen in training */
    uint8_t *in_train = training_genes(sp);
    int64_t c[4] = {0};
    for (int64_t i = 0; i < D.n; i++) {
        assert_true(sp[i] >= 0 && sp[i] <= 2);
        c[sp[i]]++;
        if (sp[i] == CG_SPLIT_TRAIN) continue;
        bool held = false;
        for (int k = 0; k < 3; k++) {
            int32_t gi = D.genotype[3 * i + k];
            if (gi >= 0 && !in_train[gi]) held = true;
        }
        assert_true(held);
    }
    assert_true(c[0] > 0 && c[1] > 0 && c[2] > 0);
    /* gene2: test and validation genotypes consist ONLY of genes never seen in training; training has no
     * gene of a test or validation genotype; test and validation share no gene */
    const int32_t *sp2 = D.split[CG_SPLIT_GENE2];
    uint8_t *in_train2 = training_genes(sp2);
    uint8_t *in_test = calloc(D.n_genes, 1);
    int64_t c2[4] = {0};
    for (int64_t i = 0; i < D.n; i++) {
        assert_true(sp2[i] >= 0 && sp2[i] <= CG_SPLIT_NONE);
        c2[sp2[i]]++;
        if (sp2[i] == CG_SPLIT_TRAIN) assert_int_equal(sp[i], CG_SPLIT_TRAIN); /* the same held-out genes */
        if (sp2[i] != CG_SPLIT_VAL && sp2[i] != CG_SPLIT_TEST) continue;
        assert_int_equal(sp[i], sp2[i]);
        for (int k = 0; k < 3; k++) {
            int32_t gi = D.genotype[3 * i + k];
            if (gi < 0) continue;
            assert_false(in_train2[gi]);
            if (sp2[i] == CG_SPLIT_TEST) in_test[gi] = 1;
        }
    }
    for (int64_t i = 0; i < D.n; i++)
        if (sp2[i] == CG_SPLIT_VAL)
            for (int k = 0; k < 3; k++) assert_true(D.genotype[3 * i + k] < 0 || !in_test[D.genotype[3 * i + k]]);
    print_message("gene1: train %lld val %lld test %lld; gene2: train %lld val %lld test %lld none %lld\n",
                  (long long)c[0], (long long)c[1], (long long)c[2], (long long)c2[0], (long long)c2[1],
                  (long long)c2[2], (long long)c2[3]);
    assert_true(c2[0] > 0 && c2[1] > 0 && c2[2] > 0 && c2[3] > 0);
    free(in_train);
    free(in_train2);
    free(in_test);
}

/* the query split: read the SGA screen again and map every record to its sample; no query strain has
 * records in two parts of the split (in particular none in both training and test) */
typedef struct qmap {
    int64_t n, cap;
    int64_t *key;  /* query key */
    int32_t *part; /* split part of the record's sample */
} qmap;

static int64_t find_sample(const int32_t *g) {
    int64_t lo = 0, hi = D.n - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        int c = 0;
        const int32_t *m = D.genotype + 3 * mid;
        for (int k = 0; k < 3 && c == 0; k++) c = m[k] < g[k] ? -1 : m[k] > g[k] ? 1 : 0;
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static cg_status qmap_emit(void *ctx, const cg_pheno_record *r) {
    qmap *q = ctx;
    if (r->n_query == 0) return CG_OK;
    int64_t s = find_sample(r->genes);
    if (s < 0) return cg_error(CG_ERR_STATE, "record of line %lld has no sample", (long long)r->line);
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 4096;
        q->key = realloc(q->key, q->cap * sizeof *q->key);
        q->part = realloc(q->part, q->cap * sizeof *q->part);
    }
    q->key[q->n] = ((int64_t)r->query[0] + 1) * ((int64_t)1 << 32) + (r->n_query == 2 ? r->query[1] + 1 : 0);
    q->part[q->n++] = D.split[CG_SPLIT_QUERY][s];
    return CG_OK;
}

static int cmp_pair(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

static void test_query_split(void **state) {
    (void)state;
    if (!GENES) skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/phenotypes/sga-test-screen/scored_triple_test_small_trigenic.txt", data_dir());
    qmap q = {0};
    if (cg_read_sga_table(path, GENES, 30, qmap_emit, &q, NULL) != CG_OK) fail_msg("%s", cg_last_error());
    assert_true(q.n > 10000);
    int64_t *kp = malloc(2 * q.n * sizeof *kp);
    for (int64_t i = 0; i < q.n; i++) kp[2 * i] = q.key[i], kp[2 * i + 1] = q.part[i];
    qsort(kp, q.n, 2 * sizeof *kp, cmp_pair);
    int64_t queries = 0, held[3] = {0}, ukey[64], upart[64];
    for (int64_t i = 0; i < q.n; i++) {
        if (i > 0 && kp[2 * i] == kp[2 * i - 2]) {
            if (kp[2 * i + 1] != kp[2 * i - 1]) fail_msg("query %llx has records in parts %lld and %lld",
                                                        (unsigned long long)kp[2 * i], (long long)kp[2 * i - 1],
                                                        (long long)kp[2 * i + 1]);
            continue;
        }
        assert_true(queries < 64);
        ukey[queries] = kp[2 * i], upart[queries] = kp[2 * i + 1];
        queries++;
        held[kp[2 * i + 1]]++;
    }
    print_message("query split: %lld query strains: train %lld, val %lld, test %lld\n", (long long)queries,
                  (long long)held[0], (long long)held[1], (long long)held[2]);
    assert_true(held[1] > 0 && held[2] > 0 && held[0] > held[2]);
    /* strains that share a query gene (a double-mutant query and its digenic control) are in one part */
    for (int64_t i = 0; i < queries; i++)
        for (int64_t j = 0; j < queries; j++) {
            int64_t gi[2] = {(ukey[i] >> 32) - 1, (ukey[i] & 0xffffffff) - 1};
            int64_t gj[2] = {(ukey[j] >> 32) - 1, (ukey[j] & 0xffffffff) - 1};
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++)
                    if (gi[x] >= 0 && gi[x] == gj[y]) assert_int_equal(upart[i], upart[j]);
        }
    /* only SGA samples are held out */
    for (int64_t i = 0; i < D.n; i++)
        if (D.split[CG_SPLIT_QUERY][i] != CG_SPLIT_TRAIN) assert_true(D.source_mask[i] & (1 << 3));
    free(kp);
    free(q.key);
    free(q.part);
}

/* A source file that contributes nothing is an error naming it: a data folder whose phenotype folders
 * are the real ones (symbolic links) except one file, empty, then header-only rows all dropped. */
static void test_empty_source(void **state) {
    (void)state;
    if (!GENES) skip();
    char dir[600], sub[700], path[800], cmd[4000];
    tu_temp_path(dir, sizeof dir, "data_empty_source");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/phenotypes/costanzo2016-smf' && ln -s '%s/phenotypes/dcell-go0006281' "
             "'%s/phenotypes/' && ln -s '%s/phenotypes/sga-test-screen' '%s/phenotypes/'", dir, dir, data_dir(), dir,
             data_dir(), dir);
    assert_int_equal(system(cmd), 0);
    snprintf(sub, sizeof sub, "%s/phenotypes/costanzo2016-smf", dir);
    snprintf(path, sizeof path, "%s/smf_t30_150803.txt", sub);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    cg_dataset d;
    assert_int_equal(cg_dataset_build(dir, GENES, NULL, &d), CG_ERR_FORMAT);
    if (!strstr(cg_last_error(), "smf_t30_150803.txt: no data rows")) fail_msg("%s", cg_last_error());
    /* rows, every one dropped (unknown genes) */
    f = fopen(path, "w");
    fputs("YNOTAGENE_dma1\t0.9\t0.01\nYNOTAGENE2_dma2\t0.8\t0.01\n", f);
    fclose(f);
    assert_int_equal(cg_dataset_build(dir, GENES, NULL, &d), CG_ERR_FORMAT);
    if (!strstr(cg_last_error(), "all 2 data rows were dropped")) fail_msg("%s", cg_last_error());
}

static void test_roundtrip(void **state) {
    (void)state;
    if (!GENES) skip();
    char path[512];
    tu_temp_path(path, sizeof path, "dataset.safetensors");
    assert_int_equal(cg_dataset_save(&D, path), CG_OK);
    cg_dataset l;
    if (cg_dataset_load(path, &l) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(l.n, D.n);
    assert_memory_equal(l.genotype, D.genotype, 3 * D.n * sizeof(int32_t));
    assert_memory_equal(l.label, D.label, CG_NUM_LABELS * D.n * sizeof(float));
    for (int k = 0; k < CG_SPLIT_KINDS; k++) assert_memory_equal(l.split[k], D.split[k], D.n * sizeof(int32_t));
    assert_int_equal(l.genes_checksum, cg_genes_checksum(GENES));
    assert_int_equal(l.n_sources, D.n_sources);
    assert_string_equal(l.sources[0].source, D.sources[0].source);
    assert_int_equal(l.sources[0].n_reasons, D.sources[0].n_reasons);
    assert_float_equal(l.stats[CG_SPLIT_GENE][0].mean, D.stats[CG_SPLIT_GENE][0].mean, 1e-12);
    cg_dataset_free(&l);
    /* a graph file is not a dataset */
    FILE *f = fopen(path, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc('#', f);
    fclose(f);
    assert_int_not_equal(cg_dataset_load(path, &l), CG_OK);
    remove(path);
}

/* cg_dataset_load checks what it reads before using it (fuzz/fuzz_safetensors found the first): counts in the
 * metadata (sources' rows, records and drops; label statistics' count) are whole numbers in [0, 2^53], never
 * cast unchecked (a missing "rows" was NaN cast to int64_t); n_genes is a count; every genotype is 1 to 3
 * ascending genes, -1 padded. A file from cg_dataset_save, copied with one thing changed, is a format
 * error naming it. */
static void rewrite(const char *from, const char *to, const char *key, const char *value, const int32_t *genotype) {
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(from, &st), CG_OK);
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    for (int i = 0; i < cg_safetensors_count(st); i++) {
        cg_safetensors_info in;
        assert_int_equal(cg_safetensors_info_at(st, i, &in), CG_OK);
        const void *data = genotype && strcmp(in.name, "genotype") == 0 ? genotype : in.data;
        assert_int_equal(cg_safetensors_writer_add(&w, in.name, in.dtype, in.ndim, in.shape, data), CG_OK);
    }
    for (int i = 0; i < cg_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        assert_int_equal(cg_safetensors_metadata_at(st, i, &k, &v), CG_OK);
        assert_int_equal(cg_safetensors_writer_set_metadata(&w, k, key && strcmp(k, key) == 0 ? value : v), CG_OK);
    }
    assert_int_equal(cg_safetensors_writer_write(&w, to), CG_OK);
    cg_safetensors_writer_free(&w);
    cg_safetensors_close(st);
}

static void test_load_damaged(void **state) {
    (void)state;
    cg_genes *g = small_genes();
    cg_pheno_record r[] = {rec(0, -1, -1, CG_LABEL_FITNESS, 0.9f, 0.02f, NAN), rec(1, 3, -1, CG_LABEL_EPSILON, -0.1f, NAN, 0.01f)};
    int src[] = {0, 0};
    cg_pheno_stats st[1] = {{.source = "a", .rows = 2, .records = 2}};
    cg_dataset d;
    assert_int_equal(cg_dataset_from_records(r, src, 2, st, 1, g, NULL, &d), CG_OK);
    char good[512], bad[512];
    tu_temp_path(good, sizeof good, "good.dataset.safetensors");
    tu_temp_path(bad, sizeof bad, "bad.dataset.safetensors");
    assert_int_equal(cg_dataset_save(&d, good), CG_OK);
    cg_dataset l;
    rewrite(good, bad, NULL, NULL, NULL);
    if (cg_dataset_load(bad, &l) != CG_OK) fail_msg("%s", cg_last_error());
    cg_dataset_free(&l);
    static const char *const cases[][3] = {
        {"sources", "[{\"source\": \"a\", \"records\": 2}]", NULL}, /* rows absent: 0 */
        {"sources", "[{\"source\": \"a\", \"rows\": 1e300}]", "'rows' is not a count"},
        {"sources", "[{\"source\": \"a\", \"rows\": -1}]", "'rows' is not a count"},
        {"sources", "[{\"source\": \"a\", \"records\": 2.5}]", "'records' is not a count"},
        {"sources", "[{\"source\": \"a\", \"dropped\": [{\"reason\": \"x\", \"rows\": \"7\"}]}]",
         "'rows' is not a count"},
        {"label_statistics", "{\"random\": {\"fitness\": {\"mean\": 1, \"count\": -3}}}", "'count' is not a count"},
        {"n_genes", "-5", "n_genes '-5'"},
        {"n_genes", "5x", "n_genes '5x'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rewrite(good, bad, cases[i][0], cases[i][1], NULL);
        cg_status s = cg_dataset_load(bad, &l);
        if (!cases[i][2]) {
            if (s != CG_OK) fail_msg("case %zu: %s", i, cg_last_error());
            cg_dataset_free(&l);
        } else if (s != CG_ERR_FORMAT || !strstr(cg_last_error(), cases[i][2])) {
            fail_msg("case %zu: status %d: %s", i, (int)s, cg_last_error());
        }
    }
    /* genotypes: descending, a gene after padding, no gene */
    const int32_t geno[][6] = {{0, -1, -1, 3, 1, -1}, {0, -1, 2, 1, 3, -1}, {-1, -1, -1, 1, 3, -1}};
    for (size_t i = 0; i < sizeof geno / sizeof *geno; i++) {
        rewrite(good, bad, NULL, NULL, geno[i]);
        assert_int_equal(cg_dataset_load(bad, &l), CG_ERR_FORMAT);
        if (!strstr(cg_last_error(), "is not 1 to 3 ascending genes")) fail_msg("genotype %zu: %s", i, cg_last_error());
    }
    remove(good);
    remove(bad);
    cg_dataset_free(&d);
    cg_genes_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rule),   cmocka_unit_test(test_real_counts), cmocka_unit_test(test_random_split),
        cmocka_unit_test(test_gene_split),   cmocka_unit_test(test_query_split), cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_empty_source), cmocka_unit_test(test_load_damaged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
