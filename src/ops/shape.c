/* Concat / slice along the last dimension, and sum reductions. */
#include "cellgraph/ops.h"

#include <string.h>

#include "core/reduce.h"

void cg_concat_forward(float *out, const float *const *xs, const int64_t *cols, int n, int64_t M) {
    int64_t total = 0;
    for (int k = 0; k < n; k++) total += cols[k];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *oi = out + i * total;
        for (int k = 0; k < n; k++) {
            memcpy(oi, xs[k] + i * cols[k], (size_t)cols[k] * sizeof(float));
            oi += cols[k];
        }
    }
}

void cg_concat_backward(float *const *dxs, const float *dout, const int64_t *cols, int n, int64_t M) {
    int64_t total = 0;
    for (int k = 0; k < n; k++) total += cols[k];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        const float *gi = dout + i * total;
        for (int k = 0; k < n; k++) {
            if (dxs[k]) {
                float *d = dxs[k] + i * cols[k];
                for (int64_t j = 0; j < cols[k]; j++) d[j] += gi[j];
            }
            gi += cols[k];
        }
    }
}

void cg_slice_cols_forward(float *out, const float *x, int64_t M, int64_t N, int64_t start, int64_t len) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) memcpy(out + i * len, x + i * N + start, (size_t)len * sizeof(float));
}

void cg_slice_cols_backward(float *dx, const float *dout, int64_t M, int64_t N, int64_t start, int64_t len) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *d = dx + i * N + start;
        const float *g = dout + i * len;
        for (int64_t j = 0; j < len; j++) d[j] += g[j];
    }
}

float cg_sum_forward(const float *x, int64_t n) { return (float)cg_sum_fixed_f64(x, n); }

void cg_fill_add_backward(float *dx, float g, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] += g;
}

void cg_sum_rows_forward(float *out, const float *x, int64_t M, int64_t N) {
    memset(out, 0, (size_t)N * sizeof(float));
    cg_colsum_accumulate(out, x, M, N);
}

void cg_sum_rows_backward(float *dx, const float *dout, int64_t M, int64_t N) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) dx[i * N + j] += dout[j];
}

void cg_sum_cols_forward(float *out, const float *x, int64_t M, int64_t N) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float s = 0.0f;
        for (int64_t j = 0; j < N; j++) s += x[i * N + j];
        out[i] = s;
    }
}

void cg_sum_cols_backward(float *dx, const float *dout, int64_t M, int64_t N) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) dx[i * N + j] += dout[i];
}
