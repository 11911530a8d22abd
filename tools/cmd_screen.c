/* cellgraph screen: predictions for every pair (or triple) of a set of genes, streamed to a TSV.
 *
 * The genotypes are enumerated in a fixed order (gene index order, i < j < k). Results go to FILE.partial,
 * flushed after every chunk; when the screen is complete the file is renamed to FILE. A rerun with the
 * same checkpoint, genes and order resumes FILE.partial: its first line holds a key (order, CRC-32 of the
 * gene list and of the model parameters), a torn last line is cut off, every complete line is checked
 * against the genotype expected at its position (a damaged line anywhere is an error, never copied into the
 * result), and the screen goes on from the next genotype, so the finished file has every genotype exactly
 * once. An existing complete FILE is accepted as done only when its key is this screen's and every line
 * checks out; otherwise the command refuses, says what differs, and asks for the file to be removed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cellgraph/genes.h"
#include "cellgraph/genotype_files.h"
#include "cellgraph/model.h"
#include "cellgraph/lines.h"
#include "cellgraph/threads.h"
#include "cli.h"

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* number of k-subsets of n items (k = 2, 3) */
static int64_t n_combinations(int64_t n, int k) {
    if (n < k) return 0;
    return k == 2 ? n * (n - 1) / 2 : n * (n - 1) * (n - 2) / 6;
}

/* the genotype at position idx of the enumeration (positions into the gene list) */
static void unrank(int64_t idx, int64_t n, int k, int64_t pos[3]) {
    pos[2] = -1;
    int64_t i = 0;
    for (;; i++) { /* first element: skip blocks of the combinations that start with i */
        int64_t block = k == 2 ? n - 1 - i : (n - 1 - i) * (n - 2 - i) / 2;
        if (idx < block) break;
        idx -= block;
    }
    pos[0] = i;
    if (k == 2) {
        pos[1] = i + 1 + idx;
        return;
    }
    int64_t j = i + 1;
    for (;; j++) {
        int64_t block = n - 1 - j;
        if (idx < block) break;
        idx -= block;
    }
    pos[1] = j;
    pos[2] = j + 1 + idx;
}

static void progress(int64_t done, int64_t total, int64_t done_run, double t0, bool tty, double *last) {
    double t = cli_now();
    if (done < total && t - *last < (tty ? 0.5 : 30.0)) return;
    *last = t;
    double rate = done_run / fmax(t - t0, 1e-9);
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    int width = 30, fill = total ? (int)((double)done / (double)total * width) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "%s[%s] %lld/%lld genotypes  %.1f/s  eta %.0f min%s", tty ? "\r" : "", bar, (long long)done,
            (long long)total, rate, eta / 60.0, tty ? "   " : "\n");
    if (tty && done == total) fprintf(stderr, "\n");
}

/* appends to the last error what to do about the file at path */
static void add_advice(const char *path) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", cg_last_error());
    cg_error(cg_last_status(), "%s; remove %s (or choose another -o) to screen again", msg, path);
}

/* the column header of a screen of the order (the one place that names the label columns) */
static const char *screen_header(int order) {
    return order == 2 ? "gene1\tgene2\tfitness\tepsilon" : "gene1\tgene2\tgene3\tfitness\ttau";
}

/* What differs between the key line of a file (have) and this screen's (want), in words, into buf. */
static void key_difference(const char *have, const char *want, char *buf, size_t len) {
    static const char prefix[] = "# cellgraph screen ";
    static const struct { const char *field, *what; } fields[] = {
        {"order=", "the order"},
        {"genes=", "the number of genes"},
        {"genes_crc32=", "the gene list"},
        {"params_crc32=", "the model parameters (another checkpoint)"},
    };
    if (strncmp(have, prefix, sizeof prefix - 1) != 0) {
        snprintf(buf, len, "its first line is not the key line of a cellgraph screen");
        return;
    }
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && n < len; i++) {
        const char *h = strstr(have, fields[i].field), *w = strstr(want, fields[i].field);
        size_t hl = h ? strcspn(h, " ") : 0, wl = w ? strcspn(w, " ") : 0;
        if (h && w && hl == wl && memcmp(h, w, hl) == 0) continue;
        const size_t fl = strlen(fields[i].field);
        n += (size_t)snprintf(buf + n, len - n, "%s%s: file %.*s, this screen %.*s", n ? "; " : "", fields[i].what,
                              h ? (int)(hl - fl) : 4, h ? h + fl : "none", w ? (int)(wl - fl) : 0, w ? w + fl : "");
    }
    if (buf[0] == '\0') snprintf(buf, len, "key line '%.200s', this screen's '%s'", have, want);
}

/* true when field is a number as the screen writes it (strtod's whole text: also nan, inf) or NA */
static bool number_field(const char *field) {
    if (strcmp(field, "NA") == 0) return true;
    char *end = NULL;
    (void)strtod(field, &end);
    return *field != '\0' && end && *end == '\0';
}

/* Checks a screen file line by line against this screen: line 1 is the key, line 2 the column header, and
 * data line i (1-based) the i-th genotype of the enumeration (its genes' systematic names) followed by
 * numbers, as many fields as the header. Every line is checked, not only the last. A last line without
 * a newline (torn by a kill while writing) ends the file: *good_end is the byte offset where the complete
 * lines end, *torn whether anything follows it, *n_done the number of genotype lines. A key or header
 * line still being torn gives *n_done 0 and *good_end 0. Errors: CG_ERR_FORMAT "<path>:<line>: ..."
 * (another key: what differs; another header; a line that is not the expected genotype's), CG_ERR_IO,
 * CG_ERR_NOMEM. */
static cg_status check_screen_file(const char *path, const char *key, int order, const int32_t *list, int64_t n,
                                   int64_t total, const cg_graph *g, int64_t *n_done, long long *good_end,
                                   bool *torn) {
    *n_done = 0, *good_end = 0, *torn = false;
    FILE *f = fopen(path, "r");
    if (!f) return cg_error(CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    const char *header = screen_header(order);
    int n_fields = 1;
    for (const char *c = header; *c; c++) n_fields += *c == '\t';
    char *buf = NULL, *fields[16];
    size_t cap = 0;
    ssize_t len;
    int64_t line_no = 0, count = 0, pos[3] = {0, 1, 2};
    long long end = 0;
    cg_status s = CG_OK;
    while (s == CG_OK && (len = getline(&buf, &cap, f)) > 0) {
        if (buf[len - 1] != '\n') { /* torn last line */
            *torn = true;
            break;
        }
        line_no++;
        buf[--len] = '\0';
        if (memchr(buf, '\0', (size_t)len)) {
            s = cg_error(CG_ERR_FORMAT, "%s:%lld: contains a NUL byte (damaged file?)", path, (long long)line_no);
            break;
        }
        if (line_no == 1) {
            if (strcmp(buf, key) != 0) {
                char what[768];
                key_difference(buf, key, what, sizeof what);
                s = cg_error(CG_ERR_FORMAT, "%s:1: the screen in this file was made with other settings (%s)", path,
                             what);
            }
        } else if (line_no == 2) {
            if (strcmp(buf, header) != 0)
                s = cg_error(CG_ERR_FORMAT,
                             "%s:2: column header '%.200s', expected '%s' (another version of cellgraph?)", path, buf,
                             header);
        } else if (count == total) {
            s = cg_error(CG_ERR_FORMAT, "%s:%lld: more lines than the %lld genotypes of this screen", path,
                         (long long)line_no, (long long)total);
        } else {
            int nf = cg_split_fields(buf, '\t', fields, 16);
            bool ok = nf == n_fields;
            for (int q = 0; ok && q < order; q++)
                ok = strcmp(fields[q], cg_graph_node_name(g, CG_GENE, list[pos[q]])) == 0;
            for (int q = order; ok && q < nf; q++) ok = number_field(fields[q]);
            if (!ok) {
                s = cg_error(CG_ERR_FORMAT, "%s:%lld: not the result line of genotype %lld (%s %s%s%s and %d numbers, "
                             "tab-separated): the file is damaged", path, (long long)line_no, (long long)count + 1,
                             cg_graph_node_name(g, CG_GENE, list[pos[0]]), cg_graph_node_name(g, CG_GENE, list[pos[1]]),
                             order == 3 ? " " : "", order == 3 ? cg_graph_node_name(g, CG_GENE, list[pos[2]]) : "",
                             n_fields - order);
                break;
            }
            count++;
            /* the next genotype of the enumeration */
            int q = order - 1;
            while (q >= 0 && pos[q] == n - order + q) q--;
            if (q >= 0) {
                pos[q]++;
                for (int r = q + 1; r < order; r++) pos[r] = pos[r - 1] + 1;
            }
        }
        end += len + 1;
    }
    if (s == CG_OK && ferror(f)) s = cg_error(CG_ERR_IO, "%s: read error: %s", path, strerror(errno));
    free(buf);
    fclose(f);
    if (s != CG_OK) return s;
    if (line_no < 2) end = 0; /* the key or the header torn: start again */
    *n_done = count;
    *good_end = end;
    return CG_OK;
}

/* the most genotypes --max-genotypes takes (every triple of the 6,604 genes is 4.8e10) */
#define MAX_GENOTYPES 1000000000000000LL

enum { OPT_CHECKPOINT = 256, OPT_DATA, OPT_GENES, OPT_PERTURBATION, OPT_METABOLIC, OPT_ALL, OPT_ORDER, OPT_BATCH,
       OPT_MAX_GENOTYPES };

int cmd_screen(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *genes_file = NULL, *output = "screen.tsv", *perturbation = NULL;
    bool metabolic = false, all = false;
    int64_t order_arg = 0, batch = 64, max_genotypes = -1;
    static const struct option LONG[] = {{"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
                                         {"data", required_argument, NULL, OPT_DATA},
                                         {"genes", required_argument, NULL, OPT_GENES},
                                         {"output", required_argument, NULL, 'o'},
                                         {"perturbation", required_argument, NULL, OPT_PERTURBATION},
                                         {"metabolic", no_argument, NULL, OPT_METABOLIC},
                                         {"all", no_argument, NULL, OPT_ALL},
                                         {"order", required_argument, NULL, OPT_ORDER},
                                         {"batch-size", required_argument, NULL, OPT_BATCH},
                                         {"max-genotypes", required_argument, NULL, OPT_MAX_GENOTYPES},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, "screen", argc, argv, "ho:", LONG);
    bool ok = true;
    for (int c; ok && (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_CHECKPOINT: ckpt = o.arg; break;
        case OPT_DATA: data = o.arg; break;
        case OPT_GENES: genes_file = o.arg; break;
        case 'o': output = o.arg; break;
        case OPT_PERTURBATION: perturbation = o.arg; break;
        case OPT_METABOLIC: metabolic = true; break;
        case OPT_ALL: all = true; break;
        case OPT_ORDER: ok = cli_parse_int("screen", "--order", o.arg, 2, 3, &order_arg); break;
        /* the prediction batch: training's bound */
        case OPT_BATCH: ok = cli_parse_int("screen", "--batch-size", o.arg, 1, CG_TRAIN_MAX_BATCH, &batch); break;
        case OPT_MAX_GENOTYPES:
            ok = cli_parse_int("screen", "--max-genotypes", o.arg, 1, MAX_GENOTYPES, &max_genotypes);
            break;
        case 'h': return CLI_HELP;
        case CLI_ARG: return cli_unexpected(&o);
        default: return 2;
        }
    }
    if (!ok) return 2;
    const int order = (int)order_arg;
    if (!ckpt || order == 0 || (genes_file != NULL) + metabolic + all != 1) {
        fprintf(stderr, "usage: cellgraph screen --checkpoint F (--genes FILE | --metabolic | --all) --order 2|3 "
                        "[-o FILE] [--batch-size B] [--max-genotypes N] [--perturbation auto|incremental|full]\n");
        return 2;
    }
    cg_perturbation_choice pc = CG_PERTURB_AUTO;
    if (!cli_perturbation("screen", perturbation, &pc)) return 2;
    cg_checkpoint_info info;
    cg_graph *g;
    cg_dataset unused;
    cg_model m;
    if (cli_open_checkpoint(ckpt, data, &info, &g, &unused, false, &m)) return 1;
    int rc = 1;
    cg_genes *genes = NULL;
    int32_t *list = NULL, *geno = NULL;
    float *pred = NULL;
    FILE *f = NULL;
    cg_ctx ctx;
    cg_model_cache cache = {0}; /* the wildtype pass, once for the whole screen (the parameters never change) */
    bool ctx_ok = false, hg_ok = false;
    cg_graph_index hg;
    char partial[4200], lock_path[4200];
    snprintf(partial, sizeof partial, "%s.partial", output);
    snprintf(lock_path, sizeof lock_path, "%s.lock", output);
    const int lock = cli_lock(lock_path, output);
    if (lock < 0) goto out;
    cg_perturbation_path mode;
    if (cg_model_resolve_path(&m.cfg, perturbation ? pc : info.train.perturbation, false, &mode) != CG_OK) goto out;
    if (cg_graph_genes(g, &genes) != CG_OK) goto out;
    /* the genes: sorted gene indices */
    int64_t n = 0;
    const int64_t ng = cg_graph_num_nodes(g, CG_GENE);
    if (genes_file) {
        if (cg_read_gene_list(genes_file, genes, &list, &n) != CG_OK) goto out;
    } else {
        list = malloc((size_t)ng * sizeof *list);
        if (!list) {
            cg_error(CG_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (all)
            for (int64_t i = 0; i < ng; i++) list[n++] = (int32_t)i;
        else
            n = cg_graph_metabolic_genes(g, list);
    }
    qsort(list, (size_t)n, sizeof *list, cmp_i32);
    const int64_t total = n_combinations(n, order);
    if (total == 0) {
        cg_error(CG_ERR_INVALID_ARG, "screen: %lld genes give no genotype of order %d", (long long)n, order);
        goto out;
    }
    char key[256];
    uint32_t gcrc = (uint32_t)crc32(0L, (const Bytef *)list, (uInt)((size_t)n * sizeof *list));
    const cg_param_store *ps = cg_model_params(&m);
    uint32_t pcrc = (uint32_t)crc32(0L, (const Bytef *)ps->values, (uInt)((size_t)ps->total * sizeof(float)));
    snprintf(key, sizeof key, "# cellgraph screen order=%d genes=%lld genes_crc32=%08x params_crc32=%08x", order,
             (long long)n, gcrc, pcrc);
    struct stat st;
    int64_t done = 0;
    long long good_end = 0;
    bool torn = false;
    if (stat(output, &st) == 0 && stat(partial, &st) != 0) {
        /* a complete screen counts only when it is this screen's, whole and undamaged */
        if (check_screen_file(output, key, order, list, n, total, g, &done, &good_end, &torn) != CG_OK) {
            add_advice(output);
            goto out;
        }
        if (done != total || torn) {
            cg_error(CG_ERR_FORMAT, "%s: %lld of the %lld genotypes%s, not a complete screen; remove it (or choose "
                     "another -o) to screen again", output, (long long)done, (long long)total,
                     torn ? " and a torn last line" : "");
            goto out;
        }
        printf("%s exists and is complete (%lld genotypes); nothing to do (remove it to screen again)\n", output,
               (long long)total);
        rc = 0;
        goto out;
    }
    if (stat(partial, &st) == 0) {
        if (check_screen_file(partial, key, order, list, n, total, g, &done, &good_end, &torn) != CG_OK) {
            add_advice(partial);
            goto out;
        }
        if (truncate(partial, (off_t)good_end) != 0) { /* cut a torn last line */
            cg_error(CG_ERR_IO, "%s: cannot truncate: %s", partial, strerror(errno));
            goto out;
        }
        if (good_end == 0) done = 0;
        fprintf(stderr, "resuming %s: %lld of %lld genotypes done\n", partial, (long long)done, (long long)total);
    }
    f = fopen(partial, good_end > 0 ? "a" : "w");
    if (!f) {
        cg_error(CG_ERR_IO, "%s: cannot write: %s", partial, strerror(errno));
        goto out;
    }
    if (good_end == 0) fprintf(f, "%s\n%s\n", key, screen_header(order));
    /* the perturbation path only for models that run on the graph (DANGO does not) */
    char path_txt[48] = "";
    if (m.type->uses_graph) snprintf(path_txt, sizeof path_txt, "%s path, ", cg_perturbation_path_name(mode));
    cli_threads threads; /* the thread count follows the machine's load (cli.h) */
    cli_threads_init(&threads);
    printf("screen with %s: %lld genes (%s), order %d: %lld genotypes, %sbatch %lld, %s%d threads -> %s\n",
           cg_model_title(&m), (long long)n, genes_file ? genes_file : metabolic ? "metabolic" : "all", order,
           (long long)total, path_txt, (long long)batch, threads.follow ? "up to " : "", threads.max, output);
    fflush(stdout);
    const int64_t chunk = 4 * batch;
    geno = malloc((size_t)chunk * 3 * sizeof *geno);
    pred = malloc((size_t)chunk * CG_NUM_LABELS * sizeof *pred);
    if (!geno || !pred || cg_ctx_init(&ctx, 0, 1) != CG_OK) {
        cg_error(CG_ERR_NOMEM, "out of memory");
        goto out;
    }
    ctx_ok = true;
    if (cg_graph_index_init(&hg, g) != CG_OK) goto out;
    hg_ok = true;
    const bool tty = isatty(2);
    const double t0 = cli_now();
    double last_report = 0;
    int64_t done_run = 0;
    int64_t pos[3];
    while (done < total && (max_genotypes < 0 || done_run < max_genotypes)) {
        int64_t k = total - done < chunk ? total - done : chunk;
        if (max_genotypes >= 0 && k > max_genotypes - done_run) k = max_genotypes - done_run;
        unrank(done, n, order, pos);
        for (int64_t j = 0; j < k; j++) {
            for (int q = 0; q < 3; q++) geno[3 * j + q] = q < order ? list[pos[q]] : -1;
            /* next combination */
            int q = order - 1;
            while (q >= 0 && pos[q] == n - order + q) q--;
            if (q >= 0) {
                pos[q]++;
                for (int r = q + 1; r < order; r++) pos[r] = pos[r - 1] + 1;
            }
        }
        cli_threads_adapt(&threads);
        if (cg_model_predict_cached(&ctx, &m, &hg, geno, k, batch, mode, pred, NULL, NULL, &cache) != CG_OK) goto out;
        for (int64_t j = 0; j < k; j++) {
            for (int q = 0; q < order; q++) fprintf(f, "%s\t", cg_graph_node_name(g, CG_GENE, geno[3 * j + q]));
            /* fitness and the interaction of the order: epsilon for pairs, tau for triples */
            const int ki = cg_interaction_label(order);
            const float *pj = pred + (size_t)j * CG_NUM_LABELS;
            fprintf(f, "%.4f\t%.4f\n", pj[CG_LABEL_FITNESS] * info.label_std[CG_LABEL_FITNESS] + info.label_mean[CG_LABEL_FITNESS],
                    pj[ki] * info.label_std[ki] + info.label_mean[ki]);
        }
        if (fflush(f) != 0 || ferror(f)) {
            cg_error(CG_ERR_IO, "%s: write failed: %s", partial, strerror(errno));
            goto out;
        }
        done += k;
        done_run += k;
        progress(done, total, done_run, t0, tty, &last_report);
    }
    if (fclose(f) != 0) {
        f = NULL;
        cg_error(CG_ERR_IO, "%s: write failed: %s", partial, strerror(errno));
        goto out;
    }
    f = NULL;
    double dt = cli_now() - t0;
    if (done == total) {
        if (rename(partial, output) != 0) {
            cg_error(CG_ERR_IO, "%s: cannot rename to %s: %s", partial, output, strerror(errno));
            goto out;
        }
        printf("wrote %lld genotypes to %s (%lld this run, %.1f genotypes/s)\n", (long long)total, output,
               (long long)done_run, done_run / fmax(dt, 1e-9));
    } else {
        printf("stopped after %lld genotypes this run (%.1f genotypes/s); %lld of %lld in %s; rerun to resume\n",
               (long long)done_run, done_run / fmax(dt, 1e-9), (long long)done, (long long)total, partial);
    }
    rc = 0;
out:
    if (rc) cli_fail();
    cli_unlock(lock);
    if (f) fclose(f);
    if (hg_ok) cg_graph_index_free(&hg);
    cg_model_cache_free(&cache);
    if (ctx_ok) cg_ctx_free(&ctx);
    free(geno);
    free(pred);
    free(list);
    cg_genes_free(genes);
    cg_model_free(&m);
    cg_graph_free(g);
    return rc;
}
