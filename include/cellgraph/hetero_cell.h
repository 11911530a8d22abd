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
 *   y     = head(z_p) -> [fitness, epsilon, tau]  (head: Linear, LayerNorm, act, dropout layers)
 * That is the published form ("form": "published"): it computes torchcell's function exactly but does not
 * learn interactions (z_p is O(1/N) of z_w, drowned by the head's bias and dropout; docs/models.md).
 * The default form ("interaction") adds residual connections and scores the deleted genes' own wildtype
 * last-layer rows h_g (a per-gene term and a pairwise term, cg_hc_gene_head); its global head on N z_p is
 * optional and off by default (see cg_hetero_cell_forward_batch and docs/models.md for the measurements).
 * A batch is B genotypes on the one graph: dead-node bitsets per sample, features laid out per sample
 * over the shared CSR (cellgraph/graph_view.h, cellgraph/relbatch.h); the graph is never replicated.
 * Registered as the model "hetero_cell" (cellgraph/model.h); this header is for the model's own files,
 * its tests and benchmarks. Files: hetero_cell_config.c (config), hetero_cell.c (parameters, full
 * forward, head, the model table), hetero_cell_incremental.c (incremental evaluation).
 */
#ifndef CELLGRAPH_HETERO_CELL_H
#define CELLGRAPH_HETERO_CELL_H

#include "cellgraph/gatv2.h"
#include "cellgraph/graph.h"
#include "cellgraph/graph_view.h"
#include "cellgraph/model.h"
#include "cellgraph/nn.h"
#include "cellgraph/stoich_hypergraph.h"

#define CG_HC_MAX_LAYERS 8

/* Terms over the deleted genes' own wildtype last-layer embeddings h_g [D] (the seeds' first HeteroCell
 * aggregated the perturbed genes' embeddings; DANGO and GeneInteractionDango score them):
 *   additive: y += sum over deleted g of gene_mlp(h_g)                      (a learned per-gene table
 *             that generalises through the graph)
 *   pairwise: additive + sum over deleted pairs a < b of pair_mlp(h_a * h_b)  (elementwise product:
 *             symmetric in a and b; the only term that can tell a pair from its two genes)
 *   triple:   pairwise + for three deleted genes triple_mlp(h_a * h_b * h_c) */
typedef enum cg_hc_gene_head {
    CG_HC_GENE_HEAD_NONE,
    CG_HC_GENE_HEAD_ADDITIVE,
    CG_HC_GENE_HEAD_PAIRWISE,
    CG_HC_GENE_HEAD_TRIPLE
} cg_hc_gene_head;

typedef struct cg_hetero_cell_config {
    int hidden;            /* D, "hidden_channels" (64) */
    int layers;            /* L, "num_layers" (2) */
    int heads;             /* H, "heads" (4); D must be a multiple of H */
    float dropout;         /* "dropout" (0.1): after activations */
    float attention_dropout; /* "attention_dropout" (0.0): on GATv2 attention weights */
    cg_activation act;     /* "activation" ("gelu") */
    bool hypergraph;       /* "metabolism": "bipartite" (false) or "hypergraph" (true) */
    bool residual;         /* "residual" (interaction true; published false) */
    bool self_loops;       /* "self_loops" (true): on physical and regulatory */
    int head_layers;       /* "head_num_layers" (2) */
    bool relations[CG_RELATIONS]; /* "relations": names of the default relations to use (default: all six) */
    uint64_t seed;         /* "seed" (42): parameter initialisation */
    /* The head (docs/models.md has what each choice measured). "form" picks the preset of these keys and
     * of "residual", applied before the keys given: "interaction" (the default) or "published"
     * (torchcell's HeteroCell, for parity: no residual, z_p unscaled into the head MLP, head dropout =
     * dropout, no deleted-gene terms). */
    bool global_head;      /* "global_head" (interaction false; published true): head MLP on z_p; false: no
                            * perturbed pass at all, only the wildtype's (one pass per batch) */
    bool z_p_scale_alive;  /* "z_p_scale": "alive" (interaction) multiplies z_p by the wildtype's number of
                            * alive genes N, so that it is O(1) instead of O(1/N); "none" (published) */
    float head_dropout;    /* "head_dropout" (interaction 0; published: the value of "dropout") */
    cg_hc_gene_head gene_head; /* "gene_head": "none" (published), "additive", "pairwise" or "triple" */
    /* Held-out genes (docs/models.md, "what each change measured"). */
    float gene_offsets[CG_NUM_LABELS]; /* "gene_offsets" (interaction [3, 0, 3]; published 0 = off): a number or
                             * [fitness, epsilon, tau], the scales s_k of a per-gene table added to the
                             * output, y[k] += s_k * sum_g offsets[g, k] (parameter gene_head.offsets.weight
                             * [n_genes, K], zero at initialisation; under Adam s_k multiplies the table's
                             * step size; a label with s_k = 0 gets nothing from it) */
    float gene_embedding_std; /* "gene_embedding_std" (interaction 0; published 1): the gene embeddings start
                               * N(0, std^2); 0 = zero */
    float identity_dropout; /* "identity_dropout" (interaction 0.1; published 0; in [0, 1)): in training, each
                             * gene's embedding row is zeroed with this probability per step (one mask per
                             * gene, shared by every sample, not rescaled), so that the head learns to score
                             * genes from their neighbourhood alone, as it must for genes it never saw */
    bool drop_unseen;       /* "drop_unseen" (interaction true; published false; needs gene_offsets): a gene
                             * whose offsets row is exactly zero has never had a label in training (Adam and
                             * decoupled weight decay leave a row with zero gradient at zero) and gets no
                             * identity: its embedding row is zeroed, in training and in evaluation, as
                             * identity dropout does. A gene held out of training is then represented by
                             * its neighbourhood alone. */
} cg_hetero_cell_config;

/* Whether the config has the per-gene offsets table (some gene_offsets scale > 0). */
bool cg_hetero_cell_has_offsets(const cg_hetero_cell_config *cfg);

/* The defaults above (form "interaction"). */
cg_hetero_cell_config cg_hetero_cell_defaults(void);
/* The published form (torchcell's HeteroCell): the defaults with the head keys of form "published". */
cg_hetero_cell_config cg_hetero_cell_published(void);

/* Reads a JSON config file; keys not given keep their defaults; the object "train" is left to the
 * trainer (cellgraph/trainer.h) and the key "model" to the registry (it must be "hetero_cell" when
 * given). Errors: CG_ERR_IO, CG_ERR_FORMAT naming the file and the unknown key, the wrong type or the
 * bad value (e.g. hidden not a multiple of heads). */
cg_status cg_hetero_cell_config_load(const char *path, cg_hetero_cell_config *cfg);
/* Same, from JSON text (name used in messages). */
cg_status cg_hetero_cell_config_parse(const char *json, const char *name, cg_hetero_cell_config *cfg);
/* The config as JSON text, without the "model" key (malloc'd; free with free()). */
char *cg_hetero_cell_config_json(const cg_hetero_cell_config *cfg);

/* One relation's conv of one layer, wrapped: conv -> Linear to D (when the conv width differs) ->
 * LayerNorm -> act -> dropout. */
typedef struct cg_hc_conv {
    bool used;
    cg_gatv2_layer gat;           /* GATv2Conv (unused by StoichHypergraphConv) */
    cg_linear_layer proj;         /* when the conv width differs from D */
    bool has_proj;
    cg_layernorm_layer norm;
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
    cg_mlp gene_mlp, pair_mlp, triple_mlp; /* gene_head terms: D -> D -> K each (LayerNorm, act; head_dropout) */
    cg_embedding_layer offsets;            /* gene_offsets: [n_genes, K] */
} cg_hetero_cell;

/* Registers and initialises every parameter for a graph with these node counts. Errors:
 * CG_ERR_INVALID_ARG (bad config), CG_ERR_NOMEM. */
cg_status cg_hetero_cell_init(cg_hetero_cell *m, const cg_hetero_cell_config *cfg, const int64_t n_nodes[CG_NODE_TYPES]);
void cg_hetero_cell_free(cg_hetero_cell *m);

/* The graph embeddings z [B, D] of every sample of the view: the L layers, then the readout over the
 * alive genes of each sample. Returns z (NULL on error, status in ctx). The view (and what it points to)
 * must stay valid until the step's backward has run: the recorded convs keep pointers to its relations. */
cg_tensor *cg_hetero_cell_encode(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v);

/* Predictions for a batch whose sample 0 is the wildtype (no deletion) and samples 1..B-1 the genotypes:
 * returns y [B - 1, K] (fitness, epsilon, tau; K = CG_NUM_LABELS, in the model's label units); *z_p_out (optional)
 * receives z_p [B - 1, D] (scaled as the config says; NULL without the global head). The full path.
 * Needs gene_head "none" (the deleted genes are read from geno: cg_hetero_cell_forward_batch). */
cg_tensor *cg_hetero_cell_forward(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, cg_tensor **z_p_out);

/* The whole model on a batch: geno [B - 1, 3] the genotypes' gene indices (-1 padded; may be NULL when
 * gene_head is "none"), v the view (sample 0 the wildtype), mode the path of the perturbed pass.
 *   y = [global_head] head(s * z_p) + [gene_head] sum_g gene_mlp(h_g) + [pairwise] sum_{a<b} pair_mlp(h_a * h_b)
 *       + [gene_offsets] s (*) sum_g offsets[g]   (s = gene_offsets per label)
 * with s = N (alive wildtype genes) for z_p_scale "alive", else 1; h = the wildtype's last-layer gene
 * rows (the same on both paths). -> y [B - 1, K]. Errors (in ctx): CG_ERR_INVALID_ARG (B < 2, geno NULL
 * or a gene index outside the view's genes when gene_head needs it, a view over a gene subset with
 * gene_head), those of the encoders. */
cg_tensor *cg_hetero_cell_forward_batch(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, const int32_t *geno,
                                        cg_perturbation_path mode, cg_tensor **z_p_out);
/* The same; cache (optional, evaluation only: ignored when ctx->training) keeps the wildtype gene rows h
 * across the batches of one prediction when the global head is off (cellgraph/model.h, cg_model_cache):
 * the first batch runs the wildtype pass and stores h, the next ones read it (the same values: the pass
 * does not depend on the batch). Errors: those of cg_hetero_cell_forward_batch. */
cg_tensor *cg_hetero_cell_forward_cached(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, const int32_t *geno,
                                         cg_perturbation_path mode, cg_model_cache *cache, cg_tensor **z_p_out);

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
cg_tensor *cg_hetero_cell_encode_incremental(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v,
                                             cg_hc_incremental_stats *stats);

/* cg_hetero_cell_forward on the chosen path. */
cg_tensor *cg_hetero_cell_forward_mode(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v,
                                       cg_perturbation_path mode, cg_tensor **z_p_out);

/* The head on z_p = z_w - z_i: z_w [1, D], z_i [n, D] -> [n, K]; *z_p_out (optional) receives z_p. */
cg_tensor *cg_hetero_cell_head(cg_ctx *ctx, const cg_hetero_cell *m, cg_tensor *z_w, cg_tensor *z_i, cg_tensor **z_p_out);

/* The model's table in the registry (cellgraph/model.h). */
extern const cg_model_type cg_hetero_cell_model_type;

#endif
