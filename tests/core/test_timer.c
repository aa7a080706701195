/*
 * Timer heap (include/mm/timer.h): random arms, re-arms and cancels always come out in
 * (deadline, arming order); run fires what is due, earliest first, at most max, and its callbacks
 * may re-arm themselves, cancel other due timers, arm new ones or free their own; next_wait
 * rounds up to whole milliseconds; dispose disarms everything.
 */
#include <stdlib.h>

#include "mm/timer.h"
#include "mm_test.h"

#define MS 1000000ull /* nanoseconds */

static mm_timer_heap *heap_under_test;
static int fired_order[64], nfired;

typedef struct tagged {
    mm_timer timer; /* first member: the callback casts back */
    int tag;
    int rearm_at_ms;  /* > 0: the callback re-arms itself for that deadline */
    mm_timer *victim; /* the callback cancels this one */
    mm_timer *spawn;  /* the callback arms this one for its own deadline */
    int free_self;    /* the callback frees its own (malloc'd) tagged */
} tagged;

static void
on_fire(mm_timer *timer)
{
    tagged *t = (tagged *)(void *)timer;
    MM_CHECK(!mm_timer_active(timer)); /* disarmed before its callback */
    if (nfired < 64)
        fired_order[nfired] = t->tag;
    nfired++;
    if (t->rearm_at_ms > 0) {
        uint64_t at = (uint64_t)t->rearm_at_ms * MS;
        t->rearm_at_ms = 0; /* once */
        MM_CHECK_INT(mm_timer_heap_arm(heap_under_test, timer, at, on_fire), ==, MM_OK);
    }
    if (t->victim != NULL)
        mm_timer_heap_cancel(heap_under_test, t->victim);
    if (t->spawn != NULL)
        MM_CHECK_INT(mm_timer_heap_arm(heap_under_test, t->spawn, timer->deadline_ns, on_fire), ==, MM_OK);
    if (t->free_self)
        free(t);
}

static void
reset_fired(void)
{
    nfired = 0;
    memset(fired_order, -1, sizeof(fired_order));
}

/* Random arms, re-arms and cancels pop in (deadline, arming order). */
static void
test_order(void)
{
    enum { N = 2000 };
    static tagged timers[N];
    mm_timer_heap heap;
    mm_timer_heap_init(&heap);
    srand(12345);
    for (int i = 0; i < N; i++)
        MM_REQUIRE(mm_timer_heap_arm(&heap, &timers[i].timer, (uint64_t)(rand() % 500), on_fire) == MM_OK);
    int removed = 0;
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0) {
            MM_REQUIRE(mm_timer_heap_arm(&heap, &timers[i].timer, (uint64_t)(rand() % 500), on_fire) == MM_OK);
        } else if (i % 3 == 1) {
            mm_timer_heap_cancel(&heap, &timers[i].timer);
            removed++;
        }
    }
    MM_CHECK_U64(heap.len, ==, (uint64_t)(N - removed));
    uint64_t last_deadline = 0, last_seq = 0, popped = 0, misordered = 0;
    mm_timer *t;
    while ((t = mm_timer_heap_peek(&heap)) != NULL) {
        if (t->deadline_ns < last_deadline || (t->deadline_ns == last_deadline && popped > 0 && t->seq < last_seq))
            misordered++;
        last_deadline = t->deadline_ns;
        last_seq = t->seq;
        mm_timer_heap_cancel(&heap, t);
        MM_CHECK(!mm_timer_active(t));
        popped++;
    }
    MM_CHECK_U64(misordered, ==, 0);
    MM_CHECK_U64(popped, ==, (uint64_t)(N - removed));

    /* many timers fired one run at a time come out sorted */
    enum { M = 1000 };
    heap_under_test = &heap;
    for (int i = 0; i < M; i++)
        MM_REQUIRE(mm_timer_heap_arm(&heap, &timers[i].timer, (uint64_t)((i * 7919) % M) * MS, on_fire) == MM_OK);
    for (int i = 0; i < M; i += 3)
        mm_timer_heap_cancel(&heap, &timers[i].timer);
    uint64_t last = 0;
    int ok = 1, ran = 0;
    while ((t = mm_timer_heap_peek(&heap)) != NULL) {
        uint64_t d = t->deadline_ns;
        ok &= d >= last;
        last = d;
        ran += (int)mm_timer_heap_run(&heap, d, 1);
    }
    MM_CHECK(ok);
    MM_CHECK_INT(ran, ==, M - (M + 2) / 3);

    /* dispose disarms every timer and leaves a reusable heap */
    for (int i = 0; i < 10; i++)
        MM_REQUIRE(mm_timer_heap_arm(&heap, &timers[i].timer, 5, on_fire) == MM_OK);
    mm_timer_heap_dispose(&heap);
    MM_CHECK(!mm_timer_active(&timers[3].timer));
    MM_CHECK(mm_timer_heap_peek(&heap) == NULL);
    MM_REQUIRE(mm_timer_heap_arm(&heap, &timers[3].timer, 5, on_fire) == MM_OK);
    MM_CHECK(mm_timer_active(&timers[3].timer));
    mm_timer_heap_dispose(&heap);
    mm_timer_heap_dispose(NULL);
}

/* Deadlines, ties, re-arms and cancels, with run and next_wait (the simulator's unit test). */
static void
test_run_basics(void)
{
    mm_timer_heap heap;
    mm_timer_heap_init(&heap);
    heap_under_test = &heap;
    reset_fired();
    tagged t[5] = {{.tag = 0}, {.tag = 1}, {.tag = 2}, {.tag = 3, .rearm_at_ms = 500}, {.tag = 4}};
    static const uint64_t due_ms[5] = {300, 100, 200, 100, 50};
    for (int i = 0; i < 5; i++)
        MM_REQUIRE(mm_timer_heap_arm(&heap, &t[i].timer, due_ms[i] * MS, on_fire) == MM_OK);
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, 0), ==, 50);
    mm_timer_heap_cancel(&heap, &t[2].timer);
    mm_timer_heap_cancel(&heap, &t[2].timer);                                      /* twice is harmless */
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t[0].timer, 150 * MS, on_fire) == MM_OK); /* re-arm earlier */
    MM_CHECK_U64(heap.len, ==, 4);
    MM_CHECK(!mm_timer_active(&t[2].timer));
    MM_CHECK_INT(mm_timer_heap_run(&heap, 99 * MS, 100), ==, 1);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 400 * MS, 100), ==, 3);
    MM_CHECK_INT(nfired, ==, 4);
    MM_CHECK_INT(fired_order[0], ==, 4);
    MM_CHECK_INT(fired_order[1], ==, 1); /* equal deadlines: first armed first */
    MM_CHECK_INT(fired_order[2], ==, 3);
    MM_CHECK_INT(fired_order[3], ==, 0);
    MM_CHECK(mm_timer_active(&t[3].timer)); /* it re-armed itself for 500 ms */
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, 400 * MS), ==, 100);
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, 600 * MS), ==, 0);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 499 * MS, 100), ==, 0);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 500 * MS, 100), ==, 1); /* a deadline equal to now is due */
    MM_CHECK_INT(fired_order[4], ==, 3);
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, 0), ==, -1);
    MM_CHECK_INT(mm_timer_heap_run(&heap, UINT64_MAX, 100), ==, 0);

    /* a re-arm moves a timer behind others with the same deadline */
    reset_fired();
    for (int i = 0; i < 3; i++)
        MM_REQUIRE(mm_timer_heap_arm(&heap, &t[i].timer, 7 * MS, on_fire) == MM_OK);
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t[0].timer, 7 * MS, on_fire) == MM_OK);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 7 * MS, 100), ==, 3);
    MM_CHECK_INT(fired_order[0], ==, 1);
    MM_CHECK_INT(fired_order[1], ==, 2);
    MM_CHECK_INT(fired_order[2], ==, 0);

    /* arming without a callback is refused and leaves the timer as it was */
    MM_CHECK_INT(mm_timer_heap_arm(&heap, &t[4].timer, 1, NULL), ==, MM_ERR_INVALID);
    MM_CHECK(!mm_timer_active(&t[4].timer));
    MM_CHECK(mm_timer_heap_peek(&heap) == NULL);
    mm_timer_heap_dispose(&heap);
}

/* What callbacks may do during a run, and max. */
static void
test_run_callbacks(void)
{
    mm_timer_heap heap;
    mm_timer_heap_init(&heap);
    heap_under_test = &heap;

    /* max is respected; the rest stays armed for the next run, still in order */
    reset_fired();
    tagged t[6];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 5; i++) {
        t[i].tag = i;
        MM_REQUIRE(mm_timer_heap_arm(&heap, &t[i].timer, (uint64_t)(10 + i) * MS, on_fire) == MM_OK);
    }
    MM_CHECK_INT(mm_timer_heap_run(&heap, 100 * MS, 2), ==, 2);
    MM_CHECK_INT(nfired, ==, 2);
    MM_CHECK(mm_timer_active(&t[2].timer));
    MM_CHECK_INT(mm_timer_heap_run(&heap, 100 * MS, 0), ==, 0);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 100 * MS, SIZE_MAX), ==, 3);
    for (int i = 0; i < 5; i++)
        MM_CHECK_INT(fired_order[i], ==, i);

    /* a callback re-arming itself for a deadline still due fires again in the same run */
    reset_fired();
    t[0] = (tagged){.tag = 0, .rearm_at_ms = 20};
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t[0].timer, 10 * MS, on_fire) == MM_OK);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 30 * MS, 100), ==, 2);
    MM_CHECK_INT(nfired, ==, 2);
    MM_CHECK(!mm_timer_active(&t[0].timer));
    /* ... and once more only when a later run reaches its new deadline */
    reset_fired();
    t[0] = (tagged){.tag = 0, .rearm_at_ms = 50};
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t[0].timer, 10 * MS, on_fire) == MM_OK);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 30 * MS, 100), ==, 1);
    MM_CHECK(mm_timer_active(&t[0].timer));
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, 30 * MS), ==, 20);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 50 * MS, 100), ==, 1);
    MM_CHECK_INT(nfired, ==, 2);

    /* a callback cancels another timer that is due in the same run: it never fires */
    reset_fired();
    t[0] = (tagged){.tag = 0, .victim = &t[1].timer};
    t[1] = (tagged){.tag = 1};
    t[2] = (tagged){.tag = 2};
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t[0].timer, 10 * MS, on_fire) == MM_OK);
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t[1].timer, 11 * MS, on_fire) == MM_OK);
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t[2].timer, 12 * MS, on_fire) == MM_OK);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 100 * MS, 100), ==, 2);
    MM_CHECK_INT(fired_order[0], ==, 0);
    MM_CHECK_INT(fired_order[1], ==, 2);
    MM_CHECK(!mm_timer_active(&t[1].timer));

    /* a callback arms a new timer that is due: it fires in the same run, after its maker */
    reset_fired();
    t[0] = (tagged){.tag = 0, .spawn = &t[1].timer};
    t[1] = (tagged){.tag = 1};
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t[0].timer, 10 * MS, on_fire) == MM_OK);
    MM_CHECK_INT(mm_timer_heap_run(&heap, 10 * MS, 100), ==, 2);
    MM_CHECK_INT(fired_order[1], ==, 1);

    /* a callback frees its own timer (the address sanitizer build checks nothing touches it) */
    reset_fired();
    for (int i = 0; i < 3; i++) {
        tagged *own = calloc(1, sizeof(*own));
        MM_REQUIRE(own != NULL);
        own->tag = 10 + i;
        own->free_self = 1;
        MM_REQUIRE(mm_timer_heap_arm(&heap, &own->timer, (uint64_t)(i + 1) * MS, on_fire) == MM_OK);
    }
    MM_CHECK_INT(mm_timer_heap_run(&heap, 10 * MS, 100), ==, 3);
    MM_CHECK_INT(fired_order[2], ==, 12);
    MM_CHECK(mm_timer_heap_peek(&heap) == NULL);
    mm_timer_heap_dispose(&heap);
}

static void
test_next_wait(void)
{
    mm_timer_heap heap;
    mm_timer_heap_init(&heap);
    tagged t = {.tag = 0};
    uint64_t now = 1000 * MS;
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, now), ==, -1);
    static const struct {
        uint64_t ahead_ns;
        int64_t wait_ms;
    } cases[] = {
        {0, 0}, {1, 1}, {MS - 1, 1}, {MS, 1}, {MS + 1, 2}, {1500 * 1000, 2}, {60000 * MS, 60000}, {86400000 * MS + 1, 86400001},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        MM_REQUIRE(mm_timer_heap_arm(&heap, &t.timer, now + cases[i].ahead_ns, on_fire) == MM_OK);
        MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, now), ==, cases[i].wait_ms);
    }
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t.timer, now - 5 * MS, on_fire) == MM_OK);
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, now), ==, 0); /* overdue */
    MM_REQUIRE(mm_timer_heap_arm(&heap, &t.timer, UINT64_MAX, on_fire) == MM_OK);
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, 0), ==, (int64_t)(UINT64_MAX / MS + 1));
    mm_timer_heap_cancel(&heap, &t.timer);
    MM_CHECK_INT(mm_timer_heap_next_wait_ms(&heap, now), ==, -1);
    mm_timer_heap_dispose(&heap);
}

int
main(void)
{
    test_order();
    test_run_basics();
    test_run_callbacks();
    test_next_wait();
    return MM_TEST_DONE();
}
