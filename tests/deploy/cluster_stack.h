/*
 * The whole production shape on one machine, for the cluster fault test: a 3-node JetStream
 * cluster from deploy/nats/nats-server-cluster.conf (tests/deploy/deploy_nats.h), edgegap_sim,
 * gameserver_sim --auto, two bevygap_matchmaker replicas (buckets and stream R3) and two
 * bevygap_matchmaker_httpd replicas, each service as its own deploy/nats user and each told
 * one NATS node in NATS_HOST (as a Kubernetes pod is told one Service name; nats.c learns the
 * other nodes from the server's INFO). Plus the faults: kill -9 of any process, a NATS node
 * restarted on its own store, and the JetStream API questions the test asks (who leads a
 * stream, which node a service is connected to).
 *
 * Every wait polls a condition with a deadline and stops the test (MM_REQUIRE) when it fails.
 */
#ifndef CLUSTER_STACK_H
#define CLUSTER_STACK_H

#include <stdbool.h>
#include <sys/types.h>

#include <nats/nats.h>

#include "deploy_nats.h"
#include "mm_harness.h"

#define CF_REPLICAS 2

/* The timing of the services (the reaper window is what the leak check waits for). */
/*
 * A cert digest written during a leader election (4-9 s) must still be waited for, and the
 * session timeout (which covers the cert wait) must leave room for it; the reaper window must
 * exceed both (the matchmaker warns otherwise).
 */
#define CF_CERT_WAIT_MS 12000
#define CF_SESSION_TIMEOUT_MS 15000
#define CF_REAPER_AGE_MS 27000
#define CF_REAPER_MARGIN_MS 1000
/* Every session stays SEEKING this long at the simulator: requests are in flight when a fault hits. */
#define CF_SEEK_DELAY "1000"
#define CF_MATCHMAKER_TIMEOUT_MS 15000 /* the web front's wait for the matchmaker's last reply */

typedef struct cf_service {
    pid_t pid;
    int home;      /* the node its NATS_HOST names */
    int starts;    /* times started */
    int port;      /* web front: its HTTP port */
    char log[320]; /* appended to by every start */
} cf_service;

typedef struct cf_stack {
    dn_cluster nats;
    harness h; /* edgegap_sim (h.sim, h.sim_url) and gameserver_sim (h.gs) */
    cf_service mm[CF_REPLICAS], httpd[CF_REPLICAS];
    natsConnection *monitor; /* user matchmaker, every node listed, reconnecting for ever */
} cf_stack;

/** Starts everything; matchmakers on nodes 0 and 1, web fronts on nodes 1 and 2, gameserver_sim on all. */
void cf_stack_start(cf_stack *s);

/** Starts matchmaker i again (after a kill) and waits for its "matchmaker ready". */
void cf_mm_start(cf_stack *s, int i);

/** Starts web front i again on its port and waits until /readyz answers 200. */
void cf_httpd_start(cf_stack *s, int i);

/** kill -9 of a service or node process; its pid is cleared. */
void cf_kill9(pid_t *pid);

/** Starts node i again with its configuration and store and waits for /healthz 200. */
void cf_node_restart(cf_stack *s, int i);

/** The node (0..2) whose server leads stream, per $JS.API.STREAM.INFO; -1 when none does. */
int cf_stream_leader(cf_stack *s, const char *stream);

/** Polls until stream has a leader other than `not`, at most timeout_ms; returns it or -1. */
int cf_wait_leader(cf_stack *s, const char *stream, int not, int timeout_ms);

/** The node a service is connected to now, from the last "connected to" line of its log; -1 if unknown. */
int cf_service_node(const cf_stack *s, const cf_service *svc);

/** Lines of a service's log that contain needle. */
int cf_log_count(const char *path, const char *needle);

/** Stops everything (services with SIGTERM; matchmakers must exit 0) and removes the temp dir. */
void cf_stack_stop(cf_stack *s);

#endif
