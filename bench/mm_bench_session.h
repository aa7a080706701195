/*
 * What one mm_bench request means, independent of sockets: the order of the messages a client
 * receives on /matchmaker/ws (docs/protocol.md section 2), how the request ends, and which outcome class
 * it falls in. docs/mm_bench.md has the table. Pure functions over a small struct, so the rules
 * are unit-tested without a network.
 *
 * Accepted sequences (text frames, in order):
 *   "ERR <reason>"                                   -> err_refused (the only message)
 *   ["Acknowledged" [SessionRequestAccepted ProgressReport*]] SessionReady  -> ready
 *   ["Acknowledged" [SessionRequestAccepted ProgressReport*]] Error         -> error_<code>
 * where SessionReady needs SessionRequestAccepted before it, and SessionRequestAccepted needs
 * Acknowledged. After SessionReady or Error the server must close with a close frame of code
 * 1000 (docs/protocol.md section 2: "Goodbye"); anything else turns the outcome into protocol_violation. After an ERR
 * line any close (frame or not) is accepted.
 */
#ifndef MM_BENCH_SESSION_H
#define MM_BENCH_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"
#include "mm/feedback.h"
#include "mm/token.h"

typedef enum mm_bench_outcome {
    MM_BENCH_READY = 0,          /* SessionReady (token verified when a key was given), then close 1000 */
    MM_BENCH_ERROR,              /* {"Error":[code, ...]}, then close 1000: class error_<code> */
    MM_BENCH_ERR_REFUSED,        /* an "ERR ..." text frame */
    MM_BENCH_PROTOCOL_VIOLATION, /* wrong order, bad JSON or framing, bad token, no proper close */
    MM_BENCH_TIMEOUT,            /* --timeout passed before the final message */
    MM_BENCH_CONNECT_FAILED,     /* no WebSocket: TCP connect failed, or no 101 */
    MM_BENCH_CLOSED_EARLY,       /* the server closed before the final message */
    MM_BENCH_INTERRUPTED,        /* still running when mm_bench was stopped (SIGINT/SIGTERM) */
    MM_BENCH_OUTCOME_COUNT
} mm_bench_outcome;

/** The class name: "ready", "error" (the caller appends _<code>), "err_refused", ... */
const char *mm_bench_outcome_name(mm_bench_outcome outcome);

/** How tokens are checked (--verify-key, --protocol-id, --byte-order). Holds a secret: wipe. */
typedef struct mm_bench_verifier {
    mm_token_key key;
    mm_byte_order order;
    uint64_t protocol_id;
} mm_bench_verifier;

/**
 * Checks a SessionReady token as a game server would (mm_token_decode at now_unix) and that the
 * first server address in it is ip:port. MM_OK, or an error with the reason in why.
 */
mm_err mm_bench_verify_token(const mm_bench_verifier *v, const char *token_b64, const char *ip, uint16_t port, uint64_t now_unix,
                             char *why, size_t why_len);

#define MM_BENCH_REASON_LEN 128

typedef struct mm_bench_session {
    uint32_t messages;  /* text messages received */
    int acknowledged;   /* "Acknowledged" seen */
    int accepted;       /* SessionRequestAccepted seen */
    int final;          /* SessionReady, Error or ERR seen: only a close may follow */
    int done;           /* the outcome is decided */
    int token_verified; /* the SessionReady token passed the verifier */
    mm_bench_outcome outcome;
    uint16_t error_code;                /* for MM_BENCH_ERROR */
    char reason[MM_BENCH_REASON_LEN];   /* for every outcome but ready */
    /* the waiting room (a ProgressReport "Waiting in line: position P of N, about S s (E)") */
    uint32_t line_reports;              /* waiting-room reports received */
    uint32_t line_position, line_length, line_estimate_s; /* from the first one */
    int line_left;                      /* a later message that is not one arrived (not an Error) */
    int line_message;                   /* the last message was a waiting-room report */
} mm_bench_session;

/** What one message turned out to be. */
typedef enum mm_bench_step {
    MM_BENCH_STEP_MORE = 0,  /* an expected, non-final message */
    MM_BENCH_STEP_FINAL,     /* SessionReady / Error / ERR: wait for the close */
    MM_BENCH_STEP_DONE,      /* the outcome is decided (a violation): tear the connection down */
} mm_bench_step;

/**
 * A waiting-room ProgressReport text "Waiting in line: position P of N, about S s (E)"
 * (docs/protocol.md; mm_bench_line.c): 1 with P, N, S filled, or 0 when text is not of that form.
 */
int mm_bench_line_parse(const char *text, size_t len, uint32_t *position, uint32_t *length, uint32_t *estimate_s);

/** Starts a session (zeroes it). */
void mm_bench_session_init(mm_bench_session *s);

/**
 * Takes one complete text message. *kind (may be NULL) is set to the feedback kind that arrived
 * (0 for an ERR line or a message that did not parse), so the caller can time the phases.
 * verifier may be NULL (tokens are then only checked to be present).
 */
mm_bench_step mm_bench_session_message(mm_bench_session *s, const char *text, size_t len, const mm_bench_verifier *verifier,
                                       uint64_t now_unix, mm_feedback_kind *kind);

/** The server sent a close frame with code (1005: none). Decides the outcome. */
void mm_bench_session_close_frame(mm_bench_session *s, int code, const char *reason);

/** The TCP connection ended (EOF or an error) without a close frame. Decides the outcome. */
void mm_bench_session_eof(mm_bench_session *s, const char *detail);

/**
 * A deadline passed; where names what was awaited ("the 101 response", ...). Before the final
 * message this is a timeout; after it (the close grace) a violation, except after an ERR line.
 */
void mm_bench_session_timeout(mm_bench_session *s, const char *where);

/**
 * Decides outcome with reason unless already decided: connect_failed, interrupted, or a
 * protocol_violation the connection found (bad frame, binary frame, bad handshake).
 */
void mm_bench_session_end(mm_bench_session *s, mm_bench_outcome outcome, const char *reason);

#endif
