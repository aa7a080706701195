/*
 * gameserver_sim auto mode (--auto): plays the game clients too, so a load test exercises the
 * whole session lifecycle without a game client. It watches sessions_ly2eg through a core
 * subscription on $KV.sessions_ly2eg.> (live puts only: entries written before the start are
 * not replayed, and TTL expiry produces no event), and for each new client id -> session id:
 *
 *   - with probability --never-claim leaves it alone (the matchmaker must reap it),
 *   - otherwise after --auto-connect-ms puts active_connections[session] = client id,
 *   - and after --hold-ms more deletes that key (-1: keeps it until exit).
 *
 * No token is involved: the matchmaker handed the token to nobody. The simulated client connects
 * to "its" game server without the simulator checking which deployment that is.
 */
#include <inttypes.h>
#include <string.h>

#include <sodium.h>

#include "gameserver_sim.h"
#include "mm/parse.h"

#define LY2EG_PREFIX "$KV.sessions_ly2eg."
#define RETRY_MS 1000

static void auto_disconnect_cb(mm_timer *timer);

static gs_client *
client_of(mm_timer *timer)
{
    return (gs_client *)((char *)timer - offsetof(gs_client, timer));
}

static void
auto_connect_cb(mm_timer *timer)
{
    gs_client *c = client_of(timer);
    gs *g = c->gs;
    mm_err err = mm__gs_client_connect(g, c);
    if (err != MM_OK) {
        mm_warn("auto: connecting client %" PRIu64 " failed (%s); retrying in %d ms", c->client_id, mm_err_str(err), RETRY_MS);
        mm__gs_arm(g, &c->timer, RETRY_MS, auto_connect_cb);
        return;
    }
    g->counters.auto_connects++;
    if (g->cfg->hold_ms >= 0)
        mm__gs_arm(g, &c->timer, (uint64_t)g->cfg->hold_ms, auto_disconnect_cb);
}

static void
auto_disconnect_cb(mm_timer *timer)
{
    gs_client *c = client_of(timer);
    gs *g = c->gs;
    mm_err err = mm__gs_client_disconnect(g, c);
    if (err != MM_OK) {
        mm_warn("auto: disconnecting client %" PRIu64 " failed (%s); retrying in %d ms", c->client_id, mm_err_str(err), RETRY_MS);
        mm__gs_arm(g, &c->timer, RETRY_MS, auto_disconnect_cb);
    }
}

void
mm__gs_auto_seen(gs *g, natsMsg *msg)
{
    const char *subject = natsMsg_GetSubject(msg), *op = NULL;
    if (natsMsgHeader_Get(msg, "KV-Operation", &op) == NATS_OK)
        return; /* DEL or PURGE of a mapping: nothing to do */
    if (subject == NULL || strncmp(subject, LY2EG_PREFIX, strlen(LY2EG_PREFIX)) != 0)
        return;
    uint64_t client_id;
    if (mm_parse_u64(subject + strlen(LY2EG_PREFIX), 0, UINT64_MAX, &client_id, NULL, 0) != MM_OK) {
        mm_debug("auto: ignoring sessions_ly2eg key that is not a client id: %.80s", subject);
        return;
    }
    char session[GS_SESSION_MAX];
    int len = natsMsg_GetDataLength(msg);
    if (len <= 0 || (size_t)len >= sizeof(session)) {
        mm_warn("auto: sessions_ly2eg[%" PRIu64 "] holds no usable session id (%d bytes)", client_id, len);
        return;
    }
    memcpy(session, natsMsg_GetData(msg), (size_t)len);
    session[len] = '\0';
    if (!mm_kv_key_valid(session)) {
        mm_warn("auto: sessions_ly2eg[%" PRIu64 "] holds no valid session id", client_id);
        return;
    }
    if (mm__gs_client_find(g, client_id) != NULL)
        return;
    if (g->cfg->never_claim > 0 && randombytes_uniform(1000000) < (uint32_t)(g->cfg->never_claim * 1000000.0)) {
        g->counters.auto_unclaimed++;
        mm_info("auto: leaving client %" PRIu64 " (session %s) unclaimed", client_id, session);
        return;
    }
    gs_client *c = mm__gs_client_add(g, client_id, session, NULL, true);
    if (c == NULL) {
        mm_warn("auto: out of memory, client %" PRIu64 " not simulated", client_id);
        return;
    }
    mm_debug("auto: client %" PRIu64 " (session %s) connects in %lld ms", client_id, session, (long long)g->cfg->auto_connect_ms);
    mm__gs_arm(g, &c->timer, (uint64_t)g->cfg->auto_connect_ms, auto_connect_cb);
}
