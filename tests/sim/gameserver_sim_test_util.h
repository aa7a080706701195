/*
 * Helpers for the gameserver_sim tests: a world of real processes (nats-server with JetStream,
 * edgegap_sim, gameserver_sim) on free loopback ports, a NATS client of the test's own for KV
 * and requests, and condition polls with deadlines (never a bare sleep).
 */
#ifndef GAMESERVER_SIM_TEST_UTIL_H
#define GAMESERVER_SIM_TEST_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "mm/kv.h"
#include "mm/nats_env.h"
#include "mm/token.h"
#include "mm_test.h"

#define GSW_PROTOCOL_ID 80085
#define GSW_KEY_TEXT "1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1"

typedef struct gs_world {
    struct mm_test_nats nats;
    mm_nats *client;
    mm_js *js;
    pid_t edgegap_pid;
    char edgegap_url[64];
    pid_t gs_pid;
    char gs_log[300];
    char tmpdir[256];
} gs_world;

/** Starts nats-server, sets NATS_HOST/NATS_INSECURE for the children, connects the test's client. */
void gsw_start_nats(gs_world *w);

/** Starts edgegap_sim (deployments ready after 100 ms) and waits for its port. */
void gsw_start_edgegap(gs_world *w);

/** Starts gameserver_sim with the test key/protocol id plus extra flags (NULL-terminated); waits
 * until its request API answers. Its log goes to w->gs_log. */
void gsw_start_gameserver(gs_world *w, const char *const extra[]);

/** SIGTERM to gameserver_sim; returns its exit status. */
int gsw_stop_gameserver(gs_world *w);

/** Stops everything still running and removes temporary files. */
void gsw_stop_all(gs_world *w);

/** POST /v1/session for the player 81.128.157.100; writes the session id. 0 on success. */
int gsw_create_session(gs_world *w, char *session_id, size_t len);

/** Follows GET /v1/session/ID until ready; writes public ip, external port of "server", request id. */
int gsw_wait_ready(gs_world *w, const char *session_id, char *ip, size_t ip_len, uint16_t *port, char *request_id,
                   size_t request_id_len);

/** A NATS request with a JSON payload; returns the parsed JSON reply or NULL (no reply, not JSON). */
json_t *gsw_request(gs_world *w, const char *subject, const char *payload);

/** Waits up to timeout_ms for key to have a value (copied into value); 0 when it appeared. */
int gsw_wait_kv(kvStore *kv, const char *key, char *value, size_t len, int timeout_ms);

/** Waits up to timeout_ms for key to have no value; 0 when it is gone. */
int gsw_wait_kv_gone(kvStore *kv, const char *key, int timeout_ms);

/** Waits up to timeout_ms for gameserver_sim's log to contain needle; 0 when it does. */
int gsw_wait_log(gs_world *w, const char *needle, int timeout_ms);

/** The test key (GSW_KEY_TEXT) parsed. */
void gsw_key(mm_token_key *key);

#endif
