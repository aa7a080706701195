/*
 * The tests' one HTTP client on libcurl: a blocking request with a deadline that returns the
 * status, the response head and the whole body. Tests that must send what curl never would
 * (raw bytes, broken framing) use the raw-socket client in ws_client.h instead.
 *
 * By default every request has a connection of its own. With reuse set, requests made on one
 * thread share one kept-alive connection (one curl handle per thread) until
 * mm_test_http_cleanup(); tests that count the connections a server saw rely on the difference.
 */
#ifndef MM_TEST_HTTP_H
#define MM_TEST_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mm_test_http_req {
    const char *method;         /* NULL: GET, or POST when body is set */
    const char *url;            /* sent as written ("//v1" stays) */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;           /* sent with its strlen; NULL: none (a POST sends an empty one) */
    long timeout_ms;            /* 0: 10 s */
    bool reuse;                 /* this thread's kept connection instead of a new one */
} mm_test_http_req;

typedef struct mm_test_http_resp {
    long status;   /* 0: no answer */
    int curl_code; /* CURLE_OK (0) when an answer came */
    char *head;    /* status line and header lines as received; never NULL after the call */
    char *body;    /* NUL-terminated; never NULL after the call */
    size_t body_len;
} mm_test_http_resp;

/** Performs req; returns the status (0 without an answer). Free out with mm_test_http_free. */
long mm_test_http(const mm_test_http_req *req, mm_test_http_resp *out);

/** Frees what mm_test_http filled; accepts a zeroed or freed response. */
void mm_test_http_free(mm_test_http_resp *r);

/** A GET of url (new connection, 10 s); the body copied into buf (truncated); returns the status or -1. */
long mm_test_http_get(const char *url, char *buf, size_t len);

/** Closes this thread's kept connection (see reuse). */
void mm_test_http_cleanup(void);

#endif
