/*
 * A reference model of the server side of RFC 6455 framing, for fuzz_ws_frame.c: what the
 * product's codec (src/net/front/ws_frame.c) must report for a byte stream, written
 * independently of it. It decodes a whole buffer at once; the product, fed the same bytes in
 * any pieces, must produce the same events.
 *
 * The rules are those of ws_frame.h: a header counts once all of it has arrived (2 bytes, the
 * extended length, the mask key when the mask bit is set); every protocol error is close code
 * 1002 and is checked before the size limit (1009, counted over the fragments of a message);
 * a text message fails with 1007 as soon as its bytes so far cannot begin valid UTF-8; a close
 * payload is checked when the frame is complete.
 */
#ifndef MM_FUZZ_WS_REF_H
#define MM_FUZZ_WS_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One event: kind is an mm__ws_event value; code the close code, or the failure's code. */
typedef struct ref_event {
    int kind;
    uint16_t code;
    uint8_t *data; /* owned copy */
    size_t len;
} ref_event;

typedef struct ref_events {
    ref_event *ev;
    size_t n, cap;
    uint64_t frames; /* frame headers completed */
} ref_events;

/* Aborts with the message on stderr when ok is false. */
void ref_check(bool ok, const char *what);

/* True when s[0..n) is valid UTF-8; with full false, a last character cut short passes when
 * some continuation could still complete it. */
bool ref_utf8(const uint8_t *s, size_t n, bool full);

/* A close code a client may send (RFC 6455 section 7.4). */
bool ref_close_code_ok(uint16_t code);

/* The payload length a server frame header of hn bytes announces. */
uint64_t ref_header_length(const uint8_t *h, size_t hn);

/* Room for the events of a stream of n bytes (each event takes at least 2 of them). */
void ref_events_init(ref_events *e, size_t n);
void ref_push(ref_events *e, int kind, uint16_t code, const uint8_t *data, size_t len);
void ref_events_free(ref_events *e);

/* The events a server must report for the client byte stream s[0..n) with message limit max. */
void ref_decode(const uint8_t *s, size_t n, uint64_t max, ref_events *out);

/* Aborts, printing both sequences, unless got equals want (kinds, codes, payloads, frames). */
void ref_compare(const ref_events *want, const ref_events *got);

#endif
