/* Attention pooling of groups that differ from a reference group by a few rows (cellgraph/nn.h,
 * cg_attentional_pool_update): the softmax pooling of AttentionalAggregation (PyG), updated from the
 * reference's max, normaliser and weighted sum instead of being summed again over every row. */
#include <math.h>
#include <string.h>

#include "cellgraph/nn.h"

typedef struct pool_saved {
    int64_t N, K, D, B;
    double m_ref;          /* max of g_ref */
    double *w;             /* [N] exp(g_ref - m_ref) */
    double *m;             /* [B] group max */
    double *den;           /* [B] group normaliser (relative to m[b]) */
    uint8_t *direct;       /* [B] 1: the group keeps under half of the reference weight; its backward runs
                              over the kept rows directly (its factor c_b would be large, and removing it
                              from the shared sums would cancel) */
    uint8_t *mark;         /* [N] scratch, zero between uses */
    double *corr;          /* [N, D + 1] backward scratch: per removed row, sum of c_b dz_b and c_b z_b.dz_b */
    const int64_t *removed_ptr, *add_ptr;
    const int32_t *removed_idx;
} pool_saved;

/* z_b for every group; see nn.h for the maths */
static void pool_forward(float *z, double *T, uint8_t *mark, pool_saved *sv, const float *g_ref, const float *t_ref,
                         const float *g_new, const float *t_new) {
    const int64_t N = sv->N, D = sv->D;
    double m = -INFINITY;
    for (int64_t n = 0; n < N; n++) m = fmax(m, (double)g_ref[n]);
    if (N == 0) m = 0.0;
    sv->m_ref = m;
    double S = 0.0;
    memset(T, 0, (size_t)D * sizeof *T);
    for (int64_t n = 0; n < N; n++) {
        double w = exp((double)g_ref[n] - m);
        sv->w[n] = w;
        S += w;
        for (int64_t c = 0; c < D; c++) T[c] += w * t_ref[n * D + c];
    }
    double *num = T + D;
    for (int64_t b = 0; b < sv->B; b++) {
        int64_t a0 = sv->add_ptr[b], a1 = sv->add_ptr[b + 1];
        int64_t r0 = sv->removed_ptr[b], r1 = sv->removed_ptr[b + 1];
        double mb = m;
        for (int64_t k = a0; k < a1; k++) mb = fmax(mb, (double)g_new[k]);
        double scale = exp(m - mb), den = scale * S, removed = 0.0;
        for (int64_t c = 0; c < D; c++) num[c] = scale * T[c];
        for (int64_t j = r0; j < r1; j++) {
            int64_t n = sv->removed_idx[j];
            double e = exp((double)g_ref[n] - mb);
            removed += e;
            for (int64_t c = 0; c < D; c++) num[c] -= e * t_ref[n * D + c];
        }
        den -= removed;
        sv->direct[b] = den < 0.5 * scale * S;
        if (den < 1e-6 * scale * S) {
            /* the removed rows carry nearly all of the weight: sum the kept rows directly */
            for (int64_t j = r0; j < r1; j++) mark[sv->removed_idx[j]] = 1;
            den = 0.0;
            memset(num, 0, (size_t)D * sizeof *num);
            for (int64_t n = 0; n < N; n++) {
                if (mark[n]) continue;
                double e = exp((double)g_ref[n] - mb);
                den += e;
                for (int64_t c = 0; c < D; c++) num[c] += e * t_ref[n * D + c];
            }
            for (int64_t j = r0; j < r1; j++) mark[sv->removed_idx[j]] = 0;
        }
        for (int64_t k = a0; k < a1; k++) {
            double e = exp((double)g_new[k] - mb);
            den += e;
            for (int64_t c = 0; c < D; c++) num[c] += e * t_new[k * D + c];
        }
        sv->m[b] = mb;
        sv->den[b] = den;
        for (int64_t c = 0; c < D; c++) z[b * D + c] = den > 0.0 ? (float)(num[c] / den) : 0.0f;
    }
}

static void pool_bw(const cg_tape_entry *e) {
    const pool_saved *sv = e->aux[0];
    const int64_t N = sv->N, D = sv->D, B = sv->B, W = D + 1;
    const float *g_ref = cg_f32(e->in[0]), *t_ref = cg_f32(e->in[1]);
    const float *g_new = cg_f32(e->in[2]), *t_new = cg_f32(e->in[3]);
    float *dg_ref = e->in[0]->requires_grad ? e->in[0]->grad : NULL;
    float *dt_ref = e->in[1]->requires_grad ? e->in[1]->grad : NULL;
    float *dg_new = e->in[2]->requires_grad ? e->in[2]->grad : NULL;
    float *dt_new = e->in[3]->requires_grad ? e->in[3]->grad : NULL;
    const float *z = cg_f32(e->out), *dz = e->out->grad;
    double *corr = sv->corr, *u = corr + N * W; /* u [D + 1]: sum over groups of c_b dz_b, c_b z_b.dz_b */
    memset(corr, 0, (size_t)(N + 1) * (size_t)W * sizeof *corr);
    for (int64_t b = 0; b < B; b++) {
        if (!(sv->den[b] > 0.0)) continue;
        const float *dzb = dz + b * D, *zb = z + b * D;
        double zdz = 0.0;
        for (int64_t c = 0; c < D; c++) zdz += (double)zb[c] * dzb[c];
        if (sv->direct[b]) {
            /* the kept reference rows one by one */
            for (int64_t j = sv->removed_ptr[b]; j < sv->removed_ptr[b + 1]; j++) sv->mark[sv->removed_idx[j]] = 1;
            for (int64_t n = 0; n < N && (dg_ref || dt_ref); n++) {
                if (sv->mark[n]) continue;
                double a = exp((double)g_ref[n] - sv->m[b]) / sv->den[b], tdz = 0.0;
                for (int64_t c = 0; c < D; c++) tdz += (double)t_ref[n * D + c] * dzb[c];
                if (dt_ref)
                    for (int64_t c = 0; c < D; c++) dt_ref[n * D + c] += (float)(a * dzb[c]);
                if (dg_ref) dg_ref[n] += (float)(a * (tdz - zdz));
            }
            for (int64_t j = sv->removed_ptr[b]; j < sv->removed_ptr[b + 1]; j++) sv->mark[sv->removed_idx[j]] = 0;
        } else {
            /* reference rows kept by group b have softmax weight w_n * cb (cb <= 2 / S) */
            double cb = exp(sv->m_ref - sv->m[b]) / sv->den[b];
            for (int64_t c = 0; c < D; c++) u[c] += cb * dzb[c];
            u[D] += cb * zdz;
            for (int64_t j = sv->removed_ptr[b]; j < sv->removed_ptr[b + 1]; j++) {
                double *cr = corr + (int64_t)sv->removed_idx[j] * W;
                for (int64_t c = 0; c < D; c++) cr[c] += cb * dzb[c];
                cr[D] += cb * zdz;
            }
        }
        for (int64_t k = sv->add_ptr[b]; k < sv->add_ptr[b + 1]; k++) {
            double a = exp((double)g_new[k] - sv->m[b]) / sv->den[b], tdz = 0.0;
            for (int64_t c = 0; c < D; c++) tdz += (double)t_new[k * D + c] * dzb[c];
            if (dt_new)
                for (int64_t c = 0; c < D; c++) dt_new[k * D + c] += (float)(a * dzb[c]);
            if (dg_new) dg_new[k] += (float)(a * (tdz - zdz));
        }
    }
    if (!dg_ref && !dt_ref) return;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const double *cr = corr + n * W;
        double w = sv->w[n], tdu = 0.0;
        for (int64_t c = 0; c < D; c++) {
            double du = u[c] - cr[c];
            tdu += (double)t_ref[n * D + c] * du;
            if (dt_ref) dt_ref[n * D + c] += (float)(w * du);
        }
        if (dg_ref) dg_ref[n] += (float)(w * (tdu - (u[D] - cr[D])));
    }
}

cg_tensor *cg_attentional_pool_update(cg_ctx *ctx, cg_tensor *g_ref, cg_tensor *t_ref, cg_tensor *g_new,
                                      cg_tensor *t_new, int64_t B, const int64_t *removed_ptr,
                                      const int32_t *removed_idx, const int64_t *add_ptr) {
    if (!g_ref || !t_ref || !g_new || !t_new) return NULL;
    cg_tensor *ts[4] = {g_ref, t_ref, g_new, t_new};
    for (int i = 0; i < 4; i++)
        if (ts[i]->dtype != CG_F32) return cg_ctx_fail(ctx, CG_ERR_SHAPE, "attentional_pool_update: inputs must be float32");
    const int64_t N = cg_rows(t_ref), D = cg_cols(t_ref), K = cg_rows(t_new);
    if (g_ref->numel != N || g_new->numel != K || cg_cols(t_new) != D || B < 0 || !removed_ptr || !add_ptr)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE,
                           "attentional_pool_update: gates %lld/%lld rows for transforms %lldx%lld/%lldx%lld, B %lld",
                           (long long)g_ref->numel, (long long)g_new->numel, (long long)N, (long long)D,
                           (long long)K, (long long)cg_cols(t_new), (long long)B);
    if (add_ptr[0] != 0 || add_ptr[B] != K || removed_ptr[0] != 0)
        return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "attentional_pool_update: group pointers do not cover the %lld new rows",
                           (long long)K);
    for (int64_t b = 0; b < B; b++) {
        if (add_ptr[b + 1] < add_ptr[b] || removed_ptr[b + 1] < removed_ptr[b])
            return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "attentional_pool_update: group %lld pointers decrease", (long long)b);
        for (int64_t j = removed_ptr[b]; j < removed_ptr[b + 1]; j++)
            if (removed_idx[j] < 0 || removed_idx[j] >= N)
                return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "attentional_pool_update: removed row %d of group %lld is "
                                   "outside [0, %lld)", removed_idx[j], (long long)b, (long long)N);
    }
    pool_saved *sv = cg_arena_alloc(&ctx->arena, sizeof *sv);
    cg_tensor *out = cg_tensor_new2(ctx, B, D);
    if (!sv || !out) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "attentional_pool_update: out of memory");
    *sv = (pool_saved){.N = N, .K = K, .D = D, .B = B, .removed_ptr = removed_ptr, .add_ptr = add_ptr,
                       .removed_idx = removed_idx};
    sv->w = cg_arena_alloc(&ctx->arena, (size_t)(N + 1) * sizeof(double));
    sv->m = cg_arena_alloc(&ctx->arena, (size_t)(B + 1) * sizeof(double));
    sv->den = cg_arena_alloc(&ctx->arena, (size_t)(B + 1) * sizeof(double));
    sv->direct = cg_arena_alloc(&ctx->arena, (size_t)B + 1);
    double *T = cg_arena_alloc(&ctx->arena, (size_t)(2 * D + 1) * sizeof(double));
    uint8_t *mark = cg_arena_alloc(&ctx->arena, (size_t)N + 1);
    sv->mark = mark;
    if (!sv->w || !sv->m || !sv->den || !sv->direct || !T || !mark)
        return cg_ctx_fail(ctx, CG_ERR_NOMEM, "attentional_pool_update: out of memory");
    memset(mark, 0, (size_t)N + 1);
    pool_forward(cg_f32(out), T, mark, sv, cg_f32(g_ref), cg_f32(t_ref), cg_f32(g_new), cg_f32(t_new));
    cg_tape_entry *e = cg_tape_record(ctx, pool_bw, out, ts, 4);
    if (e) {
        sv->corr = cg_arena_alloc(&ctx->arena, (size_t)(N + 1) * (size_t)(D + 1) * sizeof(double));
        if (!sv->corr) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "attentional_pool_update: out of memory");
        e->aux[0] = sv;
    }
    return out;
}
