/*
 * Edgegap client against faults: errors the simulator injects (messages relayed, retryable()
 * right), a hanging answer (transport timeout, the connection given up), nobody listening
 * (connection refused), and the client still working afterwards.
 */
#include <stdio.h>
#include <string.h>

#include "mm_test.h"
#include "edgegap_test_util.h"

static eg_sim sim;

static void
test_injected_errors(mm_edgegap *eg)
{
    struct {
        int status;
        bool retryable;
    } cases[] = {{400, false}, {401, false}, {404, false}, {409, false}, {422, false}, {429, true}, {500, true}, {503, true}};
    const char *ip[] = {"81.128.157.100"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char faults[256], message[64];
        snprintf(message, sizeof(message), "injected %d: \\u00e9t\\u00e9 busy", cases[i].status);
        snprintf(faults, sizeof(faults),
                 "{\"session_create\": {\"error_next\": 1, \"error_status\": %d, \"error_message\": \"%s\"}}", cases[i].status,
                 message);
        MM_REQUIRE(eg_sim_faults(&sim, faults));
        eg_rec rec = {0};
        MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", ip, 1, NULL, eg_record, &rec), ==, MM_OK);
        MM_REQUIRE(eg_drive(eg, &rec.calls, 1, 10000));
        char want[64];
        snprintf(want, sizeof(want), "injected %d: \xc3\xa9t\xc3\xa9 busy", cases[i].status);
        MM_CHECK_INT(rec.outcome, ==, MM_EDGEGAP_HTTP_ERROR);
        MM_CHECK_INT(rec.status, ==, cases[i].status);
        MM_CHECK_STR(rec.message, want);
        MM_CHECK_INT(rec.retryable, ==, cases[i].retryable);
        MM_CHECK_STR(rec.session_id, ""); /* no fields on an error */
        MM_CHECK(rec.has_json);
    }
    /* The next one is not injected. */
    eg_rec ok = {0};
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", ip, 1, NULL, eg_record, &ok), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &ok.calls, 1, 10000));
    MM_CHECK_INT(ok.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK_INT(eg_sim_stat(&sim, "injected_errors"), ==, 8);

    /* The same on the other endpoints, with the simulator's default message. */
    MM_REQUIRE(eg_sim_faults(&sim, "{\"app\": {\"error_next\": 1, \"error_status\": 500}, \"session_delete\": "
                                   "{\"error_next\": 1, \"error_status\": 503}}"));
    eg_rec app = {0}, del = {0};
    int done = 0;
    app.counter = del.counter = &done;
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &app), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_delete(eg, ok.session_id, eg_record, &del), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &done, 2, 10000));
    MM_CHECK_INT(app.status, ==, 500);
    MM_CHECK(app.retryable);
    MM_CHECK(app.message[0] != '\0' && strncmp(app.message, "HTTP ", 5) != 0);
    MM_CHECK_INT(del.status, ==, 503);
    MM_CHECK(del.retryable);
}

static void
test_hang_times_out(void)
{
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 2, 0, 300);
    MM_REQUIRE(eg_sim_faults(&sim, "{\"session_get\": {\"hang_next\": 1}}"));
    eg_rec hung = {0};
    long long start = mm_test_now_ms();
    MM_CHECK_INT(mm_edgegap_session_get(eg, "0123456789ab-S", MM_EDGEGAP_URGENT, eg_record, &hung), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &hung.calls, 1, 10000));
    fprintf(stderr, "hang -> %s after %lld ms\n", hung.message, mm_test_now_ms() - start);
    MM_CHECK_INT(hung.outcome, ==, MM_EDGEGAP_TRANSPORT);
    MM_CHECK_INT(hung.status, ==, 0);
    MM_CHECK(eg_contains(hung.message, "timed out"));
    MM_CHECK(hung.retryable);
    MM_CHECK(hung.timed_out);
    MM_CHECK(!hung.not_sent); /* it reached the server: a POST must not be repeated blindly */
    MM_CHECK(!hung.has_json);
    MM_CHECK_INT(mm_edgegap_in_flight(eg), ==, 0);
    /* The client closed that connection: the simulator frees the hanging request. */
    long long deadline = mm_test_now_ms() + 5000;
    while (eg_sim_stat(&sim, "requests_hanging") != 0 && mm_test_now_ms() < deadline) {
        int paced = 0;
        eg_drive(eg, &paced, 1, 20);
    }
    MM_CHECK_INT(eg_sim_stat(&sim, "requests_hanging"), ==, 0);
    MM_CHECK_INT(eg_sim_stat(&sim, "faults_fired.hang"), ==, 1);
    /* And the next request goes through. */
    eg_rec after = {0};
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &after), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &after.calls, 1, 10000));
    MM_CHECK_INT(after.outcome, ==, MM_EDGEGAP_OK);
    mm_edgegap_stats st;
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_U64(st.outcomes[MM_EDGEGAP_SESSION_GET][MM_EDGEGAP_TRANSPORT], ==, 1);
    MM_CHECK_U64(st.status_class[MM_EDGEGAP_SESSION_GET][0], ==, 1);
    mm_edgegap_destroy(eg);
}

static void
test_connection_refused(void)
{
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", mm_test_free_port()); /* nobody listens */
    mm_edgegap *eg = eg_client(base, EG_KEY, 0, 0, 2000);
    eg_rec rec = {0};
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &rec), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &rec.calls, 1, 10000));
    fprintf(stderr, "refused -> %s\n", rec.message);
    MM_CHECK_INT(rec.outcome, ==, MM_EDGEGAP_TRANSPORT);
    MM_CHECK_INT(rec.status, ==, 0);
    MM_CHECK(eg_contains(rec.message, "connection refused"));
    MM_CHECK(rec.retryable);
    MM_CHECK(rec.not_sent);
    MM_CHECK(!rec.timed_out);
    mm_edgegap_destroy(eg);
}

/* A latency longer than the timeout is a timeout too; shorter is just slow. */
static void
test_latency(void)
{
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 0, 0, 400);
    MM_REQUIRE(eg_sim_faults(&sim, "{\"app\": {\"latency_ms\": 1000}, \"version\": {\"latency_ms\": 50}}"));
    eg_rec slow = {0}, fine = {0};
    int done = 0;
    slow.counter = fine.counter = &done;
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &slow), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_version_get(eg, EG_APP, "1", eg_record, &fine), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &done, 2, 10000));
    MM_CHECK_INT(slow.outcome, ==, MM_EDGEGAP_TRANSPORT);
    MM_CHECK(eg_contains(slow.message, "timed out"));
    MM_CHECK(slow.timed_out);
    MM_CHECK_INT(fine.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK(!fine.timed_out && !fine.not_sent);
    MM_REQUIRE(eg_sim_faults(&sim, "{\"app\": null, \"version\": null}"));
    mm_edgegap_destroy(eg);
}

int
main(void)
{
    MM_REQUIRE(eg_sim_start(&sim, NULL) == 0);
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 0, 0, 5000);
    test_injected_errors(eg);
    mm_edgegap_destroy(eg);
    test_hang_times_out();
    test_latency();
    test_connection_refused();
    eg_sim_http_cleanup();
    MM_CHECK_INT(eg_sim_stop(&sim), ==, 0);
    return MM_TEST_DONE();
}
