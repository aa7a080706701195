/*
 * The delete worker against a real nats-server and the real edgegap_sim:
 *   - 20 live sessions enqueued: all deleted at Edgegap, the stream empty, the consumer made
 *     with the reference's settings;
 *   - an unknown id (404) and a payload that is no session id: acked;
 *   - 503 twice, then success: retried twice, with backoff (the attempts and a lower bound on the
 *     time they took are counted), then deleted;
 *   - Edgegap not answering (sim paused with SIGSTOP): requests time out, messages stay in the
 *     stream, and the sessions are deleted once it answers again; Edgegap gone (sim killed):
 *     connection refused, messages stay, settled once a sim listens again;
 *   - two workers on the one durable consumer: each session deleted once, no 410s;
 *   - stop with deletes hanging: abandoned (nak'ed) within the deadline, redelivered to the next
 *     worker, which deletes them;
 *   - nats-server restarts under a running worker: it fetches again; its consumer is deleted:
 *     it makes it again.
 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm/deleter.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "mm/nats_env.h"
#include "mm_test.h"
#include "mm_test_http.h"
#include "mm_test_nats_client.h"

#define API_KEY "token t"
#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS 800
/*
 * How long the delete stream may take to empty once Edgegap answers again. Usually well under
 * a second; the bound the system guarantees is the consumer's AckWait (30 s, the reference's
 * setting): a message whose pull response lands just after a Fetch expired sits unread until
 * it is redelivered (docs/libnotes.md), which a loaded machine occasionally shows.
 */
#define SETTLE_MS 40000

/* ---- edgegap_sim as a child, and blocking HTTP to it ---- */

static const char *const SIM_ARGS[] = {"--deploy-delay-ms", "50", NULL};

/* Starts it again on the same port (after a stop). */
static int
sim_spawn(mm_test_sim *s)
{
    return mm_test_sim_spawn(s, API_KEY, SIM_ARGS, NULL);
}

static void
sim_start(mm_test_sim *s)
{
    MM_REQUIRE(mm_test_sim_start(s, API_KEY, SIM_ARGS, NULL) == 0);
}

/* A blocking request; returns the status (0 on transport failure) and the parsed body. */
static long
http(const mm_test_sim *s, const char *method, const char *path, const char *body, json_t **json)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    const char *headers[] = {"authorization: " API_KEY, "content-type: application/json", NULL};
    mm_test_http_resp r;
    long status =
        mm_test_http(&(mm_test_http_req){.method = method, .url = url, .headers = headers, .body = body, .timeout_ms = 5000}, &r);
    if (json != NULL)
        *json = json_loads(r.body, 0, NULL);
    mm_test_http_free(&r);
    return status;
}

/* Creates a session; its id goes into id. */
static void
session_create(const mm_test_sim *s, char *id, size_t len)
{
    json_t *j = NULL;
    long st = http(s, "POST", "/v1/session", "{\"app_name\": \"bevygap-spaceships\", \"ip_list\": [\"81.128.157.100\"]}", &j);
    MM_REQUIRE(st == 200 && j != NULL);
    snprintf(id, len, "%s", json_string_value(json_object_get(j, "session_id")));
    json_decref(j);
    MM_REQUIRE(mm_session_id_valid(id));
}

/* A field of /__sim/stats ("requests.session_delete" descends), or -1. */
static long long
sim_stat(const mm_test_sim *s, const char *key)
{
    json_t *j = NULL;
    if (http(s, "GET", "/__sim/stats", NULL, &j) != 200 || j == NULL) {
        json_decref(j);
        return -1;
    }
    char name[64];
    snprintf(name, sizeof(name), "%s", key);
    char *dot = strchr(name, '.');
    json_t *v = j;
    if (dot != NULL) {
        *dot = '\0';
        v = json_object_get(v, name);
        v = json_object_get(v, dot + 1);
    } else {
        v = json_object_get(v, name);
    }
    long long n = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

static void
sim_faults(const mm_test_sim *s, const char *body)
{
    MM_REQUIRE(http(s, "POST", "/__sim/faults", body, NULL) == 200);
}

static void
sim_reset(const mm_test_sim *s)
{
    MM_REQUIRE(http(s, "POST", "/__sim/reset", "", NULL) == 200);
}

/* ---- NATS ---- */

struct node {
    mm_nats *nats;
    mm_js *js;
};

static struct node
node_open(const struct mm_test_nats *server, const char *name)
{
    char why[512];
    struct node n = {.nats = mm_test_nats_connect(server, name)};
    MM_REQUIRE(mm_js_setup(mm_nats_connection(n.nats), MM_JS_NEED_DELETE_STREAM, 2000, &n.js, why, sizeof(why)) == MM_OK);
    return n;
}

static void
node_close(struct node *n)
{
    mm_js_destroy(n->js);
    mm_nats_destroy(n->nats);
}

static uint64_t
stream_msgs(struct node *n)
{
    jsStreamInfo *si = NULL;
    MM_REQUIRE(js_GetStreamInfo(&si, mm_js_ctx(n->js), MM_DELETE_SESSION_STREAM, NULL, NULL) == NATS_OK);
    uint64_t count = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return count;
}

static mm_deleter *
deleter_start(struct node *n, const mm_test_sim *s, uint32_t timeout_ms, int stop_deadline_ms)
{
    mm_deleter_config cfg = {.base_url = s->base,
                             .api_key = API_KEY,
                             .max_in_flight = 8,
                             .request_timeout_ms = timeout_ms,
                             .backoff_base_ms = BACKOFF_BASE_MS,
                             .backoff_max_ms = BACKOFF_MAX_MS,
                             .fetch_wait_ms = 200,
                             .stop_deadline_ms = stop_deadline_ms,
                             .consumer_check_ms = 300};
    mm_deleter *d = NULL;
    char why[256] = "";
    mm_err err = mm_deleter_start(&cfg, n->js, &d, why, sizeof(why));
    if (err != MM_OK)
        fprintf(stderr, "mm_deleter_start: %s\n", why);
    MM_REQUIRE(err == MM_OK);
    return d;
}

static void
enqueue(struct node *n, const char *id)
{
    char why[256] = "";
    MM_REQUIRE(mm_delete_queue_enqueue(mm_js_ctx(n->js), id, why, sizeof(why)) == MM_OK);
}

/* Polls until the stream is empty and the sim holds no session; true when both happened. */
static bool
wait_all_done(struct node *n, const mm_test_sim *s, int timeout_ms)
{
    uint64_t deadline = mm_now_ms() + (uint64_t)timeout_ms;
    while (stream_msgs(n) != 0 || sim_stat(s, "sessions_live") != 0) {
        if (mm_now_ms() > deadline)
            return false;
        mm_test_sleep_ms(20);
    }
    return true;
}

/* Polls until stat(d) reaches want. */
#define WAIT_STAT(d, field, want, timeout_ms)                                                                                      \
    do {                                                                                                                           \
        mm_deleter_stats st_;                                                                                                      \
        uint64_t deadline_ = mm_now_ms() + (timeout_ms);                                                                           \
        do {                                                                                                                       \
            mm_test_sleep_ms(10);                                                                                                  \
            mm_deleter_get_stats((d), &st_);                                                                                       \
        } while (st_.field < (want) && mm_now_ms() < deadline_);                                                                   \
        MM_CHECK_U64(st_.field, >=, (want));                                                                                       \
    } while (0)

static void
test_bulk(struct node *n, const mm_test_sim *s)
{
    enum { N = 20 };
    char id[64];
    for (int i = 0; i < N; i++) {
        session_create(s, id, sizeof(id));
        enqueue(n, id);
    }
    MM_CHECK_INT(sim_stat(s, "sessions_live"), ==, N);
    mm_deleter *d = deleter_start(n, s, 2000, 0);
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));
    mm_deleter_stats st;
    mm_deleter_get_stats(d, &st);
    MM_CHECK_U64(st.deleted, ==, N);
    MM_CHECK_U64(st.already_gone + st.retried + st.failed + st.invalid, ==, 0);
    MM_CHECK_INT(sim_stat(s, "sessions_deleted"), ==, N);

    /* The consumer as the reference creates it. */
    jsConsumerInfo *ci = NULL;
    MM_REQUIRE(js_GetConsumerInfo(&ci, mm_js_ctx(n->js), MM_DELETE_SESSION_STREAM, "api-deleter-1", NULL, NULL) == NATS_OK);
    MM_CHECK_INT(ci->Config->AckPolicy, ==, js_AckExplicit);
    MM_CHECK_STR(ci->Config->Description, "Calls edgegap session delete api");
    MM_CHECK(ci->Config->FilterSubject == NULL || ci->Config->FilterSubject[0] == '\0');
    jsConsumerInfo_Destroy(ci);

    /* An unknown id answers 404 and is acked; a payload that is no session id is dropped. */
    enqueue(n, "000000000000-S");
    MM_REQUIRE(js_Publish(NULL, mm_js_ctx(n->js), "edgegap_delete_session_q.junk", "no/id here", 10, NULL, NULL) == NATS_OK);
    WAIT_STAT(d, already_gone, 1, 10000);
    WAIT_STAT(d, invalid, 1, 10000);
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));
    mm_deleter_destroy(d);
}

static void
test_retry_backoff(struct node *n, const mm_test_sim *s)
{
    sim_reset(s);
    mm_deleter *d = deleter_start(n, s, 2000, 0);
    char id[64];
    session_create(s, id, sizeof(id));
    sim_faults(s, "{\"session_delete\": {\"error_next\": 2, \"error_status\": 503}}");
    uint64_t t0 = mm_now_ms();
    enqueue(n, id);
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));
    uint64_t took = mm_now_ms() - t0;
    mm_deleter_stats st;
    mm_deleter_get_stats(d, &st);
    MM_CHECK_U64(st.retried, ==, 2);
    MM_CHECK_U64(st.deleted, ==, 1);
    MM_CHECK_INT(sim_stat(s, "requests.session_delete"), ==, 3); /* not a tight loop */
    MM_CHECK_INT(sim_stat(s, "injected_errors"), ==, 2);
    /* Equal jitter: at least base/2 after the first failure and base after the second. */
    MM_CHECK_U64(took, >=, BACKOFF_BASE_MS / 2 + BACKOFF_BASE_MS);
    mm_deleter_destroy(d);
}

/* Edgegap does not answer (paused), then is gone (killed); messages wait, then are settled. */
static void
test_edgegap_down(struct node *n, mm_test_sim *s)
{
    enum { N = 4 };
    sim_reset(s);
    mm_deleter *d = deleter_start(n, s, 300, 0);
    char id[64];
    for (int i = 0; i < N; i++)
        session_create(s, id, sizeof(id));
    json_t *j = NULL;
    MM_REQUIRE(http(s, "GET", "/__sim/stats", NULL, &j) == 200);
    json_t *ids = json_object_get(j, "live_session_ids");
    MM_REQUIRE(json_array_size(ids) == N);

    MM_REQUIRE(kill(s->pid, SIGSTOP) == 0);
    for (size_t i = 0; i < N; i++)
        enqueue(n, json_string_value(json_array_get(ids, i)));
    json_decref(j);
    WAIT_STAT(d, retried, 2 * N, 20000); /* every message failed at least twice */
    MM_CHECK_U64(stream_msgs(n), ==, N); /* and is still in the stream */
    MM_REQUIRE(kill(s->pid, SIGCONT) == 0);
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));
    mm_deleter_stats st;
    mm_deleter_get_stats(d, &st);
    /* A timed-out request may still have been carried out once the sim ran again: then 410. */
    MM_CHECK_U64(st.deleted + st.already_gone, ==, N);

    /* Killed: connection refused. The messages stay until something listens again. */
    sim_reset(s);
    for (int i = 0; i < N; i++) {
        session_create(s, id, sizeof(id));
        enqueue(n, id);
    }
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));
    mm_test_stop(s->pid, 5000);
    mm_deleter_get_stats(d, &st);
    uint64_t retried_before = st.retried;
    enqueue(n, "aaaaaaaaaaaa-S");
    enqueue(n, "bbbbbbbbbbbb-S");
    WAIT_STAT(d, retried, retried_before + 4, 20000);
    MM_CHECK_U64(stream_msgs(n), ==, 2);
    MM_REQUIRE(sim_spawn(s) == 0); /* same port, empty state: the ids are unknown now */
    uint64_t deadline = mm_now_ms() + SETTLE_MS;
    while (stream_msgs(n) != 0 && mm_now_ms() < deadline)
        mm_test_sleep_ms(20);
    MM_CHECK_U64(stream_msgs(n), ==, 0);
    mm_deleter_get_stats(d, &st);
    MM_CHECK_U64(st.already_gone, >=, 2);
    mm_deleter_destroy(d);
}

static void
test_two_workers(struct node *n1, struct node *n2, const mm_test_sim *s)
{
    enum { N = 30 };
    sim_reset(s);
    mm_deleter *d1 = deleter_start(n1, s, 2000, 0);
    mm_deleter *d2 = deleter_start(n2, s, 2000, 0);
    char id[64];
    for (int i = 0; i < N; i++) {
        session_create(s, id, sizeof(id));
        enqueue(i % 2 ? n1 : n2, id);
    }
    MM_CHECK(wait_all_done(n1, s, 20000));
    mm_deleter_stats s1, s2;
    mm_deleter_get_stats(d1, &s1);
    mm_deleter_get_stats(d2, &s2);
    MM_CHECK_U64(s1.deleted + s2.deleted, ==, N);
    MM_CHECK_U64(s1.already_gone + s2.already_gone, ==, 0);
    MM_CHECK_INT(sim_stat(s, "sessions_deleted"), ==, N);
    MM_CHECK_INT(sim_stat(s, "requests.session_delete"), ==, N);
    fprintf(stderr, "two workers: %llu + %llu deletes\n", (unsigned long long)s1.deleted, (unsigned long long)s2.deleted);
    mm_deleter_destroy(d1);
    mm_deleter_destroy(d2);
}

static void
test_stop_in_flight(struct node *n, const mm_test_sim *s)
{
    enum { N = 5 };
    sim_reset(s);
    sim_faults(s, "{\"session_delete\": {\"hang_next\": 5}}");
    mm_deleter *d = deleter_start(n, s, 10000, 300);
    char id[64];
    for (int i = 0; i < N; i++) {
        session_create(s, id, sizeof(id));
        enqueue(n, id);
    }
    mm_deleter_stats st;
    uint64_t deadline = mm_now_ms() + 10000;
    do {
        mm_test_sleep_ms(10);
        mm_deleter_get_stats(d, &st);
    } while (st.in_flight < N && mm_now_ms() < deadline);
    MM_REQUIRE(st.in_flight == N);
    mm_deleter_stop(d);
    mm_deleter_get_stats(d, &st);
    MM_CHECK_U64(st.abandoned, ==, N);
    MM_CHECK_U64(st.in_flight, ==, 0);
    MM_CHECK_U64(stream_msgs(n), ==, N); /* nak'ed, not acked */
    mm_deleter_destroy(d);

    d = deleter_start(n, s, 2000, 0);
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));
    mm_deleter_get_stats(d, &st);
    MM_CHECK_U64(st.deleted + st.already_gone, ==, N);
    mm_deleter_destroy(d);
}

/* NATS restarts under a running worker, then its consumer is deleted: it carries on both times. */
static void
test_nats_restart(struct mm_test_nats *server, struct node *n, const mm_test_sim *s)
{
    enum { N = 3 };
    sim_reset(s);
    mm_deleter *d = deleter_start(n, s, 2000, 0);
    char id[64];
    session_create(s, id, sizeof(id));
    enqueue(n, id);
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));
    MM_REQUIRE(mm_test_nats_restart(server) == 0);
    MM_REQUIRE(mm_nats_wait_connected(n->nats, 15000) == MM_OK);
    for (int i = 0; i < N; i++) {
        char why[256] = "";
        session_create(s, id, sizeof(id));
        uint64_t deadline = mm_now_ms() + 15000; /* JetStream may still be starting */
        while (mm_delete_queue_enqueue(mm_js_ctx(n->js), id, why, sizeof(why)) != MM_OK && mm_now_ms() < deadline)
            mm_test_sleep_ms(50);
    }
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));

    /* Someone deletes the consumer: the idle worker notices, makes it again and goes on. */
    MM_REQUIRE(js_DeleteConsumer(mm_js_ctx(n->js), MM_DELETE_SESSION_STREAM, "api-deleter-1", NULL, NULL) == NATS_OK);
    session_create(s, id, sizeof(id));
    enqueue(n, id);
    MM_CHECK(wait_all_done(n, s, SETTLE_MS));
    mm_deleter_stats st;
    mm_deleter_get_stats(d, &st);
    MM_CHECK_U64(st.deleted, ==, N + 2);
    mm_deleter_destroy(d);
}

static void
test_bad_config(struct node *n)
{
    mm_deleter *d = NULL;
    char why[256] = "";
    mm_deleter_config cfg = {.base_url = "http://127.0.0.1:1"};
    MM_CHECK_INT(mm_deleter_start(&cfg, n->js, &d, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "API key") != NULL);
    cfg.api_key = API_KEY;
    cfg.base_url = "ftp://nope";
    MM_CHECK_INT(mm_deleter_start(&cfg, n->js, &d, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(d == NULL);
    mm_deleter_destroy(NULL);
    mm_deleter_stop(NULL);
}

int
main(void)
{
    mm_log_setup("test_deleter", MM_LOG_INFO, MM_LOG_TEXT);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    mm_test_sim s;
    sim_start(&s);
    struct node n1 = node_open(&server, "test_deleter_1");
    struct node n2 = node_open(&server, "test_deleter_2");

    test_bad_config(&n1);
    test_bulk(&n1, &s);
    test_retry_backoff(&n1, &s);
    test_two_workers(&n1, &n2, &s);
    test_stop_in_flight(&n1, &s);
    test_edgegap_down(&n1, &s);
    test_nats_restart(&server, &n1, &s);

    node_close(&n2);
    node_close(&n1);
    nats_Close();
    mm_test_stop(s.pid, 5000);
    mm_test_nats_stop(&server);
    curl_global_cleanup();
    return MM_TEST_DONE();
}
