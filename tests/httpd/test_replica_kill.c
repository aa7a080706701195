/*
 * Split mode under load, kill -9 of one of two matchmaker replicas (docs/protocol.md section 3,
 * "Heartbeats"): bevygap_matchmaker_httpd with --backend-silence-ms 1500 in front of matchmakers A
 * and B, real nats-server, edgegap_sim (every session its own deployment, ready after 6 s) and
 * gameserver_sim.
 *
 *   1. A burst of N_BURST chunked requests (POST /matchmaker/request/game/v1), shared by the
 *      queue group. The matchmakers poll every 2 s, longer than the front's silence limit: a
 *      request stays open between progress reports only thanks to the matchmaker's heartbeats.
 *   2. Once every request is accepted and its session recorded in unclaimed_sessions (so no
 *      Edgegap create is in flight on A: a session whose create answer dies with its process is
 *      unknowable, see tests/matchmaker/test_mm_crash.c), A is killed with SIGKILL.
 *   3. Every request in flight at the kill gets its final message within KILL_ANSWER_MS of it
 *      (A's: Error 503 from the front, as A's liveness messages on mm.alive.<nuid> stopped), or is
 *      served (B's: SessionReady long after the silence limit, silent on their own streams but
 *      kept open by B's liveness). At least one of A's was cut.
 *   4. N_AFTER requests sent after the kill are all served by B.
 *   5. No session leaks: B's reaper deletes A's orphans, the simulator ends with no live session
 *      and as many deleted as created.
 * Run with --backend-silence-ms 0 (the front before heartbeats), A's requests would hang until
 * the front's 60 s limit and step 3 fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "chunked_call.h"
#include "httpd_harness.h"
#include "mm/clock.h"
#include "mm/kv.h"

#define N_BURST 24
#define N_AFTER 6
#define N_ALL (N_BURST + N_AFTER)
#define KILL_ANSWER_MS 5000
#define SILENCE_MS "1500"

static chunked_call calls[N_ALL];

static bool
all(bool (*pred)(chunked_call *), int from, int to)
{
    for (int i = from; i < to; i++)
        if (!pred(&calls[i]))
            return false;
    return true;
}

static bool
call_done(chunked_call *c)
{
    return c->done;
}

int
main(void)
{
    harness h = {0};
    hd_proc front;
    mm_js *js = NULL;
    char why[256], last[4096];
    MM_REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
    h_start_nats(&h);
    const char *sim_args[] = {"--sockets", "1", NULL};
    h_start_sim(&h, "6000", sim_args);
    h_start_gameserver(&h);
    const char *mm_args[] = {"--poll-delay-ms",
                             "2000",
                             "--poll-interval-ms",
                             "2000",
                             "--session-timeout-ms",
                             "30000",
                             "--reaper-age-ms",
                             "7000",
                             "--reaper-margin-ms",
                             "1000",
                             "--reaper-scan-ms",
                             "200",
                             NULL};
    h_start_matchmaker(&h, mm_args);
    pid_t a = h.mm;
    char a_log[512];
    snprintf(a_log, sizeof(a_log), "%s", h.mm_log);
    h_start_matchmaker(&h, mm_args); /* B: h.mm from now on, stopped by h_stop */
    const char *front_args[] = {
        "--backend-silence-ms", SILENCE_MS, "--matchmaker-timeout-ms", "60000", "--limits-exempt", "0.0.0.0/0", NULL};
    hd_start(&h, &front, front_args);
    h_connect(&h);
    MM_REQUIRE(mm_js_setup(h.nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);
    kvStore *unclaimed = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);

    CURLM *m = curl_multi_init();
    MM_REQUIRE(m != NULL);
    for (int i = 0; i < N_BURST; i++)
        cc_start(m, &calls[i], front.port, 120000L);
    /* 2. every request accepted and recorded: no create in flight anywhere */
    uint64_t until = mm_now_ms() + 15000;
    while (!all(cc_accepted, 0, N_BURST) && mm_now_ms() < until)
        cc_drive(m, 50, 20);
    MM_REQUIRE(all(cc_accepted, 0, N_BURST));
    for (int i = 0; i < N_BURST; i++)
        MM_REQUIRE(h_wait_kv(unclaimed, calls[i].session, true, 5000));
    /* let a silence longer than the front's limit pass: only heartbeats keep the requests open */
    cc_drive(m, 1800, 20);
    for (int i = 0; i < N_BURST; i++)
        MM_CHECK(!calls[i].done);
    uint64_t kill_ms = mm_now_ms();
    MM_CHECK(h_kill9(a));

    /* 4. after the kill: new requests go to B */
    cc_drive(m, 200, 20);
    for (int i = N_BURST; i < N_ALL; i++)
        cc_start(m, &calls[i], front.port, 120000L);
    until = mm_now_ms() + 45000;
    while (!all(call_done, 0, N_ALL) && mm_now_ms() < until)
        cc_drive(m, 100, 20);
    curl_multi_cleanup(m);

    /* 3. the burst: every request answered within KILL_ANSWER_MS of the kill, or served */
    int cut = 0, served = 0;
    uint64_t cut_max_ms = 0;
    for (int i = 0; i < N_ALL; i++) {
        chunked_call *c = &calls[i];
        MM_CHECK(c->done);
        MM_CHECK_INT(c->status, ==, 200);
        cc_last(c, last, sizeof(last));
        bool ready = strncmp(last, "{\"SessionReady\":", 16) == 0;
        bool silent = strstr(last, "{\"Error\":[503,\"the matchmaker serving this request stopped answering") == last;
        if (i >= N_BURST) {
            if (!ready)
                fprintf(stderr, "request %d after the kill ended with %s\n", i, last);
            MM_CHECK(ready);
            continue;
        }
        if (ready) {
            served++;
            continue;
        }
        cut++;
        if (c->done && c->end_ms - kill_ms > cut_max_ms)
            cut_max_ms = c->end_ms - kill_ms;
        if (!silent || !c->done || c->end_ms > kill_ms + KILL_ANSWER_MS)
            fprintf(stderr, "request %d (session %s): ended %lld ms after the kill with %s\n", i, c->session,
                    c->done ? (long long)(c->end_ms - kill_ms) : -1LL, last);
        MM_CHECK(silent);
        MM_CHECK_U64(c->end_ms, <=, kill_ms + KILL_ANSWER_MS);
    }
    fprintf(stderr,
            "burst of %d: %d served by the survivor, %d of the killed replica's answered 503, the last %llu ms after the kill\n",
            N_BURST, served, cut, (unsigned long long)cut_max_ms);
    MM_CHECK_INT(cut, >=, 1);
    MM_CHECK_INT(served, >=, 1);
    MM_CHECK(h_file_contains(front.log, "its replica's liveness stopped")); /* per process, include/mm/reply.h "Liveness" */

    /* 5. no session leaks: B's reaper deletes A's orphans (unclaimed after 8 s) */
    h_sim_stats st;
    bool empty = h_wait_sim_empty(&h, 40000, &st);
    MM_CHECK(empty);
    MM_CHECK_INT(st.created, ==, N_ALL);
    MM_CHECK_INT(st.deleted, ==, st.created);
    if (!empty || mm_test_failed > 0) {
        hd_dump_log(&front);
        h_dump_log(h.mm_log, 40);
        h_dump_log(a_log, 20);
    }
    MM_CHECK_INT(hd_stop(&front, 10000), ==, 0);
    MM_CHECK(h_file_contains(front.log, "stopped: drained 0 requests, 0 answered 503 at the deadline, exit 0"));
    mm_js_destroy(js);
    h_stop(&h);
    curl_global_cleanup();
    nats_Close();
    return MM_TEST_DONE();
}
