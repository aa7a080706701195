/*
 * Client IP resolution (src/net/front/client_ip.c; docs/protocol.md section 2) without sockets: the TCP
 * peer, X-Forwarded-For only from a trusted peer and walked from the right (every form proxies
 * write, several headers, a spoofed leftmost entry, a 900-entry chain), the query and JSON
 * overrides and their switch, loopback to the fake IP, the limits' key (never an override; IPv6
 * by /64; dual-stack peers as IPv4), and the query parser's percent-decoding.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "front_internal.h"
#include "mm_test.h"

static struct sockaddr_storage
peer(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else {
        MM_REQUIRE(inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1);
        v6->sin6_family = AF_INET6;
    }
    return ss;
}

/* Splits xff at each '\n' into the values of several X-Forwarded-For headers; returns how many. */
static size_t
headers_of(const char *xff, h2o_iovec_t *h, size_t max)
{
    size_t n = 0;
    for (const char *p = xff; p != NULL && n < max;) {
        const char *nl = strchr(p, '\n');
        h[n++] = h2o_iovec_init(p, nl != NULL ? (size_t)(nl - p) : strlen(p));
        p = nl != NULL ? nl + 1 : NULL;
    }
    return n;
}

/* Resolves and returns the backend's client IP (or "ERR: <reason>"). xff NULL: no header. */
static const char *
resolve(const mm_front_config *cfg, const char *from, const char *xff, const char *query, const char *json, mm__front_origin *o)
{
    static char out[160];
    struct sockaddr_storage ss = peer(from);
    h2o_iovec_t h[8];
    size_t n = headers_of(xff, h, 8);
    mm__front_origin_resolve(cfg, (struct sockaddr *)&ss, h, n, query, query ? strlen(query) : 0, o);
    if (o->error[0] != '\0') {
        snprintf(out, sizeof(out), "ERR: %s", o->error);
        return out;
    }
    char ip[MM_IP_TEXT_LEN], why[128];
    if (mm__front_origin_client_ip(cfg, o, json, ip, why, sizeof(why)) != MM_OK) {
        snprintf(out, sizeof(out), "ERR: %s", why);
        return out;
    }
    snprintf(out, sizeof(out), "%s", ip);
    return out;
}

static void
test_resolution(void)
{
    mm_front_config cfg;
    mm_front_config_init(&cfg);
    mm__front_origin o;
    const struct {
        const char *peer, *xff, *query, *json, *want, *net;
    } cases[] = {
        {"203.0.113.5", NULL, NULL, NULL, "203.0.113.5", "203.0.113.5"},
        {"127.0.0.1", NULL, NULL, NULL, "81.128.157.100", "127.0.0.1"},
        {"::1", NULL, NULL, NULL, "81.128.157.100", "::1"},
        {"::ffff:198.51.100.4", NULL, NULL, NULL, "198.51.100.4", "198.51.100.4"}, /* dual stack */
        {"10.0.0.2", "203.0.113.9, 10.0.0.1", NULL, NULL, "203.0.113.9", "203.0.113.9"},
        {"10.0.0.2", "x, \t2001:DB8::5 ", NULL, NULL, "2001:db8::5", "2001:db8::5"},
        {"203.0.113.5", "198.51.100.1", NULL, NULL, "203.0.113.5", "203.0.113.5"}, /* untrusted peer */
        {"203.0.113.5", "garbage", NULL, NULL, "203.0.113.5", "203.0.113.5"},
        {"203.0.113.5", "10.0.0.1", NULL, NULL, "203.0.113.5", "203.0.113.5"}, /* even a "trusted" entry */
        {"10.0.0.2", "garbage", NULL, NULL, "10.0.0.2", "10.0.0.2"},           /* no address: the peer */
        {"10.0.0.2", "", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "[2001:db8::5]:443", NULL, NULL, "2001:db8::5", "2001:db8::5"},
        {"10.0.0.2", "[2001:db8::5]", NULL, NULL, "2001:db8::5", "2001:db8::5"},
        {"10.0.0.2", "203.0.113.9:54321", NULL, NULL, "203.0.113.9", "203.0.113.9"},
        {"10.0.0.2", "2001:db8::5", NULL, NULL, "2001:db8::5", "2001:db8::5"},
        {"10.0.0.2", " \t203.0.113.9\t ,  10.0.0.1 ", NULL, NULL, "203.0.113.9", "203.0.113.9"},
        /* an appending proxy: the client wrote the first entry, the proxy the last */
        {"10.0.0.2", "198.51.100.77, 203.0.113.9", NULL, NULL, "203.0.113.9", "203.0.113.9"},
        {"10.0.0.2", "192.0.2.1, 198.51.100.77, 203.0.113.9, 10.0.0.1", NULL, NULL, "203.0.113.9", "203.0.113.9"},
        /* several headers are one list, in order (HAProxy adds its own) */
        {"10.0.0.2", "198.51.100.77\n203.0.113.9", NULL, NULL, "203.0.113.9", "203.0.113.9"},
        {"10.0.0.2", "198.51.100.77, 203.0.113.9\n10.0.0.3, 10.0.0.4", NULL, NULL, "203.0.113.9", "203.0.113.9"},
        {"10.0.0.2", "203.0.113.9\n10.0.0.3\n", NULL, NULL, "10.0.0.2", "10.0.0.2"}, /* last header empty */
        /* an entry that is no address ends the walk at the last address walked */
        {"10.0.0.2", "203.0.113.9, unknown", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "203.0.113.9, unknown, 10.0.0.7", NULL, NULL, "10.0.0.7", "10.0.0.7"},
        {"10.0.0.2", "203.0.113.9,, 10.0.0.7", NULL, NULL, "10.0.0.7", "10.0.0.7"},
        {"10.0.0.2", "203.0.113.9, 10.0.0.7,", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "unknown, 203.0.113.9", NULL, NULL, "203.0.113.9", "203.0.113.9"}, /* never reached */
        /* every entry trusted: the leftmost one walked */
        {"10.0.0.2", "192.168.1.1, 10.0.0.7, 172.16.0.1", NULL, NULL, "192.168.1.1", "192.168.1.1"},
        {"10.0.0.2", "127.0.0.1", NULL, NULL, "81.128.157.100", "127.0.0.1"},
        /* almost-forms that are no address */
        {"10.0.0.2", "203.0.113.9:", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "203.0.113.9:65536", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "203.0.113.9:12a", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "[2001:db8::5]443", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "[2001:db8::5", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "[203.0.113.9]", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "2001:db8::5:443:1:2:3:4:5", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"10.0.0.2", "_hidden, 203.0.113.9 x", NULL, NULL, "10.0.0.2", "10.0.0.2"},
        {"127.0.0.1", NULL, "client_ip=192.0.2.1", NULL, "192.0.2.1", "127.0.0.1"},
        {"127.0.0.1", NULL, "a=b&client_ip=2001%3adb8%3A%3a1&c", NULL, "2001:db8::1", "127.0.0.1"},
        {"127.0.0.1", NULL, "client_ip=", "192.0.2.8", "192.0.2.8", "127.0.0.1"},
        {"127.0.0.1", NULL, "client_ip=192.0.2.1", "192.0.2.8", "192.0.2.1", "127.0.0.1"}, /* query first */
        {"127.0.0.1", NULL, "client_ip=127.0.0.1", NULL, "81.128.157.100", "127.0.0.1"},
        {"127.0.0.1", NULL, "client_ip=1.2.3.4.5", NULL, "ERR: client_ip is not an IPv4 or IPv6 address", ""},
        {"127.0.0.1", NULL, "client_ip=%00", NULL, "ERR: client_ip is not an IPv4 or IPv6 address", ""},
        {"127.0.0.1", NULL, "client_ip=%4", NULL, "ERR: client_ip is not an IPv4 or IPv6 address", ""},
        {"127.0.0.1", NULL, "client_ipx=9.9.9.9&xclient_ip=8.8.8.8", NULL, "81.128.157.100", "127.0.0.1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = resolve(&cfg, cases[i].peer, cases[i].xff, cases[i].query, cases[i].json, &o);
        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "case %zu\n", i);
        MM_CHECK_STR(got, cases[i].want);
        if (cases[i].net[0] != '\0')
            MM_CHECK_STR(o.net_ip, cases[i].net);
    }
}

static void
test_override_off(void)
{
    mm_front_config cfg;
    mm_front_config_init(&cfg);
    MM_REQUIRE(mm_front_config_flag(&cfg, "--no-client-ip-override", NULL, NULL, NULL, 0) == 1);
    mm__front_origin o;
    MM_CHECK_STR(resolve(&cfg, "203.0.113.5", NULL, "client_ip=192.0.2.1", "192.0.2.8", &o), "203.0.113.5");
    MM_CHECK_STR(resolve(&cfg, "203.0.113.5", NULL, "client_ip=not-an-ip", NULL, &o), "203.0.113.5"); /* not read */
    MM_CHECK_STR(resolve(&cfg, "10.1.1.1", "192.0.2.44", "client_ip=192.0.2.1", NULL, &o), "192.0.2.44");
}

static void
test_keys(void)
{
    mm_front_config cfg;
    mm_front_config_init(&cfg);
    mm__front_origin a, b;
    resolve(&cfg, "127.0.0.1", NULL, "client_ip=192.0.2.1", NULL, &a);
    resolve(&cfg, "127.0.0.1", NULL, "client_ip=192.0.2.2", NULL, &b);
    MM_CHECK(memcmp(a.key, b.key, 16) == 0); /* overrides do not change the key */
    resolve(&cfg, "10.0.0.1", "192.0.2.1", NULL, NULL, &a);
    resolve(&cfg, "10.0.0.1", "192.0.2.2", NULL, NULL, &b);
    MM_CHECK(memcmp(a.key, b.key, 16) != 0); /* a trusted proxy's clients are told apart */
    /* the key is the rightmost untrusted address: a rotating leftmost entry does not change it */
    resolve(&cfg, "10.0.0.1", "192.0.2.1, 203.0.113.9", NULL, NULL, &a);
    resolve(&cfg, "10.0.0.1", "192.0.2.2, 203.0.113.9:4000", NULL, NULL, &b);
    MM_CHECK(memcmp(a.key, b.key, 16) == 0);
    /* ... and a client naming its victim first is counted as itself, not as the victim */
    resolve(&cfg, "10.0.0.1", "192.0.2.1", NULL, NULL, &a);
    resolve(&cfg, "10.0.0.1", "192.0.2.1, 203.0.113.9", NULL, NULL, &b);
    MM_CHECK(memcmp(a.key, b.key, 16) != 0);
    resolve(&cfg, "2001:db8:0:1::1", NULL, NULL, NULL, &a);
    resolve(&cfg, "2001:db8:0:1:abcd::2", NULL, NULL, NULL, &b);
    MM_CHECK(memcmp(a.key, b.key, 16) == 0); /* one /64 */
    resolve(&cfg, "::ffff:192.0.2.1", NULL, NULL, NULL, &a);
    resolve(&cfg, "192.0.2.1", NULL, NULL, NULL, &b);
    MM_CHECK(memcmp(a.key, b.key, 16) == 0);
}

static void
test_query_param(void)
{
    char out[32];
    bool bad;
    MM_CHECK(mm__front_query_param("x=1&name=a+b%21", 15, "name", out, sizeof(out), &bad));
    MM_CHECK_STR(out, "a b!");
    MM_CHECK(mm__front_query_param("name", 4, "name", out, sizeof(out), &bad));
    MM_CHECK_STR(out, "");
    MM_CHECK(!mm__front_query_param("names=1", 7, "name", out, sizeof(out), &bad));
    MM_CHECK(!bad);
    MM_CHECK(!mm__front_query_param("name=%zz", 8, "name", out, sizeof(out), &bad));
    MM_CHECK(bad);
    MM_CHECK(!mm__front_query_param("name=0123456789012345678901234567890123456789", 45, "name", out, sizeof(out), &bad));
    MM_CHECK(bad);
    MM_CHECK(mm__front_query_param("name=1&name=2", 13, "name", out, sizeof(out), &bad));
    MM_CHECK_STR(out, "1");
}

/* Found by fuzz_client_ip: a NUL inside X-Forwarded-For or raw in the query cut the address
 * short ("::\0junk" read as "::"), where it must be refused. */
static void
test_embedded_nul(void)
{
    mm_front_config cfg;
    mm_front_config_init(&cfg);
    struct sockaddr_storage ss = peer("10.0.0.2");
    mm__front_origin o;
    static const char xff[] = "192.0.2.1, ::\0junk";
    h2o_iovec_t h = h2o_iovec_init(xff, sizeof(xff) - 1);
    mm__front_origin_resolve(&cfg, (struct sockaddr *)&ss, &h, 1, NULL, 0, &o);
    MM_CHECK_STR(o.error, "");
    MM_CHECK_STR(o.net_ip, "10.0.0.2"); /* the entry is no address: the walk ends at the peer */
    static const char query[] = "client_ip=192.0.2.1\0junk";
    ss = peer("203.0.113.5");
    mm__front_origin_resolve(&cfg, (struct sockaddr *)&ss, NULL, 0, query, sizeof(query) - 1, &o);
    MM_CHECK_STR(o.error, "client_ip is not an IPv4 or IPv6 address");
    MM_CHECK(!o.has_query_ip);
    char out[32];
    bool bad;
    MM_CHECK(!mm__front_query_param("=\0x", 3, "", out, sizeof(out), &bad));
    MM_CHECK(bad);
}

/* A long chain (900 entries, more than any fixed small buffer would hold) is walked whole:
 * the answer is the rightmost untrusted entry wherever it sits, never a truncated guess. */
static void
test_long_chain(void)
{
    mm_front_config cfg;
    mm_front_config_init(&cfg);
    enum { N = 900 };
    char *xff = malloc(N * 20);
    MM_REQUIRE(xff != NULL);
    const size_t where[] = {0, 1, N / 2, N - 2, N - 1};
    for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
        size_t len = 0;
        for (size_t i = 0; i < N; i++) {
            /* left of the client: spoofed entries; right of it: trusted proxies */
            if (i < where[w])
                len += (size_t)sprintf(xff + len, "198.51.%zu.%zu, ", i / 250, i % 250);
            else if (i == where[w])
                len += (size_t)sprintf(xff + len, "203.0.113.9, ");
            else
                len += (size_t)sprintf(xff + len, "10.%zu.%zu.1, ", i / 250, i % 250);
        }
        len -= 2;
        xff[len] = '\0';
        mm__front_origin o;
        MM_CHECK_STR(resolve(&cfg, "10.0.0.2", xff, NULL, NULL, &o), "203.0.113.9");
    }
    /* all 900 trusted: the leftmost */
    size_t len = 0;
    for (size_t i = 0; i < N; i++)
        len += (size_t)sprintf(xff + len, "%s10.%zu.%zu.1", i ? "," : "", i / 250 + 1, i % 250);
    mm__front_origin o;
    MM_CHECK_STR(resolve(&cfg, "10.0.0.2", xff, NULL, NULL, &o), "10.1.0.1");
    free(xff);
}

int
main(void)
{
    test_resolution();
    test_override_off();
    test_keys();
    test_query_param();
    test_embedded_nul();
    test_long_chain();
    return MM_TEST_DONE();
}
