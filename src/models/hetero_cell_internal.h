/* HeteroCell's pieces shared by its files (hetero_cell.c: the full forward; hetero_cell_incremental.c:
 * incremental evaluation). Not part of the public interface. */
#ifndef CELLGRAPH_MODELS_HETERO_CELL_INTERNAL_H
#define CELLGRAPH_MODELS_HETERO_CELL_INTERNAL_H

#include "cellgraph/hetero_cell.h"

/* The default relation r (its name, source and destination types, attribute width). */
static inline const cg_relation_desc *hc_rel(int r) { return &cg_relation_descs(NULL)[r]; }

/* CG_OK when the view's node counts fit the model (else CG_ERR_SHAPE recorded in ctx). */
cg_status hc_check_view(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v);

/* x[t] [B * N_t, D]: the embeddings of B samples, and the preprocessor on the genes (dropout masks shared
 * by the samples). */
void hc_inputs(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, int64_t B, cg_tensor *x[CG_NODE_TYPES]);

/* Layer l over the view: x[t] is replaced by the layer's output for every type that receives a relation.
 * When xl_save/xr_save/drop_op are given, they receive per relation the lin_l and lin_r outputs and the
 * op number of the wrapper's dropout (incremental evaluation reuses them); need (optional) marks the
 * destination types to compute. */
void hc_layer(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, int l, cg_tensor *x[CG_NODE_TYPES],
              cg_tensor **xl_save, cg_tensor **xr_save, uint64_t *drop_op, const bool *need);

/* cg_hetero_cell_encode_incremental, and *h_wild (optional) receives the wildtype's last-layer gene rows
 * [N, D]. */
cg_tensor *hc_encode_incremental(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v,
                                 cg_hc_incremental_stats *stats, cg_tensor **h_wild);

/* The wildtype's last-layer gene rows [N, D] of the view's graph (one pass, nothing dead; only the
 * rows that reach the genes are computed). NULL on error (status in ctx). */
cg_tensor *hc_encode_wildtype_genes(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v);

#endif
