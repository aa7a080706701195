/*
 * The matchmaker's metrics registry (docs/matchmaker.md, "Metrics"): one per process, fixed at
 * build time, every series a relaxed atomic, so an actor thread, a nats.c callback or libcurl's
 * completion bumps a counter with one call, without a lock and without knowing who scrapes.
 * Rendered with the Prometheus text writer (include/mm/prom.h) by mm_metrics_render: on the
 * matchmaker's own admin listener (`--admin-bind`, split mode) and appended to the web front's
 * /metrics in the all-in-one process, so both modes show the same names.
 *
 * Why one process-wide registry and not a pointer threaded through every config: these are
 * independent monotonic counters and levels with no invariant between them (nothing reads them
 * to decide anything), exactly what Prometheus clients keep in their default registry; the
 * actors keep their own state and their own stats. A process runs one matchmaker. Tests that
 * run several provisioners in one process read differences, never absolute values.
 *
 * Names, labels and units (Prometheus conventions): counters end in _total, durations are
 * histograms in seconds, every label value comes from a fixed list (an HTTP status outside the
 * list is error_other). Histograms have fixed buckets; a sample costs a few relaxed atomic adds.
 *
 * Threads: every function may be called from any thread at any time, also before
 * mm_metrics_init (the start time is then 0).
 */
#ifndef MM_METRICS_H
#define MM_METRICS_H

#include <stddef.h>
#include <stdint.h>

/** Edgegap API endpoint of a call: label endpoint="create|get|delete|other". */
typedef enum mm_metric_endpoint {
    MM_METRIC_EP_CREATE = 0, /* POST /v1/session */
    MM_METRIC_EP_GET,        /* GET /v1/session/{id} */
    MM_METRIC_EP_DELETE,     /* DELETE /v1/session/{id} */
    MM_METRIC_EP_OTHER,      /* app and version checks */
    MM_METRIC_EP_COUNT
} mm_metric_endpoint;

/** Plain counters (no labels). */
typedef enum mm_metric_counter {
    MM_METRIC_CERT_DIGEST_WAITS = 0, /* mm_matchmaker_cert_digest_waits_total */
    MM_METRIC_TOKENS_MINTED,         /* mm_matchmaker_tokens_minted_total */
    MM_METRIC_JS_RESENT,             /* mm_jetstream_publishes_resent_total */
    MM_METRIC_JS_GIVEN_UP,           /* mm_jetstream_publishes_given_up_total */
    MM_METRIC_KV_WATCH_REMAKES,      /* mm_kv_watch_remakes_total */
    MM_METRIC_NATS_RECONNECTS,       /* mm_nats_reconnects_total */
    MM_METRIC_WR_ADMITTED,           /* mm_waiting_room_admitted_total (set by the budget's admission) */
    MM_METRIC_WR_REFUSED,            /* mm_waiting_room_refused_total */
    MM_METRIC_WR_LEFT,               /* mm_waiting_room_left_total */
    MM_METRIC_REPLY_HEARTBEATS,      /* mm_reply_heartbeats_total: heartbeats on reply subjects (split mode) */
    MM_METRIC_REPLICA_ALIVE,         /* mm_replica_alive_total: liveness messages on mm.alive.<nuid> */
    MM_METRIC_ORPHANS_DELETED,       /* mm_matchmaker_orphans_deleted_total (include/mm/orphans.h) */
    MM_METRIC_COUNTER_COUNT
} mm_metric_counter;

/** Gauges: integer levels, moved with mm_metric_add or set with mm_metric_set. */
typedef enum mm_metric_gauge {
    MM_METRIC_REQUESTS_WAITING = 0, /* mm_matchmaker_requests_waiting: session create not answered yet */
    MM_METRIC_REQUESTS_POLLING,     /* mm_matchmaker_requests_polling: created, not ready yet */
    MM_METRIC_REQUESTS_CERT_WAIT,   /* mm_matchmaker_requests_cert_waiting: ready, waiting for its cert digest */
    MM_METRIC_REQUESTS_MINTING,     /* mm_matchmaker_requests_minting: at the minter or in the mint line */
    MM_METRIC_DELETER_BACKLOG,      /* mm_deleter_backlog: deletions in the stream not yet fetched */
    MM_METRIC_WR_LENGTH,            /* mm_waiting_room_length */
    MM_METRIC_WR_ESTIMATED_WAIT,    /* mm_waiting_room_estimated_wait_seconds */
    MM_METRIC_FLEET_REPLICAS,       /* mm_fleet_replicas */
    MM_METRIC_GAUGE_COUNT
} mm_metric_gauge;

/** Gauges with a fractional value, set only. */
typedef enum mm_metric_level {
    MM_METRIC_BUDGET_SHARE_RPS = 0,        /* mm_edgegap_budget_share_rps{class="create"}: this replica's share of --edgegap-budget */
    MM_METRIC_BUDGET_SHARE_GET_RPS,        /* mm_edgegap_budget_share_rps{class="get"}: of --edgegap-get-budget */
    MM_METRIC_BUDGET_SHARE_DELETE_RPS,     /* mm_edgegap_budget_share_rps{class="delete"}: of --edgegap-delete-budget */
    MM_METRIC_LEVEL_COUNT
} mm_metric_level;

/** mm_reaper_decisions_total{reason}. */
typedef enum mm_metric_reap_reason {
    MM_METRIC_REAP_UNCLAIMED = 0, /* reason="unclaimed": deletion enqueued, nobody claimed the session in time */
    MM_METRIC_REAP_DISCONNECTED,  /* reason="disconnected": deletion enqueued, the player left */
    MM_METRIC_REAP_CHANGED,       /* reason="changed": left alone, the entry changed (another replica acted) */
    MM_METRIC_REAP_REPLAY,        /* reason="old_disconnect": an old disconnect replayed at start, not enqueued again */
    MM_METRIC_REAP_COUNT
} mm_metric_reap_reason;

/** mm_deleter_deletes_total{outcome}. */
typedef enum mm_metric_delete_outcome {
    MM_METRIC_DEL_DELETED = 0,          /* outcome="deleted": 2xx */
    MM_METRIC_DEL_GONE,                 /* outcome="gone": 404/410, acked */
    MM_METRIC_DEL_ERROR,                /* outcome="error": failed, nak'ed for a retry */
    MM_METRIC_DEL_SKIPPED_DELETED,      /* outcome="skipped_already_deleted": known deleted, no call made */
    MM_METRIC_DEL_COUNT
} mm_metric_delete_outcome;

/** mm_matchmaker_webhooks_total{outcome}. */
typedef enum mm_metric_webhook_outcome {
    MM_METRIC_WH_RECEIVED = 0,  /* taken by the provisioner */
    MM_METRIC_WH_ROUTED_GET,    /* made a GET of the session */
    MM_METRIC_WH_IGNORED,       /* for no session this replica polls */
    MM_METRIC_WH_RATE_LIMITED,  /* a GET of that session was made within the window */
    MM_METRIC_WH_BAD,           /* a payload that is not {"session_id":"<id>"} */
    MM_METRIC_WH_COUNT
} mm_metric_webhook_outcome;

/**
 * Sets process_start_time_seconds to now and mm_build_info's version label (NULL: the build's
 * `git describe` at configure time). Call once, early, before any thread renders.
 */
void mm_metrics_init(const char *version);

void mm_metric_inc(mm_metric_counter c);
void mm_metric_add(mm_metric_gauge g, int64_t delta);
void mm_metric_set(mm_metric_gauge g, int64_t value);
void mm_metric_set_level(mm_metric_level l, double value);

/**
 * One finished Edgegap call: counted by endpoint and status class (status 0 or outside
 * 100..599: class="transport"), a 429 also in mm_edgegap_rate_limited_total, its duration
 * (nanoseconds) in mm_edgegap_request_duration_seconds. Calls cancelled before an answer are
 * not reported.
 */
void mm_metric_edgegap_call(mm_metric_endpoint ep, long status, uint64_t duration_ns);
/** A call repeated after a retryable failure (mm_edgegap_retries_total{endpoint}). */
void mm_metric_edgegap_retry(mm_metric_endpoint ep);

/**
 * A request ended: status 0 = SessionReady (outcome="ready", and its time in
 * mm_matchmaker_time_to_ready_seconds), 408 = outcome="timeout", else outcome="error_<status>"
 * for the statuses the matchmaker sends (400 401 403 404 409 410 422 429 500 502 503 504),
 * error_other for any other. duration_ns: from the request's arrival.
 */
void mm_metric_request_end(unsigned status, uint64_t duration_ns);
/** GETs of a session whose request ended (mm_matchmaker_edgegap_gets_per_session). */
void mm_metric_gets_per_session(uint64_t gets);

void mm_metric_reap(mm_metric_reap_reason reason);
void mm_metric_delete(mm_metric_delete_outcome outcome);
void mm_metric_webhook(mm_metric_webhook_outcome outcome);

/** Current value of a series, for tests and logs. */
uint64_t mm_metric_counter_get(mm_metric_counter c);
int64_t mm_metric_gauge_get(mm_metric_gauge g);

/**
 * Appends every series of the registry in Prometheus text form (version 0.0.4) to buf: whole
 * lines only (include/mm/prom.h). Returns the bytes written. About 9 KB in all.
 */
size_t mm_metrics_render(char *buf, size_t len);

#endif
