/*
 * A recording reply sink for backend tests: stands in for the front's relay sink and records
 * every call (texts in order, the error, the end, the free) under one lock, so a test can wait
 * for a request to finish with a deadline and then check exactly what its client would have got.
 * The record outlives the sink: free() only marks it, the test frees records with rec_free().
 */
#ifndef MM_TEST_REC_SINK_H
#define MM_TEST_REC_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/reply.h"

#define REC_MAX_TEXTS 256

typedef struct rec_sink {
    mm_reply_sink base;
    char *texts[REC_MAX_TEXTS]; /* what send() got, in order */
    int n;
    bool has_error;
    uint16_t status; /* error(): status and message */
    char message[512];
    bool ended, freed;
    bool freed_before_end; /* free() came before any end */
    int after_end;         /* calls of send/error after the end (must stay 0) */
    int overflow;          /* texts beyond REC_MAX_TEXTS */
    /* rec_new_watchable: a sink whose client can leave (rec_leave), with gone() and watch_gone() */
    bool gone;
    void (*gone_cb)(void *ctx, uint64_t tag);
    void *gone_ctx;
    uint64_t gone_tag;
    int watches; /* watch_gone() calls */
} rec_sink;

/** A new zeroed record whose base is a usable sink. Stops the test on out of memory. */
rec_sink *rec_new(void);

/** rec_new, with gone() and watch_gone() as the front's relay sink has them. */
rec_sink *rec_new_watchable(void);

/** rec_new with gone() but no watch_gone(): its holder must poll. */
rec_sink *rec_new_pollable(void);

/** The client of a watchable (or pollable) sink leaves: gone() turns true and a watcher set is called (once). */
void rec_leave(rec_sink *r);

/** Frees the record and its texts (after the sink was freed, or when it never was handed on). */
void rec_free(rec_sink *r);

/** Waits until the sink was freed; false after timeout_ms. */
bool rec_wait_freed(rec_sink *r, int timeout_ms);

/** Waits until the sink got at least n texts; false after timeout_ms. */
bool rec_wait_texts(rec_sink *r, int n, int timeout_ms);

/** Reads a field under the lock (texts may be read without it once freed). */
int rec_count(rec_sink *r);

#endif
