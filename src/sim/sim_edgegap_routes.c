/*
 * Request handling of edgegap_sim's server (src/sim/sim_edgegap_server_internal.h): routing,
 * the authorization check, the rate limit of the caller's key, the fault decision for each /v1
 * request, and the JSON answers. Answers that come late or never are handed to
 * sim_edgegap_pending.c. Order for a /v1 request: counted, authorized (401 at once), a latency
 * drawn (--latency-ms), the key's bucket for the endpoint class (429 after that latency), then
 * faults (their latency_ms adds to the drawn one). With no launch flag set, nothing is drawn and
 * no bucket is looked at.
 *
 * Paths are matched on the raw request path: the query string is ignored, leading doubled
 * slashes are folded (the reference Rust client sends "//v1/..."), and each path parameter is
 * percent-decoded (that client encodes them).
 */
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "sim_edgegap_server_internal.h"

#define MAX_SEGMENTS 6

struct handler {
    h2o_handler_t super;
    mm_sim_server *srv;
};

static const char *
reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    default:
        return "Service Unavailable";
    }
}

/* Sends body (a reference this function releases) as the JSON answer. */
void
mm__sim_respond_json(h2o_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(body);
    size_t len = strlen(text);
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_send_inline(req, text, len);
    free(text);
}

void
mm__sim_respond_retry(h2o_req_t *req, int status, const char *message, uint32_t retry_after_s)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%u", retry_after_s);
    h2o_iovec_t v = h2o_strdup(&req->pool, text, (size_t)n);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v.base, v.len);
    mm__sim_respond_message(req, status, message);
}

void
mm__sim_respond_message(h2o_req_t *req, int status, const char *message)
{
    json_t *body = json_object();
    json_object_set_new(body, "message", json_string(message));
    mm__sim_respond_json(req, status, body);
}

/* ---- routing ---- */

static int
hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes one path segment into the pool; false on a broken escape or a NUL byte. */
static bool
decode_segment(h2o_mem_pool_t *pool, const char *s, size_t n, const char **out)
{
    char *d = h2o_mem_alloc_pool(pool, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[k++] = s[i];
            continue;
        }
        int hi = i + 1 < n ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        d[k++] = (char)(hi << 4 | lo);
        i += 2;
    }
    d[k] = '\0';
    *out = d;
    return true;
}

static bool
seg_is(h2o_iovec_t seg, const char *lit)
{
    return h2o_memis(seg.base, seg.len, lit, strlen(lit));
}

static bool
method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* Fills r from the request line; returns 0, 404 (no such path) or 405 (wrong method). */
static int
parse_route(h2o_req_t *req, mm__sim_route *r)
{
    const char *p = req->path.base;
    size_t len = req->path.len;
    const char *q = memchr(p, '?', len);
    if (q != NULL)
        len = (size_t)(q - p);
    /* the reference Rust client joins a base URL ending in '/' with "/v1/...": "//v1/..." */
    while (len >= 2 && p[0] == '/' && p[1] == '/') {
        p++;
        len--;
    }
    if (len == 0 || p[0] != '/')
        return 404;
    h2o_iovec_t seg[MAX_SEGMENTS];
    size_t nseg = 0, start = 1;
    for (size_t i = 1; i <= len; i++)
        if (i == len || p[i] == '/') {
            if (nseg == MAX_SEGMENTS)
                return 404;
            seg[nseg++] = h2o_iovec_init(p + start, i - start);
            start = i + 1;
        }
    memset(r, 0, sizeof(*r));
    bool get = method_is(req, "GET"), post = method_is(req, "POST"), del = method_is(req, "DELETE");
    if (nseg >= 2 && seg_is(seg[0], "v1") && seg_is(seg[1], "app") && (nseg == 3 || nseg == 5)) {
        if (seg[2].len == 0 || !decode_segment(&req->pool, seg[2].base, seg[2].len, &r->a))
            return 404;
        if (nseg == 5 &&
            (!seg_is(seg[3], "version") || seg[4].len == 0 || !decode_segment(&req->pool, seg[4].base, seg[4].len, &r->b)))
            return 404;
        r->kind = nseg == 3 ? MM__SIM_RT_APP : MM__SIM_RT_VERSION;
        return get ? 0 : 405;
    }
    if (nseg == 2 && seg_is(seg[0], "v1") && seg_is(seg[1], "session")) {
        r->kind = MM__SIM_RT_SESSION_CREATE;
        return post ? 0 : 405;
    }
    if (nseg == 3 && seg_is(seg[0], "v1") && seg_is(seg[1], "session") && seg[2].len > 0) {
        if (!decode_segment(&req->pool, seg[2].base, seg[2].len, &r->a))
            return 404;
        r->kind = del ? MM__SIM_RT_SESSION_DELETE : MM__SIM_RT_SESSION_GET;
        return get || del ? 0 : 405;
    }
    if (nseg == 2 && seg_is(seg[0], "__sim")) {
        if (seg_is(seg[1], "stats") || seg_is(seg[1], "deployments")) {
            r->kind = seg_is(seg[1], "stats") ? MM__SIM_RT_SIM_STATS : MM__SIM_RT_SIM_DEPLOYMENTS;
            return get ? 0 : 405;
        }
        if (seg_is(seg[1], "reset")) {
            r->kind = MM__SIM_RT_SIM_RESET;
            return post ? 0 : 405;
        }
        if (seg_is(seg[1], "faults")) {
            r->kind = post ? MM__SIM_RT_SIM_FAULTS_SET : MM__SIM_RT_SIM_FAULTS_GET;
            return get || post ? 0 : 405;
        }
    }
    return 404;
}

static mm_sim_endpoint
endpoint_of(mm__sim_route_kind kind)
{
    switch (kind) {
    case MM__SIM_RT_APP:
        return MM_SIM_EP_APP;
    case MM__SIM_RT_VERSION:
        return MM_SIM_EP_VERSION;
    case MM__SIM_RT_SESSION_CREATE:
        return MM_SIM_EP_SESSION_CREATE;
    case MM__SIM_RT_SESSION_GET:
        return MM_SIM_EP_SESSION_GET;
    case MM__SIM_RT_SESSION_DELETE:
        return MM_SIM_EP_SESSION_DELETE;
    default:
        return MM_SIM_EP_COUNT;
    }
}

/* ---- serving ---- */

void
mm__sim_serve_v1(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *r)
{
    json_t *body = NULL;
    int status;
    switch (r->kind) {
    case MM__SIM_RT_APP:
        status = mm_sim_api_app_get(srv->world, r->a, &body);
        break;
    case MM__SIM_RT_VERSION:
        status = mm_sim_api_version_get(srv->world, r->a, r->b, &body);
        break;
    case MM__SIM_RT_SESSION_CREATE:
        status = mm_sim_api_session_create(srv->world, req->entity.base != NULL ? req->entity.base : "", req->entity.len, &body);
        break;
    case MM__SIM_RT_SESSION_GET:
        status = mm_sim_api_session_get(srv->world, r->a, &body);
        break;
    default:
        status = mm_sim_api_session_delete(srv->world, r->a, &body);
        break;
    }
    mm__sim_respond_json(req, status, body);
}

static void
serve_sim(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *r)
{
    json_t *body;
    char why[300];
    switch (r->kind) {
    case MM__SIM_RT_SIM_STATS:
        body = mm_sim_world_stats(srv->world);
        json_object_set_new(body, "http_connections", json_integer((json_int_t)srv->nconns));
        json_object_set_new(body, "requests_waiting", json_integer((json_int_t)srv->nwaiting));
        json_object_set_new(body, "requests_hanging", json_integer((json_int_t)srv->nhanging));
        mm__sim_respond_json(req, 200, body);
        return;
    case MM__SIM_RT_SIM_DEPLOYMENTS:
        mm__sim_respond_json(req, 200, mm_sim_world_deployments(srv->world));
        return;
    case MM__SIM_RT_SIM_RESET:
        mm_sim_world_reset(srv->world);
        mm_sim_webhook_reset_counts(srv->webhook);
        mm_info("reset: sessions, deployments, counters and faults cleared");
        mm__sim_respond_message(req, 200, "edgegap_sim reset");
        return;
    case MM__SIM_RT_SIM_FAULTS_GET:
        mm__sim_respond_json(req, 200, mm_sim_faults_to_json(mm_sim_world_faults(srv->world)));
        return;
    default: {
        json_error_t jerr;
        json_t *doc = json_loadb(req->entity.base != NULL ? req->entity.base : "", req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
        if (doc == NULL) {
            snprintf(why, sizeof(why), "Malformed JSON body: %s", jerr.text);
            mm__sim_respond_message(req, 400, why);
            return;
        }
        mm_err err = mm_sim_faults_apply_json(mm_sim_world_faults(srv->world), doc, why, sizeof(why));
        json_decref(doc);
        if (err != MM_OK) {
            mm__sim_respond_message(req, 400, why);
            return;
        }
        mm_info("faults changed at run time");
        mm__sim_respond_json(req, 200, mm_sim_faults_to_json(mm_sim_world_faults(srv->world)));
        return;
    }
    }
}

static bool
key_matches(h2o_iovec_t v, const char *key)
{
    size_t n = strlen(key);
    unsigned char diff = v.len != n;
    for (size_t k = 0; k < v.len && k < n; k++) /* no early exit: the key is a secret */
        diff |= (unsigned char)(v.base[k] ^ key[k]);
    return diff == 0;
}

/* Returns NULL when authorized (*key: which accepted key, 0 = the first), else the refusal's message. */
static const char *
check_auth(mm_sim_server *srv, h2o_req_t *req, size_t *key)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return "Unauthorized: the authorization header is missing";
    h2o_iovec_t v = req->headers.entries[i].value;
    *key = 0;
    if (key_matches(v, srv->cfg->api_key))
        return NULL;
    for (size_t k = 0; k < srv->cfg->nmore_keys; k++)
        if (key_matches(v, srv->cfg->more_keys[k])) {
            *key = k + 1;
            return NULL;
        }
    return "Unauthorized: invalid API token";
}

/* Answers 429 for an empty bucket (after the drawn latency, if any). */
static void
refuse_rate(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *r, mm_sim_endpoint ep, uint64_t latency,
            uint32_t retry_after_s)
{
    mm_sim_rate_class cls = mm_sim_rate_class_of(ep);
    const mm_sim_rate_cfg *rc = &srv->cfg->launch.rate[cls];
    char msg[200];
    snprintf(msg, sizeof(msg), "Too Many Requests: this API token's %s requests are limited to %g per second (burst %u)",
             mm_sim_rate_class_name(cls), rc->rate, rc->burst);
    if (latency > 0)
        mm__sim_pending_delay(srv, req, r, latency, 429, msg, retry_after_s);
    else
        mm__sim_respond_retry(req, 429, msg, retry_after_s);
}

/* ---- the request handler ---- */

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    mm_sim_server *srv = ((struct handler *)self)->srv;
    mm__sim_route r;
    int st = parse_route(req, &r);
    if (st != 0) {
        mm__sim_respond_message(req, st, st == 404 ? "Not Found" : "Method Not Allowed");
        return 0;
    }
    mm_sim_endpoint ep = endpoint_of(r.kind);
    if (ep == MM_SIM_EP_COUNT) {
        serve_sim(srv, req, &r);
        return 0;
    }
    mm_sim_world_count_request(srv->world, ep);
    size_t key = 0;
    const char *refusal = check_auth(srv, req, &key);
    if (refusal != NULL) {
        mm_sim_world_count_unauthorized(srv->world);
        mm__sim_respond_message(req, 401, refusal);
        return 0;
    }
    uint64_t drawn = mm_sim_world_draw_latency(srv->world), latency = 0;
    uint32_t retry_after = 0;
    if (!mm_sim_world_rate_take(srv->world, key, ep, &retry_after)) {
        refuse_rate(srv, req, &r, ep, drawn, retry_after);
        return 0;
    }
    int status = 0;
    const char *message = NULL;
    mm_sim_fault_action act = mm_sim_faults_decide(mm_sim_world_faults(srv->world), ep, &latency, &status, &message);
    latency += drawn;
    if (act == MM_SIM_ACT_HANG)
        mm__sim_pending_hang(srv, req, &r);
    else if (latency > 0)
        mm__sim_pending_delay(srv, req, &r, latency, act == MM_SIM_ACT_ERROR ? status : 0, message, 0);
    else if (act == MM_SIM_ACT_ERROR)
        mm__sim_respond_message(req, status, message);
    else
        mm__sim_serve_v1(srv, req, &r);
    return 0;
}

void
mm__sim_routes_register(mm_sim_server *srv, h2o_pathconf_t *pathconf)
{
    struct handler *h = (struct handler *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
}
