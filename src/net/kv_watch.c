/*
 * KV watcher thread (include/mm/kv_watch.h).
 *
 * One thread per bucket loops on kvWatcher_Next with a short timeout. An entry becomes one
 * allocation (mm_kv_event) that is posted to the target actor; a full inbox is retried with a
 * backoff of its own on this thread (it may block: it is not an event loop), so events are never
 * lost and never reordered. A timeout gives the loop a chance to run the health probe.
 *
 * The watch is made again (new generation, current values re-delivered) when kvWatcher_Next
 * fails, or when the health probe finds it stalled or orphaned: after health_ms without events,
 * the stream's last sequence and peers are read; if the leader is not the one of when the watch
 * was made or a peer online then is offline now (a dead node may have taken the watch's consumer
 * with it), or if the stream was already ahead of the last revision delivered at the previous
 * probe and the watch has not caught up to that point since, or if two probes in a row found it
 * still without the end of its current values, the watch is made again. The
 * revision baseline of a new watch is the stream's last sequence read just before making it, so
 * a message that expired before it could be delivered cannot make the probe fire for ever.
 *
 * Shutdown: `mu` guards `stopping` and the kvWatcher pointer. mm_kv_watch_stop() sets
 * `stopping`, calls kvWatcher_Stop (which makes a blocked kvWatcher_Next return) and signals the
 * condition variable that backoff waits sleep on; the thread only ever destroys a watch after
 * taking it out of `kw` under `mu`, so kvWatcher_Stop never sees a freed one.
 *
 * A nats.c 3.4.1 race (still in later versions): nats.c re-creates a watch's ordered consumer on
 * a thread of its own (after a reconnect, a sequence gap or missed heartbeats) and then frees
 * the old consumer's name, while kvWatcher_Destroy (unsubscribe, then delete the consumer by
 * that name) may still be using it: a use-after-free (seen by ASan when a watch was stopped right
 * after a server restart). Each side holds the name for as long as its JetStream request takes:
 * milliseconds in a healthy cluster, seconds while a node has just died. Hence:
 *   - a stop is delayed until RESET_SETTLE_MS after the last reconnect this module noticed
 *     (settle_after_reconnect); a watch stopped long after one never waits;
 *   - a watch replaced while running is not destroyed at once but retired: it is destroyed only
 *     once retire_grace_ms (10 s by default: longer than a re-creation's JetStream request may
 *     wait) have passed and the new watch has delivered its current values (JetStream answers
 *     again), so a re-creation nats.c started during the trouble has finished. A stop waits, too,
 *     until the youngest retired watch is that old. Until then the retired watch's
 *     messages wait in nats.c (flow control bounds them). The cluster fault test crashed
 *     matchmakers (heap corruption, twice in three runs) when replaced watches were destroyed
 *     seconds after a node died; one crash ASan traced to an asynchronous error nats.c delivered
 *     for the destroyed subscription (src/net/nats_conn.c no longer reads it).
 */
#include "kv_watch_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/kv_watch.h"
#include "mm/log.h"
#include "nats_error.h"

void
mm_kv_event_free(mm_kv_event *event)
{
    free(event);
}

const char *
mm_kv_op_name(mm_kv_op op)
{
    switch (op) {
    case MM_KV_OP_PUT:
        return "put";
    case MM_KV_OP_DELETE:
        return "delete";
    case MM_KV_OP_PURGE:
        return "purge";
    case MM_KV_OP_INITIAL_DONE:
        return "initial-done";
    }
    return "unknown";
}

static bool
is_stopping(mm_kv_watch *w)
{
    pthread_mutex_lock(&w->mu);
    bool stopping = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return stopping;
}

/* Sleeps up to ms, or until stop. Returns true when stopping. */
static bool
wait_or_stop(mm_kv_watch *w, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stopping && pthread_cond_timedwait(&w->cond, &w->mu, &ts) == 0) {
    }
    bool stopping = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return stopping;
}

/* One block: struct, bucket, key, value (+ NUL each). */
static mm_kv_event *
event_new(mm_kv_watch *w, mm_kv_op op, const char *key, const void *value, size_t value_len)
{
    size_t blen = strlen(w->bucket), klen = strlen(key);
    mm_kv_event *ev = malloc(sizeof(*ev) + blen + 1 + klen + 1 + value_len + 1);
    if (ev == NULL)
        return NULL;
    char *p = (char *)(ev + 1);
    memcpy(p, w->bucket, blen + 1);
    ev->bucket = p;
    p += blen + 1;
    memcpy(p, key, klen + 1);
    ev->key = p;
    p += klen + 1;
    if (value_len > 0)
        memcpy(p, value, value_len);
    p[value_len] = '\0';
    ev->value = (const uint8_t *)p;
    ev->value_len = value_len;
    ev->op = op;
    ev->initial = w->initial;
    ev->generation = w->generation;
    ev->revision = 0;
    ev->created_ns = 0;
    return ev;
}

/*
 * Posts ev to the target, retrying while its inbox is full. Takes ownership of ev. A full inbox
 * is logged at most once per FULL_LOG_EVERY_MS (with the running count), so a receiver that is
 * slow for a long time costs one line every few seconds, not one per event.
 */
static void
deliver(mm_kv_watch *w, mm_kv_event *ev)
{
    if (w->target_gone) {
        mm_kv_event_free(ev);
        atomic_fetch_add(&w->dropped, 1);
        return;
    }
    mm_msg msg = {.type = w->msg_type, .target = w->msg_target, .ptr = ev};
    int backoff_ms = 1;
    for (;;) {
        mm_err err = mm_actor_send(w->target, &msg);
        if (err == MM_OK) {
            atomic_fetch_add(&w->events, 1);
            return;
        }
        if (err != MM_ERR_FULL) {
            mm_warn("kv watch %s: the receiver refused an event (%s); dropping this and every later event", w->bucket,
                    mm_err_str(err));
            w->target_gone = true;
            break;
        }
        uint64_t refusals = atomic_fetch_add(&w->full_retries, 1) + 1;
        uint64_t now = mm_now_ms();
        if (w->full_logged_ms == 0 || now - w->full_logged_ms >= FULL_LOG_EVERY_MS) {
            w->full_logged_ms = now;
            mm_warn("kv watch %s: the receiver's inbox is full; holding revision %llu and retrying (%llu refusals so far)",
                    w->bucket, (unsigned long long)ev->revision, (unsigned long long)refusals);
        }
        if (wait_or_stop(w, backoff_ms)) {
            mm_info("kv watch %s: stopping with revision %llu undelivered (inbox full)", w->bucket,
                    (unsigned long long)ev->revision);
            break;
        }
        backoff_ms = backoff_ms * 2 > FULL_BACKOFF_MAX_MS ? FULL_BACKOFF_MAX_MS : backoff_ms * 2;
    }
    mm_kv_event_free(ev);
    atomic_fetch_add(&w->dropped, 1);
}

/*
 * Takes an entry (NULL: the initial-values marker) and delivers it. Returns false when the
 * event could not be built: dropping one event would leave the receiver's view wrong for good,
 * so the caller makes the watch again and the current values are re-delivered.
 */
static bool
handle_entry(mm_kv_watch *w, kvEntry *e)
{
    mm_kv_event *ev;
    w->last_event_ms = mm_now_ms();
    if (e == NULL) {
        w->initial = false;
        w->quiet_logged = false;
        if ((ev = event_new(w, MM_KV_OP_INITIAL_DONE, "", NULL, 0)) == NULL)
            goto nomem;
        atomic_fetch_add(&w->markers, 1);
        deliver(w, ev);
        return true;
    }
    uint64_t rev = kvEntry_Revision(e);
    if (rev > w->seen)
        w->seen = rev;
    kvOperation op = kvEntry_Operation(e);
    int len = op == kvOp_Put ? kvEntry_ValueLen(e) : 0;
    mm_kv_op mop = op == kvOp_Put ? MM_KV_OP_PUT : op == kvOp_Delete ? MM_KV_OP_DELETE : MM_KV_OP_PURGE;
    if (op != kvOp_Put && op != kvOp_Delete && op != kvOp_Purge) {
        mm_warn("kv watch %s: key %s revision %llu has unknown operation %d; skipped", w->bucket, kvEntry_Key(e),
                (unsigned long long)rev, (int)op);
        kvEntry_Destroy(e);
        return true;
    }
    ev = event_new(w, mop, kvEntry_Key(e), kvEntry_Value(e), len > 0 ? (size_t)len : 0);
    if (ev == NULL) {
        kvEntry_Destroy(e);
        goto nomem;
    }
    ev->revision = rev;
    ev->created_ns = kvEntry_Created(e);
    kvEntry_Destroy(e);
    deliver(w, ev);
    return true;

nomem:
    mm_error("kv watch %s: out of memory for an event; making the watch again", w->bucket);
    atomic_fetch_add(&w->errors, 1);
    return false;
}

static void *
watch_main(void *arg)
{
    mm_kv_watch *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "kvw-%.11s", w->bucket); /* 15 characters are kept */
    pthread_setname_np(pthread_self(), name);
    int backoff_ms = 50;
    bool logged_failure = false;

    while (!is_stopping(w)) {
        if (w->target_gone) {
            wait_or_stop(w, 60000);
            continue;
        }
        if (w->kw == NULL) {
            mm_err err = mm__kvw_watch_open(w);
            if (err == MM_ERR_STOPPED)
                break;
            if (err != MM_OK) {
                atomic_fetch_add(&w->errors, 1);
                if (!logged_failure)
                    mm_warn("kv watch %s: cannot watch the bucket (%s: %s); retrying", w->bucket, mm_err_str(err),
                            mm__nats_error_text());
                logged_failure = true;
                wait_or_stop(w, backoff_ms);
                backoff_ms = backoff_ms * 2 > w->retry_max_ms ? w->retry_max_ms : backoff_ms * 2;
                continue;
            }
            if (logged_failure)
                mm_info("kv watch %s: watching again (generation %u)", w->bucket, w->generation);
            logged_failure = false;
            backoff_ms = 50;
        }
        mm__kvw_since_reconnect_ms(w, false); /* notice reconnects early: stop may need to know */
        mm__kvw_retired_reap(w, false);
        kvEntry *e = NULL;
        natsStatus s = kvWatcher_Next(&e, w->kw, w->poll_ms);
        if (s == NATS_OK) {
            if (!handle_entry(w, e)) {
                mm__kvw_watch_close(w, true);
                wait_or_stop(w, backoff_ms);
            }
        } else if (s == NATS_TIMEOUT) {
            if (mm__kvw_health_probe(w))
                mm__kvw_watch_close(w, true);
        } else if (!is_stopping(w)) {
            atomic_fetch_add(&w->errors, 1);
            mm_warn("kv watch %s: %s (%s); making the watch again", w->bucket, natsStatus_GetText(s), mm__nats_error_text());
            mm__kvw_watch_close(w, true);
            wait_or_stop(w, backoff_ms);
        }
    }
    mm__kvw_watch_close(w, false);
    mm__kvw_retired_reap(w, true);
    return NULL;
}

mm_err
mm_kv_watch_start(const mm_kv_watch_config *config, mm_kv_watch **out, char *why, size_t why_len)
{
    if (config == NULL || out == NULL || config->nc == NULL || config->js == NULL || config->target == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "kv watch: connection, JetStream set-up and target are required");
    if ((unsigned)config->bucket >= MM_KV_BUCKET_COUNT || mm_js_kv(config->js, config->bucket) == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "kv watch: bucket %d is not bound in this JetStream set-up",
                       (int)config->bucket);
    mm_kv_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "kv watch: out of memory");
    w->nc = config->nc;
    w->js = mm_js_ctx(config->js);
    w->kv = mm_js_kv(config->js, config->bucket);
    w->target = config->target;
    w->msg_type = config->msg_type;
    w->msg_target = config->msg_target;
    w->poll_ms = config->poll_ms > 0 ? config->poll_ms : DEFAULT_POLL_MS;
    w->health_ms = config->health_ms != 0 ? config->health_ms : DEFAULT_HEALTH_MS;
    w->retry_max_ms = config->retry_max_ms > 0 ? config->retry_max_ms : DEFAULT_RETRY_MAX_MS;
    w->retire_grace_ms = config->retire_grace_ms > 0 ? config->retire_grace_ms : DEFAULT_RETIRE_GRACE_MS;
    snprintf(w->bucket, sizeof(w->bucket), "%s", mm_kv_bucket_spec_of(config->bucket)->name);
    snprintf(w->stream, sizeof(w->stream), "KV_%s", w->bucket);
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->stats_mu, NULL);
    if (natsStatistics_Create(&w->nstats) != NATS_OK) {
        pthread_mutex_destroy(&w->stats_mu);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return mm_fail(MM_ERR_NOMEM, why, why_len, "kv watch: out of memory");
    }
    if (natsConnection_GetStats(w->nc, w->nstats) == NATS_OK)
        natsStatistics_GetCounts(w->nstats, NULL, NULL, NULL, NULL, &w->reconnects);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        natsStatistics_Destroy(w->nstats);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->stats_mu);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return mm_fail(MM_ERR_SYS, why, why_len, "kv watch %s: cannot create the thread",
                       mm_kv_bucket_spec_of(config->bucket)->name);
    }
    *out = w;
    return MM_OK;
}

void
mm_kv_watch_stop(mm_kv_watch *w)
{
    if (w == NULL || w->joined)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    /* Unblocks kvWatcher_Next at once, unless a reconnect was recent: then the thread sees
     * `stopping` within poll_ms and closes the watch after the settle time itself. */
    if (mm__kvw_since_reconnect_ms(w, true) >= RESET_SETTLE_MS) {
        pthread_mutex_lock(&w->mu);
        if (w->kw != NULL)
            kvWatcher_Stop(w->kw);
        pthread_mutex_unlock(&w->mu);
    }
    pthread_join(w->thread, NULL);
    w->joined = true;
}

void
mm_kv_watch_destroy(mm_kv_watch *w)
{
    if (w == NULL)
        return;
    mm_kv_watch_stop(w);
    natsStatistics_Destroy(w->nstats);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->stats_mu);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void
mm_kv_watch_get_stats(mm_kv_watch *w, mm_kv_watch_stats *st)
{
    st->events = atomic_load(&w->events);
    st->markers = atomic_load(&w->markers);
    st->full_retries = atomic_load(&w->full_retries);
    st->watches = atomic_load(&w->watches);
    st->stalls = atomic_load(&w->stalls);
    st->moves = atomic_load(&w->moves);
    st->errors = atomic_load(&w->errors);
    st->dropped = atomic_load(&w->dropped);
}
