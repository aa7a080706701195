/*
 * edgegap_sim, seats and deployments: a second session joins a ready deployment at once, the
 * seventh (six sockets) starts a new deployment with its own address and port, sessions waiting
 * on a deploying deployment take seats in it, statuses move Seeking -> Deploying -> Ready,
 * deleting frees a seat, empty_ttl stops an empty deployment, an exhausted address range puts
 * sessions in error, /__sim/deployments has the contracted shape, stats and reset, and a few
 * thousand sessions at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "edgegap_sim_test_util.h"

#define BODY "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[\"81.128.157.100\"]}"
#define DEPLOYMENTS_ENTRY_SPEC "=request_id:s app:s version:s public_ip:s status:s ready:b ports:o sessions:a"

typedef struct seen {
    char id[32];
    char dep[32];
    char ip[32];
    long long external;
    char status[32];
} seen;

/* GET a session and note where it sits. */
static void
look(const sim_proc *sim, const char *id, seen *out)
{
    char path[96];
    json_t *j = NULL;
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", id);
    snprintf(path, sizeof(path), "/v1/session/%s", id);
    MM_CHECK_INT(sim_call(sim, "GET", path, NULL, &j), ==, 200);
    const json_t *d = json_object_get(j, "deployment");
    snprintf(out->status, sizeof(out->status), "%s", json_string_value(json_object_get(j, "status")));
    if (json_is_object(d)) {
        snprintf(out->dep, sizeof(out->dep), "%s", json_string_value(json_object_get(d, "request_id")));
        snprintf(out->ip, sizeof(out->ip), "%s", json_string_value(json_object_get(d, "public_ip")));
        out->external = json_integer_value(json_object_get(json_object_get(json_object_get(d, "ports"), "server"), "external"));
    }
    json_decref(j);
}

/* The /__sim/deployments entry with request_id, or NULL; *list must be released by the caller. */
static const json_t *
listed(const sim_proc *sim, const char *request_id, json_t **list)
{
    MM_CHECK_INT(sim_call(sim, "GET", "/__sim/deployments", NULL, list), ==, 200);
    const json_t *arr = json_object_get(*list, "deployments");
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(arr, i), "request_id")), request_id) == 0)
            return json_array_get(arr, i);
    return NULL;
}

static void
test_seats(void)
{
    sim_proc sim;
    const char *extra[] = {"--deploy-delay-ms", "1500", "--empty-ttl-ms", "1000", "--seed", "7", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    seen s[9];

    /* 1: no deployment yet, one starts; the session waits in it */
    const char *id = sim_create_session(&sim, BODY);
    MM_REQUIRE(id != NULL);
    look(&sim, id, &s[0]);
    MM_CHECK_STR(s[0].status, "Status.DEPLOYING");
    MM_CHECK(is_edgegap_id(s[0].dep, false));
    json_t *j = sim_wait_status(&sim, s[0].id, "Status.READY", 10000);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.READY");
    json_decref(j);

    /* 2..6: the ready deployment has free seats, so each is ready at once, on the same server */
    for (int i = 1; i < 6; i++) {
        MM_REQUIRE((id = sim_create_session(&sim, BODY)) != NULL);
        look(&sim, id, &s[i]);
        MM_CHECK_STR(s[i].status, "Status.READY");
        MM_CHECK_STR(s[i].dep, s[0].dep);
        MM_CHECK_STR(s[i].ip, s[0].ip);
        MM_CHECK_INT(s[i].external, ==, s[0].external);
    }
    MM_CHECK_INT(sim_stat(&sim, "deployments_started"), ==, 1);

    /* 7: six sockets are taken, a new deployment starts with its own address and port */
    MM_REQUIRE((id = sim_create_session(&sim, BODY)) != NULL);
    look(&sim, id, &s[6]);
    MM_CHECK_STR(s[6].status, "Status.DEPLOYING");
    MM_CHECK(strcmp(s[6].dep, s[0].dep) != 0);
    MM_CHECK(strcmp(s[6].ip, s[0].ip) != 0);
    MM_CHECK(s[6].external != s[0].external);
    MM_CHECK_INT(sim_stat(&sim, "deployments_started"), ==, 2);

    /* 8: waits on the deploying deployment and holds a seat in it */
    MM_REQUIRE((id = sim_create_session(&sim, BODY)) != NULL);
    look(&sim, id, &s[7]);
    MM_CHECK_STR(s[7].status, "Status.DEPLOYING");
    MM_CHECK_STR(s[7].dep, s[6].dep);
    json_t *list = NULL;
    const json_t *entry = listed(&sim, s[6].dep, &list);
    MM_CHECK(entry != NULL);
    MM_CHECK_INT(json_array_size(json_object_get(entry, "sessions")), ==, 2);
    MM_CHECK(json_is_false(json_object_get(entry, "ready")));
    MM_CHECK_STR(json_string_value(json_object_get(entry, "status")), "Status.DEPLOYING");
    json_decref(list);
    MM_CHECK_INT(sim_stat(&sim, "deployments_started"), ==, 2);

    /* both become ready together */
    j = sim_wait_status(&sim, s[6].id, "Status.READY", 10000);
    json_decref(j);
    look(&sim, s[7].id, &s[8]);
    MM_CHECK_STR(s[8].status, "Status.READY");

    /* the /__sim/deployments contract, field by field */
    MM_CHECK_INT(sim_call(&sim, "GET", "/__sim/deployments", NULL, &list), ==, 200);
    check_shape(list, "=deployments:a", "/__sim/deployments");
    const json_t *arr = json_object_get(list, "deployments");
    MM_CHECK_INT(json_array_size(arr), ==, 2);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        check_shape(e, DEPLOYMENTS_ENTRY_SPEC, "/__sim/deployments entry");
        MM_CHECK_STR(json_string_value(json_object_get(e, "app")), "bevygap-spaceships");
        MM_CHECK_STR(json_string_value(json_object_get(e, "version")), "1");
        MM_CHECK_STR(json_string_value(json_object_get(e, "status")), "Status.READY");
        const json_t *ports = json_object_get(e, "ports");
        MM_CHECK_INT(json_object_size(ports), ==, 1);
        check_shape(json_object_get(ports, "server"), "=external:i internal:i protocol:s", "entry ports.server");
        MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(ports, "server"), "internal")), ==, 6420);
        const json_t *sessions = json_object_get(e, "sessions");
        for (size_t k = 0; k < json_array_size(sessions); k++)
            MM_CHECK(is_edgegap_id(json_string_value(json_array_get(sessions, k)), true));
    }
    MM_CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "request_id")), s[0].dep);
    MM_CHECK_INT(json_array_size(json_object_get(json_array_get(arr, 0), "sessions")), ==, 6);
    json_decref(list);

    /* deleting frees a seat */
    char path[96];
    snprintf(path, sizeof(path), "/v1/session/%s", s[1].id);
    MM_CHECK_INT(sim_call(&sim, "DELETE", path, NULL, NULL), ==, 200);
    entry = listed(&sim, s[0].dep, &list);
    MM_CHECK_INT(json_array_size(json_object_get(entry, "sessions")), ==, 5);
    json_decref(list);
    snprintf(path, sizeof(path), "/v1/session/%s", s[0].id);
    MM_CHECK_INT(sim_call(&sim, "GET", path, NULL, &j), ==, 200);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "deployment"), "sockets_usage")), ==, 5);
    json_decref(j);

    /* an empty deployment survives when a session arrives within empty_ttl... */
    for (int i = 6; i < 8; i++) {
        snprintf(path, sizeof(path), "/v1/session/%s", s[i].id);
        MM_CHECK_INT(sim_call(&sim, "DELETE", path, NULL, NULL), ==, 200);
    }
    /* deployment A (5 of 6) is first in line, so fill it before reusing B */
    MM_REQUIRE((id = sim_create_session(&sim, BODY)) != NULL);
    look(&sim, id, &s[1]);
    MM_CHECK_STR(s[1].dep, s[0].dep);
    MM_REQUIRE((id = sim_create_session(&sim, BODY)) != NULL);
    look(&sim, id, &s[8]);
    MM_CHECK_STR(s[8].dep, s[6].dep);
    MM_CHECK_STR(s[8].status, "Status.READY");
    long long until = mm_test_now_ms() + 1500;
    while (mm_test_now_ms() < until) { /* watch it stay */
        entry = listed(&sim, s[6].dep, &list);
        MM_CHECK(entry != NULL);
        json_decref(list);
        if (entry == NULL)
            break;
        mm_test_sleep_ms(100);
    }
    /* ...and stops empty_ttl after its last session left */
    snprintf(path, sizeof(path), "/v1/session/%s", s[8].id);
    MM_CHECK_INT(sim_call(&sim, "DELETE", path, NULL, NULL), ==, 200);
    long long deadline = mm_test_now_ms() + 10000;
    while ((entry = listed(&sim, s[6].dep, &list)) != NULL && mm_test_now_ms() < deadline) {
        json_decref(list);
        mm_test_sleep_ms(50);
    }
    MM_CHECK(entry == NULL);
    json_decref(list);
    MM_CHECK_INT(sim_stat(&sim, "deployments_stopped"), ==, 1);
    MM_CHECK_INT(sim_stat(&sim, "deployments_live"), ==, 1);

    /* stats, then reset */
    MM_CHECK_INT(sim_call(&sim, "GET", "/__sim/stats", NULL, &j), ==, 200);
    check_shape(j,
                "sessions_created:i sessions_ready:i sessions_deleted:i sessions_live:i deployments_started:i "
                "deployments_stopped:i requests:o webhooks_sent:i webhooks_failed:i live_session_ids:a",
                "/__sim/stats");
    check_shape(json_object_get(j, "requests"), "=app:i version:i session_create:i session_get:i session_delete:i",
                "/__sim/stats requests");
    MM_CHECK_INT(json_integer_value(json_object_get(j, "sessions_created")), ==, 10);
    MM_CHECK_INT(json_integer_value(json_object_get(j, "sessions_deleted")), ==, 4);
    MM_CHECK_INT(json_integer_value(json_object_get(j, "sessions_live")), ==, 6);
    MM_CHECK_INT(json_integer_value(json_object_get(j, "sessions_ready")), ==, 10);
    MM_CHECK_INT(json_array_size(json_object_get(j, "live_session_ids")), ==, 6);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "requests"), "session_create")), ==, 10);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "requests"), "session_delete")), ==, 4);
    json_decref(j);

    MM_CHECK_INT(sim_call(&sim, "POST", "/__sim/reset", "", NULL), ==, 200);
    MM_CHECK_INT(sim_stat(&sim, "sessions_live"), ==, 0);
    MM_CHECK_INT(sim_stat(&sim, "sessions_created"), ==, 0);
    MM_CHECK_INT(sim_stat(&sim, "deployments_live"), ==, 0);
    MM_CHECK_INT(sim_call(&sim, "GET", "/__sim/deployments", NULL, &list), ==, 200);
    MM_CHECK_INT(json_array_size(json_object_get(list, "deployments")), ==, 0);
    json_decref(list);
    snprintf(path, sizeof(path), "/v1/session/%s", s[0].id);
    MM_CHECK_INT(sim_call(&sim, "GET", path, NULL, NULL), ==, 404);
    MM_CHECK_INT(sim_call(&sim, "DELETE", path, NULL, NULL), ==, 404); /* reset forgets deleted ids too */
    /* addresses start over after a reset */
    MM_REQUIRE((id = sim_create_session(&sim, BODY)) != NULL);
    look(&sim, id, &s[0]);
    MM_CHECK_STR(s[0].ip, "127.1.0.1");
    MM_CHECK_INT(s[0].external, ==, 30000);
    MM_CHECK_INT(sim_call(&sim, "GET", "/__sim/reset", NULL, NULL), ==, 405);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

/* Seeking -> Deploying -> Ready, with elapsed counting whole seconds. */
static void
test_status_progression(void)
{
    sim_proc sim;
    const char *extra[] = {"--seek-delay-ms", "700", "--deploy-delay-ms", "700", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    json_t *j = NULL;
    MM_CHECK_INT(sim_call(&sim, "POST", "/v1/session", BODY, &j), ==, 200);
    MM_CHECK(json_is_null(json_object_get(j, "deployment_request_id"))); /* not placed yet */
    char id[32];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "session_id")));
    json_decref(j);
    seen s;
    look(&sim, id, &s);
    MM_CHECK_STR(s.status, "Status.SEEKING");
    char path[96];
    snprintf(path, sizeof(path), "/v1/session/%s", id);
    MM_CHECK_INT(sim_call(&sim, "GET", path, NULL, &j), ==, 200);
    MM_CHECK(json_is_false(json_object_get(j, "linked")));
    MM_CHECK(json_is_false(json_object_get(j, "ready")));
    MM_CHECK(json_is_null(json_object_get(j, "deployment")));
    json_decref(j);

    j = sim_wait_status(&sim, id, "Status.DEPLOYING", 10000);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.DEPLOYING");
    MM_CHECK(json_is_true(json_object_get(j, "linked")));
    MM_CHECK(json_is_false(json_object_get(j, "ready")));
    MM_CHECK(json_is_object(json_object_get(j, "deployment")));
    json_decref(j);
    j = sim_wait_status(&sim, id, "Status.READY", 10000);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Status.READY");
    MM_CHECK(json_is_true(json_object_get(j, "ready")));
    MM_CHECK_INT(json_integer_value(json_object_get(j, "elapsed")), >=, 1); /* 1.4 s of delays have passed */
    json_decref(j);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

/* A documentation range with two addresses: the third deployment cannot start. */
static void
test_address_exhaustion(void)
{
    sim_proc sim;
    const char *extra[] = {"--ip-range", "192.0.2.0/30", "--sockets", "1", "--deploy-delay-ms", "0", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    seen s[3];
    for (int i = 0; i < 3; i++) {
        const char *id = sim_create_session(&sim, BODY);
        MM_REQUIRE(id != NULL);
        json_t *j = sim_wait_status(&sim, id, i < 2 ? "Status.READY" : "Status.ERROR", 5000);
        look(&sim, id, &s[i]);
        if (i == 2) {
            MM_CHECK_STR(s[i].status, "Status.ERROR");
            MM_CHECK(json_is_string(json_object_get(j, "error")));
            MM_CHECK(json_is_false(json_object_get(j, "ready")));
        }
        json_decref(j);
    }
    MM_CHECK_STR(s[0].ip, "192.0.2.1");
    MM_CHECK_STR(s[1].ip, "192.0.2.2");
    MM_CHECK_INT(sim_stat(&sim, "sessions_error"), ==, 1);
    /* a session in error can be deleted like any other */
    char path[96];
    snprintf(path, sizeof(path), "/v1/session/%s", s[2].id);
    MM_CHECK_INT(sim_call(&sim, "DELETE", path, NULL, NULL), ==, 200);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

/* A few thousand sessions: unique ids, 6 per deployment, all gone after deletion. */
static void
test_many_sessions(void)
{
    enum { N = 3000 };
    sim_proc sim;
    const char *extra[] = {"--deploy-delay-ms", "0", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    static char ids[N][32];
    int created = 0;
    for (int i = 0; i < N; i++) {
        const char *id = sim_create_session(&sim, BODY);
        if (id == NULL)
            break;
        snprintf(ids[i], sizeof(ids[i]), "%s", id);
        created++;
    }
    MM_CHECK_INT(created, ==, N);
    MM_CHECK_INT(sim_stat(&sim, "sessions_live"), ==, N);
    MM_CHECK_INT(sim_stat(&sim, "deployments_started"), ==, N / 6);
    json_t *j = NULL;
    MM_CHECK_INT(sim_call(&sim, "GET", "/__sim/stats", NULL, &j), ==, 200);
    const json_t *live = json_object_get(j, "live_session_ids");
    MM_CHECK_INT(json_array_size(live), ==, N);
    json_t *set = json_object();
    for (size_t i = 0; i < json_array_size(live); i++)
        json_object_set_new(set, json_string_value(json_array_get(live, i)), json_true());
    MM_CHECK_INT(json_object_size(set), ==, N);
    json_decref(set);
    json_decref(j);
    int deleted = 0;
    for (int i = 0; i < created; i++) {
        char path[96];
        snprintf(path, sizeof(path), "/v1/session/%.31s", ids[i]);
        deleted += sim_call(&sim, "DELETE", path, NULL, NULL) == 200;
    }
    MM_CHECK_INT(deleted, ==, N);
    MM_CHECK_INT(sim_stat(&sim, "sessions_live"), ==, 0);
    MM_CHECK_INT(sim_stat(&sim, "terminated_remembered"), ==, N);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
}

int
main(void)
{
    test_seats();
    test_status_progression();
    test_address_exhaustion();
    test_many_sessions();
    http_cleanup();
    return MM_TEST_DONE();
}
