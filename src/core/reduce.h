/* Internal: float reductions with a fixed partition (bitwise identical for any thread count). */
#ifndef CG_CORE_REDUCE_H
#define CG_CORE_REDUCE_H

#include <stdint.h>

/* Elements per block: each block is summed in double in index order; block sums are then added in
 * block order. */
#define CG_REDUCE_BLOCK 4096

/* Sum of x[0..n) in double. */
double cg_sum_fixed_f64(const float *x, int64_t n);

/* Sum of x[i]^2 in double. */
double cg_sumsq_fixed_f64(const float *x, int64_t n);

#endif
