/*
 * Base64 of tokens: padded standard alphabet (RFC 4648), as the reference and Lightyear use.
 *
 * Both directions are libsodium's constant-time codec (sodium_bin2base64 and sodium_base642bin
 * with sodium_base64_VARIANT_ORIGINAL). Encoding a whole token that way costs ~10 us, a few times
 * its sealing. A token ends in zero padding (the public part is at most ~1.2 KB of the 2048
 * bytes), and base64 of zero bytes is a run of 'A': so the encoder hands libsodium only the
 * bytes up to the last non-zero one (rounded up to a multiple of 3, so the groups line up) and
 * writes the 'A's of the padding itself, ending in "AAA=" (2048 = 3 x 682 + 2). Same text, about
 * half the cost; test_token_roundtrip compares it with sodium_bin2base64 over the whole buffer.
 * Which bytes are zero is public (the padding follows the address list), so the shortcut leaks
 * nothing the token does not show.
 */
#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "token_internal.h"

_Static_assert(MM_TOKEN_BYTES % 3 == 2, "the padding ends in one group of two bytes");
_Static_assert(sodium_base64_ENCODED_LEN(MM_TOKEN_BYTES, sodium_base64_VARIANT_ORIGINAL) == MM_TOKEN_BASE64_LEN + 1,
               "token base64 length");

mm_err
mm_token_to_base64(const uint8_t token[MM_TOKEN_BYTES], char *b64, size_t b64_len)
{
    if (token == NULL || b64 == NULL || b64_len < MM_TOKEN_BASE64_LEN + 1)
        return MM_ERR_INVALID;
    size_t used = MM_TOKEN_BYTES;
    while (used > 0 && token[used - 1] == 0)
        used--;
    used = (used + 2) / 3 * 3;
    if (used > MM_TOKEN_BYTES - MM_TOKEN_BYTES % 3) /* no whole group of padding: encode it all */
        used = MM_TOKEN_BYTES;
    sodium_bin2base64(b64, b64_len, token, used, sodium_base64_VARIANT_ORIGINAL);
    if (used < MM_TOKEN_BYTES) {
        size_t at = used / 3 * 4; /* the 'A's of the zero groups, then the last two zero bytes */
        memset(b64 + at, 'A', MM_TOKEN_BASE64_LEN - 1 - at);
        b64[MM_TOKEN_BASE64_LEN - 1] = '=';
        b64[MM_TOKEN_BASE64_LEN] = '\0';
    }
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
