/*
 * edgegap_sim's building blocks, driven directly (no server): fault settings and decisions,
 * config parsing, and the world model with its timers run by hand, so deployment delays and
 * empty_ttl are exercised without waiting for them. (The id map and timer heap it uses are the
 * core's, tested in tests/core.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_alloc.h"
#include "sim_edgegap.h"
#include "mm/timer.h"
#include "mm_test.h"
#include "edgegap_sim_test_util.h"

static void
test_faults(void)
{
    mm_sim_faults f;
    char why[200];
    uint64_t latency;
    int status;
    const char *msg;
    mm_sim_faults_init(&f, 1);
    MM_CHECK_INT(mm_sim_faults_decide(&f, MM_SIM_EP_APP, &latency, &status, &msg), ==, MM_SIM_ACT_SERVE);
    MM_CHECK_INT(mm_sim_faults_apply_flag(&f, "app:latency_ms=20,error_next=2,error_status=409", why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(mm_sim_faults_apply_flag(&f, "app:hang_next=1", why, sizeof(why)), ==, MM_OK); /* merges */
    MM_CHECK_INT(mm_sim_faults_decide(&f, MM_SIM_EP_APP, &latency, &status, &msg), ==, MM_SIM_ACT_HANG);
    MM_CHECK_INT(mm_sim_faults_decide(&f, MM_SIM_EP_APP, &latency, &status, &msg), ==, MM_SIM_ACT_ERROR);
    MM_CHECK_INT(status, ==, 409);
    MM_CHECK_U64(latency, ==, 20);
    MM_CHECK(strstr(msg, "Conflict") != NULL);
    MM_CHECK_INT(mm_sim_faults_decide(&f, MM_SIM_EP_APP, &latency, &status, &msg), ==, MM_SIM_ACT_ERROR);
    MM_CHECK_INT(mm_sim_faults_decide(&f, MM_SIM_EP_APP, &latency, &status, &msg), ==, MM_SIM_ACT_SERVE);
    MM_CHECK_U64(latency, ==, 20);
    MM_CHECK_INT(mm_sim_faults_decide(&f, MM_SIM_EP_VERSION, &latency, &status, &msg), ==, MM_SIM_ACT_SERVE);
    MM_CHECK_U64(latency, ==, 0);

    MM_CHECK_INT(mm_sim_faults_apply_flag(&f, "session_create:never_ready_next=1,deploy_fail_rate=1", why, sizeof(why)), ==, MM_OK);
    MM_CHECK(mm_sim_faults_take(&f, MM_SIM_FAULT_NEVER_READY));
    MM_CHECK(!mm_sim_faults_take(&f, MM_SIM_FAULT_NEVER_READY));
    MM_CHECK(mm_sim_faults_take(&f, MM_SIM_FAULT_DEPLOY_FAIL));
    MM_CHECK(mm_sim_faults_take(&f, MM_SIM_FAULT_DEPLOY_FAIL));
    MM_CHECK(!mm_sim_faults_take(&f, MM_SIM_FAULT_ERROR));

    static const char *const bad[] = {"app",
                                      "app:",
                                      ":latency_ms=1",
                                      "nope:latency_ms=1",
                                      "app:latency_ms",
                                      "app:latency_ms=x",
                                      "app:error_rate=-0.1",
                                      "app:error_rate=nan",
                                      "app:never_ready_next=1",
                                      "app:unknown=1",
                                      "app:error_status=200"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        MM_CHECK_INT(mm_sim_faults_apply_flag(&f, bad[i], why, sizeof(why)), ==, MM_ERR_INVALID);
        MM_CHECK(why[0] != '\0');
    }
    /* JSON replaces an endpoint's settings; an invalid body changes nothing */
    json_t *body = json_loads("{\"app\": {\"error_rate\": 1}}", 0, NULL);
    MM_CHECK_INT(mm_sim_faults_apply_json(&f, body, why, sizeof(why)), ==, MM_OK);
    json_decref(body);
    MM_CHECK_U64(f.ep[MM_SIM_EP_APP].latency_ms, ==, 0);
    MM_CHECK_INT(f.ep[MM_SIM_EP_APP].error_status, ==, 503);
    MM_CHECK_INT(mm_sim_faults_decide(&f, MM_SIM_EP_APP, &latency, &status, &msg), ==, MM_SIM_ACT_ERROR);
    body = json_loads("{\"app\": null, \"version\": {\"error_status\": 1}}", 0, NULL);
    MM_CHECK_INT(mm_sim_faults_apply_json(&f, body, why, sizeof(why)), ==, MM_ERR_INVALID);
    json_decref(body);
    MM_CHECK(f.ep[MM_SIM_EP_APP].error.rate == 1.0);
    json_t *dump = mm_sim_faults_to_json(&f);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(dump, "fired"), "error")), ==, 3);
    MM_CHECK(json_object_get(json_object_get(json_object_get(dump, "endpoints"), "app"), "never_ready_next") == NULL);
    json_decref(dump);
    mm_sim_faults_clear(&f);
    MM_CHECK_INT(mm_sim_faults_decide(&f, MM_SIM_EP_APP, &latency, &status, &msg), ==, MM_SIM_ACT_SERVE);
    MM_CHECK_INT(mm_sim_endpoint_parse("session_get"), ==, MM_SIM_EP_SESSION_GET);
    MM_CHECK_INT(mm_sim_endpoint_parse("sessions"), ==, -1);
}

static void
test_config(void)
{
    uint32_t first = 0, count = 0;
    char why[300];
    MM_CHECK_INT(mm_sim_parse_ip_range("127.1.0.0/16", &first, &count, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_U64(first, ==, 0x7f010001u);
    MM_CHECK_U64(count, ==, 65534);
    MM_CHECK_INT(mm_sim_parse_ip_range("203.0.113.0/24", &first, &count, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_U64(first, ==, 0xcb007101u);
    MM_CHECK_U64(count, ==, 254);
    MM_CHECK_INT(mm_sim_parse_ip_range("192.0.2.8/31", &first, &count, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_U64(first, ==, 0xc0000208u);
    MM_CHECK_U64(count, ==, 2);
    MM_CHECK_INT(mm_sim_parse_ip_range("192.0.2.9/32", &first, &count, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_U64(count, ==, 1);
    MM_CHECK_INT(mm_sim_parse_ip_range("192.0.2.1/24", &first, &count, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_sim_parse_ip_range("192.0.2.0", &first, &count, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_sim_parse_ip_range("192.0.2.0/7", &first, &count, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_sim_parse_ip_range("300.0.0.0/8", &first, &count, why, sizeof(why)), ==, MM_ERR_INVALID);

    mm_sim_port_cfg p;
    MM_CHECK_INT(mm_sim_parse_port_mapping("game:7777/TCP/UDP", &p, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(p.name, "game");
    MM_CHECK_INT(p.internal, ==, 7777);
    MM_CHECK_STR(p.protocol, "TCP/UDP");
    MM_CHECK_INT(mm_sim_parse_port_mapping("game:7777", &p, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_sim_parse_port_mapping("ga/me:7777/UDP", &p, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_sim_parse_port_mapping(":7777/UDP", &p, why, sizeof(why)), ==, MM_ERR_INVALID);

    mm_sim_edgegap_cfg *cfg = mm_sim_xcalloc(1, sizeof(*cfg));
    mm_sim_edgegap_cfg_defaults(cfg);
    MM_CHECK_INT(mm_sim_edgegap_cfg_validate(cfg, why, sizeof(why)), ==, MM_ERR_INVALID); /* no key */
    snprintf(cfg->api_key, sizeof(cfg->api_key), "token k");
    MM_CHECK_INT(mm_sim_edgegap_cfg_validate(cfg, why, sizeof(why)), ==, MM_OK);
    static const char *const bad[] = {
        "[]",
        "{\"apps\": []}",
        "{\"apps\": [{\"name\": \"a b\", \"versions\": []}]}",
        "{\"apps\": [{\"name\": \"a\", \"versions\": []}]}",
        "{\"apps\": [{\"name\": \"a\", \"versions\": [{\"name\": \"1\"}]}]}",
        "{\"apps\": [{\"name\": \"a\", \"versions\": [{\"name\": \"1\", \"ports\": [{\"name\": \"p\", \"port\": 0, "
        "\"protocol\": \"UDP\"}]}]}]}",
        "{\"apps\": [{\"name\": \"a\", \"versions\": [{\"name\": \"1\", \"session_config\": {\"sockets\": 0}, "
        "\"ports\": [{\"name\": \"p\", \"port\": 1, \"protocol\": \"UDP\"}]}]}]}",
        "{\"apps\": [{\"name\": \"a\", \"versions\": [{\"name\": \"1\", \"ports\": [{\"name\": \"p\", \"port\": 1, "
        "\"protocol\": \"UDP\"}, {\"name\": \"p\", \"port\": 2, \"protocol\": \"UDP\"}]}]}]}",
        "{\"apps\": [{\"name\": \"a\", \"is_active\": \"yes\", \"versions\": []}]}",
        "{\"apps\": [{\"name\": \"a\", \"versions\": [{\"name\": \"1\", \"ports\": [{\"name\": \"p\", \"port\": 1, "
        "\"protocol\": \"UDP\"}]}]}, {\"name\": \"a\", \"versions\": [{\"name\": \"1\", \"ports\": [{\"name\": \"p\", "
        "\"port\": 1, \"protocol\": \"UDP\"}]}]}]}",
        "{\"apps\": [], \"extra\": 1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = json_loads(bad[i], 0, NULL);
        why[0] = '\0';
        MM_CHECK_INT(mm_sim_edgegap_cfg_load_json(cfg, doc, why, sizeof(why)), ==, MM_ERR_INVALID);
        MM_CHECK(why[0] != '\0');
        json_decref(doc);
    }
    MM_CHECK_STR(cfg->apps[0].name, "bevygap-spaceships"); /* unchanged by the failures */
    json_t *doc = json_loads("{\"apps\": [{\"name\": \"a\", \"versions\": [{\"name\": \"1\", \"session_config\": "
                             "{\"sockets\": 3, \"autodeploy\": false, \"empty_ttl\": 2}, \"ports\": [{\"name\": \"p\", "
                             "\"port\": 9, \"protocol\": \"WS\", \"to_check\": true}]}]}]}",
                             0, NULL);
    MM_CHECK_INT(mm_sim_edgegap_cfg_load_json(cfg, doc, why, sizeof(why)), ==, MM_OK);
    json_decref(doc);
    MM_CHECK_INT(cfg->napps, ==, 1);
    MM_CHECK_INT(cfg->apps[0].versions[0].sockets, ==, 3);
    MM_CHECK(!cfg->apps[0].versions[0].autodeploy);
    MM_CHECK_INT(cfg->apps[0].versions[0].empty_ttl_min, ==, 2);
    MM_CHECK(cfg->apps[0].versions[0].ports[0].to_check);
    MM_CHECK(cfg->apps[0].is_active && cfg->apps[0].versions[0].is_active);
    free(cfg);
}

static int
call_create(mm_sim_world *w, const char *body, char *id_out)
{
    json_t *j = NULL;
    int st = mm_sim_api_session_create(w, body, strlen(body), &j);
    if (st == 200 && id_out != NULL)
        snprintf(id_out, 32, "%s", json_string_value(json_object_get(j, "session_id")));
    json_decref(j);
    return st;
}

static const char *
status_of(mm_sim_world *w, const char *id, char *buf)
{
    json_t *j = NULL;
    buf[0] = '\0';
    if (mm_sim_api_session_get(w, id, &j) == 200)
        snprintf(buf, 32, "%s", json_string_value(json_object_get(j, "status")));
    json_decref(j);
    return buf;
}

static size_t
deployments_listed(mm_sim_world *w)
{
    json_t *j = mm_sim_world_deployments(w);
    size_t n = json_array_size(json_object_get(j, "deployments"));
    json_decref(j);
    return n;
}

static void
test_world(void)
{
    mm_sim_edgegap_cfg *cfg = mm_sim_xcalloc(1, sizeof(*cfg));
    mm_sim_edgegap_cfg_defaults(cfg);
    cfg->seed = 3;
    cfg->apps[0].versions[0].sockets = 2;
    cfg->empty_ttl_ms = 1000;
    cfg->terminated_max = 2;
    cfg->max_sessions = 3;
    mm_timer_heap ts;
    mm_timer_heap_init(&ts);
    mm_sim_faults f;
    mm_sim_faults_init(&f, cfg->seed);
    mm_sim_world *w = NULL;
    mm_sim_world_create(cfg, &ts, &f, NULL, &w);
    const char *body = "{\"app_name\":\"bevygap-spaceships\"}";
    char a[32], b[32], c[32], st[32];
    uint64_t far = UINT64_MAX / 4; /* "now" (ns) for running timers: everything is due */

    MM_CHECK_INT(call_create(w, body, a), ==, 200);
    MM_CHECK_STR(status_of(w, a, st), "Status.DEPLOYING");
    MM_CHECK_INT(call_create(w, body, b), ==, 200); /* waits on the same deployment */
    MM_CHECK_INT(deployments_listed(w), ==, 1);
    MM_CHECK_INT(mm_timer_heap_run(&ts, far, 100), ==, 1); /* the deployment is ready */
    MM_CHECK_STR(status_of(w, a, st), "Status.READY");
    MM_CHECK_STR(status_of(w, b, st), "Status.READY");
    MM_CHECK_INT(call_create(w, body, c), ==, 200); /* two sockets: a second deployment */
    MM_CHECK_INT(deployments_listed(w), ==, 2);
    MM_CHECK_INT(call_create(w, body, NULL), ==, 429); /* --max-sessions 3 */

    json_t *j = NULL;
    MM_CHECK_INT(mm_sim_api_session_delete(w, c, &j), ==, 200);
    json_decref(j);
    /* empty_ttl (1 s) runs out before the deploy delay (2 s): it stops without ever being ready */
    MM_CHECK_INT(mm_timer_heap_run(&ts, far, 100), ==, 1);
    MM_CHECK_INT(deployments_listed(w), ==, 1);
    MM_CHECK_INT(mm_sim_api_session_delete(w, c, &j), ==, 410);
    json_decref(j);
    MM_CHECK_INT(mm_sim_api_session_delete(w, a, &j), ==, 200);
    json_decref(j);
    MM_CHECK_INT(mm_sim_api_session_delete(w, b, &j), ==, 200);
    json_decref(j);
    /* terminated_max 2: the oldest deleted id is forgotten first */
    MM_CHECK_INT(mm_sim_api_session_delete(w, c, &j), ==, 404);
    json_decref(j);
    MM_CHECK_INT(mm_sim_api_session_delete(w, b, &j), ==, 410);
    json_decref(j);
    MM_CHECK_INT(mm_timer_heap_run(&ts, far, 100), ==, 1);
    MM_CHECK_INT(deployments_listed(w), ==, 0);

    json_t *stats = mm_sim_world_stats(w);
    MM_CHECK_INT(json_integer_value(json_object_get(stats, "deployments_started")), ==, 2);
    MM_CHECK_INT(json_integer_value(json_object_get(stats, "deployments_stopped")), ==, 2);
    MM_CHECK_INT(json_integer_value(json_object_get(stats, "sessions_ready")), ==, 2);
    json_decref(stats);

    /* a session left waiting is freed with the world, its deployment's timer cancelled */
    MM_CHECK_INT(call_create(w, body, a), ==, 200);
    mm_sim_world_reset(w);
    MM_CHECK(mm_timer_heap_peek(&ts) == NULL);
    MM_CHECK_INT(call_create(w, body, a), ==, 200);
    MM_CHECK(mm_timer_heap_peek(&ts) != NULL);
    mm_sim_world_destroy(w);
    MM_CHECK(mm_timer_heap_peek(&ts) == NULL);
    mm_sim_world_destroy(NULL);
    mm_timer_heap_dispose(&ts);
    free(cfg);
}

int
main(void)
{
    mm_sim_json_use_xmalloc();
    test_faults();
    test_config();
    test_world();
    return MM_TEST_DONE();
}
