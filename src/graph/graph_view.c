/* Batches of genotypes on the shared graph (cellgraph/graph_view.h). */
#include "cellgraph/graph_view.h"

#include <stdlib.h>
#include <string.h>

#include "cellgraph/deletion.h"

cg_status cg_graph_index_init(cg_graph_index *gi, const cg_graph *g) {
    memset(gi, 0, sizeof *gi);
    gi->g = g;
    gi->n_relations = cg_graph_num_relations(g);
    for (int r = 0; r < gi->n_relations; r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        int64_t ns = cg_graph_num_nodes(g, rel->src_type);
        gi->src_ptr[r] = malloc(((size_t)ns + 1) * sizeof(int64_t));
        gi->src_perm[r] = malloc(((size_t)rel->n_edges + 1) * sizeof(int32_t));
        if (!gi->src_ptr[r] || !gi->src_perm[r]) {
            cg_graph_index_free(gi);
            return cg_error(CG_ERR_NOMEM, "graph index: out of memory");
        }
        cg_status s = cg_rel_reverse_index(ns, rel->n_edges, rel->src, gi->src_ptr[r], gi->src_perm[r]);
        if (s != CG_OK) {
            cg_graph_index_free(gi);
            return s;
        }
    }
    return CG_OK;
}

void cg_graph_index_free(cg_graph_index *gi) {
    for (int r = 0; r < CG_MAX_RELATIONS; r++) {
        free(gi->src_ptr[r]);
        free(gi->src_perm[r]);
    }
    memset(gi, 0, sizeof *gi);
}

void cg_graph_view_of(cg_graph_view *v, const cg_graph_index *gi, int64_t B, const uint64_t *blocks) {
    const cg_graph *g = gi->g;
    memset(v, 0, sizeof *v);
    v->B = B;
    v->n_relations = gi->n_relations;
    for (int t = 0; t < CG_NODE_TYPES; t++) v->n_nodes[t] = cg_graph_num_nodes(g, t);
    if (blocks) {
        cg_dead_view d = cg_deletion_view(g, blocks);
        for (int t = 0; t < CG_NODE_TYPES; t++) v->dead[t] = d.node[t];
        v->dead_stride = cg_deletion_words(g);
    }
    for (int r = 0; r < gi->n_relations; r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        cg_rel_batch *rb = &v->rel[r];
        rb->n_src = v->n_nodes[rel->src_type];
        rb->n_dst = v->n_nodes[rel->dst_type];
        rb->n_edges = rel->n_edges;
        rb->rowptr = rel->rowptr;
        rb->src = rel->src;
        rb->dst = rel->dst;
        rb->src_ptr = gi->src_ptr[r];
        rb->src_perm = gi->src_perm[r];
        rb->attr = rel->attr;
        rb->attr_dim = rel->attr ? rel->attr_width : 0;
        rb->same_type = rel->src_type == rel->dst_type;
        rb->B = B;
        rb->dead_src = v->dead[rel->src_type];
        rb->dead_dst = v->dead[rel->dst_type];
        rb->dead_stride = v->dead_stride;
    }
}
