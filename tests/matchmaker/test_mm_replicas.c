/*
 * Two bevygap_matchmaker replicas on one NATS: every request is served exactly once (queue
 * groups): one Acknowledged, one SessionReady and one end per request, the simulator saw
 * exactly one session per request, and both replicas served some (each replica's log has a
 * "ready at" line per request it served; the test sends until both have one, with a bound).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_harness.h"

#define MIN_REQUESTS 6
#define MAX_REQUESTS 40 /* NATS picks a queue member at random: 2^-39 that one is never picked */

/* How many requests a replica's log says it served ("... session S ready at IP:PORT ..."). */
static int
served(const char *log_path)
{
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, "provisioner: request ") != NULL && strstr(line, " ready at ") != NULL;
    fclose(f);
    return n;
}

typedef struct logs {
    const char *path[2];
    int want; /* requests answered so far */
} logs;

static bool
logs_account_for_all(void *p)
{
    logs *l = p;
    return served(l->path[0]) + served(l->path[1]) >= l->want;
}

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "100", NULL);
    h_start_gameserver(&h);
    h_start_matchmaker(&h, NULL);
    pid_t first = h.mm;
    char first_log[sizeof(h.mm_log)];
    snprintf(first_log, sizeof(first_log), "%s", h.mm_log);
    h_start_matchmaker(&h, NULL);
    h_connect(&h);
    logs l = {{first_log, h.mm_log}, 0};
    int sent = 0;
    while (sent < MAX_REQUESTS && (sent < MIN_REQUESTS || served(first_log) < 1 || served(h.mm_log) < 1)) {
        char *r[H_MAX_REPLIES];
        bool ended = false;
        int n = h_request(&h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"81.2.3.4\"}", r, H_MAX_REPLIES, &ended,
                          15000);
        sent++;
        MM_CHECK(ended);
        int acks = 0, ready = 0;
        for (int j = 0; j < n; j++) {
            acks += strcmp(r[j], "\"Acknowledged\"") == 0;
            ready += strncmp(r[j], "{\"SessionReady\":", 16) == 0;
        }
        MM_CHECK_INT(acks, ==, 1);
        MM_CHECK_INT(ready, ==, 1);
        h_free_replies(r, n);
        /* each replica logs its line before it ends the reply; wait for it all the same */
        l.want = sent;
        MM_CHECK(mm_test_wait_until(logs_account_for_all, &l, 20, 5000));
    }
    int a = served(first_log), b = served(h.mm_log);
    printf("%d requests: replica 1 served %d, replica 2 served %d\n", sent, a, b);
    MM_CHECK_INT(a, >=, 1);
    MM_CHECK_INT(b, >=, 1);
    MM_CHECK_INT(a + b, ==, sent); /* each request served once */
    char url[128], body[8192];
    snprintf(url, sizeof(url), "%s/__sim/stats", h.sim_url);
    MM_REQUIRE(h_http_get(url, body, sizeof(body)) == 200);
    char expect[64];
    snprintf(expect, sizeof(expect), "\"sessions_created\":%d", sent);
    MM_CHECK(strstr(body, expect) != NULL);
    MM_CHECK_INT(mm_test_stop(first, 15000), ==, 0);
    h_stop(&h);
    nats_Close();
    return MM_TEST_DONE();
}
