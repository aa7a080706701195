/*
 * JetStream set-up: the one table of bucket settings, and create-or-bind (include/mm/kv.h).
 *
 * Order per bucket: bind (js_KeyValue); only when the stream does not exist, create it; if that
 * create fails (another replica won a race with other settings), bind again. Existing state is
 * never updated, purged or deleted: a bucket made by an older or foreign version keeps its data
 * and its settings, and we log how they differ from the table. nats.c 3.4.1 copies kvConfig.TTL
 * straight into the stream's MaxAge, which is in nanoseconds (docs/libnotes.md, nats.c).
 *
 * Asynchronous publishes (KV puts of the provisioner, delete-queue enqueues) are acknowledged on
 * nats.c's thread. A failed one (no ack within its MaxWait, "no responders" during a stream
 * leader election, a JetStream error) reaches on_async_error(), which hands it to the resend
 * scheduler (js_resend.h) to be published again after a growing delay, up to
 * MM_JS_ASYNC_ATTEMPTS times in all, counting attempts in a header of the message. Resending at
 * once, as this file first did, spent all attempts within a millisecond of a leader's death
 * (the "no responders" answer is immediate), while the election takes seconds: in the cluster
 * fault test (tests/deploy/test_cluster_faults.c) hundreds of puts were lost per election and
 * the sessions they recorded leaked. Losing one silently would leak a session (an
 * unclaimed_sessions key the reaper never sees, a deletion never queued). Resending is safe: a
 * delete-queue message carries its Nats-Msg-Id (duplicates are dropped by the stream) and a KV
 * put writes the same value again.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "js_resend.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "nats_error.h"

#define NS_PER_MS 1000000LL
#define DAY_MS (24LL * 3600 * 1000)

/* The settings of docs/protocol.md section 4, exactly as the reference creates them (and our own
 * buckets, mm_deleted_sessions and mm_create_intents, last). */
static const mm_kv_bucket_spec bucket_specs[MM_KV_BUCKET_COUNT] = {
    [MM_KV_SESSIONS_EG2LY] = {.name = "sessions_eg2ly",
                              .description = "Maps Edgegap Session IDs to Lightyear Client IDs",
                              .max_age_ms = 30000,
                              .max_value_size = 1024},
    [MM_KV_SESSIONS_LY2EG] = {.name = "sessions_ly2eg",
                              .description = "Maps Lightyear Client IDs to Edgegap Session IDs",
                              .max_age_ms = 30000,
                              .max_value_size = 1024},
    [MM_KV_UNCLAIMED_SESSIONS] = {.name = "unclaimed_sessions",
                                  .description = "Any session ids we get from the API are stored here, and if they key "
                                                 "age gets too big, we delete the session via the API.",
                                  .max_age_ms = 0,
                                  .max_value_size = 1024},
    [MM_KV_ACTIVE_CONNECTIONS] = {.name = "active_connections", .description = "", .max_age_ms = 0, .max_value_size = 0},
    [MM_KV_CERT_DIGESTS] = {.name = "cert_digests",
                            .description = "Maps server public ip to their self-signed cert digests",
                            .max_age_ms = 14 * DAY_MS,
                            .max_value_size = 1024},
    /* Ours (the reference has none): the delete worker's memory of what it deleted. */
    [MM_KV_DELETED_SESSIONS] = {.name = "mm_deleted_sessions",
                                .description = "Edgegap sessions deleted (or found gone): never sent a DELETE again",
                                .max_age_ms = MM_KV_DELETED_SESSIONS_MAX_AGE_MS,
                                .max_value_size = 64},
    /* Ours, only with webhooks on: session creates in flight (include/mm/orphans.h). */
    [MM_KV_CREATE_INTENTS] = {.name = "mm_create_intents",
                              .description = "Edgegap session creates in flight: intent id -> replica and time",
                              .max_age_ms = MM_KV_CREATE_INTENTS_MAX_AGE_MS,
                              .max_value_size = 128},
};

struct mm_js {
    jsCtx *ctx;
    kvStore *kv[MM_KV_BUCKET_COUNT];
    bool resend_registered;
};

#define ATTEMPT_HEADER "Mm-Publish-Attempt"

/* Process-wide (the handler may run while its mm_js is being destroyed, so it touches no mm_js). */
static atomic_ullong async_lost;

static void
on_async_error(jsCtx *ctx, jsPubAckErr *pae, void *closure)
{
    (void)closure;
    natsMsg *msg = pae->Msg;
    const char *subject = msg ? natsMsg_GetSubject(msg) : "?";
    const char *text = pae->ErrText && *pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err);
    int attempt = 1;
    const char *prev = NULL;
    if (msg != NULL && natsMsgHeader_Get(msg, ATTEMPT_HEADER, &prev) == NATS_OK && prev != NULL)
        attempt = atoi(prev);
    if (msg == NULL || attempt < 1 || attempt >= MM_JS_ASYNC_ATTEMPTS) {
        atomic_fetch_add(&async_lost, 1);
        mm_metric_inc(MM_METRIC_JS_GIVEN_UP);
        mm_error("jetstream: publish to %s failed %d times, giving up: %s", subject, attempt, text);
        return;
    }
    char next[12], subject_copy[256];
    snprintf(next, sizeof(next), "%d", attempt + 1);
    snprintf(subject_copy, sizeof(subject_copy), "%s", subject);
    int64_t delay_ms = 0;
    if (natsMsgHeader_Set(msg, ATTEMPT_HEADER, next) != NATS_OK) {
        atomic_fetch_add(&async_lost, 1);
        mm_metric_inc(MM_METRIC_JS_GIVEN_UP);
        mm_error("jetstream: publish to %s failed (%s) and could not be resent: %s", subject_copy, text, mm__nats_error_text());
        return;
    }
    /* on success the scheduler owns the message and cleared pae->Msg, so nats.c does not free it */
    if (!mm__js_resend_schedule(ctx, &pae->Msg, attempt, &delay_ms)) {
        atomic_fetch_add(&async_lost, 1);
        mm_metric_inc(MM_METRIC_JS_GIVEN_UP);
        mm_error("jetstream: publish to %s failed (%s) and could not be queued for a resend; it is lost", subject_copy, text);
        return;
    }
    /* one line per message (its first failure); later ones of the same message at debug */
    mm_log(attempt == 1 ? MM_LOG_WARN : MM_LOG_DEBUG,
           "jetstream: publish to %s failed (%s): resending in %lld ms (attempt %d of %d)", subject_copy, text, (long long)delay_ms,
           attempt + 1, MM_JS_ASYNC_ATTEMPTS);
}

void
mm_js_async_stats(uint64_t *resent, uint64_t *lost)
{
    uint64_t dropped = 0;
    mm__js_resend_counts(resent, &dropped);
    if (lost != NULL)
        *lost = atomic_load(&async_lost) + dropped;
}

const mm_kv_bucket_spec *
mm_kv_bucket_spec_of(mm_kv_bucket b)
{
    return &bucket_specs[b];
}

/* Logs how an existing bucket's stream differs from its row of the table. */
static void
bucket_check(jsCtx *ctx, const mm_kv_bucket_spec *spec, const mm_js_options *o)
{
    char stream[128], diff[512] = "";
    size_t used = 0;
    jsStreamInfo *si = NULL;
    snprintf(stream, sizeof(stream), "KV_%s", spec->name);
    if (js_GetStreamInfo(&si, ctx, stream, NULL, NULL) != NATS_OK) {
        mm_warn("jetstream: cannot read the settings of bucket %s: %s", spec->name, mm__nats_error_text());
        return;
    }
    const jsStreamConfig *c = si->Config;
    int64_t want_age = spec->max_age_ms * NS_PER_MS;
    int64_t want_size = spec->max_value_size > 0 ? spec->max_value_size : -1;
    int64_t have_size = c->MaxMsgSize > 0 ? c->MaxMsgSize : -1;
    if (c->MaxAge != want_age)
        used += (size_t)snprintf(diff + used, sizeof(diff) - used, " max age %lld ms (table: %lld ms);",
                                 (long long)(c->MaxAge / NS_PER_MS), (long long)spec->max_age_ms);
    if (have_size != want_size && used < sizeof(diff))
        used += (size_t)snprintf(diff + used, sizeof(diff) - used, " max value size %lld (table: %lld);", (long long)have_size,
                                 (long long)want_size);
    if (c->MaxMsgsPerSubject != 1 && used < sizeof(diff))
        used += (size_t)snprintf(diff + used, sizeof(diff) - used, " history %lld (table: 1);", (long long)c->MaxMsgsPerSubject);
    if (c->Replicas != o->replicas && used < sizeof(diff))
        used += (size_t)snprintf(diff + used, sizeof(diff) - used, " %d replicas (asked: %d);", (int)c->Replicas, o->replicas);
    if (used > 0)
        mm_warn("jetstream: bucket %s exists with other settings, used as it is:%s", spec->name, diff);
    jsStreamInfo_Destroy(si);
}

static mm_err
bucket_bind(jsCtx *ctx, const mm_kv_bucket_spec *spec, const mm_js_options *o, kvStore **kv, char *why, size_t why_len)
{
    natsStatus s = js_KeyValue(kv, ctx, spec->name);
    if (s == NATS_OK) {
        mm_debug("jetstream: bound existing bucket %s", spec->name);
        bucket_check(ctx, spec, o);
        return MM_OK;
    }
    if (s == NATS_NOT_FOUND) {
        kvConfig cfg;
        kvConfig_Init(&cfg);
        cfg.Bucket = spec->name;
        cfg.Description = spec->description;
        cfg.History = 1;
        cfg.TTL = spec->max_age_ms * NS_PER_MS;
        cfg.MaxValueSize = spec->max_value_size;
        cfg.StorageType = o->memory_storage ? js_MemoryStorage : js_FileStorage;
        cfg.Replicas = o->replicas;
        s = js_CreateKeyValue(kv, ctx, &cfg);
        if (s == NATS_OK) {
            mm_info("jetstream: created bucket %s", spec->name);
            return MM_OK;
        }
        char create_error[256];
        snprintf(create_error, sizeof(create_error), "%s",
                 s == NATS_ERR || s == NATS_TIMEOUT ? mm__nats_error_text() : natsStatus_GetText(s));
        if (strcmp(create_error, "unknown error") == 0)
            snprintf(create_error, sizeof(create_error), "%s", natsStatus_GetText(s));
        mm_warn("jetstream: creating bucket %s failed (%s); binding it instead", spec->name, create_error);
        if (js_KeyValue(kv, ctx, spec->name) == NATS_OK) {
            bucket_check(ctx, spec, o);
            return MM_OK;
        }
        snprintf(why, why_len, "cannot create the KV bucket %s (%d replicas, %s storage): %s", spec->name, o->replicas,
                 o->memory_storage ? "memory" : "file", create_error);
        return MM_ERR_IO;
    }
    snprintf(why, why_len, "cannot bind or create the KV bucket %s: %s", spec->name, mm__nats_error_text());
    return MM_ERR_IO;
}

static mm_err
delete_stream_bind(jsCtx *ctx, const mm_js_options *o, char *why, size_t why_len)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, ctx, MM_DELETE_SESSION_STREAM, NULL, &jerr);
    if (s == NATS_NOT_FOUND) {
        const char *subjects[] = {MM_DELETE_SESSION_SUBJECTS};
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = MM_DELETE_SESSION_STREAM;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Retention = js_WorkQueuePolicy;
        cfg.Storage = o->memory_storage ? js_MemoryStorage : js_FileStorage;
        cfg.Replicas = o->replicas;
        s = js_AddStream(&si, ctx, &cfg, NULL, &jerr);
        if (s == NATS_OK)
            mm_info("jetstream: created stream %s", MM_DELETE_SESSION_STREAM);
        else if ((s = js_GetStreamInfo(&si, ctx, MM_DELETE_SESSION_STREAM, NULL, &jerr)) == NATS_OK)
            mm_warn("jetstream: creating stream %s failed; bound the existing one", MM_DELETE_SESSION_STREAM);
    }
    if (s != NATS_OK) {
        snprintf(why, why_len, "cannot bind or create the stream %s: %s", MM_DELETE_SESSION_STREAM, mm__nats_error_text());
        return MM_ERR_IO;
    }
    const jsStreamConfig *c = si->Config;
    int subject_ok = c->SubjectsLen == 1 && strcmp(c->Subjects[0], MM_DELETE_SESSION_SUBJECTS) == 0;
    if (c->Replicas != o->replicas)
        mm_warn("jetstream: stream %s has %d replicas (asked: %d), used as it is", MM_DELETE_SESSION_STREAM, (int)c->Replicas,
                o->replicas);
    if (c->Retention != js_WorkQueuePolicy || !subject_ok)
        mm_warn("jetstream: stream %s exists with other settings (retention %d, %d subjects%s%s), used as it is",
                MM_DELETE_SESSION_STREAM, (int)c->Retention, c->SubjectsLen, c->SubjectsLen > 0 ? ", first " : "",
                c->SubjectsLen > 0 ? c->Subjects[0] : "");
    jsStreamInfo_Destroy(si);
    return MM_OK;
}

mm_err
mm_js_setup(natsConnection *nc, unsigned needs, int64_t wait_ms, mm_js **out, char *why, size_t why_len)
{
    mm_js_options opts = {.wait_ms = wait_ms};
    return mm_js_setup_with(nc, needs, &opts, out, why, why_len);
}

mm_err
mm_js_setup_with(natsConnection *nc, unsigned needs, const mm_js_options *options, mm_js **out, char *why, size_t why_len)
{
    mm_err err = MM_OK;
    char reason[512] = "";
    mm_js_options opt = options != NULL ? *options : (mm_js_options){0};
    if (opt.replicas == 0)
        opt.replicas = 1;
    if (opt.replicas < 1 || opt.replicas > 5) {
        if (why != NULL && why_len > 0)
            snprintf(why, why_len, "jetstream: %d replicas asked; 1 to 5 are possible", opt.replicas);
        return MM_ERR_INVALID;
    }
    mm_js *js = calloc(1, sizeof(*js));
    if (js == NULL)
        return MM_ERR_NOMEM;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = opt.wait_ms > 0 ? opt.wait_ms : 5000;
    o.PublishAsync.ErrHandler = on_async_error;
    if (natsConnection_JetStream(&js->ctx, nc, &o) != NATS_OK) {
        snprintf(reason, sizeof(reason), "cannot create a JetStream context: %s", mm__nats_error_text());
        err = MM_ERR_IO;
        goto cleanup;
    }
    if ((err = mm__js_resend_register(js->ctx, opt.resend_first_ms > 0 ? opt.resend_first_ms : 250, o.Wait)) != MM_OK) {
        snprintf(reason, sizeof(reason), "cannot start the JetStream resend thread: %s", mm_err_str(err));
        goto cleanup;
    }
    js->resend_registered = true;
    for (int b = 0; b < MM_KV_BUCKET_COUNT; b++) {
        if ((needs & MM_JS_NEED_BUCKET(b)) == 0)
            continue;
        if ((err = bucket_bind(js->ctx, &bucket_specs[b], &opt, &js->kv[b], reason, sizeof(reason))) != MM_OK)
            goto cleanup;
    }
    if ((needs & MM_JS_NEED_DELETE_STREAM) != 0 && (err = delete_stream_bind(js->ctx, &opt, reason, sizeof(reason))) != MM_OK)
        goto cleanup;
    *out = js;
    js = NULL;

cleanup:
    mm_js_destroy(js);
    if (err != MM_OK && why != NULL && why_len > 0)
        snprintf(why, why_len, "%s", reason);
    return err;
}

kvStore *
mm_js_kv(mm_js *js, mm_kv_bucket b)
{
    return js->kv[b];
}

jsCtx *
mm_js_ctx(mm_js *js)
{
    return js->ctx;
}

void
mm_js_destroy(mm_js *js)
{
    if (js == NULL)
        return;
    if (js->resend_registered) /* before the context goes: no resend may touch it afterwards */
        mm__js_resend_unregister(js->ctx);
    for (int b = 0; b < MM_KV_BUCKET_COUNT; b++)
        kvStore_Destroy(js->kv[b]);
    jsCtx_Destroy(js->ctx);
    free(js);
}
