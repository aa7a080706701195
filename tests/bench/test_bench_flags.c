/*
 * mm_bench's command line: parsing in-process (defaults, modes, durations, URLs, client_ip
 * ranges, the rules between options), the open-loop schedule, and the program itself: --help
 * names every option with its default, a usage error is one line on stderr and exit 2, and the
 * verification key never appears in any output.
 */
#include <stdlib.h>

#include "bench_test_parse.h"
#include "mm_bench.h"
#include "mm_test.h"

static mm_bench_config cfg;

#define PARSE(...) MM_BENCH_TEST_PARSE(&cfg, __VA_ARGS__)

static void
test_defaults_and_modes(void)
{
    MM_CHECK_INT(mm_bench_test_parse(&cfg, (const char *const[]){NULL}), ==, 0);
    MM_CHECK_INT(cfg.mode, ==, MM_BENCH_OPEN_LOOP);
    MM_CHECK(cfg.rate == 100);
    MM_CHECK_U64(cfg.duration_ns, ==, 10000000000ULL);
    MM_CHECK_U64(cfg.timeout_ns, ==, 75000000000ULL);
    MM_CHECK_STR(cfg.host, "127.0.0.1");
    MM_CHECK_INT(cfg.port, ==, 3000);
    MM_CHECK_STR(cfg.path, "/matchmaker/ws");
    MM_CHECK_STR(cfg.game, "bevygap-spaceships");
    MM_CHECK_STR(cfg.version, "1");
    MM_CHECK_INT(cfg.verify, ==, 0);
    MM_CHECK_INT(cfg.have_ip_range, ==, 0);

    MM_CHECK_INT(PARSE("--concurrency", "50"), ==, 0);
    MM_CHECK_INT(cfg.mode, ==, MM_BENCH_CLOSED_LOOP);
    MM_CHECK_U64(cfg.requests, ==, 1000);
    MM_CHECK_U64(cfg.duration_ns, ==, 0);
    MM_CHECK_INT(PARSE("--concurrency", "5", "--duration", "2m"), ==, 0);
    MM_CHECK_U64(cfg.requests, ==, 0);
    MM_CHECK_U64(cfg.duration_ns, ==, 120000000000ULL);
    MM_CHECK_INT(PARSE("--rate", "2000", "--duration", "30s", "--ramp", "5s", "--timeout", "500ms"), ==, 0);
    MM_CHECK_U64(cfg.ramp_ns, ==, 5000000000ULL);
    MM_CHECK_U64(cfg.timeout_ns, ==, 500000000ULL);
    MM_CHECK_INT(PARSE("--duration", "1.5"), ==, 0);
    MM_CHECK_U64(cfg.duration_ns, ==, 1500000000ULL);
    MM_CHECK_INT(PARSE("--duration", "1h"), ==, 0);

    /* mistakes */
    MM_CHECK_INT(PARSE("--rate", "10", "--concurrency", "2"), ==, 2);
    MM_CHECK_INT(PARSE("--concurrency", "2", "--ramp", "1s"), ==, 2);
    MM_CHECK_INT(PARSE("--requests", "5"), ==, 2);
    MM_CHECK_INT(PARSE("--rate", "0"), ==, 2);
    MM_CHECK_INT(PARSE("--rate", "-5"), ==, 2);
    MM_CHECK_INT(PARSE("--rate", "nan"), ==, 2);
    MM_CHECK_INT(PARSE("--rate", "10x"), ==, 2);
    MM_CHECK_INT(PARSE("--duration", "10d"), ==, 2);
    MM_CHECK_INT(PARSE("--duration", "-1s"), ==, 2);
    MM_CHECK_INT(PARSE("--duration", "25h"), ==, 2);
    MM_CHECK_INT(PARSE("--duration", "2s", "--ramp", "3s"), ==, 2);
    MM_CHECK_INT(PARSE("--concurrency", "0"), ==, 2);
    MM_CHECK_INT(PARSE("--protocol-id", "5"), ==, 2); /* only with --verify-key */
    MM_CHECK_INT(PARSE("--byte-order", "middle"), ==, 2);
    MM_CHECK_INT(PARSE("--game", "0123456789012345678901234567890123456789012345678901234567890123456789"), ==, 2);
    MM_CHECK_INT(PARSE("--game", "\xff\xfe"), ==, 2);
    MM_CHECK_INT(PARSE("--verify-key", "1,2,3"), ==, 2);
    MM_CHECK_INT(PARSE("--bogus"), ==, 2);
    MM_CHECK_INT(PARSE("stray"), ==, 2);
    MM_CHECK_INT(PARSE("--rate"), ==, 2);
    MM_CHECK_INT(PARSE("--help"), ==, -1);
}

static void
test_urls(void)
{
    MM_CHECK_INT(PARSE("--url", "ws://[::1]:4000"), ==, 0);
    MM_CHECK_STR(cfg.host, "::1");
    MM_CHECK_INT(cfg.port, ==, 4000);
    MM_CHECK_STR(cfg.path, "/matchmaker/ws");
    MM_CHECK_STR(cfg.host_header, "[::1]:4000");
    MM_CHECK_INT(PARSE("--url", "ws://example.com/matchmaker/ws?client_ip=1.2.3.4"), ==, 0);
    MM_CHECK_STR(cfg.host, "example.com");
    MM_CHECK_INT(cfg.port, ==, 80);
    MM_CHECK_STR(cfg.path, "/matchmaker/ws?client_ip=1.2.3.4");
    MM_CHECK_INT(PARSE("--url", "ws://[::1]/x"), ==, 0);
    MM_CHECK_STR(cfg.host, "::1");
    MM_CHECK_INT(PARSE("--url", "wss://example.com/matchmaker/ws"), ==, 2);
    MM_CHECK_INT(PARSE("--url", "http://example.com/"), ==, 2);
    MM_CHECK_INT(PARSE("--url", "ws:///matchmaker/ws"), ==, 2);
    MM_CHECK_INT(PARSE("--url", "ws://h:99999/"), ==, 2);
    MM_CHECK_INT(PARSE("--url", "ws://h:1?x"), ==, 2);
    MM_CHECK_INT(PARSE("--url", "ws://[::1/"), ==, 2);
    MM_CHECK_INT(PARSE("--url", "ws://127.0.0.1:1/matchmaker/ws"), ==, 0);
    char why[200];
    MM_CHECK(mm_bench_config_resolve(&cfg, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(cfg.addr.ss_family, ==, AF_INET);
}

static void
test_ip_ranges(void)
{
    char ip[16];
    MM_CHECK_INT(PARSE("--client-ip-range", "10.0.0.1-10.0.255.255"), ==, 0);
    MM_CHECK_U64(cfg.ip_count, ==, 65535);
    mm_bench_config_client_ip(&cfg, 0, ip);
    MM_CHECK_STR(ip, "10.0.0.1");
    mm_bench_config_client_ip(&cfg, 255, ip);
    MM_CHECK_STR(ip, "10.0.1.0");
    mm_bench_config_client_ip(&cfg, 65535, ip); /* wraps */
    MM_CHECK_STR(ip, "10.0.0.1");
    MM_CHECK_INT(PARSE("--client-ip-range", "81.128.157.77/24"), ==, 0);
    MM_CHECK_U64(cfg.ip_count, ==, 256);
    mm_bench_config_client_ip(&cfg, 0, ip);
    MM_CHECK_STR(ip, "81.128.157.0");
    MM_CHECK_INT(PARSE("--client-ip-range", "0.0.0.0/0"), ==, 0);
    MM_CHECK_U64(cfg.ip_count, ==, 4294967296ULL);
    mm_bench_config_client_ip(&cfg, 4294967295ULL, ip);
    MM_CHECK_STR(ip, "255.255.255.255");
    MM_CHECK_INT(PARSE("--client-ip-range", "1.2.3.4"), ==, 0);
    MM_CHECK_U64(cfg.ip_count, ==, 1);
    MM_CHECK_INT(PARSE("--client-ip-range", "10.0.0.9-10.0.0.1"), ==, 2);
    MM_CHECK_INT(PARSE("--client-ip-range", "10.0.0.0/33"), ==, 2);
    MM_CHECK_INT(PARSE("--client-ip-range", "2001:db8::/64"), ==, 2);
    MM_CHECK_INT(PARSE("--client-ip-range", "10.0.0.1-"), ==, 2);
}

/* --source-ips: ranges in turn, round-robin; none; the default settled after resolve. */
static void
test_source_ips(void)
{
    char why[300], text[MM_BENCH_SOURCES_TEXT];
    MM_CHECK_INT(PARSE("--source-ips", "10.0.0.1-10.0.0.3", "--source-ips", "10.1.0.0/31"), ==, 0);
    MM_CHECK_INT(cfg.source_mode, ==, MM_BENCH_SOURCE_RANGES);
    MM_CHECK_U64(cfg.source_total, ==, 5);
    MM_CHECK_U64(mm_bench_config_source_ip(&cfg, 0), ==, 0x0A000001u);
    MM_CHECK_U64(mm_bench_config_source_ip(&cfg, 2), ==, 0x0A000003u);
    MM_CHECK_U64(mm_bench_config_source_ip(&cfg, 3), ==, 0x0A010000u);
    MM_CHECK_U64(mm_bench_config_source_ip(&cfg, 4), ==, 0x0A010001u);
    MM_CHECK_U64(mm_bench_config_source_ip(&cfg, 5), ==, 0x0A000001u); /* wraps */
    mm_bench_config_sources_text(&cfg, text, sizeof(text));
    MM_CHECK_STR(text, "10.0.0.1-10.0.0.3,10.1.0.0-10.1.0.1");
    MM_CHECK_INT(PARSE("--source-ips", "none"), ==, 0);
    MM_CHECK_INT(cfg.source_mode, ==, MM_BENCH_SOURCE_KERNEL);
    MM_CHECK_INT(PARSE("--source-ips", "none", "--source-ips", "10.0.0.1"), ==, 2);
    MM_CHECK_INT(PARSE("--source-ips", "10.0.0.1", "--source-ips", "none"), ==, 2);
    MM_CHECK_INT(PARSE("--source-ips", "0.0.0.0/8"), ==, 2);
    MM_CHECK_INT(PARSE("--source-ips", "224.0.0.1"), ==, 2);
    MM_CHECK_INT(PARSE("--source-ips", "::1"), ==, 2);
    MM_CHECK_INT(PARSE("--source-ips", "bogus"), ==, 2);
    /* the default: a loopback target spreads over 127.0.1.1-127.0.255.254, another the kernel's */
    MM_CHECK_INT(PARSE("--url", "ws://127.0.0.1:3000/"), ==, 0);
    MM_CHECK_INT(cfg.source_mode, ==, MM_BENCH_SOURCE_AUTO);
    MM_CHECK(mm_bench_config_resolve(&cfg, why, sizeof(why)) == MM_OK);
    MM_CHECK(mm_bench_config_sources(&cfg, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(cfg.source_mode, ==, MM_BENCH_SOURCE_RANGES);
    MM_CHECK_U64(cfg.source_total, ==, 65278); /* >= 50 needed for 200/s over 30 s at 120 sessions / 75 s */
    MM_CHECK_INT(PARSE("--url", "ws://[::1]:3000/"), ==, 0);
    MM_CHECK(mm_bench_config_resolve(&cfg, why, sizeof(why)) == MM_OK);
    MM_CHECK(mm_bench_config_sources(&cfg, why, sizeof(why)) == MM_OK);
    MM_CHECK_INT(cfg.source_mode, ==, MM_BENCH_SOURCE_KERNEL);
    MM_CHECK_INT(PARSE("--url", "ws://[::1]:3000/", "--source-ips", "127.0.0.2"), ==, 0);
    MM_CHECK(mm_bench_config_resolve(&cfg, why, sizeof(why)) == MM_OK);
    MM_CHECK(mm_bench_config_sources(&cfg, why, sizeof(why)) == MM_ERR_INVALID);
    MM_CHECK(strstr(why, "not an IPv4 address") != NULL);
}

static void
test_schedule(void)
{
    MM_CHECK_INT(PARSE("--rate", "100", "--duration", "10s"), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_total(&cfg), ==, 1000);
    MM_CHECK_U64(mm_bench_open_loop_offset(&cfg, 0), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_offset(&cfg, 999), ==, 9990000000ULL);
    /* a 5 s ramp: half the requests of the ramp's time, then the full rate */
    MM_CHECK_INT(PARSE("--rate", "100", "--duration", "10s", "--ramp", "5s"), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_total(&cfg), ==, 750);
    MM_CHECK_U64(mm_bench_open_loop_offset(&cfg, 250), ==, 5000000000ULL); /* the ramp ends */
    uint64_t previous = 0, last = 0;
    int monotonic = 1;
    for (uint64_t k = 1; k < 750; k++) {
        last = mm_bench_open_loop_offset(&cfg, k);
        monotonic &= last > previous;
        previous = last;
    }
    MM_CHECK(monotonic);
    MM_CHECK(last < 10000000000ULL);
    MM_CHECK(mm_bench_open_loop_offset(&cfg, 750) >= 10000000000ULL);
    /* during the ramp the gaps shrink: the rate grows */
    MM_CHECK(mm_bench_open_loop_offset(&cfg, 2) - mm_bench_open_loop_offset(&cfg, 1) >
             mm_bench_open_loop_offset(&cfg, 200) - mm_bench_open_loop_offset(&cfg, 199));
    MM_CHECK_INT(PARSE("--rate", "10", "--duration", "4s", "--ramp", "4s"), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_total(&cfg), ==, 20);
    MM_CHECK_INT(PARSE("--rate", "0.5", "--duration", "1s"), ==, 0);
    MM_CHECK_U64(mm_bench_open_loop_total(&cfg), ==, 1);
}

/* The program: --help, a usage error, and the key never echoed. */
static void
test_program(void)
{
    char program[512], outbuf[16384];
    snprintf(program, sizeof(program), "%s/mm_bench", mm_test_build_dir());
    char *help[] = {program, "--help", NULL};
    MM_CHECK_INT(mm_test_run(help, NULL, outbuf, sizeof(outbuf)), ==, 0);
    static const char *const options[] = {"--url", "--rate", "--duration", "--ramp", "--concurrency", "--requests", "--game",
                                          "--version", "--client-ip-range", "--source-ips", "--timeout", "--close-grace", "--verify-key",
                                          "--verify-key-env", "--protocol-id", "--byte-order", "--json", "--plot", "--progress",
                                          "--no-progress", "--help", "connection reuse", "exit status", "--rate-curve",
                                          "--fluid-ceiling", "--requests-csv", "Waiting in line"};
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        if (strstr(outbuf, options[i]) == NULL) {
            fprintf(stderr, "--help does not mention %s\n", options[i]);
            mm_test_failed++;
        } else {
            mm_test_passed++;
        }
    }
    MM_CHECK(strstr(outbuf, "default 75s") != NULL);
    MM_CHECK(strstr(outbuf, "default 1982") != NULL);

    const char *secret = "[201,202,203,204,205,206,207,208,209,210,211,212,213,214,215,216,217,218,219,220,221,222,223,224,225,226,"
                         "227,228,229,230,231]"; /* 31 numbers: refused */
    char *bad[] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", program, "--verify-key", (char *)secret, NULL};
    MM_CHECK_INT(mm_test_run(bad, NULL, outbuf, sizeof(outbuf)), ==, 2);
    MM_CHECK(strncmp(outbuf, "mm_bench: bad --verify-key", 26) == 0);
    MM_CHECK(strstr(outbuf, "213") == NULL);
    MM_CHECK(strchr(outbuf, '\n') == outbuf + strlen(outbuf) - 1); /* one line */
    char *unknown[] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", program, "--verify-keyy=1,2,3", NULL};
    MM_CHECK_INT(mm_test_run(unknown, NULL, outbuf, sizeof(outbuf)), ==, 2);
    MM_CHECK(strstr(outbuf, "1,2,3") == NULL);
}

int
main(void)
{
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    test_defaults_and_modes();
    test_urls();
    test_ip_ranges();
    test_source_ips();
    test_schedule();
    test_program();
    mm_bench_config_wipe(&cfg);
    return MM_TEST_DONE();
}
