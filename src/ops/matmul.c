/* Matrix product through OpenBLAS sgemm, and column sums for bias gradients. */
#include "cellgraph/ops.h"

#include <cblas.h>
#include <string.h>

/* rows per chunk, and the largest B (in elements) reduced chunk by chunk, in cg_matmul_backward */
#define CG_MATMUL_CHUNK 4096
#define CG_MATMUL_SMALL_B 16384

void cg_matmul_forward(float *C, const float *A, const float *B, const float *bias, int64_t M, int64_t N,
                       int64_t K, bool transA, bool transB) {
    if (M == 0 || N == 0) return;
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * N + j] = bias[j];
        beta = 1.0f;
    }
    if (K == 0) {
        if (!bias)
            for (int64_t i = 0; i < M * N; i++) C[i] = 0.0f;
        return;
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)K, 1.0f, A, transA ? (int)M : (int)K, B, transB ? (int)K : (int)N, beta, C, (int)N);
}

void cg_matmul_backward(float *dA, float *dB, float *dbias, const float *dC, const float *A, const float *B,
                        int64_t M, int64_t N, int64_t K, bool transA, bool transB) {
    const int m = (int)M, n = (int)N, k = (int)K;
    const int lda = transA ? m : k, ldb = transB ? k : n;
    if (dA && M > 0 && K > 0) {
        if (!transA) /* dA[M,K] += dC[M,N] op(B)^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasNoTrans : CblasTrans, m, k, n, 1.0f, dC, n, B,
                        ldb, 1.0f, dA, k);
        else /* dA[K,M] += op(B)[K,N] dC^T */
            cblas_sgemm(CblasRowMajor, transB ? CblasTrans : CblasNoTrans, CblasTrans, k, m, n, 1.0f, B, ldb, dC,
                        n, 1.0f, dA, m);
    }
    if (dB && N > 0 && K > 0) {
        if (M > 2 * CG_MATMUL_CHUNK && N * K <= CG_MATMUL_SMALL_B) {
            /* a small weight gradient reduced over many rows (every node of every sample): sgemm over
             * fixed chunks of rows, chunk results added in double, so the float rounding of a long sum
             * does not build up (and the result does not depend on how the rows are batched) */
            float tmp[CG_MATMUL_SMALL_B];
            double acc[CG_MATMUL_SMALL_B];
            memset(acc, 0, (size_t)(N * K) * sizeof(double));
            for (int64_t r0 = 0; r0 < M; r0 += CG_MATMUL_CHUNK) {
                const int mc = (int)(M - r0 < CG_MATMUL_CHUNK ? M - r0 : CG_MATMUL_CHUNK);
                const float *Ac = transA ? A + r0 : A + r0 * K, *dCc = dC + r0 * N;
                if (!transB) /* tmp[K,N] = opA(A)^T dC */
                    cblas_sgemm(CblasRowMajor, transA ? CblasNoTrans : CblasTrans, CblasNoTrans, k, n, mc, 1.0f, Ac,
                                lda, dCc, n, 0.0f, tmp, n);
                else /* tmp[N,K] = dC^T opA(A) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, transA ? CblasTrans : CblasNoTrans, n, k, mc, 1.0f, dCc, n,
                                Ac, lda, 0.0f, tmp, k);
                for (int64_t i = 0; i < N * K; i++) acc[i] += tmp[i];
            }
            for (int64_t i = 0; i < N * K; i++) dB[i] += (float)acc[i];
        } else if (!transB) /* dB[K,N] += op(A)^T dC */
            cblas_sgemm(CblasRowMajor, transA ? CblasNoTrans : CblasTrans, CblasNoTrans, k, n, m, 1.0f, A, lda, dC,
                        n, 1.0f, dB, n);
        else /* dB[N,K] += dC^T op(A) */
            cblas_sgemm(CblasRowMajor, CblasTrans, transA ? CblasTrans : CblasNoTrans, n, k, m, 1.0f, dC, n, A, lda,
                        1.0f, dB, k);
    }
    if (dbias) cg_colsum_accumulate(dbias, dC, M, N);
}

/* Columns are split into blocks of 16 owned by one thread each; every column is summed in row order in
 * double (these sums run over every node of every sample), so the result does not depend on the thread
 * count. */
void cg_colsum_accumulate(float *dst, const float *src, int64_t M, int64_t N) {
    const int64_t BS = 16;
    int64_t nb = (N + BS - 1) / BS;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t j0 = b * BS, j1 = j0 + BS < N ? j0 + BS : N;
        double acc[16] = {0};
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = j0; j < j1; j++) acc[j - j0] += src[i * N + j];
        for (int64_t j = j0; j < j1; j++) dst[j] += (float)acc[j - j0];
    }
}
