/* The phenotype dataset: merge, group by genotype, split, statistics, file. */
#include "cellgraph/dataset.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cellgraph/rng.h"
#include "cellgraph/safetensors.h"

#define DATASET_FORMAT "cellgraph.dataset/2" /* 2: labels fitness, epsilon, tau; four splits */
#define K CG_NUM_LABELS

static const char *const SPLIT_NAMES[CG_SPLIT_KINDS] = {"random", "gene1", "gene2", "query"};

const char *cg_split_kind_name(cg_split_kind k) { return (unsigned)k < CG_SPLIT_KINDS ? SPLIT_NAMES[k] : "?"; }

bool cg_split_kind_parse(const char *name, cg_split_kind *out) {
    if (name && strcmp(name, "gene") == 0) { /* the name of gene1 before gene2 existed */
        *out = CG_SPLIT_GENE1;
        return true;
    }
    for (int k = 0; name && k < CG_SPLIT_KINDS; k++)
        if (strcmp(name, SPLIT_NAMES[k]) == 0) {
            *out = (cg_split_kind)k;
            return true;
        }
    return false;
}

cg_dataset_options cg_dataset_defaults(void) { return (cg_dataset_options){.seed = 42, .gene_holdout = 0.1}; }

uint32_t cg_genes_checksum(const cg_genes *g) {
    uLong c = crc32(0L, Z_NULL, 0);
    for (int32_t i = 0; i < cg_genes_count(g); i++) {
        const char *s = cg_genes_systematic(g, i);
        c = crc32(c, (const Bytef *)s, (uInt)strlen(s) + 1);
    }
    return (uint32_t)c;
}

/* Memory behind a dataset: one malloc'd block (built) or a mapped file (loaded). */
typedef struct owner {
    void *block;
    cg_safetensors *st;
} owner;

void cg_dataset_free(cg_dataset *d) {
    if (!d) return;
    owner *o = d->owner;
    if (o) {
        free(o->block);
        if (o->st) cg_safetensors_close(o->st);
        free(o);
    }
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------ building */

typedef struct rec {
    int32_t genes[3];
    int32_t label;
    int32_t src;
    float value, std, p;
    int64_t query; /* SGA query strain key (query genes a < b: (a + 1) * 2^32 + (b + 1)), -1 for none */
} rec;

static int rec_cmp(const void *a, const void *b) {
    const rec *x = a, *y = b;
    for (int k = 0; k < 3; k++)
        if (x->genes[k] != y->genes[k]) return x->genes[k] < y->genes[k] ? -1 : 1;
    return (x->label > y->label) - (x->label < y->label);
}

static bool same_genotype(const rec *a, const rec *b) {
    return a->genes[0] == b->genes[0] && a->genes[1] == b->genes[1] && a->genes[2] == b->genes[2];
}


static int n_genes_of(const int32_t *g) { return (g[0] >= 0) + (g[1] >= 0) + (g[2] >= 0); }

static void split_random(cg_dataset *d, int32_t *split, int64_t *scratch) {
    /* strata: label set (bit 0 fitness, bit 1 an interaction: epsilon or tau) x number of genes (1..3);
     * the stratum numbers (and so the split) are those of the two-label datasets before epsilon and tau
     * were separate */
    for (int stratum = 0; stratum < 16; stratum++) {
        int64_t n = 0;
        for (int64_t i = 0; i < d->n; i++) {
            const int32_t *c = d->label_count + i * K;
            int set = (c[CG_LABEL_FITNESS] > 0) | (c[CG_LABEL_EPSILON] > 0 || c[CG_LABEL_TAU] > 0) << 1;
            if (set * 4 + n_genes_of(d->genotype + 3 * i) == stratum) scratch[n++] = i;
        }
        if (n == 0) continue;
        cg_rng_shuffle_i64(scratch, n, d->seed, 1000 + (uint64_t)stratum);
        int64_t n_train = (int64_t)floor(0.8 * (double)n + 0.5), n_val = (int64_t)floor(0.1 * (double)n + 0.5);
        if (n_train + n_val > n) n_val = n - n_train;
        for (int64_t j = 0; j < n; j++)
            split[scratch[j]] = j < n_train ? CG_SPLIT_TRAIN : j < n_train + n_val ? CG_SPLIT_VAL : CG_SPLIT_TEST;
    }
}

/* The held-out genes of gene1 and gene2: role[g] = 0 unseen, 1 train, 2 validation (V), 3 test (T); the
 * genes seen in the data, in index order, shuffled by the seed, the first gene_holdout of them T, the
 * next V. */
static uint8_t *gene_roles(const cg_dataset *d, int64_t *scratch) {
    uint8_t *role = calloc((size_t)d->n_genes + 1, 1);
    if (!role) return NULL;
    for (int64_t i = 0; i < 3 * d->n; i++)
        if (d->genotype[i] >= 0) role[d->genotype[i]] = 1;
    int64_t ng = 0;
    for (int64_t gi = 0; gi < d->n_genes; gi++)
        if (role[gi]) scratch[ng++] = gi;
    cg_rng_shuffle_i64(scratch, ng, d->seed, 2000);
    int64_t n_hold = (int64_t)floor(d->gene_holdout * (double)ng + 0.5);
    for (int64_t j = 0; j < ng; j++) role[scratch[j]] = j < n_hold ? 3 : j < 2 * n_hold ? 2 : 1;
    return role;
}

/* gene1: test = a T gene, validation = a V gene and no T gene, train = the rest. gene2: test = only T
 * genes, validation = only V genes, train = no T or V gene, the rest none. */
static void split_genes(const cg_dataset *d, const uint8_t *role, int32_t *gene1, int32_t *gene2) {
    for (int64_t i = 0; i < d->n; i++) {
        int worst = 1, all_t = 1, all_v = 1;
        for (int k = 0; k < 3; k++) {
            int32_t gi = d->genotype[3 * i + k];
            if (gi < 0) continue;
            if (role[gi] > worst) worst = role[gi];
            all_t &= role[gi] == 3;
            all_v &= role[gi] == 2;
        }
        gene1[i] = worst == 3 ? CG_SPLIT_TEST : worst == 2 ? CG_SPLIT_VAL : CG_SPLIT_TRAIN;
        gene2[i] = all_t ? CG_SPLIT_TEST : all_v ? CG_SPLIT_VAL : worst == 1 ? CG_SPLIT_TRAIN : CG_SPLIT_NONE;
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* query: the distinct SGA query strains of the records (by their query genes), grouped into families of
 * strains that share a query gene (a double-mutant query a+b and its digenic control a+ho test the same
 * gene a: holding out one without the other would leak); the families, in order of their smallest key,
 * shuffled by the seed: the first max(1, round(gene_holdout x families)) are test, as many more
 * validation (when at least three families exist). A sample takes the strongest role of its records'
 * queries (test > validation > train); samples without an SGA record train. sample_of[j] is the sample of
 * sorted record j. */
static int64_t key_gene(int64_t key, int which) {
    return which == 0 ? (key >> 32) - 1 : (key & 0xffffffff) - 1; /* -1: none */
}

static cg_status split_query(const cg_dataset *d, const rec *r, int64_t n_records, const int64_t *sample_of,
                             int32_t *split) {
    int64_t nq = 0;
    int64_t *keys = malloc(((size_t)n_records + 1) * sizeof *keys);
    if (!keys) return cg_error(CG_ERR_NOMEM, "dataset: out of memory for the query split");
    for (int64_t j = 0; j < n_records; j++)
        if (r[j].query >= 0) keys[nq++] = r[j].query;
    qsort(keys, (size_t)nq, sizeof *keys, cmp_i64);
    int64_t u = 0;
    for (int64_t j = 0; j < nq; j++)
        if (u == 0 || keys[j] != keys[u - 1]) keys[u++] = keys[j];
    /* families: union of strains sharing a query gene (a few strains per screen: quadratic is fine) */
    int64_t *fam = malloc(((size_t)u + 1) * sizeof *fam), *order = malloc(((size_t)u + 1) * sizeof *order);
    int32_t *role = malloc(((size_t)u + 1) * sizeof *role);
    if (!fam || !order || !role) {
        free(keys), free(fam), free(order), free(role);
        return cg_error(CG_ERR_NOMEM, "dataset: out of memory for the query split");
    }
    for (int64_t i = 0; i < u; i++) fam[i] = i;
    for (bool changed = true; changed;) {
        changed = false;
        for (int64_t i = 0; i < u; i++)
            for (int64_t j = i + 1; j < u; j++) {
                bool share = false;
                for (int x = 0; x < 2; x++)
                    for (int y = 0; y < 2; y++)
                        share |= key_gene(keys[i], x) >= 0 && key_gene(keys[i], x) == key_gene(keys[j], y);
                int64_t lo = fam[i] < fam[j] ? fam[i] : fam[j];
                if (share && (fam[i] != lo || fam[j] != lo)) fam[i] = fam[j] = lo, changed = true;
            }
    }
    int64_t nf = 0; /* family roots (the smallest strain index of each family), ascending */
    for (int64_t i = 0; i < u; i++)
        if (fam[i] == i) order[nf++] = i;
    cg_rng_shuffle_i64(order, nf, d->seed, 3000);
    int64_t n_hold = (int64_t)floor(d->gene_holdout * (double)nf + 0.5);
    if (n_hold < 1 && nf >= 3) n_hold = 1;
    for (int64_t i = 0; i < u; i++) role[i] = CG_SPLIT_TRAIN;
    for (int64_t f = 0; f < nf; f++) {
        int32_t rl = f < n_hold ? CG_SPLIT_TEST : f < 2 * n_hold ? CG_SPLIT_VAL : CG_SPLIT_TRAIN;
        for (int64_t i = 0; i < u; i++)
            if (fam[i] == order[f]) role[i] = rl;
    }
    for (int64_t i = 0; i < d->n; i++) split[i] = CG_SPLIT_TRAIN;
    for (int64_t j = 0; j < n_records; j++) {
        if (r[j].query < 0) continue;
        const int64_t *hit = bsearch(&r[j].query, keys, (size_t)u, sizeof *keys, cmp_i64);
        int32_t rl = role[hit - keys], *sp = &split[sample_of[j]];
        if (rl == CG_SPLIT_TEST) *sp = CG_SPLIT_TEST;
        else if (rl == CG_SPLIT_VAL && *sp != CG_SPLIT_TEST) *sp = CG_SPLIT_VAL;
    }
    free(keys), free(fam), free(order), free(role);
    return CG_OK;
}

static void compute_stats(cg_dataset *d) {
    for (int s = 0; s < CG_SPLIT_KINDS; s++)
        for (int k = 0; k < K; k++) {
            double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
            int64_t c = 0;
            for (int64_t i = 0; i < d->n; i++) {
                float v = d->label[i * K + k];
                if (d->split[s][i] != CG_SPLIT_TRAIN || !isfinite(v)) continue;
                sum += v;
                c++;
                mn = fmin(mn, v);
                mx = fmax(mx, v);
            }
            double mean = c ? sum / (double)c : NAN;
            for (int64_t i = 0; i < d->n; i++) {
                float v = d->label[i * K + k];
                if (d->split[s][i] == CG_SPLIT_TRAIN && isfinite(v)) sq += (v - mean) * (v - mean);
            }
            d->stats[s][k] = (cg_label_stats){.mean = mean, .std = c ? sqrt(sq / (double)c) : NAN,
                                              .min = c ? mn : NAN, .max = c ? mx : NAN, .count = c};
        }
}

cg_status cg_dataset_from_records(const cg_pheno_record *records, const int *src_of, int64_t n_records,
                                  const cg_pheno_stats *sources, int n_sources, const cg_genes *genes,
                                  const cg_dataset_options *opt, cg_dataset *out) {
    memset(out, 0, sizeof *out);
    cg_dataset_options o = opt ? *opt : cg_dataset_defaults();
    if (n_sources > CG_DATASET_MAX_SOURCES)
        return cg_error(CG_ERR_INVALID_ARG, "dataset: %d sources (at most %d)", n_sources, CG_DATASET_MAX_SOURCES);
    if (!(o.gene_holdout >= 0 && o.gene_holdout < 0.5))
        return cg_error(CG_ERR_INVALID_ARG, "dataset: gene hold-out fraction %g is not in [0, 0.5)", o.gene_holdout);
    int32_t ng = cg_genes_count(genes);
    rec *r = malloc(((size_t)n_records + 1) * sizeof *r);
    if (!r) return cg_error(CG_ERR_NOMEM, "dataset: out of memory for %lld records", (long long)n_records);
    for (int64_t i = 0; i < n_records; i++) {
        const cg_pheno_record *p = &records[i];
        if (p->n_genes < 1 || p->n_genes > 3 || (unsigned)p->label >= K || src_of[i] < 0 || src_of[i] >= n_sources) {
            free(r);
            return cg_error(CG_ERR_INVALID_ARG, "dataset: record %lld is malformed (%d genes, label %d, source %d)",
                            (long long)i, p->n_genes, (int)p->label, src_of[i]);
        }
        for (int k = 0; k < 3; k++) {
            r[i].genes[k] = k < p->n_genes ? p->genes[k] : -1;
            if (k < p->n_genes && (p->genes[k] < 0 || p->genes[k] >= ng || (k > 0 && p->genes[k] <= p->genes[k - 1]))) {
                free(r);
                return cg_error(CG_ERR_INVALID_ARG, "dataset: record %lld (line %lld): genes must be distinct, "
                                "ascending gene indices", (long long)i, (long long)p->line);
            }
        }
        if (p->n_query < 0 || p->n_query > 2 || p->n_query >= p->n_genes) {
            free(r);
            return cg_error(CG_ERR_INVALID_ARG, "dataset: record %lld (line %lld): %d query genes for %d genes",
                            (long long)i, (long long)p->line, p->n_query, p->n_genes);
        }
        r[i].query = p->n_query == 0 ? -1
                                     : ((int64_t)p->query[0] + 1) * ((int64_t)1 << 32) +
                                           (p->n_query == 2 ? (int64_t)p->query[1] + 1 : 0);
        r[i].label = p->label;
        r[i].src = src_of[i];
        r[i].value = p->value;
        r[i].std = p->std;
        r[i].p = p->p_value;
    }
    qsort(r, (size_t)n_records, sizeof *r, rec_cmp);
    int64_t S = 0;
    for (int64_t i = 0; i < n_records; i++) S += i == 0 || !same_genotype(&r[i], &r[i - 1]);

    /* one block for every array */
    size_t bytes = (size_t)S * (3 * sizeof(int32_t) + 3 * K * sizeof(float) + K * sizeof(int32_t) +
                                (1 + CG_SPLIT_KINDS) * sizeof(int32_t)) + 64; /* genotype, label x 3, counts, mask, splits */
    owner *ow = calloc(1, sizeof *ow);
    char *block = malloc(bytes);
    int64_t *scratch = malloc(((size_t)(S > ng ? S : ng) + 1) * sizeof *scratch);
    if (!ow || !block || !scratch) {
        free(ow), free(block), free(scratch), free(r);
        return cg_error(CG_ERR_NOMEM, "dataset: out of memory for %lld samples", (long long)S);
    }
    ow->block = block;
    int32_t *genotype = (int32_t *)block;
    float *label = (float *)(genotype + 3 * S), *lstd = label + K * S, *lp = lstd + K * S;
    int32_t *lcount = (int32_t *)(lp + K * S), *smask = lcount + K * S, *split0 = smask + S, *split1 = split0 + S,
            *split2 = split1 + S, *split3 = split2 + S;
    int64_t *sample_of = malloc(((size_t)n_records + 1) * sizeof *sample_of);
    if (!sample_of) {
        free(ow), free(block), free(scratch), free(r);
        return cg_error(CG_ERR_NOMEM, "dataset: out of memory for %lld records", (long long)n_records);
    }

    int64_t s = -1;
    for (int64_t i = 0; i < n_records;) {
        if (i == 0 || !same_genotype(&r[i], &r[i - 1])) {
            s++;
            memcpy(genotype + 3 * s, r[i].genes, sizeof r[i].genes);
            for (int k = 0; k < K; k++) {
                label[s * K + k] = lstd[s * K + k] = lp[s * K + k] = NAN;
                lcount[s * K + k] = 0;
            }
            smask[s] = 0;
        }
        /* the run of records with this genotype and label: merge */
        int64_t j = i;
        double sum = 0, sq = 0, pmax = -1;
        int64_t n_std = 0, n_p = 0;
        while (j < n_records && rec_cmp(&r[j], &r[i]) == 0) {
            sample_of[j] = s;
            sum += r[j].value;
            if (isfinite(r[j].std)) sq += (double)r[j].std * r[j].std, n_std++;
            if (isfinite(r[j].p)) pmax = fmax(pmax, r[j].p), n_p++;
            smask[s] |= 1 << r[j].src;
            j++;
        }
        int k = r[i].label;
        label[s * K + k] = (float)(sum / (double)(j - i));
        lstd[s * K + k] = n_std ? (float)sqrt(sq / (double)n_std) : NAN;
        lp[s * K + k] = n_p ? (float)pmax : NAN;
        lcount[s * K + k] = (int32_t)(j - i);
        i = j;
    }

    out->n = S;
    out->genotype = genotype;
    out->label = label;
    out->label_std = lstd;
    out->label_p = lp;
    out->label_count = lcount;
    out->source_mask = smask;
    out->split[CG_SPLIT_RANDOM] = split0;
    out->split[CG_SPLIT_GENE1] = split1;
    out->split[CG_SPLIT_GENE2] = split2;
    out->split[CG_SPLIT_QUERY] = split3;
    out->n_sources = n_sources;
    for (int k = 0; k < n_sources; k++) out->sources[k] = sources[k];
    out->n_genes = ng;
    out->genes_checksum = cg_genes_checksum(genes);
    out->seed = o.seed;
    out->gene_holdout = o.gene_holdout;
    out->owner = ow;
    split_random(out, split0, scratch);
    uint8_t *role = gene_roles(out, scratch);
    cg_status st = role ? split_query(out, r, n_records, sample_of, split3)
                        : cg_error(CG_ERR_NOMEM, "dataset: out of memory for the gene splits");
    if (role) split_genes(out, role, split1, split2);
    free(role);
    free(scratch);
    free(sample_of);
    free(r);
    if (st != CG_OK) {
        cg_dataset_free(out);
        return st;
    }
    compute_stats(out);
    return CG_OK;
}

/* ------------------------------------------------------------------ reading the default sources */

typedef struct collector {
    cg_pheno_record *rec;
    int *src;
    int64_t n, cap;
    int current;
} collector;

static cg_status collect(void *ctx, const cg_pheno_record *r) {
    collector *c = ctx;
    if (c->n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 65536;
        cg_pheno_record *nr = realloc(c->rec, (size_t)cap * sizeof *nr);
        if (nr) c->rec = nr;
        int *ns = nr ? realloc(c->src, (size_t)cap * sizeof *ns) : NULL;
        if (ns) c->src = ns;
        if (!nr || !ns) return cg_error(CG_ERR_NOMEM, "dataset: out of memory collecting records");
        c->cap = cap;
    }
    c->rec[c->n] = *r;
    c->src[c->n++] = c->current;
    return CG_OK;
}

/* A source file must contribute: an empty (or header-only) file, or one whose every row was dropped, is an
 * error naming it (the dataset would otherwise lack the source without a word). */
static cg_status check_contributes(const char *path, const cg_pheno_stats *st) {
    if (st->rows == 0)
        return cg_error(CG_ERR_FORMAT, "%s: no data rows (an empty or header-only file); the dataset needs every "
                        "source", path);
    if (st->records == 0)
        return cg_error(CG_ERR_FORMAT, "%s: all %lld data rows were dropped (first reason: %s, e.g. %s); the dataset "
                        "needs every source", path, (long long)st->rows, st->n_reasons ? st->reason[0] : "none",
                        st->n_reasons ? st->example[0] : "-");
    return CG_OK;
}

cg_status cg_dataset_build(const char *data_dir, const cg_genes *genes, const cg_dataset_options *opt,
                           cg_dataset *out) {
    memset(out, 0, sizeof *out);
    collector c = {0};
    cg_pheno_stats st[8];
    memset(st, 0, sizeof st);
    int n = 0;
    char path[4096];
    cg_status s = CG_OK;
#define RUN(rel, call)                                                                                                 \
    do {                                                                                                               \
        if (s != CG_OK) break;                                                                                         \
        snprintf(path, sizeof path, "%s/%s", data_dir, rel);                                                           \
        c.current = n;                                                                                                 \
        s = call;                                                                                                      \
        if (s == CG_OK) s = check_contributes(path, &st[n]);                                                           \
        n++;                                                                                                           \
    } while (0)
    RUN("phenotypes/costanzo2016-smf/smf_t30_150803.txt", cg_read_costanzo_smf(path, genes, collect, &c, &st[n]));
    RUN("phenotypes/dcell-go0006281/GO_0006281_training_data_2016_0",
        cg_read_dcell_pairs(path, genes, collect, &c, &st[n]));
    RUN("phenotypes/dcell-go0006281/GO_0006281_testing_data_2016_0",
        cg_read_dcell_pairs(path, genes, collect, &c, &st[n]));
    RUN("phenotypes/sga-test-screen/scored_triple_test_small_trigenic.txt",
        cg_read_sga_table(path, genes, 30, collect, &c, &st[n]));
    RUN("phenotypes/sga-test-screen/dmf_tr_150226_fromSGAonly.txt",
        cg_read_query_fitness(path, genes, collect, &c, &st[n]));
#undef RUN
    if (s == CG_OK) s = cg_dataset_from_records(c.rec, c.src, c.n, st, n, genes, opt, out);
    free(c.rec);
    free(c.src);
    return s;
}

/* ------------------------------------------------------------------ file */

static cJSON *stats_json(const cg_label_stats *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mean", s->mean);
    cJSON_AddNumberToObject(o, "std", s->std);
    cJSON_AddNumberToObject(o, "min", s->min);
    cJSON_AddNumberToObject(o, "max", s->max);
    cJSON_AddNumberToObject(o, "count", (double)s->count);
    return o;
}

cg_status cg_dataset_save(const cg_dataset *d, const char *path) {
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    int64_t s3[2] = {d->n, 3}, sk[2] = {d->n, K}, s1[1] = {d->n};
    cg_status s = cg_safetensors_writer_add(&w, "genotype", CG_ST_I32, 2, s3, d->genotype);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "label", CG_ST_F32, 2, sk, d->label);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "label_std", CG_ST_F32, 2, sk, d->label_std);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "label_p_value", CG_ST_F32, 2, sk, d->label_p);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "label_count", CG_ST_I32, 2, sk, d->label_count);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "source_mask", CG_ST_I32, 1, s1, d->source_mask);
    char name[64];
    for (int k = 0; k < CG_SPLIT_KINDS && s == CG_OK; k++) {
        snprintf(name, sizeof name, "split.%s", cg_split_kind_name((cg_split_kind)k));
        s = cg_safetensors_writer_add(&w, name, CG_ST_I32, 1, s1, d->split[k]);
    }
    /* metadata: labels, sources with their drop counts, statistics, gene table identity, split config */
    cJSON *labels = cJSON_CreateArray(), *sources = cJSON_CreateArray(), *stats = cJSON_CreateObject();
    for (int k = 0; k < K; k++) cJSON_AddItemToArray(labels, cJSON_CreateString(cg_label_name(k)));
    for (int i = 0; i < d->n_sources; i++) {
        const cg_pheno_stats *p = &d->sources[i];
        cJSON *o = cJSON_CreateObject(), *drops = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "source", p->source);
        cJSON_AddNumberToObject(o, "rows", (double)p->rows);
        cJSON_AddNumberToObject(o, "records", (double)p->records);
        for (int r = 0; r < p->n_reasons; r++) {
            cJSON *dr = cJSON_CreateObject();
            cJSON_AddStringToObject(dr, "reason", p->reason[r]);
            cJSON_AddNumberToObject(dr, "rows", (double)p->dropped[r]);
            cJSON_AddStringToObject(dr, "example", p->example[r]);
            cJSON_AddItemToArray(drops, dr);
        }
        cJSON_AddItemToObject(o, "dropped", drops);
        cJSON_AddItemToArray(sources, o);
    }
    for (int sk2 = 0; sk2 < CG_SPLIT_KINDS; sk2++) {
        cJSON *o = cJSON_CreateObject();
        for (int k = 0; k < K; k++) cJSON_AddItemToObject(o, cg_label_name(k), stats_json(&d->stats[sk2][k]));
        cJSON_AddItemToObject(stats, cg_split_kind_name(sk2), o);
    }
    char *tl = cJSON_PrintUnformatted(labels), *ts = cJSON_PrintUnformatted(sources), *tt = cJSON_PrintUnformatted(stats);
    char num[64];
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "format", DATASET_FORMAT);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "labels", tl ? tl : "[]");
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "sources", ts ? ts : "[]");
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "label_statistics", tt ? tt : "{}");
    snprintf(num, sizeof num, "%lld", (long long)d->n_genes);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "n_genes", num);
    snprintf(num, sizeof num, "%08x", d->genes_checksum);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "genes_crc32", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)d->seed);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "seed", num);
    snprintf(num, sizeof num, "%.17g", d->gene_holdout);
    if (s == CG_OK) s = cg_safetensors_writer_set_metadata(&w, "gene_holdout", num);
    cJSON_free(tl), cJSON_free(ts), cJSON_free(tt);
    cJSON_Delete(labels), cJSON_Delete(sources), cJSON_Delete(stats);
    if (s == CG_OK) s = cg_safetensors_writer_write(&w, path);
    cg_safetensors_writer_free(&w);
    return s;
}

static const void *need(cg_safetensors *st, const char *path, const char *name, cg_st_dtype dt, int64_t rows,
                        int64_t cols, cg_status *s) {
    if (*s != CG_OK) return NULL;
    cg_safetensors_info info;
    if (cg_safetensors_find(st, name, &info) != CG_OK) {
        *s = cg_error(CG_ERR_FORMAT, "%s: not a cellgraph dataset: tensor '%s' is missing", path, name);
        return NULL;
    }
    bool ok = info.dtype == dt && (cols == 0 ? info.ndim == 1 && info.shape[0] == rows
                                             : info.ndim == 2 && info.shape[0] == rows && info.shape[1] == cols);
    if (!ok) {
        *s = cg_error(CG_ERR_FORMAT, "%s: tensor '%s' has the wrong dtype or shape", path, name);
        return NULL;
    }
    if (info.offset % (uint64_t)cg_st_dtype_size(dt) != 0) { /* read in place: must be aligned */
        *s = cg_error(CG_ERR_FORMAT, "%s: tensor '%s' is not aligned to its element size (data offset %llu)", path,
                      name, (unsigned long long)info.offset);
        return NULL;
    }
    return info.data;
}

static double num_of(cJSON *o, const char *k) {
    cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A count in the metadata (never cast unchecked: NaN or 1e300 to an integer is undefined): absent is 0;
 * anything but a whole number in [0, 2^53] is a format error naming `what` and the key. */
static cg_status count_of(cJSON *o, const char *k, const char *path, const char *what, int64_t *out) {
    cJSON *v = cJSON_GetObjectItem(o, k);
    *out = 0;
    if (!v) return CG_OK;
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(x >= 0 && x <= 9007199254740992.0 && x == floor(x)))
        return cg_error(CG_ERR_FORMAT, "%s: metadata %s: '%s' is not a count", path, what, k);
    *out = (int64_t)x;
    return CG_OK;
}

cg_status cg_dataset_load(const char *path, cg_dataset *out) {
    memset(out, 0, sizeof *out);
    owner *ow = calloc(1, sizeof *ow);
    if (!ow) return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    cg_status s = cg_safetensors_open(path, &ow->st);
    if (s != CG_OK) {
        free(ow);
        return s;
    }
    out->owner = ow;
    cg_safetensors *st = ow->st;
    const char *fmt = cg_safetensors_metadata(st, "format");
    if (!fmt || strcmp(fmt, DATASET_FORMAT) != 0) {
        s = cg_error(CG_ERR_FORMAT, "%s: not a cellgraph dataset (metadata format '%s', expected '%s')", path,
                     fmt ? fmt : "(none)", DATASET_FORMAT);
        cg_dataset_free(out);
        return s;
    }
    cg_safetensors_info gi;
    if (cg_safetensors_find(st, "genotype", &gi) != CG_OK || gi.ndim != 2) {
        s = cg_error(CG_ERR_FORMAT, "%s: tensor 'genotype' is missing or not 2-d", path);
        cg_dataset_free(out);
        return s;
    }
    int64_t S = gi.shape[0];
    out->n = S;
    out->genotype = need(st, path, "genotype", CG_ST_I32, S, 3, &s);
    out->label = need(st, path, "label", CG_ST_F32, S, K, &s);
    out->label_std = need(st, path, "label_std", CG_ST_F32, S, K, &s);
    out->label_p = need(st, path, "label_p_value", CG_ST_F32, S, K, &s);
    out->label_count = need(st, path, "label_count", CG_ST_I32, S, K, &s);
    out->source_mask = need(st, path, "source_mask", CG_ST_I32, S, 0, &s);
    for (int k = 0; k < CG_SPLIT_KINDS; k++) {
        char name[64];
        snprintf(name, sizeof name, "split.%s", cg_split_kind_name((cg_split_kind)k));
        out->split[k] = need(st, path, name, CG_ST_I32, S, 0, &s);
    }
    const char *ng = cg_safetensors_metadata(st, "n_genes"), *crc = cg_safetensors_metadata(st, "genes_crc32");
    const char *seed = cg_safetensors_metadata(st, "seed"), *hold = cg_safetensors_metadata(st, "gene_holdout");
    char *end = NULL;
    out->n_genes = ng ? strtoll(ng, &end, 10) : 0;
    if (s == CG_OK && ng && (end == ng || *end || out->n_genes < 0 || out->n_genes > INT32_MAX))
        s = cg_error(CG_ERR_FORMAT, "%s: metadata n_genes '%s' is not a gene count", path, ng);
    out->genes_checksum = crc ? (uint32_t)strtoul(crc, NULL, 16) : 0;
    out->seed = seed ? strtoull(seed, NULL, 10) : 0;
    out->gene_holdout = hold ? atof(hold) : NAN;
    if (s == CG_OK) {
        /* indices must be valid genes (1 to 3, ascending, -1 padded), splits valid ids */
        for (int64_t i = 0; i < 3 * S && s == CG_OK; i++)
            if (out->genotype[i] < -1 || out->genotype[i] >= out->n_genes)
                s = cg_error(CG_ERR_FORMAT, "%s: sample %lld names gene index %d outside the %lld genes", path,
                             (long long)(i / 3), out->genotype[i], (long long)out->n_genes);
        for (int64_t i = 0; i < S && s == CG_OK; i++) {
            const int32_t *g = out->genotype + 3 * i;
            bool ok = g[0] >= 0;
            for (int k = 1; k < 3; k++) ok = ok && (g[k] == -1 ? (k == 2 || g[k + 1] == -1) : g[k] > g[k - 1]);
            if (!ok)
                s = cg_error(CG_ERR_FORMAT, "%s: sample %lld: genotype (%d, %d, %d) is not 1 to 3 ascending genes", path,
                             (long long)i, g[0], g[1], g[2]);
        }
        for (int k = 0; k < CG_SPLIT_KINDS && s == CG_OK; k++)
            for (int64_t i = 0; i < S && s == CG_OK; i++)
                if (out->split[k][i] < 0 || out->split[k][i] > CG_SPLIT_NONE)
                    s = cg_error(CG_ERR_FORMAT, "%s: sample %lld has split id %d", path, (long long)i, out->split[k][i]);
    }
    cJSON *stats = s == CG_OK ? cJSON_Parse(cg_safetensors_metadata(st, "label_statistics")) : NULL;
    cJSON *sources = s == CG_OK ? cJSON_Parse(cg_safetensors_metadata(st, "sources")) : NULL;
    if (s == CG_OK && (!cJSON_IsObject(stats) || !cJSON_IsArray(sources)))
        s = cg_error(CG_ERR_FORMAT, "%s: metadata 'label_statistics' or 'sources' is not valid JSON", path);
    for (int sk = 0; sk < CG_SPLIT_KINDS && s == CG_OK; sk++) {
        cJSON *o = cJSON_GetObjectItem(stats, cg_split_kind_name(sk));
        for (int k = 0; k < K; k++) {
            cJSON *l = cJSON_GetObjectItem(o, cg_label_name(k));
            int64_t count = 0;
            if (s == CG_OK) s = count_of(l, "count", path, "label_statistics", &count);
            out->stats[sk][k] = (cg_label_stats){num_of(l, "mean"), num_of(l, "std"), num_of(l, "min"),
                                                 num_of(l, "max"), count};
        }
    }
    for (int i = 0; s == CG_OK && i < cJSON_GetArraySize(sources) && i < CG_DATASET_MAX_SOURCES; i++) {
        cJSON *o = cJSON_GetArrayItem(sources, i);
        cg_pheno_stats *p = &out->sources[out->n_sources++];
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(o, "source"));
        snprintf(p->source, sizeof p->source, "%s", nm ? nm : "?");
        s = count_of(o, "rows", path, "sources", &p->rows);
        if (s == CG_OK) s = count_of(o, "records", path, "sources", &p->records);
        cJSON *drops = cJSON_GetObjectItem(o, "dropped");
        for (int r = 0; s == CG_OK && r < cJSON_GetArraySize(drops) && r < CG_PHENO_MAX_REASONS; r++) {
            cJSON *dr = cJSON_GetArrayItem(drops, r);
            const char *rs = cJSON_GetStringValue(cJSON_GetObjectItem(dr, "reason"));
            const char *ex = cJSON_GetStringValue(cJSON_GetObjectItem(dr, "example"));
            snprintf(p->reason[p->n_reasons], sizeof p->reason[0], "%s", rs ? rs : "?");
            snprintf(p->example[p->n_reasons], sizeof p->example[0], "%s", ex ? ex : "");
            s = count_of(dr, "rows", path, "sources", &p->dropped[p->n_reasons++]);
        }
    }
    cJSON_Delete(stats);
    cJSON_Delete(sources);
    if (s != CG_OK) cg_dataset_free(out);
    return s;
}
