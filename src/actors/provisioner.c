/*
 * The provisioner actor (include/mm/provisioner.h): one thread owning every request's state, the
 * Edgegap client and the cert-digest cache. This file is the actor itself, the top layer of
 * provisioner_internal.h: its lifecycle (start, stop, destroy), the dispatch of its messages and
 * the public API. A request's states and transitions are in provisioner_request.c.
 *
 * Receives (enum mm__prov_msg): REQUEST_NEW from mm_provisioner_submit (any thread), WEBHOOK
 * from mm_provisioner_webhook (any thread: a copy of the session id), TOKEN_READY from the minter, CERT_EVENT from the cert_digests watcher (cached, then the requests waiting
 * for that server's digest go on). Sends nothing itself: the request layer answers the reply
 * sinks, sends MINTs and makes the Edgegap calls and the KV puts.
 *
 * Design: the actor's `wait` op is mm_edgegap_fds_wait(inbox eventfd) and its `idle` op
 * mm_edgegap_perform, so Edgegap answers, inbox messages and timers all run on this one thread
 * and nothing here blocks (KV puts and deletions are async JetStream publishes). After each
 * perform the idle op hands the polls waiting in the poll line to the client. A stop refuses new
 * requests at once, waits for those in flight up to its deadline, then stops the actor: the
 * Edgegap client is destroyed (its callbacks come back cancelled) and every request still
 * running is ended with 503, its session's deletion enqueued (mm__prov_req_stop_all).
 */
#include "mm/provisioner.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/edgegap.h"
#include "mm/kv_watch.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/request.h"
#include "provisioner_internal.h"

static void
discard_new(mm__prov_new_request *nr, const char *why)
{
    if (nr == NULL)
        return;
    mm_reply_error(nr->sink, 503, why);
    mm_reply_free(nr->sink);
    free(nr);
}

/* ---- actor ops ---- */

static mm_err
op_start(void *state, mm_actor *self)
{
    mm_provisioner *p = state;
    p->self = self;
    return MM_OK;
}

static void
op_handle(void *state, mm_actor *self, mm_msg *msg)
{
    (void)self;
    mm_provisioner *p = state;
    switch ((enum mm__prov_msg)msg->type) {
    case MM__PROV_MSG_REQUEST_NEW: {
        mm__prov_new_request *nr = msg->ptr;
        mm__prov_req_begin(p, nr->sink, nr->client_ip, nr->rid); /* owns the sink from here */
        free(nr);
        break;
    }
    case MM__PROV_MSG_TOKEN_READY:
        mm__prov_req_token_ready(p, msg->target, msg->ptr);
        mm_minter_result_free(msg->ptr);
        break;
    case MM__PROV_MSG_CERT_EVENT: {
        mm_kv_event *ev = msg->ptr;
        const char *digest = mm__prov_cert_apply(p, ev);
        if (digest != NULL)
            mm__prov_req_cert_known(p, ev->key, digest); /* wakes the requests waiting for it */
        mm_kv_event_free(ev);
        break;
    }
    case MM__PROV_MSG_WEBHOOK:
        mm__prov_req_webhook(p, msg->ptr);
        free(msg->ptr);
        break;
    }
}

static void
op_discard(void *state, mm_msg *msg)
{
    mm_provisioner *p = state;
    switch ((enum mm__prov_msg)msg->type) {
    case MM__PROV_MSG_REQUEST_NEW:
        discard_new(msg->ptr, "the matchmaker is stopping");
        atomic_fetch_sub(&p->active, 1);
        break;
    case MM__PROV_MSG_TOKEN_READY:
        mm_minter_result_free(msg->ptr);
        break;
    case MM__PROV_MSG_CERT_EVENT:
        mm_kv_event_free(msg->ptr);
        break;
    case MM__PROV_MSG_WEBHOOK:
        free(msg->ptr);
        break;
    }
}

static void
op_idle(void *state, mm_actor *self)
{
    (void)self;
    mm_provisioner *p = state;
    mm_edgegap_perform(p->eg);
    mm__prov_req_drain_polls(p); /* perform is where the client's room grows */
    if (p->budget != NULL)
        mm__prov_room_admit(p);
}

static void
op_wait(void *state, int inbox_fd, int timeout_ms)
{
    mm_provisioner *p = state;
    if (p->budget != NULL)
        timeout_ms = mm__prov_room_wait_ms(p, timeout_ms);
    mm_edgegap_fds_wait(p->eg, inbox_fd, timeout_ms);
}

static void
op_stop(void *state)
{
    mm_provisioner *p = state;
    p->stopping = true;
    mm_edgegap_destroy(p->eg); /* callbacks come back CANCELLED: they only release their request */
    p->eg = NULL;
    mm__prov_req_stop_all(p); /* 503 to each; deletion of the sessions Edgegap made */
    mm_idmap_dispose(&p->reqs);
    free(p->index);
    p->index = NULL;
    free(p->early);
    p->early = NULL;
    free(p->certs);
    p->certs = NULL;
}

static const mm_actor_ops provisioner_ops = {
    .name = "provisioner",
    .start = op_start,
    .handle = op_handle,
    .discard = op_discard,
    .idle = op_idle,
    .wait = op_wait,
    .stop = op_stop,
};

/* ---- public API ---- */

static char *
dup_opt(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
}

static void
provisioner_free(mm_provisioner *p)
{
    if (p == NULL)
        return;
    free(p->app);
    free(p->version);
    free(p->webhook_url);
    free(p->intent_replica);
    free(p->port_name);
    free(p);
}

/* The defaults, written once: mm_provisioner_config_init copies them, and a 0 in a caller's
 * config falls back to them (the Edgegap client's own limits come from mm/edgegap.h). */
static const mm_provisioner_config provisioner_defaults = {
    .max_in_flight = MM_EDGEGAP_DEFAULT_MAX_IN_FLIGHT,
    .max_queued = MM_EDGEGAP_DEFAULT_MAX_QUEUED,
    .edgegap_timeout_ms = MM_EDGEGAP_DEFAULT_TIMEOUT_MS,
    .backoff_base_ms = 250,
    .backoff_max_ms = 5000,
    .poll_delay_ms = 200,
    .poll_interval_ms = 200,
    .session_timeout_ms = 60000,
    .cert_wait_ms = 5000,
    .inbox_capacity = 1023,
};

void
mm_provisioner_config_init(mm_provisioner_config *c)
{
    *c = provisioner_defaults;
}

mm_err
mm_provisioner_start(const mm_provisioner_config *config, mm_provisioner **out, char *why, size_t why_len)
{
    *out = NULL;
    if (config == NULL || config->nc == NULL || config->js == NULL || config->minter == NULL || config->app == NULL ||
        config->version == NULL || config->api_key == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "provisioner: nc, js, minter, app, version and api_key are required");
    mm_provisioner *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "provisioner: out of memory");
    bool ok = true;
    p->nc = config->nc;
    p->js = config->js;
    p->minter = config->minter;
    p->app = dup_opt(config->app, &ok);
    p->version = dup_opt(config->version, &ok);
    p->webhook_url = dup_opt(config->webhook_url, &ok);
    p->intent_replica = config->webhook_url != NULL ? dup_opt(config->intent_replica, &ok) : NULL;
    p->port_name = dup_opt(config->port_name, &ok);
    const mm_provisioner_config *d = &provisioner_defaults;
    p->poll_delay_ms = config->poll_delay_ms ? config->poll_delay_ms : d->poll_delay_ms;
    p->poll_interval_ms = config->poll_interval_ms ? config->poll_interval_ms : d->poll_interval_ms;
    p->session_timeout_ms = config->session_timeout_ms ? config->session_timeout_ms : d->session_timeout_ms;
    p->cert_wait_ms = config->cert_wait_ms ? config->cert_wait_ms : d->cert_wait_ms;
    p->backoff_base_ms = config->backoff_base_ms ? config->backoff_base_ms : d->backoff_base_ms;
    p->backoff_max_ms = config->backoff_max_ms ? config->backoff_max_ms : d->backoff_max_ms;
    p->create_retries = config->create_retries;
    if (config->webhook_poll_ms > 0) { /* webhooks on: the grid is the fallback one */
        p->webhooks = true;
        p->poll_delay_ms = config->webhook_poll_ms;
        p->poll_interval_ms = config->webhook_poll_ms;
    }
    p->index = calloc(MM__PROV_INDEX_BUCKETS, sizeof(*p->index));
    if (p->index == NULL)
        ok = false;
    if (p->webhooks && (p->early = calloc(MM__PROV_EARLY, sizeof(*p->early))) == NULL)
        ok = false;
    mm_idmap_init(&p->reqs);
    mm_err err = MM_OK;
    if (!ok) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "provisioner: out of memory");
        goto cleanup;
    }
    mm_edgegap_config ec = {
        .base_url = config->edgegap_url,
        .api_key = config->api_key,
        .max_in_flight = config->max_in_flight,
        .max_queued = config->max_queued,
        .request_timeout_ms = config->edgegap_timeout_ms,
    };
    err = mm_edgegap_create(&ec, &p->eg, why, why_len);
    if (err != MM_OK)
        goto cleanup;
    p->budget = config->budget;
    if (p->budget != NULL)
        mm__prov_room_init(p, config->waiting_room_max, config->max_line_wait_ms);
    mm_actor_config ac = {0};
    ac.inbox.capacity = config->inbox_capacity ? config->inbox_capacity : d->inbox_capacity;
    p->mint_cap = ac.inbox.capacity; /* the minter thread's ring holds at least this many TOKEN_READYs */
    err = mm_actor_start(&provisioner_ops, p, &ac, &p->actor);
    if (err != MM_OK) {
        mm_fail(err, why, why_len, "provisioner: the actor did not start");
        goto cleanup;
    }
    *out = p;
    return MM_OK;
cleanup:
    mm_edgegap_destroy(p->eg);
    free(p->index);
    free(p->early);
    provisioner_free(p);
    return err;
}

mm_err
mm_provisioner_submit(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip)
{
    return mm_provisioner_submit_id(p, sink, client_ip, 0);
}

mm_err
mm_provisioner_submit_id(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip, uint64_t request_id)
{
    if (p == NULL || sink == NULL || client_ip == NULL || strlen(client_ip) >= MM_IP_TEXT_LEN)
        return MM_ERR_INVALID;
    if (atomic_load(&p->closing))
        return MM_ERR_STOPPED;
    mm__prov_new_request *nr = calloc(1, sizeof(*nr));
    if (nr == NULL)
        return MM_ERR_NOMEM;
    nr->sink = sink;
    nr->rid = request_id;
    snprintf(nr->client_ip, sizeof(nr->client_ip), "%s", client_ip);
    atomic_fetch_add(&p->active, 1);
    mm_msg msg = {.type = MM__PROV_MSG_REQUEST_NEW, .ptr = nr};
    mm_err err = mm_actor_send(p->actor, &msg);
    if (err != MM_OK) {
        atomic_fetch_sub(&p->active, 1);
        free(nr);
        return err;
    }
    atomic_fetch_add(&p->n_submitted, 1);
    return MM_OK;
}

void
mm_provisioner_get_stats(mm_provisioner *p, mm_provisioner_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (p == NULL)
        return;
    out->submitted = atomic_load(&p->n_submitted);
    out->ready = atomic_load(&p->n_ready);
    out->failed = atomic_load(&p->n_failed);
    out->stopped = atomic_load(&p->n_stopped);
    out->retries = atomic_load(&p->n_retries);
    out->polls_waited = atomic_load(&p->n_polls_waited);
    out->mint_waits = atomic_load(&p->n_mint_waits);
    out->mints_held = atomic_load(&p->n_mints_held);
    out->webhooks_received = atomic_load(&p->n_webhooks);
    out->webhooks_refused = atomic_load(&p->n_webhooks_refused);
    out->webhooks_ignored = atomic_load(&p->n_webhooks_ignored);
    out->webhooks_rate_limited = atomic_load(&p->n_webhooks_limited);
    out->webhook_gets = atomic_load(&p->n_webhook_gets);
    out->webhooks_early = atomic_load(&p->n_webhooks_early);
    out->gets = atomic_load(&p->n_gets);
    out->sessions_polled = atomic_load(&p->n_polled);
    long active = atomic_load(&p->active);
    out->active = active > 0 ? (uint64_t)active : 0;
}

mm_actor *
mm_provisioner_actor(mm_provisioner *p)
{
    return p ? p->actor : NULL;
}

void
mm_provisioner_stop(mm_provisioner *p, uint64_t deadline_ms)
{
    if (p == NULL)
        return;
    atomic_store(&p->closing, true);
    uint64_t until = mm_now_ms() + deadline_ms;
    while (atomic_load(&p->active) > 0 && mm_now_ms() < until) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    long left = atomic_load(&p->active);
    if (left > 0) {
        mm_warn("provisioner: %ld requests still running at the stop deadline: answering 503", left);
        atomic_fetch_add(&p->n_stopped, (unsigned long long)left); /* nothing new is taken once closing */
    }
    mm_actor_stop(p->actor, MM_ACTOR_REJECT);
}

void
mm_provisioner_destroy(mm_provisioner *p)
{
    if (p == NULL)
        return;
    mm_provisioner_stop(p, 0);
    mm_actor_destroy(p->actor);
    provisioner_free(p);
}

/* Any thread: a WEBHOOK message carrying a copy of the id; the actor decides (mm__prov_req_webhook). */
mm_err
mm_provisioner_webhook(mm_provisioner *p, const char *session_id)
{
    if (p == NULL || !mm_session_id_valid(session_id))
        return MM_ERR_INVALID;
    if (atomic_load(&p->closing)) {
        atomic_fetch_add(&p->n_webhooks_refused, 1);
        return MM_ERR_STOPPED;
    }
    char *id = strdup(session_id);
    if (id == NULL) {
        atomic_fetch_add(&p->n_webhooks_refused, 1);
        return MM_ERR_NOMEM;
    }
    mm_msg msg = {.type = MM__PROV_MSG_WEBHOOK, .ptr = id};
    mm_err err = mm_actor_send(p->actor, &msg);
    if (err != MM_OK) {
        free(id);
        atomic_fetch_add(&p->n_webhooks_refused, 1);
        return err;
    }
    atomic_fetch_add(&p->n_webhooks, 1);
    mm_metric_webhook(MM_METRIC_WH_RECEIVED);
    return MM_OK;
}
