/*
 * mm_kv_watch against a real nats-server: current values (puts and delete/purge markers) then
 * the marker then live operations, with revisions, created times and values; a full inbox loses
 * nothing and keeps the order; a server restart (nats.c resumes the watch); a consumer removed
 * behind the watcher's back (the health probe makes the watch again and re-delivers); stop while
 * blocked on a full inbox; bad configurations.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/kv.h"
#include "mm/kv_watch.h"
#include "mm/log.h"
#include "mm/nats_env.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"

enum { MSG_KV = 7 };
#define MAX_EVENTS 4096

/* ---- an actor that records the events it receives; its handler can be held shut ---- */

struct recorder {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool gate_closed;
    mm_kv_event *events[MAX_EVENTS];
    size_t count;
    atomic_uint bad_messages;
};

static void
rec_handle(void *state, mm_actor *self, mm_msg *m)
{
    (void)self;
    struct recorder *r = state;
    if (m->type != MSG_KV || m->target != 42) {
        atomic_fetch_add(&r->bad_messages, 1);
        mm_kv_event_free(m->ptr);
        return;
    }
    pthread_mutex_lock(&r->mu);
    while (r->gate_closed)
        pthread_cond_wait(&r->cond, &r->mu);
    if (r->count < MAX_EVENTS)
        r->events[r->count++] = m->ptr;
    else
        mm_kv_event_free(m->ptr);
    pthread_mutex_unlock(&r->mu);
}

static void
rec_discard(void *state, mm_msg *m)
{
    (void)state;
    mm_kv_event_free(m->ptr);
}

static const mm_actor_ops rec_ops = {.name = "recorder", .handle = rec_handle, .discard = rec_discard};

static void
rec_init(struct recorder *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
}

static void
rec_gate(struct recorder *r, bool closed)
{
    pthread_mutex_lock(&r->mu);
    r->gate_closed = closed;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

/* Frees what was recorded (the recorder's actor must be stopped). */
static void
rec_clear(struct recorder *r)
{
    for (size_t i = 0; i < r->count; i++)
        mm_kv_event_free(r->events[i]);
    r->count = 0;
}

/* Index of the first event at or after `from` with this op and key, or -1. */
static long
rec_find(struct recorder *r, size_t from, mm_kv_op op, const char *key)
{
    long found = -1;
    pthread_mutex_lock(&r->mu);
    for (size_t i = from; i < r->count && found < 0; i++)
        if (r->events[i]->op == op && strcmp(r->events[i]->key, key) == 0)
            found = (long)i;
    pthread_mutex_unlock(&r->mu);
    return found;
}

/* Polls until the recorder holds an event with op and key after `from`; its index or -1. */
static long
wait_event(struct recorder *r, size_t from, mm_kv_op op, const char *key, int timeout_ms)
{
    uint64_t deadline = mm_now_ms() + (uint64_t)timeout_ms;
    long i;
    while ((i = rec_find(r, from, op, key)) < 0 && mm_now_ms() < deadline)
        mm_test_sleep_ms(5);
    return i;
}

static int64_t
unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- NATS ---- */

static mm_actor *
start_recorder(struct recorder *r, uint32_t capacity)
{
    mm_actor *a = NULL;
    mm_actor_config cfg = {.inbox = {.capacity = capacity}};
    MM_REQUIRE(mm_actor_start(&rec_ops, r, &cfg, &a) == MM_OK);
    return a;
}

static mm_kv_watch *
start_watch(mm_nats *nats, mm_js *js, mm_kv_bucket b, mm_actor *a, int health_ms)
{
    mm_kv_watch *w = NULL;
    char why[256] = "";
    mm_kv_watch_config cfg = {.nc = mm_nats_connection(nats),
                              .js = js,
                              .bucket = b,
                              .target = a,
                              .msg_type = MSG_KV,
                              .msg_target = 42,
                              .poll_ms = 100,
                              .health_ms = health_ms,
                              .retire_grace_ms = 1000,
                              .retry_max_ms = 200};
    mm_err err = mm_kv_watch_start(&cfg, &w, why, sizeof(why));
    if (err != MM_OK)
        fprintf(stderr, "mm_kv_watch_start: %s\n", why);
    MM_REQUIRE(err == MM_OK);
    return w;
}

/* Current values, markers, marker, live operations. */
static void
test_initial_then_live(mm_nats *nats, mm_js *js)
{
    kvStore *kv = mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS);
    uint64_t rev_a = 0, rev_b = 0, rev_c = 0, rev_d = 0;
    int64_t before = unix_ns();
    MM_REQUIRE(kvStore_PutString(&rev_a, kv, "sess-a", "111") == NATS_OK);
    MM_REQUIRE(kvStore_PutString(&rev_b, kv, "sess-b", "222") == NATS_OK);
    MM_REQUIRE(kvStore_Delete(kv, "sess-b") == NATS_OK);
    MM_REQUIRE(kvStore_PutString(&rev_c, kv, "sess-c", "333") == NATS_OK);
    MM_REQUIRE(kvStore_Purge(kv, "sess-c", NULL) == NATS_OK);

    struct recorder rec;
    rec_init(&rec);
    mm_actor *a = start_recorder(&rec, 0);
    mm_kv_watch *w = start_watch(nats, js, MM_KV_ACTIVE_CONNECTIONS, a, 0);
    MM_REQUIRE(wait_event(&rec, 0, MM_KV_OP_INITIAL_DONE, "", 10000) == 3);

    mm_kv_event **ev = rec.events;
    MM_CHECK_INT(ev[0]->op, ==, MM_KV_OP_PUT);
    MM_CHECK_STR(ev[0]->key, "sess-a");
    MM_CHECK_STR(ev[0]->bucket, "active_connections");
    MM_CHECK_INT(ev[0]->value_len, ==, 3);
    MM_CHECK_STR((const char *)ev[0]->value, "111");
    MM_CHECK_U64(ev[0]->revision, ==, rev_a);
    MM_CHECK(ev[0]->initial);
    MM_CHECK_INT(ev[0]->generation, ==, 1);
    /* The server's clock: within a minute of ours (same host), and not before we wrote. */
    MM_CHECK_INT(ev[0]->created_ns, >=, before - 1000000000LL);
    MM_CHECK_INT(ev[0]->created_ns, <=, unix_ns() + 60000000000LL);
    MM_CHECK_INT(ev[1]->op, ==, MM_KV_OP_DELETE);
    MM_CHECK_STR(ev[1]->key, "sess-b");
    MM_CHECK_U64(ev[1]->revision, ==, rev_b + 1);
    MM_CHECK_INT(ev[1]->value_len, ==, 0);
    MM_CHECK(ev[1]->initial);
    MM_CHECK_INT(ev[2]->op, ==, MM_KV_OP_PURGE);
    MM_CHECK_STR(ev[2]->key, "sess-c");
    MM_CHECK(ev[2]->initial);
    MM_CHECK_INT(ev[3]->op, ==, MM_KV_OP_INITIAL_DONE);
    MM_CHECK_STR(ev[3]->key, "");
    MM_CHECK_U64(ev[3]->revision, ==, 0);

    MM_REQUIRE(kvStore_PutString(&rev_d, kv, "sess-d", "444") == NATS_OK);
    MM_REQUIRE(kvStore_Delete(kv, "sess-a") == NATS_OK);
    long i_d = wait_event(&rec, 4, MM_KV_OP_PUT, "sess-d", 10000);
    long i_a = wait_event(&rec, 4, MM_KV_OP_DELETE, "sess-a", 10000);
    MM_REQUIRE(i_d == 4 && i_a == 5);
    MM_CHECK(!ev[4]->initial);
    MM_CHECK_U64(ev[4]->revision, ==, rev_d);
    MM_CHECK_STR((const char *)ev[4]->value, "444");
    MM_CHECK_U64(ev[5]->revision, ==, rev_d + 1);
    MM_CHECK(!ev[5]->initial);

    mm_kv_watch_stop(w); /* the counters are final once the thread is joined */
    mm_kv_watch_stats st;
    mm_kv_watch_get_stats(w, &st);
    MM_CHECK_U64(st.events, ==, 6);
    MM_CHECK_U64(st.markers, ==, 1);
    MM_CHECK_U64(st.watches, ==, 1);
    MM_CHECK_U64(st.dropped, ==, 0);
    mm_kv_watch_destroy(w);
    mm_actor_destroy(a);
    MM_CHECK_INT(atomic_load(&rec.bad_messages), ==, 0);
    rec_clear(&rec);
}

/* A receiver whose inbox holds 1 message and whose handler is held: nothing lost, order kept. */
static void
test_full_inbox(mm_nats *nats, mm_js *js)
{
    enum { N = 60 };
    kvStore *kv = mm_js_kv(js, MM_KV_SESSIONS_LY2EG);
    struct recorder rec;
    rec_init(&rec);
    mm_actor *a = start_recorder(&rec, 1);
    mm_kv_watch *w = start_watch(nats, js, MM_KV_SESSIONS_LY2EG, a, 0);
    MM_REQUIRE(wait_event(&rec, 0, MM_KV_OP_INITIAL_DONE, "", 10000) == 0);

    rec_gate(&rec, true);
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "%d", i);
        MM_REQUIRE(kvStore_PutString(NULL, kv, key, "v") == NATS_OK);
    }
    mm_kv_watch_stats st;
    uint64_t deadline = mm_now_ms() + 10000;
    do {
        mm_test_sleep_ms(5);
        mm_kv_watch_get_stats(w, &st);
    } while (st.full_retries < 3 && mm_now_ms() < deadline);
    MM_CHECK_U64(st.full_retries, >=, 3);
    rec_gate(&rec, false);
    snprintf(key, sizeof(key), "%d", N - 1);
    MM_REQUIRE(wait_event(&rec, 1, MM_KV_OP_PUT, key, 20000) == N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "%d", i);
        MM_CHECK_STR(rec.events[1 + i]->key, key);
    }
    mm_kv_watch_stop(w);
    mm_kv_watch_get_stats(w, &st);
    MM_CHECK_U64(st.events, ==, N + 1);
    MM_CHECK_U64(st.dropped, ==, 0);
    mm_kv_watch_destroy(w);
    mm_actor_destroy(a);
    rec_clear(&rec);
}

/* Stop while the thread holds an event the full inbox refuses: prompt, nothing leaks. */
static void
test_stop_while_full(mm_nats *nats, mm_js *js)
{
    kvStore *kv = mm_js_kv(js, MM_KV_CERT_DIGESTS);
    struct recorder rec;
    rec_init(&rec);
    mm_actor *a = start_recorder(&rec, 1);
    rec_gate(&rec, true);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "127.0.0.%d", i + 1);
        MM_REQUIRE(kvStore_PutString(NULL, kv, key, "digest") == NATS_OK);
    }
    mm_kv_watch *w = start_watch(nats, js, MM_KV_CERT_DIGESTS, a, 0);
    mm_kv_watch_stats st;
    uint64_t deadline = mm_now_ms() + 10000;
    do {
        mm_test_sleep_ms(5);
        mm_kv_watch_get_stats(w, &st);
    } while (st.full_retries == 0 && mm_now_ms() < deadline);
    MM_CHECK_U64(st.full_retries, >, 0);
    mm_kv_watch_stop(w);
    mm_kv_watch_get_stats(w, &st);
    MM_CHECK_U64(st.dropped, ==, 1);
    mm_kv_watch_destroy(w);
    rec_gate(&rec, false);
    mm_actor_destroy(a);
    rec_clear(&rec);
}

/* The server restarts (same store): the watch resumes without our help, nothing re-delivered. */
static void
test_server_restart(struct mm_test_nats *server, mm_nats *nats, mm_js *js)
{
    kvStore *kv = mm_js_kv(js, MM_KV_SESSIONS_EG2LY);
    struct recorder rec;
    rec_init(&rec);
    mm_actor *a = start_recorder(&rec, 0);
    mm_kv_watch *w = start_watch(nats, js, MM_KV_SESSIONS_EG2LY, a, -1);
    MM_REQUIRE(kvStore_PutString(NULL, kv, "before-S", "1") == NATS_OK);
    MM_REQUIRE(wait_event(&rec, 0, MM_KV_OP_PUT, "before-S", 10000) >= 0);

    MM_REQUIRE(mm_test_nats_restart(server) == 0);
    MM_REQUIRE(mm_nats_wait_connected(nats, 15000) == MM_OK);
    /* Puts may fail while JetStream comes back; retry them with a deadline. */
    uint64_t deadline = mm_now_ms() + 15000;
    while (kvStore_PutString(NULL, kv, "after-S", "2") != NATS_OK && mm_now_ms() < deadline)
        mm_test_sleep_ms(50);
    long i = wait_event(&rec, 0, MM_KV_OP_PUT, "after-S", 15000);
    MM_CHECK(i >= 0);
    if (i >= 0)
        MM_CHECK_INT(rec.events[i]->generation, ==, 1);
    mm_kv_watch_stats st;
    mm_kv_watch_get_stats(w, &st);
    MM_CHECK_U64(st.watches, ==, 1);
    mm_kv_watch_destroy(w);
    mm_actor_destroy(a);
    rec_clear(&rec);
}

/* How many messages the one consumer of stream has been sent; -1 when there is not exactly one. */
static long long
consumer_delivered(jsCtx *ctx, const char *stream)
{
    jsConsumerNamesList *names = NULL;
    long long delivered = -1;
    if (js_ConsumerNames(&names, ctx, stream, NULL, NULL) != NATS_OK)
        return -1;
    jsConsumerInfo *ci = NULL;
    if (names->Count == 1 && js_GetConsumerInfo(&ci, ctx, stream, names->List[0], NULL, NULL) == NATS_OK)
        delivered = (long long)ci->Delivered.Consumer;
    jsConsumerInfo_Destroy(ci);
    jsConsumerNamesList_Destroy(names);
    return delivered;
}

typedef struct push_stop {
    jsCtx *ctx;
    const char *stream;
    long long total; /* messages in the stream */
    long long last;  /* delivered at the previous look */
    int still;       /* looks in a row that saw no progress */
} push_stop;

/* True once the server has stopped pushing short of the end: three looks (50 ms apart) alike. */
static bool
server_stopped_pushing(void *p)
{
    push_stop *s = p;
    long long now = consumer_delivered(s->ctx, s->stream);
    s->still = now > 0 && now == s->last ? s->still + 1 : 0;
    s->last = now;
    return s->still >= 3 && now < s->total;
}

/* Deletes the one consumer of stream (the watch's) behind the watcher's back. */
static void
delete_the_consumer(jsCtx *ctx, const char *stream)
{
    jsConsumerNamesList *names = NULL;
    MM_REQUIRE(js_ConsumerNames(&names, ctx, stream, NULL, NULL) == NATS_OK);
    MM_CHECK_INT(names->Count, ==, 1);
    for (int i = 0; i < names->Count; i++)
        MM_CHECK_INT(js_DeleteConsumer(ctx, stream, names->List[i], NULL, NULL), ==, NATS_OK);
    jsConsumerNamesList_Destroy(names);
}

/* The watch's consumer is deleted on the server: the probe notices and re-delivers. */
static void
test_lost_consumer(mm_nats *nats, mm_js *js)
{
    kvStore *kv = mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS);
    jsCtx *ctx = mm_js_ctx(js);
    struct recorder rec;
    rec_init(&rec);
    MM_REQUIRE(kvStore_PutString(NULL, kv, "old-S", "old-S") == NATS_OK);
    mm_actor *a = start_recorder(&rec, 0);
    mm_kv_watch *w = start_watch(nats, js, MM_KV_UNCLAIMED_SESSIONS, a, 150);
    MM_REQUIRE(wait_event(&rec, 0, MM_KV_OP_INITIAL_DONE, "", 10000) == 1);

    uint64_t deleted_ms = mm_now_ms();
    delete_the_consumer(ctx, "KV_unclaimed_sessions");
    MM_REQUIRE(kvStore_PutString(NULL, kv, "new-S", "new-S") == NATS_OK);

    long i = wait_event(&rec, 2, MM_KV_OP_PUT, "new-S", 20000);
    MM_REQUIRE(i >= 0);
    mm_kv_watch_stats st;
    mm_kv_watch_get_stats(w, &st);
    /* Either way the event came; our probe (150 ms) is far quicker than nats.c's 2 x 5 s heartbeats. */
    MM_CHECK_U64(st.stalls, >=, 1);
    MM_CHECK_U64(st.watches, >=, 2);
    if (st.stalls >= 1) {
        /* The new generation re-delivered the current values, old-S included, then its marker. */
        long old = rec_find(&rec, 2, MM_KV_OP_PUT, "old-S");
        MM_CHECK(old >= 0);
        if (old >= 0) {
            MM_CHECK(rec.events[old]->initial);
            MM_CHECK_INT(rec.events[old]->generation, >=, 2);
        }
        MM_CHECK(wait_event(&rec, 2, MM_KV_OP_INITIAL_DONE, "", 10000) >= 0);
    }
    /*
     * The replaced watch was retired after the delete, and is destroyed no sooner than the grace
     * (1000 ms here) after its retirement: by the loop once the new watch is healthy, or by the
     * stop, which waits for it. Either way the destroy ends at least that long after the delete.
     */
    mm_kv_watch_destroy(w);
    uint64_t took = mm_now_ms() - deleted_ms;
    fprintf(stderr, "lost consumer: delete to destroyed in %llu ms (the grace is 1000)\n", (unsigned long long)took);
    if (st.stalls >= 1) /* else no watch was replaced (already a failure above) */
        MM_CHECK_U64(took, >=, 1000);
    mm_actor_destroy(a);
    rec_clear(&rec);
}

/*
 * The watch's consumer is lost while the watch is still delivering its current values, and
 * nothing is written afterwards: the stall rule cannot see it (the stream never moves past the
 * watch's baseline), so the quiet-initial rule must: two quiet probes without the end marker and
 * the watch is made again. The receiver is held shut so the watcher thread blocks on the full
 * inbox, nats.c stops answering flow control and the server stops pushing (12 MB of values is far
 * beyond its window); then the consumer is deleted. Without the rule only nats.c's missed
 * heartbeats (2 x 5 s) would resume the watch, and `stalls` would stay 0.
 */
static void
test_lost_consumer_initial(mm_nats *nats, mm_js *js)
{
    enum { N = 1500, VALUE = 8192 };
    kvStore *kv = mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS);
    jsCtx *ctx = mm_js_ctx(js);
    char *value = malloc(VALUE + 1);
    MM_REQUIRE(value != NULL);
    memset(value, 'v', VALUE);
    value[VALUE] = '\0';
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        MM_REQUIRE(kvStore_PutString(NULL, kv, key, value) == NATS_OK);
    }
    free(value);
    struct recorder rec;
    rec_init(&rec);
    rec_gate(&rec, true);
    mm_actor *a = start_recorder(&rec, 1);
    mm_kv_watch *w = start_watch(nats, js, MM_KV_ACTIVE_CONNECTIONS, a, 150);
    mm_kv_watch_stats st;
    uint64_t deadline = mm_now_ms() + 10000;
    do { /* the watcher thread is stuck on the full inbox */
        mm_test_sleep_ms(5);
        mm_kv_watch_get_stats(w, &st);
    } while (st.full_retries < 3 && mm_now_ms() < deadline);
    MM_REQUIRE(st.full_retries >= 3);
    /* the server fills its flow-control window and stops, far short of the 1500 values */
    push_stop stop = {ctx, "KV_active_connections", N, -1, 0};
    MM_REQUIRE(mm_test_wait_until(server_stopped_pushing, &stop, 50, 10000));
    printf("the server stopped pushing after %lld of %d values\n", stop.last, N);

    delete_the_consumer(ctx, "KV_active_connections");
    rec_gate(&rec, false);

    long done = wait_event(&rec, 0, MM_KV_OP_INITIAL_DONE, "", 30000);
    MM_REQUIRE(done >= 0);
    mm_kv_watch_get_stats(w, &st);
    MM_CHECK_U64(st.stalls, >=, 1); /* made again by our probe, not left to nats.c's heartbeats */
    MM_CHECK_U64(st.watches, >=, 2);
    MM_CHECK_INT(rec.events[done]->generation, >=, 2);
    mm_kv_watch_destroy(w);
    mm_actor_destroy(a);
    rec_clear(&rec);
    MM_REQUIRE(js_PurgeStream(ctx, "KV_active_connections", NULL, NULL) == NATS_OK);
}

static void
test_bad_config(mm_nats *nats, mm_js *js_partial)
{
    struct recorder rec;
    rec_init(&rec);
    mm_actor *a = start_recorder(&rec, 0);
    mm_kv_watch *w = NULL;
    char why[256] = "";
    mm_kv_watch_config cfg = {.nc = mm_nats_connection(nats), .js = js_partial, .bucket = MM_KV_CERT_DIGESTS, .target = a};
    MM_CHECK_INT(mm_kv_watch_start(&cfg, &w, why, sizeof(why)), ==, MM_ERR_INVALID); /* not bound */
    MM_CHECK(strstr(why, "not bound") != NULL);
    cfg.bucket = MM_KV_BUCKET_COUNT;
    MM_CHECK_INT(mm_kv_watch_start(&cfg, &w, why, sizeof(why)), ==, MM_ERR_INVALID);
    cfg.bucket = MM_KV_SESSIONS_LY2EG;
    cfg.target = NULL;
    MM_CHECK_INT(mm_kv_watch_start(&cfg, &w, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(w == NULL);
    mm_kv_watch_destroy(NULL);
    mm_kv_watch_stop(NULL);
    mm_kv_event_free(NULL);
    mm_actor_destroy(a);
}

int
main(void)
{
    mm_log_setup("test_kv_watch", MM_LOG_INFO, MM_LOG_TEXT);
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    mm_nats *nats = mm_test_nats_connect(&server, "test_kv_watch");
    mm_js *js = NULL, *js_partial = NULL;
    char why[512] = "";
    MM_REQUIRE(mm_js_setup(mm_nats_connection(nats), MM_JS_NEED_ALL, 3000, &js, why, sizeof(why)) == MM_OK);
    MM_REQUIRE(mm_js_setup(mm_nats_connection(nats), MM_JS_NEED_BUCKET(MM_KV_SESSIONS_LY2EG), 3000, &js_partial, why,
                           sizeof(why)) == MM_OK);

    test_initial_then_live(nats, js);
    test_full_inbox(nats, js);
    test_stop_while_full(nats, js);
    test_lost_consumer(nats, js);
    test_lost_consumer_initial(nats, js);
    test_bad_config(nats, js_partial);
    test_server_restart(&server, nats, js);

    mm_js_destroy(js_partial);
    mm_js_destroy(js);
    mm_nats_destroy(nats);
    nats_Close();
    mm_test_nats_stop(&server);
    return MM_TEST_DONE();
}
