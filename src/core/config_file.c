/* Strict reading of config files and JSON objects (src/core/config_file.h). */
#include "core/config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cg_status cg_config_file_read(const char *path, char **text) {
    *text = NULL;
    /* non-blocking, so that a named pipe without a writer is refused instead of waited for */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return cg_error(CG_ERR_IO, "%s: cannot open the config: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const char *what = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a named pipe" : "not a regular file";
        close(fd);
        return cg_error(CG_ERR_IO, "%s: is %s, not a config file", path, what);
    }
    if (st.st_size > CG_CONFIG_MAX_BYTES) {
        close(fd);
        return cg_error(CG_ERR_FORMAT, "%s: config of %lld bytes, the largest read is %d", path, (long long)st.st_size,
                        CG_CONFIG_MAX_BYTES);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n != (size_t)st.st_size) {
        free(buf);
        return cg_error(CG_ERR_IO, "%s: read %zu of %lld bytes", path, n, (long long)st.st_size);
    }
    buf[n] = '\0';
    const size_t len = strlen(buf);
    if (len != n) {
        free(buf);
        return cg_error(CG_ERR_FORMAT, "%s: a NUL byte at offset %zu: not a text file", path, len);
    }
    *text = buf;
    return CG_OK;
}

/* the first key given twice in any object under o (depth first), or NULL */
static const char *duplicate_key(const cJSON *o) {
    for (const cJSON *a = o ? o->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(o) && a->string)
            for (const cJSON *b = o->child; b != a; b = b->next)
                if (b->string && strcmp(a->string, b->string) == 0) return a->string;
        const char *d = duplicate_key(a);
        if (d) return d;
    }
    return NULL;
}

cg_status cg_json_object_parse(const char *json, const char *name, cJSON **root) {
    *root = NULL;
    if (!json) json = "";
    const char *end = NULL;
    cJSON *r = cJSON_ParseWithOpts(json, &end, 1);
    if (!r) {
        /* where parsing stopped: line and column (1-based) */
        const char *at = end && end >= json ? end : json;
        int line = 1, col = 1;
        for (const char *p = json; p < at && *p; p++) {
            if (*p == '\n') line++, col = 1;
            else col++;
        }
        const char *q = json;
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
        if (!*q) return cg_error(CG_ERR_FORMAT, "%s: empty, expected a JSON object", name);
        return cg_error(CG_ERR_FORMAT, "%s: line %d, column %d: not valid JSON (or text after the object)", name, line, col);
    }
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        return cg_error(CG_ERR_FORMAT, "%s: not a JSON object", name);
    }
    const char *dup = duplicate_key(r);
    if (dup) {
        cg_status s = cg_error(CG_ERR_FORMAT, "%s: key '%s' given twice", name, dup);
        cJSON_Delete(r);
        return s;
    }
    *root = r;
    return CG_OK;
}
