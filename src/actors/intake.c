/*
 * Intake (include/mm/intake.h): two queue subscriptions whose callbacks, on nats.c's delivery
 * threads, validate a request, make its reply sink and submit it to the provisioner; with
 * webhooks, a plain subscription to matchmaker.webhook whose payloads, parsed strictly, go to
 * mm_provisioner_webhook (and, with the header Mm-Intent, to mm_orphans_offer). No state besides the subscriptions and two counters; nothing blocks
 * (publishing is buffered). A request carrying Mm-Heartbeat-Ms or Mm-Liveness-Ms (our bridge's;
 * include/mm/reply.h) has its sink attached to the process's heartbeat thread before it is handed
 * over: per process when it asks Mm-Liveness-Ms (one heartbeat, then the process's mm.alive
 * messages), else per request.
 */
#include "mm/intake.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/delete_queue.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/request_id.h"
#include "mm/reply.h"
#include "mm/request.h"

struct mm_intake {
    natsConnection *nc;
    mm_provisioner *provisioner;
    bool names_valid; /* app and version are request names: validate the subject too */
    /* NULL: requests asking for heartbeats get none */
    mm_reply_heartbeat *heartbeat;
    mm_orphans *orphans; /* NULL: intents are not checked */
    natsSubscription *sub_request, *sub_gensession, *sub_webhook;
    bool stopped;
    atomic_ullong n_webhooks, n_webhooks_bad;
};

/* The webhook payload: a JSON object whose one member is session_id, a valid id. At most
 * WEBHOOK_MAX_BYTES (the bridge sends about 90). */
#define WEBHOOK_MAX_BYTES 512

static bool
webhook_parse(const char *data, size_t len, char *id, size_t id_len)
{
    if (data == NULL || len == 0 || len > WEBHOOK_MAX_BYTES)
        return false;
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    bool ok = false;
    json_t *sid = json_object_get(root, "session_id");
    if (json_is_object(root) && json_object_size(root) == 1 && json_is_string(sid) &&
        strlen(json_string_value(sid)) == json_string_length(sid) && mm_session_id_valid(json_string_value(sid))) {
        snprintf(id, id_len, "%s", json_string_value(sid));
        ok = true;
    }
    json_decref(root);
    return ok;
}

static void
on_webhook(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    mm_intake *in = closure;
    char id[MM_SESSION_ID_MAX + 1];
    if (!webhook_parse(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), id, sizeof(id))) {
        atomic_fetch_add(&in->n_webhooks_bad, 1);
        mm_metric_webhook(MM_METRIC_WH_BAD);
        mm_debug("intake: a %s message that is not {\"session_id\":\"<id>\"}: dropped", MM_WEBHOOK_SUBJECT);
        goto cleanup;
    }
    const char *intent = NULL; /* another replica's create, maybe (include/mm/orphans.h) */
    if (in->orphans != NULL && natsMsgHeader_Get(msg, MM_INTENT_HEADER, &intent) == NATS_OK)
        mm_orphans_offer(in->orphans, id, intent);
    mm_err err = mm_provisioner_webhook(in->provisioner, id);
    if (err == MM_OK)
        atomic_fetch_add(&in->n_webhooks, 1);
    else
        mm_debug("intake: webhook for session %s not taken: %s", id, mm_err_str(err)); /* counted by the provisioner */
cleanup:
    natsMsg_Destroy(msg);
}

/* What a request asks of the heartbeat thread: Mm-Liveness-Ms wins over Mm-Heartbeat-Ms (a front
 * of ours sends both, so that an older matchmaker still sends it per-request heartbeats). */
typedef struct intake_hb {
    uint32_t ms; /* 0: none */
    bool liveness;
} intake_hb;

static mm_err
intake_hb_asked(natsMsg *msg, intake_hb *hb, char *why, size_t why_len)
{
    hb->liveness = false;
    mm_err err = mm_reply_liveness_asked(msg, &hb->ms, why, why_len);
    if (err != MM_OK || hb->ms != 0) {
        hb->liveness = err == MM_OK;
        return err;
    }
    return mm_reply_heartbeat_asked(msg, &hb->ms, why, why_len);
}

/* Gives the request to the provisioner, or answers 503. Takes sink. hb: the heartbeats the
 * request asked for (ms 0: none); attached first, so the front hears at once that this
 * matchmaker holds its request, and for as long as the sink lives. */
static void
intake_submit(mm_intake *in, mm_reply_sink *sink, const char *client_ip, uint64_t request_id, intake_hb hb)
{
    if (hb.ms != 0 && in->heartbeat != NULL &&
        (hb.liveness ? mm_reply_heartbeat_attach_liveness(in->heartbeat, sink, hb.ms)
                     : mm_reply_heartbeat_attach(in->heartbeat, sink, hb.ms)) == MM_ERR_INVALID)
        mm_error("intake: IMPOSSIBLE STATE: could not attach a reply sink to the heartbeat");
    mm_err err = mm_provisioner_submit_id(in->provisioner, sink, client_ip, request_id);
    if (err == MM_OK)
        return;
    mm_warn("intake: request refused: %s", err == MM_ERR_FULL ? "busy" : mm_err_str(err));
    mm_reply_error(sink, 503, err == MM_ERR_FULL ? "busy" : "the matchmaker is stopping");
    mm_reply_free(sink);
}

static void
intake_refuse(mm_reply_sink *sink, const char *why)
{
    mm_info("intake: bad request: %s", why);
    mm_reply_error(sink, 400, why);
    mm_reply_free(sink);
}

static void
on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    mm_intake *in = closure;
    const char *reply = natsMsg_GetReply(msg);
    mm_reply_sink *sink = NULL;
    if (reply == NULL || reply[0] == '\0') {
        mm_warn("intake: a request on %s without a reply subject: dropped", natsMsg_GetSubject(msg));
        goto cleanup;
    }
    if (mm_reply_nats_stream(nc, reply, &sink) != MM_OK) {
        mm_error("intake: could not make a reply sink for %s", natsMsg_GetSubject(msg));
        goto cleanup;
    }
    char why[160];
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    intake_hb hb = {0};
    if (intake_hb_asked(msg, &hb, why, sizeof(why)) != MM_OK) {
        intake_refuse(sink, why);
    } else if (in->names_valid) {
        mm_session_request req;
        if (mm_request_parse_nats(natsMsg_GetSubject(msg), data ? data : "", len, &req, why, sizeof(why)) != MM_OK)
            intake_refuse(sink, why);
        else
            intake_submit(in, sink, req.client_ip, mm_request_id_of(msg), hb);
    } else {
        char ip[MM_IP_TEXT_LEN];
        if (mm_request_parse_gensession(data ? data : "", len, ip, why, sizeof(why)) != MM_OK)
            intake_refuse(sink, why);
        else
            intake_submit(in, sink, ip, mm_request_id_of(msg), hb);
    }
cleanup:
    natsMsg_Destroy(msg);
}

static void
on_gensession(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    mm_intake *in = closure;
    const char *reply = natsMsg_GetReply(msg);
    mm_reply_sink *sink = NULL;
    if (reply == NULL || reply[0] == '\0') {
        mm_warn("intake: a gensession request without a reply subject: dropped");
        goto cleanup;
    }
    if (mm_reply_nats_oneshot(nc, reply, &sink) != MM_OK) {
        mm_error("intake: could not make a gensession reply sink");
        goto cleanup;
    }
    char why[160];
    char ip[MM_IP_TEXT_LEN];
    const char *data = natsMsg_GetData(msg);
    intake_hb hb = {0};
    if (intake_hb_asked(msg, &hb, why, sizeof(why)) != MM_OK)
        intake_refuse(sink, why);
    else if (mm_request_parse_gensession(data ? data : "", (size_t)natsMsg_GetDataLength(msg), ip, why, sizeof(why)) != MM_OK)
        intake_refuse(sink, why);
    else
        intake_submit(in, sink, ip, mm_request_id_of(msg), hb);
cleanup:
    natsMsg_Destroy(msg);
}

mm_err
mm_intake_start(const mm_intake_config *config, mm_intake **out, char *why, size_t why_len)
{
    *out = NULL;
    if (config == NULL || config->nc == NULL || config->provisioner == NULL || config->app == NULL || config->version == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "intake: nc, provisioner, app and version are required");
    mm_intake *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "intake: out of memory");
    in->nc = config->nc;
    in->provisioner = config->provisioner;
    in->heartbeat = config->heartbeat;
    in->orphans = config->orphans;
    in->names_valid = mm_request_name_valid(config->app) && mm_request_name_valid(config->version);
    char subject[512];
    snprintf(subject, sizeof(subject), "%s%s.%s", MM_REQUEST_SUBJECT_PREFIX, config->app, config->version);
    mm_err err = MM_OK;
    natsStatus s = natsConnection_QueueSubscribe(&in->sub_request, in->nc, subject, MM_INTAKE_QUEUE, on_request, in);
    if (s == NATS_OK)
        s = natsConnection_QueueSubscribe(&in->sub_gensession, in->nc, MM_GENSESSION_SUBJECT, MM_GENSESSION_QUEUE, on_gensession,
                                          in);
    if (s == NATS_OK && config->webhooks)
        s = natsConnection_Subscribe(&in->sub_webhook, in->nc, MM_WEBHOOK_SUBJECT, on_webhook, in);
    if (s == NATS_OK)
        s = natsConnection_Flush(in->nc);
    if (s != NATS_OK) {
        err = mm_fail(MM_ERR_IO, why, why_len, "intake: subscribing %s failed: %s", subject, natsStatus_GetText(s));
        goto cleanup;
    }
    mm_info("intake: serving %s (queue %s) and %s (queue %s)%s", subject, MM_INTAKE_QUEUE, MM_GENSESSION_SUBJECT,
            MM_GENSESSION_QUEUE, config->webhooks ? " and " MM_WEBHOOK_SUBJECT " (every replica)" : "");
    *out = in;
    return MM_OK;
cleanup:
    mm_intake_destroy(in);
    return err;
}

static void
drain_sub(natsSubscription *sub, int64_t timeout_ms)
{
    if (sub == NULL)
        return;
    if (natsSubscription_Drain(sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(sub, timeout_ms > 0 ? timeout_ms : 1);
    else
        natsSubscription_Unsubscribe(sub);
}

void
mm_intake_stop(mm_intake *in, int64_t timeout_ms)
{
    if (in == NULL || in->stopped)
        return;
    in->stopped = true;
    drain_sub(in->sub_request, timeout_ms);
    drain_sub(in->sub_gensession, timeout_ms);
    drain_sub(in->sub_webhook, timeout_ms);
}

void
mm_intake_get_stats(mm_intake *in, mm_intake_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (in == NULL)
        return;
    out->webhooks = atomic_load(&in->n_webhooks);
    out->webhooks_bad = atomic_load(&in->n_webhooks_bad);
}

void
mm_intake_destroy(mm_intake *in)
{
    if (in == NULL)
        return;
    mm_intake_stop(in, 2000);
    natsSubscription_Destroy(in->sub_request);
    natsSubscription_Destroy(in->sub_gensession);
    natsSubscription_Destroy(in->sub_webhook);
    free(in);
}
