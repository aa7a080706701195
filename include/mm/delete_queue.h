/*
 * The session-delete queue (docs/protocol.md section 4): enqueue an Edgegap session id on the work-queue
 * stream DELETE_SESSION_STREAM, which the delete worker (include/mm/deleter.h) consumes.
 *
 * Every enqueue publishes the id as the payload on `edgegap_delete_session_q.<id>` with the
 * header `Nats-Msg-Id: <id>`. JetStream drops a second message with the same id that arrives
 * within the stream's duplicate window (2 minutes unless the stream was made otherwise), so two
 * replicas, or one retrying after an ack timeout, queue a session's deletion once. After the
 * window a repeat is queued again; the worker then gets 404/410 from Edgegap and acks it, so a
 * late repeat costs one API call and nothing else.
 *
 * Session ids are checked before anything is sent: 1..MM_SESSION_ID_MAX characters of
 * [A-Za-z0-9_-] (Edgegap's look like `950dd2eaff09-S`), so an id can never widen the subject
 * (`.`, `*`, `>`, spaces) or smuggle anything into a header.
 *
 * Thread-safety: any thread (nats.c contexts are thread-safe). The synchronous call blocks for
 * up to the context's wait time: call it from a thread of its own (reaper, delete worker),
 * never from an event loop.
 */
#ifndef MM_DELETE_QUEUE_H
#define MM_DELETE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"

/** Longest session id accepted. */
#define MM_SESSION_ID_MAX 64

/** True when id is 1..MM_SESSION_ID_MAX characters, each one of [A-Za-z0-9_-]. NULL is false. */
bool mm_session_id_valid(const char *id);

/**
 * Publishes session_id to the delete stream and waits for JetStream's acknowledgement (at most
 * the wait time of js: jsOptions.Wait, mm_js_setup()'s wait_ms).
 *   MM_OK           stored, or recognised as a duplicate of an earlier enqueue (logged at debug)
 *   MM_ERR_INVALID  session_id is not a valid id (nothing sent)
 *   MM_ERR_TIMEOUT  no acknowledgement in time: the message may still have been stored;
 *                   enqueueing again is safe (de-duplication)
 *   MM_ERR_IO       refused or not deliverable (no stream, no JetStream, connection closed)
 *   MM_ERR_NOMEM
 * why (may be NULL) receives a one-line reason on failure.
 */
mm_err mm_delete_queue_enqueue(jsCtx *js, const char *session_id, char *why, size_t why_len);

/** mm_delete_queue_enqueue, and *duplicate (may be NULL) says whether the stream recognised it as
 * a duplicate of an earlier enqueue (another replica's) within its window. */
mm_err mm_delete_queue_enqueue_dup(jsCtx *js, const char *session_id, bool *duplicate, char *why, size_t why_len);

/**
 * The same publish without waiting: hands the message to nats.c and returns. The outcome goes
 * to js's own asynchronous-publish handlers (jsOptions.PublishAsync: AckHandler/ErrHandler),
 * with max_wait_ms (> 0; docs/libnotes.md: otherwise a lost ack never times out) as the ack deadline.
 * If the context's window of pending publishes is full, nats.c waits up to its StallWait (200 ms
 * unless set smaller when the context was made) and this returns MM_ERR_FULL.
 * MM_ERR_INVALID for a bad id or max_wait_ms <= 0; MM_ERR_IO when nats.c refuses the publish.
 * A caller that cannot afford to lose the enqueue must watch the handlers; the matchmaker's
 * unclaimed-session reaper is the safety net for sessions recorded in unclaimed_sessions.
 * A caller that wants each outcome passes a context of its own whose AckHandler reads the
 * session back with mm_delete_queue_msg_session() and classifies the ack with
 * mm_js_pub_outcome() (include/mm/kv.h); the reaper does (src/actors/reaper_js.c). The
 * de-duplication is the same as for the synchronous call, so an enqueue that timed out may be
 * sent again.
 */
mm_err mm_delete_queue_enqueue_async(jsCtx *js, const char *session_id, int64_t max_wait_ms, char *why, size_t why_len);

/**
 * The session id of a delete-queue message (as an AckHandler receives back a message published
 * by mm_delete_queue_enqueue_async), pointing into msg's subject and valid as long as msg; NULL
 * for any other message or an id that is not valid.
 */
const char *mm_delete_queue_msg_session(natsMsg *msg);

#endif
