/*
 * Internal to the session reaper (include/mm/reaper.h), shared by its two files:
 *   reaper.c     the actor: session table, KV events, the scan, start/stop, stats;
 *   reaper_js.c  its JetStream side: its own context, the asynchronous publishes (enqueue,
 *                revision-checked remove), their outcomes posted back to the actor, deadlines.
 * Everything here is touched on the actor thread only, except the atomic counters (any thread)
 * and what mm_reaper_start/stop/destroy set up before the actor runs or after it stopped.
 */
#ifndef MM_ACTORS_REAPER_INTERNAL_H
#define MM_ACTORS_REAPER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/actor.h"
#include "mm/delete_queue.h"
#include "mm/idmap.h"
#include "mm/kv_watch.h"
#include "mm/reaper.h"

/* The actor's messages: KV events of its two watchers, outcomes of its publishes. */
enum { MM__REAPER_MSG_UNCLAIMED = 1, MM__REAPER_MSG_ACTIVE = 2, MM__REAPER_MSG_OUTCOME = 3 };

enum mm__reaper_reason { MM__REAPER_UNCLAIMED = 0, MM__REAPER_DISCONNECTED = 1 };

/* Publishes awaiting their outcome, at most (the rest waits; see mm__reaper_work_pass). */
#define MM__REAPER_MAX_IN_FLIGHT 2048

typedef struct mm__reaper_session mm__reaper_session;
struct mm__reaper_session {
    mm__reaper_session *chain;       /* next session with the same hash */
    mm__reaper_session *prev, *next; /* every session, for scans */
    uint64_t hash;
    uint64_t unclaimed_rev;  /* revision of its unclaimed_sessions entry; 0: it has none */
    uint64_t unclaimed_seen; /* highest unclaimed_sessions revision seen for the key */
    int64_t created_ns;      /* creation time of that entry (server clock, unix ns) */
    uint64_t active_seen;    /* highest active_connections revision seen for the key */
    bool active;             /* active_connections holds it */
    /* Work flags: set by events and the scan, cleared only when JetStream acknowledged the work
     * (or refused a remove because the key changed, which means someone else acted). */
    bool want_enqueue; /* its deletion must still be enqueued, for `reason` */
    bool want_remove;  /* its unclaimed_sessions entry must still be removed */
    bool reaped;       /* enqueued for being unclaimed too long (not again for this entry) */
    bool failure_logged;
    /* In flight (each counts in mm_reaper.in_flight): published, outcome not applied yet. */
    bool enqueue_pending;
    uint64_t enqueue_deadline_ns; /* monotonic; past it the scan publishes again */
    uint64_t remove_rev;          /* the revision a remove in flight is checked against; 0: none */
    uint64_t remove_deadline_ns;
    enum mm__reaper_reason reason;
    char id[MM_SESSION_ID_MAX + 1];
};

struct mm_reaper {
    uint64_t limit_ns, scan_period_ms, replay_ns;
    int64_t ack_wait_ms; /* MaxWait of each publish */
    uint64_t pending_ns; /* how long a publish stays "in flight" without an outcome */
    natsConnection *nc;
    kvStore *unclaimed; /* owned by the mm_js; used for its bucket name */
    jsCtx *jsctx;       /* the reaper's own, with its AckHandler (reaper_js.c) */
    uint64_t route;     /* its handler's closure: a token, not a pointer (reaper_js.c) */
    mm_actor *actor;
    mm_kv_watch *watch_unclaimed, *watch_active;

    /* actor thread only */
    mm_idmap table;
    mm__reaper_session *head;
    mm_timer scan_timer;
    mm_actor *self;
    bool unclaimed_ready, active_ready; /* each watcher delivered its current values once */
    uint64_t high[2];                   /* highest revision handled per bucket (MSG_UNCLAIMED - 1, MSG_ACTIVE - 1) */
    bool nats_down;                     /* a publish or its outcome failed on the connection: handlers wait for a scan */
    bool nats_down_logged;              /* ... said once, until something succeeds again */
    bool backlog;                       /* work was left undone because MAX_IN_FLIGHT publishes were out */
    uint32_t in_flight;

    atomic_uint_fast64_t tracked, claimed, enq[2], removed, skipped, replay_skipped, redelivered, failures, invalid, events, scans;
    atomic_uint_fast64_t published, in_flight_now, expired, outcomes_dropped;
};

/* ---- reaper.c ---- */

/* The session with this id, or NULL. */
mm__reaper_session *mm__reaper_session_find(mm_reaper *r, const char *id);

/* Sets the revision of s's unclaimed_sessions entry (0: none), keeping `tracked` right. */
void mm__reaper_set_unclaimed(mm_reaper *r, mm__reaper_session *s, uint64_t rev);

/* Frees s when nothing about it needs remembering. */
void mm__reaper_session_settle(mm_reaper *r, mm__reaper_session *s);

/* ---- reaper_js.c ---- */

/**
 * Before the actor starts: creates r->jsctx on r->nc with the acknowledgement handler and
 * registers the route the handler posts outcomes through (to nobody yet: outcomes are dropped
 * until mm__reaper_js_attach). MM_ERR_IO / MM_ERR_NOMEM with why.
 */
mm_err mm__reaper_js_open(mm_reaper *r, char *why, size_t why_len);

/** Once r->actor runs: outcomes go to it from now on. */
void mm__reaper_js_attach(mm_reaper *r);

/**
 * After the actor stopped: no handler posts to it any more once this returns; then the context
 * is destroyed (pending publishes forgotten: their work is redone by a later scan of any reaper).
 * Safe on a reaper whose open failed or never ran; idempotent.
 */
void mm__reaper_js_close(mm_reaper *r);

/**
 * Publishes what s still wants and has not in flight: its enqueue first; the remove only once the
 * enqueue was acknowledged (a crash in between must leave the entry, so the deletion is never
 * forgotten). Never waits for the server. MM_ERR_FULL when MAX_IN_FLIGHT publishes are out (sets
 * r->backlog); a publish nats.c refused is counted and logged (MM_ERR_IO etc.).
 */
mm_err mm__reaper_work(mm_reaper *r, mm__reaper_session *s);

/** Retires s's publishes whose outcome did not arrive by their deadline, so the scan retries them. */
void mm__reaper_expire(mm_reaper *r, mm__reaper_session *s, uint64_t now_ns);

/** Forgets s's publishes in flight (s is being freed; a late outcome finds no session). */
void mm__reaper_forget(mm_reaper *r, mm__reaper_session *s);

/** Applies an outcome message (MM__REAPER_MSG_OUTCOME) and frees its payload. */
void mm__reaper_outcome(mm_reaper *r, mm_msg *msg);

/** Frees an outcome message's payload (the actor discards it). */
void mm__reaper_outcome_free(mm_msg *msg);

#endif
