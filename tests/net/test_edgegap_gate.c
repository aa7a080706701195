/*
 * The Edgegap client's admission gate (mm_edgegap_set_gate, include/mm/edgegap.h), against the
 * real edgegap_sim, with a gate of hand-given tokens:
 *   - no token: a call is accepted but does not start although slots are free; the simulator
 *     sees nothing; mm_edgegap_would_start says no; mm_edgegap_fds_wait sleeps no longer than
 *     the gate's wait (not until its own timeout);
 *   - tokens given: the waiting calls start, urgent first, one per token, never more;
 *   - answered() sees every answer's status (a 429 from the simulator's fault included) and
 *     not the cancelled ones;
 *   - tokens per op (the budget's classes): with no create token and GET tokens, queued polls
 *     start although urgent creates wait ahead of them, and the creates still do not; the wait
 *     is the shortest of the queue heads' (the GETs' none once they ran, then the creates');
 *   - no gate (cleared): as before, calls start at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgegap_test_util.h"
#include "mm/clock.h"

static eg_sim sim;

typedef struct gate_state {
    int tokens;
    bool per_op;                      /* tokens_op[op] instead of tokens */
    int tokens_op[MM_EDGEGAP_OP_COUNT];
    uint64_t wait_op[MM_EDGEGAP_OP_COUNT];
    int waits_asked[MM_EDGEGAP_OP_COUNT];
    int taken[MM_EDGEGAP_OP_COUNT];
    int peeks;
    int answered;
    long last_status;
    int n429;
} gate_state;

static bool
take(void *ctx, mm_edgegap_op op, bool peek)
{
    gate_state *g = ctx;
    int *tokens = g->per_op ? &g->tokens_op[op] : &g->tokens;
    if (peek) {
        g->peeks++;
        return *tokens > 0;
    }
    if (*tokens <= 0)
        return false;
    (*tokens)--;
    g->taken[op]++;
    return true;
}

static uint64_t
wait_ms(void *ctx, mm_edgegap_op op)
{
    gate_state *g = ctx;
    g->waits_asked[op]++;
    return g->per_op ? g->wait_op[op] : 20;
}

static void
answered(void *ctx, mm_edgegap_op op, long status)
{
    (void)op;
    gate_state *g = ctx;
    g->answered++;
    g->last_status = status;
    g->n429 += status == 429;
}

#define SESSION "0123456789ab-S"

static void
test_gate(void)
{
    gate_state g = {0};
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 4, 16, 10000);
    mm_edgegap_gate gate = {.take = take, .wait_ms = wait_ms, .answered = answered, .ctx = &g};
    mm_edgegap_set_gate(eg, &gate);
    long long creates0 = eg_sim_stat(&sim, "requests.session_create");
    long long gets0 = eg_sim_stat(&sim, "requests.session_get");

    int done = 0;
    eg_rec polls[2] = {{.counter = &done}, {.counter = &done}}, creates[2] = {{.counter = &done}, {.counter = &done}};
    const char *ips[1] = {"1.2.3.4"};
    MM_CHECK_INT(mm_edgegap_session_get(eg, SESSION, MM_EDGEGAP_BACKGROUND, eg_record, &polls[0]), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_get(eg, SESSION, MM_EDGEGAP_BACKGROUND, eg_record, &polls[1]), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, NULL, ips, 1, NULL, eg_record, &creates[0]), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, NULL, ips, 1, NULL, eg_record, &creates[1]), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_in_flight(eg), ==, 0); /* free slots, no token */
    MM_CHECK_INT(mm_edgegap_queued(eg), ==, 4);
    MM_CHECK(!mm_edgegap_would_start(eg, MM_EDGEGAP_URGENT, MM_EDGEGAP_SESSION_CREATE));

    /* no token: the wait is the gate's (20 ms), not the 2 s asked for */
    uint64_t t0 = mm_now_ms();
    MM_CHECK_INT(mm_edgegap_fds_wait(eg, -1, 2000), ==, MM_OK);
    mm_edgegap_perform(eg);
    uint64_t slept = mm_now_ms() - t0;
    MM_CHECK(slept < 1000);
    MM_CHECK_INT(mm_edgegap_in_flight(eg), ==, 0);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_create"), ==, creates0);

    /* two tokens: the two creates (urgent first), not the polls */
    g.tokens = 2;
    MM_CHECK(eg_drive(eg, &done, 2, 5000));
    MM_CHECK_INT(creates[0].calls + creates[1].calls, ==, 2);
    MM_CHECK_INT(polls[0].calls + polls[1].calls, ==, 0);
    MM_CHECK_INT(g.taken[MM_EDGEGAP_SESSION_CREATE], ==, 2);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_get"), ==, gets0);

    /* one 429 from the simulator, seen by answered() */
    MM_CHECK(eg_sim_faults(&sim, "{\"session_get\":{\"error_next\":1,\"error_status\":429}}"));
    g.tokens = 1;
    MM_CHECK(eg_drive(eg, &done, 3, 5000));
    MM_CHECK_INT(polls[0].calls, ==, 1);
    MM_CHECK_INT(polls[0].status, ==, 429);
    MM_CHECK_INT(g.n429, ==, 1);
    MM_CHECK_INT(polls[1].calls, ==, 0); /* no token left */
    MM_CHECK_INT(g.answered, ==, 3);

    /* the last one is cancelled by destroy: answered() does not see it */
    mm_edgegap_destroy(eg);
    MM_CHECK_INT(polls[1].calls, ==, 1);
    MM_CHECK_INT(polls[1].outcome, ==, MM_EDGEGAP_CANCELLED);
    MM_CHECK_INT(g.answered, ==, 3);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_get") - gets0, ==, 1);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_create") - creates0, ==, 2);
}

static void
test_gate_per_op(void)
{
    gate_state g = {.per_op = true};
    g.wait_op[MM_EDGEGAP_SESSION_CREATE] = 30;
    g.wait_op[MM_EDGEGAP_SESSION_GET] = 5000;
    g.tokens_op[MM_EDGEGAP_SESSION_GET] = 2;
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 4, 16, 10000);
    mm_edgegap_gate gate = {.take = take, .wait_ms = wait_ms, .answered = answered, .ctx = &g};
    mm_edgegap_set_gate(eg, &gate);
    long long creates0 = eg_sim_stat(&sim, "requests.session_create");
    long long gets0 = eg_sim_stat(&sim, "requests.session_get");

    int done = 0;
    eg_rec polls[2] = {{.counter = &done}, {.counter = &done}}, creates[2] = {{.counter = &done}, {.counter = &done}};
    const char *ips[1] = {"1.2.3.4"};
    /* the creates first: they are queued (no create token) ahead of the polls */
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, NULL, ips, 1, NULL, eg_record, &creates[0]), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, NULL, ips, 1, NULL, eg_record, &creates[1]), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_get(eg, SESSION, MM_EDGEGAP_BACKGROUND, eg_record, &polls[0]), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_get(eg, SESSION, MM_EDGEGAP_BACKGROUND, eg_record, &polls[1]), ==, MM_OK);
    MM_CHECK(!mm_edgegap_would_start(eg, MM_EDGEGAP_URGENT, MM_EDGEGAP_SESSION_CREATE));

    /* the polls run on their own tokens; the creates wait for theirs */
    MM_CHECK(eg_drive(eg, &done, 2, 5000));
    MM_CHECK_INT(polls[0].calls + polls[1].calls, ==, 2);
    MM_CHECK_INT(creates[0].calls + creates[1].calls, ==, 0);
    MM_CHECK_INT(g.taken[MM_EDGEGAP_SESSION_GET], ==, 2);
    MM_CHECK_INT(g.taken[MM_EDGEGAP_SESSION_CREATE], ==, 0);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_get") - gets0, ==, 2);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_create"), ==, creates0);

    /* only creates wait now: the wait is the creates' (30 ms), not the GETs' 5 s nor the 2 s asked */
    uint64_t t0 = mm_now_ms();
    MM_CHECK_INT(mm_edgegap_fds_wait(eg, -1, 2000), ==, MM_OK);
    MM_CHECK(mm_now_ms() - t0 < 1000);
    MM_CHECK(g.waits_asked[MM_EDGEGAP_SESSION_CREATE] > 0);

    /* a create token: one create starts, the other still waits */
    g.tokens_op[MM_EDGEGAP_SESSION_CREATE] = 1;
    MM_CHECK(eg_drive(eg, &done, 3, 5000));
    MM_CHECK_INT(creates[0].calls, ==, 1);
    MM_CHECK_INT(creates[1].calls, ==, 0);
    mm_edgegap_destroy(eg);
    MM_CHECK_INT(creates[1].outcome, ==, MM_EDGEGAP_CANCELLED);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_create") - creates0, ==, 1);
}

static void
test_no_gate(void)
{
    gate_state g = {0};
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 4, 16, 10000);
    mm_edgegap_gate gate = {.take = take, .wait_ms = wait_ms, .answered = answered, .ctx = &g};
    mm_edgegap_set_gate(eg, &gate);
    mm_edgegap_set_gate(eg, NULL); /* cleared */
    int done = 0;
    eg_rec r = {.counter = &done};
    MM_CHECK(mm_edgegap_would_start(eg, MM_EDGEGAP_BACKGROUND, MM_EDGEGAP_SESSION_GET));
    MM_CHECK_INT(mm_edgegap_session_get(eg, SESSION, MM_EDGEGAP_BACKGROUND, eg_record, &r), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_in_flight(eg), ==, 1);
    MM_CHECK(eg_drive(eg, &done, 1, 5000));
    MM_CHECK_INT(g.answered, ==, 0);
    mm_edgegap_destroy(eg);
}

int
main(void)
{
    MM_REQUIRE(eg_sim_start(&sim, NULL) == 0);
    test_gate();
    test_gate_per_op();
    test_no_gate();
    eg_sim_http_cleanup();
    MM_CHECK_INT(eg_sim_stop(&sim), ==, 0);
    return MM_TEST_DONE();
}
