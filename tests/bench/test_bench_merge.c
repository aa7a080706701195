/*
 * mm_bench merge as a unit (mm_bench_merge_docs): a synthetic run X (ready, error_429,
 * error_503 and timeout outcomes over three seconds, latencies spread over many buckets) is
 * written with the run's own --json code, read back and merged:
 *   - X with an empty run (same start) gives X's figures exactly: counts, reasons, every
 *     histogram bucket, every percentile, the timeline rows with their percentiles;
 *   - X with itself doubles every count and bucket, and keeps every percentile, min and max;
 *   - X with a copy started 2 s later lands that copy's seconds 2 rows later;
 *   - a run with another histogram layout, without the exact figures, malformed buckets or not
 *     from mm_bench is refused with a clear error.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_bench.h"
#include "mm_test.h"

#define S 1000000000ULL

static char dir[256];
static mm_bench_config cfg;

static void
decide(mm_bench_stats *st, uint64_t t0, uint64_t now, mm_bench_outcome outcome, uint16_t code, const char *reason)
{
    mm_bench_session s;
    uint64_t at[MM_BENCH_PHASE_COUNT] = {0};
    mm_bench_session_init(&s);
    s.done = 1;
    s.outcome = outcome;
    s.error_code = code;
    snprintf(s.reason, sizeof(s.reason), "%s", reason);
    at[MM_BENCH_PHASE_CONNECT] = t0 + 100000 + (now - t0) / 50;
    if (outcome != MM_BENCH_TIMEOUT)
        at[MM_BENCH_PHASE_UPGRADE] = at[MM_BENCH_PHASE_FIRST_MESSAGE] = now - 1000;
    if (outcome == MM_BENCH_READY)
        at[MM_BENCH_PHASE_ACCEPTED] = at[MM_BENCH_PHASE_READY] = now;
    mm_bench_stats_decided(st, &s, t0, at, now);
}

/* A run of 3 seconds: 300 requests, most ready with latencies from 1 ms to 900 ms. */
static void
make_run(mm_bench_stats *st, uint64_t start_unix_ns, int empty)
{
    uint64_t t = 1000 * S;
    MM_REQUIRE(mm_bench_stats_init(st, t) == MM_OK);
    st->start_unix_ns = start_unix_ns;
    for (int k = 0; !empty && k < 300; k++) {
        uint64_t t0 = t + (uint64_t)k * (S / 100), lat = 1000000ULL + (uint64_t)((k * 7919) % 300) * 3000000ULL;
        mm_bench_stats_started(st, t0, 0);
        uint64_t now = t0 + lat;
        if (k % 10 == 3)
            decide(st, t0, now, MM_BENCH_ERROR, 429, "too many requests from your address; slow down");
        else if (k % 25 == 7)
            decide(st, t0, now, MM_BENCH_ERROR, 503, "no capacity");
        else if (k % 50 == 11)
            decide(st, t0, now, MM_BENCH_TIMEOUT, 0, "waiting for SessionReady");
        else
            decide(st, t0, now, MM_BENCH_READY, 0, "");
    }
    mm_bench_stats_close(st, t + (empty ? 0 : 4 * S));
    snprintf(st->sources_text, sizeof(st->sources_text), "127.0.1.1-127.0.1.10");
    st->sources_total = 10;
    st->sources_used = empty ? 0 : 10;
    st->sources_max_per = empty ? 0 : 30;
}

/* Writes st with the run's --json code and reads it back. */
static json_t *
to_json(const mm_bench_stats *st, const char *name)
{
    char path[512], why[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    MM_REQUIRE(mm_bench_report_json(path, &cfg, st, why, sizeof(why)) == MM_OK);
    json_t *doc = json_load_file(path, 0, NULL);
    MM_REQUIRE(doc != NULL);
    unlink(path);
    return doc;
}

/* Merges docs[0..n) and returns the merged --json document (NULL with why on refusal). */
static json_t *
merge(json_t *const *docs, size_t n, char *why, size_t why_len)
{
    const char *paths[8] = {"a.json", "b.json", "c.json", "d.json"};
    mm_bench_stats st;
    mm_bench_config mcfg;
    json_t *out = NULL;
    if (mm_bench_merge_docs(&st, &mcfg, paths, docs, n, why, why_len) == MM_OK)
        out = to_json(&st, "merged.json");
    mm_bench_stats_free(&st);
    return out;
}

static int
same(json_t *a, json_t *b, const char *key)
{
    json_t *x0 = json_object_get(a, key), *y0 = json_object_get(b, key);
    if ((x0 == NULL && y0 == NULL) || json_equal(x0, y0))
        return 1;
    char *x = json_dumps(json_object_get(a, key), JSON_COMPACT), *y = json_dumps(json_object_get(b, key), JSON_COMPACT);
    fprintf(stderr, "%s differs:\n  %.600s\n  %.600s\n", key, x ? x : "?", y ? y : "?");
    free(x);
    free(y);
    return 0;
}

static long long
jint(json_t *v)
{
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* [[index, count], ...]: same indices, every count doubled */
static int
cells_doubled(json_t *a, json_t *b)
{
    if (a == NULL && b == NULL)
        return 1; /* neither has any */
    if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b))
        return 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
        if (jint(json_array_get(x, 0)) != jint(json_array_get(y, 0)) ||
            2 * jint(json_array_get(x, 1)) != jint(json_array_get(y, 1)))
            return 0;
    }
    return 1;
}

/* Every integer in a (recursively) doubled gives the integer in b; other values equal. */
static int
doubled(json_t *a, json_t *b)
{
    if (a == NULL && b == NULL)
        return 1;
    if (json_is_integer(a))
        return json_is_integer(b) && json_integer_value(b) == 2 * json_integer_value(a);
    if (json_is_array(a)) {
        if (!json_is_array(b) || json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!doubled(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a)) {
        const char *k;
        json_t *v;
        if (!json_is_object(b) || json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach(a, k, v) if (!doubled(v, json_object_get(b, k))) return 0;
        return 1;
    }
    return json_equal(a, b);
}

static void
test_identity_and_double(void)
{
    mm_bench_stats x, e;
    char why[300];
    make_run(&x, 1700000000 * S, 0);
    make_run(&e, 1700000000 * S, 1);
    json_t *xd = to_json(&x, "x.json"), *ed = to_json(&e, "e.json");
    mm_bench_stats_free(&x);
    mm_bench_stats_free(&e);
    MM_CHECK_INT(jint(json_object_get(xd, "requests")), ==, 300);
    MM_CHECK(json_array_size(json_object_get(xd, "timeline")) >= 3);

    /* X + empty = X */
    json_t *m = merge((json_t *const[]){xd, ed}, 2, why, sizeof(why));
    MM_REQUIRE(m != NULL);
    static const char *const keys[] = {"requests",      "ready",           "errors",     "outcomes",      "latency_ms",
                                       "decided",       "phases_ms",       "rate",       "started_rate",  "reasons",
                                       "reasons_other", "tokens_verified", "elapsed_ns", "last_start_ns", "last_decided_ns",
                                       "start_unix_ns", "histograms",      "timeline",   "sources"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        MM_CHECK(same(xd, m, keys[i]));
    json_decref(m);
    m = merge((json_t *const[]){ed, xd}, 2, why, sizeof(why)); /* order does not matter */
    MM_REQUIRE(m != NULL);
    MM_CHECK(same(xd, m, "histograms"));
    MM_CHECK(same(xd, m, "timeline"));
    json_decref(m);

    /* X + X: every count and bucket doubled, percentiles, min and max kept */
    m = merge((json_t *const[]){xd, xd}, 2, why, sizeof(why));
    MM_REQUIRE(m != NULL);
    MM_CHECK_INT(jint(json_object_get(m, "requests")), ==, 600);
    MM_CHECK(doubled(json_object_get(xd, "outcomes"), json_object_get(m, "outcomes")));
    MM_CHECK(doubled(json_object_get(xd, "reasons"), json_object_get(m, "reasons")));
    json_t *hx = json_object_get(json_object_get(xd, "histograms"), "phases");
    json_t *hm = json_object_get(json_object_get(m, "histograms"), "phases");
    const char *phase;
    json_t *one;
    int buckets = 0;
    json_object_foreach(hx, phase, one)
    {
        json_t *mine = json_object_get(hm, phase);
        MM_CHECK(cells_doubled(json_object_get(one, "buckets"), json_object_get(mine, "buckets")));
        MM_CHECK_INT(jint(json_object_get(mine, "count")), ==, 2 * jint(json_object_get(one, "count")));
        MM_CHECK(json_equal(json_object_get(one, "min"), json_object_get(mine, "min")));
        MM_CHECK(json_equal(json_object_get(one, "max"), json_object_get(mine, "max")));
        buckets += (int)json_array_size(json_object_get(one, "buckets"));
    }
    MM_CHECK(buckets > 300); /* the latencies really spread over many buckets */
    json_t *lx = json_object_get(xd, "latency_ms"), *lm = json_object_get(m, "latency_ms");
    static const char *const pct[] = {"p50", "p90", "p99", "p999", "max", "min", "mean"};
    for (int i = 0; i < 7; i++)
        MM_CHECK(json_equal(json_object_get(lx, pct[i]), json_object_get(lm, pct[i])));
    json_t *tx = json_object_get(xd, "timeline"), *tm = json_object_get(m, "timeline");
    MM_REQUIRE(json_array_size(tx) == json_array_size(tm));
    for (size_t i = 0; i < json_array_size(tx); i++) {
        json_t *a = json_array_get(tx, i), *b = json_array_get(tm, i);
        static const char *const counts[] = {"started", "ready", "failed", "in_flight", "failed_by"};
        for (int k = 0; k < 5; k++)
            if (!doubled(json_object_get(a, counts[k]), json_object_get(b, counts[k])))
                MM_CHECK(same(a, b, counts[k]) && 0);
        MM_CHECK(cells_doubled(json_object_get(json_object_get(a, "ready_us"), "buckets"),
                               json_object_get(json_object_get(b, "ready_us"), "buckets")));
        static const char *const row_pct[] = {"p50_ms", "p90_ms", "p99_ms", "max_ms"};
        for (int k = 0; k < 4; k++)
            MM_CHECK(same(a, b, row_pct[k]));
    }
    json_decref(m);

    /* a copy started 2 s later lands 2 rows later (wall-clock alignment) */
    json_t *late = json_deep_copy(xd);
    json_object_set_new(late, "start_unix_ns", json_integer((json_int_t)(1700000002 * S + 300000000)));
    m = merge((json_t *const[]){xd, late}, 2, why, sizeof(why));
    MM_REQUIRE(m != NULL);
    tm = json_object_get(m, "timeline");
    MM_CHECK_INT((long long)json_array_size(tm), ==, (long long)json_array_size(tx) + 2);
    long long row2 =
        jint(json_object_get(json_array_get(tx, 2), "started")) + jint(json_object_get(json_array_get(tx, 0), "started"));
    MM_CHECK_INT(jint(json_object_get(json_array_get(tm, 2), "started")), ==, row2);
    MM_CHECK_INT(jint(json_object_get(json_array_get(tm, 0), "started")), ==,
                 jint(json_object_get(json_array_get(tx, 0), "started")));
    json_decref(m);
    json_decref(late);

    /* refusals */
    json_t *bad = json_deep_copy(xd);
    json_object_set_new(json_object_get(bad, "histograms"), "sub_bits", json_integer(10));
    MM_CHECK(merge((json_t *const[]){xd, bad}, 2, why, sizeof(why)) == NULL);
    MM_CHECK(strstr(why, "b.json: incompatible histogram layout") != NULL);
    json_decref(bad);
    bad = json_deep_copy(xd);
    json_object_del(bad, "start_unix_ns");
    MM_CHECK(merge((json_t *const[]){bad}, 1, why, sizeof(why)) == NULL);
    MM_CHECK(strstr(why, "predates merging") != NULL);
    json_decref(bad);
    bad = json_deep_copy(xd);
    json_object_set_new(json_object_get(json_object_get(json_object_get(bad, "histograms"), "phases"), "ready"), "count",
                        json_integer(1));
    MM_CHECK(merge((json_t *const[]){bad}, 1, why, sizeof(why)) == NULL);
    MM_CHECK(strstr(why, "buckets hold") != NULL);
    json_decref(bad);
    bad = json_deep_copy(xd);
    json_t *cells =
        json_object_get(json_object_get(json_object_get(json_object_get(bad, "histograms"), "phases"), "ready"), "buckets");
    json_array_set_new(json_array_get(cells, 0), 0, json_integer(1 << 30));
    MM_CHECK(merge((json_t *const[]){bad}, 1, why, sizeof(why)) == NULL);
    MM_CHECK(strstr(why, "malformed") != NULL);
    json_decref(bad);
    bad = json_pack("{s:s}", "tool", "wrk");
    MM_CHECK(merge((json_t *const[]){bad}, 1, why, sizeof(why)) == NULL);
    MM_CHECK(strstr(why, "not an mm_bench") != NULL);
    json_decref(bad);
    json_decref(xd);
    json_decref(ed);
}

int
main(void)
{
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    char *argv[] = {"mm_bench", NULL};
    MM_REQUIRE(mm_bench_flags_parse(&cfg, 1, argv) == 0);
    test_identity_and_double();
    rmdir(dir);
    return MM_TEST_DONE();
}
