/*
 * Reading connect tokens as a game server does (mm_token_decode).
 *
 * Checks run cheapest first and each failure names what is wrong: version string, protocol id
 * (a mismatch is also what a token of the other byte order looks like), timestamps, then the
 * AEAD open of the private data, its address list, and finally that the public copy of the
 * timeout, addresses and keys agrees with the sealed one and that the padding is zero. The
 * create timestamp is the one field nothing authenticates (netcode leaves it out of the
 * associated data); it is only checked against the expiry. The opened plaintext lives in one
 * stack buffer that is wiped on every path; on failure *out is wiped too.
 */
#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#include "token_internal.h"

/* Reads an address list of at most avail bytes at p into addresses; *len = bytes read. */
static mm_err
addresses_read(const uint8_t *p, size_t avail, mm_byte_order order, const char *where, mm_token_address *addresses, uint32_t *count,
               size_t *len, char *why, size_t why_len)
{
    uint32_t n = mm__get_u32(p, order);
    if (n < 1 || n > MM_TOKEN_MAX_ADDRESSES)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s address count %" PRIu32 " is out of range 1..%d", where, n,
                       MM_TOKEN_MAX_ADDRESSES);
    size_t off = 4;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t type = p[off];
        size_t octets = type == MM__ADDR_TYPE_IPV4 ? 4 : type == MM__ADDR_TYPE_IPV6 ? 16 : 0;
        if (octets == 0)
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s address %" PRIu32 " has unknown type %u (1 = IPv4, 2 = IPv6)", where,
                           i + 1, type);
        if (off + 1 + octets + 2 > avail)
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s address list runs past its space", where);
        mm_token_address *a = &addresses[i];
        memset(a, 0, sizeof(*a));
        a->family = type == MM__ADDR_TYPE_IPV4 ? 4 : 6;
        memcpy(a->ip, p + off + 1, octets);
        a->port = mm__get_u16(p + off + 1 + octets, order);
        off += 1 + octets + 2;
    }
    *count = n;
    *len = off;
    return MM_OK;
}

static int
address_equal(const mm_token_address *a, const mm_token_address *b)
{
    size_t octets = a->family == 4 ? 4 : 16;
    return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, octets) == 0;
}

/* Opens the sealed block and fills out's private fields. */
static mm_err
private_open(const uint8_t *token, const mm_token_key *key, mm_byte_order order, uint8_t plain[MM__PLAIN_BYTES],
             mm_token_decoded *out, char *why, size_t why_len)
{
    uint8_t ad[MM__AD_BYTES];
    memcpy(ad, token, MM__VERSION_BYTES + 8);
    memcpy(ad + MM__VERSION_BYTES + 8, token + MM__OFF_EXPIRE, 8);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, token + MM__OFF_PRIVATE, MM_TOKEN_PRIVATE_BYTES, ad,
                                                   sizeof(ad), token + MM__OFF_NONCE, key->bytes) != 0)
        return mm_fail(MM_ERR_CRYPTO, why, why_len,
                       "private data does not open with this key (wrong key or byte order, or a modified token)");
    out->client_id = mm__get_u64(plain, order);
    out->timeout_seconds = (int32_t)mm__get_u32(plain + 8, order);
    size_t len = 0;
    mm_err err =
        addresses_read(plain + 12, MM__PLAIN_BYTES - 12, order, "private", out->addresses, &out->address_count, &len, why, why_len);
    if (err != MM_OK)
        return err;
    const uint8_t *p = plain + 12 + len;
    if ((size_t)(p - plain) + 64 + MM_TOKEN_USER_DATA_BYTES > MM__PLAIN_BYTES)
        return mm_fail(MM_ERR_INVALID, why, why_len, "private data is too long");
    memcpy(out->client_to_server_key, p, 32);
    memcpy(out->server_to_client_key, p + 32, 32);
    memcpy(out->user_data, p + 64, MM_TOKEN_USER_DATA_BYTES);
    return MM_OK;
}

/* Checks that the public timeout, addresses and keys agree with out, and the zero padding. */
static mm_err
public_check(const uint8_t *token, mm_byte_order order, const mm_token_decoded *out, char *why, size_t why_len)
{
    if ((int32_t)mm__get_u32(token + MM__OFF_TIMEOUT, order) != out->timeout_seconds)
        return mm_fail(MM_ERR_INVALID, why, why_len, "public timeout does not match the private data");
    mm_token_address public_addresses[MM_TOKEN_MAX_ADDRESSES];
    uint32_t count = 0;
    size_t len = 0;
    mm_err err = addresses_read(token + MM__OFF_ADDRESSES, MM_TOKEN_BYTES - MM__OFF_ADDRESSES, order, "public", public_addresses,
                                &count, &len, why, why_len);
    if (err != MM_OK)
        return err;
    if (count != out->address_count)
        return mm_fail(MM_ERR_INVALID, why, why_len, "public address count %" PRIu32 " does not match the private %" PRIu32, count,
                       out->address_count);
    for (uint32_t i = 0; i < count; i++)
        if (!address_equal(&public_addresses[i], &out->addresses[i]))
            return mm_fail(MM_ERR_INVALID, why, why_len, "public address %" PRIu32 " does not match the private data", i + 1);
    const uint8_t *p = token + MM__OFF_ADDRESSES + len;
    if (MM_TOKEN_BYTES - (size_t)(p - token) < 64)
        return mm_fail(MM_ERR_INVALID, why, why_len, "public part is too long");
    if (sodium_memcmp(p, out->client_to_server_key, 32) != 0 || sodium_memcmp(p + 32, out->server_to_client_key, 32) != 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "public session keys do not match the private data");
    p += 64;
    if (!sodium_is_zero(p, MM_TOKEN_BYTES - (size_t)(p - token)))
        return mm_fail(MM_ERR_INVALID, why, why_len, "padding after the session keys is not zero");
    return MM_OK;
}

mm_err
mm_token_decode(const uint8_t token[MM_TOKEN_BYTES], const mm_token_key *key, mm_byte_order order, uint64_t protocol_id,
                uint64_t now, mm_token_decoded *out, char *why, size_t why_len)
{
    if (token == NULL || key == NULL || out == NULL || (order != MM_BYTE_ORDER_LITTLE && order != MM_BYTE_ORDER_BIG))
        return mm_fail(MM_ERR_INVALID, why, why_len, "missing token, key or output, or unknown byte order");
    if (mm_crypto_init() != MM_OK)
        return mm_fail(MM_ERR_CRYPTO, why, why_len, "libsodium could not be initialised");
    uint8_t plain[MM__PLAIN_BYTES];
    mm_err err = MM_ERR_INVALID;
    memset(out, 0, sizeof(*out));

    if (memcmp(token, MM__VERSION, MM__VERSION_BYTES) != 0) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "version is not \"NETCODE 1.02\" (not a connect token)");
        goto cleanup;
    }
    out->protocol_id = mm__get_u64(token + MM__OFF_PROTOCOL, order);
    out->create_timestamp = mm__get_u64(token + MM__OFF_CREATE, order);
    out->expire_timestamp = mm__get_u64(token + MM__OFF_EXPIRE, order);
    if (out->protocol_id != protocol_id) {
        err = mm_fail(MM_ERR_INVALID, why, why_len,
                      "protocol id %" PRIu64 " is not the expected %" PRIu64 " (another game, or the wrong byte order)",
                      out->protocol_id, protocol_id);
        goto cleanup;
    }
    if (out->create_timestamp > out->expire_timestamp) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "create timestamp %" PRIu64 " is after the expire timestamp %" PRIu64,
                      out->create_timestamp, out->expire_timestamp);
        goto cleanup;
    }
    if (out->expire_timestamp <= now) {
        err = mm_fail(MM_ERR_EXPIRED, why, why_len, "token expired at %" PRIu64 ", %" PRIu64 " s before now (%" PRIu64 ")",
                      out->expire_timestamp, now - out->expire_timestamp, now);
        goto cleanup;
    }
    err = private_open(token, key, order, plain, out, why, why_len);
    if (err != MM_OK)
        goto cleanup;
    err = public_check(token, order, out, why, why_len);
cleanup:
    sodium_memzero(plain, sizeof(plain));
    if (err != MM_OK)
        sodium_memzero(out, sizeof(*out));
    return err;
}
