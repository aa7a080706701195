/*
 * The waiting room in split mode (bevygap_matchmaker_httpd in front, the matchmaker behind it
 * over NATS; docs/protocol.md section 3, "Cancel", and section 5), with a real nats-server,
 * edgegap_sim and gameserver_sim, a budget of 1 Edgegap request/s so that players wait, and
 * the web front's limits scaled down (--matchmaker-timeout-ms 2500, --request-timeout-ms 3000):
 *   - leave and long wait: six WebSocket players through the web front and one NATS player the
 *     reference front's way (no Mm-Heartbeat-Ms). The third WebSocket player closes its socket
 *     while in line: its front cancels, it leaves the line at once and costs no Edgegap call
 *     (the simulator made 6 sessions for 6 players served; mm_waiting_room_left_total 1 on the
 *     matchmaker's /metrics; "1 left" on its stop line; the web front's mm_bridge_cancels_total
 *     1). The last players wait in line longer than both scaled-down whole-request limits and
 *     are still served: the limits count from the last waiting-room report. The NATS player
 *     gets the reference's byte stream (a heartbeat would look like its end) and is served.
 *     Liveness is per process: one heartbeat per WebSocket request (mm_reply_heartbeats_total 6
 *     on the matchmaker, mm_bridge_heartbeats_total 6 on the front) however long they waited,
 *     and the process's mm.alive messages meanwhile (mm_replica_alive_total).
 *   - the bound: with --max-line-wait-ms 1000 and five WebSocket players at once, those still in
 *     line after a second get Error 503 "waited too long in line, try again", and no Edgegap
 *     call is made for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_harness.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/reply.h"

#define WS_PLAYERS 6
#define LEAVER 2 /* the third */

typedef struct ws_player {
    mm_ws_client ws;
    bool in_line, ready, too_long;
    uint64_t first_line_ms, accepted_ms;
    char error[256];
} ws_player;

static const char ws_req[] = "{\"game\":\"" H_APP "\",\"version\":\"" H_VERSION "\",\"client_ip\":\"81.2.3.4\"}";

static void
ws_open(ws_player *p, int port)
{
    memset(p, 0, sizeof(*p));
    MM_REQUIRE(mm_ws_connect(&p->ws, (uint16_t)port, "/matchmaker/ws", NULL, 5000) == 0);
    MM_REQUIRE(mm_ws_send_text(&p->ws, ws_req) == 0);
}

/* Reads p's texts until its first waiting-room report (true), or its end. */
static bool
ws_until_line(ws_player *p)
{
    for (int i = 0; i < 50; i++) {
        mm_ws_msg m = {0};
        if (mm_ws_recv(&p->ws, &m, 10000) != 1)
            return false;
        bool text = m.opcode == MM_WS_OP_TEXT;
        bool line = text && strstr(m.data, "Waiting in line: position") != NULL;
        bool end = !text || strstr(m.data, "\"Error\"") != NULL || strstr(m.data, "SessionReady") != NULL;
        mm_ws_msg_free(&m);
        if (line) {
            p->in_line = true;
            p->first_line_ms = mm_now_ms();
            return true;
        }
        if (end)
            return false;
    }
    return false;
}

/* Reads p's texts until SessionReady or an error (or its close). */
static void
ws_until_end(ws_player *p)
{
    for (int i = 0; i < 400; i++) {
        mm_ws_msg m = {0};
        if (mm_ws_recv(&p->ws, &m, 20000) != 1)
            return;
        if (m.opcode != MM_WS_OP_TEXT) {
            mm_ws_msg_free(&m);
            return;
        }
        if (strstr(m.data, "Waiting in line: position") != NULL && !p->in_line) {
            p->in_line = true;
            p->first_line_ms = mm_now_ms();
        }
        if (strstr(m.data, "SessionRequestAccepted") != NULL)
            p->accepted_ms = mm_now_ms();
        bool ready = strstr(m.data, "SessionReady") != NULL;
        bool err = strstr(m.data, "\"Error\"") != NULL;
        if (err) {
            snprintf(p->error, sizeof(p->error), "%.250s", m.data);
            p->too_long = strstr(m.data, "[503,\"waited too long in line, try again\"]") != NULL;
        }
        mm_ws_msg_free(&m);
        if (ready || err) {
            p->ready = ready;
            return;
        }
    }
}

static long long
metric(int port, const char *name)
{
    char url[128], body[65536], prefix[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    if (h_http_get(url, body, sizeof(body)) != 200)
        return -1;
    snprintf(prefix, sizeof(prefix), "\n%s ", name);
    const char *at = strstr(body, prefix);
    return at != NULL ? atoll(at + strlen(prefix)) : -1;
}

static void
start_split(harness *h, hd_proc *front, int *mm_admin, int *front_admin, const char *max_line_wait)
{
    h_start_nats(h);
    h_start_sim(h, "0", NULL);
    h_start_gameserver(h);
    static char mm_bind[64], front_bind[64];
    *mm_admin = mm_test_free_port();
    *front_admin = mm_test_free_port();
    snprintf(mm_bind, sizeof(mm_bind), "127.0.0.1:%d", *mm_admin);
    snprintf(front_bind, sizeof(front_bind), "127.0.0.1:%d", *front_admin);
    const char *mm_extra[] = {"--edgegap-budget", "1", "--fleet-heartbeat-ms", "100", "--admin-bind", mm_bind,
                              "--max-line-wait-ms", max_line_wait, NULL};
    h_start_matchmaker(h, mm_extra);
    h_connect(h);
    const char *front_extra[] = {"--admin-bind", front_bind, NULL};
    hd_start(h, front, front_extra);
}

static void
test_leave_and_long_wait(void)
{
    harness h = {0};
    hd_proc front;
    int mm_admin, front_admin;
    start_split(&h, &front, &mm_admin, &front_admin, "60000");
    static ws_player ps[WS_PLAYERS];
    for (int i = 0; i < WS_PLAYERS; i++)
        ws_open(&ps[i], front.port);
    h_stream ref = {0};
    h_stream_open(&h, &ref, "81.2.3.5"); /* the reference front's way: no heartbeats asked */
    /* the others wait behind the first (1 request/s): the third, about 2 s from its turn, leaves */
    MM_CHECK(ws_until_line(&ps[LEAVER]));
    mm_ws_send_frame(&ps[LEAVER].ws, 0x88, "\x03\xe8", 2, true);
    mm_ws_close(&ps[LEAVER].ws);
    for (int i = 0; i < WS_PLAYERS; i++) {
        if (i == LEAVER)
            continue;
        ws_until_end(&ps[i]);
        printf("player %d: %s%s\n", i + 1, ps[i].ready ? "ready" : "error ", ps[i].error);
        MM_CHECK(ps[i].ready);
        mm_ws_close(&ps[i].ws);
    }
    MM_CHECK(h_stream_wait(&ref, H_UNTIL_END, 30000));
    MM_CHECK(h_stream_ready(&ref));
    h_stream_close(&ref);
    MM_CHECK_INT(h_sim_counter(&h, NULL, "sessions_created"), ==, (WS_PLAYERS - 1) + 1); /* the leaver's none; the NATS player's one */
    MM_CHECK_INT(metric(mm_admin, "mm_waiting_room_left_total"), ==, 1);
    MM_CHECK_INT(metric(front_admin, "mm_bridge_cancels_total"), ==, 1);
    /* liveness per process (include/mm/reply.h, "Liveness"): the players waited seconds in line,
     * yet each stream carried one heartbeat; the process spoke for all of them on mm.alive */
    MM_CHECK_INT(metric(mm_admin, "mm_reply_heartbeats_total"), ==, WS_PLAYERS);
    MM_CHECK_INT(metric(mm_admin, "mm_replica_alive_total"), >=, 3);
    MM_CHECK_INT(metric(front_admin, "mm_bridge_heartbeats_total"), ==, WS_PLAYERS);
    MM_CHECK_INT(metric(front_admin, "mm_bridge_replica_alive_total"), >=, 3);
    MM_CHECK_INT(hd_stop(&front, 10000), ==, 0);
    MM_CHECK_INT(mm_test_stop(h.mm, 15000), ==, 0);
    h.mm = 0;
    MM_CHECK(h_file_contains(h.mm_log, "1 left"));
    if (!h_file_contains(h.mm_log, "1 left"))
        h_dump_log(h.mm_log, 20);
    h_stop(&h);
}

static void
test_too_long(void)
{
    harness h = {0};
    hd_proc front;
    int mm_admin, front_admin;
    start_split(&h, &front, &mm_admin, &front_admin, "1000");
    static ws_player ps[5];
    for (int i = 0; i < 5; i++)
        ws_open(&ps[i], front.port);
    int ready = 0, too_long = 0;
    for (int i = 0; i < 5; i++) {
        ws_until_end(&ps[i]);
        printf("player %d: %s%s\n", i + 1, ps[i].ready ? "ready" : "error ", ps[i].error);
        ready += ps[i].ready;
        too_long += ps[i].too_long;
        MM_CHECK(ps[i].ready || ps[i].too_long);
        mm_ws_close(&ps[i].ws);
    }
    /* 1 at once and 1 a second: the last three waited more than a second */
    MM_CHECK(ready >= 1 && too_long >= 2);
    MM_CHECK_INT(h_sim_counter(&h, NULL, "sessions_created"), ==, ready);
    MM_CHECK_INT(hd_stop(&front, 10000), ==, 0);
    MM_CHECK_INT(mm_test_stop(h.mm, 15000), ==, 0);
    h.mm = 0;
    char line[96];
    snprintf(line, sizeof(line), "%d waited too long", too_long);
    MM_CHECK(h_file_contains(h.mm_log, line));
    h_stop(&h);
}

/* The stand-in's line report to its player. */
static void
send_line_report(mm_reply_sink *sink, uint64_t start_ms)
{
    char *text = NULL;
    size_t len = 0;
    MM_REQUIRE(mm_feedback_progress("Waiting in line: position 1 of 1, about 1 s", (int64_t)((mm_now_ms() - start_ms) / 1000), &text,
                                    &len) == MM_OK);
    MM_REQUIRE(mm_reply_send(sink, text, len) == MM_OK);
    free(text);
}

/* The stand-in takes the front's next request: a stream sink on its reply subject, with heartbeats as asked. */
static mm_reply_sink *
stand_in_take(natsConnection *nc, natsSubscription *sub, mm_reply_heartbeat *hb)
{
    natsMsg *req = NULL;
    MM_REQUIRE(natsSubscription_NextMsg(&req, sub, 10000) == NATS_OK);
    uint32_t interval = 0;
    MM_REQUIRE(mm_reply_heartbeat_asked(req, &interval, NULL, 0) == MM_OK);
    MM_REQUIRE(interval > 0);
    mm_reply_sink *sink = NULL;
    MM_REQUIRE(mm_reply_nats_stream(nc, natsMsg_GetReply(req), &sink) == MM_OK);
    MM_REQUIRE(mm_reply_heartbeat_attach(hb, sink, interval) == MM_OK);
    natsMsg_Destroy(req);
    char *text = NULL;
    size_t len = 0;
    MM_REQUIRE(mm_feedback_acknowledged(&text, &len) == MM_OK);
    MM_REQUIRE(mm_reply_send(sink, text, len) == MM_OK);
    free(text);
    return sink;
}

/*
 * The web front's whole-request limits against a matchmaker stand-in (the real reply sinks and
 * heartbeat thread): with --matchmaker-timeout-ms 1200 and --request-timeout-ms 1500, a player
 * hearing a line report every 300 ms for 3 s is still served; one whose reports stop (only
 * heartbeats then) gets the bridge's 408, not before 1.2 s after its last report, and its
 * front's cancel reaches the stand-in's sink.
 */
static void
test_front_limits(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_connect(&h);
    hd_proc front;
    const char *fx[] = {"--matchmaker-timeout-ms", "1200", "--request-timeout-ms", "1500", NULL};
    hd_start(&h, &front, fx);
    natsSubscription *sub = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, h.nc, "matchmaker.request.>") == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(h.nc) == NATS_OK);
    mm_reply_heartbeat *hb = NULL;
    MM_REQUIRE(mm_reply_heartbeat_start(h.nc, &hb) == MM_OK);

    static ws_player p1, p2;
    ws_open(&p1, front.port);
    uint64_t t0 = mm_now_ms();
    mm_reply_sink *sink = stand_in_take(h.nc, sub, hb);
    for (int i = 0; i < 10; i++) { /* 3 s in line: longer than both limits */
        send_line_report(sink, t0);
        mm_test_sleep_ms(300);
    }
    char *text = NULL;
    size_t len = 0;
    MM_REQUIRE(mm_feedback_ready("TkVUQ09ERSAxLjAy", "172.104.236.32", 30004, "e3:76:4d", &text, &len) == MM_OK);
    MM_REQUIRE(mm_reply_send(sink, text, len) == MM_OK);
    free(text);
    MM_REQUIRE(mm_reply_end(sink) == MM_OK);
    mm_reply_free(sink);
    ws_until_end(&p1);
    printf("in line for %llu ms: %s%s\n", (unsigned long long)(mm_now_ms() - t0), p1.ready ? "ready" : "error ", p1.error);
    MM_CHECK(p1.ready);
    mm_ws_close(&p1.ws);

    ws_open(&p2, front.port);
    sink = stand_in_take(h.nc, sub, hb);
    send_line_report(sink, t0);
    mm_test_sleep_ms(300);
    send_line_report(sink, t0);
    uint64_t last = mm_now_ms();
    ws_until_end(&p2); /* only heartbeats from now on */
    uint64_t after = mm_now_ms() - last;
    printf("reports stopped: %s after %llu ms\n", p2.error, (unsigned long long)after);
    MM_CHECK(strstr(p2.error, "[408,") != NULL);
    MM_CHECK_U64(after, >=, 1100); /* never before the limit (1200 ms, less the clocks' granularity) */
    uint64_t until = mm_now_ms() + 10000;
    while (!mm_reply_gone(sink) && mm_now_ms() < until)
        mm_test_sleep_ms(20);
    MM_CHECK(mm_reply_gone(sink)); /* the bridge ended the request: its cancel reached the stand-in */
    mm_reply_free(sink);
    mm_ws_close(&p2.ws);
    natsSubscription_Destroy(sub);
    mm_reply_heartbeat_destroy(hb);
    MM_CHECK_INT(hd_stop(&front, 10000), ==, 0);
    h_stop(&h);
}

int
main(void)
{
    test_front_limits();
    test_leave_and_long_wait();
    test_too_long();
    nats_Close();
    return MM_TEST_DONE();
}
