/* Relations as data: the descriptor table, the optional gene-gene relations built from the real data
 * (counts, symmetry, weights), the default graph left unchanged by them, the file round trip and its
 * validation, and malformed optional files. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cellgraph/genes.h"
#include "cellgraph/graph.h"
#include "cellgraph/safetensors.h"
#include "cellgraph/weighted_sources.h"
#include "testutil.h"

/* cg_graph_checksum of the default build of the shared data, recorded with the cellgraph of commit 90c7478,
 * before relations became data (`cellgraph graph build && cellgraph graph info` printed e5c4e508). Graph
 * caches and checkpoints store it, so it must never change for the default recipe. */
#define DEFAULT_CHECKSUM 0xe5c4e508u

static const char *data_dir(void) {
    const char *d = getenv("CELLGRAPH_TEST_DATA");
    return d && *d ? d : NULL;
}

static cg_graph *G;   /* the default build */
static cg_graph *ALL; /* the default build plus every optional relation */

static int setup(void **state) {
    (void)state;
    if (!data_dir()) return 0;
    const char *all[] = {"all"};
    if (cg_graph_build(data_dir(), "default", &G) != CG_OK || cg_graph_build_ex(data_dir(), "default", all, 1, &ALL) != CG_OK) {
        fprintf(stderr, "build failed: %s\n", cg_last_error());
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cg_graph_free(G);
    cg_graph_free(ALL);
    return 0;
}

#define NEED_DATA()                                                                                                    \
    do {                                                                                                               \
        if (!G) skip();                                                                                                \
    } while (0)

static const char *const OPTIONAL[] = {"string9_database", "string9_neighborhood", "string9_fusion",
                                       "string9_cooccurence", "coexpression", "cocomplex"};
#define N_OPTIONAL 6

static const cg_graph_source *source_named(const cg_graph *g, const char *name) {
    for (int i = 0; i < cg_graph_num_sources(g); i++)
        if (strcmp(cg_graph_source_at(g, i)->name, name) == 0) return cg_graph_source_at(g, i);
    return NULL;
}

static int32_t gene(const cg_graph *g, const char *name) {
    for (int64_t i = 0; i < cg_graph_num_nodes(g, CG_GENE); i++)
        if (strcmp(cg_graph_node_name(g, CG_GENE, i), name) == 0) return (int32_t)i;
    return -1;
}

/* the attribute of edge a -> b of relation rel, or NAN when there is no such edge */
static float edge_attr(const cg_relation *rel, int32_t a, int32_t b) {
    for (int64_t k = rel->rowptr[b]; k < rel->rowptr[b + 1]; k++)
        if (rel->src[k] == a) return rel->attr ? rel->attr[k] : 0.0f;
    return NAN;
}

static void assert_relations_equal(const cg_relation *a, const cg_relation *b, int64_t n_dst) {
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->src_type, b->src_type);
    assert_int_equal(a->dst_type, b->dst_type);
    assert_int_equal(a->directed, b->directed);
    assert_int_equal(a->attr_width, b->attr_width);
    assert_int_equal(a->n_edges, b->n_edges);
    assert_memory_equal(a->rowptr, b->rowptr, (n_dst + 1) * sizeof *a->rowptr);
    assert_memory_equal(a->src, b->src, a->n_edges * sizeof *a->src);
    assert_memory_equal(a->dst, b->dst, a->n_edges * sizeof *a->dst);
    assert_int_equal(a->attr == NULL, b->attr == NULL);
    if (a->attr) assert_memory_equal(a->attr, b->attr, a->n_edges * a->attr_width * sizeof *a->attr);
}

/* ------------------------------------------------------------------ the table */

static void test_descriptor_table(void **state) {
    (void)state;
    int n = 0;
    const cg_relation_desc *d = cg_relation_descs(&n);
    assert_int_equal(n, CG_RELATIONS + N_OPTIONAL);
    assert_true(n <= CG_MAX_RELATIONS);
    const char *defaults[CG_RELATIONS] = {"physical", "regulatory", "gpr", "gpr_rev", "rmr", "rmr_rev"};
    for (int r = 0; r < CG_RELATIONS; r++) {
        assert_string_equal(d[r].name, defaults[r]);
        assert_true(d[r].builtin);
        assert_int_equal(cg_graph_relation_index(defaults[r]), r);
        assert_ptr_equal(cg_relation_desc_find(defaults[r]), &d[r]);
    }
    assert_int_equal(cg_graph_relation_index("physical"), CG_REL_PHYSICAL);
    assert_int_equal(cg_graph_relation_index("rmr_rev"), CG_REL_RMR_REV);
    assert_false(d[CG_REL_PHYSICAL].directed);
    assert_true(d[CG_REL_REGULATORY].directed);
    assert_int_equal(d[CG_REL_RMR].attr_width, 1);
    assert_string_equal(d[CG_REL_RMR].attr_name, "stoichiometry");
    assert_int_equal(d[CG_REL_GPR].src_type, CG_GENE);
    assert_int_equal(d[CG_REL_GPR].dst_type, CG_REACTION);
    assert_int_equal(d[CG_REL_RMR_REV].src_type, CG_METABOLITE);
    for (int k = 0; k < N_OPTIONAL; k++) {
        const cg_relation_desc *o = cg_relation_desc_find(OPTIONAL[k]);
        assert_non_null(o);
        assert_ptr_equal(o, &d[CG_RELATIONS + k]); /* table order = order in a graph */
        assert_false(o->builtin);
        assert_false(o->directed);
        assert_int_equal(o->src_type, CG_GENE);
        assert_int_equal(o->dst_type, CG_GENE);
        assert_int_equal(o->attr_width, 1);
        assert_string_equal(o->attr_name, "weight");
        assert_int_equal(cg_graph_relation_index(OPTIONAL[k]), -1); /* the one-argument lookup knows defaults only */
    }
    assert_null(cg_relation_desc_find("nonsense"));
    assert_null(cg_relation_desc_find("all"));
}

/* ------------------------------------------------------------------ the default graph does not change */

static void test_default_unchanged(void **state) {
    (void)state;
    NEED_DATA();
    assert_int_equal(cg_graph_num_relations(G), CG_RELATIONS);
    assert_int_equal(cg_graph_checksum(G), DEFAULT_CHECKSUM);
    assert_null(cg_graph_relation(G, CG_RELATIONS));
    assert_null(cg_graph_relation(G, -1));
    assert_int_equal(cg_graph_find_relation(G, "coexpression"), -1);
    assert_int_equal(cg_graph_find_relation(G, "gpr"), CG_REL_GPR);
    /* with every optional relation: the same nodes, names and six default relations */
    assert_int_equal(cg_graph_num_relations(ALL), CG_RELATIONS + N_OPTIONAL);
    for (int t = 0; t < CG_NODE_TYPES; t++) assert_int_equal(cg_graph_num_nodes(ALL, t), cg_graph_num_nodes(G, t));
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_relation *a = cg_graph_relation(G, r), *b = cg_graph_relation(ALL, r);
        assert_relations_equal(a, b, cg_graph_num_nodes(G, a->dst_type));
    }
    for (int64_t i = 0; i < cg_graph_num_nodes(G, CG_GENE); i++)
        assert_string_equal(cg_graph_node_name(G, CG_GENE, i), cg_graph_node_name(ALL, CG_GENE, i));
    for (int k = 0; k < N_OPTIONAL; k++) assert_int_equal(cg_graph_find_relation(ALL, OPTIONAL[k]), CG_RELATIONS + k);
    /* the extra relations are part of the bigger graph's checksum, not of the default one */
    assert_int_not_equal(cg_graph_checksum(ALL), DEFAULT_CHECKSUM);
    /* default names requested and repeats change nothing; the order of the request does not matter */
    const char *defaults_only[] = {"physical", "rmr"};
    cg_graph *g = NULL;
    assert_int_equal(cg_graph_build_ex(data_dir(), "default", defaults_only, 2, &g), CG_OK);
    assert_int_equal(cg_graph_num_relations(g), CG_RELATIONS);
    assert_int_equal(cg_graph_checksum(g), DEFAULT_CHECKSUM);
    cg_graph_free(g);
    const char *two[] = {"coexpression", "string9_fusion", "coexpression"};
    assert_int_equal(cg_graph_build_ex(data_dir(), "default", two, 3, &g), CG_OK);
    assert_int_equal(cg_graph_num_relations(g), CG_RELATIONS + 2);
    assert_string_equal(cg_graph_relation(g, CG_RELATIONS)->name, "string9_fusion"); /* table order */
    assert_string_equal(cg_graph_relation(g, CG_RELATIONS + 1)->name, "coexpression");
    for (int r = 0; r < cg_graph_num_relations(g); r++) {
        const cg_relation *a = cg_graph_relation(g, r);
        const cg_relation *b = cg_graph_relation(ALL, cg_graph_find_relation(ALL, a->name));
        assert_relations_equal(a, b, cg_graph_num_nodes(g, a->dst_type));
    }
    cg_graph_free(g);
    /* an unknown relation is an error that names it and lists the known ones */
    const char *bad[] = {"coexpression", "string9_coexpression"};
    assert_int_equal(cg_graph_build_ex(data_dir(), "default", bad, 2, &g), CG_ERR_INVALID_ARG);
    assert_null(g);
    assert_non_null(strstr(cg_last_error(), "'string9_coexpression'"));
    assert_non_null(strstr(cg_last_error(), "cocomplex"));
}

/* ------------------------------------------------------------------ counts, symmetry, weights */

/* Exact counts on the shared data. How they were derived: the files were read independently with a
 * Python script (SGD ORF rows as the gene universe, yeast_string_genes.txt 1-based, each listing's
 * unordered pair counted once) and the numbers agree with `cellgraph graph build --relations all` and
 * `graph info`:
 * - STRING v9.1: every pair is listed in both directions with the same weight, so pairs = rows / 2
 *   after the rows naming YFL056C or YFL057C (rows 1940 and 1941 of the genes file: not ORFs of
 *   SGD_features.tab R64-2-1, nor aliases) are dropped; no self pairs, no repeats, no conflicts.
 * - coexpression (Hu-2007): 14,826 rows over 1,101 ORFs, every ORF known, every pair listed once.
 * - cocomplex: 616 complexes; the "Expanded participant list" holds 2,976 member accessions (brackets of
 *   alternatives expanded) of which 2,716 map to no gene: only yeast-GEM's 1,161 genes carry a UniProt
 *   accession in the data folder, and 207 of the 1,959 distinct accessions of the file are among them
 *   (1,752 unmapped). 55 complexes keep two or more genes (561 skipped); they give 700 (complex, pair)
 *   rows over 543 distinct pairs (157 merged into a weight of 2, e.g. TPS1-TPS2 in CPX-582 and CPX-583). */
static void test_optional_counts(void **state) {
    (void)state;
    NEED_DATA();
    const struct {
        const char *name;
        int64_t edges, rows, pairs, unresolved_rows, unresolved_names, mirrored, duplicates, skipped;
    } want[N_OPTIONAL] = {
        {"string9_database", 66972, 66972, 33486, 0, 0, 33486, 0, 0},
        {"string9_neighborhood", 91202, 91220, 45601, 18, 2, 45601, 0, 0},
        {"string9_fusion", 2716, 2722, 1358, 6, 2, 1358, 0, 0},
        {"string9_cooccurence", 5318, 5328, 2659, 10, 2, 2659, 0, 0},
        {"coexpression", 29652, 14826, 14826, 0, 0, 0, 0, 0},
        {"cocomplex", 1086, 616, 543, 2716, 1752, 0, 157, 561},
    };
    for (int k = 0; k < N_OPTIONAL; k++) {
        const cg_relation *rel = cg_graph_relation(ALL, cg_graph_find_relation(ALL, want[k].name));
        const cg_graph_source *s = source_named(ALL, want[k].name);
        assert_non_null(rel);
        assert_non_null(s);
        if (rel->n_edges != want[k].edges || s->rows != want[k].rows || s->pairs != want[k].pairs ||
            s->unresolved_rows != want[k].unresolved_rows || s->unresolved_names != want[k].unresolved_names ||
            s->mirrored != want[k].mirrored || s->duplicates != want[k].duplicates || s->skipped_other != want[k].skipped)
            fail_msg("%s: edges %lld rows %lld pairs %lld unresolved %lld/%lld mirrored %lld duplicates %lld skipped %lld",
                     want[k].name, (long long)rel->n_edges, (long long)s->rows, (long long)s->pairs,
                     (long long)s->unresolved_rows, (long long)s->unresolved_names, (long long)s->mirrored,
                     (long long)s->duplicates, (long long)s->skipped_other);
        assert_int_equal(s->self_pairs, 0);
        assert_int_equal(s->weight_conflicts, 0);
        assert_int_equal(s->edges, rel->n_edges);
    }
    /* STRING's unresolved names; the UniProt map's own row */
    assert_non_null(strstr(source_named(ALL, "string9_neighborhood")->examples, "YFL056C"));
    const cg_graph_source *map = source_named(ALL, "cocomplex: UniProt -> gene (yeast-GEM genes)");
    assert_non_null(map);
    assert_int_equal(map->rows, 1161);
    assert_int_equal(map->pairs, 1161);
}

static void test_symmetry_and_weights(void **state) {
    (void)state;
    NEED_DATA();
    for (int k = 0; k < N_OPTIONAL; k++) {
        const cg_relation *rel = cg_graph_relation(ALL, CG_RELATIONS + k);
        assert_string_equal(rel->name, OPTIONAL[k]);
        assert_false(rel->directed);
        assert_int_equal(rel->attr_width, 1);
        assert_string_equal(rel->attr_name, "weight");
        assert_non_null(rel->attr);
        bool cocomplex = strcmp(rel->name, "cocomplex") == 0;
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t e = 0; e < rel->n_edges; e++) {
            int32_t a = rel->src[e], b = rel->dst[e];
            assert_int_not_equal(a, b);
            if (e > 0) assert_true(rel->dst[e - 1] < b || (rel->dst[e - 1] == b && rel->src[e - 1] < a));
            /* stored both ways with the same weight */
            float back = edge_attr(rel, b, a);
            if (!(back == rel->attr[e])) fail_msg("%s: edge %d -> %d weight %g, reverse %g", rel->name, a, b, rel->attr[e], back);
            lo = fminf(lo, rel->attr[e]);
            hi = fmaxf(hi, rel->attr[e]);
            if (cocomplex) assert_float_equal(rel->attr[e], roundf(rel->attr[e]), 0);
        }
        if (cocomplex) {
            assert_float_equal(lo, 1.0f, 0);
            assert_float_equal(hi, 2.0f, 0); /* no pair shares more than two complexes */
        } else {
            assert_true(lo > 0.0f && hi <= 1.0f);
        }
    }
    /* single edges checked against the files: the first row of the STRING database channel is
     * "4 23 0.856000" (rows 4 and 23 of the genes file: Q0045, Q0250); Hu-2007's first row is
     * "YPL240C YMR186W 0.7795679050965174"; TPS1 and TPS2 share the trehalose synthase complexes CPX-582 and
     * CPX-583 */
    const cg_relation *db = cg_graph_relation(ALL, cg_graph_find_relation(ALL, "string9_database"));
    assert_float_equal(edge_attr(db, gene(ALL, "Q0045"), gene(ALL, "Q0250")), 0.856f, 1e-6);
    const cg_relation *co = cg_graph_relation(ALL, cg_graph_find_relation(ALL, "coexpression"));
    assert_float_equal(edge_attr(co, gene(ALL, "YMR186W"), gene(ALL, "YPL240C")), 0.7795679f, 1e-6);
    const cg_relation *cx = cg_graph_relation(ALL, cg_graph_find_relation(ALL, "cocomplex"));
    assert_float_equal(edge_attr(cx, gene(ALL, "YBR126C"), gene(ALL, "YDR074W")), 2.0f, 0);
}

/* ------------------------------------------------------------------ files */

/* Copies the graph file src to dst with metadata key `key` set to value (NULL: removed), tensor `drop`
 * left out (NULL: none) and tensors renamed by replacing the prefix from with to (NULL: none); when
 * patch is given, the first float of tensor patch_tensor becomes *patch. */
static void rewrite(const char *src, const char *dst, const char *key, const char *value, const char *drop,
                    const char *from, const char *to, const char *patch_tensor, const float *patch) {
    cg_safetensors *st = NULL;
    assert_int_equal(cg_safetensors_open(src, &st), CG_OK);
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    float *copy = NULL;
    for (int i = 0; i < cg_safetensors_count(st); i++) {
        cg_safetensors_info info;
        assert_int_equal(cg_safetensors_info_at(st, i, &info), CG_OK);
        if (drop && strcmp(info.name, drop) == 0) continue;
        const void *data = info.data;
        if (patch && strcmp(info.name, patch_tensor) == 0) {
            copy = malloc(info.nbytes);
            memcpy(copy, info.data, info.nbytes);
            copy[0] = *patch;
            data = copy;
        }
        char name[256];
        snprintf(name, sizeof name, "%s", info.name);
        if (from && strncmp(info.name, from, strlen(from)) == 0)
            snprintf(name, sizeof name, "%s%s", to, info.name + strlen(from));
        assert_int_equal(cg_safetensors_writer_add(&w, name, info.dtype, info.ndim, info.shape, data), CG_OK);
    }
    for (int i = 0; i < cg_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        assert_int_equal(cg_safetensors_metadata_at(st, i, &k, &v), CG_OK);
        if (strcmp(k, key) != 0) assert_int_equal(cg_safetensors_writer_set_metadata(&w, k, v), CG_OK);
    }
    if (value) assert_int_equal(cg_safetensors_writer_set_metadata(&w, key, value), CG_OK);
    assert_int_equal(cg_safetensors_writer_write(&w, dst), CG_OK);
    cg_safetensors_writer_free(&w);
    cg_safetensors_close(st);
    free(copy);
}

/* the "relations" metadata of a file with text `old` replaced by `new_text` */
static char *relations_with(const char *path, const char *old, const char *new_text) {
    cg_safetensors *st = NULL;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    const char *rel = cg_safetensors_metadata(st, "relations");
    assert_non_null(rel);
    const char *at = strstr(rel, old);
    assert_non_null(at);
    size_t n = strlen(rel) + strlen(new_text) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - rel), rel, new_text, at + strlen(old));
    cg_safetensors_close(st);
    return out;
}

static void expect_load_error(const char *path, const char *part1, const char *part2) {
    cg_graph *g = NULL;
    cg_status s = cg_graph_load(path, &g);
    if (s != CG_ERR_FORMAT) fail_msg("loading %s: status %d, expected CG_ERR_FORMAT (%s)", path, s, cg_last_error());
    assert_null(g);
    const char *msg = cg_last_error();
    if (!strstr(msg, path) || !strstr(msg, part1) || (part2 && !strstr(msg, part2)))
        fail_msg("error '%s' should name %s, '%s' and '%s'", msg, path, part1, part2 ? part2 : "");
}

static void test_file_roundtrip(void **state) {
    (void)state;
    NEED_DATA();
    char path[512];
    tu_temp_path(path, sizeof path, "graph_all.safetensors");
    assert_int_equal(cg_graph_save(ALL, path), CG_OK);
    cg_graph *l = NULL;
    if (cg_graph_load(path, &l) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_graph_num_relations(l), cg_graph_num_relations(ALL));
    for (int r = 0; r < cg_graph_num_relations(l); r++) {
        const cg_relation *a = cg_graph_relation(ALL, r), *b = cg_graph_relation(l, r);
        assert_relations_equal(a, b, cg_graph_num_nodes(l, a->dst_type));
        if (a->attr_width) assert_string_equal(a->attr_name, b->attr_name);
    }
    assert_int_equal(cg_graph_checksum(l), cg_graph_checksum(ALL));
    assert_string_equal(cg_graph_sources_json(l), cg_graph_sources_json(ALL));
    assert_int_equal(cg_graph_num_sources(l), cg_graph_num_sources(ALL));
    for (int i = 0; i < cg_graph_num_sources(l); i++)
        assert_memory_equal(cg_graph_source_at(l, i), cg_graph_source_at(ALL, i), sizeof(cg_graph_source));
    cg_graph_free(l);

    /* a file written before relations were data has no "relations" metadata: it holds the six defaults */
    char dpath[512], old[512];
    tu_temp_path(dpath, sizeof dpath, "graph_default.safetensors");
    tu_temp_path(old, sizeof old, "graph_old.safetensors");
    assert_int_equal(cg_graph_save(G, dpath), CG_OK);
    rewrite(dpath, old, "relations", NULL, NULL, NULL, NULL, NULL, NULL);
    if (cg_graph_load(old, &l) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_graph_num_relations(l), CG_RELATIONS);
    assert_int_equal(cg_graph_checksum(l), DEFAULT_CHECKSUM);
    assert_int_equal(cg_graph_relation(l, CG_REL_RMR)->attr_width, 1);
    assert_false(cg_graph_relation(l, CG_REL_PHYSICAL)->directed);
    cg_graph_free(l);
    /* ... and its "build" rows lack the newer counts, which read as 0 */
    rewrite(dpath, old, "build", "[{\"name\":\"physical: union (directed pairs)\",\"rows\":3,\"pairs\":2}]", NULL, NULL,
            NULL, NULL, NULL);
    if (cg_graph_load(old, &l) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_graph_num_sources(l), 1);
    assert_int_equal(cg_graph_source_at(l, 0)->rows, 3);
    assert_int_equal(cg_graph_source_at(l, 0)->self_pairs, 0);
    cg_graph_free(l);

    /* a relation this cellgraph does not know is kept as the file describes it */
    char *meta = relations_with(path, "{\"name\":\"cocomplex\"", "{\"name\":\"my_cocomplex\"");
    rewrite(path, old, "relations", meta, NULL, "cocomplex.", "my_cocomplex.", NULL, NULL);
    free(meta);
    if (cg_graph_load(old, &l) != CG_OK) fail_msg("%s", cg_last_error());
    int r = cg_graph_find_relation(l, "my_cocomplex");
    assert_int_equal(r, CG_RELATIONS + N_OPTIONAL - 1);
    assert_string_equal(cg_graph_relation(l, r)->attr_name, "weight");
    assert_int_equal(cg_graph_relation(l, r)->n_edges, 1086);
    cg_graph_free(l);

    /* validation: each error names the file and the relation */
    meta = relations_with(path, "\"name\":\"coexpression\",\"src\":\"gene\",\"dst\":\"gene\",\"directed\":false",
                          "\"name\":\"coexpression\",\"src\":\"gene\",\"dst\":\"gene\",\"directed\":true");
    rewrite(path, old, "relations", meta, NULL, NULL, NULL, NULL, NULL);
    free(meta);
    expect_load_error(old, "'coexpression'", "cellgraph knows it as");
    meta = relations_with(path, "\"name\":\"string9_fusion\",\"src\":\"gene\"", "\"name\":\"string9_fusion\",\"src\":\"protein\"");
    rewrite(path, old, "relations", meta, NULL, NULL, NULL, NULL, NULL);
    free(meta);
    expect_load_error(old, "'string9_fusion'", "unknown node type 'protein'");
    meta = relations_with(path, "{\"name\":\"physical\"", "{\"name\":\"regulatory\"");
    rewrite(path, old, "relations", meta, NULL, NULL, NULL, NULL, NULL);
    free(meta);
    expect_load_error(old, "'regulatory'", "expected the default relation 'physical'");
    meta = relations_with(path, "{\"name\":\"cocomplex\"", "{\"name\":\"coexpression\"");
    rewrite(path, old, "relations", meta, NULL, NULL, NULL, NULL, NULL);
    free(meta);
    expect_load_error(old, "'coexpression'", "listed twice");
    rewrite(path, old, "relations", "{\"physical\":1}", NULL, NULL, NULL, NULL, NULL);
    expect_load_error(old, "'relations'", "not a JSON array");
    /* a missing attribute tensor; an undirected relation whose first edge's weight differs from its reverse's */
    char *list = relations_with(path, "{", "{");
    rewrite(path, old, "relations", list, "cocomplex.weight", NULL, NULL, NULL, NULL);
    expect_load_error(old, "cocomplex.weight", "missing");
    const float asym = 0.5f;
    rewrite(path, old, "relations", list, NULL, NULL, NULL, "coexpression.weight", &asym);
    expect_load_error(old, "'coexpression'", "undirected");
    free(list);
    remove(old);
    remove(dpath);
    remove(path);
}

/* ------------------------------------------------------------------ malformed optional files */

/* Links every entry of src into dst (created), except along the path `replace` (relative to src): its
 * directories are made and the file itself is written with content (or left out when content is NULL). */
static void link_tree(const char *src, const char *dst, const char *replace, const char *content) {
    mkdir(dst, 0755);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
        char s[2048], t[2048];
        snprintf(s, sizeof s, "%s/%s", src, ent->d_name);
        snprintf(t, sizeof t, "%s/%s", dst, ent->d_name);
        size_t n = strlen(ent->d_name);
        unlink(t);
        if (replace && strncmp(replace, ent->d_name, n) == 0 && replace[n] == '/') {
            link_tree(s, t, replace + n + 1, content);
        } else if (replace && strcmp(replace, ent->d_name) == 0) {
            if (content) {
                FILE *f = fopen(t, "wb");
                fputs(content, f);
                fclose(f);
            }
        } else {
            assert_int_equal(symlink(s, t), 0);
        }
    }
    closedir(d);
}

static void fake_data(char *dir, size_t len, const char *replace, const char *content) {
    tu_temp_path(dir, len, "relations_data");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    link_tree(data_dir(), dir, replace, content);
}

static void remove_tree(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* the builder's merge rules on a small STRING channel: rows 1-3 of the genes file are Q0010, Q0017,
 * Q0032 (genes of the graph), row 1940 is YFL056C (not an ORF of the graph) */
static void test_merge_rules(void **state) {
    (void)state;
    NEED_DATA();
    const char *fusion = "1\t2\t0.5\n"      /* kept */
                         "2\t1\t0.5\n"      /* its mirror */
                         "1\t2\t0.5\n"      /* a duplicate */
                         "3\t3\t0.2\n"      /* a self pair */
                         "1\t3\t0.4\n"      /* kept ... */
                         "3 1 0.6\n"        /* ... mirrored with another weight: the larger is kept */
                         "\n"               /* blank lines are skipped */
                         "1940\t1\t0.3\n";  /* an unknown ORF */
    char dir[512];
    fake_data(dir, sizeof dir, "string/v9.1/yeast_string_fusion_adjacency.txt", fusion);
    const char *rel[] = {"string9_fusion"};
    cg_graph *g = NULL;
    if (cg_graph_build_ex(dir, "default", rel, 1, &g) != CG_OK) fail_msg("%s", cg_last_error());
    const cg_graph_source *s = source_named(g, "string9_fusion");
    assert_non_null(s);
    assert_int_equal(s->rows, 7);
    assert_int_equal(s->unresolved_rows, 1);
    assert_int_equal(s->unresolved_names, 1);
    assert_string_equal(s->examples, "YFL056C");
    assert_int_equal(s->self_pairs, 1);
    assert_int_equal(s->pairs, 2);
    assert_int_equal(s->mirrored, 2);
    assert_int_equal(s->duplicates, 1);
    assert_int_equal(s->weight_conflicts, 1);
    const cg_relation *f = cg_graph_relation(g, CG_RELATIONS);
    assert_int_equal(f->n_edges, 4);
    int32_t a = gene(g, "Q0010"), b = gene(g, "Q0017"), c = gene(g, "Q0032");
    assert_float_equal(edge_attr(f, a, b), 0.5f, 0);
    assert_float_equal(edge_attr(f, b, a), 0.5f, 0);
    assert_float_equal(edge_attr(f, a, c), 0.6f, 0);
    assert_float_equal(edge_attr(f, c, a), 0.6f, 0);
    assert_int_equal(cg_graph_checksum(g) == DEFAULT_CHECKSUM, 0);
    cg_graph_free(g);
    remove_tree(dir);
}

static void expect_build_error(const char *dir, const char *relation, cg_status want, const char *file,
                               const char *part) {
    const char *rel[] = {relation};
    cg_graph *g = NULL;
    cg_status s = cg_graph_build_ex(dir, "default", rel, 1, &g);
    if (s != want) fail_msg("%s: status %d, expected %d (%s)", relation, s, want, cg_last_error());
    assert_null(g);
    if (!strstr(cg_last_error(), file) || !strstr(cg_last_error(), part))
        fail_msg("error '%s' should name '%s' and '%s'", cg_last_error(), file, part);
}

static void test_malformed_files(void **state) {
    (void)state;
    NEED_DATA();
    char dir[512];
    /* through the graph build: a malformed row of an optional file names the file and the line */
    fake_data(dir, sizeof dir, "coexpression/Hu-2007.txt", "YPL240C YMR186W 0.77\nYOR045W YDL061C\n");
    expect_build_error(dir, "coexpression", CG_ERR_FORMAT, "coexpression/Hu-2007.txt", "line 2");
    fake_data(dir, sizeof dir, "coexpression/Hu-2007.txt", NULL);
    expect_build_error(dir, "coexpression", CG_ERR_IO, "Hu-2007.txt", "cannot open");
    remove_tree(dir);

    /* the readers on their own, on files in a temporary folder */
    cg_genes *genes = NULL;
    char path[1024], gpath[1024], tmp[512];
    snprintf(path, sizeof path, "%s/sgd/SGD_features.tab", data_dir());
    assert_int_equal(cg_genes_load(path, &genes), CG_OK);
    tu_temp_path(tmp, sizeof tmp, "relations_files");
    mkdir(tmp, 0755);
    snprintf(gpath, sizeof gpath, "%s/genes.txt", tmp);
    snprintf(path, sizeof path, "%s/adjacency.txt", tmp);
    const struct {
        const char *genes, *rows, *part;
        bool in_genes; /* the error is about the genes file */
    } string9[] = {
        {"YAL001C\nYAL002W\n", "1 2 0.5\n2 1\n", "line 2: expected 3 fields", false},
        {"YAL001C\nYAL002W\n", "1 2 0.5\n2 3 0.5\n", "line 2: gene row '3' is not a row number", false},
        {"YAL001C\nYAL002W\n", "0 1 0.5\n", "line 1: gene row '0'", false},
        {"YAL001C\nYAL002W\n", "1 2 0.5\n2 1 1.5\n", "line 2: weight '1.5'", false},
        {"YAL001C\nYAL002W\n", "1 2 x\n", "line 1: weight 'x'", false},
        {"YAL001C\n\nYAL002W\n", "1 3 0.5\n", "line 2: expected one ORF name per line", true},
    };
    for (size_t i = 0; i < sizeof string9 / sizeof string9[0]; i++) {
        FILE *f = fopen(gpath, "w");
        fputs(string9[i].genes, f);
        fclose(f);
        f = fopen(path, "w");
        fputs(string9[i].rows, f);
        fclose(f);
        cg_weighted_pairs l;
        cg_weighted_pairs_init(&l);
        assert_int_equal(cg_weighted_pairs_push(&l, 0, 1, 1.0f), CG_OK);
        assert_int_equal(cg_read_string9_channel(path, gpath, genes, &l, NULL), CG_ERR_FORMAT);
        assert_int_equal(l.n, 1); /* rolled back to what it held */
        if (!strstr(cg_last_error(), string9[i].in_genes ? gpath : path) || !strstr(cg_last_error(), string9[i].part))
            fail_msg("case %zu: '%s' should name the file and '%s'", i, cg_last_error(), string9[i].part);
        cg_weighted_pairs_free(&l);
    }
    /* a well-formed small channel: the reader appends every resolved row as written */
    FILE *f = fopen(gpath, "w");
    fputs("YAL001C\nNOT_A_GENE\nYAL002W", f); /* no newline at the end */
    fclose(f);
    f = fopen(path, "w");
    fputs("1\t3\t0.25\n3 1 0.25\n2 1 0.5\n1 1 1\n", f);
    fclose(f);
    cg_weighted_pairs l;
    cg_weighted_pairs_init(&l);
    cg_source_stats st;
    assert_int_equal(cg_read_string9_channel(path, gpath, genes, &l, &st), CG_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.pairs, 3);
    assert_int_equal(st.unresolved_rows, 1);
    assert_int_equal(st.unresolved_names, 1);
    assert_string_equal(st.examples[0], "NOT_A_GENE");
    assert_string_equal(st.source, "string9:adjacency.txt");
    assert_float_equal(l.w[0], 0.25f, 0);
    cg_weighted_pairs_free(&l);

    /* Complex Portal: header, column count, member syntax */
    const char *header = "#Complex ac\tRecommended name\tExpanded participant list\n";
    const struct {
        const char *text, *part;
    } cpx[] = {
        {"CPX-1\tA\tP00401(1)|P00856(0)\n", "line 1: expected the Complex Portal header"},
        {"#Complex ac\tRecommended name\tMembers\n", "no column 'Expanded participant list'"},
        {"CPX-1\tA\tP00401(1)\nCPX-2\tB\n", "line 3: expected 3 tab-separated columns, found 2"},
        {"CPX-1\tA\tP00401(1)|P00856\n", "line 2: member 'P00856'"},
        {"CPX-1\tA\tP00401(x)\n", "line 2: member 'P00401(x)'"},
        {"CPX-1\tA\t[P00401,P00856(1)\n", "line 2: member set '[P00401,P00856'"},
    };
    cg_uniprot_map *map = NULL;
    char gem[1024];
    snprintf(gem, sizeof gem, "%s/yeast-gem/yeast-GEM.yml", data_dir());
    assert_int_equal(cg_uniprot_map_from_gem(gem, genes, &map, &st), CG_OK);
    assert_int_equal(cg_uniprot_map_count(map), 1161);
    assert_int_equal(cg_uniprot_map_gene(map, "P00401"), cg_genes_index_of_systematic(genes, "Q0045")); /* COX1 */
    assert_int_equal(cg_uniprot_map_gene(map, "P32797"), -1);
    for (size_t i = 0; i < sizeof cpx / sizeof cpx[0]; i++) {
        f = fopen(path, "w");
        if (i >= 2) fputs(header, f);
        fputs(cpx[i].text, f);
        fclose(f);
        cg_weighted_pairs_init(&l);
        assert_int_equal(cg_read_complex_portal(path, map, &l, NULL), CG_ERR_FORMAT);
        assert_int_equal(l.n, 0);
        if (!strstr(cg_last_error(), path) || !strstr(cg_last_error(), cpx[i].part))
            fail_msg("case %zu: '%s' should name the file and '%s'", i, cg_last_error(), cpx[i].part);
        cg_weighted_pairs_free(&l);
    }
    /* members: an isoform maps by its accession, a set of alternatives adds each, non-proteins are skipped */
    f = fopen(path, "w");
    fputs(header, f);
    fputs("CPX-1\tA\tP00401-PRO_1(1)|[P00856,P00854](0)|CHEBI:15422(2)|Q99999(1)\n", f);
    fputs("CPX-2\tB\tP00401(1)\n", f);
    fclose(f);
    cg_weighted_pairs_init(&l);
    assert_int_equal(cg_read_complex_portal(path, map, &l, &st), CG_OK);
    assert_int_equal(st.rows, 2);
    assert_int_equal(l.n, 3); /* COX1, ATP8, ATP6: three pairs */
    assert_int_equal(st.pairs, 3);
    assert_int_equal(st.unresolved_rows, 1);
    assert_string_equal(st.examples[0], "Q99999");
    assert_int_equal(st.dropped_columns, 1);
    assert_int_equal(st.skipped_other, 1);
    for (int64_t k = 0; k < l.n; k++) assert_true(l.a[k] < l.b[k] && l.w[k] == 1.0f);
    cg_weighted_pairs_free(&l);
    /* a uniprot annotation without a gene id */
    f = fopen(path, "w");
    fputs("- genes:\n    - !!omap\n      - name: \"X\"\n      - annotation: !!omap\n          - uniprot: \"P1\"\n", f);
    fclose(f);
    cg_uniprot_map *m2 = NULL;
    assert_int_equal(cg_uniprot_map_from_gem(path, genes, &m2, NULL), CG_ERR_FORMAT);
    assert_null(m2);
    assert_non_null(strstr(cg_last_error(), "line 5"));
    cg_uniprot_map_free(map);
    cg_genes_free(genes);
    remove(path);
    remove(gpath);
    rmdir(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_table), cmocka_unit_test(test_default_unchanged),
        cmocka_unit_test(test_optional_counts),  cmocka_unit_test(test_symmetry_and_weights),
        cmocka_unit_test(test_file_roundtrip),   cmocka_unit_test(test_merge_rules),
        cmocka_unit_test(test_malformed_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
