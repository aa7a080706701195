/*
 * The blocking WebSocket client of ws_client.h: poll() with a deadline around every read,
 * frames built and parsed by hand (client frames masked with a random key per frame).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ws_client.h"

int64_t
mm_tc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
mm_tc_left(int64_t deadline)
{
    int64_t l = deadline - mm_tc_now_ms();
    return l > 0 ? (int)l : 0;
}

int
mm_tcp_connect(uint16_t port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t el = sizeof(err);
    if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int
mm_tc_send_all(int fd, const void *data, size_t len, int timeout_ms)
{
    const uint8_t *p = data;
    int64_t deadline = mm_tc_now_ms() + timeout_ms;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, mm_tc_left(deadline)) != 1)
            return -1;
    }
    return 0;
}

int
mm_tc_read_some(int fd, uint8_t *buf, size_t room, int64_t deadline)
{
    if (room == 0)
        return -1;
    for (;;) {
        ssize_t n = recv(fd, buf, room, 0);
        if (n >= 0)
            return (int)n;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return errno == ECONNRESET ? 0 : -1;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, mm_tc_left(deadline)) != 1)
            return -1;
    }
}

static void
expected_accept(const char *key, char out[64])
{
    char buf[128];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    snprintf(buf, sizeof(buf), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    EVP_Digest(buf, strlen(buf), digest, &dlen, EVP_sha1(), NULL);
    sodium_bin2base64(out, 64, digest, dlen, sodium_base64_VARIANT_ORIGINAL);
}

int
mm_ws_connect(mm_ws_client *c, uint16_t port, const char *path, const char *extra_headers, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->auto_pong = true;
    c->fd = mm_tcp_connect(port, timeout_ms);
    if (c->fd < 0)
        return -1;
    uint8_t raw[16];
    char key[32], accept[64], req[4096];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(key, sizeof(key), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, port, key, extra_headers ? extra_headers : "");
    if (mm_tc_send_all(c->fd, req, (size_t)n, timeout_ms) != 0)
        return -1;
    int64_t deadline = mm_tc_now_ms() + timeout_ms;
    uint8_t *end = NULL;
    while ((end = (uint8_t *)memmem(c->in, c->in_len, "\r\n\r\n", 4)) == NULL) {
        int r = mm_tc_read_some(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, deadline);
        if (r <= 0)
            return -1;
        c->in_len += (size_t)r;
    }
    size_t head = (size_t)(end - c->in) + 4;
    snprintf(c->response, sizeof(c->response), "%.*s", (int)(head < sizeof(c->response) ? head : sizeof(c->response) - 1),
             (char *)c->in);
    sscanf(c->response, "HTTP/1.%*d %d", &c->http_status);
    memmove(c->in, c->in + head, c->in_len - head);
    c->in_len -= head;
    expected_accept(key, accept);
    char want[128];
    snprintf(want, sizeof(want), "sec-websocket-accept: %s\r\n", accept);
    if (c->http_status != 101 || strcasestr(c->response, want) == NULL)
        return -1;
    return 0;
}

int
mm_ws_send_raw(mm_ws_client *c, const void *data, size_t len)
{
    return mm_tc_send_all(c->fd, data, len, 5000);
}

int
mm_ws_send_frame(mm_ws_client *c, uint8_t first_byte, const void *payload, size_t len, bool mask)
{
    uint8_t *frame = malloc(len + 14);
    if (frame == NULL)
        return -1;
    size_t h = 0;
    frame[h++] = first_byte;
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        frame[h++] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        frame[h++] = m | 126;
        frame[h++] = (uint8_t)(len >> 8);
        frame[h++] = (uint8_t)len;
    } else {
        frame[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            frame[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t key[4] = {0};
    if (mask) {
        randombytes_buf(key, 4);
        memcpy(frame + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < len; i++)
        frame[h + i] = ((const uint8_t *)payload)[i] ^ key[i & 3];
    int rc = mm_tc_send_all(c->fd, frame, h + len, 5000);
    free(frame);
    return rc;
}

int
mm_ws_send_text(mm_ws_client *c, const char *text)
{
    return mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_TEXT, text, strlen(text), true);
}

/* Parses one frame from c->in when complete: 1 (removed from the buffer into the out args), 0
 * when more bytes are needed, -1 for a frame we cannot take. */
static int
take_frame(mm_ws_client *c, int *fin, int *opcode, uint8_t **payload, size_t *len)
{
    if (c->in_len < 2)
        return 0;
    if (c->in[1] & 0x80)
        return -1; /* servers never mask */
    size_t h = 2;
    uint64_t n = c->in[1] & 0x7f;
    if (n == 126) {
        if (c->in_len < 4)
            return 0;
        n = (uint64_t)c->in[2] << 8 | c->in[3];
        h = 4;
    } else if (n == 127) {
        if (c->in_len < 10)
            return 0;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | c->in[2 + i];
        h = 10;
    }
    if (n > sizeof(c->in) - h)
        return -1;
    if (c->in_len < h + n)
        return 0;
    *fin = (c->in[0] & 0x80) != 0;
    *opcode = c->in[0] & 0x0f;
    *payload = malloc(n + 1);
    memcpy(*payload, c->in + h, n);
    (*payload)[n] = 0;
    *len = (size_t)n;
    memmove(c->in, c->in + h + n, c->in_len - h - n);
    c->in_len -= h + n;
    return 1;
}

int
mm_ws_recv(mm_ws_client *c, mm_ws_msg *m, int timeout_ms)
{
    memset(m, 0, sizeof(*m));
    int64_t deadline = mm_tc_now_ms() + timeout_ms;
    char *msg = NULL;
    size_t msg_len = 0;
    int msg_op = -1;
    for (;;) {
        int fin, op;
        uint8_t *payload;
        size_t len;
        int t = take_frame(c, &fin, &op, &payload, &len);
        if (t < 0) {
            free(msg);
            return -1;
        }
        if (t == 0) {
            int r = mm_tc_read_some(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, deadline);
            if (r <= 0) {
                free(msg);
                return r == 0 ? 0 : -1;
            }
            c->in_len += (size_t)r;
            continue;
        }
        if (op == MM_WS_OP_PING) {
            c->pings_seen++;
            if (c->auto_pong)
                mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_PONG, payload, len, true);
            free(payload);
            continue;
        }
        if (op == MM_WS_OP_PONG) {
            c->pongs_seen++;
            free(payload);
            continue;
        }
        if (op == MM_WS_OP_CLOSE) {
            free(msg);
            m->opcode = MM_WS_OP_CLOSE;
            m->close_code = len >= 2 ? (payload[0] << 8 | payload[1]) : 0;
            m->len = len >= 2 ? len - 2 : 0;
            m->data = malloc(m->len + 1);
            memcpy(m->data, payload + (len >= 2 ? 2 : 0), m->len);
            m->data[m->len] = 0;
            free(payload);
            return 1;
        }
        if (op != MM_WS_OP_CONT)
            msg_op = op;
        char *grown = realloc(msg, msg_len + len + 1);
        memcpy(grown + msg_len, payload, len);
        msg = grown;
        msg_len += len;
        msg[msg_len] = 0;
        free(payload);
        if (fin) {
            m->opcode = msg_op;
            m->data = msg;
            m->len = msg_len;
            return 1;
        }
    }
}

void
mm_ws_msg_free(mm_ws_msg *m)
{
    if (m != NULL) {
        free(m->data);
        m->data = NULL;
    }
}

int
mm_ws_wait_eof(mm_ws_client *c, int timeout_ms)
{
    int64_t deadline = mm_tc_now_ms() + timeout_ms;
    uint8_t sink[4096];
    for (;;) {
        int r = mm_tc_read_some(c->fd, sink, sizeof(sink), deadline);
        if (r == 0)
            return 0;
        if (r < 0)
            return -1;
    }
}

void
mm_ws_close(mm_ws_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

