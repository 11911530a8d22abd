/* Elementwise activations (PyTorch definitions) and their derivatives. */
#include "cellgraph/ops.h"

#include <math.h>
#include <string.h>

static const char *const NAMES[] = {
    [CG_ACT_IDENTITY] = "identity", [CG_ACT_RELU] = "relu",       [CG_ACT_LEAKY_RELU] = "leaky_relu",
    [CG_ACT_GELU] = "gelu",         [CG_ACT_SILU] = "silu",       [CG_ACT_SIGMOID] = "sigmoid",
    [CG_ACT_TANH] = "tanh",         [CG_ACT_MISH] = "mish",       [CG_ACT_SOFTPLUS] = "softplus",
    [CG_ACT_LOGCOSH] = "logcosh",
};

const char *cg_activation_name(cg_activation a) {
    return (unsigned)a < sizeof NAMES / sizeof NAMES[0] ? NAMES[a] : "?";
}

bool cg_activation_parse(const char *name, cg_activation *out) {
    for (unsigned i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strcmp(name, NAMES[i]) == 0) {
            *out = (cg_activation)i;
            return true;
        }
    return false;
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }
/* torch.nn.functional.softplus with beta = 1, threshold = 20 */
static inline float softplusf(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

void cg_activation_forward(cg_activation a, float *out, const float *x, int64_t n, float param) {
    switch (a) {
    case CG_ACT_IDENTITY:
        if (out != x) memcpy(out, x, (size_t)n * sizeof(float));
        break;
    case CG_ACT_RELU:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case CG_ACT_LEAKY_RELU:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] > 0.0f ? x[i] : param * x[i];
        break;
    case CG_ACT_GELU:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = 0.5f * x[i] * erfcf(-x[i] * (float)M_SQRT1_2);
        break;
    case CG_ACT_SILU:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * sigmoidf(x[i]);
        break;
    case CG_ACT_SIGMOID:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = sigmoidf(x[i]);
        break;
    case CG_ACT_TANH:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = tanhf(x[i]);
        break;
    case CG_ACT_MISH:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * tanhf(softplusf(x[i]));
        break;
    case CG_ACT_SOFTPLUS:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = softplusf(x[i]);
        break;
    case CG_ACT_LOGCOSH:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float ax = fabsf(x[i]);
            out[i] = ax + log1pf(expf(-2.0f * ax)) - (float)M_LN2;
        }
        break;
    }
}

void cg_activation_backward(cg_activation a, float *dx, const float *dout, const float *x, const float *out,
                            int64_t n, float param) {
    switch (a) {
    case CG_ACT_IDENTITY:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dout[i];
        break;
    case CG_ACT_RELU:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dout[i] : 0.0f;
        break;
    case CG_ACT_LEAKY_RELU:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dout[i] : param * dout[i];
        break;
    case CG_ACT_GELU:
        /* d/dx x Phi(x) = Phi(x) + x phi(x); Phi via erfc keeps precision for x << 0 */
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float cdf = 0.5f * erfcf(-x[i] * (float)M_SQRT1_2);
            float pdf = expf(-0.5f * x[i] * x[i]) * (float)(0.5 * M_2_SQRTPI * M_SQRT1_2);
            dx[i] += dout[i] * (cdf + x[i] * pdf);
        }
        break;
    case CG_ACT_SILU:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float s = sigmoidf(x[i]);
            dx[i] += dout[i] * s * (1.0f + x[i] * (1.0f - s));
        }
        break;
    case CG_ACT_SIGMOID:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dout[i] * out[i] * (1.0f - out[i]);
        break;
    case CG_ACT_TANH:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dout[i] * (1.0f - out[i] * out[i]);
        break;
    case CG_ACT_MISH:
        /* d/dx x tanh(sp(x)) = tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x) */
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float t = tanhf(softplusf(x[i]));
            dx[i] += dout[i] * (t + x[i] * (1.0f - t * t) * sigmoidf(x[i]));
        }
        break;
    case CG_ACT_SOFTPLUS:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 20.0f ? dout[i] : dout[i] * sigmoidf(x[i]);
        break;
    case CG_ACT_LOGCOSH:
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) dx[i] += dout[i] * tanhf(x[i]);
        break;
    }
}
