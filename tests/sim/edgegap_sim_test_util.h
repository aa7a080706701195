/*
 * Shared helpers of the edgegap_sim tests: start the real edgegap_sim program as a child on a
 * free loopback port, talk to it with libcurl, and check JSON shapes field by field.
 */
#ifndef EDGEGAP_SIM_TEST_UTIL_H
#define EDGEGAP_SIM_TEST_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "mm_test.h"

#define SIM_KEY "token test-key-1a2b3c"

typedef mm_test_sim sim_proc;

/**
 * Starts edgegap_sim with --listen on a free port, --api-key SIM_KEY, --log-level warn and the
 * NULL-terminated extra arguments; waits until it accepts connections. 0 on success.
 */
int sim_start(sim_proc *sim, const char *const *extra);

/** SIGTERM, reap; returns the exit status (0 expected). */
int sim_stop(sim_proc *sim);

typedef struct http_reply {
    long status;   /* 0 when the transfer failed */
    int curl_code; /* CURLcode of the transfer */
    char *body;    /* NUL-terminated, owned */
    json_t *json;  /* parsed body, or NULL */
} http_reply;

/**
 * One request. auth NULL sends no authorization header. timeout_ms 0 means 10 s. Reuses one
 * keep-alive connection per thread unless fresh is set.
 */
void http_call(const char *method, const char *url, const char *auth, const char *body, long timeout_ms, bool fresh,
               http_reply *out);
void http_reply_free(http_reply *reply);

/** Closes this thread's keep-alive connection (call before the test ends). */
void http_cleanup(void);

/** A request to the simulator at path with SIM_KEY; returns the status, *json (may be NULL) owned by caller. */
long sim_call(const sim_proc *sim, const char *method, const char *path, const char *body, json_t **json);

/** POST /v1/session with body; returns the new session id (static buffer) or NULL. */
const char *sim_create_session(const sim_proc *sim, const char *body);

/** GET /__sim/stats and returns field key (an integer), or -1. */
long long sim_stat(const sim_proc *sim, const char *key);

/** Polls GET /v1/session/id until "status" equals want or timeout_ms passes; returns the last JSON. */
json_t *sim_wait_status(const sim_proc *sim, const char *id, const char *want, int timeout_ms);

/**
 * Checks obj's fields against a spec of space-separated "name:T" items; T is s (string), i
 * (integer), r (real), b (boolean), o (object), a (array), n (null); a trailing '?' also allows
 * null. A leading '=' on the spec requires the key set to be exactly these names. Failures are
 * counted through MM_CHECK with the field named. Returns true when everything matched.
 */
bool check_shape(const json_t *obj, const char *spec, const char *where);

/** Matches "^[0-9a-f]{12}$" (deployment ids), or with "-S" when session is true. */
bool is_edgegap_id(const char *text, bool session);

#endif
