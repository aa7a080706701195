/*
 * mm_delete_queue against a real nats-server: the message's subject, payload and Nats-Msg-Id;
 * a double enqueue (sync and async) is one message; bad ids are refused before anything is sent;
 * no stream is an error; an enqueue whose ack timed out during an outage was still stored, and
 * enqueueing it again after the outage does not make a second message.
 */
#include <stdlib.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "mm/nats_env.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"

static uint64_t
stream_msgs(jsCtx *js)
{
    jsStreamInfo *si = NULL;
    MM_REQUIRE(js_GetStreamInfo(&si, js, MM_DELETE_SESSION_STREAM, NULL, NULL) == NATS_OK);
    uint64_t n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

static void
test_ids(void)
{
    char longest[MM_SESSION_ID_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[MM_SESSION_ID_MAX] = '\0';
    MM_CHECK(mm_session_id_valid(longest));
    longest[MM_SESSION_ID_MAX] = 'b';
    longest[MM_SESSION_ID_MAX + 1] = '\0';
    MM_CHECK(!mm_session_id_valid(longest));
    MM_CHECK(mm_session_id_valid("950dd2eaff09-S"));
    MM_CHECK(mm_session_id_valid("a_B-9"));
    MM_CHECK(mm_session_id_valid("x"));
    static const char *bad[] = {"", "a.b", "a*", "a>", ">", "a b", "a\nb", "a\tb", "caf\xc3\xa9", "a/b", "a:b", "a\\b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mm_session_id_valid(bad[i])) {
            fprintf(stderr, "accepted bad id \"%s\"\n", bad[i]);
            MM_CHECK(0);
        }
    }
    MM_CHECK(!mm_session_id_valid(NULL));
}

static void
test_no_stream(natsConnection *nc)
{
    mm_js *js = NULL;
    char why[512] = "";
    MM_REQUIRE(mm_js_setup(nc, MM_JS_NEED_BUCKET(MM_KV_UNCLAIMED_SESSIONS), 2000, &js, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(mm_delete_queue_enqueue(mm_js_ctx(js), "abc-S", why, sizeof(why)), ==, MM_ERR_IO);
    MM_CHECK(strstr(why, "abc-S") != NULL);
    mm_js_destroy(js);
}

static void
test_enqueue(jsCtx *js)
{
    char why[256] = "";
    uint64_t before = stream_msgs(js);
    MM_CHECK_INT(mm_delete_queue_enqueue(js, "950dd2eaff09-S", why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(mm_delete_queue_enqueue(js, "950dd2eaff09-S", why, sizeof(why)), ==, MM_OK); /* the other replica */
    MM_CHECK_U64(stream_msgs(js), ==, before + 1);

    natsMsg *m = NULL;
    MM_REQUIRE(js_GetLastMsg(&m, js, MM_DELETE_SESSION_STREAM, "edgegap_delete_session_q.950dd2eaff09-S", NULL, NULL) == NATS_OK);
    MM_CHECK_INT(natsMsg_GetDataLength(m), ==, 14);
    MM_CHECK(memcmp(natsMsg_GetData(m), "950dd2eaff09-S", 14) == 0);
    const char *msg_id = NULL;
    MM_CHECK_INT(natsMsgHeader_Get(m, "Nats-Msg-Id", &msg_id), ==, NATS_OK);
    MM_CHECK_STR(msg_id, "950dd2eaff09-S");
    natsMsg_Destroy(m);

    static const char *bad[] = {"", "a.b", "x*", "has space", "edgegap_delete_session_q.>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        MM_CHECK_INT(mm_delete_queue_enqueue(js, bad[i], why, sizeof(why)), ==, MM_ERR_INVALID);
        MM_CHECK(strstr(why, "not a valid session id") != NULL);
        MM_CHECK_INT(mm_delete_queue_enqueue_async(js, bad[i], 1000, why, sizeof(why)), ==, MM_ERR_INVALID);
    }
    MM_CHECK_INT(mm_delete_queue_enqueue(js, NULL, NULL, 0), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_delete_queue_enqueue(NULL, "a-S", NULL, 0), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_delete_queue_enqueue_async(js, "a-S", 0, NULL, 0), ==, MM_ERR_INVALID);
    MM_CHECK_U64(stream_msgs(js), ==, before + 1);

    /* Two more distinct ids, then the asynchronous variant, twice for the same id. */
    MM_CHECK_INT(mm_delete_queue_enqueue(js, "aaaaaaaaaaaa-S", NULL, 0), ==, MM_OK);
    MM_CHECK_INT(mm_delete_queue_enqueue(js, "bbbbbbbbbbbb-S", NULL, 0), ==, MM_OK);
    MM_CHECK_INT(mm_delete_queue_enqueue_async(js, "cccccccccccc-S", 2000, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(mm_delete_queue_enqueue_async(js, "cccccccccccc-S", 2000, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(js_PublishAsyncComplete(js, NULL), ==, NATS_OK);
    MM_CHECK_U64(stream_msgs(js), ==, before + 4);
}

/* The server is down: the enqueue times out, yet nats.c sends it on reconnect and it is stored. */
static void
test_outage(struct mm_test_nats *server, mm_nats *nats)
{
    mm_js *js = NULL;
    char why[512] = "";
    MM_REQUIRE(mm_js_setup(mm_nats_connection(nats), MM_JS_NEED_DELETE_STREAM, 300, &js, why, sizeof(why)) == MM_OK);
    uint64_t before = stream_msgs(mm_js_ctx(js));
    mm_test_stop(server->pid, 5000);
    server->pid = 0;
    mm_err err = mm_delete_queue_enqueue(mm_js_ctx(js), "outage0000000-S", why, sizeof(why));
    MM_CHECK(err == MM_ERR_TIMEOUT || err == MM_ERR_IO);
    MM_REQUIRE(mm_test_nats_restart(server) == 0);
    MM_REQUIRE(mm_nats_wait_connected(nats, 15000) == MM_OK);
    uint64_t deadline = mm_now_ms() + 15000;
    while ((err = mm_delete_queue_enqueue(mm_js_ctx(js), "outage0000000-S", why, sizeof(why))) != MM_OK && mm_now_ms() < deadline) {
        mm_test_sleep_ms(50); /* JetStream may still be starting */
    }
    MM_CHECK_INT(err, ==, MM_OK);
    MM_CHECK_U64(stream_msgs(mm_js_ctx(js)), ==, before + 1);
    mm_js_destroy(js);
}

int
main(void)
{
    mm_log_setup("test_delete_queue", MM_LOG_INFO, MM_LOG_TEXT);
    test_ids();
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    mm_nats *nats = mm_test_nats_connect(&server, "test_delete_queue");
    test_no_stream(mm_nats_connection(nats));

    mm_js *js = NULL;
    char why[512] = "";
    MM_REQUIRE(mm_js_setup(mm_nats_connection(nats), MM_JS_NEED_DELETE_STREAM, 3000, &js, why, sizeof(why)) == MM_OK);
    test_enqueue(mm_js_ctx(js));
    mm_js_destroy(js);
    test_outage(&server, nats);

    mm_nats_destroy(nats);
    nats_Close();
    mm_test_nats_stop(&server);
    return MM_TEST_DONE();
}
