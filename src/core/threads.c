#include "cellgraph/threads.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

void openblas_set_num_threads(int num_threads);

cg_status cg_set_num_threads(int n) {
    if (n < 1 || n > CG_MAX_THREADS)
        return cg_error(CG_ERR_INVALID_ARG, "threads: %d is not a thread count (1..%d)", n, CG_MAX_THREADS);
    const int before = omp_get_max_threads();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n > before ? cg_blas_prepare() : CG_OK; /* the new threads' BLAS buffers */
}

int cg_get_num_threads(void) { return omp_get_max_threads(); }

cg_status cg_threads_from_env(void) {
    const char *s = getenv("CELLGRAPH_THREADS");
    if (!s || !*s) return CG_OK;
    char *end = NULL;
    long n = strtol(s, &end, 10);
    if (*end != '\0' || n < 1 || n > CG_MAX_THREADS)
        return cg_error(CG_ERR_INVALID_ARG, "CELLGRAPH_THREADS='%s' is not a thread count (1..%d)", s, CG_MAX_THREADS);
    return cg_set_num_threads((int)n);
}

/* Each thread multiplies two 192 x 192 matrices, all threads at once (after a barrier, so that no thread
 * can hand its buffer to the next), which makes OpenBLAS map every buffer the threads will use. */
cg_status cg_blas_prepare(void) {
    enum { N = 192 };
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
    return bad ? cg_error(CG_ERR_NOMEM, "out of memory preparing the BLAS work buffers of %d threads",
                          omp_get_max_threads())
               : CG_OK;
}
