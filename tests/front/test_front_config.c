/*
 * The web front's configuration: defaults, every flag in both spellings, refusals that name the
 * flag, repeatable flags replacing their defaults, CIDR parsing and matching, the usage text,
 * and mm_front_start refusing bad settings and a busy address.
 */
#include <string.h>

#include "front_internal.h"
#include "front_harness.h"
#include "mm_test.h"

static void
check_reason(const char *why, const char *want)
{
    if (strstr(why, want) == NULL)
        fprintf(stderr, "reason \"%s\" lacks \"%s\"\n", why, want);
    MM_CHECK(strstr(why, want) != NULL);
}

static void
test_defaults(void)
{
    mm_front_config c;
    mm_front_config_init(&c);
    MM_CHECK_INT(c.n_binds, ==, 1);
    MM_CHECK_STR(c.bind[0], "0.0.0.0:3000");
    MM_CHECK_STR(c.cors_origin, "http://localhost:8000");
    MM_CHECK_STR(c.fake_ip, "81.128.157.100");
    MM_CHECK(c.client_ip_override);
    MM_CHECK_INT(c.threads, ==, 1);
    MM_CHECK_INT(c.max_message_bytes, ==, 4096);
    MM_CHECK_INT(c.first_message_timeout_ms, ==, 10000);
    MM_CHECK_INT(c.request_timeout_ms, ==, 120000);
    MM_CHECK_INT(c.per_ip_concurrent, ==, 16);
    MM_CHECK_INT(c.per_ip_rate, ==, 10);
    MM_CHECK_INT(c.per_ip_burst, ==, 20);
    MM_CHECK_INT(c.global_concurrent, ==, 20000);
    MM_CHECK_INT(c.per_ip_sessions, ==, 120);
    MM_CHECK_INT(c.session_window_s, ==, 75);
    MM_CHECK_INT(c.ping_interval_ms, ==, 20000);
    MM_CHECK_INT(c.max_connections, ==, 50000);
    MM_CHECK_INT(c.max_connections_per_ip, ==, 256);
    MM_CHECK_INT(c.max_header_bytes, ==, 16384);
    MM_CHECK_INT(c.max_header_bytes_total, ==, 64 << 20);
    MM_CHECK_INT(c.relay_ring_capacity, ==, 4095);
    MM_CHECK_STR(c.admin_bind, ""); /* no admin listener */
    MM_CHECK_INT(c.n_proxies, ==, 6);
    uint8_t a[16];
    struct {
        const char *ip;
        bool trusted;
    } ips[] = {
        {"127.0.0.1", true},  {"127.9.9.9", true},    {"::1", true},         {"10.1.2.3", true},      {"172.16.0.1", true},
        {"172.31.255.255", true}, {"172.32.0.1", false}, {"192.168.7.7", true}, {"192.169.0.1", false}, {"fd00::5", true},
        {"8.8.8.8", false},   {"2001:db8::1", false}, {"::ffff:10.0.0.1", true},
    };
    for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        MM_REQUIRE(mm__front_addr_parse(ips[i].ip, a, NULL));
        bool t = false;
        for (size_t k = 0; k < c.n_proxies; k++)
            t = t || mm__front_cidr_contains(&c.proxies[k], a);
        if (t != ips[i].trusted)
            fprintf(stderr, "%s\n", ips[i].ip);
        MM_CHECK(t == ips[i].trusted);
    }
}

static void
test_flags(void)
{
    mm_front_config c;
    mm_front_config_init(&c);
    char why[256] = "";
    bool tv = false;
    MM_CHECK_INT(mm_front_config_flag(&c, "--bind", "127.0.0.1:0", &tv, why, sizeof(why)), ==, 1);
    MM_CHECK(tv);
    MM_CHECK_INT(c.n_binds, ==, 1); /* the first --bind replaces the default */
    MM_CHECK_INT(mm_front_config_flag(&c, "bind", "[::1]:8080", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_INT(c.n_binds, ==, 2);
    MM_CHECK_STR(c.bind[1], "[::1]:8080");
    MM_CHECK_INT(mm_front_config_flag(&c, "--bind", "0.0.0.0:1", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_INT(mm_front_config_flag(&c, "--bind", "0.0.0.0:2", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_INT(mm_front_config_flag(&c, "--bind", "0.0.0.0:3", NULL, why, sizeof(why)), ==, -1);
    check_reason(why, "--bind: at most 4");
    MM_CHECK_INT(mm_front_config_flag(&c, "--cors", "http://127.0.0.1", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_STR(c.cors_origin, "http://127.0.0.1");
    MM_CHECK_INT(mm_front_config_flag(&c, "--fake-ip", "2001:DB8::9", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_STR(c.fake_ip, "2001:db8::9");
    tv = true;
    MM_CHECK_INT(mm_front_config_flag(&c, "--no-client-ip-override", NULL, &tv, why, sizeof(why)), ==, 1);
    MM_CHECK(!tv);
    MM_CHECK(!c.client_ip_override);
    MM_CHECK_INT(mm_front_config_flag(&c, "--trusted-proxy", "100.64.0.0/10", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_INT(c.n_proxies, ==, 1); /* replaces the defaults */
    MM_CHECK_INT(mm_front_config_flag(&c, "--trusted-proxy", "2001:db8::/32", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_INT(c.n_proxies, ==, 2);
    MM_CHECK_INT(c.proxies[0].prefix, ==, 96 + 10);
    MM_CHECK_INT(mm_front_config_flag(&c, "--http-threads", "4", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_INT(c.threads, ==, 4);
    const struct {
        const char *flag, *value;
        size_t offset;
        uint32_t want;
    } nums[] = {
        {"--max-message-bytes", "8192", offsetof(mm_front_config, max_message_bytes), 8192},
        {"--first-message-timeout-ms", "2500", offsetof(mm_front_config, first_message_timeout_ms), 2500},
        {"--request-timeout-ms", "90000", offsetof(mm_front_config, request_timeout_ms), 90000},
        {"--per-ip-concurrent", "3", offsetof(mm_front_config, per_ip_concurrent), 3},
        {"--per-ip-rate", "5", offsetof(mm_front_config, per_ip_rate), 5},
        {"--per-ip-burst", "7", offsetof(mm_front_config, per_ip_burst), 7},
        {"--global-concurrent", "100", offsetof(mm_front_config, global_concurrent), 100},
        {"--per-ip-sessions", "500", offsetof(mm_front_config, per_ip_sessions), 500},
        {"--per-ip-sessions", "0", offsetof(mm_front_config, per_ip_sessions), 0},
        {"--session-window", "90", offsetof(mm_front_config, session_window_s), 90},
        {"--ping-interval-ms", "5000", offsetof(mm_front_config, ping_interval_ms), 5000},
        {"--max-connections", "10", offsetof(mm_front_config, max_connections), 10},
        {"--max-connections-per-ip", "4", offsetof(mm_front_config, max_connections_per_ip), 4},
        {"--max-header-bytes", "32768", offsetof(mm_front_config, max_header_bytes), 32768},
        {"--max-header-bytes-total", "16777216", offsetof(mm_front_config, max_header_bytes_total), 16777216},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        MM_CHECK_INT(mm_front_config_flag(&c, nums[i].flag, nums[i].value, NULL, why, sizeof(why)), ==, 1);
        MM_CHECK_INT(*(uint32_t *)((char *)&c + nums[i].offset), ==, nums[i].want);
    }
    MM_CHECK_INT(mm_front_config_flag(&c, "--trusted-proxy", "none", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_INT(c.n_proxies, ==, 2); /* "none" after ranges adds nothing */
    mm_front_config_init(&c);
    MM_CHECK_INT(mm_front_config_flag(&c, "--trusted-proxy", "none", NULL, why, sizeof(why)), ==, 1);
    MM_CHECK_INT(c.n_proxies, ==, 0);
    MM_CHECK_INT(mm_front_config_flag(&c, "--app-name", "x", &tv, why, sizeof(why)), ==, 0); /* not ours */
    MM_CHECK_INT(mm_front_config_flag(&c, "--cors", NULL, &tv, why, sizeof(why)), ==, -1);
    MM_CHECK(tv);
    check_reason(why, "--cors: needs a value");
    /* a switch given a value is refused, not silently taken ("--no-client-ip-override=no") */
    mm_front_config_init(&c);
    MM_CHECK_INT(mm_front_config_flag(&c, "--no-client-ip-override", "no", &tv, why, sizeof(why)), ==, -1);
    MM_CHECK(!tv);
    MM_CHECK(c.client_ip_override);
    check_reason(why, "--no-client-ip-override: takes no value");
}

static void
test_bad_values(void)
{
    const struct {
        const char *flag, *value, *reason;
    } bad[] = {
        {"--bind", "localhost:3000", "--bind"},
        {"--bind", "1.2.3.4", "--bind"},
        {"--bind", "1.2.3.4:70000", "--bind"},
        {"--bind", "::1:80", "--bind"},
        {"--bind", "[::1]80", "--bind"},
        {"--cors", "  ", "--cors"},
        {"--cors", "http://a\x01", "--cors"},
        {"--fake-ip", "127.0.0.1", "--fake-ip"},
        {"--fake-ip", "::1", "--fake-ip"},
        {"--fake-ip", "somewhere", "--fake-ip"},
        {"--trusted-proxy", "10.0.0.0/33", "--trusted-proxy"},
        {"--trusted-proxy", "::/129", "--trusted-proxy"},
        {"--trusted-proxy", "10.0.0.0/", "--trusted-proxy"},
        {"--trusted-proxy", "ten", "--trusted-proxy"},
        {"--http-threads", "0", "--http-threads"},
        {"--http-threads", "65", "--http-threads"},
        {"--max-message-bytes", "10", "--max-message-bytes"},
        {"--max-message-bytes", "4096x", "--max-message-bytes"},
        {"--per-ip-rate", "0", "--per-ip-rate"},
        {"--per-ip-rate", "-1", "--per-ip-rate"},
        {"--ping-interval-ms", "", "--ping-interval-ms"},
        {"--per-ip-sessions", "65536", "--per-ip-sessions"},
        {"--per-ip-sessions", "ten", "--per-ip-sessions"},
        {"--session-window", "0", "--session-window"},
        {"--session-window", "3601", "--session-window"},
        {"--max-connections", "99999999999", "--max-connections"},
        {"--admin-bind", "localhost:9090", "--admin-bind"},
        {"--admin-bind", "127.0.0.1", "--admin-bind"},
        {"--admin-bind", "127.0.0.1:99999", "--admin-bind"},
        {"--admin-bind", "", "--admin-bind"},
        {"--max-connections-per-ip", "0", "--max-connections-per-ip"},
        {"--max-header-bytes", "100", "--max-header-bytes"},
        {"--max-header-bytes", "1000000", "--max-header-bytes"},
        {"--max-header-bytes-total", "1000", "--max-header-bytes-total"},
        {"--max-header-bytes-total", "5000000000", "--max-header-bytes-total"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mm_front_config c;
        mm_front_config_init(&c);
        char why[256] = "";
        MM_CHECK_INT(mm_front_config_flag(&c, bad[i].flag, bad[i].value, NULL, why, sizeof(why)), ==, -1);
        check_reason(why, bad[i].reason);
    }
}

static void
test_cidr(void)
{
    mm_front_cidr r;
    uint8_t a[16];
    MM_REQUIRE(mm__front_cidr_parse("10.20.30.40/8", &r, NULL, 0) == MM_OK);
    MM_REQUIRE(mm__front_addr_parse("10.99.0.1", a, NULL));
    MM_CHECK(mm__front_cidr_contains(&r, a)); /* host bits of the range are ignored */
    MM_REQUIRE(mm__front_cidr_parse("0.0.0.0/0", &r, NULL, 0) == MM_OK);
    MM_CHECK(mm__front_cidr_contains(&r, a));
    MM_REQUIRE(mm__front_addr_parse("2001:db8::1", a, NULL));
    MM_CHECK(!mm__front_cidr_contains(&r, a)); /* an IPv4 range never holds IPv6 */
    MM_REQUIRE(mm__front_cidr_parse("::/0", &r, NULL, 0) == MM_OK);
    MM_CHECK(mm__front_cidr_contains(&r, a));
    MM_REQUIRE(mm__front_cidr_parse("192.0.2.1", &r, NULL, 0) == MM_OK); /* one address */
    MM_REQUIRE(mm__front_addr_parse("192.0.2.1", a, NULL));
    MM_CHECK(mm__front_cidr_contains(&r, a));
    MM_REQUIRE(mm__front_addr_parse("192.0.2.2", a, NULL));
    MM_CHECK(!mm__front_cidr_contains(&r, a));
    MM_REQUIRE(mm__front_cidr_parse("2001:db8:ab00::/41", &r, NULL, 0) == MM_OK);
    MM_REQUIRE(mm__front_addr_parse("2001:db8:ab7f:ffff::1", a, NULL));
    MM_CHECK(mm__front_cidr_contains(&r, a));
    MM_REQUIRE(mm__front_addr_parse("2001:db8:ab80::1", a, NULL));
    MM_CHECK(!mm__front_cidr_contains(&r, a));
}

static void
test_usage(void)
{
    const char *u = mm_front_config_usage();
    const char *names[] = {"--bind HOST:PORT", "--cors ORIGIN", "--fake-ip IP", "--trusted-proxy CIDR", "--no-client-ip-override",
                           "--http-threads N", "--max-message-bytes N", "--first-message-timeout-ms MS",
                           "--request-timeout-ms MS", "--per-ip-concurrent N", "--per-ip-rate N", "--per-ip-burst N",
                           "--global-concurrent N", "--ping-interval-ms MS", "--max-connections N",
                           "--per-ip-sessions N", "--session-window S", "--admin-bind HOST:PORT", "--limits-exempt CIDR",
                           "--max-connections-per-ip N", "--max-header-bytes N", "--max-header-bytes-total N",
                           "--webhook-secret-file FILE"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        MM_CHECK(strstr(u, names[i]) != NULL);
    MM_CHECK(strstr(u, "default 0.0.0.0:3000") != NULL);
    MM_CHECK(u == mm_front_config_usage());
}

static void
test_start_refusals(void)
{
    tb_backend *tb = tb_create();
    mm_front_backend be, none = {0};
    tb_backend_iface(tb, &be);
    mm_front_config c;
    mm_front *f = NULL;
    char why[256] = "";
    fh_config(&c);
    MM_CHECK_INT(mm_front_start(&c, &none, &f, why, sizeof(why)), ==, MM_ERR_INVALID);
    check_reason(why, "backend");
    c.threads = 0;
    MM_CHECK_INT(mm_front_start(&c, &be, &f, why, sizeof(why)), ==, MM_ERR_INVALID);
    fh_config(&c);
    snprintf(c.fake_ip, sizeof(c.fake_ip), "127.0.0.1");
    MM_CHECK_INT(mm_front_start(&c, &be, &f, why, sizeof(why)), ==, MM_ERR_INVALID);
    check_reason(why, "--fake-ip");
    /* a busy address is an error naming it */
    fh_config(&c);
    MM_REQUIRE(mm_front_start(&c, &be, &f, why, sizeof(why)) == MM_OK);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", mm_front_port(f, 0));
    mm_front_config c2;
    fh_config(&c2);
    MM_REQUIRE(mm_front_config_flag(&c2, "--bind", addr, NULL, NULL, 0) == 1);
    mm_front *f2 = NULL;
    MM_CHECK_INT(mm_front_start(&c2, &be, &f2, why, sizeof(why)), ==, MM_ERR_IO);
    check_reason(why, addr);
    /* the same for a busy admin address; and the admin flag's two spellings */
    fh_config(&c2);
    MM_REQUIRE(mm_front_config_flag(&c2, "admin-bind", "[::1]:9", NULL, NULL, 0) == 1);
    MM_CHECK_STR(c2.admin_bind, "[::1]:9");
    MM_REQUIRE(mm_front_config_flag(&c2, "--admin-bind", addr, NULL, NULL, 0) == 1);
    MM_CHECK_INT(mm_front_start(&c2, &be, &f2, why, sizeof(why)), ==, MM_ERR_IO);
    check_reason(why, addr);
    MM_CHECK(f2 == NULL);
    MM_CHECK_INT(mm_front_port(f, 1), ==, 0);
    mm_front_destroy(f);
    tb_destroy(tb);
}

int
main(void)
{
    test_defaults();
    test_flags();
    test_bad_values();
    test_cidr();
    test_usage();
    test_start_refusals();
    return MM_TEST_DONE();
}
