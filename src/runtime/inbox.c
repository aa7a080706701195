/*
 * Inbox: one Concurrency Kit SPSC ring per producer thread (see include/mm/inbox.h).
 *
 * Producer side. A thread finds its ring for an inbox through a small thread-local cache keyed
 * by the inbox's serial number (never reused, so a new inbox at a freed address cannot match a
 * stale entry). On a miss it registers under the global registry lock: it reuses a ring that
 * an exited thread released, or claims the next unused one, or, past max_producers, the one
 * shared ring that is guarded by a mutex. A pthread key destructor releases a thread's rings
 * when it exits, looking each inbox up by serial so that an inbox destroyed first is skipped.
 *
 * Memory ordering, two Dekker-style hand-shakes, both with a full barrier on each side:
 *  - sleep/wake: the consumer stores `sleeping`, fences, re-checks the rings; a producer
 *    publishes its slot, fences (the exchange on `busy`), reads `sleeping` and writes the
 *    eventfd only if it swapped the flag from 1 to 0. No wake-up is lost, none is wasted on a
 *    consumer that is awake.
 *  - close: the closer stores `closed`, fences, waits until no ring is `busy`; a producer
 *    exchanges `busy` to 1, then reads `closed`, and clears `busy` only after its last touch
 *    of the inbox. So once mm_inbox_close() returns, no message can be added behind the
 *    consumer's last drain, and no sender is still inside the inbox.
 * The `busy` flag sits on the producer's own cache line.
 */
#include <ck_ring.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mm/inbox.h"
#include "mm/log.h"
#include "tsan.h"

CK_RING_PROTOTYPE(mm_msg, mm_msg)

#define CACHELINE 64
#define DEFAULT_CAPACITY 4095 /* a 4096-slot ring: 128 KiB per producer */
#define DEFAULT_MAX_PRODUCERS 64
#define TLS_CACHE_SIZE 8

struct ring_slot {
    ck_ring_t ring; /* consumer head and producer tail on separate lines already */
    mm_msg *buf;    /* NULL until the slot is first claimed */
    /* Producer-written, on a line of their own. */
    _Alignas(CACHELINE) atomic_uint busy;
    atomic_uint owned;
    atomic_uint_fast64_t full;
    /* Consumer-written (single writer; atomic so mm_inbox_get_stats may read it from any thread). */
    _Alignas(CACHELINE) atomic_uint_fast64_t received;
};

struct mm_inbox {
    uint64_t serial;
    uint32_t ring_size; /* power of two; capacity is ring_size - 1 */
    uint32_t max_producers;
    struct ring_slot *slots;    /* max_producers + 1; the last is the shared one */
    atomic_uint nslots;         /* claimed own-thread slots, published with release */
    atomic_uint shared_used;    /* the shared slot has a buffer */
    pthread_mutex_t shared_lock; /* serialises producers of the shared slot */
    atomic_int closed;
    _Alignas(CACHELINE) atomic_int sleeping;
    atomic_uint_fast64_t wakeups;
    int efd;
    uint32_t rr; /* consumer's round-robin start */
    struct mm_inbox *next; /* registry list */
};

/* Every live inbox, for thread-exit clean-up and for registering producers. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mm_inbox *registry_head;
static atomic_uint_fast64_t serial_counter;

struct binding {
    uint64_t serial;
    struct ring_slot *slot;
};

/* All rings one thread holds; the pthread key's value, freed by its destructor. */
struct thread_bindings {
    size_t n, cap;
    struct binding *v;
};

static pthread_key_t bindings_key;
static pthread_once_t bindings_once = PTHREAD_ONCE_INIT;
static __thread struct binding tls_cache[TLS_CACHE_SIZE];
static __thread struct thread_bindings *tls_bindings;

static struct mm_inbox *
registry_find(uint64_t serial)
{
    for (struct mm_inbox *ib = registry_head; ib != NULL; ib = ib->next)
        if (ib->serial == serial)
            return ib;
    return NULL;
}

static void
thread_bindings_release(void *arg)
{
    struct thread_bindings *tb = arg;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < tb->n; i++) {
        struct mm_inbox *ib = registry_find(tb->v[i].serial);
        if (ib != NULL && tb->v[i].slot != &ib->slots[ib->max_producers])
            atomic_store_explicit(&tb->v[i].slot->owned, 0, memory_order_release);
    }
    pthread_mutex_unlock(&registry_lock);
    free(tb->v);
    free(tb);
}

static void
bindings_key_init(void)
{
    if (pthread_key_create(&bindings_key, thread_bindings_release) != 0)
        abort(); /* only at first use, and only if the process is out of keys */
}

/* Registry lock held. Drops bindings to dead inboxes, then appends one. */
static int
bindings_add(uint64_t serial, struct ring_slot *slot)
{
    if (tls_bindings == NULL) {
        pthread_once(&bindings_once, bindings_key_init);
        tls_bindings = calloc(1, sizeof(*tls_bindings));
        if (tls_bindings == NULL)
            return -1;
        pthread_setspecific(bindings_key, tls_bindings);
    }
    struct thread_bindings *tb = tls_bindings;
    if (tb->n == tb->cap) {
        size_t kept = 0;
        for (size_t i = 0; i < tb->n; i++)
            if (registry_find(tb->v[i].serial) != NULL)
                tb->v[kept++] = tb->v[i];
        tb->n = kept;
    }
    if (tb->n == tb->cap) {
        size_t cap = tb->cap == 0 ? 8 : tb->cap * 2;
        struct binding *v = realloc(tb->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        tb->v = v;
        tb->cap = cap;
    }
    tb->v[tb->n++] = (struct binding){serial, slot};
    return 0;
}

static int
slot_init(struct mm_inbox *ib, struct ring_slot *s)
{
    s->buf = aligned_alloc(CACHELINE, (size_t)ib->ring_size * sizeof(mm_msg));
    if (s->buf == NULL)
        return -1;
    ck_ring_init(&s->ring, ib->ring_size);
    return 0;
}

/* Slow path of producer_slot(): find or claim this thread's ring. */
static struct ring_slot *
producer_register(struct mm_inbox *ib)
{
    struct ring_slot *found = NULL;
    if (tls_bindings != NULL)
        for (size_t i = 0; i < tls_bindings->n; i++)
            if (tls_bindings->v[i].serial == ib->serial)
                return tls_bindings->v[i].slot;

    pthread_mutex_lock(&registry_lock);
    uint32_t n = atomic_load_explicit(&ib->nslots, memory_order_relaxed);
    for (uint32_t i = 0; i < n && found == NULL; i++) {
        unsigned expected = 0;
        if (atomic_compare_exchange_strong_explicit(&ib->slots[i].owned, &expected, 1, memory_order_acquire,
                                                    memory_order_relaxed))
            found = &ib->slots[i];
    }
    if (found == NULL && n < ib->max_producers) {
        struct ring_slot *s = &ib->slots[n];
        if (slot_init(ib, s) == 0) {
            atomic_store_explicit(&s->owned, 1, memory_order_relaxed);
            atomic_store_explicit(&ib->nslots, n + 1, memory_order_release);
            found = s;
        }
    }
    if (found == NULL) {
        struct ring_slot *s = &ib->slots[ib->max_producers];
        if (atomic_load_explicit(&ib->shared_used, memory_order_relaxed) || slot_init(ib, s) == 0) {
            atomic_store_explicit(&ib->shared_used, 1, memory_order_release);
            found = s;
        }
    }
    if (found != NULL && bindings_add(ib->serial, found) != 0) {
        if (found != &ib->slots[ib->max_producers])
            atomic_store_explicit(&found->owned, 0, memory_order_release);
        found = NULL;
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

static inline struct ring_slot *
producer_slot(struct mm_inbox *ib)
{
    struct binding *c = &tls_cache[ib->serial % TLS_CACHE_SIZE];
    if (c->serial == ib->serial)
        return c->slot;
    struct ring_slot *s = producer_register(ib);
    if (s != NULL)
        *c = (struct binding){ib->serial, s};
    return s;
}

mm_err
mm_inbox_create(const mm_inbox_config *config, mm_inbox **out)
{
    uint32_t capacity = config != NULL && config->capacity != 0 ? config->capacity : DEFAULT_CAPACITY;
    uint32_t max_producers = config != NULL && config->max_producers != 0 ? config->max_producers : DEFAULT_MAX_PRODUCERS;
    if (capacity > (1u << 24) || max_producers > 4096)
        return MM_ERR_INVALID;
    uint32_t ring_size = 2;
    while (ring_size - 1 < capacity)
        ring_size <<= 1;

    struct mm_inbox *ib = aligned_alloc(CACHELINE, (sizeof(*ib) + CACHELINE - 1) / CACHELINE * CACHELINE);
    if (ib == NULL)
        return MM_ERR_NOMEM;
    memset(ib, 0, sizeof(*ib));
    size_t slots_bytes = ((size_t)max_producers + 1) * sizeof(struct ring_slot);
    ib->slots = aligned_alloc(CACHELINE, slots_bytes);
    ib->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ib->slots == NULL || ib->efd < 0) {
        mm_err err = ib->slots == NULL ? MM_ERR_NOMEM : MM_ERR_SYS;
        if (ib->efd >= 0)
            close(ib->efd);
        free(ib->slots);
        free(ib);
        return err;
    }
    memset(ib->slots, 0, slots_bytes);
    pthread_mutex_init(&ib->shared_lock, NULL);
    ib->ring_size = ring_size;
    ib->max_producers = max_producers;
    ib->serial = atomic_fetch_add(&serial_counter, 1) + 1;

    pthread_mutex_lock(&registry_lock);
    ib->next = registry_head;
    registry_head = ib;
    pthread_mutex_unlock(&registry_lock);
    *out = ib;
    return MM_OK;
}

mm_err
mm_inbox_send(mm_inbox *ib, const mm_msg *msg)
{
    struct ring_slot *s = producer_slot(ib);
    if (s == NULL)
        return MM_ERR_NOMEM;
    atomic_exchange_explicit(&s->busy, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&ib->closed, memory_order_relaxed)) {
        atomic_store_explicit(&s->busy, 0, memory_order_release);
        return MM_ERR_STOPPED;
    }
    bool shared = s == &ib->slots[ib->max_producers];
    if (shared)
        pthread_mutex_lock(&ib->shared_lock);
    /* Reserve, write, commit: the TSan release must precede the store that publishes. */
    mm_msg *slot = ck_ring_enqueue_reserve_spsc_mm_msg(&s->ring, s->buf);
    bool ok = slot != NULL;
    if (ok) {
        MM__TSAN_ACQUIRE(&s->ring.c_head);
        *slot = *msg;
        MM__TSAN_RELEASE(&s->ring.p_tail);
        ck_ring_enqueue_commit_spsc(&s->ring);
    }
    if (shared)
        pthread_mutex_unlock(&ib->shared_lock);
    if (ok) {
        /* Full barrier: orders the published slot before the read of `sleeping`. */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&ib->sleeping, memory_order_relaxed) &&
            atomic_exchange_explicit(&ib->sleeping, 0, memory_order_seq_cst)) {
            atomic_fetch_add_explicit(&ib->wakeups, 1, memory_order_relaxed);
            mm_inbox_wake(ib);
        }
    } else {
        atomic_fetch_add_explicit(&s->full, 1, memory_order_relaxed);
    }
    /* Last touch of the inbox: mm_inbox_close() waits for this. */
    atomic_store_explicit(&s->busy, 0, memory_order_release);
    return ok ? MM_OK : MM_ERR_FULL;
}

/*
 * Consumer: pops one message. This is Concurrency Kit's single-consumer dequeue with the
 * ThreadSanitizer hand-over placed where TSan needs it: acquire after the producer's tail was
 * seen, release before the head store that lets the producer reuse the slot.
 */
static inline bool
slot_pop(struct ring_slot *s, mm_msg *out)
{
    ck_ring_t *r = &s->ring;
    unsigned int consumer = r->c_head;
    unsigned int producer = ck_pr_load_uint(&r->p_tail);
    if (consumer == producer)
        return false;
    ck_pr_fence_load();
    MM__TSAN_ACQUIRE(&r->p_tail);
    *out = s->buf[consumer & r->mask];
    MM__TSAN_RELEASE(&r->c_head);
    ck_pr_fence_store();
    ck_pr_store_uint(&r->c_head, consumer + 1);
    return true;
}

/* Consumer: dequeues up to quota messages from one slot. */
static size_t
slot_drain(struct ring_slot *s, mm_msg *out, size_t quota)
{
    size_t got = 0;
    while (got < quota && slot_pop(s, &out[got]))
        got++;
    if (got > 0)
        atomic_store_explicit(&s->received, atomic_load_explicit(&s->received, memory_order_relaxed) + got, memory_order_relaxed);
    return got;
}

size_t
mm_inbox_drain(mm_inbox *ib, mm_msg *out, size_t max)
{
    uint32_t n = atomic_load_explicit(&ib->nslots, memory_order_acquire);
    bool shared = atomic_load_explicit(&ib->shared_used, memory_order_acquire);
    uint32_t total = n + (shared ? 1 : 0);
    if (total == 0 || max == 0)
        return 0;
    /* Two passes: first a fair share for every ring, then whatever budget is left. */
    size_t got = 0, share = max / total < 16 ? 16 : max / total;
    for (int pass = 0; pass < 2 && got < max; pass++) {
        for (uint32_t i = 0; i < total && got < max; i++) {
            uint32_t idx = (ib->rr + i) % total;
            struct ring_slot *s = idx < n ? &ib->slots[idx] : &ib->slots[ib->max_producers];
            size_t quota = pass == 0 ? share : max - got;
            if (quota > max - got)
                quota = max - got;
            got += slot_drain(s, out + got, quota);
        }
    }
    ib->rr++;
    return got;
}

bool
mm_inbox_empty(mm_inbox *ib)
{
    uint32_t n = atomic_load_explicit(&ib->nslots, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++)
        if (ck_ring_size(&ib->slots[i].ring) != 0)
            return false;
    if (atomic_load_explicit(&ib->shared_used, memory_order_acquire) && ck_ring_size(&ib->slots[ib->max_producers].ring) != 0)
        return false;
    return true;
}

int
mm_inbox_fd(const mm_inbox *ib)
{
    return ib->efd;
}

bool
mm_inbox_wait_begin(mm_inbox *ib)
{
    atomic_store_explicit(&ib->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!mm_inbox_empty(ib) || atomic_load_explicit(&ib->closed, memory_order_relaxed)) {
        atomic_store_explicit(&ib->sleeping, 0, memory_order_relaxed);
        return false;
    }
    return true;
}

void
mm_inbox_wait_end(mm_inbox *ib)
{
    atomic_store_explicit(&ib->sleeping, 0, memory_order_relaxed);
    uint64_t v;
    while (read(ib->efd, &v, sizeof(v)) < 0 && errno == EINTR) {
    }
}

void
mm_inbox_wait(mm_inbox *ib, int timeout_ms)
{
    if (!mm_inbox_wait_begin(ib))
        return;
    struct pollfd p = {.fd = ib->efd, .events = POLLIN};
    poll(&p, 1, timeout_ms);
    mm_inbox_wait_end(ib);
}

void
mm_inbox_wake(mm_inbox *ib)
{
    uint64_t one = 1;
    while (write(ib->efd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
}

void
mm_inbox_close(mm_inbox *ib)
{
    atomic_store_explicit(&ib->closed, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    /* Under the registry lock no producer can be claiming a new slot behind our back; one that
     * registers after we release it sees `closed` through the lock. */
    pthread_mutex_lock(&registry_lock);
    uint32_t n = atomic_load_explicit(&ib->nslots, memory_order_acquire);
    pthread_mutex_unlock(&registry_lock);
    for (uint32_t i = 0; i <= ib->max_producers; i++) {
        if (i >= n && i != ib->max_producers)
            continue;
        while (atomic_load_explicit(&ib->slots[i].busy, memory_order_acquire))
            sched_yield();
    }
    mm_inbox_wake(ib);
}

void
mm_inbox_get_stats(mm_inbox *ib, mm_inbox_stats *st)
{
    memset(st, 0, sizeof(*st));
    uint32_t n = atomic_load_explicit(&ib->nslots, memory_order_acquire);
    for (uint32_t i = 0; i <= ib->max_producers; i++) {
        struct ring_slot *s = &ib->slots[i];
        if (i >= n && (i != ib->max_producers || !atomic_load(&ib->shared_used)))
            continue;
        uint64_t received = atomic_load_explicit(&s->received, memory_order_relaxed);
        st->received += received;
        st->sent += received + ck_ring_size(&s->ring);
        st->full += atomic_load_explicit(&s->full, memory_order_relaxed);
        st->producers++;
    }
    st->wakeups = atomic_load_explicit(&ib->wakeups, memory_order_relaxed);
}

void
mm_inbox_destroy(mm_inbox *ib, void (*discard)(void *ctx, mm_msg *msg), void *ctx)
{
    if (ib == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    for (struct mm_inbox **p = &registry_head; *p != NULL; p = &(*p)->next)
        if (*p == ib) {
            *p = ib->next;
            break;
        }
    pthread_mutex_unlock(&registry_lock);

    mm_msg batch[64];
    size_t got;
    while ((got = mm_inbox_drain(ib, batch, 64)) > 0)
        for (size_t i = 0; i < got; i++)
            if (discard != NULL)
                discard(ctx, &batch[i]);
    for (uint32_t i = 0; i <= ib->max_producers; i++)
        free(ib->slots[i].buf);
    /* This thread's cache may still name the serial; serials are never reused, so it is inert. */
    pthread_mutex_destroy(&ib->shared_lock);
    close(ib->efd);
    free(ib->slots);
    free(ib);
}
