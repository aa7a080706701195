/*
 * bevygap_matchmaker end to end, the reaper's two rules (docs/protocol.md section 4), with real nats-server,
 * edgegap_sim, gameserver_sim and the matchmaker at scaled-down reaper timings:
 *   (a) unclaimed: a request gets SessionReady, the token is never used; the session stays live
 *       until its unclaimed_sessions entry is older than age + margin, then it is deleted at the
 *       simulator exactly once and the unclaimed_sessions key is gone;
 *   (b) claimed, then disconnected: the player connects through gameserver_sim (which puts
 *       active_connections), so the session leaves unclaimed_sessions and is NOT deleted after
 *       age + margin + scans; when the player disconnects (active_connections deleted) the
 *       session is deleted exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mm/clock.h"
#include "mm/kv.h"
#include "mm_harness.h"

#define AGE_MS 4000
#define MARGIN_MS 500
#define SCAN_MS 100
#define LIMIT_MS (AGE_MS + MARGIN_MS)
/* The delete worker normally deletes within a second; its guaranteed bound is the consumer's
 * AckWait (30 s) in a rare race: see tests/actors/test_deleter.c. */
#define DELETE_SETTLE_MS 40000

/* must match AGE_MS, MARGIN_MS and SCAN_MS */
static const char *const reaper_args[] = {
    "--reaper-age-ms", "4000", "--reaper-margin-ms", "500", "--reaper-scan-ms", "100", "--session-timeout-ms", "4000", NULL};

static void
start_all(harness *h, mm_js **js)
{
    h_start_nats(h);
    h_start_sim(h, "100", NULL);
    h_start_gameserver(h);
    h_start_matchmaker(h, reaper_args);
    h_connect(h);
    char why[200];
    MM_REQUIRE(mm_js_setup(h->nc, MM_JS_NEED_ALL, 0, js, why, sizeof(why)) == MM_OK);
}

/* One request to SessionReady; s keeps the session id and the reply. */
static void
request_ready(harness *h, h_stream *s)
{
    h_stream_open(h, s, "81.2.3.4");
    MM_REQUIRE(h_stream_wait(s, H_UNTIL_END, 15000));
    if (!h_stream_ready(s))
        fprintf(stderr, "last reply: %s\n", s->last);
    MM_REQUIRE(h_stream_ready(s));
    MM_REQUIRE(s->session[0] != '\0');
}

static bool
log_says(const harness *h, const char *what, const char *session)
{
    char needle[160];
    snprintf(needle, sizeof(needle), "reaper: session %s enqueued for deletion (%s)", session, what);
    return h_file_contains(h->mm_log, needle);
}

static void
test_unclaimed(void)
{
    harness h = {0};
    mm_js *js = NULL;
    start_all(&h, &js);
    kvStore *unclaimed = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);
    h_stream s;
    request_ready(&h, &s);
    MM_CHECK(h_wait_kv(unclaimed, s.session, true, 5000));

    /* Poll until the session is gone; it must not go before its entry is LIMIT_MS old (the entry
     * is written right after SessionRequestAccepted; 200 ms allow for that and for our poll). */
    h_sim_stats st;
    uint64_t until = s.accepted_ms + LIMIT_MS + DELETE_SETTLE_MS;
    uint64_t gone_at = 0;
    while (gone_at == 0 && mm_now_ms() < until) {
        if (h_sim_stats_get(&h, &st) && !h_sim_is_live(&st, s.session))
            gone_at = mm_now_ms();
        else
            mm_test_sleep_ms(50);
    }
    MM_REQUIRE(gone_at != 0);
    MM_CHECK_U64(gone_at - s.accepted_ms, >=, LIMIT_MS - 200);
    MM_CHECK_INT(st.live, ==, 0);
    MM_CHECK_INT(st.created, ==, 1);
    MM_CHECK_INT(st.deleted, ==, 1);
    MM_CHECK(h_wait_kv(unclaimed, s.session, false, 5000));
    MM_CHECK(log_says(&h, "unclaimed for too long", s.session));
    h_stream_close(&s);
    mm_js_destroy(js);
    h_stop(&h);
}

/* Connects the "player" with the SessionReady token; returns its client id (malloc'd) or NULL. */
static char *
player_connect(harness *h, const h_stream *s)
{
    char *token = malloc(4096), reply[1024] = "";
    MM_REQUIRE(token != NULL);
    MM_REQUIRE(h_stream_token(s, token, 4096));
    json_t *req = json_pack("{s:s}", "token", token);
    char *payload = json_dumps(req, JSON_COMPACT);
    MM_REQUIRE(payload != NULL);
    /* the matchmaker writes sessions_ly2eg asynchronously: the first try may come before it */
    bool ok = false;
    uint64_t until = mm_now_ms() + 5000;
    while (!(ok = h_gs_call(h, "connect", payload, reply, sizeof(reply))) && mm_now_ms() < until)
        mm_test_sleep_ms(50);
    if (!ok)
        fprintf(stderr, "connect refused: %s\n", reply);
    char *client_id = NULL;
    json_t *o = ok ? json_loads(reply, 0, NULL) : NULL;
    const char *session = json_string_value(json_object_get(o, "session_id"));
    const char *cid = json_string_value(json_object_get(o, "client_id"));
    if (session != NULL && cid != NULL) {
        MM_CHECK_STR(session, s->session);
        client_id = strdup(cid);
    }
    json_decref(o);
    free(payload);
    json_decref(req);
    free(token);
    return client_id;
}

static void
test_claimed_then_disconnected(void)
{
    harness h = {0};
    mm_js *js = NULL;
    start_all(&h, &js);
    kvStore *unclaimed = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);
    kvStore *active = mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS);
    h_stream s;
    request_ready(&h, &s);
    char *client_id = player_connect(&h, &s);
    MM_REQUIRE(client_id != NULL);
    MM_CHECK(h_wait_kv(active, s.session, true, 5000));
    /* claimed: the reaper removes the unclaimed entry */
    MM_CHECK(h_wait_kv(unclaimed, s.session, false, 5000));

    /* Older than the limit, with several scans past it: still live, never enqueued. */
    h_sim_stats st;
    uint64_t until = s.accepted_ms + LIMIT_MS + 5 * SCAN_MS + 500;
    bool stayed = true;
    while (stayed && mm_now_ms() < until) {
        stayed = h_sim_stats_get(&h, &st) && h_sim_is_live(&st, s.session) && st.deleted == 0;
        mm_test_sleep_ms(50);
    }
    MM_CHECK(stayed);
    MM_CHECK(!log_says(&h, "unclaimed for too long", s.session));

    /* The player leaves: gameserver_sim deletes active_connections[session]. */
    json_t *req = json_pack("{s:s}", "client_id", client_id);
    char *payload = json_dumps(req, JSON_COMPACT), reply[1024];
    MM_REQUIRE(payload != NULL);
    MM_CHECK(h_gs_call(&h, "disconnect", payload, reply, sizeof(reply)));
    MM_CHECK(h_wait_kv(active, s.session, false, 5000));
    MM_CHECK(h_wait_sim_empty(&h, DELETE_SETTLE_MS, &st));
    MM_CHECK_INT(st.created, ==, 1);
    MM_CHECK_INT(st.deleted, ==, 1);
    MM_CHECK(log_says(&h, "the player left", s.session));
    MM_CHECK(!h_kv_has(unclaimed, s.session));
    free(payload);
    json_decref(req);
    free(client_id);
    h_stream_close(&s);
    mm_js_destroy(js);
    h_stop(&h);
}

int
main(void)
{
    test_unclaimed();
    test_claimed_then_disconnected();
    nats_Close();
    return MM_TEST_DONE();
}
