/*
 * edgegap_sim, fault injection: latency, injected error statuses (deterministic "next N" and a
 * seeded rate that reproduces), hanging requests released when the client gives up, sessions
 * that never become ready, deployments that fail, faults from flags at start and from
 * POST /__sim/faults at run time, and refusal of invalid fault settings (all or nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "mm_test.h"
#include "edgegap_sim_test_util.h"

#define BODY "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[\"81.128.157.100\"]}"

static long
set_faults(const sim_proc *sim, const char *body)
{
    return sim_call(sim, "POST", "/__sim/faults", body, NULL);
}

static void
test_latency_and_errors(const sim_proc *sim)
{
    /* latency: the answer cannot come sooner than the added delay */
    MM_CHECK_INT(set_faults(sim, "{\"app\": {\"latency_ms\": 300}}"), ==, 200);
    long long t0 = mm_test_now_ms();
    MM_CHECK_INT(sim_call(sim, "GET", "/v1/app/bevygap-spaceships", NULL, NULL), ==, 200);
    MM_CHECK_INT(mm_test_now_ms() - t0, >=, 290);
    MM_CHECK_INT(set_faults(sim, "{\"app\": null}"), ==, 200);

    /* each allowed status, with its message, exactly once */
    static const int statuses[] = {400, 401, 404, 409, 422, 429, 500, 503};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        char body[200];
        snprintf(body, sizeof(body), "{\"version\": {\"error_next\": 1, \"error_status\": %d, \"error_message\": \"boom %d\"}}",
                 statuses[i], statuses[i]);
        MM_CHECK_INT(set_faults(sim, body), ==, 200);
        json_t *j = NULL;
        MM_CHECK_INT(sim_call(sim, "GET", "/v1/app/bevygap-spaceships/version/1", NULL, &j), ==, statuses[i]);
        check_shape(j, "=message:s", "injected error");
        char want[32];
        snprintf(want, sizeof(want), "boom %d", statuses[i]);
        MM_CHECK_STR(json_string_value(json_object_get(j, "message")), want);
        json_decref(j);
        MM_CHECK_INT(sim_call(sim, "GET", "/v1/app/bevygap-spaceships/version/1", NULL, NULL), ==, 200);
    }

    /* the next two session creations fail, after added latency; the third works */
    MM_CHECK_INT(set_faults(sim, "{\"session_create\": {\"error_next\": 2, \"error_status\": 429, \"latency_ms\": 100}}"), ==, 200);
    json_t *j = NULL;
    MM_CHECK_INT(sim_call(sim, "GET", "/__sim/faults", NULL, &j), ==, 200);
    const json_t *sc = json_object_get(json_object_get(j, "endpoints"), "session_create");
    MM_CHECK_INT(json_integer_value(json_object_get(sc, "error_next")), ==, 2);
    MM_CHECK_INT(json_integer_value(json_object_get(sc, "error_status")), ==, 429);
    MM_CHECK(json_is_string(json_object_get(sc, "error_message")));
    json_decref(j);
    long long created = sim_stat(sim, "sessions_created");
    for (int i = 0; i < 2; i++) {
        t0 = mm_test_now_ms();
        MM_CHECK_INT(sim_call(sim, "POST", "/v1/session", BODY, &j), ==, 429);
        MM_CHECK_INT(mm_test_now_ms() - t0, >=, 90);
        check_shape(j, "=message:s", "injected 429");
        json_decref(j);
    }
    MM_CHECK_INT(sim_call(sim, "POST", "/v1/session", BODY, NULL), ==, 200);
    MM_CHECK_INT(sim_stat(sim, "sessions_created"), ==, created + 1); /* refused creations create nothing */
    MM_CHECK_INT(sim_stat(sim, "injected_errors"), ==, 10);
    MM_CHECK_INT(set_faults(sim, "{\"session_create\": {}}"), ==, 200);
}

static void
test_invalid_settings(const sim_proc *sim)
{
    static const char *const bad[] = {
        "{\"app\": {\"error_status\": 418}}",
        "{\"app\": {\"error_rate\": 1.5}}",
        "{\"app\": {\"error_rate\": \"half\"}}",
        "{\"app\": {\"latency_ms\": -1}}",
        "{\"app\": {\"colour\": 1}}",
        "{\"session_get\": {\"never_ready_next\": 1}}",
        "{\"teapot\": {}}",
        "{\"app\": 3}",
        "[]",
        "{not json",
        "{\"app\": {\"error_next\": 1}, \"bogus\": {}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = NULL;
        MM_CHECK_INT(sim_call(sim, "POST", "/__sim/faults", bad[i], &j), ==, 400);
        check_shape(j, "=message:s", bad[i]);
        json_decref(j);
    }
    /* all or nothing: the valid half of the last body was not applied */
    MM_CHECK_INT(sim_call(sim, "GET", "/v1/app/bevygap-spaceships", NULL, NULL), ==, 200);
    MM_CHECK_INT(sim_call(sim, "DELETE", "/__sim/faults", NULL, NULL), ==, 405);
}

static void
test_hang(const sim_proc *sim)
{
    MM_CHECK_INT(set_faults(sim, "{\"session_get\": {\"hang_next\": 2}}"), ==, 200);
    char url[160];
    snprintf(url, sizeof(url), "%s/v1/session/0123456789ab-S", sim->base);
    for (int i = 0; i < 2; i++) {
        http_reply r;
        http_call("GET", url, SIM_KEY, NULL, 300, true, &r);
        MM_CHECK_INT(r.curl_code, ==, CURLE_OPERATION_TIMEDOUT);
        MM_CHECK_INT(r.status, ==, 0);
        http_reply_free(&r);
    }
    /* the simulator notices the clients left and lets go of both requests and connections */
    long long deadline = mm_test_now_ms() + 5000, hanging;
    while ((hanging = sim_stat(sim, "requests_hanging")) != 0 && mm_test_now_ms() < deadline)
        mm_test_sleep_ms(20);
    MM_CHECK_INT(hanging, ==, 0);
    MM_CHECK_INT(sim_stat(sim, "http_connections"), ==, 1); /* only the one asking */
    json_t *j = NULL;
    MM_CHECK_INT(sim_call(sim, "GET", "/__sim/faults", NULL, &j), ==, 200);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "fired"), "hang")), ==, 2);
    json_decref(j);
    MM_CHECK_INT(sim_call(sim, "GET", "/v1/session/0123456789ab-S", NULL, NULL), ==, 404); /* back to normal */
}

static void
test_never_ready_and_deploy_fail(const sim_proc *sim)
{
    MM_CHECK_INT(set_faults(sim, "{\"session_create\": {\"never_ready_next\": 1}}"), ==, 200);
    char stuck[32], path[96];
    const char *id = sim_create_session(sim, BODY);
    MM_REQUIRE(id != NULL);
    snprintf(stuck, sizeof(stuck), "%s", id);
    snprintf(path, sizeof(path), "/v1/session/%s", stuck);
    long long until = mm_test_now_ms() + 600; /* three deploy delays: it would have been ready long ago */
    while (mm_test_now_ms() < until) {
        json_t *j = NULL;
        MM_CHECK_INT(sim_call(sim, "GET", path, NULL, &j), ==, 200);
        MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.SEEKING");
        MM_CHECK(json_is_false(json_object_get(j, "ready")));
        MM_CHECK(json_is_false(json_object_get(j, "linked")));
        MM_CHECK(json_is_null(json_object_get(j, "deployment")));
        json_decref(j);
        mm_test_sleep_ms(100);
    }
    MM_CHECK_INT(sim_call(sim, "DELETE", path, NULL, NULL), ==, 200);

    /* the next new deployment fails; its session goes to error; a later one starts afresh */
    MM_CHECK_INT(sim_call(sim, "POST", "/__sim/reset", "", NULL), ==, 200);
    MM_CHECK_INT(set_faults(sim, "{\"session_create\": {\"deploy_fail_next\": 1}}"), ==, 200);
    MM_REQUIRE((id = sim_create_session(sim, BODY)) != NULL);
    char failed[32];
    snprintf(failed, sizeof(failed), "%s", id);
    json_t *j = sim_wait_status(sim, failed, "Status.ERROR", 5000);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.ERROR");
    MM_CHECK(json_is_string(json_object_get(j, "error")));
    MM_CHECK(json_is_false(json_object_get(j, "ready")));
    MM_CHECK(json_is_true(json_object_get(j, "linked")));
    const json_t *d = json_object_get(j, "deployment");
    MM_CHECK_STR(json_string_value(json_object_get(d, "status")), "Status.ERROR");
    MM_CHECK(json_is_false(json_object_get(d, "ready")));
    char failed_dep[32];
    snprintf(failed_dep, sizeof(failed_dep), "%s", json_string_value(json_object_get(d, "request_id")));
    json_decref(j);
    MM_REQUIRE((id = sim_create_session(sim, BODY)) != NULL);
    j = sim_wait_status(sim, id, "Status.READY", 5000);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.READY");
    MM_CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "deployment"), "request_id")), failed_dep) != 0);
    json_decref(j);
    MM_CHECK_INT(sim_stat(sim, "deployments_failed"), ==, 1);
    MM_CHECK_INT(sim_stat(sim, "sessions_error"), ==, 1);
    MM_CHECK_INT(sim_stat(sim, "sessions_ready"), ==, 1);
    snprintf(path, sizeof(path), "/v1/session/%s", failed);
    MM_CHECK_INT(sim_call(sim, "DELETE", path, NULL, NULL), ==, 200);
}

/* The statuses of n GET /v1/app calls, as a string of 'o' (200) and 'x' (503). */
static void
rate_pattern(const char *seed, char *out, int n)
{
    sim_proc sim;
    const char *extra[] = {"--seed", seed, "--fault", "app:error_rate=0.5", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    for (int i = 0; i < n; i++) {
        long st = sim_call(&sim, "GET", "/v1/app/bevygap-spaceships", NULL, NULL);
        out[i] = st == 200 ? 'o' : st == 503 ? 'x' : '?';
    }
    out[n] = '\0';
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

static void
test_seeded_rate(void)
{
    char a[65], b[65], c[65];
    rate_pattern("99", a, 64);
    rate_pattern("99", b, 64);
    rate_pattern("12345", c, 64);
    MM_CHECK_STR(a, b);
    MM_CHECK(strchr(a, 'o') != NULL && strchr(a, 'x') != NULL && strchr(a, '?') == NULL);
    MM_CHECK(strcmp(a, c) != 0); /* another seed, another sequence (2^-64 chance of a tie) */
}

static void
test_flags_at_start(void)
{
    sim_proc sim;
    const char *extra[] = {"--fault", "session_create:error_next=1,error_status=503",
                           "--fault", "session_create:error_message=try later",
                           "--fault", "session_delete:latency_ms=50",
                           NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    json_t *j = NULL;
    MM_CHECK_INT(sim_call(&sim, "POST", "/v1/session", BODY, &j), ==, 503);
    MM_CHECK_STR(json_string_value(json_object_get(j, "message")), "try later");
    json_decref(j);
    const char *id = sim_create_session(&sim, BODY);
    MM_CHECK(id != NULL);
    MM_CHECK_INT(sim_call(&sim, "GET", "/__sim/faults", NULL, &j), ==, 200);
    MM_CHECK_INT(
        json_integer_value(json_object_get(json_object_get(json_object_get(j, "endpoints"), "session_delete"), "latency_ms")), ==,
        50);
    json_decref(j);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

int
main(void)
{
    sim_proc sim;
    const char *extra[] = {"--deploy-delay-ms", "200", "--seed", "5", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    test_latency_and_errors(&sim);
    test_invalid_settings(&sim);
    test_hang(&sim);
    test_never_ready_and_deploy_fail(&sim);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
    test_seeded_rate();
    test_flags_at_start();
    http_cleanup();
    return MM_TEST_DONE();
}
