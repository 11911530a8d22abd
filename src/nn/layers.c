#include "cellgraph/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cellgraph/rng.h"

static cg_status add(cg_param_store *ps, const char *prefix, const char *suffix, int ndim, const int64_t *shape,
                     cg_tensor **out) {
    char name[256];
    if ((size_t)snprintf(name, sizeof name, "%s.%s", prefix, suffix) >= sizeof name)
        return cg_error(CG_ERR_INVALID_ARG, "parameter name '%s.%s' is longer than 255 bytes", prefix, suffix);
    return cg_params_add(ps, name, ndim, shape, out);
}

cg_status cg_linear_register(cg_linear_layer *l, cg_param_store *ps, const char *prefix, int in, int out, bool bias) {
    memset(l, 0, sizeof *l);
    l->in = in;
    l->out = out;
    int64_t ws[2] = {out, in}, bs[1] = {out};
    cg_status s = add(ps, prefix, "weight", 2, ws, &l->weight);
    if (s == CG_OK && bias) s = add(ps, prefix, "bias", 1, bs, &l->bias);
    return s;
}

cg_status cg_layernorm_register(cg_layernorm_layer *l, cg_param_store *ps, const char *prefix, int dim) {
    memset(l, 0, sizeof *l);
    l->dim = dim;
    l->eps = 1e-5f;
    int64_t s1[1] = {dim};
    cg_status s = add(ps, prefix, "weight", 1, s1, &l->weight);
    if (s == CG_OK) s = add(ps, prefix, "bias", 1, s1, &l->bias);
    return s;
}

cg_status cg_embedding_register(cg_embedding_layer *l, cg_param_store *ps, const char *prefix, int n, int dim) {
    memset(l, 0, sizeof *l);
    l->n = n;
    l->dim = dim;
    int64_t s2[2] = {n, dim};
    return add(ps, prefix, "weight", 2, s2, &l->weight);
}

cg_status cg_mlp_register(cg_mlp *m, cg_param_store *ps, const char *prefix, int in, int hidden, int out,
                          int n_layers, bool use_norm, cg_activation act, float dropout, bool act_last) {
    memset(m, 0, sizeof *m);
    if (n_layers < 1 || n_layers > CG_MLP_MAX_LAYERS)
        return cg_error(CG_ERR_INVALID_ARG, "%s: %d layers (1..%d supported)", prefix, n_layers, CG_MLP_MAX_LAYERS);
    m->n_layers = n_layers;
    m->use_norm = use_norm;
    m->act = act;
    m->dropout = dropout;
    m->act_last = act_last;
    char name[256];
    for (int i = 0; i < n_layers; i++) {
        int a = i == 0 ? in : hidden, b = i == n_layers - 1 ? out : hidden;
        if ((size_t)snprintf(name, sizeof name, "%s.layers.%d", prefix, i) >= sizeof name)
            return cg_error(CG_ERR_INVALID_ARG, "parameter prefix '%s' is too long", prefix);
        cg_status s = cg_linear_register(&m->lin[i], ps, name, a, b, true);
        if (s != CG_OK) return s;
        if (use_norm && (i < n_layers - 1 || act_last)) {
            if ((size_t)snprintf(name, sizeof name, "%s.norms.%d", prefix, i) >= sizeof name)
                return cg_error(CG_ERR_INVALID_ARG, "parameter prefix '%s' is too long", prefix);
            s = cg_layernorm_register(&m->norm[i], ps, name, b);
            if (s != CG_OK) return s;
        }
    }
    return CG_OK;
}

uint64_t cg_param_stream(const cg_tensor *t) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = t->name ? t->name : ""; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

void cg_linear_init(const cg_linear_layer *l, uint64_t seed) {
    float k = 1.0f / sqrtf((float)l->in);
    cg_rng_fill_uniform(cg_f32(l->weight), l->weight->numel, -k, k, seed, cg_param_stream(l->weight));
    if (l->bias) cg_rng_fill_uniform(cg_f32(l->bias), l->bias->numel, -k, k, seed, cg_param_stream(l->bias));
}

void cg_layernorm_init(const cg_layernorm_layer *l) {
    for (int j = 0; j < l->dim; j++) {
        cg_f32(l->weight)[j] = 1.0f;
        cg_f32(l->bias)[j] = 0.0f;
    }
}

void cg_embedding_init(const cg_embedding_layer *l, uint64_t seed) {
    cg_rng_fill_normal(cg_f32(l->weight), l->weight->numel, 0.0f, 1.0f, seed, cg_param_stream(l->weight));
}

void cg_mlp_init(const cg_mlp *m, uint64_t seed) {
    for (int i = 0; i < m->n_layers; i++) {
        cg_linear_init(&m->lin[i], seed);
        if (m->norm[i].weight) cg_layernorm_init(&m->norm[i]);
    }
}

void cg_glorot_init(cg_tensor *t, uint64_t seed) {
    int64_t fan_out = t->ndim >= 2 ? t->shape[t->ndim - 2] : 1, fan_in = t->shape[t->ndim - 1];
    float b = sqrtf(6.0f / (float)(fan_in + fan_out));
    cg_rng_fill_uniform(cg_f32(t), t->numel, -b, b, seed, cg_param_stream(t));
}

cg_tensor *cg_linear_layer_forward(cg_ctx *ctx, const cg_linear_layer *l, cg_tensor *x) {
    return cg_linear(ctx, x, l->weight, l->bias);
}

cg_tensor *cg_layernorm_layer_forward(cg_ctx *ctx, const cg_layernorm_layer *l, cg_tensor *x) {
    return cg_layernorm(ctx, x, l->weight, l->bias, l->eps);
}

cg_tensor *cg_embedding_forward(cg_ctx *ctx, const cg_embedding_layer *l, cg_tensor *ids) {
    return cg_gather_rows(ctx, l->weight, ids);
}

cg_tensor *cg_mlp_forward_shared(cg_ctx *ctx, const cg_mlp *m, cg_tensor *x, int64_t period_rows) {
    for (int i = 0; i < m->n_layers; i++) {
        x = cg_linear(ctx, x, m->lin[i].weight, m->lin[i].bias);
        if (i < m->n_layers - 1 || m->act_last) {
            if (m->norm[i].weight) x = cg_layernorm_layer_forward(ctx, &m->norm[i], x);
            x = cg_act(ctx, m->act, x, 0.01f);
            x = period_rows > 0 && x ? cg_dropout_shared(ctx, x, m->dropout, period_rows * cg_cols(x))
                                     : cg_dropout(ctx, x, m->dropout);
        }
    }
    return x;
}

cg_tensor *cg_mlp_forward_rows(cg_ctx *ctx, const cg_mlp *m, cg_tensor *x, const int32_t *ids, uint64_t op_first) {
    uint64_t op = op_first;
    for (int i = 0; i < m->n_layers; i++) {
        x = cg_linear(ctx, x, m->lin[i].weight, m->lin[i].bias);
        if (i < m->n_layers - 1 || m->act_last) {
            if (m->norm[i].weight) x = cg_layernorm_layer_forward(ctx, &m->norm[i], x);
            x = cg_act(ctx, m->act, x, 0.01f);
            if (ctx->training && m->dropout > 0.0f) x = cg_dropout_rows(ctx, x, m->dropout, ids, op++);
        }
    }
    return x;
}

cg_tensor *cg_mlp_forward(cg_ctx *ctx, const cg_mlp *m, cg_tensor *x) { return cg_mlp_forward_shared(ctx, m, x, 0); }

cg_tensor *cg_attentional_aggregation(cg_ctx *ctx, const cg_mlp *gate, const cg_mlp *transform, cg_tensor *x,
                                      const cg_csr *csr) {
    cg_tensor *g = cg_mlp_forward(ctx, gate, x);
    cg_tensor *t = cg_mlp_forward(ctx, transform, x);
    cg_tensor *a = cg_segment_softmax(ctx, g, csr);
    return cg_segment_sum(ctx, cg_rowscale(ctx, t, a), csr);
}
