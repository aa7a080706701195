/*
 * The web front (docs/protocol.md section 2): h2o event-loop threads that own every client connection
 * (WebSocket /matchmaker/ws, chunked POST /matchmaker/request/{game}/{version}, POST
 * /matchmaker/wannaplay, GET / and /matchmaker, /healthz, /readyz, /metrics) and hand each
 * validated session request to a BACKEND. The front does not know what the backend is:
 *
 *   bevygap_matchmaker_httpd       the backend is the NATS bridge actor (src/actors/nats_bridge.c):
 *                                  it publishes matchmaker.request.<game>.<version> (or
 *                                  session.gensession for wannaplay) and relays each reply.
 *   bevygap_matchmaker --http ...  (all-in-one) the backend submits straight to the provisioner
 *                                  actor's inbox (mm_provisioner_submit); no NATS hop.
 *
 * Replies travel back through a RELAY SINK (include/mm/reply.h) that the front creates for each
 * request and hands to the backend with it. Whatever thread holds the sink calls send/error/end/
 * free on it; the relay sink copies the text and posts it to the loop that owns the connection,
 * where it is written to the socket, in order. The relay sink never blocks the backend thread
 * and never drops a message of a live connection (it buffers per request if the loop's queue is
 * full, up to 1 MiB of text; beyond that send returns MM_ERR_FULL); messages for a connection
 * that has closed are dropped by id (send still returns MM_OK: the backend need not care). A sink always receives
 * feedback texts in the stream form (include/mm/feedback.h), whatever the route: the front turns
 * them into WebSocket frames, chunks, or the one wannaplay answer.
 *
 * Threads: mm_front_start/stop/destroy on one control thread. backend.submit runs on a loop
 * thread and must not block; backend.ready and backend.metrics may run on any loop thread at any
 * time (use atomics).
 */
#ifndef MM_FRONT_H
#define MM_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/parse.h"
#include "mm/reply.h"
#include "mm/request.h"

typedef struct mm_front mm_front;

typedef enum mm_front_route {
    MM_FRONT_WS = 1,     /* /matchmaker/ws: streaming */
    MM_FRONT_CHUNKED,    /* POST /matchmaker/request/{game}/{version}: streaming */
    MM_FRONT_WANNAPLAY,  /* POST /matchmaker/wannaplay: one answer (the reference uses session.gensession) */
} mm_front_route;

/** One validated request, as handed to the backend (valid only during submit: copy what you keep). */
typedef struct mm_front_request {
    uint64_t id;              /* unique in this process, for logs (not reused) */
    mm_front_route route;
    mm_session_request req;   /* game and version validated (empty for WANNAPLAY); client_ip
                                 resolved as docs/protocol.md section 2 says (loopback -> fake ip): always set */
} mm_front_request;

typedef struct mm_front_backend {
    void *ctx;
    /**
     * Takes a request. MM_OK: the backend owns sink and will end and free it (from one thread at a
     * time). Any other value: nothing was taken, the front still owns sink and answers the client:
     * MM_ERR_FULL -> Error(503, "the matchmaker is busy, try again"), MM_ERR_STOPPED ->
     * Error(503, "the matchmaker is stopping"), else Error(500, ...).
     */
    mm_err (*submit)(void *ctx, const mm_front_request *req, mm_reply_sink *sink);
    /** For /readyz: true when requests can be served now (e.g. NATS connected). NULL: always. */
    bool (*ready)(void *ctx);
    /**
     * Optional (NULL): appends Prometheus text-format lines about the backend (queue depths,
     * Edgegap calls by status, ...) to buf; returns the bytes written (at most len, cut at a line).
     */
    size_t (*metrics)(void *ctx, char *buf, size_t len);
    /**
     * Optional (NULL: webhooks are answered 503): hands on one Edgegap session webhook (POST
     * MM_FRONT_WEBHOOK_PREFIX<secret>, docs/front.md) whose session id the front has checked
     * (1..64 bytes of [A-Za-z0-9_-]). Called on a loop thread; must not block. MM_OK: handed on
     * (the client gets 204); anything else: 503.
     */
    mm_err (*webhook)(void *ctx, const char *session_id);
    /**
     * Optional (NULL: webhook is used): as webhook, with the create intent the webhook URL
     * carried (`?intent=<id>`, checked: 1..64 of [A-Za-z0-9_-]; NULL when it carried none or
     * a malformed one). The backend passes it to the matchmaker (include/mm/orphans.h).
     */
    mm_err (*webhook_intent)(void *ctx, const char *session_id, const char *intent);
} mm_front_backend;

/* The Edgegap webhook route on the client listener: POST MM_FRONT_WEBHOOK_PREFIX<secret>. */
#define MM_FRONT_WEBHOOK_PREFIX "/matchmaker/edgegap-webhook/"
#define MM_FRONT_WEBHOOK_SECRET_MIN 16
#define MM_FRONT_WEBHOOK_SECRET_MAX 128
#define MM_FRONT_WEBHOOK_ENV "MM_WEBHOOK_SECRET"
#define MM_FRONT_SESSION_ID_MAX 64

#define MM_FRONT_MAX_PROXIES 32
#define MM_FRONT_MAX_BINDS 4

/** A CIDR range (IPv4 or IPv6) of trusted proxies. */
typedef struct mm_front_cidr {
    uint8_t addr[16]; /* IPv4 stored as IPv4-mapped IPv6 */
    uint8_t prefix;   /* 0..128, counted on the mapped form */
} mm_front_cidr;

typedef struct mm_front_config {
    char bind[MM_FRONT_MAX_BINDS][64]; /* "host:port" ("[::]:3000" for IPv6); default "0.0.0.0:3000" */
    size_t n_binds;
    uint32_t threads;                  /* event loops; default 1 */
    char cors_origin[256];             /* --cors; default "http://localhost:8000" */
    char fake_ip[MM_IP_TEXT_LEN];      /* --fake-ip; default MM_FAKE_IP_DEFAULT */
    bool client_ip_override;           /* client_ip in query/JSON honoured; default true
                                          (--no-client-ip-override turns it off) */
    mm_front_cidr proxies[MM_FRONT_MAX_PROXIES]; /* --trusted-proxy (repeatable); default loopback
                                                    and private ranges */
    size_t n_proxies;
    mm_front_cidr exempt[MM_FRONT_MAX_PROXIES]; /* --limits-exempt (repeatable; default none): client
                                                   addresses (an IPv6 one by its /64) that no per-address
                                                   limit counts, e.g. load generators; the global caps
                                                   still apply */
    size_t n_exempt;
    /* protection (each a flag; 0 never means "unlimited" except where said) */
    uint32_t max_message_bytes;        /* largest WS message / POST body; default 4096 */
    uint32_t first_message_timeout_ms; /* default 10000 */
    uint32_t request_timeout_ms;       /* whole request, accept to last message; default 120000 */
    uint32_t per_ip_concurrent;        /* requests at once per client IP; default 16 */
    uint32_t per_ip_rate;              /* new requests per second per IP (token bucket); default 10 */
    uint32_t per_ip_burst;             /* bucket size; default 20 */
    uint32_t global_concurrent;        /* requests at once in this process; default 20000 */
    uint32_t per_ip_sessions;          /* Edgegap sessions one client IP may hold unclaimed: sessions
                                          accepted in the last session_window_s plus its requests not
                                          accepted yet; 0: no limit; default 120 (1.6 new
                                          players/s sustained) */
    uint32_t session_window_s;         /* how long an unclaimed session lives (the reaper's horizon:
                                          60 s session limit + margin); default 75 */
    uint32_t ping_interval_ms;         /* WS keep-alive ping; default 20000; a peer silent for two
                                          intervals is closed (half-open detection) */
    char admin_bind[64];               /* --admin-bind HOST:PORT: /healthz, /readyz and /metrics on a
                                          listener of their own, outside the client limits (open
                                          through a stop's drain); "" (default): none, and those
                                          pages are only on the client port (where they always are) */
    uint32_t max_connections;          /* open client connections; default 50000; mm_front_start lowers it
                                          under the open-file limit (see there) */
    uint32_t max_connections_per_ip;   /* open connections per TCP peer address (IPv6: per /64), checked at
                                          accept; trusted proxies are exempt; default 256 */
    uint32_t max_header_bytes;         /* request head (request line + headers) of one request; default 16384 */
    uint32_t max_header_bytes_total;   /* buffer memory of every request head being read, all loops;
                                          default 64 MiB */
    char webhook_secret_file[256];     /* --webhook-secret-file FILE: holds the webhook secret (whitespace
                                          trimmed); "" (default): the environment variable
                                          MM_WEBHOOK_SECRET, and without it no webhook route (404).
                                          Read by mm_front_start; never the secret itself on the
                                          command line */
    uint32_t relay_ring_capacity;      /* no flag: reply wake-ups each backend thread may have queued
                                          in each loop (more wait in their sinks); default 4095 */
    /* set by mm_front_config_flag: the first --bind / --trusted-proxy replaces the default list */
    bool binds_from_flags;
    bool proxies_from_flags;
} mm_front_config;

/** Fills c with the defaults above. */
void mm_front_config_init(mm_front_config *c);

/**
 * Applies one command-line flag of the front (--bind, --cors, --fake-ip, --trusted-proxy,
 * --no-client-ip-override, --http-threads, --max-message-bytes, ...). name is the flag with or
 * without its leading "--" and without "=value". value is NULL for flags without one. Returns 1
 * when it took the flag, 0 when the flag is not the front's, -1 when the value is bad or missing
 * (why says so, naming the flag). *takes_value (may be NULL) tells whether the flag consumes a
 * value, so callers can parse "--flag value" and "--flag=value"; it is set whenever the flag is
 * the front's, so a caller may first ask with value NULL. --bind and --trusted-proxy repeat (up to
 * MM_FRONT_MAX_BINDS / MM_FRONT_MAX_PROXIES); "--trusted-proxy none" trusts no proxy at all.
 */
int mm_front_config_flag(mm_front_config *c, const char *name, const char *value, bool *takes_value, char *why, size_t why_len);

/** The --help lines of the front's flags, with defaults. */
const char *mm_front_config_usage(void);

/**
 * The front's flag table (include/mm/parse.h), over an mm_front_config: a program whose options
 * embed one lists it with `base` set to that member's offset (mm_front_config_flag is this table
 * applied to one flag).
 */
extern const mm_opt_table mm_front_config_flags;

/**
 * Binds every address (failure: MM_ERR_IO, why names the address), starts the loop threads and
 * logs "listening on <addr>" per bind (the real address, with the port chosen when 0 was asked).
 * backend is copied; backend->ctx must outlive the front. Bad settings: MM_ERR_INVALID. Side
 * effects: SIGPIPE is ignored from then on (h2o writes with writev; a client gone mid-write must
 * not kill the process); the soft RLIMIT_NOFILE is raised to the hard limit, and max_connections
 * is lowered (with a warning) to that limit minus a reserve of max(64, 5 %) descriptors.
 * The webhook secret is read here (config->webhook_secret_file, else MM_WEBHOOK_SECRET): an
 * unreadable file or a secret that is not 16..128 characters of [A-Za-z0-9_-] is MM_ERR_INVALID.
 */
mm_err mm_front_start(const mm_front_config *config, const mm_front_backend *backend, mm_front **out, char *why, size_t why_len);

/** The port actually bound for bind i (useful with port 0). */
uint16_t mm_front_port(const mm_front *front, size_t i);

/** The port actually bound for --admin-bind; 0 when there is no admin listener. */
uint16_t mm_front_admin_port(const mm_front *front);

/**
 * Stops accepting at once (new connections are refused from this call on, /readyz answers
 * 503); open requests get up to deadline_ms to finish, then their clients get Error(503, ...) /
 * a close; the admin listener stays open until then (so probes see the 503); loops exit and
 * join. Idempotent.
 */
void mm_front_stop(mm_front *front, uint32_t deadline_ms);

/**
 * Stops (deadline 0) if needed and frees. Accepts NULL. Order at shutdown: mm_front_stop, then
 * stop the backend (it frees every sink it holds; a relay sink may outlive its connection but
 * not its front), then mm_front_destroy.
 */
void mm_front_destroy(mm_front *front);

#endif
