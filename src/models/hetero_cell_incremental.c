/* HeteroCell's incremental evaluation of deletions: one wildtype pass, then per sample only the rows a
 * deletion can change (cellgraph/hetero_cell.h). */
#include <stdlib.h>
#include <string.h>

#include "models/hetero_cell_internal.h"

/* The rows of one node type that differ from the wildtype after one layer, over all samples: sample b's
 * rows are off[b] .. off[b+1] of node (ascending); pos[b * N + n] is the row of (b, n), or -1 (pos NULL:
 * no rows). */
typedef struct hc_changed {
    int64_t k;
    int64_t *off;  /* [B + 1] */
    int32_t *node; /* [k] */
    int32_t *pos;  /* [B * N] */
} hc_changed;

static void *hc_alloc(cg_ctx *ctx, size_t bytes) {
    void *p = cg_arena_alloc(&ctx->arena, bytes);
    if (!p) cg_ctx_fail(ctx, CG_ERR_NOMEM, "hetero_cell: out of memory");
    return p;
}

/* the dead nodes of type t in each sample, as rows of an hc_changed (pos unused); two passes over the
 * bitsets: count, then fill */
static bool hc_dead_lists(cg_ctx *ctx, const cg_graph_view *v, int t, hc_changed *dl) {
    const int64_t B = v->B, N = v->n_nodes[t], words = (N + 63) / 64;
    dl->off = hc_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
    dl->pos = NULL;
    dl->node = NULL;
    if (!dl->off) return false;
    for (int pass = 0; pass < 2; pass++) {
        int64_t k = 0;
        for (int64_t b = 0; b < B; b++) {
            dl->off[b] = k;
            for (int64_t w = 0; v->dead[t] && w < words; w++)
                for (uint64_t bits = v->dead[t][b * v->dead_stride + w]; bits; bits &= bits - 1) {
                    int64_t n = w * 64 + __builtin_ctzll(bits);
                    if (n >= N) continue;
                    if (pass == 1) dl->node[k] = (int32_t)n;
                    k++;
                }
        }
        dl->off[B] = k;
        dl->k = k;
        if (pass == 0 && !(dl->node = hc_alloc(ctx, (size_t)(k + 1) * sizeof(int32_t)))) return false;
    }
    return true;
}

static bool hc_uses(const cg_hetero_cell *m, const cg_graph_view *v, int l, int r) {
    return m->conv[l][r].used && v->rel[r].rowptr;
}

/* marks, in mk (sample b's row of marks), the alive destinations of the out-edges of s */
static void hc_mark_out(const cg_rel_batch *rb, const cg_graph_view *v, int dt, int64_t b, int64_t s, int32_t *mk) {
    for (int64_t p = rb->src_ptr[s]; p < rb->src_ptr[s + 1]; p++) {
        int64_t d = rb->dst[rb->src_perm[p]];
        if (!cg_graph_view_dead(v, dt, b, d)) mk[d] = 1;
    }
}

/* The changed rows after layer l: an alive node is recomputed when its own input row changed, or when a
 * relation into it at this layer has an in-edge from a dead or changed source (its messages or its softmax
 * normalisation changed). Types that receive no relation keep the previous rows. */
static bool hc_changed_layer(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v, int l,
                             const hc_changed dead[CG_NODE_TYPES], const hc_changed prev[CG_NODE_TYPES],
                             const bool need[CG_NODE_TYPES], const hc_changed *none, hc_changed cur[CG_NODE_TYPES]) {
    const int64_t B = v->B;
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        if (!need[t]) { /* never read again: not computed */
            cur[t] = *none;
            continue;
        }
        bool receives = false;
        for (int r = 0; r < CG_RELATIONS; r++) receives |= hc_uses(m, v, l, r) && (int)hc_rel(r)->dst_type == t;
        if (!receives) {
            cur[t] = prev[t];
            continue;
        }
        const int64_t N = v->n_nodes[t];
        int32_t *pos = hc_alloc(ctx, (size_t)(B * N + 1) * sizeof(int32_t));
        int64_t *off = hc_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
        if (!pos || !off) return false;
        memset(pos, 0, (size_t)(B * N) * sizeof(int32_t));
        int64_t k = 0;
        for (int64_t b = 0; b < B; b++) {
            int32_t *mk = pos + b * N;
            for (int64_t j = prev[t].off[b]; j < prev[t].off[b + 1]; j++) mk[prev[t].node[j]] = 1;
            for (int r = 0; r < CG_RELATIONS; r++) {
                if (!hc_uses(m, v, l, r) || (int)hc_rel(r)->dst_type != t) continue;
                const int st = hc_rel(r)->src_type;
                const cg_rel_batch *rb = &v->rel[r];
                for (int64_t j = dead[st].off[b]; j < dead[st].off[b + 1]; j++) hc_mark_out(rb, v, t, b, dead[st].node[j], mk);
                for (int64_t j = prev[st].off[b]; j < prev[st].off[b + 1]; j++) hc_mark_out(rb, v, t, b, prev[st].node[j], mk);
            }
            for (int64_t n = 0; n < N; n++) k += mk[n];
        }
        int32_t *node = hc_alloc(ctx, (size_t)(k + 1) * sizeof(int32_t));
        if (!node) return false;
        k = 0;
        for (int64_t b = 0; b < B; b++) {
            off[b] = k;
            int32_t *mk = pos + b * N;
            for (int64_t n = 0; n < N; n++)
                if (mk[n]) {
                    node[k] = (int32_t)n;
                    mk[n] = (int32_t)k++;
                } else {
                    mk[n] = -1;
                }
        }
        off[B] = k;
        cur[t] = (hc_changed){.k = k, .off = off, .node = node, .pos = pos};
    }
    return true;
}

/* row of (b, n) in the table [wildtype rows; changed rows] of the previous layer */
static inline int32_t hc_row(const hc_changed *prev, int64_t N, int64_t b, int64_t n) {
    int32_t p = prev->pos ? prev->pos[b * N + n] : -1;
    return p >= 0 ? (int32_t)(N + p) : (int32_t)n;
}

/* For each row (b, d) of cur, its row in the previous layer's table of the same type. */
static cg_tensor *hc_table_rows(cg_ctx *ctx, const hc_changed *cur, const hc_changed *prev, int64_t N, int64_t B) {
    cg_tensor *idx = cg_tensor_new(ctx, CG_I32, 1, &cur->k);
    if (!idx) return NULL;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = cur->off[b]; j < cur->off[b + 1]; j++) cg_i32(idx)[j] = hc_row(prev, N, b, cur->node[j]);
    return idx;
}

/* The relation restricted to the changed destinations of all samples, as one graph (B = 1, nothing
 * dead): destination j is row j of cur; its sources are rows of the previous layer's source table
 * [wildtype rows; changed rows]: each alive in-neighbour of sample b (its changed row when it has one),
 * then the self loop (when add_self_loops) with the mean attribute of those edges, in the order of the
 * full kernel. */
static cg_rel_batch *hc_compact_rel(cg_ctx *ctx, const cg_graph_view *v, int r, bool self_loops, const hc_changed *cur,
                                    const hc_changed *prev_src) {
    const cg_rel_batch *rb = &v->rel[r];
    const int64_t B = v->B, Ns = rb->n_src, k = cur->k, ad = rb->attr ? rb->attr_dim : 0;
    int64_t ub = 0;
    for (int64_t j = 0; j < k; j++) {
        int64_t d = cur->node[j];
        ub += rb->rowptr[d + 1] - rb->rowptr[d] + (self_loops ? 1 : 0);
    }
    cg_rel_batch *c = hc_alloc(ctx, sizeof *c);
    int64_t *rowptr = hc_alloc(ctx, (size_t)(k + 1) * sizeof(int64_t));
    int32_t *src = hc_alloc(ctx, (size_t)(ub + 1) * sizeof(int32_t)), *dst = hc_alloc(ctx, (size_t)(ub + 1) * sizeof(int32_t));
    float *attr = ad ? hc_alloc(ctx, (size_t)(ub * ad + 1) * sizeof(float)) : NULL;
    float mean[CG_GATV2_MAX_EDGE_DIM];
    if (!c || !rowptr || !src || !dst || (ad && !attr)) return NULL;
    int64_t E = 0;
    rowptr[0] = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = cur->off[b]; j < cur->off[b + 1]; j++) {
            const int64_t d = cur->node[j];
            int64_t n_cand = 0;
            for (int64_t a = 0; a < ad; a++) mean[a] = 0.0f;
            for (int64_t e = rb->rowptr[d]; e < rb->rowptr[d + 1]; e++) {
                int64_t s = rb->src[e];
                if (cg_rb_src_dead(rb, b, s) || (self_loops && s == d)) continue;
                src[E] = hc_row(prev_src, Ns, b, s);
                dst[E] = (int32_t)j;
                for (int64_t a = 0; a < ad; a++) {
                    attr[E * ad + a] = rb->attr[e * ad + a];
                    mean[a] += rb->attr[e * ad + a];
                }
                n_cand++;
                E++;
            }
            if (self_loops) {
                src[E] = hc_row(prev_src, Ns, b, d);
                dst[E] = (int32_t)j;
                for (int64_t a = 0; a < ad; a++) attr[E * ad + a] = n_cand ? mean[a] / (float)n_cand : 0.0f;
                E++;
            }
            rowptr[j + 1] = E;
        }
    const int64_t n_src = Ns + prev_src->k;
    int64_t *src_ptr = hc_alloc(ctx, (size_t)(n_src + 1) * sizeof(int64_t));
    int32_t *src_perm = hc_alloc(ctx, (size_t)(E + 1) * sizeof(int32_t));
    if (!src_ptr || !src_perm) return NULL;
    cg_status s = cg_rel_reverse_index(n_src, E, src, src_ptr, src_perm);
    if (s != CG_OK) return cg_ctx_fail(ctx, s, "hetero_cell: %s", cg_last_error());
    *c = (cg_rel_batch){.n_src = n_src, .n_dst = k, .n_edges = E, .rowptr = rowptr, .src = src, .dst = dst,
                        .src_ptr = src_ptr, .src_perm = src_perm, .attr = attr, .attr_dim = (int)ad,
                        .same_type = false, .B = 1};
    return c;
}

cg_status cg_hetero_cell_incremental_check(const cg_hetero_cell_config *cfg, bool training) {
    if (cfg->hypergraph)
        return cg_error(CG_ERR_INVALID_ARG, "hetero_cell: incremental evaluation supports metabolism \"bipartite\" "
                        "only; use the full masked path (--perturbation full) for \"hypergraph\"");
    if (training && cfg->attention_dropout > 0.0f)
        return cg_error(CG_ERR_INVALID_ARG, "hetero_cell: incremental training needs attention_dropout 0 (its masks "
                        "are drawn per sample and edge); use --perturbation full");
    return CG_OK;
}

/* The wildtype view of v (one sample, nothing dead; arena memory: the recorded convs keep a pointer to
 * its relations until backward), and need[l][t]: whether layer l's output of type t can reach the genes
 * after the last layer (the rest is not computed; the full path computes it and never uses it). */
static cg_graph_view *hc_wildtype_view(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v,
                                       bool need[CG_HC_MAX_LAYERS][CG_NODE_TYPES]) {
    const cg_hetero_cell_config *cfg = &m->cfg;
    cg_graph_view *vw = hc_alloc(ctx, sizeof *vw);
    if (!vw) return NULL;
    *vw = *v;
    vw->B = 1;
    vw->dead_stride = 0;
    for (int t = 0; t < CG_NODE_TYPES; t++) vw->dead[t] = NULL;
    for (int r = 0; r < CG_RELATIONS; r++) {
        vw->rel[r].B = 1;
        vw->rel[r].dead_src = vw->rel[r].dead_dst = NULL;
        vw->rel[r].dead_stride = 0;
    }
    memset(need, 0, sizeof(bool) * CG_HC_MAX_LAYERS * CG_NODE_TYPES);
    need[cfg->layers - 1][CG_GENE] = true;
    for (int l = cfg->layers - 2; l >= 0; l--)
        for (int t = 0; t < CG_NODE_TYPES; t++) {
            need[l][t] = need[l + 1][t];
            for (int r = 0; r < CG_RELATIONS; r++)
                need[l][t] |= hc_uses(m, v, l + 1, r) && (int)hc_rel(r)->src_type == t && need[l + 1][hc_rel(r)->dst_type];
        }
    return vw;
}

cg_tensor *hc_encode_wildtype_genes(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v) {
    if (cg_ctx_status(ctx) != CG_OK || hc_check_view(ctx, m, v) != CG_OK) return NULL;
    bool need[CG_HC_MAX_LAYERS][CG_NODE_TYPES];
    cg_graph_view *vw = hc_wildtype_view(ctx, m, v, need);
    if (!vw) return NULL;
    cg_tensor *xw[CG_NODE_TYPES];
    hc_inputs(ctx, m, vw, 1, xw);
    for (int l = 0; l < m->cfg.layers; l++) hc_layer(ctx, m, vw, l, xw, NULL, NULL, NULL, need[l]);
    return cg_ctx_status(ctx) == CG_OK ? xw[CG_GENE] : NULL;
}

cg_tensor *cg_hetero_cell_encode_incremental(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v,
                                             cg_hc_incremental_stats *stats) {
    return hc_encode_incremental(ctx, m, v, stats, NULL);
}

cg_tensor *hc_encode_incremental(cg_ctx *ctx, const cg_hetero_cell *m, const cg_graph_view *v,
                                 cg_hc_incremental_stats *stats, cg_tensor **h_wild) {
    const cg_hetero_cell_config *cfg = &m->cfg;
    const int64_t B = v->B, D = cfg->hidden;
    if (cg_ctx_status(ctx) != CG_OK) return NULL;
    cg_status st0 = cg_hetero_cell_incremental_check(cfg, ctx->training);
    if (st0 != CG_OK) return cg_ctx_fail(ctx, st0, "%s", cg_last_error());
    if (hc_check_view(ctx, m, v) != CG_OK) return NULL;
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->B = B;
        stats->layers = cfg->layers;
    }
    bool need[CG_HC_MAX_LAYERS][CG_NODE_TYPES];
    cg_graph_view *vw = hc_wildtype_view(ctx, m, v, need);
    if (!vw) return NULL;
    hc_changed dead[CG_NODE_TYPES], prev[CG_NODE_TYPES], cur[CG_NODE_TYPES], none;
    int64_t *zero_off = hc_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
    if (!zero_off) return NULL;
    memset(zero_off, 0, (size_t)(B + 1) * sizeof(int64_t));
    for (int t = 0; t < CG_NODE_TYPES; t++) {
        if (!hc_dead_lists(ctx, v, t, &dead[t])) return NULL;
        prev[t] = (hc_changed){.k = 0, .off = zero_off, .node = NULL, .pos = NULL};
    }
    none = prev[0];
    cg_tensor *xw[CG_NODE_TYPES], *xc[CG_NODE_TYPES] = {NULL, NULL, NULL};
    hc_inputs(ctx, m, vw, 1, xw);
    for (int l = 0; l < cfg->layers; l++) {
        if (!hc_changed_layer(ctx, m, v, l, dead, prev, need[l], &none, cur)) return NULL;
        cg_tensor *xw_prev[CG_NODE_TYPES] = {xw[0], xw[1], xw[2]};
        cg_tensor *xl_w[CG_RELATIONS] = {NULL}, *xr_w[CG_RELATIONS] = {NULL};
        uint64_t drop_op[CG_RELATIONS] = {0};
        hc_layer(ctx, m, vw, l, xw, xl_w, xr_w, drop_op, need[l]);
        if (cg_ctx_status(ctx) != CG_OK) return NULL;
        /* the changed rows: the same convs on the compact relations, reading [wildtype rows; changed rows] */
        cg_tensor *acc[CG_NODE_TYPES] = {NULL, NULL, NULL};
        bool receives[CG_NODE_TYPES] = {false, false, false};
        for (int r = 0; r < CG_RELATIONS; r++) receives[hc_rel(r)->dst_type] |= hc_uses(m, v, l, r) && need[l][hc_rel(r)->dst_type];
        cg_tensor *ti[CG_NODE_TYPES] = {NULL, NULL, NULL}; /* each recomputed row's row in the layer's input table */
        for (int t = 0; t < CG_NODE_TYPES; t++)
            if (receives[t] && cur[t].k > 0 && !(ti[t] = hc_table_rows(ctx, &cur[t], &prev[t], v->n_nodes[t], B))) return NULL;
        for (int r = 0; r < CG_RELATIONS; r++) {
            if (!hc_uses(m, v, l, r) || !need[l][hc_rel(r)->dst_type]) continue;
            const cg_hc_conv *cv = &m->conv[l][r];
            const int st = hc_rel(r)->src_type, dt = hc_rel(r)->dst_type;
            if (cur[dt].k == 0) continue;
            cg_rel_batch *cr = hc_compact_rel(ctx, v, r, cv->gat.cfg.add_self_loops, &cur[dt], &prev[st]);
            cg_gatv2_config *gc = hc_alloc(ctx, sizeof *gc);
            if (!cr || !gc) return NULL;
            *gc = cv->gat.cfg;
            gc->add_self_loops = false; /* explicit in the compact relation */
            cg_tensor *xl = prev[st].k ? cg_concat_rows(ctx, xl_w[r], cg_linear(ctx, xc[st], cv->gat.lin_l.weight, cv->gat.lin_l.bias))
                                       : xl_w[r];
            cg_tensor *xr = prev[dt].k ? cg_concat_rows(ctx, xr_w[r], cg_linear(ctx, xc[dt], cv->gat.lin_r.weight, cv->gat.lin_r.bias))
                                       : xr_w[r];
            cg_tensor *o = cg_gatv2_layer_forward_projected(ctx, &cv->gat, xl, cg_gather_rows(ctx, xr, ti[dt]), cr, gc);
            if (cv->has_proj) o = cg_linear(ctx, o, cv->proj.weight, cv->proj.bias);
            o = cg_layernorm_layer_forward(ctx, &cv->norm, o);
            o = cg_act(ctx, cfg->act, o, 0.01f);
            o = cg_dropout_rows(ctx, o, cfg->dropout, cur[dt].node, drop_op[r]);
            acc[dt] = acc[dt] ? cg_add(ctx, acc[dt], o) : o;
            if (stats) stats->edges[l][r] += cr->n_edges;
        }
        for (int t = 0; t < CG_NODE_TYPES; t++) {
            if (!receives[t]) continue; /* rows and table unchanged */
            if (cur[t].k == 0) {
                xc[t] = NULL;
            } else if (cfg->residual) {
                cg_tensor *tab = prev[t].k ? cg_concat_rows(ctx, xw_prev[t], xc[t]) : xw_prev[t];
                xc[t] = cg_add(ctx, cg_gather_rows(ctx, tab, ti[t]), acc[t]);
            } else {
                xc[t] = acc[t];
            }
        }
        for (int t = 0; t < CG_NODE_TYPES; t++) {
            prev[t] = cur[t];
            if (stats) stats->rows[l][t] = cur[t].k;
        }
        if (cg_ctx_status(ctx) != CG_OK) return NULL;
    }

    if (h_wild) *h_wild = xw[CG_GENE];
    /* readout: the wildtype pooling, updated per sample (dead and changed genes out, changed rows in) */
    const int64_t N = v->n_nodes[CG_GENE];
    const hc_changed *cg = &prev[CG_GENE], *dg = &dead[CG_GENE];
    int64_t *removed_ptr = hc_alloc(ctx, (size_t)(B + 1) * sizeof(int64_t));
    int32_t *removed_idx = hc_alloc(ctx, (size_t)(cg->k + dg->k + 1) * sizeof(int32_t));
    if (!removed_ptr || !removed_idx) return NULL;
    int64_t k = 0;
    for (int64_t b = 0; b < B; b++) {
        removed_ptr[b] = k;
        for (int64_t j = dg->off[b]; j < dg->off[b + 1]; j++) removed_idx[k++] = dg->node[j];
        for (int64_t j = cg->off[b]; j < cg->off[b + 1]; j++) removed_idx[k++] = cg->node[j];
    }
    removed_ptr[B] = k;
    cg_tensor *g_new, *t_new;
    uint64_t op_gate = ctx->op_counter;
    cg_tensor *g_ref = cg_mlp_forward_shared(ctx, &m->gate, xw[CG_GENE], N);
    uint64_t op_transform = ctx->op_counter;
    cg_tensor *t_ref = cg_mlp_forward_shared(ctx, &m->transform, xw[CG_GENE], N);
    if (cg->k > 0) {
        g_new = cg_mlp_forward_rows(ctx, &m->gate, xc[CG_GENE], cg->node, op_gate);
        t_new = cg_mlp_forward_rows(ctx, &m->transform, xc[CG_GENE], cg->node, op_transform);
    } else {
        g_new = cg_tensor_new2(ctx, 0, 1);
        t_new = cg_tensor_new2(ctx, 0, D);
    }
    return cg_attentional_pool_update(ctx, g_ref, t_ref, g_new, t_new, B, removed_ptr, removed_idx, cg->off);
}

