/*
 * The per-thread random generator of the minting path: output differs draw to draw, thread
 * to thread, across refills and reseeds, looks uniform, and a fork()ed child never repeats
 * what its parent hands out next (the case a user-space generator gets wrong when it keeps
 * its buffer across fork).
 */
#include <pthread.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/token.h"
#include "mm_test.h"
#include "token_internal.h"

static void *
thread_draw(void *arg)
{
    mm__random_bytes(arg, 32);
    return NULL;
}

static void
fork_check(void)
{
    uint8_t warm[16], parent[32], child[32];
    mm__random_bytes(warm, sizeof(warm)); /* leaves unread output in this thread's buffer */
    int fds[2];
    MM_REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    MM_REQUIRE(pid >= 0);
    if (pid == 0) {
        mm__random_bytes(child, sizeof(child));
        _exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
    }
    close(fds[1]);
    mm__random_bytes(parent, sizeof(parent));
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
    MM_CHECK(memcmp(parent, child, sizeof(child)) != 0);
}

int
main(void)
{
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    uint8_t a[88], b[88];
    mm__random_bytes(a, sizeof(a));
    mm__random_bytes(b, sizeof(b));
    MM_CHECK(memcmp(a, b, sizeof(a)) != 0);
    MM_CHECK(!sodium_is_zero(a, sizeof(a)));

    /* 1 MiB in odd-sized pieces: crosses many refills and several reseeds. Each byte value
     * is expected 4096 times (standard deviation 64); the bounds are 15 deviations wide. */
    static uint8_t big[1 << 20];
    for (size_t off = 0; off < sizeof(big);) {
        size_t n = sizeof(big) - off < 1000 ? sizeof(big) - off : 1000;
        mm__random_bytes(big + off, n);
        off += n;
    }
    size_t counts[256] = {0};
    for (size_t i = 0; i < sizeof(big); i++)
        counts[big[i]]++;
    size_t lo = SIZE_MAX, hi = 0;
    for (int v = 0; v < 256; v++) {
        lo = counts[v] < lo ? counts[v] : lo;
        hi = counts[v] > hi ? counts[v] : hi;
    }
    MM_CHECK_U64(lo, >, 3100);
    MM_CHECK_U64(hi, <, 5100);
    MM_CHECK(memcmp(big, big + 1024, 1024) != 0);

    uint8_t t1[32], t2[32];
    pthread_t th1, th2;
    MM_REQUIRE(pthread_create(&th1, NULL, thread_draw, t1) == 0);
    MM_REQUIRE(pthread_create(&th2, NULL, thread_draw, t2) == 0);
    pthread_join(th1, NULL);
    pthread_join(th2, NULL);
    MM_CHECK(memcmp(t1, t2, sizeof(t1)) != 0);

    fork_check();
    fork_check();
    return MM_TEST_DONE();
}
