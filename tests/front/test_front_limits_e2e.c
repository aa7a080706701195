/*
 * The admission limits over real connections. Clients come from 127.0.0.1, a trusted proxy by
 * default, so X-Forwarded-For stands for distinct client addresses. A flood from one address
 * gets Error(429) (WebSocket) or HTTP 429 (POST) while other addresses are served; the per-IP
 * concurrency and the global cap refuse the request beyond them and admit again once one ends;
 * max connections answers a canned 503 at accept. An address that has started --per-ip-sessions
 * sessions (SessionRequestAccepted, or a wannaplay's answer, or a request its client left before
 * either) within --session-window is refused on every route while other addresses are served,
 * until the window has passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "front_harness.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000

static const char *const rate_429 = "{\"Error\":[429,\"too many requests from your address; slow down\"]}";
static const char *const busy_ip_429 = "{\"Error\":[429,\"too many requests in progress from your address\"]}";
static const char *const sessions_msg = "too many game sessions started from your address; try again later";
static const char *const sessions_429 = "{\"Error\":[429,\"too many game sessions started from your address; try again later\"]}";
static const char *const cap_429 = "{\"Error\":[429,\"the matchmaker is at capacity; try again\"]}";

static int
session_from(fh *h, const char *ip, const char *game, char texts[][512], int *code)
{
    char hdr[128];
    char first[128];
    snprintf(hdr, sizeof(hdr), "X-Forwarded-For: %s\r\n", ip);
    snprintf(first, sizeof(first), "{\"game\":\"%s\",\"version\":\"1\"}", game);
    return fh_ws_session(h->port, NULL, hdr, first, texts, 8, code, T);
}

/* A WebSocket whose request the backend holds; returns the client (request submitted). */
static mm_ws_client *
held_from(fh *h, const char *ip)
{
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "X-Forwarded-For: %s\r\n", ip);
    size_t before = tb_submitted(h->tb);
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(mm_ws_connect(c, h->port, "/matchmaker/ws", hdr, T) == 0);
    MM_REQUIRE(mm_ws_send_text(c, "{\"game\":\"held\",\"version\":\"1\"}") == 0);
    MM_REQUIRE(tb_wait_submitted(h->tb, before + 1, T));
    return c;
}

/* Reads a held client's stream to its end; returns the number of texts. */
static int
finish_held(mm_ws_client *c)
{
    int texts = 0;
    mm_ws_msg m;
    while (mm_ws_recv(c, &m, T) == 1 && m.opcode != MM_WS_OP_CLOSE) {
        texts++;
        mm_ws_msg_free(&m);
    }
    mm_ws_msg_free(&m);
    mm_ws_close(c);
    free(c);
    return texts;
}

/* Empties the address's token bucket: sessions until one is refused (the bucket refills at 1/s,
 * so the next request right after is refused too). */
static bool
drain(fh *h, const char *ip)
{
    char texts[8][512];
    int code;
    for (int i = 0; i < 10; i++)
        if (session_from(h, ip, "happy", texts, &code) == 1 && strcmp(texts[0], rate_429) == 0)
            return true;
    return false;
}

static void
test_rate(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-rate", "1", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-burst", "3", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    char texts[8][512];
    int code, refused = 0, served = 0;
    for (int i = 0; i < 8; i++) { /* 8 at once from one address: the burst of 3 (maybe a 4th) passes */
        int n = session_from(&h, "203.0.113.1", "happy", texts, &code);
        if (n == 1 && strcmp(texts[0], rate_429) == 0 && code == 1000)
            refused++;
        else if (n == 5)
            served++;
    }
    MM_CHECK_INT(served + refused, ==, 8);
    MM_CHECK_INT(served, >=, 3);
    MM_CHECK_INT(refused, >=, 3);
    MM_CHECK_INT(session_from(&h, "203.0.113.2", "happy", texts, &code), ==, 5); /* others are served */
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"rate\"}"), ==, refused);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_requests_total{route=\"ws\",outcome=\"refused\"}"), ==, refused);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_limited_addresses"), ==, 2);
    /* the HTTP routes answer 429 */
    mm_http_resp r;
    MM_REQUIRE(drain(&h, "203.0.113.1"));
    MM_REQUIRE(mm_http_post(h.port, "/matchmaker/request/happy/1", "X-Forwarded-For: 203.0.113.1\r\n", NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 429);
    MM_CHECK_STR(r.body, "too many requests from your address; slow down");
    mm_http_resp_free(&r);
    MM_REQUIRE(drain(&h, "203.0.113.1"));
    MM_REQUIRE(mm_http_post(h.port, "/matchmaker/wannaplay", "X-Forwarded-For: 203.0.113.1\r\n", NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 429);
    mm_http_resp_free(&r);
    /* an override chosen by the client does not escape the limit: it counts by network address */
    MM_REQUIRE(drain(&h, "203.0.113.1"));
    char hdr[] = "X-Forwarded-For: 203.0.113.1\r\n";
    MM_CHECK_INT(fh_ws_session(h.port, "/matchmaker/ws?client_ip=8.8.8.8", hdr, "{\"game\":\"happy\",\"version\":\"1\"}", texts, 8,
                               &code, T),
                 ==, 1);
    MM_CHECK_STR(texts[0], rate_429);
    fh_stop(&h, 1000);
}

static void
test_concurrency(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-concurrent", "2", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "global-concurrent", "3", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    char texts[8][512];
    int code;
    mm_ws_client *a = held_from(&h, "198.51.100.1");
    mm_ws_client *b = held_from(&h, "198.51.100.1");
    MM_CHECK_INT(session_from(&h, "198.51.100.1", "happy", texts, &code), ==, 1);
    MM_CHECK_STR(texts[0], busy_ip_429);
    MM_CHECK_INT(code, ==, 1000);
    mm_ws_client *c = held_from(&h, "198.51.100.2"); /* another address: admitted (3 of 3 now) */
    MM_CHECK_INT(session_from(&h, "198.51.100.3", "happy", texts, &code), ==, 1);
    MM_CHECK_STR(texts[0], cap_429);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"ip_concurrency\"}"), ==, 1);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"global_concurrency\"}"), ==, 1);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_requests_in_progress{loop=\"0\"}"), ==, 3);
    MM_REQUIRE(tb_wait_held(h.tb, 3, T));
    MM_CHECK_INT(tb_release(h.tb), ==, 3);
    MM_CHECK_INT(finish_held(a), ==, 5);
    MM_CHECK_INT(finish_held(b), ==, 5);
    MM_CHECK_INT(finish_held(c), ==, 5);
    MM_CHECK_INT(session_from(&h, "198.51.100.1", "happy", texts, &code), ==, 5); /* slots were released */
    MM_CHECK_INT(session_from(&h, "198.51.100.3", "happy", texts, &code), ==, 5);
    fh_stop(&h, 1000);
}

static void
test_sessions(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-rate", "100000", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-burst", "100000", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-sessions", "3", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "session-window", "2", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    char texts[8][512];
    int code;
    const char *ip = "203.0.113.60", *hdr = "X-Forwarded-For: 203.0.113.60\r\n";
    /* two sessions on the WebSocket, one by wannaplay (its answer is the session) */
    MM_CHECK_INT(session_from(&h, ip, "happy", texts, &code), ==, 5);
    MM_CHECK_STR(texts[1], "{\"SessionRequestAccepted\":\"" TB_SESSION "\"}");
    MM_CHECK_INT(session_from(&h, ip, "happy", texts, &code), ==, 5);
    mm_http_resp r;
    MM_REQUIRE(mm_http_post(h.port, "/matchmaker/wannaplay", hdr, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200);
    mm_http_resp_free(&r);
    /* the fourth is refused on every route, with the reason */
    MM_CHECK_INT(session_from(&h, ip, "happy", texts, &code), ==, 1);
    MM_CHECK_STR(texts[0], sessions_429);
    MM_CHECK_INT(code, ==, 1000);
    MM_REQUIRE(mm_http_post(h.port, "/matchmaker/request/happy/1", hdr, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 429);
    MM_CHECK_STR(r.body, sessions_msg);
    mm_http_resp_free(&r);
    MM_REQUIRE(mm_http_post(h.port, "/matchmaker/wannaplay", hdr, NULL, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 429);
    MM_CHECK_STR(r.body, sessions_msg);
    mm_http_resp_free(&r);
    /* requests that made no session do not count: "error" answers without SessionRequestAccepted */
    MM_CHECK_INT(session_from(&h, "203.0.113.61", "error", texts, &code), ==, 2);
    MM_CHECK_INT(session_from(&h, "203.0.113.61", "error", texts, &code), ==, 2);
    MM_CHECK_INT(session_from(&h, "203.0.113.61", "error", texts, &code), ==, 2);
    MM_CHECK_INT(session_from(&h, "203.0.113.61", "happy", texts, &code), ==, 5);
    /* another address is served */
    MM_CHECK_INT(session_from(&h, "203.0.113.62", "happy", texts, &code), ==, 5);
    /* clients that leave before SessionRequestAccepted count too: the backend may still create
     * their sessions (here it holds them) */
    mm_ws_client *held[3];
    for (int i = 0; i < 3; i++)
        held[i] = held_from(&h, "203.0.113.63");
    for (int i = 0; i < 3; i++) {
        mm_ws_close(held[i]);
        free(held[i]);
    }
    long long live = -1;
    for (int i = 0; i < 400 && live != 0; i++) {
        live = fh_metric(h.port, "mm_front_requests_in_progress{loop=\"0\"}");
        if (live != 0)
            mm_test_sleep_ms(10);
    }
    MM_CHECK_INT(live, ==, 0);
    MM_CHECK_INT(session_from(&h, "203.0.113.63", "happy", texts, &code), ==, 1);
    MM_CHECK_STR(texts[0], sessions_429);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"sessions\"}"), ==, 4);
    /* once the window has passed the address is served again (2 s; wait up to 20 s) */
    int n = 0;
    for (int i = 0; i < 400; i++) {
        n = session_from(&h, ip, "happy", texts, &code);
        if (n != 1 || strcmp(texts[0], sessions_429) != 0)
            break;
        mm_test_sleep_ms(50);
    }
    MM_CHECK_INT(n, ==, 5);
    fh_stop(&h, 1000);
}

static void
test_max_connections(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "max-connections", "2", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    mm_ws_client *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    MM_REQUIRE(mm_ws_connect(a, h.port, "/matchmaker/ws", NULL, T) == 0);
    MM_REQUIRE(mm_ws_connect(b, h.port, "/matchmaker/ws", NULL, T) == 0);
    mm_http_resp r;
    MM_REQUIRE(mm_http_get(h.port, "/healthz", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 503);
    MM_CHECK_STR(r.body, "too many connections; try again shortly\n");
    mm_http_resp_free(&r);
    mm_ws_close(b);
    free(b);
    /* once one closes there is room again (the close is seen asynchronously: retry a while) */
    long long refused = -1;
    for (int i = 0; i < 1000 && refused < 0; i++)
        refused = fh_metric(h.port, "mm_front_refusals_total{reason=\"max_connections\"}");
    MM_CHECK_INT(refused, >=, 1);
    mm_ws_close(a);
    free(a);
    fh_stop(&h, 1000);
}

/* --limits-exempt: an exempt address is counted by no per-address limit (rate, concurrency,
 * sessions) but still by the global cap; other addresses keep every limit; /metrics counts it. */
static void
test_exempt(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-rate", "1", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-burst", "1", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-concurrent", "1", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-sessions", "1", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "global-concurrent", "3", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "limits-exempt", "203.0.113.0/24", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    char texts[8][512];
    int code, served = 0;
    for (int i = 0; i < 6; i++) /* past the rate, the burst and the session limit of 1 */
        served += session_from(&h, "203.0.113.7", "happy", texts, &code) == 5;
    MM_CHECK_INT(served, ==, 6);
    mm_ws_client *a = held_from(&h, "203.0.113.7"); /* past the per-address concurrency of 1 */
    mm_ws_client *b = held_from(&h, "203.0.113.8");
    mm_ws_client *c = held_from(&h, "203.0.113.9");
    MM_CHECK_INT(session_from(&h, "203.0.113.7", "happy", texts, &code), ==, 1); /* the global cap of 3 still holds */
    MM_CHECK_STR(texts[0], cap_429);
    tb_release(h.tb);
    MM_CHECK_INT(finish_held(a) + finish_held(b) + finish_held(c), >, 0);
    /* an address outside the range keeps its limits */
    MM_CHECK_INT(session_from(&h, "198.51.100.9", "happy", texts, &code), ==, 5);
    MM_CHECK_INT(session_from(&h, "198.51.100.9", "happy", texts, &code), ==, 1);
    MM_CHECK(strcmp(texts[0], rate_429) == 0 || strcmp(texts[0], sessions_429) == 0);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_limits_exempt_total{what=\"requests\"}"), ==, 9); /* admitted: 6 + 3 held */
    fh_stop(&h, 1000);
}

int
main(void)
{
    test_exempt();
    test_rate();
    test_concurrency();
    test_sessions();
    test_max_connections();
    return MM_TEST_DONE();
}
