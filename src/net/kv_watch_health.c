/*
 * The KV watcher's watch itself (kv_watch_internal.h): making it, noticing reconnects, the health
 * probe that finds a stalled or orphaned watch, and retiring replaced watches until they are
 * safe to destroy. Runs on the watcher thread (since_reconnect_ms on any). The design, and the
 * nats.c race the retiring works around, are in kv_watch.c's opening comment.
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
#include "mm/metrics.h"
#include "nats_error.h"

/*
 * Notes a reconnect of the connection; returns ms since the last one noticed (UINT64_MAX: none).
 * Reading the count takes the connection's lock, which every thread publishing on it wants, so
 * the watch loop reads it at most every STATS_EVERY_MS (force = false); a reconnect is then
 * noticed up to that much late, which only lengthens the settle wait after it.
 */
uint64_t
mm__kvw_since_reconnect_ms(mm_kv_watch *w, bool force)
{
    uint64_t count = 0, now = mm_now_ms(), since = UINT64_MAX;
    pthread_mutex_lock(&w->stats_mu);
    bool read = force || now - w->stats_read_ms >= STATS_EVERY_MS;
    if (read)
        w->stats_read_ms = now;
    if (read && natsConnection_GetStats(w->nc, w->nstats) == NATS_OK &&
        natsStatistics_GetCounts(w->nstats, NULL, NULL, NULL, NULL, &count) == NATS_OK && count != w->reconnects) {
        w->reconnects = count;
        w->reconnect_ms = now;
    }
    if (w->reconnect_ms != 0)
        since = now - w->reconnect_ms;
    pthread_mutex_unlock(&w->stats_mu);
    return since;
}

/* Waits out nats.c's consumer re-creation after a recent reconnect (see the file comment). */
static void
settle_after_reconnect(mm_kv_watch *w)
{
    uint64_t since = mm__kvw_since_reconnect_ms(w, true);
    if (since >= RESET_SETTLE_MS)
        return;
    uint64_t wait = RESET_SETTLE_MS - since;
    mm_debug("kv watch %s: reconnected %llu ms ago; waiting %llu ms before unsubscribing", w->bucket, (unsigned long long)since,
             (unsigned long long)wait);
    struct timespec ts = {.tv_sec = (time_t)(wait / 1000), .tv_nsec = (long)(wait % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * The stream's last sequence and, in a clustered JetStream, its online peers as " leader r1 r2 "
 * ("" when not clustered). A peer's name never contains a space.
 */
static mm_err
stream_state(mm_kv_watch *w, uint64_t *last, char *peers, size_t len)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, w->js, w->stream, NULL, &jerr);
    if (s != NATS_OK)
        return s == NATS_TIMEOUT ? MM_ERR_TIMEOUT : MM_ERR_IO;
    *last = si->State.LastSeq;
    peers[0] = '\0';
    const jsClusterInfo *c = si->Cluster;
    if (c != NULL && c->Leader != NULL && c->Leader[0] != '\0') {
        size_t used = (size_t)snprintf(peers, len, " %s ", c->Leader);
        for (int i = 0; i < c->ReplicasLen && used < len; i++)
            if (c->Replicas[i] != NULL && c->Replicas[i]->Name != NULL && !c->Replicas[i]->Offline)
                used += (size_t)snprintf(peers + used, len - used, "%s ", c->Replicas[i]->Name);
    }
    jsStreamInfo_Destroy(si);
    return MM_OK;
}

/* True when a peer online in `before` is not online in `now` (both as stream_state makes them). */
static bool
peer_lost(const char *before, const char *now)
{
    char name[80];
    for (const char *p = before; *p != '\0';) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (n + 2 < sizeof(name)) {
            snprintf(name, sizeof(name), " %.*s ", (int)n, p);
            if (strstr(now, name) == NULL)
                return true;
        }
        p += n;
    }
    return false;
}

mm_err
mm__kvw_watch_open(mm_kv_watch *w)
{
    uint64_t last = 0;
    kvWatcher *kw = NULL;
    char peers[sizeof(w->peers)];
    mm_err err = stream_state(w, &last, peers, sizeof(peers));
    if (err != MM_OK)
        return err;
    if (kvStore_WatchAll(&kw, w->kv, NULL) != NATS_OK)
        return MM_ERR_IO;
    pthread_mutex_lock(&w->mu);
    bool stopping = w->stopping;
    if (!stopping)
        w->kw = kw;
    pthread_mutex_unlock(&w->mu);
    if (stopping) {
        kvWatcher_Destroy(kw);
        return MM_ERR_STOPPED;
    }
    w->generation++;
    w->initial = true;
    w->seen = last;
    w->lag_mark = 0;
    w->quiet_initial = 0;
    snprintf(w->peers, sizeof(w->peers), "%s", peers);
    w->last_event_ms = mm_now_ms();
    atomic_fetch_add(&w->watches, 1);
    if (w->generation > 1)
        mm_metric_inc(MM_METRIC_KV_WATCH_REMAKES);
    mm_debug("kv watch %s: watching (generation %u, stream at %llu)", w->bucket, w->generation, (unsigned long long)last);
    return MM_OK;
}

/* Destroys retired watch i (see the file comment), after the reconnect settle time. */
static void
retired_destroy(mm_kv_watch *w, int i)
{
    settle_after_reconnect(w);
    kvWatcher_Destroy(w->retired[i]);
    for (int k = i + 1; k < w->n_retired; k++) {
        w->retired[k - 1] = w->retired[k];
        w->retired_ms[k - 1] = w->retired_ms[k];
    }
    w->n_retired--;
}

/*
 * At a stop: a watch retired less than retire_grace_ms ago may still have nats.c re-creating its
 * consumer (the race in kv_watch.c's opening comment), so destroying it now could free what that
 * thread is using. Waits until the youngest is that old: at most the grace, and only when a stop
 * comes within seconds of a replaced watch (a node lost, a stall).
 */
static void
wait_retire_grace(mm_kv_watch *w)
{
    if (w->n_retired == 0)
        return;
    uint64_t age = mm_now_ms() - w->retired_ms[w->n_retired - 1], grace = (uint64_t)w->retire_grace_ms;
    if (age >= grace)
        return;
    uint64_t wait = grace - age;
    mm_info("kv watch %s: stopping %llu ms after a watch was replaced; waiting %llu ms before destroying it", w->bucket,
            (unsigned long long)age, (unsigned long long)wait);
    struct timespec ts = {.tv_sec = (time_t)(wait / 1000), .tv_nsec = (long)(wait % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Destroys the retired watches that are safe to destroy now (all of them when `all`: at a stop). */
void
mm__kvw_retired_reap(mm_kv_watch *w, bool all)
{
    bool healthy = w->kw != NULL && !w->initial; /* the current watch delivered its current values */
    if (all)
        wait_retire_grace(w);
    while (w->n_retired > 0 && (all || (healthy && mm_now_ms() - w->retired_ms[0] >= (uint64_t)w->retire_grace_ms)))
        retired_destroy(w, 0);
}

/* Takes the current watch out; `retire`: keep it for later destruction, else destroy it now. */
void
mm__kvw_watch_close(mm_kv_watch *w, bool retire)
{
    pthread_mutex_lock(&w->mu);
    kvWatcher *kw = w->kw;
    w->kw = NULL;
    pthread_mutex_unlock(&w->mu);
    if (kw == NULL)
        return;
    if (!retire) {
        settle_after_reconnect(w);
        kvWatcher_Destroy(kw);
        return;
    }
    if (w->n_retired == RETIRED_MAX) /* remade that often: the oldest has waited longest */
        retired_destroy(w, 0);
    w->retired[w->n_retired] = kw;
    w->retired_ms[w->n_retired] = mm_now_ms();
    w->n_retired++;
}

/*
 * After a quiet period: true when the watch must be made again, because it is stalled or because
 * a node of its stream was lost. The watch's consumer is an ephemeral one-replica consumer on one
 * of the stream's peers (not necessarily its leader). When that node dies and this client stays
 * connected elsewhere, nats.c notices only after missed heartbeats (two of 5 s) and its own
 * re-creation then fails while the cluster elects leaders; in the cluster fault test
 * (tests/deploy/test_cluster_faults.c) watches stayed silent for about 10 s, longer than the
 * matchmaker waits for a cert digest. The stall rule alone needs the stream to move on and two
 * probes. So when the leader changed, or a peer that was online when the watch was made is
 * offline now, the watch is made at once: at worst the current values are delivered once more,
 * which receivers must accept anyway.
 *
 * A watch that goes quiet before it has delivered its current values (their end marker) is made
 * again after two probes: the stall rule cannot see it when nothing is written after the watch
 * was made (its baseline is the stream's last sequence then), and its receiver may be waiting for
 * those values before doing anything (the reaper ages nothing until both buckets delivered them).
 * Delivering current values never pauses for a whole probe period in a healthy JetStream.
 */
bool
mm__kvw_health_probe(mm_kv_watch *w)
{
    if (w->health_ms < 0 || mm_now_ms() - w->last_event_ms < (uint64_t)w->health_ms)
        return false;
    w->last_event_ms = mm_now_ms(); /* next probe one period later */
    uint64_t last = 0;
    char peers[sizeof(w->peers)];
    if (natsConnection_Status(w->nc) != NATS_CONN_STATUS_CONNECTED || stream_state(w, &last, peers, sizeof(peers)) != MM_OK)
        return false; /* cannot tell now (no leader yet, or reconnecting: nats.c resumes the watch then) */
    bool moved = false;
    if (w->peers[0] != '\0' && peers[0] != '\0') { /* both " leader ...": compare the leader tokens */
        size_t leader_len = strcspn(w->peers + 1, " ");
        moved = strncmp(w->peers, peers, leader_len + 2) != 0;
    }
    if (moved || (peers[0] != '\0' && peer_lost(w->peers, peers))) {
        mm_info("kv watch %s: the stream's peers changed (leader first: [%s] -> [%s]); making the watch again", w->bucket, w->peers,
                peers);
        atomic_fetch_add(&w->moves, 1);
        return true;
    }
    bool stalled = w->lag_mark != 0 && w->seen < w->lag_mark;
    w->lag_mark = last > w->seen ? last : 0;
    w->quiet_initial = w->initial ? w->quiet_initial + 1 : 0;
    if (w->quiet_initial >= 2) {
        if (w->quiet_logged)
            mm_debug("kv watch %s: still no current values (generation %u); making the watch again", w->bucket, w->generation);
        else
            mm_warn("kv watch %s: no current values after %d quiet probes (generation %u); making the watch again", w->bucket,
                    w->quiet_initial, w->generation);
        w->quiet_logged = true;
        atomic_fetch_add(&w->stalls, 1);
        return true;
    }
    if (stalled) {
        mm_warn("kv watch %s: stalled at revision %llu while the stream is at %llu; making the watch again", w->bucket,
                (unsigned long long)w->seen, (unsigned long long)last);
        atomic_fetch_add(&w->stalls, 1);
    }
    return stalled;
}
