/*
 * The session reaper (docs/protocol.md section 4; ARCHITECTURE.md, "Threads of the matchmaker"): makes
 * sure every Edgegap session the matchmaker created is deleted once nobody uses it.
 *
 * Rules, applied to what two KV watchers (include/mm/kv_watch.h) report:
 *   - unclaimed: a session in `unclaimed_sessions` whose entry is older than age_limit_ms +
 *     margin_ms, measured from the entry's creation time on the server (so a restart, or another
 *     replica's crash, does not reset the clock), and that has no active connection, has its
 *     deletion enqueued (include/mm/delete_queue.h) and is then removed from
 *     `unclaimed_sessions` by a revision-checked delete: only the revision we saw is deleted; if
 *     the key changed meanwhile, someone else acted and we leave it alone.
 *   - claimed: a PUT in `active_connections` (a player connected) removes the session from
 *     `unclaimed_sessions`, revision-checked, and it is never reaped while connected.
 *   - disconnected: a DELETE or PURGE in `active_connections` (the player left) enqueues the
 *     session's deletion (and removes a leftover `unclaimed_sessions` entry).
 *
 * Replicas: several reapers may run at once over the same buckets. Enqueues carry the session
 * id as JetStream message id (duplicates within the stream's window are dropped) and KV removals
 * are revision-checked, so two reapers neither enqueue a session twice nor undo each other.
 *
 * Asynchronous: the reaper never waits for JetStream. It publishes on a JetStream context of its
 * own (made on nc, with an ack handler; not the mm_js's, and not resent by the mm_js resend
 * thread) and learns each outcome through its inbox. A session's work stays flagged until
 * JetStream acknowledged it (a remove refused because the key changed counts as done: someone
 * else acted); while a publish is in flight it is not published again, until its outcome says
 * it failed or, when no outcome arrives, until ack_wait_ms + 1 s have passed. At most 2048
 * publishes are in flight; more work waits for outcomes.
 *
 * Failures (NATS unreachable, timeouts, a missing stream) are counted, logged once per session,
 * and the work is retried on a later scan; while NATS looks down the reaper does not publish from
 * event handlers, and scans are skipped while the connection is not connected, so it never spins.
 * Events keep being handled during an outage. It is its own actor thread: nothing else ever
 * waits for it.
 *
 * Threads: mm_reaper_start/stop/destroy from one owner thread; stats from any thread.
 */
#ifndef MM_REAPER_H
#define MM_REAPER_H

#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"
#include "mm/kv.h"

/* Defaults of the reaper's timing (a 0 in mm_reaper_config means these; the matchmaker's flags
 * show and use the same values). */
#define MM_REAPER_DEFAULT_AGE_MS 60000
#define MM_REAPER_DEFAULT_MARGIN_MS 15000
#define MM_REAPER_DEFAULT_SCAN_MS 5000

typedef struct mm_reaper_config {
    uint64_t age_limit_ms;   /* the session-creation limit; 0: MM_REAPER_DEFAULT_AGE_MS (docs/protocol.md section 5) */
    uint64_t margin_ms;      /* added to the limit (clock skew, slow polls); 0: MM_REAPER_DEFAULT_MARGIN_MS */
    uint64_t scan_period_ms; /* how often ages are checked and failed work retried; 0: MM_REAPER_DEFAULT_SCAN_MS */
    /**
     * A delete marker of active_connections that a watcher reports among the current values
     * (not live), and that is older than this, is not enqueued again: some reaper handled it
     * when it happened, and every restart would otherwise re-enqueue every disconnect ever seen
     * (markers stay in the bucket). Younger ones are enqueued (covering an outage of all
     * reapers). 0: 3600000 (one hour).
     */
    uint64_t replay_ms;
    int watch_health_ms; /* the watchers' health probe (mm_kv_watch_config.health_ms); 0: their default */
    int watch_retire_grace_ms; /* mm_kv_watch_config.retire_grace_ms; 0: their default */
    /**
     * How long JetStream may take to acknowledge one publish (its MaxWait) before it counts as
     * failed and is retried by a later scan (it may still have been stored: repeats are
     * de-duplicated or refused by the revision check). 0: 5000.
     */
    int64_t ack_wait_ms;
} mm_reaper_config;

typedef struct mm_reaper_stats {
    uint64_t tracked;               /* unclaimed sessions being aged now */
    uint64_t claimed;               /* sessions with an active connection now */
    uint64_t enqueued_unclaimed;    /* deletions enqueued because unclaimed for too long */
    uint64_t enqueued_disconnected; /* deletions enqueued because the player left */
    uint64_t removed;               /* unclaimed_sessions entries deleted (at the revision seen) */
    uint64_t skipped;               /* revision-checked deletes refused: the entry had changed */
    uint64_t replay_skipped;        /* old delete markers of active_connections not enqueued again */
    uint64_t redelivered;           /* current values a re-made watch delivered again, already handled (ignored) */
    uint64_t failures;              /* publishes that failed or timed out (the work is retried) */
    uint64_t invalid_keys;          /* keys that are not session ids (ignored) */
    uint64_t events;                /* KV events handled */
    uint64_t scans;                 /* scans run (not counting those skipped while NATS was down) */
    uint64_t published;             /* publishes made (enqueues and removes, retries included) */
    uint64_t in_flight;             /* publishes awaiting their outcome now */
    uint64_t expired;               /* publishes whose outcome never reached the reaper in time (retried) */
    uint64_t outcomes_dropped;      /* outcomes the reaper's inbox refused (their publish expires and is retried) */
} mm_reaper_stats;

typedef struct mm_reaper mm_reaper;

/**
 * Starts the reaper actor, its JetStream context and its two watchers. js must have
 * MM_KV_UNCLAIMED_SESSIONS and MM_KV_ACTIVE_CONNECTIONS bound and the delete stream set up
 * (mm_js_setup with those needs); nc is its connection. Both must outlive the reaper. config
 * may be NULL (all defaults). MM_ERR_INVALID (a bucket is not bound), MM_ERR_IO (no JetStream
 * context), MM_ERR_NOMEM, MM_ERR_SYS; why says which.
 */
mm_err mm_reaper_start(const mm_reaper_config *config, natsConnection *nc, mm_js *js, mm_reaper **out, char *why, size_t why_len);

/**
 * Stops the watchers, then the actor: queued events are dropped (they are re-delivered to the
 * next reaper as current values), pending work is abandoned (a later scan of any reaper redoes
 * it), then destroys its JetStream context: publishes in flight are no longer tracked (they may
 * still land), and an outcome nats.c delivers late is dropped without touching the reaper.
 * Never waits for NATS. Idempotent. Accepts NULL.
 */
void mm_reaper_stop(mm_reaper *reaper);

/** Stops if needed and frees. Accepts NULL. */
void mm_reaper_destroy(mm_reaper *reaper);

/** Counters; any thread. */
void mm_reaper_get_stats(mm_reaper *reaper, mm_reaper_stats *stats);

#endif
