/*
 * bevygap_matchmaker's session polls under load (real nats-server, edgegap_sim, gameserver_sim,
 * the matchmaker; docs/matchmaker.md "Queueing and polls"):
 *   - creates before polls: 6 sessions that never become ready poll through one Edgegap slot
 *     (--max-edgegap-in-flight 1 --max-edgegap-queued 2, each GET 250 ms at the simulator: far
 *     more polls are due than the slot serves). 3 new requests, one after another, are each
 *     accepted (never Error 503 busy) and their own polls get their turn: each ends with
 *     SessionReady. The 6 old sessions keep being polled too: each has several ProgressReports
 *     before its Error 408 (--session-timeout-ms 10000).
 *   - the poll grid: --poll-delay-ms 100 --poll-interval-ms 200, each GET 100 ms, a session that
 *     never becomes ready, --session-timeout-ms 8100. Polls start on the grid (100 + 200k ms
 *     after the create: 40 before the deadline), not one interval after each answer (100 + 300k:
 *     27). The count is checked against a band that tolerates a few late ticks on a loaded
 *     machine and excludes both the old rhythm and extra polls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "mm/clock.h"
#include "mm_harness.h"

/* One request's stream, with its replies sorted. */
typedef struct watched {
    h_stream s;      /* its inbox and subscription (h_stream_open / h_stream_close) */
    int polls;       /* ProgressReports answering a poll */
    int waits;       /* ProgressReports "Waiting for Edgegap: ..." */
    int busy;        /* Error 503 */
    bool accepted;   /* SessionRequestAccepted */
    bool ended;      /* the empty end message */
    char last[4096]; /* the last non-empty reply */
} watched;

/* Reads w's replies until it was accepted (until_accepted) or ended, at most timeout_ms. */
static bool
watch(watched *w, bool until_accepted, int timeout_ms)
{
    uint64_t deadline = mm_now_ms() + (uint64_t)timeout_ms;
    while (!w->ended && !(until_accepted && w->accepted)) {
        uint64_t now = mm_now_ms();
        if (now >= deadline)
            break;
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, w->s.sub, (int64_t)(deadline - now)) != NATS_OK)
            break;
        int len = natsMsg_GetDataLength(msg);
        const char *data = natsMsg_GetData(msg);
        if (len == 0) {
            w->ended = true;
        } else {
            snprintf(w->last, sizeof(w->last), "%.*s", len, data);
            if (strncmp(w->last, "{\"SessionRequestAccepted\":", 26) == 0)
                w->accepted = true;
            else if (strncmp(w->last, "{\"ProgressReport\":\"Waiting for Edgegap: ", 40) == 0)
                w->waits++;
            else if (strncmp(w->last, "{\"ProgressReport\":", 18) == 0)
                w->polls++;
            else if (strncmp(w->last, "{\"Error\":[503,", 14) == 0)
                w->busy++;
        }
        natsMsg_Destroy(msg);
    }
    return w->ended || (until_accepted && w->accepted);
}

static void
test_creates_before_polls(harness *h)
{
    enum { OLD = 6, FRESH = 3 };
    static watched old[OLD], fresh[FRESH];
    /* the first OLD sessions stay Status.SEEKING for ever; every poll takes 250 ms */
    h_sim_faults(h, "{\"session_create\":{\"never_ready_next\":6},\"session_get\":{\"latency_ms\":250}}");
    long long gets = h_sim_counter(h, "requests", "session_get");
    for (int i = 0; i < OLD; i++) {
        h_stream_open(h, &old[i].s, "81.2.3.4");
        MM_REQUIRE(watch(&old[i], true, 10000));
        MM_CHECK_INT(old[i].busy, ==, 0);
    }
    /* Polls are flowing, far more of them due than the one slot serves: each session wants one
     * every 50 ms, the slot answers one per 250 ms. */
    uint64_t until = mm_now_ms() + 10000;
    while (h_sim_counter(h, "requests", "session_get") - gets < OLD && mm_now_ms() < until)
        mm_test_sleep_ms(20);
    MM_CHECK_INT(h_sim_counter(h, "requests", "session_get") - gets, >=, OLD);

    /* New players one after another (each create waits at most behind the running poll): every
     * one is accepted. Without the reserved place most would find the queue full of polls. */
    for (int i = 0; i < FRESH; i++) {
        h_stream_open(h, &fresh[i].s, "81.2.3.4");
        MM_CHECK(watch(&fresh[i], true, 10000));
        MM_CHECK(fresh[i].accepted);
        MM_CHECK_INT(fresh[i].busy, ==, 0);
    }
    for (int i = 0; i < FRESH; i++) {
        MM_CHECK(watch(&fresh[i], false, 20000));
        fprintf(stderr, "new request %d: %d polls, %d waits, last %.60s\n", i, fresh[i].polls, fresh[i].waits, fresh[i].last);
        MM_CHECK(strncmp(fresh[i].last, "{\"SessionReady\":", 16) == 0); /* its own polls were not starved */
        MM_CHECK_INT(fresh[i].polls, >=, 1);
        MM_CHECK_INT(fresh[i].busy, ==, 0);
        h_stream_close(&fresh[i].s);
    }
    for (int i = 0; i < OLD; i++) {
        MM_CHECK(watch(&old[i], false, 20000));
        fprintf(stderr, "old request %d: %d polls, last %.80s\n", i, old[i].polls, old[i].last);
        MM_CHECK_STR(old[i].last, "{\"Error\":[408,\"session still not ready, timed out.\"]}");
        MM_CHECK_INT(old[i].polls, >=, 2); /* each kept its turn: about 5 expected */
        MM_CHECK_INT(old[i].busy, ==, 0);
        h_stream_close(&old[i].s);
    }
    h_sim_faults(h, "{\"session_create\":null,\"session_get\":null}");
}

static void
test_poll_grid(harness *h)
{
    static watched w;
    h_sim_faults(h, "{\"session_create\":{\"never_ready_next\":1},\"session_get\":{\"latency_ms\":100}}");
    long long gets = h_sim_counter(h, "requests", "session_get");
    h_stream_open(h, &w.s, "81.2.3.4");
    MM_CHECK(watch(&w, false, 20000));
    long long polls = h_sim_counter(h, "requests", "session_get") - gets;
    fprintf(stderr, "poll grid: %lld polls at the simulator, %d ProgressReports (grid: 40, answer + interval: 27)\n", polls,
            w.polls);
    MM_CHECK_STR(w.last, "{\"Error\":[408,\"session still not ready, timed out.\"]}");
    MM_CHECK_INT(polls, >=, 35);
    MM_CHECK_INT(polls, <=, 42); /* never more often than the grid */
    MM_CHECK_INT(w.polls, >=, 34);
    h_stream_close(&w.s);
    h_sim_faults(h, "{\"session_create\":null,\"session_get\":null}");
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "100", NULL);
    h_start_gameserver(&h);
    const char *busy_args[] = {"--max-edgegap-in-flight", "1", "--max-edgegap-queued", "2", "--session-timeout-ms", "10000", NULL};
    h_start_matchmaker(&h, busy_args);
    h_connect(&h);
    test_creates_before_polls(&h);

    MM_CHECK_INT(mm_test_stop(h.mm, 15000), ==, 0);
    const char *grid_args[] = {"--poll-delay-ms", "100", "--poll-interval-ms", "200", "--session-timeout-ms", "8100", NULL};
    h_start_matchmaker(&h, grid_args);
    test_poll_grid(&h);
    h_stop(&h);
    nats_Close();
    curl_global_cleanup();
    return MM_TEST_DONE();
}
