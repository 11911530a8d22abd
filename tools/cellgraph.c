/* cellgraph: command-line tool. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/error.h"
#include "cellgraph/threads.h"
#include "cli.h"

/* Each command's help: what `cellgraph CMD --help` prints, and its part of `cellgraph --help`. */
static const struct {
    const char *name, *text;
} COMMANDS[] = {
    {"graph",
     "  graph build [--data DIR] [--recipe default|yeastract2013] [--relations R,...|all] [-o FILE]\n"
     "                          build the cell graph from the raw yeast files (optional gene-gene\n"
     "                          relations: string9_database, string9_neighborhood, string9_fusion,\n"
     "                          string9_cooccurence, coexpression, cocomplex)\n"
     "  graph info [FILE]       node and edge counts, degrees, isolated genes, unresolved names\n"
     "  graph delete [--graph FILE] GENE [GENE ...]\n"
     "                          what a deletion kills: genes, reaction nodes, edges per relation\n"},
    {"data",
     "  data build [--data DIR] [--graph FILE] [-o FILE]\n"
     "                          build the phenotype dataset (fitness, genetic interactions)\n"
     "  data info [FILE]        counts by source, label, genes deleted and split; label statistics;\n"
     "                          dropped rows by reason\n"},
    {"train",
     "  train [--config F] [--data DIR] [--out DIR] [--epochs N] [--max-minutes M] [--max-steps N]\n"
     "        [--batch-size B] [--split random|gene1|gene2|query] [--seed S] [--threads T]\n"
     "        [--resume RUN_DIR] [--perturbation P]\n"
     "                          train the config's model (\"model\": hetero_cell | additive | dango) on\n"
     "                          the real data (graph and dataset cached in $CELLGRAPH_CACHE, else\n"
     "                          runs/cache), evaluate on the test split against the baselines; the\n"
     "                          run goes to runs/<timestamp>/ (or --out)\n"},
    {"benchmark",
     "  benchmark [--models M,...] [--splits S,...] [--seeds N] [--quick] [--report-only] [--out FILE]\n"
     "            [--runs DIR] [--configs DIR] [--data DIR]\n"
     "                          the scoreboard: every model on every split, N seeds, a fixed step\n"
     "                          budget per model; writes docs/results.md (resumable)\n"},
    {"eval",
     "  eval --checkpoint F [--split test|val|train] [--data DIR]\n"
     "                          metrics of a checkpoint and the baselines on a split\n"},
    {"predict",
     "  predict --checkpoint F GENE [GENE ...]\n"
     "  predict --checkpoint F --input genotypes.tsv [-o predictions.tsv]\n"
     "                          predicted fitness, epsilon (pairs) and tau (triples), original units\n"},
    {"screen",
     "  screen --checkpoint F (--genes FILE | --metabolic | --all) --order 2|3 [-o FILE]\n"
     "         [--batch-size B] [--max-genotypes N] [--perturbation auto|incremental|full]\n"
     "                          predict every pair (or triple) of the chosen genes, streamed to a TSV\n"
     "                          (FILE.partial while running; a rerun resumes it)\n"},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f,
            "usage: cellgraph [--threads T] <command> [options]\n"
            "\n"
            "Heterogeneous graph models of the yeast cell: build the cell graph from public data, train\n"
            "graph neural networks on it, predict fitness and genetic interactions of gene deletions.\n"
            "\n"
            "commands (cellgraph COMMAND --help prints one):\n");
    for (int c = 0; c < N_COMMANDS; c++) fputs(COMMANDS[c].text, f);
    fprintf(f,
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

/* `cellgraph CMD ... --help` (or -h anywhere among its arguments): that command's help, exit 0 */
static bool command_help(const char *cmd, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            for (int c = 0; c < N_COMMANDS; c++)
                if (strcmp(COMMANDS[c].name, cmd) == 0) printf("usage:\n%s", COMMANDS[c].text);
            return true;
        }
    return false;
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
        } else if (strcmp(a, "graph") == 0 || strcmp(a, "data") == 0 || strcmp(a, "train") == 0 ||
                   strcmp(a, "eval") == 0 || strcmp(a, "predict") == 0 || strcmp(a, "screen") == 0) {
            if (command_help(a, argc - i, argv + i)) return 0;
            if (strcmp(a, "graph") == 0) return cmd_graph(argc - i, argv + i);
            if (strcmp(a, "data") == 0) return cmd_data(argc - i, argv + i);
            if (strcmp(a, "train") == 0) return cmd_train(argc - i, argv + i);
            if (strcmp(a, "eval") == 0) return cmd_eval(argc - i, argv + i);
            if (strcmp(a, "predict") == 0) return cmd_predict(argc - i, argv + i);
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
