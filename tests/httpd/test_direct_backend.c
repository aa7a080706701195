/*
 * The all-in-one backend (src/actors/direct_backend.c) with a real provisioner: real nats-server
 * (JetStream buckets), edgegap_sim, gameserver_sim (writes cert_digests), and in this process the
 * minter, the provisioner and its cert_digests watcher, as bevygap_matchmaker --http wires them.
 *   - a streaming request for the served game: Acknowledged, SessionRequestAccepted,
 *     ProgressReport..., SessionReady (its token opens with the all-zero key for that ip:port),
 *     then the end, straight into the sink (no NATS hop);
 *   - WANNAPLAY: the same stream (the front turns SessionReady into the one answer);
 *   - another game or version: Error(503, "no matchmaker is serving <game> <version>"), nothing else;
 *   - ready() follows the backend's state; after close, submits are refused and the sink stays
 *     the caller's; metrics count each outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/direct_backend.h"
#include "mm/feedback.h"
#include "direct_stack.h"
#include "mm/token.h"
#include "rec_sink.h"

#define WAIT_MS 30000

static rec_sink *
submit(mm_direct_backend *d, mm_front_route route, const char *game, const char *version, mm_err expect)
{
    static uint64_t id;
    mm_front_request fr = {.id = ++id, .route = route};
    snprintf(fr.req.game, sizeof(fr.req.game), "%s", game);
    snprintf(fr.req.version, sizeof(fr.req.version), "%s", version);
    fr.req.has_client_ip = true;
    snprintf(fr.req.client_ip, sizeof(fr.req.client_ip), "81.128.157.123");
    rec_sink *r = rec_new();
    MM_CHECK_INT(mm_direct_backend_submit(d, &fr, &r->base), ==, expect);
    return r;
}

/* The sink got Acknowledged, Accepted, >= 1 Progress, SessionReady with a token for its ip:port. */
static void
check_session_stream(rec_sink *r)
{
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK(!r->has_error);
    if (r->has_error)
        fprintf(stderr, "error %u %s\n", r->status, r->message);
    MM_CHECK(r->ended && !r->freed_before_end);
    MM_REQUIRE(r->n >= 4);
    MM_CHECK_STR(r->texts[0], "\"Acknowledged\"");
    mm_feedback fb;
    char why[160];
    MM_REQUIRE(mm_feedback_decode(r->texts[1], strlen(r->texts[1]), &fb, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_ACCEPTED);
    mm_feedback_clear(&fb);
    for (int i = 2; i < r->n - 1; i++) {
        MM_REQUIRE(mm_feedback_decode(r->texts[i], strlen(r->texts[i]), &fb, why, sizeof(why)) == MM_OK);
        MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_PROGRESS);
        mm_feedback_clear(&fb);
    }
    MM_REQUIRE(mm_feedback_decode(r->texts[r->n - 1], strlen(r->texts[r->n - 1]), &fb, why, sizeof(why)) == MM_OK);
    MM_REQUIRE(fb.kind == MM_FEEDBACK_READY);
    uint8_t raw[MM_TOKEN_BYTES];
    MM_REQUIRE(mm_token_from_base64(fb.token, raw, why, sizeof(why)) == MM_OK);
    mm_token_key key;
    memset(&key, 0, sizeof(key));
    mm_token_decoded dec;
    MM_CHECK_INT(mm_token_decode(raw, &key, MM_BYTE_ORDER_LITTLE, 1982, mm_unix_seconds(), &dec, why, sizeof(why)), ==, MM_OK);
    char expect[80], got[80];
    snprintf(expect, sizeof(expect), "%s:%u", fb.ip, fb.port);
    mm_token_address_format(&dec.addresses[0], got, sizeof(got));
    MM_CHECK_STR(got, expect);
    MM_CHECK(fb.cert_digest != NULL && fb.cert_digest[0] != '\0');
    mm_feedback_clear(&fb);
}

int
main(void)
{
    harness h = {0};
    char why[256];
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    direct_stack ds;
    ds_start(&ds, &h, "direct");

    mm_direct_backend *d = NULL;
    MM_CHECK_INT(mm_direct_backend_create(NULL, &d, why, sizeof(why)), ==, MM_ERR_INVALID);
    d = ds.backend;
    mm_front_backend be;
    mm_direct_backend_backend(d, &be);
    MM_CHECK(be.ctx == d && be.ready(be.ctx));

    rec_sink *r = submit(d, MM_FRONT_WS, H_APP, H_VERSION, MM_OK);
    check_session_stream(r);
    rec_free(r);
    r = submit(d, MM_FRONT_WANNAPLAY, "", "", MM_OK);
    check_session_stream(r);
    rec_free(r);

    r = submit(d, MM_FRONT_CHUNKED, "other", H_VERSION, MM_OK);
    MM_CHECK(r->freed && r->has_error && r->ended); /* answered inside submit */
    MM_CHECK_INT(r->status, ==, 503);
    MM_CHECK_STR(r->message, "no matchmaker is serving other " H_VERSION);
    MM_CHECK_INT(r->n, ==, 0);
    rec_free(r);
    r = submit(d, MM_FRONT_WS, H_APP, "v2", MM_OK);
    MM_CHECK_STR(r->message, "no matchmaker is serving " H_APP " v2");
    rec_free(r);

    char buf[2048];
    size_t n = be.metrics(be.ctx, buf, sizeof(buf));
    MM_CHECK(n > 0 && buf[n - 1] == '\n');
    MM_CHECK(strstr(buf, "mm_direct_requests_total{outcome=\"submitted\"} 2\n") != NULL);
    MM_CHECK(strstr(buf, "mm_direct_requests_total{outcome=\"other_game\"} 2\n") != NULL);

    mm_direct_backend_close(d);
    MM_CHECK(!be.ready(be.ctx));
    r = submit(d, MM_FRONT_WS, H_APP, H_VERSION, MM_ERR_STOPPED);
    MM_CHECK(!r->freed && !r->ended);
    rec_free(r);
    mm_direct_backend_stats st;
    mm_direct_backend_get_stats(d, &st);
    MM_CHECK_U64(st.stopped, ==, 1);
    MM_CHECK_U64(st.submitted, ==, 2);

    ds_close(&ds);
    ds_destroy(&ds);
    mm_direct_backend_destroy(NULL);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
