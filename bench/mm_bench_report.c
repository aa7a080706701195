/*
 * What mm_bench prints (mm_bench.h): the live progress line (stderr, rewritten in place, only
 * when enabled), the final table (stdout) and the --json document (jansson). Every figure is
 * derived here from mm_bench_stats, by the definitions docs/mm_bench.md gives:
 *
 *   rate          ready outcomes per second, from the run's start to the last decision
 *   started_rate  starts per second: (requests - 1) / (last start - first start)
 *   latency_ms    time-to-ready (start -> SessionReady) of the ready outcomes
 *   cpu.percent   this process's user + system CPU over the run's wall time (100 = one core)
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mm/url.h"
#include "mm_bench.h"

#define NS_PER_S 1e9

static int progress_shown;

static double
seconds(uint64_t ns)
{
    return (double)ns / NS_PER_S;
}

static double
ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static double
ready_rate(const mm_bench_stats *st)
{
    uint64_t span = st->last_decided_ns > st->start_ns ? st->last_decided_ns - st->start_ns : 0;
    return span > 0 ? (double)st->outcomes[MM_BENCH_READY] / seconds(span) : 0;
}

static double
started_rate(const mm_bench_stats *st)
{
    uint64_t span = st->last_start_ns > st->start_ns ? st->last_start_ns - st->start_ns : 0;
    return st->started > 1 && span > 0 ? (double)(st->started - 1) / seconds(span) : 0;
}

static double
cpu_percent(const mm_bench_stats *st)
{
    double wall = seconds(st->end_ns - st->start_ns);
    return wall > 0 ? 100.0 * (st->cpu_user_s + st->cpu_sys_s) / wall : 0;
}

void
mm_bench_report_progress(const mm_bench_stats *st, uint64_t now_ns)
{
    struct rusage ru;
    double cpu = 0, wall = seconds(now_ns - st->start_ns);
    /* rates of the last whole second; during the first one, of the time so far */
    double started = 0, ready_now = 0;
    if (st->second_count >= 2) {
        started = (double)st->seconds[st->second_count - 2].started;
        ready_now = (double)st->seconds[st->second_count - 2].ready;
    } else if (wall > 0) {
        started = (double)st->seconds[0].started / wall;
        ready_now = (double)st->seconds[0].ready / wall;
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0 && wall > 0)
        cpu = 100.0 *
              ((double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6 - st->cpu_start_user_s - st->cpu_start_sys_s) /
              wall;
    const mm_bench_hist *ready = &st->phases[MM_BENCH_PHASE_READY];
    fprintf(stderr,
            "\r%7.1fs  started %6.0f/s  ready %6.0f/s  in flight %6llu  ready %8llu  errors %6llu  p99 %8.2f ms  cpu %3.0f%%\033[K",
            wall, started, ready_now, (unsigned long long)st->in_flight, (unsigned long long)st->outcomes[MM_BENCH_READY],
            (unsigned long long)mm_bench_stats_errors(st), ms(mm_bench_hist_quantile(ready, 0.99)), cpu);
    fflush(stderr);
    progress_shown = 1;
}

void
mm_bench_report_progress_end(void)
{
    if (progress_shown)
        fputc('\n', stderr);
    progress_shown = 0;
}

/* Reasons sorted by count, most frequent first. */
static int
reason_cmp(const void *a, const void *b)
{
    const mm_bench_reason *x = *(const mm_bench_reason *const *)a, *y = *(const mm_bench_reason *const *)b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* "error_503", "timeout", ... into buf */
static void
class_name(mm_bench_outcome outcome, uint16_t code, char *buf, size_t len)
{
    if (outcome == MM_BENCH_ERROR)
        snprintf(buf, len, "error_%u", (unsigned)code);
    else
        snprintf(buf, len, "%s", mm_bench_outcome_name(outcome));
}

static void
table_phases(FILE *out, const mm_bench_stats *st)
{
    static const char *const labels[MM_BENCH_PHASE_COUNT] = {"connect",  "upgrade (101)",         "first message",
                                                             "accepted", "ready (time-to-ready)", "told a position",
                                                             "left the line"};
    fprintf(out, "phase, ms from start      count        p50        p90        p99      p99.9        max\n");
    for (int p = 0; p < MM_BENCH_PHASE_COUNT; p++) {
        const mm_bench_hist *h = &st->phases[p];
        fprintf(out, "  %-22s %10llu", labels[p], (unsigned long long)h->total);
        if (h->total == 0) {
            fputs("          -          -          -          -          -\n", out);
            continue;
        }
        fprintf(out, " %10.3f %10.3f %10.3f %10.3f %10.3f\n", ms(mm_bench_hist_quantile(h, 0.5)), ms(mm_bench_hist_quantile(h, 0.9)),
                ms(mm_bench_hist_quantile(h, 0.99)), ms(mm_bench_hist_quantile(h, 0.999)), ms(h->max));
    }
}

/* Ready per second from the first SessionReady to the last (0 with fewer than two). */
static double
ready_span_rate(const mm_bench_stats *st)
{
    uint64_t n = st->phases[MM_BENCH_PHASE_READY].total;
    if (n < 2 || st->last_ready_ns <= st->first_ready_ns)
        return 0;
    return (double)(n - 1) / seconds(st->last_ready_ns - st->first_ready_ns);
}

static double
ratio_or_nan(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

/* The waiting room, the ready rate against the ceiling, and the fluid model. */
static void
table_line(FILE *out, const mm_bench_config *cfg, const mm_bench_stats *st)
{
    const mm_bench_hist *e = &st->line_error, *wait = &st->phases[MM_BENCH_PHASE_LEFT_LINE];
    if (st->line_told > 0) {
        fprintf(out, "line       %llu told a position (largest %llu, longest line %llu); %llu of them left the line",
                (unsigned long long)st->line_told, (unsigned long long)st->line_max_position,
                (unsigned long long)st->line_max_length, (unsigned long long)st->line_left);
        if (e->total > 0)
            fprintf(out, "; first estimate off by p50 %.0f%%, p90 %.0f%% of the actual wait", mm_bench_hist_quantile(e, 0.5) / 1e4,
                    mm_bench_hist_quantile(e, 0.9) / 1e4);
        fputc('\n', out);
    } else {
        fprintf(out, "line       no waiting-room position was told\n");
    }
    double rate = ready_span_rate(st);
    double ceiling = st->fluid_ceiling > 0 ? st->fluid_ceiling : cfg->fluid_ceiling;
    if (rate > 0)
        fprintf(out, "ready/s    %.1f from the first SessionReady to the last", rate);
    if (rate > 0 && ceiling > 0)
        fprintf(out, " = %.3f of the ceiling %g/s", rate / ceiling, ceiling);
    if (rate > 0)
        fputc('\n', out);
    if (st->fluid_done && wait->total > 0) {
        const mm_bench_hist *f = &st->fluid;
        fprintf(out,
                "fluid      best FIFO at %g/s over %llu arrivals: wait p50 %.2f s, p99 %.2f s; actual (start -> left the line) "
                "p50 %.2f s, p99 %.2f s; p99 ratio %.2f\n",
                st->fluid_ceiling, (unsigned long long)f->total, seconds(mm_bench_hist_quantile(f, 0.5) * 1000),
                seconds(mm_bench_hist_quantile(f, 0.99) * 1000), seconds(mm_bench_hist_quantile(wait, 0.5) * 1000),
                seconds(mm_bench_hist_quantile(wait, 0.99) * 1000),
                ratio_or_nan((double)mm_bench_hist_quantile(wait, 0.99), (double)mm_bench_hist_quantile(f, 0.99)));
    } else if (ceiling > 0 && !st->fluid_done) {
        fprintf(out, "fluid      not computed (%s)\n",
                st->arrivals_lost ? "out of memory for the arrivals" : "a merged result: compare each run's own figures");
    }
}

void
mm_bench_report_table(FILE *out, const mm_bench_config *cfg, const mm_bench_stats *st)
{
    char name[32], url[sizeof(cfg->url)];
    fprintf(out, "mm_bench   %s  game %s  version %s%s\n", mm_url_redact(cfg->url, url, sizeof(url)), cfg->game, cfg->version,
            st->interrupted ? "  (INTERRUPTED)" : "");
    if (cfg->curve_len > 0)
        fprintf(out, "load       open loop, rate curve %s (peak %g/s, %.1f s), timeout %.1f s\n", cfg->curve_text, cfg->rate,
                seconds(cfg->duration_ns), seconds(cfg->timeout_ns));
    else if (cfg->mode == MM_BENCH_OPEN_LOOP)
        fprintf(out, "load       open loop, %g/s for %.1f s (ramp %.1f s), timeout %.1f s\n", cfg->rate, seconds(cfg->duration_ns),
                seconds(cfg->ramp_ns), seconds(cfg->timeout_ns));
    else
        fprintf(out, "load       closed loop, %u in flight, %s%llu requests%s, timeout %.1f s\n", cfg->concurrency,
                cfg->requests ? "" : "(no limit: ", (unsigned long long)cfg->requests, cfg->requests ? "" : ")",
                seconds(cfg->timeout_ns));
    fprintf(out, "run        %llu requests in %.2f s: %llu ready (%.1f/s), %llu not ready; started at %.1f/s\n",
            (unsigned long long)st->started, seconds(st->end_ns - st->start_ns), (unsigned long long)st->outcomes[MM_BENCH_READY],
            ready_rate(st), (unsigned long long)mm_bench_stats_errors(st), started_rate(st));
    fprintf(out, "outcomes   ready %llu", (unsigned long long)st->outcomes[MM_BENCH_READY]);
    for (unsigned code = 0; code < 65536; code++)
        if (st->error_codes[code] > 0)
            fprintf(out, "  error_%u %llu", code, (unsigned long long)st->error_codes[code]);
    for (int o = MM_BENCH_ERR_REFUSED; o < MM_BENCH_OUTCOME_COUNT; o++)
        if (st->outcomes[o] > 0)
            fprintf(out, "  %s %llu", mm_bench_outcome_name((mm_bench_outcome)o), (unsigned long long)st->outcomes[o]);
    fputc('\n', out);
    if (st->reason_count > 0) {
        const mm_bench_reason *sorted[MM_BENCH_MAX_REASONS];
        for (size_t i = 0; i < st->reason_count; i++)
            sorted[i] = &st->reasons[i];
        qsort(sorted, st->reason_count, sizeof(sorted[0]), reason_cmp);
        fprintf(out, "reasons (most frequent first)\n");
        for (size_t i = 0; i < st->reason_count && i < 10; i++) {
            class_name(sorted[i]->outcome, sorted[i]->code, name, sizeof(name));
            fprintf(out, "  %10llu  %-18s %s\n", (unsigned long long)sorted[i]->count, name, sorted[i]->text);
        }
        if (st->reason_count > 10 || st->reasons_other > 0)
            fprintf(out, "  (more in --json)\n");
    }
    if (st->sources_total > 0)
        fprintf(out, "sources    %llu of %llu local addresses used (%s), at most %llu requests each\n",
                (unsigned long long)st->sources_used, (unsigned long long)st->sources_total, st->sources_text,
                (unsigned long long)st->sources_max_per);
    else
        fprintf(out, "sources    the kernel's choice of local address (--source-ips none): the front's per-address limits "
                     "see one client\n");
    table_phases(out, st);
    if (cfg->verify)
        fprintf(out, "tokens     %llu verified (protocol id %llu, %s-endian, first address = SessionReady ip:port)\n",
                (unsigned long long)st->tokens_verified, (unsigned long long)cfg->verifier.protocol_id,
                cfg->verifier.order == MM_BYTE_ORDER_BIG ? "big" : "little");
    else
        fprintf(out, "tokens     not verified (no --verify-key)\n");
    table_line(out, cfg, st);
    fprintf(out, "mm_bench   cpu %.2f s user + %.2f s sys = %.1f%% of one core; largest start lag %.3f ms\n", st->cpu_user_s,
            st->cpu_sys_s, cpu_percent(st), ms(st->max_lag_ns / 1000));
}

/* {"count", "p50", "p90", "p99", "p999", "max", "min", "mean"} in ms; percentiles null when empty. */
static json_t *
json_latency(const mm_bench_hist *h)
{
    if (h->total == 0)
        return json_pack("{s:i, s:n, s:n, s:n, s:n, s:n, s:n, s:n}", "count", 0, "p50", "p90", "p99", "p999", "max", "min", "mean");
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "count", (json_int_t)h->total, "p50",
                     ms(mm_bench_hist_quantile(h, 0.5)), "p90", ms(mm_bench_hist_quantile(h, 0.9)), "p99",
                     ms(mm_bench_hist_quantile(h, 0.99)), "p999", ms(mm_bench_hist_quantile(h, 0.999)), "max", ms(h->max), "min",
                     ms(h->min), "mean", mm_bench_hist_mean(h) / 1000.0);
}

static json_t *
json_config(const mm_bench_config *cfg, const mm_bench_stats *st)
{
    char range[40] = "", url[sizeof(cfg->url)];
    mm_url_redact(cfg->url, url, sizeof(url));
    if (cfg->have_ip_range) {
        char first[16], last[16];
        mm_bench_config_client_ip(cfg, 0, first);
        mm_bench_config_client_ip(cfg, cfg->ip_count - 1, last);
        snprintf(range, sizeof(range), "%s-%s", first, last);
    }
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:b}", "url", url, "mode",
                          cfg->mode == MM_BENCH_OPEN_LOOP ? "open" : "closed", "game", cfg->game, "version", cfg->version,
                          "duration_s", seconds(cfg->duration_ns), "timeout_s", seconds(cfg->timeout_ns), "close_grace_s",
                          seconds(cfg->close_grace_ns), "verify_tokens", cfg->verify);
    if (c == NULL)
        return NULL;
    int bad = 0;
    if (cfg->mode == MM_BENCH_OPEN_LOOP) {
        bad |= json_object_set_new(c, "target_rate", json_real(cfg->rate));
        bad |= json_object_set_new(c, "ramp_s", json_real(seconds(cfg->ramp_ns)));
    } else {
        bad |= json_object_set_new(c, "concurrency", json_integer(cfg->concurrency));
        bad |= json_object_set_new(c, "requests", cfg->requests ? json_integer((json_int_t)cfg->requests) : json_null());
    }
    if (cfg->curve_len > 0)
        bad |= json_object_set_new(c, "rate_curve", json_string(cfg->curve_text));
    bad |= json_object_set_new(c, "fluid_ceiling", cfg->fluid_ceiling > 0 ? json_real(cfg->fluid_ceiling) : json_null());
    bad |= json_object_set_new(c, "client_ip_range", cfg->have_ip_range ? json_string(range) : json_null());
    bad |= json_object_set_new(c, "source_ips", json_string(st->sources_text));
    bad |= json_object_set_new(c, "source_addresses", json_integer((json_int_t)st->sources_total));
    if (cfg->verify) {
        char id[24];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)cfg->verifier.protocol_id);
        bad |= json_object_set_new(c, "protocol_id", json_string(id));
        bad |= json_object_set_new(c, "byte_order", json_string(cfg->verifier.order == MM_BYTE_ORDER_BIG ? "big" : "little"));
    }
    if (bad) {
        json_decref(c);
        return NULL;
    }
    return c;
}

static json_t *
json_outcomes(const mm_bench_stats *st)
{
    char name[32];
    json_t *o = json_object();
    int bad = o == NULL;
    for (int i = 0; !bad && i < MM_BENCH_OUTCOME_COUNT; i++)
        if (i != MM_BENCH_ERROR)
            bad |= json_object_set_new(o, mm_bench_outcome_name((mm_bench_outcome)i), json_integer((json_int_t)st->outcomes[i]));
    for (unsigned code = 0; !bad && code < 65536; code++)
        if (st->error_codes[code] > 0) {
            class_name(MM_BENCH_ERROR, (uint16_t)code, name, sizeof(name));
            bad |= json_object_set_new(o, name, json_integer((json_int_t)st->error_codes[code]));
        }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *
json_reasons(const mm_bench_stats *st)
{
    char name[32];
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < st->reason_count; i++) {
        const mm_bench_reason *r = &st->reasons[i];
        class_name(r->outcome, r->code, name, sizeof(name));
        /* a reason quotes the server's bytes, which need not be UTF-8 */
        json_t *text = json_stringn_nocheck(r->text, strlen(r->text));
        if (json_array_append_new(a, json_pack("{s:s, s:o, s:I}", "outcome", name, "reason", text, "count",
                                               (json_int_t)r->count)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* [[index, count], ...]: the non-empty buckets of a histogram */
static json_t *
json_cells(const mm_bench_hist_cell *cells, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_pack("[I, I]", (json_int_t)cells[i].index, (json_int_t)cells[i].count)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* {"error_429": n, "timeout": m, ...}: one second's failures by class */
static json_t *
json_failed_by(const mm_bench_second *s)
{
    char name[32];
    json_t *o = json_object();
    int bad = o == NULL;
    for (size_t i = 0; !bad && i < s->code_count; i++) {
        class_name(MM_BENCH_ERROR, s->codes[i], name, sizeof(name));
        bad |= json_object_set_new(o, name, json_integer((json_int_t)s->code_counts[i]));
    }
    if (!bad && s->codes_other > 0)
        bad |= json_object_set_new(o, "error_other", json_integer((json_int_t)s->codes_other));
    for (int k = MM_BENCH_ERR_REFUSED; !bad && k < MM_BENCH_OUTCOME_COUNT; k++)
        if (s->failed_by[k] > 0)
            bad |= json_object_set_new(o, mm_bench_outcome_name((mm_bench_outcome)k), json_integer((json_int_t)s->failed_by[k]));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* One histogram exactly: count, min, max, sum and the non-empty buckets. */
static json_t *
json_hist_exact(const mm_bench_hist *h)
{
    mm_bench_hist_cell *cells = NULL;
    size_t n = 0;
    json_t *one = NULL;
    if (mm_bench_hist_sparse(h, &cells, &n) == MM_OK) {
        char sum[48];
        snprintf(sum, sizeof(sum), "%.0Lf", h->sum); /* an exact integer, beyond a double's 53 bits */
        one = json_pack("{s:I, s:I, s:I, s:s, s:o}", "count", (json_int_t)h->total, "min", (json_int_t)(h->total ? h->min : 0),
                        "max", (json_int_t)h->max, "sum", sum, "buckets", json_cells(cells, n));
    }
    free(cells);
    return one;
}

/*
 * The phases' histograms, exactly: layout, then per phase count, min, max, sum (µs) and buckets;
 * "line_error_ppm" the same for the first estimates' errors (parts per million).
 */
static json_t *
json_histograms(const mm_bench_stats *st)
{
    const mm_bench_hist *h0 = &st->phases[0];
    json_t *phases = json_object();
    json_t *doc = json_pack("{s:s, s:I, s:I, s:o}", "unit", "us", "sub_bits", (json_int_t)h0->sub_bits, "bucket_count",
                            (json_int_t)h0->bucket_count, "phases", phases);
    for (int p = 0; doc != NULL && p < MM_BENCH_PHASE_COUNT; p++)
        if (json_object_set_new(phases, mm_bench_phase_name((mm_bench_phase)p), json_hist_exact(&st->phases[p])) != 0) {
            json_decref(doc);
            return NULL;
        }
    if (doc != NULL && json_object_set_new(doc, "line_error_ppm", json_hist_exact(&st->line_error)) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* {"count", "p50", "p90", "p99", "max"} of the estimate errors, as ratios (null when none). */
static json_t *
json_line(const mm_bench_stats *st)
{
    const mm_bench_hist *e = &st->line_error;
    json_t *err = e->total == 0 ? json_pack("{s:i, s:n, s:n, s:n, s:n}", "count", 0, "p50", "p90", "p99", "max")
                                : json_pack("{s:I, s:f, s:f, s:f, s:f}", "count", (json_int_t)e->total, "p50",
                                            mm_bench_hist_quantile(e, 0.5) / 1e6, "p90", mm_bench_hist_quantile(e, 0.9) / 1e6,
                                            "p99", mm_bench_hist_quantile(e, 0.99) / 1e6, "max", (double)e->max / 1e6);
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:o}", "told", (json_int_t)st->line_told, "left", (json_int_t)st->line_left,
                     "max_position", (json_int_t)st->line_max_position, "max_length", (json_int_t)st->line_max_length,
                     "estimate_error", err, "wait_ms", json_latency(&st->phases[MM_BENCH_PHASE_LEFT_LINE]));
}

static json_t *
json_real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* The fluid model against the actual waits, and the ready rate against the ceiling (null without a model). */
static json_t *
json_fluid(const mm_bench_stats *st)
{
    if (!st->fluid_done)
        return json_null();
    const mm_bench_hist *f = &st->fluid, *w = &st->phases[MM_BENCH_PHASE_LEFT_LINE];
    double rate = ready_span_rate(st);
    double f50 = (double)mm_bench_hist_quantile(f, 0.5), f99 = (double)mm_bench_hist_quantile(f, 0.99);
    double w50 = (double)mm_bench_hist_quantile(w, 0.5), w99 = (double)mm_bench_hist_quantile(w, 0.99);
    return json_pack("{s:f, s:I, s:o, s:o, s:o, s:o, s:o}", "ceiling_rps", st->fluid_ceiling, "arrivals",
                     (json_int_t)f->total, "fluid_wait_ms", json_latency(f), "wait_ms", json_latency(w), "ratio_p50",
                     json_real_or_null(w->total ? ratio_or_nan(w50, f50) : NAN), "ratio_p99",
                     json_real_or_null(w->total ? ratio_or_nan(w99, f99) : NAN), "ready_rate_ratio",
                     json_real_or_null(rate > 0 ? rate / st->fluid_ceiling : NAN));
}

static json_t *
json_timeline(const mm_bench_stats *st)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < st->second_count; i++) {
        const mm_bench_second *s = &st->seconds[i];
        json_t *row = json_pack("{s:I, s:I, s:I, s:I, s:I}", "t", (json_int_t)i, "started", (json_int_t)s->started, "ready",
                                (json_int_t)s->ready, "failed", (json_int_t)s->failed, "in_flight", (json_int_t)s->in_flight);
        if (row != NULL && s->ready > 0)
            json_object_update_new(row, json_pack("{s:f, s:f, s:f, s:f}", "p50_ms", ms(s->p50_us), "p90_ms", ms(s->p90_us),
                                                  "p99_ms", ms(s->p99_us), "max_ms", ms(s->max_us)));
        if (row != NULL && s->failed > 0)
            json_object_set_new(row, "failed_by", json_failed_by(s));
        if (row != NULL && s->ready_hist_len > 0)
            json_object_set_new(row, "ready_us", json_pack("{s:I, s:I, s:o}", "min", (json_int_t)s->min_us, "max",
                                                           (json_int_t)s->max_us, "buckets",
                                                           json_cells(s->ready_hist, s->ready_hist_len)));
        if (json_array_append_new(a, row) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

mm_err
mm_bench_report_json(const char *path, const mm_bench_config *cfg, const mm_bench_stats *st, char *why, size_t why_len)
{
    mm_err err = MM_ERR_NOMEM;
    json_t *phases = json_object(), *doc = NULL;
    for (int p = 0; phases != NULL && p < MM_BENCH_PHASE_COUNT; p++)
        if (json_object_set_new(phases, mm_bench_phase_name((mm_bench_phase)p), json_latency(&st->phases[p])) != 0) {
            json_decref(phases);
            phases = NULL;
        }
    doc = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:I, s:o, s:f, s:f, s:o, s:o, s:I, s:f, s:I, s:{s:f, s:f, s:f}, s:f, "
                    "s:b, s:b, s:o, s:f}",
                    "tool", "mm_bench", "requests", (json_int_t)st->started, "ready", (json_int_t)st->outcomes[MM_BENCH_READY],
                    "errors", (json_int_t)mm_bench_stats_errors(st), "outcomes", json_outcomes(st), "latency_ms",
                    json_latency(&st->phases[MM_BENCH_PHASE_READY]), "decided", (json_int_t)st->decided, "phases_ms", phases,
                    "rate", ready_rate(st), "started_rate", started_rate(st), "config", json_config(cfg, st), "reasons",
                    json_reasons(st), "reasons_other", (json_int_t)st->reasons_other, "elapsed_s",
                    seconds(st->end_ns - st->start_ns), "tokens_verified", (json_int_t)st->tokens_verified, "cpu", "user_s",
                    st->cpu_user_s, "sys_s", st->cpu_sys_s, "percent", cpu_percent(st), "max_start_lag_ms",
                    ms(st->max_lag_ns / 1000), "interrupted", st->interrupted, "timeline_truncated", st->timeline_truncated,
                    "timeline", json_timeline(st), "histogram_precision", mm_bench_hist_precision(&st->phases[0]));
    char start_time[64] = "";
    time_t start_s = (time_t)(st->start_unix_ns / 1000000000ULL);
    struct tm tm;
    if (gmtime_r(&start_s, &tm) != NULL)
        snprintf(start_time, sizeof(start_time), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(st->start_unix_ns / 1000000 % 1000));
    /* exact figures for mm_bench merge: wall-clock start, times in ns from it, the histograms */
    if (doc == NULL ||
        json_object_update_new(
            doc, json_pack("{s:{s:I, s:I}, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:o}", "sources", "used",
                           (json_int_t)st->sources_used, "max_per_address", (json_int_t)st->sources_max_per, "start_time",
                           start_time, "start_unix_ns", (json_int_t)st->start_unix_ns, "elapsed_ns",
                           (json_int_t)(st->end_ns - st->start_ns), "last_start_ns",
                           (json_int_t)(st->last_start_ns > st->start_ns ? st->last_start_ns - st->start_ns : 0),
                           "last_decided_ns",
                           (json_int_t)(st->last_decided_ns > st->start_ns ? st->last_decided_ns - st->start_ns : 0),
                           "max_start_lag_ns", (json_int_t)st->max_lag_ns, "timeline_sparse_lost", st->timeline_sparse_lost,
                           "histograms", json_histograms(st))) != 0 ||
        json_object_update_new(
            doc, json_pack("{s:o, s:o, s:f, s:o, s:I, s:I, s:I, s:I}", "line", json_line(st), "fluid", json_fluid(st),
                           "ready_span_rate", ready_span_rate(st), "ready_span_ratio",
                           json_real_or_null(st->fluid_ceiling > 0 && ready_span_rate(st) > 0
                                                 ? ready_span_rate(st) / st->fluid_ceiling
                                                 : NAN),
                           "first_ready_ns",
                           (json_int_t)(st->first_ready_ns > st->start_ns ? st->first_ready_ns - st->start_ns : 0),
                           "last_ready_ns", (json_int_t)(st->last_ready_ns > st->start_ns ? st->last_ready_ns - st->start_ns : 0),
                           "line_max_position", (json_int_t)st->line_max_position, "line_max_length",
                           (json_int_t)st->line_max_length)) != 0) {
        mm_fail(err, why, why_len, "out of memory building the JSON");
        goto cleanup;
    }
    int flags = JSON_INDENT(1) | JSON_PRESERVE_ORDER;
    int rc = strcmp(path, "-") == 0 ? json_dumpf(doc, stdout, flags) : json_dump_file(doc, path, flags);
    if (rc != 0) {
        err = mm_fail(MM_ERR_IO, why, why_len, "cannot write %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (strcmp(path, "-") == 0)
        fputc('\n', stdout);
    err = MM_OK;
cleanup:
    json_decref(doc);
    return err;
}
