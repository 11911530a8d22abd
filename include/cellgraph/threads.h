/* cellgraph/threads.h: the thread count (OpenMP, and OpenBLAS which shares the OpenMP runtime).
 *
 * Determinism: every float reduction in cellgraph uses a fixed partition (fixed-size blocks summed in a
 * fixed order), and every matrix product is a set of single-threaded sgemm calls over a fixed partition
 * (cg_gemm, cellgraph/ops.h), so a run is bitwise reproducible for a given seed on any thread count
 * (tests/test_determinism.c: whole HeteroCell and DANGO training runs on 1 and 2 threads write the same
 * checkpoint files). The thread count is therefore a speed setting only, and may change between steps.
 */
#ifndef CELLGRAPH_THREADS_H
#define CELLGRAPH_THREADS_H

#include "cellgraph/error.h"

/* The most threads cg_set_num_threads accepts. */
#define CG_MAX_THREADS 4096

/* Sets the threads used by cellgraph's loops and matrix products (OpenBLAS itself is kept single-threaded:
 * cg_gemm calls it from these threads), 1 <= n <= CG_MAX_THREADS. Errors: CG_ERR_INVALID_ARG, CG_ERR_NOMEM
 * (growing: cg_blas_prepare). */
cg_status cg_set_num_threads(int n);

/* Current thread count. */
int cg_get_num_threads(void);

/* The number of tasks (threads) runnable on the machine at this instant, the caller included: the
 * running count of Linux's /proc/loadavg (kernel, "nr_running"). -1 when it cannot be read. Threads of this
 * process that wait at a barrier count only while they spin (OMP_WAIT_POLICY=active), not while they
 * sleep (passive). Used to follow the load (tools/threads.c, cli_threads_adapt). */
int cg_runnable_tasks(void);

/* The cores this process may run on (omp_get_num_procs: the affinity mask). */
int cg_num_procs(void);

/* Applies $CELLGRAPH_THREADS when set (a positive integer), else leaves the default (all cores).
 * Errors: CG_ERR_INVALID_ARG naming the bad value. */
cg_status cg_threads_from_env(void);

/* Makes OpenBLAS map, now, the work buffer of every thread that will call it (one sgemm per OpenMP
 * thread, all at once). OpenBLAS maps a 128 MiB buffer the first time a thread calls it and reuses it
 * afterwards, but when that mmap fails (an address-space limit, exhausted memory) it retries forever
 * instead of failing (OpenBLAS 0.3, memory.c: blas_memory_alloc). Called at start-up, while memory is
 * still free, it turns a later hang inside a matrix product into an ordinary allocation failure of
 * cellgraph's own, which is reported. Call it again after raising the thread count. Costs a few ms.
 * Errors: CG_ERR_NOMEM (a thread's 0.4 MB of matrices could not be allocated). */
cg_status cg_blas_prepare(void);

#endif
