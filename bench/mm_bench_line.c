/*
 * mm_bench and a launch (docs/mm_bench.md, "Load curves" and "Waiting room and estimates"):
 *
 *   --rate-curve   a piecewise-linear rate r(t) through the points (t_i, r_i); request k starts
 *                  when C(t) = k, C the integral of r (closed form per segment, as the ramp of
 *                  mm_bench_config.c: no accumulated rounding, the total known before the run);
 *   waiting room   the ProgressReport text a matchmaker with a waiting room sends,
 *                  "Waiting in line: position P of N, about S s (E)", parsed strictly;
 *   fluid model    the best any FIFO could do at a ceiling of C players/s, from the run's own
 *                  arrival times (a single-server fluid queue, Lindley's recurrence);
 *   --requests-csv one line per request: when it started, when it was told its first position
 *                  and what, when it left the line, its outcome.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_bench.h"

#define NS_PER_S 1000000000.0
#define MAX_RATE 1000000.0

/* "30s", "500ms", "2m", "1h", "1.5" into seconds, 0 .. 24 h; -1 when not one. */
static double
curve_time(const char *text)
{
    uint64_t ns = 0;
    return mm_bench_parse_duration(text, 0, &ns) == 0 ? (double)ns / NS_PER_S : -1;
}

int
mm_bench_flags_rate_curve(mm_bench_config *cfg, const char *text)
{
    char copy[MM_BENCH_CURVE_TEXT];
    if (strlen(text) >= sizeof(copy))
        return mm_bench_usage_error("--rate-curve: longer than %zu bytes", sizeof(copy) - 1);
    strcpy(copy, text);
    size_t n = 0;
    char *save = NULL;
    for (char *point = strtok_r(copy, ",", &save); point != NULL; point = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(point, ':'), *end = NULL;
        if (n == MM_BENCH_MAX_CURVE)
            return mm_bench_usage_error("--rate-curve: at most %d points", MM_BENCH_MAX_CURVE);
        if (colon == NULL)
            return mm_bench_usage_error("--rate-curve: '%.40s' is not TIME:RATE (e.g. 10s:500)", point);
        *colon = '\0';
        double t = curve_time(point);
        if (t < 0)
            return mm_bench_usage_error("--rate-curve: '%.40s' is not a time like 0s, 500ms, 30s, 2m (0 to 24h)", point);
        const char *rate = colon + 1;
        double r = strtod(rate, &end);
        if (end == rate || *end != '\0' || rate[0] == '-' || rate[0] == '+' || rate[0] == ' ' || !isfinite(r) || r < 0 ||
            r > MAX_RATE)
            return mm_bench_usage_error("--rate-curve: '%.40s' is not a rate (requests per second, 0 to %.0f)", rate, MAX_RATE);
        if (n == 0 && t != 0)
            return mm_bench_usage_error("--rate-curve: the first point must be at 0s");
        if (n > 0 && t < cfg->curve_t[n - 1])
            return mm_bench_usage_error("--rate-curve: the times must not decrease (%.40s)", point);
        cfg->curve_t[n] = t;
        cfg->curve_r[n] = r;
        cfg->curve_c[n] = n == 0 ? 0 : cfg->curve_c[n - 1] + (t - cfg->curve_t[n - 1]) * (r + cfg->curve_r[n - 1]) / 2;
        n++;
    }
    if (n < 2)
        return mm_bench_usage_error("--rate-curve: needs at least two points, e.g. 0s:0,10s:1000");
    if (cfg->curve_t[n - 1] <= 0)
        return mm_bench_usage_error("--rate-curve: the last point must be after 0s");
    cfg->curve_len = n;
    snprintf(cfg->curve_text, sizeof(cfg->curve_text), "%s", text);
    return 0;
}

uint64_t
mm_bench_curve_total(const mm_bench_config *cfg)
{
    if (cfg->curve_len == 0)
        return 0;
    return (uint64_t)ceil(cfg->curve_c[cfg->curve_len - 1] - 1e-9);
}

/*
 * Within segment i, r(tau) = r_i + s tau, so C = C_i + r_i tau + s tau^2 / 2. For d = k - C_i the
 * root is tau = 2 d / (r_i + sqrt(r_i^2 + 2 s d)), the form that stays exact when s is 0 or small.
 */
uint64_t
mm_bench_curve_offset(const mm_bench_config *cfg, uint64_t k)
{
    size_t n = cfg->curve_len, i = 0;
    double kk = (double)k;
    if (n == 0)
        return 0;
    while (i + 2 < n && kk >= cfg->curve_c[i + 1])
        i++;
    double d = kk - cfg->curve_c[i], dt = cfg->curve_t[i + 1] - cfg->curve_t[i];
    double r = cfg->curve_r[i], s = dt > 0 ? (cfg->curve_r[i + 1] - r) / dt : 0;
    double tau = 0;
    if (d > 0) {
        double disc = r * r + 2 * s * d;
        double den = r + sqrt(disc > 0 ? disc : 0);
        tau = den > 0 ? 2 * d / den : dt;
        if (tau > dt && i + 2 < n)
            tau = dt; /* rounding at a segment's end */
    }
    return (uint64_t)llround((cfg->curve_t[i] + tau) * NS_PER_S);
}

/* A decimal number of at most 9 digits at *p; advances *p. -1 when none. */
static int
line_number(const char **p, const char *end, uint32_t *out)
{
    uint32_t v = 0;
    int digits = 0;
    while (*p < end && **p >= '0' && **p <= '9' && digits < 9) {
        v = v * 10 + (uint32_t)(**p - '0');
        (*p)++;
        digits++;
    }
    if (digits == 0 || (*p < end && **p >= '0' && **p <= '9'))
        return -1;
    *out = v;
    return 0;
}

static int
line_literal(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return -1;
    *p += n;
    return 0;
}

int
mm_bench_line_parse(const char *text, size_t len, uint32_t *position, uint32_t *length, uint32_t *estimate_s)
{
    const char *p = text, *end = text + len;
    uint32_t pos = 0, n = 0, est = 0, elapsed = 0;
    if (line_literal(&p, end, "Waiting in line: position ") != 0 || line_number(&p, end, &pos) != 0 ||
        line_literal(&p, end, " of ") != 0 || line_number(&p, end, &n) != 0 || line_literal(&p, end, ", about ") != 0 ||
        line_number(&p, end, &est) != 0 || line_literal(&p, end, " s (") != 0 || line_number(&p, end, &elapsed) != 0 ||
        line_literal(&p, end, ")") != 0 || p != end)
        return 0;
    *position = pos;
    *length = n;
    *estimate_s = est;
    return 1;
}

void
mm_bench_fluid_waits(const uint64_t *arrivals, size_t n, double ceiling, uint64_t *out)
{
    double service = NS_PER_S / ceiling, wait = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            double gap = arrivals[i] >= arrivals[i - 1] ? (double)(arrivals[i] - arrivals[i - 1]) : 0;
            wait = wait + service - gap;
            if (wait < 0)
                wait = 0;
        }
        out[i] = (uint64_t)llround(wait);
    }
}

void
mm_bench_line_csv_header(FILE *out)
{
    fputs("request,start_ms,told_ms,position,length,estimate_s,left_ms,ready_ms,outcome\n", out);
}

/* Times in ms from the run's start (empty when never reached), so a spreadsheet can redo any figure. */
void
mm_bench_line_csv_row(FILE *out, const mm_bench_stats *st, uint64_t index, uint64_t t0, const uint64_t at[MM_BENCH_PHASE_COUNT],
                      const mm_bench_session *s)
{
    char told[24] = "", left[24] = "", ready[24] = "", position[12] = "", length[12] = "", estimate[12] = "";
    char outcome[32];
    uint64_t start = st->start_ns;
    if (at[MM_BENCH_PHASE_TOLD] != 0) {
        snprintf(told, sizeof(told), "%.3f", (double)(at[MM_BENCH_PHASE_TOLD] - start) / 1e6);
        snprintf(position, sizeof(position), "%u", s->line_position);
        snprintf(length, sizeof(length), "%u", s->line_length);
        snprintf(estimate, sizeof(estimate), "%u", s->line_estimate_s);
    }
    if (at[MM_BENCH_PHASE_LEFT_LINE] != 0)
        snprintf(left, sizeof(left), "%.3f", (double)(at[MM_BENCH_PHASE_LEFT_LINE] - start) / 1e6);
    if (at[MM_BENCH_PHASE_READY] != 0 && s->outcome == MM_BENCH_READY)
        snprintf(ready, sizeof(ready), "%.3f", (double)(at[MM_BENCH_PHASE_READY] - start) / 1e6);
    if (s->outcome == MM_BENCH_ERROR)
        snprintf(outcome, sizeof(outcome), "error_%u", (unsigned)s->error_code);
    else
        snprintf(outcome, sizeof(outcome), "%s", mm_bench_outcome_name(s->outcome));
    fprintf(out, "%llu,%.3f,%s,%s,%s,%s,%s,%s,%s\n", (unsigned long long)index, (double)(t0 > start ? t0 - start : 0) / 1e6, told,
            position, length, estimate, left, ready, outcome);
}
