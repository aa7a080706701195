/*
 * What each scenario of test_modes_e2e.c must record, in both modes (the transcript format is
 * modes_record.h's: run-to-run values are placeholders, a run of ProgressReports is one line).
 * The texts are the contract's: docs/protocol.md section 2 and docs/front.md (ERR reasons and close
 * codes, Error(429/503) messages, CORS headers), docs/matchmaker.md (Edgegap errors relayed).
 */
#ifndef MM_MODES_EXPECT_H
#define MM_MODES_EXPECT_H

#include "modes_stack.h" /* MS_ORIGIN */

/* one line of a transcript per line here */
/* clang-format off */

#define EX_CORS \
    "  access-control-allow-origin: " MS_ORIGIN "\n" \
    "  vary: origin, access-control-request-method, access-control-request-headers\n"
#define EX_PLAIN "  content-type: text/plain; charset=utf-8\n" EX_CORS
#define EX_SEND_GAME "ws send {\"game\":\"game\",\"version\":\"v1\",\"client_ip\":\"81.128.157.123\"}\n"
/* a whole session on a WebSocket */
#define EX_WS_SESSION \
    "ws \"Acknowledged\"\n" \
    "ws {\"SessionRequestAccepted\":\"<session>\"}\n" \
    "ws {\"ProgressReport\":\"<status (elapsed)>\"}\n" \
    "ws {\"SessionReady\":{\"token\":\"<token>\",\"ip\":\"<ip>\",\"port\":<port>,\"cert_digest\":\"<cert digest>\"}}\n" \
    "ws close 1000 Goodbye\n"

#define EXPECT_ROUTES \
    "GET / -> 200\n" \
    "  content-type: text/html; charset=utf-8\n" \
    EX_CORS \
    "  body: a page with a Play button and the WebSocket route\n" \
    "GET /matchmaker -> 200\n" \
    "  content-type: text/html; charset=utf-8\n" \
    EX_CORS \
    "  body: a page with a Play button and the WebSocket route\n" \
    "GET /healthz -> 200\n" \
    EX_PLAIN \
    "  body: ok\n" \
    "GET /readyz -> 200\n" \
    EX_PLAIN \
    "  body: ready\n" \
    "GET /metrics -> 200\n" \
    "  content-type: text/plain; version=0.0.4; charset=utf-8\n" \
    EX_CORS \
    "GET /nope -> 404\n" \
    EX_PLAIN \
    "  body: not found\n" \
    "POST /healthz -> 405\n" \
    EX_PLAIN \
    "  body: method not allowed\n" \
    "GET /matchmaker/wannaplay -> 405\n" \
    EX_PLAIN \
    "  body: method not allowed\n" \
    "GET /matchmaker/request/game/v1 -> 405\n" \
    EX_PLAIN \
    "  body: method not allowed\n" \
    "GET /matchmaker/ws -> 400\n" \
    EX_PLAIN \
    "  body: expected a WebSocket upgrade (HTTP/1.1)\n" \
    "POST /matchmaker/ws -> 405\n" \
    EX_PLAIN \
    "  body: Request method must be `GET`\n" \
    "GET /matchmaker/ws -> 426\n" \
    EX_PLAIN \
    "  body: WebSocket version 13 is required\n"

#define EXPECT_CORS \
    "OPTIONS /matchmaker/request/... -> 200\n" \
    "  access-control-allow-origin: " MS_ORIGIN "\n" \
    "  access-control-allow-methods: GET,POST,CONNECT\n" \
    "  access-control-allow-headers: content-type\n" \
    "  vary: origin, access-control-request-method, access-control-request-headers\n" \
    "  body: \n" \
    "OPTIONS /matchmaker/ws -> 200\n" \
    "  access-control-allow-origin: " MS_ORIGIN "\n" \
    "  access-control-allow-methods: GET,POST,CONNECT\n" \
    "  access-control-allow-headers: content-type\n" \
    "  vary: origin, access-control-request-method, access-control-request-headers\n" \
    "  body: \n" \
    "GET /healthz -> 200\n" \
    EX_PLAIN \
    "  body: ok\n" \
    "GET /readyz -> 200\n" \
    EX_PLAIN \
    "  body: ready\n"

#define EXPECT_HAPPY_WS \
    EX_SEND_GAME \
    EX_WS_SESSION \
    "edgegap ip_list: 81.128.157.123\n"

#define EXPECT_CHUNKED \
    "POST /matchmaker/request/game/v1?client_ip=81.128.157.123 -> 200\n" \
    "  content-type: application/json\n" \
    "  transfer-encoding: chunked\n" \
    EX_CORS \
    "  chunk \"Acknowledged\"\n" \
    "  chunk {\"SessionRequestAccepted\":\"<session>\"}\n" \
    "  chunk {\"ProgressReport\":\"<status (elapsed)>\"}\n" \
    "  chunk {\"SessionReady\":{\"token\":\"<token>\",\"ip\":\"<ip>\",\"port\":<port>,\"cert_digest\":\"<cert digest>\"}}\n"

#define EXPECT_WANNAPLAY \
    "POST /matchmaker/wannaplay?client_ip=81.128.157.123 -> 200\n" \
    "  content-type: text/json\n" \
    EX_CORS \
    "  body: {\"connect_token\":\"<token>\",\"gameserver_ip\":\"<ip>\",\"gameserver_port\":<port>,\"cert_digest\":\"<cert digest>\"}\n"

#define EXPECT_EDGEGAP_ERROR \
    EX_SEND_GAME \
    "ws \"Acknowledged\"\n" \
    "ws {\"Error\":[422,\"ip_list holds a bad address\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "POST /matchmaker/request/game/v1?client_ip=81.128.157.123 -> 200\n" \
    "  content-type: application/json\n" \
    "  transfer-encoding: chunked\n" \
    EX_CORS \
    "  chunk \"Acknowledged\"\n" \
    "  chunk {\"Error\":[422,\"ip_list holds a bad address\"]}\n" \
    "POST /matchmaker/wannaplay?client_ip=81.128.157.123 -> 422\n" \
    EX_PLAIN \
    "  body: ip_list holds a bad address\n"

#define EXPECT_UNKNOWN_GAME \
    "ws send {\"game\":\"nope\",\"version\":\"v1\",\"client_ip\":\"81.128.157.123\"}\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws send {\"game\":\"game\",\"version\":\"v2\",\"client_ip\":\"81.128.157.123\"}\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving game v2\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "POST /matchmaker/request/nope/v1?client_ip=81.128.157.123 -> 200\n" \
    "  content-type: application/json\n" \
    "  transfer-encoding: chunked\n" \
    EX_CORS \
    "  chunk {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n"

#define EXPECT_BAD_JSON \
    "ws send {nope\n" \
    "ws ERR request is not valid JSON: string or '}' expected near 'nope' (line 1, column 5)\n" \
    "ws close 1008 request is not valid JSON: string or '}' expected near 'nope' (line 1, column 5)\n" \
    "ws send [\"game\",\"v1\"]\n" \
    "ws ERR request must be a JSON object\n" \
    "ws close 1008 request must be a JSON object\n" \
    "ws send {\"game\":\"game\"}\n" \
    "ws ERR missing field `version`\n" \
    "ws close 1008 missing field `version`\n" \
    "ws send {\"game\":1,\"version\":\"v1\"}\n" \
    "ws ERR field `game` must be a string\n" \
    "ws close 1008 field `game` must be a string\n" \
    "ws send \"Acknowledged\"\n" \
    "ws ERR request must be a JSON object\n" \
    "ws close 1008 request must be a JSON object\n"

#define EXPECT_LONG_NAME \
    "ws send {\"game\":\"a234567890123456789012345678901\",\"version\":\"v1\"}\n" \
    "ws ERR Game name too long (max 30 chars)\n" \
    "ws close 1008 Game name too long (max 30 chars)\n" \
    "ws send {\"game\":\"game\",\"version\":\"v234567890123456789012345678901\"}\n" \
    "ws ERR Game version too long (max 30 chars)\n" \
    "ws close 1008 Game version too long (max 30 chars)\n" \
    "ws send {\"game\":\"a23456789012345678901234567890\",\"version\":\"v1\"}\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving a23456789012345678901234567890 v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "POST /matchmaker/request/a234567890123456789012345678901/v1 -> 400\n" \
    EX_PLAIN \
    "  body: Game name too long (max 30 chars)\n"

#define EXPECT_INVALID_NAME \
    "ws send {\"game\":\"bad.game\",\"version\":\"v1\"}\n" \
    "ws ERR Game name invalid\n" \
    "ws close 1008 Game name invalid\n" \
    "ws send {\"game\":\"bad game\",\"version\":\"v1\"}\n" \
    "ws ERR Game name invalid\n" \
    "ws close 1008 Game name invalid\n" \
    "ws send {\"game\":\"game\",\"version\":\">\"}\n" \
    "ws ERR Game version invalid\n" \
    "ws close 1008 Game version invalid\n" \
    "ws send {\"game\":\"\",\"version\":\"v1\"}\n" \
    "ws ERR Game name invalid\n" \
    "ws close 1008 Game name invalid\n" \
    "ws send {\"game\":\"gam\\u00e9\",\"version\":\"v1\"}\n" \
    "ws ERR Game name invalid\n" \
    "ws close 1008 Game name invalid\n" \
    "POST /matchmaker/request/bad.game/v1 -> 400\n" \
    EX_PLAIN \
    "  body: Game name invalid\n" \
    "POST /matchmaker/request/bad%20game/v1 -> 400\n" \
    EX_PLAIN \
    "  body: Game name invalid\n" \
    "POST /matchmaker/request/game/v* -> 400\n" \
    EX_PLAIN \
    "  body: Game version invalid\n"

#define EXPECT_BAD_CLIENT_IP \
    "ws send {\"game\":\"game\",\"version\":\"v1\",\"client_ip\":\"1.2.3.4:80\"}\n" \
    "ws ERR client_ip is not an IPv4 or IPv6 address\n" \
    "ws close 1008 client_ip is not an IPv4 or IPv6 address\n" \
    "ws send {\"game\":\"game\",\"version\":\"v1\",\"client_ip\":\"1.2.3.4\\\",\\\"x\\\":\\\"y\"}\n" \
    "ws ERR client_ip is not an IPv4 or IPv6 address\n" \
    "ws close 1008 client_ip is not an IPv4 or IPv6 address\n" \
    "POST /matchmaker/wannaplay?client_ip=999.1.1.1 -> 400\n" \
    EX_PLAIN \
    "  body: client_ip is not an IPv4 or IPv6 address\n"

#define EXPECT_BINARY_FRAME \
    "ws send the request as a binary frame\n" \
    "ws ERR Expected text message, got a binary message\n" \
    "ws close 1003 Expected text message, got a binary message\n"

#define EXPECT_OVERSIZED \
    "ws send a text frame of 267 bytes\n" \
    "ws ERR message too large (max 256 bytes)\n" \
    "ws close 1009 message too large (max 256 bytes)\n" \
    "ws send a frame header announcing 2^40 bytes\n" \
    "ws ERR message too large (max 256 bytes)\n" \
    "ws close 1009 message too large (max 256 bytes)\n" \
    "POST /matchmaker/wannaplay with a large body -> 413\n" \
    "  content-type: text/plain; charset=utf-8\n" \
    "  body: request entity is too large\n"

#define EXPECT_FIRST_TIMEOUT \
    "ws send nothing\n" \
    "ws ERR Timeout waiting for websocket request message: 1s\n" \
    "ws close 1008 Timeout waiting for websocket request message: 1s\n"

#define EXPECT_FLOOD \
    "ws request 1 of 5 from one address\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 2 of 5 from one address\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 3 of 5 from one address\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 4 of 5 from one address\n" \
    "ws {\"Error\":[429,\"too many requests from your address; slow down\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "POST /matchmaker/request/game/v1 -> 429\n" \
    EX_PLAIN \
    "  body: too many requests from your address; slow down\n" \
    "POST /matchmaker/wannaplay -> 429\n" \
    EX_PLAIN \
    "  body: too many requests from your address; slow down\n" \
    "ws request 5 of 5 from one address\n" \
    "ws {\"Error\":[429,\"too many requests from your address; slow down\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws send {\"game\":\"nope\",\"version\":\"v1\",\"client_ip\":\"81.128.157.123\"}\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n"

#define EXPECT_IP_CONCURRENT \
    "ws request 3 while 2 are in progress from the same address\n" \
    "ws {\"Error\":[429,\"too many requests in progress from your address\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 1:\n" \
    EX_WS_SESSION \
    "\n" \
    "ws request 2:\n" \
    EX_WS_SESSION \
    "\n"

#define EXPECT_SLOW_READER \
    "another player while the first does not read:\n" \
    EX_SEND_GAME \
    EX_WS_SESSION \
    "the first player, reading at last:\n" \
    EX_WS_SESSION \
    "\n"

#define EXPECT_STALLED_PEERS \
    "while a peer does not read its pages and another never ends its headers:\n" \
    "GET /healthz -> 200\n" \
    EX_PLAIN \
    "  body: ok\n" \
    EX_SEND_GAME \
    EX_WS_SESSION \
    "the unfinished head: closed by the server after 0 bytes\n" \
    "GET /healthz -> 200\n" \
    EX_PLAIN \
    "  body: ok\n"

#define EXPECT_ABRUPT_DISCONNECT \
    EX_SEND_GAME \
    "ws \"Acknowledged\"\n" \
    "ws {\"SessionRequestAccepted\":\"<session>\"}\n" \
    "the client closes its socket\n" \
    "GET /healthz -> 200\n" \
    EX_PLAIN \
    "  body: ok\n" \
    EX_SEND_GAME \
    EX_WS_SESSION

#define EXPECT_METRICS \
    "mm_front_requests_total{route=\"ws\",outcome=\"ok\"} +1\n" \
    "mm_front_requests_total{route=\"ws\",outcome=\"error\"} +0\n" \
    "mm_front_connections_total +2\n" \
    "mm_front_request_duration_seconds_count +1\n" \
    "mm_front_request_duration_seconds_bucket{le=\"+Inf\"} +1\n" \
    "mm_front_http_requests_total{page=\"metrics\"} +1\n" \
    "mm_front_requests_in_progress{loop=\"0\"} 0\n"

#define EXPECT_XFF_TRUSTED \
    "X-Forwarded-For: 203.0.113.77, 10.1.2.3\n" \
    "ws send {\"game\":\"game\",\"version\":\"v1\"}\n" \
    EX_WS_SESSION \
    "edgegap ip_list: 203.0.113.77\n"

#define EXPECT_COUNTS \
    "mm_front_requests_total{route=\"ws\",outcome=\"ok\"} 9\n" \
    "mm_front_requests_total{route=\"ws\",outcome=\"error\"} 8\n" \
    "mm_front_requests_total{route=\"ws\",outcome=\"invalid\"} 17\n" \
    "mm_front_requests_total{route=\"ws\",outcome=\"refused\"} 3\n" \
    "mm_front_requests_total{route=\"ws\",outcome=\"busy\"} 0\n" \
    "mm_front_requests_total{route=\"ws\",outcome=\"client_gone\"} 1\n" \
    "mm_front_requests_total{route=\"ws\",outcome=\"timeout\"} 1\n" \
    "mm_front_requests_total{route=\"ws\",outcome=\"stopped\"} 0\n" \
    "mm_front_requests_total{route=\"chunked\",outcome=\"ok\"} 1\n" \
    "mm_front_requests_total{route=\"chunked\",outcome=\"error\"} 2\n" \
    "mm_front_requests_total{route=\"chunked\",outcome=\"invalid\"} 4\n" \
    "mm_front_requests_total{route=\"chunked\",outcome=\"refused\"} 1\n" \
    "mm_front_requests_total{route=\"chunked\",outcome=\"busy\"} 0\n" \
    "mm_front_requests_total{route=\"chunked\",outcome=\"client_gone\"} 0\n" \
    "mm_front_requests_total{route=\"chunked\",outcome=\"timeout\"} 0\n" \
    "mm_front_requests_total{route=\"chunked\",outcome=\"stopped\"} 0\n" \
    "mm_front_requests_total{route=\"wannaplay\",outcome=\"ok\"} 1\n" \
    "mm_front_requests_total{route=\"wannaplay\",outcome=\"error\"} 1\n" \
    "mm_front_requests_total{route=\"wannaplay\",outcome=\"invalid\"} 1\n" \
    "mm_front_requests_total{route=\"wannaplay\",outcome=\"refused\"} 1\n" \
    "mm_front_requests_total{route=\"wannaplay\",outcome=\"busy\"} 0\n" \
    "mm_front_requests_total{route=\"wannaplay\",outcome=\"client_gone\"} 0\n" \
    "mm_front_requests_total{route=\"wannaplay\",outcome=\"timeout\"} 0\n" \
    "mm_front_requests_total{route=\"wannaplay\",outcome=\"stopped\"} 0\n" \
    "mm_front_refusals_total{reason=\"rate\"} 4\n" \
    "mm_front_refusals_total{reason=\"ip_concurrency\"} 1\n" \
    "mm_front_refusals_total{reason=\"global_concurrency\"} 0\n" \
    "mm_front_refusals_total{reason=\"max_connections\"} 0\n" \
    "mm_front_refusals_total{reason=\"first_message_timeout\"} 1\n" \
    "mm_front_refusals_total{reason=\"request_timeout\"} 0\n" \
    "mm_front_refusals_total{reason=\"too_large\"} 3\n" \
    "mm_front_refusals_total{reason=\"binary_message\"} 1\n" \
    "mm_front_refusals_total{reason=\"bad_utf8\"} 0\n" \
    "mm_front_refusals_total{reason=\"protocol_error\"} 0\n" \
    "mm_front_refusals_total{reason=\"bad_request\"} 19\n" \
    "mm_front_refusals_total{reason=\"frame_flood\"} 0\n" \
    "mm_front_refusals_total{reason=\"slow_reader\"} 0\n" \
    "mm_front_refusals_total{reason=\"half_open\"} 0\n" \
    "mm_front_refusals_total{reason=\"stopping\"} 0\n" \
    "mm_front_refusals_total{reason=\"sessions\"} 0\n" \
    "mm_front_refusals_total{reason=\"ip_connections\"} 0\n" \
    "mm_front_refusals_total{reason=\"header_too_large\"} 0\n" \
    "mm_front_refusals_total{reason=\"header_memory\"} 0\n"

#define EXPECT_DRAIN \
    EX_SEND_GAME \
    "ws \"Acknowledged\"\n" \
    "ws {\"SessionRequestAccepted\":\"<session>\"}\n" \
    "SIGTERM to the front's process\n" \
    "ws {\"ProgressReport\":\"<status (elapsed)>\"}\n" \
    "ws {\"SessionReady\":{\"token\":\"<token>\",\"ip\":\"<ip>\",\"port\":<port>,\"cert_digest\":\"<cert digest>\"}}\n" \
    "ws close 1000 Goodbye\n" \
    "exit status 0\n"

#define EXPECT_XFF_SPOOF \
    "ws request 1 of 5, X-Forwarded-For: 192.0.2.1, 198.51.100.23\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 2 of 5, X-Forwarded-For: 192.0.2.2, 198.51.100.23\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 3 of 5, X-Forwarded-For: 192.0.2.3, 198.51.100.23\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 4 of 5, X-Forwarded-For: 192.0.2.4, 198.51.100.23\n" \
    "ws {\"Error\":[429,\"too many requests from your address; slow down\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 5 of 5, X-Forwarded-For: 192.0.2.5, 198.51.100.23\n" \
    "ws {\"Error\":[429,\"too many requests from your address; slow down\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 1 of 4, X-Forwarded-For: 192.0.2.200, 198.51.100.123\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 2 of 4, X-Forwarded-For: 192.0.2.200, 198.51.100.123\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 3 of 4, X-Forwarded-For: 192.0.2.200, 198.51.100.123\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request 4 of 4, X-Forwarded-For: 192.0.2.200, 198.51.100.123\n" \
    "ws {\"Error\":[429,\"too many requests from your address; slow down\"]}\n" \
    "ws close 1000 Goodbye\n" \
    "ws request from the victim, X-Forwarded-For: 192.0.2.200\n" \
    "ws {\"Error\":[503,\"no matchmaker is serving nope v1\"]}\n" \
    "ws close 1000 Goodbye\n"

#define EXPECT_XFF_FORMS \
    "spoofed first entry\n" \
    "ws send {\"game\":\"game\",\"version\":\"v1\"}\n" \
    EX_WS_SESSION \
    "edgegap ip_list: 203.0.113.78\n" \
    "ip:port\n" \
    "ws send {\"game\":\"game\",\"version\":\"v1\"}\n" \
    EX_WS_SESSION \
    "edgegap ip_list: 203.0.113.79\n" \
    "[v6]:port\n" \
    "ws send {\"game\":\"game\",\"version\":\"v1\"}\n" \
    EX_WS_SESSION \
    "edgegap ip_list: 2001:db8::79\n" \
    "spaces, tabs, two headers\n" \
    "ws send {\"game\":\"game\",\"version\":\"v1\"}\n" \
    EX_WS_SESSION \
    "edgegap ip_list: 203.0.113.80\n" \
    "POST /matchmaker/request/game/v1 -> 200\n" \
    "  content-type: application/json\n" \
    "  transfer-encoding: chunked\n" \
    EX_CORS \
    "  chunk \"Acknowledged\"\n" \
    "  chunk {\"SessionRequestAccepted\":\"<session>\"}\n" \
    "  chunk {\"ProgressReport\":\"<status (elapsed)>\"}\n" \
    "  chunk {\"SessionReady\":{\"token\":\"<token>\",\"ip\":\"<ip>\",\"port\":<port>,\"cert_digest\":\"<cert digest>\"}}\n" \
    "edgegap ip_list: 203.0.113.81\n"

#define EXPECT_XFF_UNTRUSTED \
    "X-Forwarded-For: 203.0.113.77, 10.1.2.3\n" \
    "ws send {\"game\":\"game\",\"version\":\"v1\"}\n" \
    EX_WS_SESSION \
    "edgegap ip_list: 81.128.157.100\n" \
    "X-Forwarded-For: not-an-address\n" \
    "ws send {\"game\":\"game\",\"version\":\"v1\"}\n" \
    EX_WS_SESSION \
    "edgegap ip_list: 81.128.157.100\n"

#define EXPECT_ABANDONED_REAPED \
    "the abandoned request's session: deleted at the simulator\n" \
    "live sessions at the simulator: 0\n"

/* clang-format on */

#endif
