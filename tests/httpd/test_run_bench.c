/*
 * Smoke test of the README's load test, as a newcomer runs it: the run command's stack
 * (deploy/run-local.sh, on free ports and in a temporary run directory) and the README's
 * mm_bench command shape against it, shortened to 100 requests/s for 5 s, with token verification
 * on (the seed's key, protocol 80085, as make run uses). Every request must end ready with a
 * token that verifies: the front's default per-address limits must not refuse a load test that
 * mm_bench spreads over loopback source addresses (its default against a loopback URL). This
 * checks correctness, not speed. make run turns readiness by webhook on: after the
 * bench, the web front's /metrics (admin port) must show webhooks really routed through that
 * stack (mm_front_webhooks_total{outcome="routed"} > 0).
 */
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm_test.h"
#include "mm_test_http.h"

#define SEED_KEY "1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1"
#define RATE "100"
#define DURATION "5s"
#define EXPECTED 500

static void
setenv_port(const char *name, int port)
{
    char text[16];
    snprintf(text, sizeof(text), "%d", port);
    setenv(name, text, 1);
}

/*
 * Start deploy/run-local.sh on fresh free ports in a fresh run directory; wait until it says the
 * stack is up or it stops. Returns the script's pid, or -1 after showing why it did not come up.
 * *port_taken is set when the reason was a port another process took between our probe and the
 * bind (the free-port probe cannot reserve a port).
 */
static pid_t
start_stack(char *run_dir, size_t run_dir_len, int *http_port, int *admin_port, bool *port_taken)
{
    snprintf(run_dir, run_dir_len, "/tmp/mm_runbench_XXXXXX");
    MM_REQUIRE(mkdtemp(run_dir) != NULL);
    *http_port = mm_test_free_port();
    setenv_port("MM_HTTP_PORT", *http_port);
    setenv_port("MM_NATS_PORT", mm_test_free_port());
    setenv_port("MM_EDGEGAP_PORT", mm_test_free_port());
    *admin_port = mm_test_free_port();
    setenv_port("MM_ADMIN_PORT", *admin_port);
    setenv_port("MM_MATCHMAKER_ADMIN_PORT", mm_test_free_port());
    setenv("MM_RUN_DIR", run_dir, 1);
    setenv("MM_SKIP_BUILD", "1", 1);
    setenv("MM_BUILD_DIR", mm_test_build_dir(), 1);
    char out_log[600], script[600];
    snprintf(out_log, sizeof(out_log), "%s/run-local.out", run_dir);
    snprintf(script, sizeof(script), "%s/deploy/run-local.sh", MM_SOURCE_DIR);
    char *run_argv[] = {"/bin/bash", script, NULL};
    pid_t stack = mm_test_spawn(run_argv, out_log);
    MM_REQUIRE(stack > 0);
    /* run-local.sh prints "run-local: stopping" whenever it gives up */
    uint64_t until = mm_now_ms() + 90000;
    while (!mm_test_file_contains(out_log, "the local stack is up") &&
           !mm_test_file_contains(out_log, "run-local: stopping") && mm_now_ms() < until)
        mm_test_sleep_ms(100); /* polling a condition with a deadline */
    if (mm_test_file_contains(out_log, "the local stack is up"))
        return stack;
    mm_test_dump_file(out_log);
    *port_taken = mm_test_file_contains(out_log, "already in use");
    static const char *const names[] = {"nats-server", "edgegap_sim", "bevygap_matchmaker", "bevygap_matchmaker_httpd"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char log[700];
        snprintf(log, sizeof(log), "%s/logs/%s.log", run_dir, names[i]);
        mm_test_dump_file(log);
        *port_taken = *port_taken || mm_test_file_contains(log, "Address already in use");
    }
    mm_test_stop(stack, 10000);
    return -1;
}

int
main(void)
{
    char run_dir[64];
    int http_port, admin_port;
    bool port_taken = false;
    pid_t stack = start_stack(run_dir, sizeof(run_dir), &http_port, &admin_port, &port_taken);
    if (stack < 0 && port_taken) {
        fprintf(stderr, "a port was taken by another process before the stack bound it: once more on new ports\n");
        port_taken = false;
        stack = start_stack(run_dir, sizeof(run_dir), &http_port, &admin_port, &port_taken);
    }
    MM_REQUIRE(stack > 0 && "the run command's stack did not come up");
    char json_path[600];
    snprintf(json_path, sizeof(json_path), "%s/bench.json", run_dir);

    char bench[600], url[128];
    snprintf(bench, sizeof(bench), "%s/mm_bench", mm_test_build_dir());
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/matchmaker/ws", http_port);
    setenv("MM_TEST_SEED_KEY", SEED_KEY, 1);
    char *bench_argv[] = {bench,          "--url",        url,   "--rate",       RATE,      "--duration", DURATION,
                          "--verify-key-env", "MM_TEST_SEED_KEY", "--protocol-id", "80085", "--json",      json_path,
                          NULL};
    static char out[1 << 16];
    int rc = mm_test_run(bench_argv, NULL, out, sizeof(out));
    fprintf(stderr, "mm_bench (exit %d):\n%.4000s\n", rc, out);

    json_error_t jerr;
    json_t *report = json_load_file(json_path, 0, &jerr);
    MM_CHECK(report != NULL);
    if (report != NULL) {
        json_int_t requests = json_integer_value(json_object_get(report, "requests"));
        json_int_t ready = json_integer_value(json_object_get(report, "ready"));
        json_int_t verified = json_integer_value(json_object_get(report, "tokens_verified"));
        MM_CHECK_INT(requests, ==, EXPECTED);
        MM_CHECK_INT(ready, ==, requests);
        MM_CHECK_INT(verified, ==, ready);
        json_t *outcomes = json_object_get(report, "outcomes");
        const char *name;
        json_t *count;
        json_object_foreach(outcomes, name, count)
        {
            if (strcmp(name, "ready") != 0 && json_integer_value(count) != 0) {
                fprintf(stderr, "outcome %s: %lld\n", name, (long long)json_integer_value(count));
                MM_CHECK(!"a request was not ready");
            }
        }
        json_decref(report);
    }
    /* make run's webhooks: the simulator POSTs the web front, which routes them to the matchmaker */
    char metrics_url[128];
    static char metrics[1 << 17];
    snprintf(metrics_url, sizeof(metrics_url), "http://127.0.0.1:%d/metrics", admin_port);
    long routed = -1;
    MM_CHECK_INT(mm_test_http_get(metrics_url, metrics, sizeof(metrics)), ==, 200);
    const char *line = strstr(metrics, "\nmm_front_webhooks_total{outcome=\"routed\"} ");
    if (line != NULL)
        routed = strtol(line + strlen("\nmm_front_webhooks_total{outcome=\"routed\"} "), NULL, 10);
    fprintf(stderr, "web front: %ld webhooks routed for %d requests\n", routed, EXPECTED);
    MM_CHECK_INT(routed, >, 0);
    MM_CHECK_INT(mm_test_stop(stack, 15000), ==, 0);
    if (mm_test_failed > 0) {
        char log[700];
        snprintf(log, sizeof(log), "%s/logs/bevygap_matchmaker_httpd.log", run_dir);
        mm_test_dump_file(log);
        snprintf(log, sizeof(log), "%s/logs/bevygap_matchmaker.log", run_dir);
        mm_test_dump_file(log);
    }
    return MM_TEST_DONE();
}
