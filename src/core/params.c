#include "cellgraph/params.h"

#include <stdlib.h>
#include <string.h>

void cg_params_init(cg_param_store *ps) { memset(ps, 0, sizeof *ps); }

cg_status cg_params_add(cg_param_store *ps, const char *name, int ndim, const int64_t *shape,
                        cg_tensor **out) {
    if (ps->values) return cg_error(CG_ERR_STATE, "params: '%s' added after finalize", name ? name : "?");
    if (!name || !*name) return cg_error(CG_ERR_INVALID_ARG, "params: empty parameter name");
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->tensors[i]->name, name) == 0)
            return cg_error(CG_ERR_INVALID_ARG, "params: duplicate parameter name '%s'", name);
    cg_tensor *t = calloc(1, sizeof *t);
    char *nm = strdup(name);
    if (!t || !nm) {
        free(t);
        free(nm);
        return cg_error(CG_ERR_NOMEM, "params: out of memory adding '%s'", name);
    }
    cg_status st = cg_tensor_set_shape(t, CG_F32, ndim, shape);
    if (st != CG_OK) {
        free(t);
        free(nm);
        return cg_error_wrap(st, "params: '%s'", name);
    }
    if (ps->count == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 32;
        cg_tensor **nt = realloc(ps->tensors, cap * sizeof *nt);
        if (nt) ps->tensors = nt;
        int64_t *no = nt ? realloc(ps->offsets, cap * sizeof *no) : NULL;
        if (no) ps->offsets = no;
        if (!nt || !no) {
            free(t);
            free(nm);
            return cg_error(CG_ERR_NOMEM, "params: out of memory adding '%s'", name);
        }
        ps->cap = cap;
    }
    t->name = nm;
    t->requires_grad = true;
    ps->tensors[ps->count] = t;
    ps->offsets[ps->count] = ps->total;
    /* keep every tensor 16-element (64-byte) aligned inside the block */
    ps->total += (t->numel + 15) & ~(int64_t)15;
    ps->count++;
    if (out) *out = t;
    return CG_OK;
}

cg_status cg_params_finalize(cg_param_store *ps) {
    if (ps->values) return cg_error(CG_ERR_STATE, "params: finalize called twice");
    int64_t n = ps->total > 0 ? ps->total : 16;
    void *mem = NULL;
    if (posix_memalign(&mem, 64, 2 * (size_t)n * sizeof(float)) != 0)
        return cg_error(CG_ERR_NOMEM, "out of memory: cannot allocate %lld parameters", (long long)n);
    memset(mem, 0, 2 * (size_t)n * sizeof(float));
    ps->values = mem;
    ps->grads = ps->values + n;
    for (int i = 0; i < ps->count; i++) {
        ps->tensors[i]->data = ps->values + ps->offsets[i];
        ps->tensors[i]->grad = ps->grads + ps->offsets[i];
    }
    return CG_OK;
}

cg_tensor *cg_params_find(const cg_param_store *ps, const char *name) {
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->tensors[i]->name, name) == 0) return ps->tensors[i];
    cg_error(CG_ERR_NOT_FOUND, "params: no parameter named '%s'", name);
    return NULL;
}

void cg_params_zero_grad(cg_param_store *ps) {
    if (ps->grads) memset(ps->grads, 0, (size_t)(ps->total > 0 ? ps->total : 16) * sizeof(float));
}

void cg_params_free(cg_param_store *ps) {
    for (int i = 0; i < ps->count; i++) {
        free((char *)ps->tensors[i]->name);
        free(ps->tensors[i]);
    }
    free(ps->tensors);
    free(ps->offsets);
    free(ps->values);
    memset(ps, 0, sizeof *ps);
}
