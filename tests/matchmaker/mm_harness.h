/*
 * Test harness for bevygap_matchmaker end-to-end tests: starts a real nats-server, edgegap_sim,
 * optionally gameserver_sim, and the matchmaker as children; sends requests over NATS and
 * collects the replies until the empty end message.
 */
#ifndef MM_HARNESS_H
#define MM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <nats/nats.h>

#include "mm_test.h"

#define H_API_KEY "token test-key"
#define H_APP "game"
#define H_VERSION "v1"
#define H_MAX_REPLIES 64

typedef struct harness {
    struct mm_test_nats nats;
    int sim_port;
    char sim_url[64];
    pid_t sim, gs, mm;
    char mm_log[512];
    natsConnection *nc;
} harness;

/** Starts nats-server and sets NATS_HOST, NATS_INSECURE, EDGEGAP_API_KEY. */
void h_start_nats(harness *h);
/** Starts edgegap_sim (app H_APP/H_VERSION) with extra arguments (NULL-terminated, may be NULL). */
void h_start_sim(harness *h, const char *deploy_delay_ms, const char *const *extra);
/** Starts gameserver_sim polling the sim (all-zero key, protocol 1982). */
void h_start_gameserver(harness *h);
/** The same with extra gameserver_sim arguments (NULL-terminated, may be NULL). */
void h_start_gameserver_with(harness *h, const char *const *extra);
/**
 * Starts the matchmaker (after h_start_nats and h_start_sim) with the extra arguments and waits
 * for its "matchmaker ready" line. Its log goes to a file in the NATS store dir (removed by h_stop).
 */
void h_start_matchmaker(harness *h, const char *const *extra);
/** Connects the test's own NATS client. */
void h_connect(harness *h);
/** Stops everything started (matchmaker first, checking it exits 0). */
void h_stop(harness *h);

/**
 * Publishes payload on subject with a reply inbox; collects replies (each malloc'd text) until
 * the empty message, max replies (one-shot requests: 1) or timeout_ms. Returns the number of non-empty replies; *ended tells
 * whether the empty end arrived.
 */
int h_request(harness *h, const char *subject, const char *payload, char **replies, int max, bool *ended, int timeout_ms);
void h_free_replies(char **replies, int n);

/** GET url into buf (NUL-terminated); returns the HTTP status or -1. */
long h_http_get(const char *url, char *buf, size_t len);
/** True when the file at path contains needle. */
bool h_file_contains(const char *path, const char *needle);

/* ---- session lifecycle helpers (mm_harness_life.c) ---- */

#define H_MAX_LIVE 64

/** What the simulator's /__sim/stats says about sessions. */
typedef struct h_sim_stats {
    long created, deleted, live;   /* sessions_created, sessions_deleted, live session count */
    char live_ids[H_MAX_LIVE][32]; /* the first H_MAX_LIVE of live_session_ids */
} h_sim_stats;

/** Reads /__sim/stats; false (counters -1) when the simulator did not answer with valid JSON. */
bool h_sim_stats_get(const harness *h, h_sim_stats *st);
/** True when session_id is among st's live sessions. */
bool h_sim_is_live(const h_sim_stats *st, const char *session_id);
/** A counter of /__sim/stats: `name`, or `group`.`name` (group not NULL); -1 when absent. */
long long h_sim_counter(const harness *h, const char *group, const char *name);
/** POSTs body to /__sim/faults and checks the 200 (docs/edgegap_sim.md). */
void h_sim_faults(const harness *h, const char *body);
/** Polls until the simulator holds no live session, at most timeout_ms; *st is the last answer. */
bool h_wait_sim_empty(const harness *h, int timeout_ms, h_sim_stats *st);

/** A matchmaker request kept open on its own inbox while the test does other things. */
typedef struct h_stream {
    natsInbox *inbox;
    natsSubscription *sub;
    natsStatus publish_status; /* of the request's publish (not NATS_OK: nothing will come) */
    int replies;               /* non-empty replies so far */
    bool acked;                /* "Acknowledged" came */
    bool ended;                /* the empty end message came */
    bool no_responders;        /* NATS answered "no responders" (nobody serves the subject) */
    char session[64];          /* from SessionRequestAccepted ("" before it) */
    uint64_t accepted_ms;      /* mm_now_ms() when h_stream_wait took SessionRequestAccepted */
    char last[4096];           /* the last non-empty reply */
} h_stream;

typedef enum h_until { H_UNTIL_ACCEPTED, H_UNTIL_END } h_until;

/** Publishes a request for client_ip on matchmaker.request.H_APP.H_VERSION (stops the test if it cannot subscribe). */
void h_stream_open(harness *h, h_stream *s, const char *client_ip);
/**
 * Reads replies until SessionRequestAccepted (H_UNTIL_ACCEPTED) or the end (H_UNTIL_END), or
 * until no responders or timeout_ms. True when the condition was reached.
 */
bool h_stream_wait(h_stream *s, h_until until, int timeout_ms);
/** True when the stream ended and its last reply is SessionReady. */
bool h_stream_ready(const h_stream *s);
/** The SessionReady token into token (len >= 4096); false when there is none. */
bool h_stream_token(const h_stream *s, char *token, size_t len);
/** Releases the inbox and subscription; the struct may be reused. */
void h_stream_close(h_stream *s);

/** True when key has a value in kv (mm_kv_get_str). */
bool h_kv_has(kvStore *kv, const char *key);
/** Polls until key's presence is `present`, at most timeout_ms. */
bool h_wait_kv(kvStore *kv, const char *key, bool present, int timeout_ms);

/** Requests gameserver_sim.<verb> (connect / disconnect); reply gets the text; true on "ok": true. */
bool h_gs_call(harness *h, const char *verb, const char *payload, char *reply, size_t len);

/** Connects the test's client like h_connect, but reconnecting for ever every 50 ms. */
void h_connect_reconnecting(harness *h);
/** Stops nats-server (its store stays); h_nats_up starts it again on the same port and store. */
void h_nats_down(harness *h);
void h_nats_up(harness *h);
/** kill -9 of a child and reap it; true when it died of SIGKILL. */
bool h_kill9(pid_t pid);
/** True while the child runs (does not reap it). */
bool h_alive(pid_t pid);
/** Copies the last lines of a log file to stderr. */
void h_dump_log(const char *path, int lines);

#endif
