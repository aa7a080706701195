/*
 * What a run measured (mm_bench.h): outcome counts (with one counter per Error status code),
 * a full-precision histogram per phase, a table of distinct failure reasons, and a timeline of
 * one row per second. A row is closed when the clock passes its end: the ready latencies of
 * that second (kept in a separate window histogram, reset each second) become its percentiles.
 * Recording is O(1) (a few counters and bucket increments); only closing a second walks a
 * histogram, once per second. A closed row keeps the failures by class (for the plot) and the
 * non-empty buckets of its window (sparse), so that runs can be merged exactly (mm_bench_merge.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mm_bench.h"

/* ~0.012% relative precision: 2 ms buckets at 20 s, so that time-to-ready minus a 20 s deployment
 * (bench/baseline.sh scenario 3) is resolved to a millisecond; 3.4 MB per histogram */
#define HIST_BITS 14
#define NS_PER_S 1000000000ULL

static const char *const phase_names[MM_BENCH_PHASE_COUNT] = {
    [MM_BENCH_PHASE_CONNECT] = "connect",
    [MM_BENCH_PHASE_UPGRADE] = "upgrade",
    [MM_BENCH_PHASE_FIRST_MESSAGE] = "first_message",
    [MM_BENCH_PHASE_ACCEPTED] = "accepted",
    [MM_BENCH_PHASE_READY] = "ready",
    [MM_BENCH_PHASE_TOLD] = "told",
    [MM_BENCH_PHASE_LEFT_LINE] = "left_line",
};

const char *
mm_bench_phase_name(mm_bench_phase phase)
{
    return (unsigned)phase < MM_BENCH_PHASE_COUNT ? phase_names[phase] : "unknown";
}

/* This process's user and system CPU seconds so far. */
static void
cpu_now(double *user, double *sys)
{
    struct rusage ru;
    *user = *sys = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
}

mm_err
mm_bench_stats_init(mm_bench_stats *st, uint64_t start_ns)
{
    memset(st, 0, sizeof(*st));
    st->start_ns = st->end_ns = start_ns;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    st->start_unix_ns = (uint64_t)wall.tv_sec * NS_PER_S + (uint64_t)wall.tv_nsec;
    cpu_now(&st->cpu_start_user_s, &st->cpu_start_sys_s);
    st->error_codes = calloc(65536, sizeof(*st->error_codes));
    st->second_cap = 64;
    st->seconds = calloc(st->second_cap, sizeof(*st->seconds));
    mm_err err = st->error_codes != NULL && st->seconds != NULL ? MM_OK : MM_ERR_NOMEM;
    for (int i = 0; i < MM_BENCH_PHASE_COUNT && err == MM_OK; i++)
        err = mm_bench_hist_init(&st->phases[i], HIST_BITS);
    if (err == MM_OK)
        err = mm_bench_hist_init(&st->window, HIST_BITS);
    if (err == MM_OK)
        err = mm_bench_hist_init(&st->line_error, HIST_BITS);
    if (err == MM_OK)
        err = mm_bench_hist_init(&st->fluid, HIST_BITS);
    if (err != MM_OK) {
        mm_bench_stats_free(st);
        return err;
    }
    st->second_count = 1;
    return MM_OK;
}

void
mm_bench_stats_free(mm_bench_stats *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < MM_BENCH_PHASE_COUNT; i++)
        mm_bench_hist_free(&st->phases[i]);
    mm_bench_hist_free(&st->window);
    mm_bench_hist_free(&st->line_error);
    mm_bench_hist_free(&st->fluid);
    free(st->arrivals);
    free(st->error_codes);
    for (size_t i = 0; st->seconds != NULL && i < st->second_count; i++)
        free(st->seconds[i].ready_hist);
    free(st->seconds);
    memset(st, 0, sizeof(*st));
}

/* Writes the open second's in-flight count and ready percentiles into row. */
static void
row_fill(mm_bench_stats *st, mm_bench_second *row)
{
    row->in_flight = st->in_flight;
    if (st->window.total > 0) {
        row->p50_us = mm_bench_hist_quantile(&st->window, 0.50);
        row->p90_us = mm_bench_hist_quantile(&st->window, 0.90);
        row->p99_us = mm_bench_hist_quantile(&st->window, 0.99);
        row->min_us = st->window.min;
        row->max_us = st->window.max;
        free(row->ready_hist);
        if (mm_bench_hist_sparse(&st->window, &row->ready_hist, &row->ready_hist_len) != MM_OK)
            st->timeline_sparse_lost = 1;
    }
}

void
mm_bench_second_percentiles(mm_bench_second *row, mm_bench_hist *scratch)
{
    mm_bench_hist_reset(scratch);
    for (size_t i = 0; i < row->ready_hist_len; i++)
        mm_bench_hist_add_bucket(scratch, row->ready_hist[i].index, row->ready_hist[i].count);
    if (scratch->total == 0)
        return;
    scratch->min = row->min_us;
    scratch->max = row->max_us;
    row->p50_us = mm_bench_hist_quantile(scratch, 0.50);
    row->p90_us = mm_bench_hist_quantile(scratch, 0.90);
    row->p99_us = mm_bench_hist_quantile(scratch, 0.99);
    mm_bench_hist_reset(scratch);
}

void
mm_bench_second_add_failed(mm_bench_second *row, mm_bench_outcome outcome, uint16_t code, uint64_t count)
{
    row->failed_by[outcome] += count;
    if (outcome != MM_BENCH_ERROR)
        return;
    for (size_t i = 0; i < row->code_count; i++)
        if (row->codes[i] == code) {
            row->code_counts[i] += count;
            return;
        }
    if (row->code_count == MM_BENCH_ROW_CODES) {
        row->codes_other += count;
        return;
    }
    row->codes[row->code_count] = code;
    row->code_counts[row->code_count++] = count;
}

mm_err
mm_bench_stats_reserve(mm_bench_stats *st, size_t n)
{
    if (n <= st->second_cap)
        return MM_OK;
    mm_bench_second *grown = realloc(st->seconds, n * sizeof(*grown));
    if (grown == NULL)
        return MM_ERR_NOMEM;
    memset(grown + st->second_cap, 0, (n - st->second_cap) * sizeof(*grown));
    st->seconds = grown;
    st->second_cap = n;
    return MM_OK;
}

/* Closes the open row with the window's figures and opens the next (or keeps the last). */
static void
second_close(mm_bench_stats *st)
{
    mm_bench_second *row = &st->seconds[st->second_count - 1];
    row_fill(st, row);
    mm_bench_hist_reset(&st->window);
    if (st->second_count == st->second_cap) {
        size_t cap = st->second_cap * 2;
        mm_bench_second *grown = realloc(st->seconds, cap * sizeof(*grown));
        if (grown == NULL) {
            /* keep counting into the last row; the JSON says the timeline was cut short */
            st->timeline_truncated = 1;
            free(row->ready_hist);
            memset(row, 0, sizeof(*row));
            return;
        }
        st->seconds = grown;
        st->second_cap = cap;
    }
    memset(&st->seconds[st->second_count], 0, sizeof(*st->seconds));
    st->second_count++;
}

void
mm_bench_stats_tick(mm_bench_stats *st, uint64_t now_ns)
{
    if (now_ns < st->start_ns || st->timeline_truncated)
        return;
    uint64_t second = (now_ns - st->start_ns) / NS_PER_S;
    while (st->second_count <= second && !st->timeline_truncated)
        second_close(st);
}

void
mm_bench_stats_started(mm_bench_stats *st, uint64_t now_ns, uint64_t lag_ns)
{
    mm_bench_stats_tick(st, now_ns);
    st->started++;
    st->in_flight++;
    st->last_start_ns = now_ns;
    if (lag_ns > st->max_lag_ns)
        st->max_lag_ns = lag_ns;
    st->seconds[st->second_count - 1].started++;
}

void
mm_bench_stats_add_reason(mm_bench_stats *st, mm_bench_outcome outcome, uint16_t code, const char *text, uint64_t count)
{
    for (size_t i = 0; i < st->reason_count; i++) {
        mm_bench_reason *r = &st->reasons[i];
        if (r->outcome == outcome && r->code == code && strncmp(r->text, text, sizeof(r->text) - 1) == 0) {
            r->count += count;
            return;
        }
    }
    if (st->reason_count == MM_BENCH_MAX_REASONS) {
        st->reasons_other += count;
        return;
    }
    mm_bench_reason *r = &st->reasons[st->reason_count++];
    r->outcome = outcome;
    r->code = code;
    snprintf(r->text, sizeof(r->text), "%s", text);
    r->count = count;
}

/* The waiting room: who was told a position, who left the line, how true the first estimate was. */
static void
stats_line(mm_bench_stats *st, const mm_bench_session *s, const uint64_t at[MM_BENCH_PHASE_COUNT])
{
    if (s->line_reports == 0 || at[MM_BENCH_PHASE_TOLD] == 0)
        return;
    st->line_told++;
    st->line_max_position = s->line_position > st->line_max_position ? s->line_position : st->line_max_position;
    st->line_max_length = s->line_length > st->line_max_length ? s->line_length : st->line_max_length;
    uint64_t told = at[MM_BENCH_PHASE_TOLD], left = at[MM_BENCH_PHASE_LEFT_LINE];
    if (left == 0 || left <= told)
        return;
    st->line_left++;
    double actual = (double)(left - told), estimate = (double)s->line_estimate_s * 1e9;
    double error = fabs(estimate - actual) / actual * 1e6;
    mm_bench_hist_record(&st->line_error, error < 1e15 ? (uint64_t)llround(error) : (uint64_t)1e15);
}

void
mm_bench_stats_arrival(mm_bench_stats *st, uint64_t offset_ns)
{
    if (!(st->fluid_ceiling > 0) || st->arrivals_lost)
        return;
    if (st->arrival_count == st->arrival_cap) {
        size_t cap = st->arrival_cap ? st->arrival_cap * 2 : 4096;
        uint64_t *grown = realloc(st->arrivals, cap * sizeof(*grown));
        if (grown == NULL) {
            st->arrivals_lost = 1;
            return;
        }
        st->arrivals = grown;
        st->arrival_cap = cap;
    }
    st->arrivals[st->arrival_count++] = offset_ns;
}

void
mm_bench_stats_fluid(mm_bench_stats *st)
{
    if (!(st->fluid_ceiling > 0) || st->arrivals_lost || st->arrival_count == 0)
        return;
    uint64_t *waits = malloc(st->arrival_count * sizeof(*waits));
    if (waits == NULL) {
        st->arrivals_lost = 1;
        return;
    }
    mm_bench_fluid_waits(st->arrivals, st->arrival_count, st->fluid_ceiling, waits);
    for (size_t i = 0; i < st->arrival_count; i++)
        mm_bench_hist_record(&st->fluid, waits[i] / 1000);
    free(waits);
    st->fluid_done = 1;
}

void
mm_bench_stats_decided(mm_bench_stats *st, const mm_bench_session *s, uint64_t t0, const uint64_t at[MM_BENCH_PHASE_COUNT],
                       uint64_t now_ns)
{
    mm_bench_stats_tick(st, now_ns);
    mm_bench_second *row = &st->seconds[st->second_count - 1];
    st->decided++;
    st->in_flight--;
    st->last_decided_ns = now_ns;
    st->outcomes[s->outcome]++;
    if (s->outcome == MM_BENCH_ERROR)
        st->error_codes[s->error_code]++;
    int ready = s->outcome == MM_BENCH_READY;
    for (int p = 0; p < MM_BENCH_PHASE_COUNT; p++) {
        if (at[p] == 0 || (p == MM_BENCH_PHASE_READY && !ready))
            continue;
        uint64_t us = at[p] > t0 ? (at[p] - t0) / 1000 : 0;
        mm_bench_hist_record(&st->phases[p], us);
        if (p == MM_BENCH_PHASE_READY)
            mm_bench_hist_record(&st->window, us);
    }
    if (ready) {
        if (st->first_ready_ns == 0 || at[MM_BENCH_PHASE_READY] < st->first_ready_ns)
            st->first_ready_ns = at[MM_BENCH_PHASE_READY];
        if (at[MM_BENCH_PHASE_READY] > st->last_ready_ns)
            st->last_ready_ns = at[MM_BENCH_PHASE_READY];
    }
    stats_line(st, s, at);
    if (ready) {
        row->ready++;
        st->tokens_verified += s->token_verified ? 1 : 0;
    } else {
        row->failed++;
        mm_bench_second_add_failed(row, s->outcome, s->outcome == MM_BENCH_ERROR ? s->error_code : 0, 1);
        mm_bench_stats_add_reason(st, s->outcome, s->error_code, s->reason, 1);
    }
}

void
mm_bench_stats_close(mm_bench_stats *st, uint64_t end_ns)
{
    st->end_ns = end_ns > st->start_ns ? end_ns : st->start_ns;
    mm_bench_stats_tick(st, st->end_ns);
    /* the last, partial second: its figures, without opening another */
    row_fill(st, &st->seconds[st->second_count - 1]);
    double user, sys;
    cpu_now(&user, &sys);
    st->cpu_user_s = user - st->cpu_start_user_s;
    st->cpu_sys_s = sys - st->cpu_start_sys_s;
}

uint64_t
mm_bench_stats_errors(const mm_bench_stats *st)
{
    return st->decided - st->outcomes[MM_BENCH_READY];
}
