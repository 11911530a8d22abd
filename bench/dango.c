/* bench/dango: DANGO training steps on the real data, the cellgraph side of bench/dango_peer.sh.
 *   The model is the config's (configs/dango.json by default: D 128, 8 heads of 128, 5 sampled neighbours,
 *   six networks, the auxiliary reconstruction on 960 genes per step); the graph carries every optional
 *   relation. A step is the trainer's (cg_trainer_step): the next batch of real training genotypes
 *   (pairs, triples and singles of the random split, z-scored labels), forward, LogCosh / MSE loss, the
 *   auxiliary reconstruction loss, backward, Adam. Prints the median step time over --steps steps after
 *   --warm warm-up steps as samples/s, the same with the auxiliary loss off (recon_beta 0: the head and
 *   the encoders of the batch's genes alone), and the process's peak resident memory, as RESULT lines.
 * usage: dango [--data DIR] [--config FILE] [--threads T] [--steps N] [--warm W] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

#include "cellgraph/dango.h"
#include "cellgraph/genes.h"
#include "cellgraph/threads.h"
#include "cellgraph/trainer.h"

/* median seconds per step of `steps` steps after `warm` (samples per step in *batch) */
static int time_steps(cg_model_config *mc, const cg_train_config *tc, const cg_graph *g, const cg_dataset *d, int warm,
                      int steps, double *median) {
    cg_model m;
    cg_trainer t;
    if (cg_model_init(&m, mc, g) != CG_OK || cg_trainer_init(&t, &m, g, d, tc) != CG_OK) {
        fprintf(stderr, "dango: %s\n", cg_last_error());
        return 1;
    }
    double *sec = malloc((size_t)steps * sizeof *sec);
    for (int i = 0; i < warm + steps; i++) {
        float loss;
        bool done;
        double t0 = bench_now();
        if (cg_trainer_step(&t, &loss, &done) != CG_OK || !isfinite(loss)) {
            fprintf(stderr, "dango: step %d: %s\n", i, cg_last_error());
            return 1;
        }
        if (i >= warm) sec[i - warm] = bench_now() - t0;
        if (done) cg_trainer_next_epoch(&t);
    }
    qsort(sec, (size_t)steps, sizeof *sec, bench_cmp_double);
    *median = sec[steps / 2];
    free(sec);
    cg_trainer_free(&t);
    cg_model_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    const char *data = NULL, *config = "configs/dango.json";
    int threads = 2, steps = 10, warm = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warm") == 0 && i + 1 < argc) warm = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: dango [--data DIR] [--config FILE] [--threads T] [--steps N] [--warm W]\n");
            return 2;
        }
    }
    if (steps < 1 || warm < 0 || cg_set_num_threads(threads) != CG_OK) {
        fprintf(stderr, "dango: bad --steps, --warm or --threads\n");
        return 2;
    }
    char dir[4096];
    cg_model_config mc;
    cg_train_config tc;
    cg_graph *g = NULL;
    cg_genes *genes = NULL;
    cg_dataset d;
    const char *all[1] = {"all"};
    if (cg_data_dir(data, dir, sizeof dir) != CG_OK || cg_model_config_load(config, &mc) != CG_OK ||
        cg_train_config_load(config, &tc) != CG_OK || cg_graph_build_ex(dir, "default", all, 1, &g) != CG_OK ||
        cg_graph_genes(g, &genes) != CG_OK || cg_dataset_build(dir, genes, NULL, &d) != CG_OK) {
        fprintf(stderr, "dango: %s\n", cg_last_error());
        return 1;
    }
    if (mc.type != &cg_dango_model_type) {
        fprintf(stderr, "dango: %s is not a DANGO config\n", config);
        return 1;
    }
    tc.split = CG_SPLIT_RANDOM;
    tc.max_steps = 0;
    cg_dango_config *dc = cg_model_config_data(&mc);
    printf("DANGO (D %d, %d heads, %d sampled neighbours, %d networks, %s head, recon beta %g on %d genes), batch %d, "
           "%s loss, %d threads, median of %d steps after %d\n",
           dc->hidden_channels, dc->heads, dc->num_samples, dc->n_networks, dc->released_head ? "released" : "paper",
           dc->recon_beta, dc->recon_genes, tc.batch_size, tc.logcosh ? "LogCosh" : "MSE", threads, steps, warm);
    double med, med_norecon;
    if (time_steps(&mc, &tc, g, &d, warm, steps, &med) != 0) return 1;
    const double beta = dc->recon_beta;
    dc->recon_beta = 0;
    if (time_steps(&mc, &tc, g, &d, warm, steps, &med_norecon) != 0) return 1;
    dc->recon_beta = beta;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT cellgraph step %.4f s  %.1f samples/s\n", med, tc.batch_size / med);
    printf("RESULT cellgraph-no-recon step %.4f s  %.1f samples/s\n", med_norecon, tc.batch_size / med_norecon);
    printf("RESULT cellgraph peak-rss %.0f MB\n", ru.ru_maxrss / 1024.0);
    cg_dataset_free(&d);
    cg_genes_free(genes);
    cg_graph_free(g);
    return 0;
}
