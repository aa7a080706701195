/*
 * Edgegap API client (docs/protocol.md section 7): the five calls the matchmaker makes, non-blocking, on
 * one libcurl multi handle with keep-alive connections. docs/edgegap_client.md has the design.
 *
 * Ownership and threads: an mm_edgegap belongs to ONE thread (the provisioner or delete-worker
 * actor), which creates it (or receives it before using it), makes every call, drives it with
 * mm_edgegap_fds_wait() + mm_edgegap_perform() and destroys it. Nothing here is thread-safe and
 * nothing needs to be: other threads wake the owner through its inbox eventfd, which the owner
 * passes to mm_edgegap_fds_wait() as the extra fd (so no curl_multi_wakeup is needed).
 *
 * Calls: each call validates its arguments, then either starts the request (fewer than
 * max_in_flight running), queues it (at most max_queued waiting) or refuses it (MM_ERR_FULL,
 * MM_ERR_INVALID, MM_ERR_STOPPED, MM_ERR_NOMEM; mm_edgegap_last_error() says why). An accepted
 * call's callback runs exactly once, later, on the owner thread, from inside
 * mm_edgegap_perform() or mm_edgegap_destroy() (outcome CANCELLED) -- never from inside the call.
 *
 * Priority: every request has a class (mm_edgegap_priority). Waiting requests sit in one FIFO per
 * class; a freed slot goes to the oldest URGENT request, and to the oldest BACKGROUND one only
 * when no urgent request waits (or, with a gate, when the urgent one has no token: see the
 * gate below). Background requests may hold at most
 * max_queued - max(1, max_queued / 4) of the waiting places (0 when max_queued is 1), so a
 * flood of background calls (session polls) never makes an urgent call (a session create) find
 * the queue full: a quarter of the places, at least one, is kept for urgent requests. Urgent
 * requests may take every place. A background call that finds its share full is refused with
 * MM_ERR_FULL (nothing is queued; the caller tries again later, mm_edgegap_room() says when).
 *
 * Out of memory: calls return MM_ERR_NOMEM and nothing was accepted (ARCHITECTURE.md).
 * The API key is a secret: it is never logged and is wiped from memory on destroy.
 */
#ifndef MM_EDGEGAP_H
#define MM_EDGEGAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mm/err.h"

typedef struct mm_edgegap mm_edgegap;

#define MM_EDGEGAP_DEFAULT_BASE_URL "https://api.edgegap.com"
/* Defaults of mm_edgegap_config's limits (a 0 there means these); the provisioner and the
 * matchmaker's flags take theirs from here. */
#define MM_EDGEGAP_DEFAULT_MAX_IN_FLIGHT 16
#define MM_EDGEGAP_DEFAULT_MAX_QUEUED 1024
#define MM_EDGEGAP_DEFAULT_TIMEOUT_MS 10000
/* Longest app name, version name or session id accepted as a path segment. */
#define MM_EDGEGAP_MAX_SEGMENT 128
/* Most entries in a session's ip_list. */
#define MM_EDGEGAP_MAX_IPS 64
/* Most ports parsed from one answer; more is a BAD_RESPONSE. */
#define MM_EDGEGAP_MAX_PORTS 32
/* Longest message relayed in a result (longer ones are cut at a UTF-8 character boundary). */
#define MM_EDGEGAP_MAX_MESSAGE 512

typedef struct mm_edgegap_config {
    const char *base_url;        /* NULL: MM_EDGEGAP_DEFAULT_BASE_URL; http:// or https://, no query;
                                    trailing slashes are stripped; e.g. "http://127.0.0.1:8800" */
    const char *api_key;         /* required: the whole authorization header value, "token ..." */
    const char *user_agent;      /* NULL: "mm-matchmaker" */
    uint32_t max_in_flight;      /* requests running at once; 0: 16; at most 1024 */
    uint32_t max_queued;         /* requests waiting for a slot; 0: 1024; at most 1048576 */
    uint32_t request_timeout_ms; /* one transfer, connect included (time queued not counted); 0: 10000 */
    uint32_t connect_timeout_ms; /* 0: 5000 */
    uint32_t max_response_bytes; /* a larger 2xx body is BAD_RESPONSE (an error's: HTTP_ERROR with a
                                    synthesized message); 0: 1 MiB; 1024..64 MiB */
} mm_edgegap_config;

typedef enum mm_edgegap_op {
    MM_EDGEGAP_APP_GET = 0,    /* GET /v1/app/{app} */
    MM_EDGEGAP_VERSION_GET,    /* GET /v1/app/{app}/version/{version} */
    MM_EDGEGAP_SESSION_CREATE, /* POST /v1/session */
    MM_EDGEGAP_SESSION_GET,    /* GET /v1/session/{id} */
    MM_EDGEGAP_SESSION_DELETE, /* DELETE /v1/session/{id} */
    MM_EDGEGAP_OP_COUNT
} mm_edgegap_op;

typedef enum mm_edgegap_outcome {
    MM_EDGEGAP_OK = 0,       /* a 2xx answer with the fields docs/protocol.md section 7 promises */
    MM_EDGEGAP_HTTP_ERROR,   /* an answer that is not 2xx; message = Edgegap's "message" */
    MM_EDGEGAP_TRANSPORT,    /* no complete answer: connect failure, timeout, reset, our OOM */
    MM_EDGEGAP_BAD_RESPONSE, /* a 2xx whose body is not the expected JSON (or is too large) */
    MM_EDGEGAP_CANCELLED,    /* the client was destroyed before an answer was delivered */
    MM_EDGEGAP_OUTCOME_COUNT
} mm_edgegap_outcome;

/**
 * The class of a call (see the file comment). Session polls are BACKGROUND: a player already
 * waiting can wait one more poll interval, a new player should not be refused for them. Every
 * call without a priority argument is URGENT.
 */
typedef enum mm_edgegap_priority { MM_EDGEGAP_URGENT = 0, MM_EDGEGAP_BACKGROUND, MM_EDGEGAP_PRIORITY_COUNT } mm_edgegap_priority;

/** One port of a deployment (session get) or of an app version (version get). */
typedef struct mm_edgegap_port {
    const char *name;     /* session: the key in deployment.ports; version: the "name" field */
    uint16_t external;    /* session: the public port (0 while not assigned); version: 0 */
    uint16_t internal;    /* session: "internal"; version: "port" (0 when absent) */
    const char *protocol; /* "UDP", "TCP", ... or NULL when absent */
} mm_edgegap_port;

/**
 * What a callback receives. Everything it points to (strings, ports, json) is valid only during
 * the callback: copy what you keep. Fields not listed for an op, or for an outcome other than
 * OK, are zero/NULL.
 */
typedef struct mm_edgegap_result {
    mm_edgegap_op op;
    mm_edgegap_outcome outcome;
    long status;         /* HTTP status; 0 when no answer (TRANSPORT, CANCELLED) */
    const char *message; /* never NULL: the error text for Error(<status>, <message>) (see
                            docs/edgegap_client.md); on OK "" or the body's "message" (delete) */
    const char *subject; /* what the call named: the app (app/version get, create) or session id */
    uint64_t latency_ms; /* from the accepted call to the answer, queueing included */
    const json_t *json;  /* borrowed: the parsed body when it was JSON, else NULL (diagnostics) */
    /* TRANSPORT only: */
    bool timed_out; /* no complete answer within request_timeout_ms (Edgegap hangs) */
    bool not_sent;  /* the request never reached a server (name or connect failure, our OOM):
                       even a POST is safe to repeat */

    /* APP_GET, VERSION_GET */
    const char *name;
    bool is_active;
    /* SESSION_CREATE, SESSION_GET; SESSION_DELETE when the body names it (else NULL) */
    const char *session_id;
    /* SESSION_GET */
    const char *session_status; /* "Status.READY", "Ready", ... */
    bool ready;
    bool linked;
    bool has_error;    /* "error" was a string */
    const char *error; /* that string, else NULL */
    int64_t elapsed;   /* seconds; a JSON real is truncated */
    bool has_deployment;
    const char *public_ip; /* an IPv4/IPv6 literal, or NULL while not assigned; set when ready */
    /* SESSION_GET (deployment.ports, in answer order), VERSION_GET (ports) */
    const mm_edgegap_port *ports;
    size_t n_ports;
} mm_edgegap_result;

/** Runs on the owner thread; see the file comment. May make new calls; must not destroy eg. */
typedef void (*mm_edgegap_cb)(void *ctx, const mm_edgegap_result *result);

/** Counters since creation, for /metrics. */
typedef struct mm_edgegap_stats {
    uint64_t accepted[MM_EDGEGAP_OP_COUNT];
    uint64_t outcomes[MM_EDGEGAP_OP_COUNT][MM_EDGEGAP_OUTCOME_COUNT];
    uint64_t status_class[MM_EDGEGAP_OP_COUNT][6]; /* [status / 100]; [0] = no answer */
    uint64_t refused_full;                         /* calls refused with MM_ERR_FULL */
    uint64_t refused_full_background;              /* of those, BACKGROUND calls */
    uint64_t refused_invalid;                      /* calls refused with MM_ERR_INVALID */
    uint64_t connections_opened;                   /* new TCP connections (keep-alive reuse keeps this low) */
    uint32_t in_flight, queued;
    uint32_t queued_class[MM_EDGEGAP_PRIORITY_COUNT]; /* queued, per class (they add up to queued) */
    uint32_t in_flight_high_water;                    /* most requests ever running at once */
} mm_edgegap_stats;

/**
 * Creates a client. config is copied (the caller may free its strings). On error *out is NULL
 * and why (may be NULL) says what is wrong with the config.
 */
mm_err mm_edgegap_create(const mm_edgegap_config *config, mm_edgegap **out, char *why, size_t why_len);

/**
 * Cancels every request not yet delivered: each callback runs once, now, with outcome CANCELLED
 * (calls made from those callbacks are refused with MM_ERR_STOPPED). Then frees everything.
 * Accepts NULL. Must not be called from a callback (that aborts with an error line).
 */
void mm_edgegap_destroy(mm_edgegap *eg);

/**
 * Path segments (app, version, session_id) must be 1..MM_EDGEGAP_MAX_SEGMENT characters of
 * [A-Za-z0-9_.-] and not "." or ".."; anything else is MM_ERR_INVALID, never sent.
 */
mm_err mm_edgegap_app_get(mm_edgegap *eg, const char *app, mm_edgegap_cb cb, void *ctx);
mm_err mm_edgegap_version_get(mm_edgegap *eg, const char *app, const char *version, mm_edgegap_cb cb, void *ctx);

/**
 * POST /v1/session {app_name, version_name, ip_list, webhook_url}. version NULL omits
 * version_name (Edgegap picks the app's active version). ip_list holds n_ips (0..MM_EDGEGAP_MAX_IPS)
 * IPv4/IPv6 literals; 0 omits the field. webhook_url NULL omits it, else an http(s) URL of
 * printable ASCII, at most 2048 bytes. The body is built with jansson.
 */
mm_err mm_edgegap_session_create(mm_edgegap *eg, const char *app, const char *version, const char *const *ip_list, size_t n_ips,
                                 const char *webhook_url, mm_edgegap_cb cb, void *ctx);
/**
 * GET /v1/session/{id} in class priority: MM_EDGEGAP_BACKGROUND for the repeated polls of a
 * session that is not ready yet, MM_EDGEGAP_URGENT for a one-off look. Anything else is
 * MM_ERR_INVALID. The client does not merge calls: a caller polls one session at a time.
 */
mm_err mm_edgegap_session_get(mm_edgegap *eg, const char *session_id, mm_edgegap_priority priority, mm_edgegap_cb cb, void *ctx);
/** OK on any 2xx, whatever its body (the session is gone either way). */
mm_err mm_edgegap_session_delete(mm_edgegap *eg, const char *session_id, mm_edgegap_cb cb, void *ctx);

/**
 * An optional admission gate (the fleet's Edgegap budget, include/mm/budget.h): when set, a
 * request starts only when take(ctx, op, false) grants it a token, so requests may wait in the
 * queues although a slot is free; mm_edgegap_fds_wait() then sleeps at most wait_ms(ctx, op) of
 * the queues' head requests before the next try. Tokens may differ by op (the budget's classes):
 * when the urgent head gets none, the background head may still start with its own, so one
 * class waiting for tokens does not hold back another. take(ctx, op, true) only asks (nothing is
 * consumed). answered(ctx, op, status),
 * when not NULL, sees every delivered answer's HTTP status (0: no answer) before its callback.
 * Owner thread; set before the first call. NULL clears it (the default: no gate).
 */
typedef struct mm_edgegap_gate {
    bool (*take)(void *ctx, mm_edgegap_op op, bool peek);
    uint64_t (*wait_ms)(void *ctx, mm_edgegap_op op);
    void (*answered)(void *ctx, mm_edgegap_op op, long status);
    void *ctx;
} mm_edgegap_gate;

void mm_edgegap_set_gate(mm_edgegap *eg, const mm_edgegap_gate *gate);

/** True when a call of class priority and op would start at once (a free slot, nobody of its
 * class or a higher one waiting, and the gate's token). Owner thread. */
bool mm_edgegap_would_start(const mm_edgegap *eg, mm_edgegap_priority priority, mm_edgegap_op op);

/** Why the last call on eg was refused ("" when none was). Owner thread. */
const char *mm_edgegap_last_error(const mm_edgegap *eg);

/**
 * Blocks until a transfer has something to do, extra_fd (-1: none) is readable, or timeout_ms
 * passes (-1: no limit). Returns at once when answers are waiting to be delivered. Does not
 * read extra_fd. MM_OK, or MM_ERR_SYS when polling failed (logged).
 */
mm_err mm_edgegap_fds_wait(mm_edgegap *eg, int extra_fd, int timeout_ms);

/**
 * Moves the transfers on, delivers every finished answer to its callback and starts queued
 * requests (urgent ones first, each class in FIFO order). Never blocks. A call from inside a
 * callback does nothing.
 */
void mm_edgegap_perform(mm_edgegap *eg);

/** Requests running / waiting in the client's queues (both classes). */
uint32_t mm_edgegap_in_flight(const mm_edgegap *eg);
uint32_t mm_edgegap_queued(const mm_edgegap *eg);

/**
 * How many calls of class priority the client would accept now (start or queue) before one is
 * refused with MM_ERR_FULL; 0 for NULL or while destroying. It grows only inside
 * mm_edgegap_perform(), when requests start: a caller holding refused background work retries
 * it after perform while this is not 0.
 */
uint32_t mm_edgegap_room(const mm_edgegap *eg, mm_edgegap_priority priority);

void mm_edgegap_get_stats(const mm_edgegap *eg, mm_edgegap_stats *out);

/**
 * The port the matchmaker gives the player (docs/protocol.md section 5), from an OK SESSION_GET result
 * with a deployment: the port called name, or, when name is NULL, the only port. MM_OK and
 * *external set; otherwise MM_ERR_NOTFOUND (no deployment, no such port, no ports, or the port
 * has no external number yet) or MM_ERR_INVALID (name NULL and several ports; a result of
 * another op or outcome), with the reason in why.
 */
mm_err mm_edgegap_session_port(const mm_edgegap_result *result, const char *name, uint16_t *external, char *why, size_t why_len);

/** True for answers worth retrying later: TRANSPORT, HTTP 429, 5xx except 501. */
bool mm_edgegap_retryable(const mm_edgegap_result *result);

/**
 * Exponential backoff with full jitter: cap = min(max_ms, base_ms * 2^attempt) (no overflow),
 * returns random % (cap + 1), so a uniform random gives a uniform delay in [0, cap].
 */
uint64_t mm_edgegap_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms, uint64_t random);

/** Short constant names for logs and metric labels ("session_get", "http_error"). */
const char *mm_edgegap_op_name(mm_edgegap_op op);
const char *mm_edgegap_outcome_name(mm_edgegap_outcome outcome);

#endif
