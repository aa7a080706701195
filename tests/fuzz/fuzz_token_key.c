/*
 * libFuzzer driver for the private-key text parser: any text, never a crash, a NUL-terminated
 * reason on refusal, and an accepted key always re-parses from its own canonical form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    mm_token_key key, again;
    char why[256];
    if (mm_token_key_parse(text, &key, why, sizeof(why)) == MM_OK) {
        char canon[32 * 5 + 1];
        size_t len = 0;
        for (int i = 0; i < 32; i++)
            len += (size_t)snprintf(canon + len, sizeof(canon) - len, i ? ",%u" : "%u", key.bytes[i]);
        if (mm_token_key_parse(canon, &again, why, sizeof(why)) != MM_OK || memcmp(key.bytes, again.bytes, 32) != 0)
            abort();
    } else if (memchr(why, '\0', sizeof(why)) == NULL) {
        abort();
    }
    free(text);
    return 0;
}
