/*
 * bevygap_matchmaker's flags: the reference's (--app-name, --app-version, --lightyear-private-key,
 * --lightyear-protocol-id, --session-webhook-url) plus ours and the web front's (with --http), in
 * tables read by the shared parser (include/mm/parse.h); the defaults are set once, in
 * flags_init, and --help shows them from there. `--flag value` and `--flag=value` both work.
 * Errors are one line naming the flag, exit status 2; the private key's text is never printed,
 * nor the webhook secret (read from a file or MM_WEBHOOK_SECRET, never the command line; the
 * webhook_url built from it is never logged: main.c logs the base URL only).
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchmaker.h"
#include "mm/parse.h"
#include "mm/budget.h"
#include "mm/provisioner.h"
#include "mm/reaper.h"
#include "mm/waiting_room.h"

static const char usage_head[] =
    "usage: bevygap_matchmaker [flags]   (environment: NATS_HOST, NATS_USER, NATS_PASSWORD, NATS_INSECURE,\n"
    "                                     NATS_CA, NATS_CA_CONTENTS, EDGEGAP_API_KEY (required))\n";

static int
bad(const char *flag, const char *why)
{
    fprintf(stderr, "bevygap_matchmaker: %s: %s (see --help)\n", flag, why);
    return 2;
}

/* ---- the flags whose value is more than a number, a string or a choice ---- */

static mm_err
set_key(void *opts, const char *v, char *why, size_t why_len)
{
    mm_matchmaker_flags *f = opts;
    char reason[160];
    if (mm_token_key_parse(v, &f->key, reason, sizeof(reason)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "not 32 comma-separated numbers 0..255"); /* never the text */
    f->key_source = "--lightyear-private-key";
    return MM_OK;
}

static mm_err
set_kv_storage(void *opts, const char *v, char *why, size_t why_len)
{
    mm_matchmaker_flags *f = opts;
    if (strcmp(v, "file") != 0 && strcmp(v, "memory") != 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "must be file or memory");
    f->kv_memory = strcmp(v, "memory") == 0;
    return MM_OK;
}

static mm_err
set_webhook(void *opts, const char *v, char *why, size_t why_len)
{
    (void)why;
    (void)why_len;
    ((mm_matchmaker_flags *)opts)->webhook_url = v[0] ? v : NULL;
    return MM_OK;
}

/* --http ADDR: the front's first --bind, and the switch to the all-in-one mode */
static mm_err
set_http(void *opts, const char *v, char *why, size_t why_len)
{
    mm_matchmaker_flags *f = opts;
    if (mm_front_config_flag(&f->front, "--bind", v, NULL, why, why_len) != 1)
        return MM_ERR_INVALID;
    f->http = v;
    return MM_OK;
}

#define FIELD(name) offsetof(mm_matchmaker_flags, name)
#define STR(name) MM_OPT_STR, FIELD(name), 0, 0
#define MS(name, lo) MM_OPT_U64, FIELD(name), lo, 86400000
#define U64(name, lo, hi) MM_OPT_U64, FIELD(name), lo, hi
#define CUSTOM MM_OPT_CUSTOM, 0, 0, 0
static const mm_opt own[] = {
    {"--app-name", STR(app_name), "NAME", "Edgegap app", NULL, NULL, NULL},
    {"--app-version", STR(app_version), "VERSION", "Edgegap app version", NULL, NULL, NULL},
    {"--lightyear-private-key", CUSTOM, "KEY", "32 comma-separated numbers 0..255, visible in ps",
     "from the file below, else $LIGHTYEAR_PRIVATE_KEY, else all zeros as the reference", NULL, set_key},
    {"--lightyear-private-key-file", STR(key_file), "FILE", "the key's text in a file (e.g. a mounted Secret)", NULL, NULL, NULL},
    {"--lightyear-protocol-id", U64(protocol_id, 0, UINT64_MAX), "N", "protocol id of the connect tokens", NULL, NULL, NULL},
    {"--session-webhook-url", CUSTOM, "URL", "webhook Edgegap calls for sessions, passed as it is (polling unchanged)", "none",
     NULL, set_webhook},
    {"--webhook-public-url", STR(webhook_public_url), "URL",
     "readiness by webhook: the http(s) base URL of the web front that Edgegap reaches; Edgegap calls "
     "<URL>/matchmaker/edgegap-webhook/<secret>",
     "off", NULL, NULL},
    {"--webhook-secret-file", STR(webhook_secret_file), "FILE",
     "the webhook path's secret (16..128 of [A-Za-z0-9_-]); with webhooks on", "$MM_WEBHOOK_SECRET", NULL, NULL},
    {"--webhook-poll-ms", MS(webhook_poll_ms, 1), "MS", "with webhooks on: the fallback poll grid (first poll and interval)", NULL,
     NULL, NULL},
    {"--orphan-grace-ms", U64(orphan_grace_ms, 0, 600000), "MS",
     "with webhooks on: check a webhook of another replica's unsettled create this long after it came, and delete the "
     "session if that replica is dead and nothing recorded it; 0: no create intents, the webhook URL as before",
     NULL, NULL, NULL},
    {"--edgegap-url", STR(edgegap_url), "URL", "Edgegap API base URL", NULL, NULL, NULL},
    {"--poll-delay-ms", MS(poll_delay_ms, 1), "MS", "first session poll after creation", NULL, NULL, NULL},
    {"--poll-interval-ms", MS(poll_interval_ms, 1), "MS", "later session polls, on a fixed grid from the first", NULL, NULL, NULL},
    {"--session-timeout-ms", MS(session_timeout_ms, 1), "MS", "a session not ready by then is deleted: Error 408", NULL, NULL,
     NULL},
    {"--cert-wait-ms", MS(cert_wait_ms, 1), "MS", "how long a ready session waits for its cert digest", NULL, NULL, NULL},
    {"--port-name", STR(port_name), "NAME", "deployment port given to players", "the only port", NULL, NULL},
    {"--byte-order", MM_OPT_ENUM, FIELD(byte_order), 0, 0, "little|big",
     "token integer byte order: little for Lightyear <= 0.19, big for >= 0.20", NULL,
     (const mm_opt_choice[]){{"little", MM_BYTE_ORDER_LITTLE}, {"big", MM_BYTE_ORDER_BIG}, {NULL, 0}}, NULL},
    {"--kv-replicas", MM_OPT_INT, FIELD(kv_replicas), 1, 5, "N",
     "replicas of new KV buckets and the delete stream: 1, or 3 in a JetStream cluster; existing ones are kept as they are", NULL,
     NULL, NULL},
    {"--kv-storage", CUSTOM, "file|memory", "storage of new buckets and the stream", "file", NULL, set_kv_storage},
    {"--max-edgegap-in-flight", U64(max_edgegap_in_flight, 1, 1024), "N", "Edgegap calls at once", NULL, NULL, NULL},
    {"--max-edgegap-queued", U64(max_edgegap_queued, 1, 1048576), "N",
     "Edgegap calls waiting behind those, a quarter kept for session creates; a create beyond it is Error 503", NULL, NULL,
     NULL},
    {"--edgegap-timeout-ms", MS(edgegap_timeout_ms, 100), "MS", "one Edgegap call; a hang ends as Error 504", NULL, NULL, NULL},
    {"--edgegap-retries", U64(edgegap_retries, 0, 100), "N", "repeats of a session create answered 429/503 or not sent", NULL,
     NULL, NULL},
    {"--edgegap-backoff-ms", MS(edgegap_backoff_ms, 1), "MS", "first retry backoff, doubling, jittered, up to 5000", NULL, NULL,
     NULL},
    {"--edgegap-budget", U64(edgegap_budget, 0, 1000000), "RPS",
     "Edgegap session creates per second for the whole fleet, shared by the live replicas (KV mm_fleet); new players "
     "wait in line for it; 0: off, each replica alone within --max-edgegap-in-flight",
     NULL, NULL, NULL},
    {"--edgegap-get-budget", U64(edgegap_get_budget, 0, 1000000), "RPS",
     "with --edgegap-budget: Edgegap session GETs (status polls) per second for the whole fleet, a budget of their own; "
     "0: not gated",
     NULL, NULL, NULL},
    {"--edgegap-delete-budget", U64(edgegap_delete_budget, 0, 1000000), "RPS",
     "with --edgegap-budget: the delete workers' Edgegap session DELETEs per second for the whole fleet, a budget of "
     "their own; 0: not gated",
     NULL, NULL, NULL},
    {"--waiting-room-max", U64(waiting_room_max, 1, 10000000), "N",
     "with --edgegap-budget: players waiting in line on this replica at most; beyond, Error 503 (try again)", NULL, NULL, NULL},
    {"--max-line-wait-ms", U64(max_line_wait_ms, 1000, 3600000), "MS",
     "with --edgegap-budget: the longest wait in line; beyond, Error 503 (waited too long in line, try again). "
     "--session-timeout-ms counts from leaving the line",
     NULL, NULL, NULL},
    {"--fleet-heartbeat-ms", U64(fleet_heartbeat_ms, 50, 60000), "MS",
     "with --edgegap-budget: how often a replica announces itself; one not heard for 3 heartbeats is gone", NULL, NULL, NULL},
    {"--reaper-age-ms", MS(reaper_age_ms, 1), "MS", "unclaimed session age limit", NULL, NULL, NULL},
    {"--reaper-margin-ms", MS(reaper_margin_ms, 1), "MS", "added to the age limit", NULL, NULL, NULL},
    {"--reaper-scan-ms", MS(reaper_scan_ms, 1), "MS", "reaper scan period", NULL, NULL, NULL},
    {"--stop-deadline-ms", MS(stop_deadline_ms, 0), "MS", "on SIGTERM, how long requests in flight may finish", NULL, NULL, NULL},
    {"--log-format", MM_OPT_ENUM, FIELD(log_format), 0, 0, "text|json", "log line format", NULL, mm_opt_log_formats, NULL},
    {"--log-level", MM_OPT_ENUM, FIELD(log_level), 0, 0, "debug|info|warn|error", "lowest level logged", NULL, mm_opt_log_levels,
     NULL},
    {"--http", CUSTOM, "ADDR",
     "also serve the web front (all-in-one mode: requests go straight to this matchmaker, no NATS hop) on ADDR, e.g. 0.0.0.0:3000",
     "off", NULL, set_http},
};
#undef FIELD
#undef STR
#undef MS
#undef U64
#undef CUSTOM

/* The defaults: the one place they are written (--help shows them from here). */
static void
flags_init(void *opts)
{
    mm_matchmaker_flags *f = opts;
    memset(f, 0, sizeof(*f));
    mm_front_config_init(&f->front);
    f->app_name = "spacepit_server";
    f->app_version = "v0.0.1";
    f->protocol_id = 1982;
    f->edgegap_url = "https://api.edgegap.com";
    mm_provisioner_config pd; /* the provisioner's defaults are the flags' defaults */
    mm_provisioner_config_init(&pd);
    f->poll_delay_ms = pd.poll_delay_ms;
    f->poll_interval_ms = pd.poll_interval_ms;
    f->webhook_poll_ms = 5000;
    f->orphan_grace_ms = 10000;
    f->session_timeout_ms = pd.session_timeout_ms;
    f->cert_wait_ms = pd.cert_wait_ms;
    f->max_edgegap_in_flight = pd.max_in_flight;
    f->kv_replicas = 1;
    f->max_edgegap_queued = pd.max_queued;
    f->edgegap_timeout_ms = pd.edgegap_timeout_ms;
    f->edgegap_retries = 3; /* the matchmaker retries creates; the provisioner's own default is none */
    f->edgegap_backoff_ms = pd.backoff_base_ms;
    f->waiting_room_max = MM_WAITING_ROOM_DEFAULT_MAX;
    f->max_line_wait_ms = MM_WAITING_ROOM_DEFAULT_MAX_WAIT_MS;
    f->fleet_heartbeat_ms = MM_BUDGET_DEFAULT_HEARTBEAT_MS;
    f->reaper_age_ms = MM_REAPER_DEFAULT_AGE_MS; /* the reaper's own defaults (include/mm/reaper.h) */
    f->reaper_margin_ms = MM_REAPER_DEFAULT_MARGIN_MS;
    f->reaper_scan_ms = MM_REAPER_DEFAULT_SCAN_MS;
    f->stop_deadline_ms = 10000;
    f->log_level = MM_LOG_INFO;
}

/* Reads the key from path: its text (at most 4 KB, surrounding white space ignored). */
static int
key_from_file(const char *path, mm_token_key *key)
{
    static const char flag[] = "--lightyear-private-key-file";
    char text[4097];
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "bevygap_matchmaker: %s: cannot open %s: %s\n", flag, path, strerror(errno));
        return 2;
    }
    size_t n = fread(text, 1, sizeof(text), fp);
    bool err = ferror(fp) != 0;
    fclose(fp);
    int rc = 0;
    if (err)
        rc = bad(flag, "reading the file failed");
    else if (n == sizeof(text))
        rc = bad(flag, "the file is larger than 4096 bytes");
    else {
        text[n] = '\0';
        char *start = text, *end = text + n;
        while (start < end && isspace((unsigned char)*start))
            start++;
        while (end > start && isspace((unsigned char)end[-1]))
            *--end = '\0';
        char why[160];
        if (mm_token_key_parse(start, key, why, sizeof(why)) != MM_OK)
            rc = bad(flag, "the file does not hold 32 comma-separated numbers 0..255");
    }
    explicit_bzero(text, sizeof(text));
    return rc;
}

/* The key's source: the flag, else the file, else $LIGHTYEAR_PRIVATE_KEY, else all zeros. */
static int
resolve_key(mm_matchmaker_flags *f)
{
    if (f->key_source != NULL && f->key_file != NULL)
        return bad("--lightyear-private-key-file", "give the key once: --lightyear-private-key or the file, not both");
    if (f->key_source != NULL)
        return 0;
    if (f->key_file != NULL) {
        f->key_source = "--lightyear-private-key-file";
        return key_from_file(f->key_file, &f->key);
    }
    const char *env = getenv("LIGHTYEAR_PRIVATE_KEY");
    if (env != NULL && env[0] != '\0') {
        char why[160];
        if (mm_token_key_parse(env, &f->key, why, sizeof(why)) != MM_OK)
            return bad("LIGHTYEAR_PRIVATE_KEY", "not 32 comma-separated numbers 0..255");
        f->key_source = "LIGHTYEAR_PRIVATE_KEY";
        return 0;
    }
    f->key_source = NULL; /* the all-zero default */
    return 0;
}

#define WEBHOOK_PATH "/matchmaker/edgegap-webhook/"
#define SECRET_MIN 16
#define SECRET_MAX 128

/* The secret's rule: SECRET_MIN..SECRET_MAX of [A-Za-z0-9_-] (it is a URL path segment). */
static bool
secret_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < SECRET_MIN || n > SECRET_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* Reads the secret (at most 4 KB, surrounding white space ignored) into out (SECRET_MAX + 1). */
static int
secret_from_file(const char *path, char *out)
{
    static const char flag[] = "--webhook-secret-file";
    char text[4097];
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "bevygap_matchmaker: %s: cannot open %s: %s\n", flag, path, strerror(errno));
        return 2;
    }
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    bool err = ferror(fp) != 0 || !feof(fp);
    fclose(fp);
    int rc = 0;
    text[n] = '\0';
    char *start = text, *end = text + n;
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (err)
        rc = bad(flag, "reading the file failed, or it is larger than 4096 bytes");
    else if (!secret_valid(start))
        rc = bad(flag, "the file must hold 16..128 characters of [A-Za-z0-9_-]");
    else
        memcpy(out, start, strlen(start) + 1); /* secret_valid: at most SECRET_MAX */
    explicit_bzero(text, sizeof(text));
    return rc;
}

static bool
printable(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
        if (*c <= 0x20 || *c >= 0x7f)
            return false;
    return true;
}

/* Webhooks: on with --webhook-public-url; the secret from the file, else $MM_WEBHOOK_SECRET. */
static int
resolve_webhook(mm_matchmaker_flags *f)
{
    if (f->webhook_public_url == NULL) {
        if (f->webhook_secret_file != NULL)
            return bad("--webhook-secret-file", "needs --webhook-public-url");
        return 0;
    }
    if (f->webhook_url != NULL)
        return bad("--webhook-public-url", "give --webhook-public-url or --session-webhook-url, not both");
    const char *u = f->webhook_public_url;
    size_t n = strlen(u);
    size_t prefix = strncmp(u, "https://", 8) == 0 ? 8 : strncmp(u, "http://", 7) == 0 ? 7 : 0;
    if (prefix == 0 || n <= prefix || u[prefix] == '/' || n > 1024 ||
        strpbrk(u, "?#") != NULL || !printable(u))
        return bad("--webhook-public-url", "must be an http:// or https:// base URL without query or fragment, at most 1024 bytes");
    while (n > 0 && u[n - 1] == '/')
        n--;
    char secret[SECRET_MAX + 1] = "";
    if (f->webhook_secret_file != NULL) {
        /* both tables name --webhook-secret-file and ours reads it first: with --http the web
         * front's receiver checks the same secret, so it gets the same file */
        if (f->front.webhook_secret_file[0] == '\0' && strlen(f->webhook_secret_file) < sizeof(f->front.webhook_secret_file))
            snprintf(f->front.webhook_secret_file, sizeof(f->front.webhook_secret_file), "%s", f->webhook_secret_file);
        int rc = secret_from_file(f->webhook_secret_file, secret);
        if (rc != 0)
            return rc;
    } else {
        const char *env = getenv("MM_WEBHOOK_SECRET");
        if (env == NULL || env[0] == '\0')
            return bad("--webhook-public-url", "needs a secret: --webhook-secret-file FILE or MM_WEBHOOK_SECRET");
        if (!secret_valid(env))
            return bad("MM_WEBHOOK_SECRET", "must be 16..128 characters of [A-Za-z0-9_-]");
        snprintf(secret, sizeof(secret), "%s", env);
    }
    snprintf(f->webhook_built, sizeof(f->webhook_built), "%.*s%s%s", (int)n, u, WEBHOOK_PATH, secret);
    explicit_bzero(secret, sizeof(secret));
    f->webhook_url = f->webhook_built;
    f->webhooks = true;
    return 0;
}

int
mm_matchmaker_flags_parse(int argc, char **argv, mm_matchmaker_flags *f)
{
    const mm_opt_table t[2] = {
        {.opts = own, .n = sizeof(own) / sizeof(own[0])},
        {.opts = mm_front_config_flags.opts, .n = mm_front_config_flags.n, .base = offsetof(mm_matchmaker_flags, front)},
    };
    const mm_opts_cli cli = {.prog = "bevygap_matchmaker", .head = usage_head, .tables = t, .n_tables = 2, .n_own = 1,
                             .width = 29,
                             .more = "Web front (with --http; --bind adds addresses; --admin-bind also without --http, for the\n"
                                     "matchmaker's own /metrics, /healthz, /readyz):\n",
                             .more_width = 32,
                             .init = flags_init, .size = sizeof(*f)};
    int rc = mm_opts_cli_parse(&cli, f, argc, argv);
    if (rc == 0 && f->edgegap_budget == 0 && f->edgegap_get_budget > 0)
        rc = bad("--edgegap-get-budget", "needs --edgegap-budget (the fleet's create budget)");
    if (rc == 0 && f->edgegap_budget == 0 && f->edgegap_delete_budget > 0)
        rc = bad("--edgegap-delete-budget", "needs --edgegap-budget (the fleet's create budget)");
    if (rc == 0)
        rc = resolve_key(f);
    return rc != 0 ? rc : resolve_webhook(f);
}

void
mm_matchmaker_flags_dispose(mm_matchmaker_flags *flags)
{
    if (flags != NULL) {
        mm_token_key_wipe(&flags->key);
        explicit_bzero(flags->webhook_built, sizeof(flags->webhook_built));
    }
}
