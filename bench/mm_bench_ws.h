/*
 * The client side of WebSocket (RFC 6455) as mm_bench needs it, as pure functions over
 * caller-owned buffers: no sockets, no allocation, no state. The connection code in
 * mm_bench_conn.c drives them.
 *
 *   handshake   mm_bench_ws_key() + mm_bench_ws_upgrade_request() build the GET with a fresh
 *               Sec-WebSocket-Key; mm_bench_ws_parse_response() reads the answer and checks
 *               101, Upgrade, Connection and Sec-WebSocket-Accept (SHA-1 of key + GUID).
 *   framing     mm_bench_ws_frame() writes a masked client frame (a client must mask);
 *               mm_bench_ws_parse_frame() reads one server frame and refuses what a server
 *               must not send (mask bit, reserved bits, unknown opcodes, fragmented or long
 *               control frames, non-minimal lengths are tolerated as RFC 6455 allows).
 */
#ifndef MM_BENCH_WS_H
#define MM_BENCH_WS_H

#include <stddef.h>
#include <stdint.h>

#define MM_BENCH_WS_KEY_LEN 24    /* base64 of 16 random bytes, without NUL */
#define MM_BENCH_WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1, without NUL */
#define MM_BENCH_WS_MAX_HEADER 14 /* largest frame header a client writes */

enum {
    MM_BENCH_WS_CONT = 0x0,
    MM_BENCH_WS_TEXT = 0x1,
    MM_BENCH_WS_BINARY = 0x2,
    MM_BENCH_WS_CLOSE = 0x8,
    MM_BENCH_WS_PING = 0x9,
    MM_BENCH_WS_PONG = 0xA,
};

/** What a parse step found. */
typedef enum mm_bench_ws_status {
    MM_BENCH_WS_NEED_MORE = 0, /* not enough bytes yet: read more and call again */
    MM_BENCH_WS_DONE = 1,      /* one complete item parsed */
    MM_BENCH_WS_BAD = -1,      /* the peer broke the protocol; a reason was written */
} mm_bench_ws_status;

/** A fresh random Sec-WebSocket-Key (base64 of 16 random bytes) plus NUL into key. */
void mm_bench_ws_key(char key[MM_BENCH_WS_KEY_LEN + 1]);

/** The Sec-WebSocket-Accept value a server must answer for key, plus NUL, into accept. */
void mm_bench_ws_accept(const char *key, char accept[MM_BENCH_WS_ACCEPT_LEN + 1]);

/**
 * Writes the upgrade request for path on host_header ("host:port") with key into buf. Returns
 * its length, or 0 when it does not fit in len.
 */
size_t mm_bench_ws_upgrade_request(char *buf, size_t len, const char *host_header, const char *path, const char *key);

/**
 * Parses the server's answer to the upgrade in buf[0..len). DONE: the header block ends at
 * *consumed bytes (frames may follow), the status is 101 and the headers are right for key.
 * BAD: *http_status holds the status code when one was read (else 0) and why a reason, e.g.
 * "HTTP 404 instead of 101" or "wrong Sec-WebSocket-Accept". NEED_MORE: the block has not
 * ended yet (a block over 8 KB is BAD).
 */
mm_bench_ws_status mm_bench_ws_parse_response(const char *buf, size_t len, const char *key, size_t *consumed, int *http_status,
                                              char *why, size_t why_len);

/** One parsed server frame; payload points into the caller's buffer. */
typedef struct mm_bench_ws_frame_info {
    int fin;
    int opcode;
    const uint8_t *payload;
    uint64_t payload_len;
    size_t frame_len; /* header + payload: what to consume */
} mm_bench_ws_frame_info;

/**
 * Parses one frame from buf[0..len). Frames whose payload exceeds max_payload are BAD (so a
 * caller's buffer bounds what a peer can make it hold). NEED_MORE: *needed (when not NULL) holds
 * the whole frame's length once the header is complete, else 0.
 */
mm_bench_ws_status mm_bench_ws_parse_frame(const uint8_t *buf, size_t len, uint64_t max_payload, mm_bench_ws_frame_info *f,
                                           size_t *needed, char *why, size_t why_len);

/**
 * Writes a final, masked client frame (opcode, payload of len bytes, a fresh random mask) into
 * out. Returns its length, or 0 when it does not fit in cap.
 */
size_t mm_bench_ws_frame(uint8_t *out, size_t cap, int opcode, const void *payload, size_t len);

/**
 * Reads a close frame's payload: *code = the status code (1005 when the payload is empty) and
 * the reason copied (NUL-terminated, truncated) into reason. 0, or -1 when the payload is
 * 1 byte long (invalid).
 */
int mm_bench_ws_close_payload(const uint8_t *payload, size_t len, int *code, char *reason, size_t reason_len);

#endif
