/*
 * The reference model of ws_ref.h. Deliberately plain: the whole stream is in memory, a frame
 * is read in one go, and UTF-8 is checked by decoding code points and comparing them with the
 * allowed ranges (the product keeps a per-byte state table instead).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"
#include "ws_ref.h"

void
ref_check(bool ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz_ws_frame: %s\n", what);
    abort();
}

/* Some code point in [lo, hi] is valid for a character whose shortest form starts at min. */
static bool
some_valid(uint32_t lo, uint32_t hi, uint32_t min)
{
    if (lo < min)
        lo = min;
    if (hi > 0x10ffff)
        hi = 0x10ffff;
    return lo <= hi && (lo < 0xd800 || hi > 0xdfff);
}

bool
ref_utf8(const uint8_t *s, size_t n, bool full)
{
    if (n > 0 && s == NULL)
        return false;
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t len;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        }
        if ((b & 0xe0) == 0xc0)
            len = 2, cp = b & 0x1f, min = 0x80;
        else if ((b & 0xf0) == 0xe0)
            len = 3, cp = b & 0x0f, min = 0x800;
        else if ((b & 0xf8) == 0xf0)
            len = 4, cp = b & 0x07, min = 0x10000;
        else
            return false;
        size_t have = n - i < len ? n - i : len;
        for (size_t k = 1; k < have; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (have < len) {
            if (full)
                return false;
            unsigned missing = 6 * (unsigned)(len - have);
            return some_valid(cp << missing, cp << missing | ((1u << missing) - 1), min);
        }
        if (!some_valid(cp, cp, min))
            return false;
        i += len;
    }
    return true;
}

uint64_t
ref_header_length(const uint8_t *h, size_t hn)
{
    uint64_t len = h[1] & 0x7f;
    if (hn > 2) {
        len = 0;
        for (size_t i = 2; i < hn; i++)
            len = len << 8 | h[i];
    }
    return len;
}

void
ref_events_init(ref_events *e, size_t n)
{
    memset(e, 0, sizeof(*e));
    e->cap = n / 2 + 2;
    e->ev = calloc(e->cap, sizeof(*e->ev));
}

void
ref_push(ref_events *e, int kind, uint16_t code, const uint8_t *data, size_t len)
{
    ref_check(e->n < e->cap, "more events than the stream has frames");
    ref_event *ev = &e->ev[e->n++];
    ev->kind = kind;
    ev->code = code;
    ev->len = len;
    ev->data = malloc(len + 1);
    if (len > 0)
        memcpy(ev->data, data, len);
}

void
ref_events_free(ref_events *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->ev[i].data);
    free(e->ev);
    memset(e, 0, sizeof(*e));
}

bool
ref_close_code_ok(uint16_t c)
{
    /* RFC 6455 7.4: the codes defined for the protocol that an endpoint may send, and the
     * application ranges; 1004-1006 and 1015 are reserved, 1012-2999 unassigned here */
    return (c >= 1000 && c <= 1011 && c != 1004 && c != 1005 && c != 1006) || (c >= 3000 && c <= 4999);
}

/* A complete control frame's event. */
static void
control_done(uint8_t op, const uint8_t *pl, size_t len, ref_events *out)
{
    if (op != MM__WS_OP_CLOSE) {
        ref_push(out, op == MM__WS_OP_PING ? MM__WS_PING : MM__WS_PONG, 0, pl, len);
        return;
    }
    if (len == 0) {
        ref_push(out, MM__WS_CLOSE, 0, NULL, 0);
        return;
    }
    uint16_t code = len >= 2 ? (uint16_t)(pl[0] << 8 | pl[1]) : 0;
    if (len == 1 || !ref_close_code_ok(code))
        ref_push(out, MM__WS_FAIL, 1002, NULL, 0);
    else if (!ref_utf8(pl + 2, len - 2, true))
        ref_push(out, MM__WS_FAIL, 1007, NULL, 0);
    else
        ref_push(out, MM__WS_CLOSE, code, pl + 2, len - 2);
}

void
ref_decode(const uint8_t *s, size_t n, uint64_t max, ref_events *out)
{
    uint8_t *msg = malloc(n + 1), ctrl[125];
    size_t msg_len = 0, pos = 0;
    uint8_t msg_op = 0;
    while (n - pos >= 2) {
        uint8_t b0 = s[pos], b1 = s[pos + 1], op = b0 & 0x0f;
        size_t ext = (b1 & 0x7f) == 126 ? 2 : (b1 & 0x7f) == 127 ? 8 : 0;
        size_t hsize = 2 + ext + ((b1 & 0x80) ? 4 : 0);
        if (n - pos < hsize)
            break;
        out->frames++;
        uint64_t len = b1 & 0x7f;
        if (ext > 0)
            len = ref_header_length(s + pos, 2 + ext);
        const uint8_t *key = s + pos + 2 + ext;
        bool fin = (b0 & 0x80) != 0, control = op >= 8, data = op <= 2;
        pos += hsize;
        bool protocol_error = (b0 & 0x70) != 0 || !(b1 & 0x80) || (len >> 63) != 0 || (!control && !data) || op > 10 ||
                              (control && (!fin || len > 125)) || (op == MM__WS_OP_CONT && msg_op == 0) ||
                              (op != MM__WS_OP_CONT && data && msg_op != 0);
        if (protocol_error) {
            ref_push(out, MM__WS_FAIL, 1002, NULL, 0);
            break;
        }
        if (op == MM__WS_OP_TEXT || op == MM__WS_OP_BINARY) {
            msg_op = op;
            msg_len = 0;
        }
        if (data && len > max - msg_len) {
            ref_push(out, MM__WS_FAIL, 1009, NULL, 0);
            break;
        }
        size_t avail = n - pos < len ? n - pos : (size_t)len;
        uint8_t *dst = data ? msg + msg_len : ctrl;
        for (size_t i = 0; i < avail; i++)
            dst[i] = s[pos + i] ^ key[i & 3];
        pos += avail;
        if (data) {
            msg_len += avail;
            if (msg_op == MM__WS_OP_TEXT && !ref_utf8(msg, msg_len, false)) {
                ref_push(out, MM__WS_FAIL, 1007, NULL, 0);
                break;
            }
        }
        if (avail < len)
            break; /* the stream ends inside this frame */
        if (control) {
            control_done(op, ctrl, avail, out);
            if (out->ev[out->n - 1].kind == MM__WS_FAIL)
                break;
            continue;
        }
        if (!fin)
            continue;
        if (msg_op == MM__WS_OP_TEXT && !ref_utf8(msg, msg_len, true)) {
            ref_push(out, MM__WS_FAIL, 1007, NULL, 0);
            break;
        }
        ref_push(out, msg_op == MM__WS_OP_TEXT ? MM__WS_TEXT : MM__WS_BINARY, 0, msg, msg_len);
        msg_op = 0;
    }
    free(msg);
}

static void
print_events(const char *name, const ref_events *e)
{
    fprintf(stderr, "%s: %zu events, %llu frames\n", name, e->n, (unsigned long long)e->frames);
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "  kind %d code %u len %zu\n", e->ev[i].kind, e->ev[i].code, e->ev[i].len);
}

void
ref_compare(const ref_events *want, const ref_events *got)
{
    bool same = want->n == got->n && want->frames == got->frames;
    for (size_t i = 0; same && i < want->n; i++) {
        const ref_event *a = &want->ev[i], *b = &got->ev[i];
        same = a->kind == b->kind && a->code == b->code && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
    }
    if (same)
        return;
    print_events("reference", want);
    print_events("product", got);
    ref_check(false, "the codec disagrees with the reference model");
}
