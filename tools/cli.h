/* Shared pieces of the command-line tool. */
#ifndef CG_TOOLS_CLI_H
#define CG_TOOLS_CLI_H

#include <stdbool.h>

/* Subcommand entry points: argv[0] is the subcommand name. Return the process exit code. */
int cmd_graph(int argc, char **argv);
int cmd_data(int argc, char **argv);

/* If argv[*i] is option `name` ("--data") given as "--data X" or "--data=X", stores X in *value,
 * advances *i past it and returns true. A missing value prints an error and sets *bad. */
bool cli_option(int argc, char **argv, int *i, const char *name, const char **value, bool *bad);

/* Prints "cellgraph: <message>" for the thread's last error and returns exit code 1. */
int cli_fail(void);

/* The default graph file: $CELLGRAPH_GRAPH, else "graph.safetensors". */
const char *cli_default_graph_path(void);

/* The default dataset file: $CELLGRAPH_DATASET, else "dataset.safetensors". */
const char *cli_default_dataset_path(void);

#endif
