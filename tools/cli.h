/* Shared pieces of the command-line tool: defined in tools/cli.c (options, numbers, small helpers, opening
 * a checkpoint), tools/cache.c, tools/lock.c and tools/progress.c. The commands (tools/cmd_*.c) call only
 * these and each other's entry points; tools/cellgraph.c holds main and the usage tables. */
#ifndef CG_TOOLS_CLI_H
#define CG_TOOLS_CLI_H

#include <getopt.h>
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

/* Options (getopt_long, glibc). Every command reads its arguments with one loop:
 *
 *     static const struct option LONG[] = {{"data", required_argument, NULL, OPT_DATA},
 *                                          {"help", no_argument, NULL, 'h'}, {0}};
 *     cli_opts o;
 *     cli_opts_init(&o, "train", argc, argv, "h", LONG);
 *     for (int c; (c = cli_opts_next(&o)) != CLI_DONE;)
 *         switch (c) {
 *         case OPT_DATA: data = o.arg; break;
 *         case 'h': return CLI_HELP;
 *         case CLI_ARG: ...a positional argument in o.arg, or return cli_unexpected(&o);
 *         default: return 2; (CLI_BAD: the message is printed)
 *         }
 *
 * Options and positional arguments may come in any order (`predict CYS3 --checkpoint F TFC3`), argv is
 * never reordered, and `--` ends the options: every argument after it is positional. An option's value is
 * `--opt X` or `--opt=X` (`-o X` or `-oX` for a short one); a long option may be abbreviated to any prefix
 * that names only it. Unknown options, missing values, a value given to an option that takes none and
 * ambiguous abbreviations print "cellgraph CMD: ..." naming the option, and give CLI_BAD (exit status 2).
 * Option vals must not be 0, 1, '?' or ':'; long-only options use vals from 256 up. getopt keeps its
 * position in globals (optind): cli_opts_init restarts it, so commands may run one another (benchmark
 * runs cmd_train), one parse at a time. */
enum { CLI_DONE = 0, CLI_ARG = 1, CLI_BAD = '?' };
typedef struct cli_opts {
    const char *cmd; /* "train", "graph build" (named in messages); NULL for cellgraph's global options */
    int argc;
    char **argv;
    const struct option *longopts;
    char shortopts[64]; /* "-:" then the command's short options */
    bool ended;         /* getopt is done (the end or "--"): the rest is positional */
    int next;           /* argv index of the next argument */
    const char *arg;    /* the value of the option just returned, or the positional argument */
} cli_opts;
void cli_opts_init(cli_opts *o, const char *cmd, int argc, char **argv, const char *shortopts,
                   const struct option *longopts);
/* The next option's val, CLI_ARG (a positional argument, in o->arg), CLI_DONE, or CLI_BAD after printing
 * the error. */
int cli_opts_next(cli_opts *o);
/* Prints "cellgraph CMD: unexpected argument 'X'" for the positional argument just returned; returns 2. */
int cli_unexpected(const cli_opts *o);
/* A command's return value for --help / -h: main prints the command's usage and exits 0. */
#define CLI_HELP (-1)

/* Strict numbers for option values: the whole text (no leading blank, no trailing text), an integer with
 * digits only for cli_parse_int (no fraction, no exponent: "1e99" and "2.0" are refused), a finite
 * decimal number for cli_parse_double (no NaN, no infinity, no hex), in [min, max]. False after printing
 * "cellgraph CMD: OPTION needs an integer in [min, max], got 'TEXT'" (cmd NULL: "cellgraph: ..."). */
bool cli_parse_int(const char *cmd, const char *option, const char *text, int64_t min, int64_t max, int64_t *out);
bool cli_parse_double(const char *cmd, const char *option, const char *text, double min, double max, double *out);

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
