/*
 * The all-in-one backend (`bevygap_matchmaker --http ADDR`): an mm_front_backend
 * (include/mm/front.h) that hands each request of the web front straight to the provisioner
 * actor's inbox (mm_provisioner_submit), with no NATS hop. The provisioner streams feedback texts
 * into the front's relay sink exactly as it does into a NATS reply sink; for WANNAPLAY the front
 * turns the SessionReady text into the one answer.
 *
 * Requests for another game or version than the one this matchmaker serves are answered
 * Error(503, "no matchmaker is serving <game> <version>"), the same answer the NATS bridge gives
 * when nobody subscribes to that subject. ready() is true while the backend is open and the NATS
 * connection (which the provisioner needs for its KV writes) is connected.
 *
 * Threads: submit, ready and metrics from any thread (front loops), never blocking; create, close
 * and destroy from the owner thread. The provisioner and the connection are borrowed and must
 * outlive the backend. Shutdown order: mm_front_stop, mm_direct_backend_close, then the
 * provisioner's stop (it frees every sink it holds), mm_front_destroy, mm_direct_backend_destroy.
 */
#ifndef MM_DIRECT_BACKEND_H
#define MM_DIRECT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"
#include "mm/front.h"
#include "mm/orphans.h"
#include "mm/provisioner.h"

typedef struct mm_direct_backend_config {
    mm_provisioner *provisioner; /* borrowed; required */
    struct mm_orphans *orphans;  /* borrowed; NULL: webhooks' intents are not checked (include/mm/orphans.h) */
    natsConnection *nc;          /* borrowed; required (readiness) */
    const char *app;             /* the game this matchmaker serves; required (copied) */
    const char *version;         /* its version; required (copied) */
} mm_direct_backend_config;

typedef struct mm_direct_backend_stats {
    uint64_t submitted;  /* requests handed to the provisioner */
    uint64_t other_game; /* answered 503: a game or version this matchmaker does not serve */
    uint64_t busy;       /* refused: the provisioner's inbox was full (the front answers 503) */
    uint64_t stopped;    /* refused: closed or the provisioner is stopping */
    uint64_t failed;     /* refused for another reason (the front answers 500) */
    uint64_t webhooks;   /* Edgegap webhooks handed to the provisioner (mm_provisioner_webhook) */
    uint64_t webhooks_refused; /* webhooks the provisioner refused (inbox full) or that came while closed */
} mm_direct_backend_stats;

typedef struct mm_direct_backend mm_direct_backend;

/** MM_ERR_INVALID (why names what is missing or too long), MM_ERR_NOMEM. */
mm_err mm_direct_backend_create(const mm_direct_backend_config *config, mm_direct_backend **out, char *why, size_t why_len);

/**
 * The backend's submit (front.h). MM_OK: the provisioner (or, for another game, this function,
 * which has already answered 503 and freed it) owns sink. Otherwise the provisioner's refusal
 * (MM_ERR_FULL, MM_ERR_STOPPED, MM_ERR_NOMEM, MM_ERR_INVALID) and the caller still owns sink.
 */
mm_err mm_direct_backend_submit(mm_direct_backend *d, const mm_front_request *req, mm_reply_sink *sink);

/**
 * The backend's webhook (front.h): mm_provisioner_webhook. MM_OK: posted; its refusal
 * (MM_ERR_FULL, ...) or MM_ERR_STOPPED when closed: the front answers 503. Counted.
 */
mm_err mm_direct_backend_webhook(mm_direct_backend *d, const char *session_id);
/** As mm_direct_backend_webhook; a non-NULL intent is also offered to config.orphans (mm_orphans_offer). */
mm_err mm_direct_backend_webhook_intent(mm_direct_backend *d, const char *session_id, const char *intent);

/** The backend's ready: open and NATS connected. */
bool mm_direct_backend_ready(mm_direct_backend *d);

/** The backend's metrics: the counters above in Prometheus text form (front.h contract). */
size_t mm_direct_backend_metrics(mm_direct_backend *d, char *buf, size_t len);

/** Fills *out with ctx = d and the three functions above. */
void mm_direct_backend_backend(mm_direct_backend *d, mm_front_backend *out);

void mm_direct_backend_get_stats(mm_direct_backend *d, mm_direct_backend_stats *out);

/** Later submits return MM_ERR_STOPPED and ready() is false. Any thread; idempotent. */
void mm_direct_backend_close(mm_direct_backend *d);

/** Frees. No thread may call submit any more. Accepts NULL. */
void mm_direct_backend_destroy(mm_direct_backend *d);

#endif
