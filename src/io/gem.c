/* Streaming reader of cobrapy YAML metabolic models (see cellgraph/gem.h).
 *
 * The reader pulls libyaml parser events one at a time (r->ev holds the current one) and walks the
 * document with a few small recursive-descent helpers:
 *
 *   map_begin / map_next   iterate the keys of a "map", written either as a YAML mapping or as an
 *                          !!omap sequence of (single-key) mappings; the key is copied to r->key
 *   skip_node              consume a value we do not need (any depth)
 *   value_str / value_num  read a scalar value
 *
 * Kept strings go to a chunked string pool (never moved, so pointers stay valid while arrays grow).
 * Stoichiometry entries keep the species id string until the whole file is read, then are resolved to
 * metabolite indices through a hash table, so sections may come in any order. Gene rules are parsed
 * (cg_gpr_parse) as soon as their reaction ends.
 */
#include "cellgraph/gem.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* ---------------------------------------------------------------------------------------------------
 * string pool and id hash tables
 * ------------------------------------------------------------------------------------------------- */

typedef struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    char data[];
} pool_block;

struct cg_gem_index {
    pool_block *strings; /* newest block first */
    int32_t *met_slots, *rxn_slots, *gene_slots; /* open addressing, -1 = empty */
    uint32_t met_mask, rxn_mask, gene_mask;
};

/* Copies s[0..len) plus a NUL into the pool; NULL when out of memory. */
static char *pool_str(cg_gem_index *ix, const char *s, size_t len) {
    pool_block *b = ix->strings;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > 65536 ? len + 1 : 65536;
        pool_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        ix->strings = nb;
        b = nb;
    }
    char *p = b->data + b->used;
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    b->used += len + 1;
    return p;
}

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* The id of record i of an array of structs whose first member is `const char *id`. */
static const char *id_at(const void *base, size_t stride, int i) {
    return *(const char *const *)(const void *)((const char *)base + (size_t)i * stride);
}

/* Builds an open-addressing table over n records. On a duplicate id sets *dup to the later record and
 * *first to the earlier one (else both -1). Errors: CG_ERR_NOMEM. */
static cg_status build_hash(const void *base, size_t stride, int n, int32_t **slots, uint32_t *mask, int *dup,
                            int *first) {
    *dup = *first = -1;
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)n) cap *= 2;
    int32_t *s = malloc(cap * sizeof *s);
    if (!s) return cg_error(CG_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < cap; i++) s[i] = -1;
    for (int i = 0; i < n; i++) {
        const char *id = id_at(base, stride, i);
        uint32_t h = hash_str(id) & (cap - 1);
        while (s[h] >= 0) {
            if (strcmp(id_at(base, stride, s[h]), id) == 0) {
                if (*dup < 0) {
                    *dup = i;
                    *first = s[h];
                }
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        if (s[h] < 0) s[h] = i;
    }
    *slots = s;
    *mask = cap - 1;
    return CG_OK;
}

static int hash_find(const int32_t *slots, uint32_t mask, const void *base, size_t stride, const char *id) {
    if (!slots || !id) return -1;
    uint32_t h = hash_str(id) & mask;
    while (slots[h] >= 0) {
        if (strcmp(id_at(base, stride, slots[h]), id) == 0) return slots[h];
        h = (h + 1) & mask;
    }
    return -1;
}

int cg_gem_metabolite_index(const cg_gem *g, const char *id) {
    if (!g || !g->index) return -1;
    return hash_find(g->index->met_slots, g->index->met_mask, g->metabolites, sizeof *g->metabolites, id);
}

int cg_gem_reaction_index(const cg_gem *g, const char *id) {
    if (!g || !g->index) return -1;
    return hash_find(g->index->rxn_slots, g->index->rxn_mask, g->reactions, sizeof *g->reactions, id);
}

int cg_gem_gene_index(const cg_gem *g, const char *id) {
    if (!g || !g->index) return -1;
    return hash_find(g->index->gene_slots, g->index->gene_mask, g->genes, sizeof *g->genes, id);
}

void cg_gem_free(cg_gem *g) {
    if (!g) return;
    for (int i = 0; g->reactions && i < g->n_reactions; i++) cg_dnf_free(&g->reactions[i].gpr);
    free(g->metabolites);
    free(g->reactions);
    free(g->genes);
    free(g->compartments);
    free(g->stoich_start);
    free(g->stoich_met);
    free(g->stoich_coef);
    if (g->index) {
        pool_block *b = g->index->strings;
        while (b) {
            pool_block *next = b->next;
            free(b);
            b = next;
        }
        free(g->index->met_slots);
        free(g->index->rxn_slots);
        free(g->index->gene_slots);
        free(g->index);
    }
    memset(g, 0, sizeof *g);
}

/* ---------------------------------------------------------------------------------------------------
 * event reader
 * ------------------------------------------------------------------------------------------------- */

typedef struct rd {
    yaml_parser_t yp;
    yaml_event_t ev; /* current event, valid when have_ev */
    int have_ev;
    const char *path; /* for messages (pool copy) */
    char *key;        /* copy of the last key returned by map_next */
    size_t key_cap;
    int key_line;
    cg_gem *g;
    int cap_met, cap_rxn, cap_gene, cap_comp;
    int64_t cap_st;
    const char **st_id; /* [n_stoich] species id of each stoichiometry entry, resolved at the end */
    int32_t *st_line;   /* [n_stoich] its line */
    int seen_mets, seen_rxns, seen_genes;
    int yaml_failed; /* the error came from libyaml */
} rd;

static int ev_line(const rd *r) { return (int)r->ev.start_mark.line + 1; }

static cg_status nomem(const rd *r) { return cg_error(CG_ERR_NOMEM, "%s: out of memory", r->path); }

/* Turns a libyaml failure into a cellgraph error. */
static cg_status yaml_fail(rd *r) {
    const yaml_parser_t *p = &r->yp;
    r->yaml_failed = 1;
    const char *problem = p->problem ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_MEMORY_ERROR: return nomem(r);
    case YAML_READER_ERROR:
        if (strcmp(problem, "input error") == 0)
            return cg_error(CG_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
        if (p->problem_value != -1)
            return cg_error(CG_ERR_FORMAT, "%s: byte %zu: %s (#%X)", r->path, p->problem_offset, problem,
                            (unsigned)p->problem_value);
        return cg_error(CG_ERR_FORMAT, "%s: byte %zu: %s", r->path, p->problem_offset, problem);
    default:
        if (p->context)
            return cg_error(CG_ERR_FORMAT, "%s: line %zu column %zu: %s (%s at line %zu column %zu)", r->path,
                            p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                            p->context_mark.line + 1, p->context_mark.column + 1);
        return cg_error(CG_ERR_FORMAT, "%s: line %zu column %zu: %s", r->path, p->problem_mark.line + 1,
                        p->problem_mark.column + 1, problem);
    }
}

/* Replaces the current event with the next one. */
static cg_status next(rd *r) {
    if (r->have_ev) {
        yaml_event_delete(&r->ev);
        r->have_ev = 0;
    }
    if (!yaml_parser_parse(&r->yp, &r->ev)) return yaml_fail(r);
    r->have_ev = 1;
    return CG_OK;
}

/* Format error at the current event's line. */
__attribute__((format(printf, 2, 3))) static cg_status ferr(const rd *r, const char *fmt, ...) {
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cg_error(CG_ERR_FORMAT, "%s: line %d: %s", r->path, ev_line(r), what);
}

static int is_node_start(const rd *r) {
    yaml_event_type_t t = r->ev.type;
    return t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT || t == YAML_SEQUENCE_START_EVENT ||
           t == YAML_MAPPING_START_EVENT;
}

/* Consumes the node that starts at the current event (leaves its last event current). */
static cg_status skip_node(rd *r) {
    int depth = 0;
    for (;;) {
        switch (r->ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: depth++; break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT: break;
        default: return ferr(r, "unexpected end of a YAML node"); /* libyaml should not produce this */
        }
        if (depth <= 0) return CG_OK;
        cg_status st = next(r);
        if (st != CG_OK) return st;
    }
}

/* A plain null scalar: "", "~", "null". */
static int is_null_scalar(const rd *r) {
    if (r->ev.type != YAML_SCALAR_EVENT || r->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)r->ev.data.scalar.value;
    return r->ev.data.scalar.length == 0 || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

typedef struct mapit {
    int seq;     /* the map is an !!omap-style sequence of mappings */
    int in_item; /* seq: inside one of its mappings */
} mapit;

/* Starts iterating the map whose start event is current; a null scalar counts as an empty map
 * (map_next then returns no key). what names the map for messages. */
static cg_status map_begin(rd *r, mapit *it, const char *what) {
    it->in_item = 0;
    if (r->ev.type == YAML_MAPPING_START_EVENT) it->seq = 0;
    else if (r->ev.type == YAML_SEQUENCE_START_EVENT) it->seq = 1;
    else if (is_null_scalar(r)) it->seq = -1;
    else if (r->ev.type == YAML_ALIAS_EVENT) return ferr(r, "%s: YAML aliases are not supported", what);
    else return ferr(r, "%s: expected a mapping", what);
    return CG_OK;
}

/* Moves to the next key of the map: *key points to r->key (valid until the next map_next), or is NULL
 * at the end of the map (whose end event is then current). After a key, the caller must consume the
 * value: call next() and read or skip the node. */
static cg_status map_next(rd *r, mapit *it, const char *what, const char **key) {
    *key = NULL;
    if (it->seq < 0) return CG_OK;
    for (;;) {
        cg_status st = next(r);
        if (st != CG_OK) return st;
        yaml_event_type_t t = r->ev.type;
        if (!it->seq || it->in_item) {
            if (t == YAML_SCALAR_EVENT) {
                size_t n = r->ev.data.scalar.length;
                if (n + 1 > r->key_cap) {
                    size_t cap = r->key_cap ? r->key_cap : 64;
                    while (cap < n + 1) cap *= 2;
                    char *nk = realloc(r->key, cap);
                    if (!nk) return nomem(r);
                    r->key = nk;
                    r->key_cap = cap;
                }
                memcpy(r->key, r->ev.data.scalar.value, n);
                r->key[n] = '\0';
                r->key_line = ev_line(r);
                *key = r->key;
                return CG_OK;
            }
            if (t == YAML_MAPPING_END_EVENT) {
                if (!it->seq) return CG_OK;
                it->in_item = 0;
                continue;
            }
            return ferr(r, "%s: expected a scalar key", what);
        }
        if (t == YAML_MAPPING_START_EVENT) {
            it->in_item = 1;
            continue;
        }
        if (t == YAML_SEQUENCE_END_EVENT) return CG_OK;
        return ferr(r, "%s: expected a key: value entry of an ordered map", what);
    }
}

/* Reads the current scalar into the pool (*out; "" for null). */
static cg_status value_str(rd *r, const char *what, const char **out) {
    if (r->ev.type != YAML_SCALAR_EVENT) {
        if (r->ev.type == YAML_ALIAS_EVENT) return ferr(r, "%s: YAML aliases are not supported", what);
        return ferr(r, "%s: expected a string", what);
    }
    size_t n = is_null_scalar(r) ? 0 : r->ev.data.scalar.length;
    char *s = pool_str(r->g->index, (const char *)r->ev.data.scalar.value, n);
    if (!s) return nomem(r);
    *out = s;
    return CG_OK;
}

/* Reads a string or the first string of a list of strings (subsystem); "" for an empty list. */
static cg_status value_first_str(rd *r, const char *what, const char **out) {
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) return value_str(r, what, out);
    *out = "";
    int first = 1;
    for (;;) {
        cg_status st = next(r);
        if (st != CG_OK) return st;
        if (r->ev.type == YAML_SEQUENCE_END_EVENT) return CG_OK;
        if (first && r->ev.type == YAML_SCALAR_EVENT) st = value_str(r, what, out);
        else st = skip_node(r);
        if (st != CG_OK) return st;
        first = 0;
    }
}

/* YAML number syntax: [-+]? (digits ('.' digits*)? | '.' digits) ([eE] [-+]? digits)?, or with
 * allow_inf also [-+]? .inf (any case of "inf"). Returns 1 and the value, or 0. */
static int parse_number(const char *s, size_t len, int allow_inf, double *out) {
    char buf[64];
    if (len == 0 || len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *p = buf;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    if (allow_inf && (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF"))) {
        *out = neg ? -INFINITY : INFINITY;
        return 1;
    }
    int digits = 0;
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, digits++;
    }
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p) return 0;
    double v = strtod(buf, NULL);
    if (!allow_inf && !isfinite(v)) return 0; /* overflow such as 1e999 */
    *out = v;
    return 1;
}

/* Reads the current scalar as a number; what names it for the message. */
static cg_status value_num(rd *r, const char *what, int allow_inf, double *out) {
    if (r->ev.type != YAML_SCALAR_EVENT) return ferr(r, "%s: expected a number", what);
    const char *v = (const char *)r->ev.data.scalar.value;
    size_t n = r->ev.data.scalar.length;
    if (!parse_number(v, n, allow_inf, out))
        return ferr(r, "%s: '%.*s' is not a %snumber", what, n > 64 ? 64 : (int)n, v, allow_inf ? "" : "finite ");
    return CG_OK;
}

/* Grows *arr (elements of size elt) to hold at least need elements; *cap is updated. */
static int grow(void **arr, int64_t *cap, int64_t need, size_t elt) {
    if (need <= *cap) return 1;
    int64_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * elt);
    if (!p) return 0;
    *arr = p;
    *cap = c;
    return 1;
}

static int grow_int(void **arr, int *cap, int need, size_t elt) {
    int64_t c = *cap;
    int ok = grow(arr, &c, need, elt);
    if (ok) *cap = (int)c;
    return ok;
}

/* ---------------------------------------------------------------------------------------------------
 * sections
 * ------------------------------------------------------------------------------------------------- */

static cg_status read_metabolite(rd *r) {
    cg_gem *g = r->g;
    cg_gem_metabolite m = {"", "", "", ev_line(r)};
    int has_id = 0;
    mapit it;
    const char *k;
    cg_status st = map_begin(r, &it, "metabolite");
    while (st == CG_OK && (st = map_next(r, &it, "metabolite", &k)) == CG_OK && k) {
        if ((st = next(r)) != CG_OK) break;
        if (!strcmp(k, "id")) {
            st = value_str(r, "metabolite id", &m.id);
            has_id = 1;
        } else if (!strcmp(k, "name")) st = value_str(r, "metabolite name", &m.name);
        else if (!strcmp(k, "compartment")) st = value_str(r, "metabolite compartment", &m.compartment);
        else st = skip_node(r);
    }
    if (st != CG_OK) return st;
    if (!has_id || !*m.id)
        return cg_error(CG_ERR_FORMAT, "%s: line %d: metabolite without an 'id'", r->path, m.line);
    if (!grow_int((void **)&g->metabolites, &r->cap_met, g->n_metabolites + 1, sizeof *g->metabolites))
        return nomem(r);
    g->metabolites[g->n_metabolites++] = m;
    return CG_OK;
}

static cg_status read_gene(rd *r) {
    cg_gem *g = r->g;
    cg_gem_gene ge = {"", "", ev_line(r)};
    int has_id = 0;
    mapit it;
    const char *k;
    cg_status st = map_begin(r, &it, "gene");
    while (st == CG_OK && (st = map_next(r, &it, "gene", &k)) == CG_OK && k) {
        if ((st = next(r)) != CG_OK) break;
        if (!strcmp(k, "id")) {
            st = value_str(r, "gene id", &ge.id);
            has_id = 1;
        } else if (!strcmp(k, "name")) st = value_str(r, "gene name", &ge.name);
        else st = skip_node(r);
    }
    if (st != CG_OK) return st;
    if (!has_id || !*ge.id) return cg_error(CG_ERR_FORMAT, "%s: line %d: gene without an 'id'", r->path, ge.line);
    if (!grow_int((void **)&g->genes, &r->cap_gene, g->n_genes + 1, sizeof *g->genes)) return nomem(r);
    g->genes[g->n_genes++] = ge;
    return CG_OK;
}

/* The stoichiometry map of a reaction: species id -> coefficient, appended to the CSR arrays. */
static cg_status read_stoich(rd *r, const char *label) {
    cg_gem *g = r->g;
    char what[200];
    mapit it;
    const char *k;
    snprintf(what, sizeof what, "%.150s: metabolites", label);
    cg_status st = map_begin(r, &it, what);
    while (st == CG_OK && (st = map_next(r, &it, what, &k)) == CG_OK && k) {
        int64_t n = g->n_stoich;
        int64_t c1 = r->cap_st, c2 = r->cap_st, c3 = r->cap_st;
        if (!grow((void **)&r->st_id, &c1, n + 1, sizeof *r->st_id) ||
            !grow((void **)&r->st_line, &c2, n + 1, sizeof *r->st_line) ||
            !grow((void **)&g->stoich_coef, &c3, n + 1, sizeof *g->stoich_coef))
            return nomem(r);
        r->cap_st = c1; /* all three grow in step */
        const char *id = pool_str(g->index, k, strlen(k));
        if (!id) return nomem(r);
        r->st_id[n] = id;
        r->st_line[n] = r->key_line;
        if ((st = next(r)) != CG_OK) break;
        char cw[256];
        snprintf(cw, sizeof cw, "%s: coefficient of %.64s", label, id);
        st = value_num(r, cw, 0, &g->stoich_coef[n]);
        g->n_stoich = n + 1;
    }
    return st;
}

static cg_status read_reaction(rd *r) {
    cg_gem *g = r->g;
    cg_gem_reaction x;
    memset(&x, 0, sizeof x);
    x.id = x.name = x.subsystem = x.gene_rule = "";
    x.line = ev_line(r);
    int has_id = 0, has_mets = 0, has_lb = 0, has_ub = 0, rule_line = x.line;
    int64_t first = g->n_stoich;
    char label[160];
    snprintf(label, sizeof label, "reaction at line %d", x.line);
    mapit it;
    const char *k;
    cg_status st = map_begin(r, &it, label);
    while (st == CG_OK && (st = map_next(r, &it, label, &k)) == CG_OK && k) {
        if ((st = next(r)) != CG_OK) break;
        if (!strcmp(k, "id")) {
            st = value_str(r, "reaction id", &x.id);
            if (st == CG_OK && *x.id) {
                has_id = 1;
                snprintf(label, sizeof label, "reaction %.120s", x.id);
            }
        } else if (!strcmp(k, "name")) st = value_str(r, label, &x.name);
        else if (!strcmp(k, "subsystem")) st = value_first_str(r, label, &x.subsystem);
        else if (!strcmp(k, "gene_reaction_rule")) {
            rule_line = ev_line(r);
            st = value_str(r, label, &x.gene_rule);
        } else if (!strcmp(k, "lower_bound")) {
            char w[200];
            snprintf(w, sizeof w, "%s: lower_bound", label);
            st = value_num(r, w, 1, &x.lower_bound);
            has_lb = 1;
        } else if (!strcmp(k, "upper_bound")) {
            char w[200];
            snprintf(w, sizeof w, "%s: upper_bound", label);
            st = value_num(r, w, 1, &x.upper_bound);
            has_ub = 1;
        } else if (!strcmp(k, "objective_coefficient")) {
            char w[200];
            snprintf(w, sizeof w, "%s: objective_coefficient", label);
            st = value_num(r, w, 0, &x.objective_coefficient);
        } else if (!strcmp(k, "metabolites")) {
            st = read_stoich(r, label);
            has_mets = 1;
        } else st = skip_node(r);
    }
    if (st != CG_OK) return st;
    if (!has_id) return cg_error(CG_ERR_FORMAT, "%s: line %d: reaction without an 'id'", r->path, x.line);
    const char *missing = !has_mets ? "metabolites" : !has_lb ? "lower_bound" : !has_ub ? "upper_bound" : NULL;
    if (missing)
        return cg_error(CG_ERR_FORMAT, "%s: line %d: reaction %s: no '%s'", r->path, x.line, x.id, missing);
    if (x.lower_bound > x.upper_bound)
        return cg_error(CG_ERR_FORMAT, "%s: line %d: reaction %s: lower_bound %g > upper_bound %g", r->path, x.line,
                        x.id, x.lower_bound, x.upper_bound);
    if (cg_gpr_parse(x.gene_rule, &x.gpr) != CG_OK)
        return cg_error_wrap(cg_last_status(), "%s: line %d: reaction %s", r->path, rule_line, x.id);
    /* stoichiometry range: stoich_start has n_reactions + 1 entries */
    if (!grow_int((void **)&g->reactions, &r->cap_rxn, g->n_reactions + 1, sizeof *g->reactions)) {
        cg_dnf_free(&x.gpr);
        return nomem(r);
    }
    int cap_start = r->cap_rxn + 1;
    int64_t *ns = realloc(g->stoich_start, (size_t)cap_start * sizeof *ns);
    if (!ns) {
        cg_dnf_free(&x.gpr);
        return nomem(r);
    }
    g->stoich_start = ns;
    g->stoich_start[g->n_reactions] = first;
    g->stoich_start[g->n_reactions + 1] = g->n_stoich;
    x.n_stoich = (int)(g->n_stoich - first);
    g->reactions[g->n_reactions++] = x;
    return CG_OK;
}

/* A list section: a sequence of entries (or null for none), each read by entry(). */
static cg_status read_list(rd *r, const char *section, cg_status (*entry)(rd *)) {
    if (is_null_scalar(r)) return CG_OK;
    if (r->ev.type != YAML_SEQUENCE_START_EVENT) return ferr(r, "'%s' is not a list", section);
    for (;;) {
        cg_status st = next(r);
        if (st != CG_OK) return st;
        if (r->ev.type == YAML_SEQUENCE_END_EVENT) return CG_OK;
        if ((st = entry(r)) != CG_OK) return st;
    }
}

static cg_status read_compartments(rd *r) {
    cg_gem *g = r->g;
    mapit it;
    const char *k;
    cg_status st = map_begin(r, &it, "compartments");
    while (st == CG_OK && (st = map_next(r, &it, "compartments", &k)) == CG_OK && k) {
        cg_gem_compartment c = {pool_str(g->index, k, strlen(k)), ""};
        if (!c.id) return nomem(r);
        if ((st = next(r)) != CG_OK) break;
        if (r->ev.type == YAML_SCALAR_EVENT) st = value_str(r, "compartment name", &c.name);
        else st = skip_node(r);
        if (st != CG_OK) break;
        if (!grow_int((void **)&g->compartments, &r->cap_comp, g->n_compartments + 1, sizeof *g->compartments))
            return nomem(r);
        g->compartments[g->n_compartments++] = c;
    }
    return st;
}

static cg_status read_metadata(rd *r) {
    mapit it;
    const char *k;
    if (r->ev.type == YAML_SCALAR_EVENT) return CG_OK; /* not a map: nothing to keep */
    cg_status st = map_begin(r, &it, "metaData");
    while (st == CG_OK && (st = map_next(r, &it, "metaData", &k)) == CG_OK && k) {
        if ((st = next(r)) != CG_OK) break;
        if (!strcmp(k, "id") && r->ev.type == YAML_SCALAR_EVENT) st = value_str(r, "metaData id", &r->g->model_id);
        else st = skip_node(r);
    }
    return st;
}

static cg_status read_document(rd *r) {
    cg_status st = next(r);
    if (st != CG_OK) return st;
    if (r->ev.type != YAML_STREAM_START_EVENT) return ferr(r, "expected the start of a YAML stream");
    if ((st = next(r)) != CG_OK) return st;
    if (r->ev.type == YAML_STREAM_END_EVENT) return cg_error(CG_ERR_FORMAT, "%s: empty file (no YAML document)", r->path);
    if (r->ev.type != YAML_DOCUMENT_START_EVENT) return ferr(r, "expected a YAML document");
    if ((st = next(r)) != CG_OK) return st;
    if (!is_node_start(r) || r->ev.type == YAML_SCALAR_EVENT)
        return ferr(r, "the top level is not a map of model sections");
    mapit it;
    const char *k;
    st = map_begin(r, &it, "model");
    while (st == CG_OK && (st = map_next(r, &it, "model", &k)) == CG_OK && k) {
        int which = !strcmp(k, "metabolites") ? 1 : !strcmp(k, "reactions") ? 2 : !strcmp(k, "genes") ? 3
                    : !strcmp(k, "compartments") ? 4 : !strcmp(k, "metaData") ? 5 : 0;
        if ((st = next(r)) != CG_OK) break;
        switch (which) {
        case 1:
            r->seen_mets = 1;
            st = read_list(r, "metabolites", read_metabolite);
            break;
        case 2:
            r->seen_rxns = 1;
            st = read_list(r, "reactions", read_reaction);
            break;
        case 3:
            r->seen_genes = 1;
            st = read_list(r, "genes", read_gene);
            break;
        case 4: st = read_compartments(r); break;
        case 5: st = read_metadata(r); break;
        default: st = skip_node(r); break;
        }
    }
    if (st != CG_OK) return st;
    if ((st = next(r)) != CG_OK) return st;
    if (r->ev.type != YAML_DOCUMENT_END_EVENT) return ferr(r, "expected the end of the YAML document");
    if ((st = next(r)) != CG_OK) return st;
    if (r->ev.type != YAML_STREAM_END_EVENT) return ferr(r, "more than one YAML document");
    const char *missing = !r->seen_mets ? "metabolites" : !r->seen_rxns ? "reactions" : !r->seen_genes ? "genes" : NULL;
    if (missing) return cg_error(CG_ERR_FORMAT, "%s: no '%s' section (not a cobrapy model, or truncated)", r->path, missing);
    return CG_OK;
}

/* After the whole file: id tables, duplicate ids, stoichiometry resolved to indices. */
static cg_status finish(rd *r) {
    cg_gem *g = r->g;
    cg_gem_index *ix = g->index;
    int dup, first;
    if (build_hash(g->metabolites, sizeof *g->metabolites, g->n_metabolites, &ix->met_slots, &ix->met_mask, &dup,
                   &first) != CG_OK)
        return nomem(r);
    if (dup >= 0)
        return cg_error(CG_ERR_FORMAT, "%s: line %d: duplicate metabolite id '%s' (first at line %d)", r->path,
                        g->metabolites[dup].line, g->metabolites[dup].id, g->metabolites[first].line);
    if (build_hash(g->reactions, sizeof *g->reactions, g->n_reactions, &ix->rxn_slots, &ix->rxn_mask, &dup,
                   &first) != CG_OK)
        return nomem(r);
    if (dup >= 0)
        return cg_error(CG_ERR_FORMAT, "%s: line %d: duplicate reaction id '%s' (first at line %d)", r->path,
                        g->reactions[dup].line, g->reactions[dup].id, g->reactions[first].line);
    if (build_hash(g->genes, sizeof *g->genes, g->n_genes, &ix->gene_slots, &ix->gene_mask, &dup, &first) != CG_OK)
        return nomem(r);
    if (dup >= 0)
        return cg_error(CG_ERR_FORMAT, "%s: line %d: duplicate gene id '%s' (first at line %d)", r->path,
                        g->genes[dup].line, g->genes[dup].id, g->genes[first].line);

    if (!g->stoich_start) { /* no reactions */
        g->stoich_start = malloc(sizeof *g->stoich_start);
        if (!g->stoich_start) return nomem(r);
        g->stoich_start[0] = 0;
    }
    g->stoich_met = malloc((size_t)(g->n_stoich ? g->n_stoich : 1) * sizeof *g->stoich_met);
    if (!g->stoich_met) return nomem(r);
    for (int i = 0; i < g->n_reactions; i++) {
        cg_gem_reaction *x = &g->reactions[i];
        int64_t s0 = g->stoich_start[i], s1 = g->stoich_start[i + 1];
        for (int64_t s = s0; s < s1; s++) {
            int m = cg_gem_metabolite_index(g, r->st_id[s]);
            if (m < 0)
                return cg_error(CG_ERR_FORMAT, "%s: line %d: reaction %s: unknown metabolite '%s'", r->path,
                                (int)r->st_line[s], x->id, r->st_id[s]);
            for (int64_t t = s0; t < s; t++)
                if (g->stoich_met[t] == m)
                    return cg_error(CG_ERR_FORMAT, "%s: line %d: reaction %s: metabolite '%s' listed twice",
                                    r->path, (int)r->st_line[s], x->id, r->st_id[s]);
            g->stoich_met[s] = m;
        }
        x->met = g->stoich_met + s0;
        x->coef = g->stoich_coef ? g->stoich_coef + s0 : NULL;
    }
    return CG_OK;
}

static cg_status load(rd *r, const char *name, cg_gem *out) {
    cg_gem *g = out;
    g->index = calloc(1, sizeof *g->index);
    if (!g->index) return cg_error(CG_ERR_NOMEM, "%s: out of memory", name);
    g->path = pool_str(g->index, name, strlen(name));
    g->model_id = "";
    if (!g->path) return cg_error(CG_ERR_NOMEM, "%s: out of memory", name);
    r->path = g->path;
    r->g = g;
    cg_status st = read_document(r);
    if (st == CG_ERR_FORMAT && !r->yaml_failed) {
        /* A model error found while reading. If the YAML itself is broken further on (bad indentation
         * can end a map early, so that a reaction seems to lack a field), the syntax error explains
         * more: read on to the end of the stream and report that one instead. */
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", cg_last_error());
        while (!(r->have_ev && r->ev.type == YAML_STREAM_END_EVENT))
            if (next(r) != CG_OK) break;
        if (r->yaml_failed) return cg_last_status();
        return cg_error(CG_ERR_FORMAT, "%s", saved);
    }
    if (st == CG_OK) st = finish(r);
    return st;
}

static void rd_close(rd *r) {
    if (r->have_ev) yaml_event_delete(&r->ev);
    yaml_parser_delete(&r->yp);
    free(r->key);
    free(r->st_id);
    free(r->st_line);
}

cg_status cg_gem_load(const char *path, cg_gem *out) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "cg_gem_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return cg_error(CG_ERR_INVALID_ARG, "cg_gem_load: path is NULL");
    struct stat sb;
    if (stat(path, &sb) != 0) return cg_error(CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return cg_error(CG_ERR_IO, "%s: cannot open: is a directory", path);
    FILE *f = fopen(path, "rb");
    if (!f) return cg_error(CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    rd r;
    memset(&r, 0, sizeof r);
    if (!yaml_parser_initialize(&r.yp)) {
        fclose(f);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_file(&r.yp, f);
    cg_status st = load(&r, path, out);
    rd_close(&r);
    fclose(f);
    if (st != CG_OK) cg_gem_free(out);
    return st;
}

cg_status cg_gem_load_memory(const char *data, size_t len, const char *name, cg_gem *out) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "cg_gem_load_memory: out is NULL");
    memset(out, 0, sizeof *out);
    if (!data && len) return cg_error(CG_ERR_INVALID_ARG, "cg_gem_load_memory: data is NULL");
    if (!name) name = "<memory>";
    rd r;
    memset(&r, 0, sizeof r);
    if (!yaml_parser_initialize(&r.yp)) return cg_error(CG_ERR_NOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&r.yp, (const unsigned char *)(data ? data : ""), len);
    cg_status st = load(&r, name, out);
    rd_close(&r);
    if (st != CG_OK) cg_gem_free(out);
    return st;
}
