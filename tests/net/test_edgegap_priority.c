/*
 * Edgegap client priority classes (include/mm/edgegap.h), against the real edgegap_sim with
 * slow session GETs and one request in flight, so the order in which requests are answered is
 * the order in which they started:
 *   - queued polls (BACKGROUND) then creates (URGENT): the creates start before every queued
 *     poll, each class in FIFO order; the "queued" stats per class add up;
 *   - the background share: with max_queued 4, polls may hold 3 places; the 4th poll is refused
 *     (MM_ERR_FULL, counted as background) while a create is still queued; a create beyond
 *     max_queued is refused; mm_edgegap_room() agrees with every refusal; max_queued 1 keeps its
 *     only place for urgent requests; the default limits give 768 background places of 1024;
 *   - a poll from a callback while creates wait goes behind them;
 *   - destroy cancels the running request and both queues, each callback once;
 *   - a priority that is not a class is MM_ERR_INVALID.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "edgegap_test_util.h"

static eg_sim sim;

#define MAX_CALLS 16
#define SESSION "0123456789ab-S" /* unknown to the simulator: a 404 after the latency, which is enough here */

/* The order of answers: tags in the order their callbacks ran. */
typedef struct order {
    int n;
    char tags[MAX_CALLS][8];
    mm_edgegap_outcome outcomes[MAX_CALLS];
    mm_edgegap *eg;       /* for calls made from a callback */
    const char *then_tag; /* set: the callback of tag then_after makes a background poll tagged so */
    const char *then_after;
} order;

typedef struct call {
    order *o;
    char tag[8];
} call;

static call calls[MAX_CALLS];
static int n_calls;

static void
on_answer(void *ctx, const mm_edgegap_result *r)
{
    call *c = ctx;
    order *o = c->o;
    if (o->n < MAX_CALLS) {
        snprintf(o->tags[o->n], sizeof(o->tags[0]), "%s", c->tag);
        o->outcomes[o->n] = r->outcome;
    }
    o->n++;
    if (o->then_after != NULL && strcmp(c->tag, o->then_after) == 0 && r->outcome != MM_EDGEGAP_CANCELLED) {
        call *next = &calls[n_calls++];
        next->o = o;
        snprintf(next->tag, sizeof(next->tag), "%s", o->then_tag);
        MM_CHECK_INT(mm_edgegap_session_get(o->eg, SESSION, MM_EDGEGAP_BACKGROUND, on_answer, next), ==, MM_OK);
    }
}

static call *
new_call(order *o, const char *tag)
{
    MM_REQUIRE(n_calls < MAX_CALLS);
    call *c = &calls[n_calls++];
    c->o = o;
    snprintf(c->tag, sizeof(c->tag), "%s", tag);
    return c;
}

static mm_err
poll(mm_edgegap *eg, order *o, const char *tag)
{
    return mm_edgegap_session_get(eg, SESSION, MM_EDGEGAP_BACKGROUND, on_answer, new_call(o, tag));
}

static mm_err
create(mm_edgegap *eg, order *o, const char *tag)
{
    const char *ip[] = {"81.128.157.100"};
    return mm_edgegap_session_create(eg, EG_APP, "1", ip, 1, NULL, on_answer, new_call(o, tag));
}

/* "p0 c1 c2 ..." */
static void
order_text(const order *o, char *out, size_t len)
{
    out[0] = '\0';
    for (int i = 0; i < o->n && i < MAX_CALLS; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", o->tags[i]);
}

static void
test_creates_first(void)
{
    MM_REQUIRE(eg_sim_faults(&sim, "{\"session_get\": {\"latency_ms\": 100}}"));
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 1, 8, 10000);
    order o = {.eg = eg, .then_after = "p0", .then_tag = "p4"};
    n_calls = 0;
    MM_CHECK_INT(poll(eg, &o, "p0"), ==, MM_OK); /* a free slot: starts at once */
    MM_CHECK_INT(mm_edgegap_in_flight(eg), ==, 1);
    MM_CHECK_INT(poll(eg, &o, "p1"), ==, MM_OK);
    MM_CHECK_INT(poll(eg, &o, "p2"), ==, MM_OK);
    MM_CHECK_INT(poll(eg, &o, "p3"), ==, MM_OK);
    MM_CHECK_INT(create(eg, &o, "c1"), ==, MM_OK);
    MM_CHECK_INT(create(eg, &o, "c2"), ==, MM_OK);
    mm_edgegap_stats st;
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_INT(st.queued, ==, 5);
    MM_CHECK_INT(st.queued_class[MM_EDGEGAP_URGENT], ==, 2);
    MM_CHECK_INT(st.queued_class[MM_EDGEGAP_BACKGROUND], ==, 3);
    MM_CHECK_INT(mm_edgegap_queued(eg), ==, 5);
    /* p0's callback polls again (p4) while c1 and c2 wait: p4 goes behind them and behind p1..p3. */
    MM_REQUIRE(eg_drive(eg, &o.n, 7, 15000));
    char text[128];
    order_text(&o, text, sizeof(text));
    MM_CHECK_STR(text, "p0 c1 c2 p1 p2 p3 p4");
    MM_CHECK_INT(o.outcomes[0], ==, MM_EDGEGAP_HTTP_ERROR); /* 404: the poll really went out */
    MM_CHECK_INT(o.outcomes[1], ==, MM_EDGEGAP_OK);
    MM_CHECK_INT(o.outcomes[2], ==, MM_EDGEGAP_OK);
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_INT(st.queued, ==, 0);
    MM_CHECK_INT(st.in_flight_high_water, ==, 1);
    MM_CHECK_U64(st.accepted[MM_EDGEGAP_SESSION_GET], ==, 5);
    MM_CHECK_U64(st.accepted[MM_EDGEGAP_SESSION_CREATE], ==, 2);
    MM_CHECK_U64(st.refused_full, ==, 0);
    mm_edgegap_destroy(eg);
}

static void
test_background_share(void)
{
    /* max_queued 4: a quarter (1) kept for urgent requests, 3 places for background ones. */
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 1, 4, 10000);
    order o = {.eg = eg};
    n_calls = 0;
    MM_CHECK_INT(mm_edgegap_room(eg, MM_EDGEGAP_BACKGROUND), ==, 1 + 3);
    MM_CHECK_INT(mm_edgegap_room(eg, MM_EDGEGAP_URGENT), ==, 1 + 4);
    MM_CHECK_INT(poll(eg, &o, "p0"), ==, MM_OK);
    for (int i = 1; i <= 3; i++) {
        char tag[8];
        snprintf(tag, sizeof(tag), "p%d", i);
        MM_CHECK_INT(poll(eg, &o, tag), ==, MM_OK);
    }
    MM_CHECK_INT(mm_edgegap_room(eg, MM_EDGEGAP_BACKGROUND), ==, 0);
    MM_CHECK_INT(mm_edgegap_room(eg, MM_EDGEGAP_URGENT), ==, 1);
    MM_CHECK_INT(poll(eg, &o, "p4"), ==, MM_ERR_FULL);
    MM_CHECK(eg_contains(mm_edgegap_last_error(eg), "background"));
    MM_CHECK_INT(create(eg, &o, "c1"), ==, MM_OK); /* the reserved place */
    MM_CHECK_INT(mm_edgegap_room(eg, MM_EDGEGAP_URGENT), ==, 0);
    MM_CHECK_INT(create(eg, &o, "c2"), ==, MM_ERR_FULL); /* max_queued reached */
    MM_CHECK(eg_contains(mm_edgegap_last_error(eg), "full"));
    mm_edgegap_stats st;
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_U64(st.refused_full, ==, 2);
    MM_CHECK_U64(st.refused_full_background, ==, 1);
    MM_REQUIRE(eg_drive(eg, &o.n, 5, 15000));
    char text[128];
    order_text(&o, text, sizeof(text));
    MM_CHECK_STR(text, "p0 c1 p1 p2 p3"); /* refused calls never run */
    MM_CHECK_INT(mm_edgegap_room(eg, MM_EDGEGAP_BACKGROUND), ==, 1 + 3);
    mm_edgegap_destroy(eg);

    /* max_queued 1: the only place is urgent; a poll runs only when a slot is free. */
    eg = eg_client(sim.base, EG_KEY, 1, 1, 10000);
    order o1 = {.eg = eg};
    n_calls = 0;
    MM_CHECK_INT(poll(eg, &o1, "p0"), ==, MM_OK);
    MM_CHECK_INT(poll(eg, &o1, "p1"), ==, MM_ERR_FULL);
    MM_CHECK_INT(create(eg, &o1, "c1"), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &o1.n, 2, 15000));
    order_text(&o1, text, sizeof(text));
    MM_CHECK_STR(text, "p0 c1");
    mm_edgegap_destroy(eg);

    /* The defaults: 16 slots, 1024 places of which 768 for background requests. */
    eg = eg_client(sim.base, EG_KEY, 0, 0, 0);
    MM_CHECK_INT(mm_edgegap_room(eg, MM_EDGEGAP_BACKGROUND), ==, 16 + 768);
    MM_CHECK_INT(mm_edgegap_room(eg, MM_EDGEGAP_URGENT), ==, 16 + 1024);
    MM_CHECK_INT(mm_edgegap_room(eg, (mm_edgegap_priority)7), ==, 0);
    MM_CHECK_INT(mm_edgegap_room(NULL, MM_EDGEGAP_URGENT), ==, 0);
    mm_edgegap_destroy(eg);
}

static void
test_destroy_cancels_both(void)
{
    MM_REQUIRE(eg_sim_faults(&sim, "{\"session_get\": {\"hang_next\": 1}}"));
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 1, 8, 10000);
    order o = {.eg = eg};
    n_calls = 0;
    MM_CHECK_INT(poll(eg, &o, "p0"), ==, MM_OK); /* hangs in the simulator */
    MM_CHECK_INT(poll(eg, &o, "p1"), ==, MM_OK);
    MM_CHECK_INT(create(eg, &o, "c1"), ==, MM_OK);
    MM_CHECK_INT(poll(eg, &o, "p2"), ==, MM_OK);
    MM_CHECK_INT(create(eg, &o, "c2"), ==, MM_OK);
    long long deadline = mm_test_now_ms() + 10000;
    while (eg_sim_stat(&sim, "requests_hanging") < 1 && mm_test_now_ms() < deadline) {
        mm_edgegap_fds_wait(eg, -1, 20);
        mm_edgegap_perform(eg);
    }
    MM_CHECK_INT(eg_sim_stat(&sim, "requests_hanging"), ==, 1);
    MM_CHECK_INT(o.n, ==, 0);
    mm_edgegap_destroy(eg);
    char text[128];
    order_text(&o, text, sizeof(text));
    MM_CHECK_STR(text, "p0 c1 c2 p1 p2"); /* running, then urgent, then background */
    for (int i = 0; i < o.n; i++)
        MM_CHECK_INT(o.outcomes[i], ==, MM_EDGEGAP_CANCELLED);
    deadline = mm_test_now_ms() + 5000;
    while (eg_sim_stat(&sim, "requests_hanging") != 0 && mm_test_now_ms() < deadline)
        mm_test_sleep_ms(20);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests_hanging"), ==, 0);
}

static void
test_bad_priority(void)
{
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 1, 4, 10000);
    order o = {.eg = eg};
    n_calls = 0;
    MM_CHECK_INT(mm_edgegap_session_get(eg, SESSION, (mm_edgegap_priority)2, on_answer, new_call(&o, "x")), ==, MM_ERR_INVALID);
    MM_CHECK(eg_contains(mm_edgegap_last_error(eg), "priority"));
    MM_CHECK_INT(mm_edgegap_in_flight(eg) + mm_edgegap_queued(eg), ==, 0);
    mm_edgegap_destroy(eg);
    MM_CHECK_INT(o.n, ==, 0);
}

int
main(void)
{
    MM_REQUIRE(eg_sim_start(&sim, NULL) == 0);
    test_creates_first();
    test_background_share();
    test_destroy_cancels_both();
    test_bad_priority();
    eg_sim_http_cleanup();
    MM_CHECK_INT(eg_sim_stop(&sim), ==, 0);
    return MM_TEST_DONE();
}
