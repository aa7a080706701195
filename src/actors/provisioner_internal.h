/*
 * Internal to the provisioner (include/mm/provisioner.h), shared by its three files, in layers
 * that only call down:
 *   provisioner.c          the actor: lifecycle (start, stop, destroy), message dispatch, the
 *                          public API and counters. Calls the request layer.
 *   provisioner_request.c  one request's state machine (enum mm__prov_state): every transition,
 *                          every Edgegap callback and timer of a request, the poll and mint lines'
 *                          use. Calls the support layer only.
 *   provisioner_support.c  what the state machine stands on: the FIFO lines, the cert-digest
 *                          cache, KV puts, deletion enqueues, backoff and status arithmetic. Calls
 *                          nothing of the provisioner; it returns results and never changes a
 *                          request's state.
 * Everything here runs on the provisioner's actor thread, except the atomics and what
 * mm_provisioner_start/stop/destroy touch before the actor runs or after it stopped.
 */
#ifndef MM_ACTORS_PROVISIONER_INTERNAL_H
#define MM_ACTORS_PROVISIONER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/budget.h"
#include "mm/delete_queue.h"
#include "mm/edgegap.h"
#include "mm/idmap.h"
#include "mm/kv_watch.h"
#include "mm/orphans.h"
#include "mm/provisioner.h"
#include "mm/request.h"
#include "mm/timer.h"

/*
 * Every message the actor receives. Only CERT_EVENT comes from outside the provisioner's files
 * (the cert_digests watcher, configured with the public MM_PROVISIONER_MSG_CERT_EVENT);
 * REQUEST_NEW is sent by mm_provisioner_submit, WEBHOOK by mm_provisioner_webhook, TOKEN_READY
 * by the minter, as the reply_type each MINT names.
 */
enum mm__prov_msg {
    MM__PROV_MSG_REQUEST_NEW = 1, /* ptr: mm__prov_new_request, owned by the message */
    MM__PROV_MSG_TOKEN_READY = 2, /* ptr: mm_minter_result; target: the request's id */
    /* ptr: mm_kv_event of cert_digests */
    MM__PROV_MSG_CERT_EVENT = MM_PROVISIONER_MSG_CERT_EVENT,
    MM__PROV_MSG_WEBHOOK = 4, /* ptr: the session id, a malloc'd copy owned by the message */
};

typedef struct mm__prov_new_request {
    mm_reply_sink *sink;
    uint64_t rid; /* the request id for logs (include/mm/request_id.h); 0: the provisioner makes one */
    char client_ip[MM_IP_TEXT_LEN];
} mm__prov_new_request;

/*
 * The states of one request (provisioner_request.c has the transitions). A REQUEST_NEW waiting
 * in the inbox is not a request yet; a create waiting in the Edgegap client's queue is CREATING.
 */
enum mm__prov_state {
    MM__PROV_CREATING = 1, /* its session create is at the Edgegap client, or waits out a backoff */
    MM__PROV_POLLING,      /* created: a poll timer armed, a poll at the client, or in the poll line */
    MM__PROV_CERT_WAIT,    /* ready: waiting up to cert_wait_ms for its server's cert digest */
    MM__PROV_MINTING,      /* MINT sent (or in the mint line, or offered again): waiting for TOKEN_READY */
    MM__PROV_DONE,         /* ended, well or not: its sink is freed; only a running Edgegap call holds it */
};

/* The FIFO lines a request may wait in. They cost no memory: they link the requests themselves. */
enum mm__prov_line_kind {
    MM__PROV_POLL_LINE, /* its poll is due and the Edgegap client had no room (never while busy) */
    MM__PROV_MINT_LINE, /* its mint waits: mint_cap mints are in flight */
    MM__PROV_WAIT_LINE, /* the waiting room (budget on): its create waits for the budget (waiting_room.c) */
    MM__PROV_LINES
};

typedef struct mm__prov_req mm__prov_req;

typedef struct mm__prov_place {
    bool in;
    mm__prov_req *prev, *next;
} mm__prov_place;

typedef struct mm__prov_line {
    mm__prov_req *head, *tail; /* oldest first */
} mm__prov_line;

struct mm__prov_req {
    mm_provisioner *p;
    uint64_t id;  /* in p->reqs */
    uint64_t rid; /* in the log lines: the web front's id, or one of ours (include/mm/request_id.h) */
    mm_reply_sink *sink;
    enum mm__prov_state state;
    bool busy;        /* an Edgegap call is running with this request as its ctx */
    unsigned attempt; /* failed attempts of the current step (create, or polls in a row) */
    uint64_t start_ms;
    uint64_t admit_ms; /* when it left the line for Edgegap (start_ms without a budget): the session timeout counts from it */
    uint64_t poll_origin_ms; /* the poll grid: poll k is due at poll_origin_ms + k * poll_interval_ms */
    uint64_t poll_tick;      /* k of the latest poll armed or made */
    char client_ip[MM_IP_TEXT_LEN];
    char session_id[MM_SESSION_ID_MAX + 1]; /* "" until created */
    char intent[MM_INTENT_MAX + 1];         /* the create in flight's intent (include/mm/orphans.h); "" none or settled */
    mm__prov_req *index_next;               /* p's session-id index chain, while indexed (created, not done) */
    bool indexed;
    bool poll_again;            /* a webhook came while a poll was out: poll again as soon as it answers */
    uint64_t webhook_get_ms;    /* when a webhook last asked for a GET of this session (0: never) */
    uint32_t gets;              /* session GETs made (mm_matchmaker_edgegap_gets_per_session) */
    char ip[MM_IP_TEXT_LEN];                /* the game server, once ready */
    uint16_t port;
    char digest[128];
    mm_timer timer;                        /* create backoff, poll, cert wait, then mint retry */
    mm_timer deadline;                     /* in line: the longest wait in line; then the session timeout */
    mm__prov_req *prev, *next;             /* p's list of all requests */
    mm__prov_place places[MM__PROV_LINES]; /* its place in each line, while in it */
};

/* The waiting room (waiting_room.c): the line is lines[MM__PROV_WAIT_LINE]; the rest is its bookkeeping. */
typedef struct mm__prov_room {
    uint32_t n, max;          /* players in line; the bound */
    uint64_t max_wait_ms;     /* the longest wait in line */
    mm_timer report;          /* armed while the line is not empty: every MM_WAITING_ROOM_REPORT_MS */
    bool report_armed;
    uint64_t window_ms;       /* start of the admission-rate window */
    uint64_t window_admitted; /* admitted since window_ms */
    double rate;              /* admitted per second, smoothed */
    atomic_ullong length, admitted, refused, left, expired;
    _Atomic uint64_t rate_bits, eta_bits; /* doubles, for the stats getter */
} mm__prov_room;

typedef struct mm__prov_cert {
    char ip[MM_IP_TEXT_LEN];
    char digest[128];
} mm__prov_cert;

struct mm_provisioner {
    natsConnection *nc;
    mm_js *js;
    mm_minter *minter;
    mm_actor *actor, *self;
    mm_edgegap *eg;
    char *app, *version, *webhook_url, *port_name;
    char *intent_replica; /* NULL: no create intents */
    uint64_t next_intent; /* actor thread: the last intent number */
    uint64_t poll_delay_ms, poll_interval_ms, session_timeout_ms, cert_wait_ms;
    uint64_t backoff_base_ms, backoff_max_ms;
    uint32_t create_retries;
    mm_idmap reqs;
    mm__prov_req *head;
    mm__prov_req **index; /* session id -> request (created, not done): MM__PROV_INDEX_BUCKETS chains */
    bool webhooks;        /* webhook_poll_ms was set: poll_delay_ms and poll_interval_ms are its grid */
    struct mm__prov_early {
        char id[MM_SESSION_ID_MAX + 1];
        uint64_t at_ms;
    } *early;           /* webhooks for sessions not (yet) indexed: a ring of MM__PROV_EARLY */
    size_t early_next; /* the ring's next slot */
    mm__prov_line lines[MM__PROV_LINES];
    uint32_t mints_in_flight; /* MINTs sent whose TOKEN_READY is not drained yet */
    uint32_t mint_cap;        /* at most this many: the inbox's capacity per producer ring */
    mm__prov_cert *certs;
    size_t n_certs, cap_certs;
    mm_budget *budget;        /* NULL: no budget, no waiting room (borrowed) */
    mm_budget_bucket bucket;  /* the budget's tokens, drawn by the Edgegap gate (waiting_room.c) */
    mm__prov_room room;
    bool stopping; /* actor thread: in op_stop */
    atomic_bool closing;
    atomic_long active; /* requests submitted and not yet finished */
    atomic_ullong n_submitted, n_ready, n_failed, n_retries, n_polls_waited, n_mint_waits, n_mints_held;
    atomic_ullong n_stopped; /* requests still running at the stop deadline: answered 503 */
    atomic_ullong n_webhooks, n_webhooks_refused, n_webhooks_ignored, n_webhooks_limited, n_webhook_gets, n_gets, n_polled;
    atomic_ullong n_webhooks_early;
    uint64_t next_rid; /* actor thread: the request ids of requests that came without one; 0: not seeded */
};

#define MM__PROV_INDEX_BUCKETS 4096u
/* Webhooks for unknown sessions remembered, and for how long: one may overtake its session's
 * create answer (Edgegap links a session to a ready deployment at once). */
#define MM__PROV_EARLY 256u
#define MM__PROV_EARLY_MS 3000u
/* Webhooks on: fallback polls are due on this coarse grid of the monotonic clock, so one wake-up
 * of the provisioner (and of the front loop that relays the answers) serves every session whose
 * fallback tick falls in the same window (provisioner_request.c, "Fallback ticks"). */
#define MM__PROV_FALLBACK_TICK_MS 50u /* 250 saved no more CPU and made longer bursts */

/* ---- provisioner_metrics.c: the request's series in the registry (include/mm/metrics.h) ---- */

/* Sets r->state, moving the state gauges (and counting a cert-digest wait). */
void mm__prov_state_set(mm__prov_req *r, enum mm__prov_state state);
/* r ends with status (0: SessionReady): its outcome, time to ready and GETs per session. */
void mm__prov_metric_end(const mm__prov_req *r, unsigned status);

/* ---- provisioner_request.c: the state machine's inputs from the actor ---- */

/** REQUEST_NEW: takes the sink (answered and freed on every path) and starts the request. */
void mm__prov_req_begin(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip, uint64_t rid);
/** TOKEN_READY for request `id` (gone: ignored); then sends the mints it made room for. Does not free res. */
void mm__prov_req_token_ready(mm_provisioner *p, uint64_t id, const mm_minter_result *res);
/** The cert digest of ip became known (cached): the requests waiting for it mint. */
void mm__prov_req_cert_known(mm_provisioner *p, const char *ip, const char *digest);
/** After mm_edgegap_perform (where the client's room grows): hands due polls to the client, oldest first. */
void mm__prov_req_drain_polls(mm_provisioner *p);
/** WEBHOOK: Edgegap said session_id changed: one GET of it now, rate-limited (see provisioner_request.c). */
void mm__prov_req_webhook(mm_provisioner *p, const char *session_id);
/** op_stop, after the Edgegap client is destroyed: ends every request (503 by its freed sink) and
 *  enqueues the deletion of the sessions Edgegap already made for them. */
void mm__prov_req_stop_all(mm_provisioner *p);

/** The waiting room admitted r (still CREATING, out of the line): its session create now. */
void mm__prov_req_admit(mm__prov_req *r);
/** r's client left the line: r ends without an Error (nobody would read it) and is freed. */
void mm__prov_req_gone(mm__prov_req *r);
/** The line is full: Error(503, message) to r, which is freed. */
void mm__prov_req_refuse(mm__prov_req *r, const char *message);
/** r ends (req_finish): takes it out of the waiting room's line if it is in it. */
void mm__prov_room_drop(mm__prov_req *r);

/* ---- waiting_room.c: the line in front of Edgegap when a budget is set (calls the request layer) ---- */

/** Starts the room: sets the Edgegap client's gate to the budget. */
void mm__prov_room_init(mm_provisioner *p, uint32_t max, uint64_t max_wait_ms);
/** A new request (CREATING, acknowledged): joins the line, or is refused with 503 when it is full. */
void mm__prov_room_join(mm__prov_req *r);
/** After each perform: sends players on, oldest first, while the budget lets a create start now. */
void mm__prov_room_admit(mm_provisioner *p);
/** The actor's wait bound while players wait for a token (-1 unchanged). */
int mm__prov_room_wait_ms(mm_provisioner *p, int timeout_ms);

/* ---- provisioner_support.c: helpers that return results and never call back ---- */

void mm__prov_line_push(mm__prov_req *r, enum mm__prov_line_kind k);
/** Takes r out of line k if it is in it. */
void mm__prov_line_remove(mm__prov_req *r, enum mm__prov_line_kind k);
/** The cached cert digest of ip, or NULL. */
const char *mm__prov_cert_find(mm_provisioner *p, const char *ip);
/** Applies a cert_digests event to the cache. Returns the digest it stored (valid until the next
 *  event), or NULL when the event stored none (a deletion, a bad entry, no memory). */
const char *mm__prov_cert_apply(mm_provisioner *p, const mm_kv_event *ev);
void mm__prov_kv_put_async(mm_provisioner *p, mm_kv_bucket bucket, const char *key, const char *value);
/** With intents on: a new intent for r's next create, recorded (a core publish of its put) in mm_create_intents;
 *  writes the webhook URL carrying it to url. Returns the URL to give Edgegap (p->webhook_url when off). */
const char *mm__prov_intent_open(mm__prov_req *r, char *url, size_t url_len);
/** r's intent, if any, is settled: a core publish deleting its mm_create_intents key; r->intent cleared. */
void mm__prov_intent_settle(mm__prov_req *r);
void mm__prov_enqueue_delete(mm_provisioner *p, const char *session_id);
/** The backoff before repeat number `attempt` (1, 2, ...), jittered, never below floor_ms. */
uint64_t mm__prov_backoff_ms(const mm_provisioner *p, unsigned attempt, uint64_t floor_ms);
/** The status of Error(status, ...) for a failed Edgegap call. */
uint16_t mm__prov_status_of(const mm_edgegap_result *res);
/** A create that surely made no session: rate-limited, unavailable, or never sent. */
bool mm__prov_create_repeatable(const mm_edgegap_result *res);
/** The poll grid: moves r->poll_tick to the first tick after it that is not before not_before_ms
 *  and returns the delay from now to that tick. */
uint64_t mm__prov_grid_next(mm__prov_req *r, uint64_t not_before_ms);
/** The delay from now_ms to the first multiple of tick_ms at or after now_ms + delay_ms (tick_ms
 *  0 or 1: delay_ms unchanged). Timers armed with it at different moments share their deadline. */
uint64_t mm__prov_tick_delay(uint64_t now_ms, uint64_t delay_ms, uint64_t tick_ms);
/** The session-id index (p->index): r's session_id must be set; add once, remove is idempotent. */
void mm__prov_index_add(mm__prov_req *r);
void mm__prov_index_remove(mm__prov_req *r);
/** The request whose created session is session_id, or NULL. */
mm__prov_req *mm__prov_index_find(mm_provisioner *p, const char *session_id);
/** Remembers a webhook for a session not in the index (the oldest entry makes room). */
void mm__prov_early_note(mm_provisioner *p, const char *session_id, uint64_t now_ms);
/** True (and forgotten) when a webhook for session_id came within MM__PROV_EARLY_MS before now. */
bool mm__prov_early_take(mm_provisioner *p, const char *session_id, uint64_t now_ms);

#endif
