/*
 * The fleet's Edgegap budget (--edgegap-budget, KV mm_fleet; include/mm/budget.h), with three
 * real matchmaker replicas on one nats-server and edgegap_sim:
 *   - shares: each of 3 replicas logs a share of budget/3 (3 replicas); after a kill -9 of one,
 *     the two others log budget/2 (2 replicas) within 5 s (default heartbeat 1 s, ttl 3 s); after
 *     a clean stop (SIGTERM: the entry is deleted) of another, the last logs the whole budget.
 *   - back-off: the simulator answers a create with 429: the replica that got it halves the
 *     fleet's multiplier and announces it on mm.fleet.backoff, the other replica halves too
 *     (heard, not seen), and both recover to x1.000 (additive, 0.05 of the budget per second).
 *     The player whose create met the 429 still gets its session (the create is repeated).
 *   - the fleet's rate: 2 replicas with a create budget of 4/s and a get budget of 4/s serve 12
 *     players at once, and the simulator never sees more than 4 creates nor 4 GETs a second (plus
 *     one token of burst per replica and class).
 *   - classes: the shares of the get and delete budgets follow the replicas like the creates';
 *     a 429 on a GET halves the GETs' multiplier on both replicas (the note names the class) and
 *     never the creates'; with a create budget of 4/s and a get budget of 20/s, a line of 16
 *     players does not hold back the polls of the sessions already made: every player ends
 *     ready although the session timeout (1.5 s from leaving the line) is far shorter than the
 *     line (about 4 s), and the simulator sees no more GETs than a few per session.
 *   - deletes: with a delete budget of 2/s, the delete worker's DELETEs of 8 sessions reaped at
 *     once reach the simulator at no more than 2 a second (plus one token of burst).
 * Each replica's log is read for its "budget: share ..." lines (written when the share changes).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm_harness.h"

typedef struct log_wait {
    const char *path;
    const char *needle;
    const char *after; /* NULL, or the needle must come after this text */
} log_wait;

static bool
log_has(void *arg)
{
    log_wait *w = arg;
    if (w->after == NULL)
        return h_file_contains(w->path, w->needle);
    FILE *f = fopen(w->path, "r");
    if (f == NULL)
        return false;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *a = strstr(text, w->after);
    return a != NULL && strstr(a, w->needle) != NULL;
}

static bool
wait_log_after(const char *path, const char *after, const char *needle, int timeout_ms)
{
    log_wait w = {path, needle, after};
    bool ok = mm_test_wait_until(log_has, &w, 50, timeout_ms);
    if (!ok) {
        fprintf(stderr, "%s: no line with '%s' after '%s' within %d ms\n", path, needle, after, timeout_ms);
        h_dump_log(path, 20);
    }
    return ok;
}

static bool
wait_log(const char *path, const char *needle, int timeout_ms)
{
    log_wait w = {path, needle, NULL};
    bool ok = mm_test_wait_until(log_has, &w, 20, timeout_ms);
    if (!ok) {
        fprintf(stderr, "%s: no line with '%s' within %d ms\n", path, needle, timeout_ms);
        h_dump_log(path, 20);
    }
    return ok;
}

static void
test_shares(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "100", NULL);
    const char *extra[] = {"--edgegap-budget", "30", "--edgegap-get-budget", "60", "--edgegap-delete-budget", "9", NULL};
    char logs[3][512];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        h_start_matchmaker(&h, extra);
        pids[i] = h.mm;
        snprintf(logs[i], sizeof(logs[i]), "%s", h.mm_log);
    }
    for (int i = 0; i < 3; i++) {
        MM_CHECK(wait_log(logs[i], "budget: share 10.00 of 30.00 requests/s (3 replicas", 10000));
        MM_CHECK(wait_log(logs[i], "budget: get share 20.00 of 60.00 requests/s (3 replicas", 10000));
        MM_CHECK(wait_log(logs[i], "budget: delete share 3.00 of 9.00 requests/s (3 replicas", 10000));
    }

    uint64_t t0 = mm_now_ms();
    MM_REQUIRE(h_kill9(pids[0]));
    MM_CHECK(wait_log(logs[1], "budget: share 15.00 of 30.00 requests/s (2 replicas", 5000));
    MM_CHECK(wait_log(logs[2], "budget: share 15.00 of 30.00 requests/s (2 replicas", 5000));
    for (int i = 1; i < 3; i++) {
        MM_CHECK(wait_log(logs[i], "budget: get share 30.00 of 60.00 requests/s (2 replicas", 5000));
        MM_CHECK(wait_log(logs[i], "budget: delete share 4.50 of 9.00 requests/s (2 replicas", 5000));
    }
    uint64_t took = mm_now_ms() - t0;
    printf("kill -9 of one of 3 replicas: the others' shares followed in %llu ms\n", (unsigned long long)took);
    MM_CHECK(took <= 5000);

    t0 = mm_now_ms();
    MM_CHECK_INT(mm_test_stop(pids[1], 15000), ==, 0); /* SIGTERM: deletes its entry */
    MM_CHECK(wait_log(logs[2], "budget: share 30.00 of 30.00 requests/s (1 replicas", 5000));
    MM_CHECK(wait_log(logs[2], "budget: get share 60.00 of 60.00 requests/s (1 replicas", 5000));
    printf("clean stop of one of 2 replicas: the last one's share followed in %llu ms\n", (unsigned long long)(mm_now_ms() - t0));
    h.mm = pids[2];
    h_stop(&h);
}

static void
test_backoff(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "50", NULL);
    h_start_gameserver(&h);
    const char *extra[] = {"--edgegap-budget", "40", "--fleet-heartbeat-ms", "200", "--edgegap-retries", "3", NULL};
    h_start_matchmaker(&h, extra);
    char first[512];
    pid_t first_pid = h.mm;
    snprintf(first, sizeof(first), "%s", h.mm_log);
    h_start_matchmaker(&h, extra);
    MM_CHECK(wait_log(first, "(2 replicas, x1.000)", 10000));
    MM_CHECK(wait_log(h.mm_log, "(2 replicas, x1.000)", 10000));
    h_connect(&h);

    h_sim_faults(&h, "{\"session_create\":{\"error_next\":1,\"error_status\":429,\"error_message\":\"slow down\"}}");
    h_stream s = {0};
    h_stream_open(&h, &s, "81.2.3.4");
    MM_CHECK(h_stream_wait(&s, H_UNTIL_END, 20000));
    MM_CHECK(h_stream_ready(&s)); /* the create was repeated after the 429 */
    h_stream_close(&s);
    /* both halve: the one that got the 429, and the other from the note */
    MM_CHECK(wait_log(first, "the fleet backs off to x0.500", 5000));
    MM_CHECK(wait_log(h.mm_log, "the fleet backs off to x0.500", 5000));
    /* recovery: back to the whole multiplier (0.5 -> 1 at 0.05/s: about 10 s) */
    uint64_t t0 = mm_now_ms();
    MM_CHECK(wait_log_after(first, "the fleet backs off to x0.500", "(2 replicas, x1.000)", 20000));
    MM_CHECK(wait_log_after(h.mm_log, "the fleet backs off to x0.500", "(2 replicas, x1.000)", 20000));
    printf("back-off: both replicas halved, and were back to x1.000 after %llu ms\n", (unsigned long long)(mm_now_ms() - t0));
    MM_CHECK_INT(mm_test_stop(first_pid, 15000), ==, 0);
    char line[200];
    snprintf(line, sizeof(line), "1 429s, 1 halvings, 1 back-off notes sent, 0 heard");
    bool a = h_file_contains(first, line);
    MM_CHECK_INT(mm_test_stop(h.mm, 15000), ==, 0);
    h.mm = 0;
    bool b = h_file_contains(h.mm_log, line);
    MM_CHECK(a != b); /* exactly one replica saw the 429 itself */
    MM_CHECK(h_file_contains(a ? h.mm_log : first, "0 429s, 1 halvings, 0 back-off notes sent, 1 heard"));
    h_stop(&h);
}

/* Two replicas, a budget of 4 calls/s for both: 12 players at once all end ready, and the
 * simulator never sees more than the budget (plus each replica's one token of burst). */
static void
test_fleet_rate(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "0", NULL);
    h_start_gameserver(&h);
    const char *extra[] = {"--edgegap-budget", "4", "--edgegap-get-budget", "4", "--fleet-heartbeat-ms", "200", NULL};
    h_start_matchmaker(&h, extra);
    pid_t first_pid = h.mm;
    char first[512];
    snprintf(first, sizeof(first), "%s", h.mm_log);
    h_start_matchmaker(&h, extra);
    MM_CHECK(wait_log(first, "budget: share 2.00 of 4.00 requests/s (2 replicas", 10000));
    MM_CHECK(wait_log(h.mm_log, "budget: share 2.00 of 4.00 requests/s (2 replicas", 10000));
    h_connect(&h);
    enum { N = 12 };
    static h_stream s[N];
    long long creates0 = h_sim_counter(&h, "requests", "session_create"), gets0 = h_sim_counter(&h, "requests", "session_get");
    uint64_t t0 = mm_now_ms();
    for (int i = 0; i < N; i++)
        h_stream_open(&h, &s[i], "81.2.3.4");
    int ready = 0;
    for (int i = 0; i < N; i++) {
        MM_CHECK(h_stream_wait(&s[i], H_UNTIL_END, 40000));
        ready += h_stream_ready(&s[i]);
        h_stream_close(&s[i]);
    }
    uint64_t span = mm_now_ms() - t0;
    long long creates = h_sim_counter(&h, "requests", "session_create") - creates0;
    long long gets = h_sim_counter(&h, "requests", "session_get") - gets0;
    printf("2 replicas, budgets 4 creates/s and 4 GETs/s: %d of %d players ready, %lld creates and %lld GETs in %llu ms\n",
           ready, N, creates, gets, (unsigned long long)span);
    MM_CHECK_INT(ready, ==, N);
    MM_CHECK(creates <= 4 * (long long)span / 1000 + 2 + 1);
    MM_CHECK(gets <= 4 * (long long)span / 1000 + 2 + 1);
    MM_CHECK_INT(mm_test_stop(first_pid, 15000), ==, 0);
    h_stop(&h);
}

/* A 429 on a GET halves the GETs fleet-wide (both replicas), not the creates. */
static void
test_backoff_get(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    const char *extra[] = {"--edgegap-budget", "40", "--edgegap-get-budget", "40", "--fleet-heartbeat-ms", "200",
                           "--poll-delay-ms", "50", "--poll-interval-ms", "100", NULL};
    h_start_matchmaker(&h, extra);
    char first[512];
    pid_t first_pid = h.mm;
    snprintf(first, sizeof(first), "%s", h.mm_log);
    h_start_matchmaker(&h, extra);
    MM_CHECK(wait_log(first, "get share 20.00 of 40.00 requests/s (2 replicas, x1.000)", 10000));
    MM_CHECK(wait_log(h.mm_log, "get share 20.00 of 40.00 requests/s (2 replicas, x1.000)", 10000));
    h_connect(&h);

    h_sim_faults(&h, "{\"session_get\":{\"error_next\":1,\"error_status\":429,\"error_message\":\"slow down\"}}");
    h_stream s = {0};
    h_stream_open(&h, &s, "81.2.3.4");
    MM_CHECK(h_stream_wait(&s, H_UNTIL_END, 20000));
    MM_CHECK(h_stream_ready(&s)); /* the next poll saw it ready */
    h_stream_close(&s);
    MM_CHECK(wait_log(first, "the fleet backs off get to x0.500", 5000));
    MM_CHECK(wait_log(h.mm_log, "the fleet backs off get to x0.500", 5000));
    /* the creates were not halved, on either replica */
    MM_CHECK(!h_file_contains(first, "the fleet backs off to x"));
    MM_CHECK(!h_file_contains(h.mm_log, "the fleet backs off to x"));
    MM_CHECK(!h_file_contains(first, "budget: share 10.00 of 40.00"));
    MM_CHECK(!h_file_contains(h.mm_log, "budget: share 10.00 of 40.00"));
    MM_CHECK_INT(mm_test_stop(first_pid, 15000), ==, 0);
    h_stop(&h);
}

/* A create budget of 4/s and a get budget of 20/s on one replica; 16 players at once wait in
 * line for about 4 s, and each session must be seen ready within 1.5 s of leaving the line
 * (--session-timeout-ms counts from there): the polls of sessions already made run on the GETs'
 * own tokens, so nobody ends 408 and no session is polled more than a few times. */
static void
test_polls_not_held_back(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "0", NULL);
    h_start_gameserver(&h);
    const char *get_budget = getenv("MM_TEST_GET_BUDGET"); /* to see the test fail with a small one */
    const char *extra[] = {"--edgegap-budget", "4", "--edgegap-get-budget", get_budget ? get_budget : "20",
                           "--fleet-heartbeat-ms", "200", "--poll-delay-ms", "100", "--poll-interval-ms", "100",
                           "--session-timeout-ms", "1500", NULL};
    h_start_matchmaker(&h, extra);
    h_connect(&h);
    enum { N = 16 };
    static h_stream s[N];
    long long gets0 = h_sim_counter(&h, "requests", "session_get");
    long long creates0 = h_sim_counter(&h, "requests", "session_create");
    for (int i = 0; i < N; i++)
        h_stream_open(&h, &s[i], "81.2.3.4");
    int ready = 0, timed_out = 0;
    for (int i = 0; i < N; i++) {
        MM_CHECK(h_stream_wait(&s[i], H_UNTIL_END, 40000));
        ready += h_stream_ready(&s[i]);
        timed_out += !h_stream_ready(&s[i]) && strstr(s[i].last, "408") != NULL;
        if (!h_stream_ready(&s[i]))
            fprintf(stderr, "player %d: %s\n", i, s[i].last);
        h_stream_close(&s[i]);
    }
    long long gets = h_sim_counter(&h, "requests", "session_get") - gets0;
    long long creates = h_sim_counter(&h, "requests", "session_create") - creates0;
    printf("line of %d, budgets 4 creates/s and %s GETs/s: %d ready, %d ended 408, %lld creates, %lld GETs (%.2f per session)\n",
           N, get_budget ? get_budget : "20", ready, timed_out, creates, gets, (double)gets / N);
    MM_CHECK_INT(ready, ==, N);
    MM_CHECK_INT(timed_out, ==, 0);
    MM_CHECK(gets <= 3 * N);
    h_stop(&h);
}

typedef struct delete_watch {
    harness *h;
    long long d0, last;
    uint64_t first_ms, done_ms;
    int want;
} delete_watch;

static bool
deletes_done(void *arg)
{
    delete_watch *w = arg;
    long long n = h_sim_counter(w->h, "requests", "session_delete") - w->d0;
    if (n > 0 && w->first_ms == 0)
        w->first_ms = mm_now_ms();
    w->last = n;
    if (n >= w->want)
        w->done_ms = mm_now_ms();
    return n >= w->want;
}

/* 8 sessions never claimed are reaped together; the delete worker sends their DELETEs at its
 * delete share (2/s), not all at once. */
static void
test_delete_budget(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "0", NULL);
    h_start_gameserver(&h);
    const char *del = getenv("MM_TEST_DELETE_BUDGET"); /* to see the test fail with a large one */
    const char *extra[] = {"--edgegap-budget", "40", "--edgegap-delete-budget", del ? del : "2", "--fleet-heartbeat-ms", "200",
                           "--reaper-age-ms", "1000", "--reaper-margin-ms", "200", "--reaper-scan-ms", "100",
                           "--poll-delay-ms", "50", "--poll-interval-ms", "100", NULL};
    h_start_matchmaker(&h, extra);
    MM_CHECK(wait_log(h.mm_log, "budget: delete share ", 10000));
    MM_CHECK(h_file_contains(h.mm_log, "within the fleet's delete budget"));
    h_connect(&h);
    enum { N = 8 };
    static h_stream s[N];
    delete_watch w = {.h = &h, .d0 = h_sim_counter(&h, "requests", "session_delete"), .want = N};
    for (int i = 0; i < N; i++)
        h_stream_open(&h, &s[i], "81.2.3.4");
    int ready = 0;
    for (int i = 0; i < N; i++) {
        MM_CHECK(h_stream_wait(&s[i], H_UNTIL_END, 20000));
        ready += h_stream_ready(&s[i]);
        h_stream_close(&s[i]);
    }
    MM_CHECK_INT(ready, ==, N);
    MM_CHECK(mm_test_wait_until(deletes_done, &w, 20, 30000));
    uint64_t span = w.done_ms - w.first_ms;
    printf("delete budget 2/s: %lld DELETEs of %d reaped sessions over %llu ms\n", w.last, N, (unsigned long long)span);
    MM_CHECK(w.last <= 2 * (long long)span / 1000 + 1 + 1);
    h_stop(&h);
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "deletes") == 0) {
        test_delete_budget();
        nats_Close();
        return MM_TEST_DONE();
    }
    if (argc > 1 && strcmp(argv[1], "polls") == 0) { /* only the line test (MM_TEST_GET_BUDGET) */
        test_polls_not_held_back();
        nats_Close();
        return MM_TEST_DONE();
    }
    test_polls_not_held_back();
    test_delete_budget();
    test_backoff_get();
    test_fleet_rate();
    test_shares();
    test_backoff();
    nats_Close();
    return MM_TEST_DONE();
}
