/*
 * libFuzzer driver for the web front's flag parser (mm_front_config_flag, src/net/front/config.c).
 *
 * The input is a list of lines, each "name" or "name=value" (value NULL without '='), applied in
 * order to one configuration, as a command line would. After every call: the answer is 1, 0 or
 * -1; -1 comes with a terminated reason that names the flag; 0 only for names that are not the
 * front's; takes_value is right for the front's flags; and the configuration still satisfies
 * what the front relies on: 1..4 listen addresses that parse, at most 32 trusted ranges with
 * their host bits clear, a canonical non-loopback fake IP, a printable trimmed CORS origin, and
 * numeric limits that are positive and equal to the value when the flag was taken.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "front_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz_front_config: %s\n", what);
    abort();
}

static const struct {
    const char *name;
    size_t offset; /* of a uint32_t field; SIZE_MAX: not a number */
} known[] = {
    {"bind", SIZE_MAX},
    {"cors", SIZE_MAX},
    {"fake-ip", SIZE_MAX},
    {"trusted-proxy", SIZE_MAX},
    {"no-client-ip-override", SIZE_MAX},
    {"admin-bind", SIZE_MAX},
    {"limits-exempt", SIZE_MAX},
    {"webhook-secret-file", SIZE_MAX},
    {"http-threads", offsetof(mm_front_config, threads)},
    {"max-message-bytes", offsetof(mm_front_config, max_message_bytes)},
    {"first-message-timeout-ms", offsetof(mm_front_config, first_message_timeout_ms)},
    {"request-timeout-ms", offsetof(mm_front_config, request_timeout_ms)},
    {"per-ip-concurrent", offsetof(mm_front_config, per_ip_concurrent)},
    {"per-ip-rate", offsetof(mm_front_config, per_ip_rate)},
    {"per-ip-burst", offsetof(mm_front_config, per_ip_burst)},
    {"global-concurrent", offsetof(mm_front_config, global_concurrent)},
    {"per-ip-sessions", offsetof(mm_front_config, per_ip_sessions)},
    {"session-window", offsetof(mm_front_config, session_window_s)},
    {"ping-interval-ms", offsetof(mm_front_config, ping_interval_ms)},
    {"max-connections", offsetof(mm_front_config, max_connections)},
    {"max-connections-per-ip", offsetof(mm_front_config, max_connections_per_ip)},
    {"max-header-bytes", offsetof(mm_front_config, max_header_bytes)},
    {"max-header-bytes-total", offsetof(mm_front_config, max_header_bytes_total)},
};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))

static int
known_index(const char *name)
{
    if (strncmp(name, "--", 2) == 0)
        name += 2;
    for (size_t i = 0; i < N_KNOWN; i++)
        if (strcmp(known[i].name, name) == 0)
            return (int)i;
    return -1;
}

static uint32_t
field(const mm_front_config *c, size_t offset)
{
    uint32_t v;
    memcpy(&v, (const char *)c + offset, sizeof(v));
    return v;
}

static void
check_config(const mm_front_config *c)
{
    check(c->n_binds >= 1 && c->n_binds <= MM_FRONT_MAX_BINDS, "the number of listen addresses is out of range");
    for (size_t i = 0; i < c->n_binds; i++) {
        char host[64];
        uint16_t port;
        check(memchr(c->bind[i], '\0', sizeof(c->bind[i])) != NULL, "a listen address is not terminated");
        check(mm__front_bind_parse(c->bind[i], host, sizeof(host), &port, NULL, 0) == MM_OK, "a kept listen address does not parse");
    }
    if (c->admin_bind[0] != '\0') {
        char host[64];
        uint16_t port;
        check(memchr(c->admin_bind, '\0', sizeof(c->admin_bind)) != NULL, "the admin address is not terminated");
        check(mm__front_bind_parse(c->admin_bind, host, sizeof(host), &port, NULL, 0) == MM_OK, "a kept admin address does not parse");
    }
    check(c->n_proxies <= MM_FRONT_MAX_PROXIES, "too many trusted ranges");
    for (size_t i = 0; i < c->n_proxies; i++) {
        const mm_front_cidr *r = &c->proxies[i];
        check(r->prefix <= 128, "a prefix past 128 bits");
        for (unsigned bit = r->prefix; bit < 128; bit++)
            check(!((r->addr[bit / 8] >> (7 - bit % 8)) & 1), "a trusted range with host bits set");
    }
    uint8_t a[16];
    char canon[INET6_ADDRSTRLEN];
    int fam = strchr(c->fake_ip, ':') ? AF_INET6 : AF_INET;
    check(inet_pton(fam, c->fake_ip, a) == 1 && inet_ntop(fam, a, canon, sizeof(canon)) != NULL && strcmp(canon, c->fake_ip) == 0,
          "the fake IP is not canonical");
    check(!mm_client_ip_is_loopback(c->fake_ip), "the fake IP is loopback");
    size_t n = strnlen(c->cors_origin, sizeof(c->cors_origin));
    check(n >= 1 && n < sizeof(c->cors_origin), "the CORS origin is empty or not terminated");
    for (size_t i = 0; i < n; i++)
        check((unsigned char)c->cors_origin[i] >= 0x20 && (unsigned char)c->cors_origin[i] <= 0x7e,
              "the CORS origin holds a byte that is not printable ASCII");
    check(c->cors_origin[0] != ' ' && c->cors_origin[n - 1] != ' ', "the CORS origin is not trimmed");
    for (size_t i = 0; i < N_KNOWN; i++)
        if (known[i].offset != SIZE_MAX && known[i].offset != offsetof(mm_front_config, per_ip_sessions)) /* 0: none */
            check(field(c, known[i].offset) >= 1, "a numeric limit is zero");
    check(c->max_header_bytes >= 1024 && c->max_header_bytes <= c->max_header_bytes_total,
          "the head budget is out of range or above the total");
}

/* Applies one "name[=value]" line. */
static void
apply(mm_front_config *c, char *line)
{
    char *eq = strchr(line, '=');
    const char *value = NULL;
    if (eq != NULL) {
        *eq = '\0';
        value = eq + 1;
    }
    int k = known_index(line);
    bool takes = false;
    char why[256];
    memset(why, 0x5a, sizeof(why));
    int r = mm_front_config_flag(c, line, value, &takes, why, sizeof(why));
    check(r >= -1 && r <= 1, "an answer other than 1, 0 or -1");
    check((r == 0) == (k < 0), "a flag of the front was not recognised, or a stranger was");
    if (k >= 0)
        check(takes == (strcmp(known[k].name, "no-client-ip-override") != 0), "takes_value is wrong");
    if (r < 0) {
        check(memchr(why, '\0', sizeof(why)) != NULL, "the reason is not terminated");
        check(strstr(why, known[k].name) != NULL, "the reason does not name the flag");
    }
    if (r == 1 && known[k].offset != SIZE_MAX) {
        char *end;
        unsigned long long v = strtoull(value, &end, 10);
        check(*end == '\0' && field(c, known[k].offset) == v, "a numeric flag was taken with another value");
    }
    if (r == 1 && strcmp(known[k].name, "no-client-ip-override") == 0)
        check(!c->client_ip_override, "--no-client-ip-override left the override on");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* every flag of the front's table is in known[] (else a new flag fails only when the fuzzer
     * happens to spell it, maybe hours later) */
    for (size_t i = 0; i < mm_front_config_flags.n; i++)
        check(known_index(mm_front_config_flags.opts[i].name) >= 0, "a flag of the front's table is missing from known[]");
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    mm_front_config c;
    mm_front_config_init(&c);
    check_config(&c);
    check(mm_front_config_flag(&c, NULL, "x", NULL, NULL, 0) == 0, "a NULL name was taken");
    check(mm_front_config_flag(NULL, "bind", "x", NULL, NULL, 0) == 0, "a NULL configuration was used");
    for (char *line = text, *next; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        apply(&c, line);
        check_config(&c);
    }
    free(text);
    return 0;
}
