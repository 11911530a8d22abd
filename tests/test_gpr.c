/* Tests for the GPR rule parser (include/cellgraph/gpr.h): DNF expansion, precedence, deduplication,
 * keywords, malformed rules with positions, the blow-up guards; and, on the real yeast-GEM model
 * ($CELLGRAPH_TEST_DATA/yeast-gem/yeast-GEM.yml, skipped when absent), how many rules a naive
 * "remove parentheses, split on ' or ', then ' and '" parse (as in torchcell) would get wrong. */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cellgraph/gem.h"
#include "cellgraph/gpr.h"

/* ---------------------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------------------- */

static void check_contains(const char *msg, const char *sub) {
    if (!strstr(msg, sub)) {
        print_error("message \"%s\" does not contain \"%s\"\n", msg, sub);
        fail();
    }
}

/* Parses rule and checks its DNF text against want. */
static void check_dnf(const char *rule, const char *want) {
    cg_dnf d;
    cg_status st = cg_gpr_parse(rule, &d);
    if (st != CG_OK) {
        print_error("rule \"%s\": %s\n", rule, cg_last_error());
        fail();
    }
    char buf[1024];
    size_t n = cg_dnf_to_string(&d, buf, sizeof buf);
    assert_int_equal(n, strlen(buf));
    if (strcmp(buf, want) != 0) {
        print_error("rule \"%s\": got \"%s\", want \"%s\"\n", rule, buf, want);
        fail();
    }
    assert_non_null(d.term_start);
    assert_int_equal(d.term_start[0], 0);
    assert_int_equal(d.term_start[d.n_terms], d.n_entries);
    /* genes sorted and unique inside each term */
    for (int t = 0; t < d.n_terms; t++) {
        assert_true(d.term_start[t + 1] > d.term_start[t]);
        for (int k = d.term_start[t] + 1; k < d.term_start[t + 1]; k++) assert_true(strcmp(d.genes[k - 1], d.genes[k]) < 0);
    }
    cg_dnf_free(&d);
    cg_dnf_free(&d); /* safe twice */
}

/* Checks that rule is rejected with CG_ERR_FORMAT, "position <pos>:" and the text sub in the message. */
static void check_bad(const char *rule, int pos, const char *sub) {
    cg_dnf d;
    memset(&d, 0x5a, sizeof d);
    cg_clear_error();
    cg_status st = cg_gpr_parse(rule, &d);
    if (st != CG_ERR_FORMAT) {
        print_error("rule \"%s\": status %d (%s), want a format error\n", rule, (int)st, cg_last_error());
        fail();
    }
    assert_int_equal(cg_last_status(), CG_ERR_FORMAT);
    char want[64];
    snprintf(want, sizeof want, "position %d: ", pos);
    check_contains(cg_last_error(), want);
    check_contains(cg_last_error(), sub);
    check_contains(cg_last_error(), "gene rule '");
    assert_int_equal(d.n_terms, 0); /* zeroed on error */
    assert_null(d.term_start);
    assert_null(d.genes);
    cg_dnf_free(&d);
}

/* ---------------------------------------------------------------------------------------------------
 * valid rules
 * ------------------------------------------------------------------------------------------------- */

static void test_single_and_flat(void **state) {
    check_dnf("YAL012W", "{YAL012W}");
    check_dnf("A and B", "{A,B}");
    check_dnf("A or B", "{A} | {B}");
    check_dnf("C and B and A", "{A,B,C}"); /* sorted by strcmp */
    check_dnf("(YDL174C and YEL039C) or (YDL174C and YJR048W)", "{YDL174C,YEL039C} | {YDL174C,YJR048W}");
    check_dnf("Q0045 or YLR130C-A or a_b.c", "{Q0045} | {YLR130C-A} | {a_b.c}");
    check_dnf("YLR130C-A and YLR130C", "{YLR130C,YLR130C-A}"); /* a prefix sorts first */
    check_dnf("b and B", "{B,b}");                             /* gene ids are case-sensitive */
    check_dnf("((A))", "{A}");
}

static void test_precedence(void **state) {
    check_dnf("A or B and C", "{A} | {B,C}");
    check_dnf("A and B or C", "{A,B} | {C}");
    check_dnf("A or B and C or D", "{A} | {B,C} | {D}");
    check_dnf("(A or B) and C", "{A,C} | {B,C}");
}

static void test_distribution(void **state) {
    check_dnf("A and (B or C)", "{A,B} | {A,C}");
    check_dnf("(A or B) and (C or D)", "{A,C} | {A,D} | {B,C} | {B,D}");
    check_dnf("A and (B or (C and (D or E)))", "{A,B} | {A,C,D} | {A,C,E}");
    check_dnf("(A or B) and (C or D) and E", "{A,C,E} | {A,D,E} | {B,C,E} | {B,D,E}");
    check_dnf("((A or B) and C) or (D and (E or F))", "{A,C} | {B,C} | {D,E} | {D,F}");
}

static void test_duplicates_and_no_absorption(void **state) {
    check_dnf("A and A", "{A}");
    check_dnf("A or A", "{A}");
    check_dnf("(A and B) or (B and A)", "{A,B}");
    check_dnf("(A or B) and (A or B)", "{A} | {A,B} | {B}");
    check_dnf("A or (A and B)", "{A} | {A,B}"); /* no absorption, by design */
    check_dnf("(A and B) or A", "{A,B} | {A}");
    check_dnf("A and (A or B)", "{A} | {A,B}");
}

static void test_keywords_and_whitespace(void **state) {
    check_dnf("A AND B OR C", "{A,B} | {C}");
    check_dnf("A And B oR C", "{A,B} | {C}");
    check_dnf("ORF1 and ANDY or ORx", "{ANDY,ORF1} | {ORx}"); /* words that only start like keywords */
    check_dnf("  (A\tand\nB)  or\r\nC ", "{A,B} | {C}");
    check_dnf("A and(B or C)", "{A,B} | {A,C}");
    check_dnf("(A)or(B)", "{A} | {B}");
}

static void test_empty_rule(void **state) {
    const char *rules[] = {"", "   ", " \t\r\n", NULL};
    for (int i = 0; i < 4; i++) {
        cg_dnf d;
        assert_int_equal(cg_gpr_parse(rules[i], &d), CG_OK);
        assert_int_equal(d.n_terms, 0);
        assert_int_equal(d.n_entries, 0);
        assert_non_null(d.term_start);
        assert_int_equal(d.term_start[0], 0);
        assert_null(d.genes);
        char buf[8] = "x";
        assert_int_equal(cg_dnf_to_string(&d, buf, sizeof buf), 0);
        assert_string_equal(buf, "");
        cg_dnf_free(&d);
    }
    assert_int_equal(cg_gpr_parse("A", NULL), CG_ERR_INVALID_ARG);
    cg_dnf_free(NULL);
}

static void test_to_string_and_equal(void **state) {
    cg_dnf a, b, c;
    assert_int_equal(cg_gpr_parse("A and (B or C)", &a), CG_OK);
    assert_int_equal(cg_gpr_parse("(A and B) or (C and A)", &b), CG_OK);
    assert_int_equal(cg_gpr_parse("(A and C) or (A and B)", &c), CG_OK);
    assert_true(cg_dnf_equal(&a, &b));
    assert_false(cg_dnf_equal(&a, &c)); /* same set, other order */
    /* the return value is the full length, output truncated to the buffer */
    char small[6];
    size_t n = cg_dnf_to_string(&a, small, sizeof small);
    assert_int_equal(n, strlen("{A,B} | {A,C}"));
    assert_string_equal(small, "{A,B}");
    assert_int_equal(cg_dnf_to_string(&a, NULL, 0), n);
    cg_dnf_free(&a);
    cg_dnf_free(&b);
    cg_dnf_free(&c);
}

/* ---------------------------------------------------------------------------------------------------
 * malformed rules
 * ------------------------------------------------------------------------------------------------- */

static void test_malformed(void **state) {
    /* dangling or leading operators */
    check_bad("A and", 6, "expected a gene or '(' but the rule ended");
    check_bad("A or", 5, "expected a gene or '(' but the rule ended");
    check_bad("and A", 1, "expected a gene or '(' but found 'and'");
    check_bad("A or or B", 6, "expected a gene or '(' but found 'or'");
    check_bad("A AND OR B", 7, "found 'OR'");
    check_bad("A and ) B", 7, "expected a gene or '(' but found ')'");
    /* two genes or groups in a row */
    check_bad("A B", 3, "expected 'and', 'or' or the end of the rule but found gene 'B'");
    check_bad("A and (B or C) D", 16, "found gene 'D'");
    check_bad("(A) (B)", 5, "found '('");
    check_bad("(A B)", 4, "expected 'and', 'or' or ')' but found gene 'B'");
    /* parentheses */
    check_bad("()", 1, "empty parentheses");
    check_bad("A and ()", 7, "empty parentheses");
    check_bad("(A or B", 8, "expected ')' to close the '(' at position 1 but the rule ended");
    check_bad("((A or B)", 10, "to close the '(' at position 1");
    check_bad("A or B)", 7, "unbalanced ')'");
    check_bad("(A))", 4, "unbalanced ')'");
    check_bad(")", 1, "expected a gene or '(' but found ')'");
    check_bad("(", 2, "the rule ended");
    /* characters */
    check_bad("A & B", 3, "invalid character '&'");
    check_bad("A, B", 2, "invalid character ','");
    check_bad("A and \x01", 7, "invalid byte 0x01");
    check_bad("A and \xc3\xa9", 7, "invalid byte 0xc3");
    /* the leftmost problem is reported */
    check_bad("A B %", 3, "found gene 'B'");
    check_bad("A % B C", 3, "invalid character '%'");
}

static void test_long_rule_message(void **state) {
    char rule[400];
    size_t n = 0;
    while (n < 300) n += (size_t)snprintf(rule + n, sizeof rule - n, "YAL%03dW or ", (int)n);
    snprintf(rule + n, sizeof rule - n, "or");
    cg_dnf d;
    assert_int_equal(cg_gpr_parse(rule, &d), CG_ERR_FORMAT);
    check_contains(cg_last_error(), "...': position ");
    check_contains(cg_last_error(), "expected a gene or '(' but found 'or'");
}

static void test_blowup_guard(void **state) {
    /* (A1 or B1) and ... and (Ak or Bk) has 2^k terms: 12 factors = 4096 terms is fine, 13 is too many */
    char rule[1024];
    for (int k = 12; k <= 13; k++) {
        size_t n = 0;
        for (int i = 0; i < k; i++)
            n += (size_t)snprintf(rule + n, sizeof rule - n, "%s(A%d or B%d)", i ? " and " : "", i, i);
        cg_dnf d;
        cg_status st = cg_gpr_parse(rule, &d);
        if (k == 12) {
            assert_int_equal(st, CG_OK);
            assert_int_equal(d.n_terms, 4096);
            assert_int_equal(d.n_entries, 4096 * 12);
            cg_dnf_free(&d);
        } else {
            assert_int_equal(st, CG_ERR_FORMAT);
            check_contains(cg_last_error(), "more than 4096 terms");
        }
    }
    /* nesting depth */
    char deep[1200];
    for (int depth = 200; depth <= 300; depth += 100) {
        size_t n = 0;
        for (int i = 0; i < depth; i++) deep[n++] = '(';
        deep[n++] = 'A';
        for (int i = 0; i < depth; i++) deep[n++] = ')';
        deep[n] = '\0';
        cg_dnf d;
        cg_status st = cg_gpr_parse(deep, &d);
        if (depth == 200) {
            assert_int_equal(st, CG_OK);
            assert_int_equal(d.n_terms, 1);
            cg_dnf_free(&d);
        } else {
            assert_int_equal(st, CG_ERR_FORMAT);
            check_contains(cg_last_error(), "nested deeper than 256");
        }
    }
}

/* ---------------------------------------------------------------------------------------------------
 * random rules: the DNF has the same truth table as the rule
 * ------------------------------------------------------------------------------------------------- */

/* 5 genes G0..G4; a truth table is a 32-bit mask over the 32 presence patterns (bit a: pattern a,
 * gene i present when bit i of a is set). */
static uint32_t gene_table(int i) {
    uint32_t m = 0;
    for (int a = 0; a < 32; a++)
        if (a >> i & 1) m |= 1u << a;
    return m;
}

static uint64_t lcg_state;
static int rnd(int n) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (int)((lcg_state >> 33) % (uint64_t)n);
}

/* Appends a random rule to buf (at *n) and returns its truth table. *kind gets 0 for a gene or a
 * parenthesised group, 1 for an unparenthesised 'and' chain, 2 for an unparenthesised 'or' chain. */
static uint32_t gen_rule(char *buf, size_t *n, size_t cap, int depth, int *kind) {
    static const char *and_kw[] = {" and ", " AND ", " And ", "\tand\t"};
    static const char *or_kw[] = {" or ", " OR ", " oR ", "\nor ", " or  "};
    if (depth == 0 || rnd(3) == 0) {
        int g = rnd(5);
        *n += (size_t)snprintf(buf + *n, cap - *n, "G%d", g);
        *kind = 0;
        return gene_table(g);
    }
    int is_and = rnd(2), parts = 2 + rnd(2);
    int wrap = rnd(4) == 0;
    if (wrap) *n += (size_t)snprintf(buf + *n, cap - *n, "(");
    uint32_t table = is_and ? 0xffffffffu : 0;
    for (int k = 0; k < parts; k++) {
        if (k) {
            const char *kw = is_and ? and_kw[rnd(4)] : or_kw[rnd(5)];
            *n += (size_t)snprintf(buf + *n, cap - *n, "%s", kw);
        }
        int child_kind;
        char sub[4096];
        size_t sn = 0;
        uint32_t t = gen_rule(sub, &sn, sizeof sub, depth - 1, &child_kind);
        /* an 'or' chain inside an 'and' needs parentheses; otherwise add them at random */
        int paren = (is_and && child_kind == 2) || (child_kind != 0 && rnd(3) == 0);
        *n += (size_t)snprintf(buf + *n, cap - *n, paren ? "(%s)" : "%s", sub);
        table = is_and ? (table & t) : (table | t);
    }
    if (wrap) *n += (size_t)snprintf(buf + *n, cap - *n, ")");
    *kind = wrap ? 0 : is_and ? 1 : 2;
    return table;
}

static uint32_t dnf_table(const cg_dnf *d) {
    uint32_t m = 0;
    for (int a = 0; a < 32; a++) {
        int any = 0;
        for (int t = 0; t < d->n_terms && !any; t++) {
            int all = 1;
            for (int k = d->term_start[t]; k < d->term_start[t + 1]; k++) all &= a >> (d->genes[k][1] - '0') & 1;
            any = all;
        }
        if (any) m |= 1u << a;
    }
    return m;
}

static void test_random_rules_truth_table(void **state) {
    lcg_state = 12345;
    char rule[1 << 15];
    int max_terms = 0;
    for (int it = 0; it < 3000; it++) {
        size_t n = 0;
        int kind;
        uint32_t want = gen_rule(rule, &n, sizeof rule, 1 + rnd(4), &kind);
        assert_true(n < sizeof rule - 1);
        cg_dnf d;
        if (cg_gpr_parse(rule, &d) != CG_OK) {
            print_error("rule \"%s\": %s\n", rule, cg_last_error());
            fail();
        }
        uint32_t got = dnf_table(&d);
        if (got != want) {
            print_error("rule \"%s\": truth table %08x, want %08x\n", rule, got, want);
            fail();
        }
        /* no identical terms; genes sorted within a term */
        for (int t = 0; t < d.n_terms; t++) {
            for (int k = d.term_start[t] + 1; k < d.term_start[t + 1]; k++) assert_true(strcmp(d.genes[k - 1], d.genes[k]) < 0);
            for (int u = 0; u < t; u++) {
                int same = d.term_start[t + 1] - d.term_start[t] == d.term_start[u + 1] - d.term_start[u];
                for (int k = 0; same && k < d.term_start[t + 1] - d.term_start[t]; k++)
                    same = !strcmp(d.genes[d.term_start[t] + k], d.genes[d.term_start[u] + k]);
                assert_false(same);
            }
        }
        if (d.n_terms > max_terms) max_terms = d.n_terms;
        cg_dnf_free(&d);
    }
    print_message("3000 random rules: DNF truth tables match; largest DNF %d terms\n", max_terms);
}

/* Random byte strings over the rule alphabet never crash; errors always carry a position. */
static void test_random_garbage(void **state) {
    static const char alphabet[] = "AB() andorAND\t-._x%";
    lcg_state = 777;
    char rule[64];
    int ok = 0;
    for (int it = 0; it < 20000; it++) {
        int len = rnd(40);
        for (int k = 0; k < len; k++) rule[k] = alphabet[rnd((int)sizeof alphabet - 1)];
        rule[len] = '\0';
        cg_dnf d;
        cg_status st = cg_gpr_parse(rule, &d);
        if (st == CG_OK) {
            ok++;
            cg_dnf_free(&d);
        } else {
            assert_int_equal(st, CG_ERR_FORMAT);
            check_contains(cg_last_error(), "': position ");
        }
    }
    print_message("20000 random strings: %d parsed\n", ok);
}

/* ---------------------------------------------------------------------------------------------------
 * the naive parse (torchcell) versus the real DNF, on yeast-GEM
 * ------------------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A naive term: its genes sorted and unique, joined with ',' (a canonical key). */
typedef struct naive_terms {
    int n;
    char **keys; /* malloc'd */
} naive_terms;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

/* torchcell-style parse: drop '(' and ')', split on " or ", then on " and "; terms deduplicated. */
static naive_terms naive_parse(const char *rule) {
    naive_terms nt = {0, NULL};
    size_t len = strlen(rule);
    char *s = malloc(len + 1), *w = s;
    assert_non_null(s);
    for (const char *p = rule; *p; p++)
        if (*p != '(' && *p != ')') *w++ = *p;
    *w = '\0';
    if (!*trim(s)) {
        free(s);
        return nt;
    }
    nt.keys = malloc((len + 1) * sizeof *nt.keys);
    char **genes = malloc((len + 1) * sizeof *genes);
    assert_non_null(nt.keys);
    assert_non_null(genes);
    char *or_part = s;
    for (;;) {
        char *or_next = strstr(or_part, " or ");
        if (or_next) *or_next = '\0';
        int ng = 0;
        char *and_part = or_part;
        for (;;) {
            char *and_next = strstr(and_part, " and ");
            if (and_next) *and_next = '\0';
            genes[ng++] = trim(and_part);
            if (!and_next) break;
            and_part = and_next + 5;
        }
        qsort(genes, (size_t)ng, sizeof *genes, cmp_str);
        char *key = malloc(len + 2);
        assert_non_null(key);
        size_t k = 0;
        for (int i = 0; i < ng; i++) {
            if (i && !strcmp(genes[i], genes[i - 1])) continue;
            k += (size_t)sprintf(key + k, "%s%s", k ? "," : "", genes[i]);
        }
        int dup = 0;
        for (int i = 0; i < nt.n && !dup; i++) dup = !strcmp(nt.keys[i], key);
        if (dup) free(key);
        else nt.keys[nt.n++] = key;
        if (!or_next) break;
        or_part = or_next + 4;
    }
    free(genes);
    free(s);
    return nt;
}

static void naive_free(naive_terms *nt) {
    for (int i = 0; i < nt->n; i++) free(nt->keys[i]);
    free(nt->keys);
}

/* 1 when the naive parse of rule gives the same set of terms as its DNF d. */
static int naive_agrees(const char *rule, const cg_dnf *d) {
    naive_terms nt = naive_parse(rule);
    int same = nt.n == d->n_terms; /* both are duplicate-free */
    char key[4096];
    for (int t = 0; same && t < d->n_terms; t++) {
        size_t k = 0;
        for (int g = d->term_start[t]; g < d->term_start[t + 1]; g++)
            k += (size_t)snprintf(key + k, sizeof key - k, "%s%s", g > d->term_start[t] ? "," : "", d->genes[g]);
        int found = 0;
        for (int i = 0; i < nt.n && !found; i++) found = !strcmp(nt.keys[i], key);
        same = found;
    }
    naive_free(&nt);
    return same;
}

static void test_naive_helper(void **state) {
    const struct {
        const char *rule;
        int agrees;
    } cases[] = {
        {"", 1},
        {"A", 1},
        {"(A and B) or (C and D)", 1},
        {"(B and A) or (A and B)", 1},
        {"A or B and C", 1},
        {"A and (B or C)", 0},
        {"(A or B) and (C or D)", 0},
        {"(A or B) and C", 0},
        {"A AND B", 0}, /* the naive split is case-sensitive */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cg_dnf d;
        assert_int_equal(cg_gpr_parse(cases[i].rule, &d), CG_OK);
        if (naive_agrees(cases[i].rule, &d) != cases[i].agrees) {
            print_error("naive_agrees(\"%s\") != %d\n", cases[i].rule, cases[i].agrees);
            fail();
        }
        cg_dnf_free(&d);
    }
}

static void test_real_rules_vs_naive(void **state) {
    const char *dir = getenv("CELLGRAPH_TEST_DATA");
    if (!dir || !*dir) skip();
    char path[4096];
    snprintf(path, sizeof path, "%s/yeast-gem/yeast-GEM.yml", dir);
    if (access(path, R_OK) != 0) skip();
    cg_gem g;
    if (cg_gem_load(path, &g) != CG_OK) {
        print_error("%s\n", cg_last_error());
        fail();
    }
    int with_rule = 0, not_dnf = 0, max_terms = 0, parens = 0, nested = 0;
    const char *max_id = "";
    for (int r = 0; r < g.n_reactions; r++) {
        const cg_gem_reaction *x = &g.reactions[r];
        if (x->gpr.n_terms > 0) with_rule++;
        if (x->gpr.n_terms > max_terms) {
            max_terms = x->gpr.n_terms;
            max_id = x->id;
        }
        if (strchr(x->gene_rule, '(')) parens++;
        int depth = 0, maxd = 0;
        for (const char *p = x->gene_rule; *p; p++) {
            if (*p == '(') depth++;
            if (*p == ')') depth--;
            if (depth > maxd) maxd = depth;
        }
        if (maxd > 1) nested++;
        if (!naive_agrees(x->gene_rule, &x->gpr)) {
            if (not_dnf < 5) print_message("not in DNF: %s: %s\n", x->id, x->gene_rule);
            not_dnf++;
        }
        /* the stored DNF is what cg_gpr_parse gives for the stored text */
        cg_dnf again;
        assert_int_equal(cg_gpr_parse(x->gene_rule, &again), CG_OK);
        assert_true(cg_dnf_equal(&again, &x->gpr));
        cg_dnf_free(&again);
    }
    print_message("yeast-GEM: %d reactions with a gene rule, %d with parentheses, %d nested deeper than one level; "
                  "%d rules not already in DNF (naive parse differs); largest DNF: %d terms (%s)\n",
                  with_rule, parens, nested, not_dnf, max_terms, max_id);
    /* yeast-GEM 9.0.2 writes every rule already in DNF: "(a and b) or (c and d) or e" */
    assert_int_equal(with_rule, 2709);
    assert_int_equal(nested, 0);
    assert_int_equal(not_dnf, 0);
    assert_int_equal(max_terms, 20);
    assert_string_equal(max_id, "r_1166");
    cg_gem_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_and_flat),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_duplicates_and_no_absorption),
        cmocka_unit_test(test_keywords_and_whitespace),
        cmocka_unit_test(test_empty_rule),
        cmocka_unit_test(test_to_string_and_equal),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_long_rule_message),
        cmocka_unit_test(test_blowup_guard),
        cmocka_unit_test(test_random_rules_truth_table),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_naive_helper),
        cmocka_unit_test(test_real_rules_vs_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
