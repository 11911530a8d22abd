/* cellgraph/arena.h: a bump allocator for the activations of one step.
 *
 * Allocations are 64-byte aligned and live until cg_arena_reset. When a step needs more than the
 * current block, extra chunks are malloc'd; the next reset replaces everything with one block as large
 * as the step's high-water mark, so that once warm (after the first step of a given size) a step makes
 * no allocation at all. cg_arena_mallocs counts the malloc calls so tests can check that.
 */
#ifndef CELLGRAPH_ARENA_H
#define CELLGRAPH_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "cellgraph/error.h"

typedef struct cg_arena_chunk cg_arena_chunk;

typedef struct cg_arena {
    cg_arena_chunk *head;  /* chunk being filled; older chunks follow via ->next */
    size_t used_total;     /* bytes handed out since the last reset (all chunks) */
    size_t high_water;     /* max used_total seen since creation */
    uint64_t mallocs;      /* number of chunk allocations since creation */
} cg_arena;

/* Initialises an arena with a first block of initial_bytes (0 allowed: allocated on first use).
 * Errors: CG_ERR_NOMEM. */
cg_status cg_arena_init(cg_arena *a, size_t initial_bytes);

/* Returns `bytes` bytes, 64-byte aligned, uninitialised; NULL with CG_ERR_NOMEM recorded on failure. */
void *cg_arena_alloc(cg_arena *a, size_t bytes);

/* Same, zero-filled. */
void *cg_arena_calloc(cg_arena *a, size_t bytes);

/* Forgets every allocation. If the last step spilled into extra chunks (each a quarter of the block, at
 * least 1 MiB), they are replaced by one block of the high-water size plus 25% headroom (the only place a
 * warm arena allocates). Errors: CG_ERR_NOMEM. */
cg_status cg_arena_reset(cg_arena *a);

/* Frees all memory. Safe on a zeroed or already freed arena. */
void cg_arena_free(cg_arena *a);

/* Number of malloc calls the arena has made since cg_arena_init. */
uint64_t cg_arena_mallocs(const cg_arena *a);

#endif
