/*
 * The waiting room (--edgegap-budget with --waiting-room-max; src/actors/waiting_room.c), with a
 * real matchmaker, nats-server, edgegap_sim and gameserver_sim, and a create budget so small (2
 * creates/s) that players must wait:
 *   - over NATS: 7 players at once, a line of at most 4: the ones beyond it get Error 503 with
 *     advice to retry; every other ends SessionReady; each one that waited heard
 *     ProgressReport "Waiting in line: position P of N, about S s (E)" (the reference's shape),
 *     its first position its place in the order the players came, its positions never growing,
 *     never 2 s (plus 0.5 s slack for a loaded machine) without one; and they were sent to
 *     Edgegap in the order they came.
 *   - all-in-one (--http): of four WebSocket players, the third closes its socket while in
 *     line: it leaves the line without an Edgegap call (the simulator made 3 sessions), and the
 *     matchmaker's stop line counts it ("1 left").
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_harness.h"
#include "mm/clock.h"

#define PLAYERS 7
#define LINE_MAX "4"
#define REPORT_GAP_MS 2500

typedef struct player {
    h_stream s;
    int first_pos, last_pos;
    bool pos_grew, bad_shape;
    int reports;
    uint64_t last_report_ms, max_gap_ms;
    uint64_t accepted_ms;
    bool refused, ready, ended;
    char error[512];
} player;

/* One reply of player p. */
static void
take(player *p, const char *text, int len)
{
    uint64_t now = mm_now_ms();
    if (len == 0) {
        p->ended = true;
        return;
    }
    char t[4096];
    snprintf(t, sizeof(t), "%.*s", len, text);
    if (strncmp(t, "{\"ProgressReport\":\"Waiting in line:", 35) == 0) {
        int pos = 0, n = 0, s = 0, e = 0, used = 0;
        if (sscanf(t, "{\"ProgressReport\":\"Waiting in line: position %d of %d, about %d s (%d)\"}%n", &pos, &n, &s, &e, &used) !=
                4 ||
            used != len || pos < 1 || pos > n || s < 0) {
            fprintf(stderr, "bad report: %s\n", t);
            p->bad_shape = true;
        }
        if (p->first_pos == 0)
            p->first_pos = pos;
        else if (pos > p->last_pos)
            p->pos_grew = true;
        if (p->reports > 0 && now - p->last_report_ms > p->max_gap_ms)
            p->max_gap_ms = now - p->last_report_ms;
        p->last_pos = pos;
        p->last_report_ms = now;
        p->reports++;
    } else if (strncmp(t, "{\"SessionRequestAccepted\"", 25) == 0) {
        if (p->accepted_ms == 0)
            p->accepted_ms = now;
        if (p->reports > 0 && now - p->last_report_ms > p->max_gap_ms) /* the wait after the last report counts too */
            p->max_gap_ms = now - p->last_report_ms;
    } else if (strncmp(t, "{\"SessionReady\"", 15) == 0) {
        p->ready = true;
    } else if (strncmp(t, "{\"Error\"", 8) == 0) {
        snprintf(p->error, sizeof(p->error), "%.500s", t);
        p->refused = strncmp(t, "{\"Error\":[503,", 14) == 0 && strstr(t, "waiting in line; try again") != NULL;
    }
}

static void
test_nats_line(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "0", NULL);
    h_start_gameserver(&h);
    int admin = mm_test_free_port();
    char admin_bind[64];
    snprintf(admin_bind, sizeof(admin_bind), "127.0.0.1:%d", admin);
    const char *extra[] = {"--edgegap-budget", "2",        "--fleet-heartbeat-ms", "100", "--waiting-room-max",
                           LINE_MAX,           "--admin-bind", admin_bind,            NULL};
    h_start_matchmaker(&h, extra);
    h_connect(&h);
    static player ps[PLAYERS];
    memset(ps, 0, sizeof(ps));
    long long calls0 = h_sim_counter(&h, "requests", "session_create"); /* the budget's class (GETs are not gated here) */
    uint64_t t0 = mm_now_ms();
    for (int i = 0; i < PLAYERS; i++)
        h_stream_open(&h, &ps[i].s, "81.2.3.4");
    uint64_t until = mm_now_ms() + 60000;
    int ended = 0;
    while (ended < PLAYERS && mm_now_ms() < until) {
        ended = 0;
        for (int i = 0; i < PLAYERS; i++) {
            natsMsg *m = NULL;
            while (!ps[i].ended && natsSubscription_NextMsg(&m, ps[i].s.sub, 2) == NATS_OK) {
                take(&ps[i], natsMsg_GetData(m), natsMsg_GetDataLength(m));
                natsMsg_Destroy(m);
            }
            ended += ps[i].ended;
        }
    }
    MM_CHECK_INT(ended, ==, PLAYERS);
    /* never above the budget: 2 creates a second, plus the bucket's one token of burst, plus one for rounding */
    long long calls = h_sim_counter(&h, "requests", "session_create") - calls0;
    uint64_t span = mm_now_ms() - t0;
    printf("%lld Edgegap creates in %llu ms with a create budget of 2/s\n", calls, (unsigned long long)span);
    MM_CHECK(calls <= 2 * (long long)span / 1000 + 1 + 1);
    int refused = 0, waited = 0, prev_pos = 0;
    uint64_t prev_accepted = 0;
    for (int i = 0; i < PLAYERS; i++) {
        player *p = &ps[i];
        printf("player %d: first position %d, %d reports, largest gap %llu ms, %s%s\n", i + 1, p->first_pos, p->reports,
               (unsigned long long)p->max_gap_ms, p->ready ? "ready" : "error ", p->error);
        MM_CHECK(!p->bad_shape);
        MM_CHECK(!p->pos_grew);
        if (p->refused) {
            refused++;
            MM_CHECK_INT(p->reports, ==, 0);
            continue;
        }
        MM_CHECK(p->ready);
        if (p->first_pos > 0) {
            waited++;
            MM_CHECK_INT(p->first_pos, >, prev_pos); /* joined in the order they came */
            prev_pos = p->first_pos;
            MM_CHECK(p->max_gap_ms <= REPORT_GAP_MS);
        }
        MM_CHECK(p->accepted_ms >= prev_accepted); /* sent to Edgegap in the order they came */
        prev_accepted = p->accepted_ms;
    }
    /* 4 in line, and at most one sent on before the rest came */
    MM_CHECK(refused >= PLAYERS - 5 && refused <= PLAYERS - 4);
    MM_CHECK(waited >= 3);
    /* the same numbers on /metrics */
    char url[128], body[65536], line[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", admin);
    MM_CHECK_INT(h_http_get(url, body, sizeof(body)), ==, 200);
    snprintf(line, sizeof(line), "\nmm_waiting_room_refused_total %d\n", refused);
    MM_CHECK(strstr(body, line) != NULL);
    snprintf(line, sizeof(line), "\nmm_waiting_room_admitted_total %d\n", PLAYERS - refused);
    MM_CHECK(strstr(body, line) != NULL);
    MM_CHECK(strstr(body, "\nmm_waiting_room_length 0\n") != NULL);
    MM_CHECK(strstr(body, "\nmm_waiting_room_left_total 0\n") != NULL);
    MM_CHECK(strstr(body, "\nmm_fleet_replicas 1\n") != NULL);
    MM_CHECK(strstr(body, "\nmm_edgegap_budget_share_rps{class=\"create\"} 2\n") != NULL);
    MM_CHECK(strstr(body, "\nmm_edgegap_budget_share_rps{class=\"get\"} 0\n") != NULL); /* no get budget: not gated */
    if (strstr(body, "\nmm_edgegap_budget_share_rps{class=\"create\"} 2\n") == NULL)
        fprintf(stderr, "%s\n", body);
    for (int i = 0; i < PLAYERS; i++)
        h_stream_close(&ps[i].s);
    h_stop(&h);
}

static bool
ws_waiting(mm_ws_client *ws)
{
    for (int i = 0; i < 50; i++) {
        mm_ws_msg m = {0};
        if (mm_ws_recv(ws, &m, 10000) != 1)
            return false;
        bool yes = m.opcode == MM_WS_OP_TEXT && strstr(m.data, "Waiting in line: position") != NULL;
        mm_ws_msg_free(&m);
        if (yes)
            return true;
    }
    return false;
}

static bool
ws_ready(mm_ws_client *ws)
{
    for (int i = 0; i < 200; i++) {
        mm_ws_msg m = {0};
        if (mm_ws_recv(ws, &m, 20000) != 1)
            return false;
        bool yes = m.opcode == MM_WS_OP_TEXT && strstr(m.data, "SessionReady") != NULL;
        bool err = m.opcode == MM_WS_OP_TEXT && strstr(m.data, "\"Error\"") != NULL;
        if (err)
            fprintf(stderr, "ws: %s\n", m.data);
        mm_ws_msg_free(&m);
        if (yes || err)
            return yes;
    }
    return false;
}

static void
test_leave(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "0", NULL);
    h_start_gameserver(&h);
    int port = mm_test_free_port();
    char bind[64];
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", port);
    const char *extra[] = {"--http", bind, "--edgegap-budget", "1", "--fleet-heartbeat-ms", "100", NULL};
    h_start_matchmaker(&h, extra);
    const char req[] = "{\"game\":\"" H_APP "\",\"version\":\"" H_VERSION "\",\"client_ip\":\"81.2.3.4\"}";
    mm_ws_client *ws[4];
    for (int i = 0; i < 4; i++) {
        ws[i] = calloc(1, sizeof(*ws[i]));
        MM_REQUIRE(ws[i] != NULL && mm_ws_connect(ws[i], (uint16_t)port, "/matchmaker/ws", NULL, 5000) == 0);
        MM_REQUIRE(mm_ws_send_text(ws[i], req) == 0);
    }
    /* the others wait behind the first (1 request/s): the third, about 2 s from its turn, leaves */
    MM_CHECK(ws_waiting(ws[2]));
    mm_ws_send_frame(ws[2], 0x88, "\x03\xe8", 2, true);
    mm_ws_close(ws[2]);
    MM_CHECK(ws_ready(ws[0]));
    MM_CHECK(ws_ready(ws[1]));
    MM_CHECK(ws_ready(ws[3]));
    for (int i = 0; i < 4; i++) {
        mm_ws_close(ws[i]);
        free(ws[i]);
    }
    MM_CHECK_INT(mm_test_stop(h.mm, 15000), ==, 0);
    h.mm = 0;
    MM_CHECK(h_file_contains(h.mm_log, "waiting room: 3 admitted, 0 refused, 1 left"));
    MM_CHECK_INT(h_sim_counter(&h, NULL, "sessions_created"), ==, 3);
    if (!h_file_contains(h.mm_log, "1 left"))
        h_dump_log(h.mm_log, 20);
    h_stop(&h);
}

int
main(void)
{
    test_nats_line();
    test_leave();
    nats_Close();
    return MM_TEST_DONE();
}
