/*
 * A probe client for the cluster fault test: starts one streamed request (POST
 * /matchmaker/request/<game>/<version>, docs/protocol.md section 2) every period, whatever happens to the
 * earlier ones, and records each request's start, end, outcome and session id. From that record
 * the test reads, per fault, how long the service took to answer "ready" again.
 *
 * One thread drives every request with one libcurl multi handle. Results are read after
 * cf_probe_stop().
 */
#ifndef PROBE_H
#define PROBE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum cf_outcome {
    CF_READY = 1,  /* SessionReady arrived, then the response ended */
    CF_ERROR = 2,  /* an Error(code, message) arrived */
    CF_BROKEN = 3, /* the response ended without SessionReady or Error (closed, HTTP error, timeout) */
} cf_outcome;

typedef struct cf_probe_result {
    uint64_t start_ms, end_ms; /* mm_now_ms() */
    cf_outcome outcome;
    int code;         /* CF_ERROR: the error code; CF_BROKEN: the HTTP status, or -curl code */
    char session[40]; /* from SessionRequestAccepted; "" when none came */
    char last[160];   /* the last line (or curl's error), for failure reports */
} cf_probe_result;

typedef struct cf_probe cf_probe;

/**
 * Starts probing url (http://HOST:PORT/matchmaker/request/<game>/<version>) every period_ms;
 * each request carries its own client_ip (82.0.x.y) and gives up after timeout_ms. NULL when
 * the thread cannot start.
 */
cf_probe *cf_probe_start(const char *url, int period_ms, int timeout_ms);

/** Requests started so far; any thread. */
int cf_probe_started(cf_probe *p);

/** Stops starting requests, waits for those in flight (each ends by its timeout) and joins. */
void cf_probe_stop(cf_probe *p);

/** The results after cf_probe_stop, in start order; *n receives their number. */
const cf_probe_result *cf_probe_results(cf_probe *p, int *n);

/**
 * For a fault at fault_ms, over probes started in [fault_ms, until_ms) and ended before until_ms
 * (one still running then was in flight at the next fault): *first_ready_ms is the
 * time from the fault to the end of the first ready probe, and *recovered_ms the time to the end
 * of the first ready probe started after the last failed one (both UINT64_MAX when none);
 * returns how many of those probes failed.
 */
int cf_probe_recovery(cf_probe *p, uint64_t fault_ms, uint64_t until_ms, uint64_t *first_ready_ms, uint64_t *recovered_ms);

/** Frees (after cf_probe_stop). Accepts NULL. */
void cf_probe_destroy(cf_probe *p);

#endif
