/*
 * The scripted test backend of front_harness.h. It owns one worker thread fed by a
 * mutex-protected job list: submit (on a loop thread) only queues, as the real backends do, so
 * the front's relay path is exercised from another thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "front_harness.h"
#include "mm/feedback.h"
#include "mm_test.h"

typedef struct job {
    struct job *next;
    tb_record rec;
    mm_reply_sink *sink;
    char script[MM_NAME_MAX_LEN + 1];
} job;

struct tb_backend {
    pthread_mutex_t mu;
    pthread_cond_t cond;    /* the worker waits on it */
    pthread_cond_t changed; /* tb_wait_submitted waits on it */
    pthread_t thread;
    bool stop;
    job *queue, *held;
    tb_record *recs;
    size_t nrecs, caprecs;
    atomic_bool ready;
    char wannaplay[MM_NAME_MAX_LEN + 1];
    atomic_bool webhook_refuse;
    char (*webhooks)[MM_FRONT_SESSION_ID_MAX + 1]; /* under mu */
    size_t nwebhooks, capwebhooks;
    char last_intent[72]; /* under mu: the intent of the last webhook_intent call ("" none) */
    atomic_size_t gone_reports; /* watch_gone calls for held requests (tb_gone_reports) */
};

/* A held request's sink reported its client gone (the relay sink's watch_gone, on a loop). */
static void
on_gone(void *ctx, uint64_t tag)
{
    (void)tag;
    tb_backend *b = ctx;
    atomic_fetch_add(&b->gone_reports, 1);
}

static void
send_text(mm_reply_sink *s, char *text, size_t len)
{
    if (text != NULL)
        mm_reply_send(s, text, len);
    free(text);
}

static void
run_happy(mm_reply_sink *s)
{
    char *t;
    size_t n;
    mm_feedback_acknowledged(&t, &n);
    send_text(s, t, n);
    mm_feedback_accepted(TB_SESSION, &t, &n);
    send_text(s, t, n);
    mm_feedback_progress("Status.SEEKING", 0, &t, &n);
    send_text(s, t, n);
    mm_feedback_progress("Status.READY", 1, &t, &n);
    send_text(s, t, n);
    mm_feedback_ready(TB_TOKEN, "172.104.236.32", 30004, "e3:76:aa", &t, &n);
    send_text(s, t, n);
    mm_reply_end(s);
}

static void
run_job(tb_backend *b, job *j)
{
    if (strcmp(j->script, "never") == 0 || strcmp(j->script, "held") == 0) {
        mm_reply_watch_gone(j->sink, on_gone, b, 0); /* the relay sink: true; counted by on_gone */
        pthread_mutex_lock(&b->mu);
        j->next = b->held;
        b->held = j;
        pthread_cond_broadcast(&b->changed);
        pthread_mutex_unlock(&b->mu);
        return;
    }
    if (strcmp(j->script, "error") == 0) {
        char *t;
        size_t n;
        mm_feedback_acknowledged(&t, &n);
        send_text(j->sink, t, n);
        mm_reply_error(j->sink, 500, "the test backend failed");
    } else if (strcmp(j->script, "conflict") == 0) {
        mm_reply_error(j->sink, 409, "no seats");
    } else if (strcmp(j->script, "many") == 0) {
        int count = atoi(j->rec.req.version);
        for (int i = 0; i < count; i++) {
            char *t;
            size_t n;
            mm_feedback_progress("n", i, &t, &n);
            send_text(j->sink, t, n);
        }
        mm_reply_end(j->sink);
    } else {
        run_happy(j->sink);
    }
    mm_reply_free(j->sink);
    free(j);
}

static void *
worker(void *arg)
{
    tb_backend *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        if (b->queue == NULL) {
            pthread_cond_wait(&b->cond, &b->mu);
            continue;
        }
        job *list = b->queue, *rev = NULL;
        b->queue = NULL;
        while (list != NULL) { /* the queue is pushed at its head: restore submission order */
            job *next = list->next;
            list->next = rev;
            rev = list;
            list = next;
        }
        pthread_mutex_unlock(&b->mu);
        while (rev != NULL) {
            job *next = rev->next;
            run_job(b, rev);
            rev = next;
        }
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static mm_err
tb_submit(void *ctx, const mm_front_request *req, mm_reply_sink *sink)
{
    tb_backend *b = ctx;
    const char *script = req->route == MM_FRONT_WANNAPLAY ? b->wannaplay : req->req.game;
    pthread_mutex_lock(&b->mu);
    if (b->nrecs == b->caprecs) {
        b->caprecs = b->caprecs ? b->caprecs * 2 : 64;
        b->recs = realloc(b->recs, b->caprecs * sizeof(*b->recs));
    }
    b->recs[b->nrecs++] = (tb_record){.id = req->id, .route = req->route, .req = req->req};
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->mu);
    if (strcmp(script, "busy") == 0)
        return MM_ERR_FULL;
    if (strcmp(script, "sync") == 0) {
        mm_reply_error(sink, 503, "no responders");
        mm_reply_free(sink);
        return MM_OK;
    }
    job *j = calloc(1, sizeof(*j));
    j->rec = b->recs[b->nrecs - 1];
    j->sink = sink;
    snprintf(j->script, sizeof(j->script), "%s", script);
    pthread_mutex_lock(&b->mu);
    j->next = b->queue;
    b->queue = j;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mu);
    return MM_OK;
}

static bool
tb_ready(void *ctx)
{
    return atomic_load(&((tb_backend *)ctx)->ready);
}

static size_t
tb_metrics(void *ctx, char *buf, size_t len)
{
    tb_backend *b = ctx;
    int n = snprintf(buf, len, "tb_backend_submitted %zu\n", tb_submitted(b));
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static mm_err
tb_webhook_op(void *ctx, const char *session_id)
{
    tb_backend *b = ctx;
    if (atomic_load(&b->webhook_refuse))
        return MM_ERR_FULL;
    pthread_mutex_lock(&b->mu);
    if (b->nwebhooks == b->capwebhooks) {
        b->capwebhooks = b->capwebhooks ? b->capwebhooks * 2 : 64;
        b->webhooks = realloc(b->webhooks, b->capwebhooks * sizeof(*b->webhooks));
    }
    snprintf(b->webhooks[b->nwebhooks++], sizeof(b->webhooks[0]), "%s", session_id);
    pthread_mutex_unlock(&b->mu);
    return MM_OK;
}

static mm_err
tb_webhook_intent_op(void *ctx, const char *session_id, const char *intent)
{
    tb_backend *b = ctx;
    mm_err err = tb_webhook_op(ctx, session_id);
    if (err == MM_OK) {
        pthread_mutex_lock(&b->mu);
        snprintf(b->last_intent, sizeof(b->last_intent), "%s", intent != NULL ? intent : "");
        pthread_mutex_unlock(&b->mu);
    }
    return err;
}

void
tb_last_intent(tb_backend *b, char *out, size_t len)
{
    pthread_mutex_lock(&b->mu);
    snprintf(out, len, "%s", b->last_intent);
    pthread_mutex_unlock(&b->mu);
}

void
tb_set_webhook_refuse(tb_backend *b, bool refuse)
{
    atomic_store(&b->webhook_refuse, refuse);
}

size_t
tb_webhooks(tb_backend *b)
{
    pthread_mutex_lock(&b->mu);
    size_t n = b->nwebhooks;
    pthread_mutex_unlock(&b->mu);
    return n;
}

bool
tb_webhook(tb_backend *b, size_t i, char *out)
{
    pthread_mutex_lock(&b->mu);
    bool ok = i < b->nwebhooks;
    if (ok)
        memcpy(out, b->webhooks[i], sizeof(b->webhooks[0]));
    pthread_mutex_unlock(&b->mu);
    return ok;
}

tb_backend *
tb_create(void)
{
    tb_backend *b = calloc(1, sizeof(*b));
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cond, NULL);
    pthread_cond_init(&b->changed, NULL);
    atomic_init(&b->ready, true);
    snprintf(b->wannaplay, sizeof(b->wannaplay), "happy");
    pthread_create(&b->thread, NULL, worker, b);
    return b;
}

void
tb_backend_iface(tb_backend *b, mm_front_backend *out)
{
    out->ctx = b;
    out->submit = tb_submit;
    out->ready = tb_ready;
    out->metrics = tb_metrics;
    out->webhook = tb_webhook_op;
    out->webhook_intent = tb_webhook_intent_op;
}

void
tb_set_ready(tb_backend *b, bool ready)
{
    atomic_store(&b->ready, ready);
}

void
tb_set_wannaplay_script(tb_backend *b, const char *script)
{
    pthread_mutex_lock(&b->mu);
    snprintf(b->wannaplay, sizeof(b->wannaplay), "%s", script);
    pthread_mutex_unlock(&b->mu);
}

size_t
tb_gone_reports(tb_backend *b)
{
    return atomic_load(&b->gone_reports);
}

size_t
tb_release(tb_backend *b)
{
    pthread_mutex_lock(&b->mu);
    job *list = b->held;
    b->held = NULL;
    pthread_mutex_unlock(&b->mu);
    size_t n = 0;
    while (list != NULL) {
        job *next = list->next;
        if (strcmp(list->script, "held") == 0)
            run_happy(list->sink);
        else
            mm_reply_end(list->sink);
        mm_reply_free(list->sink);
        free(list);
        list = next;
        n++;
    }
    return n;
}

size_t
tb_submitted(tb_backend *b)
{
    pthread_mutex_lock(&b->mu);
    size_t n = b->nrecs;
    pthread_mutex_unlock(&b->mu);
    return n;
}

static bool
wait_for(tb_backend *b, size_t (*count)(tb_backend *), size_t n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&b->mu);
    int rc = 0;
    while (count(b) < n && rc == 0)
        rc = pthread_cond_timedwait(&b->changed, &b->mu, &until);
    bool ok = count(b) >= n;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

/* Under b->mu. */
static size_t
count_submitted(tb_backend *b)
{
    return b->nrecs;
}

static size_t
count_held(tb_backend *b)
{
    size_t n = 0;
    for (job *j = b->held; j != NULL; j = j->next)
        n++;
    return n;
}

bool
tb_wait_submitted(tb_backend *b, size_t n, int timeout_ms)
{
    return wait_for(b, count_submitted, n, timeout_ms);
}

bool
tb_wait_held(tb_backend *b, size_t n, int timeout_ms)
{
    return wait_for(b, count_held, n, timeout_ms);
}

size_t
tb_held(tb_backend *b)
{
    pthread_mutex_lock(&b->mu);
    size_t n = count_held(b);
    pthread_mutex_unlock(&b->mu);
    return n;
}

bool
tb_request(tb_backend *b, size_t i, tb_record *out)
{
    pthread_mutex_lock(&b->mu);
    bool ok = i < b->nrecs;
    if (ok)
        *out = b->recs[i];
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void
tb_stop(tb_backend *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    bool was = b->stop;
    b->stop = true;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->mu);
    if (!was)
        pthread_join(b->thread, NULL);
    for (job *lists[2] = {b->queue, b->held}, **l = lists; l < lists + 2; l++)
        while (*l != NULL) {
            job *next = (*l)->next;
            mm_reply_free((*l)->sink);
            free(*l);
            *l = next;
        }
    b->queue = b->held = NULL;
}

void
tb_destroy(tb_backend *b)
{
    if (b == NULL)
        return;
    tb_stop(b);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cond);
    pthread_cond_destroy(&b->changed);
    free(b->recs);
    free(b->webhooks);
    free(b);
}

