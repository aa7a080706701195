/*
 * Internal to src/net/front: one WebSocket connection, shared by ws.c (the handshake, what the
 * client sends, the request) and ws_io.c (output batching, timers, closing, lifetime).
 *
 * Lifetime: allocated at the handshake, before h2o writes the 101; freed by ws_destroy only,
 * which closes the socket. While the 101 is in flight (WS_UPGRADING) h2o owns the socket and
 * will call back exactly once, so nothing may free the connection then. Code that runs inside
 * a relay turn never destroys: it marks the connection doomed and the turn's flush destroys it.
 */
#ifndef MM_FRONT_WS_CONN_H
#define MM_FRONT_WS_CONN_H

#include "front_internal.h"
#include "ws_frame.h"

typedef enum { WS_UPGRADING, WS_AWAIT_FIRST, WS_ACTIVE, WS_CLOSING } ws_state;

struct mm__ws_conn {
    mm__front_req req; /* the session request, once the first message began it */
    mm__front_loop *loop;
    mm__front_sock *track; /* the accepted socket's tracker; NULL once h2o closed that socket */
    h2o_socket_t *sock;    /* ours after the upgrade */
    ws_state state;
    mm__ws_parser parser;
    mm__front_origin origin;
    uint8_t *out, *wbuf; /* frames being collected / being written */
    size_t out_len, out_cap, wbuf_len, wbuf_cap;
    bool writing;
    bool close_in_out, close_in_flight; /* our close frame is in out / in wbuf */
    bool close_queued, close_written, close_received;
    bool doomed; /* destroy at the next settle */
    mm__outcome close_outcome;
    uint64_t last_rx_ms;
    uint64_t flood_window_ms, flood_base;
    h2o_timeout_entry_t t_first, t_request, t_ping, t_linger;
    mm__ws_conn *prev, *next;             /* loop->ws_list */
    mm__ws_conn *dirty_prev, *dirty_next; /* loop->dirty, while in_dirty */
    bool in_dirty;
};

/* ws_io.c */
void mm__ws_link(mm__ws_conn *ws);
/* Appends one frame to the output; false (and the connection doomed) if the client reads too slowly. */
bool mm__ws_queue_frame(mm__ws_conn *ws, uint8_t opcode, const void *payload, size_t len);
/* Queues our close frame (once) and starts the linger timer; the request must be finished. */
void mm__ws_queue_close(mm__ws_conn *ws, uint16_t code, const char *reason, mm__outcome outcome);
/* `ERR <reason>` then a close: a refusal before the request was handed on. */
void mm__ws_refuse(mm__ws_conn *ws, mm__refusal why, mm__outcome outcome, uint16_t code, const char *reason);
/* One Error(status, message) text then close 1000 Goodbye (the request must be finished). */
void mm__ws_error_and_close(mm__ws_conn *ws, uint16_t status, const char *message, mm__outcome outcome);
void mm__ws_doom(mm__ws_conn *ws, mm__outcome outcome);
void mm__ws_mark_dirty(mm__ws_conn *ws);
/* Writes what is queued, or destroys the connection when it is done or doomed. */
void mm__ws_settle(mm__ws_conn *ws);
void mm__ws_destroy(mm__ws_conn *ws, mm__outcome outcome);
void mm__ws_on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize);

/* ws.c */
void mm__ws_on_read(h2o_socket_t *sock, const char *err);
/* The first message did not come in time: ERR and close. */
void mm__ws_first_timeout(mm__ws_conn *ws);
extern const mm__front_req_ops mm__ws_req_ops;

#endif
