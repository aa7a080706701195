/*
 * The Edgegap client's pure helpers: backoff with full jitter, retryable(), the port rule on
 * hand-made results, and the names used as metric labels.
 */
#include <stdio.h>
#include <string.h>

#include "mm_test.h"
#include "mm/edgegap.h"

static void
test_backoff(void)
{
    /* attempt 0: [0, base] */
    MM_CHECK_U64(mm_edgegap_backoff_ms(0, 100, 10000, 0), ==, 0);
    MM_CHECK_U64(mm_edgegap_backoff_ms(0, 100, 10000, 100), ==, 100);
    MM_CHECK_U64(mm_edgegap_backoff_ms(0, 100, 10000, 101), ==, 0);
    /* attempt 3: cap 800 */
    MM_CHECK_U64(mm_edgegap_backoff_ms(3, 100, 10000, 800), ==, 800);
    MM_CHECK_U64(mm_edgegap_backoff_ms(3, 100, 10000, 801), ==, 0);
    MM_CHECK_U64(mm_edgegap_backoff_ms(3, 100, 10000, 1000), ==, 199);
    /* capped by max, for huge attempts too (no overflow, no endless loop) */
    MM_CHECK_U64(mm_edgegap_backoff_ms(7, 100, 10000, 10000), ==, 10000);
    MM_CHECK_U64(mm_edgegap_backoff_ms(7, 100, 10000, 10001), ==, 0);
    MM_CHECK_U64(mm_edgegap_backoff_ms(4000000000u, 100, 10000, 12345), ==, 12345 % 10001);
    MM_CHECK_U64(mm_edgegap_backoff_ms(200, 1, UINT64_MAX, UINT64_MAX - 5), ==, UINT64_MAX - 5);
    MM_CHECK_U64(mm_edgegap_backoff_ms(63, 1, UINT64_MAX, 42), ==, 42);
    /* base above max: max; base 0: 0 */
    MM_CHECK_U64(mm_edgegap_backoff_ms(0, 5000, 300, 300), ==, 300);
    MM_CHECK_U64(mm_edgegap_backoff_ms(4000000000u, 0, 300, 299), ==, 0);
    /* every attempt stays within its cap */
    int over = 0;
    for (unsigned attempt = 0; attempt < 20; attempt++) {
        uint64_t cap = 50ull << attempt;
        if (cap > 30000)
            cap = 30000;
        for (uint64_t r = 0; r < 100000; r += 7919)
            over += mm_edgegap_backoff_ms(attempt, 50, 30000, r * 2654435761u) > cap;
    }
    MM_CHECK_INT(over, ==, 0);
}

static void
test_retryable(void)
{
    mm_edgegap_result r;
    struct {
        mm_edgegap_outcome outcome;
        long status;
        bool want;
    } cases[] = {
        {MM_EDGEGAP_HTTP_ERROR, 429, true},  {MM_EDGEGAP_HTTP_ERROR, 500, true},    {MM_EDGEGAP_HTTP_ERROR, 501, false},
        {MM_EDGEGAP_HTTP_ERROR, 502, true},  {MM_EDGEGAP_HTTP_ERROR, 503, true},    {MM_EDGEGAP_HTTP_ERROR, 504, true},
        {MM_EDGEGAP_HTTP_ERROR, 599, true},  {MM_EDGEGAP_HTTP_ERROR, 400, false},   {MM_EDGEGAP_HTTP_ERROR, 401, false},
        {MM_EDGEGAP_HTTP_ERROR, 404, false}, {MM_EDGEGAP_HTTP_ERROR, 409, false},   {MM_EDGEGAP_HTTP_ERROR, 410, false},
        {MM_EDGEGAP_HTTP_ERROR, 422, false}, {MM_EDGEGAP_HTTP_ERROR, 301, false},   {MM_EDGEGAP_TRANSPORT, 0, true},
        {MM_EDGEGAP_OK, 200, false},         {MM_EDGEGAP_BAD_RESPONSE, 200, false}, {MM_EDGEGAP_CANCELLED, 0, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&r, 0, sizeof(r));
        r.outcome = cases[i].outcome;
        r.status = cases[i].status;
        if (mm_edgegap_retryable(&r) != cases[i].want)
            fprintf(stderr, "retryable(%s, %ld) should be %d\n", mm_edgegap_outcome_name(r.outcome), r.status, cases[i].want);
        MM_CHECK_INT(mm_edgegap_retryable(&r), ==, cases[i].want);
    }
    MM_CHECK(!mm_edgegap_retryable(NULL));
}

static void
test_port_rule(void)
{
    mm_edgegap_port two[] = {{"game", 30001, 7000, "UDP"}, {"web", 30002, 7001, "WSS"}};
    mm_edgegap_port unassigned[] = {{"server", 0, 6420, "UDP"}};
    mm_edgegap_result r = {.op = MM_EDGEGAP_SESSION_GET, .outcome = MM_EDGEGAP_OK, .has_deployment = true};
    uint16_t port = 1;
    char why[256];

    r.ports = two;
    r.n_ports = 1;
    MM_CHECK_INT(mm_edgegap_session_port(&r, NULL, &port, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(port, ==, 30001);
    r.n_ports = 2;
    MM_CHECK_INT(mm_edgegap_session_port(&r, NULL, &port, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(port, ==, 0);
    MM_CHECK(strstr(why, "game, web") != NULL);
    MM_CHECK_INT(mm_edgegap_session_port(&r, "web", &port, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(port, ==, 30002);
    MM_CHECK_INT(mm_edgegap_session_port(&r, "Web", &port, why, sizeof(why)), ==, MM_ERR_NOTFOUND);
    r.n_ports = 0;
    MM_CHECK_INT(mm_edgegap_session_port(&r, NULL, &port, why, sizeof(why)), ==, MM_ERR_NOTFOUND);
    MM_CHECK(strstr(why, "no ports") != NULL);
    MM_CHECK_INT(mm_edgegap_session_port(&r, "game", &port, why, sizeof(why)), ==, MM_ERR_NOTFOUND);
    MM_CHECK(strstr(why, "none") != NULL);
    r.ports = unassigned;
    r.n_ports = 1;
    MM_CHECK_INT(mm_edgegap_session_port(&r, NULL, &port, why, sizeof(why)), ==, MM_ERR_NOTFOUND);
    MM_CHECK(strstr(why, "no external port") != NULL);
    r.has_deployment = false;
    MM_CHECK_INT(mm_edgegap_session_port(&r, NULL, &port, why, sizeof(why)), ==, MM_ERR_NOTFOUND);
    MM_CHECK(strstr(why, "no deployment") != NULL);
    r.op = MM_EDGEGAP_SESSION_CREATE;
    MM_CHECK_INT(mm_edgegap_session_port(&r, NULL, &port, why, sizeof(why)), ==, MM_ERR_INVALID);
    r.op = MM_EDGEGAP_SESSION_GET;
    r.outcome = MM_EDGEGAP_HTTP_ERROR;
    MM_CHECK_INT(mm_edgegap_session_port(&r, NULL, &port, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_edgegap_session_port(NULL, NULL, &port, NULL, 0), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_edgegap_session_port(&r, NULL, NULL, NULL, 0), ==, MM_ERR_INVALID);
}

static void
test_names(void)
{
    MM_CHECK_STR(mm_edgegap_op_name(MM_EDGEGAP_APP_GET), "app_get");
    MM_CHECK_STR(mm_edgegap_op_name(MM_EDGEGAP_SESSION_DELETE), "session_delete");
    MM_CHECK_STR(mm_edgegap_op_name(MM_EDGEGAP_OP_COUNT), "unknown");
    MM_CHECK_STR(mm_edgegap_outcome_name(MM_EDGEGAP_BAD_RESPONSE), "bad_response");
    MM_CHECK_STR(mm_edgegap_outcome_name(MM_EDGEGAP_CANCELLED), "cancelled");
    /* Accessors accept NULL. */
    mm_edgegap_stats st;
    mm_edgegap_get_stats(NULL, &st);
    MM_CHECK_INT(st.in_flight, ==, 0);
    MM_CHECK_INT(mm_edgegap_queued(NULL), ==, 0);
    MM_CHECK_INT(mm_edgegap_fds_wait(NULL, -1, 0), ==, MM_ERR_INVALID);
    mm_edgegap_perform(NULL);
}

int
main(void)
{
    test_backoff();
    test_retryable();
    test_port_rule();
    test_names();
    return MM_TEST_DONE();
}
