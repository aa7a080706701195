/*
 * gameserver_sim actor: owns the deployments, the clients and all timers (gameserver_sim.h).
 *
 * Receives: GS_MSG_CONNECT / GS_MSG_DISCONNECT (request API) and GS_MSG_LY2EG (auto mode), each
 * with the natsMsg as payload, which it destroys. Sends: KV writes, replies, gameserver.contexts.
 * Its only self-driven work is the poll timer. On stop, requests still queued are answered
 * "shutting down", connected clients are reported disconnected, and everything is freed.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "gameserver_sim.h"

static mm_err
gs_start(void *state, mm_actor *self)
{
    gs *g = state;
    g->self = self;
    g->curl = curl_easy_init();
    if (g->curl == NULL) {
        mm_error("cannot create a libcurl handle");
        return MM_ERR_NOMEM;
    }
    curl_easy_setopt(g->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(g->curl, CURLOPT_TIMEOUT_MS, (long)g->cfg->http_timeout_ms);
    curl_easy_setopt(g->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)g->cfg->http_timeout_ms);
    curl_easy_setopt(g->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    mm__gs_arm(g, &g->poll_timer, 0, mm__gs_poll_timer_cb);
    return MM_OK;
}

static void
gs_handle(void *state, mm_actor *self, mm_msg *msg)
{
    (void)self;
    gs *g = state;
    natsMsg *m = msg->ptr;
    switch (msg->type) {
    case GS_MSG_CONNECT:
        mm__gs_api_connect(g, m);
        break;
    case GS_MSG_DISCONNECT:
        mm__gs_api_disconnect(g, m);
        break;
    case GS_MSG_LY2EG:
        mm__gs_auto_seen(g, m);
        break;
    default:
        mm_error("actor: unknown message type %u", msg->type);
        break;
    }
    natsMsg_Destroy(m);
}

static void
gs_discard(void *state, mm_msg *msg)
{
    gs *g = state;
    natsMsg *m = msg->ptr;
    const char *to = natsMsg_GetReply(m);
    if (msg->type != GS_MSG_LY2EG && to != NULL)
        natsConnection_PublishString(g->nc, to, "{\"ok\":false,\"error\":\"shutting down\"}");
    natsMsg_Destroy(m);
}

static void
gs_stop(void *state)
{
    gs *g = state;
    mm_timer_stop(g->self, &g->poll_timer);
    mm__gs_clients_shutdown(g);
    mm__gs_deployments_free(g);
    curl_easy_cleanup(g->curl);
    g->curl = NULL;
    const gs_counters *c = &g->counters;
    mm_info("stopped: %" PRIu64 " connects, %" PRIu64 " refused requests, %" PRIu64 " disconnects, %" PRIu64
            " auto connects, %" PRIu64 " left unclaimed, %" PRIu64 " certificate digests",
            c->connects, c->refused, c->disconnects, c->auto_connects, c->auto_unclaimed, c->certs_written);
}

const mm_actor_ops mm__gs_actor_ops = {
    .name = "gameserver_sim",
    .start = gs_start,
    .handle = gs_handle,
    .discard = gs_discard,
    .stop = gs_stop,
};
