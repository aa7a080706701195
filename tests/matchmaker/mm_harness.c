/*
 * Test harness for the matchmaker's end-to-end tests (mm_harness.h). Children die with the
 * test; every wait polls a condition with a deadline.
 */
#include "mm_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm_test_http.h"

void
h_start_nats(harness *h)
{
    MM_REQUIRE(mm_test_nats_start(&h->nats) == 0);
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", h->nats.port);
    setenv("NATS_HOST", host, 1);
    setenv("NATS_INSECURE", "1", 1);
    setenv("EDGEGAP_API_KEY", H_API_KEY, 1);
}

void
h_start_sim(harness *h, const char *deploy_delay_ms, const char *const *extra)
{
    const char *args[32] = {"--app", H_APP, "--app-version", H_VERSION, "--deploy-delay-ms", deploy_delay_ms};
    int n = 6;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    mm_test_sim sim = {0};
    MM_REQUIRE(mm_test_sim_start(&sim, H_API_KEY, args, NULL) == 0);
    h->sim = sim.pid;
    h->sim_port = sim.port;
    snprintf(h->sim_url, sizeof(h->sim_url), "%s", sim.base);
}

void
h_start_gameserver(harness *h)
{
    h_start_gameserver_with(h, NULL);
}

void
h_start_gameserver_with(harness *h, const char *const *extra)
{
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/gameserver_sim", mm_test_build_dir());
    const char *argv[24] = {exe, "--edgegap-sim", h->sim_url, "--poll-ms", "50", "--log-level", "warn"};
    int n = 7;
    for (int i = 0; extra && extra[i] && n < 22; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    h->gs = mm_test_spawn((char *const *)argv, NULL);
    MM_REQUIRE(h->gs > 0);
}

void
h_start_matchmaker(harness *h, const char *const *extra)
{
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/bevygap_matchmaker", mm_test_build_dir());
    /* in the NATS store dir, which mm_test_nats_stop removes */
    static int started;
    snprintf(h->mm_log, sizeof(h->mm_log), "%s/matchmaker-%d.log", h->nats.store_dir, ++started);
    const char *argv[40] = {exe,        "--app-name",      H_APP, "--app-version",      H_VERSION, "--edgegap-url",
                            h->sim_url, "--poll-delay-ms", "50",  "--poll-interval-ms", "50",      "--cert-wait-ms",
                            "3000"};
    int n = 13;
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    h->mm = mm_test_spawn((char *const *)argv, h->mm_log);
    MM_REQUIRE(h->mm > 0);
    uint64_t until = mm_now_ms() + 20000;
    while (!h_file_contains(h->mm_log, "matchmaker ready") && mm_now_ms() < until)
        mm_test_sleep_ms(20);
    if (!h_file_contains(h->mm_log, "matchmaker ready")) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "cat %s >&2", h->mm_log);
        MM_CHECK(system(cmd) >= 0);
        MM_REQUIRE(!"the matchmaker did not become ready");
    }
}

void
h_connect(harness *h)
{
    MM_REQUIRE(natsConnection_ConnectTo(&h->nc, h->nats.url) == NATS_OK);
}

void
h_stop(harness *h)
{
    if (h->mm > 0) {
        int st = mm_test_stop(h->mm, 30000);
        MM_CHECK_INT(st, ==, 0);
        if (st != 0)
            h_dump_log(h->mm_log, 30);
    }
    if (h->gs > 0)
        mm_test_stop(h->gs, 5000);
    if (h->sim > 0)
        mm_test_stop(h->sim, 5000);
    natsConnection_Destroy(h->nc);
    h->nc = NULL;
    mm_test_nats_stop(&h->nats);
}

int
h_request(harness *h, const char *subject, const char *payload, char **replies, int max, bool *ended, int timeout_ms)
{
    *ended = false;
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    int n = 0;
    MM_REQUIRE(natsInbox_Create(&inbox) == NATS_OK);
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, h->nc, inbox) == NATS_OK);
    MM_REQUIRE(natsConnection_PublishRequestString(h->nc, subject, inbox, payload) == NATS_OK);
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    while (n < max && n < H_MAX_REPLIES && mm_now_ms() < until) {
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, sub, (int64_t)(until - mm_now_ms()) + 1) != NATS_OK)
            break;
        int len = natsMsg_GetDataLength(msg);
        if (len == 0 && natsMsg_IsNoResponders(msg)) {
            natsMsg_Destroy(msg);
            fprintf(stderr, "no responders on %s\n", subject);
            break;
        }
        const char *code = NULL, *text = NULL;
        if (len == 0 && natsMsgHeader_Get(msg, "Nats-Service-Error-Code", &code) == NATS_OK &&
            natsMsgHeader_Get(msg, "Nats-Service-Error", &text) == NATS_OK) {
            /* a one-shot service error: recorded as "ERR <code> <message>" */
            char buf[600];
            snprintf(buf, sizeof(buf), "ERR %s %s", code, text);
            replies[n] = strdup(buf);
            MM_REQUIRE(replies[n] != NULL);
            n++;
            *ended = true;
            natsMsg_Destroy(msg);
            break;
        }
        if (len == 0) {
            *ended = true;
            natsMsg_Destroy(msg);
            break;
        }
        replies[n] = strndup(natsMsg_GetData(msg), (size_t)len);
        MM_REQUIRE(replies[n] != NULL);
        n++;
        natsMsg_Destroy(msg);
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    return n;
}

void
h_free_replies(char **replies, int n)
{
    for (int i = 0; i < n; i++)
        free(replies[i]);
}

long
h_http_get(const char *url, char *buf, size_t len)
{
    return mm_test_http_get(url, buf, len);
}

bool
h_file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}
