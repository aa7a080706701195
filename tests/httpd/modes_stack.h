/*
 * The two ways of running the matchmaker behind the web front, started the same way for the
 * "both modes" end-to-end test (test_modes_e2e.c):
 *
 *   MS_SPLIT     nats-server, edgegap_sim, gameserver_sim, bevygap_matchmaker, and
 *                bevygap_matchmaker_httpd serving the front (requests cross NATS);
 *   MS_ALLINONE  the same, but bevygap_matchmaker --http serves the front itself.
 *
 * Both get the same front flags (MS_FRONT_FLAGS below) and the matchmaker the same small reaper
 * ages, so that a scenario can expect the same bytes from both. Everything is a child process
 * on free loopback ports (tests/matchmaker/mm_harness.h, tests/httpd/httpd_harness.h); every
 * wait polls with a deadline. This header names no WebSocket client, so that a test may use
 * either of ours with it.
 */
#ifndef MM_MODES_STACK_H
#define MM_MODES_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MS_ORIGIN "http://127.0.0.1"                      /* --cors */
#define MS_FIRST_MESSAGE_MS 1000                          /* --first-message-timeout-ms */
#define MS_MAX_MESSAGE 256                                /* --max-message-bytes */
#define MS_PER_IP_RATE 1                                  /* --per-ip-rate (per second) */
#define MS_PER_IP_BURST 3                                 /* --per-ip-burst */
#define MS_PER_IP_CONCURRENT 2                            /* --per-ip-concurrent */
#define MS_REAP_AFTER_MS 5000                             /* --reaper-age-ms + --reaper-margin-ms */
#define MS_API_KEY_HEADER "authorization: token test-key" /* H_API_KEY as a header line */

typedef enum ms_mode { MS_SPLIT, MS_ALLINONE } ms_mode;

typedef struct ms_stack ms_stack;

/** "split" or "all-in-one". */
const char *ms_mode_name(ms_mode mode);

/**
 * Starts the whole stack of that mode; extra_front (NULL-terminated, may be NULL) are added to
 * the front's flags (e.g. {"--trusted-proxy", "none", NULL}). Stops the test when a part does
 * not start. Free with ms_stop.
 */
ms_stack *ms_start(ms_mode mode, const char *const *extra_front);

/** The front's port on 127.0.0.1. */
uint16_t ms_port(const ms_stack *s);

/** The process that serves the front (the httpd, or the all-in-one matchmaker); 0 when stopped. */
pid_t ms_front_pid(const ms_stack *s);

/**
 * Waits up to timeout_ms for the front's process to exit by itself (after the test signalled it)
 * and returns its exit status (-1: it had to be killed). The rest of the stack keeps running.
 */
int ms_front_wait_exit(ms_stack *s, int timeout_ms);

/**
 * Starts the front's process again (after ms_front_wait_exit) on a new port with the common
 * flags plus extra_front; in the all-in-one mode this is a new matchmaker, which carries on with
 * the state in JetStream.
 */
void ms_front_restart(ms_stack *s, const char *const *extra_front);

/** POSTs body to the simulator's /__sim/faults; true on 200. */
bool ms_sim_faults(ms_stack *s, const char *body);

/**
 * The client addresses the simulator recorded for a live session (GET /v1/session/{id},
 * session_ips[].ip joined by ","); false when it does not know the session.
 */
bool ms_sim_session_ips(ms_stack *s, const char *session_id, char *out, size_t len);

/** True when the simulator holds session_id as a live session. */
bool ms_sim_is_live(ms_stack *s, const char *session_id);

/** Polls until session_id is no longer live at the simulator (deleted), at most timeout_ms. */
bool ms_wait_deleted(ms_stack *s, const char *session_id, int timeout_ms);

/** Polls until the simulator holds no live session, at most timeout_ms; *live is the last count. */
bool ms_wait_sim_empty(ms_stack *s, int timeout_ms, long *live);

/** Checks a base64 connect token opens with the all-zero key (protocol 1982) for ip:port. */
void ms_check_token(const char *token_b64, const char *ip, uint16_t port);

/** Copies the tails of the front's and the matchmaker's logs to stderr (for failures). */
void ms_dump_logs(const ms_stack *s);

/** Stops everything still running (checking the matchmaker and the httpd exit 0) and frees s. */
void ms_stop(ms_stack *s);

#endif
