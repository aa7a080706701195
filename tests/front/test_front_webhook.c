/*
 * The Edgegap webhook route (src/net/front/webhook.c): POST
 * /matchmaker/edgegap-webhook/<secret> with the right secret hands the session id to the backend
 * (204); a wrong secret, no secret configured, or another path under the prefix is the plain 404
 * of any unknown path and hands nothing on; GET on the right path 405; bad bodies 400 (an
 * oversized one h2o's 413); a refusing or absent backend op 503; 1,000 replays are all handed on
 * and leave no state behind; the secret from MM_WEBHOOK_SECRET and from --webhook-secret-file;
 * bad secrets refused at start; the body parser's pure core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "front_harness.h"
#include "front_internal.h"
#include "mm_test.h"
#include "ws_client.h"

#define T 5000
#define SECRET "s3cr3t-Webhook_0123456789"
#define PATH "/matchmaker/edgegap-webhook/" SECRET

static long long
wh(fh *h, const char *outcome)
{
    char s[128];
    snprintf(s, sizeof(s), "mm_front_webhooks_total{outcome=\"%s\"}", outcome);
    return fh_metric(h->port, s);
}

static int
post(fh *h, const char *path, const char *body, mm_http_resp *r)
{
    MM_REQUIRE(mm_http_post(h->port, path, "Content-Type: application/json\r\n", body, r, T) == 0);
    return r->status;
}

static void
check_post(fh *h, const char *path, const char *body, int want)
{
    mm_http_resp r;
    MM_CHECK_INT(post(h, path, body, &r), ==, want);
    mm_http_resp_free(&r);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    MM_REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static long
rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return v;
}

static void
test_parse(void)
{
    char id[MM_FRONT_SESSION_ID_MAX + 1], why[96];
    const char *good = "{\"session_id\":\"950dd2eaff09-S\",\"status\":\"Status.READY\",\"ready\":true,\"user_count\":1}";
    MM_CHECK_INT(mm__front_webhook_parse(good, strlen(good), id, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(id, "950dd2eaff09-S");
    const char *bad[] = {
        "", "null", "[]", "\"x\"", "{", "{}", "{\"session_id\":1}", "{\"session_id\":\"\"}", "{\"session_id\":\"a b\"}",
        "{\"session_id\":\"a/b\"}", "{\"session_id\":\"a\\u0000b\"}", "{\"session_id\":\"\xc3\xa9\"}",
        "{\"session_id\":\"a\",\"session_id\":\"b\"}",
        "{\"session_id\":\"12345678901234567890123456789012345678901234567890123456789012345\"}", /* 65 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        MM_CHECK_INT(mm__front_webhook_parse(bad[i], strlen(bad[i]), id, why, sizeof(why)), ==, MM_ERR_INVALID);
    const char *max = "{\"session_id\":\"1234567890123456789012345678901234567890123456789012345678901234\"}";
    MM_CHECK_INT(mm__front_webhook_parse(max, strlen(max), id, why, sizeof(why)), ==, MM_OK);
}

/* The main scenario: the secret from the environment. */
/* The create intent of the URL's query (include/mm/intent.h) is handed on with the session id. */
static void
test_intents(void)
{
    MM_REQUIRE(setenv(MM_FRONT_WEBHOOK_ENV, SECRET, 1) == 0);
    fh h;
    fh_start(&h, NULL);
    unsetenv(MM_FRONT_WEBHOOK_ENV);
    char intent[72];
    check_post(&h, PATH, "{\"session_id\":\"950dd2eaff09-S\"}", 204);
    tb_last_intent(h.tb, intent, sizeof(intent));
    MM_CHECK_STR(intent, "");
    /* the create intent of the URL's query (include/mm/intent.h) is handed on; a malformed one,
     * or any other query, is no intent, and the webhook is routed as without one */
    static const struct {
        const char *query, *want;
    } intents[] = {
        {"?intent=AbcReplica0123456789-17", "AbcReplica0123456789-17"},
        {"?intent=bad.id", ""},
        {"?intent=", ""},
        {"?other=1", ""},
        {"?intent=a-1&x=2", ""},
        {"?intent=a-1", "a-1"},
    };
    for (size_t i = 0; i < sizeof(intents) / sizeof(intents[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s%s", PATH, intents[i].query);
        check_post(&h, path, "{\"session_id\":\"950dd2eaff09-S\"}", 204);
        tb_last_intent(h.tb, intent, sizeof(intent));
        MM_CHECK_STR(intent, intents[i].want);
    }
    check_post(&h, "/matchmaker/edgegap-webhook/wrong-Secret-0123456789?intent=a-1", "{\"session_id\":\"x-S\"}", 404);
    MM_CHECK_INT(tb_webhooks(h.tb), ==, 1 + (int)(sizeof(intents) / sizeof(intents[0])));
    MM_CHECK_INT(wh(&h, "routed"), ==, 1 + (long long)(sizeof(intents) / sizeof(intents[0])));
    fh_stop(&h, 1000);
}

static void
test_routes(void)
{
    MM_REQUIRE(setenv(MM_FRONT_WEBHOOK_ENV, SECRET, 1) == 0);
    fh h;
    fh_start(&h, NULL);
    unsetenv(MM_FRONT_WEBHOOK_ENV);
    mm_http_resp r, nf;

    MM_CHECK_INT(post(&h, PATH, "{\"session_id\":\"950dd2eaff09-S\",\"ready\":true}", &r), ==, 204);
    MM_CHECK_INT((long long)r.body_len, ==, 0);
    mm_http_resp_free(&r);
    MM_REQUIRE(tb_webhooks(h.tb) == 1);
    char id[MM_FRONT_SESSION_ID_MAX + 1];
    MM_REQUIRE(tb_webhook(h.tb, 0, id));
    MM_CHECK_STR(id, "950dd2eaff09-S");
    MM_CHECK_INT(tb_submitted(h.tb), ==, 0); /* no session request */

    /* wrong secrets, and other paths under the prefix: the 404 of any unknown path */
    MM_CHECK_INT(post(&h, "/no/such/page", "{}", &nf), ==, 404);
    const char *paths[] = {
        "/matchmaker/edgegap-webhook/s3cr3t-Webhook_0123456788", /* same length, last byte off */
        "/matchmaker/edgegap-webhook/S3cr3t-Webhook_0123456789", /* first byte off */
        "/matchmaker/edgegap-webhook/" SECRET "x",
        "/matchmaker/edgegap-webhook/" SECRET "/",
        "/matchmaker/edgegap-webhook/s3cr3t-Webhook_012345678",
        "/matchmaker/edgegap-webhook/",
        "/matchmaker/edgegap-webhook",
        "/matchmaker/edgegap-webhooks/" SECRET,
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        MM_CHECK_INT(post(&h, paths[i], "{\"session_id\":\"abc\"}", &r), ==, 404);
        MM_CHECK_STR(r.body, nf.body);
        mm_http_resp_free(&r);
        /* GET too: no 405 that would tell the prefix exists */
        MM_REQUIRE(mm_http_get(h.port, paths[i], &r, T) == 0);
        MM_CHECK_INT(r.status, ==, 404);
        mm_http_resp_free(&r);
    }
    mm_http_resp_free(&nf);
    MM_CHECK_INT(tb_webhooks(h.tb), ==, 1);

    /* GET on the right path: 405 */
    MM_REQUIRE(mm_http_get(h.port, PATH, &r, T) == 0);
    MM_CHECK_INT(r.status, ==, 405);
    mm_http_resp_free(&r);

    /* bad bodies: 400, nothing handed on */
    const char *bodies[] = {
        NULL, "", "not json", "[\"950dd2eaff09-S\"]", "{\"status\":\"Status.READY\"}", "{\"session_id\":null}",
        "{\"session_id\":\"950dd2eaff09 S\"}", "{\"session_id\":\"../../x\"}",
        "{\"session_id\":\"12345678901234567890123456789012345678901234567890123456789012345\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        check_post(&h, PATH, bodies[i], 400);
    /* a body over --max-message-bytes (4096): h2o's 413 before any route runs */
    char *big = malloc(6000);
    memset(big, 'a', 5999);
    big[5999] = '\0';
    memcpy(big, "{\"session_id\":\"x\",\"pad\":\"", 25);
    memcpy(big + 5997, "\"}", 3);
    check_post(&h, PATH, big, 413);
    free(big);
    MM_CHECK_INT(tb_webhooks(h.tb), ==, 1);

    /* the backend refuses: 503 */
    tb_set_webhook_refuse(h.tb, true);
    check_post(&h, PATH, "{\"session_id\":\"refused-1\"}", 503);
    tb_set_webhook_refuse(h.tb, false);
    MM_CHECK_INT(tb_webhooks(h.tb), ==, 1);

    MM_CHECK_INT(wh(&h, "routed"), ==, 1);
    MM_CHECK_INT(wh(&h, "not_found"), ==, 12); /* the six paths under the prefix, POST and GET */
    MM_CHECK_INT(wh(&h, "bad_request"), ==, 1 + 9); /* the 405 and the 400s (the 413 is h2o's) */
    MM_CHECK_INT(wh(&h, "refused"), ==, 1);

    /* 1,000 replays of one valid webhook: all handed on (the matchmaker rate-limits), no state kept */
    for (int i = 0; i < 100; i++) /* warm-up: the pools and h2o's buffers */
        check_post(&h, PATH, "{\"session_id\":\"replayed\"}", 204);
    long rss0 = rss_kib();
    for (int i = 0; i < 1000; i++)
        check_post(&h, PATH, "{\"session_id\":\"replayed\"}", 204);
    long rss1 = rss_kib();
    MM_CHECK_INT(tb_webhooks(h.tb), ==, 1101);
    MM_REQUIRE(tb_webhook(h.tb, 1100, id));
    MM_CHECK_STR(id, "replayed");
    MM_CHECK_INT(wh(&h, "routed"), ==, 1101);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_requests_in_progress{loop=\"0\"}"), ==, 0);
    MM_CHECK_INT(fh_metric(h.port, "mm_front_limited_addresses"), ==, 0);
    printf("# 1,000 webhooks: RSS %ld -> %ld KiB\n", rss0, rss1);
#if defined(MM_SANITIZE_ADDRESS) || defined(MM_SANITIZE_THREAD)
    (void)rss0; /* the sanitizers keep freed memory in quarantine; LeakSanitizer checks leaks at exit */
#else
    MM_CHECK_INT(rss1 - rss0, <, 1024); /* a leak of even 1 KiB per webhook would be 1,000 KiB */
#endif
    fh_stop(&h, 1000);
}

/* No secret configured: the prefix is like any unknown path. A backend without the op: 503. */
static void
test_off_and_no_op(void)
{
    unsetenv(MM_FRONT_WEBHOOK_ENV);
    fh h;
    fh_start(&h, NULL);
    check_post(&h, PATH, "{\"session_id\":\"abc\"}", 404);
    check_post(&h, "/matchmaker/edgegap-webhook/", "{\"session_id\":\"abc\"}", 404);
    MM_CHECK_INT(tb_webhooks(h.tb), ==, 0);
    MM_CHECK_INT(wh(&h, "not_found"), ==, 2);
    fh_stop(&h, 1000);

    char dir[256], file[300];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(file, sizeof(file), "%s/secret", dir);
    write_file(file, "  " SECRET "\n\n");
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--webhook-secret-file", file, NULL, NULL, 0) == 1);
    tb_backend *tb = tb_create();
    mm_front_backend be;
    tb_backend_iface(tb, &be);
    be.webhook = NULL;
    be.webhook_intent = NULL;
    mm_front *f = NULL;
    char why[256] = "";
    MM_REQUIRE(mm_front_start(&cfg, &be, &f, why, sizeof(why)) == MM_OK);
    fh h2 = {.front = f, .tb = tb, .port = mm_front_port(f, 0)};
    check_post(&h2, PATH, "{\"session_id\":\"abc\"}", 503);
    MM_CHECK_INT(wh(&h2, "refused"), ==, 1);
    fh_stop(&h2, 1000);
    unlink(file);
    rmdir(dir);
}

/* The secret from --webhook-secret-file (trimmed; it wins over the environment). */
static void
test_file_secret(void)
{
    char dir[256], file[300];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(file, sizeof(file), "%s/secret", dir);
    write_file(file, "\t" SECRET "  \r\n");
    MM_REQUIRE(setenv(MM_FRONT_WEBHOOK_ENV, "another-secret-0123456789", 1) == 0);
    mm_front_config cfg;
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--webhook-secret-file", file, NULL, NULL, 0) == 1);
    fh h;
    fh_start(&h, &cfg);
    unsetenv(MM_FRONT_WEBHOOK_ENV);
    check_post(&h, PATH, "{\"session_id\":\"from-file\"}", 204);
    check_post(&h, "/matchmaker/edgegap-webhook/another-secret-0123456789", "{\"session_id\":\"x\"}", 404);
    char id[MM_FRONT_SESSION_ID_MAX + 1];
    MM_REQUIRE(tb_webhook(h.tb, 0, id));
    MM_CHECK_STR(id, "from-file");
    MM_CHECK_INT(tb_webhooks(h.tb), ==, 1);
    fh_stop(&h, 1000);
    unlink(file);
    rmdir(dir);
}

/* Bad secrets stop the start with a clear reason that does not print the secret. */
static void
test_bad_secrets(void)
{
    char dir[256], file[300];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    snprintf(file, sizeof(file), "%s/secret", dir);
    tb_backend *tb = tb_create();
    mm_front_backend be;
    tb_backend_iface(tb, &be);
    mm_front *f = NULL;
    char why[256];
    mm_front_config cfg;

    const char *env_bad[] = {"short-secret-15", "has a space in it 0123", "slash/in/the/secret/0123", "é-0123456789abcdef"};
    for (size_t i = 0; i < sizeof(env_bad) / sizeof(env_bad[0]); i++) {
        fh_config(&cfg);
        MM_REQUIRE(setenv(MM_FRONT_WEBHOOK_ENV, env_bad[i], 1) == 0);
        why[0] = '\0';
        MM_CHECK_INT(mm_front_start(&cfg, &be, &f, why, sizeof(why)), ==, MM_ERR_INVALID);
        MM_CHECK(strstr(why, MM_FRONT_WEBHOOK_ENV) != NULL);
        MM_CHECK(strstr(why, env_bad[i]) == NULL);
    }
    /* 16 characters is the least */
    MM_REQUIRE(setenv(MM_FRONT_WEBHOOK_ENV, "0123456789abcdef", 1) == 0);
    fh_config(&cfg);
    MM_CHECK_INT(mm_front_start(&cfg, &be, &f, why, sizeof(why)), ==, MM_OK);
    mm_front_destroy(f);
    unsetenv(MM_FRONT_WEBHOOK_ENV);

    write_file(file, "too-short\n");
    fh_config(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--webhook-secret-file", file, NULL, NULL, 0) == 1);
    MM_CHECK_INT(mm_front_start(&cfg, &be, &f, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "--webhook-secret-file") != NULL);
    write_file(file, "");
    MM_CHECK_INT(mm_front_start(&cfg, &be, &f, why, sizeof(why)), ==, MM_ERR_INVALID);
    unlink(file);
    MM_CHECK_INT(mm_front_start(&cfg, &be, &f, why, sizeof(why)), ==, MM_ERR_INVALID); /* missing file */
    MM_CHECK(strstr(why, file) != NULL);
    MM_CHECK_INT(mm_front_config_flag(&cfg, "--webhook-secret-file", "", NULL, NULL, 0), ==, -1);
    tb_destroy(tb);
    rmdir(dir);
}

int
main(void)
{
    test_parse();
    test_routes();
    test_intents();
    test_off_and_no_op();
    test_file_secret();
    test_bad_secrets();
    return MM_TEST_DONE();
}
