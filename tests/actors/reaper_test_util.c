/* Helpers shared by the reaper tests (reaper_test_util.h). */
#include "reaper_test_util.h"

#include <stdio.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/delete_queue.h"
#include "mm_test_nats_client.h"

struct node
node_open(const struct mm_test_nats *server, const char *name)
{
    char why[512];
    struct node n = {.nats = mm_test_nats_connect(server, name)};
    unsigned needs =
        MM_JS_NEED_BUCKET(MM_KV_UNCLAIMED_SESSIONS) | MM_JS_NEED_BUCKET(MM_KV_ACTIVE_CONNECTIONS) | MM_JS_NEED_DELETE_STREAM;
    MM_REQUIRE(mm_js_setup(mm_nats_connection(n.nats), needs, 2000, &n.js, why, sizeof(why)) == MM_OK);
    return n;
}

void
node_close(struct node *n)
{
    mm_js_destroy(n->js);
    mm_nats_destroy(n->nats);
}

kvStore *
unclaimed(struct node *n)
{
    return mm_js_kv(n->js, MM_KV_UNCLAIMED_SESSIONS);
}

kvStore *
active(struct node *n)
{
    return mm_js_kv(n->js, MM_KV_ACTIVE_CONNECTIONS);
}

uint64_t
stream_msgs(struct node *n)
{
    jsStreamInfo *si = NULL;
    MM_REQUIRE(js_GetStreamInfo(&si, mm_js_ctx(n->js), MM_DELETE_SESSION_STREAM, NULL, NULL) == NATS_OK);
    uint64_t count = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return count;
}

bool
queued(struct node *n, const char *id)
{
    char subject[128];
    natsMsg *m = NULL;
    snprintf(subject, sizeof(subject), "%s%s", MM_DELETE_SESSION_SUBJECT_PREFIX, id);
    natsStatus s = js_GetLastMsg(&m, mm_js_ctx(n->js), MM_DELETE_SESSION_STREAM, subject, NULL, NULL);
    natsMsg_Destroy(m);
    return s == NATS_OK;
}

bool
in_unclaimed(struct node *n, const char *id)
{
    char value[128];
    return mm_kv_get_str(unclaimed(n), id, value, sizeof(value), NULL) == MM_OK;
}

void
put(kvStore *kv, const char *key, const char *value)
{
    MM_REQUIRE(kvStore_PutString(NULL, kv, key, value) == NATS_OK);
}

void
reset_buckets(struct node *n)
{
    MM_REQUIRE(js_PurgeStream(mm_js_ctx(n->js), "KV_unclaimed_sessions", NULL, NULL) == NATS_OK);
    MM_REQUIRE(js_PurgeStream(mm_js_ctx(n->js), "KV_active_connections", NULL, NULL) == NATS_OK);
}

bool
wait_queued(struct node *n, const char *id, int timeout_ms)
{
    uint64_t deadline = mm_now_ms() + (uint64_t)timeout_ms;
    while (!queued(n, id)) {
        if (mm_now_ms() > deadline)
            return false;
        mm_test_sleep_ms(10);
    }
    return true;
}

bool
wait_gone(struct node *n, const char *id, int timeout_ms)
{
    uint64_t deadline = mm_now_ms() + (uint64_t)timeout_ms;
    while (in_unclaimed(n, id)) {
        if (mm_now_ms() > deadline)
            return false;
        mm_test_sleep_ms(10);
    }
    return true;
}
