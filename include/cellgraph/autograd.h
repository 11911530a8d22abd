/* cellgraph/autograd.h: recorded ops. Each validates shapes, allocates its output in the context's
 * arena, runs the forward kernel of cellgraph/ops.h and records its backward on the tape (only when an
 * input requires a gradient). All return NULL on error and record it in ctx (see cellgraph/tape.h:
 * errors are sticky; a NULL input returns NULL without a new message).
 * Shapes: "[M, N]" means a tensor whose last dimension is N and whose other dimensions multiply to M
 * (see cellgraph/tensor.h); outputs are 2-d [M, N] unless stated.
 */
#ifndef CELLGRAPH_AUTOGRAD_H
#define CELLGRAPH_AUTOGRAD_H

#include "cellgraph/ops.h"
#include "cellgraph/tape.h"

/* op(a) @ op(b) + bias: a [M, K] (or [K, M] if ta), b [K, N] (or [N, K] if tb), bias [N] or NULL. */
cg_tensor *cg_matmul(cg_ctx *ctx, cg_tensor *a, cg_tensor *b, cg_tensor *bias, bool ta, bool tb);
/* torch.nn.functional.linear: x [M, in] @ weight[out, in]^T + bias[out] -> [M, out]; bias may be NULL. */
cg_tensor *cg_linear(cg_ctx *ctx, cg_tensor *x, cg_tensor *weight, cg_tensor *bias);

/* a (op) b elementwise; b has a's shape or is one row [N] / [1, N] broadcast over a's rows. */
cg_tensor *cg_add(cg_ctx *ctx, cg_tensor *a, cg_tensor *b);
cg_tensor *cg_sub(cg_ctx *ctx, cg_tensor *a, cg_tensor *b);
cg_tensor *cg_mul(cg_ctx *ctx, cg_tensor *a, cg_tensor *b);
/* x [M, N] with row i scaled by w[i] (w has M elements, e.g. [M, 1]) -> x's shape. */
cg_tensor *cg_rowscale(cg_ctx *ctx, cg_tensor *x, cg_tensor *w);
/* s * x, same shape as x. */
cg_tensor *cg_scale(cg_ctx *ctx, cg_tensor *x, float s);

/* act(x), same shape as x; param = leaky-ReLU slope. */
cg_tensor *cg_act(cg_ctx *ctx, cg_activation a, cg_tensor *x, float param);
cg_tensor *cg_relu(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_leaky_relu(cg_ctx *ctx, cg_tensor *x, float slope);
cg_tensor *cg_gelu(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_silu(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_sigmoid(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_tanh(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_mish(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_softplus(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_logcosh(cg_ctx *ctx, cg_tensor *x);

/* torch.nn.LayerNorm over the last dimension: x [M, N], weight/bias [N] (either may be NULL). */
cg_tensor *cg_layernorm(cg_ctx *ctx, cg_tensor *x, cg_tensor *weight, cg_tensor *bias, float eps);

/* Inverted dropout with probability p in [0, 1); identity (returns x) when !ctx->training or p == 0.
 * The mask is a function of (ctx->seed, ctx->step, ctx->op_counter, element index). */
cg_tensor *cg_dropout(cg_ctx *ctx, cg_tensor *x, float p);
/* The same, with the mask of the first `period` elements repeated over x (period divides numel): the
 * samples of a batch laid out one after the other ([B * N, D], period N * D) share one mask, so that
 * differences between samples (z_w - z_i) reflect the samples, not independent dropout noise. */
cg_tensor *cg_dropout_shared(cg_ctx *ctx, cg_tensor *x, float p, int64_t period);

/* Dropout of rows that stand for rows ids[k] of a larger tensor [R, N] (ids int32 [M], each in [0, R)):
 * x [M, N] gets the mask that cg_dropout_shared(period R * N) gives those rows when called as the op
 * numbered op_index of this step (stream (ctx->step << 24) ^ op_index; ctx->op_counter is not used or
 * advanced). Identity when !ctx->training or p == 0. Used by incremental evaluation to recompute a few
 * rows of a layer with exactly the wildtype pass's masks. */
cg_tensor *cg_dropout_rows(cg_ctx *ctx, cg_tensor *x, float p, const int32_t *ids, uint64_t op_index);

/* [a; b]: a [Ma, N] on top of b [Mb, N] -> [Ma + Mb, N]. */
cg_tensor *cg_concat_rows(cg_ctx *ctx, cg_tensor *a, cg_tensor *b);

/* [x_0 | ... | x_{n-1}] along the last dimension; all x_k [M, N_k] with the same M; 1 <= n <= 4. */
cg_tensor *cg_concat(cg_ctx *ctx, cg_tensor **xs, int n);
/* x[:, start : start + len] of x [M, N]. */
cg_tensor *cg_slice_cols(cg_ctx *ctx, cg_tensor *x, int64_t start, int64_t len);
/* Splits x [M, N] into n slices of sizes[k] columns (sum = N); outs[k] receives each. Returns ctx status. */
cg_status cg_split(cg_ctx *ctx, cg_tensor *x, const int64_t *sizes, int n, cg_tensor **outs);

/* Sum / mean of all elements -> [1]. */
cg_tensor *cg_sum(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_mean(cg_ctx *ctx, cg_tensor *x);
/* Sum / mean over rows of x [M, N] -> [1, N] (torch: x.sum(0, keepdim=True)). */
cg_tensor *cg_sum_rows(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_mean_rows(cg_ctx *ctx, cg_tensor *x);
/* Sum / mean over the last dimension of x [M, N] -> [M, 1]. */
cg_tensor *cg_sum_cols(cg_ctx *ctx, cg_tensor *x);
cg_tensor *cg_mean_cols(cg_ctx *ctx, cg_tensor *x);

/* x[idx] for x [R, N] and idx an int32 tensor of n indices in [0, R) -> [n, N] (embedding lookup;
 * backward is a scatter-add). An out-of-range index is an error naming it. */
cg_tensor *cg_gather_rows(cg_ctx *ctx, cg_tensor *x, cg_tensor *idx);
/* out [n_out, N] zero, then out[idx[i]] += x[i] for x [n, N], idx int32 [n] in [0, n_out). */
cg_tensor *cg_scatter_add_rows(cg_ctx *ctx, cg_tensor *x, cg_tensor *idx, int64_t n_out);

/* Segment ops over csr (which must stay valid until backward): x [E, N] in CSR entry order ->
 * [S, N] (sum, mean, max) or [E, N] (softmax per column within each segment). */
cg_tensor *cg_segment_sum(cg_ctx *ctx, cg_tensor *x, const cg_csr *csr);
cg_tensor *cg_segment_mean(cg_ctx *ctx, cg_tensor *x, const cg_csr *csr);
cg_tensor *cg_segment_max(cg_ctx *ctx, cg_tensor *x, const cg_csr *csr);
cg_tensor *cg_segment_softmax(cg_ctx *ctx, cg_tensor *x, const cg_csr *csr);

/* Mean of (pred - target)^2 over the entries with a non-NaN target -> [1] (0 with no valid entry).
 * pred and target have the same numel; target needs no gradient. */
cg_tensor *cg_mse_masked(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target);

/* Validates a CSR: rowptr monotone from 0 to nnz, col in [0, n_cols). Errors: CG_ERR_FORMAT naming
 * the first bad row or entry. O(S + E). */
cg_status cg_csr_validate(const cg_csr *csr);

#endif
