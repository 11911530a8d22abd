/* Inverted dropout with counter-based randomness (independent of thread count). */
#include "cellgraph/ops.h"

#include "cellgraph/rng.h"

void cg_dropout_forward(float *out, uint8_t *keep, const float *x, int64_t n, float p, uint64_t seed,
                        uint64_t stream) {
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < (n + 3) / 4; b++) {
        uint32_t w[4];
        uint32_t ctr[4] = {(uint32_t)b, (uint32_t)((uint64_t)b >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
        uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
        cg_philox4x32(ctr, key, w);
        for (int j = 0; j < 4 && 4 * b + j < n; j++) {
            int64_t i = 4 * b + j;
            float u = (float)(w[j] >> 8) * (1.0f / 16777216.0f);
            keep[i] = u >= p;
            out[i] = keep[i] ? x[i] * scale : 0.0f;
        }
    }
}

void cg_dropout_backward(float *dx, const float *dout, const uint8_t *keep, int64_t n, float p) {
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        if (keep[i]) dx[i] += dout[i] * scale;
}

void cg_dropout_rows_forward(float *out, uint8_t *keep, const float *x, const int32_t *ids, int64_t rows,
                             int64_t cols, float p, uint64_t seed, uint64_t stream) {
    const float scale = 1.0f / (1.0f - p);
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < rows; k++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = (int64_t)ids[k] * cols + c, b = i / 4;
            uint32_t w[4];
            uint32_t ctr[4] = {(uint32_t)b, (uint32_t)((uint64_t)b >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
            cg_philox4x32(ctr, key, w);
            float u = (float)(w[i % 4] >> 8) * (1.0f / 16777216.0f);
            int64_t o = k * cols + c;
            keep[o] = u >= p;
            out[o] = keep[o] ? x[o] * scale : 0.0f;
        }
}
