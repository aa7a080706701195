/*
 * Helpers shared by the Edgegap client tests (edgegap_test_util.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mm_test.h"
#include "mm_test_http.h"
#include "edgegap_test_util.h"

int
eg_sim_start(eg_sim *sim, const char *const *extra)
{
    return mm_test_sim_start(sim, EG_KEY, extra, NULL);
}

int
eg_sim_stop(eg_sim *sim)
{
    int rc = mm_test_stop(sim->pid, 5000);
    sim->pid = 0;
    return rc;
}

long
eg_sim_call(const eg_sim *sim, const char *method, const char *path, const char *auth, const char *body, json_t **json)
{
    char url[1024], auth_line[256];
    const char *headers[2] = {NULL, NULL};
    snprintf(url, sizeof(url), "%s%s", sim->base, path);
    if (auth != NULL) {
        snprintf(auth_line, sizeof(auth_line), "authorization: %s", auth);
        headers[0] = auth_line;
    }
    mm_test_http_resp r;
    long status =
        mm_test_http(&(mm_test_http_req){.method = method, .url = url, .headers = headers, .body = body, .reuse = true}, &r);
    if (json != NULL)
        *json = r.body_len > 0 ? json_loads(r.body, 0, NULL) : NULL;
    mm_test_http_free(&r);
    return status;
}

bool
eg_sim_faults(const eg_sim *sim, const char *body)
{
    long st = eg_sim_call(sim, "POST", "/__sim/faults", NULL, body, NULL);
    if (st != 200)
        fprintf(stderr, "POST /__sim/faults %s -> %ld\n", body, st);
    return st == 200;
}

long long
eg_sim_stat(const eg_sim *sim, const char *key)
{
    json_t *j = NULL, *v;
    char first[64];
    long long out = -1;
    const char *dot = strchr(key, '.');
    if (eg_sim_call(sim, "GET", "/__sim/stats", NULL, NULL, &j) == 200) {
        if (dot != NULL) {
            snprintf(first, sizeof(first), "%.*s", (int)(dot - key), key);
            v = json_object_get(json_object_get(j, first), dot + 1);
        } else {
            v = json_object_get(j, key);
        }
        if (json_is_integer(v))
            out = json_integer_value(v);
    }
    json_decref(j);
    return out;
}

const char *
eg_sim_message(const eg_sim *sim, const char *method, const char *path, const char *auth)
{
    static char message[512];
    json_t *j = NULL;
    eg_sim_call(sim, method, path, auth, NULL, &j);
    const char *m = json_string_value(json_object_get(j, "message"));
    snprintf(message, sizeof(message), "%s", m != NULL ? m : "");
    json_decref(j);
    return message;
}

void
eg_sim_http_cleanup(void)
{
    mm_test_http_cleanup();
}

static void
copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

void
eg_record(void *ctx, const mm_edgegap_result *r)
{
    eg_rec *rec = ctx;
    rec->calls++;
    if (rec->counter != NULL)
        (*rec->counter)++;
    rec->op = r->op;
    rec->outcome = r->outcome;
    rec->status = r->status;
    rec->retryable = mm_edgegap_retryable(r);
    rec->timed_out = r->timed_out;
    rec->not_sent = r->not_sent;
    rec->has_json = r->json != NULL;
    copy(rec->message, sizeof(rec->message), r->message);
    copy(rec->subject, sizeof(rec->subject), r->subject);
    copy(rec->name, sizeof(rec->name), r->name);
    copy(rec->session_id, sizeof(rec->session_id), r->session_id);
    copy(rec->session_status, sizeof(rec->session_status), r->session_status);
    copy(rec->error, sizeof(rec->error), r->error);
    copy(rec->public_ip, sizeof(rec->public_ip), r->public_ip);
    rec->is_active = r->is_active;
    rec->ready = r->ready;
    rec->linked = r->linked;
    rec->has_error = r->has_error;
    rec->has_deployment = r->has_deployment;
    rec->elapsed = r->elapsed;
    rec->n_ports = r->n_ports;
    for (size_t i = 0; i < r->n_ports && i < 8; i++) {
        copy(rec->port_names[i], sizeof(rec->port_names[i]), r->ports[i].name);
        copy(rec->port_protocols[i], sizeof(rec->port_protocols[i]), r->ports[i].protocol);
        rec->port_external[i] = r->ports[i].external;
        rec->port_internal[i] = r->ports[i].internal;
    }
    rec->port_why[0] = '\0';
    rec->port_err = mm_edgegap_session_port(r, rec->port_name, &rec->port, rec->port_why, sizeof(rec->port_why));
    rec->json_text[0] = '\0';
    if (r->json != NULL) {
        char *text = json_dumps(r->json, JSON_COMPACT);
        copy(rec->json_text, sizeof(rec->json_text), text);
        free(text);
    }
}

bool
eg_drive(mm_edgegap *eg, const int *counter, int target, int timeout_ms)
{
    long long deadline = mm_test_now_ms() + timeout_ms;
    while (*counter < target) {
        long long left = deadline - mm_test_now_ms();
        if (left <= 0)
            return false;
        mm_edgegap_fds_wait(eg, -1, left < 100 ? (int)left : 100);
        mm_edgegap_perform(eg);
    }
    return true;
}

mm_edgegap *
eg_client(const char *base, const char *key, uint32_t max_in_flight, uint32_t max_queued, uint32_t timeout_ms)
{
    mm_edgegap_config cfg = {
        .base_url = base,
        .api_key = key,
        .max_in_flight = max_in_flight,
        .max_queued = max_queued,
        .request_timeout_ms = timeout_ms,
    };
    mm_edgegap *eg = NULL;
    char why[256] = "";
    mm_err err = mm_edgegap_create(&cfg, &eg, why, sizeof(why));
    if (err != MM_OK)
        fprintf(stderr, "mm_edgegap_create: %s\n", why);
    MM_REQUIRE(err == MM_OK && eg != NULL);
    return eg;
}

bool
eg_contains(const char *text, const char *part)
{
    return text != NULL && part != NULL && strcasestr(text, part) != NULL;
}
