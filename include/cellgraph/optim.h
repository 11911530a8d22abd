/* cellgraph/optim.h: optimisers (SGD, Adam, AdamW) and gradient clipping by global norm.
 *
 * The optimisers reproduce PyTorch's single-tensor code paths (foreach=False, fused=False, the default
 * on CPU) including the order of the float32 operations, so that a cellgraph run and a PyTorch run
 * started from the same parameters and fed the same gradients agree to about 1e-6 relative (bitwise,
 * against PyTorch's portable non-FMA CPU kernels, in tests/test_optim.c's reference case; PyTorch's
 * AVX2/AVX-512 kernels fuse some a * b + c into an FMA and differ in the last bit). Scalars
 * that PyTorch computes as Python floats (bias corrections, 1 - dampening, lr * weight_decay, ...) are
 * computed here in double and rounded to float at the same point where PyTorch hands them to a float32
 * kernel.
 *
 * Usage:
 *     cg_optim_config cfg = cg_optim_defaults(CG_OPTIM_ADAMW);
 *     cfg.lr = 3e-4;
 *     cg_optim opt;
 *     if (cg_optim_create(&opt, &ps, &cfg) != CG_OK) ... cg_last_error() ...
 *     for each step:
 *         cg_params_zero_grad(&ps); forward; backward;
 *         float norm;
 *         cg_clip_grad_norm(&ps, 1.0f, &norm);   (optional)
 *         opt.lr = schedule(step);                (optional: every hyper-parameter is read each step)
 *         cg_optim_step(&opt, &ps);
 *     cg_optim_free(&opt);
 *
 * State layout (for checkpoints). The optimiser owns one allocation, `state`, of nstate * n floats,
 * where n = ps->total (the parameter block's length, padding included). It is split into nstate
 * buffers of n floats, each laid out exactly like ps->values: element ps->offsets[k] + j of a buffer
 * belongs to element j of parameter k, and the padding between tensors stays 0.
 *   SGD with momentum != 0 at create: nstate = 1, momentum_buf = state
 *                                     (PyTorch state['momentum_buffer']).
 *   SGD with momentum == 0 at create: nstate = 0, state = NULL (PyTorch keeps no buffer either).
 *   Adam, AdamW:                      nstate = 2, exp_avg = state (state['exp_avg']),
 *                                     exp_avg_sq = state + n (state['exp_avg_sq']).
 * Together with t (PyTorch state['step'], the same for every parameter here) and the hyper-parameters,
 * saving `state[0 .. nstate*n)` and restoring it into an optimiser created over the same parameter
 * store resumes training exactly. With SGD, t == 0 means "momentum buffer not yet set" (PyTorch: None):
 * the first step copies the gradient into it. (PyTorch instead initialises it at the first step whose
 * momentum is non-zero; the two differ only if momentum is switched from 0 to non-zero after step 1.)
 */
#ifndef CELLGRAPH_OPTIM_H
#define CELLGRAPH_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cg_optim_kind {
    CG_OPTIM_SGD = 0, /* torch.optim.SGD */
    CG_OPTIM_ADAM,    /* torch.optim.Adam (amsgrad=False, maximize=False) */
    CG_OPTIM_ADAMW,   /* torch.optim.AdamW (amsgrad=False, maximize=False) */
} cg_optim_kind;

/* Hyper-parameters. Doubles, like the Python floats of a PyTorch param_group. Fields that a kind does
 * not use are ignored (and not validated) for that kind. */
typedef struct cg_optim_config {
    cg_optim_kind kind;
    double lr;           /* learning rate, >= 0 */
    double weight_decay; /* >= 0; SGD/Adam: L2 term added to the gradient; AdamW: decoupled decay */
    /* SGD */
    double momentum;     /* >= 0 */
    double dampening;    /* any value (PyTorch does not restrict it) */
    bool nesterov;       /* requires momentum > 0 and dampening == 0 */
    /* Adam, AdamW */
    double beta1;        /* 0 <= beta1 < 1 */
    double beta2;        /* 0 <= beta2 < 1 */
    double eps;          /* >= 0 */
} cg_optim_config;

/* An optimiser. All hyper-parameter fields are read again at every cg_optim_step, so a learning-rate
 * scheduler (or anything else) may change them between steps, e.g. `opt.lr = 1e-4;`. */
typedef struct cg_optim {
    cg_optim_kind kind;
    double lr, weight_decay;
    double momentum, dampening;
    bool nesterov;
    double beta1, beta2, eps;
    int64_t t;            /* steps taken so far (PyTorch state['step']); 0 after create */
    int64_t n;            /* length of each state buffer == ps->total of the store at create */
    int count;            /* number of parameter tensors of that store (checked at each step) */
    int nstate;           /* number of state buffers: 0, 1 (SGD momentum) or 2 (Adam/AdamW) */
    float *state;         /* the single allocation, nstate * n floats, zeroed at create; NULL if 0 */
    float *momentum_buf;  /* SGD: state, or NULL when momentum was 0 at create */
    float *exp_avg;       /* Adam/AdamW: state        (first moment, m) */
    float *exp_avg_sq;    /* Adam/AdamW: state + n    (second moment, v) */
} cg_optim;

/* PyTorch's default hyper-parameters for a kind:
 *   SGD:   lr 1e-3, momentum 0, dampening 0, nesterov false, weight_decay 0
 *   Adam:  lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0
 *   AdamW: lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 1e-2
 * Unused fields are set to PyTorch's values too (e.g. beta1 0.9 for SGD), so a config is never
 * half-initialised. An unknown kind gives the SGD defaults with that kind (create will reject it). */
cg_optim_config cg_optim_defaults(cg_optim_kind kind);

/* Checks a config the way PyTorch's constructors do: lr >= 0, weight_decay >= 0; SGD: momentum >= 0,
 * nesterov only with momentum > 0 and dampening == 0; Adam/AdamW: 0 <= beta1 < 1, 0 <= beta2 < 1,
 * eps >= 0. NaN fails every check. Errors: CG_ERR_INVALID_ARG with a message naming the field
 * (e.g. "optim: invalid beta2 1 (need 0 <= beta2 < 1)") or the unknown kind. */
cg_status cg_optim_validate(const cg_optim_config *cfg);

/* Validates cfg, copies it into *o and allocates the zeroed state for the finalized store ps (one
 * allocation, layout above); t = 0. *o is zeroed first, so cg_optim_free is safe after a failure.
 * Errors: CG_ERR_INVALID_ARG (NULL argument, invalid config), CG_ERR_STATE (ps not finalized),
 * CG_ERR_NOMEM. */
cg_status cg_optim_create(cg_optim *o, const cg_param_store *ps, const cg_optim_config *cfg);

/* One optimisation step using the gradients in ps->grads, in place on ps->values and the state.
 * Only the elements of real parameters are touched (padding between tensors is left alone).
 * t is incremented first, as in PyTorch. With p = parameter, g = gradient, float32 math throughout:
 *
 * SGD (torch.optim.SGD):
 *     g = g + weight_decay * p                         (if weight_decay != 0)
 *     if momentum != 0:
 *         buf = g                                      (first step, t == 1)
 *         buf = momentum * buf + (1 - dampening) * g   (later steps)
 *         g = nesterov ? g + momentum * buf : buf
 *     p = p - lr * g
 * Adam (torch.optim.Adam):
 *     g = g + weight_decay * p                         (if weight_decay != 0)
 *     m = lerp(m, g, 1 - beta1)                        (= beta1 * m + (1 - beta1) * g)
 *     v = beta2 * v + (1 - beta2) * g * g
 *     bc1 = 1 - beta1^t, bc2 = 1 - beta2^t             (double)
 *     p = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * AdamW (torch.optim.AdamW):
 *     p = p * (1 - lr * weight_decay)                  (decoupled decay, before the update)
 *     then Adam without the weight_decay term in g.
 *
 * The hyper-parameters are re-validated (they may have been changed since create).
 * Errors (nothing is modified on error): CG_ERR_INVALID_ARG (NULL argument, an invalid
 * hyper-parameter, ps is not the store the optimiser was created for: different total or count),
 * CG_ERR_STATE (ps not finalized; SGD whose momentum was 0 at create but is now != 0, since no
 * momentum buffer was allocated). */
cg_status cg_optim_step(cg_optim *o, cg_param_store *ps);

/* Frees the state and zeroes *o. Safe on a zeroed or already freed optimiser, and on NULL. */
void cg_optim_free(cg_optim *o);

/* Gradient clipping by global L2 norm, like torch.nn.utils.clip_grad_norm_(params, max_norm,
 * norm_type=2.0, error_if_nonfinite=False):
 *     total_norm = sqrt(sum over all parameter gradients of g^2)
 *     clip_coef  = max_norm / (total_norm + 1e-6)      (float32, as PyTorch computes it)
 *     unless clip_coef >= 1: every gradient g *= clip_coef   (float32; PyTorch multiplies by
 *                                                          min(clip_coef, 1), the same thing)
 * The pre-clip norm is written to *total_norm_out (may be NULL). The sum of squares is accumulated in
 * double over a fixed partition of the parameter block (blocks of 4096 elements whose partial sums
 * are added in block order), so the norm is bitwise identical for any thread count. Only elements of
 * real parameters are read or written (padding is left alone).
 * Non-finite norm: as in PyTorch with error_if_nonfinite=False, the norm is returned as is and the
 * gradients are still scaled: an infinite norm gives clip_coef 0 (finite gradients become 0, infinite
 * ones NaN) and a NaN norm makes every gradient NaN. Callers that want to skip such a step should test
 * isfinite(*total_norm_out) and not call cg_optim_step.
 * Errors: CG_ERR_INVALID_ARG (ps NULL, max_norm negative or NaN), CG_ERR_STATE (ps not finalized). */
cg_status cg_clip_grad_norm(cg_param_store *ps, float max_norm, float *total_norm_out);

#ifdef __cplusplus
}
#endif
#endif
