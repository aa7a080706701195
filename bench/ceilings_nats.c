/*
 * mm_ceilings nats: what nats-server and nats.c give at best on this machine (bench/ceilings.h).
 *
 * Request/reply: a responder connection subscribes to a subject and answers each message on its
 * reply subject; a requester connection publishes requests with reply subjects under one
 * wildcard inbox (as the NATS bridge does: nats.c 3.4.1 has no callback request API) and keeps
 * WINDOW of them in flight. KV: asynchronous JetStream publishes to $KV.<bucket>.<key> of a
 * file-stored bucket (as the matchmaker's puts), a window of pending acks; the rate counts acks.
 * Both connections use nats.c's default options, as our services do (no SendAsap).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "ceilings.h"
#include "mm/clock.h"

#define WINDOW 256
#define KV_PENDING 4096
#define BUCKET "mm_ceilings_bench"

typedef struct rr_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int in_flight;
    uint64_t replies;
} rr_state;

static void
on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply != NULL)
        natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static void
on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    rr_state *st = closure;
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&st->lock);
    st->in_flight--;
    st->replies++;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->lock);
}

static natsStatus
connect_to(const char *url, const char *user, const char *password, natsConnection **nc)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK && user != NULL)
        s = natsOptions_SetUserInfo(o, user, password);
    if (s == NATS_OK)
        s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

/* Waits until at most `limit` requests are in flight or the deadline passes; false on the latter. */
static bool
window_wait(rr_state *st, int limit, uint64_t deadline_ns)
{
    bool ok = true;
    pthread_mutex_lock(&st->lock);
    while (st->in_flight > limit && ok) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's clock */
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&st->cond, &st->lock, &ts);
        ok = mm_now_ns() < deadline_ns;
    }
    bool done = st->in_flight <= limit;
    pthread_mutex_unlock(&st->lock);
    return done;
}

/* Unsubscribes and waits until no callback of sub runs any more, then frees it. */
static void
sub_close(natsSubscription *sub)
{
    if (sub != NULL && natsSubscription_Drain(sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(sub, 5000);
    natsSubscription_Destroy(sub);
}

/* Round trips per second over `seconds`; a negative value on failure (or lost replies). */
static double
measure_rr(natsConnection *responder, natsConnection *requester, double seconds)
{
    rr_state st = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    natsSubscription *rsub = NULL, *isub = NULL;
    double rate = -1;
    static const char payload[] = "{\"client_ip\":\"81.128.157.100\"}";
    natsStatus s = natsConnection_Subscribe(&rsub, responder, "mm_ceilings.rr", on_request, NULL);
    if (s == NATS_OK)
        s = natsConnection_Flush(responder);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&isub, requester, "_INBOX.mm_ceilings.*", on_reply, &st);
    if (s == NATS_OK)
        s = natsConnection_Flush(requester);
    if (s != NATS_OK)
        goto cleanup;
    uint64_t start = mm_now_ns(), end = start + (uint64_t)(seconds * 1e9), give_up = end + 5000000000ULL, n = 0;
    char reply[64];
    bool answered = true;
    while (s == NATS_OK && answered && mm_now_ns() < end) {
        answered = window_wait(&st, WINDOW - 1, give_up);
        pthread_mutex_lock(&st.lock);
        st.in_flight++;
        pthread_mutex_unlock(&st.lock);
        snprintf(reply, sizeof(reply), "_INBOX.mm_ceilings.%" PRIu64, n++);
        s = natsConnection_PublishRequest(requester, "mm_ceilings.rr", reply, payload, (int)sizeof(payload) - 1);
    }
    if (s == NATS_OK)
        s = natsConnection_Flush(requester);
    if (s == NATS_OK && answered && window_wait(&st, 0, give_up)) { /* every request counted was answered */
        pthread_mutex_lock(&st.lock);
        rate = (double)st.replies / ((double)(mm_now_ns() - start) / 1e9);
        pthread_mutex_unlock(&st.lock);
    } else if (s == NATS_OK) {
        fprintf(stderr, "mm_ceilings: nats request/reply: replies lost (none for 5 s)\n");
    }

cleanup:
    if (s != NATS_OK)
        fprintf(stderr, "mm_ceilings: nats request/reply: %s\n", natsStatus_GetText(s));
    sub_close(isub);
    sub_close(rsub);
    return rate;
}

/* Acks counted by on_ack: static, because an ack that arrives after a timed-out wait must still
 * find them ([0] acknowledged, [1] failed). */
static atomic_uint_fast64_t kv_counts[2];

static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)pae;
    (void)closure;
    atomic_fetch_add(&kv_counts[pa != NULL ? 0 : 1], 1);
    natsMsg_Destroy(msg);
}

/* Acknowledged KV puts per second over `seconds`; a negative value on failure. */
static double
measure_kv(natsConnection *nc, double seconds)
{
    atomic_uint_fast64_t *counts = kv_counts;
    atomic_store(&counts[0], 0);
    atomic_store(&counts[1], 0);
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    double rate = -1;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = KV_PENDING;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.StallWait = 50;
    natsStatus s = natsConnection_JetStream(&js, nc, &jo);
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = BUCKET;
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    if (s == NATS_OK) {
        js_DeleteKeyValue(js, BUCKET); /* a leftover of an interrupted run */
        s = js_CreateKeyValue(&kv, js, &kc);
    }
    if (s != NATS_OK)
        goto cleanup;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    uint64_t start = mm_now_ns(), end = start + (uint64_t)(seconds * 1e9), n = 0;
    char subj[96];
    static const char value[] = "0123456789ab-S";
    while (mm_now_ns() < end) {
        snprintf(subj, sizeof(subj), "$KV." BUCKET ".k%" PRIu64, n % 100000);
        natsStatus ps = js_PublishAsync(js, subj, value, (int)sizeof(value) - 1, &po);
        if (ps == NATS_OK)
            n++;
        else if (ps != NATS_TIMEOUT) { /* a timeout is a full window that did not drain in StallWait */
            s = ps;
            break;
        }
    }
    jsPubOptions done;
    jsPubOptions_Init(&done);
    done.MaxWait = 20000;
    if (s == NATS_OK)
        s = js_PublishAsyncComplete(js, &done);
    if (s == NATS_OK)
        rate = (double)atomic_load(&counts[0]) / ((double)(mm_now_ns() - start) / 1e9);
    if (atomic_load(&counts[1]) > 0)
        fprintf(stderr, "mm_ceilings: %" PRIu64 " KV puts failed\n", (uint64_t)atomic_load(&counts[1]));

cleanup:
    if (s != NATS_OK)
        fprintf(stderr, "mm_ceilings: KV puts: %s\n", natsStatus_GetText(s));
    kvStore_Destroy(kv);
    if (js != NULL)
        js_DeleteKeyValue(js, BUCKET);
    jsCtx_Destroy(js);
    return rate;
}

int
mm__ceil_nats(const char *host, uint16_t port, const char *user, const char *password, double seconds)
{
    natsConnection *responder = NULL, *requester = NULL;
    int rc = 1;
    char url[300];
    snprintf(url, sizeof(url), "nats://%s:%u", host, port);
    natsStatus s = connect_to(url, user, password, &responder);
    if (s == NATS_OK)
        s = connect_to(url, user, password, &requester);
    if (s != NATS_OK) {
        fprintf(stderr, "mm_ceilings: cannot connect to %s: %s\n", url, natsStatus_GetText(s));
        goto cleanup;
    }
    double rr = measure_rr(responder, requester, seconds);
    double kv = measure_kv(requester, seconds);
    if (rr < 0 || kv < 0)
        goto cleanup;
    printf("{\"nats_rr_per_s\": %.0f, \"nats_rr_window\": %d, \"kv_put_per_s\": %.0f, \"kv_put_window\": %d}\n", rr, WINDOW, kv,
           KV_PENDING);
    rc = 0;

cleanup:
    natsConnection_Destroy(requester);
    natsConnection_Destroy(responder);
    nats_Close();
    return rc;
}
