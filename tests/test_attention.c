/* Dense attention (cellgraph/attention.h): every kernel against a naive double-precision reference
 * (dense softmax attention) on random inputs, with masks that have fully masked rows, Tq and Tk that are
 * not multiples of the tiles, and backward accumulation onto non-zero gradients; every recorded op's
 * gradient through the tape against central finite differences of the reference in double precision;
 * the tiled attention against the explicit bmm -> scale -> masked softmax -> bmm composition; a long
 * sequence (Tk = 5000) whose arena use grows by O(T C), not O(Tq Tk); thread-count determinism; errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/attention.h"
#include "cellgraph/autograd.h"
#include "cellgraph/threads.h"
#include "testutil.h"

/* ------------------------------------------------------------------ helpers */

static float *frand(int64_t n, float lo, float hi, uint64_t seed) {
    float *x = malloc((size_t)(n + 1) * sizeof(float));
    tu_fill_uniform(x, n, lo, hi, seed);
    return x;
}

/* tu_check_close with the floor at 10% of the largest |reference|: float rounding of sums of many terms
 * is absolute at the scale of the result, so tiny entries are compared at that scale */
static void check_scaled(const char *label, const float *a, const double *b, int64_t n, double rel) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(b[i]));
    if (getenv("CG_VERBOSE"))
        printf("%-45s max error %.2e of tolerance %.0e\n", label, tu_max_rel_err(a, b, n, fmax(0.1 * mx, 1e-6), NULL),
               rel);
    tu_check_close(label, a, b, n, rel, fmax(0.1 * mx, 1e-6));
}

static double *to_double(const float *x, int64_t n) {
    double *d = malloc((size_t)(n + 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static float *fcopy(const float *x, int64_t n) {
    float *y = malloc((size_t)(n + 1) * sizeof(float));
    memcpy(y, x, (size_t)n * sizeof(float));
    return y;
}

/* a random boolean mask [nb, nh, M, N] kept with probability p_keep, plus fully masked rows */
static uint8_t *rand_mask(int64_t nb, int64_t nh, int64_t M, int64_t N, float p_keep, uint64_t seed) {
    int64_t n = nb * nh * M * N;
    float *u = frand(n, 0, 1, seed);
    uint8_t *m = malloc((size_t)n + 1);
    for (int64_t i = 0; i < n; i++) m[i] = u[i] < p_keep;
    free(u);
    return m;
}

static void mask_row(uint8_t *m, const cg_attn_mask *mk, int64_t b, int64_t h, int64_t i, int64_t M, int64_t N,
                     uint8_t value) {
    memset(m + ((b * mk->nh + h) * M + i) * N, value, (size_t)N);
}

static inline bool kept(const cg_attn_mask *mk, int64_t b, int64_t h, int64_t i, int64_t j, int64_t M, int64_t N) {
    if (!mk || !mk->keep) return true;
    return mk->keep[(((mk->nb == 1 ? 0 : b) * mk->nh + (mk->nh == 1 ? 0 : h)) * M + i) * N + j] != 0;
}

/* ------------------------------------------------------------------ double references */

/* C[b] = op(A[b]) op(B[b]) */
static void ref_bmm(double *C, const double *A, const double *B, int64_t batch, int64_t M, int64_t N, int64_t K,
                    bool ta, bool tb) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) {
                    double a = ta ? A[b * M * K + k * M + i] : A[b * M * K + i * K + k];
                    double bb = tb ? B[b * K * N + j * K + k] : B[b * K * N + k * N + j];
                    s += a * bb;
                }
                C[b * M * N + i * N + j] = s;
            }
}

/* masked softmax of x [B, H, M, N] + add [add_nb, add_nh, M, N]; fully masked rows 0 */
static void ref_softmax(double *y, const double *x, const cg_attn_mask *keep, const double *add, int64_t add_nb,
                        int64_t add_nh, int64_t B, int64_t H, int64_t M, int64_t N) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < M; i++) {
                int64_t r = ((b * H + h) * M + i) * N;
                const double *ar =
                    add ? add + (((add_nb == 1 ? 0 : b) * add_nh + (add_nh == 1 ? 0 : h)) * M + i) * N : NULL;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < N; j++)
                    if (kept(keep, b, h, i, j, M, N)) mx = fmax(mx, x[r + j] + (ar ? ar[j] : 0));
                for (int64_t j = 0; j < N; j++) {
                    double e = 0;
                    if (mx > -INFINITY && kept(keep, b, h, i, j, M, N)) e = exp(x[r + j] + (ar ? ar[j] : 0) - mx);
                    y[r + j] = e;
                    sum += e;
                }
                for (int64_t j = 0; j < N; j++) y[r + j] = sum > 0 ? y[r + j] / sum : 0;
            }
}

/* dense attention: out [B, H, Tq, C], lse [B, H, Tq] (may be NULL); fully masked rows 0 / -inf */
static void ref_attention(double *out, double *lse, const double *q, const double *k, const double *v,
                          const cg_attn_mask *mk, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t C,
                          double scale) {
    double *p = malloc((size_t)(Tk + 1) * sizeof(double));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const int64_t bh = b * H + h;
                const double *qi = q + (bh * Tq + i) * C;
                double *oi = out + (bh * Tq + i) * C, mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] = -INFINITY;
                    if (!kept(mk, b, h, i, j, Tq, Tk)) continue;
                    double s = 0;
                    for (int64_t c = 0; c < C; c++) s += qi[c] * k[(bh * Tk + j) * C + c];
                    p[j] = scale * s;
                    mx = fmax(mx, p[j]);
                }
                for (int64_t c = 0; c < C; c++) oi[c] = 0;
                if (mx == -INFINITY) {
                    if (lse) lse[bh * Tq + i] = -INFINITY;
                    continue;
                }
                for (int64_t j = 0; j < Tk; j++) sum += p[j] = exp(p[j] - mx);
                for (int64_t j = 0; j < Tk; j++)
                    for (int64_t c = 0; c < C; c++) oi[c] += p[j] / sum * v[(bh * Tk + j) * C + c];
                if (lse) lse[bh * Tq + i] = mx + log(sum);
            }
    free(p);
}

/* analytic gradients of sum(dout * attention) in double, ADDED to dq, dk, dv */
static void ref_attention_grad(double *dq, double *dk, double *dv, const double *dout, const double *q,
                               const double *k, const double *v, const cg_attn_mask *mk, int64_t B, int64_t H,
                               int64_t Tq, int64_t Tk, int64_t C, double scale) {
    double *p = malloc((size_t)(Tk + 1) * sizeof(double)), *dp = malloc((size_t)(Tk + 1) * sizeof(double));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const int64_t bh = b * H + h;
                const double *qi = q + (bh * Tq + i) * C, *gi = dout + (bh * Tq + i) * C;
                double mx = -INFINITY, sum = 0, D = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] = -INFINITY;
                    if (!kept(mk, b, h, i, j, Tq, Tk)) continue;
                    double s = 0;
                    for (int64_t c = 0; c < C; c++) s += qi[c] * k[(bh * Tk + j) * C + c];
                    p[j] = scale * s;
                    mx = fmax(mx, p[j]);
                }
                if (mx == -INFINITY) continue;
                for (int64_t j = 0; j < Tk; j++) sum += p[j] = exp(p[j] - mx);
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] /= sum;
                    dp[j] = 0;
                    for (int64_t c = 0; c < C; c++) dp[j] += gi[c] * v[(bh * Tk + j) * C + c];
                    D += p[j] * dp[j];
                }
                for (int64_t j = 0; j < Tk; j++) {
                    if (p[j] == 0) continue;
                    const double ds = p[j] * (dp[j] - D);
                    for (int64_t c = 0; c < C; c++) {
                        if (dv) dv[(bh * Tk + j) * C + c] += p[j] * gi[c];
                        if (dq) dq[(bh * Tq + i) * C + c] += scale * ds * k[(bh * Tk + j) * C + c];
                        if (dk) dk[(bh * Tk + j) * C + c] += scale * ds * qi[c];
                    }
                }
            }
    free(p);
    free(dp);
}

/* ------------------------------------------------------------------ kernels against the reference */

static void test_bmm_kernel(void **state) {
    (void)state;
    const int64_t batch = 3, M = 5, N = 7, K = 4, nA = batch * M * K, nB = batch * K * N, nC = batch * M * N;
    for (int t = 0; t < 4; t++) {
        const bool ta = t & 1, tb = t >> 1;
        float *A = frand(nA, -1, 1, 1 + t), *Bm = frand(nB, -1, 1, 11 + t), *dC = frand(nC, -1, 1, 21 + t);
        float *C = malloc(nC * sizeof(float)), *dA = frand(nA, -1, 1, 31), *dB = frand(nB, -1, 1, 41);
        double *a = to_double(A, nA), *b = to_double(Bm, nB), *g = to_double(dC, nC);
        double *rC = malloc(nC * sizeof(double)), *rdA = to_double(dA, nA), *rdB = to_double(dB, nB);
        cg_bmm_forward(C, A, Bm, batch, M, N, K, ta, tb);
        ref_bmm(rC, a, b, batch, M, N, K, ta, tb);
        check_scaled("bmm forward", C, rC, nC, 1e-5);
        /* the gradients of sum(dC * C), added to the initial values */
        cg_bmm_backward(dA, dB, dC, A, Bm, batch, M, N, K, ta, tb);
        for (int64_t bb = 0; bb < batch; bb++)
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    for (int64_t k = 0; k < K; k++) {
                        double gij = g[bb * M * N + i * N + j];
                        int64_t ia = bb * M * K + (ta ? k * M + i : i * K + k);
                        int64_t ib = bb * K * N + (tb ? j * K + k : k * N + j);
                        rdA[ia] += gij * b[ib];
                        rdB[ib] += gij * a[ia];
                    }
        check_scaled("bmm dA", dA, rdA, nA, 1e-5);
        check_scaled("bmm dB", dB, rdB, nB, 1e-5);
        /* NULL gradients are skipped; K = 0 gives zeros */
        cg_bmm_backward(NULL, NULL, dC, A, Bm, batch, M, N, K, ta, tb);
        cg_bmm_forward(C, A, Bm, batch, M, N, 0, ta, tb);
        for (int64_t i = 0; i < nC; i++) assert_true(C[i] == 0.0f);
        free(A), free(Bm), free(dC), free(C), free(dA), free(dB);
        free(a), free(b), free(g), free(rC), free(rdA), free(rdB);
    }
    /* a large product (sequential batch with threaded sgemm) */
    const int64_t bt = 2, m2 = 96, n2 = 80, k2 = 72;
    float *A = frand(bt * m2 * k2, -1, 1, 5), *Bm = frand(bt * k2 * n2, -1, 1, 6), *C = malloc(bt * m2 * n2 * 4);
    double *a = to_double(A, bt * m2 * k2), *b = to_double(Bm, bt * k2 * n2), *rC = malloc(bt * m2 * n2 * 8);
    cg_bmm_forward(C, A, Bm, bt, m2, n2, k2, false, true);
    ref_bmm(rC, a, b, bt, m2, n2, k2, false, true);
    check_scaled("bmm forward (large)", C, rC, bt * m2 * n2, 1e-5);
    free(A), free(Bm), free(C), free(a), free(b), free(rC);
}

static void test_softmax_kernel(void **state) {
    (void)state;
    const int64_t B = 2, H = 3, M = 5, N = 70, n = B * H * M * N;
    cg_attn_mask keep = {.nb = B, .nh = 1};
    uint8_t *km = rand_mask(B, 1, M, N, 0.7f, 3);
    mask_row(km, &keep, 0, 0, 1, M, N, 0); /* fully masked by keep */
    keep.keep = km;
    const int64_t add_nb = 1, add_nh = H;
    float *add = frand(add_nb * add_nh * M * N, -2, 2, 4);
    for (int64_t j = 0; j < N; j++) add[(2 * M + 3) * N + j] = -INFINITY; /* (head 2, row 3): masked by add */
    add[(1 * M + 4) * N + 7] = -INFINITY;                                  /* one -inf entry */
    float *x = frand(n, -3, 3, 5), *y = malloc(n * sizeof(float)), *dy = frand(n, -1, 1, 6), *dx = frand(n, -1, 1, 7);
    double *xd = to_double(x, n), *ad = to_double(add, add_nb * add_nh * M * N), *ry = malloc(n * sizeof(double));
    double *rdx = to_double(dx, n);
    cg_softmax_masked_forward(y, x, &keep, add, add_nb, add_nh, B, H, M, N);
    ref_softmax(ry, xd, &keep, ad, add_nb, add_nh, B, H, M, N);
    check_scaled("softmax_masked forward", y, ry, n, 1e-5);
    for (int64_t i = 0; i < n; i++) assert_false(isnan(y[i]));
    for (int64_t h = 0; h < H; h++)
        for (int64_t j = 0; j < N; j++) assert_true(y[((0 * H + h) * M + 1) * N + j] == 0.0f); /* keep row */
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < N; j++) assert_true(y[((b * H + 2) * M + 3) * N + j] == 0.0f); /* add row */
    cg_softmax_masked_backward(dx, dy, y, B * H * M, N);
    for (int64_t r = 0; r < B * H * M; r++) {
        double dot = 0;
        for (int64_t j = 0; j < N; j++) dot += ry[r * N + j] * dy[r * N + j];
        for (int64_t j = 0; j < N; j++) rdx[r * N + j] += ry[r * N + j] * (dy[r * N + j] - dot);
    }
    check_scaled("softmax_masked backward", dx, rdx, n, 1e-5);
    /* no masks: plain softmax */
    cg_softmax_masked_forward(y, x, NULL, NULL, 1, 1, B, H, M, N);
    ref_softmax(ry, xd, NULL, NULL, 1, 1, B, H, M, N);
    check_scaled("softmax forward (no mask)", y, ry, n, 1e-5);
    free(km), free(add), free(x), free(y), free(dy), free(dx), free(xd), free(ad), free(ry), free(rdx);
}

static void test_heads_kernel(void **state) {
    (void)state;
    const int64_t B = 2, T = 5, H = 3, C = 4, n = B * T * H * C;
    float *x = frand(n, -1, 1, 8), *y = malloc(n * sizeof(float)), *z = malloc(n * sizeof(float));
    cg_split_heads_forward(y, x, B, T, H, C);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t c = 0; c < C; c++)
                    assert_true(y[((b * H + h) * T + t) * C + c] == x[(b * T + t) * H * C + h * C + c]);
    cg_merge_heads_forward(z, y, B, T, H, C);
    assert_memory_equal(z, x, n * sizeof(float));
    /* backward of each accumulates the other's layout */
    float *d = frand(n, -1, 1, 9), *d0 = fcopy(d, n);
    cg_split_heads_backward(d, y, B, T, H, C); /* d += merge(y) = x */
    for (int64_t i = 0; i < n; i++) assert_true(d[i] == d0[i] + x[i]);
    memcpy(d, d0, n * sizeof(float));
    cg_merge_heads_backward(d, x, B, T, H, C); /* d += split(x) = y */
    for (int64_t i = 0; i < n; i++) assert_true(d[i] == d0[i] + y[i]);
    free(x), free(y), free(z), free(d), free(d0);
}

/* One attention configuration through the kernels: out and lse against the reference, fully masked rows
 * exactly 0 / -inf with zero dq, gradients accumulated onto random initial values, and each gradient
 * alone (the others NULL) equal to the joint run. */
static void check_attention_kernels(const char *name, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t C,
                                    const cg_attn_mask *mk, float scale) {
    const int64_t nq = B * H * Tq * C, nk = B * H * Tk * C, nl = B * H * Tq;
    float *q = frand(nq, -1, 1, 100), *k = frand(nk, -1, 1, 101), *v = frand(nk, -1, 1, 102);
    float *out = malloc((nq + 1) * sizeof(float)), *lse = malloc((nl + 1) * sizeof(float));
    double *qd = to_double(q, nq), *kd = to_double(k, nk), *vd = to_double(v, nk);
    double *rout = malloc((nq + 1) * sizeof(double)), *rlse = malloc((nl + 1) * sizeof(double));
    cg_attention_forward(out, lse, q, k, v, mk, B, H, Tq, Tk, C, scale);
    ref_attention(rout, rlse, qd, kd, vd, mk, B, H, Tq, Tk, C, scale);
    char label[128];
    snprintf(label, sizeof label, "%s: out", name);
    check_scaled(label, out, rout, nq, 2e-5);
    int64_t dead = 0;
    float *lse_live = fcopy(lse, nl);
    double *rlse_live = malloc((nl + 1) * sizeof(double));
    for (int64_t r = 0; r < nl; r++) {
        rlse_live[r] = rlse[r];
        if (rlse[r] == -INFINITY) { /* fully masked: exactly -inf and zeros; compared below as 0 = 0 */
            dead++;
            assert_true(lse[r] == -INFINITY);
            for (int64_t c = 0; c < C; c++) assert_true(out[r * C + c] == 0.0f);
            rlse_live[r] = 0, lse_live[r] = 0;
        }
    }
    snprintf(label, sizeof label, "%s: lse", name);
    tu_check_close(label, lse_live, rlse_live, nl, 1e-5, 1.0);
    free(lse_live), free(rlse_live);

    float *dout = frand(nq, -1, 1, 103);
    float *dq = frand(nq, -1, 1, 104), *dk = frand(nk, -1, 1, 105), *dv = frand(nk, -1, 1, 106);
    double *rdq = to_double(dq, nq), *rdk = to_double(dk, nk), *rdv = to_double(dv, nk), *gd = to_double(dout, nq);
    float *dq0 = fcopy(dq, nq);
    cg_attention_backward(dq, dk, dv, dout, q, k, v, out, lse, mk, B, H, Tq, Tk, C, scale);
    ref_attention_grad(rdq, rdk, rdv, gd, qd, kd, vd, mk, B, H, Tq, Tk, C, scale);
    snprintf(label, sizeof label, "%s: dq", name);
    check_scaled(label, dq, rdq, nq, 1e-4);
    snprintf(label, sizeof label, "%s: dk", name);
    check_scaled(label, dk, rdk, nk, 1e-4);
    snprintf(label, sizeof label, "%s: dv", name);
    check_scaled(label, dv, rdv, nk, 1e-4);
    for (int64_t r = 0; r < nl; r++)
        if (rlse[r] == -INFINITY)
            for (int64_t c = 0; c < C; c++) assert_true(dq[r * C + c] == dq0[r * C + c]); /* zero gradient */
    /* each gradient alone gives the same bits as the joint run */
    float *lse2 = malloc((nl + 1) * sizeof(float));
    cg_attention_forward(out, lse2, q, k, v, mk, B, H, Tq, Tk, C, scale);
    float *g1 = calloc(nq + 1, sizeof(float)), *g2 = calloc(nk + 1, sizeof(float)), *g3 = calloc(nk + 1, sizeof(float));
    float *h1 = calloc(nq + 1, sizeof(float)), *h2 = calloc(nk + 1, sizeof(float)), *h3 = calloc(nk + 1, sizeof(float));
    cg_attention_backward(g1, g2, g3, dout, q, k, v, out, lse2, mk, B, H, Tq, Tk, C, scale);
    cg_attention_backward(h1, NULL, NULL, dout, q, k, v, out, lse2, mk, B, H, Tq, Tk, C, scale);
    cg_attention_backward(NULL, h2, NULL, dout, q, k, v, out, lse2, mk, B, H, Tq, Tk, C, scale);
    cg_attention_backward(NULL, NULL, h3, dout, q, k, v, out, lse2, mk, B, H, Tq, Tk, C, scale);
    assert_memory_equal(g1, h1, nq * sizeof(float));
    assert_memory_equal(g2, h2, nk * sizeof(float));
    assert_memory_equal(g3, h3, nk * sizeof(float));
    /* lse may be NULL (inference): same output */
    float *out2 = malloc((nq + 1) * sizeof(float));
    cg_attention_forward(out2, NULL, q, k, v, mk, B, H, Tq, Tk, C, scale);
    assert_memory_equal(out2, out, nq * sizeof(float));
    if (getenv("CG_VERBOSE")) printf("%-40s %lld fully masked rows of %lld\n", name, (long long)dead, (long long)nl);
    free(q), free(k), free(v), free(out), free(lse), free(qd), free(kd), free(vd), free(rout), free(rlse);
    free(dout), free(dq), free(dk), free(dv), free(rdq), free(rdk), free(rdv), free(gd), free(dq0), free(lse2);
    free(g1), free(g2), free(g3), free(h1), free(h2), free(h3), free(out2);
}

static void test_attention_kernel(void **state) {
    (void)state;
    /* B = 2, H = 3, Tq = 70 (two query blocks), Tk = 150 (tiles of 64, 64, 22); the mask [B, 1, Tq, Tk]
     * is shared over heads, with fully masked rows in both query blocks and a whole key tile masked in
     * batch 1 */
    {
        const int64_t B = 2, H = 3, Tq = 70, Tk = 150;
        cg_attn_mask mk = {.nb = B, .nh = 1};
        uint8_t *km = rand_mask(B, 1, Tq, Tk, 0.7f, 12);
        mask_row(km, &mk, 0, 0, 3, Tq, Tk, 0);
        mask_row(km, &mk, 1, 0, 65, Tq, Tk, 0);
        for (int64_t i = 0; i < Tq; i++) memset(km + (Tq + i) * Tk + 64, 0, 64);
        mk.keep = km;
        check_attention_kernels("attention [B,1,Tq,Tk] mask", B, H, Tq, Tk, 8, &mk, 0.35f);
        free(km);
    }
    /* per-head mask [1, H, Tq, Tk], a query block (rows 64..69) whose first key tile is all masked */
    {
        const int64_t B = 2, H = 2, Tq = 70, Tk = 65;
        cg_attn_mask mk = {.nb = 1, .nh = H};
        uint8_t *km = rand_mask(1, H, Tq, Tk, 0.5f, 13);
        for (int64_t i = 64; i < Tq; i++) memset(km + (1 * Tq + i) * Tk, 0, 64);
        mask_row(km, &mk, 0, 1, 0, Tq, Tk, 0);
        mk.keep = km;
        check_attention_kernels("attention [1,H,Tq,Tk] mask", B, H, Tq, Tk, 5, &mk, 0.5f);
        free(km);
    }
    /* no mask; larger scores (scale 1.5, C = 16) so the running max moves between tiles */
    check_attention_kernels("attention unmasked", 1, 2, 130, 200, 16, NULL, 1.5f);
    /* Hyper-SAGNN: "diagonal masked" self-attention, keep[i][j] = (i != j), T = 5 */
    {
        const int64_t T = 5;
        uint8_t km[T * T];
        for (int64_t i = 0; i < T; i++)
            for (int64_t j = 0; j < T; j++) km[i * T + j] = i != j;
        cg_attn_mask mk = {.keep = km, .nb = 1, .nh = 1};
        check_attention_kernels("attention diagonal masked", 4, 2, T, T, 6, &mk, 1.0f / sqrtf(6.0f));
        /* T = 1: the only row is fully masked */
        uint8_t one = 0;
        cg_attn_mask mk1 = {.keep = &one, .nb = 1, .nh = 1};
        check_attention_kernels("attention diagonal masked T=1", 3, 2, 1, 1, 4, &mk1, 0.5f);
    }
    /* every key masked and no key at all: zeros everywhere */
    {
        uint8_t km[3 * 70] = {0};
        cg_attn_mask mk = {.keep = km, .nb = 1, .nh = 1};
        check_attention_kernels("attention all masked", 2, 1, 3, 70, 4, &mk, 0.5f);
        check_attention_kernels("attention Tk = 0", 2, 1, 3, 0, 4, NULL, 0.5f);
    }
}

/* ------------------------------------------------------------------ recorded ops: finite differences */

#define MAXIN 3

typedef struct fd_case {
    const char *name;
    int n_in;
    int ndim[MAXIN];
    int64_t shape[MAXIN][4];
    float lo, hi;
    int64_t out_numel;
    void (*ref)(const double *const *in, double *out);
    cg_tensor *(*build)(cg_ctx *ctx, cg_tensor **in);
} fd_case;

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* Forward against ref; the gradients of L = sum(r * out) through the tape against central finite
 * differences of ref in double. */
static void run_fd(const fd_case *c) {
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 16, 7), CG_OK);
    cg_tensor *in[MAXIN] = {0};
    float *buf[MAXIN] = {0};
    double *din[MAXIN] = {0};
    int64_t n[MAXIN] = {0};
    for (int i = 0; i < c->n_in; i++) {
        n[i] = numel_of(c->ndim[i], c->shape[i]);
        buf[i] = frand(n[i], c->lo, c->hi, 1000 + 17 * i);
        din[i] = to_double(buf[i], n[i]);
        in[i] = cg_tensor_wrap(&ctx, CG_F32, c->ndim[i], c->shape[i], buf[i]);
        assert_non_null(in[i]);
        in[i]->requires_grad = true;
    }
    cg_tensor *out = c->build(&ctx, in);
    if (!out) print_error("%s: %s\n", c->name, cg_last_error());
    assert_non_null(out);
    assert_int_equal(out->numel, c->out_numel);
    double *ref = malloc((c->out_numel + 1) * sizeof(double)), *tmp = malloc((c->out_numel + 1) * sizeof(double));
    c->ref((const double *const *)din, ref);
    char label[128];
    snprintf(label, sizeof label, "%s forward", c->name);
    check_scaled(label, cg_f32(out), ref, c->out_numel, 2e-5);

    float *r = frand(c->out_numel, -1, 1, 99);
    assert_int_equal(cg_backward_from(&ctx, out, r), CG_OK);
    for (int i = 0; i < c->n_in; i++) {
        double *fd = malloc((n[i] + 1) * sizeof(double)), maxabs = 0;
        for (int64_t j = 0; j < n[i]; j++) {
            const double x0 = din[i][j], h = 1e-6 * fmax(1.0, fabs(x0));
            double lp = 0, lm = 0;
            din[i][j] = x0 + h;
            c->ref((const double *const *)din, tmp);
            for (int64_t t = 0; t < c->out_numel; t++) lp += r[t] * tmp[t];
            din[i][j] = x0 - h;
            c->ref((const double *const *)din, tmp);
            for (int64_t t = 0; t < c->out_numel; t++) lm += r[t] * tmp[t];
            din[i][j] = x0;
            fd[j] = (lp - lm) / (2 * h);
            maxabs = fmax(maxabs, fabs(fd[j]));
        }
        snprintf(label, sizeof label, "%s d/d(input %d)", c->name, i);
        assert_non_null(in[i]->grad);
        tu_check_close(label, in[i]->grad, fd, n[i], 2e-4, fmax(1e-2 * maxabs, 1e-6));
        free(fd);
    }
    for (int i = 0; i < c->n_in; i++) free(buf[i]), free(din[i]);
    free(ref), free(tmp), free(r);
    cg_ctx_free(&ctx);
}

/* --- bmm: a [2, 3, .., ..] @ b */
enum { BB0 = 2, BB1 = 3, BM = 4, BN = 5, BKK = 3 };
static bool g_ta, g_tb;
static void ref_bmm_case(const double *const *in, double *out) {
    ref_bmm(out, in[0], in[1], BB0 * BB1, BM, BN, BKK, g_ta, g_tb);
}
static cg_tensor *build_bmm(cg_ctx *ctx, cg_tensor **in) { return cg_bmm(ctx, in[0], in[1], g_ta, g_tb); }

static void test_bmm_grad(void **state) {
    (void)state;
    for (int t = 0; t < 4; t++) {
        g_ta = t & 1, g_tb = t >> 1;
        fd_case c = {.name = "bmm", .n_in = 2, .ndim = {4, 4}, .lo = -1, .hi = 1, .out_numel = BB0 * BB1 * BM * BN,
                     .ref = ref_bmm_case, .build = build_bmm};
        int64_t sa[4] = {BB0, BB1, g_ta ? BKK : BM, g_ta ? BM : BKK}, sb[4] = {BB0, BB1, g_tb ? BN : BKK, g_tb ? BKK : BN};
        memcpy(c.shape[0], sa, sizeof sa), memcpy(c.shape[1], sb, sizeof sb);
        run_fd(&c);
    }
    /* 2-d: a plain matrix product */
    g_ta = false, g_tb = true;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    float a[6], b[6];
    tu_fill_uniform(a, 6, -1, 1, 3), tu_fill_uniform(b, 6, -1, 1, 4);
    cg_tensor *o = cg_bmm(&ctx, cg_tensor_wrap2(&ctx, 2, 3, a), cg_tensor_wrap2(&ctx, 2, 3, b), false, true);
    assert_non_null(o);
    assert_int_equal(o->ndim, 2);
    assert_true(o->shape[0] == 2 && o->shape[1] == 2);
    cg_ctx_free(&ctx);
}

/* --- masked softmax: x [2, 3, 4, 6], keep [2, 1, 4, 6], add [3, 4, 6] (padded to [1, 3, 4, 6]) */
enum { SB = 2, SH = 3, SM = 4, SN = 6 };
static uint8_t g_keep[SB * SM * SN];
static float g_add[SH * SM * SN];
static double g_addd[SH * SM * SN];
static void ref_softmax_case(const double *const *in, double *out) {
    cg_attn_mask mk = {.keep = g_keep, .nb = SB, .nh = 1};
    ref_softmax(out, in[0], &mk, g_addd, 1, SH, SB, SH, SM, SN);
}
static cg_tensor *build_softmax(cg_ctx *ctx, cg_tensor **in) {
    cg_attn_mask mk = {.keep = g_keep, .nb = SB, .nh = 1};
    int64_t as[3] = {SH, SM, SN};
    return cg_softmax_masked(ctx, in[0], &mk, cg_tensor_wrap(ctx, CG_F32, 3, as, g_add));
}

static void test_softmax_grad(void **state) {
    (void)state;
    float u[SB * SM * SN];
    tu_fill_uniform(u, SB * SM * SN, 0, 1, 77);
    for (int i = 0; i < SB * SM * SN; i++) g_keep[i] = u[i] < 0.75f;
    memset(g_keep + (1 * SM + 2) * SN, 0, SN); /* batch 1, row 2: fully masked */
    tu_fill_uniform(g_add, SH * SM * SN, -1, 1, 78);
    for (int j = 0; j < SN; j++) g_add[(2 * SM + 0) * SN + j] = -INFINITY; /* head 2, row 0: masked by add */
    g_add[(0 * SM + 1) * SN + 3] = -INFINITY;
    for (int i = 0; i < SH * SM * SN; i++) g_addd[i] = g_add[i];
    fd_case c = {.name = "softmax_masked", .n_in = 1, .ndim = {4}, .shape = {{SB, SH, SM, SN}}, .lo = -2, .hi = 2,
                 .out_numel = SB * SH * SM * SN, .ref = ref_softmax_case, .build = build_softmax};
    run_fd(&c);
}

/* --- split / merge heads: [B=2, T=3, H*C = 2*4] */
enum { HB = 2, HT = 3, HH = 2, HC = 4 };
static void ref_split_case(const double *const *in, double *out) {
    for (int b = 0; b < HB; b++)
        for (int t = 0; t < HT; t++)
            for (int h = 0; h < HH; h++)
                for (int c = 0; c < HC; c++) out[((b * HH + h) * HT + t) * HC + c] = in[0][(b * HT + t) * HH * HC + h * HC + c];
}
static cg_tensor *build_split(cg_ctx *ctx, cg_tensor **in) { return cg_split_heads(ctx, in[0], HT, HH); }
static void ref_merge_case(const double *const *in, double *out) {
    for (int b = 0; b < HB; b++)
        for (int t = 0; t < HT; t++)
            for (int h = 0; h < HH; h++)
                for (int c = 0; c < HC; c++) out[(b * HT + t) * HH * HC + h * HC + c] = in[0][((b * HH + h) * HT + t) * HC + c];
}
static cg_tensor *build_merge(cg_ctx *ctx, cg_tensor **in) { return cg_merge_heads(ctx, in[0]); }

static void test_heads_grad(void **state) {
    (void)state;
    /* split from the 2-d [B*T, H*C] that cg_linear returns */
    fd_case c = {.name = "split_heads", .n_in = 1, .ndim = {2}, .shape = {{HB * HT, HH * HC}}, .lo = -1, .hi = 1,
                 .out_numel = HB * HT * HH * HC, .ref = ref_split_case, .build = build_split};
    run_fd(&c);
    fd_case m = {.name = "merge_heads", .n_in = 1, .ndim = {4}, .shape = {{HB, HH, HT, HC}}, .lo = -1, .hi = 1,
                 .out_numel = HB * HT * HH * HC, .ref = ref_merge_case, .build = build_merge};
    run_fd(&m);
    /* shapes: [B, H, T, C] and [B, T, H*C]; merge(split(x)) == x */
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    float x[HB * HT * HH * HC];
    tu_fill_uniform(x, HB * HT * HH * HC, -1, 1, 5);
    int64_t s3[3] = {HB, HT, HH * HC};
    cg_tensor *s = cg_split_heads(&ctx, cg_tensor_wrap(&ctx, CG_F32, 3, s3, x), HT, HH);
    assert_non_null(s);
    assert_int_equal(s->ndim, 4);
    assert_true(s->shape[0] == HB && s->shape[1] == HH && s->shape[2] == HT && s->shape[3] == HC);
    cg_tensor *mg = cg_merge_heads(&ctx, s);
    assert_non_null(mg);
    assert_int_equal(mg->ndim, 3);
    assert_true(mg->shape[0] == HB && mg->shape[1] == HT && mg->shape[2] == HH * HC);
    assert_memory_equal(cg_f32(mg), x, sizeof x);
    cg_ctx_free(&ctx);
}

/* --- attention: configurations given through globals (as test_ops does) */
static int64_t gB, gH, gTq, gTk, gC;
static cg_attn_mask *g_mask;
static float g_scale; /* passed to cg_attention (0: default) */
static double g_scale_eff;
static void ref_attention_case(const double *const *in, double *out) {
    ref_attention(out, NULL, in[0], in[1], in[2], g_mask, gB, gH, gTq, gTk, gC, g_scale_eff);
}
static cg_tensor *build_attention(cg_ctx *ctx, cg_tensor **in) {
    return cg_attention(ctx, in[0], in[1], in[2], g_mask, g_scale);
}

static void fd_attention(const char *name, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t C, int qdim,
                         cg_attn_mask *mk, float scale) {
    gB = B, gH = H, gTq = Tq, gTk = Tk, gC = C, g_mask = mk, g_scale = scale;
    g_scale_eff = scale == 0.0f ? 1.0f / sqrtf((float)C) : scale;
    fd_case c = {.name = name, .n_in = 3, .lo = -1.5f, .hi = 1.5f, .out_numel = B * H * Tq * C,
                 .ref = ref_attention_case, .build = build_attention};
    int64_t full[3][4] = {{B, H, Tq, C}, {B, H, Tk, C}, {B, H, Tk, C}};
    for (int i = 0; i < 3; i++) {
        c.ndim[i] = qdim;
        for (int d = 0; d < qdim; d++) c.shape[i][d] = full[i][4 - qdim + d];
    }
    run_fd(&c);
}

static void test_attention_grad(void **state) {
    (void)state;
    /* per-head mask, Tk = 70 (two key tiles), a fully masked row, the default scale 1 / sqrt(C) */
    {
        const int64_t B = 1, H = 2, Tq = 3, Tk = 70;
        cg_attn_mask mk = {.nb = 1, .nh = H};
        uint8_t *km = rand_mask(1, H, Tq, Tk, 0.6f, 21);
        mask_row(km, &mk, 0, 0, 1, Tq, Tk, 0);
        mk.keep = km;
        fd_attention("attention (per-head mask)", B, H, Tq, Tk, 2, 4, &mk, 0.0f);
        free(km);
    }
    /* [B, 1, Tq, Tk] mask, Tq = 66 (two query blocks) and Tk = 67, fully masked rows in both blocks */
    {
        const int64_t B = 2, H = 1, Tq = 66, Tk = 67;
        cg_attn_mask mk = {.nb = B, .nh = 1};
        uint8_t *km = rand_mask(B, 1, Tq, Tk, 0.5f, 22);
        mask_row(km, &mk, 0, 0, 10, Tq, Tk, 0);
        mask_row(km, &mk, 1, 0, 65, Tq, Tk, 0);
        mk.keep = km;
        fd_attention("attention (batch mask, 2 blocks)", B, H, Tq, Tk, 3, 4, &mk, 0.7f);
        free(km);
    }
    /* 2-d q [Tq, C], k and v [Tk, C] (B = H = 1), no mask */
    fd_attention("attention (2-d, unmasked)", 1, 1, 4, 5, 3, 2, NULL, 0.5f);
    /* Hyper-SAGNN diagonal mask, 3-d [H, T, C] */
    {
        uint8_t km[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) km[i * 4 + j] = i != j;
        cg_attn_mask mk = {.keep = km, .nb = 1, .nh = 1};
        fd_attention("attention (diagonal masked)", 1, 2, 4, 4, 3, 3, &mk, 0.0f);
    }
}

/* ------------------------------------------------------------------ tiled = composed */

/* cg_attention against cg_bmm(q, k^T) -> cg_scale -> cg_softmax_masked -> cg_bmm(p, v), forward and
 * gradients, with a mask that has fully masked rows. */
static void test_tiled_equals_composed(void **state) {
    (void)state;
    const int64_t B = 2, H = 3, Tq = 100, Tk = 130, C = 16, nq = B * H * Tq * C, nk = B * H * Tk * C;
    const float scale = 0.25f;
    cg_attn_mask mk = {.nb = B, .nh = 1};
    uint8_t *km = rand_mask(B, 1, Tq, Tk, 0.8f, 31);
    mask_row(km, &mk, 0, 0, 7, Tq, Tk, 0);
    mask_row(km, &mk, 1, 0, 80, Tq, Tk, 0);
    mk.keep = km;
    float *x[3] = {frand(nq, -2, 2, 32), frand(nk, -2, 2, 33), frand(nk, -2, 2, 34)};
    float *r = frand(nq, -1, 1, 35);
    float *res[2][4]; /* [path][out, dq, dk, dv] */
    int64_t sz[4] = {nq, nq, nk, nk};
    for (int path = 0; path < 2; path++) {
        cg_ctx ctx;
        assert_int_equal(cg_ctx_init(&ctx, 1 << 20, 1), CG_OK);
        int64_t sq[4] = {B, H, Tq, C}, sk[4] = {B, H, Tk, C};
        cg_tensor *q = cg_tensor_wrap(&ctx, CG_F32, 4, sq, x[0]), *k = cg_tensor_wrap(&ctx, CG_F32, 4, sk, x[1]);
        cg_tensor *v = cg_tensor_wrap(&ctx, CG_F32, 4, sk, x[2]);
        q->requires_grad = k->requires_grad = v->requires_grad = true;
        cg_tensor *o;
        if (path == 0)
            o = cg_attention(&ctx, q, k, v, &mk, scale);
        else
            o = cg_bmm(&ctx, cg_softmax_masked(&ctx, cg_scale(&ctx, cg_bmm(&ctx, q, k, false, true), scale), &mk, NULL), v,
                       false, false);
        if (!o) print_error("%s\n", cg_last_error());
        assert_non_null(o);
        assert_true(cg_same_shape(o, q));
        assert_int_equal(cg_backward_from(&ctx, o, r), CG_OK);
        res[path][0] = fcopy(cg_f32(o), nq);
        res[path][1] = fcopy(q->grad, nq), res[path][2] = fcopy(k->grad, nk), res[path][3] = fcopy(v->grad, nk);
        cg_ctx_free(&ctx);
    }
    static const char *what[4] = {"tiled vs composed: out", "tiled vs composed: dq", "tiled vs composed: dk",
                                  "tiled vs composed: dv"};
    for (int t = 0; t < 4; t++) tu_check_rel2(what[t], res[0][t], res[1][t], sz[t], 2e-6);
    /* fully masked rows are exactly zero on both paths, with zero dq */
    const int64_t dead[2] = {(0 * H + 1) * Tq + 7, (1 * H + 2) * Tq + 80};
    for (int d = 0; d < 2; d++)
        for (int64_t c = 0; c < C; c++)
            for (int path = 0; path < 2; path++) {
                assert_true(res[path][0][dead[d] * C + c] == 0.0f);
                assert_true(res[path][1][dead[d] * C + c] == 0.0f);
            }
    for (int p = 0; p < 2; p++)
        for (int t = 0; t < 4; t++) free(res[p][t]);
    for (int i = 0; i < 3; i++) free(x[i]);
    free(r), free(km);
}

/* ------------------------------------------------------------------ a long sequence */

/* Tq = 600, Tk = 5000 (not a multiple of 64), C = 16, H = 2 with a shared mask: forward rows and every
 * gradient against the reference, and the arena: the forward adds the output and lse, the backward the
 * four gradients, never anything of size Tq * Tk. */
static void test_long_sequence(void **state) {
    (void)state;
    const int64_t B = 1, H = 2, Tq = 600, Tk = 5000, C = 16, nq = B * H * Tq * C, nk = B * H * Tk * C;
    cg_attn_mask mk = {.nb = 1, .nh = 1};
    uint8_t *km = rand_mask(1, 1, Tq, Tk, 0.9f, 41);
    mask_row(km, &mk, 0, 0, 5, Tq, Tk, 0);
    mk.keep = km;
    float *qf = frand(nq, -1, 1, 42), *kf = frand(nk, -1, 1, 43), *vf = frand(nk, -1, 1, 44), *r = frand(nq, -1, 1, 45);
    const float scale = 0.5f;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 20, 1), CG_OK);
    int64_t sq[4] = {B, H, Tq, C}, sk[4] = {B, H, Tk, C};
    cg_tensor *q = cg_tensor_wrap(&ctx, CG_F32, 4, sq, qf), *k = cg_tensor_wrap(&ctx, CG_F32, 4, sk, kf);
    cg_tensor *v = cg_tensor_wrap(&ctx, CG_F32, 4, sk, vf);
    q->requires_grad = k->requires_grad = v->requires_grad = true;

    const size_t before = ctx.arena.used_total;
    cg_tensor *o = cg_attention(&ctx, q, k, v, &mk, scale);
    assert_non_null(o);
    const size_t fwd = ctx.arena.used_total - before;
    assert_int_equal(cg_backward_from(&ctx, o, r), CG_OK);
    const size_t bwd = ctx.arena.used_total - before - fwd;
    const size_t out_bytes = (size_t)nq * 4, lse_bytes = (size_t)(B * H * Tq) * 4, scores = (size_t)(B * H * Tq * Tk) * 4;
    if (getenv("CG_VERBOSE"))
        printf("long sequence: arena forward %zu B (out %zu + lse %zu), backward %zu B; one score matrix %zu B\n", fwd,
               out_bytes, lse_bytes, bwd, scores);
    assert_true(fwd <= out_bytes + lse_bytes + 1024);                         /* out, lse, records */
    assert_true(bwd <= 2 * (size_t)nq * 4 + 2 * (size_t)nk * 4 + 1024);       /* dout, dq, dk, dv */
    assert_true(fwd + bwd < scores / 8);

    double *qd = to_double(qf, nq), *kd = to_double(kf, nk), *vd = to_double(vf, nk), *rd = to_double(r, nq);
    double *ro = malloc(nq * sizeof(double));
    double *rdq = calloc(nq, sizeof(double)), *rdk = calloc(nk, sizeof(double)), *rdv = calloc(nk, sizeof(double));
    ref_attention(ro, NULL, qd, kd, vd, &mk, B, H, Tq, Tk, C, scale);
    ref_attention_grad(rdq, rdk, rdv, rd, qd, kd, vd, &mk, B, H, Tq, Tk, C, scale);
    /* out is an average of 5000 values of both signs, small against its terms: float rounding of the
     * sums shows more at the scale of the result than for short rows, hence 1e-4 */
    check_scaled("long: out", cg_f32(o), ro, nq, 1e-4);
    for (int64_t h = 0; h < H; h++)
        for (int64_t c = 0; c < C; c++) assert_true(cg_f32(o)[((h * Tq) + 5) * C + c] == 0.0f);
    check_scaled("long: dq", q->grad, rdq, nq, 1e-4);
    check_scaled("long: dk", k->grad, rdk, nk, 1e-4);
    check_scaled("long: dv", v->grad, rdv, nk, 1e-4);
    free(qd), free(kd), free(vd), free(rd), free(ro), free(rdq), free(rdk), free(rdv);
    free(qf), free(kf), free(vf), free(r), free(km);
    cg_ctx_free(&ctx);
}

/* ------------------------------------------------------------------ determinism */

/* Every kernel run with 1 and 2 threads, and twice with 2: bitwise equal (the large bmm included: its
 * products go through cg_gemm's fixed partition). */
static void run_all_kernels(float **res, const float *q, const float *k, const float *v, const float *g,
                            const float *x, const cg_attn_mask *mk, int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                            int64_t C) {
    const int64_t nq = B * H * Tq * C, nk = B * H * Tk * C, ns = B * H * Tq * Tk;
    res[0] = calloc(nq, 4), res[1] = calloc(B * H * Tq, 4), res[2] = calloc(nq, 4), res[3] = calloc(nk, 4),
    res[4] = calloc(nk, 4), res[5] = calloc(ns, 4), res[6] = calloc(ns, 4), res[7] = calloc(ns, 4);
    cg_attention_forward(res[0], res[1], q, k, v, mk, B, H, Tq, Tk, C, 0.3f);
    cg_attention_backward(res[2], res[3], res[4], g, q, k, v, res[0], res[1], mk, B, H, Tq, Tk, C, 0.3f);
    cg_bmm_forward(res[5], q, k, B * H, Tq, Tk, C, false, true);
    cg_softmax_masked_forward(res[6], x, mk, NULL, 1, 1, B, H, Tq, Tk);
    cg_softmax_masked_backward(res[7], x, res[6], B * H * Tq, Tk);
}

static void check_determinism(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t C) {
    const int64_t nq = B * H * Tq * C, nk = B * H * Tk * C;
    const int64_t sizes[8] = {nq, B * H * Tq, nq, nk, nk, B * H * Tq * Tk, B * H * Tq * Tk, B * H * Tq * Tk};
    cg_attn_mask mk = {.nb = B, .nh = 1};
    uint8_t *km = rand_mask(B, 1, Tq, Tk, 0.8f, 51);
    mk.keep = km;
    float *q = frand(nq, -2, 2, 52), *k = frand(nk, -2, 2, 53), *v = frand(nk, -2, 2, 54), *g = frand(nq, -1, 1, 55);
    float *x = frand(B * H * Tq * Tk, -3, 3, 56);
    const int restore = cg_get_num_threads();
    float *a[8], *b[8], *c[8];
    assert_int_equal(cg_set_num_threads(1), CG_OK);
    run_all_kernels(a, q, k, v, g, x, &mk, B, H, Tq, Tk, C);
    assert_int_equal(cg_set_num_threads(2), CG_OK);
    run_all_kernels(b, q, k, v, g, x, &mk, B, H, Tq, Tk, C);
    run_all_kernels(c, q, k, v, g, x, &mk, B, H, Tq, Tk, C);
    assert_int_equal(cg_set_num_threads(restore), CG_OK);
    for (int t = 0; t < 8; t++) {
        assert_memory_equal(b[t], c[t], sizes[t] * sizeof(float)); /* same thread count */
        assert_memory_equal(a[t], b[t], sizes[t] * sizeof(float)); /* 1 vs 2 threads */
        free(a[t]), free(b[t]), free(c[t]);
    }
    free(q), free(k), free(v), free(g), free(x), free(km);
}

static void test_determinism(void **state) {
    (void)state;
    /* B * H = 6: the one-pass backward at 1 and 2 threads */
    check_determinism(2, 3, 150, 200, 16);
    /* B * H = 2: the one-pass backward at 1 thread, the two-pass one at 2 threads (same bits) */
    check_determinism(2, 1, 150, 200, 16);
}

/* ------------------------------------------------------------------ errors */

static void expect_error(cg_ctx *ctx, cg_status s, const char *msg) {
    assert_int_equal(cg_ctx_status(ctx), s);
    if (!strstr(cg_last_error(), msg)) print_error("expected '%s' in '%s'\n", msg, cg_last_error());
    assert_non_null(strstr(cg_last_error(), msg));
    assert_int_equal(cg_ctx_reset(ctx), CG_OK);
}

static void test_errors(void **state) {
    (void)state;
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    float buf[256] = {0};
    int64_t s4[4] = {2, 3, 4, 5}, s4b[4] = {3, 2, 5, 4}, s4k[4] = {2, 3, 6, 4}, s4v[4] = {2, 3, 6, 3};
    cg_tensor *a = cg_tensor_wrap(&ctx, CG_F32, 4, s4, buf);
    assert_null(cg_bmm(&ctx, a, cg_tensor_wrap(&ctx, CG_F32, 4, s4b, buf), false, false));
    expect_error(&ctx, CG_ERR_SHAPE, "bmm: a [2, 3, 4, 5] and b [3, 2, 5, 4] must have the same leading");
    a = cg_tensor_wrap(&ctx, CG_F32, 4, s4, buf);
    assert_null(cg_bmm(&ctx, a, a, false, false));
    expect_error(&ctx, CG_ERR_SHAPE, "bmm: inner dimensions differ");
    /* NULL input: NULL without a new message */
    assert_null(cg_bmm(&ctx, NULL, NULL, false, false));
    assert_int_equal(cg_ctx_status(&ctx), CG_OK);

    /* softmax masks */
    a = cg_tensor_wrap(&ctx, CG_F32, 4, s4, buf);
    uint8_t keep[120] = {0};
    cg_attn_mask bad = {.keep = keep, .nb = 3, .nh = 1};
    assert_null(cg_softmax_masked(&ctx, a, &bad, NULL));
    expect_error(&ctx, CG_ERR_SHAPE, "softmax_masked: the boolean mask covers [3, 1]");
    a = cg_tensor_wrap(&ctx, CG_F32, 4, s4, buf);
    int64_t sadd[2] = {4, 4};
    assert_null(cg_softmax_masked(&ctx, a, NULL, cg_tensor_wrap(&ctx, CG_F32, 2, sadd, buf)));
    expect_error(&ctx, CG_ERR_SHAPE, "does not end in x's [4, 5]");
    a = cg_tensor_wrap(&ctx, CG_F32, 4, s4, buf);
    int64_t sadd2[2] = {4, 5};
    cg_tensor *add = cg_tensor_wrap(&ctx, CG_F32, 2, sadd2, buf);
    add->requires_grad = true;
    assert_null(cg_softmax_masked(&ctx, a, NULL, add));
    expect_error(&ctx, CG_ERR_INVALID_ARG, "requires a gradient");

    /* heads */
    a = cg_tensor_wrap2(&ctx, 6, 8, buf);
    assert_null(cg_split_heads(&ctx, a, 4, 2));
    expect_error(&ctx, CG_ERR_SHAPE, "split_heads: x [6, 8] is not [B * 4, 2 * C]");
    a = cg_tensor_wrap2(&ctx, 6, 8, buf);
    assert_null(cg_split_heads(&ctx, a, 3, 0));
    expect_error(&ctx, CG_ERR_INVALID_ARG, "split_heads");

    /* attention */
    cg_tensor *q = cg_tensor_wrap(&ctx, CG_F32, 4, s4, buf), *k = cg_tensor_wrap(&ctx, CG_F32, 4, s4k, buf);
    assert_null(cg_attention(&ctx, q, k, k, NULL, 0.0f));
    expect_error(&ctx, CG_ERR_SHAPE, "attention: q [2, 3, 4, 5], k [2, 3, 6, 4], v [2, 3, 6, 4] are not");
    int64_t s4q[4] = {2, 3, 4, 4};
    q = cg_tensor_wrap(&ctx, CG_F32, 4, s4q, buf), k = cg_tensor_wrap(&ctx, CG_F32, 4, s4k, buf);
    assert_null(cg_attention(&ctx, q, k, cg_tensor_wrap(&ctx, CG_F32, 4, s4v, buf), NULL, 0.0f));
    expect_error(&ctx, CG_ERR_SHAPE, "attention");
    q = cg_tensor_wrap(&ctx, CG_F32, 4, s4q, buf), k = cg_tensor_wrap(&ctx, CG_F32, 4, s4k, buf);
    assert_null(cg_attention(&ctx, q, k, k, NULL, INFINITY));
    expect_error(&ctx, CG_ERR_INVALID_ARG, "attention: scale inf is not finite");
    q = cg_tensor_wrap(&ctx, CG_F32, 4, s4q, buf), k = cg_tensor_wrap(&ctx, CG_F32, 4, s4k, buf);
    cg_attn_mask mh = {.keep = keep, .nb = 1, .nh = 2};
    assert_null(cg_attention(&ctx, q, k, k, &mh, 0.0f));
    expect_error(&ctx, CG_ERR_SHAPE, "attention: the mask covers [1, 2] (batch, heads), expected 1 or 2 and 1 or 3");
    int64_t one = 4;
    cg_tensor *iq = cg_tensor_wrap(&ctx, CG_I32, 1, &one, buf);
    assert_null(cg_attention(&ctx, iq, iq, iq, NULL, 0.0f));
    expect_error(&ctx, CG_ERR_SHAPE, "attention: q must be float32");
    /* a recorded attention without gradients records nothing and saves no lse */
    q = cg_tensor_wrap(&ctx, CG_F32, 4, s4q, buf), k = cg_tensor_wrap(&ctx, CG_F32, 4, s4k, buf);
    const size_t before = ctx.arena.used_total;
    cg_tensor *o = cg_attention(&ctx, q, k, k, NULL, 0.0f);
    assert_non_null(o);
    assert_false(o->requires_grad);
    assert_int_equal(ctx.n_tape, 0);
    assert_true(ctx.arena.used_total - before <= (size_t)o->numel * 4 + 256);
    cg_ctx_free(&ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bmm_kernel),      cmocka_unit_test(test_softmax_kernel),
        cmocka_unit_test(test_heads_kernel),    cmocka_unit_test(test_attention_kernel),
        cmocka_unit_test(test_bmm_grad),        cmocka_unit_test(test_softmax_grad),
        cmocka_unit_test(test_heads_grad),      cmocka_unit_test(test_attention_grad),
        cmocka_unit_test(test_tiled_equals_composed), cmocka_unit_test(test_long_sequence),
        cmocka_unit_test(test_determinism),     cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
