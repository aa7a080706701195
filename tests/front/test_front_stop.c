/*
 * Stopping the web front with clients in every state: requests still open at the deadline are
 * answered Error(503) on each route (WebSocket text + close 1000, a chunk, HTTP 503); a
 * WebSocket still waiting for its first message gets `ERR` and close 1001; idle keep-alive
 * connections are closed; requests that finish before the deadline finish normally; nothing
 * accepts afterwards; the backend's late answers and frees after the stop are harmless. From the
 * moment the stop begins (while a request is still in flight) a new connection is refused at
 * once and /readyz answers 503 on a connection that was already open.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_harness.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000

typedef struct stopper {
    mm_front *front;
    uint32_t deadline_ms;
    pthread_t thread;
} stopper;

static void *
stop_main(void *p)
{
    stopper *s = p;
    mm_front_stop(s->front, s->deadline_ms);
    return NULL;
}

static void
stop_async(stopper *s, mm_front *front, uint32_t deadline_ms)
{
    s->front = front;
    s->deadline_ms = deadline_ms;
    pthread_create(&s->thread, NULL, stop_main, s);
}

static mm_ws_client *
ws_with(fh *h, const char *game)
{
    size_t before = tb_submitted(h->tb);
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(mm_ws_connect(c, h->port, "/matchmaker/ws", NULL, T) == 0);
    if (game != NULL) {
        char first[96];
        snprintf(first, sizeof(first), "{\"game\":\"%s\",\"version\":\"1\"}", game);
        MM_REQUIRE(mm_ws_send_text(c, first) == 0);
        MM_REQUIRE(tb_wait_submitted(h->tb, before + 1, T));
    }
    return c;
}

/* Reads to the close; returns the texts' count and copies the last one. */
static int
drain_ws(mm_ws_client *c, char *last, size_t last_len, int *code)
{
    int n = 0;
    mm_ws_msg m;
    *code = -1;
    while (mm_ws_recv(c, &m, T) == 1) {
        if (m.opcode == MM_WS_OP_CLOSE) {
            *code = m.close_code;
            mm_ws_msg_free(&m);
            break;
        }
        snprintf(last, last_len, "%s", m.data);
        n++;
        mm_ws_msg_free(&m);
    }
    mm_ws_close(c);
    free(c);
    return n;
}

typedef struct poster {
    uint16_t port;
    const char *path;
    mm_http_resp resp;
    int rc;
    pthread_t thread;
} poster;

static void *
post_main(void *p)
{
    poster *q = p;
    q->rc = mm_http_post(q->port, q->path, NULL, NULL, &q->resp, T);
    return NULL;
}

static void
test_abandon_at_deadline(void)
{
    fh h;
    fh_start(&h, NULL);
    mm_ws_client *w1 = ws_with(&h, "never");
    mm_ws_client *w2 = ws_with(&h, "never");
    mm_ws_client *idle = ws_with(&h, NULL);
    tb_set_wannaplay_script(h.tb, "never");
    poster chunked = {.port = h.port, .path = "/matchmaker/request/never/1"};
    poster wanna = {.port = h.port, .path = "/matchmaker/wannaplay"};
    size_t before = tb_submitted(h.tb);
    pthread_create(&chunked.thread, NULL, post_main, &chunked);
    pthread_create(&wanna.thread, NULL, post_main, &wanna);
    MM_REQUIRE(tb_wait_submitted(h.tb, before + 2, T));
    MM_REQUIRE(tb_wait_held(h.tb, 4, T));
    int keep = mm_tcp_connect(h.port, T); /* an idle keep-alive connection */
    MM_REQUIRE(keep >= 0);

    stopper s;
    stop_async(&s, h.front, 100);
    char last[512] = "";
    int code;
    MM_CHECK_INT(drain_ws(w1, last, sizeof(last), &code), ==, 1);
    MM_CHECK_STR(last, "{\"Error\":[503,\"the matchmaker front is stopping\"]}");
    MM_CHECK_INT(code, ==, 1000);
    MM_CHECK_INT(drain_ws(w2, last, sizeof(last), &code), ==, 1);
    MM_CHECK_INT(drain_ws(idle, last, sizeof(last), &code), ==, 1);
    MM_CHECK_STR(last, "ERR the matchmaker front is stopping");
    MM_CHECK_INT(code, ==, 1001);
    pthread_join(chunked.thread, NULL);
    pthread_join(wanna.thread, NULL);
    MM_CHECK_INT(chunked.rc, ==, 0);
    MM_CHECK_INT(chunked.resp.status, ==, 200);
    MM_CHECK_STR(chunked.resp.body, "{\"Error\":[503,\"the matchmaker front is stopping\"]}\n");
    MM_CHECK_INT(wanna.rc, ==, 0);
    MM_CHECK_INT(wanna.resp.status, ==, 503);
    MM_CHECK_STR(wanna.resp.body, "the matchmaker front is stopping");
    mm_http_resp_free(&chunked.resp);
    mm_http_resp_free(&wanna.resp);
    mm_ws_client k = {.fd = keep};
    MM_CHECK_INT(mm_ws_wait_eof(&k, T), ==, 0);
    mm_ws_close(&k);
    pthread_join(s.thread, NULL);
    MM_CHECK_INT(mm_tcp_connect(h.port, 500), ==, -1); /* no longer accepting */
    /* the backend answers and frees its sinks after the stop: dropped, harmless */
    MM_CHECK_INT(tb_release(h.tb), ==, 4);
    fh_stop(&h, 0);
}

/* One GET on an open connection; returns the status (0 when no answer came). */
static int
get_status_on(int fd, const char *path)
{
    char req[256], buf[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    if (mm_tc_send_all(fd, req, (size_t)n, T) != 0)
        return 0;
    size_t used = 0;
    int64_t deadline = mm_tc_now_ms() + T;
    while (used < 12) {
        int r = mm_tc_read_some(fd, (uint8_t *)buf + used, sizeof(buf) - 1 - used, deadline);
        if (r <= 0)
            return 0;
        used += (size_t)r;
    }
    buf[used] = '\0';
    int status = 0;
    return sscanf(buf, "HTTP/1.1 %d", &status) == 1 ? status : 0;
}

static void
test_refuse_during_drain(void)
{
    fh h;
    fh_start(&h, NULL);
    mm_ws_client *busy = ws_with(&h, "held"); /* in flight all through the drain */
    mm_ws_client *idle = ws_with(&h, NULL);   /* its ERR tells that the loop's stop has begun */
    MM_REQUIRE(tb_wait_held(h.tb, 1, T));
    int keep = mm_tcp_connect(h.port, T); /* a keep-alive connection opened before the stop */
    MM_REQUIRE(keep >= 0);
    MM_CHECK_INT(get_status_on(keep, "/readyz"), ==, 200);

    stopper s;
    stop_async(&s, h.front, 10000);
    char last[512] = "";
    int code;
    MM_CHECK_INT(drain_ws(idle, last, sizeof(last), &code), ==, 1);
    MM_CHECK_STR(last, "ERR the matchmaker front is stopping");
    /* the drain has begun and a request is still open: a new client is refused at once (the
     * kernel answers the SYN with a reset), not left waiting for an answer that never comes */
    MM_CHECK_INT(mm_test_connect_errno(h.port, 2000), ==, ECONNREFUSED);
    MM_CHECK_INT(get_status_on(keep, "/readyz"), ==, 503);
    close(keep);

    MM_CHECK_INT(tb_release(h.tb), ==, 1); /* the request still finishes normally */
    MM_CHECK_INT(drain_ws(busy, last, sizeof(last), &code), ==, 5);
    MM_CHECK(strstr(last, "SessionReady") != NULL);
    pthread_join(s.thread, NULL);
    fh_stop(&h, 0);
}

static void
test_finish_before_deadline(void)
{
    fh h;
    fh_start(&h, NULL);
    mm_ws_client *w = ws_with(&h, "held");
    stopper s;
    stop_async(&s, h.front, 10000);
    /* the stop waits for the open request; once the backend answers, the client gets it all */
    MM_REQUIRE(tb_wait_held(h.tb, 1, T));
    MM_CHECK_INT(tb_release(h.tb), ==, 1);
    char last[512] = "";
    int code;
    MM_CHECK_INT(drain_ws(w, last, sizeof(last), &code), ==, 5);
    MM_CHECK(strstr(last, "SessionReady") != NULL);
    MM_CHECK_INT(code, ==, 1000);
    pthread_join(s.thread, NULL);
    fh_stop(&h, 0);
    mm_front_stop(NULL, 0);
    mm_front_destroy(NULL);
}

static void
test_stop_idle(void)
{
    fh h;
    fh_start(&h, NULL);
    mm_front_stop(h.front, 5000); /* nothing open: returns at once */
    mm_front_stop(h.front, 5000); /* idempotent */
    fh_stop(&h, 0);
}

int
main(void)
{
    test_abandon_at_deadline();
    test_refuse_during_drain();
    test_finish_before_deadline();
    test_stop_idle();
    return MM_TEST_DONE();
}
