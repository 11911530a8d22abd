/* Shared pieces of the command-line tool (tools/cli.h): option parsing (getopt_long), strict numbers, and
 * the helpers every command uses. Only main and the usage tables live in tools/cellgraph.c; the commands
 * (tools/cmd_*.c) call nothing there. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cellgraph/error.h"
#include "cellgraph/trainer.h"
#include "cli.h"

/* ------------------------------------------------------------------ options */

/* "cellgraph CMD: " (or "cellgraph: ") then the message, on stderr */
static void say(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cellgraph%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* " (see cellgraph CMD --help)" */
static const char *see_help(const char *cmd, char *buf, size_t len) {
    snprintf(buf, len, " (see cellgraph%s%s --help)", cmd ? " " : "", cmd ? cmd : "");
    return buf;
}

void cli_opts_init(cli_opts *o, const char *cmd, int argc, char **argv, const char *shortopts,
                   const struct option *longopts) {
    memset(o, 0, sizeof *o);
    o->cmd = cmd;
    o->argc = argc;
    o->argv = argv;
    o->longopts = longopts;
    /* '-': positional arguments come back in order as 1 (argv is never permuted, whatever POSIXLY_CORRECT
     * says); ':': a missing value gives ':' rather than '?' */
    snprintf(o->shortopts, sizeof o->shortopts, "-:%s", shortopts ? shortopts : "");
    optind = 0; /* 0, not 1: glibc then forgets everything of the previous parse */
    opterr = 0; /* the messages are ours, naming the command */
    o->next = 1;
}

/* the long option whose val is `val`, or NULL */
static const struct option *long_by_val(const cli_opts *o, int val) {
    for (const struct option *l = o->longopts; l && l->name; l++)
        if (l->val == val && !l->flag) return l;
    return NULL;
}

/* Prints the error of getopt's ':' (missing value) or '?' (unknown, ambiguous, a value for an option that
 * takes none) and returns CLI_BAD. */
static int bad_option(const cli_opts *o, int c) {
    const char *given = o->next >= 1 && o->next <= o->argc ? o->argv[o->next - 1] : "";
    const bool is_long = strncmp(given, "--", 2) == 0;
    const struct option *l = optopt ? long_by_val(o, optopt) : NULL;
    char name[128], help[128];
    see_help(o->cmd, help, sizeof help);
    /* the option as the user wrote it, without its value */
    if (is_long) snprintf(name, sizeof name, "%.*s", (int)strcspn(given, "="), given);
    else snprintf(name, sizeof name, "-%c", isprint(optopt) ? optopt : '?');
    if (c == ':') {
        if (is_long && l) snprintf(name, sizeof name, "--%s", l->name);
        say(o->cmd, "option '%s' needs a value%s", name, help);
    } else if (is_long && optopt && l) {
        say(o->cmd, "option '--%s' takes no value, got '%s'%s", l->name, given, help);
    } else if (is_long) {
        /* unknown, or an abbreviation of several options */
        char matches[512] = "";
        int n = 0;
        const size_t len = strlen(name + 2);
        for (const struct option *m = o->longopts; m && m->name && len > 0; m++)
            if (strncmp(m->name, name + 2, len) == 0) {
                size_t k = strlen(matches);
                snprintf(matches + k, sizeof matches - k, "%s--%s", n++ ? ", " : "", m->name);
            }
        if (n > 1) say(o->cmd, "option '%s' is ambiguous: %s%s", name, matches, help);
        else say(o->cmd, "unknown option '%s'%s", name, help);
    } else {
        say(o->cmd, "unknown option '%s'%s", name, help);
    }
    return CLI_BAD;
}

int cli_opts_next(cli_opts *o) {
    o->arg = NULL;
    if (!o->ended) {
        const int c = getopt_long(o->argc, o->argv, o->shortopts, o->longopts, NULL);
        o->next = optind;
        if (c != -1) {
            if (c == ':' || c == '?') return bad_option(o, c);
            o->arg = optarg;
            /* "-o=FILE" was read as FILE before getopt; it still is */
            if (c != CLI_ARG && o->arg && c < 256 && o->next >= 1) {
                const char *given = o->argv[o->next - 1];
                if (given[0] == '-' && given[1] == c && given[2] == '=' && o->arg == given + 2) o->arg = given + 3;
            }
            return c;
        }
        o->ended = true; /* the end, or "--": optind is past it */
    }
    if (o->next < o->argc) {
        o->arg = o->argv[o->next++];
        return CLI_ARG;
    }
    return CLI_DONE;
}

int cli_unexpected(const cli_opts *o) {
    char help[128];
    say(o->cmd, "unexpected argument '%s'%s", o->arg ? o->arg : "", see_help(o->cmd, help, sizeof help));
    return 2;
}

/* ------------------------------------------------------------------ numbers */

bool cli_parse_int(const char *cmd, const char *option, const char *text, int64_t min, int64_t max, int64_t *out) {
    const char *p = text ? text : "";
    if (*p == '+' || *p == '-') p++;
    bool ok = isdigit((unsigned char)*p);
    for (; ok && *p; p++) ok = isdigit((unsigned char)*p);
    long long v = 0;
    if (ok) {
        errno = 0;
        char *end = NULL;
        v = strtoll(text, &end, 10);
        ok = errno == 0 && *end == '\0' && v >= min && v <= max;
    }
    if (!ok) {
        say(cmd, "%s needs an integer in [%lld, %lld], got '%s'", option, (long long)min, (long long)max,
            text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *option, const char *text, double min, double max, double *out) {
    const char *p = text ? text : "";
    bool ok = *p != '\0', digit = false;
    /* decimal notation only: strtod alone would also take "nan", "inf", "0x1p3" and leading blanks */
    for (; ok && *p; p++) {
        digit |= isdigit((unsigned char)*p) != 0;
        ok = isdigit((unsigned char)*p) || strchr("+-.eE", *p);
    }
    double v = 0;
    if (ok && digit) {
        errno = 0;
        char *end = NULL;
        v = strtod(text, &end);
        ok = errno == 0 && *end == '\0' && isfinite(v) && v >= min && v <= max;
    } else {
        ok = false;
    }
    if (!ok) {
        say(cmd, "%s needs a number in [%.15g, %.15g], got '%s'", option, min, max, text ? text : "");
        return false;
    }
    *out = v;
    return true;
}

/* ------------------------------------------------------------------ helpers */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

bool cli_perturbation(const char *cmd, const char *value, cg_perturbation_choice *out) {
    if (!value || cg_perturbation_parse(value, out)) return true;
    fprintf(stderr, "cellgraph %s: --perturbation must be auto, incremental or full, got '%s'\n", cmd, value);
    return false;
}

int cli_fail(void) {
    fprintf(stderr, "cellgraph: %s\n", cg_last_error());
    return 1;
}

const char *cli_default_graph_path(void) {
    const char *p = getenv("CELLGRAPH_GRAPH");
    return p && *p ? p : "graph.safetensors";
}

const char *cli_default_dataset_path(void) {
    const char *p = getenv("CELLGRAPH_DATASET");
    return p && *p ? p : "dataset.safetensors";
}

/* model + graph + dataset for a checkpoint, with the checksums verified */
int cli_open_checkpoint(const char *ckpt, const char *data, cg_checkpoint_info *info, cg_graph **g, cg_dataset *d,
                        bool need_dataset, cg_model *m) {
    if (cg_checkpoint_info_read(ckpt, info) != CG_OK) return cli_fail();
    if (cli_load_graph_for(data, info->model.type->needs_relations, g, d, need_dataset, false) != CG_OK) return cli_fail();
    if (cg_graph_checksum(*g) != info->graph_checksum) {
        cg_error(CG_ERR_FORMAT, "%s: the checkpoint was trained on another graph (checksum %08x, this data's graph %08x)",
                 ckpt, info->graph_checksum, cg_graph_checksum(*g));
        if (need_dataset) cg_dataset_free(d);
        cg_graph_free(*g);
        return cli_fail();
    }
    if (cg_model_init(m, &info->model, *g) != CG_OK) {
        if (need_dataset) cg_dataset_free(d);
        cg_graph_free(*g);
        return cli_fail();
    }
    if (cg_checkpoint_load_params(ckpt, m) != CG_OK) {
        cg_model_free(m);
        if (need_dataset) cg_dataset_free(d);
        cg_graph_free(*g);
        return cli_fail();
    }
    return 0;
}
