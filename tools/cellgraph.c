/* cellgraph: command-line tool. Subcommands arrive with later issues (graph, data, train, eval,
 * predict, screen). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cellgraph/error.h"
#include "cellgraph/threads.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cellgraph [--threads T] <command> [options]\n"
            "\n"
            "Heterogeneous graph models of the yeast cell: build the cell graph from public data, train\n"
            "graph neural networks on it, predict fitness and genetic interactions of gene deletions.\n"
            "\n"
            "global options:\n"
            "  --threads T   threads for compute (default: $CELLGRAPH_THREADS, else all cores)\n"
            "  --version     print the version and exit\n"
            "  --help        print this help and exit\n"
            "\n"
            "commands: none yet in this version (graph, data, train, eval, predict and screen are planned)\n");
}

int main(int argc, char **argv) {
    if (cg_threads_from_env() != CG_OK) {
        fprintf(stderr, "cellgraph: %s\n", cg_last_error());
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0) {
            printf("cellgraph %s\n", CG_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--threads") == 0 || strncmp(a, "--threads=", 10) == 0) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            char *end = NULL;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end != '\0' || cg_set_num_threads((int)n) != CG_OK) {
                fprintf(stderr, "cellgraph: --threads needs a positive integer, got '%s'\n", v ? v : "");
                return 2;
            }
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
