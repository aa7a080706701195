/*
 * Two bevygap_matchmaker replicas on one NATS: every request is served exactly once (queue
 * groups): one Acknowledged, one SessionReady and one end per request, and the simulator saw
 * exactly one session per request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_harness.h"

#define N_REQUESTS 6

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "100", NULL);
    h_start_gameserver(&h);
    h_start_matchmaker(&h, NULL);
    pid_t first = h.mm;
    h_start_matchmaker(&h, NULL);
    h_connect(&h);
    for (int i = 0; i < N_REQUESTS; i++) {
        char *r[H_MAX_REPLIES];
        bool ended = false;
        int n = h_request(&h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"81.2.3.4\"}", r, H_MAX_REPLIES, &ended,
                          15000);
        MM_CHECK(ended);
        int acks = 0, ready = 0;
        for (int j = 0; j < n; j++) {
            acks += strcmp(r[j], "\"Acknowledged\"") == 0;
            ready += strncmp(r[j], "{\"SessionReady\":", 16) == 0;
        }
        MM_CHECK_INT(acks, ==, 1);
        MM_CHECK_INT(ready, ==, 1);
        h_free_replies(r, n);
    }
    char url[128], body[8192];
    snprintf(url, sizeof(url), "%s/__sim/stats", h.sim_url);
    MM_REQUIRE(h_http_get(url, body, sizeof(body)) == 200);
    char expect[64];
    snprintf(expect, sizeof(expect), "\"sessions_created\":%d", N_REQUESTS);
    MM_CHECK(strstr(body, expect) != NULL);
    MM_CHECK_INT(mm_test_stop(first, 15000), ==, 0);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
