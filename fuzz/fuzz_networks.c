/* libFuzzer harness: every gene-network reader, on the fixed gene table of fuzz_util.h. The first byte
 * chooses the reader, the rest is the file:
 *   0 cg_read_string11_binding   1 cg_read_krogan2006        2 cg_read_tarassov2008
 *   3 cg_read_yeastract_matrix   4 cg_read_yeastract_2013    5 cg_read_coexpression
 *   6 cg_read_string9_channel (two files: the adjacency, then after the first 0x01 byte the gene list)
 *   7 cg_read_complex_portal (UniProt ids mapped through a fixed yeast-GEM genes section)
 * Every pair a reader returns must name genes of the table (and a weight for the weighted ones). */
#include "cellgraph/sources.h"
#include "cellgraph/weighted_sources.h"
#include "fuzz_util.h"

/* the genes section cg_uniprot_map_from_gem reads (the layout cobrapy writes) */
static const char GEM_GENES[] = "!!omap\n"
                                "- genes:\n"
                                "  - !!omap\n"
                                "    - id: YAL001C\n"
                                "    - name: TFC3\n"
                                "    - annotation: !!omap\n"
                                "      - uniprot: P34111\n"
                                "  - !!omap\n"
                                "    - id: YAL012W\n"
                                "    - annotation: !!omap\n"
                                "      - uniprot: P31373\n"
                                "  - !!omap\n"
                                "    - id: YGR240C\n"
                                "    - annotation: !!omap\n"
                                "      - uniprot: P16861\n";

static void check_edges(const cg_edge_list *l, int32_t n) {
    for (int64_t i = 0; i < l->n; i++)
        if (l->src[i] < 0 || l->src[i] >= n || l->dst[i] < 0 || l->dst[i] >= n) abort();
}

static void check_pairs(const cg_weighted_pairs *l, int32_t n) {
    for (int64_t i = 0; i < l->n; i++)
        if (l->a[i] < 0 || l->a[i] >= n || l->b[i] < 0 || l->b[i] >= n) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int which = data[0] % 8;
    data++, size--;
    cg_genes *g = fuzz_genes();
    int32_t n = cg_genes_count(g);
    cg_source_stats st;
    char path[64], path2[64];

    if (which <= 4) {
        int fd = fuzz_file(data, size, path);
        if (fd >= 0) {
            cg_edge_list l;
            cg_edge_list_init(&l);
            cg_status s = which == 0   ? cg_read_string11_binding(path, g, &l, &st)
                          : which == 1 ? cg_read_krogan2006(path, g, &l, &st)
                          : which == 2 ? cg_read_tarassov2008(path, g, &l, &st)
                          : which == 3 ? cg_read_yeastract_matrix(path, g, &l, &st)
                                       : cg_read_yeastract_2013(path, g, &l, &st);
            if (s == CG_OK) check_edges(&l, n);
            cg_edge_list_free(&l);
            close(fd);
        }
    } else {
        cg_weighted_pairs l;
        cg_weighted_pairs_init(&l);
        cg_status s = CG_ERR_IO;
        if (which == 5) {
            int fd = fuzz_file(data, size, path);
            if (fd >= 0) {
                s = cg_read_coexpression(path, g, &l, &st);
                close(fd);
            }
        } else if (which == 6) {
            const uint8_t *cut = memchr(data, 0x01, size);
            size_t n1 = cut ? (size_t)(cut - data) : size;
            size_t n2 = cut ? size - n1 - 1 : 0;
            int fd1 = fuzz_file(data, n1, path);
            int fd2 = fuzz_file(cut ? cut + 1 : data, n2, path2);
            if (fd1 >= 0 && fd2 >= 0) s = cg_read_string9_channel(path, path2, g, &l, &st);
            if (fd1 >= 0) close(fd1);
            if (fd2 >= 0) close(fd2);
        } else {
            int fdg = fuzz_file((const uint8_t *)GEM_GENES, sizeof GEM_GENES - 1, path2);
            cg_uniprot_map *um = NULL;
            cg_source_stats gst;
            if (fdg < 0 || cg_uniprot_map_from_gem(path2, g, &um, &gst) != CG_OK) abort();
            close(fdg);
            int fd = fuzz_file(data, size, path);
            if (fd >= 0) {
                s = cg_read_complex_portal(path, um, &l, &st);
                close(fd);
            }
            cg_uniprot_map_free(um);
        }
        if (s == CG_OK) check_pairs(&l, n);
        cg_weighted_pairs_free(&l);
    }
    cg_clear_error();
    cg_genes_free(g);
    return 0;
}
