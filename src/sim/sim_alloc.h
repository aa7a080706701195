/*
 * Allocation for the simulators (src/sim/). Policy: abort-in-wrapper. A simulator that cannot
 * allocate a few hundred bytes is of no use to a test or a benchmark, and one policy keeps every
 * caller free of out-of-memory branches. What a client can make the simulator allocate is bounded
 * elsewhere (request body size, --max-sessions, bounded queues), so these never fail on bad input.
 * The core's id maps and timer heaps (include/mm/idmap.h, timer.h) return MM_ERR_NOMEM instead;
 * the simulators reach them through the wrappers at the end, which apply this policy.
 */
#ifndef MM_SIM_ALLOC_H
#define MM_SIM_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "mm/idmap.h"
#include "mm/timer.h"

/** malloc that logs and aborts on failure; never returns NULL (n == 0 allocates one byte). */
void *mm_sim_xmalloc(size_t n);

/** calloc that logs and aborts on failure (overflow of count * size included). */
void *mm_sim_xcalloc(size_t count, size_t size);

/** realloc that logs and aborts on failure. */
void *mm_sim_xrealloc(void *p, size_t n);

/** strdup that logs and aborts on failure; NULL in gives NULL out. */
char *mm_sim_xstrdup(const char *s);

/** Makes jansson allocate through mm_sim_xmalloc, so JSON building never half-fails. */
void mm_sim_json_use_xmalloc(void);

/** mm_idmap_put that logs and aborts on failure (key must not be 0). */
void mm_sim_xidmap_put(mm_idmap *map, uint64_t key, void *value);

/**
 * mm_timer_heap_arm for a deadline delay_ms from now (mm_now_ns); logs and aborts on failure
 * (cb must not be NULL).
 */
void mm_sim_xtimer_arm(mm_timer_heap *heap, mm_timer *timer, uint64_t delay_ms, mm_timer_cb cb);

#endif
