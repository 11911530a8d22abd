/* Tests for the line reader (include/cellgraph/lines.h): lines of any length, CR LF, a last line without
 * its newline, plain and gzip alike; a NUL byte anywhere in a line is an error naming the file and the line
 * (found by fuzz/fuzz_lines: a NUL in a last line without newline ended the line there silently, and the
 * bytes after it were lost); a truncated .gz is an error. */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cellgraph/lines.h"

static void write_bytes(const char *path, const char *data, size_t n, bool gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (n) assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (n) assert_int_equal(fwrite(data, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

/* reads every line of path, joined by '|' into out; returns the last cg_lines_next result (0 or -1) */
static int read_all(const char *path, char *out, size_t cap, int64_t *lines) {
    cg_lines r;
    assert_int_equal(cg_lines_open(&r, path), CG_OK);
    char *line;
    size_t len;
    int rc;
    out[0] = '\0';
    while ((rc = cg_lines_next(&r, &line, &len)) > 0) {
        assert_int_equal(strlen(line), len);
        if (strlen(out) + len + 2 < cap) strcat(strcat(out, out[0] ? "|" : ""), line);
    }
    *lines = r.lineno;
    cg_lines_close(&r);
    return rc;
}

static void test_lines(void **state) {
    (void)state;
    char path[512], out[4096];
    int64_t n;
    for (int gz = 0; gz < 2; gz++) {
        tu_temp_path(path, sizeof path, gz ? "lines.txt.gz" : "lines.txt");
        const char text[] = "a\tb\r\n\nthird\r\r\nlast";
        write_bytes(path, text, sizeof text - 1, gz);
        assert_int_equal(read_all(path, out, sizeof out, &n), 0);
        assert_string_equal(out, "a\tb||third|last");
        assert_int_equal(n, 4);
        /* a line longer than the read-ahead buffer and than the first line buffer */
        size_t big = 200000;
        char *t = malloc(big + 3);
        assert_non_null(t);
        memset(t, 'x', big);
        memcpy(t + big, "\ny", 3);
        write_bytes(path, t, big + 2, gz);
        cg_lines r;
        assert_int_equal(cg_lines_open(&r, path), CG_OK);
        char *line;
        size_t len;
        assert_int_equal(cg_lines_next(&r, &line, &len), 1);
        assert_int_equal(len, big);
        assert_int_equal(cg_lines_next(&r, &line, &len), 1);
        assert_string_equal(line, "y");
        assert_int_equal(cg_lines_next(&r, &line, &len), 0);
        cg_lines_close(&r);
        free(t);
        remove(path);
    }
}

static void test_nul_bytes(void **state) {
    (void)state;
    char path[512], out[256];
    int64_t n;
    /* a NUL in the middle line, in a last line without its newline (the fuzzer's case), as the last byte */
    static const struct {
        const char *text;
        size_t len;
        int64_t bad_line;
    } cases[] = {{"one\ntw\0o\nthree\n", 15, 2}, {"one\nab\0cd", 9, 2}, {"one\ntwo\0", 8, 2}, {"\0", 1, 1}};
    for (int gz = 0; gz < 2; gz++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            tu_temp_path(path, sizeof path, gz ? "nul.txt.gz" : "nul.txt");
            write_bytes(path, cases[c].text, cases[c].len, gz);
            assert_int_equal(read_all(path, out, sizeof out, &n), -1);
            assert_int_equal(cg_last_status(), CG_ERR_FORMAT);
            char want[64];
            snprintf(want, sizeof want, "line %lld: contains a NUL byte", (long long)cases[c].bad_line);
            if (!strstr(cg_last_error(), want) || !strstr(cg_last_error(), path))
                fail_msg("case %zu (gzip %d): %s", c, gz, cg_last_error());
            remove(path);
        }
}

static void test_truncated_gzip(void **state) {
    (void)state;
    char path[512], out[256];
    int64_t n;
    tu_temp_path(path, sizeof path, "cut.txt.gz");
    char text[4096];
    size_t off = 0;
    for (int i = 0; i < 400; i++) off += (size_t)snprintf(text + off, sizeof text - off, "line %d\n", i);
    write_bytes(path, text, strlen(text), true);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char buf[8192];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(path, (const char *)buf, got - 12, false); /* the trailer and some data cut off */
    assert_int_equal(read_all(path, out, sizeof out, &n), -1);
    assert_int_equal(cg_last_status(), CG_ERR_FORMAT);
    if (!strstr(cg_last_error(), "truncated or corrupt gzip data")) fail_msg("%s", cg_last_error());
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_truncated_gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
