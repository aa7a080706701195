/*
 * Client IP resolution (src/net/front/client_ip.c; SPEC.md section 2) without sockets: the TCP
 * peer, X-Forwarded-For only from a trusted peer and only its first address, the query and JSON
 * overrides and their switch, loopback to the fake IP, the limits' key (never an override; IPv6
 * by /64; dual-stack peers as IPv4), and the query parser's percent-decoding.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
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

/* Resolves and returns the backend's client IP (or "ERR: <reason>"). */
static const char *
resolve(const mm_front_config *cfg, const char *from, const char *xff, const char *query, const char *json, mm__front_origin *o)
{
    static char out[160];
    struct sockaddr_storage ss = peer(from);
    mm__front_origin_resolve(cfg, (struct sockaddr *)&ss, xff, xff ? strlen(xff) : 0, query, query ? strlen(query) : 0, o);
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
        {"10.0.0.2", "\t2001:DB8::5 ,x", NULL, NULL, "2001:db8::5", "2001:db8::5"},
        {"203.0.113.5", "198.51.100.1", NULL, NULL, "203.0.113.5", "203.0.113.5"}, /* untrusted peer */
        {"203.0.113.5", "garbage", NULL, NULL, "203.0.113.5", "203.0.113.5"},
        {"10.0.0.2", "garbage", NULL, NULL, "ERR: X-Forwarded-For does not start with an IPv4 or IPv6 address", ""},
        {"10.0.0.2", "", NULL, NULL, "ERR: X-Forwarded-For does not start with an IPv4 or IPv6 address", ""},
        {"10.0.0.2", "[2001:db8::5]:443", NULL, NULL, "ERR: X-Forwarded-For does not start with an IPv4 or IPv6 address", ""},
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
    static const char xff[] = "::\0junk, 192.0.2.1";
    mm__front_origin_resolve(&cfg, (struct sockaddr *)&ss, xff, sizeof(xff) - 1, NULL, 0, &o);
    MM_CHECK_STR(o.error, "X-Forwarded-For does not start with an IPv4 or IPv6 address");
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

int
main(void)
{
    test_resolution();
    test_override_off();
    test_keys();
    test_query_param();
    test_embedded_nul();
    return MM_TEST_DONE();
}
