/*
 * mm_ceilings edgegap-get-cost (bench/ceilings_getcost.c) against the real edgegap_sim: it
 * creates its sessions, answers with one JSON line whose counts add up (every GET sent is
 * answered OK, burst x ticks of them), and deletes every session it created, so nothing it made
 * is left live; bad flags are a usage error (exit 2) and an unreachable API fails (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm_test.h"
#include "mm_test_http.h"

#define KEY "token t-getcost"

static long long
sim_stat(const mm_test_sim *sim, const char *field)
{
    char body[16384], url[128];
    snprintf(url, sizeof(url), "%s/__sim/stats", sim->base);
    long status = mm_test_http_get(url, body, sizeof(body));
    json_t *j = status == 200 ? json_loads(body, 0, NULL) : NULL;
    json_t *v = j != NULL ? json_object_get(j, field) : NULL;
    long long n = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

static int
run(const char *url, const char *const *extra, char *out, size_t out_len)
{
    char bin[512];
    snprintf(bin, sizeof(bin), "%s/mm_ceilings", mm_test_build_dir());
    char *argv[24] = {bin, "edgegap-get-cost", "--url", (char *)url, "--api-key-env", "MM_TEST_GETCOST_KEY"};
    int n = 6;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 23; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    return mm_test_run(argv, NULL, out, out_len);
}

int
main(void)
{
    setenv("MM_TEST_GETCOST_KEY", KEY, 1);
    mm_test_sim sim;
    const char *sim_extra[] = {"--seek-delay-ms", "600000", "--sockets", "1000", NULL};
    MM_REQUIRE(mm_test_sim_start(&sim, KEY, sim_extra, NULL) == 0);

    char out[1024];
    const char *extra[] = {"--sessions", "50", "--burst", "10", "--every-ms", "20", "--seconds", "0.5", NULL};
    MM_CHECK_INT(run(sim.base, extra, out, sizeof(out)), ==, 0);
    json_t *j = json_loads(out, 0, NULL);
    MM_REQUIRE(j != NULL);
    long long gets = json_integer_value(json_object_get(j, "gets"));
    MM_CHECK(gets >= 10 && gets % 10 == 0); /* whole bursts of 10, about 25 of them */
    MM_CHECK(gets <= 300);
    MM_CHECK_INT(json_integer_value(json_object_get(j, "ok")), ==, gets);
    MM_CHECK_INT(json_integer_value(json_object_get(j, "failed")), ==, 0);
    MM_CHECK(json_real_value(json_object_get(j, "us_per_get")) > 0);
    json_decref(j);
    MM_CHECK_INT(sim_stat(&sim, "sessions_created"), ==, 50);
    MM_CHECK_INT(sim_stat(&sim, "sessions_live"), ==, 0); /* it deleted what it made */

    const char *bad[] = {"--burst", "0", NULL};
    MM_CHECK_INT(run(sim.base, bad, out, sizeof(out)), ==, 2);
    const char *unknown[] = {"--bursts", "4", NULL};
    MM_CHECK_INT(run(sim.base, unknown, out, sizeof(out)), ==, 2);
    MM_CHECK_INT(mm_test_stop(sim.pid, 5000), ==, 0);

    char dead[64];
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", mm_test_free_port());
    const char *quick[] = {"--sessions", "5", "--seconds", "0.2", NULL};
    MM_CHECK_INT(run(dead, quick, out, sizeof(out)), ==, 1);
    return MM_TEST_DONE();
}
