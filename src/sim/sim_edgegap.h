/*
 * edgegap_sim: a local stand-in for the Edgegap API (docs/protocol.md section 7), served on loopback by
 * the edgegap_sim program. This header holds its configuration (apps, versions, timings, address
 * ranges) and the world model: sessions, deployments and their seats, with the /v1 and /__sim
 * operations expressed as "request in, HTTP status and JSON body out", independent of HTTP.
 *
 * Everything here runs on one thread (the server's event loop). Allocation failure aborts
 * (src/sim/sim_alloc.h); every input a client controls is validated and answered with an
 * Edgegap-style {"message": ...} error instead. See docs/edgegap_sim.md for the behaviour.
 */
#ifndef MM_SIM_EDGEGAP_H
#define MM_SIM_EDGEGAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mm/err.h"
#include "sim_edgegap_faults.h"
#include "sim_edgegap_launch.h"
#include "mm/timer.h"

#define MM_SIM_NAME_MAX 64 /* app, version and port names, including the terminating NUL */
#define MM_SIM_MAX_APPS 8
#define MM_SIM_MAX_VERSIONS 8 /* per app */
#define MM_SIM_MAX_PORTS 8    /* per version */

/** One port mapping of an app version (Edgegap's AppVersionPort). */
typedef struct mm_sim_port_cfg {
    char name[MM_SIM_NAME_MAX];
    uint16_t internal; /* the container port, 1..65535 */
    char protocol[8];  /* TCP, UDP, TCP/UDP, HTTP, HTTPS, WS or WSS */
    bool tls_upgrade;
    bool to_check;
} mm_sim_port_cfg;

/** An app version with its session configuration. Only kind "Seat" is simulated. */
typedef struct mm_sim_version_cfg {
    char name[MM_SIM_NAME_MAX];
    bool is_active;
    uint32_t sockets;       /* seats per deployment, 1..10000 */
    bool autodeploy;        /* start a deployment when no seat is free */
    uint32_t empty_ttl_min; /* Edgegap's empty_ttl, minutes (used when the ms override is 0) */
    size_t nports;
    mm_sim_port_cfg ports[MM_SIM_MAX_PORTS];
} mm_sim_version_cfg;

typedef struct mm_sim_app_cfg {
    char name[MM_SIM_NAME_MAX];
    bool is_active;
    size_t nversions;
    mm_sim_version_cfg versions[MM_SIM_MAX_VERSIONS];
} mm_sim_app_cfg;

/** How session and deployment statuses are spelled in /v1 answers. */
typedef enum mm_sim_status_style {
    MM_SIM_STATUS_LEGACY = 0, /* "Status.READY" (what the reference saw) */
    MM_SIM_STATUS_SHORT,      /* "Ready" (newer Edgegap answers) */
} mm_sim_status_style;

typedef struct mm_sim_edgegap_cfg {
    size_t napps;
    mm_sim_app_cfg apps[MM_SIM_MAX_APPS];

    char api_key[256];                        /* the exact authorization header value, e.g. "token abc" */
    char more_keys[MM_SIM_MAX_KEYS - 1][256]; /* further accepted keys (--api-key repeated), each its own buckets */
    size_t nmore_keys;
    char listen_host[64];       /* numeric IPv4 or IPv6 address */
    uint16_t listen_port;       /* 0 picks a free port */
    uint64_t deploy_delay_ms;   /* a new deployment becomes ready after this */
    uint64_t seek_delay_ms;     /* a session stays Status.SEEKING this long before placement */
    uint64_t empty_ttl_ms;      /* 0: each version's empty_ttl minutes */
    uint64_t terminated_ttl_ms; /* how long a deleted id is remembered (DELETE answers 410) */
    uint64_t terminated_max;    /* at most this many deleted ids are remembered */
    uint64_t max_sessions;      /* live sessions; beyond it POST /v1/session answers 429 */
    uint32_t ip_first;          /* first deployment address (host byte order) */
    uint32_t ip_count;          /* how many addresses the range holds */
    char ip_range[64];          /* the range as given, for logs */
    uint16_t port_base;         /* external ports are allocated from port_base..65535 */
    uint64_t seed;              /* ids and fault rates; 0 seeds from the clock */
    mm_sim_status_style status_style;
    size_t max_body;             /* largest request body accepted (bytes) */
    uint64_t webhook_timeout_ms; /* per delivery */
    uint32_t webhook_queue;      /* deliveries waiting; beyond it they fail (counted, logged) */
    mm_sim_launch_cfg launch;    /* rate limits, latency, deploy times, capacity (all off by default) */
} mm_sim_edgegap_cfg;

/**
 * Fills cfg with the defaults documented in `edgegap_sim --help`, including the default app
 * bevygap-spaceships / version 1 (Seat, 6 sockets, port "server" 6420/UDP). api_key is empty.
 */
void mm_sim_edgegap_cfg_defaults(mm_sim_edgegap_cfg *cfg);

/**
 * Replaces cfg's apps with those of a JSON config file ({"apps": [...]}, format in
 * docs/edgegap_sim.md). On error cfg's apps are unchanged and why holds a one-line reason.
 */
mm_err mm_sim_edgegap_cfg_load_file(mm_sim_edgegap_cfg *cfg, const char *path, char *why, size_t why_len);

/** Same as mm_sim_edgegap_cfg_load_file, from a parsed document. */
mm_err mm_sim_edgegap_cfg_load_json(mm_sim_edgegap_cfg *cfg, const json_t *doc, char *why, size_t why_len);

/** Parses "NAME:PORT/PROTOCOL" (e.g. "server:6420/UDP") into *port. */
mm_err mm_sim_parse_port_mapping(const char *text, mm_sim_port_cfg *port, char *why, size_t why_len);

/**
 * Parses an IPv4 CIDR range "A.B.C.D/N" (N in 8..32, host bits zero). Prefixes up to /30 leave
 * out the network and broadcast addresses. Sets *first (host order) and *count.
 */
mm_err mm_sim_parse_ip_range(const char *text, uint32_t *first, uint32_t *count, char *why, size_t why_len);

/** Checks cross-field rules (at least one app, unique names, api key set). */
mm_err mm_sim_edgegap_cfg_validate(const mm_sim_edgegap_cfg *cfg, char *why, size_t why_len);

/* ---- the world: sessions and deployments ---- */

typedef struct mm_sim_world mm_sim_world;
typedef struct mm_sim_webhook mm_sim_webhook;

/**
 * Creates an empty world. cfg, timers and webhook (may be NULL: no deliveries) must outlive it;
 * faults is copied. The world arms its own timers in *timers (the caller runs them).
 */
void mm_sim_world_create(const mm_sim_edgegap_cfg *cfg, mm_timer_heap *timers, const mm_sim_faults *faults, mm_sim_webhook *webhook,
                         mm_sim_world **out);

/** Frees every session and deployment and cancels their timers. Accepts NULL. */
void mm_sim_world_destroy(mm_sim_world *world);

/** The world's fault settings (read and changed by the server and POST /__sim/faults). */
mm_sim_faults *mm_sim_world_faults(mm_sim_world *world);

/** Counts one request on an endpoint (stats "requests"). */
void mm_sim_world_count_request(mm_sim_world *world, mm_sim_endpoint endpoint);

/** Counts one request refused for a missing or wrong authorization header. */
void mm_sim_world_count_unauthorized(mm_sim_world *world);

/**
 * The rate limit of the key with index key (0 = --api-key's first value) for the endpoint's
 * class: true when the request may go on (or no limit is set); else false, counted in stats
 * "rate_limited", with *retry_after_s set (whole seconds, at least 1).
 */
bool mm_sim_world_rate_take(mm_sim_world *world, size_t key, mm_sim_endpoint endpoint, uint32_t *retry_after_s);

/** A latency for one /v1 answer drawn from --latency-ms (0 when it is off). */
uint64_t mm_sim_world_draw_latency(mm_sim_world *world);

/*
 * The /v1 operations. Each returns the HTTP status and stores the answer in *body (a new JSON
 * reference the caller releases): the success shape of docs/protocol.md section 7, or {"message": ...}.
 */
int mm_sim_api_app_get(mm_sim_world *world, const char *app, json_t **body);
int mm_sim_api_version_get(mm_sim_world *world, const char *app, const char *version, json_t **body);
int mm_sim_api_session_create(mm_sim_world *world, const char *text, size_t len, json_t **body);
int mm_sim_api_session_get(mm_sim_world *world, const char *session_id, json_t **body);
int mm_sim_api_session_delete(mm_sim_world *world, const char *session_id, json_t **body);

/*
 * Introspection (/__sim/...), new references. The server adds what only it knows (connections,
 * waiting and hanging requests) to the stats object.
 */
json_t *mm_sim_world_stats(mm_sim_world *world);
json_t *mm_sim_world_deployments(mm_sim_world *world);

/** Deletes every session, deployment and remembered id, zeroes the counters and clears faults. */
void mm_sim_world_reset(mm_sim_world *world);

#endif
