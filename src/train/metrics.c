/* Regression metrics, per-label evaluation and the two baselines; see cellgraph/metrics.h.
 *
 * cg_metrics_compute gathers the evaluated pairs into double arrays first (one pass that also checks
 * them), then computes every statistic with centred two-pass sums, so that a label whose values sit far
 * from zero (fitness, near 1) loses no precision in its variances. Spearman ranks come from one qsort
 * per side; ties get the average of the ranks they span, so the result does not depend on the order
 * qsort leaves equal values in.
 */
#include "cellgraph/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------
// statistics on double arrays

/* Pearson r of x and y (n values each) with the centred two-pass sums; NaN when n < 2 or either side
 * has zero variance. Clamped to [-1, 1] against the last-bit overshoot of the division. */
static double pearson_d(const double *x, const double *y, int64_t n) {
    if (n < 2) return NAN;
    double sx = 0, sy = 0;
    for (int64_t i = 0; i < n; i++) {
        sx += x[i];
        sy += y[i];
    }
    double mx = sx / (double)n, my = sy / (double)n;
    double sxx = 0, syy = 0, sxy = 0;
    for (int64_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return NAN;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct rank_item {
    double v;
    int64_t i;
} rank_item;

static int rank_cmp(const void *a, const void *b) {
    double x = ((const rank_item *)a)->v, y = ((const rank_item *)b)->v;
    return (x > y) - (x < y);
}

/* rank[i] = the 1-based rank of x[i] among x[0..n), ties averaged. work holds n items. */
static void average_ranks(const double *x, int64_t n, rank_item *work, double *rank) {
    for (int64_t i = 0; i < n; i++) work[i] = (rank_item){x[i], i};
    qsort(work, (size_t)n, sizeof *work, rank_cmp);
    for (int64_t a = 0; a < n;) {
        int64_t b = a + 1;
        while (b < n && work[b].v == work[a].v) b++;
        double r = 0.5 * (double)(a + 1 + b); /* the mean of ranks a+1 .. b */
        for (int64_t j = a; j < b; j++) rank[work[j].i] = r;
        a = b;
    }
}

cg_status cg_metrics_compute(const float *pred, const float *target, int64_t n, int64_t stride_pred,
                             int64_t stride_target, cg_metrics *out) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "metrics: NULL output");
    if (n < 0) return cg_error(CG_ERR_INVALID_ARG, "metrics: negative count %lld", (long long)n);
    if (stride_pred < 1 || stride_target < 1)
        return cg_error(CG_ERR_INVALID_ARG, "metrics: strides must be >= 1 (got %lld, %lld)", (long long)stride_pred,
                        (long long)stride_target);
    if (n > 0 && (!pred || !target)) return cg_error(CG_ERR_INVALID_ARG, "metrics: NULL prediction or target");

    /* pass 1: check and count */
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        float t = target[i * stride_target];
        if (isnan(t)) continue;
        if (isinf(t)) return cg_error(CG_ERR_INVALID_ARG, "metrics: target %lld is infinite", (long long)i);
        float p = pred[i * stride_pred];
        if (!isfinite(p))
            return cg_error(CG_ERR_INVALID_ARG, "metrics: prediction %lld is not finite (%g)", (long long)i, (double)p);
        m++;
    }
    cg_metrics r = {.n = m, .mse = NAN, .rmse = NAN, .pearson = NAN, .spearman = NAN, .r2 = NAN};
    if (m == 0) {
        *out = r;
        return CG_OK;
    }

    /* pass 2: gather the pairs: p, t, rank(p), rank(t), then the sort workspace */
    size_t mm = (size_t)m;
    double *buf = malloc(4 * mm * sizeof *buf);
    rank_item *work = malloc(mm * sizeof *work);
    if (!buf || !work) {
        free(buf);
        free(work);
        return cg_error(CG_ERR_NOMEM, "metrics: out of memory for %lld pairs", (long long)m);
    }
    double *p = buf, *t = buf + mm, *rp = buf + 2 * mm, *rt = buf + 3 * mm;
    for (int64_t i = 0, j = 0; i < n; i++) {
        float ti = target[i * stride_target];
        if (isnan(ti)) continue;
        p[j] = (double)pred[i * stride_pred];
        t[j] = (double)ti;
        j++;
    }

    double st = 0, sse = 0;
    for (int64_t j = 0; j < m; j++) {
        double d = p[j] - t[j];
        sse += d * d;
        st += t[j];
    }
    double mt = st / (double)m, sst = 0;
    for (int64_t j = 0; j < m; j++) sst += (t[j] - mt) * (t[j] - mt);

    r.mse = sse / (double)m;
    r.rmse = sqrt(r.mse);
    r.r2 = sst > 0 ? 1.0 - sse / sst : NAN;
    r.pearson = pearson_d(p, t, m);
    if (m >= 2) {
        average_ranks(p, m, work, rp);
        average_ranks(t, m, work, rt);
        r.spearman = pearson_d(rp, rt, m);
    }
    free(buf);
    free(work);
    *out = r;
    return CG_OK;
}

// ----------------------------------------------------------------------------
// evaluation on the dataset

static cg_status check_samples(const cg_dataset *d, const int64_t *samples, int64_t n, const char *who) {
    if (n < 0) return cg_error(CG_ERR_INVALID_ARG, "%s: negative sample count %lld", who, (long long)n);
    if (n > 0 && !samples) return cg_error(CG_ERR_INVALID_ARG, "%s: NULL sample list", who);
    for (int64_t i = 0; i < n; i++)
        if (samples[i] < 0 || samples[i] >= d->n)
            return cg_error(CG_ERR_INVALID_ARG, "%s: sample index %lld (entry %lld) outside [0, %lld)", who,
                            (long long)samples[i], (long long)i, (long long)d->n);
    return CG_OK;
}

cg_status cg_metrics_eval(const cg_dataset *d, const int64_t *samples, int64_t n, const float *pred,
                          cg_metrics out[CG_NUM_LABELS]) {
    if (!d || !out || (n > 0 && (!pred || !d->label)))
        return cg_error(CG_ERR_INVALID_ARG, "metrics: NULL dataset, labels, predictions or output");
    cg_status s = check_samples(d, samples, n, "metrics");
    if (s != CG_OK) return s;
    float *target = malloc(((size_t)n + 1) * CG_NUM_LABELS * sizeof *target);
    if (!target) return cg_error(CG_ERR_NOMEM, "metrics: out of memory for %lld samples", (long long)n);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < CG_NUM_LABELS; k++)
            target[i * CG_NUM_LABELS + k] = d->label[samples[i] * CG_NUM_LABELS + k];
    cg_metrics res[CG_NUM_LABELS];
    for (int k = 0; k < CG_NUM_LABELS && s == CG_OK; k++) {
        s = cg_metrics_compute(pred + k, target + k, n, CG_NUM_LABELS, CG_NUM_LABELS, &res[k]);
        if (s != CG_OK) s = cg_error_wrap(s, "%s", cg_label_name((cg_label)k));
    }
    free(target);
    if (s != CG_OK) return s;
    memcpy(out, res, sizeof res);
    return CG_OK;
}

cg_status cg_metrics_eval_group(const cg_dataset *d, const int64_t *samples, int64_t n, const float *pred,
                                int n_genes, int source, cg_metrics out[CG_NUM_LABELS]) {
    cg_status s = check_samples(d, samples, n, "metrics");
    if (s != CG_OK) return s;
    int64_t *idx = malloc(((size_t)n + 1) * sizeof *idx);
    float *p = malloc(((size_t)n + 1) * CG_NUM_LABELS * sizeof *p);
    if (!idx || !p) {
        free(idx), free(p);
        return cg_error(CG_ERR_NOMEM, "metrics: out of memory for %lld samples", (long long)n);
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t *g = d->genotype + 3 * samples[i];
        int ng = (g[0] >= 0) + (g[1] >= 0) + (g[2] >= 0);
        if (n_genes > 0 && ng != n_genes) continue;
        if (source >= 0 && !(d->source_mask && (d->source_mask[samples[i]] >> source) & 1)) continue;
        idx[m] = samples[i];
        memcpy(p + m * CG_NUM_LABELS, pred + i * CG_NUM_LABELS, CG_NUM_LABELS * sizeof *p);
        m++;
    }
    s = cg_metrics_eval(d, idx, m, p, out);
    free(idx);
    free(p);
    return s;
}

cg_status cg_eval_split_samples(const cg_dataset *d, cg_split_kind kind, int which, int64_t **out, int64_t *n) {
    if (!d || !out || !n) return cg_error(CG_ERR_INVALID_ARG, "split samples: NULL argument");
    if ((int)kind < 0 || kind >= CG_SPLIT_KINDS || which < CG_SPLIT_TRAIN || which > CG_SPLIT_TEST)
        return cg_error(CG_ERR_INVALID_ARG, "split samples: split kind %d / split %d out of range", (int)kind, which);
    const int32_t *sp = d->split[kind];
    if (!sp && d->n > 0)
        return cg_error(CG_ERR_INVALID_ARG, "split samples: the dataset has no %s split", cg_split_kind_name(kind));
    int64_t c = 0;
    for (int64_t s = 0; s < d->n; s++) c += sp[s] == which;
    int64_t *idx = malloc(((size_t)c + 1) * sizeof *idx);
    if (!idx) return cg_error(CG_ERR_NOMEM, "split samples: out of memory for %lld samples", (long long)c);
    c = 0;
    for (int64_t s = 0; s < d->n; s++)
        if (sp[s] == which) idx[c++] = s;
    *out = idx;
    *n = c;
    return CG_OK;
}

const char *cg_metrics_format_header(char *buf, size_t len) {
    if (buf && len) snprintf(buf, len, "%-32s %9s %10s %10s %10s %10s %10s", "name", "n", "mse", "rmse", "pearson",
                             "spearman", "r2");
    return buf;
}

const char *cg_metrics_format_row(char *buf, size_t len, const char *name, const cg_metrics *m) {
    if (!buf || !len) return buf;
    if (!m) {
        snprintf(buf, len, "%-32.32s", name ? name : "");
        return buf;
    }
    snprintf(buf, len, "%-32.32s %9lld %10.5g %10.5g %10.6f %10.6f %10.6f", name ? name : "", (long long)m->n, m->mse,
             m->rmse, m->pearson, m->spearman, m->r2);
    return buf;
}

// ----------------------------------------------------------------------------
// baselines

const char *cg_baseline_name(cg_baseline b) {
    switch (b) {
    case CG_BASELINE_MEAN: return "training_mean";
    case CG_BASELINE_MULTIPLICATIVE: return "multiplicative";
    case CG_BASELINE_ADDITIVE: return "per_gene_additive";
    default: return "?";
    }
}

bool cg_baseline_parse(const char *name, cg_baseline *out) {
    if (!name || !out) return false;
    if (!strcmp(name, "training_mean") || !strcmp(name, "mean")) {
        *out = CG_BASELINE_MEAN;
        return true;
    }
    if (!strcmp(name, "multiplicative")) {
        *out = CG_BASELINE_MULTIPLICATIVE;
        return true;
    }
    if (!strcmp(name, "per_gene_additive") || !strcmp(name, "additive")) {
        *out = CG_BASELINE_ADDITIVE;
        return true;
    }
    return false;
}

/* The null value of a label, predicted when the training split has no value of it. */
static double label_null(int k) { return k == CG_LABEL_FITNESS ? 1.0 : 0.0; }

/* mean[k] over the finite values of label k in the training split. */
static void training_means(const cg_dataset *d, const int32_t *sp, double mean[CG_NUM_LABELS]) {
    double sum[CG_NUM_LABELS] = {0};
    int64_t cnt[CG_NUM_LABELS] = {0};
    for (int64_t s = 0; s < d->n; s++) {
        if (sp[s] != CG_SPLIT_TRAIN) continue;
        for (int k = 0; k < CG_NUM_LABELS; k++) {
            float v = d->label[s * CG_NUM_LABELS + k];
            if (isfinite(v)) {
                sum[k] += (double)v;
                cnt[k]++;
            }
        }
    }
    for (int k = 0; k < CG_NUM_LABELS; k++) mean[k] = cnt[k] ? sum[k] / (double)cnt[k] : label_null(k);
}

/* Number of genes of sample s (entries >= 0); checks that every entry lies in [-1, n_genes). */
static cg_status genotype_of(const cg_dataset *d, int64_t s, int *ng) {
    int c = 0;
    for (int j = 0; j < 3; j++) {
        int32_t g = d->genotype[s * 3 + j];
        if (g < -1 || (g >= 0 && (int64_t)g >= d->n_genes))
            return cg_error(CG_ERR_FORMAT, "baseline: sample %lld: gene index %d outside [-1, %lld)", (long long)s,
                            (int)g, (long long)d->n_genes);
        c += g >= 0;
    }
    *ng = c;
    return CG_OK;
}

/* fit[g] = single-mutant fitness of gene g in the training split, the training mean of single-mutant
 * fitness (or 1) for a gene without one. Returns the fallback in *fallback. */
static cg_status fit_single_fitness(const cg_dataset *d, const int32_t *sp, double *fit, double *fallback) {
    int64_t G = d->n_genes;
    int32_t *cnt = calloc((size_t)G + 1, sizeof *cnt);
    if (!cnt) return cg_error(CG_ERR_NOMEM, "baseline: out of memory for %lld genes", (long long)G);
    for (int64_t g = 0; g < G; g++) fit[g] = 0;
    double sum = 0;
    int64_t nsingle = 0;
    for (int64_t s = 0; s < d->n; s++) {
        if (sp[s] != CG_SPLIT_TRAIN) continue;
        int ng = 0;
        cg_status st = genotype_of(d, s, &ng);
        if (st != CG_OK) {
            free(cnt);
            return st;
        }
        float v = d->label[s * CG_NUM_LABELS + CG_LABEL_FITNESS];
        if (ng != 1 || !isfinite(v)) continue;
        int32_t g = -1;
        for (int j = 0; j < 3 && g < 0; j++) g = d->genotype[s * 3 + j];
        fit[g] += (double)v; /* a dataset holds one sample per genotype; averaged should one repeat */
        cnt[g]++;
        sum += (double)v;
        nsingle++;
    }
    *fallback = nsingle ? sum / (double)nsingle : 1.0;
    for (int64_t g = 0; g < G; g++) fit[g] = cnt[g] ? fit[g] / (double)cnt[g] : *fallback;
    free(cnt);
    return CG_OK;
}

/* The per-gene additive baseline in closed form: r[g][k] = mean over the training samples with label k
 * that delete gene g of (y - mean[k]) (0 for a gene without one); prediction = mean[k] + the mean of
 * r[g][k] over the genotype's genes. */
static cg_status additive_predict(const cg_dataset *d, const int32_t *sp, const int64_t *samples, int64_t n,
                                  float *pred) {
    const int64_t G = d->n_genes, K = CG_NUM_LABELS;
    double mean[CG_NUM_LABELS];
    training_means(d, sp, mean);
    double *r = calloc((size_t)(G + 1) * (size_t)K, sizeof *r);
    int64_t *cnt = calloc((size_t)(G + 1) * (size_t)K, sizeof *cnt);
    if (!r || !cnt) {
        free(r), free(cnt);
        return cg_error(CG_ERR_NOMEM, "baseline: out of memory for %lld genes", (long long)G);
    }
    cg_status s = CG_OK;
    for (int64_t i = 0; i < d->n && s == CG_OK; i++) {
        int ng = 0;
        if ((s = genotype_of(d, i, &ng)) != CG_OK || sp[i] != CG_SPLIT_TRAIN) continue;
        for (int k = 0; k < K; k++) {
            float v = d->label[i * K + k];
            if (!isfinite(v)) continue;
            for (int j = 0; j < 3; j++) {
                int32_t g = d->genotype[i * 3 + j];
                if (g < 0) continue;
                r[g * K + k] += (double)v - mean[k];
                cnt[g * K + k]++;
            }
        }
    }
    for (int64_t q = 0; q < G * K; q++) r[q] = cnt[q] ? r[q] / (double)cnt[q] : 0.0;
    for (int64_t i = 0; i < n && s == CG_OK; i++) {
        int ng = 0;
        if ((s = genotype_of(d, samples[i], &ng)) != CG_OK) break;
        for (int k = 0; k < K; k++) {
            double sum = 0;
            for (int j = 0; j < 3; j++) {
                int32_t g = d->genotype[samples[i] * 3 + j];
                if (g >= 0) sum += r[g * K + k];
            }
            pred[i * K + k] = (float)(mean[k] + (ng ? sum / ng : 0.0));
        }
    }
    free(r);
    free(cnt);
    return s;
}

cg_status cg_baseline_predict(const cg_dataset *d, cg_split_kind split_kind, cg_baseline which,
                              const int64_t *samples, int64_t n, float *pred) {
    if (!d || (n > 0 && !pred)) return cg_error(CG_ERR_INVALID_ARG, "baseline: NULL dataset or output");
    if ((int)split_kind < 0 || split_kind >= CG_SPLIT_KINDS)
        return cg_error(CG_ERR_INVALID_ARG, "baseline: split kind %d out of range", (int)split_kind);
    if (which != CG_BASELINE_MEAN && which != CG_BASELINE_MULTIPLICATIVE && which != CG_BASELINE_ADDITIVE)
        return cg_error(CG_ERR_INVALID_ARG, "baseline: unknown baseline %d", (int)which);
    const int32_t *sp = d->split[split_kind];
    if (d->n > 0 && (!sp || !d->label))
        return cg_error(CG_ERR_INVALID_ARG, "baseline: the dataset has no labels or no %s split",
                        cg_split_kind_name(split_kind));
    cg_status s = check_samples(d, samples, n, "baseline");
    if (s != CG_OK) return s;

    if (which == CG_BASELINE_MEAN) {
        double mean[CG_NUM_LABELS];
        training_means(d, sp, mean);
        for (int64_t i = 0; i < n; i++)
            for (int k = 0; k < CG_NUM_LABELS; k++) pred[i * CG_NUM_LABELS + k] = (float)mean[k];
        return CG_OK;
    }

    if (d->n > 0 && !d->genotype) return cg_error(CG_ERR_INVALID_ARG, "baseline: the dataset has no genotypes");
    if (d->n_genes < 0) return cg_error(CG_ERR_INVALID_ARG, "baseline: negative gene count");
    if (which == CG_BASELINE_ADDITIVE) return additive_predict(d, sp, samples, n, pred);
    double *fit = malloc(((size_t)d->n_genes + 1) * sizeof *fit);
    if (!fit) return cg_error(CG_ERR_NOMEM, "baseline: out of memory for %lld genes", (long long)d->n_genes);
    double fallback;
    s = fit_single_fitness(d, sp, fit, &fallback);
    for (int64_t i = 0; i < n && s == CG_OK; i++) {
        int ng = 0;
        s = genotype_of(d, samples[i], &ng);
        if (s != CG_OK) break;
        double f = 1.0;
        for (int j = 0; j < 3; j++) {
            int32_t g = d->genotype[samples[i] * 3 + j];
            if (g >= 0) f *= fit[g];
        }
        pred[i * CG_NUM_LABELS + CG_LABEL_FITNESS] = (float)f;
        pred[i * CG_NUM_LABELS + CG_LABEL_EPSILON] = 0.0f;
        pred[i * CG_NUM_LABELS + CG_LABEL_TAU] = 0.0f;
    }
    free(fit);
    return s;
}

cg_status cg_baseline_eval(const cg_dataset *d, cg_split_kind split_kind, cg_baseline which, int which_split,
                           cg_metrics out[CG_NUM_LABELS]) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "baseline: NULL output");
    int64_t *idx = NULL, n = 0;
    cg_status s = cg_eval_split_samples(d, split_kind, which_split, &idx, &n);
    if (s != CG_OK) return s;
    float *pred = malloc(((size_t)n + 1) * CG_NUM_LABELS * sizeof *pred);
    if (!pred) {
        free(idx);
        return cg_error(CG_ERR_NOMEM, "baseline: out of memory for %lld samples", (long long)n);
    }
    s = cg_baseline_predict(d, split_kind, which, idx, n, pred);
    if (s == CG_OK) s = cg_metrics_eval(d, idx, n, pred, out);
    free(pred);
    free(idx);
    return s;
}
