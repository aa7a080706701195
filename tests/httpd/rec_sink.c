/* The recording sink of rec_sink.h: one global lock and condition for every record. */
#include "rec_sink.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_test.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static mm_err
rec_send(mm_reply_sink *base, const char *text, size_t len)
{
    rec_sink *r = (rec_sink *)base;
    mm_err err = MM_OK;
    pthread_mutex_lock(&mu);
    if (r->ended) {
        r->after_end++;
        err = MM_ERR_STOPPED;
    } else if (r->n < REC_MAX_TEXTS) {
        r->texts[r->n] = strndup(text, len);
        r->n++;
    } else {
        r->overflow++;
    }
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
    return err;
}

static mm_err
rec_end(mm_reply_sink *base)
{
    rec_sink *r = (rec_sink *)base;
    pthread_mutex_lock(&mu);
    r->ended = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
    return MM_OK;
}

static mm_err
rec_error(mm_reply_sink *base, uint16_t status, const char *message)
{
    rec_sink *r = (rec_sink *)base;
    pthread_mutex_lock(&mu);
    if (r->ended) {
        r->after_end++;
        pthread_mutex_unlock(&mu);
        return MM_ERR_STOPPED;
    }
    r->has_error = true;
    r->status = status;
    snprintf(r->message, sizeof(r->message), "%s", message);
    pthread_mutex_unlock(&mu);
    return rec_end(base);
}

static void
rec_release(mm_reply_sink *base)
{
    rec_sink *r = (rec_sink *)base;
    pthread_mutex_lock(&mu);
    if (!r->ended)
        r->freed_before_end = true;
    r->freed = true;
    r->gone_cb = NULL; /* no watcher call after free(), as the relay sink promises */
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
}

static const mm_reply_sink_ops rec_ops = {
    .kind = "test-record",
    .send = rec_send,
    .error = rec_error,
    .end = rec_end,
    .free = rec_release,
};

static bool
rec_gone(mm_reply_sink *base)
{
    rec_sink *r = (rec_sink *)base;
    pthread_mutex_lock(&mu);
    bool gone = r->gone;
    pthread_mutex_unlock(&mu);
    return gone;
}

/* Under mu: the watcher's one call (free() clears it, as the relay sink does). */
static void
rec_notify(rec_sink *r)
{
    void (*cb)(void *, uint64_t) = r->gone_cb;
    r->gone_cb = NULL;
    if (cb != NULL && !r->freed)
        cb(r->gone_ctx, r->gone_tag);
}

static void
rec_watch_gone(mm_reply_sink *base, void (*cb)(void *ctx, uint64_t tag), void *ctx, uint64_t tag)
{
    rec_sink *r = (rec_sink *)base;
    pthread_mutex_lock(&mu);
    r->watches++;
    r->gone_cb = cb;
    r->gone_ctx = ctx;
    r->gone_tag = tag;
    if (r->gone)
        rec_notify(r);
    pthread_mutex_unlock(&mu);
}

static const mm_reply_sink_ops rec_watch_ops = {
    .kind = "test-record-watchable",
    .send = rec_send,
    .error = rec_error,
    .end = rec_end,
    .free = rec_release,
    .gone = rec_gone,
    .watch_gone = rec_watch_gone,
};

static const mm_reply_sink_ops rec_poll_ops = {
    .kind = "test-record-pollable",
    .send = rec_send,
    .error = rec_error,
    .end = rec_end,
    .free = rec_release,
    .gone = rec_gone,
};

rec_sink *
rec_new_pollable(void)
{
    rec_sink *r = rec_new();
    r->base.ops = &rec_poll_ops;
    return r;
}

rec_sink *
rec_new_watchable(void)
{
    rec_sink *r = rec_new();
    r->base.ops = &rec_watch_ops;
    return r;
}

void
rec_leave(rec_sink *r)
{
    pthread_mutex_lock(&mu);
    r->gone = true;
    rec_notify(r);
    pthread_mutex_unlock(&mu);
}

rec_sink *
rec_new(void)
{
    rec_sink *r = calloc(1, sizeof(*r));
    MM_REQUIRE(r != NULL);
    r->base.ops = &rec_ops;
    return r;
}

void
rec_free(rec_sink *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->n; i++)
        free(r->texts[i]);
    free(r);
}

static bool
wait_until(rec_sink *r, int n, bool freed, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (!((freed && r->freed) || (!freed && r->n >= n)) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&cond, &mu, &until);
    bool ok = freed ? r->freed : r->n >= n;
    pthread_mutex_unlock(&mu);
    return ok;
}

bool
rec_wait_freed(rec_sink *r, int timeout_ms)
{
    return wait_until(r, 0, true, timeout_ms);
}

bool
rec_wait_texts(rec_sink *r, int n, int timeout_ms)
{
    return wait_until(r, n, false, timeout_ms);
}

int
rec_count(rec_sink *r)
{
    pthread_mutex_lock(&mu);
    int n = r->n;
    pthread_mutex_unlock(&mu);
    return n;
}
