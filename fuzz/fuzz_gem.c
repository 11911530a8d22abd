/* libFuzzer harness: yeast-GEM YAML models.
 *   cg_gem_load_memory (the libyaml event reader of src/io/gem.c: sections, reactions, stoichiometry,
 *   bounds, gene rules), with the id lookups checked on every model that loads;
 *   cg_uniprot_map_from_gem (the line scanner of src/io/weighted_sources.c that reads the genes section's
 *   UniProt annotations) on the bytes as a file, with the fixed gene table of fuzz_util.h. */
#include "cellgraph/gem.h"
#include "cellgraph/weighted_sources.h"
#include <math.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cg_gem m;
    if (cg_gem_load_memory((const char *)data, size, "fuzz.yml", &m) == CG_OK) {
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
        cg_gem_free(&m);
    }
    cg_clear_error();

    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd >= 0) {
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
    return 0;
}
