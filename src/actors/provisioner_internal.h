/*
 * Internals shared by provisioner.c (actor plumbing, cert cache, public API),
 * provisioner_flow.c (one request's state machine: create, mint, end) and provisioner_poll.c
 * (its polling phase: the poll grid and the poll line). Everything here runs on the
 * provisioner's actor thread, except the atomics.
 */
#ifndef MM_PROVISIONER_INTERNAL_H
#define MM_PROVISIONER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm/delete_queue.h"
#include "mm/edgegap.h"
#include "mm/idmap.h"
#include "mm/provisioner.h"
#include "mm/request.h"
#include "mm/timer.h"

/*
 * Every message the actor receives. Only CERT_EVENT comes from outside the provisioner's files
 * (the cert_digests watcher, configured with the public MM_PROVISIONER_MSG_CERT_EVENT);
 * REQUEST_NEW is sent by mm_provisioner_submit, TOKEN_READY by the minter, as the reply_type
 * each MINT names.
 */
enum mm__prov_msg {
    MM__PROV_MSG_REQUEST_NEW = 1, /* ptr: a new request (sink, client address); provisioner.c */
    MM__PROV_MSG_TOKEN_READY = 2, /* ptr: mm_minter_result; target: the request's id */
    MM__PROV_MSG_CERT_EVENT = MM_PROVISIONER_MSG_CERT_EVENT, /* ptr: mm_kv_event of cert_digests */
};

typedef enum prov_phase { PHASE_CREATING = 1, PHASE_POLLING, PHASE_CERT_WAIT, PHASE_MINTING } prov_phase;

typedef struct prov_req {
    mm_provisioner *p;
    uint64_t id; /* in p->reqs */
    mm_reply_sink *sink;
    prov_phase phase;
    bool busy;        /* an Edgegap call is running with this request as its ctx */
    bool done;        /* finished: only waiting for that call's callback to be freed */
    bool in_line;     /* its poll is due and waits in p's poll line (never while busy) */
    bool in_mint_line; /* its mint waits in p's mint line (p->mints_in_flight is at the cap) */
    unsigned attempt; /* failed attempts of the current step (create, or polls in a row) */
    uint64_t start_ms;
    uint64_t poll_origin_ms; /* the poll grid: poll k is due at poll_origin_ms + k * poll_interval_ms */
    uint64_t poll_tick;      /* k of the latest poll armed or made */
    char client_ip[MM_IP_TEXT_LEN];
    char session_id[MM_SESSION_ID_MAX + 1]; /* "" until created */
    char ip[MM_IP_TEXT_LEN];                /* the game server, once ready */
    uint16_t port;
    char digest[128];
    mm_timer timer;                         /* poll, then cert wait */
    mm_timer deadline;                      /* session timeout */
    struct prov_req *prev, *next;           /* p's list of all requests */
    struct prov_req *line_prev, *line_next; /* p's poll line, while in_line */
    struct prov_req *mint_prev, *mint_next; /* p's mint line, while in_mint_line */
} prov_req;

typedef struct prov_cert {
    char ip[MM_IP_TEXT_LEN];
    char digest[128];
} prov_cert;

struct mm_provisioner {
    natsConnection *nc;
    mm_js *js;
    mm_minter *minter;
    mm_actor *actor, *self;
    mm_edgegap *eg;
    char *app, *version, *webhook_url, *port_name;
    uint64_t poll_delay_ms, poll_interval_ms, session_timeout_ms, cert_wait_ms;
    uint64_t backoff_base_ms, backoff_max_ms;
    uint32_t create_retries;
    mm_idmap reqs;
    prov_req *head;
    prov_req *line_head, *line_tail; /* the poll line (provisioner_poll.c), oldest first */
    prov_req *mint_head, *mint_tail; /* the mint line (provisioner_flow.c), oldest first */
    uint32_t mints_in_flight;        /* MINTs sent whose TOKEN_READY is not drained yet */
    uint32_t mint_cap;               /* at most this many: the inbox's capacity per producer ring */
    prov_cert *certs;
    size_t n_certs, cap_certs;
    bool stopping; /* actor thread: in op_stop */
    atomic_bool closing;
    atomic_long active; /* requests submitted and not yet finished */
    atomic_ullong n_submitted, n_ready, n_failed, n_retries, n_polls_waited, n_mint_waits, n_mints_held;
};

/* provisioner.c */
const char *prov_cert_digest(mm_provisioner *p, const char *ip);
void prov_kv_put_async(mm_provisioner *p, mm_kv_bucket bucket, const char *key, const char *value);
void prov_enqueue_delete(mm_provisioner *p, const char *session_id);
/** The backoff before repeat number `attempt` (1, 2, ...), jittered, never below floor_ms. */
uint64_t prov_backoff_ms(mm_provisioner *p, unsigned attempt, uint64_t floor_ms);

/* provisioner_flow.c */
void prov_req_begin(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip);
void prov_mint(prov_req *r, const char *digest);
void prov_token_ready(prov_req *r, const mm_minter_result *res);
/** A TOKEN_READY was drained (whether or not its request still lives): sends the mints it makes room for. */
void prov_mint_landed(mm_provisioner *p);
/** Ends the request (freeing its sink, which answers 503 if not ended yet) and releases it. */
void prov_req_finish(prov_req *r);
/** Error(status, message), logged as the request's one end line; then finished (r may be freed). */
void prov_req_fail(prov_req *r, uint16_t status, const char *message, bool delete_session);
/** Sends the text an encoder just wrote into *text, then frees it (enc: the encoder's result). */
void prov_req_send(prov_req *r, mm_err enc, char **text, const size_t *len);
/** The status of Error(status, ...) for a failed Edgegap call. */
uint16_t prov_status_of(const mm_edgegap_result *res);
/** A callback's common start: false when the request is gone (and then it was released). */
bool prov_callback_enter(prov_req *r, const mm_edgegap_result *res);
/** Arms t for ms; on failure the request is failed (and may be freed): false. */
bool prov_arm(prov_req *r, mm_timer *t, uint64_t ms, mm_timer_cb cb);

/* provisioner_poll.c */
/** The session was just created: sets the poll grid's origin (now + poll_delay_ms), arms poll 0. */
void prov_poll_begin(prov_req *r);
/** After mm_edgegap_perform: hands due polls to the Edgegap client, oldest first, while it has room. */
void prov_poll_line_drain(mm_provisioner *p);
/** Takes r out of the poll line if it is in it (prov_req_finish). */
void prov_poll_line_remove(prov_req *r);

#endif
