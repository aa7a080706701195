/*
 * The token minter actor (include/mm/minter.h).
 *
 * Owns: the private key (a locked copy, wiped at stop) and the token settings.
 * Receives: MINT, whose payload is a mint job: a copy of the caller's mm_mint_request and the
 *   mm_minter_result it will be answered with, allocated together by the sender's thread (the
 *   result is the job's first member, so the receiver frees the whole job with
 *   mm_minter_result_free). The minter thread allocates nothing, so it cannot run out of memory
 *   and lose a result.
 * Sends: TOKEN_READY (the job's mm_minter_result) to the request's reply actor.
 * Never: logs the key, waits, sleeps, retries, or keeps a result it could not deliver.
 *
 * Minting costs a few microseconds (docs/libnotes.md, libsodium), so one thread serves any request rate the
 * Edgegap API allows; its own inbox bounds the queue, and a full one is MM_ERR_FULL for the
 * sender. The reply is sent once: a requester never has more mints in flight than its inbox's
 * ring for this thread holds (the contract in minter.h; the provisioner keeps the others in its
 * mint line), so a full reply inbox is an impossible state -- a broken contract. It is logged as
 * an error and counted (stats.dropped, which must stay 0). A reply actor that has stopped gets
 * nothing (stats.orphaned): its requests were answered when it stopped.
 */
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/minter.h"

enum { MINTER_MSG_MINT = 1 };

#define DEFAULT_INBOX_CAPACITY 1023
#define DROP_LOG_INTERVAL_NS 1000000000ull

/* One MINT's payload: the result first, so &job->result is the allocation the receiver frees. */
typedef struct mint_job {
    mm_minter_result result;
    mm_mint_request req;
} mint_job;

_Static_assert(offsetof(mint_job, result) == 0, "mm_minter_result_free frees the job through its result");

struct mm_minter {
    mm_actor *actor;
    mm_token_key *key; /* own allocation, sodium_mlock'ed when possible */
    bool key_locked;
    uint64_t protocol_id;
    mm_byte_order byte_order;
    uint64_t expire_seconds;
    int32_t timeout_seconds;
    uint64_t last_drop_log_ns; /* actor thread only */
    atomic_uint_fast64_t minted, failed, dropped, orphaned, discarded;
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

/* Hands the result to its reply actor, once. A refusal is never waited out (see the top). */
static void
minter_reply(mm_minter *m, const mm_mint_request *req, mm_minter_result *result)
{
    bool ok = result->err == MM_OK;
    uint64_t request_id = result->request_id;
    mm_msg reply = {.type = req->reply_type, .target = req->request_id, .ptr = result, .arg = req->client_id};
    mm_err err = mm_actor_send(req->reply_to, &reply);
    if (err == MM_OK) {
        atomic_fetch_add(ok ? &m->minted : &m->failed, 1);
        return;
    }
    mm_minter_result_free(result);
    if (err == MM_ERR_STOPPED) {
        atomic_fetch_add(&m->orphaned, 1);
        mm_debug("minter: request %llu: its reply actor has stopped", (unsigned long long)request_id);
        return;
    }
    uint64_t total = atomic_fetch_add(&m->dropped, 1) + 1;
    uint64_t now = mm_now_ns();
    if (total == 1 || now - m->last_drop_log_ns >= DROP_LOG_INTERVAL_NS) {
        m->last_drop_log_ns = now;
        mm_error("minter: IMPOSSIBLE STATE: the reply inbox of request %llu is full (%s), so its token is lost; the requester "
                 "has more mints in flight than its inbox holds (%llu lost so far)",
                 (unsigned long long)request_id, mm_err_str(err), (unsigned long long)total);
    }
}

static void
minter_handle(void *state, mm_actor *self, mm_msg *msg)
{
    (void)self;
    mm_minter *m = state;
    mint_job *job = msg->ptr;
    if (msg->type != MINTER_MSG_MINT || job == NULL) {
        free(job);
        return;
    }
    const mm_mint_request *req = &job->req;
    mm_minter_result *result = &job->result;
    result->request_id = req->request_id;
    result->client_id = req->client_id;
    result->err = mm_token_mint(m->key, m->byte_order, m->protocol_id, req->client_id, &req->address, 1, mm_unix_seconds(),
                                m->expire_seconds, m->timeout_seconds, result->token, sizeof(result->token));
    if (result->err != MM_OK) {
        mm_fail(result->err, result->why, sizeof(result->why), "minting the connect token failed: %s", mm_err_str(result->err));
        mm_warn("minter: request %llu: %s", (unsigned long long)req->request_id, result->why);
    } else {
        mm_metric_inc(MM_METRIC_TOKENS_MINTED);
    }
    mm_mint_request copy = *req; /* the job goes with the result */
    minter_reply(m, &copy, result);
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
    mint_job *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return MM_ERR_NOMEM;
    job->req = *request;
    mm_err err = mm_actor_send(minter->actor, &(mm_msg){.type = MINTER_MSG_MINT, .target = request->request_id, .ptr = job});
    if (err != MM_OK)
        free(job);
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
    stats->orphaned = atomic_load(&minter->orphaned);
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
