/*
 * mm_js_setup() against a real nats-server with JetStream: every bucket and the delete stream are
 * created with the table's settings (read back from the server), a second set-up binds without
 * wiping, only the requested ones are made, an existing bucket with other settings is kept as it
 * is, and the KV string helpers. A failed asynchronous publish is resent after growing delays up
 * to MM_JS_ASYNC_ATTEMPTS times in all, then counted as lost; a good one is neither; one whose
 * stream comes (back) while it is being resent is stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/kv.h"
#include "mm/log.h"
#include "mm/nats_env.h"
#include "mm_test.h"
#include "mm_test_nats_client.h"

#define NS_PER_MS 1000000LL

static int
stream_exists(jsCtx *ctx, const char *name)
{
    jsStreamInfo *si = NULL;
    natsStatus s = js_GetStreamInfo(&si, ctx, name, NULL, NULL);
    jsStreamInfo_Destroy(si);
    return s == NATS_OK;
}

static void
check_bucket(mm_js *js, mm_kv_bucket b)
{
    const mm_kv_bucket_spec *spec = mm_kv_bucket_spec_of(b);
    kvStore *kv = mm_js_kv(js, b);
    MM_REQUIRE(kv != NULL);
    MM_CHECK_STR(kvStore_Bucket(kv), spec->name);

    kvStatus *st = NULL;
    MM_REQUIRE(kvStore_Status(&st, kv) == NATS_OK);
    MM_CHECK_STR(kvStatus_Bucket(st), spec->name);
    MM_CHECK_INT(kvStatus_TTL(st), ==, spec->max_age_ms * NS_PER_MS);
    MM_CHECK_INT(kvStatus_History(st), ==, 1);
    kvStatus_Destroy(st);

    char stream[64];
    snprintf(stream, sizeof(stream), "KV_%s", spec->name);
    jsStreamInfo *si = NULL;
    MM_REQUIRE(js_GetStreamInfo(&si, mm_js_ctx(js), stream, NULL, NULL) == NATS_OK);
    MM_CHECK_INT(si->Config->MaxAge, ==, spec->max_age_ms * NS_PER_MS);
    MM_CHECK_INT(si->Config->MaxMsgSize, ==, spec->max_value_size > 0 ? spec->max_value_size : -1);
    MM_CHECK_STR(si->Config->Description != NULL ? si->Config->Description : "", spec->description);
    jsStreamInfo_Destroy(si);
}

/* The table itself, against docs/protocol.md section 4 written out independently here. */
static void
test_table(void)
{
    static const struct {
        mm_kv_bucket b;
        const char *name;
        int64_t age_ms;
        int32_t max_value;
    } want[] = {
        {MM_KV_SESSIONS_EG2LY, "sessions_eg2ly", 30000, 1024},           {MM_KV_SESSIONS_LY2EG, "sessions_ly2eg", 30000, 1024},
        {MM_KV_UNCLAIMED_SESSIONS, "unclaimed_sessions", 0, 1024},       {MM_KV_ACTIVE_CONNECTIONS, "active_connections", 0, 0},
        {MM_KV_CERT_DIGESTS, "cert_digests", 14LL * 86400 * 1000, 1024},
        {MM_KV_DELETED_SESSIONS, "mm_deleted_sessions", 2LL * 3600 * 1000, 64}, /* ours: longer than the reaper's 1 h replay */
        {MM_KV_CREATE_INTENTS, "mm_create_intents", 10LL * 60 * 1000, 128},     /* ours: webhooks on only */
    };
    MM_CHECK_INT(sizeof(want) / sizeof(want[0]), ==, MM_KV_BUCKET_COUNT);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const mm_kv_bucket_spec *spec = mm_kv_bucket_spec_of(want[i].b);
        MM_CHECK_STR(spec->name, want[i].name);
        MM_CHECK_INT(spec->max_age_ms, ==, want[i].age_ms);
        MM_CHECK_INT(spec->max_value_size, ==, want[i].max_value);
    }
}

static void
test_setup_all_and_rebind(natsConnection *nc)
{
    mm_js *js = NULL;
    char why[512] = "";
    MM_REQUIRE(mm_js_setup(nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);
    for (int b = 0; b < MM_KV_BUCKET_COUNT; b++)
        check_bucket(js, (mm_kv_bucket)b);

    jsStreamInfo *si = NULL;
    MM_REQUIRE(js_GetStreamInfo(&si, mm_js_ctx(js), MM_DELETE_SESSION_STREAM, NULL, NULL) == NATS_OK);
    MM_CHECK_INT(si->Config->Retention, ==, js_WorkQueuePolicy);
    MM_CHECK_INT(si->Config->SubjectsLen, ==, 1);
    if (si->Config->SubjectsLen == 1)
        MM_CHECK_STR(si->Config->Subjects[0], "edgegap_delete_session_q.*");
    jsStreamInfo_Destroy(si);

    /* Data written now must survive a second set-up (by this or another service). */
    uint64_t rev = 0;
    MM_CHECK_INT(mm_kv_put_str(mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS), "950dd2eaff09-S", "1234", &rev), ==, MM_OK);
    MM_CHECK_U64(rev, >, 0);
    MM_CHECK_INT(mm_kv_put_str(mm_js_kv(js, MM_KV_CERT_DIGESTS), "127.1.0.5", "aa:bb", NULL), ==, MM_OK);
    jsPubAck *ack = NULL;
    MM_REQUIRE(js_Publish(&ack, mm_js_ctx(js), "edgegap_delete_session_q.abc-S", "abc-S", 5, NULL, NULL) == NATS_OK);
    jsPubAck_Destroy(ack);
    mm_js_destroy(js);

    js = NULL;
    MM_REQUIRE(mm_js_setup(nc, MM_JS_NEED_ALL, 0, &js, why, sizeof(why)) == MM_OK);
    char value[64];
    uint64_t rev2 = 0;
    MM_CHECK_INT(mm_kv_get_str(mm_js_kv(js, MM_KV_ACTIVE_CONNECTIONS), "950dd2eaff09-S", value, sizeof(value), &rev2), ==, MM_OK);
    MM_CHECK_STR(value, "1234");
    MM_CHECK_U64(rev2, ==, rev);
    MM_CHECK_INT(mm_kv_get_str(mm_js_kv(js, MM_KV_CERT_DIGESTS), "127.1.0.5", value, sizeof(value), NULL), ==, MM_OK);
    MM_CHECK_STR(value, "aa:bb");
    si = NULL;
    MM_REQUIRE(js_GetStreamInfo(&si, mm_js_ctx(js), MM_DELETE_SESSION_STREAM, NULL, NULL) == NATS_OK);
    MM_CHECK_U64(si->State.Msgs, ==, 1);
    jsStreamInfo_Destroy(si);
    mm_js_destroy(js);
}

static void
test_kv_helpers(natsConnection *nc)
{
    mm_js *js = NULL;
    char why[512] = "", value[16];
    MM_REQUIRE(mm_js_setup(nc, MM_JS_NEED_BUCKET(MM_KV_SESSIONS_LY2EG), 0, &js, why, sizeof(why)) == MM_OK);
    kvStore *kv = mm_js_kv(js, MM_KV_SESSIONS_LY2EG);
    MM_CHECK(mm_js_kv(js, MM_KV_CERT_DIGESTS) == NULL);
    MM_CHECK_INT(mm_kv_get_str(kv, "42", value, sizeof(value), NULL), ==, MM_ERR_NOTFOUND);
    MM_CHECK_INT(mm_kv_put_str(kv, "42", "sess-42", NULL), ==, MM_OK);
    MM_CHECK_INT(mm_kv_get_str(kv, "42", value, sizeof(value), NULL), ==, MM_OK);
    MM_CHECK_STR(value, "sess-42");
    MM_CHECK_INT(mm_kv_get_str(kv, "42", value, 4, NULL), ==, MM_ERR_INVALID); /* does not fit */
    MM_CHECK_INT(mm_kv_delete(kv, "42"), ==, MM_OK);
    MM_CHECK_INT(mm_kv_get_str(kv, "42", value, sizeof(value), NULL), ==, MM_ERR_NOTFOUND);
    MM_CHECK_INT(mm_kv_delete(kv, "never-written"), ==, MM_OK);
    MM_CHECK_INT(mm_kv_put_str(kv, "bad key", "x", NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_kv_put_str(kv, ".dot", "x", NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_kv_get_str(kv, "", value, sizeof(value), NULL), ==, MM_ERR_INVALID);
    /* The bucket refuses values over 1024 bytes. */
    char big[1100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    MM_CHECK_INT(mm_kv_put_str(kv, "43", big, NULL), ==, MM_ERR_IO);
    MM_CHECK(!mm_kv_key_valid("a..b") && mm_kv_key_valid("a.b") && mm_kv_key_valid("950dd2eaff09-S"));
    mm_js_destroy(js);
}

/* Only what is asked for is made; a bucket that exists with other settings keeps them and its data. */
static void
test_subset_and_foreign_settings(void)
{
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    mm_nats *nats = mm_test_nats_connect(&server, "test_kv_setup");
    natsConnection *nc = mm_nats_connection(nats);

    jsCtx *ctx = NULL;
    MM_REQUIRE(natsConnection_JetStream(&ctx, nc, NULL) == NATS_OK);
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = "cert_digests";
    cfg.TTL = 3600LL * 1000 * NS_PER_MS; /* one hour, not 14 days */
    kvStore *foreign = NULL;
    MM_REQUIRE(js_CreateKeyValue(&foreign, ctx, &cfg) == NATS_OK);
    MM_REQUIRE(kvStore_PutString(NULL, foreign, "10.0.0.1", "old:digest") == NATS_OK);
    kvStore_Destroy(foreign);

    mm_js *js = NULL;
    char why[512] = "", value[64];
    MM_REQUIRE(mm_js_setup(nc, MM_JS_NEED_BUCKET(MM_KV_CERT_DIGESTS), 0, &js, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(mm_kv_get_str(mm_js_kv(js, MM_KV_CERT_DIGESTS), "10.0.0.1", value, sizeof(value), NULL), ==, MM_OK);
    MM_CHECK_STR(value, "old:digest");
    kvStatus *st = NULL;
    MM_REQUIRE(kvStore_Status(&st, mm_js_kv(js, MM_KV_CERT_DIGESTS)) == NATS_OK);
    MM_CHECK_INT(kvStatus_TTL(st), ==, 3600LL * 1000 * NS_PER_MS);
    kvStatus_Destroy(st);
    MM_CHECK(!stream_exists(ctx, "KV_sessions_eg2ly"));
    MM_CHECK(!stream_exists(ctx, "KV_active_connections"));
    MM_CHECK(!stream_exists(ctx, MM_DELETE_SESSION_STREAM));
    mm_js_destroy(js);

    MM_REQUIRE(mm_js_setup(nc, MM_JS_NEED_DELETE_STREAM, 0, &js, why, sizeof(why)) == MM_OK);
    MM_CHECK(stream_exists(ctx, MM_DELETE_SESSION_STREAM));
    MM_CHECK(!stream_exists(ctx, "KV_sessions_ly2eg"));
    mm_js_destroy(js);

    jsCtx_Destroy(ctx);
    mm_nats_destroy(nats);
    mm_test_nats_stop(&server);
}

/* A server without JetStream: set-up fails with a reason instead of hanging or crashing. */
static void
test_no_jetstream(void)
{
    int port = mm_test_free_port();
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    char *argv[] = {NATS_SERVER_EXE, "-a", "127.0.0.1", "-p", port_text, NULL};
    pid_t pid = mm_test_spawn(argv, "/dev/null");
    MM_REQUIRE(pid > 0 && mm_test_wait_port(port, 10000) == 0);
    struct mm_test_nats plain = {.pid = pid, .port = port};
    mm_nats *nats = mm_test_nats_connect(&plain, "test_kv_setup");
    mm_js *js = NULL;
    char why[512] = "";
    MM_CHECK_INT(mm_js_setup(mm_nats_connection(nats), MM_JS_NEED_ALL, 1000, &js, why, sizeof(why)), ==, MM_ERR_IO);
    MM_CHECK(js == NULL);
    MM_CHECK(strstr(why, "sessions_eg2ly") != NULL);
    mm_nats_destroy(nats);
    mm_test_stop(pid, 5000);
}

/* mm_js_setup_with: memory storage is used for new buckets and the stream; 3 replicas on a
 * single server cannot be made (a clear error naming the bucket); 7 is refused before asking. */
static void
test_options(void)
{
    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    mm_nats *nats = mm_test_nats_connect(&server, "test_kv_setup_options");
    natsConnection *nc = mm_nats_connection(nats);
    char why[512] = "";
    mm_js *js = NULL;
    mm_js_options bad = {.replicas = 7};
    MM_CHECK_INT(mm_js_setup_with(nc, MM_JS_NEED_ALL, &bad, &js, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "7 replicas") != NULL);
    mm_js_options r3 = {.replicas = 3, .wait_ms = 2000};
    MM_CHECK_INT(mm_js_setup_with(nc, MM_JS_NEED_BUCKET(MM_KV_CERT_DIGESTS), &r3, &js, why, sizeof(why)), ==, MM_ERR_IO);
    fprintf(stderr, "R3 on one server: %s\n", why);
    MM_CHECK(strstr(why, "cert_digests") != NULL);
    mm_js_options mem = {.memory_storage = true};
    MM_REQUIRE(mm_js_setup_with(nc, MM_JS_NEED_ALL, &mem, &js, why, sizeof(why)) == MM_OK);
    const char *streams[] = {"KV_sessions_eg2ly", "KV_unclaimed_sessions", MM_DELETE_SESSION_STREAM};
    for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
        jsStreamInfo *si = NULL;
        MM_REQUIRE(js_GetStreamInfo(&si, mm_js_ctx(js), streams[i], NULL, NULL) == NATS_OK);
        MM_CHECK_INT(si->Config->Storage, ==, js_MemoryStorage);
        MM_CHECK_INT(si->Config->Replicas, ==, 1);
        jsStreamInfo_Destroy(si);
    }
    mm_js_destroy(js);
    mm_nats_destroy(nats);
    mm_test_nats_stop(&server);
}

/*
 * A publish to a subject no stream listens on fails at once ("no responders", as during a stream
 * leader election): it is resent after growing delays, MM_JS_ASYNC_ATTEMPTS attempts in all,
 * then counted as lost. resend_first_ms is small here; the spacing is checked by the time taken.
 */
static void
test_async_resend(natsConnection *nc)
{
    char why[256];
    mm_js *js = NULL;
    mm_js_options opts = {.resend_first_ms = 10};
    MM_REQUIRE(mm_js_setup_with(nc, MM_JS_NEED_BUCKET(MM_KV_UNCLAIMED_SESSIONS), &opts, &js, why, sizeof(why)) == MM_OK);
    uint64_t resent0 = 0, lost0 = 0, resent = 0, lost = 0;
    mm_js_async_stats(&resent0, &lost0);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 2000;
    MM_REQUIRE(js_PublishAsync(mm_js_ctx(js), "$KV.unclaimed_sessions.good", "v", 1, &po) == NATS_OK);
    jsPubOptions cw;
    jsPubOptions_Init(&cw);
    cw.MaxWait = 10000;
    MM_CHECK(js_PublishAsyncComplete(mm_js_ctx(js), &cw) == NATS_OK);
    mm_js_async_stats(&resent, &lost);
    MM_CHECK_U64(resent, ==, resent0);
    MM_CHECK_U64(lost, ==, lost0);
    char value[16];
    MM_CHECK_INT(mm_kv_get_str(mm_js_kv(js, MM_KV_UNCLAIMED_SESSIONS), "good", value, sizeof(value), NULL), ==, MM_OK);

    uint64_t t0 = mm_now_ms();
    MM_REQUIRE(js_PublishAsync(mm_js_ctx(js), "mm.test.no.stream.here", "v", 1, &po) == NATS_OK);
    uint64_t until = mm_now_ms() + 20000;
    do {
        mm_test_sleep_ms(5);
        mm_js_async_stats(&resent, &lost);
    } while (lost == lost0 && mm_now_ms() < until);
    uint64_t took = mm_now_ms() - t0;
    MM_CHECK_U64(lost - lost0, ==, 1);
    MM_CHECK_U64(resent - resent0, ==, MM_JS_ASYNC_ATTEMPTS - 1);
    /* waits of 10, 20, 40, then 80 ms each (jitter only adds): not all at once */
    uint64_t least = 10 + 20 + 40 + 80ULL * (MM_JS_ASYNC_ATTEMPTS - 4);
    fprintf(stderr, "resends of a publish nobody stores: %d attempts in %llu ms (at least %llu)\n", MM_JS_ASYNC_ATTEMPTS,
            (unsigned long long)took, (unsigned long long)least);
    MM_CHECK_U64(took, >=, least);
    mm_js_destroy(js);
}

/* True once the async publishes have been resent more than *(uint64_t *)p times in all. */
static bool
resent_since(void *p)
{
    uint64_t resent = 0, lost = 0;
    mm_js_async_stats(&resent, &lost);
    return resent > *(const uint64_t *)p;
}

/*
 * A publish made while its stream has no leader (here: does not exist yet) is stored once the
 * stream is back within the resends' span: the stream appears after the first resend (as after
 * an election of a few seconds at the default resend_first_ms of 250 ms), nothing is lost.
 */
static void
test_async_resend_until_stored(natsConnection *nc)
{
    char why[256];
    mm_js *js = NULL;
    mm_js_options opts = {.resend_first_ms = 20};
    MM_REQUIRE(mm_js_setup_with(nc, 0, &opts, &js, why, sizeof(why)) == MM_OK);
    uint64_t resent0 = 0, lost0 = 0, resent = 0, lost = 0;
    mm_js_async_stats(&resent0, &lost0);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 2000;
    MM_REQUIRE(js_PublishAsync(mm_js_ctx(js), "mm.test.late.x", "late", 4, &po) == NATS_OK);
    /* the stream appears only once the publish has been resent at least once */
    MM_REQUIRE(mm_test_wait_until(resent_since, &resent0, 5, 5000));
    const char *subjects[] = {"mm.test.late.>"};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "MM_TEST_LATE";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_MemoryStorage;
    MM_REQUIRE(js_AddStream(NULL, mm_js_ctx(js), &cfg, NULL, NULL) == NATS_OK);
    jsStreamInfo *si = NULL;
    uint64_t until = mm_now_ms() + 10000;
    uint64_t msgs = 0;
    while (msgs == 0 && mm_now_ms() < until) {
        if (js_GetStreamInfo(&si, mm_js_ctx(js), "MM_TEST_LATE", NULL, NULL) == NATS_OK)
            msgs = si->State.Msgs;
        jsStreamInfo_Destroy(si);
        si = NULL;
        mm_test_sleep_ms(10);
    }
    mm_js_async_stats(&resent, &lost);
    MM_CHECK_U64(msgs, ==, 1);
    MM_CHECK_U64(lost, ==, lost0);
    MM_CHECK(resent > resent0);
    js_DeleteStream(mm_js_ctx(js), "MM_TEST_LATE", NULL, NULL);
    mm_js_destroy(js);
}

int
main(void)
{
    mm_log_setup("test_kv_setup", MM_LOG_INFO, MM_LOG_TEXT);
    test_table();

    struct mm_test_nats server;
    MM_REQUIRE(mm_test_nats_start(&server) == 0);
    mm_nats *nats = mm_test_nats_connect(&server, "test_kv_setup");
    test_setup_all_and_rebind(mm_nats_connection(nats));
    test_kv_helpers(mm_nats_connection(nats));
    test_async_resend(mm_nats_connection(nats));
    test_async_resend_until_stored(mm_nats_connection(nats));
    mm_nats_destroy(nats);
    mm_test_nats_stop(&server);

    test_options();
    test_subset_and_foreign_settings();
    test_no_jetstream();
    nats_CloseAndWait(5000);
    return MM_TEST_DONE();
}
