/*
 * bevygap_matchmaker's start-up refusals: a missing NATS_HOST (exit 2, names it), a bad private
 * key (exit 2, the key's text never printed), an unknown Edgegap app (exit 1, one clear line),
 * and --help (exit 0, lists our flags).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_harness.h"

/* Runs the matchmaker with args through sh, capturing stdout and stderr together. */
static int
run(const char *args, char *out, size_t len)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "exec '%s/bevygap_matchmaker' %s 2>&1", mm_test_build_dir(), args);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    return mm_test_run(argv, NULL, out, len);
}

int
main(void)
{
    char out[8192];
    setenv("EDGEGAP_API_KEY", H_API_KEY, 1);
    setenv("NATS_INSECURE", "1", 1);
    unsetenv("NATS_HOST");
    MM_CHECK_INT(run("", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "NATS_HOST") != NULL);

    setenv("NATS_HOST", "127.0.0.1:1", 1);
    MM_CHECK_INT(run("--lightyear-private-key 'supersecret-keytext'", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--lightyear-private-key") != NULL);
    MM_CHECK(strstr(out, "supersecret") == NULL);

    MM_CHECK_INT(run("--help", out, sizeof(out)), ==, 0);
    MM_CHECK(strstr(out, "--session-timeout-ms") != NULL);
    MM_CHECK(strstr(out, "--edgegap-url") != NULL);

    unsetenv("EDGEGAP_API_KEY");
    MM_CHECK_INT(run("", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "EDGEGAP_API_KEY") != NULL);
    setenv("EDGEGAP_API_KEY", H_API_KEY, 1);

    harness h = {0};
    h_start_sim(&h, "300", NULL);
    char args[256];
    snprintf(args, sizeof(args), "--edgegap-url %s --app-name nosuchapp --app-version v1", h.sim_url);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 1);
    MM_CHECK(strstr(out, "Edgegap app 'nosuchapp' not found") != NULL);
    fprintf(stderr, "unknown app output: %s", out);
    mm_test_stop(h.sim, 5000);
    return MM_TEST_DONE();
}
