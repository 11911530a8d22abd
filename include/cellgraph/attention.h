/* cellgraph/attention.h: dense (multi-head) attention ops, as building blocks for DANGO's Hyper-SAGNN
 * head and HeteroNSA's attention blocks.
 *
 * Scaled dot-product attention (Vaswani et al., "Attention Is All You Need", NeurIPS 2017, eq. 1), per
 * batch b and head h, for query row i and key row j:
 *
 *   s[i,j]   = scale * sum_c q[i,c] k[j,c]                 (scale = 1 / sqrt(C) in the paper)
 *   s[i,j]   = -inf where the boolean mask is 0            (the key does not take part)
 *   p[i,:]   = softmax(s[i,:])
 *   out[i,:] = sum_j p[i,j] v[j,:]
 *
 * Boolean masks follow torch.nn.functional.scaled_dot_product_attention: keep = 1 (torch True) means
 * "takes part in attention", 0 (torch False) means masked. ONE DIFFERENCE: a FULLY MASKED row (a query
 * with no kept key, or whose kept scores are all -inf) gives NaN in torch; here it gives an all-zero
 * output row (softmax and attention alike) and receives zero gradient. Padded query slots of a batch
 * of variable-size sets are such rows.
 *
 * Hyper-SAGNN (Zhang, Zou, Ma, ICLR 2020; the head of DANGO, ma-compbio/DANGO) builds its "dynamic"
 * embedding of node i from the OTHER nodes of the hyperedge only ("diagonal masked" self-attention): that
 * is the boolean mask keep[i][j] = (i != j) over [T, T] (zeros on the diagonal, ones elsewhere), with
 * nb = nh = 1 when every sample has the same size T; key padding is ANDed into it per sample (nb = B).
 * With a single node (T = 1) the row is fully masked: zeros. (DANGO's code writes -1e32 on the diagonal
 * instead of -inf: the same for T >= 2; for a row with no other kept key it gives uniform weights over
 * the masked keys instead of zeros, which cg_softmax_masked reproduces with an additive mask of -1e32.)
 *
 * cg_attention is computed with a tiled online softmax (FlashAttention: Dao, Fu, Ermon, Rudra, Re,
 * "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022;
 * backward as in its Algorithm 4 / FlashAttention-2): keys are visited in tiles of CG_ATTN_BLOCK_K rows
 * for each block of CG_ATTN_BLOCK_Q query rows, with a running maximum m and normaliser l per query row
 * (out is rescaled by exp(m_old - m_new) whenever the maximum grows). At most one [BLOCK_Q, BLOCK_K]
 * tile of scores exists per query block (on the thread's stack); nothing of size Tq * Tk is ever
 * allocated. Forward saves only lse[B, H, Tq] = m + log l (the per-row log-sum-exp; -inf for a fully
 * masked row); backward recomputes the scores tile by tile from it:
 *   p = exp(s - lse),  D[i] = sum_c dout[i,c] out[i,c],  dp = dout v^T,  ds = p (dp - D),
 *   dq += scale ds k,  dk += scale ds^T q,  dv += p^T dout.
 * The result equals the composition cg_bmm(q, k^T) -> cg_scale -> cg_softmax_masked -> cg_bmm(p, v)
 * up to float rounding (tests/test_attention.c checks it), without its [B, H, Tq, Tk] buffers.
 *
 * Shape legend: B batch, H heads, T sequence (set) length, Tq / Tk query / key rows, C channels per
 * head, M / N the last two axes of a score tensor (N = the softmax axis), K inner dimension of a matrix
 * product. Arrays are row-major float32.
 *
 * Broadcasting of masks: a score tensor is seen as [B, H, M, N]; a mask covers [nb, nh, M, N] with
 * nb in {1, B} and nh in {1, H} (1 = shared over that axis), as torch's broadcasting of attn_mask
 * restricted to the two leading axes. Tensors with fewer than 4 dimensions are padded with 1 on the LEFT
 * (numpy / torch alignment): [M, N] is [1, 1, M, N], [H, M, N] is [1, H, M, N].
 *
 * Kernels follow cellgraph/ops.h: forward/backward pairs on raw pointers, backward ACCUMULATES (+=) into
 * its gradient outputs, a NULL gradient pointer is skipped; no allocation, no failure, no shape checks
 * (the recorded ops below validate). cg_bmm goes through cg_gemm (cellgraph/ops.h); the tile products of
 * cg_attention are plain loops (a per-tile sgemm call costs more than the product for small sets).
 * Determinism: every output element is written by one work item of a fixed partition and summed in a
 * fixed order, so no kernel's result depends on the thread count (tests/test_attention.c checks 1 vs 2
 * threads).
 */
#ifndef CELLGRAPH_ATTENTION_H
#define CELLGRAPH_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/tape.h"

/* Query rows per block and key rows per tile of cg_attention (a score tile is BLOCK_Q x BLOCK_K floats
 * on the thread's stack, 16 KiB; the forward keeps one, the backward two). */
#define CG_ATTN_BLOCK_Q 64
#define CG_ATTN_BLOCK_K 64

/* A boolean mask over scores [B, H, M, N]: keep holds nb * nh * M * N bytes laid out [nb, nh, M, N];
 * keep[...] != 0 keeps the score, 0 masks it (torch's bool attn_mask: True = keep). nb is 1 or B and nh
 * is 1 or H (1 = broadcast). keep == NULL (or a NULL mask pointer) means no mask. The caller owns the
 * bytes; recorded ops keep a pointer to them (see each op for how long they must live). */
typedef struct cg_attn_mask {
    const uint8_t *keep;
    int64_t nb;
    int64_t nh;
} cg_attn_mask;

/* ---------------------------------------------------------------- kernels: batched matrix product */

/* C[b] = op(A[b]) @ op(B[b]) for b < batch (torch.bmm / torch.matmul on stacked matrices, no bias).
 * op(A[b]) is [M, K]: A is [batch, M, K], or [batch, K, M] when transA; op(B[b]) is [K, N]: B is
 * [batch, K, N], or [batch, N, K] when transB; C is [batch, M, N]. K = 0 gives zeros. One sgemm per
 * batch entry: small products (M*N*K <= 2^18) run in parallel over b (single-threaded sgemm each), larger
 * ones one after the other with threaded sgemm (the choice depends on the shape only). */
void cg_bmm_forward(float *C, const float *A, const float *B, int64_t batch, int64_t M, int64_t N, int64_t K,
                    bool transA, bool transB);
/* dA (shape of A) += dC[b] op(B[b])^T (transposed back when transA), dB (shape of B) += op(A[b])^T dC[b]
 * (likewise), per b; NULL dA / dB skipped. */
void cg_bmm_backward(float *dA, float *dB, const float *dC, const float *A, const float *B, int64_t batch,
                     int64_t M, int64_t N, int64_t K, bool transA, bool transB);

/* ---------------------------------------------------------------- kernels: masked softmax */

/* Softmax over the last axis of x [B, H, M, N] with optional masks (both broadcast as in the file
 * comment):
 *   z[r,j] = x[r,j] + add[.,j]                 (add [add_nb, add_nh, M, N], NULL = 0; -inf masks)
 *   y[r,j] = keep[.,j] ? exp(z[r,j] - max) / sum : 0, max and sum over the kept j of row r
 * (torch.softmax(x + add masked_fill(~keep, -inf), -1) for rows with a kept finite score).
 * A row with no kept j, or whose kept z are all -inf, gives y = 0 (torch: NaN). Rows in parallel; each
 * row summed in column order in float. */
void cg_softmax_masked_forward(float *y, const float *x, const cg_attn_mask *keep, const float *add, int64_t add_nb,
                               int64_t add_nh, int64_t B, int64_t H, int64_t M, int64_t N);
/* dx[R, N] += y (dy - sum_j y dy) per row (R = B*H*M rows). Needs only the forward output y: masked
 * entries and fully masked rows have y = 0 and receive zero gradient. The masks receive no gradient. */
void cg_softmax_masked_backward(float *dx, const float *dy, const float *y, int64_t R, int64_t N);

/* ---------------------------------------------------------------- kernels: head layout */

/* y [B, H, T, C] = x [B, T, H*C] split into heads: y[b,h,t,c] = x[b,t,h*C+c]
 * (torch: x.view(B, T, H, C).transpose(1, 2)). Backward: dx[b,t,h*C+c] += dy[b,h,t,c]. */
void cg_split_heads_forward(float *y, const float *x, int64_t B, int64_t T, int64_t H, int64_t C);
void cg_split_heads_backward(float *dx, const float *dy, int64_t B, int64_t T, int64_t H, int64_t C);
/* y [B, T, H*C] = x [B, H, T, C] with heads concatenated: y[b,t,h*C+c] = x[b,h,t,c]
 * (torch: x.transpose(1, 2).reshape(B, T, H*C)). Backward: dx[b,h,t,c] += dy[b,t,h*C+c]. */
void cg_merge_heads_forward(float *y, const float *x, int64_t B, int64_t T, int64_t H, int64_t C);
void cg_merge_heads_backward(float *dx, const float *dy, int64_t B, int64_t T, int64_t H, int64_t C);

/* ---------------------------------------------------------------- kernels: tiled attention */

/* out [B, H, Tq, C] = softmax(scale * q k^T, masked) v for q [B, H, Tq, C], k and v [B, H, Tk, C], with
 * mask (NULL or keep NULL = none) over [B, H, Tq, Tk] broadcast as cg_attn_mask says (nh = 1: shared
 * over heads, the [B or 1, Tq, Tk] mask). lse [B, H, Tq] receives each row's log-sum-exp of the masked
 * scaled scores (-inf for a fully masked row, whose out row is 0); lse may be NULL (inference).
 * Parallel over (b, h, query block of CG_ATTN_BLOCK_Q rows); Tk need not be a multiple of the tile. A
 * (query block, key tile) pair whose mask is all 0 is skipped. */
void cg_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                          const cg_attn_mask *mask, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t C,
                          float scale);
/* Given dout [B, H, Tq, C], the forward's out and lse and the same q, k, v, mask and scale, ACCUMULATES
 * dq [B, H, Tq, C], dk and dv [B, H, Tk, C] (each may be NULL: skipped). Needs no scratch: two score
 * tiles live on the stack and D[i] is recomputed per query block. With B*H >= 2 * threads (or a single
 * tile pair) one pass runs per (b, h), query blocks outer, key tiles inner, each pair's scores computed
 * once; otherwise pass 1 runs over (b, h, key tile) for dk and dv (query blocks in order) and pass 2 over
 * (b, h, query block) for dq (key tiles in order), recomputing the scores once more for the sake of
 * parallelism. Both sum every gradient element over the same terms in the same order: identical bits.
 * Fully masked query rows (lse = -inf) contribute nothing and receive zero dq. */
void cg_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *out, const float *lse, const cg_attn_mask *mask, int64_t B,
                           int64_t H, int64_t Tq, int64_t Tk, int64_t C, float scale);

/* ---------------------------------------------------------------- recorded ops
 * As cellgraph/autograd.h: validate, allocate the output in ctx's arena, run the kernel, record the
 * backward when an input requires a gradient; NULL on error with the status recorded in ctx (sticky) and
 * a message naming the op and the shapes; a NULL input returns NULL without a new message. Errors:
 * CG_ERR_SHAPE (dtype not float32, shapes that do not fit, a mask whose nb / nh is neither 1 nor the
 * matching dimension, a dimension over the BLAS int range), CG_ERR_INVALID_ARG (bad scalar argument,
 * an additive mask that requires a gradient), CG_ERR_NOMEM. */

/* Batched op(a) @ op(b): a [..., M, K] (or [..., K, M] if ta), b [..., K, N] (or [..., N, K] if tb),
 * with the same leading dimensions (same ndim, 2..4; 2-d is one matrix product) -> [..., M, N] with
 * a's leading dimensions. */
cg_tensor *cg_bmm(cg_ctx *ctx, cg_tensor *a, cg_tensor *b, bool ta, bool tb);

/* Masked softmax over the last axis of x (seen as [B, H, M, N], padded on the left) -> x's shape.
 * keep: a boolean mask as cg_attn_mask (may be NULL; only used during the call, since backward needs
 * only the output). add: a float32 additive mask (may be NULL; e.g. -inf or a large negative value at
 * masked places, or a constant bias) whose last two dimensions are [M, N] and whose leading dimensions
 * (padded on the left to [nb, nh]) are 1 or equal to x's; it must not require a gradient (it is a
 * constant: CG_ERR_INVALID_ARG otherwise). Fully masked rows give 0 (see the file comment). */
cg_tensor *cg_softmax_masked(cg_ctx *ctx, cg_tensor *x, const cg_attn_mask *keep, cg_tensor *add);

/* x with rows B*T and columns H*C ([B, T, H*C], or [B*T, H*C] as cg_linear returns) -> [B, H, T, C]
 * (4-d). T >= 1 must divide the rows and heads >= 1 the columns. */
cg_tensor *cg_split_heads(cg_ctx *ctx, cg_tensor *x, int64_t T, int64_t heads);
/* x [B, H, T, C] (3-d [H, T, C] is B = 1) -> [B, T, H*C] (3-d; cg_linear sees it as [B*T, H*C]). */
cg_tensor *cg_merge_heads(cg_ctx *ctx, cg_tensor *x);

/* Tiled scaled dot-product attention (cg_attention_forward): q [B, H, Tq, C], k and v [B, H, Tk, C]
 * (fewer dimensions are padded on the left: [Tq, C] is B = H = 1), all float32 with equal B, H and C
 * -> [B, H, Tq, C] with q's shape. mask: as cg_attn_mask over [B, H, Tq, Tk] (nb in {1, B}, nh in
 * {1, H}; nh = 1 shares it over heads) or NULL. The mask BYTES must stay valid until backward has run
 * (they are not copied, which would take Tq * Tk bytes; the cg_attn_mask record itself is copied).
 * scale: the factor of q.k, finite; 0 means the paper's and torch's default 1 / sqrt(C).
 * Arena use: the output, lse [B, H, Tq] and two small records (O(B H Tq C), never O(Tq Tk)); backward adds
 * only the input gradients. */
cg_tensor *cg_attention(cg_ctx *ctx, cg_tensor *q, cg_tensor *k, cg_tensor *v, const cg_attn_mask *mask, float scale);

#endif
