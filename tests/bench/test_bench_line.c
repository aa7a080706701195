/*
 * mm_bench and a launch (docs/mm_bench.md, "Load curves" and "Waiting room and estimates"):
 * the --rate-curve parser and schedule, the waiting-room text parser and the fluid model as
 * units; then the program against the scripted server (fake_ws_server.c): a curve's starts per
 * second (counted, not timed), the positions and estimates a request in line was told, when it
 * left the line, --requests-csv, --fluid-ceiling, a request refused while in line, and
 * `mm_bench merge` of two such runs.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_test_parse.h"
#include "fake_ws_server.h"
#include "mm_bench.h"
#include "mm_test.h"

#define S 1000000000ULL

static mm_bench_config cfg;
static fake_ws_server server;
static char program[512], dir[256], json_path[512], csv_path[512], url[128];
static char out[65536];

#define PARSE(...) MM_BENCH_TEST_PARSE(&cfg, __VA_ARGS__)

static void
test_line_parse(void)
{
    uint32_t p = 0, n = 0, e = 0;
    const char *good = "Waiting in line: position 12 of 3400, about 41 s (3)";
    MM_CHECK_INT(mm_bench_line_parse(good, strlen(good), &p, &n, &e), ==, 1);
    MM_CHECK_INT(p, ==, 12);
    MM_CHECK_INT(n, ==, 3400);
    MM_CHECK_INT(e, ==, 41);
    static const char *const bad[] = {
        "Waiting for Edgegap: 3 requests ahead (0)",
        "Status.SEEKING (3)",
        "Waiting in line: position 12 of 3400, about 41 s",
        "Waiting in line: position 12 of 3400, about 41 s (3) ",
        "Waiting in line: position -1 of 3400, about 41 s (3)",
        "Waiting in line: position  12 of 3400, about 41 s (3)",
        "Waiting in line: position 12 of 3400, about 4.5 s (3)",
        "Waiting in line: position 1234567890 of 3400, about 41 s (3)",
        "waiting in line: position 12 of 3400, about 41 s (3)",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mm_bench_line_parse(bad[i], strlen(bad[i]), &p, &n, &e) != 0)
            MM_CHECK(!"a text not of the waiting-room form was taken for one");
    /* the length bounds the text: a prefix of the good text is not one */
    MM_CHECK_INT(mm_bench_line_parse(good, strlen(good) - 1, &p, &n, &e), ==, 0);
}

static void
test_fluid(void)
{
    uint64_t burst[4] = {0, 0, 0, 0}, waits[5];
    mm_bench_fluid_waits(burst, 4, 2.0, waits); /* 2/s: each player is half a second of work */
    MM_CHECK_U64(waits[0], ==, 0);
    MM_CHECK_U64(waits[1], ==, S / 2);
    MM_CHECK_U64(waits[2], ==, S);
    MM_CHECK_U64(waits[3], ==, 3 * S / 2);
    uint64_t spaced[4] = {0, S, 2 * S, 3 * S};
    mm_bench_fluid_waits(spaced, 4, 2.0, waits); /* below the ceiling: nobody waits */
    for (int i = 0; i < 4; i++)
        MM_CHECK_U64(waits[i], ==, 0);
    /* a burst, then a gap long enough to drain it, then one more */
    uint64_t mixed[5] = {0, 0, 0, 10 * S, 10 * S};
    mm_bench_fluid_waits(mixed, 5, 1.0, waits);
    MM_CHECK_U64(waits[2], ==, 2 * S);
    MM_CHECK_U64(waits[3], ==, 0);
    MM_CHECK_U64(waits[4], ==, S);
}

static void
test_curve_flags(void)
{
    MM_CHECK_INT(PARSE("--rate-curve", "0s:0,1s:40,2s:40"), ==, 0);
    MM_CHECK_INT(cfg.mode, ==, MM_BENCH_OPEN_LOOP);
    MM_CHECK_U64(cfg.duration_ns, ==, 2 * S);
    MM_CHECK(cfg.rate == 40);
    MM_CHECK_U64(mm_bench_open_loop_total(&cfg), ==, 60); /* 20 on the ramp, 40 after */
    MM_CHECK_U64(mm_bench_open_loop_offset(&cfg, 0), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_offset(&cfg, 5), ==, S / 2); /* C(0.5 s) = 40 * 0.5^2 / 2 = 5 */
    MM_CHECK_U64(mm_bench_open_loop_offset(&cfg, 20), ==, S);
    MM_CHECK_U64(mm_bench_open_loop_offset(&cfg, 40), ==, 3 * S / 2);
    uint64_t last = 0;
    for (uint64_t k = 0; k < 60; k++) { /* never backwards, never past the end */
        uint64_t t = mm_bench_open_loop_offset(&cfg, k);
        MM_CHECK(t >= last && t < 2 * S);
        last = t;
    }
    /* the same as --rate 40 --duration 2s --ramp 1s, request by request */
    mm_bench_config curve = cfg;
    MM_CHECK_INT(PARSE("--rate", "40", "--duration", "2s", "--ramp", "1s"), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_total(&cfg), ==, mm_bench_open_loop_total(&curve));
    for (uint64_t k = 0; k < 60; k++) {
        int64_t d = (int64_t)mm_bench_open_loop_offset(&cfg, k) - (int64_t)mm_bench_open_loop_offset(&curve, k);
        MM_CHECK(d > -1000 && d < 1000);
    }
    /* a step (two points at one time), a pause at rate 0, a ramp down */
    MM_CHECK_INT(PARSE("--rate-curve", "0s:10,1s:10,1s:0,2s:0,2s:100,3s:0"), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_total(&cfg), ==, 60);
    MM_CHECK_U64(mm_bench_open_loop_offset(&cfg, 9), ==, 9 * S / 10);
    MM_CHECK(mm_bench_open_loop_offset(&cfg, 10) >= 2 * S);
    MM_CHECK(mm_bench_open_loop_offset(&cfg, 59) < 3 * S);
    MM_CHECK_INT(PARSE("--rate-curve", "0:1000,70s:1000", "--fluid-ceiling", "100"), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_total(&cfg), ==, 70000);
    MM_CHECK(cfg.fluid_ceiling == 100);

    static const char *const bad[][3] = {
        {"--rate-curve", "1s:10,2s:10", NULL},           /* not from 0s */
        {"--rate-curve", "0s:10", NULL},                 /* one point */
        {"--rate-curve", "0s:10,1s:-1", NULL},           /* a negative rate */
        {"--rate-curve", "0s:10,2s:10,1s:10", NULL},     /* backwards */
        {"--rate-curve", "0s:x,1s:1", NULL},             /* not a rate */
        {"--rate-curve", "0s:1,1y:1", NULL},             /* not a time */
        {"--rate-curve", "0s:1,1s", NULL},               /* no colon */
        {"--rate-curve", "0s:0,2s:0", NULL},             /* no request at all */
        {"--rate-curve", "0s:0,0s:100", NULL},           /* no time at all */
        {"--rate-curve", "0s:2000000,1s:1", NULL},       /* over the largest rate */
        {"--fluid-ceiling", "0", NULL},
        {"--fluid-ceiling", "-5", NULL},
        {"--fluid-ceiling", "lots", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        MM_CHECK_INT(mm_bench_test_parse(&cfg, bad[i]), ==, 2);
    MM_CHECK_INT(PARSE("--rate-curve", "0s:1,1s:1", "--rate", "5"), ==, 2);
    MM_CHECK_INT(PARSE("--rate-curve", "0s:1,1s:1", "--duration", "5s"), ==, 2);
    MM_CHECK_INT(PARSE("--rate-curve", "0s:1,1s:1", "--ramp", "1s"), ==, 2);
    MM_CHECK_INT(PARSE("--concurrency", "5", "--rate-curve", "0s:1,1s:1"), ==, 2);
    MM_CHECK_INT(PARSE("--rate-curve", "0s:1,1s:1", "--rate-curve", "0s:1,1s:1"), ==, 2);
}

static json_t *
run_bench(int *status, const char *const *extra)
{
    char *argv[64] = {program, "--url", url, "--json", json_path, "--no-progress"};
    int n = 6;
    for (int i = 0; extra[i] != NULL && n < 63; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    unlink(json_path);
    *status = mm_test_run(argv, NULL, out, sizeof(out));
    json_t *doc = json_load_file(json_path, 0, NULL);
    if (doc == NULL)
        fprintf(stderr, "no JSON from mm_bench (exit %d)\n%s\n", *status, out);
    return doc;
}

static long long
jint(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static double
jreal(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The schedule of a curve, counted: 20 starts in the ramp's second, 40 in the next. */
static void
test_curve_run(void)
{
    int status = 0;
    int before = fake_ws_count(&server, &server.requests);
    json_t *doc = run_bench(&status, (const char *const[]){"--rate-curve", "0s:0,1s:40,2s:40", "--game", "happy", NULL});
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(status, ==, 0);
    MM_CHECK_INT(jint(doc, "requests"), ==, 60);
    MM_CHECK_INT(jint(doc, "ready"), ==, 60);
    MM_CHECK_INT(fake_ws_count(&server, &server.requests) - before, ==, 60);
    json_t *timeline = json_object_get(doc, "timeline");
    MM_REQUIRE(json_array_size(timeline) >= 2);
    long long first = jint(json_array_get(timeline, 0), "started"), second = jint(json_array_get(timeline, 1), "started");
    /* a start late by a few ms may cross into the next second; the schedule's counts are 20 and 40 */
    MM_CHECK(first >= 17 && first <= 20);
    MM_CHECK(second >= 40 && second <= 43);
    MM_CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "config"), "rate_curve")), "0s:0,1s:40,2s:40");
    MM_CHECK(strstr(out, "rate curve 0s:0,1s:40,2s:40") != NULL);
    json_decref(doc);
}

/* Requests in line: what they were told, when they left, the CSV, the fluid model. */
static json_t *
run_line(const char *game, const char *json)
{
    int status = 0;
    snprintf(json_path, sizeof(json_path), "%s", json);
    json_t *doc = run_bench(&status, (const char *const[]){"--game", game, "--concurrency", "4", "--requests", "4",
                                                           "--fluid-ceiling", "100", "--requests-csv", csv_path,
                                                           "--close-grace", "1s", NULL});
    MM_REQUIRE(doc != NULL);
    MM_CHECK_INT(jint(doc, "requests"), ==, 4);
    return doc;
}

static void
test_line_run(void)
{
    char a_path[600], b_path[600], m_path[600];
    snprintf(a_path, sizeof(a_path), "%s/a.json", dir);
    snprintf(b_path, sizeof(b_path), "%s/b.json", dir);
    snprintf(m_path, sizeof(m_path), "%s/m.json", dir);
    json_t *doc = run_line("line", a_path);
    MM_CHECK_INT(jint(doc, "ready"), ==, 4);
    json_t *line = json_object_get(doc, "line");
    MM_CHECK_INT(jint(line, "told"), ==, 4);
    MM_CHECK_INT(jint(line, "left"), ==, 4);
    MM_CHECK_INT(jint(line, "max_position"), ==, 3);
    MM_CHECK_INT(jint(line, "max_length"), ==, 5);
    json_t *err = json_object_get(line, "estimate_error");
    MM_CHECK_INT(jint(err, "count"), ==, 4);
    /* told "about 1 s", left at least FAKE_WS_LINE_MS later: |1 - a| / a <= 1/0.3 - 1 */
    double p50 = jreal(err, "p50");
    MM_CHECK(p50 >= 0 && p50 <= 1000.0 / FAKE_WS_LINE_MS - 1 + 0.01);
    json_t *phases = json_object_get(doc, "phases_ms");
    MM_CHECK_INT(jint(json_object_get(phases, "told"), "count"), ==, 4);
    MM_CHECK_INT(jint(json_object_get(phases, "left_line"), "count"), ==, 4);
    MM_CHECK(jreal(json_object_get(phases, "left_line"), "min") >= FAKE_WS_LINE_MS);
    /* the line is left at SessionRequestAccepted: the same moment */
    MM_CHECK(jreal(json_object_get(phases, "left_line"), "p50") <= jreal(json_object_get(phases, "accepted"), "p50"));
    json_t *fluid = json_object_get(doc, "fluid");
    MM_REQUIRE(json_is_object(fluid));
    MM_CHECK_INT(jint(fluid, "arrivals"), ==, 4);
    MM_CHECK(jreal(fluid, "ceiling_rps") == 100);
    MM_CHECK(json_is_number(json_object_get(fluid, "ratio_p99")) || json_is_null(json_object_get(fluid, "ratio_p99")));
    MM_CHECK(strstr(out, "4 told a position (largest 3, longest line 5); 4 of them left the line") != NULL);
    MM_CHECK(strstr(out, "fluid      best FIFO at 100/s over 4 arrivals") != NULL);
    json_decref(doc);

    /* one line per request, with what it was told */
    char csv[8192] = "";
    FILE *f = fopen(csv_path, "r");
    MM_REQUIRE(f != NULL);
    size_t n = fread(csv, 1, sizeof(csv) - 1, f);
    fclose(f);
    csv[n] = '\0';
    const char *header = "request,start_ms,told_ms,position,length,estimate_s,left_ms,ready_ms,outcome\n";
    MM_CHECK(strncmp(csv, header, strlen(header)) == 0);
    int rows = 0;
    for (char *line_text = strchr(csv, '\n'); line_text != NULL && line_text[1] != '\0'; line_text = strchr(line_text + 1, '\n')) {
        rows++;
        MM_CHECK(strstr(line_text, ",3,5,1,") != NULL);
    }
    MM_CHECK_INT(rows, ==, 4);
    char *last = csv + n - 1;
    *last = '\0';
    MM_CHECK(strcmp(strrchr(csv, ',') + 1, "ready") == 0);

    /* refused while in line: told, never left, no estimate judged */
    doc = run_line("lineerror", b_path);
    line = json_object_get(doc, "line");
    MM_CHECK_INT(jint(json_object_get(doc, "outcomes"), "error_503"), ==, 4);
    MM_CHECK_INT(jint(line, "told"), ==, 4);
    MM_CHECK_INT(jint(line, "left"), ==, 0);
    MM_CHECK_INT(jint(line, "max_position"), ==, 7);
    MM_CHECK_INT(jint(json_object_get(line, "estimate_error"), "count"), ==, 0);
    MM_CHECK_INT(jint(json_object_get(json_object_get(doc, "phases_ms"), "left_line"), "count"), ==, 0);
    json_decref(doc);

    /* merged: counts and estimate errors add up; the fluid model is said not to be merged */
    char *argv[] = {program, "merge", a_path, b_path, "--json", m_path, NULL};
    int status = mm_test_run(argv, NULL, out, sizeof(out));
    MM_CHECK_INT(status, ==, 1);
    doc = json_load_file(m_path, 0, NULL);
    MM_REQUIRE(doc != NULL);
    line = json_object_get(doc, "line");
    MM_CHECK_INT(jint(line, "told"), ==, 8);
    MM_CHECK_INT(jint(line, "left"), ==, 4);
    MM_CHECK_INT(jint(line, "max_position"), ==, 7);
    MM_CHECK_INT(jint(json_object_get(line, "estimate_error"), "count"), ==, 4);
    MM_CHECK(json_is_null(json_object_get(doc, "fluid")));
    MM_CHECK(strstr(out, "fluid      not computed (a merged result") != NULL);
    json_decref(doc);
    unlink(a_path);
    unlink(b_path);
    unlink(m_path);
}

int
main(void)
{
    test_line_parse();
    test_fluid();
    test_curve_flags();
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(program, sizeof(program), "%s/mm_bench", mm_test_build_dir());
    snprintf(json_path, sizeof(json_path), "%s/run.json", dir);
    snprintf(csv_path, sizeof(csv_path), "%s/requests.csv", dir);
    MM_REQUIRE(fake_ws_start(&server) == 0);
    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/matchmaker/ws", server.port);
    test_curve_run();
    test_line_run();
    MM_CHECK_INT(fake_ws_stop(&server), ==, 0);
    unlink(json_path);
    unlink(csv_path);
    rmdir(dir);
    return MM_TEST_DONE();
}
