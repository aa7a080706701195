/*
 * What follows from the flags alone (mm_bench.h): the target's address, the client_ip spread and
 * the open-loop schedule. The schedule is a closed form, so request k's start time is computed
 * directly: no accumulated rounding, and the total is known before the run.
 */
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

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
    double c = d >= r ? n * (d - r / 2) : n * d * d / (2 * r);
    /* the k with C^-1(k) < d: k = 0 .. ceil(c) - 1 (a hair of slack for rounding) */
    return (uint64_t)ceil(c - 1e-9);
}
