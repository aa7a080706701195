/*
 * One session request's state machine on the provisioner thread (include/mm/provisioner.h has
 * the sequence): begin, session create, then (provisioner_poll.c) polling until ready, then
 * mint and end. Each step either makes one Edgegap call (the request is its callback's ctx and
 * is `busy` until it answers), arms a timer, or sends a MINT (or waits in the mint line for
 * room for its TOKEN_READY: see mint_send); every failure goes through
 * prov_req_fail(), every end through prov_req_finish(), so the sink is ended and freed exactly
 * once.
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
#include "mm/minter.h"
#include "provisioner_internal.h"

#define REQ_OF(t, field) ((prov_req *)(void *)((char *)(t)-offsetof(prov_req, field)))

static void mint_line_remove(prov_req *r);

static void
req_release(prov_req *r)
{
    if (!r->busy)
        free(r);
}

void
prov_req_finish(prov_req *r)
{
    mm_provisioner *p = r->p;
    if (r->done)
        return;
    r->done = true;
    prov_poll_line_remove(r);
    mint_line_remove(r);
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

void
prov_req_send(prov_req *r, mm_err enc, char **text, const size_t *len)
{
    if (enc == MM_OK)
        mm_reply_send(r->sink, *text, *len);
    else
        mm_error("provisioner: request %llu: could not encode a feedback message", (unsigned long long)r->id);
    free(*text);
    *text = NULL;
}

void
prov_req_fail(prov_req *r, uint16_t status, const char *message, bool delete_session)
{
    bool deleting = delete_session && r->session_id[0];
    mm_warn("provisioner: request %llu (session %s) failed: %u %s (after %llu ms%s)", (unsigned long long)r->id,
            r->session_id[0] ? r->session_id : "-", status, message, (unsigned long long)(mm_now_ms() - r->start_ms),
            deleting ? "; session deletion enqueued" : "");
    mm_reply_error(r->sink, status, message);
    atomic_fetch_add(&r->p->n_failed, 1);
    if (deleting)
        prov_enqueue_delete(r->p, r->session_id);
    prov_req_finish(r);
}

uint16_t
prov_status_of(const mm_edgegap_result *res)
{
    if (res->outcome == MM_EDGEGAP_HTTP_ERROR && res->status > 0 && res->status < 1000)
        return (uint16_t)res->status;
    if (res->outcome == MM_EDGEGAP_TRANSPORT && res->timed_out)
        return 504;
    return 500;
}

/* A create that surely made no session: rate-limited, unavailable, or never sent. */
static bool
create_repeatable(const mm_edgegap_result *res)
{
    if (res->outcome == MM_EDGEGAP_TRANSPORT)
        return res->not_sent;
    return res->outcome == MM_EDGEGAP_HTTP_ERROR && (res->status == 429 || res->status == 503);
}

/* True when a step may run again after wait_ms: the session deadline is not reached by then. */
static bool
time_left(const prov_req *r, uint64_t wait_ms)
{
    return mm_now_ms() + wait_ms < r->start_ms + r->p->session_timeout_ms;
}

bool
prov_callback_enter(prov_req *r, const mm_edgegap_result *res)
{
    r->busy = false;
    if (r->done || r->p->stopping) {
        if (r->done && res->op == MM_EDGEGAP_SESSION_CREATE && res->outcome == MM_EDGEGAP_OK && res->session_id != NULL &&
            !r->p->stopping) {
            mm_info("provisioner: request %llu: session %s created after the request ended: deleting it", (unsigned long long)r->id,
                    res->session_id);
            prov_enqueue_delete(r->p, res->session_id);
        }
        if (r->done)
            free(r);
        return false;
    }
    return true;
}

static void
on_deadline(mm_timer *t)
{
    prov_req *r = REQ_OF(t, deadline);
    prov_req_fail(r, 408, "session still not ready, timed out.", true);
}

bool
prov_arm(prov_req *r, mm_timer *t, uint64_t ms, mm_timer_cb cb)
{
    if (mm_timer_start(r->p->self, t, ms, cb) == MM_OK)
        return true;
    prov_req_fail(r, 500, "the matchmaker is out of memory", true);
    return false;
}

static void create_now(prov_req *r);

static void
on_create_timer(mm_timer *t)
{
    create_now(REQ_OF(t, timer));
}

static void
on_session_create(void *ctx, const mm_edgegap_result *res)
{
    prov_req *r = ctx;
    if (!prov_callback_enter(r, res))
        return;
    if (res->outcome != MM_EDGEGAP_OK) {
        if (create_repeatable(res) && r->attempt < r->p->create_retries) {
            uint64_t wait = prov_backoff_ms(r->p, ++r->attempt, r->p->backoff_base_ms / 2);
            if (time_left(r, wait)) {
                mm_warn("provisioner: request %llu: session create: %s (attempt %u of %u, again in %llu ms)",
                        (unsigned long long)r->id, res->message, r->attempt, r->p->create_retries + 1, (unsigned long long)wait);
                atomic_fetch_add(&r->p->n_retries, 1);
                prov_arm(r, &r->timer, wait, on_create_timer);
                return;
            }
        }
        prov_req_fail(r, prov_status_of(res), res->message, false);
        return;
    }
    r->attempt = 0;
    if (!mm_session_id_valid(res->session_id)) {
        prov_req_fail(r, 500, "Edgegap answered with an invalid session id", false);
        return;
    }
    snprintf(r->session_id, sizeof(r->session_id), "%s", res->session_id);
    mm_debug("provisioner: request %llu: session %s created", (unsigned long long)r->id, r->session_id);
    /* recorded before the client hears of it, so the reaper knows every session a client saw */
    prov_kv_put_async(r->p, MM_KV_UNCLAIMED_SESSIONS, r->session_id, r->session_id);
    char *text = NULL;
    size_t len = 0;
    prov_req_send(r, mm_feedback_accepted(r->session_id, &text, &len), &text, &len);
    r->phase = PHASE_POLLING;
    prov_poll_begin(r);
}

void
prov_req_begin(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip)
{
    prov_req *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        mm_reply_error(sink, 503, "the matchmaker is out of memory");
        mm_reply_free(sink);
        atomic_fetch_sub(&p->active, 1);
        return;
    }
    r->p = p;
    r->sink = sink;
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
    r->phase = PHASE_CREATING;

    char *text = NULL;
    size_t len = 0;
    prov_req_send(r, mm_feedback_acknowledged(&text, &len), &text, &len);
    if (!prov_arm(r, &r->deadline, p->session_timeout_ms, on_deadline))
        return;
    char resolved[MM_IP_TEXT_LEN];
    char why[160];
    if (mm_client_ip_resolve(client_ip, NULL, resolved, NULL, why, sizeof(why)) != MM_OK) {
        prov_req_fail(r, 400, why, false);
        return;
    }
    snprintf(r->client_ip, sizeof(r->client_ip), "%s", resolved);
    mm_debug("provisioner: request %llu: received for client %s", (unsigned long long)r->id, r->client_ip);
    create_now(r);
}

static void
create_now(prov_req *r)
{
    mm_provisioner *p = r->p;
    const char *ips[1] = {r->client_ip};
    mm_err err = mm_edgegap_session_create(p->eg, p->app, p->version, ips, 1, p->webhook_url, on_session_create, r);
    if (err != MM_OK) {
        prov_req_fail(r, err == MM_ERR_FULL ? 503 : 500,
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
        mm_debug("provisioner: request %llu: queued behind %u Edgegap creates (%u calls running)", (unsigned long long)r->id, ahead,
                 st.in_flight);
        char *text = NULL;
        size_t len = 0;
        prov_req_send(r, mm_feedback_progress(status, (int64_t)((mm_now_ms() - r->start_ms) / 1000), &text, &len), &text, &len);
    }
}

/*
 * A full minter inbox is back-pressure, not a failure: the session exists at Edgegap and the
 * minter drains thousands per millisecond once it runs, so the mint is offered again after
 * MINT_RETRY_MS until it is taken or the request's deadline (408) ends it. Failing it instead
 * threw away a session already paid for (seen as 503s under overload in the baseline).
 *
 * The way back is reserved before the mint is sent: the minter answers into its own ring of
 * this actor's inbox and never waits (include/mm/minter.h), so at most mint_cap (the ring's
 * capacity) mints are in flight. A mint beyond that waits in the mint line, a FIFO, and is sent
 * when a TOKEN_READY is drained (prov_mint_landed). So the minter cannot find that ring full: no
 * token of a session Edgegap made is lost to a busy provisioner.
 */
#define MINT_RETRY_MS 2

static void mint_send(prov_req *r, bool its_turn);

static void
mint_line_push(prov_req *r)
{
    mm_provisioner *p = r->p;
    r->in_mint_line = true;
    r->mint_next = NULL;
    r->mint_prev = p->mint_tail;
    if (p->mint_tail != NULL)
        p->mint_tail->mint_next = r;
    else
        p->mint_head = r;
    p->mint_tail = r;
    atomic_fetch_add(&p->n_mints_held, 1);
}

static void
mint_line_remove(prov_req *r)
{
    mm_provisioner *p = r->p;
    if (!r->in_mint_line)
        return;
    if (r->mint_prev != NULL)
        r->mint_prev->mint_next = r->mint_next;
    else
        p->mint_head = r->mint_next;
    if (r->mint_next != NULL)
        r->mint_next->mint_prev = r->mint_prev;
    else
        p->mint_tail = r->mint_prev;
    r->mint_prev = r->mint_next = NULL;
    r->in_mint_line = false;
}

void
prov_mint_landed(mm_provisioner *p)
{
    if (p->mints_in_flight > 0)
        p->mints_in_flight--;
    while (p->mint_head != NULL && p->mints_in_flight < p->mint_cap && !p->stopping) {
        prov_req *r = p->mint_head;
        mint_line_remove(r);
        mint_send(r, true); /* may fail r (freed): it is out of the line already */
    }
}

static void
on_mint_timer(mm_timer *t)
{
    mint_send(REQ_OF(t, timer), true); /* it had its turn: the minter's inbox was full */
}

/* Sends r's MINT, or puts r in the mint line; its_turn: r comes from the line or a retry. */
static void
mint_send(prov_req *r, bool its_turn)
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
        prov_req_fail(r, 500, why, true);
        return;
    }
    if (p->mints_in_flight >= p->mint_cap || (p->mint_head != NULL && !its_turn)) {
        mint_line_push(r); /* no room kept for its TOKEN_READY yet; nobody jumps the line */
        return;
    }
    mm_err err = mm_minter_send_mint(p->minter, &mr);
    if (err == MM_OK) {
        p->mints_in_flight++;
        return;
    }
    if (err == MM_ERR_FULL && !p->stopping) {
        atomic_fetch_add(&p->n_mint_waits, 1);
        prov_arm(r, &r->timer, MINT_RETRY_MS, on_mint_timer);
        return;
    }
    prov_req_fail(r, 503, "the token minter is not available", true);
}

void
prov_mint(prov_req *r, const char *digest)
{
    mm_provisioner *p = r->p;
    if (!p->stopping && r->phase == PHASE_CERT_WAIT)
        mm_timer_stop(p->self, &r->timer);
    snprintf(r->digest, sizeof(r->digest), "%s", digest);
    r->phase = PHASE_MINTING;
    mint_send(r, false);
}

void
prov_token_ready(prov_req *r, const mm_minter_result *res)
{
    if (r->phase != PHASE_MINTING)
        return;
    if (res->err != MM_OK) {
        prov_req_fail(r, 500, res->why[0] ? res->why : "minting the connect token failed", true);
        return;
    }
    char client_id[24];
    snprintf(client_id, sizeof(client_id), "%llu", (unsigned long long)res->client_id);
    prov_kv_put_async(r->p, MM_KV_SESSIONS_LY2EG, client_id, r->session_id);
    prov_kv_put_async(r->p, MM_KV_SESSIONS_EG2LY, r->session_id, client_id);
    char *text = NULL;
    size_t len = 0;
    prov_req_send(r, mm_feedback_ready(res->token, r->ip, r->port, r->digest, &text, &len), &text, &len);
    atomic_fetch_add(&r->p->n_ready, 1);
    mm_info("provisioner: request %llu: session %s ready at %s:%u after %llu ms", (unsigned long long)r->id, r->session_id, r->ip,
            r->port, (unsigned long long)(mm_now_ms() - r->start_ms));
    mm_reply_end(r->sink);
    prov_req_finish(r);
}
