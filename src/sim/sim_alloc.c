/*
 * Abort-on-failure allocation wrappers for the simulators (src/sim/sim_alloc.h), for plain
 * memory and for the core's id maps and timer heaps.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "sim_alloc.h"

static void
out_of_memory(size_t n)
{
    mm_error("out of memory allocating %zu bytes; aborting", n);
    abort();
}

void *
mm_sim_xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL)
        out_of_memory(n);
    return p;
}

void *
mm_sim_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
    if (p == NULL)
        out_of_memory(count * size);
    return p;
}

void *
mm_sim_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL)
        out_of_memory(n);
    return q;
}

char *
mm_sim_xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = mm_sim_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

void
mm_sim_json_use_xmalloc(void)
{
    json_set_alloc_funcs(mm_sim_xmalloc, free);
}

void
mm_sim_xidmap_put(mm_idmap *map, uint64_t key, void *value)
{
    mm_err err = mm_idmap_put(map, key, value);
    if (err != MM_OK) {
        mm_error("id map: cannot store id %llu (%s); aborting", (unsigned long long)key, mm_err_str(err));
        abort();
    }
}

void
mm_sim_xtimer_arm(mm_timer_heap *heap, mm_timer *timer, uint64_t delay_ms, mm_timer_cb cb)
{
    mm_err err = mm_timer_heap_arm(heap, timer, mm_now_ns() + delay_ms * 1000000u, cb);
    if (err != MM_OK) {
        mm_error("timer heap: cannot arm a timer (%s); aborting", mm_err_str(err));
        abort();
    }
}
