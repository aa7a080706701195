/*
 * The NATS permissions of deploy/nats/ (docs/DEPLOY.md), proven with the real services.
 *
 * Argument: which shipped configuration to run (default nats-server.conf):
 *   nats-server.conf          one node; gameserver_sim as user gameserver, the test itself plays
 *                             the game server's side of a connection (bind, read sessions_ly2eg,
 *                             put and delete active_connections) through nats.c's KV API;
 *   nats-server.demo.conf     one node; gameserver_sim --auto plays the players too;
 *   nats-server-cluster.conf  three nodes; buckets and stream R3 (--kv-replicas 3), the
 *                             matchmaker on node 1, the web front on node 2, game servers on node 3.
 *
 * Enough privilege: bevygap_matchmaker (user matchmaker), bevygap_matchmaker_httpd and a NATS
 * client (user matchmaker_httpd) and gameserver_sim (user gameserver) serve requests end to end
 * (a stream, a gensession, a POST through the real web front, an Edgegap webhook that the web
 * front publishes on matchmaker.webhook and a matchmaker-user client receives, a cancel published as
 * matchmaker_httpd on mm.cancel.*.* that a matchmaker-user client receives, a liveness message
 * published as matchmaker on mm.alive.<nuid> that a matchmaker_httpd client receives), every session is claimed or
 * reaped and deleted at edgegap_sim through the delete stream, and the servers log no
 * permission violation (except, outside the demo, the simulator's own test API, which a real
 * game server does not have and the production configuration refuses).
 *
 * Least privilege: each user is then refused what it must not do; the server logs each
 * violation and the client library reports it as an asynchronous "not permitted" error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "deploy_nats.h"
#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/token.h"
#include "mm_harness.h"
#include "mm_test_http.h"

#define WEBHOOK_SECRET "deploy-test-webhook-secret"

typedef struct scenario {
    const char *config;
    bool demo, cluster;
    dn_cluster nats;
    harness h;
    pid_t httpd;
    int httpd_port;
} scenario;

/* The node a role connects to: in the cluster each role has its own. */
static int
node_of(const scenario *s, int role)
{
    return s->cluster ? role : 0;
}

static void
as_user(const scenario *s, int node, const char *user, const char *password)
{
    char host[64];
    dn_host(&s->nats, node, host, sizeof(host));
    setenv("NATS_HOST", host, 1);
    setenv("NATS_USER", user, 1);
    setenv("NATS_PASSWORD", password, 1);
}

static void
start_services(scenario *s)
{
    harness *h = &s->h;
    setenv("NATS_INSECURE", "1", 1);
    setenv("EDGEGAP_API_KEY", H_API_KEY, 1);
    snprintf(h->nats.store_dir, sizeof(h->nats.store_dir), "%s", s->nats.dir); /* the matchmaker's log goes there */
    h_start_sim(h, "300", NULL);

    /* the matchmaker first, so that it (not a game server) creates every bucket, with R3 in the
     * cluster (outside it, the NULL ends the list before --kv-replicas) */
    as_user(s, node_of(s, 0), "matchmaker", DN_PW_MATCHMAKER);
    s->httpd_port = mm_test_free_port();
    char hook_base[64];
    snprintf(hook_base, sizeof(hook_base), "http://127.0.0.1:%d", s->httpd_port);
    setenv("MM_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    const char *mm_args[] = {"--edgegap-budget", /* the fleet budget's KV bucket and subjects, under the same rights */
                             "1000",
                             /* webhooks on: create intents, the orphan check's reads and liveness requests */
                             "--webhook-public-url",
                             hook_base,
                             "--webhook-poll-ms",
                             "1000",
                             "--orphan-grace-ms",
                             "300",
                             "--reaper-age-ms",
                             "4000",
                             "--reaper-margin-ms",
                             "500",
                             "--reaper-scan-ms",
                             "250",
                             s->cluster ? "--kv-replicas" : NULL,
                             "3",
                             NULL};
    h_start_matchmaker(h, mm_args);
    unsetenv("MM_WEBHOOK_SECRET");

    as_user(s, node_of(s, 2), "gameserver", DN_PW_GAMESERVER);
    const char *gs_args[] = {s->demo ? "--auto" : NULL, "--hold-ms", "300", NULL}; /* ditto: --auto in the demo */
    h_start_gameserver_with(h, gs_args);

    as_user(s, node_of(s, 1), "matchmaker_httpd", DN_PW_HTTPD);
    char exe[512], bind[64];
    snprintf(exe, sizeof(exe), "%s/bevygap_matchmaker_httpd", mm_test_build_dir());
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", s->httpd_port);
    char *argv[] = {exe, "--bind", bind, "--log-level", "warn", NULL};
    setenv("MM_WEBHOOK_SECRET", WEBHOOK_SECRET, 1);
    s->httpd = mm_test_spawn(argv, NULL);
    unsetenv("MM_WEBHOOK_SECRET");
    MM_REQUIRE(s->httpd > 0);
    MM_REQUIRE(mm_test_wait_port(s->httpd_port, 10000) == 0);
}

/* The client id inside a SessionReady token (all-zero key, protocol 1982: the defaults). */
static uint64_t
token_client_id(const char *token_b64)
{
    uint8_t raw[MM_TOKEN_BYTES];
    size_t raw_len = 0;
    MM_REQUIRE(sodium_base642bin(raw, sizeof(raw), token_b64, strlen(token_b64), NULL, &raw_len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) == 0);
    mm_token_key key;
    memset(&key, 0, sizeof(key));
    mm_token_decoded dec;
    char why[160] = "";
    MM_REQUIRE(mm_token_decode(raw, &key, MM_BYTE_ORDER_LITTLE, 1982, mm_unix_seconds(), &dec, why, sizeof(why)) == MM_OK);
    return dec.client_id;
}

/* A streamed request as user matchmaker_httpd: SessionReady; returns the session and client id. */
static void
stream_request(scenario *s, char *session, size_t len, uint64_t *client_id)
{
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n = h_request(&s->h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"81.2.3.4\"}", r, H_MAX_REPLIES, &ended,
                      20000);
    MM_CHECK(ended);
    MM_REQUIRE(n >= 3);
    MM_CHECK_STR(r[0], "\"Acknowledged\"");
    mm_feedback fb;
    char why[160];
    MM_REQUIRE(mm_feedback_decode(r[1], strlen(r[1]), &fb, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_ACCEPTED);
    snprintf(session, len, "%s", fb.text != NULL ? fb.text : "");
    mm_feedback_clear(&fb);
    MM_REQUIRE(mm_feedback_decode(r[n - 1], strlen(r[n - 1]), &fb, why, sizeof(why)) == MM_OK);
    if (fb.kind != MM_FEEDBACK_READY)
        fprintf(stderr, "last reply: %s\n", r[n - 1]);
    MM_REQUIRE(fb.kind == MM_FEEDBACK_READY);
    *client_id = token_client_id(fb.token);
    mm_feedback_clear(&fb);
    h_free_replies(r, n);
}

static void
gensession_request(scenario *s)
{
    char *r[H_MAX_REPLIES];
    bool ended = false;
    int n = h_request(&s->h, "session.gensession", "{\"client_ip\":\"81.2.3.5\"}", r, 1, &ended, 20000);
    MM_REQUIRE(n == 1);
    MM_CHECK(strstr(r[0], "\"connect_token\"") != NULL);
    h_free_replies(r, n);
}

/* The real web front: /readyz, then a streamed POST that ends with SessionReady. */
static void
httpd_request(scenario *s)
{
    char url[128], body[8192] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", s->httpd_port);
    uint64_t until = mm_now_ms() + 10000;
    while (h_http_get(url, body, sizeof(body)) != 200 && mm_now_ms() < until) {
        mm_test_sleep_ms(50);
    }
    MM_CHECK_INT(h_http_get(url, body, sizeof(body)), ==, 200);
    body[0] = '\0';
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/matchmaker/request/" H_APP "/" H_VERSION, s->httpd_port);
    mm_test_http_resp r;
    long status = mm_test_http(&(mm_test_http_req){.url = url, .body = "{\"client_ip\":\"81.2.3.6\"}", .timeout_ms = 20000}, &r);
    MM_CHECK_INT(r.curl_code, ==, 0);
    snprintf(body, sizeof(body), "%s", r.body);
    mm_test_http_free(&r);
    MM_CHECK_INT(status, ==, 200);
    if (strstr(body, "{\"SessionReady\"") == NULL)
        fprintf(stderr, "web front answered: %.500s\n", body);
    MM_CHECK(strstr(body, "{\"SessionReady\"") != NULL);
}

/* The next message on sub whose body names session (the simulator's own webhooks of the
 * sessions made so far travel on the same subject); NULL after 10 s. */
static natsMsg *
next_webhook_for(natsSubscription *sub, const char *session)
{
    uint64_t until = mm_now_ms() + 10000;
    while (mm_now_ms() < until) {
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, sub, 1000) != NATS_OK)
            continue;
        if (strstr(natsMsg_GetData(msg), session) != NULL)
            return msg;
        natsMsg_Destroy(msg);
    }
    return NULL;
}

/* An Edgegap webhook through the real web front: published as matchmaker_httpd, received as
 * matchmaker (sub, subscribed before), with no violation. */
static void
webhook_request(scenario *s, natsSubscription *sub)
{
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/matchmaker/edgegap-webhook/" WEBHOOK_SECRET, s->httpd_port);
    mm_test_http_resp r;
    long status = mm_test_http(&(mm_test_http_req){.url = url, .body = "{\"session_id\":\"0123456789ab-S\"}", .timeout_ms = 20000}, &r);
    mm_test_http_free(&r);
    MM_CHECK_INT(status, ==, 204);
    natsMsg *msg = next_webhook_for(sub, "0123456789ab-S");
    MM_CHECK(msg != NULL);
    if (msg != NULL)
        MM_CHECK_STR(natsMsg_GetData(msg), "{\"session_id\":\"0123456789ab-S\"}");
    natsMsg_Destroy(msg);
}

/* A webhook whose URL carries another (dead) replica's create intent, recorded as the matchmaker
 * user: the front relays the intent in the header Mm-Intent, and the matchmaker's orphan check
 * reads the intent, asks mm.replica.<replica> (no responders), reads the session buckets and
 * enqueues the DELETE, all under its rights (check_service_violations). */
static void
webhook_intent_request(scenario *s, dn_client *mm, natsSubscription *sub)
{
    kvStore *kv = NULL;
    jsCtx *js = NULL;
    MM_REQUIRE(natsConnection_JetStream(&js, mm->nc, NULL) == NATS_OK);
    MM_REQUIRE(js_KeyValue(&kv, js, "mm_create_intents") == NATS_OK);
    uint64_t rev = 0;
    MM_REQUIRE(kvStore_PutString(&rev, kv, "GoneReplica0000000000-1", "GoneReplica0000000000 1700000000000") == NATS_OK);
    kvStore_Destroy(kv);
    char url[200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/matchmaker/edgegap-webhook/" WEBHOOK_SECRET "?intent=GoneReplica0000000000-1",
             s->httpd_port);
    mm_test_http_resp r;
    long status = mm_test_http(&(mm_test_http_req){.url = url, .body = "{\"session_id\":\"0123456789ac-S\"}", .timeout_ms = 20000}, &r);
    mm_test_http_free(&r);
    MM_CHECK_INT(status, ==, 204);
    const char *intent = NULL;
    natsMsg *msg = next_webhook_for(sub, "0123456789ac-S");
    MM_CHECK(msg != NULL);
    if (msg != NULL) {
        MM_CHECK_STR(natsMsg_GetData(msg), "{\"session_id\":\"0123456789ac-S\"}");
        MM_CHECK_INT(natsMsgHeader_Get(msg, "Mm-Intent", &intent), ==, NATS_OK);
        MM_CHECK_STR(intent != NULL ? intent : "", "GoneReplica0000000000-1");
    }
    natsMsg_Destroy(msg);
    /* the matchmaker may ask any replica whether it lives: no responders, not a violation */
    natsMsg *reply = NULL;
    MM_CHECK_INT(natsConnection_RequestString(&reply, mm->nc, "mm.replica.GoneReplica0000000000", "ping", 2000), ==,
                 NATS_NO_RESPONDERS);
    natsMsg_Destroy(reply);
    /* the orphan check (grace 300 ms) deletes the intent once it enqueued the DELETE */
    uint64_t until = mm_now_ms() + 15000;
    bool gone = false;
    while (!gone && mm_now_ms() < until) {
        MM_REQUIRE(js_KeyValue(&kv, js, "mm_create_intents") == NATS_OK);
        kvEntry *e = NULL;
        gone = kvStore_Get(&e, kv, "GoneReplica0000000000-1") == NATS_NOT_FOUND;
        kvEntry_Destroy(e);
        kvStore_Destroy(kv);
        if (!gone)
            mm_test_sleep_ms(50);
    }
    MM_CHECK(gone);
    jsCtx_Destroy(js);
}

/* A cancel (docs/protocol.md section 3, "Cancel"): published as matchmaker_httpd to a
 * heartbeat's reply subject, received as matchmaker (sub, subscribed before), with no violation. */
static void
cancel_request(dn_client *web, natsSubscription *sub)
{
    natsMsg *out = NULL;
    MM_REQUIRE(natsMsg_Create(&out, "mm.cancel.Q1a2b3c4d5e6f7g8h9i0j1.7", NULL, NULL, 0) == NATS_OK);
    MM_REQUIRE(natsMsgHeader_Set(out, "Mm-Cancel", "1") == NATS_OK);
    MM_CHECK_INT(natsConnection_PublishMsg(web->nc, out), ==, NATS_OK);
    natsMsg_Destroy(out);
    natsMsg *msg = NULL;
    MM_CHECK_INT(natsSubscription_NextMsg(&msg, sub, 10000), ==, NATS_OK);
    if (msg != NULL)
        MM_CHECK_STR(natsMsg_GetSubject(msg), "mm.cancel.Q1a2b3c4d5e6f7g8h9i0j1.7");
    natsMsg_Destroy(msg);
}

/* A process's liveness (docs/protocol.md section 3, "Liveness"): published as matchmaker on
 * mm.alive.<nuid>, received as matchmaker_httpd (sub, subscribed before), with no violation. */
static void
alive_message(dn_client *mm, natsSubscription *sub)
{
    natsMsg *out = NULL;
    MM_REQUIRE(natsMsg_Create(&out, "mm.alive.Q1a2b3c4d5e6f7g8h9i0j1", NULL, NULL, 0) == NATS_OK);
    MM_REQUIRE(natsMsgHeader_Set(out, "Mm-Heartbeat", "1000") == NATS_OK);
    MM_CHECK_INT(natsConnection_PublishMsg(mm->nc, out), ==, NATS_OK);
    natsMsg_Destroy(out);
    bool seen = false; /* the real matchmaker's own liveness messages may come first */
    natsMsg *msg = NULL;
    while (!seen && natsSubscription_NextMsg(&msg, sub, 10000) == NATS_OK) {
        seen = strcmp(natsMsg_GetSubject(msg), "mm.alive.Q1a2b3c4d5e6f7g8h9i0j1") == 0;
        natsMsg_Destroy(msg);
    }
    MM_CHECK(seen);
}

/* What a game server does when a player connects and leaves, through nats.c's KV API. */
static void
play_game_server(dn_client *gs, const char *session, uint64_t client_id)
{
    jsCtx *js = NULL;
    kvStore *ly2eg = NULL, *active = NULL;
    kvEntry *e = NULL;
    char key[32];
    snprintf(key, sizeof(key), "%llu", (unsigned long long)client_id);
    MM_REQUIRE(natsConnection_JetStream(&js, gs->nc, NULL) == NATS_OK);
    MM_CHECK_INT(js_KeyValue(&ly2eg, js, "sessions_ly2eg"), ==, NATS_OK);
    MM_CHECK_INT(js_KeyValue(&active, js, "active_connections"), ==, NATS_OK);
    if (ly2eg != NULL && kvStore_Get(&e, ly2eg, key) == NATS_OK) {
        MM_CHECK_STR(kvEntry_ValueString(e), session);
        kvEntry_Destroy(e);
    } else {
        MM_CHECK(!"the game server could not read sessions_ly2eg[client id]");
    }
    if (active != NULL) {
        uint64_t rev = 0;
        MM_CHECK_INT(kvStore_PutString(&rev, active, session, key), ==, NATS_OK);
        MM_CHECK(rev > 0);
        MM_CHECK_INT(kvStore_Delete(active, session), ==, NATS_OK);
    }
    kvStore_Destroy(active);
    kvStore_Destroy(ly2eg);
    jsCtx_Destroy(js);
}

static void
check_replicas(dn_client *mm, const char *stream, int want)
{
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    MM_REQUIRE(natsConnection_JetStream(&js, mm->nc, NULL) == NATS_OK);
    MM_CHECK_INT(js_GetStreamInfo(&si, js, stream, NULL, NULL), ==, NATS_OK);
    if (si != NULL)
        MM_CHECK_INT(si->Config->Replicas, ==, want);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
}

/* The violations the services caused: none, except the simulator's test API outside the demo. */
static void
check_service_violations(scenario *s)
{
    int all = dn_log_count(&s->nats, "Violation");
    int sim_api = dn_log_count(&s->nats, "Subscription Violation - User \"gameserver\", Subject \"gameserver_sim.");
    MM_CHECK_INT(sim_api, ==, s->demo ? 0 : 2);
    MM_CHECK_INT(all, ==, sim_api);
    if (all != sim_api)
        dn_log_print(&s->nats, "Violation");
}

static void
expect_pub_refused(scenario *s, dn_client *cl, const char *user, const char *subject)
{
    int before = dn_refusals(cl);
    char needle[400];
    snprintf(needle, sizeof(needle), "Publish Violation - User \"%s\", Subject \"%s\"", user, subject);
    MM_CHECK_INT(natsConnection_PublishString(cl->nc, subject, "x"), ==, NATS_OK);
    natsConnection_FlushTimeout(cl->nc, 2000);
    bool logged = dn_log_wait(&s->nats, needle, 5000), reported = dn_wait_refusals(cl, before, 5000);
    if (!logged || !reported)
        fprintf(stderr, "not refused: %s publishing to %s (logged %d, reported %d)\n", user, subject, logged, reported);
    MM_CHECK(logged);
    MM_CHECK(reported);
}

static void
expect_sub_refused(scenario *s, dn_client *cl, const char *user, const char *subject)
{
    int before = dn_refusals(cl);
    char needle[400];
    snprintf(needle, sizeof(needle), "Subscription Violation - User \"%s\", Subject \"%s\"", user, subject);
    natsSubscription *sub = NULL;
    MM_CHECK_INT(natsConnection_SubscribeSync(&sub, cl->nc, subject), ==, NATS_OK);
    natsConnection_FlushTimeout(cl->nc, 2000);
    bool logged = dn_log_wait(&s->nats, needle, 5000), reported = dn_wait_refusals(cl, before, 5000);
    if (!logged || !reported)
        fprintf(stderr, "not refused: %s subscribing to %s (logged %d, reported %d)\n", user, subject, logged, reported);
    MM_CHECK(logged);
    MM_CHECK(reported);
    natsSubscription_Destroy(sub);
}

static void
check_refusals(scenario *s, dn_client *mm, dn_client *web, dn_client *gs)
{
    /* the web front: only requests out, only replies in */
    expect_pub_refused(s, web, "matchmaker_httpd", "$KV.sessions_ly2eg.42");
    expect_pub_refused(s, web, "matchmaker_httpd", "$JS.API.STREAM.DELETE.KV_cert_digests");
    expect_pub_refused(s, web, "matchmaker_httpd", "edgegap_delete_session_q.0123456789ab-S");
    expect_pub_refused(s, web, "matchmaker_httpd", "gameserver.contexts");
    expect_sub_refused(s, web, "matchmaker_httpd", "matchmaker.request.>");
    expect_sub_refused(s, web, "matchmaker_httpd", "$KV.>");
    expect_sub_refused(s, web, "matchmaker_httpd", "matchmaker.webhook");
    expect_sub_refused(s, web, "matchmaker_httpd", "mm.cancel.*.*"); /* no reading other fronts' cancels */
    expect_pub_refused(s, web, "matchmaker_httpd", "mm.alive.Q1a2b3c4d5e6f7g8h9i0j1"); /* no speaking for a matchmaker */
    expect_pub_refused(s, web, "matchmaker_httpd", "$KV.mm_create_intents.GoneReplica0000000000-2");
    expect_sub_refused(s, web, "matchmaker_httpd", "mm.replica.*"); /* no answering for a dead replica */
    /* game servers: their own keys, no requests, no session mappings, no deletions */
    expect_sub_refused(s, gs, "gameserver", "matchmaker.request.>");
    expect_sub_refused(s, gs, "gameserver", "session.gensession");
    expect_pub_refused(s, gs, "gameserver", "matchmaker.request." H_APP "." H_VERSION);
    expect_pub_refused(s, gs, "gameserver", "$KV.sessions_ly2eg.42");
    expect_pub_refused(s, gs, "gameserver", "$KV.unclaimed_sessions.0123456789ab-S");
    expect_pub_refused(s, gs, "gameserver", "edgegap_delete_session_q.0123456789ab-S");
    expect_pub_refused(s, gs, "gameserver", "$JS.API.STREAM.PURGE.KV_cert_digests");
    expect_pub_refused(s, gs, "gameserver", "$JS.API.STREAM.UPDATE.KV_active_connections");
    expect_pub_refused(s, gs, "gameserver", "matchmaker.webhook"); /* a forged webhook from inside */
    expect_sub_refused(s, gs, "gameserver", "matchmaker.webhook");
    expect_pub_refused(s, gs, "gameserver", "mm.cancel.Q1a2b3c4d5e6f7g8h9i0j1.7"); /* no cancelling players from inside */
    expect_pub_refused(s, gs, "gameserver", "mm.alive.Q1a2b3c4d5e6f7g8h9i0j1"); /* nor keeping a dead replica's players waiting */
    expect_pub_refused(s, gs, "gameserver", "$KV.mm_create_intents.GoneReplica0000000000-2"); /* no forged intents */
    expect_sub_refused(s, gs, "gameserver", "mm.replica.*");
    if (!s->demo)
        expect_sub_refused(s, gs, "gameserver", "$KV.sessions_ly2eg.>");
    /* the matchmaker: replies only to requests it received; never the game servers' keys */
    expect_pub_refused(s, mm, "matchmaker", "_INBOX.not-a-request-it-received");
    expect_pub_refused(s, mm, "matchmaker", "$KV.cert_digests.203.0.113.7");
    expect_pub_refused(s, mm, "matchmaker", "$KV.active_connections.0123456789ab-S");
    expect_pub_refused(s, mm, "matchmaker", "$JS.API.STREAM.DELETE.KV_sessions_eg2ly");
    expect_pub_refused(s, mm, "matchmaker", "$JS.API.STREAM.PURGE.KV_unclaimed_sessions");
    expect_pub_refused(s, mm, "matchmaker", "matchmaker.request." H_APP "." H_VERSION);
    expect_sub_refused(s, mm, "matchmaker", "$KV.>");
    expect_pub_refused(s, mm, "matchmaker", "matchmaker.webhook");
    expect_pub_refused(s, mm, "matchmaker", "mm.cancel.Q1a2b3c4d5e6f7g8h9i0j1.7");

    /* no anonymous clients, no wrong passwords */
    dn_client anon, wrong;
    MM_CHECK(dn_connect(&anon, &s->nats, 0, NULL, NULL) != NATS_OK);
    MM_CHECK(dn_connect(&wrong, &s->nats, 0, "matchmaker", DN_PW_GAMESERVER) != NATS_OK);
    dn_close(&anon);
    dn_close(&wrong);
}

int
main(int argc, char **argv)
{
    MM_REQUIRE(sodium_init() >= 0);
    scenario s = {.config = argc > 1 ? argv[1] : "nats-server.conf"};
    s.demo = strcmp(s.config, "nats-server.demo.conf") == 0;
    s.cluster = strcmp(s.config, "nats-server-cluster.conf") == 0;
    fprintf(stderr, "deploy/nats/%s\n", s.config);
    dn_start(&s.nats, s.config);
    start_services(&s);

    dn_client mm, web, gs;
    MM_REQUIRE(dn_connect(&mm, &s.nats, node_of(&s, 0), "matchmaker", DN_PW_MATCHMAKER) == NATS_OK);
    MM_REQUIRE(dn_connect(&web, &s.nats, node_of(&s, 1), "matchmaker_httpd", DN_PW_HTTPD) == NATS_OK);
    MM_REQUIRE(dn_connect(&gs, &s.nats, node_of(&s, 2), "gameserver", DN_PW_GAMESERVER) == NATS_OK);
    s.h.nc = web.nc; /* h_request publishes as the web front */
    natsSubscription *webhooks = NULL, *cancels = NULL, *alive = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&webhooks, mm.nc, "matchmaker.webhook") == NATS_OK);
    MM_REQUIRE(natsConnection_SubscribeSync(&cancels, mm.nc, "mm.cancel.*.*") == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(mm.nc) == NATS_OK);
    MM_REQUIRE(natsConnection_SubscribeSync(&alive, web.nc, "mm.alive.*") == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(web.nc) == NATS_OK);

    char session[64];
    uint64_t client_id = 0;
    stream_request(&s, session, sizeof(session), &client_id);
    MM_CHECK(client_id != 0);
    if (!s.demo)
        play_game_server(&gs, session, client_id);
    gensession_request(&s);
    httpd_request(&s);
    webhook_request(&s, webhooks);
    webhook_intent_request(&s, &mm, webhooks);
    natsSubscription_Destroy(webhooks);
    cancel_request(&web, cancels);
    natsSubscription_Destroy(cancels);
    alive_message(&mm, alive);
    natsSubscription_Destroy(alive);

    /* claimed and released, or never claimed and reaped: every session is deleted at Edgegap */
    h_sim_stats st;
    MM_CHECK(h_wait_sim_empty(&s.h, 30000, &st));
    MM_CHECK_INT(st.created, ==, 3);
    MM_CHECK_INT(st.deleted, ==, 3);
    if (s.cluster) {
        check_replicas(&mm, "KV_unclaimed_sessions", 3);
        check_replicas(&mm, "KV_cert_digests", 3);
        check_replicas(&mm, "DELETE_SESSION_STREAM", 3);
    }
    check_service_violations(&s);
    check_refusals(&s, &mm, &web, &gs);

    s.h.nc = NULL;
    dn_close(&mm);
    dn_close(&web);
    dn_close(&gs);
    MM_CHECK_INT(mm_test_stop(s.httpd, 10000), ==, 0);
    MM_CHECK_INT(mm_test_stop(s.h.mm, 15000), ==, 0);
    mm_test_stop(s.h.gs, 5000);
    mm_test_stop(s.h.sim, 5000);
    dn_stop(&s.nats);
    nats_Close();
    return MM_TEST_DONE();
}
