/* The one entry to BLAS: matrix products as single-threaded OpenBLAS sgemm calls over a fixed partition
 * of the work (tiles of C, or chunks of the inner dimension), run in parallel by cellgraph's threads, so
 * that every result is bitwise the same for any thread count (cellgraph/ops.h, cg_gemm). */
#include "cellgraph/ops.h"

#include <cblas.h>
#include <omp.h>

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* One sgemm on the calling thread. OpenBLAS's OpenMP build threads a call outside a parallel region by
 * omp_get_max_threads() (and splits some products along K, which changes the rounding with the thread
 * count: measured for [64, 6600] x [6600, 64] with OpenBLAS 0.3.21), so the calling thread's limit is
 * set to 1 around the call (an ICV of this thread only: a few ns). */
static void sgemm1(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
                   const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    const int saved = omp_get_max_threads();
    if (saved != 1) omp_set_num_threads(1);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                (int)k, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    if (saved != 1) omp_set_num_threads(saved);
}

/* Row r of op(X) (op(X)[r, 0]) and column c of op(X) (op(X)[0, c]), X row-major with leading dimension
 * ld, op(X) = X^T when t. */
static inline const float *op_row(const float *X, bool t, int64_t r, int64_t ld) { return t ? X + r : X + r * ld; }
static inline const float *op_col(const float *X, bool t, int64_t c, int64_t ld) { return t ? X + c * ld : X + c; }

/* C = alpha sum_c op(A)[:, chunk c] op(B)[chunk c, :] + beta C: each chunk's product in float by one
 * sgemm, the chunks added in double in chunk order (the ordered section). */
static void gemm_split_k(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A,
                         int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    const int64_t nc = (k + CG_GEMM_CHUNK_K - 1) / CG_GEMM_CHUNK_K;
    double acc[CG_GEMM_SMALL_C];
    for (int64_t i = 0; i < m * n; i++) acc[i] = 0.0;
#pragma omp parallel
    {
        float tmp[CG_GEMM_SMALL_C];
#pragma omp for schedule(static, 1) ordered
        for (int64_t c = 0; c < nc; c++) {
            const int64_t l0 = c * CG_GEMM_CHUNK_K, kc = min64(CG_GEMM_CHUNK_K, k - l0);
            sgemm1(ta, tb, m, n, kc, 1.0f, op_col(A, ta, l0, lda), lda, op_row(B, tb, l0, ldb), ldb, 0.0f, tmp, n);
#pragma omp ordered
            for (int64_t i = 0; i < m * n; i++) acc[i] += tmp[i];
        }
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float *c = C + i * ldc + j;
            const double v = (double)alpha * acc[i * n + j];
            *c = beta == 0.0f ? (float)v : (float)(v + (double)beta * *c);
        }
}

void cg_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
             const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) { /* C = beta C (BLAS rejects a zero leading dimension) */
        if (beta == 1.0f) return;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    if (m * n <= CG_GEMM_SMALL_C && k >= 2 * CG_GEMM_CHUNK_K) {
        gemm_split_k(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int64_t tm = (m + CG_GEMM_TILE_M - 1) / CG_GEMM_TILE_M, tn = (n + CG_GEMM_TILE_N - 1) / CG_GEMM_TILE_N;
    if (tm * tn == 1) {
        sgemm1(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < tm * tn; t++) {
        const int64_t i0 = t / tn * CG_GEMM_TILE_M, j0 = t % tn * CG_GEMM_TILE_N;
        sgemm1(ta, tb, min64(CG_GEMM_TILE_M, m - i0), min64(CG_GEMM_TILE_N, n - j0), k, alpha, op_row(A, ta, i0, lda),
               lda, op_col(B, tb, j0, ldb), ldb, beta, C + i0 * ldc + j0, ldc);
    }
}
