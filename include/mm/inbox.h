/*
 * A bounded multi-producer, single-consumer inbox of fixed-size typed messages.
 *
 * Built from Concurrency Kit SPSC rings, one per producer thread, which the consumer drains in
 * turn. Concurrency Kit's own multi-producer ring spins while an earlier, preempted producer
 * finishes its enqueue; with more threads than cores that collapses throughput (docs/libnotes.md, Concurrency Kit).
 * Here a preempted producer can only delay its own ring. Messages from one producer thread are
 * received in the order they were sent; there is no order between producers.
 *
 * Producers: any thread, any time, via mm_inbox_send(). The first send from a thread claims a
 * ring for it (a short lock, once per thread and inbox); rings of exited threads are reused.
 * Threads beyond max_producers share one extra ring behind a lock: slower, still correct.
 * A full ring is MM_ERR_FULL and the message stays with the caller: nothing blocks, nothing is
 * dropped. The bound is capacity per producer ring.
 *
 * Consumer: exactly one thread. It drains batches with mm_inbox_drain() and sleeps without CPU
 * on mm_inbox_fd() (an eventfd) between mm_inbox_wait_begin()/mm_inbox_wait_end(), or simply
 * calls mm_inbox_wait(). A producer writes the eventfd only when the consumer announced that it
 * is going to sleep, so a busy consumer costs producers no system call.
 */
#ifndef MM_INBOX_H
#define MM_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

/**
 * One message: 32 bytes, copied by value through the ring. `type` is the receiver's message
 * enum; `target` names the object it is for (0 = the receiver itself), so a message for an
 * object that died meanwhile can be recognised and dropped; `ptr` is an optional payload whose
 * ownership moves with the message; `arg` is a free integer.
 */
typedef struct mm_msg {
    uint32_t type;
    uint32_t aux;
    uint64_t target;
    void *ptr;
    uint64_t arg;
} mm_msg;

typedef struct mm_inbox mm_inbox;

typedef struct mm_inbox_config {
    uint32_t capacity;      /* at least this many messages per producer ring (2^k - 1 >= it); default 4095 */
    uint32_t max_producers; /* rings with a thread of their own; default 64 */
} mm_inbox_config;

typedef struct mm_inbox_stats {
    uint64_t sent;      /* messages accepted */
    uint64_t received;  /* messages drained */
    uint64_t full;      /* sends refused because the ring was full */
    uint64_t wakeups;   /* eventfd writes by producers */
    uint32_t producers; /* rings in use (claimed at least once) */
} mm_inbox_stats;

/** Creates an inbox; config may be NULL for defaults. */
mm_err mm_inbox_create(const mm_inbox_config *config, mm_inbox **out);

/**
 * Copies *msg into the inbox. MM_OK, MM_ERR_FULL (the sender's ring is full) or
 * MM_ERR_STOPPED (mm_inbox_close() was called). On any error the caller still owns msg->ptr.
 */
mm_err mm_inbox_send(mm_inbox *inbox, const mm_msg *msg);

/** Consumer only: moves up to max messages into out, fairly across producers. Returns the count. */
size_t mm_inbox_drain(mm_inbox *inbox, mm_msg *out, size_t max);

/** Consumer only: true when no message is waiting. */
bool mm_inbox_empty(mm_inbox *inbox);

/** The eventfd that becomes readable when a producer wakes the consumer. */
int mm_inbox_fd(const mm_inbox *inbox);

/**
 * Consumer only. Announces the intent to sleep and returns true if the inbox is still empty, in
 * which case the caller may block on mm_inbox_fd() (with any other fds) and must then call
 * mm_inbox_wait_end(). Returns false (and undoes the announcement) if messages are waiting.
 */
bool mm_inbox_wait_begin(mm_inbox *inbox);

/** Consumer only: ends a sleep started by mm_inbox_wait_begin() and resets the eventfd. */
void mm_inbox_wait_end(mm_inbox *inbox);

/** Consumer only: sleeps until a message may be waiting or timeout_ms passes (-1 = no limit). */
void mm_inbox_wait(mm_inbox *inbox, int timeout_ms);

/** Wakes the consumer from any thread (an eventfd write), whether or not it sleeps. */
void mm_inbox_wake(mm_inbox *inbox);

/**
 * Refuses every later send with MM_ERR_STOPPED and returns once no send is still in progress,
 * so that after it the consumer's last drain sees every message that was ever accepted.
 * Late senders keep getting MM_ERR_STOPPED until mm_inbox_destroy(). Any thread; idempotent.
 */
void mm_inbox_close(mm_inbox *inbox);

/** Counters, summed over producer rings; approximate while producers run. */
void mm_inbox_get_stats(mm_inbox *inbox, mm_inbox_stats *stats);

/**
 * Frees the inbox. Messages still queued are passed to discard (if not NULL) so their payloads
 * can be freed. No thread may use the inbox any more. Accepts NULL.
 */
void mm_inbox_destroy(mm_inbox *inbox, void (*discard)(void *ctx, mm_msg *msg), void *ctx);

#endif
