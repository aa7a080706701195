/*
 * One session request's state machine, on the provisioner thread (include/mm/provisioner.h has
 * the sequence and the policies). The states are enum mm__prov_state (provisioner_internal.h);
 * every transition is in this file, in this order:
 *
 *   REQUEST_NEW  -> CREATING   Acknowledged; the session deadline armed; POST /v1/session (with a
 *                              budget: the waiting room first, where the deadline is the longest
 *                              wait in line, 503; the session deadline is armed when it leaves)
 *   CREATING     -> CREATING   429, 503 or not sent, retries and time left: again after a backoff
 *   CREATING     -> POLLING    created: unclaimed_sessions put, SessionRequestAccepted, poll 0 armed
 *   POLLING      -> POLLING    an answer not ready: ProgressReport, the next tick of the grid;
 *                              a retryable failure: the first tick after a backoff
 *   POLLING      -> MINTING    ready and its cert digest cached: MINT (or the mint line)
 *   POLLING      -> CERT_WAIT  ready, no digest yet: wait up to cert_wait_ms
 *   POLLING      -> POLLING    WEBHOOK (webhooks on): one GET now if none was asked for in the
 *                              last window; a poll in flight: poll again as soon as it answers
 *   CREATING,                  WEBHOOK: ignored (counted): not in the session-id index, as it has
 *   CERT_WAIT,                 no id yet, or is ready already; the unknown and the done too. An
 *   MINTING, DONE              unknown id is remembered a while: a create answered after its
 *                              session's webhook (CREATING -> POLLING) polls at once
 *   CERT_WAIT    -> MINTING    CERT_EVENT for its server (mm__prov_req_cert_known)
 *   MINTING      -> DONE       TOKEN_READY: KV puts, SessionReady, the sink ended
 *   any          -> DONE       a failure: Error(status, message), and the session's deletion when
 *                              Edgegap made one it will not use (timeout 408, no cert digest, ...);
 *                              the provisioner's stop: 503 by the freed sink, deletion enqueued
 *
 * Owns each request (mm__prov_req, by id in p->reqs and in p's list) from REQUEST_NEW to its end,
 * and by session id in p->index from its creation to its end. Receives, through provisioner.c:
 * new requests, WEBHOOKs, TOKEN_READYs, known cert digests, the idle tick
 * (drain the poll line) and the stop; directly: its Edgegap callbacks and timers. Sends:
 * feedback texts to the request's reply sink, Edgegap calls, MINTs to the minter, and (through
 * provisioner_support.c) KV puts and deletion enqueues. Never blocks, never sends to itself.
 *
 * Each step either makes one Edgegap call (the request is its callback's ctx and is `busy` until
 * it answers), arms a timer, waits in a line, or sends a MINT. Every failure goes through
 * req_fail(), every end through req_finish(), so the sink is ended and freed exactly once. A
 * request that ends while its Edgegap call runs is DONE and freed by that call's callback.
 *
 * Layers (provisioner_internal.h): provisioner.c calls the mm__prov_req_* inputs below; this file
 * calls down into provisioner_support.c (lines, cert cache, KV, backoff), which never calls back.
 * Edgegap callbacks and timers of a request all land here.
 *
 * Logs: a request writes one info line, when it ends well (ready, with its time); a failure is
 * its one warning. The milestones in between (received, created, queued) are debug lines:
 * at thousands of sessions a second, four lines each cost more than the work they describe.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/request_id.h"
#include "mm/minter.h"
#include "mm/waiting_room.h"
#include "provisioner_internal.h"

#define REQ_OF(t, field) ((mm__prov_req *)(void *)((char *)(t)-offsetof(mm__prov_req, field)))

static void req_create(mm__prov_req *r);
static void req_poll_begin(mm__prov_req *r);
static void req_poll_due(mm__prov_req *r);
static void req_mint(mm__prov_req *r, const char *digest);
static void req_mint_send(mm__prov_req *r, bool its_turn);

/* ---- every state: ending, failing, answering ---- */

static void
req_release(mm__prov_req *r)
{
    if (!r->busy)
        free(r);
}

/* Ends the request (freeing its sink, which answers 503 if not ended yet) and releases it. */
static void
req_finish(mm__prov_req *r)
{
    mm_provisioner *p = r->p;
    if (r->state == MM__PROV_DONE)
        return;
    mm__prov_state_set(r, MM__PROV_DONE);
    mm__prov_line_remove(r, MM__PROV_POLL_LINE);
    mm__prov_line_remove(r, MM__PROV_MINT_LINE);
    mm__prov_room_drop(r);
    mm__prov_index_remove(r);
    if (!p->stopping) {
        mm_timer_stop(p->self, &r->timer);
        mm_timer_stop(p->self, &r->deadline);
    }
    mm_reply_free(r->sink);
    r->sink = NULL;
    mm_idmap_remove(&p->reqs, r->id);
    if (r->prev)
        r->prev->next = r->next;
    else
        p->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    atomic_fetch_sub(&p->active, 1);
    req_release(r);
}

/* Sends the text an encoder just wrote into *text, then frees it (enc: the encoder's result). */
static void
req_send(mm__prov_req *r, mm_err enc, char **text, const size_t *len)
{
    if (enc == MM_OK)
        mm_reply_send(r->sink, *text, *len);
    else
        mm_error("provisioner: request %llu: could not encode a feedback message", (unsigned long long)r->rid);
    free(*text);
    *text = NULL;
}

/* Error(status, message), logged as the request's one end line; then finished (r may be freed). */
static void
req_fail(mm__prov_req *r, uint16_t status, const char *message, bool delete_session)
{
    bool deleting = delete_session && r->session_id[0];
    mm_warn("provisioner: request %llu (session %s) failed: %u %s (after %llu ms%s)", (unsigned long long)r->rid,
            r->session_id[0] ? r->session_id : "-", status, message, (unsigned long long)(mm_now_ms() - r->start_ms),
            deleting ? "; session deletion enqueued" : "");
    mm_reply_error(r->sink, status, message);
    atomic_fetch_add(&r->p->n_failed, 1);
    mm__prov_metric_end(r, status);
    if (deleting)
        mm__prov_enqueue_delete(r->p, r->session_id);
    req_finish(r);
}

/* True when a step may run again after wait_ms: the session deadline is not reached by then. */
static bool
req_time_left(const mm__prov_req *r, uint64_t wait_ms)
{
    return mm_now_ms() + wait_ms < r->admit_ms + r->p->session_timeout_ms;
}

/* An Edgegap callback's common start: false when the request is gone (and then it was released). */
static bool
req_callback_enter(mm__prov_req *r, const mm_edgegap_result *res)
{
    r->busy = false;
    if (r->state == MM__PROV_DONE || r->p->stopping) {
        if (r->state == MM__PROV_DONE && res->op == MM_EDGEGAP_SESSION_CREATE && res->outcome == MM_EDGEGAP_OK &&
            res->session_id != NULL && !r->p->stopping) {
            mm_info("provisioner: request %llu: session %s created after the request ended: deleting it", (unsigned long long)r->rid,
                    res->session_id);
            mm__prov_enqueue_delete(r->p, res->session_id);
        }
        if (res->op == MM_EDGEGAP_SESSION_CREATE && !r->p->stopping)
            mm__prov_intent_settle(r); /* stopping: kept, so a session made after this process is gone is an orphan */
        if (r->state == MM__PROV_DONE)
            free(r);
        return false;
    }
    return true;
}

/* Arms t for ms; on failure the request is failed (and may be freed): false. */
static bool
req_arm(mm__prov_req *r, mm_timer *t, uint64_t ms, mm_timer_cb cb)
{
    if (mm_timer_start(r->p->self, t, ms, cb) == MM_OK)
        return true;
    req_fail(r, 500, "the matchmaker is out of memory", true);
    return false;
}

static void
on_deadline(mm_timer *t)
{
    mm__prov_req *r = REQ_OF(t, deadline);
    req_fail(r, 408, "session still not ready, timed out.", true);
}

/* In line for --max-line-wait-ms: no session was made, the player may try again. */
static void
on_line_deadline(mm_timer *t)
{
    mm__prov_req *r = REQ_OF(t, deadline);
    atomic_fetch_add(&r->p->room.expired, 1);
    req_fail(r, 503, MM_WAITING_ROOM_TOO_LONG, false);
}

/* ---- REQUEST_NEW -> CREATING ---- */

void
mm__prov_req_begin(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip, uint64_t rid)
{
    mm__prov_req *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        mm_reply_error(sink, 503, "the matchmaker is out of memory");
        mm_reply_free(sink);
        atomic_fetch_sub(&p->active, 1);
        return;
    }
    r->p = p;
    r->sink = sink;
    if (rid == 0 && p->next_rid == 0)
        p->next_rid = mm_request_id_seed();
    r->rid = rid != 0 ? rid : p->next_rid++;
    r->start_ms = mm_now_ms();
    snprintf(r->client_ip, sizeof(r->client_ip), "%s", client_ip);
    if (mm_idmap_add(&p->reqs, r, &r->id) != MM_OK) {
        mm_reply_error(sink, 503, "the matchmaker is out of memory");
        mm_reply_free(sink);
        atomic_fetch_sub(&p->active, 1);
        free(r);
        return;
    }
    r->next = p->head;
    if (p->head)
        p->head->prev = r;
    p->head = r;
    mm__prov_state_set(r, MM__PROV_CREATING);

    char *text = NULL;
    size_t len = 0;
    req_send(r, mm_feedback_acknowledged(&text, &len), &text, &len);
    /* the session timeout counts from the create: with a budget, from leaving the line (mm__prov_req_admit) */
    if (!req_arm(r, &r->deadline, p->budget != NULL ? p->room.max_wait_ms : p->session_timeout_ms,
                 p->budget != NULL ? on_line_deadline : on_deadline))
        return;
    r->admit_ms = r->start_ms;
    char resolved[MM_IP_TEXT_LEN];
    char why[160];
    if (mm_client_ip_resolve(client_ip, NULL, resolved, NULL, why, sizeof(why)) != MM_OK) {
        req_fail(r, 400, why, false);
        return;
    }
    snprintf(r->client_ip, sizeof(r->client_ip), "%s", resolved);
    mm_debug("provisioner: request %llu: received for client %s", (unsigned long long)r->rid, r->client_ip);
    if (p->budget != NULL) {
        mm__prov_room_join(r); /* the create waits for the fleet's budget (waiting_room.c) */
        return;
    }
    req_create(r);
}

void
mm__prov_req_admit(mm__prov_req *r)
{
    r->admit_ms = mm_now_ms();
    mm_timer_stop(r->p->self, &r->deadline); /* the line's limit: the session timeout starts now */
    if (!req_arm(r, &r->deadline, r->p->session_timeout_ms, on_deadline))
        return;
    req_create(r);
}

void
mm__prov_req_gone(mm__prov_req *r)
{
    req_finish(r);
}

void
mm__prov_req_refuse(mm__prov_req *r, const char *message)
{
    req_fail(r, 503, message, false);
}

/* ---- CREATING: POST /v1/session, repeated after a backoff when surely no session was made ---- */

static void
on_create_timer(mm_timer *t)
{
    req_create(REQ_OF(t, timer));
}

static void
on_session_create(void *ctx, const mm_edgegap_result *res)
{
    mm__prov_req *r = ctx;
    if (!req_callback_enter(r, res))
        return;
    if (res->outcome != MM_EDGEGAP_OK) {
        mm__prov_intent_settle(r); /* this attempt made no session we will ever hear of from here */
        if (mm__prov_create_repeatable(res) && r->attempt < r->p->create_retries) {
            uint64_t wait = mm__prov_backoff_ms(r->p, ++r->attempt, r->p->backoff_base_ms / 2);
            if (req_time_left(r, wait)) {
                mm_warn("provisioner: request %llu: session create: %s (attempt %u of %u, again in %llu ms)",
                        (unsigned long long)r->rid, res->message, r->attempt, r->p->create_retries + 1, (unsigned long long)wait);
                atomic_fetch_add(&r->p->n_retries, 1);
                mm_metric_edgegap_retry(MM_METRIC_EP_CREATE);
                req_arm(r, &r->timer, wait, on_create_timer);
                return;
            }
        }
        req_fail(r, mm__prov_status_of(res), res->message, false);
        return;
    }
    r->attempt = 0;
    if (!mm_session_id_valid(res->session_id)) {
        req_fail(r, 500, "Edgegap answered with an invalid session id", false);
        return;
    }
    snprintf(r->session_id, sizeof(r->session_id), "%s", res->session_id);
    mm_debug("provisioner: request %llu: session %s created", (unsigned long long)r->rid, r->session_id);
    /* recorded before the client hears of it, so the reaper knows every session a client saw */
    mm__prov_kv_put_async(r->p, MM_KV_UNCLAIMED_SESSIONS, r->session_id, r->session_id);
    mm__prov_intent_settle(r); /* after the put, on the same connection: the session is never both unrecorded and settled */
    char *text = NULL;
    size_t len = 0;
    req_send(r, mm_feedback_accepted(r->session_id, &text, &len), &text, &len);
    mm__prov_state_set(r, MM__PROV_POLLING);
    mm__prov_index_add(r);
    atomic_fetch_add(&r->p->n_polled, 1);
    if (r->p->webhooks && mm__prov_early_take(r->p, r->session_id, mm_now_ms())) {
        /* its webhook overtook this answer: the GET it asked for, now (the grid stays as set) */
        atomic_fetch_add(&r->p->n_webhooks_early, 1);
        atomic_fetch_add(&r->p->n_webhook_gets, 1);
        mm_metric_webhook(MM_METRIC_WH_ROUTED_GET);
        r->poll_origin_ms = mm_now_ms(); /* this GET is tick 0; the fallback grid goes on from it */
        r->poll_tick = 0;
        r->webhook_get_ms = mm_now_ms();
        req_poll_due(r);
        return;
    }
    req_poll_begin(r);
}

static void
req_create(mm__prov_req *r)
{
    mm_provisioner *p = r->p;
    const char *ips[1] = {r->client_ip};
    char url[2048 + 1]; /* the Edgegap client refuses a longer webhook_url */
    const char *webhook = mm__prov_intent_open(r, url, sizeof(url));
    mm_err err = mm_edgegap_session_create(p->eg, p->app, p->version, ips, 1, webhook, on_session_create, r);
    if (err != MM_OK) {
        mm__prov_intent_settle(r);
        req_fail(r, err == MM_ERR_FULL ? 503 : 500,
                 err == MM_ERR_FULL ? "the matchmaker is busy: too many Edgegap calls waiting, try again"
                                    : mm_edgegap_last_error(p->eg),
                 false);
        return;
    }
    r->busy = true;
    mm_edgegap_stats st;
    mm_edgegap_get_stats(p->eg, &st);
    /* Ours is the newest urgent request: only the urgent ones (creates) start before it, the
     * queued polls wait behind it. */
    uint32_t ahead = st.queued_class[MM_EDGEGAP_URGENT];
    if (ahead > 0) {
        ahead--;
        char status[96];
        snprintf(status, sizeof(status), "Waiting for Edgegap: %u requests ahead", ahead);
        mm_debug("provisioner: request %llu: queued behind %u Edgegap creates (%u calls running)", (unsigned long long)r->rid, ahead,
                 st.in_flight);
        char *text = NULL;
        size_t len = 0;
        req_send(r, mm_feedback_progress(status, (int64_t)((mm_now_ms() - r->start_ms) / 1000), &text, &len), &text, &len);
    }
}

/*
 * ---- POLLING: GET /v1/session/{id} until ready, each answer a ProgressReport ----
 *
 * The grid. Poll k is due at created + poll_delay_ms + k * poll_interval_ms (r->poll_origin_ms
 * + k * interval), not one interval after the previous answer: round trips do not add up (ten
 * polls with a 100 ms round trip no longer take one second more than ten intervals). The next
 * poll is armed when an answer arrives, for the first tick after the previous poll's tick that
 * is not already past (mm__prov_grid_next), so a round trip longer than the interval skips the
 * ticks it covered and never causes a burst. A retryable failure (429, 5xx, no answer) backs off
 * (mm__prov_backoff_ms: exponential, jittered, never below the interval) and then rejoins the
 * grid at the first tick after the backoff.
 *
 * One poll per request at a time: a polling request is in exactly one of three places -- its
 * poll timer armed, its poll accepted by the Edgegap client (`busy`), or waiting in the poll line
 * -- so the client never holds two polls of one session.
 *
 * Polls are BACKGROUND calls of the Edgegap client (creates are URGENT, include/mm/edgegap.h):
 * they start only when no create waits, and they may fill only part of the client's queue. A
 * poll the client refuses (MM_ERR_FULL: its background share is full) is not an error and not a
 * retry: the request joins the poll line, a FIFO of requests whose poll is due. After each
 * mm_edgegap_perform() (the only place where the client's room grows) the line is handed to the
 * client, oldest first, while mm_edgegap_room(BACKGROUND) allows (mm__prov_req_drain_polls).
 * While the line is not empty a newly due poll joins its end without trying the client, so
 * nobody jumps the line.
 *
 * Why no session starves. Re-trying a refused poll at its next tick would not be enough: places
 * in the client free up at moments set by the answers, and a session whose ticks keep falling
 * just before those moments would be refused every time, phase-locked (a rule that skipped polls
 * while N requests were queued did exactly that to new sessions under a steady load). Here a due
 * poll keeps its place: it is passed by no poll that became due after it (the line is FIFO, then
 * the client's background queue is FIFO), and background calls are passed only by creates,
 * which are bounded (one per player, at most max_queued waiting). So a waiting session is polled
 * after at most the polls ahead of it (fewer than the requests in flight) plus the creates that
 * arrive meanwhile, and every session, old or new, gets its polls in turn: under overload polls
 * come less often, evenly. The session timeout still ends every request.
 *
 * Fallback ticks (webhooks on). The fallback grid's polls are rare per session but, with many
 * sessions waiting, frequent in all (10,000 sessions on a 10 s grid: 1,000 a second). Each
 * alone woke this thread for its timer and again for its answer, and woke the front's loop for
 * its ProgressReport: at low rates those wake-ups, not the GETs, were most of the cost. So a
 * fallback poll is put off to the next multiple of MM__PROV_FALLBACK_TICK_MS of the monotonic
 * clock (req_poll_arm): the polls due within one tick start in one timer run and their answers
 * and ProgressReports arrive in bursts that one wake-up drains. A poll is at most one tick late
 * and the number of polls is unchanged. Webhooks off, the grid is exact, as before.
 */

static void on_session_get(void *ctx, const mm_edgegap_result *res);

/* Hands r's poll to the client: MM_OK (r is busy), MM_ERR_FULL (no room; r untouched), or any
 * other error, after which r has failed and may be freed. */
static mm_err
req_poll_start(mm__prov_req *r)
{
    mm_err err = mm_edgegap_session_get(r->p->eg, r->session_id, MM_EDGEGAP_BACKGROUND, on_session_get, r);
    if (err == MM_OK) {
        r->busy = true;
        atomic_fetch_add(&r->p->n_gets, 1);
        r->gets++;
    } else if (err != MM_ERR_FULL) {
        req_fail(r, 500, mm_edgegap_last_error(r->p->eg), true);
    }
    return err;
}

/* Poll tick of r reached: poll now, or wait in the line behind the polls already due. */
static void
req_poll_due(mm__prov_req *r)
{
    if (r->busy || r->places[MM__PROV_POLL_LINE].in)
        return; /* one poll per request at a time (see above): cannot happen, but never stack two */
    if (r->p->lines[MM__PROV_POLL_LINE].head == NULL && req_poll_start(r) != MM_ERR_FULL)
        return;
    atomic_fetch_add(&r->p->n_polls_waited, 1);
    mm_debug("provisioner: request %llu: poll of session %s waits for room in the Edgegap client", (unsigned long long)r->rid,
             r->session_id);
    mm__prov_line_push(r, MM__PROV_POLL_LINE);
}

void
mm__prov_req_drain_polls(mm_provisioner *p)
{
    while (p->lines[MM__PROV_POLL_LINE].head != NULL && mm_edgegap_room(p->eg, MM_EDGEGAP_BACKGROUND) > 0) {
        mm__prov_req *r = p->lines[MM__PROV_POLL_LINE].head;
        mm_err err = req_poll_start(r);
        if (err == MM_ERR_FULL)
            break; /* keeps its place at the head; tried again after the next perform */
        if (err == MM_OK)
            mm__prov_line_remove(r, MM__PROV_POLL_LINE);
        /* else r failed: req_finish took it out of the line */
    }
}

static void
on_poll_timer(mm_timer *t)
{
    req_poll_due(REQ_OF(t, timer));
}

/* Arms r's poll timer for its grid tick delay_ms from now. Webhooks on, the fallback poll is
 * put off to the next MM__PROV_FALLBACK_TICK_MS boundary (at most that much later), so the
 * fallback polls of every session due within one tick share a deadline: one wake-up starts them
 * all, and their answers come back together (see "Fallback ticks" above). */
static void
req_poll_arm(mm__prov_req *r, uint64_t delay_ms)
{
    if (r->p->webhooks)
        delay_ms = mm__prov_tick_delay(mm_now_ms(), delay_ms, MM__PROV_FALLBACK_TICK_MS);
    req_arm(r, &r->timer, delay_ms, on_poll_timer);
}

/* The session was just created: sets the poll grid's origin (now + poll_delay_ms), arms poll 0. */
static void
req_poll_begin(mm__prov_req *r)
{
    r->poll_origin_ms = mm_now_ms() + r->p->poll_delay_ms;
    r->poll_tick = 0;
    req_poll_arm(r, r->p->poll_delay_ms);
}

static void
on_cert_timer(mm_timer *t)
{
    mm__prov_req *r = REQ_OF(t, timer);
    char msg[200];
    snprintf(msg, sizeof(msg), "no certificate digest for game server %s within %llu ms", r->ip,
             (unsigned long long)r->p->cert_wait_ms);
    req_fail(r, 500, msg, true);
}

/* POLLING -> MINTING or CERT_WAIT: the player's port, then the cert digest (cached, or waited for). */
static void
req_session_ready(mm__prov_req *r, const mm_edgegap_result *res)
{
    char why[160];
    uint16_t port = 0;
    if (mm_edgegap_session_port(res, r->p->port_name, &port, why, sizeof(why)) != MM_OK) {
        req_fail(r, 500, why, true);
        return;
    }
    snprintf(r->ip, sizeof(r->ip), "%s", res->public_ip);
    r->port = port;
    const char *digest = mm__prov_cert_find(r->p, r->ip);
    if (digest != NULL) {
        req_mint(r, digest);
        return;
    }
    mm_debug("provisioner: request %llu: session %s ready at %s:%u; waiting up to %llu ms for its cert digest",
             (unsigned long long)r->rid, r->session_id, r->ip, r->port, (unsigned long long)r->p->cert_wait_ms);
    mm__prov_state_set(r, MM__PROV_CERT_WAIT);
    req_arm(r, &r->timer, r->p->cert_wait_ms, on_cert_timer);
}

static void
on_session_get(void *ctx, const mm_edgegap_result *res)
{
    mm__prov_req *r = ctx;
    if (!req_callback_enter(r, res))
        return;
    bool again = r->poll_again; /* a failed GET backs off instead */
    r->poll_again = false;
    if (res->outcome != MM_EDGEGAP_OK) {
        if (mm_edgegap_retryable(res)) { /* keep polling, backing off, until the deadline */
            uint64_t backoff = mm__prov_backoff_ms(r->p, ++r->attempt, r->p->poll_interval_ms);
            uint64_t wait = mm__prov_grid_next(r, mm_now_ms() + backoff);
            mm_warn("provisioner: request %llu: polling session %s: %s (again in %llu ms)", (unsigned long long)r->rid,
                    r->session_id, res->message, (unsigned long long)wait);
            atomic_fetch_add(&r->p->n_retries, 1);
            mm_metric_edgegap_retry(MM_METRIC_EP_GET);
            req_poll_arm(r, wait);
            return;
        }
        req_fail(r, mm__prov_status_of(res), res->message, true);
        return;
    }
    r->attempt = 0;
    char *text = NULL;
    size_t len = 0;
    req_send(r, mm_feedback_progress(res->session_status ? res->session_status : "", res->elapsed, &text, &len), &text, &len);
    if (!res->ready || res->public_ip == NULL) {
        if (again) { /* a webhook came while this GET was out: its own GET, now */
            atomic_fetch_add(&r->p->n_webhook_gets, 1);
            mm_metric_webhook(MM_METRIC_WH_ROUTED_GET);
            req_poll_due(r);
            return;
        }
        req_poll_arm(r, mm__prov_grid_next(r, mm_now_ms()));
        return;
    }
    req_session_ready(r, res);
}

/*
 * ---- POLLING: a WEBHOOK (webhooks on) ----
 *
 * Edgegap's webhook only says "look at session X": it carries no address, and anyone who learnt
 * the URL can send it, so it triggers a GET (the same GET and answer path as a poll) and never
 * decides anything itself. A forged or replayed webhook costs at most one GET per session per
 * MM_PROVISIONER_WEBHOOK_WINDOW_MS: the window starts when a webhook asks for a GET. The GET
 * never doubles a poll: with a poll out (`busy`) the request is marked poll_again and polls again
 * as soon as that answer comes (unless it is ready); a poll waiting in the poll line is already
 * due and keeps its place; otherwise the poll timer is stopped and the poll is due now (taking
 * the line's end when others wait). After the answer the request goes back to its fallback
 * grid. Lost webhooks are covered by that grid; duplicates by the window; late ones (the session
 * already ready, done, or another replica's) find no POLLING request and are ignored.
 */
void
mm__prov_req_webhook(mm_provisioner *p, const char *session_id)
{
    mm__prov_req *r = mm__prov_index_find(p, session_id);
    if (r == NULL && p->webhooks)
        mm__prov_early_note(p, session_id, mm_now_ms()); /* it may have overtaken its create's answer */
    if (r == NULL || r->state != MM__PROV_POLLING || p->stopping) {
        atomic_fetch_add(&p->n_webhooks_ignored, 1);
        mm_metric_webhook(MM_METRIC_WH_IGNORED);
        mm_debug("provisioner: webhook for session %s: no request polls it here: ignored", session_id);
        return;
    }
    uint64_t now = mm_now_ms();
    if (r->webhook_get_ms != 0 && now - r->webhook_get_ms < MM_PROVISIONER_WEBHOOK_WINDOW_MS) {
        atomic_fetch_add(&p->n_webhooks_limited, 1);
        mm_metric_webhook(MM_METRIC_WH_RATE_LIMITED);
        return;
    }
    r->webhook_get_ms = now;
    if (r->places[MM__PROV_POLL_LINE].in) {
        atomic_fetch_add(&p->n_webhook_gets, 1); /* already due: it is the GET the webhook asks for */
        mm_metric_webhook(MM_METRIC_WH_ROUTED_GET);
        return;
    }
    if (r->busy) {
        r->poll_again = true; /* counted when made */
        return;
    }
    mm_debug("provisioner: request %llu: webhook for session %s: polling it now", (unsigned long long)r->rid, session_id);
    mm_timer_stop(p->self, &r->timer);
    atomic_fetch_add(&p->n_webhook_gets, 1);
    mm_metric_webhook(MM_METRIC_WH_ROUTED_GET);
    req_poll_due(r);
}

/* ---- CERT_WAIT -> MINTING ---- */

void
mm__prov_req_cert_known(mm_provisioner *p, const char *ip, const char *digest)
{
    for (mm__prov_req *r = p->head, *next; r != NULL; r = next) {
        next = r->next;
        if (r->state == MM__PROV_CERT_WAIT && strcmp(r->ip, ip) == 0)
            req_mint(r, digest);
    }
}

/*
 * ---- MINTING: MINT to the minter, TOKEN_READY back ----
 *
 * A full minter inbox is back-pressure, not a failure: the session exists at Edgegap and the
 * minter drains thousands per millisecond once it runs, so the mint is offered again after
 * MINT_RETRY_MS until it is taken or the request's deadline (408) ends it. Failing it instead
 * threw away a session already paid for (seen as 503s under overload in the baseline).
 *
 * The way back is reserved before the mint is sent: the minter answers into its own ring of
 * this actor's inbox and never waits (include/mm/minter.h), so at most mint_cap (the ring's
 * capacity) mints are in flight. A mint beyond that waits in the mint line, a FIFO, and is sent
 * when a TOKEN_READY is drained (mint_landed). So the minter cannot find that ring full: no
 * token of a session Edgegap made is lost to a busy provisioner.
 */
#define MINT_RETRY_MS 2

static void
req_mint(mm__prov_req *r, const char *digest)
{
    mm_provisioner *p = r->p;
    if (!p->stopping && r->state == MM__PROV_CERT_WAIT)
        mm_timer_stop(p->self, &r->timer);
    snprintf(r->digest, sizeof(r->digest), "%s", digest);
    mm__prov_state_set(r, MM__PROV_MINTING);
    req_mint_send(r, false);
}

static void
on_mint_timer(mm_timer *t)
{
    req_mint_send(REQ_OF(t, timer), true); /* it had its turn: the minter's inbox was full */
}

/* Sends r's MINT, or puts r in the mint line; its_turn: r comes from the line or a retry. */
static void
req_mint_send(mm__prov_req *r, bool its_turn)
{
    mm_provisioner *p = r->p;
    char addr_text[MM_IP_TEXT_LEN + 10];
    if (strchr(r->ip, ':') != NULL)
        snprintf(addr_text, sizeof(addr_text), "[%s]:%u", r->ip, r->port);
    else
        snprintf(addr_text, sizeof(addr_text), "%s:%u", r->ip, r->port);
    mm_mint_request mr = {
        .request_id = r->id,
        .reply_to = p->actor,
        .reply_type = MM__PROV_MSG_TOKEN_READY,
        .client_id = mm_minter_client_id(),
    };
    char why[160];
    if (mm_token_address_parse(addr_text, &mr.address, why, sizeof(why)) != MM_OK) {
        req_fail(r, 500, why, true);
        return;
    }
    if (p->mints_in_flight >= p->mint_cap || (p->lines[MM__PROV_MINT_LINE].head != NULL && !its_turn)) {
        /* no room kept for its TOKEN_READY yet; nobody jumps the line */
        mm__prov_line_push(r, MM__PROV_MINT_LINE);
        atomic_fetch_add(&p->n_mints_held, 1);
        return;
    }
    mm_err err = mm_minter_send_mint(p->minter, &mr);
    if (err == MM_OK) {
        p->mints_in_flight++;
        return;
    }
    if (err == MM_ERR_FULL && !p->stopping) {
        atomic_fetch_add(&p->n_mint_waits, 1);
        req_arm(r, &r->timer, MINT_RETRY_MS, on_mint_timer);
        return;
    }
    req_fail(r, 503, "the token minter is not available", true);
}

/* A TOKEN_READY was drained (whether or not its request still lives): sends the mints it makes room for. */
static void
mint_landed(mm_provisioner *p)
{
    if (p->mints_in_flight > 0)
        p->mints_in_flight--;
    while (p->lines[MM__PROV_MINT_LINE].head != NULL && p->mints_in_flight < p->mint_cap && !p->stopping) {
        mm__prov_req *r = p->lines[MM__PROV_MINT_LINE].head;
        mm__prov_line_remove(r, MM__PROV_MINT_LINE);
        req_mint_send(r, true); /* may fail r (freed): it is out of the line already */
    }
}

/* MINTING -> DONE: SessionReady, or Error when the minter failed. */
static void
req_token_ready(mm__prov_req *r, const mm_minter_result *res)
{
    if (r->state != MM__PROV_MINTING)
        return;
    if (res->err != MM_OK) {
        req_fail(r, 500, res->why[0] ? res->why : "minting the connect token failed", true);
        return;
    }
    char client_id[24];
    snprintf(client_id, sizeof(client_id), "%llu", (unsigned long long)res->client_id);
    mm__prov_kv_put_async(r->p, MM_KV_SESSIONS_LY2EG, client_id, r->session_id);
    mm__prov_kv_put_async(r->p, MM_KV_SESSIONS_EG2LY, r->session_id, client_id);
    char *text = NULL;
    size_t len = 0;
    req_send(r, mm_feedback_ready(res->token, r->ip, r->port, r->digest, &text, &len), &text, &len);
    atomic_fetch_add(&r->p->n_ready, 1);
    mm__prov_metric_end(r, 0);
    mm_info("provisioner: request %llu: session %s ready at %s:%u after %llu ms", (unsigned long long)r->rid, r->session_id, r->ip,
            r->port, (unsigned long long)(mm_now_ms() - r->start_ms));
    mm_reply_end(r->sink);
    req_finish(r);
}

void
mm__prov_req_token_ready(mm_provisioner *p, uint64_t id, const mm_minter_result *res)
{
    mm__prov_req *r = mm_idmap_get(&p->reqs, id);
    if (r != NULL)
        req_token_ready(r, res);
    mint_landed(p);
}

/* ---- the provisioner's stop: every state -> DONE ---- */

void
mm__prov_req_stop_all(mm_provisioner *p)
{
    while (p->head != NULL) {
        /* Edgegap already made this request's session and no one will use it (its client is told
         * 503): its deletion is enqueued, as after a timeout. A create still unanswered has no
         * id to delete yet. */
        if (p->head->session_id[0] != '\0') {
            mm_warn("provisioner: request %llu still running at the stop: session %s deletion enqueued",
                    (unsigned long long)p->head->rid, p->head->session_id);
            mm__prov_enqueue_delete(p, p->head->session_id);
        }
        mm__prov_metric_end(p->head, 503);
        req_finish(p->head); /* the sink, freed before its end, answers 503 */
    }
}
