/*
 * Edgegap client: the five calls (include/mm/edgegap.h).
 *
 * Each call checks every argument before anything is built: names and ids come from outside
 * (clients, KV, Edgegap answers), so a path segment is refused unless it is plain
 * [A-Za-z0-9_.-] (no '/', '?', '%', '#', and not a dot segment curl would resolve away), and the
 * addresses of ip_list must be IP literals. The POST body is built with jansson, never pasted.
 * Refusals say why through mm_edgegap_last_error(); nothing refused reaches the network.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgegap_internal.h"

#define MAX_WEBHOOK_URL 2048

bool
mm__eg_segment_ok(const char *text)
{
    size_t n = 0;
    if (text == NULL)
        return false;
    for (; text[n] != '\0'; n++) {
        char c = text[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok || n >= MM_EDGEGAP_MAX_SEGMENT)
            return false;
    }
    return n > 0 && strcmp(text, ".") != 0 && strcmp(text, "..") != 0;
}

/* The value is not echoed: it came from outside and may be anything. */
static mm_err
check_segment(mm_edgegap *eg, const char *what, const char *value)
{
    if (value == NULL)
        return mm__eg_refused(eg, mm_fail(MM_ERR_INVALID, eg->last_error, sizeof(eg->last_error), "%s is required", what));
    if (!mm__eg_segment_ok(value))
        return mm__eg_refused(eg, mm_fail(MM_ERR_INVALID, eg->last_error, sizeof(eg->last_error),
                                          "%s must be 1..%d characters of [A-Za-z0-9_.-], not '.' or '..'", what,
                                          MM_EDGEGAP_MAX_SEGMENT));
    return MM_OK;
}

static mm_err
check_callback(mm_edgegap *eg, mm_edgegap_cb cb)
{
    if (cb == NULL)
        return mm__eg_refused(eg, mm_fail(MM_ERR_INVALID, eg->last_error, sizeof(eg->last_error), "a callback is required"));
    return MM_OK;
}

static bool
ip_literal(const char *text)
{
    unsigned char addr[16];
    return text != NULL && strlen(text) < 64 && (inet_pton(AF_INET, text, addr) == 1 || inet_pton(AF_INET6, text, addr) == 1);
}

static bool
webhook_ok(const char *url)
{
    size_t len = strlen(url), prefix = strncasecmp(url, "https://", 8) == 0 ? 8 : strncasecmp(url, "http://", 7) == 0 ? 7 : 0;
    if (prefix == 0 || len <= prefix || len > MAX_WEBHOOK_URL)
        return false;
    for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    return true;
}

/* base + the pieces (NULL counts as ""); NULL when out of memory. */
static char *
url_make(const mm_edgegap *eg, const char *p1, const char *s1, const char *p2, const char *s2)
{
    char *url = NULL;
    if (asprintf(&url, "%s%s%s%s%s", eg->base_url, p1, s1 != NULL ? s1 : "", p2 != NULL ? p2 : "", s2 != NULL ? s2 : "") < 0)
        return NULL;
    return url;
}

/* {"app_name", "version_name"?, "ip_list"?, "webhook_url"?}; NULL when out of memory. */
static char *
create_body(const char *app, const char *version, const char *const *ips, size_t n_ips, const char *webhook)
{
    json_t *obj = json_object(), *list = NULL;
    char *text = NULL;

    if (obj == NULL || json_object_set_new(obj, "app_name", json_string(app)) != 0)
        goto cleanup;
    if (version != NULL && json_object_set_new(obj, "version_name", json_string(version)) != 0)
        goto cleanup;
    if (n_ips > 0) {
        if ((list = json_array()) == NULL)
            goto cleanup;
        for (size_t i = 0; i < n_ips; i++)
            if (json_array_append_new(list, json_string(ips[i])) != 0)
                goto cleanup;
        int rc = json_object_set_new(obj, "ip_list", list); /* takes list even when it fails */
        list = NULL;
        if (rc != 0)
            goto cleanup;
    }
    if (webhook != NULL && json_object_set_new(obj, "webhook_url", json_string(webhook)) != 0)
        goto cleanup;
    text = json_dumps(obj, JSON_COMPACT);

cleanup:
    json_decref(list);
    json_decref(obj);
    return text;
}

mm_err
mm_edgegap_app_get(mm_edgegap *eg, const char *app, mm_edgegap_cb cb, void *ctx)
{
    mm_err err;
    if (eg == NULL)
        return MM_ERR_INVALID;
    if ((err = check_callback(eg, cb)) != MM_OK || (err = check_segment(eg, "app", app)) != MM_OK ||
        (err = mm__eg_admit(eg, MM_EDGEGAP_URGENT)) != MM_OK)
        return err;
    return mm__eg_accept(eg, MM_EDGEGAP_APP_GET, MM_EDGEGAP_URGENT, app, url_make(eg, "/v1/app/", app, NULL, NULL), NULL, cb, ctx);
}

mm_err
mm_edgegap_version_get(mm_edgegap *eg, const char *app, const char *version, mm_edgegap_cb cb, void *ctx)
{
    mm_err err;
    if (eg == NULL)
        return MM_ERR_INVALID;
    if ((err = check_callback(eg, cb)) != MM_OK || (err = check_segment(eg, "app", app)) != MM_OK ||
        (err = check_segment(eg, "version", version)) != MM_OK || (err = mm__eg_admit(eg, MM_EDGEGAP_URGENT)) != MM_OK)
        return err;
    return mm__eg_accept(eg, MM_EDGEGAP_VERSION_GET, MM_EDGEGAP_URGENT, app, url_make(eg, "/v1/app/", app, "/version/", version),
                         NULL, cb, ctx);
}

mm_err
mm_edgegap_session_create(mm_edgegap *eg, const char *app, const char *version, const char *const *ip_list, size_t n_ips,
                          const char *webhook_url, mm_edgegap_cb cb, void *ctx)
{
    mm_err err;
    if (eg == NULL)
        return MM_ERR_INVALID;
    if ((err = check_callback(eg, cb)) != MM_OK || (err = check_segment(eg, "app", app)) != MM_OK ||
        (version != NULL && (err = check_segment(eg, "version", version)) != MM_OK))
        return err;
    if (n_ips > MM_EDGEGAP_MAX_IPS || (n_ips > 0 && ip_list == NULL))
        return mm__eg_refused(eg, mm_fail(MM_ERR_INVALID, eg->last_error, sizeof(eg->last_error),
                                          "ip_list must hold 0..%d addresses", MM_EDGEGAP_MAX_IPS));
    for (size_t i = 0; i < n_ips; i++)
        if (!ip_literal(ip_list[i]))
            return mm__eg_refused(eg, mm_fail(MM_ERR_INVALID, eg->last_error, sizeof(eg->last_error),
                                              "ip_list[%zu] is not an IPv4 or IPv6 address", i));
    if (webhook_url != NULL && !webhook_ok(webhook_url))
        return mm__eg_refused(eg, mm_fail(MM_ERR_INVALID, eg->last_error, sizeof(eg->last_error),
                                          "webhook_url must be an http:// or https:// URL of at most %d printable "
                                          "characters without spaces",
                                          MAX_WEBHOOK_URL));
    if ((err = mm__eg_admit(eg, MM_EDGEGAP_URGENT)) != MM_OK)
        return err;
    return mm__eg_accept(eg, MM_EDGEGAP_SESSION_CREATE, MM_EDGEGAP_URGENT, app, url_make(eg, "/v1/session", NULL, NULL, NULL),
                         create_body(app, version, ip_list, n_ips, webhook_url), cb, ctx);
}

static mm_err
session_call(mm_edgegap *eg, mm_edgegap_op op, mm_edgegap_priority priority, const char *session_id, mm_edgegap_cb cb, void *ctx)
{
    mm_err err;
    if (eg == NULL)
        return MM_ERR_INVALID;
    if ((unsigned)priority >= MM_EDGEGAP_PRIORITY_COUNT)
        return mm__eg_refused(eg, mm_fail(MM_ERR_INVALID, eg->last_error, sizeof(eg->last_error),
                                          "priority must be MM_EDGEGAP_URGENT or MM_EDGEGAP_BACKGROUND"));
    if ((err = check_callback(eg, cb)) != MM_OK || (err = check_segment(eg, "session_id", session_id)) != MM_OK ||
        (err = mm__eg_admit(eg, priority)) != MM_OK)
        return err;
    return mm__eg_accept(eg, op, priority, session_id, url_make(eg, "/v1/session/", session_id, NULL, NULL), NULL, cb, ctx);
}

mm_err
mm_edgegap_session_get(mm_edgegap *eg, const char *session_id, mm_edgegap_priority priority, mm_edgegap_cb cb, void *ctx)
{
    return session_call(eg, MM_EDGEGAP_SESSION_GET, priority, session_id, cb, ctx);
}

mm_err
mm_edgegap_session_delete(mm_edgegap *eg, const char *session_id, mm_edgegap_cb cb, void *ctx)
{
    return session_call(eg, MM_EDGEGAP_SESSION_DELETE, MM_EDGEGAP_URGENT, session_id, cb, ctx);
}
