/* hd_metric of metric_read.h: one GET /metrics through hd_http, a line-anchored search. */
#include "metric_read.h"

#include <stdlib.h>
#include <string.h>

#include "httpd_harness.h"
#include "mm_test.h"

long long
hd_metric(int port, const char *name)
{
    hd_response *r = calloc(1, sizeof(*r)); /* 70 KiB: not on a player thread's stack */
    MM_REQUIRE(r != NULL);
    hd_http(port, "GET", "/metrics", NULL, NULL, HD_WAIT_MS, r);
    MM_CHECK_INT(r->status, ==, 200);
    long long v = -1;
    size_t len = strlen(name);
    for (const char *p = strstr(r->body, name); p != NULL; p = strstr(p + 1, name))
        if ((p == r->body || p[-1] == '\n') && p[len] == ' ') {
            v = strtoll(p + len + 1, NULL, 10);
            break;
        }
    free(r);
    return v;
}
