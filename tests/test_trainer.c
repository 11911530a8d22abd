/* The trainer on the real graph and dataset: a run resumed from its last checkpoint continues bitwise
 * identically; the loss decreases; corrupted or foreign checkpoints are errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static cg_hetero_cell_config small_model(void) {
    cg_hetero_cell_config c = cg_hetero_cell_defaults();
    c.hidden = 16;
    c.heads = 2;
    c.layers = 1;
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

static void make(cg_hetero_cell *m, cg_trainer *t) {
    cg_hetero_cell_config mc = small_model();
    cg_train_config tc = small_train();
    int64_t nn[CG_NODE_TYPES];
    for (int k = 0; k < CG_NODE_TYPES; k++) nn[k] = cg_graph_num_nodes(G, k);
    assert_int_equal(cg_hetero_cell_init(m, &mc, nn), CG_OK);
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

static void test_resume_bitwise(void **state) {
    (void)state;
    if (!have) skip();
    char dir[512];
    tu_temp_path(dir, sizeof dir, "run");
    mkdir(dir, 0755);
    /* straight: 7 steps */
    cg_hetero_cell m1;
    cg_trainer t1;
    make(&m1, &t1);
    steps(&t1, 7);
    /* 4 steps, checkpoint, a fresh process-like restart, 3 steps */
    cg_hetero_cell m2, m3;
    cg_trainer t2, t3;
    make(&m2, &t2);
    steps(&t2, 4);
    assert_int_equal(cg_trainer_save(&t2, dir, "last"), CG_OK);
    cg_trainer_free(&t2);
    cg_hetero_cell_free(&m2);
    make(&m3, &t3);
    if (cg_trainer_resume(&t3, dir) != CG_OK) fail_msg("%s", cg_last_error());
    assert_int_equal(t3.step, 4);
    steps(&t3, 3);
    assert_int_equal(t3.step, t1.step);
    assert_int_equal(t3.epoch, t1.epoch);
    assert_memory_equal(m3.params.values, m1.params.values, m1.params.total * sizeof(float));
    assert_memory_equal(t3.opt.exp_avg, t1.opt.exp_avg, m1.params.total * sizeof(float));
    /* predictions in original units are finite */
    float pred[2 * 4];
    double vloss;
    assert_int_equal(cg_trainer_predict_samples(&t3, t3.val_idx, 4, pred, &vloss), CG_OK);
    for (int i = 0; i < 8; i++) assert_true(isfinite(pred[i]));
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
    cg_hetero_cell_free(&m1);
    cg_hetero_cell_free(&m3);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* the composite loss (MSE + DistLoss + SupCR) trains too */
static void test_composite_loss(void **state) {
    (void)state;
    if (!have) skip();
    cg_hetero_cell_config mc = small_model();
    cg_train_config tc = small_train();
    tc.lambda_dist = 0.5;
    tc.lambda_supcr = 0.1;
    tc.batch_size = 6;
    int64_t nn[CG_NODE_TYPES];
    for (int k = 0; k < CG_NODE_TYPES; k++) nn[k] = cg_graph_num_nodes(G, k);
    cg_hetero_cell m;
    cg_trainer t;
    assert_int_equal(cg_hetero_cell_init(&m, &mc, nn), CG_OK);
    if (cg_trainer_init(&t, &m, G, &D, &tc) != CG_OK) fail_msg("%s", cg_last_error());
    assert_true(t.have_dist);
    steps(&t, 2);
    cg_trainer_free(&t);
    cg_hetero_cell_free(&m);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_parse),
        cmocka_unit_test(test_resume_bitwise),
        cmocka_unit_test(test_composite_loss),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
