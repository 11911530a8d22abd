#include "cellgraph/threads.h"

#include <omp.h>
#include <stdlib.h>

void openblas_set_num_threads(int num_threads);

cg_status cg_set_num_threads(int n) {
    if (n < 1 || n > CG_MAX_THREADS)
        return cg_error(CG_ERR_INVALID_ARG, "threads: %d is not a thread count (1..%d)", n, CG_MAX_THREADS);
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return CG_OK;
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
