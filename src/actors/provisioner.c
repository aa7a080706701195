/*
 * The provisioner actor (include/mm/provisioner.h): one thread owning every request's state, the
 * Edgegap client and the cert-digest cache.
 *
 * Design: the actor's `wait` op is mm_edgegap_fds_wait(inbox eventfd) and its `idle` op
 * mm_edgegap_perform, so Edgegap answers, inbox messages and timers all run on this one thread
 * and nothing here blocks (KV puts and deletions are async JetStream publishes). A request lives
 * in an id map (for TOKEN_READY, which names it by id) and a list (for cert events and stop).
 * A request that finishes while one of its Edgegap calls is still running is marked done and
 * freed by that call's callback; its sink is ended and freed at once. Timers: `timer` is the
 * poll timer, then the cert-wait timer; `deadline` is the session timeout. After each perform
 * the idle op hands the polls waiting in the poll line to the client (provisioner_poll.c).
 */
#include "mm/provisioner.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm/edgegap.h"
#include "mm/feedback.h"
#include "mm/kv_watch.h"
#include "mm/log.h"
#include "mm/request.h"
#include "provisioner_internal.h"

typedef struct new_request {
    mm_reply_sink *sink;
    char client_ip[MM_IP_TEXT_LEN];
} new_request;

static void
discard_new(new_request *nr, const char *why)
{
    if (nr == NULL)
        return;
    mm_reply_error(nr->sink, 503, why);
    mm_reply_free(nr->sink);
    free(nr);
}

/* ---- cert digest cache ---- */

static const char *
cert_find(mm_provisioner *p, const char *ip)
{
    for (size_t i = 0; i < p->n_certs; i++)
        if (strcmp(p->certs[i].ip, ip) == 0)
            return p->certs[i].digest;
    return NULL;
}

static void
cert_event(mm_provisioner *p, mm_kv_event *ev)
{
    if (ev->op == MM_KV_OP_INITIAL_DONE || strlen(ev->key) >= MM_IP_TEXT_LEN)
        return;
    size_t i = 0;
    while (i < p->n_certs && strcmp(p->certs[i].ip, ev->key) != 0)
        i++;
    if (ev->op != MM_KV_OP_PUT) {
        if (i < p->n_certs)
            p->certs[i] = p->certs[--p->n_certs];
        return;
    }
    if (ev->value_len == 0 || ev->value_len >= sizeof(p->certs[0].digest))
        return;
    if (i == p->n_certs) {
        if (p->n_certs == p->cap_certs) {
            size_t cap = p->cap_certs ? p->cap_certs * 2 : 16;
            prov_cert *n = realloc(p->certs, cap * sizeof(*n));
            if (n == NULL) {
                mm_error("provisioner: out of memory caching the cert digest of %s", ev->key);
                return;
            }
            p->certs = n;
            p->cap_certs = cap;
        }
        p->n_certs++;
        snprintf(p->certs[i].ip, sizeof(p->certs[i].ip), "%s", ev->key);
    }
    memcpy(p->certs[i].digest, ev->value, ev->value_len);
    p->certs[i].digest[ev->value_len] = '\0';
    /* wake the requests waiting for this server's digest */
    for (prov_req *r = p->head, *next; r != NULL; r = next) {
        next = r->next;
        if (r->phase == PHASE_CERT_WAIT && strcmp(r->ip, ev->key) == 0)
            prov_mint(r, p->certs[i].digest);
    }
}

/* ---- helpers used by the flow (provisioner_flow.c) ---- */

const char *
prov_cert_digest(mm_provisioner *p, const char *ip)
{
    return cert_find(p, ip);
}

void
prov_kv_put_async(mm_provisioner *p, mm_kv_bucket bucket, const char *key, const char *value)
{
    char subject[160];
    snprintf(subject, sizeof(subject), "$KV.%s.%s", mm_kv_bucket_spec_of(bucket)->name, key);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    natsStatus s = js_PublishAsync(mm_js_ctx(p->js), subject, value, (int)strlen(value), &po);
    if (s != NATS_OK)
        mm_error("provisioner: put %s[%s] failed: %s", mm_kv_bucket_spec_of(bucket)->name, key, natsStatus_GetText(s));
}

void
prov_enqueue_delete(mm_provisioner *p, const char *session_id)
{
    char why[200];
    if (mm_delete_queue_enqueue_async(mm_js_ctx(p->js), session_id, 5000, why, sizeof(why)) != MM_OK)
        mm_error("provisioner: could not enqueue the deletion of session %s: %s", session_id, why);
    else
        mm_debug("provisioner: session %s enqueued for deletion", session_id);
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
    if (msg->type == MM__PROV_MSG_REQUEST_NEW) {
        new_request *nr = msg->ptr;
        prov_req_begin(p, nr->sink, nr->client_ip); /* owns the sink from here */
        free(nr);
    } else if (msg->type == MM__PROV_MSG_TOKEN_READY) {
        mm_minter_result *res = msg->ptr;
        prov_req *r = mm_idmap_get(&p->reqs, msg->target);
        if (r != NULL)
            prov_token_ready(r, res);
        mm_minter_result_free(res);
        prov_mint_landed(p);
    } else if (msg->type == MM__PROV_MSG_CERT_EVENT) {
        cert_event(p, msg->ptr);
        mm_kv_event_free(msg->ptr);
    }
}

static void
op_discard(void *state, mm_msg *msg)
{
    mm_provisioner *p = state;
    if (msg->type == MM__PROV_MSG_REQUEST_NEW) {
        discard_new(msg->ptr, "the matchmaker is stopping");
        atomic_fetch_sub(&p->active, 1);
    } else if (msg->type == MM__PROV_MSG_TOKEN_READY) {
        mm_minter_result_free(msg->ptr);
    } else if (msg->type == MM__PROV_MSG_CERT_EVENT) {
        mm_kv_event_free(msg->ptr);
    }
}

static void
op_idle(void *state, mm_actor *self)
{
    (void)self;
    mm_provisioner *p = state;
    mm_edgegap_perform(p->eg);
    prov_poll_line_drain(p); /* perform is where the client's room grows */
}

static void
op_wait(void *state, int inbox_fd, int timeout_ms)
{
    mm_provisioner *p = state;
    mm_edgegap_fds_wait(p->eg, inbox_fd, timeout_ms);
}

static void
op_stop(void *state)
{
    mm_provisioner *p = state;
    p->stopping = true;
    mm_edgegap_destroy(p->eg); /* callbacks come back CANCELLED: they only release their request */
    p->eg = NULL;
    while (p->head != NULL) {
        /* Edgegap already made this request's session and no one will use it (its client is told
         * 503): its deletion is enqueued, as after a timeout. A create still unanswered has no
         * id to delete yet. */
        if (p->head->session_id[0] != '\0') {
            mm_warn("provisioner: request %llu still running at the stop: session %s deletion enqueued",
                    (unsigned long long)p->head->id, p->head->session_id);
            prov_enqueue_delete(p, p->head->session_id);
        }
        prov_req_finish(p->head); /* the sink, freed before its end, answers 503 */
    }
    mm_idmap_dispose(&p->reqs);
    free(p->certs);
    p->certs = NULL;
}

static const mm_actor_ops prov_ops = {
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
prov_free(mm_provisioner *p)
{
    if (p == NULL)
        return;
    free(p->app);
    free(p->version);
    free(p->webhook_url);
    free(p->port_name);
    free(p);
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
    p->port_name = dup_opt(config->port_name, &ok);
    p->poll_delay_ms = config->poll_delay_ms ? config->poll_delay_ms : 200;
    p->poll_interval_ms = config->poll_interval_ms ? config->poll_interval_ms : 200;
    p->session_timeout_ms = config->session_timeout_ms ? config->session_timeout_ms : 60000;
    p->cert_wait_ms = config->cert_wait_ms ? config->cert_wait_ms : 5000;
    p->backoff_base_ms = config->backoff_base_ms ? config->backoff_base_ms : 250;
    p->backoff_max_ms = config->backoff_max_ms ? config->backoff_max_ms : 5000;
    p->create_retries = config->create_retries;
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
    mm_actor_config ac = {0};
    ac.inbox.capacity = config->inbox_capacity ? config->inbox_capacity : 1023;
    p->mint_cap = ac.inbox.capacity; /* the minter thread's ring holds at least this many TOKEN_READYs */
    err = mm_actor_start(&prov_ops, p, &ac, &p->actor);
    if (err != MM_OK) {
        mm_fail(err, why, why_len, "provisioner: the actor did not start");
        goto cleanup;
    }
    *out = p;
    return MM_OK;
cleanup:
    mm_edgegap_destroy(p->eg);
    prov_free(p);
    return err;
}

mm_err
mm_provisioner_submit(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip)
{
    if (p == NULL || sink == NULL || client_ip == NULL || strlen(client_ip) >= MM_IP_TEXT_LEN)
        return MM_ERR_INVALID;
    if (atomic_load(&p->closing))
        return MM_ERR_STOPPED;
    new_request *nr = calloc(1, sizeof(*nr));
    if (nr == NULL)
        return MM_ERR_NOMEM;
    nr->sink = sink;
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
    out->retries = atomic_load(&p->n_retries);
    out->polls_waited = atomic_load(&p->n_polls_waited);
    out->mint_waits = atomic_load(&p->n_mint_waits);
    out->mints_held = atomic_load(&p->n_mints_held);
    long active = atomic_load(&p->active);
    out->active = active > 0 ? (uint64_t)active : 0;
}

uint64_t
prov_backoff_ms(mm_provisioner *p, unsigned attempt, uint64_t floor_ms)
{
    uint64_t random = 0;
    randombytes_buf(&random, sizeof(random));
    uint64_t ms = mm_edgegap_backoff_ms(attempt, p->backoff_base_ms, p->backoff_max_ms, random);
    return ms < floor_ms ? floor_ms : ms;
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
    if (atomic_load(&p->active) > 0)
        mm_warn("provisioner: %ld requests still running at the stop deadline: answering 503", (long)atomic_load(&p->active));
    mm_actor_stop(p->actor, MM_ACTOR_REJECT);
}

void
mm_provisioner_destroy(mm_provisioner *p)
{
    if (p == NULL)
        return;
    mm_provisioner_stop(p, 0);
    mm_actor_destroy(p->actor);
    prov_free(p);
}
