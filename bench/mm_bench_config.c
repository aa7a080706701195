/*
 * What follows from the flags alone (mm_bench.h): the target's address, the client_ip spread and
 * the open-loop schedule (--rate-curve's in mm_bench_line.c). The schedule is a closed form, so request k's start time is computed
 * directly: no accumulated rounding, and the total is known before the run.
 *
 * Source addresses (--source-ips): the front counts its per-address limits by TCP peer, so a
 * load test from one address meets them at 10 requests/s. Client sockets are therefore bound,
 * round-robin by request number, to the addresses of the ranges given; with no flag and an IPv4
 * loopback target, to MM_BENCH_LOOPBACK_SOURCES (all of 127.0.0.0/8 is local on Linux), which
 * spreads `make run`'s default limits (120 sessions per 75 s, 10/s, 16 in flight per address)
 * thin: 65,278 addresses, so each is used once per 65,278 requests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mm_bench.h"

#define NS_PER_S 1000000000.0

mm_err
mm_bench_config_resolve(mm_bench_config *cfg, char *why, size_t why_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->port);
    int rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc != 0 || res == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "cannot resolve %s: %s", cfg->host, gai_strerror(rc));
    memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
    cfg->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return MM_OK;
}

void
mm_bench_config_wipe(mm_bench_config *cfg)
{
    if (cfg != NULL)
        mm_token_key_wipe(&cfg->verifier.key);
}

void
mm_bench_config_client_ip(const mm_bench_config *cfg, uint64_t k, char buf[16])
{
    uint32_t ip = cfg->ip_first + (uint32_t)(k % cfg->ip_count);
    snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

/*
 * The open-loop schedule: the rate grows linearly over the ramp R, then stays at N, so the
 * number of starts by time t is C(t) = N t^2 / 2R during the ramp and N (t - R/2) after it.
 * Request k starts when C(t) = k.
 */
uint64_t
mm_bench_open_loop_offset(const mm_bench_config *cfg, uint64_t k)
{
    double n = cfg->rate, r = (double)cfg->ramp_ns / NS_PER_S, t;
    if (cfg->curve_len > 0)
        return mm_bench_curve_offset(cfg, k);
    if (r > 0 && (double)k < n * r / 2)
        t = sqrt(2.0 * (double)k * r / n);
    else
        t = r / 2 + (double)k / n;
    return (uint64_t)llround(t * NS_PER_S);
}

uint64_t
mm_bench_open_loop_total(const mm_bench_config *cfg)
{
    double n = cfg->rate, r = (double)cfg->ramp_ns / NS_PER_S, d = (double)cfg->duration_ns / NS_PER_S;
    if (cfg->curve_len > 0)
        return mm_bench_curve_total(cfg);
    double c = d >= r ? n * (d - r / 2) : n * d * d / (2 * r);
    /* the k with C^-1(k) < d: k = 0 .. ceil(c) - 1 (a hair of slack for rounding) */
    return (uint64_t)ceil(c - 1e-9);
}

uint32_t
mm_bench_config_source_ip(const mm_bench_config *cfg, uint64_t k)
{
    uint64_t i = k % cfg->source_total;
    size_t r = 0;
    while (r + 1 < cfg->source_range_count && i >= cfg->source_count[r])
        i -= cfg->source_count[r++];
    return cfg->source_first[r] + (uint32_t)i;
}

/* Can a TCP socket be bound to ip (host order)? 0, or an errno. */
static int
test_bind(uint32_t ip)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int one = 1, err = 0;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(ip)};
    if (bind(fd, (const struct sockaddr *)&sin, sizeof(sin)) != 0)
        err = errno;
    close(fd);
    return err;
}

mm_err
mm_bench_config_sources(mm_bench_config *cfg, char *why, size_t why_len)
{
    int v4 = cfg->addr.ss_family == AF_INET;
    if (cfg->source_mode == MM_BENCH_SOURCE_AUTO) {
        uint32_t target = v4 ? ntohl(((const struct sockaddr_in *)&cfg->addr)->sin_addr.s_addr) : 0;
        if (v4 && (target >> 24) == 127) {
            if (mm_bench_flags_source_ips(cfg, MM_BENCH_LOOPBACK_SOURCES) != 0)
                return mm_fail(MM_ERR_INVALID, why, why_len, "internal: bad loopback source range");
        } else {
            cfg->source_mode = MM_BENCH_SOURCE_KERNEL;
        }
    }
    if (cfg->source_mode != MM_BENCH_SOURCE_RANGES)
        return MM_OK;
    if (!v4)
        return mm_fail(MM_ERR_INVALID, why, why_len, "--source-ips: the ranges are IPv4 but %s is not an IPv4 address", cfg->host);
    for (size_t r = 0; r < cfg->source_range_count; r++) {
        uint32_t ends[2] = {cfg->source_first[r], cfg->source_first[r] + (uint32_t)(cfg->source_count[r] - 1)};
        for (int e = 0; e < 2; e++) {
            int err = test_bind(ends[e]);
            if (err != 0) {
                char ip[16];
                struct in_addr a = {.s_addr = htonl(ends[e])};
                inet_ntop(AF_INET, &a, ip, sizeof(ip));
                return mm_fail(MM_ERR_INVALID, why, why_len,
                               "--source-ips: cannot bind %s: %s (only this machine's own addresses can be a source: see "
                               "`ip -brief addr`; on loopback any of 127.0.0.0/8)",
                               ip, strerror(err));
            }
        }
    }
    return MM_OK;
}

void
mm_bench_config_sources_text(const mm_bench_config *cfg, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    if (cfg->source_mode != MM_BENCH_SOURCE_RANGES) {
        snprintf(buf, len, "none");
        return;
    }
    for (size_t r = 0; r < cfg->source_range_count && n < len; r++) {
        char a[16], b[16];
        struct in_addr x = {.s_addr = htonl(cfg->source_first[r])};
        struct in_addr y = {.s_addr = htonl(cfg->source_first[r] + (uint32_t)(cfg->source_count[r] - 1))};
        inet_ntop(AF_INET, &x, a, sizeof(a));
        inet_ntop(AF_INET, &y, b, sizeof(b));
        int k = cfg->source_count[r] == 1 ? snprintf(buf + n, len - n, "%s%s", r ? "," : "", a)
                                           : snprintf(buf + n, len - n, "%s%s-%s", r ? "," : "", a, b);
        n += k > 0 ? (size_t)k : 0;
    }
}
