/*
 * Writing connect tokens (docs/protocol.md section 6): mm_token_build() from caller-given inputs (the
 * fixed vectors), mm_token_mint_raw() and mm_token_mint() with fresh randoms.
 *
 * The hot path allocates nothing and copies little: every field is written straight into the
 * caller's 2048-byte buffer, the private data's plaintext included, which is then sealed in place
 * (XChaCha20-Poly1305 reads each block before it writes it), so no plaintext copy is left
 * anywhere. The randoms come from libsodium's randombytes_buf() (the kernel's getrandom(): no
 * state of ours, nothing to get wrong across fork() or threads) and live in one stack array
 * that is wiped before returning. mm_token_mint() then encodes the whole token with
 * mm_token_to_base64() (libsodium's encoder).
 */
#include <sodium.h>
#include <string.h>

#include "token_internal.h"

#define RANDOM_BYTES (MM_TOKEN_NONCE_BYTES + 2 * 32)

_Static_assert(MM__OFF_ADDRESSES + MM__ADDR_LIST_MAX + 64 <= MM_TOKEN_BYTES, "public part too long");
_Static_assert(8 + 4 + MM__ADDR_LIST_MAX + 64 + MM_TOKEN_USER_DATA_BYTES <= MM__PLAIN_BYTES, "private part too long");

static mm_err
addresses_check(const mm_token_address *addresses, uint32_t count)
{
    if (addresses == NULL || count < 1 || count > MM_TOKEN_MAX_ADDRESSES)
        return MM_ERR_INVALID;
    for (uint32_t i = 0; i < count; i++)
        if (addresses[i].family != 4 && addresses[i].family != 6)
            return MM_ERR_INVALID;
    return MM_OK;
}

/* Writes the address list (u32 count, then type, octets, u16 port each); returns its length. */
static size_t
addresses_write(uint8_t *p, const mm_token_address *addresses, uint32_t count, mm_byte_order order)
{
    uint8_t *start = p;
    mm__put_u32(p, count, order);
    p += 4;
    for (uint32_t i = 0; i < count; i++) {
        const mm_token_address *a = &addresses[i];
        size_t octets = a->family == 4 ? 4 : 16;
        *p++ = a->family == 4 ? MM__ADDR_TYPE_IPV4 : MM__ADDR_TYPE_IPV6;
        memcpy(p, a->ip, octets);
        p += octets;
        mm__put_u16(p, a->port, order);
        p += 2;
    }
    return (size_t)(p - start);
}

struct token_inputs {
    mm_byte_order order;
    uint64_t protocol_id, client_id, create_timestamp, expire_seconds;
    int32_t timeout_seconds;
    const mm_token_address *addresses;
    uint32_t address_count;
    const uint8_t *nonce, *client_to_server_key, *server_to_client_key;
    const uint8_t *user_data; /* NULL: zeros */
};

/* Writes and seals a whole token into out. */
static mm_err
token_write(const struct token_inputs *in, const mm_token_key *key, uint8_t out[MM_TOKEN_BYTES])
{
    if (key == NULL || out == NULL || (in->order != MM_BYTE_ORDER_LITTLE && in->order != MM_BYTE_ORDER_BIG) ||
        addresses_check(in->addresses, in->address_count) != MM_OK || in->expire_seconds == 0 ||
        in->expire_seconds > UINT64_MAX - in->create_timestamp)
        return MM_ERR_INVALID;
    mm_byte_order order = in->order;
    uint64_t expire = in->create_timestamp + in->expire_seconds;

    memcpy(out, MM__VERSION, MM__VERSION_BYTES); /* the string's NUL is the 13th byte */
    mm__put_u64(out + MM__OFF_PROTOCOL, in->protocol_id, order);
    mm__put_u64(out + MM__OFF_CREATE, in->create_timestamp, order);
    mm__put_u64(out + MM__OFF_EXPIRE, expire, order);
    memcpy(out + MM__OFF_NONCE, in->nonce, MM_TOKEN_NONCE_BYTES);

    /* Private data, in the clear for now, in its final place. */
    uint8_t *p = out + MM__OFF_PRIVATE;
    mm__put_u64(p, in->client_id, order);
    mm__put_u32(p + 8, (uint32_t)in->timeout_seconds, order);
    p += 12;
    p += addresses_write(p, in->addresses, in->address_count, order);
    memcpy(p, in->client_to_server_key, 32);
    memcpy(p + 32, in->server_to_client_key, 32);
    p += 64;
    if (in->user_data != NULL)
        memcpy(p, in->user_data, MM_TOKEN_USER_DATA_BYTES);
    else
        memset(p, 0, MM_TOKEN_USER_DATA_BYTES);
    p += MM_TOKEN_USER_DATA_BYTES;
    memset(p, 0, (size_t)(out + MM__OFF_PRIVATE + MM__PLAIN_BYTES - p));

    /* Public part after the sealed block. */
    p = out + MM__OFF_TIMEOUT;
    mm__put_u32(p, (uint32_t)in->timeout_seconds, order);
    p += 4;
    p += addresses_write(p, in->addresses, in->address_count, order);
    memcpy(p, in->client_to_server_key, 32);
    memcpy(p + 32, in->server_to_client_key, 32);
    p += 64;
    memset(p, 0, (size_t)(out + MM_TOKEN_BYTES - p));

    uint8_t ad[MM__AD_BYTES];
    memcpy(ad, out, MM__VERSION_BYTES + 8); /* version and protocol id */
    memcpy(ad + MM__VERSION_BYTES + 8, out + MM__OFF_EXPIRE, 8);
    uint8_t *sealed = out + MM__OFF_PRIVATE;
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, NULL, sealed, MM__PLAIN_BYTES, ad, sizeof(ad), NULL, out + MM__OFF_NONCE,
                                                   key->bytes) != 0) {
        sodium_memzero(out, MM_TOKEN_BYTES);
        return MM_ERR_CRYPTO;
    }
    return MM_OK;
}

mm_err
mm_token_build(const mm_token_params *params, const mm_token_key *key, uint8_t out[MM_TOKEN_BYTES])
{
    if (params == NULL || mm_crypto_init() != MM_OK)
        return params == NULL ? MM_ERR_INVALID : MM_ERR_CRYPTO;
    struct token_inputs in = {
        .order = params->byte_order,
        .protocol_id = params->protocol_id,
        .client_id = params->client_id,
        .create_timestamp = params->create_timestamp,
        .expire_seconds = params->expire_seconds,
        .timeout_seconds = params->timeout_seconds,
        .addresses = params->addresses,
        .address_count = params->address_count,
        .nonce = params->nonce,
        .client_to_server_key = params->client_to_server_key,
        .server_to_client_key = params->server_to_client_key,
        .user_data = params->user_data,
    };
    return token_write(&in, key, out);
}

mm_err
mm_token_mint_raw(const mm_token_key *key, mm_byte_order order, uint64_t protocol_id, uint64_t client_id,
                  const mm_token_address *addresses, uint32_t address_count, uint64_t now, uint64_t expire_seconds,
                  int32_t timeout_seconds, uint8_t out[MM_TOKEN_BYTES])
{
    if (mm_crypto_init() != MM_OK)
        return MM_ERR_CRYPTO;
    uint8_t randoms[RANDOM_BYTES];
    randombytes_buf(randoms, sizeof(randoms));
    struct token_inputs in = {
        .order = order,
        .protocol_id = protocol_id,
        .client_id = client_id,
        .create_timestamp = now,
        .expire_seconds = expire_seconds,
        .timeout_seconds = timeout_seconds,
        .addresses = addresses,
        .address_count = address_count,
        .nonce = randoms,
        .client_to_server_key = randoms + MM_TOKEN_NONCE_BYTES,
        .server_to_client_key = randoms + MM_TOKEN_NONCE_BYTES + 32,
        .user_data = NULL,
    };
    mm_err err = token_write(&in, key, out);
    sodium_memzero(randoms, sizeof(randoms));
    return err;
}

mm_err
mm_token_mint(const mm_token_key *key, mm_byte_order order, uint64_t protocol_id, uint64_t client_id,
              const mm_token_address *addresses, uint32_t address_count, uint64_t now, uint64_t expire_seconds,
              int32_t timeout_seconds, char *b64, size_t b64_len)
{
    if (b64 == NULL || b64_len < MM_TOKEN_BASE64_LEN + 1)
        return MM_ERR_INVALID;
    uint8_t raw[MM_TOKEN_BYTES];
    mm_err err =
        mm_token_mint_raw(key, order, protocol_id, client_id, addresses, address_count, now, expire_seconds, timeout_seconds, raw);
    if (err == MM_OK)
        err = mm_token_to_base64(raw, b64, b64_len);
    if (err != MM_OK)
        b64[0] = '\0';
    sodium_memzero(raw, sizeof(raw));
    return err;
}
