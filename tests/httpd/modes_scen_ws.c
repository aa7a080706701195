/*
 * WebSocket scenarios of test_modes_e2e.c (modes_scenarios.h): the happy flow, an Edgegap
 * error relayed, a game nobody serves, and every bad first message (bad JSON, long and invalid
 * names, a bad client address, a binary frame, an oversized frame, no message at all). Each bad
 * input must get exactly one `ERR <reason>` text and a close whose code says why (docs/protocol.md
 * section 2, docs/front.md); what the reason says is compared between the modes by the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "modes_scenarios.h"

void
mx_xff(int index, char *out, size_t len)
{
    snprintf(out, len, "X-Forwarded-For: 198.51.100.%d\r\n", index + 1);
}

void
mx_first(const char *game, const char *version, const char *client_ip, char *out, size_t len)
{
    if (client_ip != NULL)
        snprintf(out, len, "{\"game\":\"%s\",\"version\":\"%s\",\"client_ip\":\"%s\"}", game, version, client_ip);
    else
        snprintf(out, len, "{\"game\":\"%s\",\"version\":\"%s\"}", game, version);
}

void
mx_ws_request(mx *x, const char *headers, const char *first, mr_rec *r, mr_seen *seen)
{
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(c != NULL);
    mr_line(r, "ws send %s", first);
    if (mr_ws_open(c, x->port, headers, r)) {
        MM_CHECK(mm_ws_send_text(c, first) == 0);
        mr_ws_collect(c, r, seen);
    }
    free(c);
}

void
mx_check_session(const mr_seen *seen)
{
    MM_CHECK(seen->session_id[0] != '\0');
    MM_CHECK_INT(seen->progress, >=, 1);
    MM_CHECK(seen->ready);
    MM_CHECK_INT(seen->error_status, ==, 0);
}

/* The Edgegap client addresses of a session, as the simulator recorded them. */
static void
record_edgegap_ip(mx *x, const mr_seen *seen, mr_rec *r)
{
    char ips[256];
    if (seen->session_id[0] != '\0' && ms_sim_session_ips(x->st, seen->session_id, ips, sizeof(ips)))
        mr_line(r, "edgegap ip_list: %s", ips);
    else
        mr_line(r, "edgegap ip_list: (session %s unknown to the simulator)", seen->session_id);
}

void
mx_happy_ws(mx *x, int index, mr_rec *r)
{
    char xff[96], first[256];
    mr_seen seen = {0};
    mx_xff(index, xff, sizeof(xff));
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    mx_ws_request(x, xff, first, r, &seen);
    mx_check_session(&seen);
    record_edgegap_ip(x, &seen, r); /* the override wins over the trusted X-Forwarded-For */
}

void
mx_edgegap_error(mx *x, int index, mr_rec *r)
{
    static const char fault[] =
        "{\"session_create\":{\"error_next\":1,\"error_status\":422,\"error_message\":\"ip_list holds a bad address\"}}";
    char xff[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));

    MM_REQUIRE(ms_sim_faults(x->st, fault));
    mr_seen ws = {0};
    mx_ws_request(x, xff, first, r, &ws);
    MM_CHECK_INT(ws.error_status, ==, 422);
    MM_CHECK(!ws.ready);

    MM_REQUIRE(ms_sim_faults(x->st, fault));
    mr_seen chunked = {0};
    mr_post(x->port, "/matchmaker/request/" MX_APP "/" MX_VERSION "?client_ip=" MX_CLIENT_IP, xff, MR_BODY_STREAM, r, &chunked);
    MM_CHECK_INT(chunked.error_status, ==, 422);

    MM_REQUIRE(ms_sim_faults(x->st, fault));
    mr_seen wanna = {0};
    MM_CHECK_INT(mr_post(x->port, "/matchmaker/wannaplay?client_ip=" MX_CLIENT_IP, xff, MR_BODY_ANSWER, r, &wanna), ==, 422);
    MM_CHECK(ms_sim_faults(x->st, "{\"session_create\":{}}"));
}

void
mx_unknown_game(mx *x, int index, mr_rec *r)
{
    char xff[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mr_seen seen = {0};
    mx_first("nope", MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    mx_ws_request(x, xff, first, r, &seen);
    MM_CHECK_INT(seen.error_status, ==, 503);
    memset(&seen, 0, sizeof(seen));
    mx_first(MX_APP, "v2", MX_CLIENT_IP, first, sizeof(first));
    mx_ws_request(x, xff, first, r, &seen);
    MM_CHECK_INT(seen.error_status, ==, 503);
    memset(&seen, 0, sizeof(seen));
    mr_post(x->port, "/matchmaker/request/nope/" MX_VERSION "?client_ip=" MX_CLIENT_IP, xff, MR_BODY_STREAM, r, &seen);
    MM_CHECK_INT(seen.error_status, ==, 503);
}

/* Each text as a first message on its own connection; each must be refused before the hand-off. */
static void
refused_firsts(mx *x, int index, const char *const *firsts, mr_rec *r)
{
    char xff[96];
    mx_xff(index, xff, sizeof(xff));
    for (int i = 0; firsts[i] != NULL; i++) {
        mr_seen seen = {0};
        mx_ws_request(x, xff, firsts[i], r, &seen);
        MM_CHECK(seen.session_id[0] == '\0' && seen.error_status == 0);
    }
}

void
mx_bad_json(mx *x, int index, mr_rec *r)
{
    static const char *const firsts[] = {
        "{nope",
        "[\"game\",\"v1\"]",
        "{\"game\":\"" MX_APP "\"}",
        "{\"game\":1,\"version\":\"" MX_VERSION "\"}",
        "\"Acknowledged\"",
        NULL,
    };
    refused_firsts(x, index, firsts, r);
}

void
mx_long_name(mx *x, int index, mr_rec *r)
{
    static const char *const firsts[] = {
        "{\"game\":\"a234567890123456789012345678901\",\"version\":\"" MX_VERSION "\"}",
        "{\"game\":\"" MX_APP "\",\"version\":\"v234567890123456789012345678901\"}",
        NULL,
    };
    refused_firsts(x, index, firsts, r);
    /* 30 characters is a valid name: it reaches the backend, which serves no such game */
    char xff[96];
    mx_xff(index, xff, sizeof(xff));
    mr_seen seen = {0};
    mx_ws_request(x, xff, "{\"game\":\"a23456789012345678901234567890\",\"version\":\"" MX_VERSION "\"}", r, &seen);
    MM_CHECK_INT(seen.error_status, ==, 503);
    mr_post(x->port, "/matchmaker/request/a234567890123456789012345678901/" MX_VERSION, xff, MR_BODY_TEXT, r, NULL);
}

void
mx_invalid_name(mx *x, int index, mr_rec *r)
{
    static const char *const firsts[] = {
        "{\"game\":\"bad.game\",\"version\":\"" MX_VERSION "\"}", /* would split the NATS subject */
        "{\"game\":\"bad game\",\"version\":\"" MX_VERSION "\"}", /* the reference accepts white space */
        "{\"game\":\"" MX_APP "\",\"version\":\">\"}",
        "{\"game\":\"\",\"version\":\"" MX_VERSION "\"}",
        "{\"game\":\"gam\\u00e9\",\"version\":\"" MX_VERSION "\"}",
        NULL,
    };
    refused_firsts(x, index, firsts, r);
    char xff[96];
    mx_xff(index, xff, sizeof(xff));
    MM_CHECK_INT(mr_post(x->port, "/matchmaker/request/bad.game/" MX_VERSION, xff, MR_BODY_TEXT, r, NULL), ==, 400);
    MM_CHECK_INT(mr_post(x->port, "/matchmaker/request/bad%20game/" MX_VERSION, xff, MR_BODY_TEXT, r, NULL), ==, 400);
    MM_CHECK_INT(mr_post(x->port, "/matchmaker/request/" MX_APP "/v*", xff, MR_BODY_TEXT, r, NULL), ==, 400);
}

void
mx_bad_client_ip(mx *x, int index, mr_rec *r)
{
    static const char *const firsts[] = {
        "{\"game\":\"" MX_APP "\",\"version\":\"" MX_VERSION "\",\"client_ip\":\"1.2.3.4:80\"}",
        "{\"game\":\"" MX_APP "\",\"version\":\"" MX_VERSION "\",\"client_ip\":\"1.2.3.4\\\",\\\"x\\\":\\\"y\"}",
        NULL,
    };
    /* (an X-Forwarded-For entry that is no address is not refused: it ends the walk, see mx_xff_forms) */
    refused_firsts(x, index, firsts, r);
    char xff[96];
    mx_xff(index, xff, sizeof(xff));
    MM_CHECK_INT(mr_post(x->port, "/matchmaker/wannaplay?client_ip=999.1.1.1", xff, MR_BODY_TEXT, r, NULL), ==, 400);
}

void
mx_binary_frame(mx *x, int index, mr_rec *r)
{
    char xff[96], first[256];
    mx_xff(index, xff, sizeof(xff));
    mx_first(MX_APP, MX_VERSION, MX_CLIENT_IP, first, sizeof(first));
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(c != NULL);
    mr_line(r, "ws send the request as a binary frame");
    if (mr_ws_open(c, x->port, xff, r)) {
        MM_CHECK(mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_BINARY, first, strlen(first), true) == 0);
        mr_ws_collect(c, r, NULL);
    }
    free(c);
}

void
mx_oversized(mx *x, int index, mr_rec *r)
{
    char xff[96], big[MS_MAX_MESSAGE + 64];
    mx_xff(index, xff, sizeof(xff));
    /* a valid request padded with white space past the limit */
    int n = snprintf(big, sizeof(big), "{\"game\":\"%s\",\"version\":\"%s\"", MX_APP, MX_VERSION);
    while (n < MS_MAX_MESSAGE + 10)
        big[n++] = ' ';
    big[n++] = '}';
    big[n] = '\0';
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(c != NULL);
    mr_line(r, "ws send a text frame of %d bytes", n);
    if (mr_ws_open(c, x->port, xff, r)) {
        MM_CHECK(mm_ws_send_text(c, big) == 0);
        mr_ws_collect(c, r, NULL);
    }
    /* only a frame header announcing 2^40 bytes: refused at the header, nothing allocated */
    static const uint8_t huge[] = {0x81, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    mr_line(r, "ws send a frame header announcing 2^40 bytes");
    if (mr_ws_open(c, x->port, xff, r)) {
        MM_CHECK(mm_ws_send_raw(c, huge, sizeof(huge)) == 0);
        mr_ws_collect(c, r, NULL);
    }
    free(c);
    /* a POST body past the limit */
    char req[1024];
    snprintf(req, sizeof(req),
             "POST /matchmaker/wannaplay HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%sContent-Length: %d\r\n\r\n%s", xff,
             n, big);
    MM_CHECK_INT(mr_http(x->port, "POST /matchmaker/wannaplay with a large body", req, MR_BODY_TEXT, r, NULL), ==, 413);
}

void
mx_first_timeout(mx *x, int index, mr_rec *r)
{
    char xff[96];
    mx_xff(index, xff, sizeof(xff));
    mm_ws_client *c = malloc(sizeof(*c));
    MM_REQUIRE(c != NULL);
    mr_line(r, "ws send nothing");
    if (mr_ws_open(c, x->port, xff, r))
        mr_ws_collect(c, r, NULL); /* waits at most MR_WAIT_MS; the timeout is MS_FIRST_MESSAGE_MS */
    free(c);
}
