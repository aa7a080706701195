/*
 * Abuse scenarios of test_modes_e2e.c (modes_scenarios.h): a flood from one address (the rate
 * limit's 429), too many requests at once from one address, a client that stops reading, peers
 * that stall the server's output or never finish their headers, and a client that vanishes in
 * the middle of its request. Each shows the refusal the docs promise and that the process goes
 * on serving others; the abandoned request's session is checked later (mx_abandoned_reaped).
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm/clock.h"
#include "mm_test.h"
#include "modes_scenarios.h"

#define FLOOD_CLIENTS (MS_PER_IP_BURST + 2) /* WebSocket requests from one address */
#define STALLED_PAGES 1000

void
mx_flood(mx *x, int index, mr_rec *r)
{
    char xff[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mx_first("nope", MX_VERSION, MX_CLIENT_IP, first, sizeof(first)); /* admitted, answered at once */
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(c != NULL);
    /* one request after the other, each answered at once: the bucket refills one request per
     * second, so all of these come within its burst plus at most one refill */
    uint64_t t0 = mm_now_ms();
    int refused = 0;
    for (int i = 0; i < FLOOD_CLIENTS; i++) {
        mr_seen seen = {0};
        mr_line(r, "ws request %d of %d from one address", i + 1, FLOOD_CLIENTS);
        if (mr_ws_open(c, x->port, xff, r)) {
            MM_CHECK(mm_ws_send_text(c, first) == 0);
            mr_ws_collect(c, r, &seen);
        }
        refused += seen.error_status == 429;
        if (i == MS_PER_IP_BURST) {
            /* the HTTP routes share the address's bucket */
            MM_CHECK_INT(mr_post(x->port, "/matchmaker/request/" MX_APP "/" MX_VERSION, xff, MR_BODY_STREAM, r, NULL), ==, 429);
            MM_CHECK_INT(mr_post(x->port, "/matchmaker/wannaplay", xff, MR_BODY_TEXT, r, NULL), ==, 429);
        }
    }
    uint64_t took = mm_now_ms() - t0;
    MM_CHECK_INT(refused, ==, FLOOD_CLIENTS - MS_PER_IP_BURST);
    if (refused != FLOOD_CLIENTS - MS_PER_IP_BURST)
        fprintf(stderr, "flood: %d refused; the requests took %llu ms (the bucket refills one per %d ms)\n", refused,
                (unsigned long long)took, 1000 / MS_PER_IP_RATE);
    free(c);
    /* another address is not affected */
    char other[96];
    mx_xff(index + 100, other, sizeof(other));
    mr_seen seen = {0};
    mx_ws_request(x, other, first, r, &seen);
    MM_CHECK_INT(seen.error_status, ==, 503);
}

void
mx_ip_concurrent(mx *x, int index, mr_rec *r)
{
    char xff[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    /* sessions take a while to be created, so that the first requests are still in progress */
    MM_REQUIRE(ms_sim_faults(x->st, "{\"session_create\":{\"latency_ms\":1500}}"));
    mm_ws_client *c = calloc(MS_PER_IP_CONCURRENT + 1, sizeof(*c));
    MM_REQUIRE(c != NULL);
    mr_rec held[MS_PER_IP_CONCURRENT];
    mr_seen seen[MS_PER_IP_CONCURRENT + 1];
    memset(held, 0, sizeof(held));
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < MS_PER_IP_CONCURRENT; i++) {
        MM_REQUIRE(mr_ws_open(&c[i], x->port, xff, r));
        MM_CHECK(mm_ws_send_text(&c[i], first) == 0);
        MM_CHECK(mr_ws_next(&c[i], &held[i], &seen[i])); /* "Acknowledged": admitted and in progress */
    }
    int n = MS_PER_IP_CONCURRENT;
    mr_line(r, "ws request %d while %d are in progress from the same address", n + 1, n);
    if (mr_ws_open(&c[n], x->port, xff, r)) {
        MM_CHECK(mm_ws_send_text(&c[n], first) == 0);
        mr_ws_collect(&c[n], r, &seen[n]);
    }
    MM_CHECK_INT(seen[n].error_status, ==, 429);
    for (int i = 0; i < n; i++) {
        mr_ws_collect(&c[i], &held[i], &seen[i]);
        mx_check_session(&seen[i]);
        mr_line(r, "ws request %d:", i + 1);
        mr_line(r, "%s", mr_text(&held[i]));
        mr_free(&held[i]);
    }
    MM_CHECK(ms_sim_faults(x->st, "{\"session_create\":{}}"));
    free(c);
}

void
mx_slow_reader(mx *x, int index, mr_rec *r)
{
    char xff[96], other[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mx_xff(index + 100, other, sizeof(other));
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    mm_ws_client *slow = malloc(sizeof(*slow));
    MM_REQUIRE(slow != NULL);
    /* the slow client asks, then reads nothing until another player has been served in full */
    mr_rec later = {0};
    mr_seen slow_seen = {0}, seen = {0};
    MM_REQUIRE(mr_ws_open(slow, x->port, xff, r));
    MM_CHECK(mm_ws_send_text(slow, first) == 0);
    mr_line(r, "another player while the first does not read:");
    mx_ws_request(x, other, first, r, &seen);
    mx_check_session(&seen);
    mr_ws_collect(slow, &later, &slow_seen);
    mx_check_session(&slow_seen);
    mr_line(r, "the first player, reading at last:");
    mr_line(r, "%s", mr_text(&later));
    mr_free(&later);
    free(slow);
}

/* A socket to the front with a small receive buffer, so that its unread input fills up soon. */
static int
small_window_socket(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;
    MM_REQUIRE(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    MM_REQUIRE(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    MM_REQUIRE(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0); /* mm_tc_send_all waits with poll */
    return fd;
}

void
mx_stalled_peers(mx *x, int index, mr_rec *r)
{
    (void)index;
    /* 1: pipelined requests for the test page (~5 MB of answers), never read: the server's
     * output to that peer stalls once the socket buffers are full */
    int stalled = small_window_socket(x->port);
    static const char get_page[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char *many = malloc(sizeof(get_page) * STALLED_PAGES);
    MM_REQUIRE(many != NULL);
    size_t len = 0;
    for (int i = 0; i < STALLED_PAGES; i++) {
        memcpy(many + len, get_page, sizeof(get_page) - 1);
        len += sizeof(get_page) - 1;
    }
    MM_CHECK(mm_tc_send_all(stalled, many, len, 5000) == 0);
    free(many);
    /* 2: a request head that never ends (slowloris) */
    int loris = mm_tcp_connect(x->port, 5000);
    MM_REQUIRE(loris >= 0);
    static const char partial[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    MM_CHECK(mm_tc_send_all(loris, partial, sizeof(partial) - 1, 5000) == 0);

    mr_line(r, "while a peer does not read its pages and another never ends its headers:");
    MM_CHECK_INT(mr_get(x->port, "/healthz", NULL, MR_BODY_TEXT, r), ==, 200);
    char first[256], other[96];
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    mx_xff(index + 100, other, sizeof(other));
    mr_seen seen = {0};
    mx_ws_request(x, other, first, r, &seen);
    mx_check_session(&seen);

    /* the head that never ends is cut after the first-message timeout, without an answer */
    uint8_t buf[4096];
    size_t got = 0;
    int64_t deadline = mm_tc_now_ms() + MR_WAIT_MS;
    int n;
    while ((n = mm_tc_read_some(loris, buf, sizeof(buf), deadline)) > 0)
        got += (size_t)n;
    mr_line(r, "the unfinished head: %s after %zu bytes", n == 0 ? "closed by the server" : "still open", got);
    close(loris);
    close(stalled);
    MM_CHECK_INT(mr_get(x->port, "/healthz", NULL, MR_BODY_TEXT, r), ==, 200);
}

void
mx_abrupt_disconnect(mx *x, int index, mr_rec *r)
{
    char xff[96], other[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mx_xff(index + 100, other, sizeof(other));
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(c != NULL);
    mr_seen seen = {0};
    mr_line(r, "ws send %s", first);
    MM_REQUIRE(mr_ws_open(c, x->port, xff, r));
    MM_CHECK(mm_ws_send_text(c, first) == 0);
    MM_CHECK(mr_ws_next(c, r, &seen)); /* Acknowledged */
    MM_CHECK(mr_ws_next(c, r, &seen)); /* SessionRequestAccepted */
    MM_CHECK(seen.session_id[0] != '\0');
    snprintf(x->abandoned, sizeof(x->abandoned), "%s", seen.session_id);
    mr_line(r, "the client closes its socket");
    mm_ws_close(c); /* no close frame */
    free(c);
    /* the process serves on */
    MM_CHECK_INT(mr_get(x->port, "/healthz", NULL, MR_BODY_TEXT, r), ==, 200);
    mr_seen next = {0};
    mx_ws_request(x, other, first, r, &next);
    mx_check_session(&next);
}
