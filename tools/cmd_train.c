/* cellgraph train | eval | predict */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cellgraph/deletion.h"
#include "cellgraph/genes.h"
#include "cellgraph/lines.h"
#include "cellgraph/metrics.h"
#include "cellgraph/plot.h"
#include "cellgraph/safetensors.h"
#include "cellgraph/threads.h"
#include "cellgraph/trainer.h"
#include "cli.h"

static void fmt_time(char *buf, size_t len, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, len, "?");
    else if (s >= 3600) snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

/* On resume: metrics.jsonl keeps only what the run had written up to its last checkpoint (step `step`),
 * so that the resumed run writes each line once. A kill after a validation line and before the
 * checkpoint of that step, or during the final test evaluation, leaves lines the resumed run writes again
 * (issue 18 item 10: the duplicated epoch). Kept: validation lines with "step" <= step. Dropped: later
 * validation lines, "eval" lines (written after the last checkpoint, and again by the resumed run), and a
 * torn last line (no newline). Any other line that is not a JSON object is an error naming the line. The
 * file is rewritten through a temporary file and a rename; a missing file is left missing. */
static cg_status trim_metrics(const char *path, int64_t step) {
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? CG_OK : cg_error(CG_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *b2 = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!b2) free(buf);
            buf = b2, cap *= 2;
        }
    }
    bool read_error = ferror(f);
    fclose(f);
    if (!buf) return cg_error(CG_ERR_NOMEM, "%s: out of memory reading it", path);
    if (read_error) {
        free(buf);
        return cg_error(CG_ERR_IO, "%s: read failed", path);
    }
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *o = fopen(tmp, "wb");
    if (!o) {
        free(buf);
        return cg_error(CG_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    cg_status s = CG_OK;
    int lineno = 0;
    for (size_t at = 0; at < n && s == CG_OK;) {
        char *nl = memchr(buf + at, '\n', n - at);
        if (!nl) break; /* a torn last line: cut off */
        lineno++;
        size_t len = (size_t)(nl - (buf + at));
        cJSON *j = cJSON_ParseWithLength(buf + at, len);
        const cJSON *st = j ? cJSON_GetObjectItemCaseSensitive(j, "step") : NULL;
        if (!cJSON_IsObject(j) || !cJSON_IsNumber(st))
            s = cg_error(CG_ERR_FORMAT, "%s: line %d is not a metrics line (a JSON object with a step); the run's "
                         "metrics are damaged", path, lineno);
        else if (!cJSON_GetObjectItemCaseSensitive(j, "eval") && st->valuedouble <= (double)step &&
                 fwrite(buf + at, 1, len + 1, o) != len + 1)
            s = cg_error(CG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        cJSON_Delete(j);
        at += len + 1;
    }
    free(buf);
    if (s == CG_OK && (fflush(o) != 0 || fsync(fileno(o)) != 0))
        s = cg_error(CG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(o) != 0 && s == CG_OK) s = cg_error(CG_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (s == CG_OK && rename(tmp, path) != 0)
        s = cg_error(CG_ERR_IO, "%s: rename from '%s' failed: %s", path, tmp, strerror(errno));
    if (s != CG_OK) unlink(tmp);
    return s;
}

/* The train and validation losses of every validation line of metrics.jsonl, in order (arrays owned by
 * the caller; *n = 0 and NULL arrays when there is none). */
static cg_status read_loss_history(const char *path, double **train, double **val, int *n) {
    *train = *val = NULL, *n = 0;
    cg_lines r;
    cg_status s = cg_lines_open(&r, path);
    if (s != CG_OK) return s;
    char *line;
    size_t len;
    int rc, cap = 0;
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        cJSON *j = cJSON_ParseWithLength(line, len);
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(j, "train_loss"),
                    *vl = cJSON_GetObjectItemCaseSensitive(j, "val_loss");
        if (j && !cJSON_GetObjectItemCaseSensitive(j, "eval") && tl && vl) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                double *t2 = realloc(*train, (size_t)cap * sizeof *t2), *v2 = t2 ? realloc(*val, (size_t)cap * sizeof *v2) : NULL;
                if (t2) *train = t2;
                if (v2) *val = v2;
                if (!t2 || !v2) {
                    cJSON_Delete(j);
                    cg_lines_close(&r);
                    free(*train), free(*val);
                    *train = *val = NULL, *n = 0;
                    return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
                }
            }
            /* null (a NaN loss) is plotted as a gap */
            (*train)[*n] = cJSON_IsNumber(tl) ? tl->valuedouble : NAN;
            (*val)[*n] = cJSON_IsNumber(vl) ? vl->valuedouble : NAN;
            (*n)++;
        }
        cJSON_Delete(j);
    }
    cg_lines_close(&r);
    if (rc < 0) {
        free(*train), free(*val);
        *train = *val = NULL, *n = 0;
        return cg_last_status();
    }
    return CG_OK;
}

/* Writes text and a newline to path atomically: a temporary file (path.tmp.<pid>), flushed, fsynced and
 * renamed over path; on any error the temporary file is removed and path is unchanged. */
static cg_status write_text_file(const char *path, const char *text) {
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return cg_error(CG_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0 && ok) ok = false, e = errno;
    if (ok && rename(tmp, path) != 0) ok = false, e = errno;
    if (!ok) {
        unlink(tmp);
        return cg_error(CG_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    cg_remove_stale_temps(path);
    return CG_OK;
}

/* Pearson's r of a label as text ("nan" when undefined). */
static const char *fmt_r(char *buf, size_t len, double r) {
    if (isnan(r)) snprintf(buf, len, "%8s", "nan");
    else snprintf(buf, len, "%8.3f", r);
    return buf;
}

/* The report of one split: per label, the model and the three baselines (n, MSE, RMSE, Pearson,
 * Spearman, R^2) and the model's difference to the best baseline; then Pearson per number of deleted
 * genes and per data source, model beside baselines. Predictions in *pred_out etc. when asked. */
static cg_status report(cg_trainer *t, int which_split, const char *split_name, FILE *out,
                        cg_metrics model[CG_NUM_LABELS], float **pred_out, int64_t **samples_out, int64_t *n_out,
                        char (*ens)[4200], int n_ens) {
    enum { K = CG_NUM_LABELS, NB = CG_NUM_BASELINES };
    int64_t *samples = NULL, n = 0;
    cg_status s = cg_eval_split_samples(t->data, t->cfg.split, which_split, &samples, &n);
    if (s != CG_OK) return s;
    float *pred = malloc(((size_t)n + 1) * K * sizeof *pred), *bpred = malloc(((size_t)n + 1) * NB * K * sizeof *bpred);
    if (!pred || !bpred) {
        free(samples), free(pred), free(bpred);
        return cg_error(CG_ERR_NOMEM, "out of memory");
    }
    double t0 = cli_now();
    cli_progress_state prog;
    char what[96];
    snprintf(what, sizeof what, "predicting the %s split", split_name);
    cli_progress_init(&prog, what);
    cli_threads threads;
    cli_threads_init(&threads);
    prog.threads = &threads;
    t->progress = cli_progress, t->progress_ctx = &prog;
    if (n_ens == 0) {
        s = cg_trainer_predict_samples(t, samples, n, pred, NULL);
    } else { /* the ensemble: the mean of the checkpoints' predictions (original units) */
        double *acc = calloc(((size_t)n + 1) * K, sizeof *acc);
        if (!acc) s = cg_error(CG_ERR_NOMEM, "out of memory");
        for (int j = 0; j < n_ens && s == CG_OK; j++) {
            s = cg_checkpoint_load_params(ens[j], t->model);
            if (s == CG_OK) s = cg_trainer_predict_samples(t, samples, n, pred, NULL);
            for (int64_t i = 0; i < n * K && s == CG_OK; i++) acc[i] += pred[i];
        }
        for (int64_t i = 0; i < n * K && s == CG_OK; i++) pred[i] = (float)(acc[i] / n_ens);
        free(acc);
    }
    t->progress = NULL, t->progress_ctx = NULL;
    double dt = cli_now() - t0;
    if (s == CG_OK) s = cg_metrics_eval(t->data, samples, n, pred, model);
    cg_metrics base[NB][K];
    for (int b = 0; b < NB && s == CG_OK; b++) {
        s = cg_baseline_predict(t->data, t->cfg.split, (cg_baseline)b, samples, n, bpred + (size_t)b * n * K);
        if (s == CG_OK) s = cg_metrics_eval(t->data, samples, n, bpred + (size_t)b * n * K, base[b]);
    }
    const char *title = cg_model_title(t->model);
    if (s == CG_OK) {
        char buf[256], r1[32], r2[32];
        fprintf(out, "\n%s split (%s, %lld samples, predicted in %.1f s%s), original units:\n", split_name,
                cg_split_kind_name(t->cfg.split), (long long)n, dt, n_ens ? ", mean of the ensemble's checkpoints" : "");
        for (int k = 0; k < K; k++) {
            fprintf(out, "  %s\n  %s\n", cg_label_name(k), cg_metrics_format_header(buf, sizeof buf));
            fprintf(out, "  %s\n", cg_metrics_format_row(buf, sizeof buf, title, &model[k]));
            int best = -1;
            for (int b = 0; b < NB; b++) {
                char name[48];
                snprintf(name, sizeof name, "%s (baseline)", cg_baseline_name(b));
                fprintf(out, "  %s\n", cg_metrics_format_row(buf, sizeof buf, name, &base[b][k]));
                if (!isnan(base[b][k].pearson) && (best < 0 || base[b][k].pearson > base[best][k].pearson)) best = b;
            }
            if (best >= 0 && model[k].n > 0)
                fprintf(out, "  %s - best baseline (%s): pearson %+.3f, spearman %+.3f, rmse %+.5g\n", title,
                        cg_baseline_name(best), model[k].pearson - base[best][k].pearson,
                        model[k].spearman - base[best][k].spearman, model[k].rmse - base[best][k].rmse);
        }
        /* Pearson by group: number of deleted genes, then data source */
        fprintf(out, "  pearson by group:\n  %-40s %-8s %7s %8s", "group", "label", "n", title);
        for (int b = 0; b < NB; b++) fprintf(out, " %8.8s", cg_baseline_name(b));
        fprintf(out, "\n");
        const int n_groups = 3 + t->data->n_sources;
        for (int gi = 0; gi < n_groups && s == CG_OK; gi++) {
            const int ng = gi < 3 ? gi + 1 : 0, src = gi < 3 ? -1 : gi - 3;
            char group[64];
            if (gi < 3) snprintf(group, sizeof group, "%d deleted gene%s", ng, ng > 1 ? "s" : "");
            else snprintf(group, sizeof group, "%s", t->data->sources[src].source);
            cg_metrics gm[K], gb[NB][K];
            s = cg_metrics_eval_group(t->data, samples, n, pred, ng, src, gm);
            for (int b = 0; b < NB && s == CG_OK; b++)
                s = cg_metrics_eval_group(t->data, samples, n, bpred + (size_t)b * n * K, ng, src, gb[b]);
            for (int k = 0; k < K && s == CG_OK; k++) {
                if (gm[k].n == 0) continue;
                fprintf(out, "  %-40.40s %-8s %7lld %s", group, cg_label_name(k), (long long)gm[k].n,
                        fmt_r(r1, sizeof r1, gm[k].pearson));
                for (int b = 0; b < NB; b++) fprintf(out, " %s", fmt_r(r2, sizeof r2, gb[b][k].pearson));
                fprintf(out, "\n");
            }
        }
    }
    free(bpred);
    if (s == CG_OK && pred_out) {
        *pred_out = pred;
        *samples_out = samples;
        *n_out = n;
    } else {
        free(pred);
        free(samples);
    }
    return s;
}

/* a number for JSON: null when not finite */
static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fprintf(f, "null");
}

static void json_metrics(FILE *f, const char *key, const cg_metrics m[CG_NUM_LABELS]) {
    fprintf(f, ",\"%s\":{", key);
    for (int k = 0; k < CG_NUM_LABELS; k++) {
        fprintf(f, "%s\"%s\":{\"n\":%lld,\"mse\":", k ? "," : "", cg_label_name(k), (long long)m[k].n);
        json_num(f, m[k].mse);
        fprintf(f, ",\"rmse\":");
        json_num(f, m[k].rmse);
        fprintf(f, ",\"pearson\":");
        json_num(f, m[k].pearson);
        fprintf(f, ",\"spearman\":");
        json_num(f, m[k].spearman);
        fprintf(f, ",\"r2\":");
        json_num(f, m[k].r2);
        fprintf(f, "}");
    }
    fprintf(f, "}");
}

/* The run's config as one file that --config reads back: the model's keys with "model" first, then the
 * object "train" (malloc'd; NULL when out of memory). */
static char *cli_run_config_json(const cg_model_config *mc, const cg_train_config *tc) {
    char *mj = cg_model_config_json(mc), *tj = cg_train_config_json(tc);
    cJSON *m = cJSON_Parse(mj ? mj : ""), *t = cJSON_Parse(tj ? tj : "");
    free(mj);
    free(tj);
    char *txt = NULL;
    cJSON *tr = t ? cJSON_DetachItemFromObject(t, "train") : NULL;
    if (m && tr) {
        cJSON_AddItemToObject(m, "train", tr);
        tr = NULL;
        txt = cJSON_Print(m);
    }
    cJSON_Delete(tr);
    cJSON_Delete(m);
    cJSON_Delete(t);
    return txt;
}

enum {
    OPT_CONFIG = 256, OPT_DATA, OPT_OUT, OPT_RESUME, OPT_SPLIT, OPT_PERTURBATION, OPT_EPOCHS, OPT_BATCH,
    OPT_MAX_MINUTES, OPT_MAX_STEPS, OPT_SEED, OPT_THREADS, OPT_CHECKPOINT
};

/* The PNGs of a run, drawn in a child process (cli_run_isolated) */
typedef struct loss_plot {
    const char *path;
    const double *train, *val;
    int n;
    const char *title;
} loss_plot;
static cg_status draw_losses(void *arg) {
    const loss_plot *p = arg;
    return cg_plot_losses(p->path, p->train, p->val, p->n, p->title);
}
typedef struct scatter_plot {
    const char *path;
    const float *pred, *target;
    int64_t n;
    const char *label;
    double pearson;
} scatter_plot;
static cg_status draw_scatter(void *arg) {
    const scatter_plot *p = arg;
    return cg_plot_scatter(p->path, p->pred, p->target, p->n, p->label, p->pearson);
}

/* pre-training progress: one line per epoch (a line that rewrites itself on a terminal) */
typedef struct pretrain_progress {
    bool tty;
    double start, first, last;
    cli_threads *threads; /* adapted after every epoch */
} pretrain_progress;

static void pretrain_report(int epoch, int epochs, double loss, void *arg) {
    pretrain_progress *p = arg;
    cli_threads_adapt(p->threads);
    if (epoch == 1) p->first = loss;
    p->last = loss;
    if (p->tty)
        fprintf(stderr, "\r  pre-training epoch %d/%d  reconstruction loss %.4f  %.1f min   %s", epoch, epochs, loss,
                (cli_now() - p->start) / 60, epoch == epochs ? "\n" : "");
    else {
        printf("  pre-training epoch %d/%d reconstruction loss %.4f %.1f min\n", epoch, epochs, loss,
               (cli_now() - p->start) / 60);
        fflush(stdout);
    }
}

int cmd_train(int argc, char **argv) {
    const char *config = NULL, *data = NULL, *out = NULL, *resume = NULL;
    cg_model_config mc;
    cg_model_config_defaults(&mc, cg_model_type_find("hetero_cell"));
    cg_train_config tc = cg_train_defaults();
    /* -1: not given. The bounds are the library's (cellgraph/trainer.h), so the config checked below and
     * every checkpoint of the run are accepted by the checkpoint reader. */
    int64_t epochs = -1, batch = -1, threads = -1, seed = -1, max_steps = -1;
    double max_minutes = -1;
    const char *split = NULL, *perturbation = NULL;
    static const struct option LONG[] = {{"config", required_argument, NULL, OPT_CONFIG},
                                         {"data", required_argument, NULL, OPT_DATA},
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"resume", required_argument, NULL, OPT_RESUME},
                                         {"split", required_argument, NULL, OPT_SPLIT},
                                         {"perturbation", required_argument, NULL, OPT_PERTURBATION},
                                         {"epochs", required_argument, NULL, OPT_EPOCHS},
                                         {"batch-size", required_argument, NULL, OPT_BATCH},
                                         {"max-minutes", required_argument, NULL, OPT_MAX_MINUTES},
                                         {"max-steps", required_argument, NULL, OPT_MAX_STEPS},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {"threads", required_argument, NULL, OPT_THREADS},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, "train", argc, argv, "h", LONG);
    bool ok = true;
    for (int c; ok && (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_CONFIG: config = o.arg; break;
        case OPT_DATA: data = o.arg; break;
        case OPT_OUT: out = o.arg; break;
        case OPT_RESUME: resume = o.arg; break;
        case OPT_SPLIT: split = o.arg; break;
        case OPT_PERTURBATION: perturbation = o.arg; break;
        case OPT_EPOCHS: ok = cli_parse_int("train", "--epochs", o.arg, 1, CG_TRAIN_MAX_EPOCHS, &epochs); break;
        case OPT_BATCH: ok = cli_parse_int("train", "--batch-size", o.arg, 1, CG_TRAIN_MAX_BATCH, &batch); break;
        case OPT_MAX_MINUTES:
            ok = cli_parse_double("train", "--max-minutes", o.arg, 0, CG_TRAIN_MAX_MINUTES, &max_minutes);
            break;
        case OPT_MAX_STEPS: ok = cli_parse_int("train", "--max-steps", o.arg, 0, CG_TRAIN_MAX_STEPS, &max_steps); break;
        case OPT_SEED: ok = cli_parse_int("train", "--seed", o.arg, 0, CG_TRAIN_MAX_SEED, &seed); break;
        case OPT_THREADS: ok = cli_parse_int("train", "--threads", o.arg, 1, CG_MAX_THREADS, &threads); break;
        case 'h': return CLI_HELP;
        case CLI_ARG: return cli_unexpected(&o);
        default: return 2;
        }
    }
    if (!ok) return 2;
    cg_split_kind split_kind = CG_SPLIT_RANDOM;
    if (split && !cg_split_kind_parse(split, &split_kind)) {
        fprintf(stderr, "cellgraph train: --split must be random, gene1, gene2 or query, got '%s'\n", split);
        return 2;
    }
    cg_perturbation_choice pchoice = CG_PERTURB_AUTO;
    if (!cli_perturbation("train", perturbation, &pchoice)) return 2;
    if (threads > 0 && cli_threads_fix((int)threads) != 0) return 1;
    if (config && (cg_model_config_load(config, &mc) != CG_OK || cg_train_config_load(config, &tc) != CG_OK))
        return cli_fail();
    if (epochs >= 0) tc.epochs = (int)epochs;
    if (batch >= 0) tc.batch_size = (int)batch;
    if (max_minutes >= 0) tc.max_minutes = max_minutes;
    if (seed >= 0) tc.seed = (uint64_t)seed;
    if (max_steps >= 0) tc.max_steps = max_steps;
    if (split) tc.split = split_kind;
    if (perturbation) tc.perturbation = pchoice;
    if (cg_train_config_check(&tc, "command line") != CG_OK) return cli_fail(); /* the checkpoint reader's bounds */
    char run_dir[4096];
    if (resume) {
        snprintf(run_dir, sizeof run_dir, "%s", resume);
        char path[4200];
        snprintf(path, sizeof path, "%s/checkpoint_last.safetensors", resume);
        cg_checkpoint_info info;
        if (cg_checkpoint_info_read(path, &info) != CG_OK) return cli_fail();
        mc = info.model;
        int e = tc.epochs;
        tc = info.train;
        /* the run's settings, but the limits given on the command line (a run continued for longer) */
        if (epochs >= 0) tc.epochs = e;
        if (max_steps >= 0) tc.max_steps = max_steps;
        if (max_minutes >= 0) tc.max_minutes = max_minutes;
        if (perturbation) tc.perturbation = pchoice;
        if (cg_train_config_check(&tc, "command line") != CG_OK) return cli_fail();
    } else {
        if (out) snprintf(run_dir, sizeof run_dir, "%s", out);
        else {
            time_t tt = time(NULL);
            struct tm tmv;
            localtime_r(&tt, &tmv);
            strftime(run_dir, sizeof run_dir, "runs/%Y%m%d-%H%M%S", &tmv);
        }
        if (cli_mkdirs(run_dir) != CG_OK) return cli_fail();
    }
    cg_graph *g = NULL;
    cg_dataset d;
    if (cli_load_graph_for(data, mc.type->needs_relations, &g, &d, true, true) != CG_OK) return cli_fail();
    cg_model m;
    cg_trainer t;
    int rc = 1;
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s/.lock", run_dir);
    const int lock = cli_lock(lock_path, run_dir);
    if (lock < 0) goto done_data;
    if (cg_model_init(&m, &mc, g) != CG_OK) goto done_data;
    if (cg_trainer_init(&t, &m, g, &d, &tc) != CG_OK) goto done_model;
    if (resume && cg_trainer_resume(&t, run_dir) != CG_OK) goto done_trainer;
    {
        /* the run's config, as used */
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", run_dir);
        char *txt = cli_run_config_json(&mc, &tc);
        cg_status cs = txt ? write_text_file(path, txt) : cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
        free(txt);
        if (cs != CG_OK) goto done_trainer;
    }
    char desc[256] = "", what[320];
    if (mc.type->describe) mc.type->describe(cg_model_config_cdata(&mc), desc, sizeof desc);
    const bool perturbed = mc.type->uses_perturbed_pass ? mc.type->uses_perturbed_pass(cg_model_config_cdata(&mc))
                                                        : mc.type->uses_graph;
    if (perturbed)
        snprintf(what, sizeof what, "%s%s%s perturbation", desc, desc[0] ? ", " : "", cg_perturbation_path_name(t.mode_train));
    else
        snprintf(what, sizeof what, "%s", desc);
    cli_threads lt; /* the thread count follows the machine's load (cli.h) */
    cli_threads_init(&lt);
    cli_threads_adapt(&lt);
    printf("training %s (%s) on %lld training samples (%s split), "
           "validating on %lld, batch %d, %d epochs%s; %lld parameters; %s%d threads%s\nrun: %s\n",
           cg_model_title(&m), what, (long long)t.n_train,
           cg_split_kind_name(tc.split), (long long)t.n_val, tc.batch_size, tc.epochs,
           tc.max_minutes > 0 ? " (time limit)" : "", (long long)cg_model_params(&m)->total, lt.follow ? "up to " : "",
           lt.max, lt.follow ? " (fewer while other processes keep cores busy)" : "", run_dir);
    fflush(stdout);
    {
        const bool tty = isatty(STDERR_FILENO);
        const double start = cli_now();
        double last_print = start;
        char mpath[4200];
        snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", run_dir);
        if (resume && trim_metrics(mpath, t.step) != CG_OK) goto done_trainer;
        FILE *mf = fopen(mpath, resume ? "a" : "w");
        if (!mf) {
            cg_error(CG_ERR_IO, "%s: cannot write: %s", mpath, strerror(errno));
            goto done_trainer;
        }
        if (!resume && m.type->pretrain) { /* a new run: the model's pre-training, before the first step */
            pretrain_progress pp = {.tty = tty, .start = cli_now(), .first = NAN, .last = NAN, .threads = &lt};
            int pep = 0;
            if (m.type->pretrain(m.impl, tc.seed, pretrain_report, &pp, &pep) != CG_OK) {
                fclose(mf);
                goto done_trainer;
            }
            if (pep > 0) {
                fprintf(mf, "{\"step\":0,\"pretrain\":{\"epochs\":%d,\"first_loss\":", pep);
                json_num(mf, pp.first);
                fprintf(mf, ",\"last_loss\":");
                json_num(mf, pp.last);
                fprintf(mf, ",\"minutes\":%.4f}}\n", (cli_now() - pp.start) / 60);
                if (fflush(mf) != 0 || ferror(mf)) {
                    cg_error(CG_ERR_IO, "%s: write failed: %s", mpath, strerror(errno));
                    fclose(mf);
                    goto done_trainer;
                }
            }
        }
        bool stop = false, out_of_time = false, out_of_steps = tc.max_steps > 0 && t.step >= tc.max_steps;
        double step_seconds = 0; /* in cg_trainer_step only: the training throughput line */
        int64_t run_samples = 0, run_steps = 0;
        const int64_t per_epoch = (t.cfg.max_train_samples > 0 && t.cfg.max_train_samples < t.n_train ? t.cfg.max_train_samples
                                                                                                     : t.n_train);
        const int64_t steps_per_epoch = (per_epoch + tc.batch_size - 1) / tc.batch_size;
        while (!stop && t.epoch < tc.epochs && !out_of_time && !out_of_steps) {
            double loss_sum = 0;
            int64_t loss_n = 0, done_samples = 0;
            double ep_start = cli_now();
            bool epoch_done = false;
            /* steps until the epoch ends, a validation is due (val_every), or a time or step limit is reached */
            while (!epoch_done) {
                float loss;
                int64_t pos = t.epoch_pos;
                cli_threads_adapt(&lt);
                double step_start = cli_now();
                if (cg_trainer_step(&t, &loss, &epoch_done) != CG_OK) {
                    fclose(mf);
                    goto done_trainer;
                }
                step_seconds += cli_now() - step_start;
                run_steps++;
                run_samples += t.epoch_pos - pos;
                loss_sum += loss;
                loss_n++;
                done_samples += t.epoch_pos - pos;
                double tnow = cli_now(), rate = done_samples / fmax(1e-9, tnow - ep_start);
                char eta[32];
                fmt_time(eta, sizeof eta, (per_epoch - t.epoch_pos) / fmax(rate, 1e-9));
                if (tty) {
                    fprintf(stderr, "\r  epoch %d/%d  step %lld/%lld  loss %.4f  %.1f samples/s  ETA %s   ", t.epoch + 1,
                            tc.epochs, (long long)(t.epoch_pos + tc.batch_size - 1) / tc.batch_size,
                            (long long)steps_per_epoch, loss_sum / loss_n, rate, eta);
                } else if (tnow - last_print > 30) {
                    printf("  epoch %d/%d step %lld/%lld loss %.4f %.1f samples/s ETA %s\n", t.epoch + 1, tc.epochs,
                           (long long)(t.epoch_pos + tc.batch_size - 1) / tc.batch_size, (long long)steps_per_epoch,
                           loss_sum / loss_n, rate, eta);
                    fflush(stdout);
                    last_print = tnow;
                }
                if (tc.max_minutes > 0 && (tnow - start) / 60.0 >= tc.max_minutes) out_of_time = true;
                if (tc.max_steps > 0 && t.step >= tc.max_steps) out_of_steps = true;
                if (out_of_time || out_of_steps || (tc.val_every > 0 && t.step % tc.val_every == 0)) break;
            }
            if (tty) fprintf(stderr, "\n");
            /* validation: at the end of an epoch, every val_every steps, and when a limit stops the run */
            double val_loss = NAN;
            float *vpred = malloc(((size_t)t.n_val + 1) * CG_NUM_LABELS * sizeof *vpred);
            cg_metrics vm[CG_NUM_LABELS];
            cli_threads_adapt(&lt);
            if (!vpred || cg_trainer_predict_samples(&t, t.val_idx, t.n_val, vpred, &val_loss) != CG_OK ||
                cg_metrics_eval(&d, t.val_idx, t.n_val, vpred, vm) != CG_OK) {
                free(vpred);
                fclose(mf);
                goto done_trainer;
            }
            free(vpred);
            bool improved;
            double train_loss = loss_sum / fmax(1, (double)loss_n);
            if (epoch_done) cg_trainer_end_epoch(&t, val_loss, &improved, &stop); /* a complete epoch */
            else improved = cg_trainer_note_val(&t, val_loss); /* never counts toward plateau or early stopping */
            printf("%s %d%s (step %lld): train loss %.4f, val loss %.4f (z units), val pearson fitness %.3f, "
                   "epsilon %.3f, tau %.3f, lr %.2e, %.1f min%s\n",
                   "epoch", t.epoch + 1, epoch_done ? "" : " (part)", (long long)t.step, train_loss, val_loss,
                   vm[CG_LABEL_FITNESS].pearson, vm[CG_LABEL_EPSILON].pearson, vm[CG_LABEL_TAU].pearson, t.lr_now,
                   (cli_now() - start) / 60, improved ? "  (best)" : "");
            fflush(stdout);
            fprintf(mf, "{\"epoch\":%d,\"complete\":%s,\"step\":%lld,\"train_loss\":", t.epoch + 1,
                    epoch_done ? "true" : "false", (long long)t.step);
            json_num(mf, train_loss);
            fprintf(mf, ",\"val_loss\":");
            json_num(mf, val_loss);
            fprintf(mf, ",\"lr\":%.9g,\"minutes\":%.4f", t.lr_now, (cli_now() - start) / 60);
            json_metrics(mf, "val", vm);
            fprintf(mf, "}\n");
            if (fflush(mf) != 0 || ferror(mf)) { /* disk full, file-size limit: the line is not in the file */
                cg_error(CG_ERR_IO, "%s: write failed: %s", mpath, strerror(errno));
                fclose(mf);
                goto done_trainer;
            }
            /* best: the parameters just validated, at the epoch and position they were reached */
            if (improved && cg_trainer_save(&t, run_dir, "best") != CG_OK) {
                fclose(mf);
                goto done_trainer;
            }
            const int slot = cg_trainer_ensemble_slot(&t, val_loss); /* one of the k best validations */
            if (slot >= 0) {
                char tag[32];
                snprintf(tag, sizeof tag, "top%d", slot + 1);
                if (cg_trainer_save(&t, run_dir, tag) != CG_OK) {
                    fclose(mf);
                    goto done_trainer;
                }
            }
            if (epoch_done) cg_trainer_next_epoch(&t); /* last: resuming continues with the next epoch */
            if (cg_trainer_save(&t, run_dir, "last") != CG_OK) {
                fclose(mf);
                goto done_trainer;
            }
            if (out_of_time) printf("time limit of %.1f minutes reached\n", tc.max_minutes);
            if (out_of_steps) printf("step budget of %lld steps reached\n", (long long)tc.max_steps);
        }
        fclose(mf);
        if (run_steps > 0)
            printf("training: %lld steps, %lld samples in %.1f s of steps (%.1f samples/s), %.3g threads%s\n",
                   (long long)run_steps, (long long)run_samples, step_seconds, run_samples / fmax(step_seconds, 1e-9),
                   cli_threads_mean(&lt), lt.follow ? " on average" : "");
        char ppath[4200];
        snprintf(ppath, sizeof ppath, "%s/loss.png", run_dir);
        char ptitle[128];
        snprintf(ptitle, sizeof ptitle, "%s: loss per validation (train and validation on one scale)", cg_model_title(&m));
        /* the whole run's history (a resumed run's too): the validation lines of metrics.jsonl */
        double *train_hist = NULL, *val_hist = NULL;
        int n_hist = 0;
        if (read_loss_history(mpath, &train_hist, &val_hist, &n_hist) != CG_OK) goto done_trainer;
        loss_plot lp = {ppath, train_hist, val_hist, n_hist, ptitle};
        cg_status ps = n_hist > 0 ? cli_run_isolated(draw_losses, &lp, ppath) : CG_OK;
        free(train_hist);
        free(val_hist);
        if (ps != CG_OK)
            fprintf(stderr, "cellgraph: warning: %s\n", cg_last_error());
    }
    {
        /* test with the best checkpoint */
        char path[4200];
        snprintf(path, sizeof path, "%s/checkpoint_best.safetensors", run_dir);
        struct stat sb;
        if (stat(path, &sb) == 0 && cg_checkpoint_load_params(path, &m) != CG_OK) goto done_trainer;
        cg_metrics tm[CG_NUM_LABELS];
        float *pred = NULL;
        int64_t *samples = NULL, n = 0;
        /* an ensemble: the checkpoints of the k best validations (the slots filled) */
        char ens[CG_TRAIN_MAX_ENSEMBLE][4200];
        int n_ens = 0;
        for (int j = 0; j < tc.ensemble && tc.ensemble > 1; j++) {
            snprintf(ens[n_ens], sizeof ens[n_ens], "%s/checkpoint_top%d.safetensors", run_dir, j + 1);
            if (isfinite(t.ens_val[j]) && stat(ens[n_ens], &sb) == 0) n_ens++;
        }
        if (n_ens > 0) printf("ensemble: the mean of %d checkpoints (the best validations)\n", n_ens);
        if (report(&t, CG_SPLIT_TEST, "test", stdout, tm, &pred, &samples, &n, ens, n_ens) != CG_OK) goto done_trainer;
        float *target = malloc(((size_t)n + 1) * sizeof *target), *pk = malloc(((size_t)n + 1) * sizeof *pk);
        for (int k = 0; k < CG_NUM_LABELS && target && pk; k++) {
            int64_t c = 0;
            for (int64_t i = 0; i < n; i++) {
                float y = d.label[samples[i] * CG_NUM_LABELS + k];
                if (isnan(y)) continue;
                target[c] = y;
                pk[c++] = pred[i * CG_NUM_LABELS + k];
            }
            char ppath[4200];
            snprintf(ppath, sizeof ppath, "%s/test_%s.png", run_dir, cg_label_name(k));
            scatter_plot sp = {ppath, pk, target, c, cg_label_name(k), tm[k].pearson};
            if (c > 1 && cli_run_isolated(draw_scatter, &sp, ppath) != CG_OK)
                fprintf(stderr, "cellgraph: warning: %s\n", cg_last_error());
        }
        free(target);
        free(pk);
        free(pred);
        free(samples);
        char mpath[4200];
        snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", run_dir);
        FILE *mf = fopen(mpath, "a");
        if (!mf) {
            cg_error(CG_ERR_IO, "%s: cannot write: %s", mpath, strerror(errno));
            goto done_trainer;
        }
        fprintf(mf, "{\"eval\":\"test\",\"split\":\"%s\",\"step\":%lld", cg_split_kind_name(t.cfg.split),
                (long long)t.step);
        json_metrics(mf, "test", tm);
        fprintf(mf, "}\n");
        bool werr = fflush(mf) != 0 || ferror(mf);
        if (fclose(mf) != 0 || werr) {
            cg_error(CG_ERR_IO, "%s: write failed: %s", mpath, strerror(errno));
            goto done_trainer;
        }
        printf("\nrun stored in %s/: checkpoint_best.safetensors, checkpoint_last.safetensors, "
               "optimizer_last.safetensors, metrics.jsonl, config.json, loss.png, test_fitness.png, "
               "test_epsilon.png, test_tau.png\npredict with: cellgraph predict --checkpoint %s/checkpoint_best.safetensors "
               "GENE [GENE ...]\n",
               run_dir, run_dir);
    }
    rc = 0;
done_trainer:
    cg_trainer_free(&t);
done_model:
    cg_model_free(&m);
done_data:
    if (rc) cli_fail();
    cli_unlock(lock);
    cg_dataset_free(&d);
    cg_graph_free(g);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *split = "test", *perturbation = NULL;
    static const struct option LONG[] = {{"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
                                         {"data", required_argument, NULL, OPT_DATA},
                                         {"split", required_argument, NULL, OPT_SPLIT},
                                         {"perturbation", required_argument, NULL, OPT_PERTURBATION},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, "eval", argc, argv, "h", LONG);
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_CHECKPOINT: ckpt = o.arg; break;
        case OPT_DATA: data = o.arg; break;
        case OPT_SPLIT: split = o.arg; break;
        case OPT_PERTURBATION: perturbation = o.arg; break;
        case 'h': return CLI_HELP;
        case CLI_ARG: return cli_unexpected(&o);
        default: return 2;
        }
    }
    int which = strcmp(split, "test") == 0 ? CG_SPLIT_TEST : strcmp(split, "val") == 0 ? CG_SPLIT_VAL
                : strcmp(split, "train") == 0 ? CG_SPLIT_TRAIN : -1;
    if (which < 0) {
        fprintf(stderr, "cellgraph eval: --split must be test, val or train, got '%s'\n", split);
        return 2;
    }
    if (!ckpt) {
        fprintf(stderr, "usage: cellgraph eval --checkpoint F [--split test|val|train] [--data DIR]\n");
        return 2;
    }
    cg_checkpoint_info info;
    cg_graph *g;
    cg_dataset d;
    cg_model m;
    cg_perturbation_choice pc = CG_PERTURB_AUTO;
    if (!cli_perturbation("eval", perturbation, &pc)) return 2;
    if (cli_open_checkpoint(ckpt, data, &info, &g, &d, true, &m)) return 1;
    if (perturbation) info.train.perturbation = pc;
    cg_trainer t;
    int rc = 1;
    if (cg_trainer_init(&t, &m, g, &d, &info.train) == CG_OK) {
        if (t.dataset_checksum != info.dataset_checksum)
            fprintf(stderr, "cellgraph: warning: the dataset differs from the one the checkpoint was trained on\n");
        cg_metrics mm[CG_NUM_LABELS];
        rc = report(&t, which, split, stdout, mm, NULL, NULL, NULL, NULL, 0) == CG_OK ? 0 : cli_fail();
        cg_trainer_free(&t);
    } else {
        cli_fail();
    }
    cg_model_free(&m);
    cg_dataset_free(&d);
    cg_graph_free(g);
    return rc;
}
