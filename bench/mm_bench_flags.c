/*
 * mm_bench's command line (mm_bench.h): getopt_long into an mm_bench_config, with every value
 * checked strictly, the rules between options (open or closed loop and what goes with each),
 * and one line on stderr for the first mistake. The verification key is parsed by the project's
 * key parser, wiped from argv, and never printed; an unknown option is shown without its value.
 * The help text is in mm_bench_usage.c, what follows from the flags in mm_bench_config.c.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm/parse.h"
#include "mm_bench.h"

#define NS_PER_S 1000000000.0
#define MAX_RATE 1000000.0
#define MAX_SECONDS 86400.0
#define MAX_CONCURRENCY 1000000

enum {
    OPT_URL = 256,
    OPT_RATE,
    OPT_DURATION,
    OPT_RAMP,
    OPT_CONCURRENCY,
    OPT_REQUESTS,
    OPT_GAME,
    OPT_VERSION,
    OPT_IP_RANGE,
    OPT_SOURCE_IPS,
    OPT_TIMEOUT,
    OPT_CLOSE_GRACE,
    OPT_VERIFY_KEY,
    OPT_VERIFY_KEY_ENV,
    OPT_PROTOCOL_ID,
    OPT_BYTE_ORDER,
    OPT_JSON,
    OPT_PLOT,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_RATE_CURVE,
    OPT_FLUID_CEILING,
    OPT_REQUESTS_CSV,
};

static const struct option long_options[] = {
    {"url", required_argument, NULL, OPT_URL},
    {"rate", required_argument, NULL, OPT_RATE},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"ramp", required_argument, NULL, OPT_RAMP},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"requests", required_argument, NULL, OPT_REQUESTS},
    {"game", required_argument, NULL, OPT_GAME},
    {"version", required_argument, NULL, OPT_VERSION},
    {"client-ip-range", required_argument, NULL, OPT_IP_RANGE},
    {"source-ips", required_argument, NULL, OPT_SOURCE_IPS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"close-grace", required_argument, NULL, OPT_CLOSE_GRACE},
    {"verify-key", required_argument, NULL, OPT_VERIFY_KEY},
    {"verify-key-env", required_argument, NULL, OPT_VERIFY_KEY_ENV},
    {"protocol-id", required_argument, NULL, OPT_PROTOCOL_ID},
    {"byte-order", required_argument, NULL, OPT_BYTE_ORDER},
    {"json", required_argument, NULL, OPT_JSON},
    {"plot", required_argument, NULL, OPT_PLOT},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"rate-curve", required_argument, NULL, OPT_RATE_CURVE},
    {"fluid-ceiling", required_argument, NULL, OPT_FLUID_CEILING},
    {"requests-csv", required_argument, NULL, OPT_REQUESTS_CSV},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What was given explicitly, for the checks between options. */
struct given {
    int rate, duration, ramp, concurrency, requests, protocol_id, byte_order, progress, curve;
};

/* Also the --rate-curve parser's (mm_bench_line.c). */
int
mm_bench_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mm_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see mm_bench --help)\n", stderr);
    va_end(ap);
    return 2;
}

static const char *
option_name(int val)
{
    for (const struct option *o = long_options; o->name != NULL; o++)
        if (o->val == val)
            return o->name;
    return "?";
}

int
mm_bench_parse_duration(const char *text, double min_s, uint64_t *out)
{
    char *end = NULL;
    if (text[0] == '\0' || text[0] == '-' || text[0] == '+' || text[0] == ' ')
        return -1;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v))
        return -1;
    double scale = 1;
    if (strcmp(end, "ms") == 0)
        scale = 0.001;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        scale = 1;
    else if (strcmp(end, "m") == 0)
        scale = 60;
    else if (strcmp(end, "h") == 0)
        scale = 3600;
    else
        return -1;
    v *= scale;
    if (v < min_s || v > MAX_SECONDS)
        return -1;
    *out = (uint64_t)llround(v * NS_PER_S);
    return 0;
}

/* ws://HOST[:PORT][/PATH] */
static int
parse_url(mm_bench_config *cfg, const char *url)
{
    char why[160];
    if (strlen(url) >= sizeof(cfg->url))
        return mm_bench_usage_error("--url: longer than %zu bytes", sizeof(cfg->url) - 1);
    if (strncmp(url, "wss://", 6) == 0)
        return mm_bench_usage_error("--url: wss:// is not supported (no TLS in mm_bench); use ws://");
    if (strncmp(url, "ws://", 5) != 0)
        return mm_bench_usage_error("--url: must start with ws://");
    const char *auth = url + 5;
    size_t auth_len = strcspn(auth, "/?");
    const char *path = auth + auth_len;
    if (auth_len == 0 || auth_len >= sizeof(cfg->host_header))
        return mm_bench_usage_error("--url: no host, or a host over %zu bytes", sizeof(cfg->host_header) - 1);
    memcpy(cfg->host_header, auth, auth_len);
    cfg->host_header[auth_len] = '\0';
    const char *colon = strrchr(cfg->host_header, ':');
    const char *bracket = strrchr(cfg->host_header, ']');
    if (colon != NULL && (bracket == NULL || colon > bracket)) {
        if (mm_parse_host_port(cfg->host_header, cfg->host, sizeof(cfg->host), &cfg->port, why, sizeof(why)) != MM_OK)
            return mm_bench_usage_error("--url: %s", why);
    } else {
        size_t n = strlen(cfg->host_header);
        const char *h = cfg->host_header;
        if (h[0] == '[') {
            if (n < 3 || h[n - 1] != ']')
                return mm_bench_usage_error("--url: unbalanced [ ] around the host");
            h++;
            n -= 2;
        }
        if (n >= sizeof(cfg->host))
            return mm_bench_usage_error("--url: host too long");
        memcpy(cfg->host, h, n);
        cfg->host[n] = '\0';
        cfg->port = 80;
    }
    if (*path == '\0')
        path = "/matchmaker/ws";
    if (*path == '?')
        return mm_bench_usage_error("--url: a query needs a path before it (/matchmaker/ws?...)");
    if (strlen(path) >= sizeof(cfg->path) || strpbrk(path, " \r\n") != NULL)
        return mm_bench_usage_error("--url: path too long or with spaces");
    strcpy(cfg->path, path);
    strcpy(cfg->url, url);
    return 0;
}

/* A.B.C.D, A.B.C.D-E.F.G.H or A.B.C.D/LEN, for option flag: the first address and the count. */
static int
parse_ipv4_range(const char *flag, const char *text, uint32_t *first_out, uint64_t *count_out)
{
    char first[64], last[64];
    struct in_addr a, b;
    const char *dash = strchr(text, '-'), *slash = strchr(text, '/');
    size_t n = dash != NULL ? (size_t)(dash - text) : slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (n >= sizeof(first))
        return mm_bench_usage_error("%s: not an IPv4 address, range or block", flag);
    memcpy(first, text, n);
    first[n] = '\0';
    if (inet_pton(AF_INET, first, &a) != 1)
        return mm_bench_usage_error("%s: '%.40s' is not an IPv4 address (ranges are IPv4 only)", flag, first);
    uint32_t lo = ntohl(a.s_addr);
    uint64_t count = 1;
    if (dash != NULL) {
        if (strlen(dash + 1) >= sizeof(last) || inet_pton(AF_INET, dash + 1, &b) != 1)
            return mm_bench_usage_error("%s: the end of the range is not an IPv4 address", flag);
        uint32_t hi = ntohl(b.s_addr);
        if (hi < lo)
            return mm_bench_usage_error("%s: the range ends before it starts", flag);
        count = (uint64_t)hi - lo + 1;
    } else if (slash != NULL) {
        uint64_t len = 0;
        if (mm_parse_u64(slash + 1, 0, 32, &len, NULL, 0) != MM_OK)
            return mm_bench_usage_error("%s: the prefix length must be 0..32", flag);
        count = (uint64_t)1 << (32 - len);
        lo = len == 0 ? 0 : lo & ~(uint32_t)(count - 1);
    }
    *first_out = lo;
    *count_out = count;
    return 0;
}

static int
parse_ip_range(mm_bench_config *cfg, const char *text)
{
    int status = parse_ipv4_range("--client-ip-range", text, &cfg->ip_first, &cfg->ip_count);
    cfg->have_ip_range = status == 0;
    return status;
}

/* --source-ips: "none", or one more range of local addresses (repeatable). */
int
mm_bench_flags_source_ips(mm_bench_config *cfg, const char *text)
{
    if (strcmp(text, "none") == 0) {
        if (cfg->source_mode == MM_BENCH_SOURCE_RANGES)
            return mm_bench_usage_error("--source-ips: none excludes address ranges");
        cfg->source_mode = MM_BENCH_SOURCE_KERNEL;
        return 0;
    }
    if (cfg->source_mode == MM_BENCH_SOURCE_KERNEL)
        return mm_bench_usage_error("--source-ips: none excludes address ranges");
    if (cfg->source_range_count == MM_BENCH_MAX_SOURCE_RANGES)
        return mm_bench_usage_error("--source-ips: at most %d ranges", MM_BENCH_MAX_SOURCE_RANGES);
    size_t i = cfg->source_range_count;
    int status = parse_ipv4_range("--source-ips", text, &cfg->source_first[i], &cfg->source_count[i]);
    if (status != 0)
        return status;
    if (cfg->source_first[i] == 0 || (uint64_t)cfg->source_first[i] + cfg->source_count[i] - 1 >= 0xE0000000u)
        return mm_bench_usage_error("--source-ips: '%.40s' holds 0.0.0.0 or multicast/broadcast addresses, which cannot be "
                                    "a source", text);
    cfg->source_range_count++;
    cfg->source_total += cfg->source_count[i];
    cfg->source_mode = MM_BENCH_SOURCE_RANGES;
    return 0;
}


static int
parse_key(mm_bench_config *cfg, int val, char *arg)
{
    char why[200];
    const char *text = arg;
    if (val == OPT_VERIFY_KEY_ENV && (text = getenv(arg)) == NULL)
        return mm_bench_usage_error("--verify-key-env: environment variable %.60s is not set", arg);
    mm_err err = mm_token_key_parse(text, &cfg->verifier.key, why, sizeof(why));
    if (val == OPT_VERIFY_KEY)
        sodium_memzero(arg, strlen(arg)); /* out of /proc/PID/cmdline */
    if (err != MM_OK)
        return mm_bench_usage_error("bad --%s: %s", option_name(val), why);
    cfg->verify = 1;
    return 0;
}

static int
option_apply(mm_bench_config *cfg, struct given *g, int val, char *arg)
{
    uint64_t u = 0;
    char why[160];
    switch (val) {
    case OPT_URL:
        return parse_url(cfg, arg);
    case OPT_RATE:
    case OPT_FLUID_CEILING: {
        char *end = NULL;
        double v = strtod(arg, &end);
        if (end == arg || *end != '\0' || !isfinite(v) || !(v > 0) || v > MAX_RATE)
            return mm_bench_usage_error("--%s: a number of requests per second, 0 < N <= %.0f", option_name(val), MAX_RATE);
        if (val == OPT_FLUID_CEILING) {
            cfg->fluid_ceiling = v;
            return 0;
        }
        cfg->rate = v;
        g->rate = 1;
        return 0;
    }
    case OPT_RATE_CURVE:
        if (g->curve)
            return mm_bench_usage_error("--rate-curve given twice");
        g->curve = 1;
        return mm_bench_flags_rate_curve(cfg, arg);
    case OPT_REQUESTS_CSV:
        cfg->requests_csv = arg;
        return 0;
    case OPT_DURATION:
    case OPT_RAMP:
    case OPT_TIMEOUT:
    case OPT_CLOSE_GRACE: {
        uint64_t *dst = val == OPT_DURATION ? &cfg->duration_ns
                        : val == OPT_RAMP   ? &cfg->ramp_ns
                        : val == OPT_TIMEOUT ? &cfg->timeout_ns
                                             : &cfg->close_grace_ns;
        double min_s = val == OPT_RAMP ? 0 : 0.001;
        if (mm_bench_parse_duration(arg, min_s, dst) != 0)
            return mm_bench_usage_error("--%s: a time like 500ms, 30s, 2m or 1h, from %gs to 24h", option_name(val), min_s);
        if (val == OPT_DURATION)
            g->duration = 1;
        if (val == OPT_RAMP)
            g->ramp = 1;
        return 0;
    }
    case OPT_CONCURRENCY:
        if (mm_parse_u64(arg, 1, MAX_CONCURRENCY, &u, why, sizeof(why)) != MM_OK)
            return mm_bench_usage_error("--concurrency: %s", why);
        cfg->concurrency = (uint32_t)u;
        g->concurrency = 1;
        return 0;
    case OPT_REQUESTS:
        if (mm_parse_u64(arg, 1, UINT64_MAX / 2, &cfg->requests, why, sizeof(why)) != MM_OK)
            return mm_bench_usage_error("--requests: %s", why);
        g->requests = 1;
        return 0;
    case OPT_GAME:
    case OPT_VERSION: {
        char *dst = val == OPT_GAME ? cfg->game : cfg->version;
        if (strlen(arg) > MM_BENCH_NAME_MAX)
            return mm_bench_usage_error("--%s: at most %d bytes", option_name(val), MM_BENCH_NAME_MAX);
        json_t *probe = json_string(arg); /* the request is built with jansson: UTF-8 only */
        if (probe == NULL)
            return mm_bench_usage_error("--%s: not valid UTF-8", option_name(val));
        json_decref(probe);
        strcpy(dst, arg);
        return 0;
    }
    case OPT_IP_RANGE:
        return parse_ip_range(cfg, arg);
    case OPT_SOURCE_IPS:
        return mm_bench_flags_source_ips(cfg, arg);
    case OPT_VERIFY_KEY:
    case OPT_VERIFY_KEY_ENV:
        return parse_key(cfg, val, arg);
    case OPT_PROTOCOL_ID:
        if (mm_parse_u64(arg, 0, UINT64_MAX, &cfg->verifier.protocol_id, why, sizeof(why)) != MM_OK)
            return mm_bench_usage_error("--protocol-id: %s", why);
        g->protocol_id = 1;
        return 0;
    case OPT_BYTE_ORDER:
        if (strcmp(arg, "little") != 0 && strcmp(arg, "big") != 0)
            return mm_bench_usage_error("--byte-order: '%.20s' is neither little nor big", arg);
        cfg->verifier.order = arg[0] == 'b' ? MM_BYTE_ORDER_BIG : MM_BYTE_ORDER_LITTLE;
        g->byte_order = 1;
        return 0;
    case OPT_JSON:
        cfg->json_path = arg;
        return 0;
    case OPT_PLOT:
        cfg->plot_path = arg;
        return 0;
    case OPT_PROGRESS:
    case OPT_NO_PROGRESS:
        cfg->progress = val == OPT_PROGRESS;
        g->progress = 1;
        return 0;
    default:
        return mm_bench_usage_error("internal error: unhandled option");
    }
}

/* The rules between options, and the defaults that depend on the mode. */
static int
options_check(mm_bench_config *cfg, const struct given *g)
{
    if (g->rate && g->concurrency)
        return mm_bench_usage_error("--rate (open loop) and --concurrency (closed loop) exclude each other");
    if (g->curve && (g->rate || g->duration || g->ramp || g->concurrency || g->requests))
        return mm_bench_usage_error("--rate-curve is the whole open-loop load: it excludes --rate, --duration, --ramp, "
                                    "--concurrency and --requests");
    if (g->curve) {
        cfg->mode = MM_BENCH_OPEN_LOOP;
        cfg->duration_ns = (uint64_t)llround(cfg->curve_t[cfg->curve_len - 1] * NS_PER_S);
        cfg->ramp_ns = 0;
        cfg->rate = 0;
        for (size_t i = 0; i < cfg->curve_len; i++)
            cfg->rate = cfg->curve_r[i] > cfg->rate ? cfg->curve_r[i] : cfg->rate;
        if (mm_bench_open_loop_total(cfg) == 0)
            return mm_bench_usage_error("--rate-curve gives no request at all");
    }
    if (g->concurrency) {
        cfg->mode = MM_BENCH_CLOSED_LOOP;
        if (g->ramp)
            return mm_bench_usage_error("--ramp applies to the open loop (--rate) only");
        if (!g->duration)
            cfg->duration_ns = 0;
        if (!g->requests && !g->duration)
            cfg->requests = 1000;
    } else if (!g->curve) {
        cfg->mode = MM_BENCH_OPEN_LOOP;
        if (g->requests)
            return mm_bench_usage_error("--requests applies to the closed loop (--concurrency); the open loop runs for --duration");
        if (cfg->ramp_ns > cfg->duration_ns)
            return mm_bench_usage_error("--ramp is longer than --duration");
        if (mm_bench_open_loop_total(cfg) == 0)
            return mm_bench_usage_error("--rate and --duration give no request at all");
    }
    if ((g->protocol_id || g->byte_order) && !cfg->verify)
        return mm_bench_usage_error("--protocol-id and --byte-order apply only with --verify-key");
    if (!g->progress)
        cfg->progress = isatty(STDERR_FILENO);
    return 0;
}

int
mm_bench_flags_parse(mm_bench_config *cfg, int argc, char **argv)
{
    struct given g = {0};
    memset(cfg, 0, sizeof(*cfg));
    cfg->rate = 100;
    cfg->duration_ns = 10 * (uint64_t)NS_PER_S;
    cfg->timeout_ns = 75 * (uint64_t)NS_PER_S;
    cfg->close_grace_ns = 5 * (uint64_t)NS_PER_S;
    cfg->verifier.protocol_id = 1982;
    cfg->verifier.order = MM_BYTE_ORDER_LITTLE;
    strcpy(cfg->game, "bevygap-spaceships");
    strcpy(cfg->version, "1");
    int status = parse_url(cfg, "ws://127.0.0.1:3000/matchmaker/ws");
    if (status != 0)
        return status;
    opterr = 0;
    optind = 1;
    int val;
    while ((val = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (val == 'h') {
            mm_bench_flags_usage(stdout);
            return -1;
        }
        if (val == ':')
            return mm_bench_usage_error("--%s needs a value", option_name(optopt));
        if (val == '?') {
            if (optopt != 0)
                return mm_bench_usage_error("unknown option -%c", optopt);
            const char *bad = argv[optind - 1];
            size_t n = strcspn(bad, "="); /* never show a value: it may be a key */
            return mm_bench_usage_error("unknown option %.*s", (int)(n > 40 ? 40 : n), bad);
        }
        if ((status = option_apply(cfg, &g, val, optarg)) != 0)
            return status;
    }
    if (optind < argc)
        return mm_bench_usage_error("unexpected argument(s): mm_bench takes options only (%d extra)", argc - optind);
    return options_check(cfg, &g);
}
