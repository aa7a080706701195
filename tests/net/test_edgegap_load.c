/*
 * Edgegap client under load: max_in_flight is never exceeded (seen by the client and by the
 * simulator) and everything completes; max_queued refuses with MM_ERR_FULL; keep-alive reuses
 * connections; calls from callbacks; destroy with requests running and queued delivers each
 * callback exactly once with CANCELLED and refuses calls made from those callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "edgegap_test_util.h"

static eg_sim sim;

#define N_CREATES 200
#define IN_FLIGHT 8

typedef struct tally {
    int done, ok;
    char ids[N_CREATES][32];
} tally;

static void
on_created(void *ctx, const mm_edgegap_result *r)
{
    tally *t = ctx;
    if (r->outcome == MM_EDGEGAP_OK && t->ok < N_CREATES)
        snprintf(t->ids[t->ok++], sizeof(t->ids[0]), "%s", r->session_id);
    t->done++;
}

static int
cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void
test_in_flight_bound(void)
{
    /* Each create waits 20 ms in the simulator, so up to IN_FLIGHT of them overlap there. */
    MM_REQUIRE(eg_sim_faults(&sim, "{\"session_create\": {\"latency_ms\": 20}}"));
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, IN_FLIGHT, N_CREATES, 10000);
    static tally t;
    const char *ip[] = {"81.128.157.100"};
    for (int i = 0; i < N_CREATES; i++)
        MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", ip, 1, NULL, on_created, &t), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_in_flight(eg), ==, IN_FLIGHT);
    MM_CHECK_INT(mm_edgegap_queued(eg), ==, N_CREATES - IN_FLIGHT);

    long long sim_waiting_max = 0, sim_conns_max = 0, deadline = mm_test_now_ms() + 20000;
    uint32_t client_max = 0;
    while (t.done < N_CREATES && mm_test_now_ms() < deadline) {
        mm_edgegap_fds_wait(eg, -1, 100);
        mm_edgegap_perform(eg);
        if (mm_edgegap_in_flight(eg) > client_max)
            client_max = mm_edgegap_in_flight(eg);
        long long waiting = eg_sim_stat(&sim, "requests_waiting");
        long long conns = eg_sim_stat(&sim, "http_connections") - 1; /* minus this sampler's own */
        sim_waiting_max = waiting > sim_waiting_max ? waiting : sim_waiting_max;
        sim_conns_max = conns > sim_conns_max ? conns : sim_conns_max;
    }
    fprintf(stderr, "in flight: client max %u, simulator max waiting %lld, connections max %lld\n", client_max, sim_waiting_max,
            sim_conns_max);
    MM_CHECK_INT(t.done, ==, N_CREATES);
    MM_CHECK_INT(t.ok, ==, N_CREATES);
    MM_CHECK_INT(client_max, <=, IN_FLIGHT);
    MM_CHECK_INT(sim_waiting_max, <=, IN_FLIGHT);
    MM_CHECK_INT(sim_waiting_max, >=, 2); /* they did overlap: the bound was exercised */
    MM_CHECK_INT(sim_conns_max, <=, IN_FLIGHT);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_create"), ==, N_CREATES);

    mm_edgegap_stats st;
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_INT(st.in_flight_high_water, ==, IN_FLIGHT);
    MM_CHECK_U64(st.outcomes[MM_EDGEGAP_SESSION_CREATE][MM_EDGEGAP_OK], ==, N_CREATES);
    fprintf(stderr, "connections opened for %d requests: %llu\n", N_CREATES, (unsigned long long)st.connections_opened);
    MM_CHECK_U64(st.connections_opened, <=, IN_FLIGHT); /* keep-alive: one connection per slot at most */
    MM_CHECK_U64(st.connections_opened, >=, 1);

    qsort(t.ids, N_CREATES, sizeof(t.ids[0]), cmp_id);
    int dupes = 0;
    for (int i = 1; i < N_CREATES; i++)
        dupes += strcmp(t.ids[i - 1], t.ids[i]) == 0;
    MM_CHECK_INT(dupes, ==, 0);
    MM_REQUIRE(eg_sim_faults(&sim, "{\"session_create\": null}"));
    mm_edgegap_destroy(eg);
}

static void
test_queue_full(void)
{
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 2, 3, 10000);
    eg_rec recs[6];
    int done = 0;
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < 5; i++) {
        recs[i].counter = &done;
        MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &recs[i]), ==, MM_OK);
    }
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &recs[5]), ==, MM_ERR_FULL);
    MM_CHECK(eg_contains(mm_edgegap_last_error(eg), "full"));
    MM_CHECK_INT(mm_edgegap_queued(eg), ==, 3);
    MM_REQUIRE(eg_drive(eg, &done, 5, 10000));
    MM_CHECK_INT(recs[5].calls, ==, 0);
    for (int i = 0; i < 5; i++) {
        MM_CHECK_INT(recs[i].calls, ==, 1);
        MM_CHECK_INT(recs[i].outcome, ==, MM_EDGEGAP_OK);
    }
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &recs[5]), ==, MM_OK); /* room again */
    MM_REQUIRE(eg_drive(eg, &recs[5].calls, 1, 10000));
    mm_edgegap_stats st;
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_U64(st.refused_full, ==, 1);
    MM_CHECK_U64(st.accepted[MM_EDGEGAP_APP_GET], ==, 6);
    mm_edgegap_destroy(eg);
}

/* A chain: each callback makes the next call, and tries a nested perform (a no-op). */
typedef struct chain {
    mm_edgegap *eg;
    int left, done, ok;
} chain;

static void
on_chain(void *ctx, const mm_edgegap_result *r)
{
    chain *c = ctx;
    c->done++;
    c->ok += r->outcome == MM_EDGEGAP_OK;
    mm_edgegap_perform(c->eg);
    if (--c->left > 0 && mm_edgegap_app_get(c->eg, EG_APP, on_chain, c) != MM_OK)
        c->left = -1000;
}

static void
test_chain_and_keep_alive(void)
{
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 1, 0, 10000);
    chain c = {.eg = eg, .left = 50};
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, on_chain, &c), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &c.done, 50, 15000));
    MM_CHECK_INT(c.done, ==, 50);
    MM_CHECK_INT(c.ok, ==, 50);
    MM_CHECK_INT(c.left, ==, 0);
    mm_edgegap_stats st;
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_U64(st.connections_opened, ==, 1); /* 50 sequential requests, one connection */
    mm_edgegap_destroy(eg);
}

typedef struct cancel_rec {
    int calls, cancelled, refused_stopped;
    mm_edgegap *eg;
} cancel_rec;

static void
on_cancel(void *ctx, const mm_edgegap_result *r)
{
    cancel_rec *c = ctx;
    c->calls++;
    if (r->outcome == MM_EDGEGAP_CANCELLED && r->status == 0 && eg_contains(r->message, "cancelled"))
        c->cancelled++;
    /* A call from a CANCELLED callback is refused, not queued into a dying client. */
    if (mm_edgegap_app_get(c->eg, EG_APP, on_cancel, c) == MM_ERR_STOPPED)
        c->refused_stopped++;
}

static void
test_destroy_cancels(void)
{
    MM_REQUIRE(eg_sim_faults(&sim, "{\"session_get\": {\"hang_next\": 100}}"));
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 2, 10, 10000);
    cancel_rec recs[10];
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < 10; i++) {
        recs[i].eg = eg;
        MM_CHECK_INT(mm_edgegap_session_get(eg, "0123456789ab-S", MM_EDGEGAP_URGENT, on_cancel, &recs[i]), ==, MM_OK);
    }
    MM_CHECK_INT(mm_edgegap_in_flight(eg), ==, 2);
    MM_CHECK_INT(mm_edgegap_queued(eg), ==, 8);
    /* Drive until both running requests hang inside the simulator. */
    long long deadline = mm_test_now_ms() + 10000;
    while (eg_sim_stat(&sim, "requests_hanging") < 2 && mm_test_now_ms() < deadline) {
        mm_edgegap_fds_wait(eg, -1, 20);
        mm_edgegap_perform(eg);
    }
    MM_CHECK_INT(eg_sim_stat(&sim, "requests_hanging"), ==, 2);
    for (int i = 0; i < 10; i++)
        MM_CHECK_INT(recs[i].calls, ==, 0);
    mm_edgegap_destroy(eg);
    for (int i = 0; i < 10; i++) {
        MM_CHECK_INT(recs[i].calls, ==, 1);
        MM_CHECK_INT(recs[i].cancelled, ==, 1);
        MM_CHECK_INT(recs[i].refused_stopped, ==, 1);
    }
    /* The connections were closed: the simulator lets go of the hanging requests. */
    deadline = mm_test_now_ms() + 5000;
    while (eg_sim_stat(&sim, "requests_hanging") != 0 && mm_test_now_ms() < deadline)
        mm_test_sleep_ms(20);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests_hanging"), ==, 0);
    MM_REQUIRE(eg_sim_faults(&sim, "{\"session_get\": null}"));
}

int
main(void)
{
    const char *extra[] = {"--sockets", "1000", NULL};
    MM_REQUIRE(eg_sim_start(&sim, extra) == 0);
    test_in_flight_bound();
    test_queue_full();
    test_chain_and_keep_alive();
    test_destroy_cancels();
    eg_sim_http_cleanup();
    MM_CHECK_INT(eg_sim_stop(&sim), ==, 0);
    return MM_TEST_DONE();
}
