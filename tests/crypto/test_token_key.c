/*
 * Private key text (accepted forms, refusals with their reasons, and that no message ever
 * contains the key's numbers) and server address text (parse and format).
 */
#include <sodium.h>

#include "mm/token.h"
#include "mm_test.h"

#define REFERENCE "1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1"

/* A key text of `count` three-digit numbers 150, 151, ...; `sep` between them. */
static void
make_key(char *buf, size_t len, int count, const char *sep)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%d", i ? sep : "", 150 + i);
}

static void
accepts(const char *text, uint8_t first, uint8_t last)
{
    mm_token_key key;
    char why[200] = "";
    mm_err err = mm_token_key_parse(text, &key, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK)
        fprintf(stderr, "refused: %s\n", why);
    MM_CHECK_INT(key.bytes[0], ==, first);
    MM_CHECK_INT(key.bytes[31], ==, last);
    mm_token_key_wipe(&key);
}

/* Refused with a reason containing `reason`, the key left untouched, and none of the key's
 * three-digit numbers (150..199) nor the text itself in the message. */
static void
refuses(const char *text, const char *reason)
{
    mm_token_key key;
    memset(&key, 0xaa, sizeof(key));
    char why[200] = "";
    MM_CHECK_INT(mm_token_key_parse(text, &key, why, sizeof(why)), ==, MM_ERR_INVALID);
    if (strstr(why, reason) == NULL)
        fprintf(stderr, "for a key of %zu chars: reason \"%s\" lacks \"%s\"\n", text ? strlen(text) : 0, why, reason);
    MM_CHECK(strstr(why, reason) != NULL);
    for (int v = 150; v < 200; v++) {
        char num[8];
        snprintf(num, sizeof(num), "%d", v);
        MM_CHECK(strstr(why, num) == NULL);
    }
    if (text != NULL && strlen(text) > 3)
        MM_CHECK(strstr(why, text) == NULL);
    uint8_t untouched[MM_TOKEN_KEY_BYTES];
    memset(untouched, 0xaa, sizeof(untouched));
    MM_CHECK(memcmp(key.bytes, untouched, sizeof(untouched)) == 0);
}

static void
key_cases(void)
{
    char text[512], bad[600];
    accepts(REFERENCE, 1, 1);
    make_key(text, sizeof(text), 32, ",");
    accepts(text, 150, 181);
    snprintf(bad, sizeof(bad), "[%s]", text);
    accepts(bad, 150, 181);
    make_key(text, sizeof(text), 32, " ,\t ");
    snprintf(bad, sizeof(bad), "  [ %s ]\n", text);
    accepts(bad, 150, 181);
    accepts("0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,255", 0, 255);

    make_key(text, sizeof(text), 31, ", ");
    refuses(text, "expected 32 numbers, got 31");
    make_key(text, sizeof(text), 33, ", ");
    refuses(text, "expected 32 numbers, got 33");
    refuses("7", "expected 32 numbers, got 1");
    make_key(text, sizeof(text), 32, ", ");
    memcpy(text + 4 * 5, "256", 3); /* the 5th number: "150, 151, 152, 153, 256, ..." */
    refuses(text, "number 5 is 256, out of range 0..255");
    make_key(text, sizeof(text), 32, ", ");
    memcpy(text + 10, "abc", 3);
    refuses(text, "number 3 is not a number");
    static const char *not_numbers[] = {"-1", "+1", "0x1", "1.5", "1 2", "one", "1e2", "1]2"};
    for (size_t i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++) {
        make_key(text, sizeof(text), 31, ", ");
        snprintf(bad, sizeof(bad), "%s, %s", text, not_numbers[i]);
        refuses(bad, "number 32 is not a number");
    }
    make_key(text, sizeof(text), 31, ", ");
    snprintf(bad, sizeof(bad), "%s, 99999999999999999999", text);
    refuses(bad, "number 32 is out of range 0..255");
    snprintf(bad, sizeof(bad), "%s, 1000", text);
    refuses(bad, "number 32 is 1000, out of range 0..255");
    snprintf(bad, sizeof(bad), "150,,%s", text);
    refuses(bad, "number 2 is empty");
    make_key(text, sizeof(text), 32, ", ");
    snprintf(bad, sizeof(bad), "%s,", text);
    refuses(bad, "number 33 is empty");
    snprintf(bad, sizeof(bad), "[%s", text);
    refuses(bad, "starts with [ but does not end with ]");
    snprintf(bad, sizeof(bad), "%s]", text);
    refuses(bad, "ends with ] but does not start with [");
    snprintf(bad, sizeof(bad), "[[%s]]", text);
    refuses(bad, "number 1 is not a number");
    snprintf(bad, sizeof(bad), "%s;", text);
    refuses(bad, "number 32 is not a number");
    refuses("", "key is empty");
    refuses("  \n", "key is empty");
    refuses("[ ]", "key is empty");
    refuses(NULL, "no key given");

    mm_token_key_wipe(NULL); /* accepts NULL */
    mm_token_key k;
    memset(&k, 1, sizeof(k));
    mm_token_key_wipe(&k);
    MM_CHECK(sodium_is_zero(k.bytes, sizeof(k.bytes)));
}

static void
address_ok(const char *text, int family, const char *formatted)
{
    mm_token_address a;
    char why[200] = "", out[64];
    mm_err err = mm_token_address_parse(text, &a, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK)
        fprintf(stderr, "%s: %s\n", text, why);
    MM_CHECK_INT(a.family, ==, family);
    mm_token_address_format(&a, out, sizeof(out));
    MM_CHECK_STR(out, formatted);
}

static void
address_bad(const char *text, const char *reason)
{
    mm_token_address a;
    char why[200] = "";
    MM_CHECK_INT(mm_token_address_parse(text, &a, why, sizeof(why)), ==, MM_ERR_INVALID);
    if (strstr(why, reason) == NULL)
        fprintf(stderr, "%s: reason \"%s\" lacks \"%s\"\n", text ? text : "(null)", why, reason);
    MM_CHECK(strstr(why, reason) != NULL);
}

static void
address_cases(void)
{
    address_ok("172.104.236.32:30004", 4, "172.104.236.32:30004");
    address_ok("[2001:db8::7]:30005", 6, "[2001:db8::7]:30005");
    address_ok("[2001:0DB8:0:0:0:0:0:7]:1", 6, "[2001:db8::7]:1");
    address_ok("[::ffff:1.2.3.4]:65535", 6, "[::ffff:1.2.3.4]:65535");
    address_ok("0.0.0.0:1", 4, "0.0.0.0:1");

    mm_token_address a;
    char why[200];
    MM_REQUIRE(mm_token_address_parse("172.104.236.32:30004", &a, why, sizeof(why)) == MM_OK);
    const uint8_t octets[4] = {172, 104, 236, 32}; /* network order, as written in the token */
    MM_CHECK(memcmp(a.ip, octets, 4) == 0);
    MM_CHECK_INT(a.port, ==, 30004);

    address_bad("localhost:80", "not an IPv4 address");
    address_bad("256.1.1.1:80", "not an IPv4 address");
    address_bad("[1.2.3.4]:80", "not an IPv6 address");
    address_bad("[::1]", "not [IPV6]:PORT");
    address_bad("::1:80", "write IPv6 addresses as [ADDR]:PORT");
    address_bad("1.2.3.4", "has no port");
    address_bad("1.2.3.4:0", "bad port");
    address_bad("1.2.3.4:65536", "bad port");
    address_bad("1.2.3.4:8x", "bad port");
    address_bad("", "empty address");
    address_bad(NULL, "no address given");

    char small[8];
    mm_token_address_format(&a, small, sizeof(small)); /* truncated, terminated */
    MM_CHECK_STR(small, "172.104");
    a.family = 9;
    char out[64];
    mm_token_address_format(&a, out, sizeof(out));
    MM_CHECK_STR(out, "(invalid address)");
}

int
main(void)
{
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    key_cases();
    address_cases();
    return MM_TEST_DONE();
}
