/*
 * What a connection reads (mm_bench_conn.h): the 101 response, then server frames, in order.
 * Fragments are assembled in c->msg, pings answered, a close frame answered and followed by the
 * wait for the server's FIN (LINGER). Every complete text message goes to mm_bench_session,
 * which decides what it means; this file only times the phases and moves the connection along.
 * The request frame ({"game","version"[,"client_ip"]}) is built here with jansson.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm_bench_conn.h"

/* The request frame: {"game":..,"version":..[,"client_ip":..]}, built with jansson. */
static size_t
request_frame(const mm_bench_config *cfg, uint64_t index, uint8_t *out, size_t cap)
{
    char ip[16];
    size_t n = 0;
    json_t *obj = json_object();
    if (obj == NULL || json_object_set_new(obj, "game", json_string(cfg->game)) != 0 ||
        json_object_set_new(obj, "version", json_string(cfg->version)) != 0)
        goto cleanup;
    if (cfg->have_ip_range) {
        mm_bench_config_client_ip(cfg, index, ip);
        if (json_object_set_new(obj, "client_ip", json_string(ip)) != 0)
            goto cleanup;
    }
    char text[1024];
    size_t len = json_dumpb(obj, text, sizeof(text), JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (len > 0 && len <= sizeof(text))
        n = mm_bench_ws_frame(out, cap, MM_BENCH_WS_TEXT, text, len);
cleanup:
    json_decref(obj);
    return n;
}

/* One complete text message. */
static void
conn_deliver(mm_bench_loop *loop, mm_bench_conn *c, const uint8_t *text, size_t len, uint64_t now)
{
    const mm_bench_config *cfg = loop->cfg;
    mm_feedback_kind kind = 0;
    uint32_t told = c->session.line_reports;
    int left = c->session.line_left;
    if (c->at[MM_BENCH_PHASE_FIRST_MESSAGE] == 0)
        c->at[MM_BENCH_PHASE_FIRST_MESSAGE] = now;
    mm_bench_step step = mm_bench_session_message(&c->session, (const char *)text, len, cfg->verify ? &cfg->verifier : NULL,
                                                  cfg->verify ? mm_unix_seconds() : 0, &kind);
    if (told == 0 && c->session.line_reports > 0)
        c->at[MM_BENCH_PHASE_TOLD] = now;
    if (!left && c->session.line_left)
        c->at[MM_BENCH_PHASE_LEFT_LINE] = now;
    if (kind == MM_FEEDBACK_ACCEPTED && c->at[MM_BENCH_PHASE_ACCEPTED] == 0)
        c->at[MM_BENCH_PHASE_ACCEPTED] = now;
    if (kind == MM_FEEDBACK_READY && step == MM_BENCH_STEP_FINAL)
        c->at[MM_BENCH_PHASE_READY] = now;
    if (step == MM_BENCH_STEP_FINAL)
        mm__bench_conn_enter_grace(loop, c, MM_BENCH_CONN_CLOSING, now);
    else if (step == MM_BENCH_STEP_DONE)
        mm__bench_conn_teardown(loop, c, now);
}

static void
conn_close_frame(mm_bench_loop *loop, mm_bench_conn *c, const mm_bench_ws_frame_info *f, uint64_t now)
{
    int code = 0;
    char reason[64], why[MM__BENCH_WHY_LEN];
    uint8_t reply[MM_BENCH_WS_MAX_HEADER + 2];
    if (mm_bench_ws_close_payload(f->payload, (size_t)f->payload_len, &code, reason, sizeof(reason)) != 0) {
        mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "close frame with a 1-byte payload", now);
        return;
    }
    mm_bench_session_close_frame(&c->session, code, reason);
    mm__bench_conn_record(loop, c, now);
    /* answer the close (echoing the code) and let the server close the TCP connection first */
    uint8_t echo[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t n = mm_bench_ws_frame(reply, sizeof(reply), MM_BENCH_WS_CLOSE, echo, code == 1005 ? 0 : 2);
    if (mm__bench_conn_send(loop, c, reply, n, why, sizeof(why)) != 0) {
        mm__bench_conn_teardown(loop, c, now);
        return;
    }
    mm__bench_conn_enter_grace(loop, c, MM_BENCH_CONN_LINGER, now);
}

/* Handles one server frame; c may be torn down on return (c->fd < 0). */
static void
conn_frame(mm_bench_loop *loop, mm_bench_conn *c, const mm_bench_ws_frame_info *f, uint64_t now)
{
    char why[MM__BENCH_WHY_LEN];
    size_t len = (size_t)f->payload_len;
    switch (f->opcode) {
    case MM_BENCH_WS_TEXT:
        if (c->in_message) {
            mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "a new text frame inside a fragmented message", now);
        } else if (f->fin) {
            conn_deliver(loop, c, f->payload, len, now);
        } else {
            if ((c->msg = malloc(MM_BENCH_MAX_MESSAGE)) == NULL) {
                mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "out of memory for a fragmented message", now);
                return;
            }
            memcpy(c->msg, f->payload, len);
            c->msg_len = len;
            c->in_message = 1;
        }
        return;
    case MM_BENCH_WS_CONT:
        if (!c->in_message) {
            mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "a continuation frame without a message", now);
            return;
        }
        if (len > MM_BENCH_MAX_MESSAGE - c->msg_len) {
            snprintf(why, sizeof(why), "a fragmented message over %d bytes", MM_BENCH_MAX_MESSAGE);
            mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, why, now);
            return;
        }
        memcpy(c->msg + c->msg_len, f->payload, len);
        c->msg_len += len;
        if (f->fin) {
            c->in_message = 0;
            conn_deliver(loop, c, c->msg, c->msg_len, now);
            free(c->msg);
            c->msg = NULL;
        }
        return;
    case MM_BENCH_WS_BINARY:
        mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "a binary frame (the protocol is text only)", now);
        return;
    case MM_BENCH_WS_PING: {
        uint8_t pong[MM_BENCH_WS_MAX_HEADER + 125];
        size_t n = mm_bench_ws_frame(pong, sizeof(pong), MM_BENCH_WS_PONG, f->payload, len);
        if (mm__bench_conn_send(loop, c, pong, n, why, sizeof(why)) != 0)
            mm__bench_conn_ended(loop, c, why, now);
        return;
    }
    case MM_BENCH_WS_PONG:
        return;
    case MM_BENCH_WS_CLOSE:
        conn_close_frame(loop, c, f, now);
        return;
    default:
        mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "unknown frame", now);
        return;
    }
}

static void
conn_consume(mm_bench_conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Parses what c->in holds: the 101 response, then frames. */
void
mm__bench_conn_process(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now)
{
    char why[MM__BENCH_WHY_LEN];
    if (c->state == MM_BENCH_CONN_UPGRADING) {
        size_t used = 0;
        int status = 0;
        uint8_t frame[2048];
        mm_bench_ws_status r = mm_bench_ws_parse_response((const char *)c->in, c->in_len, c->key, &used, &status, why, sizeof(why));
        if (r == MM_BENCH_WS_NEED_MORE)
            return;
        if (r == MM_BENCH_WS_BAD) {
            mm__bench_conn_fail(loop, c, status == 101 ? MM_BENCH_PROTOCOL_VIOLATION : MM_BENCH_CONNECT_FAILED, why, now);
            return;
        }
        c->at[MM_BENCH_PHASE_UPGRADE] = now;
        c->state = MM_BENCH_CONN_OPEN;
        conn_consume(c, used);
        size_t n = request_frame(loop->cfg, c->index, frame, sizeof(frame));
        if (n == 0) {
            mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "internal: the request could not be built", now);
            return;
        }
        if (mm__bench_conn_send(loop, c, frame, n, why, sizeof(why)) != 0) {
            mm__bench_conn_ended(loop, c, why, now);
            return;
        }
    }
    while (c->fd >= 0 && c->state != MM_BENCH_CONN_LINGER && c->in_len > 0) {
        mm_bench_ws_frame_info f;
        size_t needed = 0;
        mm_bench_ws_status r = mm_bench_ws_parse_frame(c->in, c->in_len, MM_BENCH_MAX_MESSAGE, &f, &needed, why, sizeof(why));
        if (r == MM_BENCH_WS_BAD) {
            mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, why, now);
            return;
        }
        if (r == MM_BENCH_WS_NEED_MORE) {
            if (needed > c->in_cap) {
                uint8_t *grown = realloc(c->in, needed);
                if (grown == NULL) {
                    mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "out of memory for a large frame", now);
                    return;
                }
                c->in = grown;
                c->in_cap = needed;
            }
            return;
        }
        conn_frame(loop, c, &f, now);
        if (c->fd >= 0)
            conn_consume(c, f.frame_len);
    }
    if (c->state == MM_BENCH_CONN_LINGER)
        c->in_len = 0; /* after the close frames nothing more is read */
}
