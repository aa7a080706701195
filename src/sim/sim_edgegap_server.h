/*
 * edgegap_sim's HTTP server: one h2o event loop thread serving the Edgegap API (/v1, see
 * src/sim/sim_edgegap.h) and the introspection routes (/__sim), with fault injection applied
 * per request. Webhooks are delivered by a thread of their own (sim_edgegap_webhook.h).
 *
 * Lifecycle: create (binds the listening socket, so the address is known and port 0 resolved),
 * run until *stop becomes nonzero (a signal handler sets it), destroy. run answers requests that
 * are still waiting or hanging with 503, closes every connection and returns.
 */
#ifndef MM_SIM_EDGEGAP_SERVER_H
#define MM_SIM_EDGEGAP_SERVER_H

#include <signal.h>

#include "mm/err.h"
#include "sim_edgegap.h"
#include "sim_edgegap_faults.h"

typedef struct mm_sim_server mm_sim_server;

/**
 * Binds cfg->listen_host:listen_port, starts the webhook thread and builds an empty world with
 * the given initial faults (copied). cfg must outlive the server. MM_ERR_SYS when the address
 * cannot be bound or a thread cannot start (logged with the reason).
 */
mm_err mm_sim_server_create(const mm_sim_edgegap_cfg *cfg, const mm_sim_faults *faults, mm_sim_server **out);

/** The bound address as "HOST:PORT" ("[::1]:PORT" for IPv6), with the real port. */
const char *mm_sim_server_address(const mm_sim_server *server);

/** Serves until *stop is nonzero; then drains and closes connections. MM_OK or MM_ERR_SYS. */
mm_err mm_sim_server_run(mm_sim_server *server, volatile sig_atomic_t *stop);

/** Frees everything (call after run returned, or instead of it). Accepts NULL. */
void mm_sim_server_destroy(mm_sim_server *server);

#endif
