/*
 * edgegap_sim, /v1 answers: every endpoint's success and error shapes compared field by field
 * (names and JSON types) with docs/protocol.md section 7, authorization, the doubled slash the reference
 * Rust client sends, request validation, and an apps file with several apps, versions and ports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_test.h"
#include "edgegap_sim_test_util.h"

#define APP_SPEC "name:s is_active:b create_time:s last_updated:s"
#define VERSION_SPEC "name:s is_active:b session_config:o ports:a"
#define SESSION_CONFIG_SPEC "kind:s sockets:i autodeploy:b empty_ttl:i"
#define VERSION_PORT_SPEC "port:i protocol:s name:s tls_upgrade:b to_check:b"
#define POST_SPEC "=session_id:s custom_id:s? app:s version:s deployment_request_id:s? webhook_url:s?"
#define SESSION_SPEC                                                                                                               \
    "session_id:s custom_id:s? status:s ready:b linked:b kind:s user_count:i app_version:i create_time:s elapsed:i "               \
    "error:s? session_ips:a? deployment:o? webhook_url:s?"
#define DEPLOYMENT_SPEC                                                                                                            \
    "request_id:s public_ip:s status:s ready:b whitelisting_active:b fqdn:s ports:o location:o sockets:i sockets_usage:i"
#define PORT_SPEC "external:i internal:i protocol:s name:s tls_upgrade:b link:s proxy:i?"
#define LOCATION_SPEC "city:s country:s continent:s administrative_division:s timezone:s latitude:r longitude:r"
#define DELETE_SPEC "message:s session_id:s"
#define ERROR_SPEC "=message:s"

/* A request whose answer must be `status` with an exact {"message": "..."} body. */
static void
expect_error(const sim_proc *sim, const char *method, const char *path, const char *body, long status)
{
    json_t *j = NULL;
    long got = sim_call(sim, method, path, body, &j);
    char where[300];
    snprintf(where, sizeof(where), "%s %s %s", method, path, body != NULL ? body : "");
    if (got != status)
        fprintf(stderr, "%s\n", where);
    MM_CHECK_INT(got, ==, status);
    check_shape(j, ERROR_SPEC, where);
    json_decref(j);
}

static void
test_auth(const sim_proc *sim)
{
    static const char *const cases[][3] = {
        {"GET", "/v1/app/bevygap-spaceships", NULL},
        {"GET", "/v1/app/bevygap-spaceships/version/1", NULL},
        {"POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\"}"},
        {"GET", "/v1/session/0123456789ab-S", NULL},
        {"DELETE", "/v1/session/0123456789ab-S", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *auths[] = {NULL, "token wrong-key", "test-key-1a2b3c", SIM_KEY "x", ""};
        for (size_t k = 0; k < sizeof(auths) / sizeof(auths[0]); k++) {
            char url[256];
            http_reply r;
            snprintf(url, sizeof(url), "%s%s", sim->base, cases[i][1]);
            http_call(cases[i][0], url, auths[k], cases[i][2], 0, false, &r);
            MM_CHECK_INT(r.status, ==, 401);
            check_shape(r.json, ERROR_SPEC, "401 answer");
            http_reply_free(&r);
        }
    }
    MM_CHECK_INT(sim_stat(sim, "unauthorized"), ==, 25);
    MM_CHECK_INT(sim_stat(sim, "sessions_created"), ==, 0);
}

static void
test_app_and_version(const sim_proc *sim)
{
    json_t *j = NULL;
    MM_CHECK_INT(sim_call(sim, "GET", "/v1/app/bevygap-spaceships", NULL, &j), ==, 200);
    check_shape(j, APP_SPEC, "GET app");
    MM_CHECK_STR(json_string_value(json_object_get(j, "name")), "bevygap-spaceships");
    MM_CHECK(json_is_true(json_object_get(j, "is_active")));
    json_decref(j);

    MM_CHECK_INT(sim_call(sim, "GET", "/v1/app/bevygap-spaceships/version/1", NULL, &j), ==, 200);
    check_shape(j, VERSION_SPEC, "GET version");
    const json_t *sc = json_object_get(j, "session_config");
    check_shape(sc, SESSION_CONFIG_SPEC, "GET version session_config");
    MM_CHECK_STR(json_string_value(json_object_get(sc, "kind")), "Seat");
    MM_CHECK_INT(json_integer_value(json_object_get(sc, "sockets")), ==, 6);
    MM_CHECK_INT(json_array_size(json_object_get(j, "ports")), ==, 1);
    const json_t *port = json_array_get(json_object_get(j, "ports"), 0);
    check_shape(port, VERSION_PORT_SPEC, "GET version ports[0]");
    MM_CHECK_INT(json_integer_value(json_object_get(port, "port")), ==, 6420);
    MM_CHECK_STR(json_string_value(json_object_get(port, "protocol")), "UDP");
    MM_CHECK_STR(json_string_value(json_object_get(port, "name")), "server");
    json_decref(j);

    /* the reference joins "https://api.edgegap.com/" with "/v1/...", and its path is percent-encoded */
    MM_CHECK_INT(sim_call(sim, "GET", "//v1/app/bevygap-spaceships", NULL, NULL), ==, 200);
    MM_CHECK_INT(sim_call(sim, "GET", "//v1/app/bevygap%2Dspaceships/version/1", NULL, NULL), ==, 200);
    MM_CHECK_INT(sim_call(sim, "GET", "/v1/app/bevygap-spaceships?page=1", NULL, NULL), ==, 200);

    expect_error(sim, "GET", "/v1/app/nope", NULL, 404);
    expect_error(sim, "GET", "/v1/app/nope/version/1", NULL, 404);
    expect_error(sim, "GET", "/v1/app/bevygap-spaceships/version/2", NULL, 404);
    expect_error(sim, "GET", "/v1/app/bad%zzescape", NULL, 404);
    expect_error(sim, "POST", "/v1/app/bevygap-spaceships", "{}", 405);
    expect_error(sim, "GET", "/v2/app/bevygap-spaceships", NULL, 404);
    expect_error(sim, "GET", "/", NULL, 404);
}

static void
check_session_body(const json_t *j, const char *id, const char *status, bool ready)
{
    check_shape(j, SESSION_SPEC, "GET session");
    MM_CHECK_STR(json_string_value(json_object_get(j, "session_id")), id);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), status);
    MM_CHECK(json_is_true(json_object_get(j, "ready")) == ready);
    MM_CHECK(json_is_true(json_object_get(j, "linked")));
    MM_CHECK_STR(json_string_value(json_object_get(j, "kind")), "Seat");
    MM_CHECK_INT(json_integer_value(json_object_get(j, "user_count")), ==, 1);
    MM_CHECK(json_is_null(json_object_get(j, "error")));
    const json_t *ips = json_object_get(j, "session_ips");
    MM_CHECK_INT(json_array_size(ips), ==, 1);
    check_shape(json_array_get(ips, 0), "ip:s latitude:r? longitude:r?", "session_ips[0]");
    MM_CHECK_STR(json_string_value(json_object_get(json_array_get(ips, 0), "ip")), "81.128.157.100");
    const json_t *d = json_object_get(j, "deployment");
    check_shape(d, DEPLOYMENT_SPEC, "GET session deployment");
    MM_CHECK(is_edgegap_id(json_string_value(json_object_get(d, "request_id")), false));
    MM_CHECK(strncmp(json_string_value(json_object_get(d, "public_ip")), "127.1.", 6) == 0);
    MM_CHECK(json_is_true(json_object_get(d, "ready")) == ready);
    MM_CHECK_INT(json_integer_value(json_object_get(d, "sockets")), ==, 6);
    MM_CHECK_INT(json_integer_value(json_object_get(d, "sockets_usage")), ==, 1);
    const json_t *ports = json_object_get(d, "ports");
    MM_CHECK_INT(json_object_size(ports), ==, 1);
    const json_t *server = json_object_get(ports, "server");
    check_shape(server, PORT_SPEC, "deployment ports.server");
    MM_CHECK_INT(json_integer_value(json_object_get(server, "external")), >=, 30000);
    MM_CHECK_INT(json_integer_value(json_object_get(server, "internal")), ==, 6420);
    MM_CHECK_STR(json_string_value(json_object_get(server, "protocol")), "UDP");
    check_shape(json_object_get(d, "location"), LOCATION_SPEC, "deployment location");
}

static void
test_session_lifecycle(const sim_proc *sim)
{
    json_t *j = NULL;
    const char *body = "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[\"81.128.157.100\"]}";
    MM_CHECK_INT(sim_call(sim, "POST", "/v1/session", body, &j), ==, 200);
    check_shape(j, POST_SPEC, "POST session");
    char id[32], dep[32];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "session_id")));
    snprintf(dep, sizeof(dep), "%s", json_string_value(json_object_get(j, "deployment_request_id")));
    MM_CHECK(is_edgegap_id(id, true));
    MM_CHECK(is_edgegap_id(dep, false));
    MM_CHECK_STR(json_string_value(json_object_get(j, "app")), "bevygap-spaceships");
    MM_CHECK_STR(json_string_value(json_object_get(j, "version")), "1"); /* the app's only active version */
    MM_CHECK(json_is_null(json_object_get(j, "webhook_url")));
    json_decref(j);

    char path[128];
    snprintf(path, sizeof(path), "/v1/session/%s", id);
    MM_CHECK_INT(sim_call(sim, "GET", path, NULL, &j), ==, 200); /* deploy delay is 1500 ms */
    check_session_body(j, id, "Status.DEPLOYING", false);
    MM_CHECK_STR(json_string_value(json_object_get(json_object_get(j, "deployment"), "request_id")), dep);
    json_decref(j);

    j = sim_wait_status(sim, id, "Status.READY", 10000);
    check_session_body(j, id, "Status.READY", true);
    MM_CHECK_STR(json_string_value(json_object_get(json_object_get(j, "deployment"), "status")), "Status.READY");
    json_decref(j);

    snprintf(path, sizeof(path), "//v1/session/%s", id);
    MM_CHECK_INT(sim_call(sim, "GET", path, NULL, NULL), ==, 200);
    MM_CHECK_INT(sim_call(sim, "DELETE", path, NULL, &j), ==, 200);
    check_shape(j, DELETE_SPEC, "DELETE session");
    MM_CHECK_STR(json_string_value(json_object_get(j, "session_id")), id);
    json_decref(j);
    expect_error(sim, "DELETE", path, NULL, 410);
    expect_error(sim, "GET", path, NULL, 404);
    expect_error(sim, "DELETE", "/v1/session/0123456789ab-S", NULL, 404);
    expect_error(sim, "GET", "/v1/session/0123456789ab-S", NULL, 404);
    expect_error(sim, "GET", "/v1/session/not-an-id", NULL, 404);
    expect_error(sim, "DELETE", "/v1/session/not-an-id", NULL, 404);
    expect_error(sim, "PUT", "/v1/session/0123456789ab-S", NULL, 405);
    expect_error(sim, "GET", "/v1/session", NULL, 405);

    /* explicit version, several users, a webhook url given back verbatim */
    MM_CHECK_INT(sim_call(sim, "POST", "//v1/session",
                          "{\"app_name\":\"bevygap-spaceships\",\"version_name\":\"1\",\"ip_list\":[\"1.2.3.4\",\"2001:db8::1\"],"
                          "\"webhook_url\":\"http://127.0.0.1:9/hook\",\"ignored_field\":true}",
                          &j),
                 ==, 200);
    check_shape(j, POST_SPEC, "POST session (explicit version)");
    MM_CHECK_STR(json_string_value(json_object_get(j, "webhook_url")), "http://127.0.0.1:9/hook");
    snprintf(path, sizeof(path), "/v1/session/%s", json_string_value(json_object_get(j, "session_id")));
    json_decref(j);
    MM_CHECK_INT(sim_call(sim, "GET", path, NULL, &j), ==, 200);
    MM_CHECK_INT(json_integer_value(json_object_get(j, "user_count")), ==, 2);
    MM_CHECK_STR(json_string_value(json_object_get(j, "webhook_url")), "http://127.0.0.1:9/hook");
    json_decref(j);
}

static void
test_create_validation(const sim_proc *sim)
{
    expect_error(sim, "POST", "/v1/session", "{not json", 400);
    expect_error(sim, "POST", "/v1/session", "", 400);
    expect_error(sim, "POST", "/v1/session", "[1,2]", 400);
    expect_error(sim, "POST", "/v1/session", "{}", 400);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":7}", 400);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"a\",\"app_name\":\"b\"}", 400);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"version_name\":1}", 400);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":\"1.2.3.4\"}", 400);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[1]}", 400);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[\"not-an-ip\"]}", 422);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"ip_list\":[\"1.2.3.4\",\"\"]}", 422);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"webhook_url\":\"ftp://x/y\"}", 422);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"webhook_url\":\"http://a b\"}", 422);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"nope\"}", 404);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"version_name\":\"9\"}", 404);
    expect_error(sim, "POST", "/v1/session", "{\"app_name\":\"bevygap-spaceships\",\"deployment_request_id\":\"0123456789ab\"}",
                 404);
    char big[80000];
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    MM_CHECK_INT(sim_call(sim, "POST", "/v1/session", big, NULL), ==, 413); /* over --max-body */
    MM_CHECK_INT(sim_stat(sim, "sessions_live"), ==, 1);                    /* from the lifecycle test only */
}

/* An apps file: two apps, an inactive version, two ports, two seats, the short status style. */
static void
test_apps_file(void)
{
    char dir[256], path[300];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(path, sizeof(path), "%s/apps.json", dir);
    FILE *f = fopen(path, "w");
    MM_REQUIRE(f != NULL);
    fputs("{\"apps\": ["
          " {\"name\": \"alpha\", \"versions\": ["
          "   {\"name\": \"old\", \"is_active\": false, \"ports\": [{\"name\": \"game\", \"port\": 7000, \"protocol\": \"UDP\"}]},"
          "   {\"name\": \"new\", \"session_config\": {\"kind\": \"Seat\", \"sockets\": 2, \"autodeploy\": true, \"empty_ttl\": 5},"
          "    \"ports\": [{\"name\": \"game\", \"port\": 7000, \"protocol\": \"UDP\"},"
          "               {\"name\": \"web\", \"port\": 8080, \"protocol\": \"TCP\", \"tls_upgrade\": true}]}]},"
          " {\"name\": \"beta\", \"is_active\": false, \"versions\": ["
          "   {\"name\": \"1\", \"ports\": [{\"name\": \"server\", \"port\": 6420, \"protocol\": \"UDP\"}]}]}]}",
          f);
    fclose(f);
    const char *extra[] = {"--config", path,         "--deploy-delay-ms", "50",          "--status-style",
                           "short",    "--ip-range", "198.51.100.0/24",   "--port-base", "41000",
                           NULL};
    sim_proc sim;
    MM_REQUIRE(sim_start(&sim, extra) == 0);

    json_t *j = NULL;
    MM_CHECK_INT(sim_call(&sim, "GET", "/v1/app/alpha/version/old", NULL, &j), ==, 200);
    MM_CHECK(json_is_false(json_object_get(j, "is_active")));
    json_decref(j);
    MM_CHECK_INT(sim_call(&sim, "GET", "/v1/app/beta", NULL, &j), ==, 200);
    MM_CHECK(json_is_false(json_object_get(j, "is_active")));
    json_decref(j);
    expect_error(&sim, "GET", "/v1/app/bevygap-spaceships", NULL, 404);
    /* Edgegap answered 400 for a disabled version (bevygap_matchmaker/src/session_service.rs) */
    expect_error(&sim, "POST", "/v1/session", "{\"app_name\":\"alpha\",\"version_name\":\"old\"}", 400);
    expect_error(&sim, "POST", "/v1/session", "{\"app_name\":\"beta\"}", 400);

    MM_CHECK_INT(sim_call(&sim, "POST", "/v1/session", "{\"app_name\":\"alpha\"}", &j), ==, 200);
    MM_CHECK_STR(json_string_value(json_object_get(j, "version")), "new"); /* the first active version */
    char id[32], dep[32], body[200];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "session_id")));
    snprintf(dep, sizeof(dep), "%s", json_string_value(json_object_get(j, "deployment_request_id")));
    json_decref(j);
    j = sim_wait_status(&sim, id, "Ready", 10000);
    MM_CHECK_STR(json_string_value(json_object_get(j, "status")), "Ready");
    MM_CHECK_INT(json_integer_value(json_object_get(j, "user_count")), ==, 0);
    const json_t *d = json_object_get(j, "deployment");
    MM_CHECK_STR(json_string_value(json_object_get(d, "status")), "Ready");
    MM_CHECK_STR(json_string_value(json_object_get(d, "public_ip")), "198.51.100.1");
    const json_t *ports = json_object_get(d, "ports");
    MM_CHECK_INT(json_object_size(ports), ==, 2);
    check_shape(json_object_get(ports, "game"), PORT_SPEC, "ports.game");
    check_shape(json_object_get(ports, "web"), PORT_SPEC, "ports.web");
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(ports, "game"), "external")), ==, 41000);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(ports, "web"), "external")), ==, 41001);
    MM_CHECK_INT(json_integer_value(json_object_get(json_object_get(ports, "web"), "internal")), ==, 8080);
    MM_CHECK(json_is_true(json_object_get(json_object_get(ports, "web"), "tls_upgrade")));
    json_decref(j);

    /* join a named deployment; once its two seats are taken it is a conflict */
    snprintf(body, sizeof(body), "{\"app_name\":\"alpha\",\"version_name\":\"new\",\"deployment_request_id\":\"%s\"}", dep);
    MM_CHECK_INT(sim_call(&sim, "POST", "/v1/session", body, &j), ==, 200);
    MM_CHECK_STR(json_string_value(json_object_get(j, "deployment_request_id")), dep);
    json_decref(j);
    expect_error(&sim, "POST", "/v1/session", body, 409);

    MM_CHECK_INT(sim_stop(&sim), ==, 0);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    sim_proc sim;
    const char *extra[] = {"--deploy-delay-ms", "1500", "--seed", "42", NULL};
    MM_REQUIRE(sim_start(&sim, extra) == 0);
    test_auth(&sim);
    test_app_and_version(&sim);
    test_session_lifecycle(&sim);
    test_create_validation(&sim);
    MM_CHECK_INT(sim_stop(&sim), ==, 0);
    test_apps_file();
    http_cleanup();
    return MM_TEST_DONE();
}
