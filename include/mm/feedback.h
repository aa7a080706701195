/*
 * The matchmaker's feedback messages (docs/protocol.md sections 2, 3 and 5) and the non-streaming reply of
 * session.gensession, encoded exactly as the Rust reference's serde_json writes them and decoded
 * strictly. docs/protocol.md has the full table and the escaping rules.
 *
 *   "Acknowledged"
 *   {"SessionRequestAccepted":"<session id>"}
 *   {"ProgressReport":"<status> (<elapsed>)"}
 *   {"SessionReady":{"token":"...","ip":"...","port":30004,"cert_digest":"..."}}
 *   {"Error":[408,"session still not ready, timed out."]}
 *   {"connect_token":"...","gameserver_ip":"...","gameserver_port":30004,"cert_digest":"..."}
 *
 * Encoding: built with jansson (compact, keys in the order above), then adjusted so the bytes are
 * serde_json's: `"` `\` and control characters are escaped (\b \f \n \r \t, others \u00xx with
 * lowercase hex), `/`, DEL and non-ASCII characters are written as they are. Input strings are
 * UTF-8; an invalid sequence is replaced by U+FFFD (as Rust's String::from_utf8_lossy does), so
 * the output is always valid JSON.
 *
 * Every encoder returns MM_OK with *out a new NUL-terminated text (release with free()) and, when
 * out_len is not NULL, its length; MM_ERR_INVALID when a required argument is NULL (nothing is
 * allocated); MM_ERR_NOMEM. Pure functions, safe on any thread.
 */
#ifndef MM_FEEDBACK_H
#define MM_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mm/err.h"

typedef enum mm_feedback_kind {
    MM_FEEDBACK_ACKNOWLEDGED = 1, /* Acknowledged */
    MM_FEEDBACK_ACCEPTED,         /* SessionRequestAccepted(session id) */
    MM_FEEDBACK_PROGRESS,         /* ProgressReport(text) */
    MM_FEEDBACK_READY,            /* SessionReady {token, ip, port, cert_digest} */
    MM_FEEDBACK_ERROR,            /* Error(status, message) */
} mm_feedback_kind;

/**
 * One feedback message. Which fields are used depends on kind; the others are 0/NULL. The
 * strings of a decoded message are owned by it (mm_feedback_clear()); for encoding they are only
 * read.
 */
typedef struct mm_feedback {
    mm_feedback_kind kind;
    char *text;        /* ACCEPTED: the session id; PROGRESS: the whole report; ERROR: the message */
    uint16_t status;   /* ERROR */
    char *token;       /* READY: base64 connect token */
    char *ip;          /* READY: game server address */
    uint16_t port;     /* READY */
    char *cert_digest; /* READY */
} mm_feedback;

/** The reply of session.gensession (and of POST /matchmaker/wannaplay). */
typedef struct mm_session_response {
    char *connect_token;
    char *gameserver_ip;
    uint16_t gameserver_port;
    char *cert_digest;
} mm_session_response;

/** Encodes any feedback message; MM_ERR_INVALID for an unknown kind or a NULL string it needs. */
mm_err mm_feedback_encode(const mm_feedback *fb, char **out, size_t *out_len);

/** `"Acknowledged"` (with the quotes: a JSON string). */
mm_err mm_feedback_acknowledged(char **out, size_t *out_len);

/** `{"SessionRequestAccepted":"<session_id>"}`. */
mm_err mm_feedback_accepted(const char *session_id, char **out, size_t *out_len);

/** `{"ProgressReport":"<status> (<elapsed>)"}`, elapsed in decimal seconds as Edgegap reports it. */
mm_err mm_feedback_progress(const char *status, int64_t elapsed, char **out, size_t *out_len);

/** `{"SessionReady":{"token":..,"ip":..,"port":N,"cert_digest":..}}`. */
mm_err mm_feedback_ready(const char *token, const char *ip, uint16_t port, const char *cert_digest, char **out, size_t *out_len);

/** `{"Error":[status,"<message>"]}`. */
mm_err mm_feedback_error(uint16_t status, const char *message, char **out, size_t *out_len);

/**
 * The kind of a feedback text from its first bytes, as the encoders above (and serde_json, for a
 * text relayed from another matchmaker) write them; 0 when it is none of them. Only the opening
 * is looked at: a text of that kind may still be malformed further on (mm_feedback_decode says).
 * For sinks whose send() receives texts without their kind (include/mm/reply.h).
 */
mm_feedback_kind mm_feedback_kind_of(const char *text, size_t len);

/*
 * A waiting-room report (docs/protocol.md section 5): ProgressReport "Waiting in line: ...". The
 * whole-request limits of our web front and bridge count from the last one (a player in line is
 * bounded by the matchmaker's --max-line-wait-ms instead, docs/front.md).
 */
#define MM_FEEDBACK_LINE_PREFIX "{\"ProgressReport\":\"Waiting in line:"

/** True when text opens as a waiting-room report. */
static inline bool
mm_feedback_is_line_report(const char *text, size_t len)
{
    return text != NULL && len >= sizeof(MM_FEEDBACK_LINE_PREFIX) - 1 &&
           memcmp(text, MM_FEEDBACK_LINE_PREFIX, sizeof(MM_FEEDBACK_LINE_PREFIX) - 1) == 0;
}

/** `{"connect_token":..,"gameserver_ip":..,"gameserver_port":N,"cert_digest":..}`. */
mm_err mm_session_response_encode(const char *connect_token, const char *gameserver_ip, uint16_t gameserver_port,
                                  const char *cert_digest, char **out, size_t *out_len);

/**
 * Parses one feedback text into *out (which the caller then owns: mm_feedback_clear()). Accepts
 * only the forms above: the string "Acknowledged"; an object with exactly one known variant key
 * whose value has the right type; SessionReady with exactly its four fields; Error with exactly
 * [integer 0..65535, string]; ports 0..65535. Whitespace between tokens is allowed; duplicate keys,
 * unknown variants or fields, trailing text and invalid UTF-8 are refused. On failure returns
 * MM_ERR_INVALID (or MM_ERR_NOMEM), *out is zeroed and why holds a one-line reason.
 */
mm_err mm_feedback_decode(const char *text, size_t len, mm_feedback *out, char *why, size_t why_len);

/** Frees the strings of a decoded message and zeroes it. Accepts NULL. */
void mm_feedback_clear(mm_feedback *fb);

/** A short name of kind ("SessionReady"); "unknown" for anything else. */
const char *mm_feedback_kind_name(mm_feedback_kind kind);

/** Parses a gensession reply strictly (exactly its four fields); same contract as mm_feedback_decode(). */
mm_err mm_session_response_decode(const char *text, size_t len, mm_session_response *out, char *why, size_t why_len);

/** Frees the strings of a decoded reply and zeroes it. Accepts NULL. */
void mm_session_response_clear(mm_session_response *resp);

#endif
