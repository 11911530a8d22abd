/* Elementwise binary ops with row broadcasting, and scaling. */
#include "cellgraph/ops.h"

void cg_binary_forward(cg_binary_op op, float *out, const float *a, const float *b, int64_t M, int64_t N,
                       int64_t b_rows) {
    const int64_t bstride = b_rows == 1 ? 0 : N;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        const float *ai = a + i * N, *bi = b + i * bstride;
        float *oi = out + i * N;
        switch (op) {
        case CG_BIN_ADD: for (int64_t j = 0; j < N; j++) oi[j] = ai[j] + bi[j]; break;
        case CG_BIN_SUB: for (int64_t j = 0; j < N; j++) oi[j] = ai[j] - bi[j]; break;
        case CG_BIN_MUL: for (int64_t j = 0; j < N; j++) oi[j] = ai[j] * bi[j]; break;
        }
    }
}

void cg_binary_backward(cg_binary_op op, float *da, float *db, const float *dout, const float *a, const float *b,
                        int64_t M, int64_t N, int64_t b_rows) {
    const int64_t bstride = b_rows == 1 ? 0 : N;
    if (da) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < M; i++) {
            const float *gi = dout + i * N, *bi = b + i * bstride;
            float *dai = da + i * N;
            if (op == CG_BIN_MUL)
                for (int64_t j = 0; j < N; j++) dai[j] += gi[j] * bi[j];
            else
                for (int64_t j = 0; j < N; j++) dai[j] += gi[j];
        }
    }
    if (!db) return;
    if (b_rows == 1) {
        /* reduce over rows, columns in blocks of 16 per thread, rows in order (deterministic) */
        const int64_t BS = 16;
        int64_t nb = (N + BS - 1) / BS;
#pragma omp parallel for schedule(static)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t j0 = blk * BS, j1 = j0 + BS < N ? j0 + BS : N;
            double acc[16] = {0};
            for (int64_t i = 0; i < M; i++) {
                const float *gi = dout + i * N, *ai = a + i * N;
                for (int64_t j = j0; j < j1; j++)
                    acc[j - j0] += op == CG_BIN_MUL ? gi[j] * ai[j] : op == CG_BIN_SUB ? -gi[j] : gi[j];
            }
            for (int64_t j = j0; j < j1; j++) db[j] += (float)acc[j - j0];
        }
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < M; i++) {
            const float *gi = dout + i * N, *ai = a + i * N;
            float *dbi = db + i * N;
            switch (op) {
            case CG_BIN_ADD: for (int64_t j = 0; j < N; j++) dbi[j] += gi[j]; break;
            case CG_BIN_SUB: for (int64_t j = 0; j < N; j++) dbi[j] -= gi[j]; break;
            case CG_BIN_MUL: for (int64_t j = 0; j < N; j++) dbi[j] += gi[j] * ai[j]; break;
            }
        }
    }
}

void cg_scale_forward(float *out, const float *x, float s, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = s * x[i];
}

void cg_scale_backward(float *dx, const float *dout, float s, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] += s * dout[i];
}

void cg_rowscale_forward(float *out, const float *x, const float *w, int64_t M, int64_t N) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) out[i * N + j] = x[i * N + j] * w[i];
}

void cg_rowscale_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, int64_t M, int64_t N) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float acc = 0.0f;
        for (int64_t j = 0; j < N; j++) {
            if (dx) dx[i * N + j] += dout[i * N + j] * w[i];
            acc += dout[i * N + j] * x[i * N + j];
        }
        if (dw) dw[i] += acc;
    }
}
