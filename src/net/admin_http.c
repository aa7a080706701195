/*
 * The admin listener (include/mm/admin_http.h): one thread, one h2o event loop, one handler.
 * The thread owns the loop, the listener and every connection; the owner thread only sets the
 * atomic `stop` and `stopping` flags. The loop wakes at least every LOOP_WAIT_MS to see `stop`
 * (h2o_evloop_run returns on any event or at that timeout), so no wake-up channel is needed: an
 * idle listener costs ten wake-ups a second. /metrics renders into the request's memory pool.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "mm/admin_http.h"
#include "mm/clock.h"
#include "mm/listen.h"
#include "mm/h2o_caches.h"
#include "mm/log.h"
#include "mm/parse.h"

#define LOOP_WAIT_MS 100
#define DRAIN_MS 1000

typedef struct admin_conn {
    mm_admin_http *a;
    h2o_socket_t *sock; /* NULL: a free slot */
} admin_conn;

typedef struct admin_handler {
    h2o_handler_t super;
    mm_admin_http *a;
} admin_handler;

struct mm_admin_http {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_evloop_t *loop;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    int fd;
    uint16_t port;
    size_t (*render)(void *ctx, char *buf, size_t len);
    bool (*ready)(void *ctx);
    void *cb_ctx;
    pthread_t thread;
    bool thread_started;
    bool context_ready;
    atomic_bool stop, stopping;
    size_t nconns; /* loop thread only */
    admin_conn conns[MM_ADMIN_HTTP_MAX_CONNS];
};

static void
respond(h2o_req_t *req, int status, const char *reason, const char *type, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_send_inline(req, body, len);
}

static bool
path_is(h2o_iovec_t path, const char *lit)
{
    return h2o_memis(path.base, path.len, lit, strlen(lit));
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    mm_admin_http *a = ((admin_handler *)self)->a;
    static const char text[] = "text/plain; charset=utf-8";
    h2o_iovec_t path = req->path_normalized;
    bool known = path_is(path, "/metrics") || path_is(path, "/healthz") || path_is(path, "/readyz");
    if (!known) {
        respond(req, 404, "Not Found", text, H2O_STRLIT("not found"));
    } else if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        respond(req, 405, "Method Not Allowed", text, H2O_STRLIT("method not allowed"));
    } else if (path_is(path, "/healthz")) {
        respond(req, 200, "OK", text, H2O_STRLIT("ok"));
    } else if (path_is(path, "/readyz")) {
        if (atomic_load(&a->stopping))
            respond(req, 503, "Service Unavailable", text, H2O_STRLIT("stopping"));
        else if (a->ready != NULL && !a->ready(a->cb_ctx))
            respond(req, 503, "Service Unavailable", text, H2O_STRLIT("not ready"));
        else
            respond(req, 200, "OK", text, H2O_STRLIT("ready"));
    } else {
        char *buf = h2o_mem_alloc_pool(&req->pool, MM_ADMIN_HTTP_METRICS_MAX);
        size_t n = a->render(a->cb_ctx, buf, MM_ADMIN_HTTP_METRICS_MAX);
        respond(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", buf, n);
    }
    return 0;
}

static void
on_conn_close(void *data)
{
    admin_conn *c = data; /* not sock->data: h2o's connection took that */
    c->sock = NULL;
    c->a->nconns--;
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    mm_admin_http *a = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        size_t k = 0;
        while (k < MM_ADMIN_HTTP_MAX_CONNS && a->conns[k].sock != NULL)
            k++;
        if (k == MM_ADMIN_HTTP_MAX_CONNS) { /* full: this one goes, the others are served */
            h2o_socket_close(sock);
            continue;
        }
        a->conns[k] = (admin_conn){.a = a, .sock = sock};
        a->nconns++;
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = &a->conns[k];
        h2o_accept(&a->accept_ctx, sock);
    }
}

/* Closes the listener and every connection; runs the loop until they are gone or DRAIN_MS. */
static void
drain(mm_admin_http *a)
{
    if (a->listener != NULL) {
        h2o_socket_read_stop(a->listener);
        h2o_socket_close(a->listener);
        a->listener = NULL;
    }
    for (size_t k = 0; k < MM_ADMIN_HTTP_MAX_CONNS; k++)
        if (a->conns[k].sock != NULL)
            shutdown(h2o_socket_get_fd(a->conns[k].sock), SHUT_RDWR);
    uint64_t deadline = mm_now_ms() + DRAIN_MS;
    while (a->nconns > 0 && mm_now_ms() < deadline)
        h2o_evloop_run(a->loop, 10);
}

/* Disposes the h2o side on the calling thread (the loop's), once no connection is left. */
static void
dispose_h2o(mm_admin_http *a)
{
    if (!a->context_ready)
        return;
    if (a->nconns > 0) { /* h2o cannot dispose a context with live connections; the process is ending */
        mm_warn("admin listener: %zu connections did not close; leaving them", a->nconns);
        return;
    }
    /* h2o 2.2.5 never frees the context's message queue (docs/libnotes.md, h2o) */
    h2o_multithread_queue_t *queue = a->ctx.queue;
    h2o_context_dispose(&a->ctx);
    h2o_evloop_run(a->loop, 0); /* sockets closed by the drain are freed on the next turn */
    free(queue);
    h2o_evloop_destroy(a->loop);
    a->context_ready = false;
}

static void *
admin_main(void *arg)
{
    mm_admin_http *a = arg;
    while (!atomic_load(&a->stop))
        if (h2o_evloop_run(a->loop, LOOP_WAIT_MS) != 0 && errno != EINTR)
            mm_warn("admin listener: event loop: %s", strerror(errno));
    drain(a);
    dispose_h2o(a);
    mm_h2o_release_thread_caches();
    return NULL;
}

static int
listen_on(const char *text, uint16_t *port_out, char *why, size_t why_len)
{
    char host[64], reason[160];
    uint16_t port = 0;
    const char *colon = strrchr(text, ':');
    if (colon != NULL && strcmp(colon, ":0") == 0) { /* port 0: the kernel's choice (tests) */
        char copy[80];
        snprintf(copy, sizeof(copy), "%.*s:1", (int)(colon - text), text);
        if (mm_parse_host_port(copy, host, sizeof(host), &port, reason, sizeof(reason)) != MM_OK) {
            mm_fail(MM_ERR_IO, why, why_len, "--admin-bind %s: %s", text, reason);
            return -1;
        }
        port = 0;
    } else if (mm_parse_host_port(text, host, sizeof(host), &port, reason, sizeof(reason)) != MM_OK) {
        mm_fail(MM_ERR_IO, why, why_len, "--admin-bind %s: %s", text, reason);
        return -1;
    }
    char inner[200];
    int fd = mm_listen_tcp(host, port, port_out, inner, sizeof(inner));
    if (fd < 0)
        mm_fail(MM_ERR_IO, why, why_len, "--admin-bind %s: %s", text, inner);
    return fd;
}

mm_err
mm_admin_http_start(const mm_admin_http_config *config, mm_admin_http **out, char *why, size_t why_len)
{
    if (out == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "admin listener: out is required");
    *out = NULL;
    if (config == NULL || config->bind == NULL || config->render == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "admin listener: an address and a render callback are required");
    mm_admin_http *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "admin listener: out of memory");
    a->render = config->render;
    a->ready = config->ready;
    a->cb_ctx = config->ctx;
    a->fd = listen_on(config->bind, &a->port, why, why_len);
    if (a->fd < 0) {
        free(a);
        return MM_ERR_IO;
    }
    h2o_config_init(&a->config);
    a->config.server_name = h2o_iovec_init(H2O_STRLIT("mm-admin"));
    a->config.max_request_entity_size = 4096;
    h2o_hostconf_t *host = h2o_config_register_host(&a->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    admin_handler *h = (admin_handler *)h2o_create_handler(h2o_config_register_path(host, "/", 0), sizeof(*h));
    h->super.on_req = on_req;
    h->a = a;
    a->loop = h2o_evloop_create();
    h2o_context_init(&a->ctx, a->loop, &a->config);
    a->context_ready = true;
    a->accept_ctx.ctx = &a->ctx;
    a->accept_ctx.hosts = a->config.hosts;
    a->listener = h2o_evloop_socket_create(a->loop, a->fd, H2O_SOCKET_FLAG_DONT_READ);
    a->listener->data = a;
    h2o_socket_read_start(a->listener, on_accept);
    /* the thread takes no signal: the owner waits for SIGTERM/SIGINT (docs/libnotes.md, h2o) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&a->thread, NULL, admin_main, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        mm_admin_http_destroy(a);
        return mm_fail(MM_ERR_SYS, why, why_len, "admin listener: cannot start its thread: %s", strerror(rc));
    }
    a->thread_started = true;
    mm_info("%s admin listener (/healthz /readyz /metrics) on %s (port %u)", config->name != NULL ? config->name : "admin",
            config->bind, a->port);
    *out = a;
    return MM_OK;
}

uint16_t
mm_admin_http_port(const mm_admin_http *a)
{
    return a != NULL ? a->port : 0;
}

void
mm_admin_http_stopping(mm_admin_http *a)
{
    if (a != NULL)
        atomic_store(&a->stopping, true);
}

void
mm_admin_http_destroy(mm_admin_http *a)
{
    if (a == NULL)
        return;
    atomic_store(&a->stop, true);
    if (a->thread_started) {
        pthread_join(a->thread, NULL); /* the thread drained and disposed its loop */
    } else if (a->context_ready) {
        drain(a);
        dispose_h2o(a);
    }
    h2o_config_dispose(&a->config);
    free(a);
}
