#include "core/reduce.h"

/* Blocks are processed in groups of GROUP: the partial sums of one group are computed in parallel into a
 * local array, then added in order. */
#define GROUP 256

static double reduce(const float *x, int64_t n, int square) {
    int64_t nb = (n + CG_REDUCE_BLOCK - 1) / CG_REDUCE_BLOCK;
    double total = 0.0;
    for (int64_t g0 = 0; g0 < nb; g0 += GROUP) {
        int64_t g1 = g0 + GROUP < nb ? g0 + GROUP : nb;
        double part[GROUP];
#pragma omp parallel for schedule(static)
        for (int64_t b = g0; b < g1; b++) {
            int64_t s = b * CG_REDUCE_BLOCK, e = s + CG_REDUCE_BLOCK < n ? s + CG_REDUCE_BLOCK : n;
            double acc = 0.0;
            if (square)
                for (int64_t i = s; i < e; i++) acc += (double)x[i] * x[i];
            else
                for (int64_t i = s; i < e; i++) acc += x[i];
            part[b - g0] = acc;
        }
        for (int64_t b = g0; b < g1; b++) total += part[b - g0];
    }
    return total;
}

double cg_sum_fixed_f64(const float *x, int64_t n) { return reduce(x, n, 0); }

double cg_sumsq_fixed_f64(const float *x, int64_t n) { return reduce(x, n, 1); }
