/*
 * WebSocket /matchmaker/ws (docs/protocol.md section 2): the handshake, what the client sends, and the
 * session request it makes. Output, timers and lifetime are in ws_io.c.
 *
 * The client's first message must be a text frame within the first-message timeout; every
 * failure before the request is handed on is one `ERR <reason>` text and a close. Limits
 * refuse with one {"Error":[429,...]} message and close 1000 "Goodbye", as a stream that ended.
 * After the hand-off the connection relays the backend's texts in order and closes with 1000
 * "Goodbye" after the last; the client's later messages are ignored (as the reference does),
 * but every frame counts against the flood limit, and pings are answered.
 */
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/log.h"
#include "ws_conn.h"

#include <h2o/http1.h> /* after h2o.h (via ws_conn.h): it relies on its types */

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)). The key must be what RFC 6455 section 4.1
 * says a client sends: the base64 of exactly 16 bytes, in canonical form (24 characters, "=="
 * padding, no stray bits), as libsodium's strict decoder checks. */
static bool
accept_key(const char *key, size_t key_len, char out[29])
{
    char buf[24 + sizeof(WS_GUID)];
    unsigned char digest[EVP_MAX_MD_SIZE], nonce[16];
    unsigned int dlen = 0;
    size_t nonce_len = 0;
    const char *end = NULL;
    if (key_len != 24 ||
        sodium_base642bin(nonce, sizeof(nonce), key, key_len, NULL, &nonce_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        nonce_len != 16 || end != key + key_len)
        return false;
    memcpy(buf, key, 24);
    memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(buf, 24 + sizeof(WS_GUID) - 1, digest, &dlen, EVP_sha1(), NULL) != 1 || dlen != 20)
        return false;
    sodium_bin2base64(out, 29, digest, 20, sodium_base64_VARIANT_ORIGINAL);
    return true;
}

static bool
header_is(h2o_req_t *req, const char *name, size_t name_len, const char *value)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, name_len, -1);
    return i >= 0 && h2o_lcstris(req->headers.entries[i].value.base, req->headers.entries[i].value.len, value, strlen(value));
}

void
mm__front_ws_handle(mm__front_loop *loop, h2o_req_t *req)
{
    mm_front *front = loop->front;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        mm__front_respond(req, 405, "text/plain; charset=utf-8", H2O_STRLIT("Request method must be `GET`"), false);
        return;
    }
    if (req->upgrade.base == NULL || !h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("websocket")) ||
        req->version != 0x101) {
        mm__front_respond(req, 400, "text/plain; charset=utf-8", H2O_STRLIT("expected a WebSocket upgrade (HTTP/1.1)"), false);
        return;
    }
    if (!header_is(req, H2O_STRLIT("sec-websocket-version"), "13")) {
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-version"), 0, NULL, H2O_STRLIT("13"));
        mm__front_respond(req, 426, "text/plain; charset=utf-8", H2O_STRLIT("WebSocket version 13 is required"), false);
        return;
    }
    ssize_t k = h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-key"), -1);
    char accept[29];
    /* exactly one key: with two, a proxy and we might not agree on which one was answered */
    if (k < 0 || h2o_find_header_by_str(&req->headers, H2O_STRLIT("sec-websocket-key"), k) >= 0 || !accept_key(req->headers.entries[k].value.base, req->headers.entries[k].value.len, accept)) {
        mm__front_respond(req, 400, "text/plain; charset=utf-8", H2O_STRLIT("bad or missing Sec-WebSocket-Key"), false);
        return;
    }
    if (loop->stopping) {
        mm__front_count_refusal(front, MM__REF_STOPPING);
        mm__front_respond(req, 503, "text/plain; charset=utf-8", H2O_STRLIT("the matchmaker front is stopping"), true);
        return;
    }
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    mm__ws_conn *ws = sock != NULL ? calloc(1, sizeof(*ws)) : NULL;
    if (ws == NULL) {
        mm__front_respond(req, 500, "text/plain; charset=utf-8", H2O_STRLIT("cannot accept the WebSocket"), true);
        return;
    }
    ws->loop = loop;
    ws->state = WS_UPGRADING;
    ws->track = sock->on_close.data;
    ws->track->ws = ws;
    mm__front_sock_websocket(ws->track);
    mm__front_origin_from_req(&front->cfg, req, &ws->origin);
    mm__ws_link(ws);
    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-accept"), 0, NULL, accept, strlen(accept));
    h2o_http1_upgrade(req, NULL, 0, mm__ws_on_upgraded, ws);
}

/* ---- the first message ---- */

static void
timeout_text(uint32_t ms, char *out, size_t len)
{
    if (ms % 1000 == 0)
        snprintf(out, len, "%us", ms / 1000);
    else if (ms < 1000)
        snprintf(out, len, "%ums", ms);
    else
        snprintf(out, len, "%u.%03us", ms / 1000, ms % 1000);
}

static void
first_message(mm__ws_conn *ws, const uint8_t *data, size_t len)
{
    mm__front_loop *loop = ws->loop;
    mm_front *front = loop->front;
    char why[200], ip[MM_IP_TEXT_LEN];
    mm_session_request sr;
    h2o_timeout_unlink(&ws->t_first);
    if (loop->stopping) {
        mm__ws_refuse(ws, MM__REF_STOPPING, MM__OUT_STOPPED, 1001, "the matchmaker front is stopping");
        return;
    }
    if (ws->origin.error[0] != '\0') {
        mm__ws_refuse(ws, MM__REF_BAD_REQUEST, MM__OUT_INVALID, 1008, ws->origin.error);
        return;
    }
    if (mm_request_parse_ws((const char *)data, len, &sr, why, sizeof(why)) != MM_OK ||
        mm__front_origin_client_ip(&front->cfg, &ws->origin, sr.has_client_ip ? sr.client_ip : NULL, ip, why, sizeof(why)) !=
            MM_OK) {
        mm__ws_refuse(ws, MM__REF_BAD_REQUEST, MM__OUT_INVALID, 1008, why);
        return;
    }
    sr.has_client_ip = true;
    memcpy(sr.client_ip, ip, sizeof(ip));
    mm__admit a = mm__front_req_begin(loop, &ws->req, &mm__ws_req_ops, MM_FRONT_WS, ws->origin.key);
    if (a != MM__ADMIT_OK) {
        mm__ws_error_and_close(ws, 429, mm__front_admit_message(a), MM__OUT_REFUSED);
        return;
    }
    ws->state = WS_ACTIVE;
    mm_err err = mm__front_req_submit(&ws->req, &sr);
    if (err != MM_OK) {
        mm__front_req_finish(&ws->req, MM__OUT_BUSY);
        mm__ws_error_and_close(ws, err == MM_ERR_FULL || err == MM_ERR_STOPPED ? 503 : 500,
                               err == MM_ERR_FULL      ? "the matchmaker is busy, try again"
                               : err == MM_ERR_STOPPED ? "the matchmaker is stopping"
                                                       : "the matchmaker could not take the request",
                               MM__OUT_BUSY);
        return;
    }
    mm_debug("front: ws request %llu for %s/%s from %s", (unsigned long long)ws->req.id, sr.game, sr.version, sr.client_ip);
}

void
mm__ws_first_timeout(mm__ws_conn *ws)
{
    char what[32], reason[96];
    timeout_text(ws->loop->front->cfg.first_message_timeout_ms, what, sizeof(what));
    snprintf(reason, sizeof(reason), "Timeout waiting for websocket request message: %s", what);
    mm__ws_refuse(ws, MM__REF_FIRST_TIMEOUT, MM__OUT_TIMEOUT, 1008, reason);
}

/* ---- what the client sends ---- */

static void
parse_failed(mm__ws_conn *ws)
{
    const mm__ws_parser *p = &ws->parser;
    mm__refusal why = p->fail_code == 1009 ? MM__REF_TOO_LARGE : p->fail_code == 1007 ? MM__REF_BAD_UTF8 : MM__REF_PROTOCOL;
    char reason[160];
    if (p->fail_code == 1009)
        snprintf(reason, sizeof(reason), "message too large (max %u bytes)", ws->loop->front->cfg.max_message_bytes);
    else
        snprintf(reason, sizeof(reason), "%s", p->fail_reason);
    if (ws->state == WS_AWAIT_FIRST) {
        mm__ws_refuse(ws, why, MM__OUT_INVALID, p->fail_code, reason);
        return;
    }
    mm__front_count_refusal(ws->loop->front, why);
    mm__front_req_finish(&ws->req, MM__OUT_INVALID);
    mm__ws_queue_close(ws, p->fail_code, reason, MM__OUT_INVALID);
}

/* True when the client sent more frames in the current second than allowed. */
static bool
flooding(mm__ws_conn *ws, uint64_t now_ms)
{
    if (now_ms - ws->flood_window_ms >= 1000) {
        ws->flood_window_ms = now_ms;
        ws->flood_base = ws->parser.frames;
    }
    return ws->parser.frames - ws->flood_base > MM__FRONT_FRAMES_PER_SEC;
}

static void
on_flood(mm__ws_conn *ws)
{
    if (ws->state == WS_AWAIT_FIRST) {
        mm__ws_refuse(ws, MM__REF_FLOOD, MM__OUT_INVALID, 1008, "too many WebSocket frames; slow down");
        return;
    }
    mm__front_count_refusal(ws->loop->front, MM__REF_FLOOD);
    mm__front_req_finish(&ws->req, MM__OUT_INVALID);
    mm__ws_queue_close(ws, 1008, "too many WebSocket frames", MM__OUT_INVALID);
}

static void
handle_event(mm__ws_conn *ws, mm__ws_event ev, const mm__ws_payload *pl)
{
    switch (ev) {
    case MM__WS_TEXT:
        if (ws->state == WS_AWAIT_FIRST)
            first_message(ws, pl->data, pl->len);
        break;
    case MM__WS_BINARY:
        if (ws->state == WS_AWAIT_FIRST)
            mm__ws_refuse(ws, MM__REF_BINARY, MM__OUT_INVALID, 1003, "Expected text message, got a binary message");
        break;
    case MM__WS_PING:
        if (!ws->close_queued)
            mm__ws_queue_frame(ws, MM__WS_OP_PONG, pl->data, pl->len);
        break;
    case MM__WS_CLOSE:
        ws->close_received = true;
        if (!ws->close_queued) {
            mm__front_req_finish(&ws->req, MM__OUT_CLIENT_GONE);
            if (ws->state == WS_AWAIT_FIRST)
                mm__front_count_request(ws->loop->front, MM_FRONT_WS, MM__OUT_CLIENT_GONE);
            mm__ws_queue_close(ws, pl->close_code != 0 ? pl->close_code : 1000, "", MM__OUT_CLIENT_GONE);
        }
        break;
    case MM__WS_FAIL:
        parse_failed(ws);
        break;
    default:
        break;
    }
}

void
mm__ws_on_read(h2o_socket_t *sock, const char *err)
{
    mm__ws_conn *ws = sock->data;
    if (err != NULL) {
        if (ws->state == WS_AWAIT_FIRST)
            mm__front_count_request(ws->loop->front, MM_FRONT_WS, MM__OUT_CLIENT_GONE);
        mm__ws_destroy(ws, ws->close_queued ? ws->close_outcome : MM__OUT_CLIENT_GONE);
        return;
    }
    uint64_t now = mm_now_ms();
    ws->last_rx_ms = now;
    while (sock->input->size > 0 && !ws->doomed && !ws->close_received && ws->parser.fail_code == 0) {
        size_t used = 0;
        mm__ws_payload pl;
        mm__ws_event ev = mm__ws_parse(&ws->parser, (const uint8_t *)sock->input->bytes, sock->input->size, &used, &pl);
        bool flood = flooding(ws, now) && !ws->close_queued;
        if (flood) {
            on_flood(ws);
        } else if (ev != MM__WS_MORE) {
            handle_event(ws, ev, &pl);
        }
        h2o_buffer_consume(&sock->input, used);
        if (flood || (ev == MM__WS_MORE && used == 0))
            break;
    }
    if (ws->close_received || ws->parser.fail_code != 0 || ws->doomed)
        h2o_socket_read_stop(sock);
    mm__ws_settle(ws);
}

/* ---- the request's side: texts from the backend ---- */

static void
req_deliver(mm__front_req *r, const char *text, size_t len)
{
    mm__ws_conn *ws = MM__CONTAINER(r, mm__ws_conn, req);
    if (ws->close_queued || ws->doomed)
        return;
    if (mm_feedback_is_line_report(text, len) && h2o_timeout_is_linked(&ws->t_request)) {
        /* in line: the whole-request limit counts from the last report (the matchmaker bounds the line) */
        h2o_timeout_unlink(&ws->t_request);
        h2o_timeout_link(ws->loop->evloop, &ws->loop->t_request, &ws->t_request);
    }
    if (mm__ws_queue_frame(ws, MM__WS_OP_TEXT, text, len))
        mm__ws_mark_dirty(ws);
}

static void
req_end(mm__front_req *r)
{
    mm__ws_conn *ws = MM__CONTAINER(r, mm__ws_conn, req);
    mm__outcome outcome = mm__front_req_outcome(r);
    mm__front_req_finish(r, outcome);
    mm__ws_queue_close(ws, 1000, "Goodbye", outcome);
    mm__ws_mark_dirty(ws);
}

static void
req_abandon(mm__front_req *r, uint16_t status, const char *message, mm__outcome outcome)
{
    mm__ws_conn *ws = MM__CONTAINER(r, mm__ws_conn, req);
    mm__front_req_finish(r, outcome);
    mm__ws_error_and_close(ws, status, message, outcome);
    mm__ws_mark_dirty(ws);
}

const mm__front_req_ops mm__ws_req_ops = {
    .deliver = req_deliver,
    .end = req_end,
    .abandon = req_abandon,
};
