/*
 * Launch realism for edgegap_sim (docs/edgegap_sim.md, "Launch realism"): what the real Edgegap
 * does to a studio on launch day that the plain simulator does not.
 *   - rate limits: a token bucket per API key and endpoint class (create, get, delete, other);
 *     an empty bucket answers 429 {"message": ...} with Retry-After;
 *   - latency: every /v1 answer is delayed by a time drawn from a lognormal distribution given
 *     by its median and 99th percentile;
 *   - deployment start times drawn from such a distribution too;
 *   - (the capacity of a region lives in the world model, sim_edgegap_life.c);
 *   - `--preset launch`, which sets all of these to the values documented in docs/edgegap_sim.md.
 * This file holds the parsers, the distributions, the seeded generator and the buckets; it has no
 * state of its own. Single-threaded (the server's loop), like the rest of the world.
 */
#ifndef MM_SIM_EDGEGAP_LAUNCH_H
#define MM_SIM_EDGEGAP_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mm/err.h"
#include "sim_edgegap_faults.h"

#define MM_SIM_MAX_KEYS 16 /* API keys the simulator accepts (--api-key, repeatable) */

/** The endpoint classes rate limits apply to. */
typedef enum mm_sim_rate_class {
    MM_SIM_RATE_CREATE = 0, /* POST /v1/session */
    MM_SIM_RATE_GET,        /* GET /v1/session/{id} */
    MM_SIM_RATE_DELETE,     /* DELETE /v1/session/{id} */
    MM_SIM_RATE_OTHER,      /* GET /v1/app/..., GET /v1/app/.../version/... */
    MM_SIM_RATE_CLASSES
} mm_sim_rate_class;

/** "create", "get", "delete", "other". */
const char *mm_sim_rate_class_name(mm_sim_rate_class cls);

/** The class of a /v1 endpoint. */
mm_sim_rate_class mm_sim_rate_class_of(mm_sim_endpoint endpoint);

/** One class's limit: rate tokens a second, at most burst stored. rate 0 means no limit. */
typedef struct mm_sim_rate_cfg {
    double rate;    /* 0 (off) or 0.01..1000000 */
    uint32_t burst; /* 1..1000000 when rate > 0 */
} mm_sim_rate_cfg;

/** A lognormal distribution of milliseconds. median 0 means off (nothing drawn). */
typedef struct mm_sim_dist {
    uint64_t median_ms, p99_ms;
    double mu, sigma; /* of the underlying normal, from median and p99 */
} mm_sim_dist;

/** The launch settings of the simulator's config (all off by default). */
typedef struct mm_sim_launch_cfg {
    mm_sim_rate_cfg rate[MM_SIM_RATE_CLASSES];
    mm_sim_dist latency; /* added to every /v1 answer that passed authorization */
    mm_sim_dist deploy;  /* deployment start time; off: --deploy-delay-ms */
    uint64_t capacity;   /* live deployments at once; 0: unlimited */
    char preset[16];     /* "launch" or "" */
} mm_sim_launch_cfg;

/**
 * Parses "CLASS=RATE/BURST" (RATE a decimal number of requests a second per key, BURST a whole
 * number) or "CLASS=off" into rates[CLASS]; nothing changes on error.
 */
mm_err mm_sim_parse_rate_limit(const char *text, mm_sim_rate_cfg rates[MM_SIM_RATE_CLASSES], char *why, size_t why_len);

/**
 * Parses "MEDIAN,P99" (whole milliseconds, 1 <= MEDIAN <= P99 <= max_ms) into *dist; nothing
 * changes on error.
 */
mm_err mm_sim_parse_dist(const char *text, uint64_t max_ms, mm_sim_dist *dist, char *why, size_t why_len);

/** Sets *dist to the lognormal with that median and 99th percentile (median 0: off). */
void mm_sim_dist_set(mm_sim_dist *dist, uint64_t median_ms, uint64_t p99_ms);

/** Applies a preset by name ("launch"); MM_ERR_INVALID for an unknown one. */
mm_err mm_sim_launch_preset(mm_sim_launch_cfg *cfg, const char *name, char *why, size_t why_len);

/** The settings as JSON (a new reference), for /__sim/stats "config" and the startup log. */
json_t *mm_sim_launch_cfg_json(const mm_sim_launch_cfg *cfg, uint64_t deploy_delay_ms, size_t nkeys);

/* ---- the seeded generator (splitmix64) ---- */

typedef struct mm_sim_rng {
    uint64_t state;
} mm_sim_rng;

/** A uniform number in [0, 1). */
double mm_sim_rng_unit(mm_sim_rng *rng);

/** One draw from dist, in whole milliseconds (rounded; 0 when dist is off). */
uint64_t mm_sim_dist_draw(const mm_sim_dist *dist, mm_sim_rng *rng);

/* ---- token buckets ---- */

typedef struct mm_sim_bucket {
    double tokens;
    uint64_t last_ns; /* 0: never used (full) */
} mm_sim_bucket;

/**
 * Takes one token from b under cfg at now_ns. Returns true when the request may go on; else
 * false and *retry_after_s is the whole seconds (at least 1) until a token will be there.
 */
bool mm_sim_bucket_take(mm_sim_bucket *b, const mm_sim_rate_cfg *cfg, uint64_t now_ns, uint32_t *retry_after_s);

#endif
