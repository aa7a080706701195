/*
 * bevygap_matchmaker_httpd's flags: the reference's (--cors, --bind, --fake-ip, handled with the
 * rest of the web front's flags by mm_front_config_flag) plus the bridge's and the logging ones.
 * `--flag value` and `--flag=value` both work; errors are one line naming the flag.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "httpd.h"
#include "mm/nats_bridge.h"
#include "mm/parse.h"

static const char usage[] =
    "usage: bevygap_matchmaker_httpd [flags]   (environment: NATS_HOST (required), NATS_USER, NATS_PASSWORD,\n"
    "                                           NATS_INSECURE, NATS_CA, NATS_CA_CONTENTS)\n"
    "The web front of the matchmaker: game clients connect here (WebSocket /matchmaker/ws, POST\n"
    "/matchmaker/request/{game}/{version}, POST /matchmaker/wannaplay); each request is passed on over NATS\n"
    "(matchmaker.request.<game>.<version>, session.gensession) and every reply relayed back.\n"
    "  --matchmaker-timeout-ms MS    a request without the matchmaker's last reply by then: Error 408 (default 90000)\n"
    "  --stop-deadline-ms MS         on SIGTERM/SIGINT, how long requests in flight may finish (default 10000)\n"
    "  --log-format text|json        (default text)\n"
    "  --log-level debug|info|warn|error (default info)\n"
    "  --help                        this text\n"
    "Web front:\n";

static int
bad(const char *flag, const char *why)
{
    fprintf(stderr, "bevygap_matchmaker_httpd: %s: %s (see --help)\n", flag, why);
    return 2;
}

/* One of our own flags: 0 taken, 1 not ours, 2 bad value (reported). */
static int
own_flag(const char *name, const char *v, mm_httpd_flags *f)
{
    char why[160];
    if (strcmp(name, "--matchmaker-timeout-ms") == 0) {
        if (mm_parse_u64(v, 1, UINT32_MAX, &f->matchmaker_timeout_ms, why, sizeof(why)) != MM_OK)
            return bad(name, why);
    } else if (strcmp(name, "--stop-deadline-ms") == 0) {
        if (mm_parse_u64(v, 0, 3600000, &f->stop_deadline_ms, why, sizeof(why)) != MM_OK)
            return bad(name, why);
    } else if (strcmp(name, "--log-format") == 0) {
        int fmt = mm_log_format_parse(v);
        if (fmt < 0)
            return bad(name, "must be text or json");
        f->log_format = (mm_log_format)fmt;
    } else if (strcmp(name, "--log-level") == 0) {
        int lvl = mm_log_level_parse(v);
        if (lvl < 0)
            return bad(name, "must be debug, info, warn or error");
        f->log_level = (mm_log_level)lvl;
    } else {
        return 1;
    }
    return 0;
}

static bool
is_own(const char *name)
{
    return strcmp(name, "--matchmaker-timeout-ms") == 0 || strcmp(name, "--stop-deadline-ms") == 0 ||
           strcmp(name, "--log-format") == 0 || strcmp(name, "--log-level") == 0;
}

/* A flag of the front; reads the next argument when it takes a value given that way. */
static int
front_flag(mm_args *args, const mm_flag *fl, mm_httpd_flags *f)
{
    const char *name = fl->name;
    char why[256] = "";
    bool takes = false;
    int rc = mm_front_config_flag(&f->front, name, fl->inline_value, &takes, why, sizeof(why));
    if (rc == 0)
        return bad(name, "unknown flag");
    if (fl->inline_value == NULL && takes) {
        /* "--flag value": the first call only told us that it takes one */
        const char *value = mm_args_value(args, fl);
        if (value == NULL)
            return bad(name, "needs a value");
        why[0] = '\0';
        rc = mm_front_config_flag(&f->front, name, value, &takes, why, sizeof(why));
    }
    if (rc < 0) {
        fprintf(stderr, "bevygap_matchmaker_httpd: %s (see --help)\n", why[0] != '\0' ? why : name);
        return 2;
    }
    return 0;
}

int
mm_httpd_flags_parse(int argc, char **argv, mm_httpd_flags *f)
{
    memset(f, 0, sizeof(*f));
    mm_front_config_init(&f->front);
    f->matchmaker_timeout_ms = MM_NATS_BRIDGE_DEFAULT_TIMEOUT_MS;
    f->stop_deadline_ms = 10000;
    f->log_level = MM_LOG_INFO;
    mm_args args;
    mm_flag fl;
    char why[160];
    int got;
    mm_args_init(&args, argc, argv);
    while ((got = mm_args_flag(&args, &fl, why, sizeof(why))) != 0) {
        if (got < 0)
            return bad("command line", why);
        if (strcmp(fl.name, "--help") == 0) {
            fputs(usage, stdout);
            fputs(mm_front_config_usage(), stdout);
            return 1;
        }
        int rc;
        if (is_own(fl.name)) {
            const char *value = mm_args_value(&args, &fl);
            if (value == NULL)
                return bad(fl.name, "needs a value");
            rc = own_flag(fl.name, value, f);
        } else {
            rc = front_flag(&args, &fl, f);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}
