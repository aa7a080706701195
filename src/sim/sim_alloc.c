/*
 * Abort-on-failure allocation wrappers for the simulators (include/mm/sim_alloc.h).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/log.h"
#include "mm/sim_alloc.h"

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
