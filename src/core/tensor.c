#include "cellgraph/tensor.h"

#include <stdio.h>
#include <string.h>

cg_status cg_tensor_set_shape(cg_tensor *t, cg_dtype dtype, int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > CG_MAX_DIMS)
        return cg_error(CG_ERR_SHAPE, "tensor: %d dimensions (1..%d supported)", ndim, CG_MAX_DIMS);
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < CG_MAX_DIMS; i++) {
        int64_t d = i < ndim ? shape[i] : 1;
        if (d < 0) return cg_error(CG_ERR_SHAPE, "tensor: dimension %d is negative (%lld)", i, (long long)d);
        t->shape[i] = d;
        t->numel *= d;
    }
    return CG_OK;
}

const char *cg_shape_str(const cg_tensor *t, char *buf, int len) {
    int n = snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && n < len; i++)
        n += snprintf(buf + n, len - n, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

bool cg_same_shape(const cg_tensor *a, const cg_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}
