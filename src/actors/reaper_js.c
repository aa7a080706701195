/*
 * The reaper's JetStream side (src/actors/reaper_internal.h): asynchronous publishes and their
 * outcomes.
 *
 * Owns: the reaper's own JetStream context, made on its connection with an AckHandler, so that
 * every outcome of its publishes (and only of its publishes) comes back here. Not registered with
 * the process-wide resend thread (js_resend.c): the reaper retries from its scan, which knows
 * whether the work is still wanted (a session claimed meanwhile must not be enqueued again).
 *
 * Publishes: the enqueue (mm_delete_queue_enqueue_async: Nats-Msg-Id = session id) and the
 * revision-checked remove (mm_kv_delete_at_async), each with MaxWait = ack_wait_ms, so nats.c
 * reports every one of them: acknowledged, refused, or timed out. The message the handler gets
 * back names the session (its subject) and, for a remove, the revision (its expected-sequence
 * header), so no table is needed to match an ack to its request.
 *
 * Handlers run on nats.c's threads and never touch reaper state: they post a small outcome
 * {op, session id, revision, result} to the reaper's inbox, and the actor applies it. The
 * handler's closure is a token, not a pointer: a process-wide list maps tokens to live reapers
 * under a mutex, and mm__reaper_js_close removes the reaper's entry before anything is freed. A
 * callback that nats.c runs late (jsCtx_Destroy does not wait for one in progress) finds no
 * entry and drops the outcome; nothing it could reach has been freed.
 *
 * In flight: a publish marks its work pending until the outcome is applied or, when none
 * arrives (the inbox was full, the outcome was lost), until a deadline a little beyond the ack
 * wait; then the scan publishes again. De-duplication by message id (enqueue) and the revision
 * check (remove) make a repeat harmless.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "reaper_internal.h"

enum op { OP_ENQUEUE = 1, OP_REMOVE = 2 };

/* One outcome, posted by the handler; freed by the actor. */
typedef struct outcome {
    enum op op;
    mm_err result;
    uint64_t revision; /* OP_REMOVE: the revision it was checked against */
    bool duplicate;    /* OP_ENQUEUE: JetStream had the message id already */
    char id[MM_SESSION_ID_MAX + 1];
    char why[96]; /* nats.c's or the server's text for a failure */
} outcome;

/* ---- routes: handler closure token -> live reaper ---- */

typedef struct route {
    struct route *next;
    uint64_t token;
    mm_reaper *reaper; /* for its counters */
    mm_actor *actor;   /* NULL until attached */
} route;

static pthread_mutex_t routes_mu = PTHREAD_MUTEX_INITIALIZER;
static route *routes;           /* guarded by routes_mu */
static uint64_t next_token = 1; /* guarded by routes_mu */

static mm_err
route_add(mm_reaper *r)
{
    route *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return MM_ERR_NOMEM;
    rt->reaper = r;
    pthread_mutex_lock(&routes_mu);
    rt->token = next_token++;
    rt->next = routes;
    routes = rt;
    r->route = rt->token;
    pthread_mutex_unlock(&routes_mu);
    return MM_OK;
}

static void
route_remove(uint64_t token)
{
    route *gone = NULL;
    pthread_mutex_lock(&routes_mu);
    for (route **p = &routes; *p != NULL; p = &(*p)->next) {
        if ((*p)->token == token) {
            gone = *p;
            *p = gone->next;
            break;
        }
    }
    pthread_mutex_unlock(&routes_mu);
    free(gone);
}

/* Hands o to the reaper behind token; false (o still the caller's) when it is gone or its inbox refused. */
static bool
route_post(uint64_t token, outcome *o)
{
    bool posted = false;
    pthread_mutex_lock(&routes_mu);
    for (route *rt = routes; rt != NULL; rt = rt->next) {
        if (rt->token != token)
            continue;
        mm_msg m = {.type = MM__REAPER_MSG_OUTCOME, .ptr = o};
        posted = rt->actor != NULL && mm_actor_send(rt->actor, &m) == MM_OK;
        if (!posted) /* full or stopping: the work stays in flight until its deadline */
            atomic_fetch_add(&rt->reaper->outcomes_dropped, 1);
        break;
    }
    pthread_mutex_unlock(&routes_mu);
    return posted;
}

/* jsPubAckHandler, on nats.c's thread: owns msg; touches no reaper state. */
static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    const char *id = mm_delete_queue_msg_session(msg);
    const char *key = NULL;
    uint64_t rev = 0;
    outcome *o = NULL;
    if (id == NULL && mm_kv_delete_at_match(msg, mm_kv_bucket_spec_of(MM_KV_UNCLAIMED_SESSIONS)->name, &key, &rev) &&
        mm_session_id_valid(key))
        id = key;
    if (id == NULL || (o = malloc(sizeof(*o))) == NULL) /* not ours, or no memory: the deadline retries it */
        goto cleanup;
    o->op = key != NULL ? OP_REMOVE : OP_ENQUEUE;
    o->result = mm_js_pub_outcome(pa, pae);
    o->revision = rev;
    o->duplicate = pa != NULL && pa->Duplicate;
    snprintf(o->id, sizeof(o->id), "%s", id);
    snprintf(o->why, sizeof(o->why), "%s",
             pae == NULL                                       ? ""
             : pae->ErrText != NULL && pae->ErrText[0] != '\0' ? pae->ErrText
                                                               : natsStatus_GetText(pae->Err));
    if (route_post((uint64_t)(uintptr_t)closure, o))
        o = NULL;

cleanup:
    free(o);
    natsMsg_Destroy(msg);
}

/* ---- context ---- */

mm_err
mm__reaper_js_open(mm_reaper *r, char *why, size_t why_len)
{
    mm_err err = route_add(r);
    if (err != MM_OK)
        return mm_fail(err, why, why_len, "reaper: out of memory");
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = r->ack_wait_ms;
    o.PublishAsync.AckHandler = on_ack;
    o.PublishAsync.AckHandlerClosure = (void *)(uintptr_t)r->route;
    /* Our own bound keeps nats.c's window from filling; if it ever does, refuse within 1 ms
     * rather than nats.c's default 200 ms stall (docs/libnotes.md, nats.c). */
    o.PublishAsync.MaxPending = 2 * MM__REAPER_MAX_IN_FLIGHT;
    o.PublishAsync.StallWait = 1;
    if (natsConnection_JetStream(&r->jsctx, r->nc, &o) != NATS_OK) {
        route_remove(r->route);
        r->route = 0;
        return mm_fail(MM_ERR_IO, why, why_len, "reaper: cannot create a JetStream context: %s", nats_GetLastError(NULL));
    }
    return MM_OK;
}

void
mm__reaper_js_attach(mm_reaper *r)
{
    pthread_mutex_lock(&routes_mu);
    for (route *rt = routes; rt != NULL; rt = rt->next)
        if (rt->token == r->route)
            rt->actor = r->actor;
    pthread_mutex_unlock(&routes_mu);
}

void
mm__reaper_js_close(mm_reaper *r)
{
    if (r->route != 0) /* from here on no handler can reach r */
        route_remove(r->route);
    r->route = 0;
    jsCtx_Destroy(r->jsctx);
    r->jsctx = NULL;
}

/* ---- publishing ---- */

static bool
connection_trouble(mm_reaper *r, mm_err err)
{
    return err == MM_ERR_TIMEOUT || err == MM_ERR_IO || natsConnection_Status(r->nc) != NATS_CONN_STATUS_CONNECTED;
}

/* A publish failed or its outcome says it did: counted, logged once per session; the scan retries. */
static void
work_failed(mm_reaper *r, mm__reaper_session *s, const char *what, mm_err err, const char *why, bool suspect_nats)
{
    atomic_fetch_add(&r->failures, 1);
    if (!s->failure_logged)
        mm_warn("reaper: %s for session %s failed (%s%s%s); retrying on a later scan", what, s->id, mm_err_str(err),
                why[0] != '\0' ? ": " : "", why);
    s->failure_logged = true;
    if (suspect_nats && connection_trouble(r, err)) {
        if (!r->nats_down_logged)
            mm_warn("reaper: NATS looks unavailable; deferring work to the next scans");
        r->nats_down = true;
        r->nats_down_logged = true;
    }
}

static void
work_succeeded(mm_reaper *r, mm__reaper_session *s)
{
    if (s->failure_logged)
        mm_info("reaper: session %s: the retried work succeeded", s->id);
    s->failure_logged = false;
    if (r->nats_down_logged)
        mm_info("reaper: NATS answers again");
    r->nats_down = false;
    r->nats_down_logged = false;
}

static void
in_flight_add(mm_reaper *r, int delta)
{
    r->in_flight = (uint32_t)((int)r->in_flight + delta);
    atomic_store(&r->in_flight_now, r->in_flight);
}

static void
enqueue_settled(mm_reaper *r, mm__reaper_session *s)
{
    if (s->enqueue_pending)
        in_flight_add(r, -1);
    s->enqueue_pending = false;
}

static void
remove_settled(mm_reaper *r, mm__reaper_session *s)
{
    if (s->remove_rev != 0)
        in_flight_add(r, -1);
    s->remove_rev = 0;
}

static mm_err
enqueue_start(mm_reaper *r, mm__reaper_session *s)
{
    char why[256] = "";
    mm_err err = mm_delete_queue_enqueue_async(r->jsctx, s->id, r->ack_wait_ms, why, sizeof(why));
    if (err != MM_OK) {
        work_failed(r, s, "enqueueing the deletion", err, why, true);
        return err;
    }
    s->enqueue_pending = true;
    s->enqueue_deadline_ns = mm_now_ns() + r->pending_ns;
    in_flight_add(r, 1);
    atomic_fetch_add(&r->published, 1);
    return MM_OK;
}

static mm_err
remove_start(mm_reaper *r, mm__reaper_session *s)
{
    char why[256] = "";
    mm_err err = mm_kv_delete_at_async(r->jsctx, r->unclaimed, s->id, s->unclaimed_rev, r->ack_wait_ms, why, sizeof(why));
    if (err != MM_OK) {
        work_failed(r, s, "removing the unclaimed_sessions entry", err, why, true);
        return err;
    }
    remove_settled(r, s); /* one for an older revision is superseded (its outcome is ignored) */
    s->remove_rev = s->unclaimed_rev;
    s->remove_deadline_ns = mm_now_ns() + r->pending_ns;
    in_flight_add(r, 1);
    atomic_fetch_add(&r->published, 1);
    return MM_OK;
}

mm_err
mm__reaper_work(mm_reaper *r, mm__reaper_session *s)
{
    if (s->want_enqueue) {
        if (s->enqueue_pending)
            return MM_OK; /* the remove waits for the enqueue's acknowledgement */
        if (r->in_flight >= MM__REAPER_MAX_IN_FLIGHT) {
            r->backlog = true;
            return MM_ERR_FULL;
        }
        return enqueue_start(r, s);
    }
    if (s->want_remove && s->unclaimed_rev == 0)
        s->want_remove = false; /* nothing left to remove */
    if (s->want_remove && s->remove_rev != s->unclaimed_rev) {
        if (r->in_flight >= MM__REAPER_MAX_IN_FLIGHT) {
            r->backlog = true;
            return MM_ERR_FULL;
        }
        return remove_start(r, s);
    }
    return MM_OK;
}

void
mm__reaper_expire(mm_reaper *r, mm__reaper_session *s, uint64_t now_ns)
{
    if (s->enqueue_pending && now_ns >= s->enqueue_deadline_ns) {
        enqueue_settled(r, s);
        atomic_fetch_add(&r->expired, 1);
        work_failed(r, s, "enqueueing the deletion", MM_ERR_TIMEOUT, "no outcome arrived", false);
    }
    if (s->remove_rev != 0 && now_ns >= s->remove_deadline_ns) {
        remove_settled(r, s);
        atomic_fetch_add(&r->expired, 1);
        work_failed(r, s, "removing the unclaimed_sessions entry", MM_ERR_TIMEOUT, "no outcome arrived", false);
    }
}

void
mm__reaper_forget(mm_reaper *r, mm__reaper_session *s)
{
    enqueue_settled(r, s);
    remove_settled(r, s);
}

/* ---- outcomes, on the actor thread ---- */

static const char *const reason_names[] = {"unclaimed for too long", "the player left"};

static void
enqueue_outcome(mm_reaper *r, mm__reaper_session *s, const outcome *o)
{
    if (o->result != MM_OK) {
        if (s == NULL || !s->enqueue_pending) {
            atomic_fetch_add(&r->failures, 1); /* a superseded attempt; the current one decides */
            return;
        }
        enqueue_settled(r, s);
        if (s->want_enqueue)
            work_failed(r, s, "enqueueing the deletion", o->result, o->why, true);
        else
            atomic_fetch_add(&r->failures, 1); /* cancelled by a claim meanwhile: not retried */
        return;
    }
    if (s == NULL)
        return;
    enqueue_settled(r, s);
    work_succeeded(r, s);
    if (!s->want_enqueue)
        return; /* acknowledged already by an earlier attempt, or cancelled by a claim meanwhile */
    s->want_enqueue = false;
    atomic_fetch_add(&r->enq[s->reason], 1);
    mm_metric_reap(s->reason == MM__REAPER_DISCONNECTED ? MM_METRIC_REAP_DISCONNECTED : MM_METRIC_REAP_UNCLAIMED);
    mm_info("reaper: session %s enqueued for deletion (%s)%s", s->id, reason_names[s->reason],
            o->duplicate ? " (already queued)" : "");
    mm__reaper_work(r, s); /* the remove, now that the deletion is safe in the stream */
}

static void
remove_outcome(mm_reaper *r, mm__reaper_session *s, const outcome *o)
{
    bool current = s != NULL && s->remove_rev == o->revision;
    if (o->result == MM_OK || o->result == MM_ERR_NOTFOUND) {
        if (o->result == MM_OK) {
            atomic_fetch_add(&r->removed, 1);
        } else {
            /* The key changed after that revision: someone else acted; the newer event tells what. */
            atomic_fetch_add(&r->skipped, 1);
            mm_metric_reap(MM_METRIC_REAP_CHANGED);
            mm_debug("reaper: unclaimed_sessions[%s] changed after revision %llu; left alone", o->id,
                     (unsigned long long)o->revision);
        }
        if (s == NULL)
            return;
        if (current)
            remove_settled(r, s);
        if (s->unclaimed_rev == o->revision) { /* not if a newer PUT arrived meanwhile */
            mm__reaper_set_unclaimed(r, s, 0);
            s->want_remove = false;
        }
        work_succeeded(r, s);
        return;
    }
    if (!current) {
        atomic_fetch_add(&r->failures, 1);
        return;
    }
    remove_settled(r, s);
    work_failed(r, s, "removing the unclaimed_sessions entry", o->result, o->why, true);
}

void
mm__reaper_outcome(mm_reaper *r, mm_msg *msg)
{
    outcome *o = msg->ptr;
    mm__reaper_session *s = mm__reaper_session_find(r, o->id);
    if (o->op == OP_ENQUEUE)
        enqueue_outcome(r, s, o);
    else
        remove_outcome(r, s, o);
    if (s != NULL)
        mm__reaper_session_settle(r, s);
    free(o);
}

void
mm__reaper_outcome_free(mm_msg *msg)
{
    free(msg->ptr);
}
