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

const char *cg_node_type_name(cg_node_type t) { return (unsigned)t < CG_NODE_TYPES ? NODE_TYPE_NAMES[t] : "?"; }

static int node_type_from_name(const char *name) {
    for (int t = 0; name && t < CG_NODE_TYPES; t++)
        if (strcmp(name, NODE_TYPE_NAMES[t]) == 0) return t;
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
    /* the defaults first, exactly as before relations were data: a default graph keeps its checksum */
    for (int r = 0; r < CG_RELATIONS; r++) {
        const cg_relation *rel = &g->rel[r];
        c = crc32(c, (const Bytef *)rel->src, (uInt)(rel->n_edges * sizeof(int32_t)));
        c = crc32(c, (const Bytef *)rel->dst, (uInt)(rel->n_edges * sizeof(int32_t)));
        if (rel->attr) c = crc32(c, (const Bytef *)rel->attr, (uInt)(rel->n_edges * rel->attr_width * sizeof(float)));
    }
    c = crc32(c, (const Bytef *)g->gene_name.bytes, (uInt)g->gene_name.off[g->gene_name.n]);
    c = crc32(c, (const Bytef *)g->reaction_node_name.bytes, (uInt)g->reaction_node_name.off[g->reaction_node_name.n]);
    /* then each optional relation with its description */
    for (int r = CG_RELATIONS; r < g->n_relations; r++) {
        const cg_relation *rel = &g->rel[r];
        int32_t head[4] = {(int32_t)rel->src_type, (int32_t)rel->dst_type, rel->directed, rel->attr_width};
        c = crc32(c, (const Bytef *)rel->name, (uInt)strlen(rel->name) + 1);
        c = crc32(c, (const Bytef *)head, sizeof head);
        c = crc32(c, (const Bytef *)rel->src, (uInt)(rel->n_edges * sizeof(int32_t)));
        c = crc32(c, (const Bytef *)rel->dst, (uInt)(rel->n_edges * sizeof(int32_t)));
        if (rel->attr) c = crc32(c, (const Bytef *)rel->attr, (uInt)(rel->n_edges * rel->attr_width * sizeof(float)));
    }
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
        cJSON_AddNumberToObject(o, "self_pairs", (double)s->self_pairs);
        cJSON_AddNumberToObject(o, "duplicates", (double)s->duplicates);
        cJSON_AddNumberToObject(o, "mirrored", (double)s->mirrored);
        cJSON_AddNumberToObject(o, "weight_conflicts", (double)s->weight_conflicts);
        cJSON_AddNumberToObject(o, "edges", (double)s->edges);
        cJSON_AddStringToObject(o, "examples", s->examples);
        cJSON_AddItemToArray(arr, o);
    }
    char *txt = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return txt;
}

/* the metadata "relations": [{"name", "src", "dst", "directed", "attr_width"[, "attr"]}, ...] in index order */
static char *relations_json(const cg_graph *g) {
    cJSON *arr = cJSON_CreateArray();
    for (int r = 0; arr && r < g->n_relations; r++) {
        const cg_relation *rel = &g->rel[r];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", rel->name);
        cJSON_AddStringToObject(o, "src", cg_node_type_name(rel->src_type));
        cJSON_AddStringToObject(o, "dst", cg_node_type_name(rel->dst_type));
        cJSON_AddBoolToObject(o, "directed", rel->directed);
        cJSON_AddNumberToObject(o, "attr_width", rel->attr_width);
        if (rel->attr_width > 0) cJSON_AddStringToObject(o, "attr", rel->attr_name);
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
    for (int r = 0; r < g->n_relations && s == CG_OK; r++) {
        const cg_relation *rel = &g->rel[r];
        int64_t n1 = g->n_nodes[rel->dst_type] + 1, e = rel->n_edges, ew[2] = {rel->n_edges, rel->attr_width};
        snprintf(name, sizeof name, "%s.rowptr", rel->name);
        s = cg_safetensors_writer_add(&w, name, CG_ST_I64, 1, &n1, rel->rowptr);
        snprintf(name, sizeof name, "%s.src", rel->name);
        if (s == CG_OK) s = cg_safetensors_writer_add(&w, name, CG_ST_I32, 1, &e, rel->src);
        snprintf(name, sizeof name, "%s.dst", rel->name);
        if (s == CG_OK) s = cg_safetensors_writer_add(&w, name, CG_ST_I32, 1, &e, rel->dst);
        /* a 1-wide attribute is a vector [E] (as rmr.stoichiometry always was), a wider one [E, width] */
        snprintf(name, sizeof name, "%s.%s", rel->name, rel->attr_name ? rel->attr_name : "");
        if (s == CG_OK && rel->attr_width > 0)
            s = cg_safetensors_writer_add(&w, name, CG_ST_F32, rel->attr_width == 1 ? 1 : 2, ew, rel->attr);
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
    char *stats = stats_json(g), *rels = relations_json(g);
    if (s == CG_OK && (!stats || !rels)) s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "format", GRAPH_FORMAT);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "recipe", cg_graph_recipe(g));
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "relations", rels);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "sources", cg_graph_sources_json(g));
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "build", stats);
    cJSON_free(stats);
    cJSON_free(rels);
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
    /* the tables are used in place: a tensor not aligned to its element size would be read misaligned */
    if (info.numel > 0 && (uintptr_t)info.data % (uintptr_t)cg_st_dtype_size(dtype) != 0) {
        *s = cg_error(CG_ERR_FORMAT,
                      "%s: tensor '%s' starts at data offset %llu, not a multiple of its %d-byte %s elements", path,
                      name, (unsigned long long)info.offset, cg_st_dtype_size(dtype), cg_st_dtype_name(dtype));
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
    /* node indices are int32 everywhere (edges, genotypes) */
    if (noff < 1 || t->n > INT32_MAX) {
        *s = cg_error(CG_ERR_FORMAT, "%s: string table '%s' has %lld offsets, expected 1 to %lld", path, prefix,
                      (long long)noff, (long long)INT32_MAX + 1);
        return;
    }
    if (t->off[0] != 0 || t->off[t->n] != nb) {
        *s = cg_error(CG_ERR_FORMAT, "%s: string table '%s' is inconsistent: offsets run from %lld to %lld, expected 0 "
                      "to its %lld bytes", path, prefix, (long long)t->off[0], (long long)t->off[t->n], (long long)nb);
        return;
    }
    /* every string i is off[i] .. off[i+1]-1, inside the bytes, non-empty and NUL-terminated: each offset is
     * checked against the bytes before a byte is read through it */
    for (int64_t i = 0; i < t->n; i++) {
        int64_t lo = t->off[i], hi = t->off[i + 1];
        if (!(hi > lo && hi <= nb)) {
            *s = cg_error(CG_ERR_FORMAT, "%s: string table '%s' is inconsistent: offset %lld is %lld after %lld (the "
                          "table has %lld bytes)", path, prefix, (long long)(i + 1), (long long)hi, (long long)lo,
                          (long long)nb);
            return;
        }
        if (t->bytes[hi - 1] != '\0') {
            *s = cg_error(CG_ERR_FORMAT, "%s: string table '%s' is inconsistent: string %lld is not NUL-terminated",
                          path, prefix, (long long)i);
            return;
        }
    }
}

/* a count stored in the metadata JSON: 0 when absent or not a finite number in range */
static int64_t json_count(const cJSON *item) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    return v >= -9.0e15 && v <= 9.0e15 ? (int64_t)v : 0;
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
        /* fields a file does not have (written by an older cellgraph) read as 0 */
#define NUM(field) src->field = json_count(cJSON_GetObjectItem(o, #field))
        NUM(rows); NUM(pairs); NUM(unresolved_rows); NUM(unresolved_names); NUM(ambiguous_names);
        NUM(dropped_columns); NUM(skipped_other); NUM(self_pairs); NUM(duplicates); NUM(mirrored);
        NUM(weight_conflicts); NUM(edges);
#undef NUM
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(o, "name"));
        const char *ex = cJSON_GetStringValue(cJSON_GetObjectItem(o, "examples"));
        snprintf(src->name, sizeof src->name, "%s", nm ? nm : "?");
        snprintf(src->examples, sizeof src->examples, "%s", ex ? ex : "");
    }
    cJSON_Delete(arr);
    return CG_OK;
}

static void set_desc(cg_relation *rel, const cg_relation_desc *d) {
    rel->name = d->name;
    rel->src_type = d->src_type;
    rel->dst_type = d->dst_type;
    rel->directed = d->directed;
    rel->attr_width = d->attr_width;
    rel->attr_name = d->attr_name;
}

/* a relation or attribute name: 1..CG_RELATION_NAME_MAX of [a-z0-9_] (they become tensor names) */
static bool valid_name(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > CG_RELATION_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return false;
    return true;
}

static void desc_text(char *buf, size_t len, const char *name, int src, int dst, bool directed, int width,
                      const char *attr) {
    snprintf(buf, len, "(%s, %s, %s), %s, attribute %s[%d]", cg_node_type_name(src), name, cg_node_type_name(dst),
             directed ? "directed" : "undirected", width > 0 && attr ? attr : "none", width);
}

/* Fills the descriptions of g's relations from the metadata "relations" (NULL: a file written before
 * relations were data, which holds the six defaults). */
static cg_status describe_relations(cg_graph *g, const char *json, const char *path) {
    int n_known = 0;
    const cg_relation_desc *known = cg_relation_descs(&n_known);
    if (!json) {
        for (int r = 0; r < CG_RELATIONS; r++) set_desc(&g->rel[r], &known[r]);
        g->n_relations = CG_RELATIONS;
        return CG_OK;
    }
    cJSON *arr = cJSON_Parse(json);
    cg_status s = CG_OK;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (n < 0) s = cg_error(CG_ERR_FORMAT, "%s: metadata 'relations' is not a JSON array", path);
    else if (n < CG_RELATIONS || n > CG_MAX_RELATIONS)
        s = cg_error(CG_ERR_FORMAT, "%s: metadata 'relations' lists %d relations, expected %d to %d", path, n,
                     CG_RELATIONS, CG_MAX_RELATIONS);
    for (int i = 0; i < n && s == CG_OK; i++) {
        const cJSON *o = cJSON_GetArrayItem(arr, i);
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(o, "name"));
        const char *srcn = cJSON_GetStringValue(cJSON_GetObjectItem(o, "src"));
        const char *dstn = cJSON_GetStringValue(cJSON_GetObjectItem(o, "dst"));
        const char *attr = cJSON_GetStringValue(cJSON_GetObjectItem(o, "attr"));
        const cJSON *dir = cJSON_GetObjectItem(o, "directed"), *wj = cJSON_GetObjectItem(o, "attr_width");
        if (!name || !srcn || !dstn || !cJSON_IsBool(dir) || !cJSON_IsNumber(wj)) {
            s = cg_error(CG_ERR_FORMAT,
                         "%s: relation %d of metadata 'relations' (%s) lacks one of name, src, dst, directed, "
                         "attr_width",
                         path, i, name ? name : "no name");
            break;
        }
        if (!valid_name(name)) {
            s = cg_error(CG_ERR_FORMAT, "%s: relation name '%.80s' is not valid (1 to %d of a-z, 0-9, _)", path, name,
                         CG_RELATION_NAME_MAX);
            break;
        }
        int st_ = node_type_from_name(srcn), dt = node_type_from_name(dstn);
        double wd = wj->valuedouble;
        int width = wd >= 0 && wd <= CG_MAX_ATTR_WIDTH && wd == (int)wd ? (int)wd : -1;
        bool directed = cJSON_IsTrue(dir);
        if (st_ < 0 || dt < 0)
            s = cg_error(CG_ERR_FORMAT, "%s: relation '%s': unknown node type '%.40s' (gene, reaction, metabolite)",
                         path, name, st_ < 0 ? srcn : dstn);
        else if (width < 0)
            s = cg_error(CG_ERR_FORMAT, "%s: relation '%s': attribute width %g is not an integer in 0..%d", path, name,
                         wd, CG_MAX_ATTR_WIDTH);
        else if (width > 0 && !valid_name(attr))
            s = cg_error(CG_ERR_FORMAT, "%s: relation '%s': attribute of width %d without a valid name", path, name,
                         width);
        else if (!directed && st_ != dt)
            s = cg_error(CG_ERR_FORMAT, "%s: relation '%s' is undirected between different node types (%s, %s)", path,
                         name, srcn, dstn);
        for (int j = 0; j < i && s == CG_OK; j++)
            if (strcmp(g->rel[j].name, name) == 0) s = cg_error(CG_ERR_FORMAT, "%s: relation '%s' is listed twice", path, name);
        if (s != CG_OK) break;
        const cg_relation_desc *d = cg_relation_desc_find(name);
        if (i < CG_RELATIONS && d != &known[i]) {
            s = cg_error(CG_ERR_FORMAT,
                         "%s: relation %d is '%s', expected the default relation '%s' (the six defaults come first, "
                         "in order)",
                         path, i, name, known[i].name);
            break;
        }
        if (d && (d->src_type != (cg_node_type)st_ || d->dst_type != (cg_node_type)dt || d->directed != directed ||
                  d->attr_width != width || (width > 0 && strcmp(d->attr_name, attr) != 0))) {
            char have[256], want[256];
            desc_text(have, sizeof have, name, st_, dt, directed, width, attr);
            desc_text(want, sizeof want, d->name, d->src_type, d->dst_type, d->directed, d->attr_width, d->attr_name);
            s = cg_error(CG_ERR_FORMAT, "%s: relation '%s' is described as %s, but cellgraph knows it as %s", path, name,
                         have, want);
            break;
        }
        cg_relation *rel = &g->rel[i];
        if (d) {
            set_desc(rel, d);
        } else {
            /* a relation this cellgraph does not know: kept as the file describes it */
            rel->name = cg_graph_own(g, strdup(name));
            rel->attr_name = width > 0 ? cg_graph_own(g, strdup(attr)) : NULL;
            rel->src_type = (cg_node_type)st_;
            rel->dst_type = (cg_node_type)dt;
            rel->directed = directed;
            rel->attr_width = width;
            if (!rel->name || (width > 0 && !rel->attr_name)) s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
        }
        g->n_relations = i + 1;
    }
    cJSON_Delete(arr);
    return s;
}

/* Maps relation rel's tensors and validates them: the CSR (or kernels would read out of bounds), and for
 * an undirected relation rows sorted by source and every edge's reverse present with the same attribute. */
static void load_relation(cg_graph *g, const char *path, cg_relation *rel, cg_status *s) {
    cg_safetensors *st = g->st;
    char name[160];
    int64_t nd = g->n_nodes[rel->dst_type], ns = g->n_nodes[rel->src_type], e = 0;
    snprintf(name, sizeof name, "%s.src", rel->name);
    rel->src = need(st, path, name, CG_ST_I32, -1, &e, s);
    rel->n_edges = e;
    snprintf(name, sizeof name, "%s.dst", rel->name);
    rel->dst = need(st, path, name, CG_ST_I32, e, NULL, s);
    snprintf(name, sizeof name, "%s.rowptr", rel->name);
    rel->rowptr = need(st, path, name, CG_ST_I64, nd + 1, NULL, s);
    rel->attr = NULL;
    if (rel->attr_width > 0 && *s == CG_OK) {
        snprintf(name, sizeof name, "%s.%s", rel->name, rel->attr_name);
        if (rel->attr_width == 1) {
            rel->attr = need(st, path, name, CG_ST_F32, e, NULL, s);
        } else {
            cg_safetensors_info info;
            if (cg_safetensors_find(st, name, &info) != CG_OK)
                *s = cg_error(CG_ERR_FORMAT, "%s: not a cellgraph graph file: tensor '%s' is missing", path, name);
            else if (info.dtype != CG_ST_F32 || info.ndim != 2 || info.shape[0] != e || info.shape[1] != rel->attr_width)
                *s = cg_error(CG_ERR_FORMAT, "%s: tensor '%s' is not F32 [%lld, %d] (relation '%s')", path, name,
                              (long long)e, rel->attr_width, rel->name);
            else
                rel->attr = info.data;
        }
    }
    if (*s != CG_OK) return;
    bool ok = rel->rowptr[0] == 0 && rel->rowptr[nd] == e;
    for (int64_t d = 0; ok && d < nd; d++) {
        ok = rel->rowptr[d + 1] >= rel->rowptr[d] && rel->rowptr[d + 1] <= e; /* before the edges are read */
        for (int64_t k = rel->rowptr[d]; ok && k < rel->rowptr[d + 1]; k++)
            ok = rel->dst[k] == d && rel->src[k] >= 0 && rel->src[k] < ns;
    }
    if (!ok) {
        *s = cg_error(CG_ERR_FORMAT, "%s: relation '%s' has an inconsistent CSR", path, rel->name);
        return;
    }
    if (rel->directed) return;
    for (int64_t k = 1; k < e; k++)
        if (rel->dst[k] == rel->dst[k - 1] && rel->src[k] <= rel->src[k - 1]) {
            *s = cg_error(CG_ERR_FORMAT, "%s: relation '%s': edges into node %d are not sorted by source", path,
                          rel->name, rel->dst[k]);
            return;
        }
    /* Symmetry in one pass: visiting the edges s -> d in (d, s) order, the reverse edges d -> s of row s
     * come up in increasing d, which is the order row s is sorted in; cursor[s] walks row s alongside. */
    int64_t *cursor = malloc(((size_t)nd + 1) * sizeof *cursor);
    if (!cursor) {
        *s = cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
        return;
    }
    memcpy(cursor, rel->rowptr, ((size_t)nd + 1) * sizeof *cursor);
    int w = rel->attr_width;
    for (int64_t k = 0; k < e; k++) {
        int32_t a = rel->src[k], b = rel->dst[k];
        int64_t c = cursor[a]++;
        bool found = c < rel->rowptr[a + 1] && rel->src[c] == b;
        if (!found || (w > 0 && memcmp(rel->attr + k * w, rel->attr + c * w, (size_t)w * sizeof(float)) != 0)) {
            *s = cg_error(CG_ERR_FORMAT, "%s: relation '%s' is undirected but edge %d -> %d has %s", path, rel->name,
                          a, b, found ? "a reverse with a different attribute" : "no reverse edge");
            break;
        }
    }
    free(cursor);
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
        /* fmt points into the mapped header: format the message before the file is closed */
        s = cg_error(CG_ERR_FORMAT, "%s: not a cellgraph graph file (metadata format is '%.80s', expected '%s')", path,
                     fmt ? fmt : "(none)", GRAPH_FORMAT);
        cg_graph_free(g);
        return s;
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
    if (s == CG_OK) s = describe_relations(g, cg_safetensors_metadata(st, "relations"), path);
    for (int r = 0; r < g->n_relations && s == CG_OK; r++) load_relation(g, path, &g->rel[r], &s);
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
