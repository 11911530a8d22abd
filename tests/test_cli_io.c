/* The files the CLI reads and writes around a checkpoint (issue 18 items 5 and 7):
 *   predict --input: lines of any length read whole, NUL bytes and too many names are errors naming the
 *   file and line, every output row has the header's number of fields (the genotype column holds no tab),
 *   stale temporary files of killed runs are removed;
 *   screen -o: a complete file from another checkpoint, order or gene list is refused (saying what differs),
 *   a damaged line anywhere in a complete or partial file is detected, never carried into the result.
 * Two small additive checkpoints with different parameters are trained by the CLI itself on the real data
 * ($CELLGRAPH_TEST_DATA, $CELLGRAPH_CLI; skipped without them). */
#include <stdarg.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char DIR_[512], CKPT_A[800], CKPT_B[800];
static bool have;

/* the tool with two threads (tests/testutil.h tu_run_cli) */
#define run_cli(out, len, fmt, ...) tu_run_cli(out, len, "--threads 2 " fmt, __VA_ARGS__)

static void write_text(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* trains an additive model for one small epoch into DIR_/name; its best checkpoint in ckpt */
static int train(const char *name, double lr, char *ckpt, size_t len) {
    char cfg[800], out[8192], run[600];
    snprintf(cfg, sizeof cfg, "%s/%s.json", DIR_, name);
    snprintf(run, sizeof run, "%s/%s", DIR_, name);
    char text[512];
    int n = snprintf(text, sizeof text,
                     "{\"model\": \"additive\", \"train\": {\"epochs\": 1, \"batch_size\": 64, \"lr\": %g, "
                     "\"max_train_samples\": 256, \"max_val_samples\": 256}}\n", lr);
    write_text(cfg, text, (size_t)n);
    if (run_cli(out, sizeof out, "train --config '%s' --out '%s'", cfg, run) != 0) {
        fprintf(stderr, "train failed:\n%s\n", out);
        return -1;
    }
    snprintf(ckpt, len, "%s/checkpoint_best.safetensors", run);
    return 0;
}

static int setup(void **state) {
    (void)state;
    const char *data = getenv("CELLGRAPH_TEST_DATA");
    if (!data || !*data || !getenv("CELLGRAPH_CLI")) return 0;
    char cache[600];
    tu_temp_path(DIR_, sizeof DIR_, "cli_io");
    mkdir(DIR_, 0755);
    snprintf(cache, sizeof cache, "%s/cache", DIR_);
    setenv("CELLGRAPH_CACHE", cache, 1);
    setenv("CELLGRAPH_DATA", data, 1);
    if (train("a", 0.05, CKPT_A, sizeof CKPT_A) != 0 || train("b", 0.5, CKPT_B, sizeof CKPT_B) != 0) return -1;
    have = true;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (DIR_[0]) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
        if (system(cmd) != 0) return -1;
    }
    return 0;
}

#define NEED()                                                                                                         \
    do {                                                                                                               \
        if (!have) skip();                                                                                             \
    } while (0)

/* runs `predict --input in -o res` */
static int predict(char *out, size_t len, const char *ckpt, const char *in, const char *res) {
    return run_cli(out, len, "predict --checkpoint '%s' --input '%s' -o '%s'", ckpt, in, res);
}

/* fields of a tab-separated line (up to its end or a newline) */
static int count_fields(const char *line) {
    int n = 1;
    for (; *line && *line != '\n'; line++) n += *line == '\t';
    return n;
}

/* checks that every line of text has the header's field count; returns the number of data rows */
static int check_rows(const char *text) {
    int header = count_fields(text), rows = -1;
    for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
        if (count_fields(l) != header)
            fail_msg("row %d has %d fields, the header %d: %.120s", rows + 1, count_fields(l), header, l);
        rows++;
        if (!strchr(l, '\n')) break;
    }
    return rows;
}

/* ------------------------------------------------------------------ --help */

/* every command answers --help (and -h) with its usage on stdout and exit status 0, doing nothing else */
static void test_command_help(void **state) {
    (void)state;
    if (!getenv("CELLGRAPH_CLI")) skip();
    const char *cmds[] = {"graph", "data", "train", "eval", "predict", "screen", "benchmark"};
    char out[4096];
    for (int c = 0; c < 7; c++) {
        assert_int_equal(tu_run_cli(out, sizeof out, "%s --help", cmds[c]), 0);
        if (!strstr(out, "usage") || !strstr(out, cmds[c])) fail_msg("cellgraph %s --help printed: %s", cmds[c], out);
        assert_int_equal(tu_run_cli(out, sizeof out, "%s -h", cmds[c]), 0);
    }
    /* after other options too, without running the command */
    assert_int_equal(tu_run_cli(out, sizeof out, "train --max-steps 1 --help"), 0);
    assert_null(strstr(out, "training"));
}

/* ------------------------------------------------------------------ options (item 11) */

/* Runs `cellgraph ARGS` and checks exit status 2 and that the output holds every non-NULL want. The paths
 * in the arguments do not exist: an option checked only after a file was read would exit 1. */
static void expect_usage_error(const char *args, const char *want1, const char *want2, const char *want3) {
    char out[4096];
    const int rc = tu_run_cli(out, sizeof out, "%s", args);
    const char *want[] = {want1, want2, want3};
    if (rc != 2) fail_msg("cellgraph %s: exit %d (want 2), output:\n%s", args, rc, out);
    for (int k = 0; k < 3; k++)
        if (want[k] && !strstr(out, want[k])) fail_msg("cellgraph %s: output lacks \"%s\":\n%s", args, want[k], out);
}

/* Every numeric option is read whole, as an integer where it counts, finite and within the library's bounds;
 * the error names the command, the option and the value, exit status 2, before any file is read. They used
 * to be read with atoi/atoll/strtol: `screen --max-genotypes 1e9` screened 1 genotype, `train --threads 2x`
 * ran 2 threads, `screen --order 2x` was order 2, and messages did not name the value. */
static void test_option_values(void **state) {
    (void)state;
    if (!getenv("CELLGRAPH_CLI")) skip();
    static const struct {
        const char *args, *want[3];
    } cases[] = {
        {"train --data /nonexistent/d --epochs 1e99", {"cellgraph train:", "--epochs", "'1e99'"}},
        {"train --data /nonexistent/d --epochs 1e2", {"cellgraph train:", "--epochs", "'1e2'"}},
        {"train --data /nonexistent/d --epochs 2.0", {"cellgraph train:", "--epochs", "'2.0'"}},
        {"train --data /nonexistent/d --max-minutes nan", {"cellgraph train:", "--max-minutes", "'nan'"}},
        {"train --data /nonexistent/d --max-minutes inf", {"cellgraph train:", "--max-minutes", "'inf'"}},
        {"train --data /nonexistent/d --max-minutes 1e400", {"cellgraph train:", "--max-minutes", "'1e400'"}},
        {"train --data /nonexistent/d --max-minutes 0x10", {"cellgraph train:", "--max-minutes", "'0x10'"}},
        {"train --data /nonexistent/d --max-minutes ' 5'", {"cellgraph train:", "--max-minutes", "' 5'"}},
        {"train --data /nonexistent/d --threads 2x", {"cellgraph train:", "--threads", "'2x'"}},
        {"train --data /nonexistent/d --threads 0", {"cellgraph train:", "--threads", "'0'"}},
        {"train --data /nonexistent/d --batch-size 12x", {"cellgraph train:", "--batch-size", "'12x'"}},
        {"train --data /nonexistent/d --batch-size 4097", {"cellgraph train:", "--batch-size", "'4097'"}},
        {"train --data /nonexistent/d --max-steps 1e3", {"cellgraph train:", "--max-steps", "'1e3'"}},
        {"train --data /nonexistent/d --max-steps=-1", {"cellgraph train:", "--max-steps", "'-1'"}},
        {"train --data /nonexistent/d --seed 99999999999999999999", {"cellgraph train:", "--seed", "'99999999999999999999'"}},
        {"train --data /nonexistent/d --seed ''", {"cellgraph train:", "--seed", "''"}},
        {"train --config /nonexistent/c.json --split bogus", {"cellgraph train:", "--split", "'bogus'"}},
        {"--threads 0 graph info /nonexistent/g", {"cellgraph:", "--threads", "'0'"}},
        {"--threads 2x graph info /nonexistent/g", {"cellgraph:", "--threads", "'2x'"}},
        {"screen --checkpoint /nonexistent/c --genes /nonexistent/g --order 2 --max-genotypes 1e9",
         {"cellgraph screen:", "--max-genotypes", "'1e9'"}},
        {"screen --checkpoint /nonexistent/c --genes /nonexistent/g --order 2 --max-genotypes 0",
         {"cellgraph screen:", "--max-genotypes", "'0'"}},
        {"screen --checkpoint /nonexistent/c --genes /nonexistent/g --order 2x", {"cellgraph screen:", "--order", "'2x'"}},
        {"screen --checkpoint /nonexistent/c --genes /nonexistent/g --order 4", {"cellgraph screen:", "--order", "'4'"}},
        {"screen --checkpoint /nonexistent/c --genes /nonexistent/g --order 2 --batch-size 12x",
         {"cellgraph screen:", "--batch-size", "'12x'"}},
        {"benchmark --runs /nonexistent/r --report-only --seeds 1e1", {"cellgraph benchmark:", "--seeds", "'1e1'"}},
        {"benchmark --runs /nonexistent/r --report-only --seeds 11", {"cellgraph benchmark:", "--seeds", "'11'"}},
        {"eval --checkpoint /nonexistent/c --split bogus", {"cellgraph eval:", "--split", "'bogus'"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_usage_error(cases[i].args, cases[i].want[0], cases[i].want[1], cases[i].want[2]);
}

/* Every command refuses an unknown option, a missing value, a value for an option that takes none, an
 * ambiguous abbreviation and an argument it does not take, naming itself and the option (exit 2). A
 * missing value used to be reported as "cellgraph: option --x needs a value", without the command;
 * `graph info A B` read B and ignored A. */
static void test_unknown_options(void **state) {
    (void)state;
    if (!getenv("CELLGRAPH_CLI")) skip();
    static const char *const cmds[] = {"graph build", "graph info", "graph delete", "data build", "data info",
                                       "train", "eval", "predict", "screen", "benchmark"};
    char args[256], who[64];
    for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) {
        snprintf(who, sizeof who, "cellgraph %s:", cmds[c]);
        snprintf(args, sizeof args, "%s --no-such-option", cmds[c]);
        expect_usage_error(args, who, "unknown option", "'--no-such-option'");
        snprintf(args, sizeof args, "%s --no-such-option=1", cmds[c]);
        expect_usage_error(args, who, "unknown option", "'--no-such-option'");
        snprintf(args, sizeof args, "%s -Z", cmds[c]);
        expect_usage_error(args, who, "unknown option", "'-Z'");
    }
    expect_usage_error("--no-such-option train", "cellgraph: unknown option", "'--no-such-option'", NULL);
    expect_usage_error("no-such-command", "cellgraph: unknown command", "'no-such-command'", NULL);
    static const struct {
        const char *args, *who, *option;
    } missing[] = {
        {"--threads", "cellgraph:", "'--threads'"},
        {"graph build --data", "cellgraph graph build:", "'--data'"},
        {"graph delete --graph", "cellgraph graph delete:", "'--graph'"},
        {"data build -o", "cellgraph data build:", "'-o'"},
        {"train --epochs", "cellgraph train:", "'--epochs'"},
        {"eval --checkpoint", "cellgraph eval:", "'--checkpoint'"},
        {"predict --input", "cellgraph predict:", "'--input'"},
        {"screen --checkpoint /nonexistent/c --order", "cellgraph screen:", "'--order'"},
        {"benchmark --seeds", "cellgraph benchmark:", "'--seeds'"},
    };
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++)
        expect_usage_error(missing[i].args, missing[i].who, missing[i].option, "needs a value");
    expect_usage_error("screen --all=1", "cellgraph screen:", "'--all'", "takes no value");
    expect_usage_error("benchmark --quick=yes", "cellgraph benchmark:", "'--quick'", "takes no value");
    expect_usage_error("train --max 5", "cellgraph train:", "'--max' is ambiguous", "--max-steps");
    expect_usage_error("graph info /nonexistent/a /nonexistent/b", "cellgraph graph info:", "unexpected argument",
                       "'/nonexistent/b'");
    expect_usage_error("data info /nonexistent/a /nonexistent/b", "cellgraph data info:", "unexpected argument",
                       "'/nonexistent/b'");
    expect_usage_error("train --data /nonexistent/d extra", "cellgraph train:", "unexpected argument", "'extra'");
    expect_usage_error("screen --checkpoint /nonexistent/c -- --order 2", "cellgraph screen:", "unexpected argument",
                       "'--order'");
}

/* `--` ends the options: what follows is a gene name even when it starts with '-' (it used to be an
 * unknown option). Options and gene names mix in any order, and every option takes --opt=X as well as
 * --opt X (-o=FILE, which the old parser read as FILE, still is). */
static void test_double_dash(void **state) {
    (void)state;
    NEED();
    char out[8192], res[700], genes[700];
    assert_int_equal(run_cli(out, sizeof out, "predict --checkpoint '%s' -- CYS3 TFC3", CKPT_A), 0);
    assert_non_null(strstr(out, "\nCYS3,TFC3\tYAL001C,YAL012W\t"));
    assert_int_equal(run_cli(out, sizeof out, "predict CYS3 --checkpoint='%s' TFC3", CKPT_A), 0);
    assert_non_null(strstr(out, "\nCYS3,TFC3\tYAL001C,YAL012W\t"));
    assert_int_equal(run_cli(out, sizeof out, "predict CYS3 --checkpoint '%s' -- TFC3", CKPT_A), 0);
    assert_non_null(strstr(out, "\nCYS3,TFC3\tYAL001C,YAL012W\t"));
    /* after `--`, an option's spelling is a gene name: unknown gene, exit 1 (not a usage error) */
    assert_int_equal(run_cli(out, sizeof out, "predict --checkpoint '%s' -- --checkpoint", CKPT_A), 1);
    assert_non_null(strstr(out, "unknown gene '--checkpoint'"));
    /* -o=FILE and --output=FILE */
    snprintf(res, sizeof res, "%s/dash.tsv", DIR_);
    assert_int_equal(run_cli(out, sizeof out, "predict --checkpoint='%s' -o='%s' CYS3", CKPT_A, res), 0);
    assert_true(exists(res));
    remove(res);
    assert_int_equal(run_cli(out, sizeof out, "predict --checkpoint='%s' --output='%s' CYS3", CKPT_A, res), 0);
    assert_true(exists(res));
    remove(res);
    /* numbers in the = form; a stop after --max-genotypes */
    snprintf(genes, sizeof genes, "%s/dash_genes.txt", DIR_);
    write_text(genes, "CYS3\nTFC3\nCDC28\nACT1\n", 21);
    assert_int_equal(run_cli(out, sizeof out, "screen --checkpoint='%s' --genes='%s' --order=2 --batch-size=4 "
                                              "--max-genotypes=3 --output='%s'", CKPT_A, genes, res), 0);
    assert_non_null(strstr(out, "stopped after 3 genotypes this run"));
    char partial[800];
    snprintf(partial, sizeof partial, "%s.partial", res);
    assert_true(exists(partial));
    remove(partial);
    snprintf(partial, sizeof partial, "%s.lock", res);
    remove(partial);
}

/* ------------------------------------------------------------------ predict --input */

static void test_predict_tsv(void **state) {
    (void)state;
    NEED();
    char in[700], res[700], out[16384];
    snprintf(in, sizeof in, "%s/genotypes.tsv", DIR_);
    snprintf(res, sizeof res, "%s/predictions.tsv", DIR_);
    /* tab-, space- and comma-separated genotypes, a comment, a blank line, a CRLF line */
    const char *text = "# pairs and a triple\nCYS3\tTFC3\nCDC28 ACT1\n\nHIS3,URA3,ERG11\nYAL001C\r\n";
    write_text(in, text, strlen(text));
    assert_int_equal(predict(out, sizeof out, CKPT_A, in, res), 0);
    char *got = read_text(res);
    assert_non_null(got);
    assert_int_equal(check_rows(got), 4); /* used to be 5 fields under a 4-field header for the tab line */
    assert_non_null(strstr(got, "\nCYS3,TFC3\tYAL001C,YAL012W\t"));
    assert_non_null(strstr(got, "\nCDC28,ACT1\tYBR160W,YFL039C\t"));
    assert_non_null(strstr(got, "\nHIS3,URA3,ERG11\t"));
    assert_non_null(strstr(got, "\nYAL001C\tYAL001C\t"));
    free(got);

    /* a line over 4,095 bytes is one genotype (it used to be split into two) */
    char *longline = malloc(10000);
    assert_non_null(longline);
    int n = sprintf(longline, "CYS3");
    memset(longline + n, ' ', 6000);
    n += 6000;
    n += sprintf(longline + n, "TFC3\n");
    write_text(in, longline, (size_t)n);
    free(longline);
    assert_int_equal(predict(out, sizeof out, CKPT_A, in, res), 0);
    got = read_text(res);
    assert_int_equal(check_rows(got), 1);
    assert_non_null(strstr(got, "\nCYS3,TFC3\tYAL001C,YAL012W\t"));
    free(got);
    remove(res);

    /* a NUL byte is an error naming file and line (it used to drop the rest of the line silently) */
    write_text(in, "CYS3\nCDC28\0ACT1\n", 16);
    assert_int_not_equal(predict(out, sizeof out, CKPT_A, in, res), 0);
    assert_non_null(strstr(out, "genotypes.tsv: line 2"));
    assert_non_null(strstr(out, "NUL"));
    assert_false(exists(res));

    /* more than 8 names are counted as they are (they used to be cut at 8) */
    text = "CYS3\nCYS3 TFC3 CDC28 ACT1 HIS3 URA3 ERG11 YGR192C YAL002W YAL003W\n";
    write_text(in, text, strlen(text));
    assert_int_not_equal(predict(out, sizeof out, CKPT_A, in, res), 0);
    assert_non_null(strstr(out, "genotypes.tsv: line 2: a genotype has 1 to 3 genes, got 10"));
    assert_false(exists(res));

    /* and so are more than 64 names on the command line */
    char names[1024] = "";
    for (int k = 0; k < 70; k++) strcat(names, "CYS3 ");
    assert_int_not_equal(run_cli(out, sizeof out, "predict --checkpoint '%s' %s", CKPT_A, names), 0);
    assert_non_null(strstr(out, "got 70"));
}

/* the command-line form prints the same row format; a stale temporary file of a killed run is removed by
 * the next successful -o write; no temporary file is left */
static void test_predict_output_files(void **state) {
    (void)state;
    NEED();
    char out[8192], res[700], stale[800], mine[1200];
    assert_int_equal(run_cli(out, sizeof out, "predict --checkpoint '%s' 'CYS3\tTFC3'", CKPT_A), 0);
    const char *row = strstr(out, "genotype\t");
    assert_non_null(row);
    assert_int_equal(check_rows(row), 1);
    assert_non_null(strstr(row, "\nCYS3,TFC3\tYAL001C,YAL012W\t"));

    snprintf(res, sizeof res, "%s/p2.tsv", DIR_);
    pid_t child = fork(); /* a process id that no longer runs */
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    int wst;
    assert_int_equal(waitpid(child, &wst, 0), child);
    snprintf(stale, sizeof stale, "%s.tmp.%ld", res, (long)child);
    write_text(stale, "killed half-way", 15);
    assert_int_equal(run_cli(out, sizeof out, "predict --checkpoint '%s' --input /dev/null -o '%s'", CKPT_A, res), 1);
    assert_non_null(strstr(out, "no genotype"));
    assert_true(exists(stale)); /* a failed run touches nothing */
    char in[700];
    snprintf(in, sizeof in, "%s/one.tsv", DIR_);
    write_text(in, "CYS3\n", 5);
    assert_int_equal(predict(out, sizeof out, CKPT_A, in, res), 0);
    assert_true(exists(res));
    assert_false(exists(stale));
    /* the run's own temporary name is gone too: no file but the result */
    snprintf(mine, sizeof mine, "ls '%s' | grep -c 'p2.tsv.tmp' > '%s/count.txt'", DIR_, DIR_);
    (void)!system(mine);
    snprintf(mine, sizeof mine, "%s/count.txt", DIR_);
    char *count = read_text(mine);
    assert_string_equal(count, "0\n");
    free(count);
    remove(res);
}

/* ------------------------------------------------------------------ screen -o */

/* runs `screen` of order `order` over the gene list genes with checkpoint ckpt into res (extra: more options) */
static int screen(char *out, size_t len, const char *ckpt, const char *genes, int order, const char *res,
                  const char *extra) {
    return run_cli(out, len, "screen --checkpoint '%s' --genes '%s' --order %d -o '%s' %s", ckpt, genes, order, res,
                   extra);
}

static void write_genes(const char *path) {
    const char *text = "CYS3\nTFC3\nCDC28\nACT1\nYGR192C\nERG11\nHIS3\nURA3\n";
    write_text(path, text, strlen(text));
}

/* replaces line `which` (1-based) of path with text */
static void replace_line(const char *path, int which, const char *text) {
    char *all = read_text(path);
    assert_non_null(all);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    int line = 1;
    for (char *l = all; *l; line++) {
        char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l + 1) : strlen(l);
        if (line == which) fprintf(f, "%s\n", text);
        else fwrite(l, 1, len, f);
        l += len;
    }
    fclose(f);
    free(all);
}

/* a complete file is kept only when it is this screen's: another checkpoint, order or gene list, or a
 * damaged line, is refused with what differs (it used to say "nothing to do" and keep the old results) */
static void test_screen_complete_file(void **state) {
    (void)state;
    NEED();
    char out[8192], genes[700], res[700], g3[700];
    snprintf(genes, sizeof genes, "%s/genes.txt", DIR_);
    snprintf(g3, sizeof g3, "%s/genes3.txt", DIR_);
    snprintf(res, sizeof res, "%s/screen.tsv", DIR_);
    write_genes(genes);
    write_text(g3, "CYS3\nTFC3\nCDC28\n", 16);
    assert_int_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    char *first = read_text(res);
    assert_non_null(first);
    assert_int_equal(check_rows(strchr(first, '\n') + 1), 28);
    /* the same screen again: complete, nothing to do */
    assert_int_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    assert_non_null(strstr(out, "nothing to do"));
    /* another checkpoint */
    assert_int_not_equal(screen(out, sizeof out, CKPT_B, genes, 2, res, ""), 0);
    assert_non_null(strstr(out, "other settings"));
    assert_non_null(strstr(out, "model parameters"));
    assert_non_null(strstr(out, "remove"));
    /* another order, another gene list */
    assert_int_not_equal(screen(out, sizeof out, CKPT_A, genes, 3, res, ""), 0);
    assert_non_null(strstr(out, "the order: file 2, this screen 3"));
    assert_int_not_equal(screen(out, sizeof out, CKPT_A, g3, 2, res, ""), 0);
    assert_non_null(strstr(out, "the gene list"));
    char *now = read_text(res);
    assert_string_equal(now, first); /* refused: the file is untouched */
    free(now);
    /* a damaged line in the middle of the complete file */
    replace_line(res, 10, "YAL001C\tYFL039C\tnot-a-number\t0.1");
    assert_int_not_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    assert_non_null(strstr(out, "screen.tsv:10:"));
    /* a truncated complete file */
    write_text(res, first, strlen(first) - 20);
    assert_int_not_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    assert_non_null(strstr(out, "not a complete screen"));
    free(first);
    remove(res);
    /* another process holding the screen's lock: refused at once, naming it; nothing written */
    char lock[720];
    snprintf(lock, sizeof lock, "%s.lock", res);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(pwrite(fd, "4242\n", 5, 0), 5);
    assert_int_not_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    if (!strstr(out, "in use by another cellgraph process (pid 4242")) fail_msg("%s", out);
    assert_int_equal(access(res, F_OK), -1);
    char partial[720];
    snprintf(partial, sizeof partial, "%s.partial", res);
    assert_int_equal(access(partial, F_OK), -1);
    close(fd); /* released: the screen runs */
    assert_int_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    remove(res);
}

/* every line of a partial file is checked on resume: a garbage line in the middle is an error naming the
 * line (it used to end up in the final output); a torn last line is still cut and the screen resumed */
static void test_screen_partial_file(void **state) {
    (void)state;
    NEED();
    char out[8192], genes[700], res[700], part[720], ref[700];
    snprintf(genes, sizeof genes, "%s/genes.txt", DIR_);
    snprintf(res, sizeof res, "%s/resumed.tsv", DIR_);
    snprintf(part, sizeof part, "%s.partial", res);
    snprintf(ref, sizeof ref, "%s/reference.tsv", DIR_);
    write_genes(genes);
    assert_int_equal(screen(out, sizeof out, CKPT_A, genes, 2, ref, ""), 0);

    /* garbage in the middle */
    assert_int_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, "--batch-size 4 --max-genotypes 12"), 0);
    char *good = read_text(part);
    replace_line(part, 6, "garbage");
    assert_int_not_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    assert_non_null(strstr(out, "resumed.tsv.partial:6:"));
    assert_false(exists(res));
    /* two lines swapped: each is a genotype, but not the one of its position */
    write_text(part, good, strlen(good));
    char *l5 = NULL, *l6 = NULL;
    {
        char *all = read_text(part), *p = all;
        for (int k = 1; k < 5; k++) p = strchr(p, '\n') + 1;
        char *e5 = strchr(p, '\n'), *e6 = strchr(e5 + 1, '\n');
        l5 = strndup(p, (size_t)(e5 - p));
        l6 = strndup(e5 + 1, (size_t)(e6 - e5 - 1));
        free(all);
    }
    replace_line(part, 5, l6);
    replace_line(part, 6, l5);
    free(l5);
    free(l6);
    assert_int_not_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    assert_non_null(strstr(out, "resumed.tsv.partial:5:"));
    assert_false(exists(res));
    /* a partial of another checkpoint */
    write_text(part, good, strlen(good));
    assert_int_not_equal(screen(out, sizeof out, CKPT_B, genes, 2, res, ""), 0);
    assert_non_null(strstr(out, "other settings"));
    /* intact, with a torn last line: resumed to the uninterrupted result */
    FILE *f = fopen(part, "ab");
    fputs("YAL012W\tYEL0", f);
    fclose(f);
    assert_int_equal(screen(out, sizeof out, CKPT_A, genes, 2, res, ""), 0);
    assert_non_null(strstr(out, "resuming"));
    assert_false(exists(part));
    char *a = read_text(res), *b = read_text(ref);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(good);
    remove(res);
    remove(ref);
}

/* benchmark keeps a finished run only when the run's config is the current one: rerun, it keeps it; a
 * run whose config.json lacks a model key (written before the key existed: parsing would give it today's
 * default) is trained again */
static void test_benchmark_keeps_current_runs(void **state) {
    (void)state;
    if (!have) skip();
    char cfgdir[700], cfg[800], runs[700], cj[900], out[16384];
    snprintf(cfgdir, sizeof cfgdir, "%s/bench_configs", DIR_);
    mkdir(cfgdir, 0755);
    snprintf(cfg, sizeof cfg, "%s/additive.json", cfgdir);
    const char *text = "{\"model\": \"additive\", \"aggregation\": \"sum\", \"train\": {\"epochs\": 1, "
                       "\"batch_size\": 64, \"max_val_samples\": 256}}\n";
    write_text(cfg, text, strlen(text));
    snprintf(runs, sizeof runs, "%s/bench_runs", DIR_);
    snprintf(cj, sizeof cj, "%s/additive/random/seed42/config.json", runs);
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 2) { /* drop the model key "aggregation" from the run's config.json */
            char *c = read_text(cj);
            assert_non_null(c);
            char *k = strstr(c, "\"aggregation\"");
            assert_non_null(k);
            char *eol = strchr(k, '\n');
            assert_non_null(eol);
            memmove(k, eol + 1, strlen(eol + 1) + 1);
            write_text(cj, c, strlen(c));
            free(c);
        }
        if (run_cli(out, sizeof out, "benchmark --quick --models additive --splits random --seeds 1 --runs '%s' "
                    "--configs '%s' --out '%s/bench.md'", runs, cfgdir, DIR_) != 0)
            fail_msg("benchmark failed:\n%s", out);
        const bool kept = strstr(out, "done (kept)") != NULL;
        if (kept != (pass == 1)) fail_msg("pass %d: expected the run %s:\n%s", pass, pass == 1 ? "kept" : "trained", out);
        if (pass == 2) assert_non_null(strstr(out, "trained with another config"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_help),
        cmocka_unit_test(test_option_values),
        cmocka_unit_test(test_unknown_options),
        cmocka_unit_test(test_double_dash),
        cmocka_unit_test(test_predict_tsv),
        cmocka_unit_test(test_predict_output_files),
        cmocka_unit_test(test_screen_complete_file),
        cmocka_unit_test(test_screen_partial_file),
        cmocka_unit_test(test_benchmark_keeps_current_runs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
