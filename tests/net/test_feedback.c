/*
 * Feedback messages: byte-exact serde_json text for every variant and for tricky strings
 * (escapes, lowercase \u hex, DEL, '/', non-ASCII, invalid UTF-8), checked against expected
 * strings and against an independent implementation of serde_json's escaping on random
 * strings; decoding round trips; malformed and unknown forms refused.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/feedback.h"
#include "mm_test.h"

/* ---- encoders: exact bytes ---- */

/* Takes pointers: the encoder call in the same argument list runs before these are read. */
static void
check_text(mm_err err, char **text, size_t *len, const char *expected)
{
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK)
        return;
    MM_CHECK_STR(*text, expected);
    MM_CHECK_U64(*len, ==, strlen(expected));
    free(*text);
    *text = NULL;
}

static void
test_variants(void)
{
    char *t = NULL;
    size_t n = 0;
    check_text(mm_feedback_acknowledged(&t, &n), &t, &n, "\"Acknowledged\"");
    check_text(mm_feedback_accepted("950dd2eaff09-S", &t, &n), &t, &n, "{\"SessionRequestAccepted\":\"950dd2eaff09-S\"}");
    check_text(mm_feedback_progress("Status.SEEKING", 3, &t, &n), &t, &n, "{\"ProgressReport\":\"Status.SEEKING (3)\"}");
    check_text(mm_feedback_progress("Ready", -1, &t, &n), &t, &n, "{\"ProgressReport\":\"Ready (-1)\"}");
    check_text(mm_feedback_ready("AAAA+/==", "172.104.236.32", 30004, "e3:76:0a", &t, &n), &t, &n,
               "{\"SessionReady\":{\"token\":\"AAAA+/==\",\"ip\":\"172.104.236.32\",\"port\":30004,"
               "\"cert_digest\":\"e3:76:0a\"}}");
    check_text(mm_feedback_ready("", "::1", 0, "", &t, &n), &t, &n,
               "{\"SessionReady\":{\"token\":\"\",\"ip\":\"::1\",\"port\":0,\"cert_digest\":\"\"}}");
    check_text(mm_feedback_ready("t", "i", 65535, "d", &t, &n), &t, &n,
               "{\"SessionReady\":{\"token\":\"t\",\"ip\":\"i\",\"port\":65535,\"cert_digest\":\"d\"}}");
    check_text(mm_feedback_error(408, "session still not ready, timed out.", &t, &n), &t, &n,
               "{\"Error\":[408,\"session still not ready, timed out.\"]}");
    check_text(mm_feedback_error(0, "", &t, &n), &t, &n, "{\"Error\":[0,\"\"]}");
    check_text(mm_feedback_error(65535, "x", &t, &n), &t, &n, "{\"Error\":[65535,\"x\"]}");
    check_text(mm_session_response_encode("tok", "1.2.3.4", 30004, "ab:cd", &t, &n), &t, &n,
               "{\"connect_token\":\"tok\",\"gameserver_ip\":\"1.2.3.4\",\"gameserver_port\":30004,"
               "\"cert_digest\":\"ab:cd\"}");
    /* out_len is optional */
    MM_CHECK_INT(mm_feedback_acknowledged(&t, NULL), ==, MM_OK);
    MM_CHECK_STR(t, "\"Acknowledged\"");
    free(t);
    /* the generic encoder */
    mm_feedback fb = {.kind = MM_FEEDBACK_PROGRESS, .text = "Status.DEPLOYING (7)"};
    check_text(mm_feedback_encode(&fb, &t, &n), &t, &n, "{\"ProgressReport\":\"Status.DEPLOYING (7)\"}");
    fb = (mm_feedback){.kind = MM_FEEDBACK_ERROR, .status = 500, .text = "boom"};
    check_text(mm_feedback_encode(&fb, &t, &n), &t, &n, "{\"Error\":[500,\"boom\"]}");
}

static void
test_bad_arguments(void)
{
    char *t = (char *)"untouched";
    MM_CHECK_INT(mm_feedback_accepted(NULL, &t, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_feedback_progress(NULL, 1, &t, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_feedback_ready("t", NULL, 1, "d", &t, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_feedback_error(1, NULL, &t, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_session_response_encode("t", "i", 1, NULL, &t, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_feedback_acknowledged(NULL, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_feedback_encode(NULL, &t, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_feedback_encode(&(mm_feedback){.kind = 99}, &t, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_feedback_encode(&(mm_feedback){.kind = MM_FEEDBACK_ACCEPTED}, &t, NULL), ==, MM_ERR_INVALID);
    MM_CHECK_STR(t, "untouched");
}

/* Each input string, as the value of SessionRequestAccepted, and serde_json's text for it. */
static const struct {
    const char *in, *out;
} escapes[] = {
    {"a\"b\\c", "a\\\"b\\\\c"},
    {"\b\f\n\r\t", "\\b\\f\\n\\r\\t"},
    {"\x01\x0b\x0e\x1a\x1f", "\\u0001\\u000b\\u000e\\u001a\\u001f"}, /* lowercase hex, unlike jansson */
    {"\x7f", "\x7f"},                                                /* DEL is not escaped */
    {"a/b</script>", "a/b</script>"},                                /* nor '/' */
    {"\\u00AB", "\\\\u00AB"},                                        /* a literal backslash-u in the content keeps its case */
    {"\\\x1f", "\\\\\\u001f"},                                       /* backslash then a control character */
    {"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"}, /* raw UTF-8 */
    /* invalid UTF-8: one U+FFFD per maximal invalid subsequence, like String::from_utf8_lossy */
    {"a\xff"
     "b",
     "a\xef\xbf\xbd"
     "b"},
    {"\xe2\x82", "\xef\xbf\xbd"},                                             /* truncated 3-byte sequence */
    {"\xf0\x9f\x98x", "\xef\xbf\xbdx"},                                       /* truncated 4-byte sequence */
    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                 /* a surrogate */
    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                                 /* overlong '/' */
    {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* above U+10FFFF */
    {"\x80"
     "\"",
     "\xef\xbf\xbd\\\""}, /* stray continuation, then a quote */
};

static void
test_escapes(void)
{
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        char expected[256], *t = NULL;
        size_t n = 0;
        snprintf(expected, sizeof(expected), "{\"SessionRequestAccepted\":\"%s\"}", escapes[i].out);
        mm_err err = mm_feedback_accepted(escapes[i].in, &t, &n);
        if (err != MM_OK || strcmp(t, expected) != 0)
            fprintf(stderr, "escape case %zu\n", i);
        check_text(err, &t, &n, expected);
    }
}

/* serde_json's escaping of a valid UTF-8 string (ser.rs ESCAPE table), written independently. */
static size_t
serde_escape(const char *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        const char *short_form = NULL;
        switch (*p) {
        case '"':
            short_form = "\\\"";
            break;
        case '\\':
            short_form = "\\\\";
            break;
        case '\b':
            short_form = "\\b";
            break;
        case '\f':
            short_form = "\\f";
            break;
        case '\n':
            short_form = "\\n";
            break;
        case '\r':
            short_form = "\\r";
            break;
        case '\t':
            short_form = "\\t";
            break;
        default:
            break;
        }
        if (short_form != NULL) {
            memcpy(out + o, short_form, 2);
            o += 2;
        } else if (*p < 0x20) {
            o += (size_t)sprintf(out + o, "\\u00%c%c", hex[*p >> 4], hex[*p & 15]);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return o;
}

static void
test_random_against_serde(void)
{
    /* A pool of characters that matter: controls, quote, backslash, slash, DEL, 2/3/4-byte UTF-8. */
    static const char *const pieces[] = {
        "\x01",  "\x08", "\x09", "\x0a", "\x0b", "\x0c", "\x0d", "\x1b",     "\x1f",         "\"",
        "\\",    "/",    "\x7f", "a",    "Z",    " ",    "u",    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\\u00", "{",    "]",    ":"};
    unsigned seed = 12345;
    int mismatches = 0;
    for (int round = 0; round < 5000; round++) {
        char s[256] = "", expected[2048], esc[1024];
        size_t len = 0;
        seed = seed * 1103515245u + 12345u;
        int count = (int)(seed >> 16) % 24;
        for (int k = 0; k < count; k++) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pieces[(seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]))];
            memcpy(s + len, p, strlen(p) + 1);
            len += strlen(p);
        }
        serde_escape(s, esc);
        snprintf(expected, sizeof(expected), "{\"Error\":[%d,\"%s\"]}", round % 600, esc);
        char *t = NULL;
        if (mm_feedback_error((uint16_t)(round % 600), s, &t, NULL) != MM_OK || strcmp(t, expected) != 0) {
            if (mismatches++ < 3)
                fprintf(stderr, "mismatch: got %s expected %s\n", t ? t : "(null)", expected);
        }
        /* and it decodes back to the same string */
        mm_feedback fb = {0};
        if (t != NULL && (mm_feedback_decode(t, strlen(t), &fb, NULL, 0) != MM_OK || fb.kind != MM_FEEDBACK_ERROR ||
                          fb.status != round % 600 || strcmp(fb.text, s) != 0)) {
            if (mismatches++ < 3)
                fprintf(stderr, "round trip failed for %s\n", t);
        }
        mm_feedback_clear(&fb);
        free(t);
    }
    MM_CHECK_INT(mismatches, ==, 0);
}

/* Random bytes (invalid UTF-8 included) always give valid JSON that decodes and re-encodes identically. */
static void
test_random_bytes_valid_json(void)
{
    unsigned seed = 777;
    int bad = 0;
    for (int round = 0; round < 5000; round++) {
        char s[64];
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % 63;
        for (size_t k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            s[k] = (char)(1 + (seed >> 16) % 255);
        }
        s[len] = '\0';
        char *a = NULL, *b = NULL;
        mm_feedback fb = {0};
        if (mm_feedback_ready(s, s, 1, s, &a, NULL) != MM_OK) {
            bad++;
            continue;
        }
        json_t *j = json_loads(a, 0, NULL); /* jansson refuses invalid UTF-8 in its input */
        if (j == NULL || mm_feedback_decode(a, strlen(a), &fb, NULL, 0) != MM_OK || mm_feedback_encode(&fb, &b, NULL) != MM_OK ||
            strcmp(a, b) != 0)
            bad++;
        json_decref(j);
        mm_feedback_clear(&fb);
        free(a);
        free(b);
    }
    MM_CHECK_INT(bad, ==, 0);
}

/* ---- decoders ---- */

static void
test_decode_valid(void)
{
    mm_feedback fb;
    char why[256];
    const char *t = "  \"Acknowledged\"\n";
    MM_CHECK_INT(mm_feedback_decode(t, strlen(t), &fb, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_ACKNOWLEDGED);
    mm_feedback_clear(&fb);

    t = "{ \"SessionRequestAccepted\" : \"950dd2eaff09-S\" }";
    MM_CHECK_INT(mm_feedback_decode(t, strlen(t), &fb, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_ACCEPTED);
    MM_CHECK_STR(fb.text, "950dd2eaff09-S");
    mm_feedback_clear(&fb);

    t = "{\"ProgressReport\":\"Status.SEEKING (3)\"}";
    MM_CHECK_INT(mm_feedback_decode(t, strlen(t), &fb, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_PROGRESS);
    MM_CHECK_STR(fb.text, "Status.SEEKING (3)");
    mm_feedback_clear(&fb);

    /* fields in another order are fine; the encoder writes serde's order again */
    t = "{\"SessionReady\":{\"cert_digest\":\"e3:76\",\"port\":30004,\"ip\":\"1.2.3.4\",\"token\":\"QUJD\"}}";
    MM_CHECK_INT(mm_feedback_decode(t, strlen(t), &fb, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_READY);
    MM_CHECK_STR(fb.token, "QUJD");
    MM_CHECK_STR(fb.ip, "1.2.3.4");
    MM_CHECK_INT(fb.port, ==, 30004);
    MM_CHECK_STR(fb.cert_digest, "e3:76");
    char *again = NULL;
    size_t again_len = 0;
    check_text(mm_feedback_encode(&fb, &again, &again_len), &again, &again_len,
               "{\"SessionReady\":{\"token\":\"QUJD\",\"ip\":\"1.2.3.4\",\"port\":30004,\"cert_digest\":\"e3:76\"}}");
    mm_feedback_clear(&fb);

    t = "{\"Error\":[408,\"session still not ready, timed out.\"]}";
    MM_CHECK_INT(mm_feedback_decode(t, strlen(t), &fb, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_INT(fb.kind, ==, MM_FEEDBACK_ERROR);
    MM_CHECK_INT(fb.status, ==, 408);
    MM_CHECK_STR(fb.text, "session still not ready, timed out.");
    mm_feedback_clear(&fb);

    /* escapes are decoded (upper or lower hex) */
    t = "{\"ProgressReport\":\"a\\u001Fb\\u001fc\\/d\\\"e\"}";
    MM_CHECK_INT(mm_feedback_decode(t, strlen(t), &fb, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(fb.text, "a\x1f"
                          "b\x1f"
                          "c/d\"e");
    mm_feedback_clear(&fb);

    /* len bounds the text: a longer buffer is cut where the caller says */
    t = "\"Acknowledged\"garbage";
    MM_CHECK_INT(mm_feedback_decode(t, 14, &fb, why, sizeof(why)), ==, MM_OK);
    mm_feedback_clear(&fb);
    mm_feedback_clear(NULL);

    mm_session_response r;
    t = "{\"connect_token\":\"tok\",\"gameserver_ip\":\"1.2.3.4\",\"gameserver_port\":30004,\"cert_digest\":\"ab\"}";
    MM_CHECK_INT(mm_session_response_decode(t, strlen(t), &r, why, sizeof(why)), ==, MM_OK);
    MM_CHECK_STR(r.connect_token, "tok");
    MM_CHECK_STR(r.gameserver_ip, "1.2.3.4");
    MM_CHECK_INT(r.gameserver_port, ==, 30004);
    MM_CHECK_STR(r.cert_digest, "ab");
    mm_session_response_clear(&r);
    mm_session_response_clear(NULL);
}

static const struct {
    const char *text, *reason; /* reason: a fragment the refusal must contain */
} refused[] = {
    {"", "not valid JSON"},
    {"\"acknowledged\"", "unknown variant"},
    {"\"SessionReady\"", "unknown variant"},
    {"null", "one variant key"},
    {"[]", "one variant key"},
    {"408", "one variant key"},
    {"{}", "one variant key"},
    {"{\"Acknowledged\":null}", "plain string"},
    {"{\"Foo\":\"x\"}", "unknown variant `Foo`"},
    {"{\"ProgressReport\":\"a\",\"Error\":[1,\"b\"]}", "one variant key"},
    {"{\"SessionRequestAccepted\":1}", "SessionRequestAccepted must be a string"},
    {"{\"ProgressReport\":null}", "ProgressReport must be a string"},
    {"{\"SessionReady\":[\"t\",\"i\",1,\"d\"]}", "SessionReady must be an object"},
    {"{\"SessionReady\":{\"token\":\"t\",\"ip\":\"i\",\"port\":1}}", "missing field `cert_digest`"},
    {"{\"SessionReady\":{\"token\":\"t\",\"ip\":\"i\",\"port\":1,\"cert_digest\":\"d\",\"x\":1}}", "unknown field"},
    {"{\"SessionReady\":{\"token\":\"t\",\"ip\":\"i\",\"port\":65536,\"cert_digest\":\"d\"}}", "port must be an integer"},
    {"{\"SessionReady\":{\"token\":\"t\",\"ip\":\"i\",\"port\":-1,\"cert_digest\":\"d\"}}", "port must be an integer"},
    {"{\"SessionReady\":{\"token\":\"t\",\"ip\":\"i\",\"port\":\"1\",\"cert_digest\":\"d\"}}", "port must be an integer"},
    {"{\"SessionReady\":{\"token\":\"t\",\"ip\":\"i\",\"port\":1.0,\"cert_digest\":\"d\"}}", "port must be an integer"},
    {"{\"SessionReady\":{\"token\":1,\"ip\":\"i\",\"port\":1,\"cert_digest\":\"d\"}}", "token must be a string"},
    {"{\"Error\":[1]}", "array [status, message]"},
    {"{\"Error\":[1,\"a\",2]}", "array [status, message]"},
    {"{\"Error\":{\"status\":1}}", "array [status, message]"},
    {"{\"Error\":[\"1\",\"a\"]}", "status must be an integer"},
    {"{\"Error\":[70000,\"a\"]}", "status must be an integer"},
    {"{\"Error\":[1,null]}", "message must be a string"},
    {"{\"Error\":[1,\"a\"],\"Error\":[2,\"b\"]}", "duplicate"},
    {"\"Acknowledged\" x", "not valid JSON"},
    {"\"Acknowledged\"\"Acknowledged\"", "not valid JSON"},
    {"\"\xff\"", "not valid JSON"},
    {"{\"ProgressReport\":\"a\\u0000b\"}", "not valid JSON"},
};

static void
test_decode_refused(void)
{
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        mm_feedback fb;
        char why[256] = "";
        mm_err err = mm_feedback_decode(refused[i].text, strlen(refused[i].text), &fb, why, sizeof(why));
        MM_CHECK_INT(err, ==, MM_ERR_INVALID);
        MM_CHECK(fb.kind == 0 && fb.text == NULL && fb.token == NULL && fb.ip == NULL && fb.cert_digest == NULL);
        if (strstr(why, refused[i].reason) == NULL) {
            fprintf(stderr, "case %zu (%s): reason \"%s\" lacks \"%s\"\n", i, refused[i].text, why, refused[i].reason);
            MM_CHECK(0);
        }
    }
    mm_feedback fb;
    MM_CHECK_INT(mm_feedback_decode(NULL, 3, &fb, NULL, 0), ==, MM_ERR_INVALID);
    MM_CHECK_INT(mm_feedback_decode("\"Acknowledged\"", 14, NULL, NULL, 0), ==, MM_ERR_INVALID);

    mm_session_response r;
    char why[256] = "";
    const char *t = "{\"connect_token\":\"t\",\"gameserver_ip\":\"i\",\"gameserver_port\":1}";
    MM_CHECK_INT(mm_session_response_decode(t, strlen(t), &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "missing field `cert_digest`") != NULL);
    MM_CHECK(r.connect_token == NULL);
    t = "{\"SessionReady\":{\"token\":\"t\",\"ip\":\"i\",\"port\":1,\"cert_digest\":\"d\"}}";
    MM_CHECK_INT(mm_session_response_decode(t, strlen(t), &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    t = "{\"connect_token\":\"t\",\"gameserver_ip\":\"i\",\"gameserver_port\":99999,\"cert_digest\":\"d\"}";
    MM_CHECK_INT(mm_session_response_decode(t, strlen(t), &r, why, sizeof(why)), ==, MM_ERR_INVALID);
    MM_CHECK(strstr(why, "gameserver_port") != NULL);
}

static void
test_kind_names(void)
{
    MM_CHECK_STR(mm_feedback_kind_name(MM_FEEDBACK_ACKNOWLEDGED), "Acknowledged");
    MM_CHECK_STR(mm_feedback_kind_name(MM_FEEDBACK_READY), "SessionReady");
    MM_CHECK_STR(mm_feedback_kind_name((mm_feedback_kind)42), "unknown");
}

/* mm_feedback_kind_of names every encoder's text, and nothing else */
static void
test_kind_of(void)
{
    char *t = NULL;
    size_t n = 0;
    MM_CHECK(mm_feedback_acknowledged(&t, &n) == MM_OK && mm_feedback_kind_of(t, n) == MM_FEEDBACK_ACKNOWLEDGED);
    free(t);
    MM_CHECK(mm_feedback_accepted("s1", &t, &n) == MM_OK && mm_feedback_kind_of(t, n) == MM_FEEDBACK_ACCEPTED);
    free(t);
    MM_CHECK(mm_feedback_progress("Deploying", 3, &t, &n) == MM_OK && mm_feedback_kind_of(t, n) == MM_FEEDBACK_PROGRESS);
    free(t);
    MM_CHECK(mm_feedback_ready("tok", "1.2.3.4", 5, "d", &t, &n) == MM_OK && mm_feedback_kind_of(t, n) == MM_FEEDBACK_READY);
    free(t);
    MM_CHECK(mm_feedback_error(503, "{\"SessionReady\":", &t, &n) == MM_OK && mm_feedback_kind_of(t, n) == MM_FEEDBACK_ERROR);
    /* len is honoured: a cut opening is no kind */
    MM_CHECK(mm_feedback_kind_of(t, 8) == 0);
    free(t);
    MM_CHECK(mm_feedback_kind_of(NULL, 0) == 0);
    MM_CHECK(mm_feedback_kind_of("", 0) == 0);
    MM_CHECK(mm_feedback_kind_of("{\"connect_token\":\"x\"}", 19) == 0);
    MM_CHECK(mm_feedback_kind_of(" {\"Error\":[1,\"x\"]}", 18) == 0);
    MM_CHECK(mm_feedback_kind_of("{\"error\":[1,\"x\"]}", 17) == 0);
}

int
main(void)
{
    test_variants();
    test_bad_arguments();
    test_escapes();
    test_random_against_serde();
    test_random_bytes_valid_json();
    test_decode_valid();
    test_decode_refused();
    test_kind_names();
    test_kind_of();
    return MM_TEST_DONE();
}
