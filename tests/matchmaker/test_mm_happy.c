/*
 * bevygap_matchmaker end to end, success paths: real nats-server, edgegap_sim, gameserver_sim
 * (which writes cert_digests) and the matchmaker.
 *   - matchmaker.request.<app>.<version>: Acknowledged, SessionRequestAccepted, >= 1
 *     ProgressReport, SessionReady whose token opens with the (all-zero) key for the ready
 *     deployment's ip:port, then the empty end; KV holds both session mappings.
 *   - session.gensession: one {"connect_token",...} reply whose token opens the same way.
 *   - a bad payload: Error 400, then the end.
 *   - at the default log level the request wrote one provisioner line: "ready at ip:port after N ms".
 *   - a cert digest written 800 ms after the deployment is ready (within --cert-wait-ms 3000):
 *     the matchmaker waits for it (its log says so) and answers SessionReady with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/kv.h"
#include "mm/token.h"
#include "mm_harness.h"

/* Decodes token_b64 with the all-zero key; checks the address; returns the client id (0: bad). */
static uint64_t
check_token(const char *token_b64, const char *ip, uint16_t port)
{
    uint8_t raw[MM_TOKEN_BYTES];
    size_t raw_len = 0;
    MM_REQUIRE(sodium_base642bin(raw, sizeof(raw), token_b64, strlen(token_b64), NULL, &raw_len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) == 0);
    MM_CHECK_U64(raw_len, ==, MM_TOKEN_BYTES);
    mm_token_key key;
    memset(&key, 0, sizeof(key));
    mm_token_decoded dec;
    char why[160] = "";
    mm_err err = mm_token_decode(raw, &key, MM_BYTE_ORDER_LITTLE, 1982, mm_unix_seconds(), &dec, why, sizeof(why));
    MM_CHECK_STR(why, "");
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK)
        return 0;
    char expect[80], got[80];
    snprintf(expect, sizeof(expect), "%s:%u", ip, port);
    mm_token_address_format(&dec.addresses[0], got, sizeof(got));
    MM_CHECK_STR(got, expect);
    MM_CHECK_INT(dec.address_count, ==, 1);
    return dec.client_id;
}

static void
wait_kv(mm_js *js, mm_kv_bucket b, const char *key, const char *expect)
{
    char buf[128] = "";
    uint64_t until = mm_now_ms() + 5000;
    while (mm_now_ms() < until) {
        if (mm_kv_get_str(mm_js_kv(js, b), key, buf, sizeof(buf), NULL) == MM_OK)
            break;
        mm_test_sleep_ms(20);
    }
    MM_CHECK_STR(buf, expect);
}

/* How many lines of the log at path contain needle. */
static int
log_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    char line[4096];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    if (f != NULL)
        fclose(f);
    return n;
}

static void
test_stream(harness *h, mm_js *js)
{
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n = h_request(h, "matchmaker.request." H_APP "." H_VERSION,
                      "{\"client_ip\":\"81.2.3.4\",\"game\":\"" H_APP "\",\"version\":\"" H_VERSION "\"}", r, H_MAX_REPLIES, &ended,
                      20000);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "reply %d: %.120s\n", i, r[i]);
    MM_CHECK(ended);
    MM_REQUIRE(n >= 4);
    MM_CHECK_STR(r[0], "\"Acknowledged\"");
    mm_feedback fb;
    char why[160];
    MM_REQUIRE(mm_feedback_decode(r[1], strlen(r[1]), &fb, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_ACCEPTED);
    char session[80];
    snprintf(session, sizeof(session), "%s", fb.text);
    mm_feedback_clear(&fb);
    for (int i = 2; i < n - 1; i++) {
        MM_REQUIRE(mm_feedback_decode(r[i], strlen(r[i]), &fb, why, sizeof(why)) == MM_OK);
        MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_PROGRESS);
        mm_feedback_clear(&fb);
    }
    MM_REQUIRE(mm_feedback_decode(r[n - 1], strlen(r[n - 1]), &fb, why, sizeof(why)) == MM_OK);
    MM_REQUIRE(fb.kind == MM_FEEDBACK_READY);
    MM_CHECK(strlen(fb.cert_digest) == 95);
    char fb_ip[64];
    snprintf(fb_ip, sizeof(fb_ip), "%s", fb.ip);
    unsigned fb_port = fb.port;
    uint64_t client_id = check_token(fb.token, fb.ip, fb.port);
    MM_CHECK(client_id != 0);
    mm_feedback_clear(&fb);
    h_free_replies(r, n);

    char cid[32];
    snprintf(cid, sizeof(cid), "%llu", (unsigned long long)client_id);
    wait_kv(js, MM_KV_SESSIONS_LY2EG, cid, session);
    wait_kv(js, MM_KV_SESSIONS_EG2LY, session, cid);
    wait_kv(js, MM_KV_UNCLAIMED_SESSIONS, session, session);

    /* At the default log level a request that ends well writes one line: ready, with its time. */
    char ready_line[256];
    snprintf(ready_line, sizeof(ready_line), "session %s ready at %s:%u after ", session, fb_ip, fb_port);
    MM_CHECK_INT(log_lines(h->mm_log, "provisioner: request "), ==, 1);
    MM_CHECK_INT(log_lines(h->mm_log, ready_line), ==, 1);
}

static void
test_gensession(harness *h)
{
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n = h_request(h, "session.gensession", "{\"client_ip\":\"81.2.3.5\"}", r, 1, &ended, 20000);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "gensession reply %d: %.120s\n", i, r[i]);
    MM_REQUIRE(n == 1);
    mm_session_response resp;
    char why[160];
    MM_REQUIRE(mm_session_response_decode(r[0], strlen(r[0]), &resp, why, sizeof(why)) == MM_OK);
    MM_CHECK(check_token(resp.connect_token, resp.gameserver_ip, resp.gameserver_port) != 0);
    MM_CHECK(strlen(resp.cert_digest) == 95);
    mm_session_response_clear(&resp);
    h_free_replies(r, n);
}

static void
test_bad_payload(harness *h)
{
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n =
        h_request(h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"not an ip\"}", r, H_MAX_REPLIES, &ended, 5000);
    MM_CHECK(ended);
    MM_REQUIRE(n == 1);
    MM_CHECK(strncmp(r[0], "{\"Error\":[400,", 14) == 0);
    h_free_replies(r, n);
}

static void
test_cert_late(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "100", NULL);
    const char *gs_args[] = {"--cert-delay-ms", "800", NULL};
    h_start_gameserver_with(&h, gs_args);
    const char *mm_args[] = {"--log-level", "debug", NULL}; /* the cert-digest wait is a debug line */
    h_start_matchmaker(&h, mm_args);
    h_connect(&h);
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n =
        h_request(&h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"81.2.3.4\"}", r, H_MAX_REPLIES, &ended, 20000);
    MM_CHECK(ended);
    MM_REQUIRE(n >= 3);
    mm_feedback fb;
    char why[160];
    MM_REQUIRE(mm_feedback_decode(r[n - 1], strlen(r[n - 1]), &fb, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_READY);
    if (fb.kind == MM_FEEDBACK_READY) {
        MM_CHECK(strlen(fb.cert_digest) == 95);
        MM_CHECK(check_token(fb.token, fb.ip, fb.port) != 0);
    }
    mm_feedback_clear(&fb);
    h_free_replies(r, n);
    MM_CHECK(h_file_contains(h.mm_log, "for its cert digest"));
    h_stop(&h);
}

int
main(void)
{
    MM_REQUIRE(sodium_init() >= 0);
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    h_start_matchmaker(&h, NULL);
    h_connect(&h);
    mm_js *js = NULL;
    char why[200];
    MM_REQUIRE(mm_js_setup(h.nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);
    test_stream(&h, js);
    test_gensession(&h);
    test_bad_payload(&h);
    mm_js_destroy(js);
    h_stop(&h);
    test_cert_late();
    nats_Close();
    return MM_TEST_DONE();
}
