#include "cellgraph/arena.h"

#include <stdlib.h>
#include <string.h>

#define CG_ARENA_ALIGN 64

struct cg_arena_chunk {
    cg_arena_chunk *next;
    size_t cap;
    size_t used;
    unsigned char *base; /* aligned start of the usable bytes */
};

static cg_arena_chunk *chunk_new(cg_arena *a, size_t cap) {
    /* header and payload in one aligned allocation */
    size_t hdr = (sizeof(cg_arena_chunk) + CG_ARENA_ALIGN - 1) & ~(size_t)(CG_ARENA_ALIGN - 1);
    void *mem = NULL;
    if (posix_memalign(&mem, CG_ARENA_ALIGN, hdr + cap) != 0) {
        cg_error(CG_ERR_NOMEM, "out of memory: the activation arena could not grow by %zu bytes", hdr + cap);
        return NULL;
    }
    cg_arena_chunk *c = mem;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    c->base = (unsigned char *)mem + hdr;
    a->mallocs++;
    return c;
}

static void chunks_free(cg_arena_chunk *c) {
    while (c) {
        cg_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
}

cg_status cg_arena_init(cg_arena *a, size_t initial_bytes) {
    memset(a, 0, sizeof *a);
    if (initial_bytes > 0) {
        a->head = chunk_new(a, initial_bytes);
        if (!a->head) return CG_ERR_NOMEM;
    }
    return CG_OK;
}

void *cg_arena_alloc(cg_arena *a, size_t bytes) {
    size_t need = (bytes + CG_ARENA_ALIGN - 1) & ~(size_t)(CG_ARENA_ALIGN - 1);
    if (need == 0) need = CG_ARENA_ALIGN;
    if (!a->head || a->head->used + need > a->head->cap) {
        /* spill chunks: a quarter of the current block (at least 1 MiB), so that a step slightly larger
         * than the last does not reserve (and later fault in) twice the whole arena */
        size_t cap = a->head ? a->head->cap / 4 : ((size_t)1 << 20);
        if (cap < ((size_t)1 << 20)) cap = (size_t)1 << 20;
        if (cap < need) cap = need;
        cg_arena_chunk *c = chunk_new(a, cap);
        if (!c) return NULL;
        c->next = a->head;
        a->head = c;
    }
    void *p = a->head->base + a->head->used;
    a->head->used += need;
    a->used_total += need;
    if (a->used_total > a->high_water) a->high_water = a->used_total;
    return p;
}

void *cg_arena_calloc(cg_arena *a, size_t bytes) {
    void *p = cg_arena_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

cg_status cg_arena_reset(cg_arena *a) {
    if (a->head && a->head->next) {
        /* spilled: consolidate into one block of the high-water size plus 25% headroom, so that steps
         * whose size varies a little (incremental evaluation) do not spill and consolidate again */
        chunks_free(a->head);
        a->head = chunk_new(a, a->high_water + a->high_water / 4);
        if (!a->head) return CG_ERR_NOMEM;
    }
    if (a->head) a->head->used = 0;
    a->used_total = 0;
    return CG_OK;
}

void cg_arena_free(cg_arena *a) {
    chunks_free(a->head);
    a->head = NULL;
    a->used_total = 0;
}

uint64_t cg_arena_mallocs(const cg_arena *a) { return a->mallocs; }
