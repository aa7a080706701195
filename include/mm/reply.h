/*
 * Reply sinks: where the matchmaker writes one request's feedback (ARCHITECTURE.md, "Reply
 * sink"). The provisioner speaks only this interface and feedback texts (include/mm/feedback.h);
 * which transport and which wire form is behind a sink is the sink's business:
 *
 *   NATS stream (matchmaker.request.*): each feedback text is published to the request's reply
 *     subject as it is; end() publishes the EMPTY message that ends the stream (docs/protocol.md section 3).
 *   NATS one-shot (session.gensession): no progress; a SessionReady text becomes the one reply
 *     {"connect_token",...}; an error becomes an empty message with the NATS service error
 *     headers Nats-Service-Error-Code / Nats-Service-Error (as async-nats' Request::respond).
 *   Relay (src/net/front/relay.c): the web front's sink, posting to the h2o loop's inbox.
 *
 * The calls:
 *   send(text, len)  one feedback text (len > 0; an empty text would end a stream: use end()).
 *   error(status, message)  the Error feedback, then end. The stream form's Error text is the
 *                    reference's `{"Error":[status,"message"]}`.
 *   end()            ends the request. Idempotent. A one-shot sink that has not answered yet
 *                    answers 500 first, so a requester never waits for its timeout.
 *   free()           releases the sink. A sink freed before end() first sends
 *                    Error(503, "the matchmaker stopped before the request finished") and ends,
 *                    so that the client learns at once. Accepts NULL.
 * After the end, send() and error() publish nothing and return MM_ERR_STOPPED. Publishing is
 * buffered and never blocks (natsConnection_Publish); a failure is logged by the sink and returned
 * (MM_ERR_IO, MM_ERR_NOMEM, MM_ERR_INVALID for a text over the server's payload limit).
 *
 * Threads: a sink is used by one thread at a time (the one holding it; hand it over inside a
 * message). Different sinks are independent. The NATS connection is borrowed: it must outlive
 * every sink made on it.
 */
#ifndef MM_REPLY_H
#define MM_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"

typedef struct mm_reply_sink mm_reply_sink;

/** What a sink implementation provides; every member is required but `gone`. */
typedef struct mm_reply_sink_ops {
    const char *kind; /* for logs: "nats-stream", "nats-oneshot", ... */
    mm_err (*send)(mm_reply_sink *sink, const char *text, size_t len);
    mm_err (*error)(mm_reply_sink *sink, uint16_t status, const char *message);
    mm_err (*end)(mm_reply_sink *sink);
    void (*free)(mm_reply_sink *sink);
    /* NULL: the sink cannot tell. Else true once its client is known gone (nothing it is sent
     * reaches anyone): a player waiting in line then leaves it (include/mm/waiting_room.h). */
    bool (*gone)(mm_reply_sink *sink);
} mm_reply_sink_ops;

/** Implementations embed this as their first member. */
struct mm_reply_sink {
    const mm_reply_sink_ops *ops;
};

/** Sends one feedback text. */
static inline mm_err
mm_reply_send(mm_reply_sink *sink, const char *text, size_t len)
{
    if (sink == NULL || text == NULL || len == 0)
        return MM_ERR_INVALID;
    return sink->ops->send(sink, text, len);
}

/** Sends Error(status, message) and ends. */
static inline mm_err
mm_reply_error(mm_reply_sink *sink, uint16_t status, const char *message)
{
    if (sink == NULL || message == NULL)
        return MM_ERR_INVALID;
    return sink->ops->error(sink, status, message);
}

/** Ends the request (idempotent). */
static inline mm_err
mm_reply_end(mm_reply_sink *sink)
{
    if (sink == NULL)
        return MM_ERR_INVALID;
    return sink->ops->end(sink);
}

/** True when the sink knows its client is gone (the web front's relay sink does; NATS sinks cannot tell). */
static inline bool
mm_reply_gone(mm_reply_sink *sink)
{
    return sink != NULL && sink->ops->gone != NULL && sink->ops->gone(sink);
}

/** Frees the sink (ending it first if needed). Accepts NULL. */
static inline void
mm_reply_free(mm_reply_sink *sink)
{
    if (sink != NULL)
        sink->ops->free(sink);
}

/**
 * A streaming sink publishing to reply_subject (copied) on nc (borrowed). MM_ERR_INVALID when nc
 * or reply_subject is missing or empty; MM_ERR_NOMEM.
 */
mm_err mm_reply_nats_stream(natsConnection *nc, const char *reply_subject, mm_reply_sink **out);

/**
 * A one-shot sink for a NATS service request (session.gensession) answering on reply_subject:
 * Acknowledged, SessionRequestAccepted and ProgressReport texts are dropped; SessionReady is
 * answered as {"connect_token","gameserver_ip","gameserver_port","cert_digest"}; an Error text or
 * error() as an empty message with headers Nats-Service-Error-Code (decimal status) and
 * Nats-Service-Error (the message; control characters become spaces, and a blank message becomes
 * "unknown error": the reference front unwraps that header, and NATS drops empty header values).
 * One answer only: what comes after it returns MM_ERR_STOPPED. A text that is not a feedback
 * message: MM_ERR_INVALID.
 */
mm_err mm_reply_nats_oneshot(natsConnection *nc, const char *reply_subject, mm_reply_sink **out);

/** Header names of a NATS service error (as async-nats and the other NATS clients write them). */
#define MM_NATS_SERVICE_ERROR "Nats-Service-Error"
#define MM_NATS_SERVICE_ERROR_CODE "Nats-Service-Error-Code"

#endif
