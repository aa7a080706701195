/*
 * A TCP load balancer for the cluster fault test: what a Kubernetes Service (or any L4 load
 * balancer) does in front of the web front's replicas, on loopback.
 *
 * Each accepted connection goes to the next enabled backend in turn; a backend that refuses the
 * connect (its process is dead) is skipped and the next one tried, so clients only fail when
 * every backend refuses (then the client's connection is closed at once). Bytes are copied both
 * ways until either side closes, then both are closed: a backend killed mid-request closes its
 * clients' connections, as a dead pod does.
 *
 * One thread (epoll). Counters are readable from any thread. Connections per backend are what
 * the test needs to bound the errors a kill may cause: the requests in flight through it.
 */
#ifndef TCP_LB_H
#define TCP_LB_H

#include <stdbool.h>
#include <stdint.h>

#define TCP_LB_MAX_BACKENDS 4

typedef struct tcp_lb tcp_lb;

/** Listens on a free loopback port and starts the thread. NULL on failure (logged). */
tcp_lb *tcp_lb_start(const int *backend_ports, int n);

/** The port clients connect to. */
int tcp_lb_port(const tcp_lb *lb);

/**
 * Takes backend i out of (false) or back into (true) the rotation; all start enabled. When it
 * returns, no connection is being routed to i any more, so tcp_lb_open(lb, i) counts exactly
 * the connections it will ever have until it is enabled again.
 */
void tcp_lb_enable(tcp_lb *lb, int i, bool on);

/** Client connections currently relayed to backend i. */
int tcp_lb_open(tcp_lb *lb, int i);

/** Client connections currently relayed to any backend. */
int tcp_lb_open_total(tcp_lb *lb);

/** Connects to backend i that were refused (and passed on to another backend). */
uint64_t tcp_lb_refused(tcp_lb *lb, int i);

/** Connections accepted, and those closed at once because no backend took them. */
void tcp_lb_counts(tcp_lb *lb, uint64_t *accepted, uint64_t *unrouted);

/** Stops the thread, closes every connection and frees. Accepts NULL. */
void tcp_lb_stop(tcp_lb *lb);

#endif
