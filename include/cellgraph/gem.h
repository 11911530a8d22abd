/* cellgraph/gem.h: reader for genome-scale metabolic models (GEMs) in cobrapy's YAML format, such as
 * yeast-GEM (SysBioChalmers, v9.0.2: yeast-gem/yeast-GEM.yml in the data folder).
 *
 * The file (written by cobra.io.save_yaml_model) is one YAML document whose top level is an ordered map
 * (`!!omap`: a sequence of single-key maps) with the sections
 *
 *   metaData      map: id, name, version, ...                     (id kept, the rest ignored)
 *   metabolites   list of maps: id, name, compartment, formula, charge, annotation, ...
 *   reactions     list of maps: id, name, metabolites (map species id -> signed stoichiometric
 *                 coefficient, negative = consumed, may be fractional), lower_bound, upper_bound,
 *                 gene_reaction_rule (may be absent or ""), subsystem (list of strings or a string),
 *                 objective_coefficient (usually absent), eccodes, annotation, deltaG, ... (ignored)
 *   genes         list of maps: id, name, annotation, ...
 *   compartments  map: compartment id -> name
 *
 * Every "map" may be written either as a YAML mapping or as an `!!omap` sequence of single-key mappings
 * (both are accepted everywhere); sections may come in any order; unknown keys and sections are skipped.
 *
 * The reader streams libyaml parser events: it never builds a document tree, and keeps only the fields
 * listed below (memory is proportional to the model, not to the YAML text). yeast-GEM.yml (3.6 MB)
 * loads in about 50 ms (Release build, one core).
 *
 *   cg_gem g;
 *   if (cg_gem_load(path, &g) != CG_OK) { fprintf(stderr, "%s\n", cg_last_error()); ... }
 *   for (int r = 0; r < g.n_reactions; r++)
 *       for (int k = 0; k < g.reactions[r].n_stoich; k++)
 *           use(g.metabolites[g.reactions[r].met[k]].id, g.reactions[r].coef[k]);
 *   cg_gem_free(&g);
 *
 * Validation (all CG_ERR_FORMAT; messages start with the path, then "line L: " where a line applies):
 * - YAML syntax errors: "<path>: line L column C: <libyaml problem> (<libyaml context> at line ...)"
 *   (also for truncated text that is no longer valid YAML; invalid UTF-8: "<path>: byte N: ...").
 *   A syntax error anywhere in the file is reported in preference to a model error found before it
 *   (bad indentation can end a map early and make a reaction look incomplete);
 * - aliases (*x) where a value is read;
 * - a missing 'metabolites', 'reactions' or 'genes' section (a file cut at a line boundary can still
 *   be valid YAML; this catches most such cuts);
 * - a metabolite, reaction or gene without an id; a duplicate metabolite, reaction or gene id
 *   ("... (first at line M)");
 * - a reaction without 'metabolites', 'lower_bound' or 'upper_bound'; a bound that is not a number
 *   (YAML numbers, and .inf / -.inf for bounds) or lower_bound > upper_bound; a coefficient that is
 *   not a finite number; a species id that is not a metabolite of the model; a metabolite listed twice
 *   in one reaction;
 * - a malformed gene rule: "<path>: line L: reaction <id>: gene rule '...': position P: ..." (the
 *   cg_gpr_parse message with the reaction in front).
 * Other errors: CG_ERR_IO (cannot open or read the file, with strerror text), CG_ERR_NOMEM.
 *
 * Gene ids used in rules are not required to appear in the genes section (cobrapy creates missing
 * genes on the fly); cg_gem_gene_index returns -1 for such ids.
 */
#ifndef CELLGRAPH_GEM_H
#define CELLGRAPH_GEM_H

#include <stddef.h>
#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/gpr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* All strings below are NUL-terminated, owned by the cg_gem, never NULL ("" when absent or null). */

typedef struct cg_gem_metabolite {
    const char *id;          /* species id, e.g. "s_0001" (one per metabolite and compartment) */
    const char *name;        /* e.g. "(1->3)-beta-D-glucan" */
    const char *compartment; /* compartment id, e.g. "c" (see cg_gem.compartments) */
    int line;                /* 1-based line of the entry in the file */
} cg_gem_metabolite;

typedef struct cg_gem_reaction {
    const char *id;        /* e.g. "r_0001" */
    const char *name;
    const char *subsystem; /* first entry of 'subsystem', "" if none */
    const char *gene_rule; /* gene_reaction_rule as written, "" if absent */
    double lower_bound;    /* flux bounds; reversible when lower_bound < 0 < upper_bound */
    double upper_bound;
    double objective_coefficient; /* 0 unless given */
    int n_stoich;                 /* number of species taking part */
    const int32_t *met;           /* [n_stoich] indices into cg_gem.metabolites, in file order */
    const double *coef;           /* [n_stoich] signed coefficients (negative = consumed), finite */
    cg_dnf gpr;                   /* gene_rule in disjunctive normal form (0 terms: gene-free) */
    int line;                     /* 1-based line of the entry in the file */
} cg_gem_reaction;

typedef struct cg_gem_gene {
    const char *id;   /* systematic name, e.g. "YAL012W", "Q0045" */
    const char *name; /* standard name, e.g. "CYS3" ("" if none) */
    int line;
} cg_gem_gene;

typedef struct cg_gem_compartment {
    const char *id;   /* e.g. "c" */
    const char *name; /* e.g. "cytoplasm" */
} cg_gem_compartment;

typedef struct cg_gem_index cg_gem_index; /* private: string storage and id hash tables */

typedef struct cg_gem {
    const char *path;     /* the path (or name) given to the loader, for messages */
    const char *model_id; /* metaData.id, e.g. "yeastGEM_v9.0.2" ("" if none) */
    int n_metabolites;
    cg_gem_metabolite *metabolites; /* [n_metabolites], file order */
    int n_reactions;
    cg_gem_reaction *reactions; /* [n_reactions], file order */
    int n_genes;
    cg_gem_gene *genes; /* [n_genes], file order */
    int n_compartments;
    cg_gem_compartment *compartments; /* [n_compartments], file order */
    /* The stoichiometry of all reactions in CSR form (reaction r's entries are
     * stoich_start[r] .. stoich_start[r+1]-1; cg_gem_reaction.met/coef point into these arrays). */
    int64_t n_stoich;
    int64_t *stoich_start; /* [n_reactions + 1] */
    int32_t *stoich_met;   /* [n_stoich] metabolite indices */
    double *stoich_coef;   /* [n_stoich] coefficients */
    cg_gem_index *index;
} cg_gem;

/* Reads the cobrapy YAML model at path into *out (overwritten; on error *out is left zeroed and holds
 * nothing). Errors: see the top of this file. */
cg_status cg_gem_load(const char *path, cg_gem *out);

/* Same, from the len bytes at data (need not be NUL-terminated); name is used in messages in place of a
 * path (NULL: "<memory>"). Line numbers are those of the text. */
cg_status cg_gem_load_memory(const char *data, size_t len, const char *name, cg_gem *out);

/* Frees everything of g and zeroes it. Safe on a zeroed or already freed cg_gem, and on NULL. */
void cg_gem_free(cg_gem *g);

/* Index of the metabolite / reaction / gene with this id (hash lookup), or -1 when there is none. */
int cg_gem_metabolite_index(const cg_gem *g, const char *id);
int cg_gem_reaction_index(const cg_gem *g, const char *id);
int cg_gem_gene_index(const cg_gem *g, const char *id);

/* 1 when the reaction can run both ways (cobra's definition: lower_bound < 0 < upper_bound), else 0. */
static inline int cg_gem_reversible(const cg_gem_reaction *r) { return r->lower_bound < 0 && r->upper_bound > 0; }

#ifdef __cplusplus
}
#endif
#endif
