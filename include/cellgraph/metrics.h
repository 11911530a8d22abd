/* cellgraph/metrics.h: regression metrics for one label, per-label evaluation of a split of the
 * dataset, and the two reference baselines (training mean, multiplicative model).
 *
 * Metrics are computed in the label's original units (not z-scored), over the pairs whose target is
 * known (not NaN); every sum is accumulated in double. For n evaluated pairs with predictions p and
 * targets t:
 *   mse      = sum (p - t)^2 / n                       (NaN when n == 0)
 *   rmse     = sqrt(mse)
 *   pearson  = sum (p - mp)(t - mt) / sqrt(sum (p - mp)^2 sum (t - mt)^2), mp and mt the means
 *              (centred two-pass sums; clamped to [-1, 1]; NaN when n < 2 or either variance is 0)
 *   spearman = Pearson r of the ranks of p and of t, ranks 1..n with tied values given the average of
 *              the ranks they span (NaN in the same degenerate cases, e.g. all predictions equal)
 *   r2       = 1 - SSE / SST, SSE = sum (p - t)^2, SST = sum (t - mt)^2 around the mean of the
 *              evaluated targets (so a constant prediction equal to that mean scores 0 and a constant
 *              prediction equal to any other value scores below 0); NaN when n == 0 or SST == 0
 *
 * Usage, for a model's predictions pred [n, CG_NUM_LABELS] (fitness, epsilon, tau) on the test split:
 *     int64_t *idx, n;
 *     cg_eval_split_samples(&d, CG_SPLIT_RANDOM, CG_SPLIT_TEST, &idx, &n);
 *     ... pred[i * 2 + k] = prediction of label k for sample idx[i] ...
 *     cg_metrics m[CG_NUM_LABELS];
 *     cg_metrics_eval(&d, idx, n, pred, m);
 *     char row[160];
 *     puts(cg_metrics_format_header(row, sizeof row));
 *     puts(cg_metrics_format_row(row, sizeof row, "fitness", &m[CG_LABEL_FITNESS]));
 *     free(idx);
 */
#ifndef CELLGRAPH_METRICS_H
#define CELLGRAPH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cellgraph/dataset.h"
#include "cellgraph/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cg_metrics {
    int64_t n;       /* pairs evaluated (target not NaN) */
    double mse, rmse, pearson, spearman, r2;
} cg_metrics;

/* Metrics of pred against target over the n positions i = 0..n-1, reading pred[i * stride_pred] and
 * target[i * stride_target] (strides in elements, >= 1: stride 2 reads one column of an [n, 2] array).
 * A NaN target skips the pair; a non-finite prediction paired with a known target is an error, and so
 * is an infinite target. n == 0 (or every target NaN) gives n = 0 and NaN for every metric.
 * Errors: CG_ERR_INVALID_ARG (NULL pointer with n > 0, n < 0, stride < 1, "prediction 17 is not
 * finite (nan)", "target 3 is infinite"), CG_ERR_NOMEM. On error *out is left unchanged. */
cg_status cg_metrics_compute(const float *pred, const float *target, int64_t n, int64_t stride_pred,
                             int64_t stride_target, cg_metrics *out);

/* The metrics of each label (out[CG_LABEL_FITNESS], out[CG_LABEL_EPSILON], out[CG_LABEL_TAU]) for the samples
 * samples[0..n) of d, given predictions pred [n, CG_NUM_LABELS] (row i belongs to samples[i]); the
 * targets are d->label of those samples, NaN labels skipped per label. Errors: those of
 * cg_metrics_compute (a non-finite prediction is named by its row and label), CG_ERR_INVALID_ARG for
 * a sample index outside [0, d->n). */
cg_status cg_metrics_eval(const cg_dataset *d, const int64_t *samples, int64_t n, const float *pred,
                          cg_metrics out[CG_NUM_LABELS]);

/* cg_metrics_eval restricted to the samples of one group: those deleting n_genes genes (0: any) and with
 * source bit `source` set in d->source_mask (-1: any source). Errors: those of cg_metrics_eval;
 * CG_ERR_NOMEM. */
cg_status cg_metrics_eval_group(const cg_dataset *d, const int64_t *samples, int64_t n, const float *pred,
                                int n_genes, int source, cg_metrics out[CG_NUM_LABELS]);

/* The samples of split `which` (CG_SPLIT_TRAIN / VAL / TEST) under split kind `kind`, ascending, in a
 * malloc'd array *out (free() it; never NULL on success, even when *n == 0). Errors:
 * CG_ERR_INVALID_ARG (NULL, kind or which out of range, the dataset has no such split), CG_ERR_NOMEM. */
cg_status cg_eval_split_samples(const cg_dataset *d, cg_split_kind kind, int which, int64_t **out, int64_t *n);

/* One line of a fixed-width metrics table (no newline), written to buf (truncated to len - 1 bytes)
 * and returned:
 *   "name                             n        mse       rmse    pearson   spearman         r2"
 *   "fitness                       1234  0.0071234     0.0844   0.712345   0.698765   0.501234"
 *   "tau                              0        nan        nan        nan        nan        nan"
 * The name column is 32 characters wide (a longer name is cut); mse and rmse have 5 significant digits,
 * the correlations and r2 6 decimals; NaN prints as "nan". */
const char *cg_metrics_format_header(char *buf, size_t len);
const char *cg_metrics_format_row(char *buf, size_t len, const char *name, const cg_metrics *m);

// ----------------------------------------------------------------------------
// baselines

/* The reference predictors a model must beat. All are fitted on the TRAINING split of the chosen
 * split kind only (nothing from validation or test leaks into them) and predict any sample:
 *
 *   CG_BASELINE_MEAN ("training_mean"): label k of every sample = the mean of the finite values of
 *     label k over the training split (recomputed from d->label; equal to d->stats[kind][k].mean up
 *     to float rounding). A label with no training value at all predicts its null value instead:
 *     fitness 1 (wild type), epsilon and tau 0.
 *
 *   CG_BASELINE_MULTIPLICATIVE ("multiplicative"): fitness of a genotype = the product over its
 *     genes of each gene's single-mutant fitness, i.e. the fitness label of the training sample that
 *     deletes exactly that one gene. A gene with no single-mutant fitness in the training split (its
 *     single is in validation or test, or was never measured) uses the mean single-mutant fitness of
 *     the training split instead (1 when the training split has no single mutant at all). A single
 *     mutant therefore predicts its own training fitness, or that fallback when it is itself held out.
 *     Epsilon and tau are predicted 0 (the multiplicative null: no epistasis). A genotype with no
 *     gene predicts fitness 1 (the empty product).
 *
 *   CG_BASELINE_ADDITIVE ("per_gene_additive"): the per-gene additive model in closed form. For label k, with m_k
 *     the training mean, each gene's residual r_gk = the mean of (y - m_k) over the training samples
 *     with label k that delete g (0 for a gene without one); a genotype predicts m_k plus the mean of
 *     r_gk over its genes. (The trained twin is the model "additive", cellgraph/additive.h.)
 */
typedef enum cg_baseline {
    CG_BASELINE_MEAN = 0,
    CG_BASELINE_MULTIPLICATIVE = 1,
    CG_BASELINE_ADDITIVE = 2,
    CG_NUM_BASELINES = 3
} cg_baseline;

/* "training_mean", "multiplicative", "per_gene_additive" ("?" for another value); parse accepts those
 * names, "mean" and "additive", and returns false for another name. */
const char *cg_baseline_name(cg_baseline b);
bool cg_baseline_parse(const char *name, cg_baseline *out);

/* Predictions of baseline `which`, fitted on the training split of split_kind, for the samples
 * samples[0..n) of d: pred [n, CG_NUM_LABELS], row i for samples[i] (fitness, epsilon, tau), all
 * finite. The fit is recomputed on every call (one pass over the dataset).
 * Errors: CG_ERR_INVALID_ARG (NULL pointers, unknown baseline or split kind, a sample index outside
 * [0, d->n)), CG_ERR_FORMAT (a genotype entry outside [-1, d->n_genes), multiplicative only),
 * CG_ERR_NOMEM. */
cg_status cg_baseline_predict(const cg_dataset *d, cg_split_kind split_kind, cg_baseline which,
                              const int64_t *samples, int64_t n, float *pred);

/* Shorthand: the baseline's predictions for split `which_split` of split_kind (e.g. CG_SPLIT_TEST)
 * scored with cg_metrics_eval into out[CG_NUM_LABELS]. */
cg_status cg_baseline_eval(const cg_dataset *d, cg_split_kind split_kind, cg_baseline which, int which_split,
                           cg_metrics out[CG_NUM_LABELS]);

#ifdef __cplusplus
}
#endif
#endif
