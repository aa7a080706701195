/*
 * Both modes, one list of scenarios: every scenario runs against
 *   (1) split:      bevygap_matchmaker + bevygap_matchmaker_httpd over NATS, and
 *   (2) all-in-one: bevygap_matchmaker --http,
 * each on a fresh stack (nats-server, edgegap_sim, gameserver_sim) with the same front flags
 * (modes_stack.h). Each scenario records what it got (texts, ERR lines, close codes and reasons,
 * HTTP statuses, chosen headers, bodies) with the run-to-run values replaced
 * (modes_record.h), and checks what the transcript cannot show (the simulator's view, metrics,
 * exit statuses). At the end every transcript must equal the expected one below, in both modes,
 * so both modes send the same bytes for the same scenario; a difference prints both.
 *
 * Phase 1 runs with the default trusted proxies and ends with SIGTERM during a request; phase 2
 * restarts the front's process with --trusted-proxy none and checks, last, that the session of
 * the request whose client vanished was deleted at the simulator like every other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "modes_expect.h"
#include "modes_scenarios.h"

typedef struct scenario {
    const char *name;
    mx_scenario run;
    int phase;
    const char *expect; /* the normalised transcript both modes must produce */
} scenario;

static const scenario scenarios[] = {
    {"routes", mx_routes, 1, EXPECT_ROUTES},
    {"cors", mx_cors, 1, EXPECT_CORS},
    {"happy_ws", mx_happy_ws, 1, EXPECT_HAPPY_WS},
    {"chunked", mx_chunked, 1, EXPECT_CHUNKED},
    {"wannaplay", mx_wannaplay, 1, EXPECT_WANNAPLAY},
    {"edgegap_error", mx_edgegap_error, 1, EXPECT_EDGEGAP_ERROR},
    {"unknown_game", mx_unknown_game, 1, EXPECT_UNKNOWN_GAME},
    {"bad_json", mx_bad_json, 1, EXPECT_BAD_JSON},
    {"long_name", mx_long_name, 1, EXPECT_LONG_NAME},
    {"invalid_name", mx_invalid_name, 1, EXPECT_INVALID_NAME},
    {"bad_client_ip", mx_bad_client_ip, 1, EXPECT_BAD_CLIENT_IP},
    {"binary_frame", mx_binary_frame, 1, EXPECT_BINARY_FRAME},
    {"oversized", mx_oversized, 1, EXPECT_OVERSIZED},
    {"first_timeout", mx_first_timeout, 1, EXPECT_FIRST_TIMEOUT},
    {"flood", mx_flood, 1, EXPECT_FLOOD},
    {"ip_concurrent", mx_ip_concurrent, 1, EXPECT_IP_CONCURRENT},
    {"slow_reader", mx_slow_reader, 1, EXPECT_SLOW_READER},
    {"stalled_peers", mx_stalled_peers, 1, EXPECT_STALLED_PEERS},
    {"abrupt_disconnect", mx_abrupt_disconnect, 1, EXPECT_ABRUPT_DISCONNECT},
    {"metrics", mx_metrics, 1, EXPECT_METRICS},
    {"xff_trusted", mx_xff_trusted, 1, EXPECT_XFF_TRUSTED},
    {"counts", mx_counts, 1, EXPECT_COUNTS},
    {"xff_spoof", mx_xff_spoof, 1, EXPECT_XFF_SPOOF},
    {"xff_forms", mx_xff_forms, 1, EXPECT_XFF_FORMS},
    {"drain", mx_drain, 1, EXPECT_DRAIN},
    {"xff_untrusted", mx_xff_untrusted, 2, EXPECT_XFF_UNTRUSTED},
    {"abandoned_reaped", mx_abandoned_reaped, 2, EXPECT_ABANDONED_REAPED},
};

#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static const char *const untrusted[] = {"--trusted-proxy", "none", NULL};

/* Runs every scenario against one mode; got[i] receives scenario i's transcript. */
static void
run_mode(ms_mode mode, char **got)
{
    mx x = {0};
    x.st = ms_start(mode, NULL);
    x.port = ms_port(x.st);
    int phase = 1;
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        const scenario *s = &scenarios[i];
        if (s->phase == 2 && phase == 1) {
            MM_REQUIRE(ms_front_pid(x.st) <= 0); /* "drain" stopped it */
            ms_front_restart(x.st, untrusted);
            x.port = ms_port(x.st);
            phase = 2;
        }
        fprintf(stderr, "[%s] %s\n", ms_mode_name(mode), s->name);
        mr_rec r = {0};
        s->run(&x, (int)i, &r);
        got[i] = strdup(mr_text(&r));
        MM_REQUIRE(got[i] != NULL);
        mr_free(&r);
    }
    ms_stop(x.st); /* shows the logs when a check failed during the run */
}

/* Prints the first line where a and b differ. */
static void
first_difference(const char *a, const char *b)
{
    int line = 1;
    const char *la = a, *lb = b;
    while (*a != '\0' && *a == *b) {
        if (*a == '\n') {
            line++;
            la = a + 1;
            lb = b + 1;
        }
        a++;
        b++;
    }
    fprintf(stderr, "  first difference at line %d:\n    %.*s\n    %.*s\n", line, (int)strcspn(la, "\n"), la,
            (int)strcspn(lb, "\n"), lb);
}

static void
compare(const char *what, const char *name, const char *a_name, const char *a, const char *b_name, const char *b)
{
    MM_CHECK_INT(strcmp(a, b), ==, 0);
    if (strcmp(a, b) == 0)
        return;
    fprintf(stderr, "scenario %s: %s\n---- %s ----\n%s---- %s ----\n%s----\n", name, what, a_name, a, b_name, b);
    first_difference(a, b);
}

int
main(void)
{
    char *got[2][N_SCENARIOS];
    memset(got, 0, sizeof(got));
    run_mode(MS_SPLIT, got[MS_SPLIT]);
    run_mode(MS_ALLINONE, got[MS_ALLINONE]);
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        const scenario *s = &scenarios[i];
        printf("==== %s ====\n%s", s->name, got[MS_SPLIT][i]);
        compare("the two modes sent different bytes", s->name, "split", got[MS_SPLIT][i], "all-in-one", got[MS_ALLINONE][i]);
        compare("not what is expected", s->name, "expected", s->expect, "split", got[MS_SPLIT][i]);
        free(got[MS_SPLIT][i]);
        free(got[MS_ALLINONE][i]);
    }
    return MM_TEST_DONE();
}
