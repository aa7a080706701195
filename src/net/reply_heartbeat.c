/*
 * The heartbeat thread of the NATS reply sinks (include/mm/reply.h, "Heartbeats"; docs/protocol.md
 * section 3): keeps every attached sink's front informed that the matchmaker still holds its
 * request.
 *
 * Owns: the list of attached sinks (under `mu`; the sinks themselves stay their holders'), a
 * thread ("reply-hb") that wakes every TICK_MS. Receives: attach (any thread holding a sink),
 * detach (the holder, when the sink ends or is freed). Sends: an empty core NATS message with
 * the header Mm-Heartbeat: <interval> to the reply subject of each sink that published nothing
 * for its interval.
 * Never: touches a sink outside the lock (the subjects due are copied under it and published
 * after it, so a holder that ends or frees its sink waits at most for one copy loop, never for
 * a publish); publishes for a sink after its detach returned (a heartbeat copied just before
 * may still leave after the sink's end: a front drops a reply for a request it no longer has).
 * A publish is buffered by nats.c and never blocks.
 *
 * Cancel (include/mm/reply.h, "Cancel"): every heartbeat carries the reply subject
 * mm.cancel.<this process's nuid>.<the sink's token>; one wildcard subscription,
 * mm.cancel.<nuid>.*, takes a front's cancel on nats.c's delivery thread, finds the listed sink
 * of that token under `mu` (a walk of the list: cancels are rare next to the 100 ms tick's own
 * walk) and sets its `gone` flag, which the holder reads through the sink's gone() op. A cancel
 * for a sink no longer listed (it ended, or another process's) finds nothing and is counted.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "mm/parse.h"
#include "reply_nats_internal.h"

#define TICK_MS 100

struct mm_reply_heartbeat {
    natsConnection *nc;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;       /* under mu */
    nats_sink *head; /* under mu */
    atomic_uint_fast64_t attached, sent, failed, live, cancels, cancels_unknown;
    natsSubscription *cancel_sub;
    char cancel_prefix[64]; /* mm.cancel.<nuid> */
    uint64_t next_token;    /* under mu */
};

typedef struct hb_due {
    char *subject;
    uint32_t ms;
    uint64_t token;
} hb_due;

static void
hb_publish(mm_reply_heartbeat *hb, const char *subject, uint32_t ms, uint64_t token)
{
    natsMsg *msg = NULL;
    char value[16], cancel[96];
    snprintf(value, sizeof(value), "%u", (unsigned)ms);
    snprintf(cancel, sizeof(cancel), "%s.%llu", hb->cancel_prefix, (unsigned long long)token);
    natsStatus s = natsMsg_Create(&msg, subject, cancel, NULL, 0);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, MM_REPLY_HEARTBEAT_HEADER, value);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(hb->nc, msg);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) {
        atomic_fetch_add(&hb->sent, 1);
    } else if (atomic_fetch_add(&hb->failed, 1) % 1000 == 0) {
        mm_warn("heartbeat: publishing to %s failed: %s", subject, natsStatus_GetText(s));
    }
}

/* Under mu: copies the subjects whose sink was silent for its interval into *due (grown as needed). */
static size_t
hb_collect(mm_reply_heartbeat *hb, hb_due **due, size_t *cap)
{
    uint64_t now = mm_now_ms();
    size_t n = 0;
    for (nats_sink *s = hb->head; s != NULL; s = s->hb_next) {
        uint64_t last = atomic_load(&s->last_ms); /* a holder may have stored a time after `now` */
        if (last >= now || now - last < s->hb_ms)
            continue;
        if (n == *cap) {
            size_t grown = *cap != 0 ? *cap * 2 : 64;
            hb_due *more = realloc(*due, grown * sizeof(**due));
            if (more == NULL)
                break; /* the rest wait for the next tick */
            *due = more;
            *cap = grown;
        }
        char *copy = strdup(s->subject);
        if (copy == NULL)
            break;
        (*due)[n++] = (hb_due){.subject = copy, .ms = s->hb_ms, .token = s->hb_token};
        atomic_store(&s->last_ms, now);
    }
    return n;
}

static void *
hb_main(void *arg)
{
    mm_reply_heartbeat *hb = arg;
    pthread_setname_np(pthread_self(), "reply-hb");
    hb_due *due = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&hb->mu);
    while (!hb->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!hb->stop && pthread_cond_timedwait(&hb->cond, &hb->mu, &until) != ETIMEDOUT)
            ;
        if (hb->stop)
            break;
        size_t n = hb_collect(hb, &due, &cap);
        pthread_mutex_unlock(&hb->mu);
        for (size_t i = 0; i < n; i++) {
            hb_publish(hb, due[i].subject, due[i].ms, due[i].token);
            free(due[i].subject);
        }
        pthread_mutex_lock(&hb->mu);
    }
    pthread_mutex_unlock(&hb->mu);
    free(due);
    return NULL;
}

/* nats.c's delivery thread: a front's cancel on mm.cancel.<nuid>.<token>. */
static void
on_cancel(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    mm_reply_heartbeat *hb = closure;
    const char *subject = natsMsg_GetSubject(msg);
    size_t plen = strlen(hb->cancel_prefix);
    uint64_t token = 0;
    bool found = false;
    if (subject != NULL && strncmp(subject, hb->cancel_prefix, plen) == 0 && subject[plen] == '.' &&
        mm_parse_u64(subject + plen + 1, 1, UINT64_MAX, &token, NULL, 0) == MM_OK) {
        pthread_mutex_lock(&hb->mu);
        for (nats_sink *s = hb->head; s != NULL; s = s->hb_next)
            if (s->hb_token == token) {
                atomic_store(&s->gone, true);
                found = true;
                break;
            }
        pthread_mutex_unlock(&hb->mu);
    }
    atomic_fetch_add(found ? &hb->cancels : &hb->cancels_unknown, 1);
    mm_debug("heartbeat: a cancel on %s%s", subject != NULL ? subject : "?", found ? "" : " for no request held here");
    natsMsg_Destroy(msg);
}

mm_err
mm_reply_heartbeat_start(natsConnection *nc, mm_reply_heartbeat **out)
{
    if (out == NULL || nc == NULL)
        return MM_ERR_INVALID;
    *out = NULL;
    mm_reply_heartbeat *hb = calloc(1, sizeof(*hb));
    if (hb == NULL)
        return MM_ERR_NOMEM;
    hb->nc = nc;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hb->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&hb->mu, NULL);
    char *inbox = NULL; /* _INBOX.<nuid>: a name no other process has */
    if (natsInbox_Create(&inbox) != NATS_OK) {
        mm_reply_heartbeat_destroy(hb);
        return MM_ERR_NOMEM;
    }
    const char *nuid = strrchr(inbox, '.');
    snprintf(hb->cancel_prefix, sizeof(hb->cancel_prefix), "%s.%s", MM_REPLY_CANCEL_PREFIX, nuid != NULL ? nuid + 1 : inbox);
    natsInbox_Destroy(inbox);
    char wildcard[80];
    snprintf(wildcard, sizeof(wildcard), "%s.*", hb->cancel_prefix);
    natsStatus ns = natsConnection_Subscribe(&hb->cancel_sub, nc, wildcard, on_cancel, hb);
    if (ns != NATS_OK) {
        mm_error("heartbeat: cannot subscribe to %s: %s", wildcard, natsStatus_GetText(ns));
        hb->cancel_sub = NULL;
        mm_reply_heartbeat_destroy(hb);
        return MM_ERR_IO;
    }
    if (pthread_create(&hb->thread, NULL, hb_main, hb) != 0) {
        mm_reply_heartbeat_destroy(hb);
        return MM_ERR_SYS;
    }
    hb->started = true;
    *out = hb;
    return MM_OK;
}

mm_err
mm_reply_heartbeat_asked(natsMsg *request, uint32_t *interval_ms, char *why, size_t why_len)
{
    *interval_ms = 0;
    const char *value = NULL;
    if (request == NULL || natsMsgHeader_Get(request, MM_REPLY_HEARTBEAT_ASK_HEADER, &value) != NATS_OK || value == NULL)
        return MM_OK;
    uint64_t ms = 0;
    if (mm_parse_u64(value, MM_REPLY_HEARTBEAT_MIN_MS, MM_REPLY_HEARTBEAT_MAX_MS, &ms, NULL, 0) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "header %s must be a number of milliseconds from %u to %u",
                       MM_REPLY_HEARTBEAT_ASK_HEADER, MM_REPLY_HEARTBEAT_MIN_MS, MM_REPLY_HEARTBEAT_MAX_MS);
    *interval_ms = (uint32_t)ms;
    return MM_OK;
}

mm_err
mm_reply_heartbeat_attach(mm_reply_heartbeat *hb, mm_reply_sink *base, uint32_t interval_ms)
{
    if (hb == NULL || !mm__reply_is_nats(base) || interval_ms < MM_REPLY_HEARTBEAT_MIN_MS ||
        interval_ms > MM_REPLY_HEARTBEAT_MAX_MS)
        return MM_ERR_INVALID;
    nats_sink *sink = (nats_sink *)base;
    if (sink->ended || sink->hb != NULL)
        return MM_ERR_INVALID;
    sink->hb = hb;
    sink->hb_ms = interval_ms;
    atomic_store(&sink->last_ms, mm_now_ms());
    pthread_mutex_lock(&hb->mu);
    sink->hb_token = ++hb->next_token;
    sink->hb_prev = NULL;
    sink->hb_next = hb->head;
    if (hb->head != NULL)
        hb->head->hb_prev = sink;
    hb->head = sink;
    pthread_mutex_unlock(&hb->mu);
    atomic_fetch_add(&hb->attached, 1);
    atomic_fetch_add(&hb->live, 1);
    uint64_t failed = atomic_load(&hb->failed);
    hb_publish(hb, sink->subject, interval_ms, sink->hb_token); /* at once: the front knows this matchmaker took it */
    return atomic_load(&hb->failed) == failed ? MM_OK : MM_ERR_IO;
}

void
mm__reply_hb_detach(nats_sink *sink)
{
    mm_reply_heartbeat *hb = sink->hb;
    if (hb == NULL)
        return;
    pthread_mutex_lock(&hb->mu);
    if (sink->hb_prev != NULL)
        sink->hb_prev->hb_next = sink->hb_next;
    else
        hb->head = sink->hb_next;
    if (sink->hb_next != NULL)
        sink->hb_next->hb_prev = sink->hb_prev;
    pthread_mutex_unlock(&hb->mu);
    sink->hb_prev = sink->hb_next = NULL;
    sink->hb = NULL;
    atomic_fetch_sub(&hb->live, 1);
}

bool
mm__reply_nats_gone(mm_reply_sink *base)
{
    return atomic_load(&((nats_sink *)base)->gone);
}

void
mm_reply_heartbeat_get_stats(mm_reply_heartbeat *hb, mm_reply_heartbeat_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (hb == NULL)
        return;
    out->attached = atomic_load(&hb->attached);
    out->sent = atomic_load(&hb->sent);
    out->failed = atomic_load(&hb->failed);
    out->live = atomic_load(&hb->live);
    out->cancels = atomic_load(&hb->cancels);
    out->cancels_unknown = atomic_load(&hb->cancels_unknown);
}

void
mm_reply_heartbeat_destroy(mm_reply_heartbeat *hb)
{
    if (hb == NULL)
        return;
    pthread_mutex_lock(&hb->mu);
    hb->stop = true;
    pthread_cond_broadcast(&hb->cond);
    pthread_mutex_unlock(&hb->mu);
    if (hb->started)
        pthread_join(hb->thread, NULL);
    /* no cancel callback may run once hb is freed: drain (waits for one in progress), else unsubscribe */
    if (hb->cancel_sub != NULL) {
        if (natsSubscription_Drain(hb->cancel_sub) != NATS_OK || natsSubscription_WaitForDrainCompletion(hb->cancel_sub, 2000) != NATS_OK)
            natsSubscription_Unsubscribe(hb->cancel_sub);
        natsSubscription_Destroy(hb->cancel_sub);
    }
    uint64_t left = atomic_load(&hb->live);
    if (left != 0) /* a broken contract: those sinks would lock a freed mutex when they end */
        mm_error("heartbeat: IMPOSSIBLE STATE: %llu sinks still attached at destroy; leaking the heartbeat",
                 (unsigned long long)left);
    else {
        pthread_cond_destroy(&hb->cond);
        pthread_mutex_destroy(&hb->mu);
        free(hb);
    }
}
