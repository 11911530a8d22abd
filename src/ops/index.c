/* Gather rows by index (embedding lookup) and scatter-add rows. */
#include "cellgraph/ops.h"

#include <string.h>

void cg_gather_rows_forward(float *out, const float *x, const int32_t *idx, int64_t n_idx, int64_t N) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n_idx; i++) memcpy(out + i * N, x + (int64_t)idx[i] * N, (size_t)N * sizeof(float));
}

/* dst[idx[i], :] += src[i, :]. Several i may share a destination row, so threads own column blocks
 * (never rows) and visit i in order: no races, and the same sums for any thread count. With fewer
 * column blocks than threads (narrow rows) it runs serially. */
static void scatter_add(float *dst, const float *src, const int32_t *idx, int64_t n_idx, int64_t N) {
    const int64_t BS = 16;
    int64_t nb = (N + BS - 1) / BS;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t j0 = b * BS, j1 = j0 + BS < N ? j0 + BS : N;
        for (int64_t i = 0; i < n_idx; i++) {
            float *d = dst + (int64_t)idx[i] * N;
            const float *s = src + i * N;
            for (int64_t j = j0; j < j1; j++) d[j] += s[j];
        }
    }
}

void cg_gather_rows_backward(float *dx, const float *dout, const int32_t *idx, int64_t n_idx, int64_t N) {
    scatter_add(dx, dout, idx, n_idx, N);
}

void cg_scatter_add_rows_forward(float *out, const float *x, const int32_t *idx, int64_t n_idx, int64_t N) {
    scatter_add(out, x, idx, n_idx, N);
}

void cg_scatter_add_rows_backward(float *dx, const float *dout, const int32_t *idx, int64_t n_idx, int64_t N) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n_idx; i++) {
        float *d = dx + i * N;
        const float *g = dout + (int64_t)idx[i] * N;
        for (int64_t j = 0; j < N; j++) d[j] += g[j];
    }
}
