#include "cellgraph/relbatch.h"

#include <string.h>

cg_status cg_rel_reverse_index(int64_t n_src, int64_t n_edges, const int32_t *src, int64_t *src_ptr, int32_t *src_perm) {
    memset(src_ptr, 0, (size_t)(n_src + 1) * sizeof *src_ptr);
    for (int64_t e = 0; e < n_edges; e++) {
        if (src[e] < 0 || src[e] >= n_src)
            return cg_error(CG_ERR_INVALID_ARG, "relation: edge %lld has source %d outside [0, %lld)", (long long)e,
                            src[e], (long long)n_src);
        src_ptr[src[e] + 1]++;
    }
    for (int64_t s = 0; s < n_src; s++) src_ptr[s + 1] += src_ptr[s];
    /* stable fill: CSR positions ascend within each source */
    for (int64_t e = 0; e < n_edges; e++) src_perm[src_ptr[src[e]]++] = (int32_t)e;
    for (int64_t s = n_src; s > 0; s--) src_ptr[s] = src_ptr[s - 1];
    src_ptr[0] = 0;
    return CG_OK;
}
