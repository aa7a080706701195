/*
 * One-shot timers on a binary min-heap, driven by the owner's event loop: the loop asks how long
 * it may sleep (mm_sim_timers_next_wait) and runs what is due (mm_sim_timers_run). Timers are
 * embedded in the objects they belong to (intrusive), so arming never allocates except when the
 * heap grows (abort on failure, include/mm/sim_alloc.h), and cancelling is O(log n).
 *
 * Contract: a timer must be cancelled (or have fired) before the memory holding it is freed.
 * A callback may arm, cancel or free any timer, including its own. Not thread-safe.
 */
#ifndef MM_SIM_TIMER_H
#define MM_SIM_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mm_sim_timer mm_sim_timer;
typedef void (*mm_sim_timer_cb)(mm_sim_timer *timer);

struct mm_sim_timer {
    uint64_t due_ms;    /* monotonic milliseconds (mm_now_ms) */
    uint64_t seq;       /* arming order: equal deadlines fire first-armed first */
    size_t slot;        /* index in the heap, or SIZE_MAX when not armed */
    mm_sim_timer_cb cb; /* called once when due; find the owner with a container-of cast */
};

typedef struct mm_sim_timers {
    mm_sim_timer **heap;
    size_t len, cap;
    uint64_t next_seq;
} mm_sim_timers;

/** Prepares an unarmed timer that will call cb. */
void mm_sim_timer_init(mm_sim_timer *timer, mm_sim_timer_cb cb);

/** True while the timer is armed. */
bool mm_sim_timer_armed(const mm_sim_timer *timer);

/** An empty set of timers. */
void mm_sim_timers_init(mm_sim_timers *timers);

/** Frees the heap. Armed timers are simply forgotten (their owners free them). Accepts NULL. */
void mm_sim_timers_free(mm_sim_timers *timers);

/** Arms timer to fire at due_ms; re-arms it if it was armed already. */
void mm_sim_timers_arm(mm_sim_timers *timers, mm_sim_timer *timer, uint64_t due_ms);

/** Disarms timer; harmless when it is not armed. */
void mm_sim_timers_cancel(mm_sim_timers *timers, mm_sim_timer *timer);

/** Runs up to max timers whose deadline is <= now_ms, earliest first; returns how many ran. */
size_t mm_sim_timers_run(mm_sim_timers *timers, uint64_t now_ms, size_t max);

/** Milliseconds until the earliest deadline (0 if overdue), or -1 when nothing is armed. */
int64_t mm_sim_timers_next_wait(const mm_sim_timers *timers, uint64_t now_ms);

#endif
