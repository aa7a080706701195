/*
 * mm_url_redact (include/mm/url.h): one pass over the URL, writing what is shown into a bounded
 * buffer. The parse is deliberately loose: it must mask credentials in whatever a user typed,
 * including text no URL parser accepts, so it looks only for the few characters that delimit
 * the authority, the userinfo and the query, and copies everything else untouched.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "mm/url.h"

typedef struct out_buf {
    char *p;
    size_t len, used; /* used < len always (room for the NUL) */
} out_buf;

static void
put(out_buf *o, const char *s, size_t n)
{
    size_t room = o->len - 1 - o->used;
    if (n > room)
        n = room;
    memcpy(o->p + o->used, s, n);
    o->used += n;
    o->p[o->used] = '\0';
}

/* The length of "scheme://" at the start of url, or 0 (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )). */
static size_t
scheme_len(const char *url)
{
    if (!isalpha((unsigned char)url[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')
        i++;
    return strncmp(url + i, "://", 3) == 0 ? i + 3 : 0;
}

static bool
name_is_secret(const char *name, size_t n)
{
    static const char *const words[] = {"token", "key", "secret", "pass", "pwd", "auth", "sig", "credential", "webhook"};
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= n; i++)
            if (strncasecmp(name + i, words[w], wl) == 0)
                return true;
    }
    return false;
}

/* A path, p[0..n): a segment after one whose name looks secret or names a webhook is a capability
 * ("/matchmaker/edgegap-webhook/<secret>", "/keys/<key>") and is masked. */
static void
put_path(out_buf *o, const char *p, size_t n)
{
    bool mask_next = false;
    for (size_t at = 0; at < n;) {
        const char *slash = memchr(p + at, '/', n - at);
        size_t end = slash != NULL ? (size_t)(slash - p) : n;
        if (mask_next && end > at)
            put(o, MM_URL_REDACTED, strlen(MM_URL_REDACTED));
        else
            put(o, p + at, end - at);
        if (end > at)
            mask_next = name_is_secret(p + at, end - at);
        if (slash == NULL)
            break;
        put(o, "/", 1);
        at = end + 1;
    }
}

/* A query or fragment, q[0..n) without its '?' or '#': each "name=value" whose name looks secret loses its value. */
static void
put_query(out_buf *o, const char *q, size_t n)
{
    for (size_t at = 0; at <= n;) {
        const char *amp = memchr(q + at, '&', n - at);
        size_t end = amp != NULL ? (size_t)(amp - q) : n;
        const char *eq = memchr(q + at, '=', end - at);
        if (eq != NULL && name_is_secret(q + at, (size_t)(eq - q) - at)) {
            put(o, q + at, (size_t)(eq - q) - at + 1);
            put(o, MM_URL_REDACTED, strlen(MM_URL_REDACTED));
        } else {
            put(o, q + at, end - at);
        }
        if (amp == NULL)
            break;
        put(o, "&", 1);
        at = end + 1;
    }
}

const char *
mm_url_redact(const char *url, char *out, size_t out_len)
{
    if (out == NULL || out_len == 0)
        return out;
    out_buf o = {.p = out, .len = out_len, .used = 0};
    out[0] = '\0';
    if (url == NULL) {
        put(&o, "(none)", 6);
        return out;
    }
    size_t total = strlen(url), s = scheme_len(url);
    put(&o, url, s);
    /* the authority: up to the first '/', '?' or '#'; its userinfo up to the last '@' in it.
     * Without a scheme nothing says where a path would start ("http//u:p@h", "://u:p@h"), so
     * the authority runs to the query: masking too much is better than showing a password. */
    size_t auth_end = s + strcspn(url + s, s > 0 ? "/?#" : "?#");
    const char *at = NULL;
    for (const char *p = url + s; p < url + auth_end; p++)
        if (*p == '@')
            at = p;
    size_t rest = s;
    if (at != NULL) {
        put(&o, MM_URL_REDACTED, strlen(MM_URL_REDACTED));
        rest = (size_t)(at - url);
    }
    /* the host and the path as they are, then the query and the fragment with their secrets masked
     * (a fragment may carry name=value pairs too: OAuth puts an access_token there) */
    const char *hash = strchr(url + auth_end, '#');
    const char *qmark = strchr(url + auth_end, '?');
    if (qmark != NULL && hash != NULL && hash < qmark)
        qmark = NULL; /* a '?' inside the fragment is not a query */
    size_t path_end = qmark != NULL ? (size_t)(qmark - url) : hash != NULL ? (size_t)(hash - url) : total;
    size_t path_start = auth_end < path_end ? auth_end : path_end;
    put(&o, url + rest, path_start - rest);
    put_path(&o, url + path_start, path_end - path_start);
    if (qmark != NULL) {
        size_t q_end = hash != NULL ? (size_t)(hash - url) : total;
        put(&o, "?", 1);
        put_query(&o, qmark + 1, q_end - path_end - 1);
    }
    if (hash != NULL) {
        put(&o, "#", 1);
        put_query(&o, hash + 1, total - (size_t)(hash - url) - 1);
    }
    return out;
}
