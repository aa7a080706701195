/*
 * Reply sinks over NATS (include/mm/reply.h).
 *
 * Stream form: every feedback text is one core NATS message on the request's reply subject, and
 * an empty message ends the stream, as the reference's ChunkResponder does. One-shot form: the
 * reply of a NATS service request, like async-nats' Request::respond: the success payload once,
 * or an empty payload with the service error headers.
 *
 * natsConnection_Publish and natsConnection_PublishMsg only append to the connection's buffer
 * (flushed by nats.c's own thread, or kept while reconnecting), so neither blocks the caller.
 * Each sink is used by one thread at a time, so its state needs no lock; a sink attached to the
 * heartbeat thread (reply_heartbeat.c) shares only its subject and the time of its last publish
 * with it, and is detached when it ends or is freed (reply_nats_internal.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/log.h"
#include "mm/reply.h"
#include "nats_error.h"
#include "reply_nats_internal.h"

#define ABANDONED_STATUS 503
#define ABANDONED_MESSAGE "the matchmaker stopped before the request finished"
#define NO_RESULT_STATUS 500
#define NO_RESULT_MESSAGE "the matchmaker ended the request without a result"
/* The reference front unwraps Nats-Service-Error; an empty value would not arrive at all (NATS
 * parsers trim header values), so a blank message is replaced by the reference's generic text. */
#define BLANK_MESSAGE "unknown error"


static mm_err
translate(natsStatus s, const nats_sink *sink, const char *what)
{
    if (s == NATS_OK)
        return MM_OK;
    mm_warn("reply: publishing %s to %s failed: %s (%s)", what, sink->subject, mm__nats_error_text(), natsStatus_GetText(s));
    switch (s) {
    case NATS_NO_MEMORY:
        return MM_ERR_NOMEM;
    case NATS_MAX_PAYLOAD:
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
        return MM_ERR_INVALID;
    default:
        return MM_ERR_IO;
    }
}

static mm_err
publish(nats_sink *sink, const char *data, size_t len, const char *what)
{
    if (len > (size_t)INT32_MAX)
        return MM_ERR_INVALID;
    mm_err err = translate(natsConnection_Publish(sink->nc, sink->subject, data, (int)len), sink, what);
    if (sink->hb != NULL)
        atomic_store(&sink->last_ms, mm_now_ms()); /* a message is a sign of life: no heartbeat needed for a while */
    return err;
}

static mm_err
sink_create(natsConnection *nc, const char *reply_subject, const mm_reply_sink_ops *ops, mm_reply_sink **out)
{
    if (out == NULL)
        return MM_ERR_INVALID;
    *out = NULL;
    if (nc == NULL || reply_subject == NULL || reply_subject[0] == '\0')
        return MM_ERR_INVALID;
    nats_sink *sink = calloc(1, sizeof(*sink));
    if (sink == NULL || (sink->subject = strdup(reply_subject)) == NULL) {
        free(sink);
        return MM_ERR_NOMEM;
    }
    sink->base.ops = ops;
    sink->nc = nc;
    *out = &sink->base;
    return MM_OK;
}

static void
sink_release(nats_sink *sink)
{
    mm__reply_hb_detach(sink);
    free(sink->subject);
    free(sink);
}

/* ---- stream ---- */

static mm_err
stream_send(mm_reply_sink *base, const char *text, size_t len)
{
    nats_sink *sink = (nats_sink *)base;
    if (sink->ended)
        return MM_ERR_STOPPED;
    return publish(sink, text, len, "feedback");
}

static mm_err
stream_end(mm_reply_sink *base)
{
    nats_sink *sink = (nats_sink *)base;
    if (sink->ended)
        return MM_OK;
    sink->ended = true;
    mm__reply_hb_detach(sink); /* before the end goes out: no heartbeat after it */
    return publish(sink, NULL, 0, "the end of the stream");
}

static mm_err
stream_error(mm_reply_sink *base, uint16_t status, const char *message)
{
    nats_sink *sink = (nats_sink *)base;
    char *text = NULL;
    size_t len = 0;
    if (sink->ended)
        return MM_ERR_STOPPED;
    mm_err err = mm_feedback_error(status, message, &text, &len);
    if (err == MM_OK)
        err = publish(sink, text, len, "an error");
    free(text);
    mm_err end_err = stream_end(base);
    return err != MM_OK ? err : end_err;
}

static void
stream_free(mm_reply_sink *base)
{
    nats_sink *sink = (nats_sink *)base;
    if (!sink->ended)
        stream_error(base, ABANDONED_STATUS, ABANDONED_MESSAGE);
    sink_release(sink);
}

static const mm_reply_sink_ops stream_ops = {
    .kind = "nats-stream",
    .send = stream_send,
    .error = stream_error,
    .end = stream_end,
    .free = stream_free,
    .gone = mm__reply_nats_gone,
};

mm_err
mm_reply_nats_stream(natsConnection *nc, const char *reply_subject, mm_reply_sink **out)
{
    return sink_create(nc, reply_subject, &stream_ops, out);
}

/* ---- one-shot ---- */

static mm_err
oneshot_error(mm_reply_sink *base, uint16_t status, const char *message)
{
    nats_sink *sink = (nats_sink *)base;
    natsMsg *msg = NULL;
    char code[8];
    if (sink->answered || sink->ended)
        return MM_ERR_STOPPED;
    sink->answered = sink->ended = true;
    mm__reply_hb_detach(sink);
    /* A header value ends at CR LF: no control character may reach the wire. */
    char *value = strdup(message);
    if (value == NULL)
        return MM_ERR_NOMEM;
    bool blank = true;
    for (char *p = value; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
        blank = blank && *p == ' ';
    }
    snprintf(code, sizeof(code), "%u", (unsigned)status);
    natsStatus s = natsMsg_Create(&msg, sink->subject, NULL, NULL, 0);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, MM_NATS_SERVICE_ERROR, blank ? BLANK_MESSAGE : value);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, MM_NATS_SERVICE_ERROR_CODE, code);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(sink->nc, msg);
    natsMsg_Destroy(msg);
    free(value);
    return translate(s, sink, "a service error");
}

static mm_err
oneshot_send(mm_reply_sink *base, const char *text, size_t len)
{
    nats_sink *sink = (nats_sink *)base;
    mm_feedback fb;
    char why[160];
    char *reply = NULL;
    size_t reply_len = 0;
    if (sink->answered || sink->ended)
        return MM_ERR_STOPPED;
    mm_err err = mm_feedback_decode(text, len, &fb, why, sizeof(why));
    if (err != MM_OK) {
        mm_warn("reply: a one-shot sink got a text that is not a feedback message (%s)", why);
        return err;
    }
    switch (fb.kind) {
    case MM_FEEDBACK_READY:
        err = mm_session_response_encode(fb.token, fb.ip, fb.port, fb.cert_digest, &reply, &reply_len);
        if (err == MM_OK) {
            sink->answered = sink->ended = true;
            mm__reply_hb_detach(sink);
            err = publish(sink, reply, reply_len, "the session");
        }
        break;
    case MM_FEEDBACK_ERROR:
        err = oneshot_error(base, fb.status, fb.text);
        break;
    default: /* progress is not part of a one-shot reply */
        break;
    }
    free(reply);
    mm_feedback_clear(&fb);
    return err;
}

static mm_err
oneshot_end(mm_reply_sink *base)
{
    nats_sink *sink = (nats_sink *)base;
    if (sink->answered || sink->ended) {
        sink->ended = true;
        mm__reply_hb_detach(sink);
        return MM_OK;
    }
    return oneshot_error(base, NO_RESULT_STATUS, NO_RESULT_MESSAGE);
}

static void
oneshot_free(mm_reply_sink *base)
{
    nats_sink *sink = (nats_sink *)base;
    if (!sink->answered && !sink->ended)
        oneshot_error(base, ABANDONED_STATUS, ABANDONED_MESSAGE);
    sink_release(sink);
}

static const mm_reply_sink_ops oneshot_ops = {
    .kind = "nats-oneshot",
    .send = oneshot_send,
    .error = oneshot_error,
    .end = oneshot_end,
    .free = oneshot_free,
    .gone = mm__reply_nats_gone,
};

mm_err
mm_reply_nats_oneshot(natsConnection *nc, const char *reply_subject, mm_reply_sink **out)
{
    return sink_create(nc, reply_subject, &oneshot_ops, out);
}

bool
mm__reply_is_nats(const mm_reply_sink *sink)
{
    return sink != NULL && (sink->ops == &stream_ops || sink->ops == &oneshot_ops);
}
