/*
 * One mm_bench client connection's I/O (mm_bench_conn.h): a non-blocking TCP connect (from the
 * request's --source-ips address when there are ranges), writes
 * (with what the socket does not take kept in c->pending, at most 4 KB: a server that reads
 * nothing is a protocol violation rather than unbounded memory), reads into c->in (4 KB, grown
 * to what one frame needs, at most MM_BENCH_MAX_MESSAGE plus a header), deadlines and the
 * teardown. Socket events come from the loop (level-triggered epoll, one read per event); what
 * the bytes mean is mm_bench_conn_read.c's business. A connection is torn down exactly once,
 * and its memory is released by the loop after the current epoll batch.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "mm_bench_conn.h"

#define IN_INITIAL 4096
#define IN_MAX (MM_BENCH_MAX_MESSAGE + MM_BENCH_WS_MAX_HEADER)
#define PENDING_MAX 4096

void
mm__bench_conn_record(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now)
{
    if (c->recorded || !c->session.done)
        return;
    c->recorded = 1;
    mm_bench_stats_decided(loop->stats, &c->session, c->t0, c->at, now);
    if (loop->csv != NULL)
        mm_bench_line_csv_row(loop->csv, loop->stats, c->index, c->t0, c->at, &c->session);
}

/* Records the outcome, closes the socket and hands c to the dead list. */
void
mm__bench_conn_teardown(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now)
{
    if (!c->session.done)
        mm_bench_session_end(&c->session, MM_BENCH_PROTOCOL_VIOLATION, "internal: torn down undecided");
    mm__bench_conn_record(loop, c, now);
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
    }
    mm_bench_list_remove(c);
    mm_bench_list_append(&loop->dead, c);
}

void
mm__bench_conn_fail(mm_bench_loop *loop, mm_bench_conn *c, mm_bench_outcome outcome, const char *reason, uint64_t now)
{
    mm_bench_session_end(&c->session, outcome, reason);
    mm__bench_conn_teardown(loop, c, now);
}

static void
conn_set_events(mm_bench_loop *loop, mm_bench_conn *c, uint32_t events)
{
    if (c->epoll_events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->epoll_events = events;
}

/* Sends data, queueing what the socket does not take. 0, or -1 with a reason. */
int
mm__bench_conn_send(mm_bench_loop *loop, mm_bench_conn *c, const void *data, size_t len, char *why, size_t why_len)
{
    const uint8_t *p = data;
    if (c->pending_len == 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(why, why_len, "send: %s", strerror(errno));
            return -1;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
        if (len == 0)
            return 0;
    }
    if (c->pending_len + len > PENDING_MAX) {
        snprintf(why, why_len, "the server reads nothing (over %d bytes unsent)", PENDING_MAX);
        return -1;
    }
    uint8_t *grown = realloc(c->pending, c->pending_len + len);
    if (grown == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    memcpy(grown + c->pending_len, p, len);
    c->pending = grown;
    c->pending_len += len;
    conn_set_events(loop, c, EPOLLIN | EPOLLOUT);
    return 0;
}

static void
conn_flush(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now)
{
    if (c->pending_len > 0) {
        ssize_t n = send(c->fd, c->pending, c->pending_len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            char why[MM__BENCH_WHY_LEN];
            snprintf(why, sizeof(why), "send: %s", strerror(errno));
            mm__bench_conn_ended(loop, c, why, now);
            return;
        }
        if (n > 0) {
            memmove(c->pending, c->pending + n, c->pending_len - (size_t)n);
            c->pending_len -= (size_t)n;
        }
    }
    if (c->pending_len == 0)
        conn_set_events(loop, c, EPOLLIN);
}

/* Moves c to the grace list in state (CLOSING or LINGER), with a fresh grace deadline. */
void
mm__bench_conn_enter_grace(mm_bench_loop *loop, mm_bench_conn *c, mm_bench_conn_state state, uint64_t now)
{
    c->state = state;
    if (c->list != &loop->grace) {
        c->deadline = now + loop->cfg->close_grace_ns;
        mm_bench_list_remove(c);
        mm_bench_list_append(&loop->grace, c);
    }
}

static void
conn_connected(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof(err);
    char why[MM__BENCH_WHY_LEN], req[1024];
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        snprintf(why, sizeof(why), "connect: %s", strerror(err));
        mm__bench_conn_fail(loop, c, MM_BENCH_CONNECT_FAILED, why, now);
        return;
    }
    c->at[MM_BENCH_PHASE_CONNECT] = now;
    c->state = MM_BENCH_CONN_UPGRADING;
    conn_set_events(loop, c, EPOLLIN);
    mm_bench_ws_key(c->key);
    size_t n = mm_bench_ws_upgrade_request(req, sizeof(req), loop->cfg->host_header, loop->cfg->path, c->key);
    if (n == 0) {
        mm__bench_conn_fail(loop, c, MM_BENCH_CONNECT_FAILED, "upgrade request too long", now);
        return;
    }
    if (mm__bench_conn_send(loop, c, req, n, why, sizeof(why)) != 0)
        mm__bench_conn_fail(loop, c, MM_BENCH_CONNECT_FAILED, why, now);
}

/* The connection ended (EOF or error) with detail as the reason. */
void
mm__bench_conn_ended(mm_bench_loop *loop, mm_bench_conn *c, const char *detail, uint64_t now)
{
    char why[MM__BENCH_WHY_LEN];
    if (c->state == MM_BENCH_CONN_CONNECTING || c->state == MM_BENCH_CONN_UPGRADING) {
        snprintf(why, sizeof(why), "%s before the 101 response", detail);
        mm_bench_session_end(&c->session, MM_BENCH_CONNECT_FAILED, why);
    } else if (c->state != MM_BENCH_CONN_LINGER) {
        mm_bench_session_eof(&c->session, detail);
    }
    mm__bench_conn_teardown(loop, c, now);
}

static void
conn_readable(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now)
{
    if (c->in_len == c->in_cap) {
        size_t cap = c->in_cap * 2 < IN_MAX ? c->in_cap * 2 : IN_MAX;
        uint8_t *grown = cap > c->in_cap ? realloc(c->in, cap) : NULL;
        if (grown == NULL) {
            mm__bench_conn_fail(loop, c, MM_BENCH_PROTOCOL_VIOLATION, "input buffer full", now);
            return;
        }
        c->in = grown;
        c->in_cap = cap;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            mm__bench_conn_ended(loop, c, errno == ECONNRESET ? "connection reset" : strerror(errno), now);
        return;
    }
    if (n == 0) {
        mm__bench_conn_ended(loop, c, "connection closed", now);
        return;
    }
    c->in_len += (size_t)n;
    mm__bench_conn_process(loop, c, now);
}

void
mm_bench_conn_event(mm_bench_loop *loop, mm_bench_conn *c, uint32_t events, uint64_t now)
{
    if (c->fd < 0)
        return; /* torn down earlier in this batch */
    if (c->state == MM_BENCH_CONN_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            conn_connected(loop, c, now);
        return;
    }
    if ((events & EPOLLOUT) && c->fd >= 0)
        conn_flush(loop, c, now);
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && c->fd >= 0)
        conn_readable(loop, c, now);
}

mm_err
mm_bench_conn_start(mm_bench_loop *loop, uint64_t index, uint64_t t0, uint64_t now)
{
    const mm_bench_config *cfg = loop->cfg;
    char why[MM__BENCH_WHY_LEN];
    mm_bench_conn *c = calloc(1, sizeof(*c));
    uint8_t *in = malloc(IN_INITIAL);
    if (c == NULL || in == NULL) {
        free(c);
        free(in);
        return MM_ERR_NOMEM;
    }
    c->fd = -1;
    c->in = in;
    c->in_cap = IN_INITIAL;
    c->index = index;
    c->t0 = t0;
    c->deadline = t0 + cfg->timeout_ns;
    c->state = MM_BENCH_CONN_CONNECTING;
    mm_bench_session_init(&c->session);
    loop->live++;
    mm_bench_list_append(&loop->active, c);
    mm_bench_stats_started(loop->stats, now, now > t0 ? now - t0 : 0);
    mm_bench_stats_arrival(loop->stats, t0 > loop->stats->start_ns ? t0 - loop->stats->start_ns : 0);

    c->fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(why, sizeof(why), "socket: %s", strerror(errno));
        mm__bench_conn_fail(loop, c, MM_BENCH_CONNECT_FAILED, why, now);
        return MM_OK;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (cfg->source_mode == MM_BENCH_SOURCE_RANGES) {
        /* the port is chosen at connect(), per destination: binding does not use up ports */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(mm_bench_config_source_ip(cfg, index))};
        if (bind(c->fd, (const struct sockaddr *)&src, sizeof(src)) != 0) {
            snprintf(why, sizeof(why), "bind to a --source-ips address: %s", strerror(errno));
            mm__bench_conn_fail(loop, c, MM_BENCH_CONNECT_FAILED, why, now);
            return MM_OK;
        }
    }
    if (connect(c->fd, (const struct sockaddr *)&cfg->addr, cfg->addr_len) != 0 && errno != EINPROGRESS) {
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        mm__bench_conn_fail(loop, c, MM_BENCH_CONNECT_FAILED, why, now);
        return MM_OK;
    }
    /* writable = connected (or failed: SO_ERROR tells), also when connect() finished at once */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        snprintf(why, sizeof(why), "epoll_ctl: %s", strerror(errno));
        mm__bench_conn_fail(loop, c, MM_BENCH_CONNECT_FAILED, why, now);
        return MM_OK;
    }
    c->epoll_events = ev.events;
    return MM_OK;
}

void
mm_bench_conn_expire(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now)
{
    switch (c->state) {
    case MM_BENCH_CONN_CONNECTING:
        mm_bench_session_end(&c->session, MM_BENCH_TIMEOUT, "waiting for the TCP connect");
        break;
    case MM_BENCH_CONN_UPGRADING:
        mm_bench_session_end(&c->session, MM_BENCH_TIMEOUT, "waiting for the 101 response");
        break;
    case MM_BENCH_CONN_OPEN:
    case MM_BENCH_CONN_CLOSING:
        mm_bench_session_timeout(&c->session, c->session.messages == 0 ? "the first message"
                                              : !c->session.accepted ? "SessionRequestAccepted"
                                                                     : "SessionReady");
        break;
    case MM_BENCH_CONN_LINGER:
        break; /* decided already; the server just did not close its side */
    }
    mm__bench_conn_teardown(loop, c, now);
}

void
mm_bench_conn_interrupt(mm_bench_loop *loop, mm_bench_conn *c, uint64_t now)
{
    mm_bench_session_end(&c->session, MM_BENCH_INTERRUPTED, "mm_bench was stopped");
    mm__bench_conn_teardown(loop, c, now);
}

void
mm_bench_conn_free(mm_bench_conn *c)
{
    if (c == NULL)
        return;
    free(c->in);
    free(c->msg);
    free(c->pending);
    free(c);
}
