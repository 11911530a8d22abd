/* cellgraph/dango.h: DANGO ("model": "dango"), the hypergraph-attention model of higher-order genetic
 * interactions (DESIGN.md section 5; ../shared/reference/dango.md part a; Zhang, Bafna, Ma, Ma,
 * "DANGO: Predicting higher-order genetic interactions", bioRxiv 10.1101/2020.11.26.400739; released
 * code ma-compbio/DANGO, Code/Modules.py and Code/model.py).
 *
 * Networks. G weighted gene networks (default six, in DANGO's file order): coexpression (Hu 2007, the
 * project's "coexpression" relation, for STRING v9.1 coexpression), physical (the project's physical
 * relation, for STRING v9.1 experimental), string9_database, string9_neighborhood, string9_fusion,
 * string9_cooccurence. Each is an undirected (gene, r, gene) relation of the graph, read as a CSR by
 * destination (neighbours of gene i = the sources of the edges into i); weights are the relation's 1-wide
 * attribute ("weight"), or 1 when it has none (physical). The optional relations are built on request
 * (cg_graph_build_ex with "all"); init fails naming a missing one.
 *
 * Encoder (per network g, GraphSAGE with mean aggregation, self in the neighbour list; Modules.py
 * GraphEncoder / MeanAggregator). E [N, D] is one learnable gene embedding shared by all networks.
 *   list_g(i)  = neighbours of i in g, then i itself
 *   S_i        = all of list_g(i) when num_samples == 0 or |list_g(i)| <= num_samples, else num_samples
 *                distinct members drawn with Philox (seed, stream(step, g, layer), i): a function of the
 *                node, the network, the layer and the step, so that the same node has the same sample
 *                wherever it occurs in a step (the released code re-samples per call with Python's
 *                unseeded random.sample). In evaluation (ctx->training false) the stream does not depend on
 *                the step: a prediction is a function of the genotype and the parameters only.
 *   h^0(i)     = E[i]
 *   h^l(i)     = silu( W_l [ U_l h^{l-1}(i) | mean_{j in S_i} U_l h^{l-1}(j) ] + b_l )     l = 1, 2
 *                (U_l: Linear(D, D) with bias, "init_transform"; W_l: Linear(2D, D), "final_transform")
 *   h_g(i)     = h^2(i)  [D]
 * Only the nodes a step needs are computed (the 2-hop sample tree of the requested genes); because the
 * samples are per node, this equals running every layer on every gene and indexing.
 *
 * Meta-embedding: w_{i,g} = softmax_g( a . h_g(i) + c ), e_i = sum_g w_{i,g} h_g(i)  [D].
 *
 * Hyper-SAGNN head over the deleted genes of a genotype (T = 2 or 3 slots; Modules.py Hyper_SAGNN,
 * EncoderLayer, MultiHeadAttention), H heads of D channels each (not D / H), per genotype b:
 *   X = e of its genes [T, D];  Q = LN_q(X) W_q, K = LN_k(X) W_k, V = LN_v(X) W_v   (W_*: D -> H*D, no bias)
 *   O = attention(Q, K, V) with scale 1/sqrt(D); the diagonal is masked (a gene attends to the OTHER
 *       genes: the paper) unless released_head (the released code never masks it: dango.md a.7 bug 1)
 *   dynamic = dropout_att(fc1(concat_h O)),  static = dropout_att(fc2(V))  (fc*: H*D -> D, no bias)
 *   dynamic = PFF(dynamic),  PFF(z) = z + alpha * w_2(dropout_ffn(silu(w_1(LN(z)))))   (alpha: ReZero, 0)
 *   out = (LN_d(dynamic) - LN_s(static))^2   (paper)  |  LN_d(dynamic)   (released_head)
 *   s_t = classifier(dropout_out(out_t))  [2]   (Linear(D, 2): column 0 epsilon, column 1 tau)
 *   y[b, epsilon] = sum_t s_t[0],  y[b, tau] = sum_t s_t[1]      (DANGO sums over the genes)
 * A single-gene genotype has no interaction: with the diagonal masked its dynamic row is 0 (its
 * interaction outputs are defined but no label asks for them).
 * Fitness (DANGO has none; this port's documented choice): y[b, fitness] = fitness(mean_t e_t), a
 * Linear(D, 1) readout of the mean meta-embedding of the deleted genes.
 * Outputs y [n, CG_NUM_LABELS] in z units; no graph embedding (z_p NULL).
 *
 * Reconstruction (pre-training and the auxiliary loss; dango.md a.4). Per network g a head
 * R_g(h) = w2 silu(w1 h + b1) + b2 : D -> D -> n_g, n_g = genes with >= 1 edge in g (the columns of g's
 * adjacency). For a batch of genes x [r] (repeats allowed):
 *   A_g[x, c] = w(x, gene c) / max_g w   (0 when no edge)      target, from one direction of each edge
 *   P = R_g(h_g(x))  [r, n_g]
 *   L_g = mean_rows( sum_{A != 0} (A - P)^2 / (#{A != 0} + 1e-15) )
 *       + lambda_g mean_rows( sum_{A == 0} (A - P)^2 / (#{A == 0} + 1e-15) )
 *   L_recon = sum_g L_g
 * Fixed relative to the release (dango.md a.7 bugs 2 and 3): gene x reconstructs its own row (not row
 * x - 1), weights are not doubled, and the smallest weight stays a positive (no min-max shift).
 * In training the auxiliary loss beta * L_recon on recon_genes genes drawn uniformly with replacement
 * from (seed, step) is added to the trainer's loss (cg_model_type.aux_loss).
 *
 * Parameter names: embedding.weight [N, D]; encoders.<g>.<l>.init_transform.{weight,bias},
 * encoders.<g>.<l>.final_transform.{weight,bias} (l = 0, 1); meta.score.{weight,bias};
 * head.norm_{q,k,v}.{weight,bias}; head.w_{qs,ks,vs}.weight [H*D, D]; head.fc1.weight, head.fc2.weight
 * [D, H*D]; head.pff.norm.{weight,bias}, head.pff.w_1.{weight,bias}, head.pff.w_2.{weight,bias},
 * head.pff.alpha [1]; head.norm_dynamic, head.norm_static; head.classifier.{weight,bias} [2, D];
 * fitness.{weight,bias}; recon.<g>.layers.{0,1}.{weight,bias}.
 * Initialisation (seed): Embedding N(0, 1); Linear torch's U(+-1/sqrt(in)); W_q, W_k, W_v
 * N(0, sqrt(2 / (D + D))) as released; LayerNorm 1, 0; alpha 0.
 *
 * Shape legend: N genes, D hidden_channels, G networks, H heads, n genotypes, T slots per genotype
 * (the batch's largest genotype), u unique genes of a batch, n_g columns of network g.
 */
#ifndef CELLGRAPH_DANGO_H
#define CELLGRAPH_DANGO_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/model.h"
#include "cellgraph/nn.h"

enum { CG_DANGO_MAX_NETWORKS = 8, CG_DANGO_LAYERS = 2 };

typedef struct cg_dango_config {
    int hidden_channels;     /* "hidden_channels" (128): D */
    int heads;               /* "heads" (8) */
    int num_samples;         /* "num_samples" (5): sampled neighbours per node and layer; 0 = the full list */
    bool released_head;      /* "released_head" (false): unmasked diagonal and LN(dynamic) as the output */
    float dropout_attention; /* "dropout_attention" (0.3): after fc1 and fc2 */
    float dropout_ffn;       /* "dropout_ffn" (0.4): inside the PFF */
    float dropout_out;       /* "dropout_out" (0.25): before the classifier */
    double recon_beta;       /* "recon_beta" (0.001): weight of the auxiliary reconstruction loss; 0 = off */
    int recon_genes;         /* "recon_genes" (960 = 10 x DANGO's batch): genes per step of the auxiliary loss */
    int pretrain_epochs;     /* "pretrain_epochs" (40, released): reconstruction pre-training before training; 0 = none */
    int pretrain_batch_size; /* "pretrain_batch_size" (96, released): genes per pre-training step */
    uint64_t seed;           /* "seed" (42): initialisation and neighbour samples */
    int n_networks;          /* length of "networks" (6) */
    char networks[CG_DANGO_MAX_NETWORKS][64]; /* "networks": relation names */
    float recon_weights[CG_DANGO_MAX_NETWORKS]; /* "recon_weights" ([0.1, 0.1, 1, 1, 1, 1]): lambda_g */
} cg_dango_config;

cg_dango_config cg_dango_defaults(void);

/* JSON text -> config (the keys above; "model" must be "dango" when given; "train" is skipped).
 * Errors: CG_ERR_FORMAT naming `name` and the key (unknown key, wrong type, value out of range,
 * "recon_weights" of another length than "networks", a network named twice). */
cg_status cg_dango_config_parse(const char *json, const char *name, cg_dango_config *cfg);
/* The config as JSON text without "model" (malloc'd). */
char *cg_dango_config_json(const cg_dango_config *cfg);

/* One weighted undirected gene network as a CSR by destination: the neighbours of gene i are
 * src[rowptr[i] .. rowptr[i+1]) (no self pairs), with weights weight[..] (NULL: all 1). Borrowed. */
typedef struct cg_dango_network {
    const int64_t *rowptr; /* [N + 1] */
    const int32_t *src;    /* [E] */
    const float *weight;   /* [E] or NULL */
} cg_dango_network;

typedef struct cg_dango_encoder_layer {
    cg_linear_layer init_transform;  /* U_l: D -> D */
    cg_linear_layer final_transform; /* W_l: 2D -> D */
} cg_dango_encoder_layer;

typedef struct cg_dango {
    cg_dango_config cfg;
    cg_param_store params;
    int64_t n_genes;
    int G;
    cg_dango_network net[CG_DANGO_MAX_NETWORKS];
    /* reconstruction targets: column of gene j in network g's adjacency (-1 when j has no edge in g),
     * the number of columns n_g and the largest weight */
    int32_t *recon_col[CG_DANGO_MAX_NETWORKS];
    int64_t recon_cols[CG_DANGO_MAX_NETWORKS];
    float recon_wmax[CG_DANGO_MAX_NETWORKS];
    cg_embedding_layer embedding;
    cg_dango_encoder_layer enc[CG_DANGO_MAX_NETWORKS][CG_DANGO_LAYERS];
    cg_linear_layer meta_score;            /* D -> 1 */
    cg_layernorm_layer norm_q, norm_k, norm_v, norm_dynamic, norm_static, pff_norm;
    cg_linear_layer w_qs, w_ks, w_vs;      /* D -> H*D, no bias */
    cg_linear_layer fc1, fc2;              /* H*D -> D, no bias */
    cg_linear_layer pff_w1, pff_w2;        /* D -> D */
    cg_tensor *pff_alpha;                  /* [1, 1] ReZero */
    cg_linear_layer classifier;            /* D -> 2 (epsilon, tau) */
    cg_linear_layer fitness;               /* D -> 1 */
    cg_linear_layer recon1[CG_DANGO_MAX_NETWORKS], recon2[CG_DANGO_MAX_NETWORKS]; /* D -> D -> n_g */
} cg_dango;

/* Builds the model on n_genes genes and cfg->n_networks networks (net[g] for cfg->networks[g]),
 * registers and initialises every parameter. The networks are borrowed and must outlive the model.
 * Errors: CG_ERR_INVALID_ARG (n_genes < 1, no network), CG_ERR_NOMEM. */
cg_status cg_dango_init(cg_dango *m, const cg_dango_config *cfg, int64_t n_genes, const cg_dango_network *net);
/* The same on a graph: the networks are the graph's relations named in cfg->networks. Errors:
 * CG_ERR_INVALID_ARG naming a relation the graph lacks (and how to build it) or one that is not an
 * undirected gene-gene relation; those of cg_dango_init. */
cg_status cg_dango_init_graph(cg_dango *m, const cg_dango_config *cfg, const cg_graph *g);
void cg_dango_free(cg_dango *m);

/* The sample S_i of node `node` in network g at encoder layer `layer` (0 or 1) for `step` (see the top):
 * writes min(|list|, num_samples) (all of the list when num_samples is 0) distinct gene indices into out
 * (room for max(num_samples, |list|)) in list order, returns their number. */
int64_t cg_dango_sample(const cg_dango *m, int g, int layer, int32_t node, uint64_t step, bool training,
                        int32_t *out);

/* The networks' encodings of the genes genes[0..u) (distinct, in [0, N)): h[g] [u, D] for each network,
 * and e [u, D] their meta-embedding (either output may be NULL). Errors (ctx): CG_ERR_INVALID_ARG (a gene
 * out of range), CG_ERR_NOMEM. Returns the ctx status. */
cg_status cg_dango_encode(cg_ctx *ctx, const cg_dango *m, const int32_t *genes, int64_t u, cg_tensor **h, cg_tensor **e);

/* y [n, CG_NUM_LABELS] (z units) for genotypes geno [n, 3] (gene indices, -1 padded, at least one gene
 * each). Errors (NULL, in ctx): CG_ERR_INVALID_ARG naming a bad gene index or an empty genotype. */
cg_tensor *cg_dango_forward(cg_ctx *ctx, const cg_dango *m, const int32_t *geno, int64_t n);
/* The same with a cache (cellgraph/model.h; NULL: none) kept across the batches of one prediction: in
 * evaluation (!ctx->training) the first call encodes every gene once and stores the meta-embeddings
 * [N, D] in it, later calls read the batch's rows from it (the encoders' samples do not depend on the
 * batch in evaluation, so the function is the same); in training the cache is ignored. */
cg_tensor *cg_dango_forward_cached(cg_ctx *ctx, const cg_dango *m, const int32_t *geno, int64_t n, cg_model_cache *cache);

/* The weighted sparse MSE of network g's reconstruction (formula at the top) for predictions P [r, n_g]
 * of genes x[0..r): -> [1]. A recorded op (gradient to P only); the targets are read from the network,
 * never built densely. x must stay valid until backward. */
cg_tensor *cg_dango_sparse_mse(cg_ctx *ctx, const cg_dango *m, int g, cg_tensor *P, const int32_t *x, int64_t r);

/* The same loss for P = recon2_g(S) = S W^T + b (W, b: recon.<g>.layers.1) without forming P [r, n_g]:
 * sum_c P_ic^2 = s_i^T (W^T W) s_i + 2 (W^T b) . s_i + |b|^2 over all columns, P at the row's edges only,
 * and the gradients of S, W and b in closed form (formulas in src/models/dango_recon.c). Equal to
 * cg_dango_sparse_mse(recon2_g(S)) up to float rounding, at O(r D^2 + n_g D^2 + nnz D) instead of
 * O(r n_g D): the reconstruction's cost no longer grows with r x n_g. S [r, D] -> [1]; a recorded op
 * (gradients to S, W, b). Errors (NULL, in ctx): CG_ERR_SHAPE (S not
 * [r, D], network g empty), CG_ERR_INVALID_ARG (g or a gene index out of range), CG_ERR_NOMEM. */
cg_tensor *cg_dango_recon_mse(cg_ctx *ctx, const cg_dango *m, int g, cg_tensor *S, const int32_t *x, int64_t r);

/* L_recon = sum_g L_g for genes x[0..r) (repeats allowed): the encoders, each R_g's first Linear + SiLU, then
 * cg_dango_recon_mse -> [1]. */
cg_tensor *cg_dango_recon_loss(cg_ctx *ctx, const cg_dango *m, const int32_t *x, int64_t r);

/* The auxiliary training loss: recon_beta * L_recon on cfg.recon_genes genes drawn from (seed, ctx->step);
 * NULL (and no error) when recon_beta is 0, or outside training (!ctx->training or !ctx->grad_enabled). */
cg_tensor *cg_dango_aux_loss(cg_ctx *ctx, const cg_dango *m);

/* Pre-training by reconstruction (dango.md a.6): `epochs` passes over a seeded permutation of all genes
 * in batches of batch_size (the tail dropped), L_recon only, a fresh Adam (lr, default betas, no weight
 * decay). ctx is reset per step. *first_loss and *last_loss (optional) receive the mean loss of the
 * first and last epoch; progress (optional) is called after each epoch with its mean loss. `train`
 * runs it (cfg.pretrain_epochs, pretrain_batch_size, lr 1e-3) before the first step of a new run. Errors: CG_ERR_INVALID_ARG (epochs < 0, batch_size < 1), those of the steps. */
cg_status cg_dango_pretrain(cg_ctx *ctx, cg_dango *m, int epochs, int batch_size, double lr, uint64_t seed,
                            double *first_loss, double *last_loss, cg_epoch_progress_fn progress, void *arg);

/* The model's table in the registry (cellgraph/model.h). */
extern const cg_model_type cg_dango_model_type;

#endif
