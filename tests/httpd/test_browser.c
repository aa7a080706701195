/*
 * The seed's browser test, for real: the run command's stack (deploy/run-local.sh: nats-server
 * with the reference's users, edgegap_sim, gameserver_sim, bevygap_matchmaker with the seed's
 * flags, bevygap_matchmaker_httpd --cors http://127.0.0.1) and headless Chromium driven by
 * playwright-core (tests/browser/):
 *   1. the JavaScript snippet of seed/matchmaker_services.md (tests/browser/seed_snippet.js,
 *      verbatim) pasted into our page logs "Connected to WebSocket", "Acknowledged",
 *      SessionRequestAccepted, ProgressReports, SessionReady, then "WebSocket connection closed";
 *      `mm_token inspect` accepts the token (seed key, protocol 80085) for exactly that ip:port;
 *   2. our page's Play button shows the same flow and ends in the "done" state with the ip, port,
 *      cert digest and token length on screen;
 *   3. SIGTERM to the run command stops everything it started: no port is left listening.
 * The web front listens on 3000 as in the seed when that port is free; otherwise on a free port,
 * and only that number in the snippet's URL is changed.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm_test.h"

#define SEED_KEY "1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1"

static bool
port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static bool
listening(int port)
{
    return mm_test_wait_port(port, 1) == 0;
}

/* Finds the SessionReady text among the snippet's console lines and checks its token. */
static void
check_ready_line(const char *out)
{
    const char *marker = "Received message: {\\\"SessionReady\\\"";
    const char *p = strstr(out, marker);
    MM_REQUIRE(p != NULL);
    /* the console line is JSON-escaped inside {"text": "..."}: unescape \" and \\ up to the line end */
    char json[8192];
    size_t n = 0;
    for (p += strlen("Received message: "); *p && *p != '\n' && n + 1 < sizeof(json); p++) {
        if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\'))
            p++;
        json[n++] = *p;
    }
    json[n] = '\0';
    char *quote = strrchr(json, '"'); /* drop the console line's closing "} */
    MM_REQUIRE(quote != NULL);
    *quote = '\0';
    mm_feedback fb;
    char why[160] = "";
    mm_err err = mm_feedback_decode(json, strlen(json), &fb, why, sizeof(why));
    MM_CHECK_STR(why, "");
    MM_REQUIRE(err == MM_OK);
    MM_REQUIRE(fb.kind == MM_FEEDBACK_READY);
    char exe[512], inspected[4096], expect[96];
    snprintf(exe, sizeof(exe), "%s/mm_token", mm_test_build_dir());
    setenv("MM_TEST_SEED_KEY", SEED_KEY, 1);
    char *argv[] = {exe, "inspect", "--key-env", "MM_TEST_SEED_KEY", "--protocol-id", "80085", "-", NULL};
    MM_CHECK_INT(mm_test_run(argv, fb.token, inspected, sizeof(inspected)), ==, 0);
    snprintf(expect, sizeof(expect), "\"addresses\": [\"%s:%u\"]", fb.ip, fb.port);
    fprintf(stderr, "mm_token inspect: %s", inspected);
    MM_CHECK(strstr(inspected, expect) != NULL);
    mm_feedback_clear(&fb);
}

static void
check_in_order(const char *out, const char *const *needles)
{
    const char *at = out;
    for (int i = 0; needles[i] != NULL; i++) {
        const char *p = strstr(at, needles[i]);
        if (p == NULL)
            fprintf(stderr, "not found (in order): %s\n", needles[i]);
        MM_CHECK(p != NULL);
        if (p != NULL)
            at = p + strlen(needles[i]);
    }
}

int
main(void)
{
    char browser_dir[600], modules[700];
    snprintf(browser_dir, sizeof(browser_dir), "%s/tests/browser", MM_SOURCE_DIR);
    snprintf(modules, sizeof(modules), "%s/node_modules/playwright-core/package.json", browser_dir);
    if (access(modules, R_OK) != 0) {
        fprintf(stderr, "playwright-core is not installed: run `npm ci --prefix tests/browser` (tests/run_all.sh does)\n");
        MM_REQUIRE(!"playwright-core missing");
    }
    char run_dir[] = "/tmp/mm_browser_XXXXXX";
    MM_REQUIRE(mkdtemp(run_dir) != NULL);
    int nats_port = mm_test_free_port(), eg_port = mm_test_free_port(), admin_port = mm_test_free_port();
    int http_port = port_free(3000) ? 3000 : mm_test_free_port();
    char env_port[16], env_nats[16], env_eg[16], env_admin[16], out_log[600], script[600];
    snprintf(env_port, sizeof(env_port), "%d", http_port);
    snprintf(env_nats, sizeof(env_nats), "%d", nats_port);
    snprintf(env_eg, sizeof(env_eg), "%d", eg_port);
    setenv("MM_HTTP_PORT", env_port, 1);
    setenv("MM_NATS_PORT", env_nats, 1);
    setenv("MM_EDGEGAP_PORT", env_eg, 1);
    snprintf(env_admin, sizeof(env_admin), "%d", admin_port);
    setenv("MM_ADMIN_PORT", env_admin, 1);
    snprintf(env_admin, sizeof(env_admin), "%d", mm_test_free_port());
    setenv("MM_MATCHMAKER_ADMIN_PORT", env_admin, 1); /* the matchmaker's own admin listener */
    setenv("MM_RUN_DIR", run_dir, 1);
    setenv("MM_SKIP_BUILD", "1", 1);
    setenv("MM_BUILD_DIR", mm_test_build_dir(), 1);
    snprintf(out_log, sizeof(out_log), "%s/run-local.out", run_dir);
    snprintf(script, sizeof(script), "%s/deploy/run-local.sh", MM_SOURCE_DIR);
    char *run_argv[] = {"/bin/bash", script, NULL};
    pid_t stack = mm_test_spawn(run_argv, out_log);
    MM_REQUIRE(stack > 0);
    uint64_t until = mm_now_ms() + 60000;
    while (!mm_test_file_contains(out_log, "the local stack is up") && mm_now_ms() < until) {
        mm_test_sleep_ms(100);
    }
    if (!mm_test_file_contains(out_log, "the local stack is up")) {
        mm_test_dump_file(out_log);
        mm_test_stop(stack, 10000);
        MM_REQUIRE(!"the run command's stack did not come up");
    }
    fprintf(stderr, "stack up; web front on port %d\n", http_port);

    char page[64], snippet[700], runner[700], clicker[700], timeout[] = "45000";
    snprintf(page, sizeof(page), "http://localhost:%d/", http_port);
    snprintf(snippet, sizeof(snippet), "%s/seed_snippet.js", browser_dir);
    snprintf(runner, sizeof(runner), "%s/run_snippet.mjs", browser_dir);
    snprintf(clicker, sizeof(clicker), "%s/click_play.mjs", browser_dir);
    static char out[1 << 16];
    char *snippet_argv[] = {"/usr/bin/env", "node", runner, page, snippet, env_port, timeout, NULL};
    int rc = mm_test_run(snippet_argv, NULL, out, sizeof(out));
    fprintf(stderr, "seed snippet (exit %d):\n%.3000s\n", rc, out);
    MM_CHECK_INT(rc, ==, 0);
    const char *order[] = {"Connected to WebSocket",
                           "Received message: \\\"Acknowledged\\\"",
                           "Received message: {\\\"SessionRequestAccepted\\\":",
                           "Received message: {\\\"ProgressReport\\\":",
                           "Received message: {\\\"SessionReady\\\":",
                           "WebSocket connection closed",
                           "{\"done\":true}",
                           NULL};
    check_in_order(out, order);
    check_ready_line(out);

    char *click_argv[] = {"/usr/bin/env", "node", clicker, page, timeout, NULL};
    rc = mm_test_run(click_argv, NULL, out, sizeof(out));
    fprintf(stderr, "Play button (exit %d): %s\n", rc, out);
    MM_CHECK_INT(rc, ==, 0);
    const char *shown[] = {"\"state\":\"done\"", "Acknowledged", "Accepted", "SessionReady", "cert_digest", "token length", NULL};
    check_in_order(out, shown);

    MM_CHECK_INT(mm_test_stop(stack, 20000), ==, 0);
    MM_CHECK(!listening(http_port));
    MM_CHECK(!listening(nats_port));
    MM_CHECK(!listening(eg_port));
    if (mm_test_failed > 0)
        mm_test_dump_file(out_log);
    char rm[700];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", run_dir);
    MM_CHECK(system(rm) == 0);
    return MM_TEST_DONE();
}
