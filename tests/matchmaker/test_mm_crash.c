/*
 * bevygap_matchmaker end to end: kill -9 of a replica while its requests are in flight (sessions
 * created at the simulator that never become ready: edgegap_sim's never_ready fault, so they are
 * surely in flight at the kill however slow the machine). Its clients get no end (they time out
 * on their side; nothing can answer for a dead process). What must hold: the orphaned sessions,
 * recorded in unclaimed_sessions, are deleted once they are older than the reaper's limit
 *   (a) by the surviving replica, whose own requests (before and after the kill) succeed;
 *   (b) when the only replica was killed, by a replica started afterwards, which serves new
 *       requests at once;
 * and /__sim/stats ends with no live session and one DELETE per session created.
 *
 * The test waits until each orphan's unclaimed_sessions entry exists before the kill: a
 * process killed between Edgegap's answer to the create and that (asynchronous) write leaves a
 * session nobody knows about, which only Edgegap's own limits end. That window is inherent in
 * recording a session under the id Edgegap gives it; this test does not cover it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/kv.h"
#include "mm_harness.h"

#define LIMIT_MS 8000 /* --reaper-age-ms + --reaper-margin-ms below */
#define DELETE_SETTLE_MS 40000
#define N_FIRST 3  /* requests sent while only the first replica runs: never ready (never_ready_next=3) */
#define N_SECOND 4 /* requests sent while both run */

/* The session timeout is far above the reaper's limit here only so that the dead replica's
 * requests could not have ended on their own before the kill on a slow machine; the survivor's
 * requests take about the deployment delay (1 s). */
/* --log-level debug: which replica created a session is read from its "session X created" line,
 * a debug line. */
static const char *const mm_args[] = {"--reaper-age-ms",      "7000",  "--reaper-margin-ms", "1000",  "--reaper-scan-ms", "200",
                                      "--session-timeout-ms", "30000", "--log-level",        "debug", NULL};
static const char *const sim_args[] = {"--sockets", "20", "--fault", "session_create:never_ready_next=3", NULL};

static void
start_infra(harness *h)
{
    h_start_nats(h);
    h_start_sim(h, "1000", sim_args);
    h_start_gameserver(h);
}

static void
open_accepted(harness *h, mm_js *js, h_stream *streams, int n)
{
    kvStore *unclaimed = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);
    for (int i = 0; i < n; i++)
        h_stream_open(h, &streams[i], "81.2.3.4");
    for (int i = 0; i < n; i++) {
        MM_REQUIRE(h_stream_wait(&streams[i], H_UNTIL_ACCEPTED, 10000));
        MM_REQUIRE(streams[i].session[0] != '\0');
        MM_REQUIRE(h_wait_kv(unclaimed, streams[i].session, true, 5000));
    }
}

static bool
created_by(const char *log, const char *session)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "session %s created", session);
    return h_file_contains(log, needle);
}

static bool
reaped_by(const char *log, const char *session)
{
    char needle[160];
    snprintf(needle, sizeof(needle), "reaper: session %s enqueued for deletion (unclaimed for too long)", session);
    return h_file_contains(log, needle);
}

/* After the kill: nothing more arrives for the dead replica's requests (non-blocking look). */
static void
check_silent(h_stream *s)
{
    h_stream_wait(s, H_UNTIL_END, 0);
    MM_CHECK(!s->ended);
}

static void
wait_all_deleted(harness *h, int created)
{
    h_sim_stats st;
    bool empty = h_wait_sim_empty(h, LIMIT_MS + DELETE_SETTLE_MS, &st);
    MM_CHECK(empty);
    MM_CHECK_INT(st.live, ==, 0);
    MM_CHECK_INT(st.created, ==, created);
    MM_CHECK_INT(st.deleted, ==, created);
}

static void
test_survivor_reaps(void)
{
    harness h = {0};
    mm_js *js = NULL;
    char why[200];
    start_infra(&h);
    h_start_matchmaker(&h, mm_args);
    pid_t first = h.mm;
    char first_log[512];
    snprintf(first_log, sizeof(first_log), "%s", h.mm_log);
    h_connect(&h);
    MM_REQUIRE(mm_js_setup(h.nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);

    h_stream a[N_FIRST], b[N_SECOND];
    open_accepted(&h, js, a, N_FIRST);
    h_start_matchmaker(&h, mm_args); /* the survivor; h.mm is now it */
    open_accepted(&h, js, b, N_SECOND);
    for (int i = 0; i < N_FIRST; i++)
        MM_REQUIRE(!a[i].ended); /* still in flight: never ready */
    MM_CHECK(h_kill9(first));

    /* The second batch was shared by the queue group: the survivor's requests succeed. */
    int survivor_served = 0;
    for (int i = 0; i < N_SECOND; i++) {
        bool mine = created_by(h.mm_log, b[i].session);
        MM_CHECK(mine != created_by(first_log, b[i].session));
        if (mine) {
            survivor_served++;
            MM_CHECK(h_stream_wait(&b[i], H_UNTIL_END, 20000));
            MM_CHECK(h_stream_ready(&b[i]));
        }
    }
    fprintf(stderr, "the survivor served %d of %d requests of the second batch\n", survivor_served, N_SECOND);
    /* after the kill every request is the survivor's */
    h_stream after;
    h_stream_open(&h, &after, "81.2.3.5");
    MM_CHECK(h_stream_wait(&after, H_UNTIL_END, 20000));
    MM_CHECK(h_stream_ready(&after));
    MM_CHECK(created_by(h.mm_log, after.session));
    h_stream_close(&after);
    for (int i = 0; i < N_FIRST; i++)
        check_silent(&a[i]);
    /* the dead replica's share of the second batch may have finished before the kill */
    for (int i = 0; i < N_SECOND; i++)
        if (!created_by(h.mm_log, b[i].session)) {
            h_stream_wait(&b[i], H_UNTIL_END, 0);
            MM_CHECK(!b[i].ended || h_stream_ready(&b[i]));
        }

    wait_all_deleted(&h, N_FIRST + N_SECOND + 1);
    for (int i = 0; i < N_FIRST; i++)
        MM_CHECK(reaped_by(h.mm_log, a[i].session));
    MM_CHECK(h_alive(h.mm));
    for (int i = 0; i < N_FIRST; i++)
        h_stream_close(&a[i]);
    for (int i = 0; i < N_SECOND; i++)
        h_stream_close(&b[i]);
    mm_js_destroy(js);
    h_stop(&h);
}

static void
test_restarted_replica_reaps(void)
{
    harness h = {0};
    mm_js *js = NULL;
    char why[200];
    start_infra(&h);
    h_start_matchmaker(&h, mm_args);
    h_connect(&h);
    MM_REQUIRE(mm_js_setup(h.nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);

    h_stream a[N_FIRST];
    open_accepted(&h, js, a, N_FIRST);
    for (int i = 0; i < N_FIRST; i++)
        MM_REQUIRE(!a[i].ended);
    MM_CHECK(h_kill9(h.mm));
    h.mm = 0;

    h_start_matchmaker(&h, mm_args);
    h_stream later;
    h_stream_open(&h, &later, "81.2.3.5");
    MM_CHECK(h_stream_wait(&later, H_UNTIL_END, 20000));
    MM_CHECK(h_stream_ready(&later));
    for (int i = 0; i < N_FIRST; i++)
        check_silent(&a[i]);

    wait_all_deleted(&h, N_FIRST + 1);
    for (int i = 0; i < N_FIRST; i++)
        MM_CHECK(reaped_by(h.mm_log, a[i].session));
    MM_CHECK(h_alive(h.mm));
    for (int i = 0; i < N_FIRST; i++)
        h_stream_close(&a[i]);
    h_stream_close(&later);
    mm_js_destroy(js);
    h_stop(&h);
}

int
main(void)
{
    test_survivor_reaps();
    test_restarted_replica_reaps();
    nats_Close();
    return MM_TEST_DONE();
}
