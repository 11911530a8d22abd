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

#define DATASET_FORMAT "cellgraph.dataset/1"
#define K CG_NUM_LABELS

static const char *const SPLIT_NAMES[CG_SPLIT_KINDS] = {"random", "gene"};

const char *cg_split_kind_name(cg_split_kind k) { return (unsigned)k < CG_SPLIT_KINDS ? SPLIT_NAMES[k] : "?"; }

bool cg_split_kind_parse(const char *name, cg_split_kind *out) {
    for (int k = 0; k < CG_SPLIT_KINDS; k++)
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
    /* strata: label set (2 bits) x number of genes (1..3) */
    for (int stratum = 0; stratum < 16; stratum++) {
        int64_t n = 0;
        for (int64_t i = 0; i < d->n; i++) {
            int set = 0;
            for (int k = 0; k < K; k++) set |= (d->label_count[i * K + k] > 0) << k;
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

static void split_gene(cg_dataset *d, int32_t *split, int64_t *scratch) {
    /* genes seen in the data, in index order, then shuffled */
    uint8_t *role = calloc((size_t)d->n_genes + 1, 1); /* 0 unseen, 1 train, 2 val, 3 test */
    if (!role) return;
    for (int64_t i = 0; i < 3 * d->n; i++)
        if (d->genotype[i] >= 0) role[d->genotype[i]] = 1;
    int64_t ng = 0;
    for (int64_t gi = 0; gi < d->n_genes; gi++)
        if (role[gi]) scratch[ng++] = gi;
    cg_rng_shuffle_i64(scratch, ng, d->seed, 2000);
    int64_t n_hold = (int64_t)floor(d->gene_holdout * (double)ng + 0.5);
    for (int64_t j = 0; j < ng; j++) role[scratch[j]] = j < n_hold ? 3 : j < 2 * n_hold ? 2 : 1;
    for (int64_t i = 0; i < d->n; i++) {
        int worst = 1;
        for (int k = 0; k < 3; k++) {
            int32_t gi = d->genotype[3 * i + k];
            if (gi >= 0 && role[gi] > worst) worst = role[gi];
        }
        split[i] = worst == 3 ? CG_SPLIT_TEST : worst == 2 ? CG_SPLIT_VAL : CG_SPLIT_TRAIN;
    }
    free(role);
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
                                (1 + CG_SPLIT_KINDS) * sizeof(int32_t)) + 64;
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
    int32_t *lcount = (int32_t *)(lp + K * S), *smask = lcount + K * S, *split0 = smask + S, *split1 = split0 + S;

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
    free(r);

    out->n = S;
    out->genotype = genotype;
    out->label = label;
    out->label_std = lstd;
    out->label_p = lp;
    out->label_count = lcount;
    out->source_mask = smask;
    out->split[CG_SPLIT_RANDOM] = split0;
    out->split[CG_SPLIT_GENE] = split1;
    out->n_sources = n_sources;
    for (int k = 0; k < n_sources; k++) out->sources[k] = sources[k];
    out->n_genes = ng;
    out->genes_checksum = cg_genes_checksum(genes);
    out->seed = o.seed;
    out->gene_holdout = o.gene_holdout;
    out->owner = ow;
    split_random(out, split0, scratch);
    split_gene(out, split1, scratch);
    free(scratch);
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
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "split.random", CG_ST_I32, 1, s1, d->split[CG_SPLIT_RANDOM]);
    if (s == CG_OK) s = cg_safetensors_writer_add(&w, "split.gene", CG_ST_I32, 1, s1, d->split[CG_SPLIT_GENE]);
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
    return info.data;
}

static double num_of(cJSON *o, const char *k) {
    cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
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
    out->split[CG_SPLIT_RANDOM] = need(st, path, "split.random", CG_ST_I32, S, 0, &s);
    out->split[CG_SPLIT_GENE] = need(st, path, "split.gene", CG_ST_I32, S, 0, &s);
    const char *ng = cg_safetensors_metadata(st, "n_genes"), *crc = cg_safetensors_metadata(st, "genes_crc32");
    const char *seed = cg_safetensors_metadata(st, "seed"), *hold = cg_safetensors_metadata(st, "gene_holdout");
    out->n_genes = ng ? atoll(ng) : 0;
    out->genes_checksum = crc ? (uint32_t)strtoul(crc, NULL, 16) : 0;
    out->seed = seed ? strtoull(seed, NULL, 10) : 0;
    out->gene_holdout = hold ? atof(hold) : NAN;
    if (s == CG_OK) {
        /* indices must be valid genes, splits valid ids */
        for (int64_t i = 0; i < 3 * S && s == CG_OK; i++)
            if (out->genotype[i] < -1 || out->genotype[i] >= out->n_genes)
                s = cg_error(CG_ERR_FORMAT, "%s: sample %lld names gene index %d outside the %lld genes", path,
                             (long long)(i / 3), out->genotype[i], (long long)out->n_genes);
        for (int k = 0; k < CG_SPLIT_KINDS && s == CG_OK; k++)
            for (int64_t i = 0; i < S && s == CG_OK; i++)
                if (out->split[k][i] < 0 || out->split[k][i] > 2)
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
            out->stats[sk][k] = (cg_label_stats){num_of(l, "mean"), num_of(l, "std"), num_of(l, "min"),
                                                 num_of(l, "max"), (int64_t)num_of(l, "count")};
        }
    }
    for (int i = 0; s == CG_OK && i < cJSON_GetArraySize(sources) && i < CG_DATASET_MAX_SOURCES; i++) {
        cJSON *o = cJSON_GetArrayItem(sources, i);
        cg_pheno_stats *p = &out->sources[out->n_sources++];
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(o, "source"));
        snprintf(p->source, sizeof p->source, "%s", nm ? nm : "?");
        p->rows = (int64_t)num_of(o, "rows");
        p->records = (int64_t)num_of(o, "records");
        cJSON *drops = cJSON_GetObjectItem(o, "dropped");
        for (int r = 0; r < cJSON_GetArraySize(drops) && r < CG_PHENO_MAX_REASONS; r++) {
            cJSON *dr = cJSON_GetArrayItem(drops, r);
            const char *rs = cJSON_GetStringValue(cJSON_GetObjectItem(dr, "reason"));
            const char *ex = cJSON_GetStringValue(cJSON_GetObjectItem(dr, "example"));
            snprintf(p->reason[p->n_reasons], sizeof p->reason[0], "%s", rs ? rs : "?");
            snprintf(p->example[p->n_reasons], sizeof p->example[0], "%s", ex ? ex : "");
            p->dropped[p->n_reasons++] = (int64_t)num_of(dr, "rows");
        }
    }
    cJSON_Delete(stats);
    cJSON_Delete(sources);
    if (s != CG_OK) cg_dataset_free(out);
    return s;
}
