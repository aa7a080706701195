/*
 * Min-heap of intrusive one-shot timers (include/mm/timer.h), ordered by (deadline, arming
 * order). Each timer stores its heap index plus one (0 = not armed), so cancel and re-arm remove
 * from the middle in O(log n) without a search. mm_timer_heap_run disarms a timer before calling
 * it and looks at the heap afresh after every callback, so callbacks may change it freely.
 */
#include <stdlib.h>

#include "mm/timer.h"

static bool
earlier(const mm_timer *a, const mm_timer *b)
{
    return a->deadline_ns < b->deadline_ns || (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static void
place(mm_timer_heap *heap, size_t i, mm_timer *timer)
{
    heap->items[i] = timer;
    timer->heap_index = i + 1;
}

static void
sift_up(mm_timer_heap *heap, size_t i)
{
    mm_timer *timer = heap->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(timer, heap->items[parent]))
            break;
        place(heap, i, heap->items[parent]);
        i = parent;
    }
    place(heap, i, timer);
}

static void
sift_down(mm_timer_heap *heap, size_t i)
{
    mm_timer *timer = heap->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap->len)
            break;
        if (child + 1 < heap->len && earlier(heap->items[child + 1], heap->items[child]))
            child++;
        if (!earlier(heap->items[child], timer))
            break;
        place(heap, i, heap->items[child]);
        i = child;
    }
    place(heap, i, timer);
}

void
mm_timer_heap_init(mm_timer_heap *heap)
{
    *heap = (mm_timer_heap){0};
}

void
mm_timer_heap_dispose(mm_timer_heap *heap)
{
    if (heap == NULL)
        return;
    for (size_t i = 0; i < heap->len; i++)
        heap->items[i]->heap_index = 0;
    free(heap->items);
    mm_timer_heap_init(heap);
}

void
mm_timer_heap_cancel(mm_timer_heap *heap, mm_timer *timer)
{
    if (timer->heap_index == 0)
        return;
    size_t i = timer->heap_index - 1;
    timer->heap_index = 0;
    mm_timer *last = heap->items[--heap->len];
    if (i == heap->len)
        return;
    place(heap, i, last);
    if (i > 0 && earlier(last, heap->items[(i - 1) / 2]))
        sift_up(heap, i);
    else
        sift_down(heap, i);
}

mm_err
mm_timer_heap_arm(mm_timer_heap *heap, mm_timer *timer, uint64_t deadline_ns, mm_timer_cb cb)
{
    if (cb == NULL)
        return MM_ERR_INVALID;
    /* an armed timer leaves a free place behind, so only a new one may need room */
    mm_timer_heap_cancel(heap, timer);
    if (heap->len == heap->cap) {
        size_t cap = heap->cap == 0 ? 64 : heap->cap * 2;
        mm_timer **items = realloc(heap->items, cap * sizeof(*items));
        if (items == NULL)
            return MM_ERR_NOMEM;
        heap->items = items;
        heap->cap = cap;
    }
    timer->deadline_ns = deadline_ns;
    timer->seq = heap->next_seq++;
    timer->cb = cb;
    place(heap, heap->len++, timer);
    sift_up(heap, heap->len - 1);
    return MM_OK;
}

mm_timer *
mm_timer_heap_peek(const mm_timer_heap *heap)
{
    return heap->len > 0 ? heap->items[0] : NULL;
}

size_t
mm_timer_heap_run(mm_timer_heap *heap, uint64_t now_ns, size_t max)
{
    size_t ran = 0;
    while (ran < max && heap->len > 0 && heap->items[0]->deadline_ns <= now_ns) {
        mm_timer *timer = heap->items[0];
        mm_timer_heap_cancel(heap, timer);
        ran++;
        timer->cb(timer); /* may arm, cancel or free any timer, this one included */
    }
    return ran;
}

int64_t
mm_timer_heap_next_wait_ms(const mm_timer_heap *heap, uint64_t now_ns)
{
    if (heap->len == 0)
        return -1;
    uint64_t deadline = heap->items[0]->deadline_ns;
    if (deadline <= now_ns)
        return 0;
    uint64_t ns = deadline - now_ns;
    return (int64_t)(ns / 1000000 + (ns % 1000000 != 0)); /* at most ~1.8e13: fits */
}
