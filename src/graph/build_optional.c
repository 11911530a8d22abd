/* The optional gene-gene relations of the cell graph (include/cellgraph/graph.h), built on request after
 * the defaults: each reads its file (cellgraph/weighted_sources.h), merges the rows into undirected
 * pairs, and stores every pair both ways with its weight as a 1-wide edge attribute.
 *
 * Merging, per unordered pair {a, b} of distinct genes: rows with a == b are dropped (self pairs); of
 * the rows naming the pair, the first is kept, one listing in the other orientation is its mirror (the
 * STRING v9.1 files list every pair both ways), any other is a duplicate. The weight is the largest
 * listed (the listings agree on the shared data; disagreements are counted), except for cocomplex, whose
 * reader gives one row of weight 1 per complex and pair: there the weight is the sum, the number of
 * complexes holding both genes.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/sources.h"
#include "cellgraph/weighted_sources.h"
#include "graph/graph_internal.h"

typedef enum source_kind { SRC_STRING9, SRC_COEXPRESSION, SRC_COCOMPLEX } source_kind;

/* where each optional relation of the descriptor table comes from, relative to the data folder */
static const struct {
    const char *relation;
    source_kind kind;
    const char *path;
} OPTIONAL_SOURCES[] = {
    {"string9_database", SRC_STRING9, "string/v9.1/yeast_string_database_adjacency.txt"},
    {"string9_neighborhood", SRC_STRING9, "string/v9.1/yeast_string_neighborhood_adjacency.txt"},
    {"string9_fusion", SRC_STRING9, "string/v9.1/yeast_string_fusion_adjacency.txt"},
    {"string9_cooccurence", SRC_STRING9, "string/v9.1/yeast_string_cooccurence_adjacency.txt"},
    {"coexpression", SRC_COEXPRESSION, "coexpression/Hu-2007.txt"},
    {"cocomplex", SRC_COCOMPLEX, "yeast-gem/Yeast_complex_portal_2022.tsv"},
};

#define STRING9_GENES "string/v9.1/yeast_string_genes.txt"
#define GEM_MODEL "yeast-gem/yeast-GEM.yml"

/* records a file's size and CRC-32 once in the build's file list */
static cg_status checksum_once(const char *data_dir, const char *rel_path, cJSON *files) {
    if (cJSON_GetObjectItemCaseSensitive(files, rel_path)) return CG_OK;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, rel_path);
    return cg_graph_file_checksum(path, files, rel_path);
}

/* one row read, as an unordered pair */
typedef struct upair {
    int32_t lo, hi;
    float w;
    uint8_t rev; /* 1 when the row named hi first */
} upair;

static int upair_cmp(const void *a, const void *b) {
    const upair *x = a, *y = b;
    if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
    if (x->hi != y->hi) return x->hi < y->hi ? -1 : 1;
    return (x->rev > y->rev) - (x->rev < y->rev);
}

/* Merges the rows of l into pairs (see the top of this file), stores them both ways as relation r of g
 * described by d, and fills the merge counts of row. */
static cg_status store_pairs(cg_graph *g, int r, const cg_relation_desc *d, const cg_weighted_pairs *l, bool sum,
                             cg_graph_source *row) {
    upair *u = malloc(((size_t)l->n + 1) * sizeof *u);
    if (!u) return cg_error(CG_ERR_NOMEM, "graph: out of memory");
    int64_t n = 0;
    for (int64_t i = 0; i < l->n; i++) {
        if (l->a[i] == l->b[i]) {
            row->self_pairs++;
            continue;
        }
        bool rev = l->a[i] > l->b[i];
        u[n++] = (upair){.lo = rev ? l->b[i] : l->a[i], .hi = rev ? l->a[i] : l->b[i], .w = l->w[i], .rev = rev};
    }
    qsort(u, (size_t)n, sizeof *u, upair_cmp);
    int64_t m = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        bool fwd = false, bwd = false, conflict = false;
        float w = u[i].w, total = 0.0f;
        for (; j < n && u[j].lo == u[i].lo && u[j].hi == u[i].hi; j++) {
            fwd |= !u[j].rev;
            bwd |= u[j].rev;
            conflict |= u[j].w != u[i].w;
            w = u[j].w > w ? u[j].w : w;
            total += u[j].w;
        }
        int64_t mirror = !sum && fwd && bwd ? 1 : 0;
        row->mirrored += mirror;
        row->duplicates += j - i - 1 - mirror;
        row->weight_conflicts += !sum && conflict;
        u[m++] = (upair){.lo = u[i].lo, .hi = u[i].hi, .w = sum ? total : w};
        i = j;
    }
    cg_graph_edge *e = malloc(((size_t)2 * m + 1) * sizeof *e);
    if (!e) {
        free(u);
        return cg_error(CG_ERR_NOMEM, "graph: out of memory");
    }
    for (int64_t k = 0; k < m; k++) {
        e[2 * k] = (cg_graph_edge){.dst = u[k].hi, .src = u[k].lo, .attr = u[k].w};
        e[2 * k + 1] = (cg_graph_edge){.dst = u[k].lo, .src = u[k].hi, .attr = u[k].w};
    }
    free(u);
    cg_status s = cg_graph_make_relation(g, r, d, e, 2 * m, false, NULL, NULL);
    free(e);
    row->pairs = m;
    row->edges = 2 * m;
    return s;
}

/* Reads the source of optional relation d into l and st (and, for cocomplex, adds the UniProt map's row). */
static cg_status read_source(cg_graph *g, const char *data_dir, const cg_genes *genes, const cg_relation_desc *d,
                             cJSON *files, cg_weighted_pairs *l, cg_source_stats *st, bool *sum) {
    int k = -1;
    for (size_t i = 0; i < sizeof OPTIONAL_SOURCES / sizeof OPTIONAL_SOURCES[0] && k < 0; i++)
        if (strcmp(OPTIONAL_SOURCES[i].relation, d->name) == 0) k = (int)i;
    if (k < 0) return cg_error(CG_ERR_INVALID_ARG, "graph: no source is known for relation '%s'", d->name);
    char path[4096], aux[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, OPTIONAL_SOURCES[k].path);
    cg_status s = CG_OK;
    *sum = false;
    switch (OPTIONAL_SOURCES[k].kind) {
    case SRC_STRING9:
        snprintf(aux, sizeof aux, "%s/%s", data_dir, STRING9_GENES);
        s = cg_read_string9_channel(path, aux, genes, l, st);
        if (s == CG_OK) s = checksum_once(data_dir, STRING9_GENES, files);
        break;
    case SRC_COEXPRESSION:
        s = cg_read_coexpression(path, genes, l, st);
        break;
    case SRC_COCOMPLEX: {
        cg_uniprot_map *map = NULL;
        cg_source_stats mst;
        snprintf(aux, sizeof aux, "%s/%s", data_dir, GEM_MODEL);
        s = cg_uniprot_map_from_gem(aux, genes, &map, &mst);
        if (s == CG_OK) s = checksum_once(data_dir, GEM_MODEL, files);
        cg_graph_source *row = s == CG_OK ? cg_graph_add_source(g, &mst) : NULL;
        if (s == CG_OK && !row) s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
        if (row) snprintf(row->name, sizeof row->name, "cocomplex: UniProt -> gene (yeast-GEM genes)");
        if (s == CG_OK) s = cg_read_complex_portal(path, map, l, st);
        cg_uniprot_map_free(map);
        *sum = true;
        break;
    }
    }
    if (s == CG_OK) s = checksum_once(data_dir, OPTIONAL_SOURCES[k].path, files);
    return s;
}

cg_status cg_graph_build_optional(cg_graph *g, const char *data_dir, const cg_genes *genes, const bool *want,
                                  cJSON *files) {
    int n_known = 0;
    const cg_relation_desc *known = cg_relation_descs(&n_known);
    cg_status s = CG_OK;
    for (int k = 0; k < n_known && s == CG_OK; k++) {
        if (!want[k] || known[k].builtin) continue;
        if (g->n_relations >= CG_MAX_RELATIONS)
            return cg_error(CG_ERR_INVALID_ARG, "graph: more than %d relations", CG_MAX_RELATIONS);
        cg_weighted_pairs l;
        cg_weighted_pairs_init(&l);
        cg_source_stats st;
        memset(&st, 0, sizeof st);
        bool sum = false;
        s = read_source(g, data_dir, genes, &known[k], files, &l, &st, &sum);
        cg_graph_source *row = s == CG_OK ? cg_graph_add_source(g, &st) : NULL;
        if (s == CG_OK && !row) s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
        if (s == CG_OK) {
            snprintf(row->name, sizeof row->name, "%s", known[k].name);
            s = store_pairs(g, g->n_relations, &known[k], &l, sum, row);
        }
        if (s == CG_OK) g->n_relations++;
        cg_weighted_pairs_free(&l);
    }
    return s;
}
