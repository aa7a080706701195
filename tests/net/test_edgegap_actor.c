/*
 * The Edgegap client inside an actor, the way the provisioner will use it: created in
 * ops->start, driven by ops->wait = mm_edgegap_fds_wait(inbox eventfd) and ops->idle =
 * mm_edgegap_perform, destroyed in ops->stop (pending calls come back CANCELLED there).
 *
 * The key property: a message sent while the actor sleeps in curl_multi_poll with a request
 * hanging (curl's own timer 60 s away, no actor timers) wakes it through the inbox eventfd, so
 * no curl_multi_wakeup is needed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "mm/actor.h"
#include "mm_test.h"
#include "edgegap_test_util.h"

static eg_sim sim;

enum { MSG_APP_GET = 1, MSG_SESSION_GET = 2 };

typedef struct prov {
    mm_edgegap *eg;
    atomic_int ok, http_error, cancelled, other;
} prov;

static void
on_result(void *ctx, const mm_edgegap_result *r)
{
    prov *p = ctx;
    if (r->outcome == MM_EDGEGAP_OK)
        atomic_fetch_add(&p->ok, 1);
    else if (r->outcome == MM_EDGEGAP_HTTP_ERROR)
        atomic_fetch_add(&p->http_error, 1);
    else if (r->outcome == MM_EDGEGAP_CANCELLED)
        atomic_fetch_add(&p->cancelled, 1);
    else
        atomic_fetch_add(&p->other, 1);
}

static mm_err
prov_start(void *state, mm_actor *self)
{
    prov *p = state;
    (void)self;
    mm_edgegap_config cfg = {.base_url = sim.base, .api_key = EG_KEY, .max_in_flight = 4, .request_timeout_ms = 60000};
    return mm_edgegap_create(&cfg, &p->eg, NULL, 0);
}

static void
prov_handle(void *state, mm_actor *self, mm_msg *msg)
{
    prov *p = state;
    (void)self;
    mm_err err = msg->type == MSG_APP_GET ? mm_edgegap_app_get(p->eg, EG_APP, on_result, p)
                                          : mm_edgegap_session_get(p->eg, "0123456789ab-S", MM_EDGEGAP_URGENT, on_result, p);
    if (err != MM_OK)
        atomic_fetch_add(&p->other, 1);
}

static void
prov_discard(void *state, mm_msg *msg)
{
    (void)state;
    (void)msg;
}

static void
prov_idle(void *state, mm_actor *self)
{
    prov *p = state;
    (void)self;
    mm_edgegap_perform(p->eg);
}

static void
prov_wait(void *state, int inbox_fd, int timeout_ms)
{
    prov *p = state;
    mm_edgegap_fds_wait(p->eg, inbox_fd, timeout_ms);
}

static void
prov_stop(void *state)
{
    prov *p = state;
    mm_edgegap_destroy(p->eg);
    p->eg = NULL;
}

static const mm_actor_ops prov_ops = {
    .name = "eg-test",
    .start = prov_start,
    .handle = prov_handle,
    .discard = prov_discard,
    .idle = prov_idle,
    .wait = prov_wait,
    .stop = prov_stop,
};

static bool
wait_for(atomic_int *counter, int target, int timeout_ms)
{
    long long deadline = mm_test_now_ms() + timeout_ms;
    while (atomic_load(counter) < target && mm_test_now_ms() < deadline)
        mm_test_sleep_ms(5);
    return atomic_load(counter) >= target;
}

int
main(void)
{
    MM_REQUIRE(eg_sim_start(&sim, NULL) == 0);
    static prov p;
    mm_actor *actor = NULL;
    MM_REQUIRE(mm_actor_start(&prov_ops, &p, NULL, &actor) == MM_OK);

    /* Plain traffic: 20 app gets through the inbox. */
    for (int i = 0; i < 20; i++)
        MM_CHECK_INT(mm_actor_send(actor, &(mm_msg){.type = MSG_APP_GET}), ==, MM_OK);
    MM_CHECK(wait_for(&p.ok, 20, 15000));

    /* One request hangs; the actor sleeps in curl_multi_poll with nothing due for 60 s. */
    MM_REQUIRE(eg_sim_faults(&sim, "{\"session_get\": {\"hang_next\": 1}}"));
    MM_CHECK_INT(mm_actor_send(actor, &(mm_msg){.type = MSG_SESSION_GET}), ==, MM_OK);
    long long deadline = mm_test_now_ms() + 10000;
    while (eg_sim_stat(&sim, "requests_hanging") < 1 && mm_test_now_ms() < deadline)
        mm_test_sleep_ms(5);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests_hanging"), ==, 1);
    /* A message now must wake it (through the eventfd) well before curl's timer would. */
    long long sent = mm_test_now_ms();
    MM_CHECK_INT(mm_actor_send(actor, &(mm_msg){.type = MSG_APP_GET}), ==, MM_OK);
    MM_CHECK(wait_for(&p.ok, 21, 20000));
    fprintf(stderr, "woken and answered after %lld ms\n", mm_test_now_ms() - sent);

    /* Stop: the hanging request comes back CANCELLED on the actor thread, nothing leaks. */
    mm_actor_destroy(actor);
    MM_CHECK_INT(atomic_load(&p.cancelled), ==, 1);
    MM_CHECK_INT(atomic_load(&p.ok), ==, 21);
    MM_CHECK_INT(atomic_load(&p.http_error), ==, 0);
    MM_CHECK_INT(atomic_load(&p.other), ==, 0);

    eg_sim_http_cleanup();
    MM_CHECK_INT(eg_sim_stop(&sim), ==, 0);
    return MM_TEST_DONE();
}
