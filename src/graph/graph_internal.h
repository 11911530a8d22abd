/* Internal layout of cg_graph, shared by graph.c (storage, accessors) and build.c (construction). */
#ifndef CG_GRAPH_INTERNAL_H
#define CG_GRAPH_INTERNAL_H

#include "cellgraph/graph.h"
#include "cellgraph/safetensors.h"

/* n NUL-terminated strings packed in bytes; string i starts at off[i]; off[n] = total bytes */
typedef struct cg_strtab {
    int64_t n;
    const int64_t *off;
    const char *bytes;
} cg_strtab;

struct cg_graph {
    int64_t n_nodes[CG_NODE_TYPES];
    cg_relation rel[CG_RELATIONS];
    cg_strtab gene_name, gene_standard, gene_aliases, gene_qualifier;
    cg_strtab reaction_node_name;            /* per reaction node */
    cg_strtab gem_reaction_id, gem_reaction_name; /* per yeast-GEM reaction */
    cg_strtab metabolite_id, metabolite_compartment;
    const int32_t *reaction_gem;             /* [R] yeast-GEM reaction index of each node */
    const int32_t *reaction_direction;       /* [R] 0 forward, 1 reverse */
    const int64_t *reaction_term_ptr;        /* [R + 1] */
    const int32_t *reaction_term_genes;      /* [reaction_term_ptr[R]] gene indices */
    char *recipe;
    char *sources_json;
    cg_graph_source *sources;
    int n_sources;
    cg_safetensors *st;                      /* the mapped file when loaded, else NULL */
    void **owned;                            /* malloc'd arrays when built */
    int n_owned, cap_owned;
};

/* Takes ownership of p (freed with the graph); returns p, or NULL (and frees p) on failure. */
void *cg_graph_own(cg_graph *g, void *p);

#endif
