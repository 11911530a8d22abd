/* cellgraph/rng.h: counter-based random numbers (Philox4x32-10).
 *
 * Source: Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011); the same
 * generator as cuRAND's and JAX's Philox. A random value is a pure function of (seed, stream, index),
 * so dropout masks and initial weights do not depend on the number of threads or the order in which
 * elements are visited. There is no generator state.
 *   counter = (index low 32 bits, index high 32 bits, stream low, stream high), key = (seed low, seed high)
 */
#ifndef CELLGRAPH_RNG_H
#define CELLGRAPH_RNG_H

#include <stdint.h>

/* One Philox4x32 block with 10 rounds: out = philox(ctr, key). */
void cg_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* 32 random bits for (seed, stream, index): word index%4 of block index/4. */
uint32_t cg_rng_u32(uint64_t seed, uint64_t stream, uint64_t index);

/* Uniform float in [0, 1) with 24 random bits, for (seed, stream, index). */
float cg_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);

/* x[i] = lo + (hi - lo) * uniform(seed, stream, i), for i in [0, n). */
void cg_rng_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed, uint64_t stream);

/* x[i] ~ Normal(mean, std^2) by Box-Muller on the words of block i/2 (element pairs share a block). */
void cg_rng_fill_normal(float *x, int64_t n, float mean, float std, uint64_t seed, uint64_t stream);

/* Fisher-Yates shuffle of v[0..n) in place, with 64 random bits per swap drawn from (seed, stream): the
 * permutation depends on (seed, stream, n) only. */
void cg_rng_shuffle_i64(int64_t *v, int64_t n, uint64_t seed, uint64_t stream);

#endif
