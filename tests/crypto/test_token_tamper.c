/*
 * Every way a token can be wrong must be refused, with a reason: wrong key, protocol id or byte
 * order, expiry, a flipped byte anywhere (sealed part: the AEAD; header: version, protocol id,
 * expiry, nonce; public part: must agree with the sealed copy; padding: must be zero), bad
 * address counts and types (in the public part, and sealed ones re-encrypted with the right
 * key, so that the private checks themselves are exercised), bad base64 and wrong lengths.
 * The one unauthenticated field, the create timestamp (netcode leaves it out of the associated
 * data), is refused only when it passes the expiry.
 */
#include <sodium.h>

#include "mm/token.h"
#include "mm_test.h"

#define NOW 1800000000ULL
#define PROTOCOL 80085ULL
#define PLAIN 1008

static mm_token_key key;

static void
base_token(mm_byte_order order, uint8_t token[MM_TOKEN_BYTES])
{
    char why[160];
    mm_token_params p = {.byte_order = order,
                         .protocol_id = PROTOCOL,
                         .client_id = 99,
                         .create_timestamp = NOW,
                         .expire_seconds = 30,
                         .timeout_seconds = 15,
                         .address_count = 2};
    MM_REQUIRE(mm_token_address_parse("1.2.3.4:5000", &p.addresses[0], why, sizeof(why)) == MM_OK);
    MM_REQUIRE(mm_token_address_parse("[2001:db8::1]:6000", &p.addresses[1], why, sizeof(why)) == MM_OK);
    for (int i = 0; i < 24; i++)
        p.nonce[i] = (uint8_t)(i * 7 + 1);
    for (int i = 0; i < 32; i++) {
        p.client_to_server_key[i] = (uint8_t)(i + 100);
        p.server_to_client_key[i] = (uint8_t)(i + 200);
    }
    MM_REQUIRE(mm_token_build(&p, &key, token) == MM_OK);
}

/* Decodes at NOW; checks the result and, on failure, a reason and a wiped output. */
static mm_err
decode(const uint8_t *token, mm_byte_order order, const char *reason_part)
{
    mm_token_decoded d;
    char why[200] = "";
    memset(&d, 0x5a, sizeof(d));
    mm_err err = mm_token_decode(token, &key, order, PROTOCOL, NOW, &d, why, sizeof(why));
    if (err != MM_OK) {
        MM_CHECK(why[0] != '\0');
        MM_CHECK(sodium_is_zero((const unsigned char *)&d, sizeof(d)));
        if (reason_part != NULL && strstr(why, reason_part) == NULL) {
            fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", why, reason_part);
            MM_CHECK(strstr(why, reason_part) != NULL);
        }
    }
    return err;
}

/* Flips bits at every position; each must fail (with CRYPTO inside the sealed block). */
static void
flip_everywhere(mm_byte_order order)
{
    uint8_t good[MM_TOKEN_BYTES], t[MM_TOKEN_BYTES];
    base_token(order, good);
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    int refused = 0, crypto = 0, tried = 0;
    for (size_t pos = 0; pos < MM_TOKEN_BYTES; pos++) {
        if (pos >= 21 && pos < 29)
            continue; /* create timestamp: below */
        for (size_t m = 0; m < sizeof(masks); m++) {
            memcpy(t, good, sizeof(t));
            t[pos] ^= masks[m];
            mm_err err = decode(t, order, NULL);
            tried++;
            refused += err != MM_OK;
            if (pos >= 37 && pos < 1085)
                crypto += err == MM_ERR_CRYPTO; /* nonce or sealed data */
            else if (err == MM_OK)
                fprintf(stderr, "flip 0x%02x at %zu accepted\n", masks[m], pos);
        }
    }
    MM_CHECK_INT(refused, ==, tried);
    MM_CHECK_INT(crypto, ==, (1085 - 37) * 3);
    MM_CHECK_INT(decode(good, order, NULL), ==, MM_OK);
}

/* Opens the sealed block, lets edit() change the plaintext, seals it again with the right key. */
static void
reseal(uint8_t *t, void (*edit)(uint8_t *plain, mm_byte_order), mm_byte_order order)
{
    uint8_t plain[PLAIN], ad[29];
    memcpy(ad, t, 21);
    memcpy(ad + 21, t + 29, 8);
    MM_REQUIRE(crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, t + 61, 1024, ad, 29, t + 37, key.bytes) == 0);
    edit(plain, order);
    MM_REQUIRE(crypto_aead_xchacha20poly1305_ietf_encrypt(t + 61, NULL, plain, PLAIN, ad, 29, NULL, t + 37, key.bytes) == 0);
}

static void
put_u32(uint8_t *p, uint32_t v, mm_byte_order order)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (order == MM_BYTE_ORDER_BIG ? 8 * (3 - i) : 8 * i));
}

static void
count_0(uint8_t *plain, mm_byte_order order)
{
    put_u32(plain + 12, 0, order);
}
static void
count_33(uint8_t *plain, mm_byte_order order)
{
    put_u32(plain + 12, 33, order);
}
static void
type_3(uint8_t *plain, mm_byte_order order)
{
    (void)order;
    plain[16] = 3;
}
static void
client_id_only(uint8_t *plain, mm_byte_order order)
{
    (void)order;
    plain[0] ^= 1; /* a private field with no public copy: still valid */
}

static void
bad_fields(mm_byte_order order)
{
    uint8_t good[MM_TOKEN_BYTES], t[MM_TOKEN_BYTES];
    mm_token_decoded d;
    char why[200];
    base_token(order, good);
    mm_byte_order other = order == MM_BYTE_ORDER_BIG ? MM_BYTE_ORDER_LITTLE : MM_BYTE_ORDER_BIG;

    mm_token_key wrong = key;
    wrong.bytes[31] ^= 1;
    MM_CHECK_INT(mm_token_decode(good, &wrong, order, PROTOCOL, NOW, &d, why, sizeof(why)), ==, MM_ERR_CRYPTO);
    MM_CHECK(strstr(why, "does not open") != NULL);
    MM_CHECK_INT(mm_token_decode(good, &key, order, PROTOCOL + 1, NOW, &d, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "protocol id") != NULL);
    MM_CHECK(decode(good, other, "byte order") != MM_OK);
    MM_CHECK_INT(mm_token_decode(good, &key, order, PROTOCOL, NOW + 30, &d, why, sizeof(why)), ==, MM_ERR_EXPIRED);
    MM_CHECK_INT(mm_token_decode(good, &key, order, PROTOCOL, UINT64_MAX, &d, why, sizeof(why)), ==, MM_ERR_EXPIRED);
    MM_CHECK(strstr(why, "expired") != NULL);
    MM_CHECK_INT(mm_token_decode(good, &key, order, PROTOCOL, NOW + 29, &d, why, sizeof(why)), ==, MM_OK);

    /* Create timestamp: unauthenticated in netcode; refused once it passes the expiry. */
    memcpy(t, good, sizeof(t));
    t[order == MM_BYTE_ORDER_BIG ? 28 : 21] ^= 1; /* low bit: create - 1 */
    MM_CHECK_INT(decode(t, order, NULL), ==, MM_OK);
    memcpy(t, good, sizeof(t));
    t[order == MM_BYTE_ORDER_BIG ? 21 : 28] ^= 0x40; /* high byte: far past the expiry */
    MM_CHECK_INT(decode(t, order, "after the expire"), ==, MM_ERR_INVALID);

    /* Address count and type in the public part. */
    static const uint32_t counts[] = {0, 33, 3, 1};
    for (size_t i = 0; i < 4; i++) {
        memcpy(t, good, sizeof(t));
        put_u32(t + 1089, counts[i], order);
        MM_CHECK_INT(decode(t, order, i < 2 ? "out of range 1..32" : "public"), ==, MM_ERR_INVALID);
    }
    memcpy(t, good, sizeof(t));
    t[1093] = 3;
    MM_CHECK_INT(decode(t, order, "unknown type 3"), ==, MM_ERR_INVALID);
    memcpy(t, good, sizeof(t));
    t[1093 + 7] = 0;
    MM_CHECK_INT(decode(t, order, "unknown type 0"), ==, MM_ERR_INVALID);

    /* The same inside the sealed part, re-sealed with the right key so the AEAD passes. */
    memcpy(t, good, sizeof(t));
    reseal(t, count_0, order);
    MM_CHECK_INT(decode(t, order, "private address count 0 is out of range"), ==, MM_ERR_INVALID);
    memcpy(t, good, sizeof(t));
    reseal(t, count_33, order);
    MM_CHECK_INT(decode(t, order, "private address count 33 is out of range"), ==, MM_ERR_INVALID);
    memcpy(t, good, sizeof(t));
    reseal(t, type_3, order);
    MM_CHECK_INT(decode(t, order, "private address 1 has unknown type 3"), ==, MM_ERR_INVALID);
    memcpy(t, good, sizeof(t));
    reseal(t, client_id_only, order);
    MM_CHECK_INT(decode(t, order, NULL), ==, MM_OK); /* control: the re-sealing itself is sound */

    /* Arguments. */
    MM_CHECK_INT(mm_token_decode(NULL, &key, order, PROTOCOL, NOW, &d, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_decode(good, NULL, order, PROTOCOL, NOW, &d, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_decode(good, &key, order, PROTOCOL, NOW, NULL, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_decode(good, &key, (mm_byte_order)7, PROTOCOL, NOW, &d, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_decode(good, &key, order, PROTOCOL, NOW, &d, NULL, 0), ==, MM_OK);
}

static void
bad_text(void)
{
    uint8_t good[MM_TOKEN_BYTES], t[MM_TOKEN_BYTES];
    char b64[MM_TOKEN_BASE64_LEN + 8], why[200];
    base_token(MM_BYTE_ORDER_LITTLE, good);
    MM_REQUIRE(mm_token_to_base64(good, b64, sizeof(b64)) == MM_OK);

    char spaced[MM_TOKEN_BASE64_LEN + 16];
    snprintf(spaced, sizeof(spaced), " \t%s\n", b64);
    MM_CHECK_INT(mm_token_from_base64(spaced, t, why, sizeof(why)), ==, MM_OK);
    MM_CHECK(memcmp(t, good, sizeof(t)) == 0);

    char bad[MM_TOKEN_BASE64_LEN + 16];
    memcpy(bad, b64, sizeof(b64));
    bad[100] = '!';
    MM_CHECK_INT(mm_token_from_base64(bad, t, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "not valid base64") != NULL);
    MM_CHECK(sodium_is_zero(t, sizeof(t)));
    memcpy(bad, b64, sizeof(b64));
    bad[10] = '-'; /* URL-safe alphabet */
    MM_CHECK_INT(mm_token_from_base64(bad, t, why, sizeof(why)), ==, MM_ERR_INVALID);
    memcpy(bad, b64, sizeof(b64));
    bad[MM_TOKEN_BASE64_LEN - 1] = 'A'; /* padding missing */
    MM_CHECK_INT(mm_token_from_base64(bad, t, why, sizeof(why)), ==, MM_ERR_INVALID);
    memcpy(bad, b64, sizeof(b64));
    bad[50] = ' '; /* white space inside */
    MM_CHECK_INT(mm_token_from_base64(bad, t, why, sizeof(why)), ==, MM_ERR_INVALID);

    memcpy(bad, b64, sizeof(b64));
    bad[MM_TOKEN_BASE64_LEN - 1] = '\0';
    MM_CHECK_INT(mm_token_from_base64(bad, t, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "2731 characters long, expected 2732") != NULL);
    snprintf(bad, sizeof(bad), "%sAAAA", b64);
    MM_CHECK_INT(mm_token_from_base64(bad, t, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_from_base64("", t, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "empty") != NULL);
    MM_CHECK_INT(mm_token_from_base64(NULL, t, why, sizeof(why)), ==, MM_ERR_INVALID);

    /* Wrong lengths that are valid base64: 2047 bytes, and 2049 bytes (also 2732 characters). */
    uint8_t raw[MM_TOKEN_BYTES + 1] = {0};
    memcpy(raw, good, sizeof(good));
    char other[MM_TOKEN_BASE64_LEN + 8];
    sodium_bin2base64(other, sizeof(other), raw, MM_TOKEN_BYTES - 1, sodium_base64_VARIANT_ORIGINAL);
    MM_CHECK_INT(mm_token_from_base64(other, t, why, sizeof(why)), ==, MM_ERR_INVALID);
    sodium_bin2base64(other, sizeof(other), raw, MM_TOKEN_BYTES + 1, sodium_base64_VARIANT_ORIGINAL);
    MM_CHECK_INT(strlen(other), ==, MM_TOKEN_BASE64_LEN);
    MM_CHECK_INT(mm_token_from_base64(other, t, why, sizeof(why)), ==, MM_ERR_INVALID);
    sodium_bin2base64(other, sizeof(other), raw, MM_TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE);
    MM_CHECK_INT(mm_token_from_base64(other, t, why, sizeof(why)), ==, MM_ERR_INVALID);
}

int
main(void)
{
    char why[160];
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    MM_REQUIRE(mm_token_key_parse("1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1",
                                  &key, why, sizeof(why)) == MM_OK);
    flip_everywhere(MM_BYTE_ORDER_LITTLE);
    flip_everywhere(MM_BYTE_ORDER_BIG);
    bad_fields(MM_BYTE_ORDER_LITTLE);
    bad_fields(MM_BYTE_ORDER_BIG);
    bad_text();
    mm_token_key_wipe(&key);
    return MM_TEST_DONE();
}
