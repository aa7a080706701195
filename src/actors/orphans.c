/*
 * Orphan sessions (include/mm/orphans.h): a FIFO of webhooks carrying another replica's create
 * intent, filled by mm_orphans_offer on any thread (the intake's nats.c callback, the
 * all-in-one front's loop) under one mutex, and one thread of our own ("orphans") that takes
 * each entry once its grace has passed and checks it with blocking KV reads and NATS requests
 * (its own thread: nothing waits on it). All entries share one grace, so the FIFO is in due
 * order. A core subscription on mm.replica.<our id> answers liveness requests on nats.c's
 * delivery thread (a buffered publish, no wait).
 *
 * Decision rule: delete only when every check says orphan; any error, timeout, answer or record
 * means "leave it" (counted by reason). Owns: the queue, the thread, the subscription.
 */
#include "mm/orphans.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm/log.h"
#include "mm/metrics.h"

typedef struct orphan_entry {
    uint64_t due_ms;
    char session[MM_SESSION_ID_MAX + 1];
    char intent[MM_INTENT_MAX + 1];
} orphan_entry;

struct mm_orphans {
    natsConnection *nc;
    mm_js *js;
    uint64_t grace_ms, ping_timeout_ms;
    char replica[32]; /* a NATS nuid */
    natsSubscription *sub;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    orphan_entry *ring;  /* MM_ORPHANS_QUEUE_MAX */
    size_t head, n;
    bool stop;
    atomic_bool stopping; /* stop, readable without the mutex by a check in progress */
    atomic_ullong offered, dropped, settled, alive, recorded, doubt, deleted;
};

/* The replica an intent names: what precedes its last '-'. false when there is none. */
static bool
intent_owner(const char *intent, char *out, size_t len)
{
    const char *dash = strrchr(intent, '-');
    if (dash == NULL || dash == intent || (size_t)(dash - intent) >= len)
        return false;
    memcpy(out, intent, (size_t)(dash - intent));
    out[dash - intent] = '\0';
    return true;
}

/* nats.c's delivery thread: a liveness request; any answer says "alive". */
static void
on_ping(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply != NULL && reply[0] != '\0')
        natsConnection_PublishString(nc, reply, "alive");
    natsMsg_Destroy(msg);
}

void
mm_orphans_offer(mm_orphans *o, const char *session_id, const char *intent)
{
    char owner[sizeof(o->replica)];
    if (o == NULL || !mm_intent_valid(intent) || !mm_session_id_valid(session_id) || !intent_owner(intent, owner, sizeof(owner)) ||
        strcmp(owner, o->replica) == 0)
        return; /* ours (we are alive), or nothing to check */
    pthread_mutex_lock(&o->mu);
    if (o->stop || o->n == MM_ORPHANS_QUEUE_MAX) {
        pthread_mutex_unlock(&o->mu);
        atomic_fetch_add(&o->dropped, 1);
        mm_debug("orphans: webhook for session %s (intent %s) not checked: queue full or stopping", session_id, intent);
        return;
    }
    orphan_entry *e = &o->ring[(o->head + o->n) % MM_ORPHANS_QUEUE_MAX];
    e->due_ms = mm_now_ms() + o->grace_ms;
    snprintf(e->session, sizeof(e->session), "%s", session_id);
    snprintf(e->intent, sizeof(e->intent), "%s", intent);
    if (o->n++ == 0)
        pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->mu);
    atomic_fetch_add(&o->offered, 1);
}

/* "dead": NATS said no responders. "alive": an answer. Else (timeout, error): in doubt. */
typedef enum ping_result { PING_DEAD, PING_ALIVE, PING_DOUBT } ping_result;

static ping_result
ping(mm_orphans *o, const char *owner)
{
    if (atomic_load(&o->stopping))
        return PING_DOUBT;
    char subject[64];
    snprintf(subject, sizeof(subject), "%s%s", MM_REPLICA_SUBJECT_PREFIX, owner);
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, o->nc, subject, "ping", (int64_t)o->ping_timeout_ms);
    natsMsg_Destroy(reply);
    if (s == NATS_NO_RESPONDERS)
        return PING_DEAD;
    return s == NATS_OK ? PING_ALIVE : PING_DOUBT;
}

/* MM_ERR_NOTFOUND: not in the bucket; MM_OK: there; else an error (in doubt), also once
 * stopping: destroy waits for at most the read in progress. */
static mm_err
kv_has(mm_orphans *o, mm_kv_bucket b, const char *key, char *buf, size_t len)
{
    kvStore *kv = mm_js_kv(o->js, b);
    if (kv == NULL || atomic_load(&o->stopping))
        return MM_ERR_INVALID;
    return mm_kv_get_str(kv, key, buf, len, NULL);
}

static void
orphan_check(mm_orphans *o, const orphan_entry *e)
{
    char owner[sizeof(o->replica)], value[160];
    if (!intent_owner(e->intent, owner, sizeof(owner))) {
        atomic_fetch_add(&o->doubt, 1);
        return;
    }
    /* 1. the intent is still open, and its record names the replica its id names */
    mm_err err = kv_has(o, MM_KV_CREATE_INTENTS, e->intent, value, sizeof(value));
    if (err == MM_ERR_NOTFOUND) {
        atomic_fetch_add(&o->settled, 1);
        return;
    }
    size_t olen = strlen(owner);
    if (err != MM_OK || strncmp(value, owner, olen) != 0 || value[olen] != ' ') {
        atomic_fetch_add(&o->doubt, 1);
        mm_warn("orphans: session %s: intent %s unreadable or not of replica %s: left alone", e->session, e->intent, owner);
        return;
    }
    /* 2. its replica is gone */
    ping_result pr = ping(o, owner);
    if (pr != PING_DEAD) {
        atomic_fetch_add(pr == PING_ALIVE ? &o->alive : &o->doubt, 1);
        mm_debug("orphans: session %s: replica %s %s: left to it", e->session, owner, pr == PING_ALIVE ? "answered" : "did not answer in time");
        return;
    }
    /* 3. recorded nowhere */
    static const mm_kv_bucket buckets[] = {MM_KV_UNCLAIMED_SESSIONS, MM_KV_SESSIONS_EG2LY, MM_KV_ACTIVE_CONNECTIONS,
                                           MM_KV_DELETED_SESSIONS};
    for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++) {
        err = kv_has(o, buckets[i], e->session, value, sizeof(value));
        if (err != MM_ERR_NOTFOUND) {
            atomic_fetch_add(err == MM_OK ? &o->recorded : &o->doubt, 1);
            mm_debug("orphans: session %s: %s in %s: left alone", e->session, err == MM_OK ? "recorded" : "cannot read",
                     mm_kv_bucket_spec_of(buckets[i])->name);
            return;
        }
    }
    /* 2 again, and the intent again: nothing changed while we read */
    if (ping(o, owner) != PING_DEAD) {
        atomic_fetch_add(&o->doubt, 1);
        return;
    }
    err = kv_has(o, MM_KV_CREATE_INTENTS, e->intent, value, sizeof(value));
    if (err != MM_OK) { /* gone meanwhile: another replica's check enqueued it (settled) */
        atomic_fetch_add(err == MM_ERR_NOTFOUND ? &o->settled : &o->doubt, 1);
        return;
    }
    char why[200];
    bool duplicate = false;
    if (mm_delete_queue_enqueue_dup(mm_js_ctx(o->js), e->session, &duplicate, why, sizeof(why)) != MM_OK) {
        atomic_fetch_add(&o->doubt, 1);
        mm_warn("orphans: session %s of the dead replica %s: %s (it may leak)", e->session, owner, why);
        return;
    }
    mm_kv_delete(mm_js_kv(o->js, MM_KV_CREATE_INTENTS), e->intent);
    if (duplicate) { /* another replica's check enqueued it first */
        atomic_fetch_add(&o->settled, 1);
        return;
    }
    atomic_fetch_add(&o->deleted, 1);
    mm_metric_inc(MM_METRIC_ORPHANS_DELETED);
    mm_info("orphans: session %s was created for replica %s, which died before recording it: deletion enqueued", e->session,
            owner);
}

static void *
orphans_main(void *arg)
{
    mm_orphans *o = arg;
    pthread_setname_np(pthread_self(), "orphans");
    pthread_mutex_lock(&o->mu);
    while (!o->stop) {
        if (o->n == 0) {
            pthread_cond_wait(&o->cond, &o->mu);
            continue;
        }
        orphan_entry e = o->ring[o->head];
        uint64_t now = mm_now_ms();
        if (e.due_ms > now) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t wait = e.due_ms - now;
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&o->cond, &o->mu, &ts);
            continue;
        }
        o->head = (o->head + 1) % MM_ORPHANS_QUEUE_MAX;
        o->n--;
        pthread_mutex_unlock(&o->mu);
        orphan_check(o, &e);
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

mm_err
mm_orphans_start(const mm_orphans_config *config, mm_orphans **out, char *why, size_t why_len)
{
    *out = NULL;
    if (config == NULL || config->nc == NULL || config->js == NULL || config->grace_ms == 0 ||
        mm_js_kv(config->js, MM_KV_CREATE_INTENTS) == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "orphans: nc, js (with mm_create_intents) and a grace are required");
    mm_orphans *o = calloc(1, sizeof(*o));
    mm_err err = MM_ERR_NOMEM;
    char *inbox = NULL;
    if (o == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "orphans: out of memory");
    o->nc = config->nc;
    o->js = config->js;
    o->grace_ms = config->grace_ms;
    o->ping_timeout_ms = config->ping_timeout_ms > 0 ? config->ping_timeout_ms : 1000;
    pthread_mutex_init(&o->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&o->cond, &ca);
    pthread_condattr_destroy(&ca);
    if ((o->ring = calloc(MM_ORPHANS_QUEUE_MAX, sizeof(*o->ring))) == NULL) {
        mm_fail(err, why, why_len, "orphans: out of memory");
        goto cleanup;
    }
    if (natsInbox_Create(&inbox) != NATS_OK) { /* _INBOX.<nuid>: a name no other process has */
        mm_fail(err, why, why_len, "orphans: out of memory");
        goto cleanup;
    }
    const char *nuid = strrchr(inbox, '.');
    snprintf(o->replica, sizeof(o->replica), "%s", nuid != NULL ? nuid + 1 : inbox);
    char subject[64];
    snprintf(subject, sizeof(subject), "%s%s", MM_REPLICA_SUBJECT_PREFIX, o->replica);
    natsStatus s = natsConnection_Subscribe(&o->sub, o->nc, subject, on_ping, o);
    if (s == NATS_OK)
        s = natsConnection_Flush(o->nc);
    if (s != NATS_OK) {
        err = mm_fail(MM_ERR_IO, why, why_len, "orphans: subscribing %s failed: %s", subject, natsStatus_GetText(s));
        goto cleanup;
    }
    if (pthread_create(&o->thread, NULL, orphans_main, o) != 0) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "orphans: could not start the thread");
        goto cleanup;
    }
    o->started = true;
    natsInbox_Destroy(inbox);
    mm_info("orphans: replica %s; webhooks of other replicas' unsettled creates checked after %llu ms", o->replica,
            (unsigned long long)o->grace_ms);
    *out = o;
    return MM_OK;
cleanup:
    natsInbox_Destroy(inbox);
    mm_orphans_destroy(o);
    return err;
}

const char *
mm_orphans_replica(const mm_orphans *o)
{
    return o != NULL ? o->replica : NULL;
}

void
mm_orphans_get_stats(mm_orphans *o, mm_orphans_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (o == NULL)
        return;
    out->offered = atomic_load(&o->offered);
    out->dropped = atomic_load(&o->dropped);
    out->settled = atomic_load(&o->settled);
    out->alive = atomic_load(&o->alive);
    out->recorded = atomic_load(&o->recorded);
    out->doubt = atomic_load(&o->doubt);
    out->deleted = atomic_load(&o->deleted);
}

void
mm_orphans_destroy(mm_orphans *o)
{
    if (o == NULL)
        return;
    if (o->sub != NULL) {
        natsSubscription_Unsubscribe(o->sub);
        natsSubscription_Destroy(o->sub);
    }
    if (o->started) {
        pthread_mutex_lock(&o->mu);
        o->stop = true;
        atomic_store(&o->stopping, true);
        pthread_cond_signal(&o->cond);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->thread, NULL);
    }
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->mu);
    free(o->ring);
    free(o);
}
