#include "cellgraph/lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* bytes decompressed per gzread */
#define LINES_CHUNK (1 << 16)

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
    r->in = malloc(LINES_CHUNK);
    if (!r->path || !r->buf || !r->in) {
        cg_lines_close(r);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    }
    return CG_OK;
}

/* the error zlib has recorded for gz (a damaged .gz, a read error), as a cg_error; 0 when none */
static int gz_failed(cg_lines *r) {
    int err = Z_OK;
    const char *msg = gzerror(r->gz, &err);
    if (err == Z_OK || err == Z_STREAM_END) return 0;
    if (err == Z_ERRNO)
        cg_error(CG_ERR_IO, "%s: line %lld: read error: %s", r->path, (long long)r->lineno + 1, strerror(errno));
    else
        cg_error(CG_ERR_FORMAT, "%s: line %lld: truncated or corrupt gzip data (%s)", r->path,
                 (long long)r->lineno + 1, msg);
    return 1;
}

/* Lines are cut from a read-ahead buffer filled with gzread (not gzgets, whose result cannot tell a NUL
 * byte in the line from its end), so every byte of a line is seen: a NUL byte anywhere is an error. */
int cg_lines_next(cg_lines *r, char **line, size_t *len) {
    size_t n = 0;
    for (;;) {
        if (r->in_pos == r->in_len) {
            if (r->eof) break;
            int got = gzread(r->gz, r->in, LINES_CHUNK);
            if (gz_failed(r)) return -1;
            if (got < 0) {
                cg_error(CG_ERR_IO, "%s: line %lld: read error", r->path, (long long)r->lineno + 1);
                return -1;
            }
            if (got == 0) {
                r->eof = 1;
                break;
            }
            r->in_pos = 0;
            r->in_len = (size_t)got;
        }
        const char *p = r->in + r->in_pos;
        size_t avail = r->in_len - r->in_pos;
        const char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) + 1 : avail;
        if (r->cap - n < take + 1) {
            size_t cap = r->cap;
            while (cap - n < take + 1) cap *= 2;
            char *nb = realloc(r->buf, cap);
            if (!nb) {
                cg_error(CG_ERR_NOMEM, "%s: line %lld: out of memory", r->path, (long long)r->lineno + 1);
                return -1;
            }
            r->buf = nb;
            r->cap = cap;
        }
        memcpy(r->buf + n, p, take);
        n += take;
        r->in_pos += take;
        if (nl) break;
    }
    if (n == 0) return 0; /* clean end of file */
    r->buf[n] = '\0';
    if (memchr(r->buf, '\0', n)) {
        cg_error(CG_ERR_FORMAT, "%s: line %lld: contains a NUL byte (binary data?)", r->path, (long long)r->lineno + 1);
        return -1;
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
    free(r->in);
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
