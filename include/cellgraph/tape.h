/* cellgraph/tape.h: the step context (activation arena + reverse-mode tape).
 *
 * A model is written forward only, with the recorded ops of cellgraph/autograd.h. Each op allocates its
 * output in the context's arena and, when an input requires a gradient, appends an entry to the tape.
 * cg_backward walks the tape in reverse, calling each op's backward kernel, which ACCUMULATES into the
 * input gradients (allocated zeroed in the arena on first need; parameters accumulate into the
 * parameter store's gradient block). cg_ctx_reset forgets the step (arena and tape) but keeps their
 * memory, so a warm training step allocates nothing.
 *
 * Errors are sticky: a recorded op that fails (bad shape, out of memory) returns NULL, stores its status
 * in ctx->status and the message in the per-thread error (cg_last_error); every later op given a NULL
 * input returns NULL without a new message. A model therefore checks once, after the forward pass,
 * with cg_ctx_status.
 */
#ifndef CELLGRAPH_TAPE_H
#define CELLGRAPH_TAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/arena.h"
#include "cellgraph/tensor.h"

typedef struct cg_tape_entry cg_tape_entry;
typedef void (*cg_backward_fn)(const cg_tape_entry *e);

#define CG_TAPE_MAX_IN 4

/* One recorded op: enough to run its backward kernel. */
struct cg_tape_entry {
    cg_backward_fn backward;
    cg_tensor *out;
    cg_tensor *in[CG_TAPE_MAX_IN];
    int n_in;
    float f[4];     /* float arguments (slope, scale, eps, ...) */
    int64_t i[4];   /* integer arguments (offsets, flags, ...) */
    void *aux[4];   /* saved buffers (mean/rstd, masks, argmax, CSR) */
};

typedef struct cg_ctx {
    cg_arena arena;
    cg_tape_entry *tape;   /* entries of this step, in execution order */
    int64_t n_tape;
    int64_t cap_tape;
    uint64_t tape_reallocs;
    cg_status status;      /* first error of this step (sticky) */
    bool grad_enabled;     /* record ops for backward (default true) */
    bool training;         /* dropout active (default true) */
    uint64_t seed;         /* base seed for dropout */
    uint64_t step;         /* step number, part of every dropout stream */
    uint64_t op_counter;   /* counts random ops within a step (stream id) */
} cg_ctx;

/* Initialises a context with an arena of initial_bytes (grows as needed). Errors: CG_ERR_NOMEM. */
cg_status cg_ctx_init(cg_ctx *ctx, size_t initial_bytes, uint64_t seed);

/* Frees the arena and tape. */
void cg_ctx_free(cg_ctx *ctx);

/* Starts a new step: forgets all activations and tape entries, clears the status, increments step
 * and resets op_counter. Errors: CG_ERR_NOMEM (only when consolidating a spilled arena). */
cg_status cg_ctx_reset(cg_ctx *ctx);

/* The step's sticky status (CG_OK when every op so far succeeded). */
static inline cg_status cg_ctx_status(const cg_ctx *ctx) { return ctx->status; }

/* Number of allocations made so far by the arena and tape (constant once warm). */
uint64_t cg_ctx_allocations(const cg_ctx *ctx);

/* New uninitialised tensor in the arena; NULL on error (status recorded). */
cg_tensor *cg_tensor_new(cg_ctx *ctx, cg_dtype dtype, int ndim, const int64_t *shape);
/* Same, zero-filled. */
cg_tensor *cg_tensor_zeros(cg_ctx *ctx, cg_dtype dtype, int ndim, const int64_t *shape);
/* Tensor record in the arena viewing caller memory `data` (not copied; must outlive the step). */
cg_tensor *cg_tensor_wrap(cg_ctx *ctx, cg_dtype dtype, int ndim, const int64_t *shape, void *data);
/* 2-d convenience forms. */
cg_tensor *cg_tensor_new2(cg_ctx *ctx, int64_t rows, int64_t cols);
cg_tensor *cg_tensor_wrap2(cg_ctx *ctx, int64_t rows, int64_t cols, float *data);

/* Records a failure on ctx (first one wins) and returns NULL; used by op wrappers. */
void *cg_ctx_fail(cg_ctx *ctx, cg_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends a tape entry for output `out` with inputs in[0..n_in) and returns it for the caller to fill
 * f/i/aux; NULL (nothing recorded) when no input requires a gradient or grad is disabled. Sets
 * out->requires_grad accordingly. On allocation failure records CG_ERR_NOMEM and returns NULL. */
cg_tape_entry *cg_tape_record(cg_ctx *ctx, cg_backward_fn fn, cg_tensor *out, cg_tensor **in, int n_in);

/* Reverse pass from a scalar (numel 1) loss: dloss = 1. Errors: CG_ERR_SHAPE, CG_ERR_STATE (the step
 * failed earlier), CG_ERR_NOMEM. */
cg_status cg_backward(cg_ctx *ctx, cg_tensor *loss);

/* Reverse pass seeded with dout (numel of out floats; copied) for a non-scalar output. */
cg_status cg_backward_from(cg_ctx *ctx, cg_tensor *out, const float *dout);

/* The gradient buffer of t, allocating it zeroed in the arena if needed (NULL on failure).
 * Used by backward functions of ops that need a gradient before the tape walk reaches them. */
float *cg_grad_of(cg_ctx *ctx, cg_tensor *t);

#endif
