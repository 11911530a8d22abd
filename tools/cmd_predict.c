/* cellgraph predict: the predicted labels of genotypes named on the command line or listed in a file, in
 * original units, as a TSV.
 *
 * Input file: one genotype per line, 1 to 3 gene names separated by spaces, tabs or commas; blank lines and
 * lines whose first name starts with '#' are skipped. Lines of any length are read whole (cg_lines; plain or
 * gzip); a NUL byte, an unknown or repeated gene, or a count of names other than 1 to 3 is an error naming
 * the file and the line, and nothing is written.
 *
 * Output: a header, then one row per genotype: `genotype` (the names as given, joined by ','), `genes` (the
 * resolved systematic names in index order, joined by ','), then one column per label. No field holds a
 * tab, so every row has the header's number of fields. With -o the rows go to FILE.tmp.<pid>, renamed over
 * FILE once complete. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cellgraph/deletion.h"
#include "cellgraph/genes.h"
#include "cellgraph/lines.h"
#include "cellgraph/safetensors.h"
#include "cellgraph/trainer.h"
#include "cli.h"

/* what separates the names of a genotype */
#define NAME_SEPARATORS " \t,"

/* parses one genotype (names separated by spaces, tabs or commas) into sorted gene indices */
static cg_status parse_genotype(const cg_genes *genes, char **names, int n, int32_t out[3], const char *where) {
    if (n < 1 || n > 3)
        return cg_error(CG_ERR_INVALID_ARG, "%s: a genotype has 1 to 3 genes, got %d", where, n);
    for (int k = 0; k < 3; k++) out[k] = -1;
    for (int k = 0; k < n; k++) {
        int32_t gi;
        if (cg_genes_resolve(genes, names[k], &gi) != CG_OK) return cg_error_wrap(cg_last_status(), "%s", where);
        for (int j = 0; j < k; j++)
            if (out[j] == gi)
                return cg_error(CG_ERR_INVALID_ARG, "%s: gene '%s' is repeated in the genotype (as '%s')", where, names[k],
                                names[j]);
        out[k] = gi;
    }
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (out[b] < out[a]) {
                int32_t tmp = out[a];
                out[a] = out[b];
                out[b] = tmp;
            }
    return CG_OK;
}

/* Splits text in place at NAME_SEPARATORS: the first 3 names go to names[] from *count on, and *count
 * counts every name (so that a genotype of too many names is reported with its true size). */
static void split_names(char *text, char *names[3], int *count) {
    char *save = NULL;
    for (char *tok = strtok_r(text, NAME_SEPARATORS, &save); tok; tok = strtok_r(NULL, NAME_SEPARATORS, &save)) {
        if (*count < 3) names[*count] = tok;
        if (*count < INT32_MAX) ++*count;
    }
}

/* the genotypes to predict */
typedef struct genotype_list {
    int32_t *geno; /* [n, 3] sorted gene indices, -1 padded */
    char **given;  /* [n] the names as given, joined by ',' */
    int64_t n, cap;
} genotype_list;

static void list_free(genotype_list *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->given[i]);
    free(l->given);
    free(l->geno);
    memset(l, 0, sizeof *l);
}

/* resolves names[0..count) (at where) and appends the genotype */
static cg_status list_add(genotype_list *l, const cg_genes *genes, char **names, int count, const char *where) {
    int32_t g[3];
    cg_status s = parse_genotype(genes, names, count, g, where);
    if (s != CG_OK) return s;
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        int32_t *ng = realloc(l->geno, (size_t)cap * 3 * sizeof *ng);
        if (ng) l->geno = ng;
        char **nn = ng ? realloc(l->given, (size_t)cap * sizeof *nn) : NULL;
        if (nn) l->given = nn;
        if (!ng || !nn) return cg_error(CG_ERR_NOMEM, "%s: out of memory for %lld genotypes", where, (long long)cap);
        l->cap = cap;
    }
    size_t len = 1;
    for (int k = 0; k < count; k++) len += strlen(names[k]) + 1;
    char *joined = malloc(len);
    if (!joined) return cg_error(CG_ERR_NOMEM, "%s: out of memory", where);
    joined[0] = '\0';
    for (int k = 0; k < count; k++) strcat(strcat(joined, k ? "," : ""), names[k]);
    memcpy(l->geno + 3 * l->n, g, sizeof g);
    l->given[l->n++] = joined;
    return CG_OK;
}

/* the genotypes of a file, one per line */
static cg_status read_genotypes(const char *path, const cg_genes *genes, genotype_list *l) {
    cg_lines r;
    cg_status s = cg_lines_open(&r, path);
    if (s != CG_OK) return s;
    char *line, where[4200];
    size_t len;
    int lrc;
    while ((lrc = cg_lines_next(&r, &line, &len)) > 0) {
        char *names[3];
        int count = 0;
        split_names(line, names, &count);
        if (count == 0 || names[0][0] == '#') continue;
        snprintf(where, sizeof where, "%s: line %lld", path, (long long)r.lineno);
        if ((s = list_add(l, genes, names, count, where)) != CG_OK) break;
    }
    if (s == CG_OK && lrc < 0) s = cg_last_status(); /* a NUL byte, a read error: file and line named */
    cg_lines_close(&r);
    if (s == CG_OK && l->n == 0) s = cg_error(CG_ERR_FORMAT, "%s: no genotype in the file", path);
    return s;
}

/* The TSV: the header, then per genotype the names, the genes and each label in original units (the one
 * place that knows the label columns). Errors: CG_ERR_IO when a write fails. */
static cg_status write_predictions(FILE *f, const char *name, const genotype_list *l, const cg_graph *g,
                                   const float *pred, const cg_checkpoint_info *info) {
    fprintf(f, "genotype\tgenes");
    for (int k = 0; k < CG_NUM_LABELS; k++) fprintf(f, "\t%s", cg_label_name((cg_label)k));
    fputc('\n', f);
    for (int64_t i = 0; i < l->n && !ferror(f); i++) {
        fprintf(f, "%s\t", l->given[i]);
        int ng = 0;
        for (; ng < 3 && l->geno[3 * i + ng] >= 0; ng++)
            fprintf(f, "%s%s", ng ? "," : "", cg_graph_node_name(g, CG_GENE, l->geno[3 * i + ng]));
        /* fitness always; epsilon for a pair and tau for a triple, NA where it is not defined */
        for (int k = 0; k < CG_NUM_LABELS; k++) {
            if (k == CG_LABEL_FITNESS || k == cg_interaction_label(ng))
                fprintf(f, "\t%.4f", pred[i * CG_NUM_LABELS + k] * info->label_std[k] + info->label_mean[k]);
            else
                fprintf(f, "\tNA");
        }
        fputc('\n', f);
    }
    if (fflush(f) != 0 || ferror(f))
        return cg_error(CG_ERR_IO, "%s: write failed: %s", name, strerror(errno ? errno : EIO));
    return CG_OK;
}

/* writes the predictions to path through path.tmp.<pid>, renamed over path once complete and on disk */
static cg_status write_output(const char *path, const genotype_list *l, const cg_graph *g, const float *pred,
                              const cg_checkpoint_info *info) {
    char tmp[4300];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return cg_error(CG_ERR_INVALID_ARG, "%s: output path too long", path);
    /* O_NOFOLLOW: never write through a symlink left at the temporary name */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) return cg_error(CG_ERR_IO, "%s: cannot create temporary file '%s': %s", path, tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return cg_error(CG_ERR_IO, "%s: cannot write: %s", tmp, strerror(e));
    }
    errno = 0;
    cg_status s = write_predictions(f, tmp, l, g, pred, info);
    if (s == CG_OK && fsync(fileno(f)) != 0) s = cg_error(CG_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && s == CG_OK) s = cg_error(CG_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (s == CG_OK && rename(tmp, path) != 0)
        s = cg_error(CG_ERR_IO, "%s: cannot rename '%s' to it: %s", path, tmp, strerror(errno));
    if (s != CG_OK) {
        unlink(tmp);
        return s;
    }
    cg_remove_stale_temps(path);
    return CG_OK;
}

enum { OPT_CHECKPOINT = 256, OPT_DATA, OPT_INPUT, OPT_PERTURBATION };

int cmd_predict(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *input = NULL, *output = NULL, *perturbation = NULL;
    char *names[3];
    int n_names = 0; /* every name of the command line, counted; the first 3 kept */
    static const struct option LONG[] = {{"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
                                         {"data", required_argument, NULL, OPT_DATA},
                                         {"input", required_argument, NULL, OPT_INPUT},
                                         {"output", required_argument, NULL, 'o'},
                                         {"perturbation", required_argument, NULL, OPT_PERTURBATION},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    cli_opts o;
    cli_opts_init(&o, "predict", argc, argv, "ho:", LONG);
    for (int c; (c = cli_opts_next(&o)) != CLI_DONE;) {
        switch (c) {
        case OPT_CHECKPOINT: ckpt = o.arg; break;
        case OPT_DATA: data = o.arg; break;
        case OPT_INPUT: input = o.arg; break;
        case 'o': output = o.arg; break;
        case OPT_PERTURBATION: perturbation = o.arg; break;
        case 'h': return CLI_HELP;
        case CLI_ARG: /* gene names, before, between or after the options, or after `--` */
            /* "CYS3 TFC3", "CYS3,TFC3" and CYS3 TFC3 alike; split in place (o.arg is argv's own string) */
            split_names((char *)o.arg, names, &n_names);
            break;
        default: return 2;
        }
    }
    if (!ckpt || (!input && n_names == 0) || (input && n_names > 0)) {
        fprintf(stderr, "usage: cellgraph predict --checkpoint F GENE [GENE ...]\n"
                        "       cellgraph predict --checkpoint F --input genotypes.tsv [-o predictions.tsv]\n");
        return 2;
    }
    cg_perturbation_choice pc = CG_PERTURB_AUTO;
    if (!cli_perturbation("predict", perturbation, &pc)) return 2;
    cg_checkpoint_info info;
    cg_graph *g;
    cg_dataset unused;
    cg_model m;
    if (cli_open_checkpoint(ckpt, data, &info, &g, &unused, false, &m)) return 1;
    cg_perturbation_path mode;
    if (cg_model_resolve_path(&m.cfg, perturbation ? pc : info.train.perturbation, false, &mode) != CG_OK) {
        cg_model_free(&m);
        cg_graph_free(g);
        return cli_fail();
    }
    cg_genes *genes = NULL;
    genotype_list list = {0};
    float *pred = NULL;
    cg_graph_index hg;
    bool hg_ok = false, ctx_ok = false;
    cg_ctx ctx;
    cg_status s = cg_graph_genes(g, &genes);
    if (s == CG_OK)
        s = input ? read_genotypes(input, genes, &list) : list_add(&list, genes, names, n_names, "command line");
    if (s == CG_OK && (s = cg_graph_index_init(&hg, g)) == CG_OK) hg_ok = true;
    if (s == CG_OK && (s = cg_ctx_init(&ctx, 0, 1)) == CG_OK) ctx_ok = true;
    if (s == CG_OK && !(pred = malloc((size_t)list.n * CG_NUM_LABELS * sizeof *pred)))
        s = cg_error(CG_ERR_NOMEM, "out of memory for %lld predictions", (long long)list.n);
    cli_progress_state prog;
    cli_progress_init(&prog, "predicting");
    if (s == CG_OK) s = cg_model_predict_progress(&ctx, &m, &hg, list.geno, list.n, 32, mode, pred, cli_progress, &prog);
    if (s == CG_OK && output) {
        s = write_output(output, &list, g, pred, &info);
        if (s == CG_OK) printf("wrote %lld predictions to %s\n", (long long)list.n, output);
    } else if (s == CG_OK) {
        errno = 0;
        s = write_predictions(stdout, "standard output", &list, g, pred, &info);
    }
    if (s != CG_OK) cli_fail();
    if (ctx_ok) cg_ctx_free(&ctx);
    if (hg_ok) cg_graph_index_free(&hg);
    free(pred);
    list_free(&list);
    cg_genes_free(genes);
    cg_model_free(&m);
    cg_graph_free(g);
    return s == CG_OK ? 0 : 1;
}
