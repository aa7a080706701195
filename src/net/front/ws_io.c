/*
 * WebSocket output, timers and lifetime (ws_conn.h).
 *
 * Output is batched: frames are appended to `out` and written with one h2o_socket_write per
 * settle, while the previous write (`wbuf`) is in flight; a relay turn appends the texts of
 * many requests and flushes each socket once at its end. What one connection may have unsent
 * is bounded (MM__FRONT_WS_OUT_MAX): a client that does not read is cut, not buffered for.
 *
 * Timers (h2o timeouts of the loop, one fixed duration each): first message, whole request,
 * keep-alive ping (a peer silent for two intervals is half-open and dropped), and the linger
 * after our close frame (waiting for the client's close, so that it is not reset before it
 * read ours).
 */
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/log.h"
#include "ws_conn.h"

void
mm__ws_link(mm__ws_conn *ws)
{
    mm__front_loop *loop = ws->loop;
    ws->next = loop->ws_list;
    if (loop->ws_list != NULL)
        loop->ws_list->prev = ws;
    loop->ws_list = ws;
}

static void
unlink_ws(mm__ws_conn *ws)
{
    mm__front_loop *loop = ws->loop;
    if (ws->prev != NULL)
        ws->prev->next = ws->next;
    else
        loop->ws_list = ws->next;
    if (ws->next != NULL)
        ws->next->prev = ws->prev;
    ws->prev = ws->next = NULL;
}

static void
unlink_dirty(mm__ws_conn *ws)
{
    if (!ws->in_dirty)
        return;
    if (ws->dirty_prev != NULL)
        ws->dirty_prev->dirty_next = ws->dirty_next;
    else
        ws->loop->dirty = ws->dirty_next;
    if (ws->dirty_next != NULL)
        ws->dirty_next->dirty_prev = ws->dirty_prev;
    ws->dirty_prev = ws->dirty_next = NULL;
    ws->in_dirty = false;
}

void
mm__ws_mark_dirty(mm__ws_conn *ws)
{
    if (ws->in_dirty)
        return;
    ws->in_dirty = true;
    ws->dirty_prev = NULL;
    ws->dirty_next = ws->loop->dirty;
    if (ws->loop->dirty != NULL)
        ws->loop->dirty->dirty_prev = ws;
    ws->loop->dirty = ws;
}

void
mm__ws_doom(mm__ws_conn *ws, mm__outcome outcome)
{
    if (ws->doomed)
        return;
    ws->doomed = true;
    mm__front_req_finish(&ws->req, outcome);
    if (ws->sock != NULL)
        h2o_socket_read_stop(ws->sock);
    mm__ws_mark_dirty(ws);
}

static bool
append(mm__ws_conn *ws, uint8_t opcode, const void *payload, size_t len)
{
    if (ws->doomed)
        return false;
    uint8_t hdr[10];
    size_t h = mm__ws_frame_header(hdr, opcode, len);
    size_t need = ws->out_len + h + len;
    if (need + ws->wbuf_len > MM__FRONT_WS_OUT_MAX) {
        mm__front_count_refusal(ws->loop->front, MM__REF_SLOW_READER);
        mm__ws_doom(ws, MM__OUT_CLIENT_GONE);
        return false;
    }
    if (need > ws->out_cap) {
        size_t cap = ws->out_cap ? ws->out_cap : 512;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(ws->out, cap);
        if (grown == NULL) {
            mm_error("front: out of memory for a WebSocket's output");
            mm__ws_doom(ws, MM__OUT_CLIENT_GONE);
            return false;
        }
        ws->out = grown;
        ws->out_cap = cap;
    }
    memcpy(ws->out + ws->out_len, hdr, h);
    if (len > 0)
        memcpy(ws->out + ws->out_len + h, payload, len);
    ws->out_len = need;
    return true;
}

bool
mm__ws_queue_frame(mm__ws_conn *ws, uint8_t opcode, const void *payload, size_t len)
{
    return !ws->close_queued && append(ws, opcode, payload, len);
}

void
mm__ws_queue_close(mm__ws_conn *ws, uint16_t code, const char *reason, mm__outcome outcome)
{
    if (ws->close_queued)
        return;
    uint8_t payload[125];
    size_t n = mm__ws_close_payload(payload, code, reason);
    ws->close_queued = true;
    ws->close_outcome = outcome;
    ws->state = WS_CLOSING;
    h2o_timeout_unlink(&ws->t_first);
    h2o_timeout_unlink(&ws->t_request);
    h2o_timeout_unlink(&ws->t_ping);
    if (append(ws, MM__WS_OP_CLOSE, payload, n)) {
        ws->close_in_out = true;
        h2o_timeout_link(ws->loop->evloop, &ws->loop->t_linger, &ws->t_linger);
    }
}

void
mm__ws_refuse(mm__ws_conn *ws, mm__refusal why, mm__outcome outcome, uint16_t code, const char *reason)
{
    char text[256];
    int n = snprintf(text, sizeof(text), "ERR %s", reason);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(text))
        n = sizeof(text) - 1;
    for (int i = 4; i < n; i++) /* reasons may quote client input: keep the frame valid and plain */
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
            text[i] = '?';
    mm__front_count_refusal(ws->loop->front, why);
    mm__front_count_request(ws->loop->front, MM_FRONT_WS, outcome);
    mm__ws_queue_frame(ws, MM__WS_OP_TEXT, text, (size_t)n);
    mm__ws_queue_close(ws, code, text + 4, outcome);
}

void
mm__ws_error_and_close(mm__ws_conn *ws, uint16_t status, const char *message, mm__outcome outcome)
{
    char *text = NULL;
    size_t len = 0;
    if (mm_feedback_error(status, message, &text, &len) == MM_OK)
        mm__ws_queue_frame(ws, MM__WS_OP_TEXT, text, len);
    free(text);
    mm__ws_queue_close(ws, 1000, "Goodbye", outcome);
}

void
mm__ws_destroy(mm__ws_conn *ws, mm__outcome outcome)
{
    mm__front_req_finish(&ws->req, outcome);
    h2o_timeout_unlink(&ws->t_first);
    h2o_timeout_unlink(&ws->t_request);
    h2o_timeout_unlink(&ws->t_ping);
    h2o_timeout_unlink(&ws->t_linger);
    unlink_dirty(ws);
    unlink_ws(ws);
    mm__ws_parser_dispose(&ws->parser);
    if (ws->track != NULL)
        ws->track->ws = NULL;
    if (ws->sock != NULL)
        h2o_socket_close(ws->sock); /* h2o drops the write in flight, if any: free wbuf after */
    free(ws->out);
    free(ws->wbuf);
    free(ws);
}

static void
on_written(h2o_socket_t *sock, const char *err)
{
    mm__ws_conn *ws = sock->data;
    ws->writing = false;
    ws->wbuf_len = 0;
    if (err != NULL) {
        mm__ws_destroy(ws, MM__OUT_CLIENT_GONE);
        return;
    }
    if (ws->close_in_flight) {
        ws->close_in_flight = false;
        ws->close_written = true;
    }
    mm__ws_settle(ws);
}

void
mm__ws_settle(mm__ws_conn *ws)
{
    if (ws->state == WS_UPGRADING)
        return;
    /* done: our close is out and the client's came back (or it can no longer be read) */
    if (ws->doomed || (ws->close_written && (ws->close_received || ws->parser.fail_code != 0))) {
        mm__ws_destroy(ws, ws->close_outcome);
        return;
    }
    if (ws->writing || ws->out_len == 0)
        return;
    uint8_t *b = ws->wbuf;
    size_t cap = ws->wbuf_cap;
    ws->wbuf = ws->out;
    ws->wbuf_cap = ws->out_cap;
    ws->wbuf_len = ws->out_len;
    ws->out = b;
    ws->out_cap = cap;
    ws->out_len = 0;
    ws->close_in_flight = ws->close_in_out;
    ws->close_in_out = false;
    ws->writing = true;
    h2o_iovec_t v = h2o_iovec_init(ws->wbuf, ws->wbuf_len);
    h2o_socket_write(ws->sock, &v, 1, on_written);
}

/* ---- timers ---- */

static void
on_first_timeout(h2o_timeout_entry_t *e)
{
    mm__ws_conn *ws = MM__CONTAINER(e, mm__ws_conn, t_first);
    mm__ws_first_timeout(ws);
    mm__ws_settle(ws);
}

static void
on_request_timeout(h2o_timeout_entry_t *e)
{
    mm__ws_conn *ws = MM__CONTAINER(e, mm__ws_conn, t_request);
    if (ws->state == WS_ACTIVE && ws->req.id != 0) {
        mm__front_count_refusal(ws->loop->front, MM__REF_REQ_TIMEOUT);
        ws->req.ops->abandon(&ws->req, 408, "Request timeout", MM__OUT_TIMEOUT);
    } else if (ws->state == WS_AWAIT_FIRST) {
        mm__ws_first_timeout(ws);
    }
    mm__ws_settle(ws);
}

static void
on_ping(h2o_timeout_entry_t *e)
{
    mm__ws_conn *ws = MM__CONTAINER(e, mm__ws_conn, t_ping);
    uint64_t interval = ws->loop->front->cfg.ping_interval_ms;
    if (mm_now_ms() - ws->last_rx_ms >= 2 * interval) {
        mm__front_count_refusal(ws->loop->front, MM__REF_HALF_OPEN);
        if (ws->state == WS_AWAIT_FIRST)
            mm__front_count_request(ws->loop->front, MM_FRONT_WS, MM__OUT_CLIENT_GONE);
        mm__ws_destroy(ws, MM__OUT_CLIENT_GONE);
        return;
    }
    mm__ws_queue_frame(ws, MM__WS_OP_PING, NULL, 0);
    h2o_timeout_link(ws->loop->evloop, &ws->loop->t_ping, &ws->t_ping);
    mm__ws_settle(ws);
}

static void
on_linger(h2o_timeout_entry_t *e)
{
    mm__ws_conn *ws = MM__CONTAINER(e, mm__ws_conn, t_linger);
    mm__ws_destroy(ws, ws->close_outcome);
}

void
mm__ws_on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
    mm__ws_conn *ws = data;
    if (sock == NULL) {
        /* the 101 could not be written; make sure the socket is closed (h2o versions differ) */
        mm__front_sock *t = ws->track;
        if (t != NULL) {
            t->ws = NULL;
            h2o_socket_close(t->sock);
        }
        unlink_ws(ws);
        free(ws);
        return;
    }
    mm__front_loop *loop = ws->loop;
    ws->sock = sock;
    sock->data = ws;
    h2o_buffer_consume(&sock->input, reqsize);
    ws->state = WS_AWAIT_FIRST;
    mm__ws_parser_init(&ws->parser, loop->front->cfg.max_message_bytes);
    ws->last_rx_ms = ws->flood_window_ms = mm_now_ms();
    ws->t_first.cb = on_first_timeout;
    ws->t_request.cb = on_request_timeout;
    ws->t_ping.cb = on_ping;
    ws->t_linger.cb = on_linger;
    h2o_timeout_link(loop->evloop, &loop->t_first, &ws->t_first);
    h2o_timeout_link(loop->evloop, &loop->t_request, &ws->t_request);
    h2o_timeout_link(loop->evloop, &loop->t_ping, &ws->t_ping);
    if (loop->stopping) {
        mm__ws_refuse(ws, MM__REF_STOPPING, MM__OUT_STOPPED, 1001, "the matchmaker front is stopping");
        mm__ws_settle(ws);
        return;
    }
    h2o_socket_read_start(sock, mm__ws_on_read);
    if (sock->input->size > 0)
        mm__ws_on_read(sock, NULL);
}

/* ---- the loop's hooks ---- */

void
mm__front_ws_flush_dirty(mm__front_loop *loop)
{
    while (loop->dirty != NULL) {
        mm__ws_conn *ws = loop->dirty;
        unlink_dirty(ws);
        mm__ws_settle(ws);
    }
}

void
mm__front_ws_stop_idle(mm__front_loop *loop)
{
    mm__ws_conn *next;
    for (mm__ws_conn *ws = loop->ws_list; ws != NULL; ws = next) {
        next = ws->next;
        if (ws->state == WS_AWAIT_FIRST) {
            mm__ws_refuse(ws, MM__REF_STOPPING, MM__OUT_STOPPED, 1001, "the matchmaker front is stopping");
            mm__ws_settle(ws);
        }
    }
}

void
mm__front_ws_kill_all(mm__front_loop *loop)
{
    mm__ws_conn *next;
    for (mm__ws_conn *ws = loop->ws_list; ws != NULL; ws = next) {
        next = ws->next;
        if (ws->state != WS_UPGRADING)
            mm__ws_destroy(ws, MM__OUT_STOPPED);
    }
}
