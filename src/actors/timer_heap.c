/* Timer min-heap; see timer_heap.h. Indices in mm_timer are stored plus one (0 = not armed). */
#include <stdlib.h>

#include "timer_heap.h"

static int
earlier(const mm_timer *a, const mm_timer *b)
{
    return a->deadline_ns < b->deadline_ns || (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static void
place(mm__timer_heap *h, size_t i, mm_timer *t)
{
    h->items[i] = t;
    t->heap_index = (uint32_t)i + 1;
}

static void
sift_up(mm__timer_heap *h, size_t i)
{
    mm_timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, h->items[parent]))
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void
sift_down(mm__timer_heap *h, size_t i)
{
    mm_timer *t = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && earlier(h->items[child + 1], h->items[child]))
            child++;
        if (!earlier(h->items[child], t))
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, t);
}

mm_err
mm__timer_heap_push(mm__timer_heap *h, mm_timer *t, uint64_t deadline_ns)
{
    if (t->heap_index != 0)
        mm__timer_heap_remove(h, t);
    if (h->len == h->cap) {
        size_t cap = h->cap == 0 ? 64 : h->cap * 2;
        mm_timer **items = realloc(h->items, cap * sizeof(*items));
        if (items == NULL)
            return MM_ERR_NOMEM;
        h->items = items;
        h->cap = cap;
    }
    t->deadline_ns = deadline_ns;
    t->seq = h->next_seq++;
    place(h, h->len++, t);
    sift_up(h, h->len - 1);
    return MM_OK;
}

void
mm__timer_heap_remove(mm__timer_heap *h, mm_timer *t)
{
    if (t->heap_index == 0)
        return;
    size_t i = t->heap_index - 1;
    t->heap_index = 0;
    mm_timer *last = h->items[--h->len];
    if (i == h->len)
        return;
    place(h, i, last);
    if (i > 0 && earlier(last, h->items[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

mm_timer *
mm__timer_heap_peek(const mm__timer_heap *h)
{
    return h->len > 0 ? h->items[0] : NULL;
}

void
mm__timer_heap_clear(mm__timer_heap *h)
{
    for (size_t i = 0; i < h->len; i++)
        h->items[i]->heap_index = 0;
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
