/* Strict parsers: what they accept and the reasons they give for what they refuse. */
#include "mm/parse.h"
#include "mm_test.h"

int
main(void)
{
    uint64_t u = 0;
    char why[160];
    MM_CHECK_INT(mm_parse_u64("1982", 0, UINT64_MAX, &u, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_U64(u, ==, 1982);
    MM_CHECK_INT(mm_parse_u64("18446744073709551615", 0, UINT64_MAX, &u, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_U64(u, ==, UINT64_MAX);
    MM_CHECK_INT(mm_parse_u64("18446744073709551616", 0, UINT64_MAX, &u, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "too large") != NULL);
    MM_CHECK_INT(mm_parse_u64("-1", 0, UINT64_MAX, &u, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_parse_u64(" 1", 0, UINT64_MAX, &u, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_parse_u64("1x", 0, UINT64_MAX, &u, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_parse_u64("", 0, UINT64_MAX, &u, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_parse_u64("70", 1, 60, &u, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "out of range 1..60") != NULL);

    int64_t i = 0;
    MM_CHECK_INT(mm_parse_i64("-5", -10, 10, &i, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(i, ==, -5);
    MM_CHECK_INT(mm_parse_i64("-", -10, 10, &i, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_parse_i64("11", -10, 10, &i, why, sizeof(why)), ==, MM_ERR_INVALID);

    char host[64];
    uint16_t port = 0;
    MM_CHECK_INT(mm_parse_host_port("127.0.0.1:4222", host, sizeof(host), &port, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(host, "127.0.0.1");
    MM_CHECK_INT(port, ==, 4222);
    MM_CHECK_INT(mm_parse_host_port("[2001:db8::7]:30005", host, sizeof(host), &port, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(host, "2001:db8::7");
    MM_CHECK_INT(port, ==, 30005);
    MM_CHECK_INT(mm_parse_host_port("2001:db8::7:30005", host, sizeof(host), &port, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_parse_host_port("host:0", host, sizeof(host), &port, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_parse_host_port("host", host, sizeof(host), &port, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_parse_host_port(":80", host, sizeof(host), &port, why, sizeof(why)), ==, MM_ERR_INVALID);
    return MM_TEST_DONE();
}
