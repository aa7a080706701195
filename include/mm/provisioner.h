/*
 * The provisioner actor (ARCHITECTURE.md, "Threads of the matchmaker"): owns every session
 * request's state machine, the Edgegap client (one libcurl multi, driven by the actor's `wait`
 * op) and the cert-digest cache.
 *
 * One request, as docs/protocol.md section 5 describes it:
 *   Acknowledged -> POST /v1/session -> SessionRequestAccepted(id) + async put
 *   unclaimed_sessions[id] -> GET /v1/session/{id} at created + poll_delay_ms + k *
 *   poll_interval_ms (k = 0, 1, ...: a fixed grid, a slow answer does not push later polls back;
 *   ticks that passed while a poll was out are skipped), each answer a ProgressReport -> ready:
 *   port and cert digest (waited for up to cert_wait_ms) -> MINT to the minter -> TOKEN_READY:
 *   async puts sessions_ly2eg and sessions_eg2ly, SessionReady, end.
 * Queueing: at most max_in_flight Edgegap calls run at once; more wait in the client's queues (at
 * most max_queued). Session creates are urgent and polls background (include/mm/edgegap.h): a
 * freed slot goes to the oldest create first, and polls may fill at most three quarters of the
 * queue, so waiting players' polls never make a new player's create find it full. A request
 * whose session create has to wait is told so at once with ProgressReport("Waiting for Edgegap:
 * <n> requests ahead (0)"), n counting the creates ahead of it. A poll that finds the polls'
 * share full waits, in order, in the provisioner's poll line (no error, no backoff) and is made
 * as soon as there is room; every waiting session gets its turn
 * (src/actors/provisioner_request.c, which holds a request's states and transitions).
 * Mints: at most inbox_capacity mints are in flight at once (the minter answers each into its own
 * ring of this inbox, which holds that many, and never waits: include/mm/minter.h); more wait in
 * the provisioner's mint line, in order, and are sent as TOKEN_READYs are drained. A full minter
 * inbox is retried every 2 ms until the session deadline.
 * Retries: a session create answered 429 or 503, or that never reached Edgegap (connect
 * failure), is repeated after an exponential, jittered backoff (backoff_base_ms doubling up to
 * backoff_max_ms), at most create_retries times and only while the session deadline allows.
 * Other create failures are not repeated: Edgegap may have made the session (a 500, a timeout),
 * and a second one would be billed. A failed poll (429, 5xx, no answer) is repeated with the same
 * backoff (never sooner than poll_interval_ms), then back on the grid at the first tick after
 * it, until the deadline.
 * Failures: Edgegap's own error -> Error(status, message); no answer -> Error(504 on a timeout,
 * else 500); not ready within session_timeout_ms of the create (with a budget: of leaving the
 * waiting room's line) -> Error(408, "session still not ready, timed out.") and the session's
 * deletion enqueued; in line for max_line_wait_ms -> Error(503, "waited too long in line, try
 * again"), no session; no cert digest -> Error(500, ...) and deletion.
 * Every path ends and frees the request's reply sink exactly once.
 * Logs: one info line per request, when it ends well ("request 12: session X ready at ip:port
 * after N ms"), or one warning when it fails ("request 12 (session X) failed: status message");
 * the milestones between (received, queued, created, waiting for the cert digest) are debug
 * lines. Retries are warnings.
 *
 * Webhooks (docs/matchmaker.md, "Readiness by webhook"): with webhook_poll_ms set, Edgegap's
 * webhook for a session (mm_provisioner_webhook: a WEBHOOK message) makes one immediate GET of
 * it, at most one per session per MM_PROVISIONER_WEBHOOK_WINDOW_MS (a poll in flight is not
 * doubled: the session is polled again as soon as it answers), and the poll grid above becomes
 * a fallback: created + webhook_poll_ms + k * webhook_poll_ms. A webhook for a session no
 * request here is polling (unknown, another replica's, done, or already ready) is ignored; one
 * that overtook its session's create answer (the last 256 unknown ids are kept for 3 s) makes
 * the first poll at once instead of after webhook_poll_ms.
 * Without webhook_poll_ms, polling is exactly as above.
 *
 * Threads: mm_provisioner_submit(), mm_provisioner_webhook() and mm_provisioner_actor() from any thread; start, stop and
 * destroy from one owner thread. The NATS connection, js and the minter are borrowed and must
 * outlive the provisioner; stop the provisioner before the minter.
 */
#ifndef MM_PROVISIONER_H
#define MM_PROVISIONER_H

#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "mm/actor.h"
#include "mm/err.h"
#include "mm/kv.h"
#include "mm/minter.h"
#include "mm/reply.h"

/* Message type of the cert_digests watcher's events (mm_kv_watch_config.msg_type): the only
 * message sent to the actor from outside (the full list: src/actors/provisioner_internal.h). */
#define MM_PROVISIONER_MSG_CERT_EVENT 3u

typedef struct mm_provisioner_config {
    natsConnection *nc;          /* borrowed */
    mm_js *js;                   /* borrowed; needs the session buckets and the delete stream */
    mm_minter *minter;           /* borrowed */
    const char *edgegap_url;     /* NULL: MM_EDGEGAP_DEFAULT_BASE_URL */
    const char *api_key;         /* required: the authorization value; never logged */
    const char *app;             /* required */
    const char *version;         /* required */
    const char *webhook_url;     /* NULL: none */
    const char *intent_replica;  /* with webhook_url: this replica's id (mm_orphans_replica); each create then records an
                                  * intent in mm_create_intents and adds ?intent=<id> to webhook_url (include/mm/orphans.h).
                                  * NULL (the default): no intents, webhook_url as given */
    const char *port_name;       /* NULL: the deployment's only port */
    /* Each number below: 0 means its default, the value mm_provisioner_config_init writes. */
    uint32_t max_in_flight;      /* Edgegap calls at once; 16 (MM_EDGEGAP_DEFAULT_MAX_IN_FLIGHT) */
    uint32_t max_queued;         /* Edgegap calls waiting for a slot; 1024 */
    uint32_t edgegap_timeout_ms; /* one Edgegap call (a hang ends as Error 504); 10000 */
    uint32_t create_retries;     /* repeats of a session create (see above); 0 (none) is the default */
    uint64_t backoff_base_ms;    /* 250 */
    uint64_t backoff_max_ms;     /* 5000 */
    uint64_t poll_delay_ms;      /* 200 */
    uint64_t poll_interval_ms;   /* 200 */
    uint64_t session_timeout_ms; /* 60000 */
    uint64_t cert_wait_ms;       /* 5000 */
    uint32_t inbox_capacity;     /* requests queued per submitting thread, and mints in flight; 1023 */
    uint64_t webhook_poll_ms;    /* 0 (the default): webhooks off, the grid above; else webhooks on and
                                  * this is the fallback grid (first poll and interval); the flag's default is 5000 */
    struct mm_budget *budget;    /* NULL (the default): no fleet budget, no waiting room (as before); else
                                  * borrowed, and the provisioner's Edgegap calls draw its tokens while
                                  * new players wait in line (include/mm/waiting_room.h) */
    uint32_t waiting_room_max;   /* with a budget: players in line at most; beyond, Error 503; 0: 10000 */
    uint64_t max_line_wait_ms;   /* with a budget: the longest wait in line; beyond, Error 503 (try again); 0: 300000 */
} mm_provisioner_config;

/* A webhook-triggered GET of one session at most once per this window (forged or replayed webhooks). */
#define MM_PROVISIONER_WEBHOOK_WINDOW_MS 1000u

/** Fills c with the defaults (every pointer NULL): the one place they are written. */
void mm_provisioner_config_init(mm_provisioner_config *c);

typedef struct mm_provisioner mm_provisioner;

/** Counters since start, readable from any thread (for /metrics). */
typedef struct mm_provisioner_stats {
    uint64_t submitted;    /* requests taken */
    uint64_t ready;        /* ended with SessionReady */
    uint64_t failed;       /* ended with an Error */
    uint64_t stopped;      /* still running at the stop deadline: answered 503 by the stop */
    uint64_t retries;      /* Edgegap calls repeated after a retryable failure */
    uint64_t polls_waited; /* polls that found the Edgegap client's poll share full and waited in line */
    uint64_t mint_waits;   /* mints offered again after 2 ms because the minter's inbox was full */
    uint64_t mints_held;   /* mints held in the mint line: as many as the inbox holds were in flight */
    uint64_t active;       /* requests taken and not yet ended */
    uint64_t webhooks_received;     /* WEBHOOK messages taken into the inbox */
    uint64_t webhooks_refused;      /* not taken: inbox full or stopping (the fallback poll covers) */
    uint64_t webhooks_ignored;      /* for no session polled here: unknown, done, or already ready */
    uint64_t webhooks_rate_limited; /* a webhook GET of that session was made within the window */
    uint64_t webhook_gets;          /* GETs a webhook asked for (made at once, or after the poll in flight) */
    uint64_t webhooks_early;        /* of the ignored: came before their session's create answer, then polled at once */
    uint64_t gets;                  /* session GETs handed to the Edgegap client (polls and webhook GETs) */
    uint64_t sessions_polled;       /* sessions created and polled: gets / sessions_polled = GETs per session */
} mm_provisioner_stats;

void mm_provisioner_get_stats(mm_provisioner *p, mm_provisioner_stats *out);

/** Starts the actor (config's strings are copied). MM_ERR_INVALID (why says what), MM_ERR_NOMEM, MM_ERR_SYS. */
mm_err mm_provisioner_start(const mm_provisioner_config *config, mm_provisioner **out, char *why, size_t why_len);

/**
 * Any thread: hands a new request to the provisioner. client_ip is the canonical address. On
 * MM_OK the provisioner owns sink; otherwise (MM_ERR_FULL, MM_ERR_STOPPED, MM_ERR_NOMEM,
 * MM_ERR_INVALID) the caller still owns it and should answer Error(503, ...).
 */
mm_err mm_provisioner_submit(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip);

/**
 * mm_provisioner_submit with the request id its log lines show ("request N"): the web front's,
 * carried across NATS (include/mm/request_id.h); 0: the provisioner numbers it.
 */
mm_err mm_provisioner_submit_id(mm_provisioner *p, mm_reply_sink *sink, const char *client_ip, uint64_t request_id);

/**
 * Any thread: Edgegap said session_id changed (its webhook, carried by the web front or over NATS).
 * Never blocks. MM_OK: handed to the actor; MM_ERR_INVALID: not 1..64 of [A-Za-z0-9_-];
 * MM_ERR_FULL: the inbox is full (counted; the fallback poll covers it); MM_ERR_STOPPED;
 * MM_ERR_NOMEM.
 */
mm_err mm_provisioner_webhook(mm_provisioner *p, const char *session_id);

/** The actor, as the target of the cert_digests watcher (MM_PROVISIONER_MSG_CERT_EVENT). */
mm_actor *mm_provisioner_actor(mm_provisioner *p);

/**
 * Stops taking requests, lets those in flight finish for up to deadline_ms, then stops the
 * actor: requests still running are answered Error(503, ...) by their freed sinks, and the
 * sessions Edgegap already made for them are enqueued for deletion (DELETE_SESSION_STREAM, as
 * after a timeout). Idempotent.
 */
void mm_provisioner_stop(mm_provisioner *p, uint64_t deadline_ms);

/** Stops if needed (deadline 0) and frees. Accepts NULL. */
void mm_provisioner_destroy(mm_provisioner *p);

#endif
