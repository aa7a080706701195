/*
 * See modes_stack.h. A thin layer over the two harnesses: it only decides which process serves
 * the front and gives both modes the same flags. Every wait polls a condition with a deadline.
 */
#include "modes_stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "httpd_harness.h"
#include "mm/clock.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_ARGS 38

/* The web front's flags, the same in both modes: small limits so that every refusal is quick. */
/* clang-format off */
static const char *const front_flags[] = {
    "--cors", MS_ORIGIN,
    "--first-message-timeout-ms", STR(MS_FIRST_MESSAGE_MS),
    "--max-message-bytes", STR(MS_MAX_MESSAGE),
    "--per-ip-rate", STR(MS_PER_IP_RATE),
    "--per-ip-burst", STR(MS_PER_IP_BURST),
    "--per-ip-concurrent", STR(MS_PER_IP_CONCURRENT),
    NULL,
};
/* clang-format on */

/* The matchmaker's reaper: unclaimed sessions (no game client ever connects here) are deleted
 * MS_REAP_AFTER_MS after their creation, so a test can see an abandoned request cleaned up. */
static const char *const reaper_flags[] = {
    "--reaper-age-ms", "4000", "--reaper-margin-ms", "1000", "--reaper-scan-ms", "500", NULL,
};

struct ms_stack {
    ms_mode mode;
    harness h;
    hd_proc httpd; /* MS_SPLIT */
    uint16_t port;
    int failed_at_start; /* mm_test_failed when it started: logs are shown if it grew */
};

const char *
ms_mode_name(ms_mode mode)
{
    return mode == MS_SPLIT ? "split" : "all-in-one";
}

/* Appends the NULL-terminated list to argv[n..); returns the new count. */
static int
add_args(const char **argv, int n, const char *const *list)
{
    for (int i = 0; list != NULL && list[i] != NULL; i++) {
        MM_REQUIRE(n < MAX_ARGS);
        argv[n++] = list[i];
    }
    argv[n] = NULL;
    return n;
}

static void
start_front(ms_stack *s, const char *const *extra)
{
    const char *argv[MAX_ARGS + 1];
    int n = 0;
    if (s->mode == MS_SPLIT) {
        n = add_args(argv, n, front_flags);
        add_args(argv, n, extra);
        hd_start(&s->h, &s->httpd, argv);
        s->port = (uint16_t)s->httpd.port;
        return;
    }
    char bind[64], line[96];
    s->port = (uint16_t)mm_test_free_port();
    snprintf(bind, sizeof(bind), "127.0.0.1:%u", s->port);
    const char *const http[] = {"--http", bind, NULL};
    n = add_args(argv, n, reaper_flags);
    n = add_args(argv, n, http);
    n = add_args(argv, n, front_flags);
    add_args(argv, n, extra);
    h_start_matchmaker(&s->h, argv); /* waits for "matchmaker ready", logged after the front listens */
    snprintf(line, sizeof(line), "listening on %s", bind);
    MM_CHECK(h_file_contains(s->h.mm_log, line));
}

ms_stack *
ms_start(ms_mode mode, const char *const *extra_front)
{
    ms_stack *s = calloc(1, sizeof(*s));
    MM_REQUIRE(s != NULL);
    s->mode = mode;
    s->failed_at_start = mm_test_failed;
    h_start_nats(&s->h);
    h_start_sim(&s->h, "300", NULL);
    h_start_gameserver(&s->h);
    if (mode == MS_SPLIT)
        h_start_matchmaker(&s->h, reaper_flags);
    start_front(s, extra_front);
    return s;
}

uint16_t
ms_port(const ms_stack *s)
{
    return s->port;
}

pid_t
ms_front_pid(const ms_stack *s)
{
    return s->mode == MS_SPLIT ? s->httpd.pid : s->h.mm;
}

int
ms_front_wait_exit(ms_stack *s, int timeout_ms)
{
    /* mm_test_stop's own SIGTERM finds the process stopping already: it only waits */
    if (s->mode == MS_SPLIT)
        return hd_stop(&s->httpd, timeout_ms);
    int st = mm_test_stop(s->h.mm, timeout_ms);
    s->h.mm = 0;
    return st;
}

void
ms_front_restart(ms_stack *s, const char *const *extra_front)
{
    MM_REQUIRE(ms_front_pid(s) <= 0);
    start_front(s, extra_front);
}

bool
ms_sim_faults(ms_stack *s, const char *body)
{
    hd_response *r = malloc(sizeof(*r));
    MM_REQUIRE(r != NULL);
    hd_http(s->h.sim_port, "POST", "/__sim/faults", body, NULL, 5000, r);
    bool ok = r->status == 200;
    if (!ok)
        fprintf(stderr, "POST /__sim/faults %s: %ld %s\n", body, r->status, r->body);
    free(r);
    return ok;
}

bool
ms_sim_session_ips(ms_stack *s, const char *session_id, char *out, size_t len)
{
    static const char *const headers[] = {MS_API_KEY_HEADER, NULL};
    char path[160];
    bool ok = false;
    json_t *o = NULL;
    hd_response *r = malloc(sizeof(*r));
    MM_REQUIRE(r != NULL);
    out[0] = '\0';
    snprintf(path, sizeof(path), "/v1/session/%s", session_id);
    hd_http(s->h.sim_port, "GET", path, NULL, headers, 5000, r);
    if (r->status != 200 || (o = json_loadb(r->body, r->body_len, 0, NULL)) == NULL)
        goto cleanup;
    json_t *ips = json_object_get(o, "session_ips");
    if (!json_is_array(ips))
        goto cleanup;
    size_t used = 0;
    for (size_t i = 0; i < json_array_size(ips); i++) {
        const char *ip = json_string_value(json_object_get(json_array_get(ips, i), "ip"));
        int n = snprintf(out + used, len - used, "%s%s", i > 0 ? "," : "", ip != NULL ? ip : "?");
        if (n < 0 || (size_t)n >= len - used)
            goto cleanup;
        used += (size_t)n;
    }
    ok = true;
cleanup:
    json_decref(o);
    free(r);
    return ok;
}

bool
ms_sim_is_live(ms_stack *s, const char *session_id)
{
    h_sim_stats st;
    return h_sim_stats_get(&s->h, &st) && h_sim_is_live(&st, session_id);
}

bool
ms_wait_deleted(ms_stack *s, const char *session_id, int timeout_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        h_sim_stats st;
        if (h_sim_stats_get(&s->h, &st) && !h_sim_is_live(&st, session_id))
            return true;
        if (mm_now_ms() >= until)
            return false;
        mm_test_sleep_ms(100);
    }
}

bool
ms_wait_sim_empty(ms_stack *s, int timeout_ms, long *live)
{
    h_sim_stats st;
    bool ok = h_wait_sim_empty(&s->h, timeout_ms, &st);
    *live = st.live;
    return ok;
}

void
ms_check_token(const char *token_b64, const char *ip, uint16_t port)
{
    hd_check_token(token_b64, ip, port);
}

void
ms_dump_logs(const ms_stack *s)
{
    if (s->mode == MS_SPLIT && s->httpd.log[0] != '\0') {
        fprintf(stderr, "---- %s (httpd) ----\n", s->httpd.log);
        hd_dump_log(&s->httpd);
    }
    fprintf(stderr, "---- %s (matchmaker) ----\n", s->h.mm_log);
    h_dump_log(s->h.mm_log, 40);
}

void
ms_stop(ms_stack *s)
{
    if (s == NULL)
        return;
    if (s->mode == MS_SPLIT && s->httpd.pid > 0) {
        int st = hd_stop(&s->httpd, 15000);
        MM_CHECK_INT(st, ==, 0);
    }
    if (mm_test_failed > s->failed_at_start)
        ms_dump_logs(s);
    h_stop(&s->h); /* checks the matchmaker exits 0 */
    free(s);
}
