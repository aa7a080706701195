/*
 * The session reaper against a real nats-server, with scaled-down ages:
 *   (a) an unclaimed session older than the limit is enqueued once and removed; a younger one
 *       is not (until it is old enough);
 *   (b) a PUT in active_connections removes the session from unclaimed_sessions, whichever
 *       watcher reports first, and it is never enqueued;
 *   (c) a DELETE in active_connections enqueues the session;
 *   (d) two reapers on two connections over the same sessions: each enqueued once, each entry
 *       removed once;
 *   (e) restart: entries (and delete markers) written before the reaper starts are judged by
 *       their creation time, claimed ones are left alone, old markers are not replayed;
 *   (f) stop with events and work pending: nothing leaks (ASan), nothing hangs;
 *   (g) NATS outage: sessions that age meanwhile are reaped once it is back;
 *   (h) a watch made again (consumer lost) re-delivers current values: nothing enqueued twice.
 * Counts come from DELETE_SESSION_STREAM itself (nothing consumes it here).
 */
#include <stdlib.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "mm/nats_env.h"
#include "mm/reaper.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"
#include "reaper_test_util.h"

#define LIMIT_MS 2000
#define MARGIN_MS 100
#define SCAN_MS 150

static uint64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static mm_reaper *
reaper_start(struct node *n, uint64_t limit_ms, uint64_t replay_ms)
{
    mm_reaper_config cfg = {.age_limit_ms = limit_ms,
                            .margin_ms = MARGIN_MS,
                            .scan_period_ms = SCAN_MS,
                            .replay_ms = replay_ms,
                            .watch_health_ms = 1000,
                            .watch_retire_grace_ms = 1000};
    mm_reaper *r = NULL;
    char why[256] = "";
    mm_err err = mm_reaper_start(&cfg, mm_nats_connection(n->nats), n->js, &r, why, sizeof(why));
    if (err != MM_OK)
        fprintf(stderr, "mm_reaper_start: %s\n", why);
    MM_REQUIRE(err == MM_OK);
    return r;
}

/* Waits until the reaper has run `count` more scans. */
static void
wait_scans(mm_reaper *r, uint64_t count)
{
    mm_reaper_stats st;
    mm_reaper_get_stats(r, &st);
    uint64_t target = st.scans + count, deadline = mm_now_ms() + 20000;
    do {
        mm_test_sleep_ms(10);
        mm_reaper_get_stats(r, &st);
    } while (st.scans < target && mm_now_ms() < deadline);
    MM_CHECK_U64(st.scans, >=, target);
}

/* (a), (b), (c) with one reaper. */
static void
test_rules(struct node *n)
{
    reset_buckets(n);
    uint64_t base = stream_msgs(n);
    mm_reaper *r = reaper_start(n, LIMIT_MS, 0);
    uint64_t t_old = wall_ms();
    put(unclaimed(n), "old0000000a-S", "old0000000a-S");
    /* (b) claimed: unclaimed first, then active ... */
    put(unclaimed(n), "claim00000b-S", "claim00000b-S");
    put(active(n), "claim00000b-S", "1001");
    /* ... and active first, then unclaimed (a late unclaimed put, or watchers out of step) */
    put(active(n), "late000000b-S", "1002");
    put(unclaimed(n), "late000000b-S", "late000000b-S");
    MM_CHECK(wait_gone(n, "claim00000b-S", 10000));
    MM_CHECK(wait_gone(n, "late000000b-S", 10000));

    /* (c) the player leaves */
    put(active(n), "leave00000c-S", "1003");
    MM_REQUIRE(kvStore_Delete(active(n), "leave00000c-S") == NATS_OK);
    MM_CHECK(wait_queued(n, "leave00000c-S", 10000));

    /* (a) old enough: enqueued and removed, not before the limit */
    MM_REQUIRE(wait_queued(n, "old0000000a-S", 15000));
    MM_CHECK_U64(wall_ms() - t_old, >=, LIMIT_MS + MARGIN_MS - 50);
    MM_CHECK(wait_gone(n, "old0000000a-S", 10000));
    uint64_t t_young = wall_ms();
    put(unclaimed(n), "young00000a-S", "young00000a-S");
    wait_scans(r, 2);
    if (wall_ms() - t_young < LIMIT_MS) { /* a machine stalled for seconds proves nothing here */
        MM_CHECK(!queued(n, "young00000a-S"));
        MM_CHECK(in_unclaimed(n, "young00000a-S"));
    }
    mm_reaper_stats st;
    uint64_t deadline = mm_now_ms() + 10000;
    do { /* the young one's event may still be on its way */
        mm_test_sleep_ms(5);
        mm_reaper_get_stats(r, &st);
    } while (st.tracked != 1 && mm_now_ms() < deadline);
    MM_CHECK_U64(st.tracked, ==, 1);
    MM_CHECK_U64(st.claimed, ==, 2);

    /* ... and the young one in its turn */
    MM_CHECK(wait_queued(n, "young00000a-S", 15000));
    MM_CHECK_U64(wall_ms() - t_young, >=, LIMIT_MS + MARGIN_MS - 50);
    MM_CHECK(wait_gone(n, "young00000a-S", 10000));
    wait_scans(r, 3);

    /* The claimed ones stay claimed and were never enqueued, although they are old now. */
    MM_CHECK(!queued(n, "claim00000b-S"));
    MM_CHECK(!queued(n, "late000000b-S"));
    MM_CHECK_U64(stream_msgs(n), ==, base + 3);
    mm_reaper_get_stats(r, &st);
    MM_CHECK_U64(st.enqueued_unclaimed, ==, 2);
    MM_CHECK_U64(st.enqueued_disconnected, ==, 1);
    MM_CHECK_U64(st.removed, ==, 4); /* two claimed, two reaped */
    MM_CHECK_U64(st.skipped, ==, 0);
    MM_CHECK_U64(st.tracked, ==, 0);
    MM_CHECK_U64(st.claimed, ==, 2);
    MM_CHECK_U64(st.failures, ==, 0);
    mm_reaper_destroy(r);
}

/* (d) two replicas over the same sessions. */
static void
test_two_reapers(struct node *n1, struct node *n2)
{
    reset_buckets(n1);
    enum { N = 12, M = 5 };
    uint64_t base = stream_msgs(n1);
    mm_reaper *r1 = reaper_start(n1, LIMIT_MS / 2, 0);
    mm_reaper *r2 = reaper_start(n2, LIMIT_MS / 2, 0);
    char id[64];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "pair%08d-S", i);
        put(unclaimed(i % 2 ? n1 : n2), id, id);
    }
    for (int i = 0; i < M; i++) {
        snprintf(id, sizeof(id), "gone%08d-S", i);
        put(active(n1), id, "7");
        MM_REQUIRE(kvStore_Delete(active(n2), id) == NATS_OK);
    }
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "pair%08d-S", i);
        MM_CHECK(wait_queued(n1, id, 15000));
        MM_CHECK(wait_gone(n1, id, 10000));
    }
    for (int i = 0; i < M; i++) {
        snprintf(id, sizeof(id), "gone%08d-S", i);
        MM_CHECK(wait_queued(n1, id, 10000));
    }
    wait_scans(r1, 3);
    wait_scans(r2, 3);
    MM_CHECK_U64(stream_msgs(n1), ==, base + N + M);
    mm_reaper_stats s1, s2;
    mm_reaper_get_stats(r1, &s1);
    mm_reaper_get_stats(r2, &s2);
    /* Each entry removed exactly once between the two: the loser's delete was refused, or it saw
     * the winner's delete first. Both may have published the enqueue; JetStream kept one. */
    MM_CHECK_U64(s1.removed + s2.removed, ==, N);
    MM_CHECK_U64(s1.enqueued_unclaimed + s2.enqueued_unclaimed, >=, N);
    MM_CHECK_U64(s1.enqueued_disconnected, ==, M);
    MM_CHECK_U64(s2.enqueued_disconnected, ==, M);
    MM_CHECK_U64(s1.tracked + s2.tracked, ==, 0);
    MM_CHECK_U64(s1.failures + s2.failures, ==, 0);
    fprintf(stderr, "two reapers: removed %llu + %llu, enqueued %llu + %llu, skipped %llu + %llu\n", (unsigned long long)s1.removed,
            (unsigned long long)s2.removed, (unsigned long long)s1.enqueued_unclaimed, (unsigned long long)s2.enqueued_unclaimed,
            (unsigned long long)s1.skipped, (unsigned long long)s2.skipped);
    mm_reaper_destroy(r1);
    mm_reaper_destroy(r2);
}

/* (e) entries older than the limit before the reaper starts. */
static void
test_restart(struct node *n)
{
    reset_buckets(n);
    enum { LIMIT = 3000 };
    uint64_t base = stream_msgs(n);
    uint64_t t0 = wall_ms();
    for (int i = 0; i < 3; i++) {
        char id[64];
        snprintf(id, sizeof(id), "restart%05d-S", i);
        put(unclaimed(n), id, id);
    }
    put(unclaimed(n), "restartclaim-S", "restartclaim-S");
    put(active(n), "restartclaim-S", "9");
    put(active(n), "stalegone000-S", "9");
    MM_REQUIRE(kvStore_Delete(active(n), "stalegone000-S") == NATS_OK);
    /* The reaper starts once the entries are older than its limit (a time condition, polled). */
    while (wall_ms() - t0 < LIMIT + MARGIN_MS + 100)
        mm_test_sleep_ms(20);
    put(active(n), "freshgone000-S", "9");
    MM_REQUIRE(kvStore_Delete(active(n), "freshgone000-S") == NATS_OK);

    mm_reaper *r = reaper_start(n, LIMIT, LIMIT); /* replay: markers younger than LIMIT */
    mm_reaper_stats st;
    uint64_t deadline = mm_now_ms() + 15000;
    do {
        mm_test_sleep_ms(5);
        mm_reaper_get_stats(r, &st);
    } while (st.enqueued_unclaimed < 3 && mm_now_ms() < deadline);
    MM_CHECK_U64(st.enqueued_unclaimed, ==, 3);
    /* By creation time they were due at once; by first-seen time it would take LIMIT/SCAN scans. */
    MM_CHECK_U64(st.scans, <, LIMIT / SCAN_MS);
    for (int i = 0; i < 3; i++) {
        char id[64];
        snprintf(id, sizeof(id), "restart%05d-S", i);
        MM_CHECK(queued(n, id));
        MM_CHECK(wait_gone(n, id, 10000));
    }
    MM_CHECK(wait_queued(n, "freshgone000-S", 10000));
    wait_scans(r, 3);
    MM_CHECK(!queued(n, "stalegone000-S"));
    MM_CHECK(!queued(n, "restartclaim-S"));
    MM_CHECK(wait_gone(n, "restartclaim-S", 10000)); /* claimed: removed, not reaped */
    MM_CHECK_U64(stream_msgs(n), ==, base + 4);
    mm_reaper_get_stats(r, &st);
    MM_CHECK_U64(st.replay_skipped, >=, 1);
    MM_CHECK_U64(st.enqueued_disconnected, ==, 1);
    mm_reaper_destroy(r);
}

/*
 * (h) A watch made again (its consumer lost, as when a JetStream node dies) re-delivers the
 * current values; a disconnect already handled is not enqueued a second time.
 */
static void
test_remade_watch(struct node *n)
{
    reset_buckets(n);
    mm_reaper *r = reaper_start(n, 60000, 0); /* replay window: the default hour */
    mm_reaper_stats st;
    put(active(n), "remadegone00-S", "7");
    MM_REQUIRE(kvStore_Delete(active(n), "remadegone00-S") == NATS_OK);
    MM_CHECK(wait_queued(n, "remadegone00-S", 10000));
    uint64_t deadline = mm_now_ms() + 10000;
    do {
        mm_test_sleep_ms(5);
        mm_reaper_get_stats(r, &st);
    } while (st.enqueued_disconnected < 1 && mm_now_ms() < deadline);
    MM_CHECK_U64(st.enqueued_disconnected, ==, 1);

    /* the watch's consumer disappears; the next operation shows the stall to the health probe */
    jsConsumerNamesList *names = NULL;
    MM_REQUIRE(js_ConsumerNames(&names, mm_js_ctx(n->js), "KV_active_connections", NULL, NULL) == NATS_OK);
    for (int i = 0; i < names->Count; i++)
        MM_CHECK_INT(js_DeleteConsumer(mm_js_ctx(n->js), "KV_active_connections", names->List[i], NULL, NULL), ==, NATS_OK);
    jsConsumerNamesList_Destroy(names);
    put(active(n), "remadeplay00-S", "8");
    deadline = mm_now_ms() + 20000;
    do {
        mm_test_sleep_ms(10);
        mm_reaper_get_stats(r, &st);
    } while ((st.redelivered < 1 || st.claimed < 1) && mm_now_ms() < deadline);
    MM_CHECK_U64(st.redelivered, >=, 1);
    MM_CHECK_U64(st.claimed, ==, 1);
    wait_scans(r, 2);
    mm_reaper_get_stats(r, &st);
    MM_CHECK_U64(st.enqueued_disconnected, ==, 1);
    mm_reaper_destroy(r);
}

/* (f) stop while events are queued and work is pending. */
static void
test_stop_pending(struct node *n)
{
    reset_buckets(n);
    mm_reaper *r = reaper_start(n, 1, 0); /* everything is due at once */
    char id[64];
    for (int i = 0; i < 150; i++) {
        snprintf(id, sizeof(id), "stop%08d-S", i);
        put(unclaimed(n), id, id);
        if (i % 3 == 0) {
            put(active(n), id, "5");
            MM_REQUIRE(kvStore_Delete(active(n), id) == NATS_OK);
        }
    }
    put(unclaimed(n), "not.a.session.id", "x"); /* counted and ignored */
    mm_reaper_stats st;
    uint64_t deadline = mm_now_ms() + 10000;
    do {
        mm_test_sleep_ms(2);
        mm_reaper_get_stats(r, &st);
    } while (st.enqueued_unclaimed + st.enqueued_disconnected < 5 && mm_now_ms() < deadline);
    MM_CHECK_U64(st.enqueued_unclaimed + st.enqueued_disconnected, >=, 5);
    mm_reaper_stop(r);
    mm_reaper_stop(r);
    mm_reaper_destroy(r);
    mm_reaper_destroy(NULL);
}

/* (g) NATS goes away while sessions are young; they are reaped after it is back. */
static void
test_outage(struct mm_test_nats *server, struct node *n)
{
    reset_buckets(n);
    uint64_t base = stream_msgs(n);
    mm_reaper *r = reaper_start(n, LIMIT_MS / 2, 0);
    put(unclaimed(n), "outage00000a-S", "outage00000a-S");
    put(unclaimed(n), "outage00000b-S", "outage00000b-S");
    uint64_t t_put = wall_ms();
    wait_scans(r, 1);
    mm_test_stop(server->pid, 5000);
    server->pid = 0;
    while (wall_ms() - t_put < LIMIT_MS / 2 + MARGIN_MS + 200) /* they age during the outage */
        mm_test_sleep_ms(20);
    MM_REQUIRE(mm_test_nats_restart(server) == 0);
    MM_REQUIRE(mm_nats_wait_connected(n->nats, 15000) == MM_OK);
    MM_CHECK(wait_queued(n, "outage00000a-S", 20000));
    MM_CHECK(wait_queued(n, "outage00000b-S", 20000));
    MM_CHECK(wait_gone(n, "outage00000a-S", 10000));
    MM_CHECK(wait_gone(n, "outage00000b-S", 10000));
    MM_CHECK_U64(stream_msgs(n), ==, base + 2);
    mm_reaper_stats st;
    mm_reaper_get_stats(r, &st);
    MM_CHECK_U64(st.enqueued_unclaimed, ==, 2);
    MM_CHECK_U64(st.failures, <=, 10); /* no retry storm: scans skip while disconnected */
    mm_reaper_destroy(r);
}

static void
test_bad_start(struct mm_test_nats *server)
{
    char why[512] = "";
    struct node n = node_open(server, "test_reaper_bad");
    mm_js *partial = NULL;
    MM_REQUIRE(mm_js_setup(mm_nats_connection(n.nats), MM_JS_NEED_BUCKET(MM_KV_UNCLAIMED_SESSIONS), 2000, &partial, why,
                           sizeof(why)) == MM_OK);
    mm_reaper *r = NULL;
    MM_CHECK_INT(mm_reaper_start(NULL, mm_nats_connection(n.nats), partial, &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "active_connections") != NULL);
    MM_CHECK_INT(mm_reaper_start(NULL, NULL, n.js, &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(r == NULL);
    mm_js_destroy(partial);
    node_close(&n);
}

int
main(void)
{
    mm_log_setup("test_reaper", MM_LOG_INFO, MM_LOG_TEXT);
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    struct node n1 = node_open(&server, "test_reaper_1");
    struct node n2 = node_open(&server, "test_reaper_2");

    test_bad_start(&server);
    test_restart(&n1); /* first: it needs buckets without other tests' markers */
    test_rules(&n1);
    test_two_reapers(&n1, &n2);
    test_stop_pending(&n1);
    test_remade_watch(&n1);
    test_outage(&server, &n1);

    node_close(&n2);
    node_close(&n1);
    nats_Close();
    mm_test_nats_stop(&server);
    return MM_TEST_DONE();
}
