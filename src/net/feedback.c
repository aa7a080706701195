/*
 * Feedback messages, decoding (include/mm/feedback.h), with jansson. Strict: only the forms
 * feedback_encode.c writes are accepted (see the header).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "feedback_internal.h"

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
        err = four_fields(value, mm__feedback_ready_keys, key, why, why_len);
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
    mm_err err = four_fields(root, mm__feedback_response_keys, "the reply", why, why_len);
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
