/*
 * bevygap_matchmaker end to end: no DELETE is sent twice for a session (docs/reaper_and_deleter.md,
 * "Never twice"). Real nats-server (file store), edgegap_sim, gameserver_sim, the matchmaker.
 *
 *   1. N sessions are made (SessionReady), claimed (active_connections put, as a game server
 *      does) and left (active_connections deleted): the reaper enqueues each, the delete worker
 *      deletes each once (200) and records it in mm_deleted_sessions.
 *   2. The matchmaker stops (SIGTERM; its last line says how the drain went), nats-server is
 *      restarted (the delete stream's de-duplication ids of acknowledged messages do not survive
 *      that), and the matchmaker starts again: its reaper replays the "player left" markers
 *      younger than an hour and enqueues each session again.
 *   3. The delete worker finds each on record and sends nothing: the simulator counts no DELETE
 *      more than the N it answered 200, so no 410.
 * Without the record (the deleter before mm_deleted_sessions) step 3 sends N DELETEs, answered 410.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/kv.h"
#include "mm_harness.h"

#define N 4

static const char *const mm_args[] = {"--reaper-age-ms", "20000", "--reaper-margin-ms", "1000", "--reaper-scan-ms", "100", NULL};

static bool
log_has(const char *log, const char *fmt, const char *session)
{
    char needle[200];
    snprintf(needle, sizeof(needle), fmt, session);
    return h_file_contains(log, needle);
}

static bool
wait_log(const char *log, const char *fmt, const char *session, int timeout_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    while (!log_has(log, fmt, session) && mm_now_ms() < until)
        mm_test_sleep_ms(20);
    return log_has(log, fmt, session);
}

/* DELETE requests the simulator answered, and of them the 200s: the rest were 404/410. */
static void
sim_deletes(const harness *h, long long *requests, long long *deleted)
{
    *requests = h_sim_counter(h, "requests", "session_delete");
    *deleted = h_sim_counter(h, NULL, "sessions_deleted");
}

int
main(void)
{
    harness h = {0};
    mm_js *js = NULL;
    char why[200];
    h_start_nats(&h);
    h_start_sim(&h, "100", NULL);
    h_start_gameserver(&h);
    h_start_matchmaker(&h, mm_args);
    char first_log[512];
    snprintf(first_log, sizeof(first_log), "%s", h.mm_log);
    h_connect_reconnecting(&h);
    MM_REQUIRE(mm_js_setup(h.nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);
    kvStore *active = mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS);
    kvStore *unclaimed = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);
    kvStore *record = mm_js_kv(js, MM_KV_DELETED_SESSIONS);

    /* 1. made, claimed, left, deleted once */
    char sessions[N][64];
    for (int i = 0; i < N; i++) {
        h_stream s;
        h_stream_open(&h, &s, "81.2.3.4");
        MM_REQUIRE(h_stream_wait(&s, H_UNTIL_END, 15000));
        MM_REQUIRE(h_stream_ready(&s));
        snprintf(sessions[i], sizeof(sessions[i]), "%s", s.session);
        h_stream_close(&s);
        MM_REQUIRE(h_wait_kv(unclaimed, sessions[i], true, 5000));
        MM_REQUIRE(mm_kv_put_str(active, sessions[i], "42", NULL) == MM_OK);
        MM_REQUIRE(h_wait_kv(unclaimed, sessions[i], false, 10000)); /* the reaper saw the claim */
        MM_REQUIRE(mm_kv_delete(active, sessions[i]) == MM_OK);
    }
    for (int i = 0; i < N; i++) {
        MM_CHECK(wait_log(first_log, "deleter: deleted session %s", sessions[i], 20000));
        MM_CHECK(h_wait_kv(record, sessions[i], true, 5000));
    }
    long long requests = 0, deleted = 0;
    sim_deletes(&h, &requests, &deleted);
    MM_CHECK_INT(deleted, ==, N);
    MM_CHECK_INT(requests, ==, N);

    /* 2. the matchmaker stops, nats-server restarts, the matchmaker starts again */
    MM_CHECK_INT(mm_test_stop(h.mm, 30000), ==, 0);
    h.mm = 0;
    MM_CHECK(h_file_contains(first_log, "stopped: drained 0 requests (0 ready, 0 failed), 0 answered 503 at the deadline, exit 0"));
    h_nats_down(&h);
    h_nats_up(&h);
    h_start_matchmaker(&h, mm_args);

    /* 3. replayed, found on record, not sent */
    for (int i = 0; i < N; i++) {
        MM_CHECK(wait_log(h.mm_log, "reaper: session %s enqueued for deletion (the player left)", sessions[i], 20000));
        MM_CHECK(wait_log(h.mm_log, "deleter: session %s was deleted before", sessions[i], 20000));
    }
    sim_deletes(&h, &requests, &deleted);
    MM_CHECK_INT(deleted, ==, N);
    MM_CHECK_INT(requests - deleted, ==, 0); /* the 410s (and 404s) */
    MM_CHECK_INT(requests, ==, N);
    if (mm_test_failed > 0) {
        h_dump_log(first_log, 30);
        h_dump_log(h.mm_log, 40);
    }
    mm_js_destroy(js);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
