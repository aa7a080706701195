/*
 * A per-thread fast-key-erasure random generator for the minting hot path.
 *
 * libsodium's randombytes_buf() makes a getrandom() system call each time (~0.7 us for the 88
 * random bytes of a token, half the cost of the token's encryption). Here each thread keeps a
 * 32-byte ChaCha20 key and a buffer: a refill runs ChaCha20 under the key (zero nonce; the key
 * never repeats), takes the first 32 bytes of the stream as the next key and hands out the
 * rest, wiping every byte as it is handed out. The state therefore only ever holds output that
 * has not been given to anyone yet, never anything that was (D. J. Bernstein, "Fast-key-erasure
 * random-number generators", 2017). The key comes from randombytes_buf() on first use, after
 * every RESEED_REFILLS refills and after fork(): a pthread_atfork() child handler bumps a
 * generation counter that every draw compares with its own, and wipes the forking thread's
 * state, so parent and child never hand out the same bytes. (Other threads' buffers are copied
 * into a child too, as with any user-space generator; they are never used there.)
 * The state is thread-local: no lock, no allocation.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "token_internal.h"

#define KEY_BYTES crypto_stream_chacha20_KEYBYTES
#define OUT_BYTES 1024
#define RESEED_REFILLS 256 /* reseed from the kernel after 256 KiB */

struct rng_state {
    uint8_t block[KEY_BYTES + OUT_BYTES]; /* next key, then output; handed-out bytes are zero */
    size_t avail;                         /* unread output bytes, at the end of block */
    uint64_t generation;                  /* fork generation the key was seeded in; 0 = never */
    uint32_t refills;
};

static _Atomic uint64_t fork_generation = 1;
static __thread struct rng_state rng;

static void
rng_after_fork_in_child(void)
{
    atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
    sodium_memzero(&rng, sizeof(rng));
}

int
mm__random_init(void)
{
    return pthread_atfork(NULL, NULL, rng_after_fork_in_child);
}

static void
rng_refill(void)
{
    static const uint8_t zero_nonce[crypto_stream_chacha20_NONCEBYTES];
    uint64_t gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (rng.generation != gen || rng.refills >= RESEED_REFILLS) {
        randombytes_buf(rng.block, KEY_BYTES);
        rng.generation = gen;
        rng.refills = 0;
    }
    uint8_t key[KEY_BYTES];
    memcpy(key, rng.block, KEY_BYTES);
    crypto_stream_chacha20(rng.block, sizeof(rng.block), zero_nonce, key);
    sodium_memzero(key, sizeof(key));
    rng.avail = OUT_BYTES;
    rng.refills++;
}

void
mm__random_bytes(void *buf, size_t len)
{
    uint8_t *dst = buf;
    if (rng.generation != atomic_load_explicit(&fork_generation, memory_order_relaxed))
        rng.avail = 0; /* a fork happened since the last draw: this buffer is shared */
    while (len > 0) {
        if (rng.avail == 0)
            rng_refill();
        size_t n = len < rng.avail ? len : rng.avail;
        uint8_t *src = rng.block + sizeof(rng.block) - rng.avail;
        memcpy(dst, src, n);
        sodium_memzero(src, n);
        rng.avail -= n;
        dst += n;
        len -= n;
    }
}
