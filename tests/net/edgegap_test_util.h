/*
 * Shared helpers of the Edgegap client tests: start the real edgegap_sim on a free loopback
 * port, ask it things directly (blocking libcurl, separate from the client under test), record
 * what a client callback received, and drive a client with a deadline.
 */
#ifndef EDGEGAP_TEST_UTIL_H
#define EDGEGAP_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "mm/edgegap.h"
#include "mm_test.h"

#define EG_KEY "token t-5e1f-test"
#define EG_APP "bevygap-spaceships"

typedef mm_test_sim eg_sim;

/** Starts build/edgegap_sim --listen <free port> --api-key EG_KEY --log-level warn + extra (NULL-ended). */
int eg_sim_start(eg_sim *sim, const char *const *extra);
/** SIGTERM and reap; returns the exit status. */
int eg_sim_stop(eg_sim *sim);

/** A blocking request to the simulator (auth may be NULL); returns the status, *json owned. */
long eg_sim_call(const eg_sim *sim, const char *method, const char *path, const char *auth, const char *body, json_t **json);
/** POST /__sim/faults with body; true on 200. */
bool eg_sim_faults(const eg_sim *sim, const char *body);
/** An integer field of GET /__sim/stats (a '.' descends: "requests.app"), or -1. */
long long eg_sim_stat(const eg_sim *sim, const char *key);
/** The "message" of a direct request, for comparing relayed messages; static buffer, "" if none. */
const char *eg_sim_message(const eg_sim *sim, const char *method, const char *path, const char *auth);
/** Closes the blocking helper's connection (call before the test ends). */
void eg_sim_http_cleanup(void);

/** What one callback saw, copied out (the result is only valid during the callback). */
typedef struct eg_rec {
    int calls;
    int *counter;          /* also incremented when set */
    const char *port_name; /* set before the call: name given to mm_edgegap_session_port */
    mm_edgegap_op op;
    mm_edgegap_outcome outcome;
    long status;
    bool retryable, has_json, timed_out, not_sent;
    char message[MM_EDGEGAP_MAX_MESSAGE];
    char subject[MM_EDGEGAP_MAX_SEGMENT + 1];
    char name[64], session_id[MM_EDGEGAP_MAX_SEGMENT + 1], session_status[64], error[128], public_ip[64];
    bool is_active, ready, linked, has_error, has_deployment;
    int64_t elapsed;
    size_t n_ports;
    char port_names[8][32], port_protocols[8][16];
    uint16_t port_external[8], port_internal[8];
    mm_err port_err;
    uint16_t port;
    char port_why[256];
    char json_text[1024]; /* the raw JSON, compact, cut */
} eg_rec;

/** An mm_edgegap_cb: ctx is an eg_rec. */
void eg_record(void *ctx, const mm_edgegap_result *result);

/** Drives eg (fds_wait + perform) until *counter >= target or timeout_ms passes; true when reached. */
bool eg_drive(mm_edgegap *eg, const int *counter, int target, int timeout_ms);

/** A client for base with key and limits (0 = default); MM_REQUIRE'd to succeed. */
mm_edgegap *eg_client(const char *base, const char *key, uint32_t max_in_flight, uint32_t max_queued, uint32_t timeout_ms);

/** Case-insensitive substring test. */
bool eg_contains(const char *text, const char *part);

#endif
