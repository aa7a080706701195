/*
 * mm_bench's outcome rules without a network: every accepted sequence, every order violation,
 * how the end (close frame, EOF, deadline) decides, and token verification catching a token
 * minted for another port, under another key, protocol id or byte order, or already expired.
 */
#include <stdlib.h>

#include "mm/clock.h"
#include "mm/feedback.h"
#include "mm_bench_session.h"
#include "mm_test.h"

#define KEY "7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7"
#define OTHER_KEY "8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7"
#define PROTOCOL_ID 1982

static mm_bench_verifier verifier;
static uint64_t now_unix;

/* A SessionReady text for ip:port whose token was minted for token_addr, under key_text. */
static char *
ready_text(const char *ip, uint16_t port, const char *token_addr, const char *key_text, uint64_t protocol_id, mm_byte_order order)
{
    mm_token_key key;
    mm_token_address addr;
    char b64[MM_TOKEN_BASE64_LEN + 1];
    char *text = NULL;
    MM_REQUIRE(mm_token_key_parse(key_text, &key, NULL, 0) == MM_OK);
    MM_REQUIRE(mm_token_address_parse(token_addr, &addr, NULL, 0) == MM_OK);
    MM_REQUIRE(mm_token_mint(&key, order, protocol_id, 42, &addr, 1, now_unix, 30, 15, b64, sizeof(b64)) == MM_OK);
    MM_REQUIRE(mm_feedback_ready(b64, ip, port, "aa:bb", &text, NULL) == MM_OK);
    return text;
}

static mm_bench_step
feed(mm_bench_session *s, const char *text, const mm_bench_verifier *v)
{
    return mm_bench_session_message(s, text, strlen(text), v, now_unix, NULL);
}

#define ACK "\"Acknowledged\""
#define ACCEPTED "{\"SessionRequestAccepted\":\"950dd2eaff09-S\"}"
#define PROGRESS "{\"ProgressReport\":\"Status.SEEKING (0)\"}"

/* Feeds Ack, Accepted, Progress and then final; returns the step of final. */
static mm_bench_step
feed_flow(mm_bench_session *s, const char *final, const mm_bench_verifier *v)
{
    mm_bench_session_init(s);
    MM_CHECK_INT(feed(s, ACK, v), ==, MM_BENCH_STEP_MORE);
    MM_CHECK_INT(feed(s, ACCEPTED, v), ==, MM_BENCH_STEP_MORE);
    MM_CHECK_INT(feed(s, PROGRESS, v), ==, MM_BENCH_STEP_MORE);
    return feed(s, final, v);
}

static void
test_happy(void)
{
    mm_bench_session s;
    mm_feedback_kind kind = 0;
    char *ready = ready_text("127.0.0.1", 30004, "127.0.0.1:30004", KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE);
    MM_CHECK_INT(feed_flow(&s, ready, NULL), ==, MM_BENCH_STEP_FINAL);
    MM_CHECK(!s.done);
    MM_CHECK_INT(s.token_verified, ==, 0);
    mm_bench_session_close_frame(&s, 1000, "Goodbye");
    MM_CHECK(s.done);
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_READY);
    /* verified */
    MM_CHECK_INT(feed_flow(&s, ready, &verifier), ==, MM_BENCH_STEP_FINAL);
    MM_CHECK_INT(s.token_verified, ==, 1);
    mm_bench_session_close_frame(&s, 1000, "");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_READY);
    /* the kind is reported for timing */
    mm_bench_session_init(&s);
    mm_bench_session_message(&s, ACK, strlen(ACK), NULL, now_unix, &kind);
    MM_CHECK_INT(kind, ==, MM_FEEDBACK_ACKNOWLEDGED);
    mm_bench_session_message(&s, ACCEPTED, strlen(ACCEPTED), NULL, now_unix, &kind);
    MM_CHECK_INT(kind, ==, MM_FEEDBACK_ACCEPTED);
    MM_CHECK_INT(mm_bench_session_message(&s, ready, strlen(ready), NULL, now_unix, &kind), ==, MM_BENCH_STEP_FINAL);
    MM_CHECK_INT(kind, ==, MM_FEEDBACK_READY);
    /* a request queued behind the Edgegap call limit is told so before SessionRequestAccepted */
    mm_bench_session_init(&s);
    const char *waiting = "{\"ProgressReport\":\"Waiting for Edgegap: 3 requests ahead (0)\"}";
    MM_CHECK_INT(mm_bench_session_message(&s, ACK, strlen(ACK), NULL, now_unix, NULL), ==, MM_BENCH_STEP_MORE);
    MM_CHECK_INT(mm_bench_session_message(&s, waiting, strlen(waiting), NULL, now_unix, NULL), ==, MM_BENCH_STEP_MORE);
    MM_CHECK_INT(mm_bench_session_message(&s, ACCEPTED, strlen(ACCEPTED), NULL, now_unix, NULL), ==, MM_BENCH_STEP_MORE);
    MM_CHECK_INT(mm_bench_session_message(&s, PROGRESS, strlen(PROGRESS), NULL, now_unix, NULL), ==, MM_BENCH_STEP_MORE);
    MM_CHECK_INT(mm_bench_session_message(&s, ready, strlen(ready), NULL, now_unix, NULL), ==, MM_BENCH_STEP_FINAL);
    mm_bench_session_close_frame(&s, 1000, "Goodbye");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_READY);
    free(ready);
    /* IPv6 game server */
    ready = ready_text("2001:db8::7", 30004, "[2001:db8::7]:30004", KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE);
    MM_CHECK_INT(feed_flow(&s, ready, &verifier), ==, MM_BENCH_STEP_FINAL);
    free(ready);
}

/* A SessionReady whose token fails: the request is a violation with a reason containing want. */
static void
check_bad_token(char *ready, const mm_bench_verifier *v, uint64_t at, const char *want)
{
    mm_bench_session s;
    mm_bench_session_init(&s);
    feed(&s, ACK, v);
    feed(&s, ACCEPTED, v);
    MM_CHECK_INT(mm_bench_session_message(&s, ready, strlen(ready), v, at, NULL), ==, MM_BENCH_STEP_DONE);
    MM_CHECK(s.done);
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_PROTOCOL_VIOLATION);
    if (strstr(s.reason, want) == NULL) {
        fprintf(stderr, "reason '%s' lacks '%s'\n", s.reason, want);
        mm_test_failed++;
    } else {
        mm_test_passed++;
    }
    free(ready);
}

static void
test_bad_tokens(void)
{
    check_bad_token(ready_text("127.0.0.1", 30004, "127.0.0.1:30005", KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE), &verifier,
                    now_unix, "bad token: token minted for 127.0.0.1:30005, not for the SessionReady's 127.0.0.1:30004");
    check_bad_token(ready_text("127.0.0.1", 30004, "127.0.0.2:30004", KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE), &verifier,
                    now_unix, "token minted for 127.0.0.2:30004");
    check_bad_token(ready_text("127.0.0.1", 30004, "127.0.0.1:30004", OTHER_KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE), &verifier,
                    now_unix, "bad token: token rejected");
    check_bad_token(ready_text("127.0.0.1", 30004, "127.0.0.1:30004", KEY, PROTOCOL_ID + 1, MM_BYTE_ORDER_LITTLE), &verifier,
                    now_unix, "bad token: token rejected");
    check_bad_token(ready_text("127.0.0.1", 30004, "127.0.0.1:30004", KEY, PROTOCOL_ID, MM_BYTE_ORDER_BIG), &verifier, now_unix,
                    "bad token");
    check_bad_token(ready_text("127.0.0.1", 30004, "127.0.0.1:30004", KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE), &verifier,
                    now_unix + 3600, "bad token: token rejected");
    check_bad_token(ready_text("not-an-ip", 30004, "127.0.0.1:30004", KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE), &verifier,
                    now_unix, "not an IPv4 or IPv6 address");
    char *text = NULL;
    MM_REQUIRE(mm_feedback_ready("bm90IGEgdG9rZW4=", "127.0.0.1", 30004, "aa", &text, NULL) == MM_OK);
    check_bad_token(text, &verifier, now_unix, "bad token: token:");
    /* without a verifier, a wrong token is not noticed: that is what --verify-key is for */
    mm_bench_session s;
    char *wrong = ready_text("127.0.0.1", 30004, "127.0.0.1:30005", KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE);
    MM_CHECK_INT(feed_flow(&s, wrong, NULL), ==, MM_BENCH_STEP_FINAL);
    free(wrong);
}

static void
test_errors_and_refusals(void)
{
    mm_bench_session s;
    MM_CHECK_INT(feed_flow(&s, "{\"Error\":[408,\"session still not ready, timed out.\"]}", NULL), ==, MM_BENCH_STEP_FINAL);
    mm_bench_session_close_frame(&s, 1000, "Goodbye");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_ERROR);
    MM_CHECK_INT(s.error_code, ==, 408);
    MM_CHECK_STR(s.reason, "session still not ready, timed out.");
    /* an Error may come first (a front that finds no matchmaker) or right after Acknowledged */
    mm_bench_session_init(&s);
    MM_CHECK_INT(feed(&s, "{\"Error\":[503,\"no matchmaker\"]}", NULL), ==, MM_BENCH_STEP_FINAL);
    mm_bench_session_init(&s);
    feed(&s, ACK, NULL);
    MM_CHECK_INT(feed(&s, "{\"Error\":[409,\"conflict\"]}", NULL), ==, MM_BENCH_STEP_FINAL);
    /* ERR line: whatever close follows */
    mm_bench_session_init(&s);
    MM_CHECK_INT(feed(&s, "ERR Game name invalid", NULL), ==, MM_BENCH_STEP_FINAL);
    mm_bench_session_eof(&s, "connection closed");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_ERR_REFUSED);
    MM_CHECK_STR(s.reason, "ERR Game name invalid");
    mm_bench_session_init(&s);
    feed(&s, "ERR", NULL);
    mm_bench_session_timeout(&s, "the close");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_ERR_REFUSED);
    mm_bench_session_init(&s);
    feed(&s, "ERR timeout", NULL);
    mm_bench_session_close_frame(&s, 1008, "");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_ERR_REFUSED);
}

/* Feeds texts (NULL-terminated) and expects the last to make a violation whose reason holds want. */
static void
check_violation(const char *const *texts, const char *want)
{
    mm_bench_session s;
    mm_bench_session_init(&s);
    mm_bench_step step = MM_BENCH_STEP_MORE;
    for (int i = 0; texts[i] != NULL; i++) {
        MM_CHECK_INT(step, !=, MM_BENCH_STEP_DONE);
        step = feed(&s, texts[i], NULL);
    }
    MM_CHECK_INT(step, ==, MM_BENCH_STEP_DONE);
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_PROTOCOL_VIOLATION);
    if (strstr(s.reason, want) == NULL) {
        fprintf(stderr, "reason '%s' lacks '%s'\n", s.reason, want);
        mm_test_failed++;
    } else {
        mm_test_passed++;
    }
}

static void
test_violations(void)
{
    char *ready = ready_text("127.0.0.1", 30004, "127.0.0.1:30004", KEY, PROTOCOL_ID, MM_BYTE_ORDER_LITTLE);
    check_violation((const char *const[]){ACK, ready, NULL}, "SessionReady before SessionRequestAccepted");
    check_violation((const char *const[]){ACCEPTED, NULL}, "SessionRequestAccepted before Acknowledged");
    check_violation((const char *const[]){ACK, ACCEPTED, ACCEPTED, NULL}, "SessionRequestAccepted twice");
    check_violation((const char *const[]){PROGRESS, NULL}, "ProgressReport before Acknowledged");
    check_violation((const char *const[]){ACK, ACK, NULL}, "Acknowledged after another message");
    check_violation((const char *const[]){ACK, "ERR late", NULL}, "an ERR line after 1 messages");
    check_violation((const char *const[]){"{not json", NULL}, "not a feedback message");
    check_violation((const char *const[]){"{\"Surprise\":1}", NULL}, "not a feedback message");
    check_violation((const char *const[]){"ERRATIC", NULL}, "not a feedback message");
    check_violation((const char *const[]){ACK, ACCEPTED, ready, PROGRESS, NULL}, "a message after the final one");
    check_violation((const char *const[]){"ERR x", ACK, NULL}, "a message after the final one");

    mm_bench_session s;
    feed_flow(&s, ready, NULL);
    mm_bench_session_close_frame(&s, 1011, "oops");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_PROTOCOL_VIOLATION);
    MM_CHECK(strstr(s.reason, "close code 1011") != NULL);
    feed_flow(&s, ready, NULL);
    mm_bench_session_eof(&s, "connection closed");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_PROTOCOL_VIOLATION);
    MM_CHECK(strstr(s.reason, "without a close frame") != NULL);
    feed_flow(&s, ready, NULL);
    mm_bench_session_timeout(&s, "SessionReady");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_PROTOCOL_VIOLATION);
    MM_CHECK_STR(s.reason, "no close frame after the final message");
    free(ready);
}

static void
test_early_ends(void)
{
    mm_bench_session s;
    mm_bench_session_init(&s);
    feed(&s, ACK, NULL);
    mm_bench_session_close_frame(&s, 1000, "Goodbye");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_CLOSED_EARLY);
    mm_bench_session_init(&s);
    mm_bench_session_eof(&s, "connection reset");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_CLOSED_EARLY);
    MM_CHECK_STR(s.reason, "connection reset after 0 messages");
    mm_bench_session_init(&s);
    feed(&s, ACK, NULL);
    feed(&s, ACCEPTED, NULL);
    mm_bench_session_timeout(&s, "SessionReady");
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_TIMEOUT);
    MM_CHECK_STR(s.reason, "waiting for SessionReady");
    /* a decided outcome never changes */
    mm_bench_session_close_frame(&s, 1000, "");
    mm_bench_session_eof(&s, "x");
    mm_bench_session_end(&s, MM_BENCH_CONNECT_FAILED, "y");
    MM_CHECK_INT(feed(&s, ACK, NULL), ==, MM_BENCH_STEP_DONE);
    MM_CHECK_INT(s.outcome, ==, MM_BENCH_TIMEOUT);
    MM_CHECK_STR(s.reason, "waiting for SessionReady");

    MM_CHECK_STR(mm_bench_outcome_name(MM_BENCH_READY), "ready");
    MM_CHECK_STR(mm_bench_outcome_name(MM_BENCH_ERR_REFUSED), "err_refused");
    MM_CHECK_STR(mm_bench_outcome_name(MM_BENCH_CLOSED_EARLY), "closed_early");
    MM_CHECK_STR(mm_bench_outcome_name(MM_BENCH_OUTCOME_COUNT), "unknown");
}

int
main(void)
{
    MM_REQUIRE(mm_crypto_init() == MM_OK);
    now_unix = mm_unix_seconds();
    MM_REQUIRE(mm_token_key_parse(KEY, &verifier.key, NULL, 0) == MM_OK);
    verifier.protocol_id = PROTOCOL_ID;
    verifier.order = MM_BYTE_ORDER_LITTLE;
    test_happy();
    test_bad_tokens();
    test_errors_and_refusals();
    test_violations();
    test_early_ends();
    mm_token_key_wipe(&verifier.key);
    return MM_TEST_DONE();
}
