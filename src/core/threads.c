#include "cellgraph/threads.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

void openblas_set_num_threads(int num_threads);

/* OpenBLAS itself stays single-threaded (cg_gemm runs its calls on cellgraph's threads), OpenMP at n:
 * OpenBLAS first, because its OpenMP build sets the OpenMP thread count to its own. */
static void set_threads(int n) {
    openblas_set_num_threads(1);
    omp_set_num_threads(n);
}

cg_status cg_set_num_threads(int n) {
    if (n < 1 || n > CG_MAX_THREADS)
        return cg_error(CG_ERR_INVALID_ARG, "threads: %d is not a thread count (1..%d)", n, CG_MAX_THREADS);
    const int before = omp_get_max_threads();
    set_threads(n);
    return n > before ? cg_blas_prepare() : CG_OK; /* the new threads' BLAS buffers */
}

int cg_get_num_threads(void) { return omp_get_max_threads(); }

int cg_num_procs(void) { return omp_get_num_procs(); }

int cg_runnable_tasks(void) {
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return -1;
    long running = -1; /* "0.50 0.40 0.30 2/345 12345": the 2 */
    const int n = fscanf(f, "%*f %*f %*f %ld/", &running);
    fclose(f);
    return n == 1 && running >= 1 && running <= 1000000 ? (int)running : -1;
}

cg_status cg_threads_from_env(void) {
    const char *s = getenv("CELLGRAPH_THREADS");
    if (!s || !*s) return CG_OK;
    char *end = NULL;
    long n = strtol(s, &end, 10);
    if (*end != '\0' || n < 1 || n > CG_MAX_THREADS)
        return cg_error(CG_ERR_INVALID_ARG, "CELLGRAPH_THREADS='%s' is not a thread count (1..%d)", s, CG_MAX_THREADS);
    return cg_set_num_threads((int)n);
}

/* OpenBLAS's buffer pool (exported by libopenblas, declared in its internal common.h): a level-3 call
 * takes one 128 MiB buffer from the pool for its duration, mapping a new one when none is free. */
void *blas_memory_alloc(int procpos);
void blas_memory_free(void *buffer);
/* The most buffers held at once below (OpenBLAS's pool has 2 x its MAX_CPU_NUMBER slots, 64 in Debian's
 * build: asking for more is a fatal error there). */
#define BLAS_PREPARE_MAX 64

/* Each thread multiplies two 192 x 192 matrices (its first call: OpenBLAS may map per-thread state),
 * then the calling thread takes n buffers from OpenBLAS's pool at once and returns them, so that n
 * threads calling sgemm together (cg_gemm's tiles) never need a new mapping. The concurrent calls alone
 * do not guarantee that: on a loaded machine they run one after another and share one buffer (seen: the
 * pool's third buffer mapped in the middle of training, where under an address-space limit OpenBLAS
 * retried the failing mmap forever). */
cg_status cg_blas_prepare(void) {
    enum { N = 192 };
    const int n = omp_get_max_threads();
    set_threads(n); /* never threaded by OpenBLAS, also when nothing called cg_set_num_threads */
    int bad = 0;
#pragma omp parallel reduction(+ : bad)
    {
        float *a = malloc(3 * (size_t)N * N * sizeof *a);
#pragma omp barrier
        if (a) {
            for (int i = 0; i < 2 * N * N; i++) a[i] = (float)(i % 7) * 0.125f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, a + N * N, N, 0.0f,
                        a + 2 * N * N, N);
            bad += !(a[2 * N * N] == a[2 * N * N]); /* NaN: never, but keeps the product from being elided */
        } else {
            bad++;
        }
        free(a);
    }
    void *held[BLAS_PREPARE_MAX];
    const int nb = n < BLAS_PREPARE_MAX ? n : BLAS_PREPARE_MAX;
    for (int i = 0; i < nb; i++) held[i] = blas_memory_alloc(0); /* level-3 buffers, as sgemm takes them */
    for (int i = 0; i < nb; i++) blas_memory_free(held[i]);
    return bad ? cg_error(CG_ERR_NOMEM, "out of memory preparing the BLAS work buffers of %d threads",
                          omp_get_max_threads())
               : CG_OK;
}
