/* cellgraph/lines.h: a line reader for plain or gzip-compressed text files (zlib's gzread reads both),
 * with the file name and line number kept for error messages, and lines of any length.
 *
 *   cg_lines r;
 *   if (cg_lines_open(&r, path) != CG_OK) return cg_last_status();
 *   char *line; size_t len; int rc;
 *   while ((rc = cg_lines_next(&r, &line, &len)) > 0) { ... r.lineno is the 1-based line number ... }
 *   cg_lines_close(&r);
 *   if (rc < 0) return cg_last_status();
 */
#ifndef CELLGRAPH_LINES_H
#define CELLGRAPH_LINES_H

#include <stddef.h>
#include <stdint.h>

#include "cellgraph/error.h"

typedef struct cg_lines {
    void *gz;         /* gzFile */
    char *path;       /* copy of the path, for messages */
    char *buf;        /* current line (NUL-terminated, without the newline or a trailing CR) */
    size_t cap;
    int64_t lineno;   /* 1-based number of the line last returned (0 before the first) */
    char *in;         /* read-ahead: decompressed bytes in[in_pos .. in_len) not returned yet */
    size_t in_pos, in_len;
    int eof;          /* the file has no more bytes */
} cg_lines;

/* Opens path for reading. Errors: CG_ERR_IO naming the path with strerror text (missing file,
 * permission, a directory), CG_ERR_NOMEM. */
cg_status cg_lines_open(cg_lines *r, const char *path);

/* Reads the next line into *line (valid until the next call; the caller may modify it in place) and its
 * length into *len. Returns 1 for a line, 0 at the end of the file, -1 on error with the status set:
 * CG_ERR_FORMAT "<path>: line N: truncated or corrupt gzip data (...)" for a damaged .gz,
 * CG_ERR_FORMAT for a NUL byte anywhere in a line (binary data; the last line too, with or without its
 * newline), CG_ERR_IO for a read error, CG_ERR_NOMEM. */
int cg_lines_next(cg_lines *r, char **line, size_t *len);

/* Closes the file and frees the buffers. Safe to call twice. */
void cg_lines_close(cg_lines *r);

/* Splits line in place at every sep into at most max fields (the last field keeps any remaining
 * separators); fields[k] point into line. Returns the number of fields (>= 1). */
int cg_split_fields(char *line, char sep, char **fields, int max);

/* Removes leading and trailing spaces, tabs, CR and LF in place; returns s. */
char *cg_strip(char *s);

#endif
