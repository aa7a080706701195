/* Strict parsers: what they accept and the reasons they give for what they refuse. */
#include <string.h>

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

    /* The flag reader shared by the programs' command lines. */
    char *argv[] = {"prog", "--a", "1", "--b=2", "--c=", "-h", "--flag-without-value", "--last", NULL};
    mm_args a;
    mm_flag f;
    mm_args_init(&a, 8, argv);
    MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, 1);
    MM_CHECK_STR(f.name, "--a");
    MM_CHECK(f.inline_value == NULL);
    MM_CHECK_STR(mm_args_value(&a, &f), "1");
    MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, 1);
    MM_CHECK_STR(f.name, "--b");
    MM_CHECK_STR(mm_args_value(&a, &f), "2");
    MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, 1);
    MM_CHECK_STR(f.name, "--c");
    MM_CHECK_STR(mm_args_value(&a, &f), ""); /* an empty inline value is a value */
    MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, 1);
    MM_CHECK_STR(f.name, "--help");
    MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, 1);
    MM_CHECK_STR(f.name, "--flag-without-value"); /* the caller knows it takes none: no value read */
    MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, 1);
    MM_CHECK_STR(f.name, "--last");
    MM_CHECK(mm_args_value(&a, &f) == NULL); /* a value is missing at the end */
    MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, 0);

    char long_name[80];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[0] = long_name[1] = '-';
    long_name[sizeof(long_name) - 1] = '\0';
    char *bad[] = {"prog", "positional", "-x", "--", "--=v", long_name, NULL};
    mm_args_init(&a, 6, bad);
    for (int k = 0; k < 5; k++) {
        why[0] = '\0';
        MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, -1);
        MM_CHECK(why[0] != '\0');
    }
    MM_CHECK(strstr(why, "too long") != NULL);
    MM_CHECK_INT(mm_args_flag(&a, &f, why, sizeof(why)), ==, 0);
    return MM_TEST_DONE();
}
