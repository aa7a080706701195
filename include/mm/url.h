/*
 * URLs for log lines: a URL a user configured (--edgegap-url, NATS_HOST, a webhook, a benchmark
 * target) may carry credentials, and logs travel further than configuration. Every URL a service
 * writes to its log or its output goes through mm_url_redact first.
 */
#ifndef MM_URL_H
#define MM_URL_H

#include <stddef.h>

/** What replaces a secret. */
#define MM_URL_REDACTED "***"

/**
 * Copies url into out (out_len bytes, always NUL-terminated when out_len > 0; a longer result is
 * cut, which never exposes a secret since secrets are never copied) with its credentials
 * replaced by MM_URL_REDACTED:
 *   - the userinfo of the authority ("user:pass@host" after the scheme becomes "***@host"). The
 *     authority ends at the first '/', '?' or '#', the userinfo at its last '@'. Without a
 *     valid "scheme://" (a NATS_HOST entry "user:pass@host:4222", a typo), everything before
 *     the last '@' ahead of the first '?' or '#' is masked.
 *   - the path segment after a segment whose name, case-insensitive, contains one of the words
 *     below or "webhook": a capability such as the webhook secret in
 *     "/matchmaker/edgegap-webhook/<secret>" (a "keys" segment hides the one after it).
 *   - the value of every query (or fragment) parameter whose name, case-insensitive, contains
 *     token, key, secret, pass, pwd, auth, sig or credential ("?api_key=abc" -> "?api_key=***").
 * Anything else, malformed or not, is copied as it is. url NULL is written as "(none)". Returns
 * out, so the call can sit in a printf argument list. Pure; safe on any thread.
 */
const char *mm_url_redact(const char *url, char *out, size_t out_len);

#endif
