/*
 * The all-in-one backend (include/mm/direct_backend.h): the web front's requests go straight to
 * the provisioner actor. No state of its own besides the served game/version and counters, all
 * read-only or atomic, so every function is safe on any front loop thread and never blocks
 * (mm_provisioner_submit and mm_provisioner_webhook only post to a bounded inbox).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/direct_backend.h"
#include "mm/log.h"
#include "mm/prom.h"
#include "mm/request.h"
#include "front_backend_adapter.h"

struct mm_direct_backend {
    mm_provisioner *provisioner;
    mm_orphans *orphans;
    natsConnection *nc;
    char app[128], version[128];
    atomic_bool closed;
    atomic_uint_fast64_t submitted, other_game, busy, stopped, failed, webhooks, webhooks_refused;
};

mm_err
mm_direct_backend_create(const mm_direct_backend_config *config, mm_direct_backend **out, char *why, size_t why_len)
{
    if (out == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "direct backend: out is required");
    *out = NULL;
    if (config == NULL || config->provisioner == NULL || config->nc == NULL || config->app == NULL || config->version == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "direct backend: provisioner, connection, app and version are required");
    mm_direct_backend *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "direct backend: out of memory");
    if (strlen(config->app) >= sizeof(d->app) || strlen(config->version) >= sizeof(d->version)) {
        free(d);
        return mm_fail(MM_ERR_INVALID, why, why_len, "direct backend: app or version longer than %zu bytes", sizeof(d->app) - 1);
    }
    d->provisioner = config->provisioner;
    d->orphans = config->orphans;
    d->nc = config->nc;
    snprintf(d->app, sizeof(d->app), "%s", config->app);
    snprintf(d->version, sizeof(d->version), "%s", config->version);
    if (!mm_request_name_valid(d->app) || !mm_request_name_valid(d->version))
        mm_warn("direct backend: app '%s' or version '%s' is not a valid request name: only wannaplay requests can reach it",
                d->app, d->version);
    *out = d;
    return MM_OK;
}

mm_err
mm_direct_backend_submit(mm_direct_backend *d, const mm_front_request *req, mm_reply_sink *sink)
{
    if (d == NULL || req == NULL || sink == NULL)
        return MM_ERR_INVALID;
    if (atomic_load(&d->closed)) {
        atomic_fetch_add(&d->stopped, 1);
        return MM_ERR_STOPPED;
    }
    if (req->route != MM_FRONT_WANNAPLAY && (strcmp(req->req.game, d->app) != 0 || strcmp(req->req.version, d->version) != 0)) {
        char text[128];
        snprintf(text, sizeof(text), "no matchmaker is serving %s %s", req->req.game, req->req.version);
        atomic_fetch_add(&d->other_game, 1);
        mm_reply_error(sink, 503, text);
        mm_reply_free(sink);
        return MM_OK;
    }
    mm_err err = mm_provisioner_submit_id(d->provisioner, sink, req->req.client_ip, req->id); /* logged under the front's id */
    switch (err) {
    case MM_OK:
        atomic_fetch_add(&d->submitted, 1);
        break;
    case MM_ERR_FULL:
        atomic_fetch_add(&d->busy, 1);
        break;
    case MM_ERR_STOPPED:
        atomic_fetch_add(&d->stopped, 1);
        break;
    default:
        atomic_fetch_add(&d->failed, 1);
        mm_warn("direct backend: request %llu refused by the provisioner: %s", (unsigned long long)req->id, mm_err_str(err));
        break;
    }
    return err;
}

mm_err
mm_direct_backend_webhook(mm_direct_backend *d, const char *session_id)
{
    return mm_direct_backend_webhook_intent(d, session_id, NULL);
}

mm_err
mm_direct_backend_webhook_intent(mm_direct_backend *d, const char *session_id, const char *intent)
{
    if (d == NULL || session_id == NULL)
        return MM_ERR_INVALID;
    if (intent != NULL && d->orphans != NULL && !atomic_load(&d->closed))
        mm_orphans_offer(d->orphans, session_id, intent);
    mm_err err = atomic_load(&d->closed) ? MM_ERR_STOPPED : mm_provisioner_webhook(d->provisioner, session_id);
    atomic_fetch_add(err == MM_OK ? &d->webhooks : &d->webhooks_refused, 1);
    return err;
}

bool
mm_direct_backend_ready(mm_direct_backend *d)
{
    return d != NULL && !atomic_load(&d->closed) && natsConnection_Status(d->nc) == NATS_CONN_STATUS_CONNECTED;
}

void
mm_direct_backend_get_stats(mm_direct_backend *d, mm_direct_backend_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (d == NULL)
        return;
    st->submitted = atomic_load(&d->submitted);
    st->other_game = atomic_load(&d->other_game);
    st->busy = atomic_load(&d->busy);
    st->stopped = atomic_load(&d->stopped);
    st->failed = atomic_load(&d->failed);
    st->webhooks = atomic_load(&d->webhooks);
    st->webhooks_refused = atomic_load(&d->webhooks_refused);
}

size_t
mm_direct_backend_metrics(mm_direct_backend *d, char *buf, size_t len)
{
    mm_direct_backend_stats st;
    mm_prom p;
    mm_prom_init(&p, buf, len);
    mm_direct_backend_get_stats(d, &st);
    const char *name = "mm_direct_requests_total";
    mm_prom_head(&p, name, "counter", "Requests of the web front in the all-in-one mode, by outcome.");
    mm_prom_sample(&p, name, (const char *const[]){"outcome", "submitted"}, 1, st.submitted);
    mm_prom_sample(&p, name, (const char *const[]){"outcome", "other_game"}, 1, st.other_game);
    mm_prom_sample(&p, name, (const char *const[]){"outcome", "busy"}, 1, st.busy);
    mm_prom_sample(&p, name, (const char *const[]){"outcome", "stopped"}, 1, st.stopped);
    mm_prom_sample(&p, name, (const char *const[]){"outcome", "failed"}, 1, st.failed);
    name = "mm_direct_webhooks_total";
    mm_prom_head(&p, name, "counter", "Edgegap webhooks handed to the provisioner, or refused (inbox full, stopping).");
    mm_prom_sample(&p, name, (const char *const[]){"outcome", "handed"}, 1, st.webhooks);
    mm_prom_sample(&p, name, (const char *const[]){"outcome", "refused"}, 1, st.webhooks_refused);
    /* what the provisioner made of them is the matchmaker's registry (mm_matchmaker_webhooks_total,
     * mm_matchmaker_edgegap_gets_per_session), which the all-in-one process appends after these */
    return p.used;
}

MM__FRONT_BACKEND_ADAPTER(mm_direct_backend, mm_direct_backend)

void
mm_direct_backend_close(mm_direct_backend *d)
{
    if (d != NULL)
        atomic_store(&d->closed, true);
}

void
mm_direct_backend_destroy(mm_direct_backend *d)
{
    free(d);
}
