/* The metrics registry (include/mm/metrics.h): what each call moves in the rendered text, every
 * name's HELP/TYPE and Prometheus conventions (counters _total, bounded labels), the whole text
 * in a small buffer, and counts that add up when four threads increment at once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/metrics.h"
#include "mm_test.h"

static char text[64 * 1024];

static void
render(void)
{
    size_t n = mm_metrics_render(text, sizeof(text));
    MM_CHECK_U64(n, <, sizeof(text) - 1);
    MM_CHECK_U64(n, ==, strlen(text));
}

/* The value of the sample line that starts with `series ` (exact series text), or -1. */
static double
value_of(const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    fprintf(stderr, "no sample %s in:\n%s\n", series, text);
    return -1;
}

/* Every metric has one HELP and one TYPE line before its samples, counters end in _total and
 * every sample belongs to the metric announced last. Returns how many metrics. */
static int
check_conventions(void)
{
    int metrics = 0;
    char current[128] = "", type[32] = "";
    for (char *line = text; *line != '\0';) {
        char *end = strchr(line, '\n');
        MM_CHECK(end != NULL);
        *end = '\0';
        char name[128];
        if (sscanf(line, "# HELP %127s", name) == 1) {
            snprintf(current, sizeof(current), "%s", name);
            metrics++;
        } else if (sscanf(line, "# TYPE %127s %31s", name, type) == 2) {
            MM_CHECK_STR(name, current);
            if (strcmp(type, "counter") == 0) {
                size_t n = strlen(name);
                MM_CHECK(n > 6 && strcmp(name + n - 6, "_total") == 0);
            }
        } else {
            MM_CHECK(strncmp(line, current, strlen(current)) == 0);
            if (strcmp(type, "histogram") != 0) {
                char c = line[strlen(current)];
                MM_CHECK(c == ' ' || c == '{');
            }
        }
        *end = '\n';
        line = end + 1;
    }
    return metrics;
}

static void *
bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        mm_metric_inc(MM_METRIC_TOKENS_MINTED);
        mm_metric_add(MM_METRIC_REQUESTS_POLLING, 1);
        mm_metric_add(MM_METRIC_REQUESTS_POLLING, -1);
        mm_metric_edgegap_call(MM_METRIC_EP_GET, 200, 1000000);
    }
    return NULL;
}

int
main(void)
{
    mm_metrics_init("v1.2-test");
    render();
    int metrics = check_conventions();
    MM_CHECK_INT(metrics, >=, 25);
    MM_CHECK(value_of("mm_build_info{version=\"v1.2-test\"}") == 1);
    MM_CHECK(value_of("process_start_time_seconds") > 1.7e9);
    MM_CHECK(value_of("mm_matchmaker_requests_total{outcome=\"ready\"}") == 0);
    MM_CHECK(value_of("mm_waiting_room_length") == 0);
    MM_CHECK(value_of("mm_edgegap_budget_share_rps{class=\"create\"}") == 0 && value_of("mm_edgegap_budget_share_rps{class=\"get\"}") == 0);

    /* each call moves its series, and only it */
    mm_metric_edgegap_call(MM_METRIC_EP_CREATE, 201, 30000000); /* 30 ms */
    mm_metric_edgegap_call(MM_METRIC_EP_CREATE, 429, 2000000);
    mm_metric_edgegap_call(MM_METRIC_EP_DELETE, 0, 10000000000ull); /* transport, 10 s */
    mm_metric_edgegap_call(MM_METRIC_EP_GET, 503, 1000);
    mm_metric_edgegap_retry(MM_METRIC_EP_CREATE);
    mm_metric_request_end(0, 2500000000ull); /* ready after 2.5 s */
    mm_metric_request_end(408, 60000000000ull);
    mm_metric_request_end(422, 1);
    mm_metric_request_end(418, 1);
    mm_metric_gets_per_session(8);
    mm_metric_add(MM_METRIC_REQUESTS_WAITING, 3);
    mm_metric_add(MM_METRIC_REQUESTS_WAITING, -1);
    mm_metric_set(MM_METRIC_DELETER_BACKLOG, 17);
    mm_metric_set_level(MM_METRIC_BUDGET_SHARE_RPS, 12.5);
    mm_metric_set_level(MM_METRIC_BUDGET_SHARE_GET_RPS, 3.25);
    mm_metric_inc(MM_METRIC_NATS_RECONNECTS);
    mm_metric_reap(MM_METRIC_REAP_DISCONNECTED);
    mm_metric_delete(MM_METRIC_DEL_GONE);
    mm_metric_webhook(MM_METRIC_WH_BAD);
    render();
    MM_CHECK_INT(check_conventions(), ==, metrics);
    MM_CHECK(value_of("mm_edgegap_requests_total{endpoint=\"create\",class=\"2xx\"}") == 1);
    MM_CHECK(value_of("mm_edgegap_requests_total{endpoint=\"create\",class=\"4xx\"}") == 1);
    MM_CHECK(value_of("mm_edgegap_requests_total{endpoint=\"delete\",class=\"transport\"}") == 1);
    MM_CHECK(value_of("mm_edgegap_requests_total{endpoint=\"get\",class=\"5xx\"}") == 1);
    MM_CHECK(value_of("mm_edgegap_requests_total{endpoint=\"other\",class=\"2xx\"}") == 0);
    MM_CHECK(value_of("mm_edgegap_rate_limited_total{endpoint=\"create\"}") == 1);
    MM_CHECK(value_of("mm_edgegap_retries_total{endpoint=\"create\"}") == 1);
    MM_CHECK(value_of("mm_edgegap_request_duration_seconds_bucket{endpoint=\"create\",le=\"0.025\"}") == 1);
    MM_CHECK(value_of("mm_edgegap_request_duration_seconds_bucket{endpoint=\"create\",le=\"0.05\"}") == 2);
    MM_CHECK(value_of("mm_edgegap_request_duration_seconds_bucket{endpoint=\"delete\",le=\"5\"}") == 0);
    MM_CHECK(value_of("mm_edgegap_request_duration_seconds_bucket{endpoint=\"delete\",le=\"+Inf\"}") == 1);
    MM_CHECK(value_of("mm_edgegap_request_duration_seconds_count{endpoint=\"create\"}") == 2);
    MM_CHECK(value_of("mm_edgegap_request_duration_seconds_sum{endpoint=\"create\"}") == 0.032);
    MM_CHECK(value_of("mm_matchmaker_requests_total{outcome=\"ready\"}") == 1);
    MM_CHECK(value_of("mm_matchmaker_requests_total{outcome=\"timeout\"}") == 1);
    MM_CHECK(value_of("mm_matchmaker_requests_total{outcome=\"error_422\"}") == 1);
    MM_CHECK(value_of("mm_matchmaker_requests_total{outcome=\"error_other\"}") == 1);
    MM_CHECK(value_of("mm_matchmaker_time_to_ready_seconds_bucket{le=\"2\"}") == 0);
    MM_CHECK(value_of("mm_matchmaker_time_to_ready_seconds_bucket{le=\"3\"}") == 1);
    MM_CHECK(value_of("mm_matchmaker_time_to_ready_seconds_count") == 1);
    MM_CHECK(value_of("mm_matchmaker_time_to_ready_seconds_sum") == 2.5);
    MM_CHECK(value_of("mm_matchmaker_edgegap_gets_per_session_bucket{le=\"8\"}") == 1);
    MM_CHECK(value_of("mm_matchmaker_edgegap_gets_per_session_bucket{le=\"5\"}") == 0);
    MM_CHECK(value_of("mm_matchmaker_edgegap_gets_per_session_sum") == 8);
    MM_CHECK(value_of("mm_matchmaker_requests_waiting") == 2);
    MM_CHECK(value_of("mm_deleter_backlog") == 17);
    MM_CHECK(value_of("mm_edgegap_budget_share_rps{class=\"create\"}") == 12.5);
    MM_CHECK(value_of("mm_edgegap_budget_share_rps{class=\"get\"}") == 3.25);
    MM_CHECK(value_of("mm_edgegap_budget_share_rps{class=\"delete\"}") == 0);
    MM_CHECK(value_of("mm_nats_reconnects_total") == 1);
    MM_CHECK(value_of("mm_reaper_decisions_total{reason=\"disconnected\"}") == 1);
    MM_CHECK(value_of("mm_deleter_deletes_total{outcome=\"gone\"}") == 1);
    MM_CHECK(value_of("mm_deleter_deletes_total{outcome=\"skipped_already_deleted\"}") == 0);
    MM_CHECK(value_of("mm_matchmaker_webhooks_total{outcome=\"bad\"}") == 1);
    MM_CHECK(value_of("mm_matchmaker_tokens_minted_total") == 0);

    /* a short buffer: whole lines only */
    char small[300];
    size_t n = mm_metrics_render(small, sizeof(small));
    MM_CHECK_U64(n, <, sizeof(small));
    MM_CHECK(n > 0 && small[n - 1] == '\n');

    /* four threads at once: nothing lost */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        MM_CHECK(pthread_create(&t[i], NULL, bump, NULL) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    render();
    MM_CHECK(value_of("mm_matchmaker_tokens_minted_total") == 400000);
    MM_CHECK(value_of("mm_matchmaker_requests_polling") == 0);
    MM_CHECK(value_of("mm_edgegap_requests_total{endpoint=\"get\",class=\"2xx\"}") == 400000);
    MM_CHECK(value_of("mm_edgegap_request_duration_seconds_count{endpoint=\"get\"}") == 400001);
    return mm_test_done();
}
