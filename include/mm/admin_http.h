/*
 * A small HTTP listener for probes and metrics (`bevygap_matchmaker --admin-bind HOST:PORT` in
 * split mode; docs/matchmaker.md, "Metrics"): GET /metrics (Prometheus text from the render
 * callback), GET /healthz (200 "ok" while the process runs), GET /readyz (200 while ready()
 * says so and no stop began, else 503). Anything else: 404; another method on those: 405.
 *
 * One thread of its own runs one h2o event loop (include/mm/front.h's loops are not used: the
 * matchmaker in split mode has no web front). At most MM_ADMIN_HTTP_MAX_CONNS connections at
 * once (more are closed at accept); h2o's own timeouts end idle and slow ones.
 *
 * Threads: start, stopping and destroy from one owner thread. render and ready run on the
 * listener's thread, any time between start and destroy: they must be safe there (atomics).
 */
#ifndef MM_ADMIN_HTTP_H
#define MM_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

#define MM_ADMIN_HTTP_MAX_CONNS 64
#define MM_ADMIN_HTTP_METRICS_MAX (256u * 1024) /* the largest /metrics body */

typedef struct mm_admin_http_config {
    const char *bind; /* "HOST:PORT" or "[V6]:PORT"; port 0 picks a free one */
    /** Appends Prometheus text to buf (at most len bytes, whole lines); returns the bytes written. */
    size_t (*render)(void *ctx, char *buf, size_t len);
    /** For /readyz; NULL: ready. */
    bool (*ready)(void *ctx);
    void *ctx;
    const char *name; /* for the log line "<name> admin listener (...) on <addr>"; NULL: "admin" */
} mm_admin_http_config;

typedef struct mm_admin_http mm_admin_http;

/**
 * Binds (a bad or busy address: MM_ERR_IO, why says which), starts the thread, logs the address.
 * The config's strings are copied; ctx must outlive the listener.
 */
mm_err mm_admin_http_start(const mm_admin_http_config *config, mm_admin_http **out, char *why, size_t why_len);

/** The port bound (useful with port 0). */
uint16_t mm_admin_http_port(const mm_admin_http *a);

/** From now on /readyz answers 503 "stopping" (a stop began; /metrics and /healthz go on). Any thread. */
void mm_admin_http_stopping(mm_admin_http *a);

/** Stops the thread, closes every connection, frees. Accepts NULL. */
void mm_admin_http_destroy(mm_admin_http *a);

#endif
