/*
 * The NATS bridge: the backend of bevygap_matchmaker_httpd (include/mm/front.h; docs/protocol.md section
 * 3; ARCHITECTURE.md, "Threads of the web front"). An actor that turns each request of the web
 * front into a NATS request and relays every reply to the request's sink, in order.
 *
 *   WS / chunked   core request on matchmaker.request.<game>.<version>, payload
 *                  {"client_ip","game","version"} (mm_request_payload); every reply is one
 *                  feedback text passed to the sink as it is; the EMPTY reply ends the request.
 *   WANNAPLAY      NATS service request on session.gensession, payload {"client_ip"}; the one
 *                  reply {"connect_token",...} becomes a SessionReady text followed by the end;
 *                  an error reply (headers Nats-Service-Error-Code / Nats-Service-Error) becomes
 *                  Error(code, message); a malformed reply Error(502, ...).
 *
 * Replies come back on ONE wildcard subscription, <inbox>.*, where <inbox> is a fresh
 * _INBOX.<nuid> per bridge and the last token is the request's id: one subscription for every
 * request instead of one per request.
 *
 * Answers the bridge gives itself (each followed by the end):
 *   Error(503, "no matchmaker is serving <game> <version>")  the server said "no responders"
 *       (nats-server 2.2+ answers a request nobody subscribes to with a 503 status at once;
 *       for WANNAPLAY the message names session.gensession instead);
 *   Error(503, ...)  NATS is not connected when the request arrives, or the connection was lost
 *       or re-made while it was in flight (core NATS replies sent meanwhile are gone, so waiting
 *       would only end in the timeout; checked every check_interval_ms and before each reply is
 *       relayed, so a stream with a hole never reaches the client);
 *   Error(408, ...)  no end within request_timeout_ms of the publish;
 *   Error(503, "the web front is stopping")  still in flight when the bridge stops;
 *   Error(503, "the matchmaker serving this request stopped answering; try again")  silence:
 *       see "Heartbeats".
 *
 * Heartbeats (silence_ms > 0, the default; docs/protocol.md section 3): every request carries the
 * header Mm-Heartbeat-Ms: silence_ms / 3, and a matchmaker of ours then sends a heartbeat (an
 * empty message with the header Mm-Heartbeat, include/mm/reply.h) at once and after every
 * silence of that long, for as long as it holds the request. Heartbeats are dropped, never
 * relayed. A request is answered 503 when nothing came for silence_ms:
 *   - at any time, once a heartbeat came for it (its matchmaker speaks heartbeats: silence means
 *     it died, or lost NATS);
 *   - before its first message, for WS and chunked requests (every matchmaker answers those at
 *     once: ours with a heartbeat, the reference with Acknowledged; none means the request went
 *     to a matchmaker that died with it).
 * Liveness per process (include/mm/reply.h, "Liveness"): every request also carries
 * Mm-Liveness-Ms: silence_ms / 3; a matchmaker of ours then names its process in the first
 * heartbeat (Mm-Replica) and sends no more on the stream, only one message per process and
 * interval on mm.alive.<nuid>, which the bridge hears on one mm.alive.* subscription. Such a
 * request is answered 503 only when both its own stream and its process were silent for
 * silence_ms (stats.alive_heard, stats.replicas). So the check walks the requests only while
 * one names no process yet or a process fell silent: 10,000 waiting cost it nothing. An older
 * matchmaker sends no Mm-Replica: the rules above apply to its requests.
 * A reference matchmaker ignores the header and sends no heartbeat: after its Acknowledged only
 * request_timeout_ms applies, and a session.gensession request (whose one answer comes at the
 * end) is never cut for silence before a heartbeat came. So a mixed fleet keeps working.
 *
 * Cancel (include/mm/reply.h, "Cancel"): our matchmaker's heartbeats carry a reply subject
 * unique to the request. When a request's client is gone before its end (reported by the sink's
 * watch_gone() at once, the front's relay sink; for a sink without it, its gone() looked at on
 * every check_interval_ms; and when the sink refuses a reply) the bridge ends the
 * request and publishes one empty message with the header Mm-Cancel: 1 to that subject, so a
 * player still waiting in line leaves it without an Edgegap call; so does a request the bridge
 * ends itself with 408 (request_timeout_ms) or at its stop. No heartbeat came (a reference
 * matchmaker): nothing is published.
 *
 * The waiting room: request_timeout_ms counts from the publish or from the last waiting-room
 * report relayed (mm_feedback_is_line_report), whichever is later: a player in line hears one
 * every second and is bounded by the matchmaker's --max-line-wait-ms instead (docs/front.md).
 *
 * Threads: mm_nats_bridge_submit (the backend's submit), ready, metrics and get_stats from any
 * thread, never blocking; start, stop and destroy from one owner thread. The NATS subscription's
 * callback runs on nats.c's delivery thread and never waits: it appends the reply to the
 * bridge's bounded reply queue (reply_queue_capacity) and wakes the actor. When that queue is
 * full the reply is dropped and its request answered
 *   Error(503, "the web front is overloaded: a reply from the matchmaker was lost; try again")
 * before anything after the hole is relayed (stats.reply_overflows, stats.overflow_failed); the
 * same answer goes to every request in flight when nats.c itself dropped replies of the
 * subscription as a slow consumer (natsSubscription_GetDropped, read at each check). So a
 * client gets its whole stream in order, or a clear error: never a stream with a hole, and
 * never a stalled library thread. The connection is borrowed and must outlive the bridge. Shutdown order (front.h): mm_front_stop, then
 * mm_nats_bridge_stop, then mm_front_destroy, then mm_nats_bridge_destroy.
 */
#ifndef MM_NATS_BRIDGE_H
#define MM_NATS_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"
#include "mm/front.h"
#include "mm/reply.h"

#define MM_NATS_BRIDGE_DEFAULT_TIMEOUT_MS 90000u /* the matchmaker's own limit is 60 s */

typedef struct mm_nats_bridge_config {
    natsConnection *nc;          /* borrowed; required */
    uint32_t request_timeout_ms; /* publish to end; 0: MM_NATS_BRIDGE_DEFAULT_TIMEOUT_MS */
    uint32_t check_interval_ms;  /* connection check while requests are in flight; 0: 250 */
    uint32_t inbox_capacity;     /* messages queued per sending thread; 0: 4095 */
    uint32_t reply_queue_capacity; /* replies waiting for the actor; 0: 65536 (a waiting room of thousands hears a ProgressReport each, all in the same few milliseconds, every second: 512 KB of pointers) */
    uint32_t silence_ms;           /* the matchmaker's longest silence (see "Heartbeats" above); 0: off */
} mm_nats_bridge_config;

/* The default of --backend-silence-ms: the bridge asks for a heartbeat every third of it. */
#define MM_NATS_BRIDGE_DEFAULT_SILENCE_MS 3000u
#define MM_NATS_BRIDGE_SILENCE_MIN_MS 600u    /* 3 x MM_REPLY_HEARTBEAT_MIN_MS */
#define MM_NATS_BRIDGE_SILENCE_MAX_MS 180000u /* 3 x MM_REPLY_HEARTBEAT_MAX_MS */

typedef struct mm_nats_bridge_stats {
    uint64_t submitted;     /* requests accepted by submit */
    uint64_t refused;       /* submits refused (inbox full or stopping) */
    uint64_t published;     /* requests published on NATS (streaming and gensession) */
    uint64_t completed;     /* requests that ended with the matchmaker's own end or answer, or whose client left
                               after its SessionReady was relayed */
    uint64_t no_responders; /* answered 503: nobody serves that subject */
    uint64_t nats_down;     /* answered 503: NATS not connected, or the connection was lost */
    uint64_t timeouts;      /* answered 408 */
    uint64_t failed;        /* answered 500/502: publish failed, malformed gensession answer, ... */
    uint64_t replies;       /* reply messages received */
    uint64_t late_replies;  /* replies for requests no longer in flight (dropped) */
    uint64_t reply_overflows; /* replies lost: the reply queue was full, or nats.c dropped them (slow consumer) */
    uint64_t overflow_failed; /* answered 503 because a reply of theirs was lost */
    uint64_t in_flight;     /* requests accepted and not finished, now */
    uint64_t inbox_depth;   /* messages waiting in the actor's inbox and reply queue, now (approximate) */
    uint64_t alive_heard;   /* liveness messages heard on mm.alive.* ("Heartbeats" above) */
    uint64_t replicas;      /* matchmaker processes named by requests in flight, now */
    uint64_t webhooks_published; /* Edgegap webhooks published on matchmaker.webhook */
    uint64_t webhooks_failed;    /* webhooks refused (stopping, NATS down, queue full) or whose publish failed */
    uint64_t heartbeats;         /* heartbeats received (dropped, never relayed) */
    uint64_t silent;             /* answered 503: the matchmaker fell silent (see "Heartbeats") */
    uint64_t client_gone;        /* requests ended because their client went away first (see "Cancel") */
    uint64_t cancels_sent;       /* of those, cancels published to their matchmaker */
} mm_nats_bridge_stats;

typedef struct mm_nats_bridge mm_nats_bridge;

/**
 * Subscribes the reply inbox and starts the actor. MM_ERR_INVALID (no connection), MM_ERR_NOMEM,
 * MM_ERR_IO (subscribing failed), MM_ERR_SYS; why says which. The connection need not be
 * connected yet: requests are answered 503 until it is.
 */
mm_err mm_nats_bridge_start(const mm_nats_bridge_config *config, mm_nats_bridge **out, char *why, size_t why_len);

/**
 * The backend's submit (front.h): copies req and posts it with sink to the actor. MM_OK: the
 * bridge owns sink and will end and free it. MM_ERR_FULL (the calling thread's queue is full),
 * MM_ERR_STOPPED, MM_ERR_NOMEM, MM_ERR_INVALID (unknown route): the caller still owns sink.
 */
mm_err mm_nats_bridge_submit(mm_nats_bridge *bridge, const mm_front_request *req, mm_reply_sink *sink);

/* Where the bridge publishes Edgegap webhooks (our extension; docs/protocol.md): every
 * matchmaker replica subscribes without a queue group and only the session's owner acts. */
#define MM_BRIDGE_WEBHOOK_SUBJECT "matchmaker.webhook"

/**
 * The backend's webhook (front.h): posts the session id to the actor, which publishes a core
 * NATS message {"session_id":"<id>"} on MM_BRIDGE_WEBHOOK_SUBJECT (no reply). MM_OK: queued;
 * MM_ERR_STOPPED (stopping, or NATS not connected), MM_ERR_FULL, MM_ERR_NOMEM: not sent (the
 * front answers 503). Counted in stats.webhooks_published / webhooks_failed.
 */
mm_err mm_nats_bridge_webhook(mm_nats_bridge *bridge, const char *session_id);

/** As mm_nats_bridge_webhook; a non-NULL intent goes in the message's header Mm-Intent (the
 * JSON body is unchanged), for the matchmakers' orphan check (include/mm/orphans.h). */
mm_err mm_nats_bridge_webhook_intent(mm_nats_bridge *bridge, const char *session_id, const char *intent);

/** The backend's ready: NATS connected and the bridge not stopping. */
bool mm_nats_bridge_ready(mm_nats_bridge *bridge);

/** The backend's metrics: the counters above in Prometheus text form (front.h contract). */
size_t mm_nats_bridge_metrics(mm_nats_bridge *bridge, char *buf, size_t len);

/** Fills *out with ctx = bridge and the four functions above. */
void mm_nats_bridge_backend(mm_nats_bridge *bridge, mm_front_backend *out);

/** Counters (approximate while requests flow). */
void mm_nats_bridge_get_stats(mm_nats_bridge *bridge, mm_nats_bridge_stats *out);

/**
 * Unsubscribes (waiting until the delivery callback has returned), stops the actor: requests
 * queued or in flight get Error(503, "the web front is stopping") and their sinks are freed.
 * Later submits return MM_ERR_STOPPED. Idempotent.
 */
void mm_nats_bridge_stop(mm_nats_bridge *bridge);

/** Stops if needed and frees. No thread may call submit any more. Accepts NULL. */
void mm_nats_bridge_destroy(mm_nats_bridge *bridge);

#endif
