/* cellgraph/relbatch.h: a relation as the batched graph layers see it.
 *
 * A batch is B genotypes on the one shared graph (DESIGN section 3). Node features of a node type with
 * N nodes are laid out sample-major: row b * N + n holds node n of sample b ([B * N, F]). The edges are
 * those of the shared CSR by destination; sample b uses edge e only when neither its source nor its
 * destination is dead in sample b (dead-node bitsets, cellgraph/deletion.h). Nothing is copied per
 * sample. The reverse index (edges grouped by source) lets backward passes scatter to sources without
 * write conflicts.
 */
#ifndef CELLGRAPH_RELBATCH_H
#define CELLGRAPH_RELBATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/error.h"

typedef struct cg_rel_batch {
    int64_t n_src, n_dst, n_edges;  /* Ns, Nd, E */
    const int64_t *rowptr;   /* [Nd + 1] CSR by destination */
    const int32_t *src;      /* [E] source node of CSR entry e */
    const int32_t *dst;      /* [E] destination node of CSR entry e (non-decreasing) */
    const int64_t *src_ptr;  /* [Ns + 1] reverse index: entries of source s are src_perm[src_ptr[s] .. src_ptr[s+1]) */
    const int32_t *src_perm; /* [E] CSR positions grouped by source, ascending within a source */
    const float *attr;       /* [E, attr_dim] edge attributes in CSR order, or NULL */
    int attr_dim;            /* 0 when attr is NULL */
    bool same_type;          /* sources and destinations are the same node set (self loops possible) */
    int64_t B;               /* samples in the batch */
    const uint64_t *dead_src;/* sample b's source bitset: dead_src + b * dead_stride; NULL: none dead */
    const uint64_t *dead_dst;/* sample b's destination bitset: dead_dst + b * dead_stride; NULL: none dead */
    int64_t dead_stride;     /* 64-bit words between consecutive samples' bitsets */
} cg_rel_batch;

static inline bool cg_rb_src_dead(const cg_rel_batch *r, int64_t b, int64_t s) {
    return r->dead_src && ((r->dead_src[b * r->dead_stride + (s >> 6)] >> (s & 63)) & 1u);
}
static inline bool cg_rb_dst_dead(const cg_rel_batch *r, int64_t b, int64_t d) {
    return r->dead_dst && ((r->dead_dst[b * r->dead_stride + (d >> 6)] >> (d & 63)) & 1u);
}

/* Builds the reverse index of a CSR: src_ptr [n_src + 1] and src_perm [n_edges] (caller-allocated).
 * Errors: CG_ERR_INVALID_ARG for a source index out of range. O(E + Ns). */
cg_status cg_rel_reverse_index(int64_t n_src, int64_t n_edges, const int32_t *src, int64_t *src_ptr, int32_t *src_perm);

#endif
