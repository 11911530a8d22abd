/* Tests for the cobrapy YAML model reader (include/cellgraph/gem.h): a small hand-written model in both
 * map styles, every rejected input on small temp files, truncation at every byte, and the real yeast-GEM
 * 9.0.2 model ($CELLGRAPH_TEST_DATA/yeast-gem/yeast-GEM.yml; skipped when absent). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cellgraph/gem.h"

/* ---------------------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------------------- */

static void check_contains(const char *msg, const char *sub) {
    if (!strstr(msg, sub)) {
        print_error("message \"%s\" does not contain \"%s\"\n", msg, sub);
        fail();
    }
}

static void write_text(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 1-based line of the first occurrence of needle in text. */
static int line_of(const char *text, const char *needle) {
    const char *p = strstr(text, needle);
    assert_non_null(p);
    int line = 1;
    for (const char *q = text; q < p; q++) line += *q == '\n';
    return line;
}

/* A small model in cobrapy's layout (every map an !!omap sequence, as save_yaml_model writes it). */
static const char MINI[] =
    "!!omap\n"
    "- metaData:\n"
    "    id: \"mini_v1\"\n"
    "    name: \"a tiny model\"\n"
    "- metabolites:\n"
    "    - !!omap\n"
    "      - id: \"m_a\"\n"
    "      - name: \"alpha\"\n"
    "      - compartment: \"c\"\n"
    "      - formula: \"C6H12O6\"\n"
    "      - charge: 0\n"
    "      - annotation: !!omap\n"
    "          - chebi: \"CHEBI:1\"\n"
    "    - !!omap\n"
    "      - id: \"m_b\"\n"
    "      - name: \"beta\"\n"
    "      - compartment: \"c\"\n"
    "    - !!omap\n"
    "      - id: \"m_c\"\n"
    "      - name: \"gamma\"\n"
    "      - compartment: \"e\"\n"
    "- reactions:\n"
    "    - !!omap\n"
    "      - id: \"r_1\"\n"
    "      - name: \"first\"\n"
    "      - metabolites: !!omap\n"
    "          - m_a: -1\n"
    "          - m_b: 2.5\n"
    "      - lower_bound: -1000\n"
    "      - upper_bound: 1000\n"
    "      - gene_reaction_rule: \"G1 and (G2 or G3)\"\n"
    "      - eccodes:\n"
    "          - \"1.1.1.1\"\n"
    "      - subsystem:\n"
    "          - \"Glycolysis\"\n"
    "          - \"Other\"\n"
    "      - annotation: !!omap\n"
    "          - kegg.pathway:\n"
    "              - \"sce00010\"\n"
    "          - sbo: \"SBO:0000176\"\n"
    "      - deltaG: 10000000\n"
    "    - !!omap\n"
    "      - id: \"r_2\"\n"
    "      - name: \"second\"\n"
    "      - metabolites: !!omap\n"
    "          - m_b: -1\n"
    "          - m_c: 1e-06\n"
    "      - lower_bound: 0\n"
    "      - upper_bound: .inf\n"
    "      - objective_coefficient: 1\n"
    "      - subsystem: \"Transport\"\n"
    "    - !!omap\n"
    "      - id: \"r_3\"\n"
    "      - name: \"\"\n"
    "      - metabolites: !!omap\n"
    "          - m_c: -0.25\n"
    "      - lower_bound: -10\n"
    "      - upper_bound: 0\n"
    "      - gene_reaction_rule: \"\"\n"
    "- genes:\n"
    "    - !!omap\n"
    "      - id: \"G1\"\n"
    "      - name: \"ONE\"\n"
    "    - !!omap\n"
    "      - id: \"G2\"\n"
    "      - name: \"TWO\"\n"
    "    - !!omap\n"
    "      - id: \"G3\"\n"
    "- compartments: !!omap\n"
    "    - c: \"cytoplasm\"\n"
    "    - e: \"extracellular\"\n";

/* The same model written with plain YAML mappings (and flow style in places). */
static const char MINI_PLAIN[] =
    "metaData: {id: mini_v1}\n"
    "compartments: {c: cytoplasm, e: extracellular}\n"
    "genes:\n"
    "  - {id: G1, name: ONE}\n"
    "  - {id: G2, name: TWO}\n"
    "  - {id: G3}\n"
    "reactions:\n"
    "  - id: r_1\n"
    "    name: first\n"
    "    metabolites: {m_a: -1, m_b: 2.5}\n"
    "    lower_bound: -1000\n"
    "    upper_bound: 1000\n"
    "    gene_reaction_rule: G1 and (G2 or G3)\n"
    "    subsystem: [Glycolysis, Other]\n"
    "  - id: r_2\n"
    "    name: second\n"
    "    metabolites:\n"
    "      m_b: -1\n"
    "      m_c: 1.0e-6\n"
    "    lower_bound: 0\n"
    "    upper_bound: .inf\n"
    "    objective_coefficient: 1\n"
    "    subsystem: Transport\n"
    "  - id: r_3\n"
    "    name:\n"
    "    metabolites: {m_c: -0.25}\n"
    "    lower_bound: -10\n"
    "    upper_bound: 0\n"
    "metabolites:\n"
    "  - {id: m_a, name: alpha, compartment: c}\n"
    "  - {id: m_b, name: beta, compartment: c}\n"
    "  - {id: m_c, name: gamma, compartment: e}\n";

static void check_mini(const cg_gem *g) {
    assert_string_equal(g->model_id, "mini_v1");
    assert_int_equal(g->n_metabolites, 3);
    assert_int_equal(g->n_reactions, 3);
    assert_int_equal(g->n_genes, 3);
    assert_int_equal(g->n_compartments, 2);
    assert_string_equal(g->compartments[1].id, "e");
    assert_string_equal(g->compartments[1].name, "extracellular");
    assert_string_equal(g->metabolites[0].id, "m_a");
    assert_string_equal(g->metabolites[0].name, "alpha");
    assert_string_equal(g->metabolites[2].compartment, "e");
    assert_string_equal(g->genes[0].name, "ONE");
    assert_string_equal(g->genes[2].name, "");
    assert_int_equal(cg_gem_metabolite_index(g, "m_c"), 2);
    assert_int_equal(cg_gem_metabolite_index(g, "m_x"), -1);
    assert_int_equal(cg_gem_reaction_index(g, "r_2"), 1);
    assert_int_equal(cg_gem_gene_index(g, "G3"), 2);
    assert_int_equal(cg_gem_gene_index(g, "G4"), -1);

    const cg_gem_reaction *r1 = &g->reactions[0], *r2 = &g->reactions[1], *r3 = &g->reactions[2];
    assert_string_equal(r1->id, "r_1");
    assert_string_equal(r1->name, "first");
    assert_string_equal(r1->subsystem, "Glycolysis");
    assert_string_equal(r1->gene_rule, "G1 and (G2 or G3)");
    assert_true(r1->lower_bound == -1000 && r1->upper_bound == 1000);
    assert_true(cg_gem_reversible(r1));
    assert_int_equal(r1->n_stoich, 2);
    assert_int_equal(r1->met[0], 0);
    assert_int_equal(r1->met[1], 1);
    assert_true(r1->coef[0] == -1.0 && r1->coef[1] == 2.5);
    char buf[128];
    cg_dnf_to_string(&r1->gpr, buf, sizeof buf);
    assert_string_equal(buf, "{G1,G2} | {G1,G3}");
    assert_true(r1->objective_coefficient == 0);

    assert_string_equal(r2->subsystem, "Transport");
    assert_string_equal(r2->gene_rule, "");
    assert_int_equal(r2->gpr.n_terms, 0);
    assert_true(isinf(r2->upper_bound) && r2->upper_bound > 0);
    assert_false(cg_gem_reversible(r2));
    assert_true(r2->coef[1] == 1e-6);
    assert_true(r2->objective_coefficient == 1);

    assert_string_equal(r3->name, "");
    assert_string_equal(r3->subsystem, "");
    assert_false(cg_gem_reversible(r3));
    assert_int_equal(r3->n_stoich, 1);
    assert_int_equal(r3->met[0], 2);

    /* CSR view */
    assert_int_equal(g->n_stoich, 5);
    const int64_t want_start[4] = {0, 2, 4, 5};
    for (int i = 0; i < 4; i++) assert_int_equal(g->stoich_start[i], want_start[i]);
    assert_ptr_equal(r2->met, g->stoich_met + 2);
    assert_ptr_equal(r2->coef, g->stoich_coef + 2);
}

/* ---------------------------------------------------------------------------------------------------
 * small models
 * ------------------------------------------------------------------------------------------------- */

static void test_mini_omap_file(void **state) {
    char path[512];
    tu_temp_path(path, sizeof path, "mini.yml");
    write_text(path, MINI, strlen(MINI));
    cg_gem g;
    if (cg_gem_load(path, &g) != CG_OK) {
        print_error("%s\n", cg_last_error());
        fail();
    }
    check_mini(&g);
    assert_string_equal(g.path, path);
    assert_int_equal(g.reactions[1].line, line_of(MINI, "\"r_2\"") - 1); /* the "- !!omap" line */
    assert_int_equal(g.metabolites[1].line, line_of(MINI, "\"m_b\"") - 1);
    cg_gem_free(&g);
    cg_gem_free(&g); /* safe twice */
    unlink(path);
}

static void test_mini_plain_memory(void **state) {
    cg_gem g;
    if (cg_gem_load_memory(MINI_PLAIN, strlen(MINI_PLAIN), "plain.yml", &g) != CG_OK) {
        print_error("%s\n", cg_last_error());
        fail();
    }
    check_mini(&g);
    assert_string_equal(g.path, "plain.yml");
    cg_gem_free(&g);
    cg_gem_free(NULL);
}

/* Loads MINI with the first occurrence of `from` replaced by `to` from a temp file; expects status want
 * and every non-NULL sub in the message. */
static void check_variant(const char *from, const char *to, cg_status want, const char *sub1, const char *sub2) {
    const char *p = strstr(MINI, from);
    assert_non_null(p);
    size_t pre = (size_t)(p - MINI), nf = strlen(from), nt = strlen(to);
    size_t n = strlen(MINI) - nf + nt;
    char *text = malloc(n + 1);
    assert_non_null(text);
    memcpy(text, MINI, pre);
    memcpy(text + pre, to, nt);
    memcpy(text + pre + nt, p + nf, strlen(p + nf) + 1);
    char path[512];
    tu_temp_path(path, sizeof path, "variant.yml");
    write_text(path, text, n);
    cg_gem g;
    memset(&g, 0x5a, sizeof g);
    cg_status st = cg_gem_load(path, &g);
    if (st != want) {
        print_error("replacing '%s' by '%s': status %d (%s), want %d\n", from, to, (int)st, cg_last_error(), (int)want);
        fail();
    }
    if (st == CG_OK) {
        cg_gem_free(&g);
    } else {
        assert_null(g.reactions); /* zeroed on error */
        assert_int_equal(g.n_reactions, 0);
        check_contains(cg_last_error(), path);
        if (sub1) check_contains(cg_last_error(), sub1);
        if (sub2) check_contains(cg_last_error(), sub2);
    }
    unlink(path);
    free(text);
}

static void test_missing_file(void **state) {
    cg_gem g;
    assert_int_equal(cg_gem_load("/nonexistent/dir/model.yml", &g), CG_ERR_IO);
    check_contains(cg_last_error(), "/nonexistent/dir/model.yml");
    check_contains(cg_last_error(), "No such file or directory");
    assert_int_equal(g.n_reactions, 0);
    /* a directory */
    assert_int_equal(cg_gem_load("/tmp", &g), CG_ERR_IO);
    check_contains(cg_last_error(), "directory");
    assert_int_equal(cg_gem_load(NULL, &g), CG_ERR_INVALID_ARG);
}

static void test_malformed_yaml(void **state) {
    /* an unterminated quoted string */
    check_variant("\"first\"\n", "\"first\n", CG_ERR_FORMAT, "column", NULL);
    /* bad indentation: the libyaml problem with the line and column of the offending text */
    char want[96];
    snprintf(want, sizeof want, "line %d column 6: did not find expected '-' indicator",
             line_of(MINI, "metabolites: !!omap"));
    check_variant("      - metabolites: !!omap", "     - metabolites: !!omap", CG_ERR_FORMAT, want,
                  "while parsing a block collection");
    /* an unclosed flow sequence */
    check_variant("      - eccodes:\n", "      - eccodes: [\"1.1\",\n", CG_ERR_FORMAT, "line ", "column");
    /* a tab used for indentation */
    check_variant("      - name: \"beta\"", "\t- name: \"beta\"", CG_ERR_FORMAT, "line ", "column");
    /* structure that is valid YAML but not a model */
    check_variant("      - id: \"m_b\"", "      - id: [1, 2]", CG_ERR_FORMAT, "metabolite id: expected a string", NULL);
    check_variant("      - name: \"first\"", "      - name: *anchor", CG_ERR_FORMAT, "aliases are not supported",
                  NULL);
    check_variant("- genes:\n", "- genez:\n", CG_ERR_FORMAT, "no 'genes' section", NULL);

    /* whole files that are not models */
    const struct {
        const char *text, *sub;
    } bad[] = {
        {"", "empty file"},
        {"# only a comment\n", "empty file"},
        {"hello\n", "top level is not a map"},
        {"- 1\n- 2\n", "expected a key: value entry"},
        {"reactions: []\ngenes: []\n", "no 'metabolites' section"},
        {"metabolites: 5\nreactions: []\ngenes: []\n", "line 1: 'metabolites' is not a list"},
        {"metabolites: []\nreactions: [{id: r_1, lower_bound: 0, upper_bound: 1}]\ngenes: []\n", "no 'metabolites'"},
        {"metabolites: []\nreactions: [{id: r_1, lower_bound: 0, upper_bound: 1}]\ngenes: [\n",
         "line 4 column 1: did not find expected node content"}, /* the syntax error wins */
        {"metabolites: []\nreactions: []\ngenes: []\n---\nmetabolites: []\n", "more than one YAML document"},
        {"metabolites: [\n", "line 2 column 1"},
        {"metabolites: []\n\xff\xfe bad utf-8\n", "byte "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cg_gem g;
        cg_status st = cg_gem_load_memory(bad[i].text, strlen(bad[i].text), "bad.yml", &g);
        if (st != CG_ERR_FORMAT) {
            print_error("case %zu: status %d (%s)\n", i, (int)st, cg_last_error());
            fail();
        }
        check_contains(cg_last_error(), "bad.yml: ");
        check_contains(cg_last_error(), bad[i].sub);
    }
    /* empty sections are fine */
    cg_gem g;
    const char *empty = "metabolites: []\nreactions:\ngenes: []\n";
    assert_int_equal(cg_gem_load_memory(empty, strlen(empty), NULL, &g), CG_OK);
    assert_int_equal(g.n_reactions, 0);
    assert_int_equal(g.n_stoich, 0);
    assert_non_null(g.stoich_start);
    assert_string_equal(g.path, "<memory>");
    cg_gem_free(&g);
}

static void test_bad_reactions(void **state) {
    char want[96];
    /* unknown metabolite: names the file, the line and the reaction */
    snprintf(want, sizeof want, "line %d: reaction r_2: unknown metabolite 'm_x'", line_of(MINI, "m_c: 1e-06"));
    check_variant("m_c: 1e-06", "m_x: 1e-06", CG_ERR_FORMAT, want, NULL);
    /* malformed gene rule */
    snprintf(want, sizeof want, "line %d: reaction r_1: gene rule 'G1 and (G2 or G3': position 17: expected ')'",
             line_of(MINI, "gene_reaction_rule"));
    check_variant("(G2 or G3)", "(G2 or G3", CG_ERR_FORMAT, want, NULL);
    check_variant("(G2 or G3)", "(G2 G3)", CG_ERR_FORMAT, "reaction r_1: gene rule", "position 12");
    /* non-numeric values */
    snprintf(want, sizeof want, "line %d: reaction r_1: lower_bound: 'abc' is not a number",
             line_of(MINI, "lower_bound: -1000"));
    check_variant("lower_bound: -1000", "lower_bound: abc", CG_ERR_FORMAT, want, NULL);
    check_variant("upper_bound: 1000", "upper_bound: \"\"", CG_ERR_FORMAT, "reaction r_1: upper_bound", NULL);
    check_variant("upper_bound: 1000", "upper_bound: 10 00", CG_ERR_FORMAT, "is not a number", NULL);
    check_variant("upper_bound: 1000", "upper_bound: 0x10", CG_ERR_FORMAT, "is not a number", NULL);
    check_variant("upper_bound: 1000", "upper_bound: .nan", CG_ERR_FORMAT, "is not a number", NULL);
    check_variant("m_a: -1", "m_a: x1", CG_ERR_FORMAT, "reaction r_1: coefficient of m_a: 'x1' is not a finite number",
                  NULL);
    check_variant("m_a: -1", "m_a: -.inf", CG_ERR_FORMAT, "coefficient of m_a", NULL);
    check_variant("m_a: -1", "m_a: 1e999", CG_ERR_FORMAT, "coefficient of m_a", NULL);
    check_variant("m_a: -1", "m_a: [1]", CG_ERR_FORMAT, "coefficient of m_a: expected a number", NULL);
    /* accepted number forms */
    check_variant("m_a: -1", "m_a: -1.", CG_OK, NULL, NULL);
    check_variant("m_a: -1", "m_a: +.5E+1", CG_OK, NULL, NULL);
    check_variant("m_a: -1", "m_a: \"-1\"", CG_OK, NULL, NULL);
    check_variant("lower_bound: -1000", "lower_bound: -.Inf", CG_OK, NULL, NULL);
    /* ids */
    check_variant("      - id: \"r_2\"\n", "", CG_ERR_FORMAT, "reaction without an 'id'", NULL);
    check_variant("      - id: \"r_2\"\n", "      - id: \"\"\n", CG_ERR_FORMAT, "reaction without an 'id'", NULL);
    snprintf(want, sizeof want, "line %d: duplicate reaction id 'r_1' (first at line %d)", line_of(MINI, "\"r_2\"") - 1,
             line_of(MINI, "\"r_1\"") - 1);
    check_variant("\"r_2\"", "\"r_1\"", CG_ERR_FORMAT, want, NULL);
    check_variant("\"m_c\"", "\"m_b\"", CG_ERR_FORMAT, "duplicate metabolite id 'm_b'", NULL);
    check_variant("      - id: \"m_b\"\n", "", CG_ERR_FORMAT, "metabolite without an 'id'", NULL);
    check_variant("\"G2\"\n      - name", "\"G1\"\n      - name", CG_ERR_FORMAT, "duplicate gene id 'G1'", NULL);
    /* structure of one reaction */
    check_variant("      - upper_bound: 1000\n", "", CG_ERR_FORMAT, "reaction r_1: no 'upper_bound'", NULL);
    check_variant("      - lower_bound: 0\n", "", CG_ERR_FORMAT, "reaction r_2: no 'lower_bound'", NULL);
    check_variant("      - upper_bound: 1000", "      - upper_bound: -2000", CG_ERR_FORMAT,
                  "reaction r_1: lower_bound -1000 > upper_bound -2000", NULL);
    check_variant("m_b: 2.5", "m_a: 2.5", CG_ERR_FORMAT, "reaction r_1: metabolite 'm_a' listed twice", NULL);
    /* a rule naming a gene outside the genes section is accepted (cobrapy adds such genes) */
    check_variant("(G2 or G3)", "(G2 or G9)", CG_OK, NULL, NULL);
}

static void test_truncated(void **state) {
    size_t len = strlen(MINI);
    /* the brief's case: a copy cut in the middle, from a file */
    char path[512];
    tu_temp_path(path, sizeof path, "cut.yml");
    write_text(path, MINI, len / 2);
    cg_gem g;
    assert_int_equal(cg_gem_load(path, &g), CG_ERR_FORMAT);
    check_contains(cg_last_error(), path);
    print_message("cut at %zu of %zu bytes: %s\n", len / 2, len, cg_last_error());
    unlink(path);
    /* every cut: an error, or a smaller model; never a crash or a leak (run under ASan) */
    int ok = 0, failed = 0;
    for (size_t cut = 0; cut < len; cut++) {
        char *copy = malloc(cut ? cut : 1); /* exact size, so ASan sees any overread */
        assert_non_null(copy);
        memcpy(copy, MINI, cut);
        cg_status st = cg_gem_load_memory(copy, cut, "cut.yml", &g);
        if (st == CG_OK) {
            ok++;
            assert_true(cut > (size_t)(strstr(MINI, "- genes:") - MINI));
            assert_true(g.n_reactions <= 3 && g.n_metabolites <= 3 && g.n_genes <= 3);
            cg_gem_free(&g);
        } else {
            failed++;
            assert_int_equal(st, CG_ERR_FORMAT);
            assert_null(g.reactions);
        }
        free(copy);
    }
    /* only cuts inside the genes/compartments sections can still form a complete-looking model */
    print_message("%zu cuts: %d rejected, %d still a (smaller) valid model\n", len, failed, ok);
    assert_true(ok > 0 && failed > ok);
    assert_true((size_t)(ok + failed) == len);
}

/* Random byte edits of the small model: never a crash, a leak (ASan) or a status other than FORMAT. */
static void test_mutations(void **state) {
    static const char alphabet[] = "-:{}[]\"' \n\t!&*#x0.,?|>";
    uint64_t rng = 99;
    size_t len = strlen(MINI);
    char *text = malloc(len);
    assert_non_null(text);
    int ok = 0, failed = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(text, MINI, len);
        int edits = 1 + it % 3;
        for (int e = 0; e < edits; e++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(rng >> 33) % len;
            text[pos] = alphabet[(rng >> 20) % (sizeof alphabet - 1)];
        }
        cg_gem g;
        cg_status st = cg_gem_load_memory(text, len, "mutant.yml", &g);
        if (st == CG_OK) {
            ok++;
            cg_gem_free(&g);
        } else {
            failed++;
            if (st != CG_ERR_FORMAT) {
                print_error("status %d: %s\n", (int)st, cg_last_error());
                fail();
            }
        }
    }
    print_message("3000 mutated models: %d rejected, %d accepted\n", failed, ok);
    free(text);
}

/* ---------------------------------------------------------------------------------------------------
 * the real yeast-GEM model
 * ------------------------------------------------------------------------------------------------- */

static int real_path(char *buf, size_t len) {
    const char *dir = getenv("CELLGRAPH_TEST_DATA");
    if (!dir || !*dir) return 0;
    snprintf(buf, len, "%s/yeast-gem/yeast-GEM.yml", dir);
    return access(buf, R_OK) == 0;
}

static void test_real_model(void **state) {
    char path[4096];
    if (!real_path(path, sizeof path)) skip();
    cg_gem g;
    double t0 = now_s();
    if (cg_gem_load(path, &g) != CG_OK) {
        print_error("%s\n", cg_last_error());
        fail();
    }
    double dt = now_s() - t0;

    int empty = 0, reversible = 0, max_terms = 0, bad_coef = 0, unknown_genes = 0, with_subsystem = 0;
    for (int r = 0; r < g.n_reactions; r++) {
        const cg_gem_reaction *x = &g.reactions[r];
        if (x->gpr.n_terms == 0) {
            empty++;
            assert_string_equal(x->gene_rule, "");
        }
        if (cg_gem_reversible(x)) reversible++;
        if (x->gpr.n_terms > max_terms) max_terms = x->gpr.n_terms;
        if (*x->subsystem) with_subsystem++;
        assert_true(x->n_stoich > 0);
        for (int k = 0; k < x->n_stoich; k++) {
            if (!isfinite(x->coef[k]) || x->coef[k] == 0) bad_coef++;
            assert_true(x->met[k] >= 0 && x->met[k] < g.n_metabolites);
        }
        for (int k = 0; k < x->gpr.n_entries; k++) unknown_genes += cg_gem_gene_index(&g, x->gpr.genes[k]) < 0;
        assert_true(x->lower_bound <= x->upper_bound);
    }
    print_message("%s (%s): %d reactions, %d metabolites, %d genes, %d compartments, %lld stoichiometry entries; "
                  "%d empty gene rules, %d reversible; largest DNF %d terms; loaded in %.1f ms\n",
                  path, g.model_id, g.n_reactions, g.n_metabolites, g.n_genes, g.n_compartments,
                  (long long)g.n_stoich, empty, reversible, max_terms, dt * 1e3);

    /* the counts of the data README */
    assert_string_equal(g.model_id, "yeastGEM_v9.0.2");
    assert_int_equal(g.n_reactions, 4131);
    assert_int_equal(g.n_metabolites, 2806);
    assert_int_equal(g.n_genes, 1161);
    assert_int_equal(g.n_compartments, 14);
    assert_int_equal(empty, 1422);
    /* found in the file (cobra's definition lower_bound < 0 < upper_bound) */
    assert_int_equal(reversible, 1668);
    assert_int_equal(g.n_stoich, 15567);
    assert_int_equal(max_terms, 20);
    assert_int_equal(bad_coef, 0);
    assert_int_equal(unknown_genes, 0);
    assert_int_equal(with_subsystem, 4131);
    /* the load time is printed above, never asserted: timings belong in bench/ (a test must not fail on a busy machine) */

    /* r_0001 */
    int r0 = cg_gem_reaction_index(&g, "r_0001");
    assert_int_equal(r0, 0);
    const cg_gem_reaction *x = &g.reactions[r0];
    assert_string_equal(x->name, "(R)-lactate:ferricytochrome-c 2-oxidoreductase");
    assert_string_equal(x->subsystem, "Pyruvate metabolism");
    assert_int_equal(x->gpr.n_terms, 4);
    char buf[256];
    cg_dnf_to_string(&x->gpr, buf, sizeof buf);
    assert_string_equal(buf, "{YDL174C,YEL039C} | {YDL174C,YJR048W} | {YEL039C,YEL071W} | {YEL071W,YJR048W}");
    assert_true(x->lower_bound == 0 && x->upper_bound == 1000);
    assert_int_equal(x->n_stoich, 4);
    assert_string_equal(g.metabolites[x->met[0]].id, "s_0025");
    assert_true(x->coef[0] == -1 && x->coef[1] == -2 && x->coef[2] == 2 && x->coef[3] == 1);

    /* details checked against the file */
    assert_int_equal(cg_gem_metabolite_index(&g, "s_0001"), 0);
    assert_string_equal(g.metabolites[0].name, "(1->3)-beta-D-glucan");
    assert_string_equal(g.metabolites[0].compartment, "ce");
    assert_int_equal(cg_gem_metabolite_index(&g, "s_9999"), -1);
    int q = cg_gem_gene_index(&g, "Q0045");
    assert_int_equal(q, 0);
    assert_string_equal(g.genes[q].name, "COX1");
    assert_string_equal(g.genes[cg_gem_gene_index(&g, "YDR109C")].name, ""); /* the one gene without a name */
    assert_string_equal(g.compartments[0].id, "c");
    assert_string_equal(g.compartments[0].name, "cytoplasm");
    const cg_gem_reaction *r3 = &g.reactions[cg_gem_reaction_index(&g, "r_0003")];
    assert_true(cg_gem_reversible(r3));
    assert_string_equal(r3->gene_rule, "YAL060W");
    /* "-1e-06" has no dot: YAML 1.1 (PyYAML) would read it as a string; it is a number here */
    const cg_gem_reaction *r4598 = &g.reactions[cg_gem_reaction_index(&g, "r_4598")];
    int found = 0;
    for (int k = 0; k < r4598->n_stoich; k++)
        if (!strcmp(g.metabolites[r4598->met[k]].id, "s_0750")) {
            assert_true(r4598->coef[k] == -1e-06);
            found = 1;
        }
    assert_true(found);
    /* exactly one reaction carries an objective coefficient (the biomass reaction) */
    int n_obj = 0;
    for (int r = 0; r < g.n_reactions; r++) n_obj += g.reactions[r].objective_coefficient != 0;
    assert_int_equal(n_obj, 1);
    cg_gem_free(&g);
}

/* The real file cut inside the metabolites or reactions sections is rejected. */
static void test_real_truncated(void **state) {
    char path[4096];
    if (!real_path(path, sizeof path)) skip();
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    const size_t cuts[] = {(size_t)n / 10, (size_t)n / 3, (size_t)n / 2, (size_t)n * 9 / 10};
    for (int i = 0; i < 4; i++) {
        cg_gem g;
        cg_status st = cg_gem_load_memory(buf, cuts[i], "yeast-GEM.yml", &g);
        assert_int_equal(st, CG_ERR_FORMAT);
        print_message("cut at %zu: %s\n", cuts[i], cg_last_error());
    }
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mini_omap_file),
        cmocka_unit_test(test_mini_plain_memory),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_malformed_yaml),
        cmocka_unit_test(test_bad_reactions),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_real_model),
        cmocka_unit_test(test_real_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
