/* bench/attention: the tiled attention (cg_attention_forward/backward) against the composed
 * bmm(q, k^T) -> scale -> masked softmax -> bmm(p, v) with its [B, H, Tq, Tk] buffers, in the same
 * process, as time ratios (composed / tiled: > 1 means the tiled one is faster) and the bytes each keeps
 * for backward. Shapes: DANGO's Hyper-SAGNN head (1024 gene triples, 8 heads of 128 channels), small
 * sets (T = 8, 64), up to long sequences (T = 4096).
 * Masks: "diag" is Hyper-SAGNN's keep[i][j] = (i != j), "none" no mask.
 * usage: attention [--threads T] [--reps R]   (default: 2 threads, 5 repetitions; the median is reported)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#include "cellgraph/attention.h"
#include "cellgraph/ops.h"
#include "cellgraph/rng.h"
#include "cellgraph/threads.h"

static int REPS = 5;

/* median wall time of REPS runs of the statement, after one warm-up run */
#define TIME_MEDIAN(result, stmt)                                                                                     \
    do {                                                                                                              \
        double _t[256];                                                                                               \
        stmt;                                                                                                         \
        for (int _r = 0; _r < REPS; _r++) {                                                                           \
            double _s = bench_now();                                                                                  \
            stmt;                                                                                                     \
            _t[_r] = bench_now() - _s;                                                                                \
        }                                                                                                             \
        qsort(_t, REPS, sizeof(double), bench_cmp_double);                                                            \
        (result) = _t[REPS / 2];                                                                                      \
    } while (0)

static float *randf(int64_t n, uint64_t stream) {
    float *x = malloc((size_t)(n + 1) * sizeof(float));
    cg_rng_fill_uniform(x, n, -1.0f, 1.0f, 42, stream);
    return x;
}

typedef struct composed {
    int64_t BH, Tq, Tk, C;
    float scale;
    const cg_attn_mask *mask;
    float *s, *p, *dp, *ds; /* [BH, Tq, Tk] each */
} composed;

static void composed_forward(composed *c, float *out, const float *q, const float *k, const float *v) {
    const int64_t n = c->BH * c->Tq * c->Tk;
    cg_bmm_forward(c->s, q, k, c->BH, c->Tq, c->Tk, c->C, false, true);
    cg_scale_forward(c->s, c->s, c->scale, n);
    cg_softmax_masked_forward(c->p, c->s, c->mask, NULL, 1, 1, 1, c->BH, c->Tq, c->Tk);
    cg_bmm_forward(out, c->p, v, c->BH, c->Tq, c->C, c->Tk, false, false);
}

static void composed_backward(composed *c, float *dq, float *dk, float *dv, const float *dout, const float *q,
                              const float *k, const float *v) {
    const int64_t n = c->BH * c->Tq * c->Tk;
    memset(c->dp, 0, (size_t)n * sizeof(float));
    memset(c->ds, 0, (size_t)n * sizeof(float));
    cg_bmm_backward(c->dp, dv, dout, c->p, v, c->BH, c->Tq, c->C, c->Tk, false, false);
    cg_softmax_masked_backward(c->ds, c->dp, c->p, c->BH * c->Tq, c->Tk);
    cg_scale_forward(c->ds, c->ds, c->scale, n);
    cg_bmm_backward(dq, dk, c->ds, q, k, c->BH, c->Tq, c->Tk, c->C, false, true);
}

static void bench_case(int64_t B, int64_t H, int64_t T, int64_t C, bool diag) {
    const int64_t nq = B * H * T * C, ns = B * H * T * T;
    float *q = randf(nq, 1), *k = randf(nq, 2), *v = randf(nq, 3), *dout = randf(nq, 4);
    float *out = randf(nq, 5), *lse = randf(B * H * T, 6), *dq = randf(nq, 7), *dk = randf(nq, 8), *dv = randf(nq, 9);
    uint8_t *km = NULL;
    cg_attn_mask mask = {.nb = 1, .nh = 1};
    if (diag) {
        km = malloc((size_t)(T * T));
        for (int64_t i = 0; i < T; i++)
            for (int64_t j = 0; j < T; j++) km[i * T + j] = i != j;
        mask.keep = km;
    }
    const float scale = 1.0f / sqrtf((float)C);
    composed c = {.BH = B * H, .Tq = T, .Tk = T, .C = C, .scale = scale, .mask = diag ? &mask : NULL};
    c.s = malloc((size_t)ns * sizeof(float)), c.p = malloc((size_t)ns * sizeof(float));
    c.dp = malloc((size_t)ns * sizeof(float)), c.ds = malloc((size_t)ns * sizeof(float));
    double tf, tb, cf, cb;
    TIME_MEDIAN(tf, cg_attention_forward(out, lse, q, k, v, diag ? &mask : NULL, B, H, T, T, C, scale));
    TIME_MEDIAN(tb, cg_attention_backward(dq, dk, dv, dout, q, k, v, out, lse, diag ? &mask : NULL, B, H, T, T, C,
                                          scale));
    TIME_MEDIAN(cf, composed_forward(&c, out, q, k, v));
    TIME_MEDIAN(cb, composed_backward(&c, dq, dk, dv, dout, q, k, v));
    printf("B %4lld H %lld T %5lld C %3lld mask %-4s  tiled fwd %9.3f ms bwd %9.3f ms | composed fwd %9.3f ms bwd "
           "%9.3f ms | ratio fwd %5.2f bwd %5.2f | saved: tiled %8.2f MiB, composed %8.2f MiB\n",
           (long long)B, (long long)H, (long long)T, (long long)C, diag ? "diag" : "none", 1e3 * tf, 1e3 * tb,
           1e3 * cf, 1e3 * cb, cf / tf, cb / tb, (double)(nq + B * H * T) * 4 / 1048576.0,
           (double)(nq + 2 * ns) * 4 / 1048576.0);
    fflush(stdout);
    free(q), free(k), free(v), free(dout), free(out), free(lse), free(dq), free(dk), free(dv), free(km);
    free(c.s), free(c.p), free(c.dp), free(c.ds);
}

int main(int argc, char **argv) {
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            REPS = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads T] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (REPS < 1 || REPS > 256 || cg_set_num_threads(threads) != CG_OK) {
        fprintf(stderr, "bad --threads or --reps\n");
        return 2;
    }
    printf("attention: tiled (block %d x tile %d) vs composed, %d threads, median of %d\n", CG_ATTN_BLOCK_Q,
           CG_ATTN_BLOCK_K, threads, REPS);
    bench_case(1024, 8, 3, 128, true); /* DANGO's Hyper-SAGNN: triples, 8 heads of 128 */
    bench_case(1024, 4, 8, 16, true);
    bench_case(64, 4, 64, 32, true);
    bench_case(8, 4, 256, 32, false);
    bench_case(1, 4, 1024, 32, false);
    bench_case(1, 4, 1024, 32, true);
    bench_case(1, 2, 4096, 32, false);
    return 0;
}
