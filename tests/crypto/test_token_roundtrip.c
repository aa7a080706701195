/*
 * Mint then decode, in both byte orders, with IPv4, IPv6 and many addresses; the minted base64
 * must decode with libsodium's sodium_base642bin and encode back to the same text; two mints
 * must differ in every random field, also when made by two threads or by a parent and its
 * fork()ed child; bad inputs are refused.
 */
#include <pthread.h>
#include <string.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/token.h"
#include "mm_test.h"

static mm_token_key key;

static mm_token_address
addr(const char *text)
{
    mm_token_address a;
    char why[160];
    MM_REQUIRE(mm_token_address_parse(text, &a, why, sizeof(why)) == MM_OK);
    return a;
}

static void
roundtrip(mm_byte_order order, const mm_token_address *addresses, uint32_t count, uint64_t client_id, int32_t timeout)
{
    const uint64_t now = 1800000000, protocol_id = 0x0123456789abcdefULL;
    char b64[MM_TOKEN_BASE64_LEN + 1], again[MM_TOKEN_BASE64_LEN + 1], why[200];
    uint8_t token[MM_TOKEN_BYTES];
    MM_CHECK_INT(mm_token_mint(&key, order, protocol_id, client_id, addresses, count, now, 30, timeout, b64, sizeof(b64)), ==,
                 MM_OK);
    MM_CHECK_INT(strlen(b64), ==, MM_TOKEN_BASE64_LEN);
    size_t bin_len = 0;
    MM_CHECK_INT(sodium_base642bin(token, sizeof(token), b64, strlen(b64), NULL, &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL),
                 ==, 0);
    MM_CHECK_U64(bin_len, ==, MM_TOKEN_BYTES);
    MM_CHECK_INT(mm_token_from_base64(b64, token, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(mm_token_to_base64(token, again, sizeof(again)), ==, MM_OK);
    MM_CHECK_STR(again, b64);

    mm_token_decoded d;
    mm_err err = mm_token_decode(token, &key, order, protocol_id, now + 29, &d, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK)
        fprintf(stderr, "decode: %s\n", why);
    MM_CHECK_U64(d.protocol_id, ==, protocol_id);
    MM_CHECK_U64(d.client_id, ==, client_id);
    MM_CHECK_U64(d.create_timestamp, ==, now);
    MM_CHECK_U64(d.expire_timestamp, ==, now + 30);
    MM_CHECK_INT(d.timeout_seconds, ==, timeout);
    MM_CHECK_INT(d.address_count, ==, count);
    for (uint32_t i = 0; i < count && i < d.address_count; i++) {
        char want[64], got[64];
        mm_token_address_format(&addresses[i], want, sizeof(want));
        mm_token_address_format(&d.addresses[i], got, sizeof(got));
        MM_CHECK_STR(got, want);
    }
    MM_CHECK(sodium_is_zero(d.user_data, sizeof(d.user_data)));
    MM_CHECK(!sodium_is_zero(d.client_to_server_key, 32));
    MM_CHECK(!sodium_is_zero(d.server_to_client_key, 32));
    MM_CHECK(memcmp(d.client_to_server_key, d.server_to_client_key, 32) != 0);
    MM_CHECK_INT(mm_token_decode(token, &key, order, protocol_id, now + 30, &d, why, sizeof(why)), ==, MM_ERR_EXPIRED);
}

/* Two mints with the same inputs share nothing random: nonce, sealed data and keys all differ. */
static void
mints_differ(void)
{
    mm_token_address a = addr("10.1.2.3:4000");
    uint8_t t1[MM_TOKEN_BYTES], t2[MM_TOKEN_BYTES];
    MM_CHECK_INT(mm_token_mint_raw(&key, MM_BYTE_ORDER_LITTLE, 7, 7, &a, 1, 1000, 30, 15, t1), ==, MM_OK);
    MM_CHECK_INT(mm_token_mint_raw(&key, MM_BYTE_ORDER_LITTLE, 7, 7, &a, 1, 1000, 30, 15, t2), ==, MM_OK);
    MM_CHECK(memcmp(t1, t2, 37) == 0);             /* header: same inputs */
    MM_CHECK(memcmp(t1 + 37, t2 + 37, 24) != 0);   /* nonce */
    MM_CHECK(memcmp(t1 + 61, t2 + 61, 1024) != 0); /* sealed private data */
    size_t keys = 1089 + 4 + 7;                    /* after one IPv4 address */
    MM_CHECK(memcmp(t1 + keys, t2 + keys, 32) != 0);
    MM_CHECK(memcmp(t1 + keys + 32, t2 + keys + 32, 32) != 0);
    MM_CHECK(sodium_is_zero(t1 + keys + 64, MM_TOKEN_BYTES - keys - 64));
}

/* The nonce and the two session keys of a raw token minted for one IPv4 address. */
static void
mint_randoms(uint8_t randoms[88])
{
    mm_token_address a = addr("10.1.2.3:4000");
    uint8_t t[MM_TOKEN_BYTES];
    MM_REQUIRE(mm_token_mint_raw(&key, MM_BYTE_ORDER_LITTLE, 7, 7, &a, 1, 1000, 30, 15, t) == MM_OK);
    memcpy(randoms, t + 37, 24);
    memcpy(randoms + 24, t + 1089 + 4 + 7, 64);
}

static void *
thread_mint(void *arg)
{
    mint_randoms(arg);
    return NULL;
}

/* Mints on two threads, and in a parent and its child right after fork(), share no random. */
static void
mints_differ_across_threads_and_fork(void)
{
    uint8_t t1[88], t2[88];
    pthread_t th1, th2;
    MM_REQUIRE(pthread_create(&th1, NULL, thread_mint, t1) == 0);
    MM_REQUIRE(pthread_create(&th2, NULL, thread_mint, t2) == 0);
    pthread_join(th1, NULL);
    pthread_join(th2, NULL);
    MM_CHECK(memcmp(t1, t2, 24) != 0 && memcmp(t1 + 24, t2 + 24, 32) != 0 && memcmp(t1 + 56, t2 + 56, 32) != 0);

    for (int round = 0; round < 2; round++) {
        uint8_t warm[88], parent[88], child[88];
        mint_randoms(warm); /* the parent has minted before it forks */
        int fds[2];
        MM_REQUIRE(pipe(fds) == 0);
        pid_t pid = fork();
        MM_REQUIRE(pid >= 0);
        if (pid == 0) {
            mint_randoms(child);
            _exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
        }
        close(fds[1]);
        mint_randoms(parent);
        size_t got = 0;
        while (got < sizeof(child)) {
            ssize_t r = read(fds[0], child + got, sizeof(child) - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        MM_CHECK_INT(got, ==, sizeof(child));
        MM_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        MM_CHECK(memcmp(parent, child, 24) != 0);           /* nonce */
        MM_CHECK(memcmp(parent + 24, child + 24, 32) != 0); /* client-to-server key */
        MM_CHECK(memcmp(parent + 56, child + 56, 32) != 0); /* server-to-client key */
    }
}

static void
bad_inputs(void)
{
    mm_token_address a[MM_TOKEN_MAX_ADDRESSES + 1];
    for (int i = 0; i <= MM_TOKEN_MAX_ADDRESSES; i++)
        a[i] = addr("10.0.0.1:1");
    char b64[MM_TOKEN_BASE64_LEN + 1];
    uint8_t raw[MM_TOKEN_BYTES];
    MM_CHECK_INT(mm_token_mint(&key, MM_BYTE_ORDER_LITTLE, 1, 1, a, 0, 1000, 30, 15, b64, sizeof(b64)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_mint(&key, MM_BYTE_ORDER_LITTLE, 1, 1, a, 33, 1000, 30, 15, b64, sizeof(b64)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_mint(&key, MM_BYTE_ORDER_LITTLE, 1, 1, NULL, 1, 1000, 30, 15, b64, sizeof(b64)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_mint(NULL, MM_BYTE_ORDER_LITTLE, 1, 1, a, 1, 1000, 30, 15, b64, sizeof(b64)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_mint(&key, MM_BYTE_ORDER_LITTLE, 1, 1, a, 1, 1000, 30, 15, b64, MM_TOKEN_BASE64_LEN), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_mint(&key, (mm_byte_order)2, 1, 1, a, 1, 1000, 30, 15, b64, sizeof(b64)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_mint(&key, MM_BYTE_ORDER_LITTLE, 1, 1, a, 1, 1000, 0, 15, b64, sizeof(b64)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_mint_raw(&key, MM_BYTE_ORDER_LITTLE, 1, 1, a, 1, UINT64_MAX - 5, 30, 15, raw), ==, MM_ERR_INVALID);
    a[3].family = 5;
    MM_CHECK_INT(mm_token_mint_raw(&key, MM_BYTE_ORDER_BIG, 1, 1, a, 4, 1000, 30, 15, raw), ==, MM_ERR_INVALID);

    mm_token_params p = {.address_count = 1, .expire_seconds = 30};
    p.addresses[0] = a[0];
    MM_CHECK_INT(mm_token_build(&p, &key, raw), ==, MM_OK);
    MM_CHECK_INT(mm_token_build(NULL, &key, raw), ==, MM_ERR_INVALID);
    p.addresses[0].family = 0;
    MM_CHECK_INT(mm_token_build(&p, &key, raw), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_token_to_base64(raw, b64, 100), ==, MM_ERR_INVALID);
}

/* mm_token_to_base64 encodes only up to the last non-zero byte and writes the padding's 'A's
 * itself: it must give sodium_bin2base64's text over the whole buffer for every place the last
 * non-zero byte can be (including none, and the last two bytes, where no group is skipped). */
static void
encoder_matches_libsodium(void)
{
    static uint8_t raw[MM_TOKEN_BYTES];
    char ours[MM_TOKEN_BASE64_LEN + 1], theirs[MM_TOKEN_BASE64_LEN + 1];
    for (long last = -1; last < MM_TOKEN_BYTES; last++) {
        memset(raw, 0, sizeof(raw));
        if (last >= 0) {
            randombytes_buf(raw, (size_t)last + 1);
            raw[last] |= 1;
        }
        memset(ours, '#', sizeof(ours));
        MM_REQUIRE(mm_token_to_base64(raw, ours, sizeof(ours)) == MM_OK);
        sodium_bin2base64(theirs, sizeof(theirs), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
        if (strcmp(ours, theirs) != 0) {
            MM_CHECK_INT(last, ==, -2); /* prints where they differ first */
            return;
        }
    }
    MM_CHECK(strcmp(ours, theirs) == 0);
}

int
main(void)
{
    char why[200];
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    MM_REQUIRE(mm_token_key_parse("[9,8,7,6,5,4,3,2,1,0,255,254,253,252,251,250,1,1,1,1,1,1,1,1,2,2,2,2,2,2,2,2]", &key, why,
                                  sizeof(why)) == MM_OK);
    mm_token_address v4 = addr("172.104.236.32:30004"), v6 = addr("[2001:db8::7]:30005");
    mm_token_address mixed[3] = {addr("10.0.0.1:7777"), addr("[::1]:1"), addr("255.255.255.255:65535")};
    mm_token_address many[MM_TOKEN_MAX_ADDRESSES]; /* the longest list: 32 IPv6 addresses */
    for (int i = 0; i < MM_TOKEN_MAX_ADDRESSES; i++) {
        char text[64];
        snprintf(text, sizeof(text), "[fd00::%x]:%d", i + 1, 1000 + i);
        many[i] = addr(text);
    }
    for (int o = 0; o < 2; o++) {
        mm_byte_order order = o ? MM_BYTE_ORDER_BIG : MM_BYTE_ORDER_LITTLE;
        roundtrip(order, &v4, 1, 42, 15);
        roundtrip(order, &v6, 1, UINT64_MAX, -1);
        roundtrip(order, mixed, 3, 0, 1);
        roundtrip(order, many, MM_TOKEN_MAX_ADDRESSES, 0x8000000000000001ULL, INT32_MAX);
    }
    encoder_matches_libsodium();
    mints_differ();
    mints_differ_across_threads_and_fork();
    bad_inputs();
    mm_token_key_wipe(&key);
    MM_CHECK(sodium_is_zero(key.bytes, sizeof(key.bytes)));
    return MM_TEST_DONE();
}
