/*
 * Binary min-heap of mm_timer pointers ordered by (deadline, start order). Owned by one
 * thread; each timer records its position so that stopping it is O(log n).
 */
#ifndef MM__TIMER_HEAP_H
#define MM__TIMER_HEAP_H

#include <stddef.h>

#include "mm/actor.h"

typedef struct mm__timer_heap {
    mm_timer **items;
    size_t len, cap;
    uint64_t next_seq;
} mm__timer_heap;

/** Inserts or moves timer; returns MM_ERR_NOMEM only if the heap cannot grow. */
mm_err mm__timer_heap_push(mm__timer_heap *heap, mm_timer *timer, uint64_t deadline_ns);
void mm__timer_heap_remove(mm__timer_heap *heap, mm_timer *timer);
/** The earliest timer, or NULL. */
mm_timer *mm__timer_heap_peek(const mm__timer_heap *heap);
/** Disarms every timer and frees the storage. */
void mm__timer_heap_clear(mm__timer_heap *heap);

#endif
