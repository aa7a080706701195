/*
 * The web front's life cycle (include/mm/front.h): the listening sockets, the shared h2o
 * configuration, the limits, and one thread per event loop.
 *
 * mm_front_start binds every address on the calling thread, so that a bad or busy address is
 * an error the caller sees at once, then hands each loop a duplicate of every listening socket
 * (the kernel gives each new connection to one of the loops that wait on it). The admin
 * listener (--admin-bind), if any, is loop 0's alone: probes need no parallelism, and its
 * connections are counted apart from the clients' (their own cap, MM__FRONT_ADMIN_MAX_CONNS),
 * so a flood of clients cannot make the probes fail. mm_front_stop
 * sets the stop flag and the deadline, shuts the listening sockets down (which ends them for
 * every duplicate: new connections are refused from that moment, not after the drain), wakes
 * each loop through its relay eventfd and joins it; each loop then runs its own orderly stop
 * (loop.c).
 *
 * Descriptors: every connection costs one. --max-connections is only honest if the process may
 * open that many files, or the accept fails with EMFILE and clients wait in the backlog instead
 * of getting the canned 503. So mm_front_start raises the soft RLIMIT_NOFILE to the hard limit
 * and lowers max_connections to that limit minus a reserve (NATS, libcurl, logs, listeners,
 * the loops' epoll and eventfds), with a warning that names both numbers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "mm/clock.h"
#include "mm/listen.h"
#include "mm/log.h"
#include "mm/request_id.h"
#include "front_internal.h"

/* Binds and listens on text ("HOST:PORT"); returns the fd (or -1 with why) and the real port. */
static int
listen_on(const char *text, bool admin, uint16_t *port_out, char *why, size_t why_len)
{
    char host[64], reason[160];
    uint16_t port;
    if (mm__front_bind_parse(text, host, sizeof(host), &port, reason, sizeof(reason)) != MM_OK) {
        mm_fail(MM_ERR_IO, why, why_len, "bind %s: %s", text, reason);
        return -1;
    }
    int fd = mm_listen_tcp(host, port, port_out, reason, sizeof(reason));
    if (fd < 0) {
        mm_fail(MM_ERR_IO, why, why_len, "%s", reason);
        return -1;
    }
    const char *what = admin ? "web front admin listener (/healthz /readyz /metrics) on" : "web front listening on";
    if (strchr(host, ':') != NULL)
        mm_info("%s [%s]:%u", what, host, *port_out);
    else
        mm_info("%s %s:%u", what, host, *port_out);
    return fd;
}

static mm_err
check_config(const mm_front_config *c, const mm_front_backend *b, char *why, size_t why_len)
{
    if (b == NULL || b->submit == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "the web front needs a backend with a submit function");
    if (c->n_binds == 0 || c->n_binds > MM_FRONT_MAX_BINDS)
        return mm_fail(MM_ERR_INVALID, why, why_len, "the web front needs 1..%d listen addresses", MM_FRONT_MAX_BINDS);
    if (c->threads == 0 || c->threads > 64)
        return mm_fail(MM_ERR_INVALID, why, why_len, "--http-threads must be 1..64");
    if (c->n_proxies > MM_FRONT_MAX_PROXIES)
        return mm_fail(MM_ERR_INVALID, why, why_len, "too many trusted proxy ranges");
    char ip[MM_IP_TEXT_LEN];
    if (mm_client_ip_parse(c->fake_ip, ip, NULL, 0) != MM_OK || mm_client_ip_is_loopback(ip))
        return mm_fail(MM_ERR_INVALID, why, why_len, "--fake-ip must be a non-loopback IPv4 or IPv6 address");
    if (c->max_message_bytes < 64 || c->first_message_timeout_ms == 0 || c->request_timeout_ms == 0 ||
        c->per_ip_concurrent == 0 || c->per_ip_rate == 0 || c->per_ip_burst == 0 || c->global_concurrent == 0 ||
        c->ping_interval_ms == 0 || c->max_connections == 0 || c->relay_ring_capacity == 0 ||
        c->max_connections_per_ip == 0 || c->max_header_bytes < 1024 || c->max_header_bytes > 262144 ||
        c->max_header_bytes_total < c->max_header_bytes)
        return mm_fail(MM_ERR_INVALID, why, why_len,
                       "every limit of the web front must be positive (max message at least 64, max header bytes "
                       "1024..262144 and at most the total)");
    return MM_OK;
}

/* Descriptors kept for everything that is not a client connection: 64, or 5 % of the limit. */
static uint64_t
fd_reserve(uint64_t limit)
{
    uint64_t r = limit / 20 > 64 ? limit / 20 : 64;
    return r < limit / 2 ? r : limit / 2;
}

/* Raises the soft open-file limit to the hard one and clamps max_connections under it. */
static void
fit_max_connections(mm_front_config *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl.rlim_cur = rl.rlim_max;
        else
            mm_warn("web front: cannot raise the open-file limit from %llu to %llu: %s", (unsigned long long)rl.rlim_cur,
                    (unsigned long long)rl.rlim_max, strerror(errno));
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return;
    uint64_t limit = rl.rlim_cur, room = limit - fd_reserve(limit);
    if (room == 0)
        room = 1;
    if (c->max_connections > room) {
        mm_warn("web front: --max-connections %u is above what the open-file limit (%llu) allows; using %llu "
                "(raise `ulimit -n` / LimitNOFILE to allow more)",
                c->max_connections, (unsigned long long)limit, (unsigned long long)room);
        c->max_connections = (uint32_t)room;
    }
}

mm_err
mm_front_start(const mm_front_config *config, const mm_front_backend *backend, mm_front **out, char *why, size_t why_len)
{
    if (config == NULL || out == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "mm_front_start: missing argument");
    mm_err err = check_config(config, backend, why, why_len);
    if (err != MM_OK)
        return err;
    /* h2o writes with writev: a client gone mid-write would raise SIGPIPE and kill the process */
    signal(SIGPIPE, SIG_IGN);
    mm_front *front = calloc(1, sizeof(*front));
    if (front == NULL)
        return mm_fail(MM_ERR_NOMEM, why, why_len, "out of memory");
    front->cfg = *config;
    atomic_init(&front->next_req_id, mm_request_id_seed()); /* request ids unique across replicas (logs) */
    fit_max_connections(&front->cfg);
    front->backend = *backend;
    if ((err = mm__front_webhook_secret_load(config->webhook_secret_file, front->webhook_secret, &front->webhook_secret_len,
                                             why, why_len)) != MM_OK)
        goto cleanup;
    if (front->webhook_secret_len > 0)
        mm_info("web front: Edgegap webhooks on (POST %s<secret>)%s", MM_FRONT_WEBHOOK_PREFIX,
                backend->webhook == NULL ? ", but this backend takes none: they will be answered 503" : "");
    for (size_t i = 0; i < MM_FRONT_MAX_BINDS; i++)
        front->listen_fds[i] = -1;
    front->admin_fd = -1;
    if ((err = mm__front_limits_create(config, &front->limits)) != MM_OK) {
        mm_fail(err, why, why_len, "cannot set up the limits: %s", mm_err_str(err));
        goto cleanup;
    }
    h2o_config_init(&front->h2o_config);
    front->h2o_config_ready = true;
    front->h2o_config.server_name = h2o_iovec_init(H2O_STRLIT("")); /* the reference sends no Server header */
    front->h2o_config.max_request_entity_size = config->max_message_bytes;
    front->h2o_config.http1.req_timeout = config->first_message_timeout_ms; /* slow request headers */
    front->h2o_config.http1.upgrade_to_http2 = 0;
    /* each listener's connections get a host list of their own (h2o uses a lone host whatever
     * the Host header says), so a client cannot reach the admin handler or the reverse */
    front->client_hosts[0] = h2o_config_register_host(&front->h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    mm__front_routes_register(front, front->client_hosts[0], false);
    if (config->admin_bind[0] != '\0') {
        front->admin_hosts[0] = h2o_config_register_host(&front->h2o_config, h2o_iovec_init(H2O_STRLIT("admin")), 65535);
        mm__front_routes_register(front, front->admin_hosts[0], true);
        front->admin_fd = listen_on(config->admin_bind, true, &front->admin_port, why, why_len);
        if (front->admin_fd < 0) {
            err = MM_ERR_IO;
            goto cleanup;
        }
    }
    for (size_t i = 0; i < config->n_binds; i++) {
        front->listen_fds[i] = listen_on(config->bind[i], false, &front->ports[i], why, why_len);
        if (front->listen_fds[i] < 0) {
            err = MM_ERR_IO;
            goto cleanup;
        }
        front->n_listen++;
    }
    front->loops = calloc(config->threads, sizeof(*front->loops));
    if (front->loops == NULL) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < config->threads; i++) {
        err = mm__front_loop_create(front, i, &front->loops[i], why, why_len);
        front->n_loops = i + 1;
        if (err != MM_OK)
            goto cleanup;
    }
    for (size_t i = 0; i < front->n_loops; i++) {
        int rc = pthread_create(&front->loops[i]->thread, NULL, mm__front_loop_main, front->loops[i]);
        if (rc != 0) {
            err = mm_fail(MM_ERR_SYS, why, why_len, "cannot start an event-loop thread: %s", strerror(rc));
            goto cleanup;
        }
        front->loops[i]->thread_started = true;
    }
    mm_info("web front: %zu event loop(s), CORS origin %s, fake IP %s, client_ip override %s", front->n_loops,
            config->cors_origin, config->fake_ip, config->client_ip_override ? "on" : "off");
    *out = front;
    return MM_OK;
cleanup:
    mm_front_destroy(front);
    return err;
}

uint16_t
mm_front_port(const mm_front *front, size_t i)
{
    return front != NULL && i < front->n_listen ? front->ports[i] : 0;
}

uint16_t
mm_front_admin_port(const mm_front *front)
{
    return front != NULL ? front->admin_port : 0;
}

void
mm_front_stop(mm_front *front, uint32_t deadline_ms)
{
    if (front == NULL || front->stopped)
        return;
    front->stopped = true;
    atomic_store(&front->stop_deadline_ns, mm_now_ns() + (uint64_t)deadline_ms * 1000000);
    atomic_store(&front->stopping, true); /* before the shutdown: a loop woken by it must see the stop */
    /* Stop accepting now, not after the drain: shutdown() of one copy ends the listening socket
     * for every loop's duplicate at once; the kernel resets the connections still waiting in its
     * accept queue and refuses new ones, so a client (or a load balancer) retries elsewhere at
     * once instead of waiting for an answer that would never come. */
    for (size_t i = 0; i < front->n_listen; i++)
        if (front->listen_fds[i] >= 0 && shutdown(front->listen_fds[i], SHUT_RDWR) != 0)
            mm_warn("web front: shutdown of listening socket %zu: %s", i, strerror(errno));
    for (size_t i = 0; i < front->n_loops; i++)
        if (front->loops[i]->thread_started)
            mm_inbox_wake(front->loops[i]->inbox);
    for (size_t i = 0; i < front->n_loops; i++)
        if (front->loops[i]->thread_started) {
            pthread_join(front->loops[i]->thread, NULL);
            front->loops[i]->thread_started = false;
        }
    /* the loops closed their copies (loop 0 shut the admin listener down after the drain) */
    for (size_t i = 0; i < MM_FRONT_MAX_BINDS; i++)
        if (front->listen_fds[i] >= 0) {
            close(front->listen_fds[i]);
            front->listen_fds[i] = -1;
        }
    if (front->admin_fd >= 0) {
        close(front->admin_fd);
        front->admin_fd = -1;
    }
    mm_info("web front stopped");
}

void
mm_front_destroy(mm_front *front)
{
    if (front == NULL)
        return;
    mm_front_stop(front, 0);
    for (size_t i = 0; i < front->n_loops; i++)
        mm__front_loop_destroy(front->loops[i]);
    free(front->loops);
    for (size_t i = 0; i < MM_FRONT_MAX_BINDS; i++)
        if (front->listen_fds[i] >= 0)
            close(front->listen_fds[i]);
    if (front->admin_fd >= 0)
        close(front->admin_fd);
    if (front->h2o_config_ready)
        h2o_config_dispose(&front->h2o_config);
    mm__front_limits_destroy(front->limits);
    sodium_memzero(front->webhook_secret, sizeof(front->webhook_secret));
    free(front);
}
