/*
 * edgegap_sim's world (src/sim/sim_edgegap_internal.h): creation and reset, id generation, the
 * pools of deployment addresses and external ports, and the memory of deleted session ids.
 *
 * Ids are 48 random bits from a seeded generator, printed as 12 lowercase hex digits, so a run
 * with a fixed --seed hands out the same ids every time. A deleted session id is remembered for
 * terminated_ttl_ms (DELETE then answers 410 instead of 404) in a compact map + FIFO: 16 bytes
 * per id instead of a whole session, bounded by terminated_max.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "sim_alloc.h"
#include "sim_edgegap_internal.h"

void
mm_sim_world_create(const mm_sim_edgegap_cfg *cfg, mm_timer_heap *timers, const mm_sim_faults *faults, mm_sim_webhook *webhook,
                    mm_sim_world **out)
{
    mm_sim_world *w = mm_sim_xcalloc(1, sizeof(*w));
    w->cfg = cfg;
    w->timers = timers;
    w->webhook = webhook;
    w->faults = *faults;
    w->rng = (cfg->seed != 0 ? cfg->seed : 1) ^ 0x5851f42d4c957f2dULL;
    mm_idmap_init(&w->sessions);
    mm_idmap_init(&w->deployments);
    mm_idmap_init(&w->terminated);
    mm__sim_list_init(&w->session_list);
    mm__sim_list_init(&w->deployment_list);
    mm__sim_list_init(&w->capacity_wait);
    /* streams of their own, so fault decisions and ids stay what they were without these flags */
    w->latency_rng.state = (cfg->seed != 0 ? cfg->seed : 1) ^ 0x6a09e667f3bcc909ULL;
    w->deploy_rng.state = (cfg->seed != 0 ? cfg->seed : 1) ^ 0xbb67ae8584caa73bULL;
    w->one_version = cfg->napps == 1 && cfg->apps[0].nversions == 1;
    for (size_t a = 0; a < MM_SIM_MAX_APPS; a++)
        for (size_t v = 0; v < MM_SIM_MAX_VERSIONS; v++) {
            mm__sim_list_init(&w->rt[a][v].open_ready);
            mm__sim_list_init(&w->rt[a][v].open_deploying);
            w->rt[a][v].app_version_id = (int32_t)(1000 * (a + 1) + v + 1);
        }
    w->ip_used = mm_sim_xcalloc((size_t)cfg->ip_count / 8 + 1, 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    mm__sim_format_time((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, w->created_time, sizeof(w->created_time));
    *out = w;
}

static void
terminated_clear(mm_sim_world *w)
{
    mm_idmap_dispose(&w->terminated);
    free(w->term_ids);
    free(w->term_due);
    w->term_ids = w->term_due = NULL;
    w->term_head = w->term_len = w->term_cap = 0;
}

void
mm_sim_world_destroy(mm_sim_world *w)
{
    if (w == NULL)
        return;
    mm__sim_destroy_all(w);
    mm_idmap_dispose(&w->sessions);
    mm_idmap_dispose(&w->deployments);
    terminated_clear(w);
    free(w->ip_used);
    free(w);
}

mm_sim_faults *
mm_sim_world_faults(mm_sim_world *w)
{
    return &w->faults;
}

void
mm_sim_world_count_request(mm_sim_world *w, mm_sim_endpoint endpoint)
{
    if (endpoint < MM_SIM_EP_COUNT)
        w->counters.requests[endpoint]++;
}

void
mm_sim_world_count_unauthorized(mm_sim_world *w)
{
    w->counters.unauthorized++;
}

bool
mm_sim_world_rate_take(mm_sim_world *w, size_t key, mm_sim_endpoint endpoint, uint32_t *retry_after_s)
{
    mm_sim_rate_class cls = mm_sim_rate_class_of(endpoint);
    const mm_sim_rate_cfg *rc = &w->cfg->launch.rate[cls];
    if (rc->rate <= 0 || key >= MM_SIM_MAX_KEYS)
        return true;
    if (mm_sim_bucket_take(&w->buckets[key][cls], rc, mm_now_ns(), retry_after_s))
        return true;
    w->counters.rate_limited[cls]++;
    return false;
}

uint64_t
mm_sim_world_draw_latency(mm_sim_world *w)
{
    return mm_sim_dist_draw(&w->cfg->launch.latency, &w->latency_rng);
}

void
mm_sim_world_reset(mm_sim_world *w)
{
    mm__sim_destroy_all(w);
    terminated_clear(w);
    memset(&w->counters, 0, sizeof(w->counters));
    memset(w->buckets, 0, sizeof(w->buckets)); /* full again */
    mm_sim_faults_clear(&w->faults);
    memset(w->ip_used, 0, (size_t)w->cfg->ip_count / 8 + 1);
    memset(w->port_used, 0, sizeof(w->port_used));
    w->ip_cursor = w->port_cursor = w->ips_in_use = 0;
}

/* ---- ids ---- */

static uint64_t
next_random(mm_sim_world *w)
{
    /* splitmix64: every seed gives a full-period, well-mixed sequence */
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t
mm__sim_world_new_id(mm_sim_world *w, const mm_idmap *avoid, bool avoid_terminated)
{
    for (;;) {
        uint64_t id = next_random(w) & 0xffffffffffffULL;
        if (id == 0 || mm_idmap_get(avoid, id) != NULL)
            continue;
        if (avoid_terminated && mm_idmap_get(&w->terminated, id) != NULL)
            continue;
        return id;
    }
}

void
mm__sim_format_id(uint64_t id, char *out, bool session)
{
    snprintf(out, 16, "%012llx%s", (unsigned long long)(id & 0xffffffffffffULL), session ? "-S" : "");
}

bool
mm__sim_parse_session_id(const char *text, uint64_t *id)
{
    if (strlen(text) != 14 || text[12] != '-' || text[13] != 'S')
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 12; i++) {
        char c = text[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *id = v;
    return v != 0;
}

/* ---- addresses and external ports ---- */

static bool
bit_get(const uint8_t *bits, uint32_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1;
}

static void
bit_set(uint8_t *bits, uint32_t i, bool on)
{
    if (on)
        bits[i / 8] |= (uint8_t)(1u << (i % 8));
    else
        bits[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

static bool
take_port(mm_sim_world *w, uint16_t *port)
{
    uint32_t span = 65536u - w->cfg->port_base;
    for (uint32_t k = 0; k < span; k++) {
        uint32_t p = w->cfg->port_base + (w->port_cursor + k) % span;
        if (!bit_get(w->port_used, p)) {
            bit_set(w->port_used, p, true);
            w->port_cursor = (p - w->cfg->port_base + 1) % span;
            *port = (uint16_t)p;
            return true;
        }
    }
    return false;
}

bool
mm__sim_alloc_address(mm_sim_world *w, mm__sim_deployment *dep)
{
    const mm_sim_version_cfg *v = &w->cfg->apps[dep->app].versions[dep->version];
    if (w->ips_in_use >= w->cfg->ip_count)
        return false;
    uint32_t i = w->ip_cursor;
    while (bit_get(w->ip_used, i))
        i = (i + 1) % w->cfg->ip_count;
    size_t got = 0;
    for (; got < v->nports; got++)
        if (!take_port(w, &dep->ext_ports[got]))
            break;
    if (got < v->nports) {
        while (got > 0)
            bit_set(w->port_used, dep->ext_ports[--got], false);
        return false;
    }
    bit_set(w->ip_used, i, true);
    w->ips_in_use++;
    w->ip_cursor = (i + 1) % w->cfg->ip_count;
    dep->ip_index = i;
    uint32_t ip = w->cfg->ip_first + i;
    snprintf(dep->ip_str, sizeof(dep->ip_str), "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return true;
}

void
mm__sim_free_address(mm_sim_world *w, mm__sim_deployment *dep)
{
    const mm_sim_version_cfg *v = &w->cfg->apps[dep->app].versions[dep->version];
    for (size_t k = 0; k < v->nports; k++)
        bit_set(w->port_used, dep->ext_ports[k], false);
    bit_set(w->ip_used, dep->ip_index, false);
    w->ips_in_use--;
}

/* ---- deleted session ids ---- */

static char terminated_mark; /* the value of every id in w->terminated: only presence counts */

static void
terminated_expire(mm_sim_world *w, uint64_t now)
{
    while (w->term_len > 0 && w->term_due[w->term_head] <= now) {
        mm_idmap_remove(&w->terminated, w->term_ids[w->term_head]);
        w->term_head = (w->term_head + 1) % w->term_cap;
        w->term_len--;
    }
}

void
mm__sim_terminated_add(mm_sim_world *w, uint64_t id)
{
    uint64_t now = mm_now_ms(), max = w->cfg->terminated_max;
    if (max == 0 || w->cfg->terminated_ttl_ms == 0)
        return;
    terminated_expire(w, now);
    if (w->term_len == max) { /* full: forget the oldest early */
        mm_idmap_remove(&w->terminated, w->term_ids[w->term_head]);
        w->term_head = (w->term_head + 1) % w->term_cap;
        w->term_len--;
    }
    if (w->term_len == w->term_cap) {
        uint64_t cap = w->term_cap == 0 ? 1024 : w->term_cap * 2;
        cap = cap > max ? max : cap;
        uint64_t *ids = mm_sim_xcalloc(cap, sizeof(*ids)), *due = mm_sim_xcalloc(cap, sizeof(*due));
        for (uint64_t k = 0; k < w->term_len; k++) {
            ids[k] = w->term_ids[(w->term_head + k) % w->term_cap];
            due[k] = w->term_due[(w->term_head + k) % w->term_cap];
        }
        free(w->term_ids);
        free(w->term_due);
        w->term_ids = ids;
        w->term_due = due;
        w->term_cap = cap;
        w->term_head = 0;
    }
    uint64_t tail = (w->term_head + w->term_len) % w->term_cap;
    w->term_ids[tail] = id;
    w->term_due[tail] = now + w->cfg->terminated_ttl_ms;
    w->term_len++;
    mm_sim_xidmap_put(&w->terminated, id, &terminated_mark);
}

bool
mm__sim_terminated_has(mm_sim_world *w, uint64_t id)
{
    terminated_expire(w, mm_now_ms());
    return mm_idmap_get(&w->terminated, id) != NULL;
}

void
mm__sim_format_time(int64_t unix_us, char *out, size_t out_len)
{
    time_t secs = (time_t)(unix_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, out_len, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + n, out_len - n, ".%06lld", (long long)(unix_us % 1000000));
}

/* ---- status spellings ---- */

const char *
mm__sim_session_status(mm__sim_session_state state, bool short_form)
{
    static const char *const legacy[] = {"Status.SEEKING", "Status.DEPLOYING", "Status.READY", "Status.ERROR",
                                         "Status.UNPROCESSABLE"};
    static const char *const brief[] = {"Seeking", "Deploying", "Ready", "Error", "Unprocessable"};
    return short_form ? brief[state] : legacy[state];
}

const char *
mm__sim_deployment_status(mm__sim_deployment_state state, bool short_form)
{
    static const char *const legacy[] = {"Status.DEPLOYING", "Status.READY", "Status.ERROR"};
    static const char *const brief[] = {"Deploying", "Ready", "Error"};
    return short_form ? brief[state] : legacy[state];
}
