/*
 * Readiness by webhook, the matchmaker's side (docs/matchmaker.md "Readiness by webhook"): real
 * nats-server, edgegap_sim (--deploy-delay-ms 1500, --sockets 1: a deployment per session),
 * gameserver_sim and the matchmaker with --webhook-public-url pointing at a fake web front in
 * this test: a blocking accept loop that takes each POST of the simulator on
 * /matchmaker/edgegap-webhook/<secret>, notes when it came, and publishes {"session_id": ...}
 * on matchmaker.webhook, as the NATS bridge does.
 *   (a) webhooks on, fallback grid 4000 ms: every session is ready, with exactly one GET each
 *       (the one its webhook asked for: no poll ran before the deployment was ready), and
 *       SessionReady follows the webhook closely (figures printed; no timed assertion).
 *   (b) 1 in 3 webhooks dropped by the simulator (webhook_drop fault): every session is still
 *       ready, the dropped ones by the fallback poll.
 *   (c) forged: 1,000 replays of a waiting session's webhook in a burst cost at most one GET in
 *       the window after them; unknown ids and bad payloads are ignored / dropped, counted in
 *       the matchmaker's stop line.
 *   (d) webhooks off (--session-webhook-url to the same receiver, passed verbatim): polling as
 *       before, the receiver's time used to print the polling delay for comparison.
 *   (e) a webhook that comes before its session's create answer is remembered: the session is
 *       polled at once after its create (one GET), not at the fallback grid's first tick.
 *   (f) a webhook while the session's GET is in flight is not a second GET at once, but one
 *       more as soon as the first answers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "mm/clock.h"
#include "mm_harness.h"
#include "mm_test_http.h"

#define SECRET "Test-Webhook_Secret-0123456789"
#define HOOK_PATH "/matchmaker/edgegap-webhook/" SECRET
#define MAX_SEEN 64

/* The fake front: one thread, one connection at a time. */
typedef struct front {
    int fd, port;
    pthread_t thread;
    atomic_bool stop;
    natsConnection *nc;
    pthread_mutex_t mu;
    int n, bad_path;
    char ids[MAX_SEEN][72];
    uint64_t at_ms[MAX_SEEN];
} front;

static void *
front_main(void *arg)
{
    front *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {f->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            continue;
        char path[256] = "";
        char *body = mm_test_read_http_request(c, path, sizeof(path));
        uint64_t now = mm_now_ms();
        /* as the real front: the secret against the path without its query; the create intent
         * of `?intent=` relayed in the header Mm-Intent (docs/protocol.md section 3) */
        char *query = strchr(path, '?');
        if (query != NULL)
            *query++ = '\0';
        const char *intent = query != NULL && strncmp(query, "intent=", 7) == 0 ? query + 7 : NULL;
        bool ours = body != NULL && strcmp(path, HOOK_PATH) == 0;
        const char *answer = ours ? "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
                                  : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        json_t *j = ours ? json_loads(body, 0, NULL) : NULL;
        const char *id = json_string_value(json_object_get(j, "session_id"));
        if (id != NULL) {
            char payload[160];
            snprintf(payload, sizeof(payload), "{\"session_id\":\"%.64s\"}", id);
            natsMsg *m = NULL;
            MM_CHECK(natsMsg_Create(&m, "matchmaker.webhook", NULL, payload, (int)strlen(payload)) == NATS_OK);
            if (m != NULL && intent != NULL)
                MM_CHECK(natsMsgHeader_Set(m, "Mm-Intent", intent) == NATS_OK);
            MM_CHECK(m != NULL && natsConnection_PublishMsg(f->nc, m) == NATS_OK);
            natsMsg_Destroy(m);
        }
        if (write(c, answer, strlen(answer)) < 0)
            perror("front write");
        close(c);
        pthread_mutex_lock(&f->mu);
        if (!ours)
            f->bad_path++;
        else if (id != NULL && f->n < MAX_SEEN) {
            snprintf(f->ids[f->n], sizeof(f->ids[0]), "%s", id);
            f->at_ms[f->n++] = now;
        }
        pthread_mutex_unlock(&f->mu);
        json_decref(j);
        free(body);
    }
    return NULL;
}

static void
front_start(front *f, natsConnection *nc)
{
    memset(f, 0, sizeof(*f));
    f->nc = nc;
    pthread_mutex_init(&f->mu, NULL);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t sl = sizeof(sa);
    MM_REQUIRE(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(f->fd, 64) == 0);
    getsockname(f->fd, (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    MM_REQUIRE(pthread_create(&f->thread, NULL, front_main, f) == 0);
}

static void
front_stop(front *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
}

/* When the fake front got session id's webhook (0: not yet). */
static uint64_t
hook_time(front *f, const char *id)
{
    uint64_t at = 0;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->n && at == 0; i++)
        if (strcmp(f->ids[i], id) == 0)
            at = f->at_ms[i];
    pthread_mutex_unlock(&f->mu);
    return at;
}

/* The matchmaker's stop line (src/matchmaker/main.c), parsed. */
/* Stops the matchmaker alone (exit 0) and reads its stop line. */
static void
stop_matchmaker(harness *h, mm_test_prov_stats *st)
{
    MM_CHECK_INT(mm_test_stop(h->mm, 30000), ==, 0);
    h->mm = 0;
    memset(st, 0, sizeof(*st));
    MM_CHECK(mm_test_prov_stats_read(h->mm_log, st));
}

/* n requests at once; each must end with SessionReady. Prints ready - webhook delivery per session. */
static void
run_sessions(harness *h, front *f, int n, const char *what, bool expect_hooks)
{
    h_stream s[8];
    MM_REQUIRE(n <= 8);
    for (int i = 0; i < n; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "81.2.3.%d", 10 + i);
        h_stream_open(h, &s[i], ip);
    }
    long long sum = 0, max = 0;
    int measured = 0;
    uint64_t ended_at[8] = {0}, until = mm_now_ms() + 30000;
    /* all streams read in turn, 1 ms each, so each end is timed within a few ms of its arrival */
    for (int left = n; left > 0 && mm_now_ms() < until;) {
        for (int i = 0; i < n; i++) {
            if (ended_at[i] == 0 && h_stream_wait(&s[i], H_UNTIL_END, 1)) {
                ended_at[i] = mm_now_ms();
                left--;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        MM_CHECK(ended_at[i] != 0);
        uint64_t ready = ended_at[i];
        MM_CHECK(h_stream_ready(&s[i]));
        if (!h_stream_ready(&s[i]))
            fprintf(stderr, "%s: session %s ended with %s\n", what, s[i].session, s[i].last);
        uint64_t hook = hook_time(f, s[i].session);
        if (expect_hooks && hook != 0) {
            long long d = (long long)ready - (long long)hook;
            sum += d;
            max = d > max ? d : max;
            measured++;
        }
    }
    if (measured > 0)
        fprintf(stderr, "%s: %d sessions, SessionReady after the webhook's delivery: mean %lld ms, max %lld ms\n", what,
                measured, sum / measured, max);
    for (int i = 0; i < n; i++)
        h_stream_close(&s[i]);
}

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    const char *sim_args[] = {"--sockets", "1", "--seed", "15", NULL};
    h_start_sim(&h, "1500", sim_args);
    /* the game servers' cert digests come within 10 ms of a deployment's start (the default 50 ms
     * would dominate the figures below) */
    const char *gs_args[] = {"--poll-ms", "10", NULL};
    h_start_gameserver_with(&h, gs_args);
    h_connect(&h);
    front f;
    front_start(&f, h.nc);
    char base[96];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/", f.port); /* the trailing '/' is trimmed */
    setenv("MM_WEBHOOK_SECRET", SECRET, 1);

    /* (a) webhooks on: one GET per session, the one the webhook asked for */
    const char *on[] = {"--webhook-public-url", base, "--webhook-poll-ms", "4000", "--session-timeout-ms", "30000", NULL};
    h_start_matchmaker(&h, on);
    MM_CHECK(h_file_contains(h.mm_log, "readiness by webhook: Edgegap calls http://127.0.0.1:"));
    MM_CHECK(!h_file_contains(h.mm_log, SECRET));
    long long gets0 = h_sim_counter(&h, "requests", "session_get");
    run_sessions(&h, &f, 4, "(a) webhooks on", true);
    long long gets_a = h_sim_counter(&h, "requests", "session_get") - gets0;
    MM_CHECK_INT(gets_a, ==, 4);
    fprintf(stderr, "(a) GETs to the simulator: %lld for 4 sessions\n", gets_a);

    /* (b) the first webhook and then 1 in 3 dropped: all ready, the dropped by the fallback grid */
    h_sim_faults(&h, "{\"session_create\":{\"webhook_drop_next\":1,\"webhook_drop_rate\":0.33}}");
    gets0 = h_sim_counter(&h, "requests", "session_get");
    run_sessions(&h, &f, 6, "(b) webhooks dropped", true);
    long long dropped = h_sim_counter(&h, NULL, "webhooks_dropped");
    MM_CHECK_INT(dropped, >=, 1);
    fprintf(stderr, "(b) %lld of 6 webhooks dropped; GETs: %lld for 6 sessions\n", dropped,
            h_sim_counter(&h, "requests", "session_get") - gets0);
    h_sim_faults(&h, "{}");

    /* (c) forged: a waiting session (never ready) gets 1,000 replays in a burst, plus unknown
     * ids and bad payloads */
    h_sim_faults(&h, "{\"session_create\":{\"never_ready_next\":1}}");
    h_stream w;
    h_stream_open(&h, &w, "81.2.3.99");
    MM_REQUIRE(h_stream_wait(&w, H_UNTIL_ACCEPTED, 10000));
    char payload[160];
    snprintf(payload, sizeof(payload), "{\"session_id\":\"%s\"}", w.session);
    gets0 = h_sim_counter(&h, "requests", "session_get");
    uint64_t burst = mm_now_ms();
    for (int i = 0; i < 1000; i++)
        MM_REQUIRE(natsConnection_PublishString(h.nc, "matchmaker.webhook", payload) == NATS_OK);
    for (int i = 0; i < 20; i++) {
        snprintf(payload, sizeof(payload), "{\"session_id\":\"unknown-%d\"}", i);
        MM_REQUIRE(natsConnection_PublishString(h.nc, "matchmaker.webhook", payload) == NATS_OK);
    }
    const char *bad[] = {"", "{}", "[]", "{\"session_id\":1}", "{\"session_id\":\"\"}", "{\"session_id\":\"a b\"}",
                         "{\"session_id\":\"x\",\"more\":1}", "not json"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        MM_REQUIRE(natsConnection_Publish(h.nc, "matchmaker.webhook", bad[i], (int)strlen(bad[i])) == NATS_OK);
    MM_REQUIRE(natsConnection_FlushTimeout(h.nc, 5000) == NATS_OK);
    /* the one GET the burst may cost comes at once; none more within its window (the fallback
     * grid's first tick is 4 s after the create) */
    uint64_t until = burst + 5000;
    while (h_sim_counter(&h, "requests", "session_get") == gets0 && mm_now_ms() < until)
        mm_test_sleep_ms(10);
    uint64_t first_get = mm_now_ms();
    while (mm_now_ms() < burst + 900) /* observe the rest of the window */
        mm_test_sleep_ms(20);
    long long gets_c = h_sim_counter(&h, "requests", "session_get") - gets0;
    MM_CHECK_INT(gets_c, ==, 1);
    fprintf(stderr, "(c) 1000 replays: %lld GET of the session within %llu ms of the burst (first after %llu ms)\n", gets_c,
            (unsigned long long)(mm_now_ms() - burst), (unsigned long long)(first_get - burst));
    h_stream_close(&w);

    mm_test_prov_stats st;
    stop_matchmaker(&h, &st); /* the waiting session: 503, deletion enqueued */
    fprintf(stderr,
            "stop line: %llu sessions, %llu GETs; webhooks %llu received (%llu over NATS, %llu bad), %llu ignored (%llu early), "
            "%llu rate-limited, %llu webhook GETs\n",
            st.sessions, st.gets, st.received, st.over_nats, st.bad, st.ignored, st.early, st.limited, st.hook_gets);
    MM_CHECK_INT(st.sessions, ==, 11);
    MM_CHECK_INT(st.bad, ==, (unsigned long long)(sizeof(bad) / sizeof(bad[0])));
    MM_CHECK_INT(st.received, ==, st.over_nats);
    MM_CHECK_INT(st.received, >=, 1020 + 4);
    MM_CHECK_INT(st.ignored, >=, 20);
    MM_CHECK_INT(st.limited, >=, 999);
    MM_CHECK_INT(st.refused, ==, 0);
    pthread_mutex_lock(&f.mu);
    MM_CHECK_INT(f.bad_path, ==, 0);
    pthread_mutex_unlock(&f.mu);

    /* (d) webhooks off: the reference's polling (200 ms grid); the receiver only times the
     * simulator's calls to the verbatim --session-webhook-url, for the comparison */
    h_sim_faults(&h, "{}");
    char verbatim[160];
    snprintf(verbatim, sizeof(verbatim), "http://127.0.0.1:%d%s", f.port, HOOK_PATH);
    const char *off[] = {"--session-webhook-url", verbatim, "--poll-delay-ms", "200", "--poll-interval-ms", "200", NULL};
    h_start_matchmaker(&h, off);
    MM_CHECK(!h_file_contains(h.mm_log, "readiness by webhook"));
    gets0 = h_sim_counter(&h, "requests", "session_get");
    run_sessions(&h, &f, 4, "(d) webhooks off, polling every 200 ms", true);
    long long gets_d = h_sim_counter(&h, "requests", "session_get") - gets0;
    MM_CHECK_INT(gets_d, >=, 4 * 5); /* 1.5 s of deployment polled every 200 ms */
    fprintf(stderr, "(d) GETs to the simulator: %lld for 4 sessions\n", gets_d);
    stop_matchmaker(&h, &st);
    MM_CHECK_INT(st.received, ==, 0); /* not subscribed: the receiver's publishes reach nobody */

    /* (e) a webhook that overtakes its session's create answer: the simulator's ids follow its
     * --seed, so a first run tells the id the next run's first session gets; its webhook is
     * published before the request (the matchmaker logs it as unknown at debug) and the session
     * is polled at once after its create, not at the fallback grid's first tick (4 s) */
    MM_CHECK_INT(mm_test_stop(h.gs, 10000), ==, 0);
    MM_CHECK_INT(mm_test_stop(h.sim, 10000), ==, 0);
    h.gs = h.sim = 0;
    const char *seeded[] = {"--sockets", "1", "--seed", "77", NULL};
    h_start_sim(&h, "0", seeded);
    char url[160], auth[64], first_id[32] = "";
    snprintf(url, sizeof(url), "%s/v1/session", h.sim_url);
    snprintf(auth, sizeof(auth), "Authorization: %s", H_API_KEY);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    mm_test_http_req rq = {.method = "POST", .url = url, .headers = headers,
                           .body = "{\"app_name\":\"" H_APP "\",\"version_name\":\"" H_VERSION "\",\"ip_list\":[\"81.2.3.4\"]}"};
    mm_test_http_resp rs = {0};
    MM_CHECK_INT(mm_test_http(&rq, &rs), ==, 200);
    json_t *created = json_loads(rs.body, 0, NULL);
    snprintf(first_id, sizeof(first_id), "%s", json_string_value(json_object_get(created, "session_id")) ?: "");
    json_decref(created);
    mm_test_http_free(&rs);
    MM_REQUIRE(first_id[0] != '\0');
    MM_CHECK_INT(mm_test_stop(h.sim, 10000), ==, 0);
    h_start_sim(&h, "0", seeded); /* the same seed: its first session is first_id again */
    h_start_gameserver_with(&h, gs_args);
    const char *early[] = {"--webhook-public-url", base, "--webhook-poll-ms", "4000", "--log-level", "debug", NULL};
    h_start_matchmaker(&h, early);
    snprintf(payload, sizeof(payload), "{\"session_id\":\"%s\"}", first_id);
    MM_REQUIRE(natsConnection_PublishString(h.nc, "matchmaker.webhook", payload) == NATS_OK);
    char noted[160];
    snprintf(noted, sizeof(noted), "webhook for session %s: no request polls it here", first_id);
    until = mm_now_ms() + 10000;
    while (!h_file_contains(h.mm_log, noted) && mm_now_ms() < until)
        mm_test_sleep_ms(10);
    MM_REQUIRE(h_file_contains(h.mm_log, noted));
    h_stream e;
    h_stream_open(&h, &e, "81.2.3.4");
    MM_CHECK(h_stream_wait(&e, H_UNTIL_END, 10000));
    MM_CHECK(h_stream_ready(&e));
    MM_CHECK_STR(e.session, first_id);
    fprintf(stderr, "(e) early webhook: SessionReady %llu ms after SessionRequestAccepted\n",
            (unsigned long long)(mm_now_ms() - e.accepted_ms));
    h_stream_close(&e);
    stop_matchmaker(&h, &st);
    MM_CHECK_INT(st.early, >=, 1);
    MM_CHECK_INT(st.gets, ==, 1);
    MM_CHECK_INT(st.sessions, ==, 1);

    /* (f) a webhook while a GET is in flight (each GET answered after 1,500 ms; the session never
     * ready): not a second GET at once, but one more as soon as the first answers */
    const char *slow[] = {"--webhook-public-url", base, "--webhook-poll-ms", "60000", NULL};
    h_start_matchmaker(&h, slow);
    h_sim_faults(&h, "{\"session_create\":{\"never_ready_next\":1},\"session_get\":{\"latency_ms\":1500}}");
    h_stream_open(&h, &w, "81.2.3.98");
    MM_REQUIRE(h_stream_wait(&w, H_UNTIL_ACCEPTED, 10000));
    snprintf(payload, sizeof(payload), "{\"session_id\":\"%s\"}", w.session);
    gets0 = h_sim_counter(&h, "requests", "session_get"); /* counted as they arrive, before the latency */
    MM_REQUIRE(natsConnection_PublishString(h.nc, "matchmaker.webhook", payload) == NATS_OK);
    until = mm_now_ms() + 5000;
    while (h_sim_counter(&h, "requests", "session_get") == gets0 && mm_now_ms() < until)
        mm_test_sleep_ms(5);
    uint64_t get1 = mm_now_ms();
    MM_CHECK_INT(h_sim_counter(&h, "requests", "session_get") - gets0, ==, 1);
    while (mm_now_ms() < get1 + 1100) /* past the window, the first GET still out */
        mm_test_sleep_ms(10);
    MM_REQUIRE(natsConnection_PublishString(h.nc, "matchmaker.webhook", payload) == NATS_OK);
    MM_REQUIRE(natsConnection_FlushTimeout(h.nc, 5000) == NATS_OK);
    while (mm_now_ms() < get1 + 1300)
        mm_test_sleep_ms(10);
    MM_CHECK_INT(h_sim_counter(&h, "requests", "session_get") - gets0, ==, 1); /* not doubled */
    until = mm_now_ms() + 5000;
    while (h_sim_counter(&h, "requests", "session_get") - gets0 < 2 && mm_now_ms() < until)
        mm_test_sleep_ms(5);
    uint64_t get2 = mm_now_ms();
    MM_CHECK_INT(h_sim_counter(&h, "requests", "session_get") - gets0, ==, 2);
    fprintf(stderr, "(f) webhook during a 1500 ms GET: the second GET %llu ms after the first\n",
            (unsigned long long)(get2 - get1));
    h_stream_close(&w);
    stop_matchmaker(&h, &st);
    MM_CHECK_INT(st.hook_gets, ==, 2);
    MM_CHECK_INT(st.limited, ==, 0);

    front_stop(&f);
    mm_test_http_cleanup();
    h_stop(&h);
    return MM_TEST_DONE();
}
