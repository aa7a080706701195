/* mm_url_redact: credentials never reach a log line, whatever the URL looks like; the rest is
 * copied as it is. */
#include <string.h>

#include "mm/url.h"
#include "mm_test.h"

static void
check(const char *in, const char *want)
{
    char out[256];
    MM_CHECK_STR(mm_url_redact(in, out, sizeof(out)), want);
}

int
main(void)
{
    /* userinfo */
    check("https://user:pass@api.example.com/v1", "https://***@api.example.com/v1");
    check("https://user@api.example.com", "https://***@api.example.com");
    check("http://:secret@h:8080", "http://***@h:8080");
    check("http://u:p%40ss@word@h/x@y", "http://***@h/x@y"); /* the last '@' of the authority; one in the path stays */
    check("nats://alice:s3cret@[2001:db8::1]:4222", "nats://***@[2001:db8::1]:4222");
    check("tls://u:p@nats.example.com:4222", "tls://***@nats.example.com:4222");
    /* no userinfo: unchanged */
    check("https://api.edgegap.com", "https://api.edgegap.com");
    check("http://127.0.0.1:8800/v1/session/abc", "http://127.0.0.1:8800/v1/session/abc");
    check("http://[::1]:3000/matchmaker/ws", "http://[::1]:3000/matchmaker/ws");
    check("http://[fe80::1%25eth0]:80/", "http://[fe80::1%25eth0]:80/");
    check("nats://127.0.0.1:4222", "nats://127.0.0.1:4222");
    check("http://h/path?x=1#frag", "http://h/path?x=1#frag");
    /* secrets in the query (and fragment) */
    check("https://h/hook?token=abc&x=1", "https://h/hook?token=***&x=1");
    check("https://h/?API_KEY=k1&Password=p&sig=s&name=bob", "https://h/?API_KEY=***&Password=***&sig=***&name=bob");
    check("https://u:p@h/?secret=a#access_token=b&state=c", "https://***@h/?secret=***#access_token=***&state=c");
    check("http://h/?token", "http://h/?token"); /* no value to hide */
    check("http://h/?token=", "http://h/?token=***");
    check("http://h/#x?token=a", "http://h/#x?token=***"); /* a '?' in the fragment is not a query, still masked */
    /* a capability in the path: the segment after a webhook or secret-looking one */
    check("http://127.0.0.1:3000/matchmaker/edgegap-webhook/s3cr3t-0123456789",
          "http://127.0.0.1:3000/matchmaker/edgegap-webhook/***");
    check("https://u:p@h/matchmaker/edgegap-webhook/abc/?x=1", "https://***@h/matchmaker/edgegap-webhook/***/?x=1");
    check("https://h/Webhooks//abc", "https://h/Webhooks//***"); /* an empty segment in between changes nothing */
    check("https://h/api/keys/k1/list", "https://h/api/keys/***/list");
    check("https://h/edgegap-webhook", "https://h/edgegap-webhook");
    /* malformed or schemeless: still no secret */
    check("user:pass@nats.example.com:4222", "***@nats.example.com:4222");
    check("u:p@", "***@");
    check("@", "***@");
    check("://u:p@h", "***@h"); /* no scheme name: no scheme */
    check("host/path@x?token=t", "***@x?token=***");
    check("http//u:p@h", "***@h");
    check("", "");
    check("not a url at all", "not a url at all");
    check("ws://h:1/x?client_ip=1.2.3.4&&&=&key=v=w", "ws://h:1/x?client_ip=1.2.3.4&&&=&key=***");
    /* NULL, and outputs too small: cut, never a secret, always terminated */
    char out[8];
    MM_CHECK_STR(mm_url_redact(NULL, out, sizeof(out)), "(none)");
    MM_CHECK_STR(mm_url_redact("https://user:topsecret@h", out, sizeof(out)), "https:/");
    char tiny[12];
    MM_CHECK_STR(mm_url_redact("https://user:topsecret@h", tiny, sizeof(tiny)), "https://***");
    MM_CHECK_STR(mm_url_redact("http://h/?key=topsecret", tiny, sizeof(tiny)), "http://h/?k");
    char one[1] = {'x'};
    MM_CHECK_STR(mm_url_redact("http://u:p@h", one, sizeof(one)), "");
    MM_CHECK(mm_url_redact("http://u:p@h", NULL, 0) == NULL);
    /* a long URL: the secret is gone even when cut after it */
    char big[4096], got[64];
    memset(big, 'a', sizeof(big));
    memcpy(big, "http://u:hunter2@h/", 19);
    big[sizeof(big) - 1] = '\0';
    mm_url_redact(big, got, sizeof(got));
    MM_CHECK(strstr(got, "hunter2") == NULL);
    MM_CHECK(strncmp(got, "http://***@h/aaa", 16) == 0);
    MM_CHECK_INT(strlen(got), ==, sizeof(got) - 1);
    return MM_TEST_DONE();
}
