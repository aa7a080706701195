/*
 * mm_bench run as a user runs it, against the scripted server of fake_ws_server.c: one run per
 * script checks that mm_bench's --json counts the outcome class it must (ready, error_409,
 * err_refused, protocol_violation for wrong order, bad JSON, a missing close and a token for
 * the wrong port, timeout, closed_early, connect_failed for a refused connect and a 404), the
 * exit status, the phases timed and what the server saw (requests, pongs, close frames). Then
 * one mixed closed-loop run (every script at once, chosen by client_ip), an open-loop run with
 * --plot, and a run stopped by SIGTERM. Runs are a few requests each: this tests the tool, not
 * the machine.
 */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_ws_server.h"
#include "mm_test.h"

static fake_ws_server server;
static char program[512], json_path[512], plot_path[512], url[128];
static char out[65536];

/*
 * Runs mm_bench with the common flags and extra ones (NULL-terminated), writing --json to
 * json_path; returns the parsed JSON (NULL on failure) and the exit status in *status.
 */
static json_t *
run_bench(int *status, const char *target_url, const char *const *extra)
{
    char *argv[64] = {program, "--url", (char *)target_url, "--json", json_path, "--no-progress"};
    int n = 6;
    for (int i = 0; extra[i] != NULL && n < 63; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    unlink(json_path);
    *status = mm_test_run(argv, NULL, out, sizeof(out));
    json_error_t err;
    json_t *doc = json_load_file(json_path, 0, &err);
    if (doc == NULL)
        fprintf(stderr, "no JSON from mm_bench (exit %d): %s\nstdout:\n%s\n", *status, err.text, out);
    return doc;
}

static long long
jint(json_t *doc, const char *path1, const char *path2)
{
    json_t *v = json_object_get(doc, path1);
    if (path2 != NULL)
        v = json_object_get(v, path2);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Does some reason of class cls contain text? */
static int
has_reason(json_t *doc, const char *cls, const char *text)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "reasons"), i, r)
    {
        const char *o = json_string_value(json_object_get(r, "outcome"));
        const char *t = json_string_value(json_object_get(r, "reason"));
        if (o != NULL && t != NULL && strcmp(o, cls) == 0 && strstr(t, text) != NULL)
            return 1;
    }
    fprintf(stderr, "no reason of %s containing '%s'\n", cls, text);
    return 0;
}

/* The sum of the outcome counts equals requests: nothing is lost or counted twice. */
static void
check_accounting(json_t *doc)
{
    const char *k;
    json_t *v;
    long long sum = 0;
    json_object_foreach(json_object_get(doc, "outcomes"), k, v) sum += json_integer_value(v);
    MM_CHECK_INT(sum, ==, jint(doc, "requests", NULL));
    MM_CHECK_INT(jint(doc, "ready", NULL) + jint(doc, "errors", NULL), ==, jint(doc, "requests", NULL));
}

/* Three requests of one script in a closed loop; the class must count all three. */
static json_t *
run_script(const char *game, const char *cls, const char *const *extra_flags)
{
    const char *extra[32] = {"--concurrency", "3", "--requests", "3", "--game", game, "--close-grace", "300ms"};
    int n = 8;
    for (int i = 0; extra_flags != NULL && extra_flags[i] != NULL; i++)
        extra[n++] = extra_flags[i];
    extra[n] = NULL;
    int status = 0;
    json_t *doc = run_bench(&status, url, extra);
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(status, ==, strcmp(cls, "ready") == 0 ? 0 : 1);
    MM_CHECK_INT(jint(doc, "requests", NULL), ==, 3);
    if (jint(doc, "outcomes", cls) != 3)
        fprintf(stderr, "script %s: expected 3 x %s\n%s\n", game, cls, out);
    MM_CHECK_INT(jint(doc, "outcomes", cls), ==, 3);
    check_accounting(doc);
    return doc;
}

static const char *const with_key[] = {"--verify-key", FAKE_WS_KEY, "--protocol-id", "1982", NULL};

static void
test_happy(void)
{
    int pongs = fake_ws_count(&server, &server.pongs), closes = fake_ws_count(&server, &server.client_closes);
    json_t *doc = run_script("happy", "ready", with_key);
    MM_CHECK_INT(jint(doc, "ready", NULL), ==, 3);
    MM_CHECK_INT(jint(doc, "errors", NULL), ==, 0);
    MM_CHECK_INT(jint(doc, "tokens_verified", NULL), ==, 3);
    json_t *lat = json_object_get(doc, "latency_ms");
    MM_CHECK_INT(jint(lat, "count", NULL), ==, 3);
    MM_CHECK(json_real_value(json_object_get(lat, "p50")) > 0);
    MM_CHECK(json_real_value(json_object_get(lat, "p999")) <= json_real_value(json_object_get(lat, "max")));
    static const char *const phases[] = {"connect", "upgrade", "first_message", "accepted", "ready"};
    double previous = 0;
    for (int i = 0; i < 5; i++) {
        json_t *p = json_object_get(json_object_get(doc, "phases_ms"), phases[i]);
        MM_CHECK_INT(jint(p, "count", NULL), ==, 3);
        double p50 = json_real_value(json_object_get(p, "p50"));
        MM_CHECK(p50 >= previous); /* each phase comes after the one before */
        previous = p50;
    }
    MM_CHECK(json_real_value(json_object_get(doc, "rate")) > 0);
    MM_CHECK(json_is_object(json_object_get(doc, "cpu")));
    MM_CHECK(json_array_size(json_object_get(doc, "timeline")) >= 1);
    MM_CHECK(strstr(out, "3 verified") != NULL);
    json_decref(doc);
    /* the pings were answered and the server's closes echoed */
    MM_CHECK_INT(fake_ws_count(&server, &server.pongs) - pongs, ==, 3);
    MM_CHECK_INT(fake_ws_count(&server, &server.client_closes) - closes, ==, 3);
    /* without a key, tokens are not decoded */
    doc = run_script("happy", "ready", NULL);
    MM_CHECK_INT(jint(doc, "tokens_verified", NULL), ==, 0);
    json_decref(doc);
}

static void
test_failures(void)
{
    json_t *doc = run_script("error", "error_409", NULL);
    MM_CHECK(has_reason(doc, "error_409", "conflict"));
    MM_CHECK_INT(jint(doc, "errors", NULL), ==, 3);
    json_decref(doc);
    doc = run_script("err", "err_refused", NULL);
    MM_CHECK(has_reason(doc, "err_refused", "ERR Game name invalid"));
    json_decref(doc);
    doc = run_script("order", "protocol_violation", NULL);
    MM_CHECK(has_reason(doc, "protocol_violation", "SessionReady before SessionRequestAccepted"));
    json_decref(doc);
    doc = run_script("badjson", "protocol_violation", NULL);
    MM_CHECK(has_reason(doc, "protocol_violation", "not a feedback message"));
    json_decref(doc);
    doc = run_script("noclose", "protocol_violation", NULL);
    MM_CHECK(has_reason(doc, "protocol_violation", "no close frame after the final message"));
    json_decref(doc);
    doc = run_script("early", "closed_early", NULL);
    MM_CHECK(has_reason(doc, "closed_early", "connection closed after 2 messages"));
    json_decref(doc);
    doc = run_script("silent", "timeout", (const char *const[]){"--timeout", "400ms", NULL});
    MM_CHECK(has_reason(doc, "timeout", "waiting for the first message"));
    json_decref(doc);
}

/* A token minted for another port passes unnoticed without --verify-key, and is caught with it. */
static void
test_wrong_token(void)
{
    json_t *doc = run_script("wrongport", "ready", NULL);
    json_decref(doc);
    doc = run_script("wrongport", "protocol_violation", with_key);
    MM_CHECK_INT(jint(doc, "ready", NULL), ==, 0);
    MM_CHECK(has_reason(doc, "protocol_violation", "token minted for 127.0.0.1:30005, not for the SessionReady's 127.0.0.1:30004"));
    json_decref(doc);
    /* the right tokens under a wrong key are no success either */
    const char *const wrong_key[] = {"--verify-key", "[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]", NULL};
    doc = run_script("happy", "protocol_violation", wrong_key);
    MM_CHECK(has_reason(doc, "protocol_violation", "bad token: token rejected"));
    json_decref(doc);
}

static void
test_connect_failures(void)
{
    char refused[128];
    int port = mm_test_free_port(); /* nothing listens there */
    snprintf(refused, sizeof(refused), "ws://127.0.0.1:%d/matchmaker/ws", port);
    int status = 0;
    json_t *doc = run_bench(&status, refused, (const char *const[]){"--concurrency", "2", "--requests", "4", NULL});
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(status, ==, 1);
    MM_CHECK_INT(jint(doc, "outcomes", "connect_failed"), ==, 4);
    MM_CHECK(has_reason(doc, "connect_failed", "Connection refused"));
    json_decref(doc);
    snprintf(refused, sizeof(refused), "ws://127.0.0.1:%d/nope", server.port);
    doc = run_bench(&status, refused, (const char *const[]){"--concurrency", "2", "--requests", "2", NULL});
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(jint(doc, "outcomes", "connect_failed"), ==, 2);
    MM_CHECK(has_reason(doc, "connect_failed", "HTTP 404 instead of 101"));
    json_decref(doc);
}

/* Every script at once, chosen by client_ip: 18 requests over 10.0.0.1-10.0.0.9, 6 in flight. */
static void
test_mixed(void)
{
    int requests = fake_ws_count(&server, &server.requests);
    int status = 0;
    const char *const extra[] = {"--game", "mixed", "--client-ip-range", "10.0.0.1-10.0.0.9", "--concurrency", "6", "--requests",
                                 "18", "--timeout", "1s", "--close-grace", "300ms", "--verify-key", FAKE_WS_KEY, NULL};
    json_t *doc = run_bench(&status, url, extra);
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(status, ==, 1);
    MM_CHECK_INT(jint(doc, "requests", NULL), ==, 18);
    MM_CHECK_INT(jint(doc, "ready", NULL), ==, 2);
    MM_CHECK_INT(jint(doc, "errors", NULL), ==, 16);
    MM_CHECK_INT(jint(doc, "outcomes", "ready"), ==, 2);
    MM_CHECK_INT(jint(doc, "outcomes", "error_409"), ==, 2);
    MM_CHECK_INT(jint(doc, "outcomes", "err_refused"), ==, 2);
    MM_CHECK_INT(jint(doc, "outcomes", "protocol_violation"), ==, 8); /* order, wrongport, badjson, noclose */
    MM_CHECK_INT(jint(doc, "outcomes", "timeout"), ==, 2);
    MM_CHECK_INT(jint(doc, "outcomes", "closed_early"), ==, 2);
    MM_CHECK_INT(jint(doc, "outcomes", "connect_failed"), ==, 0);
    check_accounting(doc);
    json_decref(doc);
    MM_CHECK_INT(fake_ws_count(&server, &server.requests) - requests, ==, 18);
    /* the server saw each address of the range twice, and only those */
    pthread_mutex_lock(&server.lock);
    MM_CHECK_INT(server.ip_distinct, ==, 9);
    for (int i = 0; i < server.ip_distinct; i++) {
        MM_CHECK(strncmp(server.ips[i], "10.0.0.", 7) == 0);
        MM_CHECK_INT(server.ip_counts[i], ==, 2);
    }
    MM_CHECK_INT(server.bad_requests, ==, 0);
    pthread_mutex_unlock(&server.lock);
}

/* Open loop at 40/s for 1 s: exactly 40 requests, a timeline, and a PNG (needs gnuplot). */
static void
test_open_loop(void)
{
    int status = 0, have_gnuplot = system("command -v gnuplot >/dev/null 2>&1") == 0;
    const char *const with_plot[] = {"--rate", "40", "--duration", "1s", "--game", "happy", "--plot", plot_path, NULL};
    if (!have_gnuplot) {
        /* refused before the run, not after it */
        fprintf(stderr, "gnuplot is not installed (deploy/install-deps.sh): checking that --plot is refused\n");
        json_t *none = run_bench(&status, url, with_plot);
        MM_CHECK(none == NULL);
        MM_CHECK_INT(status, ==, 3);
        json_decref(none);
    }
    const char *const without_plot[] = {"--rate", "40", "--duration", "1s", "--game", "happy", NULL};
    unlink(plot_path);
    json_t *doc = run_bench(&status, url, have_gnuplot ? with_plot : without_plot);
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(status, ==, 0);
    MM_CHECK_INT(jint(doc, "requests", NULL), ==, 40);
    MM_CHECK_INT(jint(doc, "ready", NULL), ==, 40);
    json_t *row;
    size_t i;
    long long started = 0;
    json_array_foreach(json_object_get(doc, "timeline"), i, row) started += jint(row, "started", NULL);
    MM_CHECK_INT(started, ==, 40);
    MM_CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "config"), "mode")), "open");
    json_decref(doc);
    if (have_gnuplot) {
        FILE *f = fopen(plot_path, "rb");
        unsigned char sig[8] = {0};
        MM_CHECK(f != NULL && fread(sig, 1, 8, f) == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0);
        if (f != NULL)
            fclose(f);
    }
}

/* SIGTERM ends a run early: requests in flight are "interrupted", and the JSON is still written. */
static void
test_interrupt(void)
{
    int before = fake_ws_count(&server, &server.requests);
    char *argv[] = {program, "--url", url, "--json", json_path, "--no-progress", "--game", "silent", "--concurrency", "4",
                    "--requests", "100", "--timeout", "60s", NULL};
    unlink(json_path);
    pid_t pid = mm_test_spawn(argv, NULL);
    MM_REQUIRE(pid > 0);
    for (int i = 0; i < 1000 && fake_ws_count(&server, &server.requests) - before < 4; i++)
        mm_test_sleep_ms(10); /* polling a condition, with a deadline */
    MM_CHECK_INT(fake_ws_count(&server, &server.requests) - before, ==, 4);
    MM_CHECK_INT(mm_test_stop(pid, 10000), ==, 1);
    json_t *doc = json_load_file(json_path, 0, NULL);
    MM_REQUIRE(doc != NULL);
    MM_CHECK(json_is_true(json_object_get(doc, "interrupted")));
    MM_CHECK_INT(jint(doc, "requests", NULL), ==, 4);
    MM_CHECK_INT(jint(doc, "outcomes", "interrupted"), ==, 4);
    json_decref(doc);
}

int
main(void)
{
    char dir[256];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(program, sizeof(program), "%s/mm_bench", mm_test_build_dir());
    snprintf(json_path, sizeof(json_path), "%s/run.json", dir);
    snprintf(plot_path, sizeof(plot_path), "%s/run.png", dir);
    MM_REQUIRE(fake_ws_start(&server) == 0);
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/matchmaker/ws", server.port);
    test_happy();
    test_failures();
    test_wrong_token();
    test_connect_failures();
    test_mixed();
    test_open_loop();
    test_interrupt();
    MM_CHECK_INT(fake_ws_stop(&server), ==, 0);
    unlink(json_path);
    unlink(plot_path);
    rmdir(dir);
    return MM_TEST_DONE();
}
