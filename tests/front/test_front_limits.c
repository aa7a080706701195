/*
 * The admission limits (src/net/front/limits.c) with a synthetic clock: the token bucket's burst
 * and refill, per-IP concurrency, the global cap, release, IPv6 addresses counted by /64, the
 * sessions an address may hold in the session window, and a table that forgets idle addresses
 * (but not an address's recent sessions) so that a flood of distinct addresses stays bounded.
 */
#include <string.h>

#include "front_internal.h"
#include "mm_test.h"

#define S 1000000000ull

static void
key(const char *ip, uint8_t out[16])
{
    MM_REQUIRE(mm__front_addr_parse(ip, out, NULL));
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out, mapped, 12) != 0)
        memset(out + 8, 0, 8); /* as client_ip.c keys IPv6 */
}

static mm__front_limits *
make(uint32_t rate, uint32_t burst, uint32_t per_ip, uint32_t global)
{
    mm_front_config c;
    mm_front_config_init(&c);
    c.per_ip_rate = rate;
    c.per_ip_burst = burst;
    c.per_ip_concurrent = per_ip;
    c.global_concurrent = global;
    mm__front_limits *l = NULL;
    MM_REQUIRE(mm__front_limits_create(&c, &l) == MM_OK);
    return l;
}

static mm__front_limits *
make_sessions(uint32_t sessions, uint32_t window_s)
{
    mm_front_config c;
    mm_front_config_init(&c);
    c.per_ip_rate = 1000000;
    c.per_ip_burst = 1000000;
    c.per_ip_concurrent = 1000000;
    c.per_ip_sessions = sessions;
    c.session_window_s = window_s;
    mm__front_limits *l = NULL;
    MM_REQUIRE(mm__front_limits_create(&c, &l) == MM_OK);
    return l;
}

/* One request that the matchmaker accepts (a session) and that then ends. */
static mm__admit
one_session(mm__front_limits *l, const uint8_t k[16], uint64_t t)
{
    mm__admit a = mm__front_limits_acquire(l, k, t);
    if (a == MM__ADMIT_OK) {
        mm__front_limits_session(l, k, t);
        mm__front_limits_release(l, k, true);
    }
    return a;
}

/* The window of 75 s: 16 buckets of 5 s; a session counts for at least 75 s and at most 80 s. */
static void
test_sessions_window(void)
{
    mm__front_limits *l = make_sessions(4, 75);
    uint8_t a[16], b[16];
    key("203.0.113.9", a);
    key("203.0.113.10", b);
    uint64_t t0 = 1000 * S + 1; /* just after a bucket boundary */
    for (int i = 0; i < 4; i++)
        MM_CHECK_INT(one_session(l, a, t0 + (uint64_t)i * S), ==, MM__ADMIT_OK);
    MM_CHECK_U64(mm__front_limits_sessions_held(l, a, t0 + 4 * S), ==, 4);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t0 + 4 * S), ==, MM__ADMIT_SESSIONS);
    MM_CHECK_INT(one_session(l, b, t0 + 4 * S), ==, MM__ADMIT_OK); /* another address is not affected */
    /* never forgotten early: every instant up to 75 s after the last session still refuses */
    for (uint64_t t = t0 + 4 * S; t <= t0 + 3 * S + 75 * S; t += S / 2)
        MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_SESSIONS);
    /* all four (in one bucket) are forgotten by 80 s after the first */
    MM_CHECK_U64(mm__front_limits_sessions_held(l, a, t0 + 80 * S), ==, 0);
    MM_CHECK_INT(one_session(l, a, t0 + 80 * S), ==, MM__ADMIT_OK);
    /* sessions leave the window one bucket at a time */
    uint64_t t1 = 2000 * S + 1;
    mm__front_limits *m = make_sessions(3, 15); /* buckets of 1 s */
    MM_CHECK_INT(one_session(m, a, t1), ==, MM__ADMIT_OK);
    MM_CHECK_INT(one_session(m, a, t1 + 5 * S), ==, MM__ADMIT_OK);
    MM_CHECK_INT(one_session(m, a, t1 + 10 * S), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(m, a, t1 + 15 * S), ==, MM__ADMIT_SESSIONS);
    MM_CHECK_U64(mm__front_limits_sessions_held(m, a, t1 + 16 * S), ==, 2); /* the first is 16 s old */
    MM_CHECK_INT(one_session(m, a, t1 + 16 * S), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(m, a, t1 + 16 * S), ==, MM__ADMIT_SESSIONS);
    MM_CHECK_U64(mm__front_limits_sessions_held(m, a, t1 + 1000 * S), ==, 0); /* a long pause empties it */
    /* a clock that goes back changes nothing */
    MM_CHECK_U64(mm__front_limits_sessions_held(m, a, t1), ==, 0);
    mm__front_limits_destroy(m);
    mm__front_limits_destroy(l);
}

/* Requests in progress count until they end without a session, or turn into one; a session is
 * counted once, not also as a request in progress. */
static void
test_sessions_pending(void)
{
    mm__front_limits *l = make_sessions(3, 75);
    uint8_t a[16];
    key("2001:db8:7::1", a);
    uint64_t t = 3000 * S;
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_SESSIONS); /* 3 pending */
    mm__front_limits_release(l, a, false);                                   /* one failed: no session */
    MM_CHECK_U64(mm__front_limits_sessions_held(l, a, t), ==, 2);
    mm__front_limits_session(l, a, t); /* one accepted, still in progress (waiting for SessionReady) */
    MM_CHECK_U64(mm__front_limits_sessions_held(l, a, t), ==, 2);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_SESSIONS);
    mm__front_limits_release(l, a, true);
    mm__front_limits_release(l, a, false);
    mm__front_limits_release(l, a, false);
    MM_CHECK_U64(mm__front_limits_sessions_held(l, a, t), ==, 1);
    MM_CHECK_INT(mm__front_limits_active(l), ==, 0);
    /* 0 is no limit */
    mm__front_limits *u = make_sessions(0, 75);
    for (int i = 0; i < 70000; i++)
        MM_CHECK_INT(one_session(u, a, t), ==, MM__ADMIT_OK);
    mm__front_limits_destroy(u);
    mm__front_limits_destroy(l);
}

/* An address with sessions in the window is not forgotten when room is needed (forgetting it
 * would free it), and is forgotten once they have left the window. */
static void
test_sessions_kept(void)
{
    mm__front_limits *l = make_sessions(2, 10);
    uint8_t a[16], k[16];
    key("192.0.2.200", a);
    uint64_t t = 4000 * S;
    MM_CHECK_INT(one_session(l, a, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(one_session(l, a, t), ==, MM__ADMIT_OK);
    for (uint32_t i = 0; i < 5000; i++) { /* many idle addresses: sweeps run */
        key("::ffff:0.0.0.0", k);
        k[13] = 0x55;
        k[14] = (uint8_t)(i >> 8);
        k[15] = (uint8_t)i;
        mm__front_limits_acquire(l, k, t + i * (S / 1000));
        mm__front_limits_release(l, k, false);
    }
    t += 5 * S;
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_SESSIONS);
    size_t before = mm__front_limits_tracked(l);
    t += 20 * S;
    for (uint32_t i = 0; i < 5000; i++) {
        key("::ffff:0.0.0.0", k);
        k[13] = 0x56;
        k[14] = (uint8_t)(i >> 8);
        k[15] = (uint8_t)i;
        mm__front_limits_acquire(l, k, t + i * S);
        mm__front_limits_release(l, k, false);
    }
    MM_CHECK_U64(mm__front_limits_tracked(l), <, before); /* the old addresses went */
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t + 5000 * S), ==, MM__ADMIT_OK);
    mm__front_limits_destroy(l);
}

static void
test_bucket(void)
{
    mm__front_limits *l = make(2, 3, 100, 1000);
    uint8_t a[16], b[16];
    key("203.0.113.1", a);
    key("203.0.113.2", b);
    uint64_t t = 5 * S;
    for (int i = 0; i < 3; i++) {
        MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
        mm__front_limits_release(l, a, false);
    }
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_RATE);
    MM_CHECK_INT(mm__front_limits_acquire(l, b, t), ==, MM__ADMIT_OK); /* another address is not affected */
    mm__front_limits_release(l, b, false);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t + S / 4), ==, MM__ADMIT_RATE); /* half a token */
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t + S / 2), ==, MM__ADMIT_OK);   /* 2/s: one after 0.5 s */
    mm__front_limits_release(l, a, false);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t + S / 2), ==, MM__ADMIT_RATE);
    /* a long pause refills to the burst, no more */
    t += 1000 * S;
    for (int i = 0; i < 3; i++) {
        MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
        mm__front_limits_release(l, a, false);
    }
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_RATE);
    /* a clock that goes back never adds tokens */
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t - 10 * S), ==, MM__ADMIT_RATE);
    MM_CHECK_INT(mm__front_limits_active(l), ==, 0);
    mm__front_limits_destroy(l);
}

static void
test_concurrency(void)
{
    mm__front_limits *l = make(1000, 1000, 2, 3);
    uint8_t a[16], b[16], c[16];
    key("198.51.100.1", a);
    key("198.51.100.2", b);
    key("198.51.100.3", c);
    uint64_t t = S;
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_IP_CONCURRENT);
    MM_CHECK_INT(mm__front_limits_acquire(l, b, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, c, t), ==, MM__ADMIT_GLOBAL);
    MM_CHECK_INT(mm__front_limits_active(l), ==, 3);
    mm__front_limits_release(l, a, false);
    MM_CHECK_INT(mm__front_limits_acquire(l, c, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_GLOBAL);
    mm__front_limits_release(l, b, false);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    mm__front_limits_release(l, a, false);
    mm__front_limits_release(l, a, false);
    mm__front_limits_release(l, a, false); /* one too many: ignored */
    mm__front_limits_release(l, c, false);
    MM_CHECK_INT(mm__front_limits_active(l), ==, 0);
    mm__front_limits_destroy(l);
}

static void
test_ipv6_prefix(void)
{
    mm__front_limits *l = make(1000, 1000, 1, 100);
    uint8_t a[16], b[16], c[16];
    key("2001:db8:1:2::1", a);
    key("2001:db8:1:2:ffff::9", b); /* same /64 */
    key("2001:db8:1:3::1", c);      /* next /64 */
    MM_CHECK_INT(mm__front_limits_acquire(l, a, S), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, b, S), ==, MM__ADMIT_IP_CONCURRENT);
    MM_CHECK_INT(mm__front_limits_acquire(l, c, S), ==, MM__ADMIT_OK);
    mm__front_limits_destroy(l);
}

/* 300k distinct addresses, one request each, time moving on: idle entries are forgotten. */
static void
test_bounded(void)
{
    mm__front_limits *l = make(10, 20, 16, 1000000);
    uint8_t k[16];
    uint64_t t = S;
    size_t peak = 0, refused = 0;
    for (uint32_t i = 0; i < 300000; i++) {
        key("::ffff:0.0.0.0", k);
        k[12] = (uint8_t)(i >> 24);
        k[13] = (uint8_t)(i >> 16);
        k[14] = (uint8_t)(i >> 8);
        k[15] = (uint8_t)i;
        t += S / 1000; /* 1000 new addresses per second: a bucket refills in 2 s */
        if (mm__front_limits_acquire(l, k, t) == MM__ADMIT_OK)
            mm__front_limits_release(l, k, false);
        else
            refused++;
        size_t n = mm__front_limits_tracked(l);
        if (n > peak)
            peak = n;
    }
    MM_CHECK_U64(refused, ==, 0);
    MM_CHECK_U64(peak, <=, 8192); /* about 2 s worth of addresses, not 300k */
    /* addresses that keep a request open are never forgotten */
    uint8_t a[16];
    key("192.0.2.77", a);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    for (uint32_t i = 0; i < 20000; i++) {
        key("::ffff:0.0.0.0", k);
        k[13] = 0x7f;
        k[14] = (uint8_t)(i >> 8);
        k[15] = (uint8_t)i;
        t += S / 100;
        mm__front_limits_acquire(l, k, t);
        mm__front_limits_release(l, k, false);
    }
    MM_CHECK_INT(mm__front_limits_active(l), ==, 1);
    mm__front_limits_release(l, a, false);
    MM_CHECK_INT(mm__front_limits_active(l), ==, 0);
    mm__front_limits_destroy(l);
}

int
main(void)
{
    test_bucket();
    test_concurrency();
    test_ipv6_prefix();
    test_sessions_window();
    test_sessions_pending();
    test_sessions_kept();
    test_bounded();
    return MM_TEST_DONE();
}
