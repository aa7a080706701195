/*
 * Inbox: per-producer order, many producers × one consumer without loss or duplicate,
 * full-ring behaviour, the shared overflow ring, ring reuse after threads exit, the wake-up
 * hand-shake and close.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mm/inbox.h"
#include "mm_test.h"

#if defined(MM_SANITIZE_THREAD) || defined(MM_SANITIZE_ADDRESS)
#define STRESS_TOTAL 400000u
#else
#define STRESS_TOTAL 4000000u
#endif

struct producer_arg {
    mm_inbox *inbox;
    uint32_t index;
    uint64_t count;
    uint64_t fulls;
};

static void *
producer_main(void *p)
{
    struct producer_arg *arg = p;
    for (uint64_t seq = 0; seq < arg->count;) {
        mm_msg m = {.type = 1, .aux = arg->index, .arg = seq};
        mm_err err = mm_inbox_send(arg->inbox, &m);
        if (err == MM_OK) {
            seq++;
            if (arg->index == 0 && seq % 1024 == 0) { /* stats read while the consumer drains (TSan) */
                mm_inbox_stats st;
                mm_inbox_get_stats(arg->inbox, &st);
                if (st.received > st.sent) {
                    fprintf(stderr, "stats: received %llu > sent %llu\n", (unsigned long long)st.received,
                            (unsigned long long)st.sent);
                    abort();
                }
            }
        } else if (err == MM_ERR_FULL) {
            arg->fulls++;
            sched_yield();
        } else {
            fprintf(stderr, "send failed: %s\n", mm_err_str(err));
            abort();
        }
    }
    return NULL;
}

/* nproducers threads send `total` messages in all; the calling thread consumes and checks. */
static void
stress(uint32_t nproducers, uint64_t total, const mm_inbox_config *cfg)
{
    mm_inbox *inbox = NULL;
    MM_REQUIRE(mm_inbox_create(cfg, &inbox) == MM_OK);
    pthread_t threads[16];
    struct producer_arg args[16];
    uint64_t next[16] = {0};
    for (uint32_t i = 0; i < nproducers; i++) {
        args[i] = (struct producer_arg){.inbox = inbox, .index = i, .count = total / nproducers};
        pthread_create(&threads[i], NULL, producer_main, &args[i]);
    }
    uint64_t expected = (total / nproducers) * nproducers, received = 0, out_of_order = 0, bad = 0;
    mm_msg batch[512];
    while (received < expected) {
        size_t got = mm_inbox_drain(inbox, batch, 512);
        for (size_t i = 0; i < got; i++) {
            uint32_t p = batch[i].aux;
            if (p >= nproducers || batch[i].type != 1) {
                bad++;
                continue;
            }
            if (batch[i].arg != next[p])
                out_of_order++;
            next[p] = batch[i].arg + 1;
        }
        received += got;
        if (got == 0)
            mm_inbox_wait(inbox, 100);
    }
    for (uint32_t i = 0; i < nproducers; i++)
        pthread_join(threads[i], NULL);
    MM_CHECK_U64(received, ==, expected);
    MM_CHECK_U64(out_of_order, ==, 0);
    MM_CHECK_U64(bad, ==, 0);
    for (uint32_t i = 0; i < nproducers; i++)
        MM_CHECK_U64(next[i], ==, total / nproducers);
    MM_CHECK(mm_inbox_empty(inbox));
    mm_inbox_stats st;
    mm_inbox_get_stats(inbox, &st);
    MM_CHECK_U64(st.sent, ==, expected);
    MM_CHECK_U64(st.received, ==, expected);
    mm_inbox_destroy(inbox, NULL, NULL);
}

static void
test_full(void)
{
    mm_inbox *inbox = NULL;
    mm_inbox_config cfg = {.capacity = 8};
    MM_REQUIRE(mm_inbox_create(&cfg, &inbox) == MM_OK);
    int accepted = 0;
    mm_err err = MM_OK;
    while (accepted < 100 && (err = mm_inbox_send(inbox, &(mm_msg){.type = 7, .arg = (uint64_t)accepted})) == MM_OK)
        accepted++;
    MM_CHECK_INT(err, ==, MM_ERR_FULL);
    MM_CHECK_INT(accepted, >=, 8);
    MM_CHECK_INT(accepted, <, 100);
    mm_msg one;
    MM_CHECK_INT(mm_inbox_drain(inbox, &one, 1), ==, 1);
    MM_CHECK_U64(one.arg, ==, 0);
    MM_CHECK_INT(mm_inbox_send(inbox, &(mm_msg){.type = 7, .arg = 1000}), ==, MM_OK);
    MM_CHECK_INT(mm_inbox_send(inbox, &(mm_msg){.type = 7}), ==, MM_ERR_FULL);
    mm_inbox_stats st;
    mm_inbox_get_stats(inbox, &st);
    MM_CHECK_U64(st.full, ==, 2);
    MM_CHECK_U64(st.sent, ==, (uint64_t)accepted + 1);
    /* Order holds across the refusal: 1..accepted-1, then 1000. */
    mm_msg rest[128];
    size_t got = mm_inbox_drain(inbox, rest, 128);
    MM_CHECK_U64(got, ==, (uint64_t)accepted);
    MM_CHECK_U64(rest[0].arg, ==, 1);
    MM_CHECK_U64(rest[got - 1].arg, ==, 1000);
    mm_inbox_destroy(inbox, NULL, NULL);
}

static void *
send_one_and_exit(void *p)
{
    mm_inbox *inbox = p;
    if (mm_inbox_send(inbox, &(mm_msg){.type = 3}) != MM_OK)
        abort();
    return NULL;
}

/* Threads that exit hand their ring back: 20 short-lived producers need only 2 rings. */
static void
test_ring_reuse(void)
{
    mm_inbox *inbox = NULL;
    mm_inbox_config cfg = {.capacity = 64, .max_producers = 2};
    MM_REQUIRE(mm_inbox_create(&cfg, &inbox) == MM_OK);
    for (int i = 0; i < 20; i++) {
        pthread_t t;
        pthread_create(&t, NULL, send_one_and_exit, inbox);
        pthread_join(t, NULL);
    }
    mm_inbox_stats st;
    mm_inbox_get_stats(inbox, &st);
    MM_CHECK_U64(st.sent, ==, 20);
    MM_CHECK_INT(st.producers, ==, 1);
    mm_msg batch[64];
    MM_CHECK_INT(mm_inbox_drain(inbox, batch, 64), ==, 20);
    mm_inbox_destroy(inbox, NULL, NULL);
}

struct wake_arg {
    mm_inbox *inbox;
    atomic_int go;
};

static void *
send_when_told(void *p)
{
    struct wake_arg *w = p;
    while (atomic_load(&w->go) == 0)
        sched_yield();
    mm_inbox_send(w->inbox, &(mm_msg){.type = 9});
    return NULL;
}

static void
test_wakeups(void)
{
    mm_inbox *inbox = NULL;
    MM_REQUIRE(mm_inbox_create(NULL, &inbox) == MM_OK);
    /* A consumer that does not sleep costs producers no wake-up. */
    for (int i = 0; i < 100; i++)
        mm_inbox_send(inbox, &(mm_msg){.type = 1});
    mm_inbox_stats st;
    mm_inbox_get_stats(inbox, &st);
    MM_CHECK_U64(st.wakeups, ==, 0);
    MM_CHECK(!mm_inbox_wait_begin(inbox)); /* not empty: may not sleep */
    mm_msg batch[128];
    MM_CHECK_INT(mm_inbox_drain(inbox, batch, 128), ==, 100);

    /* Sleeping consumer: exactly one eventfd write wakes it, later sends add none. */
    MM_REQUIRE(mm_inbox_wait_begin(inbox));
    struct wake_arg w = {.inbox = inbox};
    pthread_t t;
    pthread_create(&t, NULL, send_when_told, &w);
    atomic_store(&w.go, 1);
    struct pollfd p = {.fd = mm_inbox_fd(inbox), .events = POLLIN};
    MM_CHECK_INT(poll(&p, 1, 10000), ==, 1);
    mm_inbox_wait_end(inbox);
    pthread_join(t, NULL);
    for (int i = 0; i < 50; i++)
        mm_inbox_send(inbox, &(mm_msg){.type = 1});
    mm_inbox_get_stats(inbox, &st);
    MM_CHECK_U64(st.wakeups, ==, 1);
    MM_CHECK_INT(poll(&p, 1, 0), ==, 0); /* the eventfd was reset */
    MM_CHECK_INT(mm_inbox_drain(inbox, batch, 128), ==, 51);
    mm_inbox_destroy(inbox, NULL, NULL);
}

static void
count_discard(void *ctx, mm_msg *m)
{
    (*(int *)ctx)++;
    free(m->ptr);
}

static void
test_close_and_destroy(void)
{
    mm_inbox *inbox = NULL;
    MM_REQUIRE(mm_inbox_create(NULL, &inbox) == MM_OK);
    for (int i = 0; i < 5; i++)
        MM_CHECK_INT(mm_inbox_send(inbox, &(mm_msg){.type = 1, .ptr = malloc(16)}), ==, MM_OK);
    mm_inbox_close(inbox);
    mm_inbox_close(inbox);
    void *kept = malloc(16);
    MM_CHECK_INT(mm_inbox_send(inbox, &(mm_msg){.type = 1, .ptr = kept}), ==, MM_ERR_STOPPED);
    free(kept); /* refused: still ours */
    MM_CHECK(!mm_inbox_wait_begin(inbox)); /* a closed inbox never sleeps */
    int discarded = 0;
    mm_inbox_destroy(inbox, count_discard, &discarded);
    MM_CHECK_INT(discarded, ==, 5);
    mm_inbox_destroy(NULL, NULL, NULL);
    mm_inbox_config bad = {.capacity = 1u << 30};
    MM_CHECK_INT(mm_inbox_create(&bad, &inbox), ==, MM_ERR_INVALID);
}

int
main(void)
{
    test_full();
    test_ring_reuse();
    test_wakeups();
    test_close_and_destroy();
    stress(1, STRESS_TOTAL / 4, NULL);
    stress(4, STRESS_TOTAL, NULL);
    stress(8, STRESS_TOTAL, &(mm_inbox_config){.capacity = 1024});
    /* More producers than rings: three share the overflow ring, order per producer still holds. */
    stress(5, STRESS_TOTAL / 4, &(mm_inbox_config){.capacity = 256, .max_producers = 2});
    return MM_TEST_DONE();
}
