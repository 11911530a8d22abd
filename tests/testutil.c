#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdarg.h>
#include <sys/wait.h>

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tu_fill_uniform(float *x, int64_t n, float lo, float hi, uint64_t seed) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)((splitmix64(&s) >> 40) * (1.0 / 16777216.0));
}

double tu_max_rel_err(const float *a, const double *b, int64_t n, double floor, int64_t *worst) {
    double m = 0;
    int64_t w = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(fabs(b[i]), floor);
        if (!(d <= m)) { /* also catches NaN */
            m = isnan(d) ? INFINITY : d;
            w = i;
        }
    }
    if (worst) *worst = w;
    return m;
}

void tu_check_close(const char *label, const float *a, const double *b, int64_t n, double rel, double floor) {
    int64_t w;
    double e = tu_max_rel_err(a, b, n, floor, &w);
    if (!(e <= rel)) {
        print_error("%s: max rel err %.3g > %.3g at [%lld]: got %.9g, want %.9g\n", label, e, rel, (long long)w,
                    (double)a[w], b[w]);
        fail();
    }
}

bool tu_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) same = false;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

const char *tu_temp_path(char *buf, size_t len, const char *name) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(buf, len, "%s/cgtest_%d_%s", dir, (int)getpid(), name);
    return buf;
}

void tu_check_rel2(const char *label, const float *a, const float *b, int64_t n, double rel) {
    double sd = 0, sb = 0, maxd = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        sd += d * d, sb += (double)b[i] * b[i];
        if (d > maxd) maxd = d, worst = i;
    }
    double err = sqrt(sd / fmax(sb, 1e-60));
    if (getenv("CG_VERBOSE")) printf("%-45s relative error %.2e\n", label, err);
    if (!(err <= rel))
        fail_msg("%s: relative error %.3g > %.1g (largest difference at %lld: %.9g vs %.9g)", label, err, rel,
                 (long long)worst, a[worst], b[worst]);
}

int tu_real_graph_open(cg_graph **g, cg_graph_index *hg) {
    *g = NULL;
    const char *d = getenv("CELLGRAPH_TEST_DATA");
    if (!d || !*d) return 0;
    if (cg_graph_build(d, "default", g) != CG_OK || cg_graph_index_init(hg, *g) != CG_OK) {
        fprintf(stderr, "%s\n", cg_last_error());
        return -1;
    }
    return 0;
}

void tu_real_graph_close(cg_graph *g, cg_graph_index *hg) {
    if (g) cg_graph_index_free(hg);
    cg_graph_free(g);
}

int tu_run_cli(char *out, size_t len, const char *fmt, ...) {
    char args[4096], cmd[4600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", getenv("CELLGRAPH_CLI"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {} /* drain: the command must not block on a full pipe */
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
