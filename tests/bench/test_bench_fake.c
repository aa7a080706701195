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
#include <arpa/inet.h>
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
    /* the timeline says, per second, why requests failed (what --plot draws): the classes add up */
    static const char *const classes[] = {"error_409", "err_refused", "protocol_violation", "timeout", "closed_early"};
    for (int c = 0; c < 5; c++) {
        long long sum = 0, failed = 0;
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(doc, "timeline"), i, row)
        {
            long long n = jint(row, "failed_by", classes[c]);
            sum += n > 0 ? n : 0;
            failed += jint(row, "failed", NULL);
        }
        MM_CHECK_INT(sum, ==, jint(doc, "outcomes", classes[c]));
        MM_CHECK_INT(failed, ==, 16);
    }
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

/* Forgets the TCP peers the server saw. */
static void
peers_reset(void)
{
    pthread_mutex_lock(&server.lock);
    server.peer_distinct = server.peer_overflow = 0;
    memset(server.peer_counts, 0, sizeof(server.peer_counts));
    pthread_mutex_unlock(&server.lock);
}

/*
 * Source addresses: the front counts its per-address limits by TCP peer, so mm_bench spreads
 * its connections over local addresses. By default against loopback every request comes from
 * another address of 127.0.1.1-127.0.255.254; --source-ips gives the ranges (round-robin);
 * --source-ips none leaves it to the kernel (one address); an address that is not this
 * machine's is refused at start with a clear message.
 */
static void
test_source_ips(void)
{
    int status = 0;
    peers_reset();
    json_t *doc = run_bench(&status, url, (const char *const[]){"--game", "happy", "--concurrency", "4", "--requests", "30", NULL});
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(status, ==, 0);
    MM_CHECK_INT(jint(doc, "sources", "used"), ==, 30);
    MM_CHECK_INT(jint(doc, "sources", "max_per_address"), ==, 1);
    MM_CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "config"), "source_ips")), "127.0.1.1-127.0.255.254");
    json_decref(doc);
    pthread_mutex_lock(&server.lock);
    MM_CHECK_INT(server.peer_distinct, ==, 30); /* before: 1, every client was 127.0.0.1 */
    for (int i = 0; i < server.peer_distinct; i++) {
        MM_CHECK_INT(server.peer_counts[i], ==, 1);
        MM_CHECK_INT(ntohl(server.peers[i]) >> 8, ==, 0x7F0001); /* 127.0.1.x */
    }
    pthread_mutex_unlock(&server.lock);

    peers_reset();
    doc = run_bench(&status, url,
                    (const char *const[]){"--game", "happy", "--concurrency", "3", "--requests", "12", "--source-ips", "127.0.0.5-127.0.0.6",
                                          "--source-ips", "127.3.0.9", NULL});
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(status, ==, 0);
    MM_CHECK_INT(jint(doc, "sources", "used"), ==, 3);
    MM_CHECK_INT(jint(doc, "sources", "max_per_address"), ==, 4);
    MM_CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "config"), "source_ips")), "127.0.0.5-127.0.0.6,127.3.0.9");
    json_decref(doc);
    pthread_mutex_lock(&server.lock);
    MM_CHECK_INT(server.peer_distinct, ==, 3);
    for (int i = 0; i < server.peer_distinct; i++)
        MM_CHECK_INT(server.peer_counts[i], ==, 4);
    pthread_mutex_unlock(&server.lock);

    peers_reset();
    doc = run_bench(&status, url, (const char *const[]){"--game", "happy", "--concurrency", "3", "--requests", "6", "--source-ips", "none", NULL});
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(jint(doc, "sources", "used"), ==, 1);
    MM_CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "config"), "source_ips")), "none");
    json_decref(doc);
    pthread_mutex_lock(&server.lock);
    MM_CHECK_INT(server.peer_distinct, ==, 1);
    MM_CHECK_INT(server.peer_counts[0], ==, 6);
    pthread_mutex_unlock(&server.lock);

    /* 192.0.2.1 (TEST-NET-1) is nobody's address: refused at start, nothing sent */
    int requests = fake_ws_count(&server, &server.requests);
    char *bad[] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", program, "--url", url, "--no-progress", "--game", "happy",
                   "--source-ips", "127.0.0.2-127.0.0.3", "--source-ips", "192.0.2.1", NULL};
    MM_CHECK_INT(mm_test_run(bad, NULL, out, sizeof(out)), ==, 3);
    MM_CHECK(strstr(out, "cannot bind 192.0.2.1") != NULL && strstr(out, "ip -brief addr") != NULL);
    MM_CHECK_INT(fake_ws_count(&server, &server.requests), ==, requests);
}

/* The count of bucket index in a [[index, count], ...] list (0 when absent). */
static long long
cell_count(json_t *cells, long long index)
{
    size_t i;
    json_t *c;
    json_array_foreach(cells, i, c) if (json_integer_value(json_array_get(c, 0)) == index) return json_integer_value(json_array_get(c, 1));
    return 0;
}

/* Every bucket of m's list is the sum of a's and b's, and m has no other. */
static int
cells_summed(json_t *a, json_t *b, json_t *m)
{
    size_t i;
    json_t *c;
    long long total_ab = 0, total_m = 0;
    json_array_foreach(a, i, c) total_ab += json_integer_value(json_array_get(c, 1));
    json_array_foreach(b, i, c) total_ab += json_integer_value(json_array_get(c, 1));
    json_array_foreach(m, i, c)
    {
        long long index = json_integer_value(json_array_get(c, 0));
        total_m += json_integer_value(json_array_get(c, 1));
        if (json_integer_value(json_array_get(c, 1)) != cell_count(a, index) + cell_count(b, index))
            return 0;
    }
    return total_m == total_ab;
}

/*
 * Two mm_bench processes at once against the server (as two machines would run, each from its
 * own source addresses), then `mm_bench merge A.json B.json`: every count of the merged result
 * is the sum of A's and B's, every histogram bucket too, and the timeline's ready counts add up.
 */
static void
test_merge_two_processes(void)
{
    char a_path[600], b_path[600], m_path[600], log_path[600];
    snprintf(a_path, sizeof(a_path), "%s.a", json_path);
    snprintf(b_path, sizeof(b_path), "%s.b", json_path);
    snprintf(m_path, sizeof(m_path), "%s.m", json_path);
    snprintf(log_path, sizeof(log_path), "%s.log", json_path);
    char *a_argv[] = {program, "--url", url, "--json", a_path, "--no-progress", "--game", "mixed", "--client-ip-range",
                      "10.0.0.1-10.0.0.9", "--concurrency", "6", "--requests", "18", "--timeout", "1s", "--close-grace", "300ms",
                      "--source-ips", "127.0.0.10-127.0.0.19", NULL};
    char *b_argv[] = {program, "--url", url, "--json", b_path, "--no-progress", "--game", "happy", "--rate", "40", "--duration",
                      "1s", "--source-ips", "127.0.0.20-127.0.0.29", NULL};
    pid_t a = mm_test_spawn(a_argv, log_path), b = mm_test_spawn(b_argv, log_path);
    MM_REQUIRE(a > 0 && b > 0);
    int sa = 0, sb = 0;
    MM_REQUIRE(waitpid(a, &sa, 0) == a && waitpid(b, &sb, 0) == b);
    MM_CHECK(WIFEXITED(sa) && WEXITSTATUS(sa) == 1); /* mixed outcomes */
    MM_CHECK(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
    int have_gnuplot = system("command -v gnuplot >/dev/null 2>&1") == 0;
    char *m_argv[] = {program, "merge", a_path, b_path, "--json", m_path, have_gnuplot ? "--plot" : NULL, plot_path, NULL};
    unlink(plot_path);
    MM_CHECK_INT(mm_test_run(m_argv, NULL, out, sizeof(out)), ==, 1);
    MM_CHECK(strstr(out, "merged     2 runs") != NULL && strstr(out, "outcomes   ready 44") != NULL); /* 2 happy + 2 wrongport (no key) + 40 */
    json_t *ad = json_load_file(a_path, 0, NULL), *bd = json_load_file(b_path, 0, NULL), *md = json_load_file(m_path, 0, NULL);
    MM_REQUIRE(ad != NULL && bd != NULL && md != NULL);
    static const char *const counts[] = {"requests", "ready", "errors", "decided", "reasons_other", "tokens_verified"};
    for (int i = 0; i < 6; i++)
        MM_CHECK_INT(jint(md, counts[i], NULL), ==, jint(ad, counts[i], NULL) + jint(bd, counts[i], NULL));
    MM_CHECK_INT(jint(md, "requests", NULL), ==, 58);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(md, "outcomes"), k, v)
    {
        long long x = jint(ad, "outcomes", k), y = jint(bd, "outcomes", k);
        MM_CHECK_INT(json_integer_value(v), ==, (x < 0 ? 0 : x) + (y < 0 ? 0 : y));
    }
    check_accounting(md);
    json_t *pa = json_object_get(json_object_get(ad, "histograms"), "phases");
    json_t *pb = json_object_get(json_object_get(bd, "histograms"), "phases");
    json_t *pm = json_object_get(json_object_get(md, "histograms"), "phases");
    MM_CHECK_INT((long long)json_object_size(pm), ==, 7); /* connect .. ready, told, left_line */
    json_object_foreach(pm, k, v)
    {
        MM_CHECK(cells_summed(json_object_get(json_object_get(pa, k), "buckets"), json_object_get(json_object_get(pb, k), "buckets"),
                              json_object_get(v, "buckets")));
        MM_CHECK_INT(jint(v, "count", NULL), ==, jint(json_object_get(pa, k), "count", NULL) + jint(json_object_get(pb, k), "count", NULL));
    }
    long long ready_rows = 0;
    size_t i;
    json_array_foreach(json_object_get(md, "timeline"), i, v) ready_rows += jint(v, "ready", NULL);
    MM_CHECK_INT(ready_rows, ==, jint(md, "ready", NULL));
    MM_CHECK_INT(jint(md, "sources", "used"), ==, 20);
    struct stat png;
    MM_CHECK(!have_gnuplot || (stat(plot_path, &png) == 0 && png.st_size > 1000));
    json_decref(ad);
    json_decref(bd);
    json_decref(md);
    /* a file that is not a result is refused, naming it */
    char *bad_argv[] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", program, "merge", a_path, log_path, NULL};
    MM_CHECK_INT(mm_test_run(bad_argv, NULL, out, sizeof(out)), ==, 3);
    MM_CHECK(strstr(out, log_path) != NULL);
    unlink(a_path);
    unlink(b_path);
    unlink(m_path);
    unlink(log_path);
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
    test_source_ips();
    test_merge_two_processes();
    test_open_loop();
    test_interrupt();
    MM_CHECK_INT(fake_ws_stop(&server), ==, 0);
    unlink(json_path);
    unlink(plot_path);
    rmdir(dir);
    return MM_TEST_DONE();
}
