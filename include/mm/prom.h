/*
 * The one Prometheus text-format writer (text format 0.0.4): the web front's /metrics and every
 * backend's metrics callback (mm_front_backend.metrics, include/mm/front.h) write through it.
 *
 * A writer appends to a caller's bounded buffer. Whole lines only: once one line does not fit,
 * nothing more is written (`full`), so the output is always cut at a line and `used` counts the
 * bytes of complete lines. The buffer is kept NUL-terminated while there is room after `used`
 * (the NUL is not counted). Label values are escaped as the format says (\\ \" \n); HELP texts
 * escape \\ and \n. Pure functions on the caller's writer: one thread at a time per writer.
 */
#ifndef MM_PROM_H
#define MM_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mm_prom {
    char *buf;
    size_t len;  /* capacity of buf */
    size_t used; /* bytes of whole lines written (no NUL counted) */
    bool full;   /* a line did not fit: later lines are refused too */
} mm_prom;

/** A writer on buf[0..len). buf may be NULL (with len 0): everything is refused. */
void mm_prom_init(mm_prom *p, char *buf, size_t len);

/** Appends one line (fmt without the newline), or nothing at all when it does not fit. */
void mm_prom_line(mm_prom *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** "# HELP name help" and "# TYPE name type". */
void mm_prom_head(mm_prom *p, const char *name, const char *type, const char *help);

/** A counter or gauge without labels, with its HELP and TYPE lines. */
void mm_prom_metric(mm_prom *p, const char *name, const char *type, const char *help, uint64_t value);

/**
 * One sample: `name{label="value",...} v`. labels holds n_labels name/value pairs
 * ({"route", "ws", "outcome", "ok"}); the values are escaped. n_labels 0: `name v`.
 */
void mm_prom_sample(mm_prom *p, const char *name, const char *const *labels, size_t n_labels, uint64_t value);

/**
 * A histogram with its HELP and TYPE lines: n bucket bounds `le` (ascending, written with %g),
 * counts[0..n] per bucket (not cumulative; counts[n] is above the last bound: +Inf), the sum
 * (written with %.6f) and the count.
 */
void mm_prom_histogram(mm_prom *p, const char *name, const char *help, const double *le, const uint64_t *counts, size_t n,
                       double sum, uint64_t count);

#endif
