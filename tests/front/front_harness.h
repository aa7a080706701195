/*
 * Test harness of the web front: a scripted backend on a thread of its own, and helpers to run
 * a front on a free loopback port against it.
 *
 * The backend answers each request by a script chosen from its game name (WebSocket and
 * chunked routes) or from tb->wannaplay_script (the wannaplay route, which has no game):
 *   "happy"  Acknowledged, SessionRequestAccepted, two ProgressReports, SessionReady, end
 *   "error"  Acknowledged, then error(500, "the test backend failed")
 *   "never"  holds the request until tb_release() or the backend stops
 *   "many"   <version> numbered ProgressReports ("n (i)"), then end
 *   "held"   like "never", but tb_release() answers the happy script and ends
 *   "busy"   submit refuses with MM_ERR_FULL
 *   "sync"   submit itself answers Error(503, "no responders") and ends (as a fast backend may)
 * Everything else is answered like "happy". Every request is recorded (tb_requests).
 */
#ifndef MM_TEST_FRONT_HARNESS_H
#define MM_TEST_FRONT_HARNESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mm/front.h"

#define TB_TOKEN "AAAA"
#define TB_SESSION "950dd2eaff09-S"

typedef struct tb_backend tb_backend;

typedef struct tb_record {
    uint64_t id;
    mm_front_route route;
    mm_session_request req;
} tb_record;

tb_backend *tb_create(void);
/* The backend interface to give mm_front_start. */
void tb_backend_iface(tb_backend *b, mm_front_backend *out);
void tb_set_ready(tb_backend *b, bool ready);
void tb_set_wannaplay_script(tb_backend *b, const char *script);
/* Answers every held request ("held": the happy script; "never": just the end). Returns how many. */
size_t tb_release(tb_backend *b);
/* Held requests whose client left, as their relay sinks reported it (watch_gone); none after release. */
size_t tb_gone_reports(tb_backend *b);
/* Requests held now. */
size_t tb_held(tb_backend *b);
/* Waits until at least n requests were submitted; true if so before timeout_ms. */
bool tb_wait_submitted(tb_backend *b, size_t n, int timeout_ms);
/* Waits until at least n requests are held ("never"/"held" scripts); true if so in time. */
bool tb_wait_held(tb_backend *b, size_t n, int timeout_ms);
/* Copies record i (in submission order); false if there is none. */
bool tb_request(tb_backend *b, size_t i, tb_record *out);
size_t tb_submitted(tb_backend *b);
/* Webhooks (backend.webhook): recorded in order (tb_webhooks / tb_webhook); refuse: answer
 * MM_ERR_FULL instead (nothing recorded). */
void tb_set_webhook_refuse(tb_backend *b, bool refuse);
/* The create intent the front passed with the last webhook (backend.webhook_intent): "" none. */
void tb_last_intent(tb_backend *b, char *out, size_t len);
size_t tb_webhooks(tb_backend *b);
/* Copies webhook i's session id into out (65 bytes); false if there is none. */
bool tb_webhook(tb_backend *b, size_t i, char *out);
/* Stops the thread and frees every sink it holds (their clients get Error 503). */
void tb_stop(tb_backend *b);
void tb_destroy(tb_backend *b);

/* A front on 127.0.0.1:0 (or cfg's binds when cfg->binds_from_flags) with a test backend. */
typedef struct fh {
    mm_front *front;
    tb_backend *tb;
    uint16_t port;
} fh;

/* cfg may be NULL for the defaults. Requires success (the test stops otherwise). */
void fh_start(fh *h, const mm_front_config *cfg);
void fh_stop(fh *h, uint32_t deadline_ms);

/* A fresh config bound to 127.0.0.1:0. */
void fh_config(mm_front_config *cfg);

/* The value of one /metrics sample ("name{labels}" exactly as printed), or -1 if absent. */
long long fh_metric(uint16_t port, const char *sample);

/* The messages of one WebSocket session: connects to path (NULL: /matchmaker/ws), sends first
 * (if not NULL), collects texts until the close frame or EOF. Returns the number of texts, -1 when
 * the handshake failed; *close_code gets the close code (-1 when the TCP connection just ended). */
int fh_ws_session(uint16_t port, const char *path, const char *headers, const char *first, char texts[][512], int max,
                  int *close_code, int timeout_ms);

#endif
