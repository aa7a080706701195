/*
 * bevygap_matchmaker's start-up refusals: a missing NATS_HOST (exit 2, names it), a bad private
 * key (exit 2, the key's text never printed), an unknown Edgegap app (exit 1, one clear line),
 * and --help (exit 0, lists our flags). The key from --lightyear-private-key-file or
 * LIGHTYEAR_PRIVATE_KEY (its source logged, its text never), both flag and file refused, a
 * missing or bad file refused; --kv-replicas / --kv-storage out of range refused. Credentials
 * in --edgegap-url and NATS_HOST are masked in what it logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

    MM_CHECK_INT(run("--lightyear-protocol-id 12x", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--lightyear-protocol-id") != NULL);
    MM_CHECK_INT(run("--lightyear-protocol-id 18446744073709551616", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--lightyear-protocol-id") != NULL);

    /* credentials in a URL never reach the log: an unreachable Edgegap is logged with its URL
     * (after the NATS_HOST check, before the NATS connection), and so is a bad NATS_HOST entry */
    MM_CHECK_INT(run("--edgegap-url 'http://euser:edgesecret@127.0.0.1:1/' --app-name a --app-version v1", out, sizeof(out)), ==,
                 1);
    MM_CHECK(strstr(out, "no answer from http://***@127.0.0.1:1/") != NULL);
    MM_CHECK(strstr(out, "edgesecret") == NULL);
    MM_CHECK(strstr(out, "euser") == NULL);
    setenv("NATS_HOST", "nuser:natssecret@127.0.0.1:4222", 1);
    MM_CHECK_INT(run("", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "'***@127.0.0.1:4222' has no valid host") != NULL);
    MM_CHECK(strstr(out, "natssecret") == NULL);
    setenv("NATS_HOST", "127.0.0.1:1", 1);

    MM_CHECK_INT(run("--kv-replicas 7", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--kv-replicas") != NULL);
    MM_CHECK_INT(run("--kv-storage disk", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--kv-storage") != NULL);

    harness h = {0};
    h_start_sim(&h, "300", NULL);
    char args[1024];
    snprintf(args, sizeof(args), "--edgegap-url %s --app-name nosuchapp --app-version v1", h.sim_url);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 1);
    MM_CHECK(strstr(out, "Edgegap app 'nosuchapp' not found") != NULL);
    MM_CHECK(strstr(out, "using the all-zero key") != NULL);
    fprintf(stderr, "unknown app output: %s", out);

    /* the key from a file (white space around it ignored), reaching the app check */
    char dir[] = "/tmp/mm_cli_XXXXXX", good[128], badf[128];
    MM_REQUIRE(mkdtemp(dir) != NULL);
    snprintf(good, sizeof(good), "%s/good.key", dir);
    snprintf(badf, sizeof(badf), "%s/bad.key", dir);
    FILE *fp = fopen(good, "w");
    MM_REQUIRE(fp != NULL);
    fputs("  [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]\n", fp);
    fclose(fp);
    fp = fopen(badf, "w");
    MM_REQUIRE(fp != NULL);
    fputs("supersecret-keytext\n", fp);
    fclose(fp);
    snprintf(args, sizeof(args), "--edgegap-url %s --app-name nosuchapp --lightyear-private-key-file %s", h.sim_url, good);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 1);
    MM_CHECK(strstr(out, "Lightyear private key from --lightyear-private-key-file") != NULL);
    snprintf(args, sizeof(args), "--lightyear-private-key-file %s", badf);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--lightyear-private-key-file") != NULL);
    MM_CHECK(strstr(out, "supersecret") == NULL);
    snprintf(args, sizeof(args), "--lightyear-private-key-file %s/none.key", dir);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "none.key") != NULL);
    snprintf(args, sizeof(args), "--lightyear-private-key-file %s --lightyear-private-key '%s'", good,
             "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "not both") != NULL);

    /* the key from the environment, as the game server reads it */
    setenv("LIGHTYEAR_PRIVATE_KEY", "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1", 1);
    snprintf(args, sizeof(args), "--edgegap-url %s --app-name nosuchapp", h.sim_url);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 1);
    MM_CHECK(strstr(out, "Lightyear private key from LIGHTYEAR_PRIVATE_KEY") != NULL);
    setenv("LIGHTYEAR_PRIVATE_KEY", "supersecret-keytext", 1);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "LIGHTYEAR_PRIVATE_KEY") != NULL);
    MM_CHECK(strstr(out, "supersecret") == NULL);
    unsetenv("LIGHTYEAR_PRIVATE_KEY");
    unlink(good);
    unlink(badf);
    rmdir(dir);
    mm_test_stop(h.sim, 5000);
    return MM_TEST_DONE();
}
