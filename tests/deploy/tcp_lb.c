/*
 * See tcp_lb.h. One epoll thread owns every connection pair. Sockets stay blocking: a pair's
 * socket is read only when epoll reports it readable, and the matchmaker protocol's messages
 * are small, so writing them to the peer never waits on a full buffer in practice. A pair
 * closed while later events of the same epoll batch still point at it is only marked closed
 * and freed after the batch.
 */
#include "tcp_lb.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct lb_pair lb_pair;

typedef struct lb_end {
    lb_pair *pair;
    int side; /* 0: the client, 1: the backend */
} lb_end;

struct lb_pair {
    int fd[2];
    int backend;
    bool closed;
    lb_end end[2];
    lb_pair *prev, *next; /* live pairs, or the free list (next only) */
};

struct tcp_lb {
    int n, ports[TCP_LB_MAX_BACKENDS];
    atomic_bool enabled[TCP_LB_MAX_BACKENDS];
    atomic_int open[TCP_LB_MAX_BACKENDS];
    atomic_uint_fast64_t refused[TCP_LB_MAX_BACKENDS], accepted, unrouted;
    int listen_fd, wake_fd, ep, port;
    atomic_bool stopping;
    pthread_t thread;
    pthread_mutex_t route_mu; /* routing a connection vs. taking a backend out: see tcp_lb_enable */
    int next;                 /* round robin position (thread only) */
    lb_pair *live, *dead;
    char listen_marker, wake_marker;
};

static int
connect_backend(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)port)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void
pair_close(tcp_lb *lb, lb_pair *p)
{
    if (p->closed)
        return;
    p->closed = true;
    for (int s = 0; s < 2; s++) {
        epoll_ctl(lb->ep, EPOLL_CTL_DEL, p->fd[s], NULL);
        close(p->fd[s]);
    }
    atomic_fetch_sub(&lb->open[p->backend], 1);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        lb->live = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    p->next = lb->dead;
    lb->dead = p;
}

/* Picks the next enabled backend that accepts a connection; -1 when none does. */
static int
route(tcp_lb *lb, int *backend_fd)
{
    pthread_mutex_lock(&lb->route_mu);
    int chosen = -1;
    for (int tries = 0; tries < lb->n && chosen < 0; tries++) {
        int i = lb->next;
        lb->next = (lb->next + 1) % lb->n;
        if (!atomic_load(&lb->enabled[i]))
            continue;
        int fd = connect_backend(lb->ports[i]);
        if (fd >= 0) {
            *backend_fd = fd;
            chosen = i;
            atomic_fetch_add(&lb->open[i], 1);
        } else {
            atomic_fetch_add(&lb->refused[i], 1);
        }
    }
    pthread_mutex_unlock(&lb->route_mu);
    return chosen;
}

static void
on_accept(tcp_lb *lb)
{
    int client = accept4(lb->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0)
        return;
    atomic_fetch_add(&lb->accepted, 1);
    int backend_fd = -1;
    int i = route(lb, &backend_fd);
    lb_pair *p = i >= 0 ? calloc(1, sizeof(*p)) : NULL;
    if (p == NULL) {
        atomic_fetch_add(&lb->unrouted, 1);
        close(client);
        if (backend_fd >= 0) {
            close(backend_fd);
            atomic_fetch_sub(&lb->open[i], 1);
        }
        return;
    }
    p->fd[0] = client;
    p->fd[1] = backend_fd;
    p->backend = i;
    p->next = lb->live;
    if (lb->live != NULL)
        lb->live->prev = p;
    lb->live = p;
    for (int s = 0; s < 2; s++) {
        p->end[s] = (lb_end){p, s};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->end[s]};
        if (epoll_ctl(lb->ep, EPOLL_CTL_ADD, p->fd[s], &ev) != 0) {
            pair_close(lb, p);
            return;
        }
    }
}

static bool
send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

static void
on_data(tcp_lb *lb, lb_end *e)
{
    lb_pair *p = e->pair;
    if (p->closed)
        return;
    char buf[16384];
    ssize_t r = read(p->fd[e->side], buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
        return;
    if (r <= 0 || !send_all(p->fd[1 - e->side], buf, (size_t)r))
        pair_close(lb, p);
}

static void *
lb_main(void *arg)
{
    tcp_lb *lb = arg;
    struct epoll_event evs[64];
    while (!atomic_load(&lb->stopping)) {
        int n = epoll_wait(lb->ep, evs, 64, 200);
        for (int k = 0; k < n; k++) {
            void *ptr = evs[k].data.ptr;
            if (ptr == &lb->listen_marker)
                on_accept(lb);
            else if (ptr != &lb->wake_marker)
                on_data(lb, ptr);
        }
        while (lb->dead != NULL) {
            lb_pair *p = lb->dead;
            lb->dead = p->next;
            free(p);
        }
    }
    while (lb->live != NULL)
        pair_close(lb, lb->live);
    while (lb->dead != NULL) {
        lb_pair *p = lb->dead;
        lb->dead = p->next;
        free(p);
    }
    return NULL;
}

tcp_lb *
tcp_lb_start(const int *backend_ports, int n)
{
    if (n < 1 || n > TCP_LB_MAX_BACKENDS)
        return NULL;
    tcp_lb *lb = calloc(1, sizeof(*lb));
    if (lb == NULL)
        return NULL;
    lb->n = n;
    pthread_mutex_init(&lb->route_mu, NULL);
    for (int i = 0; i < n; i++) {
        lb->ports[i] = backend_ports[i];
        atomic_store(&lb->enabled[i], true);
    }
    lb->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    lb->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    lb->ep = epoll_create1(EPOLL_CLOEXEC);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t sl = sizeof(sa);
    int one = 1;
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &lb->listen_marker};
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &lb->wake_marker};
    if (lb->listen_fd < 0 || lb->wake_fd < 0 || lb->ep < 0 ||
        setsockopt(lb->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lb->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lb->listen_fd, 1024) != 0 ||
        getsockname(lb->listen_fd, (struct sockaddr *)&sa, &sl) != 0 ||
        epoll_ctl(lb->ep, EPOLL_CTL_ADD, lb->listen_fd, &lev) != 0 || epoll_ctl(lb->ep, EPOLL_CTL_ADD, lb->wake_fd, &wev) != 0 ||
        pthread_create(&lb->thread, NULL, lb_main, lb) != 0) {
        fprintf(stderr, "tcp_lb: cannot start: %s\n", strerror(errno));
        if (lb->listen_fd >= 0)
            close(lb->listen_fd);
        if (lb->wake_fd >= 0)
            close(lb->wake_fd);
        if (lb->ep >= 0)
            close(lb->ep);
        pthread_mutex_destroy(&lb->route_mu);
        free(lb);
        return NULL;
    }
    lb->port = ntohs(sa.sin_port);
    return lb;
}

int
tcp_lb_port(const tcp_lb *lb)
{
    return lb->port;
}

void
tcp_lb_enable(tcp_lb *lb, int i, bool on)
{
    pthread_mutex_lock(&lb->route_mu); /* waits for a connection being routed now */
    atomic_store(&lb->enabled[i], on);
    pthread_mutex_unlock(&lb->route_mu);
}

int
tcp_lb_open(tcp_lb *lb, int i)
{
    return atomic_load(&lb->open[i]);
}

int
tcp_lb_open_total(tcp_lb *lb)
{
    int total = 0;
    for (int i = 0; i < lb->n; i++)
        total += atomic_load(&lb->open[i]);
    return total;
}

uint64_t
tcp_lb_refused(tcp_lb *lb, int i)
{
    return atomic_load(&lb->refused[i]);
}

void
tcp_lb_counts(tcp_lb *lb, uint64_t *accepted, uint64_t *unrouted)
{
    *accepted = atomic_load(&lb->accepted);
    *unrouted = atomic_load(&lb->unrouted);
}

void
tcp_lb_stop(tcp_lb *lb)
{
    if (lb == NULL)
        return;
    atomic_store(&lb->stopping, true);
    uint64_t one = 1;
    if (write(lb->wake_fd, &one, sizeof(one)) < 0)
        fprintf(stderr, "tcp_lb: wake-up failed: %s\n", strerror(errno));
    pthread_join(lb->thread, NULL);
    close(lb->listen_fd);
    close(lb->wake_fd);
    close(lb->ep);
    pthread_mutex_destroy(&lb->route_mu);
    free(lb);
}
