/* The cell graph: accessors, the safetensors file format, the data folder. Construction is in build.c. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "graph/graph_internal.h"

#define GRAPH_FORMAT "cellgraph.graph/1"

static const char *const NODE_TYPE_NAMES[CG_NODE_TYPES] = {"gene", "reaction", "metabolite"};
static const char *const REL_NAMES[CG_RELATIONS] = {"physical", "regulatory", "gpr", "gpr_rev", "rmr", "rmr_rev"};
static const cg_node_type REL_SRC[CG_RELATIONS] = {CG_GENE, CG_GENE, CG_GENE, CG_REACTION, CG_REACTION, CG_METABOLITE};
static const cg_node_type REL_DST[CG_RELATIONS] = {CG_GENE, CG_GENE, CG_REACTION, CG_GENE, CG_METABOLITE, CG_REACTION};

const char *cg_node_type_name(cg_node_type t) { return (unsigned)t < CG_NODE_TYPES ? NODE_TYPE_NAMES[t] : "?"; }

int cg_graph_relation_index(const char *name) {
    for (int r = 0; r < CG_RELATIONS; r++)
        if (strcmp(name, REL_NAMES[r]) == 0) return r;
    return -1;
}

void *cg_graph_own(cg_graph *g, void *p) {
    if (!p) return NULL;
    if (g->n_owned == g->cap_owned) {
        int cap = g->cap_owned ? 2 * g->cap_owned : 64;
        void **n = realloc(g->owned, (size_t)cap * sizeof *n);
        if (!n) {
            free(p);
            return NULL;
        }
        g->owned = n;
        g->cap_owned = cap;
    }
    g->owned[g->n_owned++] = p;
    return p;
}

void cg_graph_free(cg_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_owned; i++) free(g->owned[i]);
    free(g->owned);
    free(g->recipe);
    free(g->sources_json);
    free(g->sources);
    if (g->st) cg_safetensors_close(g->st);
    free(g);
}

/* ------------------------------------------------------------------ accessors */

static const char *strtab_get(const cg_strtab *t, int64_t i) {
    return i >= 0 && i < t->n ? t->bytes + t->off[i] : "";
}

int64_t cg_graph_num_nodes(const cg_graph *g, cg_node_type t) { return (unsigned)t < CG_NODE_TYPES ? g->n_nodes[t] : 0; }
const cg_relation *cg_graph_relation(const cg_graph *g, int rel) {
    return rel >= 0 && rel < CG_RELATIONS ? &g->rel[rel] : NULL;
}

const char *cg_graph_node_name(const cg_graph *g, cg_node_type t, int64_t i) {
    switch (t) {
    case CG_GENE: return strtab_get(&g->gene_name, i);
    case CG_REACTION: return strtab_get(&g->reaction_node_name, i);
    case CG_METABOLITE: return strtab_get(&g->metabolite_id, i);
    default: return "";
    }
}
const char *cg_graph_gene_standard_name(const cg_graph *g, int32_t gene) { return strtab_get(&g->gene_standard, gene); }
const char *cg_graph_gene_aliases(const cg_graph *g, int32_t gene) { return strtab_get(&g->gene_aliases, gene); }
const char *cg_graph_gene_qualifier(const cg_graph *g, int32_t gene) { return strtab_get(&g->gene_qualifier, gene); }
const char *cg_graph_reaction_id(const cg_graph *g, int64_t node) {
    return node >= 0 && node < g->n_nodes[CG_REACTION] ? strtab_get(&g->gem_reaction_id, g->reaction_gem[node]) : "";
}
const char *cg_graph_reaction_name(const cg_graph *g, int64_t node) {
    return node >= 0 && node < g->n_nodes[CG_REACTION] ? strtab_get(&g->gem_reaction_name, g->reaction_gem[node]) : "";
}
int cg_graph_reaction_direction(const cg_graph *g, int64_t node) {
    return node >= 0 && node < g->n_nodes[CG_REACTION] ? g->reaction_direction[node] : 0;
}
void cg_graph_reaction_genes(const cg_graph *g, int64_t node, const int32_t **genes, int64_t *n_genes) {
    if (node < 0 || node >= g->n_nodes[CG_REACTION]) {
        *genes = NULL;
        *n_genes = 0;
        return;
    }
    *genes = g->reaction_term_genes + g->reaction_term_ptr[node];
    *n_genes = g->reaction_term_ptr[node + 1] - g->reaction_term_ptr[node];
}
const char *cg_graph_metabolite_compartment(const cg_graph *g, int64_t node) {
    return strtab_get(&g->metabolite_compartment, node);
}
const char *cg_graph_recipe(const cg_graph *g) { return g->recipe ? g->recipe : ""; }
const char *cg_graph_sources_json(const cg_graph *g) { return g->sources_json ? g->sources_json : "{}"; }
int cg_graph_num_sources(const cg_graph *g) { return g->n_sources; }
const cg_graph_source *cg_graph_source_at(const cg_graph *g, int i) {
    return i >= 0 && i < g->n_sources ? &g->sources[i] : NULL;
}

uint32_t cg_graph_checksum(const cg_graph *g) {
    uLong c = crc32(0L, Z_NULL, 0);
    for (int t = 0; t < CG_NODE_TYPES; t++) c = crc32(c, (const Bytef *)&g->n_nodes[t], sizeof g->n_nodes[t]);
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_relation *rel = &g->rel[r];
        c = crc32(c, (const Bytef *)rel->src, (uInt)(rel->n_edges * sizeof(int32_t)));
        c = crc32(c, (const Bytef *)rel->dst, (uInt)(rel->n_edges * sizeof(int32_t)));
        if (rel->attr) c = crc32(c, (const Bytef *)rel->attr, (uInt)(rel->n_edges * sizeof(float)));
    }
    c = crc32(c, (const Bytef *)g->gene_name.bytes, (uInt)g->gene_name.off[g->gene_name.n]);
    c = crc32(c, (const Bytef *)g->reaction_node_name.bytes, (uInt)g->reaction_node_name.off[g->reaction_node_name.n]);
    return (uint32_t)c;
}

/* ------------------------------------------------------------------ the data folder */

cg_status cg_data_dir(const char *dir, char *buf, int len) {
    const char *how = "--data";
    if (!dir || !*dir) {
        dir = getenv("CELLGRAPH_DATA");
        how = "$CELLGRAPH_DATA";
    }
    if (!dir || !*dir) {
#ifdef CG_DEFAULT_DATA_DIR
        dir = CG_DEFAULT_DATA_DIR;
        how = "the default location beside the repository";
#else
        return cg_error(CG_ERR_NOT_FOUND, "no yeast data folder given: pass --data DIR or set CELLGRAPH_DATA");
#endif
    }
    snprintf(buf, len, "%s", dir);
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/sgd/SGD_features.tab", dir);
    struct stat sb;
    if (stat(probe, &sb) != 0)
        return cg_error(CG_ERR_NOT_FOUND,
                        "yeast data not found: looked for sgd/SGD_features.tab in '%s' (%s): %s; point cellgraph at "
                        "the data folder with --data DIR or the CELLGRAPH_DATA environment variable",
                        dir, how, strerror(errno));
    return CG_OK;
}

bool cg_recipe_known(const char *recipe) {
    return recipe && (strcmp(recipe, "default") == 0 || strcmp(recipe, "yeastract2013") == 0);
}

/* ------------------------------------------------------------------ saving */

static cg_status add_strtab(cg_safetensors_writer *w, const char *prefix, const cg_strtab *t) {
    char name[96];
    int64_t n1 = t->n + 1, nb = t->off[t->n];
    snprintf(name, sizeof name, "%s.offsets", prefix);
    cg_status s = cg_safetensors_writer_add(w, name, CG_ST_I64, 1, &n1, t->off);
    if (s != CG_OK) return s;
    snprintf(name, sizeof name, "%s.bytes", prefix);
    return cg_safetensors_writer_add(w, name, CG_ST_U8, 1, &nb, t->bytes);
}

static char *stats_json(const cg_graph *g) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < g->n_sources; i++) {
        const cg_graph_source *s = &g->sources[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", s->name);
        cJSON_AddNumberToObject(o, "rows", (double)s->rows);
        cJSON_AddNumberToObject(o, "pairs", (double)s->pairs);
        cJSON_AddNumberToObject(o, "unresolved_rows", (double)s->unresolved_rows);
        cJSON_AddNumberToObject(o, "unresolved_names", (double)s->unresolved_names);
        cJSON_AddNumberToObject(o, "ambiguous_names", (double)s->ambiguous_names);
        cJSON_AddNumberToObject(o, "dropped_columns", (double)s->dropped_columns);
        cJSON_AddNumberToObject(o, "skipped_other", (double)s->skipped_other);
        cJSON_AddStringToObject(o, "examples", s->examples);
        cJSON_AddItemToArray(arr, o);
    }
    char *txt = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return txt;
}

cg_status cg_graph_save(const cg_graph *g, const char *path) {
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    cg_status s = CG_OK;
    char name[96];
    for (int r = 0; r < CG_RELATIONS && s == CG_OK; r++) {
        const cg_relation *rel = &g->rel[r];
        int64_t n1 = g->n_nodes[rel->dst_type] + 1, e = rel->n_edges;
        snprintf(name, sizeof name, "%s.rowptr", rel->name);
        s = cg_safetensors_writer_add(&w, name, CG_ST_I64, 1, &n1, rel->rowptr);
        snprintf(name, sizeof name, "%s.src", rel->name);
        if (s == CG_OK) s = cg_safetensors_writer_add(&w, name, CG_ST_I32, 1, &e, rel->src);
        snprintf(name, sizeof name, "%s.dst", rel->name);
        if (s == CG_OK) s = cg_safetensors_writer_add(&w, name, CG_ST_I32, 1, &e, rel->dst);
        snprintf(name, sizeof name, "%s.stoichiometry", rel->name);
        if (s == CG_OK && rel->attr) s = cg_safetensors_writer_add(&w, name, CG_ST_F32, 1, &e, rel->attr);
    }
    int64_t nr = g->n_nodes[CG_REACTION], nr1 = nr + 1, nt = g->reaction_term_ptr[nr];
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "reaction.gem_index", CG_ST_I32, 1, &nr, g->reaction_gem);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "reaction.direction", CG_ST_I32, 1, &nr, g->reaction_direction);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "reaction.term_ptr", CG_ST_I64, 1, &nr1, g->reaction_term_ptr);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "reaction.term_genes", CG_ST_I32, 1, &nt, g->reaction_term_genes);
    struct { const char *prefix; const cg_strtab *t; } tabs[] = {
        {"gene.name", &g->gene_name},           {"gene.standard_name", &g->gene_standard},
        {"gene.aliases", &g->gene_aliases},     {"gene.qualifier", &g->gene_qualifier},
        {"reaction.name", &g->reaction_node_name}, {"gem_reaction.id", &g->gem_reaction_id},
        {"gem_reaction.name", &g->gem_reaction_name}, {"metabolite.name", &g->metabolite_id},
        {"metabolite.compartment", &g->metabolite_compartment},
    };
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0] && s == CG_OK; i++) s = add_strtab(&w, tabs[i].prefix, tabs[i].t);
    char *stats = stats_json(g);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "format", GRAPH_FORMAT);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "recipe", cg_graph_recipe(g));
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "sources", cg_graph_sources_json(g));
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "build", stats ? stats : "[]");
    cJSON_free(stats);
    if (s == CG_OK) s = cg_safetensors_writer_write(&w, path);
    cg_safetensors_writer_free(&w);
    return s;
}

/* ------------------------------------------------------------------ loading */

/* finds tensor `name` of dtype and element count n (n < 0: any), returning its data */
static const void *need(cg_safetensors *st, const char *path, const char *name, cg_st_dtype dtype, int64_t n,
                        int64_t *numel, cg_status *s) {
    if (*s != CG_OK) return NULL;
    cg_safetensors_info info;
    if (cg_safetensors_find(st, name, &info) != CG_OK) {
        *s = cg_error(CG_ERR_FORMAT, "%s: not a cellgraph graph file: tensor '%s' is missing", path, name);
        return NULL;
    }
    if (info.dtype != dtype || info.ndim != 1 || (n >= 0 && info.numel != n)) {
        *s = cg_error(CG_ERR_FORMAT, "%s: tensor '%s' is %s with %lld elements, expected 1-d %s%s", path, name,
                      cg_st_dtype_name(info.dtype), (long long)info.numel, cg_st_dtype_name(dtype),
                      n >= 0 ? " of the graph's size" : "");
        return NULL;
    }
    if (numel) *numel = info.numel;
    return info.data;
}

static void load_strtab(cg_safetensors *st, const char *path, const char *prefix, int64_t n, cg_strtab *t,
                        cg_status *s) {
    char a[96], b[96];
    snprintf(a, sizeof a, "%s.offsets", prefix);
    snprintf(b, sizeof b, "%s.bytes", prefix);
    int64_t noff = 0, nb = 0;
    t->off = need(st, path, a, CG_ST_I64, n >= 0 ? n + 1 : -1, &noff, s);
    t->bytes = need(st, path, b, CG_ST_U8, -1, &nb, s);
    if (*s != CG_OK) return;
    t->n = noff - 1;
    bool ok = noff >= 1 && t->off[0] == 0 && t->off[t->n] == nb;
    for (int64_t i = 0; ok && i < t->n; i++)
        ok = t->off[i + 1] > t->off[i] && t->bytes[t->off[i + 1] - 1] == '\0';
    if (!ok) *s = cg_error(CG_ERR_FORMAT, "%s: string table '%s' is inconsistent", path, prefix);
}

static cg_status parse_stats(cg_graph *g, const char *json, const char *path) {
    cJSON *arr = cJSON_Parse(json);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return cg_error(CG_ERR_FORMAT, "%s: metadata 'build' is not a JSON array", path);
    }
    int n = cJSON_GetArraySize(arr);
    g->sources = calloc(n > 0 ? n : 1, sizeof *g->sources);
    if (!g->sources) {
        cJSON_Delete(arr);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_GetArrayItem(arr, i);
        cg_graph_source *src = &g->sources[g->n_sources++];
#define NUM(field) src->field = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, #field))
        NUM(rows); NUM(pairs); NUM(unresolved_rows); NUM(unresolved_names); NUM(ambiguous_names);
        NUM(dropped_columns); NUM(skipped_other);
#undef NUM
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(o, "name"));
        const char *ex = cJSON_GetStringValue(cJSON_GetObjectItem(o, "examples"));
        snprintf(src->name, sizeof src->name, "%s", nm ? nm : "?");
        snprintf(src->examples, sizeof src->examples, "%s", ex ? ex : "");
    }
    cJSON_Delete(arr);
    return CG_OK;
}

cg_status cg_graph_load(const char *path, cg_graph **out) {
    *out = NULL;
    cg_graph *g = calloc(1, sizeof *g);
    if (!g) return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    cg_status s = cg_safetensors_open(path, &g->st);
    if (s != CG_OK) {
        free(g);
        return s;
    }
    cg_safetensors *st = g->st;
    const char *fmt = cg_safetensors_metadata(st, "format");
    if (!fmt || strcmp(fmt, GRAPH_FORMAT) != 0) {
        cg_graph_free(g);
        return cg_error(CG_ERR_FORMAT, "%s: not a cellgraph graph file (metadata format is '%s', expected '%s')", path,
                        fmt ? fmt : "(none)", GRAPH_FORMAT);
    }
    load_strtab(st, path, "gene.name", -1, &g->gene_name, &s);
    load_strtab(st, path, "reaction.name", -1, &g->reaction_node_name, &s);
    load_strtab(st, path, "metabolite.name", -1, &g->metabolite_id, &s);
    if (s == CG_OK) {
        g->n_nodes[CG_GENE] = g->gene_name.n;
        g->n_nodes[CG_REACTION] = g->reaction_node_name.n;
        g->n_nodes[CG_METABOLITE] = g->metabolite_id.n;
    }
    load_strtab(st, path, "gene.standard_name", g->n_nodes[CG_GENE], &g->gene_standard, &s);
    load_strtab(st, path, "gene.aliases", g->n_nodes[CG_GENE], &g->gene_aliases, &s);
    load_strtab(st, path, "gene.qualifier", g->n_nodes[CG_GENE], &g->gene_qualifier, &s);
    load_strtab(st, path, "gem_reaction.id", -1, &g->gem_reaction_id, &s);
    load_strtab(st, path, "gem_reaction.name", g->gem_reaction_id.n, &g->gem_reaction_name, &s);
    load_strtab(st, path, "metabolite.compartment", g->n_nodes[CG_METABOLITE], &g->metabolite_compartment, &s);
    int64_t nr = g->n_nodes[CG_REACTION], nt = 0;
    g->reaction_gem = need(st, path, "reaction.gem_index", CG_ST_I32, nr, NULL, &s);
    g->reaction_direction = need(st, path, "reaction.direction", CG_ST_I32, nr, NULL, &s);
    g->reaction_term_ptr = need(st, path, "reaction.term_ptr", CG_ST_I64, nr + 1, NULL, &s);
    g->reaction_term_genes = need(st, path, "reaction.term_genes", CG_ST_I32, -1, &nt, &s);
    if (s == CG_OK) {
        bool ok = g->reaction_term_ptr[0] == 0 && g->reaction_term_ptr[nr] == nt;
        for (int64_t i = 0; ok && i < nr; i++)
            ok = g->reaction_term_ptr[i + 1] >= g->reaction_term_ptr[i] && g->reaction_gem[i] >= 0 &&
                 g->reaction_gem[i] < g->gem_reaction_id.n && (g->reaction_direction[i] & ~1) == 0;
        for (int64_t i = 0; ok && i < nt; i++) ok = g->reaction_term_genes[i] >= 0 && g->reaction_term_genes[i] < g->n_nodes[CG_GENE];
        if (!ok) s = cg_error(CG_ERR_FORMAT, "%s: reaction node tables are inconsistent", path);
    }
    char name[96];
    for (int r = 0; r < CG_RELATIONS && s == CG_OK; r++) {
        cg_relation *rel = &g->rel[r];
        rel->name = REL_NAMES[r];
        rel->src_type = REL_SRC[r];
        rel->dst_type = REL_DST[r];
        int64_t nd = g->n_nodes[rel->dst_type], ns = g->n_nodes[rel->src_type], e = 0;
        snprintf(name, sizeof name, "%s.src", rel->name);
        rel->src = need(st, path, name, CG_ST_I32, -1, &e, &s);
        rel->n_edges = e;
        snprintf(name, sizeof name, "%s.dst", rel->name);
        rel->dst = need(st, path, name, CG_ST_I32, e, NULL, &s);
        snprintf(name, sizeof name, "%s.rowptr", rel->name);
        rel->rowptr = need(st, path, name, CG_ST_I64, nd + 1, NULL, &s);
        if (r == CG_REL_RMR || r == CG_REL_RMR_REV) {
            snprintf(name, sizeof name, "%s.stoichiometry", rel->name);
            rel->attr = need(st, path, name, CG_ST_F32, e, NULL, &s);
        }
        if (s != CG_OK) break;
        /* the CSR must be consistent, or kernels would read out of bounds */
        bool ok = rel->rowptr[0] == 0 && rel->rowptr[nd] == e;
        for (int64_t d = 0; ok && d < nd; d++) {
            ok = rel->rowptr[d + 1] >= rel->rowptr[d];
            for (int64_t k = rel->rowptr[d]; ok && k < rel->rowptr[d + 1]; k++)
                ok = rel->dst[k] == d && rel->src[k] >= 0 && rel->src[k] < ns;
        }
        if (!ok) s = cg_error(CG_ERR_FORMAT, "%s: relation '%s' has an inconsistent CSR", path, rel->name);
    }
    if (s == CG_OK) {
        const char *recipe = cg_safetensors_metadata(st, "recipe"), *srcs = cg_safetensors_metadata(st, "sources");
        const char *build = cg_safetensors_metadata(st, "build");
        g->recipe = strdup(recipe ? recipe : "");
        g->sources_json = strdup(srcs ? srcs : "{}");
        if (!g->recipe || !g->sources_json) s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
        if (s == CG_OK) s = parse_stats(g, build ? build : "[]", path);
    }
    if (s != CG_OK) {
        cg_graph_free(g);
        return s;
    }
    *out = g;
    return CG_OK;
}

/* a CSR over the relation, for the segment kernels of cellgraph/ops.h */
