/*
 * bevygap_matchmaker against an Edgegap that misbehaves (real nats-server, edgegap_sim with faults
 * set at run time, gameserver_sim, the matchmaker):
 *   - a session ready only after its deployment starts (several ProgressReports), then one that
 *     joins the running deployment and is ready on the first poll (exactly one);
 *   - session create answered 400/401/404/409/500: Error(status, Edgegap's message) at once, not
 *     repeated (Edgegap may have made the session on a 500), no session made;
 *   - 429 for longer than the retries last: Error(429, ...) after 1 + retries attempts; 429
 *     twice then success: SessionReady;
 *   - a create that hangs: Error(504, ...) after --edgegap-timeout-ms, no session made;
 *   - polls answered 500 or hanging: repeated with backoff, then SessionReady;
 *   - in-flight limit 1 and queue 2: a queued request is told so by a ProgressReport, requests
 *     beyond the queue get Error(503, busy), every request ends, one session per SessionReady.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "mm_harness.h"

#define SUBJECT "matchmaker.request." H_APP "." H_VERSION
#define PAYLOAD "{\"client_ip\":\"81.2.3.4\"}"

typedef struct outcome {
    int n;
    bool ended;
    int progress, ready, waiting;
    char last[512];
} outcome;

static outcome
request(harness *h)
{
    char *r[H_MAX_REPLIES];
    outcome o = {0};
    o.n = h_request(h, SUBJECT, PAYLOAD, r, H_MAX_REPLIES, &o.ended, 20000);
    for (int i = 0; i < o.n; i++) {
        o.progress += strncmp(r[i], "{\"ProgressReport\":", 18) == 0;
        o.ready += strncmp(r[i], "{\"SessionReady\":", 16) == 0;
    }
    if (o.n > 0)
        snprintf(o.last, sizeof(o.last), "%s", r[o.n - 1]);
    h_free_replies(r, o.n);
    return o;
}

static void
test_first_poll_and_delay(harness *h)
{
    outcome slow = request(h); /* no deployment yet: it starts one (300 ms) */
    MM_CHECK(slow.ended);
    MM_CHECK_INT(slow.ready, ==, 1);
    MM_CHECK_INT(slow.progress, >=, 2);
    outcome fast = request(h); /* a free seat on the running deployment */
    MM_CHECK(fast.ended);
    MM_CHECK_INT(fast.ready, ==, 1);
    MM_CHECK_INT(fast.progress, ==, 1);
}

static void
test_create_errors(harness *h)
{
    static const int statuses[] = {400, 401, 404, 409, 500};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        int st = statuses[i];
        long long created = h_sim_counter(h, NULL, "sessions_created");
        long long calls = h_sim_counter(h, "requests", "session_create");
        char faults[200], expect[128];
        snprintf(faults, sizeof(faults),
                 "{\"session_create\":{\"error_next\":1,\"error_status\":%d,\"error_message\":\"sim says %d\"}}", st, st);
        h_sim_faults(h, faults);
        outcome o = request(h);
        MM_CHECK(o.ended);
        MM_CHECK_INT(o.n, ==, 2); /* Acknowledged, Error */
        snprintf(expect, sizeof(expect), "{\"Error\":[%d,\"sim says %d\"]}", st, st);
        MM_CHECK_STR(o.last, expect);
        MM_CHECK_INT(h_sim_counter(h, "requests", "session_create") - calls, ==, 1);
        MM_CHECK_INT(h_sim_counter(h, NULL, "sessions_created"), ==, created);
    }
}

static void
test_rate_limited(harness *h)
{
    long long calls = h_sim_counter(h, "requests", "session_create");
    h_sim_faults(h, "{\"session_create\":{\"error_next\":4,\"error_status\":429,\"error_message\":\"slow down\"}}");
    outcome o = request(h);
    MM_CHECK(o.ended);
    MM_CHECK_STR(o.last, "{\"Error\":[429,\"slow down\"]}");
    MM_CHECK_INT(h_sim_counter(h, "requests", "session_create") - calls, ==, 4); /* 1 + --edgegap-retries 3 */

    calls = h_sim_counter(h, "requests", "session_create");
    h_sim_faults(h, "{\"session_create\":{\"error_next\":2,\"error_status\":429}}");
    o = request(h);
    MM_CHECK(o.ended);
    MM_CHECK_INT(o.ready, ==, 1);
    MM_CHECK_INT(h_sim_counter(h, "requests", "session_create") - calls, ==, 3);
}

static void
test_create_hangs(harness *h)
{
    long long created = h_sim_counter(h, NULL, "sessions_created");
    h_sim_faults(h, "{\"session_create\":{\"hang_next\":1}}");
    outcome o = request(h);
    MM_CHECK(o.ended);
    MM_CHECK_INT(o.n, ==, 2);
    MM_CHECK(strncmp(o.last, "{\"Error\":[504,", 14) == 0);
    MM_CHECK_INT(h_sim_counter(h, NULL, "sessions_created"), ==, created);
}

static void
test_poll_failures(harness *h)
{
    h_sim_faults(h, "{\"session_get\":{\"error_next\":2,\"error_status\":500}}");
    outcome o = request(h);
    MM_CHECK(o.ended);
    MM_CHECK_INT(o.ready, ==, 1);
    h_sim_faults(h, "{\"session_get\":{\"hang_next\":1}}");
    o = request(h);
    MM_CHECK(o.ended);
    MM_CHECK_INT(o.ready, ==, 1);
    MM_CHECK_INT(h_sim_counter(h, "faults_fired", "hang"), >=, 2);
    h_sim_faults(h, "{\"session_get\":null}");
}

/* In-flight limit 1, queue 2, slow creates, 6 requests at once. */
static void
test_queue_and_busy(harness *h)
{
    enum { N = 6 };
    h_sim_faults(h, "{\"session_create\":{\"latency_ms\":300}}");
    long long created = h_sim_counter(h, NULL, "sessions_created");
    natsInbox *inbox[N];
    natsSubscription *sub[N];
    for (int i = 0; i < N; i++) {
        MM_REQUIRE(natsInbox_Create(&inbox[i]) == NATS_OK);
        MM_REQUIRE(natsConnection_SubscribeSync(&sub[i], h->nc, inbox[i]) == NATS_OK);
    }
    MM_REQUIRE(natsConnection_Flush(h->nc) == NATS_OK);
    for (int i = 0; i < N; i++)
        MM_REQUIRE(natsConnection_PublishRequestString(h->nc, SUBJECT, inbox[i], PAYLOAD) == NATS_OK);
    int ready = 0, busy = 0, waiting = 0, ended = 0;
    for (int i = 0; i < N; i++) {
        natsMsg *msg = NULL;
        while (natsSubscription_NextMsg(&msg, sub[i], 20000) == NATS_OK) {
            int len = natsMsg_GetDataLength(msg);
            const char *data = natsMsg_GetData(msg);
            bool end = len == 0;
            if (!end && strncmp(data, "{\"SessionReady\":", 16) == 0)
                ready++;
            if (!end && strstr(data, "\"ProgressReport\":\"Waiting for Edgegap: ") != NULL)
                waiting++;
            if (!end && strncmp(data, "{\"Error\":[503,\"the matchmaker is busy", 36) == 0)
                busy++;
            natsMsg_Destroy(msg);
            if (end) {
                ended++;
                break;
            }
        }
        natsSubscription_Destroy(sub[i]);
        natsInbox_Destroy(inbox[i]);
    }
    fprintf(stderr, "queue test: %d ready, %d busy, %d told they wait\n", ready, busy, waiting);
    MM_CHECK_INT(ended, ==, N);
    MM_CHECK_INT(ready + busy, ==, N);
    MM_CHECK_INT(busy, >=, 1);
    MM_CHECK_INT(waiting, >=, 1);
    MM_CHECK_INT(h_sim_counter(h, NULL, "sessions_created") - created, ==, ready);
    h_sim_faults(h, "{\"session_create\":null}");
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    const char *mm_args[] = {"--edgegap-timeout-ms", "600", "--edgegap-backoff-ms", "20", "--edgegap-retries", "3", NULL};
    h_start_matchmaker(&h, mm_args);
    h_connect(&h);
    test_first_poll_and_delay(&h);
    test_create_errors(&h);
    test_rate_limited(&h);
    test_create_hangs(&h);
    test_poll_failures(&h);

    MM_CHECK_INT(mm_test_stop(h.mm, 15000), ==, 0);
    const char *busy_args[] = {"--max-edgegap-in-flight", "1", "--max-edgegap-queued", "2", NULL};
    h_start_matchmaker(&h, busy_args);
    test_queue_and_busy(&h);
    h_stop(&h);
    nats_Close();
    curl_global_cleanup();
    return MM_TEST_DONE();
}
