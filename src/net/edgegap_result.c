/*
 * Edgegap client: from what came back to an mm_edgegap_result (include/mm/edgegap.h).
 *
 * Classification: no complete answer -> TRANSPORT (curl's text, plus the system error when curl
 * left it out); not 2xx -> HTTP_ERROR with Edgegap's {"message"} or a synthesized sentence; 2xx
 * -> OK only when the fields we use (docs/protocol.md section 7) are there with the right JSON types,
 * else BAD_RESPONSE saying which field is wrong. Unknown fields are ignored; "null" counts as
 * absent only where Edgegap's own model makes a field optional. Every string in the result
 * points into the parsed JSON or into the scratch storage, both kept until the callback returns;
 * messages are cut at a UTF-8 boundary and control characters become spaces (one log line).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "edgegap_internal.h"

/* Copies src as one printable line, cut to fit at a character boundary. */
static void
copy_line(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

static bool __attribute__((format(printf, 2, 3))) bad(mm__eg_scratch *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof(s->message), fmt, ap);
    va_end(ap);
    return false;
}

static const char *
type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Reports field key of obj (in where) as missing or of the wrong type. */
static bool
bad_field(mm__eg_scratch *s, const char *where, const char *key, const json_t *v, const char *want)
{
    return bad(s, "%s: '%s' is %s, expected %s", where, key, v == NULL ? "missing" : type_name(v), want);
}

/* A string without NUL characters; when nullable, missing or null gives NULL. */
static bool
get_string(mm__eg_scratch *s, const char *where, const json_t *obj, const char *key, bool nullable, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (nullable && (v == NULL || json_is_null(v)))
        return true;
    if (!json_is_string(v))
        return bad_field(s, where, key, v, nullable ? "a string or null" : "a string");
    if (json_string_length(v) != strlen(json_string_value(v)))
        return bad(s, "%s: '%s' contains a NUL character", where, key);
    *out = json_string_value(v);
    return true;
}

static bool
get_bool(mm__eg_scratch *s, const char *where, const json_t *obj, const char *key, bool *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v))
        return bad_field(s, where, key, v, "a boolean");
    *out = json_is_true(v);
    return true;
}

/* A port number 0..65535; missing or null gives 0. */
static bool
get_port(mm__eg_scratch *s, const char *where, const json_t *obj, const char *key, uint16_t *out)
{
    const json_t *v = json_object_get(obj, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
        return bad(s, "%s: '%s' is %s, expected a port number 0..65535", where, key,
                   json_is_integer(v) ? "out of range" : type_name(v));
    *out = (uint16_t)json_integer_value(v);
    return true;
}

static bool
parse_app(mm__eg_scratch *s, const json_t *j, mm_edgegap_result *r)
{
    return get_string(s, "app answer", j, "name", false, &r->name) && get_bool(s, "app answer", j, "is_active", &r->is_active);
}

static bool
parse_version(mm__eg_scratch *s, const json_t *j, mm_edgegap_result *r)
{
    const char *where = "version answer";
    if (!get_string(s, where, j, "name", false, &r->name) || !get_bool(s, where, j, "is_active", &r->is_active))
        return false;
    const json_t *ports = json_object_get(j, "ports"), *item;
    size_t i;
    if (ports == NULL || json_is_null(ports))
        return true;
    if (!json_is_array(ports))
        return bad_field(s, where, "ports", ports, "an array");
    if (json_array_size(ports) > MM_EDGEGAP_MAX_PORTS)
        return bad(s, "%s: more than %d ports", where, MM_EDGEGAP_MAX_PORTS);
    json_array_foreach(ports, i, item)
    {
        mm_edgegap_port *p = &s->ports[i];
        memset(p, 0, sizeof(*p));
        if (!json_is_object(item))
            return bad(s, "%s: ports[%zu] is %s, expected an object", where, i, type_name(item));
        if (!get_string(s, "version answer port", item, "name", false, &p->name) ||
            !get_port(s, "version answer port", item, "port", &p->internal) ||
            !get_string(s, "version answer port", item, "protocol", true, &p->protocol))
            return false;
    }
    r->ports = s->ports;
    r->n_ports = json_array_size(ports);
    return true;
}

static bool
parse_create(mm__eg_scratch *s, const json_t *j, mm_edgegap_result *r)
{
    if (!get_string(s, "session create answer", j, "session_id", false, &r->session_id))
        return false;
    if (!mm__eg_segment_ok(r->session_id))
        return bad(s, "session create answer: 'session_id' is not a usable id (1..%d characters of [A-Za-z0-9_.-])",
                   MM_EDGEGAP_MAX_SEGMENT);
    return true;
}

static bool
parse_deployment(mm__eg_scratch *s, const json_t *d, mm_edgegap_result *r)
{
    const char *where = "session answer deployment";
    unsigned char addr[16];
    if (!get_string(s, where, d, "public_ip", true, &r->public_ip))
        return false;
    if (r->public_ip != NULL && inet_pton(AF_INET, r->public_ip, addr) != 1 && inet_pton(AF_INET6, r->public_ip, addr) != 1)
        return bad(s, "%s: 'public_ip' is not an IP address", where);
    const json_t *ports = json_object_get(d, "ports"), *item;
    const char *name;
    if (ports == NULL || json_is_null(ports))
        return true;
    if (!json_is_object(ports))
        return bad_field(s, where, "ports", ports, "an object");
    if (json_object_size(ports) > MM_EDGEGAP_MAX_PORTS)
        return bad(s, "%s: more than %d ports", where, MM_EDGEGAP_MAX_PORTS);
    json_object_foreach((json_t *)ports, name, item)
    {
        mm_edgegap_port *p = &s->ports[r->n_ports];
        memset(p, 0, sizeof(*p));
        p->name = name;
        if (!json_is_object(item))
            return bad(s, "%s: ports['%s'] is %s, expected an object", where, name, type_name(item));
        if (!get_port(s, "session answer port", item, "external", &p->external) ||
            !get_port(s, "session answer port", item, "internal", &p->internal) ||
            !get_string(s, "session answer port", item, "protocol", true, &p->protocol))
            return false;
        r->n_ports++;
    }
    r->ports = s->ports;
    return true;
}

static bool
parse_session(mm__eg_scratch *s, const json_t *j, mm_edgegap_result *r)
{
    const char *where = "session answer";
    if (!get_string(s, where, j, "session_id", false, &r->session_id) ||
        !get_string(s, where, j, "status", false, &r->session_status) || !get_bool(s, where, j, "ready", &r->ready) ||
        !get_bool(s, where, j, "linked", &r->linked) || !get_string(s, where, j, "error", true, &r->error))
        return false;
    r->has_error = r->error != NULL;
    const json_t *elapsed = json_object_get(j, "elapsed");
    if (json_is_integer(elapsed)) {
        r->elapsed = json_integer_value(elapsed);
    } else if (json_is_real(elapsed) && json_real_value(elapsed) > -9.0e18 && json_real_value(elapsed) < 9.0e18) {
        r->elapsed = (int64_t)json_real_value(elapsed);
    } else {
        return bad_field(s, where, "elapsed", elapsed, "a number");
    }
    const json_t *d = json_object_get(j, "deployment");
    if (d != NULL && !json_is_null(d)) {
        if (!json_is_object(d))
            return bad_field(s, where, "deployment", d, "an object or null");
        r->has_deployment = true;
        if (!parse_deployment(s, d, r))
            return false;
    }
    if (r->ready && r->public_ip == NULL)
        return bad(s, "%s: the session is ready but has no deployment.public_ip", where);
    return true;
}

/* Delete needs nothing from the body: a 2xx means the session is being terminated. */
static void
parse_delete(mm__eg_scratch *s, const json_t *j, mm_edgegap_result *r)
{
    const json_t *id = json_object_get(j, "session_id"), *message = json_object_get(j, "message");
    if (json_is_string(id) && json_string_length(id) == strlen(json_string_value(id)))
        r->session_id = json_string_value(id);
    if (json_is_string(message)) {
        copy_line(s->message, sizeof(s->message), json_string_value(message));
        r->message = s->message;
    }
}

static void
transport_message(const mm__eg_answer *a, char *buf, size_t len)
{
    char sys[128], line[CURL_ERROR_SIZE + 160];
    const char *text = a->curl_error != NULL && a->curl_error[0] != '\0' ? a->curl_error : curl_easy_strerror(a->code);
    const char *why = a->os_errno != 0 ? strerror_r((int)a->os_errno, sys, sizeof(sys)) : NULL;
    if (why != NULL && strstr(text, why) == NULL)
        snprintf(line, sizeof(line), "%s (%s)", text, why);
    else
        snprintf(line, sizeof(line), "%s", text);
    copy_line(buf, len, line);
}

static void
http_error(const mm__eg_answer *a, bool too_large, mm__eg_scratch *s, mm_edgegap_result *r)
{
    const json_t *message = json_object_get(s->json, "message");
    r->outcome = MM_EDGEGAP_HTTP_ERROR;
    if (json_is_string(message) && json_string_value(message)[0] != '\0')
        copy_line(s->message, sizeof(s->message), json_string_value(message));
    else if (too_large)
        snprintf(s->message, sizeof(s->message), "HTTP %ld with a body larger than %u bytes", a->status, a->max_body);
    else if (a->body_len == 0)
        snprintf(s->message, sizeof(s->message), "HTTP %ld with an empty body", a->status);
    else if (s->json == NULL)
        snprintf(s->message, sizeof(s->message), "HTTP %ld with a non-JSON body", a->status);
    else
        snprintf(s->message, sizeof(s->message), "HTTP %ld without a message", a->status);
}

/* A 2xx: OK when the body has what the op needs. */
static void
success(const mm__eg_answer *a, bool too_large, const json_error_t *jerr, mm__eg_scratch *s, mm_edgegap_result *r)
{
    bool ok;
    r->outcome = MM_EDGEGAP_BAD_RESPONSE;
    if (a->op == MM_EDGEGAP_SESSION_DELETE) {
        r->outcome = MM_EDGEGAP_OK;
        parse_delete(s, s->json, r);
        return;
    }
    if (too_large) {
        snprintf(s->message, sizeof(s->message), "HTTP %ld with a body larger than %u bytes", a->status, a->max_body);
        return;
    }
    if (s->json == NULL) {
        snprintf(s->message, sizeof(s->message), "HTTP %ld with a body that is not JSON: %s", a->status,
                 a->body_len == 0 ? "empty" : jerr->text);
        return;
    }
    if (!json_is_object(s->json)) {
        snprintf(s->message, sizeof(s->message), "HTTP %ld with JSON that is %s, not an object", a->status, type_name(s->json));
        return;
    }
    switch (a->op) {
    case MM_EDGEGAP_APP_GET:
        ok = parse_app(s, s->json, r);
        break;
    case MM_EDGEGAP_VERSION_GET:
        ok = parse_version(s, s->json, r);
        break;
    case MM_EDGEGAP_SESSION_CREATE:
        ok = parse_create(s, s->json, r);
        break;
    default:
        ok = parse_session(s, s->json, r);
        break;
    }
    if (ok) {
        r->outcome = MM_EDGEGAP_OK;
        s->message[0] = '\0';
        return;
    }
    /* Only the outcome and the reason stand: the half-parsed fields are not to be trusted. */
    mm_edgegap_op op = r->op;
    long status = r->status;
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->status = status;
    r->outcome = MM_EDGEGAP_BAD_RESPONSE;
}

void
mm__eg_result_fill(const mm__eg_answer *a, mm__eg_scratch *s, mm_edgegap_result *r)
{
    json_error_t jerr = {.text = ""};
    bool too_large = a->body_too_large || a->code == CURLE_FILESIZE_EXCEEDED;

    memset(r, 0, sizeof(*r));
    r->op = a->op;
    s->json = NULL;
    s->message[0] = '\0';
    if (a->start_failed || a->body_nomem) {
        r->outcome = MM_EDGEGAP_TRANSPORT;
        r->not_sent = a->start_failed;
        snprintf(s->message, sizeof(s->message), "%s",
                 a->start_failed ? "out of memory starting the request" : "out of memory reading the answer");
    } else if (a->code != CURLE_OK && !too_large) {
        r->outcome = MM_EDGEGAP_TRANSPORT;
        r->timed_out = a->code == CURLE_OPERATION_TIMEDOUT;
        r->not_sent = a->code == CURLE_COULDNT_CONNECT || a->code == CURLE_COULDNT_RESOLVE_HOST ||
                      a->code == CURLE_COULDNT_RESOLVE_PROXY;
        transport_message(a, s->message, sizeof(s->message));
    } else if (a->status < 100 || a->status > 999) {
        r->outcome = MM_EDGEGAP_TRANSPORT;
        snprintf(s->message, sizeof(s->message), "the answer had no valid HTTP status (%ld)", a->status);
    } else {
        r->status = a->status;
        if (!too_large && a->body_len > 0)
            s->json = json_loadb(a->body, a->body_len, 0, &jerr);
        if (a->status >= 200 && a->status < 300)
            success(a, too_large, &jerr, s, r);
        else
            http_error(a, too_large, s, r);
    }
    r->json = s->json;
    r->message = r->message != NULL ? r->message : s->message;
}
