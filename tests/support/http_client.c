/*
 * The blocking HTTP/1.1 client of ws_client.h: one request per connection, the answer read
 * until its framing says it is complete (Content-Length, chunked) or the server closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ws_client.h"

/* Decodes a chunked body; -1 while incomplete or broken, else 0. */
static int
dechunk(mm_http_resp *r)
{
    size_t at = 0, out = 0;
    char *body = malloc(r->raw_len + 1);
    r->chunks = 0;
    for (;;) {
        char *crlf = memmem(r->raw + at, r->raw_len - at, "\r\n", 2);
        if (crlf == NULL)
            break;
        size_t n = strtoul(r->raw + at, NULL, 16);
        at = (size_t)(crlf - r->raw) + 2;
        if (n == 0) {
            r->body = body;
            r->body_len = out;
            body[out] = 0;
            return 0;
        }
        if (at + n + 2 > r->raw_len)
            break;
        memcpy(body + out, r->raw + at, n);
        out += n;
        at += n + 2;
        r->chunks++;
    }
    free(body);
    return -1;
}

int
mm_http_raw(uint16_t port, const char *request, size_t len, mm_http_resp *out, int timeout_ms)
{
    memset(out, 0, sizeof(*out));
    int fd = mm_tcp_connect(port, timeout_ms);
    if (fd < 0 || mm_tc_send_all(fd, request, len, timeout_ms) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int64_t deadline = mm_tc_now_ms() + timeout_ms;
    size_t cap = 1 << 16, have = 0;
    uint8_t *buf = malloc(cap);
    int rc = -1;
    for (;;) {
        if (have == cap)
            buf = realloc(buf, cap *= 2);
        int n = mm_tc_read_some(fd, buf + have, cap - have, deadline);
        if (n < 0)
            break;
        have += (size_t)n;
        uint8_t *end = memmem(buf, have, "\r\n\r\n", 4);
        if (end == NULL) {
            if (n == 0)
                break;
            continue;
        }
        size_t head = (size_t)(end - buf) + 4;
        snprintf(out->head, sizeof(out->head), "%.*s", (int)(head < sizeof(out->head) ? head : sizeof(out->head) - 1),
                 (char *)buf);
        for (char *p = out->head; *p && p < out->head + sizeof(out->head); p++) /* lower-case header names */
            if (*p == '\n')
                for (char *q = p + 1; *q && *q != ':' && *q != '\r'; q++)
                    *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
        sscanf(out->head, "HTTP/1.%*d %d", &out->status);
        free(out->raw);
        out->raw_len = have - head;
        out->raw = malloc(out->raw_len + 1);
        memcpy(out->raw, buf + head, out->raw_len);
        out->raw[out->raw_len] = 0;
        char v[64];
        free(out->body);
        out->body = NULL;
        if (mm_http_header(out, "transfer-encoding", v, sizeof(v)) && strcasecmp(v, "chunked") == 0) {
            if (dechunk(out) == 0) {
                rc = 0;
                break;
            }
        } else if (mm_http_header(out, "content-length", v, sizeof(v))) {
            if (out->raw_len >= strtoul(v, NULL, 10)) {
                rc = 0;
                break;
            }
        } else if (n == 0) {
            rc = 0;
            break;
        }
        if (n == 0)
            break;
    }
    if (rc == 0 && out->body == NULL) {
        out->body = malloc(out->raw_len + 1);
        memcpy(out->body, out->raw, out->raw_len + 1);
        out->body_len = out->raw_len;
    }
    free(buf);
    close(fd);
    if (rc != 0)
        mm_http_resp_free(out);
    return rc;
}

int
mm_http_get(uint16_t port, const char *path, mm_http_resp *out, int timeout_ms)
{
    char req[2048];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    return mm_http_raw(port, req, (size_t)n, out, timeout_ms);
}

int
mm_http_post(uint16_t port, const char *path, const char *extra_headers, const char *body, mm_http_resp *out, int timeout_ms)
{
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + (extra_headers ? strlen(extra_headers) : 0) + 4096;
    char *req = malloc(cap);
    int n = snprintf(req, cap, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n%s", path,
                     blen, extra_headers ? extra_headers : "", body ? body : "");
    int rc = mm_http_raw(port, req, (size_t)n, out, timeout_ms);
    free(req);
    return rc;
}

bool
mm_http_header(const mm_http_resp *r, const char *name, char *out, size_t out_len)
{
    char want[128];
    snprintf(want, sizeof(want), "\r\n%s:", name);
    const char *p = strstr(r->head, want);
    if (p == NULL)
        return false;
    p += strlen(want);
    while (*p == ' ')
        p++;
    const char *e = strstr(p, "\r\n");
    size_t n = e ? (size_t)(e - p) : strlen(p);
    snprintf(out, out_len, "%.*s", (int)n, p);
    return true;
}

void
mm_http_resp_free(mm_http_resp *r)
{
    if (r == NULL)
        return;
    free(r->raw);
    free(r->body);
    r->raw = r->body = NULL;
}
