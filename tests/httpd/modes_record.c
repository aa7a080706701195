/*
 * See modes_record.h. The normaliser works on the exact bytes: it replaces the value after
 * "<key>": for the few keys that differ run to run and leaves everything else alone, so a
 * difference anywhere else (spacing, order, escaping, another message) still shows.
 */
#include "modes_record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/feedback.h"
#include "mm_test.h"
#include "modes_stack.h"

/* ---- the transcript ---- */

static void
append(mr_rec *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *grown = realloc(r->buf, cap);
        MM_REQUIRE(grown != NULL);
        r->buf = grown;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    r->buf[r->len] = '\0';
}

void
mr_line(mr_rec *r, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    append(r, line, (size_t)n);
    r->last_progress = false;
}

const char *
mr_text(const mr_rec *r)
{
    return r->buf != NULL ? r->buf : "";
}

void
mr_free(mr_rec *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

/* Copies text with bytes outside printable ASCII as \xNN, at most max bytes of it. */
static char *
printable(const char *text, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    char *out = malloc(n * 4 + 16);
    MM_REQUIRE(out != NULL);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7f)
            out[k++] = (char)c;
        else
            k += (size_t)sprintf(out + k, "\\x%02x", c);
    }
    if (n < len)
        k += (size_t)sprintf(out + k, "...");
    out[k] = '\0';
    return out;
}

/* ---- normalising ---- */

/* Replaces every value of "key": in *s (a malloc'd string) by placeholder. */
static void
redact(char **s, const char *key, const char *placeholder)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    size_t from = 0;
    for (;;) {
        char *at = strstr(*s + from, pattern);
        if (at == NULL)
            return;
        size_t start = (size_t)(at - *s) + strlen(pattern), end = start;
        const char *v = *s + start;
        if (*v == '"') {
            end++;
            while ((*s)[end] != '\0' && (*s)[end] != '"')
                end += (*s)[end] == '\\' && (*s)[end + 1] != '\0' ? 2 : 1;
            if ((*s)[end] == '"')
                end++;
        } else {
            while ((*s)[end] >= '0' && (*s)[end] <= '9')
                end++;
        }
        size_t tail = strlen(*s + end), plen = strlen(placeholder);
        char *next = malloc(start + plen + tail + 1);
        MM_REQUIRE(next != NULL);
        memcpy(next, *s, start);
        memcpy(next + start, placeholder, plen);
        memcpy(next + start + plen, *s + end, tail + 1);
        free(*s);
        *s = next;
        from = start + plen;
    }
}

char *
mr_normalise(const char *text)
{
    static const char *const keys[][2] = {
        {"SessionRequestAccepted", "\"<session>\""},
        {"ProgressReport", "\"<status (elapsed)>\""},
        {"token", "\"<token>\""},
        {"connect_token", "\"<token>\""},
        {"ip", "\"<ip>\""},
        {"gameserver_ip", "\"<ip>\""},
        {"port", "<port>"},
        {"gameserver_port", "<port>"},
        {"cert_digest", "\"<cert digest>\""},
    };
    char *s = strdup(text);
    MM_REQUIRE(s != NULL);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        redact(&s, keys[i][0], keys[i][1]);
    return s;
}

/* Checks a wannaplay answer's token and notes it; true when text is one. */
static bool
check_answer(const char *text, size_t len, mr_seen *seen)
{
    mm_session_response resp;
    char why[160];
    if (mm_session_response_decode(text, len, &resp, why, sizeof(why)) != MM_OK)
        return false;
    ms_check_token(resp.connect_token, resp.gameserver_ip, resp.gameserver_port);
    if (seen != NULL)
        seen->ready = true;
    mm_session_response_clear(&resp);
    return true;
}

void
mr_message(mr_rec *r, const char *label, const char *bytes, size_t len, mr_seen *seen)
{
    mm_feedback fb;
    char why[160];
    char *text = strndup(bytes, len); /* a chunk is not NUL-terminated where it ends */
    MM_REQUIRE(text != NULL);
    if (mm_feedback_decode(bytes, len, &fb, why, sizeof(why)) == MM_OK) {
        if (fb.kind == MM_FEEDBACK_ACCEPTED && seen != NULL)
            snprintf(seen->session_id, sizeof(seen->session_id), "%s", fb.text);
        if (fb.kind == MM_FEEDBACK_READY) {
            ms_check_token(fb.token, fb.ip, fb.port);
            if (seen != NULL)
                seen->ready = true;
        }
        if (fb.kind == MM_FEEDBACK_ERROR && seen != NULL)
            seen->error_status = fb.status;
        bool progress = fb.kind == MM_FEEDBACK_PROGRESS;
        mm_feedback_clear(&fb);
        if (progress) {
            if (seen != NULL)
                seen->progress++;
            if (r->last_progress) {
                free(text);
                return; /* how many polls it took differs run to run */
            }
        }
        char *norm = mr_normalise(text);
        mr_line(r, "%s %s", label, norm);
        free(norm);
        r->last_progress = progress;
    } else {
        /* ERR lines, and anything unexpected, as they came */
        char *p = printable(bytes, len, 4096);
        mr_line(r, "%s %s", label, p);
        free(p);
    }
    free(text);
}

/* ---- WebSocket ---- */

bool
mr_ws_open(mm_ws_client *c, uint16_t port, const char *headers, mr_rec *r)
{
    if (mm_ws_connect(c, port, "/matchmaker/ws", headers, MR_WAIT_MS) == 0)
        return true;
    mr_line(r, "ws handshake failed: HTTP %d", c->http_status);
    mm_ws_close(c);
    return false;
}

/* Records one message; returns its opcode, 0 at the end of the connection, -1 on silence. */
static int
next_message(mm_ws_client *c, mr_rec *r, mr_seen *seen)
{
    mm_ws_msg m;
    int rc = mm_ws_recv(c, &m, MR_WAIT_MS);
    if (rc == 0) {
        mr_line(r, "ws eof");
        return 0;
    }
    if (rc < 0) {
        mr_line(r, "ws timeout");
        return -1;
    }
    int op = m.opcode;
    if (op == MM_WS_OP_TEXT) {
        mr_message(r, "ws", m.data, m.len, seen);
    } else if (op == MM_WS_OP_CLOSE) {
        char *reason = printable(m.data, m.len, 200);
        mr_line(r, "ws close %d %s", m.close_code, reason);
        free(reason);
        uint8_t echo[2] = {(uint8_t)(m.close_code >> 8), (uint8_t)m.close_code};
        mm_ws_send_frame(c, MM_WS_FIN | MM_WS_OP_CLOSE, echo, m.close_code != 0 ? 2 : 0, true);
    } else {
        mr_line(r, "ws opcode %d with %zu bytes", op, m.len);
    }
    mm_ws_msg_free(&m);
    return op;
}

bool
mr_ws_next(mm_ws_client *c, mr_rec *r, mr_seen *seen)
{
    return next_message(c, r, seen) == MM_WS_OP_TEXT;
}

int
mr_ws_collect(mm_ws_client *c, mr_rec *r, mr_seen *seen)
{
    int texts = 0;
    for (;;) {
        int op = next_message(c, r, seen);
        if (op == MM_WS_OP_TEXT) {
            texts++;
            continue;
        }
        if (op == MM_WS_OP_CLOSE || op <= 0)
            break;
    }
    mm_ws_close(c);
    return texts;
}

/* ---- HTTP ---- */

static void
record_headers(const mm_http_resp *resp, mr_rec *r)
{
    static const char *const names[] = {
        "content-type",
        "transfer-encoding",
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "vary",
        "server",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char v[512];
        if (mm_http_header(resp, names[i], v, sizeof(v)))
            mr_line(r, "  %s: %s", names[i], v);
    }
}

/* A chunked feedback stream: each chunk one message ended by "\n". */
static void
record_stream(const mm_http_resp *resp, mr_rec *r, mr_seen *seen)
{
    size_t lines = 0;
    const char *p = resp->body, *end = resp->body + resp->body_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            mr_line(r, "  (the body does not end with a newline)");
            break;
        }
        mr_message(r, "  chunk", p, (size_t)(nl - p), seen);
        lines++;
        p = nl + 1;
    }
    if (lines != resp->chunks)
        mr_line(r, "  (%zu messages in %zu chunks)", lines, resp->chunks);
}

int
mr_http(uint16_t port, const char *label, const char *request, mr_body how, mr_rec *r, mr_seen *seen)
{
    mm_http_resp resp;
    if (mm_http_raw(port, request, strlen(request), &resp, MR_WAIT_MS) != 0) {
        mr_line(r, "%s -> no answer", label);
        return -1;
    }
    mr_line(r, "%s -> %d", label, resp.status);
    record_headers(&resp, r);
    if (how == MR_BODY_SKIP) {
        /* nothing */
    } else if (how == MR_BODY_STREAM && resp.status == 200) {
        record_stream(&resp, r, seen);
    } else if (how == MR_BODY_LENGTH) {
        bool play = strstr(resp.body, "Play") != NULL && strstr(resp.body, "/matchmaker/ws") != NULL;
        mr_line(r, "  body: %s", play ? "a page with a Play button and the WebSocket route" : "(not the test page)");
    } else if (how == MR_BODY_ANSWER && resp.status == 200 && check_answer(resp.body, resp.body_len, seen)) {
        char *norm = mr_normalise(resp.body);
        mr_line(r, "  body: %s", norm);
        free(norm);
    } else {
        char *p = printable(resp.body, resp.body_len, 4096);
        mr_line(r, "  body: %s", p);
        free(p);
    }
    int status = resp.status;
    mm_http_resp_free(&resp);
    return status;
}

int
mr_get(uint16_t port, const char *path, const char *headers, mr_body how, mr_rec *r)
{
    char req[4096], label[600];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n", path, headers ? headers : "");
    snprintf(label, sizeof(label), "GET %s", path);
    return mr_http(port, label, req, how, r, NULL);
}

int
mr_post(uint16_t port, const char *path, const char *headers, mr_body how, mr_rec *r, mr_seen *seen)
{
    char req[4096], label[600];
    snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n%s\r\n", path,
             headers ? headers : "");
    snprintf(label, sizeof(label), "POST %s", path);
    return mr_http(port, label, req, how, r, seen);
}
