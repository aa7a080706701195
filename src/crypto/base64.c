/*
 * Base64 of tokens: padded standard alphabet (RFC 4648), as the reference and Lightyear use.
 *
 * Decoding (the game server's side, never hot) is libsodium's sodium_base642bin(). Encoding is
 * on the minting hot path, and libsodium's constant-time encoder needs ~9 us for a token, six
 * times the token's encryption. So it is done here, still in constant time (no table lookup or
 * branch depends on the data): on x86 with AVX2 (or SSSE3) 24 (or 12) bytes at a time with the
 * shuffle and multiply-shift method of W. Mula and D. Lemire ("Faster Base64 Encoding and
 * Decoding Using AVX2 Instructions", 2018), elsewhere and for the last bytes with branchless
 * arithmetic. tests/crypto/test_token_base64.c checks every path against libsodium's encoder.
 */
#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "token_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_SIMD_PATH 1
#endif

/* The character for a 6-bit value, without branches: each (k - x) >> 8 is all ones when x > k. */
static inline char
b64_char(uint32_t x)
{
    uint32_t c = x + 'A';
    c += ((25u - x) >> 8) & 6u;  /* 26..51 -> 'a'..'z' */
    c -= ((51u - x) >> 8) & 75u; /* 52..61 -> '0'..'9' */
    c -= ((61u - x) >> 8) & 15u; /* 62 -> '+' */
    c += ((62u - x) >> 8) & 3u;  /* 63 -> '/' */
    return (char)c;
}

static void
encode_scalar(char *out, const uint8_t *in, size_t n)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3, out += 4) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[0] = b64_char(v >> 18);
        out[1] = b64_char((v >> 12) & 63);
        out[2] = b64_char((v >> 6) & 63);
        out[3] = b64_char(v & 63);
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[0] = b64_char(v >> 18);
        out[1] = b64_char((v >> 12) & 63);
        out[2] = i + 1 < n ? b64_char((v >> 6) & 63) : '=';
        out[3] = '=';
    }
}

#ifdef HAVE_SIMD_PATH
/*
 * Per 32-bit lane, the shuffle places the bytes b1 b0 b2 b1 of one 3-byte group: the two 16-bit
 * halves then hold (b0 b1) and (b1 b2), from which a multiply-high and a multiply-low cut the
 * four 6-bit values into the lane's four bytes. The character is value + offset, the offset
 * picked by a second shuffle indexed by the value's class: 0 for 26..51 ('a' - 26 = 71),
 * 1..10 for 52..61 ('0' - 52), 11 for 62 ('+'), 12 for 63 ('/'), 13 for 0..25 ('A').
 */
#define SPLIT_BYTES 1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10
#define SPLIT_BYTES_AT_4 5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14
#define OFFSETS 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0

/* Encodes whole 12-byte blocks while 16 bytes can be loaded; returns the bytes consumed. */
__attribute__((target("ssse3"))) static size_t
encode_ssse3(char *out, const uint8_t *in, size_t n)
{
    const __m128i split = _mm_setr_epi8(SPLIT_BYTES), offsets = _mm_setr_epi8(OFFSETS);
    const __m128i mask_hi = _mm_set1_epi32(0x0fc0fc00), mul_hi = _mm_set1_epi32(0x04000040);
    const __m128i mask_lo = _mm_set1_epi32(0x003f03f0), mul_lo = _mm_set1_epi32(0x01000010);
    const __m128i n51 = _mm_set1_epi8(51), n26 = _mm_set1_epi8(26), n13 = _mm_set1_epi8(13);
    size_t i = 0;
    for (; i + 16 <= n; i += 12, out += 16) {
        __m128i v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(in + i)), split);
        __m128i hi = _mm_mulhi_epu16(_mm_and_si128(v, mask_hi), mul_hi);
        __m128i lo = _mm_mullo_epi16(_mm_and_si128(v, mask_lo), mul_lo);
        __m128i idx = _mm_or_si128(hi, lo);
        __m128i cls = _mm_or_si128(_mm_subs_epu8(idx, n51), _mm_and_si128(_mm_cmpgt_epi8(n26, idx), n13));
        _mm_storeu_si128((__m128i *)(void *)out, _mm_add_epi8(idx, _mm_shuffle_epi8(offsets, cls)));
    }
    return i;
}

/* The same, 24 bytes at a time. Each 128-bit lane needs its 12 bytes, so the 32-byte load
 * starts 4 bytes early: the low lane uses bytes 4..15, the high lane bytes 16..27. The first
 * block therefore goes through encode_ssse3 (i must be >= 4). */
__attribute__((target("avx2"))) static size_t
encode_avx2(char *out, const uint8_t *in, size_t n)
{
    size_t i = encode_ssse3(out, in, n < 16 ? n : 16);
    out += i / 3 * 4;
    if (i == 0)
        return 0;
    const __m256i split = _mm256_setr_epi8(SPLIT_BYTES_AT_4, SPLIT_BYTES), offsets = _mm256_setr_epi8(OFFSETS, OFFSETS);
    const __m256i mask_hi = _mm256_set1_epi32(0x0fc0fc00), mul_hi = _mm256_set1_epi32(0x04000040);
    const __m256i mask_lo = _mm256_set1_epi32(0x003f03f0), mul_lo = _mm256_set1_epi32(0x01000010);
    const __m256i n51 = _mm256_set1_epi8(51), n26 = _mm256_set1_epi8(26), n13 = _mm256_set1_epi8(13);
    for (; i + 28 <= n; i += 24, out += 32) {
        __m256i v = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(in + i - 4)), split);
        __m256i hi = _mm256_mulhi_epu16(_mm256_and_si256(v, mask_hi), mul_hi);
        __m256i lo = _mm256_mullo_epi16(_mm256_and_si256(v, mask_lo), mul_lo);
        __m256i idx = _mm256_or_si256(hi, lo);
        __m256i cls = _mm256_or_si256(_mm256_subs_epu8(idx, n51), _mm256_and_si256(_mm256_cmpgt_epi8(n26, idx), n13));
        _mm256_storeu_si256((__m256i *)(void *)out, _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, cls)));
    }
    return i + encode_ssse3(out, in + i, n - i);
}
#endif

int
mm__base64_encode_using(mm__base64_path path, char *out, const uint8_t *in, size_t n)
{
    size_t done = 0;
    switch (path) {
    case MM__BASE64_SCALAR:
        break;
#ifdef HAVE_SIMD_PATH
    case MM__BASE64_SSSE3:
        if (!__builtin_cpu_supports("ssse3"))
            return -1;
        done = encode_ssse3(out, in, n);
        break;
    case MM__BASE64_AVX2:
        if (!__builtin_cpu_supports("avx2"))
            return -1;
        done = encode_avx2(out, in, n);
        break;
#endif
    default:
        return -1;
    }
    encode_scalar(out + done / 3 * 4, in + done, n - done);
    return 0;
}

void
mm__base64_encode(char *out, const uint8_t *in, size_t n)
{
    if (mm__base64_encode_using(MM__BASE64_AVX2, out, in, n) != 0 && mm__base64_encode_using(MM__BASE64_SSSE3, out, in, n) != 0)
        mm__base64_encode_using(MM__BASE64_SCALAR, out, in, n);
}

mm_err
mm_token_to_base64(const uint8_t token[MM_TOKEN_BYTES], char *b64, size_t b64_len)
{
    if (token == NULL || b64 == NULL || b64_len < MM_TOKEN_BASE64_LEN + 1)
        return MM_ERR_INVALID;
    mm__base64_encode(b64, token, MM_TOKEN_BYTES);
    b64[MM_TOKEN_BASE64_LEN] = '\0';
    return MM_OK;
}

mm_err
mm_token_from_base64(const char *b64, uint8_t out[MM_TOKEN_BYTES], char *why, size_t why_len)
{
    if (b64 == NULL || out == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "no token given");
    const char *start = b64;
    while (isspace((unsigned char)*start))
        start++;
    size_t len = strlen(start);
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    if (len == 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "token is empty");
    if (len != MM_TOKEN_BASE64_LEN)
        return mm_fail(MM_ERR_INVALID, why, why_len, "token is %zu characters long, expected %d (base64 of %d bytes)", len,
                       MM_TOKEN_BASE64_LEN, MM_TOKEN_BYTES);
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, MM_TOKEN_BYTES, start, len, NULL, &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != start + len || bin_len != MM_TOKEN_BYTES) {
        sodium_memzero(out, MM_TOKEN_BYTES);
        return mm_fail(MM_ERR_INVALID, why, why_len, "token is not valid base64 (standard alphabet, padded)");
    }
    return MM_OK;
}
