/* cellgraph/nn.h: basic layers built from recorded ops: Linear, MLP, LayerNorm, Embedding.
 *
 * Each layer registers its parameters in a cg_param_store under PyTorch names (prefix + ".weight",
 * ".bias"), is initialised after cg_params_finalize with a seeded, thread-count independent draw
 * (Philox, cellgraph/rng.h; stream = a hash of the parameter name), and runs forward on a cg_ctx.
 * Sources: torch.nn.Linear (init U(-1/sqrt(in), 1/sqrt(in)) for weight and bias, i.e. kaiming_uniform
 * with a = sqrt(5)), torch.nn.LayerNorm (weight 1, bias 0, eps 1e-5), torch.nn.Embedding (N(0, 1)).
 */
#ifndef CELLGRAPH_NN_H
#define CELLGRAPH_NN_H

#include "cellgraph/autograd.h"
#include "cellgraph/params.h"

typedef struct cg_linear_layer {
    cg_tensor *weight; /* [out, in] */
    cg_tensor *bias;   /* [out] or NULL */
    int in, out;
} cg_linear_layer;

typedef struct cg_layernorm_layer {
    cg_tensor *weight, *bias; /* [dim] */
    int dim;
    float eps;
} cg_layernorm_layer;

typedef struct cg_embedding_layer {
    cg_tensor *weight; /* [n, dim] */
    int n, dim;
} cg_embedding_layer;

/* An MLP: n_layers Linear layers in -> hidden ... -> out; after every layer but the last:
 * [LayerNorm if norm], activation, dropout. Names: prefix.layers.<i>, prefix.norms.<i>. */
#define CG_MLP_MAX_LAYERS 8
typedef struct cg_mlp {
    int n_layers;
    cg_linear_layer lin[CG_MLP_MAX_LAYERS];
    cg_layernorm_layer norm[CG_MLP_MAX_LAYERS];
    bool use_norm;
    cg_activation act;
    float dropout;
    bool act_last; /* also apply [norm,] act, dropout after the last layer */
} cg_mlp;

/* Registration (before finalize). Errors: those of cg_params_add. */
cg_status cg_linear_register(cg_linear_layer *l, cg_param_store *ps, const char *prefix, int in, int out, bool bias);
cg_status cg_layernorm_register(cg_layernorm_layer *l, cg_param_store *ps, const char *prefix, int dim);
cg_status cg_embedding_register(cg_embedding_layer *l, cg_param_store *ps, const char *prefix, int n, int dim);
cg_status cg_mlp_register(cg_mlp *m, cg_param_store *ps, const char *prefix, int in, int hidden, int out,
                          int n_layers, bool use_norm, cg_activation act, float dropout, bool act_last);

/* Initialisation (after finalize), deterministic in seed. */
void cg_linear_init(const cg_linear_layer *l, uint64_t seed);
void cg_layernorm_init(const cg_layernorm_layer *l);
void cg_embedding_init(const cg_embedding_layer *l, uint64_t seed);
void cg_mlp_init(const cg_mlp *m, uint64_t seed);
/* glorot (Xavier) uniform on a tensor: U(-b, b), b = sqrt(6 / (fan_in + fan_out)) with fan_in, fan_out
 * the last two dimensions (PyG's inits.glorot). */
void cg_glorot_init(cg_tensor *t, uint64_t seed);
/* Philox stream for a parameter: FNV-1a hash of its name. */
uint64_t cg_param_stream(const cg_tensor *t);

/* Forward passes; x [M, in]. */
cg_tensor *cg_linear_layer_forward(cg_ctx *ctx, const cg_linear_layer *l, cg_tensor *x);
cg_tensor *cg_layernorm_layer_forward(cg_ctx *ctx, const cg_layernorm_layer *l, cg_tensor *x);
/* rows ids (int32 [n]) of the table -> [n, dim] */
cg_tensor *cg_embedding_forward(cg_ctx *ctx, const cg_embedding_layer *l, cg_tensor *ids);
cg_tensor *cg_mlp_forward(cg_ctx *ctx, const cg_mlp *m, cg_tensor *x);
/* The same with dropout masks repeated every period_rows rows (cg_dropout_shared): samples laid out
 * one after the other share their masks. */
cg_tensor *cg_mlp_forward_shared(cg_ctx *ctx, const cg_mlp *m, cg_tensor *x, int64_t period_rows);
/* The same on rows x [M, in] that stand for rows ids[k] of a larger input (ids int32 [M]): the dropout
 * masks are those cg_mlp_forward_shared gives the larger input when its first dropout is the step's op
 * number op_first (cg_dropout_rows; the k-th dropout of the MLP uses op_first + k). ctx->op_counter is
 * neither used nor advanced. */
cg_tensor *cg_mlp_forward_rows(cg_ctx *ctx, const cg_mlp *m, cg_tensor *x, const int32_t *ids, uint64_t op_first);

/* AttentionalAggregation (torch_geometric.nn.aggr.AttentionalAggregation with gate_nn and nn):
 * for each group s (a segment of csr, whose entries are rows of x), z_s = sum_i softmax_i(gate(x_i)) *
 * transform(x_i), the softmax taken over the group's rows. x [R, F] with csr->nnz == R rows already in
 * group order (e.g. the alive genes of each sample); gate: F -> ... -> 1; transform: F -> ... -> D.
 * Returns [S, D]; an empty group gives a zero row. */
cg_tensor *cg_attentional_aggregation(cg_ctx *ctx, const cg_mlp *gate, const cg_mlp *transform, cg_tensor *x,
                                      const cg_csr *csr);

/* AttentionalAggregation of B groups that each differ from one reference group by a few rows, computed
 * from the reference's sums (incremental evaluation, cellgraph/hetero_cell.h):
 *   reference: rows n = 0..N-1 with gate g_ref [N, 1] and transform t_ref [N, D];
 *   group b:   the reference rows except those listed in removed (removed_idx[removed_ptr[b] ..
 *              removed_ptr[b+1]), each in [0, N), no repeats within a group), plus the new rows
 *              add_ptr[b] .. add_ptr[b+1] of g_new [K, 1], t_new [K, D] (add_ptr[B] == K);
 *   z_b = sum_i softmax_i(g_i) t_i over the group's rows  ->  z [B, D] (an empty group gives 0).
 * Forward in double: the reference max M_ref, normaliser S = sum exp(g - M_ref) and weighted sum
 * T = sum exp(g - M_ref) t are computed once; group b uses M_b = max(M_ref, new gates), rescales S and
 * T by exp(M_ref - M_b), subtracts the removed rows' terms and adds the new rows'. When the removed rows
 * carry nearly all of the reference weight (the remainder below 1e-6 of S), group b is summed directly
 * instead, so the result never comes from a cancellation. Backward is exact: every reference row gets
 * the gradient of every group that keeps it (sum over b of softmax weight x dz_b, in double), removed
 * rows get nothing from the groups that drop them.
 * The result equals cg_attentional_aggregation's softmax pooling on the explicit groups up to rounding.
 * removed_ptr, removed_idx and add_ptr must stay valid until backward. Errors: CG_ERR_SHAPE,
 * CG_ERR_INVALID_ARG (an index out of range), CG_ERR_NOMEM. */
cg_tensor *cg_attentional_pool_update(cg_ctx *ctx, cg_tensor *g_ref, cg_tensor *t_ref, cg_tensor *g_new,
                                      cg_tensor *t_new, int64_t B, const int64_t *removed_ptr,
                                      const int32_t *removed_idx, const int64_t *add_ptr);

#endif
