/*
 * libFuzzer driver for the game server's side of connect tokens.
 *
 * Random bytes never get past the AEAD check, which would leave the parsing behind it
 * unexercised. So the input is split into a sealed part and a public part: the fuzzer chooses
 * the 1008 plaintext bytes (client id, timeout, address list, keys, user data) and the public
 * tail, and the driver seals the plaintext with the known key exactly as a minter would. The
 * decoder must then never crash or read out of bounds, and whatever it accepts must be sane.
 * A second path feeds the raw input to the base64 reader and then to the decoder.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "mm/token.h"

static void
put_u64(uint8_t *p, uint64_t v, int big)
{
    for (int i = 0; i < 8; i++)
        p[big ? 7 - i : i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (mm_crypto_init() != MM_OK)
            abort();
        ready = 1;
    }
    mm_token_key key;
    for (int i = 0; i < 32; i++)
        key.bytes[i] = (uint8_t)(i + 1);
    const uint64_t protocol_id = 80085, now = 1795000000, expire = now + 30;

    if (size > 0 && data[0] == 'B') {
        /* base64 path: arbitrary text. */
        char *text = malloc(size);
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        uint8_t raw[MM_TOKEN_BYTES];
        char why[256];
        if (mm_token_from_base64(text, raw, why, sizeof(why)) == MM_OK) {
            mm_token_decoded out;
            mm_token_decode(raw, &key, MM_BYTE_ORDER_LITTLE, protocol_id, now, &out, why, sizeof(why));
        }
        free(text);
        return 0;
    }

    int big = size > 0 && (data[0] & 1);
    uint8_t plain[1008] = {0};
    uint8_t token[MM_TOKEN_BYTES] = {0};
    size_t off = size > 0 ? 1 : 0;
    size_t n = size - off < sizeof(plain) ? size - off : sizeof(plain);
    memcpy(plain, data + off, n);
    off += n;

    memcpy(token, "NETCODE 1.02", 13);
    put_u64(token + 13, protocol_id, big);
    put_u64(token + 21, now, big);
    put_u64(token + 29, expire, big);
    memset(token + 37, 7, 24); /* nonce */
    uint8_t ad[29];
    memcpy(ad, token, 13);
    put_u64(ad + 13, protocol_id, big);
    put_u64(ad + 21, expire, big);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(token + 61, &clen, plain, sizeof(plain), ad, sizeof(ad), NULL,
                                               token + 37, key.bytes);
    /* The public tail (timeout, addresses, keys) also comes from the fuzzer. */
    size_t tail = size - off < MM_TOKEN_BYTES - 1085 ? size - off : MM_TOKEN_BYTES - 1085;
    memcpy(token + 1085, data + off, tail);

    mm_token_decoded out;
    char why[256];
    mm_err err = mm_token_decode(token, &key, big ? MM_BYTE_ORDER_BIG : MM_BYTE_ORDER_LITTLE, protocol_id, now, &out,
                                 why, sizeof(why));
    if (err == MM_OK && (out.address_count < 1 || out.address_count > MM_TOKEN_MAX_ADDRESSES))
        abort();
    if (err != MM_OK && memchr(why, '\0', sizeof(why)) == NULL)
        abort();
    return 0;
}
