/*
 * The token minter actor (ARCHITECTURE.md, "Threads of the matchmaker"): one thread that owns the
 * Lightyear private key and turns MINT requests into connect tokens.
 *
 *   receives  MINT {request id, reply actor, reply message type, game server address, client id}
 *   sends     TOKEN_READY to the reply actor: an mm_msg with
 *               type   = the request's reply_type,
 *               target = the request id,
 *               arg    = the client id,
 *               ptr    = an mm_minter_result (owned by the receiver: mm_minter_result_free()).
 *
 * The key is copied once into memory of the minter's own, locked with sodium_mlock when the
 * system allows it (a warning otherwise: it could then be swapped out), never logged, and wiped
 * when the minter stops.
 *
 * The reply contract: each TOKEN_READY is sent once and never waited for, so the requester must
 * make room for it in advance. The minter thread writes to its own ring of the reply actor's
 * inbox (include/mm/inbox.h), which holds at least the inbox's configured capacity; a requester
 * must never have more mints in flight (sent and their TOKEN_READY not yet drained) than that
 * capacity, and must not let the minter thread fall into the inbox's shared ring (keep fewer
 * producer threads than max_producers). Then a full reply inbox cannot happen; if it does anyway
 * the result is freed, logged as an impossible state and counted (stats.dropped, which must
 * stay 0). A reply actor that has stopped gets nothing (stats.orphaned): it answered its
 * requests when it stopped. The provisioner keeps the contract with its mint line
 * (src/actors/provisioner_request.c).
 *
 * Lifetimes: each reply actor must stay allocated (stopped is fine) until the minter is stopped;
 * stop the actors that send MINT before stopping the minter.
 */
#ifndef MM_MINTER_H
#define MM_MINTER_H

#include <stdint.h>

#include "mm/actor.h"
#include "mm/err.h"
#include "mm/token.h"

typedef struct mm_minter mm_minter;

typedef struct mm_minter_config {
    const mm_token_key *key; /* required; copied: the caller wipes its own copy when it likes */
    uint64_t protocol_id;
    mm_byte_order byte_order; /* MM_BYTE_ORDER_LITTLE (the reference's Lightyear) or _BIG */
    uint64_t expire_seconds;  /* token lifetime; 0: MM_TOKEN_DEFAULT_EXPIRE_SECONDS (30) */
    int32_t timeout_seconds;  /* connection timeout the token carries; 0: 15; -1: none */
    uint32_t inbox_capacity;  /* MINT messages queued per sending thread; 0: 1023 */
} mm_minter_config;

/** One mint. */
typedef struct mm_mint_request {
    uint64_t request_id;      /* echoed as the TOKEN_READY's target */
    mm_actor *reply_to;       /* receives TOKEN_READY */
    uint32_t reply_type;      /* the TOKEN_READY's type, in reply_to's message enum */
    uint64_t client_id;       /* non-zero; see mm_minter_client_id() */
    mm_token_address address; /* the game server */
} mm_mint_request;

/** What a TOKEN_READY carries. Holds a bearer credential: freed with mm_minter_result_free(). */
typedef struct mm_minter_result {
    mm_err err; /* MM_OK: token holds the base64 text */
    uint64_t request_id;
    uint64_t client_id;
    char token[MM_TOKEN_BASE64_LEN + 1]; /* NUL-terminated; "" on error */
    char why[128];                       /* on error: the reason */
} mm_minter_result;

typedef struct mm_minter_stats {
    uint64_t minted;    /* tokens delivered to their reply actor */
    uint64_t failed;    /* mints that failed (delivered as an error result) */
    uint64_t dropped;   /* results lost to a full reply inbox: a broken reply contract, must stay 0 */
    uint64_t orphaned;  /* results for a reply actor that had stopped */
    uint64_t discarded; /* MINT requests still queued when the minter stopped */
} mm_minter_stats;

/**
 * Starts the minter thread. MM_ERR_INVALID for a missing key, an unknown byte order or a timeout
 * below -1; MM_ERR_CRYPTO if libsodium cannot start; MM_ERR_NOMEM / MM_ERR_SYS.
 */
mm_err mm_minter_start(const mm_minter_config *config, mm_minter **out);

/**
 * Any thread: queues a mint (the request is copied). MM_OK; MM_ERR_FULL (this thread's ring of
 * the minter's inbox is full: answer "busy"); MM_ERR_STOPPED; MM_ERR_INVALID (no reply actor,
 * client id 0, an address that is not IPv4/IPv6); MM_ERR_NOMEM.
 */
mm_err mm_minter_send_mint(mm_minter *minter, const mm_mint_request *request);

/** Frees a TOKEN_READY payload, wiping the token. Accepts NULL. */
void mm_minter_result_free(mm_minter_result *result);

/** Counters; approximate while the minter runs, exact after mm_minter_stop(). */
void mm_minter_get_stats(mm_minter *minter, mm_minter_stats *stats);

/**
 * Stops the thread: mints still queued are discarded (their requests are being torn down too),
 * later sends get MM_ERR_STOPPED, the key is wiped. Any thread but the minter's; idempotent.
 */
void mm_minter_stop(mm_minter *minter);

/** Stops if needed and frees. No thread may send to it any more. Accepts NULL. */
void mm_minter_destroy(mm_minter *minter);

/** A random client id from libsodium, never 0 (mm_crypto_init() must have run; the minter's start does). */
uint64_t mm_minter_client_id(void);

#endif
