/* The phenotype dataset: the merging rule on a hand-computed example, splits and statistics on the real
 * data, the file round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/dataset.h"
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
        rec(1, 3, -1, CG_LABEL_GENE_INTERACTION, -0.10f, 0.03f, 0.01f),
        rec(0, -1, -1, CG_LABEL_FITNESS, 0.90f, 0.02f, NAN),
        rec(1, 3, -1, CG_LABEL_GENE_INTERACTION, -0.20f, NAN, 0.20f),
        rec(0, 2, 4, CG_LABEL_GENE_INTERACTION, 0.15f, NAN, 0.03f),
        rec(1, 3, -1, CG_LABEL_FITNESS, 0.70f, 0.05f, NAN),
        rec(0, -1, -1, CG_LABEL_FITNESS, 1.00f, NAN, NAN),
        rec(1, 3, -1, CG_LABEL_GENE_INTERACTION, -0.30f, 0.04f, NAN),
    };
    int src[] = {0, 0, 1, 1, 0, 1, 1};
    cg_pheno_stats st[2] = {{.source = "a"}, {.source = "b"}};
    cg_dataset d;
    assert_int_equal(cg_dataset_from_records(r, src, 7, st, 2, g, NULL, &d), CG_OK);
    assert_int_equal(d.n, 3);
    /* samples sorted by genotype: {0}, {0,2,4}, {1,3} */
    const int32_t want_g[3][3] = {{0, -1, -1}, {0, 2, 4}, {1, 3, -1}};
    assert_memory_equal(d.genotype, want_g, sizeof want_g);
    const int F = CG_LABEL_FITNESS, E = CG_LABEL_GENE_INTERACTION, K = CG_NUM_LABELS;
    assert_float_equal(d.label[0 * K + F], 0.95f, 1e-6);
    assert_float_equal(d.label_std[0 * K + F], 0.02f, 1e-6);
    assert_int_equal(d.label_count[0 * K + F], 2);
    assert_true(isnan(d.label[0 * K + E]) && d.label_count[0 * K + E] == 0);
    assert_float_equal(d.label[1 * K + E], 0.15f, 1e-6);
    assert_float_equal(d.label_p[1 * K + E], 0.03f, 1e-7);
    assert_true(isnan(d.label[1 * K + F]));
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
    print_message("samples %lld: singles %lld, pairs %lld, triples %lld; fitness %lld, gene_interaction %lld\n",
                  (long long)D.n, (long long)by_size[1], (long long)by_size[2], (long long)by_size[3],
                  (long long)with[0], (long long)with[1]);
    assert_true(D.n >= 24000 && D.n <= 26500);
    assert_true(by_size[1] >= 4400 && by_size[1] <= 5000);
    assert_true(by_size[2] >= 16000 && by_size[2] <= 17300);
    assert_true(by_size[3] >= 3700 && by_size[3] <= 4000);
    assert_true(with[CG_LABEL_FITNESS] >= 13000 && with[CG_LABEL_FITNESS] <= 14300);
    assert_true(with[CG_LABEL_GENE_INTERACTION] >= 19500 && with[CG_LABEL_GENE_INTERACTION] <= 21000);
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
        assert_true(sp[i] >= 0 && sp[i] <= 2);
        tot[sp[i]]++;
    }
    assert_int_equal(tot[0] + tot[1] + tot[2], D.n);
    /* ratios within 1% in every stratum (label set x genes) with at least 500 samples */
    for (int set = 1; set < 4; set++)
        for (int ng = 1; ng <= 3; ng++) {
            int64_t c[3] = {0}, n = 0;
            for (int64_t i = 0; i < D.n; i++) {
                int s = 0;
                for (int k = 0; k < K; k++) s |= (D.label_count[i * K + k] > 0) << k;
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

static void test_gene_split(void **state) {
    (void)state;
    if (!GENES) skip();
    const int32_t *sp = D.split[CG_SPLIT_GENE];
    /* genes of test genotypes: at least one is a test gene; no test or validation gene appears in training */
    uint8_t *in_train = calloc(D.n_genes, 1);
    for (int64_t i = 0; i < D.n; i++)
        if (sp[i] == CG_SPLIT_TRAIN)
            for (int k = 0; k < 3; k++)
                if (D.genotype[3 * i + k] >= 0) in_train[D.genotype[3 * i + k]] = 1;
    int64_t c[3] = {0};
    for (int64_t i = 0; i < D.n; i++) {
        c[sp[i]]++;
        if (sp[i] == CG_SPLIT_TRAIN) continue;
        bool held = false;
        for (int k = 0; k < 3; k++) {
            int32_t gi = D.genotype[3 * i + k];
            if (gi >= 0 && !in_train[gi]) held = true;
        }
        assert_true(held); /* a val/test genotype touches a gene never seen in training */
    }
    assert_true(c[0] > 0 && c[1] > 0 && c[2] > 0);
    free(in_train);
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
    assert_memory_equal(l.split[CG_SPLIT_GENE], D.split[CG_SPLIT_GENE], D.n * sizeof(int32_t));
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rule),   cmocka_unit_test(test_real_counts), cmocka_unit_test(test_random_split),
        cmocka_unit_test(test_gene_split),   cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
