/*
 * Request heads that never finish. h2o 2.2.5 buffers up to ~408 KiB of an
 * unfinished head per connection; before the fix 1,000 connections that each sent 410 KB of
 * one and stopped took the front's process from a few MB to ~0.5 GB, and glibc kept it.
 *
 *  - the flood, 1,000 connections of ~410 KB unfinished heads, from ONE address and from 250
 *    (127.0.0.1..250; a front in a child process, front_child.h): every connection is refused
 *    (431 for its head, or 503 by the per-address connection cap), counted in /metrics, the
 *    child's peak RSS (VmHWM) rises by less than 64 MB and its RSS comes back within 16 MB of
 *    the start after the clients close (polled with a bound); and 1,000 heads of 15 KB, under
 *    the limit, held open: the 16 MB they cost is given back (malloc_trim) after they close,
 *    where glibc alone kept all of it. The figures are printed. Under
 *    sanitizers the memory figures mean little: only the functional checks run then.
 *  - the per-address cap: the connection over --max-connections-per-ip gets the canned 503
 *    before anything is read, another address is served, a closed connection frees its place,
 *    trusted proxies are not capped;
 *  - --max-header-bytes: an unfinished head past it and a complete head past it get 431, a
 *    head under it is served; a keep-alive follow-up head past it is cut by the sweep, also
 *    with a WebSocket accepted after it (the sweep stops at the first WebSocket of the list);
 *  - --max-header-bytes-total: heads being read past it are refused with 503.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "front_child.h"
#include "front_harness.h"
#include "mm/clock.h"
#include "mm_test.h"
#include "ws_client.h"

#define FLOOD 1000
#define FLOOD_BYTES (410 * 1000)
#define T 5000

#if defined(MM_SANITIZE_ADDRESS) || defined(MM_SANITIZE_THREAD)
#define CHECK_MEMORY 0
#else
#define CHECK_MEMORY 1
#endif

/* A connection to the front from 127.0.0.<src> (0: the kernel's choice); -1 on failure. */
static int
open_from(uint16_t port, int src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (src > 0) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        s.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src);
        if (bind(fd, (struct sockaddr *)&s, sizeof(s)) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends what the peer takes (it may refuse and reset midway); returns the bytes sent. */
static size_t
send_some(int fd, const char *buf, size_t len)
{
    size_t at = 0;
    while (at < len) {
        ssize_t n = send(fd, buf + at, len - at, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        at += (size_t)n;
    }
    return at;
}

/* Reads until the response head is complete or the peer closes; returns the status, 0 when it
 * closed without an answer, -1 on timeout. body gets what was read (NUL-terminated). */
static int
read_status(int fd, char *buf, size_t len, int timeout_ms)
{
    size_t got = 0;
    uint64_t deadline = mm_now_ns() + (uint64_t)timeout_ms * 1000000;
    buf[0] = 0;
    while (got + 1 < len) {
        uint64_t now = mm_now_ns();
        if (now >= deadline)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)((deadline - now) / 1000000) + 1) <= 0)
            continue;
        ssize_t n = recv(fd, buf + got, len - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n") != NULL)
            break;
    }
    int status = 0;
    if (got > 12 && sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    return status;
}

/* A head of about len bytes: a request line and one long header; complete: ends with a blank line. */
static char *
make_head(size_t len, bool complete)
{
    char *h = malloc(len + 64);
    int n = snprintf(h, 64, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(h + n, 'a', len);
    size_t end = len > (size_t)n + 4 ? len - 4 : (size_t)n;
    memcpy(h + end, complete ? "\r\n\r\n" : "aaaa", 5);
    return h;
}

static long long
refusals(uint16_t port, const char *reason)
{
    char sample[128];
    snprintf(sample, sizeof(sample), "mm_front_refusals_total{reason=\"%s\"}", reason);
    return fh_metric(port, sample);
}

/* ---- the flood, against a front in a child process ---- */

static void
flood(int addresses, size_t bytes)
{
    bool held = bytes < 16384; /* heads under --max-header-bytes: admitted and held, not refused */
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--trusted-proxy", "none", NULL, NULL, 0) == 1);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    unsigned long nofile = rl.rlim_max >= 4096 ? 4096 : rl.rlim_max;
    fc_child c;
    fc_start(&c, &cfg, nofile);
    mm_http_resp r;
    MM_REQUIRE(mm_http_get(c.port, "/healthz", &r, T) == 0 && r.status == 200);
    mm_http_resp_free(&r);
    long start = fc_status_kb(c.pid, "VmRSS");

    char *head = make_head(bytes, false);
    static int fds[FLOOD];
    size_t sent = 0;
    for (int i = 0; i < FLOOD; i++) {
        fds[i] = open_from(c.port, addresses > 1 ? 1 + i % addresses : 1);
        MM_REQUIRE(fds[i] >= 0);
        sent += send_some(fds[i], head, bytes);
    }
    long long total = -1;
    uint64_t deadline = mm_now_ns() + 20000000000ull;
    if (held) { /* wait until the front has read every head (it grows while it does) */
        long prev = -1, now = fc_status_kb(c.pid, "VmRSS");
        while (now != prev && mm_now_ns() < deadline) {
            mm_test_sleep_ms(200);
            prev = now;
            now = fc_status_kb(c.pid, "VmRSS");
        }
    }
    long peak = fc_status_kb(c.pid, "VmHWM");
    /* every connection was refused: its head (431), its address (503) or the heads' total */
    do {
        if (held)
            break;
        long long a = refusals(c.port, "header_too_large"), b = refusals(c.port, "ip_connections"),
                  m = refusals(c.port, "header_memory");
        total = a < 0 || b < 0 || m < 0 ? -1 : a + b + m;
        if (total != FLOOD)
            mm_test_sleep_ms(20);
    } while (total != FLOOD && mm_now_ns() < deadline);
    if (!held)
        MM_CHECK_INT(total, ==, FLOOD);
    long long by_ip = refusals(c.port, "ip_connections");
    if (addresses > 1)
        MM_CHECK_INT(by_ip, ==, 0); /* 4 connections per address at most: under the cap */
    for (int i = 0; i < FLOOD; i++)
        close(fds[i]);
    free(head);
    /* after they closed, the memory comes back (polled, bounded) */
    long after = fc_status_kb(c.pid, "VmRSS");
    deadline = mm_now_ns() + 20000000000ull;
    while (after > start + 4 * 1024 && mm_now_ns() < deadline) {
        mm_test_sleep_ms(50);
        after = fc_status_kb(c.pid, "VmRSS");
    }
    MM_REQUIRE(mm_http_get(c.port, "/healthz", &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 200); /* still serving */
    mm_http_resp_free(&r);
    printf("flood from %d address(es): %d connections of %zu bytes, %zu bytes sent; RSS start %ld kB, peak %ld kB (+%ld kB), "
           "after close %ld kB; refused by ip cap %lld\n",
           addresses, FLOOD, bytes, sent, start, peak, peak - start, after, by_ip);
    if (CHECK_MEMORY) {
        MM_CHECK_INT(peak - start, <, 64 * 1024);
        MM_CHECK_INT(after - start, <, (held ? 4 : 16) * 1024); /* held: 16 MB were in use, all given back */
    }
    MM_CHECK_INT(fc_stop(&c), ==, 0);
}

/* ---- the limits one by one, against a front in this process ---- */

static void
per_address_cap(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--trusted-proxy", "none", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--max-connections-per-ip", "4", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    int fds[4];
    for (int i = 0; i < 4; i++)
        MM_REQUIRE((fds[i] = open_from(h.port, 7)) >= 0);
    char buf[1024];
    int fd = open_from(h.port, 7);
    MM_REQUIRE(fd >= 0);
    MM_CHECK_INT(read_status(fd, buf, sizeof(buf), T), ==, 503); /* before it sent anything */
    MM_CHECK(strstr(buf, "too many connections from your address") != NULL);
    close(fd);
    /* another address is served meanwhile */
    fd = open_from(h.port, 8);
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_some(fd, get, sizeof(get) - 1);
    MM_CHECK_INT(read_status(fd, buf, sizeof(buf), T), ==, 200);
    close(fd);
    /* a closed connection gives its place back */
    close(fds[0]);
    int status = -1;
    uint64_t deadline = mm_now_ns() + 5000000000ull;
    while (status != 200 && mm_now_ns() < deadline) {
        fd = open_from(h.port, 7);
        send_some(fd, get, sizeof(get) - 1);
        status = read_status(fd, buf, sizeof(buf), T);
        close(fd);
    }
    MM_CHECK_INT(status, ==, 200);
    MM_CHECK_INT(refusals(h.port, "ip_connections"), >=, 1);
    for (int i = 1; i < 4; i++)
        close(fds[i]);
    fh_stop(&h, 0);

    /* a trusted proxy (loopback by default) is not capped */
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--max-connections-per-ip", "2", NULL, NULL, 0) == 1);
    fh_start(&h, &cfg);
    int held[6];
    for (int i = 0; i < 6; i++)
        MM_REQUIRE((held[i] = open_from(h.port, 9)) >= 0);
    fd = open_from(h.port, 9);
    send_some(fd, get, sizeof(get) - 1);
    MM_CHECK_INT(read_status(fd, buf, sizeof(buf), T), ==, 200);
    close(fd);
    for (int i = 0; i < 6; i++)
        close(held[i]);
    MM_CHECK_INT(refusals(h.port, "ip_connections"), ==, 0);
    fh_stop(&h, 0);
}

static void
header_budget(void)
{
    fh h;
    fh_start(&h, NULL); /* --max-header-bytes 16384 */
    char buf[1024];
    /* an unfinished head past the budget */
    char *big = make_head(20000, false);
    int fd = open_from(h.port, 0);
    send_some(fd, big, 20000);
    MM_CHECK_INT(read_status(fd, buf, sizeof(buf), T), ==, 431);
    MM_CHECK(strstr(buf, "request headers too large") != NULL || buf[0] == 0);
    close(fd);
    free(big);
    /* a complete head past the budget */
    big = make_head(17000, true);
    fd = open_from(h.port, 0);
    send_some(fd, big, 17000);
    MM_CHECK_INT(read_status(fd, buf, sizeof(buf), T), ==, 431);
    close(fd);
    free(big);
    /* a head under the budget, sent in pieces */
    big = make_head(15000, true);
    fd = open_from(h.port, 0);
    for (size_t at = 0; at < 15000; at += 1000) {
        send_some(fd, big + at, 1000);
        mm_test_sleep_ms(1);
    }
    MM_CHECK_INT(read_status(fd, buf, sizeof(buf), T), ==, 200);
    free(big);
    /* a WebSocket accepted after that keep-alive socket: it moves behind it in the loop's socket
     * list, where the sweep stops (WebSockets are never swept), so the sweep still reaches it */
    mm_ws_client ws;
    MM_CHECK_INT(mm_ws_connect(&ws, h.port, "/matchmaker/ws", NULL, T), ==, 0);
    /* a keep-alive follow-up head past the budget: h2o reads it, the sweep cuts it */
    big = make_head(100000, false);
    send_some(fd, big, 100000);
    MM_CHECK_INT(read_status(fd, buf, sizeof(buf), T), ==, 0); /* closed, no answer, well before h2o's 10 s */
    close(fd);
    free(big);
    mm_ws_close(&ws);
    MM_CHECK_INT(refusals(h.port, "header_too_large"), ==, 3);
    fh_stop(&h, 0);

    /* the heads' total: 1 MiB holds about 64 heads of 10 KB (each in a 16 KiB buffer) */
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--max-header-bytes-total", "1048576", NULL, NULL, 0) == 1);
    fh_start(&h, &cfg);
    char *part = make_head(10000, false);
    static int fds[200];
    int refused = 0;
    for (int i = 0; i < 200; i++) {
        fds[i] = open_from(h.port, 0);
        MM_REQUIRE(fds[i] >= 0);
        send_some(fds[i], part, 10000);
    }
    for (int i = 0; i < 200; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        if (poll(&p, 1, i == 199 ? 1000 : 0) == 1 && read_status(fds[i], buf, sizeof(buf), T) == 503 &&
            strstr(buf, "too many requests being read") != NULL)
            refused++;
    }
    /* the last ones cannot all have been admitted: wait for the count to settle */
    long long counted = -1;
    uint64_t deadline = mm_now_ns() + 5000000000ull;
    while ((counted = refusals(h.port, "header_memory")) < 1 && mm_now_ns() < deadline)
        mm_test_sleep_ms(20);
    printf("heads' total 1 MiB: %lld of 200 heads of 10 KB refused (%d answers read)\n", counted, refused);
    MM_CHECK_INT(counted, >=, 100);
    MM_CHECK_INT(counted, <=, 160);
    MM_CHECK_INT(refused, >=, 1);
    for (int i = 0; i < 200; i++)
        close(fds[i]);
    free(part);
    fh_stop(&h, 0);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    MM_REQUIRE(rl.rlim_cur >= FLOOD + 64);
    flood(1, FLOOD_BYTES); /* children first: fork before this process starts any thread */
    flood(250, FLOOD_BYTES);
    flood(250, 15000); /* heads under the limit, held open: 4 per address, under the cap */
    per_address_cap();
    header_budget();
    return MM_TEST_DONE();
}
