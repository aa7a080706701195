/*
 * X-Forwarded-For scenarios of test_modes_e2e.c (modes_scenarios.h; docs/protocol.md section 2): behind
 * an appending proxy (loopback, trusted by default) the client is the rightmost address that is
 * not a trusted proxy. mx_xff_spoof shows that the per-IP rate limit counts that address: a
 * leftmost entry rotating per request does not get around it, and naming a victim there does
 * not spend the victim's allowance. mx_xff_forms shows the forms real proxies write (ip:port,
 * [v6]:port, spaces and tabs, several headers) are accepted, and that the address Edgegap gets
 * (no override) is the one the walk found, on the WebSocket and the chunked route.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "modes_scenarios.h"

#define SPOOF_REQUESTS (MS_PER_IP_BURST + 2) /* from one client, each with another leftmost entry */
#define VICTIM "192.0.2.200"                 /* an address a client names as its own */

/* One request answered at once (a game nobody serves, so no session); returns its Error status. */
static int
quick_request(mx *x, const char *headers, mr_rec *r)
{
    char first[256];
    mx_first("nope", MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(c != NULL);
    mr_seen seen = {0};
    if (mr_ws_open(c, x->port, headers, r)) {
        MM_CHECK(mm_ws_send_text(c, first) == 0);
        mr_ws_collect(c, r, &seen);
    }
    free(c);
    return seen.error_status;
}

void
mx_xff_spoof(mx *x, int index, mr_rec *r)
{
    /* one client (its proxy appended its real address) writes a new first entry each time: as
     * in mx_flood, these come within the burst plus at most one refill, so the last two are refused */
    char headers[160];
    int refused = 0;
    for (int i = 0; i < SPOOF_REQUESTS; i++) {
        snprintf(headers, sizeof(headers), "X-Forwarded-For: 192.0.2.%d, 198.51.100.%d\r\n", i + 1, index + 1);
        mr_line(r, "ws request %d of %d, %.*s", i + 1, SPOOF_REQUESTS, (int)strcspn(headers, "\r"), headers);
        refused += quick_request(x, headers, r) == 429;
    }
    MM_CHECK_INT(refused, ==, SPOOF_REQUESTS - MS_PER_IP_BURST);
    /* another client names the victim first, more often than the victim's burst allows */
    for (int i = 0; i < MS_PER_IP_BURST + 1; i++) {
        snprintf(headers, sizeof(headers), "X-Forwarded-For: " VICTIM ", 198.51.100.%d\r\n", index + 101);
        mr_line(r, "ws request %d of %d, %.*s", i + 1, MS_PER_IP_BURST + 1, (int)strcspn(headers, "\r"), headers);
        quick_request(x, headers, r);
    }
    /* the victim itself is still served */
    mr_line(r, "ws request from the victim, X-Forwarded-For: " VICTIM);
    MM_CHECK_INT(quick_request(x, "X-Forwarded-For: " VICTIM "\r\n", r), ==, 503);
}

void
mx_forwarded_session(mx *x, const char *label, const char *headers, mr_rec *r)
{
    char first[256], ips[256];
    mx_first(MX_APP, MX_VERSION, NULL, first, sizeof(first));
    mr_line(r, "%s", label);
    mr_seen seen = {0};
    mx_ws_request(x, headers, first, r, &seen);
    mx_check_session(&seen);
    if (seen.session_id[0] != '\0' && ms_sim_session_ips(x->st, seen.session_id, ips, sizeof(ips)))
        mr_line(r, "edgegap ip_list: %s", ips);
    else
        mr_line(r, "edgegap ip_list: (unknown session)");
}

void
mx_xff_forms(mx *x, int index, mr_rec *r)
{
    (void)index;
    mx_forwarded_session(x, "spoofed first entry", "X-Forwarded-For: 198.51.100.250, 203.0.113.78\r\n", r);
    mx_forwarded_session(x, "ip:port", "X-Forwarded-For: 203.0.113.79:4711, 10.1.2.3:80\r\n", r);
    mx_forwarded_session(x, "[v6]:port", "X-Forwarded-For: [2001:db8::79]:443\r\n", r);
    mx_forwarded_session(x, "spaces, tabs, two headers",
              "X-Forwarded-For:  198.51.100.251 \r\nX-Forwarded-For:\t203.0.113.80 ,  10.1.2.3\r\n", r);
    /* the chunked route resolves the same way */
    char ips[256];
    mr_seen seen = {0};
    int status = mr_post(x->port, "/matchmaker/request/" MX_APP "/" MX_VERSION,
                         "X-Forwarded-For: unknown, 198.51.100.252\r\nX-Forwarded-For: 203.0.113.81:1, 10.1.2.3\r\n",
                         MR_BODY_STREAM, r, &seen);
    MM_CHECK_INT(status, ==, 200);
    mx_check_session(&seen);
    if (seen.session_id[0] != '\0' && ms_sim_session_ips(x->st, seen.session_id, ips, sizeof(ips)))
        mr_line(r, "edgegap ip_list: %s", ips);
    else
        mr_line(r, "edgegap ip_list: (unknown session)");
}
