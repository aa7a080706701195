/*
 * Harness helpers for the session-lifecycle tests (reaping, crashes, NATS restarts): what the
 * simulator holds (/__sim/stats parsed with jansson), requests kept open while others run (each
 * on its own inbox), KV presence checks, calls to gameserver_sim's request API, and the NATS
 * outage and kill -9 the fault tests need. Every wait polls a condition with a deadline.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "mm/clock.h"
#include "mm/kv.h"
#include "mm_harness.h"
#include "mm_test_http.h"

/* ---- the simulator's counters ---- */

static long
stat_of(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

bool
h_sim_stats_get(const harness *h, h_sim_stats *st)
{
    char url[128];
    char *body = malloc(65536);
    bool ok = false;
    json_t *o = NULL;
    memset(st, 0, sizeof(*st));
    st->created = st->deleted = st->live = -1;
    if (body == NULL)
        goto cleanup;
    snprintf(url, sizeof(url), "%s/__sim/stats", h->sim_url);
    if (h_http_get(url, body, 65536) != 200)
        goto cleanup;
    if ((o = json_loads(body, 0, NULL)) == NULL)
        goto cleanup;
    json_t *ids = json_object_get(o, "live_session_ids");
    if (!json_is_array(ids))
        goto cleanup;
    st->created = stat_of(o, "sessions_created");
    st->deleted = stat_of(o, "sessions_deleted");
    st->live = (long)json_array_size(ids);
    for (size_t i = 0; i < json_array_size(ids) && i < H_MAX_LIVE; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        snprintf(st->live_ids[i], sizeof(st->live_ids[i]), "%s", id != NULL ? id : "");
    }
    ok = st->created >= 0 && st->deleted >= 0;
cleanup:
    json_decref(o);
    free(body);
    return ok;
}

bool
h_sim_is_live(const h_sim_stats *st, const char *session_id)
{
    for (long i = 0; i < st->live && i < H_MAX_LIVE; i++)
        if (strcmp(st->live_ids[i], session_id) == 0)
            return true;
    return false;
}

bool
h_wait_sim_empty(const harness *h, int timeout_ms, h_sim_stats *st)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        bool ok = h_sim_stats_get(h, st);
        if (ok && st->live == 0)
            return true;
        if (mm_now_ms() >= until)
            return false;
        mm_test_sleep_ms(50);
    }
}

/* ---- requests kept open ---- */

void
h_stream_open(harness *h, h_stream *s, const char *client_ip)
{
    memset(s, 0, sizeof(*s));
    json_t *o = json_pack("{s:s}", "client_ip", client_ip);
    char *payload = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    MM_REQUIRE(payload != NULL);
    MM_REQUIRE(natsInbox_Create(&s->inbox) == NATS_OK);
    MM_REQUIRE(natsConnection_SubscribeSync(&s->sub, h->nc, s->inbox) == NATS_OK);
    s->publish_status = natsConnection_PublishRequestString(h->nc, "matchmaker.request." H_APP "." H_VERSION, s->inbox, payload);
    free(payload);
}

/* Takes one reply into s. */
static void
stream_take(h_stream *s, natsMsg *msg)
{
    int len = natsMsg_GetDataLength(msg);
    const char *data = natsMsg_GetData(msg);
    if (len == 0 && natsMsg_IsNoResponders(msg)) {
        s->no_responders = true;
        return;
    }
    if (len == 0) {
        s->ended = true;
        return;
    }
    s->replies++;
    snprintf(s->last, sizeof(s->last), "%.*s", len, data);
    if (strcmp(s->last, "\"Acknowledged\"") == 0)
        s->acked = true;
    const char *acc = "{\"SessionRequestAccepted\":\"";
    if (strncmp(s->last, acc, strlen(acc)) == 0) {
        const char *id = s->last + strlen(acc);
        const char *q = strchr(id, '"');
        snprintf(s->session, sizeof(s->session), "%.*s", q != NULL ? (int)(q - id) : 0, id);
        s->accepted_ms = mm_now_ms();
    }
}

static bool
stream_reached(const h_stream *s, h_until until)
{
    if (s->ended || s->no_responders)
        return true;
    return until == H_UNTIL_ACCEPTED && s->session[0] != '\0';
}

bool
h_stream_wait(h_stream *s, h_until until, int timeout_ms)
{
    uint64_t deadline = mm_now_ms() + (uint64_t)timeout_ms;
    /* timeout 0 still takes what already arrived: NextMsg(0) returns a pending message at once */
    while (!stream_reached(s, until) && s->publish_status == NATS_OK) {
        uint64_t now = mm_now_ms();
        natsMsg *msg = NULL;
        natsStatus st = natsSubscription_NextMsg(&msg, s->sub, now < deadline ? (int64_t)(deadline - now) : 0);
        if (st == NATS_NO_RESPONDERS) { /* nats.c 3.4.1 reports the status message this way */
            natsMsg_Destroy(msg);
            s->no_responders = true;
            break;
        }
        if (st != NATS_OK)
            break; /* NATS_TIMEOUT: nothing (more) within the time */
        stream_take(s, msg);
        natsMsg_Destroy(msg);
    }
    return stream_reached(s, until);
}

bool
h_stream_ready(const h_stream *s)
{
    return s->ended && strncmp(s->last, "{\"SessionReady\":", 16) == 0;
}

bool
h_stream_token(const h_stream *s, char *token, size_t len)
{
    token[0] = '\0';
    if (!h_stream_ready(s))
        return false;
    json_t *o = json_loads(s->last, 0, NULL);
    const char *t = json_string_value(json_object_get(json_object_get(o, "SessionReady"), "token"));
    if (t != NULL)
        snprintf(token, len, "%s", t);
    json_decref(o);
    return token[0] != '\0';
}

void
h_stream_close(h_stream *s)
{
    natsSubscription_Destroy(s->sub);
    natsInbox_Destroy(s->inbox);
    s->sub = NULL;
    s->inbox = NULL;
}

/* ---- KV ---- */

bool
h_kv_has(kvStore *kv, const char *key)
{
    char buf[1100];
    return mm_kv_get_str(kv, key, buf, sizeof(buf), NULL) == MM_OK;
}

bool
h_wait_kv(kvStore *kv, const char *key, bool present, int timeout_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    while (h_kv_has(kv, key) != present) {
        if (mm_now_ms() >= until)
            return false;
        mm_test_sleep_ms(20);
    }
    return true;
}

/* ---- gameserver_sim's request API ---- */

bool
h_gs_call(harness *h, const char *verb, const char *payload, char *reply, size_t len)
{
    char subject[64];
    natsMsg *msg = NULL;
    reply[0] = '\0';
    snprintf(subject, sizeof(subject), "gameserver_sim.%s", verb);
    if (natsConnection_RequestString(&msg, h->nc, subject, payload, 5000) != NATS_OK)
        return false;
    snprintf(reply, len, "%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg) ? natsMsg_GetData(msg) : "");
    natsMsg_Destroy(msg);
    return strstr(reply, "\"ok\": true") != NULL || strstr(reply, "\"ok\":true") != NULL;
}

/* ---- faults ---- */

void
h_connect_reconnecting(harness *h)
{
    natsOptions *o = NULL;
    MM_REQUIRE(natsOptions_Create(&o) == NATS_OK);
    MM_REQUIRE(natsOptions_SetURL(o, h->nats.url) == NATS_OK);
    MM_REQUIRE(natsOptions_SetMaxReconnect(o, -1) == NATS_OK);
    MM_REQUIRE(natsOptions_SetReconnectWait(o, 50) == NATS_OK);
    MM_REQUIRE(natsConnection_Connect(&h->nc, o) == NATS_OK);
    natsOptions_Destroy(o);
}

void
h_nats_down(harness *h)
{
    MM_REQUIRE(h->nats.pid > 0);
    MM_CHECK_INT(mm_test_stop(h->nats.pid, 5000), !=, -1); /* nats-server exits 1 on SIGTERM */
    h->nats.pid = 0;
}

void
h_nats_up(harness *h)
{
    /* mm_test_nats_restart's stop of pid 0 does nothing: it only starts the server again */
    MM_REQUIRE(h->nats.pid == 0);
    MM_REQUIRE(mm_test_nats_restart(&h->nats) == 0);
}

bool
h_kill9(pid_t pid)
{
    if (pid <= 0 || kill(pid, SIGKILL) != 0)
        return false;
    /* reaps the child and drops it from the support code's list (it is dead already) */
    return mm_test_stop(pid, 5000) == 128 + SIGKILL;
}

bool
h_alive(pid_t pid)
{
    /* WNOWAIT: a dead child stays a zombie, so h_stop still reaps it and sees its status */
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    return pid > 0 && waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

void
h_dump_log(const char *path, int lines)
{
    char cmd[1200];
    /* a crash or sanitizer report may start long before the last lines: print it first, whole */
    snprintf(cmd, sizeof(cmd),
             "awk 'f || /: fatal SIG|==[0-9]+==ERROR: |WARNING: ThreadSanitizer|runtime error:/ "
             "{ if (!f) print \"--- report in %s:\"; f = 1; if (++n <= 200) print }' %s >&2; tail -%d %s >&2",
             path, path, lines, path);
    MM_CHECK(system(cmd) >= 0);
}

long long
h_sim_counter(const harness *h, const char *group, const char *name)
{
    char url[128];
    static char body[65536]; /* tests call this from their main thread only */
    snprintf(url, sizeof(url), "%s/__sim/stats", h->sim_url);
    MM_REQUIRE(h_http_get(url, body, sizeof(body)) == 200);
    json_t *j = json_loads(body, 0, NULL);
    MM_REQUIRE(j != NULL);
    json_t *v = group ? json_object_get(json_object_get(j, group), name) : json_object_get(j, name);
    long long n = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(j);
    return n;
}

void
h_sim_faults(const harness *h, const char *body)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/__sim/faults", h->sim_url);
    mm_test_http_resp r;
    long status = mm_test_http(&(mm_test_http_req){.url = url, .body = body, .timeout_ms = 5000}, &r);
    MM_REQUIRE(r.curl_code == 0);
    MM_CHECK_INT(status, ==, 200);
    mm_test_http_free(&r);
}
