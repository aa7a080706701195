/* See httpd_harness.h. Every wait polls a condition with a deadline. */
#include "httpd_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm/token.h"
#include "mm_test_http.h"

void
hd_start(harness *h, hd_proc *p, const char *const *extra)
{
    static int started;
    char exe[512], bind[64], line[96];
    memset(p, 0, sizeof(*p));
    p->port = mm_test_free_port();
    snprintf(exe, sizeof(exe), "%s/bevygap_matchmaker_httpd", mm_test_build_dir());
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", p->port);
    snprintf(p->log, sizeof(p->log), "%s/httpd-%d.log", h->nats.store_dir, ++started);
    const char *argv[40] = {exe, "--bind", bind};
    int n = 3;
    for (int i = 0; extra && extra[i] && n < 38; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    p->pid = mm_test_spawn((char *const *)argv, p->log);
    MM_REQUIRE(p->pid > 0);
    snprintf(line, sizeof(line), "listening on %s", bind);
    uint64_t until = mm_now_ms() + 20000;
    while (!h_file_contains(p->log, line) && mm_now_ms() < until) {
        mm_test_sleep_ms(20);
    }
    if (!h_file_contains(p->log, line)) {
        hd_dump_log(p);
        MM_REQUIRE(!"bevygap_matchmaker_httpd did not log its listening line");
    }
}

int
hd_stop(hd_proc *p, int grace_ms)
{
    if (p->pid <= 0)
        return -1;
    int st = mm_test_stop(p->pid, grace_ms);
    p->pid = 0;
    return st;
}

void
hd_dump_log(const hd_proc *p)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "tail -40 %s >&2", p->log);
    if (system(cmd) < 0)
        fprintf(stderr, "cannot show %s\n", p->log);
}

void
hd_http(int port, const char *method, const char *path, const char *body, const char *const *headers, int timeout_ms,
        hd_response *out)
{
    memset(out, 0, sizeof(*out));
    out->status = -1;
    char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    mm_test_http_resp r;
    mm_test_http(&(mm_test_http_req){.method = method, .url = url, .headers = headers, .body = body, .timeout_ms = timeout_ms}, &r);
    if (r.curl_code == 0)
        out->status = r.status;
    snprintf(out->headers, sizeof(out->headers), "%s", r.head);
    out->body_len = r.body_len < sizeof(out->body) - 1 ? r.body_len : sizeof(out->body) - 1;
    memcpy(out->body, r.body, out->body_len);
    out->body[out->body_len] = '\0';
    mm_test_http_free(&r);
}

/* ---- what players get ---- */

/* Decodes a base64 token with the all-zero key and checks it is for ip:port. */
void
hd_check_token(const char *token_b64, const char *ip, uint16_t port)
{
    uint8_t raw[MM_TOKEN_BYTES];
    char why[160] = "";
    MM_REQUIRE(mm_token_from_base64(token_b64, raw, why, sizeof(why)) == MM_OK);
    mm_token_key key;
    memset(&key, 0, sizeof(key));
    mm_token_decoded dec;
    MM_CHECK_INT(mm_token_decode(raw, &key, MM_BYTE_ORDER_LITTLE, 1982, mm_unix_seconds(), &dec, why, sizeof(why)), ==, MM_OK);
    char expect[80], got[80];
    snprintf(expect, sizeof(expect), "%s:%u", ip, port);
    mm_token_address_format(&dec.addresses[0], got, sizeof(got));
    MM_CHECK_STR(got, expect);
}

/* Checks one feedback text is of kind; for SessionReady also its token. */
static void
check_kind(const char *text, mm_feedback_kind kind)
{
    mm_feedback fb;
    char why[160];
    mm_err err = mm_feedback_decode(text, strlen(text), &fb, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK) {
        fprintf(stderr, "not a feedback message: %s (%s)\n", text, why);
        return;
    }
    MM_CHECK_STR(mm_feedback_kind_name(fb.kind), mm_feedback_kind_name(kind));
    if (fb.kind == MM_FEEDBACK_READY)
        hd_check_token(fb.token, fb.ip, fb.port);
    mm_feedback_clear(&fb);
}

/* A whole session's messages: Acknowledged, Accepted, >= 1 Progress, Ready. */
void
hd_check_session(char **texts, int n)
{
    MM_REQUIRE(n >= 4);
    MM_CHECK_STR(texts[0], "\"Acknowledged\"");
    check_kind(texts[1], MM_FEEDBACK_ACCEPTED);
    for (int i = 2; i < n - 1; i++)
        check_kind(texts[i], MM_FEEDBACK_PROGRESS);
    check_kind(texts[n - 1], MM_FEEDBACK_READY);
}

/* Reads text frames until the close frame; returns the count, the close code and reason. */
int
hd_ws_collect(mm_ws_client *ws, char **texts, int max, int *close_code, char *reason, size_t reason_len)
{
    int n = 0;
    *close_code = -1;
    reason[0] = '\0';
    for (;;) {
        mm_ws_msg m = {0};
        int got = mm_ws_recv(ws, &m, HD_WAIT_MS);
        if (got == 1 && m.opcode == MM_WS_OP_TEXT && n < max) {
            texts[n++] = m.data; /* taken over */
            continue;
        }
        if (got == 1 && m.opcode == MM_WS_OP_CLOSE && m.close_code != 0) {
            *close_code = m.close_code;
            snprintf(reason, reason_len, "%s", m.data);
        }
        mm_ws_msg_free(&m);
        return n;
    }
}

void
hd_free_texts(char **texts, int n)
{
    for (int i = 0; i < n; i++)
        free(texts[i]);
}

void
hd_ws_request(int port, const char *game, const char *client_ip, char **texts, int max, int *n, int *code)
{
    mm_ws_client *ws = calloc(1, sizeof(*ws));
    char first[256], reason[128];
    MM_REQUIRE(ws != NULL && mm_ws_connect(ws, (uint16_t)port, "/matchmaker/ws", NULL, HD_WAIT_MS) == 0);
    snprintf(first, sizeof(first), "{\"game\":\"%s\",\"version\":\"%s\",\"client_ip\":\"%s\"}", game, H_VERSION, client_ip);
    MM_REQUIRE(mm_ws_send_text(ws, first) == 0);
    *n = hd_ws_collect(ws, texts, max, code, reason, sizeof(reason));
    if (*code == 1000)
        MM_CHECK_STR(reason, "Goodbye");
    mm_ws_close(ws);
    free(ws);
}
