/* libFuzzer harness: the files users give the CLI, on a small fixed gene table (fuzz_util.h).
 *   cg_read_genotype_file (predict --input: 1 to 3 names per line);
 *   cg_read_gene_list (screen --genes: one name per line, no gene twice). */
#include "cellgraph/genotype_files.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd < 0) return 0;
    cg_genes *g = fuzz_genes();
    int32_t n_genes = cg_genes_count(g);

    cg_genotype_list l = {0};
    if (cg_read_genotype_file(path, g, &l) == CG_OK && l.n == 0) abort();
    for (int64_t i = 0; i < l.n; i++) { /* 1 to 3 distinct genes, ascending, -1 padded */
        const int32_t *x = l.geno + 3 * i;
        if (x[0] < 0 || x[0] >= n_genes) abort();
        for (int k = 1; k < 3; k++)
            if (x[k] != -1 && (x[k] <= x[k - 1] || x[k] >= n_genes || x[k - 1] == -1)) abort();
        if (!l.given[i] || !l.given[i][0]) abort();
    }
    cg_genotype_list_free(&l);
    cg_clear_error();

    int32_t *list = NULL;
    int64_t n = 0;
    if (cg_read_gene_list(path, g, &list, &n) == CG_OK) {
        if (n < 1 || n > n_genes) abort();
        for (int64_t i = 0; i < n; i++)
            if (list[i] < 0 || list[i] >= n_genes) abort();
        free(list);
    }
    cg_clear_error();

    cg_genes_free(g);
    close(fd);
    return 0;
}
