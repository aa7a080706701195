/*
 * Helpers for the gameserver_sim tests (gameserver_sim_test_util.h). Every wait polls its
 * condition with a deadline; a missed deadline is reported by the caller's check.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mm/log.h"
#include "mm/token.h"
#include "gameserver_sim_test_util.h"
#include "mm_test_http.h"

#define API_KEY "token test"

void
gsw_key(mm_token_key *key)
{
    MM_REQUIRE(mm_token_key_parse(GSW_KEY_TEXT, key, NULL, 0) == MM_OK);
}

void
gsw_start_nats(gs_world *w)
{
    memset(w, 0, sizeof(*w));
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    MM_REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
    MM_REQUIRE(mm_test_tmpdir(w->tmpdir, sizeof(w->tmpdir)) == 0);
    MM_REQUIRE(mm_test_nats_start(&w->nats) == 0);
    char host[64], why[512];
    snprintf(host, sizeof(host), "127.0.0.1:%d", w->nats.port);
    setenv("NATS_HOST", host, 1);
    setenv("NATS_INSECURE", "1", 1);
    mm_nats_env *env = NULL;
    MM_REQUIRE(mm_nats_env_read(&env, NULL, why, sizeof(why)) == MM_OK);
    mm_err err = mm_nats_connect(env, &(mm_nats_connect_opts){.name = "test"}, &w->client, why, sizeof(why));
    mm_nats_env_destroy(env);
    MM_REQUIRE(err == MM_OK);
    MM_REQUIRE(mm_nats_wait_connected(w->client, 10000) == MM_OK);
    MM_REQUIRE(mm_js_setup(mm_nats_connection(w->client), MM_JS_NEED_ALL, 0, &w->js, why, sizeof(why)) == MM_OK);
}

void
gsw_start_edgegap(gs_world *w)
{
    char log[300];
    snprintf(log, sizeof(log), "%s/edgegap_sim.log", w->tmpdir);
    /* info, not the helper's warn: gsw_stop_all shows this log */
    static const char *const args[] = {"--deploy-delay-ms", "100", "--log-level", "info", NULL};
    mm_test_sim sim = {0};
    MM_REQUIRE(mm_test_sim_start(&sim, API_KEY, args, log) == 0);
    w->edgegap_pid = sim.pid;
    snprintf(w->edgegap_url, sizeof(w->edgegap_url), "%s", sim.base);
}

void
gsw_start_gameserver(gs_world *w, const char *const extra[])
{
    char exe[300], protocol[32];
    char *argv[40] = {exe, "--private-key", GSW_KEY_TEXT, "--protocol-id", protocol, "--poll-ms", "50"};
    int n = 7;
    snprintf(exe, sizeof(exe), "%s/gameserver_sim", mm_test_build_dir());
    snprintf(protocol, sizeof(protocol), "%d", GSW_PROTOCOL_ID);
    /* Without an edgegap_sim of the test's own, poll a port nothing listens on (not the default). */
    argv[n++] = "--edgegap-sim";
    argv[n++] = w->edgegap_url[0] != '\0' ? w->edgegap_url : "http://127.0.0.1:1";
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 39; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    static int started;
    snprintf(w->gs_log, sizeof(w->gs_log), "%s/gameserver_sim.%d.log", w->tmpdir, ++started);
    w->gs_pid = mm_test_spawn(argv, w->gs_log);
    MM_REQUIRE(w->gs_pid > 0);
    /* Ready when its request API answers (a refusal is an answer). */
    long long deadline = mm_test_now_ms() + 20000;
    json_t *reply = NULL;
    while (reply == NULL && mm_test_now_ms() < deadline) {
        reply = gsw_request(w, "gameserver_sim.disconnect", "{\"client_id\":\"0\"}");
        if (reply == NULL)
            mm_test_sleep_ms(20);
    }
    MM_REQUIRE(reply != NULL);
    json_decref(reply);
}

/* Copies a child's log to stderr: after a failure (for diagnosis) or with MM_TEST_VERBOSE set. */
static void
show_log(const char *path)
{
    if (mm_test_failed == 0 && getenv("MM_TEST_VERBOSE") == NULL)
        return;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "---- %s\n", path);
    char line[1024];
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

int
gsw_stop_gameserver(gs_world *w)
{
    int status = mm_test_stop(w->gs_pid, 10000);
    w->gs_pid = 0;
    show_log(w->gs_log);
    return status;
}

void
gsw_stop_all(gs_world *w)
{
    if (w->gs_pid > 0)
        gsw_stop_gameserver(w);
    if (w->edgegap_pid > 0) {
        mm_test_stop(w->edgegap_pid, 5000);
        char log[300];
        snprintf(log, sizeof(log), "%s/edgegap_sim.log", w->tmpdir);
        show_log(log);
    }
    mm_js_destroy(w->js);
    mm_nats_destroy(w->client);
    mm_test_nats_stop(&w->nats);
    char *rm[] = {"/bin/rm", "-rf", w->tmpdir, NULL};
    mm_test_run(rm, NULL, NULL, 0);
    nats_CloseAndWait(5000);
    curl_global_cleanup();
}

/* One HTTP call to edgegap_sim; returns the parsed JSON body of a 200 answer, or NULL. */
static json_t *
http_json(gs_world *w, const char *method, const char *path, const char *body)
{
    char url[300];
    snprintf(url, sizeof(url), "%s%s", w->edgegap_url, path);
    const char *headers[] = {"authorization: " API_KEY, "content-type: application/json", NULL};
    mm_test_http_resp r;
    json_t *out = NULL;
    if (mm_test_http(&(mm_test_http_req){.method = method, .url = url, .headers = headers, .body = body, .timeout_ms = 5000}, &r) ==
        200)
        out = json_loads(r.body, 0, NULL);
    else
        fprintf(stderr, "%s %s: status %ld: %s\n", method, path, r.status, r.body);
    mm_test_http_free(&r);
    return out;
}

int
gsw_create_session(gs_world *w, char *session_id, size_t len)
{
    json_t *o = http_json(w, "POST", "/v1/session",
                          "{\"app_name\":\"bevygap-spaceships\",\"version_name\":\"1\",\"ip_list\":[\"81.128.157.100\"]}");
    const char *id = json_string_value(json_object_get(o, "session_id"));
    int rc = id != NULL ? 0 : -1;
    if (id != NULL)
        snprintf(session_id, len, "%s", id);
    json_decref(o);
    return rc;
}

int
gsw_wait_ready(gs_world *w, const char *session_id, char *ip, size_t ip_len, uint16_t *port, char *request_id,
               size_t request_id_len)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/session/%s", session_id);
    long long deadline = mm_test_now_ms() + 20000;
    while (mm_test_now_ms() < deadline) {
        json_t *o = http_json(w, "GET", path, NULL);
        json_t *dep = json_object_get(o, "deployment");
        if (json_is_true(json_object_get(o, "ready")) && json_is_object(dep)) {
            const char *pip = json_string_value(json_object_get(dep, "public_ip"));
            const char *rid = json_string_value(json_object_get(dep, "request_id"));
            json_int_t ext =
                json_integer_value(json_object_get(json_object_get(json_object_get(dep, "ports"), "server"), "external"));
            int ok = pip != NULL && rid != NULL && ext > 0 && ext < 65536;
            if (ok) {
                snprintf(ip, ip_len, "%s", pip);
                snprintf(request_id, request_id_len, "%s", rid);
                *port = (uint16_t)ext;
            }
            json_decref(o);
            return ok ? 0 : -1;
        }
        json_decref(o);
        mm_test_sleep_ms(20);
    }
    return -1;
}

json_t *
gsw_request(gs_world *w, const char *subject, const char *payload)
{
    natsMsg *reply = NULL;
    if (natsConnection_RequestString(&reply, mm_nats_connection(w->client), subject, payload, 5000) != NATS_OK)
        return NULL;
    json_t *o = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
    natsMsg_Destroy(reply);
    return o;
}

int
gsw_wait_kv(kvStore *kv, const char *key, char *value, size_t len, int timeout_ms)
{
    long long deadline = mm_test_now_ms() + timeout_ms;
    do {
        if (mm_kv_get_str(kv, key, value, len, NULL) == MM_OK)
            return 0;
        mm_test_sleep_ms(20);
    } while (mm_test_now_ms() < deadline);
    return -1;
}

int
gsw_wait_kv_gone(kvStore *kv, const char *key, int timeout_ms)
{
    char value[1100];
    long long deadline = mm_test_now_ms() + timeout_ms;
    do {
        if (mm_kv_get_str(kv, key, value, sizeof(value), NULL) == MM_ERR_NOTFOUND)
            return 0;
        mm_test_sleep_ms(20);
    } while (mm_test_now_ms() < deadline);
    return -1;
}

int
gsw_wait_log(gs_world *w, const char *needle, int timeout_ms)
{
    long long deadline = mm_test_now_ms() + timeout_ms;
    char *text = malloc(1 << 20);
    int rc = -1;
    if (text == NULL)
        return -1;
    do {
        FILE *f = fopen(w->gs_log, "r");
        size_t n = f != NULL ? fread(text, 1, (1 << 20) - 1, f) : 0;
        text[n] = '\0';
        if (f != NULL)
            fclose(f);
        if (strstr(text, needle) != NULL) {
            rc = 0;
            break;
        }
        mm_test_sleep_ms(20);
    } while (mm_test_now_ms() < deadline);
    free(text);
    return rc;
}
