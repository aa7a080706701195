/*
 * Internal to src/net/front: the server side of the RFC 6455 framing, as a pure codec.
 *
 * The parser is fed the bytes a client sent, in any pieces, and returns one event at a time:
 * a whole data message (fragments reassembled), a control frame, or a failure with the close
 * code and a reason fit for `ERR <reason>`. It enforces, before it buffers anything: masking,
 * no reserved bits or opcodes, control frames of at most 125 bytes and unfragmented, the
 * message size limit (counted over all fragments, checked at each frame header, so a header
 * announcing 2 GB costs nothing), and valid UTF-8 in text messages and close reasons (checked
 * as bytes arrive). After a failure it stays failed.
 *
 * Why not wslay: wslay queues its own close frame for an oversized message or bad UTF-8
 * before any callback runs, so the client could not be told `ERR <reason>` first; and it
 * allocates a frame's announced length up front.
 */
#ifndef MM_FRONT_WS_FRAME_H
#define MM_FRONT_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    MM__WS_OP_CONT = 0x0,
    MM__WS_OP_TEXT = 0x1,
    MM__WS_OP_BINARY = 0x2,
    MM__WS_OP_CLOSE = 0x8,
    MM__WS_OP_PING = 0x9,
    MM__WS_OP_PONG = 0xa,
};

typedef enum mm__ws_event {
    MM__WS_MORE = 0, /* the input is used up and nothing is complete yet */
    MM__WS_TEXT,     /* a whole text message (valid UTF-8) */
    MM__WS_BINARY,   /* a whole binary message */
    MM__WS_PING,
    MM__WS_PONG,
    MM__WS_CLOSE, /* the peer's close frame: code (0 = none) and reason */
    MM__WS_FAIL,  /* broken input: fail_code and fail_reason say why; feed no more */
} mm__ws_event;

/* What an event carries; data stays valid until the next call on the parser. */
typedef struct mm__ws_payload {
    const uint8_t *data;
    size_t len;
    uint16_t close_code;
} mm__ws_payload;

typedef struct mm__ws_parser {
    uint64_t max_message;
    uint8_t hdr[14];
    uint8_t hdr_len;
    bool in_payload;
    bool fin;
    uint8_t opcode;
    uint8_t mask[4];
    uint64_t payload_len, payload_got;
    uint8_t msg_opcode; /* of the data message being assembled; 0 = none */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    uint8_t utf8_need, utf8_lo, utf8_hi;
    uint8_t ctrl[125];
    size_t ctrl_len;
    uint64_t frames; /* frame headers seen, for flood control */
    uint16_t fail_code;
    const char *fail_reason; /* static text */
} mm__ws_parser;

void mm__ws_parser_init(mm__ws_parser *p, uint64_t max_message);
void mm__ws_parser_dispose(mm__ws_parser *p);

/* Consumes input from in[0..len) until one event is complete; *used tells how much it took. */
mm__ws_event mm__ws_parse(mm__ws_parser *p, const uint8_t *in, size_t len, size_t *used, mm__ws_payload *out);

/* Writes an unmasked, final frame header for a payload of len bytes; returns its size (2..10). */
size_t mm__ws_frame_header(uint8_t out[10], uint8_t opcode, uint64_t len);

/* A close frame's payload: the code and as much of reason as fits in 123 bytes. */
size_t mm__ws_close_payload(uint8_t out[125], uint16_t code, const char *reason);

/* True when s[0..len) is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool mm__utf8_valid(const uint8_t *s, size_t len);

#endif
