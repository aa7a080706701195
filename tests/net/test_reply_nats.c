/*
 * Reply sinks over a real nats-server: the exact sequence of payloads a stream sink publishes
 * (the empty end message included, nothing after it), the error and abandon paths, several
 * threads streaming at once, and the one-shot gensession form: JSON once on success, service
 * error headers on failure, both seen by a real NATS request.
 *
 * "Nothing more was published" is shown without waiting for a timeout: after the sink is done
 * the test publishes a sentinel on the same connection, and a subscriber sees one connection's
 * messages in order, so the next message must be the sentinel.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mm/feedback.h"
#include "mm/nats_env.h"
#include "mm/reply.h"
#include "mm/request.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"

#define WAIT_MS 10000
#define SENTINEL "--sentinel--"

static natsSubscription *
subscribe(natsConnection *nc, const char *subject)
{
    natsSubscription *sub = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, nc, subject) == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(nc) == NATS_OK);
    return sub;
}

/* The next message on sub must carry exactly expected (NULL: an empty payload). Returns it or NULL. */
static natsMsg *
next_is(natsSubscription *sub, const char *expected)
{
    natsMsg *msg = NULL;
    natsStatus s = natsSubscription_NextMsg(&msg, sub, WAIT_MS);
    MM_CHECK_INT(s, ==, NATS_OK);
    if (s != NATS_OK)
        return NULL;
    int len = natsMsg_GetDataLength(msg);
    const char *data = natsMsg_GetData(msg);
    char got[4096];
    snprintf(got, sizeof(got), "%.*s", len, data != NULL ? data : "");
    MM_CHECK_STR(got, expected != NULL ? expected : "");
    MM_CHECK_INT(len, ==, expected != NULL ? (int)strlen(expected) : 0);
    return msg;
}

static void
expect(natsSubscription *sub, const char *expected)
{
    natsMsg_Destroy(next_is(sub, expected));
}

/* Publishes the sentinel after everything the sink sent and checks it comes next. */
static void
expect_nothing_more(natsConnection *nc, natsSubscription *sub, const char *subject)
{
    MM_REQUIRE(natsConnection_PublishString(nc, subject, SENTINEL) == NATS_OK);
    expect(sub, SENTINEL);
}

static char *
enc_progress(const char *status, int elapsed)
{
    char *t = NULL;
    MM_REQUIRE(mm_feedback_progress(status, elapsed, &t, NULL) == MM_OK);
    return t;
}

static void
send_text(mm_reply_sink *sink, char *text)
{
    MM_CHECK_INT(mm_reply_send(sink, text, strlen(text)), ==, MM_OK);
    free(text);
}

/* ---- stream ---- */

static void
test_stream_success(natsConnection *pub, natsConnection *subc)
{
    const char *inbox = "_INBOX.test.stream.ok";
    natsSubscription *sub = subscribe(subc, inbox);
    mm_reply_sink *sink = NULL;
    MM_REQUIRE(mm_reply_nats_stream(pub, inbox, &sink) == MM_OK);
    char *t = NULL;
    MM_REQUIRE(mm_feedback_acknowledged(&t, NULL) == MM_OK);
    send_text(sink, t);
    MM_REQUIRE(mm_feedback_accepted("950dd2eaff09-S", &t, NULL) == MM_OK);
    send_text(sink, t);
    send_text(sink, enc_progress("Status.SEEKING", 0));
    send_text(sink, enc_progress("Status.READY", 1));
    MM_REQUIRE(mm_feedback_ready("QUJD", "172.104.236.32", 30004, "e3:76", &t, NULL) == MM_OK);
    send_text(sink, t);
    MM_CHECK_INT(mm_reply_end(sink), ==, MM_OK);
    /* after the end: nothing more goes out */
    MM_CHECK_INT(mm_reply_end(sink), ==, MM_OK);
    MM_CHECK_INT(mm_reply_send(sink, "\"Acknowledged\"", 14), ==, MM_ERR_STOPPED);
    MM_CHECK_INT(mm_reply_error(sink, 500, "late"), ==, MM_ERR_STOPPED);
    mm_reply_free(sink);

    expect(sub, "\"Acknowledged\"");
    expect(sub, "{\"SessionRequestAccepted\":\"950dd2eaff09-S\"}");
    expect(sub, "{\"ProgressReport\":\"Status.SEEKING (0)\"}");
    expect(sub, "{\"ProgressReport\":\"Status.READY (1)\"}");
    expect(sub, "{\"SessionReady\":{\"token\":\"QUJD\",\"ip\":\"172.104.236.32\",\"port\":30004,\"cert_digest\":\"e3:76\"}}");
    expect(sub, NULL);
    expect_nothing_more(pub, sub, inbox);
    natsSubscription_Destroy(sub);
}

static void
test_stream_error_and_abandon(natsConnection *pub, natsConnection *subc)
{
    const char *inbox = "_INBOX.test.stream.err";
    natsSubscription *sub = subscribe(subc, inbox);
    mm_reply_sink *sink = NULL;
    MM_REQUIRE(mm_reply_nats_stream(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_send(sink, "\"Acknowledged\"", 14), ==, MM_OK);
    MM_CHECK_INT(mm_reply_error(sink, 408, "session still not ready, timed out."), ==, MM_OK);
    MM_CHECK_INT(mm_reply_send(sink, "\"Acknowledged\"", 14), ==, MM_ERR_STOPPED);
    MM_CHECK_INT(mm_reply_end(sink), ==, MM_OK);
    mm_reply_free(sink);
    expect(sub, "\"Acknowledged\"");
    expect(sub, "{\"Error\":[408,\"session still not ready, timed out.\"]}");
    expect(sub, NULL);
    expect_nothing_more(pub, sub, inbox);

    /* freed before its end: the client hears so at once */
    MM_REQUIRE(mm_reply_nats_stream(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_send(sink, "\"Acknowledged\"", 14), ==, MM_OK);
    mm_reply_free(sink);
    expect(sub, "\"Acknowledged\"");
    expect(sub, "{\"Error\":[503,\"the matchmaker stopped before the request finished\"]}");
    expect(sub, NULL);
    expect_nothing_more(pub, sub, inbox);

    /* an error message with characters to escape */
    MM_REQUIRE(mm_reply_nats_stream(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_error(sink, 400, "bad \"app\"\n\x01"), ==, MM_OK);
    mm_reply_free(sink);
    expect(sub, "{\"Error\":[400,\"bad \\\"app\\\"\\n\\u0001\"]}");
    expect(sub, NULL);
    expect_nothing_more(pub, sub, inbox);
    natsSubscription_Destroy(sub);

    /* bad arguments */
    MM_CHECK_INT(mm_reply_nats_stream(NULL, inbox, &sink), ==, MM_ERR_INVALID);
    MM_CHECK(sink == NULL);
    MM_CHECK_INT(mm_reply_nats_stream(pub, "", &sink), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_reply_nats_stream(pub, NULL, &sink), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_reply_nats_oneshot(pub, inbox, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_reply_send(NULL, "x", 1), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_reply_end(NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_reply_error(NULL, 1, "x"), ==, MM_ERR_INVALID);
    mm_reply_free(NULL);
    MM_REQUIRE(mm_reply_nats_stream(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_send(sink, "x", 0), ==, MM_ERR_INVALID); /* an empty text would end the stream */
    MM_CHECK_INT(mm_reply_error(sink, 1, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_reply_end(sink), ==, MM_OK);
    mm_reply_free(sink);
}

/* Several threads, one sink each, on one shared connection: each stream arrives whole and in order. */
struct streamer {
    natsConnection *nc;
    char subject[64];
    int count;
    int failures;
};

static void *
streamer_main(void *p)
{
    struct streamer *s = p;
    mm_reply_sink *sink = NULL;
    if (mm_reply_nats_stream(s->nc, s->subject, &sink) != MM_OK) {
        s->failures++;
        return NULL;
    }
    for (int i = 0; i < s->count; i++) {
        char *t = NULL;
        if (mm_feedback_progress("Status.SEEKING", i, &t, NULL) != MM_OK || mm_reply_send(sink, t, strlen(t)) != MM_OK)
            s->failures++;
        free(t);
    }
    if (mm_reply_end(sink) != MM_OK)
        s->failures++;
    mm_reply_free(sink);
    return NULL;
}

static void
test_stream_threads(natsConnection *pub, natsConnection *subc)
{
    enum { THREADS = 4, COUNT = 300 };
    struct streamer st[THREADS];
    natsSubscription *subs[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        st[t] = (struct streamer){.nc = pub, .count = COUNT};
        snprintf(st[t].subject, sizeof(st[t].subject), "_INBOX.test.threads.%d", t);
        subs[t] = subscribe(subc, st[t].subject);
    }
    for (int t = 0; t < THREADS; t++)
        MM_REQUIRE(pthread_create(&th[t], NULL, streamer_main, &st[t]) == 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++) {
        MM_CHECK_INT(st[t].failures, ==, 0);
        int wrong = 0;
        for (int i = 0; i < COUNT; i++) {
            char expected[64];
            snprintf(expected, sizeof(expected), "{\"ProgressReport\":\"Status.SEEKING (%d)\"}", i);
            natsMsg *msg = NULL;
            if (natsSubscription_NextMsg(&msg, subs[t], WAIT_MS) != NATS_OK ||
                natsMsg_GetDataLength(msg) != (int)strlen(expected) ||
                memcmp(natsMsg_GetData(msg), expected, strlen(expected)) != 0)
                wrong++;
            natsMsg_Destroy(msg);
        }
        MM_CHECK_INT(wrong, ==, 0);
        expect(subs[t], NULL);
        expect_nothing_more(pub, subs[t], st[t].subject);
        natsSubscription_Destroy(subs[t]);
    }
}

/* ---- one-shot ---- */

static void
check_service_error(natsMsg *msg, const char *code, const char *text)
{
    const char *v = NULL;
    MM_REQUIRE(msg != NULL);
    MM_CHECK_INT(natsMsgHeader_Get(msg, MM_NATS_SERVICE_ERROR_CODE, &v), ==, NATS_OK);
    MM_CHECK_STR(v, code);
    v = NULL;
    MM_CHECK_INT(natsMsgHeader_Get(msg, MM_NATS_SERVICE_ERROR, &v), ==, NATS_OK);
    MM_CHECK_STR(v, text);
    MM_CHECK_INT(natsMsg_GetDataLength(msg), ==, 0);
}

static void
test_oneshot(natsConnection *pub, natsConnection *subc)
{
    const char *inbox = "_INBOX.test.oneshot";
    natsSubscription *sub = subscribe(subc, inbox);
    mm_reply_sink *sink = NULL;
    char *t = NULL;
    const char *v = NULL;

    /* success: progress is dropped, SessionReady becomes the gensession reply, once */
    MM_REQUIRE(mm_reply_nats_oneshot(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_send(sink, "\"Acknowledged\"", 14), ==, MM_OK);
    send_text(sink, enc_progress("Status.SEEKING", 0));
    MM_CHECK_INT(mm_reply_send(sink, "not feedback", 12), ==, MM_ERR_INVALID);
    MM_REQUIRE(mm_feedback_ready("QUJD", "1.2.3.4", 30004, "e3:76", &t, NULL) == MM_OK);
    send_text(sink, t);
    MM_CHECK_INT(mm_reply_send(sink, "\"Acknowledged\"", 14), ==, MM_ERR_STOPPED);
    MM_CHECK_INT(mm_reply_error(sink, 500, "late"), ==, MM_ERR_STOPPED);
    MM_CHECK_INT(mm_reply_end(sink), ==, MM_OK);
    mm_reply_free(sink);
    natsMsg *msg = next_is(sub, "{\"connect_token\":\"QUJD\",\"gameserver_ip\":\"1.2.3.4\",\"gameserver_port\":30004,"
                                "\"cert_digest\":\"e3:76\"}");
    MM_CHECK_INT(natsMsgHeader_Get(msg, MM_NATS_SERVICE_ERROR_CODE, &v), ==, NATS_NOT_FOUND);
    natsMsg_Destroy(msg);
    expect_nothing_more(pub, sub, inbox);

    /* error(): headers, control characters flattened */
    MM_REQUIRE(mm_reply_nats_oneshot(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_error(sink, 404, "app not\r\nfound\x7f!"), ==, MM_OK);
    MM_CHECK_INT(mm_reply_end(sink), ==, MM_OK);
    mm_reply_free(sink);
    msg = next_is(sub, NULL);
    check_service_error(msg, "404", "app not  found !");
    natsMsg_Destroy(msg);
    expect_nothing_more(pub, sub, inbox);

    /* a blank message still yields both headers (the reference front unwraps the text one) */
    MM_REQUIRE(mm_reply_nats_oneshot(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_error(sink, 400, ""), ==, MM_OK);
    mm_reply_free(sink);
    msg = next_is(sub, NULL);
    check_service_error(msg, "400", "unknown error");
    natsMsg_Destroy(msg);
    MM_REQUIRE(mm_reply_nats_oneshot(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_error(sink, 502, " \r\n "), ==, MM_OK);
    mm_reply_free(sink);
    msg = next_is(sub, NULL);
    check_service_error(msg, "502", "unknown error");
    natsMsg_Destroy(msg);

    /* an Error feedback text sent as such */
    MM_REQUIRE(mm_reply_nats_oneshot(pub, inbox, &sink) == MM_OK);
    MM_REQUIRE(mm_feedback_error(409, "conflict", &t, NULL) == MM_OK);
    send_text(sink, t);
    mm_reply_free(sink);
    msg = next_is(sub, NULL);
    check_service_error(msg, "409", "conflict");
    natsMsg_Destroy(msg);
    expect_nothing_more(pub, sub, inbox);

    /* ended without an answer: 500; freed without one: 503 */
    MM_REQUIRE(mm_reply_nats_oneshot(pub, inbox, &sink) == MM_OK);
    MM_CHECK_INT(mm_reply_end(sink), ==, MM_OK);
    mm_reply_free(sink);
    msg = next_is(sub, NULL);
    check_service_error(msg, "500", "the matchmaker ended the request without a result");
    natsMsg_Destroy(msg);
    MM_REQUIRE(mm_reply_nats_oneshot(pub, inbox, &sink) == MM_OK);
    mm_reply_free(sink);
    msg = next_is(sub, NULL);
    check_service_error(msg, "503", "the matchmaker stopped before the request finished");
    natsMsg_Destroy(msg);
    expect_nothing_more(pub, sub, inbox);
    natsSubscription_Destroy(sub);
}

/* A gensession responder on nats.c's delivery thread, as the intake will be. */
static void
gensession_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    char ip[MM_IP_TEXT_LEN], why[256];
    mm_reply_sink *sink = NULL;
    if (mm_reply_nats_oneshot(nc, natsMsg_GetReply(msg), &sink) == MM_OK) {
        if (mm_request_parse_gensession(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), ip, why, sizeof(why)) != MM_OK) {
            mm_reply_error(sink, 400, why);
        } else {
            char *t = NULL;
            if (mm_feedback_ready("VE9LRU4=", ip, 30004, "aa:bb", &t, NULL) == MM_OK)
                mm_reply_send(sink, t, strlen(t));
            free(t);
        }
        mm_reply_free(sink);
    }
    natsMsg_Destroy(msg);
}

static void
test_gensession_requests(natsConnection *requester, natsConnection *service)
{
    natsSubscription *sub = NULL;
    MM_REQUIRE(natsConnection_QueueSubscribe(&sub, service, MM_GENSESSION_SUBJECT, MM_GENSESSION_QUEUE, gensession_cb, NULL) ==
               NATS_OK);
    MM_REQUIRE(natsConnection_Flush(service) == NATS_OK);
    natsMsg *reply = NULL;
    MM_CHECK_INT(natsConnection_RequestString(&reply, requester, MM_GENSESSION_SUBJECT, "{\"client_ip\":\"81.2.69.160\"}", WAIT_MS),
                 ==, NATS_OK);
    if (reply != NULL) {
        char got[512];
        snprintf(got, sizeof(got), "%.*s", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
        MM_CHECK_STR(got, "{\"connect_token\":\"VE9LRU4=\",\"gameserver_ip\":\"81.2.69.160\",\"gameserver_port\":30004,"
                          "\"cert_digest\":\"aa:bb\"}");
        mm_session_response r;
        MM_CHECK_INT(mm_session_response_decode(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), &r, NULL, 0), ==,
                     MM_OK);
        mm_session_response_clear(&r);
        natsMsg_Destroy(reply);
        reply = NULL;
    }
    MM_CHECK_INT(natsConnection_RequestString(&reply, requester, MM_GENSESSION_SUBJECT, "{\"ip\":\"1.2.3.4\"}", WAIT_MS), ==,
                 NATS_OK);
    if (reply != NULL) {
        check_service_error(reply, "400", "missing field `client_ip`");
        natsMsg_Destroy(reply);
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
}

int
main(void)
{
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    mm_nats *a = mm_test_nats_connect(&server, "test_reply_pub");
    mm_nats *b = mm_test_nats_connect(&server, "test_reply_sub");
    natsConnection *pub = mm_nats_connection(a), *subc = mm_nats_connection(b);

    test_stream_success(pub, subc);
    test_stream_error_and_abandon(pub, subc);
    test_stream_threads(pub, subc);
    test_oneshot(pub, subc);
    test_gensession_requests(pub, subc);

    mm_nats_destroy(a);
    mm_nats_destroy(b);
    nats_Close();
    mm_test_nats_stop(&server);
    return MM_TEST_DONE();
}
