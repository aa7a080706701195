/*
 * Edgegap webhooks in split mode: bevygap_matchmaker_httpd, with its secret from
 * MM_WEBHOOK_SECRET, turns POST /matchmaker/edgegap-webhook/<secret> into one core NATS message
 * on matchmaker.webhook with exactly {"session_id":"<id>"} (the test subscribes, as a matchmaker
 * replica does, without a queue group); a wrong secret publishes nothing; /metrics counts both
 * (mm_front_webhooks_total, mm_bridge_webhooks_total).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_harness.h"
#include "mm/clock.h"
#include "mm/nats_bridge.h"

#define WAIT_MS 10000
#define SECRET "split-mode-secret_0123456789"

static void
expect_msg(natsSubscription *sub, const char *payload)
{
    natsMsg *msg = NULL;
    MM_REQUIRE(natsSubscription_NextMsg(&msg, sub, WAIT_MS) == NATS_OK);
    MM_CHECK_STR(natsMsg_GetSubject(msg), "matchmaker.webhook");
    MM_CHECK_INT(natsMsg_GetDataLength(msg), ==, (int)strlen(payload));
    MM_CHECK(memcmp(natsMsg_GetData(msg), payload, strlen(payload)) == 0);
    MM_CHECK(natsMsg_GetReply(msg) == NULL || natsMsg_GetReply(msg)[0] == '\0');
    natsMsg_Destroy(msg);
}

static bool
has_line(const char *body, const char *line)
{
    const char *p = strstr(body, line);
    return p != NULL && (p == body || p[-1] == '\n') && p[strlen(line)] == '\n';
}

int
main(void)
{
    harness h = {0};
    h_start_nats(&h);
    h_connect(&h);
    natsSubscription *sub = NULL;
    MM_REQUIRE(natsConnection_SubscribeSync(&sub, h.nc, MM_BRIDGE_WEBHOOK_SUBJECT) == NATS_OK);
    MM_REQUIRE(natsConnection_Flush(h.nc) == NATS_OK);
    MM_REQUIRE(setenv("MM_WEBHOOK_SECRET", SECRET, 1) == 0);
    hd_proc p;
    hd_start(&h, &p, NULL);
    unsetenv("MM_WEBHOOK_SECRET");

    hd_response r;
    const char *body = "{\"session_id\":\"950dd2eaff09-S\",\"status\":\"Status.READY\",\"ready\":true,\"kind\":\"Seat\","
                       "\"user_count\":1,\"linked\":true,\"webhook_url\":\"http://x\",\"deployment_request_id\":\"d1\"}";
    hd_http(p.port, "POST", "/matchmaker/edgegap-webhook/" SECRET, body, NULL, WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 204);
    expect_msg(sub, "{\"session_id\":\"950dd2eaff09-S\"}");

    /* a wrong secret: 404, nothing published (the next message is the next valid one) */
    hd_http(p.port, "POST", "/matchmaker/edgegap-webhook/split-mode-secret_0123456788", "{\"session_id\":\"forged\"}", NULL,
            WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 404);
    hd_http(p.port, "POST", "/matchmaker/edgegap-webhook/" SECRET, "{\"session_id\":\"second_1\"}", NULL, WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 204);
    expect_msg(sub, "{\"session_id\":\"second_1\"}");

    /* the bridge counts a publish after nats.c took it: the subscriber may see the message first */
    uint64_t until = mm_now_ms() + WAIT_MS;
    do
        hd_http(p.port, "GET", "/metrics", NULL, NULL, WAIT_MS, &r);
    while (r.status == 200 && !has_line(r.body, "mm_bridge_webhooks_total{outcome=\"published\"} 2") && mm_now_ms() < until &&
           (mm_test_sleep_ms(10), true));
    MM_CHECK_INT(r.status, ==, 200);
    MM_CHECK(has_line(r.body, "mm_front_webhooks_total{outcome=\"routed\"} 2"));
    MM_CHECK(has_line(r.body, "mm_front_webhooks_total{outcome=\"not_found\"} 1"));
    MM_CHECK(has_line(r.body, "mm_bridge_webhooks_total{outcome=\"published\"} 2"));
    MM_CHECK(has_line(r.body, "mm_bridge_webhooks_total{outcome=\"failed\"} 0"));

    MM_CHECK_INT(hd_stop(&p, 5000), ==, 0);
    if (mm_test_failed > 0)
        hd_dump_log(&p);
    natsSubscription_Destroy(sub);
    h_stop(&h);
    return MM_TEST_DONE();
}
