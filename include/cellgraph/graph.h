/* cellgraph/graph.h: the heterogeneous cell graph (../shared/docs/DESIGN.md section 2).
 *
 * Node types: gene (the 6,604 ORFs of SGD_features.tab in byte order of systematic name), reaction
 * (one node per yeast-GEM reaction x AND-term of its gene rule in DNF x direction; gene-free reactions
 * get one node per direction), metabolite (every yeast-GEM species; compartments kept apart).
 * Relations (src type, name, dst type), each stored as a CSR by destination plus the source and
 * destination index of every edge, edges sorted by (dst, src):
 *   (gene, physical, gene)          undirected, stored both ways: STRING v11 binding U Krogan 2006 U
 *                                   Tarassov 2008, no self pairs, no duplicates
 *   (gene, regulatory, gene)        TF -> target, YEASTRACT (2020 DNABinding_AND_Expr by default)
 *   (gene, gpr, reaction)           gene -> every reaction node whose AND-term names it
 *   (reaction, gpr_rev, gene)       the reverse
 *   (reaction, rmr, metabolite)     edge attribute stoichiometry, signed: consumed -|c|, produced +|c|
 *                                   (swapped for reverse nodes)
 *   (metabolite, rmr_rev, reaction) the reverse, same attribute
 * A built graph is one safetensors file (readable from Python); loading it is an mmap.
 */
#ifndef CELLGRAPH_GRAPH_H
#define CELLGRAPH_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/ops.h"

typedef enum cg_node_type { CG_GENE = 0, CG_REACTION = 1, CG_METABOLITE = 2, CG_NODE_TYPES = 3 } cg_node_type;

/* "gene", "reaction", "metabolite" */
const char *cg_node_type_name(cg_node_type t);

enum { CG_REL_PHYSICAL, CG_REL_REGULATORY, CG_REL_GPR, CG_REL_GPR_REV, CG_REL_RMR, CG_REL_RMR_REV, CG_RELATIONS };

typedef struct cg_relation {
    const char *name;        /* "physical", "regulatory", "gpr", "gpr_rev", "rmr", "rmr_rev" */
    cg_node_type src_type, dst_type;
    int64_t n_edges;         /* E */
    const int64_t *rowptr;   /* [n_nodes[dst_type] + 1]: edges into node d are rowptr[d] .. rowptr[d+1]-1 */
    const int32_t *src;      /* [E] source node of each edge (the CSR column index) */
    const int32_t *dst;      /* [E] destination node of each edge (non-decreasing) */
    const float *attr;       /* [E] edge attribute (stoichiometry for rmr / rmr_rev), else NULL */
} cg_relation;

/* Per-source counts kept from the build, shown by `graph info`. */
typedef struct cg_graph_source {
    char name[96];           /* e.g. "string11_binding", "yeast-GEM gene rules" */
    int64_t rows, pairs, unresolved_rows, unresolved_names, ambiguous_names, dropped_columns, skipped_other;
    char examples[96];       /* a few unresolved names, comma-separated */
} cg_graph_source;

typedef struct cg_graph cg_graph;

/* The yeast data folder: `dir` when not NULL, else $CELLGRAPH_DATA, else the folder
 * ../shared/data/yeast beside the source tree (compiled in). Checks that the folder holds
 * sgd/SGD_features.tab. Writes the path into buf. Errors: CG_ERR_NOT_FOUND saying which file was looked
 * for, where, and how to point cellgraph at the data (--data DIR or CELLGRAPH_DATA). */
cg_status cg_data_dir(const char *dir, char *buf, int len);

/* Names of the built-in recipes: "default" (YEASTRACT 2020 DNABinding_AND_Expr) and "yeastract2013"
 * (the 2013 documented two-column table for the regulatory relation). */
bool cg_recipe_known(const char *recipe);

/* Builds the graph from the raw files in data_dir by the named recipe. Errors: those of the readers
 * (CG_ERR_IO naming a missing file, CG_ERR_FORMAT with file and line), CG_ERR_INVALID_ARG (unknown
 * recipe), CG_ERR_NOMEM. */
cg_status cg_graph_build(const char *data_dir, const char *recipe, cg_graph **out);

/* Writes the graph as one safetensors file (temporary name, then rename). Errors: CG_ERR_IO. */
cg_status cg_graph_save(const cg_graph *g, const char *path);

/* Maps a graph file written by cg_graph_save (no parsing beyond the JSON header). Errors: CG_ERR_IO,
 * CG_ERR_FORMAT naming the file and the missing or inconsistent tensor. */
cg_status cg_graph_load(const char *path, cg_graph **out);

void cg_graph_free(cg_graph *g);

/* Node counts and relations. */
int64_t cg_graph_num_nodes(const cg_graph *g, cg_node_type t);
const cg_relation *cg_graph_relation(const cg_graph *g, int rel);
/* Relation index by name, or -1. */
int cg_graph_relation_index(const char *name);

/* Node names: genes -> systematic name; reactions -> node name "<reaction id>_t<k>_<fwd|rev>" (k =
 * AND-term index) or "<reaction id>_noGene_<fwd|rev>"; metabolites -> species id ("s_0001"). */
const char *cg_graph_node_name(const cg_graph *g, cg_node_type t, int64_t i);
/* Gene standard name ("" when none). */
const char *cg_graph_gene_standard_name(const cg_graph *g, int32_t gene);
/* Reaction node details: the yeast-GEM reaction id and name, direction (0 forward, 1 reverse), and the
 * genes of its AND-term (*genes points into the graph; n_genes 0 for a gene-free node). */
const char *cg_graph_reaction_id(const cg_graph *g, int64_t node);
const char *cg_graph_reaction_name(const cg_graph *g, int64_t node);
int cg_graph_reaction_direction(const cg_graph *g, int64_t node);
void cg_graph_reaction_genes(const cg_graph *g, int64_t node, const int32_t **genes, int64_t *n_genes);
/* Metabolite compartment id ("c", "m", ...). */
const char *cg_graph_metabolite_compartment(const cg_graph *g, int64_t node);

/* Gene aliases of gene i as stored from SGD_features.tab ('|'-separated, "" when none) and SGD
 * qualifier ("Verified", ...). With the names above they rebuild the resolver (cellgraph/genes.h). */
const char *cg_graph_gene_aliases(const cg_graph *g, int32_t gene);
const char *cg_graph_gene_qualifier(const cg_graph *g, int32_t gene);

/* The gene-name resolver (cellgraph/genes.h) rebuilt from the names stored in the graph, so commands
 * resolve systematic names, standard names and aliases without the raw data. Free with cg_genes_free.
 * Errors: CG_ERR_NOMEM. */
typedef struct cg_genes cg_genes;
cg_status cg_graph_genes(const cg_graph *g, cg_genes **out);

/* Metadata: the recipe name, the JSON of source files with sizes and CRC-32 checksums, and the build's
 * per-source counts. */
const char *cg_graph_recipe(const cg_graph *g);
const char *cg_graph_sources_json(const cg_graph *g);
int cg_graph_num_sources(const cg_graph *g);
const cg_graph_source *cg_graph_source_at(const cg_graph *g, int i);

/* A checksum of the graph's structure (CRC-32 over every array), e.g. to key caches. */
uint32_t cg_graph_checksum(const cg_graph *g);

#endif
