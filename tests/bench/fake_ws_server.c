/*
 * The scripted WebSocket server of fake_ws_server.h. Written from RFC 6455 directly, with
 * blocking sockets and a receive timeout as a safety net (a stuck test fails instead of
 * hanging). Its accept key comes from mm_bench_ws_accept, which test_bench_ws checks against the
 * RFC's own example, and its tokens from the project's minter API (mm_token_mint).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fake_ws_server.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/token.h"
#include "mm_bench_ws.h"

struct conn {
    fake_ws_server *server;
    int fd;
    uint8_t buf[8192];
    size_t len;
};

static int
write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
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

/* Reads until the buffer holds at least want bytes; -1 on EOF, error or timeout. */
static int
fill(struct conn *c, size_t want)
{
    while (c->len < want) {
        if (want > sizeof(c->buf))
            return -1;
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
    }
    return 0;
}

static void
consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Reads one client frame (must be masked) into payload (NUL-terminated); returns its opcode or -1. */
static int
read_frame(struct conn *c, char *payload, size_t cap, size_t *len)
{
    if (fill(c, 2) != 0)
        return -1;
    int opcode = c->buf[0] & 0x0F, masked = c->buf[1] >> 7;
    size_t plen = c->buf[1] & 0x7F, header = 2;
    if (plen == 126) {
        if (fill(c, 4) != 0)
            return -1;
        plen = (size_t)c->buf[2] << 8 | c->buf[3];
        header = 4;
    } else if (plen == 127) {
        return -1; /* nothing mm_bench sends is that long */
    }
    if (!masked || plen >= cap || fill(c, header + 4 + plen) != 0)
        return -1;
    const uint8_t *mask = c->buf + header;
    for (size_t i = 0; i < plen; i++)
        payload[i] = (char)(c->buf[header + 4 + i] ^ mask[i & 3]);
    payload[plen] = '\0';
    *len = plen;
    consume(c, header + 4 + plen);
    return opcode;
}

/* Sends one unmasked server frame. */
static int
send_frame(struct conn *c, int fin, int opcode, const void *payload, size_t len)
{
    uint8_t header[4] = {(uint8_t)((fin ? 0x80 : 0) | opcode)};
    size_t hlen = 2;
    if (len < 126) {
        header[1] = (uint8_t)len;
    } else {
        header[1] = 126;
        header[2] = (uint8_t)(len >> 8);
        header[3] = (uint8_t)len;
        hlen = 4;
    }
    return write_all(c->fd, header, hlen) == 0 && write_all(c->fd, payload, len) == 0 ? 0 : -1;
}

static int
send_text(struct conn *c, const char *text)
{
    return send_frame(c, 1, 0x1, text, strlen(text));
}

static int
send_close(struct conn *c, int code, const char *reason)
{
    uint8_t payload[64] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t n = strlen(reason);
    memcpy(payload + 2, reason, n);
    return send_frame(c, 1, 0x8, payload, 2 + n);
}

/* Reads until the client closes the TCP connection (or the safety timeout). */
static void
wait_eof(struct conn *c)
{
    char junk[512];
    while (recv(c->fd, junk, sizeof(junk), 0) > 0) {
    }
}

/* The upgrade: 404 for another path, else 101. Returns 0 when upgraded. */
static int
upgrade(struct conn *c)
{
    char *end = NULL;
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        if (fill(c, c->len + 1) != 0)
            return -1;
    *end = '\0';
    const char *request = (const char *)c->buf;
    if (strncmp(request, "GET /matchmaker/ws HTTP/1.1\r\n", 29) != 0) {
        const char *nf = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        write_all(c->fd, nf, strlen(nf));
        return -1;
    }
    const char *k = strcasestr(request, "\r\nSec-WebSocket-Key: ");
    char key[64] = "", accept[MM_BENCH_WS_ACCEPT_LEN + 1], resp[256];
    if (k == NULL || sscanf(k + 21, "%63[^\r]", key) != 1)
        return -1;
    mm_bench_ws_accept(key, accept);
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    consume(c, (size_t)((uint8_t *)end + 4 - c->buf));
    return write_all(c->fd, resp, (size_t)n);
}

/* Counts the request and returns the script to play (an index of FAKE_WS_SCRIPTS) or -1. */
static int
read_request(struct conn *c)
{
    static const char *const scripts[] = {FAKE_WS_SCRIPTS};
    char text[1024];
    size_t len = 0;
    int script = -1;
    if (read_frame(c, text, sizeof(text), &len) != 0x1)
        return -1;
    json_t *req = json_loadb(text, len, 0, NULL);
    const char *game = json_string_value(json_object_get(req, "game"));
    const char *version = json_string_value(json_object_get(req, "version"));
    const char *ip = json_string_value(json_object_get(req, "client_ip"));
    size_t fields = json_object_size(req);
    fake_ws_server *s = c->server;
    pthread_mutex_lock(&s->lock);
    s->requests++;
    if (game == NULL || version == NULL || fields != (ip != NULL ? 3u : 2u))
        s->bad_requests++;
    if (ip != NULL) {
        int i = 0;
        while (i < s->ip_distinct && strcmp(s->ips[i], ip) != 0)
            i++;
        if (i == s->ip_distinct && i < FAKE_WS_MAX_IPS && strlen(ip) < 16)
            strcpy(s->ips[s->ip_distinct++], ip);
        if (i < s->ip_distinct)
            s->ip_counts[i]++;
    }
    pthread_mutex_unlock(&s->lock);
    if (game != NULL && strcmp(game, "mixed") == 0 && ip != NULL) {
        const char *dot = strrchr(ip, '.');
        int octet = dot != NULL ? atoi(dot + 1) : 0;
        script = octet >= 1 && octet <= FAKE_WS_SCRIPT_COUNT ? octet - 1 : -1;
    } else {
        for (int i = 0; game != NULL && i < FAKE_WS_SCRIPT_COUNT; i++)
            if (strcmp(game, scripts[i]) == 0)
                script = i;
    }
    json_decref(req);
    return script;
}

/* {"SessionReady":...} announcing 127.0.0.1:30004 with a token minted for token_port. */
static char *
ready_text(uint16_t token_port)
{
    mm_token_key key;
    mm_token_address addr = {.family = 4, .ip = {127, 0, 0, 1}, .port = token_port};
    char b64[MM_TOKEN_BASE64_LEN + 1];
    char *text = NULL;
    if (mm_token_key_parse(FAKE_WS_KEY, &key, NULL, 0) == MM_OK &&
        mm_token_mint(&key, MM_BYTE_ORDER_LITTLE, FAKE_WS_PROTOCOL_ID, 7, &addr, 1, mm_unix_seconds(), 30, 15, b64,
                      sizeof(b64)) == MM_OK)
        mm_feedback_ready(b64, "127.0.0.1", FAKE_WS_GAME_PORT, "e3:76:aa", &text, NULL);
    mm_token_key_wipe(&key);
    return text;
}

/* Reads client frames until its close frame or EOF, counting echoed pongs and 1000 closes. */
static void
finish(struct conn *c)
{
    char payload[256];
    size_t len = 0;
    for (;;) {
        int opcode = read_frame(c, payload, sizeof(payload), &len);
        if (opcode < 0)
            return;
        pthread_mutex_lock(&c->server->lock);
        if (opcode == 0xA && len == 2 && memcmp(payload, "p1", 2) == 0)
            c->server->pongs++;
        if (opcode == 0x8 && len >= 2 && ((uint8_t)payload[0] << 8 | (uint8_t)payload[1]) == 1000)
            c->server->client_closes++;
        pthread_mutex_unlock(&c->server->lock);
        if (opcode == 0x8)
            return; /* the server closes the TCP connection first, as RFC 6455 wants */
    }
}

/* ping, Acknowledged, accepted, progress, SessionReady in two fragments [, close 1000] */
static int
happy_flow_from(struct conn *c, uint16_t token_port, int close_after, int acknowledge)
{
    char *ready = ready_text(token_port);
    int rc = -1;
    if (ready == NULL)
        return -1;
    size_t half = strlen(ready) / 2;
    if (send_frame(c, 1, 0x9, "p1", 2) == 0 && (!acknowledge || send_text(c, "\"Acknowledged\"") == 0) &&
        send_text(c, "{\"SessionRequestAccepted\":\"950dd2eaff09-S\"}") == 0 &&
        send_text(c, "{\"ProgressReport\":\"Status.SEEKING (0)\"}") == 0 && send_frame(c, 0, 0x1, ready, half) == 0 &&
        send_frame(c, 1, 0x0, ready + half, strlen(ready) - half) == 0)
        rc = close_after ? send_close(c, 1000, "Goodbye") : 0;
    free(ready);
    return rc;
}

static int
happy_flow(struct conn *c, uint16_t token_port, int close_after)
{
    return happy_flow_from(c, token_port, close_after, 1);
}

static void
play(struct conn *c, int script)
{
    switch (script) {
    case 0: /* happy */
    case 4: /* wrongport */
        if (happy_flow(c, script == 0 ? FAKE_WS_GAME_PORT : FAKE_WS_GAME_PORT + 1, 1) == 0)
            finish(c);
        return;
    case 1: /* error */
        if (send_text(c, "\"Acknowledged\"") == 0 && send_text(c, "{\"Error\":[409,\"conflict\"]}") == 0 &&
            send_close(c, 1000, "Goodbye") == 0)
            finish(c);
        return;
    case 2: /* err */
        if (send_text(c, "ERR Game name invalid") == 0 && send_close(c, 1008, "") == 0)
            finish(c);
        return;
    case 3: /* order */
        if (send_text(c, "\"Acknowledged\"") == 0) {
            char *ready = ready_text(FAKE_WS_GAME_PORT);
            if (ready != NULL && send_text(c, ready) == 0 && send_close(c, 1000, "Goodbye") == 0)
                finish(c);
            free(ready);
        }
        return;
    case 5: /* silent */
        wait_eof(c);
        return;
    case 6: /* early: no close frame, just the FIN */
        send_text(c, "\"Acknowledged\"");
        send_text(c, "{\"SessionRequestAccepted\":\"950dd2eaff09-S\"}");
        return;
    case 7: /* badjson */
        if (send_text(c, "{not json") == 0 && send_close(c, 1000, "Goodbye") == 0)
            finish(c);
        return;
    case 8: /* noclose */
        if (happy_flow(c, FAKE_WS_GAME_PORT, 0) == 0)
            wait_eof(c);
        return;
    case 9: { /* line */
        struct timespec pause = {.tv_sec = FAKE_WS_LINE_MS / 1000, .tv_nsec = (FAKE_WS_LINE_MS % 1000) * 1000000L};
        if (send_text(c, "\"Acknowledged\"") == 0 &&
            send_text(c, "{\"ProgressReport\":\"Waiting in line: position 3 of 5, about 1 s (0)\"}") == 0 &&
            send_text(c, "{\"ProgressReport\":\"Waiting in line: position 1 of 5, about 0 s (0)\"}") == 0) {
            nanosleep(&pause, NULL);
            if (happy_flow_from(c, FAKE_WS_GAME_PORT, 1, 0) == 0)
                finish(c);
        }
        return;
    }
    case 10: /* lineerror */
        if (send_text(c, "\"Acknowledged\"") == 0 &&
            send_text(c, "{\"ProgressReport\":\"Waiting in line: position 7 of 9, about 4 s (0)\"}") == 0 &&
            send_text(c, "{\"Error\":[503,\"line closed\"]}") == 0 && send_close(c, 1000, "Goodbye") == 0)
            finish(c);
        return;
    default:
        send_text(c, "ERR unknown script");
        return;
    }
}

static void *
conn_main(void *arg)
{
    struct conn *c = arg;
    fake_ws_server *s = c->server;
    struct timeval tv = {.tv_sec = 20};
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* frames go out as written */
    if (upgrade(c) == 0)
        play(c, read_request(c));
    close(c->fd);
    free(c);
    pthread_mutex_lock(&s->lock);
    s->active--;
    pthread_cond_signal(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void *
acceptor_main(void *arg)
{
    fake_ws_server *s = arg;
    for (;;) {
        struct sockaddr_in peer;
        socklen_t peer_len = sizeof(peer);
        int fd = accept(s->listen_fd, (struct sockaddr *)&peer, &peer_len);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL; /* shut down */
        }
        /* which TCP peer addresses were seen, and how often (the front's limits count these) */
        pthread_mutex_lock(&s->lock);
        int p = 0;
        while (p < s->peer_distinct && s->peers[p] != peer.sin_addr.s_addr)
            p++;
        if (p == s->peer_distinct && p < FAKE_WS_MAX_IPS)
            s->peers[s->peer_distinct++] = peer.sin_addr.s_addr;
        if (p < s->peer_distinct)
            s->peer_counts[p]++;
        else
            s->peer_overflow++;
        pthread_mutex_unlock(&s->lock);
        struct conn *c = calloc(1, sizeof(*c));
        pthread_attr_t attr;
        pthread_t thread;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&s->lock);
        int ok = c != NULL && s->active < FAKE_WS_MAX_CONNS;
        if (ok) {
            c->server = s;
            c->fd = fd;
            ok = pthread_create(&thread, &attr, conn_main, c) == 0;
            if (ok)
                s->active++;
        }
        pthread_mutex_unlock(&s->lock);
        pthread_attr_destroy(&attr);
        if (!ok) {
            close(fd);
            free(c);
        }
    }
}

int
fake_ws_start(fake_ws_server *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s->listen_fd, 1024) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (s->listen_fd >= 0)
            close(s->listen_fd);
        return -1;
    }
    s->port = ntohs(sa.sin_port);
    if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
        close(s->listen_fd);
        return -1;
    }
    return 0;
}

int
fake_ws_count(fake_ws_server *s, const int *counter)
{
    pthread_mutex_lock(&s->lock);
    int v = *counter;
    pthread_mutex_unlock(&s->lock);
    return v;
}

int
fake_ws_stop(fake_ws_server *s)
{
    shutdown(s->listen_fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(s->acceptor, NULL);
    close(s->listen_fd);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&s->lock);
    while (s->active > 0 && pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == 0) {
    }
    int left = s->active;
    pthread_mutex_unlock(&s->lock);
    if (left > 0)
        return -1; /* threads still use s: leave the lock alone */
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    return 0;
}
