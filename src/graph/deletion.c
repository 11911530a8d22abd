#include "cellgraph/deletion.h"

#include <string.h>

int64_t cg_dead_words(const cg_graph *g, cg_node_type t) { return (cg_graph_num_nodes(g, t) + 63) / 64; }

int64_t cg_deletion_words(const cg_graph *g) {
    return cg_dead_words(g, CG_GENE) + cg_dead_words(g, CG_REACTION) + cg_dead_words(g, CG_METABOLITE);
}

cg_dead_view cg_deletion_view(const cg_graph *g, const uint64_t *block) {
    cg_dead_view v;
    v.node[CG_GENE] = block;
    v.node[CG_REACTION] = block + cg_dead_words(g, CG_GENE);
    v.node[CG_METABOLITE] = v.node[CG_REACTION] + cg_dead_words(g, CG_REACTION);
    return v;
}

cg_status cg_deletion_compute(const cg_graph *g, const int32_t *genes, int n, uint64_t *block) {
    memset(block, 0, (size_t)cg_deletion_words(g) * sizeof *block);
    uint64_t *dead_gene = block, *dead_rxn = block + cg_dead_words(g, CG_GENE);
    int64_t ng = cg_graph_num_nodes(g, CG_GENE);
    /* the reaction nodes of a gene are its in-edges under gpr_rev (reaction -> gene) */
    const cg_relation *rev = cg_graph_relation(g, CG_REL_GPR_REV);
    for (int k = 0; k < n; k++) {
        int32_t gi = genes[k];
        if (gi == -1) continue;
        if (gi < 0 || gi >= ng)
            return cg_error(CG_ERR_INVALID_ARG, "deletion: gene index %d is not a gene of the graph (0..%lld)", gi,
                            (long long)ng - 1);
        cg_bit_set(dead_gene, gi);
        for (int64_t e = rev->rowptr[gi]; e < rev->rowptr[gi + 1]; e++) cg_bit_set(dead_rxn, rev->src[e]);
    }
    return CG_OK;
}

cg_status cg_deletion_batch(const cg_graph *g, const int32_t *genotypes, int64_t B, int width, uint64_t *blocks) {
    int64_t w = cg_deletion_words(g);
    for (int64_t b = 0; b < B; b++) {
        cg_status s = cg_deletion_compute(g, genotypes + b * width, width, blocks + b * w);
        if (s != CG_OK) return cg_error_wrap(s, "genotype %lld of the batch", (long long)b);
    }
    return CG_OK;
}

bool cg_edge_alive(const cg_graph *g, int rel, int64_t e, cg_dead_view d) {
    const cg_relation *r = cg_graph_relation(g, rel);
    return !cg_bit_get(d.node[r->src_type], r->src[e]) && !cg_bit_get(d.node[r->dst_type], r->dst[e]);
}

int64_t cg_deletion_removed_edges(const cg_graph *g, int rel, cg_dead_view d) {
    const cg_relation *r = cg_graph_relation(g, rel);
    const uint64_t *ds = d.node[r->src_type], *dd = d.node[r->dst_type];
    int64_t n = 0;
    for (int64_t e = 0; e < r->n_edges; e++) n += cg_bit_get(ds, r->src[e]) || cg_bit_get(dd, r->dst[e]);
    return n;
}

int64_t cg_deletion_count(const cg_graph *g, cg_node_type t, cg_dead_view d) {
    int64_t n = 0, w = cg_dead_words(g, t);
    for (int64_t i = 0; i < w; i++) n += __builtin_popcountll(d.node[t][i]);
    return n;
}
