/*
 * bevygap_matchmaker end to end across a nats-server restart (same port, same JetStream store),
 * with real edgegap_sim and gameserver_sim:
 *   - a request before the outage succeeds; its session ages during the outage;
 *   - another request is in flight (its session never becomes ready) and times out while the
 *     server is down: its Error 408 and the enqueue of its deletion are published during the
 *     outage. Its client gets the 408 and the end if its inbox subscription was back on the
 *     server before the matchmaker flushed them (with this client's 50 ms reconnects it is),
 *     otherwise nothing (core NATS keeps no message for a subscriber that is not there);
 *   - while the server is down the matchmaker keeps running and says it lost the connection;
 *   - a request sent while the server is down: the test client is an ordinary nats.c client
 *     that reconnects (as a front would be), so its publish does not fail: nats.c keeps it in
 *     the reconnect buffer and sends it once the client is back. It then gets "no responders"
 *     (the matchmaker's subscription is not back yet: the clear, immediate NATS error a front
 *     turns into 503) or, when the matchmaker reconnected first, the whole normal stream. The
 *     test accepts exactly these two outcomes and fails on silence (a hang);
 *   - after the matchmaker logs its reconnect, requests succeed (SessionReady), the first one
 *     retried only while NATS still answers "no responders";
 *   - no session leaks: every session the simulator created (the ones made before the outage
 *     included) is deleted exactly once, by the provisioner's enqueue (the 408) or the reaper;
 *   - the matchmaker never exits on its own, and exits 0 on SIGTERM at the end (h_stop).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm_harness.h"

#define LIMIT_MS 3500 /* --reaper-age-ms + --reaper-margin-ms below */
#define DELETE_SETTLE_MS 40000
#define N_AFTER 3

static const char *const mm_args[] = {
    "--reaper-age-ms", "3000", "--reaper-margin-ms", "500", "--reaper-scan-ms", "100", "--session-timeout-ms", "3000", NULL};

static bool
wait_log(const harness *h, const char *needle, int timeout_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    while (!h_file_contains(h->mm_log, needle)) {
        if (mm_now_ms() >= until)
            return false;
        mm_test_sleep_ms(20);
    }
    return true;
}

/* A request to its end; true when it ended with SessionReady. Counts sessions it made. */
static bool
request_ready(harness *h, int *sessions)
{
    h_stream s;
    h_stream_open(h, &s, "81.2.3.4");
    MM_CHECK_INT(s.publish_status, ==, NATS_OK);
    h_stream_wait(&s, H_UNTIL_END, 15000);
    *sessions += s.session[0] != '\0';
    bool ok = h_stream_ready(&s);
    if (!ok)
        fprintf(stderr, "request: ended %d, no responders %d, last reply %.200s\n", s.ended, s.no_responders, s.last);
    h_stream_close(&s);
    return ok;
}

int
main(void)
{
    harness h = {0};
    int sessions = 0; /* sessions our requests made (each SessionRequestAccepted) */
    h_start_nats(&h);
    /* the first session never becomes ready: its request is still in flight at the outage */
    const char *sim_args[] = {"--fault", "session_create:never_ready_next=1", NULL};
    h_start_sim(&h, "100", sim_args);
    h_start_gameserver(&h);
    h_start_matchmaker(&h, mm_args);
    h_connect_reconnecting(&h);
    h_stream stuck;
    h_stream_open(&h, &stuck, "81.2.3.5");
    MM_REQUIRE(h_stream_wait(&stuck, H_UNTIL_ACCEPTED, 10000));
    sessions++;
    MM_CHECK(request_ready(&h, &sessions));

    h_nats_down(&h);
    MM_CHECK(wait_log(&h, "bevygap_matchmaker disconnected", 10000));
    h_stream during;
    h_stream_open(&h, &during, "81.2.3.6");
    fprintf(stderr, "publish while the server is down: %s\n", natsStatus_GetText(during.publish_status));
    MM_CHECK_INT(during.publish_status, ==, NATS_OK); /* buffered for the reconnect */
    /* The stuck request times out during the outage: its Error 408 and its deletion are
     * published while NATS is down. */
    char needle[128];
    snprintf(needle, sizeof(needle), "(session %s) failed: 408", stuck.session);
    MM_CHECK(wait_log(&h, needle, 15000));
    MM_CHECK(h_alive(h.mm));
    h_nats_up(&h);

    /* The outage request: no responders, or served in full; never silence. */
    MM_CHECK(h_stream_wait(&during, H_UNTIL_END, 20000));
    if (during.no_responders) {
        fprintf(stderr, "request sent during the outage: no responders\n");
        MM_CHECK_INT(during.replies, ==, 0);
    } else {
        fprintf(stderr, "request sent during the outage: served, last reply %.80s\n", during.last);
        MM_CHECK(h_stream_ready(&during));
        sessions += during.session[0] != '\0';
    }
    h_stream_close(&during);
    /* The stuck request's client: its answer was published during the outage and reaches it
     * only if its inbox subscription was back on the server before the matchmaker flushed. */
    h_stream_wait(&stuck, H_UNTIL_END, 5000);
    fprintf(stderr, "request in flight across the outage: %s%s\n", stuck.ended ? "ended with " : "no end (lost during the outage)",
            stuck.ended ? stuck.last : "");
    if (stuck.ended)
        MM_CHECK_STR(stuck.last, "{\"Error\":[408,\"session still not ready, timed out.\"]}");
    h_stream_close(&stuck);

    MM_CHECK(wait_log(&h, "bevygap_matchmaker reconnected", 20000));
    /* The first request after the restart: retried only while nobody serves the subject yet. */
    h_stream first;
    uint64_t until = mm_now_ms() + 20000;
    for (;;) {
        h_stream_open(&h, &first, "81.2.3.7");
        h_stream_wait(&first, H_UNTIL_END, 15000);
        if (!first.no_responders || mm_now_ms() >= until)
            break;
        h_stream_close(&first);
        mm_test_sleep_ms(100);
    }
    sessions += first.session[0] != '\0';
    MM_CHECK(h_stream_ready(&first));
    h_stream_close(&first);
    for (int i = 0; i < N_AFTER; i++)
        MM_CHECK(request_ready(&h, &sessions));
    MM_CHECK(h_alive(h.mm));

    /* Nothing leaks: each session created is reaped (unclaimed) and deleted once. */
    h_sim_stats st;
    MM_CHECK(h_wait_sim_empty(&h, LIMIT_MS + DELETE_SETTLE_MS, &st));
    MM_CHECK_INT(st.created, ==, sessions);
    MM_CHECK_INT(st.deleted, ==, sessions);
    MM_CHECK(h_alive(h.mm));
    if (mm_test_failed > 0)
        h_dump_log(h.mm_log, 60);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
