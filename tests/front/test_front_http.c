/*
 * The HTTP forms of a session request: POST /matchmaker/request/{game}/{version} (one chunk per
 * message, each ended by a newline) and POST /matchmaker/wannaplay (one answer, the reference's
 * statuses); client IP resolution (query override, X-Forwarded-For from trusted and untrusted
 * peers, --no-client-ip-override, malformed addresses); oversized and broken bodies; the
 * whole-request timeout; a client that leaves a silent request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_harness.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000

static const char happy_body[] =
    "\"Acknowledged\"\n{\"SessionRequestAccepted\":\"950dd2eaff09-S\"}\n{\"ProgressReport\":\"Status.SEEKING (0)\"}\n"
    "{\"ProgressReport\":\"Status.READY (1)\"}\n"
    "{\"SessionReady\":{\"token\":\"AAAA\",\"ip\":\"172.104.236.32\",\"port\":30004,\"cert_digest\":\"e3:76:aa\"}}\n";

static void
check_header(const mm_http_resp *r, const char *name, const char *want)
{
    char v[256] = "";
    MM_CHECK(mm_http_header(r, name, v, sizeof(v)));
    MM_CHECK_STR(v, want);
}

static const char *
last_ip(fh *h)
{
    static tb_record rec;
    if (!tb_request(h->tb, tb_submitted(h->tb) - 1, &rec))
        return "(none)";
    return rec.req.client_ip;
}

static void
test_chunked(fh *h)
{
    mm_http_resp r;
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/request/happy/1", NULL, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    check_header(&r, "content-type", "application/json");
    check_header(&r, "transfer-encoding", "chunked");
    check_header(&r, "access-control-allow-origin", "http://localhost:8000");
    MM_CHECK_STR(r.body, happy_body);
    MM_CHECK_INT(r.chunks, ==, 5); /* one chunk per message */
    mm_http_resp_free(&r);
    tb_record rec;
    MM_REQUIRE(tb_request(h->tb, tb_submitted(h->tb) - 1, &rec));
    MM_CHECK_INT(rec.route, ==, MM_FRONT_CHUNKED);
    MM_CHECK_STR(rec.req.game, "happy");
    MM_CHECK_STR(rec.req.version, "1");
    MM_CHECK_STR(rec.req.client_ip, "81.128.157.100");

    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/request/error/v2", NULL, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    MM_CHECK_STR(r.body, "\"Acknowledged\"\n{\"Error\":[500,\"the test backend failed\"]}\n");
    mm_http_resp_free(&r);

    struct {
        const char *path, *reason;
        int status;
    } bad[] = {
        {"/matchmaker/request/bad%20name/1", "Game name invalid", 400},
        {"/matchmaker/request/happy%00x/1", "Game name invalid", 400}, /* h2o decodes %00 */
        {"/matchmaker/request/happy/1%00", "Game version invalid", 400},
        {"/matchmaker/request/game/v.1", "Game version invalid", 400},
        {"/matchmaker/request/abcdefghijabcdefghijabcdefghijX/1", "Game name too long (max 30 chars)", 400},
        {"/matchmaker/request/g/abcdefghijabcdefghijabcdefghijabcdefghij", "Game version too long (max 30 chars)", 400},
        {"/matchmaker/request/busy/1", "the matchmaker is busy, try again", 503},
        {"/matchmaker/request/happy/1?client_ip=not-an-ip", "client_ip is not an IPv4 or IPv6 address", 400},
        {"/matchmaker/request/happy/1?client_ip=%zz", "client_ip is not an IPv4 or IPv6 address", 400},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        MM_REQUIRE(mm_http_post(h->port, bad[i].path, NULL, NULL, &r, T) == 0);
        MM_CHECK_INT(r.status, ==, bad[i].status);
        MM_CHECK_STR(r.body, bad[i].reason);
        mm_http_resp_free(&r);
    }
}

static void
test_wannaplay(fh *h)
{
    mm_http_resp r;
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay", NULL, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    check_header(&r, "content-type", "text/json");
    MM_CHECK_STR(r.body,
                 "{\"connect_token\":\"AAAA\",\"gameserver_ip\":\"172.104.236.32\",\"gameserver_port\":30004,\"cert_digest\":\"e3:76:aa\"}");
    mm_http_resp_free(&r);
    tb_record rec;
    MM_REQUIRE(tb_request(h->tb, tb_submitted(h->tb) - 1, &rec));
    MM_CHECK_INT(rec.route, ==, MM_FRONT_WANNAPLAY);
    MM_CHECK_STR(rec.req.game, "");
    MM_CHECK_STR(rec.req.client_ip, "81.128.157.100");

    tb_set_wannaplay_script(h->tb, "conflict");
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay?client_ip=2001:db8::7", NULL, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 409);
    MM_CHECK_STR(r.body, "no seats");
    MM_CHECK_STR(last_ip(h), "2001:db8::7");
    mm_http_resp_free(&r);

    tb_set_wannaplay_script(h->tb, "error");
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay", NULL, "{\"ignored\":true}", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 500);
    MM_CHECK_STR(r.body, "the test backend failed");
    mm_http_resp_free(&r);

    tb_set_wannaplay_script(h->tb, "busy");
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay", NULL, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 503);
    mm_http_resp_free(&r);

    tb_set_wannaplay_script(h->tb, "sync");
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay", NULL, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 503);
    MM_CHECK_STR(r.body, "no responders");
    mm_http_resp_free(&r);

    /* the whole-request timeout (300 ms here): 408 as the reference answers a NATS timeout */
    tb_set_wannaplay_script(h->tb, "never");
    long long t0 = fh_metric(h->port, "mm_front_requests_total{route=\"wannaplay\",outcome=\"timeout\"}");
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay", NULL, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 408);
    MM_CHECK_STR(r.body, "Request timeout");
    mm_http_resp_free(&r);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_requests_total{route=\"wannaplay\",outcome=\"timeout\"}"), ==, t0 + 1);
    MM_REQUIRE(tb_wait_held(h->tb, 1, T));
    MM_CHECK_INT(tb_release(h->tb), ==, 1); /* its late end is dropped */
    tb_set_wannaplay_script(h->tb, "happy");
}

static void
test_client_ip(fh *h)
{
    mm_http_resp r;
    struct {
        const char *query, *xff, *want;
    } cases[] = {
        {"", "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n", "203.0.113.7"},
        {"", "X-Forwarded-For:  2001:DB8::1 \r\n", "2001:db8::1"},
        {"", "X-Forwarded-For: 127.0.0.1\r\n", "81.128.157.100"},
        {"?client_ip=198.51.100.9", "X-Forwarded-For: 203.0.113.7\r\n", "198.51.100.9"},
        {"?client_ip=", "", "81.128.157.100"},
        {"?x=1&client_ip=198.51.100.10&y", "", "198.51.100.10"},
        {"?client_ip=%3A%3A1", "", "81.128.157.100"}, /* ::1 percent-encoded, then loopback */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/matchmaker/request/happy/1%s", cases[i].query);
        MM_REQUIRE(mm_http_post(h->port, path, cases[i].xff, NULL, &r, T) == 0);
        MM_CHECK_INT(r.status, ==, 200);
        MM_CHECK_STR(last_ip(h), cases[i].want);
        mm_http_resp_free(&r);
    }
    /* the forms appending proxies write are accepted; the rightmost untrusted address counts */
    const struct {
        const char *xff, *want;
    } forms[] = {
        {"X-Forwarded-For: 1.2.3.4:5678\r\n", "1.2.3.4"},
        {"X-Forwarded-For: [2001:db8::7]:443\r\n", "2001:db8::7"},
        {"X-Forwarded-For: 198.51.100.66, 203.0.113.7\r\n", "203.0.113.7"}, /* a spoofed first entry */
        {"X-Forwarded-For: 198.51.100.66\r\nX-Forwarded-For: 203.0.113.8, 10.0.0.1\r\n", "203.0.113.8"},
        {"X-Forwarded-For: 203.0.113.9, unknown\r\n", "81.128.157.100"}, /* the walk ends at the peer */
        {"X-Forwarded-For: garbage\r\n", "81.128.157.100"},
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay", forms[i].xff, NULL, &r, T) == 0);
        MM_CHECK_INT(r.status, ==, 200);
        MM_CHECK_STR(last_ip(h), forms[i].want);
        mm_http_resp_free(&r);
    }
    /* a long chain (600 entries, ~7 KB, within h2o's header limits) through a real socket */
    char *big = malloc(600 * 16 + 64);
    MM_REQUIRE(big != NULL);
    size_t len = (size_t)sprintf(big, "X-Forwarded-For: ");
    for (int i = 0; i < 600; i++)
        len += (size_t)sprintf(big + len, "%s%d.%d.%d.1", i ? "," : "", i == 300 ? 203 : 10, i / 250, i % 250);
    sprintf(big + len, "\r\n");
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay", big, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    MM_CHECK_STR(last_ip(h), "203.1.50.1");
    mm_http_resp_free(&r);
    free(big);
}

/* Untrusted peer, overrides off: only the TCP peer counts. */
static void
test_untrusted(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "trusted-proxy", "10.0.0.0/8", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "no-client-ip-override", NULL, NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "fake-ip", "192.0.2.55", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    mm_http_resp r;
    MM_REQUIRE(mm_http_post(h.port, "/matchmaker/request/happy/1?client_ip=198.51.100.9", "X-Forwarded-For: 203.0.113.7\r\n",
                            NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    MM_CHECK_STR(last_ip(&h), "192.0.2.55");
    mm_http_resp_free(&r);
    /* malformed forwarded addresses from an untrusted peer are not even read */
    MM_REQUIRE(mm_http_post(h.port, "/matchmaker/wannaplay", "X-Forwarded-For: garbage\r\n", NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    mm_http_resp_free(&r);
    /* nor a WebSocket's JSON client_ip */
    char texts[8][512];
    int code;
    MM_CHECK_INT(fh_ws_session(h.port, "/matchmaker/ws?client_ip=1.1.1.1", "X-Forwarded-For: 203.0.113.8\r\n",
                               "{\"game\":\"happy\",\"version\":\"1\",\"client_ip\":\"9.9.9.9\"}", texts, 8, &code, T),
                 ==, 5);
    MM_CHECK_STR(last_ip(&h), "192.0.2.55");
    fh_stop(&h, 1000);
}

static void
test_bodies(fh *h)
{
    char *big = malloc(10001);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    mm_http_resp r;
    long long large0 = fh_metric(h->port, "mm_front_refusals_total{reason=\"too_large\"}");
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/wannaplay", NULL, big, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 413);
    mm_http_resp_free(&r);
    free(big);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_refusals_total{reason=\"too_large\"}"), ==, large0 + 1);
    /* a chunked upload past the limit, and a broken one */
    static const char chunked_big[] = "POST /matchmaker/wannaplay HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "2000\r\n";
    char *req = malloc(sizeof(chunked_big) + 0x2000 + 16);
    size_t n = sizeof(chunked_big) - 1;
    memcpy(req, chunked_big, n);
    memset(req + n, 'y', 0x2000);
    n += 0x2000;
    memcpy(req + n, "\r\n0\r\n\r\n", 7);
    n += 7;
    MM_REQUIRE(mm_http_raw(h->port, req, n, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 413);
    mm_http_resp_free(&r);
    free(req);
    long long proto0 = fh_metric(h->port, "mm_front_refusals_total{reason=\"protocol_error\"}");
    static const char broken[] = "POST /matchmaker/wannaplay HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    MM_REQUIRE(mm_http_raw(h->port, broken, sizeof(broken) - 1, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 400);
    mm_http_resp_free(&r);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_refusals_total{reason=\"protocol_error\"}"), ==, proto0 + 1);
}

/* The whole-request timeout on the streaming routes (300 ms here). */
static void
test_stream_timeouts(fh *h)
{
    mm_http_resp r;
    MM_REQUIRE(mm_http_post(h->port, "/matchmaker/request/never/1", NULL, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    MM_CHECK_STR(r.body, "{\"Error\":[408,\"Request timeout\"]}\n");
    mm_http_resp_free(&r);
    char texts[8][512];
    int code;
    MM_CHECK_INT(fh_ws_session(h->port, NULL, NULL, "{\"game\":\"never\",\"version\":\"1\"}", texts, 8, &code, T), ==, 1);
    MM_CHECK_STR(texts[0], "{\"Error\":[408,\"Request timeout\"]}");
    MM_CHECK_INT(code, ==, 1000);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_refusals_total{reason=\"request_timeout\"}"), ==, 3);
    MM_REQUIRE(tb_wait_held(h->tb, 2, T));
    MM_CHECK_INT(tb_release(h->tb), ==, 2);
}

/* A client that gives up on a silent chunked request: noticed by the peer check, request ended. */
static void
test_client_leaves(fh *h)
{
    long long gone0 = fh_metric(h->port, "mm_front_requests_total{route=\"chunked\",outcome=\"client_gone\"}");
    size_t before = tb_submitted(h->tb);
    int fd = mm_tcp_connect(h->port, T);
    MM_REQUIRE(fd >= 0);
    mm_ws_client c = {.fd = fd};
    static const char req[] = "POST /matchmaker/request/held/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    MM_REQUIRE(mm_ws_send_raw(&c, req, sizeof(req) - 1) == 0);
    MM_REQUIRE(tb_wait_submitted(h->tb, before + 1, T));
    mm_ws_close(&c);
    long long gone = gone0;
    for (int i = 0; i < 2000 && gone == gone0; i++) /* the check runs every ping interval (100 ms here) */
        gone = fh_metric(h->port, "mm_front_requests_total{route=\"chunked\",outcome=\"client_gone\"}");
    MM_CHECK_INT(gone, ==, gone0 + 1);
    MM_REQUIRE(tb_wait_held(h->tb, 1, T));
    MM_CHECK_INT(tb_release(h->tb), ==, 1);
    MM_CHECK_INT(fh_metric(h->port, "mm_front_requests_in_progress{loop=\"0\"}"), ==, 0);
}

int
main(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-rate", "100000", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-burst", "100000", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "request-timeout-ms", "300", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "ping-interval-ms", "100", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    test_chunked(&h);
    test_wannaplay(&h);
    test_client_ip(&h);
    test_bodies(&h);
    test_stream_timeouts(&h);
    test_client_leaves(&h);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_requests_total{route=\"chunked\",outcome=\"ok\"}"), >=, 8);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_requests_total{route=\"chunked\",outcome=\"invalid\"}"), >=, 6);
    fh_stop(&h, 1000);
    test_untrusted();
    return MM_TEST_DONE();
}
