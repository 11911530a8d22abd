/* cellgraph/graph.h: the heterogeneous cell graph (../shared/docs/DESIGN.md section 2).
 *
 * Node types: gene (the 6,604 ORFs of SGD_features.tab in byte order of systematic name), reaction
 * (one node per yeast-GEM reaction x AND-term of its gene rule in DNF x direction; gene-free reactions
 * get one node per direction), metabolite (every yeast-GEM species; compartments kept apart).
 *
 * Relations are data: each is described by a cg_relation_desc (name, source node type, destination
 * node type, directed or not, edge attribute width) from one table of every relation cellgraph knows
 * (cg_relation_descs). Each relation of a graph is stored as a CSR by destination plus the source and
 * destination index of every edge, edges sorted by (dst, src); an undirected relation stores every
 * pair both ways (edge a->b and edge b->a, same attribute).
 *
 * The six default (built-in) relations are in every graph, at indices 0..CG_RELATIONS-1 (the
 * CG_REL_* constants):
 *   (gene, physical, gene)          undirected: STRING v11 binding U Krogan 2006 U Tarassov 2008, no
 *                                   self pairs, no duplicates
 *   (gene, regulatory, gene)        TF -> target, YEASTRACT (2020 DNABinding_AND_Expr by default)
 *   (gene, gpr, reaction)           gene -> every reaction node whose AND-term names it
 *   (reaction, gpr_rev, gene)       the reverse
 *   (reaction, rmr, metabolite)     edge attribute stoichiometry, signed: consumed -|c|, produced +|c|
 *                                   (swapped for reverse nodes)
 *   (metabolite, rmr_rev, reaction) the reverse, same attribute
 * Optional relations, built on request (cg_graph_build_ex), follow at indices CG_RELATIONS.. in the
 * order of the descriptor table, whatever order they were requested in. All are undirected weighted
 * (gene, *, gene) relations with a 1-wide attribute "weight" (docs/data.md has their counts):
 *   string9_database, string9_neighborhood, string9_fusion, string9_cooccurence
 *                                   STRING v9.1 channels as prepared for DANGO, weight = channel score
 *                                   in (0, 1]
 *   coexpression                    Hu et al. 2007 co-expression, weight in (0, 1]
 *   cocomplex                       Complex Portal 2022 co-membership, weight = number of complexes
 *                                   that hold both genes (members are UniProt accessions, mapped to
 *                                   genes through yeast-GEM's gene annotations: only metabolic genes map)
 * The default graph does not change when optional relations are added: same arrays, same checksum.
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

/* The default relations: indices into every graph. CG_RELATIONS is their number (6); a graph may hold
 * more (cg_graph_num_relations), at most CG_MAX_RELATIONS. */
enum { CG_REL_PHYSICAL, CG_REL_REGULATORY, CG_REL_GPR, CG_REL_GPR_REV, CG_REL_RMR, CG_REL_RMR_REV, CG_RELATIONS };
enum { CG_MAX_RELATIONS = 16 };
/* Longest relation name (bytes, without the NUL) and widest edge attribute a graph file may hold. */
enum { CG_RELATION_NAME_MAX = 63, CG_MAX_ATTR_WIDTH = 64 };

/* What a relation is, independent of any graph. */
typedef struct cg_relation_desc {
    const char *name;          /* "physical", ..., "coexpression" */
    cg_node_type src_type, dst_type;
    bool directed;             /* false: undirected, every pair stored both ways with the same attribute */
    int attr_width;            /* floats per edge (0: no attribute) */
    const char *attr_name;     /* the attribute ("stoichiometry", "weight"); NULL when attr_width is 0 */
    bool builtin;              /* one of the six default relations, at index CG_REL_* of every graph */
    const char *source;        /* the data it is built from, one line for help texts */
} cg_relation_desc;

/* Every relation cellgraph can build: the six defaults first, in CG_REL_* order, then the optional
 * ones. *n (when not NULL) receives the count. The table is constant. */
const cg_relation_desc *cg_relation_descs(int *n);
/* The description of the relation called name (exact, case-sensitive), or NULL. */
const cg_relation_desc *cg_relation_desc_find(const char *name);

typedef struct cg_relation {
    const char *name;        /* "physical", "regulatory", "gpr", "gpr_rev", "rmr", "rmr_rev", then optional ones */
    cg_node_type src_type, dst_type;
    int64_t n_edges;         /* E */
    const int64_t *rowptr;   /* [n_nodes[dst_type] + 1]: edges into node d are rowptr[d] .. rowptr[d+1]-1 */
    const int32_t *src;      /* [E] source node of each edge (the CSR column index) */
    const int32_t *dst;      /* [E] destination node of each edge (non-decreasing) */
    const float *attr;       /* [E * attr_width], row-major, edge attribute (stoichiometry for rmr / rmr_rev,
                                weight for the optional relations), NULL when attr_width is 0 */
    bool directed;           /* false: every pair stored both ways (physical and the optional relations) */
    int attr_width;          /* 0 or the floats per edge (1 for rmr, rmr_rev and the optional relations) */
    const char *attr_name;   /* "stoichiometry", "weight"; NULL when attr_width is 0 */
} cg_relation;

/* Per-source counts kept from the build, shown by `graph info`. For an optional relation the one row
 * named after the relation holds both what its reader saw and what the builder kept:
 *   rows            data rows read (cocomplex: complexes)
 *   pairs           distinct unordered gene pairs kept (each stored as two edges)
 *   unresolved_rows rows dropped because an end is not a gene of the graph (cocomplex: member
 *                   accessions that map to no gene)
 *   unresolved_names distinct names behind them (STRING v9.1: ORF names; cocomplex: UniProt accessions)
 *   self_pairs      rows dropped because both ends are the same gene
 *   mirrored        rows that were the reverse listing of a pair already read (STRING v9.1 lists every
 *                   pair both ways; not a loss)
 *   duplicates      rows dropped that repeat a pair already read in the same orientation (cocomplex:
 *                   co-memberships merged into the weight)
 *   weight_conflicts pairs whose listings disagree on the weight (the largest is kept)
 *   skipped_other   cocomplex: complexes with fewer than two mapped genes
 *   edges           edges stored (2 x pairs)
 * The default "physical: union" and "regulatory" rows use self_pairs and duplicates the same way. */
typedef struct cg_graph_source {
    char name[96];           /* e.g. "string11_binding", "yeast-GEM gene rules", "coexpression" */
    int64_t rows, pairs, unresolved_rows, unresolved_names, ambiguous_names, dropped_columns, skipped_other;
    int64_t self_pairs, duplicates, mirrored, weight_conflicts, edges;
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

/* The same, plus the optional relations named in relations[0..n_relations) (see the top of this file;
 * "all" means every optional relation; default relation names are accepted and change nothing;
 * repeats are ignored). relations may be NULL when n_relations is 0: then this is cg_graph_build.
 * Errors: those of cg_graph_build and of the optional readers (cellgraph/weighted_sources.h: CG_ERR_IO
 * naming a missing file, CG_ERR_FORMAT "<file>: line N: ..."), CG_ERR_INVALID_ARG for an unknown
 * relation name (the message lists the known ones). */
cg_status cg_graph_build_ex(const char *data_dir, const char *recipe, const char *const *relations, int n_relations,
                            cg_graph **out);

/* Writes the graph as one safetensors file (temporary name, then rename). Errors: CG_ERR_IO. */
cg_status cg_graph_save(const cg_graph *g, const char *path);

/* Maps a graph file written by cg_graph_save (no parsing beyond the JSON header). The file's metadata
 * "relations" lists its relations (name, types, directed, attribute); a file without it (written before
 * relations were data) holds the six defaults. Every relation's CSR is validated, and an undirected
 * relation must hold every edge's reverse with the same attribute. Errors: CG_ERR_IO, CG_ERR_FORMAT
 * naming the file and the missing or inconsistent tensor or relation (a default relation missing or
 * out of place, a relation described differently from cellgraph's table, an unknown node type, a
 * duplicate name, a bad attribute width, an asymmetric undirected relation). */
cg_status cg_graph_load(const char *path, cg_graph **out);

void cg_graph_free(cg_graph *g);

/* Node counts and relations. */
int64_t cg_graph_num_nodes(const cg_graph *g, cg_node_type t);
/* Number of relations of the graph: CG_RELATIONS plus its optional relations. */
int cg_graph_num_relations(const cg_graph *g);
/* Relation rel, 0 <= rel < cg_graph_num_relations(g), else NULL. */
const cg_relation *cg_graph_relation(const cg_graph *g, int rel);
/* Index of a DEFAULT relation by name ("physical" -> CG_REL_PHYSICAL), or -1 (also for optional names). */
int cg_graph_relation_index(const char *name);
/* The metabolic genes: those with at least one reaction node (a gpr_rev edge into the gene), in index
 * order, written to out (room for cg_graph_num_nodes(g, CG_GENE) entries); returns their number (1,161
 * for yeast-GEM 9.0.2). The gene list of `cellgraph screen --metabolic`. */
int64_t cg_graph_metabolic_genes(const cg_graph *g, int32_t *out);
/* Index of any relation of graph g by name, or -1 when g has none of that name. */
int cg_graph_find_relation(const cg_graph *g, const char *name);

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

/* A checksum of the graph's structure (CRC-32 over every array), e.g. to key caches. The default
 * relations are hashed exactly as before relations were data, so a default graph keeps its checksum;
 * optional relations (name, types, directed, attribute width and every array) are hashed after them. */
uint32_t cg_graph_checksum(const cg_graph *g);

#endif
