/*
 * End-to-end helpers for bevygap_matchmaker_httpd, on top of the matchmaker's harness
 * (tests/matchmaker/mm_harness.h: nats-server, edgegap_sim, gameserver_sim, bevygap_matchmaker):
 * start the web front as a child on a free loopback port and wait for its "listening on" line;
 * stop it with SIGTERM; plain HTTP calls with libcurl (status, headers, body) with a deadline.
 */
#ifndef MM_HTTPD_HARNESS_H
#define MM_HTTPD_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mm_harness.h"
#include "ws_client.h"

#define HD_WAIT_MS 20000 /* how long a player waits for the next message */

typedef struct hd_proc {
    pid_t pid;
    int port;
    char log[512];
} hd_proc;

/**
 * Starts bevygap_matchmaker_httpd (NATS_* from h_start_nats) with --bind 127.0.0.1:<free port>
 * and the extra arguments (NULL-terminated, may be NULL); waits for its "listening on" line.
 * Its log goes to a file in the NATS store dir.
 */
void hd_start(harness *h, hd_proc *p, const char *const *extra);

/** SIGTERM, then waits up to grace_ms; returns the exit status (-1: had to be killed). */
int hd_stop(hd_proc *p, int grace_ms);

/** Prints the last lines of the httpd's log to stderr (for failures). */
void hd_dump_log(const hd_proc *p);

typedef struct hd_response {
    long status; /* -1: no answer */
    char headers[4096];
    char body[65536];
    size_t body_len;
} hd_response;

/**
 * method "GET" or "POST" (body may be NULL: empty) to http://127.0.0.1:port<path>, with extra
 * header lines (NULL-terminated array, may be NULL); at most timeout_ms.
 */
void hd_http(int port, const char *method, const char *path, const char *body, const char *const *headers, int timeout_ms,
             hd_response *out);

/** Decodes a base64 connect token with the all-zero key (protocol 1982) and checks it is for ip:port. */
void hd_check_token(const char *token_b64, const char *ip, uint16_t port);

/** A whole session's messages: "Acknowledged", SessionRequestAccepted, >= 1 ProgressReport, SessionReady (token checked). */
void hd_check_session(char **texts, int n);

/**
 * Reads text frames (each a new string in texts, at most max) until the close frame; returns
 * their count and the close code (-1: none) and reason.
 */
int hd_ws_collect(mm_ws_client *ws, char **texts, int max, int *close_code, char *reason, size_t reason_len);

/** Frees texts[0..n). */
void hd_free_texts(char **texts, int n);

/**
 * One WebSocket request on 127.0.0.1:port/matchmaker/ws for game and H_VERSION from client_ip:
 * collects its texts (hd_ws_collect) and close code; a close 1000 must carry "Goodbye".
 */
void hd_ws_request(int port, const char *game, const char *client_ip, char **texts, int max, int *n, int *code);

#endif
