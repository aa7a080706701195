/*
 * Feedback messages, encoding (include/mm/feedback.h): serde_json's bytes, written directly.
 *
 * The encoders produce what serde_json's compact serializer would (no spaces, fields in
 * declaration order): `"` and `\` escaped, \b \t \n \f \r short, other control characters as
 * \u00xx with LOWERCASE hex digits (jansson would write \u001F), everything else (`/`, DEL,
 * non-ASCII UTF-8) as it is. Invalid UTF-8, which a Rust String cannot hold at all, has each
 * maximal invalid subsequence replaced by U+FFFD, the rule of String::from_utf8_lossy, so a bad
 * byte from a KV value or an upstream answer still yields valid JSON. Decoding: feedback.c.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedback_internal.h"

const char *const mm__feedback_ready_keys[4] = {"token", "ip", "port", "cert_digest"};
const char *const mm__feedback_response_keys[4] = {"connect_token", "gameserver_ip", "gameserver_port", "cert_digest"};

/* ---- UTF-8 repair ---- */

/*
 * Length of the maximal prefix of s[0..n) that starts a well-formed UTF-8 sequence (Unicode
 * Table 3-7), and whether that prefix is the complete sequence. A lone invalid byte gives 1.
 */
static size_t
utf8_sequence(const unsigned char *s, size_t n, bool *complete)
{
    unsigned char b = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    *complete = false;
    if (b < 0x80) {
        *complete = true;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF)
        need = 1;
    else if (b >= 0xE0 && b <= 0xEF)
        need = 2;
    else if (b >= 0xF0 && b <= 0xF4)
        need = 3;
    else
        return 1;
    if (b == 0xE0)
        lo = 0xA0;
    else if (b == 0xED)
        hi = 0x9F;
    else if (b == 0xF0)
        lo = 0x90;
    else if (b == 0xF4)
        hi = 0x8F;
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi)
            return i;
        lo = 0x80;
        hi = 0xBF;
    }
    *complete = true;
    return i;
}

/* ---- writing ---- */

/*
 * The encoders write the text directly (one pass over each string) instead of building a
 * jansson tree and dumping it: a SessionReady carries a ~2.7 KB token, and the tree, the two
 * json_dumpb passes (size, then write) and the escape fix-up scanned it four times (the
 * baseline profile, docs/PERFORMANCE.md). The bytes are serde_json's compact form: `"` and `\`
 * escaped, \b \t \n \f \r short, other control characters \u00xx with lowercase hex digits,
 * everything else (`/`, DEL, valid UTF-8) as it is; invalid UTF-8 repaired as described above.
 */
typedef struct wbuf {
    char *p;
    size_t n, cap;
    bool oom;
} wbuf;

static bool
w_reserve(wbuf *w, size_t more)
{
    if (w->oom)
        return false;
    if (w->cap - w->n > more) /* keeps one byte for the final NUL */
        return true;
    size_t cap = w->cap != 0 ? w->cap : 64;
    while (cap - w->n <= more) {
        if (cap > SIZE_MAX / 2) {
            w->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(w->p, cap);
    if (p == NULL) {
        w->oom = true;
        return false;
    }
    w->p = p;
    w->cap = cap;
    return true;
}

static void
w_raw(wbuf *w, const char *s, size_t n)
{
    if (!w_reserve(w, n))
        return;
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

#define W_LIT(w, lit) w_raw((w), (lit), sizeof(lit) - 1)

static void
w_int(wbuf *w, int64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%" PRId64, v);
    w_raw(w, digits, (size_t)n);
}

/* s as a JSON string: quoted, escaped as serde_json does, invalid UTF-8 replaced by U+FFFD. */
static void
w_str(wbuf *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    /* Worst case: every byte a 6-byte \u00xx escape (a bad byte grows to 3, less). */
    if (n > (SIZE_MAX - 2) / 6 || !w_reserve(w, n * 6 + 2))
        return;
    char *o = w->p + w->n;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
        } else if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\b': *o++ = 'b'; break;
            case '\t': *o++ = 't'; break;
            case '\n': *o++ = 'n'; break;
            case '\f': *o++ = 'f'; break;
            case '\r': *o++ = 'r'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 0xF];
            }
            i++;
        } else {
            bool complete;
            size_t k = utf8_sequence(u + i, n - i, &complete);
            if (complete) {
                memcpy(o, u + i, k);
                o += k;
            } else {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
            }
            i += k;
        }
    }
    *o++ = '"';
    w->n = (size_t)(o - w->p);
}

/* Hands the text over (NUL-terminated) or frees it when a write ran out of memory. */
static mm_err
w_finish(wbuf *w, char **out, size_t *out_len)
{
    if (w->oom || !w_reserve(w, 0)) {
        free(w->p);
        return MM_ERR_NOMEM;
    }
    w->p[w->n] = '\0';
    *out = w->p;
    if (out_len != NULL)
        *out_len = w->n;
    return MM_OK;
}

/* {"<name>":"<text>"} */
static mm_err
string_variant(const char *name, const char *text, char **out, size_t *out_len)
{
    wbuf w = {0};
    W_LIT(&w, "{");
    w_str(&w, name);
    W_LIT(&w, ":");
    w_str(&w, text);
    W_LIT(&w, "}");
    return w_finish(&w, out, out_len);
}

mm_err
mm_feedback_acknowledged(char **out, size_t *out_len)
{
    if (out == NULL)
        return MM_ERR_INVALID;
    wbuf w = {0};
    W_LIT(&w, "\"Acknowledged\"");
    return w_finish(&w, out, out_len);
}

mm_err
mm_feedback_accepted(const char *session_id, char **out, size_t *out_len)
{
    if (session_id == NULL || out == NULL)
        return MM_ERR_INVALID;
    return string_variant("SessionRequestAccepted", session_id, out, out_len);
}

mm_err
mm_feedback_progress(const char *status, int64_t elapsed, char **out, size_t *out_len)
{
    if (status == NULL || out == NULL)
        return MM_ERR_INVALID;
    size_t n = strlen(status) + 32;
    char *report = malloc(n);
    if (report == NULL)
        return MM_ERR_NOMEM;
    snprintf(report, n, "%s (%" PRId64 ")", status, elapsed);
    mm_err err = string_variant("ProgressReport", report, out, out_len);
    free(report);
    return err;
}

/* The four fields of SessionReady and of the gensession reply share one writer. */
static void
w_ready_object(wbuf *w, const char *const keys[4], const char *token, const char *ip, uint16_t port, const char *digest)
{
    W_LIT(w, "{");
    w_str(w, keys[0]);
    W_LIT(w, ":");
    w_str(w, token);
    W_LIT(w, ",");
    w_str(w, keys[1]);
    W_LIT(w, ":");
    w_str(w, ip);
    W_LIT(w, ",");
    w_str(w, keys[2]);
    W_LIT(w, ":");
    w_int(w, port);
    W_LIT(w, ",");
    w_str(w, keys[3]);
    W_LIT(w, ":");
    w_str(w, digest);
    W_LIT(w, "}");
}

mm_err
mm_feedback_ready(const char *token, const char *ip, uint16_t port, const char *cert_digest, char **out, size_t *out_len)
{
    if (token == NULL || ip == NULL || cert_digest == NULL || out == NULL)
        return MM_ERR_INVALID;
    wbuf w = {0};
    W_LIT(&w, "{\"SessionReady\":");
    w_ready_object(&w, mm__feedback_ready_keys, token, ip, port, cert_digest);
    W_LIT(&w, "}");
    return w_finish(&w, out, out_len);
}

mm_err
mm_feedback_error(uint16_t status, const char *message, char **out, size_t *out_len)
{
    if (message == NULL || out == NULL)
        return MM_ERR_INVALID;
    wbuf w = {0};
    W_LIT(&w, "{\"Error\":[");
    w_int(&w, status);
    W_LIT(&w, ",");
    w_str(&w, message);
    W_LIT(&w, "]}");
    return w_finish(&w, out, out_len);
}

mm_err
mm_session_response_encode(const char *connect_token, const char *gameserver_ip, uint16_t gameserver_port, const char *cert_digest,
                           char **out, size_t *out_len)
{
    if (connect_token == NULL || gameserver_ip == NULL || cert_digest == NULL || out == NULL)
        return MM_ERR_INVALID;
    wbuf w = {0};
    w_ready_object(&w, mm__feedback_response_keys, connect_token, gameserver_ip, gameserver_port, cert_digest);
    return w_finish(&w, out, out_len);
}

mm_err
mm_feedback_encode(const mm_feedback *fb, char **out, size_t *out_len)
{
    if (fb == NULL)
        return MM_ERR_INVALID;
    switch (fb->kind) {
    case MM_FEEDBACK_ACKNOWLEDGED:
        return mm_feedback_acknowledged(out, out_len);
    case MM_FEEDBACK_ACCEPTED:
        return mm_feedback_accepted(fb->text, out, out_len);
    case MM_FEEDBACK_PROGRESS:
        /* A decoded report is already "<status> (<elapsed>)": re-encode it as it is. */
        if (fb->text == NULL || out == NULL)
            return MM_ERR_INVALID;
        return string_variant("ProgressReport", fb->text, out, out_len);
    case MM_FEEDBACK_READY:
        return mm_feedback_ready(fb->token, fb->ip, fb->port, fb->cert_digest, out, out_len);
    case MM_FEEDBACK_ERROR:
        return mm_feedback_error(fb->status, fb->text, out, out_len);
    }
    return MM_ERR_INVALID;
}

const char *
mm_feedback_kind_name(mm_feedback_kind kind)
{
    switch (kind) {
    case MM_FEEDBACK_ACKNOWLEDGED:
        return "Acknowledged";
    case MM_FEEDBACK_ACCEPTED:
        return "SessionRequestAccepted";
    case MM_FEEDBACK_PROGRESS:
        return "ProgressReport";
    case MM_FEEDBACK_READY:
        return "SessionReady";
    case MM_FEEDBACK_ERROR:
        return "Error";
    }
    return "unknown";
}

mm_feedback_kind
mm_feedback_kind_of(const char *text, size_t len)
{
    static const struct {
        const char *open;
        mm_feedback_kind kind;
    } kinds[] = {
        {"\"Acknowledged\"", MM_FEEDBACK_ACKNOWLEDGED}, {"{\"SessionRequestAccepted\":", MM_FEEDBACK_ACCEPTED},
        {"{\"ProgressReport\":", MM_FEEDBACK_PROGRESS}, {"{\"SessionReady\":", MM_FEEDBACK_READY},
        {"{\"Error\":", MM_FEEDBACK_ERROR},
    };
    if (text == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t n = strlen(kinds[i].open);
        if (len >= n && memcmp(text, kinds[i].open, n) == 0)
            return kinds[i].kind;
    }
    return 0;
}
