/*
 * bevygap_matchmaker's start-up refusals: a missing NATS_HOST (exit 2, names it), a bad private
 * key (exit 2, the key's text never printed), an unknown Edgegap app (exit 1, one clear line),
 * and --help (exit 0, lists our flags). The key from --lightyear-private-key-file or
 * LIGHTYEAR_PRIVATE_KEY (its source logged, its text never), both flag and file refused, a
 * missing or bad file refused; --kv-replicas / --kv-storage / --max-line-wait-ms / --edgegap-get-budget /
 * --edgegap-delete-budget out of range refused, the last two also without --edgegap-budget. Credentials
 * in --edgegap-url and NATS_HOST are masked in what it logs. Webhook flags: the secret from
 * MM_WEBHOOK_SECRET or --webhook-secret-file (16..128 of [A-Za-z0-9_-], else exit 2 naming
 * the source, never printing it), --webhook-public-url needs a secret and excludes
 * --session-webhook-url; the base URL is logged, the secret never.
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
    char url_args[160], want[80];
    int closed_port = mm_test_free_port(); /* free a moment ago: nothing listens there (root may bind port 1) */
    snprintf(url_args, sizeof(url_args), "--edgegap-url 'http://euser:edgesecret@127.0.0.1:%d/' --app-name a --app-version v1",
             closed_port);
    snprintf(want, sizeof(want), "no answer from http://***@127.0.0.1:%d/", closed_port);
    MM_CHECK_INT(run(url_args, out, sizeof(out)), ==, 1);
    MM_CHECK(strstr(out, want) != NULL);
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
    MM_CHECK_INT(run("--max-line-wait-ms 999", out, sizeof(out)), ==, 2); /* 1000..3600000 */
    MM_CHECK(strstr(out, "--max-line-wait-ms") != NULL);
    MM_CHECK_INT(run("--max-line-wait-ms 3600001", out, sizeof(out)), ==, 2);
    MM_CHECK_INT(run("--edgegap-budget 10 --edgegap-get-budget 1000001", out, sizeof(out)), ==, 2); /* 0..1000000 */
    MM_CHECK(strstr(out, "--edgegap-get-budget") != NULL);
    MM_CHECK_INT(run("--edgegap-budget 10 --edgegap-delete-budget -1", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--edgegap-delete-budget") != NULL);
    MM_CHECK_INT(run("--edgegap-get-budget 5", out, sizeof(out)), ==, 2); /* needs the create budget */
    MM_CHECK(strstr(out, "--edgegap-get-budget: needs --edgegap-budget") != NULL);
    MM_CHECK_INT(run("--edgegap-delete-budget 5", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--edgegap-delete-budget: needs --edgegap-budget") != NULL);

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

    /* webhooks: secret rules, exclusions, and the secret never printed */
    unsetenv("MM_WEBHOOK_SECRET");
    MM_CHECK_INT(run("--webhook-public-url http://127.0.0.1:3000", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "MM_WEBHOOK_SECRET") != NULL);
    setenv("MM_WEBHOOK_SECRET", "short-Secret9", 1);
    MM_CHECK_INT(run("--webhook-public-url http://127.0.0.1:3000", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "MM_WEBHOOK_SECRET") != NULL);
    MM_CHECK(strstr(out, "short-Secret9") == NULL);
    setenv("MM_WEBHOOK_SECRET", "has a space in it, long enough", 1);
    MM_CHECK_INT(run("--webhook-public-url http://127.0.0.1:3000", out, sizeof(out)), ==, 2);
    setenv("MM_WEBHOOK_SECRET", "Webhook-Secret_0123456789", 1);
    MM_CHECK_INT(run("--webhook-public-url ftp://x", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--webhook-public-url") != NULL);
    MM_CHECK_INT(run("--webhook-public-url http://a/?q=1", out, sizeof(out)), ==, 2);
    MM_CHECK_INT(run("--webhook-public-url http://a --session-webhook-url http://b/hook", out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "not both") != NULL);
    MM_CHECK_INT(run("--webhook-poll-ms 0", out, sizeof(out)), ==, 2);
    char wsecret[128];
    snprintf(wsecret, sizeof(wsecret), "%s/webhook.secret", dir);
    snprintf(args, sizeof(args), "--webhook-secret-file %s", wsecret);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 2); /* a secret file without the public URL */
    MM_CHECK(strstr(out, "needs --webhook-public-url") != NULL);
    fp = fopen(wsecret, "w");
    MM_REQUIRE(fp != NULL);
    fputs("bad secret with spaces and more\n", fp);
    fclose(fp);
    snprintf(args, sizeof(args), "--webhook-public-url http://a --webhook-secret-file %s", wsecret);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 2);
    MM_CHECK(strstr(out, "--webhook-secret-file") != NULL);
    MM_CHECK(strstr(out, "spaces") == NULL);
    fp = fopen(wsecret, "w");
    MM_REQUIRE(fp != NULL);
    fputs("  File-Secret_abcdefghij0123\n", fp);
    fclose(fp);
    /* a good secret from the file (over the variable) gets as far as the app check; the
     * secret is in no line (the base URL is logged later, once NATS is up: test_mm_webhook) */
    snprintf(args, sizeof(args), "--edgegap-url %s --app-name nosuchapp --webhook-public-url http://mm.example/ --webhook-secret-file %s",
             h.sim_url, wsecret);
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 1);
    MM_CHECK(strstr(out, "nosuchapp") != NULL);
    MM_CHECK(strstr(out, "File-Secret") == NULL);
    MM_CHECK(strstr(out, "Webhook-Secret") == NULL);
    unsetenv("MM_WEBHOOK_SECRET");
    unlink(wsecret);
    unlink(good);
    unlink(badf);
    rmdir(dir);
    mm_test_stop(h.sim, 5000);
    return MM_TEST_DONE();
}
