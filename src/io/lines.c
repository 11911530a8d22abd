#include "cellgraph/lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

cg_status cg_lines_open(cg_lines *r, const char *path) {
    memset(r, 0, sizeof *r);
    struct stat sb;
    if (stat(path, &sb) != 0) return cg_error(CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return cg_error(CG_ERR_IO, "%s: cannot open: is a directory", path);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return cg_error(CG_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(gz, 1 << 17);
    r->gz = gz;
    r->path = strdup(path);
    r->cap = 1 << 12;
    r->buf = malloc(r->cap);
    if (!r->path || !r->buf) {
        cg_lines_close(r);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    }
    return CG_OK;
}

int cg_lines_next(cg_lines *r, char **line, size_t *len) {
    gzFile gz = r->gz;
    size_t n = 0;
    for (;;) {
        if (r->cap - n < 2) {
            size_t cap = r->cap * 2;
            char *nb = realloc(r->buf, cap);
            if (!nb) {
                cg_error(CG_ERR_NOMEM, "%s: line %lld: out of memory", r->path, (long long)r->lineno + 1);
                return -1;
            }
            r->buf = nb;
            r->cap = cap;
        }
        if (!gzgets(gz, r->buf + n, (int)(r->cap - n > INT32_MAX ? INT32_MAX : r->cap - n))) {
            int err = Z_OK;
            const char *msg = gzerror(gz, &err);
            if (err != Z_OK && err != Z_STREAM_END) {
                if (err == Z_ERRNO)
                    cg_error(CG_ERR_IO, "%s: line %lld: read error: %s", r->path, (long long)r->lineno + 1,
                             strerror(errno));
                else
                    cg_error(CG_ERR_FORMAT, "%s: line %lld: truncated or corrupt gzip data (%s)", r->path,
                             (long long)r->lineno + 1, msg);
                return -1;
            }
            if (n == 0) return 0; /* clean end of file */
            break;                /* last line without a newline */
        }
        n += strlen(r->buf + n);
        if (n > 0 && r->buf[n - 1] == '\n') break;
        if (n + 1 < r->cap) {
            /* gzgets stopped with room left and no newline: end of file, or a NUL byte in the line */
            if (gzeof(gz)) break;
            cg_error(CG_ERR_FORMAT, "%s: line %lld: contains a NUL byte (binary data?)", r->path,
                     (long long)r->lineno + 1);
            return -1;
        }
        /* buffer full: grow and read the rest of the line */
    }
    /* a truncated .gz may only be reported once the data runs out */
    {
        int err = Z_OK;
        const char *msg = gzerror(gz, &err);
        if (err != Z_OK && err != Z_STREAM_END) {
            cg_error(CG_ERR_FORMAT, "%s: line %lld: truncated or corrupt gzip data (%s)", r->path,
                     (long long)r->lineno + 1, msg);
            return -1;
        }
    }
    while (n > 0 && (r->buf[n - 1] == '\n' || r->buf[n - 1] == '\r')) r->buf[--n] = '\0';
    r->lineno++;
    *line = r->buf;
    *len = n;
    return 1;
}

void cg_lines_close(cg_lines *r) {
    if (r->gz) gzclose(r->gz);
    free(r->path);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

int cg_split_fields(char *line, char sep, char **fields, int max) {
    int n = 0;
    char *p = line;
    fields[n++] = p;
    while (n < max && (p = strchr(p, sep)) != NULL) {
        *p++ = '\0';
        fields[n++] = p;
    }
    return n;
}

char *cg_strip(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}
