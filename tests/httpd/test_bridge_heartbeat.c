/*
 * Reply-stream heartbeats, both ends (include/mm/reply.h "Heartbeats", include/mm/nats_bridge.h;
 * docs/protocol.md section 3), against a real nats-server. The bridge runs with a silence limit of
 * SILENCE_MS; the matchmaker stand-in is the test's main thread on a synchronous subscription,
 * using the real reply sinks and heartbeat thread where a matchmaker of ours is played:
 *   (a) ours, alive: the request asks Mm-Heartbeat-Ms = SILENCE_MS / 3; the sink is attached to
 *       a real mm_reply_heartbeat; after Acknowledged the stand-in stays silent for more than
 *       SILENCE_MS (until the bridge counted 3 more heartbeats), then answers: the client gets
 *       exactly [Acknowledged, SessionReady], no heartbeat relayed, no error;
 *   (b) ours, died or stalled: a heartbeat, Acknowledged, then nothing: Error(503, "the matchmaker
 *       serving this request stopped answering; try again"), not before SILENCE_MS of silence,
 *       and the cancel published to the heartbeat's reply subject (a stalled matchmaker hears it);
 *   (c) the reference matchmaker (no heartbeats): Acknowledged, a silence longer than the limit,
 *       then the answer: served (a mixed fleet keeps working);
 *   (d) nothing at all on a stream: 503 (the request went to a matchmaker that died);
 *   (e) session.gensession from the reference: the one answer after a long silence: served;
 *   (f) session.gensession from ours: a heartbeat, then nothing: 503;
 *   (g) a bridge with the limit off asks for nothing and answers 408 at its whole-request limit;
 *   (h) the matchmaker's side: the header parsed and range-checked, a non-NATS sink refused,
 *       no heartbeat once the sink ended; the metrics; a silence limit out of range refused, by
 *       the bridge and by bevygap_matchmaker_httpd's flag (exit 2).
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_feed.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/nats_bridge.h"
#include "mm/reply.h"
#include "mm/request.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"
#include "rec_sink.h"

#define SILENCE_MS 900u
#define WAIT_MS 10000

/* The next request the stand-in receives (owned by the caller). */
static natsMsg *
take_request(natsSubscription *sub)
{
    natsMsg *msg = NULL;
    MM_REQUIRE(natsSubscription_NextMsg(&msg, sub, WAIT_MS) == NATS_OK);
    MM_REQUIRE(natsMsg_GetReply(msg) != NULL);
    return msg;
}

static void
pub_heartbeat(natsConnection *nc, const char *reply)
{
    natsMsg *m = NULL;
    MM_REQUIRE(natsMsg_Create(&m, reply, NULL, NULL, 0) == NATS_OK);
    MM_REQUIRE(natsMsgHeader_Set(m, MM_REPLY_HEARTBEAT_HEADER, "300") == NATS_OK);
    MM_REQUIRE(natsConnection_PublishMsg(nc, m) == NATS_OK);
    natsMsg_Destroy(m);
}

static void
pub_text(natsConnection *nc, const char *reply, char *text)
{
    MM_REQUIRE(text != NULL);
    MM_REQUIRE(natsConnection_PublishString(nc, reply, text) == NATS_OK);
    free(text);
}

static void
expect_texts(rec_sink *r, int n, char *first, char *second)
{
    MM_CHECK_INT(r->n, ==, n);
    if (n >= 1 && r->n >= 1)
        MM_CHECK_STR(r->texts[0], first);
    if (n >= 2 && r->n >= 2)
        MM_CHECK_STR(r->texts[1], second);
    free(first);
    free(second);
}

static void
expect_silent(rec_sink *r, uint64_t last_ms)
{
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK(r->has_error);
    MM_CHECK_INT(r->status, ==, 503);
    MM_CHECK_STR(r->message, "the matchmaker serving this request stopped answering; try again");
    MM_CHECK_U64(mm_now_ms() - last_ms, >=, SILENCE_MS); /* never before the limit */
}

static uint64_t
heartbeats(mm_nats_bridge *b)
{
    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(b, &st);
    return st.heartbeats;
}

static void
test_alive(mm_nats_bridge *b, natsSubscription *sub, natsConnection *rnc, mm_reply_heartbeat *hb)
{
    rec_sink *r = bf_submit(b, MM_FRONT_WS, "10.3.0.1");
    natsMsg *req = take_request(sub);
    const char *ask = NULL;
    MM_REQUIRE(natsMsgHeader_Get(req, MM_REPLY_HEARTBEAT_ASK_HEADER, &ask) == NATS_OK);
    MM_CHECK_STR(ask, "300");
    uint32_t interval = 0;
    MM_REQUIRE(mm_reply_heartbeat_asked(req, &interval, NULL, 0) == MM_OK);
    MM_CHECK_INT(interval, ==, 300);
    mm_reply_sink *sink = NULL;
    MM_REQUIRE(mm_reply_nats_stream(rnc, natsMsg_GetReply(req), &sink) == MM_OK);
    uint64_t before = heartbeats(b);
    MM_REQUIRE(mm_reply_heartbeat_attach(hb, sink, interval) == MM_OK);
    char *t = bf_ack_text();
    MM_REQUIRE(mm_reply_send(sink, t, strlen(t)) == MM_OK);
    free(t);
    uint64_t quiet_from = mm_now_ms();
    /* silent but alive: the heartbeat thread keeps the request open past the limit */
    uint64_t until = mm_now_ms() + WAIT_MS;
    while ((mm_now_ms() - quiet_from < SILENCE_MS + 300 || heartbeats(b) < before + 4) && mm_now_ms() < until)
        mm_test_sleep_ms(20);
    MM_CHECK_U64(heartbeats(b), >=, before + 4); /* the first at once, then >= 3 in the silence */
    MM_CHECK(rec_count(r) == 1);
    t = bf_ready_text();
    MM_REQUIRE(mm_reply_send(sink, t, strlen(t)) == MM_OK);
    free(t);
    MM_REQUIRE(mm_reply_end(sink) == MM_OK);
    mm_reply_heartbeat_stats hs;
    mm_reply_heartbeat_get_stats(hb, &hs);
    MM_CHECK_U64(hs.live, ==, 0); /* the end detached it */
    mm_reply_free(sink);
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK(!r->has_error);
    MM_CHECK(r->ended);
    expect_texts(r, 2, bf_ack_text(), bf_ready_text());
    /* no heartbeat for a sink that ended: none more reaches the bridge (late ones would count) */
    uint64_t after_end = heartbeats(b);
    mm_reply_heartbeat_get_stats(hb, &hs);
    uint64_t sent = hs.sent;
    mm_test_sleep_ms(700); /* two intervals in which a heartbeat would be due */
    mm_reply_heartbeat_get_stats(hb, &hs);
    MM_CHECK_U64(hs.sent, ==, sent);
    MM_CHECK_U64(heartbeats(b), ==, after_end);
    natsMsg_Destroy(req);
    rec_free(r);
}

static void
test_died(mm_nats_bridge *b, natsSubscription *sub, natsConnection *rnc)
{
    /* the stand-in only stalled: it still hears the cancel the front sends with its 503 */
    natsSubscription *csub = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&csub, rnc, MM_REPLY_CANCEL_PREFIX ".stalled.*") == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    rec_sink *r = bf_submit(b, MM_FRONT_CHUNKED, "10.3.0.2");
    natsMsg *req = take_request(sub);
    natsMsg *m = NULL;
    MM_REQUIRE(natsMsg_Create(&m, natsMsg_GetReply(req), MM_REPLY_CANCEL_PREFIX ".stalled.7", NULL, 0) == NATS_OK);
    MM_REQUIRE(natsMsgHeader_Set(m, MM_REPLY_HEARTBEAT_HEADER, "300") == NATS_OK);
    MM_REQUIRE(natsConnection_PublishMsg(rnc, m) == NATS_OK);
    natsMsg_Destroy(m);
    pub_text(rnc, natsMsg_GetReply(req), bf_ack_text());
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    expect_silent(r, mm_now_ms());
    expect_texts(r, 1, bf_ack_text(), NULL);
    natsMsg *cancel = NULL;
    MM_CHECK(natsSubscription_NextMsg(&cancel, csub, WAIT_MS) == NATS_OK);
    if (cancel != NULL) {
        MM_CHECK_STR(natsMsg_GetSubject(cancel), MM_REPLY_CANCEL_PREFIX ".stalled.7");
        const char *v = NULL;
        MM_CHECK(natsMsgHeader_Get(cancel, MM_REPLY_CANCEL_HEADER, &v) == NATS_OK && v != NULL && strcmp(v, "1") == 0);
        natsMsg_Destroy(cancel);
    }
    natsSubscription_Destroy(csub);
    natsMsg_Destroy(req);
    rec_free(r);
}

static void
test_reference(mm_nats_bridge *b, natsSubscription *sub, natsConnection *rnc)
{
    rec_sink *r = bf_submit(b, MM_FRONT_WS, "10.3.0.3");
    natsMsg *req = take_request(sub);
    pub_text(rnc, natsMsg_GetReply(req), bf_ack_text());
    MM_REQUIRE(rec_wait_texts(r, 1, WAIT_MS));
    mm_test_sleep_ms(SILENCE_MS * 2); /* the reference polls Edgegap silently for longer than the limit */
    pub_text(rnc, natsMsg_GetReply(req), bf_ready_text());
    MM_REQUIRE(natsConnection_Publish(rnc, natsMsg_GetReply(req), NULL, 0) == NATS_OK);
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK(!r->has_error);
    expect_texts(r, 2, bf_ack_text(), bf_ready_text());
    natsMsg_Destroy(req);
    rec_free(r);
}

static void
test_nothing(mm_nats_bridge *b, natsSubscription *sub)
{
    uint64_t start = mm_now_ms();
    rec_sink *r = bf_submit(b, MM_FRONT_WS, "10.3.0.4");
    natsMsg *req = take_request(sub); /* taken, never answered: its matchmaker died with it */
    expect_silent(r, start);
    MM_CHECK_INT(r->n, ==, 0);
    natsMsg_Destroy(req);
    rec_free(r);
}

static void
test_gensession(mm_nats_bridge *b, natsSubscription *gsub, natsConnection *rnc)
{
    /* (e) the reference: one answer at the end */
    rec_sink *r = bf_submit(b, MM_FRONT_WANNAPLAY, "10.3.0.5");
    natsMsg *req = take_request(gsub);
    mm_test_sleep_ms(SILENCE_MS * 2);
    char *t = NULL;
    MM_REQUIRE(mm_session_response_encode("TkVUQ09ERSAxLjAy", "172.104.236.32", 30004, "e3:76:4d", &t, NULL) == MM_OK);
    pub_text(rnc, natsMsg_GetReply(req), t);
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK(!r->has_error);
    expect_texts(r, 1, bf_ready_text(), NULL);
    natsMsg_Destroy(req);
    rec_free(r);
    /* (f) ours: a heartbeat, then death */
    r = bf_submit(b, MM_FRONT_WANNAPLAY, "10.3.0.6");
    req = take_request(gsub);
    pub_heartbeat(rnc, natsMsg_GetReply(req));
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    expect_silent(r, mm_now_ms());
    MM_CHECK_INT(r->n, ==, 0);
    natsMsg_Destroy(req);
    rec_free(r);
}

static void
test_off(natsConnection *nc, natsSubscription *sub)
{
    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = nc, .request_timeout_ms = 1500};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);
    rec_sink *r = bf_submit(b, MM_FRONT_WS, "10.3.0.7");
    natsMsg *req = take_request(sub);
    const char *ask = NULL;
    MM_CHECK(natsMsgHeader_Get(req, MM_REPLY_HEARTBEAT_ASK_HEADER, &ask) != NATS_OK); /* asks for nothing */
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK_INT(r->status, ==, 408);
    natsMsg_Destroy(req);
    rec_free(r);
    mm_nats_bridge_destroy(b);
    bc.silence_ms = 100; /* below 3 x the smallest heartbeat interval */
    MM_CHECK_INT(mm_nats_bridge_start(&bc, &b, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "600") != NULL);
}

static void
test_matchmaker_side(mm_reply_heartbeat *hb)
{
    static const struct {
        const char *value; /* NULL: no header */
        mm_err err;
        uint32_t ms;
    } cases[] = {{NULL, MM_OK, 0},           {"1000", MM_OK, 1000},      {"200", MM_OK, 200},
                 {"60000", MM_OK, 60000},    {"199", MM_ERR_INVALID, 0}, {"60001", MM_ERR_INVALID, 0},
                 {"abc", MM_ERR_INVALID, 0}, {"-5", MM_ERR_INVALID, 0},  {" ", MM_ERR_INVALID, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        natsMsg *m = NULL;
        char why[160] = "";
        uint32_t ms = 7;
        MM_REQUIRE(natsMsg_Create(&m, "matchmaker.request.game.v1", "_INBOX.x", "{}", 2) == NATS_OK);
        if (cases[i].value != NULL)
            MM_REQUIRE(natsMsgHeader_Set(m, MM_REPLY_HEARTBEAT_ASK_HEADER, cases[i].value) == NATS_OK);
        MM_CHECK_INT(mm_reply_heartbeat_asked(m, &ms, why, sizeof(why)), ==, cases[i].err);
        MM_CHECK_INT(ms, ==, cases[i].ms);
        if (cases[i].err != MM_OK)
            MM_CHECK(strstr(why, MM_REPLY_HEARTBEAT_ASK_HEADER) != NULL);
        natsMsg_Destroy(m);
    }
    rec_sink *r = rec_new();
    MM_CHECK_INT(mm_reply_heartbeat_attach(hb, &r->base, 1000), ==, MM_ERR_INVALID); /* not a NATS sink */
    rec_free(r);
    MM_CHECK(!mm_reply_is_heartbeat(NULL));
}

static void
test_metrics(mm_nats_bridge *b)
{
    char buf[8192];
    size_t n = mm_nats_bridge_metrics(b, buf, sizeof(buf));
    MM_REQUIRE(n > 0 && n < sizeof(buf));
    MM_CHECK(strstr(buf, "mm_bridge_answers_total{outcome=\"silent\"} 3\n") != NULL);
    MM_CHECK(strstr(buf, "mm_bridge_heartbeats_total ") != NULL);
}

/* bevygap_matchmaker_httpd --backend-silence-ms: 0 or 600..180000, else exit 2 naming the flag. */
static void
test_flag(void)
{
    char exe[512], out[8192];
    snprintf(exe, sizeof(exe), "%s/bevygap_matchmaker_httpd", mm_test_build_dir());
    static const char *const bad[] = {"100", "599", "180001", "abc", "-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {"/bin/sh", "-c",           "exec \"$0\" --backend-silence-ms \"$1\" 2>&1",
                        exe,       (char *)bad[i], NULL}; /* stderr too */
        MM_CHECK_INT(mm_test_run(argv, NULL, out, sizeof(out)), ==, 2);
        MM_CHECK(strstr(out, "--backend-silence-ms: must be 0 (off) or 600..180000 milliseconds") != NULL);
    }
    char *help[] = {exe, "--help", NULL};
    MM_CHECK_INT(mm_test_run(help, NULL, out, sizeof(out)), ==, 0);
    MM_CHECK(strstr(out, "--backend-silence-ms MS") != NULL && strstr(out, "(default 3000)") != NULL);
}

int
main(void)
{
    test_flag();
    struct mm_test_nats srv;
    MM_REQUIRE(mm_test_nats_start(&srv) == 0);
    mm_nats *nats = mm_test_nats_connect(&srv, "bridge");
    mm_nats *rnats = mm_test_nats_connect(&srv, "stand-in");
    natsConnection *nc = mm_nats_connection(nats), *rnc = mm_nats_connection(rnats);
    natsSubscription *sub = NULL, *gsub = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, rnc, "matchmaker.request.game.v1") == NATS_OK);
    MM_REQUIRE(natsConnection_SubscribeSync(&gsub, rnc, MM_GENSESSION_SUBJECT) == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(rnc) == NATS_OK);
    mm_reply_heartbeat *hb = NULL;
    MM_REQUIRE(mm_reply_heartbeat_start(rnc, &hb) == MM_OK);

    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = nc, .request_timeout_ms = 60000, .silence_ms = SILENCE_MS};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);

    test_matchmaker_side(hb);
    test_alive(b, sub, rnc, hb);
    test_died(b, sub, rnc);
    test_reference(b, sub, rnc);
    test_nothing(b, sub);
    test_gensession(b, gsub, rnc);
    test_metrics(b);
    test_off(nc, sub);

    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(b, &st);
    MM_CHECK_U64(st.in_flight, ==, 0);
    MM_CHECK_U64(st.silent, ==, 3);
    MM_CHECK_U64(st.late_replies, ==, 0);
    mm_nats_bridge_destroy(b);
    mm_reply_heartbeat_destroy(hb);
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(gsub);
    mm_nats_destroy(rnats);
    mm_nats_destroy(nats);
    mm_test_nats_stop(&srv);
    nats_Close();
    return MM_TEST_DONE();
}
