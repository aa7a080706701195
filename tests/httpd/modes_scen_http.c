/*
 * HTTP and process scenarios of test_modes_e2e.c (modes_scenarios.h): every route and method,
 * CORS, the chunked and wannaplay forms of a request, /metrics moving as a request flows,
 * X-Forwarded-For from a trusted proxy and from an untrusted one (what Edgegap sees, read back
 * from the simulator), SIGTERM with a request in flight, and the abandoned session reaped.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "modes_scenarios.h"

#define XFF_CLIENT "203.0.113.77" /* the player's address as a proxy forwards it */

void
mx_routes(mx *x, int index, mr_rec *r)
{
    (void)index;
    MM_CHECK_INT(mr_get(x->port, "/", NULL, MR_BODY_LENGTH, r), ==, 200);
    MM_CHECK_INT(mr_get(x->port, "/matchmaker", NULL, MR_BODY_LENGTH, r), ==, 200);
    MM_CHECK_INT(mr_get(x->port, "/healthz", NULL, MR_BODY_TEXT, r), ==, 200);
    MM_CHECK_INT(mr_get(x->port, "/readyz", NULL, MR_BODY_TEXT, r), ==, 200);
    MM_CHECK_INT(mr_get(x->port, "/metrics", NULL, MR_BODY_SKIP, r), ==, 200);
    MM_CHECK_INT(mr_get(x->port, "/nope", NULL, MR_BODY_TEXT, r), ==, 404);
    MM_CHECK_INT(mr_post(x->port, "/healthz", NULL, MR_BODY_TEXT, r, NULL), ==, 405);
    MM_CHECK_INT(mr_get(x->port, "/matchmaker/wannaplay", NULL, MR_BODY_TEXT, r), ==, 405);
    MM_CHECK_INT(mr_get(x->port, "/matchmaker/request/" MX_APP "/" MX_VERSION, NULL, MR_BODY_TEXT, r), ==, 405);
    MM_CHECK_INT(mr_get(x->port, "/matchmaker/ws", NULL, MR_BODY_TEXT, r), ==, 400);
    MM_CHECK_INT(mr_post(x->port, "/matchmaker/ws", NULL, MR_BODY_TEXT, r, NULL), ==, 405);
    MM_CHECK_INT(mr_get(x->port, "/matchmaker/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n",
                        MR_BODY_TEXT, r),
                 ==, 426);
}

void
mx_cors(mx *x, int index, mr_rec *r)
{
    (void)index;
    static const char preflight[] = "OPTIONS /matchmaker/request/" MX_APP "/" MX_VERSION " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Connection: close\r\nOrigin: " MS_ORIGIN "\r\nAccess-Control-Request-Method: POST\r\n"
                                    "Access-Control-Request-Headers: content-type\r\n\r\n";
    MM_CHECK_INT(mr_http(x->port, "OPTIONS /matchmaker/request/...", preflight, MR_BODY_TEXT, r, NULL), ==, 200);
    static const char preflight_ws[] = "OPTIONS /matchmaker/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                       "Origin: " MS_ORIGIN "\r\nAccess-Control-Request-Method: GET\r\n\r\n";
    MM_CHECK_INT(mr_http(x->port, "OPTIONS /matchmaker/ws", preflight_ws, MR_BODY_TEXT, r, NULL), ==, 200);
    /* one exact origin, as the reference's CorsLayer: every answer names it, whoever asks */
    MM_CHECK_INT(mr_get(x->port, "/healthz", "Origin: " MS_ORIGIN "\r\n", MR_BODY_TEXT, r), ==, 200);
    MM_CHECK_INT(mr_get(x->port, "/readyz", "Origin: http://elsewhere.example\r\n", MR_BODY_TEXT, r), ==, 200);
}

void
mx_chunked(mx *x, int index, mr_rec *r)
{
    char xff[96];
    mx_xff(index, xff, sizeof(xff));
    mr_seen seen = {0};
    MM_CHECK_INT(
        mr_post(x->port, "/matchmaker/request/" MX_APP "/" MX_VERSION "?client_ip=" MX_CLIENT_IP, xff, MR_BODY_STREAM, r, &seen),
        ==, 200);
    mx_check_session(&seen);
}

void
mx_wannaplay(mx *x, int index, mr_rec *r)
{
    char xff[96];
    mx_xff(index, xff, sizeof(xff));
    mr_seen seen = {0};
    MM_CHECK_INT(mr_post(x->port, "/matchmaker/wannaplay?client_ip=" MX_CLIENT_IP, xff, MR_BODY_ANSWER, r, &seen), ==, 200);
    MM_CHECK(seen.ready);
}

/* ---- /metrics ---- */

/* The value of the sample `name` (its whole name with labels); -1 when absent. */
static double
sample(const char *body, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = body; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static char *
scrape(uint16_t port)
{
    mm_http_resp resp;
    bool ok = mm_http_get(port, "/metrics", &resp, MR_WAIT_MS) == 0 && resp.status == 200;
    MM_CHECK(ok);
    char *body = strdup(ok ? resp.body : "");
    mm_http_resp_free(&resp); /* also after a failure: mm_http_raw left nothing to free */
    MM_REQUIRE(body != NULL);
    return body;
}

void
mx_metrics(mx *x, int index, mr_rec *r)
{
    static const char *const moved[] = {
        "mm_front_requests_total{route=\"ws\",outcome=\"ok\"}",
        "mm_front_requests_total{route=\"ws\",outcome=\"error\"}",
        "mm_front_connections_total",
        "mm_front_request_duration_seconds_count",
        "mm_front_request_duration_seconds_bucket{le=\"+Inf\"}",
        "mm_front_http_requests_total{page=\"metrics\"}",
    };
    char xff[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    char *before = scrape(x->port);
    mr_rec quiet = {0}; /* the request's own transcript is another scenario's business */
    mr_seen seen = {0};
    mx_ws_request(x, xff, first, &quiet, &seen);
    mx_check_session(&seen);
    mr_free(&quiet);
    char *after = scrape(x->port);
    for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
        double a = sample(before, moved[i]), b = sample(after, moved[i]);
        MM_CHECK(a >= 0 && b >= 0);
        mr_line(r, "%s %+.0f", moved[i], b - a);
    }
    MM_CHECK_INT(sample(after, "mm_front_requests_total{route=\"ws\",outcome=\"ok\"}") -
                     sample(before, "mm_front_requests_total{route=\"ws\",outcome=\"ok\"}"),
                 ==, 1);
    MM_CHECK(sample(after, "mm_front_request_duration_seconds_sum") > sample(before, "mm_front_request_duration_seconds_sum"));
    mr_line(r, "mm_front_requests_in_progress{loop=\"0\"} %.0f", sample(after, "mm_front_requests_in_progress{loop=\"0\"}"));
    /* the backend's own lines follow: the bridge's in the split mode, the direct backend's in one process */
    const char *backend = strstr(after, "mm_bridge_submitted_total") != NULL ? "mm_bridge_submitted_total"
                                                                             : "mm_direct_requests_total{outcome=\"submitted\"}";
    MM_CHECK_INT(sample(after, backend) - sample(before, backend), ==, 1);
    free(before);
    free(after);
}

void
mx_counts(mx *x, int index, mr_rec *r)
{
    (void)index;
    /* every request and refusal so far, as this front process counted them: the same scenarios
     * give the same numbers in both modes (pages are left out: how many of the stalled peer's
     * pipelined pages were served depends on socket buffers) */
    char *now = scrape(x->port);
    for (const char *p = now; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
        if (strncmp(p, "mm_front_requests_total{", 24) == 0 || strncmp(p, "mm_front_refusals_total{", 24) == 0)
            mr_line(r, "%.*s", (int)strcspn(p, "\n"), p);
    MM_CHECK(sample(now, "mm_front_refusals_total{reason=\"rate\"}") > 0);
    free(now);
}

/* ---- who the client is ---- */

/* A whole session with one X-Forwarded-For header of this value (mx_forwarded_session). */
static void
forwarded_session(mx *x, const char *xff_value, mr_rec *r)
{
    char headers[160], label[180];
    snprintf(headers, sizeof(headers), "X-Forwarded-For: %s\r\n", xff_value);
    snprintf(label, sizeof(label), "X-Forwarded-For: %s", xff_value);
    mx_forwarded_session(x, label, headers, r);
}

void
mx_xff_trusted(mx *x, int index, mr_rec *r)
{
    (void)index;
    forwarded_session(x, XFF_CLIENT ", 10.1.2.3", r); /* 10.1.2.3 is a trusted proxy: the walk from the right yields the player */
}

void
mx_xff_untrusted(mx *x, int index, mr_rec *r)
{
    (void)index;
    /* --trusted-proxy none: the header is ignored (even a malformed one); the peer is loopback,
     * which becomes --fake-ip */
    forwarded_session(x, XFF_CLIENT ", 10.1.2.3", r);
    forwarded_session(x, "not-an-address", r);
}

/* ---- stopping and cleaning up ---- */

void
mx_drain(mx *x, int index, mr_rec *r)
{
    char xff[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    /* every poll of the session takes a while, so the request is in flight when the signal comes */
    MM_REQUIRE(ms_sim_faults(x->st, "{\"session_get\":{\"latency_ms\":700}}"));
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(c != NULL);
    mr_seen seen = {0};
    mr_line(r, "ws send %s", first);
    MM_REQUIRE(mr_ws_open(c, x->port, xff, r));
    MM_CHECK(mm_ws_send_text(c, first) == 0);
    MM_CHECK(mr_ws_next(c, r, &seen)); /* Acknowledged */
    MM_CHECK(mr_ws_next(c, r, &seen)); /* SessionRequestAccepted */
    mr_line(r, "SIGTERM to the front's process");
    MM_REQUIRE(kill(ms_front_pid(x->st), SIGTERM) == 0);
    mr_ws_collect(c, r, &seen);
    free(c);
    mx_check_session(&seen);
    int st = ms_front_wait_exit(x->st, 20000);
    MM_CHECK_INT(st, ==, 0);
    mr_line(r, "exit status %d", st);
    MM_CHECK(ms_sim_faults(x->st, "{\"session_get\":{}}"));
}

void
mx_abandoned_reaped(mx *x, int index, mr_rec *r)
{
    (void)index;
    MM_REQUIRE(x->abandoned[0] != '\0');
    bool deleted = ms_wait_deleted(x->st, x->abandoned, MS_REAP_AFTER_MS + 30000);
    MM_CHECK(deleted);
    mr_line(r, "the abandoned request's session: %s", deleted ? "deleted at the simulator" : "still live");
    long live = -1;
    bool empty = ms_wait_sim_empty(x->st, MS_REAP_AFTER_MS + 30000, &live);
    MM_CHECK(empty);
    mr_line(r, "live sessions at the simulator: %ld", live);
}
