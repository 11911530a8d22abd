/* DANGO's reconstruction of the networks (cellgraph/dango.h): the weighted sparse MSE op, the
 * reconstruction loss, the auxiliary training loss, and pre-training. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "cellgraph/dango.h"
#include "cellgraph/optim.h"
#include "cellgraph/rng.h"

#define EPS_COUNT 1e-15

/* ------------------------------------------------------------------ the sparse MSE op */

/* target row of gene x in network g: (column, value) per edge, value = w / wmax */
static inline float target_value(const cg_dango *m, int g, int64_t e) {
    const float *w = m->net[g].weight;
    return (w ? w[e] : 1.0f) / m->recon_wmax[g];
}

/* L = (1/r) sum_i [ pos_i / (npos_i + 1e-15) + lambda neg_i / (nneg_i + 1e-15) ] (cellgraph/dango.h);
 * per row in double, rows summed in order */
static double sparse_mse_forward(const cg_dango *m, int g, const float *P, const int32_t *x, int64_t r) {
    const int64_t C = m->recon_cols[g];
    const double lambda = m->cfg.recon_weights[g];
    const cg_dango_network *nw = &m->net[g];
    double total = 0.0;
    for (int64_t i = 0; i < r; i++) {
        const float *p = P + i * C;
        double all = 0.0, pos = 0.0, pos_p2 = 0.0;
        int64_t npos = 0;
        for (int64_t c = 0; c < C; c++) all += (double)p[c] * p[c];
        for (int64_t e = nw->rowptr[x[i]]; e < nw->rowptr[x[i] + 1]; e++) {
            double a = target_value(m, g, e);
            if (a == 0.0) continue;
            double pc = p[m->recon_col[g][nw->src[e]]];
            pos += (a - pc) * (a - pc);
            pos_p2 += pc * pc;
            npos++;
        }
        double neg = all - pos_p2, nneg = (double)(C - npos);
        total += pos / ((double)npos + EPS_COUNT) + lambda * (neg > 0 ? neg : 0.0) / (nneg + EPS_COUNT);
    }
    return total / (double)r;
}

/* dP[i, c] += dL / r * (2 (P - A) / (npos + 1e-15) on the row's edges, 2 lambda P / (nneg + 1e-15) elsewhere) */
static void sparse_mse_backward(const cg_dango *m, int g, float *dP, float dL, const float *P, const int32_t *x, int64_t r) {
    const int64_t C = m->recon_cols[g];
    const double lambda = m->cfg.recon_weights[g];
    const cg_dango_network *nw = &m->net[g];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < r; i++) {
        const float *p = P + i * C;
        float *dp = dP + i * C;
        int64_t npos = 0;
        for (int64_t e = nw->rowptr[x[i]]; e < nw->rowptr[x[i] + 1]; e++) npos += target_value(m, g, e) != 0.0f;
        const double kneg = (double)dL / (double)r * 2.0 * lambda / ((double)(C - npos) + EPS_COUNT);
        const double kpos = (double)dL / (double)r * 2.0 / ((double)npos + EPS_COUNT);
        for (int64_t c = 0; c < C; c++) dp[c] += (float)(kneg * p[c]);
        for (int64_t e = nw->rowptr[x[i]]; e < nw->rowptr[x[i] + 1]; e++) {
            double a = target_value(m, g, e);
            if (a == 0.0) continue;
            int64_t c = m->recon_col[g][nw->src[e]];
            dp[c] += (float)(kpos * (p[c] - a) - kneg * p[c]); /* undo the negative term on a positive */
        }
    }
}

static void sparse_mse_bw(const cg_tape_entry *e) {
    if (!e->in[0]->grad) return;
    sparse_mse_backward(e->aux[0], (int)e->i[0], e->in[0]->grad, e->out->grad[0], cg_f32(e->in[0]), e->aux[1], e->i[1]);
}

cg_tensor *cg_dango_sparse_mse(cg_ctx *ctx, const cg_dango *m, int g, cg_tensor *P, const int32_t *x, int64_t r) {
    if (!P) return NULL;
    if (g < 0 || g >= m->G) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango sparse mse: network %d of %d", g, m->G);
    if (P->dtype != CG_F32 || cg_cols(P) != m->recon_cols[g] || cg_rows(P) != r || r < 1)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "dango sparse mse: P must be [%lld, %lld] (network %d)", (long long)r,
                           (long long)m->recon_cols[g], g);
    for (int64_t i = 0; i < r; i++)
        if (x[i] < 0 || x[i] >= m->n_genes)
            return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango sparse mse: gene index %d outside [0, %lld)", x[i],
                               (long long)m->n_genes);
    int64_t one = 1;
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, 1, &one);
    int32_t *xc = cg_arena_alloc(&ctx->arena, (size_t)r * sizeof *xc);
    if (!out || !xc) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango sparse mse: out of memory");
    memcpy(xc, x, (size_t)r * sizeof *xc);
    cg_f32(out)[0] = (float)sparse_mse_forward(m, g, cg_f32(P), xc, r);
    cg_tensor *in[1] = {P};
    cg_tape_entry *e = cg_tape_record(ctx, sparse_mse_bw, out, in, 1);
    if (e) {
        e->aux[0] = (void *)m;
        e->aux[1] = xc;
        e->i[0] = g;
        e->i[1] = r;
    }
    return out;
}

/* ------------------------------------------------------------------ losses */

cg_tensor *cg_dango_recon_loss(cg_ctx *ctx, const cg_dango *m, const int32_t *x, int64_t r) {
    if (cg_ctx_status(ctx) != CG_OK) return NULL;
    if (r < 1) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango: a reconstruction batch of %lld genes", (long long)r);
    for (int64_t i = 0; i < r; i++)
        if (x[i] < 0 || x[i] >= m->n_genes)
            return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango: gene index %d outside [0, %lld)", x[i], (long long)m->n_genes);
    /* distinct genes for the encoders, then each sample's row */
    int32_t *pos = cg_arena_alloc(&ctx->arena, (size_t)m->n_genes * sizeof *pos);
    int32_t *uniq = cg_arena_alloc(&ctx->arena, (size_t)r * sizeof *uniq);
    cg_tensor *rows = cg_tensor_new(ctx, CG_I32, 1, &r);
    if (!pos || !uniq || !rows) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
    for (int64_t i = 0; i < m->n_genes; i++) pos[i] = -1;
    int64_t u = 0;
    for (int64_t i = 0; i < r; i++) {
        if (pos[x[i]] < 0) {
            pos[x[i]] = (int32_t)u;
            uniq[u++] = x[i];
        }
        cg_i32(rows)[i] = pos[x[i]];
    }
    cg_tensor *h[CG_DANGO_MAX_NETWORKS] = {0};
    if (cg_dango_encode(ctx, m, uniq, u, h, NULL) != CG_OK) return NULL;
    cg_tensor *total = NULL;
    for (int g = 0; g < m->G; g++) {
        if (m->recon_cols[g] == 0) continue; /* an empty network has nothing to reconstruct */
        cg_tensor *hx = cg_gather_rows(ctx, h[g], rows);                                                /* [r, D] */
        cg_tensor *P = cg_linear_layer_forward(ctx, &m->recon2[g], cg_silu(ctx, cg_linear_layer_forward(ctx, &m->recon1[g], hx))); /* [r, n_g] */
        cg_tensor *L = cg_dango_sparse_mse(ctx, m, g, P, x, r);                                          /* [1] */
        total = total ? cg_add(ctx, total, L) : L;
    }
    if (!total) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango: every network is empty");
    return total;
}

cg_tensor *cg_dango_aux_loss(cg_ctx *ctx, const cg_dango *m) {
    if (m->cfg.recon_beta <= 0 || !ctx->training || !ctx->grad_enabled || cg_ctx_status(ctx) != CG_OK) return NULL;
    const int64_t r = m->cfg.recon_genes;
    int32_t *x = cg_arena_alloc(&ctx->arena, (size_t)r * sizeof *x);
    if (!x) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango: out of memory");
    const uint64_t stream = 0x5245434f4e000000ull ^ ctx->step; /* "RECON" ^ step */
    for (int64_t i = 0; i < r; i++) x[i] = (int32_t)(cg_rng_u32(m->cfg.seed, stream, (uint64_t)i) % (uint64_t)m->n_genes);
    return cg_scale(ctx, cg_dango_recon_loss(ctx, m, x, r), (float)m->cfg.recon_beta);
}

/* ------------------------------------------------------------------ pre-training */

cg_status cg_dango_pretrain(cg_ctx *ctx, cg_dango *m, int epochs, int batch_size, double lr, uint64_t seed,
                            double *first_loss, double *last_loss) {
    if (epochs < 0 || batch_size < 1)
        return cg_error(CG_ERR_INVALID_ARG, "dango pretrain: epochs %d, batch size %d", epochs, batch_size);
    const int64_t N = m->n_genes, steps = N / batch_size;
    if (steps < 1) return cg_error(CG_ERR_INVALID_ARG, "dango pretrain: batch size %d > %lld genes", batch_size, (long long)N);
    int64_t *perm = malloc((size_t)N * sizeof *perm);
    int32_t *x = malloc((size_t)batch_size * sizeof *x);
    cg_optim opt;
    memset(&opt, 0, sizeof opt);
    cg_optim_config oc = cg_optim_defaults(CG_OPTIM_ADAM);
    oc.lr = lr;
    cg_status s = perm && x ? cg_optim_create(&opt, &m->params, &oc) : cg_error(CG_ERR_NOMEM, "dango pretrain: out of memory");
    const bool training = ctx->training, grad = ctx->grad_enabled;
    for (int ep = 0; ep < epochs && s == CG_OK; ep++) {
        for (int64_t i = 0; i < N; i++) perm[i] = i;
        cg_rng_shuffle_i64(perm, N, seed, 0x505245ull + (uint64_t)ep); /* "PRE" + epoch */
        double sum = 0.0;
        for (int64_t st = 0; st < steps && s == CG_OK; st++) {
            if ((s = cg_ctx_reset(ctx)) != CG_OK) break;
            ctx->training = true;
            ctx->grad_enabled = true;
            cg_params_zero_grad(&m->params);
            for (int b = 0; b < batch_size; b++) x[b] = (int32_t)perm[st * batch_size + b];
            cg_tensor *L = cg_dango_recon_loss(ctx, m, x, batch_size);
            if (!L) {
                s = ctx->status;
                break;
            }
            if ((s = cg_backward(ctx, L)) != CG_OK || (s = cg_optim_step(&opt, &m->params)) != CG_OK) break;
            sum += cg_f32(L)[0];
        }
        if (ep == 0 && first_loss) *first_loss = sum / (double)steps;
        if (last_loss) *last_loss = sum / (double)steps;
    }
    ctx->training = training;
    ctx->grad_enabled = grad;
    cg_optim_free(&opt);
    free(perm);
    free(x);
    return s;
}
