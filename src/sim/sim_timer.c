/*
 * Min-heap of intrusive one-shot timers (include/mm/sim_timer.h). Each timer remembers its heap
 * slot, so cancel and re-arm remove from the middle in O(log n). A timer is unarmed (slot =
 * SIZE_MAX) before its callback runs, so the callback may re-arm or free it.
 */
#include <stdlib.h>

#include "mm/sim_alloc.h"
#include "mm/sim_timer.h"

void
mm_sim_timer_init(mm_sim_timer *timer, mm_sim_timer_cb cb)
{
    timer->due_ms = 0;
    timer->seq = 0;
    timer->slot = SIZE_MAX;
    timer->cb = cb;
}

bool
mm_sim_timer_armed(const mm_sim_timer *timer)
{
    return timer->slot != SIZE_MAX;
}

void
mm_sim_timers_init(mm_sim_timers *timers)
{
    timers->heap = NULL;
    timers->len = 0;
    timers->cap = 0;
    timers->next_seq = 0;
}

void
mm_sim_timers_free(mm_sim_timers *timers)
{
    if (timers == NULL)
        return;
    for (size_t i = 0; i < timers->len; i++)
        timers->heap[i]->slot = SIZE_MAX;
    free(timers->heap);
    mm_sim_timers_init(timers);
}

static bool
earlier(const mm_sim_timer *a, const mm_sim_timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void
place(mm_sim_timers *timers, size_t slot, mm_sim_timer *timer)
{
    timers->heap[slot] = timer;
    timer->slot = slot;
}

static void
sift_up(mm_sim_timers *timers, size_t slot)
{
    mm_sim_timer *timer = timers->heap[slot];
    while (slot > 0) {
        size_t parent = (slot - 1) / 2;
        if (!earlier(timer, timers->heap[parent]))
            break;
        place(timers, slot, timers->heap[parent]);
        slot = parent;
    }
    place(timers, slot, timer);
}

static void
sift_down(mm_sim_timers *timers, size_t slot)
{
    mm_sim_timer *timer = timers->heap[slot];
    for (;;) {
        size_t child = 2 * slot + 1;
        if (child >= timers->len)
            break;
        if (child + 1 < timers->len && earlier(timers->heap[child + 1], timers->heap[child]))
            child++;
        if (!earlier(timers->heap[child], timer))
            break;
        place(timers, slot, timers->heap[child]);
        slot = child;
    }
    place(timers, slot, timer);
}

void
mm_sim_timers_cancel(mm_sim_timers *timers, mm_sim_timer *timer)
{
    size_t slot = timer->slot;
    if (slot == SIZE_MAX)
        return;
    timer->slot = SIZE_MAX;
    mm_sim_timer *last = timers->heap[--timers->len];
    if (slot == timers->len)
        return;
    place(timers, slot, last);
    if (slot > 0 && earlier(last, timers->heap[(slot - 1) / 2]))
        sift_up(timers, slot);
    else
        sift_down(timers, slot);
}

void
mm_sim_timers_arm(mm_sim_timers *timers, mm_sim_timer *timer, uint64_t due_ms)
{
    mm_sim_timers_cancel(timers, timer);
    if (timers->len == timers->cap) {
        timers->cap = timers->cap == 0 ? 64 : timers->cap * 2;
        timers->heap = mm_sim_xrealloc(timers->heap, timers->cap * sizeof(*timers->heap));
    }
    timer->due_ms = due_ms;
    timer->seq = timers->next_seq++;
    timers->heap[timers->len] = timer;
    timers->len++;
    sift_up(timers, timers->len - 1);
}

size_t
mm_sim_timers_run(mm_sim_timers *timers, uint64_t now_ms, size_t max)
{
    size_t ran = 0;
    while (ran < max && timers->len > 0 && timers->heap[0]->due_ms <= now_ms) {
        mm_sim_timer *timer = timers->heap[0];
        mm_sim_timers_cancel(timers, timer);
        ran++;
        timer->cb(timer);
    }
    return ran;
}

int64_t
mm_sim_timers_next_wait(const mm_sim_timers *timers, uint64_t now_ms)
{
    if (timers->len == 0)
        return -1;
    uint64_t due = timers->heap[0]->due_ms;
    return due <= now_ms ? 0 : (int64_t)(due - now_ms);
}
