/*
 * The token minter actor (include/mm/minter.h).
 *
 * Owns: the private key (a locked copy, wiped at stop) and the token settings.
 * Receives: MINT, whose payload is a copy of the caller's mm_mint_request.
 * Sends: TOKEN_READY (an mm_minter_result) to the request's reply actor.
 * Never: logs the key, blocks on anything but a bounded retry of a full reply inbox, or keeps a
 * result it could not deliver.
 *
 * Minting costs a few microseconds (LIBNOTES.md), so one thread serves any request rate the
 * Edgegap API allows; its own inbox bounds the queue, and a full one is MM_ERR_FULL for the
 * sender. When the reply actor's inbox is full, the result is offered again with a short backoff
 * for up to reply_retry_ms: the receiver is draining, so a brief wait usually gets it through,
 * and during that wait the minter's own inbox absorbs new work. After that the result is dropped.
 */
#include <sched.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "mm/minter.h"

enum { MINTER_MSG_MINT = 1 };

#define DEFAULT_INBOX_CAPACITY 1023
#define DEFAULT_REPLY_RETRY_MS 20
#define DROP_LOG_INTERVAL_NS 1000000000ull

struct mm_minter {
    mm_actor *actor;
    mm_token_key *key; /* own allocation, sodium_mlock'ed when possible */
    bool key_locked;
    uint64_t protocol_id;
    mm_byte_order byte_order;
    uint64_t expire_seconds;
    int32_t timeout_seconds;
    uint64_t reply_retry_ns;
    uint64_t last_drop_log_ns; /* actor thread only */
    atomic_uint_fast64_t minted, failed, dropped, discarded;
};

static void
wipe_key(mm_minter *m)
{
    if (m->key == NULL)
        return;
    if (m->key_locked)
        sodium_munlock(m->key, sizeof(*m->key)); /* zeroes, then unlocks */
    m->key_locked = false;
    sodium_memzero(m->key, sizeof(*m->key));
}

/* Waits a little before the next attempt: yield first, then sleep 50 us doubling up to 1 ms. */
static void
backoff(unsigned attempt)
{
    if (attempt < 8) {
        sched_yield();
        return;
    }
    unsigned shift = attempt - 8 < 5 ? attempt - 8 : 5;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 50000L << shift};
    nanosleep(&ts, NULL);
}

static void
drop_result(mm_minter *m, mm_minter_result *result, mm_err why)
{
    uint64_t request_id = result->request_id;
    mm_minter_result_free(result);
    uint64_t total = atomic_fetch_add(&m->dropped, 1) + 1;
    uint64_t now = mm_now_ns();
    if (total == 1 || now - m->last_drop_log_ns >= DROP_LOG_INTERVAL_NS) {
        m->last_drop_log_ns = now;
        mm_error("minter: dropped the token of request %llu: the reply actor's inbox %s (%llu dropped so far)",
                 (unsigned long long)request_id, why == MM_ERR_FULL ? "stayed full" : "is closed", (unsigned long long)total);
    }
}

/* Hands result to its reply actor, retrying a full inbox for a while; drops it otherwise. */
static void
deliver(mm_minter *m, const mm_mint_request *req, mm_minter_result *result)
{
    bool ok = result->err == MM_OK;
    mm_msg reply = {.type = req->reply_type, .target = req->request_id, .ptr = result, .arg = req->client_id};
    uint64_t deadline = 0;
    for (unsigned attempt = 0;; attempt++) {
        mm_err err = mm_actor_send(req->reply_to, &reply);
        if (err == MM_OK) {
            atomic_fetch_add(ok ? &m->minted : &m->failed, 1);
            return;
        }
        if (err == MM_ERR_FULL && deadline == 0)
            deadline = mm_now_ns() + m->reply_retry_ns;
        if (err != MM_ERR_FULL || mm_now_ns() >= deadline) {
            drop_result(m, result, err);
            return;
        }
        backoff(attempt);
    }
}

static void
minter_handle(void *state, mm_actor *self, mm_msg *msg)
{
    (void)self;
    mm_minter *m = state;
    mm_mint_request *req = msg->ptr;
    if (msg->type != MINTER_MSG_MINT || req == NULL) {
        free(req);
        return;
    }
    mm_minter_result *result = calloc(1, sizeof(*result));
    if (result == NULL) {
        mm_error("minter: out of memory for the token of request %llu", (unsigned long long)req->request_id);
        atomic_fetch_add(&m->dropped, 1);
        free(req);
        return;
    }
    result->request_id = req->request_id;
    result->client_id = req->client_id;
    result->err = mm_token_mint(m->key, m->byte_order, m->protocol_id, req->client_id, &req->address, 1, mm_unix_seconds(),
                                m->expire_seconds, m->timeout_seconds, result->token, sizeof(result->token));
    if (result->err != MM_OK) {
        mm_fail(result->err, result->why, sizeof(result->why), "minting the connect token failed: %s", mm_err_str(result->err));
        mm_warn("minter: request %llu: %s", (unsigned long long)req->request_id, result->why);
    }
    deliver(m, req, result);
    free(req);
}

static void
minter_discard(void *state, mm_msg *msg)
{
    mm_minter *m = state;
    free(msg->ptr);
    atomic_fetch_add(&m->discarded, 1);
}

static void
minter_stop(void *state)
{
    wipe_key(state);
}

static const mm_actor_ops minter_ops = {
    .name = "minter",
    .handle = minter_handle,
    .discard = minter_discard,
    .stop = minter_stop,
};

mm_err
mm_minter_start(const mm_minter_config *config, mm_minter **out)
{
    mm_err err = MM_ERR_INVALID;
    mm_minter *m = NULL;
    if (out == NULL)
        return MM_ERR_INVALID;
    *out = NULL;
    if (config == NULL || config->key == NULL || config->timeout_seconds < -1 ||
        (config->byte_order != MM_BYTE_ORDER_LITTLE && config->byte_order != MM_BYTE_ORDER_BIG))
        goto cleanup;
    err = mm_crypto_init();
    if (err != MM_OK)
        goto cleanup;
    err = MM_ERR_NOMEM;
    m = calloc(1, sizeof(*m));
    if (m == NULL || (m->key = malloc(sizeof(*m->key))) == NULL)
        goto cleanup;
    memcpy(m->key, config->key, sizeof(*m->key));
    m->key_locked = sodium_mlock(m->key, sizeof(*m->key)) == 0;
    if (!m->key_locked)
        mm_warn("minter: could not lock the private key in memory (RLIMIT_MEMLOCK?): it may be swapped to disk");
    m->protocol_id = config->protocol_id;
    m->byte_order = config->byte_order;
    m->expire_seconds = config->expire_seconds != 0 ? config->expire_seconds : MM_TOKEN_DEFAULT_EXPIRE_SECONDS;
    m->timeout_seconds = config->timeout_seconds != 0 ? config->timeout_seconds : MM_TOKEN_DEFAULT_TIMEOUT_SECONDS;
    m->reply_retry_ns = (uint64_t)(config->reply_retry_ms != 0 ? config->reply_retry_ms : DEFAULT_REPLY_RETRY_MS) * 1000000u;
    mm_actor_config actor_cfg = {
        .inbox = {.capacity = config->inbox_capacity != 0 ? config->inbox_capacity : DEFAULT_INBOX_CAPACITY}};
    err = mm_actor_start(&minter_ops, m, &actor_cfg, &m->actor);
    if (err != MM_OK)
        goto cleanup;
    *out = m;
    m = NULL;
cleanup:
    if (m != NULL) {
        wipe_key(m);
        free(m->key);
        free(m);
    }
    return err;
}

mm_err
mm_minter_send_mint(mm_minter *minter, const mm_mint_request *request)
{
    if (minter == NULL || request == NULL || request->reply_to == NULL || request->client_id == 0 ||
        (request->address.family != 4 && request->address.family != 6))
        return MM_ERR_INVALID;
    mm_mint_request *copy = malloc(sizeof(*copy));
    if (copy == NULL)
        return MM_ERR_NOMEM;
    *copy = *request;
    mm_err err = mm_actor_send(minter->actor, &(mm_msg){.type = MINTER_MSG_MINT, .target = request->request_id, .ptr = copy});
    if (err != MM_OK)
        free(copy);
    return err;
}

void
mm_minter_result_free(mm_minter_result *result)
{
    if (result == NULL)
        return;
    sodium_memzero(result, sizeof(*result));
    free(result);
}

void
mm_minter_get_stats(mm_minter *minter, mm_minter_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    if (minter == NULL)
        return;
    stats->minted = atomic_load(&minter->minted);
    stats->failed = atomic_load(&minter->failed);
    stats->dropped = atomic_load(&minter->dropped);
    stats->discarded = atomic_load(&minter->discarded);
}

void
mm_minter_stop(mm_minter *minter)
{
    if (minter != NULL)
        mm_actor_stop(minter->actor, MM_ACTOR_REJECT);
}

void
mm_minter_destroy(mm_minter *minter)
{
    if (minter == NULL)
        return;
    mm_minter_stop(minter);
    mm_actor_destroy(minter->actor);
    wipe_key(minter); /* already wiped by the actor's stop; harmless again */
    free(minter->key);
    free(minter);
}

uint64_t
mm_minter_client_id(void)
{
    uint64_t id = 0;
    (void)mm_crypto_init();
    while (id == 0)
        randombytes_buf(&id, sizeof(id));
    return id;
}
