/*
 * The rules that turn what a client saw into one outcome class (mm_bench_session.h). Messages
 * are parsed with the project's strict feedback decoder (mm_feedback_decode: serde's exact forms,
 * nothing else), so a front that drifts from the reference's bytes shows up as
 * protocol_violation instead of passing. A decided outcome never changes: the first rule broken
 * wins, and later events of the same connection are ignored.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <sodium.h>
#include <string.h>

#include "mm_bench_session.h"

static const char *const outcome_names[MM_BENCH_OUTCOME_COUNT] = {
    [MM_BENCH_READY] = "ready",
    [MM_BENCH_ERROR] = "error",
    [MM_BENCH_ERR_REFUSED] = "err_refused",
    [MM_BENCH_PROTOCOL_VIOLATION] = "protocol_violation",
    [MM_BENCH_TIMEOUT] = "timeout",
    [MM_BENCH_CONNECT_FAILED] = "connect_failed",
    [MM_BENCH_CLOSED_EARLY] = "closed_early",
    [MM_BENCH_INTERRUPTED] = "interrupted",
};

const char *
mm_bench_outcome_name(mm_bench_outcome outcome)
{
    return (unsigned)outcome < MM_BENCH_OUTCOME_COUNT ? outcome_names[outcome] : "unknown";
}

mm_err
mm_bench_verify_token(const mm_bench_verifier *v, const char *token_b64, const char *ip, uint16_t port, uint64_t now_unix,
                      char *why, size_t why_len)
{
    uint8_t token[MM_TOKEN_BYTES];
    mm_token_decoded decoded;
    mm_token_address want = {.port = port};
    char detail[160], got[64];
    mm_err err = MM_OK;
    memset(&decoded, 0, sizeof(decoded));
    if (inet_pton(AF_INET, ip, want.ip) == 1) {
        want.family = 4;
    } else if (inet_pton(AF_INET6, ip, want.ip) == 1) {
        want.family = 6;
    } else {
        err = mm_fail(MM_ERR_INVALID, why, why_len, "SessionReady ip is not an IPv4 or IPv6 address");
        goto cleanup;
    }
    if ((err = mm_token_from_base64(token_b64, token, detail, sizeof(detail))) != MM_OK) {
        err = mm_fail(err, why, why_len, "token: %s", detail);
        goto cleanup;
    }
    if ((err = mm_token_decode(token, &v->key, v->order, v->protocol_id, now_unix, &decoded, detail, sizeof(detail))) != MM_OK) {
        err = mm_fail(err, why, why_len, "token rejected: %s", detail);
        goto cleanup;
    }
    const mm_token_address *first = &decoded.addresses[0];
    size_t ip_len = want.family == 4 ? 4 : 16;
    if (first->family != want.family || first->port != want.port || memcmp(first->ip, want.ip, ip_len) != 0) {
        mm_token_address_format(first, got, sizeof(got));
        err = mm_fail(MM_ERR_INVALID, why, why_len, "token minted for %s, not for the SessionReady's %s%s%s:%u", got,
                      want.family == 6 ? "[" : "", ip, want.family == 6 ? "]" : "", (unsigned)port);
        goto cleanup;
    }
cleanup:
    sodium_memzero(token, sizeof(token));
    sodium_memzero(&decoded, sizeof(decoded));
    return err;
}

void
mm_bench_session_init(mm_bench_session *s)
{
    memset(s, 0, sizeof(*s));
}

static void decide(mm_bench_session *s, mm_bench_outcome outcome, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
decide(mm_bench_session *s, mm_bench_outcome outcome, const char *fmt, ...)
{
    if (s->done)
        return;
    s->done = 1;
    s->outcome = outcome;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
    va_end(ap);
}

/* Marks a final message: the outcome is provisional until the close comes. */
static mm_bench_step
final(mm_bench_session *s, mm_bench_outcome outcome, uint16_t code, const char *reason, size_t reason_len)
{
    s->final = 1;
    s->outcome = outcome;
    s->error_code = code;
    size_t n = reason_len < sizeof(s->reason) - 1 ? reason_len : sizeof(s->reason) - 1;
    memcpy(s->reason, reason, n);
    s->reason[n] = '\0';
    return MM_BENCH_STEP_FINAL;
}

/*
 * The waiting room: the first waiting-room report gives the position and estimate; the first
 * later message after Acknowledged that is not one (SessionRequestAccepted, another
 * ProgressReport, SessionReady) means the request left the line. For a request never told a
 * position, its first message after Acknowledged is that moment. An Error is not leaving the line.
 */
static void
session_line(mm_bench_session *s, const mm_feedback *fb)
{
    uint32_t position = 0, length = 0, estimate = 0;
    s->line_message = 0;
    if (fb->kind == MM_FEEDBACK_ACKNOWLEDGED || s->line_left)
        return;
    if (fb->kind == MM_FEEDBACK_PROGRESS && fb->text != NULL &&
        mm_bench_line_parse(fb->text, strlen(fb->text), &position, &length, &estimate)) {
        if (s->line_reports++ == 0) {
            s->line_position = position;
            s->line_length = length;
            s->line_estimate_s = estimate;
        }
        s->line_message = 1;
        return;
    }
    if (fb->kind != MM_FEEDBACK_ERROR)
        s->line_left = 1;
}

mm_bench_step
mm_bench_session_message(mm_bench_session *s, const char *text, size_t len, const mm_bench_verifier *verifier, uint64_t now_unix,
                         mm_feedback_kind *kind)
{
    mm_feedback fb = {0};
    char why[MM_BENCH_REASON_LEN];
    mm_bench_step step = MM_BENCH_STEP_DONE;
    if (kind != NULL)
        *kind = 0;
    if (s->done)
        return MM_BENCH_STEP_DONE;
    s->messages++;
    if (s->final) {
        decide(s, MM_BENCH_PROTOCOL_VIOLATION, "a message after the final one");
        return MM_BENCH_STEP_DONE;
    }
    if (len >= 3 && memcmp(text, "ERR", 3) == 0 && (len == 3 || text[3] == ' ')) {
        if (s->messages != 1) {
            decide(s, MM_BENCH_PROTOCOL_VIOLATION, "an ERR line after %u messages", s->messages - 1);
            return MM_BENCH_STEP_DONE;
        }
        return final(s, MM_BENCH_ERR_REFUSED, 0, text, len);
    }
    if (mm_feedback_decode(text, len, &fb, why, sizeof(why)) != MM_OK) {
        decide(s, MM_BENCH_PROTOCOL_VIOLATION, "not a feedback message: %s", why);
        goto cleanup;
    }
    if (kind != NULL)
        *kind = fb.kind;
    session_line(s, &fb);
    switch (fb.kind) {
    case MM_FEEDBACK_ACKNOWLEDGED:
        if (s->messages != 1) {
            decide(s, MM_BENCH_PROTOCOL_VIOLATION, "Acknowledged after another message");
            goto cleanup;
        }
        s->acknowledged = 1;
        step = MM_BENCH_STEP_MORE;
        break;
    case MM_FEEDBACK_ACCEPTED:
        if (!s->acknowledged || s->accepted) {
            decide(s, MM_BENCH_PROTOCOL_VIOLATION, "SessionRequestAccepted %s", s->accepted ? "twice" : "before Acknowledged");
            goto cleanup;
        }
        s->accepted = 1;
        step = MM_BENCH_STEP_MORE;
        break;
    case MM_FEEDBACK_PROGRESS:
        /* Before SessionRequestAccepted a ProgressReport is allowed: the matchmaker tells a
         * request queued behind its Edgegap call limit that it waits (docs/matchmaker.md). */
        if (!s->acknowledged) {
            decide(s, MM_BENCH_PROTOCOL_VIOLATION, "ProgressReport before Acknowledged");
            goto cleanup;
        }
        step = MM_BENCH_STEP_MORE;
        break;
    case MM_FEEDBACK_READY:
        if (!s->accepted) {
            decide(s, MM_BENCH_PROTOCOL_VIOLATION, "SessionReady before SessionRequestAccepted");
            goto cleanup;
        }
        if (verifier != NULL) {
            if (mm_bench_verify_token(verifier, fb.token, fb.ip, fb.port, now_unix, why, sizeof(why)) != MM_OK) {
                decide(s, MM_BENCH_PROTOCOL_VIOLATION, "bad token: %s", why);
                goto cleanup;
            }
            s->token_verified = 1;
        }
        step = final(s, MM_BENCH_READY, 0, "", 0);
        break;
    case MM_FEEDBACK_ERROR:
        step = final(s, MM_BENCH_ERROR, fb.status, fb.text, strlen(fb.text));
        break;
    default:
        decide(s, MM_BENCH_PROTOCOL_VIOLATION, "unexpected message kind %s", mm_feedback_kind_name(fb.kind));
        break;
    }
cleanup:
    mm_feedback_clear(&fb);
    return step;
}

void
mm_bench_session_close_frame(mm_bench_session *s, int code, const char *reason)
{
    if (s->done)
        return;
    if (!s->final) {
        decide(s, MM_BENCH_CLOSED_EARLY, "close frame %d '%.40s' after %u messages", code, reason, s->messages);
    } else if (s->outcome == MM_BENCH_ERR_REFUSED || code == 1000) {
        s->done = 1; /* the provisional outcome (and its reason) stands */
    } else {
        decide(s, MM_BENCH_PROTOCOL_VIOLATION, "close code %d '%.40s' after the final message, not 1000", code, reason);
    }
}

void
mm_bench_session_eof(mm_bench_session *s, const char *detail)
{
    if (s->done)
        return;
    if (!s->final)
        decide(s, MM_BENCH_CLOSED_EARLY, "%s after %u messages", detail, s->messages);
    else if (s->outcome == MM_BENCH_ERR_REFUSED)
        s->done = 1;
    else
        decide(s, MM_BENCH_PROTOCOL_VIOLATION, "%s after the final message, without a close frame", detail);
}

void
mm_bench_session_timeout(mm_bench_session *s, const char *where)
{
    if (s->done)
        return;
    if (!s->final)
        decide(s, MM_BENCH_TIMEOUT, "waiting for %s", where);
    else if (s->outcome == MM_BENCH_ERR_REFUSED)
        s->done = 1;
    else
        decide(s, MM_BENCH_PROTOCOL_VIOLATION, "no close frame after the final message");
}

void
mm_bench_session_end(mm_bench_session *s, mm_bench_outcome outcome, const char *reason)
{
    decide(s, outcome, "%s", reason);
}
