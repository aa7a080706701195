/*
 * Launch realism for edgegap_sim (src/sim/sim_edgegap_launch.h): flag parsers, the preset, the
 * lognormal distributions, the seeded generator and the token buckets.
 *
 * A lognormal with median m and 99th percentile p has mu = ln m and sigma = ln(p / m) / z99,
 * z99 = 2.3263478740 (the standard normal's 99th percentile); p == m gives a constant. Normal
 * draws use Box-Muller on the splitmix64 generator, so a fixed --seed and the same order of
 * requests give the same delays. A bucket refills continuously (rate tokens a second, at most
 * burst); it starts full, so a client gets `burst` requests at once, then `rate` a second.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/parse.h"
#include "sim_edgegap_launch.h"

#define Z99 2.3263478740408408
#define MAX_RATE 1000000.0
#define MAX_BURST 1000000ULL

static const char *const class_names[MM_SIM_RATE_CLASSES] = {"create", "get", "delete", "other"};

const char *
mm_sim_rate_class_name(mm_sim_rate_class cls)
{
    return cls < MM_SIM_RATE_CLASSES ? class_names[cls] : "?";
}

mm_sim_rate_class
mm_sim_rate_class_of(mm_sim_endpoint endpoint)
{
    switch (endpoint) {
    case MM_SIM_EP_SESSION_CREATE:
        return MM_SIM_RATE_CREATE;
    case MM_SIM_EP_SESSION_GET:
        return MM_SIM_RATE_GET;
    case MM_SIM_EP_SESSION_DELETE:
        return MM_SIM_RATE_DELETE;
    default:
        return MM_SIM_RATE_OTHER;
    }
}

static mm_err
parse_rate_number(const char *text, size_t len, double *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf))
        return MM_ERR_INVALID;
    memcpy(buf, text, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (strchr("0123456789.", buf[i]) == NULL)
            return MM_ERR_INVALID;
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return MM_ERR_INVALID;
    *out = v;
    return MM_OK;
}

mm_err
mm_sim_parse_rate_limit(const char *text, mm_sim_rate_cfg rates[MM_SIM_RATE_CLASSES], char *why, size_t why_len)
{
    const char *eq = strchr(text, '=');
    int cls = -1;
    for (int i = 0; eq != NULL && i < MM_SIM_RATE_CLASSES; i++)
        if (strlen(class_names[i]) == (size_t)(eq - text) && strncmp(text, class_names[i], (size_t)(eq - text)) == 0)
            cls = i;
    if (cls < 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' is not CLASS=RATE/BURST with CLASS create, get, delete or other",
                       text);
    const char *val = eq + 1;
    if (strcmp(val, "off") == 0) {
        rates[cls] = (mm_sim_rate_cfg){0, 0};
        return MM_OK;
    }
    const char *slash = strchr(val, '/');
    double rate = 0;
    uint64_t burst = 0;
    char sub[120];
    if (slash == NULL || parse_rate_number(val, (size_t)(slash - val), &rate) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s': RATE/BURST expected after '=', e.g. create=40/40 (or off)", text);
    if (!(rate >= 0.01 && rate <= MAX_RATE))
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s': RATE must be in 0.01..1000000 requests a second", text);
    if (mm_parse_u64(slash + 1, 1, MAX_BURST, &burst, sub, sizeof(sub)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s': BURST: %s", text, sub);
    rates[cls] = (mm_sim_rate_cfg){rate, (uint32_t)burst};
    return MM_OK;
}

void
mm_sim_dist_set(mm_sim_dist *dist, uint64_t median_ms, uint64_t p99_ms)
{
    memset(dist, 0, sizeof(*dist));
    if (median_ms == 0)
        return;
    dist->median_ms = median_ms;
    dist->p99_ms = p99_ms < median_ms ? median_ms : p99_ms;
    dist->mu = log((double)median_ms);
    dist->sigma = log((double)dist->p99_ms / (double)median_ms) / Z99;
}

mm_err
mm_sim_parse_dist(const char *text, uint64_t max_ms, mm_sim_dist *dist, char *why, size_t why_len)
{
    const char *comma = strchr(text, ',');
    char first[32], sub[120];
    uint64_t median = 0, p99 = 0;
    if (comma == NULL || (size_t)(comma - text) >= sizeof(first))
        return mm_fail(MM_ERR_INVALID, why, why_len, "'%.60s' is not MEDIAN,P99 (milliseconds)", text);
    memcpy(first, text, (size_t)(comma - text));
    first[comma - text] = '\0';
    if (mm_parse_u64(first, 1, max_ms, &median, sub, sizeof(sub)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "MEDIAN: %s", sub);
    if (mm_parse_u64(comma + 1, 1, max_ms, &p99, sub, sizeof(sub)) != MM_OK)
        return mm_fail(MM_ERR_INVALID, why, why_len, "P99: %s", sub);
    if (p99 < median)
        return mm_fail(MM_ERR_INVALID, why, why_len, "P99 (%llu) must not be below MEDIAN (%llu)", (unsigned long long)p99,
                       (unsigned long long)median);
    mm_sim_dist_set(dist, median, p99);
    return MM_OK;
}

mm_err
mm_sim_launch_preset(mm_sim_launch_cfg *cfg, const char *name, char *why, size_t why_len)
{
    if (strcmp(name, "launch") != 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "unknown preset '%.40s' (known: launch)", name);
    /* Each number and its source: docs/edgegap_sim.md, "The launch preset". */
    cfg->rate[MM_SIM_RATE_CREATE] = (mm_sim_rate_cfg){40, 40}; /* Edgegap documents 40 deployment requests/s */
    cfg->rate[MM_SIM_RATE_DELETE] = (mm_sim_rate_cfg){40, 40}; /* assumption: deletes count like deployments */
    cfg->rate[MM_SIM_RATE_GET] = (mm_sim_rate_cfg){100, 100};  /* assumption */
    cfg->rate[MM_SIM_RATE_OTHER] = (mm_sim_rate_cfg){10, 10};  /* assumption */
    mm_sim_dist_set(&cfg->latency, 80, 400);                   /* assumption: a hosted API across an ocean */
    mm_sim_dist_set(&cfg->deploy, 3000, 10000);                /* about 3 s median; p99 an assumption */
    cfg->capacity = 1000;                                      /* assumption */
    snprintf(cfg->preset, sizeof(cfg->preset), "%s", name);
    return MM_OK;
}

static json_t *
dist_json(const mm_sim_dist *d)
{
    if (d->median_ms == 0)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "median", json_integer((json_int_t)d->median_ms));
    json_object_set_new(o, "p99", json_integer((json_int_t)d->p99_ms));
    return o;
}

json_t *
mm_sim_launch_cfg_json(const mm_sim_launch_cfg *cfg, uint64_t deploy_delay_ms, size_t nkeys)
{
    json_t *o = json_object(), *rates = json_object();
    for (int i = 0; i < MM_SIM_RATE_CLASSES; i++) {
        json_t *r = json_null();
        if (cfg->rate[i].rate > 0) {
            r = json_object();
            json_object_set_new(r, "rate", json_real(cfg->rate[i].rate));
            json_object_set_new(r, "burst", json_integer(cfg->rate[i].burst));
        }
        json_object_set_new(rates, class_names[i], r);
    }
    json_object_set_new(o, "preset", cfg->preset[0] != '\0' ? json_string(cfg->preset) : json_null());
    json_object_set_new(o, "rate_limits", rates);
    json_object_set_new(o, "latency_ms", dist_json(&cfg->latency));
    json_object_set_new(o, "deploy_ms", dist_json(&cfg->deploy));
    json_object_set_new(o, "deploy_delay_ms", cfg->deploy.median_ms == 0 ? json_integer((json_int_t)deploy_delay_ms) : json_null());
    json_object_set_new(o, "capacity", json_integer((json_int_t)cfg->capacity));
    json_object_set_new(o, "api_keys", json_integer((json_int_t)nkeys));
    return o;
}

/* ---- generator and draws ---- */

static uint64_t
rng_next(mm_sim_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double
mm_sim_rng_unit(mm_sim_rng *rng)
{
    return (double)(rng_next(rng) >> 11) / 9007199254740992.0;
}

uint64_t
mm_sim_dist_draw(const mm_sim_dist *dist, mm_sim_rng *rng)
{
    if (dist->median_ms == 0)
        return 0;
    if (dist->sigma <= 0)
        return dist->median_ms;
    double u1 = 1.0 - mm_sim_rng_unit(rng); /* (0, 1]: log stays finite */
    double u2 = mm_sim_rng_unit(rng);
    double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
    double ms = exp(dist->mu + dist->sigma * z);
    if (ms > 3600000.0) /* a draw far in the tail stays within an hour */
        ms = 3600000.0;
    return (uint64_t)llround(ms);
}

/* ---- token buckets ---- */

bool
mm_sim_bucket_take(mm_sim_bucket *b, const mm_sim_rate_cfg *cfg, uint64_t now_ns, uint32_t *retry_after_s)
{
    if (b->last_ns == 0) {
        b->tokens = cfg->burst;
    } else if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) / 1e9 * cfg->rate;
        if (b->tokens > cfg->burst)
            b->tokens = cfg->burst;
    }
    b->last_ns = now_ns;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    double wait_s = (1.0 - b->tokens) / cfg->rate;
    double secs = ceil(wait_s);
    *retry_after_s = secs < 1 ? 1 : secs > 86400 ? 86400 : (uint32_t)secs;
    return false;
}
