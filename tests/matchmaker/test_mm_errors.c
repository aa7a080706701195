/*
 * bevygap_matchmaker end to end, failure paths (real nats-server, edgegap_sim, matchmaker):
 *   - an Edgegap error on session create is relayed: {"Error":[422,"..."]}, then the end;
 *   - a session not ready within --session-timeout-ms: Error 408, then the end, and the
 *     session is deleted at the simulator by the delete worker (live_session_ids empties);
 *   - a ready session whose cert digest never arrives (no gameserver_sim writes it): Error 500
 *     naming the server after --cert-wait-ms, the end, and the session deleted;
 *   - SIGTERM with a request in flight: after --stop-deadline-ms the client gets Error 503 and
 *     the end, and the matchmaker exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm_harness.h"

/* The delete worker empties the stream within a second or so; the bound the system guarantees
 * is the delete consumer's AckWait (30 s): see tests/actors/test_deleter.c, SETTLE_MS. */
#define DELETE_SETTLE_MS 40000

static void
test_edgegap_error(void)
{
    harness h = {0};
    h_start_nats(&h);
    const char *sim_args[] = {"--fault", "session_create:error_next=1,error_status=422", NULL};
    h_start_sim(&h, "300", sim_args);
    h_start_matchmaker(&h, NULL);
    h_connect(&h);
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n =
        h_request(&h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"81.2.3.4\"}", r, H_MAX_REPLIES, &ended, 10000);
    MM_CHECK(ended);
    MM_REQUIRE(n == 2);
    MM_CHECK_STR(r[0], "\"Acknowledged\"");
    MM_CHECK(strncmp(r[1], "{\"Error\":[422,\"", 15) == 0);
    h_free_replies(r, n);
    h_stop(&h);
}

static bool
sim_has_no_live_sessions(const harness *h)
{
    char url[128], body[8192];
    snprintf(url, sizeof(url), "%s/__sim/stats", h->sim_url);
    if (h_http_get(url, body, sizeof(body)) != 200)
        return false;
    return strstr(body, "\"live_session_ids\":[]") != NULL && strstr(body, "\"sessions_created\":1") != NULL;
}

/* Polls (with a deadline) until the delete worker has removed every session at the simulator. */
static bool
wait_sessions_deleted(const harness *h)
{
    uint64_t until = mm_now_ms() + DELETE_SETTLE_MS;
    while (!sim_has_no_live_sessions(h) && mm_now_ms() < until) {
        mm_test_sleep_ms(50);
    }
    return sim_has_no_live_sessions(h);
}

static void
test_timeout_deletes(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "60000", NULL);
    const char *mm_args[] = {"--session-timeout-ms", "800", NULL};
    h_start_matchmaker(&h, mm_args);
    h_connect(&h);
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n =
        h_request(&h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"81.2.3.4\"}", r, H_MAX_REPLIES, &ended, 10000);
    MM_CHECK(ended);
    MM_REQUIRE(n >= 3);
    MM_CHECK_STR(r[0], "\"Acknowledged\"");
    MM_CHECK(strncmp(r[1], "{\"SessionRequestAccepted\":", 26) == 0);
    MM_CHECK_STR(r[n - 1], "{\"Error\":[408,\"session still not ready, timed out.\"]}");
    h_free_replies(r, n);
    MM_CHECK(wait_sessions_deleted(&h));
    h_stop(&h);
}

static void
test_cert_missing(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "100", NULL);
    const char *mm_args[] = {"--cert-wait-ms", "300", NULL};
    h_start_matchmaker(&h, mm_args);
    h_connect(&h);
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n =
        h_request(&h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"81.2.3.4\"}", r, H_MAX_REPLIES, &ended, 10000);
    MM_CHECK(ended);
    MM_REQUIRE(n >= 3);
    MM_CHECK(strncmp(r[n - 1], "{\"Error\":[500,\"no certificate digest for game server ", 52) == 0);
    h_free_replies(r, n);
    MM_CHECK(wait_sessions_deleted(&h));
    h_stop(&h);
}

static void
test_stop_in_flight(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "60000", NULL);
    const char *mm_args[] = {"--stop-deadline-ms", "200", NULL};
    h_start_matchmaker(&h, mm_args);
    h_connect(&h);
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    MM_REQUIRE(natsInbox_Create(&inbox) == NATS_OK);
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, h.nc, inbox) == NATS_OK);
    MM_REQUIRE(natsConnection_PublishRequestString(h.nc, "matchmaker.request." H_APP "." H_VERSION, inbox,
                                                   "{\"client_ip\":\"81.2.3.4\"}") == NATS_OK);
    /* wait until the session exists, so the request is surely in flight */
    bool accepted = false;
    natsMsg *msg = NULL;
    while (!accepted && natsSubscription_NextMsg(&msg, sub, 10000) == NATS_OK) {
        const char *data = natsMsg_GetData(msg);
        accepted = data != NULL && strstr(data, "SessionRequestAccepted") != NULL;
        natsMsg_Destroy(msg);
    }
    MM_REQUIRE(accepted);
    MM_CHECK_INT(mm_test_stop(h.mm, 15000), ==, 0);
    h.mm = 0;
    char last[256] = "";
    bool ended = false;
    while (!ended && natsSubscription_NextMsg(&msg, sub, 5000) == NATS_OK) {
        if (natsMsg_GetDataLength(msg) == 0)
            ended = true;
        else
            snprintf(last, sizeof(last), "%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
        natsMsg_Destroy(msg);
    }
    MM_CHECK(ended);
    MM_CHECK(strncmp(last, "{\"Error\":[503,", 14) == 0);
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    h_stop(&h);
}

int
main(void)
{
    test_stop_in_flight();
    test_edgegap_error();
    test_timeout_deletes();
    test_cert_missing();
    nats_Close();
    return MM_TEST_DONE();
}
