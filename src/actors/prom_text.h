/*
 * Internal to src/actors: appending Prometheus text-format lines to a caller's buffer with the
 * contract of mm_front_backend.metrics (include/mm/front.h): whole lines only; once one line does
 * not fit, nothing more is written, so the output is always cut at a line.
 */
#ifndef MM_ACTORS_PROM_TEXT_H
#define MM_ACTORS_PROM_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct mm__prom {
    char *buf;
    size_t len;  /* capacity of buf */
    size_t used; /* bytes written so far (no NUL counted) */
    bool full;   /* a line did not fit: later lines are refused too */
} mm__prom;

/* Appends one line (fmt without the newline). Keeps buf NUL-terminated when there is room. */
static inline void __attribute__((format(printf, 2, 3))) mm__prom_line(mm__prom *p, const char *fmt, ...)
{
    char line[512];
    if (p->full || p->buf == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 1 || p->used + (size_t)n + 1 > p->len) {
        p->full = true;
        return;
    }
    line[n] = '\n';
    memcpy(p->buf + p->used, line, (size_t)n + 1);
    p->used += (size_t)n + 1;
    if (p->used < p->len)
        p->buf[p->used] = '\0';
}

/* A counter or gauge with its HELP and TYPE lines. */
static inline void
mm__prom_metric(mm__prom *p, const char *name, const char *type, const char *help, unsigned long long value)
{
    mm__prom_line(p, "# HELP %s %s", name, help);
    mm__prom_line(p, "# TYPE %s %s", name, type);
    mm__prom_line(p, "%s %llu", name, value);
}

#endif
