/*
 * The polling phase of a session request (provisioner_flow.c has the rest): GET /v1/session/{id}
 * until the session is ready, each answer a ProgressReport; then its port and cert digest.
 *
 * The grid. Poll k is due at created + poll_delay_ms + k * poll_interval_ms (r->poll_origin_ms
 * + k * interval), not one interval after the previous answer: round trips do not add up (ten
 * polls with a 100 ms round trip no longer take one second more than ten intervals). The next
 * poll is armed when an answer arrives, for the first tick after the previous poll's tick that
 * is not already past, so a round trip longer than the interval skips the ticks it covered and
 * never causes a burst. A retryable failure (429, 5xx, no answer) backs off as before
 * (prov_backoff_ms: exponential, jittered, never below the interval) and then rejoins the grid
 * at the first tick after the backoff.
 *
 * One poll per request at a time: a polling request is in exactly one of three states -- its
 * poll timer armed, its poll accepted by the Edgegap client (`busy`), or waiting in the poll line
 * (`in_line`) -- so the client never holds two polls of one session.
 *
 * Polls are BACKGROUND calls of the Edgegap client (creates are URGENT, include/mm/edgegap.h):
 * they start only when no create waits, and they may fill only part of the client's queue. A
 * poll the client refuses (MM_ERR_FULL: its background share is full) is not an error and not a
 * retry: the request joins the poll line, a FIFO of requests whose poll is due. After each
 * mm_edgegap_perform() (the only place where the client's room grows) the line is handed to the
 * client, oldest first, while mm_edgegap_room(BACKGROUND) allows. While the line is not empty a
 * newly due poll joins its end without trying the client, so nobody jumps the line.
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
 * come less often, evenly. The session timeout still ends every request. The line costs no
 * memory: it links the requests themselves.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/log.h"
#include "provisioner_internal.h"

#define REQ_OF(t, field) ((prov_req *)(void *)((char *)(t)-offsetof(prov_req, field)))

static void on_session_get(void *ctx, const mm_edgegap_result *res);

/* ---- the poll line ---- */

static void
line_push(prov_req *r)
{
    mm_provisioner *p = r->p;
    r->in_line = true;
    r->line_next = NULL;
    r->line_prev = p->line_tail;
    if (p->line_tail != NULL)
        p->line_tail->line_next = r;
    else
        p->line_head = r;
    p->line_tail = r;
}

void
prov_poll_line_remove(prov_req *r)
{
    mm_provisioner *p = r->p;
    if (!r->in_line)
        return;
    if (r->line_prev != NULL)
        r->line_prev->line_next = r->line_next;
    else
        p->line_head = r->line_next;
    if (r->line_next != NULL)
        r->line_next->line_prev = r->line_prev;
    else
        p->line_tail = r->line_prev;
    r->line_prev = r->line_next = NULL;
    r->in_line = false;
}

/* ---- making a poll ---- */

/* Hands r's poll to the client: MM_OK (r is busy), MM_ERR_FULL (no room; r untouched), or any
 * other error, after which r has failed and may be freed. */
static mm_err
poll_start(prov_req *r)
{
    mm_err err = mm_edgegap_session_get(r->p->eg, r->session_id, MM_EDGEGAP_BACKGROUND, on_session_get, r);
    if (err == MM_OK) {
        r->busy = true;
    } else if (err != MM_ERR_FULL) {
        prov_req_fail(r, 500, mm_edgegap_last_error(r->p->eg), true);
    }
    return err;
}

/* Poll tick of r reached: poll now, or wait in the line behind the polls already due. */
static void
poll_due(prov_req *r)
{
    if (r->busy || r->in_line)
        return; /* one poll per request at a time (see above): cannot happen, but never stack two */
    if (r->p->line_head == NULL && poll_start(r) != MM_ERR_FULL)
        return;
    atomic_fetch_add(&r->p->n_polls_waited, 1);
    mm_debug("provisioner: request %llu: poll of session %s waits for room in the Edgegap client", (unsigned long long)r->id,
             r->session_id);
    line_push(r);
}

void
prov_poll_line_drain(mm_provisioner *p)
{
    while (p->line_head != NULL && mm_edgegap_room(p->eg, MM_EDGEGAP_BACKGROUND) > 0) {
        prov_req *r = p->line_head;
        mm_err err = poll_start(r);
        if (err == MM_ERR_FULL)
            break; /* keeps its place at the head; tried again after the next perform */
        if (err == MM_OK)
            prov_poll_line_remove(r);
        /* else r failed: prov_req_finish took it out of the line */
    }
}

static void
on_poll_timer(mm_timer *t)
{
    poll_due(REQ_OF(t, timer));
}

/* Picks r's next tick: the first after the tick of its last poll that is not before not_before_ms.
 * Returns the delay from now. */
static uint64_t
grid_next(prov_req *r, uint64_t not_before_ms)
{
    uint64_t origin = r->poll_origin_ms, interval = r->p->poll_interval_ms;
    uint64_t k = r->poll_tick + 1;
    if (not_before_ms > origin) {
        uint64_t first = (not_before_ms - origin + interval - 1) / interval;
        if (first > k)
            k = first;
    }
    r->poll_tick = k;
    uint64_t due = origin + k * interval, now = mm_now_ms();
    return due > now ? due - now : 0;
}

void
prov_poll_begin(prov_req *r)
{
    r->poll_origin_ms = mm_now_ms() + r->p->poll_delay_ms;
    r->poll_tick = 0;
    prov_arm(r, &r->timer, r->p->poll_delay_ms, on_poll_timer);
}

/* ---- the answer ---- */

static void
on_cert_timer(mm_timer *t)
{
    prov_req *r = REQ_OF(t, timer);
    char msg[200];
    snprintf(msg, sizeof(msg), "no certificate digest for game server %s within %llu ms", r->ip,
             (unsigned long long)r->p->cert_wait_ms);
    prov_req_fail(r, 500, msg, true);
}

/* Ready: the player's port, then the cert digest (from the cache, or waited for). */
static void
session_ready(prov_req *r, const mm_edgegap_result *res)
{
    char why[160];
    uint16_t port = 0;
    if (mm_edgegap_session_port(res, r->p->port_name, &port, why, sizeof(why)) != MM_OK) {
        prov_req_fail(r, 500, why, true);
        return;
    }
    snprintf(r->ip, sizeof(r->ip), "%s", res->public_ip);
    r->port = port;
    const char *digest = prov_cert_digest(r->p, r->ip);
    if (digest != NULL) {
        prov_mint(r, digest);
        return;
    }
    mm_debug("provisioner: request %llu: session %s ready at %s:%u; waiting up to %llu ms for its cert digest",
             (unsigned long long)r->id, r->session_id, r->ip, r->port, (unsigned long long)r->p->cert_wait_ms);
    r->phase = PHASE_CERT_WAIT;
    prov_arm(r, &r->timer, r->p->cert_wait_ms, on_cert_timer);
}

static void
on_session_get(void *ctx, const mm_edgegap_result *res)
{
    prov_req *r = ctx;
    if (!prov_callback_enter(r, res))
        return;
    if (res->outcome != MM_EDGEGAP_OK) {
        if (mm_edgegap_retryable(res)) { /* keep polling, backing off, until the deadline */
            uint64_t backoff = prov_backoff_ms(r->p, ++r->attempt, r->p->poll_interval_ms);
            uint64_t wait = grid_next(r, mm_now_ms() + backoff);
            mm_warn("provisioner: request %llu: polling session %s: %s (again in %llu ms)", (unsigned long long)r->id,
                    r->session_id, res->message, (unsigned long long)wait);
            atomic_fetch_add(&r->p->n_retries, 1);
            prov_arm(r, &r->timer, wait, on_poll_timer);
            return;
        }
        prov_req_fail(r, prov_status_of(res), res->message, true);
        return;
    }
    r->attempt = 0;
    char *text = NULL;
    size_t len = 0;
    prov_req_send(r, mm_feedback_progress(res->session_status ? res->session_status : "", res->elapsed, &text, &len), &text, &len);
    if (!res->ready || res->public_ip == NULL) {
        prov_arm(r, &r->timer, grid_next(r, mm_now_ms()), on_poll_timer);
        return;
    }
    session_ready(r, res);
}
