/*
 * Session delete worker (include/mm/deleter.h).
 *
 * Owns: the pull subscription on `api-deleter-1`, its Edgegap client (one libcurl multi) and
 * the jobs in flight (a fetched natsMsg plus its session id). Receives: messages it fetches;
 * a wake-up eventfd (stop). Sends: Edgegap DELETEs; acks and naks.
 *
 * The loop, on one thread (it is not an mm_actor: all its input comes from Fetch):
 *   - nothing in flight: Fetch up to max_in_flight messages, waiting up to fetch_wait_ms;
 *   - deletes in flight and free slots: a short top-up Fetch (TOPUP_WAIT_MS), at most every
 *     TOPUP_IDLE_MS while the stream has nothing more (nats.c 3.4.1 has no fetch that returns
 *     at once when empty: a NoWait request still waits for its expiry);
 *   - otherwise wait on the client's sockets and the eventfd, then let the client deliver answers;
 *     each answer's callback settles its message (ack / nak with delay) and frees the job;
 *   - after a failed delete no new message is fetched for one first-retry delay (pause_fetching);
 *   - with a fleet delete budget (--edgegap-delete-budget, include/mm/budget.h) the client's gate
 *     starts a DELETE only with a token of this worker's own bucket of the delete share (a 429
 *     backs the fleet's deletes off), and the worker holds at most GATED_HOLD_S seconds of that
 *     share fetched, so a queued DELETE starts well within the stream's 30 s ack wait.
 * A bind or Fetch failure other than "no messages" is logged once per streak and retried with a
 * backoff (without blocking the deletes in flight); the subscription is made again (the
 * consumer may have been deleted) once no job still holds one of its messages, since an ack
 * goes through the message's subscription.
 *
 * Never twice: before a DELETE the worker reads mm_deleted_sessions[id]; a session on record
 * (deleted, or found gone, earlier: by any worker, before any restart, within the bucket's
 * max age) is acked without a call (skipped). A 2xx, 404 or 410 is recorded there (an
 * asynchronous put) before the ack.
 *
 * Retry delays use the delivery count from the message's metadata, with "equal jitter": a
 * uniform delay in [cap/2, cap], cap = min(max, base * 2^(deliveries - 1)), so the first retry
 * is never immediate and several workers do not retry in step.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mm/budget.h"
#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm/deleter.h"
#include "mm/edgegap.h"
#include "mm/log.h"
#include "mm/metrics.h"

#define TOPUP_WAIT_MS 10
#define TOPUP_IDLE_MS 250
#define DRIVE_WAIT_MS 100
#define FETCH_RETRY_MAX_MS 5000
#define GATED_HOLD_S 5 /* with a delete budget: hold at most this many seconds of the share (ack wait 30 s) */

typedef struct job {
    struct mm_deleter *d;
    natsMsg *msg;
    uint64_t delivered; /* this delivery's number, 1 for the first */
    char id[MM_SESSION_ID_MAX + 1];
} job;

struct mm_deleter {
    jsCtx *js;
    /* mm_deleted_sessions; NULL when the mm_js was set up without it (no record kept) */
    kvStore *record;
    mm_edgegap *eg; /* made by start, then used only by the worker thread */
    mm_budget *budget;       /* NULL: no delete budget (borrowed) */
    mm_budget_bucket bucket; /* the worker thread's delete tokens */
    uint32_t max_in_flight;
    uint64_t backoff_base_ms, backoff_max_ms;
    int fetch_wait_ms, stop_deadline_ms;
    uint64_t consumer_check_ms;
    int wake_fd;
    pthread_t thread;
    bool joined; /* touched only by the owner thread */
    atomic_bool stopping;

    /* worker thread only */
    natsSubscription *sub;
    uint32_t in_flight;
    uint64_t rng;
    uint64_t pause_until_ms; /* after a failed delete, no new messages are fetched before this */
    uint64_t next_check_ms;  /* when an idle worker next checks that its consumer still exists */

    atomic_uint_fast64_t fetched, deleted, already_gone, retried, failed, invalid, abandoned, skipped, records_failed;
    atomic_uint_fast32_t in_flight_now;
};

static uint64_t
next_random(mm_deleter *d)
{
    uint64_t x = d->rng; /* xorshift64: jitter only, nothing secret */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return d->rng = x;
}

/* Delay before redelivery after the given delivery failed: uniform in [cap/2, cap]. */
static uint64_t
retry_delay_ms(mm_deleter *d, uint64_t delivered)
{
    unsigned attempt = delivered > 64 ? 63 : delivered > 0 ? (unsigned)(delivered - 1) : 0;
    uint64_t half = d->backoff_base_ms / 2, half_max = d->backoff_max_ms / 2, floor_ms = half;
    for (unsigned i = 0; i < attempt && floor_ms < half_max; i++)
        floor_ms *= 2;
    if (floor_ms > half_max)
        floor_ms = half_max;
    return floor_ms + mm_edgegap_backoff_ms(attempt, half, half_max, next_random(d));
}

/* Sleeps until stop or ms passes; true when stopping. */
static bool
wait_or_stop(mm_deleter *d, int ms)
{
    struct pollfd p = {.fd = d->wake_fd, .events = POLLIN};
    if (!atomic_load(&d->stopping))
        poll(&p, 1, ms);
    return atomic_load(&d->stopping);
}

static void
drain_wake(mm_deleter *d)
{
    uint64_t v;
    while (read(d->wake_fd, &v, sizeof(v)) > 0) {
    }
}

/* ---- settling a message ---- */

static void
job_settle(job *j, bool ack, uint64_t delay_ms)
{
    natsStatus s = ack ? natsMsg_Ack(j->msg, NULL) : natsMsg_NakWithDelay(j->msg, (int64_t)delay_ms, NULL);
    if (s != NATS_OK) /* redelivered after the ack wait; a repeated delete answers 404/410 */
        mm_debug("deleter: %s for %s not sent (%s)", ack ? "ack" : "nak", j->id, natsStatus_GetText(s));
}

/*
 * After a failed delete the worker takes no new message for one first-retry delay (base/2 to
 * base): when Edgegap is down or rate-limiting (429), the whole worker slows down, not only the
 * messages that failed, so a long queue is not run through at full speed against a dead API.
 */
static void
pause_fetching(mm_deleter *d)
{
    d->pause_until_ms = mm_now_ms() + retry_delay_ms(d, 1);
}

static bool
power_of_two(uint64_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

/* ---- the record of deleted sessions (mm_deleted_sessions) ---- */

/* True when the session's deletion is on record: its DELETE was answered 2xx, 404 or 410 before
 * (by any worker, any replica, before any restart within the bucket's max age). A failed read
 * says false: one DELETE too many (answered 404/410) is cheaper than a session left running. */
static bool
deleted_before(mm_deleter *d, const char *id)
{
    char value[16];
    if (d->record == NULL)
        return false;
    mm_err err = mm_kv_get_str(d->record, id, value, sizeof(value), NULL);
    if (err != MM_OK && err != MM_ERR_NOTFOUND)
        mm_debug("deleter: cannot read %s[%s] (%s): deleting anyway", mm_kv_bucket_spec_of(MM_KV_DELETED_SESSIONS)->name, id,
                 mm_err_str(err));
    return err == MM_OK;
}

/* Records that the session is gone, asynchronously (never waits; a failed publish is resent by
 * the mm_js context's resend thread, include/mm/kv.h). */
static void
deleted_record(mm_deleter *d, const char *id, long status)
{
    if (d->record == NULL)
        return;
    char subject[160], value[16];
    snprintf(subject, sizeof(subject), "$KV.%s.%s", mm_kv_bucket_spec_of(MM_KV_DELETED_SESSIONS)->name, id);
    int len = snprintf(value, sizeof(value), "%ld", status);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = mm_js_ack_wait_ms(5000); /* on a grid: src/net/js_ack_wait.c */
    natsStatus s = js_PublishAsync(d->js, subject, value, len, &po);
    if (s != NATS_OK) {
        atomic_fetch_add(&d->records_failed, 1);
        mm_warn("deleter: could not record the deletion of %s: %s", id, natsStatus_GetText(s));
    }
}

/* Counters move before the ack or nak, so whoever sees the stream change sees them too. */
static void
on_delete_answer(void *ctx, const mm_edgegap_result *res)
{
    job *j = ctx;
    mm_deleter *d = j->d;
    d->in_flight--;
    atomic_store(&d->in_flight_now, d->in_flight);
    if (res->outcome == MM_EDGEGAP_CANCELLED) {
        atomic_fetch_add(&d->abandoned, 1);
        job_settle(j, false, 0);
        mm_info("deleter: delete of %s abandoned at stop; it will be redelivered", j->id);
    } else if (res->outcome == MM_EDGEGAP_OK) {
        atomic_fetch_add(&d->deleted, 1);
        mm_metric_delete(MM_METRIC_DEL_DELETED);
        deleted_record(d, j->id, res->status);
        job_settle(j, true, 0);
        mm_info("deleter: deleted session %s", j->id);
    } else if (res->outcome == MM_EDGEGAP_HTTP_ERROR && (res->status == 404 || res->status == 410)) {
        atomic_fetch_add(&d->already_gone, 1);
        mm_metric_delete(MM_METRIC_DEL_GONE);
        deleted_record(d, j->id, res->status);
        job_settle(j, true, 0);
        mm_info("deleter: session %s was already gone (%ld)", j->id, res->status);
    } else if (mm_edgegap_retryable(res)) {
        uint64_t delay = retry_delay_ms(d, j->delivered);
        atomic_fetch_add(&d->retried, 1);
        mm_metric_delete(MM_METRIC_DEL_ERROR);
        mm_metric_edgegap_retry(MM_METRIC_EP_DELETE);
        job_settle(j, false, delay);
        pause_fetching(d);
        /* Logged on deliveries 1, 2, 4, 8, ...: an Edgegap outage is visible without a line per retry. */
        mm_log(power_of_two(j->delivered) ? MM_LOG_WARN : MM_LOG_DEBUG,
               "deleter: delete of %s failed (%s %ld: %s), delivery %llu; retrying in %llu ms", j->id,
               mm_edgegap_outcome_name(res->outcome), res->status, res->message, (unsigned long long)j->delivered,
               (unsigned long long)delay);
    } else {
        atomic_fetch_add(&d->failed, 1);
        mm_metric_delete(MM_METRIC_DEL_ERROR);
        job_settle(j, false, d->backoff_max_ms);
        pause_fetching(d);
        mm_log(power_of_two(j->delivered) ? MM_LOG_ERROR : MM_LOG_DEBUG,
               "deleter: delete of %s refused (%s %ld: %s), delivery %llu; kept, retrying in %llu ms", j->id,
               mm_edgegap_outcome_name(res->outcome), res->status, res->message, (unsigned long long)j->delivered,
               (unsigned long long)d->backoff_max_ms);
    }
    natsMsg_Destroy(j->msg);
    free(j);
}

/* Takes msg: starts its delete, or settles it at once. */
static void
start_delete(mm_deleter *d, natsMsg *msg)
{
    atomic_fetch_add(&d->fetched, 1);
    job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        natsMsg_Nak(msg, NULL); /* out of memory: let the stream redeliver it */
        natsMsg_Destroy(msg);
        return;
    }
    j->d = d;
    j->msg = msg;
    j->delivered = 1;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        j->delivered = meta->NumDelivered > 0 ? meta->NumDelivered : 1;
        mm_metric_set(MM_METRIC_DELETER_BACKLOG, (int64_t)meta->NumPending);
        jsMsgMetaData_Destroy(meta);
    }
    int len = natsMsg_GetDataLength(msg);
    if (len > 0 && len <= MM_SESSION_ID_MAX)
        memcpy(j->id, natsMsg_GetData(msg), (size_t)len);
    if (!mm_session_id_valid(j->id)) {
        mm_error("deleter: message on %s does not hold a session id (%d bytes); dropped", natsMsg_GetSubject(msg), len);
        atomic_fetch_add(&d->invalid, 1);
        job_settle(j, true, 0);
        natsMsg_Destroy(msg);
        free(j);
        return;
    }
    if (deleted_before(d, j->id)) {
        atomic_fetch_add(&d->skipped, 1);
        mm_metric_delete(MM_METRIC_DEL_SKIPPED_DELETED);
        mm_info("deleter: session %s was deleted before (on record in %s): no DELETE sent", j->id,
                mm_kv_bucket_spec_of(MM_KV_DELETED_SESSIONS)->name);
        job_settle(j, true, 0);
        natsMsg_Destroy(msg);
        free(j);
        return;
    }
    mm_err err = mm_edgegap_session_delete(d->eg, j->id, on_delete_answer, j);
    if (err != MM_OK) {
        mm_warn("deleter: cannot start the delete of %s (%s: %s); retrying later", j->id, mm_err_str(err),
                mm_edgegap_last_error(d->eg));
        atomic_fetch_add(&d->retried, 1);
        job_settle(j, false, retry_delay_ms(d, j->delivered));
        natsMsg_Destroy(msg);
        free(j);
        return;
    }
    d->in_flight++;
    atomic_store(&d->in_flight_now, d->in_flight);
}

/* ---- the consumer ---- */

/* Creates api-deleter-1 with the reference's settings if missing, then binds a pull subscription. */
static natsStatus
consumer_bind(mm_deleter *d)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, d->js, MM_DELETE_SESSION_STREAM, MM_DELETER_CONSUMER, NULL, &jerr);
    if (s == NATS_NOT_FOUND) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = MM_DELETER_CONSUMER;
        cc.Description = MM_DELETER_CONSUMER_DESCRIPTION;
        cc.AckPolicy = js_AckExplicit;
        if ((s = js_AddConsumer(&ci, d->js, MM_DELETE_SESSION_STREAM, &cc, NULL, &jerr)) == NATS_OK)
            mm_info("deleter: created consumer %s on %s", MM_DELETER_CONSUMER, MM_DELETE_SESSION_STREAM);
    } else if (s == NATS_OK && ci->Config->AckPolicy != js_AckExplicit) {
        mm_warn("deleter: consumer %s exists with ack policy %d, not explicit; used as it is", MM_DELETER_CONSUMER,
                (int)ci->Config->AckPolicy);
    }
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK)
        return s;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = MM_DELETE_SESSION_STREAM;
    so.Consumer = MM_DELETER_CONSUMER; /* bind only: never create, never delete on unsubscribe */
    return js_PullSubscribe(&d->sub, d->js, MM_DELETE_SESSION_SUBJECTS, MM_DELETER_CONSUMER, NULL, &so, &jerr);
}

/* Fetches up to batch messages and starts them. Returns how many; -1 on a failure (logged). */
static int
fetch_and_start(mm_deleter *d, uint32_t batch, int wait_ms)
{
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s = natsSubscription_Fetch(&list, d->sub, (int)batch, wait_ms, &jerr);
    if (s == NATS_TIMEOUT) {
        natsMsgList_Destroy(&list);
        return 0;
    }
    if (s != NATS_OK) {
        natsMsgList_Destroy(&list);
        return -1;
    }
    int n = list.Count;
    for (int i = 0; i < n; i++) {
        start_delete(d, list.Msgs[i]);
        list.Msgs[i] = NULL; /* taken */
    }
    natsMsgList_Destroy(&list);
    return n;
}

/* ---- the thread ---- */

/* Fetches more work if allowed now; -1 when binding or fetching failed, else how many started. */
static int
fetch_some(mm_deleter *d)
{
    if (d->sub == NULL) {
        if (d->in_flight > 0)
            return 0; /* re-bind once no job holds a message of the old subscription */
        natsStatus s = consumer_bind(d);
        if (s != NATS_OK) {
            mm_debug("deleter: binding %s failed: %s", MM_DELETER_CONSUMER, natsStatus_GetText(s));
            return -1;
        }
    }
    uint32_t room = d->max_in_flight - d->in_flight;
    if (d->budget != NULL) { /* queued DELETEs wait for tokens: hold no more than a few seconds of them */
        double hold = floor(mm_budget_class_share_rps(d->budget, MM_BUDGET_DELETE) * GATED_HOLD_S);
        uint32_t cap = hold < 1 ? 1 : hold > d->max_in_flight ? d->max_in_flight : (uint32_t)hold;
        if (d->in_flight >= cap)
            return 0;
        room = cap - d->in_flight < room ? cap - d->in_flight : room;
    }
    int got = fetch_and_start(d, room, d->in_flight == 0 ? d->fetch_wait_ms : TOPUP_WAIT_MS);
    if (got == 0 && d->in_flight == 0)
        mm_metric_set(MM_METRIC_DELETER_BACKLOG, 0); /* an empty fetch: nothing waits for this consumer */
    if (got == 0 && d->in_flight == 0 && mm_now_ms() >= d->next_check_ms) {
        /* A pull from a consumer that was deleted just times out: look now and then. */
        d->next_check_ms = mm_now_ms() + d->consumer_check_ms;
        jsConsumerInfo *ci = NULL;
        if (js_GetConsumerInfo(&ci, d->js, MM_DELETE_SESSION_STREAM, MM_DELETER_CONSUMER, NULL, NULL) == NATS_NOT_FOUND) {
            mm_warn("deleter: consumer %s has disappeared; making it again", MM_DELETER_CONSUMER);
            natsSubscription_Destroy(d->sub);
            d->sub = NULL;
        }
        jsConsumerInfo_Destroy(ci);
    }
    if (got < 0 && d->in_flight == 0) { /* the consumer may be gone: make the subscription again */
        natsSubscription_Destroy(d->sub);
        d->sub = NULL;
    }
    return got;
}

static void
deleter_work(mm_deleter *d)
{
    int backoff_ms = 100;
    bool failing = false;
    uint64_t next_fetch_ms = 0; /* no fetch before this: top-up pacing and failure backoff */
    while (!atomic_load(&d->stopping)) {
        uint64_t now = mm_now_ms();
        uint64_t not_before = next_fetch_ms > d->pause_until_ms ? next_fetch_ms : d->pause_until_ms;
        if (d->in_flight == 0 && now < not_before) {
            wait_or_stop(d, (int)(not_before - now)); /* idle: nothing to drive meanwhile */
            continue;
        }
        if (now >= not_before && d->in_flight < d->max_in_flight) {
            int got = fetch_some(d);
            if (got < 0) {
                if (!failing)
                    mm_warn("deleter: cannot fetch from %s (%s); retrying", MM_DELETER_CONSUMER, nats_GetLastError(NULL));
                failing = true;
                next_fetch_ms = mm_now_ms() + (uint64_t)backoff_ms;
                backoff_ms = backoff_ms * 2 > FETCH_RETRY_MAX_MS ? FETCH_RETRY_MAX_MS : backoff_ms * 2;
            } else {
                if (failing)
                    mm_info("deleter: fetching from %s again", MM_DELETER_CONSUMER);
                failing = false;
                backoff_ms = 100;
                next_fetch_ms = got > 0 || d->in_flight == 0 ? 0 : mm_now_ms() + TOPUP_IDLE_MS;
            }
        }
        if (d->in_flight > 0) {
            mm_edgegap_fds_wait(d->eg, d->wake_fd, DRIVE_WAIT_MS);
            drain_wake(d);
            mm_edgegap_perform(d->eg);
        }
    }
}

/* After stop: lets deletes in flight finish until the deadline, then cancels the rest. */
static void
deleter_finish(mm_deleter *d)
{
    uint64_t deadline = mm_now_ms() + (uint64_t)d->stop_deadline_ms;
    while (d->in_flight > 0 && mm_now_ms() < deadline) {
        uint64_t left = deadline - mm_now_ms();
        mm_edgegap_fds_wait(d->eg, -1, left < DRIVE_WAIT_MS ? (int)left : DRIVE_WAIT_MS);
        mm_edgegap_perform(d->eg);
    }
    mm_edgegap_destroy(d->eg); /* the rest: callbacks with CANCELLED, nak'ed */
    d->eg = NULL;
    natsSubscription_Destroy(d->sub);
    d->sub = NULL;
}

static void *
deleter_main(void *arg)
{
    mm_deleter *d = arg;
    pthread_setname_np(pthread_self(), "deleter");
    deleter_work(d);
    deleter_finish(d);
    return NULL;
}

/* ---- the delete budget's gate (worker thread) ---- */

static bool
gate_take(void *ctx, mm_edgegap_op op, bool peek)
{
    mm_deleter *d = ctx;
    return op != MM_EDGEGAP_SESSION_DELETE || mm_budget_take(d->budget, &d->bucket, MM_BUDGET_DELETE, peek);
}

static uint64_t
gate_wait_ms(void *ctx, mm_edgegap_op op)
{
    mm_deleter *d = ctx;
    return op != MM_EDGEGAP_SESSION_DELETE ? 1 : mm_budget_wait_ms(d->budget, &d->bucket, MM_BUDGET_DELETE);
}

static void
gate_answered(void *ctx, mm_edgegap_op op, long status)
{
    mm_deleter *d = ctx;
    if (status == 429 && op == MM_EDGEGAP_SESSION_DELETE)
        mm_budget_note_429(d->budget, MM_BUDGET_DELETE);
}

/* ---- public ---- */

mm_err
mm_deleter_start(const mm_deleter_config *config, mm_js *js, mm_deleter **out, char *why, size_t why_len)
{
    if (config == NULL || js == NULL || out == NULL || config->api_key == NULL || config->api_key[0] == '\0')
        return mm_fail(MM_ERR_INVALID, why, why_len, "deleter: JetStream set-up and an Edgegap API key are required");
    mm_deleter *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "deleter: out of memory");
    d->js = mm_js_ctx(js);
    d->record = mm_js_kv(js, MM_KV_DELETED_SESSIONS);
    d->max_in_flight = config->max_in_flight != 0 ? config->max_in_flight : 16;
    d->backoff_base_ms = config->backoff_base_ms != 0 ? config->backoff_base_ms : 1000;
    d->backoff_max_ms = config->backoff_max_ms != 0 ? config->backoff_max_ms : 60000;
    if (d->backoff_max_ms < d->backoff_base_ms)
        d->backoff_max_ms = d->backoff_base_ms;
    d->fetch_wait_ms = config->fetch_wait_ms > 0 ? config->fetch_wait_ms : 1000;
    d->stop_deadline_ms = config->stop_deadline_ms > 0 ? config->stop_deadline_ms : 5000;
    d->consumer_check_ms = config->consumer_check_ms != 0 ? config->consumer_check_ms : 10000;
    d->rng = (mm_now_ns() ^ (uint64_t)(uintptr_t)d) | 1;
    d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    mm_edgegap_config ec = {.base_url = config->base_url,
                            .api_key = config->api_key,
                            .max_in_flight = d->max_in_flight,
                            .request_timeout_ms = config->request_timeout_ms != 0 ? config->request_timeout_ms : 10000};
    mm_err err = MM_OK;
    if (d->wake_fd < 0) {
        err = mm_fail(MM_ERR_SYS, why, why_len, "deleter: eventfd: %s", strerror(errno));
        goto cleanup;
    }
    if ((err = mm_edgegap_create(&ec, &d->eg, why, why_len)) != MM_OK)
        goto cleanup;
    if (mm_budget_gates(config->budget, MM_BUDGET_DELETE)) {
        d->budget = config->budget;
        mm_edgegap_gate g = {.take = gate_take, .wait_ms = gate_wait_ms, .answered = gate_answered, .ctx = d};
        mm_edgegap_set_gate(d->eg, &g);
    }
    if (pthread_create(&d->thread, NULL, deleter_main, d) != 0) {
        err = mm_fail(MM_ERR_SYS, why, why_len, "deleter: cannot create the thread");
        goto cleanup;
    }
    mm_info("deleter: started (%u deletes at once, retries after %llu..%llu ms; %s%s)", d->max_in_flight,
            (unsigned long long)d->backoff_base_ms, (unsigned long long)d->backoff_max_ms,
            d->record != NULL ? "deletions recorded in mm_deleted_sessions" : "no record of deletions",
            d->budget != NULL ? "; within the fleet's delete budget" : "");
    *out = d;
    return MM_OK;

cleanup:
    mm_edgegap_destroy(d->eg);
    if (d->wake_fd >= 0)
        close(d->wake_fd);
    free(d);
    return err;
}

void
mm_deleter_stop(mm_deleter *d)
{
    if (d == NULL || d->joined)
        return;
    atomic_store(&d->stopping, true);
    uint64_t one = 1;
    if (write(d->wake_fd, &one, sizeof(one)) < 0)
        mm_debug("deleter: wake-up write failed: %s", strerror(errno));
    pthread_join(d->thread, NULL);
    d->joined = true;
}

void
mm_deleter_destroy(mm_deleter *d)
{
    if (d == NULL)
        return;
    mm_deleter_stop(d);
    close(d->wake_fd);
    free(d);
}

void
mm_deleter_get_stats(mm_deleter *d, mm_deleter_stats *st)
{
    st->fetched = atomic_load(&d->fetched);
    st->deleted = atomic_load(&d->deleted);
    st->already_gone = atomic_load(&d->already_gone);
    st->retried = atomic_load(&d->retried);
    st->failed = atomic_load(&d->failed);
    st->invalid = atomic_load(&d->invalid);
    st->abandoned = atomic_load(&d->abandoned);
    st->skipped = atomic_load(&d->skipped);
    st->records_failed = atomic_load(&d->records_failed);
    st->in_flight = (uint32_t)atomic_load(&d->in_flight_now);
}
