/*
 * Session reaper actor (include/mm/reaper.h).
 *
 * Owns: a table of sessions by id (an mm_idmap keyed by a 64-bit hash of the id; ids with equal
 * hashes are chained), each holding what the two buckets last said about it (the revision and
 * creation time of its unclaimed_sessions entry, whether active_connections holds it, the
 * highest revision seen in each bucket) and the work still to do (enqueue, remove).
 * Receives: MSG_UNCLAIMED and MSG_ACTIVE, mm_kv_event payloads from its two watchers; a scan
 * timer. Sends: enqueues on the delete stream and revision-checked deletes of
 * unclaimed_sessions entries, synchronous and bounded by the JetStream context's wait time.
 * Never: reaps a session with an active connection; reaps before both watchers delivered their
 * current values (a session claimed while no reaper ran would look unclaimed); calls NATS from
 * an event handler while NATS looks down (the scan retries instead).
 *
 * Idempotency: watchers re-deliver current values after re-making a watch, and several
 * replicas see the same operations. An event whose revision is not above the highest one seen
 * for that key in its bucket changes nothing; work is driven by flags, so repeating an event
 * cannot enqueue twice from one reaper, and JetStream's message-id de-duplication covers the
 * repeats of other reapers. A key whose state is "nothing to remember" is freed.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/actor.h"
#include "mm/delete_queue.h"
#include "mm/idmap.h"
#include "mm/kv_watch.h"
#include "mm/log.h"
#include "mm/reaper.h"

#define NS_PER_MS 1000000ULL

enum { MSG_UNCLAIMED = 1, MSG_ACTIVE = 2 };
enum reason { REASON_UNCLAIMED = 0, REASON_DISCONNECTED = 1 };
static const char *const reason_names[] = {"unclaimed for too long", "the player left"};

typedef struct session session;
struct session {
    session *chain;       /* next session with the same hash */
    session *prev, *next; /* every session, for scans */
    uint64_t hash;
    uint64_t unclaimed_rev;  /* revision of its unclaimed_sessions entry; 0: it has none */
    uint64_t unclaimed_seen; /* highest unclaimed_sessions revision seen for the key */
    int64_t created_ns;      /* creation time of that entry (server clock, unix ns) */
    uint64_t active_seen;    /* highest active_connections revision seen for the key */
    bool active;             /* active_connections holds it */
    bool want_enqueue;       /* its deletion must still be enqueued, for `reason` */
    bool want_remove;        /* its unclaimed_sessions entry must still be removed */
    bool reaped;             /* enqueued for being unclaimed too long (not again for this entry) */
    bool failure_logged;
    enum reason reason;
    char id[MM_SESSION_ID_MAX + 1];
};

struct mm_reaper {
    uint64_t limit_ns, scan_period_ms, replay_ns;
    natsConnection *nc;
    jsCtx *jsctx;
    kvStore *unclaimed;
    mm_actor *actor;
    mm_kv_watch *watch_unclaimed, *watch_active;

    /* actor thread only */
    mm_idmap table;
    session *head;
    mm_timer scan_timer;
    mm_actor *self;
    bool unclaimed_ready, active_ready; /* each watcher delivered its current values once */
    uint64_t high[2];                   /* highest revision handled per bucket (MSG_UNCLAIMED - 1, MSG_ACTIVE - 1) */
    bool nats_down;                     /* the last call failed on the connection; logged once */

    atomic_uint_fast64_t tracked, claimed, enq[2], removed, skipped, replay_skipped, redelivered, failures, invalid, events, scans;
};

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
    free(s);
}

static void
set_unclaimed(mm_reaper *r, session *s, uint64_t rev)
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

/* Frees s when nothing about it needs remembering. */
static void
session_settle(mm_reaper *r, session *s)
{
    if (s->unclaimed_rev == 0 && !s->active && !s->want_enqueue && !s->want_remove)
        session_free(r, s);
}

/* ---- NATS calls ---- */

/*
 * Deletes unclaimed_sessions[id] only if its latest revision is still rev: a KV delete marker
 * (header KV-Operation: DEL) published with Nats-Expected-Last-Subject-Sequence. nats.c 3.4.1
 * has no revision-checked kvStore delete. MM_ERR_NOTFOUND when the revision had changed.
 */
static mm_err
unclaimed_delete_at(mm_reaper *r, const char *id, uint64_t rev)
{
    char subject[128];
    natsMsg *m = NULL;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    snprintf(subject, sizeof(subject), "$KV.%s.%s", kvStore_Bucket(r->unclaimed), id);
    if (natsMsg_Create(&m, subject, NULL, NULL, 0) != NATS_OK || natsMsgHeader_Set(m, "KV-Operation", "DEL") != NATS_OK) {
        natsMsg_Destroy(m);
        return MM_ERR_NOMEM;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = rev;
    natsStatus s = js_PublishMsg(&ack, r->jsctx, m, &po, &jerr);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(m);
    if (s == NATS_OK)
        return MM_OK;
    if (jerr == JSStreamWrongLastSequenceErr)
        return MM_ERR_NOTFOUND;
    return s == NATS_TIMEOUT ? MM_ERR_TIMEOUT : s == NATS_NO_MEMORY ? MM_ERR_NOMEM : MM_ERR_IO;
}

static bool
nats_usable(mm_reaper *r)
{
    return !r->nats_down && natsConnection_Status(r->nc) == NATS_CONN_STATUS_CONNECTED;
}

static void
call_failed(mm_reaper *r, session *s, const char *what, mm_err err, const char *why)
{
    atomic_fetch_add(&r->failures, 1);
    if (!s->failure_logged)
        mm_warn("reaper: %s for session %s failed (%s%s%s); retrying on a later scan", what, s->id, mm_err_str(err),
                why[0] != '\0' ? ": " : "", why);
    s->failure_logged = true;
    if (err == MM_ERR_TIMEOUT || err == MM_ERR_IO || natsConnection_Status(r->nc) != NATS_CONN_STATUS_CONNECTED) {
        if (!r->nats_down)
            mm_warn("reaper: NATS looks unavailable; deferring work to the next scan");
        r->nats_down = true;
    }
}

/* Does what s still wants done: enqueue first (so a crash cannot lose the deletion), then remove. */
static mm_err
session_work(mm_reaper *r, session *s)
{
    char why[256] = "";
    if (s->want_enqueue) {
        mm_err err = mm_delete_queue_enqueue(r->jsctx, s->id, why, sizeof(why));
        if (err != MM_OK) {
            call_failed(r, s, "enqueueing the deletion", err, why);
            return err;
        }
        s->want_enqueue = false;
        atomic_fetch_add(&r->enq[s->reason], 1);
        mm_info("reaper: session %s enqueued for deletion (%s)", s->id, reason_names[s->reason]);
    }
    if (s->want_remove && s->unclaimed_rev != 0) {
        mm_err err = unclaimed_delete_at(r, s->id, s->unclaimed_rev);
        if (err == MM_OK) {
            atomic_fetch_add(&r->removed, 1);
        } else if (err == MM_ERR_NOTFOUND) {
            /* A newer operation exists; its event will tell us what it is. */
            atomic_fetch_add(&r->skipped, 1);
            mm_debug("reaper: unclaimed_sessions[%s] changed after revision %llu; left alone", s->id,
                     (unsigned long long)s->unclaimed_rev);
        } else {
            call_failed(r, s, "removing the unclaimed_sessions entry", err, "");
            return err;
        }
        set_unclaimed(r, s, 0);
    }
    s->want_remove = false;
    if (s->failure_logged)
        mm_info("reaper: session %s: the retried work succeeded", s->id);
    s->failure_logged = false;
    r->nats_down = false;
    return MM_OK;
}

/* From an event handler: work now unless NATS looks down (then the scan does it). */
static void
session_work_soon(mm_reaper *r, session *s)
{
    if ((s->want_enqueue || s->want_remove) && nats_usable(r))
        session_work(r, s);
    session_settle(r, s);
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
        set_unclaimed(r, s, ev->revision);
        s->created_ns = ev->created_ns;
        s->reaped = false;
        if (s->active)
            s->want_remove = true; /* claimed before we saw it (watchers are not ordered) */
    } else {
        set_unclaimed(r, s, 0);
        s->want_remove = false;
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
            session_settle(r, s);
        return;
    }
    s->active_seen = ev->revision;
    if (ev->op == MM_KV_OP_PUT) {
        set_active(r, s, true);
        s->want_remove = s->unclaimed_rev != 0;
    } else {
        set_active(r, s, false);
        if (ev->initial && unix_now_ns() - ev->created_ns > (int64_t)r->replay_ns) {
            atomic_fetch_add(&r->replay_skipped, 1);
        } else {
            s->want_enqueue = true;
            s->reason = REASON_DISCONNECTED;
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
    mm_kv_event_free(msg->ptr);
}

/* ---- the scan ---- */

static void
scan(mm_reaper *r)
{
    int64_t now = unix_now_ns();
    bool ready = r->unclaimed_ready && r->active_ready;
    session *next;
    for (session *s = r->head; s != NULL; s = next) {
        next = s->next;
        if (ready && !s->active && s->unclaimed_rev != 0 && !s->reaped && now - s->created_ns >= (int64_t)r->limit_ns) {
            s->reaped = true;
            s->want_enqueue = true;
            s->reason = REASON_UNCLAIMED;
            s->want_remove = true;
        }
        if ((s->want_enqueue || s->want_remove) && session_work(r, s) == MM_ERR_TIMEOUT)
            break; /* one timeout per scan at most: the rest waits for the next scan */
        session_settle(r, s);
    }
}

static void
scan_timer_fired(mm_timer *t)
{
    mm_reaper *r = (mm_reaper *)((char *)t - offsetof(mm_reaper, scan_timer));
    if (natsConnection_Status(r->nc) == NATS_CONN_STATUS_CONNECTED) {
        r->nats_down = false; /* try again; the first failure sets it back */
        atomic_fetch_add(&r->scans, 1);
        scan(r);
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
}

static const mm_actor_ops reaper_ops = {
    .name = "reaper",
    .start = reaper_start_cb,
    .handle = reaper_handle,
    .discard = reaper_discard,
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
    uint64_t limit_ms = c->age_limit_ms != 0 ? c->age_limit_ms : 60000;
    uint64_t margin_ms = c->margin_ms != 0 ? c->margin_ms : 15000;
    r->limit_ns = (limit_ms + margin_ms) * NS_PER_MS;
    r->scan_period_ms = c->scan_period_ms != 0 ? c->scan_period_ms : 5000;
    r->replay_ns = (c->replay_ms != 0 ? c->replay_ms : 3600000) * NS_PER_MS;
    r->nc = nc;
    r->jsctx = mm_js_ctx(js);
    r->unclaimed = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);
    mm_idmap_init(&r->table);

    mm_err err = mm_actor_start(&reaper_ops, r, NULL, &r->actor);
    if (err != MM_OK) {
        free(r);
        return mm_fail(err, why, why_len, "reaper: cannot start the actor: %s", mm_err_str(err));
    }
    mm_kv_watch_config wc = {.nc = nc, .js = js, .target = r->actor, .health_ms = c->watch_health_ms};
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
    st->enqueued_unclaimed = atomic_load(&r->enq[REASON_UNCLAIMED]);
    st->enqueued_disconnected = atomic_load(&r->enq[REASON_DISCONNECTED]);
    st->removed = atomic_load(&r->removed);
    st->skipped = atomic_load(&r->skipped);
    st->replay_skipped = atomic_load(&r->replay_skipped);
    st->redelivered = atomic_load(&r->redelivered);
    st->failures = atomic_load(&r->failures);
    st->invalid_keys = atomic_load(&r->invalid);
    st->events = atomic_load(&r->events);
    st->scans = atomic_load(&r->scans);
}
