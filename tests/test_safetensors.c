/* Tests for the safetensors reader and writer (include/cellgraph/safetensors.h). */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cellgraph/safetensors.h"

/* ---------------------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------------------- */

/* Fails the test unless msg contains sub (sub NULL: no check). */
static void check_contains(const char *msg, const char *sub) {
    if (sub && !strstr(msg, sub)) {
        print_error("message \"%s\" does not contain \"%s\"\n", msg, sub);
        fail();
    }
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Reads a whole file (malloc'd, NUL-terminated for convenience); size in *n. */
static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long sz = ftell(f);
    assert_true(sz >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)sz + 1);
    assert_non_null(buf);
    if (sz) assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    buf[sz] = 0;
    fclose(f);
    *n = (size_t)sz;
    return buf;
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Writes a safetensors file by hand: 8-byte length of header (hlen bytes), header, then dlen data bytes. */
static void write_raw(const char *path, const char *header, size_t hlen, const void *data, size_t dlen) {
    size_t n = 8 + hlen + dlen;
    unsigned char *buf = calloc(1, n);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (dlen) memcpy(buf + 8 + hlen, data, dlen);
    write_bytes(path, buf, n);
    free(buf);
}

/* Opens path expecting failure with status want and a message containing the path, sub1 and sub2. */
static void expect_open_error(const char *path, cg_status want, const char *sub1, const char *sub2) {
    cg_safetensors *st = (cg_safetensors *)&st; /* must be reset to NULL */
    cg_clear_error();
    cg_status s = cg_safetensors_open(path, &st);
    if (s != want) print_error("open: status %s, want %s: %s\n", cg_status_name(s), cg_status_name(want), cg_last_error());
    assert_int_equal(s, want);
    assert_null(st);
    assert_int_equal(cg_last_status(), want);
    check_contains(cg_last_error(), path);
    check_contains(cg_last_error(), sub1);
    check_contains(cg_last_error(), sub2);
}

static bool file_exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static void tmp_name_of(char *buf, size_t len, const char *path) {
    snprintf(buf, len, "%s.tmp.%ld", path, (long)getpid());
}

/* ---------------------------------------------------------------------------------------------------
 * dtypes
 * ------------------------------------------------------------------------------------------------- */

static void test_dtypes(void **state) {
    (void)state;
    static const struct {
        const char *name;
        int size;
    } want[] = {{"F32", 4}, {"I32", 4}, {"I64", 8}, {"F64", 8}, {"U8", 1},  {"I8", 1},      {"BOOL", 1},
                {"F16", 2}, {"BF16", 2}, {"I16", 2}, {"U16", 2}, {"U32", 4}, {"U64", 8},     {"F8_E4M3", 1},
                {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cg_st_dtype d;
        assert_int_equal(cg_st_dtype_from_name(want[i].name, &d), CG_OK);
        assert_string_equal(cg_st_dtype_name(d), want[i].name);
        assert_int_equal(cg_st_dtype_size(d), want[i].size);
    }
    cg_st_dtype d = CG_ST_U8;
    assert_int_equal(cg_st_dtype_from_name("f32", &d), CG_ERR_NOT_FOUND);
    assert_int_equal(d, CG_ST_U8);
    assert_int_equal(cg_st_dtype_size(CG_ST_DTYPE_COUNT), 0);
    assert_string_equal(cg_st_dtype_name((cg_st_dtype)-1), "?");
    assert_int_equal(cg_st_dtype_of(CG_F32), CG_ST_F32);
    assert_int_equal(cg_st_dtype_of(CG_I32), CG_ST_I32);
}

/* ---------------------------------------------------------------------------------------------------
 * round trip
 * ------------------------------------------------------------------------------------------------- */

#define NT 6
static const char *rt_names[NT] = {"layers.0.weight", "layers.0.index", "block.conv", "emb.table4d", "empty",
                                   "scalar"};
static const cg_st_dtype rt_dtypes[NT] = {CG_ST_F32, CG_ST_I32, CG_ST_F32, CG_ST_I32, CG_ST_F32, CG_ST_F32};
static const int rt_ndim[NT] = {1, 2, 3, 4, 3, 0};
static const int64_t rt_shape[NT][4] = {{5}, {3, 4}, {2, 3, 4}, {2, 1, 3, 2}, {3, 0, 2}, {0}};
static const int64_t rt_numel[NT] = {5, 12, 24, 12, 0, 1};

static const char *md_keys[] = {"format", "quoted", "utf8", "multiline"};
static const char *md_values[] = {"pt", "say \"hi\" \\ back /", "na\xc3\xafve \xe2\x80\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\xa7\xac",
                                  "line1\nline2\ttab\r\x01"};

static void test_round_trip(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "roundtrip.safetensors");

    /* data: floats from the test generator, ints with a recognisable pattern */
    void *data[NT];
    for (int i = 0; i < NT; i++) {
        data[i] = malloc((size_t)(rt_numel[i] ? rt_numel[i] : 1) * 4);
        assert_non_null(data[i]);
        if (rt_dtypes[i] == CG_ST_F32) tu_fill_uniform(data[i], rt_numel[i], -3.f, 3.f, 100 + (uint64_t)i);
        else
            for (int64_t k = 0; k < rt_numel[i]; k++) ((int32_t *)data[i])[k] = (int32_t)(k * 7919 - 40000) * (i + 1);
    }

    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    for (int i = 0; i < NT; i++) {
        if (i == 2) {
            /* through the cg_tensor path, name taken from the tensor */
            cg_tensor t;
            memset(&t, 0, sizeof t);
            assert_int_equal(cg_tensor_set_shape(&t, CG_F32, rt_ndim[i], rt_shape[i]), CG_OK);
            t.data = data[i];
            t.name = rt_names[i];
            assert_int_equal(cg_safetensors_writer_add_tensor(&w, NULL, &t), CG_OK);
        } else {
            assert_int_equal(cg_safetensors_writer_add(&w, rt_names[i], rt_dtypes[i], rt_ndim[i], rt_shape[i], data[i]),
                             CG_OK);
        }
    }
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "format", "replaced below"), CG_OK);
    for (int i = 0; i < 4; i++) assert_int_equal(cg_safetensors_writer_set_metadata(&w, md_keys[i], md_values[i]), CG_OK);
    assert_int_equal(w.meta_count, 4);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);

    char tmp[600];
    tmp_name_of(tmp, sizeof tmp, path);
    assert_false(file_exists(tmp));

    /* the raw file: padded header, parseable by cJSON, contiguous offsets in the order added */
    size_t fsize;
    unsigned char *raw = read_all(path, &fsize);
    assert_true(fsize >= 8);
    uint64_t n = le64(raw);
    assert_int_equal(n % 8, 0);
    assert_true(8 + n <= fsize);
    cJSON *root = cJSON_ParseWithLength((const char *)raw + 8, (size_t)n);
    assert_non_null(root);
    assert_true(cJSON_IsObject(root));
    assert_string_equal(root->child->string, "__metadata__");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    for (int i = 0; i < 4; i++)
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(meta, md_keys[i])->valuestring, md_values[i]);
    uint64_t off = 0;
    int idx = 0;
    for (const cJSON *e = root->child->next; e; e = e->next, idx++) {
        assert_string_equal(e->string, rt_names[idx]);
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        assert_int_equal((uint64_t)cJSON_GetArrayItem(o, 0)->valuedouble, off);
        off += (uint64_t)rt_numel[idx] * 4;
        assert_int_equal((uint64_t)cJSON_GetArrayItem(o, 1)->valuedouble, off);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring, cg_st_dtype_name(rt_dtypes[idx]));
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "shape")), rt_ndim[idx]);
    }
    assert_int_equal(idx, NT);
    assert_int_equal(fsize, 8 + n + off);
    cJSON_Delete(root);
    free(raw);

    /* read back */
    cg_safetensors *st = NULL;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_string_equal(cg_safetensors_path(st), path);
    assert_int_equal(cg_safetensors_count(st), NT);
    assert_int_equal(cg_safetensors_metadata_count(st), 4);
    for (int i = 0; i < 4; i++) {
        const char *k, *v;
        assert_int_equal(cg_safetensors_metadata_at(st, i, &k, &v), CG_OK);
        assert_string_equal(k, md_keys[i]);
        assert_string_equal(v, md_values[i]);
        assert_string_equal(cg_safetensors_metadata(st, md_keys[i]), md_values[i]);
    }
    assert_null(cg_safetensors_metadata(st, "missing"));
    assert_int_equal(cg_safetensors_metadata_at(st, 4, NULL, NULL), CG_ERR_INVALID_ARG);

    for (int i = 0; i < NT; i++) {
        cg_safetensors_info a, b;
        assert_int_equal(cg_safetensors_info_at(st, i, &a), CG_OK);
        assert_int_equal(cg_safetensors_find(st, rt_names[i], &b), CG_OK);
        assert_memory_equal(&a, &b, sizeof a);
        assert_string_equal(a.name, rt_names[i]);
        assert_int_equal(a.dtype, rt_dtypes[i]);
        assert_int_equal(a.ndim, rt_ndim[i]);
        for (int d = 0; d < a.ndim; d++) assert_int_equal(a.shape[d], rt_shape[i][d]);
        assert_int_equal(a.numel, rt_numel[i]);
        assert_int_equal(a.nbytes, (uint64_t)rt_numel[i] * 4);
        if (a.nbytes) assert_memory_equal(a.data, data[i], a.nbytes);

        cg_tensor t;
        memset(&t, 0xAB, sizeof t);
        assert_int_equal(cg_safetensors_get_tensor(st, rt_names[i], &t), CG_OK);
        assert_int_equal(t.dtype, rt_dtypes[i] == CG_ST_F32 ? CG_F32 : CG_I32);
        assert_int_equal(t.ndim, rt_ndim[i] ? rt_ndim[i] : 1);
        for (int d = 0; d < t.ndim; d++) assert_int_equal(t.shape[d], rt_ndim[i] ? rt_shape[i][d] : 1);
        assert_int_equal(t.numel, rt_numel[i]);
        assert_ptr_equal(t.data, a.data); /* a view into the mapping, not a copy */
        assert_null(t.grad);
        assert_false(t.requires_grad);
        assert_string_equal(t.name, rt_names[i]);
        assert_int_equal((uintptr_t)t.data % 4, 0);
        if (t.numel) assert_memory_equal(t.data, data[i], (size_t)t.numel * 4);
    }

    cg_safetensors_info info;
    cg_tensor t;
    assert_int_equal(cg_safetensors_find(st, "nope", &info), CG_ERR_NOT_FOUND);
    check_contains(cg_last_error(), "nope");
    assert_int_equal(cg_safetensors_get_tensor(st, "nope", &t), CG_ERR_NOT_FOUND);
    assert_int_equal(cg_safetensors_info_at(st, NT, &info), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_safetensors_info_at(st, -1, &info), CG_ERR_INVALID_ARG);
    cg_safetensors_close(st);

    for (int i = 0; i < NT; i++) free(data[i]);
    remove(path);
}

/* An empty writer gives a valid file with an empty header object. */
static void test_empty_file(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "empty.safetensors");
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);
    size_t n;
    unsigned char *raw = read_all(path, &n);
    assert_int_equal(n, 16);
    assert_int_equal(le64(raw), 8);
    assert_memory_equal(raw + 8, "{}      ", 8);
    free(raw);
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_int_equal(cg_safetensors_count(st), 0);
    assert_int_equal(cg_safetensors_metadata_count(st), 0);
    cg_safetensors_info info;
    assert_int_equal(cg_safetensors_find(st, "x", &info), CG_ERR_NOT_FOUND);
    cg_safetensors_close(st);
    remove(path);
}

/* ---------------------------------------------------------------------------------------------------
 * writer argument errors
 * ------------------------------------------------------------------------------------------------- */

static void test_writer_errors(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4};
    int64_t s4[] = {4}, neg[] = {2, -1}, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 4};
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    assert_int_equal(cg_safetensors_writer_add(&w, "a", CG_ST_F32, 1, s4, x), CG_OK);
    assert_int_equal(cg_safetensors_writer_add(&w, "a", CG_ST_F32, 1, s4, x), CG_ERR_INVALID_ARG);
    check_contains(cg_last_error(), "duplicate");
    check_contains(cg_last_error(), "'a'");
    assert_int_equal(cg_safetensors_writer_add(&w, "", CG_ST_F32, 1, s4, x), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_safetensors_writer_add(&w, NULL, CG_ST_F32, 1, s4, x), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_safetensors_writer_add(&w, "__metadata__", CG_ST_F32, 1, s4, x), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_safetensors_writer_add(&w, "bad\xff", CG_ST_F32, 1, s4, x), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_safetensors_writer_add(&w, "b", CG_ST_DTYPE_COUNT, 1, s4, x), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_safetensors_writer_add(&w, "b", CG_ST_F32, 2, neg, x), CG_ERR_SHAPE);
    assert_int_equal(cg_safetensors_writer_add(&w, "b", CG_ST_F32, 9, nine, x), CG_ERR_SHAPE);
    assert_int_equal(cg_safetensors_writer_add(&w, "b", CG_ST_F32, -1, s4, x), CG_ERR_SHAPE);
    assert_int_equal(cg_safetensors_writer_add(&w, "b", CG_ST_F32, 1, s4, NULL), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_safetensors_writer_add_tensor(&w, "b", NULL), CG_ERR_INVALID_ARG);
    cg_tensor t;
    memset(&t, 0, sizeof t);
    assert_int_equal(cg_tensor_set_shape(&t, CG_F32, 1, s4), CG_OK);
    t.data = x;
    assert_int_equal(cg_safetensors_writer_add_tensor(&w, NULL, &t), CG_ERR_INVALID_ARG); /* no name */
    t.name = "a";
    assert_int_equal(cg_safetensors_writer_add_tensor(&w, NULL, &t), CG_ERR_INVALID_ARG); /* duplicate */
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "k", NULL), CG_ERR_INVALID_ARG);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "k", "\xc0\xaf"), CG_ERR_INVALID_ARG); /* overlong */
    assert_int_equal(cg_safetensors_writer_write(&w, NULL), CG_ERR_INVALID_ARG);
    assert_int_equal(w.count, 1); /* failed adds leave nothing behind */
    assert_int_equal(w.meta_count, 0);
    cg_safetensors_writer_free(&w);
    cg_safetensors_writer_free(&w); /* twice is fine */
}

/* ---------------------------------------------------------------------------------------------------
 * truncated and corrupted files
 * ------------------------------------------------------------------------------------------------- */

static void test_truncated(void **state) {
    (void)state;
    char path[512], cut[512];
    tu_temp_path(path, sizeof path, "full.safetensors");
    tu_temp_path(cut, sizeof cut, "cut.safetensors");
    float a[6];
    int32_t b[10];
    tu_fill_uniform(a, 6, -1, 1, 7);
    for (int i = 0; i < 10; i++) b[i] = i * i;
    int64_t sa[] = {2, 3}, sb[] = {10};
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    assert_int_equal(cg_safetensors_writer_add(&w, "a", CG_ST_F32, 2, sa, a), CG_OK);
    assert_int_equal(cg_safetensors_writer_add(&w, "b", CG_ST_I32, 1, sb, b), CG_OK);
    assert_int_equal(cg_safetensors_writer_set_metadata(&w, "note", "truncation test"), CG_OK);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);

    size_t size;
    unsigned char *raw = read_all(path, &size);
    size_t n = (size_t)le64(raw);
    assert_int_equal(size, 8 + n + 64);
    const struct {
        size_t len;
        const char *sub1, *sub2;
    } cuts[] = {
        {0, "truncated", NULL},
        {4, "truncated", NULL},
        {7, "truncated", NULL},
        {8, "truncated", NULL},
        {8 + n / 2, "truncated", NULL},
        {8 + n - 1, "truncated", NULL},
        {8 + n, "tensor 'a'", "exceed the 0-byte data buffer"}, /* header complete, no data */
        {8 + n + 12, "tensor 'a'", "exceed the 12-byte data buffer"},
        {8 + n + 40, "tensor 'b'", "exceed the 40-byte data buffer"},
        {size - 1, "tensor 'b'", "exceed"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(cut, raw, cuts[i].len);
        expect_open_error(cut, CG_ERR_FORMAT, cuts[i].sub1, cuts[i].sub2);
    }
    /* and the whole file still opens */
    write_bytes(cut, raw, size);
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(cut, &st), CG_OK);
    cg_safetensors_close(st);
    free(raw);
    remove(path);
    remove(cut);
}

static void test_corrupt_headers(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "corrupt.safetensors");
    unsigned char data[32] = {0};
    const struct {
        const char *header;
        size_t dlen;
        const char *sub1, *sub2;
    } cases[] = {
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}", 8, "not valid JSON", NULL},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},}", 8, "not valid JSON", NULL},
        {"[1, 2]", 0, "not a JSON object", NULL},
        {"{} x", 0, "unexpected bytes", NULL},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", 8, "tensor 'w'",
         "data_offsets [0, 12] exceed the 8-byte data buffer"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'",
         "needs 12 bytes"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 0], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'",
         "needs 0 bytes"},
        {"{\"w\": {\"dtype\": \"F33\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'",
         "unknown dtype 'F33'"},
        {"{\"w\": {\"dtype\": \"f32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'", "unknown dtype"},
        {"{\"w\": {\"dtype\": 4, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'", "'dtype'"},
        {"{\"w\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'", "'dtype'"},
        {"{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", 8, "tensor 'w'", "'shape'"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": 2, \"data_offsets\": [0, 8]}}", 8, "tensor 'w'", "'shape'"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'",
         "dimension 0"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1, 2.5], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'",
         "dimension 1"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1, \"2\"], \"data_offsets\": [0, 8]}}", 8, "tensor 'w'",
         "dimension 1"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,2], \"data_offsets\": [0, 8]}}", 8,
         "tensor 'w'", "9 dimensions"},
        {"{\"w\": {\"dtype\": \"U8\", \"shape\": [65536, 65536, 65536, 65536, 65536], \"data_offsets\": [0, 8]}}", 8,
         "tensor 'w'", "overflows"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "tensor 'w'", "'data_offsets'"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8, "tensor 'w'", "'data_offsets'"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8, 9]}}", 16, "tensor 'w'",
         "'data_offsets'"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", 8, "tensor 'w'",
         "'data_offsets'"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, "tensor 'w'", "begin > end"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [1e300, 1e300]}}", 8, "tensor 'w'",
         "'data_offsets'"},
        {"{\"w\": 5}", 0, "tensor 'w'", "not an object"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
         16, "tensors 'a' and 'b' overlap", "[0, 8] and [4, 12]"},
        {"{\"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]},"
         " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [12, 12]},"
         " \"a\": {\"dtype\": \"I32\", \"shape\": [6], \"data_offsets\": [0, 24]}}",
         24, "'a' and 'b' overlap", NULL},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
         " \"b\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [4, 5]}}",
         16, "'a' and 'b' overlap", NULL},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
         16, "duplicate tensor name 'a'", NULL},
        {"{\"__metadata__\": {\"k\": 1}, \"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
         "'__metadata__' key 'k'", "not a string"},
        {"{\"__metadata__\": {\"ok\": \"v\", \"k\": null}}", 0, "'__metadata__' key 'k'", "not a string"},
        {"{\"__metadata__\": {\"k\": {\"nested\": \"x\"}}}", 0, "'__metadata__' key 'k'", "not a string"},
        {"{\"__metadata__\": \"x\"}", 0, "'__metadata__'", "object of strings"},
        {"{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "'__metadata__' twice", NULL},
        {"{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", 0, "key 'k' twice", NULL},
        {"{\"w\xff\": {}}", 0, "not valid UTF-8", NULL},
        {"{\"\xed\xa0\x80\": {}}", 0, "not valid UTF-8", NULL}, /* encoded surrogate */
        {"", 0, "header is empty", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw(path, cases[i].header, strlen(cases[i].header), data, cases[i].dlen);
        expect_open_error(path, CG_ERR_FORMAT, cases[i].sub1, cases[i].sub2);
    }

    /* a NUL byte inside the header */
    static const char with_nul[] = "{\"w\0x\": {}}";
    write_raw(path, with_nul, sizeof with_nul - 1, NULL, 0);
    expect_open_error(path, CG_ERR_FORMAT, "NUL byte", NULL);

    /* a header length over the 100 MB limit (the file itself is small) */
    unsigned char big[16] = {0};
    uint64_t huge = CG_ST_MAX_HEADER_BYTES + 1;
    for (int i = 0; i < 8; i++) big[i] = (unsigned char)(huge >> (8 * i));
    memcpy(big + 8, "{}      ", 8);
    write_bytes(path, big, sizeof big);
    expect_open_error(path, CG_ERR_FORMAT, "header length 100000001", "limit");
    memset(big, 0xff, 8); /* 2^64 - 1: must not overflow 8 + N */
    write_bytes(path, big, sizeof big);
    expect_open_error(path, CG_ERR_FORMAT, "limit", NULL);

    /* a random byte file */
    unsigned char junk[64];
    for (int i = 0; i < 64; i++) junk[i] = (unsigned char)(i * 37 + 11);
    junk[3] = junk[4] = junk[5] = junk[6] = junk[7] = 0; /* small N that fits in the file */
    write_bytes(path, junk, sizeof junk);
    expect_open_error(path, CG_ERR_FORMAT, NULL, NULL);
    remove(path);
}

/* Things the reader accepts although our writer never produces them: tensors out of order, gaps, an
 * empty tensor inside another's range, extra fields, a scalar, other dtypes, an unpadded header. */
static void test_lenient_reader(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "lenient.safetensors");
    const char *header =
        "{\"z\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24], \"extra\": [1, 2]},"
        " \"s\": {\"dtype\": \"I32\", \"shape\": [], \"data_offsets\": [0, 4]},"
        " \"e\": {\"dtype\": \"F32\", \"shape\": [0, 5], \"data_offsets\": [18, 18]},"
        " \"h\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [8, 12]},"
        " \"big\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 2], \"data_offsets\": [24, 32]},"
        " \"__metadata__\": {}}";
    size_t hlen = strlen(header);
    unsigned char data[32];
    for (int i = 0; i < 32; i++) data[i] = (unsigned char)i;
    /* make the header length a multiple of 4 so that the F32 tensors are aligned */
    char padded[1024];
    snprintf(padded, sizeof padded, "%s%.*s", header, (int)((4 - hlen % 4) % 4), "   ");
    write_raw(path, padded, strlen(padded), data, sizeof data);

    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_int_equal(cg_safetensors_count(st), 5);
    assert_int_equal(cg_safetensors_metadata_count(st), 0);
    cg_safetensors_info info;
    assert_int_equal(cg_safetensors_info_at(st, 0, &info), CG_OK);
    assert_string_equal(info.name, "z");
    assert_int_equal(info.offset, 16);
    assert_memory_equal(info.data, data + 16, 8);

    cg_tensor t;
    assert_int_equal(cg_safetensors_get_tensor(st, "s", &t), CG_OK);
    assert_int_equal(t.dtype, CG_I32);
    assert_int_equal(t.ndim, 1);
    assert_int_equal(t.shape[0], 1);
    assert_int_equal(t.numel, 1);
    assert_memory_equal(t.data, data, 4);
    assert_int_equal(cg_safetensors_get_tensor(st, "e", &t), CG_OK);
    assert_int_equal(t.numel, 0);

    cg_clear_error();
    assert_int_equal(cg_safetensors_get_tensor(st, "h", &t), CG_ERR_SHAPE);
    check_contains(cg_last_error(), "dtype BF16 not supported as a tensor");
    check_contains(cg_last_error(), "'h'");
    assert_int_equal(cg_safetensors_find(st, "h", &info), CG_OK);
    assert_int_equal(info.dtype, CG_ST_BF16);
    assert_int_equal(info.nbytes, 4);
    assert_int_equal(cg_safetensors_get_tensor(st, "big", &t), CG_ERR_SHAPE);
    check_contains(cg_last_error(), "5 dimensions");
    cg_safetensors_close(st);
    remove(path);
}

/* A header length that is not 8 + a multiple of 8 is valid: the data buffer is still 8-byte aligned in
 * memory (the reader copies such a file), so every tensor can be used in place (issue 18 item 10: the
 * tables of such a graph file were read misaligned, which UBSan reports). A tensor whose data offset is
 * not a multiple of its element size cannot: get_tensor refuses it. */
static void test_unaligned(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "unaligned.safetensors");
    float data[2] = {1.5f, -2.f};
    for (int pad = 0; pad < 8; pad++) {
        char header[256];
        snprintf(header, sizeof header, "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}");
        for (int k = 0; k < pad; k++) strcat(header, " ");
        write_raw(path, header, strlen(header), data, sizeof data);
        cg_safetensors *st;
        assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
        cg_safetensors_info info;
        assert_int_equal(cg_safetensors_find(st, "w", &info), CG_OK);
        assert_int_equal((uintptr_t)info.data % 8, 0);
        assert_memory_equal(info.data, data, 8);
        cg_tensor t;
        assert_int_equal(cg_safetensors_get_tensor(st, "w", &t), CG_OK);
        assert_true(((const float *)t.data)[0] == 1.5f && ((const float *)t.data)[1] == -2.f);
        cg_safetensors_close(st);
    }
    /* an F32 tensor at data offset 1 */
    {
        const char *header = "{\"u\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, "
                             "\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [1, 9]}}";
        unsigned char bytes[9] = {7};
        memcpy(bytes + 1, data, 8);
        write_raw(path, header, strlen(header), bytes, sizeof bytes);
        cg_safetensors *st;
        assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
        cg_safetensors_info info;
        assert_int_equal(cg_safetensors_find(st, "w", &info), CG_OK);
        assert_memory_equal(info.data, data, 8);
        cg_tensor t;
        assert_int_equal(cg_safetensors_get_tensor(st, "w", &t), CG_ERR_FORMAT);
        check_contains(cg_last_error(), "'w'");
        check_contains(cg_last_error(), "aligned");
        cg_safetensors_close(st);
    }
    cg_safetensors *st;
    cg_safetensors_info info;
    cg_tensor t;

    /* the writer never produces that: a 3-byte U8 tensor added before an F32 one is laid out after it,
     * so the F32 stays aligned and usable in place */
    uint8_t u[3] = {1, 2, 3};
    int64_t s3[] = {3}, s2[] = {2};
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    assert_int_equal(cg_safetensors_writer_add(&w, "u", CG_ST_U8, 1, s3, u), CG_OK);
    assert_int_equal(cg_safetensors_writer_add(&w, "w", CG_ST_F32, 1, s2, data), CG_OK);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    assert_int_equal(cg_safetensors_get_tensor(st, "w", &t), CG_OK);
    assert_memory_equal(t.data, data, 8);
    assert_int_equal(cg_safetensors_find(st, "w", &info), CG_OK);
    assert_int_equal(info.offset, 0);
    assert_int_equal(cg_safetensors_find(st, "u", &info), CG_OK);
    assert_int_equal(info.offset, 8);
    assert_memory_equal(info.data, u, 3);
    cg_safetensors_close(st);
    remove(path);
}

/* ---------------------------------------------------------------------------------------------------
 * I/O errors
 * ------------------------------------------------------------------------------------------------- */

static void test_open_io_errors(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "does_not_exist/model.safetensors");
    expect_open_error(path, CG_ERR_IO, strerror(ENOENT), NULL);
    tu_temp_path(path, sizeof path, "missing.safetensors");
    expect_open_error(path, CG_ERR_IO, strerror(ENOENT), NULL);
    tu_temp_path(path, sizeof path, "a_directory");
    assert_int_equal(mkdir(path, 0755), 0);
    expect_open_error(path, CG_ERR_IO, strerror(EISDIR), NULL);
    rmdir(path);
    cg_safetensors *st = (cg_safetensors *)&st;
    assert_int_equal(cg_safetensors_open(NULL, &st), CG_ERR_INVALID_ARG);
    assert_null(st);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_safetensors: blocked opening a named pipe\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

/* issue 18 item 8: a named pipe is an error at once (open() used to wait for a writer forever) */
static void test_open_named_pipe(void **state) {
    (void)state;
    char path[512];
    tu_temp_path(path, sizeof path, "model.fifo");
    remove(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    signal(SIGALRM, on_alarm);
    alarm(60);
    expect_open_error(path, CG_ERR_IO, "named pipe", NULL);
    alarm(0);
    remove(path);
}

/* issue 18 item 10: the temporary files of writers killed before their rename are removed by the next
 * successful write of the same target; live writers' files and other names are left alone */
static void test_stale_temps(void **state) {
    (void)state;
    char path[512], dead[600], live[600], other[600], mine[600];
    tu_temp_path(path, sizeof path, "stale.safetensors");
    pid_t child = fork(); /* a process id that no longer runs */
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    int wst;
    assert_int_equal(waitpid(child, &wst, 0), child);
    snprintf(dead, sizeof dead, "%s.tmp.%ld", path, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid()); /* the runner of this test: alive */
    snprintf(other, sizeof other, "%s.tmp.%ldx", path, (long)child);  /* not the writer's naming */
    tmp_name_of(mine, sizeof mine, path);
    write_bytes(dead, "half a file", 11);
    write_bytes(live, "being written", 13);
    write_bytes(other, "someone else's", 14);
    float x[2] = {1, 2};
    int64_t s[] = {2};
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    assert_int_equal(cg_safetensors_writer_add(&w, "x", CG_ST_F32, 1, s, x), CG_OK);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);
    assert_false(file_exists(dead));
    assert_true(file_exists(live));
    assert_true(file_exists(other));
    assert_false(file_exists(mine));
    assert_true(file_exists(path));
    /* directly: nothing more to remove */
    assert_int_equal(cg_remove_stale_temps(path), 0);
    write_bytes(dead, "again", 5);
    assert_int_equal(cg_remove_stale_temps(path), 1);
    assert_false(file_exists(dead));
    remove(live);
    remove(other);
    remove(path);
}

/* Writes a small valid file with one tensor holding value v. */
static void write_small(const char *path, float v) {
    float x[2] = {v, v};
    int64_t s[] = {2};
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    assert_int_equal(cg_safetensors_writer_add(&w, "x", CG_ST_F32, 1, s, x), CG_OK);
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    cg_safetensors_writer_free(&w);
}

static void test_write_io_errors(void **state) {
    (void)state;
    char path[512], tmp[600];
    float x[4] = {0};
    int64_t s[] = {4};
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    assert_int_equal(cg_safetensors_writer_add(&w, "x", CG_ST_F32, 1, s, x), CG_OK);

    /* nonexistent directory */
    tu_temp_path(path, sizeof path, "no_such_dir/out.safetensors");
    tmp_name_of(tmp, sizeof tmp, path);
    cg_clear_error();
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_ERR_IO);
    check_contains(cg_last_error(), path);
    check_contains(cg_last_error(), strerror(ENOENT));
    assert_false(file_exists(path));
    assert_false(file_exists(tmp));
    cg_safetensors_writer_free(&w);
}

/* Every way a write can fail after the target exists leaves the old target byte-identical and no
 * temporary file behind. */
static void test_failed_write_keeps_target(void **state) {
    (void)state;
    char path[512], tmp[600];
    tu_temp_path(path, sizeof path, "keep.safetensors");
    tmp_name_of(tmp, sizeof tmp, path);
    write_small(path, 1.f);
    size_t n0;
    unsigned char *orig = read_all(path, &n0);

    enum { BIG = 1 << 16 };
    float *big = calloc(BIG, sizeof *big);
    assert_non_null(big);
    int64_t sbig[] = {BIG};
    cg_safetensors_writer w;
    cg_safetensors_writer_init(&w);
    assert_int_equal(cg_safetensors_writer_add(&w, "x", CG_ST_F32, 1, sbig, big), CG_OK);

    /* 1. the temporary file cannot be created (a directory sits at its name): nothing is removed */
    assert_int_equal(mkdir(tmp, 0755), 0);
    cg_clear_error();
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_ERR_IO);
    check_contains(cg_last_error(), path);
    assert_true(file_exists(tmp)); /* not ours: left alone */
    assert_int_equal(rmdir(tmp), 0);
    size_t n1;
    unsigned char *now = read_all(path, &n1);
    assert_int_equal(n1, n0);
    assert_memory_equal(now, orig, n0);
    free(now);

    /* 2. writing fails half-way (file size limit => EFBIG): the temporary file is removed */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cg_clear_error();
    cg_status s = cg_safetensors_writer_write(&w, path);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);
    assert_int_equal(s, CG_ERR_IO);
    check_contains(cg_last_error(), path);
    check_contains(cg_last_error(), strerror(EFBIG));
    assert_false(file_exists(tmp));
    now = read_all(path, &n1);
    assert_int_equal(n1, n0);
    assert_memory_equal(now, orig, n0);
    free(now);

    /* 3. rename fails (the target is a non-empty directory): temporary removed, directory intact */
    char dir[512], inner[600];
    tu_temp_path(dir, sizeof dir, "target_dir.safetensors");
    snprintf(inner, sizeof inner, "%s/inside", dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_bytes(inner, "keep", 4);
    char dtmp[600];
    tmp_name_of(dtmp, sizeof dtmp, dir);
    cg_clear_error();
    assert_int_equal(cg_safetensors_writer_write(&w, dir), CG_ERR_IO);
    check_contains(cg_last_error(), "rename");
    assert_false(file_exists(dtmp));
    assert_true(file_exists(inner));
    remove(inner);
    rmdir(dir);

    /* and a successful write does replace the target */
    assert_int_equal(cg_safetensors_writer_write(&w, path), CG_OK);
    assert_false(file_exists(tmp));
    cg_safetensors *st;
    assert_int_equal(cg_safetensors_open(path, &st), CG_OK);
    cg_safetensors_info info;
    assert_int_equal(cg_safetensors_find(st, "x", &info), CG_OK);
    assert_int_equal(info.numel, BIG);
    cg_safetensors_close(st);

    cg_safetensors_writer_free(&w);
    free(big);
    free(orig);
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt_headers),
        cmocka_unit_test(test_lenient_reader),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_open_io_errors),
        cmocka_unit_test(test_open_named_pipe),
        cmocka_unit_test(test_stale_temps),
        cmocka_unit_test(test_write_io_errors),
        cmocka_unit_test(test_failed_write_keeps_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
