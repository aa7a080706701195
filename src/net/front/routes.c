/*
 * The web front's one h2o handler: routing, CORS, and the small pages (docs/protocol.md section 2):
 *
 *   OPTIONS (any path)                         CORS preflight, 200
 *   GET /, GET /matchmaker                     the test page (page.html, embedded at build time)
 *   GET /healthz                               200 "ok" while the process runs
 *   GET /readyz                                200 when the backend can serve, else 503 (and
 *                                              503 from the moment a stop begins)
 *   GET /metrics                               Prometheus text (metrics.c)
 *   /matchmaker/ws                             WebSocket (ws.c)
 *   POST /matchmaker/request/{game}/{version}  chunked stream (stream.c)
 *   POST /matchmaker/wannaplay                 one answer (stream.c)
 *   POST /matchmaker/edgegap-webhook/<secret>  Edgegap's session webhook (webhook.c): 204, or
 *                                              the 404 of any unknown path when the secret is wrong
 *
 * Before any route, a request whose body length is ambiguous (framing.c) gets 400 and the
 * connection is closed.
 *
 * The admin listener (--admin-bind) has a host of its own whose handler serves only /healthz,
 * /readyz and /metrics (anything else: 404).
 *
 * CORS copies the reference's tower-http CorsLayer with one exact origin: every response
 * carries Access-Control-Allow-Origin: <origin> and the Vary headers; any OPTIONS request is a
 * preflight answered 200 with the allowed methods (GET,POST,CONNECT as the reference lists
 * them) and, unlike the reference, Content-Type as an allowed header so that a browser may POST
 * JSON from that origin.
 */
#include <string.h>

#include "front_internal.h"
#include "page_html.h"

#define METRICS_MAX (128u * 1024)

typedef struct handler {
    h2o_handler_t super;
    mm_front *front;
    bool admin; /* the admin listener's: the probes and /metrics only */
} handler;

static const char *
reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

void
mm__front_cors(mm_front *front, h2o_req_t *req)
{
    const char *origin = front->cfg.cors_origin;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-origin"), 0, NULL, origin,
                          strlen(origin));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL,
                   H2O_STRLIT("origin, access-control-request-method, access-control-request-headers"));
}

void
mm__front_respond(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len, bool close)
{
    mm_front *front = mm__front_loop_of(req->conn->ctx)->front;
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len;
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    mm__front_cors(front, req);
    if (close)
        req->http1_is_persistent = 0;
    h2o_send_inline(req, body, len);
}

static void
preflight(mm_front *front, h2o_req_t *req)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"), 0, NULL,
                          H2O_STRLIT("GET,POST,CONNECT"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"), 0, NULL,
                          H2O_STRLIT("content-type"));
    mm__front_count_page(front, MM__PG_PREFLIGHT);
    mm__front_respond(req, 200, NULL, "", 0, false);
}

static bool
path_is(h2o_iovec_t path, const char *lit)
{
    return h2o_memis(path.base, path.len, lit, strlen(lit));
}

/* A path segment as a C string for the name check: h2o's normalised path is percent-decoded,
 * so a NUL byte could hide the rest of a name; it becomes '?', which no name may hold. One byte
 * past the length limit is enough for the check to say "too long". */
static const char *
copy_name(h2o_mem_pool_t *pool, const char *s, size_t n)
{
    if (n > MM_NAME_MAX_LEN + 1)
        n = MM_NAME_MAX_LEN + 1;
    char *out = h2o_strdup(pool, s, n).base;
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\0')
            out[i] = '?';
    return out;
}

/* Splits "/matchmaker/request/{game}/{version}". */
static bool
request_path(h2o_mem_pool_t *pool, h2o_iovec_t path, const char **game, const char **version)
{
    static const char prefix[] = "/matchmaker/request/";
    if (path.len <= sizeof(prefix) - 1 || memcmp(path.base, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *rest = path.base + sizeof(prefix) - 1;
    size_t n = path.len - (sizeof(prefix) - 1);
    const char *slash = memchr(rest, '/', n);
    if (slash == NULL || memchr(slash + 1, '/', n - (size_t)(slash + 1 - rest)) != NULL)
        return false;
    size_t glen = (size_t)(slash - rest), vlen = n - glen - 1;
    if (glen == 0 || vlen == 0)
        return false;
    *game = copy_name(pool, rest, glen);
    *version = copy_name(pool, slash + 1, vlen);
    return true;
}

static void
simple_page(mm_front *front, h2o_req_t *req, mm__page page)
{
    mm__front_count_page(front, page);
    switch (page) {
    case MM__PG_PAGE:
        mm__front_respond(req, 200, "text/html; charset=utf-8", (const char *)mm__front_page_html, mm__front_page_html_len, false);
        break;
    case MM__PG_HEALTHZ:
        mm__front_respond(req, 200, "text/plain; charset=utf-8", H2O_STRLIT("ok"), false);
        break;
    case MM__PG_READYZ:
        if (atomic_load(&front->stopping)) /* draining: a load balancer should send no one new */
            mm__front_respond(req, 503, "text/plain; charset=utf-8", H2O_STRLIT("stopping"), false);
        else if (front->backend.ready == NULL || front->backend.ready(front->backend.ctx))
            mm__front_respond(req, 200, "text/plain; charset=utf-8", H2O_STRLIT("ready"), false);
        else
            mm__front_respond(req, 503, "text/plain; charset=utf-8", H2O_STRLIT("not ready"), false);
        break;
    case MM__PG_METRICS: {
        char *buf = h2o_mem_alloc_pool(&req->pool, METRICS_MAX);
        size_t len = mm__front_metrics_render(front, buf, METRICS_MAX);
        mm__front_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len, false);
        break;
    }
    default:
        mm__front_respond(req, 404, "text/plain; charset=utf-8", H2O_STRLIT("not found"), false);
        break;
    }
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    mm_front *front = ((handler *)self)->front;
    mm__front_loop *loop = mm__front_loop_of(req->conn->ctx);
    h2o_iovec_t path = req->path_normalized;
    bool get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    bool post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    const char *game, *version;
    char why[96];
    if (!mm__front_framing_ok(req, why, sizeof(why))) {
        /* request smuggling: answer, then close before the rest of the connection is read */
        mm__front_respond(req, 400, "text/plain; charset=utf-8", why, strlen(why), true);
        return 0;
    }
    if (((handler *)self)->admin) {
        mm__page page = path_is(path, "/healthz")   ? MM__PG_HEALTHZ
                        : path_is(path, "/readyz")  ? MM__PG_READYZ
                        : path_is(path, "/metrics") ? MM__PG_METRICS
                                                    : MM__PG_NOT_FOUND;
        if (page == MM__PG_NOT_FOUND || get)
            simple_page(front, req, page);
        else
            mm__front_respond(req, 405, "text/plain; charset=utf-8", H2O_STRLIT("method not allowed"), false);
        return 0;
    }
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
        preflight(front, req);
        return 0;
    }
    mm__page page = MM__PG_NOT_FOUND;
    if (path_is(path, "/") || path_is(path, "/matchmaker"))
        page = MM__PG_PAGE;
    else if (path_is(path, "/healthz"))
        page = MM__PG_HEALTHZ;
    else if (path_is(path, "/readyz"))
        page = MM__PG_READYZ;
    else if (path_is(path, "/metrics"))
        page = MM__PG_METRICS;
    if (page != MM__PG_NOT_FOUND) {
        if (get)
            simple_page(front, req, page);
        else
            mm__front_respond(req, 405, "text/plain; charset=utf-8", H2O_STRLIT("method not allowed"), false);
    } else if (path_is(path, "/matchmaker/ws")) {
        mm__front_ws_handle(loop, req);
    } else if (path_is(path, "/matchmaker/wannaplay")) {
        if (post)
            mm__front_wannaplay_handle(loop, req);
        else
            mm__front_respond(req, 405, "text/plain; charset=utf-8", H2O_STRLIT("method not allowed"), false);
    } else if (request_path(&req->pool, path, &game, &version)) {
        if (post)
            mm__front_chunked_handle(loop, req, game, version);
        else
            mm__front_respond(req, 405, "text/plain; charset=utf-8", H2O_STRLIT("method not allowed"), false);
    } else if (mm__front_webhook_prefixed(path)) {
        mm__front_webhook_handle(front, req, post);
    } else {
        simple_page(front, req, MM__PG_NOT_FOUND);
    }
    return 0;
}

void
mm__front_routes_register(mm_front *front, h2o_hostconf_t *host, bool admin)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    handler *h = (handler *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_req = on_req;
    h->front = front;
    h->admin = admin;
}
