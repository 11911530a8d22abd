/* bench/graph: building the cell graph from the raw files and loading a built graph, against
 * baselines in the same process: reading (and gunzipping) the same raw input bytes, and read()ing the
 * built file. Targets (issue 3): build < 30 s, load < 0.2 s on this machine.
 * usage: graph [--data DIR] [--reps R] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include <zlib.h>

#include "cellgraph/graph.h"

/* bytes of a file read through zlib (decompressed when gzip) */
static long read_all(const char *path) {
    gzFile f = gzopen(path, "rb");
    if (!f) return -1;
    static char buf[1 << 16];
    long total = 0;
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) total += n;
    gzclose(f);
    return total;
}

int main(int argc, char **argv) {
    const char *data = NULL;
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: graph [--data DIR] [--reps R]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 100) reps = 5;
    char dir[4096];
    if (cg_data_dir(data, dir, sizeof dir) != CG_OK) {
        fprintf(stderr, "graph: %s\n", cg_last_error());
        return 1;
    }
    static const char *files[] = {"sgd/SGD_features.tab", "string/v11/4932.protein.actions.v11.0.txt.gz",
                                  "ppi/Krogan-2006.txt", "ppi/Tarassov-2008-PCA.tsv",
                                  "regulation/yeastract-2020/"
                                  "DNABinding_AND_Expr_TF_act_OR_inh_RegulationMatrix_Documented_2020511.csv.gz",
                                  "yeast-gem/yeast-GEM.yml"};
    double tb[100], tr[100], tl[100], tf[100];
    long raw = 0;
    cg_graph *g = NULL;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        raw = 0;
        for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", dir, files[k]);
            raw += read_all(p);
        }
        tr[r] = bench_now() - t0;
        t0 = bench_now();
        if (cg_graph_build(dir, "default", &g) != CG_OK) {
            fprintf(stderr, "graph: %s\n", cg_last_error());
            return 1;
        }
        tb[r] = bench_now() - t0;
        if (r + 1 < reps) cg_graph_free(g);
    }
    const char *path = "/tmp/cellgraph_bench_graph.safetensors";
    if (cg_graph_save(g, path) != CG_OK) {
        fprintf(stderr, "graph: %s\n", cg_last_error());
        return 1;
    }
    cg_graph_free(g);
    long fsize = read_all(path);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        read_all(path);
        tf[r] = bench_now() - t0;
        t0 = bench_now();
        cg_graph *l = NULL;
        if (cg_graph_load(path, &l) != CG_OK) {
            fprintf(stderr, "graph: %s\n", cg_last_error());
            return 1;
        }
        tl[r] = bench_now() - t0;
        cg_graph_free(l);
    }
    qsort(tb, reps, sizeof(double), bench_cmp_double);
    qsort(tr, reps, sizeof(double), bench_cmp_double);
    qsort(tl, reps, sizeof(double), bench_cmp_double);
    qsort(tf, reps, sizeof(double), bench_cmp_double);
    printf("cell graph benchmark (%s), median of %d runs\n", dir, reps);
    printf("build from raw files: %8.3f s   baseline: read + gunzip the %.1f MB of inputs %.3f s   ratio %.1fx   "
           "target < 30 s: %s\n",
           tb[reps / 2], raw / 1e6, tr[reps / 2], tb[reps / 2] / tr[reps / 2], tb[reps / 2] < 30 ? "met" : "MISSED");
    printf("load built graph:     %8.2f ms  baseline: read() the %.1f MB file %.2f ms        ratio %.2fx  "
           "target < 0.2 s: %s\n",
           tl[reps / 2] * 1e3, fsize / 1e6, tf[reps / 2] * 1e3, tl[reps / 2] / tf[reps / 2],
           tl[reps / 2] < 0.2 ? "met" : "MISSED");
    remove(path);
    return 0;
}
