/* cellgraph/graph_view.h: a batch of genotypes on the one shared cell graph, as the graph models see it.
 *
 * A batch is B samples; sample b is a set of dead nodes (cellgraph/deletion.h: one block of bitsets per
 * sample, B blocks one after the other). Models put the wildtype at sample 0 (no deletion) and the
 * genotypes at samples 1..B-1. Every relation of the graph is seen as a cg_rel_batch (cellgraph/
 * relbatch.h) over the shared CSR plus the samples' bitsets: the graph is never replicated per sample and
 * no per-sample edge list or dense mask is built (DESIGN.md section 3).
 *
 * cg_graph_index holds what every batch of a graph shares and is built once: the reverse index (edges
 * grouped by source) of each relation, which backward passes and incremental evaluation use.
 */
#ifndef CELLGRAPH_GRAPH_VIEW_H
#define CELLGRAPH_GRAPH_VIEW_H

#include "cellgraph/graph.h"
#include "cellgraph/relbatch.h"

/* The reverse indexes of a graph's relations, built once and shared by every batch. */
typedef struct cg_graph_index {
    const cg_graph *g;
    int n_relations;
    int64_t *src_ptr[CG_MAX_RELATIONS];  /* [n_nodes[src type] + 1] */
    int32_t *src_perm[CG_MAX_RELATIONS]; /* [E] */
} cg_graph_index;

/* Builds the reverse index of every relation of g (g must outlive gi). Errors: CG_ERR_NOMEM,
 * CG_ERR_INVALID_ARG (an edge source out of range: a corrupted graph). */
cg_status cg_graph_index_init(cg_graph_index *gi, const cg_graph *g);
void cg_graph_index_free(cg_graph_index *gi);

/* What a model runs on: node counts per type, the original node ids used for embedding lookups (NULL =
 * identity; a test may run a model on an explicitly built subgraph), and each relation as a batched view
 * with B samples and their dead bitsets (a relation with rel[r].rowptr == NULL is absent).
 * dead[t] + b * dead_stride is sample b's bitset of node type t (NULL: nothing dead). */
typedef struct cg_graph_view {
    int64_t n_nodes[CG_NODE_TYPES];
    const int32_t *ids[CG_NODE_TYPES];
    int n_relations;
    cg_rel_batch rel[CG_MAX_RELATIONS];
    int64_t B;
    const uint64_t *dead[CG_NODE_TYPES];
    int64_t dead_stride;
} cg_graph_view;

/* A view of the whole graph for B samples whose dead bitsets are the blocks of cellgraph/deletion.h
 * (cg_deletion_words(g) words per sample; NULL blocks: nothing dead). The view points into gi, gi's
 * graph and blocks, which must stay valid while it is used (for a training step: until backward). */
void cg_graph_view_of(cg_graph_view *v, const cg_graph_index *gi, int64_t B, const uint64_t *blocks);

/* Whether node n of type t is dead in sample b. */
static inline bool cg_graph_view_dead(const cg_graph_view *v, int t, int64_t b, int64_t n) {
    const uint64_t *d = v->dead[t];
    return d && ((d[b * v->dead_stride + (n >> 6)] >> (n & 63)) & 1u);
}

#endif
