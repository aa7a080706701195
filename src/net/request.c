/*
 * Session request validation and building (include/mm/request.h).
 *
 * Every input is parsed with jansson (JSON_REJECT_DUPLICATES; jansson itself refuses invalid
 * UTF-8, \u0000, trailing text and nesting deeper than its limit) after a size check, then each
 * field is checked against the rules of docs/protocol.md section 2. Names are checked byte by byte, so a
 * name that passes is safe both as a NATS subject token and as a JSON string. Addresses go
 * through inet_pton/inet_ntop, so what leaves here is always canonical address text. Reasons name
 * the field and the rule, never the client's bytes (they may end up in a log line).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/request.h"

bool
mm_request_name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t n = 0;
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok || n >= MM_NAME_MAX_LEN)
            return false;
    }
    return n > 0;
}

/*
 * The reference's checks and messages, in its order: the pattern first (so an empty or
 * whitespace name is "invalid"), then the length. what is "name" or "version".
 */
static mm_err
check_name(const char *value, const char *what, char *why, size_t why_len)
{
    size_t n = 0;
    bool pattern = value[0] != '\0';
    for (; value[n] != '\0'; n++) {
        char c = value[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            pattern = false;
    }
    if (!pattern)
        return mm_fail(MM_ERR_INVALID, why, why_len, "Game %s invalid", what);
    if (n > MM_NAME_MAX_LEN)
        return mm_fail(MM_ERR_INVALID, why, why_len, "Game %s too long (max %d chars)", what, MM_NAME_MAX_LEN);
    return MM_OK;
}

mm_err
mm_client_ip_parse(const char *text, char out[MM_IP_TEXT_LEN], char *why, size_t why_len)
{
    unsigned char addr[16];
    if (out != NULL)
        out[0] = '\0';
    if (text == NULL || out == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "client_ip is missing");
    int family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
    if (inet_pton(family, text, addr) != 1 || inet_ntop(family, addr, out, MM_IP_TEXT_LEN) == NULL) {
        out[0] = '\0';
        return mm_fail(MM_ERR_INVALID, why, why_len, "client_ip is not an IPv4 or IPv6 address");
    }
    return MM_OK;
}

bool
mm_client_ip_is_loopback(const char *text)
{
    unsigned char a[16];
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char one[16] = {[15] = 1};
    if (text == NULL)
        return false;
    if (inet_pton(AF_INET, text, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, text, a) == 1)
        return memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
    return false;
}

mm_err
mm_client_ip_resolve(const char *text, const char *fake_ip, char out[MM_IP_TEXT_LEN], bool *replaced, char *why, size_t why_len)
{
    if (replaced != NULL)
        *replaced = false;
    mm_err err = mm_client_ip_parse(text, out, why, why_len);
    if (err != MM_OK || !mm_client_ip_is_loopback(out))
        return err;
    if (fake_ip == NULL)
        fake_ip = MM_FAKE_IP_DEFAULT;
    if (mm_client_ip_parse(fake_ip, out, NULL, 0) != MM_OK || mm_client_ip_is_loopback(out)) {
        out[0] = '\0';
        return mm_fail(MM_ERR_INVALID, why, why_len, "the fake IP is not a usable (non-loopback) address");
    }
    if (replaced != NULL)
        *replaced = true;
    return MM_OK;
}

/* ---- parsing ---- */

static json_t *
load_object(const char *text, size_t len, const char *what, char *why, size_t why_len)
{
    json_error_t jerr;
    if (text == NULL) {
        mm_fail(MM_ERR_INVALID, why, why_len, "%s is empty", what);
        return NULL;
    }
    if (len > MM_REQUEST_MAX_BYTES) {
        mm_fail(MM_ERR_INVALID, why, why_len, "%s too large (%zu bytes, max %d)", what, len, MM_REQUEST_MAX_BYTES);
        return NULL;
    }
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        mm_fail(MM_ERR_INVALID, why, why_len, "%s is not valid JSON: %s (line %d, column %d)", what, jerr.text, jerr.line,
                jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        mm_fail(MM_ERR_INVALID, why, why_len, "%s must be a JSON object", what);
        return NULL;
    }
    return root;
}

/* The string member key of obj; NULL with a reason when missing (and !optional) or not a string. */
static const char *
string_field(const json_t *obj, const char *key, bool optional, mm_err *err, char *why, size_t why_len)
{
    const json_t *v = json_object_get(obj, key);
    if (*err != MM_OK)
        return NULL;
    if (v == NULL || (optional && json_is_null(v))) {
        if (!optional)
            *err = mm_fail(MM_ERR_INVALID, why, why_len, "missing field `%s`", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        *err = mm_fail(MM_ERR_INVALID, why, why_len, "field `%s` must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

mm_err
mm_request_parse_ws(const char *text, size_t len, mm_session_request *out, char *why, size_t why_len)
{
    mm_err err = MM_OK;
    if (out == NULL)
        return MM_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    json_t *root = load_object(text, len, "request", why, why_len);
    if (root == NULL)
        return MM_ERR_INVALID;
    const char *game = string_field(root, "game", false, &err, why, why_len);
    const char *version = string_field(root, "version", false, &err, why, why_len);
    const char *ip = string_field(root, "client_ip", true, &err, why, why_len);
    if (err == MM_OK)
        err = check_name(game, "name", why, why_len);
    if (err == MM_OK)
        err = check_name(version, "version", why, why_len);
    if (err == MM_OK && ip != NULL && ip[0] != '\0') {
        err = mm_client_ip_parse(ip, out->client_ip, why, why_len);
        out->has_client_ip = err == MM_OK;
    }
    if (err == MM_OK) {
        memcpy(out->game, game, strlen(game) + 1);
        memcpy(out->version, version, strlen(version) + 1);
    } else {
        memset(out, 0, sizeof(*out));
    }
    json_decref(root);
    return err;
}

/* Splits matchmaker.request.<game>.<version> into out->game / out->version. */
static mm_err
parse_subject(const char *subject, mm_session_request *out, char *why, size_t why_len)
{
    static const char prefix[] = MM_REQUEST_SUBJECT_PREFIX;
    if (subject == NULL || strncmp(subject, prefix, sizeof(prefix) - 1) != 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "subject is not %s<game>.<version>", prefix);
    const char *game = subject + sizeof(prefix) - 1;
    const char *dot = strchr(game, '.');
    size_t game_len = dot != NULL ? (size_t)(dot - game) : 0;
    if (dot == NULL || game_len > MM_NAME_MAX_LEN || strlen(dot + 1) > MM_NAME_MAX_LEN)
        return mm_fail(MM_ERR_INVALID, why, why_len, "subject is not %s<game>.<version>", prefix);
    memcpy(out->game, game, game_len);
    out->game[game_len] = '\0';
    memcpy(out->version, dot + 1, strlen(dot + 1) + 1);
    if (!mm_request_name_valid(out->game) || !mm_request_name_valid(out->version))
        return mm_fail(MM_ERR_INVALID, why, why_len, "subject has an invalid game name or version");
    return MM_OK;
}

mm_err
mm_request_parse_nats(const char *subject, const char *payload, size_t len, mm_session_request *out, char *why, size_t why_len)
{
    json_t *root = NULL;
    if (out == NULL)
        return MM_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    mm_err err = parse_subject(subject, out, why, why_len);
    if (err != MM_OK)
        goto cleanup;
    root = load_object(payload, len, "session request", why, why_len);
    if (root == NULL) {
        err = MM_ERR_INVALID;
        goto cleanup;
    }
    const char *ip = string_field(root, "client_ip", false, &err, why, why_len);
    const char *game = string_field(root, "game", true, &err, why, why_len);
    const char *version = string_field(root, "version", true, &err, why, why_len);
    if (err != MM_OK)
        goto cleanup;
    if (game != NULL && strcmp(game, out->game) != 0) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "the payload's game does not match the subject's (%s)", out->game);
        goto cleanup;
    }
    if (version != NULL && strcmp(version, out->version) != 0) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "the payload's version does not match the subject's (%s)", out->version);
        goto cleanup;
    }
    err = mm_client_ip_parse(ip, out->client_ip, why, why_len);
    out->has_client_ip = err == MM_OK;
cleanup:
    if (err != MM_OK)
        memset(out, 0, sizeof(*out));
    json_decref(root);
    return err;
}

mm_err
mm_request_parse_gensession(const char *payload, size_t len, char client_ip[MM_IP_TEXT_LEN], char *why, size_t why_len)
{
    mm_err err = MM_OK;
    if (client_ip == NULL)
        return MM_ERR_INVALID;
    client_ip[0] = '\0';
    json_t *root = load_object(payload, len, "session request", why, why_len);
    if (root == NULL)
        return MM_ERR_INVALID;
    const char *ip = string_field(root, "client_ip", false, &err, why, why_len);
    if (err == MM_OK)
        err = mm_client_ip_parse(ip, client_ip, why, why_len);
    json_decref(root);
    return err;
}

/* ---- building ---- */

mm_err
mm_request_subject(const char *game, const char *version, char *buf, size_t len, char *why, size_t why_len)
{
    if (buf == NULL || len < MM_REQUEST_SUBJECT_LEN)
        return mm_fail(MM_ERR_INVALID, why, why_len, "subject buffer too small");
    buf[0] = '\0';
    if (!mm_request_name_valid(game) || !mm_request_name_valid(version))
        return mm_fail(MM_ERR_INVALID, why, why_len, "game and version must be 1..%d characters of [A-Za-z0-9_-]", MM_NAME_MAX_LEN);
    snprintf(buf, len, "%s%s.%s", MM_REQUEST_SUBJECT_PREFIX, game, version);
    return MM_OK;
}

/* Dumps obj compactly in insertion order into a new malloc'd text; takes obj. */
static mm_err
dump(json_t *obj, bool ok, char **out, size_t *out_len)
{
    mm_err err = MM_ERR_NOMEM;
    char *text = NULL;
    size_t n = ok && obj != NULL ? json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    if (n == 0 || (text = malloc(n + 1)) == NULL)
        goto cleanup;
    if (json_dumpb(obj, text, n, JSON_COMPACT | JSON_PRESERVE_ORDER) != n)
        goto cleanup;
    text[n] = '\0';
    *out = text;
    if (out_len != NULL)
        *out_len = n;
    text = NULL;
    err = MM_OK;
cleanup:
    free(text);
    json_decref(obj);
    return err;
}

static void
put_string(json_t *obj, const char *key, const char *value, bool *ok)
{
    json_t *v = obj != NULL ? json_string(value) : NULL;
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        *ok = false;
}

mm_err
mm_request_payload(const char *client_ip, const char *game, const char *version, char **out, size_t *out_len, char *why,
                   size_t why_len)
{
    char ip[MM_IP_TEXT_LEN];
    bool ok = true;
    if (out == NULL)
        return MM_ERR_INVALID;
    mm_err err = mm_client_ip_parse(client_ip, ip, why, why_len);
    if (err != MM_OK)
        return err;
    if (!mm_request_name_valid(game) || !mm_request_name_valid(version))
        return mm_fail(MM_ERR_INVALID, why, why_len, "game and version must be 1..%d characters of [A-Za-z0-9_-]", MM_NAME_MAX_LEN);
    json_t *obj = json_object();
    put_string(obj, "client_ip", ip, &ok);
    put_string(obj, "game", game, &ok);
    put_string(obj, "version", version, &ok);
    return dump(obj, ok, out, out_len);
}

mm_err
mm_request_gensession_payload(const char *client_ip, char **out, size_t *out_len, char *why, size_t why_len)
{
    char ip[MM_IP_TEXT_LEN];
    bool ok = true;
    if (out == NULL)
        return MM_ERR_INVALID;
    mm_err err = mm_client_ip_parse(client_ip, ip, why, why_len);
    if (err != MM_OK)
        return err;
    json_t *obj = json_object();
    put_string(obj, "client_ip", ip, &ok);
    return dump(obj, ok, out, out_len);
}
