/* Internal layout of cg_graph, shared by graph.c (storage, accessors, file), relations.c (the relation
 * table), build.c (construction of the default graph) and build_optional.c (optional relations). */
#ifndef CG_GRAPH_INTERNAL_H
#define CG_GRAPH_INTERNAL_H

#include "cellgraph/genes.h"
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
    cg_relation rel[CG_MAX_RELATIONS];       /* [0, CG_RELATIONS): the defaults; then optional ones */
    int n_relations;
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

/* ------------------------------------------------------------------ construction (build*.c) */

struct cJSON;
struct cg_source_stats;

/* One edge under construction; attr is the (only) attribute float when the relation has one. */
typedef struct cg_graph_edge {
    int32_t dst, src;
    float attr;
} cg_graph_edge;

/* Sorts e[0..n) by (dst, src), drops self pairs and duplicates when drop_self_dup (counting them in
 * *n_self / *n_dup, which may be NULL), and stores the CSR as relation r of g, described by d (name,
 * types, directed, attribute; attr_width must be 0 or 1). e is reordered. Errors: CG_ERR_NOMEM. */
cg_status cg_graph_make_relation(cg_graph *g, int r, const cg_relation_desc *d, cg_graph_edge *e, int64_t n,
                                 bool drop_self_dup, int64_t *n_self, int64_t *n_dup);

/* Appends a source row (filled from st when not NULL, else zeroed); returns it, or NULL when out of memory. */
cg_graph_source *cg_graph_add_source(cg_graph *g, const struct cg_source_stats *st);

/* Records the size and CRC-32 of the file at path under key in the JSON object files. Errors: CG_ERR_IO. */
cg_status cg_graph_file_checksum(const char *path, struct cJSON *files, const char *key);

/* Builds the optional relations whose entries of want (indexed like cg_relation_descs) are true, in
 * table order, appending them to g after the defaults (build_optional.c). Errors: those of the readers,
 * CG_ERR_INVALID_ARG when more than CG_MAX_RELATIONS relations would result, CG_ERR_NOMEM. */
cg_status cg_graph_build_optional(cg_graph *g, const char *data_dir, const cg_genes *genes, const bool *want,
                                  struct cJSON *files);

#endif
