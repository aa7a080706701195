/*
 * Feedback messages (include/mm/feedback.h): serde_json's bytes, built with jansson.
 *
 * jansson and serde_json agree on the JSON shape of a compact dump (no spaces, keys in insertion
 * order) and on what they leave alone (`/`, DEL, non-ASCII UTF-8). They differ in two places,
 * both handled here:
 *   - the hex digits of a \u escape: jansson writes \u001F, serde_json \u001f. Only control
 *     characters are \u-escaped (no JSON_ENSURE_ASCII), so lowercasing the four digits of every
 *     \u escape in the dump gives serde's text. A backslash in a dump always starts an escape
 *     (a literal one is written as \\), so the scan cannot be fooled by content.
 *   - invalid UTF-8: jansson refuses the string (json_string() returns NULL), while a Rust String
 *     cannot hold it at all. We replace each maximal invalid subsequence by U+FFFD, the rule of
 *     Rust's String::from_utf8_lossy, so a bad byte from a KV value or an upstream answer still
 *     yields valid JSON.
 * Decoding is strict: only the forms we send are accepted (see the header).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/feedback.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)

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

/* s as valid UTF-8: a copy with U+FFFD for each invalid subsequence, or NULL with *same = true
 * when s is valid already (the common case costs no allocation). NULL with *same = false: no memory. */
static char *
utf8_lossy(const char *s, size_t n, size_t *out_n, bool *same)
{
    const unsigned char *u = (const unsigned char *)s;
    bool complete;
    size_t i = 0;
    *same = true;
    while (i < n) {
        size_t k = utf8_sequence(u + i, n - i, &complete);
        if (!complete)
            break;
        i += k;
    }
    if (i == n)
        return NULL;
    *same = false;
    char *out = malloc(n * 3 + 1); /* each bad byte becomes at most 3 bytes */
    if (out == NULL)
        return NULL;
    memcpy(out, s, i);
    size_t o = i;
    while (i < n) {
        size_t k = utf8_sequence(u + i, n - i, &complete);
        if (complete) {
            memcpy(out + o, s + i, k);
            o += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
        i += k;
    }
    out[o] = '\0';
    *out_n = o;
    return out;
}

/* A jansson string of s, repaired to valid UTF-8. NULL only when out of memory. */
static json_t *
json_text(const char *s)
{
    size_t n = strlen(s), fixed_n = 0;
    bool same;
    char *fixed = utf8_lossy(s, n, &fixed_n, &same);
    if (!same && fixed == NULL)
        return NULL;
    json_t *v = same ? json_stringn(s, n) : json_stringn(fixed, fixed_n);
    free(fixed);
    return v;
}

/* ---- dumping ---- */

/* Dumps v compactly with serde_json's escapes into a new malloc'd text; takes the reference to v. */
static mm_err
dump_serde(json_t *v, char **out, size_t *out_len)
{
    mm_err err = MM_ERR_NOMEM;
    char *text = NULL;
    if (v == NULL)
        goto cleanup;
    size_t n = json_dumpb(v, NULL, 0, DUMP_FLAGS);
    if (n == 0)
        goto cleanup;
    text = malloc(n + 1);
    if (text == NULL || json_dumpb(v, text, n, DUMP_FLAGS) != n)
        goto cleanup;
    text[n] = '\0';
    for (size_t i = 0; i + 1 < n; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u')
            for (size_t k = i + 2; k < i + 6 && k < n; k++)
                if (text[k] >= 'A' && text[k] <= 'F')
                    text[k] = (char)(text[k] - 'A' + 'a');
        i++; /* skip the escaped character: "\\u" is a backslash then a 'u' */
    }
    *out = text;
    if (out_len != NULL)
        *out_len = n;
    text = NULL;
    err = MM_OK;
cleanup:
    free(text);
    json_decref(v);
    return err;
}

/* Adds key: value to obj (NULL obj or value: out of memory, recorded in *ok). */
static void
put(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (obj == NULL || value == NULL || json_object_set_new(obj, key, value) != 0) {
        json_decref(value);
        *ok = false;
    }
}

/* A one-key object {variant: value}, or NULL; takes value. */
static json_t *
variant(const char *name, json_t *value)
{
    bool ok = true;
    json_t *obj = json_object();
    put(obj, name, value, &ok);
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

mm_err
mm_feedback_acknowledged(char **out, size_t *out_len)
{
    if (out == NULL)
        return MM_ERR_INVALID;
    return dump_serde(json_string("Acknowledged"), out, out_len);
}

mm_err
mm_feedback_accepted(const char *session_id, char **out, size_t *out_len)
{
    if (session_id == NULL || out == NULL)
        return MM_ERR_INVALID;
    return dump_serde(variant("SessionRequestAccepted", json_text(session_id)), out, out_len);
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
    mm_err err = dump_serde(variant("ProgressReport", json_text(report)), out, out_len);
    free(report);
    return err;
}

/* The four fields of SessionReady and of the gensession reply share one builder. */
static json_t *
ready_object(const char *const keys[4], const char *token, const char *ip, uint16_t port, const char *digest)
{
    bool ok = true;
    json_t *obj = json_object();
    put(obj, keys[0], json_text(token), &ok);
    put(obj, keys[1], json_text(ip), &ok);
    put(obj, keys[2], json_integer(port), &ok);
    put(obj, keys[3], json_text(digest), &ok);
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static const char *const READY_KEYS[4] = {"token", "ip", "port", "cert_digest"};
static const char *const RESPONSE_KEYS[4] = {"connect_token", "gameserver_ip", "gameserver_port", "cert_digest"};

mm_err
mm_feedback_ready(const char *token, const char *ip, uint16_t port, const char *cert_digest, char **out, size_t *out_len)
{
    if (token == NULL || ip == NULL || cert_digest == NULL || out == NULL)
        return MM_ERR_INVALID;
    json_t *fields = ready_object(READY_KEYS, token, ip, port, cert_digest);
    return dump_serde(fields != NULL ? variant("SessionReady", fields) : NULL, out, out_len);
}

mm_err
mm_feedback_error(uint16_t status, const char *message, char **out, size_t *out_len)
{
    if (message == NULL || out == NULL)
        return MM_ERR_INVALID;
    json_t *pair = json_array();
    if (pair != NULL &&
        (json_array_append_new(pair, json_integer(status)) != 0 || json_array_append_new(pair, json_text(message)) != 0)) {
        json_decref(pair);
        pair = NULL;
    }
    return dump_serde(pair != NULL ? variant("Error", pair) : NULL, out, out_len);
}

mm_err
mm_session_response_encode(const char *connect_token, const char *gameserver_ip, uint16_t gameserver_port, const char *cert_digest,
                           char **out, size_t *out_len)
{
    if (connect_token == NULL || gameserver_ip == NULL || cert_digest == NULL || out == NULL)
        return MM_ERR_INVALID;
    return dump_serde(ready_object(RESPONSE_KEYS, connect_token, gameserver_ip, gameserver_port, cert_digest), out, out_len);
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
        return dump_serde(variant("ProgressReport", json_text(fb->text)), out, out_len);
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

/* ---- decoding ---- */

static json_t *
load(const char *text, size_t len, char *why, size_t why_len)
{
    json_error_t jerr;
    if (text == NULL) {
        mm_fail(MM_ERR_INVALID, why, why_len, "no text");
        return NULL;
    }
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        mm_fail(MM_ERR_INVALID, why, why_len, "not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    return root;
}

/* A copy of the string member value, or an error in *err (type or memory). */
static char *
take_string(const json_t *value, const char *what, mm_err *err, char *why, size_t why_len)
{
    if (*err != MM_OK)
        return NULL;
    if (!json_is_string(value)) {
        *err = mm_fail(MM_ERR_INVALID, why, why_len, "%s must be a string", what);
        return NULL;
    }
    char *copy = strdup(json_string_value(value));
    if (copy == NULL)
        *err = MM_ERR_NOMEM;
    return copy;
}

static uint16_t
take_u16(const json_t *value, const char *what, mm_err *err, char *why, size_t why_len)
{
    if (*err != MM_OK)
        return 0;
    if (!json_is_integer(value) || json_integer_value(value) < 0 || json_integer_value(value) > UINT16_MAX) {
        *err = mm_fail(MM_ERR_INVALID, why, why_len, "%s must be an integer 0..65535", what);
        return 0;
    }
    return (uint16_t)json_integer_value(value);
}

/* Checks that obj has exactly the four keys, in any order. */
static mm_err
four_fields(const json_t *obj, const char *const keys[4], const char *what, char *why, size_t why_len)
{
    if (!json_is_object(obj))
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s must be an object", what);
    for (int i = 0; i < 4; i++)
        if (json_object_get(obj, keys[i]) == NULL)
            return mm_fail(MM_ERR_INVALID, why, why_len, "%s: missing field `%s`", what, keys[i]);
    if (json_object_size(obj) != 4)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s: unknown field (expected only %s, %s, %s, %s)", what, keys[0], keys[1],
                       keys[2], keys[3]);
    return MM_OK;
}

static mm_err
decode_variant(const char *key, const json_t *value, mm_feedback *fb, char *why, size_t why_len)
{
    mm_err err = MM_OK;
    if (strcmp(key, "SessionRequestAccepted") == 0) {
        fb->kind = MM_FEEDBACK_ACCEPTED;
        fb->text = take_string(value, key, &err, why, why_len);
    } else if (strcmp(key, "ProgressReport") == 0) {
        fb->kind = MM_FEEDBACK_PROGRESS;
        fb->text = take_string(value, key, &err, why, why_len);
    } else if (strcmp(key, "SessionReady") == 0) {
        fb->kind = MM_FEEDBACK_READY;
        err = four_fields(value, READY_KEYS, key, why, why_len);
        fb->token = take_string(json_object_get(value, "token"), "SessionReady.token", &err, why, why_len);
        fb->ip = take_string(json_object_get(value, "ip"), "SessionReady.ip", &err, why, why_len);
        fb->port = take_u16(json_object_get(value, "port"), "SessionReady.port", &err, why, why_len);
        fb->cert_digest = take_string(json_object_get(value, "cert_digest"), "SessionReady.cert_digest", &err, why, why_len);
    } else if (strcmp(key, "Error") == 0) {
        fb->kind = MM_FEEDBACK_ERROR;
        if (!json_is_array(value) || json_array_size(value) != 2)
            return mm_fail(MM_ERR_INVALID, why, why_len, "Error must be an array [status, message]");
        fb->status = take_u16(json_array_get(value, 0), "Error status", &err, why, why_len);
        fb->text = take_string(json_array_get(value, 1), "Error message", &err, why, why_len);
    } else if (strcmp(key, "Acknowledged") == 0) {
        return mm_fail(MM_ERR_INVALID, why, why_len, "Acknowledged must be the plain string \"Acknowledged\"");
    } else {
        return mm_fail(MM_ERR_INVALID, why, why_len, "unknown variant `%.64s`", key);
    }
    return err;
}

mm_err
mm_feedback_decode(const char *text, size_t len, mm_feedback *out, char *why, size_t why_len)
{
    mm_err err = MM_ERR_INVALID;
    if (out == NULL)
        return MM_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    json_t *root = load(text, len, why, why_len);
    if (root == NULL)
        goto cleanup;
    if (json_is_string(root)) {
        if (strcmp(json_string_value(root), "Acknowledged") == 0) {
            out->kind = MM_FEEDBACK_ACKNOWLEDGED;
            err = MM_OK;
        } else {
            mm_fail(err, why, why_len, "unknown variant `%.64s`", json_string_value(root));
        }
        goto cleanup;
    }
    if (!json_is_object(root) || json_object_size(root) != 1) {
        mm_fail(err, why, why_len, "a feedback message is \"Acknowledged\" or an object with one variant key");
        goto cleanup;
    }
    const char *key = json_object_iter_key(json_object_iter(root));
    err = decode_variant(key, json_object_iter_value(json_object_iter(root)), out, why, why_len);
cleanup:
    json_decref(root);
    if (err != MM_OK)
        mm_feedback_clear(out);
    return err;
}

void
mm_feedback_clear(mm_feedback *fb)
{
    if (fb == NULL)
        return;
    free(fb->text);
    free(fb->token);
    free(fb->ip);
    free(fb->cert_digest);
    memset(fb, 0, sizeof(*fb));
}

mm_err
mm_session_response_decode(const char *text, size_t len, mm_session_response *out, char *why, size_t why_len)
{
    if (out == NULL)
        return MM_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    json_t *root = load(text, len, why, why_len);
    if (root == NULL)
        return MM_ERR_INVALID;
    mm_err err = four_fields(root, RESPONSE_KEYS, "the reply", why, why_len);
    out->connect_token = take_string(json_object_get(root, "connect_token"), "connect_token", &err, why, why_len);
    out->gameserver_ip = take_string(json_object_get(root, "gameserver_ip"), "gameserver_ip", &err, why, why_len);
    out->gameserver_port = take_u16(json_object_get(root, "gameserver_port"), "gameserver_port", &err, why, why_len);
    out->cert_digest = take_string(json_object_get(root, "cert_digest"), "cert_digest", &err, why, why_len);
    json_decref(root);
    if (err != MM_OK)
        mm_session_response_clear(out);
    return err;
}

void
mm_session_response_clear(mm_session_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->connect_token);
    free(resp->gameserver_ip);
    free(resp->cert_digest);
    memset(resp, 0, sizeof(*resp));
}
