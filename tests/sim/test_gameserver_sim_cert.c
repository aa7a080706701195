/*
 * gameserver_sim --cert-delay-ms: with -1 the certificate digest is never written, with a delay
 * it is written late. A successful connect is the proof that gameserver_sim has seen the
 * deployment ready (it only admits tokens for ready deployments), so "no digest yet" is checked
 * right after one, without guessing at timings.
 */
#include <stdlib.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "gameserver_sim_test_util.h"

static gs_world w;

/* Connects client_id with a fresh token until gameserver_sim knows the deployment; 0 on success. */
static int
connect_when_known(const mm_token_key *key, const char *ip, uint16_t port, uint64_t client_id)
{
    char text[96], token[MM_TOKEN_BASE64_LEN + 1], payload[MM_TOKEN_BASE64_LEN + 32];
    mm_token_address addr;
    snprintf(text, sizeof(text), "%s:%u", ip, (unsigned)port);
    MM_REQUIRE(mm_token_address_parse(text, &addr, NULL, 0) == MM_OK);
    for (int attempt = 0; attempt < 500; attempt++) {
        MM_REQUIRE(mm_token_mint(key, MM_BYTE_ORDER_LITTLE, GSW_PROTOCOL_ID, client_id, &addr, 1, mm_unix_seconds(), 30, 15, token,
                                 sizeof(token)) == MM_OK);
        snprintf(payload, sizeof(payload), "{\"token\":\"%s\"}", token);
        json_t *reply = gsw_request(&w, "gameserver_sim.connect", payload);
        int ok = json_is_true(json_object_get(reply, "ok"));
        const char *error = json_string_value(json_object_get(reply, "error"));
        int unknown = error != NULL && strstr(error, "no server address") != NULL;
        if (!ok && !unknown)
            fprintf(stderr, "connect refused: %s\n", error != NULL ? error : "no reply");
        json_decref(reply);
        if (ok)
            return 0;
        if (!unknown)
            return -1;
        mm_test_sleep_ms(20);
    }
    return -1;
}

static void
run(const char *delay, int expect_late)
{
    char session[128], ip[64], request_id[64], id[24], digest[1100];
    uint16_t port;
    mm_token_key key;
    static uint64_t client_id = 500;
    gsw_key(&key);
    const char *extra[] = {"--cert-delay-ms", delay, NULL};
    gsw_start_gameserver(&w, extra);
    MM_REQUIRE(gsw_create_session(&w, session, sizeof(session)) == 0);
    MM_REQUIRE(gsw_wait_ready(&w, session, ip, sizeof(ip), &port, request_id, sizeof(request_id)) == 0);
    snprintf(id, sizeof(id), "%llu", (unsigned long long)++client_id);
    MM_REQUIRE(mm_kv_put_str(mm_js_kv(w.js, MM_KV_SESSIONS_LY2EG), id, session, NULL) == MM_OK);
    MM_REQUIRE(connect_when_known(&key, ip, port, client_id) == 0);

    kvStore *certs = mm_js_kv(w.js, MM_KV_CERT_DIGESTS);
    MM_CHECK_INT(mm_kv_get_str(certs, ip, digest, sizeof(digest), NULL), ==, MM_ERR_NOTFOUND);
    if (expect_late) {
        MM_CHECK_INT(gsw_wait_kv(certs, ip, digest, sizeof(digest), 20000), ==, 0);
        MM_CHECK_INT(strlen(digest), ==, 95);
    } else {
        MM_CHECK_INT(gsw_wait_log(&w, "will never be written", 5000), ==, 0);
        MM_CHECK_INT(mm_kv_get_str(certs, ip, digest, sizeof(digest), NULL), ==, MM_ERR_NOTFOUND);
    }
    MM_CHECK_INT(gsw_stop_gameserver(&w), ==, 0);
}

int
main(void)
{
    mm_log_setup("test_gameserver_sim_cert", MM_LOG_WARN, MM_LOG_TEXT);
    gsw_start_nats(&w);
    gsw_start_edgegap(&w);
    run("-1", 0);
    /* A second session lands on the same deployment (free seats): use a fresh edgegap_sim so the
     * late writer sees a deployment it has not written for. */
    mm_test_stop(w.edgegap_pid, 5000);
    gsw_start_edgegap(&w);
    run("5000", 1);
    gsw_stop_all(&w);
    return MM_TEST_DONE();
}
