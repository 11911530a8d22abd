/* cellgraph/error.h: status codes and the per-thread error message.
 *
 * Every fallible function in cellgraph returns a cg_status (or NULL for constructors, with the status
 * recorded the same way). On failure it also sets a per-thread message that says what went wrong and
 * where (file and line of the input, tensor name, shape, ...). The message stays until the next error
 * on the same thread. Library code never prints and never calls exit().
 */
#ifndef CELLGRAPH_ERROR_H
#define CELLGRAPH_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cg_status {
    CG_OK = 0,
    CG_ERR_INVALID_ARG, /* an argument is out of range or NULL where it may not be */
    CG_ERR_SHAPE,       /* tensor shapes or dtypes do not fit the operation */
    CG_ERR_NOMEM,       /* an allocation failed */
    CG_ERR_IO,          /* open/read/write/rename/mmap failed (errno text in the message) */
    CG_ERR_FORMAT,      /* a file's contents are malformed (truncated, bad header, bad value) */
    CG_ERR_NOT_FOUND,   /* a named item (tensor, parameter, gene, file) does not exist */
    CG_ERR_STATE,       /* the call is not valid in the object's current state */
} cg_status;

/* Short fixed name of a status, e.g. "shape error". Never NULL. */
const char *cg_status_name(cg_status s);

/* The calling thread's last error message ("" when none). Valid until the next error on this thread. */
const char *cg_last_error(void);

/* The calling thread's last error status (CG_OK when none since cg_clear_error). */
cg_status cg_last_status(void);

/* Clears the calling thread's error status and message. */
void cg_clear_error(void);

/* Records status s with a printf-style message for the calling thread and returns s, so that library
 * code can write `return cg_error(CG_ERR_SHAPE, "matmul: %s", ...);`. The message is truncated to
 * 1023 bytes. */
cg_status cg_error(cg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
cg_status cg_verror(cg_status s, const char *fmt, va_list ap);

/* Records status s with a printf-style prefix put before the current message ("prefix: old message"),
 * for callers that add context to an error from a lower layer. Returns s. */
cg_status cg_error_wrap(cg_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
