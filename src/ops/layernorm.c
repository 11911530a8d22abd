/* Layer normalisation over the last dimension (torch.nn.LayerNorm, biased variance). */
#include "cellgraph/ops.h"

#include <math.h>

void cg_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *weight,
                          const float *bias, int64_t M, int64_t N, float eps) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        const float *xi = x + i * N;
        float *oi = out + i * N;
        float m = 0.0f;
        for (int64_t j = 0; j < N; j++) m += xi[j];
        m /= (float)N;
        float v = 0.0f;
        for (int64_t j = 0; j < N; j++) v += (xi[j] - m) * (xi[j] - m);
        v /= (float)N;
        float r = 1.0f / sqrtf(v + eps);
        for (int64_t j = 0; j < N; j++) {
            float h = (xi[j] - m) * r;
            oi[j] = weight ? h * weight[j] + (bias ? bias[j] : 0.0f) : h + (bias ? bias[j] : 0.0f);
        }
        mean[i] = m;
        rstd[i] = r;
    }
}

void cg_layernorm_backward(float *dx, float *dweight, float *dbias, const float *dout, const float *x,
                           const float *mean, const float *rstd, const float *weight, int64_t M, int64_t N) {
    if (dx) {
        /* dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), with g = dout * weight */
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < M; i++) {
            const float *xi = x + i * N, *gi = dout + i * N;
            float *dxi = dx + i * N;
            float m = mean[i], r = rstd[i];
            float sg = 0.0f, sgx = 0.0f;
            for (int64_t j = 0; j < N; j++) {
                float g = weight ? gi[j] * weight[j] : gi[j];
                sg += g;
                sgx += g * (xi[j] - m) * r;
            }
            sg /= (float)N;
            sgx /= (float)N;
            for (int64_t j = 0; j < N; j++) {
                float g = weight ? gi[j] * weight[j] : gi[j];
                dxi[j] += r * (g - sg - (xi[j] - m) * r * sgx);
            }
        }
    }
    if (!dweight && !dbias) return;
    /* parameter gradients: columns in blocks of 16 per thread, rows in order, in double (deterministic) */
    const int64_t BS = 16;
    int64_t nb = (N + BS - 1) / BS;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t j0 = b * BS, j1 = j0 + BS < N ? j0 + BS : N;
        double aw[16] = {0}, ab[16] = {0};
        for (int64_t i = 0; i < M; i++) {
            const float *xi = x + i * N, *gi = dout + i * N;
            for (int64_t j = j0; j < j1; j++) {
                aw[j - j0] += gi[j] * (xi[j] - mean[i]) * rstd[i];
                ab[j - j0] += gi[j];
            }
        }
        for (int64_t j = j0; j < j1; j++) {
            if (dweight) dweight[j] += (float)aw[j - j0];
            if (dbias) dbias[j] += (float)ab[j - j0];
        }
    }
}
