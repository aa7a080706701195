/*
 * Lifecycles of edgegap_sim's sessions and deployments (src/sim/sim_edgegap_internal.h).
 *
 * A session is placed on a seat: first a ready deployment of its app version with a free seat
 * (the session is ready at once), else a deployment that is still starting (the session waits in
 * Status.DEPLOYING and holds its seat), else a new deployment is started. Each version keeps its
 * deployments with free seats on two lists (ready, deploying), oldest first, so placement takes
 * the head of a list and never scans full deployments.
 * A deployment becomes ready deploy_delay_ms after it started (or fails, when the deploy_fail
 * fault picked it); one that holds no session for its empty_ttl stops and returns its address
 * and ports to the pools. Transitions to ready, error and unprocessable post the session's
 * webhook. Everything runs on the loop thread; timers are embedded in the objects.
 *
 * Start times: --deploy-ms draws each deployment's from a distribution (sim_edgegap_launch.h);
 * without it every deployment takes --deploy-delay-ms. Capacity: with --capacity N, a session that
 * needs a new deployment while N are live waits in Status.SEEKING on the world's wait list, in
 * arrival order. When a seat frees (a session deleted) or a deployment stops, the list is served
 * from its head: a waiting session takes a free seat of its version, or starts a deployment if
 * there is room again. With one app version the head is all that is ever looked at.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "sim_alloc.h"
#include "sim_edgegap_webhook.h"
#include "sim_edgegap_internal.h"

static const mm_sim_version_cfg *
version_of(const mm_sim_world *w, uint16_t app, uint16_t version)
{
    return &w->cfg->apps[app].versions[version];
}

static uint64_t
empty_ttl_ms(const mm_sim_world *w, const mm__sim_deployment *d)
{
    if (w->cfg->empty_ttl_ms > 0)
        return w->cfg->empty_ttl_ms;
    return (uint64_t)version_of(w, d->app, d->version)->empty_ttl_min * 60000;
}

/* ---- webhooks ---- */

static void
notify(mm__sim_session *s)
{
    mm_sim_world *w = s->world;
    if (s->webhook_url == NULL || w->webhook == NULL)
        return;
    if (mm_sim_faults_take(&w->faults, MM_SIM_FAULT_WEBHOOK_DROP)) { /* the webhook_drop fault: lost on the way */
        mm_debug("webhook of session %s dropped (fault)", s->id_str);
        return;
    }
    json_t *body = json_object();
    json_object_set_new(body, "session_id", json_string(s->id_str));
    /* the reference recorded webhooks spelled like newer answers ("Ready"), whatever the GET style */
    json_object_set_new(body, "status", json_string(mm__sim_session_status(s->state, true)));
    json_object_set_new(body, "ready", json_boolean(s->state == MM__SIM_SESSION_READY));
    json_object_set_new(body, "kind", json_string("Seat"));
    json_object_set_new(body, "user_count", json_integer(s->nips));
    json_object_set_new(body, "linked", json_boolean(s->dep != NULL));
    json_object_set_new(body, "webhook_url", json_string(s->webhook_url));
    json_object_set_new(body, "deployment_request_id", s->dep != NULL ? json_string(s->dep->id_str) : json_null());
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    mm_sim_webhook_post(w->webhook, s->webhook_url, text);
    free(text);
}

static void
session_set_error(mm__sim_session *s, mm__sim_session_state state, const char *error)
{
    s->state = state;
    s->error = error;
    if (state == MM__SIM_SESSION_ERROR)
        s->world->counters.sessions_error++;
    else
        s->world->counters.sessions_unprocessable++;
    notify(s);
}

static void
session_set_ready(mm__sim_session *s)
{
    s->state = MM__SIM_SESSION_READY;
    s->world->counters.sessions_ready++;
    notify(s);
}

/* ---- deployments ---- */

bool
mm__sim_deployment_joinable(const mm__sim_deployment *d)
{
    return mm__sim_list_linked(&d->in_open);
}

static void
open_list_add(mm__sim_deployment *d)
{
    mm__sim_version_rt *rt = &d->world->rt[d->app][d->version];
    if (mm__sim_list_linked(&d->in_open) || d->state == MM__SIM_DEP_ERROR ||
        d->seats_used >= version_of(d->world, d->app, d->version)->sockets)
        return;
    /* creation order: the oldest deployment with a free seat fills first, so the newest ones
     * empty out and stop. Scanning from the tail puts a new deployment in place at once. */
    mm__sim_list *head = d->state == MM__SIM_DEP_READY ? &rt->open_ready : &rt->open_deploying, *at = head->prev;
    while (at != head && MM__SIM_CONTAINER(at, mm__sim_deployment, in_open)->seq > d->seq)
        at = at->prev;
    mm__sim_list_append(at->next, &d->in_open);
}

static void
deployment_free(mm__sim_deployment *d)
{
    mm_sim_world *w = d->world;
    mm_timer_heap_cancel(w->timers, &d->ready_timer);
    mm_timer_heap_cancel(w->timers, &d->empty_timer);
    mm__sim_list_unlink(&d->in_open);
    mm__sim_list_unlink(&d->in_world);
    mm__sim_free_address(w, d);
    mm_idmap_remove(&w->deployments, d->id);
    w->live_deployments--;
    free(d);
}

static void serve_waiting(mm_sim_world *w);

static void
on_empty_ttl(mm_timer *timer)
{
    mm__sim_deployment *d = MM__SIM_CONTAINER(timer, mm__sim_deployment, empty_timer);
    mm_sim_world *w = d->world;
    mm_debug("deployment %s (%s) stopped: no session for its empty_ttl", d->id_str, d->ip_str);
    w->counters.deployments_stopped++;
    deployment_free(d);
    if (w->capacity_waiting > 0)
        serve_waiting(w);
}

static void
on_deployment_ready(mm_timer *timer)
{
    mm__sim_deployment *d = MM__SIM_CONTAINER(timer, mm__sim_deployment, ready_timer);
    mm_sim_world *w = d->world;
    mm__sim_list_unlink(&d->in_open);
    if (d->will_fail) {
        d->state = MM__SIM_DEP_ERROR;
        w->counters.deployments_failed++;
        mm_info("deployment %s failed to start (injected deploy_fail)", d->id_str);
    } else {
        d->state = MM__SIM_DEP_READY;
        open_list_add(d);
        mm_debug("deployment %s ready at %s", d->id_str, d->ip_str);
    }
    for (mm__sim_list *n = d->sessions.next; n != &d->sessions; n = n->next) {
        mm__sim_session *s = MM__SIM_CONTAINER(n, mm__sim_session, in_dep);
        if (d->will_fail)
            session_set_error(s, MM__SIM_SESSION_ERROR, "Deployment failed to start (injected by edgegap_sim)");
        else
            session_set_ready(s);
    }
}

static mm__sim_deployment *
deployment_start(mm_sim_world *w, uint16_t app, uint16_t version)
{
    mm__sim_deployment *d = mm_sim_xcalloc(1, sizeof(*d));
    d->world = w;
    d->app = app;
    d->version = version;
    if (!mm__sim_alloc_address(w, d)) {
        free(d);
        return NULL;
    }
    d->id = mm__sim_world_new_id(w, &w->deployments, false);
    mm__sim_format_id(d->id, d->id_str, false);
    d->state = MM__SIM_DEP_DEPLOYING;
    d->seq = w->next_deployment_seq++;
    mm__sim_list_init(&d->sessions);
    mm__sim_list_init(&d->in_world);
    mm__sim_list_init(&d->in_open);
    d->will_fail = mm_sim_faults_take(&w->faults, MM_SIM_FAULT_DEPLOY_FAIL);
    mm__sim_list_append(&w->deployment_list, &d->in_world);
    mm_sim_xidmap_put(&w->deployments, d->id, d);
    w->live_deployments++;
    w->counters.deployments_started++;
    open_list_add(d);
    uint64_t delay =
        w->cfg->launch.deploy.median_ms > 0 ? mm_sim_dist_draw(&w->cfg->launch.deploy, &w->deploy_rng) : w->cfg->deploy_delay_ms;
    mm_sim_xtimer_arm(w->timers, &d->ready_timer, delay, on_deployment_ready);
    mm_debug("deployment %s starting at %s", d->id_str, d->ip_str);
    return d;
}

mm__sim_deployment *
mm__sim_deployment_find(mm_sim_world *w, const char *request_id)
{
    char probe[20];
    uint64_t id;
    if (strlen(request_id) != 12)
        return NULL;
    snprintf(probe, sizeof(probe), "%s-S", request_id);
    if (!mm__sim_parse_session_id(probe, &id))
        return NULL;
    return mm_idmap_get(&w->deployments, id);
}

/* ---- sessions ---- */

static void
seat_take(mm__sim_session *s, mm__sim_deployment *d)
{
    s->dep = d;
    mm__sim_list_append(&d->sessions, &s->in_dep);
    d->seats_used++;
    mm_timer_heap_cancel(s->world->timers, &d->empty_timer);
    if (d->seats_used >= version_of(s->world, d->app, d->version)->sockets)
        mm__sim_list_unlink(&d->in_open);
}

static void
seat_release(mm__sim_session *s)
{
    mm__sim_deployment *d = s->dep;
    mm_sim_world *w = s->world;
    mm__sim_list_unlink(&s->in_dep);
    s->dep = NULL;
    d->seats_used--;
    open_list_add(d);
    if (d->seats_used == 0)
        mm_sim_xtimer_arm(w->timers, &d->empty_timer, empty_ttl_ms(w, d), on_empty_ttl);
    if (w->capacity_waiting > 0)
        serve_waiting(w); /* a waiting session may take the freed seat (and so keep d running) */
}

static void
place(mm__sim_session *s)
{
    mm_sim_world *w = s->world;
    mm__sim_version_rt *rt = &w->rt[s->app][s->version];
    mm__sim_deployment *d = NULL;
    if (s->wanted != 0) {
        char id[16];
        mm__sim_format_id(s->wanted, id, false);
        d = mm__sim_deployment_find(w, id);
        if (d == NULL || !mm__sim_deployment_joinable(d)) {
            session_set_error(s, MM__SIM_SESSION_ERROR, "The requested deployment is gone or has no free seat");
            return;
        }
    } else if (!mm__sim_list_empty(&rt->open_ready)) {
        d = MM__SIM_CONTAINER(rt->open_ready.next, mm__sim_deployment, in_open);
    } else if (!mm__sim_list_empty(&rt->open_deploying)) {
        d = MM__SIM_CONTAINER(rt->open_deploying.next, mm__sim_deployment, in_open);
    } else if (!version_of(w, s->app, s->version)->autodeploy) {
        session_set_error(s, MM__SIM_SESSION_UNPROCESSABLE, "No deployment has a free seat and autodeploy is off");
        return;
    } else if (w->cfg->launch.capacity > 0 && w->live_deployments >= w->cfg->launch.capacity) {
        mm__sim_list_append(&w->capacity_wait, &s->in_wait); /* stays Status.SEEKING */
        w->capacity_waiting++;
        w->counters.capacity_waited++;
        return;
    } else if ((d = deployment_start(w, s->app, s->version)) == NULL) {
        mm_warn("no deployment address or external port left (range %s, ports from %u)", w->cfg->ip_range, w->cfg->port_base);
        session_set_error(s, MM__SIM_SESSION_ERROR, "Couldn't allocate a server: no address or port left");
        return;
    }
    seat_take(s, d);
    if (d->state == MM__SIM_DEP_READY)
        session_set_ready(s);
    else
        s->state = MM__SIM_SESSION_DEPLOYING;
}

/* Places waiting sessions, oldest first, while a seat or room for a deployment is there for them. */
static void
serve_waiting(mm_sim_world *w)
{
    mm__sim_list *n = w->capacity_wait.next;
    while (n != &w->capacity_wait) {
        mm__sim_session *s = MM__SIM_CONTAINER(n, mm__sim_session, in_wait);
        n = n->next;
        const mm__sim_version_rt *rt = &w->rt[s->app][s->version];
        bool seat = !mm__sim_list_empty(&rt->open_ready) || !mm__sim_list_empty(&rt->open_deploying);
        if (!seat && w->live_deployments >= w->cfg->launch.capacity) {
            if (w->one_version)
                break; /* nobody behind the head can be placed either */
            continue;
        }
        mm__sim_list_unlink(&s->in_wait);
        w->capacity_waiting--;
        place(s); /* takes the seat or starts a deployment: it never waits again */
    }
}

static void
on_seek_done(mm_timer *timer)
{
    place(MM__SIM_CONTAINER(timer, mm__sim_session, seek_timer));
}

mm__sim_session *
mm__sim_session_new(mm_sim_world *w, uint16_t app, uint16_t version)
{
    mm__sim_session *s = mm_sim_xcalloc(1, sizeof(*s));
    s->world = w;
    s->id = mm__sim_world_new_id(w, &w->sessions, true);
    mm__sim_format_id(s->id, s->id_str, true);
    s->state = MM__SIM_SESSION_SEEKING;
    s->app = app;
    s->version = version;
    s->created_ms = mm_now_ms();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->created_unix_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    mm__sim_list_init(&s->in_dep);
    mm__sim_list_init(&s->in_world);
    mm__sim_list_init(&s->in_wait);
    mm__sim_list_append(&w->session_list, &s->in_world);
    mm_sim_xidmap_put(&w->sessions, s->id, s);
    w->live_sessions++;
    w->counters.sessions_created++;
    return s;
}

void
mm__sim_session_start(mm__sim_session *s, uint64_t wanted, bool never_ready)
{
    if (never_ready) {
        mm_debug("session %s will never be placed (injected never_ready)", s->id_str);
        return;
    }
    s->wanted = wanted;
    if (s->world->cfg->seek_delay_ms > 0)
        mm_sim_xtimer_arm(s->world->timers, &s->seek_timer, s->world->cfg->seek_delay_ms, on_seek_done);
    else
        place(s);
}

mm__sim_session *
mm__sim_session_find(mm_sim_world *w, uint64_t id)
{
    return mm_idmap_get(&w->sessions, id);
}

static void
session_free(mm__sim_session *s)
{
    for (uint32_t i = 0; i < s->nips; i++)
        free(s->ips[i]);
    free(s->ips);
    free(s->webhook_url);
    free(s);
}

void
mm__sim_session_delete(mm__sim_session *s)
{
    mm_sim_world *w = s->world;
    mm_timer_heap_cancel(w->timers, &s->seek_timer);
    if (mm__sim_list_linked(&s->in_wait)) {
        mm__sim_list_unlink(&s->in_wait);
        w->capacity_waiting--;
    }
    if (s->dep != NULL)
        seat_release(s);
    mm__sim_list_unlink(&s->in_world);
    mm_idmap_remove(&w->sessions, s->id);
    w->live_sessions--;
    w->counters.sessions_deleted++;
    mm__sim_terminated_add(w, s->id);
    session_free(s);
}

void
mm__sim_destroy_all(mm_sim_world *w)
{
    while (!mm__sim_list_empty(&w->session_list)) {
        mm__sim_session *s = MM__SIM_CONTAINER(w->session_list.next, mm__sim_session, in_world);
        mm_timer_heap_cancel(w->timers, &s->seek_timer);
        mm__sim_list_unlink(&s->in_dep);
        mm__sim_list_unlink(&s->in_world);
        mm__sim_list_unlink(&s->in_wait);
        mm_idmap_remove(&w->sessions, s->id);
        session_free(s);
    }
    while (!mm__sim_list_empty(&w->deployment_list))
        deployment_free(MM__SIM_CONTAINER(w->deployment_list.next, mm__sim_deployment, in_world));
    w->live_sessions = 0;
    w->capacity_waiting = 0;
}
