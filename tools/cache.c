/* The graph and dataset cache of the train / eval / predict commands: built once from the raw files
 * and reused while the files are unchanged (keyed by a CRC-32 of their contents). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "cellgraph/dataset.h"
#include "cellgraph/graph.h"
#include "cli.h"

static const char *const INPUTS[] = {
    "sgd/SGD_features.tab",
    "string/v11/4932.protein.actions.v11.0.txt.gz",
    "ppi/Krogan-2006.txt",
    "ppi/Tarassov-2008-PCA.tsv",
    "regulation/yeastract-2020/DNABinding_AND_Expr_TF_act_OR_inh_RegulationMatrix_Documented_2020511.csv.gz",
    "regulation/RegulationTwoColumnTable_Documented_2013927.tsv",
    "yeast-gem/yeast-GEM.yml",
    "phenotypes/costanzo2016-smf/smf_t30_150803.txt",
    "phenotypes/dcell-go0006281/GO_0006281_training_data_2016_0",
    "phenotypes/dcell-go0006281/GO_0006281_testing_data_2016_0",
    "phenotypes/sga-test-screen/scored_triple_test_small_trigenic.txt",
    "phenotypes/sga-test-screen/dmf_tr_150226_fromSGAonly.txt",
};

/* the sources of the optional relations (graph.h), fingerprinted for the graph that holds them all */
static const char *const OPTIONAL_INPUTS[] = {
    "string/v9.1/yeast_string_genes.txt",
    "string/v9.1/yeast_string_database_adjacency.txt",
    "string/v9.1/yeast_string_neighborhood_adjacency.txt",
    "string/v9.1/yeast_string_fusion_adjacency.txt",
    "string/v9.1/yeast_string_cooccurence_adjacency.txt",
    "coexpression/Hu-2007.txt",
    "yeast-gem/Yeast_complex_portal_2022.tsv",
};

static cg_status fingerprint(const char *dir, bool optional, uint32_t *out) {
    uLong c = crc32(0L, Z_NULL, 0);
    c = crc32(c, (const Bytef *)"cellgraph.graph/1 cellgraph.dataset/1", 37);
    static unsigned char buf[1 << 16];
    const size_t n_base = sizeof INPUTS / sizeof INPUTS[0];
    for (size_t i = 0; i < n_base + (optional ? sizeof OPTIONAL_INPUTS / sizeof OPTIONAL_INPUTS[0] : 0); i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, i < n_base ? INPUTS[i] : OPTIONAL_INPUTS[i - n_base]);
        FILE *f = fopen(path, "rb");
        if (!f) return cg_error(CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) c = crc32(c, buf, (uInt)n);
        fclose(f);
    }
    *out = (uint32_t)c;
    return CG_OK;
}

const char *cli_cache_dir(void) {
    const char *p = getenv("CELLGRAPH_CACHE");
    return p && *p ? p : "runs/cache";
}

static cg_status mkdirs(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return cg_error(CG_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
            *p = '/';
        }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return cg_error(CG_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    return CG_OK;
}

cg_status cli_mkdirs(const char *path) { return mkdirs(path); }

cg_status cli_load_graph_and_dataset(const char *data, cg_graph **g, cg_dataset *d, bool need_dataset, bool verbose) {
    return cli_load_graph_for(data, NULL, g, d, need_dataset, verbose);
}

cg_status cli_load_graph_for(const char *data, const char *const *relations, cg_graph **g, cg_dataset *d,
                             bool need_dataset, bool verbose) {
    char dir[4096];
    cg_status s = cg_data_dir(data, dir, sizeof dir);
    if (s != CG_OK) return s;
    const bool all = relations && relations[0]; /* one graph with every optional relation serves every such model */
    uint32_t fp = 0, fp_data = 0;
    if ((s = fingerprint(dir, false, &fp_data)) != CG_OK || (s = fingerprint(dir, all, &fp)) != CG_OK) return s;
    const char *cache = cli_cache_dir();
    if ((s = mkdirs(cache)) != CG_OK) return s;
    char gpath[4200], dpath[4200];
    snprintf(gpath, sizeof gpath, "%s/graph-%s-%08x.safetensors", cache, all ? "all" : "default", fp);
    snprintf(dpath, sizeof dpath, "%s/dataset-%08x.safetensors", cache, fp_data);
    struct stat sb;
    *g = NULL;
    if (stat(gpath, &sb) == 0 && cg_graph_load(gpath, g) == CG_OK) {
        if (verbose) printf("graph: %s (cached)\n", gpath);
    } else {
        const char *every[1] = {"all"};
        if ((s = cg_graph_build_ex(dir, "default", every, all ? 1 : 0, g)) != CG_OK) return s;
        if ((s = cg_graph_save(*g, gpath)) != CG_OK) {
            cg_graph_free(*g);
            *g = NULL;
            return s;
        }
        if (verbose) printf("graph: built from %s, cached in %s\n", dir, gpath);
    }
    if (!need_dataset) return CG_OK;
    if (stat(dpath, &sb) == 0 && cg_dataset_load(dpath, d) == CG_OK) {
        if (verbose) printf("dataset: %s (cached)\n", dpath);
        return CG_OK;
    }
    cg_genes *genes = NULL;
    if ((s = cg_graph_genes(*g, &genes)) == CG_OK) {
        cg_dataset built;
        cg_dataset_options opt = cg_dataset_defaults();
        s = cg_dataset_build(dir, genes, &opt, &built);
        if (s == CG_OK) s = cg_dataset_save(&built, dpath);
        if (s == CG_OK) cg_dataset_free(&built);
        if (s == CG_OK) s = cg_dataset_load(dpath, d); /* the mapped file: the same bytes every run */
        cg_genes_free(genes);
    }
    if (s != CG_OK) {
        cg_graph_free(*g);
        *g = NULL;
        return s;
    }
    if (verbose) printf("dataset: built, cached in %s\n", dpath);
    return CG_OK;
}
