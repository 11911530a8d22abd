/* libFuzzer harness: yeast-GEM YAML models.
 *   cg_gem_load_memory (the libyaml event reader of src/io/gem.c: sections, reactions, stoichiometry,
 *   bounds, gene rules), with the id lookups checked on every model that loads, and cg_gem_load on the
 *   bytes as a file (libyaml's file input), which must agree;
 *   cg_uniprot_map_from_gem (the line scanner of src/io/weighted_sources.c that reads the genes section's
 *   UniProt annotations) on the bytes as a file, with the fixed gene table of fuzz_util.h. */
#include "cellgraph/gem.h"
#include "cellgraph/weighted_sources.h"
#include <math.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cg_gem m;
    cg_status s_mem = cg_gem_load_memory((const char *)data, size, "fuzz.yml", &m);
    if (s_mem == CG_OK) {
        for (int i = 0; i < m.n_metabolites; i++)
            if (cg_gem_metabolite_index(&m, m.metabolites[i].id) != i) abort();
        for (int r = 0; r < m.n_reactions; r++) {
            const cg_gem_reaction *x = &m.reactions[r];
            if (cg_gem_reaction_index(&m, x->id) != r) abort();
            if (!(x->lower_bound <= x->upper_bound)) abort();
            for (int k = 0; k < x->n_stoich; k++)
                if (x->met[k] < 0 || x->met[k] >= m.n_metabolites || !isfinite(x->coef[k])) abort();
        }
        for (int i = 0; i < m.n_genes; i++)
            if (cg_gem_gene_index(&m, m.genes[i].id) != i) abort();
    }
    cg_clear_error();

    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd >= 0) {
        /* the file reader parses the same bytes the same way */
        cg_gem f;
        cg_status s_file = cg_gem_load(path, &f);
        if (s_file != s_mem) {
            fprintf(stderr, "memory: %d, file: %d (%s)\n", (int)s_mem, (int)s_file, cg_last_error());
            abort();
        }
        if (s_file == CG_OK) {
            if (f.n_reactions != m.n_reactions || f.n_metabolites != m.n_metabolites || f.n_genes != m.n_genes) abort();
            cg_gem_free(&f);
        }
        cg_clear_error();
        cg_genes *g = fuzz_genes();
        cg_uniprot_map *um = NULL;
        cg_source_stats st;
        if (cg_uniprot_map_from_gem(path, g, &um, &st) == CG_OK) {
            (void)cg_uniprot_map_gene(um, "P12345");
            cg_uniprot_map_free(um);
        }
        cg_clear_error();
        cg_genes_free(g);
        close(fd);
    }
    cg_gem_free(&m); /* zeroed when it did not load */
    return 0;
}
