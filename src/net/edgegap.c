/*
 * Edgegap client: configuration, creation and destruction (include/mm/edgegap.h).
 *
 * One CURLM per client, owned by one thread. The connection cache lives in the multi handle, so
 * every request reuses a kept-alive connection when one is idle; finished easy handles are reset
 * and kept (up to max_in_flight) so their TLS session cache survives too. The authorization
 * header is built once into two header lists shared by all requests (GET/DELETE, and POST with
 * a content type); they are wiped before they are freed, and the key is never logged.
 *
 * The request machinery is in edgegap_transfer.c, the five calls in edgegap_calls.c, answer
 * parsing in edgegap_result.c, helpers for the caller in edgegap_util.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgegap_internal.h"
#include "mm/log.h"

#define DEFAULT_USER_AGENT "mm-matchmaker"
#define MAX_BASE_URL 1024
#define MAX_HEADER_VALUE 4096

/* Printable ASCII (spaces allowed when space_ok): nothing that could end or fold a header line. */
static bool
text_printable(const char *text, bool space_ok)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        if (*p > 0x7e || *p < 0x20 || (*p == ' ' && !space_ok))
            return false;
    return true;
}

/* Validates base_url and copies it without trailing slashes. */
static mm_err
base_url_copy(const char *in, char **out, char *why, size_t why_len)
{
    size_t len = strlen(in);
    CURLU *url = NULL;
    char *host = NULL;
    mm_err err = MM_OK;

    if (len == 0 || len > MAX_BASE_URL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "base_url must be 1..%d bytes", MAX_BASE_URL);
    if (!text_printable(in, false))
        return mm_fail(MM_ERR_INVALID, why, why_len, "base_url contains a space or a control character");
    if (strncasecmp(in, "http://", 7) != 0 && strncasecmp(in, "https://", 8) != 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "base_url must start with http:// or https://");
    if (strpbrk(in, "?#") != NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "base_url must not have a query or a fragment");
    while (len > 0 && in[len - 1] == '/')
        len--;
    if ((*out = strndup(in, len)) == NULL || (url = curl_url()) == NULL) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "out of memory");
        goto cleanup;
    }
    CURLUcode uc = curl_url_set(url, CURLUPART_URL, *out, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(url, CURLUPART_HOST, &host, 0);
    if (uc != CURLUE_OK || host == NULL || host[0] == '\0')
        err = mm_fail(MM_ERR_INVALID, why, why_len, "base_url is not a valid URL: %s",
                      uc != CURLUE_OK ? curl_url_strerror(uc) : "no host");

cleanup:
    curl_free(host);
    curl_url_cleanup(url);
    if (err != MM_OK) {
        free(*out);
        *out = NULL;
    }
    return err;
}

/* Wipes each line before freeing: one of them carries the API key. */
static void
headers_free(struct curl_slist *list)
{
    for (struct curl_slist *p = list; p != NULL; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(list);
}

/* Builds the shared header lists; NULL lists on failure. */
static mm_err
headers_build(mm_edgegap *eg, const char *api_key)
{
    size_t len = strlen("authorization: ") + strlen(api_key) + 1;
    char *line = malloc(len);
    mm_err err = MM_ERR_NOMEM;
    struct curl_slist *plain = NULL, *json = NULL;

    if (line == NULL)
        goto cleanup;
    snprintf(line, len, "authorization: %s", api_key);
    /* "Expect:" stops curl from waiting for 100-continue before sending a larger POST body. */
    const char *const common[] = {line, "accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
        struct curl_slist *p1 = curl_slist_append(plain, common[i]);
        if (p1 == NULL)
            goto cleanup;
        plain = p1;
        struct curl_slist *p2 = curl_slist_append(json, common[i]);
        if (p2 == NULL)
            goto cleanup;
        json = p2;
    }
    struct curl_slist *p3 = curl_slist_append(json, "content-type: application/json");
    if (p3 == NULL)
        goto cleanup;
    json = p3;
    eg->headers = plain;
    eg->headers_json = json;
    plain = json = NULL;
    err = MM_OK;

cleanup:
    if (line != NULL)
        explicit_bzero(line, len);
    free(line);
    headers_free(plain);
    headers_free(json);
    return err;
}

/* A zero field takes its default; anything else must lie within [min, max]. */
static mm_err
limit_pick(const char *name, uint32_t value, uint32_t dflt, uint32_t min, uint32_t max, uint32_t *out, char *why, size_t why_len)
{
    *out = value == 0 ? dflt : value;
    if (*out < min || *out > max)
        return mm_fail(MM_ERR_INVALID, why, why_len, "%s must be %u..%u (0 for the default %u), not %u", name, min, max, dflt,
                       value);
    return MM_OK;
}

static mm_err
config_limits(mm_edgegap *eg, const mm_edgegap_config *config, char *why, size_t why_len)
{
    mm_err err = limit_pick("max_in_flight", config->max_in_flight, MM_EDGEGAP_DEFAULT_MAX_IN_FLIGHT, 1, 1024, &eg->max_in_flight, why, why_len);
    if (err == MM_OK)
        err = limit_pick("max_queued", config->max_queued, MM_EDGEGAP_DEFAULT_MAX_QUEUED, 1, 1u << 20, &eg->max_queued, why, why_len);
    if (err == MM_OK) { /* a quarter of the places, at least one, stays free for urgent requests */
        uint32_t reserved = eg->max_queued / 4 > 0 ? eg->max_queued / 4 : 1;
        eg->max_background_queued = eg->max_queued - reserved;
    }
    if (err == MM_OK)
        err =
            limit_pick("request_timeout_ms", config->request_timeout_ms, MM_EDGEGAP_DEFAULT_TIMEOUT_MS, 1, 3600000, &eg->request_timeout_ms, why, why_len);
    if (err == MM_OK)
        err = limit_pick("connect_timeout_ms", config->connect_timeout_ms, 5000, 1, 3600000, &eg->connect_timeout_ms, why, why_len);
    if (err == MM_OK)
        err = limit_pick("max_response_bytes", config->max_response_bytes, 1u << 20, 1024, 64u << 20, &eg->max_response_bytes, why,
                         why_len);
    return err;
}

mm_err
mm_edgegap_create(const mm_edgegap_config *config, mm_edgegap **out, char *why, size_t why_len)
{
    mm_edgegap *eg = NULL;
    mm_err err = MM_OK;
    bool curl_ready = false;

    if (out == NULL || config == NULL)
        return mm_fail(MM_ERR_INVALID, why, why_len, "config and out are required");
    *out = NULL;
    const char *key = config->api_key;
    if (key == NULL || key[0] == '\0' || strlen(key) > MAX_HEADER_VALUE || !text_printable(key, true))
        return mm_fail(MM_ERR_INVALID, why, why_len,
                       "api_key is required: 1..%d printable characters (the whole header value, \"token ...\")", MAX_HEADER_VALUE);
    const char *agent = config->user_agent != NULL ? config->user_agent : DEFAULT_USER_AGENT;
    if (agent[0] == '\0' || strlen(agent) > 256 || !text_printable(agent, true))
        return mm_fail(MM_ERR_INVALID, why, why_len, "user_agent must be 1..256 printable characters");

    if ((eg = calloc(1, sizeof(*eg))) == NULL) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "out of memory");
        goto cleanup;
    }
    if ((err = config_limits(eg, config, why, why_len)) != MM_OK)
        goto cleanup;
    err = base_url_copy(config->base_url != NULL ? config->base_url : MM_EDGEGAP_DEFAULT_BASE_URL, &eg->base_url, why, why_len);
    if (err != MM_OK)
        goto cleanup;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        err = mm_fail(MM_ERR_SYS, why, why_len, "curl_global_init failed");
        goto cleanup;
    }
    curl_ready = true;
    if ((eg->user_agent = strdup(agent)) == NULL || (eg->multi = curl_multi_init()) == NULL ||
        (eg->idle_easy = calloc(eg->max_in_flight, sizeof(CURL *))) == NULL || headers_build(eg, key) != MM_OK) {
        err = mm_fail(MM_ERR_NOMEM, why, why_len, "out of memory");
        goto cleanup;
    }
    /* Keep an idle connection per slot, so a burst after a pause still finds warm connections. */
    curl_multi_setopt(eg->multi, CURLMOPT_MAXCONNECTS, (long)eg->max_in_flight);
    eg->last_error[0] = '\0';
    *out = eg;
    eg = NULL;

cleanup:
    if (eg != NULL) {
        if (eg->multi != NULL)
            curl_multi_cleanup(eg->multi);
        free(eg->idle_easy);
        free(eg->user_agent);
        free(eg->base_url);
        free(eg);
        if (curl_ready)
            curl_global_cleanup();
    }
    return err;
}

void
mm_edgegap_destroy(mm_edgegap *eg)
{
    if (eg == NULL)
        return;
    if (eg->delivering) {
        mm_error("edgegap: mm_edgegap_destroy called from an Edgegap callback: that is a use after free, aborting");
        abort();
    }
    mm__eg_cancel_all(eg);
    for (uint32_t i = 0; i < eg->n_idle_easy; i++)
        curl_easy_cleanup(eg->idle_easy[i]);
    curl_multi_cleanup(eg->multi);
    headers_free(eg->headers);
    headers_free(eg->headers_json);
    free(eg->idle_easy);
    free(eg->user_agent);
    free(eg->base_url);
    free(eg);
    curl_global_cleanup();
}

const char *
mm_edgegap_last_error(const mm_edgegap *eg)
{
    return eg != NULL ? eg->last_error : "no client";
}

uint32_t
mm_edgegap_in_flight(const mm_edgegap *eg)
{
    return eg != NULL ? eg->running.n : 0;
}

uint32_t
mm_edgegap_queued(const mm_edgegap *eg)
{
    return eg != NULL ? mm__eg_queued_total(eg) : 0;
}

uint32_t
mm_edgegap_room(const mm_edgegap *eg, mm_edgegap_priority priority)
{
    if (eg == NULL || eg->closing || (unsigned)priority >= MM_EDGEGAP_PRIORITY_COUNT)
        return 0;
    uint32_t total = mm__eg_queued_total(eg), background = eg->queue[MM_EDGEGAP_BACKGROUND].n;
    /* a free slot implies empty queues (edgegap_internal.h), so free slots and places add up */
    uint32_t slots = total == 0 && eg->running.n < eg->max_in_flight ? eg->max_in_flight - eg->running.n : 0;
    uint32_t places = eg->max_queued > total ? eg->max_queued - total : 0;
    if (priority == MM_EDGEGAP_BACKGROUND) {
        uint32_t share = eg->max_background_queued > background ? eg->max_background_queued - background : 0;
        places = share < places ? share : places;
    }
    return slots + places;
}

void
mm_edgegap_get_stats(const mm_edgegap *eg, mm_edgegap_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    if (eg == NULL)
        return;
    *out = eg->stats;
    out->in_flight = eg->running.n;
    out->queued = mm__eg_queued_total(eg);
    for (int c = 0; c < MM_EDGEGAP_PRIORITY_COUNT; c++)
        out->queued_class[c] = eg->queue[c].n;
}
