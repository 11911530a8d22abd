/* cellgraph/losses.h: the training losses, as forward/backward kernel pairs on raw pointers and as
 * recorded (tape) ops.
 *
 * Conventions shared by every loss here:
 *   pred, target  [B, K] float32, row-major: B samples (rows), K labels (columns). A NaN target is a
 *                 missing label: that (row, label) entry takes no part in any term of any loss, and its
 *                 prediction receives exactly zero gradient from it. Predictions are assumed finite.
 *   weights       [K] non-negative label weights, or NULL for all 1. They are used AS GIVEN (not
 *                 renormalised; torchcell's WeightedMSELoss divides by the sum of the weights of the
 *                 labels present in the batch; pass w / sum(w) for a weighted average instead of a sum).
 *   result        a scalar [1] tensor. Sums are taken in double with a fixed order or a fixed partition
 *                 (blocks of CG_LOSS_BLOCK rows reduced in parallel, block sums added in order), so the
 *                 loss and every gradient are bitwise independent of the thread count.
 *   backward      kernels ACCUMULATE (+=) into their gradient outputs; a NULL gradient pointer is
 *                 skipped. Kernels never allocate and never fail; the recorded ops validate first.
 *
 * The losses (L is the value returned; n_k = number of rows whose target of label k is not NaN):
 *
 *   MSE       L = sum_k w_k * (1/n_k) * sum_{i: t_ik not NaN} (p_ik - t_ik)^2
 *             (a label with n_k = 0 contributes 0). With K = 1 and w = NULL this is the mean squared
 *             error over the valid rows.
 *   LogCosh   L = sum_k w_k * (1/n_k) * sum_{i valid} logcosh(p_ik - t_ik),
 *             logcosh(x) = |x| + log1p(exp(-2|x|)) - log 2 (exact, no overflow), d/dx = tanh(x).
 *   DistLoss  Nie, Tang, Hong 2024, "Dist Loss: enhancing regression in few-shot region through
 *             distribution distance constraint" (arXiv 2411.15216), one label column at a time: the m
 *             valid predictions of the batch, sorted ascending, are matched
 *             one to one with m pseudo-labels q_0 <= ... <= q_{m-1} drawn from the TRAINING label
 *             distribution: q_r = F^{-1}((r + 0.5) / m), F = CDF of a Gaussian kernel density estimate
 *             of the training labels (cg_dist_table). L = (1/m) sum_r (p_(r) - q_r)^2, where p_(r) is the
 *             r-th smallest valid prediction (ties broken by row index). The gradient is the true
 *             derivative, 2 (p_(r) - q_r) / m, sent back through the sort permutation to the row the
 *             prediction came from: a prediction above its pseudo-label is pushed down. Differences from
 *             the paper, both deliberate: the pseudo-labels are the continuous KDE quantiles at the
 *             midpoints (r + 0.5)/m (the paper rounds expected counts of labels on a grid), and the sort is
 *             the hard sort (the paper's fast soft sort has the same value and, almost everywhere, the same
 *             gradient as its regularisation goes to 0). torchcell's port sorts descending, inverts the
 *             gradient sign and uses a step-1 KDE grid: all three are fixed here.
 *   SupCR     Rank-N-Contrast, Zha, Cao et al., NeurIPS 2023 ("Rank-N-Contrast: learning continuous
 *             representations for regression"), on the N rows of one label column whose label is not
 *             NaN: with s_ij = -||z_i - z_j||_2 (negative Euclidean distance, RnC's default) and
 *             d_ij = |y_i - y_j|,
 *               L = -1/(N(N-1)) sum_i sum_{j != i} log( exp(s_ij/tau) / sum_{k != i, d_ik >= d_ij} exp(s_ik/tau) ).
 *             The denominator EXCLUDES the anchor k = i (torchcell included it when d_ij = 0) and always
 *             includes j itself. L = 0 when N < 2. Computed in O(N^2 (D + log N)) with log-sum-exp
 *             accumulation (no overflow or underflow for any tau > 0); the gradient with respect to z is
 *             exact (at z_i == z_k, where the distance has no derivative, that pair contributes 0).
 *             The labels y receive no gradient.
 *
 * The DistLoss pseudo-label table (cg_dist_table), built once from the training labels:
 *   KDE       f(x) = (1/n) sum_i phi((x - y_i) / h) / h over the n non-NaN training labels.
 *   bandwidth h > 0 as given (label units), or by default Silverman's rule of thumb (Silverman 1986,
 *             eq. 3.31): h = 0.9 * min(sd, IQR / 1.34) * n^(-1/5), sd with ddof = 1 and the IQR from
 *             linearly interpolated quantiles (numpy's default). If min(sd, IQR/1.34) is 0 the larger of
 *             the two is used; if both are 0 (n = 1 or all labels equal) h = 1e-3 * max(1, |mean|).
 *   grid      G equally spaced points (default CG_DIST_GRID_DEFAULT = 2048) from min(y) - 6h to
 *             max(y) + 6h. The exact KDE CDF F(x) = (1/n) sum_i Phi((x - y_i)/h) is evaluated at every
 *             grid point (labels farther than 9h count as exactly 0 or 1), then rescaled to run from 0 at
 *             the first grid point to 1 at the last (it moves by at most Phi(-6) ~ 1e-9).
 *   quantile  F^{-1}(u) by linear interpolation of the tabulated CDF between the two grid points that
 *             bracket u (the density is taken as constant within a grid cell).
 *   Building costs O(n log n + G * labels within 9h) (parallel over grid points, deterministic); a
 *   look-up of m pseudo-labels costs O(m log G). The table does not change during training.
 */
#ifndef CELLGRAPH_LOSSES_H
#define CELLGRAPH_LOSSES_H

#include <stddef.h>
#include <stdint.h>

#include "cellgraph/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows per block of the fixed-partition reductions of the MSE and LogCosh losses. */
#define CG_LOSS_BLOCK 4096
/* Default number of grid points of a DistLoss table. */
#define CG_DIST_GRID_DEFAULT 2048

// ----------------------------------------------------------------------------
// masked, label-weighted MSE and LogCosh

/* MSE forward (formula above). pred, target [B, K]; weights [K] or NULL; count [K] (out) receives n_k.
 * Returns L. */
double cg_mse_weighted_forward(const float *pred, const float *target, const float *weights, int64_t B, int64_t K,
                               int64_t *count);
/* dpred[i,k] += dloss * w_k * 2 (p_ik - t_ik) / n_k and dtarget[i,k] -= the same, for non-NaN t_ik;
 * count [K] from the forward. Either gradient may be NULL. */
void cg_mse_weighted_backward(float *dpred, float *dtarget, float dloss, const float *pred, const float *target,
                              const float *weights, const int64_t *count, int64_t B, int64_t K);

/* LogCosh forward (formula above); same arguments as cg_mse_weighted_forward. */
double cg_logcosh_loss_forward(const float *pred, const float *target, const float *weights, int64_t B, int64_t K,
                               int64_t *count);
/* dpred[i,k] += dloss * w_k * tanh(p_ik - t_ik) / n_k and dtarget[i,k] -= the same, for non-NaN t_ik. */
void cg_logcosh_loss_backward(float *dpred, float *dtarget, float dloss, const float *pred, const float *target,
                              const float *weights, const int64_t *count, int64_t B, int64_t K);

/* Recorded ops: pred and target of the same shape [B, K] (any ndim; K = last dimension), weights [K] or
 * NULL (copied into the step arena; every weight finite and >= 0). Both pred and target may require a
 * gradient (target's is the negative of pred's on valid entries, 0 on NaN entries). -> [1]. */
cg_tensor *cg_mse_weighted(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, const float *weights);
cg_tensor *cg_logcosh_loss(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, const float *weights);
/* Either with per-entry sample weights sw [B, K] (NULL: all 1; finite and >= 0, copied):
 *   L = sum_k w_k (1/n_k) sum_{i valid} sw_ik l(p_ik - t_ik),   l = square (MSE) or logcosh (logcosh true)
 * n_k still counts the valid rows (a weighted sum over the rows, divided by their number: DANGO's
 * mean(logcosh(y - y_hat) * w), dango.md a.6). Gradients scale by sw_ik alike. Errors as the ops above,
 * plus CG_ERR_INVALID_ARG naming a bad sample weight's row and column. */
cg_tensor *cg_masked_loss_sw(cg_ctx *ctx, bool logcosh, cg_tensor *pred, cg_tensor *target, const float *weights,
                             const float *sample_weights);

// ----------------------------------------------------------------------------
// DistLoss

/* The KDE pseudo-label table of one label's training distribution (see the top of this file). */
typedef struct cg_dist_table {
    int64_t n_labels;  /* non-NaN training labels used */
    double bandwidth;  /* h, the Gaussian kernel's standard deviation (label units) */
    double mean, sd;   /* of the training labels (sd with ddof = 1; 0 when n_labels = 1) */
    double lo, step;   /* grid point g is lo + g * step */
    int64_t n_grid;    /* G */
    double *cdf;       /* [G] KDE CDF at the grid points, non-decreasing, cdf[0] = 0, cdf[G-1] = 1 (owned) */
} cg_dist_table;

/* Builds the table from labels[i * stride], i in [0, n) (stride = K picks one column of a [n, K] label
 * matrix), skipping NaN. bandwidth > 0: use it; bandwidth == 0: Silverman's rule. n_grid == 0: the
 * default; otherwise n_grid >= 16. Errors: CG_ERR_INVALID_ARG (no non-NaN label, an infinite label,
 * bandwidth negative or not finite, n_grid out of range, stride < 1), CG_ERR_NOMEM. On error *t is
 * left zeroed (cg_dist_table_free is safe on it). */
cg_status cg_dist_table_build(cg_dist_table *t, const float *labels, int64_t n, int64_t stride, double bandwidth,
                              int64_t n_grid);
/* Frees the table's memory and zeroes it. Safe on a zeroed table. */
void cg_dist_table_free(cg_dist_table *t);
/* F^{-1}(u) for u in [0, 1] (clamped). */
double cg_dist_table_quantile(const cg_dist_table *t, double u);
/* out[r] = F^{-1}((r + 0.5) / m), r in [0, m): the m pseudo-labels of a batch with m valid rows,
 * ascending. */
void cg_dist_table_pseudo_labels(const cg_dist_table *t, int64_t m, double *out);

/* DistLoss forward on column col of pred, target [B, K]. order [B] (out): its first *m entries are the
 * rows whose target is not NaN, sorted by ascending prediction (ties by row); work [B]: scratch;
 * pseudo [B] (out): its first *m entries are the pseudo-labels. Returns L (0 when m = 0). */
double cg_dist_loss_forward(const float *pred, const float *target, int64_t B, int64_t K, int64_t col,
                            const cg_dist_table *table, int32_t *order, int32_t *work, double *pseudo, int64_t *m);
/* dpred[order[r], col] += dloss * 2 (pred[order[r], col] - pseudo[r]) / m, r in [0, m). */
void cg_dist_loss_backward(float *dpred, float dloss, const float *pred, int64_t K, int64_t col,
                           const int32_t *order, const double *pseudo, int64_t m);

/* Recorded ops. cg_dist_loss: pred and target of the same shape, one column ([B, 1]) or 1-d ([B]);
 * cg_dist_loss_col: column col of pred, target [B, K] of the same shape. The table is read during the
 * call only. target receives no gradient. -> [1]. */
cg_tensor *cg_dist_loss(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, const cg_dist_table *table);
cg_tensor *cg_dist_loss_col(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, int64_t col,
                            const cg_dist_table *table);

// ----------------------------------------------------------------------------
// SupCR (Rank-N-Contrast)

/* Bytes of scratch that cg_supcr_forward needs for N valid rows (24 N^2 + 8 N + 64). */
size_t cg_supcr_scratch_bytes(int64_t N);

/* SupCR forward. z [B, D]; labels y[i * y_stride], i in [0, B) (NaN rows excluded); tau > 0.
 * rows [B] (out): the first *n = N entries are the valid rows in ascending order; r [N*N] and dr [N*N]
 * (out): r[a*N+b] = ||z_rows[a] - z_rows[b]||, and dr[a*N+b] = dL/dr_ab treating r_ab and r_ba as
 * separate variables. scratch: cg_supcr_scratch_bytes(N) bytes (N <= B; sizing by B is always enough).
 * Memory of the recorded op: 40 N^2 bytes of the step arena (N = 128: 640 KiB). Returns L. */
double cg_supcr_forward(const float *z, const float *y, int64_t B, int64_t D, int64_t y_stride, float tau,
                        int32_t *rows, int64_t *n, double *r, double *dr, void *scratch);
/* dz[rows[a], :] += dloss * sum_b (dr[a,b] + dr[b,a]) (z_rows[a] - z_rows[b]) / r[a,b] (pairs with
 * r = 0 skipped); rows, n, r, dr from the forward. */
void cg_supcr_backward(float *dz, float dloss, const float *z, int64_t D, const int32_t *rows, int64_t n,
                       const double *r, const double *dr);

/* Recorded ops. cg_supcr_loss: z [B, D], y with B elements ([B] or [B, 1]); cg_supcr_loss_col: labels
 * from column col of y [B, K]. tau finite and > 0. Only z receives a gradient. -> [1]. */
cg_tensor *cg_supcr_loss(cg_ctx *ctx, cg_tensor *z, cg_tensor *y, float tau);
cg_tensor *cg_supcr_loss_col(cg_ctx *ctx, cg_tensor *z, cg_tensor *y, int64_t col, float tau);

// ----------------------------------------------------------------------------
// the composite training loss (torchcell's ICLoss, in the published forms)

/* The terms of a composite loss, for logging (each NULL when skipped). */
typedef struct cg_loss_terms {
    cg_tensor *mse;    /* cg_mse_weighted(pred, target, weights) */
    cg_tensor *dist;   /* sum_k w_k DistLoss_k, before lambda_dist */
    cg_tensor *supcr;  /* sum_k w_k SupCR_k, before lambda_supcr */
} cg_loss_terms;

/* L = MSE_w(pred, target)
 *   + lambda_dist  * sum_k w_k * DistLoss(pred[:, k], target[:, k]; dist_tables[k])
 *   + lambda_supcr * sum_k w_k * SupCR(z_p, target[:, k]; tau)
 * pred, target [B, K]; z_p [B, D] (may be NULL when lambda_supcr == 0); weights [K] or NULL (= 1);
 * dist_tables: K tables, one per label column (may be NULL when lambda_dist == 0). Choice: DistLoss and
 * SupCR are computed per label column on that column's valid rows and summed with the same label
 * weights as the MSE (torchcell's ICLoss also shares its weights between the three terms); a label
 * with weight 0 and a term with lambda 0 are skipped (no op recorded); a SupCR column with fewer than 2
 * valid rows contributes 0.
 * terms (may be NULL) receives the unscaled terms. -> [1]. Errors as the parts, plus
 * CG_ERR_INVALID_ARG for a negative or non-finite lambda or a missing z_p / dist_tables. */
cg_tensor *cg_composite_loss(cg_ctx *ctx, cg_tensor *pred, cg_tensor *target, cg_tensor *z_p, const float *weights,
                             float lambda_dist, const cg_dist_table *dist_tables, float lambda_supcr, float tau,
                             cg_loss_terms *terms);
/* The same with the base term LogCosh_w(pred, target) (cg_logcosh_loss) instead of MSE_w when logcosh;
 * terms->mse then holds the LogCosh term; sample_weights [B, K] (or NULL) weigh the base term's entries
 * (cg_masked_loss_sw), not DistLoss or SupCR. */
cg_tensor *cg_composite_loss_base(cg_ctx *ctx, bool logcosh, cg_tensor *pred, cg_tensor *target,
                                  const float *sample_weights, cg_tensor *z_p, const float *weights, float lambda_dist,
                                  const cg_dist_table *dist_tables, float lambda_supcr, float tau, cg_loss_terms *terms);

#ifdef __cplusplus
}
#endif
#endif
