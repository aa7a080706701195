/*
 * bevygap_matchmaker --http end to end (the all-in-one mode): real nats-server, edgegap_sim,
 * gameserver_sim and one bevygap_matchmaker serving the web front itself (no httpd, no NATS hop
 * for the requests). The same checks as test_httpd_e2e, so both modes answer alike:
 *   - WebSocket: "Acknowledged", SessionRequestAccepted, ProgressReport..., SessionReady (token for
 *     that ip:port), close 1000 "Goodbye";
 *   - a game this matchmaker does not serve: {"Error":[503,"no matchmaker is serving nope v1"]},
 *     the bytes the split mode sends when nobody serves the subject;
 *   - chunked POST and wannaplay; /readyz; SIGTERM: exit status 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_harness.h"
#include "mm/feedback.h"

#define CLIENT_IP "81.128.157.123"

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    int port = mm_test_free_port();
    char bind[64];
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", port);
    const char *extra[] = {"--http", bind, "--cors", "http://127.0.0.1", NULL};
    h_start_matchmaker(&h, extra);
    MM_CHECK(h_file_contains(h.mm_log, "listening on"));

    hd_response r;
    hd_http(port, "GET", "/readyz", NULL, NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);

    char *texts[64];
    int n, code;
    hd_ws_request(port, H_APP, CLIENT_IP, texts, 64, &n, &code);
    hd_check_session(texts, n);
    MM_CHECK_INT(code, ==, 1000);
    hd_free_texts(texts, n);

    hd_ws_request(port, "nope", CLIENT_IP, texts, 64, &n, &code);
    MM_CHECK_INT(n, ==, 1);
    if (n >= 1)
        MM_CHECK_STR(texts[0], "{\"Error\":[503,\"no matchmaker is serving nope " H_VERSION "\"]}");
    MM_CHECK_INT(code, ==, 1000);
    hd_free_texts(texts, n);

    hd_http(port, "POST", "/matchmaker/request/" H_APP "/" H_VERSION "?client_ip=" CLIENT_IP, "", NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    n = 0;
    for (char *line = strtok(r.body, "\n"); line != NULL && n < 64; line = strtok(NULL, "\n"))
        texts[n++] = line;
    hd_check_session(texts, n);

    hd_http(port, "POST", "/matchmaker/wannaplay?client_ip=" CLIENT_IP, "", NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    mm_session_response resp;
    char why[160];
    mm_err err = mm_session_response_decode(r.body, r.body_len, &resp, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err == MM_OK) {
        hd_check_token(resp.connect_token, resp.gameserver_ip, resp.gameserver_port);
        mm_session_response_clear(&resp);
    }
    /* SIGTERM with nothing in flight: exit 0, and the last line says how the drain went */
    MM_CHECK_INT(mm_test_stop(h.mm, 30000), ==, 0);
    h.mm = 0;
    MM_CHECK(h_file_contains(h.mm_log, "stopped: drained 0 requests (0 ready, 0 failed), 0 answered 503 at the deadline, exit 0"));
    h_stop(&h);
    return MM_TEST_DONE();
}
