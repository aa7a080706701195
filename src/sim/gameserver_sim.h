/*
 * gameserver_sim internals, shared by src/sim/gameserver_sim*.c (docs/gameserver_sim.md).
 *
 * One actor (include/mm/actor.h) owns all state: the deployments learned from edgegap_sim, the
 * connected clients and every timer. NATS callbacks only forward messages to it (mm_msg.ptr is
 * the natsMsg, whose ownership moves with it); the main thread only starts, signals and stops.
 * The actor thread makes blocking calls (KV, one HTTP poll), each bounded by a timeout: this is
 * a simulator, and one thread that owns everything keeps it free of races.
 */
#ifndef MM_GAMESERVER_SIM_H
#define MM_GAMESERVER_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <nats/nats.h>

#include "mm/actor.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "mm/token.h"

#define GS_MAX_PORTS 16
#define GS_CLIENT_BUCKETS 1024
#define GS_ID_MAX 64       /* request ids, IPs */
#define GS_SESSION_MAX 256 /* session ids (KV keys) */

/** The flags (gameserver_sim_flags.c). Holds the private key: wiped at exit. */
typedef struct gs_config {
    char edgegap_url[512]; /* base URL of edgegap_sim, no trailing '/' */
    int64_t poll_ms;
    int64_t http_timeout_ms;
    int64_t cert_delay_ms; /* -1: never write the digest */
    uint64_t protocol_id;
    mm_token_key key;
    mm_byte_order byte_order;
    char subject_prefix[64]; /* request subjects are PREFIX.connect and PREFIX.disconnect */
    char nats_name[64];
    bool auto_mode;
    int64_t auto_connect_ms;
    int64_t hold_ms; /* -1: stay connected until exit */
    double never_claim;
    mm_log_level log_level;
    bool log_json;
} gs_config;

/**
 * Parses argv into cfg. Returns 0 to run, 1 when --help was printed (exit 0), or 2 after printing
 * a one-line error to stderr (exit 2).
 */
int mm__gs_flags_parse(int argc, char **argv, gs_config *cfg);

/** Message types the actor receives; ptr is the natsMsg (the actor destroys it). */
enum gs_msg_type { GS_MSG_CONNECT = 1, GS_MSG_DISCONNECT, GS_MSG_LY2EG };

struct gs;

/** A deployment of edgegap_sim: one simulated game server. */
typedef struct gs_deployment {
    struct gs_deployment *next;
    struct gs *gs;
    char request_id[GS_ID_MAX];
    char public_ip[GS_ID_MAX];
    mm_token_address addrs[GS_MAX_PORTS]; /* public_ip:external of each port */
    uint32_t naddrs;
    bool ready;
    bool listed; /* in the latest poll answer */
    bool cert_written;
    mm_timer cert_timer;
} gs_deployment;

/** A client known to the simulator: connected, or waiting for its auto-connect. */
typedef struct gs_client {
    struct gs_client *next; /* hash chain */
    struct gs *gs;
    uint64_t client_id;
    char session_id[GS_SESSION_MAX];
    char deployment[GS_ID_MAX]; /* request id it connected to ("" in auto mode) */
    bool connected;
    bool auto_mode;
    mm_timer timer; /* auto mode: connect, then disconnect */
} gs_client;

typedef struct gs_counters {
    uint64_t connects, refused, disconnects, auto_connects, auto_unclaimed, certs_written;
} gs_counters;

/** The actor's state. Only the actor thread touches it once the actor runs. */
typedef struct gs {
    const gs_config *cfg;
    mm_actor *self;
    natsConnection *nc;
    kvStore *ly2eg, *active, *certs;
    CURL *curl;
    gs_deployment *deployments;
    gs_client *clients[GS_CLIENT_BUCKETS];
    uint64_t client_count;
    mm_timer poll_timer;
    bool poll_failing;
    gs_counters counters;
} gs;

/** Arms timer on the actor; an allocation failure of the timer heap is logged (it cannot fire). */
static inline void
mm__gs_arm(gs *g, mm_timer *timer, uint64_t delay_ms, mm_timer_cb cb)
{
    if (mm_timer_start(g->self, timer, delay_ms, cb) != MM_OK)
        mm_error("out of memory arming a timer");
}

/** The actor's ops table (gameserver_sim_actor.c). */
extern const mm_actor_ops mm__gs_actor_ops;

/* Deployments (gameserver_sim_deploy.c). */
void mm__gs_poll_timer_cb(mm_timer *timer);
void mm__gs_deployments_free(gs *g);
/** The ready deployment one of addrs belongs to, or NULL. */
gs_deployment *mm__gs_deployment_for(gs *g, const mm_token_address *addrs, uint32_t n);
/** The digest text written for a deployment: SHA-256 of its request id, "ab:cd:..." (96 bytes). */
void mm__gs_cert_digest(const char *request_id, char out[96]);

/* Clients (gameserver_sim_clients.c). */
gs_client *mm__gs_client_find(gs *g, uint64_t client_id);
gs_client *mm__gs_client_find_session(gs *g, const char *session_id);
gs_client *mm__gs_client_add(gs *g, uint64_t client_id, const char *session_id, const char *deployment, bool auto_mode);
/** Puts active_connections[session] = client id and marks it connected. */
mm_err mm__gs_client_connect(gs *g, gs_client *c);
/** Deletes active_connections[session] if it was connected, then forgets and frees c. */
mm_err mm__gs_client_disconnect(gs *g, gs_client *c);
/** At exit: disconnects every connected client (stops at the first KV failure), frees all. */
void mm__gs_clients_shutdown(gs *g);

/* The request API (gameserver_sim_api.c). */
void mm__gs_api_connect(gs *g, natsMsg *msg);
void mm__gs_api_disconnect(gs *g, natsMsg *msg);

/* Auto mode (gameserver_sim_auto.c). */
void mm__gs_auto_seen(gs *g, natsMsg *msg);

#endif
