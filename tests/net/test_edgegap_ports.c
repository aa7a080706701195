/*
 * Which port a player gets (docs/protocol.md section 5) against a simulator whose version has two port
 * mappings and answers in the newer short status style ("Ready"): without a configured name
 * the lookup refuses and names both ports; each name gives its own external port.
 */
#include <stdio.h>
#include <string.h>

#include "mm_test.h"
#include "edgegap_test_util.h"

static eg_sim sim;

static eg_rec
session_get(mm_edgegap *eg, const char *id, const char *port_name)
{
    eg_rec rec = {0};
    rec.port_name = port_name;
    MM_REQUIRE(mm_edgegap_session_get(eg, id, MM_EDGEGAP_URGENT, eg_record, &rec) == MM_OK);
    MM_REQUIRE(eg_drive(eg, &rec.calls, 1, 10000));
    return rec;
}

int
main(void)
{
    const char *extra[] = {"--port-mapping",
                           "game:7000/UDP",
                           "--port-mapping",
                           "web:7001/WSS",
                           "--status-style",
                           "short",
                           "--deploy-delay-ms",
                           "100",
                           NULL};
    MM_REQUIRE(eg_sim_start(&sim, extra) == 0);
    mm_edgegap *eg = eg_client(sim.base, EG_KEY, 0, 0, 5000);

    eg_rec version = {0};
    MM_CHECK_INT(mm_edgegap_version_get(eg, EG_APP, "1", eg_record, &version), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &version.calls, 1, 10000));
    MM_CHECK_INT(version.n_ports, ==, 2);
    MM_CHECK_STR(version.port_names[0], "game");
    MM_CHECK_INT(version.port_internal[0], ==, 7000);
    MM_CHECK_STR(version.port_protocols[0], "UDP");
    MM_CHECK_STR(version.port_names[1], "web");
    MM_CHECK_INT(version.port_internal[1], ==, 7001);
    MM_CHECK_STR(version.port_protocols[1], "WSS");
    MM_CHECK_INT(version.port_err, ==, MM_ERR_INVALID); /* not a session result */

    eg_rec created = {0};
    const char *ip[] = {"81.128.157.100"};
    MM_CHECK_INT(mm_edgegap_session_create(eg, EG_APP, "1", ip, 1, NULL, eg_record, &created), ==, MM_OK);
    MM_REQUIRE(eg_drive(eg, &created.calls, 1, 10000));
    MM_REQUIRE(created.outcome == MM_EDGEGAP_OK);

    eg_rec any = {0};
    long long deadline = mm_test_now_ms() + 10000;
    do {
        any = session_get(eg, created.session_id, NULL);
        if (!any.ready)
            mm_test_sleep_ms(30);
    } while (!any.ready && any.outcome == MM_EDGEGAP_OK && mm_test_now_ms() < deadline);
    MM_CHECK(any.ready);
    MM_CHECK_STR(any.session_status, "Ready");
    MM_CHECK_INT(any.n_ports, ==, 2);
    MM_CHECK_INT(any.port_err, ==, MM_ERR_INVALID);
    fprintf(stderr, "no name -> %s\n", any.port_why);
    MM_CHECK(eg_contains(any.port_why, "2 ports") && eg_contains(any.port_why, "game") && eg_contains(any.port_why, "web"));

    eg_rec game = session_get(eg, created.session_id, "game");
    eg_rec web = session_get(eg, created.session_id, "web");
    eg_rec none = session_get(eg, created.session_id, "server");
    MM_CHECK_INT(game.port_err, ==, MM_OK);
    MM_CHECK_INT(web.port_err, ==, MM_OK);
    MM_CHECK_INT(game.port, >=, 30000);
    MM_CHECK_INT(web.port, >=, 30000);
    MM_CHECK_INT(game.port, !=, web.port);
    for (size_t i = 0; i < game.n_ports; i++)
        if (strcmp(game.port_names[i], "game") == 0)
            MM_CHECK_INT(game.port_external[i], ==, game.port);
    MM_CHECK_INT(none.port_err, ==, MM_ERR_NOTFOUND);
    MM_CHECK(eg_contains(none.port_why, "server") && eg_contains(none.port_why, "game, web"));

    mm_edgegap_destroy(eg);
    eg_sim_http_cleanup();
    MM_CHECK_INT(eg_sim_stop(&sim), ==, 0);
    return MM_TEST_DONE();
}
