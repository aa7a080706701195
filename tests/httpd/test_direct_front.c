/*
 * The all-in-one mode in one process, as `bevygap_matchmaker --http` wires it: the real web
 * front (mm_front) with the direct backend in front of a real provisioner (and its minter and
 * cert_digests watcher), with nats-server (JetStream KV), edgegap_sim and gameserver_sim as
 * children. No NATS hop for the requests: the WebSocket client gets
 *   - exactly "Acknowledged", SessionRequestAccepted, ProgressReport..., SessionReady (token for
 *     that ip:port), then close 1000 "Goodbye";
 *   - for a game this matchmaker does not serve, {"Error":[503,"no matchmaker is serving nope v1"]}
 *     and the close: the byte-for-byte answer the split mode gives when nobody serves a subject;
 * POST /matchmaker/wannaplay gets the one {"connect_token",...} answer; /readyz is 200 while the
 * backend is open. Shutdown in the documented order: front stop, backend close, provisioner stop,
 * front destroy, backend destroy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct_stack.h"
#include "httpd_harness.h"
#include "mm/feedback.h"
#include "mm/front.h"

#define CLIENT_IP "81.128.157.123"

int
main(void)
{
    harness h = {0};
    char why[256];
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    direct_stack ds;
    ds_start(&ds, &h, "all-in-one");

    mm_front_config fc;
    mm_front_config_init(&fc);
    MM_REQUIRE(mm_front_config_flag(&fc, "--bind", "127.0.0.1:0", NULL, why, sizeof(why)) == 1);
    mm_front_backend be;
    mm_direct_backend_backend(ds.backend, &be);
    mm_front *front = NULL;
    mm_err err = mm_front_start(&fc, &be, &front, why, sizeof(why));
    if (err != MM_OK)
        fprintf(stderr, "front: %s\n", why);
    MM_REQUIRE(err == MM_OK);
    int port = mm_front_port(front, 0);

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

    hd_http(port, "POST", "/matchmaker/wannaplay?client_ip=" CLIENT_IP, "", NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    mm_session_response resp;
    err = mm_session_response_decode(r.body, r.body_len, &resp, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err == MM_OK) {
        hd_check_token(resp.connect_token, resp.gameserver_ip, resp.gameserver_port);
        mm_session_response_clear(&resp);
    } else {
        fprintf(stderr, "wannaplay answered %ld: %s (%s)\n", r.status, r.body, why);
    }

    mm_front_stop(front, 2000);
    ds_close(&ds);
    mm_front_destroy(front);
    ds_destroy(&ds);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
