/*
 * The mm_token program, run as a user would: mint piped into inspect, the JSON it prints,
 * failures (exit 1 with a reason), usage errors (exit 2, one line) and that neither ever shows
 * the private key.
 */
#include <jansson.h>
#include <stdlib.h>

#include "mm_test.h"

#define KEY "1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1"
/* A key with distinctive numbers, to search for in messages. */
#define KEY2                                                                                                                       \
    "150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, "          \
    "173, 174, 175, 176, 177, 178, 179, 180, 181"
#define KEY2_31                                                                                                                    \
    "150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, "          \
    "173, 174, 175, 176, 177, 178, 179, 180"

static char program[512];
static char out[16384];

/* Runs mm_token with args (NULL-terminated), stdout and stderr both into out; returns the exit status. */
static int
run_both(const char *stdin_text, char *const args[])
{
    char *argv[100] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", program};
    int n = 4;
    for (int i = 0; args[i] != NULL && n < 99; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return mm_test_run(argv, stdin_text, out, sizeof(out));
}

/* Runs mm_token with args, stdout only into out (stderr goes to the test's log). */
static int
run(const char *stdin_text, char *const args[])
{
    char *argv[100] = {program};
    int n = 1;
    for (int i = 0; args[i] != NULL && n < 99; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return mm_test_run(argv, stdin_text, out, sizeof(out));
}

static json_t *
parse_json(const char *text)
{
    json_error_t err;
    json_t *obj = json_loads(text, 0, &err);
    if (obj == NULL)
        fprintf(stderr, "not JSON (%s): %.200s\n", err.text, text);
    return obj;
}

static void
mint_inspect_roundtrip(const char *order)
{
    static char token[sizeof(out)];
    char *mint[] = {"mint",
                    "--key",
                    KEY,
                    "--protocol-id",
                    "80085",
                    "--server",
                    "172.104.236.32:30004",
                    "--server",
                    "[2001:db8::7]:30005",
                    "--client-id",
                    "18446744073709551615",
                    "--byte-order",
                    (char *)order,
                    NULL};
    MM_CHECK_INT(run(NULL, mint), ==, 0);
    MM_CHECK_INT(strlen(out), ==, 2733); /* the token and a newline, nothing else */
    MM_CHECK(out[2732] == '\n' && out[2731] == '=');
    snprintf(token, sizeof(token), "%s", out);

    char *inspect[] = {"inspect", "--key", KEY, "--protocol-id", "80085", "--byte-order", (char *)order, "-", NULL};
    MM_CHECK_INT(run(token, inspect), ==, 0);
    json_t *obj = parse_json(out);
    MM_REQUIRE(obj != NULL);
    MM_CHECK_INT(json_object_size(obj), ==, 6);
    MM_CHECK_STR(json_string_value(json_object_get(obj, "client_id")), "18446744073709551615");
    MM_CHECK_STR(json_string_value(json_object_get(obj, "protocol_id")), "80085");
    MM_CHECK_INT(json_integer_value(json_object_get(obj, "timeout_seconds")), ==, 15);
    json_t *addrs = json_object_get(obj, "addresses");
    MM_CHECK_INT(json_array_size(addrs), ==, 2);
    MM_CHECK_STR(json_string_value(json_array_get(addrs, 0)), "172.104.236.32:30004");
    MM_CHECK_STR(json_string_value(json_array_get(addrs, 1)), "[2001:db8::7]:30005");
    json_int_t create = json_integer_value(json_object_get(obj, "create_timestamp"));
    json_int_t expire = json_integer_value(json_object_get(obj, "expire_timestamp"));
    MM_CHECK(create > 1700000000);
    MM_CHECK_INT(expire - create, ==, 30);
    MM_CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
    json_decref(obj);

    /* The other byte order, another protocol id, another key, a later clock: exit 1 with a reason. */
    const char *other = strcmp(order, "big") == 0 ? "little" : "big";
    char *wrong_order[] = {"inspect", "--key", KEY, "--protocol-id", "80085", "--byte-order", (char *)other, "-", NULL};
    MM_CHECK_INT(run_both(token, wrong_order), ==, 1);
    MM_CHECK(strstr(out, "token rejected: protocol id") != NULL);
    char *wrong_key[] = {"inspect", "--key", KEY2, "--protocol-id", "80085", "--byte-order", (char *)order, "-", NULL};
    MM_CHECK_INT(run_both(token, wrong_key), ==, 1);
    MM_CHECK(strstr(out, "does not open with this key") != NULL);
    char later[32];
    snprintf(later, sizeof(later), "%lld", (long long)expire);
    char *expired[] = {"inspect", "--key", KEY, "--protocol-id", "80085", "--byte-order", (char *)order, "--now", later, "-", NULL};
    MM_CHECK_INT(run_both(token, expired), ==, 1);
    MM_CHECK(strstr(out, "expired") != NULL);
}

static void
options_and_defaults(void)
{
    /* Random client ids; --expire-seconds and --timeout-seconds carried through. */
    static char t1[sizeof(out)], t2[sizeof(out)];
    char *mint[] = {
        "mint", "--key", KEY, "--protocol-id", "7", "--server", "10.0.0.1:1", "--expire-seconds", "600", "--timeout-seconds",
        "-1",   NULL};
    MM_CHECK_INT(run(NULL, mint), ==, 0);
    snprintf(t1, sizeof(t1), "%s", out);
    MM_CHECK_INT(run(NULL, mint), ==, 0);
    snprintf(t2, sizeof(t2), "%s", out);
    MM_CHECK(strcmp(t1, t2) != 0);
    char *inspect[] = {"inspect", "--protocol-id", "7", "--key", KEY, "-", NULL};
    MM_CHECK_INT(run(t1, inspect), ==, 0);
    json_t *a = parse_json(out);
    MM_CHECK_INT(run(t2, inspect), ==, 0);
    json_t *b = parse_json(out);
    MM_REQUIRE(a != NULL && b != NULL);
    MM_CHECK(strcmp(json_string_value(json_object_get(a, "client_id")), json_string_value(json_object_get(b, "client_id"))) != 0);
    MM_CHECK_INT(json_integer_value(json_object_get(a, "timeout_seconds")), ==, -1);
    MM_CHECK_INT(json_integer_value(json_object_get(a, "expire_timestamp")) -
                     json_integer_value(json_object_get(a, "create_timestamp")),
                 ==, 600);
    json_decref(a);
    json_decref(b);

    /* --key-env reads the key from the environment; the token as an argument instead of stdin. */
    setenv("MM_TEST_LY_KEY", KEY, 1);
    t1[strcspn(t1, "\n")] = '\0';
    char *env_inspect[] = {"inspect", "--key-env", "MM_TEST_LY_KEY", "--protocol-id", "7", t1, NULL};
    MM_CHECK_INT(run(NULL, env_inspect), ==, 0);
    MM_CHECK(strstr(out, "\"client_id\"") != NULL);
    char *env_missing[] = {"inspect", "--key-env", "MM_TEST_LY_KEY_UNSET", "--protocol-id", "7", t1, NULL};
    MM_CHECK_INT(run_both(NULL, env_missing), ==, 2);
    MM_CHECK(strstr(out, "MM_TEST_LY_KEY_UNSET is not set") != NULL);

    /* Not a token at all. */
    char *garbage[] = {"inspect", "--key", KEY, "--protocol-id", "7", "-", NULL};
    MM_CHECK_INT(run_both("hello", garbage), ==, 1);
    MM_CHECK(strstr(out, "invalid token") != NULL);
    MM_CHECK_INT(run_both("", garbage), ==, 1);

    char *help[] = {"--help", NULL};
    MM_CHECK_INT(run(NULL, help), ==, 0);
    static const char *documented[] = {"mint",          "inspect",
                                       "--key",         "--key-env",
                                       "--protocol-id", "--server",
                                       "--client-id",   "--expire-seconds",
                                       "default 30",    "--timeout-seconds",
                                       "default 15",    "--byte-order",
                                       "little",        "big",
                                       "--now",         "exit status"};
    for (size_t i = 0; i < sizeof(documented) / sizeof(documented[0]); i++)
        MM_CHECK(strstr(out, documented[i]) != NULL);
    char *mint_help[] = {"mint", "--help", NULL};
    MM_CHECK_INT(run(NULL, mint_help), ==, 0);
    MM_CHECK(strstr(out, "--byte-order") != NULL);
}

/* Whether text contains the number v as a whole number (not inside a longer one). */
static int
has_number(const char *text, int v)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || (p > text && p[-1] >= '0' && p[-1] <= '9'))
            continue;
        char *end;
        long n = strtol(p, &end, 10);
        if (n == v)
            return 1;
    }
    return 0;
}

/* Exit 2, one line naming the problem, and no trace of KEY2's numbers. */
static void
usage_fails(const char *expect, char *const args[])
{
    int status = run_both(NULL, args);
    MM_CHECK_INT(status, ==, 2);
    if (strstr(out, expect) == NULL)
        fprintf(stderr, "expected \"%s\" in: %s", expect, out);
    MM_CHECK(strstr(out, expect) != NULL);
    MM_CHECK(strchr(out, '\n') == out + strlen(out) - 1);
    for (int v = 150; v <= 181; v++) {
        if (has_number(out, v))
            fprintf(stderr, "key number %d shown in: %s", v, out);
        MM_CHECK(!has_number(out, v));
    }
}

static void
bad_usage(void)
{
    usage_fails("expected 32 numbers, got 31",
                (char *[]){"mint", "--key", KEY2_31, "--protocol-id", "1", "--server", "1.2.3.4:5", NULL});
    usage_fails("expected 32 numbers, got 31", (char *[]){"inspect", "--key=" KEY2_31, "--protocol-id", "1", "-", NULL});
    usage_fails("unknown option --kye", (char *[]){"mint", "--kye=" KEY2, "--protocol-id", "1", NULL});
    usage_fails("mint takes no arguments", (char *[]){"mint", KEY2, "--protocol-id", "1", "--server", "1.2.3.4:5", NULL});
    usage_fails("inspect takes one TOKEN", (char *[]){"inspect", "--key", KEY2, "--protocol-id", "1", "a", KEY2, NULL});
    usage_fails("unknown command", (char *[]){KEY2, NULL});
    usage_fails("--key is required", (char *[]){"mint", "--protocol-id", "1", "--server", "1.2.3.4:5", NULL});
    usage_fails("--protocol-id is required", (char *[]){"mint", "--key", KEY2, "--server", "1.2.3.4:5", NULL});
    usage_fails("--server is required", (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", NULL});
    usage_fails("--protocol-id: 'abc' is not a whole number",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "abc", "--server", "1.2.3.4:5", NULL});
    usage_fails("--protocol-id: '-1' is not a whole number",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "-1", "--server", "1.2.3.4:5", NULL});
    usage_fails("too large",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "18446744073709551616", "--server", "1.2.3.4:5", NULL});
    usage_fails("--expire-seconds: 0 is out of range",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", "--server", "1.2.3.4:5", "--expire-seconds", "0", NULL});
    usage_fails("--timeout-seconds: 0 would time out",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", "--server", "1.2.3.4:5", "--timeout-seconds", "0", NULL});
    usage_fails("--timeout-seconds: -2 is out of range",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", "--server", "1.2.3.4:5", "--timeout-seconds", "-2", NULL});
    usage_fails("--client-id",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", "--server", "1.2.3.4:5", "--client-id", "x", NULL});
    usage_fails("--byte-order: 'middle' is neither",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", "--server", "1.2.3.4:5", "--byte-order", "middle", NULL});
    usage_fails("--server: 'example.com' is not an IPv4 address",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", "--server", "example.com:80", NULL});
    usage_fails("--server needs a value", (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", "--server", NULL});
    usage_fails("--now is not an option of mint",
                (char *[]){"mint", "--key", KEY2, "--protocol-id", "1", "--server", "1.2.3.4:5", "--now", "1", NULL});
    usage_fails("--server is not an option of inspect",
                (char *[]){"inspect", "--key", KEY2, "--protocol-id", "1", "--server", "1.2.3.4:5", "-", NULL});
    usage_fails("--now: ", (char *[]){"inspect", "--key", KEY2, "--protocol-id", "1", "--now", "soon", "-", NULL});
    usage_fails("missing command", (char *[]){NULL});

    char *many[80] = {"mint", "--key", KEY2, "--protocol-id", "1"};
    int n = 5;
    for (int i = 0; i < 33; i++) {
        many[n++] = "--server";
        many[n++] = "1.2.3.4:5";
    }
    many[n] = NULL;
    usage_fails("--server: at most 32 addresses", many);
}

int
main(void)
{
    snprintf(program, sizeof(program), "%s/mm_token", mm_test_build_dir());
    mint_inspect_roundtrip("little");
    mint_inspect_roundtrip("big");
    options_and_defaults();
    bad_usage();
    return MM_TEST_DONE();
}
