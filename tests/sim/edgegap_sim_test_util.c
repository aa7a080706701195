/*
 * Helpers shared by the edgegap_sim tests (edgegap_sim_test_util.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_test.h"
#include "mm_test_http.h"
#include "edgegap_sim_test_util.h"

int
sim_start(sim_proc *sim, const char *const *extra)
{
    return mm_test_sim_start(sim, SIM_KEY, extra, NULL);
}

int
sim_stop(sim_proc *sim)
{
    int rc = mm_test_stop(sim->pid, 5000);
    sim->pid = 0;
    return rc;
}

void
http_call(const char *method, const char *url, const char *auth, const char *body, long timeout_ms, bool fresh, http_reply *out)
{
    char auth_line[300];
    const char *headers[3] = {NULL, NULL, NULL};
    int n = 0;
    if (auth != NULL) {
        snprintf(auth_line, sizeof(auth_line), "authorization: %s", auth);
        headers[n++] = auth_line;
    }
    if (body != NULL)
        headers[n++] = "Content-Type: application/json";
    mm_test_http_resp r;
    mm_test_http(
        &(mm_test_http_req){
            .method = method, .url = url, .headers = headers, .body = body, .timeout_ms = timeout_ms, .reuse = !fresh},
        &r);
    memset(out, 0, sizeof(*out));
    out->status = r.status;
    out->curl_code = r.curl_code;
    out->body = r.body; /* taken over */
    r.body = NULL;
    out->json = json_loads(out->body, 0, NULL);
    mm_test_http_free(&r);
}

void
http_cleanup(void)
{
    mm_test_http_cleanup();
}

void
http_reply_free(http_reply *reply)
{
    free(reply->body);
    json_decref(reply->json);
    memset(reply, 0, sizeof(*reply));
}

long
sim_call(const sim_proc *sim, const char *method, const char *path, const char *body, json_t **json)
{
    char url[1024];
    http_reply r;
    snprintf(url, sizeof(url), "%s%s", sim->base, path);
    http_call(method, url, SIM_KEY, body, 0, false, &r);
    long status = r.status;
    if (json != NULL) {
        *json = r.json;
        r.json = NULL;
    }
    http_reply_free(&r);
    return status;
}

const char *
sim_create_session(const sim_proc *sim, const char *body)
{
    static char id[32];
    json_t *j = NULL;
    long st = sim_call(sim, "POST", "/v1/session", body, &j);
    const char *s = json_string_value(json_object_get(j, "session_id"));
    if (st != 200 || s == NULL || strlen(s) >= sizeof(id)) {
        fprintf(stderr, "POST /v1/session %s -> %ld\n", body, st);
        json_decref(j);
        return NULL;
    }
    snprintf(id, sizeof(id), "%s", s);
    json_decref(j);
    return id;
}

long long
sim_stat(const sim_proc *sim, const char *key)
{
    json_t *j = NULL;
    long long v = -1;
    if (sim_call(sim, "GET", "/__sim/stats", NULL, &j) == 200 && json_is_integer(json_object_get(j, key)))
        v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

json_t *
sim_wait_status(const sim_proc *sim, const char *id, const char *want, int timeout_ms)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/session/%s", id);
    long long deadline = mm_test_now_ms() + timeout_ms;
    for (;;) {
        json_t *j = NULL;
        sim_call(sim, "GET", path, NULL, &j);
        const char *st = json_string_value(json_object_get(j, "status"));
        if ((st != NULL && strcmp(st, want) == 0) || mm_test_now_ms() >= deadline)
            return j;
        json_decref(j);
        mm_test_sleep_ms(20);
    }
}

static bool
type_ok(const json_t *v, char t, bool nullable)
{
    if (v != NULL && json_is_null(v) && (nullable || t == 'n'))
        return true;
    switch (t) {
    case 's':
        return json_is_string(v);
    case 'i':
        return json_is_integer(v);
    case 'r':
        return json_is_real(v);
    case 'b':
        return json_is_boolean(v);
    case 'o':
        return json_is_object(v);
    case 'a':
        return json_is_array(v);
    default:
        return false;
    }
}

bool
check_shape(const json_t *obj, const char *spec, const char *where)
{
    bool ok = true, exact = spec[0] == '=';
    size_t named = 0;
    char copy[2048];
    snprintf(copy, sizeof(copy), "%s", exact ? spec + 1 : spec);
    if (!json_is_object(obj)) {
        fprintf(stderr, "%s: not a JSON object\n", where);
        MM_CHECK(json_is_object(obj));
        return false;
    }
    char *save = NULL;
    for (char *item = strtok_r(copy, " ", &save); item != NULL; item = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(item, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        bool nullable = colon[2] == '?';
        const json_t *v = json_object_get(obj, item);
        named++;
        if (v == NULL || !type_ok(v, colon[1], nullable)) {
            fprintf(stderr, "%s: field '%s' is %s, expected type %c%s\n", where, item, v == NULL ? "missing" : "mistyped", colon[1],
                    nullable ? " or null" : "");
            ok = false;
        }
    }
    if (exact && json_object_size(obj) != named) {
        fprintf(stderr, "%s: %zu fields, expected exactly %zu\n", where, json_object_size(obj), named);
        ok = false;
    }
    MM_CHECK(ok);
    return ok;
}

bool
is_edgegap_id(const char *text, bool session)
{
    if (text == NULL || strlen(text) != (session ? 14u : 12u))
        return false;
    for (int i = 0; i < 12; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return !session || strcmp(text + 12, "-S") == 0;
}
