#include "cellgraph/tape.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

cg_status cg_ctx_init(cg_ctx *ctx, size_t initial_bytes, uint64_t seed) {
    memset(ctx, 0, sizeof *ctx);
    ctx->grad_enabled = true;
    ctx->training = true;
    ctx->seed = seed;
    return cg_arena_init(&ctx->arena, initial_bytes);
}

void cg_ctx_free(cg_ctx *ctx) {
    cg_arena_free(&ctx->arena);
    free(ctx->tape);
    ctx->tape = NULL;
    ctx->n_tape = ctx->cap_tape = 0;
}

cg_status cg_ctx_reset(cg_ctx *ctx) {
    ctx->n_tape = 0;
    ctx->status = CG_OK;
    ctx->step++;
    ctx->op_counter = 0;
    return cg_arena_reset(&ctx->arena);
}

uint64_t cg_ctx_allocations(const cg_ctx *ctx) { return cg_arena_mallocs(&ctx->arena) + ctx->tape_reallocs; }

/* records a failure whose message a lower layer has already set */
static void *fail_keep_message(cg_ctx *ctx, cg_status s) {
    if (ctx->status == CG_OK) ctx->status = s;
    return NULL;
}

void *cg_ctx_fail(cg_ctx *ctx, cg_status s, const char *fmt, ...) {
    if (ctx->status == CG_OK) {
        va_list ap;
        va_start(ap, fmt);
        cg_verror(s, fmt, ap);
        va_end(ap);
        ctx->status = s;
    }
    return NULL;
}

static cg_tensor *tensor_record(cg_ctx *ctx, cg_dtype dtype, int ndim, const int64_t *shape) {
    cg_tensor *t = cg_arena_alloc(&ctx->arena, sizeof *t);
    if (!t) return fail_keep_message(ctx, CG_ERR_NOMEM);
    memset(t, 0, sizeof *t);
    if (cg_tensor_set_shape(t, dtype, ndim, shape) != CG_OK) return fail_keep_message(ctx, CG_ERR_SHAPE);
    return t;
}

cg_tensor *cg_tensor_new(cg_ctx *ctx, cg_dtype dtype, int ndim, const int64_t *shape) {
    cg_tensor *t = tensor_record(ctx, dtype, ndim, shape);
    if (!t) return NULL;
    t->data = cg_arena_alloc(&ctx->arena, (size_t)t->numel * cg_dtype_size(dtype));
    if (!t->data) return fail_keep_message(ctx, CG_ERR_NOMEM);
    return t;
}

cg_tensor *cg_tensor_zeros(cg_ctx *ctx, cg_dtype dtype, int ndim, const int64_t *shape) {
    cg_tensor *t = cg_tensor_new(ctx, dtype, ndim, shape);
    if (t) memset(t->data, 0, (size_t)t->numel * cg_dtype_size(dtype));
    return t;
}

cg_tensor *cg_tensor_wrap(cg_ctx *ctx, cg_dtype dtype, int ndim, const int64_t *shape, void *data) {
    cg_tensor *t = tensor_record(ctx, dtype, ndim, shape);
    if (t) t->data = data;
    return t;
}

cg_tensor *cg_tensor_new2(cg_ctx *ctx, int64_t rows, int64_t cols) {
    int64_t s[2] = {rows, cols};
    return cg_tensor_new(ctx, CG_F32, 2, s);
}

cg_tensor *cg_tensor_wrap2(cg_ctx *ctx, int64_t rows, int64_t cols, float *data) {
    int64_t s[2] = {rows, cols};
    return cg_tensor_wrap(ctx, CG_F32, 2, s, data);
}

cg_tape_entry *cg_tape_record(cg_ctx *ctx, cg_backward_fn fn, cg_tensor *out, cg_tensor **in, int n_in) {
    bool need = false;
    for (int k = 0; k < n_in; k++)
        if (in[k] && in[k]->requires_grad) need = true;
    out->requires_grad = need && ctx->grad_enabled;
    if (!out->requires_grad) return NULL;
    if (ctx->n_tape == ctx->cap_tape) {
        int64_t cap = ctx->cap_tape ? 2 * ctx->cap_tape : 256;
        cg_tape_entry *nt = realloc(ctx->tape, (size_t)cap * sizeof *nt);
        if (!nt) return cg_ctx_fail(ctx, CG_ERR_NOMEM, "tape: cannot grow to %lld entries", (long long)cap);
        ctx->tape = nt;
        ctx->cap_tape = cap;
        ctx->tape_reallocs++;
    }
    cg_tape_entry *e = &ctx->tape[ctx->n_tape++];
    memset(e, 0, sizeof *e);
    e->backward = fn;
    e->out = out;
    e->n_in = n_in;
    for (int k = 0; k < n_in; k++) e->in[k] = in[k];
    return e;
}

float *cg_grad_of(cg_ctx *ctx, cg_tensor *t) {
    if (!t->grad) {
        t->grad = cg_arena_calloc(&ctx->arena, (size_t)t->numel * sizeof(float));
        if (!t->grad) fail_keep_message(ctx, CG_ERR_NOMEM);
    }
    return t->grad;
}

static cg_status run_backward(cg_ctx *ctx) {
    for (int64_t k = ctx->n_tape - 1; k >= 0; k--) {
        cg_tape_entry *e = &ctx->tape[k];
        if (!e->out->grad) continue; /* nothing downstream used this output */
        for (int j = 0; j < e->n_in; j++)
            if (e->in[j] && e->in[j]->requires_grad && !cg_grad_of(ctx, e->in[j])) return ctx->status;
        e->backward(e);
    }
    return CG_OK;
}

cg_status cg_backward_from(cg_ctx *ctx, cg_tensor *out, const float *dout) {
    if (ctx->status != CG_OK)
        return cg_error_wrap(CG_ERR_STATE, "backward: the forward pass failed earlier");
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "backward: output is NULL");
    if (!out->requires_grad) return cg_error(CG_ERR_STATE, "backward: output does not depend on any parameter");
    float *g = cg_grad_of(ctx, out);
    if (!g) return ctx->status;
    for (int64_t i = 0; i < out->numel; i++) g[i] += dout[i];
    return run_backward(ctx);
}

cg_status cg_backward(cg_ctx *ctx, cg_tensor *loss) {
    if (loss && loss->numel != 1)
        return cg_error(CG_ERR_SHAPE, "backward: loss has %lld elements, expected a scalar", (long long)loss->numel);
    const float one = 1.0f;
    return cg_backward_from(ctx, loss, &one);
}
