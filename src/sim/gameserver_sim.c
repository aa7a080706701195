/*
 * gameserver_sim: plays every game server that edgegap_sim starts (docs/gameserver_sim.md).
 *
 * The main thread parses flags, connects to NATS (environment of docs/protocol.md section 8), binds the KV
 * buckets it uses, starts the actor that owns all state (gameserver_sim_actor.c), subscribes the
 * NATS subjects whose callbacks forward to that actor, and then only waits for SIGINT/SIGTERM
 * (blocked in every thread, taken with sigtimedwait) or a connection that NATS closed for good.
 *
 * Shutdown order matters: unsubscribe (no new work) → stop the actor (answers what is queued,
 * reports its clients disconnected while NATS is still up) → release KV and the connection →
 * nats_CloseAndWait (no nats.c thread runs any more, so no callback can still use the actor) →
 * free the actor. Exit status: 0 after a signal, 1 on a runtime failure, 2 on bad flags or
 * environment.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "gameserver_sim.h"
#include "mm/crash.h"
#include "mm/nats_env.h"
#include "mm/url.h"

#define NSUBS 3

/* What a subscription's callback needs: where to forward and as which message type. */
typedef struct gs_route {
    mm_actor *actor;
    uint32_t type;
    atomic_uint_fast64_t *busy;
} gs_route;

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    gs_route *r = closure;
    mm_msg m = {.type = r->type, .ptr = msg};
    mm_err err = mm_actor_send(r->actor, &m);
    if (err == MM_OK)
        return;
    const char *to = natsMsg_GetReply(msg);
    if (err == MM_ERR_FULL) {
        atomic_fetch_add(r->busy, 1);
        if (r->type == GS_MSG_LY2EG)
            mm_warn("auto: inbox full, a sessions_ly2eg entry is not simulated");
        else if (to != NULL)
            natsConnection_PublishString(nc, to, "{\"ok\":false,\"error\":\"busy\"}");
    } else if (to != NULL && r->type != GS_MSG_LY2EG) {
        natsConnection_PublishString(nc, to, "{\"ok\":false,\"error\":\"shutting down\"}");
    }
    natsMsg_Destroy(msg);
}

/* Waits for the first connection, giving up early on a signal; 0 connected, 1 failed, 2 signalled. */
static int
wait_connected(mm_nats *nats, const sigset_t *signals)
{
    struct timespec zero = {0, 0};
    for (int waited_s = 0;; waited_s++) {
        mm_err err = mm_nats_wait_connected(nats, 1000);
        if (err == MM_OK)
            return 0;
        if (err == MM_ERR_STOPPED)
            return 1;
        if (sigtimedwait(signals, NULL, &zero) > 0)
            return 2;
        if (waited_s > 0 && waited_s % 10 == 0)
            mm_warn("still waiting for NATS (%d s)", waited_s);
    }
}

static int
subscribe_all(gs *g, mm_actor *actor, gs_route routes[NSUBS], natsSubscription *subs[NSUBS], atomic_uint_fast64_t *busy)
{
    char subjects[NSUBS][128];
    snprintf(subjects[0], sizeof(subjects[0]), "%s.connect", g->cfg->subject_prefix);
    snprintf(subjects[1], sizeof(subjects[1]), "%s.disconnect", g->cfg->subject_prefix);
    snprintf(subjects[2], sizeof(subjects[2]), "$KV.%s.>", mm_kv_bucket_spec_of(MM_KV_SESSIONS_LY2EG)->name);
    const uint32_t types[NSUBS] = {GS_MSG_CONNECT, GS_MSG_DISCONNECT, GS_MSG_LY2EG};
    int count = g->cfg->auto_mode ? 3 : 2;
    for (int i = 0; i < count; i++) {
        routes[i] = (gs_route){.actor = actor, .type = types[i], .busy = busy};
        if (natsConnection_Subscribe(&subs[i], g->nc, subjects[i], on_msg, &routes[i]) != NATS_OK) {
            mm_error("cannot subscribe to %s: %s", subjects[i], nats_GetLastError(NULL));
            return 1;
        }
    }
    if (natsConnection_FlushTimeout(g->nc, 5000) != NATS_OK)
        mm_warn("subscriptions not confirmed by the server yet: %s", nats_GetLastError(NULL));
    char shown[sizeof(g->cfg->edgegap_url)];
    mm_info("ready: polling %s/__sim/deployments every %lld ms; requests on %s and %s%s",
            mm_url_redact(g->cfg->edgegap_url, shown, sizeof(shown)), (long long)g->cfg->poll_ms, subjects[0], subjects[1],
            g->cfg->auto_mode ? "; auto mode on" : "");
    return 0;
}

/* Runs until a signal (returns 0) or a connection closed for good (returns 1). */
static int
wait_for_stop(natsConnection *nc, const sigset_t *signals)
{
    struct timespec second = {1, 0};
    for (;;) {
        siginfo_t info;
        int sig = sigtimedwait(signals, &info, &second);
        if (sig > 0) {
            mm_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            return 0;
        }
        if (natsConnection_IsClosed(nc)) {
            mm_error("the NATS connection is closed for good; exiting");
            return 1;
        }
    }
}

int
main(int argc, char **argv)
{
    static gs_config cfg; /* holds the key: wiped before exit */
    gs g;
    mm_nats_env *env = NULL;
    mm_nats *nats = NULL;
    mm_js *js = NULL;
    mm_actor *actor = NULL;
    natsSubscription *subs[NSUBS] = {NULL};
    gs_route routes[NSUBS];
    atomic_uint_fast64_t busy = 0;
    char why[512] = "";
    int status = 1;

    int rc = mm__gs_flags_parse(argc, argv, &cfg);
    if (rc != 0) {
        sodium_memzero(&cfg.key, sizeof(cfg.key));
        return rc == 1 ? 0 : 2;
    }
    mm_log_setup("gameserver_sim", cfg.log_level, cfg.log_json ? MM_LOG_JSON : MM_LOG_TEXT);
    mm_crash_report_install("gameserver_sim");

    /* Before any thread exists, so that every thread inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (mm_crypto_init() != MM_OK || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mm_error("cannot initialise libsodium or libcurl");
        goto cleanup;
    }
    mm_err err = mm_nats_env_read(&env, NULL, why, sizeof(why));
    if (err != MM_OK) {
        fprintf(stderr, "gameserver_sim: %s\n", why);
        status = err == MM_ERR_INVALID ? 2 : 1;
        goto cleanup;
    }
    err = mm_nats_connect(env, &(mm_nats_connect_opts){.name = cfg.nats_name, .send_asap = true}, &nats, why, sizeof(why));
    mm_nats_env_destroy(env); /* the CA, if any, is loaded: its temp file can go */
    env = NULL;
    if (err != MM_OK) {
        fprintf(stderr, "gameserver_sim: %s\n", why);
        status = err == MM_ERR_INVALID ? 2 : 1;
        goto cleanup;
    }
    rc = wait_connected(nats, &signals);
    if (rc != 0) {
        status = rc == 2 ? 0 : 1;
        goto cleanup;
    }
    unsigned needs = MM_JS_NEED_BUCKET(MM_KV_SESSIONS_LY2EG) | MM_JS_NEED_BUCKET(MM_KV_ACTIVE_CONNECTIONS) |
                     MM_JS_NEED_BUCKET(MM_KV_CERT_DIGESTS);
    if (mm_js_setup(mm_nats_connection(nats), needs, 0, &js, why, sizeof(why)) != MM_OK) {
        mm_error("%s", why);
        goto cleanup;
    }
    g = (gs){.cfg = &cfg,
             .nc = mm_nats_connection(nats),
             .ly2eg = mm_js_kv(js, MM_KV_SESSIONS_LY2EG),
             .active = mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS),
             .certs = mm_js_kv(js, MM_KV_CERT_DIGESTS)};
    if (mm_actor_start(&mm__gs_actor_ops, &g, NULL, &actor) != MM_OK) {
        mm_error("cannot start the simulator's thread");
        goto cleanup;
    }
    if (subscribe_all(&g, actor, routes, subs, &busy) != 0)
        goto cleanup;
    status = wait_for_stop(g.nc, &signals);

cleanup:
    for (int i = 0; i < NSUBS; i++)
        if (subs[i] != NULL)
            natsSubscription_Unsubscribe(subs[i]);
    if (actor != NULL)
        mm_actor_stop(actor, MM_ACTOR_REJECT);
    if (atomic_load(&busy) > 0)
        mm_warn("%llu messages were refused because the inbox was full", (unsigned long long)atomic_load(&busy));
    mm_js_destroy(js);
    mm_nats_destroy(nats);
    for (int i = 0; i < NSUBS; i++)
        natsSubscription_Destroy(subs[i]);
    mm_nats_env_destroy(env);
    nats_CloseAndWait(5000);
    mm_actor_destroy(actor);
    curl_global_cleanup();
    sodium_memzero(&cfg.key, sizeof(cfg.key));
    return status;
}
