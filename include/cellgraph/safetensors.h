/* cellgraph/safetensors.h: reading and writing safetensors files.
 *
 * Format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes]  N, the header length, an unsigned 64-bit little-endian integer
 *   [N bytes]  the header: UTF-8 JSON, one object
 *   [rest]     the data buffer: the raw bytes of every tensor, little-endian, row-major
 *
 * The header maps each tensor name to
 *     {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 * where [begin, end) is a byte range relative to the start of the data buffer (byte 8+N of the file)
 * and end - begin = product(shape) * element size. A shape of [] is a scalar (one element). The
 * optional key "__metadata__" maps to an object of string -> string (free-form: framework, format,
 * training step, ...). Writers pad the header with trailing spaces so that N is a multiple of 8 and the
 * data buffer starts 8-byte aligned in the file (and so in an mmap of it).
 *
 * Reader: cg_safetensors_open maps the file read-only and validates the whole header up front, so
 * that every accessor afterwards is infallible apart from lookups by name/index. Nothing is copied:
 * tensor data pointers point into the mapping and stay valid until cg_safetensors_close. The data
 * buffer always starts 8-byte aligned in memory: a valid file whose header length leaves it unaligned
 * in the file (the format allows any N) is read into an aligned read-only copy instead of mapped, so a
 * tensor whose data offset is a multiple of its element size can be used in place. Typical use:
 *
 *     cg_safetensors *st;
 *     if (cg_safetensors_open("model.safetensors", &st) != CG_OK) { report cg_last_error(); }
 *     cg_tensor w;
 *     if (cg_safetensors_get_tensor(st, "layers.0.weight", &w) != CG_OK) { ... }
 *     ... use w (read-only) ...
 *     cg_safetensors_close(st);
 *
 * Writer: collect entries (data is referenced, not copied), then write. The file is written to a
 * temporary file next to the target and renamed over it only when every byte is on disk, so a failed
 * or interrupted write never leaves a half-written target behind:
 *
 *     cg_safetensors_writer w;
 *     cg_safetensors_writer_init(&w);
 *     cg_safetensors_writer_add_tensor(&w, "layers.0.weight", &t);
 *     cg_safetensors_writer_set_metadata(&w, "format", "pt");
 *     cg_status s = cg_safetensors_writer_write(&w, "model.safetensors");
 *     cg_safetensors_writer_free(&w);
 *
 * Byte order: the format is little-endian and cellgraph only supports little-endian hosts, so tensor
 * bytes are used as they are.
 */
#ifndef CELLGRAPH_SAFETENSORS_H
#define CELLGRAPH_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "cellgraph/error.h"
#include "cellgraph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most dimensions a safetensors tensor may have here (the format itself has no limit; 8 covers every
 * real model). Tensors read as cg_tensor views are further limited to CG_MAX_DIMS. */
#define CG_ST_MAX_DIMS 8

/* Largest header accepted by the reader, in bytes (the official implementation's limit). */
#define CG_ST_MAX_HEADER_BYTES 100000000ull

/* ---------------------------------------------------------------------------------------------------
 * dtypes
 * ------------------------------------------------------------------------------------------------- */

/* The safetensors element types known to cellgraph. The JSON name of each is the suffix
 * (CG_ST_F32 <-> "F32", CG_ST_BOOL <-> "BOOL"). BOOL is one byte per element (0 or 1). */
typedef enum cg_st_dtype {
    CG_ST_BOOL = 0,
    CG_ST_U8,
    CG_ST_I8,
    CG_ST_F8_E5M2,
    CG_ST_F8_E4M3,
    CG_ST_I16,
    CG_ST_U16,
    CG_ST_F16,
    CG_ST_BF16,
    CG_ST_I32,
    CG_ST_U32,
    CG_ST_F32,
    CG_ST_F64,
    CG_ST_I64,
    CG_ST_U64,
    CG_ST_DTYPE_COUNT /* number of codes, not a dtype */
} cg_st_dtype;

/* JSON name of d ("F32", "BF16", ...), or "?" when d is not a valid code. Never NULL. */
const char *cg_st_dtype_name(cg_st_dtype d);

/* Bytes per element of d (1, 2, 4 or 8), or 0 when d is not a valid code. */
int cg_st_dtype_size(cg_st_dtype d);

/* Looks up a JSON dtype name (case-sensitive, as in the format). Sets *out on success.
 * Errors: CG_ERR_NOT_FOUND (unknown name; *out untouched), CG_ERR_INVALID_ARG (NULL argument). */
cg_status cg_st_dtype_from_name(const char *name, cg_st_dtype *out);

/* The safetensors dtype of a cellgraph tensor dtype (CG_F32 -> CG_ST_F32, CG_I32 -> CG_ST_I32). */
cg_st_dtype cg_st_dtype_of(cg_dtype d);

/* ---------------------------------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------------------------------- */

/* An open, validated safetensors file (opaque). */
typedef struct cg_safetensors cg_safetensors;

/* Description of one tensor of an open file. Every pointer stays valid until cg_safetensors_close. */
typedef struct cg_safetensors_info {
    const char *name;                /* tensor name (NUL-terminated UTF-8) */
    cg_st_dtype dtype;
    int ndim;                        /* 0..CG_ST_MAX_DIMS; 0 is a scalar */
    int64_t shape[CG_ST_MAX_DIMS];   /* entries past ndim are 1 */
    int64_t numel;                   /* product of shape (1 for a scalar) */
    uint64_t offset;                 /* data_offsets[0], relative to the data buffer */
    uint64_t nbytes;                 /* data_offsets[1] - data_offsets[0] = numel * element size */
    const void *data;                /* the bytes, inside the read-only mapping: aligned to the element size
                                        when offset is a multiple of it (the data buffer is 8-byte aligned) */
} cg_safetensors_info;

/* Opens path, maps it read-only (nothing is copied) and validates the header:
 *   - the file holds at least 8 bytes and 8+N bytes, N <= CG_ST_MAX_HEADER_BYTES;
 *   - the header is valid UTF-8 without NUL bytes, and one JSON object (trailing whitespace allowed);
 *   - every entry other than "__metadata__" is an object with a known "dtype" string, a "shape" array
 *     of 0..CG_ST_MAX_DIMS non-negative integers and a "data_offsets" array of two integers
 *     begin <= end <= size of the data buffer, with end - begin = numel * element size; unknown extra
 *     fields in an entry are ignored;
 *   - no two tensors share a name, and no two non-empty tensors' byte ranges overlap (ranges need not
 *     be in order or cover the whole buffer);
 *   - "__metadata__", when present, appears once and is an object whose values are all strings.
 * On success *out is the open file (free with cg_safetensors_close); on failure *out is NULL.
 * The file type is checked before anything is read, without blocking: a named pipe, a device or a
 * directory is an error at once (never a wait for a writer).
 * Errors: CG_ERR_IO (cannot open/stat/map/read the file, or it is not a regular file (a directory, a named
 *         pipe); message has the path and the strerror text or the file type),
 *         CG_ERR_FORMAT (any violation above; the message names the path and the offending tensor or
 *         field, and says "truncated" when the file is shorter than 8 or 8+N bytes),
 *         CG_ERR_NOMEM, CG_ERR_INVALID_ARG (NULL path or out). */
cg_status cg_safetensors_open(const char *path, cg_safetensors **out);

/* Unmaps the file and frees st. Every pointer obtained from st (infos, names, metadata strings,
 * cg_tensor views) becomes invalid. Safe on NULL. */
void cg_safetensors_close(cg_safetensors *st);

/* The path st was opened with. */
const char *cg_safetensors_path(const cg_safetensors *st);

/* Number of tensors in the file ("__metadata__" is not a tensor). */
int cg_safetensors_count(const cg_safetensors *st);

/* Copies the description of tensor number index (0..count-1, in the order of the JSON header) into *out.
 * Errors: CG_ERR_INVALID_ARG (index out of range or NULL out). */
cg_status cg_safetensors_info_at(const cg_safetensors *st, int index, cg_safetensors_info *out);

/* Copies the description of the tensor called name into *out (binary search, O(log count)).
 * Errors: CG_ERR_NOT_FOUND (no such tensor; message names the tensor and the file),
 *         CG_ERR_INVALID_ARG (NULL argument). */
cg_status cg_safetensors_find(const cg_safetensors *st, const char *name, cg_safetensors_info *out);

/* Fills *out with a cg_tensor view of the tensor called name: dtype CG_F32 or CG_I32, the file's shape
 * (a scalar becomes shape [1]), data pointing into the mapping (no copy), grad NULL, requires_grad
 * false, name pointing at the tensor's name inside st. The data is READ-ONLY: the mapping is
 * PROT_READ, so writing through out->data crashes the process; copy the tensor to modify it.
 * *out is only written on success.
 * Errors: CG_ERR_NOT_FOUND (no such tensor),
 *         CG_ERR_SHAPE ("dtype X not supported as a tensor" for anything but F32/I32, or more than
 *         CG_MAX_DIMS dimensions),
 *         CG_ERR_FORMAT (the data of a non-empty tensor is not 4-byte aligned: its data offset is not a
 *         multiple of 4),
 *         CG_ERR_INVALID_ARG (NULL argument). */
cg_status cg_safetensors_get_tensor(const cg_safetensors *st, const char *name, cg_tensor *out);

/* The "__metadata__" value stored under key, or NULL when the file has no such key (no error is
 * recorded for a missing key). Valid until cg_safetensors_close. */
const char *cg_safetensors_metadata(const cg_safetensors *st, const char *key);

/* Number of "__metadata__" entries (0 when the header has none). */
int cg_safetensors_metadata_count(const cg_safetensors *st);

/* Key and value of metadata entry number index (0..metadata_count-1, in header order); either of
 * key/value may be NULL when not wanted. The strings are valid until cg_safetensors_close.
 * Errors: CG_ERR_INVALID_ARG (index out of range). */
cg_status cg_safetensors_metadata_at(const cg_safetensors *st, int index, const char **key,
                                     const char **value);

/* ---------------------------------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------------------------------- */

/* One tensor queued for writing. The name is owned by the writer; data is the caller's. */
typedef struct cg_safetensors_wentry {
    char *name;
    cg_st_dtype dtype;
    int ndim;
    int64_t shape[CG_ST_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
} cg_safetensors_wentry;

/* A list of tensors and metadata to write. Fields are for reading only; use the functions below. */
typedef struct cg_safetensors_writer {
    int count, cap;                  /* tensors queued, capacity of entries */
    cg_safetensors_wentry *entries;  /* in the order added */
    int meta_count, meta_cap;
    char **meta_keys;                /* owned copies, in the order first set */
    char **meta_values;              /* owned copies */
} cg_safetensors_writer;

/* Makes w an empty writer (no allocation). */
void cg_safetensors_writer_init(cg_safetensors_writer *w);

/* Queues a tensor of dtype with ndim (0..CG_ST_MAX_DIMS) dimensions shape[0..ndim) (shape may be NULL
 * when ndim is 0), whose numel * element size bytes are at data. The name is copied; data is NOT copied
 * and must stay valid and unchanged until cg_safetensors_writer_write returns (data may be NULL only
 * when the tensor has zero bytes). The writer lays tensors out by element size (8-byte types first, then
 * 4, 2, 1; order added within a size), so every tensor is aligned to its element size in the file.
 * Errors: CG_ERR_INVALID_ARG (NULL/empty name, name "__metadata__", name not valid UTF-8, duplicate name,
 *         invalid dtype code, NULL data for a non-empty tensor),
 *         CG_ERR_SHAPE (ndim out of range, a negative dimension, byte size overflowing 2^53),
 *         CG_ERR_NOMEM. */
cg_status cg_safetensors_writer_add(cg_safetensors_writer *w, const char *name, cg_st_dtype dtype,
                                    int ndim, const int64_t *shape, const void *data);

/* Queues cellgraph tensor t (F32 or I32, its ndim and shape, t->data not copied) under name, or under
 * t->name when name is NULL. Errors: those of cg_safetensors_writer_add; CG_ERR_INVALID_ARG also when
 * t is NULL or both name and t->name are NULL. */
cg_status cg_safetensors_writer_add_tensor(cg_safetensors_writer *w, const char *name, const cg_tensor *t);

/* Sets metadata key to value (both copied; setting a key again replaces its value).
 * Errors: CG_ERR_INVALID_ARG (NULL key or value, or either not valid UTF-8), CG_ERR_NOMEM. */
cg_status cg_safetensors_writer_set_metadata(cg_safetensors_writer *w, const char *key, const char *value);

/* Writes every queued tensor and the metadata to path. The header lists "__metadata__" first (when any
 * metadata is set), then the tensors in layout order (element size descending, then order added),
 * padded with spaces to a multiple of 8 bytes; the data follows with the tensors back to back in the
 * same order (no gaps), as the official library requires and does. The bytes go to the temporary file path + ".tmp.<pid>" in the same directory; every
 * write, the flush, fsync and close are checked, and only then is it renamed over path (and the
 * directory fsynced, best effort). On any failure the temporary file is removed and an existing file at
 * path is left untouched. w is not changed and may be written again.
 * Errors: CG_ERR_IO (create/write/flush/fsync/close/rename failed: message has the path and strerror
 *         text), CG_ERR_NOMEM, CG_ERR_INVALID_ARG (NULL or empty path, header larger than
 *         CG_ST_MAX_HEADER_BYTES, or more than 2^53 bytes of tensor data). */
cg_status cg_safetensors_writer_write(const cg_safetensors_writer *w, const char *path);

/* Removes the temporary files path + ".tmp.<pid>" left in path's directory by writers that were killed
 * before they could rename or remove them (SIGKILL, power loss): those whose <pid> (decimal digits only)
 * is not a running process (kill(pid, 0) fails with ESRCH). A file of a live process, of this process,
 * or of any other name is left alone. cg_safetensors_writer_write calls it after every successful write;
 * other writers that use the same naming (predict -o) call it too. Best effort: returns the number of
 * files removed, 0 when the directory cannot be read. */
int cg_remove_stale_temps(const char *path);

/* Frees the writer's copies of names and metadata and makes it empty again. Safe on an initialised
 * writer that was already freed. */
void cg_safetensors_writer_free(cg_safetensors_writer *w);

#ifdef __cplusplus
}
#endif
#endif
