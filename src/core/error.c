/* Per-thread error text: the only mutable global state in cellgraph. */
#include "cellgraph/error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char tls_msg[1024];
static _Thread_local cg_status tls_status = CG_OK;

const char *cg_status_name(cg_status s) {
    switch (s) {
    case CG_OK: return "ok";
    case CG_ERR_INVALID_ARG: return "invalid argument";
    case CG_ERR_SHAPE: return "shape error";
    case CG_ERR_NOMEM: return "out of memory";
    case CG_ERR_IO: return "i/o error";
    case CG_ERR_FORMAT: return "format error";
    case CG_ERR_NOT_FOUND: return "not found";
    case CG_ERR_STATE: return "invalid state";
    }
    return "unknown error";
}

const char *cg_last_error(void) { return tls_msg; }

cg_status cg_last_status(void) { return tls_status; }

void cg_clear_error(void) {
    tls_msg[0] = '\0';
    tls_status = CG_OK;
}

cg_status cg_verror(cg_status s, const char *fmt, va_list ap) {
    vsnprintf(tls_msg, sizeof tls_msg, fmt, ap);
    tls_status = s;
    return s;
}

cg_status cg_error_wrap(cg_status s, const char *fmt, ...) {
    char old[sizeof tls_msg];
    memcpy(old, tls_msg, sizeof old); /* the message is both an input and the output */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tls_msg, sizeof tls_msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 3 < sizeof tls_msg && old[0]) {
        /* append ": old", truncated to the buffer */
        size_t k = strnlen(old, sizeof tls_msg - (size_t)n - 3);
        tls_msg[n] = ':';
        tls_msg[n + 1] = ' ';
        memcpy(tls_msg + n + 2, old, k);
        tls_msg[n + 2 + k] = '\0';
    }
    tls_status = s;
    return s;
}

cg_status cg_error(cg_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cg_verror(s, fmt, ap);
    va_end(ap);
    return s;
}
