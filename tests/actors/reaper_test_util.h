/*
 * Helpers shared by the reaper tests (test_reaper.c, test_reaper_async.c): a "node" (one NATS
 * connection with the two watched buckets and the delete stream), reads of what the reaper
 * changed, and waits with a deadline. Every failure of a helper ends the test (MM_REQUIRE).
 */
#ifndef MM_TEST_REAPER_UTIL_H
#define MM_TEST_REAPER_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/kv.h"
#include "mm/nats_env.h"
#include "mm_test.h"

struct node {
    mm_nats *nats;
    mm_js *js;
};

/** Connects to server as name and sets up unclaimed_sessions, active_connections and the delete stream. */
struct node node_open(const struct mm_test_nats *server, const char *name);
void node_close(struct node *n);

kvStore *unclaimed(struct node *n);
kvStore *active(struct node *n);

/** Messages in DELETE_SESSION_STREAM (nothing consumes it in these tests). */
uint64_t stream_msgs(struct node *n);
/** True when a deletion of id is in the stream. */
bool queued(struct node *n, const char *id);
bool in_unclaimed(struct node *n, const char *id);
void put(kvStore *kv, const char *key, const char *value);
/** Empties both buckets (markers included), so each test sees only its own keys. */
void reset_buckets(struct node *n);
/** Waits until id's deletion is in the stream; false after timeout_ms. */
bool wait_queued(struct node *n, const char *id, int timeout_ms);
/** Waits until unclaimed_sessions no longer holds id; false after timeout_ms. */
bool wait_gone(struct node *n, const char *id, int timeout_ms);

#endif
