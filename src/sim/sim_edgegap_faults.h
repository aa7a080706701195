/*
 * Fault injection for edgegap_sim, per endpoint: added latency, injected error answers, hanging
 * requests, and (session creation only) sessions that never become ready and deployments that
 * fail. Each kind can fire deterministically ("the next N requests") and/or at a rate drawn from a
 * seeded generator, so a test can say exactly what happens and a soak run can be reproduced.
 *
 * Settings come from `--fault ENDPOINT:KEY=VALUE,...` flags at start (keys merge into the
 * endpoint's settings) and from POST /__sim/faults at run time (each endpoint named in the body
 * has its settings replaced). Keys, in both forms:
 *   latency_ms, error_rate, error_next, error_status, error_message, hang_rate, hang_next,
 *   never_ready_rate, never_ready_next, deploy_fail_rate, deploy_fail_next,
 *   webhook_drop_rate, webhook_drop_next (session_create: a session's webhook is not sent; each
 *   webhook decided on its own, on the same seeded generator)
 * Single-threaded (the server's loop).
 */
#ifndef MM_SIM_EDGEGAP_FAULTS_H
#define MM_SIM_EDGEGAP_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mm/err.h"

typedef enum mm_sim_endpoint {
    MM_SIM_EP_APP = 0,        /* GET /v1/app/{app} */
    MM_SIM_EP_VERSION,        /* GET /v1/app/{app}/version/{version} */
    MM_SIM_EP_SESSION_CREATE, /* POST /v1/session */
    MM_SIM_EP_SESSION_GET,    /* GET /v1/session/{id} */
    MM_SIM_EP_SESSION_DELETE, /* DELETE /v1/session/{id} */
    MM_SIM_EP_COUNT
} mm_sim_endpoint;

/** "app", "version", "session_create", "session_get", "session_delete". */
const char *mm_sim_endpoint_name(mm_sim_endpoint endpoint);

/** Parses an endpoint name; returns -1 when unknown. */
int mm_sim_endpoint_parse(const char *name);

/** When one kind of fault fires: first the next `next` times, then with probability `rate`. */
typedef struct mm_sim_fault_rule {
    uint64_t next;
    double rate; /* 0..1 */
} mm_sim_fault_rule;

typedef struct mm_sim_fault_cfg {
    uint64_t latency_ms; /* added before every answer of the endpoint (not to hangs) */
    mm_sim_fault_rule error;
    int error_status;              /* one of 400 401 404 409 422 429 500 503 (default 503) */
    char error_message[200];       /* empty: a text naming the status */
    mm_sim_fault_rule hang;        /* the request is never answered */
    mm_sim_fault_rule never_ready; /* session_create: the session stays seeking forever */
    mm_sim_fault_rule deploy_fail; /* session_create: a started deployment goes to error */
    mm_sim_fault_rule webhook_drop; /* session_create: a session's webhook is dropped (not sent) */
} mm_sim_fault_cfg;

typedef enum mm_sim_fault_kind {
    MM_SIM_FAULT_ERROR = 0,
    MM_SIM_FAULT_HANG,
    MM_SIM_FAULT_NEVER_READY,
    MM_SIM_FAULT_DEPLOY_FAIL,
    MM_SIM_FAULT_WEBHOOK_DROP,
    MM_SIM_FAULT_KINDS
} mm_sim_fault_kind;

typedef struct mm_sim_faults {
    mm_sim_fault_cfg ep[MM_SIM_EP_COUNT];
    uint64_t rng;                       /* xorshift state, never 0 */
    uint64_t fired[MM_SIM_FAULT_KINDS]; /* how often each kind fired */
    uint64_t delayed;                   /* answers that got added latency */
} mm_sim_faults;

/** No faults; the generator is seeded with seed (0 is replaced by a fixed nonzero constant). */
void mm_sim_faults_init(mm_sim_faults *faults, uint64_t seed);

/** Clears every endpoint's settings and the counters; keeps the generator's state. */
void mm_sim_faults_clear(mm_sim_faults *faults);

/** What to do with one request of an endpoint. */
typedef enum mm_sim_fault_action {
    MM_SIM_ACT_SERVE = 0, /* answer normally (after *latency_ms) */
    MM_SIM_ACT_ERROR,     /* answer *status / message (after *latency_ms) */
    MM_SIM_ACT_HANG,      /* never answer */
} mm_sim_fault_action;

/**
 * Decides the fate of one request; consumes "next" counters and random draws. On ERROR,
 * *status and *message (pointing into faults, valid until the settings change) are set.
 */
mm_sim_fault_action mm_sim_faults_decide(mm_sim_faults *faults, mm_sim_endpoint endpoint, uint64_t *latency_ms, int *status,
                                         const char **message);

/** For session_create only: whether this session never becomes ready / its deployment fails /
 *  this webhook of a session is dropped. */
bool mm_sim_faults_take(mm_sim_faults *faults, mm_sim_fault_kind kind);

/** Applies one flag value "ENDPOINT:KEY=VALUE[,KEY=VALUE...]"; nothing changes on error. */
mm_err mm_sim_faults_apply_flag(mm_sim_faults *faults, const char *spec, char *why, size_t why_len);

/**
 * Applies a /__sim/faults body: an object whose keys are endpoint names and whose values are
 * objects of settings (replacing that endpoint's settings; {} or null clears them). All or nothing.
 */
mm_err mm_sim_faults_apply_json(mm_sim_faults *faults, const json_t *body, char *why, size_t why_len);

/** The current settings and counters as JSON (a new reference). */
json_t *mm_sim_faults_to_json(const mm_sim_faults *faults);

#endif
