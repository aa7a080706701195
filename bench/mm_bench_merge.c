/*
 * mm_bench merge A.json B.json ... [--json OUT] [--plot OUT.png] (mm_bench.h): one result from
 * runs made at the same time (several processes or machines, each with its own source
 * addresses), exactly as if one run had made them all:
 *
 *   - counts (requests, outcomes per class and Error code, reasons, tokens, sources) are summed;
 *   - the phase histograms are merged bucket by bucket (never percentiles averaged), and every
 *     percentile is recomputed from the merged buckets; min, max, count and sum stay exact;
 *   - the per-second timelines are aligned on wall-clock time: a run's second i lands in the
 *     merged second round((its start - the earliest start) / 1 s) + i, where the counts add up
 *     and the sparse ready histograms merge, giving that second's percentiles again;
 *   - times: the earliest start, the latest last start, last decision and end;
 *   - the waiting room: counts summed, the estimate-error histogram merged by bucket. The fluid
 *     model is not merged (it needs every run's arrival times, which a result does not carry): the
 *     merged table and --json say so ("fluid": null) and each run's own figures stand.
 *
 * A run whose histograms have another layout (sub_bits, bucket count, unit) than this mm_bench's
 * is refused with a clear error, as is a document that is not an mm_bench result or lacks the
 * exact figures (written by an mm_bench before merging existed). Then the table a run prints,
 * --json and --plot are produced from the merged figures by the run's own report code.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_bench.h"

#define MAX_RUNS 1024
#define MAX_TIMELINE_S (86400 * 2 + 3600)

struct run {
    const char *path;
    json_t *doc;
    uint64_t start_unix_ns;
};

static int
fail(char *why, size_t why_len, const char *path, const char *what)
{
    snprintf(why, why_len, "%s: %s", path, what);
    return -1;
}

/* A non-negative JSON integer, or -1 (not one). */
static int
get_u64(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static double
get_real(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* "error_503" -> ERROR/503, "timeout" -> TIMEOUT, ...; -1 for an unknown class. */
static int
class_parse(const char *name, mm_bench_outcome *outcome, uint16_t *code)
{
    *code = 0;
    if (strncmp(name, "error_", 6) == 0 && name[6] >= '0' && name[6] <= '9') {
        char *end = NULL;
        unsigned long v = strtoul(name + 6, &end, 10);
        if (*end != '\0' || v > 65535)
            return -1;
        *outcome = MM_BENCH_ERROR;
        *code = (uint16_t)v;
        return 0;
    }
    for (int i = 0; i < MM_BENCH_OUTCOME_COUNT; i++)
        if (i != MM_BENCH_ERROR && strcmp(name, mm_bench_outcome_name((mm_bench_outcome)i)) == 0) {
            *outcome = (mm_bench_outcome)i;
            return 0;
        }
    return -1;
}

/* Adds [[index, count], ...] to h; the sum of the counts into *total. -1 on a bad cell. */
static int
add_cells(mm_bench_hist *h, json_t *cells, uint64_t *total)
{
    size_t i;
    json_t *cell;
    *total = 0;
    if (!json_is_array(cells))
        return -1;
    json_array_foreach(cells, i, cell)
    {
        json_t *index = json_array_get(cell, 0), *count = json_array_get(cell, 1);
        if (json_array_size(cell) != 2 || !json_is_integer(index) || !json_is_integer(count) || json_integer_value(index) < 0 ||
            json_integer_value(count) <= 0 ||
            mm_bench_hist_add_bucket(h, (size_t)json_integer_value(index), (uint64_t)json_integer_value(count)) != MM_OK)
            return -1;
        *total += (uint64_t)json_integer_value(count);
    }
    return 0;
}

/* The first estimates' errors of one run (absent before the waiting room was measured). */
static int
merge_line_error(mm_bench_stats *st, const char *path, json_t *one, char *why, size_t why_len)
{
    uint64_t count = 0, min = 0, max = 0, total = 0;
    if (one == NULL)
        return 0;
    if (get_u64(one, "count", &count) != 0 || get_u64(one, "min", &min) != 0 || get_u64(one, "max", &max) != 0 ||
        add_cells(&st->line_error, json_object_get(one, "buckets"), &total) != 0 || total != count)
        return fail(why, why_len, path, "histogram line_error_ppm is malformed");
    if (count > 0) {
        st->line_error.min = min < st->line_error.min ? min : st->line_error.min;
        st->line_error.max = max > st->line_error.max ? max : st->line_error.max;
    }
    return 0;
}

/* The layout check and the phase histograms of one run, merged into st. */
static int
merge_histograms(mm_bench_stats *st, const char *path, json_t *doc, char *why, size_t why_len)
{
    char msg[256];
    json_t *hs = json_object_get(doc, "histograms");
    uint64_t sub_bits = 0, buckets = 0;
    if (!json_is_object(hs))
        return fail(why, why_len, path,
                    "no \"histograms\": written by an mm_bench that predates merging; it cannot be merged exactly");
    const char *unit = json_string_value(json_object_get(hs, "unit"));
    if (get_u64(hs, "sub_bits", &sub_bits) != 0 || get_u64(hs, "bucket_count", &buckets) != 0 || unit == NULL)
        return fail(why, why_len, path, "\"histograms\" lacks unit, sub_bits or bucket_count");
    if (strcmp(unit, "us") != 0 || sub_bits != st->phases[0].sub_bits || buckets != st->phases[0].bucket_count) {
        snprintf(msg, sizeof(msg),
                 "incompatible histogram layout (unit %.8s, sub_bits %llu, %llu buckets; this mm_bench: us, %u, %zu): runs "
                 "with different layouts cannot be merged exactly",
                 unit, (unsigned long long)sub_bits, (unsigned long long)buckets, st->phases[0].sub_bits,
                 st->phases[0].bucket_count);
        return fail(why, why_len, path, msg);
    }
    for (int p = 0; p < MM_BENCH_PHASE_COUNT; p++) {
        const char *name = mm_bench_phase_name((mm_bench_phase)p);
        json_t *one = json_object_get(json_object_get(hs, "phases"), name);
        mm_bench_hist *h = &st->phases[p];
        uint64_t count = 0, min = 0, max = 0, total = 0;
        if (one == NULL && p >= MM_BENCH_PHASE_TOLD)
            continue; /* written before the waiting-room phases: none reached */
        const char *sum = json_string_value(json_object_get(one, "sum"));
        char *end = NULL;
        long double sum_v = sum != NULL ? strtold(sum, &end) : -1;
        if (get_u64(one, "count", &count) != 0 || get_u64(one, "min", &min) != 0 || get_u64(one, "max", &max) != 0 || sum == NULL ||
            end == sum || *end != '\0' || !(sum_v >= 0) || add_cells(h, json_object_get(one, "buckets"), &total) != 0) {
            snprintf(msg, sizeof(msg), "histogram of phase %s is missing or malformed", name);
            return fail(why, why_len, path, msg);
        }
        if (total != count) {
            snprintf(msg, sizeof(msg), "histogram of phase %s: buckets hold %llu values, count says %llu", name,
                     (unsigned long long)total, (unsigned long long)count);
            return fail(why, why_len, path, msg);
        }
        if (count > 0) {
            h->min = min < h->min ? min : h->min;
            h->max = max > h->max ? max : h->max;
            h->sum += sum_v;
        }
    }
    return merge_line_error(st, path, json_object_get(hs, "line_error_ppm"), why, why_len);
}

/* Merges b's sparse cells into row's (both in index order). */
static int
merge_row_cells(mm_bench_second *row, const mm_bench_hist_cell *b, size_t nb)
{
    size_t na = row->ready_hist_len, i = 0, j = 0, k = 0;
    const mm_bench_hist_cell *a = row->ready_hist;
    mm_bench_hist_cell *out = malloc((na + nb) * sizeof(*out));
    if (out == NULL)
        return -1;
    while (i < na || j < nb) {
        if (j == nb || (i < na && a[i].index < b[j].index))
            out[k++] = a[i++];
        else if (i == na || b[j].index < a[i].index)
            out[k++] = b[j++];
        else {
            out[k] = a[i++];
            out[k++].count += b[j++].count;
        }
    }
    free(row->ready_hist);
    row->ready_hist = out;
    row->ready_hist_len = k;
    return 0;
}

/* One timeline row of a run into the merged row. */
static int
merge_row(mm_bench_second *row, json_t *r, mm_bench_hist *scratch)
{
    uint64_t started = 0, ready = 0, failed = 0, in_flight = 0;
    if (get_u64(r, "started", &started) != 0 || get_u64(r, "ready", &ready) != 0 || get_u64(r, "failed", &failed) != 0 ||
        get_u64(r, "in_flight", &in_flight) != 0)
        return -1;
    row->started += started;
    row->ready += ready;
    row->failed += failed;
    row->in_flight += in_flight;
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(r, "failed_by"), key, v)
    {
        mm_bench_outcome outcome;
        uint16_t code;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return -1;
        if (strcmp(key, "error_other") == 0) {
            row->failed_by[MM_BENCH_ERROR] += (uint64_t)json_integer_value(v);
            row->codes_other += (uint64_t)json_integer_value(v);
        } else if (class_parse(key, &outcome, &code) == 0) {
            mm_bench_second_add_failed(row, outcome, code, (uint64_t)json_integer_value(v));
        } else {
            return -1;
        }
    }
    json_t *hist = json_object_get(r, "ready_us");
    if (hist == NULL)
        return 0;
    uint64_t min = 0, max = 0, total = 0;
    json_t *cells = json_object_get(hist, "buckets");
    if (get_u64(hist, "min", &min) != 0 || get_u64(hist, "max", &max) != 0 || !json_is_array(cells))
        return -1;
    /* checked through the scratch histogram (indices in the layout), then kept sparse */
    int had = row->ready_hist_len > 0;
    mm_bench_hist_reset(scratch);
    int bad = add_cells(scratch, cells, &total) != 0;
    mm_bench_hist_cell *b = NULL;
    size_t nb = 0;
    bad = bad || mm_bench_hist_sparse(scratch, &b, &nb) != MM_OK || merge_row_cells(row, b, nb) != 0;
    free(b);
    mm_bench_hist_reset(scratch);
    if (bad)
        return -1;
    row->min_us = !had || min < row->min_us ? min : row->min_us;
    row->max_us = max > row->max_us ? max : row->max_us;
    return 0;
}

/* Everything of one run but the histograms and the timeline. */
static int
merge_counts(mm_bench_stats *st, const char *path, json_t *doc, char *why, size_t why_len)
{
    uint64_t u = 0;
    const char *key;
    json_t *v;
    char msg[200];
    if (get_u64(doc, "requests", &u) != 0)
        return fail(why, why_len, path, "no \"requests\" count");
    st->started += u;
    st->in_flight = 0;
    if (get_u64(doc, "decided", &u) == 0)
        st->decided += u;
    json_object_foreach(json_object_get(doc, "outcomes"), key, v)
    {
        mm_bench_outcome outcome;
        uint16_t code;
        if (class_parse(key, &outcome, &code) != 0 || !json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(msg, sizeof(msg), "unknown outcome class or count: %.40s", key);
            return fail(why, why_len, path, msg);
        }
        st->outcomes[outcome] += (uint64_t)json_integer_value(v);
        if (outcome == MM_BENCH_ERROR)
            st->error_codes[code] += (uint64_t)json_integer_value(v);
    }
    size_t i;
    json_array_foreach(json_object_get(doc, "reasons"), i, v)
    {
        mm_bench_outcome outcome;
        uint16_t code;
        const char *cls = json_string_value(json_object_get(v, "outcome"));
        const char *text = json_string_value(json_object_get(v, "reason"));
        if (cls == NULL || text == NULL || class_parse(cls, &outcome, &code) != 0 || get_u64(v, "count", &u) != 0)
            return fail(why, why_len, path, "a malformed entry in \"reasons\"");
        mm_bench_stats_add_reason(st, outcome, code, text, u);
    }
    if (get_u64(doc, "reasons_other", &u) == 0)
        st->reasons_other += u;
    json_t *line = json_object_get(doc, "line");
    if (get_u64(line, "told", &u) == 0)
        st->line_told += u;
    if (get_u64(line, "left", &u) == 0)
        st->line_left += u;
    if (get_u64(line, "max_position", &u) == 0 && u > st->line_max_position)
        st->line_max_position = u;
    if (get_u64(line, "max_length", &u) == 0 && u > st->line_max_length)
        st->line_max_length = u;
    if (get_u64(doc, "tokens_verified", &u) == 0)
        st->tokens_verified += u;
    if (get_u64(doc, "max_start_lag_ns", &u) == 0 && u > st->max_lag_ns)
        st->max_lag_ns = u;
    json_t *cpu = json_object_get(doc, "cpu");
    st->cpu_user_s += get_real(cpu, "user_s");
    st->cpu_sys_s += get_real(cpu, "sys_s");
    st->interrupted |= json_is_true(json_object_get(doc, "interrupted"));
    st->timeline_truncated |= json_is_true(json_object_get(doc, "timeline_truncated"));
    st->timeline_sparse_lost |= json_is_true(json_object_get(doc, "timeline_sparse_lost"));
    json_t *sources = json_object_get(doc, "sources");
    if (get_u64(sources, "used", &u) == 0)
        st->sources_used += u;
    if (get_u64(sources, "max_per_address", &u) == 0 && u > st->sources_max_per)
        st->sources_max_per = u;
    json_t *config = json_object_get(doc, "config");
    if (get_u64(config, "source_addresses", &u) == 0)
        st->sources_total += u;
    const char *text = json_string_value(json_object_get(config, "source_ips"));
    size_t n = strlen(st->sources_text);
    if (text != NULL && n + strlen(text) + 4 < sizeof(st->sources_text))
        snprintf(st->sources_text + n, sizeof(st->sources_text) - n, "%s%s", n ? " + " : "", text);
    return 0;
}

/* Times and the timeline of one run, placed by its start. */
static int
merge_times(mm_bench_stats *st, const struct run *r, mm_bench_hist *scratch, char *why, size_t why_len)
{
    uint64_t elapsed = 0, last_start = 0, last_decided = 0;
    if (get_u64(r->doc, "elapsed_ns", &elapsed) != 0 || get_u64(r->doc, "last_start_ns", &last_start) != 0 ||
        get_u64(r->doc, "last_decided_ns", &last_decided) != 0)
        return fail(why, why_len, r->path, "no elapsed_ns, last_start_ns or last_decided_ns");
    uint64_t at = r->start_unix_ns;
    st->end_ns = at + elapsed > st->end_ns ? at + elapsed : st->end_ns;
    if (last_start > 0 && at + last_start > st->last_start_ns)
        st->last_start_ns = at + last_start;
    if (last_decided > 0 && at + last_decided > st->last_decided_ns)
        st->last_decided_ns = at + last_decided;
    uint64_t first_ready = 0, last_ready = 0;
    if (get_u64(r->doc, "first_ready_ns", &first_ready) == 0 && get_u64(r->doc, "last_ready_ns", &last_ready) == 0 &&
        last_ready > 0) {
        if (st->first_ready_ns == 0 || at + first_ready < st->first_ready_ns)
            st->first_ready_ns = at + first_ready;
        if (at + last_ready > st->last_ready_ns)
            st->last_ready_ns = at + last_ready;
    }
    json_t *timeline = json_object_get(r->doc, "timeline");
    size_t rows = json_array_size(timeline);
    uint64_t offset = (uint64_t)llround((double)(r->start_unix_ns - st->start_unix_ns) / 1e9);
    if (!json_is_array(timeline) || offset + rows > MAX_TIMELINE_S)
        return fail(why, why_len, r->path, "no timeline, or one too long to merge (runs more than two days apart?)");
    if (mm_bench_stats_reserve(st, (size_t)(offset + rows)) != MM_OK)
        return fail(why, why_len, r->path, "out of memory for the timeline");
    if (offset + rows > st->second_count)
        st->second_count = (size_t)(offset + rows); /* so every row with cells is freed, even on an error below */
    for (size_t i = 0; i < rows; i++)
        if (merge_row(&st->seconds[offset + i], json_array_get(timeline, i), scratch) != 0) {
            char msg[80];
            snprintf(msg, sizeof(msg), "timeline row %zu is malformed", i);
            return fail(why, why_len, r->path, msg);
        }
    return 0;
}

/* The config the table and the plot show: the first run's, with rates and sizes summed. */
static void
merged_config(mm_bench_config *cfg, const struct run *runs, size_t n)
{
    json_t *c0 = json_object_get(runs[0].doc, "config");
    const char *s;
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->url, sizeof(cfg->url), "%s", (s = json_string_value(json_object_get(c0, "url"))) ? s : "?");
    snprintf(cfg->game, sizeof(cfg->game), "%s", (s = json_string_value(json_object_get(c0, "game"))) ? s : "?");
    snprintf(cfg->version, sizeof(cfg->version), "%s", (s = json_string_value(json_object_get(c0, "version"))) ? s : "?");
    s = json_string_value(json_object_get(c0, "mode"));
    cfg->mode = s != NULL && strcmp(s, "closed") == 0 ? MM_BENCH_CLOSED_LOOP : MM_BENCH_OPEN_LOOP;
    cfg->timeout_ns = (uint64_t)llround(get_real(c0, "timeout_s") * 1e9);
    cfg->close_grace_ns = (uint64_t)llround(get_real(c0, "close_grace_s") * 1e9);
    cfg->verify = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_object_get(runs[i].doc, "config");
        uint64_t u = 0;
        cfg->rate += get_real(c, "target_rate");
        double d = get_real(c, "duration_s"), r = get_real(c, "ramp_s");
        cfg->duration_ns = (uint64_t)llround(d * 1e9) > cfg->duration_ns ? (uint64_t)llround(d * 1e9) : cfg->duration_ns;
        cfg->ramp_ns = (uint64_t)llround(r * 1e9) > cfg->ramp_ns ? (uint64_t)llround(r * 1e9) : cfg->ramp_ns;
        if (get_u64(c, "concurrency", &u) == 0)
            cfg->concurrency += (uint32_t)u;
        if (get_u64(c, "requests", &u) == 0)
            cfg->requests += u;
        cfg->verify &= json_is_true(json_object_get(c, "verify_tokens"));
    }
    /* the fluid model needs every arrival of every run: a merged result has none (said in the table) */
    cfg->fluid_ceiling = get_real(c0, "fluid_ceiling");
    s = json_string_value(json_object_get(c0, "protocol_id"));
    cfg->verifier.protocol_id = s != NULL ? strtoull(s, NULL, 10) : 0;
    s = json_string_value(json_object_get(c0, "byte_order"));
    cfg->verifier.order = s != NULL && strcmp(s, "big") == 0 ? MM_BYTE_ORDER_BIG : MM_BYTE_ORDER_LITTLE;
}

mm_err
mm_bench_merge_docs(mm_bench_stats *st, mm_bench_config *cfg, const char *const *paths, json_t *const *docs, size_t n, char *why,
                    size_t why_len)
{
    struct run *runs = calloc(n ? n : 1, sizeof(*runs));
    mm_bench_hist scratch = {0};
    mm_err err = MM_ERR_INVALID;
    if (runs == NULL || mm_bench_stats_init(st, 0) != MM_OK || mm_bench_hist_init(&scratch, st->phases[0].sub_bits) != MM_OK) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "out of memory");
        goto cleanup;
    }
    if (n == 0) {
        mm_fail(err, why, why_len, "no runs to merge");
        goto cleanup;
    }
    st->second_count = 0;
    st->start_unix_ns = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        runs[i].path = paths[i];
        runs[i].doc = docs[i];
        const char *tool = json_string_value(json_object_get(docs[i], "tool"));
        if (tool == NULL || strcmp(tool, "mm_bench") != 0) {
            fail(why, why_len, paths[i], "not an mm_bench --json result");
            goto cleanup;
        }
        if (get_u64(docs[i], "start_unix_ns", &runs[i].start_unix_ns) != 0) {
            fail(why, why_len, paths[i], "no \"start_unix_ns\": written by an mm_bench that predates merging");
            goto cleanup;
        }
        if (runs[i].start_unix_ns < st->start_unix_ns)
            st->start_unix_ns = runs[i].start_unix_ns;
    }
    /* every time is wall-clock ns from here on: start_ns is the earliest start */
    st->start_ns = st->end_ns = st->last_start_ns = st->last_decided_ns = st->start_unix_ns;
    for (size_t i = 0; i < n; i++)
        if (merge_histograms(st, paths[i], docs[i], why, why_len) != 0 || merge_counts(st, paths[i], docs[i], why, why_len) != 0 ||
            merge_times(st, &runs[i], &scratch, why, why_len) != 0)
            goto cleanup;
    if (st->second_count == 0)
        st->second_count = 1; /* the report expects the open row */
    for (size_t i = 0; i < st->second_count; i++)
        mm_bench_second_percentiles(&st->seconds[i], &scratch);
    merged_config(cfg, runs, n);
    err = MM_OK;
cleanup:
    mm_bench_hist_free(&scratch);
    free(runs);
    return err;
}

static int
merge_usage(const char *msg)
{
    fprintf(stderr, "mm_bench merge: %s (usage: mm_bench merge RUN.json RUN.json ... [--json OUT.json] [--plot OUT.png])\n", msg);
    return 2;
}

int
mm_bench_merge_main(int argc, char **argv)
{
    static const struct option options[] = {{"json", required_argument, NULL, 'j'},
                                            {"plot", required_argument, NULL, 'p'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *json_out = NULL, *plot_out = NULL;
    const char *paths[MAX_RUNS];
    json_t *docs[MAX_RUNS] = {0};
    size_t n = 0;
    int status = 3, val;
    char why[512];
    mm_bench_stats st;
    mm_bench_config cfg;
    memset(&st, 0, sizeof(st));
    memset(&cfg, 0, sizeof(cfg));
    opterr = 0;
    optind = 1;
    /* options and files in any order ('-' in the option string keeps the files in place) */
    while ((val = getopt_long(argc, argv, "-h", options, NULL)) != -1) {
        if (val == 'h') {
            mm_bench_flags_usage(stdout);
            return 0;
        } else if (val == 'j') {
            json_out = optarg;
        } else if (val == 'p') {
            plot_out = optarg;
        } else if (val == 1) {
            if (n == MAX_RUNS)
                return merge_usage("too many runs");
            paths[n++] = optarg;
        } else {
            return merge_usage(val == ':' ? "an option needs a value" : "unknown option");
        }
    }
    if (n == 0)
        return merge_usage("no run files given");
    for (size_t i = 0; i < n; i++) {
        json_error_t jerr;
        docs[i] = json_load_file(paths[i], JSON_ALLOW_NUL, &jerr);
        if (docs[i] == NULL) {
            if (jerr.line > 0)
                fprintf(stderr, "mm_bench merge: %s: not JSON: %s (line %d)\n", paths[i], jerr.text, jerr.line);
            else
                fprintf(stderr, "mm_bench merge: %s\n", jerr.text);
            goto cleanup;
        }
    }
    if (plot_out != NULL && mm_bench_plot_check(plot_out, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench merge: --plot: %s\n", why);
        goto cleanup;
    }
    if (mm_bench_merge_docs(&st, &cfg, paths, docs, n, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench merge: %s\n", why);
        if (plot_out != NULL)
            unlink(plot_out); /* created empty by the check */
        goto cleanup;
    }
    FILE *table = json_out != NULL && strcmp(json_out, "-") == 0 ? stderr : stdout;
    fprintf(table, "merged     %zu runs, timelines aligned on wall-clock seconds:", n);
    for (size_t i = 0; i < n; i++)
        fprintf(table, " %s", paths[i]);
    fputc('\n', table);
    mm_bench_report_table(table, &cfg, &st);
    fflush(table);
    status = mm_bench_stats_errors(&st) == 0 && !st.interrupted && st.started > 0 ? 0 : 1;
    if (json_out != NULL && mm_bench_report_json(json_out, &cfg, &st, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench merge: --json: %s\n", why);
        status = 3;
    }
    if (plot_out != NULL && mm_bench_plot(plot_out, &cfg, &st, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_bench merge: --plot: %s\n", why);
        status = 3;
    }
cleanup:
    for (size_t i = 0; i < n; i++)
        json_decref(docs[i]);
    mm_bench_stats_free(&st);
    return status;
}
