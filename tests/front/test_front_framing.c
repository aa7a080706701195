/*
 * Ambiguous HTTP framing (src/net/front/framing.c): two Content-Length headers (different or
 * identical), two Transfer-Encoding headers, or Content-Length with Transfer-Encoding get 400
 * and the connection closed, on every route (a page, the POST routes, the WebSocket route), so
 * a request pipelined behind one (a smuggled request) gets no answer. Plain requests, and two
 * requests pipelined normally, are still answered. Raw sockets; the check's pure core without.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "front_harness.h"
#include "front_internal.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000

/* Sends raw bytes on a new connection and reads until the server closes it (or T passes).
 * Returns what came (malloc'd, NUL-terminated); *closed says whether the server closed. */
static char *
exchange(uint16_t port, const char *raw, bool *closed)
{
    int fd = mm_tcp_connect(port, T);
    MM_REQUIRE(fd >= 0);
    MM_REQUIRE(mm_tc_send_all(fd, raw, strlen(raw), T) == 0);
    int64_t deadline = mm_tc_now_ms() + T;
    size_t cap = 1 << 16, have = 0;
    char *buf = malloc(cap);
    MM_REQUIRE(buf != NULL);
    *closed = false;
    for (;;) {
        int n = mm_tc_read_some(fd, (uint8_t *)buf + have, cap - have - 1, deadline);
        if (n <= 0) {
            *closed = n == 0;
            break;
        }
        have += (size_t)n;
        if (have + 1 >= cap)
            break;
    }
    buf[have] = '\0';
    close(fd);
    return buf;
}

static int
count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

/* raw must be answered 400 with reason, once, and the connection closed. */
static void
expect_refused(fh *h, const char *raw, const char *reason)
{
    bool closed;
    char *got = exchange(h->port, raw, &closed);
    MM_CHECK(strncmp(got, "HTTP/1.1 400", 12) == 0);
    MM_CHECK(strstr(got, reason) != NULL);
    MM_CHECK_INT(count(got, "HTTP/1.1 "), ==, 1); /* the pipelined request is never answered */
    MM_CHECK(closed);
    if (strncmp(got, "HTTP/1.1 400", 12) != 0 || count(got, "HTTP/1.1 ") != 1)
        fprintf(stderr, "request:\n%s\ngot:\n%s\n", raw, got);
    free(got);
}

#define NEXT "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

static void
test_refused(fh *h)
{
    /* Content-Length with chunked: h2o reads it chunked and would keep the connection open */
    expect_refused(h,
                   "POST /matchmaker/wannaplay HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "0\r\n\r\n" NEXT,
                   "both Content-Length and Transfer-Encoding");
    expect_refused(h,
                   "POST /matchmaker/request/happy/1 HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n"
                   "0\r\n\r\n" NEXT,
                   "both Content-Length and Transfer-Encoding");
    /* two different lengths: h2o takes the first */
    expect_refused(h, "POST /matchmaker/wannaplay HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n{}" NEXT,
                   "more than one Content-Length header");
    /* identical duplicates are refused too (our choice: simpler than merging) */
    expect_refused(h, "POST /matchmaker/wannaplay HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nCONTENT-LENGTH: 2\r\n\r\n{}" NEXT,
                   "more than one Content-Length header");
    expect_refused(h,
                   "POST /matchmaker/wannaplay HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "0\r\n\r\n" NEXT,
                   "more than one Transfer-Encoding header");
    /* every route, not only the POSTs: a page, a 404, the WebSocket route */
    expect_refused(h, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n" NEXT,
                   "more than one Content-Length header");
    expect_refused(h, "GET /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" NEXT,
                   "both Content-Length and Transfer-Encoding");
    expect_refused(h,
                   "GET /matchmaker/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Content-Length: 0\r\nContent-Length: 0\r\n\r\n" NEXT,
                   "more than one Content-Length header");
    expect_refused(h, "OPTIONS / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n" NEXT,
                   "more than one Content-Length header");
}

/* Unambiguous requests pipelined on one connection are both answered. */
static void
test_plain_still_served(fh *h)
{
    bool closed;
    char *got = exchange(h->port, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" NEXT, &closed);
    MM_CHECK_INT(count(got, "HTTP/1.1 200"), ==, 2);
    MM_CHECK(closed);
    free(got);
    got = exchange(h->port,
                   "POST /matchmaker/wannaplay HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" NEXT,
                   &closed);
    MM_CHECK_INT(count(got, "HTTP/1.1 "), ==, 2);
    MM_CHECK(strstr(got, "HTTP/1.1 400") == NULL);
    free(got);
}

static void
test_check(void)
{
    char why[96];
    const struct {
        const char *raw;
        bool ok;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", true},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", true},
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", false},
        {"POST / HTTP/1.1\nContent-Length: 1\ncontent-length: 2\n\n", false}, /* bare LF, as picohttpparser takes */
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", false},
        {"POST / HTTP/1.1\r\nContent-Length-X: 1\r\nContent-Length: 1\r\n\r\n", true},
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\n", true}, /* incomplete: not ours to judge */
        {"", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why[0] = '\0';
        bool ok = mm__front_framing_check(cases[i].raw, strlen(cases[i].raw), why, sizeof(why));
        if (ok != cases[i].ok)
            fprintf(stderr, "case %zu: %s\n", i, why);
        MM_CHECK(ok == cases[i].ok);
        MM_CHECK(ok || why[0] != '\0');
    }
}

int
main(void)
{
    test_check();
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-rate", "100000", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-burst", "100000", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    test_refused(&h);
    test_plain_still_served(&h);
    fh_stop(&h, 1000);
    return MM_TEST_DONE();
}
