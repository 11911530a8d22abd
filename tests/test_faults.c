/* Fault injection (issue 18, "What to build"): the commands that write files (graph build, data build,
 * train, predict -o, screen -o) under a file-size limit (RLIMIT_FSIZE: a full disk or a quota) and under
 * an address-space limit (RLIMIT_AS: out of memory) end with a clear error and a non-zero exit status
 * (never a signal, never a hang), leave no temporary or half-written file, and leave the previous output
 * as it was. A run stopped by a fault resumes afterwards to the uninterrupted result.
 *
 * The address-space part runs only without AddressSanitizer (which cannot start under RLIMIT_AS). Its
 * limits are relative to what this machine needs to start (found by bisection), so that the test does
 * not depend on the thread count or the libraries' sizes. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char dir[512], cli[1024], log_path[700];
static bool have;

static int setup(void **state) {
    (void)state;
    const char *c = getenv("CELLGRAPH_CLI"), *data = getenv("CELLGRAPH_TEST_DATA");
    if (!c || !*c || !data || !*data) return 0;
    snprintf(cli, sizeof cli, "%s", c);
    tu_temp_path(dir, sizeof dir, "faults");
    mkdir(dir, 0755);
    char cache[600];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("CELLGRAPH_CACHE", cache, 1);
    setenv("CELLGRAPH_DATA", data, 1);
    snprintf(log_path, sizeof log_path, "%s/cmd.log", dir);
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

/* Runs `cellgraph ARGS` (a shell command line after the binary) with the resource limit (0: none) and a
 * time limit; output in log_path. Returns the exit status, 128 + signal when killed, 124 on timeout. */
static int run_limited(int resource, rlim_t limit, int seconds, const char *fmt, ...) {
    char args[4096], cmd[6000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "exec timeout -s KILL %d '%s' %s > '%s' 2>&1", seconds, cli, args, log_path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (limit) {
            struct rlimit rl = {limit, limit};
            if (setrlimit(resource, &rl) != 0) _exit(126);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return rc == 128 + SIGKILL ? 124 : rc; /* timeout -s KILL: the command ran out of time */
}

static bool log_has(const char *text) {
    FILE *f = fopen(log_path, "r");
    if (!f) return false;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

static void show_log(void) {
    char cmd[800];
    snprintf(cmd, sizeof cmd, "tail -3 '%s' >&2", log_path);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool file_is(const char *path, const char *text) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, text) == 0;
}

/* no FILE.tmp.<pid> left in the folder */
static void assert_no_temps(const char *folder, const char *when) {
    DIR *d = opendir(folder);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) fail_msg("%s: '%s' left in %s", when, e->d_name, folder);
    closedir(d);
}

/* The failure a fault must give: exit status 1 (not a signal, not a hang), the message in the log. */
static void assert_clean_failure(int rc, const char *message, const char *when) {
    if (rc != 1 || !log_has(message)) {
        show_log();
        fail_msg("%s: exit status %d (%s), expected 1 with '%s'", when, rc,
                 rc == 124 ? "hung" : rc > 128 ? "killed by a signal" : "", message);
    }
}

static void write_config(char *path, size_t len) {
    snprintf(path, len, "%s/tiny.json", dir);
    write_text(path, "{\"model\": \"hetero_cell\", \"hidden_channels\": 8, \"num_layers\": 1, \"heads\": 1,\n"
                     " \"train\": {\"epochs\": 1, \"batch_size\": 128, \"max_train_samples\": 256, \"max_val_samples\": 64,\n"
                     "           \"val_every\": 1, \"lr\": 0.003}}\n");
}

/* Disk full (RLIMIT_FSIZE of 4 KB: every output here is larger) for every command that writes */
static void test_file_size_limit(void **state) {
    (void)state;
    if (!have) skip();
    const rlim_t LIMIT = 4096;
    char out[700], graph[700], config[700], run[700], saved[760], genes[700], input[700], ref[700];
    write_config(config, sizeof config);
    /* the graph and a run, made without a limit */
    snprintf(graph, sizeof graph, "%s/graph.safetensors", dir);
    assert_int_equal(run_limited(0, 0, 600, "graph build -o '%s'", graph), 0);
    snprintf(run, sizeof run, "%s/run", dir);
    assert_int_equal(run_limited(0, 0, 600, "train --config '%s' --out '%s'", config, run), 0);

    /* graph build, data build, predict -o: the previous file is kept */
    snprintf(out, sizeof out, "%s/out.file", dir);
    write_text(out, "previous\n");
    assert_clean_failure(run_limited(RLIMIT_FSIZE, LIMIT, 600, "graph build -o '%s'", out), "File too large", "graph build");
    assert_true(file_is(out, "previous\n"));
    assert_clean_failure(run_limited(RLIMIT_FSIZE, LIMIT, 600, "data build --graph '%s' -o '%s'", graph, out),
                         "File too large", "data build");
    assert_true(file_is(out, "previous\n"));
    snprintf(input, sizeof input, "%s/genotypes.tsv", dir);
    FILE *f = fopen(input, "w");
    assert_non_null(f);
    const char *names[] = {"CYS3", "TFC3", "CDC28", "ACT1", "YGR192C", "ERG11", "HIS3", "URA3"};
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++) fprintf(f, "%s\t%s\n", names[i], names[j]); /* 28 pairs: > 1 KB out */
    fclose(f);
    assert_clean_failure(run_limited(RLIMIT_FSIZE, 1024, 600, "predict --checkpoint '%s/checkpoint_best.safetensors' "
                                     "--input '%s' -o '%s'", run, input, out),
                         "File too large", "predict -o");
    assert_true(file_is(out, "previous\n"));
    assert_no_temps(dir, "graph build, data build, predict -o");

    /* train: resumed for a second epoch, its checkpoints cannot be written; the last one stays */
    snprintf(saved, sizeof saved, "%s/checkpoint_last.saved", dir);
    char last[760], cmd[2000];
    snprintf(last, sizeof last, "%s/checkpoint_last.safetensors", run);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", last, saved);
    assert_int_equal(system(cmd), 0);
    assert_clean_failure(run_limited(RLIMIT_FSIZE, LIMIT, 600, "train --resume '%s' --epochs 2", run), "File too large",
                         "train");
    assert_true(tu_same_file(last, saved));
    assert_no_temps(run, "train");
    /* and the run resumes once there is room */
    assert_int_equal(run_limited(0, 0, 600, "train --resume '%s' --epochs 2", run), 0);

    /* screen: the result file is not written; the rerun completes it, equal to an uninterrupted screen */
    snprintf(genes, sizeof genes, "%s/genes.txt", dir);
    write_text(genes, "CYS3\nTFC3\nCDC28\nACT1\nYGR192C\nERG11\nHIS3\nURA3\n");
    snprintf(ref, sizeof ref, "%s/screen_ref.tsv", dir);
    snprintf(out, sizeof out, "%s/screen.tsv", dir);
    const char *screen = "screen --checkpoint '%s/checkpoint_best.safetensors' --genes '%s' --order 2 --batch-size 4 -o '%s'";
    assert_int_equal(run_limited(0, 0, 600, screen, run, genes, ref), 0);
    assert_clean_failure(run_limited(RLIMIT_FSIZE, 512, 600, screen, run, genes, out), "File too large", "screen");
    struct stat sb;
    assert_int_not_equal(stat(out, &sb), 0);
    assert_int_equal(run_limited(0, 0, 600, screen, run, genes, out), 0);
    assert_true(tu_same_file(out, ref));
    assert_no_temps(dir, "screen");
}

/* Out of memory (RLIMIT_AS a little above what start-up needs): a clear error, never a hang inside
 * OpenBLAS (which retries a failed mmap forever; cellgraph maps its buffers at start) or a crash */
static void test_address_space_limit(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* AddressSanitizer reserves terabytes of shadow memory and cannot run under RLIMIT_AS */
#endif
    if (!have) skip();
    /* far too small: the start-up check says so at once (it used to spin forever in OpenBLAS) */
    int rc = run_limited(RLIMIT_AS, (rlim_t)150 << 20, 30, "--version");
    assert_clean_failure(rc, "address-space limit", "--version at 150 MB");
    rc = run_limited(RLIMIT_AS, (rlim_t)150 << 20, 30, "graph info --help");
    assert_clean_failure(rc, "address-space limit", "graph info --help at 150 MB");
    /* the least this machine starts with (a command that reaches its BLAS preparation), to 8 MB */
    rlim_t lo = 64, hi = 8192; /* MB */
    assert_int_equal(run_limited(RLIMIT_AS, hi << 20, 30, "graph info --help"), 0);
    while (hi - lo > 8) {
        rlim_t mid = (lo + hi) / 2;
        rc = run_limited(RLIMIT_AS, mid << 20, 30, "graph info --help");
        if (rc == 124) fail_msg("graph info --help hung at an address-space limit of %d MB", (int)mid);
        if (rc == 0) hi = mid;
        else lo = mid;
    }
    fprintf(stderr, "starts with an address-space limit of %d MB\n", (int)hi);

    /* training the default model needs far more than start-up: out of memory (limits just above
     * start-up), a clear error each time and no temporary file */
    char config[700], run[700], out[700], big[700];
    write_config(config, sizeof config);
    snprintf(run, sizeof run, "%s/asrun", dir);
    assert_int_equal(run_limited(0, 0, 600, "train --config '%s' --out '%s'", config, run), 0);
    snprintf(big, sizeof big, "%s/big", dir);
    const char *src = getenv("CELLGRAPH_SOURCE_DIR");
    assert_non_null(src);
    int failures = 0;
    for (rlim_t extra = 16; extra <= 96; extra += 40) {
        char when[64];
        snprintf(when, sizeof when, "train at start-up + %d MB", (int)extra);
        rc = run_limited(RLIMIT_AS, (hi + extra) << 20, 300,
                         "train --config '%s/configs/hetero_cell.json' --max-steps 2 --out '%s'", src, big);
        if (rc == 0) continue; /* it fitted */
        /* cellgraph's own allocations say "out of memory". (OpenBLAS's threaded GEMM, which mallocs a job
         * array per call and exit(1)s when that fails, is never entered: cg_gemm calls sgemm single-threaded) */
        assert_clean_failure(rc, "out of memory", when);
        assert_no_temps(big, when);
        failures++;
    }
    assert_true(failures > 0); /* the default model does not fit in start-up + 16 MB */
    /* predict -o and screen under a limit too small for their work keep the previous output */
    snprintf(out, sizeof out, "%s/pred.tsv", dir);
    write_text(out, "previous\n");
    rc = run_limited(RLIMIT_AS, (hi + 8) << 20, 300, "predict --checkpoint '%s/checkpoint_best.safetensors' CYS3 -o '%s'",
                     run, out);
    if (rc != 0) {
        assert_clean_failure(rc, "out of memory", "predict -o");
        assert_true(file_is(out, "previous\n"));
    }
    assert_no_temps(dir, "predict -o");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_size_limit),
        cmocka_unit_test(test_address_space_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
