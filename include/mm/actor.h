/*
 * Actors: one thread, one inbox, one ops table (ARCHITECTURE.md, "Names and style").
 *
 * mm_actor_start() spawns the thread. It calls ops->start, then loops: drain a batch of
 * messages and hand each to ops->handle, run due timers, call ops->idle, and sleep (no CPU)
 * until a message arrives or the next timer is due. Other threads talk to it only through
 * mm_actor_send(); timers are owned by the actor thread and used only from it.
 *
 * Stop: mm_actor_stop() closes the inbox (later sends get MM_ERR_STOPPED), lets the thread
 * finish the message in hand, then either handles (MM_ACTOR_DRAIN) or discards
 * (MM_ACTOR_REJECT) everything still queued, calls ops->stop on the actor thread and joins it.
 * Pending timers are dropped without firing; ops->stop frees what owns them. The actor object
 * stays valid, refusing sends, until mm_actor_destroy(): the owner calls that once no other
 * thread can still send to it (libuv's rule: memory is freed only after close completed).
 */
#ifndef MM_ACTOR_H
#define MM_ACTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/inbox.h"
#include "mm/timer.h"

typedef struct mm_actor mm_actor;

typedef struct mm_actor_ops {
    const char *name; /* thread name (15 characters are kept) and log prefix */
    /** On the actor thread before any message. A non-OK return makes mm_actor_start fail. */
    mm_err (*start)(void *state, mm_actor *self);
    /** One message. Owns msg->ptr from here on. */
    void (*handle)(void *state, mm_actor *self, mm_msg *msg);
    /** A message that will never be handled (reject on stop): free its payload. Required. */
    void (*discard)(void *state, mm_msg *msg);
    /** Optional: after each batch and each wake-up, on the actor thread. */
    void (*idle)(void *state, mm_actor *self);
    /**
     * Optional: replaces the sleep. Must block until inbox_fd is readable or timeout_ms passes
     * (-1: no limit), and may wait on its own fds as well (e.g. curl_multi_poll's extra_fds).
     */
    void (*wait)(void *state, int inbox_fd, int timeout_ms);
    /** On the actor thread after the last message: free the state's resources. */
    void (*stop)(void *state);
} mm_actor_ops;

typedef struct mm_actor_config {
    mm_inbox_config inbox;
    uint32_t batch; /* messages handled per drain; default 256 */
} mm_actor_config;

typedef enum mm_actor_stop_mode { MM_ACTOR_DRAIN = 0, MM_ACTOR_REJECT = 1 } mm_actor_stop_mode;

/** Starts the actor thread; returns once ops->start has run. config may be NULL. */
mm_err mm_actor_start(const mm_actor_ops *ops, void *state, const mm_actor_config *config, mm_actor **out);

/** Any thread. MM_OK, MM_ERR_FULL or MM_ERR_STOPPED; on error the caller still owns msg->ptr. */
mm_err mm_actor_send(mm_actor *actor, const mm_msg *msg);

/** Any thread but the actor's own: stops and joins the actor thread. Idempotent. */
void mm_actor_stop(mm_actor *actor, mm_actor_stop_mode mode);

/**
 * Stops the actor if still running (MM_ACTOR_DRAIN) and frees it. No thread may send to it
 * any more. Accepts NULL.
 */
void mm_actor_destroy(mm_actor *actor);

/** Inbox counters (see mm_inbox_get_stats). */
void mm_actor_get_stats(mm_actor *actor, mm_inbox_stats *stats);

/**
 * Actor thread only: (re)arms timer (include/mm/timer.h) on the actor's timer heap to call cb
 * after delay_ms. MM_ERR_NOMEM if the heap cannot grow, MM_ERR_INVALID if cb is NULL.
 */
mm_err mm_timer_start(mm_actor *actor, mm_timer *timer, uint64_t delay_ms, mm_timer_cb cb);

/** Actor thread only: disarms timer if pending. */
void mm_timer_stop(mm_actor *actor, mm_timer *timer);

#endif
