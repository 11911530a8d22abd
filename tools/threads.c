/* Threads that follow the load (cli.h, cli_threads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cellgraph/threads.h"
#include "cli.h"

static bool env_set(const char *name) {
    const char *v = getenv(name);
    return v && *v;
}

int cli_threads_fix(int n) {
    if (cg_set_num_threads(n) != CG_OK) return cli_fail();
    char v[16];
    snprintf(v, sizeof v, "%d", n);
    setenv("CELLGRAPH_THREADS", v, 1);
    return 0;
}

void cli_threads_init(cli_threads *t) {
    const char *policy = getenv("OMP_WAIT_POLICY");
    memset(t, 0, sizeof *t);
    t->follow = !env_set("CELLGRAPH_THREADS") && !env_set("OMP_NUM_THREADS") && !env_set("GOMP_SPINCOUNT") && policy &&
                strcasecmp(policy, "passive") == 0 && cg_num_procs() > 1 && cg_runnable_tasks() >= 1;
    t->max = t->follow ? cg_num_procs() : cg_get_num_threads();
}

void cli_threads_adapt(cli_threads *t) {
    if (!t->follow) return;
    const int running = cg_runnable_tasks();
    if (running < 1) return;
    t->others[t->n_samples++ % CLI_LOAD_SAMPLES] = running - 1; /* the caller is running */
    const int n = t->n_samples < CLI_LOAD_SAMPLES ? t->n_samples : CLI_LOAD_SAMPLES;
    int others = t->others[0];
    for (int i = 1; i < n; i++)
        if (t->others[i] < others) others = t->others[i];
    int want = cg_num_procs() - others;
    if (want > t->max) want = t->max;
    if (want < 1) want = 1;
    const int now = cg_get_num_threads();
    if (want != now && cg_set_num_threads(want) != CG_OK) { /* growing maps the new threads' BLAS buffers */
        cg_set_num_threads(now);                            /* shrinking cannot fail */
        t->follow = false;
    }
    t->n_adapt++;
    t->sum_threads += cg_get_num_threads();
}

double cli_threads_mean(const cli_threads *t) {
    return t->n_adapt ? (double)t->sum_threads / (double)t->n_adapt : cg_get_num_threads();
}
