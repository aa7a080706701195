/*
 * mm_bench's latency histogram: HDR-style log-linear buckets over unsigned 64-bit values
 * (mm_bench records microseconds). Every recorded value is counted; nothing is sampled away.
 *
 * With sub_bits = b, values below 2^b fall in buckets of width 1 (exact); a value in
 * [2^m, 2^(m+1)) with m >= b falls in a bucket of width 2^(m-b+1), so a bucket's width is at most
 * 2^-(b-1) of its lower bound: the histogram's relative precision. mm_bench uses b = 11
 * (~0.1%; 2^11 + 53 * 2^10 buckets, 450 KB).
 *
 * A percentile is the nearest-rank one (the ceil(q * count)-th smallest value, where a product
 * within 1e-6 of an integer counts as that integer, so binary rounding of q cannot move the
 * rank): the histogram
 * finds the bucket that holds that value and reports the bucket's midpoint, clipped to the
 * exact smallest and largest values recorded. So a reported percentile differs from the exact
 * one by at most half a bucket: |reported - exact| <= exact * precision / 2. min, max, count and
 * mean are exact.
 *
 * Not thread-safe: one histogram belongs to one thread.
 */
#ifndef MM_BENCH_HIST_H
#define MM_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

#define MM_BENCH_HIST_MIN_BITS 2
#define MM_BENCH_HIST_MAX_BITS 16

/** One non-empty bucket, for sparse copies of a histogram (JSON, merging). */
typedef struct mm_bench_hist_cell {
    uint32_t index;
    uint64_t count;
} mm_bench_hist_cell;

typedef struct mm_bench_hist {
    unsigned sub_bits;
    size_t bucket_count;
    uint64_t *counts; /* bucket_count entries, owned */
    uint64_t total;
    uint64_t min, max; /* exact; min = UINT64_MAX while empty */
    long double sum;   /* for the exact mean */
} mm_bench_hist;

/** Allocates the buckets for sub_bits in [2, 16]; MM_ERR_INVALID or MM_ERR_NOMEM (h then zeroed). */
mm_err mm_bench_hist_init(mm_bench_hist *h, unsigned sub_bits);

/** Frees the buckets and zeroes h. Accepts NULL and a zeroed histogram. */
void mm_bench_hist_free(mm_bench_hist *h);

/** Forgets every recorded value (keeps the buckets). */
void mm_bench_hist_reset(mm_bench_hist *h);

/** Counts one value. */
void mm_bench_hist_record(mm_bench_hist *h, uint64_t value);

/** The nearest-rank value at quantile q in (0, 1] (q <= 0 gives min, q >= 1 max); 0 when empty. */
uint64_t mm_bench_hist_quantile(const mm_bench_hist *h, double q);

/** The exact mean; 0 when empty. */
double mm_bench_hist_mean(const mm_bench_hist *h);

/** The largest relative width of a bucket (bucket width / its lower bound): 2^-(sub_bits-1). */
double mm_bench_hist_precision(const mm_bench_hist *h);

/** The bucket index of value and that bucket's bounds [*lo, *hi] (for tests and reports). */
size_t mm_bench_hist_bucket(const mm_bench_hist *h, uint64_t value, uint64_t *lo, uint64_t *hi);

/**
 * The non-empty buckets of h, in index order, into *out (malloc'd; NULL when empty) and *len.
 * MM_ERR_NOMEM.
 */
mm_err mm_bench_hist_sparse(const mm_bench_hist *h, mm_bench_hist_cell **out, size_t *len);

/**
 * Adds count values to bucket index (merging), without touching min, max or sum: the caller
 * sets those from the exact figures it has. MM_ERR_INVALID when index is out of the layout.
 */
mm_err mm_bench_hist_add_bucket(mm_bench_hist *h, size_t index, uint64_t count);

#endif
