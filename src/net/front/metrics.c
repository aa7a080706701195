/*
 * The web front's counters and their Prometheus text form (GET /metrics; docs/front.md lists
 * every name). Counters are relaxed atomics bumped by whichever loop saw the event; values
 * owned by one loop (its relay queue depth, its h2o error counts) are copied into atomics by
 * that loop once per turn, so a scrape on any loop reads them without racing.
 */
#include <stdio.h>

#include "front_internal.h"
#include "mm/prom.h"

static const uint64_t bucket_us[MM__HIST_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 20000000, 30000000, 60000000, 120000000,
};

static const char *const outcome_names[MM__OUT_COUNT] = {"ok", "error", "invalid", "refused", "busy", "client_gone", "timeout", "stopped"};
static const char *const route_names[3] = {"ws", "chunked", "wannaplay"};
static const char *const refusal_names[MM__REF_COUNT] = {
    "rate",        "ip_concurrency", "global_concurrency", "max_connections", "first_message_timeout",
    "request_timeout", "too_large",   "binary_message",     "bad_utf8",        "protocol_error",
    "bad_request", "frame_flood",    "slow_reader",        "half_open",       "stopping",
    "sessions",
    "ip_connections", "header_too_large", "header_memory",
};
static const char *const page_names[MM__PG_COUNT] = {"page", "healthz", "readyz", "metrics", "preflight", "not_found"};

void
mm__front_count_request(mm_front *front, mm_front_route route, mm__outcome outcome)
{
    if (route >= MM_FRONT_WS && route <= MM_FRONT_WANNAPLAY && outcome < MM__OUT_COUNT)
        atomic_fetch_add_explicit(&front->metrics.requests[route - 1][outcome], 1, memory_order_relaxed);
}

void
mm__front_count_refusal(mm_front *front, mm__refusal reason)
{
    if (reason < MM__REF_COUNT)
        atomic_fetch_add_explicit(&front->metrics.refusals[reason], 1, memory_order_relaxed);
}

void
mm__front_count_page(mm_front *front, mm__page page)
{
    if (page < MM__PG_COUNT)
        atomic_fetch_add_explicit(&front->metrics.pages[page], 1, memory_order_relaxed);
}

void
mm__front_observe_latency(mm_front *front, uint64_t ns)
{
    uint64_t us = ns / 1000;
    size_t b = 0;
    while (b < MM__HIST_BUCKETS && us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&front->metrics.hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&front->metrics.hist_sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&front->metrics.hist_count, 1, memory_order_relaxed);
}

/* ---- rendering (include/mm/prom.h): whole lines only; once one does not fit, nothing more ---- */

static uint64_t
get(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* A sample of one event loop's gauge, labelled loop="N". */
static void
loop_sample(mm_prom *o, const char *name, size_t loop, uint64_t value)
{
    char n[24];
    snprintf(n, sizeof(n), "%zu", loop);
    mm_prom_sample(o, name, (const char *const[]){"loop", n}, 1, value);
}

size_t
mm__front_metrics_render(mm_front *front, char *buf, size_t len)
{
    mm__front_metrics *m = &front->metrics;
    mm_prom o;
    mm_prom_init(&o, buf, len);
    mm_prom_metric(&o, "mm_front_connections_open", "gauge", "Client connections open now.", get(&m->conns_open));
    mm_prom_metric(&o, "mm_front_connections_total", "counter", "Client connections accepted.", get(&m->conns_total));
    mm_prom_head(&o, "mm_front_requests_total", "counter", "Session requests by route and outcome.");
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < MM__OUT_COUNT; k++)
            mm_prom_sample(&o, "mm_front_requests_total", (const char *const[]){"route", route_names[r], "outcome", outcome_names[k]},
                           2, get(&m->requests[r][k]));
    uint64_t h2o_413 = 0, h2o_400 = 0;
    for (size_t i = 0; i < front->n_loops; i++) {
        h2o_413 += get(&front->loops[i]->snap_h2o_413);
        h2o_400 += get(&front->loops[i]->snap_h2o_400);
    }
    mm_prom_head(&o, "mm_front_refusals_total", "counter", "Refused or cut requests and connections, by reason.");
    for (int k = 0; k < MM__REF_COUNT; k++) {
        uint64_t v = get(&m->refusals[k]) + (k == MM__REF_TOO_LARGE ? h2o_413 : 0) + (k == MM__REF_PROTOCOL ? h2o_400 : 0);
        mm_prom_sample(&o, "mm_front_refusals_total", (const char *const[]){"reason", refusal_names[k]}, 1, v);
    }
    mm_prom_head(&o, "mm_front_http_requests_total", "counter", "Other HTTP requests by page.");
    for (int k = 0; k < MM__PG_COUNT; k++)
        mm_prom_sample(&o, "mm_front_http_requests_total", (const char *const[]){"page", page_names[k]}, 1, get(&m->pages[k]));
    double le[MM__HIST_BUCKETS];
    uint64_t counts[MM__HIST_BUCKETS + 1];
    for (int b = 0; b <= MM__HIST_BUCKETS; b++) {
        if (b < MM__HIST_BUCKETS)
            le[b] = (double)bucket_us[b] / 1e6;
        counts[b] = get(&m->hist[b]);
    }
    mm_prom_histogram(&o, "mm_front_request_duration_seconds", "Time from a session request to its last message.", le, counts,
                      MM__HIST_BUCKETS, (double)get(&m->hist_sum_us) / 1e6, get(&m->hist_count));
    mm_prom_head(&o, "mm_front_requests_in_progress", "gauge", "Session requests in progress, by event loop.");
    for (size_t i = 0; i < front->n_loops; i++)
        loop_sample(&o, "mm_front_requests_in_progress", i, get(&front->loops[i]->snap_live));
    mm_prom_head(&o, "mm_front_relay_queue_depth", "gauge", "Reply wake-ups waiting in each event loop's queue.");
    for (size_t i = 0; i < front->n_loops; i++)
        loop_sample(&o, "mm_front_relay_queue_depth", i, get(&front->loops[i]->snap_queue_depth));
    mm_prom_metric(&o, "mm_front_relay_ring_full_total", "counter", "Reply wake-ups that found a loop's queue full (none lost).",
                   get(&m->relay_full));
    mm_prom_metric(&o, "mm_front_relay_dropped_total", "counter", "Reply messages dropped because their client had gone.",
                   mm__front_relay_dropped());
    mm_prom_head(&o, "mm_front_limits_exempt_total", "counter",
                 "Connections and session requests from --limits-exempt addresses, which no per-address limit counted.");
    mm_prom_sample(&o, "mm_front_limits_exempt_total", (const char *const[]){"what", "connections"}, 1, get(&m->exempt_connections));
    mm_prom_sample(&o, "mm_front_limits_exempt_total", (const char *const[]){"what", "requests"}, 1, get(&m->exempt_requests));
    static const char *const webhook_names[MM__WH_COUNT] = {"routed", "not_found", "bad_request", "refused"};
    mm_prom_head(&o, "mm_front_webhooks_total", "counter",
                 "Requests under /matchmaker/edgegap-webhook/: handed to the backend, wrong secret (404), bad method "
                 "or body (405/400), refused by the backend (503).");
    for (int k = 0; k < MM__WH_COUNT; k++)
        mm_prom_sample(&o, "mm_front_webhooks_total", (const char *const[]){"outcome", webhook_names[k]}, 1,
                       get(&m->webhooks[k]));
    mm_prom_metric(&o, "mm_front_limited_addresses", "gauge", "Client addresses the per-IP limits remember.",
                   mm__front_limits_tracked(front->limits));
    if (front->backend.metrics != NULL && !o.full && o.used < o.len) {
        size_t n = front->backend.metrics(front->backend.ctx, o.buf + o.used, o.len - o.used);
        o.used += n < o.len - o.used ? n : o.len - o.used;
    }
    return o.used;
}
