/*
 * gameserver_sim clients: the table of clients the simulated game servers hold, and the two KV
 * writes a bevygap game server makes for them: active_connections[session id] = client id
 * (decimal) on connect, and a delete of that key on disconnect.
 *
 * The table is a fixed array of hash chains keyed by client id (owned by the actor thread).
 * A client's timer is always stopped before the client is freed (mm_timer contract).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameserver_sim.h"

static gs_client **
chain_of(gs *g, uint64_t client_id)
{
    return &g->clients[client_id % GS_CLIENT_BUCKETS];
}

gs_client *
mm__gs_client_find(gs *g, uint64_t client_id)
{
    for (gs_client *c = *chain_of(g, client_id); c != NULL; c = c->next)
        if (c->client_id == client_id)
            return c;
    return NULL;
}

gs_client *
mm__gs_client_find_session(gs *g, const char *session_id)
{
    for (size_t b = 0; b < GS_CLIENT_BUCKETS; b++)
        for (gs_client *c = g->clients[b]; c != NULL; c = c->next)
            if (strcmp(c->session_id, session_id) == 0)
                return c;
    return NULL;
}

gs_client *
mm__gs_client_add(gs *g, uint64_t client_id, const char *session_id, const char *deployment, bool auto_mode)
{
    gs_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->gs = g;
    c->client_id = client_id;
    snprintf(c->session_id, sizeof(c->session_id), "%s", session_id);
    snprintf(c->deployment, sizeof(c->deployment), "%s", deployment != NULL ? deployment : "");
    c->auto_mode = auto_mode;
    gs_client **chain = chain_of(g, client_id);
    c->next = *chain;
    *chain = c;
    g->client_count++;
    return c;
}

static void
client_free(gs *g, gs_client *c)
{
    mm_timer_stop(g->self, &c->timer);
    for (gs_client **p = chain_of(g, c->client_id); *p != NULL; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            g->client_count--;
            break;
        }
    free(c);
}

mm_err
mm__gs_client_connect(gs *g, gs_client *c)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, c->client_id);
    mm_err err = mm_kv_put_str(g->active, c->session_id, id, NULL);
    if (err != MM_OK)
        return err;
    c->connected = true;
    mm_info("client %s connected%s%s, session %s", id, c->auto_mode ? " (auto)" : " to deployment ",
            c->auto_mode ? "" : c->deployment, c->session_id);
    return MM_OK;
}

mm_err
mm__gs_client_disconnect(gs *g, gs_client *c)
{
    mm_err err = MM_OK;
    if (c->connected) {
        err = mm_kv_delete(g->active, c->session_id);
        if (err != MM_OK)
            return err;
        g->counters.disconnects++;
        mm_info("client %" PRIu64 " disconnected, session %s", c->client_id, c->session_id);
    }
    client_free(g, c);
    return MM_OK;
}

void
mm__gs_clients_shutdown(gs *g)
{
    bool kv_ok = true;
    for (size_t b = 0; b < GS_CLIENT_BUCKETS; b++) {
        while (g->clients[b] != NULL) {
            gs_client *c = g->clients[b];
            if (c->connected && kv_ok && mm__gs_client_disconnect(g, c) == MM_OK)
                continue;
            if (c->connected && kv_ok) {
                kv_ok = false; /* NATS is failing: do not wait out one timeout per client */
                mm_warn("shutdown: cannot report disconnects any more; %" PRIu64 " clients left as connected in KV",
                        g->client_count);
            }
            client_free(g, c);
        }
    }
}
