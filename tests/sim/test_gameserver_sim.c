/*
 * gameserver_sim end to end, with real nats-server, edgegap_sim and gameserver_sim processes:
 * flags and exit statuses; a session's deployment gets its certificate digest in KV; a client
 * connects with a minted token (active_connections written) and disconnects (key deleted); every
 * kind of bad token or request is refused with its reason; SIGTERM exits 0 and reports the
 * clients still connected as disconnected.
 */
#include <stdlib.h>

#include <sodium.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "gameserver_sim_test_util.h"

static gs_world w;
static mm_token_key key;
static char ip[64], request_id[64], session[128];
static uint16_t port;

static void
mint_full(char *b64, const mm_token_key *k, mm_byte_order order, uint64_t protocol_id, uint64_t client_id, const char *server_ip,
          uint16_t server_port, uint64_t now)
{
    mm_token_address addr;
    char text[96];
    snprintf(text, sizeof(text), "%s:%u", server_ip, (unsigned)server_port);
    MM_REQUIRE(mm_token_address_parse(text, &addr, NULL, 0) == MM_OK);
    MM_REQUIRE(mm_token_mint(k, order, protocol_id, client_id, &addr, 1, now, 30, 15, b64, MM_TOKEN_BASE64_LEN + 1) == MM_OK);
}

static void
mint(char *b64, uint64_t client_id)
{
    mint_full(b64, &key, MM_BYTE_ORDER_LITTLE, GSW_PROTOCOL_ID, client_id, ip, port, mm_unix_seconds());
}

static json_t *
connect_token(const char *b64)
{
    json_t *req = json_pack("{s:s}", "token", b64);
    char *payload = json_dumps(req, JSON_COMPACT);
    json_t *reply = gsw_request(&w, "gameserver_sim.connect", payload);
    free(payload);
    json_decref(req);
    return reply;
}

/* Checks reply is {"ok":false,"error":...} with needle in the error; consumes reply. */
static void
expect_refused(json_t *reply, const char *needle, int line)
{
    const char *error = json_string_value(json_object_get(reply, "error"));
    if (reply == NULL || !json_is_false(json_object_get(reply, "ok")) || error == NULL || strstr(error, needle) == NULL) {
        fprintf(stderr, "line %d: expected a refusal containing '%s', got %s\n", line, needle,
                error != NULL ? error : "(no error)");
        mm_test_failed++;
    } else {
        mm_test_passed++;
    }
    json_decref(reply);
}
#define EXPECT_REFUSED(reply, needle) expect_refused((reply), (needle), __LINE__)

static void
expect_ok(json_t *reply, const char *client_id, const char *session_id, int line)
{
    if (reply == NULL || !json_is_true(json_object_get(reply, "ok"))) {
        fprintf(stderr, "line %d: expected ok, got %s\n", line,
                reply != NULL ? json_string_value(json_object_get(reply, "error")) : "no reply");
        mm_test_failed++;
    } else {
        MM_CHECK_STR(json_string_value(json_object_get(reply, "client_id")), client_id);
        MM_CHECK_STR(json_string_value(json_object_get(reply, "session_id")), session_id);
    }
    json_decref(reply);
}
#define EXPECT_OK(reply, id, sess) expect_ok((reply), (id), (sess), __LINE__)

static void
test_flags(void)
{
    char exe[300], out[8192];
    snprintf(exe, sizeof(exe), "%s/gameserver_sim", mm_test_build_dir());
    unsetenv("NATS_HOST");
    char *help[] = {exe, "--help", NULL};
    MM_CHECK_INT(mm_test_run(help, NULL, out, sizeof(out)), ==, 0);
    const char *documented[] = {"--edgegap-sim", "--poll-ms", "--cert-delay-ms",   "--protocol-id", "--private-key",
                                "--byte-order",  "--auto",    "--auto-connect-ms", "--hold-ms",     "--never-claim"};
    for (size_t i = 0; i < sizeof(documented) / sizeof(documented[0]); i++)
        MM_CHECK(strstr(out, documented[i]) != NULL);
    char *bogus[] = {exe, "--bogus", NULL};
    MM_CHECK_INT(mm_test_run(bogus, NULL, NULL, 0), ==, 2);
    char *share[] = {exe, "--never-claim", "1.5", NULL};
    MM_CHECK_INT(mm_test_run(share, NULL, NULL, 0), ==, 2);
    char *order[] = {exe, "--byte-order", "middle", NULL};
    MM_CHECK_INT(mm_test_run(order, NULL, NULL, 0), ==, 2);
    char *missing[] = {exe, "--poll-ms", NULL};
    MM_CHECK_INT(mm_test_run(missing, NULL, NULL, 0), ==, 2);
    char *no_env[] = {exe, NULL}; /* NATS_HOST unset */
    MM_CHECK_INT(mm_test_run(no_env, NULL, NULL, 0), ==, 2);
}

static void
expected_digest(const char *rid, char out[96])
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, (const unsigned char *)rid, strlen(rid));
    for (size_t i = 0; i < sizeof(hash); i++)
        snprintf(out + i * 3, 4, i + 1 < sizeof(hash) ? "%02x:" : "%02x", hash[i]);
}

static void
test_cert_digest(void)
{
    char digest[1100], want[96];
    MM_REQUIRE(gsw_wait_kv(mm_js_kv(w.js, MM_KV_CERT_DIGESTS), ip, digest, sizeof(digest), 10000) == 0);
    MM_CHECK_INT(strlen(digest), ==, 95);
    int format_ok = 1;
    for (size_t i = 0; i < strlen(digest); i++)
        format_ok &= i % 3 == 2 ? digest[i] == ':' : strchr("0123456789abcdef", digest[i]) != NULL;
    MM_CHECK(format_ok);
    expected_digest(request_id, want);
    MM_CHECK_STR(digest, want);
}

static void
test_connect_disconnect(void)
{
    const uint64_t client_id = 0xF000000000000001ULL; /* above INT64_MAX: ids are u64 */
    char id[24], token[MM_TOKEN_BASE64_LEN + 1], value[1100];
    snprintf(id, sizeof(id), "%llu", (unsigned long long)client_id);
    kvStore *ly2eg = mm_js_kv(w.js, MM_KV_SESSIONS_LY2EG), *active = mm_js_kv(w.js, MM_KV_ACTIVE_CONNECTIONS);
    MM_REQUIRE(mm_kv_put_str(ly2eg, id, session, NULL) == MM_OK);

    mint(token, client_id);
    json_t *reply = connect_token(token);
    MM_CHECK_STR(json_string_value(json_object_get(reply, "deployment")), request_id);
    EXPECT_OK(reply, id, session);
    MM_CHECK_INT(mm_kv_get_str(active, session, value, sizeof(value), NULL), ==, MM_OK);
    MM_CHECK_STR(value, id);

    mint(token, client_id);
    EXPECT_REFUSED(connect_token(token), "already connected");

    char payload[256];
    snprintf(payload, sizeof(payload), "{\"client_id\":\"%s\"}", id);
    EXPECT_OK(gsw_request(&w, "gameserver_sim.disconnect", payload), id, session);
    MM_CHECK_INT(mm_kv_get_str(active, session, value, sizeof(value), NULL), ==, MM_ERR_NOTFOUND);
    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.disconnect", payload), "is not connected");

    /* Reconnect, then disconnect by session id; a client id as a JSON number works too. */
    EXPECT_OK(connect_token(token), id, session);
    snprintf(payload, sizeof(payload), "{\"session_id\":\"%s\"}", session);
    EXPECT_OK(gsw_request(&w, "gameserver_sim.disconnect", payload), id, session);
    MM_CHECK_INT(mm_kv_get_str(active, session, value, sizeof(value), NULL), ==, MM_ERR_NOTFOUND);
    MM_REQUIRE(mm_kv_put_str(ly2eg, "77", session, NULL) == MM_OK);
    mint(token, 77);
    EXPECT_OK(connect_token(token), "77", session);
    EXPECT_OK(gsw_request(&w, "gameserver_sim.disconnect", "{\"client_id\":77}"), "77", session);
}

static void
test_refusals(void)
{
    char token[MM_TOKEN_BASE64_LEN + 1];
    uint64_t now = mm_unix_seconds();
    kvStore *ly2eg = mm_js_kv(w.js, MM_KV_SESSIONS_LY2EG);
    MM_REQUIRE(mm_kv_put_str(ly2eg, "1001", session, NULL) == MM_OK);

    /* One byte of the sealed private data changed. */
    uint8_t raw[MM_TOKEN_BYTES];
    mint(token, 1001);
    MM_REQUIRE(mm_token_from_base64(token, raw, NULL, 0) == MM_OK);
    raw[61 + 100] ^= 0x01;
    sodium_bin2base64(token, sizeof(token), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    EXPECT_REFUSED(connect_token(token), "does not open with this key");

    mint_full(token, &key, MM_BYTE_ORDER_LITTLE, GSW_PROTOCOL_ID, 1001, ip, port, now - 120);
    EXPECT_REFUSED(connect_token(token), "expired");

    mint_full(token, &key, MM_BYTE_ORDER_LITTLE, GSW_PROTOCOL_ID + 1, 1001, ip, port, now);
    EXPECT_REFUSED(connect_token(token), "protocol id");

    mm_token_key other = key;
    other.bytes[5] ^= 0x40;
    mint_full(token, &other, MM_BYTE_ORDER_LITTLE, GSW_PROTOCOL_ID, 1001, ip, port, now);
    EXPECT_REFUSED(connect_token(token), "does not open with this key");

    mint_full(token, &key, MM_BYTE_ORDER_BIG, GSW_PROTOCOL_ID, 1001, ip, port, now);
    EXPECT_REFUSED(connect_token(token), "token refused");

    mint_full(token, &key, MM_BYTE_ORDER_LITTLE, GSW_PROTOCOL_ID, 1001, ip, (uint16_t)(port + 1), now);
    EXPECT_REFUSED(connect_token(token), "no server address in the token");
    mint_full(token, &key, MM_BYTE_ORDER_LITTLE, GSW_PROTOCOL_ID, 1001, "10.9.8.7", port, now);
    EXPECT_REFUSED(connect_token(token), "no server address in the token (10.9.8.7:");

    mint(token, 999); /* valid, but no sessions_ly2eg[999] */
    EXPECT_REFUSED(connect_token(token), "has no sessions_ly2eg entry");

    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.connect", "not json"), "bad request");
    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.connect", "[1]"), "bad request");
    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.connect", "{\"token\":5}"), "bad request");
    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.connect", "{\"token\":\"!!!\"}"), "bad token");
    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.disconnect", "{\"client_id\":-1}"), "bad request");
    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.disconnect", "{\"client_id\":\"12x\"}"), "bad request");
    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.disconnect", "{}"), "bad request");
    EXPECT_REFUSED(gsw_request(&w, "gameserver_sim.disconnect", "{\"session_id\":\"nobody-S\"}"), "no client");

    /* After all that, the good token still works. */
    mint(token, 1001);
    EXPECT_OK(connect_token(token), "1001", session);
}

/* SIGTERM: exit status 0, and the client connected above is reported disconnected. */
static void
test_shutdown(void)
{
    MM_CHECK_INT(gsw_stop_gameserver(&w), ==, 0);
    char value[64];
    MM_CHECK_INT(mm_kv_get_str(mm_js_kv(w.js, MM_KV_ACTIVE_CONNECTIONS), session, value, sizeof(value), NULL), ==, MM_ERR_NOTFOUND);
}

int
main(void)
{
    mm_log_setup("test_gameserver_sim", MM_LOG_WARN, MM_LOG_TEXT);
    test_flags();
    gsw_start_nats(&w);
    gsw_key(&key);
    gsw_start_edgegap(&w);
    gsw_start_gameserver(&w, NULL);
    MM_REQUIRE(gsw_create_session(&w, session, sizeof(session)) == 0);
    MM_REQUIRE(gsw_wait_ready(&w, session, ip, sizeof(ip), &port, request_id, sizeof(request_id)) == 0);
    test_cert_digest();
    test_connect_disconnect();
    test_refusals();
    test_shutdown();
    gsw_stop_all(&w);
    return MM_TEST_DONE();
}
