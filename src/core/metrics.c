/*
 * The matchmaker's metrics registry (include/mm/metrics.h): static arrays of relaxed atomics,
 * written by any thread, read by the renderer on whichever thread serves /metrics. A reader may
 * see a histogram's count one sample ahead of its buckets (Prometheus tolerates that: each
 * series is monotonic on its own). Nothing here allocates, locks or logs.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mm/metrics.h"
#include "mm/prom.h"

#ifndef MM_BUILD_VERSION /* git describe at configure time (src/core/CMakeLists.txt) */
#define MM_BUILD_VERSION "unknown"
#endif

/* ---- histograms: fixed bucket bounds, counts per bucket (the last is +Inf), sum, count ---- */

#define HIST_MAX 16

typedef struct hist {
    atomic_uint_fast64_t counts[HIST_MAX + 1];
    atomic_uint_fast64_t sum; /* in the unit of `scale` (ns for durations, 1 for plain numbers) */
    atomic_uint_fast64_t count;
} hist;

static const double duration_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double ready_le[] = {0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 90, 120};
static const double gets_le[] = {1, 2, 3, 5, 8, 13, 20, 30, 50, 100, 200, 400};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void
hist_observe(hist *h, const double *le, size_t n, double value, uint64_t raw)
{
    size_t b = 0;
    while (b < n && value > le[b])
        b++;
    atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, raw, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

/* ---- the registry ---- */

enum { CLASS_2XX, CLASS_3XX, CLASS_4XX, CLASS_5XX, CLASS_TRANSPORT, CLASS_COUNT };

/* The statuses a request may end with that get their own outcome label (docs/matchmaker.md). */
static const unsigned error_codes[] = {400, 401, 403, 404, 409, 410, 422, 429, 500, 502, 503, 504};
#define OUT_READY 0
#define OUT_TIMEOUT 1
#define OUT_FIRST_CODE 2
#define OUT_OTHER (OUT_FIRST_CODE + N_OF(error_codes))
#define OUT_COUNT (OUT_OTHER + 1)

static struct {
    atomic_uint_fast64_t counters[MM_METRIC_COUNTER_COUNT];
    atomic_int_fast64_t gauges[MM_METRIC_GAUGE_COUNT];
    _Atomic double levels[MM_METRIC_LEVEL_COUNT];
    atomic_uint_fast64_t eg_calls[MM_METRIC_EP_COUNT][CLASS_COUNT];
    atomic_uint_fast64_t eg_retries[MM_METRIC_EP_COUNT];
    atomic_uint_fast64_t eg_429[MM_METRIC_EP_COUNT];
    hist eg_duration[MM_METRIC_EP_COUNT];
    atomic_uint_fast64_t outcomes[OUT_COUNT];
    hist ready;
    hist gets;
    atomic_uint_fast64_t reaps[MM_METRIC_REAP_COUNT];
    atomic_uint_fast64_t deletes[MM_METRIC_DEL_COUNT];
    atomic_uint_fast64_t webhooks[MM_METRIC_WH_COUNT];
    _Atomic double start_time_s;
    char version[64]; /* written once by mm_metrics_init, before any scrape thread exists */
} reg;

void
mm_metrics_init(const char *version)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&reg.start_time_s, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    snprintf(reg.version, sizeof(reg.version), "%s", version != NULL ? version : MM_BUILD_VERSION);
}

void
mm_metric_inc(mm_metric_counter c)
{
    if ((unsigned)c < MM_METRIC_COUNTER_COUNT)
        atomic_fetch_add_explicit(&reg.counters[c], 1, memory_order_relaxed);
}

void
mm_metric_add(mm_metric_gauge g, int64_t delta)
{
    if ((unsigned)g < MM_METRIC_GAUGE_COUNT)
        atomic_fetch_add_explicit(&reg.gauges[g], delta, memory_order_relaxed);
}

void
mm_metric_set(mm_metric_gauge g, int64_t value)
{
    if ((unsigned)g < MM_METRIC_GAUGE_COUNT)
        atomic_store_explicit(&reg.gauges[g], value, memory_order_relaxed);
}

void
mm_metric_set_level(mm_metric_level l, double value)
{
    if ((unsigned)l < MM_METRIC_LEVEL_COUNT)
        atomic_store_explicit(&reg.levels[l], value, memory_order_relaxed);
}

void
mm_metric_edgegap_call(mm_metric_endpoint ep, long status, uint64_t duration_ns)
{
    if ((unsigned)ep >= MM_METRIC_EP_COUNT)
        ep = MM_METRIC_EP_OTHER;
    int cls = status >= 200 && status < 600 ? (int)(status / 100) - 2 : CLASS_TRANSPORT;
    atomic_fetch_add_explicit(&reg.eg_calls[ep][cls], 1, memory_order_relaxed);
    if (status == 429)
        atomic_fetch_add_explicit(&reg.eg_429[ep], 1, memory_order_relaxed);
    hist_observe(&reg.eg_duration[ep], duration_le, N_OF(duration_le), (double)duration_ns / 1e9, duration_ns);
}

void
mm_metric_edgegap_retry(mm_metric_endpoint ep)
{
    if ((unsigned)ep < MM_METRIC_EP_COUNT)
        atomic_fetch_add_explicit(&reg.eg_retries[ep], 1, memory_order_relaxed);
}

void
mm_metric_request_end(unsigned status, uint64_t duration_ns)
{
    size_t k = OUT_OTHER;
    if (status == 0)
        k = OUT_READY;
    else if (status == 408)
        k = OUT_TIMEOUT;
    else
        for (size_t i = 0; i < N_OF(error_codes); i++)
            if (error_codes[i] == status)
                k = OUT_FIRST_CODE + i;
    atomic_fetch_add_explicit(&reg.outcomes[k], 1, memory_order_relaxed);
    if (status == 0)
        hist_observe(&reg.ready, ready_le, N_OF(ready_le), (double)duration_ns / 1e9, duration_ns);
}

void
mm_metric_gets_per_session(uint64_t gets)
{
    hist_observe(&reg.gets, gets_le, N_OF(gets_le), (double)gets, gets);
}

void
mm_metric_reap(mm_metric_reap_reason reason)
{
    if ((unsigned)reason < MM_METRIC_REAP_COUNT)
        atomic_fetch_add_explicit(&reg.reaps[reason], 1, memory_order_relaxed);
}

void
mm_metric_delete(mm_metric_delete_outcome outcome)
{
    if ((unsigned)outcome < MM_METRIC_DEL_COUNT)
        atomic_fetch_add_explicit(&reg.deletes[outcome], 1, memory_order_relaxed);
}

void
mm_metric_webhook(mm_metric_webhook_outcome outcome)
{
    if ((unsigned)outcome < MM_METRIC_WH_COUNT)
        atomic_fetch_add_explicit(&reg.webhooks[outcome], 1, memory_order_relaxed);
}

uint64_t
mm_metric_counter_get(mm_metric_counter c)
{
    return (unsigned)c < MM_METRIC_COUNTER_COUNT ? atomic_load_explicit(&reg.counters[c], memory_order_relaxed) : 0;
}

int64_t
mm_metric_gauge_get(mm_metric_gauge g)
{
    return (unsigned)g < MM_METRIC_GAUGE_COUNT ? atomic_load_explicit(&reg.gauges[g], memory_order_relaxed) : 0;
}

/* ---- rendering ---- */

static const char *const endpoint_names[MM_METRIC_EP_COUNT] = {"create", "get", "delete", "other"};
static const char *const class_names[CLASS_COUNT] = {"2xx", "3xx", "4xx", "5xx", "transport"};

static uint64_t
get(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* A histogram with optional one label (name=value); scale turns the raw sum into the unit. */
static void
hist_render(mm_prom *o, const char *name, const char *label, const char *value, hist *h, const double *le, size_t n,
            double scale)
{
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= n; b++) {
        cumulative += get(&h->counts[b]);
        char bound[32];
        if (b < n)
            snprintf(bound, sizeof(bound), "%g", le[b]);
        else
            snprintf(bound, sizeof(bound), "+Inf");
        char sample[128];
        snprintf(sample, sizeof(sample), "%s_bucket", name);
        if (label != NULL)
            mm_prom_sample(o, sample, (const char *const[]){label, value, "le", bound}, 2, cumulative);
        else
            mm_prom_sample(o, sample, (const char *const[]){"le", bound}, 1, cumulative);
    }
    if (label != NULL) {
        mm_prom_line(o, "%s_sum{%s=\"%s\"} %.9g", name, label, value, (double)get(&h->sum) * scale);
        mm_prom_line(o, "%s_count{%s=\"%s\"} %llu", name, label, value, (unsigned long long)get(&h->count));
    } else {
        mm_prom_line(o, "%s_sum %.9g", name, (double)get(&h->sum) * scale);
        mm_prom_line(o, "%s_count %llu", name, (unsigned long long)get(&h->count));
    }
}

static void
per_endpoint(mm_prom *o, const char *name, const char *help, atomic_uint_fast64_t *v)
{
    mm_prom_head(o, name, "counter", help);
    for (int e = 0; e < MM_METRIC_EP_COUNT; e++)
        mm_prom_sample(o, name, (const char *const[]){"endpoint", endpoint_names[e]}, 1, get(&v[e]));
}

static void
labelled(mm_prom *o, const char *name, const char *help, const char *label, const char *const *values, size_t n,
         atomic_uint_fast64_t *v)
{
    mm_prom_head(o, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        mm_prom_sample(o, name, (const char *const[]){label, values[i]}, 1, get(&v[i]));
}

static void
counter(mm_prom *o, const char *name, const char *help, mm_metric_counter c)
{
    mm_prom_metric(o, name, "counter", help, get(&reg.counters[c]));
}

static void
gauge(mm_prom *o, const char *name, const char *help, mm_metric_gauge g)
{
    mm_prom_head(o, name, "gauge", help);
    mm_prom_line(o, "%s %lld", name, (long long)atomic_load_explicit(&reg.gauges[g], memory_order_relaxed));
}

static void
render_edgegap(mm_prom *o)
{
    const char *name = "mm_edgegap_requests_total";
    mm_prom_head(o, name, "counter", "Edgegap API calls answered, by endpoint and status class (transport: no HTTP answer).");
    for (int e = 0; e < MM_METRIC_EP_COUNT; e++)
        for (int c = 0; c < CLASS_COUNT; c++)
            mm_prom_sample(o, name, (const char *const[]){"endpoint", endpoint_names[e], "class", class_names[c]}, 2,
                           get(&reg.eg_calls[e][c]));
    name = "mm_edgegap_request_duration_seconds";
    mm_prom_head(o, name, "histogram", "Edgegap API call duration, from its start on the network to its answer.");
    for (int e = 0; e < MM_METRIC_EP_COUNT; e++)
        hist_render(o, name, "endpoint", endpoint_names[e], &reg.eg_duration[e], duration_le, N_OF(duration_le), 1e-9);
    per_endpoint(o, "mm_edgegap_retries_total", "Edgegap calls repeated after a retryable failure.", reg.eg_retries);
    per_endpoint(o, "mm_edgegap_rate_limited_total", "Edgegap answers 429 (rate limited).", reg.eg_429);
}

static void
render_requests(mm_prom *o)
{
    const char *name = "mm_matchmaker_requests_total";
    mm_prom_head(o, name, "counter", "Session requests ended, by outcome (ready, timeout, or the error status sent).");
    char label[24];
    for (size_t k = 0; k < OUT_COUNT; k++) {
        if (k == OUT_READY)
            snprintf(label, sizeof(label), "ready");
        else if (k == OUT_TIMEOUT)
            snprintf(label, sizeof(label), "timeout");
        else if (k == OUT_OTHER)
            snprintf(label, sizeof(label), "error_other");
        else
            snprintf(label, sizeof(label), "error_%u", error_codes[k - OUT_FIRST_CODE]);
        mm_prom_sample(o, name, (const char *const[]){"outcome", label}, 1, get(&reg.outcomes[k]));
    }
    name = "mm_matchmaker_time_to_ready_seconds";
    mm_prom_head(o, name, "histogram", "Time from a session request's arrival to its SessionReady.");
    hist_render(o, name, NULL, NULL, &reg.ready, ready_le, N_OF(ready_le), 1e-9);
    gauge(o, "mm_matchmaker_requests_waiting", "Requests whose Edgegap session create has not been answered yet.",
          MM_METRIC_REQUESTS_WAITING);
    gauge(o, "mm_matchmaker_requests_polling", "Requests whose session exists and is not ready yet.", MM_METRIC_REQUESTS_POLLING);
    gauge(o, "mm_matchmaker_requests_cert_waiting", "Requests whose session is ready, waiting for its server's cert digest.",
          MM_METRIC_REQUESTS_CERT_WAIT);
    gauge(o, "mm_matchmaker_requests_minting", "Requests waiting for their connect token.", MM_METRIC_REQUESTS_MINTING);
    counter(o, "mm_matchmaker_cert_digest_waits_total", "Ready sessions that had to wait for their server's cert digest.",
            MM_METRIC_CERT_DIGEST_WAITS);
    counter(o, "mm_matchmaker_tokens_minted_total", "Connect tokens minted.", MM_METRIC_TOKENS_MINTED);
    static const char *const wh[MM_METRIC_WH_COUNT] = {"received", "routed_get", "ignored", "rate_limited", "bad"};
    labelled(o, "mm_matchmaker_webhooks_total", "Edgegap session webhooks reaching the matchmaker, by what became of them.",
             "outcome", wh, MM_METRIC_WH_COUNT, reg.webhooks);
    name = "mm_matchmaker_edgegap_gets_per_session";
    mm_prom_head(o, name, "histogram", "Edgegap session GETs (polls and webhook GETs) per session, counted when its request ends.");
    hist_render(o, name, NULL, NULL, &reg.gets, gets_le, N_OF(gets_le), 1);
}

static void
render_cleanup(mm_prom *o)
{
    static const char *const reap[MM_METRIC_REAP_COUNT] = {"unclaimed", "disconnected", "changed", "old_disconnect"};
    labelled(o, "mm_reaper_decisions_total", "Session reaper decisions, by reason.", "reason", reap, MM_METRIC_REAP_COUNT,
             reg.reaps);
    static const char *const del[MM_METRIC_DEL_COUNT] = {"deleted", "gone", "error", "skipped_already_deleted"};
    labelled(o, "mm_deleter_deletes_total", "Session deletions the delete worker settled, by outcome.", "outcome", del,
             MM_METRIC_DEL_COUNT, reg.deletes);
    gauge(o, "mm_deleter_backlog", "Deletions waiting in the delete stream for this consumer (at the last fetch).",
          MM_METRIC_DELETER_BACKLOG);
    counter(o, "mm_jetstream_publishes_resent_total", "Asynchronous JetStream publishes resent after a failure.",
            MM_METRIC_JS_RESENT);
    counter(o, "mm_jetstream_publishes_given_up_total", "Asynchronous JetStream publishes given up (lost) after their last attempt.",
            MM_METRIC_JS_GIVEN_UP);
    counter(o, "mm_kv_watch_remakes_total", "KV watches made again (stalled, leader change, reconnect).",
            MM_METRIC_KV_WATCH_REMAKES);
    counter(o, "mm_nats_reconnects_total", "NATS reconnections.", MM_METRIC_NATS_RECONNECTS);
    counter(o, "mm_matchmaker_orphans_deleted_total",
            "Sessions created for a replica that died before recording them, found by their webhook and enqueued for deletion.",
            MM_METRIC_ORPHANS_DELETED);
}

static void
render_launch(mm_prom *o)
{
    gauge(o, "mm_waiting_room_length", "Players waiting in this replica's line for an Edgegap session create.",
          MM_METRIC_WR_LENGTH);
    counter(o, "mm_waiting_room_admitted_total", "Players let out of the waiting room to Edgegap.", MM_METRIC_WR_ADMITTED);
    gauge(o, "mm_waiting_room_estimated_wait_seconds", "Estimated wait of a player joining the line now.",
          MM_METRIC_WR_ESTIMATED_WAIT);
    counter(o, "mm_waiting_room_refused_total", "Players refused because the line was full.", MM_METRIC_WR_REFUSED);
    counter(o, "mm_waiting_room_left_total", "Players who left the line before their turn.", MM_METRIC_WR_LEFT);
    counter(o, "mm_reply_heartbeats_total",
            "Heartbeats published on reply subjects: one per request asking Mm-Liveness-Ms, one per interval of silence per "
            "request asking only Mm-Heartbeat-Ms.",
            MM_METRIC_REPLY_HEARTBEATS);
    counter(o, "mm_replica_alive_total", "Liveness messages published on mm.alive.<nuid> (one per interval for the whole process).",
            MM_METRIC_REPLICA_ALIVE);
    mm_prom_head(o, "mm_edgegap_budget_share_rps", "gauge",
                 "This replica's share of the fleet-wide Edgegap request budget of a class (0: none).");
    mm_prom_line(o, "mm_edgegap_budget_share_rps{class=\"create\"} %.9g", atomic_load(&reg.levels[MM_METRIC_BUDGET_SHARE_RPS]));
    mm_prom_line(o, "mm_edgegap_budget_share_rps{class=\"get\"} %.9g", atomic_load(&reg.levels[MM_METRIC_BUDGET_SHARE_GET_RPS]));
    mm_prom_line(o, "mm_edgegap_budget_share_rps{class=\"delete\"} %.9g",
                 atomic_load(&reg.levels[MM_METRIC_BUDGET_SHARE_DELETE_RPS]));
    gauge(o, "mm_fleet_replicas", "Matchmaker replicas this one sees.", MM_METRIC_FLEET_REPLICAS);
}

size_t
mm_metrics_render(char *buf, size_t len)
{
    mm_prom o;
    mm_prom_init(&o, buf, len);
    render_edgegap(&o);
    render_requests(&o);
    render_cleanup(&o);
    render_launch(&o);
    mm_prom_head(&o, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
    mm_prom_line(&o, "process_start_time_seconds %.3f", atomic_load(&reg.start_time_s));
    mm_prom_head(&o, "mm_build_info", "gauge", "The matchmaker's version, as a label; the value is 1.");
    mm_prom_sample(&o, "mm_build_info", (const char *const[]){"version", reg.version[0] ? reg.version : "unknown"}, 1, 1);
    return o.used;
}
