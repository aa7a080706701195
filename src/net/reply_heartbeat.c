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
 *
 * Liveness (include/mm/reply.h, "Liveness"): a sink attached per process sits on a second list,
 * `lhead`, which the tick never walks (it is there for cancels only): it got its one heartbeat,
 * with Mm-Replica, at attach. While that list is not empty the thread publishes one empty
 * message on mm.alive.<nuid> every `alive_ms` (the smallest interval asked since the start), so
 * the cost per interval is one message, not one per waiting request. Both counts are on the
 * matchmaker's /metrics (mm_reply_heartbeats_total, mm_replica_alive_total).
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
#include "mm/metrics.h"
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
    nats_sink *head; /* under mu: sinks with per-request heartbeats */
    nats_sink *lhead; /* under mu: sinks attached per process (liveness), for cancels only */
    uint64_t live_liveness; /* under mu: sinks on lhead */
    uint32_t alive_ms;      /* under mu: the smallest liveness interval asked (0: none yet) */
    uint64_t alive_last_ms; /* under mu: when the last liveness message (or first heartbeat after none) went out */
    atomic_uint_fast64_t attached, attached_liveness, sent, alive, failed, live, cancels, cancels_unknown;
    natsSubscription *cancel_sub;
    char cancel_prefix[64]; /* mm.cancel.<nuid> */
    char replica[40];       /* <nuid> */
    char alive_subject[64]; /* mm.alive.<nuid> */
    uint64_t next_token;    /* under mu */
};

typedef struct hb_due {
    char *subject;
    uint32_t ms;
    uint64_t token;
} hb_due;

/* One heartbeat: on a reply subject (token != 0: its cancel subject as the reply; replica: with
 * Mm-Replica), or on mm.alive.<nuid> (token 0). */
static void
hb_publish(mm_reply_heartbeat *hb, const char *subject, uint32_t ms, uint64_t token, bool replica)
{
    natsMsg *msg = NULL;
    char value[16], cancel[96];
    snprintf(value, sizeof(value), "%u", (unsigned)ms);
    snprintf(cancel, sizeof(cancel), "%s.%llu", hb->cancel_prefix, (unsigned long long)token);
    natsStatus s = natsMsg_Create(&msg, subject, token != 0 ? cancel : NULL, NULL, 0);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, MM_REPLY_HEARTBEAT_HEADER, value);
    if (s == NATS_OK && replica)
        s = natsMsgHeader_Set(msg, MM_REPLY_REPLICA_HEADER, hb->replica);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(hb->nc, msg);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) {
        atomic_fetch_add(token != 0 ? &hb->sent : &hb->alive, 1);
        mm_metric_inc(token != 0 ? MM_METRIC_REPLY_HEARTBEATS : MM_METRIC_REPLICA_ALIVE);
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
        uint64_t now = mm_now_ms();
        uint32_t alive_ms = hb->alive_ms;
        bool alive = hb->live_liveness > 0 && alive_ms != 0 && now - hb->alive_last_ms >= alive_ms;
        if (alive)
            hb->alive_last_ms = now;
        pthread_mutex_unlock(&hb->mu);
        if (alive) {
            hb_publish(hb, hb->alive_subject, alive_ms, 0, true);
        }
        for (size_t i = 0; i < n; i++) {
            hb_publish(hb, due[i].subject, due[i].ms, due[i].token, false);
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
        for (nats_sink *s = hb->head; s != NULL && !found; s = s->hb_next)
            if (s->hb_token == token) {
                atomic_store(&s->gone, true);
                found = true;
            }
        for (nats_sink *s = hb->lhead; s != NULL && !found; s = s->hb_next)
            if (s->hb_token == token) {
                atomic_store(&s->gone, true);
                found = true;
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
    snprintf(hb->replica, sizeof(hb->replica), "%s", nuid != NULL ? nuid + 1 : inbox);
    snprintf(hb->cancel_prefix, sizeof(hb->cancel_prefix), "%s.%s", MM_REPLY_CANCEL_PREFIX, hb->replica);
    snprintf(hb->alive_subject, sizeof(hb->alive_subject), "%s.%s", MM_REPLY_ALIVE_PREFIX, hb->replica);
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

static mm_err
hb_asked(natsMsg *request, const char *header, uint32_t *interval_ms, char *why, size_t why_len)
{
    *interval_ms = 0;
    const char *value = NULL;
    if (request == NULL || natsMsgHeader_Get(request, header, &value) != NATS_OK || value == NULL)
        return MM_OK;
    uint64_t ms = 0;
    if (mm_parse_u64(value, MM_REPLY_HEARTBEAT_MIN_MS, MM_REPLY_HEARTBEAT_MAX_MS, &ms, NULL, 0) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "header %s must be a number of milliseconds from %u to %u", header,
                       MM_REPLY_HEARTBEAT_MIN_MS, MM_REPLY_HEARTBEAT_MAX_MS);
    *interval_ms = (uint32_t)ms;
    return MM_OK;
}

mm_err
mm_reply_heartbeat_asked(natsMsg *request, uint32_t *interval_ms, char *why, size_t why_len)
{
    return hb_asked(request, MM_REPLY_HEARTBEAT_ASK_HEADER, interval_ms, why, why_len);
}

mm_err
mm_reply_liveness_asked(natsMsg *request, uint32_t *interval_ms, char *why, size_t why_len)
{
    return hb_asked(request, MM_REPLY_LIVENESS_ASK_HEADER, interval_ms, why, why_len);
}

static mm_err
hb_attach(mm_reply_heartbeat *hb, mm_reply_sink *base, uint32_t interval_ms, bool liveness)
{
    if (hb == NULL || !mm__reply_is_nats(base) || interval_ms < MM_REPLY_HEARTBEAT_MIN_MS ||
        interval_ms > MM_REPLY_HEARTBEAT_MAX_MS)
        return MM_ERR_INVALID;
    nats_sink *sink = (nats_sink *)base;
    if (sink->ended || sink->hb != NULL)
        return MM_ERR_INVALID;
    sink->hb = hb;
    sink->hb_ms = interval_ms;
    sink->hb_liveness = liveness;
    atomic_store(&sink->last_ms, mm_now_ms());
    pthread_mutex_lock(&hb->mu);
    nats_sink **head = liveness ? &hb->lhead : &hb->head;
    sink->hb_token = ++hb->next_token;
    sink->hb_prev = NULL;
    sink->hb_next = *head;
    if (*head != NULL)
        (*head)->hb_prev = sink;
    *head = sink;
    if (liveness) {
        if (hb->live_liveness++ == 0)
            hb->alive_last_ms = mm_now_ms(); /* this heartbeat is the first sign of life: the next beat one interval on */
        if (hb->alive_ms == 0 || interval_ms < hb->alive_ms)
            hb->alive_ms = interval_ms;
    }
    pthread_mutex_unlock(&hb->mu);
    atomic_fetch_add(&hb->attached, 1);
    if (liveness)
        atomic_fetch_add(&hb->attached_liveness, 1);
    atomic_fetch_add(&hb->live, 1);
    uint64_t failed = atomic_load(&hb->failed);
    hb_publish(hb, sink->subject, interval_ms, sink->hb_token, liveness); /* at once: the front knows this matchmaker took it */
    return atomic_load(&hb->failed) == failed ? MM_OK : MM_ERR_IO;
}

mm_err
mm_reply_heartbeat_attach(mm_reply_heartbeat *hb, mm_reply_sink *base, uint32_t interval_ms)
{
    return hb_attach(hb, base, interval_ms, false);
}

mm_err
mm_reply_heartbeat_attach_liveness(mm_reply_heartbeat *hb, mm_reply_sink *base, uint32_t interval_ms)
{
    return hb_attach(hb, base, interval_ms, true);
}

const char *
mm_reply_heartbeat_replica(const mm_reply_heartbeat *hb)
{
    return hb != NULL ? hb->replica : "";
}

void
mm__reply_hb_detach(nats_sink *sink)
{
    mm_reply_heartbeat *hb = sink->hb;
    if (hb == NULL)
        return;
    pthread_mutex_lock(&hb->mu);
    if (sink->hb_liveness)
        hb->live_liveness--;
    if (sink->hb_prev != NULL)
        sink->hb_prev->hb_next = sink->hb_next;
    else if (sink->hb_liveness)
        hb->lhead = sink->hb_next;
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
    out->alive = atomic_load(&hb->alive);
    out->attached_liveness = atomic_load(&hb->attached_liveness);
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
