/*
 * One-shot timers on a binary min-heap, driven by their owner's loop: the loop asks how long it
 * may sleep (mm_timer_heap_next_wait_ms) and runs what is due (mm_timer_heap_run). Actors use
 * one through mm_timer_start/mm_timer_stop (include/mm/actor.h); the simulators drive one from
 * their event loop.
 *
 * Timers are intrusive, like libuv handles: an mm_timer is embedded in the object it serves, so
 * arming never allocates except when the heap grows, and a callback finds its owner with a
 * container-of cast. Each timer records its heap position, so cancelling and re-arming are
 * O(log n). Deadlines are monotonic nanoseconds (mm_now_ns, include/mm/clock.h); equal
 * deadlines fire in arming order.
 *
 * Contract: a timer must be cancelled (or have fired) before the memory holding it is freed.
 * A timer is disarmed before its callback runs, so the callback may arm, cancel or free any
 * timer, including its own. Not thread-safe: one owner thread per heap.
 */
#ifndef MM_TIMER_H
#define MM_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

typedef struct mm_timer mm_timer;

/** Called once when the timer is due, on the thread that runs the heap. */
typedef void (*mm_timer_cb)(mm_timer *timer);

/**
 * Zero-initialise it (a zeroed timer is unarmed); after it fired or was cancelled it may be
 * armed again or freed. The fields belong to the heap.
 */
struct mm_timer {
    uint64_t deadline_ns; /* monotonic, mm_now_ns() */
    uint64_t seq;         /* arming order: equal deadlines fire first-armed first */
    mm_timer_cb cb;
    size_t heap_index; /* 0 = not armed; else position in the heap + 1 */
};

/** True while the timer is armed. */
static inline bool
mm_timer_active(const mm_timer *timer)
{
    return timer->heap_index != 0;
}

typedef struct mm_timer_heap {
    mm_timer **items;
    size_t len, cap;
    uint64_t next_seq;
} mm_timer_heap;

/** An empty heap; nothing is allocated until the first arm. */
void mm_timer_heap_init(mm_timer_heap *heap);

/**
 * Disarms every timer (without calling it) and frees the storage; the heap is empty and
 * reusable afterwards. The timers themselves belong to their owners. Accepts NULL.
 */
void mm_timer_heap_dispose(mm_timer_heap *heap);

/**
 * Arms timer to call cb once deadline_ns (mm_now_ns() scale) has passed; re-arms it if it was
 * armed already (its earlier deadline is forgotten, and among equal deadlines it now counts as
 * armed last). MM_ERR_INVALID if cb is NULL. MM_ERR_NOMEM if the heap cannot grow, which only
 * happens to a timer that was not armed; it then stays unarmed.
 */
mm_err mm_timer_heap_arm(mm_timer_heap *heap, mm_timer *timer, uint64_t deadline_ns, mm_timer_cb cb);

/** Disarms timer; harmless when it is not armed. */
void mm_timer_heap_cancel(mm_timer_heap *heap, mm_timer *timer);

/** The armed timer that fires next, or NULL when none is armed. */
mm_timer *mm_timer_heap_peek(const mm_timer_heap *heap);

/**
 * Fires up to max timers whose deadline is <= now_ns, earliest first, each disarmed before its
 * callback runs; returns how many fired. A timer that a callback arms for a deadline <= now_ns
 * fires in the same run (max bounds that).
 */
size_t mm_timer_heap_run(mm_timer_heap *heap, uint64_t now_ns, size_t max);

/**
 * Milliseconds from now_ns until the earliest deadline, rounded up (so a loop that sleeps that
 * long wakes with the timer due): 0 if it is already due, -1 when no timer is armed.
 */
int64_t mm_timer_heap_next_wait_ms(const mm_timer_heap *heap, uint64_t now_ns);

#endif
