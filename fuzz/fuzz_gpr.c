/* libFuzzer harness: gene-protein-reaction rules, cg_gpr_parse (the DNF expansion with its term and depth
 * guards), with the properties cellgraph/gpr.h promises checked on every rule that parses: genes sorted
 * and unique within a term, no two equal terms, at most CG_GPR_MAX_TERMS terms, and cg_dnf_to_string
 * sized by its own first call. */
#include "cellgraph/gpr.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    char *rule = fuzz_text(data, size);
    if (!rule) return 0;
    cg_dnf d;
    if (cg_gpr_parse(rule, &d) == CG_OK) {
        if (d.n_terms < 0 || d.n_terms > CG_GPR_MAX_TERMS || !d.term_start || d.term_start[0] != 0) abort();
        if (d.term_start[d.n_terms] != d.n_entries) abort();
        for (int t = 0; t < d.n_terms; t++) {
            if (d.term_start[t + 1] <= d.term_start[t]) abort(); /* a term has at least one gene */
            for (int k = d.term_start[t] + 1; k < d.term_start[t + 1]; k++)
                if (strcmp(d.genes[k - 1], d.genes[k]) >= 0) abort();
        }
        if (d.n_terms <= 64) /* equal terms merged (quadratic check: small DNFs only) */
            for (int a = 0; a < d.n_terms; a++)
                for (int b = a + 1; b < d.n_terms; b++) {
                    int na = d.term_start[a + 1] - d.term_start[a], nb = d.term_start[b + 1] - d.term_start[b];
                    if (na != nb) continue;
                    int same = 1;
                    for (int k = 0; k < na && same; k++)
                        same = strcmp(d.genes[d.term_start[a] + k], d.genes[d.term_start[b] + k]) == 0;
                    if (same) abort();
                }
        size_t len = cg_dnf_to_string(&d, NULL, 0);
        char *buf = malloc(len + 1);
        if (buf) {
            if (cg_dnf_to_string(&d, buf, len + 1) != len || strlen(buf) != len) abort();
            free(buf);
        }
        if (!cg_dnf_equal(&d, &d)) abort();
        cg_dnf_free(&d);
    } else if (d.n_terms != 0 || d.term_start || d.genes) {
        abort(); /* on error *out is left zeroed */
    }
    cg_clear_error();
    free(rule);
    return 0;
}
