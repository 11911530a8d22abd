/* The trainer on the real graph and dataset: a run resumed from its last checkpoint continues bitwise
 * identically; the loss decreases; corrupted or foreign checkpoints are errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

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
    cg_dataset_free(&D);
    cg_graph_free(G);
    return 0;
}

/* a small HeteroCell, through the model interface as the commands use it */
static cg_model_config small_model(void) {
    cg_model_config c;
    if (cg_model_config_parse("{\"model\": \"hetero_cell\", \"hidden_channels\": 16, \"heads\": 2, \"num_layers\": 1}",
                              "small", &c) != CG_OK)
        fail_msg("%s", cg_last_error());
    return c;
}

static cg_train_config small_train(void) {
    cg_train_config c = cg_train_defaults();
    c.batch_size = 3;
    c.max_train_samples = 9; /* 3 steps per epoch */
    c.epochs = 3;
    c.lr = 3e-3;
    return c;
}

static void make(cg_model *m, cg_trainer *t) {
    cg_model_config mc = small_model();
    cg_train_config tc = small_train();
    assert_int_equal(cg_model_init(m, &mc, G), CG_OK);
    if (cg_trainer_init(t, m, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
}

/* n steps, crossing epochs like the command does (validation skipped) */
static void steps(cg_trainer *t, int n) {
    for (int i = 0; i < n; i++) {
        float loss;
        bool done;
        if (cg_trainer_step(t, &loss, &done) != CG_OK) fail_msg("%s", cg_last_error());
        assert_true(isfinite(loss));
        if (done) {
            bool improved, stop;
            cg_trainer_end_epoch(t, 1.0 / (1 + t->epoch), &improved, &stop);
            cg_trainer_next_epoch(t);
        }
    }
}

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

/* The last checkpoint and the optimizer state have one commit point (cg_trainer_save): a save stopped
 * at any instant leaves a run that resumes. The instants, made by hand from two real saves (steps 2, 4):
 * before the commit (checkpoint and optimizer_last of step 2, a finished optimizer_next of step 4); after
 * the commit, before the final rename (checkpoint of step 4, optimizer_last of step 2, optimizer_next of
 * step 4). Without the optimizer state of the checkpoint's step, resume is refused naming both steps. */
static void test_resume_after_interrupted_save(void **state) {
    (void)state;
    if (!have) skip();
    char dir[512], p[6][1024];
    tu_temp_path(dir, sizeof dir, "run_interrupted");
    mkdir(dir, 0755);
    const char *names[6] = {"checkpoint_last", "optimizer_last", "optimizer_next", "ckpt2", "opt2", "opt4"};
    for (int i = 0; i < 6; i++) snprintf(p[i], sizeof p[i], "%s/%s.safetensors", dir, names[i]);
    cg_model m;
    cg_trainer t;
    make(&m, &t);
    steps(&t, 2);
    assert_int_equal(cg_trainer_save(&t, dir, "last"), CG_OK);
    assert_int_equal(access(p[2], F_OK), -1); /* renamed into optimizer_last */
    copy_file(p[0], p[3]);
    copy_file(p[1], p[4]);
    steps(&t, 2);
    assert_int_equal(cg_trainer_save(&t, dir, "last"), CG_OK);
    copy_file(p[1], p[5]);
    const int64_t P = cg_model_params(&m)->total;
    float *m4 = malloc((size_t)P * sizeof *m4);
    memcpy(m4, t.opt.exp_avg, (size_t)P * sizeof *m4);
    for (int instant = 0; instant < 3; instant++) {
        if (instant == 0) { /* before the commit */
            copy_file(p[3], p[0]);
            copy_file(p[4], p[1]);
            copy_file(p[5], p[2]);
        } else if (instant == 1) { /* after the commit, before the rename */
            copy_file(p[5], p[2]);
            copy_file(p[4], p[1]);
            /* checkpoint of step 4 */
            assert_int_equal(cg_trainer_save(&t, dir, "best"), CG_OK);
            char best[1024];
            snprintf(best, sizeof best, "%s/checkpoint_best.safetensors", dir);
            copy_file(best, p[0]);
        } else { /* the optimizer state of step 4 lost */
            copy_file(p[4], p[1]);
            unlink(p[2]);
        }
        cg_model m2;
        cg_trainer t2;
        make(&m2, &t2);
        cg_status s = cg_trainer_resume(&t2, dir);
        if (instant < 2) {
            if (s != CG_OK) fail_msg("instant %d: %s", instant, cg_last_error());
            assert_int_equal(t2.step, instant == 0 ? 2 : 4);
            if (instant == 1) assert_memory_equal(t2.opt.exp_avg, m4, (size_t)P * sizeof *m4);
            steps(&t2, 1); /* and it trains on */
        } else {
            assert_int_equal(s, CG_ERR_FORMAT);
            assert_non_null(strstr(cg_last_error(), "step 2"));
            assert_non_null(strstr(cg_last_error(), "step 4"));
        }
        cg_trainer_free(&t2);
        cg_model_free(&m2);
    }
    free(m4);
    cg_trainer_free(&t);
    cg_model_free(&m);
}

static void test_resume_bitwise(void **state) {
    (void)state;
    if (!have) skip();
    char dir[512];
    tu_temp_path(dir, sizeof dir, "run");
    mkdir(dir, 0755);
    /* straight: 7 steps */
    cg_model m1;
    cg_trainer t1;
    make(&m1, &t1);
    steps(&t1, 7);
    /* 4 steps, checkpoint, a fresh process-like restart, 3 steps */
    cg_model m2, m3;
    cg_trainer t2, t3;
    make(&m2, &t2);
    steps(&t2, 4);
    assert_int_equal(cg_trainer_save(&t2, dir, "last"), CG_OK);
    cg_trainer_free(&t2);
    cg_model_free(&m2);
    make(&m3, &t3);
    if (cg_trainer_resume(&t3, dir) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(t3.step, 4);
    steps(&t3, 3);
    assert_int_equal(t3.step, t1.step);
    assert_int_equal(t3.epoch, t1.epoch);
    const cg_param_store *p1 = cg_model_params(&m1), *p3 = cg_model_params(&m3);
    assert_memory_equal(p3->values, p1->values, p1->total * sizeof(float));
    assert_memory_equal(t3.opt.exp_avg, t1.opt.exp_avg, p1->total * sizeof(float));
    /* predictions in original units are finite */
    float pred[CG_NUM_LABELS * 4];
    double vloss;
    assert_int_equal(cg_trainer_predict_samples(&t3, t3.val_idx, 4, pred, &vloss), CG_OK);
    for (int i = 0; i < CG_NUM_LABELS * 4; i++) assert_true(isfinite(pred[i]));
    assert_true(isfinite(vloss));

    /* a corrupted checkpoint (a parameter byte flipped) is refused by its CRC */
    char path[1024];
    snprintf(path, sizeof path, "%s/checkpoint_last.safetensors", dir);
    FILE *f = fopen(path, "r+b");
    fseek(f, -3, SEEK_END);
    int c = fgetc(f);
    fseek(f, -3, SEEK_END);
    fputc(c ^ 0x40, f);
    fclose(f);
    assert_int_equal(cg_checkpoint_load_params(path, &m3), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "CRC-32"));
    cg_trainer_free(&t1);
    cg_trainer_free(&t3);
    cg_model_free(&m1);
    cg_model_free(&m3);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* the composite loss (MSE + DistLoss + SupCR) trains too */
static void test_composite_loss(void **state) {
    (void)state;
    if (!have) skip();
    /* SupCR works on z_p: HeteroCell with its global head */
    cg_model_config mc;
    if (cg_model_config_parse("{\"model\": \"hetero_cell\", \"hidden_channels\": 16, \"heads\": 2, \"num_layers\": 1, "
                              "\"global_head\": true}", "small", &mc) != CG_OK)
        fail_msg("%s", cg_last_error());
    cg_train_config tc = small_train();
    tc.lambda_dist = 0.5;
    tc.lambda_supcr = 0.1;
    tc.batch_size = 6;
    cg_model m;
    cg_trainer t;
    assert_int_equal(cg_model_init(&m, &mc, G), CG_OK);
    if (cg_trainer_init(&t, &m, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    assert_true(t.have_dist);
    steps(&t, 2);
    cg_trainer_free(&t);
    cg_model_free(&m);
}

/* A scratch folder `name` (with its own graph/dataset cache in $CELLGRAPH_CACHE) holding a checkpoint after
 * one training step: its folder in dir, its path in ckpt. */
static void make_checkpoint(const char *name, char *dir, size_t dlen, char *ckpt, size_t clen) {
    char cache[600];
    tu_temp_path(dir, dlen, name);
    mkdir(dir, 0755);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("CELLGRAPH_CACHE", cache, 1);
    cg_model m;
    cg_trainer t;
    make(&m, &t);
    steps(&t, 1);
    assert_int_equal(cg_trainer_save(&t, dir, "best"), CG_OK);
    cg_trainer_free(&t);
    cg_model_free(&m);
    snprintf(ckpt, clen, "%s/checkpoint_best.safetensors", dir);
}

/* predict on a real checkpoint: good input, and every kind of bad input as a clear error with a
 * non-zero status and nothing half-written */
static void test_cli_predict(void **state) {
    (void)state;
    if (!have || !getenv("CELLGRAPH_CLI")) skip();
    char dir[512], ckpt[700], out[8192];
    make_checkpoint("cli", dir, sizeof dir, ckpt, sizeof ckpt);

    assert_int_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' CYS3 tfc3", ckpt), 0);
    assert_non_null(strstr(out, "YAL001C,YAL012W"));
    assert_int_not_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' CYS33", ckpt), 0);
    assert_non_null(strstr(out, "unknown gene 'CYS33'"));
    assert_int_not_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' CYS3 YAL012W", ckpt), 0);
    assert_non_null(strstr(out, "repeated"));
    assert_int_not_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' CYS3 TFC3 CDC28 ACT1", ckpt), 0);
    assert_non_null(strstr(out, "1 to 3 genes"));
    assert_int_not_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' syntaxin", ckpt), 0);
    assert_non_null(strstr(out, "ambiguous"));

    /* a TSV with a bad line: the error names file and line, no output file is left */
    char tsv[700], res[700];
    snprintf(tsv, sizeof tsv, "%s/genotypes.tsv", dir);
    snprintf(res, sizeof res, "%s/predictions.tsv", dir);
    FILE *f = fopen(tsv, "w");
    fprintf(f, "CYS3\nTFC3\tCDC28\nNOPE1\n");
    fclose(f);
    assert_int_not_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' --input '%s' -o '%s'", ckpt, tsv, res), 0);
    assert_non_null(strstr(out, "genotypes.tsv: line 3"));
    struct stat sb;
    assert_int_not_equal(stat(res, &sb), 0);
    f = fopen(tsv, "w");
    fprintf(f, "# genotypes\nCYS3\nTFC3\tCDC28\n");
    fclose(f);
    assert_int_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' --input '%s' -o '%s'", ckpt, tsv, res), 0);
    assert_int_equal(stat(res, &sb), 0);

    /* a corrupted checkpoint */
    f = fopen(ckpt, "r+b");
    fseek(f, -5, SEEK_END);
    fputc(0x55, f);
    fclose(f);
    assert_int_not_equal(tu_run_cli(out, sizeof out, "predict --checkpoint '%s' CYS3", ckpt), 0);
    assert_non_null(strstr(out, "corrupted"));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("CELLGRAPH_CACHE");
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

/* screen: an interrupted screen (and a torn last line) resumes to exactly the file of an uninterrupted
 * one; bad gene lists and a partial file from other settings are clear errors; the incremental and
 * the full path predict the same values */
static void test_cli_screen(void **state) {
    (void)state;
    if (!have || !getenv("CELLGRAPH_CLI")) skip();
    char dir[512], ckpt[700], out[8192], genes[700], a[700], b[700], pa[720], cmd[2200];
    make_checkpoint("screen", dir, sizeof dir, ckpt, sizeof ckpt);
    snprintf(genes, sizeof genes, "%s/genes.txt", dir);
    snprintf(a, sizeof a, "%s/a.tsv", dir);
    snprintf(b, sizeof b, "%s/b.tsv", dir);
    snprintf(pa, sizeof pa, "%s.partial", a);
    FILE *f = fopen(genes, "w");
    fprintf(f, "# eight genes\nCYS3\nTFC3\nCDC28\n\nACT1\nYGR192C\nERG11\nHIS3\nURA3\n");
    fclose(f);
    /* interrupted after 10 of the 28 pairs, then a torn line, then resumed */
    assert_int_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 2 -o '%s' "
                                              "--batch-size 4 --max-genotypes 10", ckpt, genes, a), 0);
    struct stat sb;
    assert_int_not_equal(stat(a, &sb), 0);
    assert_int_equal(count_lines(pa), 2 + 10);
    f = fopen(pa, "a");
    fprintf(f, "YAL0");
    fclose(f);
    assert_int_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 2 -o '%s' --batch-size 4",
                             ckpt, genes, a), 0);
    assert_non_null(strstr(out, "resuming"));
    assert_int_not_equal(stat(pa, &sb), 0);
    assert_int_equal(count_lines(a), 2 + 28);
    /* uninterrupted, another batch size: the same file */
    assert_int_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 2 -o '%s'", ckpt, genes, b), 0);
    assert_true(tu_same_file(a, b));
    /* the full masked path gives the same predictions (4 decimals) */
    snprintf(cmd, sizeof cmd, "rm -f '%s'", b);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 2 -o '%s' "
                                              "--perturbation full", ckpt, genes, b), 0);
    assert_non_null(strstr(out, "full path"));
    assert_true(tu_same_file(a, b));
    /* triples: C(8, 3) = 56 */
    snprintf(cmd, sizeof cmd, "rm -f '%s'", b);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 3 -o '%s' "
                                              "--max-genotypes 5", ckpt, genes, b), 0);
    /* resuming with other settings (order 2 on the order-3 partial) is refused */
    assert_int_not_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 2 -o '%s'",
                                 ckpt, genes, b), 0);
    assert_non_null(strstr(out, "other settings"));
    assert_int_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 3 -o '%s'", ckpt, genes, b), 0);
    assert_int_equal(count_lines(b), 2 + 56);
    /* bad gene lists: unknown gene (file and line), a gene listed twice; nothing written */
    f = fopen(genes, "w");
    fprintf(f, "CYS3\nTFC3\nNOPE1\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "rm -f '%s' '%s'", a, b);
    assert_int_equal(system(cmd), 0);
    assert_int_not_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 2 -o '%s'", ckpt, genes, a), 0);
    assert_non_null(strstr(out, "genes.txt:3"));
    assert_int_not_equal(stat(a, &sb), 0);
    assert_int_not_equal(stat(pa, &sb), 0);
    f = fopen(genes, "w");
    fprintf(f, "CYS3\nTFC3\nYAL001C\n");
    fclose(f);
    assert_int_not_equal(tu_run_cli(out, sizeof out, "screen --checkpoint '%s' --genes '%s' --order 2 -o '%s'", ckpt, genes, a), 0);
    assert_non_null(strstr(out, "listed twice"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("CELLGRAPH_CACHE");
}

/* copies a checkpoint with one metadata value replaced */
static void rewrite_meta(const char *from, const char *to, const char *key, const char *value) {
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(from, &st), CG_OK);
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    for (int i = 0; i < cg_safetensors_count(st); i++) {
        cg_safetensors_info in;
        assert_int_equal(cg_safetensors_info_at(st, i, &in), CG_OK);
        assert_int_equal(cg_safetensors_writer_add(&w, in.name, in.dtype, in.ndim, in.shape, in.data), CG_OK);
    }
    for (int i = 0; i < cg_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        assert_int_equal(cg_safetensors_metadata_at(st, i, &k, &v), CG_OK);
        assert_int_equal(cg_safetensors_writer_set_metadata(&w, k, strcmp(k, key) == 0 ? value : v), CG_OK);
    }
    assert_int_equal(cg_safetensors_writer_write(&w, to), CG_OK);
    cg_safetensors_writer_free(&w);
    cg_safetensors_close(st);
}

/* issue 18 items 1 and 4: progress metadata out of range is refused before use (it is not covered by the
 * parameter CRC), and the command line cannot write a checkpoint that the reader refuses */
static void test_progress_metadata_and_bounds(void **state) {
    (void)state;
    if (!have) skip();
    char dir[512], path[700], good[720];
    tu_temp_path(dir, sizeof dir, "meta");
    mkdir(dir, 0755);
    cg_model m;
    cg_trainer t;
    make(&m, &t);
    steps(&t, 2);
    assert_int_equal(cg_trainer_save(&t, dir, "last"), CG_OK);
    snprintf(path, sizeof path, "%s/checkpoint_last.safetensors", dir);
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    assert_int_equal(rename(path, good), 0);
    const struct { const char *key, *value; } bad[] = {
        {"epoch_pos", "-100000000"}, {"epoch_pos", "-1"}, {"epoch_pos", "10"}, /* an epoch here is 9 samples */
        {"epoch", "nan"}, {"epoch", "1e18"}, {"step", "-3"}, {"step", "2.5"}, {"best_epoch", "7"},
        {"plateau_scale", "0"}, {"plateau_scale", "nan"}, {"best_val", "nan"}, {"bad_epochs", "-1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rewrite_meta(good, path, bad[i].key, bad[i].value);
        cg_model m2;
        cg_trainer t2;
        make(&m2, &t2);
        if (cg_trainer_resume(&t2, dir) != CG_ERR_FORMAT) fail_msg("%s = %s was accepted", bad[i].key, bad[i].value);
        assert_non_null(strstr(cg_last_error(), bad[i].key));
        cg_trainer_free(&t2);
        cg_model_free(&m2);
    }
    /* the unchanged file still resumes */
    rewrite_meta(good, path, "format", "cellgraph.checkpoint/1");
    cg_model m3;
    cg_trainer t3;
    make(&m3, &t3);
    if (cg_trainer_resume(&t3, dir) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(t3.step, 2);
    cg_trainer_free(&t3);
    cg_model_free(&m3);
    cg_trainer_free(&t);
    cg_model_free(&m);
    /* one set of bounds: what the command line accepts, the checkpoint reader accepts */
    cg_train_config c = cg_train_defaults();
    assert_int_equal(cg_train_config_check(&c, "x"), CG_OK);
    c.batch_size = 100000;
    assert_int_equal(cg_train_config_check(&c, "command line"), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "batch_size"));
    c = cg_train_defaults();
    c.max_minutes = 2e7;
    assert_int_equal(cg_train_config_check(&c, "command line"), CG_ERR_FORMAT);
    if (getenv("CELLGRAPH_CLI")) {
        char out[4096];
        const char *cli = getenv("CELLGRAPH_CLI");
        const char *args[] = {"--batch-size 100000", "--max-minutes 1e400", "--max-minutes 2e7", "--epochs 1e99",
                              "--epochs 2.5", "--seed -1", "--max-minutes nan"};
        for (size_t i = 0; i < sizeof args / sizeof *args; i++) {
            char cmd[1024];
            snprintf(cmd, sizeof cmd, "'%s' train %s --out '%s/cli' 2>&1", cli, args[i], dir);
            FILE *p = popen(cmd, "r");
            size_t n = fread(out, 1, sizeof out - 1, p);
            out[n] = '\0';
            int st = pclose(p);
            if (!(WIFEXITED(st) && WEXITSTATUS(st) == 2)) fail_msg("train %s: exit %d, output:\n%s", args[i], st, out);
        }
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}


/* Issue 18 item 10: a checkpoint whose parameter is stored as int32 (same bytes, so the CRC matches)
 * names the dtype, not "has N elements, the model N"; a missing one is called missing */
static void test_checkpoint_messages(void **state) {
    (void)state;
    if (!have) skip();
    char dir[512], path[700], bad[700];
    tu_temp_path(dir, sizeof dir, "ckmsg");
    mkdir(dir, 0755);
    cg_model m;
    cg_trainer t;
    make(&m, &t);
    assert_int_equal(cg_trainer_save(&t, dir, "last"), CG_OK);
    snprintf(path, sizeof path, "%s/checkpoint_last.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    const char *victim = cg_model_params(&m)->tensors[0]->name;
    for (int variant = 0; variant < 2; variant++) {
        cg_safetensors *st = NULL;
        assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
        cg_safetensors_writer w;
        cg_safetensors_writer_init(&w);
        for (int i = 0; i < cg_safetensors_count(st); i++) {
            cg_safetensors_info in;
            assert_int_equal(cg_safetensors_info_at(st, i, &in), CG_OK);
            const bool hit = strcmp(in.name, victim) == 0;
            if (hit && variant == 1) continue; /* dropped */
            assert_int_equal(cg_safetensors_writer_add(&w, in.name, hit ? CG_ST_I32 : in.dtype, in.ndim, in.shape, in.data),
                             CG_OK);
        }
        for (int i = 0; i < cg_safetensors_metadata_count(st); i++) {
            const char *k, *v;
            assert_int_equal(cg_safetensors_metadata_at(st, i, &k, &v), CG_OK);
            assert_int_equal(cg_safetensors_writer_set_metadata(&w, k, v), CG_OK);
        }
        assert_int_equal(cg_safetensors_writer_write(&w, bad), CG_OK);
        cg_safetensors_writer_free(&w);
        cg_safetensors_close(st);
        assert_int_equal(cg_checkpoint_load_params(bad, &m), CG_ERR_FORMAT);
        const char *want = variant == 0 ? "is int32, the model's parameters are float32" : "is missing";
        if (!strstr(cg_last_error(), want) || !strstr(cg_last_error(), victim))
            fail_msg("variant %d: '%s' does not say '%s'", variant, cg_last_error(), want);
    }
    cg_trainer_free(&t);
    cg_model_free(&m);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Config files are read strictly by every loader (training settings, model configs of every model):
 * text after the object, a key given twice (at any depth), a directory, a NUL byte, an empty file and a
 * file over 1 MB are errors naming the file (and the key, or the line and column). */
static void test_config_files_strict(void **state) {
    (void)state;
    static const struct {
        const char *text;
        size_t len;
        const char *want;
    } cases[] = {
        {"{\"model\": \"additive\"} x", 0, "line 1, column 23"},
        {"{\"model\": \"additive\",\n \"train\": {\"lr\": 0.1,\n \"lr\": 0.2}}", 0, "key 'lr' given twice"},
        {"{\"model\": \"additive\", \"model\": \"hetero_cell\"}", 0, "key 'model' given twice"},
        {"{\"model\": \"additive\"}\0{}", 24, "NUL byte at offset 21"},
        {"  \n", 0, "empty"},
        {"[1]", 0, "not a JSON object"},
    };
    char path[512];
    tu_temp_path(path, sizeof path, "strict.json");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(path, "wb");
        size_t n = cases[i].len ? cases[i].len : strlen(cases[i].text);
        assert_int_equal(fwrite(cases[i].text, 1, n, f), n);
        fclose(f);
        cg_train_config tc;
        cg_model_config mc;
        assert_int_equal(cg_train_config_load(path, &tc), CG_ERR_FORMAT);
        if (!strstr(cg_last_error(), cases[i].want) || !strstr(cg_last_error(), path))
            fail_msg("case %zu: '%s' lacks '%s'", i, cg_last_error(), cases[i].want);
        assert_int_equal(cg_model_config_load(path, &mc), CG_ERR_FORMAT);
        assert_non_null(strstr(cg_last_error(), cases[i].want));
    }
    /* over 1 MB */
    FILE *f = fopen(path, "wb");
    fputc('{', f);
    for (int i = 0; i < (1 << 20); i++) fputc(' ', f);
    fputc('}', f);
    fclose(f);
    cg_train_config tc;
    assert_int_equal(cg_train_config_load(path, &tc), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "largest read"));
    /* a directory */
    char dir[512];
    tu_temp_path(dir, sizeof dir, "config_dir");
    mkdir(dir, 0755);
    cg_model_config mc;
    assert_int_equal(cg_model_config_load(dir, &mc), CG_ERR_IO);
    assert_non_null(strstr(cg_last_error(), "is a directory"));
    /* a valid file still loads */
    f = fopen(path, "wb");
    fputs("{\"model\": \"additive\", \"train\": {\"lr\": 0.1}}\n", f);
    fclose(f);
    assert_int_equal(cg_train_config_load(path, &tc), CG_OK);
    assert_int_equal(cg_model_config_load(path, &mc), CG_OK);
}

static void test_config_parse(void **state) {
    (void)state;
    cg_train_config c;
    assert_int_equal(cg_train_config_parse("{\"hidden_channels\": 8, \"train\": {\"epochs\": 3, \"split\": \"gene\"}}",
                                           "x.json", &c), CG_OK);
    assert_int_equal(c.epochs, 3);
    assert_int_equal(c.split, CG_SPLIT_GENE);
    char *txt = cg_train_config_json(&c);
    cg_train_config bad;
    assert_int_equal(cg_train_config_parse("{\"train\": {\"epoch\": 3}}", "x.json", &bad), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "train.epoch"));
    cg_train_config c2;
    assert_int_equal(cg_train_config_parse(txt, "roundtrip", &c2), CG_OK);
    assert_int_equal(c2.epochs, 3);
    free(txt);
}

/* pvalue_weights: parsed and printed; the first step's loss is the MSE with each label weighted by
 * -log10(p + 1e-15) of its p-value (1 without one), recomputed here from the dataset and the model's
 * prediction before the step (the additive model: no dropout) */
static void test_pvalue_weights(void **state) {
    (void)state;
    cg_train_config c;
    assert_int_equal(cg_train_config_parse("{\"train\": {\"pvalue_weights\": true}}", "x.json", &c), CG_OK);
    assert_true(c.pvalue_weights);
    char *txt = cg_train_config_json(&c);
    assert_non_null(strstr(txt, "\"pvalue_weights\":true"));
    free(txt);
    assert_int_equal(cg_train_config_parse("{\"train\": {\"pvalue_weights\": 1}}", "x.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "train.pvalue_weights"));
    if (!have) skip();
    cg_model_config mc;
    assert_int_equal(cg_model_config_parse("{\"model\": \"additive\"}", "a", &mc), CG_OK);
    cg_train_config tc = cg_train_defaults();
    tc.batch_size = 256;
    tc.pvalue_weights = true;
    cg_model m;
    cg_trainer t;
    assert_int_equal(cg_model_init(&m, &mc, G), CG_OK);
    if (cg_trainer_init(&t, &m, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    /* give the per-gene tables values, so that the prediction is not the training mean */
    float *v = cg_model_params(&m)->values;
    for (int64_t i = 0; i < cg_model_params(&m)->total; i++) v[i] = 0.01f * (float)((i * 7919) % 13 - 6);
    const int64_t B = tc.batch_size;
    float *pred = malloc((size_t)B * CG_NUM_LABELS * sizeof *pred);
    assert_int_equal(cg_trainer_predict_samples(&t, t.order, B, pred, NULL), CG_OK);
    double want = 0;
    int weighted = 0;
    for (int k = 0; k < CG_NUM_LABELS; k++) {
        double sum = 0;
        int64_t n = 0;
        for (int64_t b = 0; b < B; b++) {
            const int64_t s = t.order[b];
            const float y = D.label[s * CG_NUM_LABELS + k], p = D.label_p[s * CG_NUM_LABELS + k];
            if (isnan(y)) continue;
            const double w = isfinite(p) ? -log10((double)p + 1e-15) : 1.0;
            const double d = ((double)pred[b * CG_NUM_LABELS + k] - y) / t.label_std[k];
            sum += w * d * d;
            n++;
            weighted += isfinite(p);
        }
        if (n) want += tc.label_weights[k] * sum / (double)n;
    }
    float loss;
    bool done;
    assert_int_equal(cg_trainer_step(&t, &loss, &done), CG_OK);
    print_message("pvalue_weights: first step loss %.6f, recomputed %.6f (%d labels with a p-value of the batch)\n",
                  loss, want, weighted);
    assert_true(weighted > 0);
    assert_true(fabs(loss - want) <= 1e-4 * want);
    free(pred);
    cg_trainer_free(&t);
    cg_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_parse),
        cmocka_unit_test(test_pvalue_weights),
        cmocka_unit_test(test_config_files_strict),
        cmocka_unit_test(test_resume_bitwise),
        cmocka_unit_test(test_resume_after_interrupted_save),
        cmocka_unit_test(test_progress_metadata_and_bounds),
        cmocka_unit_test(test_checkpoint_messages),
        cmocka_unit_test(test_composite_loss),
        cmocka_unit_test(test_cli_predict),
        cmocka_unit_test(test_cli_screen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
