/* Reading config files and JSON text strictly: the one reader behind every config parser and loader
 * (model configs, the training settings, checkpoints' metadata). Internal to the library. */
#ifndef CELLGRAPH_CORE_CONFIG_FILE_H
#define CELLGRAPH_CORE_CONFIG_FILE_H

#include <cjson/cJSON.h>

#include "cellgraph/error.h"

/* The largest config file read (bytes). */
#define CG_CONFIG_MAX_BYTES (1 << 20)

/* The whole text of the config file at path, NUL-terminated, in *text (malloc'd; free with free()).
 * Errors: CG_ERR_IO (cannot open or read it; a directory, pipe or device is named as such),
 * CG_ERR_FORMAT (larger than CG_CONFIG_MAX_BYTES, or a NUL byte inside: not a text file), CG_ERR_NOMEM. */
cg_status cg_config_file_read(const char *path, char **text);

/* JSON text that must be one object and nothing else: *root receives it (free with cJSON_Delete).
 * Errors (CG_ERR_FORMAT, naming `name` and, for a syntax error or trailing text, the line and column):
 * not valid JSON, trailing text after the object, not an object, a key given twice in any object (cJSON
 * would keep the first silently). NULL json is read as empty text. */
cg_status cg_json_object_parse(const char *json, const char *name, cJSON **root);

#endif
