/*
 * --max-connections above the open-file limit. A front whose process may open
 * only 256 files (soft and hard) must not leave clients hanging in the backlog once its
 * descriptors run out: it lowers max_connections to the limit minus a reserve (here 256 - 64
 * = 192), holds that many idle connections, and answers every connection beyond them with the
 * canned 503, counted as max_connections in /metrics. Before the fix the accepts failed with
 * EMFILE and the extra clients got nothing at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "front_child.h"
#include "front_harness.h"
#include "mm/clock.h"
#include "mm_test.h"

#define NOFILE 256
#define ALLOWED (NOFILE - 64)
#define CLIENTS 300

static int
connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    mm_front_config cfg;
    fh_config(&cfg);
    fc_child c;
    fc_start(&c, &cfg, NOFILE);

    static int fds[CLIENTS];
    static bool answered[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = connect_to(c.port);
        MM_REQUIRE(fds[i] >= 0);
    }
    /* every connection beyond ALLOWED gets the 503 (none hangs); wait for them with a bound */
    int refused = 0, other = 0;
    uint64_t deadline = mm_now_ns() + 10000000000ull;
    while (refused + other < CLIENTS - ALLOWED && mm_now_ns() < deadline) {
        for (int i = 0; i < CLIENTS; i++) {
            char buf[512];
            if (answered[i])
                continue;
            ssize_t n = recv(fds[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                continue;
            answered[i] = true;
            if (n > 0) {
                buf[n] = 0;
                if (strncmp(buf, "HTTP/1.1 503 ", 13) == 0 && strstr(buf, "too many connections") != NULL) {
                    refused++;
                    continue;
                }
            }
            other++;
        }
        mm_test_sleep_ms(10);
    }
    printf("fd limit %d: %d of %d connections refused with 503, %d otherwise ended\n", NOFILE, refused, CLIENTS, other);
    MM_CHECK_INT(refused, ==, CLIENTS - ALLOWED);
    MM_CHECK_INT(other, ==, 0);
    /* the ones admitted are still open and idle */
    int idle = 0;
    for (int i = 0; i < CLIENTS; i++) {
        char b;
        if (!answered[i] && recv(fds[i], &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN)
            idle++;
    }
    MM_CHECK_INT(idle, ==, ALLOWED);
    /* /metrics over one of the admitted connections (a new one would be refused, and counted) */
    long long counted = -1;
    for (int i = 0; i < CLIENTS && counted < 0; i++) {
        if (answered[i])
            continue;
        static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        MM_REQUIRE(send(fds[i], get, sizeof(get) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(get) - 1);
        static char page[1 << 17];
        size_t got = 0;
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ssize_t n;
        while (got + 1 < sizeof(page) && (n = recv(fds[i], page + got, sizeof(page) - 1 - got, 0)) > 0)
            got += (size_t)n;
        page[got] = 0;
        const char *at = strstr(page, "mm_front_refusals_total{reason=\"max_connections\"} ");
        if (at != NULL)
            counted = strtoll(strchr(at, ' ') + 1, NULL, 10);
        break;
    }
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    MM_CHECK_INT(counted, ==, CLIENTS - ALLOWED);
    MM_CHECK_INT(fc_stop(&c), ==, 0);
    return MM_TEST_DONE();
}
