/*
 * The Edgegap session webhook receiver (docs/front.md "Webhooks"):
 *
 *   POST /matchmaker/edgegap-webhook/<secret>   body {"session_id":"...", ...}   -> 204
 *
 * Edgegap does not sign its calls, so the path carries a secret (16..128 characters of
 * [A-Za-z0-9_-]) read once at start from --webhook-secret-file or MM_WEBHOOK_SECRET, never from
 * the command line. The secret segment is compared with sodium_memcmp on equal lengths (constant
 * time); a wrong or missing secret, or no secret configured, gets exactly the 404 of any unknown
 * path, so a prober learns nothing. With the right secret: a method other than POST 405; a body
 * that is not a JSON object with a string session_id of 1..64 bytes of [A-Za-z0-9_-] 400 (h2o
 * itself answers 413 to a body over --max-message-bytes, before any route runs); then the
 * backend's webhook op takes the id (it must not block): MM_OK 204, else (or no op) 503. The
 * secret is matched against path_normalized, which holds no query; a query that is exactly
 * `intent=<id>` (the matchmaker's create intent, include/mm/intent.h) goes to the backend's
 * webhook_intent op with the id, when it has one.
 *
 * The route keeps no state past its answer and takes no per-IP limit (Edgegap calls from few
 * addresses; the matchmaker rate-limits the GETs a webhook triggers, per session). Counted as
 * mm_front_webhooks_total{outcome="routed"|"not_found"|"bad_request"|"refused"}.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "front_internal.h"
#include "mm/intent.h"

static bool
secret_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-';
}

static mm_err
secret_check(const char *s, size_t n, const char *from, char *why, size_t why_len)
{
    if (n < MM_FRONT_WEBHOOK_SECRET_MIN || n > MM_FRONT_WEBHOOK_SECRET_MAX)
        return mm_fail(MM_ERR_INVALID, why, why_len, "the webhook secret (%s) must be %d..%d characters, not %zu", from,
                       MM_FRONT_WEBHOOK_SECRET_MIN, MM_FRONT_WEBHOOK_SECRET_MAX, n);
    for (size_t i = 0; i < n; i++)
        if (!secret_char((unsigned char)s[i]))
            return mm_fail(MM_ERR_INVALID, why, why_len, "the webhook secret (%s) may hold only [A-Za-z0-9_-]", from);
    return MM_OK;
}

mm_err
mm__front_webhook_secret_load(const char *file, char out[MM_FRONT_WEBHOOK_SECRET_MAX + 1], size_t *len, char *why,
                              size_t why_len)
{
    char buf[4 * MM_FRONT_WEBHOOK_SECRET_MAX];
    const char *from, *s;
    size_t n;
    mm_err err = MM_OK;
    *len = 0;
    out[0] = '\0';
    if (file != NULL && file[0] != '\0') {
        FILE *f = fopen(file, "re");
        if (f == NULL)
            return mm_fail(MM_ERR_INVALID, why, why_len, "--webhook-secret-file %s: %s", file, strerror(errno));
        n = fread(buf, 1, sizeof(buf), f);
        bool more = n == sizeof(buf) && fgetc(f) != EOF;
        fclose(f);
        if (more) {
            err = mm_fail(MM_ERR_INVALID, why, why_len, "--webhook-secret-file %s: the file is too large for a secret", file);
            goto cleanup;
        }
        from = "--webhook-secret-file";
        s = buf;
    } else {
        s = getenv(MM_FRONT_WEBHOOK_ENV);
        if (s == NULL || s[0] == '\0')
            return MM_OK;
        from = MM_FRONT_WEBHOOK_ENV;
        n = strlen(s);
    }
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if ((err = secret_check(s, n, from, why, why_len)) != MM_OK)
        goto cleanup;
    memcpy(out, s, n);
    out[n] = '\0';
    *len = n;
cleanup:
    sodium_memzero(buf, sizeof(buf));
    return err;
}

mm_err
mm__front_webhook_parse(const char *body, size_t len, char out[MM_FRONT_SESSION_ID_MAX + 1], char *why, size_t why_len)
{
    json_error_t jerr;
    mm_err err = MM_OK;
    json_t *root = body != NULL && len > 0 ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    const json_t *id = json_is_object(root) ? json_object_get(root, "session_id") : NULL;
    if (root == NULL || !json_is_object(root)) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "the body must be a JSON object");
        goto cleanup;
    }
    if (!json_is_string(id)) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "session_id missing or not a string");
        goto cleanup;
    }
    size_t n = json_string_length(id);
    const char *s = json_string_value(id);
    if (n == 0 || n > MM_FRONT_SESSION_ID_MAX) {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "session_id must be 1..%d characters", MM_FRONT_SESSION_ID_MAX);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        if (!secret_char((unsigned char)s[i])) {
            err = mm_fail(MM_ERR_INVALID, why, why_len, "session_id may hold only [A-Za-z0-9_-]");
            goto cleanup;
        }
    memcpy(out, s, n);
    out[n] = '\0';
cleanup:
    json_decref(root);
    return err;
}

bool
mm__front_webhook_prefixed(h2o_iovec_t path)
{
    size_t n = sizeof(MM_FRONT_WEBHOOK_PREFIX) - 1;
    return path.len >= n && memcmp(path.base, MM_FRONT_WEBHOOK_PREFIX, n) == 0;
}

/* The create intent of the URL's query, `intent=<id>` (include/mm/orphans.h): path_normalized,
 * which the secret is checked against, holds no query. Anything else in the query, or a
 * malformed id, is no intent (the webhook is routed as without one). */
static bool
webhook_intent(const h2o_req_t *req, char out[MM_INTENT_MAX + 1])
{
    size_t qlen = sizeof(MM_INTENT_QUERY) - 1;
    if (req->query_at == SIZE_MAX || req->query_at >= req->path.len)
        return false;
    const char *q = req->path.base + req->query_at + 1; /* after '?' */
    size_t n = req->path.len - req->query_at - 1;
    if (n <= qlen || n - qlen > MM_INTENT_MAX || memcmp(q, MM_INTENT_QUERY, qlen) != 0)
        return false;
    memcpy(out, q + qlen, n - qlen);
    out[n - qlen] = '\0';
    return mm_intent_valid(out);
}

static void
count(mm_front *front, mm__webhook_outcome o)
{
    atomic_fetch_add_explicit(&front->metrics.webhooks[o], 1, memory_order_relaxed);
}

void
mm__front_webhook_handle(mm_front *front, h2o_req_t *req, bool post)
{
    static const char text[] = "text/plain; charset=utf-8";
    h2o_iovec_t path = req->path_normalized;
    size_t plen = sizeof(MM_FRONT_WEBHOOK_PREFIX) - 1;
    const char *given = path.base + plen;
    size_t glen = path.len - plen;
    /* equal lengths first (the length is no secret), then every byte in constant time */
    if (front->webhook_secret_len == 0 || glen != front->webhook_secret_len ||
        sodium_memcmp(given, front->webhook_secret, glen) != 0) {
        count(front, MM__WH_NOT_FOUND);
        mm__front_count_page(front, MM__PG_NOT_FOUND); /* exactly what any unknown path gets */
        mm__front_respond(req, 404, text, H2O_STRLIT("not found"), false);
        return;
    }
    if (!post) {
        count(front, MM__WH_BAD_REQUEST);
        mm__front_respond(req, 405, text, H2O_STRLIT("method not allowed"), false);
        return;
    }
    char id[MM_FRONT_SESSION_ID_MAX + 1], why[96];
    if (mm__front_webhook_parse(req->entity.base, req->entity.len, id, why, sizeof(why)) != MM_OK) {
        count(front, MM__WH_BAD_REQUEST);
        mm__front_respond(req, 400, text, why, strlen(why), false);
        return;
    }
    char intent[MM_INTENT_MAX + 1];
    bool has_intent = webhook_intent(req, intent);
    mm_err handed = MM_ERR_STOPPED;
    if (front->backend.webhook_intent != NULL)
        handed = front->backend.webhook_intent(front->backend.ctx, id, has_intent ? intent : NULL);
    else if (front->backend.webhook != NULL)
        handed = front->backend.webhook(front->backend.ctx, id);
    if (handed != MM_OK) {
        count(front, MM__WH_REFUSED);
        mm__front_respond(req, 503, text, H2O_STRLIT("the matchmaker cannot take webhooks now"), false);
        return;
    }
    count(front, MM__WH_ROUTED);
    mm__front_respond(req, 204, NULL, "", 0, false);
}
