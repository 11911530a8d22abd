/* GATv2Conv as a layer: parameters with PyG's names, initialisation, forward (cellgraph/gatv2.h). */
#include <stdio.h>
#include <string.h>

#include "cellgraph/gatv2.h"

cg_status cg_gatv2_register(cg_gatv2_layer *l, cg_param_store *ps, const char *prefix, int in_src, int in_dst,
                            const cg_gatv2_config *cfg, int edge_dim) {
    memset(l, 0, sizeof *l);
    if (cfg->heads < 1 || cfg->channels < 1 || in_src < 1 || in_dst < 1 || edge_dim < 0 ||
        edge_dim > CG_GATV2_MAX_EDGE_DIM)
        return cg_error(CG_ERR_INVALID_ARG, "%s: GATv2Conv with heads %d, channels %d, inputs %d/%d, edge_dim %d",
                        prefix, cfg->heads, cfg->channels, in_src, in_dst, edge_dim);
    l->cfg = *cfg;
    l->edge_dim = edge_dim;
    const int64_t HC = (int64_t)cfg->heads * cfg->channels;
    char name[256];
    snprintf(name, sizeof name, "%s.lin_l", prefix);
    cg_status s = cg_linear_register(&l->lin_l, ps, name, in_src, (int)HC, true);
    snprintf(name, sizeof name, "%s.lin_r", prefix);
    if (s == CG_OK) s = cg_linear_register(&l->lin_r, ps, name, in_dst, (int)HC, true);
    int64_t att_shape[3] = {1, cfg->heads, cfg->channels}, edge_shape[2] = {HC, edge_dim},
            bias_shape[1] = {cg_gatv2_out_cols(cfg)};
    snprintf(name, sizeof name, "%s.att", prefix);
    if (s == CG_OK) s = cg_params_add(ps, name, 3, att_shape, &l->att);
    snprintf(name, sizeof name, "%s.lin_edge.weight", prefix);
    if (s == CG_OK && edge_dim > 0) s = cg_params_add(ps, name, 2, edge_shape, &l->lin_edge);
    snprintf(name, sizeof name, "%s.bias", prefix);
    if (s == CG_OK) s = cg_params_add(ps, name, 1, bias_shape, &l->bias);
    return s;
}

void cg_gatv2_init(const cg_gatv2_layer *l, uint64_t seed) {
    cg_linear_init(&l->lin_l, seed); /* bias U(-1/sqrt(in), 1/sqrt(in)) as PyG's Linear */
    cg_linear_init(&l->lin_r, seed);
    cg_glorot_init(l->lin_l.weight, seed); /* weights glorot (GATv2Conv.reset_parameters) */
    cg_glorot_init(l->lin_r.weight, seed);
    cg_glorot_init(l->att, seed);
    if (l->lin_edge) cg_glorot_init(l->lin_edge, seed);
    memset(l->bias->data, 0, (size_t)l->bias->numel * sizeof(float));
}

cg_tensor *cg_gatv2_layer_forward_projected(cg_ctx *ctx, const cg_gatv2_layer *l, cg_tensor *xl, cg_tensor *xr,
                                            const cg_rel_batch *r, const cg_gatv2_config *cfg) {
    return cg_gatv2(ctx, xl, xr, r->attr && l->lin_edge ? l->lin_edge : NULL, l->att, l->bias, r, cfg ? cfg : &l->cfg);
}

cg_tensor *cg_gatv2_layer_forward(cg_ctx *ctx, const cg_gatv2_layer *l, cg_tensor *x_src, cg_tensor *x_dst,
                                  const cg_rel_batch *r) {
    cg_tensor *xl = cg_linear(ctx, x_src, l->lin_l.weight, l->lin_l.bias);
    cg_tensor *xr = cg_linear(ctx, x_dst, l->lin_r.weight, l->lin_r.bias);
    return cg_gatv2_layer_forward_projected(ctx, l, xl, xr, r, NULL);
}
