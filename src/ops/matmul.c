/* Matrix product (cg_gemm), and column sums for bias gradients. */
#include "cellgraph/ops.h"

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
    cg_gemm(transA, transB, M, N, K, 1.0f, A, transA ? M : K, B, transB ? K : N, beta, C, N);
}

void cg_matmul_backward(float *dA, float *dB, float *dbias, const float *dC, const float *A, const float *B,
                        int64_t M, int64_t N, int64_t K, bool transA, bool transB) {
    const int64_t lda = transA ? M : K, ldb = transB ? K : N;
    if (dA && M > 0 && K > 0) {
        if (!transA) /* dA[M,K] += dC[M,N] op(B)^T */
            cg_gemm(false, !transB, M, K, N, 1.0f, dC, N, B, ldb, 1.0f, dA, K);
        else /* dA[K,M] += op(B)[K,N] dC^T */
            cg_gemm(transB, true, K, M, N, 1.0f, B, ldb, dC, N, 1.0f, dA, M);
    }
    if (dB && N > 0 && K > 0) {
        if (!transB) /* dB[K,N] += op(A)^T dC */
            cg_gemm(!transA, false, K, N, M, 1.0f, A, lda, dC, N, 1.0f, dB, N);
        else /* dB[N,K] += dC^T op(A) */
            cg_gemm(true, transA, N, K, M, 1.0f, dC, N, A, lda, 1.0f, dB, K);
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
