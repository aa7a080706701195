/*
 * mm_token: mint a connect token, or verify one as a game server would (docs/tokens.md).
 *
 * One command line, one action, one line of output (the token, or one JSON object built with
 * jansson). Exit status: 0 success, 1 the token failed a check or output failed, 2 bad usage.
 * Usage errors are one line on stderr. The private key never appears in any message: the
 * key parser reports positions and counts only, an unknown "--opt=value" is shown without its
 * value, stray arguments are counted, not quoted, and the key's text in argv is overwritten once
 * parsed so it does not linger in /proc/PID/cmdline. The parsed key is wiped on every path.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/clock.h"
#include "mm/parse.h"
#include "mm/token.h"

#define EXIT_BAD_TOKEN 1
#define EXIT_USAGE 2
#define MAX_EXPIRE_SECONDS 31536000 /* one year */
#define MAX_TIMEOUT_SECONDS 86400
#define STDIN_MAX 16384

static const char usage_text[] =
    "usage: mm_token mint --key KEY --protocol-id N --server IP:PORT [--server IP:PORT ...]\n"
    "                     [--client-id N] [--expire-seconds N] [--timeout-seconds N] [--byte-order little|big]\n"
    "       mm_token inspect --key KEY --protocol-id N [--byte-order little|big] [--now UNIX] TOKEN|-\n"
    "\n"
    "Mints a Lightyear / netcode 1.02 connect token, or verifies one as a game server does.\n"
    "\n"
    "  mint     prints the token (standard padded base64 of 2048 bytes) and a newline, nothing else.\n"
    "  inspect  verifies TOKEN (\"-\": read it from stdin) and prints one JSON object:\n"
    "           {\"client_id\": \"N\", \"protocol_id\": \"N\", \"timeout_seconds\": N,\n"
    "            \"addresses\": [\"IP:PORT\", ...], \"create_timestamp\": N, \"expire_timestamp\": N}\n"
    "           The two ids are decimal strings: a u64 does not survive JSON tools that use doubles.\n"
    "\n"
    "options:\n"
    "  --key KEY             the server's private key: 32 numbers 0..255 separated by commas,\n"
    "                        '1, 2, 3, ..., 1' (spaces and surrounding [ ] allowed). Required,\n"
    "                        or --key-env. Never printed.\n"
    "  --key-env NAME        read the key from environment variable NAME (keeps it out of ps).\n"
    "  --protocol-id N       the game's protocol id, 0..18446744073709551615. Required.\n"
    "  --server IP:PORT      a game server: IPv4:PORT or [IPv6]:PORT. mint: required, repeat for\n"
    "                        up to 32, in the order the client should try them.\n"
    "  --client-id N         mint: the client id, 0..18446744073709551615 (default: random).\n"
    "  --expire-seconds N    mint: lifetime of the token, 1..31536000 (default 30).\n"
    "  --timeout-seconds N   mint: connection timeout the token carries, 1..86400, or -1 for\n"
    "                        none (default 15).\n"
    "  --byte-order ORDER    little: netcode standard, Lightyear <= 0.19, bevygap (default);\n"
    "                        big: Lightyear >= 0.20. Applies to every integer of the token.\n"
    "  --now UNIX            inspect: the time to check expiry against (default: the clock).\n"
    "  -h, --help            this text.\n"
    "\n"
    "exit status: 0 success; 1 the token failed a check (reason on stderr) or output failed;\n"
    "2 bad usage (one line on stderr).\n";

enum command { CMD_MINT, CMD_INSPECT };

struct options {
    enum command cmd;
    mm_token_key key;
    int have_key, have_protocol_id, have_client_id, have_now;
    uint64_t protocol_id, client_id, expire_seconds, now;
    int32_t timeout_seconds;
    mm_byte_order order;
    mm_token_address servers[MM_TOKEN_MAX_ADDRESSES];
    uint32_t server_count;
    const char *token_arg;
};

enum { OPT_KEY = 256, OPT_KEY_ENV, OPT_PROTOCOL_ID, OPT_SERVER, OPT_CLIENT_ID, OPT_EXPIRE, OPT_TIMEOUT, OPT_ORDER, OPT_NOW };

static const struct option long_options[] = {
    {"key", required_argument, NULL, OPT_KEY},
    {"key-env", required_argument, NULL, OPT_KEY_ENV},
    {"protocol-id", required_argument, NULL, OPT_PROTOCOL_ID},
    {"server", required_argument, NULL, OPT_SERVER},
    {"client-id", required_argument, NULL, OPT_CLIENT_ID},
    {"expire-seconds", required_argument, NULL, OPT_EXPIRE},
    {"timeout-seconds", required_argument, NULL, OPT_TIMEOUT},
    {"byte-order", required_argument, NULL, OPT_ORDER},
    {"now", required_argument, NULL, OPT_NOW},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mm_token: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see mm_token --help)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static const char *
option_name(int val)
{
    for (const struct option *o = long_options; o->name != NULL; o++)
        if (o->val == val)
            return o->name;
    return "?";
}

/* Applies one option; returns 0 or an exit status. */
static int
option_apply(struct options *o, int val, char *arg)
{
    char why[200];
    uint64_t u = 0;
    int64_t i = 0;
    int mint_only = val == OPT_SERVER || val == OPT_CLIENT_ID || val == OPT_EXPIRE || val == OPT_TIMEOUT;
    if ((mint_only && o->cmd != CMD_MINT) || (val == OPT_NOW && o->cmd != CMD_INSPECT))
        return usage_error("--%s is not an option of %s", option_name(val), o->cmd == CMD_MINT ? "mint" : "inspect");
    switch (val) {
    case OPT_KEY:
    case OPT_KEY_ENV: {
        const char *text = arg;
        if (val == OPT_KEY_ENV && (text = getenv(arg)) == NULL)
            return usage_error("--key-env: environment variable %.60s is not set", arg);
        mm_err err = mm_token_key_parse(text, &o->key, why, sizeof(why));
        if (val == OPT_KEY)
            sodium_memzero(arg, strlen(arg)); /* out of /proc/PID/cmdline */
        if (err != MM_OK)
            return usage_error("bad private key: %s", why);
        o->have_key = 1;
        return 0;
    }
    case OPT_PROTOCOL_ID:
        if (mm_parse_u64(arg, 0, UINT64_MAX, &o->protocol_id, why, sizeof(why)) != MM_OK)
            return usage_error("--protocol-id: %s", why);
        o->have_protocol_id = 1;
        return 0;
    case OPT_SERVER:
        if (o->server_count == MM_TOKEN_MAX_ADDRESSES)
            return usage_error("--server: at most %d addresses fit in a token", MM_TOKEN_MAX_ADDRESSES);
        if (mm_token_address_parse(arg, &o->servers[o->server_count], why, sizeof(why)) != MM_OK)
            return usage_error("--server: %s", why);
        o->server_count++;
        return 0;
    case OPT_CLIENT_ID:
        if (mm_parse_u64(arg, 0, UINT64_MAX, &o->client_id, why, sizeof(why)) != MM_OK)
            return usage_error("--client-id: %s", why);
        o->have_client_id = 1;
        return 0;
    case OPT_EXPIRE:
        if (mm_parse_u64(arg, 1, MAX_EXPIRE_SECONDS, &o->expire_seconds, why, sizeof(why)) != MM_OK)
            return usage_error("--expire-seconds: %s", why);
        return 0;
    case OPT_TIMEOUT:
        if (mm_parse_i64(arg, -1, MAX_TIMEOUT_SECONDS, &i, why, sizeof(why)) != MM_OK)
            return usage_error("--timeout-seconds: %s", why);
        if (i == 0)
            return usage_error("--timeout-seconds: 0 would time out at once; use -1 for no timeout");
        o->timeout_seconds = (int32_t)i;
        return 0;
    case OPT_ORDER:
        if (strcmp(arg, "little") != 0 && strcmp(arg, "big") != 0)
            return usage_error("--byte-order: '%.20s' is neither little nor big", arg);
        o->order = arg[0] == 'b' ? MM_BYTE_ORDER_BIG : MM_BYTE_ORDER_LITTLE;
        return 0;
    case OPT_NOW:
        if (mm_parse_u64(arg, 0, UINT64_MAX, &u, why, sizeof(why)) != MM_OK)
            return usage_error("--now: %s", why);
        o->now = u;
        o->have_now = 1;
        return 0;
    default:
        return usage_error("internal error: unhandled option");
    }
}

/* Parses argv (argv[0] is the command name); returns 0, or an exit status (-1: help shown). */
static int
options_parse(struct options *o, int argc, char **argv)
{
    opterr = 0;
    optind = 1;
    int val;
    while ((val = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        if (val == 'h') {
            fputs(usage_text, stdout);
            return -1;
        }
        if (val == ':')
            return usage_error("--%s needs a value", option_name(optopt));
        if (val == '?') {
            if (optopt != 0)
                return usage_error("unknown option -%c", optopt);
            const char *bad = argv[optind - 1];
            size_t n = strcspn(bad, "="); /* never show a value: it may be a key */
            return usage_error("unknown option %.*s", (int)(n > 40 ? 40 : n), bad);
        }
        int status = option_apply(o, val, optarg);
        if (status != 0)
            return status;
    }
    int positional = argc - optind;
    if (o->cmd == CMD_MINT && positional != 0)
        return usage_error("mint takes no arguments besides options, got %d", positional);
    if (o->cmd == CMD_INSPECT && positional != 1)
        return usage_error("inspect takes one TOKEN argument (or - for stdin), got %d", positional);
    if (o->cmd == CMD_INSPECT)
        o->token_arg = argv[optind];
    if (!o->have_key)
        return usage_error("--key is required (the server's private key, 32 numbers 0..255)");
    if (!o->have_protocol_id)
        return usage_error("--protocol-id is required");
    if (o->cmd == CMD_MINT && o->server_count == 0)
        return usage_error("--server is required (at least one IP:PORT)");
    return 0;
}

static int
run_mint(const struct options *o)
{
    uint64_t client_id = o->client_id;
    if (!o->have_client_id)
        randombytes_buf(&client_id, sizeof(client_id));
    char b64[MM_TOKEN_BASE64_LEN + 1];
    mm_err err = mm_token_mint(&o->key, o->order, o->protocol_id, client_id, o->servers, o->server_count, mm_unix_seconds(),
                               o->expire_seconds, o->timeout_seconds, b64, sizeof(b64));
    if (err != MM_OK) {
        fprintf(stderr, "mm_token: minting failed: %s\n", mm_err_str(err));
        return EXIT_BAD_TOKEN;
    }
    int ok = printf("%s\n", b64) > 0 && fflush(stdout) == 0;
    sodium_memzero(b64, sizeof(b64));
    if (!ok) {
        fprintf(stderr, "mm_token: could not write the token to stdout\n");
        return EXIT_BAD_TOKEN;
    }
    return 0;
}

/* Reads the whole of stdin (at most STDIN_MAX - 1 bytes) into buf as a string. */
static int
read_stdin(char *buf, size_t len)
{
    size_t got = fread(buf, 1, len - 1, stdin);
    buf[got] = '\0';
    if (ferror(stdin)) {
        fprintf(stderr, "mm_token: could not read the token from stdin\n");
        return EXIT_BAD_TOKEN;
    }
    if (got == len - 1 && fgetc(stdin) != EOF) {
        fprintf(stderr, "mm_token: invalid token: more than %zu bytes on stdin\n", len - 1);
        return EXIT_BAD_TOKEN;
    }
    return 0;
}

/* Timestamps of real tokens are far below 2^63; a larger one is shown as a decimal string. */
static json_t *
json_timestamp(uint64_t v)
{
    if (v <= INT64_MAX)
        return json_integer((json_int_t)v);
    char text[24];
    snprintf(text, sizeof(text), "%" PRIu64, v);
    return json_string(text);
}

/* The JSON object for a verified token (NULL when out of memory). */
static json_t *
inspect_json(const mm_token_decoded *t)
{
    char client_id[24], protocol_id[24], addr[64];
    snprintf(client_id, sizeof(client_id), "%" PRIu64, t->client_id);
    snprintf(protocol_id, sizeof(protocol_id), "%" PRIu64, t->protocol_id);
    json_t *addresses = json_array();
    for (uint32_t i = 0; addresses != NULL && i < t->address_count; i++) {
        mm_token_address_format(&t->addresses[i], addr, sizeof(addr));
        if (json_array_append_new(addresses, json_string(addr)) != 0) {
            json_decref(addresses);
            addresses = NULL;
        }
    }
    if (addresses == NULL)
        return NULL;
    return json_pack("{s:s, s:s, s:i, s:o, s:o, s:o}", "client_id", client_id, "protocol_id", protocol_id, "timeout_seconds",
                     (int)t->timeout_seconds, "addresses", addresses, "create_timestamp", json_timestamp(t->create_timestamp),
                     "expire_timestamp", json_timestamp(t->expire_timestamp));
}

static int
run_inspect(const struct options *o)
{
    static char stdin_text[STDIN_MAX];
    uint8_t token[MM_TOKEN_BYTES];
    mm_token_decoded decoded;
    char why[200];
    int status = EXIT_BAD_TOKEN;
    json_t *obj = NULL;
    char *text = NULL;
    const char *b64 = o->token_arg;
    if (strcmp(b64, "-") == 0) {
        if ((status = read_stdin(stdin_text, sizeof(stdin_text))) != 0)
            goto cleanup;
        status = EXIT_BAD_TOKEN;
        b64 = stdin_text;
    }
    if (mm_token_from_base64(b64, token, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_token: invalid token: %s\n", why);
        goto cleanup;
    }
    uint64_t now = o->have_now ? o->now : mm_unix_seconds();
    if (mm_token_decode(token, &o->key, o->order, o->protocol_id, now, &decoded, why, sizeof(why)) != MM_OK) {
        fprintf(stderr, "mm_token: token rejected: %s\n", why);
        goto cleanup;
    }
    obj = inspect_json(&decoded);
    text = obj != NULL ? json_dumps(obj, 0) : NULL;
    if (text == NULL) {
        fprintf(stderr, "mm_token: out of memory\n");
        goto cleanup;
    }
    if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "mm_token: could not write to stdout\n");
        goto cleanup;
    }
    status = 0;
cleanup:
    free(text);
    json_decref(obj);
    sodium_memzero(&decoded, sizeof(decoded));
    sodium_memzero(token, sizeof(token));
    return status;
}

int
main(int argc, char **argv)
{
    struct options o = {
        .expire_seconds = MM_TOKEN_DEFAULT_EXPIRE_SECONDS,
        .timeout_seconds = MM_TOKEN_DEFAULT_TIMEOUT_SECONDS,
        .order = MM_BYTE_ORDER_LITTLE,
    };
    int status;
    if (argc < 2)
        return usage_error("missing command: mint or inspect");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(argv[1], "mint") == 0)
        o.cmd = CMD_MINT;
    else if (strcmp(argv[1], "inspect") == 0)
        o.cmd = CMD_INSPECT;
    else
        return usage_error("unknown command (expected mint or inspect)");
    if (mm_crypto_init() != MM_OK) {
        fprintf(stderr, "mm_token: libsodium could not be initialised\n");
        return EXIT_BAD_TOKEN;
    }
    status = options_parse(&o, argc - 1, argv + 1);
    if (status == 0)
        status = o.cmd == CMD_MINT ? run_mint(&o) : run_inspect(&o);
    else if (status < 0)
        status = 0;
    mm_token_key_wipe(&o.key);
    return status;
}
