/*
 * The fleet's Edgegap budget (include/mm/budget.h has the design): mm_fleet membership, the AIMD
 * multipliers and the token buckets (one per class: create, get, delete) the Edgegap gates draw from.
 *
 * Owns: the fleet table (replica id -> when last heard), under `lock`; the heartbeat thread;
 * two core subscriptions ($KV.mm_fleet.> and mm.fleet.backoff) whose callbacks run on nats.c's
 * delivery thread. The shares and multipliers (one per class) are atomics (bits of a double), read by any thread.
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

#include "mm/bits.h"
#include "mm/clock.h"
#include "mm/log.h"
#include "mm/metrics.h"

#define MAX_REPLICAS 256
#define ID_LEN 64
#define NS_PER_MS 1000000LL

static const char *const class_names[MM_BUDGET_CLASS_COUNT] = {"create", "get", "delete"};
static const mm_metric_level class_levels[MM_BUDGET_CLASS_COUNT] = {MM_METRIC_BUDGET_SHARE_RPS, MM_METRIC_BUDGET_SHARE_GET_RPS,
                                                                   MM_METRIC_BUDGET_SHARE_DELETE_RPS};

/* One class's budget: its rate, multiplier and share. */
typedef struct budget_class {
    double rps;               /* as configured; 0: not gated */
    uint64_t last_halving_ms; /* under lock */
    double multiplier;        /* under lock; mirrored in multiplier_bits */
    _Atomic uint64_t share_bits, multiplier_bits;
    atomic_ullong halvings, granted;
} budget_class;

typedef struct fleet_entry {
    char id[ID_LEN];
    uint64_t seen_ms;
} fleet_entry;

struct mm_budget {
    natsConnection *nc;
    kvStore *kv;
    natsSubscription *sub_fleet, *sub_backoff;
    budget_class cls[MM_BUDGET_CLASS_COUNT];
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
    atomic_uint replicas;
    atomic_ullong rate_limited, backoffs_sent, backoffs_heard;
};

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

/* Recomputes the shares of every class (under lock). */
static void
share_update(mm_budget *b, uint64_t now)
{
    uint32_t n = fleet_count(b, now);
    atomic_store(&b->replicas, n);
    double share = 0;
    for (int c = MM_BUDGET_CLASS_COUNT - 1; c >= 0; c--) { /* ends with the create class's share */
        budget_class *k = &b->cls[c];
        share = now < b->start_ms + b->heartbeat_ms ? 0.0 : k->rps * k->multiplier / n;
        atomic_store(&k->share_bits, mm_double_bits(share));
        atomic_store(&k->multiplier_bits, mm_double_bits(k->multiplier));
        mm_metric_set_level(class_levels[c], share);
    }
    mm_metric_set(MM_METRIC_FLEET_REPLICAS, n);
    if (share > 0 && !b->warm) {
        b->warm = true;
        pthread_cond_broadcast(&b->warmed);
    }
}

/* Halves class c's multiplier unless it was halved within MM_BUDGET_HOLD_MS: true when it did.
 * A class without a budget has nothing to halve. */
static bool
halve(mm_budget *b, mm_budget_class c)
{
    budget_class *k = &b->cls[c];
    if (!(k->rps > 0))
        return false;
    uint64_t now = mm_now_ms();
    bool did = false;
    pthread_mutex_lock(&b->lock);
    if (k->last_halving_ms == 0 || now - k->last_halving_ms >= MM_BUDGET_HOLD_MS) {
        k->last_halving_ms = now;
        k->multiplier = fmax(k->multiplier / 2, MM_BUDGET_MIN_MULTIPLIER);
        share_update(b, now);
        did = true;
    }
    double m = k->multiplier;
    pthread_mutex_unlock(&b->lock);
    if (did) {
        atomic_fetch_add(&k->halvings, 1);
        if (c == MM_BUDGET_CREATE)
            mm_info("budget: Edgegap is rate-limiting: the fleet backs off to x%.3f (share %.2f requests/s)", m,
                    mm_budget_share_rps(b));
        else
            mm_info("budget: Edgegap is rate-limiting %s: the fleet backs off %s to x%.3f (share %.2f requests/s)",
                    class_names[c], class_names[c], m, mm_budget_class_share_rps(b, c));
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
    const char *cls = NULL;
    mm_budget_class c = MM_BUDGET_CREATE; /* a note without the header: a create's */
    if (natsMsgHeader_Get(msg, MM_BUDGET_CLASS_HEADER, &cls) == NATS_OK && cls != NULL &&
        !mm_budget_class_parse(cls, strlen(cls), &c)) {
        mm_debug("budget: back-off note of an unknown class '%.16s' ignored", cls);
        natsMsg_Destroy(msg);
        return;
    }
    if (from == NULL || len != (int)strlen(b->id) || memcmp(from, b->id, (size_t)len) != 0) {
        atomic_fetch_add(&b->backoffs_heard, 1);
        halve(b, c);
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
    double logged_share[MM_BUDGET_CLASS_COUNT] = {-1, -1, -1}, logged_mult[MM_BUDGET_CLASS_COUNT] = {1.0, 1.0, 1.0};
    uint32_t logged_n = 0;
    pthread_mutex_lock(&b->lock);
    while (!b->stop) {
        pthread_mutex_unlock(&b->lock);
        heartbeat(b);
        pthread_mutex_lock(&b->lock);
        uint64_t now = mm_now_ms();
        for (int c = 0; c < MM_BUDGET_CLASS_COUNT; c++)
            b->cls[c].multiplier = fmin(1.0, b->cls[c].multiplier + MM_BUDGET_RECOVERY_PER_S * (double)(now - last) / 1000.0);
        last = now;
        fleet_seen(b, b->id, strlen(b->id), now);
        share_update(b, now);
        uint32_t n = atomic_load(&b->replicas);
        bool n_changed = n != logged_n;
        logged_n = n;
        for (int c = 0; c < MM_BUDGET_CLASS_COUNT; c++) {
            budget_class *k = &b->cls[c];
            if (!(k->rps > 0))
                continue;
            double share = mm_budget_class_share_rps(b, (mm_budget_class)c);
            bool recovered = k->multiplier >= 1.0 && logged_mult[c] < 1.0;
            if (!n_changed && !(fabs(share - logged_share[c]) > 0.01 * k->rps) && !recovered)
                continue;
            if (c == MM_BUDGET_CREATE) /* the create line keeps its words: logs and tests read it */
                mm_info("budget: share %.2f of %.2f requests/s (%u replicas, x%.3f)", share, k->rps, n, k->multiplier);
            else
                mm_info("budget: %s share %.2f of %.2f requests/s (%u replicas, x%.3f)", class_names[c], share, k->rps, n,
                        k->multiplier);
            logged_share[c] = share;
            logged_mult[c] = k->multiplier;
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
    if (c == NULL || c->nc == NULL || c->js == NULL || !(c->budget_rps > 0) || c->budget_rps > 1e6 || !(c->get_rps >= 0) ||
        c->get_rps > 1e6 || !(c->delete_rps >= 0) || c->delete_rps > 1e6)
        return mm_fail(MM_ERR_INVALID, why, why_len,
                       "budget: a connection, JetStream, a create budget of 0..1000000 requests/s and get and delete "
                       "budgets of 0..1000000 are required");
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
    b->cls[MM_BUDGET_CREATE].rps = c->budget_rps;
    b->cls[MM_BUDGET_GET].rps = c->get_rps;
    b->cls[MM_BUDGET_DELETE].rps = c->delete_rps;
    for (int i = 0; i < MM_BUDGET_CLASS_COUNT; i++) {
        b->cls[i].multiplier = 1.0;
        atomic_store(&b->cls[i].multiplier_bits, mm_double_bits(1.0));
        atomic_store(&b->cls[i].share_bits, mm_double_bits(0.0));
    }
    b->heartbeat_ms = hb;
    b->ttl_ms = hb * MM_BUDGET_TTL_HEARTBEATS;
    b->start_ms = mm_now_ms();
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
    mm_info("budget: replica %s shares %.2f Edgegap creates/s, %.2f GETs/s and %.2f DELETEs/s (0: not gated) with the "
            "fleet (heartbeat %llu ms)",
            b->id, c->budget_rps, c->get_rps, c->delete_rps, (unsigned long long)hb);
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

const char *
mm_budget_class_name(mm_budget_class c)
{
    return (unsigned)c < MM_BUDGET_CLASS_COUNT ? class_names[c] : "?";
}

bool
mm_budget_class_parse(const char *name, size_t len, mm_budget_class *out)
{
    for (int c = 0; c < MM_BUDGET_CLASS_COUNT; c++)
        if (strlen(class_names[c]) == len && memcmp(class_names[c], name, len) == 0) {
            *out = (mm_budget_class)c;
            return true;
        }
    return false;
}

void
mm_budget_note_429(mm_budget *b, mm_budget_class c)
{
    if (b == NULL || (unsigned)c >= MM_BUDGET_CLASS_COUNT)
        return;
    atomic_fetch_add(&b->rate_limited, 1);
    if (!halve(b, c))
        return;
    natsMsg *note = NULL;
    natsStatus s = natsMsg_Create(&note, MM_BUDGET_BACKOFF_SUBJECT, NULL, b->id, (int)strlen(b->id));
    if (s == NATS_OK)
        s = natsMsgHeader_Set(note, MM_BUDGET_CLASS_HEADER, class_names[c]);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, note);
    natsMsg_Destroy(note);
    if (s == NATS_OK)
        atomic_fetch_add(&b->backoffs_sent, 1);
    else
        mm_warn("budget: back-off note not published: %s", natsStatus_GetText(s));
}

double
mm_budget_class_share_rps(const mm_budget *b, mm_budget_class c)
{
    if (b == NULL || (unsigned)c >= MM_BUDGET_CLASS_COUNT)
        return 0.0;
    return mm_bits_double(atomic_load(&((mm_budget *)b)->cls[c].share_bits));
}

double
mm_budget_share_rps(const mm_budget *b)
{
    return mm_budget_class_share_rps(b, MM_BUDGET_CREATE);
}

bool
mm_budget_gates(const mm_budget *b, mm_budget_class c)
{
    return b != NULL && (unsigned)c < MM_BUDGET_CLASS_COUNT && b->cls[c].rps > 0;
}

void
mm_budget_get_stats(const mm_budget *b, mm_budget_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (b == NULL)
        return;
    mm_budget *m = (mm_budget *)b;
    for (int c = 0; c < MM_BUDGET_CLASS_COUNT; c++) {
        budget_class *k = &m->cls[c];
        out->class_budget_rps[c] = k->rps;
        out->class_share_rps[c] = mm_bits_double(atomic_load(&k->share_bits));
        out->class_multiplier[c] = mm_bits_double(atomic_load(&k->multiplier_bits));
        out->class_halvings[c] = atomic_load(&k->halvings);
        out->class_granted[c] = atomic_load(&k->granted);
        out->halvings += out->class_halvings[c];
        out->granted += out->class_granted[c];
    }
    out->budget_rps = out->class_budget_rps[MM_BUDGET_CREATE];
    out->share_rps = out->class_share_rps[MM_BUDGET_CREATE];
    out->multiplier = out->class_multiplier[MM_BUDGET_CREATE];
    out->replicas = atomic_load(&m->replicas);
    out->rate_limited = atomic_load(&m->rate_limited);
    out->backoffs_sent = atomic_load(&m->backoffs_sent);
    out->backoffs_heard = atomic_load(&m->backoffs_heard);
}

/* ---- the token buckets (one owner thread) ---- */

static void
refill(mm_budget_bucket *k, mm_budget_class c, double rate)
{
    uint64_t now = mm_now_ms();
    double cap = fmax(1.0, rate / 4);
    if (!k->primed[c]) { /* full from the first share on: the first players of a quiet replica do not wait */
        k->last_ms[c] = now;
        k->tokens[c] = rate > 0 ? cap : 0;
        k->primed[c] = rate > 0;
        return;
    }
    k->tokens[c] = fmin(cap, k->tokens[c] + rate * (double)(now - k->last_ms[c]) / 1000.0);
    k->last_ms[c] = now;
}

bool
mm_budget_take(mm_budget *b, mm_budget_bucket *k, mm_budget_class c, bool peek)
{
    if (!mm_budget_gates(b, c))
        return true;
    refill(k, c, mm_budget_class_share_rps(b, c));
    if (k->tokens[c] < 1.0)
        return false;
    if (peek)
        return true;
    k->tokens[c] -= 1.0;
    atomic_fetch_add(&b->cls[c].granted, 1);
    return true;
}

uint64_t
mm_budget_wait_ms(mm_budget *b, mm_budget_bucket *k, mm_budget_class c)
{
    if (!mm_budget_gates(b, c))
        return 1;
    double rate = mm_budget_class_share_rps(b, c);
    refill(k, c, rate);
    if (k->tokens[c] >= 1.0)
        return 1;
    if (!(rate > 0))
        return 100; /* no share yet (starting, or the fleet is not heard): look again soon */
    double ms = ceil((1.0 - k->tokens[c]) * 1000.0 / rate);
    return ms < 1 ? 1 : ms > 1000 ? 1000 : (uint64_t)ms;
}
