/* GPR rule parser: COBRA gene_reaction_rule text -> disjunctive normal form (see cellgraph/gpr.h).
 *
 * Two passes over the rule:
 *   1. lex: split into tokens (gene, 'and', 'or', '(', ')'); the first character that cannot start a
 *      token becomes a BAD token that ends the list, so syntax errors before it are still reported
 *      first (errors always name the leftmost problem). Genes are then ranked by strcmp so that a gene
 *      is an int and sorting a term by int sorts it by name.
 *   2. recursive descent over the tokens, building a term set (tset) per sub-expression:
 *        factor  gene -> {{g}};  ( expr ) -> the inner set
 *        term    X and Y -> { x | y : x in X, y in Y } in that loop order (set union of gene sets)
 *        expr    X or Y  -> X followed by the terms of Y not already in X
 *      Terms are deduplicated on insertion (hash + compare), so the result has no identical terms and
 *      keeps the order of first appearance.
 */
#include "cellgraph/gpr.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------
 * tokens
 * ------------------------------------------------------------------------------------------------- */

enum { T_GENE, T_AND, T_OR, T_LP, T_RP, T_END, T_BAD };

typedef struct gpr_tok {
    int kind;
    int pos;  /* 0-based byte offset in the rule */
    int len;  /* bytes */
    int gene; /* T_GENE: rank of the gene among the rule's distinct genes (strcmp order) */
} gpr_tok;

/* A set of terms under construction. Term t is ids[start[t] .. start[t+1]), sorted, unique. */
typedef struct tset {
    int n, cap;     /* terms */
    int *start;     /* [cap + 1] */
    uint32_t *hash; /* [cap] hash of each term's ids */
    int n_ids, cap_ids;
    int *ids; /* [cap_ids] */
} tset;

typedef struct gpr_parser {
    const char *rule;
    size_t rule_len;
    gpr_tok *toks;  /* [n_toks], the last one is T_END or T_BAD */
    int n_toks;
    int i;          /* current token */
    int n_genes;    /* distinct genes */
    int *gene_tok;  /* [n_genes] a token index naming each gene (by rank) */
    int *scratch;   /* [n_genes] merge buffer */
} gpr_parser;

static int is_gene_char(unsigned char c) { return isalnum(c) || c == '_' || c == '.' || c == '-'; }
static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static int word_is(const char *s, int len, const char *kw) {
    int n = (int)strlen(kw);
    if (len != n) return 0;
    for (int k = 0; k < n; k++)
        if (tolower((unsigned char)s[k]) != kw[k]) return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------------------
 * errors
 * ------------------------------------------------------------------------------------------------- */

/* Records "gene rule '<rule, shortened>': position P: <fmt...>" (P 1-based). */
__attribute__((format(printf, 3, 4))) static cg_status perr(const gpr_parser *p, int pos0, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int shown = p->rule_len > 120 ? 117 : (int)p->rule_len;
    return cg_error(CG_ERR_FORMAT, "gene rule '%.*s%s': position %d: %s", shown, p->rule,
                    p->rule_len > 120 ? "..." : "", pos0 + 1, what);
}

/* Describes token t for a message ("gene 'X'", "'and'", "')'", "the end of the rule") into buf. */
static const char *tok_desc(const gpr_parser *p, const gpr_tok *t, char *buf, size_t len) {
    switch (t->kind) {
    case T_GENE: snprintf(buf, len, "gene '%.*s'", t->len > 64 ? 64 : t->len, p->rule + t->pos); break;
    case T_AND:
    case T_OR: snprintf(buf, len, "'%.*s'", t->len, p->rule + t->pos); break;
    case T_LP: snprintf(buf, len, "'('"); break;
    case T_RP: snprintf(buf, len, "')'"); break;
    default: snprintf(buf, len, "the end of the rule"); break;
    }
    return buf;
}

/* Error for a BAD token (an invalid character). */
static cg_status bad_char(const gpr_parser *p, const gpr_tok *t) {
    unsigned char c = (unsigned char)p->rule[t->pos];
    if (isprint(c)) return perr(p, t->pos, "invalid character '%c'", c);
    return perr(p, t->pos, "invalid byte 0x%02x", c);
}

/* ---------------------------------------------------------------------------------------------------
 * lexer
 * ------------------------------------------------------------------------------------------------- */

typedef struct gene_ref {
    const char *s;
    int len;
    int tok;
} gene_ref;

static int gene_ref_cmp(const void *a, const void *b) {
    const gene_ref *x = a, *y = b;
    int n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, (size_t)n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len); /* a prefix sorts first, as with strcmp */
}

static cg_status lex(gpr_parser *p) {
    const char *s = p->rule;
    size_t n = p->rule_len;
    if (n > (size_t)INT32_MAX / 2) return cg_error(CG_ERR_FORMAT, "gene rule of %zu bytes is too long", n);
    /* at most one token per byte, plus END */
    p->toks = malloc((n + 1) * sizeof *p->toks);
    if (!p->toks) return cg_error(CG_ERR_NOMEM, "gene rule: out of memory");
    int nt = 0, n_gene_toks = 0;
    size_t k = 0;
    for (;;) {
        while (k < n && is_space((unsigned char)s[k])) k++;
        gpr_tok *t = &p->toks[nt++];
        t->pos = (int)k;
        t->len = 1;
        t->gene = -1;
        if (k == n) {
            t->kind = T_END;
            t->len = 0;
            break;
        }
        unsigned char c = (unsigned char)s[k];
        if (c == '(') {
            t->kind = T_LP;
            k++;
        } else if (c == ')') {
            t->kind = T_RP;
            k++;
        } else if (is_gene_char(c)) {
            size_t e = k;
            while (e < n && is_gene_char((unsigned char)s[e])) e++;
            t->len = (int)(e - k);
            if (word_is(s + k, t->len, "and")) t->kind = T_AND;
            else if (word_is(s + k, t->len, "or")) t->kind = T_OR;
            else {
                t->kind = T_GENE;
                n_gene_toks++;
            }
            k = e;
        } else {
            t->kind = T_BAD;
            break;
        }
    }
    p->n_toks = nt;

    /* rank the genes by name */
    gene_ref *refs = malloc((size_t)(n_gene_toks ? n_gene_toks : 1) * sizeof *refs);
    p->gene_tok = malloc((size_t)(n_gene_toks ? n_gene_toks : 1) * sizeof *p->gene_tok);
    p->scratch = malloc((size_t)(n_gene_toks ? n_gene_toks : 1) * sizeof *p->scratch);
    if (!refs || !p->gene_tok || !p->scratch) {
        free(refs);
        return cg_error(CG_ERR_NOMEM, "gene rule: out of memory");
    }
    int m = 0;
    for (int i = 0; i < nt; i++)
        if (p->toks[i].kind == T_GENE) refs[m++] = (gene_ref){s + p->toks[i].pos, p->toks[i].len, i};
    qsort(refs, (size_t)m, sizeof *refs, gene_ref_cmp);
    int rank = -1;
    for (int i = 0; i < m; i++) {
        if (i == 0 || gene_ref_cmp(&refs[i - 1], &refs[i]) != 0) p->gene_tok[++rank] = refs[i].tok;
        p->toks[refs[i].tok].gene = rank;
    }
    p->n_genes = rank + 1;
    free(refs);
    return CG_OK;
}

/* ---------------------------------------------------------------------------------------------------
 * term sets
 * ------------------------------------------------------------------------------------------------- */

static void tset_free(tset *t) {
    free(t->start);
    free(t->hash);
    free(t->ids);
    memset(t, 0, sizeof *t);
}

static uint32_t hash_ids(const int *ids, int k) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < k; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xffu;
            h *= 16777619u;
        }
    }
    return h;
}

/* Appends the term ids[0..k) (sorted, unique) unless t already holds it. Returns CG_OK, or
 * CG_ERR_FORMAT (with *too_many set, message left to the caller) when t would exceed
 * CG_GPR_MAX_TERMS, or CG_ERR_NOMEM. */
static cg_status tset_add(tset *t, const int *ids, int k, int *too_many) {
    uint32_t h = hash_ids(ids, k);
    for (int i = 0; i < t->n; i++) {
        if (t->hash[i] != h || t->start[i + 1] - t->start[i] != k) continue;
        if (memcmp(t->ids + t->start[i], ids, (size_t)k * sizeof *ids) == 0) return CG_OK;
    }
    if (t->n == CG_GPR_MAX_TERMS) {
        *too_many = 1;
        return CG_ERR_FORMAT;
    }
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 4;
        int *ns = realloc(t->start, (size_t)(cap + 1) * sizeof *ns);
        if (!ns) return cg_error(CG_ERR_NOMEM, "gene rule: out of memory");
        t->start = ns;
        uint32_t *nh = realloc(t->hash, (size_t)cap * sizeof *nh);
        if (!nh) return cg_error(CG_ERR_NOMEM, "gene rule: out of memory");
        t->hash = nh;
        if (t->cap == 0) t->start[0] = 0;
        t->cap = cap;
    }
    if (t->n_ids + k > t->cap_ids) {
        int cap = t->cap_ids ? 2 * t->cap_ids : 8;
        while (cap < t->n_ids + k) cap *= 2;
        int *ni = realloc(t->ids, (size_t)cap * sizeof *ni);
        if (!ni) return cg_error(CG_ERR_NOMEM, "gene rule: out of memory");
        t->ids = ni;
        t->cap_ids = cap;
    }
    memcpy(t->ids + t->n_ids, ids, (size_t)k * sizeof *ids);
    t->n_ids += k;
    t->hash[t->n] = h;
    t->start[++t->n] = t->n_ids;
    return CG_OK;
}

/* ---------------------------------------------------------------------------------------------------
 * parser
 * ------------------------------------------------------------------------------------------------- */

static cg_status p_expr(gpr_parser *p, int depth, tset *out);

static cg_status too_many_terms(const gpr_parser *p, int pos0) {
    return perr(p, pos0, "the expansion into disjunctive normal form has more than %d terms", CG_GPR_MAX_TERMS);
}

/* factor := GENE | '(' expr ')' */
static cg_status p_factor(gpr_parser *p, int depth, tset *out) {
    const gpr_tok *t = &p->toks[p->i];
    char d[96];
    if (t->kind == T_GENE) {
        int too_many = 0;
        cg_status st = tset_add(out, &t->gene, 1, &too_many);
        if (st != CG_OK) return st;
        p->i++;
        return CG_OK;
    }
    if (t->kind == T_LP) {
        if (depth >= CG_GPR_MAX_DEPTH)
            return perr(p, t->pos, "parentheses nested deeper than %d levels", CG_GPR_MAX_DEPTH);
        int open = t->pos;
        p->i++;
        if (p->toks[p->i].kind == T_RP) return perr(p, open, "empty parentheses '()'");
        cg_status st = p_expr(p, depth + 1, out);
        if (st != CG_OK) return st;
        t = &p->toks[p->i];
        if (t->kind == T_RP) {
            p->i++;
            return CG_OK;
        }
        if (t->kind == T_BAD) return bad_char(p, t);
        if (t->kind == T_END)
            return perr(p, t->pos, "expected ')' to close the '(' at position %d but the rule ended", open + 1);
        return perr(p, t->pos, "expected 'and', 'or' or ')' but found %s", tok_desc(p, t, d, sizeof d));
    }
    if (t->kind == T_BAD) return bad_char(p, t);
    if (t->kind == T_END) return perr(p, t->pos, "expected a gene or '(' but the rule ended");
    return perr(p, t->pos, "expected a gene or '(' but found %s", tok_desc(p, t, d, sizeof d));
}

/* Sorted union of two sorted unique int arrays into dst; returns its length. */
static int merge_union(const int *a, int na, const int *b, int nb, int *dst) {
    int i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j]) dst[k++] = a[i++];
        else if (b[j] < a[i]) dst[k++] = b[j++];
        else {
            dst[k++] = a[i++];
            j++;
        }
    }
    while (i < na) dst[k++] = a[i++];
    while (j < nb) dst[k++] = b[j++];
    return k;
}

/* term := factor ('and' factor)* */
static cg_status p_term(gpr_parser *p, int depth, tset *out) {
    cg_status st = p_factor(p, depth, out);
    if (st != CG_OK) return st;
    while (p->toks[p->i].kind == T_AND) {
        int op = p->toks[p->i].pos;
        p->i++;
        tset f = {0}, r = {0};
        st = p_factor(p, depth, &f);
        for (int a = 0; st == CG_OK && a < out->n; a++) {
            const int *ta = out->ids + out->start[a];
            int na = out->start[a + 1] - out->start[a];
            for (int b = 0; st == CG_OK && b < f.n; b++) {
                int k = merge_union(ta, na, f.ids + f.start[b], f.start[b + 1] - f.start[b], p->scratch);
                int too_many = 0;
                st = tset_add(&r, p->scratch, k, &too_many);
                if (too_many) st = too_many_terms(p, op);
            }
        }
        tset_free(&f);
        if (st != CG_OK) {
            tset_free(&r);
            return st;
        }
        tset_free(out);
        *out = r;
    }
    return CG_OK;
}

/* expr := term ('or' term)* */
static cg_status p_expr(gpr_parser *p, int depth, tset *out) {
    cg_status st = p_term(p, depth, out);
    if (st != CG_OK) return st;
    while (p->toks[p->i].kind == T_OR) {
        int op = p->toks[p->i].pos;
        p->i++;
        tset t = {0};
        st = p_term(p, depth, &t);
        for (int b = 0; st == CG_OK && b < t.n; b++) {
            int too_many = 0;
            st = tset_add(out, t.ids + t.start[b], t.start[b + 1] - t.start[b], &too_many);
            if (too_many) st = too_many_terms(p, op);
        }
        tset_free(&t);
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

/* ---------------------------------------------------------------------------------------------------
 * public API
 * ------------------------------------------------------------------------------------------------- */

/* Copies the term set into *out: pointer array and the distinct gene strings in one allocation. */
static cg_status build_dnf(const gpr_parser *p, const tset *t, cg_dnf *out) {
    out->term_start = malloc((size_t)(t->n + 1) * sizeof *out->term_start);
    if (!out->term_start) return cg_error(CG_ERR_NOMEM, "gene rule: out of memory");
    out->term_start[0] = 0;
    for (int i = 0; i < t->n; i++) out->term_start[i + 1] = t->start[i + 1];
    out->n_terms = t->n;
    out->n_entries = t->n_ids;
    if (t->n_ids == 0) return CG_OK;
    /* only the genes that the expansion uses (all of them, since every factor contributes) */
    size_t blob = 0;
    for (int g = 0; g < p->n_genes; g++) blob += (size_t)p->toks[p->gene_tok[g]].len + 1;
    size_t ptrs = (size_t)t->n_ids * sizeof(char *);
    char *mem = malloc(ptrs + blob);
    if (!mem) {
        free(out->term_start);
        memset(out, 0, sizeof *out);
        return cg_error(CG_ERR_NOMEM, "gene rule: out of memory");
    }
    char **genes = (char **)(void *)mem;
    char *names = mem + ptrs;
    /* write each distinct name once; p->scratch (n_genes ints) maps rank -> offset in names */
    size_t off = 0;
    for (int g = 0; g < p->n_genes; g++) {
        const gpr_tok *tk = &p->toks[p->gene_tok[g]];
        memcpy(names + off, p->rule + tk->pos, (size_t)tk->len);
        names[off + (size_t)tk->len] = '\0';
        p->scratch[g] = (int)off;
        off += (size_t)tk->len + 1;
    }
    for (int k = 0; k < t->n_ids; k++) genes[k] = names + p->scratch[t->ids[k]];
    out->genes = genes;
    return CG_OK;
}

cg_status cg_gpr_parse(const char *rule, cg_dnf *out) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "cg_gpr_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!rule) rule = "";
    gpr_parser p = {0};
    p.rule = rule;
    p.rule_len = strlen(rule);
    tset t = {0};
    cg_status st = lex(&p);
    if (st == CG_OK && p.toks[0].kind != T_END) {
        st = p_expr(&p, 0, &t);
        if (st == CG_OK) {
            const gpr_tok *tk = &p.toks[p.i];
            char d[96];
            if (tk->kind == T_BAD) st = bad_char(&p, tk);
            else if (tk->kind == T_RP) st = perr(&p, tk->pos, "unbalanced ')' without a matching '('");
            else if (tk->kind != T_END)
                st = perr(&p, tk->pos, "expected 'and', 'or' or the end of the rule but found %s",
                          tok_desc(&p, tk, d, sizeof d));
        }
    }
    if (st == CG_OK) st = build_dnf(&p, &t, out);
    tset_free(&t);
    free(p.toks);
    free(p.gene_tok);
    free(p.scratch);
    return st;
}

void cg_dnf_free(cg_dnf *d) {
    if (!d) return;
    free(d->term_start);
    free(d->genes);
    memset(d, 0, sizeof *d);
}

size_t cg_dnf_to_string(const cg_dnf *d, char *buf, size_t len) {
    size_t n = 0;
#define PUT(str, k)                                                                                        \
    do {                                                                                                   \
        size_t k_ = (k);                                                                                   \
        if (n < len) memcpy(buf + n, (str), n + k_ < len ? k_ : len - n);                                  \
        n += k_;                                                                                           \
    } while (0)
    for (int t = 0; d && t < d->n_terms; t++) {
        if (t) PUT(" | ", 3);
        PUT("{", 1);
        for (int k = d->term_start[t]; k < d->term_start[t + 1]; k++) {
            if (k > d->term_start[t]) PUT(",", 1);
            PUT(d->genes[k], strlen(d->genes[k]));
        }
        PUT("}", 1);
    }
#undef PUT
    if (len) buf[n < len ? n : len - 1] = '\0';
    return n;
}

int cg_dnf_equal(const cg_dnf *a, const cg_dnf *b) {
    if (a->n_terms != b->n_terms || a->n_entries != b->n_entries) return 0;
    if (a->n_terms == 0) return 1;
    for (int t = 0; t <= a->n_terms; t++)
        if (a->term_start[t] != b->term_start[t]) return 0;
    for (int k = 0; k < a->n_entries; k++)
        if (strcmp(a->genes[k], b->genes[k]) != 0) return 0;
    return 1;
}
