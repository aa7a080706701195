/*
 * The fleet's Edgegap budget (include/mm/budget.h has the design): mm_fleet membership, the AIMD
 * multiplier and the token bucket the provisioner's Edgegap gate draws from.
 *
 * Owns: the fleet table (replica id -> when last heard), under `lock`; the heartbeat thread;
 * two core subscriptions ($KV.mm_fleet.> and mm.fleet.backoff) whose callbacks run on nats.c's
 * delivery thread. The share and multiplier are atomics (bits of a double), read by any thread.
 * Heartbeats and the stop's delete are core publishes to $KV.mm_fleet.<id> (the bucket's stream
 * captures its subjects; no ack is awaited: the next heartbeat repeats a lost one), so nothing
 * here waits for JetStream except mm_budget_start (bind or create the bucket, then one
 * heartbeat for the first share) and the stop's bounded flush.
 */
#include "mm/budget.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "mm/metrics.h"

#define MAX_REPLICAS 256
#define ID_LEN 64
#define NS_PER_MS 1000000LL

typedef struct fleet_entry {
    char id[ID_LEN];
    uint64_t seen_ms;
} fleet_entry;

struct mm_budget {
    natsConnection *nc;
    kvStore *kv;
    natsSubscription *sub_fleet, *sub_backoff;
    double budget_rps;
    uint64_t heartbeat_ms, ttl_ms, start_ms;
    char id[ID_LEN];
    char subject[ID_LEN + 32]; /* $KV.mm_fleet.<id> */
    pthread_mutex_t lock;
    pthread_cond_t wake, warmed;
    bool warm; /* under lock: the first share was computed (one heartbeat after start) */
    bool stop, stopped, thread_started;
    pthread_t thread;
    fleet_entry fleet[MAX_REPLICAS]; /* under lock */
    size_t n_fleet;
    uint64_t last_halving_ms; /* under lock */
    double multiplier;        /* under lock; mirrored in multiplier_bits */
    _Atomic uint64_t share_bits, multiplier_bits;
    atomic_uint replicas;
    atomic_ullong rate_limited, halvings, backoffs_sent, backoffs_heard, granted;
};

static uint64_t
bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double
double_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* ---- the fleet table (under lock) ---- */

/* Notes id as heard now: true when it is new. */
static bool
fleet_seen(mm_budget *b, const char *id, size_t len, uint64_t now)
{
    if (len == 0 || len >= ID_LEN)
        return false;
    for (size_t i = 0; i < b->n_fleet; i++)
        if (strlen(b->fleet[i].id) == len && memcmp(b->fleet[i].id, id, len) == 0) {
            b->fleet[i].seen_ms = now;
            return false;
        }
    if (b->n_fleet == MAX_REPLICAS)
        return false; /* counted as at most MAX_REPLICAS: shares only get larger than they should */
    memcpy(b->fleet[b->n_fleet].id, id, len);
    b->fleet[b->n_fleet].id[len] = '\0';
    b->fleet[b->n_fleet].seen_ms = now;
    b->n_fleet++;
    return true;
}

static void
fleet_forget(mm_budget *b, const char *id, size_t len)
{
    for (size_t i = 0; i < b->n_fleet; i++)
        if (strlen(b->fleet[i].id) == len && memcmp(b->fleet[i].id, id, len) == 0) {
            b->fleet[i] = b->fleet[--b->n_fleet];
            return;
        }
}

/* Drops replicas not heard within the ttl; returns the live count, this one included. */
static uint32_t
fleet_count(mm_budget *b, uint64_t now)
{
    uint32_t n = 1;
    for (size_t i = 0; i < b->n_fleet;) {
        if (now - b->fleet[i].seen_ms > b->ttl_ms) {
            b->fleet[i] = b->fleet[--b->n_fleet];
            continue;
        }
        if (strcmp(b->fleet[i].id, b->id) != 0)
            n++;
        i++;
    }
    return n;
}

/* Recomputes the share (under lock). */
static void
share_update(mm_budget *b, uint64_t now)
{
    uint32_t n = fleet_count(b, now);
    atomic_store(&b->replicas, n);
    double share = now < b->start_ms + b->heartbeat_ms ? 0.0 : b->budget_rps * b->multiplier / n;
    atomic_store(&b->share_bits, bits_of(share));
    atomic_store(&b->multiplier_bits, bits_of(b->multiplier));
    mm_metric_set_level(MM_METRIC_BUDGET_SHARE_RPS, share);
    mm_metric_set(MM_METRIC_FLEET_REPLICAS, n);
    if (share > 0 && !b->warm) {
        b->warm = true;
        pthread_cond_broadcast(&b->warmed);
    }
}

/* Halves the multiplier unless it was halved within MM_BUDGET_HOLD_MS: true when it did. */
static bool
halve(mm_budget *b)
{
    uint64_t now = mm_now_ms();
    bool did = false;
    pthread_mutex_lock(&b->lock);
    if (b->last_halving_ms == 0 || now - b->last_halving_ms >= MM_BUDGET_HOLD_MS) {
        b->last_halving_ms = now;
        b->multiplier = fmax(b->multiplier / 2, MM_BUDGET_MIN_MULTIPLIER);
        share_update(b, now);
        did = true;
    }
    double m = b->multiplier;
    pthread_mutex_unlock(&b->lock);
    if (did) {
        atomic_fetch_add(&b->halvings, 1);
        mm_info("budget: Edgegap is rate-limiting: the fleet backs off to x%.3f (share %.2f requests/s)", m,
                mm_budget_share_rps(b));
    }
    return did;
}

/* ---- nats.c's delivery thread ---- */

static void
on_fleet(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    mm_budget *b = closure;
    const char *subject = natsMsg_GetSubject(msg);
    size_t prefix = strlen("$KV." MM_BUDGET_BUCKET ".");
    if (subject != NULL && strlen(subject) > prefix) {
        const char *id = subject + prefix;
        const char *op = NULL;
        bool gone = natsMsgHeader_Get(msg, "KV-Operation", &op) == NATS_OK && op != NULL &&
                    (strcmp(op, "DEL") == 0 || strcmp(op, "PURGE") == 0);
        pthread_mutex_lock(&b->lock);
        bool changed = true;
        if (gone)
            fleet_forget(b, id, strlen(id));
        else
            changed = fleet_seen(b, id, strlen(id), mm_now_ms());
        if (changed)
            share_update(b, mm_now_ms()); /* a replica came or left: the shares follow now */
        pthread_mutex_unlock(&b->lock);
    }
    natsMsg_Destroy(msg);
}

static void
on_backoff(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    mm_budget *b = closure;
    const char *from = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    if (from == NULL || len != (int)strlen(b->id) || memcmp(from, b->id, (size_t)len) != 0) {
        atomic_fetch_add(&b->backoffs_heard, 1);
        halve(b);
    }
    natsMsg_Destroy(msg);
}

/* ---- the heartbeat thread ---- */

static void
heartbeat(mm_budget *b)
{
    char value[160];
    int n = snprintf(value, sizeof(value), "{\"replica\":\"%s\",\"heartbeat_ms\":%llu}", b->id, (unsigned long long)b->heartbeat_ms);
    natsStatus s = natsConnection_Publish(b->nc, b->subject, value, n);
    if (s != NATS_OK)
        mm_debug("budget: heartbeat not published: %s", natsStatus_GetText(s));
}

static void *
heartbeat_main(void *arg)
{
    mm_budget *b = arg;
    uint64_t last = mm_now_ms();
    double logged_share = -1, logged_mult = 1.0;
    uint32_t logged_n = 0;
    pthread_mutex_lock(&b->lock);
    while (!b->stop) {
        pthread_mutex_unlock(&b->lock);
        heartbeat(b);
        pthread_mutex_lock(&b->lock);
        uint64_t now = mm_now_ms();
        b->multiplier = fmin(1.0, b->multiplier + MM_BUDGET_RECOVERY_PER_S * (double)(now - last) / 1000.0);
        last = now;
        fleet_seen(b, b->id, strlen(b->id), now);
        share_update(b, now);
        double share = mm_budget_share_rps(b);
        uint32_t n = atomic_load(&b->replicas);
        bool recovered = b->multiplier >= 1.0 && logged_mult < 1.0;
        if (n != logged_n || fabs(share - logged_share) > 0.01 * b->budget_rps || recovered) {
            mm_info("budget: share %.2f of %.2f requests/s (%u replicas, x%.3f)", share, b->budget_rps, n, b->multiplier);
            logged_share = share;
            logged_n = n;
            logged_mult = b->multiplier;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + b->heartbeat_ms * NS_PER_MS;
        until.tv_sec += (time_t)(ns / 1000000000ull);
        until.tv_nsec = (long)(ns % 1000000000ull);
        while (!b->stop && pthread_cond_timedwait(&b->wake, &b->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* ---- public API ---- */

/* host-pid-random, only of characters a KV key allows. */
static void
make_id(char *out, size_t len)
{
    char host[33] = "mm";
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "mm");
    host[sizeof(host) - 1] = '\0';
    for (char *c = host; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            *c = '_';
    snprintf(out, len, "%s-%ld-%08x", host, (long)getpid(), (unsigned)randombytes_random());
}

static mm_err
bind_bucket(mm_budget *b, const mm_budget_config *c, jsCtx *js, char *why, size_t why_len)
{
    natsStatus s = js_KeyValue(&b->kv, js, MM_BUDGET_BUCKET);
    if (s == NATS_NOT_FOUND) {
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = MM_BUDGET_BUCKET;
        kc.Description = "Live matchmaker replicas sharing the Edgegap budget (entries expire)";
        kc.History = 1;
        kc.TTL = (int64_t)b->ttl_ms * NS_PER_MS; /* nats.c 3.4.1: nanoseconds (docs/libnotes.md) */
        kc.Replicas = c->kv_replicas > 1 ? c->kv_replicas : 1;
        kc.StorageType = c->memory_storage ? js_MemoryStorage : js_FileStorage;
        s = js_CreateKeyValue(&b->kv, js, &kc);
        if (s != NATS_OK) /* another replica made it first */
            s = js_KeyValue(&b->kv, js, MM_BUDGET_BUCKET);
    }
    if (s != NATS_OK)
        return mm_fail(MM_ERR_IO, why, why_len, "budget: KV bucket %s: %s (%s)", MM_BUDGET_BUCKET, natsStatus_GetText(s),
                       nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
    return MM_OK;
}

mm_err
mm_budget_start(const mm_budget_config *c, mm_budget **out, char *why, size_t why_len)
{
    *out = NULL;
    if (c == NULL || c->nc == NULL || c->js == NULL || !(c->budget_rps > 0) || c->budget_rps > 1e6)
        return mm_fail(MM_ERR_INVALID, why, why_len, "budget: a connection, JetStream and a budget of 0..1000000 requests/s are required");
    uint64_t hb = c->heartbeat_ms ? c->heartbeat_ms : MM_BUDGET_DEFAULT_HEARTBEAT_MS;
    if (hb < 50 || hb > 60000)
        return mm_fail(MM_ERR_INVALID, why, why_len, "budget: heartbeat must be 50..60000 ms");
    if (sodium_init() < 0)
        return mm_fail(MM_ERR_SYS, why, why_len, "budget: libsodium did not initialise");
    mm_budget *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "budget: out of memory");
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->wake, NULL);
    pthread_cond_init(&b->warmed, NULL);
    b->nc = c->nc;
    b->budget_rps = c->budget_rps;
    b->heartbeat_ms = hb;
    b->ttl_ms = hb * MM_BUDGET_TTL_HEARTBEATS;
    b->multiplier = 1.0;
    b->start_ms = mm_now_ms();
    atomic_store(&b->multiplier_bits, bits_of(1.0));
    atomic_store(&b->share_bits, bits_of(0.0));
    atomic_store(&b->replicas, 1);
    make_id(b->id, sizeof(b->id));
    snprintf(b->subject, sizeof(b->subject), "$KV.%s.%s", MM_BUDGET_BUCKET, b->id);
    mm_err err = bind_bucket(b, c, c->js, why, why_len);
    if (err != MM_OK)
        goto cleanup;
    natsStatus s = natsConnection_Subscribe(&b->sub_fleet, b->nc, "$KV." MM_BUDGET_BUCKET ".>", on_fleet, b);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&b->sub_backoff, b->nc, MM_BUDGET_BACKOFF_SUBJECT, on_backoff, b);
    if (s == NATS_OK)
        s = natsConnection_Flush(b->nc);
    if (s != NATS_OK) {
        err = mm_fail(MM_ERR_IO, why, why_len, "budget: subscribing to the fleet: %s", natsStatus_GetText(s));
        goto cleanup;
    }
    if (pthread_create(&b->thread, NULL, heartbeat_main, b) != 0) {
        err = mm_fail(MM_ERR_SYS, why, why_len, "budget: the heartbeat thread did not start");
        goto cleanup;
    }
    b->thread_started = true;
    /* One heartbeat to hear the others before this replica takes a share: the caller is not
     * ready to serve before (bounded: the heartbeat thread computes it at its second tick). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + (2 * hb + 2000) * NS_PER_MS;
    until.tv_sec += (time_t)(ns / 1000000000ull);
    until.tv_nsec = (long)(ns % 1000000000ull);
    pthread_mutex_lock(&b->lock);
    while (!b->warm && pthread_cond_timedwait(&b->warmed, &b->lock, &until) == 0) {
    }
    bool warm = b->warm;
    pthread_mutex_unlock(&b->lock);
    if (!warm)
        mm_warn("budget: no share computed within %llu ms of the start: requests wait in line until there is one",
                (unsigned long long)(2 * hb + 2000));
    mm_info("budget: replica %s shares %.2f Edgegap requests/s with the fleet (heartbeat %llu ms)", b->id, b->budget_rps,
            (unsigned long long)hb);
    *out = b;
    return MM_OK;
cleanup:
    mm_budget_destroy(b);
    return err;
}

void
mm_budget_stop(mm_budget *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    bool already = b->stopped;
    b->stop = true;
    b->stopped = true;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
    if (already)
        return;
    if (b->thread_started)
        pthread_join(b->thread, NULL);
    /* no callback may run once the budget is freed: drain (waits for one in progress), else unsubscribe */
    natsSubscription *subs[2] = {b->sub_fleet, b->sub_backoff};
    for (int i = 0; i < 2; i++) {
        if (subs[i] == NULL)
            continue;
        if (natsSubscription_Drain(subs[i]) != NATS_OK || natsSubscription_WaitForDrainCompletion(subs[i], 2000) != NATS_OK)
            natsSubscription_Unsubscribe(subs[i]);
    }
    /* The others' shares grow at once: a KV delete (a message with KV-Operation: DEL), published
     * like the heartbeats, never waiting for JetStream (a dead NATS leaves it to the ttl). */
    natsMsg *del = NULL;
    natsStatus s = natsMsg_Create(&del, b->subject, NULL, NULL, 0);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(del, "KV-Operation", "DEL");
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, del);
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(b->nc, 1000);
    natsMsg_Destroy(del);
    if (s != NATS_OK)
        mm_warn("budget: could not delete replica %s from %s: %s (it expires)", b->id, MM_BUDGET_BUCKET, natsStatus_GetText(s));
}

void
mm_budget_destroy(mm_budget *b)
{
    if (b == NULL)
        return;
    mm_budget_stop(b);
    natsSubscription_Destroy(b->sub_fleet);
    natsSubscription_Destroy(b->sub_backoff);
    kvStore_Destroy(b->kv);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->warmed);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

const char *
mm_budget_replica_id(const mm_budget *b)
{
    return b ? b->id : "";
}

void
mm_budget_note_429(mm_budget *b)
{
    if (b == NULL)
        return;
    atomic_fetch_add(&b->rate_limited, 1);
    if (!halve(b))
        return;
    natsStatus s = natsConnection_PublishString(b->nc, MM_BUDGET_BACKOFF_SUBJECT, b->id);
    if (s == NATS_OK)
        atomic_fetch_add(&b->backoffs_sent, 1);
    else
        mm_warn("budget: back-off note not published: %s", natsStatus_GetText(s));
}

double
mm_budget_share_rps(const mm_budget *b)
{
    return b ? double_of(atomic_load(&((mm_budget *)b)->share_bits)) : 0.0;
}

void
mm_budget_get_stats(const mm_budget *b, mm_budget_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (b == NULL)
        return;
    mm_budget *m = (mm_budget *)b;
    out->budget_rps = b->budget_rps;
    out->share_rps = mm_budget_share_rps(b);
    out->multiplier = double_of(atomic_load(&m->multiplier_bits));
    out->replicas = atomic_load(&m->replicas);
    out->rate_limited = atomic_load(&m->rate_limited);
    out->halvings = atomic_load(&m->halvings);
    out->backoffs_sent = atomic_load(&m->backoffs_sent);
    out->backoffs_heard = atomic_load(&m->backoffs_heard);
    out->granted = atomic_load(&m->granted);
}

/* ---- the token bucket (one owner thread) ---- */

static void
refill(mm_budget *b, mm_budget_bucket *k, double rate)
{
    uint64_t now = mm_now_ms();
    double cap = fmax(1.0, rate / 4);
    if (!k->primed) { /* full from the first share on: the first players of a quiet replica do not wait */
        k->last_ms = now;
        k->tokens = rate > 0 ? cap : 0;
        k->primed = rate > 0;
        return;
    }
    k->tokens = fmin(cap, k->tokens + rate * (double)(now - k->last_ms) / 1000.0);
    k->last_ms = now;
    (void)b;
}

bool
mm_budget_take(mm_budget *b, mm_budget_bucket *k, bool create, bool other_waiting, bool peek)
{
    if (b == NULL)
        return true;
    refill(b, k, mm_budget_share_rps(b));
    if (k->tokens < 1.0)
        return false;
    bool turn = create ? !other_waiting || k->creates_in_row < MM_BUDGET_CREATES_PER_POLL
                       : !other_waiting || k->creates_in_row >= MM_BUDGET_CREATES_PER_POLL;
    if (!turn || peek)
        return turn;
    k->tokens -= 1.0;
    k->creates_in_row = create ? k->creates_in_row + 1 : 0;
    atomic_fetch_add(&b->granted, 1);
    return true;
}

uint64_t
mm_budget_wait_ms(mm_budget *b, mm_budget_bucket *k)
{
    double rate = mm_budget_share_rps(b);
    refill(b, k, rate);
    if (k->tokens >= 1.0)
        return 1;
    if (!(rate > 0))
        return 100; /* no share yet (starting, or the fleet is not heard): look again soon */
    double ms = ceil((1.0 - k->tokens) * 1000.0 / rate);
    return ms < 1 ? 1 : ms > 1000 ? 1000 : (uint64_t)ms;
}
