/* The table of every relation cellgraph knows (include/cellgraph/graph.h): the one place that names
 * relations and their node types. The graph builder, the graph file and the models read it from here. */
#include <string.h>

#include "graph/graph_internal.h"

static const cg_relation_desc DESCS[] = {
    /* the defaults, at their CG_REL_* index */
    {"physical", CG_GENE, CG_GENE, false, 0, NULL, true,
     "STRING v11 binding U Krogan 2006 U Tarassov 2008 (undirected)"},
    {"regulatory", CG_GENE, CG_GENE, true, 0, NULL, true, "YEASTRACT TF -> target (recipe: 2020 or 2013 table)"},
    {"gpr", CG_GENE, CG_REACTION, true, 0, NULL, true, "yeast-GEM gene rules: gene -> reaction node of its AND-term"},
    {"gpr_rev", CG_REACTION, CG_GENE, true, 0, NULL, true, "the reverse of gpr"},
    {"rmr", CG_REACTION, CG_METABOLITE, true, 1, "stoichiometry", true,
     "yeast-GEM stoichiometry: reaction node -> species, signed coefficient"},
    {"rmr_rev", CG_METABOLITE, CG_REACTION, true, 1, "stoichiometry", true, "the reverse of rmr, same attribute"},
    /* optional gene-gene relations (DESIGN section 2), built on request */
    {"string9_database", CG_GENE, CG_GENE, false, 1, "weight", false,
     "STRING v9.1 database channel (DANGO's adjacency), weight = score in (0, 1]"},
    {"string9_neighborhood", CG_GENE, CG_GENE, false, 1, "weight", false,
     "STRING v9.1 neighborhood channel (DANGO's adjacency), weight = score in (0, 1]"},
    {"string9_fusion", CG_GENE, CG_GENE, false, 1, "weight", false,
     "STRING v9.1 fusion channel (DANGO's adjacency), weight = score in (0, 1]"},
    {"string9_cooccurence", CG_GENE, CG_GENE, false, 1, "weight", false,
     "STRING v9.1 cooccurence channel (DANGO's adjacency), weight = score in (0, 1]"},
    {"coexpression", CG_GENE, CG_GENE, false, 1, "weight", false, "Hu et al. 2007 co-expression, weight in (0, 1]"},
    {"cocomplex", CG_GENE, CG_GENE, false, 1, "weight", false,
     "Complex Portal 2022 co-membership, weight = number of shared complexes (UniProt via yeast-GEM genes)"},
};

_Static_assert(sizeof DESCS / sizeof DESCS[0] <= CG_MAX_RELATIONS, "every known relation must fit in a graph");

const cg_relation_desc *cg_relation_descs(int *n) {
    if (n) *n = (int)(sizeof DESCS / sizeof DESCS[0]);
    return DESCS;
}

const cg_relation_desc *cg_relation_desc_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof DESCS / sizeof DESCS[0]; i++)
        if (strcmp(name, DESCS[i].name) == 0) return &DESCS[i];
    return NULL;
}

int cg_graph_relation_index(const char *name) {
    const cg_relation_desc *d = cg_relation_desc_find(name);
    return d && d->builtin ? (int)(d - DESCS) : -1;
}

int cg_graph_num_relations(const cg_graph *g) { return g->n_relations; }

const cg_relation *cg_graph_relation(const cg_graph *g, int rel) {
    return rel >= 0 && rel < g->n_relations ? &g->rel[rel] : NULL;
}

int64_t cg_graph_metabolic_genes(const cg_graph *g, int32_t *out) {
    const cg_relation *gpr = cg_graph_relation(g, CG_REL_GPR_REV);
    int64_t n = 0;
    for (int64_t i = 0; i < cg_graph_num_nodes(g, CG_GENE); i++)
        if (gpr->rowptr[i + 1] > gpr->rowptr[i]) out[n++] = (int32_t)i;
    return n;
}

int cg_graph_find_relation(const cg_graph *g, const char *name) {
    if (!name) return -1;
    for (int r = 0; r < g->n_relations; r++)
        if (strcmp(g->rel[r].name, name) == 0) return r;
    return -1;
}
