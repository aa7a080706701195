/*
 * Liveness per matchmaker process (include/mm/reply.h "Liveness", include/mm/nats_bridge.h
 * "Heartbeats"; docs/protocol.md section 3), both ends, against a real nats-server. The bridge
 * runs with a silence limit of SILENCE_MS; two matchmaker processes, A and B, are played by the
 * test's main thread, each with its own NATS connection and a real mm_reply_heartbeat, using the
 * real reply sinks attached with mm_reply_heartbeat_attach_liveness (as the intake does for a
 * request carrying Mm-Liveness-Ms):
 *   (a) every request asks both Mm-Heartbeat-Ms and Mm-Liveness-Ms (SILENCE_MS / 3), so an older
 *       matchmaker still sends it per-request heartbeats;
 *   (b) N_A requests held by A and N_B by B stay silent on their own streams after Acknowledged
 *       for more than twice the limit: none is cut (their processes' mm.alive messages speak
 *       for them), and the heartbeats sent on reply subjects stay one per request (N_A, N_B)
 *       while each process sent several liveness messages: the count does not grow with the
 *       waiting requests;
 *   (c) B's connection dies (a kill -9 as NATS sees it): each of B's requests gets
 *       Error(503, "the matchmaker serving this request stopped answering; try again") within
 *       the silence bound of the kill, and A's requests, silent as well, go on; one of A's is
 *       then served;
 *   (d) a liveness message of a process no request names is counted and changes nothing; a
 *       request whose heartbeat names an unusable replica falls back to its own silence;
 *   (e) the bridge stops with A's requests still waiting: each one's cancel reaches A (A's
 *       cancel count, and mm_reply_gone() of its sinks).
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_feed.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/metrics.h"
#include "mm/nats_bridge.h"
#include "mm/reply.h"
#include "mm/request.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"
#include "rec_sink.h"

#define SILENCE_MS 900u
#define WAIT_MS 10000
#define N_A 6
#define N_B 4
#define KILL_BOUND_MS (SILENCE_MS + 1500u) /* the limit, plus an interval, a check period and a loaded machine */

typedef struct held {
    rec_sink *rec;        /* what the front's client got */
    mm_reply_sink *sink;  /* the matchmaker's end */
} held;

static void
send_text(mm_reply_sink *sink, char *text)
{
    MM_REQUIRE(text != NULL);
    MM_REQUIRE(mm_reply_send(sink, text, strlen(text)) == MM_OK);
    free(text);
}

/* Submits a request, takes it as the stand-in (sub), checks (a), attaches it to hb per process
 * on nc and sends Acknowledged. */
static void
hold(mm_nats_bridge *b, natsSubscription *sub, natsConnection *nc, mm_reply_heartbeat *hb, const char *ip, held *out)
{
    out->rec = bf_submit(b, MM_FRONT_WS, ip);
    natsMsg *req = NULL;
    MM_REQUIRE(natsSubscription_NextMsg(&req, sub, WAIT_MS) == NATS_OK);
    const char *v = NULL;
    MM_REQUIRE(natsMsgHeader_Get(req, MM_REPLY_HEARTBEAT_ASK_HEADER, &v) == NATS_OK);
    MM_CHECK_STR(v, "300");
    MM_REQUIRE(natsMsgHeader_Get(req, MM_REPLY_LIVENESS_ASK_HEADER, &v) == NATS_OK);
    MM_CHECK_STR(v, "300");
    uint32_t ms = 0;
    MM_REQUIRE(mm_reply_liveness_asked(req, &ms, NULL, 0) == MM_OK);
    MM_CHECK_INT(ms, ==, 300);
    MM_REQUIRE(mm_reply_nats_stream(nc, natsMsg_GetReply(req), &out->sink) == MM_OK);
    MM_REQUIRE(mm_reply_heartbeat_attach_liveness(hb, out->sink, ms) == MM_OK);
    send_text(out->sink, bf_ack_text());
    MM_REQUIRE(rec_wait_texts(out->rec, 1, WAIT_MS));
    natsMsg_Destroy(req);
}

static mm_nats_bridge_stats
bstats(mm_nats_bridge *b)
{
    mm_nats_bridge_stats st;
    mm_nats_bridge_get_stats(b, &st);
    return st;
}

static mm_reply_heartbeat_stats
hstats(mm_reply_heartbeat *hb)
{
    mm_reply_heartbeat_stats st;
    mm_reply_heartbeat_get_stats(hb, &st);
    return st;
}

static bool
rec_is_freed(rec_sink *r)
{
    return rec_wait_freed(r, 0);
}

/* (d) a heartbeat naming an unusable replica: the request is judged by its own silence */
static void
test_bad_replica(mm_nats_bridge *b, natsSubscription *sub, natsConnection *nc)
{
    uint64_t before = bstats(b).alive_heard;
    MM_REQUIRE(natsConnection_PublishString(nc, MM_REPLY_ALIVE_PREFIX ".NOBODY", "") == NATS_OK);
    rec_sink *r = bf_submit(b, MM_FRONT_WS, "10.4.0.9");
    natsMsg *req = NULL;
    MM_REQUIRE(natsSubscription_NextMsg(&req, sub, WAIT_MS) == NATS_OK);
    natsMsg *m = NULL;
    MM_REQUIRE(natsMsg_Create(&m, natsMsg_GetReply(req), "mm.cancel.x.1", NULL, 0) == NATS_OK);
    MM_REQUIRE(natsMsgHeader_Set(m, MM_REPLY_HEARTBEAT_HEADER, "300") == NATS_OK);
    MM_REQUIRE(natsMsgHeader_Set(m, MM_REPLY_REPLICA_HEADER, "a.b") == NATS_OK); /* not a subject token */
    MM_REQUIRE(natsConnection_PublishMsg(nc, m) == NATS_OK);
    natsMsg_Destroy(m);
    MM_REQUIRE(natsConnection_Flush(nc) == NATS_OK);
    uint64_t from = mm_now_ms();
    MM_REQUIRE(rec_wait_freed(r, WAIT_MS));
    MM_CHECK_INT(r->status, ==, 503);
    MM_CHECK_U64(mm_now_ms() - from, >=, SILENCE_MS - 100); /* the heartbeat's own silence, not before */
    MM_CHECK_U64(bstats(b).alive_heard, >=, before + 1);
    MM_CHECK_U64(bstats(b).replicas, ==, 1); /* A's */
    natsMsg_Destroy(req);
    rec_free(r);
}

int
main(void)
{
    struct mm_test_nats srv;
    MM_REQUIRE(mm_test_nats_start(&srv) == 0);
    mm_nats *nats = mm_test_nats_connect(&srv, "bridge");
    mm_nats *anats = mm_test_nats_connect(&srv, "replica-a");
    mm_nats *bnats = mm_test_nats_connect(&srv, "replica-b");
    natsConnection *nc = mm_nats_connection(nats), *anc = mm_nats_connection(anats), *bnc = mm_nats_connection(bnats);
    natsSubscription *sub = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, anc, "matchmaker.request.game.v1") == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(anc) == NATS_OK);
    mm_reply_heartbeat *hba = NULL, *hbb = NULL;
    MM_REQUIRE(mm_reply_heartbeat_start(anc, &hba) == MM_OK);
    MM_REQUIRE(mm_reply_heartbeat_start(bnc, &hbb) == MM_OK);
    MM_CHECK(strcmp(mm_reply_heartbeat_replica(hba), mm_reply_heartbeat_replica(hbb)) != 0);

    mm_nats_bridge *b = NULL;
    char why[200];
    mm_nats_bridge_config bc = {.nc = nc, .request_timeout_ms = 60000, .silence_ms = SILENCE_MS};
    MM_REQUIRE(mm_nats_bridge_start(&bc, &b, why, sizeof(why)) == MM_OK);

    /* (a), (b) */
    held a[N_A], bb[N_B];
    for (int i = 0; i < N_A; i++)
        hold(b, sub, anc, hba, "10.4.0.1", &a[i]);
    for (int i = 0; i < N_B; i++)
        hold(b, sub, bnc, hbb, "10.4.0.2", &bb[i]);
    MM_CHECK_U64(bstats(b).replicas, ==, 2);
    uint64_t quiet_from = mm_now_ms(), alive_before = bstats(b).alive_heard;
    uint64_t until = quiet_from + WAIT_MS;
    while ((mm_now_ms() - quiet_from < 2 * SILENCE_MS || bstats(b).alive_heard < alive_before + 6) && mm_now_ms() < until)
        mm_test_sleep_ms(20);
    for (int i = 0; i < N_A; i++)
        MM_CHECK(!rec_is_freed(a[i].rec) && rec_count(a[i].rec) == 1);
    for (int i = 0; i < N_B; i++)
        MM_CHECK(!rec_is_freed(bb[i].rec) && rec_count(bb[i].rec) == 1);
    mm_reply_heartbeat_stats ha = hstats(hba), hb = hstats(hbb);
    MM_CHECK_U64(ha.sent, ==, N_A); /* the first of each, none in the silences */
    MM_CHECK_U64(hb.sent, ==, N_B);
    MM_CHECK_U64(ha.attached_liveness, ==, N_A);
    MM_CHECK_U64(ha.alive, >=, 3);
    MM_CHECK_U64(hb.alive, >=, 3);
    MM_CHECK_U64(bstats(b).heartbeats, ==, N_A + N_B);
    MM_CHECK_U64(bstats(b).silent, ==, 0);

    /* (c) B dies */
    natsConnection_Close(bnc);
    uint64_t kill_ms = mm_now_ms();
    for (int i = 0; i < N_B; i++) {
        MM_REQUIRE(rec_wait_freed(bb[i].rec, WAIT_MS));
        uint64_t at = mm_now_ms() - kill_ms;
        MM_CHECK_U64(at, <=, KILL_BOUND_MS);
        MM_CHECK_U64(at, >=, SILENCE_MS - 500); /* B was last heard at most an interval and a tick or two before */
        MM_CHECK_INT(bb[i].rec->status, ==, 503);
        MM_CHECK_STR(bb[i].rec->message, "the matchmaker serving this request stopped answering; try again");
    }
    MM_CHECK_U64(bstats(b).silent, ==, N_B);
    MM_CHECK_U64(bstats(b).replicas, ==, 1);
    uint64_t after_kill = mm_now_ms();
    while (mm_now_ms() - after_kill < SILENCE_MS + 300) /* A's, as silent, keep going past another limit */
        mm_test_sleep_ms(20);
    for (int i = 0; i < N_A; i++)
        MM_CHECK(!rec_is_freed(a[i].rec));
    send_text(a[0].sink, bf_ready_text());
    MM_REQUIRE(mm_reply_end(a[0].sink) == MM_OK);
    MM_REQUIRE(rec_wait_freed(a[0].rec, WAIT_MS));
    MM_CHECK(!a[0].rec->has_error);
    MM_CHECK_INT(a[0].rec->n, ==, 2);

    /* (d) */
    test_bad_replica(b, sub, anc);

    /* (e) the bridge stops: A hears a cancel for each request still waiting */
    uint64_t cancels_before = hstats(hba).cancels;
    mm_nats_bridge_destroy(b);
    until = mm_now_ms() + WAIT_MS;
    while (hstats(hba).cancels < cancels_before + (N_A - 1) && mm_now_ms() < until)
        mm_test_sleep_ms(20);
    MM_CHECK_U64(hstats(hba).cancels, ==, cancels_before + (N_A - 1));
    for (int i = 1; i < N_A; i++)
        MM_CHECK(mm_reply_gone(a[i].sink));
    MM_CHECK(!mm_reply_gone(a[0].sink));

    char metrics[16384];
    MM_CHECK(mm_metrics_render(metrics, sizeof(metrics)) > 0);
    MM_CHECK(strstr(metrics, "\nmm_replica_alive_total ") != NULL);

    for (int i = 0; i < N_A; i++) {
        mm_reply_free(a[i].sink);
        rec_free(a[i].rec);
    }
    for (int i = 0; i < N_B; i++) {
        mm_reply_free(bb[i].sink); /* on a closed connection: the publish of its 503 fails, logged */
        rec_free(bb[i].rec);
    }
    MM_CHECK_U64(hstats(hba).live, ==, 0);
    mm_reply_heartbeat_destroy(hba);
    mm_reply_heartbeat_destroy(hbb);
    natsSubscription_Destroy(sub);
    mm_nats_destroy(bnats);
    mm_nats_destroy(anats);
    mm_nats_destroy(nats);
    mm_test_nats_stop(&srv);
    nats_Close();
    return MM_TEST_DONE();
}
