/*
 * gameserver_sim flags: one table (include/mm/parse.h: mm_opt) lists every flag for the shared
 * parser and for --help (value name, meaning; the defaults come from flags_init). Each value is
 * parsed strictly and a bad one is a single line naming the flag, exit status 2. "--flag value"
 * and "--flag=value" both work. The private key is never echoed, not even in errors.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gameserver_sim.h"
#include "mm/parse.h"

#define DEFAULT_EDGEGAP_SIM "http://127.0.0.1:8800"
#define DEFAULT_NAME "gameserver_sim" /* of the subject prefix and of the NATS connection */

static mm_err
set_edgegap_sim(void *opts, const char *v, char *why, size_t why_len)
{
    gs_config *cfg = opts;
    size_t len = strlen(v);
    while (len > 0 && v[len - 1] == '/')
        len--;
    if ((strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) || len <= 8 || len >= sizeof(cfg->edgegap_url))
        return mm_fail(MM_ERR_INVALID, why, why_len, "expected an http:// or https:// base URL");
    memcpy(cfg->edgegap_url, v, len);
    cfg->edgegap_url[len] = '\0';
    return MM_OK;
}

static mm_err
set_key(void *opts, const char *v, char *why, size_t why_len)
{
    return mm_token_key_parse(v, &((gs_config *)opts)->key, why, why_len);
}

static mm_err
set_key_env(void *opts, const char *v, char *why, size_t why_len)
{
    const char *text = getenv(v);
    if (text == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "that environment variable is not set");
    return set_key(opts, text, why, why_len);
}

/* A NATS subject token sequence: 1..63 characters of [A-Za-z0-9_.-], no empty '.'-separated part. */
static mm_err
set_name(char dst[64], const char *v, char *why, size_t why_len)
{
    size_t len = strlen(v);
    if (len == 0 || len >= 64 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != len ||
        v[0] == '.' || v[len - 1] == '.' || strstr(v, "..") != NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "expected 1..63 characters of [A-Za-z0-9_.-], no empty '.'-separated part");
    memcpy(dst, v, len + 1);
    return MM_OK;
}

static mm_err
set_subject_prefix(void *opts, const char *v, char *why, size_t why_len)
{
    return set_name(((gs_config *)opts)->subject_prefix, v, why, why_len);
}

static mm_err
set_nats_name(void *opts, const char *v, char *why, size_t why_len)
{
    return set_name(((gs_config *)opts)->nats_name, v, why, why_len);
}

static mm_err
set_never_claim(void *opts, const char *v, char *why, size_t why_len)
{
    char *end = NULL;
    errno = 0;
    double share = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !isfinite(share) || share < 0 || share > 1)
        return mm_fail(MM_ERR_INVALID, why, why_len, "expected a number from 0 to 1");
    ((gs_config *)opts)->never_claim = share;
    return MM_OK;
}

#define FIELD(name) offsetof(gs_config, name)
#define MS(name, lo) MM_OPT_I64, FIELD(name), (uint64_t)(int64_t)(lo)
#define CUSTOM MM_OPT_CUSTOM, 0, 0, 0
static const mm_opt flags[] = {
    {"--edgegap-sim", CUSTOM, "URL", "base URL of edgegap_sim; GET URL/__sim/deployments is polled (no authorization)",
     DEFAULT_EDGEGAP_SIM, NULL, set_edgegap_sim},
    {"--poll-ms", MS(poll_ms, 10), 60000, "MS", "how often to poll the deployments (10..60000)", NULL, NULL, NULL},
    {"--http-timeout-ms", MS(http_timeout_ms, 10), 60000, "MS", "timeout of one poll (10..60000)", NULL, NULL, NULL},
    {"--cert-delay-ms", MS(cert_delay_ms, -1), 86400000, "MS",
     "delay from a deployment turning ready to cert_digests[public_ip] being written; -1: never", NULL, NULL, NULL},
    {"--protocol-id", MM_OPT_U64, FIELD(protocol_id), 0, UINT64_MAX, "N",
     "Lightyear protocol id that connect tokens must carry; the default is the reference matchmaker's", NULL, NULL, NULL},
    {"--private-key", CUSTOM, "KEY", "Lightyear private key: 32 comma-separated numbers 0..255, brackets and spaces allowed",
     "32 zeros, the reference matchmaker's default", NULL, set_key},
    {"--private-key-env", CUSTOM, "NAME", "read the private key (same format) from environment variable NAME, keeping it out of ps",
     "unset", NULL, set_key_env},
    {"--byte-order", MM_OPT_ENUM, FIELD(byte_order), 0, 0, "little|big",
     "integer byte order of connect tokens: little (Lightyear <= 0.19) or big (>= 0.20)", NULL,
     (const mm_opt_choice[]){{"little", MM_BYTE_ORDER_LITTLE}, {"big", MM_BYTE_ORDER_BIG}, {NULL, 0}}, NULL},
    {"--subject-prefix", CUSTOM, "PREFIX", "request API subjects are PREFIX.connect and PREFIX.disconnect", DEFAULT_NAME, NULL,
     set_subject_prefix},
    {"--nats-name", CUSTOM, "NAME", "NATS connection name", DEFAULT_NAME, NULL, set_nats_name},
    {"--auto", MM_OPT_SWITCH, FIELD(auto_mode), 0, 0, NULL,
     "auto mode: also play the clients; connect each client that appears in sessions_ly2eg (no token)", "off", NULL, NULL},
    {"--auto-connect-ms", MS(auto_connect_ms, 0), 86400000, "MS", "auto mode: delay from the sessions_ly2eg entry to the connect",
     NULL, NULL, NULL},
    {"--hold-ms", MS(hold_ms, -1), 86400000, "MS", "auto mode: how long a client stays connected; -1: until exit", NULL, NULL, NULL},
    {"--never-claim", CUSTOM, "SHARE", "auto mode: share of clients (0..1) never connected (left unclaimed)", "0", NULL,
     set_never_claim},
    {"--log-level", MM_OPT_ENUM, FIELD(log_level), 0, 0, "LEVEL", "debug, info, warn or error", NULL, mm_opt_log_levels, NULL},
    {"--log-json", MM_OPT_SWITCH, FIELD(log_json), 0, 0, NULL, "log one JSON object per line", "off", NULL, NULL},
};
#undef FIELD
#undef MS
#undef CUSTOM

/* The defaults: the one place they are written (--help shows them from here or from the macros above). */
static void
flags_init(void *opts)
{
    gs_config *cfg = opts;
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->edgegap_url, sizeof(cfg->edgegap_url), "%s", DEFAULT_EDGEGAP_SIM);
    cfg->poll_ms = 250;
    cfg->http_timeout_ms = 2000;
    cfg->cert_delay_ms = 0;
    cfg->protocol_id = 1982;
    cfg->byte_order = MM_BYTE_ORDER_LITTLE;
    snprintf(cfg->subject_prefix, sizeof(cfg->subject_prefix), "%s", DEFAULT_NAME);
    snprintf(cfg->nats_name, sizeof(cfg->nats_name), "%s", DEFAULT_NAME);
    cfg->auto_connect_ms = 500;
    cfg->hold_ms = 5000;
    cfg->never_claim = 0;
    cfg->log_level = MM_LOG_INFO;
}

static const char usage_head[] =
    "usage: gameserver_sim [flags]\n\n"
    "Plays every game server the Edgegap simulator (edgegap_sim) runs: writes their certificate\n"
    "digests to KV, accepts client connects with Lightyear connect tokens over NATS, and reports\n"
    "connections in KV active_connections like a bevygap game server. See docs/gameserver_sim.md.\n\n"
    "Environment: NATS_HOST (required), NATS_USER, NATS_PASSWORD/NATS_PASS, NATS_INSECURE, NATS_CA,\n"
    "NATS_CA_CONTENTS.\n\nflags:\n";

int
mm__gs_flags_parse(int argc, char **argv, gs_config *cfg)
{
    const mm_opt_table t = {.opts = flags, .n = sizeof(flags) / sizeof(flags[0])};
    const mm_opts_cli cli = {.prog = "gameserver_sim", .head = usage_head, .tables = &t, .n_tables = 1, .n_own = 1, .width = 24,
                             .init = flags_init, .size = sizeof(*cfg)};
    return mm_opts_cli_parse(&cli, cfg, argc, argv);
}
