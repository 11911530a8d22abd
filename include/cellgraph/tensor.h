/* cellgraph/tensor.h: the tensor record.
 *
 * A tensor is a row-major view of float32 or int32 data with up to 4 dimensions. It owns nothing:
 * activations point into a step arena (cellgraph/tape.h), parameters into the parameter store's block
 * (cellgraph/params.h), inputs may wrap caller memory (for example an mmapped graph).
 * Every op treats a tensor as a matrix of rows x cols where cols = the last dimension and
 * rows = numel / cols (a 1-d tensor [n] is one row of n columns; a scalar is [1]).
 */
#ifndef CELLGRAPH_TENSOR_H
#define CELLGRAPH_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/error.h"

#define CG_MAX_DIMS 4

typedef enum cg_dtype { CG_F32 = 0, CG_I32 = 1 } cg_dtype;

typedef struct cg_tensor {
    cg_dtype dtype;
    int ndim;                    /* 1..CG_MAX_DIMS */
    int64_t shape[CG_MAX_DIMS];  /* unused trailing entries are 1 */
    int64_t numel;
    void *data;                  /* float* for CG_F32, int32_t* for CG_I32 */
    float *grad;                 /* dL/d(data), same numel; NULL until backward needs it (F32 only) */
    bool requires_grad;          /* parameters, and op outputs that depend on one */
    const char *name;            /* parameters: PyTorch-style name; otherwise NULL */
} cg_tensor;

static inline float *cg_f32(const cg_tensor *t) { return (float *)t->data; }
static inline int32_t *cg_i32(const cg_tensor *t) { return (int32_t *)t->data; }
static inline int64_t cg_cols(const cg_tensor *t) { return t->shape[t->ndim - 1]; }
static inline int64_t cg_rows(const cg_tensor *t) {
    int64_t c = cg_cols(t);
    return c == 0 ? 0 : t->numel / c;
}

/* Fills t's shape fields from (ndim, shape) and computes numel; does not touch data.
 * Errors: CG_ERR_SHAPE when ndim is not 1..4 or a dimension is negative. */
cg_status cg_tensor_set_shape(cg_tensor *t, cg_dtype dtype, int ndim, const int64_t *shape);

/* Writes "[a, b, c]" into buf (for error messages); returns buf. */
const char *cg_shape_str(const cg_tensor *t, char *buf, int len);

/* True when a and b have the same ndim and dimensions. */
bool cg_same_shape(const cg_tensor *a, const cg_tensor *b);

/* Size in bytes of one element of dtype. */
static inline int cg_dtype_size(cg_dtype d) { (void)d; return 4; }

#endif
