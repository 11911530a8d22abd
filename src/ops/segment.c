/* Segment reductions and segment softmax over a CSR by destination. Every kernel is parallel over
 * segments; a segment's entries are visited in CSR order, so results do not depend on the thread count.
 * Dynamic scheduling in chunks balances the skewed degrees of biological networks. */
#include "cellgraph/ops.h"

#include <math.h>
#include <string.h>

void cg_segment_sum_forward(float *out, const float *x, const cg_csr *csr, int64_t N) {
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < csr->n_rows; s++) {
        float *o = out + s * N;
        memset(o, 0, (size_t)N * sizeof(float));
        for (int64_t e = csr->rowptr[s]; e < csr->rowptr[s + 1]; e++) {
            const float *xe = x + e * N;
            for (int64_t j = 0; j < N; j++) o[j] += xe[j];
        }
    }
}

void cg_segment_sum_backward(float *dx, const float *dout, const cg_csr *csr, int64_t N) {
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < csr->n_rows; s++) {
        const float *g = dout + s * N;
        for (int64_t e = csr->rowptr[s]; e < csr->rowptr[s + 1]; e++) {
            float *d = dx + e * N;
            for (int64_t j = 0; j < N; j++) d[j] += g[j];
        }
    }
}

void cg_segment_mean_forward(float *out, const float *x, const cg_csr *csr, int64_t N) {
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < csr->n_rows; s++) {
        float *o = out + s * N;
        memset(o, 0, (size_t)N * sizeof(float));
        int64_t cnt = csr->rowptr[s + 1] - csr->rowptr[s];
        for (int64_t e = csr->rowptr[s]; e < csr->rowptr[s + 1]; e++) {
            const float *xe = x + e * N;
            for (int64_t j = 0; j < N; j++) o[j] += xe[j];
        }
        if (cnt > 0)
            for (int64_t j = 0; j < N; j++) o[j] /= (float)cnt;
    }
}

void cg_segment_mean_backward(float *dx, const float *dout, const cg_csr *csr, int64_t N) {
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < csr->n_rows; s++) {
        int64_t cnt = csr->rowptr[s + 1] - csr->rowptr[s];
        if (cnt == 0) continue;
        const float *g = dout + s * N;
        for (int64_t e = csr->rowptr[s]; e < csr->rowptr[s + 1]; e++) {
            float *d = dx + e * N;
            for (int64_t j = 0; j < N; j++) d[j] += g[j] / (float)cnt;
        }
    }
}

void cg_segment_max_forward(float *out, int32_t *argmax, const float *x, const cg_csr *csr, int64_t N) {
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < csr->n_rows; s++) {
        float *o = out + s * N;
        int32_t *a = argmax + s * N;
        int64_t e0 = csr->rowptr[s], e1 = csr->rowptr[s + 1];
        if (e0 == e1) {
            for (int64_t j = 0; j < N; j++) {
                o[j] = 0.0f;
                a[j] = -1;
            }
            continue;
        }
        for (int64_t j = 0; j < N; j++) {
            o[j] = x[e0 * N + j];
            a[j] = (int32_t)e0;
        }
        for (int64_t e = e0 + 1; e < e1; e++) {
            const float *xe = x + e * N;
            for (int64_t j = 0; j < N; j++)
                if (xe[j] > o[j]) {
                    o[j] = xe[j];
                    a[j] = (int32_t)e;
                }
        }
    }
}

void cg_segment_max_backward(float *dx, const float *dout, const int32_t *argmax, const cg_csr *csr, int64_t N) {
    /* each entry belongs to one segment, so writes from different segments never collide */
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < csr->n_rows; s++)
        for (int64_t j = 0; j < N; j++) {
            int32_t e = argmax[s * N + j];
            if (e >= 0) dx[(int64_t)e * N + j] += dout[s * N + j];
        }
}

/* Heads are processed in chunks of up to 16 with the head index innermost, so the entry loop streams
 * through contiguous memory and vectorises. */
void cg_segment_softmax_forward(float *y, const float *x, const cg_csr *csr, int64_t H) {
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < csr->n_rows; s++) {
        int64_t e0 = csr->rowptr[s], e1 = csr->rowptr[s + 1];
        for (int64_t h0 = 0; h0 < H; h0 += 16) {
            int64_t nh = H - h0 < 16 ? H - h0 : 16;
            float m[16], z[16];
            for (int64_t h = 0; h < nh; h++) m[h] = -INFINITY, z[h] = 0.0f;
            for (int64_t e = e0; e < e1; e++)
                for (int64_t h = 0; h < nh; h++) m[h] = fmaxf(m[h], x[e * H + h0 + h]);
            for (int64_t e = e0; e < e1; e++)
                for (int64_t h = 0; h < nh; h++) {
                    float v = expf(x[e * H + h0 + h] - m[h]);
                    y[e * H + h0 + h] = v;
                    z[h] += v;
                }
            for (int64_t h = 0; h < nh; h++) z[h] = 1.0f / z[h];
            for (int64_t e = e0; e < e1; e++)
                for (int64_t h = 0; h < nh; h++) y[e * H + h0 + h] *= z[h];
        }
    }
}

void cg_segment_softmax_backward(float *dx, const float *dy, const float *y, const cg_csr *csr, int64_t H) {
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t s = 0; s < csr->n_rows; s++) {
        int64_t e0 = csr->rowptr[s], e1 = csr->rowptr[s + 1];
        for (int64_t h0 = 0; h0 < H; h0 += 16) {
            int64_t nh = H - h0 < 16 ? H - h0 : 16;
            float dot[16] = {0};
            for (int64_t e = e0; e < e1; e++)
                for (int64_t h = 0; h < nh; h++) dot[h] += y[e * H + h0 + h] * dy[e * H + h0 + h];
            for (int64_t e = e0; e < e1; e++)
                for (int64_t h = 0; h < nh; h++) {
                    int64_t k = e * H + h0 + h;
                    dx[k] += y[k] * (dy[k] - dot[h]);
                }
        }
    }
}
