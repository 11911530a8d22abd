/* The model interface (cellgraph/model.h) and the per-gene additive model (cellgraph/additive.h):
 *   - the registry and configs: the "model" key, its default, unknown models and keys as errors, round trips;
 *   - the additive forward against a hand computation, its gradient against central finite differences;
 *   - on the real data: the additive model overfits 64 real training genotypes through the trainer; it is
 *     trained, checkpointed and used by `cellgraph predict`, `eval` and `screen` (the interface end to end);
 *   - a HeteroCell checkpoint written before the registry (no "model" key) still loads and predicts. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cellgraph/additive.h"
#include "cellgraph/autograd.h"
#include "cellgraph/safetensors.h"
#include "cellgraph/trainer.h"
#include "testutil.h"

static cg_graph *G;
static cg_dataset D;
static bool have;

static int setup(void **state) {
    (void)state;
    const char *dir = getenv("CELLGRAPH_TEST_DATA");
    if (!dir || !*dir) return 0;
    cg_genes *genes = NULL;
    if (cg_graph_build(dir, "default", &G) != CG_OK || cg_graph_genes(G, &genes) != CG_OK ||
        cg_dataset_build(dir, genes, NULL, &D) != CG_OK) {
        fprintf(stderr, "%s\n", cg_last_error());
        return -1;
    }
    cg_genes_free(genes);
    have = true;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (have) {
        cg_dataset_free(&D);
        cg_graph_free(G);
    }
    return 0;
}

/* ------------------------------------------------------------------ registry and configs */

static void test_registry_and_configs(void **state) {
    (void)state;
    int n;
    const cg_model_type *const *types = cg_model_types(&n);
    assert_true(n >= 2);
    for (int i = 0; i < n; i++) {
        assert_ptr_equal(cg_model_type_find(types[i]->name), types[i]);
        assert_non_null(strstr(cg_model_type_names(), types[i]->name));
        assert_true(types[i]->config_size <= CG_MODEL_CONFIG_BYTES);
    }
    assert_null(cg_model_type_find("dango_typo"));

    cg_model_config c;
    /* no "model" key: HeteroCell (configs and checkpoints written before the registry) */
    assert_int_equal(cg_model_config_parse("{\"hidden_channels\": 32, \"train\": {\"epochs\": 2}}", "a.json", &c), CG_OK);
    assert_string_equal(c.type->name, "hetero_cell");
    assert_int_equal(cg_model_config_parse("{\"model\": \"additive\", \"aggregation\": \"mean\"}", "b.json", &c), CG_OK);
    assert_string_equal(c.type->name, "additive");
    assert_true(((const cg_additive_config *)cg_model_config_cdata(&c))->mean);
    char *txt = cg_model_config_json(&c);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "\"model\":\t\"additive\""));
    cg_model_config c2;
    assert_int_equal(cg_model_config_parse(txt, "roundtrip", &c2), CG_OK);
    assert_ptr_equal(c2.type, c.type);
    assert_memory_equal(c2.data, c.data, c.type->config_size);
    free(txt);

    /* errors name the file and the key */
    assert_int_equal(cg_model_config_parse("{\"model\": \"nope\"}", "c.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "c.json"));
    assert_non_null(strstr(cg_last_error(), "unknown model 'nope'"));
    assert_non_null(strstr(cg_last_error(), "additive"));
    assert_int_equal(cg_model_config_parse("{\"model\": 3}", "c.json", &c), CG_ERR_FORMAT);
    assert_int_equal(cg_model_config_parse("{\"model\": \"additive\", \"hidden_channels\": 8}", "d.json", &c),
                     CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "d.json"));
    assert_non_null(strstr(cg_last_error(), "hidden_channels"));
    assert_int_equal(cg_model_config_parse("{\"model\": \"additive\", \"aggregation\": \"max\"}", "e.json", &c),
                     CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "aggregation"));
    assert_int_equal(cg_model_config_parse("{\"model\": \"hetero_cell\", \"aggregation\": \"sum\"}", "f.json", &c),
                     CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "aggregation"));
    assert_int_equal(cg_model_config_parse("[1]", "g.json", &c), CG_ERR_FORMAT);

    /* paths: the additive model runs on both; HeteroCell's hypergraph form only on the full path */
    cg_perturbation_path p;
    assert_int_equal(cg_model_config_parse("{\"model\": \"additive\"}", "h", &c), CG_OK);
    assert_int_equal(cg_model_resolve_path(&c, CG_PERTURB_INCREMENTAL, true, &p), CG_OK);
    assert_int_equal(p, CG_PATH_INCREMENTAL);
    assert_int_equal(cg_model_config_parse("{\"metabolism\": \"hypergraph\"}", "i", &c), CG_OK);
    assert_int_equal(cg_model_resolve_path(&c, CG_PERTURB_AUTO, false, &p), CG_OK);
    assert_int_equal(p, CG_PATH_FULL);
    assert_int_equal(cg_model_resolve_path(&c, CG_PERTURB_INCREMENTAL, false, &p), CG_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------------ the additive model, no data */

/* y = bias + sum (or mean) of the genes' offsets, by hand; and d(sum r . y)/d(parameters) against central
 * differences in double */
static void check_additive(bool mean) {
    cg_additive m;
    cg_additive_config cfg = {.mean = mean};
    const int64_t NG = 7, n = 4, K = CG_NUM_LABELS;
    assert_int_equal(cg_additive_init(&m, &cfg, NG), CG_OK);
    tu_fill_uniform(m.params.values, m.params.total, -1.0f, 1.0f, 11);
    const int32_t geno[4 * 3] = {3, -1, -1, 0, 6, -1, 1, 2, 5, 6, 6, -1}; /* a repeat counts twice */
    float r[4 * CG_NUM_LABELS];
    tu_fill_uniform(r, n * K, -1.0f, 1.0f, 12);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    cg_tensor *y = cg_additive_forward(&ctx, &m, geno, n);
    assert_non_null(y);
    assert_int_equal(y->shape[0], n);
    assert_int_equal(cg_cols(y), K);
    double ref[4 * CG_NUM_LABELS];
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < K; k++) {
            double s = 0;
            int c = 0;
            for (int j = 0; j < 3; j++)
                if (geno[3 * i + j] >= 0) s += cg_f32(m.offsets)[geno[3 * i + j] * K + k], c++;
            ref[i * K + k] = cg_f32(m.bias)[k] + (mean ? s / c : s);
        }
    tu_check_close(mean ? "additive mean" : "additive sum", cg_f32(y), ref, n * K, 1e-6, 1e-3);
    /* gradient of L = sum r . y */
    cg_tensor *rt = cg_tensor_wrap2(&ctx, n, K, r);
    cg_tensor *loss = cg_sum(&ctx, cg_mul(&ctx, y, rt));
    cg_params_zero_grad(&m.params);
    assert_int_equal(cg_backward(&ctx, loss), CG_OK);
    double *num = malloc((size_t)m.params.total * sizeof *num);
    for (int64_t p = 0; p < m.params.total; p++) {
        double f[2];
        const float keep = m.params.values[p];
        for (int s = 0; s < 2; s++) {
            m.params.values[p] = keep + (s ? -1e-2f : 1e-2f);
            assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
            ctx.grad_enabled = false;
            cg_tensor *yy = cg_additive_forward(&ctx, &m, geno, n);
            f[s] = 0;
            for (int64_t q = 0; q < n * K; q++) f[s] += (double)cg_f32(yy)[q] * r[q];
        }
        m.params.values[p] = keep;
        num[p] = (f[0] - f[1]) / 2e-2;
    }
    tu_check_close("additive gradient", m.params.grads, num, m.params.total, 1e-3, 1e-2);
    /* a gene index outside the table, an empty genotype: errors naming them */
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    const int32_t bad[3] = {7, -1, -1};
    assert_null(cg_additive_forward(&ctx, &m, bad, 1));
    assert_non_null(strstr(cg_last_error(), "gene index 7"));
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    const int32_t none[3] = {-1, -1, -1};
    assert_null(cg_additive_forward(&ctx, &m, none, 1));
    assert_non_null(strstr(cg_last_error(), "no gene"));
    free(num);
    cg_ctx_free(&ctx);
    cg_additive_free(&m);
}

static void test_additive_forward_gradient(void **state) {
    (void)state;
    check_additive(false);
    check_additive(true);
}

/* ------------------------------------------------------------------ real data */

static void make_model(cg_model *m, const char *json) {
    cg_model_config mc;
    if (cg_model_config_parse(json, "test", &mc) != CG_OK) fail_msg("%s", cg_last_error());
    if (cg_model_init(m, &mc, G) != CG_OK) fail_msg("%s", cg_last_error());
}

/* mean training loss over one pass of the epoch's samples, without updating (z units) */
static double train_mse(cg_trainer *t) {
    float *pred = malloc((size_t)t->n_train * CG_NUM_LABELS * sizeof *pred);
    double loss;
    const int64_t n = t->cfg.max_train_samples;
    if (cg_trainer_predict_samples(t, t->order, n, pred, &loss) != CG_OK) fail_msg("%s", cg_last_error());
    free(pred);
    return loss;
}

/* the overfit test: 64 real training genotypes (their real labels), 200 epochs: the additive model (more
 * parameters than samples) drives the training loss to a small fraction of the training-mean loss */
static void test_additive_overfit(void **state) {
    (void)state;
    if (!have) skip();
    cg_model m;
    make_model(&m, "{\"model\": \"additive\"}");
    cg_train_config tc = cg_train_defaults();
    tc.batch_size = 16;
    tc.max_train_samples = 64;
    tc.epochs = 200;
    tc.lr = 0.05;
    tc.weight_decay = 0;
    tc.warmup_fraction = 0;
    cg_trainer t;
    if (cg_trainer_init(&t, &m, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    const double before = train_mse(&t);
    bool done;
    float loss;
    while (t.step < 4 * 200) {
        if (cg_trainer_step(&t, &loss, &done) != CG_OK) fail_msg("%s", cg_last_error());
        if (done) {
            /* the same 64 samples every epoch: keep the first epoch's order */
            t.epoch_pos = 0;
        }
    }
    const double after = train_mse(&t);
    print_message("additive overfit on 64 real genotypes: training loss %.4f -> %.5f (z units)\n", before, after);
    assert_true(before > 0.1);
    assert_true(after < 0.02 * before);
    cg_trainer_free(&t);
    cg_model_free(&m);
}

/* the loss of the best constant predictor of these samples (each label's mean over its valid entries),
 * on the training loss's scale: sum over labels of weight x variance of the z-scored labels */
static double mean_predictor_loss(const cg_trainer *t, const int64_t *samples, int64_t n) {
    double total = 0;
    for (int k = 0; k < CG_NUM_LABELS; k++) {
        double s = 0, s2 = 0;
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++) {
            float v = t->data->label[samples[i] * CG_NUM_LABELS + k];
            if (isnan(v)) continue;
            double z = (v - t->label_mean[k]) / t->label_std[k];
            s += z;
            s2 += z * z;
            c++;
        }
        if (c > 0) total += t->cfg.label_weights[k] * (s2 / c - (s / c) * (s / c));
    }
    return total;
}

/* HeteroCell's default (interaction) form overfits 32 real training genotypes that carry interaction
 * labels (epsilon or tau): its training loss falls below 5% of the best constant predictor's within 300
 * steps (measured 0.2%: 1.279 -> 0.0025 z units; after 150 steps 10%, since the default's drop_unseen
 * starts every gene without identity until its first label, and identity dropout adds noise). Note: the published form memorises these 32 too (3.9%
 * after 150 steps at this learning rate, on the incremental path); what it lacks is generalisation, which
 * the scoreboard measures (docs/models.md). Under the sanitizers: the same code paths for a few steps,
 * the loss must fall. */
static void test_hetero_cell_overfit(void **state) {
    (void)state;
    if (!have) skip();
#ifdef NDEBUG
    const int steps = 300;
#else
    const int steps = 6;
#endif
    cg_model m;
    make_model(&m, "{\"model\": \"hetero_cell\"}");
    cg_train_config tc = cg_train_defaults();
    tc.batch_size = 32;
    tc.max_train_samples = 32;
    tc.epochs = steps;
    tc.lr = 1e-2;
    tc.weight_decay = 0;
    tc.warmup_fraction = 0;
    tc.min_lr_ratio = 1;
    cg_trainer t;
    if (cg_trainer_init(&t, &m, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    /* the first 32 training samples (in the epoch's order) that have an epsilon or a tau label */
    int64_t k = 0;
    for (int64_t i = 0; i < t.n_train && k < 32; i++) {
        const float *y = t.data->label + t.order[i] * CG_NUM_LABELS;
        if (isnan(y[CG_LABEL_EPSILON]) && isnan(y[CG_LABEL_TAU])) continue;
        int64_t tmp = t.order[k];
        t.order[k++] = t.order[i];
        t.order[i] = tmp;
    }
    assert_int_equal(k, 32);
    const double mean_loss = mean_predictor_loss(&t, t.order, 32), before = train_mse(&t);
    bool done;
    float loss;
    while (t.step < steps) {
        if (cg_trainer_step(&t, &loss, &done) != CG_OK) fail_msg("%s", cg_last_error());
        assert_true(isfinite(loss));
        if (done) t.epoch_pos = 0; /* the same 32 samples every step */
    }
    const double after = train_mse(&t);
    print_message("hetero_cell overfit on 32 real genotypes with interaction labels: training loss %.4f -> %.5f "
                  "after %d steps; the best constant predictor's %.4f (z units)\n", before, after, steps, mean_loss);
    assert_true(mean_loss > 0.1);
#ifdef NDEBUG
    assert_true(after < 0.05 * mean_loss);
#else
    assert_true(after < before);
#endif
    cg_trainer_free(&t);
    cg_model_free(&m);
}

/* the interface end to end: the additive model trained by the trainer (an epoch of 2,048 genotypes),
 * checkpointed, then `predict`, `eval` and `screen` on its checkpoint */
static void test_additive_cli(void **state) {
    (void)state;
    if (!have || !getenv("CELLGRAPH_CLI")) skip();
    char dir[512], cache[600], ckpt[700], out[16384], genes[700], pairs[700];
    tu_temp_path(dir, sizeof dir, "additive");
    mkdir(dir, 0755);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("CELLGRAPH_CACHE", cache, 1);
    cg_model m;
    make_model(&m, "{\"model\": \"additive\"}");
    cg_train_config tc = cg_train_defaults();
    tc.batch_size = 64;
    tc.max_train_samples = 2048;
    tc.lr = 0.05;
    cg_trainer t;
    if (cg_trainer_init(&t, &m, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    float loss, first = NAN;
    bool done = false;
    while (!done) {
        if (cg_trainer_step(&t, &loss, &done) != CG_OK) fail_msg("%s", cg_last_error());
        if (isnan(first)) first = loss;
    }
    print_message("additive, one epoch of 2048 real genotypes: batch loss %.4f -> %.4f\n", first, loss);
    assert_int_equal(cg_trainer_save(&t, dir, "best"), CG_OK);
    cg_trainer_free(&t);
    cg_model_free(&m);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint_best.safetensors", dir);
    cg_checkpoint_info info;
    assert_int_equal(cg_checkpoint_info_read(ckpt, &info), CG_OK);
    assert_string_equal(info.model.type->name, "additive");

    /* predict: the first two-gene training genotype; the command prints what the model computes in process
     * (cg_model_predict, original units, 4 decimals), and differs from the first gene alone (per-gene offsets) */
    int64_t pick = -1;
    for (int64_t i = 0; i < D.n && pick < 0; i++)
        if (D.split[CG_SPLIT_RANDOM][i] == CG_SPLIT_TRAIN && D.genotype[3 * i + 1] >= 0 && D.genotype[3 * i + 2] < 0)
            pick = i;
    assert_true(pick >= 0);
    const int32_t geno[6] = {D.genotype[3 * pick], D.genotype[3 * pick + 1], -1, D.genotype[3 * pick], -1, -1};
    cg_model m2;
    assert_int_equal(cg_model_init(&m2, &info.model, G), CG_OK);
    assert_int_equal(cg_checkpoint_load_params(ckpt, &m2), CG_OK);
    cg_graph_index gi;
    assert_int_equal(cg_graph_index_init(&gi, G), CG_OK);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 1), CG_OK);
    float y[2 * CG_NUM_LABELS];
    assert_int_equal(cg_model_predict(&ctx, &m2, &gi, geno, 2, 32, CG_PATH_INCREMENTAL, y), CG_OK);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < CG_NUM_LABELS; k++)
            y[i * CG_NUM_LABELS + k] = y[i * CG_NUM_LABELS + k] * info.label_std[k] + info.label_mean[k];
    const char *g1 = cg_graph_node_name(G, CG_GENE, geno[0]), *g2 = cg_graph_node_name(G, CG_GENE, geno[1]);
    double fit, gi_val;
    char want[256];
    assert_int_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' %s %s", ckpt, g1, g2), 0);
    snprintf(want, sizeof want, "\n%s,%s\t%s,%s\t", g1, g2, g1, g2);
    char *line = strstr(out, want);
    if (!line) fail_msg("no line for %s,%s in:\n%s", g1, g2, out);
    assert_int_equal(sscanf(line + strlen(want), "%lf\t%lf", &fit, &gi_val), 2);
    assert_true(fabs(fit - y[0]) <= 1e-4 && fabs(gi_val - y[1]) <= 1e-4);
    assert_true(fabsf(y[0] - y[2]) > 1e-4f); /* the pair is not the single */
    print_message("additive: %s,%s fitness %.4f interaction %.4f; %s alone %.4f\n", g1, g2, y[0], y[1], g1, y[2]);
    cg_ctx_free(&ctx);
    cg_graph_index_free(&gi);
    cg_model_free(&m2);
    assert_int_not_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' CYS33", ckpt), 0);
    assert_non_null(strstr(out, "unknown gene 'CYS33'"));
    /* eval names the model beside the baselines */
    assert_int_equal(tu_run_cli(out, sizeof out, "eval --checkpoint '%s' --split val", ckpt), 0);
    assert_non_null(strstr(out, "additive"));
    assert_non_null(strstr(out, "multiplicative"));
    /* screen: C(4, 2) = 6 pairs */
    snprintf(genes, sizeof genes, "%s/genes.txt", dir);
    snprintf(pairs, sizeof pairs, "%s/pairs.tsv", dir);
    FILE *f = fopen(genes, "w");
    fprintf(f, "CYS3\nTFC3\nCDC28\nACT1\n");
    fclose(f);
    assert_int_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 2 -o '%s'", ckpt, genes,
                             pairs), 0);
    assert_non_null(strstr(out, "screen with additive"));
    f = fopen(pairs, "r");
    assert_non_null(f);
    int lines = 0, c;
    while ((c = fgetc(f)) != EOF) lines += c == '\n';
    fclose(f);
    assert_int_equal(lines, 2 + 6);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("CELLGRAPH_CACHE");
}

/* A HeteroCell checkpoint as written before the registry: the same file without the "model" key in its
 * model metadata. It loads as HeteroCell with the same parameters and `predict` runs on it. */
static void test_pre_registry_checkpoint(void **state) {
    (void)state;
    if (!have || !getenv("CELLGRAPH_CLI")) skip();
    char dir[512], cache[600], ckpt[700], old[700], out[8192];
    tu_temp_path(dir, sizeof dir, "oldckpt");
    mkdir(dir, 0755);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("CELLGRAPH_CACHE", cache, 1);
    cg_model m;
    make_model(&m, "{\"model\": \"hetero_cell\", \"hidden_channels\": 16, \"heads\": 2, \"num_layers\": 1}");
    cg_train_config tc = cg_train_defaults();
    tc.batch_size = 3;
    tc.max_train_samples = 3;
    cg_trainer t;
    if (cg_trainer_init(&t, &m, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    float loss;
    bool done;
    assert_int_equal(cg_trainer_step(&t, &loss, &done), CG_OK);
    assert_int_equal(cg_trainer_save(&t, dir, "best"), CG_OK);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint_best.safetensors", dir);
    snprintf(old, sizeof old, "%s/checkpoint_old.safetensors", dir);
    /* rewrite: every tensor and metadata entry, the model config without "model" */
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(ckpt, &st), CG_OK);
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    for (int i = 0; i < cg_safetensors_count(st); i++) {
        cg_safetensors_info in;
        assert_int_equal(cg_safetensors_info_at(st, i, &in), CG_OK);
        assert_int_equal(cg_safetensors_writer_add(&w, in.name, in.dtype, in.ndim, in.shape, in.data), CG_OK);
    }
    bool had_key = false;
    for (int i = 0; i < cg_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        assert_int_equal(cg_safetensors_metadata_at(st, i, &k, &v), CG_OK);
        char buf[8192];
        snprintf(buf, sizeof buf, "%s", v);
        if (strcmp(k, "model") == 0) {
            char *p = strstr(buf, "\"model\":\t\"hetero_cell\",");
            assert_non_null(p);
            memmove(p, p + strlen("\"model\":\t\"hetero_cell\","), strlen(p + strlen("\"model\":\t\"hetero_cell\",")) + 1);
            had_key = true;
        }
        assert_int_equal(cg_safetensors_writer_set_metadata(&w, k, buf), CG_OK);
    }
    assert_true(had_key);
    assert_int_equal(cg_safetensors_writer_write(&w, old), CG_OK);
    cg_safetensors_writer_free(&w);
    cg_safetensors_close(st);
    assert_int_equal(cg_safetensors_open(old, &st), CG_OK);
    assert_null(strstr(cg_safetensors_metadata(st, "model"), "\"model\""));
    cg_safetensors_close(st);

    cg_checkpoint_info info;
    assert_int_equal(cg_checkpoint_info_read(old, &info), CG_OK);
    assert_string_equal(info.model.type->name, "hetero_cell");
    cg_model m2;
    assert_int_equal(cg_model_init(&m2, &info.model, G), CG_OK);
    if (cg_checkpoint_load_params(old, &m2) != CG_OK) fail_msg("%s", cg_last_error());
    const cg_param_store *a = cg_model_params(&m), *b = cg_model_params(&m2);
    assert_int_equal(a->total, b->total);
    assert_memory_equal(a->values, b->values, a->total * sizeof(float));
    assert_int_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' CYS3 TFC3", old), 0);
    assert_non_null(strstr(out, "YAL001C,YAL012W"));
    /* a checkpoint of one model does not resume a run of another */
    cg_model m3;
    make_model(&m3, "{\"model\": \"additive\"}");
    cg_trainer t3;
    if (cg_trainer_init(&t3, &m3, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_trainer_save(&t, dir, "last"), CG_OK);
    assert_int_equal(cg_trainer_resume(&t3, dir), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "hetero_cell"));
    cg_trainer_free(&t3);
    cg_model_free(&m3);
    cg_trainer_free(&t);
    cg_model_free(&m);
    cg_model_free(&m2);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("CELLGRAPH_CACHE");
}

/* cg_checkpoint_info_read checks the progress values it reads (epoch, step: not covered by the parameter
 * CRC) before casting them: fuzz_safetensors found a checkpoint without "step" (NaN cast to int64_t, undefined
 * behaviour that UBSan reports). Absent values read as 0 (older files); NaN, out of range or fractional
 * values are a format error naming the key. */
static void write_ckpt_meta(const char *path, const char *epoch, const char *step) {
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    float x[3] = {0};
    int64_t n = 3;
    assert_int_equal(cg_safetensors_writer_add(&w, "x", CG_ST_F32, 1, &n, x), CG_OK);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "format", "cellgraph.checkpoint/1"), CG_OK);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "model", "{\"model\": \"additive\"}"), CG_OK);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "train", "{}"), CG_OK);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "label_statistics",
                                                        "{\"fitness\": {\"mean\": 1, \"std\": 0.1}, "
                                                        "\"epsilon\": {\"mean\": 0, \"std\": 0.1}, "
                                                        "\"tau\": {\"mean\": 0, \"std\": 0.1}}"),
                     CG_OK);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "graph_checksum", "0a1b2c3d"), CG_OK);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "dataset_checksum", "deadbeef"), CG_OK);
    if (epoch) assert_int_equal(cg_safetensors_writer_set_metadata(&w, "epoch", epoch), CG_OK);
    if (step) assert_int_equal(cg_safetensors_writer_set_metadata(&w, "step", step), CG_OK);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);
}

static void test_checkpoint_info_progress(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "progress.safetensors");
    cg_checkpoint_info info;
    write_ckpt_meta(path, "3", "120");
    if (cg_checkpoint_info_read(path, &info) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(info.epoch, 3);
    assert_int_equal(info.step, 120);
    write_ckpt_meta(path, NULL, NULL);
    if (cg_checkpoint_info_read(path, &info) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(info.epoch, 0);
    assert_int_equal(info.step, 0);
    static const char *const bad[][3] = {{"1", "nan", "step"},  {"1", "1e300", "step"}, {"1", "-1", "step"},
                                         {"1", "2.5", "step"},  {"nan", "1", "epoch"},  {"1e7", "1", "epoch"},
                                         {"-inf", "1", "epoch"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_ckpt_meta(path, bad[i][0], bad[i][1]);
        assert_int_equal(cg_checkpoint_info_read(path, &info), CG_ERR_FORMAT);
        char want[64];
        snprintf(want, sizeof want, "metadata %s", bad[i][2]);
        if (!strstr(cg_last_error(), want)) fail_msg("epoch %s step %s: %s", bad[i][0], bad[i][1], cg_last_error());
    }
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_and_configs),
        cmocka_unit_test(test_additive_forward_gradient),
        cmocka_unit_test(test_additive_overfit),
        cmocka_unit_test(test_hetero_cell_overfit),
        cmocka_unit_test(test_additive_cli),
        cmocka_unit_test(test_pre_registry_checkpoint),
        cmocka_unit_test(test_checkpoint_info_progress),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
