/* The real yeast cell graph: counts, reproducibility, file round trip, deletions, bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cellgraph/deletion.h"
#include "cellgraph/genes.h"
#include "cellgraph/graph.h"
#include "testutil.h"

static const char *data_dir(void) {
    const char *d = getenv("CELLGRAPH_TEST_DATA");
    return d && *d ? d : NULL;
}

static cg_graph *G; /* the default build, shared by the tests */

static int setup(void **state) {
    (void)state;
    if (!data_dir()) return 0;
    if (cg_graph_build(data_dir(), "default", &G) != CG_OK) {
        fprintf(stderr, "build failed: %s\n", cg_last_error());
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cg_graph_free(G);
    return 0;
}

#define NEED_DATA()                                                                                                    \
    do {                                                                                                               \
        if (!G) skip();                                                                                                \
    } while (0)

/* the ranges stated in docs/data.md */
static void test_counts(void **state) {
    (void)state;
    NEED_DATA();
    assert_int_equal(cg_graph_num_nodes(G, CG_GENE), 6604);
    assert_int_equal(cg_graph_num_nodes(G, CG_REACTION), 7122);
    assert_int_equal(cg_graph_num_nodes(G, CG_METABOLITE), 2806);
    const struct { int rel; int64_t lo, hi; } ranges[] = {
        {CG_REL_PHYSICAL, 220000, 235000}, {CG_REL_REGULATORY, 10500, 11500}, {CG_REL_GPR, 5300, 5600},
        {CG_REL_GPR_REV, 5300, 5600},      {CG_REL_RMR, 26000, 26600},        {CG_REL_RMR_REV, 26000, 26600},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        int64_t e = cg_graph_relation(G, ranges[i].rel)->n_edges;
        if (e < ranges[i].lo || e > ranges[i].hi)
            fail_msg("%s: %lld edges, outside [%lld, %lld]", cg_graph_relation(G, ranges[i].rel)->name, (long long)e,
                     (long long)ranges[i].lo, (long long)ranges[i].hi);
    }
    /* the metabolic genes (screen --metabolic): yeast-GEM's 1,161, ascending, each with a reaction node */
    int32_t *mg = malloc(6604 * sizeof *mg);
    assert_int_equal(cg_graph_metabolic_genes(G, mg), 1161);
    const cg_relation *gr = cg_graph_relation(G, CG_REL_GPR_REV);
    for (int i = 0; i < 1161; i++) {
        assert_true(i == 0 || mg[i] > mg[i - 1]);
        assert_true(gr->rowptr[mg[i] + 1] > gr->rowptr[mg[i]]);
    }
    free(mg);
    /* reverse relations mirror their forward twin; physical is symmetric */
    assert_int_equal(cg_graph_relation(G, CG_REL_GPR)->n_edges, cg_graph_relation(G, CG_REL_GPR_REV)->n_edges);
    assert_int_equal(cg_graph_relation(G, CG_REL_RMR)->n_edges, cg_graph_relation(G, CG_REL_RMR_REV)->n_edges);
    const cg_relation *p = cg_graph_relation(G, CG_REL_PHYSICAL);
    assert_int_equal(p->n_edges % 2, 0);
    for (int64_t e = 0; e < p->n_edges; e += 97) {
        int32_t a = p->src[e], b = p->dst[e];
        assert_int_not_equal(a, b); /* no self pairs */
        bool found = false;
        for (int64_t k = p->rowptr[a]; k < p->rowptr[a + 1] && !found; k++) found = p->src[k] == b;
        assert_true(found);
    }
    /* sorted by (dst, src), strictly: no duplicates */
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_relation *rel = cg_graph_relation(G, r);
        for (int64_t e = 1; e < rel->n_edges; e++)
            assert_true(rel->dst[e - 1] < rel->dst[e] || (rel->dst[e - 1] == rel->dst[e] && rel->src[e - 1] < rel->src[e]));
    }
    /* stoichiometry is signed and reversed for reverse nodes: r_0001 is irreversible, consumes s_0025 */
    const cg_relation *rmr = cg_graph_relation(G, CG_REL_RMR);
    int64_t consumed = 0, produced = 0;
    for (int64_t e = 0; e < rmr->n_edges; e++) {
        assert_true(rmr->attr[e] != 0.0f);
        consumed += rmr->attr[e] < 0;
        produced += rmr->attr[e] > 0;
    }
    assert_true(consumed > 10000 && produced > 10000);
}

static int64_t node_index(cg_node_type t, const char *name) {
    for (int64_t i = 0; i < cg_graph_num_nodes(G, t); i++)
        if (strcmp(cg_graph_node_name(G, t, i), name) == 0) return i;
    return -1;
}

static void test_reaction_nodes(void **state) {
    (void)state;
    NEED_DATA();
    /* r_0001: (YDL174C and YEL039C) or (YDL174C and YJR048W) or (YEL039C and YEL071W) or (YEL071W and YJR048W),
     * bounds [0, 1000]: four forward nodes, no reverse */
    for (int k = 0; k < 4; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "r_0001_t%d_fwd", k);
        int64_t n = node_index(CG_REACTION, nm);
        assert_true(n >= 0);
        const int32_t *genes;
        int64_t ng;
        cg_graph_reaction_genes(G, n, &genes, &ng);
        assert_int_equal(ng, 2);
        assert_string_equal(cg_graph_reaction_id(G, n), "r_0001");
    }
    assert_int_equal(node_index(CG_REACTION, "r_0001_t4_fwd"), -1);
    assert_int_equal(node_index(CG_REACTION, "r_0001_t0_rev"), -1);
    /* stoichiometry of r_0001_t0_fwd: s_0025 -1, s_0709 -2, s_0710 +2, s_1399 +1 */
    int64_t n0 = node_index(CG_REACTION, "r_0001_t0_fwd");
    const cg_relation *rmr_rev = cg_graph_relation(G, CG_REL_RMR_REV);
    int found = 0;
    for (int64_t e = rmr_rev->rowptr[n0]; e < rmr_rev->rowptr[n0 + 1]; e++) {
        const char *m = cg_graph_node_name(G, CG_METABOLITE, rmr_rev->src[e]);
        float a = rmr_rev->attr[e];
        if (strcmp(m, "s_0025") == 0) assert_float_equal(a, -1.0f, 0), found++;
        if (strcmp(m, "s_0709") == 0) assert_float_equal(a, -2.0f, 0), found++;
        if (strcmp(m, "s_0710") == 0) assert_float_equal(a, 2.0f, 0), found++;
        if (strcmp(m, "s_1399") == 0) assert_float_equal(a, 1.0f, 0), found++;
    }
    assert_int_equal(found, 4);
    /* every reversible reaction has forward and reverse nodes with opposite stoichiometry */
    const cg_relation *rmr = cg_graph_relation(G, CG_REL_RMR);
    int64_t pairs = 0;
    for (int64_t n = 0; n + 1 < cg_graph_num_nodes(G, CG_REACTION); n++) {
        if (cg_graph_reaction_direction(G, n) != 0 || cg_graph_reaction_direction(G, n + 1) != 1) continue;
        pairs++;
        /* rmr is sorted by metabolite, so compare through the reverse relation's rows of both nodes */
        int64_t a0 = rmr_rev->rowptr[n], a1 = rmr_rev->rowptr[n + 1], b0 = rmr_rev->rowptr[n + 1];
        assert_int_equal(a1 - a0, rmr_rev->rowptr[n + 2] - b0);
        for (int64_t k = 0; k < a1 - a0; k++) {
            assert_int_equal(rmr_rev->src[a0 + k], rmr_rev->src[b0 + k]);
            assert_float_equal(rmr_rev->attr[a0 + k], -rmr_rev->attr[b0 + k], 0);
        }
    }
    assert_true(pairs > 1000);
    (void)rmr;
}

static void test_reproducible_and_roundtrip(void **state) {
    (void)state;
    NEED_DATA();
    cg_graph *g2 = NULL;
    assert_int_equal(cg_graph_build(data_dir(), "default", &g2), CG_OK);
    assert_int_equal(cg_graph_checksum(G), cg_graph_checksum(g2));
    cg_graph_free(g2);
    char path[512];
    tu_temp_path(path, sizeof path, "graph.safetensors");
    assert_int_equal(cg_graph_save(G, path), CG_OK);
    cg_graph *l = NULL;
    if (cg_graph_load(path, &l) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_graph_checksum(G), cg_graph_checksum(l));
    for (int t = 0; t < CG_NODE_TYPES; t++) assert_int_equal(cg_graph_num_nodes(G, t), cg_graph_num_nodes(l, t));
    assert_string_equal(cg_graph_recipe(l), "default");
    assert_string_equal(cg_graph_sources_json(l), cg_graph_sources_json(G));
    assert_int_equal(cg_graph_num_sources(l), cg_graph_num_sources(G));
    assert_string_equal(cg_graph_gene_aliases(l, 0), cg_graph_gene_aliases(G, 0));
    /* the resolver rebuilt from the file knows aliases */
    cg_genes *genes = NULL;
    assert_int_equal(cg_graph_genes(l, &genes), CG_OK);
    int32_t a, b;
    assert_int_equal(cg_genes_resolve(genes, "FUN24", &a), CG_OK); /* an alias of YAL001C */
    assert_int_equal(cg_genes_resolve(genes, "yal001c", &b), CG_OK);
    assert_int_equal(a, b);
    assert_int_equal(cg_genes_resolve(genes, "syntaxin", &a), CG_ERR_INVALID_ARG);
    cg_genes_free(genes);
    cg_graph_free(l);

    /* a truncated or corrupted graph file is an error, not a crash */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(size);
    assert_int_equal(fread(buf, 1, size, f), (size_t)size);
    fclose(f);
    char bad[512];
    tu_temp_path(bad, sizeof bad, "bad_graph.safetensors");
    f = fopen(bad, "wb");
    fwrite(buf, 1, size / 2, f);
    fclose(f);
    assert_int_equal(cg_graph_load(bad, &l), CG_ERR_FORMAT);
    assert_null(l);
    /* flip bytes in the middle of the data: the CSR checks catch out-of-range indices */
    for (long k = size / 2; k < size / 2 + 4096 && k < size; k++) buf[k] = (char)0x7f;
    f = fopen(bad, "wb");
    fwrite(buf, 1, size, f);
    fclose(f);
    cg_status s = cg_graph_load(bad, &l);
    if (s == CG_OK) cg_graph_free(l); /* the bytes may land in a string table that stays valid */
    else assert_int_equal(s, CG_ERR_FORMAT);
    free(buf);
    remove(bad);
    remove(path);
}

/* ------------------------------------------------------------------ deletions */

/* edges with an endpoint in the dead lists, counted straight from the edge arrays */
static int64_t count_direct(int rel, const int32_t *dead_genes, int ng, const int64_t *dead_rxn, int nr) {
    const cg_relation *r = cg_graph_relation(G, rel);
    int64_t n = 0;
    for (int64_t e = 0; e < r->n_edges; e++) {
        bool dead = false;
        int32_t ends[2] = {r->src[e], r->dst[e]};
        cg_node_type types[2] = {r->src_type, r->dst_type};
        for (int k = 0; k < 2; k++) {
            if (types[k] == CG_GENE)
                for (int j = 0; j < ng; j++) dead |= ends[k] == dead_genes[j];
            if (types[k] == CG_REACTION)
                for (int j = 0; j < nr; j++) dead |= ends[k] == dead_rxn[j];
        }
        n += dead;
    }
    return n;
}

/* Deletes the named genes and checks the dead reaction nodes against the rule computed from the
 * reaction nodes' gene lists, and every relation's removed edges against a direct count. */
static uint64_t *delete_and_check(const char *const *names, int n, int64_t *n_dead_rxn) {
    cg_genes *genes;
    assert_int_equal(cg_graph_genes(G, &genes), CG_OK);
    int32_t idx[8];
    for (int k = 0; k < n; k++) assert_int_equal(cg_genes_resolve(genes, names[k], &idx[k]), CG_OK);
    cg_genes_free(genes);
    uint64_t *block = malloc(cg_deletion_words(G) * sizeof *block);
    assert_int_equal(cg_deletion_compute(G, idx, n, block), CG_OK);
    cg_dead_view d = cg_deletion_view(G, block);
    int64_t *dead_rxn = malloc(cg_graph_num_nodes(G, CG_REACTION) * sizeof *dead_rxn);
    int nr = 0;
    for (int64_t r = 0; r < cg_graph_num_nodes(G, CG_REACTION); r++) {
        const int32_t *tg;
        int64_t nt;
        cg_graph_reaction_genes(G, r, &tg, &nt);
        bool dies = false;
        for (int64_t j = 0; j < nt; j++)
            for (int k = 0; k < n; k++) dies |= tg[j] == idx[k];
        assert_int_equal(cg_bit_get(d.node[CG_REACTION], r), dies);
        if (dies) dead_rxn[nr++] = r;
    }
    assert_int_equal(cg_deletion_count(G, CG_METABOLITE, d), 0);
    for (int rel = 0; rel < CG_RELATIONS; rel++)
        assert_int_equal(cg_deletion_removed_edges(G, rel, d), count_direct(rel, idx, n, dead_rxn, nr));
    free(dead_rxn);
    *n_dead_rxn = nr;
    return block;
}

static void test_deletions(void **state) {
    (void)state;
    NEED_DATA();
    int64_t nr;
    /* CYS3 (YAL012W): r_0310 has the single term [YAL012W] and dies; r_0815 has isozymes: its term with
     * CYS3 dies, the sibling terms survive */
    const char *cys3[] = {"CYS3"};
    uint64_t *b = delete_and_check(cys3, 1, &nr);
    cg_dead_view d = cg_deletion_view(G, b);
    assert_true(cg_bit_get(d.node[CG_REACTION], node_index(CG_REACTION, "r_0310_t0_fwd")));
    int alive_siblings = 0, dead_terms = 0;
    for (int64_t r = 0; r < cg_graph_num_nodes(G, CG_REACTION); r++)
        if (strcmp(cg_graph_reaction_id(G, r), "r_0815") == 0) {
            if (cg_bit_get(d.node[CG_REACTION], r)) dead_terms++;
            else alive_siblings++;
        }
    assert_int_equal(dead_terms, 1);
    assert_true(alive_siblings >= 1);
    assert_int_equal(nr, 2);
    free(b);
    /* a gene in no reaction: TFC3 kills no reaction node but removes its physical edges */
    const char *tfc3[] = {"TFC3"};
    b = delete_and_check(tfc3, 1, &nr);
    assert_int_equal(nr, 0);
    assert_true(cg_deletion_removed_edges(G, CG_REL_PHYSICAL, cg_deletion_view(G, b)) > 0);
    free(b);
    /* a triple with hub and metabolic genes, one named by alias */
    const char *triple[] = {"YAL012W", "CDC28", "FUN24"};
    b = delete_and_check(triple, 3, &nr);
    assert_int_equal(cg_deletion_count(G, CG_GENE, cg_deletion_view(G, b)), 3);
    free(b);
    /* gene-free reaction nodes never die, whatever is deleted */
    int32_t many[64];
    for (int k = 0; k < 64; k++) many[k] = k * 97;
    b = malloc(cg_deletion_words(G) * sizeof *b);
    assert_int_equal(cg_deletion_compute(G, many, 64, b), CG_OK);
    d = cg_deletion_view(G, b);
    for (int64_t r = 0; r < cg_graph_num_nodes(G, CG_REACTION); r++) {
        const int32_t *tg;
        int64_t nt;
        cg_graph_reaction_genes(G, r, &tg, &nt);
        if (nt == 0) assert_false(cg_bit_get(d.node[CG_REACTION], r));
    }
    /* a batch: blocks equal the single computations */
    int32_t geno[2][3] = {{5, -1, -1}, {7, 9, 11}};
    uint64_t *bb = malloc(2 * cg_deletion_words(G) * sizeof *bb);
    assert_int_equal(cg_deletion_batch(G, &geno[0][0], 2, 3, bb), CG_OK);
    assert_int_equal(cg_deletion_compute(G, geno[1], 3, b), CG_OK);
    assert_memory_equal(bb + cg_deletion_words(G), b, cg_deletion_words(G) * sizeof *b);
    int32_t bad[1] = {6604};
    assert_int_equal(cg_deletion_compute(G, bad, 1, b), CG_ERR_INVALID_ARG);
    free(bb);
    free(b);
}

/* ------------------------------------------------------------------ bad input */

/* a copy of the data folder made of symbolic links, with one file replaced by `content` (or removed) */
static void fake_data(char *dir, size_t len, const char *replace, const char *content, size_t content_len) {
    static const char *files[] = {"sgd/SGD_features.tab", "string/v11/4932.protein.actions.v11.0.txt.gz",
                                  "ppi/Krogan-2006.txt", "ppi/Tarassov-2008-PCA.tsv",
                                  "regulation/yeastract-2020/"
                                  "DNABinding_AND_Expr_TF_act_OR_inh_RegulationMatrix_Documented_2020511.csv.gz",
                                  "yeast-gem/yeast-GEM.yml"};
    tu_temp_path(dir, len, "data");
    char p[1024], q[1024];
    const char *subdirs[] = {"", "/sgd", "/string", "/string/v11", "/ppi", "/regulation", "/regulation/yeastract-2020",
                             "/yeast-gem"};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        snprintf(p, sizeof p, "%s%s", dir, subdirs[i]);
        mkdir(p, 0755);
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
        if (replace && strcmp(files[i], replace) == 0) {
            if (content) {
                FILE *f = fopen(p, "wb");
                fwrite(content, 1, content_len, f);
                fclose(f);
            }
            continue;
        }
        snprintf(q, sizeof q, "%s/%s", data_dir(), files[i]);
        assert_int_equal(symlink(q, p), 0);
    }
}

static void test_bad_input(void **state) {
    (void)state;
    NEED_DATA();
    char dir[512];
    cg_graph *g = NULL;
    /* missing file: the error names it */
    fake_data(dir, sizeof dir, "ppi/Krogan-2006.txt", NULL, 0);
    assert_int_equal(cg_graph_build(dir, "default", &g), CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), "Krogan-2006.txt"));
    assert_null(g);
    /* truncated gzip */
    char gz[4096];
    snprintf(gz, sizeof gz, "%s/string/v11/4932.protein.actions.v11.0.txt.gz", data_dir());
    FILE *f = fopen(gz, "rb");
    char *head = malloc(200000);
    size_t n = fread(head, 1, 200000, f);
    fclose(f);
    fake_data(dir, sizeof dir, "string/v11/4932.protein.actions.v11.0.txt.gz", head, n);
    free(head);
    assert_int_equal(cg_graph_build(dir, "default", &g), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "truncated or corrupt gzip"));
    /* malformed YAML */
    const char *yml = "---\n!!omap\n- metabolites:\n    - !!omap\n      - id: \"s_1\n      - name: [unclosed\n";
    fake_data(dir, sizeof dir, "yeast-gem/yeast-GEM.yml", yml, strlen(yml));
    assert_int_equal(cg_graph_build(dir, "default", &g), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "yeast-GEM.yml"));
    /* a malformed gene rule names the reaction */
    const char *yml2 = "---\n!!omap\n- metabolites:\n    - !!omap\n      - id: \"s_1\"\n      - compartment: \"c\"\n"
                       "- reactions:\n    - !!omap\n      - id: \"r_9\"\n      - metabolites: !!omap\n"
                       "          - s_1: -1\n      - lower_bound: 0\n      - upper_bound: 1000\n"
                       "      - gene_reaction_rule: \"YAL012W and (YBR001C or\"\n";
    fake_data(dir, sizeof dir, "yeast-gem/yeast-GEM.yml", yml2, strlen(yml2));
    assert_int_equal(cg_graph_build(dir, "default", &g), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "r_9"));
    /* the data folder lookup says what it looked for and how to fix it */
    char buf[512];
    assert_int_equal(cg_data_dir("/nonexistent/yeast", buf, sizeof buf), CG_ERR_NOT_FOUND);
    assert_non_null(strstr(cg_last_error(), "sgd/SGD_features.tab"));
    assert_non_null(strstr(cg_last_error(), "CELLGRAPH_DATA"));
    assert_int_equal(cg_graph_build(data_dir(), "nonsense", &g), CG_ERR_INVALID_ARG);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_recipe_2013(void **state) {
    (void)state;
    NEED_DATA();
    cg_graph *g = NULL;
    assert_int_equal(cg_graph_build(data_dir(), "yeastract2013", &g), CG_OK);
    assert_string_equal(cg_graph_recipe(g), "yeastract2013");
    int64_t e = cg_graph_relation(g, CG_REL_REGULATORY)->n_edges;
    assert_true(e > 150000 && e < 200000);
    assert_int_equal(cg_graph_relation(g, CG_REL_PHYSICAL)->n_edges, cg_graph_relation(G, CG_REL_PHYSICAL)->n_edges);
    cg_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),    cmocka_unit_test(test_reaction_nodes),
        cmocka_unit_test(test_reproducible_and_roundtrip), cmocka_unit_test(test_deletions),
        cmocka_unit_test(test_bad_input), cmocka_unit_test(test_recipe_2013),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
