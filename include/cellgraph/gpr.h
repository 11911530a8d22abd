/* cellgraph/gpr.h: gene-protein-reaction (GPR) rules parsed into disjunctive normal form.
 *
 * A GPR rule says which genes a metabolic reaction needs. The syntax is COBRA's `gene_reaction_rule`
 * (cobrapy, COBRA Toolbox, yeast-GEM), e.g. `YAL012W and (YBR001C or YCR002C)`:
 *
 *   expr   := term ('or' term)*
 *   term   := factor ('and' factor)*
 *   factor := GENE | '(' expr ')'
 *
 * - 'and' binds tighter than 'or': `A or B and C` means `A or (B and C)`.
 * - The keywords are case-insensitive (`and`, `AND`, `And`, `or`, `OR`, ...).
 * - A GENE is a run of [A-Za-z0-9_.-] that is not a keyword (YAL012W, Q0045, YLR130C-A).
 * - Whitespace (space, tab, CR, LF, FF, VT) is free-form; "A and(B or C)" is accepted.
 * - An empty or whitespace-only rule means "no genes": the result has zero terms (the caller treats the
 *   reaction as gene-free, e.g. spontaneous or exchange).
 *
 * The result is the rule in disjunctive normal form: an OR of AND-terms, each term a set of gene ids.
 * A reaction can run when all genes of at least one term are present, so a deletion set kills the
 * reaction iff it hits every term. Properties of the normal form:
 *
 * - Genes inside a term are sorted by strcmp and unique (`A and A` -> {A}).
 * - Identical terms are merged (`A or A` -> {A}; `(A and B) or (B and A)` -> {A,B}).
 * - Distribution is exact: `A and (B or C)` -> {A,B} | {A,C};
 *   `(A or B) and (C or D)` -> {A,C} | {A,D} | {B,C} | {B,D}.
 * - Term order is deterministic: the order in which terms first appear when the rule is expanded left to
 *   right (for X and Y: every term of X in order, each combined with every term of Y in order).
 * - NO absorption: `A or (A and B)` keeps both {A} and {A,B}, although {A} alone is logically equivalent.
 *   Subsumed terms are harmless for the "hit every term" deletion test, and keeping them keeps the
 *   expansion a plain syntactic transformation that callers can compare with other tools.
 * - Blow-up guard: an expansion with more than CG_GPR_MAX_TERMS distinct terms is rejected
 *   (CG_ERR_FORMAT); parentheses nested deeper than CG_GPR_MAX_DEPTH too.
 *
 * Errors are CG_ERR_FORMAT with the message
 *   gene rule '<rule>': position P: <what was expected / found>
 * where P is the 1-based byte position in the rule (rule length + 1 for "the rule ended"), and a rule
 * longer than 120 bytes is shortened with "..." in the message. Callers add context in front with
 * cg_error_wrap, e.g. the yeast-GEM reader produces
 *   yeast-GEM.yml: line 35152: reaction r_0001: gene rule '...': position 7: expected a gene or '(' ...
 * Rejected: unbalanced parentheses, a dangling or leading operator ("A and", "or A", "A and or B"),
 * two genes or groups in a row ("A B", "(A) (B)"), empty parentheses "()", any other character.
 */
#ifndef CELLGRAPH_GPR_H
#define CELLGRAPH_GPR_H

#include <stddef.h>

#include "cellgraph/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CG_GPR_MAX_TERMS 4096 /* more distinct DNF terms than this: CG_ERR_FORMAT */
#define CG_GPR_MAX_DEPTH 256  /* deeper parenthesis nesting than this: CG_ERR_FORMAT */

/* A rule in disjunctive normal form, stored CSR-style: term t holds the genes
 * genes[term_start[t]] .. genes[term_start[t+1]-1].
 *
 *   for (int t = 0; t < d.n_terms; t++)
 *       for (int k = d.term_start[t]; k < d.term_start[t + 1]; k++) use(d.genes[k]);
 *
 * A gene that occurs in several terms is stored once per term. After a successful cg_gpr_parse,
 * term_start is never NULL (term_start[0] == 0, even for zero terms); genes is NULL when n_entries == 0.
 * The pointer array and the strings it points to are a single allocation owned by the cg_dnf: do not
 * free single entries; release everything with cg_dnf_free. */
typedef struct cg_dnf {
    int n_terms;     /* number of AND-terms (0: no genes) */
    int *term_start; /* [n_terms + 1] offsets into genes */
    int n_entries;   /* term_start[n_terms]: total number of (term, gene) entries */
    char **genes;    /* [n_entries] gene ids, NUL-terminated, sorted by strcmp within each term */
} cg_dnf;

/* Parses a GPR rule (NUL-terminated; NULL is treated as "") into *out, which is overwritten (not freed:
 * call cg_dnf_free first when reusing one). On error *out is left zeroed (nothing to free, freeing it is
 * safe). Errors: CG_ERR_FORMAT as described above; CG_ERR_NOMEM; CG_ERR_INVALID_ARG when out is NULL. */
cg_status cg_gpr_parse(const char *rule, cg_dnf *out);

/* Frees the arrays of d and zeroes it. Safe on a zeroed or already freed cg_dnf, and on NULL. */
void cg_dnf_free(cg_dnf *d);

/* Writes d as text into buf (at most len bytes including the NUL, truncated if needed; buf may be NULL
 * when len is 0): terms separated by " | ", each term as {gene,gene,...}, e.g. "{A,B} | {A,C}"; zero
 * terms give "". Returns the length the full text has (snprintf convention), so a caller can size buf
 * with a first call cg_dnf_to_string(d, NULL, 0). */
size_t cg_dnf_to_string(const cg_dnf *d, char *buf, size_t len);

/* 1 when the two DNFs hold the same terms in the same order with the same genes, else 0. */
int cg_dnf_equal(const cg_dnf *a, const cg_dnf *b);

#ifdef __cplusplus
}
#endif
#endif
