/* cellgraph/deletion.h: what deleting genes does to the cell graph (DESIGN.md section 3).
 *
 *   - the deleted genes die;
 *   - a reaction node dies iff its AND-term contains a dead gene (gene-free nodes never die), so an
 *     isozyme's sibling AND-term node survives;
 *   - metabolites never die;
 *   - every edge with a dead endpoint is gone.
 * A genotype is represented by dead-node bitsets over the one shared graph (bit i of word i/64 is node
 * i); nothing is copied, no per-sample edge list or dense mask is built. A batch of B genotypes is B
 * such blocks, one after the other.
 */
#ifndef CELLGRAPH_DELETION_H
#define CELLGRAPH_DELETION_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/graph.h"

/* 64-bit words of one node type's bitset. */
int64_t cg_dead_words(const cg_graph *g, cg_node_type t);

/* Words of one genotype's block: the gene, reaction and metabolite bitsets, in that order. */
int64_t cg_deletion_words(const cg_graph *g);

/* Pointers to the three bitsets inside a block. */
typedef struct cg_dead_view {
    const uint64_t *node[CG_NODE_TYPES];
} cg_dead_view;

cg_dead_view cg_deletion_view(const cg_graph *g, const uint64_t *block);

static inline bool cg_bit_get(const uint64_t *bits, int64_t i) { return (bits[i >> 6] >> (i & 63)) & 1u; }
static inline void cg_bit_set(uint64_t *bits, int64_t i) { bits[i >> 6] |= (uint64_t)1 << (i & 63); }

/* Fills block (cg_deletion_words(g) words) for the genotype genes[0..n) (gene indices; -1 entries are
 * padding and ignored; repeats allowed). Errors: CG_ERR_INVALID_ARG naming an index outside the graph's
 * genes. O(n + reactions touched). */
cg_status cg_deletion_compute(const cg_graph *g, const int32_t *genes, int n, uint64_t *block);

/* B genotypes given as rows of genotypes[B, width] (-1 padding) -> B consecutive blocks. */
cg_status cg_deletion_batch(const cg_graph *g, const int32_t *genotypes, int64_t B, int width, uint64_t *blocks);

/* Whether edge e (CSR position) of relation rel survives the deletion. */
bool cg_edge_alive(const cg_graph *g, int rel, int64_t e, cg_dead_view d);

/* Number of edges of relation rel that the deletion removes (an endpoint dead). O(E). */
int64_t cg_deletion_removed_edges(const cg_graph *g, int rel, cg_dead_view d);

/* Number of dead nodes of type t. */
int64_t cg_deletion_count(const cg_graph *g, cg_node_type t, cg_dead_view d);

#endif
