/*
 * The RFC 6455 frame codec of the web front (ws_frame.h): a byte-at-a-time header reader, a
 * payload copier that unmasks into the message (or control) buffer, and an incremental UTF-8
 * check. The parser never allocates more than the message limit, and only for bytes that
 * actually arrived.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

/* ---- UTF-8: the state is how many continuation bytes are due and the range of the next ---- */

static bool
utf8_step(uint8_t *need, uint8_t *lo, uint8_t *hi, uint8_t b)
{
    if (*need > 0) {
        if (b < *lo || b > *hi)
            return false;
        (*need)--;
        *lo = 0x80;
        *hi = 0xbf;
        return true;
    }
    *lo = 0x80;
    *hi = 0xbf;
    if (b < 0x80)
        return true;
    if (b >= 0xc2 && b <= 0xdf)
        *need = 1;
    else if (b == 0xe0)
        *need = 2, *lo = 0xa0;
    else if (b == 0xed)
        *need = 2, *hi = 0x9f; /* no surrogates */
    else if (b >= 0xe1 && b <= 0xef)
        *need = 2;
    else if (b == 0xf0)
        *need = 3, *lo = 0x90;
    else if (b == 0xf4)
        *need = 3, *hi = 0x8f; /* nothing past U+10FFFF */
    else if (b >= 0xf1 && b <= 0xf3)
        *need = 3;
    else
        return false;
    return true;
}

bool
mm__utf8_valid(const uint8_t *s, size_t len)
{
    uint8_t need = 0, lo = 0x80, hi = 0xbf;
    for (size_t i = 0; i < len; i++)
        if (!utf8_step(&need, &lo, &hi, s[i]))
            return false;
    return need == 0;
}

/* ---- parser ---- */

void
mm__ws_parser_init(mm__ws_parser *p, uint64_t max_message)
{
    memset(p, 0, sizeof(*p));
    p->max_message = max_message;
    p->utf8_lo = 0x80;
    p->utf8_hi = 0xbf;
}

void
mm__ws_parser_dispose(mm__ws_parser *p)
{
    if (p == NULL)
        return;
    free(p->msg);
    p->msg = NULL;
    p->msg_cap = p->msg_len = 0;
}

static mm__ws_event
fail(mm__ws_parser *p, uint16_t code, const char *reason)
{
    p->fail_code = code;
    p->fail_reason = reason;
    return MM__WS_FAIL;
}

/* Bytes the header needs, judging by what is there so far. */
static size_t
header_size(const mm__ws_parser *p)
{
    if (p->hdr_len < 2)
        return 2;
    size_t n = 2 + ((p->hdr[1] & 0x80) ? 4 : 0);
    uint8_t len7 = p->hdr[1] & 0x7f;
    return n + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
}

static bool
is_valid_close_code(uint16_t c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

/* The header is complete: decode and check it. Returns MM__WS_MORE to go on. */
static mm__ws_event
header_done(mm__ws_parser *p)
{
    const uint8_t *h = p->hdr;
    p->fin = (h[0] & 0x80) != 0;
    p->opcode = h[0] & 0x0f;
    p->frames++;
    if (h[0] & 0x70)
        return fail(p, 1002, "WebSocket frame with reserved bits set");
    if (!(h[1] & 0x80))
        return fail(p, 1002, "WebSocket frame from a client is not masked");
    size_t at = 2;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        at = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
        at = 10;
        if (len >> 63)
            return fail(p, 1002, "WebSocket frame length is out of range");
    }
    memcpy(p->mask, h + at, 4);
    p->payload_len = len;
    p->payload_got = 0;
    switch (p->opcode) {
    case MM__WS_OP_CLOSE:
    case MM__WS_OP_PING:
    case MM__WS_OP_PONG:
        if (!p->fin || len > 125)
            return fail(p, 1002, "WebSocket control frame is fragmented or longer than 125 bytes");
        p->ctrl_len = 0;
        break;
    case MM__WS_OP_CONT:
        if (p->msg_opcode == 0)
            return fail(p, 1002, "WebSocket continuation frame without a message to continue");
        break;
    case MM__WS_OP_TEXT:
    case MM__WS_OP_BINARY:
        if (p->msg_opcode != 0)
            return fail(p, 1002, "WebSocket message started inside a fragmented message");
        p->msg_opcode = p->opcode;
        p->msg_len = 0;
        p->utf8_need = 0;
        break;
    default:
        return fail(p, 1002, "WebSocket frame with an unknown opcode");
    }
    if (p->opcode < MM__WS_OP_CLOSE && len > p->max_message - p->msg_len)
        return fail(p, 1009, "message too large");
    p->in_payload = true;
    return MM__WS_MORE;
}

/* The payload of the current frame is complete. */
static mm__ws_event
frame_done(mm__ws_parser *p, mm__ws_payload *out)
{
    p->in_payload = false;
    p->hdr_len = 0;
    memset(out, 0, sizeof(*out));
    switch (p->opcode) {
    case MM__WS_OP_CLOSE:
        if (p->ctrl_len == 1)
            return fail(p, 1002, "WebSocket close frame with a 1-byte payload");
        if (p->ctrl_len >= 2) {
            out->close_code = (uint16_t)(p->ctrl[0] << 8 | p->ctrl[1]);
            if (!is_valid_close_code(out->close_code))
                return fail(p, 1002, "WebSocket close frame with an invalid code");
            if (!mm__utf8_valid(p->ctrl + 2, p->ctrl_len - 2))
                return fail(p, 1007, "WebSocket close reason is not valid UTF-8");
            out->data = p->ctrl + 2;
            out->len = p->ctrl_len - 2;
        }
        return MM__WS_CLOSE;
    case MM__WS_OP_PING:
    case MM__WS_OP_PONG:
        out->data = p->ctrl;
        out->len = p->ctrl_len;
        return p->opcode == MM__WS_OP_PING ? MM__WS_PING : MM__WS_PONG;
    default:
        if (!p->fin)
            return MM__WS_MORE;
        if (p->msg_opcode == MM__WS_OP_TEXT && p->utf8_need != 0)
            return fail(p, 1007, "message is not valid UTF-8");
        out->data = p->msg;
        out->len = p->msg_len;
        mm__ws_event ev = p->msg_opcode == MM__WS_OP_TEXT ? MM__WS_TEXT : MM__WS_BINARY;
        p->msg_opcode = 0;
        return ev;
    }
}

/* Copies and unmasks payload bytes; checks UTF-8 of text as it goes. Returns MM__WS_MORE or FAIL. */
static mm__ws_event
take_payload(mm__ws_parser *p, const uint8_t *in, size_t n)
{
    uint8_t *dst;
    if (p->opcode >= MM__WS_OP_CLOSE) {
        dst = p->ctrl + p->ctrl_len;
        p->ctrl_len += n;
    } else {
        if (p->msg_len + n > p->msg_cap) {
            size_t cap = p->msg_cap ? p->msg_cap : 256;
            while (cap < p->msg_len + n)
                cap *= 2;
            if (cap > p->max_message)
                cap = (size_t)p->max_message;
            uint8_t *grown = realloc(p->msg, cap);
            if (grown == NULL)
                return fail(p, 1011, "out of memory");
            p->msg = grown;
            p->msg_cap = cap;
        }
        dst = p->msg + p->msg_len;
        p->msg_len += n;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = in[i] ^ p->mask[(p->payload_got + i) & 3];
    p->payload_got += n;
    if (p->opcode < MM__WS_OP_CLOSE && p->msg_opcode == MM__WS_OP_TEXT)
        for (size_t i = 0; i < n; i++)
            if (!utf8_step(&p->utf8_need, &p->utf8_lo, &p->utf8_hi, dst[i]))
                return fail(p, 1007, "message is not valid UTF-8");
    return MM__WS_MORE;
}

mm__ws_event
mm__ws_parse(mm__ws_parser *p, const uint8_t *in, size_t len, size_t *used, mm__ws_payload *out)
{
    size_t pos = 0;
    mm__ws_event ev = MM__WS_MORE;
    memset(out, 0, sizeof(*out));
    if (p->fail_code != 0) {
        *used = 0;
        return MM__WS_FAIL;
    }
    while (ev == MM__WS_MORE) {
        if (!p->in_payload) {
            size_t need = header_size(p);
            while (p->hdr_len < need && pos < len) {
                p->hdr[p->hdr_len++] = in[pos++];
                need = header_size(p);
            }
            if (p->hdr_len < need)
                break;
            if ((ev = header_done(p)) != MM__WS_MORE)
                break;
        }
        size_t n = len - pos;
        if (n > p->payload_len - p->payload_got)
            n = (size_t)(p->payload_len - p->payload_got);
        if (n > 0)
            ev = take_payload(p, in + pos, n);
        /* counted on failure too (invalid UTF-8, out of memory): the stream ends at these bytes,
         * and a FAIL that said it used nothing looked like no progress (found by fuzz_ws_frame) */
        pos += n;
        if (ev != MM__WS_MORE)
            break;
        if (p->payload_got < p->payload_len)
            break;
        ev = frame_done(p, out);
    }
    *used = pos;
    return ev;
}

/* ---- encoder ---- */

size_t
mm__ws_frame_header(uint8_t out[10], uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

size_t
mm__ws_close_payload(uint8_t out[125], uint16_t code, const char *reason)
{
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason != NULL ? strlen(reason) : 0;
    if (n > 123)
        n = 123;
    /* never cut a UTF-8 sequence in half */
    while (n > 0 && !mm__utf8_valid((const uint8_t *)reason, n))
        n--;
    if (n > 0)
        memcpy(out + 2, reason, n);
    return 2 + n;
}
