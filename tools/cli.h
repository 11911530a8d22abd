/* Shared pieces of the command-line tool: defined in tools/cli.c (options, numbers, small helpers, opening
 * a checkpoint), tools/cache.c, tools/lock.c and tools/progress.c. The commands (tools/cmd_*.c) call only
 * these and each other's entry points; tools/cellgraph.c holds main and the usage tables. */
#ifndef CG_TOOLS_CLI_H
#define CG_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/dataset.h"
#include "cellgraph/graph.h"
#include "cellgraph/model.h"
#include "cellgraph/trainer.h"

/* Subcommand entry points: argv[0] is the subcommand name. Return the process exit code. */
int cmd_graph(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_screen(int argc, char **argv);
int cmd_benchmark(int argc, char **argv);
/* Reads a checkpoint: metadata, graph (and dataset when need_dataset) with checksums verified, the model
 * with its parameters. Returns 0, or 1 after printing the error. */
int cli_open_checkpoint(const char *ckpt, const char *data, cg_checkpoint_info *info, cg_graph **g, cg_dataset *d,
                        bool need_dataset, cg_model *m);

/* The cache of built graphs and datasets: $CELLGRAPH_CACHE, else runs/cache. */
const char *cli_cache_dir(void);
/* Creates a directory and its parents. */
cg_status cli_mkdirs(const char *path);
/* The default graph and (when need_dataset) dataset of the data folder (--data, $CELLGRAPH_DATA or the
 * default), from the cache when the raw files are unchanged (CRC-32 of their contents), else built and
 * cached. */
cg_status cli_load_graph_and_dataset(const char *data, cg_graph **g, cg_dataset *d, bool need_dataset, bool verbose);
/* The same for a model that needs optional relations (cg_model_type.needs_relations; NULL or empty: the
 * default graph): the graph with every optional relation, cached as graph-all-<fingerprint>. */
cg_status cli_load_graph_for(const char *data, const char *const *relations, cg_graph **g, cg_dataset *d,
                             bool need_dataset, bool verbose);

/* If argv[*i] is option `name` ("--data") given as "--data X" or "--data=X", stores X in *value,
 * advances *i past it and returns true. A missing value prints an error and sets *bad. */
bool cli_option(int argc, char **argv, int *i, const char *name, const char **value, bool *bad);

/* Prints "cellgraph: <message>" for the thread's last error and returns exit code 1. */
int cli_fail(void);

/* An exclusive lock (flock) on the file path (created; it holds the holder's pid), guarding `what` (a run
 * folder, a screen output): the descriptor, or -1 with the error set (CG_ERR_STATE naming the other
 * process when it is held). The lock ends with cli_unlock or the process. */
int cli_lock(const char *path, const char *what);
void cli_unlock(int fd);

/* Seconds on the monotonic clock (timings printed by the commands). */
double cli_now(void);

/* Progress of long work (tools/progress.c): a bar on a terminal, else a line every 30 seconds, on
 * stderr. cli_progress is a cg_progress_fn; its ctx is a cli_progress_state set up by cli_progress_init. */
typedef struct cli_progress_state {
    const char *what;
    double start, last;
    bool tty, shown;
} cli_progress_state;
void cli_progress_init(cli_progress_state *p, const char *what);
void cli_progress(void *ctx, int64_t done, int64_t total);

/* Parses the value of --perturbation (NULL: keeps *out); false after printing "cellgraph CMD: ..." */
bool cli_perturbation(const char *cmd, const char *value, cg_perturbation_choice *out);

/* The default graph file: $CELLGRAPH_GRAPH, else "graph.safetensors". */
const char *cli_default_graph_path(void);

/* The default dataset file: $CELLGRAPH_DATASET, else "dataset.safetensors". */
const char *cli_default_dataset_path(void);

#endif
