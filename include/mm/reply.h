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
     * reaches anyone; a NATS sink: its front sent a cancel, "Cancel" below): a player waiting in
     * line then leaves it (include/mm/waiting_room.h). Thread-safe against the marking. */
    bool (*gone)(mm_reply_sink *sink);
    /* NULL: the sink cannot tell when (its holder polls gone()). Else arranges one call of
     * cb(ctx, tag) when the client becomes gone -- from the thread that learns it, or from this
     * call when it is gone already -- and none once free() has returned. cb must not block nor
     * call the sink. Lets a holder of many sinks learn of leavers without walking them all. */
    void (*watch_gone)(mm_reply_sink *sink, void (*cb)(void *ctx, uint64_t tag), void *ctx, uint64_t tag);
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

/** True when the sink knows its client is gone (the web front's relay sink; a NATS sink whose front sent a cancel). */
static inline bool
mm_reply_gone(mm_reply_sink *sink)
{
    return sink != NULL && sink->ops->gone != NULL && sink->ops->gone(sink);
}

/** Asks for cb(ctx, tag) when the sink's client is gone (watch_gone above). False when the sink
 * cannot tell (no watch_gone): the caller polls mm_reply_gone() instead. */
static inline bool
mm_reply_watch_gone(mm_reply_sink *sink, void (*cb)(void *ctx, uint64_t tag), void *ctx, uint64_t tag)
{
    if (sink == NULL || sink->ops->watch_gone == NULL)
        return false;
    sink->ops->watch_gone(sink, cb, ctx, tag);
    return true;
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

/*
 * ---- Heartbeats on a reply stream (our extension; docs/protocol.md section 3) ----
 *
 * A front that wants to know that the matchmaker serving its request is alive sets the header
 * `Mm-Heartbeat-Ms: <interval>` on the request (our NATS bridge does; the reference front never
 * does, and then nothing below happens: it gets the reference's byte stream). The matchmaker
 * then attaches the request's sink to its heartbeat thread (mm_reply_heartbeat_attach): one
 * heartbeat at once, then one whenever the sink has published nothing for `interval` ms, until
 * the sink ends or is freed. A heartbeat is an EMPTY message with the header
 * `Mm-Heartbeat: <interval>`: a front that asked for them must drop it (it is not the end of
 * the stream, nor a one-shot answer); mm_reply_is_heartbeat() tells. The heartbeats come as
 * long as the sink lives in the matchmaker (queued in the provisioner's inbox, waiting for
 * Edgegap, polling, minting, draining at a stop), so their absence means the process died or
 * lost NATS.
 */
/*
 * ---- Cancel (our extension; docs/protocol.md section 3, "Cancel") ----
 *
 * Every heartbeat carries a reply subject, mm.cancel.<the matchmaker process's nuid>.<token>,
 * the same for every heartbeat of one request and unique to it. A front whose client went away
 * before the request's end publishes one empty message with the header `Mm-Cancel: 1` to it
 * (our bridge does); the heartbeat thread, subscribed to mm.cancel.<nuid>.*, then marks the
 * sink gone: mm_reply_gone() turns true, so a player still waiting in line leaves it without an
 * Edgegap call (include/mm/waiting_room.h). Past the line nothing changes: the session is made
 * and, never claimed, reaped. Only sinks attached to the heartbeat thread can be cancelled.
 */
/*
 * ---- Liveness per process (our extension; docs/protocol.md section 3, "Liveness") ----
 *
 * Per-request heartbeats cost one message per waiting request and interval (10,000 players
 * waiting: 10,000 messages a second through both processes and nats-server). A front that sends
 * `Mm-Liveness-Ms: <interval>` (our bridge does, next to Mm-Heartbeat-Ms, so an older matchmaker
 * still sends it per-request heartbeats) gets instead ONE heartbeat on the reply subject at
 * once, with the header `Mm-Replica: <this process's nuid>` and the cancel subject as its reply,
 * and nothing more per request: the process publishes one empty message on
 * mm.alive.<nuid> (header Mm-Heartbeat: <interval>) every interval (the smallest any request
 * asked for since the start, within the 100 ms tick) while it holds any such request. The front
 * then keeps one "last heard" per replica: a request is lost only when both its own stream and
 * its replica were silent for its limit. Such a sink is attached with
 * mm_reply_heartbeat_attach_liveness; cancels work as for any attached sink.
 */
#define MM_REPLY_LIVENESS_ASK_HEADER "Mm-Liveness-Ms"
#define MM_REPLY_REPLICA_HEADER "Mm-Replica"
#define MM_REPLY_ALIVE_PREFIX "mm.alive"
#define MM_REPLY_REPLICA_MAX 31 /* the longest Mm-Replica value (a NATS nuid is 22 characters) */

#define MM_REPLY_CANCEL_PREFIX "mm.cancel"
#define MM_REPLY_CANCEL_HEADER "Mm-Cancel"

#define MM_REPLY_HEARTBEAT_ASK_HEADER "Mm-Heartbeat-Ms"
#define MM_REPLY_HEARTBEAT_HEADER "Mm-Heartbeat"
#define MM_REPLY_HEARTBEAT_MIN_MS 200u
#define MM_REPLY_HEARTBEAT_MAX_MS 60000u

/** The heartbeat thread of a process (one NATS connection). */
typedef struct mm_reply_heartbeat mm_reply_heartbeat;

typedef struct mm_reply_heartbeat_stats {
    uint64_t attached; /* sinks attached since start */
    uint64_t sent;     /* heartbeats published on reply subjects (the first one of each sink included) */
    uint64_t alive;    /* liveness messages published on mm.alive.<nuid> ("Liveness" above) */
    uint64_t attached_liveness; /* of `attached`, those attached with mm_reply_heartbeat_attach_liveness */
    uint64_t failed;   /* heartbeat publishes nats.c refused (not connected, ...) */
    uint64_t live;     /* sinks attached now */
    uint64_t cancels;  /* cancels that marked an attached sink gone */
    uint64_t cancels_unknown; /* cancels for no sink attached (it ended first, or a stray subject) */
} mm_reply_heartbeat_stats;

/**
 * Subscribes mm.cancel.<nuid>.* ("Cancel" above) and starts the thread (named "reply-hb"), which
 * publishes on nc (borrowed; must outlive it). MM_ERR_NOMEM, MM_ERR_IO (subscribing failed), MM_ERR_SYS.
 */
mm_err mm_reply_heartbeat_start(natsConnection *nc, mm_reply_heartbeat **out);

/**
 * Reads what a request asks: MM_OK with *interval_ms = 0 when it has no MM_REPLY_HEARTBEAT_ASK_HEADER,
 * or the interval it asks for; MM_ERR_INVALID (why says so) when the header is not a decimal
 * number of milliseconds in [MM_REPLY_HEARTBEAT_MIN_MS, MM_REPLY_HEARTBEAT_MAX_MS].
 */
mm_err mm_reply_heartbeat_asked(natsMsg *request, uint32_t *interval_ms, char *why, size_t why_len);

/**
 * Attaches a NATS sink (mm_reply_nats_stream or mm_reply_nats_oneshot, not ended) to hb: one
 * heartbeat is published at once, then one whenever the sink was silent for interval_ms (within
 * the thread's 100 ms tick), until the sink ends or is freed (which detaches it). Call on the
 * thread that holds the sink, before handing it on. MM_ERR_INVALID (not a NATS sink, ended, or
 * interval out of range), MM_ERR_IO (the first heartbeat's publish failed; the sink is attached
 * anyway). Any thread; hb must outlive every sink attached to it.
 */
mm_err mm_reply_heartbeat_attach(mm_reply_heartbeat *hb, mm_reply_sink *sink, uint32_t interval_ms);

/**
 * Reads MM_REPLY_LIVENESS_ASK_HEADER like mm_reply_heartbeat_asked reads its header (same range;
 * *interval_ms = 0 when absent; MM_ERR_INVALID with why naming the header when malformed).
 */
mm_err mm_reply_liveness_asked(natsMsg *request, uint32_t *interval_ms, char *why, size_t why_len);

/**
 * As mm_reply_heartbeat_attach, but per process ("Liveness" above): the one heartbeat at once
 * carries Mm-Replica, and no more are sent for this sink; hb publishes on mm.alive.<nuid> every
 * interval (the smallest asked) while any such sink is attached. Same errors.
 */
mm_err mm_reply_heartbeat_attach_liveness(mm_reply_heartbeat *hb, mm_reply_sink *sink, uint32_t interval_ms);

/** The process's identity in Mm-Replica and mm.alive.<nuid> (lives as long as hb). */
const char *mm_reply_heartbeat_replica(const mm_reply_heartbeat *hb);

void mm_reply_heartbeat_get_stats(mm_reply_heartbeat *hb, mm_reply_heartbeat_stats *out);

/** Stops the thread and frees. Every sink attached must have been freed first. Accepts NULL. */
void mm_reply_heartbeat_destroy(mm_reply_heartbeat *hb);

/** True when msg is a heartbeat (a front that asked for them drops it). */
static inline bool
mm_reply_is_heartbeat(natsMsg *msg)
{
    const char *v = NULL;
    return msg != NULL && natsMsgHeader_Get(msg, MM_REPLY_HEARTBEAT_HEADER, &v) == NATS_OK;
}

/** Header names of a NATS service error (as async-nats and the other NATS clients write them). */
#define MM_NATS_SERVICE_ERROR "Nats-Service-Error"
#define MM_NATS_SERVICE_ERROR_CODE "Nats-Service-Error-Code"

#endif
