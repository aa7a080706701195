/*
 * The RFC 6455 codec of the web front (src/net/front/ws_frame.c), fed in every split: whole,
 * byte by byte, and with frames back to back. Masking, fragments with control frames between
 * them, every refusal with its close code, the size limit checked at the header, incremental
 * UTF-8 validation (overlongs, surrogates, code points past U+10FFFF, sequences cut at the end),
 * and the encoder's three length forms.
 */
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "ws_frame.h"

/* Appends a masked client frame to buf; returns the new length. */
static size_t
frame(uint8_t *buf, size_t at, uint8_t first, const void *payload, size_t len, bool mask)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    buf[at++] = first;
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        buf[at++] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        buf[at++] = m | 126;
        buf[at++] = (uint8_t)(len >> 8);
        buf[at++] = (uint8_t)len;
    } else {
        buf[at++] = m | 127;
        for (int i = 7; i >= 0; i--)
            buf[at++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(buf + at, key, 4);
        at += 4;
    }
    for (size_t i = 0; i < len; i++)
        buf[at + i] = ((const uint8_t *)payload)[i] ^ (mask ? key[i & 3] : 0);
    return at + len;
}

typedef struct result {
    mm__ws_event ev[16];
    char data[16][256];
    size_t len[16];
    uint16_t code[16];
    int n;
    uint16_t fail_code;
} result;

/* Feeds input in pieces of `step` bytes (0 = all at once), collecting events until FAIL or end. */
static void
feed(const uint8_t *in, size_t len, size_t step, uint64_t max, result *r)
{
    mm__ws_parser p;
    mm__ws_parser_init(&p, max);
    memset(r, 0, sizeof(*r));
    size_t at = 0;
    while (at < len && r->n < 16) {
        size_t piece = step == 0 || len - at < step ? len - at : step;
        size_t off = 0;
        while (off < piece && r->n < 16) {
            size_t used;
            mm__ws_payload pl;
            mm__ws_event ev = mm__ws_parse(&p, in + at + off, piece - off, &used, &pl);
            off += used;
            if (ev == MM__WS_MORE)
                break;
            r->ev[r->n] = ev;
            r->len[r->n] = pl.len;
            r->code[r->n] = pl.close_code;
            memcpy(r->data[r->n], pl.data ? (const char *)pl.data : "", pl.len < 255 ? pl.len : 255);
            r->n++;
            if (ev == MM__WS_FAIL) {
                r->fail_code = p.fail_code;
                mm__ws_parser_dispose(&p);
                return;
            }
        }
        at += piece;
    }
    mm__ws_parser_dispose(&p);
}

static void
test_messages(void)
{
    static uint8_t buf[4096];
    size_t n = 0;
    n = frame(buf, n, 0x81, "hello", 5, true);
    n = frame(buf, n, 0x01, "frag", 4, true);              /* text, not final */
    n = frame(buf, n, 0x89, "p", 1, true);                 /* a ping in between */
    n = frame(buf, n, 0x00, "men", 3, true);               /* continuation */
    n = frame(buf, n, 0x80, "ted \xc3\xa9", 6, true);      /* final continuation, UTF-8 é */
    n = frame(buf, n, 0x82, "\x00\xff", 2, true);          /* binary */
    n = frame(buf, n, 0x8a, "", 0, true);                  /* pong */
    n = frame(buf, n, 0x81, "", 0, true);                  /* empty text */
    n = frame(buf, n, 0x88, "\x03\xe8" "bye", 5, true);    /* close 1000 "bye" */
    size_t steps[] = {0, 1, 2, 3, 7};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        result r;
        feed(buf, n, steps[s], 4096, &r);
        MM_CHECK_INT(r.n, ==, 7);
        MM_CHECK_INT(r.ev[0], ==, MM__WS_TEXT);
        MM_CHECK_STR(r.data[0], "hello");
        MM_CHECK_INT(r.ev[1], ==, MM__WS_PING);
        MM_CHECK_STR(r.data[1], "p");
        MM_CHECK_INT(r.ev[2], ==, MM__WS_TEXT);
        MM_CHECK_STR(r.data[2], "fragmented \xc3\xa9");
        MM_CHECK_INT(r.ev[3], ==, MM__WS_BINARY);
        MM_CHECK_INT(r.len[3], ==, 2);
        MM_CHECK_INT(r.ev[4], ==, MM__WS_PONG);
        MM_CHECK_INT(r.ev[5], ==, MM__WS_TEXT);
        MM_CHECK_INT(r.len[5], ==, 0);
        MM_CHECK_INT(r.ev[6], ==, MM__WS_CLOSE);
        MM_CHECK_INT(r.code[6], ==, 1000);
        MM_CHECK_STR(r.data[6], "bye");
    }
    /* 16- and 64-bit lengths */
    static uint8_t big[70300 + 64];
    static char payload[70000];
    memset(payload, 'z', sizeof(payload));
    size_t m = frame(big, 0, 0x81, payload, 300, true);
    m = frame(big, m, 0x81, payload, 70000, true);
    result r;
    feed(big, m, 1000, 100000, &r);
    MM_CHECK_INT(r.n, ==, 2);
    MM_CHECK_INT(r.len[0], ==, 300);
    MM_CHECK_INT(r.len[1], ==, 70000);
    /* a close frame without a code */
    m = frame(big, 0, 0x88, "", 0, true);
    feed(big, m, 0, 100, &r);
    MM_CHECK_INT(r.ev[0], ==, MM__WS_CLOSE);
    MM_CHECK_INT(r.code[0], ==, 0);
}

static void
expect_fail(const uint8_t *in, size_t len, uint64_t max, uint16_t code, const char *what)
{
    for (size_t step = 0; step <= 1; step++) {
        result r;
        feed(in, len, step, max, &r);
        if (r.n == 0 || r.ev[r.n - 1] != MM__WS_FAIL || r.fail_code != code)
            fprintf(stderr, "%s (step %zu): %d events, fail %u\n", what, step, r.n, r.fail_code);
        MM_CHECK(r.n > 0 && r.ev[r.n - 1] == MM__WS_FAIL);
        MM_CHECK_INT(r.fail_code, ==, code);
    }
}

static void
test_refusals(void)
{
    uint8_t buf[512];
    char payload[200];
    memset(payload, 'a', sizeof(payload));
    size_t n;
    n = frame(buf, 0, 0x81, "x", 1, false);
    expect_fail(buf, n, 100, 1002, "unmasked");
    n = frame(buf, 0, 0xc1, "x", 1, true);
    expect_fail(buf, n, 100, 1002, "rsv1");
    n = frame(buf, 0, 0x83, "x", 1, true);
    expect_fail(buf, n, 100, 1002, "opcode 3");
    n = frame(buf, 0, 0x8b, "x", 1, true);
    expect_fail(buf, n, 100, 1002, "opcode 11");
    n = frame(buf, 0, 0x80, "x", 1, true);
    expect_fail(buf, n, 100, 1002, "continuation first");
    n = frame(buf, 0, 0x01, "x", 1, true);
    n = frame(buf, n, 0x81, "y", 1, true);
    expect_fail(buf, n, 100, 1002, "text inside a fragmented message");
    n = frame(buf, 0, 0x09, "x", 1, true);
    expect_fail(buf, n, 100, 1002, "fragmented ping");
    n = frame(buf, 0, 0x89, payload, 126, true);
    expect_fail(buf, n, 1000, 1002, "long ping");
    n = frame(buf, 0, 0x88, "\x03", 1, true);
    expect_fail(buf, n, 100, 1002, "1-byte close");
    n = frame(buf, 0, 0x88, "\x03\xed", 2, true); /* 1005 may not be sent */
    expect_fail(buf, n, 100, 1002, "close 1005");
    n = frame(buf, 0, 0x88, "\x03\xe8\xff", 3, true);
    expect_fail(buf, n, 100, 1007, "close reason not UTF-8");
    n = frame(buf, 0, 0x81, payload, 101, true);
    expect_fail(buf, n, 100, 1009, "too large");
    n = frame(buf, 0, 0x01, payload, 60, true);
    n = frame(buf, n, 0x80, payload, 41, true);
    expect_fail(buf, n, 100, 1009, "too large in fragments");
    n = frame(buf, 0, 0x81, payload, 100, true); /* exactly the limit is fine */
    result r;
    feed(buf, n, 0, 100, &r);
    MM_CHECK_INT(r.ev[0], ==, MM__WS_TEXT);
    /* a 2^62-byte announcement fails at its header: only the header was given */
    static const uint8_t huge[] = {0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_fail(huge, sizeof(huge), 4096, 1009, "2^62 bytes");
    static const uint8_t toohuge[] = {0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_fail(toohuge, sizeof(toohuge), 4096, 1002, "2^63 bytes");
    /* after a failure the parser stays failed */
    mm__ws_parser p;
    mm__ws_parser_init(&p, 10);
    size_t used;
    mm__ws_payload pl;
    n = frame(buf, 0, 0x81, "x", 1, false);
    MM_CHECK_INT(mm__ws_parse(&p, buf, n, &used, &pl), ==, MM__WS_FAIL);
    n = frame(buf, 0, 0x81, "x", 1, true);
    MM_CHECK_INT(mm__ws_parse(&p, buf, n, &used, &pl), ==, MM__WS_FAIL);
    MM_CHECK_INT(used, ==, 0);
    mm__ws_parser_dispose(&p);
}

static void
test_utf8(void)
{
    const struct {
        const char *s;
        size_t len;
        bool ok;
    } cases[] = {
        {"plain", 5, true},
        {"\xc3\xa9", 2, true},
        {"\xe2\x82\xac", 3, true},
        {"\xf0\x9f\x98\x80", 4, true},
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"\xc0\xaf", 2, false},         /* overlong */
        {"\xe0\x80\xaf", 3, false},     /* overlong */
        {"\xed\xa0\x80", 3, false},     /* surrogate */
        {"\xf4\x90\x80\x80", 4, false}, /* past U+10FFFF */
        {"\xf5\x80\x80\x80", 4, false},
        {"\x80", 1, false},
        {"\xc3", 1, false}, /* cut */
        {"\xe2\x82", 2, false},
        {"a\xffz", 3, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        MM_CHECK(mm__utf8_valid((const uint8_t *)cases[i].s, cases[i].len) == cases[i].ok);
        uint8_t buf[64];
        size_t n = frame(buf, 0, 0x81, cases[i].s, cases[i].len, true);
        result r;
        feed(buf, n, 1, 100, &r);
        MM_CHECK(r.n == 1);
        MM_CHECK_INT(r.ev[0], ==, cases[i].ok ? MM__WS_TEXT : MM__WS_FAIL);
        if (!cases[i].ok)
            MM_CHECK_INT(r.fail_code, ==, 1007);
        /* split across two fragments at every position */
        for (size_t cut = 1; cut < cases[i].len; cut++) {
            n = frame(buf, 0, 0x01, cases[i].s, cut, true);
            n = frame(buf, n, 0x80, cases[i].s + cut, cases[i].len - cut, true);
            feed(buf, n, 0, 100, &r);
            MM_CHECK_INT(r.ev[r.n - 1], ==, cases[i].ok ? MM__WS_TEXT : MM__WS_FAIL);
        }
    }
    /* binary messages are not checked */
    uint8_t buf[16];
    size_t n = frame(buf, 0, 0x82, "\xff\xfe", 2, true);
    result r;
    feed(buf, n, 0, 100, &r);
    MM_CHECK_INT(r.ev[0], ==, MM__WS_BINARY);
}

static void
test_encoder(void)
{
    uint8_t h[10];
    MM_CHECK_INT(mm__ws_frame_header(h, 0x1, 5), ==, 2);
    MM_CHECK_INT(h[0], ==, 0x81);
    MM_CHECK_INT(h[1], ==, 5);
    MM_CHECK_INT(mm__ws_frame_header(h, 0x1, 125), ==, 2);
    MM_CHECK_INT(mm__ws_frame_header(h, 0x1, 126), ==, 4);
    MM_CHECK_INT(h[1], ==, 126);
    MM_CHECK_INT(h[2] << 8 | h[3], ==, 126);
    MM_CHECK_INT(mm__ws_frame_header(h, 0x2, 65535), ==, 4);
    MM_CHECK_INT(mm__ws_frame_header(h, 0x2, 65536), ==, 10);
    MM_CHECK_INT(h[0], ==, 0x82);
    MM_CHECK_INT(h[1], ==, 127);
    MM_CHECK_INT(h[7], ==, 1);
    uint8_t c[125];
    size_t n = mm__ws_close_payload(c, 1000, "Goodbye");
    MM_CHECK_INT(n, ==, 9);
    MM_CHECK_INT(c[0] << 8 | c[1], ==, 1000);
    MM_CHECK(memcmp(c + 2, "Goodbye", 7) == 0);
    char longer[300];
    memset(longer, 'r', sizeof(longer));
    longer[299] = 0;
    longer[122] = (char)0xc3; /* a 2-byte character across the 123-byte cut is dropped whole */
    longer[123] = (char)0xa9;
    n = mm__ws_close_payload(c, 1008, longer);
    MM_CHECK_INT(n, ==, 2 + 122);
    MM_CHECK(mm__utf8_valid(c + 2, n - 2));
}

/* Found by fuzz_ws_frame: payload bytes that arrive alone and fail the UTF-8 check were not
 * counted in *used, so the failure looked like no progress. */
static void
test_fail_counts_payload(void)
{
    uint8_t buf[32];
    size_t n = frame(buf, 0, 0x81, "\xff\x41\x42", 3, true);
    mm__ws_parser p;
    mm__ws_parser_init(&p, 100);
    size_t used;
    mm__ws_payload pl;
    MM_CHECK_INT(mm__ws_parse(&p, buf, 6, &used, &pl), ==, MM__WS_MORE); /* the header alone */
    MM_CHECK_INT(used, ==, 6);
    MM_CHECK_INT(mm__ws_parse(&p, buf + 6, n - 6, &used, &pl), ==, MM__WS_FAIL);
    MM_CHECK_INT(p.fail_code, ==, 1007);
    MM_CHECK_INT(used, ==, 3);
    mm__ws_parser_dispose(&p);
}

int
main(void)
{
    test_messages();
    test_refusals();
    test_utf8();
    test_encoder();
    test_fail_counts_payload();
    return MM_TEST_DONE();
}
