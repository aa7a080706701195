/*
 * Actor thread runtime (include/mm/actor.h).
 *
 * The loop: drain up to `batch` messages → handle them → fire due timers → idle hook → if the
 * inbox is empty, sleep until the next deadline. Sleeping uses the inbox's wait_begin/wait_end
 * hand-shake, so producers only pay for a wake-up when this thread really sleeps.
 *
 * Stop, from the stopping thread: publish the mode, close the inbox (which waits out senders in
 * progress), publish `stop_closed`, wake. From the moment the mode is visible, the actor thread
 * treats each further message by it (a rejecting stop discards even the rest of the batch in
 * hand); once `stop_closed` is visible it drains the inbox to the end and finishes. Nothing
 * can be added behind that last drain, so every accepted message is handled or discarded
 * exactly once.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mm/actor.h"
#include "mm/clock.h"
#include "mm/log.h"
#include "mm/timer.h"

#define DEFAULT_BATCH 256
#define MAX_SLEEP_MS 60000 /* longest sleep while a timer is armed: far deadlines are approached in steps */

struct mm_actor {
    const mm_actor_ops *ops;
    void *state;
    mm_inbox *inbox;
    mm_msg *batch;
    uint32_t batch_len;
    mm_timer_heap timers;
    pthread_t thread;
    atomic_int stop_mode;   /* 0 running, else 1 + mm_actor_stop_mode: set before the close */
    atomic_int stop_closed; /* 1 once the inbox is closed: the last drain may run */
    int joined;             /* touched only by the stopping thread */

    /* start hand-shake */
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    int started; /* 1 started, -1 failed */
    mm_err start_err;
};

mm_err
mm_timer_start(mm_actor *a, mm_timer *t, uint64_t delay_ms, mm_timer_cb cb)
{
    return mm_timer_heap_arm(&a->timers, t, mm_now_ns() + delay_ms * 1000000u, cb);
}

void
mm_timer_stop(mm_actor *a, mm_timer *t)
{
    mm_timer_heap_cancel(&a->timers, t);
}

/* Milliseconds until the next timer (-1: none, 0: one is due), capped at MAX_SLEEP_MS. */
static int
next_wait_ms(mm_actor *a)
{
    int64_t wait = mm_timer_heap_next_wait_ms(&a->timers, mm_now_ns());
    return wait > MAX_SLEEP_MS ? MAX_SLEEP_MS : (int)wait;
}

/* Handles or, once a rejecting stop was requested, discards each message. */
static void
dispatch(mm_actor *a, mm_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (atomic_load_explicit(&a->stop_mode, memory_order_relaxed) == 1 + (int)MM_ACTOR_REJECT)
            a->ops->discard(a->state, &msgs[i]);
        else
            a->ops->handle(a->state, a, &msgs[i]);
    }
}

static void
sleep_until_work(mm_actor *a, int timeout_ms)
{
    if (!mm_inbox_wait_begin(a->inbox))
        return;
    int fd = mm_inbox_fd(a->inbox);
    if (a->ops->wait != NULL) {
        a->ops->wait(a->state, fd, timeout_ms);
    } else {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, timeout_ms);
    }
    mm_inbox_wait_end(a->inbox);
}

static void *
actor_main(void *arg)
{
    mm_actor *a = arg;
    char name[16];
    snprintf(name, sizeof(name), "%s", a->ops->name != NULL ? a->ops->name : "actor");
    pthread_setname_np(pthread_self(), name);

    mm_err err = a->ops->start != NULL ? a->ops->start(a->state, a) : MM_OK;
    pthread_mutex_lock(&a->start_lock);
    a->start_err = err;
    a->started = err == MM_OK ? 1 : -1;
    pthread_cond_signal(&a->start_cond);
    pthread_mutex_unlock(&a->start_lock);
    if (err != MM_OK)
        return NULL;

    while (atomic_load_explicit(&a->stop_closed, memory_order_acquire) == 0) {
        size_t got = mm_inbox_drain(a->inbox, a->batch, a->batch_len);
        dispatch(a, a->batch, got);
        mm_timer_heap_run(&a->timers, mm_now_ns(), SIZE_MAX);
        if (a->ops->idle != NULL)
            a->ops->idle(a->state, a);
        /* The wait is computed last: handlers, timers and the idle hook may all arm timers. */
        if (got == 0)
            sleep_until_work(a, next_wait_ms(a));
    }
    size_t got;
    while ((got = mm_inbox_drain(a->inbox, a->batch, a->batch_len)) > 0)
        dispatch(a, a->batch, got);
    mm_timer_heap_dispose(&a->timers);
    if (a->ops->stop != NULL)
        a->ops->stop(a->state);
    return NULL;
}

/* After a stop the inbox is empty; this only matters for an actor whose thread never ran. */
static void
discard_leftover(void *ctx, mm_msg *msg)
{
    mm_actor *a = ctx;
    a->ops->discard(a->state, msg);
}

static void
actor_free(mm_actor *a)
{
    mm_inbox_destroy(a->inbox, discard_leftover, a);
    pthread_mutex_destroy(&a->start_lock);
    pthread_cond_destroy(&a->start_cond);
    free(a->batch);
    free(a);
}

mm_err
mm_actor_start(const mm_actor_ops *ops, void *state, const mm_actor_config *config, mm_actor **out)
{
    if (ops == NULL || ops->handle == NULL || ops->discard == NULL)
        return MM_ERR_INVALID;
    mm_actor *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return MM_ERR_NOMEM;
    a->ops = ops;
    a->state = state;
    mm_timer_heap_init(&a->timers);
    a->batch_len = config != NULL && config->batch != 0 ? config->batch : DEFAULT_BATCH;
    a->batch = calloc(a->batch_len, sizeof(mm_msg));
    pthread_mutex_init(&a->start_lock, NULL);
    pthread_cond_init(&a->start_cond, NULL);
    mm_err err = a->batch == NULL ? MM_ERR_NOMEM : mm_inbox_create(config != NULL ? &config->inbox : NULL, &a->inbox);
    if (err != MM_OK) {
        actor_free(a);
        return err;
    }
    if (pthread_create(&a->thread, NULL, actor_main, a) != 0) {
        actor_free(a);
        return MM_ERR_SYS;
    }
    pthread_mutex_lock(&a->start_lock);
    while (a->started == 0)
        pthread_cond_wait(&a->start_cond, &a->start_lock);
    pthread_mutex_unlock(&a->start_lock);
    if (a->started < 0) {
        err = a->start_err;
        pthread_join(a->thread, NULL);
        actor_free(a);
        return err;
    }
    *out = a;
    return MM_OK;
}

mm_err
mm_actor_send(mm_actor *a, const mm_msg *msg)
{
    return mm_inbox_send(a->inbox, msg);
}

void
mm_actor_get_stats(mm_actor *a, mm_inbox_stats *stats)
{
    mm_inbox_get_stats(a->inbox, stats);
}

void
mm_actor_stop(mm_actor *a, mm_actor_stop_mode mode)
{
    if (a == NULL || a->joined)
        return;
    atomic_store_explicit(&a->stop_mode, 1 + (int)mode, memory_order_release);
    mm_inbox_close(a->inbox);
    atomic_store_explicit(&a->stop_closed, 1, memory_order_release);
    mm_inbox_wake(a->inbox);
    pthread_join(a->thread, NULL);
    a->joined = 1;
}

void
mm_actor_destroy(mm_actor *a)
{
    if (a == NULL)
        return;
    mm_actor_stop(a, MM_ACTOR_DRAIN);
    actor_free(a);
}
