/*
 * The scenarios of test_modes_e2e.c. Each plays one situation against the web front of a
 * running stack (either mode), records what it got in a transcript (modes_record.h) and checks
 * what cannot be seen in the transcript (the simulator's view, exit statuses, metrics). A
 * scenario never depends on the mode: the same calls, the same expectations.
 *
 * Each scenario's requests come "through a trusted proxy" (X-Forwarded-For from loopback, which
 * the front trusts by default) with an address of its own, so that the small per-IP limits
 * (modes_stack.h) of one scenario never refuse another's; the client_ip override decides what
 * Edgegap sees.
 */
#ifndef MM_MODES_SCENARIOS_H
#define MM_MODES_SCENARIOS_H

#include <stdint.h>

#include "modes_record.h"
#include "modes_stack.h"

#define MX_CLIENT_IP "81.128.157.123" /* the client_ip override the players send */
#define MX_APP "game"                 /* H_APP / H_VERSION of the harness */
#define MX_VERSION "v1"

/** One mode's run. */
typedef struct mx {
    ms_stack *st;
    uint16_t port;      /* the front's, refreshed after a restart */
    char abandoned[64]; /* session id of the request whose client vanished (mx_abrupt_disconnect) */
} mx;

typedef void (*mx_scenario)(mx *x, int index, mr_rec *r);

/* ---- helpers (modes_scen_ws.c) ---- */

/** "X-Forwarded-For: 198.51.100.<index + 1>\r\n": the scenario's own address for the limits. */
void mx_xff(int index, char *out, size_t len);
/** {"game":..,"version":..[,"client_ip":..]} (client_ip NULL: none). */
void mx_first(const char *game, const char *version, const char *client_ip, char *out, size_t len);
/** Opens /matchmaker/ws with headers, sends first as one text frame, records everything to the end. */
void mx_ws_request(mx *x, const char *headers, const char *first, mr_rec *r, mr_seen *seen);
/* A whole session with these header lines and no client_ip override: records label, the session
 * and the ip_list Edgegap saw for it (modes_scen_xff.c). */
void mx_forwarded_session(mx *x, const char *label, const char *headers, mr_rec *r);
/** A whole session: Acknowledged, accepted, progress, ready (mr_seen says so). */
void mx_check_session(const mr_seen *seen);

/* ---- WebSocket scenarios (modes_scen_ws.c) ---- */
void mx_happy_ws(mx *x, int index, mr_rec *r);
void mx_edgegap_error(mx *x, int index, mr_rec *r);
void mx_unknown_game(mx *x, int index, mr_rec *r);
void mx_bad_json(mx *x, int index, mr_rec *r);
void mx_long_name(mx *x, int index, mr_rec *r);
void mx_invalid_name(mx *x, int index, mr_rec *r);
void mx_bad_client_ip(mx *x, int index, mr_rec *r);
void mx_binary_frame(mx *x, int index, mr_rec *r);
void mx_oversized(mx *x, int index, mr_rec *r);
void mx_first_timeout(mx *x, int index, mr_rec *r);

/* ---- abuse (modes_scen_abuse.c) ---- */
void mx_flood(mx *x, int index, mr_rec *r);
void mx_ip_concurrent(mx *x, int index, mr_rec *r);
void mx_slow_reader(mx *x, int index, mr_rec *r);
void mx_stalled_peers(mx *x, int index, mr_rec *r);
void mx_abrupt_disconnect(mx *x, int index, mr_rec *r);

/* ---- HTTP routes, proxies, metrics, stop (modes_scen_http.c) ---- */
void mx_routes(mx *x, int index, mr_rec *r);
void mx_cors(mx *x, int index, mr_rec *r);
void mx_chunked(mx *x, int index, mr_rec *r);
void mx_wannaplay(mx *x, int index, mr_rec *r);
void mx_metrics(mx *x, int index, mr_rec *r);
void mx_counts(mx *x, int index, mr_rec *r);
void mx_xff_trusted(mx *x, int index, mr_rec *r);
void mx_drain(mx *x, int index, mr_rec *r);
void mx_xff_untrusted(mx *x, int index, mr_rec *r);
void mx_abandoned_reaped(mx *x, int index, mr_rec *r);

/* ---- X-Forwarded-For behind an appending proxy (modes_scen_xff.c) ---- */
void mx_xff_spoof(mx *x, int index, mr_rec *r);
void mx_xff_forms(mx *x, int index, mr_rec *r);

#endif
