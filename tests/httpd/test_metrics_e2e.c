/*
 * The matchmaker's metrics end to end, in both modes (real nats-server, edgegap_sim,
 * gameserver_sim, bevygap_matchmaker, and in split mode bevygap_matchmaker_httpd):
 *   - split: the matchmaker's own --admin-bind listener serves /metrics, /healthz, /readyz;
 *     all-in-one: the web front's --admin-bind /metrics (and its client port's) carries the
 *     same series after the front's own;
 *   - three WebSocket requests: one ready, one whose session create Edgegap refuses with 422,
 *     one whose create is answered 429 first and then retried: the series move by exactly that
 *     (ready 2, error_422 1, create 4xx 2, one 429, one retry, two tokens, two GETs-per-session
 *     samples), the state gauges are back to 0, build info and start time are there;
 *   - the set of the matchmaker's metric names (everything but mm_front_* and mm_direct_*, which
 *     belong to the web front and its backend) is the same in both modes;
 *   - request ids: the id the front logs for a request ("front: ws request N") is the one the
 *     matchmaker logs ("provisioner: request N: session ... ready"); a request over NATS without
 *     the header (as the reference's front sends) gets a number of the matchmaker's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_harness.h"
#include "mm/feedback.h"

#define CLIENT_IP "81.128.157.123"
#define MAX_NAMES 128
#define METRICS_MAX (256 * 1024)

typedef struct names {
    char name[MAX_NAMES][96];
    int n;
} names;

static char *
scrape(int port, const char *path)
{
    static hd_response r; /* 64 KB body: the registry is ~14 KB, the front's ~10 KB */
    hd_http(port, "GET", path, NULL, NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    MM_CHECK(r.body_len < sizeof(r.body) - 1);
    char *copy = malloc(r.body_len + 1);
    MM_REQUIRE(copy != NULL);
    memcpy(copy, r.body, r.body_len);
    copy[r.body_len] = '\0';
    return copy;
}

/* The value of the sample `series` (its exact text before the space); -1 when absent. */
static double
value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    fprintf(stderr, "no sample %s\n", series);
    return -1;
}

/* The names of the "# TYPE" lines, without the web front's and its backend's. */
static void
matchmaker_names(const char *text, names *out)
{
    out->n = 0;
    for (const char *line = strstr(text, "# TYPE "); line != NULL; line = strstr(line + 1, "\n# TYPE ")) {
        if (line[0] == '\n')
            line++;
        char name[96];
        if (sscanf(line, "# TYPE %95s", name) != 1)
            continue;
        if (strncmp(name, "mm_front_", 9) == 0 || strncmp(name, "mm_direct_", 10) == 0)
            continue;
        MM_REQUIRE(out->n < MAX_NAMES);
        snprintf(out->name[out->n++], sizeof(out->name[0]), "%s", name);
    }
}

static void
check_delta(const char *before, const char *after, const char *series, double want)
{
    double d = value_of(after, series) - value_of(before, series);
    if (d != want)
        fprintf(stderr, "%s moved by %g, want %g\n", series, d, want);
    MM_CHECK(d == want);
}

/* One WebSocket request; returns its last text (malloc'd) or NULL. */
static char *
ws_request(int port)
{
    char *texts[64];
    int n = 0, code = 0;
    hd_ws_request(port, H_APP, CLIENT_IP, texts, 64, &n, &code);
    char *last = n > 0 ? strdup(texts[n - 1]) : NULL;
    hd_free_texts(texts, n);
    return last;
}

/* The number after `prefix` in the first line of the file that contains it (and `also`), or 0. */
static unsigned long long
number_after(const char *path, const char *prefix, const char *also)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    char line[2048];
    unsigned long long v = 0;
    while (v == 0 && fgets(line, sizeof(line), fp) != NULL) {
        const char *p = strstr(line, prefix);
        if (p != NULL && (also == NULL || strstr(line, also) != NULL))
            v = strtoull(p + strlen(prefix), NULL, 10);
    }
    fclose(fp);
    return v;
}

/* The requests and their series; the request-id checks. front_log: the log the front writes. */
static void
drive(harness *h, int client_port, int admin_port, const char *front_log)
{
    char *before = scrape(admin_port, "/metrics");
    char *last = ws_request(client_port);
    MM_CHECK(last != NULL && strncmp(last, "{\"SessionReady\"", 15) == 0);
    free(last);
    h_sim_faults(h, "{\"session_create\":{\"error_next\":1,\"error_status\":422,\"error_message\":\"no such version\"}}");
    last = ws_request(client_port);
    MM_CHECK(last != NULL && strstr(last, "[422,") != NULL);
    free(last);
    h_sim_faults(h, "{\"session_create\":{\"error_next\":1,\"error_status\":429,\"error_message\":\"slow down\"}}");
    last = ws_request(client_port);
    MM_CHECK(last != NULL && strncmp(last, "{\"SessionReady\"", 15) == 0);
    free(last);
    h_sim_faults(h, "{}");
    char *after = scrape(admin_port, "/metrics");
    check_delta(before, after, "mm_matchmaker_requests_total{outcome=\"ready\"}", 2);
    check_delta(before, after, "mm_matchmaker_requests_total{outcome=\"error_422\"}", 1);
    check_delta(before, after, "mm_matchmaker_requests_total{outcome=\"timeout\"}", 0);
    check_delta(before, after, "mm_edgegap_requests_total{endpoint=\"create\",class=\"2xx\"}", 2);
    check_delta(before, after, "mm_edgegap_requests_total{endpoint=\"create\",class=\"4xx\"}", 2);
    check_delta(before, after, "mm_edgegap_rate_limited_total{endpoint=\"create\"}", 1);
    check_delta(before, after, "mm_edgegap_retries_total{endpoint=\"create\"}", 1);
    check_delta(before, after, "mm_edgegap_request_duration_seconds_count{endpoint=\"create\"}", 4);
    check_delta(before, after, "mm_matchmaker_tokens_minted_total", 2);
    check_delta(before, after, "mm_matchmaker_time_to_ready_seconds_count", 2);
    check_delta(before, after, "mm_matchmaker_edgegap_gets_per_session_count", 2);
    MM_CHECK(value_of(after, "mm_edgegap_requests_total{endpoint=\"get\",class=\"2xx\"}") >= 2);
    MM_CHECK(value_of(after, "mm_edgegap_requests_total{endpoint=\"other\",class=\"2xx\"}") >= 2); /* app + version */
    MM_CHECK(value_of(after, "mm_matchmaker_requests_waiting") == 0);
    MM_CHECK(value_of(after, "mm_matchmaker_requests_polling") == 0);
    MM_CHECK(value_of(after, "mm_matchmaker_requests_minting") == 0);
    MM_CHECK(value_of(after, "process_start_time_seconds") > 1.7e9);
    MM_CHECK(strstr(after, "\nmm_build_info{version=\"") != NULL);
    MM_CHECK(value_of(after, "mm_waiting_room_length") == 0);
    free(before);
    free(after);

    /* the request id the front logged for the first request is the matchmaker's for it */
    unsigned long long front_id = number_after(front_log, "front: ws request ", NULL);
    MM_CHECK(front_id >= (1ull << 40));
    char needle[96];
    snprintf(needle, sizeof(needle), "provisioner: request %llu: session ", front_id);
    MM_CHECK(h_file_contains(h->mm_log, needle));
    if (!h_file_contains(h->mm_log, needle))
        fprintf(stderr, "no '%s' in the matchmaker's log\n", needle);
}

/* A request over NATS without the header (the reference's front): the matchmaker numbers it. */
static void
check_own_id(harness *h)
{
    h_connect(h);
    char *replies[H_MAX_REPLIES];
    bool ended = false;
    int n = h_request(h, "matchmaker.request." H_APP "." H_VERSION, "{\"client_ip\":\"" CLIENT_IP "\"}", replies,
                      H_MAX_REPLIES, &ended, HD_WAIT_MS);
    MM_CHECK(ended && n >= 3);
    char sid[64] = "";
    if (n >= 2)
        sscanf(replies[1], "{\"SessionRequestAccepted\":\"%63[^\"]\"}", sid);
    MM_CHECK(sid[0] != '\0');
    char also[96];
    snprintf(also, sizeof(also), "session %s ready", sid);
    unsigned long long id = number_after(h->mm_log, "provisioner: request ", also);
    MM_CHECK(id >= (1ull << 40));
    h_free_replies(replies, n);
}

static void
run_split(names *out)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    int admin = mm_test_free_port();
    char admin_bind[64];
    snprintf(admin_bind, sizeof(admin_bind), "127.0.0.1:%d", admin);
    const char *mm_extra[] = {"--admin-bind", admin_bind, NULL};
    h_start_matchmaker(&h, mm_extra);
    hd_proc front = {0};
    const char *front_extra[] = {"--cors", "http://127.0.0.1", "--log-level", "debug", NULL};
    hd_start(&h, &front, front_extra);

    hd_response r;
    hd_http(admin, "GET", "/readyz", NULL, NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    hd_http(admin, "GET", "/healthz", NULL, NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 200);
    hd_http(admin, "GET", "/nope", NULL, NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 404);
    hd_http(admin, "POST", "/metrics", "", NULL, HD_WAIT_MS, &r);
    MM_CHECK_INT(r.status, ==, 405);

    drive(&h, front.port, admin, front.log);
    check_own_id(&h);
    char *text = scrape(admin, "/metrics");
    matchmaker_names(text, out);
    MM_CHECK(strstr(text, "mm_front_") == NULL); /* the matchmaker alone has no web front */
    free(text);
    if (!(mm_test_failed == 0)) {
        hd_dump_log(&front);
        h_dump_log(h.mm_log, 40);
    }
    MM_CHECK_INT(hd_stop(&front, 10000), ==, 0);
    h_stop(&h);
}

static void
run_all_in_one(names *out)
{
    harness h = {0};
    h_start_nats(&h);
    h_start_sim(&h, "300", NULL);
    h_start_gameserver(&h);
    int port = mm_test_free_port(), admin = mm_test_free_port();
    char bind[64], admin_bind[64];
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", port);
    snprintf(admin_bind, sizeof(admin_bind), "127.0.0.1:%d", admin);
    const char *extra[] = {"--http", bind, "--admin-bind", admin_bind, "--cors", "http://127.0.0.1", "--log-level", "debug", NULL};
    h_start_matchmaker(&h, extra);
    drive(&h, port, admin, h.mm_log);
    char *text = scrape(admin, "/metrics");
    matchmaker_names(text, out);
    MM_CHECK(strstr(text, "# TYPE mm_front_requests_total counter") != NULL);
    free(text);
    text = scrape(port, "/metrics"); /* the client port's /metrics has them too */
    names main_port;
    matchmaker_names(text, &main_port);
    MM_CHECK_INT(main_port.n, ==, out->n);
    free(text);
    if (!(mm_test_failed == 0))
        h_dump_log(h.mm_log, 40);
    h_stop(&h);
}

int
main(void)
{
    static names split, aio;
    run_split(&split);
    run_all_in_one(&aio);
    MM_CHECK_INT(split.n, >=, 30);
    MM_CHECK_INT(split.n, ==, aio.n);
    for (int i = 0; i < split.n && i < aio.n; i++) /* the same names, in the same order */
        MM_CHECK_STR(split.name[i], aio.name[i]);
    return MM_TEST_DONE();
}
