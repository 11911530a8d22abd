/* bench/incremental: how much of the graph incremental evaluation recomputes, over the real dataset's
 * genotypes, and evaluation throughput of the incremental against the full masked path (same process,
 * same batches).
 *   1. For a seeded random subset of the dataset's genotypes (all when --samples 0), the recomputed rows
 *      per layer and node type as a fraction of that type's nodes, and the recomputed edge work per layer
 *      (compact edges incl. self loops, over the edges of the relations computed at that layer in the full
 *      path), by |P|: mean, median, 90th percentile.
 *   2. Evaluation (forward only) samples/s at B = 64 on the same genotypes, both paths, and the ratio.
 * usage: incremental [--data DIR] [--config FILE] [--threads T] [--samples S] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#include "cellgraph/dataset.h"
#include "cellgraph/deletion.h"
#include "cellgraph/hetero_cell.h"
#include "cellgraph/rng.h"
#include "cellgraph/threads.h"

static int cmp_f(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summary(const char *label, double *v, int64_t n) {
    if (n == 0) return;
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += v[i];
    qsort(v, (size_t)n, sizeof *v, cmp_f);
    printf("  %-34s mean %5.1f%%  median %5.1f%%  p90 %5.1f%%\n", label, 100 * mean / n, 100 * v[n / 2],
           100 * v[(n * 9) / 10]);
}

int main(int argc, char **argv) {
    const char *data = NULL, *config = NULL;
    int threads = 2;
    int64_t samples = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) samples = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: incremental [--data DIR] [--config FILE] [--threads T] [--samples S]\n");
            return 2;
        }
    }
    if (samples < 0 || cg_set_num_threads(threads) != CG_OK) {
        fprintf(stderr, "incremental: bad --samples or --threads\n");
        return 2;
    }
    char dir[4096];
    cg_graph *g = NULL;
    cg_genes *genes = NULL;
    cg_dataset ds;
    cg_graph_index hg;
    cg_model_config mcfg;
    cg_model_config_defaults(&mcfg, &cg_hetero_cell_model_type);
    cg_dataset_options dopt = cg_dataset_defaults();
    if (cg_data_dir(data, dir, sizeof dir) != CG_OK || (config && cg_model_config_load(config, &mcfg) != CG_OK) ||
        cg_graph_build(dir, "default", &g) != CG_OK || cg_graph_genes(g, &genes) != CG_OK ||
        cg_dataset_build(dir, genes, &dopt, &ds) != CG_OK || cg_graph_index_init(&hg, g) != CG_OK) {
        fprintf(stderr, "incremental: %s\n", cg_last_error());
        return 1;
    }
    if (mcfg.type != &cg_hetero_cell_model_type) {
        fprintf(stderr, "incremental: %s is not a hetero_cell config\n", config);
        return 1;
    }
    const cg_hetero_cell_config cfg = *(const cg_hetero_cell_config *)cg_model_config_cdata(&mcfg);
    cg_model model;
    if (cg_model_init(&model, &mcfg, g) != CG_OK) {
        fprintf(stderr, "incremental: %s\n", cg_last_error());
        return 1;
    }
    const cg_hetero_cell m = *(const cg_hetero_cell *)model.impl; /* the same parameters (pointers) */
    int64_t *order = malloc((size_t)ds.n * sizeof *order);
    for (int64_t i = 0; i < ds.n; i++) order[i] = i;
    cg_rng_shuffle_i64(order, ds.n, 42, 7);
    const int64_t S = samples == 0 || samples > ds.n ? ds.n : samples;
    const int L = cfg.layers;
    /* edge work of the full path per layer: every relation, self loops included */
    double full_edges = 0;
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        full_edges += (double)rel->n_edges + (m.conv[0][r].gat.cfg.add_self_loops ? (double)cg_graph_num_nodes(g, rel->dst_type) : 0);
    }
    double *rows = malloc((size_t)S * L * CG_NODE_TYPES * sizeof *rows), *edges = malloc((size_t)S * L * sizeof *edges);
    int *np = malloc((size_t)S * sizeof *np);
    const int64_t W = cg_deletion_words(g);
    uint64_t *blocks = calloc((size_t)65 * W, sizeof *blocks);
    cg_ctx ctx;
    cg_ctx_init(&ctx, 0, 1);
    ctx.training = false;
    ctx.grad_enabled = false;
    printf("HeteroCell incremental evaluation on the real graph (D %d, L %d, %d heads); %lld of the dataset's %lld "
           "genotypes (seeded sample); %d threads\n",
           cfg.hidden, L, cfg.heads, (long long)S, (long long)ds.n, threads);
    double t0 = bench_now();
    for (int64_t i = 0; i < S; i++) {
        const int32_t *gt = ds.genotype + 3 * order[i];
        memset(blocks, 0, (size_t)2 * W * sizeof *blocks);
        if (cg_deletion_batch(g, gt, 1, 3, blocks + W) != CG_OK) {
            fprintf(stderr, "incremental: %s\n", cg_last_error());
            return 1;
        }
        cg_graph_view v;
        cg_graph_view_of(&v, &hg, 2, blocks);
        cg_ctx_reset(&ctx);
        cg_hc_incremental_stats st;
        if (!cg_hetero_cell_encode_incremental(&ctx, &m, &v, &st)) {
            fprintf(stderr, "incremental: %s\n", cg_last_error());
            return 1;
        }
        np[i] = (gt[0] >= 0) + (gt[1] >= 0) + (gt[2] >= 0);
        for (int l = 0; l < L; l++) {
            double e = 0;
            for (int r = 0; r < CG_RELATIONS; r++) e += (double)st.edges[l][r];
            edges[i * L + l] = e / full_edges;
            for (int t = 0; t < CG_NODE_TYPES; t++) rows[(i * L + l) * CG_NODE_TYPES + t] = (double)st.rows[l][t] / (double)cg_graph_num_nodes(g, t);
        }
    }
    double dt = bench_now() - t0;
    double *buf = malloc((size_t)S * sizeof *buf);
    static const char *const TN[3] = {"genes", "reactions", "metabolites"};
    for (int p = 1; p <= 3; p++) {
        int64_t cnt = 0;
        for (int64_t i = 0; i < S; i++) cnt += np[i] == p;
        printf("|P| = %d: %lld genotypes\n", p, (long long)cnt);
        for (int l = 0; l < L; l++) {
            char label[96];
            for (int t = 0; t < CG_NODE_TYPES; t++) {
                int64_t k = 0;
                for (int64_t i = 0; i < S; i++)
                    if (np[i] == p) buf[k++] = rows[(i * L + l) * CG_NODE_TYPES + t];
                snprintf(label, sizeof label, "layer %d: recomputed %s", l + 1, TN[t]);
                summary(label, buf, k);
            }
            int64_t k = 0;
            for (int64_t i = 0; i < S; i++)
                if (np[i] == p) buf[k++] = edges[i * L + l];
            snprintf(label, sizeof label, "layer %d: edge work", l + 1);
            summary(label, buf, k);
        }
    }
    printf("(a node type that cannot reach the readout at a layer is not computed: 0%%)\n");
    printf("one genotype at a time (B = 1 + the wildtype): %.1f genotypes/s\n", S / dt);

    /* evaluation throughput, B = 64, same genotypes, both paths */
    const int64_t B = 64, NB = S < 256 ? S : 256;
    int32_t *geno = malloc((size_t)NB * 3 * sizeof *geno);
    for (int64_t i = 0; i < NB; i++) memcpy(geno + 3 * i, ds.genotype + 3 * order[i], 3 * sizeof *geno);
    float *y = malloc((size_t)NB * 2 * sizeof *y);
    double rate[2];
    for (int mode = CG_PATH_FULL; mode >= CG_PATH_INCREMENTAL; mode--) {
        cg_model_predict(&ctx, &model, &hg, geno, B, B, (cg_perturbation_path)mode, y); /* warm-up */
        t0 = bench_now();
        if (cg_model_predict(&ctx, &model, &hg, geno, NB, B, (cg_perturbation_path)mode, y) != CG_OK) {
            fprintf(stderr, "incremental: %s\n", cg_last_error());
            return 1;
        }
        rate[mode] = NB / (bench_now() - t0);
    }
    printf("evaluation, B = %lld, %lld genotypes: full %.1f genotypes/s, incremental %.1f genotypes/s: %.1fx\n",
           (long long)B, (long long)NB, rate[CG_PATH_FULL], rate[CG_PATH_INCREMENTAL], rate[CG_PATH_INCREMENTAL] / rate[CG_PATH_FULL]);
    cg_ctx_free(&ctx);
    free(geno);
    free(y);
    free(buf);
    free(rows);
    free(edges);
    free(np);
    free(blocks);
    free(order);
    cg_model_free(&model);
    cg_graph_index_free(&hg);
    cg_dataset_free(&ds);
    cg_genes_free(genes);
    cg_graph_free(g);
    return 0;
}
