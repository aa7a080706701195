/*
 * WebSocket client codec (mm_bench_ws.h): the upgrade handshake and frames, over buffers the
 * caller owns. Server frames are read in place (a server never masks); client frames are written
 * masked with a fresh random key from libsodium, as RFC 6455 section 5.3 asks. The accept key's
 * SHA-1 is OpenSSL's libcrypto (libsodium has none). Nothing here allocates or keeps state, so
 * one codec serves thousands of connections on one thread.
 */
#include <ctype.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mm/err.h"
#include "mm_bench_ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_RESPONSE_HEADER 8192

void
mm_bench_ws_key(char key[MM_BENCH_WS_KEY_LEN + 1])
{
    uint8_t nonce[16];
    randombytes_buf(nonce, sizeof(nonce));
    sodium_bin2base64(key, MM_BENCH_WS_KEY_LEN + 1, nonce, sizeof(nonce), sodium_base64_VARIANT_ORIGINAL);
}

void
mm_bench_ws_accept(const char *key, char accept[MM_BENCH_WS_ACCEPT_LEN + 1])
{
    char text[128];
    unsigned char digest[SHA_DIGEST_LENGTH];
    int n = snprintf(text, sizeof(text), "%s%s", key, WS_GUID);
    if (SHA1((const unsigned char *)text, n > 0 && (size_t)n < sizeof(text) ? (size_t)n : 0, digest) == NULL) {
        accept[0] = '\0'; /* matches no server's accept: the handshake fails with a reason */
        return;
    }
    sodium_bin2base64(accept, MM_BENCH_WS_ACCEPT_LEN + 1, digest, sizeof(digest), sodium_base64_VARIANT_ORIGINAL);
}

size_t
mm_bench_ws_upgrade_request(char *buf, size_t len, const char *host_header, const char *path, const char *key)
{
    int n = snprintf(buf, len,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "User-Agent: mm_bench\r\n"
                     "\r\n",
                     path, host_header, key);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/* Does the comma-separated header value (value[0..len)) hold token, case-insensitively? */
static int
has_token(const char *value, size_t len, const char *token)
{
    size_t tlen = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end - start == tlen && strncasecmp(value + start, token, tlen) == 0)
            return 1;
    }
    return 0;
}

mm_bench_ws_status
mm_bench_ws_parse_response(const char *buf, size_t len, const char *key, size_t *consumed, int *http_status, char *why,
                           size_t why_len)
{
    *http_status = 0;
    const char *end = memmem(buf, len < MAX_RESPONSE_HEADER ? len : MAX_RESPONSE_HEADER, "\r\n\r\n", 4);
    if (end == NULL) {
        if (len >= MAX_RESPONSE_HEADER) {
            mm_fail(MM_ERR_PROTOCOL, why, why_len, "upgrade response header over %d bytes", MAX_RESPONSE_HEADER);
            return MM_BENCH_WS_BAD;
        }
        return MM_BENCH_WS_NEED_MORE;
    }
    size_t block = (size_t)(end - buf) + 4;
    int code = 0;
    if (block < 13 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' || !isdigit((unsigned char)buf[9]) ||
        !isdigit((unsigned char)buf[10]) || !isdigit((unsigned char)buf[11])) {
        mm_fail(MM_ERR_PROTOCOL, why, why_len, "the answer to the upgrade is not an HTTP/1.x response");
        return MM_BENCH_WS_BAD;
    }
    code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    *http_status = code;
    if (code != 101) {
        mm_fail(MM_ERR_PROTOCOL, why, why_len, "HTTP %d instead of 101 Switching Protocols", code);
        return MM_BENCH_WS_BAD;
    }
    char expect[MM_BENCH_WS_ACCEPT_LEN + 1];
    mm_bench_ws_accept(key, expect);
    int upgrade = 0, connection = 0, accept = 0;
    const char *line = memchr(buf, '\n', block) + 1;
    while (line < buf + block - 2) {
        const char *eol = memchr(line, '\n', (size_t)(buf + block - line));
        size_t line_len = (size_t)(eol - line);
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        const char *colon = memchr(line, ':', line_len);
        if (colon != NULL) {
            size_t name_len = (size_t)(colon - line);
            const char *value = colon + 1;
            size_t value_len = line_len - name_len - 1;
            while (value_len > 0 && (*value == ' ' || *value == '\t')) {
                value++;
                value_len--;
            }
            while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
                value_len--;
            if (name_len == 7 && strncasecmp(line, "upgrade", 7) == 0)
                upgrade |= has_token(value, value_len, "websocket");
            else if (name_len == 10 && strncasecmp(line, "connection", 10) == 0)
                connection |= has_token(value, value_len, "upgrade");
            else if (name_len == 20 && strncasecmp(line, "sec-websocket-accept", 20) == 0)
                accept = value_len == MM_BENCH_WS_ACCEPT_LEN && memcmp(value, expect, value_len) == 0 ? 1 : -1;
        }
        line = eol + 1;
    }
    if (!upgrade || !connection || accept != 1) {
        mm_fail(MM_ERR_PROTOCOL, why, why_len, "101 response with %s",
                !upgrade      ? "no 'Upgrade: websocket'"
                : !connection ? "no 'Connection: Upgrade'"
                : accept == 0 ? "no Sec-WebSocket-Accept"
                              : "a wrong Sec-WebSocket-Accept");
        return MM_BENCH_WS_BAD;
    }
    *consumed = block;
    return MM_BENCH_WS_DONE;
}

mm_bench_ws_status
mm_bench_ws_parse_frame(const uint8_t *buf, size_t len, uint64_t max_payload, mm_bench_ws_frame_info *f, size_t *needed,
                        char *why, size_t why_len)
{
    if (needed != NULL)
        *needed = 0;
    if (len < 2)
        return MM_BENCH_WS_NEED_MORE;
    int fin = buf[0] >> 7, rsv = (buf[0] >> 4) & 7, opcode = buf[0] & 0x0F, masked = buf[1] >> 7;
    uint64_t plen = buf[1] & 0x7F;
    size_t header = 2;
    if (rsv != 0) {
        mm_fail(MM_ERR_PROTOCOL, why, why_len, "frame with reserved bits set (no extension was agreed)");
        return MM_BENCH_WS_BAD;
    }
    if (opcode != MM_BENCH_WS_CONT && opcode != MM_BENCH_WS_TEXT && opcode != MM_BENCH_WS_BINARY && opcode != MM_BENCH_WS_CLOSE &&
        opcode != MM_BENCH_WS_PING && opcode != MM_BENCH_WS_PONG) {
        mm_fail(MM_ERR_PROTOCOL, why, why_len, "frame with unknown opcode %d", opcode);
        return MM_BENCH_WS_BAD;
    }
    if (masked) {
        mm_fail(MM_ERR_PROTOCOL, why, why_len, "masked frame from the server");
        return MM_BENCH_WS_BAD;
    }
    if (plen == 126) {
        if (len < 4)
            return MM_BENCH_WS_NEED_MORE;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        header = 4;
    } else if (plen == 127) {
        if (len < 10)
            return MM_BENCH_WS_NEED_MORE;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        header = 10;
        if (plen >> 63) {
            mm_fail(MM_ERR_PROTOCOL, why, why_len, "frame length with the top bit set");
            return MM_BENCH_WS_BAD;
        }
    }
    if (opcode >= MM_BENCH_WS_CLOSE && (!fin || plen > 125)) {
        mm_fail(MM_ERR_PROTOCOL, why, why_len, "control frame %s", !fin ? "fragmented" : "longer than 125 bytes");
        return MM_BENCH_WS_BAD;
    }
    if (plen > max_payload) {
        mm_fail(MM_ERR_PROTOCOL, why, why_len, "frame of %llu bytes, more than the %llu a message may have",
                (unsigned long long)plen, (unsigned long long)max_payload);
        return MM_BENCH_WS_BAD;
    }
    if (len - header < plen) {
        if (needed != NULL)
            *needed = header + (size_t)plen;
        return MM_BENCH_WS_NEED_MORE;
    }
    f->fin = fin;
    f->opcode = opcode;
    f->payload = buf + header;
    f->payload_len = plen;
    f->frame_len = header + (size_t)plen;
    return MM_BENCH_WS_DONE;
}

size_t
mm_bench_ws_frame(uint8_t *out, size_t cap, int opcode, const void *payload, size_t len)
{
    size_t header = len < 126 ? 6 : len <= 0xFFFF ? 8 : 14;
    if (cap < header || cap - header < len)
        return 0;
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    uint8_t *mask = out + header - 4;
    randombytes_buf(mask, 4);
    const uint8_t *in = payload;
    for (size_t i = 0; i < len; i++)
        out[header + i] = in[i] ^ mask[i & 3];
    return header + len;
}

int
mm_bench_ws_close_payload(const uint8_t *payload, size_t len, int *code, char *reason, size_t reason_len)
{
    if (reason_len > 0)
        reason[0] = '\0';
    if (len == 0) {
        *code = 1005;
        return 0;
    }
    if (len == 1)
        return -1;
    *code = payload[0] << 8 | payload[1];
    if (reason_len > 0) {
        size_t n = len - 2 < reason_len - 1 ? len - 2 : reason_len - 1;
        memcpy(reason, payload + 2, n);
        reason[n] = '\0';
    }
    return 0;
}
