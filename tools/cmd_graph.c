/* cellgraph graph build | info | delete */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cellgraph/deletion.h"
#include "cellgraph/genes.h"
#include "cellgraph/graph.h"
#include "cli.h"

/* "(gene, physical, gene)" */
static void relation_label(const cg_relation *rel, char *buf, size_t len) {
    snprintf(buf, len, "(%s, %s, %s)", cg_node_type_name(rel->src_type), rel->name, cg_node_type_name(rel->dst_type));
}

/* Splits the comma-separated --relations list in place into names[] (at most max); -1 when too many or
 * an empty name. */
static int split_relations(char *list, const char **names, int max) {
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        size_t k = strlen(tok);
        while (k > 0 && tok[k - 1] == ' ') tok[--k] = '\0';
        if (k == 0 || n == max) return -1;
        names[n++] = tok;
    }
    return n;
}

enum { OPT_DATA = 256, OPT_RECIPE, OPT_RELATIONS, OPT_GRAPH };

static int graph_build(int argc, char **argv) {
    const char *data = NULL, *recipe = "default", *out = cli_default_graph_path(), *relations = NULL;
    static const struct option LONG[] = {{"data", required_argument, NULL, OPT_DATA},
                                         {"recipe", required_argument, NULL, OPT_RECIPE},
                                         {"relations", required_argument, NULL, OPT_RELATIONS},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, "graph build", argc, argv, "ho:", LONG);
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_DATA: data = o.arg; break;
        case OPT_RECIPE: recipe = o.arg; break;
        case OPT_RELATIONS: relations = o.arg; break;
        case 'o': out = o.arg; break;
        case 'h': return CLI_HELP;
        case CLI_ARG: return cli_unexpected(&o);
        default: return 2;
        }
    }
    if (!cg_recipe_known(recipe)) {
        fprintf(stderr, "cellgraph graph build: unknown recipe '%s' (known: default, yeastract2013)\n", recipe);
        return 2;
    }
    char list[1024];
    const char *names[2 * CG_MAX_RELATIONS];
    int n_names = 0;
    if (relations) {
        snprintf(list, sizeof list, "%s", relations);
        n_names = split_relations(list, names, 2 * CG_MAX_RELATIONS);
        if (n_names < 0 || strlen(relations) >= sizeof list) {
            fprintf(stderr, "cellgraph graph build: --relations takes a comma-separated list of relation names "
                            "(or all), got '%s'\n", relations);
            return 2;
        }
        for (int k = 0; k < n_names; k++)
            if (strcmp(names[k], "all") != 0 && !cg_relation_desc_find(names[k])) {
                int n_known = 0;
                const cg_relation_desc *known = cg_relation_descs(&n_known);
                fprintf(stderr, "cellgraph graph build: unknown relation '%s'; optional relations:\n", names[k]);
                for (int j = 0; j < n_known; j++)
                    if (!known[j].builtin) fprintf(stderr, "  %-22s %s\n", known[j].name, known[j].source);
                fprintf(stderr, "  %-22s every one of them\n", "all");
                return 2;
            }
    }
    char dir[4096];
    if (cg_data_dir(data, dir, sizeof dir) != CG_OK) return cli_fail();
    double t0 = cli_now();
    cg_graph *g = NULL;
    if (cg_graph_build_ex(dir, recipe, names, n_names, &g) != CG_OK) return cli_fail();
    double t1 = cli_now();
    if (cg_graph_save(g, out) != CG_OK) {
        cg_graph_free(g);
        return cli_fail();
    }
    printf("built the cell graph from %s (recipe %s) in %.2f s\n", dir, recipe, t1 - t0);
    for (int t = 0; t < CG_NODE_TYPES; t++)
        printf("  %-10s %8lld nodes\n", cg_node_type_name(t), (long long)cg_graph_num_nodes(g, t));
    for (int r = 0; r < cg_graph_num_relations(g); r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        char name[128];
        relation_label(rel, name, sizeof name);
        printf("  %s %lld edges%s\n", name, (long long)rel->n_edges, r >= CG_RELATIONS ? " (optional)" : "");
    }
    printf("wrote %s (checksum %08x)\n", out, cg_graph_checksum(g));
    cg_graph_free(g);
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int graph_info(int argc, char **argv) {
    const char *path = NULL;
    static const struct option LONG[] = {{"help", no_argument, NULL, 'h'}, {0}};
    cli_opts o;
    cli_opts_init(&o, "graph info", argc, argv, "h", LONG);
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case 'h': return CLI_HELP;
        case CLI_ARG:
            if (path) return cli_unexpected(&o); /* one file */
            path = o.arg;
            break;
        default: return 2;
        }
    }
    if (!path) path = cli_default_graph_path();
    double t0 = cli_now();
    cg_graph *g = NULL;
    if (cg_graph_load(path, &g) != CG_OK) return cli_fail();
    double t1 = cli_now();
    printf("%s: cell graph, recipe %s, checksum %08x (loaded in %.1f ms)\n\n", path, cg_graph_recipe(g),
           cg_graph_checksum(g), (t1 - t0) * 1e3);
    printf("%-12s %10s\n", "node type", "nodes");
    for (int t = 0; t < CG_NODE_TYPES; t++)
        printf("%-12s %10lld\n", cg_node_type_name(t), (long long)cg_graph_num_nodes(g, t));
    printf("\n%-44s %9s %-10s %-26s  in-degree of destinations: %s\n", "relation", "edges", "kind", "attribute",
           "min  p25  p50  p75  p90  p99   max  zero");
    int64_t maxn = 0;
    for (int t = 0; t < CG_NODE_TYPES; t++) maxn = cg_graph_num_nodes(g, t) > maxn ? cg_graph_num_nodes(g, t) : maxn;
    int64_t *deg = malloc((size_t)(maxn + 1) * sizeof *deg);
    if (!deg) {
        cg_graph_free(g);
        cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
        return cli_fail();
    }
    for (int r = 0; r < cg_graph_num_relations(g); r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        int64_t n = cg_graph_num_nodes(g, rel->dst_type), zero = 0;
        deg[0] = 0; /* the quantiles of a node type without nodes read 0 */
        for (int64_t d = 0; d < n; d++) zero += (deg[d] = rel->rowptr[d + 1] - rel->rowptr[d]) == 0;
        qsort(deg, (size_t)n, sizeof *deg, cmp_i64);
#define Q(p) (long long)deg[n > 0 ? (int64_t)((p) * (n - 1)) : 0]
        char name[128], attr[96] = "-";
        relation_label(rel, name, sizeof name);
        if (rel->attr_width > 0 && rel->n_edges > 0) {
            /* the attribute's range over all edges */
            float lo = rel->attr[0], hi = rel->attr[0];
            for (int64_t e = 1; e < rel->n_edges * rel->attr_width; e++) {
                lo = rel->attr[e] < lo ? rel->attr[e] : lo;
                hi = rel->attr[e] > hi ? rel->attr[e] : hi;
            }
            snprintf(attr, sizeof attr, "%s[%d] %.3g..%.3g", rel->attr_name, rel->attr_width, lo, hi);
        } else if (rel->attr_width > 0) {
            snprintf(attr, sizeof attr, "%s[%d] -", rel->attr_name, rel->attr_width);
        }
        printf("%-44s %9lld %-10s %-26s  %30lld %4lld %4lld %4lld %4lld %4lld %5lld %5lld\n", name,
               (long long)rel->n_edges, rel->directed ? "directed" : "undirected", attr, Q(0), Q(0.25), Q(0.5),
               Q(0.75), Q(0.9), Q(0.99), Q(1), (long long)zero);
#undef Q
    }
    free(deg);
    /* genes with no edge at all (in or out, any relation) */
    int64_t ng = cg_graph_num_nodes(g, CG_GENE), isolated = 0;
    char *touched = calloc((size_t)ng + 1, 1);
    if (!touched) {
        cg_graph_free(g);
        cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
        return cli_fail();
    }
    for (int r = 0; r < cg_graph_num_relations(g); r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        for (int64_t e = 0; e < rel->n_edges; e++) {
            if (rel->src_type == CG_GENE) touched[rel->src[e]] = 1;
            if (rel->dst_type == CG_GENE) touched[rel->dst[e]] = 1;
        }
    }
    printf("\nisolated genes (no edge in any relation): ");
    for (int64_t i = 0; i < ng; i++) isolated += !touched[i];
    printf("%lld", (long long)isolated);
    int shown = 0;
    for (int64_t i = 0; i < ng && shown < 8; i++)
        if (!touched[i]) printf("%s%s", shown++ ? ", " : " (e.g. ", cg_graph_node_name(g, CG_GENE, i));
    printf("%s\n", shown ? ", ...)" : "");
    free(touched);
    /* dropped = YEASTRACT "Uncharacterized" columns, cocomplex non-protein members; skipped = STRING v11 rows of
     * other modes, YEASTRACT 1-cells in dropped columns, cocomplex complexes with fewer than two mapped genes */
    printf("\n%-48s %9s %9s %10s %11s %8s %8s %9s %8s %8s %9s  %s\n", "source", "rows", "pairs", "unres.rows",
           "unres.names", "dropped", "skipped", "self", "dup", "mirror", "edges", "unresolved examples");
    for (int i = 0; i < cg_graph_num_sources(g); i++) {
        const cg_graph_source *s = cg_graph_source_at(g, i);
        printf("%-48s %9lld %9lld %10lld %11lld %8lld %8lld %9lld %8lld %8lld %9lld  %s\n", s->name, (long long)s->rows,
               (long long)s->pairs, (long long)s->unresolved_rows, (long long)s->unresolved_names,
               (long long)s->dropped_columns, (long long)s->skipped_other, (long long)s->self_pairs,
               (long long)s->duplicates, (long long)s->mirrored, (long long)s->edges, s->examples);
        if (s->weight_conflicts)
            printf("%-48s %lld pairs listed with different weights (the largest kept)\n", "",
                   (long long)s->weight_conflicts);
    }
    printf("\nsource files: %s\n", cg_graph_sources_json(g));
    cg_graph_free(g);
    return 0;
}

static int graph_delete(int argc, char **argv) {
    const char *path = cli_default_graph_path();
    const char *names[64];
    int n = 0;
    static const struct option LONG[] = {{"graph", required_argument, NULL, OPT_GRAPH},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, "graph delete", argc, argv, "h", LONG);
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_GRAPH: path = o.arg; break;
        case 'h': return CLI_HELP;
        case CLI_ARG:
            if (n == 64) {
                fprintf(stderr, "cellgraph graph delete: at most 64 genes\n");
                return 2;
            }
            names[n++] = o.arg;
            break;
        default: return 2;
        }
    }
    if (n == 0) {
        fprintf(stderr, "usage: cellgraph graph delete [--graph FILE] GENE [GENE ...]\n");
        return 2;
    }
    cg_graph *g = NULL;
    if (cg_graph_load(path, &g) != CG_OK) return cli_fail();
    cg_genes *genes = NULL;
    if (cg_graph_genes(g, &genes) != CG_OK) {
        cg_graph_free(g);
        return cli_fail();
    }
    int32_t idx[64];
    for (int k = 0; k < n; k++)
        if (cg_genes_resolve(genes, names[k], &idx[k]) != CG_OK) {
            cg_genes_free(genes);
            cg_graph_free(g);
            return cli_fail();
        }
    uint64_t *block = malloc((size_t)cg_deletion_words(g) * sizeof *block);
    if (!block || cg_deletion_compute(g, idx, n, block) != CG_OK) {
        free(block);
        cg_genes_free(genes);
        cg_graph_free(g);
        return cli_fail();
    }
    cg_dead_view d = cg_deletion_view(g, block);
    printf("dead genes: %lld\n", (long long)cg_deletion_count(g, CG_GENE, d));
    for (int64_t i = 0; i < cg_graph_num_nodes(g, CG_GENE); i++)
        if (cg_bit_get(d.node[CG_GENE], i))
            printf("  %s %s\n", cg_graph_node_name(g, CG_GENE, i), cg_graph_gene_standard_name(g, (int32_t)i));
    printf("dead reaction nodes: %lld\n", (long long)cg_deletion_count(g, CG_REACTION, d));
    for (int64_t i = 0; i < cg_graph_num_nodes(g, CG_REACTION); i++)
        if (cg_bit_get(d.node[CG_REACTION], i)) {
            const int32_t *tg;
            int64_t nt;
            cg_graph_reaction_genes(g, i, &tg, &nt);
            printf("  %-22s %-8s %s  [", cg_graph_node_name(g, CG_REACTION, i), cg_graph_reaction_id(g, i),
                   cg_graph_reaction_name(g, i));
            for (int64_t k = 0; k < nt; k++) printf("%s%s", k ? " and " : "", cg_graph_node_name(g, CG_GENE, tg[k]));
            printf("]\n");
        }
    printf("dead metabolites: 0 (metabolites never die)\n");
    printf("edges removed:\n");
    for (int r = 0; r < cg_graph_num_relations(g); r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        printf("  %-20s %8lld of %lld\n", rel->name, (long long)cg_deletion_removed_edges(g, r, d),
               (long long)rel->n_edges);
    }
    free(block);
    cg_genes_free(genes);
    cg_graph_free(g);
    return 0;
}

int cmd_graph(int argc, char **argv) {
    static const struct option LONG[] = {{"help", no_argument, NULL, 'h'}, {0}};
    cli_opts o;
    cli_opts_init(&o, "graph", argc, argv, "h", LONG);
    const int c = cli_opts_next(&o);
    if (c == 'h') return CLI_HELP;
    if (c == CLI_BAD) return 2;
    if (c == CLI_DONE) {
        fprintf(stderr, "usage: cellgraph graph build|info|delete ... (see cellgraph graph --help)\n");
        return 2;
    }
    /* the subcommand: the arguments from it on are its own */
    const int k = o.next - 1;
    if (strcmp(o.arg, "build") == 0) return graph_build(argc - k, argv + k);
    if (strcmp(o.arg, "info") == 0) return graph_info(argc - k, argv + k);
    if (strcmp(o.arg, "delete") == 0) return graph_delete(argc - k, argv + k);
    fprintf(stderr, "cellgraph graph: unknown subcommand '%s' (build, info, delete)\n", o.arg);
    return 2;
}
