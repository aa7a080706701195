/*
 * Introspection answers of edgegap_sim (src/sim/sim_edgegap.h): /__sim/stats and
 * /__sim/deployments. The deployments listing is a contract with gameserver_sim, which polls it
 * to learn which game servers to run: its shape is fixed (docs/edgegap_sim.md) and its statuses
 * are always spelled "Status.X", whatever --status-style says for /v1.
 */
#include "sim_edgegap_webhook.h"
#include "sim_edgegap_internal.h"

static void
set_u64(json_t *o, const char *key, uint64_t v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

json_t *
mm_sim_world_stats(mm_sim_world *w)
{
    const mm__sim_counters *c = &w->counters;
    json_t *o = json_object(), *req = json_object(), *fired = json_object(), *ids = json_array();
    set_u64(o, "sessions_created", c->sessions_created);
    set_u64(o, "sessions_ready", c->sessions_ready);
    set_u64(o, "sessions_deleted", c->sessions_deleted);
    set_u64(o, "sessions_error", c->sessions_error);
    set_u64(o, "sessions_unprocessable", c->sessions_unprocessable);
    set_u64(o, "sessions_live", w->live_sessions);
    set_u64(o, "deployments_started", c->deployments_started);
    set_u64(o, "deployments_stopped", c->deployments_stopped);
    set_u64(o, "deployments_failed", c->deployments_failed);
    set_u64(o, "deployments_live", w->live_deployments);
    for (int i = 0; i < MM_SIM_EP_COUNT; i++)
        set_u64(req, mm_sim_endpoint_name((mm_sim_endpoint)i), c->requests[i]);
    json_object_set_new(o, "requests", req);
    set_u64(o, "unauthorized", c->unauthorized);
    set_u64(o, "injected_errors", w->faults.fired[MM_SIM_FAULT_ERROR]);
    set_u64(fired, "error", w->faults.fired[MM_SIM_FAULT_ERROR]);
    set_u64(fired, "hang", w->faults.fired[MM_SIM_FAULT_HANG]);
    set_u64(fired, "never_ready", w->faults.fired[MM_SIM_FAULT_NEVER_READY]);
    set_u64(fired, "deploy_fail", w->faults.fired[MM_SIM_FAULT_DEPLOY_FAIL]);
    set_u64(fired, "webhook_drop", w->faults.fired[MM_SIM_FAULT_WEBHOOK_DROP]);
    set_u64(fired, "delayed", w->faults.delayed);
    json_object_set_new(o, "faults_fired", fired);
    mm_sim_webhook_counts wc = mm_sim_webhook_get_counts(w->webhook);
    set_u64(o, "webhooks_sent", wc.sent);
    set_u64(o, "webhooks_failed", wc.failed);
    set_u64(o, "webhooks_pending", wc.pending);
    set_u64(o, "webhooks_dropped", w->faults.fired[MM_SIM_FAULT_WEBHOOK_DROP]);
    set_u64(o, "terminated_remembered", w->term_len);
    /* launch realism (docs/edgegap_sim.md): refusals per class, sessions held by --capacity, settings */
    json_t *limited = json_object();
    for (int i = 0; i < MM_SIM_RATE_CLASSES; i++)
        set_u64(limited, mm_sim_rate_class_name((mm_sim_rate_class)i), c->rate_limited[i]);
    json_object_set_new(o, "rate_limited", limited);
    set_u64(o, "capacity_waiting", w->capacity_waiting);
    set_u64(o, "capacity_waited", c->capacity_waited);
    json_object_set_new(o, "config", mm_sim_launch_cfg_json(&w->cfg->launch, w->cfg->deploy_delay_ms, 1 + w->cfg->nmore_keys));
    for (mm__sim_list *n = w->session_list.next; n != &w->session_list; n = n->next)
        json_array_append_new(ids, json_string(MM__SIM_CONTAINER(n, mm__sim_session, in_world)->id_str));
    json_object_set_new(o, "live_session_ids", ids);
    return o;
}

json_t *
mm_sim_world_deployments(mm_sim_world *w)
{
    json_t *root = json_object(), *list = json_array();
    for (mm__sim_list *n = w->deployment_list.next; n != &w->deployment_list; n = n->next) {
        const mm__sim_deployment *d = MM__SIM_CONTAINER(n, mm__sim_deployment, in_world);
        const mm_sim_app_cfg *app = &w->cfg->apps[d->app];
        const mm_sim_version_cfg *ver = &app->versions[d->version];
        json_t *o = json_object(), *ports = json_object(), *sessions = json_array();
        json_object_set_new(o, "request_id", json_string(d->id_str));
        json_object_set_new(o, "app", json_string(app->name));
        json_object_set_new(o, "version", json_string(ver->name));
        json_object_set_new(o, "public_ip", json_string(d->ip_str));
        json_object_set_new(o, "status", json_string(mm__sim_deployment_status(d->state, false)));
        json_object_set_new(o, "ready", json_boolean(d->state == MM__SIM_DEP_READY));
        for (size_t i = 0; i < ver->nports; i++) {
            json_t *p = json_object();
            json_object_set_new(p, "external", json_integer(d->ext_ports[i]));
            json_object_set_new(p, "internal", json_integer(ver->ports[i].internal));
            json_object_set_new(p, "protocol", json_string(ver->ports[i].protocol));
            json_object_set_new(ports, ver->ports[i].name, p);
        }
        json_object_set_new(o, "ports", ports);
        for (const mm__sim_list *s = d->sessions.next; s != &d->sessions; s = s->next)
            json_array_append_new(sessions, json_string(MM__SIM_CONTAINER(s, mm__sim_session, in_dep)->id_str));
        json_object_set_new(o, "sessions", sessions);
        json_array_append_new(list, o);
    }
    json_object_set_new(root, "deployments", list);
    return root;
}
