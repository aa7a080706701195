/*
 * Lightyear / netcode 1.02 connect tokens (docs/protocol.md section 6).
 *
 * A token is 2048 bytes: a public header (version, protocol id, create and expire timestamps,
 * nonce), 1024 bytes of private data sealed with XChaCha20-Poly1305-IETF under the server's
 * 32-byte private key, then timeout, server addresses and the two session keys in the clear.
 * Integers are little-endian (netcode standard, Lightyear <= 0.19) or big-endian (Lightyear
 * >= 0.20), everywhere including the associated data.
 *
 * mm_token_build() is deterministic: every input, random ones included, comes from the caller,
 * which is how the fixed vectors are reproduced. mm_token_mint() draws the randoms itself and
 * wipes them. mm_token_decode() is the game server's side: it checks and opens a token.
 * None of these functions allocate or keep state; all are thread-safe once mm_crypto_init() ran.
 */
#ifndef MM_TOKEN_H
#define MM_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

#define MM_TOKEN_BYTES 2048
#define MM_TOKEN_BASE64_LEN 2732 /* without the terminating NUL */
#define MM_TOKEN_KEY_BYTES 32
#define MM_TOKEN_NONCE_BYTES 24
#define MM_TOKEN_USER_DATA_BYTES 256
#define MM_TOKEN_PRIVATE_BYTES 1024
#define MM_TOKEN_MAX_ADDRESSES 32
#define MM_TOKEN_DEFAULT_EXPIRE_SECONDS 30
#define MM_TOKEN_DEFAULT_TIMEOUT_SECONDS 15

typedef enum mm_byte_order { MM_BYTE_ORDER_LITTLE = 0, MM_BYTE_ORDER_BIG = 1 } mm_byte_order;

/** A game server address: family 4 (4 octets used) or 6 (16 octets, network order). */
typedef struct mm_token_address {
    uint8_t family;
    uint8_t ip[16];
    uint16_t port;
} mm_token_address;

/** The server's private key. Wipe with mm_token_key_wipe() when done. */
typedef struct mm_token_key {
    uint8_t bytes[MM_TOKEN_KEY_BYTES];
} mm_token_key;

/** Every input of a token. Holds secrets: callers wipe it (sodium_memzero) after use. */
typedef struct mm_token_params {
    mm_byte_order byte_order;
    uint64_t protocol_id;
    uint64_t client_id;
    uint64_t create_timestamp; /* unix seconds */
    uint64_t expire_seconds;   /* expire timestamp = create + this */
    int32_t timeout_seconds;
    uint32_t address_count; /* 1..MM_TOKEN_MAX_ADDRESSES */
    mm_token_address addresses[MM_TOKEN_MAX_ADDRESSES];
    uint8_t nonce[MM_TOKEN_NONCE_BYTES];
    uint8_t client_to_server_key[32];
    uint8_t server_to_client_key[32];
    uint8_t user_data[MM_TOKEN_USER_DATA_BYTES];
} mm_token_params;

/** What a verified token holds (the game server's view). */
typedef struct mm_token_decoded {
    uint64_t protocol_id;
    uint64_t create_timestamp;
    uint64_t expire_timestamp;
    uint64_t client_id;
    int32_t timeout_seconds;
    uint32_t address_count;
    mm_token_address addresses[MM_TOKEN_MAX_ADDRESSES];
    uint8_t client_to_server_key[32];
    uint8_t server_to_client_key[32];
    uint8_t user_data[MM_TOKEN_USER_DATA_BYTES];
} mm_token_decoded;

/** Initialises libsodium once; safe to call from several threads. MM_ERR_CRYPTO if it cannot. */
mm_err mm_crypto_init(void);

/**
 * Parses a private key in the reference's form: 32 numbers 0..255 separated by commas, with
 * optional spaces and optional surrounding brackets ("1, 2, 3, ..., 1" or "[1,2,...]").
 * On error writes a reason into why (count, which number, range), never the key text itself.
 */
mm_err mm_token_key_parse(const char *text, mm_token_key *key, char *why, size_t why_len);

/** Overwrites the key with zeros. */
void mm_token_key_wipe(mm_token_key *key);

/** Parses "IPV4:PORT" or "[IPV6]:PORT" into an address. */
mm_err mm_token_address_parse(const char *text, mm_token_address *addr, char *why, size_t why_len);

/** Formats an address as "IPV4:PORT" or "[IPV6]:PORT" into buf (at least 64 bytes). */
void mm_token_address_format(const mm_token_address *addr, char *buf, size_t len);

/**
 * Builds the 2048 token bytes from params and key. MM_ERR_INVALID for bad counts/families, an
 * unknown byte order, expire_seconds 0, or create + expire_seconds beyond 2^64 - 1.
 */
mm_err mm_token_build(const mm_token_params *params, const mm_token_key *key, uint8_t out[MM_TOKEN_BYTES]);

/**
 * Mints a token with a fresh random nonce and session keys, zero user data, created at now
 * (unix seconds), and writes it as padded standard base64 plus NUL into b64 (at least
 * MM_TOKEN_BASE64_LEN + 1 bytes). Every secret intermediate is wiped before returning.
 */
mm_err mm_token_mint(const mm_token_key *key, mm_byte_order order, uint64_t protocol_id, uint64_t client_id,
                     const mm_token_address *addresses, uint32_t address_count, uint64_t now, uint64_t expire_seconds,
                     int32_t timeout_seconds, char *b64, size_t b64_len);

/**
 * Verifies and opens a token as a game server does: version string, protocol id, not expired at
 * now, AEAD open with the key, address count 1..32 and known address types, and that the public
 * part agrees with the private part (and its padding is zero). The create timestamp is not
 * authenticated by netcode; it is only refused when later than the expiry. On failure returns
 * MM_ERR_INVALID (malformed), MM_ERR_EXPIRED or MM_ERR_CRYPTO, writes the reason into why (may
 * be NULL) and wipes *out.
 */
mm_err mm_token_decode(const uint8_t token[MM_TOKEN_BYTES], const mm_token_key *key, mm_byte_order order,
                       uint64_t protocol_id, uint64_t now, mm_token_decoded *out, char *why, size_t why_len);

/** Decodes padded standard base64 text (surrounding whitespace tolerated) into the 2048 bytes. */
mm_err mm_token_from_base64(const char *b64, uint8_t out[MM_TOKEN_BYTES], char *why, size_t why_len);

/**
 * Like mm_token_mint() but writes the 2048 raw token bytes into out instead of base64 (for a
 * caller that sends bytes, and to measure minting without the encoding).
 */
mm_err mm_token_mint_raw(const mm_token_key *key, mm_byte_order order, uint64_t protocol_id, uint64_t client_id,
                         const mm_token_address *addresses, uint32_t address_count, uint64_t now,
                         uint64_t expire_seconds, int32_t timeout_seconds, uint8_t out[MM_TOKEN_BYTES]);

/** Encodes 2048 token bytes as padded standard base64 plus NUL into b64 (>= MM_TOKEN_BASE64_LEN + 1). */
mm_err mm_token_to_base64(const uint8_t token[MM_TOKEN_BYTES], char *b64, size_t b64_len);

#endif
