/*
 * Logging: one line per event on stderr, plain text by default or one JSON object per line.
 * Thread-safe (one write(2) per line). Secrets must never be passed here.
 */
#ifndef MM_LOG_H
#define MM_LOG_H

#include <stdarg.h>

typedef enum mm_log_level { MM_LOG_DEBUG = 0, MM_LOG_INFO, MM_LOG_WARN, MM_LOG_ERROR } mm_log_level;

typedef enum mm_log_format { MM_LOG_TEXT = 0, MM_LOG_JSON } mm_log_format;

/** Sets the program name shown in each line, the lowest level printed and the format. */
void mm_log_setup(const char *program, mm_log_level min_level, mm_log_format format);

/** Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int mm_log_level_parse(const char *text);

/** Parses "text" or "json"; returns -1 for anything else. */
int mm_log_format_parse(const char *text);

void mm_log(mm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mm_logv(mm_log_level level, const char *fmt, va_list ap);

#define mm_debug(...) mm_log(MM_LOG_DEBUG, __VA_ARGS__)
#define mm_info(...) mm_log(MM_LOG_INFO, __VA_ARGS__)
#define mm_warn(...) mm_log(MM_LOG_WARN, __VA_ARGS__)
#define mm_error(...) mm_log(MM_LOG_ERROR, __VA_ARGS__)

#endif
