/*
 * A scripted /matchmaker/ws server for testing mm_bench: a listening socket on a free loopback
 * port, an accept thread and one detached thread per connection (blocking sockets, TCP_NODELAY:
 * simple and obviously right, which is what a test server should be). Each connection does the upgrade, reads the
 * client's request frame and then plays the script named by the request's "game" field, or,
 * for game "mixed", the script chosen by the last octet of its "client_ip" (1 = the first
 * script of FAKE_WS_SCRIPTS, ...). Every SessionReady announces 127.0.0.1:30004 and carries a
 * real token minted with FAKE_WS_KEY and protocol id FAKE_WS_PROTOCOL_ID.
 */
#ifndef FAKE_WS_SERVER_H
#define FAKE_WS_SERVER_H

#include <pthread.h>
#include <stdint.h>

#define FAKE_WS_KEY "3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9, 5"
#define FAKE_WS_PROTOCOL_ID 1982
#define FAKE_WS_GAME_PORT 30004

/*
 * The scripts, in "mixed" order:
 *   happy      ping, Acknowledged, SessionRequestAccepted, ProgressReport, SessionReady (in two
 *              fragments), close 1000 Goodbye; then expects the client's close
 *   error      Acknowledged, Error [409, "conflict"], close 1000
 *   err        "ERR Game name invalid", close 1008
 *   order      Acknowledged, SessionReady (no SessionRequestAccepted), close 1000
 *   wrongport  the happy flow, but the token is minted for port 30005
 *   silent     nothing at all: waits for the client to go
 *   early      Acknowledged, SessionRequestAccepted, then closes TCP without a close frame
 *   badjson    "{not json", close 1000
 *   noclose    the happy flow without the close frame: waits for the client to go
 *   line       Acknowledged, two waiting-room reports ("Waiting in line: position 3 of 5, about 1 s
 *              (0)", then position 1 of 5, about 0 s), FAKE_WS_LINE_MS later the happy flow
 *   lineerror  Acknowledged, one waiting-room report, Error [503, "line closed"], close 1000
 */
#define FAKE_WS_SCRIPTS "happy", "error", "err", "order", "wrongport", "silent", "early", "badjson", "noclose", "line", "lineerror"
#define FAKE_WS_SCRIPT_COUNT 11
#define FAKE_WS_LINE_MS 300

#define FAKE_WS_MAX_CONNS 1024 /* at once; more are closed at once */
#define FAKE_WS_MAX_IPS 64

typedef struct fake_ws_server {
    int listen_fd;
    int port;
    pthread_t acceptor;
    pthread_mutex_t lock;
    pthread_cond_t idle; /* signalled when a connection thread ends */
    int active;          /* connection threads running (detached) */
    /* what the server saw (under lock) */
    int requests;     /* request frames read */
    int bad_requests; /* request frames that were not {"game","version"[,"client_ip"]} */
    int pongs;        /* pongs that echoed the ping */
    int client_closes; /* close frames 1000 from the client after the server's close */
    char ips[FAKE_WS_MAX_IPS][16];
    int ip_counts[FAKE_WS_MAX_IPS];
    int ip_distinct;
    uint32_t peers[FAKE_WS_MAX_IPS]; /* TCP peer addresses (network order) */
    int peer_counts[FAKE_WS_MAX_IPS];
    int peer_distinct;
    int peer_overflow; /* connections from peers beyond the first FAKE_WS_MAX_IPS */
} fake_ws_server;

/** Starts the server on 127.0.0.1 at a free port; 0 or -1. */
int fake_ws_start(fake_ws_server *s);

/** Reads a counter under the lock. */
int fake_ws_count(fake_ws_server *s, const int *counter);

/**
 * Stops accepting and waits (at most 30 s) for every connection thread: they end when their
 * clients go, or after their 20 s receive timeout. 0, or -1 if some were still running.
 */
int fake_ws_stop(fake_ws_server *s);

#endif
