/* Shared pieces of the command-line tool (tools/cli.h): the helpers every command uses. Only main and the
 * usage tables live in tools/cellgraph.c; the commands (tools/cmd_*.c) call nothing there. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cellgraph/error.h"
#include "cellgraph/trainer.h"
#include "cli.h"

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

bool cli_option(int argc, char **argv, int *i, const char *name, const char **value, bool *bad) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0') return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "cellgraph: option %s needs a value\n", name);
        *bad = true;
        return true;
    }
    *value = argv[++*i];
    return true;
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
