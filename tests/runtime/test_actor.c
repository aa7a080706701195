/*
 * Actor threads: messages handled in order, stop while producers are busy (drain and reject,
 * every accepted message accounted for exactly once, every payload freed), timers, messages
 * for objects that died, start failure, a custom wait.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "mm/actor.h"
#include "mm/clock.h"
#include "mm/idmap.h"
#include "mm_test.h"

enum { MSG_WORK = 1, MSG_ARM_TIMERS, MSG_OPEN, MSG_CLOSE, MSG_FOR_OBJECT, MSG_GATE, MSG_PROBE };

/* ---- a counting actor ---- */

struct counter {
    atomic_uint_fast64_t handled, discarded;
    uint64_t last_seq[8];
    uint64_t out_of_order;
    int spin; /* busy work per message, to make stop land mid-batch */
    atomic_int stopped_on_thread;
    atomic_int idle_calls;
    atomic_int gated;
};

static void
counter_handle(void *state, mm_actor *self, mm_msg *m)
{
    struct counter *c = state;
    if (m->type == MSG_GATE) {
        /* Hold the actor until its inbox is closed: a send to itself then says so. Probes
         * accepted on the way are queued like anything else. */
        atomic_store(&c->gated, 1);
        mm_err err;
        while ((err = mm_actor_send(self, &(mm_msg){.type = MSG_PROBE})) != MM_ERR_STOPPED)
            sched_yield();
        return;
    }
    if (m->type == MSG_PROBE)
        return;
    if (m->aux < 8) {
        if (m->arg != 0 && m->arg != c->last_seq[m->aux] + 1)
            c->out_of_order++;
        c->last_seq[m->aux] = m->arg;
    }
    for (volatile int i = 0; i < c->spin; i++) {
    }
    free(m->ptr);
    atomic_fetch_add(&c->handled, 1);
}

static void
counter_discard(void *state, mm_msg *m)
{
    struct counter *c = state;
    if (m->type != MSG_WORK)
        return;
    free(m->ptr);
    atomic_fetch_add(&c->discarded, 1);
}

static void
counter_idle(void *state, mm_actor *self)
{
    (void)self;
    atomic_fetch_add(&((struct counter *)state)->idle_calls, 1);
}

static void
counter_stop(void *state)
{
    atomic_store(&((struct counter *)state)->stopped_on_thread, 1);
}

static const mm_actor_ops counter_ops = {
    .name = "counter",
    .handle = counter_handle,
    .discard = counter_discard,
    .idle = counter_idle,
    .stop = counter_stop,
};

static void
test_in_order(void)
{
    struct counter c = {0};
    mm_actor *a = NULL;
    MM_REQUIRE(mm_actor_start(&counter_ops, &c, NULL, &a) == MM_OK);
    for (uint64_t i = 1; i <= 10000; i++) {
        mm_msg m = {.type = MSG_WORK, .aux = 0, .arg = i, .ptr = malloc(8)};
        while (mm_actor_send(a, &m) == MM_ERR_FULL)
            sched_yield();
    }
    mm_actor_stop(a, MM_ACTOR_DRAIN);
    mm_actor_stop(a, MM_ACTOR_REJECT); /* idempotent */
    MM_CHECK_INT(mm_actor_send(a, &(mm_msg){.type = MSG_WORK}), ==, MM_ERR_STOPPED);
    mm_actor_destroy(a);
    MM_CHECK_U64(atomic_load(&c.handled), ==, 10000);
    MM_CHECK_U64(c.out_of_order, ==, 0);
    MM_CHECK_U64(c.last_seq[0], ==, 10000);
    MM_CHECK_INT(atomic_load(&c.stopped_on_thread), ==, 1);
    MM_CHECK_INT(atomic_load(&c.idle_calls), >, 0);
    mm_actor_stop(NULL, MM_ACTOR_DRAIN);
    mm_actor_destroy(NULL);
}

/* ---- stop while producers are still sending ---- */

struct flood {
    mm_actor *actor;
    uint32_t index;
    uint64_t accepted;
    atomic_uint_fast64_t refused_full;
    int stopped; /* saw MM_ERR_STOPPED */
};

static void *
flood_main(void *p)
{
    struct flood *f = p;
    for (uint64_t seq = 1;; ) {
        void *payload = malloc(32);
        mm_err err = mm_actor_send(f->actor, &(mm_msg){.type = MSG_WORK, .aux = f->index, .arg = seq, .ptr = payload});
        if (err == MM_OK) {
            f->accepted++;
            seq++;
            continue;
        }
        free(payload); /* refused: the sender still owns it */
        if (err == MM_ERR_STOPPED) {
            f->stopped = 1;
            return NULL;
        }
        atomic_fetch_add(&f->refused_full, 1);
        sched_yield();
    }
}

static void
test_stop_while_busy(mm_actor_stop_mode mode)
{
    struct counter c = {.spin = 200};
    mm_actor *a = NULL;
    mm_actor_config cfg = {.inbox = {.capacity = 512}, .batch = 64};
    MM_REQUIRE(mm_actor_start(&counter_ops, &c, &cfg, &a) == MM_OK);
    struct flood floods[4];
    pthread_t threads[4];
    for (uint32_t i = 0; i < 4; i++) {
        floods[i] = (struct flood){.actor = a, .index = i};
        pthread_create(&threads[i], NULL, flood_main, &floods[i]);
    }
    /* Let work flow, then hold the actor and wait until every producer has filled its ring,
     * so that stop finds messages queued whatever the scheduler did. */
    while (atomic_load(&c.handled) < 20000)
        sched_yield();
    MM_REQUIRE(mm_actor_send(a, &(mm_msg){.type = MSG_GATE}) == MM_OK);
    while (atomic_load(&c.gated) == 0)
        sched_yield();
    for (uint32_t i = 0; i < 4; i++) {
        uint64_t seen = atomic_load(&floods[i].refused_full);
        while (atomic_load(&floods[i].refused_full) == seen)
            sched_yield();
    }
    mm_actor_stop(a, mode);
    uint64_t accepted = 0;
    for (uint32_t i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        accepted += floods[i].accepted;
        MM_CHECK_INT(floods[i].stopped, ==, 1);
    }
    mm_actor_destroy(a); /* every sender is gone */
    uint64_t handled = atomic_load(&c.handled), discarded = atomic_load(&c.discarded);
    MM_CHECK_U64(handled + discarded, ==, accepted);
    MM_CHECK_U64(c.out_of_order, ==, 0);
    if (mode == MM_ACTOR_DRAIN)
        MM_CHECK_U64(discarded, ==, 0);
    else
        MM_CHECK_U64(discarded, >=, 4 * 511); /* every ring was full when stop came */
}

/* ---- timers ---- */

struct timer_actor {
    mm_actor *self;
    struct ttimer {
        mm_timer timer;
        struct timer_actor *owner;
        int id;
        uint64_t armed_ns, delay_ms;
        int repeats;
    } timers[5];
    int fired_order[16];
    atomic_int nfired;
    int early; /* fired before its delay */
};

static void
on_timer(mm_timer *t)
{
    struct ttimer *tt = (struct ttimer *)t;
    struct timer_actor *ta = tt->owner;
    if (mm_now_ns() - tt->armed_ns < tt->delay_ms * 1000000u)
        ta->early++;
    int n = atomic_load(&ta->nfired);
    if (n < 16)
        ta->fired_order[n] = tt->id;
    atomic_store(&ta->nfired, n + 1);
    if (tt->repeats > 0) {
        tt->repeats--;
        tt->armed_ns = mm_now_ns();
        mm_timer_start(ta->self, &tt->timer, tt->delay_ms, on_timer);
    }
}

static void
timer_handle(void *state, mm_actor *self, mm_msg *m)
{
    struct timer_actor *ta = state;
    ta->self = self;
    if (m->type != MSG_ARM_TIMERS)
        return;
    static const uint64_t delays[5] = {60, 20, 40, 30, 15};
    for (int i = 0; i < 5; i++) {
        struct ttimer *tt = &ta->timers[i];
        *tt = (struct ttimer){.owner = ta, .id = i, .armed_ns = mm_now_ns(), .delay_ms = delays[i]};
        mm_timer_start(self, &tt->timer, delays[i], on_timer);
    }
    ta->timers[4].repeats = 2;          /* fires at ~15, ~30, ~45 */
    mm_timer_stop(self, &ta->timers[3].timer); /* the 30 ms one never fires */
    mm_timer_stop(self, &ta->timers[3].timer); /* twice is harmless */
}

static void
nop_discard(void *state, mm_msg *m)
{
    (void)state;
    (void)m;
}

static void
test_timers(void)
{
    static const mm_actor_ops ops = {.name = "timers", .handle = timer_handle, .discard = nop_discard};
    struct timer_actor ta = {0};
    mm_actor *a = NULL;
    MM_REQUIRE(mm_actor_start(&ops, &ta, NULL, &a) == MM_OK);
    MM_REQUIRE(mm_actor_send(a, &(mm_msg){.type = MSG_ARM_TIMERS}) == MM_OK);
    uint64_t deadline = mm_now_ms() + 10000;
    while (atomic_load(&ta.nfired) < 6 && mm_now_ms() < deadline) {
        mm_test_sleep_ms(5); /* polling a condition with a deadline, not synchronising */
    }
    mm_actor_destroy(a);
    MM_CHECK_INT(atomic_load(&ta.nfired), ==, 6);
    MM_CHECK_INT(ta.early, ==, 0);
    /* Timers armed together fire in the order of their delays: the first firing of id 4 (15 ms),
     * then 1 (20 ms), 2 (40 ms), 0 (60 ms); id 4 fires three times in all, id 3 never. Where id 4's
     * re-armed firings fall among the others depends on how late each ran (a loaded machine or
     * ThreadSanitizer can push its third past 60 ms), so only the first firings are ordered. */
    int first[5] = {-1, -1, -1, -1, -1}, fours = 0;
    for (int i = 0; i < 6; i++) {
        int id = ta.fired_order[i];
        MM_CHECK_INT(id, !=, 3);
        if (id >= 0 && id < 5 && first[id] < 0)
            first[id] = i;
        fours += id == 4;
    }
    MM_CHECK_INT(fours, ==, 3);
    MM_CHECK_INT(first[4], ==, 0);
    MM_CHECK_INT(first[1], >, first[4]);
    MM_CHECK_INT(first[2], >, first[1]);
    MM_CHECK_INT(first[0], >, first[2]);
}

/* ---- messages for objects that died ---- */

struct owner {
    mm_idmap objects;
    uint64_t delivered, dropped;
    uint64_t ids[4];
};

static void
owner_handle(void *state, mm_actor *self, mm_msg *m)
{
    (void)self;
    struct owner *o = state;
    switch (m->type) {
    case MSG_OPEN:
        for (int i = 0; i < 4; i++)
            mm_idmap_add(&o->objects, malloc(64), &o->ids[i]);
        break;
    case MSG_CLOSE:
        free(mm_idmap_remove(&o->objects, o->ids[m->arg]));
        break;
    case MSG_FOR_OBJECT:
        if (mm_idmap_get(&o->objects, m->target) != NULL)
            o->delivered++;
        else
            o->dropped++;
        break;
    }
    free(m->ptr);
}

static void
owner_discard(void *state, mm_msg *m)
{
    (void)state;
    free(m->ptr);
}

static void
owner_stop(void *state)
{
    struct owner *o = state;
    for (int i = 0; i < 4; i++)
        free(mm_idmap_remove(&o->objects, o->ids[i]));
    mm_idmap_dispose(&o->objects);
}

static void
test_dead_objects(void)
{
    static const mm_actor_ops ops = {.name = "owner", .handle = owner_handle, .discard = owner_discard, .stop = owner_stop};
    struct owner o;
    memset(&o, 0, sizeof(o));
    mm_idmap_init(&o.objects);
    mm_actor *a = NULL;
    MM_REQUIRE(mm_actor_start(&ops, &o, NULL, &a) == MM_OK);
    /* Ids are 1..4 (the map's counter); object 2 (id 3) closes before its messages arrive. */
    mm_actor_send(a, &(mm_msg){.type = MSG_OPEN});
    mm_actor_send(a, &(mm_msg){.type = MSG_CLOSE, .arg = 2});
    for (uint64_t id = 1; id <= 4; id++)
        for (int k = 0; k < 10; k++)
            mm_actor_send(a, &(mm_msg){.type = MSG_FOR_OBJECT, .target = id, .ptr = malloc(100)});
    mm_actor_send(a, &(mm_msg){.type = MSG_FOR_OBJECT, .target = 999, .ptr = malloc(100)});
    mm_actor_destroy(a);
    MM_CHECK_U64(o.delivered, ==, 30);
    MM_CHECK_U64(o.dropped, ==, 11);
}

/* ---- start failure and a custom wait ---- */

static mm_err
failing_start(void *state, mm_actor *self)
{
    (void)state;
    (void)self;
    return MM_ERR_SYS;
}

struct waiter {
    atomic_int waits;
};

static void
custom_wait(void *state, int fd, int timeout_ms)
{
    struct waiter *w = state;
    atomic_fetch_add(&w->waits, 1);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, timeout_ms);
}

static void
waiter_handle(void *state, mm_actor *self, mm_msg *m)
{
    (void)state;
    (void)self;
    (void)m;
}

static void
test_start_failure_and_wait(void)
{
    static const mm_actor_ops bad = {.name = "bad", .start = failing_start, .handle = waiter_handle, .discard = nop_discard};
    mm_actor *a = NULL;
    MM_CHECK_INT(mm_actor_start(&bad, NULL, NULL, &a), ==, MM_ERR_SYS);
    static const mm_actor_ops incomplete = {.name = "incomplete", .handle = waiter_handle};
    MM_CHECK_INT(mm_actor_start(&incomplete, NULL, NULL, &a), ==, MM_ERR_INVALID);

    static const mm_actor_ops ops = {.name = "waiter", .handle = waiter_handle, .discard = nop_discard, .wait = custom_wait};
    struct waiter w = {0};
    MM_REQUIRE(mm_actor_start(&ops, &w, NULL, &a) == MM_OK);
    while (atomic_load(&w.waits) == 0)
        sched_yield();
    MM_CHECK_INT(mm_actor_send(a, &(mm_msg){.type = 1}), ==, MM_OK);
    mm_actor_destroy(a); /* returns: the custom wait was woken */
    MM_CHECK_INT(atomic_load(&w.waits), >=, 1);
}

int
main(void)
{
    test_in_order();
    test_stop_while_busy(MM_ACTOR_DRAIN);
    test_stop_while_busy(MM_ACTOR_REJECT);
    test_timers();
    test_dead_objects();
    test_start_failure_and_wait();
    return MM_TEST_DONE();
}
