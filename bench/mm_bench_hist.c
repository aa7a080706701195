/*
 * Log-linear histogram (mm_bench_hist.h). Layout, with S = 2^sub_bits and H = S / 2:
 *
 *   index 0 .. S-1            value v itself (width 1)
 *   index S + g*H + r         values whose highest set bit is m = sub_bits + g, and whose top
 *                             sub_bits bits are H + r: width 2^(g+1)
 *
 * so locating a bucket is one count-leading-zeros and two shifts, and every value of the u64
 * range has a bucket (no clamping). Quantiles walk the buckets once.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm_bench_hist.h"

mm_err
mm_bench_hist_init(mm_bench_hist *h, unsigned sub_bits)
{
    memset(h, 0, sizeof(*h));
    if (sub_bits < MM_BENCH_HIST_MIN_BITS || sub_bits > MM_BENCH_HIST_MAX_BITS)
        return MM_ERR_INVALID;
    size_t s = (size_t)1 << sub_bits;
    size_t count = s + (size_t)(64 - sub_bits) * (s / 2);
    h->counts = calloc(count, sizeof(*h->counts));
    if (h->counts == NULL)
        return MM_ERR_NOMEM;
    h->sub_bits = sub_bits;
    h->bucket_count = count;
    h->min = UINT64_MAX;
    return MM_OK;
}

void
mm_bench_hist_free(mm_bench_hist *h)
{
    if (h == NULL)
        return;
    free(h->counts);
    memset(h, 0, sizeof(*h));
}

void
mm_bench_hist_reset(mm_bench_hist *h)
{
    if (h->counts != NULL)
        memset(h->counts, 0, h->bucket_count * sizeof(*h->counts));
    h->total = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum = 0;
}

static size_t
bucket_index(unsigned sub_bits, uint64_t v)
{
    uint64_t s = (uint64_t)1 << sub_bits;
    if (v < s)
        return (size_t)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v);
    unsigned g = m - sub_bits;
    uint64_t half = s / 2;
    uint64_t sub = v >> (g + 1); /* in [half, s) */
    return (size_t)(s + g * half + (sub - half));
}

static void
bucket_bounds(unsigned sub_bits, size_t index, uint64_t *lo, uint64_t *hi)
{
    uint64_t s = (uint64_t)1 << sub_bits, half = s / 2;
    if (index < s) {
        *lo = *hi = index;
        return;
    }
    uint64_t j = index - s, g = j / half, r = j % half;
    *lo = (half + r) << (g + 1);
    *hi = *lo + (((uint64_t)1 << (g + 1)) - 1);
}

size_t
mm_bench_hist_bucket(const mm_bench_hist *h, uint64_t value, uint64_t *lo, uint64_t *hi)
{
    size_t index = bucket_index(h->sub_bits, value);
    bucket_bounds(h->sub_bits, index, lo, hi);
    return index;
}

void
mm_bench_hist_record(mm_bench_hist *h, uint64_t value)
{
    h->counts[bucket_index(h->sub_bits, value)]++;
    h->total++;
    h->sum += (long double)value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

uint64_t
mm_bench_hist_quantile(const mm_bench_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 1)
        return h->max;
    /* nearest rank: the ceil(q * total)-th smallest value, at least the first; a product within
     * 1e-6 of an integer is that integer (0.001 * 200000 is 200, whatever binary rounding says) */
    double rank_f = ceil(q * (double)h->total - 1e-6);
    uint64_t rank = rank_f < 1 ? 1 : rank_f >= (double)h->total ? h->total : (uint64_t)rank_f;
    uint64_t seen = 0;
    for (size_t i = 0; i < h->bucket_count; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            bucket_bounds(h->sub_bits, i, &lo, &hi);
            uint64_t mid = lo + (hi - lo) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max;
}

double
mm_bench_hist_mean(const mm_bench_hist *h)
{
    return h->total == 0 ? 0.0 : (double)(h->sum / (long double)h->total);
}

double
mm_bench_hist_precision(const mm_bench_hist *h)
{
    return 1.0 / (double)((uint64_t)1 << (h->sub_bits - 1));
}

mm_err
mm_bench_hist_sparse(const mm_bench_hist *h, mm_bench_hist_cell **out, size_t *len)
{
    size_t n = 0, k = 0;
    *out = NULL;
    *len = 0;
    for (size_t i = 0; i < h->bucket_count; i++)
        n += h->counts[i] != 0;
    if (n == 0)
        return MM_OK;
    mm_bench_hist_cell *b = malloc(n * sizeof(*b));
    if (b == NULL)
        return MM_ERR_NOMEM;
    for (size_t i = 0; i < h->bucket_count; i++)
        if (h->counts[i] != 0)
            b[k++] = (mm_bench_hist_cell){.index = (uint32_t)i, .count = h->counts[i]};
    *out = b;
    *len = n;
    return MM_OK;
}

mm_err
mm_bench_hist_add_bucket(mm_bench_hist *h, size_t index, uint64_t count)
{
    if (index >= h->bucket_count)
        return MM_ERR_INVALID;
    h->counts[index] += count;
    h->total += count;
    return MM_OK;
}
