/* cellgraph/stoich_hypergraph.h: torchcell's StoichHypergraphConv, batched over one shared hypergraph.
 *
 * Source: torchcell/nn/stoichiometric_hypergraph_conv.py @007c45e (class StoichHypergraphConv), math as
 * written in ../shared/reference/torchcell-models.md section 1.7; used by HeteroCell with
 * `metabolism: hypergraph` (DESIGN.md section 5): metabolites are the nodes, reaction nodes the
 * hyperedges, the CURRENT layer's reaction embeddings the hyperedge attributes.
 *
 * ---------------------------------------------------------------- the math (one sample, one head h)
 * Incidences k = 1..K: (v_k node, e_k hyperedge, s_k signed stoichiometry). With X = x W^T [N, H, C],
 * Ahat = A W^T [M, H, C] (the same W), g_v = sigmoid(w_g . x_v + b_g) on the UNtransformed input:
 *   score_kh = att[h, :C] . X[v_k, h] + att[h, C:] . Ahat[e_k, h]
 *   p_kh     = softmax of LeakyReLU_slope(score_kh) over the incidences of the same hyperedge e_k
 *              (attention_mode "node") or of the same node v_k ("edge")
 *   alpha_kh = dropout(p_kh)                  (training only; alpha = 1 without attention, H = 1)
 *   w_kh     = alpha_kh g_{v_k} s_k           (g = 1 ungated)
 *   D_v = 1 / sum_{k: v_k = v} |s_k|,  B_e = 1 / sum_{k: e_k = e} |s_k|   (1/0 = inf -> 0)
 *   m_e[h]   = B_e sum_{k: e_k = e} w_kh X[v_k, h]                  (node -> hyperedge)
 *   y_v[h]   = D_v sum_{k: v_k = v} w_kh m_{e_k}[h]                 (hyperedge -> node, same w: alpha,
 *                                                                    gate and sign enter twice)
 *   out_v    = [y_v[0] | ... | y_v[H-1]] (concat) or (1/H) sum_h y_v[h] (mean); + bias (left to cg_add).
 * torchcell's gate is per node (sigmoid(gate_lin(x)) indexed by edge_index[0]), so here it is g [B*N].
 * Without attention torchcell uses one head whatever `heads` says (lin maps F -> C); so does cellgraph
 * (cg_stoich_hg_heads), and its bias then has C entries (torchcell would allocate heads*C and fail).
 *
 * ---------------------------------------------------------------- incidences and the batch
 * The incidence structure is a cg_rel_batch (cellgraph/relbatch.h) whose DESTINATION is the hyperedge
 * and SOURCE the node, i.e. the graph's (metabolite, rmr_rev, reaction) relation:
 *   n_dst = M hyperedges (reaction nodes), n_src = N nodes (metabolites), n_edges = K incidences;
 *   rowptr/src/dst: incidences grouped by hyperedge (CSR by destination; k is the CSR position);
 *   src_ptr/src_perm: the same incidences grouped by node (cg_rel_reverse_index; REQUIRED here);
 *   attr [K, 1] (attr_dim 1): s_k, the signed stoichiometry (consumed < 0 < produced);
 *   B samples; dead_dst: per-sample dead hyperedges (reactions; from the deletion block), dead_src:
 *   per-sample dead nodes (metabolites never die in the cell graph, but the kernel supports it); one
 *   dead_stride for both, e.g. the blocks of cg_deletion_batch with cg_deletion_view offsets.
 * In sample b an incidence is ALIVE iff its hyperedge and its node are alive in b. Every sum above
 * (D_v, B_e, both softmaxes, both propagation steps) runs over the alive incidences of b only: a dead
 * hyperedge carries no message, a node whose incidences are all dead (or that is itself dead, or in no
 * hyperedge) gets D_v = 0 and an output row of 0 (the bias is added by the caller).
 * Features are sample-major (row = b * N + n): X [B*N, H*C], Ahat [B*M, H*C], gate [B*N].
 * Nothing is replicated per sample except per-incidence scalars ([B*K, H] logits and probabilities) and
 * per-hyperedge messages m [B*M, H*C]; no [K, H, C] buffer is ever built.
 *
 * ---------------------------------------------------------------- determinism
 * Forward and backward loop over (sample, hyperedge) or (sample, node) with each iteration owning its
 * outputs (hyperedge-grouped passes write hyperedge rows and incidence scalars, node-grouped passes write
 * node rows), visiting incidences in CSR order (hyperedge groups) or src_perm order (node groups). The
 * att gradient is a sum over all incidences: fixed chunks of CG_STOICH_HG_CHUNK (sample, incidence)
 * pairs are summed in double, the chunk sums added in chunk order. Results are bitwise independent of the
 * thread count. Attention dropout keeps (b, k, h) iff
 *   cg_rng_uniform(seed, stream, (b * K + k) * H + h) >= p   (scaled by 1 / (1 - p)),
 * where the recorded op takes seed = ctx->seed and stream = (ctx->step << 24) ^ ctx->op_counter++ (as
 * cg_dropout), so the mask is a pure function of (seed, stream, b, k, h).
 */
#ifndef CELLGRAPH_STOICH_HYPERGRAPH_H
#define CELLGRAPH_STOICH_HYPERGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cellgraph/autograd.h"
#include "cellgraph/params.h"
#include "cellgraph/relbatch.h"

enum { CG_STOICH_ATT_NODE = 0, CG_STOICH_ATT_EDGE = 1 };

/* (sample, incidence) pairs per partial sum of the att gradient. */
#define CG_STOICH_HG_CHUNK 1024

typedef struct cg_stoich_hg_config {
    int heads;            /* H with use_attention (>= 1); ignored (1 head) without attention */
    int channels;         /* C = out_channels per head (>= 1) */
    bool concat;          /* true: out [B*N, H*C]; false: mean over heads, out [B*N, C] */
    bool use_attention;   /* the att logits and softmax; else alpha = 1 */
    bool gated;           /* is_stoich_gated: the op takes g [B*N] */
    int attention_mode;   /* CG_STOICH_ATT_NODE: softmax over a hyperedge's incidences (torchcell "node");
                             CG_STOICH_ATT_EDGE: over a node's incidences ("edge") */
    float negative_slope; /* LeakyReLU slope of the logits (torchcell default 0.2) */
    float dropout;        /* attention dropout p in [0, 1), training mode only */
} cg_stoich_hg_config;

/* torchcell's defaults for out_channels C: one head, concat, no attention, no gate, slope 0.2, p 0. */
static inline cg_stoich_hg_config cg_stoich_hg_default_config(int channels) {
    cg_stoich_hg_config c = {.heads = 1, .channels = channels, .concat = true, .use_attention = false,
                             .gated = false, .attention_mode = CG_STOICH_ATT_NODE, .negative_slope = 0.2f,
                             .dropout = 0.0f};
    return c;
}
/* Heads actually used: cfg->heads with attention, else 1. */
static inline int cg_stoich_hg_heads(const cg_stoich_hg_config *c) { return c->use_attention ? c->heads : 1; }
/* Columns of the output: H*C (concat) or C (mean). */
static inline int64_t cg_stoich_hg_out_cols(const cg_stoich_hg_config *c) {
    return c->concat ? (int64_t)cg_stoich_hg_heads(c) * c->channels : c->channels;
}

/* Checks an incidence structure once, where it is built (O(K + N + M)): pointers present, attr_dim 1,
 * B >= 1, rowptr monotone from 0 to K with dst consistent, src in [0, N), src_ptr/src_perm a grouping of
 * the K incidences by node (ascending within a node), finite stoichiometry. The recorded op itself only
 * checks sizes (O(1)) and trusts the indices. Errors: CG_ERR_INVALID_ARG (NULL or bad sizes),
 * CG_ERR_FORMAT naming the first bad entry. */
cg_status cg_stoich_hg_validate(const cg_rel_batch *inc);

/* ---------------------------------------------------------------- kernels (raw pointers) */

/* What forward saves for backward (caller-allocated; sizes with H = cg_stoich_hg_heads(cfg)). */
typedef struct cg_stoich_hg_state {
    float *m;        /* [B*M, H*C] hyperedge messages m_e */
    float *dnorm;    /* [B*N] D_v per sample */
    float *bnorm;    /* [B*M] B_e per sample */
    float *score;    /* [B*K, H] logits before LeakyReLU (attention; else NULL) */
    float *prob;     /* [B*K, H] softmax p_kh before dropout (attention; else NULL); 0 for dead incidences */
    uint8_t *keep;   /* [B*K, H] dropout keep flags (attention with p > 0; else NULL) */
} cg_stoich_hg_state;

/* Forward. X [B*N, H*C]; Ahat [B*M, H*C] (attention; else unused, may be NULL); gate [B*N] or NULL
 * (ungated); att [H, 2C] (attention; else NULL); p: the dropout probability to apply now (0 in eval
 * mode), with (seed, stream) its Philox key. Writes out [B*N, cg_stoich_hg_out_cols(cfg)] and st. */
void cg_stoich_hg_forward(float *out, const cg_stoich_hg_state *st, const float *X, const float *Ahat,
                          const float *gate, const float *att, const cg_rel_batch *inc,
                          const cg_stoich_hg_config *cfg, float p, uint64_t seed, uint64_t stream);

/* Bytes of scratch memory cg_stoich_hg_backward needs (dm [B*M, H*C], dw and dscore [B*K, H], the
 * chunk partials of the att gradient in double). */
size_t cg_stoich_hg_work_bytes(const cg_rel_batch *inc, const cg_stoich_hg_config *cfg);

/* Backward: ACCUMULATES dX [B*N, H*C], dAhat [B*M, H*C], dgate [B*N], datt [H, 2C] (any may be NULL:
 * not needed) from dout [B*N, out_cols], using forward's inputs and state, the same p, and `work`
 * (cg_stoich_hg_work_bytes bytes, 8-byte aligned, contents ignored). */
void cg_stoich_hg_backward(float *dX, float *dAhat, float *dgate, float *datt, void *work, const float *dout,
                           const cg_stoich_hg_state *st, const float *X, const float *Ahat, const float *gate,
                           const float *att, const cg_rel_batch *inc, const cg_stoich_hg_config *cfg, float p);

/* ---------------------------------------------------------------- recorded ops */

/* The fused conv WITHOUT the linear maps and WITHOUT the bias (add it with cg_add):
 *   X    [B*N, H*C]  x W^T (cg_linear with lin.weight, no bias)
 *   Ahat [B*M, H*C]  A W^T with the same W (attention only; ignored, may be NULL, otherwise)
 *   gate [B*N] (or [B*N, 1]) sigmoid(gate_lin(x)) (cg_stoich_gate) when cfg->gated, else NULL
 *   att  numel H*2C  ([1, H, 2C] as torchcell, or [H, 2C]) when cfg->use_attention, else NULL
 * -> [B*N, H*C] (concat) or [B*N, C] (mean over heads). Dropout on alpha when ctx->training and
 * cfg->dropout > 0. `inc` is copied, but the arrays it points to must stay valid until backward.
 * Errors (NULL, sticky): CG_ERR_INVALID_ARG (NULL inc/cfg, missing src_ptr/src_perm/attr, attr_dim != 1,
 * B < 1, rowptr/src_ptr ends that disagree with K, dead_stride too small, heads/channels < 1, unknown
 * attention_mode, dropout outside [0, 1), a gate or att given against the config), CG_ERR_SHAPE (a
 * tensor whose shape or dtype does not match, naming it), CG_ERR_NOMEM. */
cg_tensor *cg_stoich_hypergraph(cg_ctx *ctx, cg_tensor *X, cg_tensor *Ahat, cg_tensor *gate, cg_tensor *att,
                                const cg_rel_batch *inc, const cg_stoich_hg_config *cfg);

/* The stoichiometric gate: sigmoid(x w_g^T + b_g) for x [R, F], w_g numel F ([1, F] = gate_lin.weight),
 * b_g numel 1 -> [R, 1] (cg_linear + cg_sigmoid; errors theirs). */
cg_tensor *cg_stoich_gate(cg_ctx *ctx, cg_tensor *x, cg_tensor *w_g, cg_tensor *b_g);

/* ---------------------------------------------------------------- the layer */

/* StoichHypergraphConv(in_channels = F, out_channels = C, ...) with PyTorch parameter names. */
typedef struct cg_stoich_hg_layer {
    cg_stoich_hg_config cfg;
    int in;                 /* F */
    cg_tensor *lin_weight;  /* <prefix>.lin.weight       [H*C, F] (H = cg_stoich_hg_heads) */
    cg_tensor *gate_weight; /* <prefix>.gate_lin.weight  [1, F] (gated; else NULL) */
    cg_tensor *gate_bias;   /* <prefix>.gate_lin.bias    [1] (gated; else NULL) */
    cg_tensor *att;         /* <prefix>.att              [1, H, 2C] (attention; else NULL) */
    cg_tensor *bias;        /* <prefix>.bias             [out_cols] (bias; else NULL) */
} cg_stoich_hg_layer;

/* Registers the parameters (before cg_params_finalize). Errors: CG_ERR_INVALID_ARG (a bad config or
 * in < 1), those of cg_params_add. */
cg_status cg_stoich_hg_register(cg_stoich_hg_layer *l, cg_param_store *ps, const char *prefix, int in,
                                const cg_stoich_hg_config *cfg, bool bias);

/* torchcell's reset_parameters: glorot lin.weight, gate_lin.weight and att; gate_lin.bias
 * U(-1/sqrt(F), 1/sqrt(F)) (PyG Linear's default bias init); bias 0. Philox keyed by seed and the
 * parameter name (cellgraph/nn.h). */
void cg_stoich_hg_init(const cg_stoich_hg_layer *l, uint64_t seed);

/* The whole conv: x [B*N, F] node features, A [B*M, F] hyperedge attributes (the current reaction
 * embeddings; attention only, may be NULL otherwise) -> [B*N, out_cols] =
 * cg_stoich_hypergraph(x W^T, A W^T, gate(x), att) + bias. Errors: those of the ops. */
cg_tensor *cg_stoich_hg_layer_forward(cg_ctx *ctx, const cg_stoich_hg_layer *l, cg_tensor *x, cg_tensor *A,
                                      const cg_rel_batch *inc);

#endif
