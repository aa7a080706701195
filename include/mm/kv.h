/*
 * JetStream state of docs/protocol.md section 4: the KV buckets and the session-delete stream, set up
 * create-or-bind (never wiping data), plus small KV helpers that translate nats.c statuses.
 *
 * Bucket names and settings live in one table (src/net/kv_setup.c) and match the reference's
 * exactly, descriptions included: a mixed fleet (one of ours, one Rust service) must be able to
 * create the same buckets without a "stream name already in use with a different configuration"
 * error. A bucket or stream that already exists is bound as it is; if its settings differ from the
 * table, a warning says which, and nothing is changed or deleted.
 *
 * Thread-safety: an mm_js and its kvStore handles may be used from any thread (nats.c handles are
 * thread-safe); mm_js_destroy() must not race with their use. The synchronous KV helpers block for
 * at most the JetStream wait time (default 5 s): never call them on an event-loop thread. The
 * asynchronous ones (mm_kv_delete_at_async) never wait for the server.
 */
#ifndef MM_KV_H
#define MM_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"

/** The KV buckets of docs/protocol.md section 4. */
typedef enum mm_kv_bucket {
    MM_KV_SESSIONS_EG2LY = 0, /* Edgegap session id -> Lightyear client id; max age 30 s, value <= 1024 B */
    MM_KV_SESSIONS_LY2EG,     /* client id -> session id; max age 30 s, value <= 1024 B */
    MM_KV_UNCLAIMED_SESSIONS, /* session id -> session id; value <= 1024 B */
    MM_KV_ACTIVE_CONNECTIONS, /* session id -> client id; defaults */
    MM_KV_CERT_DIGESTS,       /* game server public IP -> certificate digest; max age 14 days, value <= 1024 B */
    MM_KV_DELETED_SESSIONS,   /* (ours) session id -> HTTP status of its DELETE; max age MM_KV_DELETED_SESSIONS_MAX_AGE_MS */
    MM_KV_CREATE_INTENTS,     /* (ours, webhooks on) create-intent id -> "<replica> <unix ms>"; max age MM_KV_CREATE_INTENTS_MAX_AGE_MS */
    MM_KV_BUCKET_COUNT
} mm_kv_bucket;

/*
 * How long mm_deleted_sessions remembers a deleted session: longer than the reaper's replay window
 * (include/mm/reaper.h, replay_ms, 1 h), so a "player left" marker the reaper enqueues again
 * after a restart always finds its session's record and costs no DELETE.
 */
#define MM_KV_DELETED_SESSIONS_MAX_AGE_MS (2LL * 3600 * 1000)

/*
 * How long mm_create_intents keeps an intent its replica never settled (include/mm/orphans.h):
 * longer than a session takes to become ready or fail (Edgegap's webhook) plus the orphan grace.
 */
#define MM_KV_CREATE_INTENTS_MAX_AGE_MS (10LL * 60 * 1000)

/** Bits for mm_js_setup()'s `needs`: one per bucket, one for the delete stream. */
#define MM_JS_NEED_BUCKET(b) (1u << (unsigned)(b))
#define MM_JS_NEED_DELETE_STREAM (1u << (unsigned)MM_KV_BUCKET_COUNT)
#define MM_JS_NEED_ALL ((1u << ((unsigned)MM_KV_BUCKET_COUNT + 1u)) - 1u)

/** The session-delete work queue. */
#define MM_DELETE_SESSION_STREAM "DELETE_SESSION_STREAM"
#define MM_DELETE_SESSION_SUBJECT_PREFIX "edgegap_delete_session_q." /* + session id */
#define MM_DELETE_SESSION_SUBJECTS "edgegap_delete_session_q.*"

/** One row of the settings table. */
typedef struct mm_kv_bucket_spec {
    const char *name;        /* bucket name, e.g. "cert_digests" (the stream is "KV_" + name) */
    const char *description; /* as the reference sets it ("" when it sets none) */
    int64_t max_age_ms;      /* 0: keep for ever */
    int32_t max_value_size;  /* 0: unlimited */
} mm_kv_bucket_spec;

/** The settings of bucket b (a static row; b must be < MM_KV_BUCKET_COUNT). */
const mm_kv_bucket_spec *mm_kv_bucket_spec_of(mm_kv_bucket b);

/** A JetStream context plus the bound buckets and stream a service asked for. Opaque. */
typedef struct mm_js mm_js;

/**
 * Creates a JetStream context on nc (which must outlive the mm_js) and binds every bucket and
 * stream whose bit is in needs, creating the missing ones with the table's settings. wait_ms is
 * the JetStream API and KV operation timeout (0: 5000). On failure returns MM_ERR_IO (NATS or
 * JetStream unreachable, JetStream disabled, ...) or MM_ERR_NOMEM, with the reason in why.
 */
mm_err mm_js_setup(natsConnection *nc, unsigned needs, int64_t wait_ms, mm_js **out, char *why, size_t why_len);

/** How buckets and the stream are made when they do not exist yet (existing ones are kept). */
typedef struct mm_js_options {
    int64_t wait_ms;         /* as mm_js_setup's; 0: 5000 */
    int replicas;            /* 0 or 1: R1; 3 for a clustered JetStream; at most 5 (else MM_ERR_INVALID) */
    bool memory_storage;     /* false: file storage (survives a server restart) */
    int64_t resend_first_ms; /* wait before the first resend of a failed asynchronous publish; 0: 250 */
} mm_js_options;

/** mm_js_setup with options (NULL: the defaults). An existing bucket or stream with another
 * replica count is used as it is, with a warning. */
mm_err mm_js_setup_with(natsConnection *nc, unsigned needs, const mm_js_options *options, mm_js **out, char *why, size_t why_len);

/** The bound bucket b, or NULL when it was not in needs. Owned by js. */
kvStore *mm_js_kv(mm_js *js, mm_kv_bucket b);

/** The JetStream context (for publishing to the delete stream). Owned by js. */
jsCtx *mm_js_ctx(mm_js *js);

/** Releases the buckets and the context (never deletes any server-side state). Accepts NULL. */
void mm_js_destroy(mm_js *js);

/**
 * Asynchronous publishes on an mm_js context (js_PublishAsync, js_PublishMsgAsync) that fail are
 * resent from a thread of their own, up to this many attempts in all, then logged as lost. The
 * wait before each resend doubles from mm_js_options.resend_first_ms up to 8 times that (plus
 * jitter): with the default 250 ms the attempts span about a minute (58 to 72 s), several times
 * a JetStream stream leader election (4 to 9 s on nats-server 2.9 on a quiet machine, 17 s seen
 * on a loaded one), during which publishes fail at once with "no responders". Each resend is
 * acknowledged within the context's wait time. mm_js_destroy() drops (and counts as lost)
 * resends still waiting.
 */
#define MM_JS_ASYNC_ATTEMPTS 32

/**
 * The MaxWait to give an asynchronous JetStream publish made now that should be acknowledged
 * within wait_ms: wait_ms rounded up so that the deadline (nats_Now() + the result) falls on a
 * multiple of a grid of wait_ms / 5, at most 20 ms (a wait_ms under 10 is returned as it is).
 * The result is in [wait_ms, wait_ms + grid). nats.c wakes threads once per distinct deadline
 * even for publishes already acknowledged (src/net/js_ack_wait.c): publishes of one grid step
 * then share one. mm_js_ack_wait_at() is the same for a given now_ms (tests). Any thread.
 */
int64_t mm_js_ack_wait_ms(int64_t wait_ms);
int64_t mm_js_ack_wait_at(int64_t now_ms, int64_t wait_ms);

/** Process-wide counts of asynchronous publishes resent, and lost (after the last attempt, or dropped). */
void mm_js_async_stats(uint64_t *resent, uint64_t *lost);

/**
 * Reads key as a string into buf (NUL-terminated). MM_OK; MM_ERR_NOTFOUND when the key has no
 * value (never written, deleted, purged or expired); MM_ERR_INVALID for a key nats.c refuses or a
 * value that does not fit in buf; MM_ERR_IO for NATS failures (logged with bucket and key).
 * *revision (may be NULL) receives the entry's revision.
 */
mm_err mm_kv_get_str(kvStore *kv, const char *key, char *buf, size_t len, uint64_t *revision);

/** Puts value under key. *revision (may be NULL) receives the new revision. Errors as above. */
mm_err mm_kv_put_str(kvStore *kv, const char *key, const char *value, uint64_t *revision);

/** Deletes key (places a delete marker; deleting a missing key is MM_OK). Errors as above. */
mm_err mm_kv_delete(kvStore *kv, const char *key);

/**
 * Revision-checked delete, asynchronous: places a delete marker on key only if the key's latest
 * revision is still `revision`. nats.c 3.4.1 has no revision-checked kvStore delete, so this
 * publishes what kvStore_Delete would (no payload, header `KV-Operation: DEL`, on
 * `$KV.<bucket>.<key>`) with `Nats-Expected-Last-Subject-Sequence: <revision>`; the server
 * refuses it (JetStream error 10071, "wrong last sequence") when the key changed since.
 *
 * Returns once nats.c has taken the message; it never waits for the server. The outcome goes to
 * js's asynchronous-publish handler (jsOptions.PublishAsync.AckHandler, or ErrHandler for
 * failures only), on a nats.c thread, within max_wait_ms: it must be > 0, or a lost
 * acknowledgement never times out (docs/libnotes.md). In an AckHandler, mm_kv_delete_at_match() reads
 * the key and revision back from the message and mm_js_pub_outcome() says what happened. A
 * timed-out delete may still have been applied: repeating it is harmless (it is then refused
 * as a wrong last sequence). Any thread; js must not be destroyed concurrently (nats.c's rule).
 *   MM_OK           handed to nats.c (the outcome follows)
 *   MM_ERR_INVALID  a NULL argument, a key nats.c refuses or too long, revision 0, max_wait_ms <= 0
 *   MM_ERR_FULL     js's window of pending publishes stayed full for its StallWait
 *   MM_ERR_IO       nats.c refused the publish (connection closed, reconnect buffer full)
 *   MM_ERR_NOMEM
 * why (may be NULL) receives a one-line reason on failure.
 */
mm_err mm_kv_delete_at_async(jsCtx *js, kvStore *kv, const char *key, uint64_t revision, int64_t max_wait_ms, char *why,
                             size_t why_len);

/**
 * True when msg is a delete made by mm_kv_delete_at_async() in the bucket named `bucket` (as an
 * AckHandler receives it back); then *key points into msg's subject (valid as long as msg) and
 * *revision is the revision it was checked against. False for any other message.
 */
bool mm_kv_delete_at_match(natsMsg *msg, const char *bucket, const char **key, uint64_t *revision);

/**
 * What the acknowledgement of an asynchronous JetStream publish says, from the pa/pae pair a
 * jsPubAckHandler receives:
 *   MM_OK           stored (or recognised as a duplicate of an earlier message with its Nats-Msg-Id)
 *   MM_ERR_NOTFOUND refused because an expectation failed: the subject's last sequence was not the
 *                   expected one (for mm_kv_delete_at_async: the key changed meanwhile)
 *   MM_ERR_TIMEOUT  no acknowledgement within the publish's MaxWait: it may still have been stored
 *   MM_ERR_IO       no responders (no stream, a leader election), or another JetStream error
 *   MM_ERR_NOMEM
 */
mm_err mm_js_pub_outcome(const jsPubAck *pa, const jsPubAckErr *pae);

/** True when nats.c accepts key as a KV key ([-/_=\.a-zA-Z0-9]+, no leading/trailing/double dot). */
int mm_kv_key_valid(const char *key);

#endif
