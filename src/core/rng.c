#include "cellgraph/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void cg_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static void block(uint64_t seed, uint64_t stream, uint64_t blk, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    cg_philox4x32(ctr, key, out);
}

uint32_t cg_rng_u32(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t w[4];
    block(seed, stream, index >> 2, w);
    return w[index & 3];
}

static inline float u32_to_unit(uint32_t u) { return (float)(u >> 8) * (1.0f / 16777216.0f); }

float cg_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return u32_to_unit(cg_rng_u32(seed, stream, index));
}

void cg_rng_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < (n + 3) / 4; b++) {
        uint32_t w[4];
        block(seed, stream, (uint64_t)b, w);
        for (int j = 0; j < 4 && 4 * b + j < n; j++) x[4 * b + j] = lo + (hi - lo) * u32_to_unit(w[j]);
    }
}

void cg_rng_fill_normal(float *x, int64_t n, float mean, float std, uint64_t seed, uint64_t stream) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < (n + 1) / 2; b++) {
        uint32_t w[4];
        block(seed, stream, (uint64_t)b, w);
        /* u1 in (0, 1] so that log(u1) is finite */
        double u1 = ((double)w[0] + 1.0) / 4294967296.0;
        double u2 = (double)w[1] / 4294967296.0;
        double r = sqrt(-2.0 * log(u1));
        x[2 * b] = mean + std * (float)(r * cos(2.0 * M_PI * u2));
        if (2 * b + 1 < n) x[2 * b + 1] = mean + std * (float)(r * sin(2.0 * M_PI * u2));
    }
}

void cg_rng_shuffle_i64(int64_t *v, int64_t n, uint64_t seed, uint64_t stream) {
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t r = ((uint64_t)cg_rng_u32(seed, stream, 2 * (uint64_t)i) << 32) |
                     cg_rng_u32(seed, stream, 2 * (uint64_t)i + 1);
        int64_t j = (int64_t)(r % (uint64_t)(i + 1)), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}
