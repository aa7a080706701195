/*
 * Admission limits of the web front, shared by every loop thread: a token bucket, a count of
 * requests in progress and a count of recent sessions per client network address, and a count
 * for the whole process; and the count of open connections per TCP peer address (taken at
 * accept, given back at close).
 *
 * One mutex guards it all: it is taken twice per session request (admission and end) and once
 * when its session is accepted, never per other message, so contention is not a concern at the
 * request rates a matchmaker sees.
 * Addresses are 16-byte keys (IPv4-mapped; IPv6 cut to its /64, since one subscriber usually
 * holds a whole /64) in an open-addressing table with linear probing and backward-shift
 * deletion, hashed with SipHash under a random key so that chosen addresses cannot pile onto
 * one probe chain. Tokens are counted in millionths, so the arithmetic stays in integers.
 *
 * Sessions an address may hold (--per-ip-sessions, --session-window): the matchmaker creates an
 * Edgegap session when it answers SessionRequestAccepted (or a wannaplay's SessionReady), and a
 * session nobody claims is reaped after about 75 s. So the sessions an address holds unclaimed
 * are at most those accepted in the last window plus its requests not accepted yet ("pending"),
 * and admission refuses when that sum reaches the limit (0: no limit). The window is counted in
 * WIN_BUCKETS counters of width ceil(window / (WIN_BUCKETS - 1)), in a ring indexed by
 * time / width: a session is forgotten only when its bucket has fallen out of the ring, i.e.
 * when it is older than the window (never early), and at most one bucket width late. This grows
 * an entry from 40 to 88 bytes.
 *
 * Memory is bounded: an entry with no request in progress, no open connection, a full bucket
 * and no session in the window carries no information and is dropped when room is needed; the
 * table never holds more than MAX_ENTRIES.
 * If it is full of entries that do carry information, a new address is refused like the global
 * cap (the front is under a distributed flood then).
 */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "front_internal.h"

#define MICRO 1000000ull
#define MIN_CAP 1024u
#define MAX_ENTRIES (1u << 17)
#define WIN_BUCKETS 16

typedef struct entry {
    uint8_t key[16];
    bool used;
    uint32_t active;
    uint32_t pending;          /* requests in progress whose session was not counted yet */
    uint32_t conns;            /* open connections of this peer address */
    uint64_t tokens;           /* millionths of a token */
    uint64_t refill_ns;        /* when tokens was last brought up to date */
    uint64_t win_at;           /* the newest bucket index (time / win_width) the ring holds */
    uint16_t win[WIN_BUCKETS]; /* sessions accepted per bucket; bucket b lives at b % WIN_BUCKETS */
} entry;

struct mm__front_limits {
    pthread_mutex_t lock;
    uint64_t rate, burst, per_ip, global; /* burst in millionths */
    uint64_t sessions, win_width;         /* per-IP sessions per window; bucket width in ns */
    uint64_t active;
    entry *slots;
    size_t cap, len; /* cap is a power of two */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

mm_err
mm__front_limits_create(const mm_front_config *cfg, mm__front_limits **out)
{
    if (sodium_init() < 0)
        return MM_ERR_CRYPTO;
    mm__front_limits *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return MM_ERR_NOMEM;
    l->slots = calloc(MIN_CAP, sizeof(entry));
    if (l->slots == NULL) {
        free(l);
        return MM_ERR_NOMEM;
    }
    l->cap = MIN_CAP;
    l->rate = cfg->per_ip_rate;
    l->burst = (uint64_t)cfg->per_ip_burst * MICRO;
    l->per_ip = cfg->per_ip_concurrent;
    l->global = cfg->global_concurrent;
    l->sessions = cfg->per_ip_sessions;
    uint64_t window_ns = (uint64_t)(cfg->session_window_s > 0 ? cfg->session_window_s : 1) * 1000000000ull;
    l->win_width = (window_ns + WIN_BUCKETS - 2) / (WIN_BUCKETS - 1);
    randombytes_buf(l->hash_key, sizeof(l->hash_key));
    pthread_mutex_init(&l->lock, NULL);
    *out = l;
    return MM_OK;
}

void
mm__front_limits_destroy(mm__front_limits *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l->slots);
    free(l);
}

static size_t
home_of(const mm__front_limits *l, const uint8_t key[16])
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, key, 16, l->hash_key);
    return (size_t)h & (l->cap - 1);
}

static entry *
find(mm__front_limits *l, const uint8_t key[16])
{
    for (size_t i = home_of(l, key);; i = (i + 1) & (l->cap - 1)) {
        if (!l->slots[i].used)
            return NULL;
        if (memcmp(l->slots[i].key, key, 16) == 0)
            return &l->slots[i];
    }
}

static void
refill(const mm__front_limits *l, entry *e, uint64_t now_ns)
{
    if (now_ns <= e->refill_ns)
        return;
    uint64_t elapsed = now_ns - e->refill_ns;
    if (elapsed > 1000000000000ull) /* 1000 s refills any bucket; keeps the product in range */
        elapsed = 1000000000000ull;
    uint64_t add = elapsed * l->rate / 1000; /* rate tokens/s = rate/1000 millionths per ns */
    e->tokens = e->tokens + add > l->burst ? l->burst : e->tokens + add;
    e->refill_ns = now_ns;
}

/* Brings the ring of sessions up to now: buckets that left the window are emptied. */
static void
win_advance(const mm__front_limits *l, entry *e, uint64_t now_ns)
{
    uint64_t at = now_ns / l->win_width;
    if (at <= e->win_at)
        return; /* a clock that goes back changes nothing */
    uint64_t steps = at - e->win_at;
    for (uint64_t b = steps >= WIN_BUCKETS ? at - WIN_BUCKETS + 1 : e->win_at + 1; b <= at; b++)
        e->win[b % WIN_BUCKETS] = 0;
    e->win_at = at;
}

static uint32_t
win_sum(const entry *e)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < WIN_BUCKETS; i++)
        n += e->win[i];
    return n;
}

/* Removes slot i, shifting later members of its probe chain back (no tombstones). */
static void
remove_at(mm__front_limits *l, size_t i)
{
    size_t j = i;
    for (;;) {
        l->slots[i].used = false;
        for (;;) {
            j = (j + 1) & (l->cap - 1);
            if (!l->slots[j].used)
                return;
            size_t home = home_of(l, l->slots[j].key);
            /* slot j may move to i when its home is not in the cyclic range (i, j] */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        l->slots[i] = l->slots[j];
        i = j;
    }
}

/* Drops entries that carry no information (nothing in progress, no connection, bucket full, no recent session). */
static void
sweep(mm__front_limits *l, uint64_t now_ns)
{
    for (size_t i = 0; i < l->cap;) {
        entry *e = &l->slots[i];
        if (e->used && e->active == 0 && e->conns == 0) {
            refill(l, e, now_ns);
            win_advance(l, e, now_ns);
            if (e->tokens >= l->burst && win_sum(e) == 0) {
                remove_at(l, i);
                l->len--;
                continue; /* slot i now holds a shifted entry (or is empty): look again */
            }
        }
        i++;
    }
}

static bool
grow(mm__front_limits *l)
{
    entry *old = l->slots;
    size_t old_cap = l->cap;
    entry *slots = calloc(old_cap * 2, sizeof(entry));
    if (slots == NULL)
        return false;
    l->slots = slots;
    l->cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used) {
            size_t k = home_of(l, old[i].key);
            while (l->slots[k].used)
                k = (k + 1) & (l->cap - 1);
            l->slots[k] = old[i];
        }
    free(old);
    return true;
}

/* Finds or adds the entry of key; NULL when there is no room. */
static entry *
find_or_add(mm__front_limits *l, const uint8_t key[16], uint64_t now_ns)
{
    entry *e = find(l, key);
    if (e != NULL)
        return e;
    if ((l->len + 1) * 2 > l->cap) { /* it would pass half full */
        sweep(l, now_ns);
        /* when sweeping freed little, grow, so that the next sweep is far away */
        if ((l->len + 1) * 4 > l->cap && (l->cap / 2 >= MAX_ENTRIES || !grow(l)) && (l->len + 1) * 2 > l->cap)
            return NULL;
    }
    size_t i = home_of(l, key);
    while (l->slots[i].used)
        i = (i + 1) & (l->cap - 1);
    e = &l->slots[i];
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, 16);
    e->used = true;
    e->tokens = l->burst;
    e->refill_ns = now_ns;
    e->win_at = now_ns / l->win_width;
    l->len++;
    return e;
}

mm__admit
mm__front_limits_acquire(mm__front_limits *l, const uint8_t key[16], uint64_t now_ns)
{
    mm__admit verdict = MM__ADMIT_OK;
    pthread_mutex_lock(&l->lock);
    entry *e = NULL;
    if (l->active >= l->global || (e = find_or_add(l, key, now_ns)) == NULL) {
        verdict = MM__ADMIT_GLOBAL;
        goto cleanup;
    }
    refill(l, e, now_ns);
    if (e->active >= l->per_ip) {
        verdict = MM__ADMIT_IP_CONCURRENT;
        goto cleanup;
    }
    if (e->tokens < MICRO) {
        verdict = MM__ADMIT_RATE;
        goto cleanup;
    }
    win_advance(l, e, now_ns);
    if (l->sessions > 0 && (uint64_t)win_sum(e) + e->pending >= l->sessions) {
        verdict = MM__ADMIT_SESSIONS;
        goto cleanup;
    }
    e->tokens -= MICRO;
    e->active++;
    e->pending++;
    l->active++;
cleanup:
    pthread_mutex_unlock(&l->lock);
    return verdict;
}

mm__admit
mm__front_limits_acquire_exempt(mm__front_limits *l)
{
    mm__admit verdict = MM__ADMIT_GLOBAL;
    pthread_mutex_lock(&l->lock);
    if (l->active < l->global) {
        l->active++;
        verdict = MM__ADMIT_OK;
    }
    pthread_mutex_unlock(&l->lock);
    return verdict;
}

void
mm__front_limits_release_exempt(mm__front_limits *l)
{
    pthread_mutex_lock(&l->lock);
    if (l->active > 0)
        l->active--;
    pthread_mutex_unlock(&l->lock);
}

void
mm__front_limits_session(mm__front_limits *l, const uint8_t key[16], uint64_t now_ns)
{
    pthread_mutex_lock(&l->lock);
    entry *e = find(l, key);
    if (e != NULL && e->pending > 0) {
        e->pending--;
        win_advance(l, e, now_ns);
        uint16_t *b = &e->win[e->win_at % WIN_BUCKETS];
        if (*b < UINT16_MAX)
            (*b)++;
    }
    pthread_mutex_unlock(&l->lock);
}

void
mm__front_limits_release(mm__front_limits *l, const uint8_t key[16], bool had_session)
{
    pthread_mutex_lock(&l->lock);
    entry *e = find(l, key);
    if (e != NULL && e->active > 0) {
        e->active--;
        l->active--;
        if (!had_session && e->pending > 0)
            e->pending--;
    }
    pthread_mutex_unlock(&l->lock);
}

uint32_t
mm__front_limits_sessions_held(mm__front_limits *l, const uint8_t key[16], uint64_t now_ns)
{
    pthread_mutex_lock(&l->lock);
    entry *e = find(l, key);
    uint32_t n = 0;
    if (e != NULL) {
        win_advance(l, e, now_ns);
        n = win_sum(e) + e->pending;
    }
    pthread_mutex_unlock(&l->lock);
    return n;
}

bool
mm__front_limits_conn_acquire(mm__front_limits *l, const uint8_t key[16], uint32_t max, uint64_t now_ns)
{
    bool ok = false;
    pthread_mutex_lock(&l->lock);
    entry *e = find_or_add(l, key, now_ns);
    if (e != NULL && e->conns < max) {
        e->conns++;
        ok = true;
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void
mm__front_limits_conn_release(mm__front_limits *l, const uint8_t key[16])
{
    pthread_mutex_lock(&l->lock);
    entry *e = find(l, key);
    if (e != NULL && e->conns > 0)
        e->conns--;
    pthread_mutex_unlock(&l->lock);
}

uint64_t
mm__front_limits_active(mm__front_limits *l)
{
    pthread_mutex_lock(&l->lock);
    uint64_t n = l->active;
    pthread_mutex_unlock(&l->lock);
    return n;
}

size_t
mm__front_limits_tracked(mm__front_limits *l)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->len;
    pthread_mutex_unlock(&l->lock);
    return n;
}
