/*
 * Session request validation: accept/reject tables for the WebSocket first message, the NATS
 * request (subject and payload, and their disagreement), the gensession payload; the builders;
 * client IP canonicalisation and the loopback → fake IP rule.
 */
#include <stdlib.h>
#include <string.h>

#include "mm/request.h"
#include "mm_test.h"

static void
check_reason(const char *what, const char *why, const char *expected)
{
    if (strstr(why, expected) == NULL) {
        fprintf(stderr, "%s: reason \"%s\" lacks \"%s\"\n", what, why, expected);
        MM_CHECK(0);
    } else {
        MM_CHECK(1);
    }
}

/* ---- WebSocket first message ---- */

static const struct {
    const char *text, *game, *version, *ip; /* ip NULL: none */
} ws_ok[] = {
    {"{\"game\":\"bevygap-spaceships\",\"version\":\"1\"}", "bevygap-spaceships", "1", NULL},
    {" {\n \"version\" : \"v0_0_1\" ,\t\"game\" : \"spacepit_server\" } ", "spacepit_server", "v0_0_1", NULL},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"1.2.3.4\"}", "g", "v", "1.2.3.4"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"2001:DB8:0:0::0001\"}", "g", "v", "2001:db8::1"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"::ffff:10.0.0.1\"}", "g", "v", "::ffff:10.0.0.1"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"::1\"}", "g", "v", "::1"}, /* the front replaces it */
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":null}", "g", "v", NULL},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"\"}", "g", "v", NULL},
    {"{\"game\":\"g\",\"version\":\"v\",\"extra\":{\"nested\":[1,2,{\"x\":null}]},\"n\":1.5}", "g", "v", NULL},
    {"{\"game\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ_-09\",\"version\":\"abcdefghijklmnopqrstuvwxyz0123\"}",
     "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-09", "abcdefghijklmnopqrstuvwxyz0123", NULL},
};

static const struct {
    const char *text, *reason;
} ws_refused[] = {
    {"", "request is not valid JSON"},
    {"hello", "request is not valid JSON"},
    {"{\"game\":\"g\",\"version\":\"v\"", "request is not valid JSON"},
    {"{\"game\":\"g\",\"version\":\"v\"} x", "request is not valid JSON"},
    {"{\"game\":\"g\",\"version\":\"v\",\"game\":\"h\"}", "duplicate object key"},
    {"{\"game\":\"g\",\"version\":\"v\",\"x\":\"\xff\"}", "request is not valid JSON"},
    {"{\"game\":\"g\\u0000\",\"version\":\"v\"}", "request is not valid JSON"},
    {"[]", "request must be a JSON object"},
    {"\"game\"", "request must be a JSON object"},
    {"null", "request must be a JSON object"},
    {"42", "request must be a JSON object"},
    {"{\"version\":\"v\"}", "missing field `game`"},
    {"{\"game\":\"g\"}", "missing field `version`"},
    {"{\"game\":1,\"version\":\"v\"}", "field `game` must be a string"},
    {"{\"game\":null,\"version\":\"v\"}", "field `game` must be a string"},
    {"{\"game\":\"g\",\"version\":[\"v\"]}", "field `version` must be a string"},
    {"{\"game\":\"\",\"version\":\"v\"}", "Game name invalid"},
    {"{\"game\":\"a b\",\"version\":\"v\"}", "Game name invalid"},
    {"{\"game\":\"a.b\",\"version\":\"v\"}", "Game name invalid"},
    {"{\"game\":\"a*\",\"version\":\"v\"}", "Game name invalid"},
    {"{\"game\":\"a>\",\"version\":\"v\"}", "Game name invalid"},
    {"{\"game\":\"a\\nb\",\"version\":\"v\"}", "Game name invalid"},
    {"{\"game\":\"caf\\u00e9\",\"version\":\"v\"}", "Game name invalid"},
    {"{\"game\":\"abcdefghijklmnopqrstuvwxyz01234\",\"version\":\"v\"}", "Game name too long (max 30 chars)"},
    {"{\"game\":\"g\",\"version\":\" \"}", "Game version invalid"},
    {"{\"game\":\"g\",\"version\":\"1.0\"}", "Game version invalid"},
    /* the reference matchmaker's default --app-version: a dot splits a subject token, refused here too */
    {"{\"game\":\"spacepit_server\",\"version\":\"v0.0.1\"}", "Game version invalid"},
    {"{\"game\":\"g\",\"version\":\"abcdefghijklmnopqrstuvwxyz01234\"}", "Game version too long (max 30 chars)"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":5}", "field `client_ip` must be a string"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"1.2.3\"}", "client_ip is not an IPv4 or IPv6 address"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"1.2.3.4:80\"}", "client_ip is not an IPv4 or IPv6 address"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"[::1]\"}", "client_ip is not an IPv4 or IPv6 address"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"fe80::1%eth0\"}", "client_ip is not an IPv4 or IPv6 address"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"256.1.1.1\"}", "client_ip is not an IPv4 or IPv6 address"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"01.2.3.4\"}", "client_ip is not an IPv4 or IPv6 address"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\" 1.2.3.4\"}", "client_ip is not an IPv4 or IPv6 address"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"localhost\"}", "client_ip is not an IPv4 or IPv6 address"},
    {"{\"game\":\"g\",\"version\":\"v\",\"client_ip\":\"1.2.3.4\\\",\\\"x\\\":\\\"y\"}",
     "client_ip is not an IPv4 or IPv6 address"},
};

static void
test_ws(void)
{
    char why[256];
    mm_session_request r;
    for (size_t i = 0; i < sizeof(ws_ok) / sizeof(ws_ok[0]); i++) {
        why[0] = '\0';
        mm_err err = mm_request_parse_ws(ws_ok[i].text, strlen(ws_ok[i].text), &r, why, sizeof(why));
        if (err != MM_OK)
            fprintf(stderr, "ws_ok[%zu] refused: %s\n", i, why);
        MM_CHECK_INT(err, ==, MM_OK);
        MM_CHECK_STR(r.game, ws_ok[i].game);
        MM_CHECK_STR(r.version, ws_ok[i].version);
        MM_CHECK_INT(r.has_client_ip, ==, ws_ok[i].ip != NULL);
        MM_CHECK_STR(r.client_ip, ws_ok[i].ip != NULL ? ws_ok[i].ip : "");
    }
    for (size_t i = 0; i < sizeof(ws_refused) / sizeof(ws_refused[0]); i++) {
        char what[32];
        why[0] = '\0';
        memset(&r, 'x', sizeof(r));
        snprintf(what, sizeof(what), "ws_refused[%zu]", i);
        MM_CHECK_INT(mm_request_parse_ws(ws_refused[i].text, strlen(ws_refused[i].text), &r, why, sizeof(why)), ==, MM_ERR_INVALID);
        check_reason(what, why, ws_refused[i].reason);
        MM_CHECK(r.game[0] == '\0' && r.version[0] == '\0' && !r.has_client_ip); /* nothing half-filled */
    }
    /* the client's bytes never appear in a reason */
    const char *evil = "{\"game\":\"<script>evil\",\"version\":\"v\"}";
    MM_CHECK_INT(mm_request_parse_ws(evil, strlen(evil), &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "evil") == NULL);
    /* len bounds the text; NULL arguments */
    const char *two = "{\"game\":\"g\",\"version\":\"v\"}{\"junk\"";
    MM_CHECK_INT(mm_request_parse_ws(two, 26, &r, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(mm_request_parse_ws(NULL, 0, &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_request_parse_ws(two, 26, NULL, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_request_parse_ws(two, 26, &r, NULL, 0), ==, MM_OK);
}

static void
test_ws_size(void)
{
    char why[256];
    mm_session_request r;
    char *big = malloc(MM_REQUEST_MAX_BYTES + 2);
    MM_REQUIRE(big != NULL);
    const char *body = "{\"game\":\"g\",\"version\":\"v\"}";
    /* exactly the limit, padded with whitespace: accepted */
    memset(big, ' ', MM_REQUEST_MAX_BYTES + 1);
    memcpy(big, body, strlen(body));
    big[MM_REQUEST_MAX_BYTES] = '\0';
    MM_CHECK_INT(mm_request_parse_ws(big, MM_REQUEST_MAX_BYTES, &r, why, sizeof(why)), ==, MM_OK);
    /* one byte more: refused before parsing */
    big[MM_REQUEST_MAX_BYTES] = ' ';
    big[MM_REQUEST_MAX_BYTES + 1] = '\0';
    MM_CHECK_INT(mm_request_parse_ws(big, MM_REQUEST_MAX_BYTES + 1, &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    check_reason("size", why, "request too large (4097 bytes, max 4096)");
    /* deep nesting inside an ignored field: refused or accepted, never a crash */
    size_t n = 0;
    n += (size_t)sprintf(big, "{\"game\":\"g\",\"version\":\"v\",\"x\":");
    while (n < MM_REQUEST_MAX_BYTES - 1)
        big[n++] = '[';
    big[n] = '\0';
    MM_CHECK_INT(mm_request_parse_ws(big, n, &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    free(big);
}

/* ---- NATS request ---- */

static void
test_nats(void)
{
    char why[256];
    mm_session_request r;
    const char *subject = "matchmaker.request.bevygap-spaceships.1";
    const char *p = "{\"client_ip\":\"81.128.157.100\",\"game\":\"bevygap-spaceships\",\"version\":\"1\"}";
    MM_CHECK_INT(mm_request_parse_nats(subject, p, strlen(p), &r, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(r.game, "bevygap-spaceships");
    MM_CHECK_STR(r.version, "1");
    MM_CHECK_STR(r.client_ip, "81.128.157.100");
    MM_CHECK(r.has_client_ip);
    /* the reference front's own spacing */
    p = "{\"client_ip\":\"81.128.157.100\", \"game\":\"bevygap-spaceships\", \"version\":\"1\"}";
    MM_CHECK_INT(mm_request_parse_nats(subject, p, strlen(p), &r, why, sizeof(why)), ==, MM_OK);
    /* game and version may be absent (the subject is authoritative); extras are ignored */
    p = "{\"client_ip\":\"2001:db8::7\",\"whatever\":[1]}";
    MM_CHECK_INT(mm_request_parse_nats(subject, p, strlen(p), &r, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(r.game, "bevygap-spaceships");
    MM_CHECK_STR(r.client_ip, "2001:db8::7");
    /* the matchmaker does not replace loopback: the front did that */
    p = "{\"client_ip\":\"127.0.0.1\"}";
    MM_CHECK_INT(mm_request_parse_nats(subject, p, strlen(p), &r, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(r.client_ip, "127.0.0.1");

    static const struct {
        const char *subject, *payload, *reason;
    } refused[] = {
        {"matchmaker.request.g.v", "{\"game\":\"g\"}", "missing field `client_ip`"},
        {"matchmaker.request.g.v", "{\"client_ip\":7}", "field `client_ip` must be a string"},
        {"matchmaker.request.g.v", "{\"client_ip\":\"nope\"}", "client_ip is not an IPv4 or IPv6 address"},
        {"matchmaker.request.g.v", "{\"client_ip\":\"\"}", "client_ip is not an IPv4 or IPv6 address"},
        {"matchmaker.request.g.v", "not json", "session request is not valid JSON"},
        {"matchmaker.request.g.v", "", "session request is not valid JSON"},
        {"matchmaker.request.g.v", "[\"1.2.3.4\"]", "session request must be a JSON object"},
        {"matchmaker.request.g.v", "{\"client_ip\":\"1.2.3.4\",\"game\":\"h\"}", "game does not match the subject's (g)"},
        {"matchmaker.request.g.v", "{\"client_ip\":\"1.2.3.4\",\"version\":\"w\"}", "version does not match the subject's (v)"},
        {"matchmaker.request.g.v", "{\"client_ip\":\"1.2.3.4\",\"game\":1}", "field `game` must be a string"},
        {"matchmaker.requests.g.v", "{\"client_ip\":\"1.2.3.4\"}", "subject is not matchmaker.request."},
        {"matchmaker.request.g", "{\"client_ip\":\"1.2.3.4\"}", "subject is not matchmaker.request."},
        {"matchmaker.request.g.v.x", "{\"client_ip\":\"1.2.3.4\"}", "invalid game name or version"},
        {"matchmaker.request..v", "{\"client_ip\":\"1.2.3.4\"}", "invalid game name or version"},
        {"matchmaker.request.g.", "{\"client_ip\":\"1.2.3.4\"}", "invalid game name or version"},
        {"matchmaker.request.*.v", "{\"client_ip\":\"1.2.3.4\"}", "invalid game name or version"},
        {"matchmaker.request.abcdefghijklmnopqrstuvwxyz01234.v", "{\"client_ip\":\"1.2.3.4\"}",
         "subject is not matchmaker.request."},
        {"matchmaker.request.g.abcdefghijklmnopqrstuvwxyz01234", "{\"client_ip\":\"1.2.3.4\"}",
         "subject is not matchmaker.request."},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char what[32];
        snprintf(what, sizeof(what), "nats refused[%zu]", i);
        why[0] = '\0';
        memset(&r, 'x', sizeof(r));
        MM_CHECK_INT(
            mm_request_parse_nats(refused[i].subject, refused[i].payload, strlen(refused[i].payload), &r, why, sizeof(why)), ==,
            MM_ERR_INVALID);
        check_reason(what, why, refused[i].reason);
        MM_CHECK(r.game[0] == '\0' && r.client_ip[0] == '\0' && !r.has_client_ip);
    }
    MM_CHECK_INT(mm_request_parse_nats(NULL, "{}", 2, &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_request_parse_nats(subject, NULL, 0, &r, why, sizeof(why)), ==, MM_ERR_INVALID);
}

static void
test_gensession(void)
{
    char why[256], ip[MM_IP_TEXT_LEN];
    const char *p = "{\"client_ip\":\"81.128.157.100\"}";
    MM_CHECK_INT(mm_request_parse_gensession(p, strlen(p), ip, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(ip, "81.128.157.100");
    p = "{\"client_ip\":\"2001:0db8::0007\",\"game\":\"anything at all\"}";
    MM_CHECK_INT(mm_request_parse_gensession(p, strlen(p), ip, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(ip, "2001:db8::7");
    p = "{}";
    MM_CHECK_INT(mm_request_parse_gensession(p, strlen(p), ip, why, sizeof(why)), ==, MM_ERR_INVALID);
    check_reason("gensession missing", why, "missing field `client_ip`");
    MM_CHECK_STR(ip, "");
    p = "{\"client_ip\":\"1.2.3.4.5\"}";
    MM_CHECK_INT(mm_request_parse_gensession(p, strlen(p), ip, why, sizeof(why)), ==, MM_ERR_INVALID);
    check_reason("gensession bad ip", why, "client_ip is not an IPv4 or IPv6 address");
    p = "\"1.2.3.4\"";
    MM_CHECK_INT(mm_request_parse_gensession(p, strlen(p), ip, why, sizeof(why)), ==, MM_ERR_INVALID);
    check_reason("gensession not object", why, "must be a JSON object");
    MM_CHECK_INT(mm_request_parse_gensession(p, strlen(p), NULL, why, sizeof(why)), ==, MM_ERR_INVALID);
}

/* ---- builders ---- */

static void
test_builders(void)
{
    char why[256], subject[MM_REQUEST_SUBJECT_LEN];
    char *payload = NULL;
    size_t len = 0;
    MM_CHECK_INT(mm_request_subject("bevygap-spaceships", "1", subject, sizeof(subject), why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(subject, "matchmaker.request.bevygap-spaceships.1");
    /* the longest names fit the documented size */
    const char *n30 = "abcdefghijklmnopqrstuvwxyz0123";
    MM_CHECK_INT(mm_request_subject(n30, n30, subject, sizeof(subject), why, sizeof(why)), ==, MM_OK);
    MM_CHECK_U64(strlen(subject), ==, MM_REQUEST_SUBJECT_LEN - 1);
    MM_CHECK_INT(mm_request_subject("a b", "1", subject, sizeof(subject), why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_STR(subject, "");
    MM_CHECK_INT(mm_request_subject("a", "1.0", subject, sizeof(subject), why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_request_subject("a", "1", subject, 10, why, sizeof(why)), ==, MM_ERR_INVALID);

    MM_CHECK_INT(mm_request_payload("81.128.157.100", "bevygap-spaceships", "1", &payload, &len, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(payload, "{\"client_ip\":\"81.128.157.100\",\"game\":\"bevygap-spaceships\",\"version\":\"1\"}");
    MM_CHECK_U64(len, ==, strlen(payload));
    /* what the builder makes, the matchmaker accepts */
    mm_session_request r;
    MM_CHECK_INT(mm_request_parse_nats("matchmaker.request.bevygap-spaceships.1", payload, len, &r, why, sizeof(why)), ==, MM_OK);
    free(payload);
    MM_CHECK_INT(mm_request_payload("2001:DB8::1", "g", "v", &payload, NULL, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(payload, "{\"client_ip\":\"2001:db8::1\",\"game\":\"g\",\"version\":\"v\"}");
    free(payload);
    payload = NULL;
    /* an injection attempt through client_ip cannot get in: it is not an address */
    MM_CHECK_INT(mm_request_payload("1.2.3.4\",\"game\":\"x", "g", "v", &payload, NULL, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(payload == NULL);
    MM_CHECK_INT(mm_request_payload("1.2.3.4", "g\"", "v", &payload, NULL, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_request_payload("1.2.3.4", "g", NULL, &payload, NULL, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_request_payload("1.2.3.4", "g", "v", NULL, NULL, why, sizeof(why)), ==, MM_ERR_INVALID);

    MM_CHECK_INT(mm_request_gensession_payload("::ffff:1.2.3.4", &payload, &len, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(payload, "{\"client_ip\":\"::ffff:1.2.3.4\"}");
    char ip[MM_IP_TEXT_LEN];
    MM_CHECK_INT(mm_request_parse_gensession(payload, len, ip, why, sizeof(why)), ==, MM_OK);
    free(payload);
    MM_CHECK_INT(mm_request_gensession_payload("", &payload, &len, why, sizeof(why)), ==, MM_ERR_INVALID);

    MM_CHECK(mm_request_name_valid("a"));
    MM_CHECK(mm_request_name_valid(n30));
    MM_CHECK(!mm_request_name_valid("abcdefghijklmnopqrstuvwxyz01234"));
    MM_CHECK(!mm_request_name_valid(""));
    MM_CHECK(!mm_request_name_valid(NULL));
    MM_CHECK(!mm_request_name_valid("a\tb"));
}

/* ---- client IP ---- */

static void
test_client_ip(void)
{
    static const struct {
        const char *ip;
        bool loopback;
    } table[] = {
        {"127.0.0.1", true},
        {"127.255.255.254", true},
        {"127.0.0.0", true},
        {"126.255.255.255", false},
        {"128.0.0.1", false},
        {"::1", true},
        {"0:0:0:0:0:0:0:1", true},
        {"::2", false},
        {"::", false},
        {"::ffff:127.0.0.1", true},
        {"::ffff:128.0.0.1", false},
        {"::127.0.0.1", false},
        {"81.128.157.100", false},
        {"localhost", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (mm_client_ip_is_loopback(table[i].ip) != table[i].loopback)
            fprintf(stderr, "loopback(%s) wrong\n", table[i].ip);
        MM_CHECK(mm_client_ip_is_loopback(table[i].ip) == table[i].loopback);
    }
    MM_CHECK(!mm_client_ip_is_loopback(NULL));

    char out[MM_IP_TEXT_LEN], why[256];
    bool replaced = false;
    MM_CHECK_INT(mm_client_ip_resolve("127.0.0.1", NULL, out, &replaced, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(out, "81.128.157.100");
    MM_CHECK(replaced);
    MM_CHECK_INT(mm_client_ip_resolve("::1", "2001:db8::0042", out, &replaced, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(out, "2001:db8::42");
    MM_CHECK(replaced);
    MM_CHECK_INT(mm_client_ip_resolve("127.9.9.9", "10.1.2.3", out, NULL, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(out, "10.1.2.3");
    MM_CHECK_INT(mm_client_ip_resolve("0:0::0:1.2.3.4", NULL, out, &replaced, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(out, "::1.2.3.4");
    MM_CHECK(!replaced);
    MM_CHECK_INT(mm_client_ip_resolve("81.2.69.160", NULL, out, &replaced, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(out, "81.2.69.160");
    MM_CHECK(!replaced);
    MM_CHECK_INT(mm_client_ip_resolve("not-an-ip", NULL, out, &replaced, why, sizeof(why)), ==, MM_ERR_INVALID);
    check_reason("resolve bad", why, "client_ip is not an IPv4 or IPv6 address");
    MM_CHECK_STR(out, "");
    MM_CHECK_INT(mm_client_ip_resolve("127.0.0.1", "127.0.0.2", out, &replaced, why, sizeof(why)), ==, MM_ERR_INVALID);
    check_reason("resolve loopback fake", why, "fake IP");
    MM_CHECK_STR(out, "");
    MM_CHECK(!replaced);
    MM_CHECK_INT(mm_client_ip_resolve("127.0.0.1", "junk", out, &replaced, why, sizeof(why)), ==, MM_ERR_INVALID);
    /* a bad fake IP does not matter while it is not needed */
    MM_CHECK_INT(mm_client_ip_resolve("1.2.3.4", "junk", out, &replaced, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(mm_client_ip_parse(NULL, out, why, sizeof(why)), ==, MM_ERR_INVALID);
    /* the longest canonical form fits */
    MM_CHECK_INT(mm_client_ip_parse("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", out, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(out, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    MM_CHECK_INT(mm_client_ip_parse("0000:0000:0000:0000:0000:ffff:255.255.255.255", out, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(out, "::ffff:255.255.255.255");
}

int
main(void)
{
    test_ws();
    test_ws_size();
    test_nats();
    test_gensession();
    test_builders();
    test_client_ip();
    return MM_TEST_DONE();
}
