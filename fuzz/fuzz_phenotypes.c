/* libFuzzer harness: every phenotype (label) reader, on the fixed gene table of fuzz_util.h. The first
 * byte chooses the reader, the rest is the file:
 *   0 cg_read_costanzo_smf   1 cg_read_dcell_pairs   2 cg_read_query_fitness
 *   3 cg_read_sga_table at 30 C   4 cg_read_sga_table at 26 C
 * Every record a reader emits is checked against cellgraph/phenotypes.h: 1 to 3 distinct genes of the
 * table, ascending, -1 padded; the label that fits the number of genes; query genes among them. */
#include "cellgraph/phenotypes.h"
#include "fuzz_util.h"

typedef struct emit_ctx {
    int32_t n_genes;
    int64_t records;
} emit_ctx;

static cg_status check_record(void *ctx, const cg_pheno_record *r) {
    emit_ctx *c = ctx;
    if (r->n_genes < 1 || r->n_genes > 3) abort();
    for (int k = 0; k < 3; k++) {
        if (k < r->n_genes) {
            if (r->genes[k] < 0 || r->genes[k] >= c->n_genes) abort();
            if (k > 0 && r->genes[k] <= r->genes[k - 1]) abort();
        } else if (r->genes[k] != -1) {
            abort();
        }
    }
    if (r->label != CG_LABEL_FITNESS && (int)r->label != cg_interaction_label(r->n_genes)) abort();
    if (r->n_query < 0 || r->n_query > 2) abort();
    for (int q = 0; q < r->n_query; q++) {
        int in = 0;
        for (int k = 0; k < r->n_genes; k++) in |= r->genes[k] == r->query[q];
        if (!in) abort();
    }
    c->records++;
    return CG_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] % 5;
    char path[64];
    int fd = fuzz_file(data + 1, size - 1, path);
    if (fd < 0) return 0;
    cg_genes *g = fuzz_genes();
    emit_ctx c = {cg_genes_count(g), 0};
    cg_pheno_stats st;
    cg_status s = which == 0   ? cg_read_costanzo_smf(path, g, check_record, &c, &st)
                  : which == 1 ? cg_read_dcell_pairs(path, g, check_record, &c, &st)
                  : which == 2 ? cg_read_query_fitness(path, g, check_record, &c, &st)
                               : cg_read_sga_table(path, g, which == 3 ? 30 : 26, check_record, &c, &st);
    if (s == CG_OK && st.records != c.records) abort();
    cg_clear_error();
    cg_genes_free(g);
    close(fd);
    return 0;
}
