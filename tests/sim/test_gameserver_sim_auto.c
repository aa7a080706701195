/*
 * gameserver_sim --auto: a sessions_ly2eg entry makes active_connections[session] = client id
 * appear and, after --hold-ms, disappear again; deletes of mappings and keys that are no client
 * id are ignored; with --never-claim a share of the clients is left unclaimed (each outcome is
 * observed: a key in KV, or the "unclaimed" log line); --hold-ms -1 keeps clients until SIGTERM,
 * which reports them disconnected; SIGINT exits 0 as well. No edgegap_sim is needed: auto mode takes no token.
 */
#include <signal.h>
#include <stdlib.h>

#include "mm/log.h"
#include "gameserver_sim_test_util.h"

#define MIXED_CLIENTS 40

static gs_world w;

static void
test_connect_then_disconnect(void)
{
    const char *extra[] = {"--auto", "--auto-connect-ms", "50", "--hold-ms", "300", NULL};
    gsw_start_gameserver(&w, extra);
    kvStore *ly2eg = mm_js_kv(w.js, MM_KV_SESSIONS_LY2EG), *active = mm_js_kv(w.js, MM_KV_ACTIVE_CONNECTIONS);
    char value[64];

    /* Noise first: a delete of a mapping and a key that is no client id change nothing. */
    MM_REQUIRE(mm_kv_put_str(ly2eg, "not-a-number", "abc-S", NULL) == MM_OK);
    MM_REQUIRE(mm_kv_delete(ly2eg, "not-a-number") == MM_OK);

    MM_REQUIRE(mm_kv_put_str(ly2eg, "777", "auto777-S", NULL) == MM_OK);
    MM_CHECK_INT(gsw_wait_kv(active, "auto777-S", value, sizeof(value), 10000), ==, 0);
    MM_CHECK_STR(value, "777");
    MM_CHECK_INT(gsw_wait_kv_gone(active, "auto777-S", 10000), ==, 0);
    MM_CHECK_INT(mm_kv_get_str(active, "abc-S", value, sizeof(value), NULL), ==, MM_ERR_NOTFOUND);

    /* SIGINT stops it cleanly too. (The SIGTERM that follows from the helper is taken second:
     * both pending, sigtimedwait returns the lower-numbered SIGINT first.) */
    MM_REQUIRE(kill(w.gs_pid, SIGINT) == 0);
    MM_CHECK_INT(gsw_stop_gameserver(&w), ==, 0);
    MM_CHECK_INT(gsw_wait_log(&w, "SIGINT: stopping", 0), ==, 0);
}

static void
test_never_claim_share(void)
{
    const char *extra[] = {"--auto", "--auto-connect-ms", "0", "--hold-ms", "-1", "--never-claim", "0.5", NULL};
    gsw_start_gameserver(&w, extra);
    kvStore *ly2eg = mm_js_kv(w.js, MM_KV_SESSIONS_LY2EG), *active = mm_js_kv(w.js, MM_KV_ACTIVE_CONNECTIONS);
    char key[32], session[64], line[128], value[64];
    int connected = 0, unclaimed = 0;
    for (int i = 0; i < MIXED_CLIENTS; i++) {
        snprintf(key, sizeof(key), "%d", 9000 + i);
        snprintf(session, sizeof(session), "mixed%d-S", i);
        MM_REQUIRE(mm_kv_put_str(ly2eg, key, session, NULL) == MM_OK);
    }
    /* Each client ends in exactly one of two observable states. */
    for (int i = 0; i < MIXED_CLIENTS; i++) {
        snprintf(session, sizeof(session), "mixed%d-S", i);
        snprintf(line, sizeof(line), "leaving client %d (session %s) unclaimed", 9000 + i, session);
        int done = 0;
        for (int attempt = 0; attempt < 500 && !done; attempt++) {
            if (mm_kv_get_str(active, session, value, sizeof(value), NULL) == MM_OK) {
                connected++;
                done = 1;
            } else if (gsw_wait_log(&w, line, 0) == 0) {
                unclaimed++;
                done = 1;
            } else {
                mm_test_sleep_ms(20);
            }
        }
        MM_CHECK(done);
    }
    MM_CHECK_INT(connected + unclaimed, ==, MIXED_CLIENTS);
    MM_CHECK_INT(connected, >, 0); /* each fails with probability 2^-40 */
    MM_CHECK_INT(unclaimed, >, 0);

    /* --hold-ms -1: still connected until SIGTERM, which reports every one disconnected. */
    MM_CHECK_INT(gsw_stop_gameserver(&w), ==, 0);
    int left = 0;
    for (int i = 0; i < MIXED_CLIENTS; i++) {
        snprintf(session, sizeof(session), "mixed%d-S", i);
        left += mm_kv_get_str(active, session, value, sizeof(value), NULL) == MM_OK;
    }
    MM_CHECK_INT(left, ==, 0);
}

int
main(void)
{
    mm_log_setup("test_gameserver_sim_auto", MM_LOG_WARN, MM_LOG_TEXT);
    gsw_start_nats(&w);
    test_connect_then_disconnect();
    test_never_claim_share();
    gsw_stop_all(&w);
    return MM_TEST_DONE();
}
