/*
 * The NATS bridge actor (include/mm/nats_bridge.h): the backend of bevygap_matchmaker_httpd.
 *
 * Owns: every request in flight (a bridge_req, under its reply token in an mm_idmap and on a
 * list), each with its reply sink and deadline timer; a connection-check timer, armed while any
 * request is in flight; a natsStatistics object to read the reconnect count.
 * Heartbeats: with silence_ms, each request asks its matchmaker for heartbeats, which are
 * dropped here and only refresh the request's heard_ms; the connection-check timer also ends
 * requests whose matchmaker fell silent (req_silent: include/mm/nats_bridge.h, "Heartbeats"),
 * and those whose client went away, publishing a cancel to the reply subject of their
 * heartbeats (req_cancel: "Cancel" there). A waiting-room report restarts the request's deadline.
 * Liveness (include/mm/reply.h, "Liveness"): each request also asks Mm-Liveness-Ms; a matchmaker
 * of ours then sends one heartbeat naming its process (Mm-Replica) and afterwards only one
 * message per interval for the whole process on mm.alive.<nuid>, which a second subscription,
 * mm.alive.*, queues into the same reply queue. The actor keeps one bridge_replica per process
 * named by a request in flight (its last-heard time; a short list: one entry per replica); a
 * request naming one is silent only when it and its replica both were (req_silent).
 * Receives: SUBMIT (a bridge_req made by mm_nats_bridge_submit on a front loop thread) and WAKE
 * (posted by the <inbox>.* subscription's callback on nats.c's delivery thread when it queued
 * replies in the bridge's reply queue, or lost one to a full queue: nats_bridge_api.c).
 * Sends: requests with the reply subject <inbox>.<token> (natsConnection_PublishRequest only
 * appends to the connection's buffer: it never blocks); feedback texts to the sinks.
 * Never: calls a blocking NATS function; lets another thread touch a request; ends a request
 * twice (every path goes through req_finish, which unlinks it first, so a late reply or timer
 * finds nothing).
 *
 * Order: one subscription delivers on one nats.c thread into one FIFO reply queue, so the
 * replies of a request reach its sink in the order the server sent them. A request one of
 * whose replies was lost (queue full, or nats.c's slow-consumer drop) ends with 503 before any
 * later reply of it is relayed: each WAKE takes the lost tokens and a batch of replies in one
 * step and ends the lost requests first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/log.h"
#include "mm/intent.h"
#include "mm/parse.h"
#include "mm/request_id.h"
#include "nats_bridge_internal.h"

#define STOPPING_MESSAGE "the web front is stopping"
#define DOWN_MESSAGE "the matchmaker cannot be reached (NATS is not connected); try again"
#define LOST_MESSAGE "the connection to the matchmaker was lost; try again"
#define OVERFLOW_MESSAGE "the web front is overloaded: a reply from the matchmaker was lost; try again"
#define SILENT_MESSAGE "the matchmaker serving this request stopped answering; try again"
#define WAKE_BATCH 64
#define WAKE_MAX 256 /* replies per WAKE before the actor turns to its inbox again */

/* ---- requests ---- */

static void
req_unlink(mm_nats_bridge *b, bridge_req *r)
{
    if (!r->linked)
        return;
    r->linked = false;
    mm_idmap_remove(&b->reqs, r->token);
    if (r->gone_polled)
        b->n_gone_polled--;
    if (r->replica == NULL)
        b->n_unbound--;
    if (r->replica != NULL && --r->replica->refs == 0) {
        bridge_replica **p = &b->replicas;
        while (*p != r->replica)
            p = &(*p)->next;
        *p = r->replica->next;
        free(r->replica);
        atomic_fetch_sub(&b->replicas_now, 1);
    }
    r->replica = NULL;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        b->head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    mm_timer_stop(b->self, &r->deadline);
}

/* Ends r (with Error(status, message) first when message is not NULL) and frees it. */
static void
req_finish(mm_nats_bridge *b, bridge_req *r, uint16_t status, const char *message)
{
    req_unlink(b, r);
    if (message != NULL)
        mm_reply_error(r->sink, status, message);
    else
        mm_reply_end(r->sink);
    atomic_fetch_sub(&b->in_flight, 1); /* before the free: whoever sees the sink freed sees it counted out */
    mm_reply_free(r->sink);
    free(r->cancel);
    free(r);
}

/* Tells r's matchmaker that nobody waits for r any more (include/mm/reply.h, "Cancel"), when it
 * sent heartbeats; a player still in line then leaves it without an Edgegap call. */
static void
req_publish_cancel(mm_nats_bridge *b, bridge_req *r)
{
    if (r->cancel != NULL) {
        natsMsg *msg = NULL;
        natsStatus s = natsMsg_Create(&msg, r->cancel, NULL, NULL, 0);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, MM_REPLY_CANCEL_HEADER, "1");
        if (s == NATS_OK)
            s = natsConnection_PublishMsg(b->nc, msg);
        natsMsg_Destroy(msg);
        if (s == NATS_OK)
            atomic_fetch_add(&b->cancels_sent, 1);
        else
            mm_warn("bridge: request %llu: publishing its cancel failed: %s", (unsigned long long)r->front_id, natsStatus_GetText(s));
    }
}

/* r's client went away (or its sink refused a reply) before the end: tells its matchmaker,
 * counts the end in *counter, and ends r. */
static void
req_cancel(mm_nats_bridge *b, bridge_req *r, atomic_uint_fast64_t *counter)
{
    atomic_fetch_add(counter, 1);
    req_publish_cancel(b, r);
    mm_debug("bridge: request %llu: its client went away%s", (unsigned long long)r->front_id,
             r->cancel != NULL ? "; its matchmaker told" : "");
    req_finish(b, r, 0, NULL);
}

/* r's client left. Before its SessionReady that is a cancel; after it (a client closing as soon
 * as it has its token, before the matchmaker's end arrives) the request is simply done. */
static void
req_client_left(mm_nats_bridge *b, bridge_req *r)
{
    if (r->ready) {
        atomic_fetch_add(&b->completed, 1);
        req_finish(b, r, 0, NULL);
    } else {
        req_cancel(b, r, &b->client_gone);
    }
}

/* Ends every request whose client is gone (the front detached its sink). Sinks that report it
 * (watch_gone: a GONE message) are walked only when a report could not be posted. */
static void
gone_check(mm_nats_bridge *b)
{
    if (!atomic_exchange(&b->gone_scan, false) && b->n_gone_polled == 0)
        return;
    for (bridge_req *r = b->head, *next; r != NULL; r = next) {
        next = r->next;
        if (mm_reply_gone(r->sink))
            req_client_left(b, r);
    }
}

/* Answers 503 every request in flight; with cancel, tells their matchmakers too (the connection is
 * up: the replies were lost on our side, and a matchmaker holding one in line would go on). */
static size_t
fail_all(mm_nats_bridge *b, atomic_uint_fast64_t *counter, const char *message, bool cancel)
{
    size_t n = 0;
    while (b->head != NULL) {
        atomic_fetch_add(counter, 1);
        if (cancel)
            req_publish_cancel(b, b->head);
        req_finish(b, b->head, 503, message);
        n++;
    }
    return n;
}

/*
 * Reads the connection's state. Requests in flight are answered 503 when it is down or was
 * re-made since the last check: core NATS replies sent to us meanwhile are lost for good.
 * Returns true when connected.
 */
static bool
connection_check(mm_nats_bridge *b)
{
    bool up = natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
    uint64_t in_msgs, in_bytes, out_msgs, out_bytes, reconnects = b->reconnects;
    if (b->nstats != NULL && natsConnection_GetStats(b->nc, b->nstats) == NATS_OK)
        natsStatistics_GetCounts(b->nstats, &in_msgs, &in_bytes, &out_msgs, &out_bytes, &reconnects);
    if ((!up || reconnects != b->reconnects) && b->head != NULL) {
        size_t n = fail_all(b, &b->nats_down, LOST_MESSAGE, false);
        mm_warn("bridge: the NATS connection was lost; %zu requests in flight answered 503", n);
    }
    b->reconnects = reconnects;
    /* nats.c drops a subscription's messages beyond its pending limits (slow consumer) */
    int64_t dropped = 0;
    if (b->sub != NULL && natsSubscription_GetDropped(b->sub, &dropped) == NATS_OK && dropped > b->nats_dropped) {
        atomic_fetch_add(&b->overflows, (uint64_t)(dropped - b->nats_dropped));
        b->nats_dropped = dropped;
        if (b->head != NULL) {
            size_t n = fail_all(b, &b->lost_failed, OVERFLOW_MESSAGE, true);
            mm_warn("bridge: nats.c dropped replies (slow consumer); %zu requests in flight answered 503", n);
        }
    }
    return up;
}

/* Whether r's matchmaker has been silent for too long (include/mm/nats_bridge.h, "Heartbeats"). */
static bool
req_silent(const mm_nats_bridge *b, const bridge_req *r, uint64_t now)
{
    if (b->silence_ms == 0 || now - r->heard_ms <= b->silence_ms)
        return false;
    if (r->replica != NULL) /* its process speaks for it: lost only when that fell silent too */
        return now - r->replica->heard_ms > b->silence_ms;
    return r->heartbeats || (!r->heard && r->route != MM_FRONT_WANNAPLAY);
}

/* Answers 503 every request whose matchmaker fell silent: it died (kill -9, a crash) or lost NATS. */
static void
silence_check(mm_nats_bridge *b)
{
    if (b->silence_ms == 0)
        return;
    uint64_t now = mm_now_ms();
    size_t n = 0;
    bool walk = b->n_unbound > 0; /* a request naming a replica can be silent only with it */
    for (bridge_replica *p = b->replicas; p != NULL && !walk; p = p->next)
        walk = now - p->heard_ms > b->silence_ms;
    if (!walk)
        return;
    for (bridge_req *r = b->head, *next; r != NULL; r = next) {
        next = r->next;
        if (!req_silent(b, r, now))
            continue;
        atomic_fetch_add(&b->silent, 1);
        mm_info("bridge: request %llu: nothing from its matchmaker for %llu ms (%s): answered 503", (unsigned long long)r->front_id,
                (unsigned long long)(now - r->heard_ms),
                r->replica != NULL ? "its replica's liveness stopped" : r->heartbeats ? "its heartbeats stopped" : "no message at all");
        req_publish_cancel(b, r); /* a matchmaker only stalled (not dead) would otherwise go on for nobody */
        req_finish(b, r, 503, SILENT_MESSAGE);
        n++;
    }
    if (n > 1)
        mm_warn("bridge: %zu requests whose matchmaker fell silent answered 503", n);
}

static void
check_timer_fired(mm_timer *t)
{
    mm_nats_bridge *b = (mm_nats_bridge *)((char *)t - offsetof(mm_nats_bridge, check_timer));
    connection_check(b);
    silence_check(b);
    gone_check(b);
    if (b->head != NULL && mm_timer_start(b->self, &b->check_timer, b->check_ms, check_timer_fired) != MM_OK)
        mm_error("bridge: cannot re-arm the connection check (out of memory)");
}

static void
deadline_fired(mm_timer *t)
{
    bridge_req *r = (bridge_req *)t; /* the timer is the first member */
    mm_nats_bridge *b = r->bridge;
    char text[96];
    atomic_fetch_add(&b->timeouts, 1);
    mm_info("bridge: request %llu: no end from the matchmaker within %u ms", (unsigned long long)r->front_id, b->timeout_ms);
    snprintf(text, sizeof(text), "timed out waiting for the matchmaker (%u s)", (b->timeout_ms + 999) / 1000);
    req_publish_cancel(b, r); /* its matchmaker may still hold it (in line, say): nobody will read the rest */
    req_finish(b, r, 408, text);
}

/* Builds the subject and payload of r. MM_OK, or the reply already went out (returns non-OK). */
static mm_err
req_message(mm_nats_bridge *b, bridge_req *r, char *subject, size_t subject_len, char **payload, size_t *len)
{
    char why[160];
    mm_err err;
    if (r->route == MM_FRONT_WANNAPLAY) {
        snprintf(subject, subject_len, "%s", MM_GENSESSION_SUBJECT);
        err = mm_request_gensession_payload(r->req.client_ip, payload, len, why, sizeof(why));
    } else {
        err = mm_request_subject(r->req.game, r->req.version, subject, subject_len, why, sizeof(why));
        if (err == MM_OK)
            err = mm_request_payload(r->req.client_ip, r->req.game, r->req.version, payload, len, why, sizeof(why));
    }
    if (err != MM_OK) {
        atomic_fetch_add(&b->failed, 1);
        req_finish(b, r, err == MM_ERR_INVALID ? 400 : 500, err == MM_ERR_INVALID ? why : "out of memory");
    }
    return err;
}

/* Publishes a request: the matchmaker logs the front's id; with a silence limit it asks for
 * liveness per process and, for an older matchmaker that knows only that, per-request
 * heartbeats (include/mm/reply.h). */
static natsStatus
req_publish(mm_nats_bridge *b, const char *subject, const char *reply, const char *payload, size_t len, uint64_t front_id)
{
    if (b->silence_ms == 0)
        return mm_request_id_publish(b->nc, subject, reply, payload, (int)len, front_id, NULL, NULL);
    natsMsg *msg = NULL;
    char id[24];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)front_id);
    natsStatus s = natsMsg_Create(&msg, subject, reply, payload, (int)len);
    if (s == NATS_OK && front_id != 0)
        s = natsMsgHeader_Set(msg, MM_REQUEST_ID_HEADER, id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, MM_REPLY_HEARTBEAT_ASK_HEADER, b->heartbeat_ask);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, MM_REPLY_LIVENESS_ASK_HEADER, b->heartbeat_ask);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, msg);
    natsMsg_Destroy(msg);
    return s;
}

/* The replica named nuid, if a request in flight names it. */
static bridge_replica *
replica_find(mm_nats_bridge *b, const char *nuid)
{
    for (bridge_replica *p = b->replicas; p != NULL; p = p->next)
        if (strcmp(p->nuid, nuid) == 0)
            return p;
    return NULL;
}

/* r's first heartbeat named its process: from now on r's silence is judged with that replica's.
 * False when out of memory (the caller ends r: its matchmaker sends no more heartbeats for it). */
static bool
req_bind_replica(mm_nats_bridge *b, bridge_req *r, natsMsg *msg, uint64_t now)
{
    const char *nuid = NULL;
    if (r->replica != NULL || natsMsgHeader_Get(msg, MM_REPLY_REPLICA_HEADER, &nuid) != NATS_OK || nuid == NULL)
        return true;
    size_t n = strlen(nuid);
    if (n == 0 || n > MM_REPLY_REPLICA_MAX || strpbrk(nuid, ".*> \t") != NULL) {
        mm_debug("bridge: request %llu: an unusable %s header: its own heartbeats are watched", (unsigned long long)r->front_id,
                 MM_REPLY_REPLICA_HEADER);
        return true;
    }
    bridge_replica *p = replica_find(b, nuid);
    if (p == NULL) {
        if ((p = calloc(1, sizeof(*p))) == NULL)
            return false;
        memcpy(p->nuid, nuid, n + 1);
        p->next = b->replicas;
        b->replicas = p;
        atomic_fetch_add(&b->replicas_now, 1);
    }
    p->heard_ms = now;
    p->refs++;
    r->replica = p;
    b->n_unbound--;
    return true;
}

/* A replica's liveness message on mm.alive.<nuid>: refreshes it, if a request in flight names
 * it. False (msg untouched) for any other subject. */
static bool
on_alive(mm_nats_bridge *b, natsMsg *msg)
{
    const char *subject = natsMsg_GetSubject(msg);
    size_t plen = sizeof(MM_REPLY_ALIVE_PREFIX) - 1;
    if (subject == NULL || strncmp(subject, MM_REPLY_ALIVE_PREFIX ".", plen + 1) != 0)
        return false;
    atomic_fetch_add(&b->alive_heard, 1);
    bridge_replica *p = replica_find(b, subject + plen + 1);
    if (p != NULL)
        p->heard_ms = mm_now_ms();
    natsMsg_Destroy(msg);
    return true;
}

/* A relay sink's watch_gone, on the front loop that detached it: the actor checks and cancels
 * (bridge_handle). A full inbox ring leaves it to the next check's walk. */
static void
on_sink_gone(void *ctx, uint64_t token)
{
    mm_nats_bridge *b = ctx;
    if (mm_actor_send(b->self, &(mm_msg){.type = MM__BRIDGE_GONE, .target = token}) != MM_OK)
        atomic_store(&b->gone_scan, true);
}

static void
on_submit(mm_nats_bridge *b, bridge_req *r)
{
    char subject[MM_REQUEST_SUBJECT_LEN], reply[96];
    char *payload = NULL;
    size_t len = 0;
    if (!connection_check(b)) {
        atomic_fetch_add(&b->nats_down, 1);
        req_finish(b, r, 503, DOWN_MESSAGE);
        return;
    }
    if (req_message(b, r, subject, sizeof(subject), &payload, &len) != MM_OK)
        return;
    if (mm_idmap_add(&b->reqs, r, &r->token) != MM_OK ||
        mm_timer_start(b->self, &r->deadline, b->timeout_ms, deadline_fired) != MM_OK) {
        mm_idmap_remove(&b->reqs, r->token); /* token 0 (never added) is a no-op */
        atomic_fetch_add(&b->failed, 1);
        req_finish(b, r, 500, "out of memory");
        goto cleanup;
    }
    r->linked = true;
    b->n_unbound++;
    r->heard_ms = mm_now_ms();
    r->prev = NULL;
    r->next = b->head;
    if (b->head != NULL)
        b->head->prev = r;
    b->head = r;
    snprintf(reply, sizeof(reply), "%s.%llu", b->inbox, (unsigned long long)r->token);
    /* the matchmaker logs the front's id; heartbeats only when asked (include/mm/reply.h) */
    natsStatus s = req_publish(b, subject, reply, payload, len, r->front_id);
    if (s != NATS_OK) {
        mm_warn("bridge: request %llu: publishing on %s failed: %s", (unsigned long long)r->front_id, subject,
                natsStatus_GetText(s));
        atomic_fetch_add(&b->nats_down, 1);
        req_finish(b, r, 503, DOWN_MESSAGE);
        goto cleanup;
    }
    atomic_fetch_add(&b->published, 1);
    if (!mm_reply_watch_gone(r->sink, on_sink_gone, b, r->token)) { /* may post a GONE at once */
        r->gone_polled = true;
        b->n_gone_polled++;
    }
    if (!mm_timer_active(&b->check_timer) && mm_timer_start(b->self, &b->check_timer, b->check_ms, check_timer_fired) != MM_OK)
        mm_error("bridge: cannot arm the connection check (out of memory)");
cleanup:
    free(payload);
}

/* The one answer of session.gensession: SessionReady and the end, or the service error. */
static void
on_gensession_answer(mm_nats_bridge *b, bridge_req *r, natsMsg *msg)
{
    const char *code = NULL, *text = NULL;
    if (natsMsgHeader_Get(msg, MM_NATS_SERVICE_ERROR_CODE, &code) == NATS_OK && code != NULL) {
        uint64_t status = 500;
        char why[96];
        if (mm_parse_u64(code, 100, 999, &status, why, sizeof(why)) != MM_OK)
            status = 500;
        if (natsMsgHeader_Get(msg, MM_NATS_SERVICE_ERROR, &text) != NATS_OK || text == NULL || text[0] == '\0')
            text = "unknown error";
        atomic_fetch_add(&b->completed, 1);
        req_finish(b, r, (uint16_t)status, text);
        return;
    }
    const char *data = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    mm_session_response resp;
    char why[160] = "empty";
    char *ready = NULL;
    size_t ready_len = 0;
    if (data == NULL || len <= 0 || mm_session_response_decode(data, (size_t)len, &resp, why, sizeof(why)) != MM_OK) {
        mm_warn("bridge: request %llu: malformed session.gensession answer (%s)", (unsigned long long)r->front_id, why);
        atomic_fetch_add(&b->failed, 1);
        req_finish(b, r, 502, "the matchmaker sent a malformed answer");
        return;
    }
    mm_err err =
        mm_feedback_ready(resp.connect_token, resp.gameserver_ip, resp.gameserver_port, resp.cert_digest, &ready, &ready_len);
    mm_session_response_clear(&resp);
    if (err != MM_OK) {
        atomic_fetch_add(&b->failed, 1);
        req_finish(b, r, 500, "out of memory");
        return;
    }
    mm_reply_send(r->sink, ready, ready_len);
    free(ready);
    atomic_fetch_add(&b->completed, 1);
    req_finish(b, r, 0, NULL);
}

static void
on_reply(mm_nats_bridge *b, natsMsg *msg)
{
    if (on_alive(b, msg))
        return;
    atomic_fetch_add(&b->replies, 1);
    /*
     * Before relaying, the same check as the timer's: a reply that arrives after a reconnect may
     * follow replies that were lost while the connection was down (when its NATS node died, the
     * cluster fault test saw a ProgressReport relayed after a lost SessionRequestAccepted). The
     * requests in flight then end with 503 at once and this reply finds nothing to relay; waiting
     * for the timer (check_ms) would pass a stream with a hole to the client.
     */
    if (b->head != NULL)
        connection_check(b);
    const char *subject = natsMsg_GetSubject(msg);
    uint64_t token = 0;
    bridge_req *r = NULL;
    char why[96];
    if (subject != NULL && strncmp(subject, b->inbox, b->inbox_len) == 0 && subject[b->inbox_len] == '.' &&
        mm_parse_u64(subject + b->inbox_len + 1, 1, UINT64_MAX, &token, why, sizeof(why)) == MM_OK)
        r = mm_idmap_get(&b->reqs, token);
    if (r != NULL) {
        r->heard_ms = mm_now_ms();
        r->heard = true;
        if (r->replica != NULL)
            r->replica->heard_ms = r->heard_ms; /* any message of its requests: that process is alive */
    }
    if (r == NULL) {
        if (mm_reply_is_heartbeat(msg))
            atomic_fetch_add(&b->heartbeats, 1); /* one may follow its request's end: not a late reply */
        else
            atomic_fetch_add(&b->late, 1);
        mm_debug("bridge: a reply on %s for no request in flight: dropped", subject != NULL ? subject : "?");
    } else if (natsMsg_IsNoResponders(msg)) {
        char text[128];
        if (r->route == MM_FRONT_WANNAPLAY)
            snprintf(text, sizeof(text), "no matchmaker is serving %s", MM_GENSESSION_SUBJECT);
        else
            snprintf(text, sizeof(text), "no matchmaker is serving %s %s", r->req.game, r->req.version);
        atomic_fetch_add(&b->no_responders, 1);
        mm_info("bridge: request %llu: %s", (unsigned long long)r->front_id, text);
        req_finish(b, r, 503, text);
    } else if (mm_reply_is_heartbeat(msg)) {
        atomic_fetch_add(&b->heartbeats, 1);
        r->heartbeats = true; /* from now on, silence means its matchmaker is gone */
        const char *cancel = natsMsg_GetReply(msg);
        if (r->cancel == NULL && cancel != NULL && strncmp(cancel, MM_REPLY_CANCEL_PREFIX ".", sizeof(MM_REPLY_CANCEL_PREFIX)) == 0)
            r->cancel = strdup(cancel); /* NULL (out of memory): no cancel, the request goes on as before */
        if (!req_bind_replica(b, r, msg, r->heard_ms)) {
            /* its matchmaker sends no more heartbeats for it: it would be cut at the silence limit */
            mm_error("bridge: request %llu: out of memory for its replica's entry", (unsigned long long)r->front_id);
            req_publish_cancel(b, r);
            atomic_fetch_add(&b->failed, 1);
            req_finish(b, r, 500, "out of memory");
        }
    } else if (r->route == MM_FRONT_WANNAPLAY) {
        on_gensession_answer(b, r, msg);
    } else if (natsMsg_GetDataLength(msg) <= 0) {
        atomic_fetch_add(&b->completed, 1);
        req_finish(b, r, 0, NULL);
    } else if (mm_reply_send(r->sink, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg)) != MM_OK) {
        /* The sink refused (its client is gone, or the text is unusable): nothing more to relay. */
        mm_debug("bridge: request %llu: the reply sink refused a message; request ended", (unsigned long long)r->front_id);
        req_cancel(b, r, &b->failed);
    } else if (mm_feedback_kind_of(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg)) == MM_FEEDBACK_READY) {
        r->ready = true;
    } else if (mm_feedback_is_line_report(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg))) {
        /* in line: request_timeout_ms counts from the last report (the matchmaker bounds the line) */
        mm_timer_stop(b->self, &r->deadline);
        if (mm_timer_start(b->self, &r->deadline, b->timeout_ms, deadline_fired) != MM_OK) {
            req_cancel(b, r, &b->failed);
        }
    }
    natsMsg_Destroy(msg);
}

/* Takes what the delivery thread queued: the lost tokens (ended first) and up to max replies. */
static size_t
take_replies(mm_nats_bridge *b, natsMsg **out, size_t max, uint64_t *lost, uint32_t *n_lost, bool *lost_all)
{
    size_t n = 0;
    pthread_mutex_lock(&b->rq_mu);
    *n_lost = b->lost_len;
    memcpy(lost, b->lost, b->lost_len * sizeof(*lost));
    *lost_all = b->lost_all;
    b->lost_len = 0;
    b->lost_all = false;
    for (; n < max && b->rq_len > 0; n++, b->rq_len--) {
        out[n] = b->rq[b->rq_head];
        b->rq_head = (b->rq_head + 1) % b->rq_cap;
    }
    pthread_mutex_unlock(&b->rq_mu);
    return n;
}

static void
on_wake(mm_nats_bridge *b)
{
    atomic_store(&b->wake_posted, false); /* before taking: a reply queued from now on posts a new WAKE */
    natsMsg *batch[WAKE_BATCH];
    uint64_t lost[MM__BRIDGE_LOST_MAX];
    size_t handled = 0;
    for (;;) {
        uint32_t n_lost = 0;
        bool lost_all = false;
        size_t n = take_replies(b, batch, WAKE_BATCH, lost, &n_lost, &lost_all);
        for (uint32_t i = 0; i < n_lost; i++) {
            bridge_req *r = mm_idmap_get(&b->reqs, lost[i]);
            if (r != NULL) {
                atomic_fetch_add(&b->lost_failed, 1);
                mm_warn("bridge: request %llu: a reply was lost (reply queue full): answered 503", (unsigned long long)r->front_id);
                req_publish_cancel(b, r);
                req_finish(b, r, 503, OVERFLOW_MESSAGE);
            }
        }
        if (lost_all && b->head != NULL) {
            size_t k = fail_all(b, &b->lost_failed, OVERFLOW_MESSAGE, true);
            mm_warn("bridge: more replies lost than remembered: %zu requests in flight answered 503", k);
        }
        for (size_t i = 0; i < n; i++) {
            atomic_fetch_sub(&b->queued, 1);
            on_reply(b, batch[i]);
        }
        handled += n;
        if (n < WAKE_BATCH)
            return;
        if (handled >= WAKE_MAX) {
            /* more waiting: let SUBMITs in, then come back (this thread's ring holds at most one WAKE) */
            if (!atomic_exchange(&b->wake_posted, true) && mm_actor_send(b->self, &(mm_msg){.type = MM__BRIDGE_WAKE}) != MM_OK)
                atomic_store(&b->wake_posted, false);
            return;
        }
    }
}

/* At stop (the subscription is closed: nothing is added any more): frees what is still queued. */
static void
drop_replies(mm_nats_bridge *b)
{
    natsMsg *batch[WAKE_BATCH];
    uint64_t lost[MM__BRIDGE_LOST_MAX];
    uint32_t n_lost;
    bool lost_all;
    size_t n;
    while ((n = take_replies(b, batch, WAKE_BATCH, lost, &n_lost, &lost_all)) > 0)
        for (size_t i = 0; i < n; i++) {
            atomic_fetch_sub(&b->queued, 1);
            natsMsg_Destroy(batch[i]);
        }
}

/* An Edgegap webhook (mm_nats_bridge_webhook_intent): one core message, no reply; the front has
 * already answered 204 (a lost one is covered by the matchmaker's fallback poll). session_id is
 * followed by the intent ("" none) after its NUL; the intent travels in a header. */
static void
on_webhook(mm_nats_bridge *b, char *session_id)
{
    const char *intent = session_id + strlen(session_id) + 1;
    json_t *o = json_pack("{s:s}", "session_id", session_id);
    char *payload = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    natsMsg *msg = NULL;
    natsStatus s = payload != NULL ? natsMsg_Create(&msg, MM_BRIDGE_WEBHOOK_SUBJECT, NULL, payload, (int)strlen(payload))
                                   : NATS_NO_MEMORY;
    if (s == NATS_OK && intent[0] != '\0')
        s = natsMsgHeader_Set(msg, MM_INTENT_HEADER, intent);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, msg);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) {
        atomic_fetch_add(&b->webhooks_published, 1);
    } else {
        atomic_fetch_add(&b->webhooks_failed, 1);
        mm_warn("bridge: publishing a webhook on %s failed: %s", MM_BRIDGE_WEBHOOK_SUBJECT, natsStatus_GetText(s));
    }
    free(payload);
    json_decref(o);
    free(session_id);
}

/* ---- the actor ---- */

static void
bridge_handle(void *state, mm_actor *self, mm_msg *msg)
{
    (void)self;
    mm_nats_bridge *b = state;
    if (msg->type == MM__BRIDGE_SUBMIT) {
        atomic_fetch_sub(&b->queued, 1);
        on_submit(b, msg->ptr);
    } else if (msg->type == MM__BRIDGE_WEBHOOK) {
        atomic_fetch_sub(&b->queued, 1);
        on_webhook(b, msg->ptr);
    } else if (msg->type == MM__BRIDGE_GONE) {
        bridge_req *r = mm_idmap_get(&b->reqs, msg->target); /* ended meanwhile, or a token reused: */
        if (r != NULL && mm_reply_gone(r->sink))             /* its sink says whether it is gone */
            req_client_left(b, r);
    } else {
        on_wake(b);
    }
}

static void
bridge_discard(void *state, mm_msg *msg)
{
    mm_nats_bridge *b = state;
    if (msg->type == MM__BRIDGE_SUBMIT) {
        atomic_fetch_sub(&b->queued, 1);
        bridge_req *r = msg->ptr;
        req_finish(b, r, 503, STOPPING_MESSAGE);
    } else if (msg->type == MM__BRIDGE_WEBHOOK) {
        atomic_fetch_sub(&b->queued, 1);
        atomic_fetch_add(&b->webhooks_failed, 1);
        free(msg->ptr);
    }
}

static mm_err
bridge_start_cb(void *state, mm_actor *self)
{
    mm_nats_bridge *b = state;
    b->self = self;
    if (natsStatistics_Create(&b->nstats) != NATS_OK)
        return MM_ERR_NOMEM;
    connection_check(b);
    return MM_OK;
}

static void
bridge_stop_cb(void *state)
{
    mm_nats_bridge *b = state;
    /* nobody will read the rest: cancels buffered, sent if NATS is still up */
    size_t n = fail_all(b, &b->failed, STOPPING_MESSAGE, true);
    if (n > 0)
        mm_warn("bridge: stopping with %zu requests in flight: answered 503", n);
    drop_replies(b);
    mm_idmap_dispose(&b->reqs);
    natsStatistics_Destroy(b->nstats);
    b->nstats = NULL;
}

const mm_actor_ops mm__bridge_ops = {
    .name = "nats-bridge",
    .start = bridge_start_cb,
    .handle = bridge_handle,
    .discard = bridge_discard,
    .stop = bridge_stop_cb,
};
