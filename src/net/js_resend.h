/*
 * Internal to src/net: delayed resends of failed asynchronous JetStream publishes.
 *
 * nats.c reports a failed js_PublishMsgAsync on the thread that reads the context's acks (its
 * error handler), and "no responders" comes back within a fraction of a millisecond: resending
 * from there at once burns every attempt in a millisecond, while a stream leader election lasts
 * seconds (docs/libnotes.md, nats.c: ~6 s in a 3-node cluster). So the handler hands the message to this
 * scheduler, which resends it from a thread of its own after a delay, and nats.c's thread never
 * waits.
 *
 * A context must be registered before its handler may schedule, and unregistered before it is
 * destroyed: unregistering drops (and counts as lost) the messages still waiting for it and
 * waits for a resend of it in progress, so the scheduler never touches a destroyed context.
 * The thread runs while at least one context is registered. At most RESEND_QUEUE_MAX messages
 * wait at once; beyond that scheduling fails and the caller counts the message lost.
 */
#ifndef MM_NET_JS_RESEND_H
#define MM_NET_JS_RESEND_H

#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/err.h"

/**
 * Registers ctx. The resend after the k-th failed attempt waits first_ms * 2^(k-1), at most
 * 8 * first_ms, plus up to a quarter of that at random (so replicas do not resend in step);
 * each resend must be acknowledged within ack_wait_ms. MM_ERR_NOMEM, or MM_ERR_SYS when the
 * thread cannot start.
 */
mm_err mm__js_resend_register(jsCtx *ctx, int64_t first_ms, int64_t ack_wait_ms);

/** Unregisters ctx (see above). Any thread but the scheduler's; not from a nats.c callback. */
void mm__js_resend_unregister(jsCtx *ctx);

/**
 * Takes *msg (sets it to NULL) and resends it on ctx after the delay for its failed_attempt-th
 * failure (1 for the first publish), given in *delay_ms. False (the caller keeps *msg) when ctx
 * is not registered, the queue is full or memory is short. Any thread.
 */
bool mm__js_resend_schedule(jsCtx *ctx, natsMsg **msg, int failed_attempt, int64_t *delay_ms);

/** Messages resent (handed to nats.c again), and those dropped or refused by nats.c. */
void mm__js_resend_counts(uint64_t *resent, uint64_t *dropped);

#endif
