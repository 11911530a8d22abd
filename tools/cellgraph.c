/* cellgraph: command-line tool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cellgraph/error.h"
#include "cellgraph/threads.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cellgraph [--threads T] <command> [options]\n"
            "\n"
            "Heterogeneous graph models of the yeast cell: build the cell graph from public data, train\n"
            "graph neural networks on it, predict fitness and genetic interactions of gene deletions.\n"
            "\n"
            "commands:\n"
            "  graph build [--data DIR] [--recipe default|yeastract2013] [--relations R,...|all] [-o FILE]\n"
            "                          build the cell graph from the raw yeast files (optional gene-gene\n"
            "                          relations: string9_database, string9_neighborhood, string9_fusion,\n"
            "                          string9_cooccurence, coexpression, cocomplex)\n"
            "  graph info [FILE]       node and edge counts, degrees, isolated genes, unresolved names\n"
            "  graph delete [--graph FILE] GENE [GENE ...]\n"
            "                          what a deletion kills: genes, reaction nodes, edges per relation\n"
            "  data build [--data DIR] [--graph FILE] [-o FILE]\n"
            "                          build the phenotype dataset (fitness, genetic interactions)\n"
            "  data info [FILE]        counts by source, label, genes deleted and split; label statistics;\n"
            "                          dropped rows by reason\n"
            "  train [--config F] [--data DIR] [--out DIR] [--epochs N] [--max-minutes M] [--max-steps N]\n"
            "        [--batch-size B] [--split random|gene1|gene2|query] [--seed S] [--threads T]\n"
            "        [--resume RUN_DIR] [--perturbation P]\n"
            "                          train the config's model (\"model\": hetero_cell | additive) on the\n"
            "                          real data (graph and dataset cached in $CELLGRAPH_CACHE, else\n"
            "                          runs/cache), evaluate on the test split against the baselines; the\n"
            "                          run goes to runs/<timestamp>/\n"
            "  benchmark [--models M,...] [--splits S,...] [--seeds N] [--quick] [--out FILE] [--runs DIR]\n"
            "                          the scoreboard: every model on every split, N seeds, a fixed step\n"
            "                          budget per model; writes docs/results.md (resumable)\n"
            "  eval --checkpoint F [--split test|val|train] [--data DIR]\n"
            "                          metrics of a checkpoint and the baselines on a split\n"
            "  predict --checkpoint F GENE [GENE ...]\n"
            "  predict --checkpoint F --input genotypes.tsv [-o predictions.tsv]\n"
            "                          predicted fitness, epsilon (pairs) and tau (triples), original units\n"
            "  screen --checkpoint F (--genes FILE | --metabolic | --all) --order 2|3 [-o FILE]\n"
            "         [--batch-size B] [--max-genotypes N] [--perturbation auto|incremental|full]\n"
            "                          predict every pair (or triple) of the chosen genes, streamed to a TSV\n"
            "                          (FILE.partial while running; a rerun resumes it)\n"
            "\n"
            "global options:\n"
            "  --threads T   threads for compute (default: $CELLGRAPH_THREADS, else all cores)\n"
            "  --version     print the version and exit\n"
            "  --help        print this help and exit\n"
            "\n"
            "The yeast data folder is --data DIR, else $CELLGRAPH_DATA, else ../shared/data/yeast beside\n"
            "the source tree. The graph file defaults to $CELLGRAPH_GRAPH, else graph.safetensors; the\n"
            "dataset file to $CELLGRAPH_DATASET, else dataset.safetensors.\n");
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

bool cli_perturbation(const char *cmd, const char *value, cg_perturbation_choice *out) {
    if (!value || cg_perturbation_parse(value, out)) return true;
    fprintf(stderr, "cellgraph %s: --perturbation must be auto, incremental or full, got '%s'\n", cmd, value);
    return false;
}

bool cli_option(int argc, char **argv, int *i, const char *name, const char **value, bool *bad) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0') return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "cellgraph: option %s needs a value\n", name);
        *bad = true;
        return true;
    }
    *value = argv[++*i];
    return true;
}

int cli_fail(void) {
    fprintf(stderr, "cellgraph: %s\n", cg_last_error());
    return 1;
}

const char *cli_default_graph_path(void) {
    const char *p = getenv("CELLGRAPH_GRAPH");
    return p && *p ? p : "graph.safetensors";
}

int main(int argc, char **argv) {
    if (cg_threads_from_env() != CG_OK) {
        fprintf(stderr, "cellgraph: %s\n", cg_last_error());
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        bool bad = false;
        if (strcmp(a, "--version") == 0) {
            printf("cellgraph %s\n", CG_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (cli_option(argc, argv, &i, "--threads", &v, &bad)) {
            char *end = NULL;
            long n = bad ? 0 : strtol(v, &end, 10);
            if (bad || *end != '\0' || cg_set_num_threads((int)n) != CG_OK) {
                fprintf(stderr, "cellgraph: --threads needs a positive integer, got '%s'\n", v ? v : "");
                return 2;
            }
        } else if (strcmp(a, "graph") == 0) {
            return cmd_graph(argc - i, argv + i);
        } else if (strcmp(a, "data") == 0) {
            return cmd_data(argc - i, argv + i);
        } else if (strcmp(a, "train") == 0) {
            return cmd_train(argc - i, argv + i);
        } else if (strcmp(a, "eval") == 0) {
            return cmd_eval(argc - i, argv + i);
        } else if (strcmp(a, "predict") == 0) {
            return cmd_predict(argc - i, argv + i);
        } else if (strcmp(a, "screen") == 0) {
            return cmd_screen(argc - i, argv + i);
        } else if (strcmp(a, "benchmark") == 0) {
            return cmd_benchmark(argc - i, argv + i);
        } else if (a[0] == '-') {
            fprintf(stderr, "cellgraph: unknown option '%s' (see cellgraph --help)\n", a);
            return 2;
        } else {
            fprintf(stderr, "cellgraph: unknown command '%s' (see cellgraph --help)\n", a);
            return 2;
        }
    }
    usage(stdout);
    return 0;
}
