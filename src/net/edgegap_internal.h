/*
 * Internals of the Edgegap client shared by src/net/edgegap*.c (public contract: mm/edgegap.h).
 *
 * A request lives in exactly one list at a time: queue[its priority] (accepted, waiting for a
 * slot), running (its easy handle is in the multi handle) or done (answered or failed to start,
 * waiting to be delivered by mm_edgegap_perform). Delivery frees it.
 *
 * Invariants, true whenever user code runs (calls, callbacks): queue[URGENT].n +
 * queue[BACKGROUND].n <= max_queued; queue[BACKGROUND].n <= max_background_queued; and a slot is
 * free (running.n < max_in_flight) only when both queues are empty, or a gate is set and denied
 * the head of the queues its token.
 */
#ifndef MM_EDGEGAP_INTERNAL_H
#define MM_EDGEGAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "mm/edgegap.h"
#include "mm/metrics.h"

typedef struct mm__eg_request mm__eg_request;

/* The endpoint label of an operation (include/mm/metrics.h). */
static inline mm_metric_endpoint
mm__eg_endpoint(mm_edgegap_op op)
{
    return op == MM_EDGEGAP_SESSION_CREATE ? MM_METRIC_EP_CREATE
           : op == MM_EDGEGAP_SESSION_GET  ? MM_METRIC_EP_GET
           : op == MM_EDGEGAP_SESSION_DELETE ? MM_METRIC_EP_DELETE
                                             : MM_METRIC_EP_OTHER;
}

struct mm__eg_request {
    mm__eg_request *prev, *next;
    mm_edgegap *eg;
    mm_edgegap_op op;
    mm_edgegap_cb cb;
    void *ctx;
    char *url;  /* owned */
    char *body; /* owned; POST only */
    CURL *easy; /* while running */
    uint64_t accepted_ms;
    uint64_t started_ns; /* put on the network (mm_metric_edgegap_call's duration) */
    char subject[MM_EDGEGAP_MAX_SEGMENT + 1];
    /* the answer */
    char *resp;
    size_t resp_len, resp_cap;
    bool resp_too_large, resp_nomem;
    bool start_failed; /* never reached the network: curl refused the handle (out of memory) */
    CURLcode code;
    long status;
    long os_errno;
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct mm__eg_list {
    mm__eg_request *head, *tail;
    uint32_t n;
} mm__eg_list;

struct mm_edgegap {
    CURLM *multi;
    char *base_url; /* no trailing slash */
    char *user_agent;
    struct curl_slist *headers;      /* authorization (secret), accept, expect */
    struct curl_slist *headers_json; /* the same plus content-type, for POST */
    uint32_t max_in_flight, max_queued;
    uint32_t max_background_queued; /* max_queued - max(1, max_queued / 4): the rest is kept for urgent */
    uint32_t request_timeout_ms, connect_timeout_ms, max_response_bytes;
    mm__eg_list queue[MM_EDGEGAP_PRIORITY_COUNT], running, done;
    CURL **idle_easy; /* reset handles kept for reuse (TLS session cache), at most max_in_flight */
    uint32_t n_idle_easy;
    bool delivering; /* inside mm_edgegap_perform's delivery: nested perform is a no-op */
    bool closing;    /* inside destroy: calls are refused */
    mm_edgegap_stats stats;
    mm_edgegap_gate gate; /* take == NULL: no gate (mm_edgegap_set_gate) */
    char last_error[160];
};

/** Requests waiting in both queues. */
static inline uint32_t
mm__eg_queued_total(const mm_edgegap *eg)
{
    return eg->queue[MM_EDGEGAP_URGENT].n + eg->queue[MM_EDGEGAP_BACKGROUND].n;
}

/**
 * Checks that eg can take one more call of class priority now: MM_OK, MM_ERR_STOPPED
 * (destroying) or MM_ERR_FULL (every slot busy and no waiting place left for that class), the
 * refusal recorded as by mm__eg_refused. priority must be valid (the caller checked it).
 */
mm_err mm__eg_admit(mm_edgegap *eg, mm_edgegap_priority priority);

/**
 * Accepts a validated, admitted call: takes url and body (body may be NULL) in every case,
 * starts the request when a slot is free and nobody of its class or a higher one waits, else
 * queues it at the end of its class. MM_OK, or MM_ERR_NOMEM (not accepted, nothing to deliver).
 */
mm_err mm__eg_accept(mm_edgegap *eg, mm_edgegap_op op, mm_edgegap_priority priority, const char *subject, char *url, char *body,
                     mm_edgegap_cb cb, void *ctx);

/** Counts a refused call (err from mm_fail into eg->last_error) and returns err. */
mm_err mm__eg_refused(mm_edgegap *eg, mm_err err);

/**
 * Destroy's first half: delivers every request not yet delivered with outcome CANCELLED (calls
 * from those callbacks are refused) and leaves no easy handle in the multi handle.
 */
void mm__eg_cancel_all(mm_edgegap *eg);

/** True when text is a valid path segment (see mm/edgegap.h). */
bool mm__eg_segment_ok(const char *text);

/** What came back for one request, as the result parser needs it. */
typedef struct mm__eg_answer {
    mm_edgegap_op op;
    CURLcode code;
    const char *curl_error; /* curl's error buffer, may be "" */
    long os_errno;
    long status;
    const char *body;
    size_t body_len;
    bool body_too_large, body_nomem, start_failed;
    uint32_t max_body;
} mm__eg_answer;

/** Storage a result points into; json belongs to the caller after mm__eg_result_fill. */
typedef struct mm__eg_scratch {
    json_t *json;
    char message[MM_EDGEGAP_MAX_MESSAGE];
    mm_edgegap_port ports[MM_EDGEGAP_MAX_PORTS];
} mm__eg_scratch;

/** Classifies and parses an answer into out (all but subject and latency_ms). */
void mm__eg_result_fill(const mm__eg_answer *answer, mm__eg_scratch *scratch, mm_edgegap_result *out);

#endif
