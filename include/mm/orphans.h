/*
 * Orphan sessions (docs/matchmaker.md, "Orphans: creates of a replica that died"): a session
 * Edgegap made for a matchmaker replica that was killed (kill -9, OOM, a lost node) before the
 * create's answer came back is recorded nowhere (no unclaimed_sessions entry), so no reaper
 * knows it, and Edgegap offers no list to reconcile against. With webhooks on, Edgegap still
 * calls the session's webhook when it becomes ready or fails; these make that call find it.
 *
 * Create intents (the provisioner's side): before each session create the replica publishes
 * mm_create_intents[<replica>-<n>] = "<replica> <unix ms>" (an asynchronous KV put, handed to
 * nats.c before the HTTP create is sent), and gives Edgegap the webhook URL with
 * `?intent=<replica>-<n>`. When the create's answer arrives (session recorded in
 * unclaimed_sessions, or the create failed) the intent is deleted. The web front passes the
 * intent on (the header MM_INTENT_HEADER of matchmaker.webhook, or in one process directly).
 *
 * This module (one thread of its own, "orphans"): every webhook carrying the intent of another
 * replica is offered here (mm_orphans_offer, any thread, never waits beyond a short mutex) and
 * checked grace_ms later, blocking on its own thread only:
 *   1. the intent is still in mm_create_intents and names the replica its id names;
 *   2. that replica is confirmed dead: a request on mm.replica.<replica> is answered "no
 *      responders" by NATS (each live replica with webhooks on subscribes to its own subject
 *      and answers), twice, before and after step 3;
 *   3. the session is in none of unclaimed_sessions, sessions_eg2ly, active_connections and
 *      mm_deleted_sessions (any error reading one: in doubt);
 * then its DELETE is enqueued on the delete stream (Nats-Msg-Id = the session id: every replica
 * sees the webhook, the stream keeps one) and the intent deleted. Anything else, an error or a
 * timeout included, leaves the session alone: a leak is better than deleting a live player's
 * session. Counted: mm_matchmaker_orphans_deleted_total (enqueues the stream took as new).
 *
 * What it never does: touch the provisioner's state, call Edgegap itself (the delete worker
 * does), or act on a webhook without an intent (the reference's URL) or on its own intents.
 */
#ifndef MM_ORPHANS_H
#define MM_ORPHANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"
#include "mm/intent.h"
#include "mm/kv.h"

/* A live replica answers a request on MM_REPLICA_SUBJECT_PREFIX<its replica id>. */
#define MM_REPLICA_SUBJECT_PREFIX "mm.replica."
/* Webhooks waiting for their check at most; beyond, dropped and counted. */
#define MM_ORPHANS_QUEUE_MAX 8192u

typedef struct mm_orphans mm_orphans;

typedef struct mm_orphans_config {
    natsConnection *nc;       /* borrowed */
    mm_js *js;                /* borrowed: needs the session buckets, mm_create_intents and the delete stream */
    uint64_t grace_ms;        /* how long after the webhook the check runs (> 0) */
    uint64_t ping_timeout_ms; /* the liveness request's wait; 0: 1000 */
} mm_orphans_config;

typedef struct mm_orphans_stats {
    uint64_t offered;  /* webhooks with another replica's intent taken into the queue */
    uint64_t dropped;  /* not taken: the queue was full, or stopping */
    uint64_t settled;  /* the intent was gone (its replica recorded the session or the create failed) */
    uint64_t alive;    /* the intent's replica answered (or the check timed out): left to it */
    uint64_t recorded; /* the session is in one of our buckets: the reaper's */
    uint64_t doubt;    /* a KV or NATS error, or a malformed record: left alone */
    uint64_t deleted;  /* orphans whose DELETE this replica enqueued first (mm_matchmaker_orphans_deleted_total) */
} mm_orphans_stats;

/**
 * Makes this process's replica id (a fresh NATS nuid), subscribes MM_REPLICA_SUBJECT_PREFIX<id>
 * (answers every request at once, on nats.c's thread) and starts the thread. MM_ERR_INVALID
 * (bad config), MM_ERR_IO (subscribe), MM_ERR_NOMEM; why says which.
 */
mm_err mm_orphans_start(const mm_orphans_config *config, mm_orphans **out, char *why, size_t why_len);

/** This replica's id (the prefix of its intents): valid until destroy. */
const char *mm_orphans_replica(const mm_orphans *o);

/**
 * A webhook for session_id came with intent (any thread). An intent of this replica, an invalid
 * one or a NULL one is ignored; else it is queued for its check grace_ms from now (a full queue:
 * dropped and counted). Never waits beyond the queue's mutex.
 */
void mm_orphans_offer(mm_orphans *o, const char *session_id, const char *intent);

void mm_orphans_get_stats(mm_orphans *o, mm_orphans_stats *out);

/** Stops the thread (the queue is dropped: a leak, never a wrong delete), unsubscribes, frees.
 * Accepts NULL. */
void mm_orphans_destroy(mm_orphans *o);

#endif
