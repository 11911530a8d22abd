/* libFuzzer harness: safetensors files, through the three readers that open them.
 *   cg_safetensors_open (header validation), then every tensor's info, cg_safetensors_get_tensor and a
 *   read of its bytes, and every metadata entry;
 *   cg_graph_load (the graph file: string tables, CSR, reaction tables checked before use);
 *   cg_checkpoint_info_read (a checkpoint's metadata: model and training configs, label statistics,
 *   progress values). */
#include "cellgraph/graph.h"
#include "cellgraph/safetensors.h"
#include "cellgraph/trainer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd < 0) return 0;

    cg_safetensors *st = NULL;
    if (cg_safetensors_open(path, &st) == CG_OK) {
        unsigned char sum = 0;
        int n = cg_safetensors_count(st);
        for (int i = 0; i < n; i++) {
            cg_safetensors_info info;
            if (cg_safetensors_info_at(st, i, &info) != CG_OK) abort();
            const unsigned char *b = info.data;
            for (uint64_t k = 0; k < info.nbytes; k++) sum ^= b[k];
            cg_safetensors_info again;
            if (cg_safetensors_find(st, info.name, &again) != CG_OK || again.offset != info.offset) abort();
            cg_tensor t;
            if (cg_safetensors_get_tensor(st, info.name, &t) == CG_OK && info.nbytes) sum ^= *(const unsigned char *)t.data;
        }
        int m = cg_safetensors_metadata_count(st);
        for (int i = 0; i < m; i++) {
            const char *k, *v;
            if (cg_safetensors_metadata_at(st, i, &k, &v) != CG_OK) abort();
            if (cg_safetensors_metadata(st, k) == NULL) abort();
            sum ^= (unsigned char)strlen(v);
        }
        cg_safetensors_close(st);
        volatile unsigned char sink = sum; /* keeps the reads */
        (void)sink;
    }
    cg_clear_error();

    cg_graph *g = NULL;
    if (cg_graph_load(path, &g) == CG_OK) cg_graph_free(g);
    cg_clear_error();

    cg_checkpoint_info info;
    (void)cg_checkpoint_info_read(path, &info);
    cg_clear_error();

    close(fd);
    return 0;
}
