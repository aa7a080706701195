/*
 * The admission limits (src/net/front/limits.c) with a synthetic clock: the token bucket's burst
 * and refill, per-IP concurrency, the global cap, release, IPv6 addresses counted by /64, and a
 * table that forgets idle addresses so that a flood of distinct addresses stays bounded.
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
        mm__front_limits_release(l, a);
    }
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_RATE);
    MM_CHECK_INT(mm__front_limits_acquire(l, b, t), ==, MM__ADMIT_OK); /* another address is not affected */
    mm__front_limits_release(l, b);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t + S / 4), ==, MM__ADMIT_RATE); /* half a token */
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t + S / 2), ==, MM__ADMIT_OK);   /* 2/s: one after 0.5 s */
    mm__front_limits_release(l, a);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t + S / 2), ==, MM__ADMIT_RATE);
    /* a long pause refills to the burst, no more */
    t += 1000 * S;
    for (int i = 0; i < 3; i++) {
        MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
        mm__front_limits_release(l, a);
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
    mm__front_limits_release(l, a);
    MM_CHECK_INT(mm__front_limits_acquire(l, c, t), ==, MM__ADMIT_OK);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_GLOBAL);
    mm__front_limits_release(l, b);
    MM_CHECK_INT(mm__front_limits_acquire(l, a, t), ==, MM__ADMIT_OK);
    mm__front_limits_release(l, a);
    mm__front_limits_release(l, a);
    mm__front_limits_release(l, a); /* one too many: ignored */
    mm__front_limits_release(l, c);
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
            mm__front_limits_release(l, k);
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
        mm__front_limits_release(l, k);
    }
    MM_CHECK_INT(mm__front_limits_active(l), ==, 1);
    mm__front_limits_release(l, a);
    MM_CHECK_INT(mm__front_limits_active(l), ==, 0);
    mm__front_limits_destroy(l);
}

int
main(void)
{
    test_bucket();
    test_concurrency();
    test_ipv6_prefix();
    test_bounded();
    return MM_TEST_DONE();
}
