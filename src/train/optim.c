/* Optimisers (SGD, Adam, AdamW) and gradient clipping by global norm; see cellgraph/optim.h.
 *
 * Each update mirrors the float32 kernels that PyTorch's single-tensor path calls, one kernel at a time:
 *   t.add(o, alpha=a)        -> t + a * o
 *   t.mul_(s)                -> t * s
 *   t.lerp_(e, w)            -> w < 0.5 ? t + w * (e - t) : e - (e - t) * (1 - w)
 *   t.addcmul_(a, b, value=s)-> t + s * a * b      (evaluated left to right: (s * a) * b)
 *   t.addcdiv_(a, b, value=s)-> t + s * a / b      (evaluated left to right: (s * a) / b)
 *   t.sqrt(), t / s, t + s   -> the obvious float op
 * where every Python-float scalar is rounded to float (what Scalar.to<float>() does) before use.
 * This file is compiled in ISO C mode (-std=c17), where GCC does not contract a*b+c into an FMA, and
 * the pragma below tells clang the same, so each line rounds like PyTorch's portable (non-FMA) CPU
 * kernels: on the reference test the results are bitwise equal to theirs. (PyTorch's AVX2/AVX-512
 * kernels fuse some a*b+c into an FMA and differ from both in the last bit of some elements.)
 *
 * Elementwise loops are split over OpenMP threads; their results do not depend on the split. The one
 * reduction (the gradient norm) uses a fixed partition, see cg_clip_grad_norm.
 */
#include "cellgraph/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* Tensors with at least this many elements are updated by all threads; smaller ones by one. */
#define OPTIM_PAR_MIN 32768
/* The fixed partition of the norm reduction: blocks of NORM_BLOCK elements of the parameter block,
 * processed NORM_CHUNK blocks at a time so that the partial sums fit in a stack array. */
#define NORM_BLOCK 4096
#define NORM_CHUNK 256

// ----------------------------------------------------------------------------
// configuration

static const char *kind_name(cg_optim_kind k) {
    switch (k) {
    case CG_OPTIM_SGD: return "SGD";
    case CG_OPTIM_ADAM: return "Adam";
    case CG_OPTIM_ADAMW: return "AdamW";
    }
    return "?";
}

cg_optim_config cg_optim_defaults(cg_optim_kind kind) {
    cg_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = 1e-3;
    c.weight_decay = kind == CG_OPTIM_ADAMW ? 1e-2 : 0.0;
    c.momentum = 0.0;
    c.dampening = 0.0;
    c.nesterov = false;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    return c;
}

/* The checks of PyTorch's constructors, written so that NaN fails each of them. */
static cg_status validate_fields(cg_optim_kind kind, double lr, double weight_decay, double momentum,
                                 double dampening, bool nesterov, double beta1, double beta2,
                                 double eps) {
    if (kind != CG_OPTIM_SGD && kind != CG_OPTIM_ADAM && kind != CG_OPTIM_ADAMW)
        return cg_error(CG_ERR_INVALID_ARG, "optim: unknown optimiser kind %d", (int)kind);
    const char *kn = kind_name(kind);
    if (!(lr >= 0.0))
        return cg_error(CG_ERR_INVALID_ARG, "optim: %s: invalid lr %g (need lr >= 0)", kn, lr);
    if (!(weight_decay >= 0.0))
        return cg_error(CG_ERR_INVALID_ARG, "optim: %s: invalid weight_decay %g (need weight_decay >= 0)",
                        kn, weight_decay);
    if (kind == CG_OPTIM_SGD) {
        if (!(momentum >= 0.0))
            return cg_error(CG_ERR_INVALID_ARG, "optim: SGD: invalid momentum %g (need momentum >= 0)",
                            momentum);
        if (isnan(dampening))
            return cg_error(CG_ERR_INVALID_ARG, "optim: SGD: invalid dampening nan");
        if (nesterov && !(momentum > 0.0 && dampening == 0.0))
            return cg_error(CG_ERR_INVALID_ARG,
                            "optim: SGD: nesterov requires momentum > 0 and dampening == 0 "
                            "(momentum %g, dampening %g)", momentum, dampening);
    } else {
        if (!(beta1 >= 0.0 && beta1 < 1.0))
            return cg_error(CG_ERR_INVALID_ARG, "optim: %s: invalid beta1 %g (need 0 <= beta1 < 1)", kn,
                            beta1);
        if (!(beta2 >= 0.0 && beta2 < 1.0))
            return cg_error(CG_ERR_INVALID_ARG, "optim: %s: invalid beta2 %g (need 0 <= beta2 < 1)", kn,
                            beta2);
        if (!(eps >= 0.0))
            return cg_error(CG_ERR_INVALID_ARG, "optim: %s: invalid eps %g (need eps >= 0)", kn, eps);
    }
    return CG_OK;
}

cg_status cg_optim_validate(const cg_optim_config *cfg) {
    if (!cfg) return cg_error(CG_ERR_INVALID_ARG, "optim: NULL config");
    return validate_fields(cfg->kind, cfg->lr, cfg->weight_decay, cfg->momentum, cfg->dampening,
                           cfg->nesterov, cfg->beta1, cfg->beta2, cfg->eps);
}

cg_status cg_optim_create(cg_optim *o, const cg_param_store *ps, const cg_optim_config *cfg) {
    if (!o) return cg_error(CG_ERR_INVALID_ARG, "optim: NULL optimiser");
    memset(o, 0, sizeof *o);
    if (!ps) return cg_error(CG_ERR_INVALID_ARG, "optim: NULL parameter store");
    cg_status st = cg_optim_validate(cfg);
    if (st != CG_OK) return st;
    if (!ps->values || !ps->grads)
        return cg_error(CG_ERR_STATE, "optim: parameter store is not finalized");

    o->kind = cfg->kind;
    o->lr = cfg->lr;
    o->weight_decay = cfg->weight_decay;
    o->momentum = cfg->momentum;
    o->dampening = cfg->dampening;
    o->nesterov = cfg->nesterov;
    o->beta1 = cfg->beta1;
    o->beta2 = cfg->beta2;
    o->eps = cfg->eps;
    o->t = 0;
    o->n = ps->total;
    o->count = ps->count;
    if (cfg->kind == CG_OPTIM_SGD) o->nstate = cfg->momentum != 0.0 ? 1 : 0;
    else o->nstate = 2;

    if (o->nstate > 0 && o->n > 0) {
        size_t bytes = (size_t)o->nstate * (size_t)o->n * sizeof(float);
        o->state = calloc(1, bytes);
        if (!o->state) {
            int nstate = o->nstate;
            memset(o, 0, sizeof *o);
            return cg_error(CG_ERR_NOMEM, "optim: cannot allocate %d state buffers of %lld floats",
                            nstate, (long long)ps->total);
        }
        if (cfg->kind == CG_OPTIM_SGD) {
            o->momentum_buf = o->state;
        } else {
            o->exp_avg = o->state;
            o->exp_avg_sq = o->state + o->n;
        }
    }
    return CG_OK;
}

void cg_optim_free(cg_optim *o) {
    if (!o) return;
    free(o->state);
    memset(o, 0, sizeof *o);
}

// ----------------------------------------------------------------------------
// per-tensor updates (p, g and the state slices all start at the tensor's offset)

typedef struct sgd_consts {
    float wd;       /* weight_decay */
    float mom;      /* momentum */
    float omd;      /* 1 - dampening (computed in double, as a Python float) */
    float neg_lr;   /* -lr */
    bool use_wd, use_mom, first, nesterov;
} sgd_consts;

static void sgd_update(float *restrict p, const float *restrict grad, float *restrict buf, int64_t n,
                       const sgd_consts *cp) {
    const sgd_consts cc = *cp; /* a local copy: the stores below cannot alias it */
    const sgd_consts *c = &cc;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        if (c->use_wd) g = g + c->wd * p[i];               /* grad.add(param, alpha=wd) */
        if (c->use_mom) {
            float b;
            if (c->first) {
                b = g;                                     /* torch.clone(grad) */
            } else {
                b = buf[i] * c->mom;                       /* buf.mul_(momentum) */
                b = b + c->omd * g;                        /* .add_(grad, alpha=1 - dampening) */
            }
            buf[i] = b;
            g = c->nesterov ? g + c->mom * b : b;          /* grad.add(buf, alpha=momentum) */
        }
        p[i] = p[i] + c->neg_lr * g;                       /* param.add_(grad, alpha=-lr) */
    }
}

typedef struct adam_consts {
    float decay;     /* AdamW: 1 - lr * weight_decay */
    float wd;        /* Adam: weight_decay */
    float w1;        /* 1 - beta1, the lerp weight */
    float one_m_w1;  /* 1 - w1 in float (the large-weight branch of lerp) */
    float b2;        /* beta2 */
    float omb2;      /* 1 - beta2 */
    float bc2_sqrt;  /* sqrt(1 - beta2^t) */
    float eps;
    float neg_step;  /* -lr / (1 - beta1^t) */
    bool decoupled, use_wd, small_w1;
} adam_consts;

static void adam_update(float *restrict p, const float *restrict grad, float *restrict m,
                        float *restrict v, int64_t n, const adam_consts *cp) {
    const adam_consts cc = *cp; /* a local copy: the stores below cannot alias it */
    const adam_consts *c = &cc;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i];
        if (c->decoupled) pi = pi * c->decay;              /* param.mul_(1 - lr * weight_decay) */
        float g = grad[i];
        if (c->use_wd) g = g + c->wd * pi;                 /* grad.add(param, alpha=weight_decay) */
        float mi = m[i];                                   /* exp_avg.lerp_(grad, 1 - beta1) */
        mi = c->small_w1 ? mi + c->w1 * (g - mi) : g - (g - mi) * c->one_m_w1;
        float vi = v[i] * c->b2;                           /* exp_avg_sq.mul_(beta2) */
        vi = vi + c->omb2 * g * g;                         /* .addcmul_(grad, grad, value=1 - beta2) */
        float denom = sqrtf(vi) / c->bc2_sqrt;             /* exp_avg_sq.sqrt() / bias_correction2_sqrt */
        denom = denom + c->eps;                            /* .add_(eps) */
        pi = pi + c->neg_step * mi / denom;                /* param.addcdiv_(exp_avg, denom, value=-step_size) */
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
    }
}

cg_status cg_optim_step(cg_optim *o, cg_param_store *ps) {
    if (!o || !ps) return cg_error(CG_ERR_INVALID_ARG, "optim: step: NULL argument");
    if (!ps->values || !ps->grads)
        return cg_error(CG_ERR_STATE, "optim: step: parameter store is not finalized");
    if (ps->total != o->n || ps->count != o->count)
        return cg_error(CG_ERR_INVALID_ARG,
                        "optim: step: parameter store (%d tensors, %lld elements) is not the one the "
                        "optimiser was created for (%d tensors, %lld elements)",
                        ps->count, (long long)ps->total, o->count, (long long)o->n);
    cg_status st = validate_fields(o->kind, o->lr, o->weight_decay, o->momentum, o->dampening,
                                   o->nesterov, o->beta1, o->beta2, o->eps);
    if (st != CG_OK) return st;
    if (o->kind == CG_OPTIM_SGD && o->momentum != 0.0 && !o->momentum_buf && o->n > 0)
        return cg_error(CG_ERR_STATE,
                        "optim: SGD: momentum is %g but was 0 at create, so there is no momentum buffer",
                        o->momentum);

    o->t++;
    if (o->kind == CG_OPTIM_SGD) {
        sgd_consts c;
        c.wd = (float)o->weight_decay;
        c.mom = (float)o->momentum;
        c.omd = (float)(1.0 - o->dampening);
        c.neg_lr = (float)(-o->lr);
        c.use_wd = o->weight_decay != 0.0;
        c.use_mom = o->momentum != 0.0;
        c.first = o->t == 1;
        c.nesterov = o->nesterov;
        for (int k = 0; k < ps->count; k++) {
            int64_t off = ps->offsets[k];
            sgd_update(ps->values + off, ps->grads + off, c.use_mom ? o->momentum_buf + off : NULL,
                       ps->tensors[k]->numel, &c);
        }
    } else {
        /* Python-float scalars, as in torch.optim.adam._single_tensor_adam; step is a whole number. */
        double step = (double)o->t;
        double bias_correction1 = 1.0 - pow(o->beta1, step);
        double bias_correction2 = 1.0 - pow(o->beta2, step);
        double step_size = o->lr / bias_correction1;
        double bias_correction2_sqrt = pow(bias_correction2, 0.5); /* Python: bias_correction2**0.5 */
        adam_consts c;
        c.decoupled = o->kind == CG_OPTIM_ADAMW && o->weight_decay != 0.0;
        c.decay = (float)(1.0 - o->lr * o->weight_decay);
        c.use_wd = o->kind == CG_OPTIM_ADAM && o->weight_decay != 0.0;
        c.wd = (float)o->weight_decay;
        c.w1 = (float)(1.0 - o->beta1);
        c.one_m_w1 = 1.0f - c.w1;
        c.small_w1 = fabsf(c.w1) < 0.5f;
        c.b2 = (float)o->beta2;
        c.omb2 = (float)(1.0 - o->beta2);
        c.bc2_sqrt = (float)bias_correction2_sqrt;
        c.eps = (float)o->eps;
        c.neg_step = (float)(-step_size);
        for (int k = 0; k < ps->count; k++) {
            int64_t off = ps->offsets[k];
            adam_update(ps->values + off, ps->grads + off, o->exp_avg + off, o->exp_avg_sq + off,
                        ps->tensors[k]->numel, &c);
        }
    }
    return CG_OK;
}

// ----------------------------------------------------------------------------
// gradient clipping

/* Sum of squares, in double, of the real parameter elements inside [b0, b1) of the gradient block.
 * k0 is the last tensor whose offset is <= b0 (offsets increase with k). */
static double block_sumsq(const cg_param_store *ps, int k0, int64_t b0, int64_t b1) {
    double s = 0.0;
    for (int k = k0; k < ps->count && ps->offsets[k] < b1; k++) {
        int64_t lo = ps->offsets[k] > b0 ? ps->offsets[k] : b0;
        int64_t end = ps->offsets[k] + ps->tensors[k]->numel;
        int64_t hi = end < b1 ? end : b1;
        const float *g = ps->grads;
        for (int64_t i = lo; i < hi; i++) s += (double)g[i] * (double)g[i];
    }
    return s;
}

/* The last tensor k with offsets[k] <= pos (0 when there is none). */
static int tensor_at(const cg_param_store *ps, int64_t pos) {
    int lo = 0, hi = ps->count - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (ps->offsets[mid] <= pos) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

cg_status cg_clip_grad_norm(cg_param_store *ps, float max_norm, float *total_norm_out) {
    if (!ps) return cg_error(CG_ERR_INVALID_ARG, "clip_grad_norm: NULL parameter store");
    if (!(max_norm >= 0.0f))
        return cg_error(CG_ERR_INVALID_ARG, "clip_grad_norm: invalid max_norm %g (need max_norm >= 0)",
                        (double)max_norm);
    if (!ps->grads) return cg_error(CG_ERR_STATE, "clip_grad_norm: parameter store is not finalized");

    /* Fixed partition: block b covers [b * NORM_BLOCK, (b + 1) * NORM_BLOCK) of the block; partial
     * sums are added to the total in block order, whatever the number of threads. */
    int64_t total = ps->count > 0 ? ps->total : 0;
    int64_t nblocks = (total + NORM_BLOCK - 1) / NORM_BLOCK;
    double sumsq = 0.0;
    for (int64_t c0 = 0; c0 < nblocks; c0 += NORM_CHUNK) {
        double partial[NORM_CHUNK];
        int nc = (int)(nblocks - c0 < NORM_CHUNK ? nblocks - c0 : NORM_CHUNK);
#pragma omp parallel for schedule(static) if (nc > 1)
        for (int j = 0; j < nc; j++) {
            int64_t b0 = (c0 + j) * NORM_BLOCK;
            int64_t b1 = b0 + NORM_BLOCK < total ? b0 + NORM_BLOCK : total;
            partial[j] = block_sumsq(ps, tensor_at(ps, b0), b0, b1);
        }
        for (int j = 0; j < nc; j++) sumsq += partial[j];
    }
    float total_norm = (float)sqrt(sumsq);
    if (total_norm_out) *total_norm_out = total_norm;

    /* As PyTorch: clip_coef = max_norm / (total_norm + 1e-6) on float32 tensors, then
     * grads *= clamp(clip_coef, max=1). Multiplying by exactly 1 changes nothing, so skip it. */
    float clip_coef = max_norm / (total_norm + (float)1e-6);
    if (!(clip_coef >= 1.0f)) {
        for (int k = 0; k < ps->count; k++) {
            float *g = ps->grads + ps->offsets[k];
            int64_t n = ps->tensors[k]->numel;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
            for (int64_t i = 0; i < n; i++) g[i] = g[i] * clip_coef;
        }
    }
    return CG_OK;
}
