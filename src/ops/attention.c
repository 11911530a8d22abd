/* Dense attention kernels (cellgraph/attention.h): batched matrix product, masked softmax, head layout,
 * and the tiled (FlashAttention-style) scaled dot-product attention. */
#include "cellgraph/attention.h"
#include "cellgraph/ops.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define BQ CG_ATTN_BLOCK_Q
#define BK CG_ATTN_BLOCK_K

/* per-matrix work (M*N*K) up to which cg_bmm runs its batch in parallel, one cg_gemm (on its thread) each */
#define CG_BMM_SMALL ((int64_t)1 << 18)

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ------------------------------------------------------------------ batched matrix product */

void cg_bmm_forward(float *C, const float *A, const float *B, int64_t batch, int64_t M, int64_t N, int64_t K,
                    bool transA, bool transB) {
    const int64_t lda = transA ? M : K, ldb = transB ? K : N;
    const bool par = batch > 1 && M * N * K <= CG_BMM_SMALL;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t b = 0; b < batch; b++)
        cg_gemm(transA, transB, M, N, K, 1.0f, A + b * M * K, lda, B + b * K * N, ldb, 0.0f, C + b * M * N, N);
}

void cg_bmm_backward(float *dA, float *dB, const float *dC, const float *A, const float *B, int64_t batch,
                     int64_t M, int64_t N, int64_t K, bool transA, bool transB) {
    const int64_t lda = transA ? M : K, ldb = transB ? K : N;
    const bool par = batch > 1 && M * N * K <= CG_BMM_SMALL;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t b = 0; b < batch; b++) {
        const float *Ab = A + b * M * K, *Bb = B + b * K * N, *dCb = dC + b * M * N;
        if (dA) {
            float *dAb = dA + b * M * K;
            if (!transA) /* dA[M,K] += dC[M,N] op(B)^T */
                cg_gemm(false, !transB, M, K, N, 1.0f, dCb, N, Bb, ldb, 1.0f, dAb, K);
            else /* dA[K,M] += op(B)[K,N] dC^T */
                cg_gemm(transB, true, K, M, N, 1.0f, Bb, ldb, dCb, N, 1.0f, dAb, M);
        }
        if (dB) {
            float *dBb = dB + b * K * N;
            if (!transB) /* dB[K,N] += op(A)^T dC */
                cg_gemm(!transA, false, K, N, M, 1.0f, Ab, lda, dCb, N, 1.0f, dBb, N);
            else /* dB[N,K] += dC^T op(A) */
                cg_gemm(true, transA, N, K, M, 1.0f, dCb, N, Ab, lda, 1.0f, dBb, K);
        }
    }
}

/* ------------------------------------------------------------------ masked softmax */

/* offset of the [M, N] plane of (b, h) in a mask [nb, nh, M, N] broadcast over [B, H] */
static inline int64_t plane(int64_t nb, int64_t nh, int64_t b, int64_t h, int64_t MN) {
    return ((nb == 1 ? 0 : b) * nh + (nh == 1 ? 0 : h)) * MN;
}

void cg_softmax_masked_forward(float *y, const float *x, const cg_attn_mask *keep, const float *add, int64_t add_nb,
                               int64_t add_nh, int64_t B, int64_t H, int64_t M, int64_t N) {
    const uint8_t *kp = keep ? keep->keep : NULL;
    const int64_t R = B * H * M;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const int64_t i = r % M, h = (r / M) % H, b = r / M / H;
        const float *xr = x + r * N;
        float *yr = y + r * N;
        const uint8_t *kr = kp ? kp + plane(keep->nb, keep->nh, b, h, M * N) + i * N : NULL;
        const float *ar = add ? add + plane(add_nb, add_nh, b, h, M * N) + i * N : NULL;
        float mx = -INFINITY;
        for (int64_t j = 0; j < N; j++) {
            if (kr && !kr[j]) continue;
            float z = ar ? xr[j] + ar[j] : xr[j];
            if (z > mx) mx = z;
        }
        if (mx == -INFINITY) { /* fully masked row: zeros (torch gives NaN) */
            memset(yr, 0, (size_t)N * sizeof(float));
            continue;
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < N; j++) {
            float e = 0.0f;
            if (!kr || kr[j]) e = expf((ar ? xr[j] + ar[j] : xr[j]) - mx);
            yr[j] = e;
            sum += e;
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < N; j++) yr[j] *= inv;
    }
}

void cg_softmax_masked_backward(float *dx, const float *dy, const float *y, int64_t R, int64_t N) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *yr = y + r * N, *gr = dy + r * N;
        float *dr = dx + r * N;
        float dot = 0.0f;
        for (int64_t j = 0; j < N; j++) dot += yr[j] * gr[j];
        for (int64_t j = 0; j < N; j++) dr[j] += yr[j] * (gr[j] - dot);
    }
}

/* ------------------------------------------------------------------ head layout */

/* Each (b, t) row of the [B, T, H*C] side is owned by one iteration. */
void cg_split_heads_forward(float *y, const float *x, int64_t B, int64_t T, int64_t H, int64_t C) {
#pragma omp parallel for schedule(static)
    for (int64_t bt = 0; bt < B * T; bt++) {
        const int64_t b = bt / T, t = bt % T;
        for (int64_t h = 0; h < H; h++)
            memcpy(y + ((b * H + h) * T + t) * C, x + bt * H * C + h * C, (size_t)C * sizeof(float));
    }
}

void cg_split_heads_backward(float *dx, const float *dy, int64_t B, int64_t T, int64_t H, int64_t C) {
#pragma omp parallel for schedule(static)
    for (int64_t bt = 0; bt < B * T; bt++) {
        const int64_t b = bt / T, t = bt % T;
        for (int64_t h = 0; h < H; h++) {
            const float *g = dy + ((b * H + h) * T + t) * C;
            float *d = dx + bt * H * C + h * C;
            for (int64_t c = 0; c < C; c++) d[c] += g[c];
        }
    }
}

void cg_merge_heads_forward(float *y, const float *x, int64_t B, int64_t T, int64_t H, int64_t C) {
#pragma omp parallel for schedule(static)
    for (int64_t bt = 0; bt < B * T; bt++) {
        const int64_t b = bt / T, t = bt % T;
        for (int64_t h = 0; h < H; h++)
            memcpy(y + bt * H * C + h * C, x + ((b * H + h) * T + t) * C, (size_t)C * sizeof(float));
    }
}

void cg_merge_heads_backward(float *dx, const float *dy, int64_t B, int64_t T, int64_t H, int64_t C) {
#pragma omp parallel for schedule(static)
    for (int64_t bt = 0; bt < B * T; bt++) {
        const int64_t b = bt / T, t = bt % T;
        for (int64_t h = 0; h < H; h++) {
            const float *g = dy + bt * H * C + h * C;
            float *d = dx + ((b * H + h) * T + t) * C;
            for (int64_t c = 0; c < C; c++) d[c] += g[c];
        }
    }
}

/* ------------------------------------------------------------------ tiled attention */

/* Tile products in plain loops (a per-tile sgemm call costs more than the product at Hyper-SAGNN sizes,
 * and plain loops keep the kernels independent of BLAS threading). Every output element is a sum in a
 * fixed order (channels or tile rows ascending); four terms are added per pass through the output row,
 * one after the other, so the order is the plain sequential one while the loads and stores of the
 * output are shared by four terms. The inner loops run over contiguous memory and vectorise. */
#define CT 16 /* channels per transposed chunk in tile_abt */

/* s[bq, bk] (row stride BK) = alpha * a[bq, C] b[bk, C]^T; each dot product summed in channel order */
static void tile_abt(float *restrict s, const float *restrict a, const float *restrict b, int64_t bq, int64_t bk,
                     int64_t C, float alpha) {
    float bt[CT * BK]; /* b's chunk of channels transposed: bt[c][j] */
    for (int64_t i = 0; i < bq; i++)
        for (int64_t j = 0; j < bk; j++) s[i * BK + j] = 0.0f;
    for (int64_t c0 = 0; c0 < C; c0 += CT) {
        const int64_t cn = min64(CT, C - c0);
        for (int64_t j = 0; j < bk; j++)
            for (int64_t c = 0; c < cn; c++) bt[c * BK + j] = b[j * C + c0 + c];
        for (int64_t i = 0; i < bq; i++) {
            float *restrict si = s + i * BK;
            const float *ai = a + i * C + c0;
            int64_t c = 0;
            for (; c + 4 <= cn; c += 4) {
                const float x0 = ai[c], x1 = ai[c + 1], x2 = ai[c + 2], x3 = ai[c + 3];
                const float *b0 = bt + c * BK, *b1 = b0 + BK, *b2 = b1 + BK, *b3 = b2 + BK;
                for (int64_t j = 0; j < bk; j++) {
                    float t = si[j];
                    t += x0 * b0[j];
                    t += x1 * b1[j];
                    t += x2 * b2[j];
                    t += x3 * b3[j];
                    si[j] = t;
                }
            }
            for (; c < cn; c++) {
                const float x = ai[c];
                const float *bc = bt + c * BK;
                for (int64_t j = 0; j < bk; j++) si[j] += x * bc[j];
            }
        }
    }
    if (alpha != 1.0f)
        for (int64_t i = 0; i < bq; i++)
            for (int64_t j = 0; j < bk; j++) s[i * BK + j] *= alpha;
}

/* o[bq, C] += p[bq, bk] (row stride BK) x[bk, C]; each o element summed over j in order */
static void tile_ab_acc(float *restrict o, const float *restrict p, const float *restrict x, int64_t bq, int64_t bk,
                        int64_t C) {
    for (int64_t i = 0; i < bq; i++) {
        float *restrict oi = o + i * C;
        const float *pi = p + i * BK;
        int64_t j = 0;
        for (; j + 4 <= bk; j += 4) {
            const float w0 = pi[j], w1 = pi[j + 1], w2 = pi[j + 2], w3 = pi[j + 3];
            if (w0 == 0.0f && w1 == 0.0f && w2 == 0.0f && w3 == 0.0f) continue; /* masked: adds nothing */
            const float *x0 = x + j * C, *x1 = x0 + C, *x2 = x1 + C, *x3 = x2 + C;
            for (int64_t c = 0; c < C; c++) {
                float t = oi[c];
                t += w0 * x0[c];
                t += w1 * x1[c];
                t += w2 * x2[c];
                t += w3 * x3[c];
                oi[c] = t;
            }
        }
        for (; j < bk; j++) {
            const float w = pi[j];
            const float *xj = x + j * C;
            for (int64_t c = 0; c < C; c++) oi[c] += w * xj[c];
        }
    }
}

/* d[bk, C] += p[bq, bk]^T (row stride BK) x[bq, C]; each d element summed over i in order */
static void tile_atb_acc(float *restrict d, const float *restrict p, const float *restrict x, int64_t bq, int64_t bk,
                         int64_t C) {
    int64_t i = 0;
    for (; i + 4 <= bq; i += 4) {
        const float *x0 = x + i * C, *x1 = x0 + C, *x2 = x1 + C, *x3 = x2 + C;
        for (int64_t j = 0; j < bk; j++) {
            const float w0 = p[i * BK + j], w1 = p[(i + 1) * BK + j], w2 = p[(i + 2) * BK + j], w3 = p[(i + 3) * BK + j];
            if (w0 == 0.0f && w1 == 0.0f && w2 == 0.0f && w3 == 0.0f) continue;
            float *restrict dj = d + j * C;
            for (int64_t c = 0; c < C; c++) {
                float t = dj[c];
                t += w0 * x0[c];
                t += w1 * x1[c];
                t += w2 * x2[c];
                t += w3 * x3[c];
                dj[c] = t;
            }
        }
    }
    for (; i < bq; i++) {
        const float *xi = x + i * C;
        for (int64_t j = 0; j < bk; j++) {
            const float w = p[i * BK + j];
            float *restrict dj = d + j * C;
            for (int64_t c = 0; c < C; c++) dj[c] += w * xi[c];
        }
    }
}

/* The [Tq, Tk] mask plane of (b, h), or NULL without a mask. */
static inline const uint8_t *mask_plane(const cg_attn_mask *mask, int64_t b, int64_t h, int64_t Tq, int64_t Tk) {
    if (!mask || !mask->keep) return NULL;
    return mask->keep + plane(mask->nb, mask->nh, b, h, Tq * Tk);
}

/* true when the mask keeps some entry of rows [i0, i0 + bq) x columns [j0, j0 + bk) (always without one) */
static bool any_kept(const uint8_t *km, int64_t Tk, int64_t i0, int64_t bq, int64_t j0, int64_t bk) {
    if (!km) return true;
    for (int64_t i = 0; i < bq; i++) {
        const uint8_t *row = km + (i0 + i) * Tk + j0;
        for (int64_t j = 0; j < bk; j++)
            if (row[j]) return true;
    }
    return false;
}

/* s[bq, bk] (row stride BK) = scale * q[i0 : i0 + bq] k[j0 : j0 + bk]^T, masked entries -inf.
 * qb and kt point at rows i0 of q and j0 of k (row length C); km is the mask plane or NULL. */
static void score_tile(float *s, const float *qb, const float *kt, const uint8_t *km, int64_t Tk, int64_t i0,
                       int64_t bq, int64_t j0, int64_t bk, int64_t C, float scale) {
    tile_abt(s, qb, kt, bq, bk, C, scale);
    if (km)
        for (int64_t i = 0; i < bq; i++) {
            const uint8_t *row = km + (i0 + i) * Tk + j0;
            for (int64_t j = 0; j < bk; j++)
                if (!row[j]) s[i * BK + j] = -INFINITY;
        }
}

void cg_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                          const cg_attn_mask *mask, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t C,
                          float scale) {
    const int64_t nqb = (Tq + BQ - 1) / BQ;
#pragma omp parallel for schedule(static)
    for (int64_t it = 0; it < B * H * nqb; it++) {
        const int64_t bh = it / nqb, i0 = (it % nqb) * BQ, bq = min64(BQ, Tq - i0);
        const uint8_t *km = mask_plane(mask, bh / H, bh % H, Tq, Tk);
        const float *qb = q + (bh * Tq + i0) * C, *kh = k + bh * Tk * C, *vh = v + bh * Tk * C;
        float *ob = out + (bh * Tq + i0) * C; /* [bq, C]: the running (unnormalised) output */
        float s[BQ * BK], m[BQ], l[BQ];       /* score tile; running max and normaliser per row */
        for (int64_t i = 0; i < bq; i++) m[i] = -INFINITY, l[i] = 0.0f;
        memset(ob, 0, (size_t)(bq * C) * sizeof(float));
        for (int64_t j0 = 0; j0 < Tk; j0 += BK) {
            const int64_t bk = min64(BK, Tk - j0);
            if (!any_kept(km, Tk, i0, bq, j0, bk)) continue;
            score_tile(s, qb, kh + j0 * C, km, Tk, i0, bq, j0, bk, C, scale);
            bool any = false;
            for (int64_t i = 0; i < bq; i++) {
                float *si = s + i * BK;
                float mt = -INFINITY;
                for (int64_t j = 0; j < bk; j++)
                    if (si[j] > mt) mt = si[j];
                if (mt == -INFINITY) { /* nothing kept in this tile for row i */
                    memset(si, 0, (size_t)bk * sizeof(float));
                    continue;
                }
                const float mn = m[i] > mt ? m[i] : mt;
                const float alpha = expf(m[i] - mn); /* 0 on the row's first kept tile, 1 if the max holds */
                float sum = 0.0f;
                for (int64_t j = 0; j < bk; j++) {
                    float p = expf(si[j] - mn);
                    si[j] = p;
                    sum += p;
                }
                l[i] = l[i] * alpha + sum;
                m[i] = mn;
                if (alpha != 1.0f)
                    for (int64_t c = 0; c < C; c++) ob[i * C + c] *= alpha;
                any = true;
            }
            /* ob[bq, C] += p[bq, bk] v[j0 : j0 + bk] */
            if (any) tile_ab_acc(ob, s, vh + j0 * C, bq, bk, C);
        }
        for (int64_t i = 0; i < bq; i++) {
            float *oi = ob + i * C;
            if (m[i] == -INFINITY) { /* fully masked row */
                memset(oi, 0, (size_t)C * sizeof(float));
                if (lse) lse[bh * Tq + i0 + i] = -INFINITY;
                continue;
            }
            const float inv = 1.0f / l[i];
            for (int64_t c = 0; c < C; c++) oi[c] *= inv;
            if (lse) lse[bh * Tq + i0 + i] = m[i] + logf(l[i]);
        }
    }
}

/* p = exp(s - lse) for the tile (row stride BK), rows with lse = -inf (fully masked) zero. Returns false
 * when the whole tile is zero (masked away), so the caller can skip it. */
static bool prob_tile(float *s, const float *qb, const float *kt, const uint8_t *km, const float *lse_b,
                      int64_t Tk, int64_t i0, int64_t bq, int64_t j0, int64_t bk, int64_t C, float scale) {
    if (!any_kept(km, Tk, i0, bq, j0, bk)) return false;
    bool live = false;
    for (int64_t i = 0; i < bq; i++) live |= lse_b[i] != -INFINITY;
    if (!live) return false;
    score_tile(s, qb, kt, km, Tk, i0, bq, j0, bk, C, scale);
    for (int64_t i = 0; i < bq; i++) {
        float *si = s + i * BK;
        const float L = lse_b[i];
        if (L == -INFINITY)
            memset(si, 0, (size_t)bk * sizeof(float));
        else
            for (int64_t j = 0; j < bk; j++) si[j] = expf(si[j] - L);
    }
    return true;
}

/* D[i] = sum_c dout[i,c] out[i,c] for the bq rows of a block (in double, channel order) */
static void row_delta(float *D, const float *dob, const float *ob, int64_t bq, int64_t C) {
    for (int64_t i = 0; i < bq; i++) {
        double acc = 0.0;
        for (int64_t c = 0; c < C; c++) acc += (double)dob[i * C + c] * ob[i * C + c];
        D[i] = (float)acc;
    }
}

/* scale * ds = scale p (dp - D) in place of p, with dp = dout_blk v_tile^T computed into dp */
static void dscore_tile(float *s, float *dp, const float *dob, const float *vt, const float *D, int64_t bq,
                        int64_t bk, int64_t C, float scale) {
    tile_abt(dp, dob, vt, bq, bk, C, 1.0f);
    for (int64_t i = 0; i < bq; i++)
        for (int64_t j = 0; j < bk; j++) s[i * BK + j] *= scale * (dp[i * BK + j] - D[i]);
}

/* The backward of one (query block, key tile) pair of one (b, h): dv and dk of the tile, dq of the block
 * (each may be NULL); D holds the block's row deltas (needed for dk and dq). */
static void pair_backward(float *dqb, float *dkt, float *dvt, const float *qb, const float *kt, const float *vt,
                          const float *dob, const float *D, const float *lse_b, const uint8_t *km, int64_t Tk,
                          int64_t i0, int64_t bq, int64_t j0, int64_t bk, int64_t C, float scale) {
    float s[BQ * BK], dp[BQ * BK];
    if (!prob_tile(s, qb, kt, km, lse_b, Tk, i0, bq, j0, bk, C, scale)) return;
    if (dvt) tile_atb_acc(dvt, s, dob, bq, bk, C); /* dv += p^T dout */
    if (!dkt && !dqb) return;
    dscore_tile(s, dp, dob, vt, D, bq, bk, C, scale);
    if (dkt) tile_atb_acc(dkt, s, qb, bq, bk, C); /* dk += (scale ds)^T q */
    if (dqb) tile_ab_acc(dqb, s, kt, bq, bk, C);  /* dq += (scale ds) k */
}

void cg_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *out, const float *lse, const cg_attn_mask *mask, int64_t B,
                           int64_t H, int64_t Tq, int64_t Tk, int64_t C, float scale) {
    const int64_t nqb = (Tq + BQ - 1) / BQ, nkt = (Tk + BK - 1) / BK;
    /* Every gradient element sums the same terms in the same order (query blocks ascending for dk and
     * dv, key tiles ascending for dq) whichever loop runs, so the choice does not change a bit. */
    if (B * H >= 2 * (int64_t)omp_get_max_threads() || nqb * nkt <= 1) {
        /* one pass per (b, h): each pair's scores computed once */
#pragma omp parallel for schedule(static)
        for (int64_t bh = 0; bh < B * H; bh++) {
            const uint8_t *km = mask_plane(mask, bh / H, bh % H, Tq, Tk);
            for (int64_t i0 = 0; i0 < Tq; i0 += BQ) {
                const int64_t bq = min64(BQ, Tq - i0), row = bh * Tq + i0;
                float D[BQ];
                row_delta(D, dout + row * C, out + row * C, bq, C);
                for (int64_t j0 = 0; j0 < Tk; j0 += BK) {
                    const int64_t col = bh * Tk + j0;
                    pair_backward(dq ? dq + row * C : NULL, dk ? dk + col * C : NULL, dv ? dv + col * C : NULL,
                                  q + row * C, k + col * C, v + col * C, dout + row * C, D, lse + row, km, Tk, i0, bq,
                                  j0, min64(BK, Tk - j0), C, scale);
                }
            }
        }
        return;
    }
    /* few (b, h): pass 1 over (b, h, key tile) for dk and dv, pass 2 over (b, h, query block) for dq */
    if (dk || dv) {
#pragma omp parallel for schedule(static)
        for (int64_t it = 0; it < B * H * nkt; it++) {
            const int64_t bh = it / nkt, j0 = (it % nkt) * BK, bk = min64(BK, Tk - j0), col = bh * Tk + j0;
            const uint8_t *km = mask_plane(mask, bh / H, bh % H, Tq, Tk);
            for (int64_t i0 = 0; i0 < Tq; i0 += BQ) {
                const int64_t bq = min64(BQ, Tq - i0), row = bh * Tq + i0;
                float D[BQ];
                if (dk) row_delta(D, dout + row * C, out + row * C, bq, C);
                pair_backward(NULL, dk ? dk + col * C : NULL, dv ? dv + col * C : NULL, q + row * C, k + col * C,
                              v + col * C, dout + row * C, D, lse + row, km, Tk, i0, bq, j0, bk, C, scale);
            }
        }
    }
    if (dq) {
#pragma omp parallel for schedule(static)
        for (int64_t it = 0; it < B * H * nqb; it++) {
            const int64_t bh = it / nqb, i0 = (it % nqb) * BQ, bq = min64(BQ, Tq - i0), row = bh * Tq + i0;
            const uint8_t *km = mask_plane(mask, bh / H, bh % H, Tq, Tk);
            float D[BQ];
            row_delta(D, dout + row * C, out + row * C, bq, C);
            for (int64_t j0 = 0; j0 < Tk; j0 += BK) {
                const int64_t col = bh * Tk + j0;
                pair_backward(dq + row * C, NULL, NULL, q + row * C, k + col * C, v + col * C, dout + row * C, D,
                              lse + row, km, Tk, i0, bq, j0, min64(BK, Tk - j0), C, scale);
            }
        }
    }
}
