/*
 * libFuzzer driver for what clients and fronts send the matchmaker (src/net/request.c) and for
 * the feedback codec (src/net/feedback.c). The first byte picks the target, the rest is input:
 *   0  WebSocket first message     1  NATS request ("subject\npayload")     2  gensession payload
 *   3  feedback text decoder       4  gensession reply decoder              5  feedback encoders
 * Never a crash or a leak; a reason always NUL-terminated; and every accepted input satisfies the
 * rules: names are 1..30 bytes of [A-Za-z0-9_-], addresses parse and are canonical, what the
 * builders make from an accepted request is accepted again, decoded feedback re-encodes to text
 * that decodes to the same message, and encoders always produce valid JSON.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/feedback.h"
#include "mm/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
    if (!ok)
        abort();
}

static int
name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 30)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

static int
ip_ok(const char *s)
{
    unsigned char a[16];
    char again[MM_IP_TEXT_LEN];
    if (inet_pton(AF_INET, s, a) != 1 && inet_pton(AF_INET6, s, a) != 1)
        return 0;
    return mm_client_ip_parse(s, again, NULL, 0) == MM_OK && strcmp(again, s) == 0; /* canonical */
}

static void
reason_ok(mm_err err, const char *why, size_t len)
{
    check(err == MM_ERR_INVALID && memchr(why, '\0', len) != NULL && why[0] != '\0');
}

/* An accepted request must survive the front's builders and the matchmaker's parser unchanged. */
static void
check_request(const mm_session_request *r)
{
    check(name_ok(r->game) && name_ok(r->version));
    if (!r->has_client_ip) {
        check(r->client_ip[0] == '\0');
        return;
    }
    check(ip_ok(r->client_ip));
    char subject[MM_REQUEST_SUBJECT_LEN], *payload = NULL;
    size_t len = 0;
    mm_session_request again;
    check(mm_request_subject(r->game, r->version, subject, sizeof(subject), NULL, 0) == MM_OK);
    check(mm_request_payload(r->client_ip, r->game, r->version, &payload, &len, NULL, 0) == MM_OK);
    check(mm_request_parse_nats(subject, payload, len, &again, NULL, 0) == MM_OK);
    check(strcmp(again.game, r->game) == 0 && strcmp(again.version, r->version) == 0 && again.has_client_ip &&
          strcmp(again.client_ip, r->client_ip) == 0);
    free(payload);
}

static int
same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
fuzz_feedback_decode(const char *text, size_t len)
{
    mm_feedback fb, again;
    char why[256], *out = NULL;
    size_t out_len = 0;
    mm_err err = mm_feedback_decode(text, len, &fb, why, sizeof(why));
    if (err != MM_OK) {
        reason_ok(err, why, sizeof(why));
        return;
    }
    check(mm_feedback_encode(&fb, &out, &out_len) == MM_OK);
    check(mm_feedback_decode(out, out_len, &again, NULL, 0) == MM_OK);
    check(again.kind == fb.kind && again.status == fb.status && again.port == fb.port && same(again.text, fb.text) &&
          same(again.token, fb.token) && same(again.ip, fb.ip) && same(again.cert_digest, fb.cert_digest));
    mm_feedback_clear(&again);
    mm_feedback_clear(&fb);
    free(out);
}

/* Arbitrary bytes as strings: the text is valid JSON and decodes to the same variant. */
static void
fuzz_feedback_encode(const char *text, size_t len)
{
    char *out = NULL;
    size_t out_len = 0;
    mm_feedback fb;
    uint16_t num = len >= 2 ? (uint16_t)((unsigned char)text[0] << 8 | (unsigned char)text[1]) : 0;
    switch (len % 4) {
    case 0:
        check(mm_feedback_accepted(text, &out, &out_len) == MM_OK);
        break;
    case 1:
        check(mm_feedback_progress(text, (int64_t)num - 30000, &out, &out_len) == MM_OK);
        break;
    case 2:
        check(mm_feedback_ready(text, text, num, text, &out, &out_len) == MM_OK);
        break;
    default:
        check(mm_feedback_error(num, text, &out, &out_len) == MM_OK);
        break;
    }
    json_t *j = json_loadb(out, out_len, JSON_DECODE_ANY, NULL);
    check(j != NULL);
    json_decref(j);
    check(mm_feedback_decode(out, out_len, &fb, NULL, 0) == MM_OK);
    if (len % 4 == 2)
        check(fb.port == num);
    if (len % 4 == 3)
        check(fb.status == num);
    mm_feedback_clear(&fb);
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int target = data[0] % 6;
    size_t len = size - 1;
    char *text = malloc(len + 1); /* a NUL-terminated copy: parsers get (text, len), C strings see text */
    memcpy(text, data + 1, len);
    text[len] = '\0';
    char why[256];
    mm_session_request r;
    mm_err err;
    switch (target) {
    case 0:
        err = mm_request_parse_ws(text, len, &r, why, sizeof(why));
        if (err == MM_OK)
            check_request(&r);
        else
            reason_ok(err, why, sizeof(why));
        break;
    case 1: {
        char *nl = memchr(text, '\n', len);
        if (nl == NULL)
            break;
        *nl = '\0';
        err = mm_request_parse_nats(text, nl + 1, len - (size_t)(nl + 1 - text), &r, why, sizeof(why));
        if (err == MM_OK) {
            check(r.has_client_ip);
            check_request(&r);
        } else {
            reason_ok(err, why, sizeof(why));
        }
        break;
    }
    case 2: {
        char ip[MM_IP_TEXT_LEN];
        err = mm_request_parse_gensession(text, len, ip, why, sizeof(why));
        if (err == MM_OK)
            check(ip_ok(ip));
        else
            reason_ok(err, why, sizeof(why));
        break;
    }
    case 3:
        fuzz_feedback_decode(text, len);
        break;
    case 4: {
        mm_session_response resp;
        err = mm_session_response_decode(text, len, &resp, why, sizeof(why));
        if (err == MM_OK)
            mm_session_response_clear(&resp);
        else
            reason_ok(err, why, sizeof(why));
        break;
    }
    default:
        fuzz_feedback_encode(text, strlen(text));
        break;
    }
    free(text);
    return 0;
}
