/* cellgraph: command-line tool. main reads the global options and runs a command (tools/cmd_*.c); the
 * usage tables are here, every shared helper in tools/cli.c. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/error.h"
#include "cellgraph/threads.h"
#include "cli.h"

/* Each command: its entry point and help. `text` is its part of `cellgraph --help`; `cellgraph CMD --help`
 * (the command returns CLI_HELP) prints `text` and then `more`. */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *text, *more;
} COMMANDS[] = {
    {"graph", cmd_graph,
     "  graph build [--data DIR] [--recipe default|yeastract2013] [--relations R,...|all] [-o FILE]\n"
     "                          build the cell graph from the raw yeast files (optional gene-gene\n"
     "                          relations: string9_database, string9_neighborhood, string9_fusion,\n"
     "                          string9_cooccurence, coexpression, cocomplex)\n"
     "  graph info [FILE]       node and edge counts, degrees, isolated genes, unresolved names\n"
     "  graph delete [--graph FILE] GENE [GENE ...]\n"
     "                          what a deletion kills: genes, reaction nodes, edges per relation\n", NULL},
    {"data", cmd_data,
     "  data build [--data DIR] [--graph FILE] [-o FILE]\n"
     "                          build the phenotype dataset (fitness, genetic interactions)\n"
     "  data info [FILE]        counts by source, label, genes deleted and split; label statistics;\n"
     "                          dropped rows by reason\n", NULL},
    {"train", cmd_train,
     "  train [--config F] [--data DIR] [--out DIR] [--epochs N] [--max-minutes M] [--max-steps N]\n"
     "        [--batch-size B] [--split random|gene1|gene2|query] [--seed S] [--threads T]\n"
     "        [--resume RUN_DIR] [--perturbation P]\n"
     "                          (--max-minutes 0, --max-steps 0: no limit, overriding the config's)\n"
     "                          train the config's model (\"model\": hetero_cell | additive | dango) on\n"
     "                          the real data (graph and dataset cached in $CELLGRAPH_CACHE, else\n"
     "                          runs/cache), evaluate on the test split against the baselines; the\n"
     "                          run goes to runs/<timestamp>/ (or --out); --resume continues a run\n"
     "                          with its own settings, except --epochs, --max-steps, --max-minutes\n"
     "                          and --perturbation when given\n", NULL},
    {"benchmark", cmd_benchmark,
     "  benchmark [--models M,...] [--splits S,...] [--seeds N] [--quick] [--report-only] [--out FILE]\n"
     "            [--runs DIR] [--configs DIR] [--data DIR]\n"
     "                          the scoreboard: every model on every split, N seeds, a fixed step\n"
     "                          budget per model; writes docs/results.md (resumable)\n",
     "\n"
     "Trains every model (configs/<model>.json, its train.max_steps budget) on every split with N (1 to 10,\n"
     "default 3) seeds (train.seed 42, 43, ...), and writes the test metrics beside the baselines, mean and\n"
     "standard deviation over the seeds, to FILE (default docs/results.md; with --quick: a budget of 10\n"
     "steps into runs/benchmark-quick/results.md). Finished runs in DIR (default runs/benchmark) are kept:\n"
     "rerun to resume. --report-only trains nothing and writes the table from the finished runs (each\n"
     "table says how many seeds it holds).\n"},
    {"eval", cmd_eval,
     "  eval --checkpoint F [--split test|val|train] [--data DIR]\n"
     "                          metrics of a checkpoint and the baselines on a split\n", NULL},
    {"predict", cmd_predict,
     "  predict --checkpoint F GENE [GENE ...]\n"
     "  predict --checkpoint F --input genotypes.tsv [-o predictions.tsv]\n"
     "                          predicted fitness, epsilon (pairs) and tau (triples), original units\n", NULL},
    {"screen", cmd_screen,
     "  screen --checkpoint F (--genes FILE | --metabolic | --all) --order 2|3 [-o FILE]\n"
     "         [--batch-size B] [--max-genotypes N] [--perturbation auto|incremental|full]\n"
     "                          predict every pair (or triple) of the chosen genes, streamed to a TSV\n"
     "                          (FILE.partial while running; a rerun resumes it)\n", NULL},
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
            "  --threads T   threads for compute, 1 to %d (default: $CELLGRAPH_THREADS, else all cores, fewer\n"
            "                while other processes keep cores busy; results are the same for any count)\n"
            "  --version     print the version and exit\n"
            "  --help        print this help and exit\n"
            "\n"
            "Options and arguments may come in any order; a value is given as --opt X or --opt=X; `--` ends\n"
            "the options (what follows is a gene name or a file even when it starts with '-'). Numbers are\n"
            "read whole and range-checked (an integer option takes digits only: 1e3 is refused). An unknown\n"
            "option or a bad value stops the command before it reads any data, with exit status 2.\n"
            "\n"
            "The yeast data folder is --data DIR, else $CELLGRAPH_DATA, else ../shared/data/yeast beside\n"
            "the source tree. The graph file defaults to $CELLGRAPH_GRAPH, else graph.safetensors; the\n"
            "dataset file to $CELLGRAPH_DATASET, else dataset.safetensors.\n",
            CG_MAX_THREADS);
}

/* runs the command argv[0]: its exit status; its usage and 0 when it was asked for --help */
static int run_command(int argc, char **argv) {
    for (int c = 0; c < N_COMMANDS; c++)
        if (strcmp(COMMANDS[c].name, argv[0]) == 0) {
            /* BLAS buffers mapped while memory is free: out of memory later is an error, not a hang */
            if (cg_blas_prepare() != CG_OK) return cli_fail();
            const int rc = COMMANDS[c].run(argc, argv);
            if (rc != CLI_HELP) return rc;
            printf("usage:\n%s%s", COMMANDS[c].text, COMMANDS[c].more ? COMMANDS[c].more : "");
            return 0;
        }
    fprintf(stderr, "cellgraph: unknown command '%s' (see cellgraph --help)\n", argv[0]);
    return 2;
}

enum { OPT_THREADS = 256, OPT_VERSION };

int main(int argc, char **argv) {
    if (cg_threads_from_env() != CG_OK) {
        fprintf(stderr, "cellgraph: %s\n", cg_last_error());
        return 2;
    }
    static const struct option LONG[] = {{"threads", required_argument, NULL, OPT_THREADS},
                                         {"version", no_argument, NULL, OPT_VERSION},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, NULL, argc, argv, "h", LONG);
    int64_t threads = 0;
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_THREADS:
            if (!cli_parse_int(NULL, "--threads", o.arg, 1, CG_MAX_THREADS, &threads)) return 2;
            if (cli_threads_fix((int)threads) != 0) return 1;
            break;
        case OPT_VERSION:
            printf("cellgraph %s\n", CG_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case CLI_ARG: /* the command: the rest of the arguments are its own */
            return run_command(argc - (o.next - 1), argv + (o.next - 1));
        default:
            return 2;
        }
    }
    usage(stdout);
    return 0;
}
