/* safetensors reader (mmap, validate everything up front) and writer (temporary file + rename).
 * See include/cellgraph/safetensors.h for the format and the contract of each function. */
#include "cellgraph/safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cellgraph's safetensors code assumes a little-endian host"
#endif

/* Integers in the JSON header go through cJSON's double, which is exact up to 2^53. */
#define ST_MAX_JSON_INT 9007199254740992.0 /* 2^53 */
#define ST_MAX_BYTES (UINT64_C(1) << 53)

/* ---------------------------------------------------------------------------------------------------
 * dtypes
 * ------------------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int size;
} st_dtypes[CG_ST_DTYPE_COUNT] = {
    [CG_ST_BOOL] = {"BOOL", 1},       [CG_ST_U8] = {"U8", 1},     [CG_ST_I8] = {"I8", 1},
    [CG_ST_F8_E5M2] = {"F8_E5M2", 1}, [CG_ST_F8_E4M3] = {"F8_E4M3", 1},
    [CG_ST_I16] = {"I16", 2},         [CG_ST_U16] = {"U16", 2},   [CG_ST_F16] = {"F16", 2},
    [CG_ST_BF16] = {"BF16", 2},       [CG_ST_I32] = {"I32", 4},   [CG_ST_U32] = {"U32", 4},
    [CG_ST_F32] = {"F32", 4},         [CG_ST_F64] = {"F64", 8},   [CG_ST_I64] = {"I64", 8},
    [CG_ST_U64] = {"U64", 8},
};

static bool dtype_valid(cg_st_dtype d) { return (unsigned)d < (unsigned)CG_ST_DTYPE_COUNT; }

const char *cg_st_dtype_name(cg_st_dtype d) { return dtype_valid(d) ? st_dtypes[d].name : "?"; }

int cg_st_dtype_size(cg_st_dtype d) { return dtype_valid(d) ? st_dtypes[d].size : 0; }

cg_status cg_st_dtype_from_name(const char *name, cg_st_dtype *out) {
    if (!name || !out) return cg_error(CG_ERR_INVALID_ARG, "safetensors: NULL dtype name or output");
    for (int d = 0; d < CG_ST_DTYPE_COUNT; d++)
        if (strcmp(name, st_dtypes[d].name) == 0) {
            *out = (cg_st_dtype)d;
            return CG_OK;
        }
    return cg_error(CG_ERR_NOT_FOUND, "safetensors: unknown dtype '%s'", name);
}

cg_st_dtype cg_st_dtype_of(cg_dtype d) { return d == CG_I32 ? CG_ST_I32 : CG_ST_F32; }

/* ---------------------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 prefix of s[0..n): n when all of it is valid. Rejects overlong forms,
 * UTF-16 surrogates and code points above U+10FFFF, as RFC 3629 does. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        int len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;      /* overlong */
            if (c == 0xED) hi = 0x9F;      /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;      /* overlong */
            if (c == 0xF4) hi = 0x8F;      /* > U+10FFFF */
        } else return i;
        if (n - i < (size_t)len) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (int k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += len;
    }
    return n;
}

static bool utf8_valid(const char *s) {
    size_t n = strlen(s);
    return utf8_valid_prefix((const unsigned char *)s, n) == n;
}

/* Formats "[a, b, c]" (ndim values) into buf. */
static const char *dims_str(const int64_t *shape, int ndim, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

/* Reads a JSON number that must be an integer in [0, 2^53]. */
static bool json_uint(const cJSON *it, uint64_t *out) {
    if (!cJSON_IsNumber(it)) return false;
    double d = it->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_JSON_INT)) return false; /* also rejects NaN */
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return false;                       /* fractional */
    *out = u;
    return true;
}

/* ---------------------------------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------------------------------- */

typedef struct name_ref {
    const char *name;
    int index;
} name_ref;

typedef struct range_ref {
    uint64_t begin, end;
    int index;
} range_ref;

struct cg_safetensors {
    char *path;                  /* copy of the path given to open */
    const unsigned char *map;    /* the whole file, PROT_READ */
    size_t map_size;             /* bytes of the file */
    void *region;                /* what to munmap: the file's mapping, or the aligned copy holding map */
    size_t region_size;
    const unsigned char *data;   /* start of the data buffer = map + 8 + N */
    uint64_t data_size;
    uint64_t header_len;         /* N */
    cJSON *root;                 /* parsed header; names and metadata strings point into it */
    int count;
    cg_safetensors_info *infos;  /* [count], header order */
    name_ref *by_name;           /* [count], sorted by name */
    int meta_count;
    const char **meta_keys;      /* [meta_count], header order */
    const char **meta_values;
};

static int cmp_name_ref(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static int cmp_range_ref(const void *a, const void *b) {
    const range_ref *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Validates the "__metadata__" value and records its strings. */
static cg_status parse_metadata(cg_safetensors *st, const cJSON *meta) {
    const char *path = st->path;
    if (!cJSON_IsObject(meta))
        return cg_error(CG_ERR_FORMAT, "%s: '__metadata__' must be an object of strings", path);
    int n = 0;
    for (const cJSON *it = meta->child; it; it = it->next) {
        if (!cJSON_IsString(it) || !it->valuestring)
            return cg_error(CG_ERR_FORMAT, "%s: '__metadata__' key '%s': value is not a string", path,
                            it->string ? it->string : "?");
        n++;
    }
    if (n == 0) return CG_OK;
    st->meta_keys = malloc((size_t)n * sizeof *st->meta_keys);
    st->meta_values = malloc((size_t)n * sizeof *st->meta_values);
    if (!st->meta_keys || !st->meta_values)
        return cg_error(CG_ERR_NOMEM, "%s: out of memory for %d metadata entries", path, n);
    int i = 0;
    for (const cJSON *it = meta->child; it; it = it->next, i++) {
        st->meta_keys[i] = it->string ? it->string : "";
        st->meta_values[i] = it->valuestring;
    }
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (strcmp(st->meta_keys[a], st->meta_keys[b]) == 0)
                return cg_error(CG_ERR_FORMAT, "%s: '__metadata__' has key '%s' twice", path, st->meta_keys[a]);
    st->meta_count = n;
    return CG_OK;
}

/* Validates one tensor entry (all but overlap and duplicate names) and fills *info. */
static cg_status parse_entry(const cg_safetensors *st, const cJSON *e, cg_safetensors_info *info) {
    const char *path = st->path;
    const char *name = e->string ? e->string : "";
    memset(info, 0, sizeof *info);
    info->name = name;
    if (!cJSON_IsObject(e)) return cg_error(CG_ERR_FORMAT, "%s: tensor '%s': entry is not an object", path, name);

    /* dtype */
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return cg_error(CG_ERR_FORMAT, "%s: tensor '%s': field 'dtype' is missing or not a string", path, name);
    int dt = -1;
    for (int d = 0; d < CG_ST_DTYPE_COUNT; d++)
        if (strcmp(jd->valuestring, st_dtypes[d].name) == 0) dt = d;
    if (dt < 0) return cg_error(CG_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name, jd->valuestring);
    info->dtype = (cg_st_dtype)dt;

    /* shape */
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsArray(js))
        return cg_error(CG_ERR_FORMAT, "%s: tensor '%s': field 'shape' is missing or not an array", path, name);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > CG_ST_MAX_DIMS)
        return cg_error(CG_ERR_FORMAT, "%s: tensor '%s': shape has %d dimensions (at most %d supported)", path,
                        name, ndim, CG_ST_MAX_DIMS);
    for (int i = 0; i < CG_ST_MAX_DIMS; i++) info->shape[i] = 1;
    info->ndim = ndim;
    uint64_t numel = 1;
    bool zero = false, overflow = false;
    int i = 0;
    for (const cJSON *it = js->child; it; it = it->next, i++) {
        uint64_t d;
        if (!json_uint(it, &d))
            return cg_error(CG_ERR_FORMAT, "%s: tensor '%s': shape dimension %d is not a non-negative integer",
                            path, name, i);
        info->shape[i] = (int64_t)d;
        if (d == 0) zero = true;
        else if (__builtin_mul_overflow(numel, d, &numel)) overflow = true;
    }
    if (zero) numel = 0, overflow = false;
    uint64_t need = 0;
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)st_dtypes[dt].size, &need)) {
        char sb[256];
        return cg_error(CG_ERR_FORMAT, "%s: tensor '%s': shape %s overflows", path, name,
                        dims_str(info->shape, ndim, sb, sizeof sb));
    }
    info->numel = (int64_t)numel; /* need = numel * size <= 2^64 checked; numel < 2^63 follows below */

    /* data_offsets */
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    uint64_t begin = 0, end = 0;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(jo->child, &begin) ||
        !json_uint(jo->child->next, &end))
        return cg_error(CG_ERR_FORMAT,
                        "%s: tensor '%s': field 'data_offsets' is missing or not two non-negative integers", path,
                        name);
    if (begin > end)
        return cg_error(CG_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] have begin > end", path, name,
                        (unsigned long long)begin, (unsigned long long)end);
    if (end > st->data_size)
        return cg_error(CG_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] exceed the %llu-byte data buffer "
                        "(file truncated?)",
                        path, name, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)st->data_size);
    if (end - begin != need) {
        char sb[256];
        return cg_error(CG_ERR_FORMAT,
                        "%s: tensor '%s': shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] hold %llu",
                        path, name, dims_str(info->shape, ndim, sb, sizeof sb), st_dtypes[dt].name,
                        (unsigned long long)need, (unsigned long long)begin, (unsigned long long)end,
                        (unsigned long long)(end - begin));
    }
    info->offset = begin;
    info->nbytes = end - begin;
    info->data = st->data + begin;
    return CG_OK;
}

/* Parses and validates the header of an already mapped file (st->map, st->map_size set). */
static cg_status parse_header(cg_safetensors *st) {
    const char *path = st->path;
    const unsigned char *m = st->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | m[i];
    if (n > CG_ST_MAX_HEADER_BYTES)
        return cg_error(CG_ERR_FORMAT, "%s: header length %llu exceeds the %llu-byte limit (not a safetensors file?)",
                        path, (unsigned long long)n, (unsigned long long)CG_ST_MAX_HEADER_BYTES);
    if (8 + n > st->map_size)
        return cg_error(CG_ERR_FORMAT, "%s: truncated: header length %llu needs %llu bytes but the file has %zu", path,
                        (unsigned long long)n, (unsigned long long)(8 + n), st->map_size);
    st->header_len = n;
    st->data = m + 8 + n;
    st->data_size = st->map_size - 8 - n;

    const char *h = (const char *)m + 8;
    if (n == 0) return cg_error(CG_ERR_FORMAT, "%s: header is empty (expected a JSON object)", path);
    const void *nul = memchr(h, 0, n);
    if (nul) return cg_error(CG_ERR_FORMAT, "%s: header has a NUL byte at byte %td", path, (const char *)nul - h);
    size_t ok = utf8_valid_prefix((const unsigned char *)h, n);
    if (ok != n) return cg_error(CG_ERR_FORMAT, "%s: header is not valid UTF-8 (at header byte %zu)", path, ok);

    const char *end = NULL;
    st->root = cJSON_ParseWithLengthOpts(h, n, &end, 0);
    if (!st->root) {
        long at = end ? (long)(end - h) : -1;
        return cg_error(CG_ERR_FORMAT, "%s: header is not valid JSON (error near header byte %ld)", path, at);
    }
    for (const char *p = end; p < h + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return cg_error(CG_ERR_FORMAT, "%s: header has unexpected bytes after the JSON value (header byte %td)",
                            path, p - h);
    if (!cJSON_IsObject(st->root)) return cg_error(CG_ERR_FORMAT, "%s: header is not a JSON object", path);

    /* metadata and tensor count */
    int count = 0;
    const cJSON *meta = NULL;
    for (const cJSON *e = st->root->child; e; e = e->next) {
        if (e->string && strcmp(e->string, "__metadata__") == 0) {
            if (meta) return cg_error(CG_ERR_FORMAT, "%s: header has '__metadata__' twice", path);
            meta = e;
        } else count++;
    }
    if (meta) {
        cg_status s = parse_metadata(st, meta);
        if (s != CG_OK) return s;
    }
    if (count == 0) return CG_OK;

    st->infos = malloc((size_t)count * sizeof *st->infos);
    st->by_name = malloc((size_t)count * sizeof *st->by_name);
    range_ref *ranges = malloc((size_t)count * sizeof *ranges);
    if (!st->infos || !st->by_name || !ranges) {
        free(ranges);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory for %d tensors", path, count);
    }
    int i = 0;
    for (const cJSON *e = st->root->child; e; e = e->next) {
        if (e == meta) continue;
        cg_status s = parse_entry(st, e, &st->infos[i]);
        if (s != CG_OK) {
            free(ranges);
            return s;
        }
        st->by_name[i] = (name_ref){st->infos[i].name, i};
        ranges[i] = (range_ref){st->infos[i].offset, st->infos[i].offset + st->infos[i].nbytes, i};
        i++;
    }
    st->count = count;

    /* duplicate names: adjacent after sorting */
    qsort(st->by_name, (size_t)count, sizeof *st->by_name, cmp_name_ref);
    for (int k = 1; k < count; k++)
        if (strcmp(st->by_name[k - 1].name, st->by_name[k].name) == 0) {
            free(ranges);
            return cg_error(CG_ERR_FORMAT, "%s: duplicate tensor name '%s'", path, st->by_name[k].name);
        }

    /* overlap: after sorting by begin, every non-empty range must start at or after the furthest end
     * seen so far. Empty tensors occupy no bytes and never overlap anything. */
    qsort(ranges, (size_t)count, sizeof *ranges, cmp_range_ref);
    int last = -1; /* non-empty range with the furthest end so far */
    for (int k = 0; k < count; k++) {
        if (ranges[k].begin == ranges[k].end) continue;
        if (last >= 0 && ranges[k].begin < ranges[last].end) {
            const range_ref *a = &ranges[last], *b = &ranges[k];
            cg_status s = cg_error(CG_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap: data_offsets [%llu, %llu] and [%llu, %llu]",
                                   path, st->infos[a->index].name, st->infos[b->index].name,
                                   (unsigned long long)a->begin, (unsigned long long)a->end,
                                   (unsigned long long)b->begin, (unsigned long long)b->end);
            free(ranges);
            return s;
        }
        if (last < 0 || ranges[k].end > ranges[last].end) last = k;
    }
    free(ranges);
    return CG_OK;
}

/* Reads n bytes at offset off of fd into buf. Errors: CG_ERR_IO (a read error, or the file ended early:
 * it changed while being read). */
static cg_status read_at(int fd, const char *path, void *buf, size_t n, off_t off) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return cg_error(CG_ERR_IO, "%s: read error: %s", path, strerror(errno));
        if (r == 0)
            return cg_error(CG_ERR_IO, "%s: the file ended at byte %lld while being read (changed meanwhile?)", path,
                            (long long)(off + (off_t)got));
        got += (size_t)r;
    }
    return CG_OK;
}

/* Maps the file behind fd (st->map_size bytes) so that the data buffer, at byte 8 + N of the file, starts
 * 8-byte aligned in memory. Writers pad the header so that 8 + N is a multiple of 8 and the file is mapped
 * as it is; a valid file with another header length (the format does not require the padding) is read
 * into an anonymous mapping at the offset that aligns its data buffer, and made read-only. Either way
 * every tensor whose data offset is a multiple of its element size is aligned for its type. */
static cg_status map_file(cg_safetensors *st, int fd) {
    const char *path = st->path;
    unsigned char lenbuf[8];
    cg_status s = read_at(fd, path, lenbuf, 8, 0);
    if (s != CG_OK) return s;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | lenbuf[i];
    size_t shift = (size_t)((8 - n % 8) % 8); /* bytes before the file's first so that 8 + N + shift = 0 mod 8 */
    if (shift == 0 || n > CG_ST_MAX_HEADER_BYTES || 8 + n > st->map_size) {
        /* aligned, or a header parse_header rejects anyway: the file as it is */
        void *m = mmap(NULL, st->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) return cg_error(CG_ERR_IO, "%s: cannot mmap: %s", path, strerror(errno));
        st->region = m;
        st->region_size = st->map_size;
        st->map = m;
        return CG_OK;
    }
    size_t total = st->map_size + shift;
    void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return cg_error(CG_ERR_NOMEM, "%s: cannot allocate %zu bytes to align the data of the file (header length "
                        "%llu is not 8 + a multiple of 8): %s", path, total, (unsigned long long)n, strerror(errno));
    st->region = m;
    st->region_size = total;
    s = read_at(fd, path, (unsigned char *)m + shift, st->map_size, 0);
    if (s == CG_OK && mprotect(m, total, PROT_READ) != 0)
        s = cg_error(CG_ERR_IO, "%s: cannot protect the copy of the file: %s", path, strerror(errno));
    if (s != CG_OK) return s;
    st->map = (const unsigned char *)m + shift;
    return CG_OK;
}

cg_status cg_safetensors_open(const char *path, cg_safetensors **out) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "safetensors_open: NULL output");
    *out = NULL;
    if (!path) return cg_error(CG_ERR_INVALID_ARG, "safetensors_open: NULL path");

    /* O_NONBLOCK: opening a named pipe (or a device) must not wait for a writer before the file type is
     * checked; it has no effect on reading a regular file */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return cg_error(CG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return cg_error(CG_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cg_error(CG_ERR_IO, "%s: cannot read: %s", path,
                        S_ISDIR(sb.st_mode)    ? strerror(EISDIR)
                        : S_ISFIFO(sb.st_mode) ? "a named pipe, not a regular file"
                                               : "not a regular file");
    }
    if (sb.st_size < 8) {
        close(fd);
        return cg_error(CG_ERR_FORMAT, "%s: truncated: %lld bytes, need at least 8 for the header length", path,
                        (long long)sb.st_size);
    }

    cg_safetensors *st = calloc(1, sizeof *st);
    char *pcopy = strdup(path);
    if (!st || !pcopy) {
        free(st);
        free(pcopy);
        close(fd);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    }
    st->path = pcopy;
    st->map_size = (size_t)sb.st_size;
    cg_status s = map_file(st, fd);
    close(fd); /* the mapping keeps the file alive */
    if (s == CG_OK) s = parse_header(st);
    if (s != CG_OK) {
        cg_safetensors_close(st);
        return s;
    }
    *out = st;
    return CG_OK;
}

void cg_safetensors_close(cg_safetensors *st) {
    if (!st) return;
    if (st->region) munmap(st->region, st->region_size);
    cJSON_Delete(st->root);
    free(st->infos);
    free(st->by_name);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->path);
    free(st);
}

const char *cg_safetensors_path(const cg_safetensors *st) { return st->path; }

int cg_safetensors_count(const cg_safetensors *st) { return st->count; }

cg_status cg_safetensors_info_at(const cg_safetensors *st, int index, cg_safetensors_info *out) {
    if (!out) return cg_error(CG_ERR_INVALID_ARG, "%s: NULL output", st->path);
    if (index < 0 || index >= st->count)
        return cg_error(CG_ERR_INVALID_ARG, "%s: tensor index %d out of range (file has %d tensors)", st->path,
                        index, st->count);
    *out = st->infos[index];
    return CG_OK;
}

static const cg_safetensors_info *find_info(const cg_safetensors *st, const char *name) {
    if (st->count == 0) return NULL;
    name_ref key = {name, -1};
    const name_ref *r = bsearch(&key, st->by_name, (size_t)st->count, sizeof *st->by_name, cmp_name_ref);
    return r ? &st->infos[r->index] : NULL;
}

cg_status cg_safetensors_find(const cg_safetensors *st, const char *name, cg_safetensors_info *out) {
    if (!name || !out) return cg_error(CG_ERR_INVALID_ARG, "%s: NULL tensor name or output", st->path);
    const cg_safetensors_info *info = find_info(st, name);
    if (!info) return cg_error(CG_ERR_NOT_FOUND, "%s: no tensor '%s'", st->path, name);
    *out = *info;
    return CG_OK;
}

cg_status cg_safetensors_get_tensor(const cg_safetensors *st, const char *name, cg_tensor *out) {
    if (!name || !out) return cg_error(CG_ERR_INVALID_ARG, "%s: NULL tensor name or output", st->path);
    const cg_safetensors_info *info = find_info(st, name);
    if (!info) return cg_error(CG_ERR_NOT_FOUND, "%s: no tensor '%s'", st->path, name);
    if (info->dtype != CG_ST_F32 && info->dtype != CG_ST_I32)
        return cg_error(CG_ERR_SHAPE, "%s: tensor '%s': dtype %s not supported as a tensor (only F32 and I32)",
                        st->path, name, cg_st_dtype_name(info->dtype));
    if (info->ndim > CG_MAX_DIMS)
        return cg_error(CG_ERR_SHAPE, "%s: tensor '%s': %d dimensions, at most %d supported as a tensor", st->path,
                        name, info->ndim, CG_MAX_DIMS);
    if (info->nbytes > 0 && (uintptr_t)info->data % 4 != 0) /* an empty tensor is never read */
        return cg_error(CG_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets begin %llu is not a multiple of 4, so its data is not "
                        "4-byte aligned",
                        st->path, name, (unsigned long long)info->offset);
    cg_tensor t;
    memset(&t, 0, sizeof t);
    static const int64_t scalar[1] = {1};
    cg_dtype dt = info->dtype == CG_ST_F32 ? CG_F32 : CG_I32;
    cg_status s = info->ndim == 0 ? cg_tensor_set_shape(&t, dt, 1, scalar) : cg_tensor_set_shape(&t, dt, info->ndim, info->shape);
    if (s != CG_OK) return cg_error(s, "%s: tensor '%s': shape not representable as a tensor", st->path, name);
    t.data = (void *)info->data; /* read-only mapping: see the header */
    t.grad = NULL;
    t.requires_grad = false;
    t.name = info->name;
    *out = t;
    return CG_OK;
}

const char *cg_safetensors_metadata(const cg_safetensors *st, const char *key) {
    if (!key) return NULL;
    for (int i = 0; i < st->meta_count; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

int cg_safetensors_metadata_count(const cg_safetensors *st) { return st->meta_count; }

cg_status cg_safetensors_metadata_at(const cg_safetensors *st, int index, const char **key, const char **value) {
    if (index < 0 || index >= st->meta_count)
        return cg_error(CG_ERR_INVALID_ARG, "%s: metadata index %d out of range (file has %d entries)", st->path,
                        index, st->meta_count);
    if (key) *key = st->meta_keys[index];
    if (value) *value = st->meta_values[index];
    return CG_OK;
}

/* ---------------------------------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------------------------------- */

void cg_safetensors_writer_init(cg_safetensors_writer *w) { memset(w, 0, sizeof *w); }

void cg_safetensors_writer_free(cg_safetensors_writer *w) {
    for (int i = 0; i < w->count; i++) free(w->entries[i].name);
    free(w->entries);
    for (int i = 0; i < w->meta_count; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->meta_keys);
    free(w->meta_values);
    memset(w, 0, sizeof *w);
}

cg_status cg_safetensors_writer_add(cg_safetensors_writer *w, const char *name, cg_st_dtype dtype, int ndim,
                                    const int64_t *shape, const void *data) {
    if (!name || !*name) return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: empty tensor name");
    if (strcmp(name, "__metadata__") == 0)
        return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: '__metadata__' is reserved, not a tensor name");
    if (!utf8_valid(name)) return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: tensor name is not valid UTF-8");
    if (!dtype_valid(dtype))
        return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: tensor '%s': invalid dtype code %d", name, (int)dtype);
    if (ndim < 0 || ndim > CG_ST_MAX_DIMS)
        return cg_error(CG_ERR_SHAPE, "safetensors writer: tensor '%s': %d dimensions (0..%d supported)", name, ndim,
                        CG_ST_MAX_DIMS);
    if (ndim > 0 && !shape) return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: tensor '%s': NULL shape", name);
    uint64_t numel = 1;
    bool zero = false, overflow = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return cg_error(CG_ERR_SHAPE, "safetensors writer: tensor '%s': dimension %d is negative (%lld)", name, i,
                            (long long)shape[i]);
        if (shape[i] == 0) zero = true;
        else if ((uint64_t)shape[i] > ST_MAX_BYTES || __builtin_mul_overflow(numel, (uint64_t)shape[i], &numel))
            overflow = true;
    }
    if (zero) numel = 0, overflow = false;
    uint64_t nbytes = 0;
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)st_dtypes[dtype].size, &nbytes) || nbytes > ST_MAX_BYTES)
        return cg_error(CG_ERR_SHAPE, "safetensors writer: tensor '%s': byte size overflows", name);
    if (nbytes > 0 && !data)
        return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: tensor '%s': NULL data for %llu bytes", name,
                        (unsigned long long)nbytes);
    for (int i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: duplicate tensor name '%s'", name);

    if (w->count == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        cg_safetensors_wentry *ne = realloc(w->entries, (size_t)cap * sizeof *ne);
        if (!ne) return cg_error(CG_ERR_NOMEM, "safetensors writer: out of memory adding '%s'", name);
        w->entries = ne;
        w->cap = cap;
    }
    char *nm = strdup(name);
    if (!nm) return cg_error(CG_ERR_NOMEM, "safetensors writer: out of memory adding '%s'", name);
    cg_safetensors_wentry *e = &w->entries[w->count++];
    memset(e, 0, sizeof *e);
    e->name = nm;
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < CG_ST_MAX_DIMS; i++) e->shape[i] = i < ndim ? shape[i] : 1;
    e->nbytes = nbytes;
    e->data = data;
    return CG_OK;
}

cg_status cg_safetensors_writer_add_tensor(cg_safetensors_writer *w, const char *name, const cg_tensor *t) {
    if (!t) return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: NULL tensor");
    if (!name) name = t->name;
    if (!name) return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: tensor has no name");
    if (t->dtype != CG_F32 && t->dtype != CG_I32)
        return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: tensor '%s': invalid dtype %d", name, (int)t->dtype);
    if (t->ndim < 1 || t->ndim > CG_MAX_DIMS)
        return cg_error(CG_ERR_SHAPE, "safetensors writer: tensor '%s': %d dimensions (1..%d supported)", name,
                        t->ndim, CG_MAX_DIMS);
    return cg_safetensors_writer_add(w, name, cg_st_dtype_of(t->dtype), t->ndim, t->shape, t->data);
}

cg_status cg_safetensors_writer_set_metadata(cg_safetensors_writer *w, const char *key, const char *value) {
    if (!key || !value) return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: NULL metadata key or value");
    if (!utf8_valid(key) || !utf8_valid(value))
        return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: metadata '%s' is not valid UTF-8",
                        utf8_valid(key) ? key : "?");
    char *v = strdup(value);
    if (!v) return cg_error(CG_ERR_NOMEM, "safetensors writer: out of memory setting metadata '%s'", key);
    for (int i = 0; i < w->meta_count; i++)
        if (strcmp(w->meta_keys[i], key) == 0) {
            free(w->meta_values[i]);
            w->meta_values[i] = v;
            return CG_OK;
        }
    if (w->meta_count == w->meta_cap) {
        int cap = w->meta_cap ? 2 * w->meta_cap : 8;
        char **nk = realloc(w->meta_keys, (size_t)cap * sizeof *nk);
        if (nk) w->meta_keys = nk;
        char **nv = nk ? realloc(w->meta_values, (size_t)cap * sizeof *nv) : NULL;
        if (nv) w->meta_values = nv;
        if (!nk || !nv) {
            free(v);
            return cg_error(CG_ERR_NOMEM, "safetensors writer: out of memory setting metadata '%s'", key);
        }
        w->meta_cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return cg_error(CG_ERR_NOMEM, "safetensors writer: out of memory setting metadata '%s'", key);
    }
    w->meta_keys[w->meta_count] = k;
    w->meta_values[w->meta_count] = v;
    w->meta_count++;
    return CG_OK;
}

/* Appends an exact unsigned integer to a JSON array. The integer is emitted as raw text so that it is
 * printed as plain digits at any size (cJSON prints large doubles in exponent form, which the
 * official reader rejects for integer fields). */
static bool json_add_uint(cJSON *arr, uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    cJSON *it = cJSON_CreateRaw(buf);
    return it && cJSON_AddItemToArray(arr, it);
}

/* Data layout order: larger elements first (stable), as the official library does, so that every tensor
 * starts at a multiple of its element size and can be used in place from an mmap. */
static void layout_order(const cg_safetensors_writer *w, int *ord) {
    int n = 0;
    for (int size = 8; size >= 1; size /= 2)
        for (int i = 0; i < w->count; i++) {
            int es = cg_st_dtype_size(w->entries[i].dtype);
            if (es == size || (size == 1 && es < 1)) ord[n++] = i;
        }
}

/* Builds the header JSON text (unpadded) in *out (free with cJSON_free). */
static cg_status build_header(const cg_safetensors_writer *w, const int *ord, const char *path, char **out) {
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && w->meta_count > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < w->meta_count; i++)
            ok = cJSON_AddStringToObject(meta, w->meta_keys[i], w->meta_values[i]) != NULL;
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < w->count; i++) {
        const cg_safetensors_wentry *e = &w->entries[ord[i]];
        if (offset + e->nbytes < offset || offset + e->nbytes > ST_MAX_BYTES) {
            cJSON_Delete(root);
            return cg_error(CG_ERR_INVALID_ARG, "%s: total tensor data exceeds 2^53 bytes", path);
        }
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = NULL, *offs = NULL;
        ok = t && cJSON_AddStringToObject(t, "dtype", cg_st_dtype_name(e->dtype)) &&
             (shape = cJSON_AddArrayToObject(t, "shape")) != NULL &&
             (offs = cJSON_AddArrayToObject(t, "data_offsets")) != NULL;
        for (int d = 0; ok && d < e->ndim; d++) ok = json_add_uint(shape, (uint64_t)e->shape[d]);
        ok = ok && json_add_uint(offs, offset) && json_add_uint(offs, offset + e->nbytes);
        offset += e->nbytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return cg_error(CG_ERR_NOMEM, "%s: out of memory building the safetensors header", path);
    if (strlen(text) + 8 > CG_ST_MAX_HEADER_BYTES) {
        cJSON_free(text);
        return cg_error(CG_ERR_INVALID_ARG, "%s: header would exceed the %llu-byte limit", path,
                        (unsigned long long)CG_ST_MAX_HEADER_BYTES);
    }
    *out = text;
    return CG_OK;
}

/* fsyncs the directory holding path so that the rename is durable. Best effort: errors are ignored
 * because the file is already in place when this runs. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

cg_status cg_safetensors_writer_write(const cg_safetensors_writer *w, const char *path) {
    if (!path || !*path) return cg_error(CG_ERR_INVALID_ARG, "safetensors writer: empty output path");
    char *header = NULL;
    int *ord = malloc(((size_t)w->count + 1) * sizeof *ord);
    if (!ord) return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    layout_order(w, ord);
    cg_status s = build_header(w, ord, path, &header);
    if (s != CG_OK) {
        free(ord);
        return s;
    }
    size_t hlen = strlen(header);
    size_t pad = (8 - hlen % 8) % 8;
    uint64_t n = (uint64_t)(hlen + pad);
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)(n >> (8 * i));
    static const char spaces[8] = "       ";

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) {
        cJSON_free(header);
        free(ord);
        return cg_error(CG_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    /* O_NOFOLLOW: never write through a stale symlink left at the temporary name */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        cJSON_free(header);
        free(ord);
        s = cg_error(CG_ERR_IO, "%s: cannot create temporary file '%s': %s", path, tmp, strerror(e));
        free(tmp);
        return s;
    }
    FILE *f = fdopen(fd, "wb");
    const char *what = "fdopen";
    bool ok = f != NULL;
    if (!ok) close(fd);
    if (ok) {
        what = "write";
        ok = fwrite(lenbuf, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen &&
             (pad == 0 || fwrite(spaces, 1, pad, f) == pad);
        for (int i = 0; ok && i < w->count; i++) {
            size_t nb = (size_t)w->entries[ord[i]].nbytes;
            if (nb) ok = fwrite(w->entries[ord[i]].data, 1, nb, f) == nb;
        }
    }
    if (ok) what = "flush", ok = fflush(f) == 0;
    if (ok) what = "fsync", ok = fsync(fileno(f)) == 0;
    int e = errno;
    if (f) {
        int rc = fclose(f); /* closes fd whatever the result */
        if (ok && rc != 0) what = "close", ok = false, e = errno;
    }
    if (ok) {
        what = "rename";
        ok = rename(tmp, path) == 0;
        e = errno;
    }
    cJSON_free(header);
    free(ord);
    if (!ok) {
        unlink(tmp);
        s = cg_error(CG_ERR_IO, "%s: %s failed: %s", path, what, strerror(e ? e : EIO));
        free(tmp);
        return s;
    }
    free(tmp);
    sync_parent_dir(path);
    cg_remove_stale_temps(path);
    return CG_OK;
}

int cg_remove_stale_temps(const char *path) {
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *base = slash ? slash + 1 : path;
    if (!base || !*base) return 0;
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    DIR *d = dir ? opendir(dir) : NULL;
    free(dir);
    if (!d) return 0;
    const size_t bl = strlen(base);
    int removed = 0;
    for (const struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *nm = e->d_name, *digits = nm + bl + 5;
        if (strncmp(nm, base, bl) != 0 || strncmp(nm + bl, ".tmp.", 5) != 0) continue;
        if (*digits < '0' || *digits > '9') continue;
        char *end = NULL;
        errno = 0;
        long long pid = strtoll(digits, &end, 10);
        if (*end != '\0' || errno != 0 || pid <= 0 || pid > INT_MAX || pid == (long long)getpid()) continue;
        /* only when no such process exists: a live writer's file (or one of another user's process,
         * EPERM) is left alone */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        if (unlinkat(dirfd(d), nm, 0) == 0) removed++;
    }
    closedir(d);
    return removed;
}
