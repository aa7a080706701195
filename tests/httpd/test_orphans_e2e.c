/*
 * Orphan sessions (include/mm/orphans.h, docs/matchmaker.md "Orphans"): split mode with webhooks
 * on, bevygap_matchmaker_httpd in front of matchmakers A and B, real nats-server, edgegap_sim
 * (every session its own deployment, ready after 1.5 s; every answer --latency-ms 300,600 and
 * session creates 1,200 ms more, so creates are long in flight) and gameserver_sim.
 *
 *   1. A burst of N_BURST chunked requests, shared by the queue group.
 *   2. As soon as the simulator holds every create unanswered (stats requests_waiting), A is
 *      killed with SIGKILL: Edgegap (the simulator) made A's sessions, nobody recorded them.
 *   3. The survivor's requests all end with SessionReady; A's with the front's 503.
 *   4. After the orphan grace (1.5 s) and the reaper's horizon (8 s), the simulator holds no
 *      live session: B found A's sessions by their webhooks (intent in the URL, A's intent still
 *      open in mm_create_intents, A answers no more on mm.replica.<A>) and enqueued their DELETE;
 *      B's mm_matchmaker_orphans_deleted_total moved.
 *   5. Control: no session a client was told of (SessionRequestAccepted) was deleted as an
 *      orphan (B's log names every orphan it deleted).
 * Then the same in one process each (all-in-one, bevygap_matchmaker --http, two of them, both
 * giving Edgegap the survivor's front as webhook URL; half the players on each front): the
 * survivor's front hands the intents straight to its orphan checker, and its /metrics shows
 * mm_matchmaker_orphans_deleted_total moved (split mode reads it on B's --admin-bind).
 * With MM_TEST_ORPHAN_GRACE=0 in the environment the matchmakers run without intents (as
 * before this feature): step 4 then fails with A's sessions left live (the leak this fixes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "chunked_call.h"
#include "httpd_harness.h"
#include "metric_read.h"
#include "mm/clock.h"

#define SECRET "Orphan-Webhook_Secret-0123456789"
#define N_BURST 24

static chunked_call calls[N_BURST];

/* The orphans B's log says it deleted: their session ids, at most max. */
static int
orphans_logged(const char *log, char ids[][64], int max)
{
    FILE *f = fopen(log, "r");
    char line[1024];
    int n = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "orphans: session ");
        if (p == NULL || strstr(line, "died before recording it") == NULL)
            continue;
        p += strlen("orphans: session ");
        const char *q = strchr(p, ' ');
        if (q != NULL && q - p < 64 && n < max) {
            memcpy(ids[n], p, (size_t)(q - p));
            ids[n][q - p] = '\0';
            n++;
        }
    }
    fclose(f);
    return n;
}

/* One run: split (one web front, two matchmakers) or all-in-one (two matchmakers with --http). */
static void
run(harness *h, bool split, const char *grace)
{
    const char *mode = split ? "split" : "all-in-one";
    hd_proc front = {0};
    char last[4096], base[96], a_log[512], bind_a[64], bind_b[64];
    int port_a = mm_test_free_port(), port_b = mm_test_free_port(); /* all-in-one fronts, or admin listeners */
    snprintf(bind_a, sizeof(bind_a), "127.0.0.1:%d", port_a);
    snprintf(bind_b, sizeof(bind_b), "127.0.0.1:%d", port_b);
    memset(calls, 0, sizeof(calls));
    if (split) {
        const char *front_args[] = {"--backend-silence-ms", "1500", "--limits-exempt", "0.0.0.0/0", NULL};
        hd_start(h, &front, front_args);
        snprintf(base, sizeof(base), "http://127.0.0.1:%d", front.port);
    } else {
        snprintf(base, sizeof(base), "http://127.0.0.1:%d", port_b); /* the survivor's front */
    }
    const char *mm_args[] = {split ? "--admin-bind" : "--http", NULL /* the bind, below */, "--webhook-public-url", base,
                             "--webhook-poll-ms", "3000", "--orphan-grace-ms", grace, "--session-timeout-ms", "6000",
                             "--cert-wait-ms", "1000", "--reaper-age-ms", "7000", "--reaper-margin-ms", "1000",
                             "--reaper-scan-ms", "200",
                             /* the queue group may give one replica more than the default 16: all must be in flight */
                             "--max-edgegap-in-flight", "32", split ? NULL : "--limits-exempt", "0.0.0.0/0", NULL};
    mm_args[1] = bind_a;
    h_start_matchmaker(h, mm_args);
    pid_t a = h->mm;
    snprintf(a_log, sizeof(a_log), "%s", h->mm_log);
    mm_args[1] = bind_b;
    h_start_matchmaker(h, mm_args); /* B: h->mm from now on */

    CURLM *m = curl_multi_init();
    MM_REQUIRE(m != NULL);
    for (int i = 0; i < N_BURST; i++)
        cc_start(m, &calls[i], split ? front.port : i < N_BURST / 2 ? port_a : port_b, 60000L);
    /* 2. every create is at the simulator, none answered yet: A's die with it */
    long long waiting0 = h_sim_counter(h, NULL, "requests_waiting");
    uint64_t until = mm_now_ms() + 10000;
    long long waiting = 0;
    while ((waiting = h_sim_counter(h, NULL, "requests_waiting") - waiting0) < N_BURST && mm_now_ms() < until)
        cc_drive(m, 5, 10);
    if (waiting < N_BURST) {
        fprintf(stderr, "%s: the simulator holds %lld calls unanswered\n", mode, waiting);
        if (split)
            hd_dump_log(&front);
        h_dump_log(h->mm_log, 40);
        h_dump_log(a_log, 40);
    }
    MM_REQUIRE(waiting >= N_BURST);
    MM_CHECK(h_kill9(a));
    fprintf(stderr, "%s: killed A with %lld Edgegap calls unanswered\n", mode, waiting);

    until = mm_now_ms() + 30000;
    bool all_done = false;
    while (!all_done && mm_now_ms() < until) {
        cc_drive(m, 50, 10);
        all_done = true;
        for (int i = 0; i < N_BURST; i++)
            all_done = all_done && calls[i].done;
    }
    curl_multi_cleanup(m);

    /* 3. B's requests ready, A's cut (split: the front's 503; all-in-one: the connection died) */
    int ready = 0, cut = 0;
    for (int i = 0; i < N_BURST; i++) {
        chunked_call *c = &calls[i];
        MM_CHECK(c->done);
        cc_accepted(c);
        cc_last(c, last, sizeof(last));
        bool on_a = !split && i < N_BURST / 2;
        if (strncmp(last, "{\"SessionReady\":", 16) == 0) {
            ready++;
            MM_CHECK(c->session[0] != '\0');
            MM_CHECK(!on_a);
        } else if ((split && strstr(last, "stopped answering") != NULL) || on_a) {
            cut++;
        } else {
            fprintf(stderr, "%s: request %d ended with %s\n", mode, i, last);
            MM_CHECK(!"a request ended neither ready nor cut by the kill");
        }
    }
    fprintf(stderr, "%s: burst of %d: %d ready (the survivor's), %d cut (the killed replica's)\n", mode, N_BURST, ready, cut);
    MM_CHECK_INT(ready, >=, 1);
    MM_CHECK_INT(cut, >=, 1);

    /* 4. nothing leaks: orphans after the grace, the rest by the reaper after 8 s */
    h_sim_stats st;
    bool empty = h_wait_sim_empty(h, 30000, &st);
    if (!empty)
        fprintf(stderr, "%s: left live at the simulator: %ld of %ld created\n", mode, st.live, st.created);
    MM_CHECK(empty);
    MM_CHECK_INT(st.deleted, ==, st.created);

    /* 5. control: every orphan B deleted was a session no client was told of */
    static char ids[N_BURST * 2][64];
    int n = orphans_logged(h->mm_log, ids, N_BURST * 2);
    long long counted = hd_metric(port_b, "mm_matchmaker_orphans_deleted_total");
    fprintf(stderr, "%s: orphans deleted by B: %d (its counter: %lld)\n", mode, n, counted);
    MM_CHECK_INT(n, >=, 1);
    MM_CHECK_INT(counted, ==, n);
    for (int k = 0; k < n; k++)
        for (int i = 0; i < N_BURST; i++)
            if (calls[i].session[0] != '\0' && strcmp(calls[i].session, ids[k]) == 0) {
                fprintf(stderr, "%s: orphan %s was request %d's session\n", mode, ids[k], i);
                MM_CHECK(!"a session a client was told of was deleted as an orphan");
            }
    if (mm_test_failed > 0) {
        if (split)
            hd_dump_log(&front);
        h_dump_log(h->mm_log, 60);
        h_dump_log(a_log, 20);
    }
    MM_CHECK_INT(mm_test_stop(h->mm, 20000), ==, 0);
    h->mm = 0;
    char want[64];
    snprintf(want, sizeof(want), "%d orphans deleted", n);
    MM_CHECK(h_file_contains(h->mm_log, want));
    if (split)
        MM_CHECK_INT(hd_stop(&front, 10000), ==, 0);
}

int
main(void)
{
    harness h = {0};
    const char *grace = getenv("MM_TEST_ORPHAN_GRACE") != NULL ? getenv("MM_TEST_ORPHAN_GRACE") : "1500";
    MM_REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
    MM_REQUIRE(setenv("MM_WEBHOOK_SECRET", SECRET, 1) == 0);
    h_start_nats(&h);
    const char *sim_args[] = {"--sockets", "1", "--latency-ms", "300,600", "--fault", "session_create:latency_ms=1200", NULL};
    h_start_sim(&h, "1500", sim_args);
    h_start_gameserver(&h);
    h_connect(&h);
    run(&h, true, grace);
    if (mm_test_failed == 0)
        run(&h, false, grace);
    h_stop(&h);
    curl_global_cleanup();
    nats_Close();
    return MM_TEST_DONE();
}
