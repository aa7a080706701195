/*
 * The admin listener (--admin-bind): /healthz, /readyz and /metrics on an address of their own,
 * nothing else there; the client port keeps its probes; admin connections are outside the
 * clients' max-connections cap (a client flood does not fail the probes); through a stop's
 * drain it stays open and /readyz says 503, while the client port refuses connections; after
 * the stop it is closed. Without the flag there is no admin listener.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "front_harness.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000

static int
get_status(uint16_t port, const char *method, const char *path, char *body, size_t body_len)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, path);
    mm_http_resp r;
    if (mm_http_raw(port, req, (size_t)n, &r, T) != 0)
        return -1;
    int status = r.status;
    if (body != NULL)
        snprintf(body, body_len, "%s", r.body != NULL ? r.body : "");
    mm_http_resp_free(&r);
    return status;
}

static void
admin_config(mm_front_config *cfg)
{
    fh_config(cfg);
    char why[200];
    MM_REQUIRE(mm_front_config_flag(cfg, "--admin-bind", "127.0.0.1:0", NULL, why, sizeof(why)) == 1);
}

static void
test_off_by_default(void)
{
    fh h;
    fh_start(&h, NULL);
    MM_CHECK_INT(mm_front_admin_port(h.front), ==, 0);
    MM_CHECK_INT(get_status(h.port, "GET", "/readyz", NULL, 0), ==, 200);
    fh_stop(&h, 0);
    MM_CHECK_INT(mm_front_admin_port(NULL), ==, 0);
}

static void
test_routes(void)
{
    mm_front_config cfg;
    admin_config(&cfg);
    fh h;
    fh_start(&h, &cfg);
    uint16_t admin = mm_front_admin_port(h.front);
    MM_REQUIRE(admin != 0 && admin != h.port);
    char body[256];
    MM_CHECK_INT(get_status(admin, "GET", "/healthz", body, sizeof(body)), ==, 200);
    MM_CHECK_STR(body, "ok");
    MM_CHECK_INT(get_status(admin, "GET", "/readyz", body, sizeof(body)), ==, 200);
    MM_CHECK_STR(body, "ready");
    tb_set_ready(h.tb, false);
    MM_CHECK_INT(get_status(admin, "GET", "/readyz", NULL, 0), ==, 503);
    tb_set_ready(h.tb, true);
    MM_CHECK(fh_metric(admin, "mm_front_http_requests_total{page=\"healthz\"}") >= 1);
    MM_CHECK_INT(get_status(admin, "POST", "/readyz", NULL, 0), ==, 405);
    /* nothing of the clients' there, whatever the Host header */
    MM_CHECK_INT(get_status(admin, "GET", "/", NULL, 0), ==, 404);
    MM_CHECK_INT(get_status(admin, "GET", "/matchmaker", NULL, 0), ==, 404);
    MM_CHECK_INT(get_status(admin, "POST", "/matchmaker/wannaplay", NULL, 0), ==, 404);
    MM_CHECK_INT(get_status(admin, "POST", "/matchmaker/request/happy/1", NULL, 0), ==, 404);
    mm_ws_client c;
    MM_CHECK_INT(mm_ws_connect(&c, admin, "/matchmaker/ws", "Host: admin\r\n", T), ==, -1);
    MM_CHECK_INT(c.http_status, ==, 404);
    mm_ws_close(&c);
    MM_CHECK_INT(tb_submitted(h.tb), ==, 0);
    /* the client port keeps its probes and its routes (and has no admin-only behaviour) */
    MM_CHECK_INT(get_status(h.port, "GET", "/healthz", NULL, 0), ==, 200);
    MM_CHECK_INT(get_status(h.port, "GET", "/readyz", NULL, 0), ==, 200);
    MM_CHECK_INT(get_status(h.port, "GET", "/matchmaker", NULL, 0), ==, 200);
    fh_stop(&h, 0);
}

/* Client connections at --max-connections: the client port answers 503, the admin port serves. */
static void
test_outside_client_cap(void)
{
    mm_front_config cfg;
    admin_config(&cfg);
    cfg.max_connections = 2;
    fh h;
    fh_start(&h, &cfg);
    uint16_t admin = mm_front_admin_port(h.front);
    int held[2];
    for (int i = 0; i < 2; i++) { /* open and answered once: surely accepted and counted */
        held[i] = mm_tcp_connect(h.port, T);
        MM_REQUIRE(held[i] >= 0);
        const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        MM_REQUIRE(mm_tc_send_all(held[i], req, sizeof(req) - 1, T) == 0);
        uint8_t buf[512];
        MM_REQUIRE(mm_tc_read_some(held[i], buf, sizeof(buf), mm_tc_now_ms() + T) > 0);
    }
    char body[256];
    MM_CHECK_INT(get_status(h.port, "GET", "/healthz", body, sizeof(body)), ==, 503);
    MM_CHECK(strstr(body, "too many connections") != NULL);
    for (int i = 0; i < 5; i++) { /* admin connections neither count nor are refused */
        MM_CHECK_INT(get_status(admin, "GET", "/healthz", NULL, 0), ==, 200);
        MM_CHECK_INT(get_status(admin, "GET", "/readyz", NULL, 0), ==, 200);
    }
    MM_CHECK_INT(fh_metric(admin, "mm_front_connections_open"), ==, 2);
    close(held[0]);
    close(held[1]);
    fh_stop(&h, 0);
}

typedef struct stopper {
    mm_front *front;
    pthread_t thread;
} stopper;

static void *
stop_main(void *p)
{
    stopper *s = p;
    mm_front_stop(s->front, 10000);
    return NULL;
}

static void
test_open_through_drain(void)
{
    mm_front_config cfg;
    admin_config(&cfg);
    fh h;
    fh_start(&h, &cfg);
    uint16_t admin = mm_front_admin_port(h.front);
    mm_ws_client busy, idle;
    MM_REQUIRE(mm_ws_connect(&busy, h.port, "/matchmaker/ws", NULL, T) == 0);
    MM_REQUIRE(mm_ws_send_text(&busy, "{\"game\":\"held\",\"version\":\"1\"}") == 0);
    MM_REQUIRE(tb_wait_held(h.tb, 1, T));
    MM_REQUIRE(mm_ws_connect(&idle, h.port, "/matchmaker/ws", NULL, T) == 0);
    stopper s = {.front = h.front};
    pthread_create(&s.thread, NULL, stop_main, &s);
    mm_ws_msg m;
    MM_REQUIRE(mm_ws_recv(&idle, &m, T) == 1); /* the loop's stop has begun */
    MM_CHECK_STR(m.data, "ERR the matchmaker front is stopping");
    mm_ws_msg_free(&m);
    mm_ws_close(&idle);
    char body[256];
    MM_CHECK_INT(get_status(admin, "GET", "/readyz", body, sizeof(body)), ==, 503);
    MM_CHECK_STR(body, "stopping");
    MM_CHECK_INT(get_status(admin, "GET", "/healthz", NULL, 0), ==, 200);
    MM_CHECK_INT(mm_test_connect_errno(h.port, 2000), ==, ECONNREFUSED);
    MM_CHECK_INT(tb_release(h.tb), ==, 1);
    int texts = 0;
    while (mm_ws_recv(&busy, &m, T) == 1) {
        bool close_frame = m.opcode == MM_WS_OP_CLOSE;
        mm_ws_msg_free(&m);
        if (close_frame)
            break;
        texts++;
    }
    MM_CHECK_INT(texts, ==, 5);
    mm_ws_close(&busy);
    pthread_join(s.thread, NULL);
    MM_CHECK_INT(mm_test_connect_errno(admin, 2000), ==, ECONNREFUSED); /* closed at the end */
    fh_stop(&h, 0);
}

int
main(void)
{
    test_off_by_default();
    test_routes();
    test_outside_client_cap();
    test_open_through_drain();
    return MM_TEST_DONE();
}
