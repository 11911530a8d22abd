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
#include "cellgraph/metrics.h"
#include "cellgraph/plot.h"
#include "cellgraph/threads.h"
#include "cellgraph/trainer.h"
#include "cli.h"

static void fmt_time(char *buf, size_t len, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, len, "?");
    else if (s >= 3600) snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

/* metrics of the model and the two baselines on one split, printed as a table */
static cg_status report(cg_trainer *t, int which_split, const char *split_name, FILE *out, cg_metrics model[2],
                        float **pred_out, int64_t **samples_out, int64_t *n_out) {
    int64_t *samples = NULL, n = 0;
    cg_status s = cg_eval_split_samples(t->data, t->cfg.split, which_split, &samples, &n);
    if (s != CG_OK) return s;
    float *pred = malloc(((size_t)n + 1) * 2 * sizeof *pred);
    if (!pred) {
        free(samples);
        return cg_error(CG_ERR_NOMEM, "out of memory");
    }
    double t0 = cli_now();
    s = cg_trainer_predict_samples(t, samples, n, pred, NULL);
    double dt = cli_now() - t0;
    if (s == CG_OK) s = cg_metrics_eval(t->data, samples, n, pred, model);
    cg_metrics base[CG_NUM_BASELINES][2];
    for (int b = 0; b < CG_NUM_BASELINES && s == CG_OK; b++)
        s = cg_baseline_eval(t->data, t->cfg.split, (cg_baseline)b, which_split, base[b]);
    if (s == CG_OK) {
        char buf[256];
        fprintf(out, "\n%s split (%s, %lld samples, predicted in %.1f s), original units:\n", split_name,
                cg_split_kind_name(t->cfg.split), (long long)n, dt);
        for (int k = 0; k < CG_NUM_LABELS; k++) {
            fprintf(out, "  %s\n  %s\n", cg_label_name(k), cg_metrics_format_header(buf, sizeof buf));
            fprintf(out, "  %s\n", cg_metrics_format_row(buf, sizeof buf, cg_model_title(t->model), &model[k]));
            for (int b = 0; b < CG_NUM_BASELINES; b++)
                fprintf(out, "  %s\n", cg_metrics_format_row(buf, sizeof buf, cg_baseline_name(b), &base[b][k]));
        }
    }
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

static void json_metrics(FILE *f, const char *key, const cg_metrics m[2]) {
    fprintf(f, ",\"%s\":{", key);
    for (int k = 0; k < CG_NUM_LABELS; k++)
        fprintf(f, "%s\"%s\":{\"n\":%lld,\"mse\":%.9g,\"rmse\":%.9g,\"pearson\":%.9g,\"spearman\":%.9g,\"r2\":%.9g}",
                k ? "," : "", cg_label_name(k), (long long)m[k].n, m[k].mse, m[k].rmse, isnan(m[k].pearson) ? 0 : m[k].pearson,
                isnan(m[k].spearman) ? 0 : m[k].spearman, isnan(m[k].r2) ? 0 : m[k].r2);
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

int cmd_train(int argc, char **argv) {
    const char *config = NULL, *data = NULL, *out = NULL, *resume = NULL, *v = NULL;
    cg_model_config mc;
    cg_model_config_defaults(&mc, cg_model_type_find("hetero_cell"));
    cg_train_config tc = cg_train_defaults();
    int epochs = -1, batch = -1, threads = -1;
    double max_minutes = -1;
    long long seed = -1;
    const char *split = NULL, *perturbation = NULL;
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (cli_option(argc, argv, &i, "--config", &config, &bad) || cli_option(argc, argv, &i, "--data", &data, &bad) ||
            cli_option(argc, argv, &i, "--out", &out, &bad) || cli_option(argc, argv, &i, "--resume", &resume, &bad) ||
            cli_option(argc, argv, &i, "--split", &split, &bad) ||
            cli_option(argc, argv, &i, "--perturbation", &perturbation, &bad)) {
            if (bad) return 2;
        } else if (cli_option(argc, argv, &i, "--epochs", &v, &bad)) {
            if (bad || (epochs = atoi(v)) < 1) return fprintf(stderr, "cellgraph train: --epochs needs a positive integer\n"), 2;
        } else if (cli_option(argc, argv, &i, "--batch-size", &v, &bad)) {
            if (bad || (batch = atoi(v)) < 1) return fprintf(stderr, "cellgraph train: --batch-size needs a positive integer\n"), 2;
        } else if (cli_option(argc, argv, &i, "--max-minutes", &v, &bad)) {
            if (bad || (max_minutes = atof(v)) <= 0) return fprintf(stderr, "cellgraph train: --max-minutes needs a positive number\n"), 2;
        } else if (cli_option(argc, argv, &i, "--seed", &v, &bad)) {
            if (bad || (seed = atoll(v)) < 0) return fprintf(stderr, "cellgraph train: --seed needs a non-negative integer\n"), 2;
        } else if (cli_option(argc, argv, &i, "--threads", &v, &bad)) {
            if (bad || (threads = atoi(v)) < 1 || cg_set_num_threads(threads) != CG_OK)
                return fprintf(stderr, "cellgraph train: --threads needs a positive integer\n"), 2;
        } else {
            fprintf(stderr, "cellgraph train: unknown argument '%s' (see cellgraph --help)\n", argv[i]);
            return 2;
        }
    }
    if (config && (cg_model_config_load(config, &mc) != CG_OK || cg_train_config_load(config, &tc) != CG_OK))
        return cli_fail();
    if (epochs > 0) tc.epochs = epochs;
    if (batch > 0) tc.batch_size = batch;
    if (max_minutes > 0) tc.max_minutes = max_minutes;
    if (seed >= 0) tc.seed = (uint64_t)seed;
    if (split && !cg_split_kind_parse(split, &tc.split)) {
        fprintf(stderr, "cellgraph train: --split must be random or gene\n");
        return 2;
    }
    if (!cli_perturbation("train", perturbation, &tc.perturbation)) return 2;
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
        if (epochs > 0) tc.epochs = e;
        if (!cli_perturbation("train", perturbation, &tc.perturbation)) return 2;
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
    if (cli_load_graph_and_dataset(data, &g, &d, true, true) != CG_OK) return cli_fail();
    cg_model m;
    cg_trainer t;
    int rc = 1;
    if (cg_model_init(&m, &mc, g) != CG_OK) goto done_data;
    if (cg_trainer_init(&t, &m, g, &d, &tc) != CG_OK) goto done_model;
    if (resume && cg_trainer_resume(&t, run_dir) != CG_OK) goto done_trainer;
    {
        /* the run's config, as used */
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", run_dir);
        char *txt = cli_run_config_json(&mc, &tc);
        FILE *f = txt ? fopen(path, "w") : NULL;
        if (f) {
            fprintf(f, "%s\n", txt);
            fclose(f);
        }
        free(txt);
    }
    char desc[256] = "", what[320];
    if (mc.type->describe) mc.type->describe(cg_model_config_cdata(&mc), desc, sizeof desc);
    if (mc.type->uses_graph)
        snprintf(what, sizeof what, "%s%s%s perturbation", desc, desc[0] ? ", " : "", cg_perturbation_path_name(t.mode_train));
    else
        snprintf(what, sizeof what, "%s", desc);
    printf("training %s (%s) on %lld training samples (%s split), "
           "validating on %lld, batch %d, %d epochs%s; %lld parameters; %d threads\nrun: %s\n",
           cg_model_title(&m), what, (long long)t.n_train,
           cg_split_kind_name(tc.split), (long long)t.n_val, tc.batch_size, tc.epochs,
           tc.max_minutes > 0 ? " (time limit)" : "", (long long)cg_model_params(&m)->total, cg_get_num_threads(),
           run_dir);
    fflush(stdout);
    {
        const bool tty = isatty(STDERR_FILENO);
        const double start = cli_now();
        double last_print = start;
        double train_hist[10000], val_hist[10000];
        int n_hist = 0;
        char mpath[4200];
        snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", run_dir);
        FILE *mf = fopen(mpath, resume ? "a" : "w");
        if (!mf) {
            cg_error(CG_ERR_IO, "%s: cannot write: %s", mpath, strerror(errno));
            goto done_trainer;
        }
        bool stop = false, out_of_time = false;
        const int64_t per_epoch = (t.cfg.max_train_samples > 0 && t.cfg.max_train_samples < t.n_train ? t.cfg.max_train_samples
                                                                                                     : t.n_train);
        const int64_t steps_per_epoch = (per_epoch + tc.batch_size - 1) / tc.batch_size;
        while (!stop && t.epoch < tc.epochs) {
            double loss_sum = 0;
            int64_t loss_n = 0, done_samples = 0;
            double ep_start = cli_now();
            bool epoch_done = false;
            while (!epoch_done) {
                float loss;
                int64_t pos = t.epoch_pos;
                if (cg_trainer_step(&t, &loss, &epoch_done) != CG_OK) {
                    fclose(mf);
                    goto done_trainer;
                }
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
                if (tc.max_minutes > 0 && (tnow - start) / 60.0 >= tc.max_minutes) {
                    out_of_time = true;
                    break;
                }
            }
            if (tty) fprintf(stderr, "\n");
            /* validation */
            double val_loss = NAN;
            float *vpred = malloc(((size_t)t.n_val + 1) * 2 * sizeof *vpred);
            cg_metrics vm[2];
            if (!vpred || cg_trainer_predict_samples(&t, t.val_idx, t.n_val, vpred, &val_loss) != CG_OK ||
                cg_metrics_eval(&d, t.val_idx, t.n_val, vpred, vm) != CG_OK) {
                free(vpred);
                fclose(mf);
                goto done_trainer;
            }
            free(vpred);
            bool improved;
            double train_loss = loss_sum / fmax(1, (double)loss_n);
            cg_trainer_end_epoch(&t, val_loss, &improved, &stop);
            printf("epoch %d: train loss %.4f, val loss %.4f (z units), val pearson fitness %.3f, interaction %.3f, "
                   "lr %.2e, %.1f min%s\n",
                   t.epoch + 1, train_loss, val_loss, vm[0].pearson, vm[1].pearson, t.lr_now, (cli_now() - start) / 60,
                   improved ? "  (best)" : "");
            fflush(stdout);
            fprintf(mf, "{\"epoch\":%d,\"step\":%lld,\"train_loss\":%.9g,\"val_loss\":%.9g,\"lr\":%.9g,\"minutes\":%.4f",
                    t.epoch + 1, (long long)t.step, train_loss, val_loss, t.lr_now, (cli_now() - start) / 60);
            json_metrics(mf, "val", vm);
            fprintf(mf, "}\n");
            fflush(mf);
            if (n_hist < 10000) train_hist[n_hist] = train_loss, val_hist[n_hist++] = val_loss;
            if (!out_of_time) cg_trainer_next_epoch(&t); /* the checkpoint then starts the next epoch */
            if ((improved && cg_trainer_save(&t, run_dir, "best") != CG_OK) || cg_trainer_save(&t, run_dir, "last") != CG_OK) {
                fclose(mf);
                goto done_trainer;
            }
            if (out_of_time) {
                printf("time limit of %.1f minutes reached\n", tc.max_minutes);
                break;
            }
        }
        fclose(mf);
        char ppath[4200];
        snprintf(ppath, sizeof ppath, "%s/loss.png", run_dir);
        char ptitle[128];
        snprintf(ptitle, sizeof ptitle, "%s: loss per epoch", cg_model_title(&m));
        if (n_hist > 0 && cg_plot_losses(ppath, train_hist, val_hist, n_hist, ptitle) != CG_OK)
            fprintf(stderr, "cellgraph: warning: %s\n", cg_last_error());
    }
    {
        /* test with the best checkpoint */
        char path[4200];
        snprintf(path, sizeof path, "%s/checkpoint_best.safetensors", run_dir);
        struct stat sb;
        if (stat(path, &sb) == 0 && cg_checkpoint_load_params(path, &m) != CG_OK) goto done_trainer;
        cg_metrics tm[2];
        float *pred = NULL;
        int64_t *samples = NULL, n = 0;
        if (report(&t, CG_SPLIT_TEST, "test", stdout, tm, &pred, &samples, &n) != CG_OK) goto done_trainer;
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
            if (c > 1 && cg_plot_scatter(ppath, pk, target, c, cg_label_name(k), tm[k].pearson) != CG_OK)
                fprintf(stderr, "cellgraph: warning: %s\n", cg_last_error());
        }
        free(target);
        free(pk);
        free(pred);
        free(samples);
        char mpath[4200];
        snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", run_dir);
        FILE *mf = fopen(mpath, "a");
        if (mf) {
            fprintf(mf, "{\"test\":true");
            json_metrics(mf, "test", tm);
            fprintf(mf, "}\n");
            fclose(mf);
        }
        printf("\nrun stored in %s/: checkpoint_best.safetensors, checkpoint_last.safetensors, "
               "optimizer_last.safetensors, metrics.jsonl, config.json, loss.png, test_fitness.png, "
               "test_gene_interaction.png\npredict with: cellgraph predict --checkpoint %s/checkpoint_best.safetensors "
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
    cg_dataset_free(&d);
    cg_graph_free(g);
    return rc;
}

/* model + graph + dataset for a checkpoint, with the checksums verified */
int cli_open_checkpoint(const char *ckpt, const char *data, cg_checkpoint_info *info, cg_graph **g, cg_dataset *d,
                           bool need_dataset, cg_model *m) {
    if (cg_checkpoint_info_read(ckpt, info) != CG_OK) return cli_fail();
    if (cli_load_graph_and_dataset(data, g, d, need_dataset, false) != CG_OK) return cli_fail();
    if (cg_graph_checksum(*g) != info->graph_checksum) {
        cg_error(CG_ERR_FORMAT, "%s: the checkpoint was trained on another graph (checksum %08x, this data's graph %08x)",
                 ckpt, info->graph_checksum, cg_graph_checksum(*g));
        if (need_dataset) cg_dataset_free(d);
        cg_graph_free(*g);
        return cli_fail();
    }
    if (cg_model_init(m, &info->model, *g) != CG_OK) {
        if (need_dataset) cg_dataset_free(d);
        cg_graph_free(*g);
        return cli_fail();
    }
    if (cg_checkpoint_load_params(ckpt, m) != CG_OK) {
        cg_model_free(m);
        if (need_dataset) cg_dataset_free(d);
        cg_graph_free(*g);
        return cli_fail();
    }
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *split = "test", *perturbation = NULL;
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (cli_option(argc, argv, &i, "--checkpoint", &ckpt, &bad) || cli_option(argc, argv, &i, "--data", &data, &bad) ||
            cli_option(argc, argv, &i, "--split", &split, &bad) ||
            cli_option(argc, argv, &i, "--perturbation", &perturbation, &bad)) {
            if (bad) return 2;
        } else {
            fprintf(stderr, "cellgraph eval: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    int which = strcmp(split, "test") == 0 ? CG_SPLIT_TEST : strcmp(split, "val") == 0 ? CG_SPLIT_VAL
                : strcmp(split, "train") == 0 ? CG_SPLIT_TRAIN : -1;
    if (!ckpt || which < 0) {
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
        cg_metrics mm[2];
        rc = report(&t, which, split, stdout, mm, NULL, NULL, NULL) == CG_OK ? 0 : cli_fail();
        cg_trainer_free(&t);
    } else {
        cli_fail();
    }
    cg_model_free(&m);
    cg_dataset_free(&d);
    cg_graph_free(g);
    return rc;
}

/* parses one genotype (names separated by spaces, tabs or commas) into sorted gene indices */
static cg_status parse_genotype(const cg_genes *genes, char **names, int n, int32_t out[3], const char *where) {
    if (n < 1 || n > 3)
        return cg_error(CG_ERR_INVALID_ARG, "%s: a genotype has 1 to 3 genes, got %d", where, n);
    for (int k = 0; k < 3; k++) out[k] = -1;
    for (int k = 0; k < n; k++) {
        int32_t gi;
        if (cg_genes_resolve(genes, names[k], &gi) != CG_OK) return cg_error_wrap(cg_last_status(), "%s", where);
        for (int j = 0; j < k; j++)
            if (out[j] == gi)
                return cg_error(CG_ERR_INVALID_ARG, "%s: gene '%s' is repeated in the genotype (as '%s')", where, names[k],
                                names[j]);
        out[k] = gi;
    }
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (out[b] < out[a]) {
                int32_t tmp = out[a];
                out[a] = out[b];
                out[b] = tmp;
            }
    return CG_OK;
}

int cmd_predict(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *input = NULL, *output = NULL, *perturbation = NULL;
    char *names[64];
    int n_names = 0;
    for (int i = 1; i < argc; i++) {
        bool bad = false;
        if (cli_option(argc, argv, &i, "--checkpoint", &ckpt, &bad) || cli_option(argc, argv, &i, "--data", &data, &bad) ||
            cli_option(argc, argv, &i, "--input", &input, &bad) || cli_option(argc, argv, &i, "-o", &output, &bad) ||
            cli_option(argc, argv, &i, "--output", &output, &bad) ||
            cli_option(argc, argv, &i, "--perturbation", &perturbation, &bad)) {
            if (bad) return 2;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "cellgraph predict: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (n_names < 64) {
            names[n_names++] = argv[i];
        }
    }
    if (!ckpt || (!input && n_names == 0) || (input && n_names > 0)) {
        fprintf(stderr, "usage: cellgraph predict --checkpoint F GENE [GENE ...]\n"
                        "       cellgraph predict --checkpoint F --input genotypes.tsv [-o predictions.tsv]\n");
        return 2;
    }
    cg_perturbation_choice pc = CG_PERTURB_AUTO;
    if (!cli_perturbation("predict", perturbation, &pc)) return 2;
    cg_checkpoint_info info;
    cg_graph *g;
    cg_dataset unused;
    cg_model m;
    if (cli_open_checkpoint(ckpt, data, &info, &g, &unused, false, &m)) return 1;
    cg_perturbation_path mode;
    if (cg_model_resolve_path(&m.cfg, perturbation ? pc : info.train.perturbation, false, &mode) != CG_OK) {
        cg_model_free(&m);
        cg_graph_free(g);
        return cli_fail();
    }
    cg_genes *genes = NULL;
    int rc = 1;
    int32_t *geno = NULL;
    char **labels = NULL;
    int64_t n = 0, cap = 0;
    if (cg_graph_genes(g, &genes) != CG_OK) goto out;
    if (!input) {
        geno = malloc(3 * sizeof *geno);
        labels = malloc(sizeof *labels);
        if (parse_genotype(genes, names, n_names, geno, "command line") != CG_OK) goto out;
        size_t len = 1;
        for (int k = 0; k < n_names; k++) len += strlen(names[k]) + 1;
        labels[0] = malloc(len);
        labels[0][0] = '\0';
        for (int k = 0; k < n_names; k++) strcat(strcat(labels[0], k ? "," : ""), names[k]);
        n = 1;
    } else {
        FILE *f = fopen(input, "r");
        if (!f) {
            cg_error(CG_ERR_IO, "%s: cannot open: %s", input, strerror(errno));
            goto out;
        }
        char line[4096];
        int64_t lineno = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            size_t l = strlen(line);
            while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) line[--l] = '\0';
            char copy[4096];
            snprintf(copy, sizeof copy, "%s", line);
            char *toks[8];
            int nt = 0;
            for (char *tok = strtok(line, " \t,"); tok && nt < 8; tok = strtok(NULL, " \t,")) toks[nt++] = tok;
            if (nt == 0 || toks[0][0] == '#') continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                geno = realloc(geno, (size_t)cap * 3 * sizeof *geno);
                labels = realloc(labels, (size_t)cap * sizeof *labels);
            }
            char where[4200];
            snprintf(where, sizeof where, "%s: line %lld", input, (long long)lineno);
            if (parse_genotype(genes, toks, nt, geno + 3 * n, where) != CG_OK) {
                fclose(f);
                goto out;
            }
            labels[n++] = strdup(copy);
        }
        fclose(f);
        if (n == 0) {
            cg_error(CG_ERR_FORMAT, "%s: no genotype in the file", input);
            goto out;
        }
    }
    {
        cg_graph_index hg;
        if (cg_graph_index_init(&hg, g) != CG_OK) goto out;
        float *pred = malloc((size_t)n * 2 * sizeof *pred);
        cg_ctx ctx;
        cg_status s = cg_ctx_init(&ctx, 0, 1);
        if (s == CG_OK && !pred) s = cg_error(CG_ERR_NOMEM, "out of memory");
        if (s == CG_OK) s = cg_model_predict(&ctx, &m, &hg, geno, n, 32, mode, pred);
        for (int64_t i = 0; s == CG_OK && i < n; i++)
            for (int k = 0; k < 2; k++) pred[i * 2 + k] = pred[i * 2 + k] * info.label_std[k] + info.label_mean[k];
        if (s == CG_OK) {
            char tmp[4300];
            FILE *f = stdout;
            if (output) {
                snprintf(tmp, sizeof tmp, "%s.tmp.%d", output, (int)getpid());
                f = fopen(tmp, "w");
                if (!f) s = cg_error(CG_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
            }
            if (s == CG_OK) {
                fprintf(f, "genotype\tgenes\tfitness\tgene_interaction\n");
                for (int64_t i = 0; i < n; i++) {
                    fprintf(f, "%s\t", labels[i]);
                    for (int k = 0; k < 3 && geno[3 * i + k] >= 0; k++)
                        fprintf(f, "%s%s", k ? "," : "", cg_graph_node_name(g, CG_GENE, geno[3 * i + k]));
                    fprintf(f, "\t%.4f\t%.4f\n", pred[2 * i], pred[2 * i + 1]);
                }
            }
            if (output && s == CG_OK) {
                bool bad = ferror(f) != 0;
                if (fclose(f) != 0 || bad || rename(tmp, output) != 0) {
                    s = cg_error(CG_ERR_IO, "%s: write failed: %s", output, strerror(errno));
                    unlink(tmp);
                } else {
                    printf("wrote %lld predictions to %s\n", (long long)n, output);
                }
            }
        }
        cg_ctx_free(&ctx);
        free(pred);
        cg_graph_index_free(&hg);
        if (s == CG_OK) rc = 0;
    }
out:
    if (rc) cli_fail();
    for (int64_t i = 0; i < n; i++) free(labels[i]);
    free(labels);
    free(geno);
    cg_genes_free(genes);
    cg_model_free(&m);
    cg_graph_free(g);
    return rc;
}
