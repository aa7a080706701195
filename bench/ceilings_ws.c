/*
 * mm_ceilings ws-server: the ceiling of a WebSocket front on this machine (bench/ceilings.h).
 *
 * Deliberately the stock path, not ours: h2o's own handshake (h2o_upgrade_to_websocket) and its
 * wslay-based message layer, one h2o loop on the main thread, no backend, no limits, no
 * metrics. The three texts are built once at start (with the project's feedback encoder and a
 * real minted token, so the bytes on the wire are those of a ready session) and queued from the
 * message callback. wslay sends control frames before queued messages, so the close 1000
 * "Goodbye" is queued only once wslay has handed every message to h2o: a zero-delay h2o timer
 * checks wslay's queued count each loop turn. h2o closes the socket once the close frames are
 * exchanged (the callback then gets arg NULL, the one place where h2o_websocket_close may be
 * called, and where the session's timer is unlinked and its memory freed).
 *
 * Only for benchmarks: a client that never sends a message holds its connection until it
 * leaves; there is no timeout of any kind, and a session whose 101 could not be written is
 * never freed (h2o closes such a connection without calling back). On SIGTERM the listener is
 * closed, open connections get 2 s to finish, then h2o is disposed when none is left (as the
 * front does; h2o 2.2.5 cannot dispose a context with live sockets).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/websocket.h>

#include "ceilings.h"
#include "mm/h2o_caches.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/token.h"

typedef struct ws_server {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    h2o_timeout_t zero_timeout;
    char *texts[3];
    size_t lens[3];
    uint64_t served;
    size_t nconns; /* accepted sockets not closed yet */
} ws_server;

typedef struct ws_session {
    ws_server *server;
    h2o_websocket_conn_t *conn;
    h2o_timeout_entry_t close_timer;
} ws_session;

typedef struct ws_handler {
    h2o_handler_t super;
    ws_server *server;
} ws_handler;

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void
on_close_timer(h2o_timeout_entry_t *entry)
{
    ws_session *w = (ws_session *)(void *)((char *)entry - offsetof(ws_session, close_timer));
    if (wslay_event_get_queued_msg_count(w->conn->ws_ctx) > 0) {
        h2o_timeout_link(w->server->loop, &w->server->zero_timeout, &w->close_timer);
        return;
    }
    wslay_event_queue_close(w->conn->ws_ctx, 1000, (const uint8_t *)"Goodbye", 7);
    h2o_websocket_proceed(w->conn); /* may close the connection and free w: not touched after */
}

static void
on_ws_message(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    ws_session *w = conn->data;
    if (arg == NULL) { /* closed (or failed): the only safe place to close */
        if (h2o_timeout_is_linked(&w->close_timer))
            h2o_timeout_unlink(&w->close_timer);
        h2o_websocket_close(conn);
        free(w);
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME || h2o_timeout_is_linked(&w->close_timer))
        return;
    ws_server *s = w->server;
    for (int i = 0; i < 3; i++) {
        struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)s->texts[i], s->lens[i]};
        wslay_event_queue_msg(conn->ws_ctx, &msg);
    }
    h2o_timeout_link(s->loop, &s->zero_timeout, &w->close_timer);
    s->served++;
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    const char *client_key = NULL;
    if (h2o_is_websocket_handshake(req, &client_key) != 0 || client_key == NULL)
        return -1; /* h2o answers 404 */
    ws_session *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -1;
    w->server = ((ws_handler *)self)->server;
    w->close_timer.cb = on_close_timer;
    w->conn = h2o_upgrade_to_websocket(req, client_key, w, on_ws_message);
    return 0;
}

static void
on_sock_close(void *data)
{
    ((ws_server *)data)->nconns--;
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    ws_server *s = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 64; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        s->nconns++;
        sock->on_close.cb = on_sock_close;
        sock->on_close.data = s;
        h2o_accept(&s->accept_ctx, sock);
    }
}

/* Closes the listener, waits up to 2 s for the connections, then disposes h2o if none is left. */
static void
shut_down(ws_server *s)
{
    h2o_socket_read_stop(s->listener);
    h2o_socket_close(s->listener);
    uint64_t deadline = mm_now_ms() + 2000;
    while (s->nconns > 0 && mm_now_ms() < deadline)
        h2o_evloop_run(s->loop, 10);
    h2o_evloop_run(s->loop, 0); /* the listener is freed on the next run */
    if (s->nconns > 0) {
        fprintf(stderr, "mm_ceilings ws-server: leaving %zu connections open\n", s->nconns);
        return;
    }
    h2o_timeout_dispose(s->loop, &s->zero_timeout);
    h2o_multithread_queue_t *queue = s->ctx.queue; /* h2o 2.2.5 never frees the queue's struct */
    h2o_context_dispose(&s->ctx);
    h2o_evloop_run(s->loop, 0);
    free(queue);
    h2o_evloop_destroy(s->loop);
    h2o_config_dispose(&s->config);
    mm_h2o_release_thread_caches();
}

static int
listen_on(const char *host, uint16_t port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "mm_ceilings: ws-server: %s is not an IPv4 address\n", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 4096) != 0) {
        fprintf(stderr, "mm_ceilings: ws-server: cannot listen on %s:%u: %s\n", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The three texts of a ready session, with a token minted for 127.1.0.1:30000. */
static int
build_texts(ws_server *s)
{
    mm_token_key key = {{0}};
    mm_token_address addr;
    char b64[MM_TOKEN_BASE64_LEN + 1];
    if (mm_crypto_init() != MM_OK || mm_token_address_parse("127.1.0.1:30000", &addr, NULL, 0) != MM_OK ||
        mm_token_mint(&key, MM_BYTE_ORDER_LITTLE, 80085, 42, &addr, 1, mm_unix_seconds(), 30, 15, b64, sizeof(b64)) != MM_OK ||
        mm_feedback_acknowledged(&s->texts[0], &s->lens[0]) != MM_OK ||
        mm_feedback_accepted("0123456789ab-S", &s->texts[1], &s->lens[1]) != MM_OK ||
        mm_feedback_ready(b64, "127.1.0.1", 30000, "00:11:22:33", &s->texts[2], &s->lens[2]) != MM_OK) {
        fprintf(stderr, "mm_ceilings: ws-server: cannot build the session texts\n");
        return -1;
    }
    return 0;
}

int
mm__ceil_ws_server(const char *host, uint16_t port)
{
    ws_server s = {0};
    int rc = 1;
    if (build_texts(&s) != 0)
        goto cleanup;
    int fd = listen_on(host, port);
    if (fd < 0)
        goto cleanup;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    h2o_config_init(&s.config);
    h2o_hostconf_t *hostconf = h2o_config_register_host(&s.config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    ws_handler *handler = (ws_handler *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->server = &s;
    s.loop = h2o_evloop_create();
    h2o_timeout_init(s.loop, &s.zero_timeout, 0);
    h2o_context_init(&s.ctx, s.loop, &s.config);
    s.accept_ctx.ctx = &s.ctx;
    s.accept_ctx.hosts = s.config.hosts;
    s.listener = h2o_evloop_socket_create(s.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    s.listener->data = &s;
    h2o_socket_read_start(s.listener, on_accept);
    printf("mm_ceilings ws-server listening on %s:%u\n", host, port);
    fflush(stdout);

    while (!stop_flag)
        h2o_evloop_run(s.loop, 100); /* -1 on EINTR: the loop runs on stop_flag */
    fprintf(stderr, "mm_ceilings ws-server: %llu sessions served\n", (unsigned long long)s.served);
    shut_down(&s);
    rc = 0;

cleanup:
    for (int i = 0; i < 3; i++)
        free(s.texts[i]);
    return rc;
}
