/* cellgraph benchmark: the scoreboard (DESIGN section 5b). Every chosen model on every chosen split with N
 * seeds, each run a `cellgraph train` with the model's config (configs/<model>.json) and its fixed step
 * budget (train.max_steps: the same work on any machine, never a time budget); the test metrics of each
 * run beside the three baselines (fitted on the same split's training part), mean and standard deviation
 * over the seeds, written as a Markdown table. A finished cell (a run whose metrics.jsonl holds its test
 * line) is kept, so the board can be filled over several sittings; --quick runs a tiny budget for smoke
 * tests into its own folder. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cellgraph/metrics.h"
#include "cellgraph/model.h"
#include "cellgraph/threads.h"
#include "cellgraph/trainer.h"
#include "cli.h"

#define MAX_ITEMS 8
#define MAX_SEEDS 10
#define K CG_NUM_LABELS

/* one run's test metrics: pearson, spearman, rmse per label (NaN when absent) */
typedef struct cell {
    double v[K][3];
    bool done;
} cell;

static int split_list(char *s, char **out, int max) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) out[n++] = tok;
    return n;
}

static double jnum(cJSON *o, const char *k) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* the test line of a finished run: {"eval":"test",...,"test":{label:{...}}} (the last one) */
static bool read_cell(const char *run_dir, cell *c) {
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[8192];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        static const char TAG[] = "{\"eval\":\"test\"";
        if (strncmp(line, TAG, sizeof TAG - 1) != 0) continue;
        cJSON *o = cJSON_Parse(line);
        cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "test");
        if (cJSON_IsObject(m)) {
            for (int k = 0; k < K; k++) {
                cJSON *l = cJSON_GetObjectItemCaseSensitive(m, cg_label_name((cg_label)k));
                c->v[k][0] = jnum(l, "pearson");
                c->v[k][1] = jnum(l, "spearman");
                c->v[k][2] = jnum(l, "rmse");
            }
            found = true;
        }
        cJSON_Delete(o);
    }
    fclose(f);
    c->done = found;
    return found;
}

/* Whether the config file at path names every key of the config printed as the JSON object text `printed`
 * (a run written before a model key existed would otherwise read as today's default for it) */
static bool names_every_key(const char *path, const char *printed) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!text) return false;
    text[n] = '\0';
    cJSON *run = cJSON_Parse(text), *cur = cJSON_Parse(printed);
    free(text);
    bool all = run && cur;
    cJSON *it;
    if (all)
        cJSON_ArrayForEach(it, cur) all = all && cJSON_GetObjectItemCaseSensitive(run, it->string) != NULL;
    cJSON_Delete(run);
    cJSON_Delete(cur);
    return all;
}

/* Whether the run in run_dir was trained with the model and training settings of the config file
 * cfg_path (the run's config.json against the file; the split, seed and step budget are the run's own).
 * The run's file must name every model key: one written before a key existed is not this config. */
static bool same_config(const char *run_dir, const char *cfg_path) {
    char path[4400];
    snprintf(path, sizeof path, "%s/config.json", run_dir);
    cg_model_config m_run, m_cur;
    cg_train_config t_run, t_cur;
    if (cg_model_config_load(path, &m_run) != CG_OK || cg_train_config_load(path, &t_run) != CG_OK ||
        cg_model_config_load(cfg_path, &m_cur) != CG_OK || cg_train_config_load(cfg_path, &t_cur) != CG_OK)
        return false;
    t_cur.split = t_run.split;
    t_cur.seed = t_run.seed;
    t_cur.max_steps = t_run.max_steps;
    t_cur.perturbation = t_run.perturbation;
    char *a = cg_model_config_json(&m_run), *b = cg_model_config_json(&m_cur);
    char *c = cg_train_config_json(&t_run), *d = cg_train_config_json(&t_cur);
    bool same = a && b && c && d && strcmp(a, b) == 0 && strcmp(c, d) == 0 && names_every_key(path, b);
    free(a), free(b), free(c), free(d);
    return same;
}

/* the validation losses of a run in order (at most max), from its metrics.jsonl; returns their number */
static int read_val_losses(const char *run_dir, double *v, int max) {
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        if (strncmp(line, "{\"epoch\"", 8) != 0) continue;
        cJSON *o = cJSON_Parse(line);
        double x = jnum(o, "val_loss"), st = jnum(o, "step");
        cJSON_Delete(o);
        if (isfinite(x)) v[n++] = x, (void)st;
    }
    fclose(f);
    return n;
}

/* "0.452 ± 0.013" over the finite values (n of them), "–" when none */
static void mean_sd(char *buf, size_t len, const double *x, int n) {
    double s = 0, q = 0;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) s += x[i], m++;
    if (m == 0) {
        snprintf(buf, len, "–");
        return;
    }
    double mean = s / m;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) q += (x[i] - mean) * (x[i] - mean);
    if (m == 1) snprintf(buf, len, "%.3f", mean);
    else snprintf(buf, len, "%.3f ± %.3f", mean, sqrt(q / (m - 1)));
}

static void machine(char *buf, size_t len) {
    char model[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                snprintf(model, sizeof model, "%s", p + 2);
                model[strcspn(model, "\n")] = '\0';
            }
            break;
        }
    if (f) fclose(f);
    struct utsname u;
    uname(&u);
    cli_threads threads;
    cli_threads_init(&threads);
    snprintf(buf, len, "%s, %ld cores, %s%d threads, %s %s", model, sysconf(_SC_NPROCESSORS_ONLN),
             threads.follow ? "up to " : "", threads.max, u.sysname, u.release);
}

enum { OPT_MODELS = 256, OPT_SPLITS, OPT_SEEDS, OPT_OUT, OPT_RUNS, OPT_DATA, OPT_CONFIGS, OPT_QUICK, OPT_REPORT_ONLY };

int cmd_benchmark(int argc, char **argv) {
    const char *models_s = NULL, *splits_s = NULL, *out = NULL, *runs = NULL, *data = NULL, *configs = "configs";
    bool quick = false, report_only = false;
    int64_t n_seeds = 3;
    static const struct option LONG[] = {{"models", required_argument, NULL, OPT_MODELS},
                                         {"splits", required_argument, NULL, OPT_SPLITS},
                                         {"seeds", required_argument, NULL, OPT_SEEDS},
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"runs", required_argument, NULL, OPT_RUNS},
                                         {"data", required_argument, NULL, OPT_DATA},
                                         {"configs", required_argument, NULL, OPT_CONFIGS},
                                         {"quick", no_argument, NULL, OPT_QUICK},
                                         {"report-only", no_argument, NULL, OPT_REPORT_ONLY},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, "benchmark", argc, argv, "h", LONG);
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_MODELS: models_s = o.arg; break;
        case OPT_SPLITS: splits_s = o.arg; break;
        case OPT_SEEDS:
            if (!cli_parse_int("benchmark", "--seeds", o.arg, 1, MAX_SEEDS, &n_seeds)) return 2;
            break;
        case OPT_OUT: out = o.arg; break;
        case OPT_RUNS: runs = o.arg; break;
        case OPT_DATA: data = o.arg; break;
        case OPT_CONFIGS: configs = o.arg; break;
        case OPT_QUICK: quick = true; break;
        case OPT_REPORT_ONLY: report_only = true; break;
        case 'h': return CLI_HELP; /* tools/cellgraph.c prints the usage */
        case CLI_ARG: return cli_unexpected(&o);
        default: return 2;
        }
    }
    char models_buf[512], splits_buf[256];
    if (models_s) {
        snprintf(models_buf, sizeof models_buf, "%s", models_s);
    } else { /* every registered model */
        int nt;
        const cg_model_type *const *all = cg_model_types(&nt);
        models_buf[0] = '\0';
        for (int i = 0; i < nt; i++) {
            size_t l = strlen(models_buf);
            snprintf(models_buf + l, sizeof models_buf - l, "%s%s", i ? "," : "", all[i]->name);
        }
    }
    snprintf(splits_buf, sizeof splits_buf, "%s", splits_s ? splits_s : "random,gene1,gene2,query");
    char *models[MAX_ITEMS], *splits[MAX_ITEMS];
    int n_models = split_list(models_buf, models, MAX_ITEMS), n_splits = split_list(splits_buf, splits, MAX_ITEMS);
    if (!runs) runs = quick ? "runs/benchmark-quick" : "runs/benchmark";
    char out_buf[4200];
    if (!out) {
        snprintf(out_buf, sizeof out_buf, quick ? "%s/results.md" : "docs/results.md", runs);
        out = out_buf;
    }
    /* check everything before the first run: known models with a budget, known splits */
    int64_t budget[MAX_ITEMS];
    char cfg_path[MAX_ITEMS][4200];
    const cg_model_type *types[MAX_ITEMS];
    int batch[MAX_ITEMS];
    for (int mi = 0; mi < n_models; mi++) {
        if (!(types[mi] = cg_model_type_find(models[mi]))) {
            fprintf(stderr, "cellgraph benchmark: unknown model '%s' (known: %s)\n", models[mi], cg_model_type_names());
            return 2;
        }
        snprintf(cfg_path[mi], sizeof cfg_path[mi], "%s/%s.json", configs, models[mi]);
        cg_model_config mc;
        cg_train_config tc;
        if (cg_model_config_load(cfg_path[mi], &mc) != CG_OK || cg_train_config_load(cfg_path[mi], &tc) != CG_OK)
            return cli_fail();
        if (mc.type != types[mi]) {
            fprintf(stderr, "cellgraph benchmark: %s is a config of the model '%s', not '%s'\n", cfg_path[mi],
                    mc.type->name, models[mi]);
            return 2;
        }
        if (tc.max_steps < 1 && !quick) {
            fprintf(stderr, "cellgraph benchmark: %s: train.max_steps must be set (the step budget of the scoreboard)\n",
                    cfg_path[mi]);
            return 2;
        }
        budget[mi] = quick ? 10 : tc.max_steps;
        batch[mi] = tc.batch_size;
    }
    cg_split_kind kinds[MAX_ITEMS];
    for (int si = 0; si < n_splits; si++)
        if (!cg_split_kind_parse(splits[si], &kinds[si]) || strcmp(splits[si], "gene") == 0) {
            fprintf(stderr, "cellgraph benchmark: unknown split '%s' (random, gene1, gene2, query)\n", splits[si]);
            return 2;
        }

    /* the runs */
    static cell cells[MAX_ITEMS][MAX_ITEMS][MAX_SEEDS];
    const int total = n_models * n_splits * (int)n_seeds;
    int k_run = 0;
    for (int mi = 0; mi < n_models; mi++)
        for (int si = 0; si < n_splits; si++)
            for (int sd = 0; sd < n_seeds; sd++) {
                char dir[4200];
                snprintf(dir, sizeof dir, "%s/%s/%s/seed%d", runs, models[mi], splits[si], 42 + sd);
                k_run++;
                if (read_cell(dir, &cells[mi][si][sd])) {
                    if (same_config(dir, cfg_path[mi])) {
                        printf("[%d/%d] %s %s seed %d: done (kept)\n", k_run, total, models[mi], splits[si], 42 + sd);
                        continue;
                    }
                    /* a finished run of another config is not a result of this one */
                    cells[mi][si][sd].done = false;
                    printf("[%d/%d] %s %s seed %d: %s was trained with another config than %s: %s\n", k_run, total,
                           models[mi], splits[si], 42 + sd, dir, cfg_path[mi], report_only ? "left out" : "trained again");
                }
                if (report_only) {
                    for (int k = 0; k < K; k++) cells[mi][si][sd].v[k][0] = cells[mi][si][sd].v[k][1] =
                                                    cells[mi][si][sd].v[k][2] = NAN;
                    printf("[%d/%d] %s %s seed %d: not run (left out of the table)\n", k_run, total, models[mi],
                           splits[si], 42 + sd);
                    continue;
                }
                printf("[%d/%d] %s %s seed %d: training %lld steps -> %s\n", k_run, total, models[mi], splits[si],
                       42 + sd, (long long)budget[mi], dir);
                fflush(stdout);
                char cmd[8400];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir); /* an unfinished cell starts over */
                if (system(cmd) != 0 || cli_mkdirs(dir) != CG_OK) {
                    fprintf(stderr, "cellgraph benchmark: cannot prepare %s\n", dir);
                    return 1;
                }
                char seed[32], steps[32];
                snprintf(seed, sizeof seed, "%d", 42 + sd);
                snprintf(steps, sizeof steps, "%lld", (long long)budget[mi]);
                char *targv[16];
                int targc = 0;
                targv[targc++] = "train";
                targv[targc++] = "--config", targv[targc++] = cfg_path[mi];
                targv[targc++] = "--split", targv[targc++] = splits[si];
                targv[targc++] = "--seed", targv[targc++] = seed;
                targv[targc++] = "--max-steps", targv[targc++] = steps;
                targv[targc++] = "--out", targv[targc++] = dir;
                if (data) targv[targc++] = "--data", targv[targc++] = (char *)data;
                targv[targc] = NULL;
                int rc = cmd_train(targc, targv);
                if (rc != 0 || !read_cell(dir, &cells[mi][si][sd])) {
                    fprintf(stderr, "cellgraph benchmark: the run in %s failed (exit %d); rerun to resume\n", dir, rc);
                    return 1;
                }
            }

    /* the baselines of each split, on its test part */
    cg_graph *g = NULL;
    cg_dataset d;
    if (cli_load_graph_and_dataset(data, &g, &d, true, false) != CG_OK) return cli_fail();
    cg_metrics base[MAX_ITEMS][CG_NUM_BASELINES][K];
    int64_t part[MAX_ITEMS][4];
    for (int si = 0; si < n_splits; si++) {
        memset(part[si], 0, sizeof part[si]);
        for (int64_t i = 0; i < d.n; i++) part[si][(unsigned)d.split[kinds[si]][i] <= 3 ? d.split[kinds[si]][i] : 3]++;
        for (int b = 0; b < CG_NUM_BASELINES; b++)
            if (cg_baseline_eval(&d, kinds[si], (cg_baseline)b, CG_SPLIT_TEST, base[si][b]) != CG_OK) {
                cg_dataset_free(&d);
                cg_graph_free(g);
                return cli_fail();
            }
    }

    /* the table, written to a temporary name and renamed */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", out, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cg_error(CG_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
        cg_dataset_free(&d);
        cg_graph_free(g);
        return cli_fail();
    }
    char mach[512], when[64], cmdline[1024] = "cellgraph";
    machine(mach, sizeof mach);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(cmdline);
        snprintf(cmdline + l, sizeof cmdline - l, " %s", argv[i]);
    }
    fprintf(f, "# Scoreboard%s\n\n", quick ? " (quick smoke run: 10 steps, not a result)" : "");
    fprintf(f, "Generated by `%s` on %s; machine: %s. Every model trained with its config's fixed step budget "
               "(never a time budget), %ld seed(s) (train.seed 42..%ld: data order and dropout; parameter "
               "initialisation is the config's seed), evaluated on the test part of each split in original "
               "units with its best validation checkpoint. Baselines are fitted on the same split's training "
               "part. Mean ± sample standard deviation over the seeds; `–`: undefined (no test sample of the label, or a "
               "constant prediction, e.g. a per-gene model on genes it never saw).\n\n",
            cmdline, when, mach, (long)n_seeds, 41 + (long)n_seeds);
    fprintf(f, "| model | config | step budget | batch |\n|---|---|---:|---:|\n");
    for (int mi = 0; mi < n_models; mi++)
        fprintf(f, "| %s | `%s` | %lld | %d |\n", types[mi]->title, cfg_path[mi], (long long)budget[mi], batch[mi]);
    /* has the budget flattened the validation loss? the validation losses of each model's seed-42 runs */
    fprintf(f, "\nBudget check (validation loss, z units, on the training loss's scale, at each validation of "
               "the seed-42 run; a budget is long enough when the last change is small):\n\n"
               "| model | split | validations | first | last three | last change |\n|---|---|---:|---:|---|---:|\n");
    for (int mi = 0; mi < n_models; mi++)
        for (int si = 0; si < n_splits; si++) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/%s/%s/seed42", runs, models[mi], splits[si]);
            double v[256];
            int nv = read_val_losses(dir, v, 256);
            if (nv == 0) continue;
            char last[128] = "";
            for (int i = nv >= 3 ? nv - 3 : 0; i < nv; i++) {
                size_t l = strlen(last);
                snprintf(last + l, sizeof last - l, "%s%.4f", l ? ", " : "", v[i]);
            }
            if (nv >= 3)
                fprintf(f, "| %s | %s | %d | %.4f | %s | %+.2f%% |\n", types[mi]->title, splits[si], nv, v[0], last,
                        100.0 * (v[nv - 1] - v[nv - 2]) / fabs(v[nv - 2]));
            else if (nv == 2) /* one change says nothing about a plateau */
                fprintf(f, "| %s | %s | %d | %.4f | %s | %+.2f%% (too few validations to judge) |\n", types[mi]->title,
                        splits[si], nv, v[0], last, 100.0 * (v[nv - 1] - v[nv - 2]) / fabs(v[nv - 2]));
            else
                fprintf(f, "| %s | %s | %d | %.4f | %s | – |\n", types[mi]->title, splits[si], nv, v[0], last);
        }
    static const char *const MET[3] = {"Pearson", "Spearman", "RMSE"};
    for (int si = 0; si < n_splits; si++) {
        fprintf(f, "\n## %s split (train %lld, validation %lld, test %lld, in none %lld)\n\n", splits[si],
                (long long)part[si][0], (long long)part[si][1], (long long)part[si][2], (long long)part[si][3]);
        fprintf(f, "| model | seeds |");
        for (int k = 0; k < K; k++)
            for (int q = 0; q < 3; q++) fprintf(f, " %s %s |", cg_label_name((cg_label)k), MET[q]);
        fprintf(f, "\n|---|---:|");
        for (int q = 0; q < 3 * K; q++) fprintf(f, "---:|");
        fprintf(f, "\n");
        for (int mi = 0; mi < n_models; mi++) {
            int nd = 0;
            for (int sd = 0; sd < n_seeds; sd++) nd += cells[mi][si][sd].done;
            fprintf(f, "| %s | %d |", types[mi]->title, nd);
            for (int k = 0; k < K; k++)
                for (int q = 0; q < 3; q++) {
                    double x[MAX_SEEDS];
                    for (int sd = 0; sd < n_seeds; sd++) x[sd] = cells[mi][si][sd].v[k][q];
                    char buf[64];
                    mean_sd(buf, sizeof buf, x, (int)n_seeds);
                    fprintf(f, " %s |", buf);
                }
            fprintf(f, "\n");
        }
        for (int b = 0; b < CG_NUM_BASELINES; b++) {
            fprintf(f, "| %s (baseline) | – |", cg_baseline_name((cg_baseline)b));
            for (int k = 0; k < K; k++) {
                const cg_metrics *m = &base[si][b][k];
                double v3[3] = {m->pearson, m->spearman, m->rmse};
                for (int q = 0; q < 3; q++) {
                    char buf[64];
                    mean_sd(buf, sizeof buf, &v3[q], m->n > 0 ? 1 : 0);
                    fprintf(f, " %s |", buf);
                }
            }
            fprintf(f, "\n");
        }
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad || rename(tmp, out) != 0) {
        cg_error(CG_ERR_IO, "%s: write failed: %s", out, strerror(errno));
        unlink(tmp);
        cg_dataset_free(&d);
        cg_graph_free(g);
        return cli_fail();
    }
    printf("wrote %s (%d runs)\n", out, total);
    cg_dataset_free(&d);
    cg_graph_free(g);
    return 0;
}
