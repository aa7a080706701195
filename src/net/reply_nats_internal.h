/*
 * Internal to the NATS reply sinks (reply_nats.c) and their heartbeat thread (reply_heartbeat.c):
 * the sink's layout and the hooks between the two. include/mm/reply.h has the contracts.
 *
 * A sink is used by one thread at a time (its holder); the heartbeat thread reads only what is
 * marked below: `subject` and `hb_token` (never change while listed), `last_ms` and `gone`
 * (atomics) and the list links (under the heartbeat's mutex); the cancel callback (on nats.c's
 * delivery thread) sets `gone` of a listed sink under that mutex. Detaching takes that mutex, so once mm__reply_hb_detach returned the
 * thread no longer sees the sink and it may be freed.
 */
#ifndef MM_NET_REPLY_NATS_INTERNAL_H
#define MM_NET_REPLY_NATS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm/reply.h"

typedef struct nats_sink nats_sink;
struct nats_sink {
    mm_reply_sink base; /* first: a mm_reply_sink * is a nats_sink * */
    natsConnection *nc; /* borrowed */
    char *subject;      /* the request's reply subject (owned; read by the heartbeat thread) */
    bool answered;      /* one-shot: the reply went out */
    bool ended;
    /* heartbeats (reply_heartbeat.c): hb is set by attach and cleared by detach, on the holder's thread */
    mm_reply_heartbeat *hb;
    uint32_t hb_ms;
    atomic_uint_fast64_t last_ms; /* mm_now_ms() of the sink's last publish */
    nats_sink *hb_prev, *hb_next; /* under hb's mutex */
    uint64_t hb_token;            /* the last token of its cancel subject (set by attach, before it is listed) */
    bool hb_liveness;             /* attached per process: one heartbeat at once, then none (set before it is listed) */
    atomic_bool gone;             /* its front sent a cancel (set under hb's mutex; read by the holder: gone()) */
};

/** True when sink is one of reply_nats.c's. */
bool mm__reply_is_nats(const mm_reply_sink *sink);

/** The sink's gone() op: its front cancelled the request (reply_heartbeat.c, "Cancel"). */
bool mm__reply_nats_gone(mm_reply_sink *sink);

/** Holder's thread: takes sink off its heartbeat thread's list (no-op when not attached). */
void mm__reply_hb_detach(nats_sink *sink);

#endif
