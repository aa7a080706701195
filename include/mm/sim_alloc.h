/*
 * Allocation for the simulators (src/sim/). Policy: abort-in-wrapper. A simulator that cannot
 * allocate a few hundred bytes is of no use to a test or a benchmark, and one policy keeps every
 * caller free of out-of-memory branches. What a client can make the simulator allocate is bounded
 * elsewhere (request body size, --max-sessions, bounded queues), so these never fail on bad input.
 */
#ifndef MM_SIM_ALLOC_H
#define MM_SIM_ALLOC_H

#include <stddef.h>

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

#endif
