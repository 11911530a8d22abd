/* cellgraph/ops.h: the op kernels, as forward/backward pairs of plain functions on raw pointers.
 *
 * Shape legend: M = rows, N = columns (last dimension), K = inner dimension of a matrix product,
 * E = edges (CSR entries), S = segments (CSR rows = destination nodes), H = heads.
 * All float arrays are row-major float32. Every backward ACCUMULATES (+=) into its gradient outputs;
 * a NULL gradient pointer means "not needed" and is skipped. Kernels do not allocate, do not fail and
 * do not check shapes: the recorded ops of cellgraph/autograd.h validate before calling them.
 * Parallel loops use OpenMP; every float reduction has a fixed partition, and matrix products go through
 * cg_gemm, so no kernel's result depends on the thread count (bitwise; tests/test_determinism.c checks
 * cg_gemm on 1, 2 and 3 threads and whole training runs on 1 and 2).
 */
#ifndef CELLGRAPH_OPS_H
#define CELLGRAPH_OPS_H

#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------- sparse structure */

/* Compressed sparse rows by destination: segment s holds entries rowptr[s] .. rowptr[s+1]-1;
 * col[e] is the source row of entry e. Values attached to entries (edge features, attention
 * scores) are stored in this entry order. rowptr is non-decreasing with rowptr[0] = 0 and
 * rowptr[n_rows] = nnz; every col[e] is in [0, n_cols). */
typedef struct cg_csr {
    int64_t n_rows;          /* S: destinations (segments) */
    int64_t n_cols;          /* sources */
    int64_t nnz;             /* E */
    const int64_t *rowptr;   /* [S + 1] */
    const int32_t *col;      /* [E] */
} cg_csr;

/* ---------------------------------------------------------------- matrix product (OpenBLAS sgemm) */

/* Tiles of C computed by one sgemm call each, and the inner-dimension chunk and largest C of a split
 * product (see cg_gemm). Part of the numerics: changing one changes results in the last bits. */
#define CG_GEMM_TILE_M 64
#define CG_GEMM_TILE_N 128
#define CG_GEMM_CHUNK_K 1024
#define CG_GEMM_SMALL_C 16384

/* C[m,n] = alpha op(A) op(B) + beta C (BLAS sgemm semantics: row-major, leading dimensions lda, ldb, ldc;
 * op(A) [m,k] is A or, when ta, A^T of A [k,m]; op(B) [k,n] likewise; beta = 0 never reads C).
 * The same for any thread count: OpenBLAS runs single-threaded, and cellgraph's threads share a fixed
 * partition. A product with a small C (m n <= CG_GEMM_SMALL_C) and a long inner dimension
 * (k >= 2 CG_GEMM_CHUNK_K: a weight gradient summed over every node) is split along k into chunks of
 * CG_GEMM_CHUNK_K, each chunk's product in float, the chunks added in double in order; any other product
 * is split into CG_GEMM_TILE_M x CG_GEMM_TILE_N tiles of C, one sgemm each. k = 0 or alpha = 0 gives
 * beta C. Called inside a parallel region it runs the same partition on the calling thread. */
void cg_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
             const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* C[M,N] = op(A) @ op(B) + bias (bias [N] broadcast over rows, may be NULL).
 * op(A) is [M,K]: A is [M,K], or [K,M] when transA. op(B) is [K,N]: B is [K,N], or [N,K] when transB.
 * PyTorch nn.Linear is transB = true with B = weight [out, in]. */
void cg_matmul_forward(float *C, const float *A, const float *B, const float *bias, int64_t M, int64_t N,
                       int64_t K, bool transA, bool transB);
/* dA (shape of A) += dC op(B)^T (transposed back), dB += op(A)^T dC (likewise), dbias[N] += column sums
 * of dC. Products through cg_gemm: when B is small (N*K <= CG_GEMM_SMALL_C) and M long, dB is reduced
 * over chunks of CG_GEMM_CHUNK_K rows with the chunk results added in double (weight gradients summed
 * over every node of a batch). */
void cg_matmul_backward(float *dA, float *dB, float *dbias, const float *dC, const float *A, const float *B,
                        int64_t M, int64_t N, int64_t K, bool transA, bool transB);

/* dst[N] += sum over the M rows of src[M,N] (column sums; each column summed in row order). */
void cg_colsum_accumulate(float *dst, const float *src, int64_t M, int64_t N);

/* ---------------------------------------------------------------- elementwise */

typedef enum cg_binary_op { CG_BIN_ADD, CG_BIN_SUB, CG_BIN_MUL } cg_binary_op;

/* out[M,N] = a[M,N] (op) b, where b is [M,N] (b_rows == M) or one row [N] broadcast (b_rows == 1). */
void cg_binary_forward(cg_binary_op op, float *out, const float *a, const float *b, int64_t M, int64_t N,
                       int64_t b_rows);
/* da[M,N] += d out/da * dout; db (shape [b_rows, N]) += d out/db * dout, summed over rows when
 * broadcast. */
void cg_binary_backward(cg_binary_op op, float *da, float *db, const float *dout, const float *a, const float *b,
                        int64_t M, int64_t N, int64_t b_rows);

/* out[M,N] = x[M,N] * w[M] (each row scaled by its own weight, e.g. attention weights).
 * Backward: dx[i,:] += dout[i,:] * w[i];  dw[i] += sum_j dout[i,j] x[i,j]. */
void cg_rowscale_forward(float *out, const float *x, const float *w, int64_t M, int64_t N);
void cg_rowscale_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, int64_t M, int64_t N);

/* out[n] = s * x[n];  dx[n] += s * dout[n]. */
void cg_scale_forward(float *out, const float *x, float s, int64_t n);
void cg_scale_backward(float *dx, const float *dout, float s, int64_t n);

/* ---------------------------------------------------------------- activations (elementwise, [n]) */

typedef enum cg_activation {
    CG_ACT_IDENTITY,
    CG_ACT_RELU,       /* max(x, 0); derivative 0 at x = 0 (as PyTorch) */
    CG_ACT_LEAKY_RELU, /* x > 0 ? x : slope * x (torch.nn.LeakyReLU(negative_slope = param)) */
    CG_ACT_GELU,       /* x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (torch.nn.GELU(), approximate='none'),
                          computed as 0.5 x erfc(-x / sqrt 2) for precision at x << 0 */
    CG_ACT_SILU,       /* x * sigmoid(x) */
    CG_ACT_SIGMOID,    /* 1 / (1 + exp(-x)) */
    CG_ACT_TANH,
    CG_ACT_MISH,       /* x * tanh(softplus(x)) (Misra 2019) */
    CG_ACT_SOFTPLUS,   /* log(1 + exp(x)), linear above x > 20 (torch.nn.Softplus(beta=1, threshold=20)) */
    CG_ACT_LOGCOSH,    /* log(cosh(x)), computed as |x| + log1p(exp(-2|x|)) - log 2 */
} cg_activation;

/* Name as used in configs ("relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "mish",
 * "softplus", "logcosh", "identity"). */
const char *cg_activation_name(cg_activation a);
/* Parses a name; returns false for an unknown one. */
bool cg_activation_parse(const char *name, cg_activation *out);

/* out[n] = act(x[n]); param is the leaky-ReLU slope (ignored by the others). */
void cg_activation_forward(cg_activation a, float *out, const float *x, int64_t n, float param);
/* dx[n] += act'(x) * dout; out is the forward output (used by sigmoid/tanh). */
void cg_activation_backward(cg_activation a, float *dx, const float *dout, const float *x, const float *out,
                            int64_t n, float param);

/* ---------------------------------------------------------------- layer norm (last dimension) */

/* torch.nn.LayerNorm(N, eps): out = (x - mean) * rstd * weight + bias per row, biased variance.
 * Saves mean[M] and rstd[M] = 1 / sqrt(var + eps) for backward. weight/bias [N] may be NULL (no affine). */
void cg_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *weight,
                          const float *bias, int64_t M, int64_t N, float eps);
void cg_layernorm_backward(float *dx, float *dweight, float *dbias, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *weight, int64_t M, int64_t N);

/* ---------------------------------------------------------------- dropout */

/* Inverted dropout (torch.nn.Dropout): element i is kept when uniform(seed, stream, i) >= p, and then
 * scaled by 1 / (1 - p). keep[n] (1 or 0) is saved for backward. p in [0, 1); p = 0 copies. */
void cg_dropout_forward(float *out, uint8_t *keep, const float *x, int64_t n, float p, uint64_t seed,
                        uint64_t stream);
void cg_dropout_backward(float *dx, const float *dout, const uint8_t *keep, int64_t n, float p);
/* The same mask addressed by row ids: row k of x [rows, cols] takes the mask of element
 * ids[k] * cols + c of cg_dropout_forward's mask (same seed and stream), i.e. the rows of a larger
 * tensor whose row ids[k] this row stands for. out, keep [rows, cols]. */
void cg_dropout_rows_forward(float *out, uint8_t *keep, const float *x, const int32_t *ids, int64_t rows,
                             int64_t cols, float p, uint64_t seed, uint64_t stream);

/* ---------------------------------------------------------------- concat / slice (last dimension) */

/* out[M, sum cols] = [x_0 | x_1 | ... ] with x_k [M, cols[k]]. */
void cg_concat_forward(float *out, const float *const *xs, const int64_t *cols, int n, int64_t M);
/* dx_k += the matching column block of dout (NULL dx_k skipped). */
void cg_concat_backward(float *const *dxs, const float *dout, const int64_t *cols, int n, int64_t M);

/* out[M, len] = x[M, N][:, start : start + len];  dx[:, start : start + len] += dout. */
void cg_slice_cols_forward(float *out, const float *x, int64_t M, int64_t N, int64_t start, int64_t len);
void cg_slice_cols_backward(float *dx, const float *dout, int64_t M, int64_t N, int64_t start, int64_t len);

/* ---------------------------------------------------------------- reductions */

/* Sum of x[n] in double over fixed blocks of 4096 elements added in block order, rounded to float. */
float cg_sum_forward(const float *x, int64_t n);
/* dx[n] += g (the broadcast of a scalar gradient). */
void cg_fill_add_backward(float *dx, float g, int64_t n);
/* out[N] = sum over rows of x[M,N];  backward: dx[m, :] += dout[:]. */
void cg_sum_rows_forward(float *out, const float *x, int64_t M, int64_t N);
void cg_sum_rows_backward(float *dx, const float *dout, int64_t M, int64_t N);
/* out[M] = sum over columns of x[M,N] (per row, in column order);  backward: dx[m, :] += dout[m]. */
void cg_sum_cols_forward(float *out, const float *x, int64_t M, int64_t N);
void cg_sum_cols_backward(float *dx, const float *dout, int64_t M, int64_t N);

/* ---------------------------------------------------------------- gather / scatter rows */

/* out[n_idx, N] = x[idx[i], :] (embedding lookup, torch.index_select(x, 0, idx)). */
void cg_gather_rows_forward(float *out, const float *x, const int32_t *idx, int64_t n_idx, int64_t N);
/* dx[idx[i], :] += dout[i, :] (scatter-add; rows summed in index order, so deterministic). */
void cg_gather_rows_backward(float *dx, const float *dout, const int32_t *idx, int64_t n_idx, int64_t N);

/* out[idx[i], :] += x[i, :] for i < n_idx (torch.Tensor.index_add_ / torch_scatter scatter_add); the
 * caller zeroes out first. Backward: dx[i, :] += dout[idx[i], :] (a gather). */
void cg_scatter_add_rows_forward(float *out, const float *x, const int32_t *idx, int64_t n_idx, int64_t N);
void cg_scatter_add_rows_backward(float *dx, const float *dout, const int32_t *idx, int64_t n_idx, int64_t N);

/* ---------------------------------------------------------------- segment ops over a CSR */

/* out[S, N]: segment s = sum of x[e, :] over e in rowptr[s]..rowptr[s+1) (x is [E, N]; empty -> 0).
 * (torch_scatter.segment_csr(reduce='sum')). Backward: dx[e] += dout[segment of e]. */
void cg_segment_sum_forward(float *out, const float *x, const cg_csr *csr, int64_t N);
void cg_segment_sum_backward(float *dx, const float *dout, const cg_csr *csr, int64_t N);
/* Mean over the segment (empty -> 0). Backward: dx[e] += dout[s] / count(s). */
void cg_segment_mean_forward(float *out, const float *x, const cg_csr *csr, int64_t N);
void cg_segment_mean_backward(float *dx, const float *dout, const cg_csr *csr, int64_t N);
/* Max over the segment per column; argmax[S, N] saves the entry index (first maximum wins; -1 and
 * out = 0 for an empty segment, as torch_scatter). Backward: dx[argmax[s,j], j] += dout[s, j]. */
void cg_segment_max_forward(float *out, int32_t *argmax, const float *x, const cg_csr *csr, int64_t N);
void cg_segment_max_backward(float *dx, const float *dout, const int32_t *argmax, const cg_csr *csr, int64_t N);
/* Softmax of x[E, H] within each segment, per column h (torch_geometric.utils.softmax with ptr):
 * y[e,h] = exp(x[e,h] - max_s) / sum_{e' in s} exp(x[e',h] - max_s).
 * Backward: dx[e,h] += y[e,h] * (dy[e,h] - sum_{e' in s} y[e',h] dy[e',h]). */
void cg_segment_softmax_forward(float *y, const float *x, const cg_csr *csr, int64_t H);
void cg_segment_softmax_backward(float *dx, const float *dy, const float *y, const cg_csr *csr, int64_t H);

/* ---------------------------------------------------------------- losses */

/* Mean squared error over the entries whose target is not NaN (torch: ((p - t)[mask] ** 2).mean()).
 * Returns the loss (0 when no entry is valid) and the count of valid entries in *count. Sum in double
 * over fixed blocks. */
float cg_mse_masked_forward(const float *pred, const float *target, int64_t n, int64_t *count);
/* dpred[i] += dloss * 2 (pred - target) / count for valid i. */
void cg_mse_masked_backward(float *dpred, float dloss, const float *pred, const float *target, int64_t n,
                            int64_t count);

#endif
