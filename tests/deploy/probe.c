/*
 * See probe.h. Each request has a slot (result + body buffer); the curl handle's private
 * pointer names it. The body is kept whole (a streamed answer is a few short JSON lines) and
 * read when the transfer ends: the accepted session id, then the last line decides the outcome.
 */
#include "probe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "mm/clock.h"

#define MAX_PROBES 1024
#define BODY_MAX 8192

typedef struct slot {
    cf_probe_result r;
    CURL *easy;
    size_t used;
    char body[BODY_MAX];
} slot;

struct cf_probe {
    char url[256];
    int period_ms, timeout_ms;
    pthread_t thread;
    atomic_bool stopping;
    atomic_int started;
    slot *slots; /* MAX_PROBES, written by the thread only until it is joined */
    cf_probe_result *results;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    slot *s = ud;
    size_t n = size * nmemb, room = BODY_MAX - 1 - s->used, take = n < room ? n : room;
    memcpy(s->body + s->used, data, take);
    s->used += take;
    s->body[s->used] = '\0';
    return n;
}

/* Decides s's outcome from its body and the transfer's result. */
static void
finish(slot *s, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    s->r.end_ms = mm_now_ms();
    const char *acc = strstr(s->body, "{\"SessionRequestAccepted\":\"");
    if (acc != NULL) {
        acc += strlen("{\"SessionRequestAccepted\":\"");
        const char *q = strchr(acc, '"');
        if (q != NULL && (size_t)(q - acc) < sizeof(s->r.session))
            snprintf(s->r.session, sizeof(s->r.session), "%.*s", (int)(q - acc), acc);
    }
    /* the last non-empty line */
    size_t end = s->used;
    while (end > 0 && (s->body[end - 1] == '\n' || s->body[end - 1] == '\r'))
        end--;
    size_t start = end;
    while (start > 0 && s->body[start - 1] != '\n')
        start--;
    snprintf(s->r.last, sizeof(s->r.last), "%.*s", (int)(end - start), s->body + start);
    if (rc == CURLE_OK && status == 200 && strncmp(s->r.last, "{\"SessionReady\":", 16) == 0) {
        s->r.outcome = CF_READY;
    } else if (strncmp(s->r.last, "{\"Error\":[", 10) == 0) {
        s->r.outcome = CF_ERROR;
        s->r.code = atoi(s->r.last + 10);
    } else {
        s->r.outcome = CF_BROKEN;
        s->r.code = rc != CURLE_OK ? -(int)rc : (int)status;
        if (rc != CURLE_OK)
            snprintf(s->r.last, sizeof(s->r.last), "curl: %s", curl_easy_strerror(rc));
    }
    curl_easy_cleanup(s->easy);
    s->easy = NULL;
}

static bool
start_one(cf_probe *p, CURLM *multi, int k)
{
    slot *s = &p->slots[k];
    char body[96];
    snprintf(body, sizeof(body), "{\"client_ip\":\"82.0.%d.%d\"}", (k / 250) % 250, k % 250 + 1);
    if ((s->easy = curl_easy_init()) == NULL)
        return false;
    s->r.start_ms = mm_now_ms();
    curl_easy_setopt(s->easy, CURLOPT_URL, p->url);
    curl_easy_setopt(s->easy, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, (void *)s);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (void *)s);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_FORBID_REUSE, 1L);
    return curl_multi_add_handle(multi, s->easy) == CURLM_OK;
}

static void *
probe_main(void *arg)
{
    cf_probe *p = arg;
    CURLM *multi = curl_multi_init();
    int running = 0, n = 0;
    uint64_t next = mm_now_ms();
    while (multi != NULL && (!atomic_load(&p->stopping) || running > 0)) {
        if (!atomic_load(&p->stopping) && mm_now_ms() >= next && n < MAX_PROBES) {
            if (start_one(p, multi, n))
                atomic_store(&p->started, ++n);
            next += (uint64_t)p->period_ms;
        }
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode rc = m->data.result;
            curl_multi_remove_handle(multi, m->easy_handle);
            finish(s, rc);
        }
        curl_multi_poll(multi, NULL, 0, 20, NULL);
    }
    curl_multi_cleanup(multi);
    return NULL;
}

cf_probe *
cf_probe_start(const char *url, int period_ms, int timeout_ms)
{
    cf_probe *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->slots = calloc(MAX_PROBES, sizeof(slot))) == NULL) {
        free(p);
        return NULL;
    }
    snprintf(p->url, sizeof(p->url), "%s", url);
    p->period_ms = period_ms;
    p->timeout_ms = timeout_ms;
    if (pthread_create(&p->thread, NULL, probe_main, p) != 0) {
        free(p->slots);
        free(p);
        return NULL;
    }
    return p;
}

int
cf_probe_started(cf_probe *p)
{
    return atomic_load(&p->started);
}

void
cf_probe_stop(cf_probe *p)
{
    atomic_store(&p->stopping, true);
    pthread_join(p->thread, NULL);
    int n = atomic_load(&p->started);
    p->results = calloc((size_t)n + 1, sizeof(*p->results));
    for (int i = 0; p->results != NULL && i < n; i++)
        p->results[i] = p->slots[i].r;
    free(p->slots);
    p->slots = NULL;
}

const cf_probe_result *
cf_probe_results(cf_probe *p, int *n)
{
    *n = p->results != NULL ? atomic_load(&p->started) : 0;
    return p->results;
}

int
cf_probe_recovery(cf_probe *p, uint64_t fault_ms, uint64_t until_ms, uint64_t *first_ready_ms, uint64_t *recovered_ms)
{
    int n = 0, failed = 0;
    const cf_probe_result *r = cf_probe_results(p, &n);
    uint64_t last_failed_start = 0;
    *first_ready_ms = *recovered_ms = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        /* a probe still running at the next fault is that fault's request in flight */
        if (r[i].start_ms < fault_ms || r[i].start_ms >= until_ms || r[i].end_ms >= until_ms)
            continue;
        if (r[i].outcome != CF_READY) {
            failed++;
            last_failed_start = r[i].start_ms;
        } else if (*first_ready_ms == UINT64_MAX || r[i].end_ms - fault_ms < *first_ready_ms) {
            *first_ready_ms = r[i].end_ms - fault_ms;
        }
    }
    for (int i = 0; i < n; i++) {
        if (r[i].start_ms < fault_ms || r[i].start_ms >= until_ms || r[i].end_ms >= until_ms || r[i].outcome != CF_READY)
            continue;
        if (r[i].start_ms > last_failed_start && (*recovered_ms == UINT64_MAX || r[i].end_ms - fault_ms < *recovered_ms))
            *recovered_ms = r[i].end_ms - fault_ms;
    }
    return failed;
}

void
cf_probe_destroy(cf_probe *p)
{
    if (p == NULL)
        return;
    free(p->slots);
    free(p->results);
    free(p);
}
