/* The test WebSocket client of ws_test_client.h: plain sockets, poll() for every deadline. */
#include "ws_test_client.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm/clock.h"

/* RFC 6455's example key and its accept value. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int
write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into the buffer before the deadline; -1 on timeout, error or EOF. */
static int
fill(ws_client *c, uint64_t deadline_ms)
{
    if (c->len == sizeof(c->buf))
        return -1;
    uint64_t now = mm_now_ms();
    if (now >= deadline_ms)
        return -1;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int rc = poll(&pfd, 1, (int)(deadline_ms - now));
    if (rc <= 0)
        return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    return 0;
}

static void
consume(ws_client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

int
ws_open(ws_client *c, int port, const char *path, const char *headers, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, port, headers != NULL ? headers : "");
    if (n < 0 || (size_t)n >= sizeof(req) || write_all(c->fd, req, (size_t)n) != 0)
        return -1;
    uint64_t deadline = mm_now_ms() + (uint64_t)timeout_ms;
    char *end = NULL;
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        if (fill(c, deadline) != 0)
            return -1;
    size_t head_len = (size_t)(end - (char *)c->buf) + 4;
    char head[4096];
    snprintf(head, sizeof(head), "%.*s", (int)head_len, (char *)c->buf);
    consume(c, head_len);
    int status = -1;
    if (sscanf(head, "HTTP/1.1 %d", &status) != 1)
        return -1;
    if (status == 101 && strcasestr(head, "Sec-WebSocket-Accept: " WS_ACCEPT) == NULL)
        return -1;
    return status;
}

int
ws_send(ws_client *c, int op, const void *data, size_t len)
{
    unsigned char head[14];
    size_t h = 0;
    head[h++] = (unsigned char)(0x80 | (op & 0x0f));
    if (len < 126) {
        head[h++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        head[h++] = 0x80 | 126;
        head[h++] = (unsigned char)(len >> 8);
        head[h++] = (unsigned char)len;
    } else {
        head[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            head[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(head + h, mask, 4);
    h += 4;
    unsigned char *frame = malloc(h + len);
    if (frame == NULL)
        return -1;
    memcpy(frame, head, h);
    for (size_t i = 0; i < len; i++)
        frame[h + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
    int rc = write_all(c->fd, frame, h + len);
    free(frame);
    return rc;
}

int
ws_read(ws_client *c, char **payload, size_t *len, int timeout_ms)
{
    *payload = NULL;
    *len = 0;
    uint64_t deadline = mm_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        while (c->len < 2)
            if (fill(c, deadline) != 0)
                return -1;
        int op = c->buf[0] & 0x0f;
        bool masked = (c->buf[1] & 0x80) != 0;
        uint64_t n = c->buf[1] & 0x7f;
        size_t h = 2;
        if (n == 126 || n == 127) {
            size_t ext = n == 126 ? 2 : 8;
            while (c->len < 2 + ext)
                if (fill(c, deadline) != 0)
                    return -1;
            n = 0;
            for (size_t i = 0; i < ext; i++)
                n = (n << 8) | c->buf[2 + i];
            h += ext;
        }
        if (masked)
            h += 4;
        if (n > sizeof(c->buf) - h)
            return -1;
        while (c->len < h + n)
            if (fill(c, deadline) != 0)
                return -1;
        char *p = malloc((size_t)n + 1);
        if (p == NULL)
            return -1;
        for (size_t i = 0; i < n; i++)
            p[i] = (char)(masked ? c->buf[h + i] ^ c->buf[h - 4 + i % 4] : c->buf[h + i]);
        p[n] = '\0';
        consume(c, h + (size_t)n);
        if (op == WS_OP_PING) {
            ws_send(c, WS_OP_PONG, p, (size_t)n);
            free(p);
            continue;
        }
        *payload = p;
        *len = (size_t)n;
        return op;
    }
}

void
ws_close(ws_client *c)
{
    if (c->fd > 0)
        close(c->fd);
    c->fd = -1;
}
