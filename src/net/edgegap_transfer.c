/*
 * Edgegap client: the life of a request (include/mm/edgegap.h, src/net/edgegap_internal.h).
 *
 * accepted ──► queue[class] ──(slot free)──► running ──(curl done)──► done ──(perform)──► callback, freed
 *                 └──────────────────────────────────────(destroy)──► callback CANCELLED, freed
 *
 * At most max_in_flight requests are running (their easy handles are in the multi handle); the
 * rest wait in two FIFOs, urgent and background, of at most max_queued together, background
 * holding at most max_background_queued of them. A freed slot goes to the oldest urgent
 * request, else to the oldest background one. A call starts its request at once only when a
 * slot is free and nobody of its class or a higher one waits, so within a class requests start
 * in the order they were accepted, also when a callback makes a new call. Callbacks run only
 * from mm_edgegap_perform (or destroy), after the freed slots were handed to waiting requests,
 * never from inside a curl callback or a call. The body of an answer is capped at
 * max_response_bytes while it arrives.
 *
 * Why nobody waits for ever: within a class the order is FIFO, so a waiting request is passed
 * only by urgent requests. Those are bounded (the caller makes one create per player and at most
 * max_queued of them wait), so a background request waits only while the client is saturated by
 * urgent work alone -- the overload where new players must come first. The reserved places mean
 * the opposite never happens: background requests cannot take the last places from urgent ones.
 *
 * A gate (mm_edgegap_set_gate: the fleet's Edgegap budget) adds one condition to every start:
 * its token for the request at the head of its queue. A freed slot goes to the urgent head when
 * it gets a token, else to the background head when that one gets one (tokens are per class: a
 * class out of tokens does not hold back the other's requests). Without a gate, nothing changes.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgegap_internal.h"
#include "mm/clock.h"
#include "mm/log.h"
#include "mm/metrics.h"

static void
list_push(mm__eg_list *list, mm__eg_request *req)
{
    req->next = NULL;
    req->prev = list->tail;
    if (list->tail != NULL)
        list->tail->next = req;
    else
        list->head = req;
    list->tail = req;
    list->n++;
}

static void
list_remove(mm__eg_list *list, mm__eg_request *req)
{
    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        list->head = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    else
        list->tail = req->prev;
    req->prev = req->next = NULL;
    list->n--;
}

static mm__eg_request *
list_pop(mm__eg_list *list)
{
    mm__eg_request *req = list->head;
    if (req != NULL)
        list_remove(list, req);
    return req;
}

static void
request_free(mm__eg_request *req)
{
    if (req == NULL)
        return;
    free(req->url);
    free(req->body);
    free(req->resp);
    free(req);
}

/* libcurl write callback: appends to the body; returning short makes curl fail the transfer. */
static size_t
on_body(char *data, size_t size, size_t n, void *user)
{
    mm__eg_request *req = user;
    size_t add = size * n;
    if (add > req->eg->max_response_bytes - req->resp_len) {
        req->resp_too_large = true;
        return 0;
    }
    if (req->resp_len + add + 1 > req->resp_cap) {
        size_t cap = req->resp_cap == 0 ? 4096 : req->resp_cap;
        while (cap < req->resp_len + add + 1)
            cap *= 2;
        if (cap > (size_t)req->eg->max_response_bytes + 1)
            cap = (size_t)req->eg->max_response_bytes + 1;
        char *grown = realloc(req->resp, cap);
        if (grown == NULL) {
            req->resp_nomem = true;
            return 0;
        }
        req->resp = grown;
        req->resp_cap = cap;
    }
    memcpy(req->resp + req->resp_len, data, add);
    req->resp_len += add;
    req->resp[req->resp_len] = '\0';
    return add;
}

/* A handle back from a transfer: reset and keep it for the next request, or free it. */
static void
easy_recycle(mm_edgegap *eg, CURL *easy)
{
    if (easy == NULL)
        return;
    if (!eg->closing && eg->n_idle_easy < eg->max_in_flight) {
        curl_easy_reset(easy);
        eg->idle_easy[eg->n_idle_easy++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

/* Puts req on the network. MM_ERR_NOMEM when curl cannot take it (req untouched otherwise). */
static mm_err
request_start(mm_edgegap *eg, mm__eg_request *req)
{
    CURL *easy = eg->n_idle_easy > 0 ? eg->idle_easy[--eg->n_idle_easy] : curl_easy_init();
    CURLcode c = CURLE_OK;

    if (easy == NULL)
        return MM_ERR_NOMEM;
    req->errbuf[0] = '\0';
    req->started_ns = mm_now_ns();
#define SET(opt, value)                                                                                                            \
    do {                                                                                                                           \
        if (c == CURLE_OK)                                                                                                         \
            c = curl_easy_setopt(easy, opt, value);                                                                                \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PRIVATE, req);
    SET(CURLOPT_ERRORBUFFER, req->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, req);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)eg->request_timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)eg->connect_timeout_ms);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_USERAGENT, eg->user_agent);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)eg->max_response_bytes);
    SET(CURLOPT_HTTPHEADER, req->body != NULL ? eg->headers_json : eg->headers);
    if (req->op == MM_EDGEGAP_SESSION_CREATE) {
        SET(CURLOPT_POSTFIELDS, req->body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
    } else if (req->op == MM_EDGEGAP_SESSION_DELETE) {
        SET(CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    if (c != CURLE_OK || curl_multi_add_handle(eg->multi, easy) != CURLM_OK) {
        mm_warn("edgegap: could not start %s: %s", mm_edgegap_op_name(req->op),
                c != CURLE_OK ? curl_easy_strerror(c) : "curl_multi_add_handle failed");
        easy_recycle(eg, easy);
        return MM_ERR_NOMEM;
    }
    req->easy = easy;
    list_push(&eg->running, req);
    if (eg->running.n > eg->stats.in_flight_high_water)
        eg->stats.in_flight_high_water = eg->running.n;
    return MM_OK;
}

/* Fills free slots from the queues, oldest urgent first, then oldest background; a request curl
 * refuses is answered with it. */
static void
start_queued(mm_edgegap *eg)
{
    while (eg->running.n < eg->max_in_flight && mm__eg_queued_total(eg) > 0) {
        mm__eg_list *from = NULL;
        for (int q = 0; q < MM_EDGEGAP_PRIORITY_COUNT && from == NULL; q++) /* urgent first */
            if (eg->queue[q].n > 0 && (eg->gate.take == NULL || eg->gate.take(eg->gate.ctx, eg->queue[q].head->op, false)))
                from = &eg->queue[q];
        if (from == NULL)
            break; /* no token yet: fds_wait sleeps until the gate expects one */
        mm__eg_request *req = list_pop(from);
        if (request_start(eg, req) != MM_OK) {
            req->start_failed = true;
            list_push(&eg->done, req);
        }
    }
}

/* Takes every finished transfer out of the multi handle onto the done list. */
static void
collect_finished(mm_edgegap *eg)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(eg->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result; /* msg is invalid after remove_handle */
        mm__eg_request *req = NULL;
        long connects = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&req);
        req->code = code;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &req->status);
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &req->os_errno);
        if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
            eg->stats.connections_opened += (uint64_t)connects;
        curl_multi_remove_handle(eg->multi, easy);
        req->easy = NULL;
        easy_recycle(eg, easy);
        list_remove(&eg->running, req);
        list_push(&eg->done, req);
    }
}

/* Runs req's callback once with its answer (or CANCELLED), counts it, frees req. */
static void
request_deliver(mm_edgegap *eg, mm__eg_request *req, bool cancelled)
{
    mm__eg_scratch scratch;
    mm_edgegap_result result;

    scratch.json = NULL;
    if (cancelled) {
        memset(&result, 0, sizeof(result));
        result.op = req->op;
        result.outcome = MM_EDGEGAP_CANCELLED;
        result.message = "cancelled: the Edgegap client was destroyed";
    } else {
        mm__eg_answer answer = {
            .op = req->op,
            .code = req->code,
            .curl_error = req->errbuf,
            .os_errno = req->os_errno,
            .status = req->status,
            .body = req->resp != NULL ? req->resp : "",
            .body_len = req->resp_len,
            .body_too_large = req->resp_too_large,
            .body_nomem = req->resp_nomem,
            .start_failed = req->start_failed,
            .max_body = eg->max_response_bytes,
        };
        mm__eg_result_fill(&answer, &scratch, &result);
    }
    result.subject = req->subject;
    uint64_t now = mm_now_ms();
    result.latency_ms = now > req->accepted_ms ? now - req->accepted_ms : 0;

    if (eg->gate.answered != NULL && !cancelled)
        eg->gate.answered(eg->gate.ctx, req->op, result.status);
    eg->stats.outcomes[req->op][result.outcome]++;
    if (!cancelled)
        mm_metric_edgegap_call(mm__eg_endpoint(req->op), result.status, req->started_ns ? mm_now_ns() - req->started_ns : 0);
    eg->stats.status_class[req->op][result.status >= 100 && result.status < 600 ? result.status / 100 : 0]++;
    mm_debug("edgegap: %s %s -> %ld %s in %llu ms", mm_edgegap_op_name(req->op), req->subject, result.status,
             mm_edgegap_outcome_name(result.outcome), (unsigned long long)result.latency_ms);
    req->cb(req->ctx, &result);
    json_decref(scratch.json);
    request_free(req);
}

mm_err
mm__eg_refused(mm_edgegap *eg, mm_err err)
{
    if (err == MM_ERR_FULL)
        eg->stats.refused_full++;
    else if (err == MM_ERR_INVALID)
        eg->stats.refused_invalid++;
    return err;
}

/* True when a request of class priority would start at once: a free slot, nobody ahead of it. */
static bool
starts_now(const mm_edgegap *eg, mm_edgegap_priority priority)
{
    return eg->running.n < eg->max_in_flight && eg->queue[MM_EDGEGAP_URGENT].n == 0 &&
           (priority == MM_EDGEGAP_URGENT || eg->queue[MM_EDGEGAP_BACKGROUND].n == 0);
}

bool
mm_edgegap_would_start(const mm_edgegap *eg, mm_edgegap_priority priority, mm_edgegap_op op)
{
    if (eg == NULL || eg->closing || (unsigned)priority >= MM_EDGEGAP_PRIORITY_COUNT || !starts_now(eg, priority))
        return false;
    return eg->gate.take == NULL || eg->gate.take(eg->gate.ctx, op, true);
}

void
mm_edgegap_set_gate(mm_edgegap *eg, const mm_edgegap_gate *gate)
{
    if (eg == NULL)
        return;
    if (gate == NULL || gate->take == NULL || gate->wait_ms == NULL)
        memset(&eg->gate, 0, sizeof(eg->gate));
    else
        eg->gate = *gate;
}

mm_err
mm__eg_admit(mm_edgegap *eg, mm_edgegap_priority priority)
{
    if (eg->closing)
        return mm__eg_refused(
            eg, mm_fail(MM_ERR_STOPPED, eg->last_error, sizeof(eg->last_error), "the Edgegap client is being destroyed"));
    if (starts_now(eg, priority))
        return MM_OK;
    uint32_t total = mm__eg_queued_total(eg), background = eg->queue[MM_EDGEGAP_BACKGROUND].n;
    bool full = total >= eg->max_queued;
    if (full || (priority == MM_EDGEGAP_BACKGROUND && background >= eg->max_background_queued)) {
        if (priority == MM_EDGEGAP_BACKGROUND)
            eg->stats.refused_full_background++;
        if (full)
            return mm__eg_refused(eg,
                                  mm_fail(MM_ERR_FULL, eg->last_error, sizeof(eg->last_error),
                                          "%u requests running and %u waiting: the Edgegap client is full", eg->running.n, total));
        return mm__eg_refused(eg, mm_fail(MM_ERR_FULL, eg->last_error, sizeof(eg->last_error),
                                          "%u background requests waiting: their share of the Edgegap client's queue "
                                          "(%u of %u places) is full",
                                          background, eg->max_background_queued, eg->max_queued));
    }
    return MM_OK;
}

mm_err
mm__eg_accept(mm_edgegap *eg, mm_edgegap_op op, mm_edgegap_priority priority, const char *subject, char *url, char *body,
              mm_edgegap_cb cb, void *ctx)
{
    mm__eg_request *req = calloc(1, sizeof(*req));
    if (req == NULL || url == NULL || (op == MM_EDGEGAP_SESSION_CREATE && body == NULL)) {
        free(req);
        free(url);
        free(body);
        return mm_fail(MM_ERR_NOMEM, eg->last_error, sizeof(eg->last_error), "out of memory");
    }
    req->eg = eg;
    req->op = op;
    req->cb = cb;
    req->ctx = ctx;
    req->url = url;
    req->body = body;
    req->accepted_ms = mm_now_ms();
    snprintf(req->subject, sizeof(req->subject), "%s", subject);
    if (starts_now(eg, priority) && (eg->gate.take == NULL || eg->gate.take(eg->gate.ctx, op, false))) {
        if (request_start(eg, req) != MM_OK) {
            request_free(req);
            return mm_fail(MM_ERR_NOMEM, eg->last_error, sizeof(eg->last_error), "out of memory starting a request");
        }
    } else {
        list_push(&eg->queue[priority], req);
    }
    eg->stats.accepted[op]++;
    eg->last_error[0] = '\0';
    return MM_OK;
}

void
mm_edgegap_perform(mm_edgegap *eg)
{
    int running = 0;
    mm__eg_request *req;

    if (eg == NULL || eg->delivering || eg->closing)
        return;
    eg->delivering = true;
    CURLMcode mc = curl_multi_perform(eg->multi, &running);
    if (mc != CURLM_OK)
        mm_warn("edgegap: curl_multi_perform: %s", curl_multi_strerror(mc));
    collect_finished(eg);
    start_queued(eg);
    while ((req = list_pop(&eg->done)) != NULL) {
        request_deliver(eg, req, false);
        start_queued(eg);
    }
    eg->delivering = false;
}

mm_err
mm_edgegap_fds_wait(mm_edgegap *eg, int extra_fd, int timeout_ms)
{
    struct curl_waitfd extra = {.fd = extra_fd, .events = CURL_WAIT_POLLIN, .revents = 0};

    if (eg == NULL)
        return MM_ERR_INVALID;
    if (eg->done.n > 0)
        timeout_ms = 0; /* work is waiting for mm_edgegap_perform */
    else if (mm__eg_queued_total(eg) > 0 && eg->running.n < eg->max_in_flight) {
        if (eg->gate.take == NULL)
            timeout_ms = 0;
        else { /* the gate holds them back: wake when it expects a token */
            uint64_t w = UINT64_MAX;
            for (int q = 0; q < MM_EDGEGAP_PRIORITY_COUNT; q++)
                if (eg->queue[q].n > 0) {
                    uint64_t wq = eg->gate.wait_ms(eg->gate.ctx, eg->queue[q].head->op);
                    w = wq < w ? wq : w;
                }
            if (timeout_ms < 0 || w < (uint64_t)timeout_ms)
                timeout_ms = w > INT_MAX ? INT_MAX : (int)w;
        }
    }
    if (timeout_ms < 0)
        timeout_ms = INT_MAX;
    CURLMcode mc = curl_multi_poll(eg->multi, extra_fd >= 0 ? &extra : NULL, extra_fd >= 0 ? 1u : 0u, timeout_ms, NULL);
    if (mc != CURLM_OK) {
        mm_warn("edgegap: curl_multi_poll: %s", curl_multi_strerror(mc));
        return MM_ERR_SYS;
    }
    return MM_OK;
}

void
mm__eg_cancel_all(mm_edgegap *eg)
{
    mm__eg_request *req;

    eg->closing = true;
    eg->delivering = true; /* a destroy from a CANCELLED callback must abort, not free twice */
    for (req = eg->running.head; req != NULL; req = req->next) {
        curl_multi_remove_handle(eg->multi, req->easy);
        curl_easy_cleanup(req->easy);
        req->easy = NULL;
    }
    /* In the order they would have been answered, roughly: answered, running, then waiting. */
    mm__eg_list *lists[] = {&eg->done, &eg->running, &eg->queue[MM_EDGEGAP_URGENT], &eg->queue[MM_EDGEGAP_BACKGROUND]};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        while ((req = list_pop(lists[i])) != NULL)
            request_deliver(eg, req, true);
    eg->delivering = false;
}
