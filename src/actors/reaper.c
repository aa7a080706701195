/*
 * Session reaper actor (include/mm/reaper.h).
 *
 * Owns: a table of sessions by id (an mm_idmap keyed by a 64-bit hash of the id; ids with equal
 * hashes are chained), each holding what the two buckets last said about it (the revision and
 * creation time of its unclaimed_sessions entry, whether active_connections holds it, the
 * highest revision seen in each bucket), the work still to do (enqueue, remove) and the
 * publishes of that work still in flight.
 * Receives: MSG_UNCLAIMED and MSG_ACTIVE, mm_kv_event payloads from its two watchers;
 * MSG_OUTCOME, the outcome of one of its publishes, from its JetStream context's ack handler
 * (reaper_js.c); a scan timer.
 * Sends: asynchronous publishes on its own JetStream context (reaper_js.c): enqueues on the
 * delete stream and revision-checked deletes of unclaimed_sessions entries. It never waits for
 * the server: a work flag stays set until the outcome says the work is done, and a publish that
 * failed, timed out or got no outcome by its deadline is published again by a later scan.
 * Never: reaps a session with an active connection (a claim cancels an enqueue not yet
 * acknowledged); reaps before both watchers delivered their current values (a session claimed
 * while no reaper ran would look unclaimed); publishes from an event handler while NATS looks
 * down (the scan retries instead); publishes the same work again while it is in flight.
 *
 * Idempotency: watchers re-deliver current values after re-making a watch, and several
 * replicas see the same operations. An event whose revision is not above the highest one seen
 * for that key in its bucket changes nothing; work is driven by flags, so repeating an event
 * cannot enqueue twice from one reaper, and JetStream's message-id de-duplication covers the
 * repeats of other reapers (and our own retries). A key whose state is "nothing to remember"
 * is freed.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/actor.h"
#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm/idmap.h"
#include "mm/kv_watch.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/reaper.h"
#include "reaper_internal.h"

#define NS_PER_MS 1000000ULL
#define MSG_UNCLAIMED MM__REAPER_MSG_UNCLAIMED
#define MSG_ACTIVE MM__REAPER_MSG_ACTIVE
#define MSG_OUTCOME MM__REAPER_MSG_OUTCOME

typedef mm__reaper_session session;

/* ---- the session table ---- */

static uint64_t
id_hash(const char *id)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *id != '\0'; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return h != 0 ? h : 1;
}

static session *
session_find(mm_reaper *r, const char *id, uint64_t hash)
{
    for (session *s = mm_idmap_get(&r->table, hash); s != NULL; s = s->chain)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

session *
mm__reaper_session_find(mm_reaper *r, const char *id)
{
    return session_find(r, id, id_hash(id));
}

/* The session for id, created when missing; NULL when out of memory (logged). */
static session *
session_get(mm_reaper *r, const char *id)
{
    uint64_t hash = id_hash(id);
    session *s = session_find(r, id, hash);
    if (s != NULL)
        return s;
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        mm_error("reaper: out of memory tracking session %s; a later scan or event will retry", id);
        return NULL;
    }
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->hash = hash;
    s->chain = mm_idmap_get(&r->table, hash);
    if (mm_idmap_put(&r->table, hash, s) != MM_OK) {
        mm_error("reaper: out of memory tracking session %s; a later scan or event will retry", id);
        free(s);
        return NULL;
    }
    s->next = r->head;
    if (r->head != NULL)
        r->head->prev = s;
    r->head = s;
    return s;
}

static void
session_free(mm_reaper *r, session *s)
{
    session *first = mm_idmap_get(&r->table, s->hash);
    if (first == s) {
        if (s->chain != NULL)
            mm_idmap_put(&r->table, s->hash, s->chain); /* replaces a present key: cannot fail */
        else
            mm_idmap_remove(&r->table, s->hash);
    } else {
        session *p = first;
        while (p->chain != s)
            p = p->chain;
        p->chain = s->chain;
    }
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        r->head = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    mm__reaper_forget(r, s);
    free(s);
}

void
mm__reaper_set_unclaimed(mm_reaper *r, session *s, uint64_t rev)
{
    if (s->unclaimed_rev == 0 && rev != 0)
        atomic_fetch_add(&r->tracked, 1);
    else if (s->unclaimed_rev != 0 && rev == 0)
        atomic_fetch_sub(&r->tracked, 1);
    s->unclaimed_rev = rev;
}

static void
set_active(mm_reaper *r, session *s, bool active)
{
    if (active && !s->active)
        atomic_fetch_add(&r->claimed, 1);
    else if (!active && s->active)
        atomic_fetch_sub(&r->claimed, 1);
    s->active = active;
}

void
mm__reaper_session_settle(mm_reaper *r, session *s)
{
    if (s->unclaimed_rev == 0 && !s->active && !s->want_enqueue && !s->want_remove)
        session_free(r, s);
}

static bool
nats_usable(mm_reaper *r)
{
    return !r->nats_down && natsConnection_Status(r->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* From an event handler: publish now unless NATS looks down (then the scan does it). */
static void
session_work_soon(mm_reaper *r, session *s)
{
    if ((s->want_enqueue || s->want_remove) && nats_usable(r))
        mm__reaper_work(r, s);
    mm__reaper_session_settle(r, s);
}

/* ---- events ---- */

static void
on_unclaimed(mm_reaper *r, const mm_kv_event *ev)
{
    uint64_t hash = id_hash(ev->key);
    session *s = ev->op == MM_KV_OP_PUT ? session_get(r, ev->key) : session_find(r, ev->key, hash);
    if (s == NULL || ev->revision <= s->unclaimed_seen)
        return; /* a delete of a key we do not track, or an event seen before */
    s->unclaimed_seen = ev->revision;
    if (ev->op == MM_KV_OP_PUT) {
        mm__reaper_set_unclaimed(r, s, ev->revision);
        s->created_ns = ev->created_ns;
        s->reaped = false;
        if (s->active)
            s->want_remove = true; /* claimed before we saw it (watchers are not ordered) */
    } else {
        mm__reaper_set_unclaimed(r, s, 0);
        s->want_remove = false; /* a remove in flight is refused or lands on a deleted key: no harm */
    }
    session_work_soon(r, s);
}

static int64_t
unix_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
on_active(mm_reaper *r, const mm_kv_event *ev)
{
    session *s = session_get(r, ev->key);
    if (s == NULL || ev->revision <= s->active_seen) {
        if (s != NULL)
            mm__reaper_session_settle(r, s);
        return;
    }
    s->active_seen = ev->revision;
    if (ev->op == MM_KV_OP_PUT) {
        set_active(r, s, true);
        s->want_remove = s->unclaimed_rev != 0;
        /* Claimed again before its enqueue was acknowledged: not retried (one in flight may
         * still land; nothing can call it back). */
        s->want_enqueue = false;
    } else {
        set_active(r, s, false);
        if (ev->initial && unix_now_ns() - ev->created_ns > (int64_t)r->replay_ns) {
            atomic_fetch_add(&r->replay_skipped, 1);
            mm_metric_reap(MM_METRIC_REAP_REPLAY);
        } else {
            s->want_enqueue = true;
            s->reason = MM__REAPER_DISCONNECTED;
            s->want_remove = s->unclaimed_rev != 0;
        }
    }
    session_work_soon(r, s);
}

static void
reaper_handle(void *state, mm_actor *self, mm_msg *msg)
{
    (void)self;
    mm_reaper *r = state;
    if (msg->type == MSG_OUTCOME) {
        mm__reaper_outcome(r, msg);
        return;
    }
    mm_kv_event *ev = msg->ptr;
    atomic_fetch_add(&r->events, 1);
    if (ev->op == MM_KV_OP_INITIAL_DONE) {
        bool *ready = msg->type == MSG_UNCLAIMED ? &r->unclaimed_ready : &r->active_ready;
        if (!*ready)
            mm_debug("reaper: current values of %s received", ev->bucket);
        *ready = true;
    } else if (!mm_session_id_valid(ev->key)) {
        atomic_fetch_add(&r->invalid, 1);
        mm_debug("reaper: key %.64s of %s is not a session id; ignored", ev->key, ev->bucket);
    } else if (ev->initial && ev->generation > 1 && ev->revision <= r->high[msg->type - 1]) {
        /*
         * A watch made again re-delivers every current value. Those up to the highest revision
         * this reaper handled were handled already (a watch delivers in stream order); without
         * this, every delete marker of active_connections younger than replay_ms would be
         * enqueued again each time a watch is re-made (a JetStream node lost, a stall), one
         * Edgegap DELETE each once the stream's duplicate window has passed.
         */
        atomic_fetch_add(&r->redelivered, 1);
    } else {
        if (ev->revision > r->high[msg->type - 1])
            r->high[msg->type - 1] = ev->revision;
        if (msg->type == MSG_UNCLAIMED)
            on_unclaimed(r, ev);
        else
            on_active(r, ev);
    }
    mm_kv_event_free(ev);
}

static void
reaper_discard(void *state, mm_msg *msg)
{
    (void)state;
    if (msg->type == MSG_OUTCOME)
        mm__reaper_outcome_free(msg);
    else
        mm_kv_event_free(msg->ptr);
}

/* ---- the scan ---- */

/*
 * Ages sessions (when age is true), retires publishes whose outcome is overdue, and publishes
 * the work not in flight, until NATS looks down (the rest waits for the next scan) or
 * MM__REAPER_MAX_IN_FLIGHT publishes are out (the idle hook goes on once outcomes came back).
 */
static void
scan(mm_reaper *r, bool age)
{
    int64_t now = unix_now_ns();
    uint64_t mono = mm_now_ns();
    bool ready = age && r->unclaimed_ready && r->active_ready;
    r->backlog = false;
    session *next;
    for (session *s = r->head; s != NULL; s = next) {
        next = s->next;
        if (ready && !s->active && s->unclaimed_rev != 0 && !s->reaped && now - s->created_ns >= (int64_t)r->limit_ns) {
            s->reaped = true;
            s->want_enqueue = true;
            s->reason = MM__REAPER_UNCLAIMED;
            s->want_remove = true;
        }
        mm__reaper_expire(r, s, mono);
        if ((s->want_enqueue || s->want_remove) && !r->nats_down)
            mm__reaper_work(r, s);
        mm__reaper_session_settle(r, s);
    }
}

/* After each batch: a scan that stopped at the in-flight bound goes on once half came back. */
static void
reaper_idle(void *state, mm_actor *self)
{
    (void)self;
    mm_reaper *r = state;
    if (r->backlog && r->in_flight <= MM__REAPER_MAX_IN_FLIGHT / 2 && nats_usable(r))
        scan(r, false);
}

static void
scan_timer_fired(mm_timer *t)
{
    mm_reaper *r = (mm_reaper *)((char *)t - offsetof(mm_reaper, scan_timer));
    if (natsConnection_Status(r->nc) == NATS_CONN_STATUS_CONNECTED) {
        r->nats_down = false; /* try again; the first failure sets it back */
        atomic_fetch_add(&r->scans, 1);
        scan(r, true);
    }
    if (mm_timer_start(r->self, &r->scan_timer, r->scan_period_ms, scan_timer_fired) != MM_OK)
        mm_error("reaper: cannot re-arm the scan timer (out of memory); ages are no longer checked");
}

static mm_err
reaper_start_cb(void *state, mm_actor *self)
{
    mm_reaper *r = state;
    r->self = self;
    return mm_timer_start(self, &r->scan_timer, r->scan_period_ms, scan_timer_fired);
}

static void
reaper_stop_cb(void *state)
{
    mm_reaper *r = state;
    while (r->head != NULL)
        session_free(r, r->head);
    mm_idmap_dispose(&r->table);
    atomic_store(&r->tracked, 0);
    atomic_store(&r->claimed, 0);
    atomic_store(&r->in_flight_now, 0);
}

static const mm_actor_ops reaper_ops = {
    .name = "reaper",
    .start = reaper_start_cb,
    .handle = reaper_handle,
    .discard = reaper_discard,
    .idle = reaper_idle,
    .stop = reaper_stop_cb,
};

/* ---- public ---- */

mm_err
mm_reaper_start(const mm_reaper_config *config, natsConnection *nc, mm_js *js, mm_reaper **out, char *why, size_t why_len)
{
    static const mm_reaper_config defaults = {0};
    const mm_reaper_config *c = config != NULL ? config : &defaults;
    if (nc == NULL || js == NULL || out == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "reaper: connection and JetStream set-up are required");
    if (mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS) == NULL || mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS) == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "reaper: unclaimed_sessions and active_connections must be bound");
    mm_reaper *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "reaper: out of memory");
    uint64_t limit_ms = c->age_limit_ms != 0 ? c->age_limit_ms : MM_REAPER_DEFAULT_AGE_MS;
    uint64_t margin_ms = c->margin_ms != 0 ? c->margin_ms : MM_REAPER_DEFAULT_MARGIN_MS;
    r->limit_ns = (limit_ms + margin_ms) * NS_PER_MS;
    r->scan_period_ms = c->scan_period_ms != 0 ? c->scan_period_ms : MM_REAPER_DEFAULT_SCAN_MS;
    r->replay_ns = (c->replay_ms != 0 ? c->replay_ms : 3600000) * NS_PER_MS;
    r->ack_wait_ms = c->ack_wait_ms > 0 ? c->ack_wait_ms : 5000;
    r->pending_ns = ((uint64_t)r->ack_wait_ms + 1000) * NS_PER_MS; /* nats.c's own timeout comes first */
    r->nc = nc;
    r->unclaimed = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);
    mm_idmap_init(&r->table);

    mm_err err = mm__reaper_js_open(r, why, why_len);
    if (err != MM_OK) {
        free(r);
        return err;
    }
    if ((err = mm_actor_start(&reaper_ops, r, NULL, &r->actor)) != MM_OK) {
        mm__reaper_js_close(r);
        free(r);
        return mm_fail(err, why, why_len, "reaper: cannot start the actor: %s", mm_err_str(err));
    }
    mm__reaper_js_attach(r);
    mm_kv_watch_config wc = {.nc = nc, .js = js, .target = r->actor, .health_ms = c->watch_health_ms,
                             .retire_grace_ms = c->watch_retire_grace_ms};
    wc.bucket = MM_KV_UNCLAIMED_SESSIONS;
    wc.msg_type = MSG_UNCLAIMED;
    err = mm_kv_watch_start(&wc, &r->watch_unclaimed, why, why_len);
    if (err == MM_OK) {
        wc.bucket = MM_KV_ACTIVE_CONNECTIONS;
        wc.msg_type = MSG_ACTIVE;
        err = mm_kv_watch_start(&wc, &r->watch_active, why, why_len);
    }
    if (err != MM_OK) {
        mm_reaper_destroy(r);
        return err;
    }
    mm_info("reaper: started (sessions unclaimed for %llu ms are deleted; scan every %llu ms)",
            (unsigned long long)(limit_ms + margin_ms), (unsigned long long)r->scan_period_ms);
    *out = r;
    return MM_OK;
}

void
mm_reaper_stop(mm_reaper *r)
{
    if (r == NULL)
        return;
    mm_kv_watch_stop(r->watch_unclaimed);
    mm_kv_watch_stop(r->watch_active);
    mm_actor_stop(r->actor, MM_ACTOR_REJECT);
    mm__reaper_js_close(r); /* after it, no ack handler reaches r */
}

void
mm_reaper_destroy(mm_reaper *r)
{
    if (r == NULL)
        return;
    mm_reaper_stop(r);
    mm_kv_watch_destroy(r->watch_unclaimed);
    mm_kv_watch_destroy(r->watch_active);
    mm_actor_destroy(r->actor);
    free(r);
}

void
mm_reaper_get_stats(mm_reaper *r, mm_reaper_stats *st)
{
    st->tracked = atomic_load(&r->tracked);
    st->claimed = atomic_load(&r->claimed);
    st->enqueued_unclaimed = atomic_load(&r->enq[MM__REAPER_UNCLAIMED]);
    st->enqueued_disconnected = atomic_load(&r->enq[MM__REAPER_DISCONNECTED]);
    st->removed = atomic_load(&r->removed);
    st->skipped = atomic_load(&r->skipped);
    st->replay_skipped = atomic_load(&r->replay_skipped);
    st->redelivered = atomic_load(&r->redelivered);
    st->failures = atomic_load(&r->failures);
    st->invalid_keys = atomic_load(&r->invalid);
    st->events = atomic_load(&r->events);
    st->scans = atomic_load(&r->scans);
    st->published = atomic_load(&r->published);
    st->in_flight = atomic_load(&r->in_flight_now);
    st->expired = atomic_load(&r->expired);
    st->outcomes_dropped = atomic_load(&r->outcomes_dropped);
}
