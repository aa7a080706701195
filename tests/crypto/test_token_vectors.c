/*
 * The fixed vectors (tests/vectors/connect_tokens.json, every random input fixed): building
 * each must reproduce its base64 byte for byte, and decoding each must give back every field.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>

#include "mm/token.h"
#include "mm_test.h"

static void
hex_field(json_t *v, const char *name, uint8_t *out, size_t len)
{
    const char *hex = json_string_value(json_object_get(v, name));
    size_t got = 0;
    MM_REQUIRE(hex != NULL);
    MM_REQUIRE(sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) == 0 && got == len);
}

static uint64_t
u64_field(json_t *v, const char *name)
{
    json_t *n = json_object_get(v, name);
    MM_REQUIRE(json_is_integer(n) && json_integer_value(n) >= 0);
    return (uint64_t)json_integer_value(n);
}

/* Reads one vector into params; returns its expected base64. */
static const char *
vector_params(json_t *v, mm_token_params *p)
{
    memset(p, 0, sizeof(*p));
    const char *order = json_string_value(json_object_get(v, "byte_order"));
    MM_REQUIRE(order != NULL);
    p->byte_order = strcmp(order, "big") == 0 ? MM_BYTE_ORDER_BIG : MM_BYTE_ORDER_LITTLE;
    p->protocol_id = u64_field(v, "protocol_id");
    p->client_id = u64_field(v, "client_id");
    p->create_timestamp = u64_field(v, "create_timestamp");
    p->expire_seconds = u64_field(v, "expire_seconds");
    p->timeout_seconds = (int32_t)u64_field(v, "timeout_seconds");
    json_t *addrs = json_object_get(v, "server_addresses");
    MM_REQUIRE(json_is_array(addrs) && json_array_size(addrs) >= 1 && json_array_size(addrs) <= MM_TOKEN_MAX_ADDRESSES);
    p->address_count = (uint32_t)json_array_size(addrs);
    for (uint32_t i = 0; i < p->address_count; i++) {
        char why[160];
        const char *text = json_string_value(json_array_get(addrs, i));
        MM_REQUIRE(text != NULL);
        MM_REQUIRE(mm_token_address_parse(text, &p->addresses[i], why, sizeof(why)) == MM_OK);
    }
    hex_field(v, "nonce_hex", p->nonce, sizeof(p->nonce));
    hex_field(v, "client_to_server_key_hex", p->client_to_server_key, 32);
    hex_field(v, "server_to_client_key_hex", p->server_to_client_key, 32);
    hex_field(v, "user_data_hex", p->user_data, sizeof(p->user_data));
    const char *b64 = json_string_value(json_object_get(v, "token_base64"));
    MM_REQUIRE(b64 != NULL);
    return b64;
}

static void
check_vector(json_t *v, const mm_token_key *key, size_t index)
{
    mm_token_params p;
    const char *expected = vector_params(v, &p);
    uint8_t token[MM_TOKEN_BYTES];
    char b64[MM_TOKEN_BASE64_LEN + 1], why[200];
    fprintf(stderr, "vector %zu: %s-endian, %u address(es)\n", index, p.byte_order ? "big" : "little", p.address_count);

    /* Build: byte for byte, through our encoder and through libsodium's. */
    MM_CHECK_INT(mm_token_build(&p, key, token), ==, MM_OK);
    MM_CHECK_INT(mm_token_to_base64(token, b64, sizeof(b64)), ==, MM_OK);
    MM_CHECK_INT(strlen(expected), ==, MM_TOKEN_BASE64_LEN);
    MM_CHECK_STR(b64, expected);
    char sodium_b64[MM_TOKEN_BASE64_LEN + 1];
    sodium_bin2base64(sodium_b64, sizeof(sodium_b64), token, sizeof(token), sodium_base64_VARIANT_ORIGINAL);
    MM_CHECK_STR(sodium_b64, expected);

    /* Decode the vector's own text: every field back. */
    uint8_t parsed[MM_TOKEN_BYTES];
    MM_CHECK_INT(mm_token_from_base64(expected, parsed, why, sizeof(why)), ==, MM_OK);
    MM_CHECK(memcmp(parsed, token, sizeof(token)) == 0);
    mm_token_decoded d;
    mm_err err = mm_token_decode(parsed, key, p.byte_order, p.protocol_id, p.create_timestamp, &d, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK)
        fprintf(stderr, "  decode: %s\n", why);
    MM_CHECK_U64(d.protocol_id, ==, p.protocol_id);
    MM_CHECK_U64(d.client_id, ==, p.client_id);
    MM_CHECK_U64(d.create_timestamp, ==, p.create_timestamp);
    MM_CHECK_U64(d.expire_timestamp, ==, p.create_timestamp + p.expire_seconds);
    MM_CHECK_INT(d.timeout_seconds, ==, p.timeout_seconds);
    MM_CHECK_INT(d.address_count, ==, p.address_count);
    for (uint32_t i = 0; i < p.address_count && i < d.address_count; i++) {
        char want[64], got[64];
        mm_token_address_format(&p.addresses[i], want, sizeof(want));
        mm_token_address_format(&d.addresses[i], got, sizeof(got));
        MM_CHECK_STR(got, want);
        MM_CHECK_STR(got, json_string_value(json_array_get(json_object_get(v, "server_addresses"), i)));
        MM_CHECK_INT(d.addresses[i].family, ==, p.addresses[i].family);
        MM_CHECK(memcmp(d.addresses[i].ip, p.addresses[i].ip, 16) == 0);
        MM_CHECK_INT(d.addresses[i].port, ==, p.addresses[i].port);
    }
    MM_CHECK(memcmp(d.client_to_server_key, p.client_to_server_key, 32) == 0);
    MM_CHECK(memcmp(d.server_to_client_key, p.server_to_client_key, 32) == 0);
    MM_CHECK(memcmp(d.user_data, p.user_data, sizeof(d.user_data)) == 0);

    /* Valid up to the second before expiry, expired from then on. */
    uint64_t expire = p.create_timestamp + p.expire_seconds;
    MM_CHECK_INT(mm_token_decode(parsed, key, p.byte_order, p.protocol_id, expire - 1, &d, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(mm_token_decode(parsed, key, p.byte_order, p.protocol_id, expire, &d, why, sizeof(why)), ==, MM_ERR_EXPIRED);
    /* The other byte order must refuse it. */
    mm_byte_order other = p.byte_order == MM_BYTE_ORDER_BIG ? MM_BYTE_ORDER_LITTLE : MM_BYTE_ORDER_BIG;
    MM_CHECK(mm_token_decode(parsed, key, other, p.protocol_id, p.create_timestamp, &d, why, sizeof(why)) != MM_OK);
    sodium_memzero(&p, sizeof(p));
}

int
main(void)
{
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    char path[512], why[200];
    snprintf(path, sizeof(path), "%s/tests/vectors/connect_tokens.json", mm_test_source_dir());
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        fprintf(stderr, "%s: %s\n", path, jerr.text);
    MM_REQUIRE(root != NULL);
    mm_token_key key;
    const char *key_text = json_string_value(json_object_get(root, "private_key"));
    MM_REQUIRE(key_text != NULL);
    MM_REQUIRE(mm_token_key_parse(key_text, &key, why, sizeof(why)) == MM_OK);
    json_t *vectors = json_object_get(root, "vectors");
    MM_CHECK_INT(json_array_size(vectors), ==, 6);
    int seen[2] = {0, 0}, ipv6 = 0, several = 0;
    for (size_t i = 0; i < json_array_size(vectors); i++) {
        json_t *v = json_array_get(vectors, i);
        check_vector(v, &key, i);
        const char *order = json_string_value(json_object_get(v, "byte_order"));
        seen[order != NULL && strcmp(order, "big") == 0]++;
        json_t *addrs = json_object_get(v, "server_addresses");
        several += json_array_size(addrs) > 1;
        ipv6 += strchr(json_string_value(json_array_get(addrs, 0)), '[') != NULL;
    }
    /* The file covers what it promises: both byte orders, IPv6, several addresses. */
    MM_CHECK_INT(seen[0], ==, 3);
    MM_CHECK_INT(seen[1], ==, 3);
    MM_CHECK(ipv6 >= 2);
    MM_CHECK(several >= 2);
    mm_token_key_wipe(&key);
    json_decref(root);
    return MM_TEST_DONE();
}
