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
 * Back-off (AIMD): an Edgegap 429 halves the multiplier (at most once a second) and is announced
 * on the core subject mm.fleet.backoff, so every replica halves with it; the multiplier grows
 * back by MM_BUDGET_RECOVERY_PER_S of the budget each second, up to 1, and never falls below
 * MM_BUDGET_MIN_MULTIPLIER.
 *
 * Tokens: mm_budget_take() is a token bucket refilled at the share, holding at most a quarter
 * second of it (at least one token): the burst allowance; it starts full. Creates come first; while both wait,
 * every MM_BUDGET_CREATES_PER_POLL-th token goes to a poll, so sessions already made are still
 * seen ready during a launch.
 *
 * Threads: a heartbeat thread of its own (puts, recomputes, logs share changes); nats.c's
 * delivery thread for the two subscriptions; the share, multiplier and counters are atomics or
 * under the budget's mutex. mm_budget_take/wait_ms and an mm_budget_bucket belong to one thread
 * (the provisioner's). Nothing here blocks that thread.
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
#define MM_BUDGET_CREATES_PER_POLL 3

typedef struct mm_budget mm_budget;

typedef struct mm_budget_config {
    natsConnection *nc;    /* borrowed; must outlive the budget */
    jsCtx *js;             /* borrowed: binds mm_fleet, creating it when missing */
    double budget_rps;     /* the fleet's Edgegap requests per second; > 0 */
    uint64_t heartbeat_ms; /* 0: MM_BUDGET_DEFAULT_HEARTBEAT_MS; 50..60000 */
    int kv_replicas;       /* of a new mm_fleet bucket: 0 or 1, or 3 */
    bool memory_storage;   /* of a new mm_fleet bucket */
} mm_budget_config;

typedef struct mm_budget_stats {
    double budget_rps;      /* as configured */
    double share_rps;       /* this replica's share now */
    double multiplier;      /* the AIMD multiplier, MM_BUDGET_MIN_MULTIPLIER..1 */
    uint32_t replicas;      /* live replicas heard, this one included */
    uint64_t rate_limited;  /* Edgegap 429 answers seen by this replica */
    uint64_t halvings;      /* times the multiplier was halved here */
    uint64_t backoffs_sent; /* back-off notes published */
    uint64_t backoffs_heard;
    uint64_t granted;       /* tokens granted (requests let through) */
} mm_budget_stats;

/** Starts the budget: binds or creates mm_fleet, subscribes, announces this replica. */
mm_err mm_budget_start(const mm_budget_config *config, mm_budget **out, char *why, size_t why_len);
/** Deletes this replica's entry (the others rebalance at once) and stops the thread. Idempotent. */
void mm_budget_stop(mm_budget *b);
/** Stops (if needed) and frees. Accepts NULL. */
void mm_budget_destroy(mm_budget *b);
/** This replica's id (its key in mm_fleet). */
const char *mm_budget_replica_id(const mm_budget *b);
/** An Edgegap 429 was answered here: halve (if not halved within MM_BUDGET_HOLD_MS) and tell the fleet. Any thread. */
void mm_budget_note_429(mm_budget *b);
/** This replica's share in requests per second. Any thread. */
double mm_budget_share_rps(const mm_budget *b);
void mm_budget_get_stats(const mm_budget *b, mm_budget_stats *out);

/** The token bucket of one thread. Zero-initialise it. */
typedef struct mm_budget_bucket {
    double tokens;
    uint64_t last_ms;
    unsigned creates_in_row; /* creates granted since the last poll */
    bool primed;             /* filled once, at the first share */
} mm_budget_bucket;

/**
 * One token for a create (create true) or a poll, now: false when there is none, or when the
 * other kind has precedence (other_waiting: polls wait, for a create; creates wait, for a poll).
 * peek: only says whether it would be granted. Owner thread of k.
 */
bool mm_budget_take(mm_budget *b, mm_budget_bucket *k, bool create, bool other_waiting, bool peek);
/** Milliseconds until k holds a token again (1..1000). */
uint64_t mm_budget_wait_ms(mm_budget *b, mm_budget_bucket *k);

#endif
