/*
 * One event loop of the web front: a thread running an h2o evloop that owns every connection
 * it accepted (front_internal.h).
 *
 * A turn: announce the intent to sleep on the relay inbox (mm_inbox_wait_begin), run h2o (its
 * epoll also watches the inbox's eventfd, registered as an h2o socket h2o never reads), then
 * relay a bounded batch of wake-ups and flush the WebSockets they touched with one write each.
 * h2o runs the callbacks of writes made outside h2o_evloop_run only on its next run, so a turn
 * that relayed anything is followed by one that does not sleep. h2o_evloop_run returns -1 on
 * EINTR: the loop runs on the front's stop flag, never on that result.
 *
 * Every accepted socket is tracked (on_close frees the tracker), which gives the open
 * connection count, the max-connections refusal (a canned 503 written before h2o sees the
 * socket), and, at stop, the list of what must be closed.
 *
 * The admin listener (loop 0 only) goes through the same accept path; its sockets are marked
 * and counted apart (front->admin_conns, own cap), and reach only the admin host's handler.
 *
 * Request heads cost memory: h2o 2.2.5 buffers up to H2O_MAX_REQLEN (~408 KiB) of an unfinished
 * head per connection, in a buffer that doubles (~0.5 MiB), and glibc keeps what is freed. So:
 *  1. At accept, before anything is read, the TCP peer's address (IPv6 by its /64, the limits'
 *     key) may hold at most max_connections_per_ip open connections (limits.c counts them);
 *     beyond: a canned 503. Trusted proxies are exempt (a proxy carries many clients; their
 *     own addresses are only known from X-Forwarded-For, after the head).
 *  2. The first head is read by us, not h2o: h2o_socket_read_start with our callback, so h2o's
 *     evloop reads into sock->input and we look at it after each read. A head longer than
 *     max_header_bytes gets a canned 431; while the input buffers of every head being read (all
 *     loops, their capacity: what they really cost) pass max_header_bytes_total, the connection
 *     whose read passed it gets a canned 503; a head not complete within the first-message
 *     timeout is closed (as h2o's own req_timeout would). Once the buffer holds a blank line
 *     (LF LF or LF CR LF: picohttpparser accepts both) we call h2o_accept: h2o_http1_accept's
 *     reqread_start parses what sock->input already holds before it waits for more (checked in
 *     h2o 2.2.5 lib/http1.c), so nothing is read twice or lost. From then on the socket is
 *     h2o's; h2o_accept may even close it at once, so the tracker is not touched after it.
 *  3. Keep-alive follow-up heads are read by h2o itself, which stops reading while it answers
 *     and reads the next head only after the response. Every SWEEP_MS a sweep looks at the
 *     input buffer of each h2o-owned socket (not WebSockets: after the upgrade the socket is
 *     ours and bounded by ws.c): one that grew since the last sweep to more than
 *     max_header_bytes + max_message_bytes + 4 KiB (a head, a body, slack) is shut down (h2o
 *     then reads EOF and closes it). Growth only: pipelined requests waiting while h2o writes
 *     an answer do not grow (h2o does not read meanwhile) and are not a head being sent.
 *     Between sweeps one connection can still reach h2o's own ~0.5 MiB; the per-address cap
 *     bounds how many do.
 *  4. glibc keeps freed memory in its arenas (a loop thread's arena shrinks only from its top).
 *     Each loop adds up the largest input buffer of each socket it closed; past 1 MiB, and at
 *     most once a second, it calls malloc_trim(0), which gives the free pages of every arena
 *     back to the kernel.
 *
 * Stop: stop accepting, disable keep-alive, refuse WebSockets still waiting for their first
 * message; let requests finish until the deadline; abandon the rest with Error(503); close the
 * admin listener (open until then, so probes could read /readyz's 503); give the
 * connections MM__FRONT_CLOSE_ALL_MS to close (shutting down idle keep-alive sockets after a
 * short grace), then drop what is left. Only a loop with no socket left disposes its h2o
 * context; otherwise it is leaked with a warning, because h2o cannot dispose it safely.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm/clock.h"
#include "mm/h2o_caches.h"
#include "mm/log.h"
#include "ws_conn.h"

#define ACCEPTS_PER_WAKEUP 64
#define STOP_GRACE_TURNS 20 /* x 10 ms before idle keep-alive sockets are shut down */
#define SWEEP_MS 100
#define TRIM_AFTER_BYTES (1u << 20)   /* input buffers freed before malloc_trim runs */
#define TRIM_EVERY_NS 1000000000ull

static const char refuse_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Length: 40\r\n"
                                 "Connection: close\r\n"
                                 "\r\n"
                                 "too many connections; try again shortly\n";
static const char refuse_ip_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                    "Content-Type: text/plain; charset=utf-8\r\n"
                                    "Content-Length: 39\r\n"
                                    "Connection: close\r\n"
                                    "\r\n"
                                    "too many connections from your address\n";
static const char refuse_431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Length: 26\r\n"
                                 "Connection: close\r\n"
                                 "\r\n"
                                 "request headers too large\n";
static const char refuse_heads_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                       "Content-Type: text/plain; charset=utf-8\r\n"
                                       "Content-Length: 48\r\n"
                                       "Connection: close\r\n"
                                       "\r\n"
                                       "too many requests being read; try again shortly\n";

/* What an input buffer costs (h2o's empty prototype buffer costs nothing). */
static size_t
buffer_cost(const h2o_buffer_t *b)
{
    return b->bytes != NULL ? b->capacity : 0;
}

/* Counts the socket's input buffer in the heads' total as it is now; returns the new total. */
static uint64_t
hold_input(mm__front_sock *t)
{
    mm_front *front = t->loop->front;
    size_t cost = buffer_cost(t->sock->input);
    if (cost > t->peak)
        t->peak = cost;
    uint64_t total;
    if (cost >= t->held)
        total = atomic_fetch_add(&front->header_bytes, cost - t->held) + (cost - t->held);
    else
        total = atomic_fetch_sub(&front->header_bytes, t->held - cost) - (t->held - cost);
    t->held = cost;
    return total;
}

/* Ends our reading of the first head: h2o's turn, or a refusal. */
static void
end_head(mm__front_sock *t)
{
    if (!t->reading_head)
        return;
    t->reading_head = false;
    h2o_socket_read_stop(t->sock);
    if (h2o_timeout_is_linked(&t->head_timeout))
        h2o_timeout_unlink(&t->head_timeout);
    if (t->held > 0) {
        atomic_fetch_sub(&t->loop->front->header_bytes, t->held);
        t->held = 0;
    }
}

static void
on_sock_close(void *data)
{
    mm__front_sock *t = data;
    mm__front_loop *loop = t->loop;
    if (h2o_timeout_is_linked(&t->head_timeout))
        h2o_timeout_unlink(&t->head_timeout);
    if (t->held > 0)
        atomic_fetch_sub(&loop->front->header_bytes, t->held);
    if (t->ip_counted)
        mm__front_limits_conn_release(loop->front->limits, t->key);
    loop->freed_bytes += t->peak;
    if (t->ws != NULL)
        t->ws->track = NULL;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        loop->socks = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    else
        loop->socks_tail = t->prev;
    loop->nsocks--;
    if (t->admin) {
        atomic_fetch_sub(&loop->front->admin_conns, 1);
    } else {
        atomic_fetch_sub(&loop->front->open_conns, 1);
        atomic_fetch_sub_explicit(&loop->front->metrics.conns_open, 1, memory_order_relaxed);
    }
    free(t);
}

static void
on_refused_written(h2o_socket_t *sock, const char *err)
{
    (void)err;
    h2o_socket_close(sock);
}

/* Answers a canned refusal and closes once it is written; reads nothing more. */
static void
refuse(mm__front_sock *t, mm__refusal reason, const char *text, size_t len)
{
    h2o_socket_t *sock = t->sock;
    mm__front_count_refusal(t->loop->front, reason);
    end_head(t);
    if (sock->input->size > 0)
        h2o_buffer_consume(&sock->input, sock->input->size); /* frees the buffer */
    h2o_iovec_t v = h2o_iovec_init(text, len);
    h2o_socket_write(sock, &v, 1, on_refused_written);
}

/* The length of the head (through its blank line) in bytes[0, size), or 0 while incomplete;
 * from: bytes already searched. */
static size_t
head_length(const char *bytes, size_t size, size_t from)
{
    size_t i = from >= 2 ? from - 2 : 0;
    const char *nl;
    while (i < size && (nl = memchr(bytes + i, '\n', size - i)) != NULL) {
        i = (size_t)(nl - bytes) + 1;
        if (i < size && bytes[i] == '\n')
            return i + 1;
        if (i + 1 < size && bytes[i] == '\r' && bytes[i + 1] == '\n')
            return i + 2;
    }
    return 0;
}

static void
on_head_read(h2o_socket_t *sock, const char *err)
{
    mm__front_sock *t = sock->data;
    const mm_front_config *cfg = &t->loop->front->cfg;
    if (err != NULL) {
        h2o_socket_close(sock);
        return;
    }
    uint64_t total = hold_input(t);
    size_t len = head_length(sock->input->bytes, sock->input->size, t->scanned);
    t->scanned = sock->input->size;
    if ((len > 0 ? len : sock->input->size) > cfg->max_header_bytes) {
        refuse(t, MM__REF_HEADER_TOO_LARGE, refuse_431, sizeof(refuse_431) - 1);
        return;
    }
    if (len == 0) {
        if (total > cfg->max_header_bytes_total)
            refuse(t, MM__REF_HEADER_MEMORY, refuse_heads_503, sizeof(refuse_heads_503) - 1);
        return;
    }
    end_head(t);
    t->last_input = sock->input->size; /* pipelined requests, read with the head */
    sock->data = NULL;
    h2o_accept(&t->loop->accept_ctx, sock); /* may close the socket, and free t, at once */
}

static void
on_head_timeout(h2o_timeout_entry_t *e)
{
    mm__front_sock *t = MM__CONTAINER(e, mm__front_sock, head_timeout);
    h2o_socket_close(t->sock); /* silent, as h2o's own request-header timeout */
}

void
mm__front_sock_websocket(mm__front_sock *t)
{
    mm__front_loop *loop = t->loop;
    if (t->next == NULL)
        return; /* the tail already */
    t->next->prev = t->prev;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        loop->socks = t->next;
    t->prev = loop->socks_tail;
    t->next = NULL;
    loop->socks_tail->next = t;
    loop->socks_tail = t;
}

/* Keep-alive follow-up heads, read by h2o: shuts down a socket whose unread input grew past
 * the bound since the last sweep. Only growth counts: h2o reads only while it waits for a head
 * or a body, whereas pipelined requests it has not reached yet (it is still writing an answer)
 * sit in the buffer without growing and are not a head being sent.
 * WebSockets are not h2o's and are never swept. New sockets join the head of loop->socks and a
 * socket that becomes a WebSocket moves to its tail (mm__front_sock_websocket), so the sweep
 * stops at the first WebSocket: with 10,000 players waiting it looked at 10,000 sockets ten
 * times a second only to skip them (over 40% of the loop's CPU while they waited). */
static void
on_sweep(h2o_timeout_entry_t *e)
{
    mm__front_loop *loop = MM__CONTAINER(e, mm__front_loop, sweep_entry);
    const mm_front_config *cfg = &loop->front->cfg;
    size_t bound = (size_t)cfg->max_header_bytes + cfg->max_message_bytes + 4096;
    for (mm__front_sock *t = loop->socks; t != NULL; t = t->next) {
        if (t->ws != NULL)
            break; /* the WebSockets, at the end of the list */
        if (t->reading_head || t->swept)
            continue;
        size_t cost = buffer_cost(t->sock->input);
        if (cost > t->peak)
            t->peak = cost;
        size_t size = t->sock->input->size, before = t->last_input;
        t->last_input = size;
        if (size > bound && size > before) {
            t->swept = true;
            mm__front_count_refusal(loop->front, MM__REF_HEADER_TOO_LARGE);
            shutdown(h2o_socket_get_fd(t->sock), SHUT_RDWR);
        }
    }
    if (!loop->stopping)
        h2o_timeout_link(loop->evloop, &loop->t_sweep, &loop->sweep_entry);
}

static void
on_resume_accept(h2o_timeout_entry_t *e);
static void
on_accept(h2o_socket_t *listener, const char *err);
static void
on_admin_accept(h2o_socket_t *listener, const char *err);

/* Stops (pause) or restarts reading every listener of the loop. */
static void
listeners_read(mm__front_loop *loop, bool pause)
{
    h2o_socket_t *all[MM_FRONT_MAX_BINDS + 1];
    size_t n = 0;
    for (size_t k = 0; k < loop->front->n_listen; k++)
        all[n++] = loop->listeners[k];
    all[n++] = loop->admin_listener;
    for (size_t k = 0; k < n; k++)
        if (all[k] != NULL) {
            if (pause)
                h2o_socket_read_stop(all[k]);
            else
                h2o_socket_read_start(all[k], all[k] == loop->admin_listener ? on_admin_accept : on_accept);
        }
}

/* Accepts from a client listener or (admin) the admin listener. */
static void
accept_some(h2o_socket_t *listener, bool admin)
{
    mm__front_loop *loop = listener->data;
    mm_front *front = loop->front;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        errno = 0;
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: the listener would stay readable and spin the loop */
                mm_warn("front: cannot accept (%s); pausing accepts for 100 ms", strerror(errno));
                listeners_read(loop, true);
                if (!h2o_timeout_is_linked(&loop->resume_entry))
                    h2o_timeout_link(loop->evloop, &loop->t_resume, &loop->resume_entry);
            }
            return;
        }
        mm__front_sock *t = calloc(1, sizeof(*t));
        if (t == NULL) {
            h2o_socket_close(sock);
            continue;
        }
        t->sock = sock;
        t->loop = loop;
        t->admin = admin;
        t->next = loop->socks;
        if (loop->socks != NULL)
            loop->socks->prev = t;
        else
            loop->socks_tail = t;
        loop->socks = t;
        loop->nsocks++;
        sock->on_close.cb = on_sock_close;
        sock->on_close.data = t;
        if (admin) { /* outside the clients' count and cap: a client flood cannot starve probes */
            if (atomic_fetch_add(&front->admin_conns, 1) + 1 > MM__FRONT_ADMIN_MAX_CONNS) {
                h2o_iovec_t v = h2o_iovec_init(refuse_503, sizeof(refuse_503) - 1);
                h2o_socket_write(sock, &v, 1, on_refused_written);
            } else {
                h2o_accept(&loop->admin_accept_ctx, sock);
            }
            continue;
        }
        uint64_t open = atomic_fetch_add(&front->open_conns, 1) + 1;
        atomic_fetch_add_explicit(&front->metrics.conns_open, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&front->metrics.conns_total, 1, memory_order_relaxed);
        if (open > front->cfg.max_connections) {
            mm__front_count_refusal(front, MM__REF_CONNECTIONS);
            h2o_iovec_t v = h2o_iovec_init(refuse_503, sizeof(refuse_503) - 1);
            h2o_socket_write(sock, &v, 1, on_refused_written);
            continue;
        }
        struct sockaddr_storage peer;
        bool is_trusted = false;
        if (h2o_socket_getpeername(sock, (struct sockaddr *)&peer) > 0 &&
            mm__front_peer_key(&front->cfg, (struct sockaddr *)&peer, t->key, &is_trusted) && !is_trusted) {
            if (mm__front_key_exempt(&front->cfg, t->key)) {
                atomic_fetch_add_explicit(&front->metrics.exempt_connections, 1, memory_order_relaxed);
            } else if (!mm__front_limits_conn_acquire(front->limits, t->key, front->cfg.max_connections_per_ip, mm_now_ns())) {
                refuse(t, MM__REF_IP_CONNECTIONS, refuse_ip_503, sizeof(refuse_ip_503) - 1);
                continue;
            }
            t->ip_counted = true;
        }
        t->reading_head = true;
        t->head_timeout.cb = on_head_timeout;
        h2o_timeout_link(loop->evloop, &loop->t_first, &t->head_timeout);
        sock->data = t;
        h2o_socket_read_start(sock, on_head_read);
    }
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    if (err == NULL)
        accept_some(listener, false);
}

static void
on_admin_accept(h2o_socket_t *listener, const char *err)
{
    if (err == NULL)
        accept_some(listener, true);
}

static void
on_resume_accept(h2o_timeout_entry_t *e)
{
    mm__front_loop *loop = MM__CONTAINER(e, mm__front_loop, resume_entry);
    if (!loop->stopping)
        listeners_read(loop, false);
}

static void
on_inbox_readable(h2o_socket_t *sock, const char *err)
{
    (void)sock; /* nothing to do here: the turn drains the inbox after h2o_evloop_run returns */
    (void)err;
}

mm_err
mm__front_loop_create(mm_front *front, size_t index, mm__front_loop **out, char *why, size_t why_len)
{
    mm__front_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "out of memory");
    loop->front = front;
    loop->index = index;
    mm_idmap_init(&loop->reqs);
    *out = loop;
    mm_inbox_config ic = {.capacity = front->cfg.relay_ring_capacity, .max_producers = 64};
    mm_err err = mm_inbox_create(&ic, &loop->inbox);
    if (err != MM_OK)
        return mm_fail(err, why, why_len, "cannot create the relay inbox of loop %zu: %s", index, mm_err_str(err));
    loop->evloop = h2o_evloop_create();
    h2o_context_init(&loop->ctx, loop->evloop, &front->h2o_config);
    loop->ctx_ready = true;
    loop->accept_ctx.ctx = &loop->ctx;
    loop->accept_ctx.hosts = front->client_hosts;
    loop->admin_accept_ctx.ctx = &loop->ctx;
    loop->admin_accept_ctx.hosts = front->admin_hosts;
    h2o_timeout_init(loop->evloop, &loop->t_first, front->cfg.first_message_timeout_ms);
    h2o_timeout_init(loop->evloop, &loop->t_request, front->cfg.request_timeout_ms);
    h2o_timeout_init(loop->evloop, &loop->t_ping, front->cfg.ping_interval_ms);
    h2o_timeout_init(loop->evloop, &loop->t_linger, MM__FRONT_LINGER_MS);
    h2o_timeout_init(loop->evloop, &loop->t_resume, 100);
    loop->resume_entry.cb = on_resume_accept;
    h2o_timeout_init(loop->evloop, &loop->t_sweep, SWEEP_MS);
    loop->sweep_entry.cb = on_sweep;
    h2o_timeout_link(loop->evloop, &loop->t_sweep, &loop->sweep_entry);
    loop->timeouts_ready = true;
    int efd = fcntl(mm_inbox_fd(loop->inbox), F_DUPFD_CLOEXEC, 0);
    if (efd < 0)
        return mm_fail(MM_ERR_SYS, why, why_len, "dup of the relay eventfd: %s", strerror(errno));
    loop->inbox_sock = h2o_evloop_socket_create(loop->evloop, efd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(loop->inbox_sock, on_inbox_readable);
    for (size_t i = 0; i < front->n_listen; i++) {
        int fd = fcntl(front->listen_fds[i], F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return mm_fail(MM_ERR_SYS, why, why_len, "dup of a listening socket: %s", strerror(errno));
        loop->listeners[i] = h2o_evloop_socket_create(loop->evloop, fd, H2O_SOCKET_FLAG_DONT_READ);
        loop->listeners[i]->data = loop;
        h2o_socket_read_start(loop->listeners[i], on_accept);
    }
    if (index == 0 && front->admin_fd >= 0) {
        int fd = fcntl(front->admin_fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return mm_fail(MM_ERR_SYS, why, why_len, "dup of the admin listening socket: %s", strerror(errno));
        loop->admin_listener = h2o_evloop_socket_create(loop->evloop, fd, H2O_SOCKET_FLAG_DONT_READ);
        loop->admin_listener->data = loop;
        h2o_socket_read_start(loop->admin_listener, on_admin_accept);
    }
    return MM_OK;
}

void
mm__front_loop_turn(mm__front_loop *loop, int32_t max_wait_ms)
{
    bool sleeping = !loop->kick && mm_inbox_wait_begin(loop->inbox);
    loop->kick = false;
    if (h2o_evloop_run(loop->evloop, sleeping ? max_wait_ms : 0) != 0 && errno != EINTR)
        mm_warn("front: event loop %zu: %s", loop->index, strerror(errno));
    if (sleeping)
        mm_inbox_wait_end(loop->inbox);
    size_t n = mm__front_relay_drain(loop, MM__FRONT_LOOP_BATCH);
    if (n > 0 || loop->dirty != NULL)
        loop->kick = true;
    mm__front_ws_flush_dirty(loop);
    if (loop->freed_bytes >= TRIM_AFTER_BYTES) {
        uint64_t now = mm_now_ns();
        if (now - loop->trimmed_ns >= TRIM_EVERY_NS) {
            malloc_trim(0);
            loop->freed_bytes = 0;
            loop->trimmed_ns = now;
        }
    }
    mm_inbox_stats st;
    mm_inbox_get_stats(loop->inbox, &st);
    atomic_store_explicit(&loop->snap_queue_depth, st.sent > st.received ? st.sent - st.received : 0, memory_order_relaxed);
    atomic_store_explicit(&loop->snap_live, loop->nlive, memory_order_relaxed);
    atomic_store_explicit(&loop->snap_h2o_413, loop->ctx.emitted_error_status[H2O_STATUS_ERROR_413], memory_order_relaxed);
    atomic_store_explicit(&loop->snap_h2o_400, loop->ctx.emitted_error_status[H2O_STATUS_ERROR_400], memory_order_relaxed);
}

/* Turns until cond_done() or the deadline, sleeping at most 10 ms at a time. */
static void
turn_until(mm__front_loop *loop, uint64_t deadline_ns, bool (*done)(mm__front_loop *))
{
    while (!done(loop)) {
        uint64_t now = mm_now_ns();
        if (now >= deadline_ns)
            return;
        uint64_t left_ms = (deadline_ns - now + 999999) / 1000000;
        mm__front_loop_turn(loop, left_ms < 10 ? (int32_t)left_ms : 10);
    }
}

static bool
no_requests(mm__front_loop *loop)
{
    return loop->nlive == 0;
}

static bool
no_sockets(mm__front_loop *loop)
{
    return loop->nsocks == 0;
}

static void
shutdown_sockets(mm__front_loop *loop, bool websockets_too)
{
    for (mm__front_sock *t = loop->socks; t != NULL; t = t->next)
        if (websockets_too || t->ws == NULL)
            shutdown(h2o_socket_get_fd(t->sock), SHUT_RDWR);
}

static void
stop_loop(mm__front_loop *loop)
{
    mm_front *front = loop->front;
    loop->stopping = true;
    loop->ctx.shutdown_requested = 1;
    h2o_timeout_unlink(&loop->resume_entry);
    if (h2o_timeout_is_linked(&loop->sweep_entry))
        h2o_timeout_unlink(&loop->sweep_entry);
    for (size_t i = 0; i < front->n_listen; i++)
        if (loop->listeners[i] != NULL) {
            h2o_socket_read_stop(loop->listeners[i]);
            h2o_socket_close(loop->listeners[i]);
            loop->listeners[i] = NULL;
        }
    mm__front_ws_stop_idle(loop);
    loop->kick = true;
    turn_until(loop, atomic_load(&front->stop_deadline_ns), no_requests);
    if (loop->nlive > 0)
        mm_info("front: loop %zu: %zu requests still open at the stop deadline; answering them 503", loop->index, loop->nlive);
    mm__front_req *next;
    for (mm__front_req *r = loop->live; r != NULL; r = next) {
        next = r->next;
        mm__front_count_refusal(front, MM__REF_STOPPING);
        r->ops->abandon(r, 503, "the matchmaker front is stopping", MM__OUT_STOPPED);
    }
    mm__front_ws_flush_dirty(loop);
    /* the admin listener was open through the drain, so probes saw the 503; shutdown() ends the
     * front's copy of it too */
    if (loop->admin_listener != NULL) {
        shutdown(h2o_socket_get_fd(loop->admin_listener), SHUT_RDWR);
        h2o_socket_read_stop(loop->admin_listener);
        h2o_socket_close(loop->admin_listener);
        loop->admin_listener = NULL;
    }
    loop->kick = true;
    uint64_t close_by = mm_now_ns() + (uint64_t)MM__FRONT_CLOSE_ALL_MS * 1000000;
    turn_until(loop, mm_now_ns() + (uint64_t)STOP_GRACE_TURNS * 10 * 1000000, no_sockets);
    shutdown_sockets(loop, false); /* idle keep-alives and stuck writes; WebSockets are closing */
    turn_until(loop, close_by, no_sockets);
    if (loop->nsocks > 0) {
        mm__front_ws_kill_all(loop);
        shutdown_sockets(loop, true);
        loop->kick = true;
        turn_until(loop, mm_now_ns() + 500 * 1000000ull, no_sockets);
    }
    if (loop->nsocks > 0)
        mm_warn("front: loop %zu: %zu connections did not close; leaving them", loop->index, loop->nsocks);
}

/* Disposes the h2o side of a loop on the calling thread (only once no socket is left). */
static void
dispose_h2o(mm__front_loop *loop)
{
    if (!loop->ctx_ready)
        return;
    if (loop->nsocks > 0 || loop->ws_list != NULL) {
        mm_warn("front: loop %zu: leaving its event loop with %zu open connections", loop->index, loop->nsocks);
        return;
    }
    for (size_t i = 0; i < MM_FRONT_MAX_BINDS; i++)
        if (loop->listeners[i] != NULL) {
            h2o_socket_close(loop->listeners[i]);
            loop->listeners[i] = NULL;
        }
    if (loop->admin_listener != NULL) {
        h2o_socket_close(loop->admin_listener);
        loop->admin_listener = NULL;
    }
    if (loop->inbox_sock != NULL) {
        h2o_socket_close(loop->inbox_sock);
        loop->inbox_sock = NULL;
    }
    h2o_evloop_run(loop->evloop, 0); /* closed sockets are freed on the next run */
    if (loop->timeouts_ready) {
        h2o_timeout_unlink(&loop->resume_entry);
        if (h2o_timeout_is_linked(&loop->sweep_entry))
            h2o_timeout_unlink(&loop->sweep_entry);
        h2o_timeout_dispose(loop->evloop, &loop->t_sweep);
        h2o_timeout_dispose(loop->evloop, &loop->t_first);
        h2o_timeout_dispose(loop->evloop, &loop->t_request);
        h2o_timeout_dispose(loop->evloop, &loop->t_ping);
        h2o_timeout_dispose(loop->evloop, &loop->t_linger);
        h2o_timeout_dispose(loop->evloop, &loop->t_resume);
        loop->timeouts_ready = false;
    }
    /* h2o 2.2.5 (evloop) closes the context's message queue but never frees its struct */
    h2o_multithread_queue_t *queue = loop->ctx.queue;
    h2o_context_dispose(&loop->ctx);
    h2o_evloop_run(loop->evloop, 0);
    free(queue);
    h2o_evloop_destroy(loop->evloop);
    loop->evloop = NULL;
    loop->ctx_ready = false;
}

void *
mm__front_loop_main(void *arg)
{
    mm__front_loop *loop = arg;
    char name[16]; /* the kernel's limit, NUL included; names the thread in perf and /proc */
    snprintf(name, sizeof(name), "front-%zu", loop->index);
    pthread_setname_np(pthread_self(), name);
    while (!atomic_load(&loop->front->stopping))
        mm__front_loop_turn(loop, MM__FRONT_MAX_WAIT_MS);
    stop_loop(loop);
    dispose_h2o(loop);
    if (!loop->ctx_ready)
        mm_h2o_release_thread_caches();
    return NULL;
}

void
mm__front_loop_destroy(mm__front_loop *loop)
{
    if (loop == NULL)
        return;
    dispose_h2o(loop); /* a loop whose thread never ran */
    mm_inbox_destroy(loop->inbox, NULL, NULL);
    mm_idmap_dispose(&loop->reqs);
    free(loop);
}
