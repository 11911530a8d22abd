/* cellgraph/params.h: the parameter store.
 *
 * Every trainable tensor of a model is registered here by a PyTorch-style name
 * (`layers.0.physical.lin_l.weight`) and shape. cg_params_finalize then places all values in one
 * contiguous float block and all gradients in a second block of the same layout (one allocation for
 * both), so that optimisers, gradient clipping and checkpoints walk flat arrays.
 * Lifecycle: cg_params_init -> cg_params_add* -> cg_params_finalize -> use -> cg_params_free.
 */
#ifndef CELLGRAPH_PARAMS_H
#define CELLGRAPH_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "cellgraph/tensor.h"

typedef struct cg_param_store {
    int count;
    int cap;
    cg_tensor **tensors;  /* stable pointers, registration order */
    int64_t *offsets;     /* element offset of each tensor in the blocks */
    int64_t total;        /* elements in all parameters */
    float *values;        /* [total] (NULL before finalize) */
    float *grads;         /* [total] (NULL before finalize) */
} cg_param_store;

void cg_params_init(cg_param_store *ps);

/* Registers a float32 parameter. The returned tensor's data/grad pointers become valid at finalize.
 * Errors: CG_ERR_INVALID_ARG (duplicate or empty name), CG_ERR_STATE (already finalized),
 * CG_ERR_SHAPE, CG_ERR_NOMEM. */
cg_status cg_params_add(cg_param_store *ps, const char *name, int ndim, const int64_t *shape,
                        cg_tensor **out);

/* Allocates the value and gradient blocks (values and gradients zeroed). Errors: CG_ERR_NOMEM,
 * CG_ERR_STATE (twice). */
cg_status cg_params_finalize(cg_param_store *ps);

/* The parameter called name, or NULL (with CG_ERR_NOT_FOUND recorded). */
cg_tensor *cg_params_find(const cg_param_store *ps, const char *name);

/* Sets every gradient to zero. */
void cg_params_zero_grad(cg_param_store *ps);

void cg_params_free(cg_param_store *ps);

#endif
