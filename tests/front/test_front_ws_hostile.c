/*
 * Hostile and broken WebSocket clients. Each gets its documented answer (`ERR <reason>` and a
 * close with a fitting code before the hand-off; a close after it) and the front keeps serving:
 * every case ends with a normal session. Binary, fragmented, oversized (also announced at 2^40
 * bytes), bad UTF-8, bad JSON, bad names, unmasked or reserved frames, a first-message timeout,
 * a ping flood, a half-open peer, slow request headers, garbage bytes, a handshake with two
 * Sec-WebSocket-Key headers or a key that is not base64 of 16 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_harness.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000

static void
still_serving(fh *h)
{
    char texts[8][512];
    int code;
    MM_CHECK_INT(fh_ws_session(h->port, NULL, NULL, "{\"game\":\"happy\",\"version\":\"1\"}", texts, 8, &code, T), ==, 5);
    MM_CHECK_INT(code, ==, 1000);
}

/* Expects `ERR <prefix>...` then a close with code; returns after the TCP connection ended. */
static void
expect_err(mm_ws_client *c, const char *prefix, int code)
{
    mm_ws_msg m;
    int r = mm_ws_recv(c, &m, T);
    MM_CHECK_INT(r, ==, 1);
    if (r == 1) {
        MM_CHECK_INT(m.opcode, ==, MM_WS_OP_TEXT);
        if (strncmp(m.data, prefix, strlen(prefix)) != 0)
            fprintf(stderr, "got \"%s\", want \"%s...\"\n", m.data, prefix);
        MM_CHECK(strncmp(m.data, prefix, strlen(prefix)) == 0);
        mm_ws_msg_free(&m);
    }
    r = mm_ws_recv(c, &m, T);
    MM_CHECK_INT(r, ==, 1);
    if (r == 1) {
        MM_CHECK_INT(m.opcode, ==, MM_WS_OP_CLOSE);
        MM_CHECK_INT(m.close_code, ==, code);
        mm_ws_msg_free(&m);
    }
    /* answer the close as a browser does (without it the server waits out its linger) */
    mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_CLOSE, "\x03\xe8", 2, true);
    MM_CHECK_INT(mm_ws_wait_eof(c, T), ==, 0);
}

static mm_ws_client *
open_ws(fh *h)
{
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(mm_ws_connect(c, h->port, "/matchmaker/ws", NULL, T) == 0);
    return c;
}

static void
done(mm_ws_client *c)
{
    mm_ws_close(c);
    free(c);
}

static void
test_first_messages(fh *h)
{
    struct {
        const char *text, *err;
        int code;
    } cases[] = {
        {"not json", "ERR request is not valid JSON", 1008},
        {"{\"game\":\"a b\",\"version\":\"1\"}", "ERR Game name invalid", 1008},
        {"{\"game\":\"g\",\"version\":\"1.0\"}", "ERR Game version invalid", 1008},
        {"{\"game\":\"abcdefghijabcdefghijabcdefghijX\",\"version\":\"1\"}", "ERR Game name too long (max 30 chars)", 1008},
        {"{\"game\":\"g\",\"version\":\"1\",\"client_ip\":\"999.1.1.1\"}", "ERR client_ip is not an IPv4 or IPv6 address", 1008},
        {"{\"game\":\"g\"}", "ERR missing field `version`", 1008},
        {"[1,2,3]", "ERR request must be a JSON object", 1008},
        {"{\"game\":\"happy\",\"version\":\"1\",\"game\":\"x\"}", "ERR ", 1008},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mm_ws_client *c = open_ws(h);
        MM_REQUIRE(mm_ws_send_text(c, cases[i].text) == 0);
        expect_err(c, cases[i].err, cases[i].code);
        done(c);
    }
    /* an invalid query override is refused at the first message */
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(mm_ws_connect(c, h->port, "/matchmaker/ws?client_ip=nope", NULL, T) == 0);
    MM_REQUIRE(mm_ws_send_text(c, "{\"game\":\"happy\",\"version\":\"1\"}") == 0);
    expect_err(c, "ERR client_ip is not an IPv4 or IPv6 address", 1008);
    done(c);
}

static void
test_frames(fh *h)
{
    mm_ws_client *c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_BINARY, "{}", 2, true) == 0);
    expect_err(c, "ERR Expected text message, got a binary message", 1003);
    done(c);

    char *big = malloc(5000);
    memset(big, 'a', 5000);
    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_TEXT, big, 5000, true) == 0);
    expect_err(c, "ERR message too large (max 4096 bytes)", 1009);
    done(c);
    free(big);

    /* a header announcing 2^40 bytes: refused at the header, nothing is buffered */
    c = open_ws(h);
    static const uint8_t huge[] = {0x81, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    MM_REQUIRE(mm_ws_send_raw(c, huge, sizeof(huge)) == 0);
    expect_err(c, "ERR message too large", 1009);
    done(c);

    /* fragments that are fine one by one but too large together */
    char part[1500];
    memset(part, 'b', sizeof(part));
    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_OP_TEXT, part, sizeof(part), true) == 0);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_OP_CONT, part, sizeof(part), true) == 0);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_CONT, part, sizeof(part), true) == 0);
    expect_err(c, "ERR message too large", 1009);
    done(c);

    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_TEXT, "{\"game\":\"\xc3\x28\"}", 13, true) == 0);
    expect_err(c, "ERR message is not valid UTF-8", 1007);
    done(c);

    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_TEXT, "{}", 2, false) == 0);
    expect_err(c, "ERR WebSocket frame from a client is not masked", 1002);
    done(c);

    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | 0x3, "x", 1, true) == 0);
    expect_err(c, "ERR WebSocket frame with an unknown opcode", 1002);
    done(c);

    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | 0x40 | MM_WS_OP_TEXT, "x", 1, true) == 0);
    expect_err(c, "ERR WebSocket frame with reserved bits set", 1002);
    done(c);

    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_CONT, "x", 1, true) == 0);
    expect_err(c, "ERR WebSocket continuation frame without a message to continue", 1002);
    done(c);

    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_OP_PING, "x", 1, true) == 0); /* fragmented control frame */
    expect_err(c, "ERR WebSocket control frame is fragmented", 1002);
    done(c);
}

/* A valid message in three fragments with a ping between them works, and the ping is answered. */
static void
test_fragmented_ok(fh *h)
{
    mm_ws_client *c = open_ws(h);
    const char *msg = "{\"game\":\"happy\",\"version\":\"1\"}";
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_OP_TEXT, msg, 10, true) == 0);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_PING, "hi", 2, true) == 0);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_OP_CONT, msg + 10, 10, true) == 0);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_CONT, msg + 20, strlen(msg) - 20, true) == 0);
    int texts = 0, code = 0;
    mm_ws_msg m;
    while (mm_ws_recv(c, &m, T) == 1) {
        if (m.opcode == MM_WS_OP_CLOSE) {
            code = m.close_code;
            mm_ws_msg_free(&m);
            break;
        }
        texts++;
        mm_ws_msg_free(&m);
    }
    MM_CHECK_INT(texts, ==, 5);
    MM_CHECK_INT(code, ==, 1000);
    MM_CHECK_INT(c->pongs_seen, ==, 1);
    done(c);
}

/* Messages after the first are ignored (as the reference does); the stream goes on. */
static void
test_extra_messages(fh *h)
{
    size_t before = tb_submitted(h->tb);
    mm_ws_client *c = open_ws(h);
    MM_REQUIRE(mm_ws_send_text(c, "{\"game\":\"held\",\"version\":\"1\"}") == 0);
    MM_REQUIRE(tb_wait_submitted(h->tb, before + 1, T));
    MM_REQUIRE(mm_ws_send_text(c, "{\"game\":\"happy\",\"version\":\"2\"}") == 0);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_BINARY, "\x00\x01", 2, true) == 0);
    MM_REQUIRE(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_PING, "", 0, true) == 0);
    mm_ws_msg m;
    MM_CHECK_INT(mm_ws_recv(c, &m, 200), ==, -1); /* nothing comes back but the pong */
    MM_CHECK_INT(c->pongs_seen, ==, 1);
    MM_REQUIRE(tb_wait_held(h->tb, 1, T));
    MM_CHECK_INT(tb_release(h->tb), ==, 1);
    int texts = 0;
    while (mm_ws_recv(c, &m, T) == 1 && m.opcode != MM_WS_OP_CLOSE) {
        texts++;
        mm_ws_msg_free(&m);
    }
    mm_ws_msg_free(&m);
    MM_CHECK_INT(texts, ==, 5);
    MM_CHECK_INT(tb_submitted(h->tb), ==, before + 1);
    done(c);
}

/* Random bytes after the handshake, a handshake dropped half way, a client closing at once. */
static void
test_garbage(fh *h)
{
    uint8_t junk[65536];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 2654435761u >> 13);
    for (int round = 0; round < 4; round++) {
        mm_ws_client *c = open_ws(h);
        mm_ws_send_raw(c, junk + round * 7, sizeof(junk) - (size_t)round * 7);
        mm_ws_wait_eof(c, T);
        done(c);
    }
    int fd = mm_tcp_connect(h->port, T);
    MM_REQUIRE(fd >= 0);
    static const char half[] = "GET /matchmaker/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    mm_ws_client raw = {.fd = fd};
    MM_REQUIRE(mm_ws_send_raw(&raw, half, sizeof(half) - 1) == 0);
    mm_ws_close(&raw); /* gone before reading the 101 */
    mm_ws_client *c = open_ws(h);
    done(c); /* gone after the 101, before any message */
    c = open_ws(h);
    MM_REQUIRE(mm_ws_send_text(c, "{\"game\":\"happy\",\"version\":\"1\"}") == 0);
    done(c); /* gone before the answers */
}

/* Sec-WebSocket-Key must come once and be base64 of exactly 16 bytes (RFC 6455 section 4.1). */
static void
test_handshake_keys(fh *h)
{
    static const char *const keys[] = {
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n", /* two */
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", /* two, equal */
        "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n", /* 24 characters, not base64 */
        "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n", /* base64 of 18 bytes */
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n", /* stray bits: not canonical */
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=A\r\n", /* padding in the middle */
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n",     /* 12 bytes */
        "",                                                  /* none */
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char req[512];
        int n = snprintf(req, sizeof(req),
                         "GET /matchmaker/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "%sSec-WebSocket-Version: 13\r\n\r\n",
                         keys[i]);
        mm_http_resp r;
        MM_REQUIRE(mm_http_raw(h->port, req, (size_t)n, &r, T) == 0);
        if (r.status != 400)
            fprintf(stderr, "key case %zu: %d\n", i, r.status);
        MM_CHECK_INT(r.status, ==, 400);
        MM_CHECK_STR(r.body, "bad or missing Sec-WebSocket-Key");
        mm_http_resp_free(&r);
    }
}

/* A client that sends nothing (timeout), one that floods pings, a silent peer, slow headers. */
static void
test_timing(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "first-message-timeout-ms", "300", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "ping-interval-ms", "150", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);

    long long t0 = fh_metric(h.port, "mm_front_refusals_total{reason=\"first_message_timeout\"}");
    mm_ws_client *c = open_ws(&h);
    expect_err(c, "ERR Timeout waiting for websocket request message: 300ms", 1008);
    done(c);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"first_message_timeout\"}"), ==, t0 + 1);

    c = open_ws(&h);
    for (int i = 0; i < 200; i++)
        if (mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_PING, "flood", 5, true) != 0)
            break;
    expect_err(c, "ERR too many WebSocket frames; slow down", 1008);
    MM_CHECK_INT(c->pongs_seen, <=, 65);
    done(c);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"frame_flood\"}"), ==, 1);

    /* half-open: the client stops answering pings after its request; dropped after two intervals */
    size_t before = tb_submitted(h.tb);
    c = open_ws(&h);
    c->auto_pong = false;
    MM_REQUIRE(mm_ws_send_text(c, "{\"game\":\"never\",\"version\":\"1\"}") == 0);
    MM_REQUIRE(tb_wait_submitted(h.tb, before + 1, T));
    mm_ws_msg m;
    MM_CHECK_INT(mm_ws_recv(c, &m, T), ==, 0); /* pings, then the connection just ends */
    MM_CHECK_INT(c->pings_seen, >=, 1);
    done(c);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"half_open\"}"), ==, 1);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_requests_total{route=\"ws\",outcome=\"client_gone\"}"), ==, 1);

    /* a live peer answers the pings and keeps its connection past several intervals */
    before = tb_submitted(h.tb);
    c = open_ws(&h);
    MM_REQUIRE(mm_ws_send_text(c, "{\"game\":\"held\",\"version\":\"1\"}") == 0);
    MM_REQUIRE(tb_wait_submitted(h.tb, before + 1, T));
    for (int i = 0; i < 20 && c->pings_seen < 4; i++)
        MM_CHECK_INT(mm_ws_recv(c, &m, 300), ==, -1); /* pings only (answered), no message, no close */
    MM_CHECK_INT(c->pings_seen, >=, 4);
    MM_REQUIRE(tb_wait_held(h.tb, 1, T));
    MM_CHECK_INT(tb_release(h.tb), >=, 1);
    int texts = 0;
    while (mm_ws_recv(c, &m, T) == 1 && m.opcode != MM_WS_OP_CLOSE) {
        texts++;
        mm_ws_msg_free(&m);
    }
    mm_ws_msg_free(&m);
    MM_CHECK_INT(texts, ==, 5);
    done(c);

    /* slow request headers are cut by the header timeout (the first-message timeout) */
    int fd = mm_tcp_connect(h.port, T);
    MM_REQUIRE(fd >= 0);
    mm_ws_client raw = {.fd = fd};
    MM_REQUIRE(mm_ws_send_raw(&raw, "GET / HTTP/1.1\r\nHost: x\r\n", 25) == 0);
    MM_CHECK_INT(mm_ws_wait_eof(&raw, T), ==, 0);
    mm_ws_close(&raw);
    still_serving(&h);
    fh_stop(&h, 1000);
}

int
main(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-rate", "100000", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-burst", "100000", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    test_first_messages(&h);
    still_serving(&h);
    test_frames(&h);
    still_serving(&h);
    test_fragmented_ok(&h);
    test_extra_messages(&h);
    test_garbage(&h);
    still_serving(&h);
    test_handshake_keys(&h);
    still_serving(&h);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"binary_message\"}"), ==, 1);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"bad_utf8\"}"), ==, 1);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_refusals_total{reason=\"too_large\"}"), ==, 3);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_requests_total{route=\"ws\",outcome=\"invalid\"}"), >=, 15);
    long long open = -1; /* every hostile connection is closed: only the scrape's own stays */
    for (int i = 0; i < 1000 && open != 1; i++)
        open = fh_metric(h.port, "mm_front_connections_open");
    MM_CHECK_INT(open, ==, 1);
    fh_stop(&h, 1000);
    test_timing();
    return MM_TEST_DONE();
}
