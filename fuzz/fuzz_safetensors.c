/* libFuzzer harness: safetensors files, through the three readers that open them.
 *   cg_safetensors_open (header validation), then every tensor's info, cg_safetensors_get_tensor and a
 *   read of its bytes, and every metadata entry;
 *   cg_graph_load (the graph file: string tables, CSR, reaction tables checked before use), and on a graph
 *   that loads, what the commands read from it (use_graph);
 *   cg_checkpoint_info_read (a checkpoint's metadata: model and training configs, label statistics,
 *   progress values);
 *   cg_dataset_load (a dataset file: genotypes, labels, splits, label statistics, sources), and on a dataset
 *   that loads, a read of every sample. */
#include "cellgraph/dataset.h"
#include "cellgraph/genes.h"
#include "cellgraph/graph.h"
#include "cellgraph/safetensors.h"
#include "cellgraph/trainer.h"
#include "fuzz_util.h"

/* What the commands read from a loaded graph: every node's name and attributes, every edge inside its node
 * ranges and its CSR row, the gene resolver. A graph that loads must be safe to use. */
static void use_graph(const cg_graph *g) {
    size_t chars = 0;
    for (int t = 0; t < CG_NODE_TYPES; t++)
        for (int64_t i = 0; i < cg_graph_num_nodes(g, (cg_node_type)t); i++) {
            const char *name = cg_graph_node_name(g, (cg_node_type)t, i);
            if (!name) abort();
            chars += strlen(name);
        }
    for (int32_t i = 0; i < (int32_t)cg_graph_num_nodes(g, CG_GENE); i++)
        chars += strlen(cg_graph_gene_standard_name(g, i)) + strlen(cg_graph_gene_aliases(g, i)) +
                 strlen(cg_graph_gene_qualifier(g, i));
    for (int64_t r = 0; r < cg_graph_num_nodes(g, CG_REACTION); r++) {
        const int32_t *genes;
        int64_t n;
        cg_graph_reaction_genes(g, r, &genes, &n);
        for (int64_t k = 0; k < n; k++)
            if (genes[k] < 0 || genes[k] >= cg_graph_num_nodes(g, CG_GENE)) abort();
        chars += strlen(cg_graph_reaction_id(g, r)) + strlen(cg_graph_reaction_name(g, r));
        (void)cg_graph_reaction_direction(g, r);
    }
    for (int64_t m = 0; m < cg_graph_num_nodes(g, CG_METABOLITE); m++) chars += strlen(cg_graph_metabolite_compartment(g, m));
    for (int r = 0; r < cg_graph_num_relations(g); r++) {
        const cg_relation *rel = cg_graph_relation(g, r);
        int64_t ns = cg_graph_num_nodes(g, rel->src_type), nd = cg_graph_num_nodes(g, rel->dst_type);
        if (rel->rowptr[0] != 0 || rel->rowptr[nd] != rel->n_edges) abort();
        for (int64_t d = 0; d < nd; d++)
            for (int64_t e = rel->rowptr[d]; e < rel->rowptr[d + 1]; e++)
                if (rel->dst[e] != d || rel->src[e] < 0 || rel->src[e] >= ns) abort();
        for (int64_t e = 0; e < rel->n_edges * rel->attr_width; e++) chars += rel->attr[e] > 0;
    }
    cg_genes *genes = NULL;
    if (cg_graph_genes(g, &genes) == CG_OK) cg_genes_free(genes);
    volatile size_t sink = chars;
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd < 0) return 0;

    cg_safetensors *st = NULL;
    if (cg_safetensors_open(path, &st) == CG_OK) {
        unsigned char sum = 0;
        int n = cg_safetensors_count(st);
        for (int i = 0; i < n; i++) {
            cg_safetensors_info info;
            if (cg_safetensors_info_at(st, i, &info) != CG_OK) abort();
            const unsigned char *b = info.data;
            for (uint64_t k = 0; k < info.nbytes; k++) sum ^= b[k];
            cg_safetensors_info again;
            if (cg_safetensors_find(st, info.name, &again) != CG_OK || again.offset != info.offset) abort();
            cg_tensor t;
            if (cg_safetensors_get_tensor(st, info.name, &t) == CG_OK && info.nbytes) sum ^= *(const unsigned char *)t.data;
        }
        int m = cg_safetensors_metadata_count(st);
        for (int i = 0; i < m; i++) {
            const char *k, *v;
            if (cg_safetensors_metadata_at(st, i, &k, &v) != CG_OK) abort();
            if (cg_safetensors_metadata(st, k) == NULL) abort();
            sum ^= (unsigned char)strlen(v);
        }
        cg_safetensors_close(st);
        volatile unsigned char sink = sum; /* keeps the reads */
        (void)sink;
    }
    cg_clear_error();

    cg_graph *g = NULL;
    if (cg_graph_load(path, &g) == CG_OK) {
        use_graph(g);
        cg_graph_free(g);
    }
    cg_clear_error();

    cg_checkpoint_info info;
    (void)cg_checkpoint_info_read(path, &info);
    cg_clear_error();

    cg_dataset d;
    if (cg_dataset_load(path, &d) == CG_OK) {
        int64_t sum = 0; /* what training reads: genotypes, labels, split ids */
        for (int64_t i = 0; i < d.n; i++) {
            for (int k = 0; k < 3; k++) sum += d.genotype[3 * i + k] + d.label_count[3 * i + k] + (d.label[3 * i + k] > 0);
            for (int k = 0; k < CG_SPLIT_KINDS; k++) sum += d.split[k][i];
            sum += d.source_mask[i];
        }
        volatile int64_t sink = sum;
        (void)sink;
        cg_dataset_free(&d);
    }
    cg_clear_error();

    close(fd);
    return 0;
}
