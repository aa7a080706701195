/*
 * Webhook deliveries for edgegap_sim: POSTs of JSON bodies, made by a thread of their own with
 * libcurl's multi interface so the server's event loop never waits on a slow or dead receiver.
 *
 * The loop thread is the only producer: mm_sim_webhook_post copies the url and body into a job
 * and puts it on a bounded single-producer/single-consumer ring (Concurrency Kit), then wakes the
 * delivery thread with curl_multi_wakeup. A full ring is not a silent drop: the delivery counts
 * as failed, a warning is logged and the caller gets MM_ERR_FULL. A delivery fails when the
 * receiver cannot be reached, does not answer within the timeout or answers a status >= 300;
 * each failure is logged. Counters may be read from any thread.
 */
#ifndef MM_SIM_EDGEGAP_WEBHOOK_H
#define MM_SIM_EDGEGAP_WEBHOOK_H

#include <stdint.h>

#include "mm/err.h"

typedef struct mm_sim_webhook mm_sim_webhook;

/**
 * Starts the delivery thread, with every signal blocked in it (signals go to the caller's
 * threads). queue_cap bounds the jobs waiting (the ring is the next power of two above it);
 * timeout_ms bounds each delivery. Returns MM_ERR_SYS when the thread or libcurl cannot start
 * (logged).
 */
mm_err mm_sim_webhook_start(uint32_t queue_cap, uint64_t timeout_ms, mm_sim_webhook **out);

/**
 * Queues a POST of body (JSON text, Content-Type: application/json) to url; both are copied.
 * Only one thread may call this. MM_ERR_FULL when the queue is full (counted as failed).
 */
mm_err mm_sim_webhook_post(mm_sim_webhook *webhook, const char *url, const char *body);

typedef struct mm_sim_webhook_counts {
    uint64_t sent;    /* delivered with a 2xx answer */
    uint64_t failed;  /* refused by a full queue, unreachable, timed out or answered >= 300 */
    uint64_t pending; /* queued or in flight */
} mm_sim_webhook_counts;

/** A snapshot of the counters (counted since start or the last reset). */
mm_sim_webhook_counts mm_sim_webhook_get_counts(const mm_sim_webhook *webhook);

/** Zeroes sent and failed (POST /__sim/reset); deliveries under way still count when they end. */
void mm_sim_webhook_reset_counts(mm_sim_webhook *webhook);

/** Stops the thread (deliveries under way are abandoned), frees queued jobs. Accepts NULL. */
void mm_sim_webhook_stop(mm_sim_webhook *webhook);

#endif
