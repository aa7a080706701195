/*
 * token_bench: connect tokens minted per second on one thread, beside its baseline measured
 * in the same run: libsodium's XChaCha20-Poly1305 sealing 1008 bytes, the one step no token
 * can skip. The ratio shows what the rest costs (randoms, fields, base64). Also shown: minting
 * without base64, and the two library calls minting adds to the seal (randombytes_buf for the
 * 88 random bytes, sodium_bin2base64 of the 2048 bytes).
 *
 * The goal is not the ratio but the share of the matchmaker's CPU: the cost of one mint in
 * microseconds times the all-in-one throughput point (docs/PERFORMANCE.md: 2,000-3,000
 * sessions/s on 2 cores, one token per session), over the 2 x 1e6 us of CPU the machine has per
 * second. Goal: at most 5%.
 * The phases alternate in rounds so that clock-speed drift hits all of them alike.
 * Prints figures only; no pass or fail.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/parse.h"
#include "mm/token.h"

#define ROUNDS 4
#define BATCH 256

/* The all-in-one throughput point of docs/PERFORMANCE.md, and the machine it was measured on. */
#define POINT_LOW_PER_S 2000.0
#define POINT_HIGH_PER_S 3000.0
#define POINT_CORES 2.0
#define SHARE_GOAL_PERCENT 5.0

enum phase { RAW_SEAL, MINT, MINT_RAW, SODIUM_B64, SODIUM_RANDOM, PHASES };

static const char *const phase_names[PHASES] = {
    "raw xchacha20poly1305 seal, 1008 B",  "mm_token_mint (randoms, seal, base64)", "mm_token_mint_raw (no base64)",
    "libsodium sodium_bin2base64, 2048 B", "libsodium randombytes_buf, 88 B",
};

struct bench {
    mm_token_key key;
    mm_token_address address;
    uint8_t plain[1008], sealed[1024], ad[29], nonce[24], token[MM_TOKEN_BYTES], randoms[MM_TOKEN_NONCE_BYTES + 64];
    char b64[MM_TOKEN_BASE64_LEN + 1];
    uint64_t client_id;
};

/* Runs one phase for about ns nanoseconds; returns the operations done and adds the time. */
static uint64_t
run_phase(struct bench *b, enum phase phase, uint64_t ns, uint64_t *spent)
{
    uint64_t start = mm_now_ns(), now = start, ops = 0;
    while (now - start < ns) {
        for (int i = 0; i < BATCH; i++) {
            switch (phase) {
            case RAW_SEAL:
                b->nonce[0]++;
                crypto_aead_xchacha20poly1305_ietf_encrypt(b->sealed, NULL, b->plain, sizeof(b->plain), b->ad, sizeof(b->ad), NULL,
                                                           b->nonce, b->key.bytes);
                break;
            case MINT:
                if (mm_token_mint(&b->key, MM_BYTE_ORDER_LITTLE, 80085, b->client_id++, &b->address, 1, 1800000000, 30, 15, b->b64,
                                  sizeof(b->b64)) != MM_OK)
                    abort();
                break;
            case MINT_RAW:
                if (mm_token_mint_raw(&b->key, MM_BYTE_ORDER_LITTLE, 80085, b->client_id++, &b->address, 1, 1800000000, 30, 15,
                                      b->token) != MM_OK)
                    abort();
                break;
            case SODIUM_B64:
                b->token[i] ^= 1;
                sodium_bin2base64(b->b64, sizeof(b->b64), b->token, sizeof(b->token), sodium_base64_VARIANT_ORIGINAL);
                break;
            case SODIUM_RANDOM:
                randombytes_buf(b->randoms, sizeof(b->randoms));
                break;
            default:
                abort();
            }
        }
        ops += BATCH;
        now = mm_now_ns();
    }
    *spent += now - start;
    return ops;
}

int
main(int argc, char **argv)
{
    double seconds = 1.5;
    static const struct option options[] = {{"seconds", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:h", options, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 's':
            seconds = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(seconds >= 0.01 && seconds <= 600)) {
                fprintf(stderr, "token_bench: --seconds wants a number of seconds, 0.01..600\n");
                return 2;
            }
            break;
        case 'h':
            printf("usage: token_bench [--seconds S]\n"
                   "Measures connect-token minting on one thread against raw XChaCha20-Poly1305 sealing\n"
                   "of the same 1008 bytes, in alternating rounds, for about S seconds in all (default 1.5),\n"
                   "and prints the cost per token and its share of the matchmaker's CPU at the all-in-one\n"
                   "throughput point of docs/PERFORMANCE.md (2,000-3,000 sessions/s on 2 cores).\n");
            return 0;
        default:
            fprintf(stderr, "token_bench: unknown option (see token_bench --help)\n");
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "token_bench: no arguments besides --seconds (see token_bench --help)\n");
        return 2;
    }
    if (mm_crypto_init() != MM_OK) {
        fprintf(stderr, "token_bench: libsodium could not be initialised\n");
        return 1;
    }
    static struct bench b;
    char why[160];
    randombytes_buf(b.key.bytes, sizeof(b.key.bytes));
    randombytes_buf(b.plain, sizeof(b.plain));
    randombytes_buf(b.ad, sizeof(b.ad));
    randombytes_buf(b.token, sizeof(b.token));
    if (mm_token_address_parse("172.104.236.32:30004", &b.address, why, sizeof(why)) != MM_OK)
        return 1;

    uint64_t ops[PHASES] = {0}, spent[PHASES] = {0};
    uint64_t slice = (uint64_t)(seconds * 1e9 / (ROUNDS * PHASES));
    for (int p = 0; p < PHASES; p++) /* warm-up: caches, CPU clock */
        run_phase(&b, (enum phase)p, slice / 8, &(uint64_t){0});
    for (int r = 0; r < ROUNDS; r++)
        for (int p = 0; p < PHASES; p++)
            ops[p] += run_phase(&b, (enum phase)p, slice, &spent[p]);

    double rate[PHASES];
    printf("token_bench: one thread, %.2f s\n", seconds);
    for (int p = 0; p < PHASES; p++) {
        rate[p] = (double)ops[p] * 1e9 / (double)spent[p];
        printf("  %-40s %10.0f /s  %6.3f us each\n", phase_names[p], rate[p], 1e6 / rate[p]);
    }
    printf("  ratio mint / raw seal:        %.2f\n", rate[MINT] / rate[RAW_SEAL]);
    printf("  ratio mint_raw / raw seal:    %.2f\n", rate[MINT_RAW] / rate[RAW_SEAL]);
    double mint_us = 1e6 / rate[MINT];
    double low = mint_us * POINT_LOW_PER_S / (POINT_CORES * 1e6) * 100,
           high = mint_us * POINT_HIGH_PER_S / (POINT_CORES * 1e6) * 100;
    printf("  mint cost:                    %.2f us per token\n", mint_us);
    printf("  share of the matchmaker's CPU at the throughput point (%.0f-%.0f sessions/s on %.0f cores):\n"
           "                                %.2f us x %.0f-%.0f /s / (%.0f x 1e6 us) = %.2f-%.2f%% (goal <= %.0f%%)\n",
           POINT_LOW_PER_S, POINT_HIGH_PER_S, POINT_CORES, mint_us, POINT_LOW_PER_S, POINT_HIGH_PER_S, POINT_CORES, low, high,
           SHARE_GOAL_PERCENT);
    mm_token_key_wipe(&b.key);
    sodium_memzero(&b, sizeof(b));
    return 0;
}
