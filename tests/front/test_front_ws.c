/*
 * The WebSocket route end to end: a real front on a loopback port, the scripted backend, and the
 * hand-written client. Exact message bytes and the 1000 "Goodbye" close; client IP resolution;
 * backend refusals; ordering of many messages with many clients at once; a client that leaves
 * mid-stream (its late messages dropped by id, nothing else disturbed).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_harness.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000

static const char *const happy_texts[] = {
    "\"Acknowledged\"",
    "{\"SessionRequestAccepted\":\"950dd2eaff09-S\"}",
    "{\"ProgressReport\":\"Status.SEEKING (0)\"}",
    "{\"ProgressReport\":\"Status.READY (1)\"}",
    "{\"SessionReady\":{\"token\":\"AAAA\",\"ip\":\"172.104.236.32\",\"port\":30004,\"cert_digest\":\"e3:76:aa\"}}",
};

static void
test_happy(fh *h)
{
    char texts[16][512];
    int code;
    int n = fh_ws_session(h->port, NULL, NULL, "{\"game\":\"happy\",\"version\":\"1\"}", texts, 16, &code, T);
    MM_CHECK_INT(n, ==, 5);
    for (int i = 0; i < 5 && i < n; i++)
        MM_CHECK_STR(texts[i], happy_texts[i]);
    MM_CHECK_INT(code, ==, 1000);
    tb_record rec;
    MM_REQUIRE(tb_request(h->tb, tb_submitted(h->tb) - 1, &rec));
    MM_CHECK_INT(rec.route, ==, MM_FRONT_WS);
    MM_CHECK_STR(rec.req.game, "happy");
    MM_CHECK_STR(rec.req.version, "1");
    MM_CHECK(rec.req.has_client_ip);
    MM_CHECK_STR(rec.req.client_ip, "81.128.157.100"); /* loopback peer: the fake IP */
    MM_CHECK(rec.id != 0);
}

/* The close frame carries "Goodbye", and the seed's message with its client_ip works verbatim. */
static void
test_seed_message(fh *h)
{
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(mm_ws_connect(c, h->port, "/matchmaker/ws", NULL, T) == 0);
    MM_REQUIRE(mm_ws_send_text(c, "{\"client_ip\":\"81.128.157.123\",\"game\":\"bevygap-spaceships\",\"version\":\"1\"}") == 0);
    int texts = 0;
    mm_ws_msg m;
    while (mm_ws_recv(c, &m, T) == 1) {
        if (m.opcode == MM_WS_OP_CLOSE) {
            MM_CHECK_INT(m.close_code, ==, 1000);
            MM_CHECK_STR(m.data, "Goodbye");
            mm_ws_msg_free(&m);
            break;
        }
        texts++;
        mm_ws_msg_free(&m);
    }
    MM_CHECK_INT(texts, ==, 5);
    MM_CHECK_INT(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_CLOSE, "\x03\xe8", 2, true), ==, 0);
    MM_CHECK_INT(mm_ws_wait_eof(c, T), ==, 0); /* the server closes the TCP connection after the handshake */
    mm_ws_close(c);
    free(c);
    tb_record rec;
    MM_REQUIRE(tb_request(h->tb, tb_submitted(h->tb) - 1, &rec));
    MM_CHECK_STR(rec.req.client_ip, "81.128.157.123");
    MM_CHECK_STR(rec.req.game, "bevygap-spaceships");
}

static void
test_backend_answers(fh *h)
{
    char texts[16][512];
    int code;
    int n = fh_ws_session(h->port, NULL, NULL, "{\"game\":\"error\",\"version\":\"1\"}", texts, 16, &code, T);
    MM_CHECK_INT(n, ==, 2);
    MM_CHECK_STR(texts[0], "\"Acknowledged\"");
    MM_CHECK_STR(texts[1], "{\"Error\":[500,\"the test backend failed\"]}");
    MM_CHECK_INT(code, ==, 1000);

    n = fh_ws_session(h->port, NULL, NULL, "{\"game\":\"busy\",\"version\":\"1\"}", texts, 16, &code, T);
    MM_CHECK_INT(n, ==, 1);
    MM_CHECK_STR(texts[0], "{\"Error\":[503,\"the matchmaker is busy, try again\"]}");
    MM_CHECK_INT(code, ==, 1000);

    n = fh_ws_session(h->port, NULL, NULL, "{\"game\":\"sync\",\"version\":\"1\"}", texts, 16, &code, T);
    MM_CHECK_INT(n, ==, 1);
    MM_CHECK_STR(texts[0], "{\"Error\":[503,\"no responders\"]}");
    MM_CHECK_INT(code, ==, 1000);
}

/* ---- many clients, many messages ---- */

#define CLIENTS 24
#define MESSAGES 400

typedef struct worker_arg {
    uint16_t port;
    int ok;
} worker_arg;

static void *
many_worker(void *p)
{
    worker_arg *a = p;
    mm_ws_client *c = malloc(sizeof(*c));
    char first[128];
    snprintf(first, sizeof(first), "{\"game\":\"many\",\"version\":\"%d\"}", MESSAGES);
    if (mm_ws_connect(c, a->port, "/matchmaker/ws", NULL, T) != 0 || mm_ws_send_text(c, first) != 0) {
        mm_ws_close(c);
        free(c);
        return NULL;
    }
    int next = 0;
    bool in_order = true;
    mm_ws_msg m;
    while (mm_ws_recv(c, &m, 20000) == 1) {
        if (m.opcode == MM_WS_OP_CLOSE) {
            a->ok = in_order && next == MESSAGES && m.close_code == 1000;
            mm_ws_msg_free(&m);
            break;
        }
        char want[64];
        snprintf(want, sizeof(want), "{\"ProgressReport\":\"n (%d)\"}", next);
        if (strcmp(m.data, want) != 0)
            in_order = false;
        next++;
        mm_ws_msg_free(&m);
    }
    mm_ws_close(c);
    free(c);
    return NULL;
}

static void
test_many(fh *h)
{
    pthread_t th[CLIENTS];
    worker_arg args[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (worker_arg){.port = h->port};
        pthread_create(&th[i], NULL, many_worker, &args[i]);
    }
    int good = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        good += args[i].ok;
    }
    MM_CHECK_INT(good, ==, CLIENTS);
}

/* ---- a client that leaves mid-stream ---- */

static void
test_client_leaves(fh *h)
{
    long long dropped0 = fh_metric(h->port, "mm_front_relay_dropped_total");
    long long gone0 = fh_metric(h->port, "mm_front_requests_total{route=\"ws\",outcome=\"client_gone\"}");
    size_t before = tb_submitted(h->tb), reports0 = tb_gone_reports(h->tb);
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(mm_ws_connect(c, h->port, "/matchmaker/ws", NULL, T) == 0);
    MM_REQUIRE(mm_ws_send_text(c, "{\"game\":\"held\",\"version\":\"1\"}") == 0);
    MM_REQUIRE(tb_wait_submitted(h->tb, before + 1, T));
    MM_REQUIRE(tb_wait_held(h->tb, 1, T)); /* the backend holds it and watches its sink */
    mm_ws_close(c); /* abrupt: no close frame */
    free(c);
    /* the front notices (EOF), ends the request and detaches its sink */
    long long gone = gone0;
    for (int i = 0; i < 500 && gone == gone0; i++)
        gone = fh_metric(h->port, "mm_front_requests_total{route=\"ws\",outcome=\"client_gone\"}");
    MM_CHECK_INT(gone, ==, gone0 + 1);
    for (int i = 0; i < 500 && tb_gone_reports(h->tb) == reports0; i++) /* on the loop, right after the count */
        mm_test_sleep_ms(10);
    MM_CHECK_U64(tb_gone_reports(h->tb), ==, reports0 + 1); /* the sink told its backend, once */
    MM_CHECK_INT(tb_release(h->tb), ==, 1); /* the backend answers late: dropped by the sink */
    MM_CHECK_INT(fh_metric(h->port, "mm_front_relay_dropped_total"), >=, dropped0 + 5);
    test_happy(h); /* nothing else is disturbed */
}

int
main(void)
{
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-rate", "100000", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-burst", "100000", NULL, NULL, 0) == 1);
    MM_REQUIRE(mm_front_config_flag(&cfg, "per-ip-concurrent", "1000", NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    test_happy(&h);
    test_seed_message(&h);
    test_backend_answers(&h);
    test_many(&h);
    test_client_leaves(&h);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_requests_total{route=\"ws\",outcome=\"ok\"}"), >=, 3 + CLIENTS);
    fh_stop(&h, 1000);

    /* a relay ring of one slot: wake-ups overflow and the loop scans; nothing is lost or reordered */
    cfg.relay_ring_capacity = 1;
    fh_start(&h, &cfg);
    test_many(&h);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_relay_ring_full_total"), >, 0);
    test_client_leaves(&h);
    fh_stop(&h, 1000);
    cfg.relay_ring_capacity = 4095;

    /* two event loops serve the same port */
    MM_REQUIRE(mm_front_config_flag(&cfg, "http-threads", "2", NULL, NULL, 0) == 1);
    fh_start(&h, &cfg);
    test_happy(&h);
    test_many(&h);
    fh_stop(&h, 1000);
    return MM_TEST_DONE();
}
