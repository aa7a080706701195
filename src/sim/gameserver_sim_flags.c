/*
 * gameserver_sim flags: one table lists every flag for the parser (names, whether it takes a value)
 * and for --help (value name, default, meaning). Each value is parsed strictly (include/mm/parse.h)
 * and a bad one is a single line naming the flag, exit status 2. "--flag value" and "--flag=value"
 * both work. The private key is never echoed, not even in errors.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameserver_sim.h"
#include "mm/parse.h"

typedef struct flag {
    const char *name;
    const char *metavar; /* NULL for switches, which take no value */
    const char *def;     /* shown by --help (the parser's defaults are set in mm__gs_flags_parse) */
    const char *help;
} flag;

static const flag flags[] = {
    {"--edgegap-sim", "URL", "http://127.0.0.1:8800",
     "base URL of edgegap_sim; GET URL/__sim/deployments is polled (no authorization)"},
    {"--poll-ms", "MS", "250", "how often to poll the deployments (10..60000)"},
    {"--http-timeout-ms", "MS", "2000", "timeout of one poll (10..60000)"},
    {"--cert-delay-ms", "MS", "0", "delay from a deployment turning ready to cert_digests[public_ip] being written; -1: never"},
    {"--protocol-id", "N", "1982, the reference matchmaker's default", "Lightyear protocol id that connect tokens must carry"},
    {"--private-key", "KEY", "32 zeros, the reference matchmaker's default",
     "Lightyear private key: 32 comma-separated numbers 0..255, brackets and spaces allowed"},
    {"--private-key-env", "NAME", "unset",
     "read the private key (same format) from environment variable NAME, keeping it out of ps"},
    {"--byte-order", "little|big", "little", "integer byte order of connect tokens: little (Lightyear <= 0.19) or big (>= 0.20)"},
    {"--subject-prefix", "PREFIX", "gameserver_sim", "request API subjects are PREFIX.connect and PREFIX.disconnect"},
    {"--nats-name", "NAME", "gameserver_sim", "NATS connection name"},
    {"--auto", NULL, "off", "auto mode: also play the clients; connect each client that appears in sessions_ly2eg (no token)"},
    {"--auto-connect-ms", "MS", "500", "auto mode: delay from the sessions_ly2eg entry to the connect"},
    {"--hold-ms", "MS", "5000", "auto mode: how long a client stays connected; -1: until exit"},
    {"--never-claim", "SHARE", "0", "auto mode: share of clients (0..1) never connected (left unclaimed)"},
    {"--log-level", "LEVEL", "info", "debug, info, warn or error"},
    {"--log-json", NULL, "off", "log one JSON object per line"},
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static void
usage(void)
{
    printf("usage: gameserver_sim [flags]\n\n"
           "Plays every game server the Edgegap simulator (edgegap_sim) runs: writes their certificate\n"
           "digests to KV, accepts client connects with Lightyear connect tokens over NATS, and reports\n"
           "connections in KV active_connections like a bevygap game server. See docs/gameserver_sim.md.\n\n"
           "Environment: NATS_HOST (required), NATS_USER, NATS_PASSWORD/NATS_PASS, NATS_INSECURE, NATS_CA,\n"
           "NATS_CA_CONTENTS.\n\nflags:\n");
    for (size_t i = 0; i < NFLAGS; i++)
        printf("  %s%s%s\n        %s (default: %s)\n", flags[i].name, flags[i].metavar != NULL ? " " : "",
               flags[i].metavar != NULL ? flags[i].metavar : "", flags[i].help, flags[i].def);
    printf("  --help\n        this text\n");
}

static int
bad(const char *name, const char *why)
{
    fprintf(stderr, "gameserver_sim: %s: %s\n", name, why);
    return 2;
}

static int
parse_ms(const char *name, const char *text, int allow_never, int64_t min, int64_t max, int64_t *out)
{
    char why[160];
    if (allow_never && strcmp(text, "-1") == 0) {
        *out = -1;
        return 0;
    }
    if (mm_parse_i64(text, min, max, out, why, sizeof(why)) != MM_OK)
        return bad(name, why);
    return 0;
}

/* Applies one flag's value to cfg; returns 0 or 2 (after printing why). */
static int
apply(gs_config *cfg, const flag *f, const char *v)
{
    char why[200];
    const char *n = f->name;
    if (strcmp(n, "--edgegap-sim") == 0) {
        size_t len = strlen(v);
        while (len > 0 && v[len - 1] == '/')
            len--;
        if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || len <= 8 || len >= sizeof(cfg->edgegap_url))
            return bad(n, "expected an http:// or https:// base URL");
        memcpy(cfg->edgegap_url, v, len);
        cfg->edgegap_url[len] = '\0';
        return 0;
    }
    if (strcmp(n, "--poll-ms") == 0)
        return parse_ms(n, v, 0, 10, 60000, &cfg->poll_ms);
    if (strcmp(n, "--http-timeout-ms") == 0)
        return parse_ms(n, v, 0, 10, 60000, &cfg->http_timeout_ms);
    if (strcmp(n, "--cert-delay-ms") == 0)
        return parse_ms(n, v, 1, 0, 86400000, &cfg->cert_delay_ms);
    if (strcmp(n, "--auto-connect-ms") == 0)
        return parse_ms(n, v, 0, 0, 86400000, &cfg->auto_connect_ms);
    if (strcmp(n, "--hold-ms") == 0)
        return parse_ms(n, v, 1, 0, 86400000, &cfg->hold_ms);
    if (strcmp(n, "--protocol-id") == 0)
        return mm_parse_u64(v, 0, UINT64_MAX, &cfg->protocol_id, why, sizeof(why)) == MM_OK ? 0 : bad(n, why);
    if (strcmp(n, "--private-key") == 0)
        return mm_token_key_parse(v, &cfg->key, why, sizeof(why)) == MM_OK ? 0 : bad(n, why);
    if (strcmp(n, "--private-key-env") == 0) {
        const char *text = getenv(v);
        if (text == NULL)
            return bad(n, "that environment variable is not set");
        return mm_token_key_parse(text, &cfg->key, why, sizeof(why)) == MM_OK ? 0 : bad(n, why);
    }
    if (strcmp(n, "--byte-order") == 0) {
        if (strcmp(v, "little") == 0)
            cfg->byte_order = MM_BYTE_ORDER_LITTLE;
        else if (strcmp(v, "big") == 0)
            cfg->byte_order = MM_BYTE_ORDER_BIG;
        else
            return bad(n, "expected little or big");
        return 0;
    }
    if (strcmp(n, "--subject-prefix") == 0 || strcmp(n, "--nats-name") == 0) {
        char *dst = strcmp(n, "--nats-name") == 0 ? cfg->nats_name : cfg->subject_prefix;
        size_t len = strlen(v);
        if (len == 0 || len >= sizeof(cfg->subject_prefix) ||
            strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != len || v[0] == '.' ||
            v[len - 1] == '.' || strstr(v, "..") != NULL)
            return bad(n, "expected 1..63 characters of [A-Za-z0-9_.-], no empty '.'-separated part");
        memcpy(dst, v, len + 1);
        return 0;
    }
    if (strcmp(n, "--never-claim") == 0) {
        char *end = NULL;
        errno = 0;
        double share = strtod(v, &end);
        if (end == v || *end != '\0' || errno != 0 || !isfinite(share) || share < 0 || share > 1)
            return bad(n, "expected a number from 0 to 1");
        cfg->never_claim = share;
        return 0;
    }
    if (strcmp(n, "--log-level") == 0) {
        int level = mm_log_level_parse(v);
        if (level < 0)
            return bad(n, "expected debug, info, warn or error");
        cfg->log_level = (mm_log_level)level;
        return 0;
    }
    return bad(n, "internal error: unhandled flag");
}

int
mm__gs_flags_parse(int argc, char **argv, gs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->edgegap_url, sizeof(cfg->edgegap_url), "http://127.0.0.1:8800");
    cfg->poll_ms = 250;
    cfg->http_timeout_ms = 2000;
    cfg->cert_delay_ms = 0;
    cfg->protocol_id = 1982;
    cfg->byte_order = MM_BYTE_ORDER_LITTLE;
    snprintf(cfg->subject_prefix, sizeof(cfg->subject_prefix), "gameserver_sim");
    snprintf(cfg->nats_name, sizeof(cfg->nats_name), "gameserver_sim");
    cfg->auto_connect_ms = 500;
    cfg->hold_ms = 5000;
    cfg->never_claim = 0;
    cfg->log_level = MM_LOG_INFO;

    mm_args args;
    mm_flag fl;
    char why[160];
    int got;
    mm_args_init(&args, argc, argv);
    while ((got = mm_args_flag(&args, &fl, why, sizeof(why))) != 0) {
        if (got < 0)
            return bad("command line", why);
        if (strcmp(fl.name, "--help") == 0) {
            usage();
            return 1;
        }
        const flag *f = NULL;
        for (size_t k = 0; k < NFLAGS && f == NULL; k++)
            if (strcmp(flags[k].name, fl.name) == 0)
                f = &flags[k];
        if (f == NULL) {
            fprintf(stderr, "gameserver_sim: unknown flag '%s' (see --help)\n", fl.name);
            return 2;
        }
        if (f->metavar == NULL) {
            if (fl.inline_value != NULL)
                return bad(f->name, "takes no value");
            if (strcmp(f->name, "--auto") == 0)
                cfg->auto_mode = true;
            else
                cfg->log_json = true;
            continue;
        }
        const char *value = mm_args_value(&args, &fl);
        if (value == NULL)
            return bad(f->name, "missing value");
        int rc = apply(cfg, f, value);
        if (rc != 0)
            return rc;
    }
    return 0;
}
