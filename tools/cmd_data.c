/* cellgraph data build | info */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cellgraph/dataset.h"
#include "cellgraph/genes.h"
#include "cellgraph/graph.h"
#include "cli.h"

enum { OPT_DATA = 256, OPT_GRAPH };

static int data_build(int argc, char **argv) {
    const char *data = NULL, *graph = NULL, *out = cli_default_dataset_path();
    static const struct option LONG[] = {{"data", required_argument, NULL, OPT_DATA},
                                         {"graph", required_argument, NULL, OPT_GRAPH},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, "data build", argc, argv, "ho:", LONG);
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_DATA: data = o.arg; break;
        case OPT_GRAPH: graph = o.arg; break;
        case 'o': out = o.arg; break;
        case 'h': return CLI_HELP;
        case CLI_ARG: return cli_unexpected(&o);
        default: return 2;
        }
    }
    char dir[4096];
    if (cg_data_dir(data, dir, sizeof dir) != CG_OK) return cli_fail();
    double t0 = cli_now();
    cg_genes *genes = NULL;
    if (graph) {
        /* index genes exactly as the graph does */
        cg_graph *g = NULL;
        if (cg_graph_load(graph, &g) != CG_OK) return cli_fail();
        cg_status s = cg_graph_genes(g, &genes);
        cg_graph_free(g);
        if (s != CG_OK) return cli_fail();
    } else {
        char path[4200];
        snprintf(path, sizeof path, "%s/sgd/SGD_features.tab", dir);
        if (cg_genes_load(path, &genes) != CG_OK) return cli_fail();
    }
    cg_dataset d;
    cg_dataset_options opt = cg_dataset_defaults();
    cg_status s = cg_dataset_build(dir, genes, &opt, &d);
    cg_genes_free(genes);
    if (s != CG_OK) return cli_fail();
    double t1 = cli_now();
    if (cg_dataset_save(&d, out) != CG_OK) {
        cg_dataset_free(&d);
        return cli_fail();
    }
    printf("built the dataset from %s in %.2f s: %lld samples\n", dir, t1 - t0, (long long)d.n);
    printf("wrote %s (see: cellgraph data info %s)\n", out, out);
    cg_dataset_free(&d);
    return 0;
}

static int data_info(int argc, char **argv) {
    const char *path = NULL;
    static const struct option LONG[] = {{"help", no_argument, NULL, 'h'}, {0}};
    cli_opts o;
    cli_opts_init(&o, "data info", argc, argv, "h", LONG);
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case 'h': return CLI_HELP;
        case CLI_ARG:
            if (path) return cli_unexpected(&o); /* one file */
            path = o.arg;
            break;
        default: return 2;
        }
    }
    if (!path) path = cli_default_dataset_path();
    cg_dataset d;
    if (cg_dataset_load(path, &d) != CG_OK) return cli_fail();
    const int K = CG_NUM_LABELS;
    printf("%s: %lld samples over %lld genes (gene table crc32 %08x), split seed %llu, gene hold-out %.2f\n\n", path,
           (long long)d.n, (long long)d.n_genes, d.genes_checksum, (unsigned long long)d.seed, d.gene_holdout);

    printf("%-34s %9s %9s %9s\n", "source", "rows", "records", "samples");
    for (int s = 0; s < d.n_sources; s++) {
        int64_t n = 0;
        for (int64_t i = 0; i < d.n; i++) n += (d.source_mask[i] >> s) & 1;
        printf("%-34s %9lld %9lld %9lld\n", d.sources[s].source, (long long)d.sources[s].rows,
               (long long)d.sources[s].records, (long long)n);
    }

    printf("\nsamples by number of deleted genes and label (a sample may have several labels):\n");
    printf("%-8s %9s %9s %9s %9s\n", "genes", "samples", "fitness", "epsilon", "tau");
    for (int ng = 1; ng <= 3; ng++) {
        int64_t n = 0, c[CG_NUM_LABELS] = {0};
        for (int64_t i = 0; i < d.n; i++) {
            const int32_t *g = d.genotype + 3 * i;
            if ((g[0] >= 0) + (g[1] >= 0) + (g[2] >= 0) != ng) continue;
            n++;
            for (int k = 0; k < K; k++) c[k] += d.label_count[i * K + k] > 0;
        }
        printf("%-8d %9lld %9lld %9lld %9lld\n", ng, (long long)n, (long long)c[CG_LABEL_FITNESS],
               (long long)c[CG_LABEL_EPSILON], (long long)c[CG_LABEL_TAU]);
    }

    printf("\nsplits (train / val / test / in none):\n");
    for (int sk = 0; sk < CG_SPLIT_KINDS; sk++) {
        int64_t c[4] = {0};
        for (int64_t i = 0; i < d.n; i++) c[(unsigned)d.split[sk][i] <= CG_SPLIT_NONE ? d.split[sk][i] : CG_SPLIT_NONE]++;
        printf("  %-7s %9lld %9lld %9lld %9lld   (%.1f%% / %.1f%% / %.1f%% / %.1f%%)\n", cg_split_kind_name(sk),
               (long long)c[0], (long long)c[1], (long long)c[2], (long long)c[3], 100.0 * c[0] / (double)d.n,
               100.0 * c[1] / (double)d.n, 100.0 * c[2] / (double)d.n, 100.0 * c[3] / (double)d.n);
    }

    printf("\nlabels (original units)          %9s %10s %10s %10s %10s\n", "count", "mean", "std", "min", "max");
    for (int k = 0; k < K; k++) {
        double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
        int64_t c = 0;
        for (int64_t i = 0; i < d.n; i++) {
            float v = d.label[i * K + k];
            if (!isfinite(v)) continue;
            sum += v, sq += (double)v * v, c++;
            mn = fmin(mn, v), mx = fmax(mx, v);
        }
        double mean = c ? sum / c : NAN, sd = c ? sqrt(fmax(0, sq / c - mean * mean)) : NAN;
        printf("  %-16s all samples    %9lld %10.4f %10.4f %10.4f %10.4f\n", cg_label_name(k), (long long)c, mean, sd,
               mn, mx);
        for (int sk = 0; sk < CG_SPLIT_KINDS; sk++) {
            const cg_label_stats *st = &d.stats[sk][k];
            printf("  %-16s train (%-6s) %9lld %10.4f %10.4f %10.4f %10.4f   <- z-score statistics\n",
                   cg_label_name(k), cg_split_kind_name(sk), (long long)st->count, st->mean, st->std, st->min,
                   st->max);
        }
    }

    printf("\ndropped rows by reason:\n");
    int any = 0;
    for (int s = 0; s < d.n_sources; s++)
        for (int r = 0; r < d.sources[s].n_reasons; r++) {
            any = 1;
            printf("  %-34s %-36s %8lld   e.g. %s\n", d.sources[s].source, d.sources[s].reason[r],
                   (long long)d.sources[s].dropped[r], d.sources[s].example[r]);
        }
    if (!any) printf("  none\n");
    cg_dataset_free(&d);
    return 0;
}

int cmd_data(int argc, char **argv) {
    static const struct option LONG[] = {{"help", no_argument, NULL, 'h'}, {0}};
    cli_opts o;
    cli_opts_init(&o, "data", argc, argv, "h", LONG);
    const int c = cli_opts_next(&o);
    if (c == 'h') return CLI_HELP;
    if (c == CLI_BAD) return 2;
    if (c == CLI_DONE) {
        fprintf(stderr, "usage: cellgraph data build|info ... (see cellgraph data --help)\n");
        return 2;
    }
    /* the subcommand: the arguments from it on are its own */
    const int k = o.next - 1;
    if (strcmp(o.arg, "build") == 0) return data_build(argc - k, argv + k);
    if (strcmp(o.arg, "info") == 0) return data_info(argc - k, argv + k);
    fprintf(stderr, "cellgraph data: unknown subcommand '%s' (build, info)\n", o.arg);
    return 2;
}
