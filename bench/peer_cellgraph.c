/* bench/peer_cellgraph: cellgraph's side of the peer benchmark (bench/peer.sh, reference/peer_bench.py).
 * HeteroCell training steps (forward, backward, gradient clipping, AdamW) on a graph file, for batches of
 * real genotypes read from a file written by reference/peer_bench.py, so that cellgraph and PyG see the
 * same graph, the same model config and the same batches.
 *   genotypes file: one genotype per line, "g0 g1 g2 fitness gene_interaction" (gene indices of the
 *   graph, -1 padding; labels z-scored, nan when missing); consecutive lines form the batches.
 * Per step it times building the batch (dead bitsets + view: cellgraph's whole batch construction) and
 * the training step; prints the medians over the timed steps (after --warm warm-up steps) and the peak
 * resident memory of the process.
 * --path full (default): every node of every sample (cg_hetero_cell_forward); --path incremental: the
 * trainer's default path (only the rows a deletion can change, cellgraph/hetero_cell.h).
 * usage: peer_cellgraph --graph F --genotypes F [--config F] [--batch B] [--warm W] [--steps S] [--threads T]
 *                       [--path full|incremental] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

#include "cellgraph/deletion.h"
#include "cellgraph/hetero_cell.h"
#include "cellgraph/losses.h"
#include "cellgraph/optim.h"
#include "cellgraph/threads.h"

int main(int argc, char **argv) {
    const char *graph = NULL, *config = NULL, *genos = NULL;
    int threads = 2, steps = 3, warm = 1, B = 32;
    cg_perturbation_path path = CG_PATH_FULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--graph") == 0 && i + 1 < argc) graph = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
        else if (strcmp(argv[i], "--genotypes") == 0 && i + 1 < argc) genos = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warm") == 0 && i + 1 < argc) warm = atoi(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) B = atoi(argv[++i]);
        else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc && strcmp(argv[i + 1], "full") == 0) path = CG_PATH_FULL, i++;
        else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc && strcmp(argv[i + 1], "incremental") == 0)
            path = CG_PATH_INCREMENTAL, i++;
        else {
            fprintf(stderr, "usage: peer_cellgraph --graph F --genotypes F [--config F] [--batch B] [--warm W] "
                            "[--steps S] [--threads T] [--path full|incremental]\n");
            return 2;
        }
    }
    if (!graph || !genos || steps < 1 || steps > 1000 || warm < 0 || B < 1 || cg_set_num_threads(threads) != CG_OK) {
        fprintf(stderr, "peer_cellgraph: --graph and --genotypes are required; bad --steps, --warm, --batch or --threads\n");
        return 2;
    }
    int total = warm + steps;
    int32_t *geno = malloc((size_t)total * B * 3 * sizeof *geno);
    float *target = malloc((size_t)total * B * CG_NUM_LABELS * sizeof *target);
    FILE *f = fopen(genos, "r");
    if (!f || !geno || !target) {
        fprintf(stderr, "peer_cellgraph: cannot read %s\n", genos);
        return 1;
    }
    for (int64_t i = 0; i < (int64_t)total * B; i++) {
        char a[32], b[32];
        if (fscanf(f, "%d %d %d %31s %31s", &geno[3 * i], &geno[3 * i + 1], &geno[3 * i + 2], a, b) != 5) {
            fprintf(stderr, "peer_cellgraph: %s: need %d genotype lines (warm + steps) x batch\n", genos, total * B);
            return 1;
        }
        /* the file's interaction column is epsilon for a pair, tau for a triple */
        const int ng = (geno[3 * i] >= 0) + (geno[3 * i + 1] >= 0) + (geno[3 * i + 2] >= 0), ki = cg_interaction_label(ng);
        float *ti = target + CG_NUM_LABELS * i;
        for (int k = 0; k < CG_NUM_LABELS; k++) ti[k] = NAN;
        ti[CG_LABEL_FITNESS] = strtof(a, NULL);
        if (ki >= 0) ti[ki] = strtof(b, NULL);
    }
    fclose(f);

    cg_graph *g = NULL;
    cg_graph_index hg;
    cg_hetero_cell_config cfg = cg_hetero_cell_published();
    double t0 = bench_now();
    if ((config && cg_hetero_cell_config_load(config, &cfg) != CG_OK) || cg_graph_load(graph, &g) != CG_OK ||
        cg_graph_index_init(&hg, g) != CG_OK) {
        fprintf(stderr, "peer_cellgraph: %s\n", cg_last_error());
        return 1;
    }
    double t_setup = bench_now() - t0;
    int64_t nn[CG_NODE_TYPES];
    for (int t = 0; t < CG_NODE_TYPES; t++) nn[t] = cg_graph_num_nodes(g, t);
    cg_hetero_cell m;
    cg_optim opt;
    cg_optim_config oc = cg_optim_defaults(CG_OPTIM_ADAMW); /* lr 1e-3, weight decay 1e-2: the trainer's */
    if (cg_hetero_cell_init(&m, &cfg, nn) != CG_OK || cg_optim_create(&opt, &m.params, &oc) != CG_OK) {
        fprintf(stderr, "peer_cellgraph: %s\n", cg_last_error());
        return 1;
    }
    int64_t W = cg_deletion_words(g);
    uint64_t *blocks = calloc((size_t)(B + 1) * W, sizeof *blocks);
    cg_ctx ctx;
    cg_ctx_init(&ctx, 0, 1);
    double *tb = malloc(sizeof(double) * total), *ts = malloc(sizeof(double) * total);
    double first_loss = NAN, last_loss = NAN;
    for (int s = 0; s < total; s++) {
        double a = bench_now();
        memset(blocks, 0, (size_t)W * sizeof *blocks); /* sample 0: the wildtype */
        cg_graph_view v;
        if (cg_deletion_batch(g, geno + (int64_t)s * B * 3, B, 3, blocks + W) != CG_OK) {
            fprintf(stderr, "peer_cellgraph: %s\n", cg_last_error());
            return 1;
        }
        cg_graph_view_of(&v, &hg, B + 1, blocks);
        double b = bench_now();
        cg_ctx_reset(&ctx);
        ctx.step = (uint64_t)s;
        ctx.training = true;
        ctx.grad_enabled = true;
        cg_params_zero_grad(&m.params);
        cg_tensor *y = cg_hetero_cell_forward_mode(&ctx, &m, &v, path, NULL);
        cg_tensor *loss = y ? cg_mse_weighted(&ctx, y, cg_tensor_wrap2(&ctx, B, CG_NUM_LABELS, target + (int64_t)s * B * CG_NUM_LABELS), NULL) : NULL;
        float norm;
        if (!loss || cg_backward(&ctx, loss) != CG_OK || cg_clip_grad_norm(&m.params, 1.0f, &norm) != CG_OK ||
            cg_optim_step(&opt, &m.params) != CG_OK) {
            fprintf(stderr, "peer_cellgraph: %s\n", cg_last_error());
            return 1;
        }
        double c = bench_now();
        tb[s] = b - a;
        ts[s] = c - b;
        if (s == 0) first_loss = cg_f32(loss)[0];
        last_loss = cg_f32(loss)[0];
        /* arena growth shows as new allocations (fresh pages to fault in): the warm-up should end them */
        fprintf(stderr, "  cellgraph step %d: build %.4f s, step %.3f s, loss %.4f, arena %.0f MB, allocations so far %llu\n",
                s, tb[s], ts[s], last_loss, ctx.arena.high_water / 1e6, (unsigned long long)cg_ctx_allocations(&ctx));
    }
    qsort(tb + warm, steps, sizeof(double), bench_cmp_double);
    qsort(ts + warm, steps, sizeof(double), bench_cmp_double);
    double build = tb[warm + steps / 2], step = ts[warm + steps / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t n_params = 0; /* ps->total counts the alignment padding too */
    for (int i = 0; i < m.params.count; i++) n_params += m.params.tensors[i]->numel;
    /* one machine-readable line for bench/peer.sh */
    printf("RESULT name=%s B=%d threads=%d steps=%d build_s=%.6f step_s=%.6f samples_per_s=%.3f "
           "peak_rss_mb=%.1f arena_mb=%.1f setup_s=%.3f params=%lld first_loss=%.5f last_loss=%.5f\n",
           path == CG_PATH_FULL ? "cellgraph" : "cellgraph-incremental", B, threads, steps, build, step, B / (build + step), ru.ru_maxrss / 1024.0, ctx.arena.high_water / 1e6,
           t_setup, (long long)n_params, first_loss, last_loss);
    free(tb);
    free(ts);
    cg_ctx_free(&ctx);
    free(blocks);
    cg_optim_free(&opt);
    cg_hetero_cell_free(&m);
    cg_graph_index_free(&hg);
    cg_graph_free(g);
    free(geno);
    free(target);
    return 0;
}
