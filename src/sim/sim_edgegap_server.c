/*
 * edgegap_sim's HTTP server (src/sim/sim_edgegap_server.h): the listening socket, the h2o
 * event loop, connection tracking and an orderly shutdown.
 *
 * One thread runs everything but webhook deliveries. The loop alternates h2o_evloop_run (which
 * returns -1 on EINTR, so we loop on our own stop flag, never on its result) with the world's
 * timers; it sleeps at most until the next timer and at most 100 ms, so a stop request is seen
 * promptly. After timers fired it polls once more without sleeping, because answers they sent
 * finish (and keep-alive connections resume reading) only inside h2o_evloop_run.
 *
 * Every accepted connection is tracked through the socket's on_close callback, which h2o calls
 * when it disposes the socket. At shutdown the server answers what is still waiting or hanging
 * with 503, then shuts the tracked sockets down so h2o closes each through its normal path, and
 * frees the context only once none is left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mm/clock.h"
#include "mm/listen.h"
#include "mm/log.h"
#include "sim_alloc.h"
#include "sim_edgegap_server_internal.h"

#define MAX_SLEEP_MS 100
#define ACCEPTS_PER_WAKEUP 64
#define DRAIN_MS 2000

typedef struct conn_track {
    mm__sim_list node;
    h2o_socket_t *sock;
    mm_sim_server *srv;
} conn_track;

static void
on_conn_close(void *data)
{
    conn_track *t = data;
    mm__sim_list_unlink(&t->node);
    t->srv->nconns--;
    free(t);
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    mm_sim_server *srv = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        conn_track *t = mm_sim_xcalloc(1, sizeof(*t));
        t->sock = sock;
        t->srv = srv;
        mm__sim_list_append(&srv->conns, &t->node);
        srv->nconns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = t;
        h2o_accept(&srv->accept_ctx, sock);
    }
}

/* Creates, binds and listens; returns the fd or -1 (logged). */
static int
listen_on(mm_sim_server *srv)
{
    char why[200];
    uint16_t port = 0;
    int fd = mm_listen_tcp(srv->cfg->listen_host, srv->cfg->listen_port, &port, why, sizeof(why));
    if (fd < 0) {
        mm_error("%s", why);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    char host[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
        snprintf(srv->address, sizeof(srv->address), "[%s]:%u", host, ntohs(v6->sin6_port));
    } else {
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
        snprintf(srv->address, sizeof(srv->address), "%s:%u", host, ntohs(v4->sin_port));
    }
    return fd;
}

mm_err
mm_sim_server_create(const mm_sim_edgegap_cfg *cfg, const mm_sim_faults *faults, mm_sim_server **out)
{
    mm_sim_server *srv = mm_sim_xcalloc(1, sizeof(*srv));
    srv->cfg = cfg;
    mm__sim_list_init(&srv->conns);
    mm__sim_list_init(&srv->waiting);
    mm__sim_list_init(&srv->hanging);
    mm_timer_heap_init(&srv->timers);

    h2o_config_init(&srv->config);
    srv->config.server_name = h2o_iovec_init(H2O_STRLIT("edgegap_sim"));
    srv->config.max_request_entity_size = cfg->max_body;
    h2o_hostconf_t *host = h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    mm__sim_routes_register(srv, h2o_config_register_path(host, "/", 0));

    int fd = listen_on(srv);
    if (fd < 0)
        goto cleanup;
    if (mm_sim_webhook_start(cfg->webhook_queue, cfg->webhook_timeout_ms, &srv->webhook) != MM_OK) {
        close(fd);
        goto cleanup;
    }
    mm_sim_world_create(cfg, &srv->timers, faults, srv->webhook, &srv->world);
    srv->loop = h2o_evloop_create();
    h2o_context_init(&srv->ctx, srv->loop, &srv->config);
    srv->context_ready = true;
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->config.hosts;
    srv->listener = h2o_evloop_socket_create(srv->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    srv->listener->data = srv;
    h2o_socket_read_start(srv->listener, on_accept);
    *out = srv;
    return MM_OK;

cleanup:
    mm_sim_server_destroy(srv);
    return MM_ERR_SYS;
}

const char *
mm_sim_server_address(const mm_sim_server *srv)
{
    return srv->address;
}

static void
spin(mm_sim_server *srv, int32_t wait_ms)
{
    if (h2o_evloop_run(srv->loop, wait_ms) != 0 && errno != EINTR)
        mm_warn("event loop: %s", strerror(errno));
}

/* Answers what waits, closes every connection; true when all are gone. */
static bool
drain(mm_sim_server *srv)
{
    if (srv->listener != NULL) {
        h2o_socket_read_stop(srv->listener);
        h2o_socket_close(srv->listener);
        srv->listener = NULL;
    }
    mm__sim_pending_release_all(srv, "edgegap_sim is shutting down");
    uint64_t deadline = mm_now_ms() + DRAIN_MS;
    for (int round = 0; srv->nconns > 0 && mm_now_ms() < deadline; round++) {
        if (round == 2) /* answers had two rounds to go out; now end idle keep-alive connections */
            for (mm__sim_list *n = srv->conns.next; n != &srv->conns; n = n->next)
                shutdown(h2o_socket_get_fd(MM__SIM_CONTAINER(n, conn_track, node)->sock), SHUT_RDWR);
        spin(srv, 10);
        mm_timer_heap_run(&srv->timers, mm_now_ns(), SIZE_MAX);
    }
    return srv->nconns == 0;
}

mm_err
mm_sim_server_run(mm_sim_server *srv, volatile sig_atomic_t *stop)
{
    bool fired = false;
    while (!*stop) {
        int64_t wait = mm_timer_heap_next_wait_ms(&srv->timers, mm_now_ns());
        if (wait < 0 || wait > MAX_SLEEP_MS)
            wait = MAX_SLEEP_MS;
        spin(srv, fired ? 0 : (int32_t)wait);
        fired = mm_timer_heap_run(&srv->timers, mm_now_ns(), 10000) > 0;
    }
    mm_info("stopping: %llu connections open, %llu requests waiting, %llu hanging", (unsigned long long)srv->nconns,
            (unsigned long long)srv->nwaiting, (unsigned long long)srv->nhanging);
    if (!drain(srv)) {
        mm_error("%llu connections did not close within %d ms", (unsigned long long)srv->nconns, DRAIN_MS);
        return MM_ERR_SYS;
    }
    return MM_OK;
}

void
mm_sim_server_destroy(mm_sim_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->context_ready && (srv->listener != NULL || srv->nconns > 0 || srv->nwaiting > 0 || srv->nhanging > 0))
        drain(srv);
    if (srv->context_ready && srv->nconns == 0) {
        /* h2o 2.2.5 (evloop) closes the context's message queue but never frees its struct */
        h2o_multithread_queue_t *queue = srv->ctx.queue;
        h2o_context_dispose(&srv->ctx);
        h2o_evloop_run(srv->loop, 0); /* sockets closed above are freed on the next turn */
        free(queue);
        h2o_evloop_destroy(srv->loop);
    } else if (srv->context_ready) {
        /* h2o cannot dispose a context with live connections; the process is ending anyway */
        mm_warn("leaving the event loop with %llu open connections", (unsigned long long)srv->nconns);
    }
    mm_sim_world_destroy(srv->world);
    mm_sim_webhook_stop(srv->webhook);
    mm_timer_heap_dispose(&srv->timers);
    h2o_config_dispose(&srv->config);
    free(srv);
}
