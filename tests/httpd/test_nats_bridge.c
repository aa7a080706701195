/*
 * The NATS bridge (src/actors/nats_bridge.c) against a real nats-server and a matchmaker
 * stand-in written here (a responder on matchmaker.request.game.v1, queue "matchmaker", and on
 * session.gensession, queue "session_queue"), with recording sinks in place of the front:
 *   - a stream is relayed text by text in order and ended; the payload the matchmaker got is
 *     exactly mm_request_payload's;
 *   - nobody serving a subject: Error(503, "no matchmaker is serving <game> <version>"), which
 *     cannot be the timeout (that would be 408);
 *   - the whole-request timeout: Error(408, ...) after what had arrived; a reply arriving later
 *     is dropped and counted;
 *   - gensession: the answer becomes SessionReady; service error headers become Error(code,
 *     message); a malformed answer Error(502, ...);
 *   - NATS down: a request in flight is answered 503, a new one 503 at once, ready() is false;
 *     after the server is back requests are served again; a reply that comes after a reconnect
 *     ends its request with 503 instead of being relayed (replies before it may be lost);
 *   - 200 concurrent requests from four submitting threads, 20 replies each: each sink gets
 *     exactly its own replies in order;
 *   - a blocked actor and a reply queue of 4 flooded with replies: nats.c's callback never
 *     waits, another subscription keeps flowing, each request is whole or Error(503, overloaded);
 *   - metrics text; stop answers what is in flight and refuses later submits.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/nats_bridge.h"
#include "mm/request.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"
#include "rec_sink.h"

#define WAIT_MS 10000
#define STEPS 20
#define THREADS 4
#define PER_THREAD 50

static uint64_t next_id;

/* ---- the matchmaker stand-in ---- */

static pthread_mutex_t resp_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_payload[512], last_subject[128], hang_reply[128];
static int bad_requests;

/* The responder runs on nats.c's thread: it counts its own failures (checked by main at the end). */
static int responder_failures;

static void
responder_failed(void)
{
    pthread_mutex_lock(&resp_mu);
    responder_failures++;
    pthread_mutex_unlock(&resp_mu);
}

static void
publish_text(natsConnection *nc, const char *reply, char *text)
{
    if (text == NULL || natsConnection_PublishString(nc, reply, text) != NATS_OK)
        responder_failed();
    free(text);
}

static void
publish_end(natsConnection *nc, const char *reply)
{
    if (natsConnection_Publish(nc, reply, NULL, 0) != NATS_OK)
        responder_failed();
}

static void
on_matchmaker(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    mm_session_request req;
    char why[160];
    const char *reply = natsMsg_GetReply(msg);
    const char *data = natsMsg_GetData(msg);
    if (reply == NULL || mm_request_parse_nats(natsMsg_GetSubject(msg), data ? data : "", (size_t)natsMsg_GetDataLength(msg), &req,
                                               why, sizeof(why)) != MM_OK) {
        pthread_mutex_lock(&resp_mu);
        bad_requests++;
        pthread_mutex_unlock(&resp_mu);
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&resp_mu);
    snprintf(last_payload, sizeof(last_payload), "%.*s", natsMsg_GetDataLength(msg), data);
    snprintf(last_subject, sizeof(last_subject), "%s", reply);
    pthread_mutex_unlock(&resp_mu);
    char *t = NULL;
    if (strcmp(req.client_ip, "10.0.0.1") == 0) {
        if (mm_feedback_acknowledged(&t, NULL) != MM_OK)
            t = NULL;
        publish_text(nc, reply, t);
        if (mm_feedback_accepted("950dd2eaff09-S", &t, NULL) != MM_OK)
            t = NULL;
        publish_text(nc, reply, t);
        if (mm_feedback_progress("Status.SEEKING", 0, &t, NULL) != MM_OK)
            t = NULL;
        publish_text(nc, reply, t);
        if (mm_feedback_progress("Status.READY", 1, &t, NULL) != MM_OK)
            t = NULL;
        publish_text(nc, reply, t);
        if (mm_feedback_ready("TkVUQ09ERSAxLjAy", "172.104.236.32", 30004, "e3:76:4d", &t, NULL) != MM_OK)
            t = NULL;
        publish_text(nc, reply, t);
        publish_end(nc, reply);
    } else if (strcmp(req.client_ip, "10.0.0.2") == 0) {
        /* acknowledges, then never ends: timeouts, lost connections, stop */
        pthread_mutex_lock(&resp_mu);
        snprintf(hang_reply, sizeof(hang_reply), "%s", reply);
        pthread_mutex_unlock(&resp_mu);
        if (mm_feedback_acknowledged(&t, NULL) != MM_OK)
            t = NULL;
        publish_text(nc, reply, t);
    } else {
        for (int k = 0; k < STEPS; k++) {
            if (mm_feedback_progress(req.client_ip, k, &t, NULL) != MM_OK)
                t = NULL;
            publish_text(nc, reply, t);
        }
        publish_end(nc, reply);
    }
    natsMsg_Destroy(msg);
}

static void
publish_service_error(natsConnection *nc, const char *reply, const char *code, const char *text)
{
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, reply, NULL, NULL, 0) != NATS_OK || natsMsgHeader_Set(m, MM_NATS_SERVICE_ERROR_CODE, code) != NATS_OK ||
        natsMsgHeader_Set(m, MM_NATS_SERVICE_ERROR, text) != NATS_OK || natsConnection_PublishMsg(nc, m) != NATS_OK)
        responder_failed();
    natsMsg_Destroy(m);
}

static void
on_gensession(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    char ip[MM_IP_TEXT_LEN], why[160];
    const char *reply = natsMsg_GetReply(msg);
    const char *data = natsMsg_GetData(msg);
    if (reply == NULL ||
        mm_request_parse_gensession(data ? data : "", (size_t)natsMsg_GetDataLength(msg), ip, why, sizeof(why)) != MM_OK) {
        pthread_mutex_lock(&resp_mu);
        bad_requests++;
        pthread_mutex_unlock(&resp_mu);
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&resp_mu);
    snprintf(last_payload, sizeof(last_payload), "%.*s", natsMsg_GetDataLength(msg), data);
    pthread_mutex_unlock(&resp_mu);
    char *t = NULL;
    if (strcmp(ip, "10.1.0.1") == 0) {
        if (mm_session_response_encode("TkVUQ09E", "1.2.3.4", 30004, "aa:bb", &t, NULL) != MM_OK)
            t = NULL;
        publish_text(nc, reply, t);
    } else if (strcmp(ip, "10.1.0.2") == 0) {
        publish_service_error(nc, reply, "404", "no seats here");
    } else if (strcmp(ip, "10.1.0.3") == 0) {
        publish_text(nc, reply, strdup("{}"));
    } else {
        publish_service_error(nc, reply, "abc", "a code that is no number");
    }
    natsMsg_Destroy(msg);
}

/* ---- helpers ---- */

/* Submits a request with the caller's record (rec_new_watchable, say); *err tells what submit said
 * (any thread: no check here). */
static rec_sink *
submit_to(mm_nats_bridge *b, mm_front_route route, const char *game, const char *version, const char *ip, rec_sink *r,
          mm_err *err)
{
    mm_front_request fr = {.id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED), .route = route};
    snprintf(fr.req.game, sizeof(fr.req.game), "%s", game);
    snprintf(fr.req.version, sizeof(fr.req.version), "%s", version);
    fr.req.has_client_ip = true;
    snprintf(fr.req.client_ip, sizeof(fr.req.client_ip), "%s", ip);
    *err = mm_nats_bridge_submit(b, &fr, &r->base);
    if (*err != MM_OK)
        r->freed = true; /* never handed on */
    return r;
}

/* The same with a new plain record. */
static rec_sink *
submit_raw(mm_nats_bridge *b, mm_front_route route, const char *game, const char *version, const char *ip, mm_err *err)
{
    return submit_to(b, route, game, version, ip, rec_new(), err);
}

/* Main thread: submits and checks that the bridge took the request. */
static rec_sink *
submit(mm_nats_bridge *b, mm_front_route route, const char *game, const char *version, const char *ip)
{
    mm_err err;
    rec_sink *r = submit_raw(b, route, game, version, ip, &err);
    MM_CHECK_INT(err, ==, MM_OK);
    return r;
}

static void
expect_error(rec_sink *r, int status, const char *message)
{
    MM_CHECK(rec_wait_freed(r, WAIT_MS));
    MM_CHECK(r->has_error);
    MM_CHECK_INT(r->status, ==, status);
    if (message != NULL)
        MM_CHECK_STR(r->message, message);
    MM_CHECK(r->ended);
    MM_CHECK(!r->freed_before_end);
    MM_CHECK_INT(r->after_end, ==, 0);
}

static void
expect_text(rec_sink *r, int i, char *expected)
{
    MM_CHECK(i < r->n);
    if (i < r->n)
        MM_CHECK_STR(r->texts[i], expected);
    free(expected);
}

static void
wait_ready(mm_nats_bridge *b, bool want)
{
    uint64_t until = mm_now_ms() + WAIT_MS;
    while (mm_nats_bridge_ready(b) != want && mm_now_ms() < until) {
        mm_test_sleep_ms(10);
    }
    MM_CHECK(mm_nats_bridge_ready(b) == want);
}

/* ---- cases ---- */

static void
test_stream(mm_nats_bridge *b)
{
    rec_sink *r = submit(b, MM_FRONT_WS, "game", "v1", "10.0.0.1");
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK(!r->has_error);
    MM_CHECK(r->ended);
    MM_CHECK(!r->freed_before_end);
    MM_CHECK_INT(r->n, ==, 5);
    char *t = NULL;
    MM_REQUIRE(mm_feedback_acknowledged(&t, NULL) == MM_OK);
    expect_text(r, 0, t);
    MM_REQUIRE(mm_feedback_accepted("950dd2eaff09-S", &t, NULL) == MM_OK);
    expect_text(r, 1, t);
    MM_REQUIRE(mm_feedback_progress("Status.SEEKING", 0, &t, NULL) == MM_OK);
    expect_text(r, 2, t);
    MM_REQUIRE(mm_feedback_progress("Status.READY", 1, &t, NULL) == MM_OK);
    expect_text(r, 3, t);
    MM_REQUIRE(mm_feedback_ready("TkVUQ09ERSAxLjAy", "172.104.236.32", 30004, "e3:76:4d", &t, NULL) == MM_OK);
    expect_text(r, 4, t);
    rec_free(r);

    char *payload = NULL;
    char why[160];
    MM_REQUIRE(mm_request_payload("10.0.0.1", "game", "v1", &payload, NULL, why, sizeof(why)) == MM_OK);
    pthread_mutex_lock(&resp_mu);
    MM_CHECK_STR(last_payload, payload);
    MM_CHECK(strncmp(last_subject, "_INBOX.", 7) == 0);
    pthread_mutex_unlock(&resp_mu);
    free(payload);

    /* the chunked route is the same stream */
    r = submit(b, MM_FRONT_CHUNKED, "game", "v1", "10.0.0.1");
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK_INT(r->n, ==, 5);
    MM_CHECK(!r->has_error && r->ended);
    rec_free(r);
}

static void
test_no_responders(mm_nats_bridge *b)
{
    rec_sink *r = submit(b, MM_FRONT_WS, "nobody", "v9", "10.0.0.1");
    expect_error(r, 503, "no matchmaker is serving nobody v9");
    MM_CHECK_INT(r->n, ==, 0);
    rec_free(r);
    r = submit(b, MM_FRONT_WANNAPLAY, "", "", "10.1.0.1");
    expect_error(r, 503, "no matchmaker is serving session.gensession");
    rec_free(r);
}

static void
test_gensession(mm_nats_bridge *b)
{
    rec_sink *r = submit(b, MM_FRONT_WANNAPLAY, "", "", "10.1.0.1");
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK(!r->has_error && r->ended);
    MM_CHECK_INT(r->n, ==, 1);
    char *t = NULL;
    MM_REQUIRE(mm_feedback_ready("TkVUQ09E", "1.2.3.4", 30004, "aa:bb", &t, NULL) == MM_OK);
    expect_text(r, 0, t);
    rec_free(r);
    char *payload = NULL;
    char why[160];
    MM_REQUIRE(mm_request_gensession_payload("10.1.0.1", &payload, NULL, why, sizeof(why)) == MM_OK);
    pthread_mutex_lock(&resp_mu);
    MM_CHECK_STR(last_payload, payload);
    pthread_mutex_unlock(&resp_mu);
    free(payload);

    r = submit(b, MM_FRONT_WANNAPLAY, "", "", "10.1.0.2");
    expect_error(r, 404, "no seats here");
    rec_free(r);
    r = submit(b, MM_FRONT_WANNAPLAY, "", "", "10.1.0.3");
    expect_error(r, 502, "the matchmaker sent a malformed answer");
    rec_free(r);
    r = submit(b, MM_FRONT_WANNAPLAY, "", "", "10.1.0.4");
    expect_error(r, 500, "a code that is no number");
    rec_free(r);
}

static void
test_timeout(natsConnection *nc)
{
    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = nc, .request_timeout_ms = 300};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);
    rec_sink *r = submit(b, MM_FRONT_WS, "game", "v1", "10.0.0.2");
    expect_error(r, 408, "timed out waiting for the matchmaker (1 s)");
    MM_CHECK_INT(r->n, ==, 1);
    rec_free(r);

    /* a reply after the timeout finds no request: dropped and counted */
    char reply[128];
    pthread_mutex_lock(&resp_mu);
    snprintf(reply, sizeof(reply), "%s", hang_reply);
    pthread_mutex_unlock(&resp_mu);
    MM_REQUIRE(natsConnection_PublishString(nc, reply, "\"Acknowledged\"") == NATS_OK);
    mm_nats_bridge_stats st;
    uint64_t until = mm_now_ms() + WAIT_MS;
    do {
        mm_nats_bridge_get_stats(b, &st);
    } while (st.late_replies < 1 && mm_now_ms() < until);
    MM_CHECK_U64(st.late_replies, ==, 1);
    MM_CHECK_U64(st.timeouts, ==, 1);
    MM_CHECK_U64(st.in_flight, ==, 0);
    mm_nats_bridge_destroy(b);
}

typedef struct worker {
    mm_nats_bridge *b;
    int index;
    rec_sink *recs[PER_THREAD];
    mm_err errs[PER_THREAD];
} worker;

static void *
worker_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char ip[MM_IP_TEXT_LEN];
        snprintf(ip, sizeof(ip), "10.9.%d.%d", w->index, i);
        w->recs[i] = submit_raw(w->b, i % 2 ? MM_FRONT_WS : MM_FRONT_CHUNKED, "game", "v1", ip, &w->errs[i]);
    }
    return NULL;
}

static void
test_concurrent(mm_nats_bridge *b)
{
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].b = b;
        w[i].index = i;
        MM_REQUIRE(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int in_order = 0;
    for (int i = 0; i < THREADS; i++) {
        for (int j = 0; j < PER_THREAD; j++) {
            rec_sink *r = w[i].recs[j];
            MM_CHECK_INT(w[i].errs[j], ==, MM_OK);
            MM_CHECK(rec_wait_freed(r, 30000));
            char ip[MM_IP_TEXT_LEN];
            snprintf(ip, sizeof(ip), "10.9.%d.%d", i, j);
            bool ok = !r->has_error && r->ended && r->n == STEPS;
            for (int k = 0; ok && k < STEPS; k++) {
                char *t = NULL;
                MM_REQUIRE(mm_feedback_progress(ip, k, &t, NULL) == MM_OK);
                ok = strcmp(r->texts[k], t) == 0;
                free(t);
            }
            if (!ok)
                fprintf(stderr, "request %s: %d texts, error %d, ended %d\n", ip, r->n, r->status, r->ended);
            in_order += ok;
            rec_free(r);
        }
    }
    MM_CHECK_INT(in_order, ==, THREADS * PER_THREAD);
}

/*
 * An inbox of one message per producer: submits see MM_ERR_FULL (the caller still owns the sink
 * and retries); the delivery thread's replies go through the bridge's own reply queue and one
 * WAKE at a time, so every request still gets all of its replies, in order, and none is lost.
 */
static void
test_tiny_inbox(natsConnection *nc)
{
    enum { N = 10 };
    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = nc, .inbox_capacity = 1};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);
    rec_sink *recs[N];
    int full = 0;
    for (int i = 0; i < N; i++) {
        char ip[MM_IP_TEXT_LEN];
        snprintf(ip, sizeof(ip), "10.8.0.%d", i);
        mm_err err;
        uint64_t until = mm_now_ms() + WAIT_MS;
        do {
            recs[i] = submit_raw(b, MM_FRONT_WS, "game", "v1", ip, &err);
            if (err == MM_ERR_FULL) {
                MM_CHECK(!recs[i]->ended); /* refused: untouched, still ours */
                rec_free(recs[i]);
                full++;
                struct timespec ts = {0, 100 * 1000L}; /* let the actor drain a little */
                nanosleep(&ts, NULL);
            }
        } while (err == MM_ERR_FULL && mm_now_ms() < until);
        MM_CHECK_INT(err, ==, MM_OK);
    }
    int in_order = 0;
    for (int i = 0; i < N; i++) {
        char ip[MM_IP_TEXT_LEN];
        snprintf(ip, sizeof(ip), "10.8.0.%d", i);
        MM_CHECK(rec_wait_freed(recs[i], 30000));
        bool ok = !recs[i]->has_error && recs[i]->ended && recs[i]->n == STEPS;
        for (int k = 0; ok && k < STEPS; k++) {
            char *t = NULL;
            MM_REQUIRE(mm_feedback_progress(ip, k, &t, NULL) == MM_OK);
            ok = strcmp(recs[i]->texts[k], t) == 0;
            free(t);
        }
        in_order += ok;
        rec_free(recs[i]);
    }
    MM_CHECK_INT(in_order, ==, N);
    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.refused, ==, (uint64_t)full);
    MM_CHECK_U64(st.reply_overflows, ==, 0);
    fprintf(stderr, "tiny inbox: %d submits refused as full, %llu replies lost\n", full, (unsigned long long)st.reply_overflows);
    mm_nats_bridge_destroy(b);
}

/* ---- a blocked actor and a tiny reply queue ---- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed, in_gate;
static rec_sink *gated;
static mm_reply_sink_ops gated_ops;
static mm_err (*rec_send_fn)(mm_reply_sink *, const char *, size_t);

/* The gated request's send blocks the bridge's actor thread while the gate is closed (at most 30 s). */
static mm_err
gated_send(mm_reply_sink *sink, const char *text, size_t len)
{
    pthread_mutex_lock(&gate_mu);
    if ((rec_sink *)sink == gated && gate_closed) {
        in_gate = true;
        pthread_cond_broadcast(&gate_cv);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 30;
        while (gate_closed && pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&gate_mu);
    return rec_send_fn(sink, text, len);
}

static void
on_probe(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    atomic_fetch_add((atomic_int *)closure, 1);
    natsMsg_Destroy(msg);
}

/*
 * nats.c's delivery callback must never wait: with the bridge's actor blocked (in a sink) and a
 * reply queue of 4, a flood of replies fills the queue and the rest are dropped at once, each
 * affected request remembered. The test sees the callback come back (the overflow counter
 * grows while the actor is still blocked; before, the callback slept in a retry loop until the
 * actor drained), another subscription on the same connection keeps getting messages, and
 * afterwards every request either has all of its replies in order and its end, or
 * Error(503, overloaded): never a stream with a hole. Nothing leaks (ASan).
 */
/* No request left in the bridge. */
static bool
bridge_idle(void *p)
{
    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(p, &st);
    return st.in_flight == 0;
}

static void
test_reply_overflow(natsConnection *nc, natsConnection *rnc)
{
    enum { K = 5, M = 40 };
    static const char *overflow = "the web front is overloaded: a reply from the matchmaker was lost; try again";
    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = nc, .request_timeout_ms = 60000, .reply_queue_capacity = 4};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);
    rec_sink *recs[K];
    char subjects[K][128];
    for (int i = 0; i < K; i++) {
        recs[i] = rec_new();
        if (i == 0) {
            gated_ops = *recs[0]->base.ops;
            rec_send_fn = gated_ops.send;
            gated_ops.send = gated_send;
            gated = recs[0];
        }
        recs[i]->base.ops = &gated_ops;
        mm_front_request fr = {.id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED), .route = MM_FRONT_WS};
        snprintf(fr.req.game, sizeof(fr.req.game), "game");
        snprintf(fr.req.version, sizeof(fr.req.version), "v1");
        fr.req.has_client_ip = true;
        snprintf(fr.req.client_ip, sizeof(fr.req.client_ip), "10.0.0.2"); /* acknowledged, never ended */
        MM_REQUIRE(mm_nats_bridge_submit(b, &fr, &recs[i]->base) == MM_OK);
        MM_REQUIRE(rec_wait_texts(recs[i], 1, WAIT_MS));
        pthread_mutex_lock(&resp_mu);
        snprintf(subjects[i], sizeof(subjects[i]), "%s", hang_reply);
        pthread_mutex_unlock(&resp_mu);
    }
    /* block the actor in request 0's sink */
    pthread_mutex_lock(&gate_mu);
    gate_closed = true;
    pthread_mutex_unlock(&gate_mu);
    MM_REQUIRE(natsConnection_PublishString(rnc, subjects[0], "\"held\"") == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    pthread_mutex_lock(&gate_mu);
    uint64_t until = mm_now_ms() + WAIT_MS;
    while (!in_gate && mm_now_ms() < until) {
        pthread_mutex_unlock(&gate_mu);
        mm_test_sleep_ms(1);
        pthread_mutex_lock(&gate_mu);
    }
    MM_REQUIRE(in_gate);
    pthread_mutex_unlock(&gate_mu);

    /* flood the other requests while the actor cannot drain */
    for (int i = 1; i < K; i++)
        for (int k = 0; k < M; k++) {
            char *t = NULL;
            MM_REQUIRE(mm_feedback_progress("flood", k, &t, NULL) == MM_OK);
            MM_REQUIRE(natsConnection_PublishString(rnc, subjects[i], t) == NATS_OK);
            free(t);
        }
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    /* the callback keeps returning: every reply beyond the queue is counted as lost, at once */
    mm_nats_bridge_stats st;
    until = mm_now_ms() + WAIT_MS;
    do {
        mm_nats_bridge_get_stats(b, &st);
    } while (st.reply_overflows < (uint64_t)((K - 1) * M - 4) && mm_now_ms() < until);
    MM_CHECK_U64(st.reply_overflows, ==, (uint64_t)((K - 1) * M - 4));
    /* another subscription on the bridge's connection still flows */
    atomic_int probes = 0;
    natsSubscription *probe = NULL;
    MM_REQUIRE(natsConnection_Subscribe(&probe, nc, "probe.overflow", on_probe, &probes) == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(nc) == NATS_OK);
    MM_REQUIRE(natsConnection_PublishString(rnc, "probe.overflow", "x") == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    until = mm_now_ms() + WAIT_MS;
    while (atomic_load(&probes) < 1 && mm_now_ms() < until) {
        mm_test_sleep_ms(1);
    }
    MM_CHECK_INT(atomic_load(&probes), ==, 1);
    pthread_mutex_lock(&gate_mu);
    MM_CHECK(in_gate); /* all of that while the actor was still blocked */
    gate_closed = false;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);

    /* let the actor catch up (the ends must not meet a full queue themselves) */
    until = mm_now_ms() + WAIT_MS;
    do {
        mm_nats_bridge_get_stats(b, &st);
    } while ((st.inbox_depth > 0 || st.in_flight > 1) && mm_now_ms() < until);
    MM_CHECK_U64(st.inbox_depth, ==, 0);
    /* end every request; each has its whole stream or the overload error */
    for (int i = 0; i < K; i++)
        MM_REQUIRE(natsConnection_Publish(rnc, subjects[i], NULL, 0) == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    int whole = 0, refused = 0;
    for (int i = 0; i < K; i++) {
        rec_sink *r = recs[i];
        MM_CHECK(rec_wait_freed(r, WAIT_MS));
        MM_CHECK(r->ended);
        MM_CHECK_INT(r->after_end, ==, 0);
        if (r->has_error) {
            MM_CHECK_INT(r->status, ==, 503);
            MM_CHECK_STR(r->message, overflow);
            refused++;
        } else {
            bool ok = r->n == (i == 0 ? 2 : 1 + M);
            for (int k = 0; ok && i > 0 && k < M; k++) {
                char *t = NULL;
                MM_REQUIRE(mm_feedback_progress("flood", k, &t, NULL) == MM_OK);
                ok = strcmp(r->texts[1 + k], t) == 0;
                free(t);
            }
            MM_CHECK(ok);
            whole += ok;
        }
        rec_free(r);
    }
    /* the bridge frees a request's sink (which wakes rec_wait_freed) before it counts it out */
    MM_CHECK(mm_test_wait_until(bridge_idle, b, 1, WAIT_MS));
    mm_nats_bridge_get_stats(b, &st);
    fprintf(stderr, "reply overflow: %d whole, %d answered 503; %llu replies lost, %llu requests failed by it\n", whole, refused,
            (unsigned long long)st.reply_overflows, (unsigned long long)st.overflow_failed);
    MM_CHECK_INT(whole + refused, ==, K);
    MM_CHECK_INT(refused, ==, K - 1); /* request 0 was whole; the flooded ones each lost replies */
    MM_CHECK_U64(st.overflow_failed, ==, (uint64_t)(K - 1));
    MM_CHECK_U64(st.in_flight, ==, 0);
    char metrics[8192];
    size_t mlen = mm_nats_bridge_metrics(b, metrics, sizeof(metrics));
    MM_CHECK(mlen > 0 && strstr(metrics, "mm_bridge_answers_total{outcome=\"overflow\"} 4") != NULL);
    natsSubscription_Destroy(probe);
    mm_nats_bridge_destroy(b);
}

static void
test_metrics(mm_nats_bridge *b)
{
    char buf[4096];
    MM_CHECK(mm_test_wait_until(bridge_idle, b, 1, WAIT_MS)); /* see test_reply_overflow */
    size_t n = mm_nats_bridge_metrics(b, buf, sizeof(buf));
    MM_CHECK(n > 0 && n < sizeof(buf));
    MM_CHECK(strstr(buf, "mm_bridge_answers_total{outcome=\"no_responders\"} 2\n") != NULL);
    MM_CHECK(strstr(buf, "mm_bridge_in_flight 0\n") != NULL);
    MM_CHECK(strstr(buf, "# TYPE mm_bridge_published_total counter\n") != NULL);
    mm_front_backend be;
    mm_nats_bridge_backend(b, &be);
    MM_CHECK(be.ctx == b && be.submit != NULL && be.ready != NULL && be.metrics != NULL);
    char small[100];
    n = be.metrics(be.ctx, small, sizeof(small));
    MM_CHECK(n > 0 && n <= sizeof(small));
    MM_CHECK(small[n - 1] == '\n'); /* cut at a line */
    MM_CHECK(strncmp(small, buf, n) == 0);
}

static void
test_nats_down(struct mm_test_nats *srv, mm_nats_bridge *b)
{
    rec_sink *hanging = submit(b, MM_FRONT_WS, "game", "v1", "10.0.0.2");
    MM_REQUIRE(rec_wait_texts(hanging, 1, WAIT_MS));
    mm_test_stop(srv->pid, 5000);
    srv->pid = 0;
    expect_error(hanging, 503, "the connection to the matchmaker was lost; try again");
    rec_free(hanging);
    wait_ready(b, false);
    rec_sink *r = submit(b, MM_FRONT_WS, "game", "v1", "10.0.0.1");
    expect_error(r, 503, "the matchmaker cannot be reached (NATS is not connected); try again");
    rec_free(r);

    MM_REQUIRE(mm_test_nats_restart(srv) == 0);
    wait_ready(b, true);
    /* the responder reconnects on its own schedule: retry while nobody serves the subject yet */
    uint64_t until = mm_now_ms() + 20000;
    bool served = false;
    while (!served && mm_now_ms() < until) {
        r = submit(b, MM_FRONT_WS, "game", "v1", "10.0.0.1");
        MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
        served = !r->has_error && r->n == 5;
        if (!served && !(r->has_error && r->status == 503))
            MM_CHECK(!"unexpected answer after the restart");
        rec_free(r);
        if (!served) {
            mm_test_sleep_ms(20);
        }
    }
    MM_CHECK(served);
}

/*
 * A reply that arrives after the connection was re-made is not relayed: replies of that request
 * may have been lost meanwhile (the matchmaker's or our NATS node died), so the request ends
 * with 503 when that reply comes, not a hole in the stream. The connection-check timer is set
 * far out here, so only the check made on each reply can catch it.
 */
static void
test_reply_after_reconnect(struct mm_test_nats *srv, mm_nats *nats, natsConnection *rnc)
{
    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = mm_nats_connection(nats), .request_timeout_ms = 60000, .check_interval_ms = 600000};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);
    rec_sink *r = submit(b, MM_FRONT_WS, "game", "v1", "10.0.0.2"); /* acknowledged, then nothing */
    MM_REQUIRE(rec_wait_texts(r, 1, WAIT_MS));
    char reply[128];
    pthread_mutex_lock(&resp_mu);
    snprintf(reply, sizeof(reply), "%s", hang_reply);
    pthread_mutex_unlock(&resp_mu);

    mm_test_stop(srv->pid, 5000);
    srv->pid = 0;
    MM_REQUIRE(mm_test_nats_restart(srv) == 0);
    MM_REQUIRE(mm_nats_wait_connected(nats, 20000) == MM_OK);
    /* the stand-in carries on with the stream once it is back; its first replies may still find no
     * subscription, so it repeats until the request is decided */
    uint64_t until = mm_now_ms() + WAIT_MS;
    while (!rec_wait_freed(r, 0) && mm_now_ms() < until) { /* under the sink's mutex (TSan) */
        char *t = NULL;
        if (natsConnection_Status(rnc) == NATS_CONN_STATUS_CONNECTED &&
            mm_feedback_progress("Status.SEEKING", 1, &t, NULL) == MM_OK)
            natsConnection_PublishString(rnc, reply, t);
        free(t);
        mm_test_sleep_ms(50);
    }
    expect_error(r, 503, "the connection to the matchmaker was lost; try again");
    MM_CHECK_INT(r->n, ==, 1); /* only the Acknowledged from before the reconnect */
    rec_free(r);
    mm_nats_bridge_destroy(b);
}

/*
 * A client that leaves ends its request when its sink reports it (watch_gone: a GONE message to
 * the bridge), not at the next check, which is 10 minutes out here: with 10,000 players waiting,
 * that check used to poll every sink four times a second. A sink already gone when the bridge
 * takes it ends at once too. A client that leaves once its SessionReady was relayed (before the
 * matchmaker's end) has its answer: the request completes, no client_gone. A sink that cannot
 * report (no watch_gone) is still polled by the check: with the check far out it stays, and a
 * short check finds it.
 */
static void
test_gone_reported(natsConnection *nc, natsConnection *rnc)
{
    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = nc, .request_timeout_ms = 60000, .check_interval_ms = 600000};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);
    mm_err err;
    rec_sink *w = submit_to(b, MM_FRONT_WS, "game", "v1", "10.0.0.2", rec_new_watchable(), &err);
    MM_REQUIRE(err == MM_OK);
    rec_sink *p = submit(b, MM_FRONT_WS, "game", "v1", "10.0.0.2"); /* reports nothing */
    MM_REQUIRE(rec_wait_texts(w, 1, WAIT_MS) && rec_wait_texts(p, 1, WAIT_MS));
    MM_CHECK_INT(w->watches, ==, 1);
    uint64_t t0 = mm_now_ms();
    rec_leave(w);
    MM_CHECK(rec_wait_freed(w, WAIT_MS));
    MM_CHECK_U64(mm_now_ms() - t0, <, WAIT_MS);
    MM_CHECK(w->ended && !w->has_error); /* nobody to tell: ended without an answer */
    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.client_gone, ==, 1);
    MM_CHECK_U64(st.in_flight, ==, 1);

    rec_sink *early = rec_new_watchable();
    rec_leave(early); /* gone before the bridge takes it */
    early = submit_to(b, MM_FRONT_WS, "game", "v1", "10.0.0.2", early, &err);
    MM_REQUIRE(err == MM_OK);
    MM_CHECK(rec_wait_freed(early, WAIT_MS));
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.client_gone, ==, 2);

    rec_sink *done = submit_to(b, MM_FRONT_WS, "game", "v1", "10.0.0.2", rec_new_watchable(), &err);
    MM_REQUIRE(err == MM_OK && rec_wait_texts(done, 1, WAIT_MS));
    char reply[128], *t = NULL;
    pthread_mutex_lock(&resp_mu);
    snprintf(reply, sizeof(reply), "%s", hang_reply);
    pthread_mutex_unlock(&resp_mu);
    MM_REQUIRE(mm_feedback_ready("TkVUQ09ERSAxLjAy", "172.104.236.32", 30004, "e3:76:4d", &t, NULL) == MM_OK);
    MM_REQUIRE(natsConnection_PublishString(rnc, reply, t) == NATS_OK && natsConnection_Flush(rnc) == NATS_OK);
    free(t);
    MM_REQUIRE(rec_wait_texts(done, 2, WAIT_MS));
    uint64_t completed0 = st.completed;
    rec_leave(done); /* gone with its token, before the end */
    MM_CHECK(rec_wait_freed(done, WAIT_MS));
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.client_gone, ==, 2);
    MM_CHECK_U64(st.completed, ==, completed0 + 1);
    rec_free(done);

    MM_CHECK(!rec_wait_freed(p, 300)); /* not reported, and the check is far out */
    mm_nats_bridge_destroy(b);
    MM_CHECK(p->freed);
    rec_free(w);
    rec_free(early);
    rec_free(p);

    bc.check_interval_ms = 50;
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);
    p = submit_to(b, MM_FRONT_WS, "game", "v1", "10.0.0.2", rec_new_pollable(), &err);
    MM_REQUIRE(err == MM_OK);
    MM_REQUIRE(rec_wait_texts(p, 1, WAIT_MS));
    rec_leave(p);
    MM_CHECK(rec_wait_freed(p, WAIT_MS));
    MM_CHECK_INT(p->watches, ==, 0);
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.client_gone, ==, 1);
    mm_nats_bridge_destroy(b);
    rec_free(p);
}

static void
test_stop(mm_nats_bridge *b)
{
    rec_sink *hanging = submit(b, MM_FRONT_WS, "game", "v1", "10.0.0.2");
    MM_REQUIRE(rec_wait_texts(hanging, 1, WAIT_MS));
    mm_nats_bridge_stop(b);
    MM_CHECK(hanging->freed); /* answered during the stop */
    expect_error(hanging, 503, "the web front is stopping");
    rec_free(hanging);
    MM_CHECK(!mm_nats_bridge_ready(b));
    mm_front_request fr = {.id = 1, .route = MM_FRONT_WS};
    rec_sink *r = rec_new();
    MM_CHECK_INT(mm_nats_bridge_submit(b, &fr, &r->base), ==, MM_ERR_STOPPED);
    MM_CHECK(!r->freed && !r->ended);
    rec_free(r);
    mm_nats_bridge_stop(b); /* idempotent */
}

/* Edgegap webhooks: each becomes {"session_id":...} on matchmaker.webhook, in order,
 * through the backend interface the front calls; refused (and counted) once the bridge stops. */
static void
test_webhook(mm_nats_bridge *b, natsConnection *rnc)
{
    natsSubscription *sub = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, rnc, MM_BRIDGE_WEBHOOK_SUBJECT) == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    mm_front_backend be;
    mm_nats_bridge_backend(b, &be);
    MM_REQUIRE(be.webhook != NULL);
    MM_CHECK_INT(be.webhook(be.ctx, "950dd2eaff09-S"), ==, MM_OK);
    MM_CHECK_INT(mm_nats_bridge_webhook(b, "second_2"), ==, MM_OK);
    const char *want[] = {"{\"session_id\":\"950dd2eaff09-S\"}", "{\"session_id\":\"second_2\"}"};
    for (int i = 0; i < 2; i++) {
        natsMsg *msg = NULL;
        MM_REQUIRE(natsSubscription_NextMsg(&msg, sub, WAIT_MS) == NATS_OK);
        MM_CHECK_STR(natsMsg_GetData(msg), want[i]);
        natsMsg_Destroy(msg);
    }
    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.webhooks_published, ==, 2);
    MM_CHECK_U64(st.webhooks_failed, ==, 0);
    char text[8192];
    size_t n = mm_nats_bridge_metrics(b, text, sizeof(text) - 1);
    text[n] = '\0';
    MM_CHECK(strstr(text, "mm_bridge_webhooks_total{outcome=\"published\"} 2\n") != NULL);
    natsSubscription_Destroy(sub);
}

/* After the stop: a webhook is refused and counted. */
static void
test_webhook_stopped(mm_nats_bridge *b)
{
    MM_CHECK_INT(mm_nats_bridge_webhook(b, "late"), ==, MM_ERR_STOPPED);
    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.webhooks_failed, ==, 1);
}

/* NATS not reachable when the bridge starts: it starts anyway, is not ready, answers 503 at once. */
static void
test_start_without_server(void)
{
    char host[64], why[256];
    snprintf(host, sizeof(host), "127.0.0.1:%d", mm_test_free_port());
    setenv("NATS_HOST", host, 1);
    setenv("NATS_INSECURE", "1", 1);
    mm_nats_env *env = NULL;
    mm_nats *nats = NULL;
    MM_REQUIRE(mm_nats_env_read(&env, NULL, why, sizeof(why)) == MM_OK);
    mm_nats_connect_opts opts = {.name = "nobody-home", .reconnect_wait_ms = 50, .reconnect_max_wait_ms = 200};
    MM_REQUIRE(mm_nats_connect(env, &opts, &nats, why, sizeof(why)) == MM_OK);
    mm_nats_env_destroy(env);
    mm_nats_bridge *b = NULL;
    mm_nats_bridge_config bc = {.nc = mm_nats_connection(nats)};
    mm_err err = mm_nats_bridge_start(&bc, &b, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK) {
        fprintf(stderr, "%s\n", why);
    } else {
        MM_CHECK(!mm_nats_bridge_ready(b));
        rec_sink *r = submit(b, MM_FRONT_WANNAPLAY, "", "", "10.1.0.1");
        expect_error(r, 503, "the matchmaker cannot be reached (NATS is not connected); try again");
        rec_free(r);
    }
    mm_nats_bridge_destroy(b);
    mm_nats_destroy(nats);
    mm_nats_bridge_config none = {0};
    MM_CHECK_INT(mm_nats_bridge_start(&none, &b, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(b == NULL);
}

static natsConnection *
responder_connect(const struct mm_test_nats *srv)
{
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    MM_REQUIRE(natsOptions_Create(&opts) == NATS_OK);
    MM_REQUIRE(natsOptions_SetURL(opts, srv->url) == NATS_OK);
    MM_REQUIRE(natsOptions_SetMaxReconnect(opts, -1) == NATS_OK);
    MM_REQUIRE(natsOptions_SetReconnectWait(opts, 50) == NATS_OK);
    MM_REQUIRE(natsOptions_SetSendAsap(opts, true) == NATS_OK);
    MM_REQUIRE(natsConnection_Connect(&nc, opts) == NATS_OK);
    natsOptions_Destroy(opts);
    return nc;
}

int
main(void)
{
    struct mm_test_nats srv;
    MM_REQUIRE(mm_test_nats_start(&srv) == 0);
    mm_nats *nats = mm_test_nats_connect(&srv, "bridge");
    natsConnection *nc = mm_nats_connection(nats);
    natsConnection *rnc = responder_connect(&srv);
    natsSubscription *sub_mm = NULL, *sub_gs = NULL;
    MM_REQUIRE(natsConnection_QueueSubscribe(&sub_mm, rnc, "matchmaker.request.game.v1", "matchmaker", on_matchmaker, NULL) ==
               NATS_OK);
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);

    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = nc, .request_timeout_ms = 60000};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);
    MM_CHECK(mm_nats_bridge_ready(b));

    test_stream(b);
    test_no_responders(b); /* before anyone serves session.gensession */
    MM_REQUIRE(natsConnection_QueueSubscribe(&sub_gs, rnc, MM_GENSESSION_SUBJECT, MM_GENSESSION_QUEUE, on_gensession, NULL) ==
               NATS_OK);
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    test_gensession(b);
    test_timeout(nc);
    test_concurrent(b);
    test_tiny_inbox(nc);
    test_reply_overflow(nc, rnc);
    test_metrics(b);
    test_webhook(b, rnc);
    test_nats_down(&srv, b);
    test_reply_after_reconnect(&srv, nats, rnc);
    test_gone_reported(nc, rnc);
    test_stop(b);
    test_webhook_stopped(b);
    test_start_without_server();

    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.in_flight, ==, 0);
    MM_CHECK_INT(bad_requests, ==, 0);
    MM_CHECK_INT(responder_failures, ==, 0);
    mm_nats_bridge_destroy(b);
    mm_nats_bridge_destroy(NULL);
    natsSubscription_Destroy(sub_mm);
    natsSubscription_Destroy(sub_gs);
    natsConnection_Destroy(rnc);
    mm_nats_destroy(nats);
    mm_test_nats_stop(&srv);
    nats_Close();
    return MM_TEST_DONE();
}
