/*
 * NATS as deploy/nats/ configures it, on loopback, for the deployment tests: one server or a
 * 3-node JetStream cluster started from copies of the real configuration files, with only the
 * addresses and store directories substituted (each substitution must match, so a change to
 * the shipped files that the test no longer understands fails loudly instead of testing
 * something else). Plus client connections as the service users that record the asynchronous
 * "not permitted" errors the server sends.
 */
#ifndef DEPLOY_NATS_H
#define DEPLOY_NATS_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <nats/nats.h>

#define DN_MAX_NODES 3

/* The passwords the test gives nats-server (through the environment, as users.conf reads them). */
#define DN_PW_MATCHMAKER "mm-test-secret"
#define DN_PW_HTTPD "httpd-test-secret"
#define DN_PW_GAMESERVER "gs-test-secret"

typedef struct dn_cluster {
    int nodes;     /* 1, or 3 for nats-server-cluster.conf */
    char dir[256]; /* temp dir: per-node config copies, stores, logs */
    pid_t pid[DN_MAX_NODES];
    int port[DN_MAX_NODES], http_port[DN_MAX_NODES], cluster_port[DN_MAX_NODES];
    char log[DN_MAX_NODES][320];
} dn_cluster;

/**
 * Starts nats-server with deploy/nats/<config> (nats-server.conf, nats-server.demo.conf: one
 * node; nats-server-cluster.conf: three) and waits until every node's /healthz answers 200
 * (JetStream ready, the cluster's meta leader elected). Stops the test if it cannot.
 */
void dn_start(dn_cluster *c, const char *config);

/** Stops every node and removes the temp dir. */
void dn_stop(dn_cluster *c);

/** "127.0.0.1:PORT" of node i (for NATS_HOST). */
void dn_host(const dn_cluster *c, int i, char *buf, size_t len);

/** Lines of all node logs that contain needle. */
int dn_log_count(const dn_cluster *c, const char *needle);

/** Polls the node logs until a line contains needle, at most timeout_ms. */
bool dn_log_wait(const dn_cluster *c, const char *needle, int timeout_ms);

/** Copies every line of the node logs that contains needle to stderr (for failures). */
void dn_log_print(const dn_cluster *c, const char *needle);

/** A client connection as one user. */
typedef struct dn_client {
    natsConnection *nc;
    pthread_mutex_t mu;
    int not_permitted; /* asynchronous NATS_NOT_PERMITTED errors so far */
    char last[512];    /* the connection's last error text when the last one came */
} dn_client;

/** Connects to node i as user/password (no reconnects). Returns the connect status. */
natsStatus dn_connect(dn_client *cl, const dn_cluster *c, int i, const char *user, const char *password);

/** Closes the connection. Accepts a client that never connected. */
void dn_close(dn_client *cl);

/** The number of "not permitted" errors so far. */
int dn_refusals(dn_client *cl);

/** Polls until more than `than` refusals were counted, at most timeout_ms. */
bool dn_wait_refusals(dn_client *cl, int than, int timeout_ms);

#endif
