/*
 * edgegap_sim, command line: --help documents every flag with its default, bad flags and bad
 * apps files exit with status 2 and a message, --listen with port 0 prints the real address,
 * the API key can come from EDGEGAP_API_KEY, and SIGTERM and SIGINT end it with status 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm_test.h"
#include "edgegap_sim_test_util.h"

static char exe[512];

static int
run(const char *const *args, char *out, size_t out_len)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = exe;
    for (int i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return mm_test_run((char *const *)argv, NULL, out, out_len);
}

static void
test_help(void)
{
    static char out[16384];
    const char *args[] = {"--help", NULL};
    MM_CHECK_INT(run(args, out, sizeof(out)), ==, 0);
    static const char *const flags[] = {
        "--listen",
        "--api-key",
        "--max-body",
        "--status-style",
        "--log-level",
        "--log-json",
        "--config",
        "--app",
        "--app-version",
        "--sockets",
        "--port-mapping",
        "--no-autodeploy",
        "--inactive-app",
        "--inactive-version",
        "--deploy-delay-ms",
        "--seek-delay-ms",
        "--empty-ttl-ms",
        "--terminated-ttl-ms",
        "--terminated-max",
        "--max-sessions",
        "--ip-range",
        "--port-base",
        "--fault",
        "--seed",
        "--webhook-timeout-ms",
        "--webhook-queue",
        "--rate-limit",
        "--latency-ms",
        "--deploy-ms",
        "--capacity",
        "--preset",
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "\n  %s ", flags[i]);
        const char *at = strstr(out, needle);
        if (at == NULL) /* a flag without a value ends its name with spaces too */
            fprintf(stderr, "--help does not list %s\n", flags[i]);
        MM_CHECK(at != NULL);
        if (at == NULL)
            continue;
        const char *next = strstr(at + 1, "\n  --");
        size_t span = next != NULL ? (size_t)(next - at) : strlen(at);
        char entry[1024];
        snprintf(entry, sizeof(entry), "%.*s", (int)(span < sizeof(entry) ? span : sizeof(entry) - 1), at);
        if (strstr(entry, "default") == NULL)
            fprintf(stderr, "--help gives no default for %s\n", flags[i]);
        MM_CHECK(strstr(entry, "default") != NULL);
    }
}

static void
test_bad_flags(const char *dir)
{
    char bad_json[300], bad_kind[300], bad_key[300], missing[300];
    snprintf(bad_json, sizeof(bad_json), "%s/bad.json", dir);
    snprintf(bad_kind, sizeof(bad_kind), "%s/kind.json", dir);
    snprintf(bad_key, sizeof(bad_key), "%s/key.json", dir);
    snprintf(missing, sizeof(missing), "%s/missing.json", dir);
    FILE *f = fopen(bad_json, "w");
    fputs("{\"apps\": [", f);
    fclose(f);
    f = fopen(bad_kind, "w");
    fputs("{\"apps\":[{\"name\":\"a\",\"versions\":[{\"name\":\"1\",\"session_config\":{\"kind\":\"Match\"},"
          "\"ports\":[{\"name\":\"p\",\"port\":1,\"protocol\":\"UDP\"}]}]}]}",
          f);
    fclose(f);
    f = fopen(bad_key, "w");
    fputs("{\"apps\":[{\"name\":\"a\",\"colour\":\"red\",\"versions\":[]}]}", f);
    fclose(f);

    const char *cases[][6] = {
        {"--sockets", "0", NULL},
        {"--sockets", "10001", NULL},
        {"--sockets", "six", NULL},
        {"--deploy-delay-ms", "-1", NULL},
        {"--deploy-delay-ms", "3600001", NULL},
        {"--port-base", "80", NULL},
        {"--ip-range", "10.0.0.1/8", NULL},
        {"--ip-range", "10.0.0.0/33", NULL},
        {"--ip-range", "2001:db8::/64", NULL},
        {"--status-style", "fancy", NULL},
        {"--fault", "nowhere:latency_ms=1", NULL},
        {"--fault", "app:error_status=418", NULL},
        {"--fault", "app:error_rate=2", NULL},
        {"--fault", "app", NULL},
        {"--port-mapping", "server:0/UDP", NULL},
        {"--port-mapping", "server:6420/SCTP", NULL},
        {"--listen", "nowhere", NULL},
        {"--listen", "127.0.0.1:70000", NULL},
        {"--log-level", "loud", NULL},
        {"--max-body", "10", NULL},
        {"--bogus", NULL},
        {"stray-argument", NULL},
        {"--config", missing, NULL},
        {"--config", bad_json, NULL},
        {"--config", bad_kind, NULL},
        {"--config", bad_key, NULL},
        {"--config", bad_kind, "--app", "x", NULL},
        {"--sockets", NULL},
        {"--rate-limit", "create=0/1", NULL},
        {"--rate-limit", "create=40/0", NULL},
        {"--rate-limit", "create=40/1000001", NULL},
        {"--rate-limit", "post=1/1", NULL},
        {"--rate-limit", "create", NULL},
        {"--latency-ms", "0,10", NULL},
        {"--latency-ms", "50,10", NULL},
        {"--latency-ms", "10,60001", NULL},
        {"--latency-ms", "10", NULL},
        {"--deploy-ms", "a,b", NULL},
        {"--deploy-ms", "3000,3600001", NULL},
        {"--deploy-ms", "100,200", "--deploy-delay-ms", "5", NULL},
        {"--deploy-delay-ms", "5", "--deploy-ms", "100,200", NULL},
        {"--capacity", "-1", NULL},
        {"--capacity", "1000001", NULL},
        {"--preset", "fast", NULL},
        {"--api-key", SIM_KEY, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[10];
        int n = 0;
        args[n++] = "--api-key";
        args[n++] = SIM_KEY;
        for (int k = 0; cases[i][k] != NULL; k++)
            args[n++] = cases[i][k];
        args[n] = NULL;
        int rc = run(args, NULL, 0);
        if (rc != 2)
            fprintf(stderr, "edgegap_sim %s %s: exit %d\n", cases[i][0], cases[i][1] ? cases[i][1] : "", rc);
        MM_CHECK_INT(rc, ==, 2);
    }
    /* no key at all */
    unsetenv("EDGEGAP_API_KEY");
    const char *no_key[] = {"--listen", "127.0.0.1:0", NULL};
    MM_CHECK_INT(run(no_key, NULL, 0), ==, 2);
    unlink(bad_json);
    unlink(bad_kind);
    unlink(bad_key);
}

/* Port 0, the address in the log, the key from the environment, then a signal ends it cleanly. */
static void
test_port_zero_and_signal(const char *dir, int sig)
{
    char log_path[300];
    snprintf(log_path, sizeof(log_path), "%s/sim-%d.log", dir, sig);
    setenv("EDGEGAP_API_KEY", "token from-the-env", 1);
    /* at --log-level warn the log is silent; the address still goes to stdout */
    char *argv[] = {exe, "--listen", "127.0.0.1:0", "--log-level", "warn", NULL};
    pid_t pid = mm_test_spawn(argv, log_path);
    MM_REQUIRE(pid > 0);
    int port = 0;
    long long deadline = mm_test_now_ms() + 10000;
    while (port == 0 && mm_test_now_ms() < deadline) {
        char text[4096] = "";
        FILE *f = fopen(log_path, "r");
        if (f != NULL) {
            size_t n = fread(text, 1, sizeof(text) - 1, f);
            text[n] = '\0';
            fclose(f);
        }
        const char *at = strstr(text, "edgegap_sim listening on 127.0.0.1:");
        if (at != NULL)
            port = atoi(at + strlen("edgegap_sim listening on 127.0.0.1:"));
        else
            mm_test_sleep_ms(20);
    }
    MM_REQUIRE(port > 0);
    MM_CHECK_INT(mm_test_wait_port(port, 5000), ==, 0);
    char url[128];
    http_reply r;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/app/bevygap-spaceships", port);
    http_call("GET", url, "token from-the-env", NULL, 0, true, &r);
    MM_CHECK_INT(r.status, ==, 200);
    http_reply_free(&r);
    unsetenv("EDGEGAP_API_KEY");
    if (sig == SIGINT)
        kill(pid, SIGINT); /* mm_test_stop then only reaps (its SIGTERM finds it exiting or gone) */
    MM_CHECK_INT(mm_test_stop(pid, 5000), ==, 0);
    unlink(log_path);
}

int
main(void)
{
    char dir[256];
    snprintf(exe, sizeof(exe), "%s/edgegap_sim", mm_test_build_dir());
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    test_help();
    test_bad_flags(dir);
    test_port_zero_and_signal(dir, SIGTERM);
    test_port_zero_and_signal(dir, SIGINT);
    rmdir(dir);
    return MM_TEST_DONE();
}
