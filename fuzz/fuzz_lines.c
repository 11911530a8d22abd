/* libFuzzer harness: the line reader of every text source, cg_lines (src/io/lines.c: zlib's gzread, so
 * plain text and gzip alike, lines of any length). The first byte chooses the form of the rest:
 *   even: the bytes as they are (plain text, or damaged gzip data when they start with the gzip magic);
 *   odd:  the bytes gzip-compressed here with zlib (a valid .gz whose text is the input).
 * Every line returned must hold no NUL byte and end without its newline. Where the text is known (the
 * odd form, or bytes that do not start with the gzip magic): without a NUL byte the lines are the text's
 * lines (less newline and trailing CRs) and nothing is lost; with a NUL byte the reader reports an error.
 * cg_split_fields and cg_strip run on each line. */
#include <zlib.h>

#include "cellgraph/lines.h"
#include "fuzz_util.h"

/* data gzip-compressed (gzip header and trailer), malloc'd into *out; 0 on success */
static int gzip_bytes(const uint8_t *data, size_t size, uint8_t **out, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t cap = deflateBound(&z, (uLong)size) + 32;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    int gz = data[0] & 1;
    data++, size--;
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    if (gz && gzip_bytes(data, size, &packed, &packed_len) != 0) return 0;
    char path[64];
    int fd = gz ? fuzz_file(packed, packed_len, path) : fuzz_file(data, size, path);
    if (fd < 0) {
        free(packed);
        return 0;
    }
    /* the text the reader sees: the input, when gzip-compressed here or when it is not gzip data itself */
    int known = gz || size < 2 || data[0] != 0x1f || data[1] != 0x8b;
    int has_nul = memchr(data, 0, size) != NULL;
    cg_lines r;
    if (cg_lines_open(&r, path) == CG_OK) {
        char *line;
        size_t len;
        int rc;
        size_t pos = 0; /* where in the text the next line starts */
        while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
            if (strlen(line) != len) abort();
            if (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) abort();
            if (memchr(line, '\n', len)) abort();
            if (known && !has_nul) { /* the text's next line, less its newline and trailing CRs */
                const uint8_t *nl = memchr(data + pos, '\n', size - pos);
                size_t end = nl ? (size_t)(nl - data) : size, raw = end - pos;
                while (raw > 0 && data[pos + raw - 1] == '\r') raw--;
                if (raw != len || memcmp(data + pos, line, len) != 0) abort();
                pos = nl ? end + 1 : size;
            }
            char *fields[8];
            int nf = cg_split_fields(line, '\t', fields, 8);
            if (nf < 1 || nf > 8) abort();
            (void)cg_strip(fields[nf - 1]);
        }
        if (known && !has_nul && (rc != 0 || pos != size)) abort(); /* all of the text, no error */
        if (known && has_nul && rc >= 0) abort();                  /* a NUL byte in the text is an error */
        cg_lines_close(&r);
    }
    cg_clear_error();
    close(fd);
    free(packed);
    return 0;
}
