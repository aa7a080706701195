/*
 * Readiness by webhook end to end with the real programs: nats-server, edgegap_sim
 * (--deploy-delay-ms 1500, --sockets 1: every session waits for its own deployment),
 * gameserver_sim (--poll-ms 10: cert digests within 10 ms of a deployment), and
 *   (1) split mode: two bevygap_matchmaker_httpd (A and B) and two bevygap_matchmaker replicas,
 *       both with --webhook-public-url pointing at B while the players connect to A (the webhook
 *       lands on the "wrong" front), fallback grid 20 s so readiness can only come by webhook:
 *       N players all get SessionReady within the deploy delay + 1 s of their request (a
 *       correctness bound: the fallback poll would take 20 s), exactly one GET per session at
 *       the simulator, B's mm_front_webhooks_total{outcome="routed"} equals the webhooks the
 *       simulator sent (A routes none), and the matchmakers' stop lines agree (every replica
 *       receives every webhook, one GET per session in all).
 *   (3) forged, against the real front B: a wrong secret is a 404 that reaches no matchmaker;
 *       1,000 replays of a deploying (never ready) session's webhook with the right secret
 *       cost at most one GET per 1 s window: GETs <= 2 + ceil(burst seconds).
 *   (2) all-in-one: bevygap_matchmaker --http with webhooks on, the simulator calling its own
 *       front: N ready by webhook; its /metrics shows mm_matchmaker_webhooks_total{outcome="routed_get"}
 *       N and GETs per session 1 (mm_matchmaker_edgegap_gets_per_session's sum / count).
 *   (m) for comparison, the all-in-one with webhooks off polling on the 200 ms grid.
 * Figures printed: time to SessionReady minus the 1,500 ms deployment, GETs per session.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_harness.h"
#include "metric_read.h"
#include "mm/clock.h"
#include "mm/feedback.h"

#define SECRET "E2e-Webhook_Secret-0123456789"
#define HOOK_PATH "/matchmaker/edgegap-webhook/" SECRET
#define N 8
#define DEPLOY_MS 1500
#define READY_BOUND_MS (DEPLOY_MS + 1000)
#define REPLAYS 1000
#define WRONG 50

/* One player on the WebSocket route, in its own thread. */
typedef struct player {
    int port;
    char ip[32];
    pthread_t thread;
    uint64_t sent_ms, ready_ms; /* ready_ms 0: no SessionReady */
    char session[72];           /* from SessionRequestAccepted */
    volatile int accepted;      /* set once session[] is filled */
    char last[512];             /* the last text */
    int texts;
} player;

static void *
player_run(void *arg)
{
    player *pl = arg;
    mm_ws_client ws;
    char first[256];
    if (mm_ws_connect(&ws, (uint16_t)pl->port, "/matchmaker/ws", NULL, HD_WAIT_MS) != 0)
        return NULL;
    snprintf(first, sizeof(first), "{\"game\":\"%s\",\"version\":\"%s\",\"client_ip\":\"%s\"}", H_APP, H_VERSION, pl->ip);
    pl->sent_ms = mm_now_ms();
    if (mm_ws_send_text(&ws, first) != 0) {
        mm_ws_close(&ws);
        return NULL;
    }
    for (;;) {
        mm_ws_msg m = {0};
        if (mm_ws_recv(&ws, &m, 40000) != 1 || m.opcode != MM_WS_OP_TEXT) {
            mm_ws_msg_free(&m);
            break;
        }
        uint64_t now = mm_now_ms();
        pl->texts++;
        snprintf(pl->last, sizeof(pl->last), "%s", m.data);
        mm_feedback fb;
        char why[160];
        if (mm_feedback_decode(m.data, strlen(m.data), &fb, why, sizeof(why)) == MM_OK) {
            if (fb.kind == MM_FEEDBACK_ACCEPTED) {
                snprintf(pl->session, sizeof(pl->session), "%s", fb.text);
                __atomic_store_n(&pl->accepted, 1, __ATOMIC_RELEASE);
            }
            if (fb.kind == MM_FEEDBACK_READY)
                pl->ready_ms = now;
            mm_feedback_clear(&fb);
        }
        mm_ws_msg_free(&m);
    }
    mm_ws_close(&ws);
    return NULL;
}

static void
player_start(player *pl, int port, int i)
{
    memset(pl, 0, sizeof(*pl));
    pl->port = port;
    snprintf(pl->ip, sizeof(pl->ip), "81.2.4.%d", 10 + i);
    MM_REQUIRE(pthread_create(&pl->thread, NULL, player_run, pl) == 0);
}

/* N players at once on port; all must be ready within READY_BOUND_MS of their request. */
static void
run_players(int port, const char *what)
{
    player pl[N];
    for (int i = 0; i < N; i++)
        player_start(&pl[i], port, i);
    long long sum = 0, max = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(pl[i].thread, NULL);
        MM_CHECK(pl[i].ready_ms != 0);
        if (pl[i].ready_ms == 0) {
            fprintf(stderr, "%s: player %d not ready: %s\n", what, i, pl[i].last);
            continue;
        }
        long long took = (long long)(pl[i].ready_ms - pl[i].sent_ms);
        MM_CHECK_INT(took, <=, READY_BOUND_MS);
        sum += took - DEPLOY_MS;
        max = took - DEPLOY_MS > max ? took - DEPLOY_MS : max;
    }
    fprintf(stderr, "%s: %d players, SessionReady after request minus the %d ms deployment: mean %lld ms, max %lld ms\n",
            what, N, DEPLOY_MS, sum / N, max);
}

/* The matchmaker's stop line (src/matchmaker/main.c), parsed. */
static long long
sim_gets(const harness *h)
{
    return h_sim_counter(h, "requests", "session_get");
}

/* Waits until the simulator's counter reaches at least want (bounded). */
static bool
wait_sim_gets(const harness *h, long long want, int timeout_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    while (sim_gets(h) < want && mm_now_ms() < until)
        mm_test_sleep_ms(10);
    return sim_gets(h) >= want;
}

/* (3): wrong secret, then 1,000 replays of a deploying session's webhook, on front B. */
static void
forged(harness *h, int port_a, int port_b, long long *received_extra)
{
    h_sim_faults(h, "{\"session_create\":{\"never_ready_next\":1}}");
    player w;
    player_start(&w, port_a, 99);
    uint64_t until = mm_now_ms() + 10000;
    while (!__atomic_load_n(&w.accepted, __ATOMIC_ACQUIRE) && mm_now_ms() < until)
        mm_test_sleep_ms(5);
    MM_REQUIRE(__atomic_load_n(&w.accepted, __ATOMIC_ACQUIRE));
    char body[160];
    snprintf(body, sizeof(body), "{\"session_id\":\"%s\",\"status\":\"Status.READY\",\"ready\":true}", w.session);

    long long nf0 = hd_metric(port_b, "mm_front_webhooks_total{outcome=\"not_found\"}");
    long long routed0 = hd_metric(port_b, "mm_front_webhooks_total{outcome=\"routed\"}");
    long long gets0 = sim_gets(h);
    hd_response r;
    for (int i = 0; i < WRONG; i++) {
        hd_http(port_b, "POST", "/matchmaker/edgegap-webhook/E2e-Webhook_Secret-0123456788", body, NULL, HD_WAIT_MS, &r);
        MM_CHECK_INT(r.status, ==, 404);
    }
    MM_CHECK_INT(hd_metric(port_b, "mm_front_webhooks_total{outcome=\"not_found\"}") - nf0, ==, WRONG);
    MM_CHECK_INT(hd_metric(port_b, "mm_front_webhooks_total{outcome=\"routed\"}"), ==, routed0);
    MM_CHECK_INT(sim_gets(h), ==, gets0); /* no webhook GET (and no fallback poll before 20 s) */

    uint64_t t0 = mm_now_ms();
    int ok = 0;
    for (int i = 0; i < REPLAYS; i++) {
        hd_http(port_b, "POST", HOOK_PATH, body, NULL, HD_WAIT_MS, &r);
        ok += r.status == 204;
        if (r.status != 204 && ok == 0 && i == 0)
            fprintf(stderr, "(3) replay for session '%s': %ld %s\n", w.session, r.status, r.body);
    }
    uint64_t burst = mm_now_ms() - t0;
    MM_CHECK_INT(ok, ==, REPLAYS);
    *received_extra = REPLAYS;
    MM_CHECK(wait_sim_gets(h, gets0 + 1, 5000)); /* the first replay's GET */
    MM_CHECK_INT(hd_metric(port_b, "mm_front_webhooks_total{outcome=\"routed\"}") - routed0, ==, REPLAYS);
    /* the session never becomes ready; it ends at --session-timeout-ms with an error, after
     * which no GET of it can come */
    pthread_join(w.thread, NULL);
    MM_CHECK(w.ready_ms == 0);
    long long gets = sim_gets(h) - gets0;
    long long bound = 2 + (long long)((burst + 999) / 1000);
    fprintf(stderr, "(3) %d replays in %llu ms: %lld GETs of that session (bound %lld); %d wrong secrets: 404, no GET\n",
            REPLAYS, (unsigned long long)burst, gets, bound, WRONG);
    MM_CHECK_INT(gets, >=, 1);
    MM_CHECK_INT(gets, <=, bound);
}

static pid_t
start_second_matchmaker(harness *h, const char *const *extra, char *log, size_t len)
{
    pid_t first = h->mm;
    char first_log[512];
    snprintf(first_log, sizeof(first_log), "%s", h->mm_log);
    h_start_matchmaker(h, extra);
    pid_t second = h->mm;
    snprintf(log, len, "%s", h->mm_log);
    h->mm = first;
    snprintf(h->mm_log, sizeof(h->mm_log), "%s", first_log);
    return second;
}

static void
split_mode(harness *h)
{
    hd_proc a, b;
    hd_start(h, &a, NULL); /* both fronts take the secret from MM_WEBHOOK_SECRET */
    hd_start(h, &b, NULL);
    char base[96];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", b.port);
    const char *args[] = {"--webhook-public-url", base, "--webhook-poll-ms", "20000", "--session-timeout-ms", "8000", NULL};
    h_start_matchmaker(h, args);
    char log2[512];
    pid_t mm2 = start_second_matchmaker(h, args, log2, sizeof(log2));

    long long gets0 = sim_gets(h), sent0 = h_sim_counter(h, NULL, "webhooks_sent");
    run_players(a.port, "(1) split, webhook on the other front");
    /* every GET was asked for by a webhook: the last GET's answer may come just before the
     * simulator counts the delivery, so wait for the counters to settle (bounded) */
    MM_CHECK(wait_sim_gets(h, gets0 + N, 5000));
    uint64_t until = mm_now_ms() + 5000;
    while (hd_metric(b.port, "mm_front_webhooks_total{outcome=\"routed\"}") < h_sim_counter(h, NULL, "webhooks_sent") - sent0 &&
           mm_now_ms() < until)
        mm_test_sleep_ms(10);
    long long gets = sim_gets(h) - gets0, sent = h_sim_counter(h, NULL, "webhooks_sent") - sent0;
    long long routed_b = hd_metric(b.port, "mm_front_webhooks_total{outcome=\"routed\"}");
    fprintf(stderr, "(1) %lld GETs for %d sessions; simulator sent %lld webhooks, front B routed %lld\n", gets, N, sent, routed_b);
    MM_CHECK_INT(gets, ==, N);
    MM_CHECK_INT(sent, ==, N);
    MM_CHECK_INT(routed_b, ==, sent);
    MM_CHECK_INT(hd_metric(a.port, "mm_front_webhooks_total{outcome=\"routed\"}"), ==, 0);
    MM_CHECK_INT(hd_metric(b.port, "mm_bridge_webhooks_total{outcome=\"published\"}"), ==, N);

    long long extra = 0;
    forged(h, a.port, b.port, &extra);

    /* the matchmakers' own accounts */
    mm_test_prov_stats s1, s2;
    MM_CHECK_INT(mm_test_stop(h->mm, 30000), ==, 0);
    h->mm = 0;
    MM_CHECK_INT(mm_test_stop(mm2, 30000), ==, 0);
    MM_CHECK(mm_test_prov_stats_read(h->mm_log, &s1));
    MM_CHECK(mm_test_prov_stats_read(log2, &s2));
    fprintf(stderr, "(1) replica 1: %llu sessions, %llu GETs, %llu webhooks received, %llu ignored, %llu rate-limited, %llu webhook GETs\n",
            s1.sessions, s1.gets, s1.received, s1.ignored, s1.limited, s1.hook_gets);
    fprintf(stderr, "(1) replica 2: %llu sessions, %llu GETs, %llu webhooks received, %llu ignored, %llu rate-limited, %llu webhook GETs\n",
            s2.sessions, s2.gets, s2.received, s2.ignored, s2.limited, s2.hook_gets);
    /* fan-out: each replica received every routed webhook (N + the replays, not the wrong ones) */
    MM_CHECK_INT(s1.received, ==, (unsigned long long)(N + extra));
    MM_CHECK_INT(s2.received, ==, (unsigned long long)(N + extra));
    MM_CHECK_INT(s1.sessions + s2.sessions, ==, N + 1);
    if (s1.sessions == 0 || s2.sessions == 0)
        fprintf(stderr, "(1) note: one replica served every session\n");
    MM_CHECK_INT(hd_stop(&a, 5000), ==, 0);
    MM_CHECK_INT(hd_stop(&b, 5000), ==, 0);
    if (mm_test_failed > 0) {
        hd_dump_log(&a);
        hd_dump_log(&b);
        h_dump_log(log2, 30);
    }
}

static void
all_in_one(harness *h, bool webhooks)
{
    int port = mm_test_free_port();
    char bind[64], base[96];
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", port);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    const char *on[] = {"--http", bind, "--webhook-public-url", base, "--webhook-poll-ms", "20000", NULL};
    const char *off[] = {"--http", bind, "--poll-delay-ms", "200", "--poll-interval-ms", "200", NULL};
    if (!webhooks)
        unsetenv("MM_WEBHOOK_SECRET");
    h_start_matchmaker(h, webhooks ? on : off);
    long long gets0 = sim_gets(h);
    run_players(port, webhooks ? "(2) all-in-one, webhooks" : "(m) all-in-one, polling every 200 ms");
    long long gets = sim_gets(h) - gets0;
    long long hook_gets = hd_metric(port, "mm_matchmaker_webhooks_total{outcome=\"routed_get\"}");
    long long pgets = hd_metric(port, "mm_matchmaker_edgegap_gets_per_session_sum");
    long long polled = hd_metric(port, "mm_matchmaker_edgegap_gets_per_session_count");
    fprintf(stderr, "%s: simulator GETs %lld for %d sessions (%.2f per session); /metrics: %lld webhook GETs, %lld GETs, %lld sessions\n",
            webhooks ? "(2)" : "(m)", gets, N, (double)gets / N, hook_gets, pgets, polled);
    if (webhooks) {
        MM_CHECK_INT(hook_gets, ==, N);
        MM_CHECK_INT(polled, ==, N);
        MM_CHECK_INT(pgets, ==, polled);
        MM_CHECK_INT(gets, ==, N);
        MM_CHECK_INT(hd_metric(port, "mm_front_webhooks_total{outcome=\"routed\"}"), ==, N);
    } else {
        MM_CHECK_INT(hook_gets, ==, 0);
        MM_CHECK_INT(pgets, ==, gets);
    }
    MM_CHECK_INT(mm_test_stop(h->mm, 30000), ==, 0);
    h->mm = 0;
    if (mm_test_failed > 0)
        h_dump_log(h->mm_log, 40);
}

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    const char *sim_args[] = {"--sockets", "1", "--seed", "15", NULL};
    h_start_sim(&h, "1500", sim_args);
    const char *gs_args[] = {"--poll-ms", "10", NULL};
    h_start_gameserver_with(&h, gs_args);
    MM_REQUIRE(setenv("MM_WEBHOOK_SECRET", SECRET, 1) == 0);

    split_mode(&h);
    all_in_one(&h, true);
    all_in_one(&h, false);
    h_stop(&h);
    return MM_TEST_DONE();
}
