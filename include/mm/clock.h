/*
 * Time sources. Monotonic time drives timers and deadlines; wall-clock time is only used where
 * a protocol needs unix seconds (connect tokens).
 */
#ifndef MM_CLOCK_H
#define MM_CLOCK_H

#include <stdint.h>

/** Monotonic clock in nanoseconds (CLOCK_MONOTONIC). */
uint64_t mm_now_ns(void);

/** Monotonic clock in milliseconds. */
uint64_t mm_now_ms(void);

/** Wall clock, unix seconds. */
uint64_t mm_unix_seconds(void);

#endif
