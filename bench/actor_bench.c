/*
 * actor_bench: messages per second through an mm_inbox with 1, 4 and 8 producer threads,
 * beside a plain single-producer Concurrency Kit ring (one producer, one consumer thread,
 * same 32-byte message) measured in the same run. The ratios are the figures: machines here
 * are shared and noisy, absolute rates are not comparable between runs.
 *
 *   actor_bench [--messages N] [--rounds R]
 *
 * Each configuration runs R rounds and reports the best (least disturbed) one.
 */
#include <ck_ring.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mm/clock.h"
#include "mm/inbox.h"
#include "mm/parse.h"

CK_RING_PROTOTYPE(bench_msg, mm_msg)

#define RING_SIZE 4096

/* ---- baseline: ck_ring SPSC ---- */

struct spsc {
    ck_ring_t ring;
    mm_msg *buf;
    uint64_t count;
};

static void *
spsc_producer(void *p)
{
    struct spsc *s = p;
    for (uint64_t i = 0; i < s->count;) {
        mm_msg m = {.type = 1, .arg = i};
        if (ck_ring_enqueue_spsc_bench_msg(&s->ring, s->buf, &m))
            i++;
        else
            sched_yield();
    }
    return NULL;
}

static double
run_spsc(uint64_t count)
{
    struct spsc s = {.count = count};
    s.buf = aligned_alloc(64, RING_SIZE * sizeof(mm_msg));
    ck_ring_init(&s.ring, RING_SIZE);
    uint64_t sum = 0, got = 0, t0 = mm_now_ns();
    pthread_t t;
    pthread_create(&t, NULL, spsc_producer, &s);
    mm_msg m;
    while (got < count) {
        if (ck_ring_dequeue_spsc_bench_msg(&s.ring, s.buf, &m)) {
            sum += m.arg;
            got++;
        } else {
            sched_yield();
        }
    }
    double secs = (double)(mm_now_ns() - t0) / 1e9;
    pthread_join(t, NULL);
    free(s.buf);
    if (sum != count * (count - 1) / 2)
        fprintf(stderr, "spsc: checksum mismatch\n");
    return (double)count / secs;
}

/* ---- mm_inbox with P producers ---- */

struct producer {
    mm_inbox *inbox;
    uint64_t count;
};

static void *
inbox_producer(void *p)
{
    struct producer *pr = p;
    for (uint64_t i = 0; i < pr->count;) {
        mm_msg m = {.type = 1, .arg = i};
        mm_err err = mm_inbox_send(pr->inbox, &m);
        if (err == MM_OK)
            i++;
        else
            sched_yield(); /* full: let the consumer run */
    }
    return NULL;
}

static double
run_inbox(uint32_t producers, uint64_t count, uint64_t *wakeups, uint64_t *fulls)
{
    mm_inbox *inbox;
    mm_inbox_config cfg = {.capacity = RING_SIZE - 1};
    if (mm_inbox_create(&cfg, &inbox) != MM_OK)
        return 0;
    pthread_t threads[8];
    struct producer pr[8];
    uint64_t per = count / producers, total = per * producers, got = 0;
    mm_msg batch[256];
    uint64_t t0 = mm_now_ns();
    for (uint32_t i = 0; i < producers; i++) {
        pr[i] = (struct producer){inbox, per};
        pthread_create(&threads[i], NULL, inbox_producer, &pr[i]);
    }
    while (got < total) {
        size_t n = mm_inbox_drain(inbox, batch, 256);
        got += n;
        if (n == 0)
            mm_inbox_wait(inbox, 100);
    }
    double secs = (double)(mm_now_ns() - t0) / 1e9;
    for (uint32_t i = 0; i < producers; i++)
        pthread_join(threads[i], NULL);
    mm_inbox_stats st;
    mm_inbox_get_stats(inbox, &st);
    *wakeups = st.wakeups;
    *fulls = st.full;
    mm_inbox_destroy(inbox, NULL, NULL);
    return (double)total / secs;
}

int
main(int argc, char **argv)
{
    uint64_t messages = 4000000, rounds = 3;
    static const struct option opts[] = {
        {"messages", required_argument, NULL, 'n'}, {"rounds", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    char why[128];
    while ((c = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1) {
        if (c == 'n' && mm_parse_u64(optarg, 1000, 1000000000, &messages, why, sizeof(why)) == MM_OK)
            continue;
        if (c == 'r' && mm_parse_u64(optarg, 1, 100, &rounds, why, sizeof(why)) == MM_OK)
            continue;
        if (c != 'h')
            fprintf(stderr, "actor_bench: bad value for --%s: %s\n", c == 'n' ? "messages" : "rounds", why);
        fprintf(stderr, "usage: actor_bench [--messages N (default 4000000)] [--rounds R (default 3)]\n");
        return c == 'h' ? 0 : 2;
    }

    double base = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        double v = run_spsc(messages);
        base = v > base ? v : base;
    }
    printf("actor_bench: %llu messages of %zu bytes, best of %llu rounds, %ld cpus\n", (unsigned long long)messages,
           sizeof(mm_msg), (unsigned long long)rounds, sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-32s %12.0f msg/s  ratio 1.00\n", "ck_ring spsc (baseline)", base);
    static const uint32_t producer_counts[] = {1, 4, 8};
    for (int i = 0; i < 3; i++) {
        double best = 0;
        uint64_t wakeups = 0, fulls = 0;
        for (uint64_t r = 0; r < rounds; r++) {
            uint64_t w, f;
            double v = run_inbox(producer_counts[i], messages, &w, &f);
            if (v > best) {
                best = v;
                wakeups = w;
                fulls = f;
            }
        }
        char label[64];
        snprintf(label, sizeof(label), "mm_inbox %u producer%s", producer_counts[i], producer_counts[i] > 1 ? "s" : "");
        printf("%-32s %12.0f msg/s  ratio %.2f  (wake-ups %llu, full %llu)\n", label, best, best / base,
               (unsigned long long)wakeups, (unsigned long long)fulls);
    }
    printf("goal: 8 producers >= 0.50 of the baseline\n");
    return 0;
}
