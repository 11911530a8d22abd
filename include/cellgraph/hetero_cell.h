/* cellgraph/hetero_cell.h: the HeteroCell model (DESIGN.md section 5; torchcell's HeteroCell /
 * HeteroCellBipartite, ../shared/reference/torchcell-models.md sections 1-2, with its bugs fixed).
 *
 *   x_t   = Embedding_t(node ids)                          learnable, no input features, per node type
 *   x_g   = PreProcessor(x_g)                              2 x [Linear, LayerNorm, act, dropout]
 *   per layer l = 1..L, per destination type t:
 *     x_t' = sum over relations r into t of Wrap_r(Conv_r(x_src, x_t))   (+ x_t when residual)
 *     Wrap  = conv -> Linear to D (when the conv width differs) -> LayerNorm per node -> act -> dropout
 *     Conv  = GATv2Conv (D/H channels x H heads, concat): physical and regulatory with self loops;
 *             gpr, gpr_rev bipartite; rmr, rmr_rev bipartite with the stoichiometry as a 1-d edge
 *             attribute. metabolism "hypergraph": rmr is replaced by StoichHypergraphConv over the
 *             metabolites with reaction hyperedges (hyperedge attributes: the current layer's reaction
 *             embeddings).
 *   z     = AttentionalAggregation over the alive genes of each sample:
 *           softmax(gate(x)) . transform(x), gate D -> D/2 -> 1, transform D -> D
 *   z_w   = z of the wildtype graph, z_i = z of the perturbed graph, z_p = z_w - z_i
 *   y     = head(z_p) -> [fitness, gene_interaction]  (head: Linear, LayerNorm, act, dropout layers)
 * A batch is B genotypes on the one graph: dead-node bitsets per sample, features laid out per sample
 * over the shared CSR (cellgraph/relbatch.h); the graph is never replicated.
 */
#ifndef CELLGRAPH_HETERO_CELL_H
#define CELLGRAPH_HETERO_CELL_H

#include "cellgraph/gatv2.h"
#include "cellgraph/graph.h"
#include "cellgraph/nn.h"
#include "cellgraph/relbatch.h"
#include "cellgraph/stoich_hypergraph.h"

#define CG_HC_MAX_LAYERS 8

typedef struct cg_hetero_cell_config {
    int hidden;            /* D, "hidden_channels" (64) */
    int layers;            /* L, "num_layers" (2) */
    int heads;             /* H, "heads" (4); D must be a multiple of H */
    float dropout;         /* "dropout" (0.1): after activations */
    float attention_dropout; /* "attention_dropout" (0.0): on GATv2 attention weights */
    cg_activation act;     /* "activation" ("gelu") */
    bool hypergraph;       /* "metabolism": "bipartite" (false) or "hypergraph" (true) */
    bool residual;         /* "residual" (false) */
    bool self_loops;       /* "self_loops" (true): on physical and regulatory */
    int head_layers;       /* "head_num_layers" (2) */
    bool relations[CG_RELATIONS]; /* "relations": names to use (default: all six) */
    uint64_t seed;         /* "seed" (42): parameter initialisation */
} cg_hetero_cell_config;

/* The defaults above. */
cg_hetero_cell_config cg_hetero_cell_defaults(void);

/* Reads a JSON config file; keys not given keep their defaults; the object "train" is left to the
 * trainer (cellgraph/trainer.h). Errors: CG_ERR_IO, CG_ERR_FORMAT naming
 * the file and the unknown key, the wrong type or the bad value (e.g. hidden not a multiple of heads). */
cg_status cg_hetero_cell_config_load(const char *path, cg_hetero_cell_config *cfg);
/* Same, from JSON text (name used in messages). */
cg_status cg_hetero_cell_config_parse(const char *json, const char *name, cg_hetero_cell_config *cfg);
/* The config as JSON text (malloc'd; free with free()). */
char *cg_hetero_cell_config_json(const cg_hetero_cell_config *cfg);

typedef struct cg_hc_conv {
    bool used;
    cg_linear_layer lin_l, lin_r; /* lin_r unused by StoichHypergraphConv */
    cg_tensor *att, *lin_edge, *bias;
    cg_linear_layer proj;         /* when the conv width differs from D */
    bool has_proj;
    cg_layernorm_layer norm;
    cg_gatv2_config gat;
    bool hypergraph;              /* rmr as StoichHypergraphConv (metabolism "hypergraph") */
    cg_stoich_hg_layer hg;
} cg_hc_conv;

typedef struct cg_hetero_cell {
    cg_hetero_cell_config cfg;
    cg_param_store params;
    int64_t n_nodes[CG_NODE_TYPES];
    cg_embedding_layer emb[CG_NODE_TYPES];
    cg_mlp pre;
    cg_hc_conv conv[CG_HC_MAX_LAYERS][CG_RELATIONS];
    cg_mlp gate, transform, head;
} cg_hetero_cell;

/* Registers and initialises every parameter for a graph with these node counts. Errors:
 * CG_ERR_INVALID_ARG (bad config), CG_ERR_NOMEM. */
cg_status cg_hetero_cell_init(cg_hetero_cell *m, const cg_hetero_cell_config *cfg, const int64_t n_nodes[CG_NODE_TYPES]);
void cg_hetero_cell_free(cg_hetero_cell *m);

/* What the encoder runs on: node counts per type, the original node ids used for the embedding lookup
 * (NULL = identity), and each relation as a batched view with B samples and their dead bitsets
 * (a relation with rel[r].rowptr == NULL is absent). dead[t] + b * dead_stride is sample b's bitset of
 * node type t (NULL: nothing dead). */
typedef struct cg_hc_view {
    int64_t n_nodes[CG_NODE_TYPES];
    const int32_t *ids[CG_NODE_TYPES];
    cg_rel_batch rel[CG_RELATIONS];
    int64_t B;
    const uint64_t *dead[CG_NODE_TYPES];
    int64_t dead_stride;
} cg_hc_view;

/* The graph embeddings z [B, D] of every sample: the L layers, then the readout over the alive genes of
 * each sample. Returns z (NULL on error, status in ctx). The view (and what it points to) must stay
 * valid until the step's backward has run: the recorded convs keep pointers to its relations. */
cg_tensor *cg_hetero_cell_encode(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v);

/* The reverse indexes of a graph's relations, built once and shared by every batch. */
typedef struct cg_hc_graph {
    const cg_graph *g;
    int64_t *src_ptr[CG_RELATIONS];
    int32_t *src_perm[CG_RELATIONS];
} cg_hc_graph;

cg_status cg_hc_graph_init(cg_hc_graph *hg, const cg_graph *g);
void cg_hc_graph_free(cg_hc_graph *hg);

/* A view of the whole graph for B samples whose dead bitsets are the blocks of cellgraph/deletion.h
 * (cg_deletion_words(g) words per sample; NULL blocks: nothing dead). */
void cg_hc_view_of_graph(cg_hc_view *v, const cg_hc_graph *hg, int64_t B, const uint64_t *blocks);

/* Predictions for a batch whose sample 0 is the wildtype (no deletion) and samples 1..B the genotypes:
 * returns y [B, 2] (fitness, gene_interaction, in the model's label units); *z_p_out (optional) receives
 * z_p [B, D]. */
cg_tensor *cg_hetero_cell_forward(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v, cg_tensor **z_p_out);

/* ---- incremental evaluation of deletions (the default path of training, evaluation and prediction) ----
 * Exactly the function of cg_hetero_cell_encode, computed from one wildtype pass plus, per sample, only
 * the rows that can differ from the wildtype:
 *   layer l recomputes, per sample, the alive nodes whose input changed: the out-neighbours (over the
 *   relations of the layer) of the sample's dead nodes and of the nodes recomputed at layer l - 1, and
 *   those nodes themselves; every other row is the wildtype row. Each relation is run once over all
 *   samples' recomputed destinations as one compact graph whose sources index [wildtype rows; recomputed
 *   rows of layer l - 1] (no per-sample copy of the graph or of the wildtype features).
 *   The readout keeps the wildtype pooling's max, normaliser and weighted sum and per sample removes the
 *   dead and recomputed genes' terms and adds the recomputed rows (cg_attentional_pool_update).
 *   Dropout masks are those of the full path (shared by the samples, addressed by node id).
 * Gradients flow back through the same structure: wildtype rows receive the gradient of every sample
 * that reused them. Results equal the full path's up to float rounding (tests/test_incremental.c).
 * Supported: metabolism "bipartite", and attention_dropout 0 in training (CG_ERR_INVALID_ARG otherwise:
 * cg_hetero_cell_incremental_check). */
typedef enum cg_hc_perturbation {
    CG_HC_INCREMENTAL = 0, /* default */
    CG_HC_FULL = 1         /* every node of every sample (the reference path) */
} cg_hc_perturbation;

/* Work done by one incremental pass, summed over the samples: rows[l][t] recomputed nodes of type t
 * after layer l, edges[l][r] edges (self loops included) of the compact relation r at layer l. */
typedef struct cg_hc_incremental_stats {
    int64_t B;
    int layers;
    int64_t rows[CG_HC_MAX_LAYERS][CG_NODE_TYPES];
    int64_t edges[CG_HC_MAX_LAYERS][CG_RELATIONS];
} cg_hc_incremental_stats;

/* CG_OK when the config can run incrementally (training: whether the step trains), else
 * CG_ERR_INVALID_ARG with a message saying why and to use the full path. */
cg_status cg_hetero_cell_incremental_check(const cg_hetero_cell_config *cfg, bool training);

/* z [B, D] as cg_hetero_cell_encode(ctx, m, v), incrementally (see above); stats optional. The view and
 * what it points to must stay valid until backward has run. */
cg_tensor *cg_hetero_cell_encode_incremental(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v,
                                             cg_hc_incremental_stats *stats);

/* cg_hetero_cell_forward with the chosen path (cg_hetero_cell_forward is the full path). */
cg_tensor *cg_hetero_cell_forward_mode(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_view *v,
                                       cg_hc_perturbation mode, cg_tensor **z_p_out);

/* Predictions y [n, 2] (fitness, gene_interaction in the model's label units) for n genotypes given as
 * gene indices geno [n, 3] (-1 padded), in evaluation mode, batch_size genotypes (plus the wildtype) per
 * forward pass on the chosen path. ctx is reset per batch. Errors: those of cg_deletion_batch (a gene
 * index out of range) and of the forward pass; CG_ERR_NOMEM. */
cg_status cg_hetero_cell_predict(cg_ctx *ctx, const cg_hetero_cell *m, const cg_hc_graph *hg, const int32_t *geno,
                                 int64_t n, int64_t batch_size, cg_hc_perturbation mode, float *y);

/* The head on z_p [B, D] -> [B, 2]; and z_p from z_w [1, D], z_i [B, D]. */
cg_tensor *cg_hetero_cell_head(cg_ctx *ctx, const cg_hetero_cell *m, cg_tensor *z_w, cg_tensor *z_i, cg_tensor **z_p_out);

#endif
