/*
 * The /v1 operations of edgegap_sim (src/sim/sim_edgegap.h): request validation and answer
 * shapes, field for field as in docs/protocol.md section 7 and Edgegap's OpenAPI models (the Rust client
 * the reference uses deserialises these with serde, so names and JSON types must match exactly).
 *
 * Status codes: 400 malformed JSON, a missing or mistyped field, or an inactive app or version
 * (the reference saw Edgegap answer 400 for a disabled version); 404 unknown app, version,
 * session or deployment; 409 a requested deployment that belongs elsewhere or has no free seat;
 * 410 deleting a session that was already deleted; 422 a well-typed but invalid value (an ip_list
 * entry that is not an address, a webhook_url that is not http(s)); 429 the --max-sessions limit.
 * Every error body is {"message": "..."}. Every JSON document is built with jansson.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "sim_alloc.h"
#include "sim_edgegap_internal.h"

#define MAX_IPS 64
#define MAX_URL 2048

static int error_body(json_t **body, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
error_body(json_t **body, int status, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *body = json_object();
    json_object_set_new(*body, "message", json_string(msg));
    return status;
}

static int
find_app(const mm_sim_world *w, const char *name)
{
    for (size_t i = 0; i < w->cfg->napps; i++)
        if (strcmp(w->cfg->apps[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int
find_version(const mm_sim_app_cfg *app, const char *name)
{
    for (size_t i = 0; i < app->nversions; i++)
        if (strcmp(app->versions[i].name, name) == 0)
            return (int)i;
    return -1;
}

int
mm_sim_api_app_get(mm_sim_world *w, const char *app_name, json_t **body)
{
    int a = find_app(w, app_name);
    if (a < 0)
        return error_body(body, 404, "Application '%.64s' not found", app_name);
    const mm_sim_app_cfg *app = &w->cfg->apps[a];
    *body = json_object();
    json_object_set_new(*body, "name", json_string(app->name));
    json_object_set_new(*body, "is_active", json_boolean(app->is_active));
    json_object_set_new(*body, "is_telemetry_agent_active", json_false());
    json_object_set_new(*body, "image", json_string(""));
    json_object_set_new(*body, "create_time", json_string(w->created_time));
    json_object_set_new(*body, "last_updated", json_string(w->created_time));
    return 200;
}

int
mm_sim_api_version_get(mm_sim_world *w, const char *app_name, const char *version_name, json_t **body)
{
    int a = find_app(w, app_name);
    if (a < 0)
        return error_body(body, 404, "Application '%.64s' not found", app_name);
    int v = find_version(&w->cfg->apps[a], version_name);
    if (v < 0)
        return error_body(body, 404, "Version '%.64s' of application '%.64s' not found", version_name, app_name);
    const mm_sim_version_cfg *ver = &w->cfg->apps[a].versions[v];
    json_t *o = json_object(), *sc = json_object(), *ports = json_array();
    json_object_set_new(o, "name", json_string(ver->name));
    json_object_set_new(o, "is_active", json_boolean(ver->is_active));
    json_object_set_new(o, "docker_repository", json_string("registry.edgegap.com"));
    json_object_set_new(o, "docker_image", json_string(app_name));
    json_object_set_new(o, "docker_tag", json_string(ver->name));
    json_object_set_new(o, "req_cpu", json_integer(256));
    json_object_set_new(o, "req_memory", json_integer(256));
    json_object_set_new(o, "req_video", json_integer(0));
    json_object_set_new(o, "max_duration", json_integer(0));
    json_object_set_new(o, "use_telemetry", json_false());
    json_object_set_new(o, "inject_context_env", json_true());
    json_object_set_new(o, "whitelisting_active", json_false());
    json_object_set_new(o, "force_cache", json_false());
    json_object_set_new(o, "cache_min_hour", json_integer(0));
    json_object_set_new(o, "cache_max_hour", json_integer(0));
    json_object_set_new(o, "time_to_deploy", json_integer(120));
    json_object_set_new(o, "enable_all_locations", json_false());
    json_object_set_new(sc, "kind", json_string("Seat"));
    json_object_set_new(sc, "sockets", json_integer(ver->sockets));
    json_object_set_new(sc, "autodeploy", json_boolean(ver->autodeploy));
    json_object_set_new(sc, "empty_ttl", json_integer(ver->empty_ttl_min));
    json_object_set_new(sc, "session_max_duration", json_integer(60));
    json_object_set_new(o, "session_config", sc);
    for (size_t i = 0; i < ver->nports; i++) {
        json_t *p = json_object();
        json_object_set_new(p, "port", json_integer(ver->ports[i].internal));
        json_object_set_new(p, "protocol", json_string(ver->ports[i].protocol));
        json_object_set_new(p, "to_check", json_boolean(ver->ports[i].to_check));
        json_object_set_new(p, "tls_upgrade", json_boolean(ver->ports[i].tls_upgrade));
        json_object_set_new(p, "name", json_string(ver->ports[i].name));
        json_array_append_new(ports, p);
    }
    json_object_set_new(o, "ports", ports);
    json_object_set_new(o, "probe", json_null());
    json_object_set_new(o, "envs", json_array());
    json_object_set_new(o, "verify_image", json_false());
    json_object_set_new(o, "termination_grace_period_seconds", json_integer(5));
    json_object_set_new(o, "endpoint_storage", json_null());
    json_object_set_new(o, "create_time", json_string(w->created_time));
    json_object_set_new(o, "last_updated", json_string(w->created_time));
    *body = o;
    return 200;
}

/* ---- POST /v1/session ---- */

/* An optional string field: absent and null are both "not given"; any other type is an error. */
static bool
optional_string(const json_t *req, const char *key, const char **out)
{
    const json_t *v = json_object_get(req, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    *out = json_string_value(v);
    return true;
}

static bool
is_ip(const char *text)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, text, buf) == 1 || inet_pton(AF_INET6, text, buf) == 1;
}

/* The ip_list field: NULL *list when absent. Returns 0, or the status of a refusal. */
static int
check_ip_list(const json_t *req, const json_t **list, json_t **body)
{
    const json_t *v = json_object_get(req, "ip_list");
    *list = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return error_body(body, 400, "Input payload validation failed: ip_list must be an array of strings");
    if (json_array_size(v) > MAX_IPS)
        return error_body(body, 422, "ip_list holds %zu addresses, at most %d are accepted", json_array_size(v), MAX_IPS);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *ip = json_array_get(v, i);
        if (!json_is_string(ip))
            return error_body(body, 400, "Input payload validation failed: ip_list[%zu] is not a string", i);
        if (!is_ip(json_string_value(ip)))
            return error_body(body, 422, "ip_list[%zu] '%.64s' is not an IP address", i, json_string_value(ip));
    }
    *list = v;
    return 0;
}

static int
check_webhook(const char *url, json_t **body)
{
    if (url == NULL)
        return 0;
    if (strlen(url) > MAX_URL)
        return error_body(body, 422, "webhook_url is longer than %d characters", MAX_URL);
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return error_body(body, 422, "webhook_url '%.64s' is not an http:// or https:// URL", url);
    for (const char *p = url; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return error_body(body, 422, "webhook_url contains a space or a control character");
    return 0;
}

/* Picks app and version: an explicit version, else the app's first active one. */
static int
pick_version(mm_sim_world *w, const char *app_name, const char *version_name, int *a_out, int *v_out, json_t **body)
{
    int a = find_app(w, app_name);
    if (a < 0)
        return error_body(body, 404, "Application '%.64s' not found", app_name);
    const mm_sim_app_cfg *app = &w->cfg->apps[a];
    if (!app->is_active)
        return error_body(body, 400, "Application '%.64s' is not active", app_name);
    int v = -1;
    if (version_name != NULL) {
        v = find_version(app, version_name);
        if (v < 0)
            return error_body(body, 404, "Version '%.64s' of application '%.64s' not found", version_name, app_name);
        if (!app->versions[v].is_active)
            return error_body(body, 400, "Version '%.64s' of application '%.64s' is not active", version_name, app_name);
    } else {
        for (size_t i = 0; i < app->nversions && v < 0; i++)
            if (app->versions[i].is_active)
                v = (int)i;
        if (v < 0)
            return error_body(body, 400, "Application '%.64s' has no active version", app_name);
    }
    *a_out = a;
    *v_out = v;
    return 0;
}

static int
check_wanted(mm_sim_world *w, const char *request_id, int a, int v, uint64_t *wanted, json_t **body)
{
    *wanted = 0;
    if (request_id == NULL)
        return 0;
    mm__sim_deployment *d = mm__sim_deployment_find(w, request_id);
    if (d == NULL)
        return error_body(body, 404, "Deployment '%.64s' not found", request_id);
    if (d->app != a || d->version != v)
        return error_body(body, 409, "Deployment '%s' runs another app version", d->id_str);
    if (!mm__sim_deployment_joinable(d))
        return error_body(body, 409, "Deployment '%s' has no free seat", d->id_str);
    *wanted = d->id;
    return 0;
}

int
mm_sim_api_session_create(mm_sim_world *w, const char *text, size_t len, json_t **body)
{
    json_error_t jerr;
    json_t *req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *app_name, *version_name, *webhook, *request_id;
    const json_t *ips = NULL;
    int status, a = -1, v = -1;
    uint64_t wanted = 0;
    if (req == NULL)
        return error_body(body, 400, "Malformed JSON body: %s", jerr.text);
    if (!json_is_object(req)) {
        status = error_body(body, 400, "Input payload validation failed: the body must be a JSON object");
        goto cleanup;
    }
    if (!optional_string(req, "app_name", &app_name) || app_name == NULL) {
        status = error_body(body, 400, "Input payload validation failed: 'app_name' is a required string");
        goto cleanup;
    }
    if (!optional_string(req, "version_name", &version_name) || !optional_string(req, "webhook_url", &webhook) ||
        !optional_string(req, "deployment_request_id", &request_id)) {
        status = error_body(body, 400,
                            "Input payload validation failed: version_name, webhook_url and "
                            "deployment_request_id must be strings");
        goto cleanup;
    }
    if ((status = check_ip_list(req, &ips, body)) != 0 || (status = check_webhook(webhook, body)) != 0 ||
        (status = pick_version(w, app_name, version_name, &a, &v, body)) != 0 ||
        (status = check_wanted(w, request_id, a, v, &wanted, body)) != 0)
        goto cleanup;
    if (w->live_sessions >= w->cfg->max_sessions) {
        status =
            error_body(body, 429, "Too many sessions: the simulator holds at most %llu", (unsigned long long)w->cfg->max_sessions);
        goto cleanup;
    }

    mm__sim_session *s = mm__sim_session_new(w, (uint16_t)a, (uint16_t)v);
    s->webhook_url = mm_sim_xstrdup(webhook);
    s->nips = ips != NULL ? (uint32_t)json_array_size(ips) : 0;
    s->ips = mm_sim_xcalloc(s->nips, sizeof(char *));
    for (uint32_t i = 0; i < s->nips; i++)
        s->ips[i] = mm_sim_xstrdup(json_string_value(json_array_get(ips, i)));
    mm__sim_session_start(s, wanted, mm_sim_faults_take(&w->faults, MM_SIM_FAULT_NEVER_READY));

    *body = json_object();
    json_object_set_new(*body, "session_id", json_string(s->id_str));
    json_object_set_new(*body, "custom_id", json_null());
    json_object_set_new(*body, "app", json_string(w->cfg->apps[a].name));
    json_object_set_new(*body, "version", json_string(w->cfg->apps[a].versions[v].name));
    json_object_set_new(*body, "deployment_request_id", s->dep != NULL ? json_string(s->dep->id_str) : json_null());
    json_object_set_new(*body, "webhook_url", webhook != NULL ? json_string(webhook) : json_null());
    status = 200;

cleanup:
    json_decref(req);
    return status;
}

/* ---- GET /v1/session/{id} ---- */

static json_t *
deployment_json(const mm_sim_world *w, const mm__sim_deployment *d)
{
    const mm_sim_version_cfg *ver = &w->cfg->apps[d->app].versions[d->version];
    bool short_form = w->cfg->status_style == MM_SIM_STATUS_SHORT;
    char fqdn[64], link[96];
    snprintf(fqdn, sizeof(fqdn), "%s.pr.edgegap.net", d->id_str);
    json_t *o = json_object(), *ports = json_object(), *loc = json_object();
    json_object_set_new(o, "request_id", json_string(d->id_str));
    json_object_set_new(o, "public_ip", json_string(d->ip_str));
    json_object_set_new(o, "status", json_string(mm__sim_deployment_status(d->state, short_form)));
    json_object_set_new(o, "ready", json_boolean(d->state == MM__SIM_DEP_READY));
    json_object_set_new(o, "whitelisting_active", json_false());
    json_object_set_new(o, "fqdn", json_string(fqdn));
    for (size_t i = 0; i < ver->nports; i++) {
        json_t *p = json_object();
        snprintf(link, sizeof(link), "%s:%u", fqdn, d->ext_ports[i]);
        json_object_set_new(p, "external", json_integer(d->ext_ports[i]));
        json_object_set_new(p, "internal", json_integer(ver->ports[i].internal));
        json_object_set_new(p, "protocol", json_string(ver->ports[i].protocol));
        json_object_set_new(p, "name", json_string(ver->ports[i].name));
        json_object_set_new(p, "tls_upgrade", json_boolean(ver->ports[i].tls_upgrade));
        json_object_set_new(p, "link", json_string(link));
        json_object_set_new(p, "proxy", json_null());
        json_object_set_new(ports, ver->ports[i].name, p);
    }
    json_object_set_new(o, "ports", ports);
    json_object_set_new(loc, "city", json_string("Montreal"));
    json_object_set_new(loc, "country", json_string("Canada"));
    json_object_set_new(loc, "continent", json_string("North America"));
    json_object_set_new(loc, "administrative_division", json_string("Quebec"));
    json_object_set_new(loc, "timezone", json_string("America/Toronto"));
    json_object_set_new(loc, "latitude", json_real(45.5017));
    json_object_set_new(loc, "longitude", json_real(-73.5673));
    json_object_set_new(o, "location", loc);
    json_object_set_new(o, "tags", json_array());
    json_object_set_new(o, "sockets", json_integer(ver->sockets));
    json_object_set_new(o, "sockets_usage", json_integer(d->seats_used));
    json_object_set_new(o, "is_joinable_by_session", json_boolean(mm__sim_deployment_joinable(d)));
    return o;
}

static mm__sim_session *
lookup(mm_sim_world *w, const char *session_id, uint64_t *id)
{
    *id = 0;
    if (!mm__sim_parse_session_id(session_id, id))
        return NULL;
    return mm__sim_session_find(w, *id);
}

int
mm_sim_api_session_get(mm_sim_world *w, const char *session_id, json_t **body)
{
    uint64_t id;
    mm__sim_session *s = lookup(w, session_id, &id);
    if (s == NULL)
        return error_body(body, 404, "Session '%.64s' not found", session_id);
    char created[32];
    mm__sim_format_time(s->created_unix_us, created, sizeof(created));
    json_t *o = json_object(), *ips = json_array();
    json_object_set_new(o, "session_id", json_string(s->id_str));
    json_object_set_new(o, "custom_id", json_null());
    json_object_set_new(o, "status", json_string(mm__sim_session_status(s->state, w->cfg->status_style == MM_SIM_STATUS_SHORT)));
    json_object_set_new(o, "ready", json_boolean(s->state == MM__SIM_SESSION_READY));
    json_object_set_new(o, "linked", json_boolean(s->dep != NULL));
    json_object_set_new(o, "kind", json_string("Seat"));
    json_object_set_new(o, "user_count", json_integer(s->nips));
    json_object_set_new(o, "app_version", json_integer(w->rt[s->app][s->version].app_version_id));
    json_object_set_new(o, "create_time", json_string(created));
    json_object_set_new(o, "elapsed", json_integer((json_int_t)((mm_now_ms() - s->created_ms) / 1000)));
    /* the OpenAPI model (and the Rust client) type "error" as an optional string: null or detail */
    json_object_set_new(o, "error", s->error != NULL ? json_string(s->error) : json_null());
    for (uint32_t i = 0; i < s->nips; i++) {
        json_t *u = json_object();
        json_object_set_new(u, "ip", json_string(s->ips[i]));
        json_object_set_new(u, "latitude", json_null());
        json_object_set_new(u, "longitude", json_null());
        json_array_append_new(ips, u);
    }
    json_object_set_new(o, "session_users", json_null());
    json_object_set_new(o, "session_ips", ips);
    json_object_set_new(o, "deployment", s->dep != NULL ? deployment_json(w, s->dep) : json_null());
    json_object_set_new(o, "webhook_url", s->webhook_url != NULL ? json_string(s->webhook_url) : json_null());
    *body = o;
    return 200;
}

int
mm_sim_api_session_delete(mm_sim_world *w, const char *session_id, json_t **body)
{
    uint64_t id;
    mm__sim_session *s = lookup(w, session_id, &id);
    if (s == NULL) {
        if (id != 0 && mm__sim_terminated_has(w, id))
            return error_body(body, 410, "Session '%.64s' is already terminated", session_id);
        return error_body(body, 404, "Session '%.64s' not found", session_id);
    }
    *body = json_object();
    json_object_set_new(*body, "message", json_string("Session deleted"));
    json_object_set_new(*body, "session_id", json_string(s->id_str));
    json_object_set_new(*body, "custom_id", json_null());
    mm__sim_session_delete(s);
    return 200;
}
