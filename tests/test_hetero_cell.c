/* HeteroCell on the real graph. The decisive test: for 20 real genotypes the batched model with dead
 * bitsets gives the same outputs and the same parameter gradients as the same model run on the
 * explicitly built subgraph of each genotype (nodes and edges removed and relabelled, one at a time). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/deletion.h"
#include "cellgraph/genes.h"
#include "cellgraph/hetero_cell.h"
#include "cellgraph/optim.h"
#include "cellgraph/rng.h"
#include "testutil.h"

static cg_graph *G;
static cg_graph_index HG;

static int setup(void **state) {
    (void)state;
    return tu_real_graph_open(&G, &HG);
}

static int teardown(void **state) {
    (void)state;
    tu_real_graph_close(G, &HG);
    return 0;
}

/* ------------------------------------------------------------------ explicit subgraphs */

typedef struct subgraph {
    cg_graph_view v;
    int32_t *ids[CG_NODE_TYPES];
    void *mem[64];
    int n_mem;
} subgraph;

static void *keep(subgraph *s, void *p) {
    s->mem[s->n_mem++] = p;
    return p;
}

/* The subgraph of one genotype: dead nodes and every edge touching them removed, survivors relabelled
 * in their original order. */
static void build_subgraph(subgraph *s, const uint64_t *block) {
    memset(s, 0, sizeof *s);
    cg_dead_view d = cg_deletion_view(G, block);
    int32_t *map[CG_NODE_TYPES];
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        int64_t n = cg_graph_num_nodes(G, t), k = 0;
        map[t] = malloc(n * sizeof(int32_t));
        s->ids[t] = keep(s, malloc(n * sizeof(int32_t)));
        for (int64_t i = 0; i < n; i++) {
            map[t][i] = -1;
            if (!cg_bit_get(d.node[t], i)) {
                map[t][i] = (int32_t)k;
                s->ids[t][k++] = (int32_t)i;
            }
        }
        s->v.n_nodes[t] = k;
        s->v.ids[t] = s->ids[t];
    }
    s->v.B = 1;
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_relation *rel = cg_graph_relation(G, r);
        int64_t nd = s->v.n_nodes[rel->dst_type], ns = s->v.n_nodes[rel->src_type], m = 0;
        int64_t *rowptr = keep(s, calloc(nd + 1, sizeof(int64_t)));
        int32_t *src = keep(s, malloc((rel->n_edges + 1) * sizeof(int32_t)));
        int32_t *dst = keep(s, malloc((rel->n_edges + 1) * sizeof(int32_t)));
        float *attr = rel->attr ? keep(s, malloc((rel->n_edges + 1) * sizeof(float))) : NULL;
        for (int64_t e = 0; e < rel->n_edges; e++) {
            int32_t a = map[rel->src_type][rel->src[e]], b = map[rel->dst_type][rel->dst[e]];
            if (a < 0 || b < 0) continue;
            src[m] = a;
            dst[m] = b;
            if (attr) attr[m] = rel->attr[e];
            rowptr[b + 1]++;
            m++;
        }
        for (int64_t i = 0; i < nd; i++) rowptr[i + 1] += rowptr[i];
        int64_t *sp = keep(s, malloc((ns + 1) * sizeof(int64_t)));
        int32_t *perm = keep(s, malloc((m + 1) * sizeof(int32_t)));
        assert_int_equal(cg_rel_reverse_index(ns, m, src, sp, perm), CG_OK);
        s->v.rel[r] = (cg_rel_batch){.n_src = ns, .n_dst = nd, .n_edges = m, .rowptr = rowptr, .src = src, .dst = dst,
                                     .src_ptr = sp, .src_perm = perm, .attr = attr, .attr_dim = attr ? 1 : 0,
                                     .same_type = rel->src_type == rel->dst_type, .B = 1};
    }
    for (int t = 0; t < CG_NODE_TYPES; t++) free(map[t]);
}

static void free_subgraph(subgraph *s) {
    for (int i = 0; i < s->n_mem; i++) free(s->mem[i]);
}

/* ------------------------------------------------------------------ genotypes */

enum { NG = 20 };

/* 6 singles, 8 pairs, 6 triples from hub genes (largest physical degree) and metabolic genes (most
 * reaction nodes), deterministic */
static void pick_genotypes(int32_t geno[NG][3]) {
    int64_t ng = cg_graph_num_nodes(G, CG_GENE);
    const cg_relation *phys = cg_graph_relation(G, CG_REL_PHYSICAL), *rev = cg_graph_relation(G, CG_REL_GPR_REV);
    int32_t hubs[6] = {0}, met[6] = {0};
    int64_t hd[6] = {0}, md[6] = {0};
    for (int64_t i = 0; i < ng; i++) {
        int64_t dp = phys->rowptr[i + 1] - phys->rowptr[i], dm = rev->rowptr[i + 1] - rev->rowptr[i];
        for (int k = 0; k < 6; k++)
            if (dp > hd[k]) {
                memmove(hd + k + 1, hd + k, (5 - k) * sizeof *hd);
                memmove(hubs + k + 1, hubs + k, (5 - k) * sizeof *hubs);
                hd[k] = dp, hubs[k] = (int32_t)i;
                break;
            }
        for (int k = 0; k < 6; k++)
            if (dm > md[k]) {
                memmove(md + k + 1, md + k, (5 - k) * sizeof *md);
                memmove(met + k + 1, met + k, (5 - k) * sizeof *met);
                md[k] = dm, met[k] = (int32_t)i;
                break;
            }
    }
    int32_t pool[16] = {hubs[0], met[0], hubs[1], met[1], 17, 4001, hubs[2], met[2],
                        hubs[3], met[3], 2500, 5555, hubs[4], met[4], 123, 6000};
    for (int i = 0; i < NG; i++) {
        int n = i < 6 ? 1 : i < 14 ? 2 : 3;
        int32_t g[3] = {-1, -1, -1};
        for (int k = 0; k < n; k++) g[k] = pool[(i * 5 + k * 3) % 16];
        /* sort, drop repeats */
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++)
                if (g[b] < g[a]) {
                    int32_t t = g[a];
                    g[a] = g[b];
                    g[b] = t;
                }
        int m = 0;
        for (int k = 0; k < n; k++)
            if (m == 0 || g[k] != g[m - 1]) g[m++] = g[k];
        for (int k = 0; k < 3; k++) geno[i][k] = k < m ? g[k] : -1;
    }
}

/* ------------------------------------------------------------------ the decisive test */

/* Relative error in the 2-norm, ||a - b|| / ||b||, as the test's tolerance means it: float32 sums over
 * the 138,000 node rows of a batch (weight gradients) are rounded in another order by the two paths. */

/* Outputs y = head(z_w - z_i) are compared directly. Parameter gradients are compared for the loss
 * L = sum_b r_b . z_b over the graph embeddings of every sample (wildtype included): through
 * z_p = z_w - z_i the two paths' gradients nearly cancel whenever a deletion changes little (every
 * parameter contributes to z_w and z_i almost equally), and what remains is float rounding, not the
 * deletion semantics under test. The head is the same function of z in both paths. */
static void run_equivalence(cg_hetero_cell_config cfg) {
    int32_t geno[NG][3];
    pick_genotypes(geno);
    int64_t nn[CG_NODE_TYPES];
    for (int t = 0; t < CG_NODE_TYPES; t++) nn[t] = cg_graph_num_nodes(G, t);
    cg_hetero_cell m;
    assert_int_equal(cg_hetero_cell_init(&m, &cfg, nn), CG_OK);
    const int D = cfg.hidden;
    float *r = malloc((NG + 1) * D * sizeof(float));
    tu_fill_uniform(r, (NG + 1) * D, -1, 1, 31);

    /* batched: sample 0 = wildtype, samples 1..20 the genotypes */
    int64_t W = cg_deletion_words(G);
    uint64_t *blocks = calloc((NG + 1) * W, sizeof *blocks);
    assert_int_equal(cg_deletion_batch(G, &geno[0][0], NG, 3, blocks + W), CG_OK);
    cg_graph_view v;
    cg_graph_view_of(&v, &HG, NG + 1, blocks);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 24, 1), CG_OK);
    ctx.training = false;
    cg_tensor *y = cg_hetero_cell_forward(&ctx, &m, &v, NULL);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(y->numel, NG * CG_NUM_LABELS);
    float *y_batched = malloc(NG * CG_NUM_LABELS * sizeof(float));
    memcpy(y_batched, y->data, NG * CG_NUM_LABELS * sizeof(float));
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    cg_tensor *z = cg_hetero_cell_encode(&ctx, &m, &v);
    if (!z) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_backward_from(&ctx, z, r), CG_OK);
    float *z_batched = malloc((NG + 1) * D * sizeof(float)), *g_batched = malloc(m.params.total * sizeof(float));
    memcpy(z_batched, z->data, (NG + 1) * D * sizeof(float));
    memcpy(g_batched, m.params.grads, m.params.total * sizeof(float));

    /* subgraphs: the wildtype once, then each genotype's own relabelled graph */
    cg_params_zero_grad(&m.params);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    cg_graph_view vw;
    cg_graph_view_of(&vw, &HG, 1, NULL);
    cg_tensor *zs[NG + 1];
    zs[0] = cg_hetero_cell_encode(&ctx, &m, &vw);
    subgraph sub[NG];
    float ys[NG * CG_NUM_LABELS];
    for (int i = 0; i < NG; i++) {
        build_subgraph(&sub[i], blocks + (i + 1) * W);
        zs[i + 1] = cg_hetero_cell_encode(&ctx, &m, &sub[i].v);
        cg_tensor *yi = cg_hetero_cell_head(&ctx, &m, zs[0], zs[i + 1], NULL);
        if (!yi) fail_msg("%s", cg_last_error());
        memcpy(ys + CG_NUM_LABELS * i, yi->data, CG_NUM_LABELS * sizeof(float));
    }
    /* seed each sample's z with its row of r, then run the tape once */
    for (int i = 0; i <= NG; i++) {
        float *g = cg_grad_of(&ctx, zs[i]);
        for (int j = 0; j < D; j++) g[j] += r[i * D + j];
    }
    float zero[CG_NUM_LABELS] = {0};
    cg_tensor *last = cg_hetero_cell_head(&ctx, &m, zs[0], zs[NG], NULL); /* a tape output to start from */
    assert_int_equal(cg_backward_from(&ctx, last, zero), CG_OK);
    float zsub[(NG + 1) * 64];
    assert_true(D <= 64);
    for (int i = 0; i <= NG; i++) memcpy(zsub + i * D, zs[i]->data, D * sizeof(float));
    tu_check_rel2("y = head(z_w - z_i)", y_batched, ys, NG * CG_NUM_LABELS, 1e-5);
    tu_check_rel2("z (graph embeddings)", z_batched, zsub, (NG + 1) * D, 1e-5);
    for (int p = 0; p < m.params.count; p++) {
        const cg_tensor *t = m.params.tensors[p];
        if (strncmp(t->name, "head.", 5) == 0) continue; /* the head is not part of this loss */
        int64_t off = m.params.offsets[p];
        if (strcmp(t->name, "readout.gate.layers.1.bias") == 0) {
            /* the gate's last bias shifts every logit of a softmax equally: its exact gradient is 0, and
             * both paths give rounding noise; check that it is noise next to the same layer's weight
             * gradient */
            const cg_tensor *w = cg_params_find(&m.params, "readout.gate.layers.1.weight");
            float wmax = 0;
            for (int64_t j = 0; j < w->numel; j++) wmax = fmaxf(wmax, fabsf(w->grad[j]));
            if (getenv("CG_VERBOSE"))
                printf("gate bias gradients %g %g (weight gradient up to %g)\n", g_batched[off], m.params.grads[off], wmax);
            assert_true(fabsf(g_batched[off]) < 1e-3f * wmax && fabsf(m.params.grads[off]) < 1e-3f * wmax);
            continue;
        }
        tu_check_rel2(t->name, g_batched + off, m.params.grads + off, t->numel, 1e-5);
    }
    for (int i = 0; i < NG; i++) free_subgraph(&sub[i]);
    free(y_batched);
    free(z_batched);
    free(g_batched);
    free(blocks);
    free(r);
    cg_ctx_free(&ctx);
    cg_hetero_cell_free(&m);
}

static void test_batched_equals_subgraphs(void **state) {
    (void)state;
    if (!G) skip();
    run_equivalence(cg_hetero_cell_published());
}

/* the hypergraph metabolism (StoichHypergraphConv), with residual connections. (A note on tolerances:
 * the attention scores pass through a leaky ReLU, and with 300 million score channels per batch a few
 * land within float rounding of its kink, where the two paths may take different sides; the 2-norm
 * comparison absorbs one such flip, a per-element one would not.) */
static void test_batched_equals_subgraphs_hypergraph(void **state) {
    (void)state;
    if (!G) skip();
    cg_hetero_cell_config cfg = cg_hetero_cell_published();
    cfg.hypergraph = true;
    cfg.residual = true;
    run_equivalence(cfg);
}

/* A training step on the real graph with B = 4 genotypes: dropout on, forward, backward, AdamW; runs
 * under the sanitizers in `make test` (no leaks, no undefined behaviour); the loss decreases on a
 * repeated batch. */
static void test_training_step(void **state) {
    (void)state;
    if (!G) skip();
    cg_hetero_cell_config cfg = cg_hetero_cell_defaults();
    cfg.attention_dropout = 0.1f;
    int64_t nn[CG_NODE_TYPES];
    for (int t = 0; t < CG_NODE_TYPES; t++) nn[t] = cg_graph_num_nodes(G, t);
    cg_hetero_cell m;
    assert_int_equal(cg_hetero_cell_init(&m, &cfg, nn), CG_OK);
    cg_optim_config oc = cg_optim_defaults(CG_OPTIM_ADAMW);
    oc.lr = 3e-3;
    cg_optim opt;
    assert_int_equal(cg_optim_create(&opt, &m.params, &oc), CG_OK);
    int32_t geno[4][3] = {{10, -1, -1}, {20, 30, -1}, {40, 50, 60}, {1000, 2000, -1}};
    /* fitness, epsilon, tau of 4 genotypes (NaN: absent) */
    float target[4 * CG_NUM_LABELS] = {0.9f, NAN, NAN, 0.7f, -0.1f, NAN, 0.5f, NAN, 0.2f, NAN, 0.05f, NAN};
    int64_t W = cg_deletion_words(G);
    uint64_t *blocks = calloc(5 * W, sizeof *blocks);
    assert_int_equal(cg_deletion_batch(G, &geno[0][0], 4, 3, blocks + W), CG_OK);
    cg_graph_view v;
    cg_graph_view_of(&v, &HG, 5, blocks);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 0, 5), CG_OK);
    float first = 0, last = 0;
    for (int step = 0; step < 8; step++) {
        assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
        cg_params_zero_grad(&m.params);
        cg_tensor *y = cg_hetero_cell_forward_batch(&ctx, &m, &v, &geno[0][0], CG_PATH_FULL, NULL);
        cg_tensor *loss = cg_mse_masked(&ctx, y, cg_tensor_wrap2(&ctx, 4, CG_NUM_LABELS, target));
        if (!loss) fail_msg("%s", cg_last_error());
        assert_int_equal(cg_backward(&ctx, loss), CG_OK);
        assert_int_equal(cg_optim_step(&opt, &m.params), CG_OK);
        if (step == 0) first = cg_f32(loss)[0];
        last = cg_f32(loss)[0];
    }
    assert_true(last < first);
    free(blocks);
    cg_ctx_free(&ctx);
    cg_optim_free(&opt);
    cg_hetero_cell_free(&m);
}

static void test_config(void **state) {
    (void)state;
    cg_hetero_cell_config c;
    char path[4096];
    const char *src = getenv("CELLGRAPH_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/configs/hetero_cell.json", src ? src : ".");
    assert_int_equal(cg_hetero_cell_config_load(path, &c), CG_OK);
    assert_int_equal(c.hidden, 64);
    assert_int_equal(c.layers, 2);
    assert_int_equal(c.heads, 4);
    assert_int_equal(c.act, CG_ACT_GELU);
    assert_int_equal(cg_hetero_cell_config_parse("{\"hidden_channel\": 64}", "x.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "unknown key 'hidden_channel'"));
    assert_int_equal(cg_hetero_cell_config_parse("{\"hidden_channels\": 65}", "x.json", &c), CG_ERR_FORMAT);
    assert_int_equal(cg_hetero_cell_config_parse("{\"seed\": 1e300}", "x.json", &c), CG_ERR_FORMAT); /* no UB cast */
    assert_non_null(strstr(cg_last_error(), "seed"));
    assert_int_equal(cg_hetero_cell_config_parse("{\"relations\": [\"physical\", \"nope\"]}", "x.json", &c),
                     CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "'nope'"));
    assert_int_equal(cg_hetero_cell_config_parse("{\"metabolism\": \"hypergraph\", \"dropout\": 0.2}", "x", &c), CG_OK);
    assert_true(c.hypergraph);
    char *txt = cg_hetero_cell_config_json(&c);
    cg_hetero_cell_config c2;
    assert_int_equal(cg_hetero_cell_config_parse(txt, "roundtrip", &c2), CG_OK);
    assert_int_equal(c.hidden, c2.hidden);
    assert_true(c2.hypergraph);
    assert_float_equal(c2.dropout, 0.2f, 1e-7);
    assert_memory_equal(c.relations, c2.relations, sizeof c.relations);
    free(txt);
    /* the head keys: "form" is a preset the other keys refine, in any order; the printed config reads back
     * to the same model; a model without any head is refused */
    assert_int_equal(cg_hetero_cell_config_parse("{\"dropout\": 0.3, \"form\": \"published\"}", "x", &c), CG_OK);
    assert_false(c.residual);
    assert_true(c.global_head);
    assert_false(c.z_p_scale_alive);
    assert_int_equal(c.gene_head, CG_HC_GENE_HEAD_NONE);
    assert_float_equal(c.head_dropout, 0.3f, 1e-7); /* published: the head's dropout is "dropout" */
    txt = cg_hetero_cell_config_json(&c);
    assert_int_equal(cg_hetero_cell_config_parse(txt, "roundtrip", &c2), CG_OK);
    free(txt);
    assert_false(c2.residual);
    assert_true(c2.global_head && !c2.z_p_scale_alive && c2.gene_head == CG_HC_GENE_HEAD_NONE);
    assert_float_equal(c2.head_dropout, 0.3f, 1e-7);
    assert_int_equal(cg_hetero_cell_config_parse("{\"form\": \"published\", \"gene_head\": \"triple\"}", "x", &c), CG_OK);
    assert_int_equal(c.gene_head, CG_HC_GENE_HEAD_TRIPLE);
    assert_int_equal(cg_hetero_cell_config_parse("{}", "x", &c), CG_OK);
    assert_true(c.residual && !c.global_head && c.gene_head != CG_HC_GENE_HEAD_NONE && c.head_dropout == 0.0f);
    assert_int_equal(cg_hetero_cell_config_parse("{\"form\": \"torchcell\"}", "x.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "'form'"));
    assert_int_equal(cg_hetero_cell_config_parse("{\"gene_head\": \"none\"}", "x.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "without a head"));
    /* the held-out-gene keys: defaults (the published form is unchanged), round trip, bad values */
    assert_int_equal(cg_hetero_cell_config_parse("{\"form\": \"published\"}", "x", &c), CG_OK);
    assert_true(c.gene_embedding_std == 1.0f && c.identity_dropout == 0.0f && !cg_hetero_cell_has_offsets(&c));
    assert_int_equal(cg_hetero_cell_config_parse("{\"gene_embedding_std\": 0, \"identity_dropout\": 0.25, "
                                                 "\"gene_offsets\": 10}", "x", &c), CG_OK);
    txt = cg_hetero_cell_config_json(&c);
    assert_int_equal(cg_hetero_cell_config_parse(txt, "roundtrip", &c2), CG_OK);
    free(txt);
    assert_true(c2.gene_embedding_std == 0.0f && c2.identity_dropout == 0.25f && c2.gene_offsets[0] == 10.0f &&
                c2.gene_offsets[2] == 10.0f);
    assert_int_equal(cg_hetero_cell_config_parse("{\"gene_offsets\": [1, 0, 2.5]}", "x", &c), CG_OK);
    txt = cg_hetero_cell_config_json(&c);
    assert_int_equal(cg_hetero_cell_config_parse(txt, "roundtrip", &c2), CG_OK);
    free(txt);
    assert_true(c2.gene_offsets[0] == 1.0f && c2.gene_offsets[1] == 0.0f && c2.gene_offsets[2] == 2.5f);
    assert_int_equal(cg_hetero_cell_config_parse("{\"gene_offsets\": [1, 2]}", "x.json", &c), CG_ERR_FORMAT);
    assert_int_equal(cg_hetero_cell_config_parse("{\"identity_dropout\": 1}", "x.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "'identity_dropout'"));
    assert_int_equal(cg_hetero_cell_config_parse("{\"gene_embedding_std\": -1}", "x.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "'gene_embedding_std'"));
    assert_int_equal(cg_hetero_cell_config_parse("{\"gene_offsets\": \"yes\"}", "x.json", &c), CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "'gene_offsets'"));
    assert_int_equal(cg_hetero_cell_config_parse("{\"form\": \"published\", \"gene_offsets\": 1}", "x.json", &c),
                     CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "needs a gene_head"));
}

/* The deleted-gene terms (gene_head "triple": per-gene, pairwise and triple MLPs over the wildtype's
 * last-layer rows) against central differences of the whole forward: the gradient of r . y with respect
 * to entries of every term's weights and of the deleted genes' input embeddings (which reach y through
 * the encoder). Genotypes with one, two and three genes, one gene shared. Double-precision differences of
 * a float32 model: step 1e-2, tolerance 2e-2 relative (floor 1e-3). */
static void test_gene_terms_gradient(void **state) {
    (void)state;
    if (!G) skip();
    cg_hetero_cell_config cfg = cg_hetero_cell_defaults();
    cfg.gene_head = CG_HC_GENE_HEAD_TRIPLE;
    cfg.dropout = 0.0f;
    cfg.hidden = 16;
    cfg.gene_offsets[0] = 3.0f, cfg.gene_offsets[1] = 3.0f, cfg.gene_offsets[2] = 3.0f;
    cfg.gene_embedding_std = 1.0f; /* random identities (the default starts them at zero) */
    cfg.identity_dropout = 0.0f;   /* the differences evaluate the forward at other steps */
    int64_t nn[CG_NODE_TYPES];
    for (int t = 0; t < CG_NODE_TYPES; t++) nn[t] = cg_graph_num_nodes(G, t);
    cg_hetero_cell m;
    assert_int_equal(cg_hetero_cell_init(&m, &cfg, nn), CG_OK);
    /* the offsets start at zero; random values so that the term is not trivially zero */
    assert_non_null(m.offsets.weight);
    for (int64_t i = 0; i < m.offsets.weight->numel; i++) assert_true(cg_f32(m.offsets.weight)[i] == 0.0f);
    tu_fill_uniform(cg_f32(m.offsets.weight), m.offsets.weight->numel, -0.5f, 0.5f, 9);
    enum { NS = 3 };
    int32_t geno[NS][3] = {{100, -1, -1}, {100, 2000, -1}, {300, 4000, 5000}};
    int64_t W = cg_deletion_words(G);
    uint64_t *blocks = calloc((NS + 1) * W, sizeof *blocks);
    assert_int_equal(cg_deletion_batch(G, &geno[0][0], NS, 3, blocks + W), CG_OK);
    cg_graph_view v;
    cg_graph_view_of(&v, &HG, NS + 1, blocks);
    float r[NS * CG_NUM_LABELS];
    tu_fill_uniform(r, NS * CG_NUM_LABELS, -1, 1, 5);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 24, 1), CG_OK);
    cg_tensor *y = cg_hetero_cell_forward_batch(&ctx, &m, &v, &geno[0][0], CG_PATH_FULL, NULL);
    if (!y) fail_msg("%s", cg_last_error());
    assert_int_equal(cg_backward_from(&ctx, y, r), CG_OK);
    /* the checked entries: the first few of each term's first weight, and the deleted genes' embeddings */
    const char *names[] = {"gene_head.gene.layers.0.weight", "gene_head.pair.layers.0.weight",
                           "gene_head.triple.layers.0.weight", "gene_head.triple.layers.1.bias", "embedding.gene.weight",
                           "gene_head.offsets.weight"};
    enum { PER = 4, NQ = 6 };
    int64_t at[NQ * PER];
    float ana[NQ * PER];
    double num[NQ * PER];
    for (int q = 0; q < NQ; q++) {
        const cg_tensor *t = cg_params_find(&m.params, names[q]);
        assert_non_null(t);
        int64_t off = cg_f32((cg_tensor *)t) - m.params.values;
        for (int j = 0; j < PER; j++) {
            /* embedding rows of the deleted genes 2000 and 4000 (j < 2: row 2000; else row 4000) */
            int64_t e = q == 4 ? (j < 2 ? 2000 : 4000) * cfg.hidden + j : j;
            if (q == 5) e = (j < 2 ? 100 : 5000) * CG_NUM_LABELS + j % CG_NUM_LABELS; /* offsets of deleted genes */
            at[q * PER + j] = off + e;
            ana[q * PER + j] = m.params.grads[off + e];
        }
    }
    for (int k = 0; k < NQ * PER; k++) {
        float keep = m.params.values[at[k]];
        double f[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            m.params.values[at[k]] = keep + (sgn == 0 ? 1e-2f : -1e-2f);
            assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
            ctx.grad_enabled = false;
            cg_tensor *yy = cg_hetero_cell_forward_batch(&ctx, &m, &v, &geno[0][0], CG_PATH_FULL, NULL);
            if (!yy) fail_msg("%s", cg_last_error());
            f[sgn] = 0;
            for (int q = 0; q < NS * CG_NUM_LABELS; q++) f[sgn] += (double)cg_f32(yy)[q] * r[q];
        }
        m.params.values[at[k]] = keep;
        num[k] = (f[0] - f[1]) / 2e-2;
    }
    tu_check_close("gene terms: gradient vs central differences", ana, num, NQ * PER, 2e-2, 1e-3);
    /* the offsets' gradient is exact: s * r summed over the genotypes that delete the gene (gene 100 is
     * in the first two) */
    assert_float_equal(ana[5 * PER], 3.0f * (r[0] + r[CG_NUM_LABELS]), 1e-5);
    /* a gene index outside the graph: an error naming it */
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    int32_t bad[NS][3] = {{100, -1, -1}, {100, 2000, -1}, {300, 4000, (int32_t)nn[CG_GENE]}};
    assert_null(cg_hetero_cell_forward_batch(&ctx, &m, &v, &bad[0][0], CG_PATH_FULL, NULL));
    assert_non_null(strstr(cg_last_error(), "names gene"));
    free(blocks);
    cg_ctx_free(&ctx);
    cg_hetero_cell_free(&m);
}

/* ------------------------------------------------------------------ helpers of the tests below */

/* m initialised with cfg on the real graph */
static void init_model(cg_hetero_cell *m, const cg_hetero_cell_config *cfg) {
    int64_t nn[CG_NODE_TYPES];
    for (int t = 0; t < CG_NODE_TYPES; t++) nn[t] = cg_graph_num_nodes(G, t);
    assert_int_equal(cg_hetero_cell_init(m, cfg, nn), CG_OK);
}

/* *v: the wildtype and the ns genotypes geno [ns, 3], over blocks ((ns + 1) x cg_deletion_words words,
 * overwritten) */
static void genotype_view(const int32_t *geno, int ns, uint64_t *blocks, cg_graph_view *v) {
    const int64_t W = cg_deletion_words(G);
    memset(blocks, 0, (size_t)(ns + 1) * W * sizeof *blocks);
    assert_int_equal(cg_deletion_batch(G, geno, ns, 3, blocks + W), CG_OK);
    cg_graph_view_of(v, &HG, ns + 1, blocks);
}

/* y [ns, K]: m's prediction on the view in evaluation mode (ctx reset) */
static void predict(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, const int32_t *geno, int ns,
                    float *y) {
    assert_int_equal(cg_ctx_reset(ctx), CG_OK);
    ctx->training = false;
    ctx->grad_enabled = false;
    cg_tensor *t = cg_hetero_cell_forward_batch(ctx, m, v, geno, CG_PATH_FULL, NULL);
    if (!t) fail_msg("%s", cg_last_error());
    memcpy(y, cg_f32(t), (size_t)ns * CG_NUM_LABELS * sizeof *y);
}

/* Identity dropout: in training, the forward equals the forward of the same model in evaluation whose
 * dropped genes' embedding rows are zero, with the mask of the header's contract (a function of seed,
 * step, op number 0 and gene id, shared by the samples); evaluation drops nothing. */
static void test_identity_dropout(void **state) {
    (void)state;
    if (!G) skip();
    cg_hetero_cell_config cfg = cg_hetero_cell_defaults();
    cfg.dropout = 0.0f;
    cfg.hidden = 16;
    cfg.identity_dropout = 0.5f;
    cfg.gene_embedding_std = 0.5f;
    cfg.drop_unseen = false;
    cfg.gene_offsets[0] = cfg.gene_offsets[1] = cfg.gene_offsets[2] = 0.0f;
    cg_hetero_cell m, ref;
    init_model(&m, &cfg);
    cfg.identity_dropout = 0.0f;
    init_model(&ref, &cfg);
    const cg_tensor *e = m.emb[CG_GENE].weight;
    double sq = 0;
    for (int64_t i = 0; i < e->numel; i++) sq += (double)cg_f32((cg_tensor *)e)[i] * cg_f32((cg_tensor *)e)[i];
    assert_float_equal(sqrt(sq / (double)e->numel), 0.5, 0.01); /* gene_embedding_std */
    enum { NS = 3 };
    int32_t geno[NS][3] = {{100, -1, -1}, {100, 2000, -1}, {300, 4000, 5000}};
    const int64_t N = cg_graph_num_nodes(G, CG_GENE), D = cfg.hidden;
    uint64_t *blocks = calloc((NS + 1) * cg_deletion_words(G), sizeof *blocks);
    cg_graph_view v;
    genotype_view(&geno[0][0], NS, blocks, &v);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 24, 7), CG_OK);
    ctx.step = 12;
    ctx.training = true;
    ctx.grad_enabled = false;
    cg_tensor *y = cg_hetero_cell_forward_batch(&ctx, &m, &v, &geno[0][0], CG_PATH_FULL, NULL);
    if (!y) fail_msg("%s", cg_last_error());
    float yt[NS * CG_NUM_LABELS];
    memcpy(yt, cg_f32(y), sizeof yt);
    int64_t dropped = 0;
    float *w = cg_f32(ref.emb[CG_GENE].weight);
    for (int64_t g = 0; g < N; g++)
        if (cg_rng_uniform(7, 12u << 24, (uint64_t)g) < 0.5f) {
            memset(w + g * D, 0, (size_t)D * sizeof *w);
            dropped++;
        }
    assert_true(dropped > N / 3 && dropped < 2 * N / 3);
    float yr[NS * CG_NUM_LABELS], ye[NS * CG_NUM_LABELS];
    predict(&ctx, &ref, &v, &geno[0][0], NS, yr);
    for (int k = 0; k < NS * CG_NUM_LABELS; k++) assert_float_equal(yt[k], yr[k], 1e-5);
    /* evaluation: nothing dropped, the model differs from the masked reference */
    predict(&ctx, &m, &v, &geno[0][0], NS, ye);
    double diff = 0;
    for (int k = 0; k < NS * CG_NUM_LABELS; k++) diff += fabs(ye[k] - yt[k]);
    assert_true(diff > 1e-3);
    free(blocks);
    cg_ctx_free(&ctx);
    cg_hetero_cell_free(&m);
    cg_hetero_cell_free(&ref);
}

/* drop_unseen: a gene whose offsets row is zero has no identity, in evaluation too: the model equals the
 * same model without drop_unseen whose unseen genes' embedding rows are zero. */
static void test_drop_unseen(void **state) {
    (void)state;
    if (!G) skip();
    cg_hetero_cell_config cfg = cg_hetero_cell_defaults();
    cfg.dropout = 0.0f;
    cfg.hidden = 16;
    cfg.gene_offsets[0] = 2.0f, cfg.gene_offsets[1] = 2.0f, cfg.gene_offsets[2] = 2.0f;
    cfg.drop_unseen = true;
    cfg.gene_embedding_std = 1.0f; /* random identities, so that dropping them shows */
    cfg.identity_dropout = 0.0f;
    cg_hetero_cell m, ref;
    init_model(&m, &cfg);
    cfg.drop_unseen = false;
    init_model(&ref, &cfg);
    const int64_t N = cg_graph_num_nodes(G, CG_GENE), D = cfg.hidden;
    /* "seen": every third gene, and gene 100 (deleted below) with one nonzero label column only */
    float *o = cg_f32(m.offsets.weight), *w = cg_f32(ref.emb[CG_GENE].weight);
    for (int64_t g = 0; g < N; g += 3) o[g * CG_NUM_LABELS + g % CG_NUM_LABELS] = 0.01f * (float)(1 + g % 7);
    o[100 * CG_NUM_LABELS + 2] = -0.2f;
    memcpy(cg_f32(ref.offsets.weight), o, (size_t)N * CG_NUM_LABELS * sizeof *o);
    for (int64_t g = 0; g < N; g++)
        if (g % 3 != 0 && g != 100) memset(w + g * D, 0, (size_t)D * sizeof *w);
    enum { NS = 3 };
    int32_t geno[NS][3] = {{100, -1, -1}, {100, 2000, -1}, {300, 4000, 5000}};
    uint64_t *blocks = calloc((NS + 1) * cg_deletion_words(G), sizeof *blocks);
    cg_graph_view v;
    genotype_view(&geno[0][0], NS, blocks, &v);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 24, 7), CG_OK);
    float y[3][NS * CG_NUM_LABELS];
    predict(&ctx, &m, &v, &geno[0][0], NS, y[0]);
    predict(&ctx, &ref, &v, &geno[0][0], NS, y[1]);
    for (int k = 0; k < NS * CG_NUM_LABELS; k++) assert_float_equal(y[0][k], y[1][k], 1e-5);
    /* and not the model with every identity: the unseen genes' rows matter */
    cg_hetero_cell full;
    init_model(&full, &cfg);
    memcpy(cg_f32(full.offsets.weight), o, (size_t)N * CG_NUM_LABELS * sizeof *o);
    predict(&ctx, &full, &v, &geno[0][0], NS, y[2]);
    double diff = 0;
    for (int k = 0; k < NS * CG_NUM_LABELS; k++) diff += fabs(y[2][k] - y[0][k]);
    assert_true(diff > 1e-3);
    /* the config needs the offsets */
    cg_hetero_cell_config c;
    assert_int_equal(cg_hetero_cell_config_parse("{\"gene_offsets\": 0, \"drop_unseen\": true}", "x.json", &c),
                     CG_ERR_FORMAT);
    assert_non_null(strstr(cg_last_error(), "drop_unseen needs gene_offsets"));
    free(blocks);
    cg_ctx_free(&ctx);
    cg_hetero_cell_free(&m);
    cg_hetero_cell_free(&ref);
    cg_hetero_cell_free(&full);
}

/* The wildtype cache (cg_model_cache): batches predicted with it equal batches predicted without it,
 * bit for bit; the first batch fills it, training ignores it. */
static void test_wildtype_cache(void **state) {
    (void)state;
    if (!G) skip();
    cg_hetero_cell_config cfg = cg_hetero_cell_defaults();
    cfg.hidden = 16;
    cg_hetero_cell m;
    init_model(&m, &cfg);
    enum { NS = 2 };
    int32_t geno[2][NS][3] = {{{100, -1, -1}, {100, 2000, -1}}, {{300, 4000, 5000}, {7, 8, -1}}};
    uint64_t *blocks = calloc((NS + 1) * cg_deletion_words(G), sizeof *blocks);
    cg_ctx ctx;
    assert_int_equal(cg_ctx_init(&ctx, 1 << 24, 7), CG_OK);
    cg_model_cache cache = {0};
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < 2; b++) { /* pass 0: no cache; pass 1: the cache, filled by batch 0 */
            cg_graph_view v;
            genotype_view(&geno[b][0][0], NS, blocks, &v);
            assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
            ctx.training = false;
            ctx.grad_enabled = false;
            static float want[2][NS * CG_NUM_LABELS];
            cg_tensor *y = cg_hetero_cell_forward_cached(&ctx, &m, &v, &geno[b][0][0], CG_PATH_FULL,
                                                         pass ? &cache : NULL, NULL);
            if (!y) fail_msg("%s", cg_last_error());
            if (pass == 0) memcpy(want[b], cg_f32(y), sizeof want[b]);
            else assert_memory_equal(want[b], cg_f32(y), sizeof want[b]);
            assert_true(cache.valid == (pass == 1));
        }
    assert_int_equal(cache.rows, cg_graph_num_nodes(G, CG_GENE));
    assert_int_equal(cache.cols, 16);
    /* training ignores the cache (the parameters change between steps): a poisoned cache changes nothing */
    for (int64_t i = 0; i < cache.rows * cache.cols; i++) cache.data[i] = 1e6f;
    int32_t *g0 = &geno[0][0][0];
    cg_graph_view v;
    genotype_view(g0, NS, blocks, &v);
    assert_int_equal(cg_ctx_reset(&ctx), CG_OK);
    ctx.training = true;
    cg_tensor *y = cg_hetero_cell_forward_cached(&ctx, &m, &v, g0, CG_PATH_FULL, &cache, NULL);
    assert_non_null(y);
    for (int k = 0; k < NS * CG_NUM_LABELS; k++) assert_true(fabsf(cg_f32(y)[k]) < 1e3f);
    cg_model_cache_free(&cache);
    assert_null(cache.data);
    free(blocks);
    cg_ctx_free(&ctx);
    cg_hetero_cell_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_batched_equals_subgraphs),
        cmocka_unit_test(test_batched_equals_subgraphs_hypergraph),
        cmocka_unit_test(test_training_step),
        cmocka_unit_test(test_gene_terms_gradient),
        cmocka_unit_test(test_identity_dropout),
        cmocka_unit_test(test_drop_unseen),
        cmocka_unit_test(test_wildtype_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
