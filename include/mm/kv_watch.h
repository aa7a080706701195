/*
 * KV watchers: one thread per watched bucket turns every operation on the bucket into an owned
 * mm_kv_event and posts it to an actor (ARCHITECTURE.md, "Threads of the matchmaker").
 *
 * nats.c offers the watch only through the blocking kvWatcher_Next (docs/libnotes.md, nats.c), so each
 * watcher is a thread of its own that may block; it never runs on an event loop.
 *
 * What the actor receives, in this order per watcher:
 *   1. the current value of every key (PUT), and for deleted or purged keys their marker
 *      (DELETE or PURGE), each with `initial` set;
 *   2. one MM_KV_OP_INITIAL_DONE event (no key), also when the bucket is empty;
 *   3. every later operation, as it happens (`initial` clear).
 * Entries removed by the bucket's max age (TTL) produce no event at all (nats.c 3.4.1,
 * docs/libnotes.md): a receiver that must notice expiry has to keep its own clock.
 *
 * Re-delivery: when the watch has to be made again (an error from kvWatcher_Next, a watch that
 * fell behind the stream or whose stream lost a node, see health_ms), steps 1-3 repeat with a higher `generation`:
 * the current values arrive again. Receivers must treat events idempotently (a revision they
 * have seen for a key, or an older one, changes nothing). After a plain server restart or
 * reconnect nats.c resumes the watch by itself (measured, see docs/reaper_and_deleter.md), and
 * nothing is re-delivered.
 *
 * Nothing is dropped silently: when the actor's inbox is full the thread retries the same event
 * with a short backoff (1 ms doubling up to 50 ms), counts each refusal and logs it (at most one
 * line per 10 s).
 * Only a target that has stopped (MM_ERR_STOPPED) makes the watcher give up; it then frees the
 * event, logs once and idles until mm_kv_watch_stop().
 */
#ifndef MM_KV_WATCH_H
#define MM_KV_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/actor.h"
#include "mm/err.h"
#include "mm/kv.h"

typedef enum mm_kv_op {
    MM_KV_OP_PUT = 1,
    MM_KV_OP_DELETE = 2,       /* a delete marker (the key has no value) */
    MM_KV_OP_PURGE = 3,        /* a purge marker (the key's history was removed) */
    MM_KV_OP_INITIAL_DONE = 4, /* no key: the current values of this generation were all delivered */
} mm_kv_op;

/**
 * One operation, owned by whoever holds it; free it with mm_kv_event_free(). One allocation:
 * the strings point into the same block.
 */
typedef struct mm_kv_event {
    mm_kv_op op;
    bool initial;         /* part of the current values delivered before this generation's marker */
    uint32_t generation;  /* 1 for the first watch, +1 each time the watch is made again */
    uint64_t revision;    /* the entry's stream sequence; 0 for the marker */
    int64_t created_ns;   /* when the server stored this operation, unix nanoseconds; 0 for the marker */
    const char *bucket;   /* bucket name */
    const char *key;      /* the key; "" for the marker */
    const uint8_t *value; /* value_len bytes, followed by a NUL so text can be read as a string */
    size_t value_len;     /* 0 for DELETE, PURGE and the marker */
} mm_kv_event;

/** Frees an event received from a watcher. Accepts NULL. */
void mm_kv_event_free(mm_kv_event *event);

/** The name of op ("put", "delete", "purge", "initial-done"), never NULL. */
const char *mm_kv_op_name(mm_kv_op op);

typedef struct mm_kv_watch_config {
    natsConnection *nc; /* the connection js was set up on; checked before health probes */
    mm_js *js;          /* must have bucket bound; must outlive the watcher */
    mm_kv_bucket bucket;
    mm_actor *target;    /* receives every event; must outlive the watcher (stop the watcher first) */
    uint32_t msg_type;   /* mm_msg.type of each message; mm_msg.ptr is the mm_kv_event */
    uint64_t msg_target; /* mm_msg.target of each message */
    int poll_ms;         /* longest single kvWatcher_Next wait; default 500 */
    /**
     * Health probe: after this long without an event, the watcher reads the bucket stream's last
     * sequence and peers. The watch is made again when the leader is not the one it had when the
     * watch was made, or a peer online then is offline now (in a JetStream cluster a dead node
     * takes the watch's consumer with it), or
     * when the stream was ahead of the last revision delivered at the previous probe too (and the
     * watch did not catch up meanwhile). Default 1000; negative disables the probe. nats.c 3.4.1
     * re-creates a lost consumer by itself only after two missed 5-second heartbeats (and that
     * fails while the cluster is still electing leaders): this brings the watch back sooner.
     */
    int health_ms;
    int retry_max_ms; /* cap of the backoff between attempts to make the watch; default 2000 */
    /**
     * How long a replaced watch is kept before it is destroyed, and how long a stop waits for the
     * youngest one to be that old (nats.c may still be re-creating its consumer: kv_watch.c).
     * Default 10000; tests that replace watches on purpose shorten it.
     */
    int retire_grace_ms;
} mm_kv_watch_config;

typedef struct mm_kv_watch_stats {
    uint64_t events;       /* events the target accepted, markers included */
    uint64_t markers;      /* MM_KV_OP_INITIAL_DONE events among them */
    uint64_t full_retries; /* sends refused with MM_ERR_FULL (each was retried) */
    uint64_t watches;      /* watches made (1 + re-makes) */
    uint64_t stalls;       /* re-makes caused by the health probe: the watch fell behind */
    uint64_t moves;        /* re-makes caused by the health probe: the stream lost its leader or a peer */
    uint64_t errors;       /* failures of kvWatcher_Next (other than timeouts) or of making the watch */
    uint64_t dropped;      /* events freed because the target had stopped */
} mm_kv_watch_stats;

typedef struct mm_kv_watch mm_kv_watch;

/**
 * Validates config and starts the watcher thread, which makes the watch (retrying with backoff
 * while NATS is unreachable) and then delivers events. MM_ERR_INVALID (why says what) when a
 * required field is missing or the bucket is not bound in js; MM_ERR_NOMEM; MM_ERR_SYS when
 * the thread cannot be created.
 */
mm_err mm_kv_watch_start(const mm_kv_watch_config *config, mm_kv_watch **out, char *why, size_t why_len);

/**
 * Stops the watch (unblocking kvWatcher_Next and any full-inbox retry), joins the thread and
 * frees the event it held, if any. Events already accepted by the target stay there. Idempotent;
 * any thread but the watcher's own. Accepts NULL. Returns at once, except within 1.5 s of a
 * reconnect of the connection: then it waits that long (a nats.c race, see src/net/kv_watch.c).
 */
void mm_kv_watch_stop(mm_kv_watch *watch);

/** Stops (if needed) and frees. Accepts NULL. */
void mm_kv_watch_destroy(mm_kv_watch *watch);

/** Counters; any thread. */
void mm_kv_watch_get_stats(mm_kv_watch *watch, mm_kv_watch_stats *stats);

#endif
