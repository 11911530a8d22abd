/* libFuzzer harness: JSON config text, through every config parser.
 *   cg_json_object_parse (the strict reader behind all of them: one object, no trailing text, no key
 *   twice); cg_train_config_parse; cg_model_config_parse (the "model" key chooses the type through the
 *   registry) and every registered type's own config_parse (hetero_cell, dango, additive, ...) from its
 *   defaults; cg_config_file_read, cg_train_config_load and cg_model_config_load on the bytes as a file.
 * A config that parses is printed back (config_json) and must parse again: a checkpoint stores its config
 * that way. */
#include "cellgraph/model.h"
#include "cellgraph/trainer.h"
#include "core/config_file.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > CG_CONFIG_MAX_BYTES + 16) return 0;
    char *text = fuzz_text(data, size);
    if (!text) return 0;

    cJSON *root = NULL;
    if (cg_json_object_parse(text, "fuzz.json", &root) == CG_OK) cJSON_Delete(root);
    cg_clear_error();

    cg_train_config tc = cg_train_defaults();
    if (cg_train_config_parse(text, "fuzz.json", &tc) == CG_OK) {
        char *json = cg_train_config_json(&tc);
        if (json) {
            cg_train_config back = cg_train_defaults();
            if (cg_train_config_parse(json, "printed", &back) != CG_OK) {
                fprintf(stderr, "train config printed as\n%s\ndoes not parse: %s\n", json, cg_last_error());
                abort();
            }
            free(json);
        }
    }
    cg_clear_error();

    cg_model_config mc;
    if (cg_model_config_parse(text, "fuzz.json", &mc) == CG_OK) {
        char *json = cg_model_config_json(&mc);
        if (json) {
            cg_model_config back;
            if (cg_model_config_parse(json, "printed", &back) != CG_OK) {
                fprintf(stderr, "model config printed as\n%s\ndoes not parse: %s\n", json, cg_last_error());
                abort();
            }
            free(json);
        }
    }
    cg_clear_error();

    int n_types = 0;
    const cg_model_type *const *types = cg_model_types(&n_types);
    for (int i = 0; i < n_types; i++) {
        cg_model_config_defaults(&mc, types[i]);
        (void)types[i]->config_parse(text, "fuzz.json", cg_model_config_data(&mc));
        cg_clear_error();
    }

    char path[64];
    int fd = fuzz_file(data, size, path);
    if (fd >= 0) {
        char *read_back = NULL;
        if (cg_config_file_read(path, &read_back) == CG_OK) {
            if (strcmp(read_back, text) != 0) abort(); /* only a NUL byte is refused, so the text is the input */
            free(read_back);
        }
        cg_clear_error();
        (void)cg_train_config_load(path, &tc);
        cg_clear_error();
        (void)cg_model_config_load(path, &mc);
        cg_clear_error();
        close(fd);
    }
    free(text);
    return 0;
}
