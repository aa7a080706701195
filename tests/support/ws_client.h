/*
 * A blocking WebSocket and HTTP/1.1 client for tests and load tools: plain TCP to 127.0.0.1,
 * RFC 6455 framing written by hand, so that a test can also send what a browser never would
 * (unmasked, fragmented, oversized, binary or broken frames, bad UTF-8, raw bytes).
 *
 * Every call that waits takes a timeout in milliseconds and never blocks longer; -1 means it
 * ran out (or the peer failed). One client per thread; nothing is shared.
 */
#ifndef MM_TEST_WS_CLIENT_H
#define MM_TEST_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MM_WS_OP_CONT 0x0
#define MM_WS_OP_TEXT 0x1
#define MM_WS_OP_BINARY 0x2
#define MM_WS_OP_CLOSE 0x8
#define MM_WS_OP_PING 0x9
#define MM_WS_OP_PONG 0xa
#define MM_WS_FIN 0x80

typedef struct mm_ws_client {
    int fd;
    uint8_t in[1 << 16]; /* received, not yet parsed */
    size_t in_len;
    bool auto_pong;       /* answer pings while receiving (default true) */
    unsigned pings_seen;  /* pings received so far */
    unsigned pongs_seen;  /* pongs received so far */
    int http_status;      /* of the handshake */
    char response[2048];  /* the handshake's response head */
} mm_ws_client;

typedef struct mm_ws_msg {
    int opcode;      /* MM_WS_OP_TEXT, _BINARY or _CLOSE (pings are answered, pongs counted away) */
    char *data;      /* NUL-terminated copy (free with mm_ws_msg_free) */
    size_t len;
    int close_code;  /* for MM_WS_OP_CLOSE: the code, 0 when none */
} mm_ws_msg;

/** Opens a TCP connection to 127.0.0.1:port; fd or -1. */
int mm_tcp_connect(uint16_t port, int timeout_ms);

/* Low-level helpers shared by the clients: a monotonic clock, the time left to a deadline,
 * a send of everything (0 or -1) and one read (>0 bytes, 0 at EOF, -1 on timeout or error). */
int64_t mm_tc_now_ms(void);
int mm_tc_left(int64_t deadline_ms);
int mm_tc_send_all(int fd, const void *data, size_t len, int timeout_ms);
int mm_tc_read_some(int fd, uint8_t *buf, size_t room, int64_t deadline_ms);

/**
 * Connects and performs the opening handshake for path (with its query string); extra_headers
 * (may be NULL) are complete "Name: value\r\n" lines. Returns 0 on 101 with a correct
 * Sec-WebSocket-Accept, else -1 (c->http_status holds the status seen, 0 if none; the socket is
 * left open so the caller can read the answer, and closed by mm_ws_close).
 */
int mm_ws_connect(mm_ws_client *c, uint16_t port, const char *path, const char *extra_headers, int timeout_ms);

/** Sends one frame: first_byte is FIN|RSV|opcode; masked unless mask is false. 0 or -1. */
int mm_ws_send_frame(mm_ws_client *c, uint8_t first_byte, const void *payload, size_t len, bool mask);
/** Sends one masked text frame. */
int mm_ws_send_text(mm_ws_client *c, const char *text);
/** Sends raw bytes. */
int mm_ws_send_raw(mm_ws_client *c, const void *data, size_t len);

/**
 * Receives the next message (fragments reassembled; pings answered when auto_pong, pongs
 * skipped). Returns 1 with *m filled, 0 when the connection ended without a close frame, -1 on
 * timeout or a framing error.
 */
int mm_ws_recv(mm_ws_client *c, mm_ws_msg *m, int timeout_ms);
void mm_ws_msg_free(mm_ws_msg *m);

/** Waits until the server closes the TCP connection (reading and discarding); 0 or -1. */
int mm_ws_wait_eof(mm_ws_client *c, int timeout_ms);

/** Closes the socket (no close frame: send one first if wanted). Accepts a closed client. */
void mm_ws_close(mm_ws_client *c);

/* ---- HTTP ---- */

typedef struct mm_http_resp {
    int status;
    char head[4096];  /* status line and headers, lower-cased names */
    char *raw;        /* the body as received (chunk framing included) */
    size_t raw_len;
    char *body;       /* the body decoded (chunks joined) */
    size_t body_len;
    size_t chunks;    /* number of chunks, for a chunked body */
} mm_http_resp;

/**
 * Sends request (complete, as raw bytes) on a new connection and reads the answer until the
 * server closes or the body is complete. Returns 0 with *out filled (mm_http_resp_free), or -1.
 */
int mm_http_raw(uint16_t port, const char *request, size_t len, mm_http_resp *out, int timeout_ms);

/** GET path with Connection: close. */
int mm_http_get(uint16_t port, const char *path, mm_http_resp *out, int timeout_ms);

/** POST path with body (may be NULL) and extra header lines. */
int mm_http_post(uint16_t port, const char *path, const char *extra_headers, const char *body, mm_http_resp *out,
                 int timeout_ms);

/** The value of header name (lower case) copied into out; false when absent. */
bool mm_http_header(const mm_http_resp *r, const char *name, char *out, size_t out_len);

void mm_http_resp_free(mm_http_resp *r);

#endif
