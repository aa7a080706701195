/*
 * The tests' HTTP client (mm_test_http.h): one libcurl easy handle per request, or one kept per
 * thread for reuse. Bodies and heads grow on the heap; nothing is truncated but in
 * mm_test_http_get's caller-sized copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "mm_test_http.h"

typedef struct grow {
    char *data;
    size_t len;
} grow;

static size_t
on_bytes(char *p, size_t size, size_t n, void *user)
{
    grow *g = user;
    size_t add = size * n;
    char *bigger = realloc(g->data, g->len + add + 1);
    if (bigger == NULL)
        return 0;
    g->data = bigger;
    memcpy(g->data + g->len, p, add);
    g->len += add;
    g->data[g->len] = '\0';
    return add;
}

static __thread CURL *kept;

long
mm_test_http(const mm_test_http_req *req, mm_test_http_resp *out)
{
    memset(out, 0, sizeof(*out));
    grow body = {NULL, 0}, head = {NULL, 0};
    struct curl_slist *list = NULL;
    CURL *h = req->reuse ? kept : NULL;
    if (h != NULL)
        curl_easy_reset(h);
    else
        h = curl_easy_init();
    if (req->reuse)
        kept = h;
    out->curl_code = CURLE_FAILED_INIT;
    if (h == NULL)
        goto cleanup;
    for (int i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
        list = curl_slist_append(list, req->headers[i]);
    const char *method = req->method != NULL ? req->method : req->body != NULL ? "POST" : "GET";
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_bytes);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &head);
    if (req->body != NULL || strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(req->body != NULL ? strlen(req->body) : 0));
    }
    if (strcmp(method, "POST") != 0 && (strcmp(method, "GET") != 0 || req->body != NULL))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    out->curl_code = (int)curl_easy_perform(h);
    if (out->curl_code == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
cleanup:
    out->body = body.data != NULL ? body.data : strdup("");
    out->body_len = body.len;
    out->head = head.data != NULL ? head.data : strdup("");
    if (h != NULL && req->reuse)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL); /* the list is freed below */
    else if (h != NULL)
        curl_easy_cleanup(h);
    curl_slist_free_all(list);
    return out->status;
}

void
mm_test_http_free(mm_test_http_resp *r)
{
    free(r->body);
    free(r->head);
    memset(r, 0, sizeof(*r));
}

long
mm_test_http_get(const char *url, char *buf, size_t len)
{
    mm_test_http_resp r;
    mm_test_http(&(mm_test_http_req){.url = url}, &r);
    if (len > 0)
        snprintf(buf, len, "%s", r.body);
    long status = r.curl_code == CURLE_OK ? r.status : -1;
    mm_test_http_free(&r);
    return status;
}

void
mm_test_http_cleanup(void)
{
    if (kept != NULL)
        curl_easy_cleanup(kept);
    kept = NULL;
}
