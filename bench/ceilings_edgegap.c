/*
 * mm_ceilings edgegap-time: Edgegap's own share of a session's time-to-ready, measured against
 * the simulator alone (bench/ceilings.h), for "latency added by us" = mm_bench's time-to-ready
 * minus this, at the same rate.
 *
 * An open loop on one thread with libcurl multi (keep-alive, as the matchmaker's client): session
 * k starts at t0 + k / rate whatever the simulator does; its time counts from that scheduled
 * start (so queueing here is not hidden) to the answer of the GET that says ready. Steps:
 * POST /v1/session -> GET /v1/session/{id} at once (again at once while not ready, counted in
 * extra_polls) -> DELETE (not timed: the matchmaker's deletes are not on a client's path).
 * Samples are kept exactly (one u64 per session) and sorted at the end.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ceilings.h"
#include "mm/clock.h"

#define BODY_MAX 8192
#define SLOTS 256

enum step { STEP_FREE, STEP_CREATE, STEP_GET, STEP_DELETE };

typedef struct op {
    CURL *easy;
    enum step step;
    uint64_t start_ns;
    char session_id[64];
    char body[BODY_MAX];
    size_t len;
} op;

typedef struct loop {
    CURLM *multi;
    struct curl_slist *headers;
    const char *base;
    char create_body[256]; /* CURLOPT_POSTFIELDS does not copy: it lives as long as the loop */
    op *ops; /* SLOTS of them */
    uint64_t *samples; /* microseconds, one per ready session */
    size_t n_samples, cap_samples;
    uint64_t errors, extra_polls; /* errors include starts skipped because SLOTS sessions were in flight */
    int active;
} loop;

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
    op *o = arg;
    size_t len = size * n, room = sizeof(o->body) - 1 - o->len;
    size_t take = len < room ? len : room;
    memcpy(o->body + o->len, data, take);
    o->len += take;
    return len;
}

/* Starts step s of o (the easy handle is reused: its connection stays alive). */
static void
op_issue(loop *l, op *o, enum step s)
{
    char url[512];
    o->step = s;
    o->len = 0;
    curl_easy_setopt(o->easy, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(o->easy, CURLOPT_HTTPGET, 1L);
    if (s == STEP_CREATE) {
        snprintf(url, sizeof(url), "%s/v1/session", l->base);
        curl_easy_setopt(o->easy, CURLOPT_POSTFIELDS, l->create_body);
    } else {
        snprintf(url, sizeof(url), "%s/v1/session/%s", l->base, o->session_id);
        if (s == STEP_DELETE)
            curl_easy_setopt(o->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(o->easy, CURLOPT_URL, url);
    curl_multi_add_handle(l->multi, o->easy);
}

static void
op_done(loop *l, op *o)
{
    o->step = STEP_FREE;
    l->active--;
}

static void
record(loop *l, uint64_t us)
{
    if (l->n_samples == l->cap_samples) {
        size_t cap = l->cap_samples ? l->cap_samples * 2 : 4096;
        uint64_t *n = realloc(l->samples, cap * sizeof(*n));
        if (n == NULL) {
            l->errors++;
            return;
        }
        l->samples = n;
        l->cap_samples = cap;
    }
    l->samples[l->n_samples++] = us;
}

/* One finished transfer: moves its op to the next step. */
static void
op_answered(loop *l, op *o, CURLcode result, long status)
{
    o->body[o->len] = '\0';
    curl_multi_remove_handle(l->multi, o->easy);
    if (result != CURLE_OK || status != 200) {
        l->errors++;
        op_done(l, o);
        return;
    }
    if (o->step == STEP_DELETE) {
        op_done(l, o);
        return;
    }
    json_t *j = json_loads(o->body, 0, NULL);
    if (o->step == STEP_CREATE) {
        const char *id = json_string_value(json_object_get(j, "session_id"));
        if (id == NULL || strlen(id) >= sizeof(o->session_id)) {
            l->errors++;
            op_done(l, o);
        } else {
            snprintf(o->session_id, sizeof(o->session_id), "%s", id);
            op_issue(l, o, STEP_GET);
        }
    } else if (json_is_true(json_object_get(j, "ready"))) {
        record(l, (mm_now_ns() - o->start_ns) / 1000);
        op_issue(l, o, STEP_DELETE);
    } else {
        l->extra_polls++;
        op_issue(l, o, STEP_GET);
    }
    json_decref(j);
}

static void
drain_messages(loop *l)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(l->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        op *o = NULL;
        long status = 0;
        CURLcode result = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&o);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        op_answered(l, o, result, status);
    }
}

static op *
free_op(loop *l)
{
    for (int i = 0; i < SLOTS; i++)
        if (l->ops[i].step == STEP_FREE)
            return &l->ops[i];
    return NULL;
}

int
mm__ceil_edgegap_time(const char *base_url, const char *api_key, const char *app, double rate, double seconds)
{
    loop l = {.base = base_url};
    int rc = 1;
    json_t *req = json_pack("{s:s, s:[s]}", "app_name", app, "ip_list", "81.128.157.100");
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (text == NULL || strlen(text) >= sizeof(l.create_body)) {
        fprintf(stderr, "mm_ceilings: edgegap-time: bad app name\n");
        free(text);
        return 2;
    }
    snprintf(l.create_body, sizeof(l.create_body), "%s", text);
    free(text);
    char auth[512];
    l.ops = calloc(SLOTS, sizeof(*l.ops));
    if (l.ops == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        free(l.ops);
        return 1;
    }
    snprintf(auth, sizeof(auth), "authorization: %s", api_key);
    l.headers = curl_slist_append(NULL, auth);
    l.headers = l.headers ? curl_slist_append(l.headers, "content-type: application/json") : NULL;
    l.multi = curl_multi_init();
    if (l.headers == NULL || l.multi == NULL)
        goto cleanup;
    for (int i = 0; i < SLOTS; i++) {
        op *o = &l.ops[i];
        o->easy = curl_easy_init();
        if (o->easy == NULL)
            goto cleanup;
        curl_easy_setopt(o->easy, CURLOPT_HTTPHEADER, l.headers);
        curl_easy_setopt(o->easy, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(o->easy, CURLOPT_WRITEDATA, o);
        curl_easy_setopt(o->easy, CURLOPT_PRIVATE, (char *)o);
        curl_easy_setopt(o->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(o->easy, CURLOPT_TIMEOUT_MS, 10000L);
    }

    uint64_t total = (uint64_t)(rate * seconds), started = 0, t0 = mm_now_ns();
    while (started < total || l.active > 0) {
        uint64_t now = mm_now_ns();
        while (started < total && t0 + (uint64_t)((double)started * 1e9 / rate) <= now) {
            op *o = free_op(&l);
            if (o == NULL) { /* SLOTS sessions in flight: a failure to keep up */
                l.errors++;
            } else {
                o->start_ns = t0 + (uint64_t)((double)started * 1e9 / rate);
                l.active++;
                op_issue(&l, o, STEP_CREATE);
            }
            started++;
        }
        int running = 0;
        curl_multi_perform(l.multi, &running);
        drain_messages(&l);
        int wait_ms = 100;
        if (started < total) {
            uint64_t next = t0 + (uint64_t)((double)started * 1e9 / rate), now2 = mm_now_ns();
            wait_ms = next > now2 ? (int)((next - now2) / 1000000) : 0;
        }
        curl_multi_poll(l.multi, NULL, 0, wait_ms, NULL);
    }
    char pct[256];
    mm__ceil_percentiles(l.samples, l.n_samples, pct, sizeof(pct));
    printf("{\"rate\": %.1f, \"sessions\": %" PRIu64 ", \"ready\": %zu, \"errors\": %" PRIu64 ", \"extra_polls\": %" PRIu64
           ", \"latency_ms\": {%s}}\n",
           rate, total, l.n_samples, l.errors, l.extra_polls, pct);
    rc = l.errors == 0 ? 0 : 1;

cleanup:
    for (int i = 0; i < SLOTS; i++)
        if (l.ops[i].easy != NULL) {
            curl_multi_remove_handle(l.multi, l.ops[i].easy);
            curl_easy_cleanup(l.ops[i].easy);
        }
    free(l.ops);
    if (l.multi != NULL)
        curl_multi_cleanup(l.multi);
    curl_slist_free_all(l.headers);
    free(l.samples);
    curl_global_cleanup();
    return rc;
}
