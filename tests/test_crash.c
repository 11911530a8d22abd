/* Crash consistency (issue 18, "What to build"): `train` and `screen`, killed with SIGKILL at chosen
 * instants and then run again (train: --resume when a last checkpoint exists, else the same command;
 * screen: the same command), end with exactly the files of an uninterrupted run: the checkpoints, the
 * optimizer state, config.json and the plots byte for byte, metrics.jsonl line for line (without its
 * wall-clock "minutes"), the screen's TSV byte for byte, and no temporary file left behind.
 *
 * The instants: a file's state on disk changes only at a system call, so a kill before each call that
 * changes it (write, rename, unlink, ftruncate, openat creating a file) enumerates what a kill can leave
 * behind (SIGKILL, OOM kill, Ctrl-C; power loss also loses what was not fsynced). strace (Debian) kills
 * the command at the k-th such call (`-e inject=SYSCALL:signal=KILL:when=k`); the count of each call
 * comes from a traced uninterrupted run. Every rename, unlink, ftruncate and creating openat is an
 * instant; train's writes are taken every WRITE_STRIDE-th (most are chunks of one temporary checkpoint
 * file, the same state for a kill), and under the sanitizers every other of its other calls; the
 * screen's calls are all taken. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
enum { WRITE_STRIDE = 16, OTHER_STRIDE = 2 };
#else
enum { WRITE_STRIDE = 4, OTHER_STRIDE = 1 };
#endif

static char dir[512], cli[1024];

/* LeakSanitizer cannot run under ptrace (it stops the process the way a tracer does): the traced runs of
 * the sanitizer build check everything else; their reruns, untraced, check leaks too */
#define TRACED "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 "
static bool have;

static int setup(void **state) {
    (void)state;
    const char *c = getenv("CELLGRAPH_CLI"), *data = getenv("CELLGRAPH_TEST_DATA");
    if (!c || !*c || !data || !*data) return 0;
    if (system("strace -V > /dev/null 2>&1") != 0) {
        fprintf(stderr, "test_crash: strace is needed (scripts/install-deps.sh installs it)\n");
        return -1;
    }
    snprintf(cli, sizeof cli, "%s", c);
    tu_temp_path(dir, sizeof dir, "crash");
    mkdir(dir, 0755);
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("CELLGRAPH_CACHE", cache, 1);
    setenv("CELLGRAPH_DATA", data, 1);
    have = true;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (!have) return 0;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs a shell command; returns its exit status (128 + signal when killed). */
static int sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc == -1) fail_msg("cannot run: %s", cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

/* One kill instant: the k-th call of syscall. */
typedef struct {
    const char *syscall;
    int k;
} instant;

/* The instants of the command `args` (run once, traced, in the folder work_dir). */
static int instants(const char *args, int write_stride, int other_stride, instant *out, int max) {
    static const char *const calls[] = {"write", "rename", "unlink", "ftruncate", "openat"};
    char trace[700];
    snprintf(trace, sizeof trace, "%s/trace.txt", dir);
    int rc = sh(TRACED "strace -qq -o '%s' -e trace=write,rename,unlink,ftruncate,openat %s > /dev/null 2>&1", trace, args);
    if (rc != 0) fail_msg("traced run failed (%d): %s", rc, args);
    int n = 0, seen[5] = {0};
    FILE *f = fopen(trace, "r");
    assert_non_null(f);
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        for (int c = 0; c < 5; c++) {
            size_t len = strlen(calls[c]);
            if (strncmp(line, calls[c], len) != 0 || line[len] != '(') continue;
            int k = ++seen[c];
            bool take = c == 0 ? k % write_stride == 1 % write_stride
                        : c == 4 ? strstr(line, "O_CREAT") != NULL && k % other_stride == 0
                                 : k % other_stride == 0;
            if (take && n < max) out[n++] = (instant){calls[c], k};
        }
    }
    fclose(f);
    return n;
}

/* metrics.jsonl without the wall-clock field: the same bytes for the same run */
static void strip_minutes(const char *from, const char *to) {
    assert_int_equal(sh("sed 's/\"minutes\":[0-9.e+-]*//' '%s' > '%s'", from, to), 0);
}

/* no FILE.tmp.<pid>, optimizer_next or .partial left in the folder */
static void assert_no_leftovers(const char *folder, const char *when) {
    DIR *d = opendir(folder);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp") || strstr(e->d_name, "optimizer_next") || strstr(e->d_name, ".partial"))
            fail_msg("%s: '%s' left in %s", when, e->d_name, folder);
    closedir(d);
}

static void assert_same_run(const char *ref, const char *got, const char *when) {
    static const char *const files[] = {"checkpoint_last.safetensors", "checkpoint_best.safetensors",
                                        "optimizer_last.safetensors", "config.json", "loss.png", "test_fitness.png",
                                        "test_epsilon.png", "test_tau.png"};
    char a[1200], b[1200];
    for (int i = 0; i < (int)(sizeof files / sizeof files[0]); i++) {
        snprintf(a, sizeof a, "%s/%s", ref, files[i]);
        snprintf(b, sizeof b, "%s/%s", got, files[i]);
        if (!tu_same_file(a, b)) fail_msg("%s: %s differs from the uninterrupted run's", when, files[i]);
    }
    snprintf(a, sizeof a, "%s/metrics.jsonl", ref);
    snprintf(b, sizeof b, "%s/metrics.jsonl", got);
    char sa[1200], sb[1200];
    snprintf(sa, sizeof sa, "%s/ref.metrics", dir);
    snprintf(sb, sizeof sb, "%s/got.metrics", dir);
    strip_minutes(a, sa);
    strip_minutes(b, sb);
    if (!tu_same_file(sa, sb)) {
        sh("diff '%s' '%s' | cut -c1-160 >&2", sa, sb);
        fail_msg("%s: metrics.jsonl differs from the uninterrupted run's", when);
    }
    assert_no_leftovers(got, when);
}

/* A tiny run: 2 steps of 128 genotypes, a validation (and checkpoints) after each, the test evaluation */
static void write_config(char *path, size_t len) {
    snprintf(path, len, "%s/tiny.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"model\": \"hetero_cell\", \"hidden_channels\": 8, \"num_layers\": 1, \"heads\": 1,\n"
               " \"train\": {\"epochs\": 1, \"batch_size\": 128, \"max_train_samples\": 256, \"max_val_samples\": 64,\n"
               "           \"val_every\": 1, \"lr\": 0.003}}\n");
    fclose(f);
}

static void test_train_killed_anywhere(void **state) {
    (void)state;
    if (!have) skip();
    char config[700], ref[700], run[700], args[4096];
    write_config(config, sizeof config);
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    /* the uninterrupted run (the first one also builds the cache) */
    assert_int_equal(sh("'%s' train --config '%s' --out '%s' > '%s.log' 2>&1", cli, config, ref, ref), 0);
    snprintf(args, sizeof args, "'%s' train --config '%s' --out '%s'", cli, config, run);
    instant at[256];
    int n = instants(args, WRITE_STRIDE, OTHER_STRIDE, at, 256);
    assert_true(n >= 10);
    int resumed = 0, fresh = 0;
    for (int i = 0; i < n; i++) {
        char when[96], last[800];
        snprintf(when, sizeof when, "killed at %s #%d", at[i].syscall, at[i].k);
        sh("rm -rf '%s'", run);
        int rc = sh(TRACED "strace -qq -o /dev/null -e trace=%s -e inject=%s:signal=KILL:when=%d %s > /dev/null 2>&1",
                    at[i].syscall, at[i].syscall, at[i].k, args);
        if (rc == 0) fail_msg("%s: the command was not killed", when);
        snprintf(last, sizeof last, "%s/checkpoint_last.safetensors", run);
        struct stat sb;
        if (stat(last, &sb) == 0) {
            rc = sh("'%s' train --resume '%s' > '%s.log' 2>&1", cli, run, run);
            resumed++;
        } else {
            rc = sh("%s > '%s.log' 2>&1", args, run);
            fresh++;
        }
        if (rc != 0) {
            sh("tail -3 '%s.log' >&2", run);
            fail_msg("%s: the rerun failed (%d)", when, rc);
        }
        assert_same_run(ref, run, when);
    }
    fprintf(stderr, "train: %d kill instants, %d resumed, %d started again: all equal the uninterrupted run\n", n,
            resumed, fresh);
}

static void test_screen_killed_anywhere(void **state) {
    (void)state;
    if (!have) skip();
    char config[700], ref[700], genes[700], out[700], expect[700], args[4096];
    write_config(config, sizeof config);
    snprintf(ref, sizeof ref, "%s/screenref", dir);
    assert_int_equal(sh("'%s' train --config '%s' --out '%s' > '%s.log' 2>&1", cli, config, ref, ref), 0);
    snprintf(genes, sizeof genes, "%s/genes.txt", dir);
    FILE *f = fopen(genes, "w");
    assert_non_null(f);
    fprintf(f, "CYS3\nTFC3\nCDC28\nACT1\nYGR192C\nERG11\nHIS3\nURA3\n");
    fclose(f);
    snprintf(expect, sizeof expect, "%s/expect.tsv", dir);
    snprintf(out, sizeof out, "%s/screen/pairs.tsv", dir);
    sh("mkdir -p '%s/screen'", dir);
    const char *fmt = "'%s' screen --checkpoint '%s/checkpoint_best.safetensors' --genes '%s' --order 2 --batch-size 4 -o '%s'";
    snprintf(args, sizeof args, fmt, cli, ref, genes, expect);
    assert_int_equal(sh("%s > /dev/null 2>&1", args), 0);
    snprintf(args, sizeof args, fmt, cli, ref, genes, out);
    instant at[256];
    sh("rm -rf '%s/screen'/*", dir);
    int n = instants(args, 1, 1, at, 256); /* a few calls: every one */
    assert_true(n >= 5);
    for (int i = 0; i < n; i++) {
        char when[96];
        snprintf(when, sizeof when, "screen killed at %s #%d", at[i].syscall, at[i].k);
        sh("rm -rf '%s/screen'/*", dir);
        int rc = sh(TRACED "strace -qq -o /dev/null -e trace=%s -e inject=%s:signal=KILL:when=%d %s > /dev/null 2>&1",
                    at[i].syscall, at[i].syscall, at[i].k, args);
        if (rc == 0) fail_msg("%s: the command was not killed", when);
        rc = sh("%s > '%s/screen.log' 2>&1", args, dir);
        if (rc != 0) {
            sh("tail -3 '%s/screen.log' >&2", dir);
            fail_msg("%s: the rerun failed (%d)", when, rc);
        }
        if (!tu_same_file(expect, out)) fail_msg("%s: the screen's file differs from the uninterrupted run's", when);
        char sd[700];
        snprintf(sd, sizeof sd, "%s/screen", dir);
        assert_no_leftovers(sd, when);
    }
    fprintf(stderr, "screen: %d kill instants: all equal the uninterrupted run\n", n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_killed_anywhere),
        cmocka_unit_test(test_screen_killed_anywhere),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
