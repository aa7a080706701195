/*
 * The web front's counters and their Prometheus text form (GET /metrics; docs/front.md lists
 * every name). Counters are relaxed atomics bumped by whichever loop saw the event; values
 * owned by one loop (its relay queue depth, its h2o error counts) are copied into atomics by
 * that loop once per turn, so a scrape on any loop reads them without racing.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "front_internal.h"

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

/* ---- rendering: whole lines only; once one does not fit, nothing more is written ---- */

typedef struct out {
    char *buf;
    size_t len, used;
    bool full;
} out;

static void __attribute__((format(printf, 2, 3)))
line(out *o, const char *fmt, ...)
{
    char text[512];
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(text) - 1 || o->used + (size_t)n + 1 > o->len) {
        o->full = true;
        return;
    }
    text[n] = '\n';
    memcpy(o->buf + o->used, text, (size_t)n + 1);
    o->used += (size_t)n + 1;
}

static void
head(out *o, const char *name, const char *type, const char *help)
{
    line(o, "# HELP %s %s", name, help);
    line(o, "# TYPE %s %s", name, type);
}

static uint64_t
get(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

size_t
mm__front_metrics_render(mm_front *front, char *buf, size_t len)
{
    mm__front_metrics *m = &front->metrics;
    out o = {.buf = buf, .len = len};
    head(&o, "mm_front_connections_open", "gauge", "Client connections open now.");
    line(&o, "mm_front_connections_open %" PRIu64, get(&m->conns_open));
    head(&o, "mm_front_connections_total", "counter", "Client connections accepted.");
    line(&o, "mm_front_connections_total %" PRIu64, get(&m->conns_total));
    head(&o, "mm_front_requests_total", "counter", "Session requests by route and outcome.");
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < MM__OUT_COUNT; k++)
            line(&o, "mm_front_requests_total{route=\"%s\",outcome=\"%s\"} %" PRIu64, route_names[r], outcome_names[k],
                 get(&m->requests[r][k]));
    uint64_t h2o_413 = 0, h2o_400 = 0;
    for (size_t i = 0; i < front->n_loops; i++) {
        h2o_413 += get(&front->loops[i]->snap_h2o_413);
        h2o_400 += get(&front->loops[i]->snap_h2o_400);
    }
    head(&o, "mm_front_refusals_total", "counter", "Refused or cut requests and connections, by reason.");
    for (int k = 0; k < MM__REF_COUNT; k++) {
        uint64_t v = get(&m->refusals[k]) + (k == MM__REF_TOO_LARGE ? h2o_413 : 0) + (k == MM__REF_PROTOCOL ? h2o_400 : 0);
        line(&o, "mm_front_refusals_total{reason=\"%s\"} %" PRIu64, refusal_names[k], v);
    }
    head(&o, "mm_front_http_requests_total", "counter", "Other HTTP requests by page.");
    for (int k = 0; k < MM__PG_COUNT; k++)
        line(&o, "mm_front_http_requests_total{page=\"%s\"} %" PRIu64, page_names[k], get(&m->pages[k]));
    head(&o, "mm_front_request_duration_seconds", "histogram", "Time from a session request to its last message.");
    uint64_t cumulative = 0;
    for (int b = 0; b < MM__HIST_BUCKETS; b++) {
        cumulative += get(&m->hist[b]);
        line(&o, "mm_front_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64, (double)bucket_us[b] / 1e6, cumulative);
    }
    cumulative += get(&m->hist[MM__HIST_BUCKETS]);
    line(&o, "mm_front_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64, cumulative);
    line(&o, "mm_front_request_duration_seconds_sum %.6f", (double)get(&m->hist_sum_us) / 1e6);
    line(&o, "mm_front_request_duration_seconds_count %" PRIu64, get(&m->hist_count));
    head(&o, "mm_front_requests_in_progress", "gauge", "Session requests in progress, by event loop.");
    for (size_t i = 0; i < front->n_loops; i++)
        line(&o, "mm_front_requests_in_progress{loop=\"%zu\"} %" PRIu64, i, get(&front->loops[i]->snap_live));
    head(&o, "mm_front_relay_queue_depth", "gauge", "Reply wake-ups waiting in each event loop's queue.");
    for (size_t i = 0; i < front->n_loops; i++)
        line(&o, "mm_front_relay_queue_depth{loop=\"%zu\"} %" PRIu64, i, get(&front->loops[i]->snap_queue_depth));
    head(&o, "mm_front_relay_ring_full_total", "counter", "Reply wake-ups that found a loop's queue full (none lost).");
    line(&o, "mm_front_relay_ring_full_total %" PRIu64, get(&m->relay_full));
    head(&o, "mm_front_relay_dropped_total", "counter", "Reply messages dropped because their client had gone.");
    line(&o, "mm_front_relay_dropped_total %" PRIu64, mm__front_relay_dropped());
    head(&o, "mm_front_limited_addresses", "gauge", "Client addresses the per-IP limits remember.");
    line(&o, "mm_front_limited_addresses %zu", mm__front_limits_tracked(front->limits));
    if (front->backend.metrics != NULL && !o.full && o.used < o.len) {
        size_t n = front->backend.metrics(front->backend.ctx, o.buf + o.used, o.len - o.used);
        o.used += n < o.len - o.used ? n : o.len - o.used;
    }
    return o.used;
}
