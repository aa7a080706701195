/*
 * The Prometheus text-format writer (include/mm/prom.h). Each line is formatted straight into
 * the caller's buffer; a line that does not fit is taken back (the NUL is put back at `used`)
 * and the writer refuses everything after it, so what was written always ends at a line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mm/prom.h"

void
mm_prom_init(mm_prom *p, char *buf, size_t len)
{
    *p = (mm_prom){.buf = buf, .len = buf != NULL ? len : 0};
    if (p->len > 0)
        p->buf[0] = '\0';
}

/* Room left for the next line; 0 when refused. */
static size_t
room(const mm_prom *p)
{
    return p->full || p->buf == NULL || p->used >= p->len ? 0 : p->len - p->used;
}

static void
refuse(mm_prom *p)
{
    p->full = true;
    if (p->buf != NULL && p->used < p->len)
        p->buf[p->used] = '\0';
}

/* The line at buf[used..used+n) is complete: end it with '\n'. vsnprintf left its NUL there. */
static void
commit(mm_prom *p, size_t n)
{
    p->buf[p->used + n] = '\n';
    p->used += n + 1;
    if (p->used < p->len)
        p->buf[p->used] = '\0';
}

void
mm_prom_line(mm_prom *p, const char *fmt, ...)
{
    size_t left = room(p);
    if (left == 0) {
        refuse(p);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->buf + p->used, left, fmt, ap); /* n chars + NUL, the NUL's byte becomes '\n' */
    va_end(ap);
    if (n < 0 || (size_t)n >= left) {
        refuse(p);
        return;
    }
    commit(p, (size_t)n);
}

/* Appends s to the line being built at buf[used + *at], escaping it; false when it does not fit. */
static bool
put_escaped(mm_prom *p, size_t *at, const char *s, bool quote)
{
    size_t left = room(p);
    for (; *s != '\0'; s++) {
        const char *esc = NULL;
        char one[2] = {*s, '\0'};
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        const char *w = esc != NULL ? esc : one;
        size_t wn = strlen(w);
        if (*at + wn >= left)
            return false;
        memcpy(p->buf + p->used + *at, w, wn);
        *at += wn;
    }
    return true;
}

static bool
put_raw(mm_prom *p, size_t *at, const char *s)
{
    size_t left = room(p), n = strlen(s);
    if (*at + n >= left)
        return false;
    memcpy(p->buf + p->used + *at, s, n);
    *at += n;
    return true;
}

void
mm_prom_head(mm_prom *p, const char *name, const char *type, const char *help)
{
    size_t at = 0;
    if (!put_raw(p, &at, "# HELP ") || !put_raw(p, &at, name) || !put_raw(p, &at, " ") || !put_escaped(p, &at, help, false)) {
        refuse(p);
        return;
    }
    commit(p, at);
    mm_prom_line(p, "# TYPE %s %s", name, type);
}

void
mm_prom_metric(mm_prom *p, const char *name, const char *type, const char *help, uint64_t value)
{
    mm_prom_head(p, name, type, help);
    mm_prom_line(p, "%s %llu", name, (unsigned long long)value);
}

void
mm_prom_sample(mm_prom *p, const char *name, const char *const *labels, size_t n_labels, uint64_t value)
{
    size_t at = 0;
    bool ok = put_raw(p, &at, name);
    for (size_t i = 0; ok && i < n_labels; i++)
        ok = put_raw(p, &at, i == 0 ? "{" : ",") && put_raw(p, &at, labels[2 * i]) && put_raw(p, &at, "=\"") &&
             put_escaped(p, &at, labels[2 * i + 1], true) && put_raw(p, &at, "\"");
    char v[32];
    snprintf(v, sizeof(v), "%s %llu", n_labels > 0 ? "}" : "", (unsigned long long)value);
    if (!ok || !put_raw(p, &at, v)) {
        refuse(p);
        return;
    }
    commit(p, at);
}

void
mm_prom_histogram(mm_prom *p, const char *name, const char *help, const double *le, const uint64_t *counts, size_t n,
                  double sum, uint64_t count)
{
    mm_prom_head(p, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= n; b++) {
        cumulative += counts[b];
        if (b < n)
            mm_prom_line(p, "%s_bucket{le=\"%g\"} %llu", name, le[b], (unsigned long long)cumulative);
        else
            mm_prom_line(p, "%s_bucket{le=\"+Inf\"} %llu", name, (unsigned long long)cumulative);
    }
    mm_prom_line(p, "%s_sum %.6f", name, sum);
    mm_prom_line(p, "%s_count %llu", name, (unsigned long long)count);
}
