/* Clock helpers: see include/mm/clock.h. */
#include <time.h>

#include "mm/clock.h"

uint64_t
mm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
mm_now_ms(void)
{
    return mm_now_ns() / 1000000u;
}

uint64_t
mm_unix_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec;
}
