/*
 * edgegap_sim: a local stand-in for the Edgegap API (docs/edgegap_sim.md). This file is the
 * command line: flags and their defaults, the optional apps file, signals, and the run.
 * Exit status: 0 after SIGTERM/SIGINT, 2 for a bad flag or config, 1 when serving fails.
 * Once it serves, one line "edgegap_sim listening on HOST:PORT" goes to stdout (logs go to stderr).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mm/clock.h"
#include "mm/crash.h"
#include "mm/log.h"
#include "mm/parse.h"
#include "sim_alloc.h"
#include "sim_edgegap.h"
#include "sim_edgegap_server.h"

static volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void
usage(FILE *out)
{
    fputs("usage: edgegap_sim --api-key 'token KEY' [options]\n"
          "\n"
          "A local stand-in for the Edgegap API (sessions, deployments, webhooks, fault injection).\n"
          "See docs/edgegap_sim.md.\n"
          "\n"
          "Serving:\n"
          "  --listen HOST:PORT        address to serve on; port 0 picks a free one (default 127.0.0.1:8800)\n"
          "  --api-key KEY             exact authorization header value (default: $EDGEGAP_API_KEY; required);\n"
          "                            repeatable: each further one is another accepted key (at most 16)\n"
          "  --max-body BYTES          largest request body, 1024..16777216 (default 65536)\n"
          "  --status-style STYLE      legacy (\"Status.READY\") or short (\"Ready\") (default legacy)\n"
          "  --log-level LEVEL         debug, info, warn or error (default info)\n"
          "  --log-json                one JSON object per log line (default: text)\n"
          "\n"
          "Apps (either --config, or the flags below for a single app and version):\n"
          "  --config FILE             JSON apps file {\"apps\": [...]} (default: none)\n"
          "  --app NAME                app name (default bevygap-spaceships)\n"
          "  --app-version NAME        version name (default 1)\n"
          "  --sockets N               seats per deployment, 1..10000 (default 6)\n"
          "  --port-mapping NAME:PORT/PROTO  port mapping, repeatable (default server:6420/UDP)\n"
          "  --no-autodeploy           never start deployments (sessions become unprocessable) (default: autodeploy)\n"
          "  --inactive-app            mark the app inactive (default: active)\n"
          "  --inactive-version        mark the version inactive (default: active)\n"
          "\n"
          "Timing and capacity:\n"
          "  --deploy-delay-ms N       a new deployment is ready after N ms, 0..3600000 (default 2000)\n"
          "  --seek-delay-ms N         sessions stay Status.SEEKING N ms before placement, 0..3600000 (default 0)\n"
          "  --empty-ttl-ms N          stop a deployment after N ms without sessions, 0..86400000;\n"
          "                            0 uses the version's empty_ttl in minutes (default 0, i.e. 10 min)\n"
          "  --terminated-ttl-ms N     remember deleted session ids N ms (DELETE answers 410), 0..86400000 (default 600000)\n"
          "  --terminated-max N        remember at most N deleted ids, 0..100000000 (default 1000000)\n"
          "  --max-sessions N          live sessions before POST /v1/session answers 429, 1..10000000 (default 200000)\n"
          "  --ip-range CIDR           IPv4 range deployment addresses come from, /8../32 (default 127.1.0.0/16)\n"
          "  --port-base N             first external port, 1024..65000 (default 30000)\n"
          "\n"
          "Faults and webhooks:\n"
          "  --fault ENDPOINT:KEY=VALUE[,KEY=VALUE...]   repeatable (default: none); endpoints app, version,\n"
          "                            session_create, session_get, session_delete; keys latency_ms, error_rate,\n"
          "                            error_next, error_status, error_message, hang_rate, hang_next,\n"
          "                            never_ready_rate, never_ready_next, deploy_fail_rate, deploy_fail_next,\n"
          "                            webhook_drop_rate, webhook_drop_next (session_create only)\n"
          "  --seed N                  seed for ids and fault rates; 0 seeds from the clock (default 0)\n"
          "  --webhook-timeout-ms N    per webhook delivery, 1..600000 (default 5000)\n"
          "  --webhook-queue N         deliveries waiting before new ones fail, 1..1048576 (default 4096)\n"
          "  --webhook-drop-percent N  drop N% of webhooks (seeded, counted as webhooks_dropped), 0..100 (default 0)\n"
          "\n"
          "Launch realism (all off by default; docs/edgegap_sim.md):\n"
          "  --rate-limit CLASS=RATE/BURST  token bucket per API key for CLASS create, get, delete or other:\n"
          "                            RATE requests a second (0.01..1000000), BURST at once (1..1000000), or CLASS=off;\n"
          "                            repeatable; an empty bucket answers 429 with Retry-After (default: no limits)\n"
          "  --latency-ms MEDIAN,P99   delay every /v1 answer by a lognormal draw, 1..60000 ms (default: none)\n"
          "  --deploy-ms MEDIAN,P99    draw each deployment's start time from a lognormal, 1..3600000 ms;\n"
          "                            excludes --deploy-delay-ms (default: none, i.e. --deploy-delay-ms)\n"
          "  --capacity N              live deployments at once, 0..1000000; beyond, sessions stay Status.SEEKING\n"
          "                            until a seat frees or a deployment stops; 0 is unlimited (default 0)\n"
          "  --preset NAME             launch: the values a launch meets (documented in docs/edgegap_sim.md);\n"
          "                            the flags above override it wherever they appear (default: none)\n"
          "\n"
          "  --help                    this text\n",
          out);
}

enum {
    OPT_LISTEN = 256,
    OPT_API_KEY,
    OPT_MAX_BODY,
    OPT_STATUS_STYLE,
    OPT_LOG_LEVEL,
    OPT_LOG_JSON,
    OPT_CONFIG,
    OPT_APP,
    OPT_APP_VERSION,
    OPT_SOCKETS,
    OPT_PORT_MAPPING,
    OPT_NO_AUTODEPLOY,
    OPT_INACTIVE_APP,
    OPT_INACTIVE_VERSION,
    OPT_DEPLOY_DELAY,
    OPT_SEEK_DELAY,
    OPT_EMPTY_TTL,
    OPT_TERMINATED_TTL,
    OPT_TERMINATED_MAX,
    OPT_MAX_SESSIONS,
    OPT_IP_RANGE,
    OPT_PORT_BASE,
    OPT_FAULT,
    OPT_SEED,
    OPT_WEBHOOK_TIMEOUT,
    OPT_WEBHOOK_QUEUE,
    OPT_WEBHOOK_DROP,
    OPT_RATE_LIMIT,
    OPT_LATENCY,
    OPT_DEPLOY_MS,
    OPT_CAPACITY,
    OPT_PRESET,
    OPT_HELP
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"api-key", required_argument, NULL, OPT_API_KEY},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"status-style", required_argument, NULL, OPT_STATUS_STYLE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-json", no_argument, NULL, OPT_LOG_JSON},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"app", required_argument, NULL, OPT_APP},
    {"app-version", required_argument, NULL, OPT_APP_VERSION},
    {"sockets", required_argument, NULL, OPT_SOCKETS},
    {"port-mapping", required_argument, NULL, OPT_PORT_MAPPING},
    {"no-autodeploy", no_argument, NULL, OPT_NO_AUTODEPLOY},
    {"inactive-app", no_argument, NULL, OPT_INACTIVE_APP},
    {"inactive-version", no_argument, NULL, OPT_INACTIVE_VERSION},
    {"deploy-delay-ms", required_argument, NULL, OPT_DEPLOY_DELAY},
    {"seek-delay-ms", required_argument, NULL, OPT_SEEK_DELAY},
    {"empty-ttl-ms", required_argument, NULL, OPT_EMPTY_TTL},
    {"terminated-ttl-ms", required_argument, NULL, OPT_TERMINATED_TTL},
    {"terminated-max", required_argument, NULL, OPT_TERMINATED_MAX},
    {"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
    {"ip-range", required_argument, NULL, OPT_IP_RANGE},
    {"port-base", required_argument, NULL, OPT_PORT_BASE},
    {"fault", required_argument, NULL, OPT_FAULT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"webhook-timeout-ms", required_argument, NULL, OPT_WEBHOOK_TIMEOUT},
    {"webhook-queue", required_argument, NULL, OPT_WEBHOOK_QUEUE},
    {"webhook-drop-percent", required_argument, NULL, OPT_WEBHOOK_DROP},
    {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
    {"latency-ms", required_argument, NULL, OPT_LATENCY},
    {"deploy-ms", required_argument, NULL, OPT_DEPLOY_MS},
    {"capacity", required_argument, NULL, OPT_CAPACITY},
    {"preset", required_argument, NULL, OPT_PRESET},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Everything the flags say, before it is folded into the config. */
typedef struct flags {
    const char *config_path;
    const char *fault_specs[64];
    size_t nfaults;
    bool app_flags; /* one of the single-app flags was given */
    bool ports_given;
    uint64_t webhook_drop_percent; /* the session_create fault webhook_drop_rate, in percent */
    size_t api_keys;               /* --api-key flags seen */
    bool deploy_delay_given, deploy_ms_given;
} flags;

static int
bad_flag(const char *flag, const char *why)
{
    fprintf(stderr, "edgegap_sim: %s: %s\n", flag, why);
    return 2;
}

static int
number(const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char why[160];
    if (mm_parse_u64(text, min, max, out, why, sizeof(why)) != MM_OK)
        return bad_flag(flag, why);
    return 0;
}

/* "HOST:PORT" where PORT may be 0 (pick a free port). */
static int
parse_listen(const char *text, mm_sim_edgegap_cfg *cfg)
{
    char copy[128], why[160];
    uint16_t port = 0;
    size_t n = strlen(text);
    if (n >= sizeof(copy))
        return bad_flag("--listen", "address too long");
    memcpy(copy, text, n + 1);
    bool zero = n >= 2 && strcmp(copy + n - 2, ":0") == 0;
    if (zero)
        copy[n - 1] = '1'; /* the shared parser wants 1..65535; port 0 is ours to allow */
    if (mm_parse_host_port(copy, cfg->listen_host, sizeof(cfg->listen_host), &port, why, sizeof(why)) != MM_OK)
        return bad_flag("--listen", why);
    cfg->listen_port = zero ? 0 : port;
    return 0;
}

static int
parse_flag(int opt, const char *arg, mm_sim_edgegap_cfg *cfg, flags *fl)
{
    mm_sim_app_cfg *app = &cfg->apps[0];
    mm_sim_version_cfg *ver = &app->versions[0];
    uint64_t v = 0;
    int rc = 0;
    char why[200];
    switch (opt) {
    case OPT_LISTEN:
        return parse_listen(arg, cfg);
    case OPT_API_KEY:
        if (arg[0] == '\0' || strlen(arg) >= sizeof(cfg->api_key))
            return bad_flag("--api-key", "must be 1..255 bytes");
        if (fl->api_keys++ == 0) { /* the first replaces $EDGEGAP_API_KEY, further ones add keys */
            snprintf(cfg->api_key, sizeof(cfg->api_key), "%s", arg);
            return 0;
        }
        if (cfg->nmore_keys == MM_SIM_MAX_KEYS - 1)
            return bad_flag("--api-key", "too many keys (at most 16)");
        if (strcmp(arg, cfg->api_key) == 0)
            return bad_flag("--api-key", "the same key is given twice");
        for (size_t k = 0; k < cfg->nmore_keys; k++)
            if (strcmp(arg, cfg->more_keys[k]) == 0)
                return bad_flag("--api-key", "the same key is given twice");
        snprintf(cfg->more_keys[cfg->nmore_keys++], sizeof(cfg->more_keys[0]), "%s", arg);
        return 0;
    case OPT_MAX_BODY:
        rc = number("--max-body", arg, 1024, 16777216, &v);
        cfg->max_body = (size_t)v;
        return rc;
    case OPT_STATUS_STYLE:
        if (strcmp(arg, "legacy") != 0 && strcmp(arg, "short") != 0)
            return bad_flag("--status-style", "must be legacy or short");
        cfg->status_style = strcmp(arg, "short") == 0 ? MM_SIM_STATUS_SHORT : MM_SIM_STATUS_LEGACY;
        return 0;
    case OPT_CONFIG:
        fl->config_path = arg;
        return 0;
    case OPT_APP:
    case OPT_APP_VERSION:
        if (strlen(arg) == 0 || strlen(arg) >= MM_SIM_NAME_MAX)
            return bad_flag(opt == OPT_APP ? "--app" : "--app-version", "must be 1..63 bytes");
        snprintf(opt == OPT_APP ? app->name : ver->name, MM_SIM_NAME_MAX, "%s", arg);
        fl->app_flags = true;
        return 0;
    case OPT_SOCKETS:
        rc = number("--sockets", arg, 1, 10000, &v);
        ver->sockets = (uint32_t)v;
        fl->app_flags = true;
        return rc;
    case OPT_PORT_MAPPING:
        if (!fl->ports_given)
            ver->nports = 0;
        fl->ports_given = fl->app_flags = true;
        if (ver->nports == MM_SIM_MAX_PORTS)
            return bad_flag("--port-mapping", "too many port mappings (at most 8)");
        if (mm_sim_parse_port_mapping(arg, &ver->ports[ver->nports], why, sizeof(why)) != MM_OK)
            return bad_flag("--port-mapping", why);
        for (size_t i = 0; i < ver->nports; i++)
            if (strcmp(ver->ports[i].name, ver->ports[ver->nports].name) == 0)
                return bad_flag("--port-mapping", "two port mappings have the same name");
        ver->nports++;
        return 0;
    case OPT_NO_AUTODEPLOY:
        ver->autodeploy = false;
        fl->app_flags = true;
        return 0;
    case OPT_INACTIVE_APP:
        app->is_active = false;
        fl->app_flags = true;
        return 0;
    case OPT_INACTIVE_VERSION:
        ver->is_active = false;
        fl->app_flags = true;
        return 0;
    case OPT_DEPLOY_DELAY:
        if (fl->deploy_ms_given)
            return bad_flag("--deploy-delay-ms", "give either --deploy-delay-ms or --deploy-ms, not both");
        fl->deploy_delay_given = true;
        mm_sim_dist_set(&cfg->launch.deploy, 0, 0); /* a fixed delay replaces the preset's distribution */
        return number("--deploy-delay-ms", arg, 0, 3600000, &cfg->deploy_delay_ms);
    case OPT_SEEK_DELAY:
        return number("--seek-delay-ms", arg, 0, 3600000, &cfg->seek_delay_ms);
    case OPT_EMPTY_TTL:
        return number("--empty-ttl-ms", arg, 0, 86400000, &cfg->empty_ttl_ms);
    case OPT_TERMINATED_TTL:
        return number("--terminated-ttl-ms", arg, 0, 86400000, &cfg->terminated_ttl_ms);
    case OPT_TERMINATED_MAX:
        return number("--terminated-max", arg, 0, 100000000, &cfg->terminated_max);
    case OPT_MAX_SESSIONS:
        return number("--max-sessions", arg, 1, 10000000, &cfg->max_sessions);
    case OPT_IP_RANGE:
        if (strlen(arg) >= sizeof(cfg->ip_range) ||
            mm_sim_parse_ip_range(arg, &cfg->ip_first, &cfg->ip_count, why, sizeof(why)) != MM_OK)
            return bad_flag("--ip-range", strlen(arg) >= sizeof(cfg->ip_range) ? "too long" : why);
        snprintf(cfg->ip_range, sizeof(cfg->ip_range), "%s", arg);
        return 0;
    case OPT_PORT_BASE:
        rc = number("--port-base", arg, 1024, 65000, &v);
        cfg->port_base = (uint16_t)v;
        return rc;
    case OPT_FAULT:
        if (fl->nfaults == sizeof(fl->fault_specs) / sizeof(fl->fault_specs[0]))
            return bad_flag("--fault", "too many --fault flags (at most 64)");
        fl->fault_specs[fl->nfaults++] = arg;
        return 0;
    case OPT_SEED:
        return number("--seed", arg, 0, UINT64_MAX, &cfg->seed);
    case OPT_WEBHOOK_TIMEOUT:
        return number("--webhook-timeout-ms", arg, 1, 600000, &cfg->webhook_timeout_ms);
    case OPT_WEBHOOK_QUEUE:
        rc = number("--webhook-queue", arg, 1, 1048576, &v);
        cfg->webhook_queue = (uint32_t)v;
        return rc;
    case OPT_WEBHOOK_DROP:
        return number("--webhook-drop-percent", arg, 0, 100, &fl->webhook_drop_percent);
    case OPT_RATE_LIMIT:
        if (mm_sim_parse_rate_limit(arg, cfg->launch.rate, why, sizeof(why)) != MM_OK)
            return bad_flag("--rate-limit", why);
        return 0;
    case OPT_LATENCY:
        if (mm_sim_parse_dist(arg, 60000, &cfg->launch.latency, why, sizeof(why)) != MM_OK)
            return bad_flag("--latency-ms", why);
        return 0;
    case OPT_DEPLOY_MS:
        if (fl->deploy_delay_given)
            return bad_flag("--deploy-ms", "give either --deploy-delay-ms or --deploy-ms, not both");
        fl->deploy_ms_given = true;
        if (mm_sim_parse_dist(arg, 3600000, &cfg->launch.deploy, why, sizeof(why)) != MM_OK)
            return bad_flag("--deploy-ms", why);
        return 0;
    case OPT_CAPACITY:
        return number("--capacity", arg, 0, 1000000, &cfg->launch.capacity);
    case OPT_PRESET:
        return 0; /* applied before every other flag (main) */
    default:
        return 2;
    }
}

int
main(int argc, char **argv)
{
    mm_sim_edgegap_cfg *cfg = mm_sim_xcalloc(1, sizeof(*cfg));
    mm_sim_faults faults;
    mm_sim_server *srv = NULL;
    flags fl;
    int rc = 2, opt, level = MM_LOG_INFO;
    mm_log_format format = MM_LOG_TEXT;
    char why[400];

    memset(&fl, 0, sizeof(fl));
    mm_sim_json_use_xmalloc();
    mm_sim_edgegap_cfg_defaults(cfg);
    const char *env_key = getenv("EDGEGAP_API_KEY");
    if (env_key != NULL && strlen(env_key) < sizeof(cfg->api_key))
        snprintf(cfg->api_key, sizeof(cfg->api_key), "%s", env_key);
    opterr = 0;
    /* a preset first, so explicit flags override it wherever they stand on the command line */
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1)
        if (opt == OPT_PRESET && mm_sim_launch_preset(&cfg->launch, optarg, why, sizeof(why)) != MM_OK) {
            rc = bad_flag("--preset", why);
            goto cleanup;
        }
    optind = 0; /* glibc: start over */
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        if (opt == OPT_HELP) {
            usage(stdout);
            rc = 0;
            goto cleanup;
        }
        if (opt == '?') {
            fprintf(stderr, "edgegap_sim: unknown flag or missing value: %s (see --help)\n", argv[optind - 1]);
            goto cleanup;
        }
        if (opt == OPT_LOG_LEVEL) {
            if ((level = mm_log_level_parse(optarg)) < 0) {
                rc = bad_flag("--log-level", "must be debug, info, warn or error");
                goto cleanup;
            }
            continue;
        }
        if (opt == OPT_LOG_JSON) {
            format = MM_LOG_JSON;
            continue;
        }
        if ((rc = parse_flag(opt, optarg, cfg, &fl)) != 0)
            goto cleanup;
        rc = 2;
    }
    if (optind < argc) {
        fprintf(stderr, "edgegap_sim: unexpected argument '%s' (see --help)\n", argv[optind]);
        goto cleanup;
    }
    mm_log_setup("edgegap_sim", (mm_log_level)level, format);
    mm_crash_report_install("edgegap_sim");
    if (fl.config_path != NULL) {
        if (fl.app_flags) {
            fprintf(stderr, "edgegap_sim: --config cannot be combined with --app, --app-version, --sockets, "
                            "--port-mapping, --no-autodeploy or --inactive-*\n");
            goto cleanup;
        }
        if (mm_sim_edgegap_cfg_load_file(cfg, fl.config_path, why, sizeof(why)) != MM_OK) {
            fprintf(stderr, "edgegap_sim: --config %s\n", why);
            goto cleanup;
        }
    }
    if (mm_sim_edgegap_cfg_validate(cfg, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "edgegap_sim: %s\n", why);
        goto cleanup;
    }
    if (cfg->seed == 0)
        cfg->seed = mm_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
    mm_sim_faults_init(&faults, cfg->seed);
    for (size_t i = 0; i < fl.nfaults; i++)
        if (mm_sim_faults_apply_flag(&faults, fl.fault_specs[i], why, sizeof(why)) != MM_OK) {
            rc = bad_flag("--fault", why);
            goto cleanup;
        }
    if (fl.webhook_drop_percent > 0) /* the same as --fault session_create:webhook_drop_rate=N/100 */
        faults.ep[MM_SIM_EP_SESSION_CREATE].webhook_drop.rate = (double)fl.webhook_drop_percent / 100.0;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (mm_sim_server_create(cfg, &faults, &srv) != MM_OK) {
        rc = 1;
        goto cleanup;
    }
    /* stdout carries the address whatever the log level, for scripts that pass port 0 */
    printf("edgegap_sim listening on %s\n", mm_sim_server_address(srv));
    fflush(stdout);
    mm_info("listening on %s (%zu app(s), first %s/%s; deploy delay %llu ms; addresses %s; ports from %u; seed %llu)",
            mm_sim_server_address(srv), cfg->napps, cfg->apps[0].name, cfg->apps[0].versions[0].name,
            (unsigned long long)cfg->deploy_delay_ms, cfg->ip_range, cfg->port_base, (unsigned long long)cfg->seed);
    const mm_sim_launch_cfg *lc = &cfg->launch;
    bool launch =
        lc->preset[0] != '\0' || lc->latency.median_ms > 0 || lc->deploy.median_ms > 0 || lc->capacity > 0 || cfg->nmore_keys > 0;
    for (int i = 0; i < MM_SIM_RATE_CLASSES; i++)
        launch = launch || lc->rate[i].rate > 0;
    if (launch) { /* the same object as /__sim/stats "config" */
        json_t *j = mm_sim_launch_cfg_json(lc, cfg->deploy_delay_ms, 1 + cfg->nmore_keys);
        char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
        mm_info("launch settings: %s", text);
        free(text);
        json_decref(j);
    }
    rc = mm_sim_server_run(srv, &stop_requested) == MM_OK ? 0 : 1;
    mm_info("stopped");

cleanup:
    mm_sim_server_destroy(srv);
    free(cfg);
    return rc;
}
