/*
 * mm_bench's WebSocket codec: the accept key of RFC 6455's example (libcrypto's SHA-1, then
 * base64), the 101 response checks, client frames (masked, every length form) and what a
 * server frame may not be.
 */
#include <sodium.h>
#include <stdlib.h>

#include "mm_bench_ws.h"
#include "mm_test.h"

static void
test_handshake(void)
{
    char accept[MM_BENCH_WS_ACCEPT_LEN + 1], key[MM_BENCH_WS_KEY_LEN + 1], key2[MM_BENCH_WS_KEY_LEN + 1], why[200];
    mm_bench_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", accept); /* RFC 6455 section 1.3 */
    MM_CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    mm_bench_ws_key(key);
    mm_bench_ws_key(key2);
    MM_CHECK_INT(strlen(key), ==, 24);
    MM_CHECK(strcmp(key, key2) != 0);

    char req[512];
    size_t n = mm_bench_ws_upgrade_request(req, sizeof(req), "example.com:3000", "/matchmaker/ws", key);
    MM_CHECK(n > 0 && n == strlen(req));
    MM_CHECK(strncmp(req, "GET /matchmaker/ws HTTP/1.1\r\n", 29) == 0);
    MM_CHECK(strstr(req, "\r\nHost: example.com:3000\r\n") != NULL);
    MM_CHECK(strstr(req, key) != NULL);
    MM_CHECK(n >= 4 && strcmp(req + n - 4, "\r\n\r\n") == 0);
    MM_CHECK_INT(mm_bench_ws_upgrade_request(req, 20, "h:1", "/", key), ==, 0);

    char resp[1024];
    mm_bench_ws_accept(key, accept);
    int len = snprintf(resp, sizeof(resp),
                       "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\n"
                       "Sec-WebSocket-Accept:  %s \r\n\r\n\x81\x02hi",
                       accept);
    size_t used = 0;
    int status = 0;
    MM_CHECK_INT(mm_bench_ws_parse_response(resp, (size_t)len, key, &used, &status, why, sizeof(why)), ==, MM_BENCH_WS_DONE);
    MM_CHECK_INT(used, ==, len - 4); /* the frame after the header block is left */
    MM_CHECK_INT(status, ==, 101);
    MM_CHECK_INT(mm_bench_ws_parse_response(resp, 40, key, &used, &status, why, sizeof(why)), ==, MM_BENCH_WS_NEED_MORE);
    /* the key of another connection */
    MM_CHECK_INT(mm_bench_ws_parse_response(resp, (size_t)len, key2, &used, &status, why, sizeof(why)), ==, MM_BENCH_WS_BAD);
    MM_CHECK(strstr(why, "wrong Sec-WebSocket-Accept") != NULL);

    const char *not_found = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
    MM_CHECK_INT(mm_bench_ws_parse_response(not_found, strlen(not_found), key, &used, &status, why, sizeof(why)), ==,
                 MM_BENCH_WS_BAD);
    MM_CHECK_INT(status, ==, 404);
    MM_CHECK_STR(why, "HTTP 404 instead of 101 Switching Protocols");
    const char *no_accept = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
    MM_CHECK_INT(mm_bench_ws_parse_response(no_accept, strlen(no_accept), key, &used, &status, why, sizeof(why)), ==,
                 MM_BENCH_WS_BAD);
    MM_CHECK_STR(why, "101 response with no Sec-WebSocket-Accept");
    const char *no_upgrade = "HTTP/1.1 101 OK\r\nConnection: upgrade\r\n\r\n";
    MM_CHECK_INT(mm_bench_ws_parse_response(no_upgrade, strlen(no_upgrade), key, &used, &status, why, sizeof(why)), ==,
                 MM_BENCH_WS_BAD);
    const char *garbage = "SSH-2.0-OpenSSH\r\n\r\n";
    MM_CHECK_INT(mm_bench_ws_parse_response(garbage, strlen(garbage), key, &used, &status, why, sizeof(why)), ==, MM_BENCH_WS_BAD);
    MM_CHECK_INT(status, ==, 0);
    char *big = malloc(9000);
    MM_REQUIRE(big != NULL);
    memset(big, 'x', 9000);
    MM_CHECK_INT(mm_bench_ws_parse_response(big, 9000, key, &used, &status, why, sizeof(why)), ==, MM_BENCH_WS_BAD);
    MM_CHECK_INT(mm_bench_ws_parse_response(big, 100, key, &used, &status, why, sizeof(why)), ==, MM_BENCH_WS_NEED_MORE);
    free(big);
}

/* A client frame of len bytes: header size, mask bit, and the unmasked payload. */
static void
check_client_frame(size_t len, size_t header)
{
    uint8_t *payload = malloc(len + 1), *out = malloc(len + 14);
    MM_REQUIRE(payload != NULL && out != NULL);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(i * 31);
    size_t n = mm_bench_ws_frame(out, len + 14, MM_BENCH_WS_TEXT, payload, len);
    MM_CHECK_INT(n, ==, header + len);
    MM_CHECK_INT(out[0], ==, 0x81);
    MM_CHECK_INT(out[1] >> 7, ==, 1);
    uint64_t plen = out[1] & 0x7F;
    if (plen == 126)
        plen = (uint64_t)out[2] << 8 | out[3];
    else if (plen == 127) {
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | out[2 + i];
    }
    MM_CHECK_U64(plen, ==, len);
    const uint8_t *mask = out + header - 4;
    int same = 1;
    for (size_t i = 0; i < len; i++)
        same &= (uint8_t)(out[header + i] ^ mask[i & 3]) == payload[i];
    MM_CHECK(same);
    MM_CHECK_INT(mm_bench_ws_frame(out, header + len - 1, MM_BENCH_WS_TEXT, payload, len), ==, 0);
    free(payload);
    free(out);
}

static mm_bench_ws_status
parse(const uint8_t *buf, size_t len, mm_bench_ws_frame_info *f, size_t *needed, char *why)
{
    return mm_bench_ws_parse_frame(buf, len, 65536, f, needed, why, 200);
}

static void
test_frames(void)
{
    check_client_frame(0, 6);
    check_client_frame(125, 6);
    check_client_frame(126, 8);
    check_client_frame(65535, 8);
    check_client_frame(65536, 14);

    mm_bench_ws_frame_info f;
    size_t needed = 0;
    char why[200];
    const uint8_t text[] = {0x81, 0x03, 'a', 'b', 'c', 0x89};
    MM_CHECK_INT(parse(text, sizeof(text), &f, &needed, why), ==, MM_BENCH_WS_DONE);
    MM_CHECK_INT(f.fin, ==, 1);
    MM_CHECK_INT(f.opcode, ==, MM_BENCH_WS_TEXT);
    MM_CHECK_INT(f.payload_len, ==, 3);
    MM_CHECK_INT(f.frame_len, ==, 5);
    MM_CHECK(memcmp(f.payload, "abc", 3) == 0);
    MM_CHECK_INT(parse(text, 1, &f, &needed, why), ==, MM_BENCH_WS_NEED_MORE);
    MM_CHECK_INT(needed, ==, 0);
    MM_CHECK_INT(parse(text, 3, &f, &needed, why), ==, MM_BENCH_WS_NEED_MORE);
    MM_CHECK_INT(needed, ==, 5);

    uint8_t mid[4 + 300] = {0x01, 126, 0x01, 0x2C}; /* 300 bytes, not final */
    MM_CHECK_INT(parse(mid, sizeof(mid), &f, &needed, why), ==, MM_BENCH_WS_DONE);
    MM_CHECK_INT(f.fin, ==, 0);
    MM_CHECK_INT(f.payload_len, ==, 300);
    MM_CHECK_INT(parse(mid, 2, &f, &needed, why), ==, MM_BENCH_WS_NEED_MORE);
    uint8_t big[10] = {0x80, 127, 0, 0, 0, 0, 0, 1, 0, 0}; /* 65536: fits the limit, not the buffer */
    MM_CHECK_INT(parse(big, sizeof(big), &f, &needed, why), ==, MM_BENCH_WS_NEED_MORE);
    MM_CHECK_INT(needed, ==, 10 + 65536);
    big[8] = 2; /* 65536 + 512: over the limit */
    MM_CHECK_INT(parse(big, sizeof(big), &f, &needed, why), ==, MM_BENCH_WS_BAD);
    uint8_t huge[10] = {0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
    MM_CHECK_INT(parse(huge, sizeof(huge), &f, &needed, why), ==, MM_BENCH_WS_BAD);

    const uint8_t masked[] = {0x81, 0x81, 1, 2, 3, 4, 'x'};
    MM_CHECK_INT(parse(masked, sizeof(masked), &f, &needed, why), ==, MM_BENCH_WS_BAD);
    MM_CHECK_STR(why, "masked frame from the server");
    const uint8_t rsv[] = {0xC1, 0x00};
    MM_CHECK_INT(parse(rsv, sizeof(rsv), &f, &needed, why), ==, MM_BENCH_WS_BAD);
    const uint8_t opcode3[] = {0x83, 0x00};
    MM_CHECK_INT(parse(opcode3, sizeof(opcode3), &f, &needed, why), ==, MM_BENCH_WS_BAD);
    const uint8_t ping_frag[] = {0x09, 0x00};
    MM_CHECK_INT(parse(ping_frag, sizeof(ping_frag), &f, &needed, why), ==, MM_BENCH_WS_BAD);
    const uint8_t ping_long[] = {0x89, 126, 0, 126};
    MM_CHECK_INT(parse(ping_long, sizeof(ping_long), &f, &needed, why), ==, MM_BENCH_WS_BAD);

    int code = 0;
    char reason[16];
    const uint8_t close[] = {0x03, 0xE8, 'G', 'o', 'o', 'd', 'b', 'y', 'e'};
    MM_CHECK_INT(mm_bench_ws_close_payload(close, sizeof(close), &code, reason, sizeof(reason)), ==, 0);
    MM_CHECK_INT(code, ==, 1000);
    MM_CHECK_STR(reason, "Goodbye");
    MM_CHECK_INT(mm_bench_ws_close_payload(close, 0, &code, reason, sizeof(reason)), ==, 0);
    MM_CHECK_INT(code, ==, 1005);
    MM_CHECK_INT(mm_bench_ws_close_payload(close, 1, &code, reason, sizeof(reason)), ==, -1);
    MM_CHECK_INT(mm_bench_ws_close_payload(close, sizeof(close), &code, reason, 4), ==, 0);
    MM_CHECK_STR(reason, "Goo");
}

int
main(void)
{
    MM_REQUIRE(sodium_init() >= 0);
    test_handshake();
    test_frames();
    return MM_TEST_DONE();
}
