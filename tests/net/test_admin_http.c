/*
 * The admin listener (include/mm/admin_http.h) on a kernel-chosen loopback port: /metrics is the
 * render callback's text, /healthz 200, /readyz follows ready() and says 503 "stopping" once a
 * stop began, 404 and 405 elsewhere; a bad address is a clear error; more than
 * MM_ADMIN_HTTP_MAX_CONNS connections at once: the extra ones are closed, the others still
 * served; destroy with connections open returns and leaks nothing (ASan), scraped from another
 * thread than the one rendering (TSan).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm/admin_http.h"
#include "mm_test.h"
#include "mm_test_http.h"

static atomic_bool ready_now;
static atomic_int renders;

static size_t
render(void *ctx, char *buf, size_t len)
{
    (void)ctx;
    atomic_fetch_add(&renders, 1);
    int n = snprintf(buf, len, "# HELP x_total X.\n# TYPE x_total counter\nx_total 7\n");
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static bool
ready(void *ctx)
{
    (void)ctx;
    return atomic_load(&ready_now);
}

static long
call(uint16_t port, const char *method, const char *path, char *body, size_t body_len)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    mm_test_http_req req = {.method = method, .url = url, .timeout_ms = 5000};
    mm_test_http_resp r;
    long status = mm_test_http(&req, &r);
    if (body != NULL)
        snprintf(body, body_len, "%s", r.body);
    mm_test_http_free(&r);
    return status;
}

static uint16_t the_port;
static char stop_body[64];

/* /readyz answered 503 (a slot freed once the listener saw a client close). */
static bool
readyz_says_stopping(void *arg)
{
    (void)arg;
    return call(the_port, NULL, "/readyz", stop_body, sizeof(stop_body)) == 503;
}

static bool
metrics_served(void *arg)
{
    (void)arg;
    return call(the_port, NULL, "/metrics", NULL, 0) == 200;
}

static int
connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int
main(void)
{
    char why[200];
    mm_admin_http *a = NULL;
    mm_admin_http_config bad = {.bind = "nowhere:1", .render = render};
    MM_CHECK_INT(mm_admin_http_start(&bad, &a, why, sizeof(why)), ==, MM_ERR_IO);
    MM_CHECK(strstr(why, "nowhere") != NULL);
    MM_CHECK(a == NULL);
    mm_admin_http_config none = {.bind = "127.0.0.1:0"};
    MM_CHECK_INT(mm_admin_http_start(&none, &a, why, sizeof(why)), ==, MM_ERR_INVALID);

    mm_admin_http_config cfg = {.bind = "127.0.0.1:0", .render = render, .ready = ready, .name = "test"};
    MM_REQUIRE(mm_admin_http_start(&cfg, &a, why, sizeof(why)) == MM_OK);
    uint16_t port = mm_admin_http_port(a);
    MM_CHECK(port != 0);
    char body[4096];
    MM_CHECK_INT(call(port, NULL, "/metrics", body, sizeof(body)), ==, 200);
    MM_CHECK_STR(body, "# HELP x_total X.\n# TYPE x_total counter\nx_total 7\n");
    MM_CHECK_INT(atomic_load(&renders), ==, 1);
    MM_CHECK_INT(call(port, NULL, "/healthz", body, sizeof(body)), ==, 200);
    MM_CHECK_STR(body, "ok");
    MM_CHECK_INT(call(port, NULL, "/readyz", body, sizeof(body)), ==, 503);
    MM_CHECK_STR(body, "not ready");
    atomic_store(&ready_now, true);
    MM_CHECK_INT(call(port, NULL, "/readyz", body, sizeof(body)), ==, 200);
    MM_CHECK_INT(call(port, NULL, "/", NULL, 0), ==, 404);
    MM_CHECK_INT(call(port, NULL, "/matchmaker/ws", NULL, 0), ==, 404);
    MM_CHECK_INT(call(port, "DELETE", "/metrics", NULL, 0), ==, 405);

    /* more connections than the cap: the listener keeps serving */
    int fds[MM_ADMIN_HTTP_MAX_CONNS + 8];
    int open = 0;
    for (int i = 0; i < MM_ADMIN_HTTP_MAX_CONNS + 8; i++)
        if ((fds[i] = connect_to(port)) >= 0)
            open++;
    MM_CHECK_INT(open, ==, MM_ADMIN_HTTP_MAX_CONNS + 8);
    /* the extra ones are closed at accept: read() sees the end (wait with a bound, no sleep) */
    int closed = 0;
    for (int i = 0; i < MM_ADMIN_HTTP_MAX_CONNS + 8; i++) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 20000};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char c;
        if (read(fds[i], &c, 1) == 0)
            closed++;
    }
    MM_CHECK_INT(closed, >=, 8);
    for (int i = MM_ADMIN_HTTP_MAX_CONNS; i < MM_ADMIN_HTTP_MAX_CONNS + 8; i++)
        close(fds[i]);

    mm_admin_http_stopping(a);
    /* the first cap's worth are still open; a slot frees when one closes */
    close(fds[0]);
    the_port = port;
    MM_CHECK(mm_test_wait_until(readyz_says_stopping, NULL, 20, 5000));
    MM_CHECK_STR(stop_body, "stopping");
    /* /metrics still served while stopping; the slot the /readyz call used frees only once the
     * listener has seen that connection close, so a new connection may be refused until then */
    MM_CHECK(mm_test_wait_until(metrics_served, NULL, 20, 5000));

    mm_admin_http_destroy(a); /* with connections still open */
    for (int i = 1; i < MM_ADMIN_HTTP_MAX_CONNS; i++)
        close(fds[i]);
    MM_CHECK(connect_to(port) < 0);
    mm_admin_http_destroy(NULL);
    mm_test_http_cleanup();
    return mm_test_done();
}
