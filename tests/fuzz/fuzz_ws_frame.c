/*
 * libFuzzer driver for the web front's RFC 6455 codec (src/net/front/ws_frame.c).
 *
 * Input: byte 0 picks the mode, byte 1 the message limit, byte 2 how the stream is split.
 *   0  raw: the rest is the byte stream a client sent
 *   1  built: the rest describes frames (first byte, mask or not, length form, mask key, plain
 *      payload) that the driver writes out masked, so valid frames are common and the
 *      reassembly and UTF-8 paths are reached; lengths may lie, so frames also run into each other
 *   2  encoder: mm__ws_frame_header for a fuzzed opcode and length, then the frame masked as a
 *      client would and decoded again: the same length and payload must come back
 *   3  close payload: mm__ws_close_payload, then decoded again
 * In modes 0 and 1 the stream goes to the parser in pseudo-random pieces, each in an exactly
 * sized heap block (ASan sees any read past it), and the events must equal those of a reference
 * model: a whole-buffer decoder written from RFC 6455 with its own UTF-8 validator (code points
 * and ranges, not the product's byte table). At every call the driver also checks: no event
 * without progress, MORE only when the input is used up, the message and its buffer never above
 * the limit, control payloads at most 125 bytes, and a failed parser stays failed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"
#include "ws_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the product, fed in pieces ---- */

static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t
piece_size(uint8_t split, uint64_t *rng, size_t left)
{
    size_t n;
    switch (split & 3) {
    case 0:
        n = left; /* all at once */
        break;
    case 1:
        n = 1; /* byte by byte */
        break;
    case 2:
        n = 1 + (size_t)(next_rand(rng) % 8);
        break;
    default:
        n = 1 + (size_t)(next_rand(rng) % 512);
        break;
    }
    return n < left ? n : left;
}

static void
check_state(const mm__ws_parser *p, uint64_t max)
{
    ref_check(p->msg_len <= max, "message longer than the limit");
    ref_check(p->msg_cap <= max, "message buffer larger than the limit");
    ref_check(p->msg_len <= p->msg_cap, "message longer than its buffer");
    ref_check(p->ctrl_len <= sizeof(p->ctrl), "control payload past its buffer");
    ref_check(!p->in_payload || p->payload_got <= p->payload_len, "frame payload overrun");
}

static void
check_event(mm__ws_event ev, const mm__ws_payload *pl, const mm__ws_parser *p, uint64_t max)
{
    ref_check(pl->len == 0 || pl->data != NULL, "an event with a length but no data");
    switch (ev) {
    case MM__WS_TEXT:
        ref_check(ref_utf8(pl->data, pl->len, true), "a text message that is not UTF-8");
        /* fall through */
    case MM__WS_BINARY:
        ref_check(pl->len <= max, "a message longer than the limit");
        break;
    case MM__WS_PING:
    case MM__WS_PONG:
        ref_check(pl->len <= 125, "a control payload longer than 125 bytes");
        break;
    case MM__WS_CLOSE:
        ref_check(pl->len <= 123 && (pl->close_code != 0 || pl->len == 0), "a close frame out of shape");
        ref_check(ref_utf8(pl->data, pl->len, true), "a close reason that is not UTF-8");
        break;
    case MM__WS_FAIL:
        ref_check(p->fail_code != 0 && p->fail_reason != NULL && p->fail_reason[0] != '\0', "a failure without a reason");
        break;
    default:
        ref_check(false, "an unknown event");
    }
}

static void
run_product(const uint8_t *s, size_t n, uint64_t max, uint8_t split, ref_events *out)
{
    mm__ws_parser p;
    mm__ws_parser_init(&p, max);
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ split;
    bool failed = false;
    for (size_t at = 0; at < n && !failed;) {
        size_t piece = piece_size(split >> 2, &rng, n - at);
        uint8_t *buf = malloc(piece);
        memcpy(buf, s + at, piece);
        for (size_t off = 0;;) {
            size_t used = SIZE_MAX;
            mm__ws_payload pl;
            mm__ws_event ev = mm__ws_parse(&p, buf + off, piece - off, &used, &pl);
            ref_check(used <= piece - off, "used more than it was given");
            off += used;
            check_state(&p, max);
            if (ev == MM__WS_MORE) {
                ref_check(off == piece, "MORE with input left over");
                break;
            }
            ref_check(used > 0, "an event without progress");
            check_event(ev, &pl, &p, max);
            ref_push(out, (int)ev, ev == MM__WS_FAIL ? p.fail_code : pl.close_code, pl.data, pl.len);
            if (ev == MM__WS_FAIL) {
                failed = true;
                ref_check(mm__ws_parse(&p, buf + off, piece - off, &used, &pl) == MM__WS_FAIL && used == 0,
                          "a failed parser took more input");
                break;
            }
        }
        free(buf);
        at += piece;
    }
    out->frames = p.frames;
    mm__ws_parser_dispose(&p);
}

static void
compare(const uint8_t *s, size_t n, uint64_t max, uint8_t split)
{
    ref_events want, got;
    ref_events_init(&want, n);
    ref_events_init(&got, n);
    ref_decode(s, n, max, &want);
    run_product(s, n, max, split, &got);
    ref_compare(&want, &got);
    ref_events_free(&want);
    ref_events_free(&got);
}

/* ---- mode 1: frames described by the input ---- */

static size_t
build_stream(const uint8_t *d, size_t n, uint8_t *out)
{
    size_t at = 0, w = 0;
    while (at + 2 <= n) {
        uint8_t first = d[at++], f = d[at++];
        uint64_t len = at < n ? d[at++] : 0;
        if ((f & 0x10) && at < n)
            len = len << 8 | d[at++];
        uint8_t key[4] = {0};
        for (int i = 0; i < 4 && at < n; i++)
            key[i] = d[at++];
        size_t plen = n - at < len ? n - at : (size_t)len;
        /* length form: 0 shortest, 1 16-bit (also for short lengths), 2 64-bit, 3 shortest but lying */
        unsigned form = (f >> 1) & 3;
        uint64_t announced = form == 3 ? len + (f >> 5) : len;
        bool masked = !(f & 1);
        uint8_t m = masked ? 0x80 : 0;
        out[w++] = first;
        if (form == 2 || announced > 0xffff) {
            out[w++] = m | 127;
            for (int i = 7; i >= 0; i--)
                out[w++] = (uint8_t)(announced >> (8 * i));
        } else if (form == 1 || announced >= 126) {
            out[w++] = m | 126;
            out[w++] = (uint8_t)(announced >> 8);
            out[w++] = (uint8_t)announced;
        } else {
            out[w++] = (uint8_t)(m | announced);
        }
        if (masked) {
            memcpy(out + w, key, 4);
            w += 4;
        }
        for (size_t i = 0; i < plen; i++)
            out[w++] = d[at + i] ^ (masked ? key[i & 3] : 0);
        at += plen;
    }
    return w;
}

/* ---- modes 2 and 3: the encoder ---- */

/* The reference decodes the frame to exactly one event of that kind, code and payload. */
static void
expect_one(const uint8_t *frame, size_t n, int kind, uint16_t code, const uint8_t *payload, size_t len)
{
    ref_events e;
    ref_events_init(&e, n);
    ref_decode(frame, n, 70000, &e);
    ref_check(e.n == 1 && e.ev[0].kind == kind && e.ev[0].code == code && e.ev[0].len == len &&
                  (len == 0 || memcmp(e.ev[0].data, payload, len) == 0),
              "an encoded frame does not decode to what was encoded");
    ref_events_free(&e);
}

/* A client frame around payload, its header made by the product's encoder and then masked. */
static size_t
client_frame(uint8_t opcode, const uint8_t *payload, size_t len, const uint8_t key[4], uint8_t *out)
{
    size_t h = mm__ws_frame_header(out, opcode, len);
    out[1] |= 0x80;
    memcpy(out + h, key, 4);
    for (size_t i = 0; i < len; i++)
        out[h + 4 + i] = payload[i] ^ key[i & 3];
    return h + 4 + len;
}

static void
fuzz_encoder(const uint8_t *d, size_t n)
{
    if (n < 12)
        return;
    uint8_t opcode = d[0] & 0x0f, h[10];
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len = len << 8 | d[1 + i];
    len >>= d[9] & 63; /* every length form is likely */
    size_t hn = mm__ws_frame_header(h, opcode, len);
    ref_check(hn == (len < 126 ? 2u : len <= 0xffff ? 4u : 10u), "the header is not in its shortest form");
    ref_check(h[0] == (0x80 | opcode) && !(h[1] & 0x80), "the header is not final, unmasked, with the opcode");
    ref_check(ref_header_length(h, hn) == len, "the header does not carry the length");

    /* round trip of a payload from the input, repeated up to a length that needs 16 or 64 bits */
    const uint8_t *src = d + 12;
    size_t srcn = n - 12, plen = ((size_t)d[10] << 9 | (size_t)d[11] << 1) % 70000;
    if (srcn == 0)
        plen = 0;
    uint8_t *payload = malloc(plen + 1), *frame = malloc(plen + 14);
    for (size_t i = 0; i < plen; i++)
        payload[i] = src[i % srcn];
    static const uint8_t key[4] = {0xa5, 0x01, 0x7e, 0xc3};
    size_t fn = client_frame(opcode, payload, plen, key, frame);
    if (opcode == MM__WS_OP_BINARY || (opcode == MM__WS_OP_TEXT && ref_utf8(payload, plen, true)))
        expect_one(frame, fn, opcode == MM__WS_OP_TEXT ? MM__WS_TEXT : MM__WS_BINARY, 0, payload, plen);
    else if ((opcode == MM__WS_OP_PING || opcode == MM__WS_OP_PONG) && plen <= 125)
        expect_one(frame, fn, opcode == MM__WS_OP_PING ? MM__WS_PING : MM__WS_PONG, 0, payload, plen);
    compare(frame, fn, 70000, d[9] & 0xfc);
    free(payload);
    free(frame);
}

static void
fuzz_close(const uint8_t *d, size_t n)
{
    if (n < 3)
        return;
    uint16_t code = (uint16_t)(d[0] << 8 | d[1]);
    char *reason = malloc(n - 1);
    memcpy(reason, d + 2, n - 2);
    reason[n - 2] = '\0';
    size_t rlen = strlen(reason);
    uint8_t out[125], frame[139];
    size_t pn = mm__ws_close_payload(out, code, reason);
    ref_check(pn >= 2 && pn <= 125 && (out[0] << 8 | out[1]) == code, "the close payload lacks its code");
    size_t k = pn - 2;
    ref_check(k <= rlen && memcmp(out + 2, reason, k) == 0, "the close reason is not a prefix of the reason");
    ref_check(ref_utf8(out + 2, k, true), "the close reason was cut inside a character");
    for (size_t j = k + 1; j <= rlen && j <= 123; j++)
        ref_check(!ref_utf8((const uint8_t *)reason, j, true), "the close reason was cut shorter than it had to be");
    ref_check(mm__ws_close_payload(out, code, NULL) == 2, "a NULL reason is not empty");
    pn = mm__ws_close_payload(out, code, reason);
    static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    size_t fn = client_frame(MM__WS_OP_CLOSE, out, pn, key, frame);
    if (ref_close_code_ok(code))
        expect_one(frame, fn, MM__WS_CLOSE, code, out + 2, pn - 2);
    compare(frame, fn, 4096, d[0]);
    free(reason);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t mode = data[0] & 3, lim = data[1], split = data[2];
    /* small limits reach the size checks, the largest lets 2^62-byte headers through */
    static const uint64_t limits[4] = {0, 256, 4096, UINT64_MAX};
    uint64_t max = (lim & 0xc0) == 0 ? (uint64_t)(lim & 0x3f) * 5 : limits[lim >> 6];
    const uint8_t *rest = data + 3;
    size_t n = size - 3;
    switch (mode) {
    case 0:
        compare(rest, n, max, split);
        break;
    case 1: {
        uint8_t *stream = malloc(n * 15 + 16);
        size_t sn = build_stream(rest, n, stream);
        compare(stream, sn, max, split);
        free(stream);
        break;
    }
    case 2:
        fuzz_encoder(rest, n);
        break;
    default:
        fuzz_close(rest, n);
        break;
    }
    return 0;
}
