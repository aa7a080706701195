/*
 * One-time set-up of the crypto module: libsodium's sodium_init() (which picks the fastest
 * ChaCha20/Poly1305 code for this CPU and checks that getrandom() or /dev/urandom works for
 * randombytes_buf), under a pthread_once so any thread may call mm_crypto_init() at any time
 * and as often as it likes; after the first call it costs one atomic load (sodium_init() itself
 * takes a lock on every call). Every public token function calls it itself.
 */
#include <pthread.h>
#include <sodium.h>

#include "token_internal.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static mm_err init_result = MM_ERR_CRYPTO;

static void
crypto_init_once(void)
{
    if (sodium_init() < 0)
        return;
    init_result = MM_OK;
}

mm_err
mm_crypto_init(void)
{
    pthread_once(&init_once, crypto_init_once);
    return init_result;
}
