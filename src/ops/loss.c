/* Losses: mean squared error over non-NaN targets. */
#include "cellgraph/ops.h"

#include <math.h>

#include "core/reduce.h"

float cg_mse_masked_forward(const float *pred, const float *target, int64_t n, int64_t *count) {
    /* fixed partition, as core/reduce.c: blocks in parallel, block sums in order */
    int64_t nb = (n + CG_REDUCE_BLOCK - 1) / CG_REDUCE_BLOCK;
    double total = 0.0;
    int64_t cnt = 0;
    for (int64_t g0 = 0; g0 < nb; g0 += 256) {
        int64_t g1 = g0 + 256 < nb ? g0 + 256 : nb;
        double part[256];
        int64_t pc[256];
#pragma omp parallel for schedule(static)
        for (int64_t b = g0; b < g1; b++) {
            int64_t s = b * CG_REDUCE_BLOCK, e = s + CG_REDUCE_BLOCK < n ? s + CG_REDUCE_BLOCK : n;
            double acc = 0.0;
            int64_t c = 0;
            for (int64_t i = s; i < e; i++)
                if (!isnan(target[i])) {
                    double d = (double)pred[i] - target[i];
                    acc += d * d;
                    c++;
                }
            part[b - g0] = acc;
            pc[b - g0] = c;
        }
        for (int64_t b = g0; b < g1; b++) {
            total += part[b - g0];
            cnt += pc[b - g0];
        }
    }
    *count = cnt;
    return cnt > 0 ? (float)(total / (double)cnt) : 0.0f;
}

void cg_mse_masked_backward(float *dpred, float dloss, const float *pred, const float *target, int64_t n,
                            int64_t count) {
    if (count == 0) return;
    const float k = 2.0f * dloss / (float)count;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        if (!isnan(target[i])) dpred[i] += k * (pred[i] - target[i]);
}
