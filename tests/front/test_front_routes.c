/*
 * The small routes of the web front over real HTTP: the test page at / and /matchmaker,
 * /healthz, /readyz following the backend, /metrics (our counters moving, the backend's lines
 * appended), CORS headers and preflight as the reference's CorsLayer gives them, 404/405, bad
 * WebSocket handshakes, keep-alive.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "front_harness.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000

static void
check_header(const mm_http_resp *r, const char *name, const char *want)
{
    char v[512] = "";
    bool found = mm_http_header(r, name, v, sizeof(v));
    MM_CHECK(found);
    MM_CHECK_STR(v, want);
}

static void
test_page(uint16_t port)
{
    const char *paths[] = {"/", "/matchmaker", "/?client_ip=1.2.3.4"};
    for (size_t i = 0; i < 3; i++) {
        mm_http_resp r;
        MM_REQUIRE(mm_http_get(port, paths[i], &r, T) == 0);
        MM_CHECK_INT(r.status, ==, 200);
        check_header(&r, "content-type", "text/html; charset=utf-8");
        check_header(&r, "access-control-allow-origin", "http://127.0.0.1");
        MM_CHECK(strstr(r.body, "<button id=\"play\"") != NULL);
        MM_CHECK(strstr(r.body, "/matchmaker/ws") != NULL);
        MM_CHECK(strstr(r.body, "value=\"bevygap-spaceships\"") != NULL);
        MM_CHECK(strstr(r.body, "cert_digest") != NULL);
        MM_CHECK(strstr(r.body, "token length") != NULL);
        MM_CHECK(strstr(r.body, "</html>") != NULL);
        char server[64];
        MM_CHECK(!mm_http_header(&r, "server", server, sizeof(server))); /* none, as the reference */
        mm_http_resp_free(&r);
    }
}

static void
test_health(fh *h)
{
    mm_http_resp r;
    MM_REQUIRE(mm_http_get(h->port, "/healthz", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    MM_CHECK_STR(r.body, "ok");
    mm_http_resp_free(&r);
    MM_REQUIRE(mm_http_get(h->port, "/readyz", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    mm_http_resp_free(&r);
    tb_set_ready(h->tb, false);
    MM_REQUIRE(mm_http_get(h->port, "/readyz", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 503);
    mm_http_resp_free(&r);
    tb_set_ready(h->tb, true);
    MM_REQUIRE(mm_http_get(h->port, "/readyz", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    mm_http_resp_free(&r);
}

static void
test_metrics(fh *h)
{
    long long before = fh_metric(h->port, "mm_front_http_requests_total{page=\"healthz\"}");
    long long total0 = fh_metric(h->port, "mm_front_connections_total");
    MM_CHECK_INT(before, >=, 1);
    mm_http_resp r;
    for (int i = 0; i < 3; i++) {
        MM_REQUIRE(mm_http_get(h->port, "/healthz", &r, T) == 0);
        mm_http_resp_free(&r);
    }
    MM_CHECK_INT(fh_metric(h->port, "mm_front_http_requests_total{page=\"healthz\"}"), ==, before + 3);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_connections_total"), >=, total0 + 4);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_connections_open"), >=, 1);

    char texts[8][512];
    int code;
    long long ok0 = fh_metric(h->port, "mm_front_requests_total{route=\"ws\",outcome=\"ok\"}");
    long long hist0 = fh_metric(h->port, "mm_front_request_duration_seconds_count");
    MM_CHECK_INT(fh_ws_session(h->port, NULL, NULL, "{\"game\":\"happy\",\"version\":\"1\"}", texts, 8, &code, T), ==, 5);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_requests_total{route=\"ws\",outcome=\"ok\"}"), ==, ok0 + 1);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_request_duration_seconds_count"), ==, hist0 + 1);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_request_duration_seconds_bucket{le=\"+Inf\"}"), ==, hist0 + 1);
    MM_CHECK_INT(fh_metric(h->port, "tb_backend_submitted"), ==, (long long)tb_submitted(h->tb)); /* the backend's lines */
    MM_CHECK_INT(fh_metric(h->port, "mm_front_relay_queue_depth{loop=\"0\"}"), >=, 0);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_requests_in_progress{loop=\"0\"}"), ==, 0);

    MM_REQUIRE(mm_http_get(h->port, "/metrics", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    check_header(&r, "content-type", "text/plain; version=0.0.4; charset=utf-8");
    MM_CHECK(strstr(r.body, "# TYPE mm_front_request_duration_seconds histogram\n") != NULL);
    MM_CHECK(strstr(r.body, "mm_front_refusals_total{reason=\"first_message_timeout\"} ") != NULL);
    MM_CHECK(r.body_len > 0 && r.body[r.body_len - 1] == '\n');
    mm_http_resp_free(&r);
}

static void
test_cors(uint16_t port)
{
    static const char preflight[] = "OPTIONS /matchmaker/wannaplay HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\n"
                                    "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n"
                                    "Connection: close\r\n\r\n";
    mm_http_resp r;
    MM_REQUIRE(mm_http_raw(port, preflight, sizeof(preflight) - 1, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    check_header(&r, "access-control-allow-origin", "http://127.0.0.1");
    check_header(&r, "access-control-allow-methods", "GET,POST,CONNECT");
    check_header(&r, "access-control-allow-headers", "content-type");
    check_header(&r, "vary", "origin, access-control-request-method, access-control-request-headers");
    MM_CHECK_INT(r.body_len, ==, 0);
    mm_http_resp_free(&r);
    /* simple requests carry the origin too, errors included */
    MM_REQUIRE(mm_http_get(port, "/nope", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 404);
    check_header(&r, "access-control-allow-origin", "http://127.0.0.1");
    mm_http_resp_free(&r);
}

static void
test_errors(uint16_t port)
{
    struct {
        const char *method, *path;
        int status;
    } cases[] = {
        {"POST", "/healthz", 405},
        {"POST", "/", 405},
        {"GET", "/matchmaker/wannaplay", 405},
        {"GET", "/matchmaker/request/game/1", 405},
        {"POST", "/matchmaker/request/game", 404},
        {"POST", "/matchmaker/request/game/1/extra", 404},
        {"GET", "/matchmaker/ws", 400}, /* no upgrade */
        {"POST", "/matchmaker/ws", 405},
        {"GET", "/does/not/exist", 404},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[256];
        int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                         cases[i].method, cases[i].path);
        mm_http_resp r;
        MM_REQUIRE(mm_http_raw(port, req, (size_t)n, &r, T) == 0);
        if (r.status != cases[i].status)
            fprintf(stderr, "%s %s\n", cases[i].method, cases[i].path);
        MM_CHECK_INT(r.status, ==, cases[i].status);
        mm_http_resp_free(&r);
    }
    /* a WebSocket upgrade with the wrong version, or without a key */
    static const char v12[] = "GET /matchmaker/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n";
    mm_http_resp r;
    MM_REQUIRE(mm_http_raw(port, v12, sizeof(v12) - 1, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 426);
    char v[32];
    MM_CHECK(mm_http_header(&r, "sec-websocket-version", v, sizeof(v)) && strcmp(v, "13") == 0);
    mm_http_resp_free(&r);
    static const char nokey[] = "GET /matchmaker/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n";
    MM_REQUIRE(mm_http_raw(port, nokey, sizeof(nokey) - 1, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 400);
    mm_http_resp_free(&r);
    /* garbage instead of HTTP: h2o answers 400 itself */
    static const char junk[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n";
    MM_REQUIRE(mm_http_raw(port, junk, sizeof(junk) - 1, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 400);
    mm_http_resp_free(&r);
}

static void
test_keep_alive(uint16_t port)
{
    static const char two[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    mm_http_resp r;
    MM_REQUIRE(mm_http_raw(port, two, sizeof(two) - 1, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    /* mm_http_raw stops at the first complete answer; the second must follow on the same socket */
    mm_http_resp_free(&r);
    int fd = mm_tcp_connect(port, T);
    MM_REQUIRE(fd >= 0);
    mm_ws_client c = {.fd = fd};
    MM_REQUIRE(mm_ws_send_raw(&c, two, sizeof(two) - 1) == 0);
    char all[4096];
    size_t got = 0;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    while (got < sizeof(all) - 1 && poll(&pf, 1, T) == 1) { /* until the server closes (Connection: close) */
        ssize_t n = read(fd, all + got, sizeof(all) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    all[got] = '\0';
    int answers = 0;
    for (const char *p = all; (p = strstr(p, "HTTP/1.1 200")) != NULL; p++)
        answers++;
    MM_CHECK_INT(answers, ==, 2);
    mm_ws_close(&c);
}

int
main(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--cors", " http://127.0.0.1 ", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    test_page(h.port);
    test_health(&h);
    test_metrics(&h);
    test_cors(h.port);
    test_errors(h.port);
    test_keep_alive(h.port);
    fh_stop(&h, 1000);
    return MM_TEST_DONE();
}
