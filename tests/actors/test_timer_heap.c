/* Timer heap: random pushes, re-arms and removals always pop in (deadline, start order). */
#include <stdlib.h>

#include "mm_test.h"
#include "timer_heap.h"

#define N 2000

int
main(void)
{
    static mm_timer timers[N];
    mm__timer_heap heap = {0};
    srand(12345);
    for (int i = 0; i < N; i++)
        MM_REQUIRE(mm__timer_heap_push(&heap, &timers[i], (uint64_t)(rand() % 500)) == MM_OK);
    /* Re-arm a third, remove a third. */
    int removed = 0;
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0) {
            mm__timer_heap_push(&heap, &timers[i], (uint64_t)(rand() % 500));
        } else if (i % 3 == 1) {
            mm__timer_heap_remove(&heap, &timers[i]);
            removed++;
        }
    }
    MM_CHECK_U64(heap.len, ==, (uint64_t)(N - removed));
    uint64_t last_deadline = 0, last_seq = 0, popped = 0, misordered = 0;
    mm_timer *t;
    while ((t = mm__timer_heap_peek(&heap)) != NULL) {
        if (t->deadline_ns < last_deadline || (t->deadline_ns == last_deadline && popped > 0 && t->seq < last_seq))
            misordered++;
        last_deadline = t->deadline_ns;
        last_seq = t->seq;
        mm__timer_heap_remove(&heap, t);
        MM_CHECK(!mm_timer_active(t));
        popped++;
    }
    MM_CHECK_U64(misordered, ==, 0);
    MM_CHECK_U64(popped, ==, (uint64_t)(N - removed));
    for (int i = 0; i < 10; i++)
        mm__timer_heap_push(&heap, &timers[i], 5);
    mm__timer_heap_clear(&heap);
    MM_CHECK(!mm_timer_active(&timers[3]));
    return MM_TEST_DONE();
}
