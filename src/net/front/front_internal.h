/*
 * Internal to src/net/front: the structures shared by the web front's files (docs/front.md).
 *
 *   config.c     defaults, flags, CIDR ranges
 *   front.c      mm_front_start/stop/destroy: listening sockets (clients', admin), loop threads
 *   loop.c       one h2o event loop per thread: accept, connection tracking, the relay wake-up
 *                (an mm_inbox whose eventfd is registered as an h2o socket), orderly stop
 *   routes.c     the h2o handler: routing, CORS, /healthz, /readyz, /metrics, the test page
 *                (page.html, turned into page_html.h at build time by embed.cmake)
 *   ws.c         WebSocket: the handshake (h2o_http1_upgrade), what the client sends, the request
 *   ws_io.c      WebSocket output batching, timers, closing, lifetime (ws_conn.h)
 *   ws_frame.c   the RFC 6455 frame codec (pure; ws_frame.h)
 *   stream.c     POST /matchmaker/request/{game}/{version} (chunked) and /matchmaker/wannaplay
 *   relay.c      requests (loop side) and the relay reply sink (any thread)
 *   client_ip.c  which IP a request is for, and which IP it is counted against
 *   framing.c    refuses requests with ambiguous body framing (two Content-Length, CL + TE)
 *   limits.c     per-IP token buckets and concurrency, the global cap (shared by all loops)
 *   metrics.c    counters and the Prometheus text
 *
 * Threads: everything about a connection or a request belongs to its loop thread. What other
 * threads touch: the relay sink (its own mutex), the limits (their own mutex), the metrics
 * (atomics), the loop's inbox (lock-free) and its `overflowed` flag.
 */
#ifndef MM_FRONT_INTERNAL_H
#define MM_FRONT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>

#include "mm/front.h"
#include "mm/idmap.h"
#include "mm/inbox.h"

#define MM__FRONT_LOOP_BATCH 1024            /* relay wake-ups handled per loop turn */
#define MM__FRONT_SINK_MAX_BYTES (1u << 20)  /* texts waiting in one relay sink */
#define MM__FRONT_WS_OUT_MAX (256u * 1024)   /* unsent bytes of one WebSocket: more = slow reader */
#define MM__FRONT_FRAMES_PER_SEC 64          /* client frames per second per WebSocket: more = flood */
#define MM__FRONT_LINGER_MS 1000             /* wait for the peer's close frame after ours */
#define MM__FRONT_CLOSE_ALL_MS 2000          /* at stop: connections get this long to close */
#define MM__FRONT_MAX_WAIT_MS 1000           /* longest sleep of a loop */
#define MM__FRONT_ADMIN_MAX_CONNS 64         /* open connections of the admin listener */

#define MM__CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

typedef struct mm__front_loop mm__front_loop;
typedef struct mm__front_req mm__front_req;
typedef struct mm__relay_sink mm__relay_sink;
typedef struct mm__front_limits mm__front_limits;
typedef struct mm__ws_conn mm__ws_conn;

/* ---- metrics (metrics.c) ---- */

typedef enum {
    MM__OUT_OK,          /* the stream ended without an Error message */
    MM__OUT_ERROR,       /* the matchmaker answered Error(...) */
    MM__OUT_INVALID,     /* refused before hand-off: bad input (ERR / 400) */
    MM__OUT_REFUSED,     /* refused by a limit (429 / Error(429)) */
    MM__OUT_BUSY,        /* the backend refused it (Error(503)) */
    MM__OUT_CLIENT_GONE, /* the client left first */
    MM__OUT_TIMEOUT,     /* first-message or whole-request timeout */
    MM__OUT_STOPPED,     /* the front stopped first */
    MM__OUT_COUNT
} mm__outcome;

typedef enum {
    MM__REF_RATE,           /* per-IP token bucket empty */
    MM__REF_IP_CONCURRENT,  /* per-IP concurrency */
    MM__REF_GLOBAL,         /* global concurrency cap */
    MM__REF_CONNECTIONS,    /* max connections, at accept */
    MM__REF_FIRST_TIMEOUT,  /* no first message in time */
    MM__REF_REQ_TIMEOUT,    /* whole-request timeout */
    MM__REF_TOO_LARGE,      /* oversized message or body */
    MM__REF_BINARY,         /* binary WebSocket message */
    MM__REF_BAD_UTF8,       /* text frame with invalid UTF-8 */
    MM__REF_PROTOCOL,       /* broken WebSocket framing */
    MM__REF_BAD_REQUEST,    /* bad JSON, bad names, bad client IP */
    MM__REF_FLOOD,          /* too many frames (ping floods) */
    MM__REF_SLOW_READER,    /* output piled up */
    MM__REF_HALF_OPEN,      /* silent peer (no pong) */
    MM__REF_STOPPING,       /* the front is stopping */
    MM__REF_SESSIONS,       /* per-IP sessions in the window (--per-ip-sessions) */
    MM__REF_IP_CONNECTIONS, /* max connections per peer address, at accept */
    MM__REF_HEADER_TOO_LARGE, /* a request head over --max-header-bytes (431) */
    MM__REF_HEADER_MEMORY,  /* request heads over --max-header-bytes-total (503) */
    MM__REF_COUNT
} mm__refusal;

typedef enum { MM__WH_ROUTED, MM__WH_NOT_FOUND, MM__WH_BAD_REQUEST, MM__WH_REFUSED, MM__WH_COUNT } mm__webhook_outcome;

typedef enum { MM__PG_PAGE, MM__PG_HEALTHZ, MM__PG_READYZ, MM__PG_METRICS, MM__PG_PREFLIGHT, MM__PG_NOT_FOUND, MM__PG_COUNT } mm__page;

#define MM__HIST_BUCKETS 15

typedef struct mm__front_metrics {
    atomic_uint_fast64_t conns_open, conns_total;
    atomic_uint_fast64_t requests[3][MM__OUT_COUNT]; /* by route - 1 */
    atomic_uint_fast64_t refusals[MM__REF_COUNT];
    atomic_uint_fast64_t pages[MM__PG_COUNT];
    atomic_uint_fast64_t hist[MM__HIST_BUCKETS + 1]; /* time to the last message; last = +Inf */
    atomic_uint_fast64_t hist_sum_us, hist_count;
    atomic_uint_fast64_t relay_full; /* wake-ups that found a loop's ring full */
    atomic_uint_fast64_t exempt_requests, exempt_connections; /* admitted under --limits-exempt */
    atomic_uint_fast64_t webhooks[MM__WH_COUNT];
} mm__front_metrics;

void mm__front_count_request(mm_front *front, mm_front_route route, mm__outcome outcome);
void mm__front_count_refusal(mm_front *front, mm__refusal reason);
void mm__front_count_page(mm_front *front, mm__page page);
void mm__front_observe_latency(mm_front *front, uint64_t ns);
/* Writes the Prometheus text (ours, then the backend's) into buf; returns the length. */
size_t mm__front_metrics_render(mm_front *front, char *buf, size_t len);

/* ---- the front and its loops ---- */

struct mm_front {
    mm_front_config cfg;
    mm_front_backend backend;
    char webhook_secret[MM_FRONT_WEBHOOK_SECRET_MAX + 1]; /* "" : no webhook route */
    size_t webhook_secret_len;
    h2o_globalconf_t h2o_config; /* shared read-only by every loop, as h2o's own server does */
    bool h2o_config_ready;
    int listen_fds[MM_FRONT_MAX_BINDS];
    uint16_t ports[MM_FRONT_MAX_BINDS];
    size_t n_listen;
    int admin_fd; /* --admin-bind (loop 0 accepts on it), or -1 */
    uint16_t admin_port;
    h2o_hostconf_t *client_hosts[2], *admin_hosts[2]; /* what each listener's connections may reach */
    atomic_uint_fast64_t admin_conns; /* open admin connections (not counted in open_conns) */
    mm__front_loop **loops;
    size_t n_loops;
    mm__front_limits *limits;
    mm__front_metrics metrics;
    atomic_uint_fast64_t next_req_id;
    atomic_uint_fast64_t open_conns; /* for max_connections */
    atomic_uint_fast64_t header_bytes; /* input buffers of heads being read, for max_header_bytes_total */
    atomic_bool stopping;
    atomic_uint_fast64_t stop_deadline_ns;
    bool stopped;
};

/* An accepted socket, tracked until h2o closes it (loop.c). */
typedef struct mm__front_sock {
    h2o_socket_t *sock;
    mm__front_loop *loop;
    mm__ws_conn *ws; /* set while the socket carries a WebSocket */
    bool admin;      /* accepted on the admin listener: counted apart from client connections */
    struct mm__front_sock *prev, *next;
    uint8_t key[16];   /* the peer's limits key, when ip_counted */
    bool ip_counted;   /* holds one of its peer's max_connections_per_ip */
    bool reading_head; /* ours until its first request head is complete (loop.c) */
    bool swept;        /* shut down by the header sweep */
    size_t held;       /* its input buffer's capacity, counted in front->header_bytes */
    size_t scanned;    /* bytes of the head already searched for its end */
    size_t peak;       /* largest input buffer seen, for the trim at close */
    size_t last_input; /* unread input at the last sweep (or at h2o_accept) */
    h2o_timeout_entry_t head_timeout;
} mm__front_sock;

struct mm__front_loop {
    mm_front *front;
    size_t index;
    pthread_t thread;
    bool thread_started;
    h2o_evloop_t *evloop;
    h2o_context_t ctx;
    bool ctx_ready;
    h2o_accept_ctx_t accept_ctx, admin_accept_ctx;
    h2o_socket_t *listeners[MM_FRONT_MAX_BINDS];
    h2o_socket_t *admin_listener; /* loop 0 only, when there is one */
    mm_inbox *inbox;
    h2o_socket_t *inbox_sock;
    atomic_int overflowed; /* a sink found the ring full: scan every live request */
    mm_idmap reqs;         /* request id -> mm__front_req */
    mm__front_req *live;   /* every live request, for scans and the stop */
    size_t nlive;
    mm__front_sock *socks; /* every open socket; WebSockets at the end (mm__front_sock_websocket) */
    mm__front_sock *socks_tail;
    size_t nsocks;
    mm__ws_conn *ws_list;  /* every WebSocket */
    mm__ws_conn *dirty;    /* WebSockets with output to flush after this turn */
    bool stopping;
    bool kick; /* writes were made outside h2o_evloop_run: do not sleep in the next turn */
    h2o_timeout_t t_first, t_request, t_ping, t_linger, t_resume;
    h2o_timeout_entry_t resume_entry; /* accepts paused (out of descriptors) until it fires */
    h2o_timeout_t t_sweep;
    h2o_timeout_entry_t sweep_entry; /* the periodic check of keep-alive input buffers */
    uint64_t freed_bytes;            /* input buffers (largest size) freed since the last trim */
    uint64_t trimmed_ns;             /* when malloc_trim last ran */
    bool timeouts_ready;
    /* written by this loop each turn, read by /metrics on any loop */
    atomic_uint_fast64_t snap_queue_depth, snap_live, snap_h2o_413, snap_h2o_400;
};

/* The loop that owns an h2o context (every context is embedded in a loop). */
static inline mm__front_loop *
mm__front_loop_of(h2o_context_t *ctx)
{
    return MM__CONTAINER(ctx, mm__front_loop, ctx);
}

mm_err mm__front_loop_create(mm_front *front, size_t index, mm__front_loop **out, char *why, size_t why_len);
/* Runs one turn: sleeps up to max_wait_ms in h2o (woken by the relay eventfd), then relays. */
void mm__front_loop_turn(mm__front_loop *loop, int32_t max_wait_ms);
/** t now carries a WebSocket (t->ws set): moves it to the end of its loop's socket list, which
 *  the header sweep (loop.c) then stops short of. */
void mm__front_sock_websocket(mm__front_sock *t);
void *mm__front_loop_main(void *arg);
void mm__front_loop_destroy(mm__front_loop *loop);

/* ---- requests and the relay sink (relay.c) ---- */

typedef struct mm__front_req_ops {
    /* one feedback text, in order (the text is only borrowed) */
    void (*deliver)(mm__front_req *r, const char *text, size_t len);
    /* the backend ended the stream */
    void (*end)(mm__front_req *r);
    /* the front gives up on the request (timeout, stop): answer Error(status, message) and end */
    void (*abandon)(mm__front_req *r, uint16_t status, const char *message, mm__outcome outcome);
} mm__front_req_ops;

/* The loop side of one session request, embedded in its WebSocket or HTTP stream. */
struct mm__front_req {
    const mm__front_req_ops *ops;
    mm__front_loop *loop;
    uint64_t id; /* 0 before begin and after finish */
    mm_front_route route;
    mm__relay_sink *sink; /* the loop's reference; NULL when detached */
    uint8_t key[16];      /* what the limits count against */
    uint64_t started_ns;
    bool saw_error; /* an Error text went out */
    bool session;   /* a session was counted for it (SessionRequestAccepted or SessionReady) */
    bool exempt;    /* its address is in --limits-exempt: only the global cap counts it */
    mm__front_req *prev, *next;
};

typedef enum { MM__ADMIT_OK = 0, MM__ADMIT_RATE, MM__ADMIT_IP_CONCURRENT, MM__ADMIT_GLOBAL, MM__ADMIT_SESSIONS } mm__admit;

/* Counts the request against the limits and registers it; on refusal nothing is registered. */
mm__admit mm__front_req_begin(mm__front_loop *loop, mm__front_req *r, const mm__front_req_ops *ops, mm_front_route route,
                              const uint8_t key[16]);
/* Hands the request to the backend with a new relay sink. On failure the sink is gone again. */
mm_err mm__front_req_submit(mm__front_req *r, const mm_session_request *sr);
/* Ends the request: counts it, releases its limits, detaches its sink. Idempotent. */
void mm__front_req_finish(mm__front_req *r, mm__outcome outcome);
/* The outcome of a stream that ended normally. */
static inline mm__outcome
mm__front_req_outcome(const mm__front_req *r)
{
    return r->saw_error ? MM__OUT_ERROR : MM__OUT_OK;
}
/* Handles up to max relay wake-ups (and an overflow scan when flagged). Returns the number. */
size_t mm__front_relay_drain(mm__front_loop *loop, size_t max);
/* Texts dropped because their request had ended (process-wide). */
uint64_t mm__front_relay_dropped(void);
/* The reason text for a refusal by the limits, and its counter. */
const char *mm__front_admit_message(mm__admit a);
mm__refusal mm__front_admit_refusal(mm__admit a);

/* ---- limits.c ---- */

mm_err mm__front_limits_create(const mm_front_config *cfg, mm__front_limits **out);
mm__admit mm__front_limits_acquire(mm__front_limits *l, const uint8_t key[16], uint64_t now_ns);
/* For an exempt address: counts the request against the global cap only (MM__ADMIT_GLOBAL when
 * full); its end is mm__front_limits_release_exempt. */
mm__admit mm__front_limits_acquire_exempt(mm__front_limits *l);
void mm__front_limits_release_exempt(mm__front_limits *l);
/* The matchmaker accepted a session for a request of key (once per request, while it is in
 * progress): it moves from the pending requests to the window's sessions. */
void mm__front_limits_session(mm__front_limits *l, const uint8_t key[16], uint64_t now_ns);
/* Ends a request; had_session: mm__front_limits_session was called for it. */
void mm__front_limits_release(mm__front_limits *l, const uint8_t key[16], bool had_session);
/* Sessions accepted in the window plus pending requests of key (what admission compares). */
uint32_t mm__front_limits_sessions_held(mm__front_limits *l, const uint8_t key[16], uint64_t now_ns);
/* Counts one open connection of a peer address; false (nothing counted) when it has max already
 * or the table is full. */
bool mm__front_limits_conn_acquire(mm__front_limits *l, const uint8_t key[16], uint32_t max, uint64_t now_ns);
void mm__front_limits_conn_release(mm__front_limits *l, const uint8_t key[16]);
uint64_t mm__front_limits_active(mm__front_limits *l);
size_t mm__front_limits_tracked(mm__front_limits *l);
void mm__front_limits_destroy(mm__front_limits *l);

/* ---- client_ip.c ---- */

/* Where a request comes from, worked out while its HTTP headers are at hand. */
typedef struct mm__front_origin {
    char net_ip[MM_IP_TEXT_LEN];   /* what X-Forwarded-For yields from a trusted peer, else the peer (canonical) */
    uint8_t key[16];               /* the limits' key: net_ip, IPv6 cut to its /64 */
    bool has_query_ip;             /* a client_ip query parameter that counts */
    char query_ip[MM_IP_TEXT_LEN]; /* its canonical text */
    char error[128];               /* non-empty: an address in the request is malformed */
} mm__front_origin;

/* Pure core of the resolution (unit-tested): peer is the TCP peer's address; xff the raw values
 * of the request's n_xff X-Forwarded-For headers in order (NULL when 0); query the raw (still
 * percent-encoded) query string or NULL. */
void mm__front_origin_resolve(const mm_front_config *cfg, const struct sockaddr *peer, const h2o_iovec_t *xff, size_t n_xff,
                              const char *query, size_t query_len, mm__front_origin *out);
void mm__front_origin_from_req(const mm_front_config *cfg, h2o_req_t *req, mm__front_origin *out);
/* The limits' key of a TCP peer (IPv6 cut to its /64) and whether it is a trusted proxy; false
 * for an address family without an IP. */
bool mm__front_peer_key(const mm_front_config *cfg, const struct sockaddr *peer, uint8_t key[16], bool *is_trusted);
/* Whether a limits' key lies in a --limits-exempt range (no per-address limit counts it). */
bool mm__front_key_exempt(const mm_front_config *cfg, const uint8_t key[16]);
/* The client IP for the backend: the query override, else json_ip (an override from the request
 * body, may be NULL), else net_ip; loopback becomes the fake IP. Overrides only when enabled. */
mm_err mm__front_origin_client_ip(const mm_front_config *cfg, const mm__front_origin *o, const char *json_ip,
                                  char out[MM_IP_TEXT_LEN], char *why, size_t why_len);
/* The value of query parameter name, percent-decoded into out; false if absent or malformed. */
bool mm__front_query_param(const char *query, size_t len, const char *name, char *out, size_t out_len, bool *malformed);

/* ---- config.c ---- */

void mm__front_addr_from_v4(const uint8_t v4[4], uint8_t out[16]);
bool mm__front_addr_parse(const char *text, uint8_t out[16], bool *is_v4);
mm_err mm__front_cidr_parse(const char *text, mm_front_cidr *out, char *why, size_t why_len);
bool mm__front_cidr_contains(const mm_front_cidr *c, const uint8_t addr[16]);
mm_err mm__front_bind_parse(const char *text, char *host, size_t host_len, uint16_t *port, char *why, size_t why_len);

/* ---- framing.c ---- */

/* False (and why) if the request head in raw[0..len) has two Content-Length headers, two
 * Transfer-Encoding headers, or both; true otherwise (also when raw holds no complete head). */
bool mm__front_framing_check(const char *raw, size_t len, char *why, size_t why_len);
/* The same for an HTTP/1 request being handled, read from its connection's input buffer. */
bool mm__front_framing_ok(h2o_req_t *req, char *why, size_t why_len);

/* ---- webhook.c ---- */

/* Loads the webhook secret: from file when not "", else from MM_WEBHOOK_SECRET; *len 0 (MM_OK)
 * when neither is set. Bad file or secret: MM_ERR_INVALID and why (never the secret itself). */
mm_err mm__front_webhook_secret_load(const char *file, char out[MM_FRONT_WEBHOOK_SECRET_MAX + 1], size_t *len, char *why,
                                     size_t why_len);
/* Parses a webhook body: a JSON object with a string session_id of 1..64 bytes of [A-Za-z0-9_-]. */
mm_err mm__front_webhook_parse(const char *body, size_t len, char out[MM_FRONT_SESSION_ID_MAX + 1], char *why, size_t why_len);
/* Whether path starts with MM_FRONT_WEBHOOK_PREFIX (the route's family, right secret or not). */
bool mm__front_webhook_prefixed(h2o_iovec_t path);
/* Answers a request under the prefix: 404 unless the secret matches (constant time), then 405
 * for a method other than POST, 400 for a bad body, 503 when the backend refuses, else 204. */
void mm__front_webhook_handle(mm_front *front, h2o_req_t *req, bool post);

/* ---- routes.c, ws.c, stream.c ---- */

/* The client routes on host; admin: only /healthz, /readyz and /metrics (the admin listener's). */
void mm__front_routes_register(mm_front *front, h2o_hostconf_t *host, bool admin);
/* Adds the CORS headers of the reference's CorsLayer to a response. */
void mm__front_cors(mm_front *front, h2o_req_t *req);
/* Sends a small plain-text answer (with CORS); close asks for the connection to close after it. */
void mm__front_respond(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len, bool close);

void mm__front_ws_handle(mm__front_loop *loop, h2o_req_t *req);
/* After a relay turn: writes what the turn queued on each WebSocket, one write per socket. */
void mm__front_ws_flush_dirty(mm__front_loop *loop);
/* At stop: refuses WebSockets still waiting for their first message. */
void mm__front_ws_stop_idle(mm__front_loop *loop);
/* At stop, last resort: drops every WebSocket without ceremony. */
void mm__front_ws_kill_all(mm__front_loop *loop);

void mm__front_chunked_handle(mm__front_loop *loop, h2o_req_t *req, const char *game, const char *version);
void mm__front_wannaplay_handle(mm__front_loop *loop, h2o_req_t *req);

#endif
