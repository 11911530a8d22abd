/* Builds the cell graph from the raw files of the yeast data folder (DESIGN.md section 2). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cellgraph/gem.h"
#include "cellgraph/genes.h"
#include "cellgraph/sources.h"
#include "graph/graph_internal.h"

/* ------------------------------------------------------------------ string tables */

typedef struct strbuf {
    int64_t n, cap_n;
    int64_t *off;
    char *bytes;
    int64_t len, cap;
} strbuf;

static bool strbuf_add(strbuf *b, const char *s) {
    size_t k = strlen(s) + 1;
    if (b->n + 2 > b->cap_n) {
        int64_t c = b->cap_n ? 2 * b->cap_n : 1024;
        int64_t *o = realloc(b->off, (size_t)c * sizeof *o);
        if (!o) return false;
        b->off = o;
        b->cap_n = c;
    }
    if (b->len + (int64_t)k > b->cap) {
        int64_t c = b->cap ? 2 * b->cap : 16384;
        while (c < b->len + (int64_t)k) c *= 2;
        char *nb = realloc(b->bytes, (size_t)c);
        if (!nb) return false;
        b->bytes = nb;
        b->cap = c;
    }
    if (b->n == 0) b->off[0] = 0;
    memcpy(b->bytes + b->len, s, k);
    b->len += (int64_t)k;
    b->off[++b->n] = b->len;
    return true;
}

/* moves b into table t owned by g */
static bool strbuf_finish(cg_graph *g, strbuf *b, cg_strtab *t) {
    if (b->n == 0 && !strbuf_add(b, "")) return false; /* never empty: keeps offsets well formed */
    t->n = b->n;
    t->off = cg_graph_own(g, b->off);
    t->bytes = cg_graph_own(g, b->bytes);
    memset(b, 0, sizeof *b);
    return t->off && t->bytes;
}

/* ------------------------------------------------------------------ relations */

typedef cg_graph_edge edge;

static int edge_cmp(const void *a, const void *b) {
    const edge *x = a, *y = b;
    if (x->dst != y->dst) return x->dst < y->dst ? -1 : 1;
    return (x->src > y->src) - (x->src < y->src);
}

cg_status cg_graph_make_relation(cg_graph *g, int r, const cg_relation_desc *d, cg_graph_edge *e, int64_t n,
                                 bool drop_self_dup, int64_t *n_self, int64_t *n_dup) {
    if (r < 0 || r >= CG_MAX_RELATIONS || d->attr_width < 0 || d->attr_width > 1)
        return cg_error(CG_ERR_INVALID_ARG, "graph: relation '%s' cannot be stored at index %d with attribute width %d",
                        d->name, r, d->attr_width);
    cg_relation *rel = &g->rel[r];
    rel->name = d->name;
    rel->src_type = d->src_type;
    rel->dst_type = d->dst_type;
    rel->directed = d->directed;
    rel->attr_width = d->attr_width;
    rel->attr_name = d->attr_name;
    bool has_attr = d->attr_width > 0;
    qsort(e, (size_t)n, sizeof *e, edge_cmp);
    int64_t m = 0, self = 0, dup = 0;
    for (int64_t i = 0; i < n; i++) {
        if (drop_self_dup && e[i].src == e[i].dst && rel->src_type == rel->dst_type) {
            self++;
            continue;
        }
        if (drop_self_dup && m > 0 && e[m - 1].dst == e[i].dst && e[m - 1].src == e[i].src) {
            dup++;
            continue;
        }
        e[m++] = e[i];
    }
    if (n_self) *n_self = self;
    if (n_dup) *n_dup = dup;
    int64_t nd = g->n_nodes[rel->dst_type];
    int64_t *rowptr = cg_graph_own(g, calloc((size_t)nd + 1, sizeof *rowptr));
    int32_t *src = cg_graph_own(g, malloc(((size_t)m + 1) * sizeof *src));
    int32_t *dst = cg_graph_own(g, malloc(((size_t)m + 1) * sizeof *dst));
    float *attr = has_attr ? cg_graph_own(g, malloc(((size_t)m + 1) * sizeof *attr)) : NULL;
    if (!rowptr || !src || !dst || (has_attr && !attr)) return cg_error(CG_ERR_NOMEM, "graph: out of memory");
    for (int64_t i = 0; i < m; i++) {
        src[i] = e[i].src;
        dst[i] = e[i].dst;
        if (attr) attr[i] = e[i].attr;
        rowptr[e[i].dst + 1]++;
    }
    for (int64_t d2 = 0; d2 < nd; d2++) rowptr[d2 + 1] += rowptr[d2];
    rel->n_edges = m;
    rel->rowptr = rowptr;
    rel->src = src;
    rel->dst = dst;
    rel->attr = attr;
    return CG_OK;
}

/* relation r of the defaults, stored with its description from the table */
static cg_status make_relation(cg_graph *g, int r, edge *e, int64_t n, bool drop_self_dup, int64_t *n_self,
                               int64_t *n_dup) {
    return cg_graph_make_relation(g, r, &cg_relation_descs(NULL)[r], e, n, drop_self_dup, n_self, n_dup);
}

/* ------------------------------------------------------------------ sources bookkeeping */

cg_graph_source *cg_graph_add_source(cg_graph *g, const cg_source_stats *st) {
    cg_graph_source *n = realloc(g->sources, (size_t)(g->n_sources + 1) * sizeof *n);
    if (!n) return NULL;
    g->sources = n;
    cg_graph_source *s = &g->sources[g->n_sources++];
    memset(s, 0, sizeof *s);
    if (st) {
        snprintf(s->name, sizeof s->name, "%s", st->source);
        s->rows = st->rows;
        s->pairs = st->pairs;
        s->unresolved_rows = st->unresolved_rows;
        s->unresolved_names = st->unresolved_names;
        s->ambiguous_names = st->ambiguous_names;
        s->dropped_columns = st->dropped_columns;
        s->skipped_other = st->skipped_other;
        size_t used = 0;
        for (int k = 0; k < CG_SOURCE_EXAMPLES && st->examples[k][0]; k++)
            used += (size_t)snprintf(s->examples + used, used < sizeof s->examples ? sizeof s->examples - used : 0,
                                     "%s%s", k ? ", " : "", st->examples[k]);
    }
    return s;
}

cg_status cg_graph_file_checksum(const char *path, cJSON *obj, const char *key) {
    FILE *f = fopen(path, "rb");
    if (!f) return cg_error(CG_ERR_IO, "%s: cannot open for checksum", path);
    unsigned char buf[1 << 16];
    uLong c = crc32(0L, Z_NULL, 0);
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        c = crc32(c, buf, (uInt)n);
        total += n;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) return cg_error(CG_ERR_IO, "%s: read error while computing the checksum", path);
    cJSON *o = cJSON_AddObjectToObject(obj, key);
    char hex[16];
    snprintf(hex, sizeof hex, "%08lx", (unsigned long)c);
    cJSON_AddNumberToObject(o, "bytes", (double)total);
    cJSON_AddStringToObject(o, "crc32", hex);
    return CG_OK;
}

/* ------------------------------------------------------------------ build */

typedef struct edge_vec {
    edge *e;
    int64_t n, cap;
} edge_vec;

static bool ev_push(edge_vec *v, int32_t src, int32_t dst, float attr) {
    if (v->n == v->cap) {
        int64_t c = v->cap ? 2 * v->cap : 4096;
        edge *ne = realloc(v->e, (size_t)c * sizeof *ne);
        if (!ne) return false;
        v->e = ne;
        v->cap = c;
    }
    v->e[v->n++] = (edge){.dst = dst, .src = src, .attr = attr};
    return true;
}

/* appends a reader's pairs (both directions when undirected) */
static bool ev_add_list(edge_vec *v, const cg_edge_list *l, bool both_ways) {
    for (int64_t i = 0; i < l->n; i++) {
        if (!ev_push(v, l->src[i], l->dst[i], 0.0f)) return false;
        if (both_ways && !ev_push(v, l->dst[i], l->src[i], 0.0f)) return false;
    }
    return true;
}

typedef cg_status (*reader_fn)(const char *, const cg_genes *, cg_edge_list *, cg_source_stats *);

/* runs one network reader on data_dir/rel_path and appends its pairs */
static cg_status read_network(cg_graph *g, const char *data_dir, const char *rel_path, reader_fn fn,
                              const cg_genes *genes, edge_vec *v, bool both_ways, cJSON *files) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, rel_path);
    cg_edge_list l;
    cg_edge_list_init(&l);
    cg_source_stats st;
    memset(&st, 0, sizeof st);
    cg_status s = fn(path, genes, &l, &st);
    if (s == CG_OK) s = cg_graph_file_checksum(path, files, rel_path);
    if (s == CG_OK && !cg_graph_add_source(g, &st)) s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
    if (s == CG_OK && !ev_add_list(v, &l, both_ways)) s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
    cg_edge_list_free(&l);
    return s;
}

static cg_status strtab_from(cg_graph *g, cg_strtab *t, int64_t n, const char *(*get)(const void *, int64_t),
                             const void *ctx) {
    strbuf b = {0};
    for (int64_t i = 0; i < n; i++)
        if (!strbuf_add(&b, get(ctx, i))) {
            free(b.off);
            free(b.bytes);
            return cg_error(CG_ERR_NOMEM, "graph: out of memory");
        }
    if (!strbuf_finish(g, &b, t)) return cg_error(CG_ERR_NOMEM, "graph: out of memory");
    return CG_OK;
}

static const char *get_sys(const void *c, int64_t i) { return cg_genes_systematic(c, (int32_t)i); }
static const char *get_std(const void *c, int64_t i) { return cg_genes_standard(c, (int32_t)i); }
static const char *get_alias(const void *c, int64_t i) { return cg_genes_aliases(c, (int32_t)i); }
static const char *get_qual(const void *c, int64_t i) { return cg_genes_qualifier(c, (int32_t)i); }
static const char *get_rxn_id(const void *c, int64_t i) { return ((const cg_gem *)c)->reactions[i].id; }
static const char *get_rxn_name(const void *c, int64_t i) { return ((const cg_gem *)c)->reactions[i].name; }
static const char *get_met_id(const void *c, int64_t i) { return ((const cg_gem *)c)->metabolites[i].id; }
static const char *get_met_comp(const void *c, int64_t i) { return ((const cg_gem *)c)->metabolites[i].compartment; }

/* a gene-gene relation from reader pairs: sorted, self pairs and duplicates dropped and recorded */
static cg_status finish_gene_relation(cg_graph *g, int r, edge_vec *v, const char *label) {
    int64_t self = 0, dup = 0, raw = v->n;
    cg_status s = make_relation(g, r, v->e, v->n, true, &self, &dup);
    if (s != CG_OK) return s;
    cg_graph_source *src = cg_graph_add_source(g, NULL);
    if (!src) return cg_error(CG_ERR_NOMEM, "graph: out of memory");
    /* a bookkeeping row: directed pairs offered, kept, self pairs and duplicates removed */
    snprintf(src->name, sizeof src->name, "%s", label);
    src->rows = raw;
    src->pairs = g->rel[r].n_edges;
    src->edges = g->rel[r].n_edges;
    src->duplicates = dup;
    src->self_pairs = self;
    snprintf(src->examples, sizeof src->examples, "%lld self pairs, %lld duplicates removed", (long long)self,
             (long long)dup);
    return CG_OK;
}

/* Metabolism from yeast-GEM: reaction nodes, gpr / gpr_rev, rmr / rmr_rev. */
static cg_status build_metabolism(cg_graph *g, const cg_gem *gem, const cg_genes *genes) {
    strbuf names = {0};
    int64_t cap = 0;
    for (int r = 0; r < gem->n_reactions; r++) {
        int terms = gem->reactions[r].gpr.n_terms > 0 ? gem->reactions[r].gpr.n_terms : 1;
        cap += (int64_t)terms * (cg_gem_reversible(&gem->reactions[r]) ? 2 : 1);
    }
    int32_t *rgem = cg_graph_own(g, malloc(((size_t)cap + 1) * sizeof *rgem));
    int32_t *rdir = cg_graph_own(g, malloc(((size_t)cap + 1) * sizeof *rdir));
    int64_t *tptr = cg_graph_own(g, malloc(((size_t)cap + 1) * sizeof *tptr));
    int64_t n_entries_max = 0;
    for (int r = 0; r < gem->n_reactions; r++)
        n_entries_max += (int64_t)gem->reactions[r].gpr.n_entries * (cg_gem_reversible(&gem->reactions[r]) ? 2 : 1);
    int32_t *tgenes = cg_graph_own(g, malloc(((size_t)n_entries_max + 1) * sizeof *tgenes));
    if (!rgem || !rdir || !tptr || !tgenes) return cg_error(CG_ERR_NOMEM, "graph: out of memory");

    edge_vec gpr = {0}, gpr_rev = {0}, rmr = {0}, rmr_rev = {0};
    cg_status s = CG_OK;
    /* GEM gene ids that the gene universe does not know: counted once each */
    cg_source_stats st;
    memset(&st, 0, sizeof st);
    snprintf(st.source, sizeof st.source, "yeast-GEM gene rules");
    char **unknown = NULL;
    int n_unknown = 0;

    int64_t node = 0, nt = 0;
    tptr[0] = 0;
    for (int r = 0; r < gem->n_reactions && s == CG_OK; r++) {
        const cg_gem_reaction *rx = &gem->reactions[r];
        int terms = rx->gpr.n_terms > 0 ? rx->gpr.n_terms : 1;
        int dirs = cg_gem_reversible(rx) ? 2 : 1;
        for (int k = 0; k < terms && s == CG_OK; k++) {
            for (int d = 0; d < dirs && s == CG_OK; d++) {
                char nm[256];
                if (rx->gpr.n_terms > 0)
                    snprintf(nm, sizeof nm, "%s_t%d_%s", rx->id, k, d ? "rev" : "fwd");
                else
                    snprintf(nm, sizeof nm, "%s_noGene_%s", rx->id, d ? "rev" : "fwd");
                if (!strbuf_add(&names, nm)) s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
                rgem[node] = r;
                rdir[node] = d;
                if (rx->gpr.n_terms > 0)
                    for (int j = rx->gpr.term_start[k]; j < rx->gpr.term_start[k + 1] && s == CG_OK; j++) {
                        const char *gid = rx->gpr.genes[j];
                        int32_t gi = cg_genes_index_of_systematic(genes, gid);
                        if (gi < 0 && cg_genes_lookup(genes, gid, &gi) != CG_LOOKUP_FOUND) gi = -1;
                        if (d == 0) st.rows++;
                        if (gi < 0) {
                            if (d == 0) st.unresolved_rows++;
                            bool seen = false;
                            for (int u = 0; u < n_unknown && !seen; u++) seen = strcmp(unknown[u], gid) == 0;
                            if (!seen) {
                                char **nu = realloc(unknown, (size_t)(n_unknown + 1) * sizeof *nu);
                                if (!nu) {
                                    s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
                                    break;
                                }
                                unknown = nu;
                                unknown[n_unknown++] = (char *)gid;
                            }
                            continue;
                        }
                        if (d == 0) st.pairs++;
                        tgenes[nt++] = gi;
                        if (!ev_push(&gpr, gi, (int32_t)node, 0.0f) || !ev_push(&gpr_rev, (int32_t)node, gi, 0.0f))
                            s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
                    }
                for (int j = 0; j < rx->n_stoich && s == CG_OK; j++) {
                    /* signed stoichiometry: consumed -|c|, produced +|c|; roles swap for the reverse node */
                    float a = (float)(d ? -rx->coef[j] : rx->coef[j]);
                    if (!ev_push(&rmr, (int32_t)node, rx->met[j], a) || !ev_push(&rmr_rev, rx->met[j], (int32_t)node, a))
                        s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
                }
                tptr[++node] = nt;
            }
        }
    }
    st.unresolved_names = n_unknown;
    for (int u = 0; u < n_unknown && u < CG_SOURCE_EXAMPLES; u++)
        snprintf(st.examples[u], sizeof st.examples[u], "%s", unknown[u]);
    free(unknown);
    if (s == CG_OK) {
        g->n_nodes[CG_REACTION] = node;
        g->reaction_gem = rgem;
        g->reaction_direction = rdir;
        g->reaction_term_ptr = tptr;
        g->reaction_term_genes = tgenes;
        if (!strbuf_finish(g, &names, &g->reaction_node_name)) s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
    }
    if (s == CG_OK && !cg_graph_add_source(g, &st)) s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
    if (s == CG_OK) s = make_relation(g, CG_REL_GPR, gpr.e, gpr.n, false, NULL, NULL);
    if (s == CG_OK) s = make_relation(g, CG_REL_GPR_REV, gpr_rev.e, gpr_rev.n, false, NULL, NULL);
    if (s == CG_OK) s = make_relation(g, CG_REL_RMR, rmr.e, rmr.n, false, NULL, NULL);
    if (s == CG_OK) s = make_relation(g, CG_REL_RMR_REV, rmr_rev.e, rmr_rev.n, false, NULL, NULL);
    free(names.off);
    free(names.bytes);
    free(gpr.e);
    free(gpr_rev.e);
    free(rmr.e);
    free(rmr_rev.e);
    return s;
}

/* Marks the optional relations asked for in want (indexed like cg_relation_descs); true when any. */
static cg_status wanted_relations(const char *const *relations, int n_relations, bool *want, bool *any) {
    int n_known = 0;
    const cg_relation_desc *known = cg_relation_descs(&n_known);
    *any = false;
    if (n_relations > 0 && !relations) return cg_error(CG_ERR_INVALID_ARG, "graph: relations is NULL");
    for (int i = 0; i < n_relations; i++) {
        const char *name = relations[i] ? relations[i] : "(null)";
        const cg_relation_desc *d = cg_relation_desc_find(name);
        if (strcmp(name, "all") == 0) {
            for (int k = 0; k < n_known; k++) want[k] |= !known[k].builtin;
        } else if (d) {
            want[d - known] |= !d->builtin; /* a default relation is always there */
        } else {
            char list[1024];
            size_t used = 0;
            for (int k = 0; k < n_known; k++)
                if (!known[k].builtin)
                    used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0, "%s, ",
                                             known[k].name);
            return cg_error(CG_ERR_INVALID_ARG, "graph: unknown relation '%s' (optional relations: %sall)", name,
                            used < sizeof list ? list : "");
        }
    }
    for (int k = 0; k < n_known; k++) *any |= want[k];
    return CG_OK;
}

cg_status cg_graph_build(const char *data_dir, const char *recipe, cg_graph **out) {
    return cg_graph_build_ex(data_dir, recipe, NULL, 0, out);
}

cg_status cg_graph_build_ex(const char *data_dir, const char *recipe, const char *const *relations, int n_relations,
                            cg_graph **out) {
    *out = NULL;
    if (!recipe) recipe = "default";
    if (!cg_recipe_known(recipe))
        return cg_error(CG_ERR_INVALID_ARG, "graph: unknown recipe '%s' (known: default, yeastract2013)", recipe);
    bool want[CG_MAX_RELATIONS] = {false}, any_optional = false;
    cg_status s0 = wanted_relations(relations, n_relations, want, &any_optional);
    if (s0 != CG_OK) return s0;
    cg_graph *g = calloc(1, sizeof *g);
    cJSON *files = cJSON_CreateObject();
    if (!g || !files) {
        free(g);
        cJSON_Delete(files);
        return cg_error(CG_ERR_NOMEM, "graph: out of memory");
    }
    g->recipe = strdup(recipe);
    cg_genes *genes = NULL;
    cg_gem gem;
    memset(&gem, 0, sizeof gem);
    char path[4096];
    edge_vec phys = {0}, reg = {0};

    /* genes */
    snprintf(path, sizeof path, "%s/sgd/SGD_features.tab", data_dir);
    cg_status s = g->recipe ? cg_genes_load(path, &genes) : cg_error(CG_ERR_NOMEM, "graph: out of memory");
    if (s == CG_OK) s = cg_graph_file_checksum(path, files, "sgd/SGD_features.tab");
    if (s == CG_OK) {
        g->n_nodes[CG_GENE] = cg_genes_count(genes);
        s = strtab_from(g, &g->gene_name, g->n_nodes[CG_GENE], get_sys, genes);
    }
    if (s == CG_OK) s = strtab_from(g, &g->gene_standard, g->n_nodes[CG_GENE], get_std, genes);
    if (s == CG_OK) s = strtab_from(g, &g->gene_aliases, g->n_nodes[CG_GENE], get_alias, genes);
    if (s == CG_OK) s = strtab_from(g, &g->gene_qualifier, g->n_nodes[CG_GENE], get_qual, genes);

    /* physical: STRING v11 binding U Krogan 2006 U Tarassov 2008, undirected */
    if (s == CG_OK)
        s = read_network(g, data_dir, "string/v11/4932.protein.actions.v11.0.txt.gz", cg_read_string11_binding, genes,
                         &phys, true, files);
    if (s == CG_OK) s = read_network(g, data_dir, "ppi/Krogan-2006.txt", cg_read_krogan2006, genes, &phys, true, files);
    if (s == CG_OK)
        s = read_network(g, data_dir, "ppi/Tarassov-2008-PCA.tsv", cg_read_tarassov2008, genes, &phys, true, files);
    if (s == CG_OK) s = finish_gene_relation(g, CG_REL_PHYSICAL, &phys, "physical: union (directed pairs)");

    /* regulatory: TF -> target */
    if (s == CG_OK) {
        if (strcmp(recipe, "yeastract2013") == 0)
            s = read_network(g, data_dir, "regulation/RegulationTwoColumnTable_Documented_2013927.tsv",
                             cg_read_yeastract_2013, genes, &reg, false, files);
        else
            s = read_network(g, data_dir,
                             "regulation/yeastract-2020/"
                             "DNABinding_AND_Expr_TF_act_OR_inh_RegulationMatrix_Documented_2020511.csv.gz",
                             cg_read_yeastract_matrix, genes, &reg, false, files);
    }
    if (s == CG_OK) s = finish_gene_relation(g, CG_REL_REGULATORY, &reg, "regulatory: TF -> target pairs");

    /* metabolism */
    if (s == CG_OK) {
        snprintf(path, sizeof path, "%s/yeast-gem/yeast-GEM.yml", data_dir);
        s = cg_gem_load(path, &gem);
        if (s == CG_OK) s = cg_graph_file_checksum(path, files, "yeast-gem/yeast-GEM.yml");
    }
    if (s == CG_OK) {
        g->n_nodes[CG_METABOLITE] = gem.n_metabolites;
        s = strtab_from(g, &g->metabolite_id, gem.n_metabolites, get_met_id, &gem);
    }
    if (s == CG_OK) s = strtab_from(g, &g->metabolite_compartment, gem.n_metabolites, get_met_comp, &gem);
    if (s == CG_OK) s = strtab_from(g, &g->gem_reaction_id, gem.n_reactions, get_rxn_id, &gem);
    if (s == CG_OK) s = strtab_from(g, &g->gem_reaction_name, gem.n_reactions, get_rxn_name, &gem);
    if (s == CG_OK) s = build_metabolism(g, &gem, genes);
    if (s == CG_OK) g->n_relations = CG_RELATIONS;

    /* optional relations, after the defaults (which they leave unchanged) */
    if (s == CG_OK && any_optional) s = cg_graph_build_optional(g, data_dir, genes, want, files);

    if (s == CG_OK) {
        g->sources_json = cJSON_PrintUnformatted(files);
        if (!g->sources_json) s = cg_error(CG_ERR_NOMEM, "graph: out of memory");
    }
    free(phys.e);
    free(reg.e);
    cJSON_Delete(files);
    cg_gem_free(&gem);
    cg_genes_free(genes);
    if (s != CG_OK) {
        cg_graph_free(g);
        return s;
    }
    *out = g;
    return CG_OK;
}

cg_status cg_graph_genes(const cg_graph *g, cg_genes **out) {
    int64_t n = g->n_nodes[CG_GENE];
    const char **cols = malloc(4 * ((size_t)n + 1) * sizeof *cols);
    if (!cols) return cg_error(CG_ERR_NOMEM, "graph: out of memory");
    const char **sys = cols, **std = cols + n, **qual = cols + 2 * n, **al = cols + 3 * n;
    for (int64_t i = 0; i < n; i++) {
        sys[i] = cg_graph_node_name(g, CG_GENE, i);
        std[i] = cg_graph_gene_standard_name(g, (int32_t)i);
        qual[i] = cg_graph_gene_qualifier(g, (int32_t)i);
        al[i] = cg_graph_gene_aliases(g, (int32_t)i);
    }
    cg_status s = cg_genes_create((int32_t)n, sys, std, qual, al, out);
    free(cols);
    return s;
}
