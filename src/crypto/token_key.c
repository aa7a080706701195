/*
 * The server's private key in the reference's text form: "1, 2, 3, ..., 1", 32 numbers 0..255
 * separated by commas, spaces (any white space) around numbers and one pair of surrounding
 * brackets tolerated, nothing else (no signs, no hex, no trailing comma).
 *
 * Messages say what is wrong by position and count, never by quoting the text: the key is a
 * secret and error messages end up in logs. The only number ever shown is an out-of-range one,
 * which cannot be a key byte. Parsed bytes go to a stack copy that is wiped on every path and
 * reach *key only when the whole text is valid.
 */
#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "token_internal.h"

#define VALUE_CAP 1000000 /* larger values are reported without the value */

static const char *
skip_space(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

/* Parses one element [p, end) (spaces around allowed) as number `index` (1-based). */
static mm_err
key_number(const char *p, const char *end, int index, uint8_t *value, char *why, size_t why_len)
{
    p = skip_space(p, end);
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (p == end)
        return mm_fail(MM_ERR_INVALID, why, why_len, "number %d is empty", index);
    uint32_t v = 0;
    for (const char *q = p; q < end; q++) {
        if (*q < '0' || *q > '9')
            return mm_fail(MM_ERR_INVALID, why, why_len, "number %d is not a number (expected 0..255)", index);
        v = v * 10 + (uint32_t)(*q - '0');
        if (v > VALUE_CAP)
            v = VALUE_CAP + 1;
    }
    if (v > VALUE_CAP)
        return mm_fail(MM_ERR_INVALID, why, why_len, "number %d is out of range 0..255", index);
    if (v > 255)
        return mm_fail(MM_ERR_INVALID, why, why_len, "number %d is %u, out of range 0..255", index, v);
    *value = (uint8_t)v;
    return MM_OK;
}

mm_err
mm_token_key_parse(const char *text, mm_token_key *key, char *why, size_t why_len)
{
    if (text == NULL || key == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "no key given");
    uint8_t bytes[MM_TOKEN_KEY_BYTES];
    mm_err err = MM_OK;
    const char *end = text + strlen(text);
    const char *p = skip_space(text, end);
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (p == end) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "key is empty, expected 32 numbers 0..255 separated by commas");
        goto cleanup;
    }
    int open = *p == '[', close = end[-1] == ']';
    if (open != close) {
        err = mm_fail(MM_ERR_INVALID, why, why_len,
                      open ? "key starts with [ but does not end with ]" : "key ends with ] but does not start with [");
        goto cleanup;
    }
    if (open) {
        p++;
        end--;
    }
    int count = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma != NULL ? comma : end;
        uint8_t v = 0;
        err = key_number(p, stop, count + 1, &v, why, why_len);
        if (err != MM_OK) {
            if (count == 0 && comma == NULL && skip_space(p, end) == end)
                err = mm_fail(MM_ERR_INVALID, why, why_len, "key is empty, expected 32 numbers 0..255 separated by commas");
            goto cleanup;
        }
        if (count < MM_TOKEN_KEY_BYTES)
            bytes[count] = v;
        count++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (count != MM_TOKEN_KEY_BYTES) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "expected %d numbers, got %d", MM_TOKEN_KEY_BYTES, count);
        goto cleanup;
    }
    memcpy(key->bytes, bytes, sizeof(bytes));
cleanup:
    sodium_memzero(bytes, sizeof(bytes));
    return err;
}

void
mm_token_key_wipe(mm_token_key *key)
{
    if (key != NULL)
        sodium_memzero(key, sizeof(*key));
}
