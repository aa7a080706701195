/*
 * Inside the KV watcher (kv_watch.c: the thread, events and lifecycle; kv_watch_health.c: making,
 * probing and replacing the watch). The design is in kv_watch.c's opening comment.
 */
#ifndef MM_KV_WATCH_INTERNAL_H
#define MM_KV_WATCH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm/kv_watch.h"

#define DEFAULT_POLL_MS 500
#define DEFAULT_HEALTH_MS 1000
#define DEFAULT_RETRY_MAX_MS 2000
#define FULL_BACKOFF_MAX_MS 50
#define FULL_LOG_EVERY_MS 10000
#define RESET_SETTLE_MS 1500
#define STATS_EVERY_MS 100
#define DEFAULT_RETIRE_GRACE_MS 10000
#define RETIRED_MAX 8

struct mm_kv_watch {
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    mm_actor *target;
    uint32_t msg_type;
    uint64_t msg_target;
    int poll_ms, health_ms, retry_max_ms, retire_grace_ms;
    char bucket[64];
    char stream[72];

    pthread_t thread;
    bool joined; /* touched only by the stopping thread */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* signalled by stop; backoff waits sleep on it */
    bool stopping;       /* guarded by mu */
    kvWatcher *kw;       /* guarded by mu; destroyed only by the thread, after taking it out */

    /* watcher thread only */
    kvWatcher *retired[RETIRED_MAX]; /* replaced watches waiting to be destroyed, oldest first */
    uint64_t retired_ms[RETIRED_MAX];
    int n_retired;
    uint32_t generation;
    bool initial;      /* still delivering this generation's current values */
    uint64_t seen;     /* highest revision delivered, or the stream's last sequence at the watch */
    uint64_t lag_mark; /* stream's last sequence at the previous probe, when it was ahead; else 0 */
    int quiet_initial; /* probes in a row that found this generation still without its current values */
    bool quiet_logged; /* a remake for quiet_initial was logged at warn; again only after values arrived */
    char peers[256];   /* the stream's online peers when the watch was made, " a b c " ("" not clustered) */
    uint64_t last_event_ms;
    uint64_t full_logged_ms; /* when a full inbox was last logged; 0: never */
    bool target_gone;

    /* reconnect tracking for settle_after_reconnect (any thread) */
    pthread_mutex_t stats_mu;
    natsStatistics *nstats; /* guarded by stats_mu */
    uint64_t reconnects;    /* guarded by stats_mu: the connection's count when last looked at */
    uint64_t reconnect_ms;  /* guarded by stats_mu: when a change of it was noticed; 0: never */
    uint64_t stats_read_ms; /* guarded by stats_mu: when the count was last read */

    atomic_uint_fast64_t events, markers, full_retries, watches, stalls, moves, errors, dropped;
};

/** Notes a reconnect of the connection; ms since the last one noticed (UINT64_MAX: none).
 * force = false reads the connection's count at most every STATS_EVERY_MS. Any thread. */
uint64_t mm__kvw_since_reconnect_ms(mm_kv_watch *w, bool force);
/** Makes the watch (a new generation); MM_ERR_STOPPED when stopping. Watcher thread. */
mm_err mm__kvw_watch_open(mm_kv_watch *w);
/** Takes the current watch out; retire: keep it for later destruction, else destroy it now. */
void mm__kvw_watch_close(mm_kv_watch *w, bool retire);
/** Destroys the retired watches that are safe to destroy now (all of them when `all`). */
void mm__kvw_retired_reap(mm_kv_watch *w, bool all);
/** After health_ms without events: true when the watch is stalled or orphaned and must be made again. */
bool mm__kvw_health_probe(mm_kv_watch *w);

#endif
