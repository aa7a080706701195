/* The chunked-request client of chunked_call.h: libcurl multi, one write buffer per call. */
#include "chunked_call.h"

#include <stdio.h>
#include <string.h>

#include "httpd_harness.h"
#include "mm/clock.h"
#include "mm_test.h"

static size_t
on_body(char *data, size_t size, size_t n, void *ctx)
{
    chunked_call *c = ctx;
    size_t len = size * n;
    if (len > sizeof(c->body) - 1 - c->len)
        len = sizeof(c->body) - 1 - c->len;
    memcpy(c->body + c->len, data, len);
    c->len += len;
    c->body[c->len] = '\0';
    return size * n;
}

void
cc_start(CURLM *m, chunked_call *c, int port, long timeout_ms)
{
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/matchmaker/request/%s/%s", port, H_APP, H_VERSION);
    c->e = curl_easy_init();
    MM_REQUIRE(c->e != NULL);
    curl_easy_setopt(c->e, CURLOPT_URL, url);
    curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c->e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->e, CURLOPT_TIMEOUT_MS, timeout_ms);
    c->start_ms = mm_now_ms();
    MM_REQUIRE(curl_multi_add_handle(m, c->e) == CURLM_OK);
}

void
cc_drive(CURLM *m, int ms, int poll_ms)
{
    uint64_t until = mm_now_ms() + (uint64_t)ms;
    do {
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            chunked_call *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            c->done = true;
            c->end_ms = mm_now_ms();
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &c->status);
            curl_multi_remove_handle(m, msg->easy_handle);
            curl_easy_cleanup(msg->easy_handle);
            c->e = NULL;
        }
        if (mm_now_ms() >= until)
            break;
        curl_multi_poll(m, NULL, 0, poll_ms, NULL);
    } while (mm_now_ms() < until);
}

bool
cc_accepted(chunked_call *c)
{
    if (c->session[0] != '\0')
        return true;
    const char *p = strstr(c->body, "{\"SessionRequestAccepted\":\"");
    if (p == NULL)
        return false;
    p += strlen("{\"SessionRequestAccepted\":\"");
    const char *q = strchr(p, '"');
    if (q == NULL || q - p >= (long)sizeof(c->session))
        return false;
    memcpy(c->session, p, (size_t)(q - p));
    c->session[q - p] = '\0';
    return true;
}

const char *
cc_last(const chunked_call *c, char *buf, size_t len)
{
    size_t end = c->len;
    while (end > 0 && c->body[end - 1] == '\n')
        end--;
    size_t start = end;
    while (start > 0 && c->body[start - 1] != '\n')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), c->body + start);
    return buf;
}
