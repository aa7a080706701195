/*
 * Internals of edgegap_sim's world model, shared by the files that implement it:
 *   sim_edgegap_world.c    the world: creation, ids, address and port pools, deleted ids, reset
 *   sim_edgegap_life.c     lifecycles: placing sessions on seats, deployments starting, failing,
 *                          stopping when empty; webhooks on transitions
 *   sim_edgegap_api.c      the /v1 operations: request validation and answer shapes
 *   sim_edgegap_inspect.c  /__sim/stats and /__sim/deployments
 * Nothing here is used outside src/sim. Single-threaded (the server's loop).
 */
#ifndef MM_SIM_EDGEGAP_INTERNAL_H
#define MM_SIM_EDGEGAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_edgegap.h"
#include "mm/idmap.h"
#include "mm/timer.h"

/* ---- intrusive doubly linked lists (a node points to itself when unlinked) ---- */

typedef struct mm__sim_list {
    struct mm__sim_list *prev, *next;
} mm__sim_list;

static inline void
mm__sim_list_init(mm__sim_list *node)
{
    node->prev = node->next = node;
}

static inline bool
mm__sim_list_empty(const mm__sim_list *head)
{
    return head->next == head;
}

static inline bool
mm__sim_list_linked(const mm__sim_list *node)
{
    return node->next != node;
}

/** Inserts node before head, i.e. at the tail of the list. */
static inline void
mm__sim_list_append(mm__sim_list *head, mm__sim_list *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void
mm__sim_list_unlink(mm__sim_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    mm__sim_list_init(node);
}

#define MM__SIM_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- sessions and deployments ---- */

typedef enum mm__sim_session_state {
    MM__SIM_SESSION_SEEKING = 0,   /* not placed yet (seek delay, or never_ready fault) */
    MM__SIM_SESSION_DEPLOYING,     /* holds a seat in a deployment that is still starting */
    MM__SIM_SESSION_READY,         /* holds a seat in a ready deployment */
    MM__SIM_SESSION_ERROR,         /* its deployment failed or could not be started */
    MM__SIM_SESSION_UNPROCESSABLE, /* no free seat and the version does not autodeploy */
} mm__sim_session_state;

typedef enum mm__sim_deployment_state {
    MM__SIM_DEP_DEPLOYING = 0,
    MM__SIM_DEP_READY,
    MM__SIM_DEP_ERROR,
} mm__sim_deployment_state;

typedef struct mm__sim_deployment mm__sim_deployment;

typedef struct mm__sim_session {
    mm_sim_world *world;
    uint64_t id;
    char id_str[16]; /* 12 lowercase hex digits + "-S" */
    mm__sim_session_state state;
    uint16_t app, version;   /* indexes into cfg->apps / versions */
    mm__sim_deployment *dep; /* the deployment holding its seat, NULL while seeking */
    mm__sim_list in_dep;     /* member of dep->sessions */
    mm__sim_list in_world;   /* member of world->sessions (live sessions, creation order) */
    uint64_t created_ms;     /* monotonic, for elapsed */
    int64_t created_unix_us; /* wall clock, for create_time */
    char *webhook_url;       /* owned, or NULL */
    char **ips;              /* owned ip_list, nips entries */
    uint32_t nips;
    const char *error; /* static text while in error / unprocessable, else NULL */
    uint64_t wanted;   /* id of the deployment_request_id asked for (0: any), used at placement */
    mm_timer seek_timer;
    mm__sim_list in_wait; /* member of world->capacity_wait while no deployment may start for it */
} mm__sim_session;

struct mm__sim_deployment {
    mm_sim_world *world;
    uint64_t id;
    char id_str[16]; /* 12 lowercase hex digits */
    mm__sim_deployment_state state;
    uint16_t app, version;
    uint32_t ip_index; /* offset in the address range */
    char ip_str[16];
    uint16_t ext_ports[MM_SIM_MAX_PORTS];
    mm__sim_list sessions; /* sessions holding seats, in arrival order */
    uint32_t seats_used;
    mm__sim_list in_world; /* member of world->deployments (not stopped, creation order) */
    mm__sim_list in_open;  /* member of the version's open list while it has free seats */
    uint64_t seq;          /* creation order: open lists are kept sorted by it (oldest first) */
    bool will_fail;
    mm_timer ready_timer;
    mm_timer empty_timer;
};

/* Deployments of one app version that have free seats, by state. */
typedef struct mm__sim_version_rt {
    mm__sim_list open_ready;
    mm__sim_list open_deploying;
    int32_t app_version_id; /* the integer Edgegap reports as app_version */
} mm__sim_version_rt;

typedef struct mm__sim_counters {
    uint64_t sessions_created, sessions_ready, sessions_deleted, sessions_error, sessions_unprocessable;
    uint64_t deployments_started, deployments_stopped, deployments_failed;
    uint64_t requests[MM_SIM_EP_COUNT];
    uint64_t unauthorized;
    uint64_t rate_limited[MM_SIM_RATE_CLASSES];
    uint64_t capacity_waited; /* sessions that had to wait for capacity */
} mm__sim_counters;

struct mm_sim_world {
    const mm_sim_edgegap_cfg *cfg;
    mm_timer_heap *timers;
    mm_sim_webhook *webhook;
    mm_sim_faults faults;
    uint64_t rng; /* ids */

    mm_idmap sessions;    /* id -> mm__sim_session * */
    mm_idmap deployments; /* id -> mm__sim_deployment * */
    mm__sim_list session_list;
    mm__sim_list deployment_list;
    uint64_t live_sessions, live_deployments;
    mm__sim_version_rt rt[MM_SIM_MAX_APPS][MM_SIM_MAX_VERSIONS];

    /* deleted session ids: a map for lookups, a FIFO for expiry (one ttl, so FIFO = expiry order) */
    mm_idmap terminated; /* a set: id -> a marker that is never NULL */
    uint64_t *term_ids, *term_due;
    uint64_t term_head, term_len, term_cap;

    uint8_t *ip_used; /* bitmap over cfg->ip_count addresses */
    uint32_t ip_cursor, ips_in_use;
    uint8_t port_used[65536 / 8];
    uint32_t port_cursor;
    uint64_t next_deployment_seq;

    /* launch realism (sim_edgegap_launch.h): buckets per key and class, two seeded streams, and
     * the sessions waiting (Status.SEEKING) for a deployment to end under --capacity, oldest first */
    mm_sim_bucket buckets[MM_SIM_MAX_KEYS][MM_SIM_RATE_CLASSES];
    mm_sim_rng latency_rng, deploy_rng;
    mm__sim_list capacity_wait;
    uint64_t capacity_waiting;
    bool one_version; /* the config has one app version: the wait list is served head first */

    mm__sim_counters counters;
    char created_time[32]; /* when the world was made, Edgegap's time format (apps, versions) */
};

/* sim_edgegap_world.c */
uint64_t mm__sim_world_new_id(mm_sim_world *world, const mm_idmap *avoid, bool avoid_terminated);
void mm__sim_format_id(uint64_t id, char *out, bool session);
bool mm__sim_parse_session_id(const char *text, uint64_t *id);
bool mm__sim_alloc_address(mm_sim_world *world, mm__sim_deployment *dep);
void mm__sim_free_address(mm_sim_world *world, mm__sim_deployment *dep);
void mm__sim_terminated_add(mm_sim_world *world, uint64_t id);
bool mm__sim_terminated_has(mm_sim_world *world, uint64_t id);
const char *mm__sim_session_status(mm__sim_session_state state, bool short_form);
const char *mm__sim_deployment_status(mm__sim_deployment_state state, bool short_form);

/* sim_edgegap_life.c */
mm__sim_session *mm__sim_session_new(mm_sim_world *world, uint16_t app, uint16_t version);
void mm__sim_session_start(mm__sim_session *s, uint64_t wanted, bool never_ready);
void mm__sim_session_delete(mm__sim_session *s);
mm__sim_session *mm__sim_session_find(mm_sim_world *world, uint64_t id);
mm__sim_deployment *mm__sim_deployment_find(mm_sim_world *world, const char *request_id);
bool mm__sim_deployment_joinable(const mm__sim_deployment *dep);
void mm__sim_destroy_all(mm_sim_world *world);
void mm__sim_format_time(int64_t unix_us, char *out, size_t out_len);

#endif
