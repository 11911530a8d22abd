/* Shared pieces of the command-line tool: defined in tools/cli.c (options, numbers, small helpers, opening
 * a checkpoint), tools/cache.c, tools/isolate.c, tools/lock.c, tools/progress.c and tools/threads.c. The commands (tools/cmd_*.c) call only
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

/* Threads that follow the load (tools/threads.c). A busy machine is the normal case (issue 18 item 12):
 * when other processes keep cores busy, a parallel region waits at its barrier for the thread the
 * scheduler took off a core, so fewer threads finish sooner. cellgraph's results do not depend on the
 * thread count (cellgraph/threads.h), so commands with long loops (train, eval, predict, screen) call
 * cli_threads_adapt between steps or batches: it sets the thread count to the cores the other runnable
 * tasks leave free (cg_num_procs - (cg_runnable_tasks - 1)), at least 1. The count of other tasks is the
 * least of the last CLI_LOAD_SAMPLES readings, so that a task that runs for an instant does not take a
 * thread away. Off (cli_threads_adapt does nothing) when the user fixed the count (--threads,
 * $CELLGRAPH_THREADS, $OMP_NUM_THREADS) or chose a wait policy other than passive (OMP_WAIT_POLICY,
 * GOMP_SPINCOUNT: spinning threads would count as load). */
#define CLI_LOAD_SAMPLES 4
typedef struct cli_threads {
    bool follow;                    /* adapt at all */
    int max;                        /* the most threads: every core (cg_num_procs) when following */
    int others[CLI_LOAD_SAMPLES];   /* the last readings of other runnable tasks (ring) */
    int n_samples;
    int64_t n_adapt, sum_threads;   /* adapt calls and the thread counts they set (the mean used) */
} cli_threads;
/* Starts following the load, unless the count is fixed ($CELLGRAPH_THREADS, which --threads sets, or
 * $OMP_NUM_THREADS) or the wait policy is not passive. */
void cli_threads_init(cli_threads *t);
/* Fixes the thread count at n (--threads): sets it and exports $CELLGRAPH_THREADS, so that no
 * cli_threads follows the load. Returns 0, or 1 after printing the error. */
int cli_threads_fix(int n);
/* Sets the thread count for the load now (no-op when not following). */
void cli_threads_adapt(cli_threads *t);
/* The mean thread count the adapt calls set (the current count when there were none). */
double cli_threads_mean(const cli_threads *t);

/* Runs fn(arg), which writes the file `path`, in a child process (fork) and waits for it. Drawing a PNG
 * goes through PLplot, cairo, pango and fontconfig, which abort (GLib: "Error creating thread") or crash
 * when memory or threads run out; in a child that costs the picture, never the command and its results.
 * Returns CG_OK when fn did, else an error with fn's message or the signal the child died of; the
 * temporary file of a child that died (PATH.tmp.<its pid>, cellgraph's naming) is removed. */
cg_status cli_run_isolated(cg_status (*fn)(void *), void *arg, const char *path);

/* Progress of long work (tools/progress.c): a bar on a terminal, else a line every 30 seconds, on
 * stderr. cli_progress is a cg_progress_fn; its ctx is a cli_progress_state set up by cli_progress_init. */
typedef struct cli_progress_state {
    const char *what;
    double start, last;
    bool tty, shown;
    cli_threads *threads; /* adapted at every call when not NULL (set by the command) */
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
