/* DANGO's reconstruction of the networks (cellgraph/dango.h): the weighted sparse MSE op, the
 * reconstruction loss, the auxiliary training loss, and pre-training. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/autograd.h"
#include "cellgraph/dango.h"
#include "cellgraph/ops.h"
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

/* ------------------------------------------------------------------ the fused op: R_g's last Linear + sparse MSE */

/* P = S W^T + b is never formed. Per row i (gene x_i), with G = W^T W [D, D], u = W^T b [D]:
 *   sum_c P_ic^2 = s_i . (G s_i) + 2 u . s_i + |b|^2                       (all columns, O(D^2))
 *   P_ic = W[c] . s_i + b[c]                                               (on the row's edges only)
 * and the negative term is the first minus the second summed over the edges, as in sparse_mse_forward.
 * Backward, with kneg_i, kpos_i the factors of sparse_mse_backward and q_ie = kpos_i (P_ic - A_ic) -
 * kneg_i P_ic on the edges (dP = diag(kneg) P + Q, Q sparse):
 *   dS  += diag(kneg) (S G + 1 u^T) + Q W
 *   dW  += W (S^T diag(kneg) S) + b (S^T kneg)^T + Q^T S
 *   db  += W (S^T kneg) + (sum kneg) b + colsum Q
 * Cost O(r D^2 + n_g D^2 + nnz D) instead of O(r n_g D). */

typedef struct recon_saved {
    const cg_dango *m;
    int g;
    int64_t r;
    const float *SG;     /* [r, D] S G */
    const float *u;      /* [D] W^T b */
    const int64_t *qptr; /* [r + 1] positive edges of row i: qptr[i] .. qptr[i+1] */
    const int32_t *qc;   /* [nq] their columns */
    const float *qa;     /* [nq] their targets A */
    const float *qp;     /* [nq] their predictions P */
    /* backward scratch, allocated with the forward (no allocation in the step) */
    double *kneg, *v;    /* [r], [D] */
    float *q, *KS, *M;   /* [nq], [r, D], [D, D] */
    int64_t *cptr, *cidx; /* [C + 1], [nq]: the positive edges grouped by column, in row order */
    int64_t *qrow;       /* [nq] */
} recon_saved;

static inline double dot_f(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) s += (double)a[k] * b[k];
    return s;
}

static void recon_mse_bw(const cg_tape_entry *e) {
    const recon_saved *sv = e->aux[0];
    const cg_dango *m = sv->m;
    const int g = sv->g;
    const int64_t r = sv->r, D = m->cfg.hidden_channels, C = m->recon_cols[g];
    const float *S = cg_f32(e->in[0]), *W = cg_f32(e->in[1]), *b = cg_f32(e->in[2]);
    float *dS = e->in[0]->grad, *dW = e->in[1]->grad, *db = e->in[2]->grad;
    const double dL = e->out->grad[0], lambda = m->cfg.recon_weights[g];
    double *kneg = sv->kneg, *v = sv->v, ksum = 0.0;
    float *q = sv->q;
    for (int64_t i = 0; i < r; i++) {
        const int64_t npos = sv->qptr[i + 1] - sv->qptr[i];
        kneg[i] = dL / (double)r * 2.0 * lambda / ((double)(C - npos) + EPS_COUNT);
        const double kpos = dL / (double)r * 2.0 / ((double)npos + EPS_COUNT);
        for (int64_t k = sv->qptr[i]; k < sv->qptr[i + 1]; k++)
            q[k] = (float)(kpos * ((double)sv->qp[k] - sv->qa[k]) - kneg[i] * sv->qp[k]);
        ksum += kneg[i];
    }
    if (dS) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < r; i++) {
            float *ds = dS + i * D;
            const float *sg = sv->SG + i * D;
            for (int64_t d = 0; d < D; d++) ds[d] += (float)(kneg[i] * ((double)sg[d] + sv->u[d]));
            for (int64_t k = sv->qptr[i]; k < sv->qptr[i + 1]; k++) {
                const float *w = W + (int64_t)sv->qc[k] * D;
                for (int64_t d = 0; d < D; d++) ds[d] += q[k] * w[d];
            }
        }
    }
    if (!dW && !db) return;
    /* KS = diag(kneg) S, v = S^T kneg (double, rows in order), M = S^T diag(kneg) S */
    for (int64_t d = 0; d < D; d++) v[d] = 0.0;
    for (int64_t i = 0; i < r; i++)
        for (int64_t d = 0; d < D; d++) {
            sv->KS[i * D + d] = (float)(kneg[i] * S[i * D + d]);
            v[d] += kneg[i] * S[i * D + d];
        }
    if (dW) {
        cg_gemm(true, false, D, D, r, 1.0f, sv->KS, D, S, D, 0.0f, sv->M, D);
        /* dW [C, D] += W M */
        cg_gemm(false, false, C, D, D, 1.0f, W, D, sv->M, D, 1.0f, dW, D);
    }
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        if (dW) { /* + b v^T + Q^T S */
            float *dw = dW + c * D;
            for (int64_t d = 0; d < D; d++) dw[d] += (float)(b[c] * v[d]);
            for (int64_t t = sv->cptr[c]; t < sv->cptr[c + 1]; t++) {
                const int64_t k = sv->cidx[t];
                const float *s = S + sv->qrow[k] * D;
                for (int64_t d = 0; d < D; d++) dw[d] += q[k] * s[d];
            }
        }
        if (db) { /* W v + (sum kneg) b + colsum Q */
            double acc = ksum * b[c];
            for (int64_t d = 0; d < D; d++) acc += (double)W[c * D + d] * v[d];
            for (int64_t t = sv->cptr[c]; t < sv->cptr[c + 1]; t++) acc += q[sv->cidx[t]];
            db[c] += (float)acc;
        }
    }
}

cg_tensor *cg_dango_recon_mse(cg_ctx *ctx, const cg_dango *m, int g, cg_tensor *S, const int32_t *x, int64_t r) {
    if (!S) return NULL;
    if (g < 0 || g >= m->G) return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango recon mse: network %d of %d", g, m->G);
    const int64_t D = m->cfg.hidden_channels, C = m->recon_cols[g];
    if (S->dtype != CG_F32 || cg_cols(S) != D || cg_rows(S) != r || r < 1 || C < 1)
        return cg_ctx_fail(ctx, CG_ERR_SHAPE, "dango recon mse: S must be [%lld, %lld] and network %d non-empty",
                           (long long)r, (long long)D, g);
    for (int64_t i = 0; i < r; i++)
        if (x[i] < 0 || x[i] >= m->n_genes)
            return cg_ctx_fail(ctx, CG_ERR_INVALID_ARG, "dango recon mse: gene index %d outside [0, %lld)", x[i],
                               (long long)m->n_genes);
    const cg_dango_network *nw = &m->net[g];
    cg_arena *A = &ctx->arena;
    recon_saved *sv = cg_arena_alloc(A, sizeof *sv);
    int64_t *qptr = cg_arena_alloc(A, (size_t)(r + 1) * sizeof *qptr);
    if (!sv || !qptr) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango recon mse: out of memory");
    qptr[0] = 0;
    for (int64_t i = 0; i < r; i++) {
        int64_t npos = 0;
        for (int64_t e = nw->rowptr[x[i]]; e < nw->rowptr[x[i] + 1]; e++) npos += target_value(m, g, e) != 0.0f;
        qptr[i + 1] = qptr[i] + npos;
    }
    const int64_t nq = qptr[r], nq1 = nq ? nq : 1;
    cg_tensor *Wt = m->recon2[g].weight, *bt = m->recon2[g].bias;
    const float *Sf = cg_f32(S), *W = cg_f32(Wt), *b = cg_f32(bt);
    int64_t one = 1;
    cg_tensor *out = cg_tensor_new(ctx, CG_F32, 1, &one);
    float *Gm = cg_arena_alloc(A, (size_t)(D * D) * sizeof(float));
    float *SG = cg_arena_alloc(A, (size_t)(r * D) * sizeof(float)), *u = cg_arena_alloc(A, (size_t)D * sizeof(float));
    double *row = cg_arena_alloc(A, (size_t)r * sizeof(double));
    int32_t *qc = cg_arena_alloc(A, (size_t)nq1 * sizeof(int32_t));
    float *qa = cg_arena_alloc(A, (size_t)nq1 * sizeof(float)), *qp = cg_arena_alloc(A, (size_t)nq1 * sizeof(float));
    *sv = (recon_saved){.m = m, .g = g, .r = r, .SG = SG, .u = u, .qptr = qptr, .qc = qc, .qa = qa, .qp = qp};
    if (ctx->grad_enabled) { /* backward scratch */
        sv->kneg = cg_arena_alloc(A, (size_t)r * sizeof(double));
        sv->v = cg_arena_alloc(A, (size_t)D * sizeof(double));
        sv->q = cg_arena_alloc(A, (size_t)nq1 * sizeof(float));
        sv->KS = cg_arena_alloc(A, (size_t)(r * D) * sizeof(float));
        sv->M = cg_arena_alloc(A, (size_t)(D * D) * sizeof(float));
        sv->cptr = cg_arena_alloc(A, (size_t)(C + 1) * sizeof(int64_t));
        sv->cidx = cg_arena_alloc(A, (size_t)nq1 * sizeof(int64_t));
        sv->qrow = cg_arena_alloc(A, (size_t)nq1 * sizeof(int64_t));
        if (!sv->kneg || !sv->v || !sv->q || !sv->KS || !sv->M || !sv->cptr || !sv->cidx || !sv->qrow)
            return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango recon mse: out of memory");
    }
    if (!out || !Gm || !SG || !u || !row || !qc || !qa || !qp)
        return cg_ctx_fail(ctx, CG_ERR_NOMEM, "dango recon mse: out of memory");
    /* G = W^T W, u = W^T b, SG = S G */
    cg_gemm(true, false, D, D, C, 1.0f, W, D, W, D, 0.0f, Gm, D);
    cg_gemm(true, false, D, 1, C, 1.0f, W, D, b, 1, 0.0f, u, 1);
    cg_gemm(false, false, r, D, D, 1.0f, Sf, D, Gm, D, 0.0f, SG, D);
    const double bb = dot_f(b, b, C), lambda = m->cfg.recon_weights[g];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < r; i++) {
        const float *s = Sf + i * D;
        const double all = dot_f(s, SG + i * D, D) + 2.0 * dot_f(u, s, D) + bb; /* sum_c P_ic^2 */
        double pos = 0.0, pos_p2 = 0.0;
        int64_t k = qptr[i];
        for (int64_t e = nw->rowptr[x[i]]; e < nw->rowptr[x[i] + 1]; e++) {
            const float a = target_value(m, g, e);
            if (a == 0.0f) continue;
            const int32_t c = m->recon_col[g][nw->src[e]];
            const double pc = dot_f(W + (int64_t)c * D, s, D) + b[c];
            pos += ((double)a - pc) * ((double)a - pc);
            pos_p2 += pc * pc;
            qc[k] = c;
            qa[k] = a;
            qp[k++] = (float)pc;
        }
        const int64_t npos = qptr[i + 1] - qptr[i];
        const double neg = all - pos_p2, nneg = (double)(C - npos);
        row[i] = pos / ((double)npos + EPS_COUNT) + lambda * (neg > 0 ? neg : 0.0) / (nneg + EPS_COUNT);
    }
    double total = 0.0;
    for (int64_t i = 0; i < r; i++) total += row[i];
    cg_f32(out)[0] = (float)(total / (double)r);
    if (ctx->grad_enabled) { /* the positive edges grouped by column (counting sort, rows in order) */
        memset(sv->cptr, 0, (size_t)(C + 1) * sizeof(int64_t));
        for (int64_t k = 0; k < nq; k++) sv->cptr[qc[k] + 1]++;
        for (int64_t c = 0; c < C; c++) sv->cptr[c + 1] += sv->cptr[c];
        for (int64_t i = 0; i < r; i++)
            for (int64_t k = qptr[i]; k < qptr[i + 1]; k++) sv->qrow[k] = i;
        /* cptr[c] serves as column c's cursor (ending at the next column's start), then shifts back */
        for (int64_t k = 0; k < nq; k++) sv->cidx[sv->cptr[qc[k]]++] = k;
        for (int64_t c = C; c > 0; c--) sv->cptr[c] = sv->cptr[c - 1];
        sv->cptr[0] = 0;
    }
    cg_tensor *in[3] = {S, Wt, bt};
    cg_tape_entry *e = cg_tape_record(ctx, recon_mse_bw, out, in, 3);
    if (e) e->aux[0] = sv;
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
        cg_tensor *S = cg_silu(ctx, cg_linear_layer_forward(ctx, &m->recon1[g], hx));                   /* [r, D] */
        cg_tensor *L = cg_dango_recon_mse(ctx, m, g, S, x, r); /* [1]; P = recon2(S) [r, n_g] never formed */
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
                            double *first_loss, double *last_loss, cg_epoch_progress_fn progress, void *arg) {
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
        if (s != CG_OK) break;
        if (ep == 0 && first_loss) *first_loss = sum / (double)steps;
        if (last_loss) *last_loss = sum / (double)steps;
        if (progress) progress(ep + 1, epochs, sum / (double)steps, arg);
    }
    ctx->training = training;
    ctx->grad_enabled = grad;
    cg_optim_free(&opt);
    free(perm);
    free(x);
    return s;
}
