/*
 * bevygap_matchmaker_httpd end to end: real nats-server, edgegap_sim, gameserver_sim (writes
 * cert_digests), bevygap_matchmaker and bevygap_matchmaker_httpd as children; a WebSocket client
 * of our own and libcurl as the players.
 *   - WebSocket: exactly "Acknowledged", SessionRequestAccepted, ProgressReport..., SessionReady
 *     whose token opens with the (all-zero) key for that ip:port, then close 1000 "Goodbye";
 *   - chunked POST /matchmaker/request/{game}/{version}: the same messages, one per line;
 *   - POST /matchmaker/wannaplay: the one {"connect_token",...} answer, token checked the same way;
 *   - a game nobody serves: Error(503, "no matchmaker is serving nope v1") and the close, not the
 *     bridge's timeout (60 s here: the wait allows 10);
 *   - /readyz while NATS is up;
 *   - SIGTERM with a request in flight (the matchmaker's first poll is 1.5 s after the session
 *     was accepted): that request still gets its SessionReady and the close, and the process
 *     exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>

#include "httpd_harness.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "ws_client.h"

#define WAIT_MS 20000
#define CLIENT_IP "81.128.157.123"

static void
test_ws(int port)
{
    mm_ws_client *ws = calloc(1, sizeof(*ws));
    MM_REQUIRE(ws != NULL && mm_ws_connect(ws, (uint16_t)port, "/matchmaker/ws", NULL, WAIT_MS) == 0);
    const char *first = "{\"client_ip\":\"" CLIENT_IP "\",\"game\":\"" H_APP "\",\"version\":\"" H_VERSION "\"}";
    MM_REQUIRE(mm_ws_send_text(ws, first) == 0);
    char *texts[64], reason[128];
    int code;
    int n = hd_ws_collect(ws, texts, 64, &code, reason, sizeof(reason));
    hd_check_session(texts, n);
    MM_CHECK_INT(code, ==, 1000);
    MM_CHECK_STR(reason, "Goodbye");
    hd_free_texts(texts, n);
    mm_ws_close(ws);
    free(ws);
}

static void
test_unknown_game(int port)
{
    mm_ws_client *ws = calloc(1, sizeof(*ws));
    MM_REQUIRE(ws != NULL && mm_ws_connect(ws, (uint16_t)port, "/matchmaker/ws", NULL, WAIT_MS) == 0);
    const char *first = "{\"game\":\"nope\",\"version\":\"v1\",\"client_ip\":\"" CLIENT_IP "\"}";
    MM_REQUIRE(mm_ws_send_text(ws, first) == 0);
    char *texts[8], reason[128];
    int code;
    uint64_t t0 = mm_now_ms();
    int n = hd_ws_collect(ws, texts, 8, &code, reason, sizeof(reason));
    MM_CHECK_INT(n, ==, 1);
    if (n >= 1)
        MM_CHECK_STR(texts[0], "{\"Error\":[503,\"no matchmaker is serving nope v1\"]}");
    MM_CHECK_INT(code, ==, 1000);
    MM_CHECK(mm_now_ms() - t0 < 60000); /* not the bridge's timeout (60 s in this test) */
    hd_free_texts(texts, n);
    mm_ws_close(ws);
    free(ws);
}

static void
test_chunked(int port)
{
    hd_response r;
    hd_http(port, "POST", "/matchmaker/request/" H_APP "/" H_VERSION "?client_ip=" CLIENT_IP, "", NULL, WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    MM_CHECK(strcasestr(r.headers, "transfer-encoding: chunked") != NULL);
    MM_CHECK(strcasestr(r.headers, "content-type: application/json") != NULL);
    char *texts[64];
    int n = 0;
    for (char *line = strtok(r.body, "\n"); line != NULL && n < 64; line = strtok(NULL, "\n"))
        texts[n++] = line;
    MM_CHECK(r.body_len > 0 && r.body[r.body_len - 1] == '\0'); /* strtok cut the last newline */
    hd_check_session(texts, n);
}

static void
test_wannaplay(int port)
{
    hd_response r;
    hd_http(port, "POST", "/matchmaker/wannaplay?client_ip=" CLIENT_IP, "", NULL, WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    mm_session_response resp;
    char why[160];
    mm_err err = mm_session_response_decode(r.body, r.body_len, &resp, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK) {
        fprintf(stderr, "wannaplay answered %ld: %s (%s)\n", r.status, r.body, why);
        return;
    }
    hd_check_token(resp.connect_token, resp.gameserver_ip, resp.gameserver_port);
    mm_session_response_clear(&resp);
}

static void
test_drain_on_sigterm(hd_proc *p)
{
    mm_ws_client *ws = calloc(1, sizeof(*ws));
    MM_REQUIRE(ws != NULL && mm_ws_connect(ws, (uint16_t)p->port, "/matchmaker/ws", NULL, WAIT_MS) == 0);
    const char *first = "{\"client_ip\":\"" CLIENT_IP "\",\"game\":\"" H_APP "\",\"version\":\"" H_VERSION "\"}";
    MM_REQUIRE(mm_ws_send_text(ws, first) == 0);
    char *texts[64], reason[128];
    texts[0] = texts[1] = NULL;
    for (int i = 0; i < 2; i++) { /* Acknowledged, SessionRequestAccepted */
        mm_ws_msg m = {0};
        MM_REQUIRE(mm_ws_recv(ws, &m, WAIT_MS) == 1 && m.opcode == MM_WS_OP_TEXT);
        texts[i] = m.data; /* taken over */
    }
    MM_REQUIRE(kill(p->pid, SIGTERM) == 0);
    int code;
    int n = hd_ws_collect(ws, texts + 2, 62, &code, reason, sizeof(reason)) + 2;
    hd_check_session(texts, n);
    MM_CHECK_INT(code, ==, 1000);
    hd_free_texts(texts, n);
    mm_ws_close(ws);
    free(ws);
    int st = hd_stop(p, 15000); /* already stopping: this only waits */
    MM_CHECK_INT(st, ==, 0);
}

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    const char *mm_extra[] = {"--poll-delay-ms", "1500", NULL};
    h_start_matchmaker(&h, mm_extra);
    hd_proc p;
    const char *extra[] = {"--cors", "http://127.0.0.1", "--matchmaker-timeout-ms", "60000", NULL};
    hd_start(&h, &p, extra);

    hd_response r;
    hd_http(p.port, "GET", "/readyz", NULL, NULL, WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    test_ws(p.port);
    test_unknown_game(p.port);
    test_chunked(p.port);
    test_wannaplay(p.port);
    test_drain_on_sigterm(&p);
    if (mm_test_failed > 0)
        hd_dump_log(&p);
    h_stop(&h);
    return MM_TEST_DONE();
}
