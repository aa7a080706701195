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

#include "httpd_harness.h"
#include "mm/direct_backend.h"
#include "mm/feedback.h"
#include "mm/front.h"
#include "mm/kv.h"
#include "mm/kv_watch.h"
#include "mm/minter.h"
#include "mm/provisioner.h"
#include "mm_test_nats_client.h"

#define CLIENT_IP "81.128.157.123"

static void
ws_request(int port, const char *game, char **texts, int max, int *n, int *code)
{
    ws_client ws;
    char first[256], reason[128];
    MM_REQUIRE(ws_open(&ws, port, "/matchmaker/ws", NULL, HD_WAIT_MS) == 101);
    snprintf(first, sizeof(first), "{\"game\":\"%s\",\"version\":\"%s\",\"client_ip\":\"%s\"}", game, H_VERSION, CLIENT_IP);
    MM_REQUIRE(ws_send(&ws, WS_OP_TEXT, first, strlen(first)) == 0);
    *n = hd_ws_collect(&ws, texts, max, code, reason, sizeof(reason));
    if (*code == 1000)
        MM_CHECK_STR(reason, "Goodbye");
    ws_close(&ws);
}

int
main(void)
{
    harness h = {0};
    char why[256];
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    mm_nats *nats = mm_test_nats_connect(&h.nats, "all-in-one");
    natsConnection *nc = mm_nats_connection(nats);
    mm_js *js = NULL;
    MM_REQUIRE(mm_js_setup(nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);
    mm_token_key key;
    memset(&key, 0, sizeof(key));
    mm_minter *minter = NULL;
    mm_minter_config mc = {.key = &key, .protocol_id = 1982};
    MM_REQUIRE(mm_minter_start(&mc, &minter) == MM_OK);
    mm_provisioner *prov = NULL;
    mm_provisioner_config pc = {.nc = nc,
                                .js = js,
                                .minter = minter,
                                .edgegap_url = h.sim_url,
                                .api_key = H_API_KEY,
                                .app = H_APP,
                                .version = H_VERSION,
                                .poll_delay_ms = 50,
                                .poll_interval_ms = 50,
                                .cert_wait_ms = 5000};
    MM_REQUIRE(mm_provisioner_start(&pc, &prov, why, sizeof(why)) == MM_OK);
    mm_kv_watch *certs = NULL;
    mm_kv_watch_config wc = {.nc = nc,
                             .js = js,
                             .bucket = MM_KV_CERT_DIGESTS,
                             .target = mm_provisioner_actor(prov),
                             .msg_type = MM_PROVISIONER_MSG_CERT_EVENT};
    MM_REQUIRE(mm_kv_watch_start(&wc, &certs, why, sizeof(why)) == MM_OK);
    mm_direct_backend *d = NULL;
    mm_direct_backend_config dc = {.provisioner = prov, .nc = nc, .app = H_APP, .version = H_VERSION};
    MM_REQUIRE(mm_direct_backend_create(&dc, &d, why, sizeof(why)) == MM_OK);

    mm_front_config fc;
    mm_front_config_init(&fc);
    MM_REQUIRE(mm_front_config_flag(&fc, "--bind", "127.0.0.1:0", NULL, why, sizeof(why)) == 1);
    mm_front_backend be;
    mm_direct_backend_backend(d, &be);
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
    ws_request(port, H_APP, texts, 64, &n, &code);
    hd_check_session(texts, n);
    MM_CHECK_INT(code, ==, 1000);
    hd_free_texts(texts, n);

    ws_request(port, "nope", texts, 64, &n, &code);
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
    mm_direct_backend_close(d);
    mm_provisioner_stop(prov, 2000);
    mm_kv_watch_destroy(certs);
    mm_provisioner_destroy(prov);
    mm_front_destroy(front);
    mm_direct_backend_destroy(d);
    mm_minter_destroy(minter);
    mm_js_destroy(js);
    mm_nats_destroy(nats);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
