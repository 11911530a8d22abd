/* bench/engine: engine throughput on this machine, as ratios against baselines run in the same process.
 *   - matmul GFLOP/s (OpenBLAS sgemm through cg_matmul_forward, nn.Linear layout x W^T + b) at
 *     [6604 x 64] x [64 x 64] and [6604 x 256] x [256 x 256] (6,604 = yeast genes), forward and backward;
 *   - segment ops and gather/scatter over a CSR with 230,000 edges and 64 features, as a fraction of a
 *     plain memcpy of the same bytes (bandwidth ratio = memcpy time / op time).
 * usage: engine [--threads T] [--reps R]   (default: 2 threads, 20 repetitions; the median is reported)
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#include "cellgraph/ops.h"
#include "cellgraph/rng.h"
#include "cellgraph/threads.h"

static int REPS = 20;

/* memcpy split into one contiguous piece per thread: the best a streaming op can do */
static void parallel_copy(void *dst, const void *src, size_t bytes) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        size_t a = bytes / n * t, b = t == n - 1 ? bytes : bytes / n * (t + 1);
        memcpy((char *)dst + a, (const char *)src + a, b - a);
    }
}

/* median wall time of REPS runs of the statement, after one warm-up run */
#define TIME_MEDIAN(result, stmt)                                                                                     \
    do {                                                                                                              \
        double _t[256];                                                                                               \
        stmt;                                                                                                         \
        for (int _r = 0; _r < REPS; _r++) {                                                                           \
            double _s = bench_now();                                                                                        \
            stmt;                                                                                                     \
            _t[_r] = bench_now() - _s;                                                                                      \
        }                                                                                                             \
        qsort(_t, REPS, sizeof(double), bench_cmp_double);                                                                  \
        (result) = _t[REPS / 2];                                                                                      \
    } while (0)

static float *randf(int64_t n, uint64_t stream) {
    float *x = aligned_alloc(64, ((size_t)n * sizeof(float) + 63) / 64 * 64);
    cg_rng_fill_uniform(x, n, -1.0f, 1.0f, 42, stream);
    return x;
}

static void bench_matmul(int64_t M, int64_t D) {
    float *x = randf(M * D, 1), *w = randf(D * D, 2), *b = randf(D, 3), *y = randf(M * D, 4);
    float *dx = randf(M * D, 5), *dw = randf(D * D, 6), *db = randf(D, 7);
    double tf, tb;
    TIME_MEDIAN(tf, cg_matmul_forward(y, x, w, b, M, D, D, false, true));
    TIME_MEDIAN(tb, cg_matmul_backward(dx, dw, db, y, x, w, M, D, D, false, true));
    double flop = 2.0 * M * D * D;
    printf("matmul [%5lld x %3lld] x [%3lld x %3lld]^T + b   forward %7.2f GFLOP/s (%.3f ms)   backward %7.2f GFLOP/s "
           "(%.3f ms)\n",
           (long long)M, (long long)D, (long long)D, (long long)D, flop / tf * 1e-9, tf * 1e3, 2 * flop / tb * 1e-9,
           tb * 1e3);
    free(x), free(w), free(b), free(y), free(dx), free(dw), free(db);
}

int main(int argc, char **argv) {
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) REPS = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: engine [--threads T] [--reps R]\n");
            return 2;
        }
    }
    if (REPS < 1 || REPS > 256 || cg_set_num_threads(threads) != CG_OK) {
        fprintf(stderr, "engine: bad --threads or --reps (1..256)\n");
        return 2;
    }
    printf("cellgraph engine benchmark: %d threads, median of %d runs\n\n", threads, REPS);
    bench_matmul(6604, 64);
    bench_matmul(6604, 256);

    /* a skewed random graph: 6,604 destinations, 230,000 edges, degrees ~ power law */
    const int64_t N = 6604, E = 230000, F = 64;
    int64_t *rowptr = malloc((N + 1) * sizeof *rowptr);
    int32_t *col = malloc(E * sizeof *col);
    double *w = malloc(N * sizeof *w), wsum = 0;
    for (int64_t i = 0; i < N; i++) wsum += (w[i] = 1.0 / (1.0 + (double)((i * 2654435761u) % N) / 50.0));
    rowptr[0] = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t d = (int64_t)(E * w[i] / wsum);
        rowptr[i + 1] = rowptr[i] + d;
    }
    rowptr[N] = E; /* rounding remainder goes to the last row */
    for (int64_t e = 0; e < E; e++) col[e] = (int32_t)(cg_rng_u32(42, 9, e) % N);
    cg_csr csr = {.n_rows = N, .n_cols = N, .nnz = E, .rowptr = rowptr, .col = col};
    int64_t maxdeg = 0;
    for (int64_t i = 0; i < N; i++) maxdeg = rowptr[i + 1] - rowptr[i] > maxdeg ? rowptr[i + 1] - rowptr[i] : maxdeg;

    float *node = randf(N * F, 10), *edge = randf(E * F, 11), *edge2 = randf(E * F, 12), *out = randf(N * F, 13);
    float *att = randf(E * 4, 14), *att2 = randf(E * 4, 15);
    int32_t *argmax = malloc(N * F * sizeof *argmax);
    const size_t bytes = (size_t)E * F * sizeof(float);
    double tcopy, t;
    TIME_MEDIAN(tcopy, memcpy(edge2, edge, bytes));
    printf("\nCSR: %lld nodes, %lld edges (max in-degree %lld), %lld features; memcpy of %.1f MB: %.3f ms (%.1f GB/s)\n",
           (long long)N, (long long)E, (long long)maxdeg, (long long)F, bytes / 1e6, tcopy * 1e3, bytes / tcopy * 1e-9);
    double tpcopy;
    TIME_MEDIAN(tpcopy, parallel_copy(edge2, edge, bytes));
    printf("parallel memcpy (%d threads, contiguous halves): %.3f ms (%.1f GB/s)\n", threads, tpcopy * 1e3,
           bytes / tpcopy * 1e-9);
    printf("%-36s %9s %11s %18s\n", "op (same bytes as the memcpy)", "ms", "vs memcpy", "vs parallel memcpy");
#define ROW(name, stmt)                                                                                               \
    do {                                                                                                              \
        TIME_MEDIAN(t, stmt);                                                                                         \
        printf("%-36s %9.3f %10.0f%% %17.0f%%\n", name, t * 1e3, 100.0 * tcopy / t, 100.0 * tpcopy / t);             \
    } while (0)
    ROW("segment_sum forward [E,F]->[N,F]", cg_segment_sum_forward(out, edge, &csr, F));
    ROW("segment_sum backward", cg_segment_sum_backward(edge2, out, &csr, F));
    ROW("segment_mean forward", cg_segment_mean_forward(out, edge, &csr, F));
    ROW("segment_max forward", cg_segment_max_forward(out, argmax, edge, &csr, F));
    ROW("gather_rows forward [N,F]->[E,F]", cg_gather_rows_forward(edge2, node, col, E, F));
    ROW("gather_rows backward (scatter-add)", cg_gather_rows_backward(out, edge, col, E, F));
    /* softmax over [E, 4] heads moves 1/16 of the bytes and is bound by expf; reported in entries/s */
    TIME_MEDIAN(t, cg_segment_softmax_forward(att2, att, &csr, 4));
    printf("segment_softmax forward [E, 4 heads]: %.3f ms (%.0f M entries/s)\n", t * 1e3, E * 4 / t * 1e-6);
    TIME_MEDIAN(t, cg_segment_softmax_backward(att, att2, att2, &csr, 4));
    printf("segment_softmax backward [E, 4 heads]: %.3f ms (%.0f M entries/s)\n", t * 1e3, E * 4 / t * 1e-6);
    free(rowptr), free(col), free(w), free(node), free(edge), free(edge2), free(out), free(att), free(att2), free(argmax);
    return 0;
}
