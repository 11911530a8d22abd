/* libFuzzer harness: SGD_features.tab, cg_genes_load (the gene universe: ORF rows, names, aliases), and
 * the resolver on what it loaded: every systematic name looks up to its own index, a standard name to a
 * gene, and an unknown name is an error with its "closest known names" (edit distance over all names). */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd < 0) return 0;
    cg_genes *g = NULL;
    if (cg_genes_load(path, &g) == CG_OK) {
        int32_t n = cg_genes_count(g);
        if (n < 1) abort();
        for (int32_t i = 0; i < n; i++) {
            int32_t idx = -1;
            const char *sys = cg_genes_systematic(g, i);
            if (i > 0 && strcmp(cg_genes_systematic(g, i - 1), sys) >= 0) abort(); /* byte order, unique */
            if (cg_genes_index_of_systematic(g, sys) != i) abort();
            if (cg_genes_lookup(g, sys, &idx) != CG_LOOKUP_FOUND || idx != i) abort();
            const char *std = cg_genes_standard(g, i);
            if (!std || !cg_genes_aliases(g, i) || !cg_genes_qualifier(g, i)) abort();
            if (std[0]) (void)cg_genes_lookup(g, std, &idx);
        }
        int32_t idx;
        (void)cg_genes_resolve(g, "NOSUCHGENE1", &idx);
        (void)cg_genes_resolve(g, "SHARED1", &idx);
        cg_genes_free(g);
    }
    cg_clear_error();
    close(fd);
    return 0;
}
