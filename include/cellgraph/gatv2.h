/* cellgraph/gatv2.h: GATv2 attention convolution, fused and batched over one shared graph.
 *
 * Follows PyTorch Geometric's torch_geometric.nn.conv.GATv2Conv with share_weights=False, residual=False
 * and fill_value='mean' (Brody, Alon, Yahav, "How attentive are graph attention networks?", ICLR 2022).
 * The linear maps lin_l and lin_r are NOT part of this op: the caller computes them with cg_linear, so
 * that this op sees only the per-node projections:
 *
 *   xl = lin_l(x_src)  [B*Ns, H*C]   the message and the source term of the score (PyG x_j)
 *   xr = lin_r(x_dst)  [B*Nd, H*C]   the destination term of the score (PyG x_i)
 *
 * and fuses everything per edge: lin_edge (no bias), the score, the segment softmax, attention dropout,
 * the weighted sum, the head concat/mean and the output bias. No per-edge feature buffer ([E, H, C]) is
 * ever materialised; the only per-edge state kept for backward is alpha [B, E + Nd, H].
 *
 * Batched graph (cellgraph/relbatch.h): B samples share the relation's CSR by destination; node rows are
 * sample-major (row b * N + n). In sample b the edge set is that of PyG on the sample's own graph:
 *   - a CSR entry e (s -> d) is a candidate of destination d when s and d are alive in sample b and,
 *     with add_self_loops, s != d (PyG's remove_self_loops);
 *   - with add_self_loops (only for same_type relations) every alive d gets one self loop d -> d whose
 *     edge attribute is the MEAN of the attributes of d's candidate edges in sample b (a zero vector when
 *     d has none), as PyG's add_self_loops(fill_value='mean') on the sample's graph.
 * For each candidate edge s -> d and head h (z has C channels, a = attr of the edge):
 *   z       = xl[b,s,h,:] + xr[b,d,h,:] + (W_e a)[h,:]          (W_e a absent without w_edge)
 *   score_h = sum_c att[h,c] * leaky_relu(z_c, negative_slope)
 *   alpha   = softmax of score_h over the candidate edges of d (max subtracted)
 *   alpha'  = alpha * keep / (1 - p)  in training with p = dropout > 0, else alpha
 *   out[b,d,h,:] = sum over candidates of alpha' * xl[b,s,h,:]
 * then concat heads -> [H*C] or mean over heads -> [C], then + bias. An alive destination without any
 * candidate edge gets only the bias (PyG); a DEAD destination's row is all zeros.
 * Attention dropout mask: entry (b, pos, h) is kept when
 *   cg_rng_uniform(seed, stream, (b * (E + Nd) + pos) * H + h) >= p
 * with pos the CSR position of the edge, or E + d for the self loop of d. It is recomputed in backward,
 * never stored.
 *
 * Shape legend: B samples, Ns / Nd source / destination nodes, E CSR entries, H heads, C channels per
 * head, De edge attribute dimension, F = H*C (concat) or C (mean).
 * Kernels follow cellgraph/ops.h: no allocation, no failure, no shape checks; backward ACCUMULATES.
 * Parallel loops run over (sample, block of CG_GATV2_BLOCK destinations) in forward and backward pass 1
 * and over (sample, source) in backward pass 2; each output row is written by one iteration, and the
 * small parameter gradients (att, W_e, bias) are summed per block in a scratch buffer and then reduced
 * in block order, so results are bitwise independent of the thread count.
 */
#ifndef CELLGRAPH_GATV2_H
#define CELLGRAPH_GATV2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cellgraph/nn.h"
#include "cellgraph/params.h"
#include "cellgraph/relbatch.h"
#include "cellgraph/tape.h"

/* Destinations per block of the fixed partition used by the parameter-gradient reductions. */
#define CG_GATV2_BLOCK 64
/* Largest edge attribute dimension used through w_edge (the self-loop mean is kept on the stack). */
#define CG_GATV2_MAX_EDGE_DIM 64

/* GATv2Conv hyper-parameters (PyG defaults: heads 1, concat true, negative_slope 0.2, dropout 0,
 * add_self_loops true; torchcell uses add_self_loops false almost everywhere). */
typedef struct cg_gatv2_config {
    int heads;            /* H >= 1 */
    int channels;         /* C >= 1: out_channels per head */
    bool concat;          /* true: out [., H*C]; false: mean over heads, out [., C] */
    bool add_self_loops;  /* remove existing self loops, add one per alive node (same_type only) */
    float negative_slope; /* leaky ReLU slope inside the score */
    float dropout;        /* attention dropout p in [0, 1) (training only) */
} cg_gatv2_config;

/* Output columns: H*C with concat, else C. */
static inline int64_t cg_gatv2_out_cols(const cg_gatv2_config *c) {
    return c->concat ? (int64_t)c->heads * c->channels : c->channels;
}

/* Floats of the saved attention alpha [B, E + Nd, H]. */
size_t cg_gatv2_alpha_floats(const cg_rel_batch *r, int heads);

/* Floats of the backward scratch: dscore [B, E + Nd, H] followed by per-block partial sums
 * [B * ceil(Nd / CG_GATV2_BLOCK), H*C + H*C*De + F] (De = r->attr_dim, 0 without attributes). */
size_t cg_gatv2_scratch_floats(const cg_rel_batch *r, const cg_gatv2_config *c);

/* Forward kernel.
 *   out    [B*Nd, F]       written (dead destination rows zero)
 *   alpha  [B, E + Nd, H]  written: pre-dropout attention (self loop of d at E + d; entries that are no
 *                          candidate in a sample, and self slots without add_self_loops, are 0)
 *   xl [B*Ns, H*C], xr [B*Nd, H*C], att [H, C], bias [F] or NULL,
 *   w_edge [H*C, De] (torch Linear weight layout) or NULL: edge attributes are used only when both
 *   w_edge and r->attr are given.
 * Dropout is applied when training and c->dropout > 0, with the mask of (seed, stream) above. */
void cg_gatv2_forward(float *out, float *alpha, const float *xl, const float *xr, const float *w_edge,
                      const float *att, const float *bias, const cg_rel_batch *r, const cg_gatv2_config *c,
                      bool training, uint64_t seed, uint64_t stream);

/* Backward kernel: given dout [B*Nd, F] and the forward's alpha (and the same inputs, training, seed
 * and stream), ACCUMULATES dxl [B*Ns, H*C], dxr [B*Nd, H*C], dw_edge [H*C, De], datt [H, C] and
 * dbias [F]; any of them may be NULL (skipped; with all of dxl, dxr, dw_edge, datt NULL only the bias
 * reduction runs). scratch holds cg_gatv2_scratch_floats(r, c) floats (contents overwritten).
 * Pass 1 (sample, destination block): recomputes scores, dscore = alpha (dalpha - sum alpha dalpha),
 * accumulates dxr, self-loop terms of dxl, and block partials of datt, dw_edge, dbias; stores dscore.
 * Pass 2 (sample, source) over the reverse index: dxl[s] += alpha' dout[d] + dscore att leaky'(z). */
void cg_gatv2_backward(float *dxl, float *dxr, float *dw_edge, float *datt, float *dbias, float *scratch,
                       const float *dout, const float *alpha, const float *xl, const float *xr,
                       const float *w_edge, const float *att, const cg_rel_batch *r, const cg_gatv2_config *c,
                       bool training, uint64_t seed, uint64_t stream);

/* Recorded op: out [B*Nd, F] = GATv2Conv over relation r.
 *   xl [B*Ns, H*C] and xr [B*Nd, H*C] (any shape with those rows and columns), att with H*C elements
 *   ([H, C] or PyG's [1, H, C]), w_edge with H*C*De elements ([H*C, De]) or NULL, bias with F elements
 *   or NULL. All float32.
 * r (and everything it points to) must stay valid until backward has run. With edge attributes in r
 * and w_edge NULL the attributes are ignored (a GATv2Conv without edge_dim).
 * Attention dropout follows cg_dropout: active when ctx->training and c->dropout > 0, with seed
 * ctx->seed and stream (ctx->step << 24) ^ ctx->op_counter++ (the counter advances only then).
 * Tape: one entry for the attention part (inputs xl, xr, att, w_edge) and, when bias needs a
 * gradient, a second entry on the same output for bias (CG_TAPE_MAX_IN is 4); both share the saved
 * alpha and the backward scratch, allocated in the ctx arena at record time.
 * Errors (NULL, status recorded, message naming the tensor and shapes): CG_ERR_INVALID_ARG (r or c NULL,
 * heads/channels < 1, dropout outside [0, 1), non-finite slope, add_self_loops on a relation that is not
 * same_type, a malformed relation), CG_ERR_SHAPE (dtype or shape mismatch, w_edge without edge
 * attributes, De > CG_GATV2_MAX_EDGE_DIM), CG_ERR_NOMEM. */
cg_tensor *cg_gatv2(cg_ctx *ctx, cg_tensor *xl, cg_tensor *xr, cg_tensor *w_edge, cg_tensor *att, cg_tensor *bias,
                    const cg_rel_batch *r, const cg_gatv2_config *c);

/* ---------------------------------------------------------------- the layer */

/* GATv2Conv(in_channels = (F_src, F_dst), out_channels = C, heads = H, edge_dim = De) with PyG's
 * parameter names (share_weights false, bias true):
 *   <prefix>.lin_l.weight [H*C, F_src], <prefix>.lin_l.bias [H*C]   (applied to the sources)
 *   <prefix>.lin_r.weight [H*C, F_dst], <prefix>.lin_r.bias [H*C]   (applied to the destinations)
 *   <prefix>.att [1, H, C], <prefix>.lin_edge.weight [H*C, De] (De > 0 only), <prefix>.bias [out_cols] */
typedef struct cg_gatv2_layer {
    cg_gatv2_config cfg;
    int edge_dim;                 /* De (0: no edge attributes) */
    cg_linear_layer lin_l, lin_r;
    cg_tensor *att, *lin_edge, *bias; /* lin_edge NULL when De == 0 */
} cg_gatv2_layer;

/* Registers the parameters (before cg_params_finalize). Errors: CG_ERR_INVALID_ARG (heads/channels/in
 * < 1, edge_dim outside [0, CG_GATV2_MAX_EDGE_DIM]), those of cg_params_add. */
cg_status cg_gatv2_register(cg_gatv2_layer *l, cg_param_store *ps, const char *prefix, int in_src, int in_dst,
                            const cg_gatv2_config *cfg, int edge_dim);

/* PyG's reset_parameters: glorot lin_l.weight, lin_r.weight, att and lin_edge.weight; lin_l/lin_r biases
 * U(-1/sqrt(F), 1/sqrt(F)) as cellgraph's Linear; bias 0. Philox keyed by seed and each parameter's
 * name (cellgraph/nn.h), so the values do not depend on registration order. */
void cg_gatv2_init(const cg_gatv2_layer *l, uint64_t seed);

/* The whole conv: x_src [B*Ns, F_src], x_dst [B*Nd, F_dst] -> [B*Nd, out_cols] =
 * cg_gatv2(lin_l(x_src), lin_r(x_dst), lin_edge, att, bias) over relation r (its attributes used when
 * the layer has edge_dim > 0). Errors: those of the ops. */
cg_tensor *cg_gatv2_layer_forward(cg_ctx *ctx, const cg_gatv2_layer *l, cg_tensor *x_src, cg_tensor *x_dst,
                                  const cg_rel_batch *r);

/* The conv on inputs already mapped by lin_l and lin_r (xl [B*Ns, H*C], xr [B*Nd, H*C]), with the
 * layer's cfg replaced by *cfg when cfg is not NULL (incremental evaluation reuses the wildtype's
 * projections and runs on compact relations with explicit self loops). */
cg_tensor *cg_gatv2_layer_forward_projected(cg_ctx *ctx, const cg_gatv2_layer *l, cg_tensor *xl, cg_tensor *xr,
                                            const cg_rel_batch *r, const cg_gatv2_config *cfg);

#endif
