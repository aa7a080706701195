/*
 * edgegap_sim, launch realism (docs/edgegap_sim.md "Launch realism"): token buckets per API key
 * and endpoint class (a burst, then the rate; 429 {"message"} with Retry-After; counted per
 * class in /__sim/stats), lognormal latency and deployment start times (the sampler checked
 * exactly in-process, the served delays with loose count-based bounds: the simulator's configured
 * delay is what is measured, never our own speed), --capacity (sessions wait in Status.SEEKING,
 * then start in arrival order when a seat frees or a deployment stops), and the values of
 * --preset launch with explicit flags overriding it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_test.h"
#include "mm_test_http.h"
#include "edgegap_sim_test_util.h"
#include "sim_edgegap_launch.h"

#define BODY "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[\"81.128.157.100\"]}"
#define OTHER_KEY "token second-organization"

/* One request with the head kept (for Retry-After). Returns the status; *json may be NULL. */
static long
call_head(const sim_proc *sim, const char *method, const char *path, const char *key, const char *body, char *head, size_t head_len,
          json_t **json)
{
    char url[256], auth[300];
    snprintf(url, sizeof(url), "%s%s", sim->base, path);
    snprintf(auth, sizeof(auth), "authorization: %s", key);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    mm_test_http_resp r;
    long st = mm_test_http(&(mm_test_http_req){.method = method, .url = url, .headers = headers, .body = body, .reuse = true}, &r);
    if (head != NULL)
        snprintf(head, head_len, "%s", r.head);
    if (json != NULL)
        *json = json_loads(r.body, 0, NULL);
    mm_test_http_free(&r);
    return st;
}

static long long
stat_in(const sim_proc *sim, const char *obj, const char *key)
{
    json_t *j = NULL;
    long long v = -1;
    if (sim_call(sim, "GET", "/__sim/stats", NULL, &j) == 200 && json_is_integer(json_object_get(json_object_get(j, obj), key)))
        v = json_integer_value(json_object_get(json_object_get(j, obj), key));
    json_decref(j);
    return v;
}

/* ---- in-process: the sampler and the bucket, exactly ---- */

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void
test_sampler_and_bucket(void)
{
    enum { N = 100000 };
    static uint64_t v[N];
    mm_sim_dist d;
    mm_sim_rng rng = {42};
    mm_sim_dist_set(&d, 80, 400);
    for (int i = 0; i < N; i++)
        v[i] = mm_sim_dist_draw(&d, &rng);
    qsort(v, N, sizeof(v[0]), cmp_u64);
    MM_CHECK_INT(v[N / 2], >=, 78); /* the median: 80 within 2.5% */
    MM_CHECK_INT(v[N / 2], <=, 82);
    MM_CHECK_INT(v[N * 99 / 100], >=, 380); /* the 99th percentile: 400 within 5% */
    MM_CHECK_INT(v[N * 99 / 100], <=, 420);
    /* the same seed draws the same; a constant when p99 == median; off draws 0 */
    mm_sim_rng a = {7}, b = {7};
    for (int i = 0; i < 100; i++)
        MM_CHECK_INT(mm_sim_dist_draw(&d, &a), ==, mm_sim_dist_draw(&d, &b));
    mm_sim_dist_set(&d, 250, 250);
    MM_CHECK_INT(mm_sim_dist_draw(&d, &a), ==, 250);
    mm_sim_dist_set(&d, 0, 0);
    MM_CHECK_INT(mm_sim_dist_draw(&d, &a), ==, 0);

    /* a bucket of rate 2/s, burst 3: three at once, then one every half second */
    mm_sim_rate_cfg rc = {2, 3};
    mm_sim_bucket bk = {0, 0};
    uint32_t retry = 0;
    uint64_t t = 1000000000ULL;
    for (int i = 0; i < 3; i++)
        MM_CHECK(mm_sim_bucket_take(&bk, &rc, t, &retry));
    MM_CHECK(!mm_sim_bucket_take(&bk, &rc, t, &retry));
    MM_CHECK_INT(retry, ==, 1);
    MM_CHECK(!mm_sim_bucket_take(&bk, &rc, t + 400000000ULL, &retry));
    MM_CHECK(mm_sim_bucket_take(&bk, &rc, t + 500000000ULL, &retry));
    MM_CHECK(!mm_sim_bucket_take(&bk, &rc, t + 500000000ULL, &retry));
    MM_CHECK(mm_sim_bucket_take(&bk, &rc, t + 60000000000ULL, &retry)); /* a minute later: full (3), not 120 */
    MM_CHECK(mm_sim_bucket_take(&bk, &rc, t + 60000000000ULL, &retry));
    MM_CHECK(mm_sim_bucket_take(&bk, &rc, t + 60000000000ULL, &retry));
    MM_CHECK(!mm_sim_bucket_take(&bk, &rc, t + 60000000000ULL, &retry));
    /* a slow bucket says how long to wait */
    mm_sim_rate_cfg slow = {0.1, 1};
    mm_sim_bucket sb = {0, 0};
    MM_CHECK(mm_sim_bucket_take(&sb, &slow, t, &retry));
    MM_CHECK(!mm_sim_bucket_take(&sb, &slow, t, &retry));
    MM_CHECK_INT(retry, ==, 10);

    /* the flag parsers */
    mm_sim_rate_cfg rates[MM_SIM_RATE_CLASSES];
    memset(rates, 0, sizeof(rates));
    char why[200];
    MM_CHECK(mm_sim_parse_rate_limit("create=40/80", rates, why, sizeof(why)) == MM_OK);
    MM_CHECK(rates[MM_SIM_RATE_CREATE].rate == 40 && rates[MM_SIM_RATE_CREATE].burst == 80);
    MM_CHECK(mm_sim_parse_rate_limit("other=0.5/1", rates, why, sizeof(why)) == MM_OK);
    MM_CHECK(rates[MM_SIM_RATE_OTHER].rate == 0.5);
    MM_CHECK(mm_sim_parse_rate_limit("create=off", rates, why, sizeof(why)) == MM_OK);
    MM_CHECK(rates[MM_SIM_RATE_CREATE].rate == 0);
    static const char *const bad[] = {"create",   "create=",    "create=40",    "create=40/0", "create=0/5",   "create=-1/5",
                                      "post=1/1", "create=1/x", "create=1e3/4", "=1/1",        "get=2000000/1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mm_sim_parse_rate_limit(bad[i], rates, why, sizeof(why)) == MM_OK)
            fprintf(stderr, "--rate-limit %s was accepted\n", bad[i]);
        MM_CHECK(mm_sim_parse_rate_limit(bad[i], rates, why, sizeof(why)) != MM_OK);
    }
    MM_CHECK(rates[MM_SIM_RATE_OTHER].rate == 0.5); /* untouched by the refusals */
}

/* ---- rate limits served ---- */

static void
test_rate_limits(void)
{
    sim_proc sim;
    const char *extra[] = {"--api-key", OTHER_KEY,           "--rate-limit", "create=2/3", "--rate-limit",
                           "other=1/1", "--deploy-delay-ms", "50",           NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    char head[4096];
    json_t *j = NULL;

    /* the burst, then 429 with Edgegap's body shape and Retry-After */
    long long t_burst = mm_test_now_ms(); /* no token of this bucket can be older than this */
    for (int i = 0; i < 3; i++)
        MM_CHECK_INT(call_head(&sim, "POST", "/v1/session", SIM_KEY, BODY, NULL, 0, NULL), ==, 200);
    MM_CHECK_INT(call_head(&sim, "POST", "/v1/session", SIM_KEY, BODY, head, sizeof(head), &j), ==, 429);
    check_shape(j, "=message:s", "rate limited");
    json_decref(j);
    MM_CHECK(strstr(head, "\nretry-after: 1\r") != NULL || strstr(head, "\nRetry-After: 1\r") != NULL);
    MM_CHECK_INT(sim_stat(&sim, "sessions_created"), ==, 3); /* a refused create creates nothing */

    /* another key has buckets of its own */
    for (int i = 0; i < 3; i++)
        MM_CHECK_INT(call_head(&sim, "POST", "/v1/session", OTHER_KEY, BODY, NULL, 0, NULL), ==, 200);
    MM_CHECK_INT(call_head(&sim, "POST", "/v1/session", OTHER_KEY, BODY, NULL, 0, NULL), ==, 429);

    /* get is not limited; other is (1/1) */
    MM_CHECK_INT(call_head(&sim, "GET", "/v1/app/bevygap-spaceships", SIM_KEY, NULL, NULL, 0, NULL), ==, 200);
    MM_CHECK_INT(call_head(&sim, "GET", "/v1/app/bevygap-spaceships/version/1", SIM_KEY, NULL, NULL, 0, NULL), ==, 429);
    MM_CHECK_INT(call_head(&sim, "GET", "/v1/app/bevygap-spaceships", OTHER_KEY, NULL, NULL, 0, NULL), ==, 200);

    /* then the rate: over about 1.5 s of asking, at most burst-free 2/s get through */
    long long t0 = mm_test_now_ms(), ok = 0, limited = 0;
    while (mm_test_now_ms() - t0 < 1500) {
        long st = call_head(&sim, "POST", "/v1/session", SIM_KEY, BODY, NULL, 0, NULL);
        ok += st == 200;
        limited += st == 429;
        MM_CHECK(st == 200 || st == 429);
        mm_test_sleep_ms(5);
    }
    double since_burst_s = (double)(mm_test_now_ms() - t_burst) / 1000.0;
    MM_CHECK_INT(ok, >=, 1);                                  /* tokens came back */
    MM_CHECK_INT(ok, <=, (long long)(2 * since_burst_s) + 1); /* no more than 2/s since the bucket was emptied */
    MM_CHECK_INT(limited, >=, 1);

    /* counted per class */
    MM_CHECK_INT(stat_in(&sim, "rate_limited", "create"), ==, 2 + limited);
    MM_CHECK_INT(stat_in(&sim, "rate_limited", "other"), ==, 1);
    MM_CHECK_INT(stat_in(&sim, "rate_limited", "get"), ==, 0);
    MM_CHECK_INT(stat_in(&sim, "rate_limited", "delete"), ==, 0);
    MM_CHECK_INT(stat_in(&sim, "config", "api_keys"), ==, 2);
    /* a reset zeroes the counts and fills the buckets */
    MM_CHECK_INT(sim_call(&sim, "POST", "/__sim/reset", NULL, NULL), ==, 200);
    MM_CHECK_INT(stat_in(&sim, "rate_limited", "create"), ==, 0);
    for (int i = 0; i < 3; i++)
        MM_CHECK_INT(call_head(&sim, "POST", "/v1/session", SIM_KEY, BODY, NULL, 0, NULL), ==, 200);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

/* ---- latency and deployment start times served ---- */

static void
test_latency(void)
{
    enum { N = 200 };
    sim_proc sim;
    const char *extra[] = {"--latency-ms", "40,120", "--seed", "3", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    static uint64_t t[N];
    int over_median = 0;
    for (int i = 0; i < N; i++) {
        long long t0 = mm_test_now_ms();
        MM_CHECK_INT(call_head(&sim, "GET", "/v1/app/bevygap-spaceships", SIM_KEY, NULL, NULL, 0, NULL), ==, 200);
        t[i] = (uint64_t)(mm_test_now_ms() - t0);
        over_median += t[i] >= 40;
    }
    qsort(t, N, sizeof(t[0]), cmp_u64);
    fprintf(stderr, "latency 40,120: observed median %llu ms, p99 %llu ms, %d of %d at or above 40 ms\n",
            (unsigned long long)t[N / 2], (unsigned long long)t[N * 99 / 100], over_median, N);
    /* lower bounds hold whatever the machine's load; upper ones are generous */
    MM_CHECK_INT(t[N / 2], >=, 34);
    MM_CHECK_INT(t[N / 2], <=, 1000); /* milliseconds, not seconds */
    MM_CHECK_INT(t[N * 99 / 100], >=, 70);
    MM_CHECK_INT(over_median, >=, N * 35 / 100);
    MM_CHECK_INT(sim_stat(&sim, "requests_waiting"), ==, 0);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

static void
test_deploy_times(void)
{
    enum { N = 16 };
    sim_proc sim;
    const char *extra[] = {"--deploy-ms", "300,900", "--sockets", "1", "--seed", "11", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    char ids[N][32];
    long long created[N], ready_at[N];
    for (int i = 0; i < N; i++) {
        const char *id = sim_create_session(&sim, BODY);
        MM_REQUIRE(id != NULL);
        snprintf(ids[i], sizeof(ids[i]), "%s", id);
        created[i] = mm_test_now_ms();
        ready_at[i] = 0;
    }
    long long deadline = mm_test_now_ms() + 20000;
    for (int left = N; left > 0 && mm_test_now_ms() < deadline;) {
        for (int i = 0; i < N; i++) {
            if (ready_at[i] != 0)
                continue;
            char path[640];
            json_t *j = NULL;
            snprintf(path, sizeof(path), "/v1/session/%s", ids[i]);
            sim_call(&sim, "GET", path, NULL, &j);
            if (json_is_true(json_object_get(j, "ready"))) {
                ready_at[i] = mm_test_now_ms();
                left--;
            }
            json_decref(j);
        }
        mm_test_sleep_ms(10);
    }
    uint64_t took[N];
    for (int i = 0; i < N; i++) {
        MM_CHECK(ready_at[i] != 0);
        took[i] = (uint64_t)(ready_at[i] - created[i]);
    }
    qsort(took, N, sizeof(took[0]), cmp_u64);
    fprintf(stderr, "deploy 300,900: observed fastest %llu, median %llu, slowest %llu ms\n", (unsigned long long)took[0],
            (unsigned long long)took[N / 2], (unsigned long long)took[N - 1]);
    MM_CHECK_INT(took[N / 2], >=, 180);
    MM_CHECK_INT(took[N / 2], <=, 3000);
    MM_CHECK_INT(took[N - 1] - took[0], >=, 50); /* drawn, not one fixed delay */
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

/* ---- capacity ---- */

static const char *
status_of(const sim_proc *sim, const char *id, bool *has_deployment)
{
    static char out[40];
    char path[640];
    json_t *j = NULL;
    snprintf(path, sizeof(path), "/v1/session/%s", id);
    sim_call(sim, "GET", path, NULL, &j);
    snprintf(out, sizeof(out), "%s",
             json_string_value(json_object_get(j, "status")) ? json_string_value(json_object_get(j, "status")) : "?");
    if (has_deployment != NULL)
        *has_deployment = json_is_object(json_object_get(j, "deployment"));
    json_decref(j);
    return out;
}

static void
test_capacity(void)
{
    sim_proc sim;
    const char *extra[] = {"--capacity", "2", "--sockets", "1", "--deploy-delay-ms", "100", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    char id[4][32];
    for (int i = 0; i < 4; i++) {
        const char *s = sim_create_session(&sim, BODY);
        MM_REQUIRE(s != NULL);
        snprintf(id[i], sizeof(id[i]), "%s", s);
    }
    for (int i = 0; i < 2; i++)
        json_decref(sim_wait_status(&sim, id[i], "Status.READY", 10000));
    MM_CHECK_STR(status_of(&sim, id[0], NULL), "Status.READY");
    bool dep = true;
    MM_CHECK_STR(status_of(&sim, id[2], &dep), "Status.SEEKING"); /* two deployments live: no third */
    MM_CHECK(!dep);
    MM_CHECK_STR(status_of(&sim, id[3], NULL), "Status.SEEKING");
    MM_CHECK_INT(sim_stat(&sim, "deployments_live"), ==, 2);
    MM_CHECK_INT(sim_stat(&sim, "capacity_waiting"), ==, 2);
    MM_CHECK_INT(sim_stat(&sim, "capacity_waited"), ==, 2);

    /* a delete frees a seat: the oldest waiting session takes it, the next keeps waiting */
    char path[640];
    snprintf(path, sizeof(path), "/v1/session/%s", id[0]);
    MM_CHECK_INT(sim_call(&sim, "DELETE", path, NULL, NULL), ==, 200);
    MM_CHECK_STR(status_of(&sim, id[2], NULL), "Status.READY");
    MM_CHECK_STR(status_of(&sim, id[3], NULL), "Status.SEEKING");
    MM_CHECK_INT(sim_stat(&sim, "capacity_waiting"), ==, 1);
    /* a waiting session that is deleted leaves the line */
    snprintf(path, sizeof(path), "/v1/session/%s", id[3]);
    MM_CHECK_INT(sim_call(&sim, "DELETE", path, NULL, NULL), ==, 200);
    MM_CHECK_INT(sim_stat(&sim, "capacity_waiting"), ==, 0);
    MM_CHECK_INT(sim_stat(&sim, "deployments_started"), ==, 2);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

/* A deployment that stops makes room: a session of another version starts then. */
static void
test_capacity_deployment_end(const char *dir)
{
    char cfg_path[300];
    snprintf(cfg_path, sizeof(cfg_path), "%s/two.json", dir);
    FILE *f = fopen(cfg_path, "w");
    MM_REQUIRE(f != NULL);
    fputs("{\"apps\":[{\"name\":\"game\",\"versions\":["
          "{\"name\":\"1\",\"session_config\":{\"sockets\":1},\"ports\":[{\"name\":\"p\",\"port\":7000,\"protocol\":\"UDP\"}]},"
          "{\"name\":\"2\",\"session_config\":{\"sockets\":1},\"ports\":[{\"name\":\"p\",\"port\":7000,\"protocol\":\"UDP\"}]}]}]}",
          f);
    fclose(f);
    sim_proc sim;
    const char *extra[] = {"--config", cfg_path, "--capacity", "1", "--deploy-delay-ms", "50", "--empty-ttl-ms", "400", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    char v1[32], v2[32], path[640];
    const char *s = sim_create_session(&sim, "{\"app_name\":\"game\",\"version_name\":\"1\"}");
    MM_REQUIRE(s != NULL);
    snprintf(v1, sizeof(v1), "%s", s);
    json_decref(sim_wait_status(&sim, v1, "Status.READY", 10000));
    snprintf(path, sizeof(path), "/v1/session/%s", v1);
    MM_CHECK_INT(sim_call(&sim, "DELETE", path, NULL, NULL), ==, 200); /* its deployment idles for 400 ms */
    s = sim_create_session(&sim, "{\"app_name\":\"game\",\"version_name\":\"2\"}");
    MM_REQUIRE(s != NULL);
    snprintf(v2, sizeof(v2), "%s", s);
    MM_CHECK_STR(status_of(&sim, v2, NULL), "Status.SEEKING");
    json_t *j = sim_wait_status(&sim, v2, "Status.READY", 10000);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.READY");
    json_decref(j);
    MM_CHECK_INT(sim_stat(&sim, "deployments_stopped"), ==, 1);
    MM_CHECK_INT(sim_stat(&sim, "capacity_waited"), ==, 1);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
    unlink(cfg_path);
}

/* ---- the preset ---- */

static json_t *
config_of(const char *const *extra)
{
    sim_proc sim;
    json_t *j = NULL, *cfg = NULL;
    if (sim_start(&sim, extra) != 0)
        return NULL;
    if (sim_call(&sim, "GET", "/__sim/stats", NULL, &j) == 200)
        cfg = json_incref(json_object_get(j, "config"));
    json_decref(j);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
    return cfg;
}

static void
check_rate(const json_t *cfg, const char *cls, double rate, long long burst)
{
    const json_t *r = json_object_get(json_object_get(cfg, "rate_limits"), cls);
    if (rate == 0) {
        MM_CHECK(json_is_null(r));
        return;
    }
    MM_CHECK(json_number_value(json_object_get(r, "rate")) == rate);
    MM_CHECK_INT(json_integer_value(json_object_get(r, "burst")), ==, burst);
}

static void
test_preset(void)
{
    const char *plain[] = {NULL};
    json_t *c = config_of(plain);
    MM_REQUIRE(c != NULL);
    check_shape(c, "=preset:n rate_limits:o latency_ms:n deploy_ms:n deploy_delay_ms:i capacity:i api_keys:i", "config off");
    MM_CHECK_INT(json_integer_value(json_object_get(c, "capacity")), ==, 0);
    for (int i = 0; i < MM_SIM_RATE_CLASSES; i++)
        check_rate(c, mm_sim_rate_class_name((mm_sim_rate_class)i), 0, 0);
    json_decref(c);

    const char *launch[] = {"--preset", "launch", NULL};
    c = config_of(launch);
    MM_REQUIRE(c != NULL);
    MM_CHECK_STR(json_string_value(json_object_get(c, "preset")), "launch");
    check_rate(c, "create", 40, 40);
    check_rate(c, "delete", 40, 40);
    check_rate(c, "get", 100, 100);
    check_rate(c, "other", 10, 10);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(c, "latency_ms"), "median")), ==, 80);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(c, "latency_ms"), "p99")), ==, 400);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(c, "deploy_ms"), "median")), ==, 3000);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(c, "deploy_ms"), "p99")), ==, 10000);
    MM_CHECK(json_is_null(json_object_get(c, "deploy_delay_ms")));
    MM_CHECK_INT(json_integer_value(json_object_get(c, "capacity")), ==, 1000);
    json_decref(c);

    /* explicit flags win, before or after the preset */
    const char *over[] = {"--rate-limit", "get=off",     "--capacity",   "7",   "--preset", "launch", "--deploy-delay-ms", "500",
                          "--rate-limit", "create=5/10", "--latency-ms", "1,2", NULL};
    c = config_of(over);
    MM_REQUIRE(c != NULL);
    check_rate(c, "get", 0, 0);
    check_rate(c, "create", 5, 10);
    check_rate(c, "delete", 40, 40);
    MM_CHECK_INT(json_integer_value(json_object_get(c, "capacity")), ==, 7);
    MM_CHECK(json_is_null(json_object_get(c, "deploy_ms")));
    MM_CHECK_INT(json_integer_value(json_object_get(c, "deploy_delay_ms")), ==, 500);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(c, "latency_ms"), "p99")), ==, 2);
    json_decref(c);
}

int
main(void)
{
    char dir[256];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    test_sampler_and_bucket();
    test_rate_limits();
    test_latency();
    test_deploy_times();
    test_capacity();
    test_capacity_deployment_end(dir);
    test_preset();
    rmdir(dir);
    http_cleanup();
    return MM_TEST_DONE();
}
