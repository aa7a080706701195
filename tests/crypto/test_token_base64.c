/*
 * The constant-time base64 encoder against libsodium's, on each code path this CPU has (scalar,
 * SSSE3, AVX2), for every length up to a few blocks, every alignment, all byte values and
 * random tokens.
 */
#include <sodium.h>
#include <stdlib.h>

#include "mm/token.h"
#include "mm_test.h"
#include "token_internal.h"

static mm__base64_path path;

static int
same_as_sodium(const uint8_t *in, size_t n)
{
    char ours[4 * (MM_TOKEN_BYTES / 3 + 2) + 1], theirs[sizeof(ours)];
    size_t chars = (n + 2) / 3 * 4;
    memset(ours, '#', sizeof(ours));
    if (mm__base64_encode_using(path, ours, in, n) != 0)
        return 0;
    if (ours[chars] != '#') /* wrote past its output */
        return 0;
    ours[chars] = '\0';
    sodium_bin2base64(theirs, sizeof(theirs), in, n, sodium_base64_VARIANT_ORIGINAL);
    return strcmp(ours, theirs) == 0;
}

static void
check_path(void)
{
    uint8_t buf[MM_TOKEN_BYTES + 16];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 37 + (i >> 8)); /* every byte value, in varied neighbourhoods */

    int bad = 0;
    for (size_t offset = 0; offset < 16; offset++)
        for (size_t n = 0; n <= 100; n++)
            bad += !same_as_sodium(buf + offset, n);
    MM_CHECK_INT(bad, ==, 0);
    MM_CHECK(same_as_sodium(buf, MM_TOKEN_BYTES));
    MM_CHECK(same_as_sodium(buf + 3, MM_TOKEN_BYTES));
    /* Inputs in allocations of exactly their size: the vector loads must not read past them
     * (AddressSanitizer builds catch it). */
    for (size_t n = 0; n <= MM_TOKEN_BYTES; n += n < 130 ? 1 : 97) {
        uint8_t *exact = malloc(n > 0 ? n : 1);
        MM_REQUIRE(exact != NULL);
        memcpy(exact, buf, n);
        bad += !same_as_sodium(exact, n);
        free(exact);
    }
    MM_CHECK_INT(bad, ==, 0);

    /* All 64 characters: the 48 bytes of the sequence 0..63 as 6-bit groups. */
    uint8_t all[48];
    for (int i = 0; i < 16; i++) {
        uint32_t v = (uint32_t)(4 * i) << 18 | (uint32_t)(4 * i + 1) << 12 | (uint32_t)(4 * i + 2) << 6 | (uint32_t)(4 * i + 3);
        all[3 * i] = (uint8_t)(v >> 16);
        all[3 * i + 1] = (uint8_t)(v >> 8);
        all[3 * i + 2] = (uint8_t)v;
    }
    char out[65];
    MM_CHECK_INT(mm__base64_encode_using(path, out, all, sizeof(all)), ==, 0);
    out[64] = '\0';
    MM_CHECK_STR(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

    for (int round = 0; round < 200; round++) {
        randombytes_buf(buf, sizeof(buf));
        bad += !same_as_sodium(buf, MM_TOKEN_BYTES);
        bad += !same_as_sodium(buf + 1, (size_t)(round * 7) % MM_TOKEN_BYTES);
    }
    MM_CHECK_INT(bad, ==, 0);
}

int
main(void)
{
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    static const mm__base64_path paths[] = {MM__BASE64_SCALAR, MM__BASE64_SSSE3, MM__BASE64_AVX2};
    static const char *const names[] = {"scalar", "ssse3", "avx2"};
    uint8_t buf[MM_TOKEN_BYTES];
    randombytes_buf(buf, sizeof(buf));
    int tested = 0;
    for (size_t i = 0; i < 3; i++) {
        char probe[8];
        path = paths[i];
        if (mm__base64_encode_using(path, probe, buf, 3) != 0) {
            fprintf(stderr, "%s path: not on this CPU, skipped\n", names[i]);
            continue;
        }
        fprintf(stderr, "%s path\n", names[i]);
        check_path();
        tested++;
    }
    MM_CHECK(tested >= 1);

    char b64[MM_TOKEN_BASE64_LEN + 1], ref[MM_TOKEN_BASE64_LEN + 1];
    MM_CHECK_INT(mm_token_to_base64(buf, b64, sizeof(b64)), ==, MM_OK);
    sodium_bin2base64(ref, sizeof(ref), buf, MM_TOKEN_BYTES, sodium_base64_VARIANT_ORIGINAL);
    MM_CHECK_STR(b64, ref);
    MM_CHECK_INT(strlen(b64), ==, MM_TOKEN_BASE64_LEN);
    return MM_TEST_DONE();
}
