/*
 * bevygap_matchmaker's flags: the reference's (--app-name, --app-version, --lightyear-private-key,
 * --lightyear-protocol-id, --session-webhook-url) plus ours, each with a default shown in --help.
 * `--flag value` and `--flag=value` both work. Errors are one line naming the flag; the private
 * key's text is never printed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchmaker.h"
#include "mm/parse.h"

static const char usage[] =
    "usage: bevygap_matchmaker [flags]   (environment: NATS_HOST, NATS_USER, NATS_PASSWORD, NATS_INSECURE,\n"
    "                                     NATS_CA, NATS_CA_CONTENTS, EDGEGAP_API_KEY (required))\n"
    "  --app-name NAME               Edgegap app (default spacepit_server)\n"
    "  --app-version VERSION         Edgegap app version (default v0.0.1)\n"
    "  --lightyear-private-key KEY   32 comma-separated numbers 0..255 (default: the file below, else\n"
    "                                $LIGHTYEAR_PRIVATE_KEY, else all zeros as the reference; visible in ps)\n"
    "  --lightyear-private-key-file FILE  the key's text in a file (e.g. a mounted Secret)\n"
    "  --lightyear-protocol-id N     protocol id of the connect tokens (default 1982)\n"
    "  --session-webhook-url URL     webhook Edgegap calls for sessions (default none)\n"
    "  --edgegap-url URL             Edgegap API base URL (default https://api.edgegap.com)\n"
    "  --poll-delay-ms MS            first session poll after creation (default 200)\n"
    "  --poll-interval-ms MS         later session polls, on a fixed grid from the first (default 200)\n"
    "  --session-timeout-ms MS       a session not ready by then is deleted: Error 408 (default 60000)\n"
    "  --cert-wait-ms MS             how long a ready session waits for its cert digest (default 5000)\n"
    "  --port-name NAME              deployment port given to players (default: the only port)\n"
    "  --byte-order little|big       token integer byte order (default little: Lightyear <= 0.19)\n"
    "  --kv-replicas N               replicas of new KV buckets and the delete stream: 1, or 3 in a\n"
    "                                JetStream cluster (default 1; existing ones are kept as they are)\n"
    "  --kv-storage file|memory      storage of new buckets and the stream (default file)\n"
    "  --max-edgegap-in-flight N     Edgegap calls at once (default 16)\n"
    "  --max-edgegap-queued N        Edgegap calls waiting behind those, a quarter kept for session\n"
    "                                creates; a create beyond it is Error 503 (default 1024)\n"
    "  --edgegap-timeout-ms MS       one Edgegap call; a hang ends as Error 504 (default 10000)\n"
    "  --edgegap-retries N           repeats of a session create answered 429/503 or not sent (default 3)\n"
    "  --edgegap-backoff-ms MS       first retry backoff, doubling, jittered, up to 5000 (default 250)\n"
    "  --reaper-age-ms MS            unclaimed session age limit (default 60000)\n"
    "  --reaper-margin-ms MS         added to the age limit (default 15000)\n"
    "  --reaper-scan-ms MS           reaper scan period (default 5000)\n"
    "  --stop-deadline-ms MS         on SIGTERM, how long requests in flight may finish (default 10000)\n"
    "  --log-format text|json        (default text)\n"
    "  --log-level debug|info|warn|error (default info)\n"
    "  --http ADDR                   also serve the web front (all-in-one mode: requests go straight to\n"
    "                                this matchmaker, no NATS hop) on ADDR, e.g. 0.0.0.0:3000 (default off)\n"
    "  --help                        this text\n"
    "Web front (with --http; --bind adds addresses):\n";

static int
bad(const char *flag, const char *why)
{
    fprintf(stderr, "bevygap_matchmaker: %s: %s (see --help)\n", flag, why);
    return 2;
}

static int
ms_flag(const char *flag, const char *v, uint64_t min, uint64_t *out)
{
    char why[160];
    if (mm_parse_u64(v, min, 86400000, out, why, sizeof(why)) != MM_OK)
        return bad(flag, why);
    return 0;
}

static int
one(const char *name, const char *v, mm_matchmaker_flags *f)
{
    char why[160];
    if (strcmp(name, "--app-name") == 0)
        f->app_name = v;
    else if (strcmp(name, "--app-version") == 0)
        f->app_version = v;
    else if (strcmp(name, "--lightyear-private-key") == 0) {
        if (mm_token_key_parse(v, &f->key, why, sizeof(why)) != MM_OK)
            return bad(name, "not 32 comma-separated numbers 0..255");
        f->key_source = "--lightyear-private-key";
    } else if (strcmp(name, "--lightyear-private-key-file") == 0)
        f->key_file = v;
    else if (strcmp(name, "--kv-replicas") == 0) {
        uint64_t n = 0;
        if (mm_parse_u64(v, 1, 5, &n, why, sizeof(why)) != MM_OK)
            return bad(name, why);
        f->kv_replicas = (int)n;
    } else if (strcmp(name, "--kv-storage") == 0) {
        if (strcmp(v, "file") == 0)
            f->kv_memory = false;
        else if (strcmp(v, "memory") == 0)
            f->kv_memory = true;
        else
            return bad(name, "must be file or memory");
    } else if (strcmp(name, "--lightyear-protocol-id") == 0) {
        if (mm_parse_u64(v, 0, UINT64_MAX, &f->protocol_id, why, sizeof(why)) != MM_OK)
            return bad(name, why);
    } else if (strcmp(name, "--session-webhook-url") == 0)
        f->webhook_url = v[0] ? v : NULL;
    else if (strcmp(name, "--edgegap-url") == 0)
        f->edgegap_url = v;
    else if (strcmp(name, "--poll-delay-ms") == 0)
        return ms_flag(name, v, 1, &f->poll_delay_ms);
    else if (strcmp(name, "--poll-interval-ms") == 0)
        return ms_flag(name, v, 1, &f->poll_interval_ms);
    else if (strcmp(name, "--session-timeout-ms") == 0)
        return ms_flag(name, v, 1, &f->session_timeout_ms);
    else if (strcmp(name, "--cert-wait-ms") == 0)
        return ms_flag(name, v, 1, &f->cert_wait_ms);
    else if (strcmp(name, "--port-name") == 0)
        f->port_name = v;
    else if (strcmp(name, "--byte-order") == 0) {
        if (strcmp(v, "little") == 0)
            f->byte_order = MM_BYTE_ORDER_LITTLE;
        else if (strcmp(v, "big") == 0)
            f->byte_order = MM_BYTE_ORDER_BIG;
        else
            return bad(name, "must be little or big");
    } else if (strcmp(name, "--max-edgegap-in-flight") == 0) {
        if (mm_parse_u64(v, 1, 1024, &f->max_edgegap_in_flight, why, sizeof(why)) != MM_OK)
            return bad(name, why);
    } else if (strcmp(name, "--max-edgegap-queued") == 0) {
        if (mm_parse_u64(v, 1, 1048576, &f->max_edgegap_queued, why, sizeof(why)) != MM_OK)
            return bad(name, why);
    } else if (strcmp(name, "--edgegap-timeout-ms") == 0)
        return ms_flag(name, v, 100, &f->edgegap_timeout_ms);
    else if (strcmp(name, "--edgegap-retries") == 0) {
        if (mm_parse_u64(v, 0, 100, &f->edgegap_retries, why, sizeof(why)) != MM_OK)
            return bad(name, why);
    } else if (strcmp(name, "--edgegap-backoff-ms") == 0)
        return ms_flag(name, v, 1, &f->edgegap_backoff_ms);
    else if (strcmp(name, "--reaper-age-ms") == 0)
        return ms_flag(name, v, 1, &f->reaper_age_ms);
    else if (strcmp(name, "--reaper-margin-ms") == 0)
        return ms_flag(name, v, 1, &f->reaper_margin_ms);
    else if (strcmp(name, "--reaper-scan-ms") == 0)
        return ms_flag(name, v, 1, &f->reaper_scan_ms);
    else if (strcmp(name, "--stop-deadline-ms") == 0)
        return ms_flag(name, v, 0, &f->stop_deadline_ms);
    else if (strcmp(name, "--log-format") == 0) {
        int fmt = mm_log_format_parse(v);
        if (fmt < 0)
            return bad(name, "must be text or json");
        f->log_format = (mm_log_format)fmt;
    } else if (strcmp(name, "--log-level") == 0) {
        int lvl = mm_log_level_parse(v);
        if (lvl < 0)
            return bad(name, "must be debug, info, warn or error");
        f->log_level = (mm_log_level)lvl;
    } else if (strcmp(name, "--http") == 0) {
        char why_front[256];
        if (mm_front_config_flag(&f->front, "--bind", v, NULL, why_front, sizeof(why_front)) != 1)
            return bad(name, why_front);
        f->http = v;
    } else {
        char why_front[256];
        int rc = mm_front_config_flag(&f->front, name, v, NULL, why_front, sizeof(why_front));
        if (rc == 0)
            return bad(name, "unknown flag");
        if (rc < 0) {
            fprintf(stderr, "bevygap_matchmaker: %s (see --help)\n", why_front);
            return 2;
        }
    }
    return 0;
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

int
mm_matchmaker_flags_parse(int argc, char **argv, mm_matchmaker_flags *f)
{
    memset(f, 0, sizeof(*f));
    mm_front_config_init(&f->front);
    f->app_name = "spacepit_server";
    f->app_version = "v0.0.1";
    f->protocol_id = 1982;
    f->edgegap_url = "https://api.edgegap.com";
    f->poll_delay_ms = 200;
    f->poll_interval_ms = 200;
    f->session_timeout_ms = 60000;
    f->cert_wait_ms = 5000;
    f->max_edgegap_in_flight = 16;
    f->kv_replicas = 1;
    f->max_edgegap_queued = 1024;
    f->edgegap_timeout_ms = 10000;
    f->edgegap_retries = 3;
    f->edgegap_backoff_ms = 250;
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
        if (fl.inline_value == NULL) {
            bool takes = true;
            mm_front_config probe = f->front;
            if (mm_front_config_flag(&probe, fl.name, NULL, &takes, NULL, 0) == 1 && !takes) {
                f->front = probe; /* a web-front flag without a value */
                continue;
            }
        }
        const char *value = mm_args_value(&args, &fl);
        if (value == NULL)
            return bad(fl.name, "needs a value");
        int rc = one(fl.name, value, f);
        if (rc != 0)
            return rc;
    }
    return resolve_key(f);
}

void
mm_matchmaker_flags_dispose(mm_matchmaker_flags *flags)
{
    if (flags != NULL)
        mm_token_key_wipe(&flags->key);
}
