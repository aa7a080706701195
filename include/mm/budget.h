/*
 * The fleet's Edgegap budget (ARCHITECTURE.md "Edgegap budget and waiting room", docs/protocol.md
 * section 4): one request rate, set by --edgegap-budget, shared by every live matchmaker
 * replica.
 *
 * Membership: each replica puts its id into the KV bucket mm_fleet (max age 3 heartbeats) every
 * heartbeat, and hears every replica's puts and deletes on a core subscription to
 * $KV.mm_fleet.> (an entry that expires makes no event: a replica not heard for 3 heartbeats is
 * gone). A replica that stops deletes its entry, so the others see it leave at once; one that is
 * killed is dropped after 3 heartbeats. Its share is budget * multiplier / N, N the replicas
 * heard (itself included), recomputed every heartbeat. For its first heartbeat a replica has no
 * share (it has not heard the others yet, and taking the whole budget would overshoot):
 * mm_budget_start returns after it, so the replica is not ready before.
 *
 * Classes: Edgegap (and edgegap_sim) rate-limit per endpoint class, so the budget is one per
 * class: create (session POSTs: --edgegap-budget), get (session status GETs:
 * --edgegap-get-budget) and delete (the delete worker's DELETEs: --edgegap-delete-budget). A
 * class with no budget (0) is not gated. Each class has its own share (its budget * its
 * multiplier / N, the same N for all), its own AIMD multiplier and its own token bucket, so
 * creates never wait for polls' tokens nor polls for creates'.
 *
 * Back-off (AIMD, per class): an Edgegap 429 on a request of class C halves C's multiplier (at
 * most once a second) and is announced on the core subject mm.fleet.backoff (payload: the
 * replica id; header Mm-Budget-Class: create|get|delete, absent = create), so every replica
 * halves C with it and no other class; the multiplier grows back by MM_BUDGET_RECOVERY_PER_S of
 * the budget each second, up to 1, and never falls below MM_BUDGET_MIN_MULTIPLIER.
 *
 * Tokens: mm_budget_take() draws from a token bucket per class refilled at the class's share,
 * holding at most a quarter second of it (at least one token): the burst allowance; it starts
 * full. An mm_budget_bucket holds one thread's buckets of every class: the provisioner's
 * (creates and polls) and the delete worker's (deletes) are separate.
 *
 * Threads: a heartbeat thread of its own (puts, recomputes, logs share changes); nats.c's
 * delivery thread for the two subscriptions; the shares, multipliers and counters are atomics or
 * under the budget's mutex. mm_budget_take/wait_ms and an mm_budget_bucket belong to one thread
 * (the provisioner's, or the delete worker's). Nothing here blocks that thread.
 */
#ifndef MM_BUDGET_H
#define MM_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"

#define MM_BUDGET_BUCKET "mm_fleet"
#define MM_BUDGET_BACKOFF_SUBJECT "mm.fleet.backoff"
#define MM_BUDGET_DEFAULT_HEARTBEAT_MS 1000
#define MM_BUDGET_TTL_HEARTBEATS 3
#define MM_BUDGET_RECOVERY_PER_S 0.05
#define MM_BUDGET_MIN_MULTIPLIER (1.0 / 64)
#define MM_BUDGET_HOLD_MS 1000 /* at most one halving per this long */
#define MM_BUDGET_CLASS_HEADER "Mm-Budget-Class"

typedef struct mm_budget mm_budget;

/** The budget's request classes (Edgegap's rate-limit classes; "other" calls are not gated). */
typedef enum mm_budget_class {
    MM_BUDGET_CREATE = 0, /* POST /v1/session */
    MM_BUDGET_GET,        /* GET /v1/session/{id} */
    MM_BUDGET_DELETE,     /* DELETE /v1/session/{id} */
    MM_BUDGET_CLASS_COUNT
} mm_budget_class;

/** "create", "get", "delete". */
const char *mm_budget_class_name(mm_budget_class c);
/** The class of a name as above: true when known. */
bool mm_budget_class_parse(const char *name, size_t len, mm_budget_class *out);

typedef struct mm_budget_config {
    natsConnection *nc;    /* borrowed; must outlive the budget */
    jsCtx *js;             /* borrowed: binds mm_fleet, creating it when missing */
    double budget_rps;     /* the fleet's session creates per second; > 0 */
    double get_rps;        /* the fleet's session GETs per second; 0: not gated */
    double delete_rps;     /* the fleet's session DELETEs per second; 0: not gated */
    uint64_t heartbeat_ms; /* 0: MM_BUDGET_DEFAULT_HEARTBEAT_MS; 50..60000 */
    int kv_replicas;       /* of a new mm_fleet bucket: 0 or 1, or 3 */
    bool memory_storage;   /* of a new mm_fleet bucket */
} mm_budget_config;

typedef struct mm_budget_stats {
    double budget_rps;      /* the create class's, as configured */
    double share_rps;       /* the create class's share now */
    double multiplier;      /* the create class's AIMD multiplier, MM_BUDGET_MIN_MULTIPLIER..1 */
    uint32_t replicas;      /* live replicas heard, this one included */
    uint64_t rate_limited;  /* Edgegap 429 answers seen by this replica (all classes) */
    uint64_t halvings;      /* times a multiplier was halved here (all classes) */
    uint64_t backoffs_sent; /* back-off notes published */
    uint64_t backoffs_heard;
    uint64_t granted;       /* tokens granted (requests let through, all classes) */
    /* per class (index mm_budget_class); a class budget of 0 is not gated */
    double class_budget_rps[MM_BUDGET_CLASS_COUNT];
    double class_share_rps[MM_BUDGET_CLASS_COUNT];
    double class_multiplier[MM_BUDGET_CLASS_COUNT];
    uint64_t class_halvings[MM_BUDGET_CLASS_COUNT];
    uint64_t class_granted[MM_BUDGET_CLASS_COUNT];
} mm_budget_stats;

/** Starts the budget: binds or creates mm_fleet, subscribes, announces this replica. */
mm_err mm_budget_start(const mm_budget_config *config, mm_budget **out, char *why, size_t why_len);
/** Deletes this replica's entry (the others rebalance at once) and stops the thread. Idempotent. */
void mm_budget_stop(mm_budget *b);
/** Stops (if needed) and frees. Accepts NULL. */
void mm_budget_destroy(mm_budget *b);
/** This replica's id (its key in mm_fleet). */
const char *mm_budget_replica_id(const mm_budget *b);
/** An Edgegap 429 was answered here to a request of class c: halve c (if not halved within
 * MM_BUDGET_HOLD_MS) and tell the fleet. Any thread. */
void mm_budget_note_429(mm_budget *b, mm_budget_class c);
/** This replica's create share in requests per second. Any thread. */
double mm_budget_share_rps(const mm_budget *b);
/** This replica's share of class c in requests per second (0: c not gated). Any thread. */
double mm_budget_class_share_rps(const mm_budget *b, mm_budget_class c);
/** True when class c has a budget (its requests wait for tokens). */
bool mm_budget_gates(const mm_budget *b, mm_budget_class c);
void mm_budget_get_stats(const mm_budget *b, mm_budget_stats *out);

/** The token buckets (one per class) of one thread. Zero-initialise it. */
typedef struct mm_budget_bucket {
    double tokens[MM_BUDGET_CLASS_COUNT];
    uint64_t last_ms[MM_BUDGET_CLASS_COUNT];
    bool primed[MM_BUDGET_CLASS_COUNT]; /* filled once, at the class's first share */
} mm_budget_bucket;

/**
 * One token of class c, now: false when there is none (always true for a class without a
 * budget, or b NULL). peek: only says whether it would be granted. Owner thread of k.
 */
bool mm_budget_take(mm_budget *b, mm_budget_bucket *k, mm_budget_class c, bool peek);
/** Milliseconds until k holds a token of class c again (1..1000; 1 for a class not gated). */
uint64_t mm_budget_wait_ms(mm_budget *b, mm_budget_bucket *k, mm_budget_class c);

#endif
