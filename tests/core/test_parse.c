/* Strict parsers: what they accept and the reasons they give for what they refuse. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mm/parse.h"
#include "mm_test.h"

/* ---- flag tables (mm_opts_*) ---- */

typedef struct inner {
    uint32_t n;
} inner;

typedef struct opts {
    uint64_t big;
    int small;
    int64_t signed_ms;
    const char *name;
    bool on;
    int level;
    char custom[16];
    inner in;
} opts;

static mm_err
set_custom(void *o, const char *v, char *why, size_t why_len)
{
    if (strcmp(v, "bad") == 0)
        return mm_fail(MM_ERR_INVALID, why, why_len, "not that");
    snprintf(((opts *)o)->custom, sizeof(((opts *)o)->custom), "%s", v);
    return MM_OK;
}

static const mm_opt own[] = {
    {"--big", MM_OPT_U64, offsetof(opts, big), 1, UINT64_MAX, "N", "a big one", NULL, NULL, NULL},
    {"--small", MM_OPT_INT, offsetof(opts, small), 0, 5, "N", "a small one", NULL, NULL, NULL},
    {"--ms", MM_OPT_I64, offsetof(opts, signed_ms), (uint64_t)(int64_t)-1, 1000, "MS", "-1: never", NULL, NULL, NULL},
    {"--name", MM_OPT_STR, offsetof(opts, name), 0, 0, "NAME", "a name", NULL, NULL, NULL},
    {"--on", MM_OPT_SWITCH, offsetof(opts, on), 0, 0, NULL, "a switch", "", NULL, NULL},
    {"--level", MM_OPT_ENUM, offsetof(opts, level), 0, 0, "L", "a level", NULL, mm_opt_log_levels, NULL},
    {"--custom", MM_OPT_CUSTOM, 0, 0, 0, "X", "a custom one", "made up", NULL, set_custom},
};
static const mm_opt inner_opts[] = {
    {"--inner", MM_OPT_U32, offsetof(inner, n), 1, 10, "N", "an embedded one", NULL, NULL, NULL},
};
static const mm_opt_table tables[] = {
    {.opts = own, .n = sizeof(own) / sizeof(own[0])},
    {.opts = inner_opts, .n = 1, .base = offsetof(opts, in)},
};

static void
opts_init(opts *o)
{
    memset(o, 0, sizeof(*o));
    o->big = 7;
    o->signed_ms = 250;
    o->name = "anon";
    o->level = 1;
    o->in.n = 3;
}

/* Parses the NULL-ended words; returns mm_opts_parse's answer, the reason in why. */
static int
parse(opts *o, char *why, size_t why_len, ...)
{
    char *argv[16] = {"prog"};
    int argc = 1;
    va_list ap;
    va_start(ap, why_len);
    for (char *w; argc < 15 && (w = va_arg(ap, char *)) != NULL;)
        argv[argc++] = w;
    va_end(ap);
    opts_init(o);
    why[0] = '\0';
    return mm_opts_parse(tables, 2, o, argc, argv, why, why_len);
}

static void
test_opts(void)
{
    opts o;
    char why[200];
    MM_CHECK_INT(parse(&o, why, sizeof(why), "--big", "18446744073709551615", "--small=5", "--ms", "-1", "--name", "x", "--on",
                       "--level=error", "--custom", "c1", "--inner", "10", (char *)NULL),
                 ==, 0);
    MM_CHECK_U64(o.big, ==, UINT64_MAX);
    MM_CHECK_INT(o.small, ==, 5);
    MM_CHECK(o.signed_ms == -1);
    MM_CHECK_STR(o.name, "x");
    MM_CHECK(o.on);
    MM_CHECK_INT(o.level, ==, 3);
    MM_CHECK_STR(o.custom, "c1");
    MM_CHECK_INT((int)o.in.n, ==, 10);
    /* the defaults stay when no flag is given */
    MM_CHECK_INT(parse(&o, why, sizeof(why), (char *)NULL), ==, 0);
    MM_CHECK_U64(o.big, ==, 7);
    MM_CHECK_INT(parse(&o, why, sizeof(why), "--big", "1", "-h", "--bogus", (char *)NULL), ==, 1);
    MM_CHECK_U64(o.big, ==, 1);

    const struct {
        const char *a, *b, *reason;
    } bad[] = {
        {"--bogus", "1", "--bogus: unknown flag"},
        {"--big", NULL, "--big: needs a value"},
        {"--big", "0", "--big: 0 is out of range 1..18446744073709551615"},
        {"--small", "6", "--small: 6 is out of range 0..5"},
        {"--small", "-1", "--small: '-1' is not a whole number"},
        {"--ms", "-2", "--ms: -2 is out of range -1..1000"},
        {"--on=yes", NULL, "--on: takes no value"},
        {"--level", "loud", "--level: must be debug, info, warn or error"},
        {"--custom", "bad", "--custom: not that"},
        {"--inner", "11", "--inner: 11 is out of range 1..10"},
        {"-x", NULL, "command line: '-x' is not a flag"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        MM_CHECK_INT(parse(&o, why, sizeof(why), bad[i].a, bad[i].b, (char *)NULL), ==, -1);
        if (strstr(why, bad[i].reason) == NULL)
            fprintf(stderr, "'%s': \"%s\" lacks \"%s\"\n", bad[i].a, why, bad[i].reason);
        MM_CHECK(strstr(why, bad[i].reason) != NULL);
    }

    /* one flag at a time, as mm_front_config_flag does */
    const mm_opt_table *t = NULL;
    const mm_opt *inner_flag = mm_opt_find(tables, 2, "inner", &t);
    MM_REQUIRE(inner_flag != NULL);
    MM_CHECK(t == &tables[1]);
    MM_CHECK(mm_opt_find(tables, 2, "--nope", NULL) == NULL);
    inner in = {0};
    MM_CHECK(mm_opt_apply(inner_flag, &in, "4", why, sizeof(why)) == MM_OK && in.n == 4);

    /* --help: every flag, its metavar, and the default read from the defaults given */
    char text[2048];
    opts_init(&o);
    size_t n = mm_opts_usage(tables, 2, &o, 12, text, sizeof(text));
    MM_CHECK(n == strlen(text));
    MM_CHECK(strstr(text, "  --big N      a big one (default 7)\n") != NULL);
    MM_CHECK(strstr(text, "  --small N    a small one (default 0)\n") != NULL);
    MM_CHECK(strstr(text, "  --ms MS      -1: never (default 250)\n") != NULL);
    MM_CHECK(strstr(text, "  --name NAME  a name (default anon)\n") != NULL);
    MM_CHECK(strstr(text, "  --on         a switch\n") != NULL);
    MM_CHECK(strstr(text, "  --level L    a level (default info)\n") != NULL);
    MM_CHECK(strstr(text, "  --custom X   a custom one (default made up)\n") != NULL);
    MM_CHECK(strstr(text, "  --inner N    an embedded one (default 3)\n") != NULL);
    /* a flag two tables name is parsed by the first and listed once */
    static const mm_opt twice[] = {
        {"--big", MM_OPT_U64, offsetof(inner, n), 1, 10, "N", "the shadowed copy", NULL, NULL, NULL},
        {"--inner", MM_OPT_U32, offsetof(inner, n), 1, 10, "N", "an embedded one", NULL, NULL, NULL},
    };
    const mm_opt_table dup[] = {tables[0], {.opts = twice, .n = 2, .base = offsetof(opts, in)}};
    mm_opts_usage(dup, 2, &o, 12, text, sizeof(text));
    MM_CHECK(strstr(text, "  --big N      a big one (default 7)\n") != NULL);
    MM_CHECK(strstr(text, "the shadowed copy") == NULL);
    MM_CHECK(strstr(text, "  --inner N    an embedded one (default 3)\n") != NULL);
    char *dup_argv[] = {"prog", "--big", "20", NULL};
    opts_init(&o);
    MM_CHECK_INT(mm_opts_parse(dup, 2, &o, 3, dup_argv, why, sizeof(why)), ==, 0);
    MM_CHECK_U64(o.big, ==, 20);
    MM_CHECK_U64(o.in.n, ==, 3);
    /* a short buffer is cut at a line */
    size_t cut = mm_opts_usage(tables, 2, &o, 12, text, 60);
    MM_CHECK(cut > 0 && cut < 60 && text[cut - 1] == '\n' && text[cut] == '\0');
}

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
    test_opts();
    return MM_TEST_DONE();
}
