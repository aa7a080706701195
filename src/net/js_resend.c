/*
 * Delayed resends of failed asynchronous JetStream publishes (js_resend.h).
 *
 * One process-wide scheduler: a list of registered contexts and a queue of messages ordered by
 * due time, both guarded by `mu`, and one thread that sleeps until the first is due. The thread
 * resends without holding `mu` (js_PublishMsgAsync may wait up to the context's StallWait), so
 * it marks the context busy first; unregistering waits until no resend of that context is
 * running. `life` serialises register/unregister, which start and join the thread, with each
 * other; the error handlers only ever take `mu`.
 */
#include "js_resend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "mm/metrics.h"

#define RESEND_QUEUE_MAX 65536

typedef struct reg {
    struct reg *next;
    jsCtx *ctx;
    int64_t first_ms, ack_wait_ms;
    int busy; /* resends of ctx in progress on the thread */
} reg;

typedef struct entry {
    struct entry *next;
    jsCtx *ctx;
    natsMsg *msg;
    uint64_t due_ms;
} entry;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t life = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled on a new entry, stop and a finished resend */
static reg *regs;           /* guarded by mu */
static entry *queue;        /* guarded by mu, by due time */
static int queued;          /* guarded by mu */
static bool running, stopping;
static pthread_t thread;
static atomic_ullong resent, dropped;
static uint64_t rng = 0x9e3779b97f4a7c15ULL; /* guarded by mu; jitter only */

static void
init_cond(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &ca);
    pthread_condattr_destroy(&ca);
}

static reg *
find(jsCtx *ctx)
{
    for (reg *r = regs; r != NULL; r = r->next)
        if (r->ctx == ctx)
            return r;
    return NULL;
}

static void
wait_until(uint64_t due_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = mm_now_ms(), ms = due_ms > now ? due_ms - now : 0;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&cond, &mu, &ts);
}

static void
resend(reg *r, entry *e)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = mm_js_ack_wait_ms(r->ack_wait_ms); /* without it a lost ack of the resend would never time
                                                     * out; on a grid: js_ack_wait.c */
    char subject[256];
    snprintf(subject, sizeof(subject), "%s", natsMsg_GetSubject(e->msg));
    natsStatus s = js_PublishMsgAsync(e->ctx, &e->msg, &po); /* takes the message on success */
    if (s == NATS_OK) {
        atomic_fetch_add(&resent, 1);
        mm_metric_inc(MM_METRIC_JS_RESENT);
    } else {
        atomic_fetch_add(&dropped, 1);
        mm_metric_inc(MM_METRIC_JS_GIVEN_UP);
        mm_error("jetstream: resending the publish to %s failed: %s; it is lost", subject, natsStatus_GetText(s));
        natsMsg_Destroy(e->msg);
    }
    free(e);
}

static void *
resend_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "js-resend");
    pthread_mutex_lock(&mu);
    while (!stopping) {
        if (queue == NULL) {
            pthread_cond_wait(&cond, &mu);
            continue;
        }
        if (queue->due_ms > mm_now_ms()) {
            wait_until(queue->due_ms);
            continue;
        }
        entry *e = queue;
        queue = e->next;
        queued--;
        reg *r = find(e->ctx); /* always found: unregistering removes a context's entries first */
        r->busy++;
        pthread_mutex_unlock(&mu);
        resend(r, e);
        pthread_mutex_lock(&mu);
        r->busy--;
        pthread_cond_broadcast(&cond);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* The delay after the failed_attempt-th failure (see js_resend.h). Called with mu held. */
static int64_t
delay_for(const reg *r, int failed_attempt)
{
    int64_t cap = 8 * r->first_ms, d = r->first_ms;
    for (int i = 1; i < failed_attempt && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    rng ^= rng << 13; /* xorshift64 */
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return d + (int64_t)(rng % (uint64_t)(d / 4 + 1));
}

mm_err
mm__js_resend_register(jsCtx *ctx, int64_t first_ms, int64_t ack_wait_ms)
{
    pthread_once(&once, init_cond);
    reg *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return MM_ERR_NOMEM;
    r->ctx = ctx;
    r->first_ms = first_ms > 0 ? first_ms : 1;
    r->ack_wait_ms = ack_wait_ms > 0 ? ack_wait_ms : 5000;
    mm_err err = MM_OK;
    pthread_mutex_lock(&life);
    if (!running) {
        pthread_mutex_lock(&mu);
        stopping = false;
        pthread_mutex_unlock(&mu);
        if (pthread_create(&thread, NULL, resend_main, NULL) != 0) {
            free(r);
            err = MM_ERR_SYS;
            goto cleanup;
        }
        running = true;
    }
    pthread_mutex_lock(&mu);
    r->next = regs;
    regs = r;
    pthread_mutex_unlock(&mu);
cleanup:
    pthread_mutex_unlock(&life);
    return err;
}

void
mm__js_resend_unregister(jsCtx *ctx)
{
    pthread_once(&once, init_cond);
    int lost = 0;
    bool last = false;
    pthread_mutex_lock(&life);
    pthread_mutex_lock(&mu);
    reg *r = find(ctx);
    if (r != NULL) {
        for (entry **p = &queue; *p != NULL;) {
            entry *e = *p;
            if (e->ctx != ctx) {
                p = &e->next;
                continue;
            }
            *p = e->next;
            queued--;
            natsMsg_Destroy(e->msg);
            free(e);
            lost++;
        }
        while (r->busy > 0)
            pthread_cond_wait(&cond, &mu);
        for (reg **p = &regs; *p != NULL; p = &(*p)->next) {
            if (*p == r) {
                *p = r->next;
                break;
            }
        }
        free(r);
        last = regs == NULL && running;
        if (last) {
            stopping = true;
            pthread_cond_broadcast(&cond);
        }
    }
    pthread_mutex_unlock(&mu);
    if (last) {
        pthread_join(thread, NULL);
        running = false;
    }
    pthread_mutex_unlock(&life);
    if (lost > 0) {
        atomic_fetch_add(&dropped, (unsigned long long)lost);
        for (int i = 0; i < lost; i++)
            mm_metric_inc(MM_METRIC_JS_GIVEN_UP);
        mm_warn("jetstream: %d failed publishes were waiting to be resent at shutdown; they are lost", lost);
    }
}

bool
mm__js_resend_schedule(jsCtx *ctx, natsMsg **msg, int failed_attempt, int64_t *delay_ms)
{
    pthread_once(&once, init_cond);
    entry *e = malloc(sizeof(*e));
    if (e == NULL)
        return false;
    e->ctx = ctx;
    pthread_mutex_lock(&mu);
    reg *r = find(ctx);
    if (r == NULL || stopping || queued >= RESEND_QUEUE_MAX) {
        pthread_mutex_unlock(&mu);
        free(e);
        return false;
    }
    *delay_ms = delay_for(r, failed_attempt);
    e->due_ms = mm_now_ms() + (uint64_t)*delay_ms;
    e->msg = *msg;
    *msg = NULL;
    entry **p = &queue;
    while (*p != NULL && (*p)->due_ms <= e->due_ms)
        p = &(*p)->next;
    e->next = *p;
    *p = e;
    queued++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
    return true;
}

void
mm__js_resend_counts(uint64_t *resent_out, uint64_t *dropped_out)
{
    if (resent_out != NULL)
        *resent_out = atomic_load(&resent);
    if (dropped_out != NULL)
        *dropped_out = atomic_load(&dropped);
}
