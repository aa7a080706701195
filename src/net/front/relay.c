/*
 * Session requests on the loop side, and the relay reply sink that brings the backend's
 * answers back to the loop that owns the client (include/mm/front.h, docs/front.md).
 *
 * The sink keeps the texts of its request in its own list, under its own mutex, in the order
 * they were sent; the loop's bounded ring (an mm_inbox) only carries wake-ups naming the
 * request id. A sink sends one wake-up when its list goes from idle to pending (`scheduled`),
 * so a burst of texts costs one ring slot and is written to the socket in one go. When the ring
 * is full the sink sets the loop's `overflowed` flag and wakes it; the loop then scans its live
 * requests. Nothing is dropped and the backend never blocks, whatever the loop's speed; what a
 * sink may hold is bounded (MM__FRONT_SINK_MAX_BYTES, then MM_ERR_FULL).
 *
 * Lifetime: a sink has two references, the loop's (via its request) and the backend's (until
 * free()). When the request ends on the loop (answered, client gone, timeout, stop) the loop
 * detaches: under the sink's mutex it clears `loop`, so no later send touches the loop; later
 * texts are dropped by the sink itself. The loop never reads a sink it has detached, and a sink
 * never reads a request: wake-ups carry ids, and an id the loop no longer knows is ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "front_internal.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/log.h"

enum { RELAY_WAKE = 1 };

typedef struct relay_item {
    struct relay_item *next;
    mm_feedback_kind kind; /* error() queues MM_FEEDBACK_ERROR; send() the kind its text opens with */
    size_t len;
    char text[];
} relay_item;

struct mm__relay_sink {
    mm_reply_sink base;
    pthread_mutex_t lock;
    atomic_int refs;
    mm__front_loop *loop; /* NULL once detached */
    uint64_t req_id;
    relay_item *head, *tail;
    size_t bytes;
    bool scheduled;   /* a wake-up is on its way (or the loop was told to scan) */
    bool ended;       /* end() was called */
    bool end_pending; /* ... and the loop has not seen it yet */
    /* watch_gone: called once, under the lock, when the loop detaches (cleared by free()) */
    void (*gone_cb)(void *ctx, uint64_t tag);
    void *gone_ctx;
    uint64_t gone_tag;
};

/* Texts dropped by sinks whose request had ended: process-wide, since such a sink may no longer
 * know its front. */
static atomic_uint_fast64_t dropped_late;

static void
free_items(relay_item *it)
{
    while (it != NULL) {
        relay_item *next = it->next;
        free(it);
        it = next;
    }
}

static void
sink_unref(mm__relay_sink *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    free_items(s->head);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Under the sink's lock: makes sure the loop will look at this sink. */
static void
schedule(mm__relay_sink *s)
{
    if (s->scheduled || s->loop == NULL)
        return;
    s->scheduled = true;
    mm_msg m = {.type = RELAY_WAKE, .target = s->req_id};
    if (mm_inbox_send(s->loop->inbox, &m) != MM_OK) {
        atomic_fetch_add_explicit(&s->loop->front->metrics.relay_full, 1, memory_order_relaxed);
        atomic_store(&s->loop->overflowed, 1);
        mm_inbox_wake(s->loop->inbox);
    }
}

/* Queues one text of the given kind for the loop. */
static mm_err
relay_queue(mm__relay_sink *s, mm_feedback_kind kind, const char *text, size_t len)
{
    relay_item *it = malloc(sizeof(*it) + len + 1);
    mm_err err = MM_OK;
    pthread_mutex_lock(&s->lock);
    if (s->ended) {
        err = MM_ERR_STOPPED;
    } else if (s->loop == NULL) {
        atomic_fetch_add_explicit(&dropped_late, 1, memory_order_relaxed); /* the client has gone */
    } else if (it == NULL) {
        err = MM_ERR_NOMEM;
    } else if (s->bytes + len > MM__FRONT_SINK_MAX_BYTES) {
        err = MM_ERR_FULL;
    } else {
        it->next = NULL;
        it->kind = kind;
        it->len = len;
        memcpy(it->text, text, len);
        it->text[len] = '\0';
        if (s->tail != NULL)
            s->tail->next = it;
        else
            s->head = it;
        s->tail = it;
        s->bytes += len;
        it = NULL;
        schedule(s);
    }
    pthread_mutex_unlock(&s->lock);
    free(it);
    return err;
}

/* send() carries no kind (the provisioner's texts, and the NATS bridge's relayed from another
 * matchmaker): the feedback module names it from the text's opening, the one place that knows
 * what its encoder writes. */
static mm_err
relay_send(mm_reply_sink *base, const char *text, size_t len)
{
    return relay_queue((mm__relay_sink *)base, mm_feedback_kind_of(text, len), text, len);
}

static mm_err
relay_end(mm_reply_sink *base)
{
    mm__relay_sink *s = (mm__relay_sink *)base;
    pthread_mutex_lock(&s->lock);
    if (!s->ended) {
        s->ended = true;
        s->end_pending = s->loop != NULL;
        schedule(s);
    }
    pthread_mutex_unlock(&s->lock);
    return MM_OK;
}

static mm_err
relay_error(mm_reply_sink *base, uint16_t status, const char *message)
{
    char *text = NULL;
    size_t len = 0;
    mm_err err = mm_feedback_error(status, message, &text, &len);
    if (err == MM_OK)
        err = relay_queue((mm__relay_sink *)base, MM_FEEDBACK_ERROR, text, len);
    free(text);
    relay_end(base);
    return err;
}

static void
relay_free(mm_reply_sink *base)
{
    mm__relay_sink *s = (mm__relay_sink *)base;
    pthread_mutex_lock(&s->lock);
    bool open = !s->ended;
    s->gone_cb = NULL; /* the holder is done with it: no call from here on */
    pthread_mutex_unlock(&s->lock);
    if (open)
        relay_error(base, 503, "the matchmaker stopped before the request finished");
    sink_unref(s);
}

/* The loop detached this sink: its request ended there (client gone, timeout, stop). */
static bool
relay_gone(mm_reply_sink *sink)
{
    mm__relay_sink *s = (mm__relay_sink *)sink;
    pthread_mutex_lock(&s->lock);
    bool gone = s->loop == NULL;
    pthread_mutex_unlock(&s->lock);
    return gone;
}

/* Under the sink's lock: the one watch_gone call, if a watcher is set. */
static void
gone_notify(mm__relay_sink *s)
{
    void (*cb)(void *, uint64_t) = s->gone_cb;
    s->gone_cb = NULL;
    if (cb != NULL)
        cb(s->gone_ctx, s->gone_tag);
}

/* The backend's thread: the loop calls cb when it detaches the sink (sink_detach), under the
 * sink's lock, so never after free() (which clears it under the same lock) has returned. */
static void
relay_watch_gone(mm_reply_sink *sink, void (*cb)(void *ctx, uint64_t tag), void *ctx, uint64_t tag)
{
    mm__relay_sink *s = (mm__relay_sink *)sink;
    pthread_mutex_lock(&s->lock);
    s->gone_cb = cb;
    s->gone_ctx = ctx;
    s->gone_tag = tag;
    if (s->loop == NULL)
        gone_notify(s);
    pthread_mutex_unlock(&s->lock);
}

static const mm_reply_sink_ops relay_ops = {
    .kind = "front-relay",
    .send = relay_send,
    .error = relay_error,
    .end = relay_end,
    .free = relay_free,
    .gone = relay_gone,
    .watch_gone = relay_watch_gone,
};

/* Loop side: no sends reach the loop after this; what waits is dropped. Drops the loop's ref. */
static void
sink_detach(mm__relay_sink *s, bool silence)
{
    pthread_mutex_lock(&s->lock);
    relay_item *items = s->head;
    s->head = s->tail = NULL;
    s->bytes = 0;
    s->loop = NULL;
    s->end_pending = false;
    if (silence)
        s->ended = true; /* the backend never had it: its free() must not answer */
    gone_notify(s);
    pthread_mutex_unlock(&s->lock);
    for (relay_item *it = items; it != NULL; it = it->next)
        atomic_fetch_add_explicit(&dropped_late, 1, memory_order_relaxed);
    free_items(items);
    sink_unref(s);
}

uint64_t
mm__front_relay_dropped(void)
{
    return atomic_load_explicit(&dropped_late, memory_order_relaxed);
}

/* ---- requests ---- */

const char *
mm__front_admit_message(mm__admit a)
{
    switch (a) {
    case MM__ADMIT_RATE:
        return "too many requests from your address; slow down";
    case MM__ADMIT_IP_CONCURRENT:
        return "too many requests in progress from your address";
    case MM__ADMIT_SESSIONS:
        return "too many game sessions started from your address; try again later";
    default:
        return "the matchmaker is at capacity; try again";
    }
}

mm__refusal
mm__front_admit_refusal(mm__admit a)
{
    switch (a) {
    case MM__ADMIT_RATE:
        return MM__REF_RATE;
    case MM__ADMIT_IP_CONCURRENT:
        return MM__REF_IP_CONCURRENT;
    case MM__ADMIT_SESSIONS:
        return MM__REF_SESSIONS;
    default:
        return MM__REF_GLOBAL;
    }
}

mm__admit
mm__front_req_begin(mm__front_loop *loop, mm__front_req *r, const mm__front_req_ops *ops, mm_front_route route,
                    const uint8_t key[16])
{
    mm_front *front = loop->front;
    uint64_t now = mm_now_ns();
    bool exempt = mm__front_key_exempt(&front->cfg, key);
    mm__admit a = exempt ? mm__front_limits_acquire_exempt(front->limits) : mm__front_limits_acquire(front->limits, key, now);
    uint64_t id = atomic_fetch_add(&front->next_req_id, 1) + 1;
    if (a == MM__ADMIT_OK && mm_idmap_put(&loop->reqs, id, r) != MM_OK) {
        mm_error("front: out of memory registering a request");
        if (exempt)
            mm__front_limits_release_exempt(front->limits);
        else
            mm__front_limits_release(front->limits, key, false);
        a = MM__ADMIT_GLOBAL;
    }
    if (a != MM__ADMIT_OK) {
        mm__front_count_refusal(front, mm__front_admit_refusal(a));
        mm__front_count_request(front, route, MM__OUT_REFUSED);
        return a;
    }
    memset(r, 0, sizeof(*r));
    r->ops = ops;
    r->loop = loop;
    r->id = id;
    r->route = route;
    memcpy(r->key, key, 16);
    r->started_ns = now;
    r->exempt = exempt;
    if (exempt)
        atomic_fetch_add_explicit(&front->metrics.exempt_requests, 1, memory_order_relaxed);
    r->next = loop->live;
    if (loop->live != NULL)
        loop->live->prev = r;
    loop->live = r;
    loop->nlive++;
    return MM__ADMIT_OK;
}

mm_err
mm__front_req_submit(mm__front_req *r, const mm_session_request *sr)
{
    mm_front *front = r->loop->front;
    mm__relay_sink *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return MM_ERR_NOMEM;
    s->base.ops = &relay_ops;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->refs, 2);
    s->loop = r->loop;
    s->req_id = r->id;
    r->sink = s;
    mm_front_request fr = {.id = r->id, .route = r->route, .req = *sr};
    mm_err err = front->backend.submit(front->backend.ctx, &fr, &s->base);
    if (err != MM_OK) {
        r->sink = NULL;
        sink_detach(s, true);
        sink_unref(s); /* the backend's reference: it never took the sink */
    }
    return err;
}

/* The texts by which the matchmaker says it created an Edgegap session: SessionRequestAccepted
 * on the streaming routes, the one SessionReady (with its connect token) on wannaplay, whose
 * backend may skip the former. */
static bool
is_session(mm_feedback_kind kind)
{
    return kind == MM_FEEDBACK_ACCEPTED || kind == MM_FEEDBACK_READY;
}

static void
count_session(mm__front_req *r)
{
    r->session = true;
    if (!r->exempt)
        mm__front_limits_session(r->loop->front->limits, r->key, mm_now_ns());
}

void
mm__front_req_finish(mm__front_req *r, mm__outcome outcome)
{
    if (r->id == 0)
        return;
    mm__front_loop *loop = r->loop;
    mm_front *front = loop->front;
    mm__front_count_request(front, r->route, outcome);
    if (outcome == MM__OUT_OK || outcome == MM__OUT_ERROR)
        mm__front_observe_latency(front, mm_now_ns() - r->started_ns);
    /* The backend keeps working on a request the front gives up on (client gone, timeout,
     * stop, a broken frame after the hand-off) and may still create its session: count one,
     * or leaving before SessionRequestAccepted would start sessions that are never counted.
     * Only the backend's own end (OK, ERROR) or a refused hand-off (BUSY) proves there is none. */
    if (!r->session && outcome != MM__OUT_OK && outcome != MM__OUT_ERROR && outcome != MM__OUT_BUSY)
        count_session(r);
    if (r->exempt)
        mm__front_limits_release_exempt(front->limits);
    else
        mm__front_limits_release(front->limits, r->key, r->session);
    mm_idmap_remove(&loop->reqs, r->id);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        loop->live = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    loop->nlive--;
    r->id = 0;
    if (r->sink != NULL) {
        mm__relay_sink *s = r->sink;
        r->sink = NULL;
        sink_detach(s, false);
    }
}

/* Hands what the sink holds to the request, in order. The ops may finish the request (which
 * detaches the sink) but never free it during this call. */
static void
deliver(mm__front_req *r)
{
    mm__relay_sink *s = r->sink;
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    relay_item *items = s->head;
    bool end = s->end_pending;
    s->head = s->tail = NULL;
    s->bytes = 0;
    s->end_pending = false;
    s->scheduled = false;
    pthread_mutex_unlock(&s->lock);
    for (relay_item *it = items; it != NULL; it = it->next) {
        if (r->id == 0) {
            atomic_fetch_add_explicit(&dropped_late, 1, memory_order_relaxed);
            continue;
        }
        if (it->kind == MM_FEEDBACK_ERROR)
            r->saw_error = true;
        else if (!r->session && is_session(it->kind))
            count_session(r);
        r->ops->deliver(r, it->text, it->len);
    }
    free_items(items);
    if (end && r->id != 0)
        r->ops->end(r);
}

size_t
mm__front_relay_drain(mm__front_loop *loop, size_t max)
{
    mm_msg batch[128];
    size_t done = 0;
    while (done < max) {
        size_t want = max - done < 128 ? max - done : 128;
        size_t n = mm_inbox_drain(loop->inbox, batch, want);
        for (size_t i = 0; i < n; i++) {
            mm__front_req *r = mm_idmap_get(&loop->reqs, batch[i].target);
            if (r != NULL)
                deliver(r);
        }
        done += n;
        if (n < want)
            break;
    }
    if (atomic_exchange(&loop->overflowed, 0)) {
        mm__front_req *next;
        for (mm__front_req *r = loop->live; r != NULL; r = next) {
            next = r->next;
            deliver(r);
        }
    }
    return done;
}
