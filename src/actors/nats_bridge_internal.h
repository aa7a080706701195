/*
 * Internal to the NATS bridge (include/mm/nats_bridge.h): its state, shared by the actor
 * (nats_bridge.c: requests, replies, timers, all on the actor thread) and the outside
 * (nats_bridge_api.c: start/stop, the subscription callback, submit and counters, any thread).
 * Fields are grouped by the thread that owns them; counters are atomics.
 */
#ifndef MM_ACTORS_NATS_BRIDGE_INTERNAL_H
#define MM_ACTORS_NATS_BRIDGE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm/actor.h"
#include "mm/idmap.h"
#include "mm/nats_bridge.h"
#include "mm/reply.h"
#include "mm/request.h"

enum {
    MM__BRIDGE_SUBMIT = 1,
    MM__BRIDGE_WAKE = 2,
    MM__BRIDGE_WEBHOOK = 3, /* ptr: a malloc'ed session id */
    MM__BRIDGE_GONE = 4,    /* target: the reply token of a request whose client left (its sink's watch_gone) */
};

#define MM__BRIDGE_LOST_MAX 64 /* reply tokens remembered when the reply queue overflows */

/* A matchmaker process that answered with Mm-Replica (include/mm/reply.h, "Liveness"): when it
 * was last heard (its mm.alive.<nuid> messages, or any reply of its requests). Actor thread
 * only; on the bridge's list while some request in flight names it (refs), freed with the last. */
typedef struct bridge_replica bridge_replica;
struct bridge_replica {
    bridge_replica *next;
    char nuid[MM_REPLY_REPLICA_MAX + 1];
    uint64_t heard_ms;
    uint32_t refs;
};

/* One request in flight; owned by the actor thread once submitted. */
typedef struct bridge_req bridge_req;
struct bridge_req {
    mm_timer deadline;
    mm_nats_bridge *bridge;
    bridge_req *prev, *next; /* the in-flight list, while linked */
    bool linked;             /* in the id map and the list */
    uint64_t token;          /* the reply subject's last token */
    uint64_t front_id;       /* for logs */
    mm_front_route route;
    mm_session_request req;
    mm_reply_sink *sink;
    uint64_t heard_ms; /* mm_now_ms() of the publish, then of the last reply (heartbeats included) */
    bool heard;        /* a reply came */
    bool heartbeats;   /* a heartbeat came: its matchmaker sends them, silence means death */
    char *cancel;      /* the reply subject of its heartbeats (mm.cancel.<nuid>.<token>), once one came; owned */
    bool gone_polled;  /* its sink cannot say when its client leaves (no watch_gone): the check polls it */
    bool ready;        /* its SessionReady was relayed: a client leaving now costs no cancel */
    bridge_replica *replica; /* its first heartbeat named its process (Mm-Replica): silence is judged per replica */
};

struct mm_nats_bridge {
    natsConnection *nc;
    uint32_t timeout_ms, check_ms;
    uint32_t silence_ms; /* 0: no heartbeats asked for, no silence check */
    char heartbeat_ask[16]; /* the Mm-Heartbeat-Ms value: silence_ms / 3 */
    mm_actor *actor;
    natsSubscription *sub;
    natsSubscription *alive_sub; /* mm.alive.* (with silence_ms): the replicas' liveness, into the same reply queue */
    char inbox[64]; /* _INBOX.<nuid>: replies arrive on <inbox>.<token> */
    size_t inbox_len;
    atomic_bool stopping;
    bool stopped;   /* owner thread */
    bool sub_stuck; /* owner thread: the delivery callback did not finish in time */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int subs_open;                       /* guarded by mu: subscriptions whose delivery callback may still run */
    atomic_uint_fast64_t full_logged_ms; /* delivery thread */

    /*
     * The reply queue: nats.c's delivery thread appends, the actor takes, both under rq_mu (held
     * only to move pointers: the callback never waits for room). When it is full the reply is
     * destroyed and its token remembered in lost[] (or lost_all set), so the actor ends that
     * request with 503 before relaying anything that came after the hole.
     */
    pthread_mutex_t rq_mu;
    natsMsg **rq;
    uint32_t rq_cap, rq_head, rq_len;
    uint64_t lost[MM__BRIDGE_LOST_MAX];
    uint32_t lost_len;
    bool lost_all;
    atomic_bool wake_posted; /* a WAKE is in the actor's inbox: at most one, so its ring never fills */

    /* actor thread only */
    mm_actor *self;
    mm_idmap reqs;
    bridge_req *head;
    mm_timer check_timer;
    natsStatistics *nstats;
    uint64_t reconnects; /* the connection's reconnect count at the last check */
    int64_t nats_dropped; /* the subscription's slow-consumer drops at the last check */
    bridge_replica *replicas; /* the replicas named by requests in flight */
    /* What the 250 ms check must walk the requests for (with 10,000 waiting it walked them all,
     * four times a second, for nothing): requests naming no replica yet, whose own silence is
     * judged (the rest only when their replica fell silent), and requests whose sink cannot
     * report its client leaving. */
    uint32_t n_unbound, n_gone_polled;
    atomic_bool gone_scan; /* a GONE could not be posted (inbox ring full): the next check polls every sink */

    atomic_uint_fast64_t submitted, refused, published, completed, no_responders, nats_down, timeouts, failed, replies, late,
        overflows, lost_failed, in_flight, webhooks_published, webhooks_failed, heartbeats, silent, client_gone, cancels_sent,
        alive_heard, replicas_now;
    atomic_uint_fast64_t queued; /* messages sent to the actor and not yet handled or discarded */
};

/* The actor's ops (nats_bridge.c). */
extern const mm_actor_ops mm__bridge_ops;

#endif
