/*
 * The NATS bridge's outside (include/mm/nats_bridge.h): start and stop, the reply subscription's
 * callback on nats.c's delivery thread, submit from the front's loop threads, and the counters.
 * The actor itself is in nats_bridge.c.
 *
 * The callback never waits, sleeps or retries: a library thread that stalls stalls every reply
 * behind it (and, with a shared delivery pool, other subscriptions). It appends the reply to the
 * bridge's own bounded reply queue (a mutex held only to move a pointer) and posts a WAKE to the
 * actor only when none is pending, so its ring of the actor's inbox holds at most one message
 * and cannot be full. A full reply queue destroys the reply and remembers its request's token:
 * the actor answers that request Error(503) before anything that came after the hole could be
 * relayed (counted: mm_bridge_reply_overflows_total, mm_bridge_answers_total{outcome="overflow"}).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "mm/parse.h"
#include "mm/prom.h"
#include "front_backend_adapter.h"
#include "nats_bridge_internal.h"

#define DEFAULT_CHECK_MS 250u
#define DEFAULT_CAPACITY 4095u
#define DEFAULT_REPLY_QUEUE 65536u
#define SUB_CLOSE_WAIT_MS 5000
#define FULL_LOG_EVERY_MS 10000u

/* ---- the subscription (nats.c's delivery thread) ---- */

/* The token a reply subject <inbox>.<token> names; 0 if it names none. */
static uint64_t
reply_token(const mm_nats_bridge *b, const char *subject)
{
    uint64_t token = 0;
    char why[96];
    if (subject == NULL || strncmp(subject, b->inbox, b->inbox_len) != 0 || subject[b->inbox_len] != '.' ||
        mm_parse_u64(subject + b->inbox_len + 1, 1, UINT64_MAX, &token, why, sizeof(why)) != MM_OK)
        return 0;
    return token;
}

/* Queues the reply for the actor, or records its loss; never waits (see the top). */
static void
on_nats_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    mm_nats_bridge *b = closure;
    if (atomic_load(&b->stopping)) {
        natsMsg_Destroy(msg);
        return;
    }
    uint64_t token = 0;
    pthread_mutex_lock(&b->rq_mu);
    if (b->rq_len < b->rq_cap) {
        b->rq[(b->rq_head + b->rq_len) % b->rq_cap] = msg;
        b->rq_len++;
        atomic_fetch_add(&b->queued, 1);
        msg = NULL;
    } else if ((token = reply_token(b, natsMsg_GetSubject(msg))) != 0) {
        uint32_t i = 0;
        while (i < b->lost_len && b->lost[i] != token)
            i++;
        if (i == b->lost_len && b->lost_len < MM__BRIDGE_LOST_MAX)
            b->lost[b->lost_len++] = token;
        else if (i == b->lost_len)
            b->lost_all = true;
    }
    pthread_mutex_unlock(&b->rq_mu);
    if (msg != NULL) {
        natsMsg_Destroy(msg);
        uint64_t n = atomic_fetch_add(&b->overflows, 1) + 1;
        uint64_t now = mm_now_ms(), last = atomic_load(&b->full_logged_ms);
        if ((last == 0 || now - last >= FULL_LOG_EVERY_MS) && atomic_compare_exchange_strong(&b->full_logged_ms, &last, now))
            mm_warn("bridge: the reply queue is full (%u replies): a reply was dropped and its request will be answered 503 "
                    "(%llu so far)",
                    b->rq_cap, (unsigned long long)n);
    }
    if (!atomic_exchange(&b->wake_posted, true)) {
        mm_err err = mm_actor_send(b->actor, &(mm_msg){.type = MM__BRIDGE_WAKE});
        if (err != MM_OK) {
            atomic_store(&b->wake_posted, false);
            if (err != MM_ERR_STOPPED) /* this thread's ring holds at most this one WAKE */
                mm_error("bridge: IMPOSSIBLE STATE: posting a wake-up to the actor failed: %s", mm_err_str(err));
        }
    }
}

static void
on_sub_complete(void *closure)
{
    mm_nats_bridge *b = closure;
    pthread_mutex_lock(&b->mu);
    b->subs_open--;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

/* Subscribes subject into the reply queue; counts it open until its completion callback ran. */
static natsStatus
bridge_subscribe(mm_nats_bridge *b, natsSubscription **sub, const char *subject)
{
    natsStatus s = natsConnection_Subscribe(sub, b->nc, subject, on_nats_reply, b);
    if (s == NATS_OK) {
        pthread_mutex_lock(&b->mu);
        b->subs_open++;
        pthread_mutex_unlock(&b->mu);
        s = natsSubscription_SetOnCompleteCB(*sub, on_sub_complete, b);
    }
    return s;
}

/* ---- public ---- */

mm_err
mm_nats_bridge_start(const mm_nats_bridge_config *config, mm_nats_bridge **out, char *why, size_t why_len)
{
    if (out == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "bridge: out is required");
    *out = NULL;
    if (config == NULL || config->nc == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "bridge: a NATS connection is required");
    mm_nats_bridge *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "bridge: out of memory");
    b->nc = config->nc;
    b->timeout_ms = config->request_timeout_ms != 0 ? config->request_timeout_ms : MM_NATS_BRIDGE_DEFAULT_TIMEOUT_MS;
    b->check_ms = config->check_interval_ms != 0 ? config->check_interval_ms : DEFAULT_CHECK_MS;
    b->silence_ms = config->silence_ms;
    if (b->silence_ms != 0 && (b->silence_ms < MM_NATS_BRIDGE_SILENCE_MIN_MS || b->silence_ms > MM_NATS_BRIDGE_SILENCE_MAX_MS)) {
        free(b);
        return mm_fail(MM_ERR_INVALID, why, why_len, "bridge: the silence limit must be 0 (off) or %u..%u ms",
                       MM_NATS_BRIDGE_SILENCE_MIN_MS, MM_NATS_BRIDGE_SILENCE_MAX_MS);
    }
    snprintf(b->heartbeat_ask, sizeof(b->heartbeat_ask), "%u", (unsigned)(b->silence_ms / 3));
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cond, NULL);
    pthread_mutex_init(&b->rq_mu, NULL);
    mm_idmap_init(&b->reqs);
    mm_err err = MM_OK;
    b->rq_cap = config->reply_queue_capacity != 0 ? config->reply_queue_capacity : DEFAULT_REPLY_QUEUE;
    b->rq = calloc(b->rq_cap, sizeof(*b->rq));
    if (b->rq == NULL) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "bridge: out of memory for the reply queue");
        goto cleanup;
    }
    natsInbox *inbox = NULL;
    if (natsInbox_Create(&inbox) != NATS_OK) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "bridge: cannot make an inbox name");
        goto cleanup;
    }
    snprintf(b->inbox, sizeof(b->inbox), "%s", inbox);
    b->inbox_len = strlen(b->inbox);
    natsInbox_Destroy(inbox);

    mm_actor_config ac = {.inbox = {.capacity = config->inbox_capacity != 0 ? config->inbox_capacity : DEFAULT_CAPACITY}};
    err = mm_actor_start(&mm__bridge_ops, b, &ac, &b->actor);
    if (err != MM_OK) {
        err = mm_fail(err, why, why_len, "bridge: cannot start the actor: %s", mm_err_str(err));
        goto cleanup;
    }
    char subject[80];
    snprintf(subject, sizeof(subject), "%s.*", b->inbox);
    natsStatus s = bridge_subscribe(b, &b->sub, subject);
    if (s == NATS_OK && b->silence_ms != 0) /* the replicas' liveness (include/mm/reply.h, "Liveness") */
        s = bridge_subscribe(b, &b->alive_sub, MM_REPLY_ALIVE_PREFIX ".*");
    if (s != NATS_OK) {
        err = mm_fail(MM_ERR_IO, why, why_len, "bridge: subscribing %s failed: %s", b->alive_sub == NULL && b->sub != NULL ?
                      MM_REPLY_ALIVE_PREFIX ".*" : subject, natsStatus_GetText(s));
        goto cleanup;
    }
    if (b->silence_ms != 0)
        mm_info("bridge: replies on %s; request timeout %u ms; reply queue %u; heartbeats every %s ms asked, "
                "503 after %u ms of silence",
                subject, b->timeout_ms, b->rq_cap, b->heartbeat_ask, b->silence_ms);
    else
        mm_info("bridge: replies on %s; request timeout %u ms; reply queue %u; no heartbeats", subject, b->timeout_ms, b->rq_cap);
    *out = b;
    return MM_OK;
cleanup:
    mm_nats_bridge_destroy(b);
    return err;
}

mm_err
mm_nats_bridge_submit(mm_nats_bridge *b, const mm_front_request *req, mm_reply_sink *sink)
{
    if (b == NULL || req == NULL || sink == NULL)
        return MM_ERR_INVALID;
    if (req->route != MM_FRONT_WS && req->route != MM_FRONT_CHUNKED && req->route != MM_FRONT_WANNAPLAY)
        return MM_ERR_INVALID;
    if (atomic_load(&b->stopping)) {
        atomic_fetch_add(&b->refused, 1);
        return MM_ERR_STOPPED;
    }
    bridge_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return MM_ERR_NOMEM;
    r->bridge = b;
    r->front_id = req->id;
    r->route = req->route;
    r->req = req->req;
    r->sink = sink;
    atomic_fetch_add(&b->in_flight, 1);
    mm_msg m = {.type = MM__BRIDGE_SUBMIT, .target = req->id, .ptr = r};
    atomic_fetch_add(&b->queued, 1);
    mm_err err = mm_actor_send(b->actor, &m);
    if (err != MM_OK) {
        atomic_fetch_sub(&b->queued, 1);
        atomic_fetch_sub(&b->in_flight, 1);
        atomic_fetch_add(&b->refused, 1);
        free(r);
        return err;
    }
    atomic_fetch_add(&b->submitted, 1);
    return MM_OK;
}

mm_err
mm_nats_bridge_webhook(mm_nats_bridge *b, const char *session_id)
{
    return mm_nats_bridge_webhook_intent(b, session_id, NULL);
}

mm_err
mm_nats_bridge_webhook_intent(mm_nats_bridge *b, const char *session_id, const char *intent)
{
    if (b == NULL || session_id == NULL)
        return MM_ERR_INVALID;
    mm_err err = MM_ERR_STOPPED;
    char *id = NULL;
    if (atomic_load(&b->stopping) || natsConnection_Status(b->nc) != NATS_CONN_STATUS_CONNECTED)
        goto cleanup;
    /* one allocation: "<session id>\0<intent or nothing>\0" (the actor's on_webhook reads both) */
    size_t n = strlen(session_id), m = intent != NULL ? strlen(intent) : 0;
    if ((id = malloc(n + m + 2)) == NULL) {
        err = MM_ERR_NOMEM;
        goto cleanup;
    }
    memcpy(id, session_id, n + 1);
    memcpy(id + n + 1, intent != NULL ? intent : "", m + 1);
    atomic_fetch_add(&b->queued, 1);
    err = mm_actor_send(b->actor, &(mm_msg){.type = MM__BRIDGE_WEBHOOK, .ptr = id});
    if (err == MM_OK)
        return MM_OK;
    atomic_fetch_sub(&b->queued, 1);
cleanup:
    free(id);
    atomic_fetch_add(&b->webhooks_failed, 1);
    return err;
}

bool
mm_nats_bridge_ready(mm_nats_bridge *b)
{
    return b != NULL && !atomic_load(&b->stopping) && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

void
mm_nats_bridge_get_stats(mm_nats_bridge *b, mm_nats_bridge_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (b == NULL)
        return;
    st->submitted = atomic_load(&b->submitted);
    st->refused = atomic_load(&b->refused);
    st->published = atomic_load(&b->published);
    st->completed = atomic_load(&b->completed);
    st->no_responders = atomic_load(&b->no_responders);
    st->nats_down = atomic_load(&b->nats_down);
    st->timeouts = atomic_load(&b->timeouts);
    st->failed = atomic_load(&b->failed);
    st->replies = atomic_load(&b->replies);
    st->late_replies = atomic_load(&b->late);
    st->reply_overflows = atomic_load(&b->overflows);
    st->overflow_failed = atomic_load(&b->lost_failed);
    st->in_flight = atomic_load(&b->in_flight);
    st->inbox_depth = atomic_load(&b->queued);
    st->webhooks_published = atomic_load(&b->webhooks_published);
    st->webhooks_failed = atomic_load(&b->webhooks_failed);
    st->heartbeats = atomic_load(&b->heartbeats);
    st->silent = atomic_load(&b->silent);
    st->client_gone = atomic_load(&b->client_gone);
    st->cancels_sent = atomic_load(&b->cancels_sent);
    st->alive_heard = atomic_load(&b->alive_heard);
    st->replicas = atomic_load(&b->replicas_now);
}

size_t
mm_nats_bridge_metrics(mm_nats_bridge *b, char *buf, size_t len)
{
    mm_nats_bridge_stats st;
    mm_prom p;
    mm_prom_init(&p, buf, len);
    mm_nats_bridge_get_stats(b, &st);
    mm_prom_metric(&p, "mm_bridge_submitted_total", "counter", "Requests the NATS bridge accepted.", st.submitted);
    mm_prom_metric(&p, "mm_bridge_refused_total", "counter", "Requests refused by the bridge (queue full or stopping).",
                   st.refused);
    mm_prom_metric(&p, "mm_bridge_published_total", "counter", "Requests published on NATS.", st.published);
    const char *answers = "mm_bridge_answers_total";
    mm_prom_head(&p, answers, "counter", "Requests finished, by outcome.");
    mm_prom_sample(&p, answers, (const char *const[]){"outcome", "completed"}, 1, st.completed);
    mm_prom_sample(&p, answers, (const char *const[]){"outcome", "no_responders"}, 1, st.no_responders);
    mm_prom_sample(&p, answers, (const char *const[]){"outcome", "nats_down"}, 1, st.nats_down);
    mm_prom_sample(&p, answers, (const char *const[]){"outcome", "timeout"}, 1, st.timeouts);
    mm_prom_sample(&p, answers, (const char *const[]){"outcome", "failed"}, 1, st.failed);
    mm_prom_sample(&p, answers, (const char *const[]){"outcome", "overflow"}, 1, st.overflow_failed);
    mm_prom_sample(&p, answers, (const char *const[]){"outcome", "silent"}, 1, st.silent);
    mm_prom_sample(&p, answers, (const char *const[]){"outcome", "client_gone"}, 1, st.client_gone);
    mm_prom_metric(&p, "mm_bridge_cancels_total", "counter",
                   "Cancels published to a matchmaker because the request's client went away first (a player in line leaves it).",
                   st.cancels_sent);
    mm_prom_metric(&p, "mm_bridge_replies_total", "counter", "Reply messages received from NATS.", st.replies);
    mm_prom_metric(&p, "mm_bridge_heartbeats_total", "counter",
                   "Heartbeats received from matchmakers on reply streams (dropped, never relayed).", st.heartbeats);
    mm_prom_metric(&p, "mm_bridge_replica_alive_total", "counter",
                   "Liveness messages heard from matchmaker processes on mm.alive.* (one per replica and interval).",
                   st.alive_heard);
    mm_prom_metric(&p, "mm_bridge_replicas", "gauge", "Matchmaker processes named (Mm-Replica) by the requests in flight now.",
                   st.replicas);
    mm_prom_metric(&p, "mm_bridge_late_replies_total", "counter", "Replies for requests no longer in flight (dropped).",
                   st.late_replies);
    mm_prom_metric(&p, "mm_bridge_reply_overflows_total", "counter",
                   "Replies lost because the bridge's reply queue was full, or dropped by nats.c as a slow consumer.",
                   st.reply_overflows);
    const char *webhooks = "mm_bridge_webhooks_total";
    mm_prom_head(&p, webhooks, "counter", "Edgegap webhooks published on matchmaker.webhook, or failed (NATS down, stopping, publish error).");
    mm_prom_sample(&p, webhooks, (const char *const[]){"outcome", "published"}, 1, st.webhooks_published);
    mm_prom_sample(&p, webhooks, (const char *const[]){"outcome", "failed"}, 1, st.webhooks_failed);
    mm_prom_metric(&p, "mm_bridge_in_flight", "gauge", "Requests in the bridge now.", st.in_flight);
    mm_prom_metric(&p, "mm_bridge_inbox_depth", "gauge", "Messages waiting in the bridge's inbox now.", st.inbox_depth);
    return p.used;
}

MM__FRONT_BACKEND_ADAPTER(mm_nats_bridge, mm_nats_bridge)

void
mm_nats_bridge_stop(mm_nats_bridge *b)
{
    if (b == NULL || b->stopped)
        return;
    b->stopped = true;
    atomic_store(&b->stopping, true);
    if (b->sub != NULL || b->alive_sub != NULL) {
        if (b->sub != NULL)
            natsSubscription_Unsubscribe(b->sub);
        if (b->alive_sub != NULL)
            natsSubscription_Unsubscribe(b->alive_sub);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += SUB_CLOSE_WAIT_MS / 1000;
        pthread_mutex_lock(&b->mu);
        while (b->subs_open > 0 && pthread_cond_timedwait(&b->cond, &b->mu, &until) == 0)
            ;
        b->sub_stuck = b->subs_open > 0;
        pthread_mutex_unlock(&b->mu);
        if (b->sub_stuck)
            mm_error("bridge: the NATS delivery callback did not finish within %d ms; leaking the bridge", SUB_CLOSE_WAIT_MS);
    }
    mm_actor_stop(b->actor, MM_ACTOR_REJECT);
}

void
mm_nats_bridge_destroy(mm_nats_bridge *b)
{
    if (b == NULL)
        return;
    mm_nats_bridge_stop(b);
    if (b->sub_stuck)
        return; /* the callback may still run: freeing would be worse than this leak */
    natsSubscription_Destroy(b->sub);
    natsSubscription_Destroy(b->alive_sub);
    mm_actor_destroy(b->actor);
    mm_idmap_dispose(&b->reqs);
    for (; b->rq != NULL && b->rq_len > 0; b->rq_len--) { /* the actor's stop took them; only if it never ran */
        natsMsg_Destroy(b->rq[b->rq_head]);
        b->rq_head = (b->rq_head + 1) % b->rq_cap;
    }
    free(b->rq);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mu);
    pthread_mutex_destroy(&b->rq_mu);
    free(b);
}
