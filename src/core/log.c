/*
 * Line logger. Each line is formatted into a stack buffer and written with one write(2), so
 * lines from different threads never interleave. The JSON form escapes the message itself
 * (no jansson here: the logger must work while anything else is failing, including allocation).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mm/log.h"

static const char *log_program = "mm";
static mm_log_level log_min = MM_LOG_INFO;
static mm_log_format log_format = MM_LOG_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
mm_log_setup(const char *program, mm_log_level min_level, mm_log_format format)
{
    if (program != NULL)
        log_program = program;
    log_min = min_level;
    log_format = format;
}

int
mm_log_level_parse(const char *text)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(text, level_names[i]) == 0)
            return i;
    return -1;
}

int
mm_log_format_parse(const char *text)
{
    if (strcmp(text, "text") == 0)
        return MM_LOG_TEXT;
    if (strcmp(text, "json") == 0)
        return MM_LOG_JSON;
    return -1;
}

/* Appends text to buf as the inside of a JSON string; returns the new length (bounded by cap). */
static size_t
json_escape_into(char *buf, size_t len, size_t cap, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0' && len + 7 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)*p;
        } else if (*p < 0x20) {
            memcpy(buf + len, "\\u00", 4);
            buf[len + 4] = hex[*p >> 4];
            buf[len + 5] = hex[*p & 15];
            len += 6;
        } else {
            buf[len++] = (char)*p;
        }
    }
    return len;
}

void
mm_logv(mm_log_level level, const char *fmt, va_list ap)
{
    if (level < log_min)
        return;
    int saved_errno = errno;
    char msg[2048], line[4600];
    vsnprintf(msg, sizeof(msg), fmt, ap);

    struct timespec ts;
    struct tm tm;
    char stamp[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);

    size_t len;
    if (log_format == MM_LOG_JSON) {
        len = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"program\":\"", stamp, level_names[level]);
        len = json_escape_into(line, len, sizeof(line) - 16, log_program);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"msg\":\"");
        len = json_escape_into(line, len, sizeof(line) - 8, msg);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\"}\n");
    } else {
        int w = snprintf(line, sizeof(line), "%s %5s %s: %s\n", stamp, level_names[level], log_program, msg);
        len = w < 0 ? 0 : ((size_t)w >= sizeof(line) ? sizeof(line) - 1 : (size_t)w);
        if (len > 0)
            line[len - 1] = '\n';
    }
    ssize_t off = 0;
    while ((size_t)off < len) {
        ssize_t w = write(STDERR_FILENO, line + off, len - (size_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
    errno = saved_errno;
}

void
mm_log(mm_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mm_logv(level, fmt, ap);
    va_end(ap);
}
