/*
 * Internals of edgegap_sim's HTTP server, shared by sim_edgegap_server.c (socket, loop,
 * connections, shutdown), sim_edgegap_routes.c (routing, auth, faults, answers) and
 * sim_edgegap_pending.c (answers given late or never). All on the loop thread.
 */
#ifndef MM_SIM_EDGEGAP_SERVER_INTERNAL_H
#define MM_SIM_EDGEGAP_SERVER_INTERNAL_H

#include <h2o.h>

#include "sim_edgegap_server.h"
#include "sim_edgegap_webhook.h"
#include "sim_edgegap_internal.h"

struct mm_sim_server {
    const mm_sim_edgegap_cfg *cfg;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    char address[80];
    bool context_ready;

    mm_timer_heap timers;
    mm_sim_world *world;
    mm_sim_webhook *webhook;

    mm__sim_list conns; /* every accepted connection (conn_track), to close them at shutdown */
    uint64_t nconns;
    mm__sim_list waiting; /* requests whose answer is delayed (added latency) */
    mm__sim_list hanging; /* requests that are never answered (until the client leaves) */
    uint64_t nwaiting, nhanging;
    mm_timer hang_check;
};

typedef enum mm__sim_route_kind {
    MM__SIM_RT_APP = 0,
    MM__SIM_RT_VERSION,
    MM__SIM_RT_SESSION_CREATE,
    MM__SIM_RT_SESSION_GET,
    MM__SIM_RT_SESSION_DELETE,
    MM__SIM_RT_SIM_STATS,
    MM__SIM_RT_SIM_DEPLOYMENTS,
    MM__SIM_RT_SIM_RESET,
    MM__SIM_RT_SIM_FAULTS_GET,
    MM__SIM_RT_SIM_FAULTS_SET,
} mm__sim_route_kind;

/** A routed request: what it asks for and its decoded path parameters (in the request's pool). */
typedef struct mm__sim_route {
    mm__sim_route_kind kind;
    const char *a, *b;
} mm__sim_route;

/* sim_edgegap_routes.c */

/** Registers the request handler for srv on pathconf. */
void mm__sim_routes_register(mm_sim_server *srv, h2o_pathconf_t *pathconf);

/** Answers with body (a JSON reference this releases) and Content-Type: application/json. */
void mm__sim_respond_json(h2o_req_t *req, int status, json_t *body);

/** Answers {"message": message}. */
void mm__sim_respond_message(h2o_req_t *req, int status, const char *message);

/** Answers {"message": message} with a Retry-After header of retry_after_s seconds. */
void mm__sim_respond_retry(h2o_req_t *req, int status, const char *message, uint32_t retry_after_s);

/** Runs a /v1 operation on the world and answers with its result. */
void mm__sim_serve_v1(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *route);

/* sim_edgegap_pending.c */

/**
 * Answers after latency_ms: the operation's result, or the error status/message (injected, or a
 * rate limit's 429); a nonzero retry_after_s adds a Retry-After header to that error.
 */
void mm__sim_pending_delay(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *route, uint64_t latency_ms, int status,
                           const char *message, uint32_t retry_after_s);

/** Never answers (until the client leaves, or the server stops). */
void mm__sim_pending_hang(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *route);

/** Answers every waiting and hanging request with 503 and closes their connections after. */
void mm__sim_pending_release_all(mm_sim_server *srv, const char *why);

#endif
