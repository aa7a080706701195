/*
 * mm_bench's histogram against known distributions: uniform, exponential, constant, small exact
 * values and the extremes of the u64 range. Each percentile is compared with the exact
 * nearest-rank percentile of the sorted samples and must be within half a bucket of it, i.e.
 * within exact * precision / 2, and lie in the same bucket; count, min, max and mean are exact.
 * Three precisions (sub_bits 14, as mm_bench uses, 11, and a coarse 5) so the bound is not luck.
 */
#include <math.h>
#include <stdlib.h>

#include "mm_bench_hist.h"
#include "mm_test.h"

#define SAMPLES 200000

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

/* splitmix64: deterministic, so a failure reproduces */
static uint64_t
rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double
rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0; /* [0, 1) */
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile of sorted[0..n): the ceil(q n)-th smallest (q n within 1e-6 of an
 * integer is that integer: 0.001 * 200000 is 200 although the double product is a hair above). */
static uint64_t
exact_quantile(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n - 1e-6);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* Records values into a fresh histogram of sub_bits and checks every figure against them. */
static void
check_distribution(const char *name, uint64_t *values, size_t n, unsigned sub_bits)
{
    mm_bench_hist h;
    MM_REQUIRE(mm_bench_hist_init(&h, sub_bits) == MM_OK);
    long double sum = 0;
    for (size_t i = 0; i < n; i++) {
        mm_bench_hist_record(&h, values[i]);
        sum += values[i];
    }
    qsort(values, n, sizeof(*values), cmp_u64);
    double precision = mm_bench_hist_precision(&h);
    MM_CHECK(fabs(precision - 1.0 / (double)(1u << (sub_bits - 1))) < 1e-15);
    MM_CHECK_U64(h.total, ==, n);
    MM_CHECK_U64(h.min, ==, values[0]);
    MM_CHECK_U64(h.max, ==, values[n - 1]);
    MM_CHECK(fabs(mm_bench_hist_mean(&h) - (double)(sum / n)) <= 1e-9 * (double)(sum / n) + 1e-9);
    static const double qs[] = {0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        uint64_t exact = exact_quantile(values, n, qs[i]);
        uint64_t got = mm_bench_hist_quantile(&h, qs[i]);
        double err = fabs((double)got - (double)exact);
        if (err > (double)exact * precision / 2) {
            fprintf(stderr, "%s (bits %u): q %.4f: got %llu, exact %llu, error %.0f > %.6f of it\n", name, sub_bits, qs[i],
                    (unsigned long long)got, (unsigned long long)exact, err, precision / 2);
            mm_test_failed++;
        } else {
            mm_test_passed++;
        }
        uint64_t lo, hi;
        size_t b_exact = mm_bench_hist_bucket(&h, exact, &lo, &hi);
        MM_CHECK_U64(mm_bench_hist_bucket(&h, got, &lo, &hi), ==, b_exact);
    }
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 1.0), ==, values[n - 1]);
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 0.0), ==, values[0]);
    mm_bench_hist_reset(&h);
    MM_CHECK_U64(h.total, ==, 0);
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 0.5), ==, 0);
    mm_bench_hist_free(&h);
}

static void
test_distributions(unsigned sub_bits)
{
    uint64_t *v = malloc(SAMPLES * sizeof(*v));
    MM_REQUIRE(v != NULL);
    /* uniform over 1 us .. 1 s */
    for (size_t i = 0; i < SAMPLES; i++)
        v[i] = 1 + rng_next() % 1000000;
    check_distribution("uniform", v, SAMPLES, sub_bits);
    /* exponential, mean 5 ms (a queue's service times) */
    for (size_t i = 0; i < SAMPLES; i++)
        v[i] = (uint64_t)(-log(1.0 - rng_unit()) * 5000.0);
    check_distribution("exponential", v, SAMPLES, sub_bits);
    /* constant: every percentile is the value, exactly (clipped to min = max) */
    for (size_t i = 0; i < SAMPLES; i++)
        v[i] = 123457;
    check_distribution("constant", v, SAMPLES, sub_bits);
    /* a heavy tail over many orders of magnitude: 1 us .. ~1 h */
    for (size_t i = 0; i < SAMPLES; i++)
        v[i] = (uint64_t)exp(rng_unit() * log(3.6e9));
    check_distribution("log-uniform", v, SAMPLES, sub_bits);
    free(v);
}

/* Below 2^sub_bits every value is its own bucket: percentiles are exact. */
static void
test_small_exact(void)
{
    mm_bench_hist h;
    MM_REQUIRE(mm_bench_hist_init(&h, 11) == MM_OK);
    for (uint64_t v = 1; v <= 1000; v++)
        mm_bench_hist_record(&h, v);
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 0.5), ==, 500);
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 0.99), ==, 990);
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 0.999), ==, 999);
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 0.0001), ==, 1);
    mm_bench_hist_free(&h);
}

/* Every value has a bucket whose bounds hold it and whose width respects the precision. */
static void
test_buckets(void)
{
    mm_bench_hist h;
    MM_REQUIRE(mm_bench_hist_init(&h, 11) == MM_OK);
    MM_CHECK_U64(h.bucket_count, ==, 2048 + 53 * 1024);
    uint64_t probes[] = {0, 1, 2047, 2048, 2049, 4095, 4096, 1000000, 1ULL << 40, (1ULL << 63) - 1, 1ULL << 63, UINT64_MAX};
    size_t last = 0;
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        uint64_t lo, hi;
        size_t b = mm_bench_hist_bucket(&h, probes[i], &lo, &hi);
        MM_CHECK(b < h.bucket_count);
        MM_CHECK(lo <= probes[i] && probes[i] <= hi);
        MM_CHECK((double)(hi - lo) + 1 <= (lo == 0 ? 1 : (double)lo * mm_bench_hist_precision(&h)) || hi == lo);
        MM_CHECK(i == 0 || b >= last);
        last = b;
    }
    uint64_t lo, hi;
    MM_CHECK_U64(mm_bench_hist_bucket(&h, UINT64_MAX, &lo, &hi), ==, h.bucket_count - 1);
    MM_CHECK_U64(hi, ==, UINT64_MAX);
    mm_bench_hist_record(&h, UINT64_MAX);
    mm_bench_hist_record(&h, 0);
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 1.0), ==, UINT64_MAX);
    MM_CHECK_U64(mm_bench_hist_quantile(&h, 0.5), ==, 0);
    mm_bench_hist_free(&h);
    mm_bench_hist_free(&h); /* twice, and NULL: no harm */
    mm_bench_hist_free(NULL);
    MM_CHECK(mm_bench_hist_init(&h, 1) == MM_ERR_INVALID);
    MM_CHECK(mm_bench_hist_init(&h, 17) == MM_ERR_INVALID);
}

int
main(void)
{
    test_distributions(14);
    test_distributions(11);
    test_distributions(5);
    test_small_exact();
    test_buckets();
    return MM_TEST_DONE();
}
