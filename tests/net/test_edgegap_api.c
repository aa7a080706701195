/*
 * Edgegap client against the real edgegap_sim: every call's success path and parsed fields,
 * 401/404/410 relayed, arguments refused before they reach the network, config validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "edgegap_test_util.h"

static eg_sim sim;

static void
test_config(void)
{
    mm_edgegap *eg = NULL;
    char why[256];
    struct {
        const char *base, *key;
        uint32_t in_flight;
        const char *why_part;
    } bad[] = {
        {NULL, NULL, 0, "api_key"},
        {NULL, "", 0, "api_key"},
        {NULL, "token a\r\nX-Evil: 1", 0, "api_key"},
        {"ftp://127.0.0.1:1", "token k", 0, "http://"},
        {"http://127.0.0.1:1/?q=1", "token k", 0, "query"},
        {"http://127.0.0.1:1/a b", "token k", 0, "space"},
        {"http://", "token k", 0, "base_url"},
        {"http://127.0.0.1:1", "token k", 5000, "max_in_flight"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mm_edgegap_config cfg = {.base_url = bad[i].base, .api_key = bad[i].key, .max_in_flight = bad[i].in_flight};
        why[0] = '\0';
        MM_CHECK_INT(mm_edgegap_create(&cfg, &eg, why, sizeof(why)), ==, MM_ERR_INVALID);
        MM_CHECK(eg == NULL);
        if (!eg_contains(why, bad[i].why_part))
            fprintf(stderr, "config %zu: why \"%s\" lacks \"%s\"\n", i, why, bad[i].why_part);
        MM_CHECK(eg_contains(why, bad[i].why_part));
        MM_CHECK(strstr(why, "X-Evil") == NULL); /* the key is never echoed */
    }
    /* The default base URL is fine; no request is made. */
    mm_edgegap_config ok = {.api_key = "token k"};
    MM_CHECK_INT(mm_edgegap_create(&ok, &eg, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_in_flight(eg), ==, 0);
    mm_edgegap_destroy(eg);
    mm_edgegap_destroy(NULL);
}

static void
test_app_and_version(mm_edgegap *eg)
{
    eg_rec app = {0}, version = {0}, unknown = {0}, unknown_version = {0};
    int done = 0;
    app.counter = version.counter = unknown.counter = unknown_version.counter = &done;
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &app), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_version_get(eg, EG_APP, "1", eg_record, &version), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_app_get(eg, "no-such-app", eg_record, &unknown), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_version_get(eg, EG_APP, "v9", eg_record, &unknown_version), ==, MM_OK);
    MM_CHECK_INT(app.calls, ==, 0); /* never from inside the call */
    MM_REQUIRE(eg_drive(eg, &done, 4, 10000));

    MM_CHECK_INT(app.calls, ==, 1);
    MM_CHECK_INT(app.op, ==, MM_EDGEGAP_APP_GET);
    MM_CHECK_INT(app.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK_INT(app.status, ==, 200);
    MM_CHECK_STR(app.name, EG_APP);
    MM_CHECK_STR(app.subject, EG_APP);
    MM_CHECK_STR(app.message, "");
    MM_CHECK(app.is_active);
    MM_CHECK(app.has_json);
    MM_CHECK(!app.retryable);

    MM_CHECK_INT(version.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK_STR(version.name, "1");
    MM_CHECK(version.is_active);
    MM_CHECK_INT(version.n_ports, ==, 1);
    MM_CHECK_STR(version.port_names[0], "server");
    MM_CHECK_INT(version.port_internal[0], ==, 6420);
    MM_CHECK_STR(version.port_protocols[0], "UDP");

    MM_CHECK_INT(unknown.outcome, ==, MM_EDGEGAP_HTTP_ERROR);
    MM_CHECK_INT(unknown.status, ==, 404);
    MM_CHECK_STR(unknown.message, eg_sim_message(&sim, "GET", "/v1/app/no-such-app", EG_KEY));
    MM_CHECK(unknown.message[0] != '\0');
    MM_CHECK(!unknown.retryable);
    MM_CHECK_INT(unknown_version.status, ==, 404);
    MM_CHECK_STR(unknown_version.message, eg_sim_message(&sim, "GET", "/v1/app/" EG_APP "/version/v9", EG_KEY));
}

/* Polls GET /v1/session/id (one request per 50 ms) until ready; returns the last answer. */
static eg_rec
poll_until_ready(mm_edgegap *eg, const char *id, const char *port_name, bool *saw_deploying)
{
    eg_rec rec = {0};
    long long deadline = mm_test_now_ms() + 10000;
    while (mm_test_now_ms() < deadline) {
        memset(&rec, 0, sizeof(rec));
        rec.port_name = port_name;
        MM_REQUIRE(mm_edgegap_session_get(eg, id, MM_EDGEGAP_URGENT, eg_record, &rec) == MM_OK);
        MM_REQUIRE(eg_drive(eg, &rec.calls, 1, 5000));
        if (rec.outcome != MM_EDGEGAP_OK || rec.ready)
            break;
        if (eg_contains(rec.session_status, "DEPLOYING"))
            *saw_deploying = true;
        int paced = 0;
        eg_drive(eg, &paced, 1, 50); /* pacing only: nothing to wait for */
    }
    return rec;
}

/*
 * "elapsed" is the simulator's seconds since the session was created (both sides read
 * CLOCK_MONOTONIC). It must lie between the whole seconds certainly passed and those possibly
 * passed around each GET, and it must have grown to at least 1 once a second has gone by.
 */
static void
check_elapsed(mm_edgegap *eg, const char *id, int64_t first, long long create_sent, long long create_done,
              long long first_done)
{
    MM_CHECK_INT(first, >=, 0);
    MM_CHECK_INT(first, <=, (first_done - create_sent) / 1000);
    long long wait = create_done + 1100 - mm_test_now_ms();
    mm_test_sleep_ms((int)wait); /* the condition is the clock itself: a second has passed */
    eg_rec later = {0};
    long long sent = mm_test_now_ms();
    MM_REQUIRE(mm_edgegap_session_get(eg, id, MM_EDGEGAP_URGENT, eg_record, &later) == MM_OK);
    MM_REQUIRE(eg_drive(eg, &later.calls, 1, 5000));
    long long done = mm_test_now_ms();
    MM_CHECK_INT(later.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK_INT(later.elapsed, >=, 1);
    MM_CHECK_INT(later.elapsed, >=, (sent - create_done) / 1000);
    MM_CHECK_INT(later.elapsed, <=, (done - create_sent) / 1000);
    MM_CHECK_INT(later.elapsed, >=, first);
}

static void
test_session_lifecycle(mm_edgegap *eg)
{
    const char *ips[] = {"81.128.157.100", "2001:db8::7"};
    eg_rec created = {0};
    bool saw_deploying = false;
    long long create_sent = mm_test_now_ms();
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", ips, 2, "http://127.0.0.1:9/hook", eg_record, &created), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &created.calls, 1, 10000));
    long long create_done = mm_test_now_ms();
    MM_CHECK_INT(created.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK_INT(created.status, ==, 200);
    MM_CHECK_INT(strlen(created.session_id), ==, 14);
    MM_CHECK(strcmp(created.session_id + 12, "-S") == 0);
    MM_CHECK_STR(created.subject, EG_APP);
    /* The body we built reached the simulator field by field. */
    json_t *j = json_loads(created.json_text, 0, NULL);
    MM_CHECK_STR(json_string_value(json_object_get(j, "webhook_url")), "http://127.0.0.1:9/hook");
    MM_CHECK_STR(json_string_value(json_object_get(j, "version")), "1");
    json_decref(j);
    MM_REQUIRE(created.outcome == MM_EDGEGAP_OK);
    char id[sizeof(created.session_id)];
    snprintf(id, sizeof(id), "%s", created.session_id);

    eg_rec ready = poll_until_ready(eg, id, NULL, &saw_deploying);
    long long ready_done = mm_test_now_ms();
    MM_CHECK(saw_deploying);
    MM_CHECK_INT(ready.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK(ready.ready);
    MM_CHECK(ready.linked);
    MM_CHECK(!ready.has_error);
    MM_CHECK_STR(ready.error, "");
    MM_CHECK_STR(ready.session_id, id);
    MM_CHECK_STR(ready.subject, id);
    MM_CHECK_STR(ready.session_status, "Status.READY");
    MM_CHECK(ready.has_deployment);
    MM_CHECK(strncmp(ready.public_ip, "127.1.", 6) == 0);
    check_elapsed(eg, id, ready.elapsed, create_sent, create_done, ready_done);
    MM_CHECK_INT(ready.n_ports, ==, 1);
    MM_CHECK_STR(ready.port_names[0], "server");
    MM_CHECK_INT(ready.port_internal[0], ==, 6420);
    MM_CHECK_INT(ready.port_external[0], >=, 30000);
    MM_CHECK_INT(ready.port_err, ==, MM_OK); /* the only port, no name configured */
    MM_CHECK_INT(ready.port, ==, ready.port_external[0]);
    /* ip_list arrived as two addresses */
    j = json_loads(ready.json_text, 0, NULL);
    json_t *session_ips = json_object_get(j, "session_ips");
    MM_CHECK_INT(json_array_size(session_ips), ==, 2);
    MM_CHECK_STR(json_string_value(json_object_get(json_array_get(session_ips, 1), "ip")), "2001:db8::7");
    json_decref(j);

    /* The named port, and a name that does not exist. */
    eg_rec named = poll_until_ready(eg, id, "server", &saw_deploying);
    MM_CHECK_INT(named.port_err, ==, MM_OK);
    MM_CHECK_INT(named.port, ==, ready.port);
    eg_rec missing = poll_until_ready(eg, id, "voice", &saw_deploying);
    MM_CHECK_INT(missing.port_err, ==, MM_ERR_NOTFOUND);
    MM_CHECK(eg_contains(missing.port_why, "voice") && eg_contains(missing.port_why, "server"));

    eg_rec del = {0}, del_again = {0}, gone = {0}, unknown = {0};
    int done = 0;
    del.counter = &done;
    MM_CHECK_INT(mm_edgegap_session_delete(eg, id, eg_record, &del), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &done, 1, 10000));
    MM_CHECK_INT(del.outcome, ==, MM_EDGEGAP_OK);
    MM_CHECK_INT(del.status, ==, 200);
    MM_CHECK_STR(del.session_id, id);
    MM_CHECK(del.message[0] != '\0'); /* Edgegap's "message" on success */

    del_again.counter = gone.counter = unknown.counter = &done;
    MM_CHECK_INT(mm_edgegap_session_delete(eg, id, eg_record, &del_again), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_get(eg, id, MM_EDGEGAP_URGENT, eg_record, &gone), ==, MM_OK);
    MM_CHECK_INT(mm_edgegap_session_get(eg, "000000000000-S", MM_EDGEGAP_URGENT, eg_record, &unknown), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &done, 4, 10000));
    MM_CHECK_INT(del_again.outcome, ==, MM_EDGEGAP_HTTP_ERROR);
    MM_CHECK_INT(del_again.status, ==, 410);
    char path[192];
    snprintf(path, sizeof(path), "/v1/session/%s", id);
    MM_CHECK_STR(del_again.message, eg_sim_message(&sim, "DELETE", path, EG_KEY));
    MM_CHECK(!del_again.retryable);
    MM_CHECK_INT(gone.status, ==, 404);
    MM_CHECK_INT(unknown.status, ==, 404);
    MM_CHECK(unknown.message[0] != '\0');

    /* version NULL: the simulator picks the app's active version. */
    eg_rec any_version = {0};
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, NULL, ips, 1, NULL, eg_record, &any_version), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &any_version.calls, 1, 10000));
    MM_CHECK_INT(any_version.outcome, ==, MM_EDGEGAP_OK);
    j = json_loads(any_version.json_text, 0, NULL);
    MM_CHECK_STR(json_string_value(json_object_get(j, "version")), "1");
    MM_CHECK(json_is_null(json_object_get(j, "webhook_url")));
    json_decref(j);
}

static void
test_wrong_key(void)
{
    mm_edgegap *eg = eg_client(sim.base, "token wrong", 0, 0, 0);
    eg_rec rec = {0};
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, eg_record, &rec), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &rec.calls, 1, 10000));
    MM_CHECK_INT(rec.outcome, ==, MM_EDGEGAP_HTTP_ERROR);
    MM_CHECK_INT(rec.status, ==, 401);
    MM_CHECK_STR(rec.message, eg_sim_message(&sim, "GET", "/v1/app/" EG_APP, "token wrong"));
    MM_CHECK(rec.message[0] != '\0');
    MM_CHECK(!rec.retryable);
    mm_edgegap_destroy(eg);
}

static void
test_refused_arguments(mm_edgegap *eg)
{
    const char *bad_segments[] = {"a/b", "a?b", "a#b", "a%2f", "..", ".", "", "a b", "caf\xc3\xa9", "a\nb", NULL};
    char long_name[MM_EDGEGAP_MAX_SEGMENT + 2];
    eg_rec rec = {0};
    long long app_requests = eg_sim_stat(&sim, "requests.app"), session_requests = eg_sim_stat(&sim, "requests.session_get");
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    mm_edgegap_stats before, after;
    mm_edgegap_get_stats(eg, &before);

    size_t n_bad = sizeof(bad_segments) / sizeof(bad_segments[0]);
    for (size_t i = 0; i < n_bad; i++) {
        const char *s = bad_segments[i];
        MM_CHECK_INT(mm_edgegap_app_get(eg, s, eg_record, &rec), ==, MM_ERR_INVALID);
        MM_CHECK(eg_contains(mm_edgegap_last_error(eg), s == NULL ? "required" : "[A-Za-z0-9_.-]"));
        MM_CHECK_INT(mm_edgegap_version_get(eg, EG_APP, s, eg_record, &rec), ==, MM_ERR_INVALID);
        MM_CHECK_INT(mm_edgegap_session_get(eg, s, MM_EDGEGAP_URGENT, eg_record, &rec), ==, MM_ERR_INVALID);
        MM_CHECK_INT(mm_edgegap_session_delete(eg, s, eg_record, &rec), ==, MM_ERR_INVALID);
        MM_CHECK_INT(mm_edgegap_session_create(eg, s, NULL, NULL, 0, NULL, eg_record, &rec), ==, MM_ERR_INVALID);
    }
    MM_CHECK_INT(mm_edgegap_app_get(eg, long_name, eg_record, &rec), ==, MM_ERR_INVALID);
    long_name[MM_EDGEGAP_MAX_SEGMENT] = '\0'; /* exactly the limit is fine (and unknown: 404) */
    eg_rec longest = {0};
    MM_CHECK_INT(mm_edgegap_app_get(eg, long_name, eg_record, &longest), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &longest.calls, 1, 10000));
    MM_CHECK_INT(longest.status, ==, 404);
    app_requests++;
    MM_CHECK_INT(mm_edgegap_app_get(eg, EG_APP, NULL, NULL), ==, MM_ERR_INVALID);
    MM_CHECK(eg_contains(mm_edgegap_last_error(eg), "callback"));
    MM_CHECK_INT(mm_edgegap_app_get(NULL, EG_APP, eg_record, &rec), ==, MM_ERR_INVALID);

    const char *not_ip[] = {"81.128.157.100", "81.128.157.300"};
    const char *ips65[MM_EDGEGAP_MAX_IPS + 1];
    for (int i = 0; i <= MM_EDGEGAP_MAX_IPS; i++)
        ips65[i] = "10.0.0.1";
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", not_ip, 2, NULL, eg_record, &rec), ==, MM_ERR_INVALID);
    MM_CHECK(eg_contains(mm_edgegap_last_error(eg), "ip_list[1]"));
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", ips65, MM_EDGEGAP_MAX_IPS + 1, NULL, eg_record, &rec), ==,
                 MM_ERR_INVALID);
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", NULL, 1, NULL, eg_record, &rec), ==, MM_ERR_INVALID);
    const char *bad_hooks[] = {"ftp://h/x", "http://", "http://h/a b", "javascript:alert(1)"};
    for (size_t i = 0; i < sizeof(bad_hooks) / sizeof(bad_hooks[0]); i++)
        MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", not_ip, 1, bad_hooks[i], eg_record, &rec), ==, MM_ERR_INVALID);

    mm_edgegap_get_stats(eg, &after);
    MM_CHECK_U64(after.refused_invalid - before.refused_invalid, ==, n_bad * 5 + 1 + 1 + 3 + 4);
    MM_CHECK_INT(mm_edgegap_in_flight(eg) + mm_edgegap_queued(eg), ==, 0);
    int none = 0;
    eg_drive(eg, &none, 1, 100); /* nothing may arrive */
    MM_CHECK_INT(rec.calls, ==, 0);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.app"), ==, app_requests);
    MM_CHECK_INT(eg_sim_stat(&sim, "requests.session_get"), ==, session_requests);
}

static void
test_stats(mm_edgegap *eg)
{
    mm_edgegap_stats st;
    mm_edgegap_get_stats(eg, &st);
    MM_CHECK_U64(st.accepted[MM_EDGEGAP_APP_GET], ==, 3);
    MM_CHECK_U64(st.outcomes[MM_EDGEGAP_APP_GET][MM_EDGEGAP_OK], ==, 1);
    MM_CHECK_U64(st.outcomes[MM_EDGEGAP_APP_GET][MM_EDGEGAP_HTTP_ERROR], ==, 2);
    MM_CHECK_U64(st.status_class[MM_EDGEGAP_APP_GET][2], ==, 1);
    MM_CHECK_U64(st.status_class[MM_EDGEGAP_APP_GET][4], ==, 2);
    MM_CHECK_U64(st.accepted[MM_EDGEGAP_SESSION_CREATE], ==, 2);
    MM_CHECK_U64(st.outcomes[MM_EDGEGAP_SESSION_DELETE][MM_EDGEGAP_OK], ==, 1);
    MM_CHECK_U64(st.status_class[MM_EDGEGAP_SESSION_DELETE][4], ==, 1);
    MM_CHECK_U64(st.connections_opened, >=, 1);
    MM_CHECK_INT(st.in_flight, ==, 0);
    MM_CHECK_INT(st.queued, ==, 0);
}

int
main(void)
{
    const char *extra[] = {"--deploy-delay-ms", "300", NULL};
    test_config();
    MM_REQUIRE(eg_sim_start(&sim, extra) == 0);
    char base[80];
    snprintf(base, sizeof(base), "%s//", sim.base); /* trailing slashes are stripped */
    mm_edgegap *eg = eg_client(base, EG_KEY, 4, 0, 5000);
    test_app_and_version(eg);
    test_session_lifecycle(eg);
    test_wrong_key();
    test_refused_arguments(eg);
    test_stats(eg);
    mm_edgegap_destroy(eg);
    eg_sim_http_cleanup();
    MM_CHECK_INT(eg_sim_stop(&sim), ==, 0);
    return MM_TEST_DONE();
}
