/*
 * The orphan check's decision rule (include/mm/orphans.h) against a real nats-server: only a
 * webhook whose intent is still open in mm_create_intents, whose replica answers "no responders"
 * on mm.replica.<replica>, and whose session is in none of our session buckets gets its DELETE
 * enqueued; a recorded session (a forged webhook pairing a dead replica's open intent with a
 * recorded session), a live replica's intent, a settled or never-recorded intent (forged), our
 * own intent and malformed intents are left alone. Two checkers seeing the same orphan (two
 * replicas) enqueue it once (the stream's de-duplication), and count it once.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm/kv.h"
#include "mm/metrics.h"
#include "mm/orphans.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"

#define DEAD "DeadReplica00000000000"
#define LIVE "LiveReplica00000000000"

static void
on_live_ping(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), "alive");
    natsMsg_Destroy(msg);
}

static void
intent_put(mm_js *js, const char *intent, const char *replica)
{
    char value[96];
    snprintf(value, sizeof(value), "%s %lld", replica, (long long)time(NULL) * 1000);
    MM_REQUIRE(mm_kv_put_str(mm_js_kv(js, MM_KV_CREATE_INTENTS), intent, value, NULL) == MM_OK);
}

static uint64_t
stream_msgs(mm_js *js)
{
    jsStreamInfo *si = NULL;
    MM_REQUIRE(js_GetStreamInfo(&si, mm_js_ctx(js), MM_DELETE_SESSION_STREAM, NULL, NULL) == NATS_OK);
    uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

/* Waits until the checker has decided `total` entries (bounded). */
static void
wait_decided(mm_orphans *o, uint64_t total)
{
    uint64_t until = mm_now_ms() + 10000;
    mm_orphans_stats st;
    for (;;) {
        mm_orphans_get_stats(o, &st);
        uint64_t decided = st.settled + st.alive + st.recorded + st.doubt + st.deleted;
        if (decided >= total || mm_now_ms() > until)
            break;
        mm_test_sleep_ms(10);
    }
}

int
main(void)
{
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    mm_nats *n1 = mm_test_nats_connect(&server, "orphans-1"), *n2 = mm_test_nats_connect(&server, "orphans-2");
    mm_js *js = NULL;
    char why[512];
    MM_REQUIRE(mm_js_setup(mm_nats_connection(n1), MM_JS_NEED_ALL, 2000, &js, why, sizeof(why)) == MM_OK);
    natsSubscription *live = NULL;
    MM_REQUIRE(natsConnection_Subscribe(&live, mm_nats_connection(n2), MM_REPLICA_SUBJECT_PREFIX LIVE, on_live_ping, NULL) ==
               NATS_OK);
    MM_REQUIRE(natsConnection_Flush(mm_nats_connection(n2)) == NATS_OK);

    mm_orphans *o = NULL;
    mm_orphans_config oc = {.nc = mm_nats_connection(n1), .js = js, .grace_ms = 100, .ping_timeout_ms = 500};
    MM_REQUIRE(mm_orphans_start(&oc, &o, why, sizeof(why)) == MM_OK);
    uint64_t msgs0 = stream_msgs(js);
    uint64_t metric0 = mm_metric_counter_get(MM_METRIC_ORPHANS_DELETED);

    /* ignored at once: our own intent, malformed ones, a bad session id */
    char own[96];
    snprintf(own, sizeof(own), "%s-1", mm_orphans_replica(o));
    intent_put(js, own, mm_orphans_replica(o));
    mm_orphans_offer(o, "own-S", own);
    mm_orphans_offer(o, "bad-S", "no dash");
    mm_orphans_offer(o, "bad-S", "-1");
    mm_orphans_offer(o, "bad-S", NULL);
    mm_orphans_offer(o, "bad session", DEAD "-9");
    mm_orphans_stats st;
    mm_orphans_get_stats(o, &st);
    MM_CHECK_U64(st.offered, ==, 0);

    /* a forged pairing: the dead replica's open intent with a recorded session */
    intent_put(js, DEAD "-1", DEAD);
    MM_REQUIRE(mm_kv_put_str(mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS), "recorded-S", "recorded-S", NULL) == MM_OK);
    mm_orphans_offer(o, "recorded-S", DEAD "-1");
    /* a claimed one (active_connections) and one already deleted */
    intent_put(js, DEAD "-2", DEAD);
    MM_REQUIRE(mm_kv_put_str(mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS), "claimed-S", "42", NULL) == MM_OK);
    mm_orphans_offer(o, "claimed-S", DEAD "-2");
    intent_put(js, DEAD "-3", DEAD);
    MM_REQUIRE(mm_kv_put_str(mm_js_kv(js, MM_KV_DELETED_SESSIONS), "gone-S", "200", NULL) == MM_OK);
    mm_orphans_offer(o, "gone-S", DEAD "-3");
    /* a live replica's open intent */
    intent_put(js, LIVE "-1", LIVE);
    mm_orphans_offer(o, "live-S", LIVE "-1");
    /* a never-recorded (forged) intent, and a record naming another replica than its id */
    mm_orphans_offer(o, "forged-S", DEAD "-77");
    intent_put(js, DEAD "-4", LIVE);
    mm_orphans_offer(o, "mismatch-S", DEAD "-4");
    wait_decided(o, 6);
    mm_orphans_get_stats(o, &st);
    MM_CHECK_U64(st.offered, ==, 6);
    MM_CHECK_U64(st.recorded, ==, 3);
    MM_CHECK_U64(st.alive, ==, 1);
    MM_CHECK_U64(st.settled, ==, 1);
    MM_CHECK_U64(st.doubt, ==, 1);
    MM_CHECK_U64(st.deleted, ==, 0);
    MM_CHECK_U64(stream_msgs(js), ==, msgs0);

    /* the orphan: open intent, dead replica, recorded nowhere; a second checker (another
     * replica) sees the same webhook: one enqueue, one count */
    mm_orphans *o2 = NULL;
    oc.nc = mm_nats_connection(n2);
    MM_REQUIRE(mm_orphans_start(&oc, &o2, why, sizeof(why)) == MM_OK);
    intent_put(js, DEAD "-5", DEAD);
    mm_orphans_offer(o, "orphan-S", DEAD "-5");
    wait_decided(o, 7);
    mm_orphans_offer(o2, "orphan-S", DEAD "-5");
    wait_decided(o2, 1);
    mm_orphans_stats st2;
    mm_orphans_get_stats(o, &st);
    mm_orphans_get_stats(o2, &st2);
    MM_CHECK_U64(st.deleted, ==, 1);
    MM_CHECK_U64(st2.deleted, ==, 0);
    MM_CHECK_U64(st2.settled, ==, 1); /* the first deleted the intent */
    MM_CHECK_U64(stream_msgs(js), ==, msgs0 + 1);
    MM_CHECK_U64(mm_metric_counter_get(MM_METRIC_ORPHANS_DELETED) - metric0, ==, 1);
    char value[96];
    MM_CHECK_INT(mm_kv_get_str(mm_js_kv(js, MM_KV_CREATE_INTENTS), DEAD "-5", value, sizeof(value), NULL), ==, MM_ERR_NOTFOUND);

    /* a checker is a live replica for the others: its intents are left to it */
    char o2_intent[96];
    snprintf(o2_intent, sizeof(o2_intent), "%s-1", mm_orphans_replica(o2));
    intent_put(js, o2_intent, mm_orphans_replica(o2));
    mm_orphans_offer(o, "o2-S", o2_intent);
    wait_decided(o, 8);
    mm_orphans_get_stats(o, &st);
    MM_CHECK_U64(st.alive, ==, 2);
    MM_CHECK_U64(stream_msgs(js), ==, msgs0 + 1);

    mm_orphans_destroy(o2);
    mm_orphans_destroy(o);
    mm_orphans_destroy(NULL);
    natsSubscription_Destroy(live);
    mm_js_destroy(js);
    mm_nats_destroy(n2);
    mm_nats_destroy(n1);
    mm_test_nats_stop(&server);
    nats_Close();
    return MM_TEST_DONE();
}
