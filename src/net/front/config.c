/*
 * The web front's configuration (include/mm/front.h): defaults, the table of its command-line
 * flags (include/mm/parse.h: mm_opt), and the CIDR ranges of trusted proxies.
 *
 * Every limit has a flag and a default a launch can live with; the bounds checked here are the
 * ones below which the front would not work at all (a 10 ms first-message timeout) or above
 * which a value is surely a typo. CIDR ranges are kept in the IPv4-mapped IPv6 form, so one
 * comparison serves both families: "10.0.0.0/8" is stored as ::ffff:10.0.0.0/104.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "front_internal.h"
#include "mm/parse.h"

#define DEFAULT_BIND "0.0.0.0:3000"
#define DEFAULT_CORS "http://localhost:8000"

static const char *const default_proxies[] = {
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
};

void
mm_front_config_init(mm_front_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->bind[0], sizeof(c->bind[0]), "%s", DEFAULT_BIND);
    c->n_binds = 1;
    c->threads = 1;
    snprintf(c->cors_origin, sizeof(c->cors_origin), "%s", DEFAULT_CORS);
    snprintf(c->fake_ip, sizeof(c->fake_ip), "%s", MM_FAKE_IP_DEFAULT);
    c->client_ip_override = true;
    for (size_t i = 0; i < sizeof(default_proxies) / sizeof(default_proxies[0]); i++)
        mm__front_cidr_parse(default_proxies[i], &c->proxies[c->n_proxies++], NULL, 0);
    c->max_message_bytes = 4096;
    c->first_message_timeout_ms = 10000;
    c->request_timeout_ms = 120000;
    c->per_ip_concurrent = 16;
    c->per_ip_rate = 10;
    c->per_ip_burst = 20;
    c->global_concurrent = 20000;
    c->per_ip_sessions = 120;
    c->session_window_s = 75;
    c->ping_interval_ms = 20000;
    c->max_connections = 50000;
    c->max_connections_per_ip = 256;
    c->max_header_bytes = 16384;
    c->max_header_bytes_total = 64u << 20;
    c->relay_ring_capacity = 4095;
}

void
mm__front_addr_from_v4(const uint8_t v4[4], uint8_t out[16])
{
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, v4, 4);
}

bool
mm__front_addr_parse(const char *text, uint8_t out[16], bool *is_v4)
{
    uint8_t v4[4];
    if (inet_pton(AF_INET, text, v4) == 1) {
        mm__front_addr_from_v4(v4, out);
        if (is_v4 != NULL)
            *is_v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, text, out) == 1) {
        if (is_v4 != NULL)
            *is_v4 = false;
        return true;
    }
    return false;
}

mm_err
mm__front_cidr_parse(const char *text, mm_front_cidr *out, char *why, size_t why_len)
{
    char host[64];
    const char *slash = strchr(text, '/');
    size_t hlen = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (hlen == 0 || hlen >= sizeof(host))
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not an address or CIDR range", text);
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    bool v4;
    if (!mm__front_addr_parse(host, out->addr, &v4))
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not an IPv4 or IPv6 address or range", text);
    uint64_t bits = v4 ? 32 : 128;
    if (slash != NULL && mm_parse_u64(slash + 1, 0, bits, &bits, NULL, 0) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s': the prefix length must be 0..%d", text, v4 ? 32 : 128);
    out->prefix = (uint8_t)(v4 ? bits + 96 : bits);
    /* clear the host bits, so that a range compares by its prefix only */
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = out->prefix > i * 8 ? out->prefix - i * 8 : 0;
        if (keep < 8)
            out->addr[i] &= (uint8_t)(0xff00u >> keep);
    }
    return MM_OK;
}

bool
mm__front_cidr_contains(const mm_front_cidr *c, const uint8_t addr[16])
{
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    return rest == 0 || ((c->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

mm_err
mm__front_bind_parse(const char *text, char *host, size_t host_len, uint16_t *port, char *why, size_t why_len)
{
    const char *h = text, *colon;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not [IPV6]:PORT", text);
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL)
            return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not HOST:PORT (or [IPV6]:PORT)", text);
        hlen = (size_t)(colon - text);
    }
    uint64_t p;
    uint8_t addr[16];
    if (hlen == 0 || hlen >= host_len)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' has no usable host", text);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (!mm__front_addr_parse(host, addr, NULL))
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not a numeric IPv4 or IPv6 address", host);
    if (mm_parse_u64(colon + 1, 0, 65535, &p, NULL, 0) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s': the port must be 0..65535", text);
    *port = (uint16_t)p;
    return MM_OK;
}

/* A listen address for a field of `size` bytes. */
static mm_err
check_bind(const char *value, size_t size, char *why, size_t why_len)
{
    char host[64];
    uint16_t port;
    if (strlen(value) >= size)
        return mm_fail(MM_ERR_INVALID, why, why_len, "too long");
    return mm__front_bind_parse(value, host, sizeof(host), &port, why, why_len);
}

static mm_err
set_bind(void *opts, const char *value, char *why, size_t why_len)
{
    mm_front_config *c = opts;
    if (check_bind(value, sizeof(c->bind[0]), why, why_len) != MM_OK)
        return MM_ERR_INVALID;
    if (!c->binds_from_flags) {
        c->binds_from_flags = true;
        c->n_binds = 0;
    }
    if (c->n_binds == MM_FRONT_MAX_BINDS)
        return mm_fail(MM_ERR_INVALID, why, why_len, "at most %d addresses", MM_FRONT_MAX_BINDS);
    snprintf(c->bind[c->n_binds++], sizeof(c->bind[0]), "%s", value);
    return MM_OK;
}

static mm_err
set_proxy(void *opts, const char *value, char *why, size_t why_len)
{
    mm_front_config *c = opts;
    if (!c->proxies_from_flags) {
        c->proxies_from_flags = true;
        c->n_proxies = 0;
    }
    if (strcmp(value, "none") == 0)
        return MM_OK;
    if (c->n_proxies == MM_FRONT_MAX_PROXIES)
        return mm_fail(MM_ERR_INVALID, why, why_len, "at most %d ranges", MM_FRONT_MAX_PROXIES);
    if (mm__front_cidr_parse(value, &c->proxies[c->n_proxies], why, why_len) != MM_OK)
        return MM_ERR_INVALID;
    c->n_proxies++;
    return MM_OK;
}

static mm_err
set_exempt(void *opts, const char *value, char *why, size_t why_len)
{
    mm_front_config *c = opts;
    if (c->n_exempt == MM_FRONT_MAX_PROXIES)
        return mm_fail(MM_ERR_INVALID, why, why_len, "at most %d ranges", MM_FRONT_MAX_PROXIES);
    if (mm__front_cidr_parse(value, &c->exempt[c->n_exempt], why, why_len) != MM_OK)
        return MM_ERR_INVALID;
    c->n_exempt++;
    return MM_OK;
}

/* The reference trims the origin and requires a valid header value. */
static mm_err
set_cors(void *opts, const char *value, char *why, size_t why_len)
{
    mm_front_config *c = opts;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(c->cors_origin))
        return mm_fail(MM_ERR_INVALID, why, why_len, "the origin must be 1..%zu characters", sizeof(c->cors_origin) - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
            return mm_fail(MM_ERR_INVALID, why, why_len, "the origin may hold printable ASCII only");
    memcpy(c->cors_origin, value, n);
    c->cors_origin[n] = '\0';
    return MM_OK;
}

static mm_err
set_fake_ip(void *opts, const char *value, char *why, size_t why_len)
{
    mm_front_config *c = opts;
    char ip[MM_IP_TEXT_LEN];
    if (mm_client_ip_parse(value, ip, NULL, 0) != MM_OK || mm_client_ip_is_loopback(ip))
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%s' is not a non-loopback IPv4 or IPv6 address", value);
    memcpy(c->fake_ip, ip, sizeof(ip));
    return MM_OK;
}

static mm_err
set_admin(void *opts, const char *value, char *why, size_t why_len)
{
    mm_front_config *c = opts;
    if (check_bind(value, sizeof(c->admin_bind), why, why_len) != MM_OK)
        return MM_ERR_INVALID;
    snprintf(c->admin_bind, sizeof(c->admin_bind), "%s", value);
    return MM_OK;
}

static mm_err
set_webhook_file(void *opts, const char *value, char *why, size_t why_len)
{
    mm_front_config *c = opts;
    if (value[0] == '\0' || strlen(value) >= sizeof(c->webhook_secret_file))
        return mm_fail(MM_ERR_INVALID, why, why_len, "the path must be 1..%zu characters", sizeof(c->webhook_secret_file) - 1);
    snprintf(c->webhook_secret_file, sizeof(c->webhook_secret_file), "%s", value);
    return MM_OK;
}

static mm_err
set_no_override(void *opts, const char *value, char *why, size_t why_len)
{
    (void)value;
    (void)why;
    (void)why_len;
    ((mm_front_config *)opts)->client_ip_override = false;
    return MM_OK;
}

/* ---- flags (include/mm/parse.h): the defaults shown by --help are mm_front_config_init's ---- */

#define U32(field, lo, hi) MM_OPT_U32, offsetof(mm_front_config, field), lo, hi
#define CUSTOM(fn) MM_OPT_CUSTOM, 0, 0, 0
static const mm_opt flags[] = {
    {"--bind", CUSTOM(set_bind), "HOST:PORT", "listen address, repeatable; [V6]:PORT for IPv6", DEFAULT_BIND, NULL, set_bind},
    {"--cors", CUSTOM(set_cors), "ORIGIN", "the allowed CORS origin", DEFAULT_CORS, NULL, set_cors},
    {"--fake-ip", CUSTOM(set_fake_ip), "IP", "replaces a loopback client IP", MM_FAKE_IP_DEFAULT, NULL, set_fake_ip},
    {"--trusted-proxy", CUSTOM(set_proxy), "CIDR", "peers whose X-Forwarded-For counts, repeatable; \"none\" trusts none",
     "loopback and private ranges", NULL, set_proxy},
    {"--limits-exempt", CUSTOM(set_exempt), "CIDR",
     "client addresses no per-address limit counts (load generators), repeatable; counted in /metrics", "none", NULL, set_exempt},
    {"--no-client-ip-override", CUSTOM(set_no_override), NULL, "ignore client_ip in the query string and in the request", "",
     NULL, set_no_override},
    {"--http-threads", U32(threads, 1, 64), "N", "event-loop threads", NULL, NULL, NULL},
    {"--max-message-bytes", U32(max_message_bytes, 64, 1 << 20), "N", "largest WebSocket message or POST body", NULL, NULL, NULL},
    {"--first-message-timeout-ms", U32(first_message_timeout_ms, 50, 3600000), "MS",
     "time allowed for the first WebSocket message and for request headers", NULL, NULL, NULL},
    {"--request-timeout-ms", U32(request_timeout_ms, 100, 86400000), "MS", "whole request, connect to last message", NULL, NULL,
     NULL},
    {"--per-ip-concurrent", U32(per_ip_concurrent, 1, 1000000), "N", "requests at once per client IP", NULL, NULL, NULL},
    {"--per-ip-rate", U32(per_ip_rate, 1, 1000000), "N", "new requests per second per client IP", NULL, NULL, NULL},
    {"--per-ip-burst", U32(per_ip_burst, 1, 1000000), "N", "burst of new requests per client IP", NULL, NULL, NULL},
    {"--per-ip-sessions", U32(per_ip_sessions, 0, 65535), "N",
     "Edgegap sessions a client IP may hold: started in the last --session-window or pending; 0: no limit", NULL, NULL, NULL},
    {"--session-window", U32(session_window_s, 1, 3600), "S", "seconds a started session counts against its IP: the reaper's horizon",
     NULL, NULL, NULL},
    {"--global-concurrent", U32(global_concurrent, 1, 10000000), "N", "requests at once in this process", NULL, NULL, NULL},
    {"--ping-interval-ms", U32(ping_interval_ms, 50, 3600000), "MS",
     "WebSocket keep-alive ping; a peer silent for two intervals is closed", NULL, NULL, NULL},
    {"--max-connections", U32(max_connections, 1, 10000000), "N", "open client connections, lowered under the open-file limit",
     NULL, NULL, NULL},
    {"--max-connections-per-ip", U32(max_connections_per_ip, 1, 10000000), "N",
     "open connections per peer address (IPv6: /64), trusted proxies exempt", NULL, NULL, NULL},
    {"--max-header-bytes", U32(max_header_bytes, 1024, 262144), "N", "request line and headers of one request: 431 beyond", NULL,
     NULL, NULL},
    {"--max-header-bytes-total", U32(max_header_bytes_total, 1u << 20, 4095u << 20), "N",
     "buffers of all request heads being read: 503 beyond", NULL, NULL, NULL},
    {"--admin-bind", CUSTOM(set_admin), "HOST:PORT", "/healthz, /readyz, /metrics also on this address, outside the client limits",
     "none", NULL, set_admin},
    {"--webhook-secret-file", CUSTOM(set_webhook_file), "FILE",
     "file holding the secret of POST /matchmaker/edgegap-webhook/<secret> (16..128 of [A-Za-z0-9_-])",
     "env MM_WEBHOOK_SECRET, else no webhook route", NULL, set_webhook_file},
};
#undef U32
#undef CUSTOM

const mm_opt_table mm_front_config_flags = {.opts = flags, .n = sizeof(flags) / sizeof(flags[0])};

int
mm_front_config_flag(mm_front_config *c, const char *name, const char *value, bool *takes_value, char *why, size_t why_len)
{
    if (c == NULL || name == NULL)
        return 0;
    const mm_opt *f = mm_opt_find(&mm_front_config_flags, 1, name, NULL);
    if (f == NULL)
        return 0;
    if (takes_value != NULL)
        *takes_value = f->metavar != NULL;
    return mm_opt_apply(f, c, value, why, why_len) == MM_OK ? 1 : -1;
}

static char usage_text[4096];
static pthread_once_t usage_once = PTHREAD_ONCE_INIT;

static void
usage_build(void)
{
    mm_front_config defaults;
    mm_front_config_init(&defaults);
    mm_opts_usage(&mm_front_config_flags, 1, &defaults, 32, usage_text, sizeof(usage_text));
}

const char *
mm_front_config_usage(void)
{
    pthread_once(&usage_once, usage_build);
    return usage_text;
}
