/*
 * Answers that edgegap_sim gives late or never (src/sim/sim_edgegap_server_internal.h): the
 * added latency and hanging requests of fault injection.
 *
 * A delayed or hanging request keeps a `pending` record allocated in the request's own memory
 * pool with a dispose callback: whenever h2o frees the request (answered, or its connection
 * closed), the record unlinks itself and cancels its timer, so nothing can fire on a freed
 * request. h2o stops reading a connection while its request is being handled, so it would never
 * notice a client that gave up on a hanging request; a 100 ms check peeks at those sockets and
 * answers (into the void) the ones whose peer has gone, which makes h2o close them.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "mm/log.h"
#include "sim_alloc.h"
#include "sim_edgegap_server_internal.h"

#define HANG_CHECK_MS 100

typedef struct pending {
    mm_sim_server *srv;
    h2o_req_t *req;
    mm_timer timer;
    mm__sim_list node; /* in srv->waiting or srv->hanging */
    bool hanging;
    mm__sim_route route;
    int status;             /* error to answer (injected, or a rate limit's 429), or 0 to serve */
    const char *message;    /* its text, copied into the pool */
    uint32_t retry_after_s; /* nonzero: a Retry-After header with the error */
} pending;

static void
pending_detach(pending *pd)
{
    mm_timer_heap_cancel(&pd->srv->timers, &pd->timer);
    if (mm__sim_list_linked(&pd->node)) {
        mm__sim_list_unlink(&pd->node);
        if (pd->hanging)
            pd->srv->nhanging--;
        else
            pd->srv->nwaiting--;
    }
}

static void
pending_dispose(void *p)
{
    pending_detach(p);
}

static void
on_delay_done(mm_timer *timer)
{
    pending *pd = MM__SIM_CONTAINER(timer, pending, timer);
    pending_detach(pd);
    if (pd->status != 0 && pd->retry_after_s > 0)
        mm__sim_respond_retry(pd->req, pd->status, pd->message, pd->retry_after_s);
    else if (pd->status != 0)
        mm__sim_respond_message(pd->req, pd->status, pd->message);
    else
        mm__sim_serve_v1(pd->srv, pd->req, &pd->route);
}

static bool
peer_gone(h2o_req_t *req)
{
    if (req->conn->callbacks->get_socket == NULL)
        return false;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL)
        return false;
    char c;
    ssize_t r = recv(h2o_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Answers and has h2o close the connection afterwards (the client is gone or we are stopping). */
static void
answer_and_close(pending *pd, int status, const char *message)
{
    h2o_req_t *req = pd->req;
    pending_detach(pd);
    req->http1_is_persistent = 0;
    mm__sim_respond_message(req, status, message);
}

static void
on_hang_check(mm_timer *timer)
{
    mm_sim_server *srv = MM__SIM_CONTAINER(timer, mm_sim_server, hang_check);
    mm__sim_list *n = srv->hanging.next;
    while (n != &srv->hanging) {
        pending *pd = MM__SIM_CONTAINER(n, pending, node);
        n = n->next;
        if (peer_gone(pd->req)) {
            mm_debug("a client gave up on a hanging request; closing its connection");
            answer_and_close(pd, 503, "the client went away");
        }
    }
    if (!mm__sim_list_empty(&srv->hanging))
        mm_sim_xtimer_arm(&srv->timers, &srv->hang_check, HANG_CHECK_MS, on_hang_check);
}

static pending *
pending_new(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *route, bool hanging)
{
    pending *pd = h2o_mem_alloc_shared(&req->pool, sizeof(*pd), pending_dispose);
    memset(pd, 0, sizeof(*pd));
    pd->srv = srv;
    pd->req = req;
    pd->route = *route;
    pd->hanging = hanging;
    mm__sim_list_init(&pd->node);
    if (req->entity.base != NULL) /* keep the body with the request while it waits */
        req->entity = h2o_strdup(&req->pool, req->entity.base, req->entity.len);
    mm__sim_list_append(hanging ? &srv->hanging : &srv->waiting, &pd->node);
    if (hanging)
        srv->nhanging++;
    else
        srv->nwaiting++;
    return pd;
}

void
mm__sim_pending_delay(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *route, uint64_t latency_ms, int status,
                      const char *message, uint32_t retry_after_s)
{
    pending *pd = pending_new(srv, req, route, false);
    if (status != 0) {
        pd->status = status;
        pd->message = h2o_strdup(&req->pool, message, SIZE_MAX).base;
        pd->retry_after_s = retry_after_s;
    }
    mm_sim_xtimer_arm(&srv->timers, &pd->timer, latency_ms, on_delay_done);
}

void
mm__sim_pending_hang(mm_sim_server *srv, h2o_req_t *req, const mm__sim_route *route)
{
    pending_new(srv, req, route, true);
    if (!mm_timer_active(&srv->hang_check))
        mm_sim_xtimer_arm(&srv->timers, &srv->hang_check, HANG_CHECK_MS, on_hang_check);
}

void
mm__sim_pending_release_all(mm_sim_server *srv, const char *why)
{
    mm__sim_list *lists[2] = {&srv->waiting, &srv->hanging};
    for (int i = 0; i < 2; i++)
        while (!mm__sim_list_empty(lists[i]))
            answer_and_close(MM__SIM_CONTAINER(lists[i]->next, pending, node), 503, why);
    mm_timer_heap_cancel(&srv->timers, &srv->hang_check);
}
