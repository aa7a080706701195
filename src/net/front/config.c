/*
 * The web front's configuration (include/mm/front.h): defaults, one parser per command-line
 * flag, and the CIDR ranges of trusted proxies.
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

static const char *const default_proxies[] = {
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
};

void
mm_front_config_init(mm_front_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->bind[0], sizeof(c->bind[0]), "0.0.0.0:3000");
    c->n_binds = 1;
    c->threads = 1;
    snprintf(c->cors_origin, sizeof(c->cors_origin), "http://localhost:8000");
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

/* ---- flags ---- */

typedef enum {
    F_BIND,
    F_CORS,
    F_FAKE_IP,
    F_PROXY,
    F_NO_OVERRIDE,
    F_THREADS,
    F_ADMIN,
    F_U32, /* a numeric limit: see the table */
} flag_kind;

static const struct flag {
    const char *name;
    flag_kind kind;
    size_t offset; /* F_U32: of the uint32_t field */
    uint64_t min, max;
    const char *arg, *help;
} flags[] = {
    {"bind", F_BIND, 0, 0, 0, "HOST:PORT", "listen address, repeatable ([V6]:PORT for IPv6; default 0.0.0.0:3000)"},
    {"cors", F_CORS, 0, 0, 0, "ORIGIN", "the allowed CORS origin (default http://localhost:8000)"},
    {"fake-ip", F_FAKE_IP, 0, 0, 0, "IP", "replaces a loopback client IP (default " MM_FAKE_IP_DEFAULT ")"},
    {"trusted-proxy", F_PROXY, 0, 0, 0, "CIDR",
     "peers whose X-Forwarded-For counts, repeatable; \"none\" trusts none (default loopback and private ranges)"},
    {"no-client-ip-override", F_NO_OVERRIDE, 0, 0, 0, NULL, "ignore client_ip in the query string and in the request"},
    {"http-threads", F_THREADS, 0, 1, 64, "N", "event-loop threads (default 1)"},
    {"max-message-bytes", F_U32, offsetof(mm_front_config, max_message_bytes), 64, 1 << 20, "N",
     "largest WebSocket message or POST body (default 4096)"},
    {"first-message-timeout-ms", F_U32, offsetof(mm_front_config, first_message_timeout_ms), 50, 3600000, "MS",
     "time allowed for the first WebSocket message and for request headers (default 10000)"},
    {"request-timeout-ms", F_U32, offsetof(mm_front_config, request_timeout_ms), 100, 86400000, "MS",
     "whole request, connect to last message (default 120000)"},
    {"per-ip-concurrent", F_U32, offsetof(mm_front_config, per_ip_concurrent), 1, 1000000, "N",
     "requests at once per client IP (default 16)"},
    {"per-ip-rate", F_U32, offsetof(mm_front_config, per_ip_rate), 1, 1000000, "N", "new requests per second per client IP (default 10)"},
    {"per-ip-burst", F_U32, offsetof(mm_front_config, per_ip_burst), 1, 1000000, "N", "burst of new requests per client IP (default 20)"},
    {"per-ip-sessions", F_U32, offsetof(mm_front_config, per_ip_sessions), 0, 65535, "N",
     "Edgegap sessions a client IP may hold: started in the last --session-window or pending (0: no limit; default 120)"},
    {"session-window", F_U32, offsetof(mm_front_config, session_window_s), 1, 3600, "S",
     "seconds a started session counts against its IP: the reaper's horizon (default 75)"},
    {"global-concurrent", F_U32, offsetof(mm_front_config, global_concurrent), 1, 10000000, "N",
     "requests at once in this process (default 20000)"},
    {"ping-interval-ms", F_U32, offsetof(mm_front_config, ping_interval_ms), 50, 3600000, "MS",
     "WebSocket keep-alive ping; a peer silent for two intervals is closed (default 20000)"},
    {"max-connections", F_U32, offsetof(mm_front_config, max_connections), 1, 10000000, "N",
     "open client connections (default 50000; lowered under the open-file limit)"},
    {"max-connections-per-ip", F_U32, offsetof(mm_front_config, max_connections_per_ip), 1, 10000000, "N",
     "open connections per peer address (IPv6: /64), trusted proxies exempt (default 256)"},
    {"max-header-bytes", F_U32, offsetof(mm_front_config, max_header_bytes), 1024, 262144, "N",
     "request line and headers of one request: 431 beyond (default 16384)"},
    {"max-header-bytes-total", F_U32, offsetof(mm_front_config, max_header_bytes_total), 1u << 20, 4095u << 20, "N",
     "buffers of all request heads being read: 503 beyond (default 67108864)"},
    {"admin-bind", F_ADMIN, 0, 0, 0, "HOST:PORT",
     "/healthz, /readyz, /metrics also on this address, outside the client limits (default: none)"},
};

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

static mm_err
set_bind(mm_front_config *c, const char *value, char *why, size_t why_len)
{
    char host[64], reason[160];
    uint16_t port;
    if (strlen(value) >= sizeof(c->bind[0]) || mm__front_bind_parse(value, host, sizeof(host), &port, reason, sizeof(reason)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "--bind: %s", strlen(value) >= sizeof(c->bind[0]) ? "too long" : reason);
    if (!c->binds_from_flags) {
        c->binds_from_flags = true;
        c->n_binds = 0;
    }
    if (c->n_binds == MM_FRONT_MAX_BINDS)
        return mm_fail(MM_ERR_INVALID, why, why_len, "--bind: at most %d addresses", MM_FRONT_MAX_BINDS);
    snprintf(c->bind[c->n_binds++], sizeof(c->bind[0]), "%s", value);
    return MM_OK;
}

static mm_err
set_proxy(mm_front_config *c, const char *value, char *why, size_t why_len)
{
    if (!c->proxies_from_flags) {
        c->proxies_from_flags = true;
        c->n_proxies = 0;
    }
    if (strcmp(value, "none") == 0)
        return MM_OK;
    if (c->n_proxies == MM_FRONT_MAX_PROXIES)
        return mm_fail(MM_ERR_INVALID, why, why_len, "--trusted-proxy: at most %d ranges", MM_FRONT_MAX_PROXIES);
    char reason[160];
    if (mm__front_cidr_parse(value, &c->proxies[c->n_proxies], reason, sizeof(reason)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "--trusted-proxy: %s", reason);
    c->n_proxies++;
    return MM_OK;
}

/* The reference trims the origin and requires a valid header value. */
static mm_err
set_cors(mm_front_config *c, const char *value, char *why, size_t why_len)
{
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(c->cors_origin))
        return mm_fail(MM_ERR_INVALID, why, why_len, "--cors: the origin must be 1..%zu characters", sizeof(c->cors_origin) - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
            return mm_fail(MM_ERR_INVALID, why, why_len, "--cors: the origin may hold printable ASCII only");
    memcpy(c->cors_origin, value, n);
    c->cors_origin[n] = '\0';
    return MM_OK;
}

int
mm_front_config_flag(mm_front_config *c, const char *name, const char *value, bool *takes_value, char *why, size_t why_len)
{
    if (c == NULL || name == NULL)
        return 0;
    if (strncmp(name, "--", 2) == 0)
        name += 2;
    const struct flag *f = NULL;
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]) && f == NULL; i++)
        if (strcmp(flags[i].name, name) == 0)
            f = &flags[i];
    if (f == NULL)
        return 0;
    bool needs = f->kind != F_NO_OVERRIDE;
    if (takes_value != NULL)
        *takes_value = needs;
    if (needs && value == NULL) {
        mm_fail(MM_ERR_INVALID, why, why_len, "--%s needs a value", f->name);
        return -1;
    }
    mm_err err = MM_OK;
    uint64_t n = 0;
    switch (f->kind) {
    case F_BIND:
        err = set_bind(c, value, why, why_len);
        break;
    case F_CORS:
        err = set_cors(c, value, why, why_len);
        break;
    case F_FAKE_IP: {
        char ip[MM_IP_TEXT_LEN];
        if (mm_client_ip_parse(value, ip, NULL, 0) != MM_OK || mm_client_ip_is_loopback(ip))
            err = mm_fail(MM_ERR_INVALID, why, why_len, "--fake-ip: '%s' is not a non-loopback IPv4 or IPv6 address", value);
        else
            memcpy(c->fake_ip, ip, sizeof(ip));
        break;
    }
    case F_PROXY:
        err = set_proxy(c, value, why, why_len);
        break;
    case F_ADMIN: {
        char host[64], reason[160];
        uint16_t port;
        if (strlen(value) >= sizeof(c->admin_bind))
            err = mm_fail(MM_ERR_INVALID, why, why_len, "--admin-bind: too long");
        else if (mm__front_bind_parse(value, host, sizeof(host), &port, reason, sizeof(reason)) != MM_OK)
            err = mm_fail(MM_ERR_INVALID, why, why_len, "--admin-bind: %s", reason);
        else
            snprintf(c->admin_bind, sizeof(c->admin_bind), "%s", value);
        break;
    }
    case F_NO_OVERRIDE:
        c->client_ip_override = false;
        break;
    case F_THREADS:
    case F_U32: {
        char reason[128];
        if (mm_parse_u64(value, f->min, f->max, &n, reason, sizeof(reason)) != MM_OK) {
            err = mm_fail(MM_ERR_INVALID, why, why_len, "--%s: %s", f->name, reason);
            break;
        }
        uint32_t *field = f->kind == F_THREADS ? &c->threads : (uint32_t *)((char *)c + f->offset);
        *field = (uint32_t)n;
        break;
    }
    }
    return err == MM_OK ? 1 : -1;
}

static char usage_text[4096];
static pthread_once_t usage_once = PTHREAD_ONCE_INIT;

static void
usage_build(void)
{
    size_t used = 0;
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]) && used < sizeof(usage_text); i++) {
        char head[64];
        snprintf(head, sizeof(head), "--%s%s%s", flags[i].name, flags[i].arg ? " " : "", flags[i].arg ? flags[i].arg : "");
        int n = snprintf(usage_text + used, sizeof(usage_text) - used, "  %-32s %s\n", head, flags[i].help);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

const char *
mm_front_config_usage(void)
{
    pthread_once(&usage_once, usage_build);
    return usage_text;
}
