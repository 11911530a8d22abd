/* bench/predict_cache: prediction throughput of HeteroCell without its global head, with and without the
 * wildtype cache (cg_model_cache), in one process on the same genotypes, and whether the two give the same
 * predictions bit for bit.
 *   The genotypes are the first --pairs pairs of the yeast-GEM metabolic genes in screen order (what
 *   `cellgraph screen --metabolic --order 2` predicts first), predicted in chunks of 4 batches as screen
 *   does: "no cache" runs the wildtype pass once per batch (the code before the cache), "cache" keeps one
 *   cache for the whole run (screen's use). The parameters are the config's initialisation: the cost does
 *   not depend on their values.
 * usage: predict_cache [--data DIR] [--config FILE] [--threads T] [--pairs N] [--batch B] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#include "cellgraph/hetero_cell.h"
#include "cellgraph/threads.h"

static int run(const cg_model *m, const cg_graph_index *gi, const int32_t *geno, int64_t n, int64_t batch, bool cached,
               float *y, double *seconds) {
    cg_ctx ctx;
    if (cg_ctx_init(&ctx, 0, 1) != CG_OK) return 1;
    cg_model_cache cache = {0};
    const int64_t chunk = 4 * batch;
    double t0 = bench_now();
    for (int64_t i = 0; i < n; i += chunk) {
        const int64_t k = n - i < chunk ? n - i : chunk;
        if (cg_model_predict_cached(&ctx, m, gi, geno + 3 * i, k, batch, CG_PATH_INCREMENTAL, y + CG_NUM_LABELS * i,
                                    NULL, NULL, cached ? &cache : NULL) != CG_OK) {
            fprintf(stderr, "predict_cache: %s\n", cg_last_error());
            return 1;
        }
    }
    *seconds = bench_now() - t0;
    cg_model_cache_free(&cache);
    cg_ctx_free(&ctx);
    return 0;
}

int main(int argc, char **argv) {
    const char *data = NULL, *config = NULL;
    int threads = 2;
    int64_t pairs = 20000, batch = 256;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) pairs = atoll(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: predict_cache [--data DIR] [--config FILE] [--threads T] [--pairs N] [--batch B]\n");
            return 2;
        }
    }
    if (pairs < 1 || batch < 1 || cg_set_num_threads(threads) != CG_OK) {
        fprintf(stderr, "predict_cache: bad --pairs, --batch or --threads\n");
        return 2;
    }
    char dir[4096];
    cg_graph *g = NULL;
    cg_graph_index hg;
    cg_model_config mcfg;
    cg_model_config_defaults(&mcfg, &cg_hetero_cell_model_type);
    int32_t *genes = NULL;
    int64_t n_genes = 0;
    if (cg_data_dir(data, dir, sizeof dir) != CG_OK || (config && cg_model_config_load(config, &mcfg) != CG_OK) ||
        cg_graph_build(dir, "default", &g) != CG_OK || cg_graph_index_init(&hg, g) != CG_OK) {
        fprintf(stderr, "predict_cache: %s\n", cg_last_error());
        return 1;
    }
    const cg_hetero_cell_config *hc = cg_model_config_cdata(&mcfg);
    if (mcfg.type != &cg_hetero_cell_model_type || hc->global_head) {
        fprintf(stderr, "predict_cache: needs a hetero_cell config without the global head\n");
        return 1;
    }
    /* the metabolic genes, as screen --metabolic lists them */
    genes = malloc((size_t)cg_graph_num_nodes(g, CG_GENE) * sizeof *genes);
    n_genes = cg_graph_metabolic_genes(g, genes);
    cg_model model;
    if (cg_model_init(&model, &mcfg, g) != CG_OK) {
        fprintf(stderr, "predict_cache: %s\n", cg_last_error());
        return 1;
    }
    /* the first pairs of the metabolic genes in screen order */
    int32_t *geno = malloc((size_t)pairs * 3 * sizeof *geno);
    int64_t k = 0;
    for (int64_t a = 0; a < n_genes && k < pairs; a++)
        for (int64_t b = a + 1; b < n_genes && k < pairs; b++, k++) {
            geno[3 * k] = genes[a];
            geno[3 * k + 1] = genes[b];
            geno[3 * k + 2] = -1;
        }
    float *y[2] = {malloc((size_t)k * CG_NUM_LABELS * sizeof(float)), malloc((size_t)k * CG_NUM_LABELS * sizeof(float))};
    printf("HeteroCell (D %d, no global head) on the real graph: %lld metabolic pairs, batch %lld, chunks of 4 "
           "batches, %d threads\n", hc->hidden, (long long)k, (long long)batch, threads);
    double sec[2];
    for (int c = 0; c < 2; c++)
        if (run(&model, &hg, geno, k, batch, c == 1, y[c], &sec[c]) != 0) return 1;
    printf("  no cache (wildtype pass per batch): %8.1f genotypes/s (%.2f s)\n", (double)k / sec[0], sec[0]);
    printf("  cache (one wildtype pass):          %8.1f genotypes/s (%.2f s)\n", (double)k / sec[1], sec[1]);
    printf("  ratio %.1fx; predictions identical: %s\n", sec[0] / sec[1],
           memcmp(y[0], y[1], (size_t)k * CG_NUM_LABELS * sizeof(float)) == 0 ? "yes" : "NO");
    free(y[0]);
    free(y[1]);
    free(geno);
    free(genes);
    cg_model_free(&model);
    cg_graph_index_free(&hg);
    cg_graph_free(g);
    return 0;
}
