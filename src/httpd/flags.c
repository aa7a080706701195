/*
 * bevygap_matchmaker_httpd's flags: the reference's (--cors, --bind, --fake-ip, in the web front's
 * table, mm_front_config_flags) plus the bridge's and the logging ones, in one table read by the
 * shared parser (include/mm/parse.h). `--flag value` and `--flag=value` both work; errors are one
 * line naming the flag, exit status 2. The defaults are set once, in flags_init, and --help
 * shows them from there.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "httpd.h"
#include "mm/nats_bridge.h"
#include "mm/parse.h"

static const char usage_head[] =
    "usage: bevygap_matchmaker_httpd [flags]   (environment: NATS_HOST (required), NATS_USER, NATS_PASSWORD,\n"
    "                                           NATS_INSECURE, NATS_CA, NATS_CA_CONTENTS)\n"
    "The web front of the matchmaker: game clients connect here (WebSocket /matchmaker/ws, POST\n"
    "/matchmaker/request/{game}/{version}, POST /matchmaker/wannaplay); each request is passed on over NATS\n"
    "(matchmaker.request.<game>.<version>, session.gensession) and every reply relayed back.\n";

/* --backend-silence-ms: 0 (off) or MM_NATS_BRIDGE_SILENCE_MIN_MS..MAX_MS. */
static mm_err
set_silence(void *opts, const char *value, char *why, size_t why_len)
{
    uint64_t ms = 0;
    if (mm_parse_u64(value, 0, MM_NATS_BRIDGE_SILENCE_MAX_MS, &ms, NULL, 0) != MM_OK ||
        (ms != 0 && ms < MM_NATS_BRIDGE_SILENCE_MIN_MS))
        return mm_fail(MM_ERR_INVALID, why, why_len, "must be 0 (off) or %u..%u milliseconds", MM_NATS_BRIDGE_SILENCE_MIN_MS,
                       MM_NATS_BRIDGE_SILENCE_MAX_MS);
    ((mm_httpd_flags *)opts)->backend_silence_ms = ms;
    return MM_OK;
}

#define FIELD(name) offsetof(mm_httpd_flags, name)
static const mm_opt own[] = {
    {"--matchmaker-timeout-ms", MM_OPT_U64, FIELD(matchmaker_timeout_ms), 1, UINT32_MAX, "MS",
     "a request without the matchmaker's last reply by then: Error 408", NULL, NULL, NULL},
    {"--backend-silence-ms", MM_OPT_CUSTOM, 0, 0, 0, "MS",
     "ask the matchmaker for a heartbeat every MS/3; a request it stays silent on this long: Error 503 (0: off)", "3000", NULL,
     set_silence},
    {"--stop-deadline-ms", MM_OPT_U64, FIELD(stop_deadline_ms), 0, 3600000, "MS",
     "on SIGTERM/SIGINT, how long requests in flight may finish", NULL, NULL, NULL},
    {"--log-format", MM_OPT_ENUM, FIELD(log_format), 0, 0, "text|json", "log line format", NULL, mm_opt_log_formats, NULL},
    {"--log-level", MM_OPT_ENUM, FIELD(log_level), 0, 0, "debug|info|warn|error", "lowest level logged", NULL, mm_opt_log_levels,
     NULL},
};

#undef FIELD

/* The defaults: the one place they are written (--help shows them from here). */
static void
flags_init(void *opts)
{
    mm_httpd_flags *f = opts;
    memset(f, 0, sizeof(*f));
    mm_front_config_init(&f->front);
    f->matchmaker_timeout_ms = MM_NATS_BRIDGE_DEFAULT_TIMEOUT_MS;
    f->backend_silence_ms = MM_NATS_BRIDGE_DEFAULT_SILENCE_MS;
    f->stop_deadline_ms = 10000;
    f->log_level = MM_LOG_INFO;
}

int
mm_httpd_flags_parse(int argc, char **argv, mm_httpd_flags *f)
{
    const mm_opt_table t[2] = {
        {.opts = own, .n = sizeof(own) / sizeof(own[0])},
        {.opts = mm_front_config_flags.opts, .n = mm_front_config_flags.n, .base = offsetof(mm_httpd_flags, front)},
    };
    const mm_opts_cli cli = {.prog = "bevygap_matchmaker_httpd", .head = usage_head, .tables = t, .n_tables = 2, .n_own = 1,
                             .width = 29, .more = "Web front:\n", .more_width = 32, .init = flags_init, .size = sizeof(*f)};
    return mm_opts_cli_parse(&cli, f, argc, argv);
}
